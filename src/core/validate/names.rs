//! The name rules of Kubernetes: object names, label keys and values (what FRR takes of
//! names is in `core::limits`).

/// Kubernetes' DNS-1123 subdomain: what object names must be.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns1123_part)
}

/// Kubernetes' DNS-1123 label: what namespace names must be.
pub fn is_dns1123_label(s: &str) -> bool {
    s.len() <= 63 && is_dns1123_part(s)
}

fn is_dns1123_part(s: &str) -> bool {
    let b = s.as_bytes();
    let edge = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !b.is_empty() && edge(&b[0]) && edge(&b[b.len() - 1]) && b.iter().all(|c| edge(c) || *c == b'-')
}

/// A label key: optional DNS subdomain prefix and `/`, then a name of at most 63
/// characters.
pub(super) fn is_qualified_name(s: &str) -> bool {
    let name = match s.split_once('/') {
        Some((prefix, name)) => {
            if !is_dns1123_subdomain(prefix) {
                return false;
            }
            name
        }
        None => s,
    };
    !name.is_empty() && is_label_value(name)
}

/// A label value: empty, or at most 63 of `[A-Za-z0-9._-]`, alphanumeric at both ends.
pub(super) fn is_label_value(s: &str) -> bool {
    let b = s.as_bytes();
    b.is_empty()
        || (b.len() <= 63
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rules() {
        let cases: &[(&str, bool, bool, bool)] = &[
            // (input, subdomain, label, ifname)
            ("tor1", true, true, true),
            ("tor-1.example", true, false, true),
            ("Tor1", false, false, true),
            ("-tor", false, false, false),
            ("tor-", false, false, true),
            ("a..b", false, false, true),
            ("", false, false, false),
            ("eth0.100", true, false, true),
            ("veth_abc", false, false, true),
            ("sixteen-chars-xx", true, true, false),
            ("eth0 x", false, false, false),
        ];
        for (input, sub, label, ifname) in cases {
            assert_eq!(is_dns1123_subdomain(input), *sub, "subdomain {input:?}");
            assert_eq!(is_dns1123_label(input), *label, "label {input:?}");
            assert_eq!(
                crate::core::limits::interface_name(input).is_ok(),
                *ifname,
                "ifname {input:?}"
            );
        }
        assert!(is_dns1123_label(&"a".repeat(63)) && !is_dns1123_label(&"a".repeat(64)));
        assert!(
            is_qualified_name("example.com/role")
                && !is_qualified_name("example.com/")
                && !is_qualified_name("Ex_ample/role")
        );
        assert!(is_label_value("") && is_label_value("A_b.c-1") && !is_label_value("a b"));
    }
}
