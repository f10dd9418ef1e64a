use crate::core::validate::testing::*;

const ALIAS_DEPENDENTS: Expect = (
    "BGPAdvertisement",
    "adv-a",
    "spec.communities[0]",
    "community alias \"gold\" comes from Community aliases, which is invalid",
);

#[test]
fn communities() {
    run(&[
        Row {
            name: "empty alias name",
            mutate: |s| aliases(s)[1].name.clear(),
            errors: &[
                (
                    "Community",
                    "aliases",
                    "spec.communities[1].name",
                    "must not be empty",
                ),
                ALIAS_DEPENDENTS,
            ],
        },
        Row {
            name: "bad value",
            mutate: |s| aliases(s)[1].value = "65536:1".into(),
            errors: &[
                (
                    "Community",
                    "aliases",
                    "spec.communities[1].value",
                    "not a number in 0-65535",
                ),
                ALIAS_DEPENDENTS,
            ],
        },
        Row {
            name: "alias that reads as a value",
            mutate: |s| aliases(s)[1].name = "65000:5".into(),
            errors: &[
                (
                    "Community",
                    "aliases",
                    "spec.communities[1].name",
                    "reads as a community value",
                ),
                ALIAS_DEPENDENTS,
            ],
        },
        Row {
            name: "alias twice in one object",
            mutate: |s| aliases(s)[1].name = "gold".into(),
            errors: &[
                (
                    "Community",
                    "aliases",
                    "spec.communities[1].name",
                    "defined twice",
                ),
                ALIAS_DEPENDENTS,
            ],
        },
        Row {
            name: "alias defined by an earlier object",
            mutate: |s| {
                add(s, "apiVersion: metallb.io/v1beta1\nkind: Community\nmetadata: {name: more}\nspec: {communities: [{name: gold, value: '1:1'}]}\n")
            },
            errors: &[(
                "Community",
                "more",
                "spec.communities[0].name",
                "already defined by Community metallb-system/aliases",
            )],
        },
        Row {
            name: "unknown alias",
            mutate: |s| adv_spec(s, "adv-a").communities.push("silver".into()),
            errors: &[(
                "BGPAdvertisement",
                "adv-a",
                "spec.communities[2]",
                "neither a known Community alias nor a community value",
            )],
        },
        Row {
            name: "bad literal",
            mutate: |s| adv_spec(s, "adv-a").communities.push("65000:70000".into()),
            errors: &[(
                "BGPAdvertisement",
                "adv-a",
                "spec.communities[2]",
                "\"70000\" is not a number in 0-65535",
            )],
        },
        Row {
            name: "entry twice",
            mutate: |s| adv_spec(s, "adv-a").communities.push("gold".into()),
            errors: &[(
                "BGPAdvertisement",
                "adv-a",
                "spec.communities[2]",
                "listed twice",
            )],
        },
    ]);
}

#[test]
fn communities_resolve() {
    let mut s = baseline();
    adv_spec(&mut s, "adv-a").communities = vec![
        "gold".into(),
        "big".into(),
        "no-export".into(),
        "large:7:8:9".into(),
    ];
    let v = validate(&s);
    assert_eq!(v.errors, vec![]);
    assert_eq!(
        v.config.advertisements["adv-a"].communities,
        BTreeSet::from([
            Community::Standard(65000, 1),
            Community::Standard(65535, 65281),
            Community::Large(1, 2, 3),
            Community::Large(7, 8, 9),
        ])
    );
}
