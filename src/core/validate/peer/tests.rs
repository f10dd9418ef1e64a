use super::*;
use crate::core::validate::testing::*;

#[test]
fn peers() {
    run(&[
        Row {
            name: "myASN 0",
            mutate: |s| peer_spec(s, "peer-b").my_asn = 0,
            errors: &[(
                "BGPPeer",
                "peer-b",
                "spec.myASN",
                "0 is not a valid AS number",
            )],
            warnings: &[],
        },
        Row {
            name: "peerASN 0",
            mutate: |s| peer_spec(s, "peer-b").peer_asn = Some(0),
            errors: &[(
                "BGPPeer",
                "peer-b",
                "spec.peerASN",
                "0 is not a valid AS number",
            )],
            warnings: &[],
        },
        Row {
            name: "peerASN and dynamicASN",
            mutate: |s| peer_spec(s, "peer-b").dynamic_asn = Some(DynamicAsn::External),
            errors: &[("BGPPeer", "peer-b", "spec.dynamicASN", "mutually exclusive")],
            warnings: &[],
        },
        Row {
            name: "neither peerASN nor dynamicASN",
            mutate: |s| peer_spec(s, "peer-b").peer_asn = None,
            errors: &[(
                "BGPPeer",
                "peer-b",
                "spec.peerASN",
                "one of peerASN and dynamicASN is required",
            )],
            warnings: &[],
        },
        Row {
            name: "dynamicASN alone is fine",
            mutate: |s| {
                peer_spec(s, "peer-b").peer_asn = None;
                peer_spec(s, "peer-b").dynamic_asn = Some(DynamicAsn::External);
            },
            errors: &[],
            warnings: &[],
        },
        Row {
            name: "peerAddress and interface",
            mutate: |s| peer_spec(s, "peer-b").interface = some("eth0"),
            errors: &[("BGPPeer", "peer-b", "spec.interface", "mutually exclusive")],
            warnings: &[],
        },
        Row {
            name: "neither peerAddress nor interface",
            mutate: |s| peer_spec(s, "peer-b").peer_address = some(""),
            errors: &[(
                "BGPPeer",
                "peer-b",
                "spec.peerAddress",
                "one of peerAddress and interface is required",
            )],
            warnings: &[],
        },
        Row {
            name: "interface alone is fine",
            mutate: |s| {
                peer_spec(s, "peer-b").peer_address = None;
                peer_spec(s, "peer-b").interface = some("eth0.100");
            },
            errors: &[],
            warnings: &[],
        },
        Row {
            name: "peerAddress not an IP",
            mutate: |s| peer_spec(s, "peer-b").peer_address = some("198.51.100.256"),
            errors: &[(
                "BGPPeer",
                "peer-b",
                "spec.peerAddress",
                "\"198.51.100.256\" is not an IP address",
            )],
            warnings: &[],
        },
        Row {
            name: "peerAddress multicast",
            mutate: |s| peer_spec(s, "peer-b").peer_address = some("224.0.0.5"),
            errors: &[(
                "BGPPeer",
                "peer-b",
                "spec.peerAddress",
                "not a unicast address",
            )],
            warnings: &[],
        },
        Row {
            name: "interface with a space",
            mutate: |s| {
                peer_spec(s, "peer-b").peer_address = None;
                peer_spec(s, "peer-b").interface = some("eth0 password x");
            },
            errors: &[(
                "BGPPeer",
                "peer-b",
                "spec.interface",
                "is not an interface name FRR takes: it may contain only",
            )],
            warnings: &[],
        },
        Row {
            name: "interface longer than 15",
            mutate: |s| {
                peer_spec(s, "peer-b").peer_address = None;
                peer_spec(s, "peer-b").interface = some("abcdefghijklmnop");
            },
            errors: &[(
                "BGPPeer",
                "peer-b",
                "spec.interface",
                "longer than 15 characters",
            )],
            warnings: &[],
        },
        Row {
            name: "sourceAddress of the other family",
            mutate: |s| peer_spec(s, "peer-b").source_address = some("2001:db8::1"),
            errors: &[(
                "BGPPeer",
                "peer-b",
                "spec.sourceAddress",
                "different IP families",
            )],
            warnings: &[],
        },
        Row {
            name: "sourceAddress garbage",
            mutate: |s| peer_spec(s, "peer-b").source_address = some("lo"),
            errors: &[(
                "BGPPeer",
                "peer-b",
                "spec.sourceAddress",
                "not an IP address",
            )],
            warnings: &[],
        },
        Row {
            name: "peerPort 0",
            mutate: |s| peer_spec(s, "peer-b").peer_port = Some(0),
            errors: &[("BGPPeer", "peer-b", "spec.peerPort", "not a valid port")],
            warnings: &[],
        },
        Row {
            name: "routerID IPv6",
            mutate: |s| peer_spec(s, "peer-b").router_id = some("2001:db8::1"),
            errors: &[(
                "BGPPeer",
                "peer-b",
                "spec.routerID",
                "a BGP router ID is an IPv4 address",
            )],
            warnings: &[],
        },
        Row {
            name: "routerID garbage",
            mutate: |s| peer_spec(s, "peer-b").router_id = some("router-1"),
            errors: &[("BGPPeer", "peer-b", "spec.routerID", "not an IPv4 address")],
            warnings: &[],
        },
        Row {
            name: "ebgpMultiHop on iBGP: accepted, as MetalLB does, with a warning",
            mutate: |s| {
                peer_spec(s, "peer-b").peer_asn = Some(65100);
                peer_spec(s, "peer-b").ebgp_multi_hop = Some(true);
            },
            errors: &[],
            warnings: &[(
                "BGPPeer",
                "peer-b",
                "spec.ebgpMultiHop",
                "this peer is iBGP (its AS is ours): FRR ignores it",
            )],
        },
        Row {
            name: "ebgpMultiHop on dynamic internal",
            mutate: |s| {
                peer_spec(s, "peer-b").peer_asn = None;
                peer_spec(s, "peer-b").dynamic_asn = Some(DynamicAsn::Internal);
                peer_spec(s, "peer-b").ebgp_multi_hop = Some(true);
            },
            errors: &[],
            warnings: &[(
                "BGPPeer",
                "peer-b",
                "spec.ebgpMultiHop",
                "this peer is iBGP",
            )],
        },
        Row {
            name: "ebgpMultiHop on eBGP is fine",
            mutate: |s| peer_spec(s, "peer-b").ebgp_multi_hop = Some(true),
            errors: &[],
            warnings: &[],
        },
        Row {
            name: "vrf with a newline",
            mutate: |s| peer_spec(s, "peer-b").vrf = some("red\nrouter bgp 1"),
            errors: &[(
                "BGPPeer",
                "peer-b",
                "spec.vrf",
                "is not a VRF name FRR takes: it may contain only",
            )],
            warnings: &[],
        },
        Row {
            name: "unknown BFD profile: BFD stays on with FRR's defaults",
            mutate: |s| peer_spec(s, "peer-a").bfd_profile = some("nope"),
            errors: &[],
            warnings: &[(
                "BGPPeer",
                "peer-a",
                "spec.bfdProfile",
                "BFDProfile nope does not exist; BFD stays on with FRR's default timers",
            )],
        },
    ]);
}

#[test]
fn timers() {
    run(&[
        Row {
            name: "hold below 3s",
            mutate: |s| peer_spec(s, "peer-a").hold_time = some("2s"),
            errors: &[(
                "BGPPeer",
                "peer-a",
                "spec.holdTime",
                "must be 0 or at least 3s",
            )],
            warnings: &[PEER_A_DEPENDENTS],
        },
        Row {
            name: "hold garbage",
            mutate: |s| peer_spec(s, "peer-a").hold_time = some("ninety"),
            errors: &[(
                "BGPPeer",
                "peer-a",
                "spec.holdTime",
                "invalid duration \"ninety\"",
            )],
            warnings: &[PEER_A_DEPENDENTS],
        },
        Row {
            name: "hold without unit",
            mutate: |s| peer_spec(s, "peer-a").hold_time = some("90"),
            errors: &[("BGPPeer", "peer-a", "spec.holdTime", "missing unit")],
            warnings: &[PEER_A_DEPENDENTS],
        },
        Row {
            name: "fractional hold",
            mutate: |s| peer_spec(s, "peer-a").hold_time = some("4.5s"),
            errors: &[],
            warnings: &[(
                "BGPPeer",
                "peer-a",
                "spec.holdTime",
                "4.5s is not a whole number of seconds; FRR takes 4s, as MetalLB truncates it",
            )],
        },
        Row {
            name: "hold above FRR's limit",
            mutate: |s| peer_spec(s, "peer-a").hold_time = some("19h"),
            errors: &[("BGPPeer", "peer-a", "spec.holdTime", "longer than 65535s")],
            warnings: &[PEER_A_DEPENDENTS],
        },
        Row {
            name: "keepalive above hold",
            mutate: |s| peer_spec(s, "peer-a").keepalive_time = some("2m"),
            errors: &[(
                "BGPPeer",
                "peer-a",
                "spec.keepaliveTime",
                "keepaliveTime 120s exceeds holdTime 90s",
            )],
            warnings: &[PEER_A_DEPENDENTS],
        },
        Row {
            name: "keepalive 0 with a hold time: accepted (FRR takes timers 0 H), with a warning",
            mutate: |s| peer_spec(s, "peer-a").keepalive_time = some("0s"),
            errors: &[],
            warnings: &[(
                "BGPPeer",
                "peer-a",
                "spec.keepaliveTime",
                "keepaliveTime 0 sends no keepalives while holdTime is 90s",
            )],
        },
        Row {
            name: "keepalive alone too long to derive a hold",
            mutate: |s| peer_spec(s, "peer-b").keepalive_time = some("7h"),
            errors: &[(
                "BGPPeer",
                "peer-b",
                "spec.keepaliveTime",
                "implies a holdTime of 75600s",
            )],
            warnings: &[],
        },
        Row {
            name: "connectTime 0",
            mutate: |s| peer_spec(s, "peer-b").connect_time = some("0s"),
            errors: &[("BGPPeer", "peer-b", "spec.connectTime", "at least 1s")],
            warnings: &[],
        },
        Row {
            name: "connectTime fractional",
            mutate: |s| peer_spec(s, "peer-b").connect_time = some("1500ms"),
            errors: &[],
            warnings: &[(
                "BGPPeer",
                "peer-b",
                "spec.connectTime",
                "1500ms is not a whole number of seconds; FRR takes 1s",
            )],
        },
    ]);
}

#[test]
fn timer_derivation() {
    let t = |keepalive, hold| Some(Timers { keepalive, hold });
    let cases: &[(Option<&str>, Option<&str>, Option<Timers>)] = &[
        (None, None, None),
        (Some("90s"), None, t(30, 90)),
        (Some("1m40s"), None, t(33, 100)), // rounded down
        (Some("0"), None, t(0, 0)),
        (Some("3s"), None, t(1, 3)),
        (None, Some("10s"), t(10, 30)),
        (None, Some("1s"), t(1, 3)),
        (None, Some("0s"), t(0, 0)),
        (Some("90s"), Some("90s"), t(90, 90)),
        (Some("180s"), Some("1m"), t(60, 180)),
        (Some("0s"), Some("0s"), t(0, 0)),
    ];
    for (hold, keepalive, want) in cases {
        let mut s = baseline();
        peer_spec(&mut s, "peer-b").hold_time = hold.map(Into::into);
        peer_spec(&mut s, "peer-b").keepalive_time = keepalive.map(Into::into);
        let v = check(&s);
        assert_eq!(v.errors, vec![], "{hold:?} {keepalive:?}");
        assert_eq!(
            v.config.peers["peer-b"].timers, *want,
            "{hold:?} {keepalive:?}"
        );
    }
}

const SECRET: &str = "s3cret-value";

#[test]
fn passwords() {
    run(&[
        Row {
            name: "password and passwordSecret",
            mutate: |s| peer_spec(s, "peer-b").password = some("other"),
            errors: &[(
                "BGPPeer",
                "peer-b",
                "spec.passwordSecret",
                "mutually exclusive",
            )],
            warnings: &[],
        },
        Row {
            name: "password with a newline: never rendered, the session keeps FRR's password",
            mutate: |s| {
                peer_spec(s, "peer-a").password =
                    some("s3cret-value\n neighbor 1.2.3.4 remote-as 1")
            },
            errors: &[],
            warnings: &[("BGPPeer", "peer-a", "spec.password", "newline or another control character, which FRR cannot take; the session keeps the password FRR runs for it")],
        },
        Row {
            name: "password with a tab",
            mutate: |s| peer_spec(s, "peer-a").password = some("s3cret-value\tx"),
            errors: &[],
            warnings: &[("BGPPeer", "peer-a", "spec.password", "control character")],
        },
        Row {
            name: "password with trailing space",
            mutate: |s| peer_spec(s, "peer-a").password = some("s3cret-value "),
            errors: &[],
            warnings: &[("BGPPeer", "peer-a", "spec.password", "contains whitespace; FRR takes a password of one word")],
        },
        Row {
            name: "password too long",
            mutate: |s| peer_spec(s, "peer-a").password = Some(SECRET.repeat(7)),
            errors: &[],
            warnings: &[("BGPPeer", "peer-a", "spec.password", "longer than 80 bytes")],
        },
        Row {
            name: "inner spaces: FRR takes one word; the session keeps FRR's password",
            mutate: |s| peer_spec(s, "peer-a").password = some("!s3cret value#"),
            errors: &[],
            warnings: &[("BGPPeer", "peer-a", "spec.password", "contains whitespace; FRR takes a password of one word; the session keeps the password FRR runs for it")],
        },
        Row {
            name: "secret missing: the session keeps FRR's password",
            mutate: |s| s.secrets.clear(),
            errors: &[],
            warnings: &[("BGPPeer", "peer-b", "spec.passwordSecret", "Secret metallb-system/peer-pw not found; the session keeps the password FRR runs for it")],
        },
        Row {
            name: "secret in another namespace than the peer's by default",
            mutate: |s| secret(s).metadata.namespace = some("default"),
            errors: &[],
            warnings: &[("BGPPeer", "peer-b", "spec.passwordSecret", "Secret metallb-system/peer-pw not found")],
        },
        Row {
            name: "secret namespace given explicitly",
            mutate: |s| {
                secret(s).metadata.namespace = some("default");
                peer_spec(s, "peer-b")
                    .password_secret
                    .as_mut()
                    .unwrap()
                    .namespace = some("default");
            },
            errors: &[],
            warnings: &[("BGPPeer", "peer-b", "spec.passwordSecret", "Secret metallb-system/peer-pw not found"), ("BGPPeer", "peer-b", "spec.passwordSecret.namespace", "\"default\" is ignored: MetalLB and ferrule read the Secret from metallb-system")],
        },
        Row {
            name: "secret of the wrong type",
            mutate: |s| secret(s).type_ = some("Opaque"),
            errors: &[],
            warnings: &[("BGPPeer", "peer-b", "spec.passwordSecret", "has type Opaque; kubernetes.io/basic-auth is required")],
        },
        Row {
            name: "secret without the password key",
            mutate: |s| {
                secret(s).data.as_mut().unwrap().remove("password");
            },
            errors: &[],
            warnings: &[("BGPPeer", "peer-b", "spec.passwordSecret", "has no key \"password\"")],
        },
        Row {
            name: "secret value with a newline",
            mutate: |s| {
                let v = format!("{SECRET}\n");
                secret(s)
                    .data
                    .as_mut()
                    .unwrap()
                    .insert("password".into(), k8s_openapi::ByteString(v.into_bytes()));
            },
            errors: &[],
            warnings: &[("BGPPeer", "peer-b", "spec.passwordSecret", "the password in Secret metallb-system/peer-pw contains a newline")],
        },
        Row {
            name: "secret value not UTF-8",
            mutate: |s| {
                secret(s)
                    .data
                    .as_mut()
                    .unwrap()
                    .insert("password".into(), k8s_openapi::ByteString(vec![0xff, 0xfe]));
            },
            errors: &[],
            warnings: &[("BGPPeer", "peer-b", "spec.passwordSecret", "not valid UTF-8")],
        },
    ]);
}

#[test]
fn passwords_resolve_and_never_show() {
    let mut s = baseline();
    let v = check(&s);
    let pw = v.config.peers["peer-b"]
        .password
        .as_ref()
        .expect("from the Secret");
    assert_eq!(pw.expose(), SECRET);
    assert!(!format!("{:?}", v.config).contains(SECRET));

    peer_spec(&mut s, "peer-a").password = Some(format!("{SECRET}\n"));
    peer_spec(&mut s, "peer-b").password = Some(format!(" {SECRET}"));
    let v = check(&s);
    assert!(!v.errors.is_empty());
    for e in &v.errors {
        assert!(!e.to_string().contains(SECRET), "{e}");
    }
}

/// Adds peer-c (v1beta2) with the given spec lines.
fn peer_c(s: &mut Snapshot, spec: &str) {
    add(
        s,
        &format!("apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: peer-c}}\nspec:\n{spec}"),
    );
}

#[test]
fn peer_conflicts() {
    run(&[
        Row {
            name: "same address, overlapping nodes",
            mutate: |s| peer_c(s, "  myASN: 65100\n  peerASN: 65009\n  peerAddress: 198.51.100.1\n"),
            errors: &[(
                "BGPPeer",
                "peer-c",
                "spec.peerAddress",
                "BGPPeer peer-a already peers with 198.51.100.1 in the default VRF (node node-a is selected by both)",
            )],
            warnings: &[],
        },
        Row {
            name: "same address, other VRF",
            mutate: |s| peer_c(s, "  myASN: 65100\n  peerASN: 65009\n  peerAddress: 198.51.100.1\n  vrf: red\n"),
            errors: &[],
            warnings: &[],
        },
        Row {
            name: "same address, disjoint nodes",
            mutate: |s| peer_c(s, "  myASN: 65100\n  peerASN: 65009\n  peerAddress: 198.51.100.1\n  nodeSelectors: [{matchLabels: {rack: r2}}]\n"),
            errors: &[],
            warnings: &[],
        },
        Row {
            name: "same interface",
            mutate: |s| {
                peer_spec(s, "peer-b").peer_address = None;
                peer_spec(s, "peer-b").interface = some("eth1");
                peer_c(s, "  myASN: 65100\n  peerASN: 65009\n  interface: eth1\n");
            },
            errors: &[("BGPPeer", "peer-c", "spec.interface", "BGPPeer peer-b already peers with eth1")],
            warnings: &[],
        },
        Row {
            name: "different myASN on a shared node",
            mutate: |s| peer_c(s, "  myASN: 65200\n  peerASN: 65009\n  peerAddress: 198.51.100.3\n"),
            errors: &[("BGPPeer", "peer-c", "spec.myASN", "myASN 65200 differs from myASN 65100 of the older BGPPeer peer-a in the default VRF (node node-a is selected by both)")],
            warnings: &[],
        },
        Row {
            name: "different myASN in another VRF",
            mutate: |s| peer_c(s, "  myASN: 65200\n  peerASN: 65009\n  peerAddress: 198.51.100.3\n  vrf: red\n"),
            errors: &[],
            warnings: &[],
        },
        Row {
            name: "different myASN, nodes never meet",
            mutate: |s| {
                peer_spec(s, "peer-b").node_selectors = vec![sel("matchLabels: {rack: r1}")];
                peer_c(s, "  myASN: 65200\n  peerASN: 65009\n  peerAddress: 198.51.100.3\n  nodeSelectors: [{matchLabels: {rack: r2}}]\n");
            },
            errors: &[],
            warnings: &[],
        },
        Row {
            name: "different routerID on a shared node",
            mutate: |s| {
                peer_spec(s, "peer-a").router_id = some("10.1.1.1");
                peer_spec(s, "peer-b").router_id = some("10.1.1.2");
            },
            errors: &[("BGPPeer", "peer-b", "spec.routerID", "routerID 10.1.1.2 differs from routerID 10.1.1.1 of the older BGPPeer peer-a")],
            warnings: &[],
        },
        Row {
            name: "routerID set on one side only",
            mutate: |s| peer_spec(s, "peer-b").router_id = some("10.1.1.2"),
            errors: &[("BGPPeer", "peer-b", "spec.routerID", "routerID 10.1.1.2 differs from routerID unset of the older BGPPeer peer-a")],
            warnings: &[],
        },
        Row {
            name: "no nodes known: identical selectors still conflict",
            mutate: |s| {
                s.nodes.clear();
                peer_spec(s, "peer-a").node_selectors.clear();
                peer_spec(s, "peer-b").my_asn = 65200;
            },
            errors: &[("BGPPeer", "peer-b", "spec.myASN", "no Node is known, so any node may run both")],
            warnings: &[],
        },
        Row {
            name: "no nodes known: any two may share a node, as in MetalLB",
            mutate: |s| {
                s.nodes.clear();
                peer_spec(s, "peer-b").my_asn = 65200;
            },
            errors: &[("BGPPeer", "peer-b", "spec.myASN", "no Node is known, so any node may run both")],
            warnings: &[],
        },
    ]);
}

#[test]
fn local_asn() {
    run(&[
        Row {
            name: "localASN on eBGP",
            mutate: |s| peer_spec(s, "peer-b").local_asn = Some(65300),
            errors: &[],
            warnings: &[],
        },
        Row {
            name: "localASN 0 is unset, as Go's zero value is in MetalLB",
            mutate: |s| peer_spec(s, "peer-b").local_asn = Some(0),
            errors: &[],
            warnings: &[],
        },
        Row {
            name: "localASN equal to myASN is no local AS",
            mutate: |s| peer_spec(s, "peer-b").local_asn = Some(65100),
            errors: &[],
            warnings: &[],
        },
        Row {
            name: "localASN on iBGP: FRR refuses it",
            mutate: |s| {
                peer_spec(s, "peer-b").peer_asn = Some(65100);
                peer_spec(s, "peer-b").local_asn = Some(65300);
            },
            errors: &[(
                "BGPPeer",
                "peer-b",
                "spec.localASN",
                "FRR allows a local AS only on eBGP sessions",
            )],
            warnings: &[],
        },
        Row {
            name: "localASN equal to peerASN: FRR refuses it",
            mutate: |s| peer_spec(s, "peer-b").local_asn = Some(65001),
            errors: &[(
                "BGPPeer",
                "peer-b",
                "spec.localASN",
                "equal to the peer's AS",
            )],
            warnings: &[],
        },
    ]);
    let unset = |l: Option<u32>| {
        let mut s = baseline();
        peer_spec(&mut s, "peer-b").local_asn = l;
        check(&s).config.peers["peer-b"].local_asn
    };
    assert_eq!(unset(Some(65300)), Some(65300));
    assert_eq!(unset(Some(0)), None);
    assert_eq!(unset(Some(65100)), None);
}
