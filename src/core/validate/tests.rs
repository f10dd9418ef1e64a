use super::*;
use crate::core::validate::testing::*;

#[test]
fn names() {
    run(&[
        Row {
            name: "uppercase and underscore",
            mutate: |s| {
                add(s, "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: Bad_Name}\nspec: {addresses: [192.0.2.0/28]}\n")
            },
            errors: &[(
                "IPAddressPool",
                "Bad_Name",
                "metadata.name",
                "not a valid name",
            )],
            warnings: &[],
        },
        Row {
            name: "leading dash",
            mutate: |s| {
                add(s, "apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {name: -slow}\nspec: {}\n")
            },
            errors: &[("BFDProfile", "-slow", "metadata.name", "not a valid name")],
            warnings: &[],
        },
        Row {
            name: "dots are fine",
            mutate: |s| {
                add(s, "apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {name: slow.v2}\nspec: {}\n")
            },
            errors: &[],
            warnings: &[],
        },
    ]);
    // Longer than 253 characters (not expressible as a static row).
    let mut s = baseline();
    let long = "a".repeat(254);
    find(&mut s.bfd_profiles, "fast").metadata.name = Some(long.clone());
    let v = check(&s);
    assert!(v
        .errors
        .iter()
        .any(|e| e.object.name == long && e.field == "metadata.name"));
}

#[test]
fn objects_outside_our_namespace_are_ignored() {
    let mut s = baseline();
    add(
        &mut s,
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: Elsewhere, namespace: other}\nspec: {addresses: []}\n",
    );
    find(&mut s.peers, "peer-b").metadata.namespace = Some("other".into());
    let v = check(&s);
    assert_eq!(v.errors, vec![]);
    assert!(!v.config.peers.contains_key("peer-b"));
    assert!(!v.config.pools.contains_key("Elsewhere"));
}

#[test]
fn converts_the_baseline() {
    let v = check(&baseline());
    let c = &v.config;
    let b = &c.pools["pool-b"];
    assert!(!b.auto_assign && !b.avoid_buggy_ips);
    assert_eq!(b.cidrs, vec!["2001:db8::/64".parse::<IpNet>().unwrap()]);
    assert_eq!(b.ranges.len(), 2);
    assert_eq!(b.labels.get("tier").map(String::as_str), Some("b"));
    let alloc = b.allocation.as_ref().unwrap();
    assert_eq!(alloc.priority, Some(1));
    assert_eq!(alloc.namespaces, BTreeSet::from(["web".to_string()]));
    assert_eq!(alloc.service_selectors.len(), 1);
    assert!(c.pools["pool-a"].allocation.is_none() && c.pools["pool-a"].auto_assign);

    let a = &c.peers["peer-a"];
    assert_eq!(
        a.timers,
        Some(Timers {
            keepalive: 30,
            hold: 90
        })
    );
    assert_eq!(a.bfd_profile.as_deref(), Some("fast"));
    assert_eq!(a.node_selectors.len(), 1);
    assert!(a.password.is_none() && a.vrf.is_none() && !a.ebgp_multihop);
    let b = &c.peers["peer-b"];
    assert_eq!(
        b.timers,
        Some(Timers {
            keepalive: 10,
            hold: 30
        })
    );
    assert_eq!(b.remote_as, RemoteAs::Asn(65001));

    let adv = &c.advertisements["adv-b"];
    assert_eq!(
        (adv.aggregation_length_v4, adv.aggregation_length_v6),
        (32, 128)
    );
    assert!(adv.peers.is_none() && adv.local_pref.is_none());
}

#[test]
fn deterministic() {
    let mut s = baseline();
    peer_spec(&mut s, "peer-a").hold_time = some("1s");
    pool_spec(&mut s, "pool-b").addresses.push("x".into());
    let a = check(&s);
    s.pools.reverse();
    s.peers.reverse();
    s.advertisements.reverse();
    s.nodes.reverse();
    let b = check(&s);
    assert_eq!(a, b);
    assert_eq!(
        serde_json::to_string(&a.config).unwrap(),
        serde_json::to_string(&b.config).unwrap()
    );
}

/// One rule between two objects: the baseline's `incumbent` and an added object that
/// conflicts with it.
struct Pair {
    rule: &'static str,
    incumbent: (&'static str, &'static str),
    /// Sorts before the incumbent by name, so name order would pick it.
    newcomer: (&'static str, &'static str),
    yaml: &'static str,
}

const PAIRS: &[Pair] = &[
    Pair {
        rule: "overlapping IPAddressPools",
        incumbent: ("IPAddressPool", "pool-a"),
        newcomer: ("IPAddressPool", "pool-0"),
        yaml: "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: pool-0}\nspec: {addresses: [203.0.113.0/24]}\n",
    },
    Pair {
        rule: "one neighbor twice",
        incumbent: ("BGPPeer", "peer-a"),
        newcomer: ("BGPPeer", "peer-0"),
        yaml: "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: peer-0}\nspec: {myASN: 65100, peerASN: 65009, peerAddress: 198.51.100.1}\n",
    },
    Pair {
        rule: "two AS numbers for one node",
        incumbent: ("BGPPeer", "peer-a"),
        newcomer: ("BGPPeer", "peer-0"),
        yaml: "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: peer-0}\nspec: {myASN: 65200, peerASN: 65009, peerAddress: 198.51.100.9, nodeSelectors: [{matchLabels: {rack: r1}}]}\n",
    },
    Pair {
        rule: "two router IDs for one node",
        incumbent: ("BGPPeer", "peer-a"),
        newcomer: ("BGPPeer", "peer-0"),
        yaml: "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: peer-0}\nspec: {myASN: 65100, peerASN: 65009, peerAddress: 198.51.100.9, routerID: 10.9.9.9, nodeSelectors: [{matchLabels: {rack: r1}}]}\n",
    },
    Pair {
        rule: "two localPrefs for one prefix and peer",
        incumbent: ("BGPAdvertisement", "adv-a"),
        newcomer: ("BGPAdvertisement", "adv-0"),
        yaml: "apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {name: adv-0}\nspec: {ipAddressPools: [pool-a], localPref: 300}\n",
    },
    Pair {
        rule: "one Community alias defined twice",
        incumbent: ("Community", "aliases"),
        newcomer: ("Community", "aliases-0"),
        yaml: "apiVersion: metallb.io/v1beta1\nkind: Community\nmetadata: {name: aliases-0}\nspec: {communities: [{name: gold, value: '65000:999'}]}\n",
    },
];

fn set_created(s: &mut Snapshot, (kind, name): (&str, &str), secs: i64) {
    match kind {
        "IPAddressPool" => created(&mut s.pools, name, secs),
        "BGPPeer" => created(&mut s.peers, name, secs),
        "BGPAdvertisement" => created(&mut s.advertisements, name, secs),
        "Community" => created(&mut s.communities, name, secs),
        other => panic!("no list for {other}"),
    }
}

/// The loser of the pair in `v`: the object with an error naming the other as incumbent.
fn loser(v: &Validated, p: &Pair) -> (&'static str, &'static str) {
    let named = |(k, n): (&str, &str)| ObjectRef::new(k, NS, n);
    // An error (the object is left out) or a warning (it lost only a part, as a Community
    // with other aliases does).
    let lost = |me: (&'static str, &'static str), other| {
        v.errors
            .iter()
            .chain(&v.warnings)
            .any(|e| e.object == named(me) && e.incumbent == Some(named(other)))
    };
    match (lost(p.incumbent, p.newcomer), lost(p.newcomer, p.incumbent)) {
        (false, true) => p.newcomer,
        (true, false) => p.incumbent,
        other => panic!(
            "{}: exactly one must lose, got {other:?}: {:#?}",
            p.rule, v.errors
        ),
    }
}

/// Every rule between two objects is decided for the incumbent: the older creationTimestamp,
/// whichever order the objects are listed in and whatever their names; without timestamps,
/// the one seen first. The loser's error names the winner, and the winner's own verdict is
/// what it was without the newcomer.
#[test]
fn every_conflict_goes_to_the_incumbent_in_either_order() {
    let clean = check(&baseline());
    for p in PAIRS {
        for (older, newer) in [(p.incumbent, p.newcomer), (p.newcomer, p.incumbent)] {
            for reversed in [false, true] {
                let mut s = baseline();
                add(&mut s, p.yaml);
                set_created(&mut s, older, 1_000);
                set_created(&mut s, newer, 2_000);
                if reversed {
                    s.pools.reverse();
                    s.peers.reverse();
                    s.advertisements.reverse();
                    s.communities.reverse();
                }
                let v = check(&s);
                assert_eq!(loser(&v, p), newer, "{}: older {older:?}", p.rule);
                if older == p.incumbent {
                    // Nothing the baseline had is lost or changed.
                    for (kind, name) in present(&clean.config) {
                        assert!(
                            present(&v.config).contains(&(kind, name.clone())),
                            "{}: {kind} {name}",
                            p.rule
                        );
                    }
                    assert_eq!(v.config.pools, clean.config.pools, "{}", p.rule);
                    assert_eq!(v.config.peers, clean.config.peers, "{}", p.rule);
                    assert_eq!(
                        v.config.advertisements, clean.config.advertisements,
                        "{}",
                        p.rule
                    );
                }
            }
        }
        // File mode: no timestamps; the one seen first stays.
        let mut s = baseline();
        add(&mut s, p.yaml);
        newcomer(&mut s, p.newcomer.0, p.newcomer.1);
        assert_eq!(loser(&check(&s), p), p.newcomer, "{}: seen later", p.rule);
        // A timestamp outranks none: an object without one is the newer.
        let mut s = baseline();
        add(&mut s, p.yaml);
        set_created(&mut s, p.newcomer, 1_000);
        assert_eq!(
            loser(&check(&s), p),
            p.incumbent,
            "{}: only the newcomer has a timestamp",
            p.rule
        );
    }
}

/// Same age and never seen apart: the pool whose addresses Services hold stays, whatever
/// the names.
#[test]
fn between_pools_of_one_age_the_one_in_use_stays() {
    let p = &PAIRS[0];
    let mut s = baseline();
    add(&mut s, "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: pool-0}\nspec: {addresses: [203.0.113.64-203.0.113.250]}\n");
    let in_pool_a: BTreeSet<std::net::IpAddr> = ["203.0.113.5".parse().unwrap()].into();
    let v = validate(&s, &in_pool_a);
    assert_eq!(loser(&v, p), p.newcomer);
    // pool-0 holds an address pool-a's range does not cover: pool-0 stays.
    let in_pool_0: BTreeSet<std::net::IpAddr> = ["203.0.113.250".parse().unwrap()].into();
    let v = validate(&s, &in_pool_0);
    assert_eq!(loser(&v, p), p.incumbent);
}
