use crate::core::validate::testing::*;

/// What adv-a, which uses the alias `gold`, gets when that alias is bad.
const ALIAS_DEPENDENTS: Expect = (
    "BGPAdvertisement",
    "adv-a",
    "spec.communities[0]",
    "community alias \"gold\" of Community aliases is invalid; announced without it",
);

#[test]
fn communities() {
    run(&[
        Row {
            name: "empty alias name: that alias is left out, the others stay",
            mutate: |s| aliases(s)[1].name.clear(),
            errors: &[],
            warnings: &[("Community", "aliases", "spec.communities[1].name", "must not be empty; this alias is left out")],
        },
        Row {
            name: "bad value",
            mutate: |s| aliases(s)[1].value = "65536:1".into(),
            errors: &[],
            warnings: &[("Community", "aliases", "spec.communities[1].value", "not a number in 0-65535; this alias is left out")],
        },
        Row {
            name: "alias that reads as a value",
            mutate: |s| aliases(s)[1].name = "65000:5".into(),
            errors: &[],
            warnings: &[("Community", "aliases", "spec.communities[1].name", "reads as a community value")],
        },
        Row {
            name: "a well-known name defined as its own value, as MetalLB users must",
            mutate: |s| {
                aliases(s).push(api::CommunityAlias {
                    name: "no-export".into(),
                    value: "65535:65281".into(),
                })
            },
            errors: &[],
            warnings: &[],
        },
        Row {
            name: "alias twice in one object",
            mutate: |s| aliases(s)[1].name = "gold".into(),
            errors: &[],
            warnings: &[("Community", "aliases", "spec.communities[1].name", "defined twice")],
        },
        Row {
            name: "alias defined by an older object: the newcomer loses it",
            mutate: |s| {
                add(s, "apiVersion: metallb.io/v1beta1\nkind: Community\nmetadata: {name: more}\nspec: {communities: [{name: gold, value: '1:1'}]}\n")
            },
            errors: &[("Community", "more", "spec.communities[0].name", "already defined by the older Community metallb-system/aliases, which keeps it")],
            warnings: &[],
        },
        Row {
            name: "the alias in use is bad: the advertisement goes on without it",
            mutate: |s| aliases(s)[0].value = "65536:1".into(),
            errors: &[],
            warnings: &[
                (
                    "Community",
                    "aliases",
                    "spec.communities[0].value",
                    "not a number in 0-65535; this alias is left out",
                ),
                ALIAS_DEPENDENTS,
            ],
        },
        Row {
            name: "every alias bad: the object is invalid",
            mutate: |s| {
                aliases(s)[0].value = "x".into();
                aliases(s)[1].value = "y".into();
            },
            errors: &[
                ("Community", "aliases", "spec.communities[0].value", "invalid community"),
                ("Community", "aliases", "spec.communities[1].value", "invalid community"),
            ],
            warnings: &[ALIAS_DEPENDENTS],
        },
        Row {
            name: "unknown alias: announced without it",
            mutate: |s| adv_spec(s, "adv-a").communities.push("silver".into()),
            errors: &[],
            warnings: &[("BGPAdvertisement", "adv-a", "spec.communities[2]", "neither a Community alias that exists nor a community value (AA:NN, large:A:B:C); announced without it")],
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
            warnings: &[],
        },
        Row {
            name: "entry twice",
            mutate: |s| adv_spec(s, "adv-a").communities.push("gold".into()),
            errors: &[],
            warnings: &[("BGPAdvertisement", "adv-a", "spec.communities[2]", "listed twice; the repeat is ignored")],
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
    let v = check(&s);
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
