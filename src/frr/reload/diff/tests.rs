use super::*;
use crate::frr::reload::config::parse;

const BASE: &str = "\
bgp route-map delay-timer 0
router bgp 65100
 bgp router-id 192.0.2.21
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor 192.0.2.1 remote-as 65000
 neighbor 192.0.2.1 timers 3 9
 neighbor 192.0.2.1 bfd
 neighbor 192.0.2.1 bfd profile fast
 address-family ipv4 unicast
  network 203.0.113.5/32
  network 203.0.113.6/32
  neighbor 192.0.2.1 activate
  neighbor 192.0.2.1 route-map out1 out
 exit-address-family
exit
ip prefix-list pl1 seq 5 permit 203.0.113.5/32
ip prefix-list pl1 seq 10 permit 203.0.113.6/32
ip prefix-list pl2 seq 5 permit 203.0.113.99/32
route-map out1 permit 1
 match ip address prefix-list pl1
 set community 64512:1
exit
route-map out1 permit 2
 match ip address prefix-list pl2
exit
bfd
 profile fast
  receive-interval 100
 exit
exit
";

fn batch(desired: &str, running: &str) -> Batch {
    diff(&parse(desired), &parse(running))
}

#[test]
fn identical_configs_give_an_empty_batch() {
    let b = batch(BASE, BASE);
    assert!(b.is_empty(), "{b:?}");
    assert_eq!(b.changes, 0);
}

#[test]
fn table_of_changes() {
    // (name, desired = BASE with edits, expected config commands, expected exec)
    let cases: &[(&str, String, &[&str], &[&str])] = &[
        (
            "add one network and its prefix-list entry",
            BASE.replace("  network 203.0.113.6/32\n", "  network 203.0.113.6/32\n  network 203.0.113.7/32\n")
                .replace("ip prefix-list pl2", "ip prefix-list pl1 seq 15 permit 203.0.113.7/32\nip prefix-list pl2"),
            &[
                "ip prefix-list pl1 seq 15 permit 203.0.113.7/32",
                "router bgp 65100",
                "address-family ipv4 unicast",
                "network 203.0.113.7/32",
            ],
            &["clear bgp ipv4 unicast 192.0.2.1 soft out"],
        ),
        (
            "withdraw one network and its prefix-list entry",
            BASE.replace("  network 203.0.113.6/32\n", "")
                .replace("ip prefix-list pl1 seq 10 permit 203.0.113.6/32\n", ""),
            &[
                "router bgp 65100",
                "address-family ipv4 unicast",
                "no network 203.0.113.6/32",
                "exit-address-family",
                "exit",
                "no ip prefix-list pl1 seq 10 permit 203.0.113.6/32",
            ],
            &["clear bgp ipv4 unicast 192.0.2.1 soft out"],
        ),
        (
            "change a community in place",
            BASE.replace("set community 64512:1", "set community 64512:2"),
            &["route-map out1 permit 1", "set community 64512:2"],
            &["clear bgp ipv4 unicast 192.0.2.1 soft out"],
        ),
        (
            "a whole prefix-list and the route-map entry using it go",
            BASE.replace("ip prefix-list pl2 seq 5 permit 203.0.113.99/32\n", "")
                .replace("route-map out1 permit 2\n match ip address prefix-list pl2\nexit\n", ""),
            &["no route-map out1 permit 2", "no ip prefix-list pl2"],
            &["clear bgp ipv4 unicast 192.0.2.1 soft out"],
        ),
        (
            "timers change is an overwrite, bfd untouched",
            BASE.replace("timers 3 9", "timers 1 3"),
            &["router bgp 65100", "neighbor 192.0.2.1 timers 1 3"],
            &[],
        ),
        (
            "a BFD profile value back to its default",
            BASE.replace("  receive-interval 100\n", ""),
            &["bfd", "profile fast", "receive-interval 300"],
            &[],
        ),
        (
            "the neighbor goes: one command, its AF lines untouched, its route-map after",
            BASE.replace(" neighbor 192.0.2.1 remote-as 65000\n neighbor 192.0.2.1 timers 3 9\n neighbor 192.0.2.1 bfd\n neighbor 192.0.2.1 bfd profile fast\n", "")
                .replace("  neighbor 192.0.2.1 activate\n  neighbor 192.0.2.1 route-map out1 out\n", "")
                .replace("route-map out1 permit 1\n match ip address prefix-list pl1\n set community 64512:1\nexit\nroute-map out1 permit 2\n match ip address prefix-list pl2\nexit\n", ""),
            &["router bgp 65100", "no neighbor 192.0.2.1", "exit", "no route-map out1"],
            &[],
        ),
        (
            "a negated default line that goes is re-enabled",
            BASE.replace(" no bgp ebgp-requires-policy\n", ""),
            &["router bgp 65100", "bgp ebgp-requires-policy"],
            &[],
        ),
        (
            "route-map action change replaces the entry",
            BASE.replace("route-map out1 permit 2", "route-map out1 deny 2"),
            &["no route-map out1 permit 2", "route-map out1 deny 2", "match ip address prefix-list pl2"],
            &["clear bgp ipv4 unicast 192.0.2.1 soft out"],
        ),
        (
            "switching the outbound route-map adds the new map first",
            BASE.replace("route-map out1 out", "route-map out2 out")
                + "route-map out2 permit 1\n match ip address prefix-list pl1\nexit\n",
            &[
                "route-map out2 permit 1",
                "match ip address prefix-list pl1",
                "exit",
                "router bgp 65100",
                "address-family ipv4 unicast",
                "neighbor 192.0.2.1 route-map out2 out",
            ],
            &["clear bgp ipv4 unicast 192.0.2.1 soft out"],
        ),
    ];
    for (name, desired, want, want_exec) in cases {
        let b = batch(desired, BASE);
        assert_eq!(b.config, *want, "{name}");
        assert_eq!(b.exec, *want_exec, "{name}");
        // Applying the batch's intent twice is a no-op.
        assert!(batch(desired, desired).is_empty(), "{name}");
    }
}

#[test]
fn neighbor_and_bfd_lines_are_never_resent() {
    let desired = BASE.replace("set community 64512:1", "set community 64512:9");
    let b = batch(&desired, BASE);
    assert!(
        b.commands()
            .all(|c| !c.contains("bfd") && !c.starts_with("neighbor")),
        "{b:?}"
    );
}

#[test]
fn vrf_routers_are_removed_before_the_default_one() {
    let running =
        format!("{BASE}router bgp 65100 vrf red\n neighbor 198.51.100.1 remote-as 65000\nexit\n");
    let b = batch("", &running);
    let pos = |c: &str| {
        b.config
            .iter()
            .position(|x| x == c)
            .unwrap_or_else(|| panic!("{c} in {b:?}"))
    };
    assert!(pos("no router bgp 65100 vrf red") < pos("no router bgp 65100"));
    assert!(pos("no router bgp 65100") < pos("no route-map out1"));
    assert!(pos("no route-map out1") < pos("no ip prefix-list pl1"));
}

#[test]
fn origination_route_map_changes_reoriginate_their_networks() {
    let running = "router bgp 65100\n address-family ipv4 unicast\n  network 203.0.113.5/32 route-map set1\n  network 203.0.113.6/32 route-map set2\n  network 203.0.113.7/32 route-map set1\n exit-address-family\nexit\nroute-map set1 permit 1\n set community 64512:1\nexit\nroute-map set2 permit 1\n set community 64512:2\nexit\n";
    let table: &[(&str, String, &[&str])] = &[
        (
            "a set's community changes: its networks are re-sent, the others not",
            running.replace("64512:1", "64512:9"),
            &[
                "route-map set1 permit 1",
                "set community 64512:9",
                "exit",
                "router bgp 65100",
                "address-family ipv4 unicast",
                "network 203.0.113.5/32 route-map set1",
                "network 203.0.113.7/32 route-map set1",
            ],
        ),
        (
            "one prefix moves to another set: one overwrite, nothing else",
            running.replace(
                "203.0.113.6/32 route-map set2",
                "203.0.113.6/32 route-map set1",
            ),
            &[
                "router bgp 65100",
                "address-family ipv4 unicast",
                "network 203.0.113.6/32 route-map set1",
            ],
        ),
    ];
    for (name, desired, want) in table {
        let b = batch(desired, running);
        assert_eq!(b.config, *want, "{name}");
        assert!(
            b.exec.is_empty(),
            "{name}: no neighbor uses these maps outbound"
        );
    }
}

#[test]
fn vrf_neighbors_get_vrf_clears() {
    let running = "router bgp 65100 vrf red\n neighbor 198.51.100.1 remote-as 65000\n address-family ipv4 unicast\n  neighbor 198.51.100.1 route-map r out\n exit-address-family\nexit\nroute-map r permit 1\n set local-preference 100\nexit\n";
    let desired = running.replace("local-preference 100", "local-preference 200");
    let b = batch(&desired, running);
    assert_eq!(
        b.exec,
        ["clear bgp vrf red ipv4 unicast 198.51.100.1 soft out"]
    );
}
