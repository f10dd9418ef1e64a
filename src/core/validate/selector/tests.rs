use super::*;
use crate::core::validate::testing::*;

#[test]
fn label_selectors() {
    run(&[
        Row {
            name: "In without values",
            mutate: |s| {
                pool_spec(s, "pool-b")
                    .service_allocation
                    .as_mut()
                    .unwrap()
                    .service_selectors = vec![sel("matchExpressions: [{key: app, operator: In}]")]
            },
            errors: &[(
                "IPAddressPool",
                "pool-b",
                "spec.serviceAllocation.serviceSelectors[0].matchExpressions[0].values",
                "operator In needs at least one value",
            )],
            warnings: &[],
        },
        Row {
            name: "NotIn with empty values",
            mutate: |s| {
                pool_spec(s, "pool-b")
                    .service_allocation
                    .as_mut()
                    .unwrap()
                    .namespace_selectors = vec![sel(
                    "matchExpressions: [{key: app, operator: NotIn, values: []}]",
                )]
            },
            errors: &[(
                "IPAddressPool",
                "pool-b",
                "spec.serviceAllocation.namespaceSelectors[0].matchExpressions[0].values",
                "operator NotIn needs at least one value",
            )],
            warnings: &[],
        },
        Row {
            name: "Exists with values",
            mutate: |s| {
                peer_spec(s, "peer-a").node_selectors = vec![sel(
                    "matchExpressions: [{key: rack, operator: Exists, values: [r1]}]",
                )]
            },
            errors: &[(
                "BGPPeer",
                "peer-a",
                "spec.nodeSelectors[0].matchExpressions[0].values",
                "operator Exists takes no values",
            )],
            warnings: &[PEER_A_DEPENDENTS],
        },
        Row {
            name: "unknown operator",
            mutate: |s| {
                adv_spec(s, "adv-b").node_selectors = vec![sel(
                    "matchExpressions: [{key: rack, operator: Gt, values: ['1']}]",
                )]
            },
            errors: &[(
                "BGPAdvertisement",
                "adv-b",
                "spec.nodeSelectors[0].matchExpressions[0].operator",
                "unknown operator \"Gt\"",
            )],
            warnings: &[],
        },
        Row {
            name: "invalid key",
            mutate: |s| {
                adv_spec(s, "adv-b").service_selectors = vec![sel("matchLabels: {'bad key': x}")]
            },
            errors: &[(
                "BGPAdvertisement",
                "adv-b",
                "spec.serviceSelectors[0].matchLabels",
                "invalid label key \"bad key\"",
            )],
            warnings: &[],
        },
        Row {
            name: "invalid value",
            mutate: |s| {
                adv_spec(s, "adv-b").ip_address_pool_selectors =
                    vec![sel("matchLabels: {tier: '-b'}")]
            },
            errors: &[(
                "BGPAdvertisement",
                "adv-b",
                "spec.ipAddressPoolSelectors[0].matchLabels",
                "invalid label value \"-b\"",
            )],
            warnings: &[],
        },
        Row {
            name: "same selector twice",
            mutate: |s| {
                adv_spec(s, "adv-b")
                    .node_selectors
                    .push(sel("matchLabels: {zone: z1}"))
            },
            errors: &[(
                "BGPAdvertisement",
                "adv-b",
                "spec.nodeSelectors[1]",
                "listed twice",
            )],
            warnings: &[],
        },
        Row {
            name: "prefixed keys and DoesNotExist are fine",
            mutate: |s| {
                adv_spec(s, "adv-b").node_selectors = vec![sel(
                    "matchExpressions: [{key: example.com/role, operator: DoesNotExist}]",
                )]
            },
            errors: &[],
            warnings: &[],
        },
    ]);
}

#[test]
fn compiled_selectors_match_like_kubernetes() {
    let s = compile_selector(&sel(
        "matchLabels: {a: '1'}\nmatchExpressions:\n- {key: b, operator: In, values: ['2', '3']}\n- {key: c, operator: NotIn, values: ['4']}\n- {key: d, operator: Exists}\n- {key: e, operator: DoesNotExist}",
    ))
    .unwrap();
    let labels = |kv: &[(&str, &str)]| -> crate::core::model::Labels {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let cases: &[(&[(&str, &str)], bool)] = &[
        (&[("a", "1"), ("b", "3"), ("d", "")], true),
        (&[("a", "1"), ("b", "3"), ("c", "5"), ("d", "x")], true),
        (&[("a", "2"), ("b", "3"), ("d", "")], false),
        (&[("a", "1"), ("b", "4"), ("d", "")], false),
        (&[("a", "1"), ("b", "2"), ("c", "4"), ("d", "")], false),
        (&[("a", "1"), ("b", "2")], false),
        (&[("a", "1"), ("b", "2"), ("d", ""), ("e", "")], false),
    ];
    for (kv, want) in cases {
        assert_eq!(s.matches(&labels(kv)), *want, "{kv:?}");
    }
    assert_eq!(
        compile_selector(&LabelSelector::default()),
        Ok(Selector::default())
    );
}
