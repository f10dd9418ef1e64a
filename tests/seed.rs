//! The article's scenario end to end through the pure core: the seed's manifests plus three
//! Nodes and an EndpointSlice with endpoints on two of them.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use ferrule::model::{Community, ServiceKey};
use ferrule::WithholdReason;
use ferrule::{compute, Addresses, Options};

fn seed() -> ferrule::Computed {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/seed");
    let loaded = ferrule::manifests::load_dir(&dir, "metallb-system").expect("examples/seed loads");
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    compute(
        &loaded.snapshot,
        &Options::default(),
        Addresses::Allocate,
        &BTreeMap::new(),
    )
}

#[test]
fn web_gets_an_address_from_the_pool() {
    let computed = seed();
    assert!(computed.errors.is_empty(), "{:?}", computed.errors);
    let web = &computed.allocation.assigned[&ServiceKey::new("default", "web")];
    assert_eq!(web.pool, "prod-pool");
    assert_eq!(web.ips.len(), 1);
    let net: ipnet::IpNet = "203.0.113.0/24".parse().unwrap();
    assert!(net.contains(&web.ips[0]), "{} not in {net}", web.ips[0]);
}

#[test]
fn endpoint_nodes_announce_to_both_tors_and_the_third_says_why_not() {
    let computed = seed();
    let web = ServiceKey::new("default", "web");
    let ip: IpAddr = computed.allocation.assigned[&web].ips[0];
    let host: ipnet::IpNet = ipnet::IpNet::new(ip, 32).unwrap();
    for node in ["node-21", "node-22"] {
        let intent = computed.node_intent(node);
        assert_eq!(intent.routers.len(), 1, "{node}");
        let router = &intent.routers[0];
        assert_eq!(router.asn, 65100);
        let peers: Vec<&str> = router.neighbors.iter().map(|n| n.peer.as_str()).collect();
        assert_eq!(peers, ["tor1", "tor2"], "{node}");
        for n in &router.neighbors {
            assert_eq!(n.announcements.len(), 1, "{node} -> {}", n.peer);
            let a = &n.announcements[0];
            assert_eq!(a.prefix, host);
            assert_eq!(
                a.communities.iter().copied().collect::<Vec<_>>(),
                [Community::Standard(65000, 100)]
            );
            assert_eq!(a.local_pref, Some(100));
            assert_eq!(a.services, std::slice::from_ref(&web));
        }
        // tor1 is redefined by 05-bfd.yaml with the BFD profile (later document wins).
        assert_eq!(router.neighbors[0].bfd_profile.as_deref(), Some("tor-bfd"));
        assert!(intent.withheld.is_empty(), "{node}: {:?}", intent.withheld);
    }
    let third = computed.node_intent("node-23");
    // node-23 still peers with both ToRs; it just has nothing to announce.
    assert_eq!(third.routers[0].neighbors.len(), 2);
    assert!(third.routers[0]
        .neighbors
        .iter()
        .all(|n| n.announcements.is_empty()));
    assert_eq!(third.withheld.len(), 1);
    assert_eq!(third.withheld[0].service, web);
    assert_eq!(third.withheld[0].prefix, host);
    assert_eq!(third.withheld[0].reason, WithholdReason::NoLocalEndpoint);
    assert!(third.withheld[0]
        .reason
        .to_string()
        .contains("no serving endpoint runs on this node"));
}
