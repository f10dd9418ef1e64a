use super::*;
use crate::core::validate::testing::*;

#[test]
fn pools() {
    run(&[
        Row {
            name: "no addresses",
            mutate: |s| pool_spec(s, "pool-a").addresses.clear(),
            errors: &[("IPAddressPool", "pool-a", "spec.addresses", "at least one address range is required")],
            warnings: &[("BGPAdvertisement", "adv-a", "spec.ipAddressPools[0]", "IPAddressPool pool-a is invalid (see its own conditions); skipped")],
        },
        Row {
            name: "host bits: masked off, as MetalLB does, with a warning",
            mutate: |s| pool_spec(s, "pool-a").addresses = vec!["203.0.113.5/25".into()],
            errors: &[],
            warnings: &[("IPAddressPool", "pool-a", "spec.addresses[0]", "203.0.113.5/25 has host bits set; used as 203.0.113.0/25, as MetalLB does")],
        },
        Row {
            name: "prefix too long",
            mutate: |s| pool_spec(s, "pool-b").addresses[1] = "2001:db8::/129".into(),
            errors: &[],
            warnings: &[("IPAddressPool", "pool-b", "spec.addresses[1]", "not a valid CIDR or range; this entry is left out")],
        },
        Row {
            name: "single address",
            mutate: |s| pool_spec(s, "pool-b").addresses.push("192.0.2.7".into()),
            errors: &[],
            warnings: &[("IPAddressPool", "pool-b", "spec.addresses[2]", "write it as a CIDR (192.0.2.7/32); this entry is left out")],
        },
        Row {
            name: "garbage: that entry is left out, the pool keeps the others",
            mutate: |s| pool_spec(s, "pool-b").addresses.push("banana".into()),
            errors: &[],
            warnings: &[("IPAddressPool", "pool-b", "spec.addresses[2]", "neither a CIDR")],
        },
        Row {
            name: "range reversed",
            mutate: |s| pool_spec(s, "pool-b").addresses[0] = "203.0.113.200-203.0.113.128".into(),
            errors: &[],
            warnings: &[("IPAddressPool", "pool-b", "spec.addresses[0]", "is after end")],
        },
        Row {
            name: "range of mixed families",
            mutate: |s| pool_spec(s, "pool-b").addresses[0] = "203.0.113.128-2001:db8:1::1".into(),
            errors: &[],
            warnings: &[("IPAddressPool", "pool-b", "spec.addresses[0]", "different IP families")],
        },
        Row {
            name: "range with bad end",
            mutate: |s| pool_spec(s, "pool-b").addresses[0] = "203.0.113.128-203.0.113.300".into(),
            errors: &[],
            warnings: &[("IPAddressPool", "pool-b", "spec.addresses[0]", "end \"203.0.113.300\" is not an IP")],
        },
        Row {
            name: "whitespace around the dash is fine",
            mutate: |s| {
                pool_spec(s, "pool-b").addresses[0] = "203.0.113.128 - 203.0.113.200".into()
            },
            errors: &[],
            warnings: &[],
        },
        Row {
            name: "overlap inside the pool",
            mutate: |s| {
                pool_spec(s, "pool-a")
                    .addresses
                    .push("203.0.113.10-203.0.113.12".into())
            },
            errors: &[],
            warnings: &[("IPAddressPool", "pool-a", "spec.addresses[1]", "overlaps spec.addresses[0] (203.0.113.0/25); this entry is left out")],
        },
        Row {
            name: "an entry overlapping an older pool: the newcomer loses",
            mutate: |s| {
                pool_spec(s, "pool-b")
                    .addresses
                    .push("203.0.113.64/26".into())
            },
            errors: &[("IPAddressPool", "pool-b", "spec.addresses[2]", "203.0.113.64/26 overlaps 203.0.113.0/25 of the older IPAddressPool pool-a, which keeps its addresses")],
            warnings: &[],
        },
        Row {
            name: "the newcomer loses, even when its name sorts first",
            mutate: |s| {
                add(s, "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: pool-0}\nspec: {addresses: [203.0.113.100-203.0.113.101]}\n");
                newcomer(s, "IPAddressPool", "pool-0");
            },
            errors: &[("IPAddressPool", "pool-0", "spec.addresses[0]", "203.0.113.100-203.0.113.101 overlaps 203.0.113.0/25 of the older IPAddressPool pool-a")],
            warnings: &[],
        },
        Row {
            name: "IPv6 overlap across pools",
            mutate: |s| pool_spec(s, "pool-a").addresses.push("::/0".into()),
            errors: &[("IPAddressPool", "pool-b", "spec.addresses[1]", "of the older IPAddressPool pool-a")],
            warnings: &[],
        },
        Row {
            name: "a bad entry does not overlap anything",
            mutate: |s| {
                add(s, "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: pool-c}\nspec: {addresses: [nonsense, 0.0.0.0/0]}\n")
            },
            errors: &[("IPAddressPool", "pool-c", "spec.addresses[1]", "0.0.0.0/0 overlaps 203.0.113.0/25 of the older IPAddressPool pool-a")],
            warnings: &[("IPAddressPool", "pool-c", "spec.addresses[0]", "neither a CIDR")],
        },
        Row {
            name: "negative priority",
            mutate: |s| {
                pool_spec(s, "pool-b")
                    .service_allocation
                    .as_mut()
                    .unwrap()
                    .priority = Some(-1)
            },
            errors: &[(
                "IPAddressPool",
                "pool-b",
                "spec.serviceAllocation.priority",
                "negative",
            )],
            warnings: &[],
        },
        Row {
            name: "bad namespace",
            mutate: |s| {
                pool_spec(s, "pool-b")
                    .service_allocation
                    .as_mut()
                    .unwrap()
                    .namespaces
                    .push("Web!".into())
            },
            errors: &[(
                "IPAddressPool",
                "pool-b",
                "spec.serviceAllocation.namespaces[1]",
                "not a valid namespace name",
            )],
            warnings: &[],
        },
        Row {
            name: "namespace twice",
            mutate: |s| {
                pool_spec(s, "pool-b")
                    .service_allocation
                    .as_mut()
                    .unwrap()
                    .namespaces
                    .push("web".into())
            },
            errors: &[],
            warnings: &[("IPAddressPool", "pool-b", "spec.serviceAllocation.namespaces[1]", "listed twice; the repeat is ignored")],
        },
    ]);
}

#[test]
fn pool_addresses_parse() {
    let r = |a: &str, b: &str| IpRange {
        first: a.parse().unwrap(),
        last: b.parse().unwrap(),
    };
    let cases: &[(&str, IpRange, bool)] = &[
        ("203.0.113.0/24", r("203.0.113.0", "203.0.113.255"), true),
        ("203.0.113.7/32", r("203.0.113.7", "203.0.113.7"), true),
        (" 203.0.113.0/31 ", r("203.0.113.0", "203.0.113.1"), true),
        ("2001:db8::/126", r("2001:db8::", "2001:db8::3"), true),
        (
            "203.0.113.10-203.0.113.20",
            r("203.0.113.10", "203.0.113.20"),
            false,
        ),
        (
            "203.0.113.10 -203.0.113.10",
            r("203.0.113.10", "203.0.113.10"),
            false,
        ),
        (
            "2001:db8::1 - 2001:db8::ff",
            r("2001:db8::1", "2001:db8::ff"),
            false,
        ),
    ];
    for (input, want, is_cidr) in cases {
        let e = parse_pool_address(input).expect(input);
        assert_eq!(e.range, *want, "{input}");
        assert_eq!(e.cidr.is_some(), *is_cidr, "{input}");
    }
    // Host bits are masked off, as MetalLB does, and said.
    let e = parse_pool_address("203.0.113.40/24").unwrap();
    assert_eq!(e.range, r("203.0.113.0", "203.0.113.255"));
    assert_eq!(e.masked, Some("203.0.113.0/24".parse().unwrap()));
    assert_eq!(parse_pool_address("203.0.113.0/24").unwrap().masked, None);
    // Whole address spaces of different families never overlap.
    let v4 = parse_pool_address("0.0.0.0/0").unwrap().range;
    let v6 = parse_pool_address("::/0").unwrap().range;
    assert!(!overlaps(&v4, &v6) && !overlaps(&v6, &v4) && overlaps(&v6, &v6));
}

#[test]
fn largest_block_inside_a_range() {
    let cases: &[(&str, &str, u8)] = &[
        ("203.0.113.0", "203.0.113.255", 24),
        ("203.0.113.1", "203.0.113.254", 26),
        ("203.0.113.128", "203.0.113.200", 26),
        ("203.0.113.7", "203.0.113.7", 32),
        ("203.0.113.6", "203.0.113.7", 31),
        ("203.0.113.7", "203.0.113.8", 32),
        ("0.0.0.0", "255.255.255.255", 0),
        ("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0),
        ("2001:db8::", "2001:db8::ffff", 112),
        ("2001:db8::1", "2001:db8::2", 128),
    ];
    for (a, b, want) in cases {
        let range = IpRange {
            first: a.parse().unwrap(),
            last: b.parse().unwrap(),
        };
        assert_eq!(min_prefix_len(&range), *want, "{a}-{b}");
    }
}
