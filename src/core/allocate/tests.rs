use super::addresses::{buggy_count, buggy_u128};
use super::*;

fn range(a: &str, b: &str) -> IpRange {
    IpRange {
        first: a.parse().unwrap(),
        last: b.parse().unwrap(),
    }
}

fn pool(ranges: Vec<IpRange>, avoid: bool) -> Pool {
    Pool {
        name: "p".into(),
        labels: Labels::new(),
        ranges,
        cidrs: vec![],
        auto_assign: true,
        avoid_buggy_ips: avoid,
        allocation: None,
    }
}

/// Brute force over a small range, to check the closed form.
fn buggy_brute(first: u128, last: u128) -> u128 {
    (first..=last).filter(|v| buggy_u128(*v)).count() as u128
}

#[test]
fn buggy_count_matches_brute_force() {
    for (first, last) in [
        (0, 0),
        (0, 255),
        (1, 254),
        (255, 256),
        (10, 1000),
        (256, 511),
        (300, 300),
        (255, 255),
    ] {
        assert_eq!(
            buggy_count(first, last),
            buggy_brute(first, last),
            "{first}..={last}"
        );
    }
}

#[test]
fn capacity_counts_families_and_buggy_addresses() {
    let cases: Vec<(&str, Pool, (u128, u128))> = vec![
        (
            "/24 plain",
            pool(vec![range("10.0.0.0", "10.0.0.255")], false),
            (256, 0),
        ),
        (
            "/24 avoid",
            pool(vec![range("10.0.0.0", "10.0.0.255")], true),
            (254, 0),
        ),
        (
            "/16 avoid",
            pool(vec![range("10.1.0.0", "10.1.255.255")], true),
            (65536 - 512, 0),
        ),
        (
            "small range avoid",
            pool(vec![range("10.0.0.250", "10.0.1.2")], true),
            (7, 0),
        ),
        (
            "v6 /120 avoid does not apply",
            pool(vec![range("2001:db8::", "2001:db8::ff")], true),
            (0, 256),
        ),
        (
            "whole v6 space saturates",
            pool(
                vec![range("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")],
                false,
            ),
            (0, u128::MAX),
        ),
        (
            "mixed-family range ignored",
            pool(vec![range("10.0.0.1", "2001:db8::1")], false),
            (0, 0),
        ),
    ];
    for (name, p, want) in cases {
        assert_eq!(capacity(&p), want, "{name}");
    }
}

#[test]
fn lowest_free_walks_gaps_and_skips_buggy() {
    let r = range("10.0.0.254", "10.0.1.3");
    let mut holders = BTreeMap::new();
    let mut cursors = HashMap::new();
    let mut got = vec![];
    while let Some(ip) = lowest_free(&holders, &mut cursors, &r, true) {
        got.push(ip.to_string());
        holders.insert(
            ip,
            Holder {
                sharing: String::new(),
                backend: String::new(),
                ports: BTreeMap::new(),
                services: BTreeSet::new(),
            },
        );
    }
    assert_eq!(got, ["10.0.0.254", "10.0.1.1", "10.0.1.2", "10.0.1.3"]);
    assert_eq!(
        cursors.get(&(r, true)),
        Some(&None),
        "range marked exhausted"
    );
}

#[test]
fn lowest_free_reaches_the_last_ipv6_address_without_overflow() {
    let r = range(
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    );
    let mut holders = BTreeMap::new();
    let mut cursors = HashMap::new();
    let mut n = 0;
    while let Some(ip) = lowest_free(&holders, &mut cursors, &r, false) {
        n += 1;
        holders.insert(
            ip,
            Holder {
                sharing: String::new(),
                backend: String::new(),
                ports: BTreeMap::new(),
                services: BTreeSet::new(),
            },
        );
    }
    assert_eq!(n, 2);
}

#[test]
fn need_fits_shapes() {
    let v4: IpAddr = "10.0.0.1".parse().unwrap();
    let v4b: IpAddr = "10.0.0.2".parse().unwrap();
    let v6: IpAddr = "2001:db8::1".parse().unwrap();
    let one4 = FamilyNeed::One(IpFamily::V4);
    let req = FamilyNeed::Both {
        primary: IpFamily::V6,
        required: true,
    };
    let pref = FamilyNeed::Both {
        primary: IpFamily::V4,
        required: false,
    };
    let cases: Vec<(FamilyNeed, Vec<IpAddr>, bool)> = vec![
        (one4, vec![v4], true),
        (one4, vec![v6], false),
        (one4, vec![v4, v6], false),
        (one4, vec![], false),
        (req, vec![v4, v6], true),
        (req, vec![v6], false),
        (req, vec![v4, v4b], false),
        (pref, vec![v6], true),
        (pref, vec![v4, v6], true),
        (pref, vec![v4, v4b], false),
    ];
    for (need, ips, want) in cases {
        assert_eq!(need.fits(&ips), want, "{need:?} {ips:?}");
    }
}
