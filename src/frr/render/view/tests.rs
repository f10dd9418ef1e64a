use super::*;
use crate::core::intent::Announcement;
use crate::core::limits;
use crate::core::model::{BfdProfile, RemoteAs};
use crate::frr::reload::config::parse;
use crate::frr::render::{render, sha256_hex};
use proptest::prelude::*;

const PLACEHOLDER: &str = "placeholder";

#[derive(Clone, Copy, Debug)]
enum Slot {
    BfdProfile,
    Vrf,
    Interface,
}

/// One router, one neighbor with one announcement and a BFD profile; `name` goes into
/// `slot`, every other name is fixed.
fn intent_with(slot: Slot, name: &str) -> NodeIntent {
    let pick = |s: Slot, fixed: &str| {
        if std::mem::discriminant(&s) == std::mem::discriminant(&slot) {
            name.to_owned()
        } else {
            fixed.to_owned()
        }
    };
    let profile = pick(Slot::BfdProfile, "bfd1");
    NodeIntent {
        node: "n1".into(),
        routers: vec![Router {
            vrf: Some(pick(Slot::Vrf, "red")),
            asn: 65100,
            router_id: None,
            neighbors: vec![Neighbor {
                bfd_profile: Some(profile.clone()),
                announcements: vec![Announcement {
                    prefix: "203.0.113.10/32".parse().unwrap(),
                    communities: [Community::Standard(65000, 100)].into(),
                    local_pref: Some(100),
                    services: vec![],
                }],
                // The address only, even for an unnumbered session.
                ipv6: false,
                ..Neighbor::new(
                    "tor1",
                    match slot {
                        Slot::Interface => PeerAddress::Interface(name.to_owned()),
                        _ => PeerAddress::Ip("192.0.2.1".parse().unwrap()),
                    },
                    RemoteAs::External,
                )
            }],
        }],
        bfd_profiles: vec![BfdProfile {
            name: profile,
            receive_interval: Some(100),
            ..BfdProfile::default()
        }],
        withheld: vec![],
    }
}

/// Per top-level stanza (a line at indentation 0 and the lines up to the next one): per
/// line, indentation, first word and number of words; stanzas sorted, since route-maps
/// sort by name and names vary. Equal shapes mean equal structure, whatever the names.
fn shape(config: &str) -> Vec<Vec<(usize, String, usize)>> {
    let mut stanzas: Vec<Vec<(usize, String, usize)>> = Vec::new();
    for l in config.lines() {
        let words: Vec<&str> = l.split_whitespace().collect();
        let indent = l.len() - l.trim_start().len();
        let line = (
            indent,
            words.first().unwrap_or(&"").to_string(),
            words.len(),
        );
        match stanzas.last_mut() {
            Some(s) if indent > 0 || matches!(line.1.as_str(), "exit" | "!") => s.push(line),
            _ => stanzas.push(vec![line]),
        }
    }
    stanzas.sort();
    stanzas
}

fn hostile_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9._-]{1,70}",
        "[a-z]{0,6}[ \t\n\r!#;\\\\/]{1,3}(exit|end|router bgp 1| neighbor x)?[a-z]{0,4}",
        "\\PC{0,24}",
        any::<String>(),
        Just(String::new()),
        Just("exit".to_owned()),
        Just("end".to_owned()),
        Just("default".to_owned()),
        Just("192.0.2.1".to_owned()),
        Just("x".repeat(64)),
    ]
}

proptest! {
    #[test]
    fn hostile_names_are_rejected_or_cannot_change_the_structure(
        name in hostile_name(),
        slot in prop_oneof![Just(Slot::BfdProfile), Just(Slot::Vrf), Just(Slot::Interface)],
    ) {
        let reference = render(&intent_with(slot, PLACEHOLDER)).unwrap();
        let result = render(&intent_with(slot, &name));
        // What FRR takes is decided by `core::limits`, for validation and rendering alike.
        let acceptable = match slot {
            Slot::Vrf => limits::vrf_name(&name).is_ok(),
            Slot::Interface => limits::interface_name(&name).is_ok(),
            Slot::BfdProfile => limits::bfd_profile_name(&name).is_ok(),
        };
        match result {
            Err(e) => {
                prop_assert!(!acceptable, "{name:?} in {slot:?} rejected: {e}");
                let msg = e.to_string();
                prop_assert!(msg.contains("spec.") || msg.contains("metadata.name"), "{msg}");
            }
            Ok(config) => {
                prop_assert!(acceptable, "{name:?} in {slot:?} rendered:\n{config}");
                prop_assert_eq!(shape(&config), shape(&reference));
                prop_assert_eq!(parse(&config).lines.len(), parse(&reference).lines.len());
                prop_assert!(config.split_whitespace().any(|w| w == name || w.contains(&name)));
            }
        }
    }
}

#[test]
fn stanza_parser_nests_by_indentation() {
    // The one config parser reads a rendered config's shape: `router bgp` holds its
    // address families, `bfd` holds its profiles, route-maps close with `exit`.
    let config = render(&intent_with(Slot::Vrf, "red")).unwrap();
    let tree = parse(&config);
    let top: Vec<&str> = tree.lines.iter().map(|l| l.text.as_str()).collect();
    assert!(top.contains(&"router bgp 65100 vrf red"), "{top:?}");
    assert!(top.contains(&"bfd"), "{top:?}");
    let router = tree
        .lines
        .iter()
        .find(|l| l.text.starts_with("router bgp"))
        .unwrap();
    let af = router
        .children
        .iter()
        .find(|l| l.text == "address-family ipv4 unicast")
        .expect("the address family nests in the router");
    assert!(af
        .children
        .iter()
        .any(|l| l.text.starts_with("network 203.0.113.10/32")));
    let bfd = tree.lines.iter().find(|l| l.text == "bfd").unwrap();
    assert_eq!(bfd.children[0].text, "profile bfd1");
    assert!(bfd.children[0]
        .children
        .iter()
        .any(|l| l.text == "receive-interval 100"));
}

#[test]
fn free_seq_wraps_and_reports_exhaustion() {
    let mut used = BTreeSet::from([5, 6]);
    assert_eq!(free_seq(6, &mut used, 1, 6), Some(1));
    assert_eq!(free_seq(0, &mut used, 1, 6), Some(2));
    let mut full: BTreeSet<u32> = (1..=3).collect();
    assert_eq!(free_seq(2, &mut full, 1, 3), None);
}

#[test]
fn well_known_communities_use_frr_names() {
    let cases = [
        ((0, 0), "internet"),
        ((65535, 65281), "no-export"),
        ((65535, 666), "blackhole"),
        ((65535, 9), "65535:9"),
        ((65000, 100), "65000:100"),
    ];
    for ((a, b), want) in cases {
        assert_eq!(standard_community(a, b), want);
    }
}

#[test]
fn hash_is_sha256_hex() {
    let table = [
        (
            "",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        (
            "abc",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
    ];
    for (input, want) in table {
        assert_eq!(sha256_hex(input), want);
    }
}
