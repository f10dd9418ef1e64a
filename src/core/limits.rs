//! What FRR can take, decided once: validation accepts exactly what these allow, and the
//! renderer checks the same functions, so an object validation accepts is an object the
//! renderer renders. Limits measured on FRR 8.4 (`e2e/lab_limits.rs` checks them against running daemons).

/// Longest BFD profile name bfdd takes (`BFD_PROFNAMELEN` - 1); a longer one fails with
/// "Failed to edit configuration".
pub const BFD_PROFILE_NAME_MAX: usize = 64;

/// Longest TCP MD5 key the kernel takes (`TCP_MD5SIG_MAXKEYLEN`), in bytes.
pub const PASSWORD_MAX: usize = 80;

/// Longest interface (and VRF device) name: `IFNAMSIZ` - 1.
pub const IFNAME_MAX: usize = 15;

/// Why FRR would not take a value.
pub type Refusal = &'static str;

use super::model::RemoteAs;

/// A name FRR config can carry as one token: `[A-Za-z0-9._-]`, starting with a letter or
/// digit, 1 to `max` bytes. No whitespace, comment character or newline can get through.
fn token(value: &str, max: usize) -> Result<(), Refusal> {
    let b = value.as_bytes();
    if b.is_empty() {
        return Err("is empty");
    }
    if !b
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
    {
        return Err("may contain only A-Z a-z 0-9 . _ -");
    }
    if !b[0].is_ascii_alphanumeric() {
        return Err("must start with a letter or digit");
    }
    if b.len() > max {
        return Err("is longer than FRR takes");
    }
    Ok(())
}

/// A BFD profile name (the BFDProfile's metadata.name, already a valid object name).
pub fn bfd_profile_name(name: &str) -> Result<(), Refusal> {
    token(name, BFD_PROFILE_NAME_MAX).map_err(|e| match e {
        "is longer than FRR takes" => {
            "is longer than 64 characters, bfdd's limit for profile names"
        }
        other => other,
    })
}

/// An interface name for BGP unnumbered.
pub fn interface_name(name: &str) -> Result<(), Refusal> {
    token(name, IFNAME_MAX).map_err(|e| match e {
        "is longer than FRR takes" => "is longer than 15 characters, Linux's limit",
        other => other,
    })?;
    if name.parse::<std::net::IpAddr>().is_ok() {
        return Err("reads as an IP address, which FRR would take for a neighbor address");
    }
    Ok(())
}

/// A VRF name.
pub fn vrf_name(name: &str) -> Result<(), Refusal> {
    token(name, IFNAME_MAX).map_err(|e| match e {
        "is longer than FRR takes" => "is longer than 15 characters, Linux's limit",
        other => other,
    })?;
    if name == "default" {
        return Err("names the default VRF, which is chosen by leaving spec.vrf empty");
    }
    Ok(())
}

/// `neighbor X local-as L no-prepend replace-as` on a router of AS `router_asn`: FRR takes
/// it on eBGP sessions only, and never equal to the peer's AS.
pub fn local_as(router_asn: u32, remote: RemoteAs, local: u32) -> Result<(), Refusal> {
    match remote {
        RemoteAs::Internal => Err("FRR allows a local AS only on eBGP sessions; this one is iBGP"),
        RemoteAs::Asn(a) if a == router_asn => {
            Err("FRR allows a local AS only on eBGP sessions; this one is iBGP (peerASN is myASN)")
        }
        RemoteAs::Asn(a) if a == local => Err("FRR refuses a local AS equal to the peer's AS"),
        _ => Ok(()),
    }
}

/// A BGP password (TCP MD5 key) for `neighbor X password P`. FRR reads one word: a space
/// inside fails the command and a newline would end it and start another (config
/// injection). Any other character, UTF-8 included, is taken as it is, up to 80 bytes.
pub fn password(value: &str) -> Result<(), Refusal> {
    if value.is_empty() {
        Err("is empty")
    } else if value.chars().any(char::is_control) {
        Err("contains a newline or another control character, which FRR cannot take")
    } else if value.chars().any(char::is_whitespace) {
        Err("contains whitespace; FRR takes a password of one word")
    } else if value.len() > PASSWORD_MAX {
        Err("is longer than 80 bytes, Linux's limit for TCP MD5 keys")
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_frr_takes() {
        let ok = [
            "s3cret",
            "#abc",
            "!abc",
            "a\"b",
            "a\\b",
            "pässwörd",
            &"p".repeat(80),
        ];
        for pw in ok {
            assert_eq!(password(pw), Ok(()), "{pw:?}");
        }
        let bad = [
            "",
            "two words",
            " lead",
            "trail ",
            "a\nb",
            "a\tb",
            &"p".repeat(81),
        ];
        for pw in bad {
            assert!(password(pw).is_err(), "{pw:?}");
        }
        // 41 two-byte characters are 82 bytes.
        assert!(password(&"é".repeat(41)).is_err());
        assert!(password(&"é".repeat(40)).is_ok());
    }

    #[test]
    fn local_as_on_ebgp_only() {
        assert!(local_as(65100, RemoteAs::Asn(65000), 65200).is_ok());
        assert!(local_as(65100, RemoteAs::External, 65200).is_ok());
        assert!(local_as(65100, RemoteAs::Asn(65100), 65200).is_err());
        assert!(local_as(65100, RemoteAs::Internal, 65200).is_err());
        assert!(local_as(65100, RemoteAs::Asn(65200), 65200).is_err());
    }

    #[test]
    fn names_frr_takes() {
        assert!(bfd_profile_name(&"a".repeat(64)).is_ok());
        assert!(bfd_profile_name(&"a".repeat(65)).is_err());
        assert!(bfd_profile_name("fast.v2").is_ok());
        assert!(bfd_profile_name("a b").is_err());
        assert!(vrf_name("red").is_ok());
        assert!(vrf_name("default").is_err());
        assert!(vrf_name(&"v".repeat(16)).is_err());
        assert!(interface_name("eth0.100").is_ok());
        assert!(interface_name("192.0.2.1").is_err());
        assert!(interface_name("eth0!").is_err());
    }
}
