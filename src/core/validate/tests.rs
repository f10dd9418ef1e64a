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
        },
        Row {
            name: "leading dash",
            mutate: |s| {
                add(s, "apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {name: -slow}\nspec: {}\n")
            },
            errors: &[("BFDProfile", "-slow", "metadata.name", "not a valid name")],
        },
        Row {
            name: "dots are fine",
            mutate: |s| {
                add(s, "apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {name: slow.v2}\nspec: {}\n")
            },
            errors: &[],
        },
    ]);
    // Longer than 253 characters (not expressible as a static row).
    let mut s = baseline();
    let long = "a".repeat(254);
    find(&mut s.bfd_profiles, "fast").metadata.name = Some(long.clone());
    let v = validate(&s);
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
    let v = validate(&s);
    assert_eq!(v.errors, vec![]);
    assert!(!v.config.peers.contains_key("peer-b"));
    assert!(!v.config.pools.contains_key("Elsewhere"));
}

#[test]
fn converts_the_baseline() {
    let v = validate(&baseline());
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
    assert!(adv.peers.is_empty() && adv.local_pref.is_none());
}

#[test]
fn deterministic() {
    let mut s = baseline();
    peer_spec(&mut s, "peer-a").hold_time = some("1s");
    pool_spec(&mut s, "pool-b").addresses.push("x".into());
    let a = validate(&s);
    s.pools.reverse();
    s.peers.reverse();
    s.advertisements.reverse();
    s.nodes.reverse();
    let b = validate(&s);
    assert_eq!(a, b);
    assert_eq!(
        serde_json::to_string(&a.config).unwrap(),
        serde_json::to_string(&b.config).unwrap()
    );
}
