//! The rendered FRR config holds only what the intent asked for. Random manifest sets
//! (pools, peers with random optional fields, advertisements, Services, EndpointSlices,
//! Nodes), hostile strings included (newlines, `!`, `#`, spaces and FRR keywords in names,
//! passwords, communities, addresses), go through the pure pipeline (`compute`,
//! `node_intent`, `render_node` and `render`); nothing may panic, and in every config:
//! - no line holds a control character, and every line starts with a keyword of a fixed
//!   allow-list at the indentation FRR uses for it (so no injected text starts a stanza);
//! - every `neighbor X` is a neighbor the intent has for that router (VRF), with the
//!   intent's password if any; every `network P` an announcement of that router;
//! - every route-map name is one the renderer derives from the intent (per neighbor `-in`
//!   and `-out`, `ferrule-tag-N`, no more of those than the intent announces prefixes); every BFD profile one the intent lists; every community one it announces.
//!
//! Cases: 1,000 (`PROPTEST_CASES` changes it).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use ferrule::model::{Community, PeerAddress};
use ferrule::{compute, manifests, render, render_node, sha256_hex, Addresses, NodeIntent};
use ferrule::{Options, Snapshot};
use proptest::prelude::*;
use serde_json::{json, Value};

static CONFIGS: AtomicUsize = AtomicUsize::new(0);
static NEIGHBOR_LINES: AtomicUsize = AtomicUsize::new(0);
static NETWORK_LINES: AtomicUsize = AtomicUsize::new(0);

/// Text that tries to end a line or start a stanza of its own.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("x\nrouter bgp 1".to_string()),
        Just("x\r\nneighbor 192.0.2.99 remote-as 1".into()),
        Just("a b".into()),
        Just("! comment".into()),
        Just("#x".into()),
        Just("route-map evil permit 1".into()),
        Just("x\u{0}y".into()),
        Just("\tset community 1:1".into()),
        Just("é€ß".into()),
        "[ -~\n\t]{0,24}",
    ]
}

/// Mostly a plausible value, sometimes a hostile one.
fn or_hostile(plausible: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![
        6 => proptest::string::string_regex(plausible).unwrap(),
        1 => hostile(),
    ]
}

fn name() -> impl Strategy<Value = String> {
    or_hostile("[a-z]([a-z0-9-]{0,15}[a-z0-9])?")
}

fn asn() -> impl Strategy<Value = u32> {
    prop_oneof![6 => Just(65000u32), 1 => Just(64512), 1 => any::<u32>()]
}

fn password() -> impl Strategy<Value = String> {
    prop_oneof![3 => "[!-~]{1,80}", 3 => Just("s3cret".to_string()), 1 => hostile()]
}

fn address() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (1u8..=254).prop_map(|i| format!("192.0.2.{i}")),
        2 => (1u8..=254).prop_map(|i| format!("198.51.100.{i}")),
        2 => (1u16..=0xff).prop_map(|i| format!("2001:db8::{i:x}")),
        1 => Just("eth0".to_string()),
        1 => hostile(),
    ]
}

fn community() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just("65000:100".to_string()),
        2 => Just("large:1:2:3".into()),
        2 => Just("no-export".into()),
        2 => Just("gold".into()),
        2 => "[0-9]{1,4}:[0-9]{1,4}",
        1 => hostile(),
    ]
}

fn duration() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just("3s".to_string()),
        3 => Just("9s".into()),
        2 => "[0-9]{1,4}(ms|s)",
        1 => hostile()
    ]
}

const NODES: [&str; 3] = ["node-a", "node-b", "node-c"];
const POOLS: [&str; 3] = ["pool-v4", "pool-b", "pool-v6"];

prop_compose! {
    fn pool()(
        which in 0usize..3,
        cidr in prop_oneof![
            3 => Just("203.0.113.0/28".to_string()),
            2 => Just("198.51.100.0/29".into()),
            3 => Just("2001:db8:5::/120".into()),
            1 => Just("203.0.113.20-203.0.113.24".into()),
            1 => hostile(),
        ],
        auto in proptest::option::of(any::<bool>()),
    ) -> Value {
        let mut spec = json!({ "addresses": [cidr] });
        if let Some(a) = auto { spec["autoAssign"] = json!(a); }
        json!({ "apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
                "metadata": { "name": POOLS[which] }, "spec": spec })
    }
}

prop_compose! {
    fn peer()(
        name in name(),
        my_asn in prop_oneof![6 => Just(65100u32), 1 => asn()],
        peer_asn in asn(),
        address in address(),
        interface in proptest::bool::weighted(0.1),
        hold in proptest::option::of(duration()),
        connect in proptest::option::of(prop_oneof![3 => Just("1s".to_string()), 1 => duration()]),
        pw in proptest::option::of(password()),
        secret in proptest::option::of(password()),
        bfd in proptest::option::of(prop_oneof![3 => Just("bfd-a".to_string()), 1 => hostile()]),
        multihop in proptest::option::of(any::<bool>()),
        vrf in proptest::option::weighted(0.2, or_hostile("[a-z][a-z0-9-]{0,10}")),
        router_id in proptest::option::of(prop_oneof![
            3 => (1u8..=254).prop_map(|i| format!("192.0.2.{i}")), 1 => hostile()]),
        port in proptest::option::of(any::<u16>()),
        selector in proptest::option::of(proptest::sample::select(NODES.to_vec())),
    ) -> Vec<Value> {
        let mut spec = json!({ "myASN": my_asn, "peerASN": peer_asn });
        let s = spec.as_object_mut().unwrap();
        if interface {
            s.insert("interface".into(), json!(if address.contains('\n') { address } else { "eth0".into() }));
        } else {
            s.insert("peerAddress".into(), json!(address));
        }
        let mut put = |k: &str, v: Option<Value>| { if let Some(v) = v { s.insert(k.into(), v); } };
        put("holdTime", hold.map(Value::from));
        put("connectTime", connect.map(Value::from));
        put("password", pw.map(Value::from));
        put("bfdProfile", bfd.map(Value::from));
        put("ebgpMultiHop", multihop.map(Value::from));
        put("vrf", vrf.map(Value::from));
        put("routerID", router_id.map(Value::from));
        put("peerPort", port.map(Value::from));
        let mut docs = Vec::new();
        if let (Some(pw), None) = (secret, s.get("password")) {
            let secret_name = format!("{}-pw", name.replace(|c: char| !c.is_ascii_alphanumeric(), ""));
            s.insert("passwordSecret".into(), json!({ "name": secret_name }));
            docs.push(json!({ "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/basic-auth",
                "metadata": { "name": secret_name, "namespace": "metallb-system" },
                "stringData": { "password": pw } }));
        }
        if let Some(node) = selector {
            s.insert("nodeSelectors".into(),
                json!([{ "matchLabels": { "kubernetes.io/hostname": node } }]));
        }
        docs.push(json!({ "apiVersion": "metallb.io/v1beta2", "kind": "BGPPeer",
                "metadata": { "name": name }, "spec": spec }));
        docs
    }
}

prop_compose! {
    fn advertisement(peers: Vec<String>)(
        name in name(),
        pools in proptest::sample::subsequence(POOLS.to_vec(), 1..=3),
        to in proptest::option::of(proptest::sample::subsequence(peers.clone(), 0..=peers.len())),
        communities in proptest::collection::vec(community(), 0..4),
        local_pref in proptest::option::of(any::<u32>()),
        agg4 in proptest::option::of(prop_oneof![4 => 24u8..=32, 1 => 0u8..40]),
    ) -> Value {
        let mut spec = json!({ "ipAddressPools": pools, "communities": communities });
        let s = spec.as_object_mut().unwrap();
        if let Some(to) = to { s.insert("peers".into(), json!(to)); }
        if let Some(lp) = local_pref { s.insert("localPref".into(), json!(lp)); }
        if let Some(a) = agg4 { s.insert("aggregationLength".into(), json!(a)); }
        json!({ "apiVersion": "metallb.io/v1beta1", "kind": "BGPAdvertisement",
                "metadata": { "name": name }, "spec": spec })
    }
}

prop_compose! {
    fn service(i: usize)(
        local in any::<bool>(),
        families in prop_oneof![Just(vec!["IPv4"]), Just(vec!["IPv6"]), Just(vec!["IPv4", "IPv6"])],
        ip in proptest::option::weighted(0.3, prop_oneof![
            4 => (0u8..16).prop_map(|o| format!("203.0.113.{o}")), 1 => hostile()]),
        endpoints in proptest::sample::subsequence(
            NODES.iter().map(|n| n.to_string()).chain(["gone".to_string()]).collect::<Vec<_>>(), 0..=4),
        ready in proptest::bool::weighted(0.85),
    ) -> Vec<Value> {
        let name = format!("svc-{i}");
        let mut meta = json!({ "name": name, "namespace": "default" });
        if let Some(ip) = ip {
            meta["annotations"] = json!({ "metallb.io/loadBalancerIPs": ip });
        }
        let policy = if families.len() == 2 { "PreferDualStack" } else { "SingleStack" };
        let eps: Vec<Value> = endpoints.iter().enumerate().map(|(j, n)| json!({
            "addresses": [format!("10.244.{i}.{j}")], "conditions": { "ready": ready }, "nodeName": n })).collect();
        vec![
            json!({ "apiVersion": "v1", "kind": "Service", "metadata": meta,
                "spec": { "type": "LoadBalancer", "ipFamilyPolicy": policy, "ipFamilies": families,
                          "externalTrafficPolicy": if local { "Local" } else { "Cluster" },
                          "ports": [{ "port": 443 }] } }),
            json!({ "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": { "name": format!("{name}-1"), "namespace": "default",
                              "labels": { "kubernetes.io/service-name": name } },
                "addressType": "IPv4", "endpoints": eps }),
        ]
    }
}

fn cluster() -> impl Strategy<Value = Vec<Value>> {
    (
        proptest::collection::vec(pool(), 1..4),
        proptest::collection::vec(peer(), 1..4),
        1usize..=3,
        proptest::option::of(
            prop_oneof![2 => Just(300u32), 4 => 10u32..60000, 1 => 60000u32..70000],
        ),
    )
        .prop_flat_map(|(pools, peers, nodes, bfd_rx)| {
            let names: Vec<String> = peers
                .iter()
                .filter_map(|d| d.last()?["metadata"]["name"].as_str().map(str::to_string))
                .collect();
            (
                Just((pools, peers, nodes, bfd_rx)),
                proptest::collection::vec(advertisement(names), 1..3),
                (1usize..4).prop_flat_map(|n| (0..n).map(service).collect::<Vec<_>>()),
            )
        })
        .prop_map(|((pools, peers, nodes, bfd_rx), advs, services)| {
            let mut all: Vec<Value> = NODES[..nodes]
                .iter()
                .map(|n| {
                    json!({ "apiVersion": "v1", "kind": "Node", "metadata": { "name": n,
                    "labels": { "kubernetes.io/hostname": n } } })
                })
                .collect();
            all.push(
                json!({ "apiVersion": "metallb.io/v1beta1", "kind": "Community",
                "metadata": { "name": "c" },
                "spec": { "communities": [{ "name": "gold", "value": "65000:7" }] } }),
            );
            if let Some(rx) = bfd_rx {
                all.push(
                    json!({ "apiVersion": "metallb.io/v1beta1", "kind": "BFDProfile",
                    "metadata": { "name": "bfd-a" }, "spec": { "receiveInterval": rx } }),
                );
            }
            all.extend(pools);
            all.extend(peers.into_iter().flatten());
            all.extend(advs);
            all.extend(services.into_iter().flatten());
            all
        })
}

fn snapshot(objects: &[Value]) -> (Snapshot, String) {
    let text: String = objects
        .iter()
        .map(|o| format!("---\n{}\n", serde_json::to_string(o).unwrap()))
        .collect();
    let mut s = Snapshot {
        namespace: "metallb-system".into(),
        ..Snapshot::default()
    };
    // Hostile documents may not load; that is the parser's business, not this test's.
    let _ = manifests::parse_str(&text, "generated", &mut s);
    (s, text)
}

// ---- what the intent allows ----

/// Line keywords FRR configs ferrule renders may start with, by indentation.
const TOP: &[&str] = &[
    "frr",
    "bgp",
    "route-map",
    "router",
    "ip",
    "ipv6",
    "bfd",
    "exit",
    "!",
];
const ONE: &[&str] = &[
    "bgp",
    "coalesce-time",
    "no",
    "neighbor",
    "address-family",
    "exit-address-family",
    "match",
    "set",
    "profile",
    "exit",
    "!",
];
const TWO: &[&str] = &[
    "network",
    "neighbor",
    "maximum-paths",
    "detect-multiplier",
    "transmit-interval",
    "receive-interval",
    "passive-mode",
    "echo-mode",
    "echo",
    "minimum-ttl",
];

/// FRR's names for well-known standard communities.
fn well_known(a: u16, b: u16) -> Option<&'static str> {
    Some(match (a, b) {
        (0, 0) => "internet",
        (0xFFFF, 0x0000) => "graceful-shutdown",
        (0xFFFF, 0x0001) => "accept-own",
        (0xFFFF, 0x0002) => "route-filter-translated-v4",
        (0xFFFF, 0x0003) => "route-filter-v4",
        (0xFFFF, 0x0004) => "route-filter-translated-v6",
        (0xFFFF, 0x0005) => "route-filter-v6",
        (0xFFFF, 0x0006) => "llgr-stale",
        (0xFFFF, 0x0007) => "no-llgr",
        (0xFFFF, 0x0008) => "accept-own-nexthop",
        (0xFFFF, 0x029A) => "blackhole",
        (0xFFFF, 0xFF01) => "no-export",
        (0xFFFF, 0xFF02) => "no-advertise",
        (0xFFFF, 0xFF03) => "local-AS",
        (0xFFFF, 0xFF04) => "no-peer",
        _ => return None,
    })
}

#[derive(Default)]
struct RouterAllows {
    /// neighbor id -> password the intent gives it.
    neighbors: BTreeMap<String, Option<String>>,
    networks: BTreeSet<String>,
}

struct Allowed {
    /// By `router bgp ...` header line.
    routers: BTreeMap<String, RouterAllows>,
    route_maps: BTreeSet<String>,
    /// (router, prefix) pairs announced: each `network` has one tag route-map at most.
    networks: usize,
    bfd_profiles: BTreeSet<String>,
    communities: BTreeSet<String>,
}

fn neighbor_id(a: &PeerAddress) -> String {
    match a {
        PeerAddress::Ip(ip) => ip.to_string(),
        PeerAddress::Interface(name) => name.clone(),
    }
}

fn allowed(intent: &NodeIntent) -> Allowed {
    let mut a = Allowed {
        routers: BTreeMap::new(),
        route_maps: BTreeSet::new(),
        networks: 0,
        bfd_profiles: intent.bfd_profiles.iter().map(|p| p.name.clone()).collect(),
        communities: BTreeSet::new(),
    };
    for r in &intent.routers {
        let header = match &r.vrf {
            None => format!("router bgp {}", r.asn),
            Some(v) => format!("router bgp {} vrf {v}", r.asn),
        };
        let allows = a.routers.entry(header).or_default();
        for n in &r.neighbors {
            allows.neighbors.insert(
                neighbor_id(&n.address),
                n.password.as_ref().map(|p| p.expose().to_string()),
            );
            let peer = match &n.address {
                PeerAddress::Ip(ip) => ip.to_string().replace(':', "-"),
                PeerAddress::Interface(name) => format!("if-{name}"),
            };
            let readable = match &r.vrf {
                None => peer,
                Some(v) => format!("vrf-{v}-{peer}"),
            };
            let hashed = format!("h{}", &sha256_hex(&readable)[..16]);
            for key in [readable, hashed] {
                for dir in ["in", "out"] {
                    a.route_maps.insert(format!("ferrule-{key}-{dir}"));
                }
            }
            for ann in &n.announcements {
                allows.networks.insert(ann.prefix.to_string());
                for c in &ann.communities {
                    a.communities.insert(c.to_string());
                    if let Community::Standard(x, y) = c {
                        if let Some(name) = well_known(*x, *y) {
                            a.communities.insert(name.to_string());
                        }
                    }
                }
            }
        }
    }
    a.networks = a.routers.values().map(|r| r.networks.len()).sum();
    a
}

/// Everything in `config` the intent did not ask for (empty: the config is clean).
fn unasked(config: &str, a: &Allowed) -> Vec<String> {
    let mut bad = Vec::new();
    let mut router: Option<&RouterAllows> = None;
    let mut tags: BTreeSet<u32> = BTreeSet::new();
    let mut used_tags: BTreeSet<u32> = BTreeSet::new();
    let route_map = |name: &str, bad: &mut Vec<String>, tags: &mut BTreeSet<u32>| {
        if let Some(t) = name.strip_prefix("ferrule-tag-") {
            match t.parse::<u32>() {
                Ok(t) => {
                    tags.insert(t);
                }
                Err(_) => bad.push(format!("route-map name {name:?}")),
            }
        } else if !a.route_maps.contains(name) {
            bad.push(format!(
                "route-map name {name:?} not derived from the intent"
            ));
        }
    };
    for line in config.lines() {
        if line.chars().any(|c| c.is_control()) {
            bad.push(format!("control character in {line:?}"));
            continue;
        }
        let indent = line.len() - line.trim_start_matches(' ').len();
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(first) = words.first().copied() else {
            continue;
        };
        let allow = match indent {
            0 => TOP,
            1 => ONE,
            2 => TWO,
            _ => &[][..],
        };
        if !allow.contains(&first) {
            bad.push(format!(
                "line starts with {first:?} at indent {indent}: {line:?}"
            ));
            continue;
        }
        match (indent, first) {
            (0, "router") => {
                router = a.routers.get(line);
                if router.is_none() {
                    bad.push(format!("router not in the intent: {line:?}"));
                }
            }
            (0, "route-map") => {
                route_map(words.get(1).copied().unwrap_or(""), &mut bad, &mut tags);
                if !matches!(words.get(2).copied(), Some("permit" | "deny")) || words.len() != 4 {
                    bad.push(format!("route-map line {line:?}"));
                }
            }
            (_, "neighbor") => {
                NEIGHBOR_LINES.fetch_add(1, Ordering::Relaxed);
                let id = words.get(1).copied().unwrap_or("");
                match router.and_then(|r| r.neighbors.get(id)) {
                    None => bad.push(format!("neighbor {id:?} not in the intent's router")),
                    Some(pw) => {
                        if words.get(2) == Some(&"password")
                            && (words.len() != 4 || pw.as_deref() != Some(words[3]))
                        {
                            bad.push(format!("password line of {id} not the intent's"));
                        }
                        if words.get(2) == Some(&"route-map") {
                            route_map(words.get(3).copied().unwrap_or(""), &mut bad, &mut tags);
                        }
                        if words.get(2..4) == Some(&["bfd", "profile"][..])
                            && !words.get(4).is_some_and(|p| a.bfd_profiles.contains(*p))
                        {
                            bad.push(format!("BFD profile not in the intent: {line:?}"));
                        }
                    }
                }
            }
            (2, "network") => {
                NETWORK_LINES.fetch_add(1, Ordering::Relaxed);
                let p = words.get(1).copied().unwrap_or("");
                if !router.is_some_and(|r| r.networks.contains(p)) {
                    bad.push(format!("network {p:?} not announced by the intent"));
                }
                if words.get(2) == Some(&"route-map") {
                    route_map(words.get(3).copied().unwrap_or(""), &mut bad, &mut tags);
                }
            }
            (1, "profile") if words.len() != 2 || !a.bfd_profiles.contains(words[1]) => {
                bad.push(format!("BFD profile not in the intent: {line:?}"));
            }
            (1, "match" | "set") if words.get(1) == Some(&"tag") => {
                match words.get(2).and_then(|t| t.parse::<u32>().ok()) {
                    Some(t) if words.len() == 3 => {
                        used_tags.insert(t);
                    }
                    _ => bad.push(format!("tag line {line:?}")),
                }
            }
            (1, "set") if matches!(words.get(1), Some(&"community" | &"large-community")) => {
                for c in &words[2..] {
                    if !a.communities.contains(*c) {
                        bad.push(format!("community {c:?} not announced by the intent"));
                    }
                }
            }
            _ => {}
        }
    }
    if tags.len() > a.networks {
        bad.push(format!(
            "{} tag route-maps for {} announced prefixes",
            tags.len(),
            a.networks
        ));
    }
    if !used_tags.is_subset(&tags) {
        bad.push(format!("tags {used_tags:?} used, route-maps for {tags:?}"));
    }
    bad
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

#[test]
fn the_config_holds_only_what_the_intent_asked_for() {
    // proptest's strategy tree for a whole cluster is deep in a debug build.
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(property)
        .unwrap()
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e));
}

fn property() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: cases(),
        ..ProptestConfig::default()
    });
    let started = std::time::Instant::now();
    let with_neighbors = AtomicUsize::new(0);
    let result = runner.run(&cluster(), |objects| {
        let (snapshot, text) = snapshot(&objects);
        let computed = compute(
            &snapshot,
            &Options::default(),
            Addresses::Allocate,
            &BTreeMap::new(),
        );
        prop_assert!(computed.extras.is_none(), "no bgpextras generated");
        for (node, intent) in computed.all_node_intents() {
            let a = allowed(&intent);
            if a.routers.values().any(|r| !r.neighbors.is_empty()) {
                with_neighbors.fetch_add(1, Ordering::Relaxed);
            }
            let mut configs = Vec::new();
            if let Ok(r) = render_node(&intent, None) {
                configs.push(r.text);
            }
            if let Ok(t) = render(&intent) {
                configs.push(t);
            }
            for config in &configs {
                CONFIGS.fetch_add(1, Ordering::Relaxed);
                let bad = unasked(config, &a);
                prop_assert!(bad.is_empty(), "{node}: {bad:#?}\n{config}\n{text}");
            }
        }
        Ok(())
    });
    eprintln!(
        "config_only_what_was_asked: {} cases in {:?}: {} configs checked ({} node intents with \
         neighbors), {} neighbor lines, {} network lines",
        cases(),
        started.elapsed(),
        CONFIGS.load(Ordering::Relaxed),
        with_neighbors.load(Ordering::Relaxed),
        NEIGHBOR_LINES.load(Ordering::Relaxed),
        NETWORK_LINES.load(Ordering::Relaxed),
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(
        with_neighbors.load(Ordering::Relaxed) > 0,
        "no case had a session"
    );
    assert!(
        NETWORK_LINES.load(Ordering::Relaxed) > 0,
        "no case announced anything"
    );
}

/// The checker itself: a config with an injected stanza, a foreign neighbor, an unasked
/// network or route-map is caught; the counters show the property test saw real configs.
#[test]
fn the_checker_catches_what_was_not_asked() {
    let (snapshot, _) = snapshot(&[
        json!({ "apiVersion": "v1", "kind": "Node", "metadata": { "name": "node-a" } }),
        json!({ "apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
                "metadata": { "name": "p" }, "spec": { "addresses": ["203.0.113.0/28"] } }),
        json!({ "apiVersion": "metallb.io/v1beta2", "kind": "BGPPeer", "metadata": { "name": "t" },
                "spec": { "myASN": 65100, "peerASN": 65000, "peerAddress": "192.0.2.1", "password": "pw1" } }),
        json!({ "apiVersion": "metallb.io/v1beta1", "kind": "BGPAdvertisement", "metadata": { "name": "a" },
                "spec": { "ipAddressPools": ["p"], "communities": ["65000:100"] } }),
        json!({ "apiVersion": "v1", "kind": "Service", "metadata": { "name": "web", "namespace": "default" },
                "spec": { "type": "LoadBalancer", "ports": [{ "port": 443 }] } }),
        json!({ "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": { "name": "web-1", "namespace": "default",
                              "labels": { "kubernetes.io/service-name": "web" } },
                "addressType": "IPv4",
                "endpoints": [{ "addresses": ["10.0.0.1"], "conditions": { "ready": true }, "nodeName": "node-a" }] }),
    ]);
    let computed = compute(
        &snapshot,
        &Options::default(),
        Addresses::Allocate,
        &BTreeMap::new(),
    );
    let intent = computed.node_intent("node-a");
    let config = render(&intent).unwrap();
    let a = allowed(&intent);
    assert_eq!(unasked(&config, &a), Vec::<String>::new(), "{config}");
    let ip: IpAddr = "192.0.2.1".parse().unwrap();
    assert!(config.contains(&format!(" neighbor {ip} password pw1")));
    let tampered = [
        (
            " neighbor 192.0.2.1 remote-as 65000",
            " neighbor 192.0.2.9 remote-as 65000",
        ),
        (
            " neighbor 192.0.2.1 password pw1",
            " neighbor 192.0.2.1 password pw2",
        ),
        (" no bgp ebgp-requires-policy", "router bgp 1"),
        (
            " no bgp ebgp-requires-policy",
            " no bgp ebgp-requires-policy\n  network 198.51.100.0/24",
        ),
        (
            " no bgp ebgp-requires-policy",
            " no bgp ebgp-requires-policy\u{7}",
        ),
        (
            "frr defaults traditional",
            "frr defaults traditional\ninterface eth0",
        ),
        (
            "frr defaults traditional",
            "frr defaults traditional\nroute-map evil permit 1",
        ),
        (
            "set community 65000:100",
            "set community 65000:100 65000:666",
        ),
    ];
    for (from, to) in tampered {
        assert!(config.contains(from), "{from:?} in\n{config}");
        let t = config.replacen(from, to, 1);
        let bad = unasked(&t, &a);
        eprintln!("tampered {to:?}: {bad:?}");
        assert!(!bad.is_empty(), "{to:?} not caught");
    }
}
