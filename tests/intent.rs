//! Per-node routing intent: one table row per MetalLB rule, plus property tests over random
//! small clusters.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

mod support;

use ferrule::model::{
    Advertisement, BfdProfile, Community, Endpoint, Node, Peer, PeerAddress, RemoteAs, Selector,
    ServiceKey, EXCLUDE_LB_LABEL,
};
use ferrule::{all_node_intents, node_intent, NodeIntent, WithholdReason};
use ipnet::IpNet;
use proptest::prelude::*;
use support::fixtures::{adv, ep, ip, key, net, node, peer, pool, sel, service, Fixture};

/// The scenario from the article: one pool, two ToRs, one advertisement, an ETP=Local
/// Service with endpoints on node-a and node-b, none on node-c.
fn seed() -> Fixture {
    let mut f = Fixture::default();
    f.add_pool(pool("pool", "203.0.113.0/24"))
        .add_peer(peer("tor1", "10.0.0.1"))
        .add_peer(peer("tor2", "10.0.0.2"))
        .add_node(node("node-a"))
        .add_node(node("node-b"))
        .add_node(node("node-c"));
    let mut a = adv("adv", &["pool"]);
    a.communities.insert(Community::Standard(65000, 100));
    a.local_pref = Some(100);
    f.add_adv(a);
    f.add_service(
        service("default/web", true),
        "pool",
        &["203.0.113.10"],
        vec![ep("node-a", true), ep("node-b", true)],
    );
    f
}

/// Seed with ETP=Cluster.
fn seed_cluster() -> Fixture {
    let mut f = seed();
    f.svc_mut("default/web").etp_local = false;
    f
}

// ---------------------------------------------------------------------------------------------
// Flattened views of an intent, to compare with expectations written as strings

type Sent = BTreeSet<(String, IpNet, String)>;
type Held = BTreeSet<(String, IpNet, Option<String>, WithholdReason)>;

/// (peer, prefix, service) for everything announced.
fn sent(i: &NodeIntent) -> Sent {
    let mut out = BTreeSet::new();
    for r in &i.routers {
        for n in &r.neighbors {
            for a in &n.announcements {
                for s in &a.services {
                    out.insert((n.peer.clone(), a.prefix, s.to_string()));
                }
            }
        }
    }
    out
}

fn held(i: &NodeIntent) -> Held {
    i.withheld
        .iter()
        .map(|w| (w.service.to_string(), w.prefix, w.peer.clone(), w.reason))
        .collect()
}

fn s(entries: &[(&str, &str, &str)]) -> Sent {
    entries
        .iter()
        .map(|(p, n, svc)| (p.to_string(), net(n), svc.to_string()))
        .collect()
}

fn h(entries: &[(&str, &str, Option<&str>, WithholdReason)]) -> Held {
    entries
        .iter()
        .map(|(svc, n, p, r)| (svc.to_string(), net(n), p.map(str::to_string), *r))
        .collect()
}

const WEB: &str = "default/web";
const API: &str = "default/api";
const W32: &str = "203.0.113.10/32";

fn both_tors(
    prefix: &'static str,
    svc: &'static str,
) -> Vec<(&'static str, &'static str, &'static str)> {
    vec![("tor1", prefix, svc), ("tor2", prefix, svc)]
}

struct Case {
    name: &'static str,
    fixture: Fixture,
    /// Per node: exactly what it sends and exactly what it withholds.
    expect: Vec<(&'static str, Sent, Held)>,
}

use WithholdReason::*;

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();

    cases.push(Case {
        name: "seed: ETP Local announces only where endpoints run",
        fixture: seed(),
        expect: vec![
            ("node-a", s(&both_tors(W32, WEB)), h(&[])),
            ("node-b", s(&both_tors(W32, WEB)), h(&[])),
            ("node-c", s(&[]), h(&[(WEB, W32, None, NoLocalEndpoint)])),
        ],
    });

    cases.push(Case {
        name: "ETP Cluster: every node announces",
        fixture: seed_cluster(),
        expect: ["node-a", "node-b", "node-c"]
            .into_iter()
            .map(|n| (n, s(&both_tors(W32, WEB)), h(&[])))
            .collect(),
    });

    let mut f = seed_cluster();
    f.endpoints
        .insert(key(WEB), vec![ep("node-a", false), ep("node-c", false)]);
    cases.push(Case {
        name: "ETP Cluster with no serving endpoint: nobody announces",
        fixture: f,
        expect: ["node-a", "node-b", "node-c"]
            .into_iter()
            .map(|n| (n, s(&[]), h(&[(WEB, W32, None, NoServingEndpoint)])))
            .collect(),
    });

    let mut f = seed_cluster();
    f.endpoints.remove(&key(WEB));
    cases.push(Case {
        name: "no endpoints object at all counts as no serving endpoint",
        fixture: f,
        expect: vec![("node-a", s(&[]), h(&[(WEB, W32, None, NoServingEndpoint)]))],
    });

    let mut f = seed();
    f.endpoints
        .insert(key(WEB), vec![ep("node-a", false), ep("node-b", false)]);
    cases.push(Case {
        name: "ETP Local with no serving endpoint anywhere says so, not NoLocalEndpoint",
        fixture: f,
        expect: vec![
            ("node-a", s(&[]), h(&[(WEB, W32, None, NoServingEndpoint)])),
            ("node-c", s(&[]), h(&[(WEB, W32, None, NoServingEndpoint)])),
        ],
    });

    let mut f = seed();
    // Terminating but still serving (decided upstream): the flag is all that counts.
    f.endpoints
        .get_mut(&key(WEB))
        .unwrap()
        .extend([ep("node-c", true), ep("node-b", false)]);
    cases.push(Case {
        name: "serving endpoint counts whatever its readiness",
        fixture: f,
        expect: vec![("node-c", s(&both_tors(W32, WEB)), h(&[]))],
    });

    let mut f = seed();
    f.endpoints.get_mut(&key(WEB)).unwrap().push(Endpoint {
        node: None,
        serving: true,
    });
    cases.push(Case {
        name: "endpoint without a node is never local",
        fixture: f,
        expect: vec![("node-c", s(&[]), h(&[(WEB, W32, None, NoLocalEndpoint)]))],
    });

    let mut f = seed();
    f.node_mut("node-a")
        .labels
        .insert(EXCLUDE_LB_LABEL.into(), String::new());
    cases.push(Case {
        name: "exclude-from-external-load-balancers label",
        fixture: f,
        expect: vec![
            ("node-a", s(&[]), h(&[(WEB, W32, None, NodeExcluded)])),
            ("node-b", s(&both_tors(W32, WEB)), h(&[])),
        ],
    });

    let mut f = seed();
    f.node_mut("node-b").network_unavailable = true;
    f.node_mut("node-c").network_unavailable = true;
    f.node_mut("node-c")
        .labels
        .insert(EXCLUDE_LB_LABEL.into(), "true".into());
    cases.push(Case {
        name: "NetworkUnavailable; one node-wide reason only, exclusion first",
        fixture: f,
        expect: vec![
            ("node-a", s(&both_tors(W32, WEB)), h(&[])),
            (
                "node-b",
                s(&[]),
                h(&[(WEB, W32, None, NodeNetworkUnavailable)]),
            ),
            ("node-c", s(&[]), h(&[(WEB, W32, None, NodeExcluded)])),
        ],
    });

    let mut f = seed_cluster();
    f.node_mut("node-a")
        .labels
        .insert("zone".into(), "edge".into());
    f.adv_mut("adv").node_selectors = vec![sel("zone", "edge")];
    cases.push(Case {
        name: "advertisement nodeSelectors",
        fixture: f,
        expect: vec![
            ("node-a", s(&both_tors(W32, WEB)), h(&[])),
            (
                "node-b",
                s(&[]),
                h(&[(WEB, W32, None, AdvertisementNodeSelector)]),
            ),
        ],
    });

    let mut f = seed_cluster();
    f.adv_mut("adv").service_selectors = vec![sel("app", "api")];
    f.add_service(
        service(API, false),
        "pool",
        &["203.0.113.20"],
        vec![ep("node-c", true)],
    );
    cases.push(Case {
        name: "advertisement serviceSelectors",
        fixture: f,
        expect: vec![(
            "node-a",
            s(&both_tors("203.0.113.20/32", API)),
            h(&[(WEB, W32, None, AdvertisementServiceSelector)]),
        )],
    });

    let mut f = seed_cluster();
    f.adv_mut("adv").service_selectors = vec![sel("app", "api")];
    let mut elsewhere = adv("elsewhere", &["pool"]);
    elsewhere.aggregation_length_v4 = 24;
    elsewhere.node_selectors = vec![sel("kubernetes.io/hostname", "node-c")];
    f.add_adv(elsewhere);
    cases.push(Case {
        name: "withheld names the prefixes of advertisements on this node, not elsewhere",
        fixture: f,
        expect: vec![
            (
                "node-a",
                s(&[]),
                h(&[(WEB, W32, None, AdvertisementServiceSelector)]),
            ),
            ("node-c", s(&both_tors("203.0.113.0/24", WEB)), h(&[])),
        ],
    });

    let mut f = seed_cluster();
    f.adv_mut("adv").pools = BTreeSet::from(["other".to_string()]);
    cases.push(Case {
        name: "no advertisement covers the pool",
        fixture: f,
        expect: vec![("node-a", s(&[]), h(&[(WEB, W32, None, NoAdvertisement)]))],
    });

    let mut f = seed_cluster();
    f.adv_mut("adv").peers = Some(BTreeSet::from(["tor1".to_string()]));
    cases.push(Case {
        name: "advertisement peers filter",
        fixture: f,
        expect: vec![(
            "node-a",
            s(&[("tor1", W32, WEB)]),
            h(&[(WEB, W32, Some("tor2"), PeerNotSelected)]),
        )],
    });

    let mut f = seed_cluster();
    f.adv_mut("adv").peers = Some(BTreeSet::from(["tor1".to_string()]));
    let mut second = adv("adv-tor2", &["pool"]);
    second.peers = Some(BTreeSet::from(["tor2".to_string()]));
    f.add_adv(second);
    cases.push(Case {
        name: "a peer left out by one advertisement gets the prefix from another",
        fixture: f,
        expect: vec![("node-a", s(&both_tors(W32, WEB)), h(&[]))],
    });

    let mut f = seed_cluster();
    f.peer_mut("tor2").node_selectors = vec![sel("kubernetes.io/hostname", "node-a")];
    cases.push(Case {
        name: "peer nodeSelectors: no session, nothing to withhold for an all-peers advertisement",
        fixture: f,
        expect: vec![
            ("node-a", s(&both_tors(W32, WEB)), h(&[])),
            ("node-b", s(&[("tor1", W32, WEB)]), h(&[])),
        ],
    });

    let mut f = seed_cluster();
    f.peer_mut("tor2").node_selectors = vec![sel("kubernetes.io/hostname", "node-a")];
    f.adv_mut("adv").peers = Some(BTreeSet::from(["tor1".to_string(), "tor2".to_string()]));
    cases.push(Case {
        name: "peer nodeSelectors: a peer the advertisement names is reported",
        fixture: f,
        expect: vec![
            ("node-a", s(&both_tors(W32, WEB)), h(&[])),
            (
                "node-b",
                s(&[("tor1", W32, WEB)]),
                h(&[(WEB, W32, Some("tor2"), PeerNodeSelector)]),
            ),
        ],
    });

    let mut f = seed_cluster();
    f.adv_mut("adv").aggregation_length_v4 = 24;
    f.add_service(
        service(API, false),
        "pool",
        &["203.0.113.20"],
        vec![ep("node-b", true)],
    );
    cases.push(Case {
        name: "aggregation /24 merges two Services into one prefix",
        fixture: f,
        expect: vec![(
            "node-c",
            s(&[
                ("tor1", "203.0.113.0/24", API),
                ("tor1", "203.0.113.0/24", WEB),
                ("tor2", "203.0.113.0/24", API),
                ("tor2", "203.0.113.0/24", WEB),
            ]),
            h(&[]),
        )],
    });

    let mut f = seed_cluster();
    f.add_pool(pool("pool6", "2001:db8:1::/64"));
    f.adv_mut("adv").pools.insert("pool6".into());
    f.adv_mut("adv").aggregation_length_v6 = 64;
    f.peer_mut("tor1").dual_stack = true;
    f.add_service(
        service(API, false),
        "pool6",
        &["2001:db8:1::20"],
        vec![ep("node-b", true)],
    );
    f.add_service(
        service("other/db", false),
        "pool6",
        &["2001:db8:1::ffff"],
        vec![ep("node-b", true)],
    );
    cases.push(Case {
        name: "aggregation /64 merges; v6 goes over a v4 session only when dual-stack",
        fixture: f,
        expect: vec![(
            "node-a",
            s(&[
                ("tor1", "2001:db8:1::/64", API),
                ("tor1", "2001:db8:1::/64", "other/db"),
                ("tor1", W32, WEB),
                ("tor2", W32, WEB),
            ]),
            h(&[
                (API, "2001:db8:1::/64", Some("tor2"), AddressFamily),
                ("other/db", "2001:db8:1::/64", Some("tor2"), AddressFamily),
            ]),
        )],
    });

    let mut f = seed_cluster();
    f.add_peer(peer("tor6", "2001:db8:ff::1"));
    cases.push(Case {
        name: "v4 prefix not sent over a v6 session",
        fixture: f,
        expect: vec![(
            "node-a",
            s(&both_tors(W32, WEB)),
            h(&[(WEB, W32, Some("tor6"), AddressFamily)]),
        )],
    });

    let mut f = seed_cluster();
    f.add_pool(pool("pool2", "198.51.100.0/24"));
    let mut a2 = adv("adv2", &["pool2"]);
    a2.peers = Some(BTreeSet::from(["tor2".to_string()]));
    a2.communities.insert(Community::Standard(65000, 200));
    f.add_adv(a2);
    f.add_service(
        service(API, false),
        "pool2",
        &["198.51.100.7"],
        vec![ep("node-c", true)],
    );
    cases.push(Case {
        name: "multiple pools with their own advertisements",
        fixture: f,
        expect: vec![(
            "node-b",
            s(&[
                ("tor1", W32, WEB),
                ("tor2", W32, WEB),
                ("tor2", "198.51.100.7/32", API),
            ]),
            h(&[(API, "198.51.100.7/32", Some("tor1"), PeerNotSelected)]),
        )],
    });

    let mut f = seed_cluster();
    f.add_service(
        service(API, false),
        "pool",
        &["203.0.113.10"],
        vec![ep("node-b", true)],
    );
    cases.push(Case {
        name: "two Services sharing an IP share one announcement",
        fixture: f,
        expect: vec![(
            "node-a",
            s(&[
                ("tor1", W32, API),
                ("tor1", W32, WEB),
                ("tor2", W32, API),
                ("tor2", W32, WEB),
            ]),
            h(&[]),
        )],
    });

    let mut f = seed_cluster();
    f.add_pool(pool("pool6", "2001:db8:1::/64"));
    f.adv_mut("adv").pools.insert("pool6".into());
    f.adv_mut("adv").aggregation_length_v4 = 24;
    f.node_mut("node-c").network_unavailable = true;
    f.assignments
        .get_mut(&key(WEB))
        .unwrap()
        .ips
        .push(ip("2001:db8:1::10"));
    cases.push(Case {
        name: "node-wide reason names every prefix the Service would go out as",
        fixture: f,
        expect: vec![(
            "node-c",
            s(&[]),
            h(&[
                (WEB, "203.0.113.0/24", None, NodeNetworkUnavailable),
                (WEB, "2001:db8:1::10/128", None, NodeNetworkUnavailable),
            ]),
        )],
    });

    let mut f = seed_cluster();
    f.assignments.clear();
    cases.push(Case {
        name: "a Service without an assignment is not considered",
        fixture: f,
        expect: vec![("node-a", s(&[]), h(&[]))],
    });

    cases
}

#[test]
fn rules_table() {
    for case in cases() {
        let view = case.fixture.view();
        for (node, want_sent, want_held) in &case.expect {
            let got = node_intent(&view, node);
            assert_eq!(&got.node, node, "{}", case.name);
            assert_eq!(&sent(&got), want_sent, "{}: announced by {node}", case.name);
            assert_eq!(&held(&got), want_held, "{}: withheld by {node}", case.name);
            assert_eq!(
                got.withheld.len(),
                want_held.len(),
                "{}: withheld by {node} has duplicates",
                case.name
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Attributes, routers and neighbors

#[test]
fn seed_announcements_carry_community_and_local_pref() {
    let f = seed();
    let intent = node_intent(&f.view(), "node-a");
    assert_eq!(intent.routers.len(), 1);
    let r = &intent.routers[0];
    assert_eq!((r.vrf.as_deref(), r.asn), (None, 65100));
    let peers: Vec<_> = r.neighbors.iter().map(|n| n.peer.as_str()).collect();
    assert_eq!(peers, ["tor1", "tor2"]);
    for n in &r.neighbors {
        assert_eq!(n.remote_as, RemoteAs::Asn(65000));
        assert_eq!((n.ipv4, n.ipv6, n.local_as), (true, false, None));
        assert_eq!(n.announcements.len(), 1);
        let a = &n.announcements[0];
        assert_eq!(a.prefix, net(W32));
        assert_eq!(
            a.communities,
            BTreeSet::from([Community::Standard(65000, 100)])
        );
        assert_eq!(a.local_pref, Some(100));
        assert_eq!(a.services, vec![key(WEB)]);
    }
}

#[test]
fn communities_from_two_advertisements_are_merged() {
    let mut f = seed_cluster();
    let mut a2 = adv("adv2", &["pool"]);
    a2.communities.insert(Community::Large(65000, 1, 2));
    a2.communities.insert(Community::Standard(65000, 100));
    f.add_adv(a2);
    let intent = node_intent(&f.view(), "node-a");
    for n in &intent.routers[0].neighbors {
        assert_eq!(n.announcements.len(), 1, "{}", n.peer);
        let a = &n.announcements[0];
        assert_eq!(
            a.communities,
            BTreeSet::from([
                Community::Standard(65000, 100),
                Community::Large(65000, 1, 2)
            ])
        );
        // One advertisement sets it, the other leaves it unset.
        assert_eq!(a.local_pref, Some(100));
    }
}

#[test]
fn vrfs_make_routers_default_first() {
    let mut f = seed_cluster();
    for (name, addr, vrf, rid) in [
        ("red-b", "10.1.0.9", "red", Some("192.0.2.2")),
        ("red-a", "10.1.0.10", "red", None),
        ("blue", "10.2.0.1", "blue", Some("192.0.2.3")),
    ] {
        let mut p = peer(name, addr);
        p.vrf = Some(vrf.into());
        p.my_asn = 65200;
        p.router_id = rid.map(|r| r.parse().unwrap());
        f.add_peer(p);
    }
    f.peer_mut("tor2").router_id = Some("192.0.2.1".parse().unwrap());
    let intent = node_intent(&f.view(), "node-a");
    let shape: Vec<_> = intent
        .routers
        .iter()
        .map(|r| {
            (
                r.vrf.clone(),
                r.asn,
                r.router_id.map(|i| i.to_string()),
                r.neighbors
                    .iter()
                    .map(|n| n.peer.clone())
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        shape,
        vec![
            (
                None,
                65100,
                Some("192.0.2.1".into()),
                own(&["tor1", "tor2"])
            ),
            (
                Some("blue".into()),
                65200,
                Some("192.0.2.3".into()),
                own(&["blue"])
            ),
            // Sorted by address (10.1.0.9 < 10.1.0.10), router id from the first named peer
            // that has one.
            (
                Some("red".into()),
                65200,
                Some("192.0.2.2".into()),
                own(&["red-b", "red-a"])
            ),
        ]
    );
    // Advertisements apply in every VRF.
    assert!(intent
        .routers
        .iter()
        .all(|r| r.neighbors.iter().all(|n| n.announcements.len() == 1)));
}

#[test]
fn conflicting_my_asn_keeps_the_lowest_named_peer() {
    let mut f = seed_cluster();
    f.peer_mut("tor2").my_asn = 64999;
    let intent = node_intent(&f.view(), "node-a");
    assert_eq!(intent.routers.len(), 1);
    assert_eq!(intent.routers[0].asn, 65100);
    let peers: Vec<_> = intent.routers[0]
        .neighbors
        .iter()
        .map(|n| &n.peer)
        .collect();
    assert_eq!(peers, ["tor1"]);
}

#[test]
fn address_families_per_session_kind() {
    let mut f = seed_cluster();
    let mut v6 = peer("v6", "2001:db8:ff::1");
    v6.dual_stack = false;
    let mut v6ds = peer("v6ds", "2001:db8:ff::2");
    v6ds.dual_stack = true;
    let mut unnumbered = peer("unnumbered", "10.0.0.9");
    unnumbered.address = PeerAddress::Interface("eth1".into());
    f.add_peer(v6).add_peer(v6ds).add_peer(unnumbered);
    f.peer_mut("tor2").dual_stack = true;
    let intent = node_intent(&f.view(), "node-a");
    let afs: BTreeMap<_, _> = intent.routers[0]
        .neighbors
        .iter()
        .map(|n| (n.peer.as_str(), (n.ipv4, n.ipv6)))
        .collect();
    assert_eq!(
        afs,
        BTreeMap::from([
            ("tor1", (true, false)),
            ("tor2", (true, true)),
            ("v6", (false, true)),
            ("v6ds", (true, true)),
            ("unnumbered", (true, true)),
        ])
    );
}

#[test]
fn neighbor_copies_peer_session_fields_and_lists_its_bfd_profiles() {
    let mut f = seed_cluster();
    let t = f.peer_mut("tor1");
    t.port = Some(1179);
    t.connect_time = Some(5);
    t.ebgp_multihop = true;
    t.graceful_restart = true;
    t.source_address = Some(ip("10.0.0.100"));
    t.bfd_profile = Some("fast".into());
    t.password = Some(ferrule::model::Password::new("s3cret".into()));
    t.timers = Some(ferrule::model::Timers {
        keepalive: 10,
        hold: 30,
    });
    f.peer_mut("tor2").bfd_profile = Some("fast".into());
    for name in ["fast", "unused"] {
        f.config.bfd_profiles.insert(
            name.into(),
            BfdProfile {
                name: name.into(),
                receive_interval: Some(100),
                ..BfdProfile::default()
            },
        );
    }
    let intent = node_intent(&f.view(), "node-a");
    let n = &intent.routers[0].neighbors[0];
    let p = &f.config.peers["tor1"];
    assert_eq!(n.peer, "tor1");
    assert_eq!(n.address, p.address);
    assert_eq!(n.port, p.port);
    assert_eq!(n.connect_time, p.connect_time);
    assert_eq!(n.ebgp_multihop, p.ebgp_multihop);
    assert_eq!(n.graceful_restart, p.graceful_restart);
    assert_eq!(n.source_address, p.source_address);
    assert_eq!(n.bfd_profile, p.bfd_profile);
    assert_eq!(n.timers, p.timers);
    assert_eq!(n.password.as_ref().map(|p| p.expose()), Some("s3cret"));
    let profiles: Vec<_> = intent
        .bfd_profiles
        .iter()
        .map(|b| b.name.as_str())
        .collect();
    assert_eq!(profiles, ["fast"]);
    // The password is needed by the renderer but never serialized.
    assert!(!serde_json::to_string(&intent).unwrap().contains("s3cret"));
}

/// A node the view does not (yet) hold counts as one without labels, as MetalLB's speaker
/// does: its peers without a nodeSelector still run, Cluster-policy Services are announced.
/// (An empty intent here would withdraw every route the node announces while its Node object
/// is briefly missing from the cache.)
#[test]
fn unknown_node_counts_as_one_without_labels() {
    let mut f = seed_cluster();
    let known = node_intent(&f.view(), "node-a");
    let ghost = node_intent(&f.view(), "ghost");
    assert_eq!(ghost.node, "ghost");
    assert_eq!(
        sent(&ghost),
        sent(&known),
        "no peer or advertisement selects nodes"
    );
    assert!(ghost.withheld.is_empty(), "{:?}", ghost.withheld);
    // A peer selecting nodes by label is not run by a node without labels.
    f.peer_mut("tor1").node_selectors = vec![sel("rack", "r1")];
    let ghost = node_intent(&f.view(), "ghost");
    let peers: BTreeSet<_> = ghost
        .routers
        .iter()
        .flat_map(|r| &r.neighbors)
        .map(|n| n.peer.as_str())
        .collect();
    assert_eq!(peers, BTreeSet::from(["tor2"]));
}

#[test]
fn all_node_intents_covers_every_node_and_matches_node_intent() {
    let f = seed();
    let view = f.view();
    let all = all_node_intents(&view);
    assert_eq!(
        all.keys().collect::<Vec<_>>(),
        f.nodes.keys().collect::<Vec<_>>()
    );
    for (name, intent) in &all {
        assert_eq!(intent, &node_intent(&view, name));
    }
}

// ---------------------------------------------------------------------------------------------
// Properties over random small clusters

const NODES: [&str; 4] = ["n0", "n1", "n2", "n3"];
const POOLS: [(&str, &str); 3] = [
    ("p4", "203.0.113.0/24"),
    ("p4b", "198.51.100.0/25"),
    ("p6", "2001:db8:5::/120"),
];

fn arb_node(name: &'static str) -> impl Strategy<Value = Node> {
    (0..2u8, prop::bool::weighted(0.1), prop::bool::weighted(0.1)).prop_map(
        move |(rack, excluded, unavailable)| {
            let mut n = node(name);
            n.labels.insert("rack".into(), rack.to_string());
            if excluded {
                n.labels.insert(EXCLUDE_LB_LABEL.into(), String::new());
            }
            n.network_unavailable = unavailable;
            n
        },
    )
}

fn arb_rack_selector() -> impl Strategy<Value = Vec<Selector>> {
    prop_oneof![
        2 => Just(vec![]),
        1 => (0..2u8).prop_map(|r| vec![sel("rack", &r.to_string())]),
    ]
}

fn arb_peer(i: usize) -> impl Strategy<Value = Peer> {
    (any::<bool>(), any::<bool>(), arb_rack_selector(), 0..3u8).prop_map(
        move |(v6, dual_stack, node_selectors, vrf)| {
            let addr = if v6 {
                format!("2001:db8:ff::{}", i + 1)
            } else {
                format!("192.0.2.{}", i + 1)
            };
            let mut p = peer(&format!("peer{i}"), &addr);
            p.dual_stack = dual_stack;
            p.node_selectors = node_selectors;
            p.vrf = (vrf == 2).then(|| "red".to_string());
            p
        },
    )
}

fn arb_adv(i: usize, n_peers: usize) -> impl Strategy<Value = Advertisement> {
    (
        prop::sample::subsequence(POOLS.iter().map(|p| p.0).collect::<Vec<_>>(), 1..=3),
        prop_oneof![Just(32u8), 24..=32u8],
        prop_oneof![Just(128u8), 120..=128u8],
        prop::sample::subsequence((0..n_peers).collect::<Vec<_>>(), 0..=n_peers),
        arb_rack_selector(),
        prop_oneof![Just(vec![]), Just(vec![sel("app", "a")])],
        prop::option::of(Just(100u32)),
        prop::sample::subsequence(
            vec![Community::Standard(65000, 1), Community::Large(1, 2, 3)],
            0..=2,
        ),
    )
        .prop_map(move |(pools, v4, v6, peers, ns, ss, lp, comms)| {
            let mut a = adv(&format!("adv{i}"), &pools);
            a.aggregation_length_v4 = v4;
            a.aggregation_length_v6 = v6;
            let names: BTreeSet<String> = peers.into_iter().map(|p| format!("peer{p}")).collect();
            // No names means every peer, as an advertisement without `peers` does.
            a.peers = (!names.is_empty()).then_some(names);
            a.node_selectors = ns;
            a.service_selectors = ss;
            a.local_pref = lp;
            a.communities = comms.into_iter().collect();
            a
        })
}

/// A random Service: (pool index, address offsets or unassigned, ETP Local, app label,
/// endpoints or no endpoints object).
type SvcSpec = (
    usize,
    Option<Vec<u8>>,
    bool,
    bool,
    Option<Vec<(Option<usize>, bool)>>,
);

fn arb_service() -> impl Strategy<Value = SvcSpec> {
    (
        0..POOLS.len(),
        prop::option::weighted(0.9, prop::collection::vec(0..100u8, 1..=2)),
        any::<bool>(),
        any::<bool>(),
        prop::option::weighted(
            0.9,
            prop::collection::vec(
                (prop::option::weighted(0.9, 0..NODES.len()), any::<bool>()),
                0..5,
            ),
        ),
    )
}

fn offset(cidr: &str, off: u8) -> IpAddr {
    match net(cidr) {
        IpNet::V4(n) => IpAddr::V4((u32::from(n.network()) + u32::from(off)).into()),
        IpNet::V6(n) => IpAddr::V6((u128::from(n.network()) + u128::from(off)).into()),
    }
}

fn arb_fixture() -> impl Strategy<Value = Fixture> {
    let nodes = (
        arb_node(NODES[0]),
        arb_node(NODES[1]),
        arb_node(NODES[2]),
        arb_node(NODES[3]),
    );
    let config = (1..=3usize).prop_flat_map(|n_peers| {
        (
            (0..n_peers).map(arb_peer).collect::<Vec<_>>(),
            (0..=3usize).prop_flat_map(move |n_advs| {
                (0..n_advs).map(|i| arb_adv(i, n_peers)).collect::<Vec<_>>()
            }),
        )
    });
    (nodes, config, prop::collection::vec(arb_service(), 0..8)).prop_map(
        |(nodes, (peers, advs), services)| {
            let mut f = Fixture::default();
            for (name, cidr) in POOLS {
                f.add_pool(pool(name, cidr));
            }
            for n in [nodes.0, nodes.1, nodes.2, nodes.3] {
                f.add_node(n);
            }
            for p in peers {
                f.add_peer(p);
            }
            for a in advs {
                f.add_adv(a);
            }
            for (i, (pool_i, offs, local, app_a, eps)) in services.into_iter().enumerate() {
                let (pool_name, cidr) = POOLS[pool_i];
                let mut svc = service(&format!("ns/s{i}"), local);
                svc.labels
                    .insert("app".into(), if app_a { "a" } else { "b" }.into());
                let offs = offs.unwrap_or_default();
                let ips: Vec<String> = offs.iter().map(|o| offset(cidr, *o).to_string()).collect();
                let ips: Vec<&str> = ips.iter().map(String::as_str).collect();
                let k = svc.key.clone();
                let eps = eps.map(|eps| {
                    eps.into_iter()
                        .map(|(n, serving)| Endpoint {
                            node: n.map(|n| NODES[n].to_string()),
                            serving,
                        })
                        .collect()
                });
                f.add_service(svc, pool_name, &ips, eps.clone().unwrap_or_default());
                // Leave gaps so lookups by Service key meet missing entries.
                if ips.is_empty() {
                    f.assignments.remove(&k);
                }
                if eps.is_none() {
                    f.endpoints.remove(&k);
                }
            }
            f
        },
    )
}

fn in_pool(f: &Fixture, pool: &str, addr: IpAddr) -> bool {
    f.config.pools[pool]
        .ranges
        .iter()
        .any(|r| r.first <= addr && addr <= r.last)
}

fn is_sorted_strictly<T: Ord>(v: &[T]) -> bool {
    v.windows(2).all(|w| w[0] < w[1])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn intent_is_deterministic_and_ignores_endpoint_order(f in arb_fixture(), seed in any::<u64>()) {
        let mut shuffled = f.clone();
        let mut state = seed | 1;
        for eps in shuffled.endpoints.values_mut() {
            // Fisher-Yates with a xorshift generator: a different order per case.
            for i in (1..eps.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                eps.swap(i, (state % (i as u64 + 1)) as usize);
            }
        }
        for n in NODES {
            let a = node_intent(&f.view(), n);
            let b = node_intent(&f.view(), n);
            let c = node_intent(&shuffled.view(), n);
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(&a, &c);
            prop_assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&c).unwrap());
        }
    }

    #[test]
    fn every_assigned_service_is_announced_or_withheld(f in arb_fixture()) {
        let view = f.view();
        for (name, intent) in all_node_intents(&view) {
            if intent.routers.is_empty() {
                // No session: nothing to announce to, nothing to withhold from.
                continue;
            }
            let mut seen: BTreeSet<&ServiceKey> = intent.withheld.iter().map(|w| &w.service).collect();
            for r in &intent.routers {
                for n in &r.neighbors {
                    seen.extend(n.announcements.iter().flat_map(|a| &a.services));
                }
            }
            let assigned: BTreeSet<&ServiceKey> = f.assignments.keys().collect();
            prop_assert_eq!(seen, assigned, "node {}", name);
        }
    }

    #[test]
    fn announcements_are_sound(f in arb_fixture()) {
        let view = f.view();
        for (name, intent) in all_node_intents(&view) {
            let n = &f.nodes[&name];
            prop_assert!(is_sorted_strictly(&intent.withheld));
            prop_assert!(intent.routers.windows(2).all(|w| w[0].vrf < w[1].vrf));
            let held = held(&intent);
            for r in &intent.routers {
                prop_assert!(r.neighbors.windows(2).all(|w| w[0].address <= w[1].address));
                for nb in &r.neighbors {
                    let peer = &f.config.peers[&nb.peer];
                    prop_assert_eq!(peer.vrf.as_ref(), r.vrf.as_ref());
                    prop_assert!(peer.node_selectors.is_empty()
                        || peer.node_selectors.iter().any(|s| s.matches(&n.labels)));
                    prop_assert!(nb.announcements.windows(2).all(|w| w[0].prefix < w[1].prefix));
                    for a in &nb.announcements {
                        let carried = match a.prefix {
                            IpNet::V4(_) => nb.ipv4,
                            IpNet::V6(_) => nb.ipv6,
                        };
                        prop_assert!(carried);
                        prop_assert_eq!(a.prefix, a.prefix.trunc());
                        prop_assert!(!a.services.is_empty());
                        prop_assert!(is_sorted_strictly(&a.services));
                        prop_assert!(!n.excluded_from_lb() && !n.network_unavailable);
                        for k in &a.services {
                            let asg = &f.assignments[k];
                            // The prefix holds (aggregates) an assigned address from the pool;
                            // a host route is exactly such an address.
                            prop_assert!(asg.ips.iter().any(|&ip| a.prefix.contains(&ip)
                                && in_pool(&f, &asg.pool, ip)), "{} {}", a.prefix, k);
                            if a.prefix.prefix_len() == a.prefix.max_prefix_len() {
                                prop_assert!(asg.ips.contains(&a.prefix.addr()));
                            }
                            let eps = f.endpoints.get(k).map_or(&[][..], Vec::as_slice);
                            let ok = if f.services[k].etp_local {
                                eps.iter().any(|e| e.serving && e.node.as_deref() == Some(&name))
                            } else {
                                eps.iter().any(|e| e.serving)
                            };
                            prop_assert!(ok, "{} announced {} without endpoint", name, k);
                            // Never both announced and withheld.
                            let svc = k.to_string();
                            for reason in [PeerNotSelected, AddressFamily, PeerNodeSelector] {
                                prop_assert!(!held.contains(&(svc.clone(), a.prefix, Some(nb.peer.clone()), reason)));
                            }
                            prop_assert!(!held.iter().any(|(s, _, p, _)| s == &svc && p.is_none()));
                        }
                    }
                }
            }
        }
    }
}
