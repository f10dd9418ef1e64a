//! What FRR would send, read from a rendered config: the outbound policy evaluated the way
//! FRR applies it (`simulate`), for tests that check meaning rather than text.

use std::collections::{BTreeMap, BTreeSet};

use ferrule::model::Community;
use ipnet::IpNet;

/// A community from its numeric text, `a:b` (standard) or `a:b:c` (large).
pub fn community(s: &str) -> Community {
    let parts: Vec<u32> = s.split(':').map(|p| p.parse().unwrap()).collect();
    match parts[..] {
        [a, b] => Community::Standard(a.try_into().unwrap(), b.try_into().unwrap()),
        [a, b, c] => Community::Large(a, b, c),
        _ => panic!("bad community {s}"),
    }
}

/// What one neighbor is sent: prefix -> (communities, local preference).
pub type Sent = BTreeMap<IpNet, (BTreeSet<Community>, Option<u32>)>;

/// FRR's names for well-known communities (as used in the scenarios), back to values.
pub fn parse_community(s: &str) -> Community {
    let well_known = [
        ("internet", (0, 0)),
        ("graceful-shutdown", (65535, 0)),
        ("blackhole", (65535, 666)),
        ("no-export", (65535, 65281)),
        ("no-advertise", (65535, 65282)),
        ("local-AS", (65535, 65283)),
        ("no-peer", (65535, 65284)),
    ];
    match well_known.iter().find(|(name, _)| *name == s) {
        Some((_, (a, b))) => Community::Standard(*a, *b),
        None => community(s),
    }
}

#[derive(Default)]
struct Entry {
    permit: bool,
    match_tag: Option<u32>,
    set_tag: Option<u32>,
    communities: BTreeSet<Community>,
    local_pref: Option<u32>,
}

/// Evaluates the rendered policy the way FRR applies it: each `network` gets the tag its
/// route-map sets; each neighbor's out route-map, in sequence order, permits (with its sets)
/// or denies it. Returns, per (router index, neighbor id), what is sent.
pub fn simulate(config: &str) -> BTreeMap<(usize, String), Sent> {
    let mut maps: BTreeMap<String, BTreeMap<u32, Entry>> = BTreeMap::new();
    let mut current: Option<(String, u32)> = None;
    let mut router = None::<usize>;
    let mut routers = 0;
    let mut family = "";
    // (router, family) -> [(prefix, route-map)]; (router, family, neighbor) -> out route-map
    let mut networks: BTreeMap<(usize, &str), Vec<(IpNet, String)>> = BTreeMap::new();
    let mut outs: BTreeMap<(usize, &str, String), String> = BTreeMap::new();
    for line in config.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w[..] {
            ["route-map", name, action, seq] => {
                let seq: u32 = seq.parse().unwrap();
                maps.entry(name.into()).or_default().insert(
                    seq,
                    Entry {
                        permit: action == "permit",
                        ..Entry::default()
                    },
                );
                current = Some((name.into(), seq));
            }
            ["match", "tag", t] | ["set", "tag", t] | ["set", "local-preference", t]
                if current.is_some() =>
            {
                let (name, seq) = current.as_ref().unwrap();
                let e = maps.get_mut(name).unwrap().get_mut(seq).unwrap();
                let v = t.parse().unwrap();
                match w[..2] {
                    ["match", _] => e.match_tag = Some(v),
                    [_, "tag"] => e.set_tag = Some(v),
                    _ => e.local_pref = Some(v),
                }
            }
            ["set", "community" | "large-community", ..] => {
                let (name, seq) = current.as_ref().unwrap();
                let e = maps.get_mut(name).unwrap().get_mut(seq).unwrap();
                e.communities
                    .extend(w[2..].iter().map(|c| parse_community(c)));
            }
            ["exit"] => current = None,
            ["router", "bgp", ..] => {
                router = Some(routers);
                routers += 1;
            }
            ["address-family", afi, "unicast"] => family = if afi == "ipv4" { "v4" } else { "v6" },
            ["network", prefix, "route-map", rm] => networks
                .entry((router.unwrap(), family))
                .or_default()
                .push((prefix.parse().unwrap(), rm.into())),
            ["neighbor", id, "route-map", rm, "out"] => {
                outs.insert((router.unwrap(), family, id.into()), rm.into());
            }
            _ => {}
        }
    }
    let mut sent: BTreeMap<(usize, String), Sent> = BTreeMap::new();
    for ((r, fam, id), out) in &outs {
        let to = sent.entry((*r, id.clone())).or_default();
        for (prefix, rm) in networks.get(&(*r, *fam)).into_iter().flatten() {
            let tag = maps[rm][&10].set_tag.expect("tagging route-map sets a tag");
            let hit = maps[out]
                .values()
                .find(|e| e.match_tag.is_none_or(|t| t == tag))
                .expect("the final deny matches everything");
            if hit.permit {
                to.insert(*prefix, (hit.communities.clone(), hit.local_pref));
            }
        }
    }
    sent
}

/// The VRF of each `router bgp` stanza, in config order (the router index [`simulate`] uses);
/// `None` for the default VRF.
pub fn router_vrfs(config: &str) -> Vec<Option<String>> {
    config
        .lines()
        .filter_map(
            |line| match line.split_whitespace().collect::<Vec<_>>()[..] {
                ["router", "bgp", _] => Some(None),
                ["router", "bgp", _, "vrf", vrf] => Some(Some(vrf.to_owned())),
                _ => None,
            },
        )
        .collect()
}
