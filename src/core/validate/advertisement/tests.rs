use super::*;
use crate::core::validate::testing::*;

#[test]
fn advertisements() {
    run(&[
        Row {
            name: "aggregationLength above 32",
            mutate: |s| adv_spec(s, "adv-a").aggregation_length = Some(33),
            errors: &[(
                "BGPAdvertisement",
                "adv-a",
                "spec.aggregationLength",
                "33 is out of range 0-32",
            )],
            warnings: &[],
        },
        Row {
            name: "aggregationLength negative",
            mutate: |s| adv_spec(s, "adv-a").aggregation_length = Some(-1),
            errors: &[(
                "BGPAdvertisement",
                "adv-a",
                "spec.aggregationLength",
                "out of range 0-32",
            )],
            warnings: &[],
        },
        Row {
            name: "aggregationLengthV6 above 128",
            mutate: |s| adv_spec(s, "adv-a").aggregation_length_v6 = Some(129),
            errors: &[(
                "BGPAdvertisement",
                "adv-a",
                "spec.aggregationLengthV6",
                "out of range 0-128",
            )],
            warnings: &[],
        },
        Row {
            name: "aggregation shorter than the pool's CIDR: that pool is left out of the advertisement",
            mutate: |s| adv_spec(s, "adv-a").aggregation_length = Some(24),
            errors: &[],
            warnings: &[("BGPAdvertisement", "adv-a", "spec.aggregationLength", "24 is shorter than /25 of 203.0.113.0/25 in IPAddressPool pool-a: the aggregate would announce addresses outside the pool, so this advertisement does not announce that pool")],
        },
        Row {
            name: "aggregation equal to the pool's CIDR is fine",
            mutate: |s| adv_spec(s, "adv-a").aggregation_length = Some(25),
            errors: &[],
            warnings: &[],
        },
        Row {
            name: "aggregation against a range: its largest block is a /26",
            mutate: |s| adv_spec(s, "adv-b").aggregation_length = Some(25),
            errors: &[],
            warnings: &[("BGPAdvertisement", "adv-b", "spec.aggregationLength", "25 is shorter than /26 of 203.0.113.128-203.0.113.200 in IPAddressPool pool-b")],
        },
        Row {
            name: "aggregation /26 over that range is fine",
            mutate: |s| adv_spec(s, "adv-b").aggregation_length = Some(26),
            errors: &[],
            warnings: &[],
        },
        Row {
            name: "IPv6 aggregation",
            mutate: |s| adv_spec(s, "adv-b").aggregation_length_v6 = Some(63),
            errors: &[],
            warnings: &[("BGPAdvertisement", "adv-b", "spec.aggregationLengthV6", "63 is shorter than /64 of 2001:db8::/64")],
        },
        Row {
            name: "aggregation with serviceSelectors",
            mutate: |s| {
                adv_spec(s, "adv-a").aggregation_length = Some(30);
                adv_spec(s, "adv-a").service_selectors = vec![sel("matchLabels: {app: web}")];
            },
            errors: &[(
                "BGPAdvertisement",
                "adv-a",
                "spec.aggregationLength",
                "cannot be combined with serviceSelectors",
            )],
            warnings: &[],
        },
        Row {
            name: "unknown pool: skipped, the rest of the advertisement stays",
            mutate: |s| adv_spec(s, "adv-a").ip_address_pools.push("nope".into()),
            errors: &[],
            warnings: &[("BGPAdvertisement", "adv-a", "spec.ipAddressPools[1]", "IPAddressPool nope does not exist; skipped")],
        },
        Row {
            name: "pool twice",
            mutate: |s| adv_spec(s, "adv-a").ip_address_pools.push("pool-a".into()),
            errors: &[],
            warnings: &[("BGPAdvertisement", "adv-a", "spec.ipAddressPools[1]", "listed twice; the repeat is ignored")],
        },
        Row {
            name: "a selected pool that is invalid does not break the advertisement",
            mutate: |s| pool_spec(s, "pool-b").addresses = vec!["nonsense".into()],
            errors: &[("IPAddressPool", "pool-b", "spec.addresses[0]", "neither a CIDR")],
            warnings: &[],
        },
        Row {
            name: "unknown peer: skipped, the rest of the advertisement stays",
            mutate: |s| adv_spec(s, "adv-a").peers.push("peer-z".into()),
            errors: &[],
            warnings: &[("BGPAdvertisement", "adv-a", "spec.peers[1]", "BGPPeer peer-z does not exist; nothing is announced to it")],
        },
        Row {
            name: "peer twice",
            mutate: |s| adv_spec(s, "adv-a").peers.push("peer-a".into()),
            errors: &[],
            warnings: &[("BGPAdvertisement", "adv-a", "spec.peers[1]", "listed twice; the repeat is ignored")],
        },
    ]);
}

#[test]
fn advertisement_pool_coverage() {
    let mut s = baseline();
    let names = |v: &Validated, a: &str| {
        v.config.advertisements[a]
            .pools
            .iter()
            .cloned()
            .collect::<Vec<_>>()
    };
    let v = check(&s);
    assert_eq!(names(&v, "adv-a"), ["pool-a"]);
    assert_eq!(names(&v, "adv-b"), ["pool-b"]);
    // Neither names nor selectors: every (valid) pool, as in MetalLB. (adv-b then also
    // covers adv-a's pool on node-a: it must not ask for another localPref.)
    adv_spec(&mut s, "adv-b").ip_address_pool_selectors.clear();
    adv_spec(&mut s, "adv-b").local_pref = Some(100);
    let v = check(&s);
    assert_eq!(names(&v, "adv-b"), ["pool-a", "pool-b"]);
    // Names and selectors together: the union.
    adv_spec(&mut s, "adv-a").ip_address_pool_selectors = vec![sel("matchLabels: {tier: b}")];
    let v = check(&s);
    assert_eq!(names(&v, "adv-a"), ["pool-a", "pool-b"]);
    assert_eq!(
        v.config.advertisements["adv-a"].peers,
        Some(BTreeSet::from(["peer-a".to_string()]))
    );
}

/// Adds adv-c for pool-a with localPref 200 to every peer on every node, then applies
/// `tweak`.
fn adv_c(s: &mut Snapshot, tweak: &str) {
    add(
        s,
        &format!("apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {{name: adv-c}}\nspec:\n  ipAddressPools: [pool-a]\n{}{tweak}", if tweak.contains("localPref") { "" } else { "  localPref: 200\n" }),
    );
}

#[test]
fn local_pref() {
    run(&[
        Row {
            name: "conflicting localPref for the same pool",
            mutate: |s| adv_c(s, ""),
            errors: &[("BGPAdvertisement", "adv-c", "spec.localPref", "localPref 200 conflicts with localPref 100 of the older BGPAdvertisement adv-a for IPAddressPool pool-a")],
            warnings: &[],
        },
        Row {
            name: "the newcomer loses, even when its name sorts first",
            mutate: |s| {
                adv_c(s, "");
                find(&mut s.advertisements, "adv-c").metadata.name = some("adv-0");
                newcomer(s, "BGPAdvertisement", "adv-0");
            },
            errors: &[("BGPAdvertisement", "adv-0", "spec.localPref", "conflicts with localPref 100 of the older BGPAdvertisement adv-a")],
            warnings: &[],
        },
        Row {
            name: "same value",
            mutate: |s| adv_c(s, "  localPref: 100\n"),
            errors: &[],
            warnings: &[],
        },
        Row {
            name: "only one sets it: unset counts as 0, as in MetalLB",
            mutate: |s| {
                adv_c(s, "");
                adv_spec(s, "adv-a").local_pref = None;
            },
            errors: &[("BGPAdvertisement", "adv-c", "spec.localPref", "localPref 200 conflicts with localPref 0 of the older BGPAdvertisement adv-a")],
            warnings: &[],
        },
        Row {
            name: "different aggregation, different prefixes",
            mutate: |s| adv_c(s, "  aggregationLength: 25\n"),
            errors: &[],
            warnings: &[],
        },
        Row {
            name: "disjoint peers",
            mutate: |s| adv_c(s, "  peers: [peer-b]\n"),
            errors: &[],
            warnings: &[],
        },
        Row {
            name: "disjoint nodes",
            mutate: |s| {
                adv_c(s, "  nodeSelectors: [{matchLabels: {rack: r2}}]\n");
                adv_spec(s, "adv-a").node_selectors = vec![sel("matchLabels: {rack: r1}")];
            },
            errors: &[],
            warnings: &[],
        },
        Row {
            name: "overlapping nodes",
            mutate: |s| {
                adv_c(s, "  nodeSelectors: [{matchLabels: {zone: z1}}]\n");
                adv_spec(s, "adv-a").node_selectors = vec![sel("matchLabels: {rack: r1}")];
            },
            errors: &[("BGPAdvertisement", "adv-c", "spec.localPref", "node node-a is selected by both")],
            warnings: &[],
        },
        Row {
            name: "serviceSelectors are exempt, as in MetalLB",
            mutate: |s| adv_c(s, "  serviceSelectors: [{matchLabels: {app: web}}]\n"),
            errors: &[],
            warnings: &[],
        },
        Row {
            name: "dual-stack pool: equal prefixes in one family are enough to conflict",
            mutate: |s| {
                add(s, "apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {name: adv-c}\nspec:\n  ipAddressPools: [pool-b]\n  localPref: 200\n  aggregationLengthV6: 64\n");
            },
            errors: &[("BGPAdvertisement", "adv-c", "spec.localPref", "localPref 200 conflicts with localPref 0 of the older BGPAdvertisement adv-b for IPAddressPool pool-b")],
            warnings: &[],
        },
        Row {
            name: "dual-stack pool: different prefixes in both families do not conflict",
            mutate: |s| {
                add(s, "apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {name: adv-c}\nspec:\n  ipAddressPools: [pool-b]\n  localPref: 200\n  aggregationLength: 26\n  aggregationLengthV6: 64\n");
            },
            errors: &[],
            warnings: &[],
        },
    ]);
}
