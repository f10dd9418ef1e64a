//! MetalLB's FRR rendering tests (`internal/bgp/frr`: `frr_test.go`, `frr_bfd_test.go`,
//! `frr_vrf_test.go`, 45 tests at metallb commit 7938d3f8), ported as facts: one row per
//! MetalLB test, its inputs as the `NodeIntent` ferrule would be handed, and what the rendered
//! config must mean. Facts are semantic: ferrule shapes policy with route tags where MetalLB
//! uses prefix-lists, so "what is sent to whom" is checked through `support::policy::simulate`.
//! Each rendered config is also a golden file (`tests/testdata/metallb_frr/<Test>.conf`,
//! ferrule's own output, regenerated with `UPDATE_GOLDEN=1`) that real FRR must accept.
//!
//! Facts MetalLB renders and ferrule does not yet are `Todo(..)`, and their rows carry a
//! `pending` reason: each such fact must still fail (once it holds, the runner asks for the
//! mark to be removed), while every other fact of the row must hold as usual.
//!
//! Inputs are translated the same way in every row:
//! - addresses: peers 10.2.2.N -> 192.0.2.N, 10.4.4.N -> 198.51.100.N, 127.0.0.2 -> 192.0.2.2;
//!   the node's source address / router ID 10.1.1.254 -> 192.0.2.1, 10.3.3.254 -> 198.51.100.1;
//!   IPv6 10:A:A::N -> 2001:db8:A::N, 127:0:0::2 -> 2001:db8::2.
//! - prefixes: MetalLB advertises 172.16.1.N with a /24 mask (host bits set). FRR masks such a
//!   prefix (`network 172.16.1.10/24` reads back as 172.16.1.0/24, so .10/24 and .11/24 would be
//!   one route); the tests mean one prefix per address, so 172.16.1.N/24 -> 203.0.113.N/32.
//! - timers: MetalLB's renderer tests use hold 1 s, which its own config parser refuses (hold
//!   must be 0 or >= 3 s, keepalive <= hold: internal/config/config.go parseTimers), and so does
//!   ferrule's renderer. Rows keep the keepalive and set hold to 3 x keepalive, MetalLB's
//!   default ratio: keepalive 1 s -> `timers 1 3`, keepalive 2 s -> `timers 2 6`.
//! - MetalLB's port 179 is BGP's default, which FRR never prints: ferrule leaves it out.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ferrule::model::{BfdProfile, Password, PeerAddress, RemoteAs, Timers};
use ferrule::{render, render_node, Announcement, Neighbor, NodeIntent, RenderError, Router};
use support::frr::check_golden;
use support::policy::{community, router_vrfs, simulate, Sent as SentMap};

use Fact::*;

// ---------------------------------------------------------------- facts

/// One fact about a rendered config. Lines are compared after whitespace normalisation.
#[derive(Clone, Debug)]
enum Fact {
    /// Some line equals this.
    Line(&'static str),
    /// No line contains this text.
    Absent(&'static str),
    /// Exactly this many lines start with this text.
    Count(&'static str, usize),
    /// These lines appear in this order (not necessarily adjacent).
    InOrder(&'static [&'static str]),
    /// The stanza opened by the line `0` holds the line `1` (at any depth).
    Within(&'static str, &'static str),
    /// The stanza opened by `header` holds exactly these lines, in any order (`exit`, `!` aside).
    Stanza {
        header: &'static str,
        lines: &'static [&'static str],
    },
    /// The last non-empty line.
    LastLine(&'static str),
    /// The neighbor of the router in `vrf` is activated in exactly these address families.
    Activated {
        vrf: Option<&'static str>,
        neighbor: &'static str,
        families: &'static [&'static str],
    },
    /// After the outbound policy, the neighbor is sent `prefix` with exactly these
    /// communities and this local preference. (MetalLB's `set community X additive` adds to
    /// the communities a route has; a locally originated `network` route has none, so it ends
    /// with exactly the set ferrule's replacing `set community` gives it.)
    Sent {
        vrf: Option<&'static str>,
        neighbor: &'static str,
        prefix: &'static str,
        communities: &'static [&'static str],
        local_pref: Option<u32>,
    },
    /// The neighbor is not sent `prefix`.
    NotSent {
        vrf: Option<&'static str>,
        neighbor: &'static str,
        prefix: &'static str,
    },
    /// The neighbor is sent exactly these prefixes.
    SentOnly {
        vrf: Option<&'static str>,
        neighbor: &'static str,
        prefixes: &'static [&'static str],
    },
    /// The config is byte-equal to the one another row renders.
    SameAs(&'static str),
    /// The config does not depend on the order the intent lists neighbors and announcements in.
    AnyOrder,
    /// Rendering fails with a message containing this text.
    RenderError(&'static str),
    /// MetalLB renders this and ferrule does not yet: it must not hold (the row is pending).
    Todo(Box<Fact>),
}

#[allow(dead_code)] // for facts ferrule cannot meet yet; none today
fn todo(f: Fact) -> Fact {
    Todo(Box::new(f))
}

/// In every MetalLB config, even one without sessions (frr.tmpl).
fn nht() -> Vec<Fact> {
    vec![
        Line("ip nht resolve-via-default"),
        Line("ipv6 nht resolve-via-default"),
    ]
}

/// The lines MetalLB opens every `router bgp` with, and its router ID line.
/// MetalLB always adds `bgp graceful-restart preserve-fw-state`; ferrule adds it only when a
/// neighbor asks for graceful restart (it only matters then), so GR rows check it themselves.
fn router_lines(header: &'static str, router_id: Option<&'static str>) -> Vec<Fact> {
    let within = |line| Within(header, line);
    let mut facts = vec![
        Line(header),
        within("no bgp ebgp-requires-policy"),
        within("no bgp network import-check"),
        within("no bgp default ipv4-unicast"),
    ];
    facts.push(match router_id {
        Some(id) => within(id),
        None => Absent("bgp router-id"),
    });
    facts
}

// ---------------------------------------------------------------- intents

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A session to `addr` with FRR's defaults (families follow the address).
fn peer(name: &str, addr: &str, remote_as: u32) -> Neighbor {
    Neighbor::new(name, PeerAddress::Ip(ip(addr)), RemoteAs::Asn(remote_as))
}

fn with(mut n: Neighbor, f: impl FnOnce(&mut Neighbor)) -> Neighbor {
    f(&mut n);
    n
}

/// MetalLB's usual session: port 179, hold and keepalive 1 s, password `password`, the given
/// source address; no multihop.
fn session(name: &str, addr: &str, remote_as: u32, source: Option<&str>) -> Neighbor {
    with(peer(name, addr, remote_as), |n| {
        n.port = Some(179);
        n.source_address = source.map(ip);
        n.timers = Some(timers(1));
        n.password = Some(Password::new("password".into()));
    })
}

/// MetalLB's baseline (TestSingleEBGPSessionMultiHop): 10.2.2.254 AS 200 from 10.1.1.254,
/// ebgp-multihop.
fn baseline() -> Neighbor {
    multihop(session("test-peer", "192.0.2.254", 200, Some("192.0.2.1")))
}

fn multihop(n: Neighbor) -> Neighbor {
    with(n, |n| n.ebgp_multihop = true)
}

fn connect_1s(n: Neighbor) -> Neighbor {
    with(n, |n| n.connect_time = Some(1))
}

/// Keepalive as MetalLB gives it, hold three times that (see the module docs).
fn timers(keepalive: u32) -> Timers {
    Timers {
        keepalive,
        hold: 3 * keepalive,
    }
}

fn announcing(n: Neighbor, anns: Vec<Announcement>) -> Neighbor {
    with(n, |n| n.announcements = anns)
}

fn ann(prefix: &str, communities: &[&str], local_pref: Option<u32>) -> Announcement {
    Announcement {
        prefix: prefix.parse().unwrap(),
        communities: communities.iter().map(|c| community(c)).collect(),
        local_pref,
        services: Vec::new(),
    }
}

fn router(
    asn: u32,
    router_id: Option<&str>,
    vrf: Option<&str>,
    neighbors: Vec<Neighbor>,
) -> Router {
    Router {
        vrf: vrf.map(Into::into),
        asn,
        router_id: router_id.map(|id| id.parse().unwrap()),
        neighbors,
    }
}

/// MetalLB's usual router: AS 100, router ID 10.1.1.254, default VRF.
fn router_100(neighbors: Vec<Neighbor>) -> Router {
    router(100, Some("192.0.2.1"), None, neighbors)
}

fn node(routers: Vec<Router>) -> NodeIntent {
    NodeIntent {
        node: "node1".into(),
        routers,
        ..NodeIntent::default()
    }
}

fn node_with_bfd(routers: Vec<Router>, bfd_profiles: Vec<BfdProfile>) -> NodeIntent {
    NodeIntent {
        bfd_profiles,
        ..node(routers)
    }
}

/// MetalLB's full BFD profile of frr_bfd_test.go: rx 60, tx 70, multiplier 5, echo interval 90,
/// minimum TTL 60, echo and passive mode off.
fn full_profile(name: &str) -> BfdProfile {
    BfdProfile {
        name: name.into(),
        receive_interval: Some(60),
        transmit_interval: Some(70),
        detect_multiplier: Some(5),
        echo_interval: Some(90),
        echo_mode: false,
        passive_mode: false,
        minimum_ttl: Some(60),
    }
}

const FULL_PROFILE_LINES: &[&str] = &[
    "receive-interval 60",
    "transmit-interval 70",
    "detect-multiplier 5",
    "echo receive-interval 90",
    "echo transmit-interval 90",
    "minimum-ttl 60",
];

// ---------------------------------------------------------------- the table

struct Row {
    /// The MetalLB test's name.
    name: &'static str,
    source: &'static str,
    /// Counted, not run.
    skip: Option<&'static str>,
    intent: fn() -> NodeIntent,
    expect: Vec<Fact>,
    pending: Option<&'static str>,
    /// MetalLB's bgpextras text, handed to the renderer beside the intent.
    extras: Option<&'static str>,
}

/// A row to run; one with `Todo` facts needs a [`pending`] reason.
fn row(
    name: &'static str,
    source: &'static str,
    intent: fn() -> NodeIntent,
    expect: Vec<Fact>,
) -> Row {
    Row {
        name,
        source,
        skip: None,
        intent,
        expect,
        pending: None,
        extras: None,
    }
}

fn skipped(name: &'static str, source: &'static str, why: &'static str) -> Row {
    Row {
        name,
        source,
        skip: Some(why),
        intent: NodeIntent::default,
        expect: Vec::new(),
        pending: None,
        extras: None,
    }
}

#[allow(dead_code)] // for facts ferrule cannot meet yet; none today
fn pending(mut r: Row, reason: &'static str) -> Row {
    r.pending = Some(reason);
    r
}

/// Session facts of the baseline neighbor 192.0.2.254 (without multihop).
fn baseline_session_lines() -> Vec<Fact> {
    vec![
        Line("neighbor 192.0.2.254 remote-as 200"),
        // Port 179 is BGP's default: FRR never prints it.
        Absent("192.0.2.254 port"),
        Line("neighbor 192.0.2.254 timers 1 3"),
        Line("neighbor 192.0.2.254 password password"),
        Line("neighbor 192.0.2.254 update-source 192.0.2.1"),
    ]
}

fn v4_only(vrf: Option<&'static str>, neighbor: &'static str) -> Fact {
    Activated {
        vrf,
        neighbor,
        families: &["ipv4"],
    }
}

/// The ten prefixes of TestManyAdvertisementsSameCommunity (172.16.1.0-9).
const TEN: &[&str] = &[
    "203.0.113.0/32",
    "203.0.113.1/32",
    "203.0.113.2/32",
    "203.0.113.3/32",
    "203.0.113.4/32",
    "203.0.113.5/32",
    "203.0.113.6/32",
    "203.0.113.7/32",
    "203.0.113.8/32",
    "203.0.113.9/32",
];

fn rows() -> Vec<Row> {
    vec![
        // ------------------------------------------------------------ frr_test.go
        row(
            "TestSingleEBGPSessionMultiHop",
            "metallb internal/bgp/frr/frr_test.go TestSingleEBGPSessionMultiHop",
            || node(vec![router_100(vec![baseline()])]),
            [
                nht(),
                router_lines("router bgp 100", Some("bgp router-id 192.0.2.1")),
                baseline_session_lines(),
                vec![
                    // MetalLB's bare `ebgp-multihop` is TTL 255, which FRR prints with the number.
                    Line("neighbor 192.0.2.254 ebgp-multihop 255"),
                    v4_only(None, "192.0.2.254"),
                    Count("network ", 0),
                    SentOnly {
                        vrf: None,
                        neighbor: "192.0.2.254",
                        prefixes: &[],
                    },
                    Absent("disable-connected-check"),
                    Absent("bfd"),
                ],
            ]
            .concat(),
        ),
        row(
            "TestSingleEBGPSessionOneHop",
            "metallb internal/bgp/frr/frr_test.go TestSingleEBGPSessionOneHop",
            || {
                node(vec![router_100(vec![session(
                    "test-peer",
                    "192.0.2.2",
                    200,
                    Some("192.0.2.1"),
                )])])
            },
            [
                nht(),
                router_lines("router bgp 100", Some("bgp router-id 192.0.2.1")),
                vec![
                    Line("neighbor 192.0.2.2 remote-as 200"),
                    Absent("ebgp-multihop"),
                    Line("neighbor 192.0.2.2 timers 1 3"),
                    Line("neighbor 192.0.2.2 password password"),
                    Line("neighbor 192.0.2.2 update-source 192.0.2.1"),
                    v4_only(None, "192.0.2.2"),
                    // IPv4 single-hop eBGP never gets it.
                    Absent("disable-connected-check"),
                ],
            ]
            .concat(),
        ),
        row(
            "TestSingleIPv6EBGPSessionOneHop",
            "metallb internal/bgp/frr/frr_test.go TestSingleIPv6EBGPSessionOneHop",
            || {
                node(vec![router_100(vec![session(
                    "test-peer",
                    "2001:db8::2",
                    200,
                    Some("2001:db8:1::254"),
                )])])
            },
            [
                nht(),
                router_lines("router bgp 100", Some("bgp router-id 192.0.2.1")),
                vec![
                    Line("neighbor 2001:db8::2 remote-as 200"),
                    Absent("ebgp-multihop"),
                    Line("neighbor 2001:db8::2 timers 1 3"),
                    Line("neighbor 2001:db8::2 password password"),
                    Line("neighbor 2001:db8::2 update-source 2001:db8:1::254"),
                    Activated {
                        vrf: None,
                        neighbor: "2001:db8::2",
                        families: &["ipv6"],
                    },
                    Line("neighbor 2001:db8::2 disable-connected-check"),
                ],
            ]
            .concat(),
        ),
        row(
            "TestSingleIBGPSession",
            "metallb internal/bgp/frr/frr_test.go TestSingleIBGPSession",
            || {
                node(vec![router_100(vec![session(
                    "test-peer",
                    "192.0.2.254",
                    100,
                    Some("192.0.2.1"),
                )])])
            },
            [
                nht(),
                router_lines("router bgp 100", Some("bgp router-id 192.0.2.1")),
                vec![
                    Line("neighbor 192.0.2.254 remote-as 100"),
                    Absent("ebgp-multihop"),
                    Line("neighbor 192.0.2.254 timers 1 3"),
                    Line("neighbor 192.0.2.254 password password"),
                    Line("neighbor 192.0.2.254 update-source 192.0.2.1"),
                    v4_only(None, "192.0.2.254"),
                    Absent("disable-connected-check"),
                ],
            ]
            .concat(),
        ),
        row(
            "TestSingleIPv6IBGPSession",
            "metallb internal/bgp/frr/frr_test.go TestSingleIPv6IBGPSession",
            || {
                node(vec![router_100(vec![connect_1s(session(
                    "test-peer",
                    "2001:db8:2::254",
                    100,
                    Some("2001:db8:1::254"),
                ))])])
            },
            [
                nht(),
                router_lines("router bgp 100", Some("bgp router-id 192.0.2.1")),
                vec![
                    Line("neighbor 2001:db8:2::254 remote-as 100"),
                    Line("neighbor 2001:db8:2::254 timers 1 3"),
                    Line("neighbor 2001:db8:2::254 timers connect 1"),
                    Line("neighbor 2001:db8:2::254 password password"),
                    Line("neighbor 2001:db8:2::254 update-source 2001:db8:1::254"),
                    Activated {
                        vrf: None,
                        neighbor: "2001:db8:2::254",
                        families: &["ipv6"],
                    },
                    // iBGP: the peer AS equals the router's.
                    Absent("disable-connected-check"),
                ],
            ]
            .concat(),
        ),
        row(
            "TestSingleSessionClose",
            "metallb internal/bgp/frr/frr_test.go TestSingleSessionClose",
            // The baseline session, then closed: nothing left.
            || node(vec![]),
            [
                nht(),
                vec![
                    Count("router bgp", 0),
                    Count("route-map", 0),
                    Absent("neighbor"),
                    Absent("bfd"),
                ],
            ]
            .concat(),
        ),
        row(
            "TestSingleSessionWithGracefulRestart",
            "metallb internal/bgp/frr/frr_test.go TestSingleSessionWithGracefulRestart",
            || {
                node(vec![router(
                    102,
                    Some("192.0.2.1"),
                    None,
                    vec![with(peer("test-peer", "192.0.2.254", 100), |n| {
                        n.port = Some(179);
                        n.source_address = Some(ip("192.0.2.1"));
                        n.graceful_restart = true;
                    })],
                )])
            },
            [
                nht(),
                router_lines("router bgp 102", Some("bgp router-id 192.0.2.1")),
                vec![
                    Within("router bgp 102", "bgp graceful-restart preserve-fw-state"),
                    Line("neighbor 192.0.2.254 remote-as 100"),
                    Line("neighbor 192.0.2.254 update-source 192.0.2.1"),
                    Line("neighbor 192.0.2.254 graceful-restart"),
                    Absent("timers"),
                    Absent("password"),
                    Absent("ebgp-multihop"),
                    v4_only(None, "192.0.2.254"),
                ],
            ]
            .concat(),
        ),
        row(
            "TestSingleSessionWithLocalASN",
            "metallb internal/bgp/frr/frr_test.go TestSingleSessionWithLocalASN",
            || {
                node(vec![router_100(vec![with(
                    session("test-peer", "192.0.2.254", 200, Some("192.0.2.1")),
                    |n| n.local_as = Some(65410),
                )])])
            },
            [
                nht(),
                // The router keeps myASN; the local AS is the session's only.
                router_lines("router bgp 100", Some("bgp router-id 192.0.2.1")),
                baseline_session_lines(),
                vec![
                    Line("neighbor 192.0.2.254 local-as 65410 no-prepend replace-as"),
                    Count("router bgp", 1),
                    Absent("ebgp-multihop"),
                    v4_only(None, "192.0.2.254"),
                ],
            ]
            .concat(),
        ),
        row(
            "TestTwoSessions",
            "metallb internal/bgp/frr/frr_test.go TestTwoSessions",
            || {
                node(vec![
                    router_100(vec![connect_1s(baseline())]),
                    router(
                        300,
                        Some("198.51.100.1"),
                        None,
                        vec![connect_1s(multihop(session(
                            "test-peer1",
                            "198.51.100.255",
                            400,
                            Some("198.51.100.1"),
                        )))],
                    ),
                ])
            },
            // MetalLB renders `router bgp 100` and `router bgp 300` side by side in the default
            // VRF; bgpd refuses the second ("BGP is already running; AS is 100"), so ferrule
            // runs one router per VRF and rejects this (its validation rejects the second peer).
            vec![RenderError("two BGP routers for the default VRF")],
        ),
        row(
            "TestTwoIPv6Sessions",
            "metallb internal/bgp/frr/frr_test.go TestTwoIPv6Sessions",
            || {
                node(vec![
                    router_100(vec![session(
                        "test-peer",
                        "2001:db8:2::254",
                        200,
                        Some("2001:db8:1::254"),
                    )]),
                    router(
                        300,
                        Some("198.51.100.1"),
                        None,
                        vec![session(
                            "test-peer1",
                            "2001:db8:4::255",
                            400,
                            Some("2001:db8:3::254"),
                        )],
                    ),
                ])
            },
            // Two routers in the default VRF, as in TestTwoSessions.
            vec![RenderError("two BGP routers for the default VRF")],
        ),
        row(
            "TestIPv4AndIPv6SessionsDualStackFamily",
            "metallb internal/bgp/frr/frr_test.go TestIPv4AndIPv6SessionsDualStackFamily",
            || {
                node(vec![
                    router_100(vec![with(
                        session("test-peer", "2001:db8:2::254", 200, Some("2001:db8:1::254")),
                        |n| n.ipv4 = true,
                    )]),
                    router(
                        300,
                        Some("198.51.100.1"),
                        None,
                        vec![with(
                            multihop(session(
                                "test-peer1",
                                "198.51.100.255",
                                400,
                                Some("198.51.100.1"),
                            )),
                            |n| n.ipv6 = true,
                        )],
                    ),
                ])
            },
            // Two routers in the default VRF, as in TestTwoSessions.
            vec![RenderError("two BGP routers for the default VRF")],
        ),
        row(
            "TestTwoSessionsDuplicate",
            "metallb internal/bgp/frr/frr_test.go TestTwoSessionsDuplicate",
            || {
                node(vec![router_100(vec![
                    with(baseline(), |n| n.peer = "test-peer1".into()),
                    with(baseline(), |n| n.peer = "test-peer2".into()),
                ])])
            },
            // MetalLB's session map silently keeps one of two identical sessions; ferrule's
            // validation rejects a second BGPPeer for one address and the renderer refuses a
            // neighbor twice.
            vec![RenderError("configured twice")],
        ),
        row(
            "TestTwoSessionsDuplicateRouter",
            "metallb internal/bgp/frr/frr_test.go TestTwoSessionsDuplicateRouter",
            || {
                node(vec![router_100(vec![
                    baseline(),
                    multihop(session(
                        "test-peer1",
                        "198.51.100.255",
                        400,
                        Some("192.0.2.1"),
                    )),
                ])])
            },
            [
                nht(),
                router_lines("router bgp 100", Some("bgp router-id 192.0.2.1")),
                baseline_session_lines(),
                vec![
                    Count("router bgp", 1),
                    Line("neighbor 192.0.2.254 ebgp-multihop 255"),
                    Line("neighbor 198.51.100.255 remote-as 400"),
                    Line("neighbor 198.51.100.255 ebgp-multihop 255"),
                    Line("neighbor 198.51.100.255 timers 1 3"),
                    Line("neighbor 198.51.100.255 password password"),
                    Line("neighbor 198.51.100.255 update-source 192.0.2.1"),
                    v4_only(None, "192.0.2.254"),
                    v4_only(None, "198.51.100.255"),
                ],
            ]
            .concat(),
        ),
        row(
            "TestSingleAdvertisement",
            "metallb internal/bgp/frr/frr_test.go TestSingleAdvertisement",
            || {
                node(vec![router_100(vec![announcing(
                    connect_1s(baseline()),
                    vec![ann(
                        "203.0.113.10/32",
                        &["1111:2222", "3333:4444"],
                        Some(300),
                    )],
                )])])
            },
            [
                nht(),
                router_lines("router bgp 100", Some("bgp router-id 192.0.2.1")),
                baseline_session_lines(),
                vec![
                    Line("neighbor 192.0.2.254 timers connect 1"),
                    Sent {
                        vrf: None,
                        neighbor: "192.0.2.254",
                        prefix: "203.0.113.10/32",
                        communities: &["1111:2222", "3333:4444"],
                        local_pref: Some(300),
                    },
                    SentOnly {
                        vrf: None,
                        neighbor: "192.0.2.254",
                        prefixes: &["203.0.113.10/32"],
                    },
                ],
            ]
            .concat(),
        ),
        row(
            "TestSingleAdvertisementNoRouterID",
            "metallb internal/bgp/frr/frr_test.go TestSingleAdvertisementNoRouterID",
            || {
                node(vec![router(
                    100,
                    None,
                    None,
                    vec![announcing(
                        baseline(),
                        vec![ann("203.0.113.10/32", &[], None)],
                    )],
                )])
            },
            [
                nht(),
                router_lines("router bgp 100", None),
                baseline_session_lines(),
                vec![Sent {
                    vrf: None,
                    neighbor: "192.0.2.254",
                    prefix: "203.0.113.10/32",
                    communities: &[],
                    local_pref: None,
                }],
            ]
            .concat(),
        ),
        row(
            "TestSingleAdvertisementStop",
            "metallb internal/bgp/frr/frr_test.go TestSingleAdvertisementStop",
            // 172.16.1.10 advertised, then an empty Set: nothing left to announce.
            || node(vec![router_100(vec![baseline()])]),
            [
                nht(),
                vec![
                    SameAs("TestSingleEBGPSessionMultiHop"),
                    Count("network ", 0),
                    NotSent {
                        vrf: None,
                        neighbor: "192.0.2.254",
                        prefix: "203.0.113.10/32",
                    },
                ],
            ]
            .concat(),
        ),
        row(
            "TestSingleAdvertisementChange",
            "metallb internal/bgp/frr/frr_test.go TestSingleAdvertisementChange",
            // Set(172.16.1.10), then Set(172.16.1.11): a Set replaces.
            || {
                node(vec![router_100(vec![announcing(
                    baseline(),
                    vec![ann("203.0.113.11/32", &[], None)],
                )])])
            },
            [
                nht(),
                vec![
                    SentOnly {
                        vrf: None,
                        neighbor: "192.0.2.254",
                        prefixes: &["203.0.113.11/32"],
                    },
                    NotSent {
                        vrf: None,
                        neighbor: "192.0.2.254",
                        prefix: "203.0.113.10/32",
                    },
                    Count("network ", 1),
                ],
            ]
            .concat(),
        ),
        row(
            "TestTwoAdvertisements",
            "metallb internal/bgp/frr/frr_test.go TestTwoAdvertisements",
            || {
                node(vec![router_100(vec![announcing(
                    baseline(),
                    vec![
                        ann("203.0.113.10/32", &["1111:2222"], None),
                        ann("203.0.113.11/32", &[], None),
                    ],
                )])])
            },
            [
                nht(),
                vec![
                    // The community goes only with the prefix that carries it.
                    Sent {
                        vrf: None,
                        neighbor: "192.0.2.254",
                        prefix: "203.0.113.10/32",
                        communities: &["1111:2222"],
                        local_pref: None,
                    },
                    Sent {
                        vrf: None,
                        neighbor: "192.0.2.254",
                        prefix: "203.0.113.11/32",
                        communities: &[],
                        local_pref: None,
                    },
                    Count("network ", 2),
                ],
            ]
            .concat(),
        ),
        row(
            "TestTwoAdvertisementsDuplicate",
            "metallb internal/bgp/frr/frr_test.go TestTwoAdvertisementsDuplicate",
            // Two advertisements of one prefix: a NodeIntent holds one announcement per prefix
            // and neighbor (advertisements selecting it are merged), as MetalLB's prefix set does.
            || {
                node(vec![router_100(vec![announcing(
                    baseline(),
                    vec![ann("203.0.113.10/32", &[], None)],
                )])])
            },
            [
                nht(),
                vec![
                    SentOnly {
                        vrf: None,
                        neighbor: "192.0.2.254",
                        prefixes: &["203.0.113.10/32"],
                    },
                    Count("network 203.0.113.10/32", 1),
                ],
            ]
            .concat(),
        ),
        row(
            "TestTwoAdvertisementsTwoSessions",
            "metallb internal/bgp/frr/frr_test.go TestTwoAdvertisementsTwoSessions",
            || {
                let advs = |n| {
                    announcing(
                        connect_1s(n),
                        vec![
                            ann("203.0.113.10/32", &["1111:2222"], None),
                            ann("203.0.113.11/32", &["1111:2222"], Some(2)),
                        ],
                    )
                };
                node(vec![router_100(vec![
                    advs(baseline()),
                    advs(multihop(session(
                        "test-peer1",
                        "192.0.2.255",
                        200,
                        Some("192.0.2.1"),
                    ))),
                ])])
            },
            [
                nht(),
                vec![
                    // MetalLB shuffles sessions and advertisements 100 times; the config must
                    // not depend on their order.
                    AnyOrder,
                    Count("router bgp", 1),
                    Line("neighbor 192.0.2.254 timers connect 1"),
                    Line("neighbor 192.0.2.255 timers connect 1"),
                    Sent {
                        vrf: None,
                        neighbor: "192.0.2.254",
                        prefix: "203.0.113.10/32",
                        communities: &["1111:2222"],
                        local_pref: None,
                    },
                    Sent {
                        vrf: None,
                        neighbor: "192.0.2.254",
                        prefix: "203.0.113.11/32",
                        communities: &["1111:2222"],
                        local_pref: Some(2),
                    },
                    Sent {
                        vrf: None,
                        neighbor: "192.0.2.255",
                        prefix: "203.0.113.10/32",
                        communities: &["1111:2222"],
                        local_pref: None,
                    },
                    Sent {
                        vrf: None,
                        neighbor: "192.0.2.255",
                        prefix: "203.0.113.11/32",
                        communities: &["1111:2222"],
                        local_pref: Some(2),
                    },
                    // One `network` per prefix, however many neighbors get it.
                    Count("network 203.0.113.10/32", 1),
                    Count("network 203.0.113.11/32", 1),
                ],
            ]
            .concat(),
        ),
        Row {
            extras: Some("# hello"),
            ..row(
                "TestSingleSessionExtras",
                "metallb internal/bgp/frr/frr_test.go TestSingleSessionExtras",
                || {
                    node(vec![router_100(vec![connect_1s(session(
                        "test-peer",
                        "192.0.2.2",
                        200,
                        Some("192.0.2.1"),
                    ))])])
                },
                [
                    nht(),
                    vec![
                        Line("neighbor 192.0.2.2 remote-as 200"),
                        Line("neighbor 192.0.2.2 timers 1 3"),
                        Line("neighbor 192.0.2.2 timers connect 1"),
                        Line("neighbor 192.0.2.2 password password"),
                        Line("neighbor 192.0.2.2 update-source 192.0.2.1"),
                        v4_only(None, "192.0.2.2"),
                        // Appended verbatim, the very last thing in the file.
                        LastLine("# hello"),
                    ],
                ]
                .concat(),
            )
        },
        skipped(
            "TestLoggingConfiguration",
            "metallb internal/bgp/frr/frr_test.go TestLoggingConfiguration",
            "log level plumbing (`log stdout warnings`): ferrule renders no logging config",
        ),
        skipped(
            "TestLoggingConfigurationDebug",
            "metallb internal/bgp/frr/frr_test.go TestLoggingConfigurationDebug",
            "log level plumbing (debug lines): ferrule renders no logging config",
        ),
        skipped(
            "TestLoggingConfigurationOverrideByEnvironmentVar",
            "metallb internal/bgp/frr/frr_test.go TestLoggingConfigurationOverrideByEnvironmentVar",
            "FRR_LOGGING_LEVEL environment override: ferrule renders no logging config",
        ),
        row(
            "TestLargeCommunities",
            "metallb internal/bgp/frr/frr_test.go TestLargeCommunities",
            || {
                node(vec![router_100(vec![announcing(
                    baseline(),
                    vec![ann(
                        "203.0.113.10/32",
                        &["1111:2222:3333", "2222:3333:4444", "3333:4444"],
                        Some(300),
                    )],
                )])])
            },
            [
                nht(),
                vec![Sent {
                    vrf: None,
                    neighbor: "192.0.2.254",
                    prefix: "203.0.113.10/32",
                    communities: &["1111:2222:3333", "2222:3333:4444", "3333:4444"],
                    local_pref: Some(300),
                }],
            ]
            .concat(),
        ),
        row(
            "TestManyAdvertisementsSameCommunity",
            "metallb internal/bgp/frr/frr_test.go TestManyAdvertisementsSameCommunity",
            || {
                let anns = TEN.iter().map(|p| ann(p, &["1111:2222"], None)).collect();
                node(vec![router_100(vec![announcing(
                    connect_1s(baseline()),
                    anns,
                )])])
            },
            [
                nht(),
                TEN.iter()
                    .map(|&p| Sent {
                        vrf: None,
                        neighbor: "192.0.2.254",
                        prefix: p,
                        communities: &["1111:2222"],
                        local_pref: None,
                    })
                    .collect(),
                vec![
                    Line("neighbor 192.0.2.254 timers connect 1"),
                    Count("network ", 10),
                    // MetalLB: one prefix-list and route-map entry for the community, however
                    // many prefixes carry it; ferrule: one permit entry for the class.
                    Count("route-map ferrule-192.0.2.254-out permit", 1),
                ],
            ]
            .concat(),
        ),
        row(
            "TestSingleSessionWithNoTimers",
            "metallb internal/bgp/frr/frr_test.go TestSingleSessionWithNoTimers",
            || {
                node(vec![router(
                    102,
                    None,
                    None,
                    vec![with(peer("test-peer", "192.0.2.254", 100), |n| {
                        n.port = Some(179)
                    })],
                )])
            },
            [
                nht(),
                router_lines("router bgp 102", None),
                vec![
                    Line("neighbor 192.0.2.254 remote-as 100"),
                    Absent("timers"),
                    Absent("password"),
                    Absent("update-source"),
                    v4_only(None, "192.0.2.254"),
                ],
            ]
            .concat(),
        ),
        row(
            "TestSingleSessionWithZeroTimers",
            "metallb internal/bgp/frr/frr_test.go TestSingleSessionWithZeroTimers",
            || {
                node(vec![router(
                    102,
                    None,
                    None,
                    vec![with(peer("test-peer", "192.0.2.254", 100), |n| {
                        n.port = Some(179);
                        n.timers = Some(Timers {
                            keepalive: 0,
                            hold: 0,
                        });
                    })],
                )])
            },
            [
                nht(),
                router_lines("router bgp 102", None),
                vec![
                    // Zero is set, not unset.
                    Line("neighbor 192.0.2.254 timers 0 0"),
                    Absent("timers connect"),
                    Absent("password"),
                    v4_only(None, "192.0.2.254"),
                ],
            ]
            .concat(),
        ),
        row(
            "TestSingleSessionWithInternalASN",
            "metallb internal/bgp/frr/frr_test.go TestSingleSessionWithInternalASN",
            || dynamic_asn_node(RemoteAs::Internal),
            [
                nht(),
                router_lines("router bgp 102", Some("bgp router-id 192.0.2.1")),
                vec![
                    Line("neighbor 192.0.2.254 remote-as internal"),
                    Line("neighbor 192.0.2.254 update-source 192.0.2.1"),
                    Line("neighbor 192.0.2.254 graceful-restart"),
                    Within("router bgp 102", "bgp graceful-restart preserve-fw-state"),
                    Absent("password"),
                    Absent("disable-connected-check"),
                    v4_only(None, "192.0.2.254"),
                ],
            ]
            .concat(),
        ),
        row(
            "TestSingleSessionWithExternalASN",
            "metallb internal/bgp/frr/frr_test.go TestSingleSessionWithExternalASN",
            || dynamic_asn_node(RemoteAs::External),
            [
                nht(),
                router_lines("router bgp 102", Some("bgp router-id 192.0.2.1")),
                vec![
                    Line("neighbor 192.0.2.254 remote-as external"),
                    Line("neighbor 192.0.2.254 update-source 192.0.2.1"),
                    Line("neighbor 192.0.2.254 graceful-restart"),
                    Within("router bgp 102", "bgp graceful-restart preserve-fw-state"),
                    Absent("password"),
                    // An IPv4 peer: external does not bring disable-connected-check.
                    Absent("disable-connected-check"),
                    v4_only(None, "192.0.2.254"),
                ],
            ]
            .concat(),
        ),
        row(
            "TestUnnumberedSession",
            "metallb internal/bgp/frr/frr_test.go TestUnnumberedSession",
            || {
                node(vec![router(
                    102,
                    Some("192.0.2.1"),
                    None,
                    vec![with(
                        Neighbor::new(
                            "test-peer",
                            PeerAddress::Interface("net0".into()),
                            RemoteAs::External,
                        ),
                        |n| {
                            n.port = Some(179);
                            n.source_address = Some(ip("192.0.2.1"));
                            n.graceful_restart = true;
                        },
                    )],
                )])
            },
            [
                nht(),
                router_lines("router bgp 102", Some("bgp router-id 192.0.2.1")),
                vec![
                    Line("neighbor net0 interface remote-as external"),
                    Line("neighbor net0 update-source 192.0.2.1"),
                    Line("neighbor net0 graceful-restart"),
                    Absent("net0 port"),
                    // An interface session carries both families.
                    Activated {
                        vrf: None,
                        neighbor: "net0",
                        families: &["ipv4", "ipv6"],
                    },
                    Absent("disable-connected-check"),
                ],
            ]
            .concat(),
        ),
        // ------------------------------------------------------------ frr_bfd_test.go
        row(
            "TestBFDProfileNoSessions",
            "metallb internal/bgp/frr/frr_bfd_test.go TestBFDProfileNoSessions",
            // ferrule's intent lists only the profiles some session uses; the renderer renders
            // every profile it is given, as MetalLB renders every synced one.
            || node_with_bfd(vec![], vec![full_profile("foo"), full_profile("bar")]),
            [
                nht(),
                vec![
                    Line("bfd"),
                    Stanza {
                        header: "profile bar",
                        lines: FULL_PROFILE_LINES,
                    },
                    Stanza {
                        header: "profile foo",
                        lines: FULL_PROFILE_LINES,
                    },
                    InOrder(&["profile bar", "profile foo"]),
                    // Echo intervals are there with echo mode off.
                    Absent("echo-mode"),
                    Absent("passive-mode"),
                    Count("router bgp", 0),
                ],
            ]
            .concat(),
        ),
        row(
            "TestBFDProfileCornerCases",
            "metallb internal/bgp/frr/frr_bfd_test.go TestBFDProfileCornerCases",
            || {
                node_with_bfd(
                    vec![],
                    vec![BfdProfile {
                        echo_mode: true,
                        passive_mode: true,
                        ..full_profile("foo")
                    }],
                )
            },
            [
                nht(),
                vec![
                    // MetalLB's test pins its template's line order; FRR does not care, and
                    // ferrule writes a profile's lines in the order FRR prints them.
                    Stanza {
                        header: "profile foo",
                        lines: &[
                            "receive-interval 60",
                            "transmit-interval 70",
                            "detect-multiplier 5",
                            "echo-mode",
                            "echo receive-interval 90",
                            "echo transmit-interval 90",
                            "passive-mode",
                            "minimum-ttl 60",
                        ],
                    },
                ],
            ]
            .concat(),
        ),
        row(
            "TestBFDWithSession",
            "metallb internal/bgp/frr/frr_bfd_test.go TestBFDWithSession",
            || {
                node_with_bfd(
                    vec![router_100(vec![with(baseline(), |n| {
                        // MetalLB: keepalive 2 s, hold 1 s (see the module docs).
                        n.timers = Some(timers(2));
                        n.bfd_profile = Some("foo".into());
                    })])],
                    vec![full_profile("foo"), full_profile("bar")],
                )
            },
            [
                nht(),
                router_lines("router bgp 100", Some("bgp router-id 192.0.2.1")),
                vec![
                    Line("neighbor 192.0.2.254 remote-as 200"),
                    Line("neighbor 192.0.2.254 ebgp-multihop 255"),
                    // Keepalive first, then hold.
                    Line("neighbor 192.0.2.254 timers 2 6"),
                    Line("neighbor 192.0.2.254 password password"),
                    Line("neighbor 192.0.2.254 update-source 192.0.2.1"),
                    Line("neighbor 192.0.2.254 bfd"),
                    Line("neighbor 192.0.2.254 bfd profile foo"),
                    v4_only(None, "192.0.2.254"),
                    Stanza {
                        header: "profile bar",
                        lines: FULL_PROFILE_LINES,
                    },
                    Stanza {
                        header: "profile foo",
                        lines: FULL_PROFILE_LINES,
                    },
                    InOrder(&["router bgp 100", "bfd"]),
                ],
            ]
            .concat(),
        ),
        row(
            "TestBFDProfileAllDefault",
            "metallb internal/bgp/frr/frr_bfd_test.go TestBFDProfileAllDefault",
            || {
                node_with_bfd(
                    vec![],
                    vec![
                        full_profile("foo"),
                        BfdProfile {
                            name: "bar".into(),
                            ..BfdProfile::default()
                        },
                    ],
                )
            },
            [
                nht(),
                vec![
                    Stanza {
                        header: "profile bar",
                        lines: &[],
                    },
                    Stanza {
                        header: "profile foo",
                        lines: FULL_PROFILE_LINES,
                    },
                ],
            ]
            .concat(),
        ),
        row(
            "TestBFDProfileThenDelete",
            "metallb internal/bgp/frr/frr_bfd_test.go TestBFDProfileThenDelete",
            // Profile foo synced, then an empty profile set.
            || node(vec![]),
            [
                nht(),
                vec![
                    Absent("bfd"),
                    Absent("profile"),
                    SameAs("TestSingleSessionClose"),
                ],
            ]
            .concat(),
        ),
        // ------------------------------------------------------------ frr_vrf_test.go
        row(
            "TestVRFSingleEBGPSessionMultiHop",
            "metallb internal/bgp/frr/frr_vrf_test.go TestVRFSingleEBGPSessionMultiHop",
            || {
                node(vec![router(
                    100,
                    Some("192.0.2.1"),
                    Some("red"),
                    vec![baseline()],
                )])
            },
            [
                nht(),
                router_lines("router bgp 100 vrf red", Some("bgp router-id 192.0.2.1")),
                baseline_session_lines(),
                vec![
                    Count("router bgp", 1),
                    // Inside the VRF's router the neighbor is still its bare address.
                    Within(
                        "router bgp 100 vrf red",
                        "neighbor 192.0.2.254 ebgp-multihop 255",
                    ),
                    v4_only(Some("red"), "192.0.2.254"),
                ],
            ]
            .concat(),
        ),
        row(
            "TestSingleVRFIBGPSession",
            "metallb internal/bgp/frr/frr_vrf_test.go TestSingleVRFIBGPSession",
            || {
                node(vec![router(
                    100,
                    Some("192.0.2.1"),
                    Some("red"),
                    vec![session("test-peer", "192.0.2.254", 100, Some("192.0.2.1"))],
                )])
            },
            [
                nht(),
                router_lines("router bgp 100 vrf red", Some("bgp router-id 192.0.2.1")),
                vec![
                    Within(
                        "router bgp 100 vrf red",
                        "neighbor 192.0.2.254 remote-as 100",
                    ),
                    Absent("ebgp-multihop"),
                    Line("neighbor 192.0.2.254 timers 1 3"),
                    Line("neighbor 192.0.2.254 password password"),
                    Line("neighbor 192.0.2.254 update-source 192.0.2.1"),
                    v4_only(Some("red"), "192.0.2.254"),
                ],
            ]
            .concat(),
        ),
        row(
            "TestTwoSessionsOneVRF",
            "metallb internal/bgp/frr/frr_vrf_test.go TestTwoSessionsOneVRF",
            || {
                node(vec![
                    router_100(vec![baseline()]),
                    router(
                        300,
                        Some("198.51.100.1"),
                        Some("red"),
                        vec![multihop(session(
                            "test-peer1",
                            "198.51.100.255",
                            400,
                            Some("198.51.100.1"),
                        ))],
                    ),
                ])
            },
            [
                nht(),
                router_lines("router bgp 100", Some("bgp router-id 192.0.2.1")),
                router_lines("router bgp 300 vrf red", Some("bgp router-id 198.51.100.1")),
                vec![
                    Within("router bgp 100", "neighbor 192.0.2.254 remote-as 200"),
                    Within(
                        "router bgp 300 vrf red",
                        "neighbor 198.51.100.255 remote-as 400",
                    ),
                    Within(
                        "router bgp 300 vrf red",
                        "neighbor 198.51.100.255 ebgp-multihop 255",
                    ),
                    Within(
                        "router bgp 300 vrf red",
                        "neighbor 198.51.100.255 update-source 198.51.100.1",
                    ),
                    Within(
                        "router bgp 300 vrf red",
                        "neighbor 198.51.100.255 timers 1 3",
                    ),
                    Absent("timers connect"),
                    v4_only(None, "192.0.2.254"),
                    v4_only(Some("red"), "198.51.100.255"),
                ],
            ]
            .concat(),
        ),
        row(
            "TestTwoSessionsSameIPVRF",
            "metallb internal/bgp/frr/frr_vrf_test.go TestTwoSessionsSameIPVRF",
            || {
                node(vec![
                    router_100(vec![baseline()]),
                    router(
                        300,
                        Some("198.51.100.1"),
                        Some("red"),
                        vec![multihop(session(
                            "test-peer1",
                            "192.0.2.254",
                            400,
                            Some("198.51.100.1"),
                        ))],
                    ),
                ])
            },
            [
                nht(),
                router_lines("router bgp 100", Some("bgp router-id 192.0.2.1")),
                router_lines("router bgp 300 vrf red", Some("bgp router-id 198.51.100.1")),
                vec![
                    // One address, two VRFs: two neighbors whose policies do not clash (the
                    // render would fail on a name collision, FRR on a mixed-up route-map).
                    Within("router bgp 100", "neighbor 192.0.2.254 remote-as 200"),
                    Within(
                        "router bgp 100",
                        "neighbor 192.0.2.254 update-source 192.0.2.1",
                    ),
                    Within(
                        "router bgp 300 vrf red",
                        "neighbor 192.0.2.254 remote-as 400",
                    ),
                    Within(
                        "router bgp 300 vrf red",
                        "neighbor 192.0.2.254 update-source 198.51.100.1",
                    ),
                    v4_only(None, "192.0.2.254"),
                    v4_only(Some("red"), "192.0.2.254"),
                ],
            ]
            .concat(),
        ),
        row(
            "TestTwoSessionsSameIPRouterIDASNVRF",
            "metallb internal/bgp/frr/frr_vrf_test.go TestTwoSessionsSameIPRouterIDASNVRF",
            || {
                let s = || multihop(session("test-peer", "192.0.2.254", 200, None));
                node(vec![
                    router(100, None, None, vec![s()]),
                    router(100, None, Some("red"), vec![s()]),
                ])
            },
            [
                nht(),
                router_lines("router bgp 100", None),
                router_lines("router bgp 100 vrf red", None),
                vec![
                    Count("router bgp", 2),
                    Within("router bgp 100", "neighbor 192.0.2.254 remote-as 200"),
                    Within(
                        "router bgp 100 vrf red",
                        "neighbor 192.0.2.254 remote-as 200",
                    ),
                    Within(
                        "router bgp 100 vrf red",
                        "neighbor 192.0.2.254 ebgp-multihop 255",
                    ),
                    Count("neighbor 192.0.2.254 timers 1 3", 2),
                    Count("neighbor 192.0.2.254 password password", 2),
                    Absent("update-source"),
                    v4_only(None, "192.0.2.254"),
                    v4_only(Some("red"), "192.0.2.254"),
                ],
            ]
            .concat(),
        ),
        row(
            "TestSingleAdvertisementVRF",
            "metallb internal/bgp/frr/frr_vrf_test.go TestSingleAdvertisementVRF",
            || {
                red_session(vec![ann(
                    "203.0.113.10/32",
                    &["1111:2222", "3333:4444"],
                    Some(300),
                )])
            },
            [
                nht(),
                router_lines("router bgp 100 vrf red", Some("bgp router-id 192.0.2.1")),
                baseline_session_lines(),
                vec![
                    Absent("ebgp-multihop"),
                    Absent("timers connect"),
                    Sent {
                        vrf: Some("red"),
                        neighbor: "192.0.2.254",
                        prefix: "203.0.113.10/32",
                        communities: &["1111:2222", "3333:4444"],
                        local_pref: Some(300),
                    },
                    SentOnly {
                        vrf: Some("red"),
                        neighbor: "192.0.2.254",
                        prefixes: &["203.0.113.10/32"],
                    },
                ],
            ]
            .concat(),
        ),
        row(
            "TestSingleAdvertisementChangeVRF",
            "metallb internal/bgp/frr/frr_vrf_test.go TestSingleAdvertisementChangeVRF",
            // Set(172.16.1.10), then Set(172.16.1.11).
            || red_session(vec![ann("203.0.113.11/32", &[], None)]),
            [
                nht(),
                vec![
                    SentOnly {
                        vrf: Some("red"),
                        neighbor: "192.0.2.254",
                        prefixes: &["203.0.113.11/32"],
                    },
                    NotSent {
                        vrf: Some("red"),
                        neighbor: "192.0.2.254",
                        prefix: "203.0.113.10/32",
                    },
                    Within("router bgp 100 vrf red", "address-family ipv4 unicast"),
                    Count("network ", 1),
                ],
            ]
            .concat(),
        ),
        row(
            "TestTwoAdvertisementsVRF",
            "metallb internal/bgp/frr/frr_vrf_test.go TestTwoAdvertisementsVRF",
            || {
                red_session(vec![
                    ann("203.0.113.10/32", &["1111:2222"], None),
                    ann("203.0.113.11/32", &[], None),
                ])
            },
            [
                nht(),
                vec![
                    Sent {
                        vrf: Some("red"),
                        neighbor: "192.0.2.254",
                        prefix: "203.0.113.10/32",
                        communities: &["1111:2222"],
                        local_pref: None,
                    },
                    Sent {
                        vrf: Some("red"),
                        neighbor: "192.0.2.254",
                        prefix: "203.0.113.11/32",
                        communities: &[],
                        local_pref: None,
                    },
                ],
            ]
            .concat(),
        ),
        row(
            "TestTwoAdvertisementsTwoSessionsOneVRF",
            "metallb internal/bgp/frr/frr_vrf_test.go TestTwoAdvertisementsTwoSessionsOneVRF",
            || {
                let advs = |n| {
                    announcing(
                        n,
                        vec![
                            ann("203.0.113.10/32", &["1111:2222"], None),
                            ann("203.0.113.11/32", &["1111:2222"], Some(2)),
                        ],
                    )
                };
                node(vec![
                    router_100(vec![advs(session(
                        "test-peer",
                        "192.0.2.254",
                        200,
                        Some("192.0.2.1"),
                    ))]),
                    router(
                        100,
                        Some("192.0.2.1"),
                        Some("red"),
                        vec![advs(session(
                            "test-peer1",
                            "192.0.2.255",
                            200,
                            Some("192.0.2.1"),
                        ))],
                    ),
                ])
            },
            [
                nht(),
                router_lines("router bgp 100", Some("bgp router-id 192.0.2.1")),
                router_lines("router bgp 100 vrf red", Some("bgp router-id 192.0.2.1")),
                vec![
                    Within("router bgp 100", "neighbor 192.0.2.254 remote-as 200"),
                    Within(
                        "router bgp 100 vrf red",
                        "neighbor 192.0.2.255 remote-as 200",
                    ),
                    // Each router originates the prefixes of its own neighbors: both, here.
                    Count("network 203.0.113.10/32", 2),
                    Count("network 203.0.113.11/32", 2),
                    Sent {
                        vrf: None,
                        neighbor: "192.0.2.254",
                        prefix: "203.0.113.10/32",
                        communities: &["1111:2222"],
                        local_pref: None,
                    },
                    Sent {
                        vrf: None,
                        neighbor: "192.0.2.254",
                        prefix: "203.0.113.11/32",
                        communities: &["1111:2222"],
                        local_pref: Some(2),
                    },
                    Sent {
                        vrf: Some("red"),
                        neighbor: "192.0.2.255",
                        prefix: "203.0.113.10/32",
                        communities: &["1111:2222"],
                        local_pref: None,
                    },
                    Sent {
                        vrf: Some("red"),
                        neighbor: "192.0.2.255",
                        prefix: "203.0.113.11/32",
                        communities: &["1111:2222"],
                        local_pref: Some(2),
                    },
                ],
            ]
            .concat(),
        ),
    ]
}

/// TestSingleSessionWith{Internal,External}ASN: AS 102, router ID and source 10.1.1.254, a
/// dynamic peer AS, graceful restart; no timers, password or multihop.
fn dynamic_asn_node(remote_as: RemoteAs) -> NodeIntent {
    let n = Neighbor::new("test-peer", PeerAddress::Ip(ip("192.0.2.254")), remote_as);
    node(vec![router(
        102,
        Some("192.0.2.1"),
        None,
        vec![with(n, |n| {
            n.port = Some(179);
            n.source_address = Some(ip("192.0.2.1"));
            n.graceful_restart = true;
        })],
    )])
}

/// frr_vrf_test.go's single-hop session in VRF red (router 100, router ID 10.1.1.254).
fn red_session(anns: Vec<Announcement>) -> NodeIntent {
    node(vec![router(
        100,
        Some("192.0.2.1"),
        Some("red"),
        vec![announcing(
            session("test-peer", "192.0.2.254", 200, Some("192.0.2.1")),
            anns,
        )],
    )])
}

// ---------------------------------------------------------------- checking a fact

fn norm(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The lines inside the stanza opened by `header` (normalised, `exit` and `!` left out), or
/// `None` without such a stanza.
fn stanza(config: &str, header: &str) -> Option<Vec<String>> {
    let lines: Vec<&str> = config.lines().collect();
    let start = lines.iter().position(|l| norm(l) == header)?;
    let depth = indent(lines[start]);
    Some(
        lines[start + 1..]
            .iter()
            .take_while(|l| l.trim().is_empty() || indent(l) > depth)
            .map(|l| norm(l))
            .filter(|l| !l.is_empty() && l != "exit" && l != "!")
            .collect(),
    )
}

/// (VRF, neighbor) -> the address families it is activated in.
fn activations(config: &str) -> BTreeMap<(Option<String>, String), BTreeSet<String>> {
    let mut out: BTreeMap<_, BTreeSet<String>> = BTreeMap::new();
    let (mut vrf, mut afi) = (None, None);
    for line in config.lines() {
        match line.split_whitespace().collect::<Vec<_>>()[..] {
            ["router", "bgp", _] => vrf = None,
            ["router", "bgp", _, "vrf", v] => vrf = Some(v.to_owned()),
            ["address-family", a, "unicast"] => afi = Some(a.to_owned()),
            ["exit-address-family"] => afi = None,
            ["neighbor", id, "activate"] => {
                let afi = afi.clone().expect("activate inside an address family");
                out.entry((vrf.clone(), id.to_owned()))
                    .or_default()
                    .insert(afi);
            }
            _ => {}
        }
    }
    out
}

/// What the neighbor of the router in `vrf` is sent.
fn sent_to(config: &str, vrf: Option<&str>, neighbor: &str) -> Result<SentMap, String> {
    let index = router_vrfs(config)
        .iter()
        .position(|v| v.as_deref() == vrf)
        .ok_or_else(|| format!("no router in VRF {vrf:?}"))?;
    simulate(config)
        .remove(&(index, neighbor.to_owned()))
        .ok_or_else(|| format!("neighbor {neighbor} has no outbound policy in VRF {vrf:?}"))
}

/// Every order of `0..n` for small `n`; for larger ones the identity and its reverse.
fn orders(n: usize) -> Vec<Vec<usize>> {
    if n > 4 {
        return vec![(0..n).collect(), (0..n).rev().collect()];
    }
    let mut all = vec![vec![]];
    for _ in 0..n {
        all = all
            .into_iter()
            .flat_map(|p: Vec<usize>| {
                (0..n)
                    .filter(|i| !p.contains(i))
                    .map(|i| [p.clone(), vec![i]].concat())
                    .collect::<Vec<_>>()
            })
            .collect();
    }
    all
}

fn reorder<T: Clone>(items: &[T], order: &[usize]) -> Vec<T> {
    order.iter().map(|&i| items[i].clone()).collect()
}

/// The intent with neighbors and announcements listed in every order (each router's
/// neighbors, each neighbor's announcements).
fn reorderings(intent: &NodeIntent) -> Vec<NodeIntent> {
    let mut out = vec![intent.clone()];
    for r in 0..intent.routers.len() {
        for n in 0..intent.routers[r].neighbors.len() {
            out = out
                .into_iter()
                .flat_map(|i| {
                    let anns = i.routers[r].neighbors[n].announcements.clone();
                    orders(anns.len())
                        .into_iter()
                        .map(move |o| {
                            let mut j = i.clone();
                            j.routers[r].neighbors[n].announcements = reorder(&anns, &o);
                            j
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
        }
        out = out
            .into_iter()
            .flat_map(|i| {
                let neighbors = i.routers[r].neighbors.clone();
                orders(neighbors.len())
                    .into_iter()
                    .map(move |o| {
                        let mut j = i.clone();
                        j.routers[r].neighbors = reorder(&neighbors, &o);
                        j
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
    }
    out
}

fn check(
    fact: &Fact,
    intent: &NodeIntent,
    rendered: &Result<String, RenderError>,
    rows: &[Row],
) -> Result<(), String> {
    let config = match (fact, rendered) {
        (RenderError(want), Err(e)) => {
            let msg = e.to_string();
            return if msg.contains(want) {
                Ok(())
            } else {
                Err(format!("the error {msg:?} does not say {want:?}"))
            };
        }
        (RenderError(_), Ok(_)) => return Err("rendered instead of failing".into()),
        (_, Err(e)) => return Err(format!("render failed: {e}")),
        (_, Ok(config)) => config.as_str(),
    };
    let lines: Vec<String> = config.lines().map(norm).collect();
    let prefix = |p: &str| p.parse::<ipnet::IpNet>().unwrap();
    match fact {
        Line(want) => lines
            .iter()
            .any(|l| l == want)
            .then_some(())
            .ok_or_else(|| "no such line".into()),
        Absent(text) => match lines.iter().find(|l| l.contains(text)) {
            Some(l) => Err(format!("found in {l:?}")),
            None => Ok(()),
        },
        Count(start, want) => {
            let n = lines.iter().filter(|l| l.starts_with(start)).count();
            (n == *want)
                .then_some(())
                .ok_or_else(|| format!("{n} lines start with it"))
        }
        InOrder(want) => {
            let mut rest = lines.iter();
            for w in *want {
                if !rest.any(|l| l == w) {
                    return Err(format!("{w:?} missing or out of order"));
                }
            }
            Ok(())
        }
        Within(header, want) => {
            let inside = stanza(config, header).ok_or("no such stanza")?;
            inside
                .iter()
                .any(|l| l == want)
                .then_some(())
                .ok_or_else(|| format!("the stanza holds {inside:?}"))
        }
        Stanza {
            header,
            lines: want,
        } => {
            let inside: BTreeSet<String> = stanza(config, header)
                .ok_or("no such stanza")?
                .into_iter()
                .collect();
            let want: BTreeSet<String> = want.iter().map(|l| norm(l)).collect();
            (inside == want)
                .then_some(())
                .ok_or_else(|| format!("the stanza holds {inside:?}"))
        }
        LastLine(want) => match lines.iter().rev().find(|l| !l.is_empty()) {
            Some(l) if l == want => Ok(()),
            last => Err(format!("the last line is {last:?}")),
        },
        Activated {
            vrf,
            neighbor,
            families,
        } => {
            let key = (vrf.map(str::to_owned), neighbor.to_string());
            let got = activations(config).remove(&key).unwrap_or_default();
            let want: BTreeSet<String> = families.iter().map(|f| f.to_string()).collect();
            (got == want)
                .then_some(())
                .ok_or_else(|| format!("activated in {got:?}"))
        }
        Sent {
            vrf,
            neighbor,
            prefix: p,
            communities,
            local_pref,
        } => {
            let sent = sent_to(config, *vrf, neighbor)?;
            let want = (
                communities.iter().map(|c| community(c)).collect(),
                *local_pref,
            );
            match sent.get(&prefix(p)) {
                Some(got) if *got == want => Ok(()),
                Some(got) => Err(format!("sent with {got:?}")),
                None => Err(format!("not sent (sent: {:?})", sent.keys())),
            }
        }
        NotSent {
            vrf,
            neighbor,
            prefix: p,
        } => match sent_to(config, *vrf, neighbor)?.get(&prefix(p)) {
            Some(got) => Err(format!("sent with {got:?}")),
            None => Ok(()),
        },
        SentOnly {
            vrf,
            neighbor,
            prefixes,
        } => {
            let got: BTreeSet<ipnet::IpNet> =
                sent_to(config, *vrf, neighbor)?.into_keys().collect();
            let want: BTreeSet<ipnet::IpNet> = prefixes.iter().map(|p| prefix(p)).collect();
            (got == want)
                .then_some(())
                .ok_or_else(|| format!("sent {got:?}"))
        }
        SameAs(other) => {
            let other = rows
                .iter()
                .find(|r| r.name == *other)
                .ok_or("no such row")?;
            let theirs = render(&(other.intent)()).map_err(|e| e.to_string())?;
            (theirs == config)
                .then_some(())
                .ok_or_else(|| "the configs differ".into())
        }
        AnyOrder => {
            for variant in reorderings(intent) {
                let again = render(&variant).map_err(|e| e.to_string())?;
                if again != config {
                    return Err(format!(
                        "differs with this order:\n{}",
                        pretty_assertions::StrComparison::new(config, &again)
                    ));
                }
            }
            Ok(())
        }
        RenderError(_) => unreachable!("handled above"),
        Todo(_) => unreachable!("the runner unwraps pending facts"),
    }
}

// ---------------------------------------------------------------- golden files

fn golden_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/metallb_frr")
}

// ---------------------------------------------------------------- the runner

#[test]
fn metallb_frr_scenarios() {
    let rows = rows();
    let mut failures: Vec<String> = Vec::new();

    // The table is MetalLB's three test files, one row per test.
    let per_file = |file: &str| {
        rows.iter()
            .filter(|r| r.source.contains(&format!("/{file} ")))
            .count()
    };
    assert_eq!(
        (
            rows.len(),
            per_file("frr_test.go"),
            per_file("frr_bfd_test.go"),
            per_file("frr_vrf_test.go")
        ),
        (45, 31, 5, 9)
    );
    let names: BTreeSet<&str> = rows.iter().map(|r| r.name).collect();
    assert_eq!(names.len(), rows.len(), "row names are unique");
    for r in &rows {
        assert!(
            r.source.starts_with("metallb internal/bgp/frr/")
                && r.source.ends_with(&format!(" {}", r.name)),
            "{}: source {:?} must cite the MetalLB test",
            r.name,
            r.source
        );
    }

    let (mut run, mut pending, mut skipped) = (0, 0, 0);
    let mut goldens = BTreeSet::new();
    for row in &rows {
        if let Some(why) = row.skip {
            println!("SKIP {}: {why}", row.name);
            skipped += 1;
            continue;
        }
        run += 1;
        if row.expect.is_empty() {
            failures.push(format!("{}: no facts", row.name));
        }
        let intent = (row.intent)();
        let rendered = match row.extras {
            None => render(&intent),
            Some(extras) => render_node(&intent, Some(extras)).map(|r| r.text),
        };
        let wants_error = row.expect.iter().any(|f| matches!(f, RenderError(_)));
        if let (Ok(config), false) = (&rendered, wants_error) {
            goldens.insert(format!("{}.conf", row.name));
            if let Err(e) = check_golden(&golden_dir(), row.name, config) {
                failures.push(e);
            }
        }
        let (mut todo_hold, mut todo_fail) = (Vec::new(), Vec::new());
        for fact in &row.expect {
            match fact {
                Todo(inner) => match check(inner, &intent, &rendered, &rows) {
                    Ok(()) => todo_hold.push(inner),
                    Err(why) => todo_fail.push((inner, why)),
                },
                _ => {
                    if let Err(why) = check(fact, &intent, &rendered, &rows) {
                        failures.push(format!("{}: {fact:?} does not hold: {why}", row.name));
                    }
                }
            }
        }
        match row.pending {
            None if todo_hold.is_empty() && todo_fail.is_empty() => {}
            None => failures.push(format!("{}: Todo facts without a pending mark", row.name)),
            Some(_) if todo_hold.is_empty() && todo_fail.is_empty() => {
                failures.push(format!("{}: pending mark without Todo facts", row.name))
            }
            Some(_) if todo_fail.is_empty() => failures.push(format!(
                "row {} now passes: remove its pending mark",
                row.name
            )),
            Some(reason) => {
                pending += 1;
                println!("PENDING {}: {reason}", row.name);
                let not_yet: Vec<String> = todo_fail
                    .iter()
                    .map(|(fact, why)| format!("{fact:?} ({why})"))
                    .collect();
                println!("    not yet: {}", not_yet.join("; "));
                for fact in todo_hold {
                    failures.push(format!(
                        "{}: pending fact {fact:?} now holds: make it a plain fact",
                        row.name
                    ));
                }
            }
        }
    }

    // No stale golden files for rows that no longer render one.
    for entry in std::fs::read_dir(golden_dir()).unwrap() {
        let file = entry.unwrap().file_name().into_string().unwrap();
        if !goldens.contains(&file) {
            failures.push(format!("stale golden file {file}"));
        }
    }

    println!(
        "metallb frr scenarios: {} rows, {run} run, {pending} pending, {skipped} skipped",
        rows.len()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
