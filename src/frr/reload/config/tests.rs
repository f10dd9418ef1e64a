use super::*;

/// A rendered-style config and what FRR 8.4 printed for it (`show running-config`).
const RENDERED: &str = "\
frr version 8.4.4
frr defaults traditional
hostname node1
log syslog informational
service integrated-vtysh-config
!
bgp route-map delay-timer 0
!
bfd
 profile tor-fast
  receive-interval 300
  transmit-interval 300
  detect-multiplier 3
 exit
 !
 profile slow
  receive-interval 1000
  transmit-interval 1000
  detect-multiplier 5
  passive-mode
  minimum-ttl 250
 exit
exit
!
router bgp 65100
 bgp router-id 192.0.2.21
 no bgp ebgp-requires-policy
 no bgp network import-check
 no bgp default ipv4-unicast
 neighbor 192.0.2.1 remote-as 65000
 neighbor 192.0.2.1 timers 3 9
 neighbor 192.0.2.1 timers connect 5
 neighbor 192.0.2.1 bfd profile tor-fast
 neighbor 192.0.2.1 port 179
 !
 address-family ipv4
  network 203.0.113.5/32
  neighbor 192.0.2.1 activate
  neighbor 192.0.2.1 route-map ferrule-192.0.2.1-out out
 exit-address-family
 address-family ipv6 unicast
 exit-address-family
exit
!
ip prefix-list ferrule-192.0.2.1-set1 permit 203.0.113.5/32
ip prefix-list ferrule-192.0.2.1-set1 seq 7 permit 203.0.113.6/24
ip prefix-list ferrule-192.0.2.1-set1 permit 203.0.113.7/32
!
route-map ferrule-192.0.2.1-out permit 1
 match ip address prefix-list ferrule-192.0.2.1-set1
 set community 65535:65282 64512:100 64512:100 additive
 set local-preference 200
 on-match next
exit
!
line vty
!
end
";

const RUNNING: &str = "\
Building configuration...

Current configuration:
!
frr version 8.4.4
frr defaults traditional
hostname node1
log syslog informational
no ip forwarding
no ipv6 forwarding
bgp route-map delay-timer 0
hostname node1
service integrated-vtysh-config
!
router bgp 65100
 bgp router-id 192.0.2.21
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 no bgp network import-check
 neighbor 192.0.2.1 remote-as 65000
 neighbor 192.0.2.1 bfd
 neighbor 192.0.2.1 bfd profile tor-fast
 neighbor 192.0.2.1 timers 3 9
 neighbor 192.0.2.1 timers connect 5
 !
 address-family ipv4 unicast
  network 203.0.113.5/32
  neighbor 192.0.2.1 activate
  neighbor 192.0.2.1 route-map ferrule-192.0.2.1-out out
 exit-address-family
exit
!
ip prefix-list ferrule-192.0.2.1-set1 seq 5 permit 203.0.113.5/32
ip prefix-list ferrule-192.0.2.1-set1 seq 7 permit 203.0.113.0/24
ip prefix-list ferrule-192.0.2.1-set1 seq 10 permit 203.0.113.7/32
!
route-map ferrule-192.0.2.1-out permit 1
 match ip address prefix-list ferrule-192.0.2.1-set1
 on-match next
 set community 64512:100 no-advertise additive
 set local-preference 200
exit
!
bfd
 profile tor-fast
 exit
 !
 profile slow
  detect-multiplier 5
  transmit-interval 1000
  receive-interval 1000
  passive-mode
  minimum-ttl 250
 exit
 !
exit
!
end
";

fn without_forwarding(mut c: Config) -> Config {
    c.lines.retain(|l| !l.unmanaged());
    c
}

#[test]
fn rendered_and_running_normalize_equal() {
    let desired = parse(RENDERED);
    let running = without_forwarding(parse(RUNNING));
    pretty_assertions::assert_eq!(desired.canonical(), running.canonical());
}

#[test]
fn nesting_follows_contexts() {
    let c = parse(RUNNING);
    let bgp = c.lines.iter().find(|l| l.slot == "router bgp").unwrap();
    assert_eq!(bgp.ctx, Some(Ctx::RouterBgp));
    let af = bgp.children.iter().find(|l| l.ctx.is_some()).unwrap();
    assert_eq!(af.norm, "address-family ipv4 unicast");
    assert_eq!(af.children.len(), 3);
    let bfd = c.lines.iter().find(|l| l.ctx == Some(Ctx::Bfd)).unwrap();
    assert_eq!(bfd.children.len(), 2);
    assert!(bfd.children.iter().all(|p| p.ctx == Some(Ctx::BfdProfile)));
    // Everything after the route-map block went back to the top level.
    let pl = c
        .lines
        .iter()
        .filter(|l| l.norm.starts_with("ip prefix-list"))
        .count();
    assert_eq!(pl, 3);
}

#[test]
fn unindented_and_exitless_configs_nest_by_keywords() {
    let c = parse(
        "router bgp 1\nneighbor 192.0.2.1 remote-as 2\naddress-family ipv4 unicast\nnetwork 203.0.113.1/32\nexit-address-family\nroute-map A permit 1\nset local-preference 5\nip prefix-list P seq 5 permit 203.0.113.1/32\n",
    );
    let norms: Vec<(&str, usize)> = c
        .lines
        .iter()
        .map(|l| (l.norm.as_str(), l.children.len()))
        .collect();
    assert_eq!(
        norms,
        [
            ("router bgp 1", 2),
            ("route-map A permit 1", 1),
            ("ip prefix-list P seq 5 permit 203.0.113.1/32", 0)
        ]
    );
}

#[test]
fn line_normalization_table() {
    // (parent context, input line, normalized, slot)
    let table: &[(Option<Ctx>, &str, Option<&str>, &str)] = &[
        (
            Some(Ctx::RouteMap),
            "set community 65535:65282  64512:100",
            Some("set community 64512:100 65535:65282"),
            "set community",
        ),
        (
            Some(Ctx::RouteMap),
            "set community no-export internet 1:1 additive",
            Some("set community 0:0 1:1 65535:65281 additive"),
            "set community",
        ),
        (
            Some(Ctx::RouteMap),
            "set large-community 5:6:7 1:2:3",
            Some("set large-community 5:6:7 1:2:3"),
            "set large-community",
        ),
        (
            Some(Ctx::RouteMap),
            "match ip address prefix-list X",
            Some("match ip address prefix-list X"),
            "match ip address prefix-list",
        ),
        (
            Some(Ctx::RouteMap),
            "on-match next",
            Some("on-match next"),
            "on-match",
        ),
        (Some(Ctx::BfdProfile), "receive-interval 300", None, ""),
        (
            Some(Ctx::BfdProfile),
            "receive-interval 1000",
            Some("receive-interval 1000"),
            "receive-interval",
        ),
        (Some(Ctx::BfdProfile), "echo receive-interval 50", None, ""),
        (
            Some(Ctx::BfdProfile),
            "echo transmit-interval 70",
            Some("echo transmit-interval 70"),
            "echo transmit-interval",
        ),
        (Some(Ctx::BfdProfile), "minimum-ttl 254", None, ""),
        (Some(Ctx::BfdPeer), "no shutdown", None, ""),
        (
            Some(Ctx::RouterBgp),
            "neighbor 192.0.2.1 port 179",
            None,
            "",
        ),
        (
            Some(Ctx::RouterBgp),
            "neighbor 192.0.2.1 port 1179",
            Some("neighbor 192.0.2.1 port 1179"),
            "neighbor 192.0.2.1 port",
        ),
        (
            Some(Ctx::RouterBgp),
            "neighbor 192.0.2.1 ebgp-multihop",
            Some("neighbor 192.0.2.1 ebgp-multihop 255"),
            "neighbor 192.0.2.1 ebgp-multihop",
        ),
        (
            Some(Ctx::RouterBgp),
            "neighbor 2001:db8:0::1 timers 3 9",
            Some("neighbor 2001:db8::1 timers 3 9"),
            "neighbor 2001:db8::1 timers",
        ),
        (
            Some(Ctx::RouterBgp),
            "neighbor 192.0.2.1 timers connect 5",
            Some("neighbor 192.0.2.1 timers connect 5"),
            "neighbor 192.0.2.1 timers connect",
        ),
        (
            Some(Ctx::RouterBgp),
            "neighbor 192.0.2.1 bfd",
            Some("neighbor 192.0.2.1 bfd"),
            "neighbor 192.0.2.1 bfd",
        ),
        (
            Some(Ctx::RouterBgp),
            "neighbor 192.0.2.1 bfd profile p",
            Some("neighbor 192.0.2.1 bfd profile p"),
            "neighbor 192.0.2.1 bfd profile",
        ),
        (
            Some(Ctx::RouterBgp),
            "no bgp ebgp-requires-policy",
            Some("no bgp ebgp-requires-policy"),
            "bgp ebgp-requires-policy",
        ),
        (
            Some(Ctx::AddressFamily),
            "network 203.0.113.77/24",
            Some("network 203.0.113.0/24"),
            "network 203.0.113.0/24",
        ),
        (
            Some(Ctx::AddressFamily),
            "neighbor 192.0.2.1 route-map RM out",
            Some("neighbor 192.0.2.1 route-map RM out"),
            "neighbor 192.0.2.1 route-map out",
        ),
        (
            None,
            "ip prefix-list P seq 5 permit 203.0.113.5/24",
            Some("ip prefix-list P seq 5 permit 203.0.113.0/24"),
            "ip prefix-list P seq 5",
        ),
        (
            None,
            "no ip forwarding",
            Some("no ip forwarding"),
            "ip forwarding",
        ),
        (None, "hostname vm", None, ""),
        (None, "frr defaults traditional", None, ""),
    ];
    for (parent, input, want, want_slot) in table {
        let tokens: Vec<&str> = input.split_whitespace().collect();
        let got = normalize_line(*parent, &tokens);
        assert_eq!(got.as_deref(), *want, "{input}");
        if let Some(n) = got {
            assert_eq!(slot_of(*parent, &n), *want_slot, "{input}");
        }
    }
}

#[test]
fn activate_is_implied_only_with_default_ipv4_unicast() {
    let with_default = parse("router bgp 1\n neighbor 192.0.2.1 remote-as 2\n address-family ipv4 unicast\n  network 203.0.113.1/32\n  neighbor 192.0.2.1 activate\n exit-address-family\nexit\n");
    let af = &with_default.lines[0].children[1];
    assert_eq!(af.children.len(), 1, "activate dropped: {af:?}");
    let without = parse("router bgp 1\n no bgp default ipv4-unicast\n neighbor 192.0.2.1 remote-as 2\n address-family ipv4 unicast\n  network 203.0.113.1/32\n  neighbor 192.0.2.1 activate\n exit-address-family\nexit\n");
    let af = &without.lines[0].children[2];
    assert_eq!(af.children.len(), 2, "activate kept: {af:?}");
}

#[test]
fn vrf_and_interface_blocks() {
    let c = parse("vrf red\n ip route 203.0.113.0/24 blackhole\nexit-vrf\n!\ninterface eth0\n ip address 192.0.2.21/24\nexit\n!\nrouter bgp 65100 vrf red\n neighbor 198.51.100.1 remote-as 65000\nexit\nip route 198.51.100.0/24 blackhole\n");
    let shape: Vec<(&str, Option<Ctx>, usize)> = c
        .lines
        .iter()
        .map(|l| (l.slot.as_str(), l.ctx, l.children.len()))
        .collect();
    assert_eq!(
        shape,
        [
            ("vrf red", Some(Ctx::Vrf), 1),
            ("interface eth0", Some(Ctx::Interface), 1),
            ("router bgp vrf red", Some(Ctx::RouterBgp), 1),
            ("ip route 198.51.100.0/24 blackhole", None, 0),
        ]
    );
}

#[test]
fn prefix_lists_without_seq_get_frr_sequences() {
    let c = parse("ip prefix-list A permit 203.0.113.1/32\nip prefix-list A seq 7 permit 203.0.113.2/32\nip prefix-list A permit 203.0.113.3/32\nip prefix-list B permit 203.0.113.4/32\n");
    let norms: Vec<&str> = c.lines.iter().map(|l| l.norm.as_str()).collect();
    assert_eq!(
        norms,
        [
            "ip prefix-list A seq 5 permit 203.0.113.1/32",
            "ip prefix-list A seq 7 permit 203.0.113.2/32",
            "ip prefix-list A seq 10 permit 203.0.113.3/32",
            "ip prefix-list B seq 5 permit 203.0.113.4/32",
        ]
    );
}
