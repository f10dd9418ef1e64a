//! Names that reach the FRR config: user-given names (VRFs, interfaces, BFD profiles) and the
//! route-map names we derive. Every one passes through [`SafeName`], so no name can
//! carry whitespace, a newline or a comment character into the config, whatever validation let
//! through upstream.
//!
//! Derived names are stable: a neighbor's route-maps are named after the neighbor (VRF +
//! address or interface), a tagging route-map after the announcement class it stands for.
//! Adding or removing an unrelated Service therefore never renames anything, which keeps the
//! hot-reload diff small.

use std::fmt;

use sha2::{Digest, Sha256};

use super::error::RenderError;
use crate::core::model::PeerAddress;

/// Prefix of every route-map ferrule owns.
pub const PREFIX: &str = "ferrule-";

/// A name made only of `[A-Za-z0-9._-]`, 1 to 63 characters.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SafeName(String);

impl SafeName {
    pub const MAX_LEN: usize = 63;

    /// Accepts `value` if safe; otherwise an error naming where the value came from
    /// (`origin`, e.g. `BGPPeer tor1 spec.vrf`).
    pub fn new(value: &str, origin: impl fmt::Display) -> Result<Self, RenderError> {
        match unsafe_reason(value) {
            None => Ok(SafeName(value.to_owned())),
            Some(reason) => Err(RenderError::UnsafeName {
                origin: origin.to_string(),
                value: shorten(value),
                reason,
            }),
        }
    }

    /// A name already checked by `core::limits` (whose rules are stricter than or equal to
    /// this type's charset).
    pub(crate) fn trusted(value: &str) -> Self {
        debug_assert!(
            value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')),
            "{value:?}"
        );
        SafeName(value.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SafeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// True when [`SafeName::new`] accepts `value`.
#[cfg(test)]
pub fn is_safe(value: &str) -> bool {
    unsafe_reason(value).is_none()
}

fn unsafe_reason(value: &str) -> Option<&'static str> {
    if value.is_empty() {
        Some("empty name")
    } else if value.len() > SafeName::MAX_LEN {
        Some("name longer than 63 characters")
    } else if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        Some("name may contain only A-Z a-z 0-9 . _ -")
    } else {
        None
    }
}

/// Error messages quote the offending value; keep hostile ones short.
pub(super) fn shorten(value: &str) -> String {
    const MAX: usize = 80;
    if value.chars().count() <= MAX {
        value.to_owned()
    } else {
        let mut s: String = value.chars().take(MAX).collect();
        s.push('…');
        s
    }
}

/// Longest suffix a derived neighbor name gets: `-out`.
const LONGEST_SUFFIX: usize = 4;

/// The per-neighbor part of every policy name.
///
/// - IP neighbors: the address with `:` turned into `-` (`192.0.2.1`, `2001-db8--1`).
/// - Interface (unnumbered) neighbors: `if-` + the interface name.
/// - Neighbors of a VRF router: `vrf-` + VRF + `-` + the above.
///
/// IP forms never start with `if-` or `vrf-` (not hex digits), so the three never overlap in
/// practice; `render` still checks every derived name for uniqueness. When the readable form
/// would push a name past 63 characters (long VRF plus long IPv6 address), a hash of it is
/// used instead (`h` + 16 hex digits), still stable.
pub fn neighbor_key(vrf: Option<&SafeName>, address: &PeerAddress) -> String {
    let peer = match address {
        PeerAddress::Ip(ip) => ip.to_string().replace(':', "-"),
        PeerAddress::Interface(name) => format!("if-{name}"),
    };
    let readable = match vrf {
        None => peer,
        Some(vrf) => format!("vrf-{vrf}-{peer}"),
    };
    if PREFIX.len() + readable.len() + LONGEST_SUFFIX <= SafeName::MAX_LEN {
        readable
    } else {
        format!("h{}", &sha256_hex(&readable)[..16])
    }
}

/// The inbound route-map of a neighbor (denies everything).
pub fn route_map_in(key: &str) -> Result<SafeName, RenderError> {
    SafeName::new(&format!("{PREFIX}{key}-in"), "derived route-map name")
}

/// The outbound route-map of a neighbor: one entry per announcement class it receives.
pub fn route_map_out(key: &str) -> Result<SafeName, RenderError> {
    SafeName::new(&format!("{PREFIX}{key}-out"), "derived route-map name")
}

/// The route-map a `network` statement uses to tag its route with its announcement class.
pub fn tag_route_map(tag: u32) -> SafeName {
    SafeName(format!("{PREFIX}tag-{tag}"))
}

/// The route tag an announcement class would like to use, from the class's canonical text:
/// the first 32 bits of its SHA-256, never 0 (FRR's tags are 1-4294967295). Stable across
/// renders and independent of every other class; `render` resolves the rare collision.
pub fn preferred_tag(canonical: &str) -> u32 {
    let d = Sha256::digest(canonical.as_bytes());
    u32::from_be_bytes([d[0], d[1], d[2], d[3]]).max(1)
}

/// SHA-256 of `text`, hex: the one hash ferrule uses, for a config's identity (the speaker,
/// the apply driver and SpeakerNode status name a config by it) and for stable names.
pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    #[test]
    fn safe_name_accepts_exactly_the_charset() {
        let cases: &[(&str, bool)] = &[
            ("red", true),
            ("eth0.100", true),
            ("a_b-c.D9", true),
            (&"x".repeat(63), true),
            (&"x".repeat(64), false),
            ("", false),
            ("a b", false),
            ("a\nexit", false),
            ("a!", false),
            ("a#", false),
            ("vrf/1", false),
            ("café", false),
            ("tab\t", false),
        ];
        for (value, ok) in cases {
            assert_eq!(SafeName::new(value, "test").is_ok(), *ok, "value {value:?}");
            assert_eq!(is_safe(value), *ok, "value {value:?}");
        }
    }

    #[test]
    fn unsafe_name_error_names_origin_and_value() {
        let err = SafeName::new("red\n exit", "BGPPeer tor1 spec.vrf").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("BGPPeer tor1 spec.vrf"), "{msg}");
        assert!(msg.contains("red\\n exit"), "{msg}");
    }

    #[test]
    fn neighbor_keys_are_readable_and_distinct() {
        let red = SafeName::new("red", "t").unwrap();
        let long_vrf = SafeName::new(&"v".repeat(30), "t").unwrap();
        let v6: IpAddr = "2001:db8:1234:5678:9abc:def0:1234:5678".parse().unwrap();
        let cases = [
            (
                None,
                PeerAddress::Ip(Ipv4Addr::new(192, 0, 2, 1).into()),
                "192.0.2.1",
            ),
            (
                None,
                PeerAddress::Ip("2001:db8::1".parse().unwrap()),
                "2001-db8--1",
            ),
            (None, PeerAddress::Interface("eth0".into()), "if-eth0"),
            (
                Some(&red),
                PeerAddress::Ip(Ipv4Addr::new(192, 0, 2, 1).into()),
                "vrf-red-192.0.2.1",
            ),
            (
                None,
                PeerAddress::Ip(v6),
                "2001-db8-1234-5678-9abc-def0-1234-5678",
            ),
        ];
        for (vrf, addr, want) in &cases {
            assert_eq!(neighbor_key(*vrf, addr), *want);
        }
        // Too long to stay readable: hashed, stable, and short enough.
        let k = neighbor_key(Some(&long_vrf), &PeerAddress::Ip(v6));
        assert_eq!(k, neighbor_key(Some(&long_vrf), &PeerAddress::Ip(v6)));
        assert!(k.starts_with('h') && k.len() == 17, "{k}");
        assert!(route_map_out(&k).is_ok());
        // A Linux-length VRF name (15) with the longest IPv4 address stays readable.
        let vrf15 = SafeName::new(&"v".repeat(15), "t").unwrap();
        let v4: IpAddr = "203.0.113.255".parse().unwrap();
        let k = neighbor_key(Some(&vrf15), &PeerAddress::Ip(v4));
        assert!(!k.starts_with('h'), "{k}");
        assert!(route_map_out(&k).is_ok() && route_map_in(&k).is_ok());
    }

    #[test]
    fn preferred_tags_are_stable_nonzero_and_spread() {
        let a = preferred_tag("192.0.2.1=c=65000:100;lc=;lp=100");
        assert_eq!(a, preferred_tag("192.0.2.1=c=65000:100;lc=;lp=100"));
        assert_ne!(a, preferred_tag("192.0.2.1=c=65000:100;lc=;lp=200"));
        let tags: std::collections::BTreeSet<u32> =
            (0..2000).map(|i| preferred_tag(&i.to_string())).collect();
        assert!(!tags.contains(&0));
        assert_eq!(tags.len(), 2000);
        assert!(is_safe(tag_route_map(u32::MAX).as_str()));
    }
}
