//! Fixtures shared by tests, benches and e2e: the article's manifests, builders of model
//! objects, an owned cluster view for intent, and hand-written node configs for the lab.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::net::IpAddr;
use std::path::Path;

use ferrule::model::{
    Advertisement, Assignment, Config, Endpoint, IpFamilyPolicy, IpRange, Node, Peer, PeerAddress,
    Pool, RemoteAs, Requirement, Selector, Service, ServiceKey,
};
use ferrule::{ClusterView, Snapshot};
use ipnet::IpNet;

// ---------------------------------------------------------------------------------------------
// The article's manifests (examples/seed)

pub const NS: &str = "metallb-system";

/// The repository's `examples/seed` directory.
pub fn seed_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/seed")
}

/// The seed's manifests as a snapshot.
pub fn seed_snapshot() -> Snapshot {
    ferrule::manifests::load_dir(&seed_dir(), NS)
        .expect("examples/seed reads")
        .snapshot
}

/// One object of the seed, by file name (`01-pool.yaml`).
pub fn seed_object<T: serde::de::DeserializeOwned>(file: &str) -> T {
    let text = std::fs::read_to_string(seed_dir().join(file)).expect("seed file");
    serde_yaml::from_str(&text).expect("seed object")
}

// ---------------------------------------------------------------------------------------------
// Model builders

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

pub fn key(s: &str) -> ServiceKey {
    let (ns, name) = s.split_once('/').unwrap();
    ServiceKey::new(ns, name)
}

pub fn sel(k: &str, v: &str) -> Selector {
    Selector {
        requirements: vec![Requirement::In(k.into(), BTreeSet::from([v.to_string()]))],
    }
}

pub fn pool(name: &str, cidr: &str) -> Pool {
    let n = net(cidr);
    Pool {
        name: name.into(),
        labels: BTreeMap::new(),
        ranges: vec![IpRange {
            first: n.network(),
            last: n.broadcast(),
        }],
        cidrs: vec![n],
        auto_assign: true,
        avoid_buggy_ips: false,
        allocation: None,
    }
}

pub fn peer(name: &str, addr: &str) -> Peer {
    Peer::new(name, 65100, RemoteAs::Asn(65000), PeerAddress::Ip(ip(addr)))
}

pub fn adv(name: &str, pools: &[&str]) -> Advertisement {
    Advertisement {
        name: name.into(),
        aggregation_length_v4: 32,
        aggregation_length_v6: 128,
        local_pref: None,
        communities: BTreeSet::new(),
        pools: pools.iter().map(|p| p.to_string()).collect(),
        node_selectors: vec![],
        peers: None,
        service_selectors: vec![],
    }
}

pub fn service(k: &str, etp_local: bool) -> Service {
    Service {
        key: key(k),
        labels: BTreeMap::from([("app".to_string(), k.split('/').nth(1).unwrap().to_string())]),
        is_ours: true,
        etp_local,
        requested_ips: vec![],
        requested_pool: None,
        sharing_key: None,
        ports: BTreeSet::new(),
        selector: BTreeMap::new(),
        ip_families: vec![],
        ip_family_policy: IpFamilyPolicy::SingleStack,
        current_ips: vec![],
        current_pool: None,
    }
}

pub fn node(name: &str) -> Node {
    Node {
        name: name.into(),
        labels: BTreeMap::from([("kubernetes.io/hostname".to_string(), name.to_string())]),
        network_unavailable: false,
    }
}

pub fn ep(node: &str, serving: bool) -> Endpoint {
    Endpoint {
        node: Some(node.into()),
        serving,
    }
}

/// Owns everything a `ClusterView` borrows.
#[derive(Clone, Debug, Default)]
pub struct Fixture {
    pub config: Config,
    pub services: BTreeMap<ServiceKey, Service>,
    pub assignments: BTreeMap<ServiceKey, Assignment>,
    pub held: BTreeMap<ServiceKey, Assignment>,
    pub endpoints: BTreeMap<ServiceKey, Vec<Endpoint>>,
    pub nodes: BTreeMap<String, Node>,
}

impl Fixture {
    pub fn view(&self) -> ClusterView<'_> {
        ClusterView {
            config: &self.config,
            services: &self.services,
            assignments: &self.assignments,
            held: &self.held,
            endpoints: &self.endpoints,
            nodes: &self.nodes,
            ignore_exclude_lb: false,
        }
    }
    pub fn add_pool(&mut self, p: Pool) -> &mut Self {
        self.config.pools.insert(p.name.clone(), p);
        self
    }
    pub fn add_peer(&mut self, p: Peer) -> &mut Self {
        self.config.peers.insert(p.name.clone(), p);
        self
    }
    pub fn add_adv(&mut self, a: Advertisement) -> &mut Self {
        self.config.advertisements.insert(a.name.clone(), a);
        self
    }
    pub fn add_node(&mut self, n: Node) -> &mut Self {
        self.nodes.insert(n.name.clone(), n);
        self
    }
    /// A Service with its assignment and endpoints.
    pub fn add_service(&mut self, s: Service, pool: &str, ips: &[&str], eps: Vec<Endpoint>) {
        let k = s.key.clone();
        self.assignments.insert(
            k.clone(),
            Assignment {
                pool: pool.into(),
                ips: ips.iter().map(|s| ip(s)).collect(),
            },
        );
        self.endpoints.insert(k.clone(), eps);
        self.services.insert(k, s);
    }
    pub fn peer_mut(&mut self, name: &str) -> &mut Peer {
        self.config.peers.get_mut(name).unwrap()
    }
    pub fn adv_mut(&mut self, name: &str) -> &mut Advertisement {
        self.config.advertisements.get_mut(name).unwrap()
    }
    pub fn node_mut(&mut self, name: &str) -> &mut Node {
        self.nodes.get_mut(name).unwrap()
    }
    pub fn svc_mut(&mut self, k: &str) -> &mut Service {
        self.services.get_mut(&key(k)).unwrap()
    }
}

// ---------------------------------------------------------------------------------------------
// Node configs for the lab, written by hand
//
// Node configs shaped like what ferrule renders: per neighbor, one prefix-list per
// attribute set (community / local-preference), an outbound route-map with one entry per
// set, an inbound deny-all, `network` lines, BFD profile, short timers.

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttrSet {
    pub communities: Vec<String>,
    pub large_communities: Vec<String>,
    pub local_pref: Option<u32>,
}

impl AttrSet {
    pub fn community(c: &str) -> AttrSet {
        AttrSet {
            communities: vec![c.to_string()],
            large_communities: vec![],
            local_pref: None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Announce {
    pub prefix: String,
    /// Stable prefix-list sequence number (derived from the Service, not its position, so a
    /// withdrawal never renumbers the others).
    pub seq: u32,
    pub set: usize,
}

#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub hostname: String,
    pub asn: u32,
    pub router_id: String,
    pub peer: String,
    pub peer_as: u32,
    pub sets: Vec<AttrSet>,
    pub announce: Vec<Announce>,
    /// `bgp route-map delay-timer 0` (attribute changes then wait for our soft clear).
    pub delay_timer_zero: bool,
    /// Attributes set where the prefix is originated (`network P route-map ferrule-set-K`)
    /// instead of by per-neighbor prefix-lists in the outbound route-map: config size grows
    /// with attribute sets, and a change skips FRR's 100 ms soft-out announce timer.
    pub origination: bool,
}

impl NodeConfig {
    pub fn new(hostname: &str, asn: u32, router_id: &str, peer: &str, peer_as: u32) -> Self {
        NodeConfig {
            hostname: hostname.into(),
            asn,
            router_id: router_id.into(),
            peer: peer.into(),
            peer_as,
            sets: Vec::new(),
            announce: Vec::new(),
            delay_timer_zero: true,
            origination: false,
        }
    }

    fn family(&self, prefix: &str) -> &'static str {
        if prefix.contains(':') {
            "ipv6"
        } else {
            "ip"
        }
    }

    fn set_lines(set: &AttrSet, additive: &str) -> String {
        let mut s = String::new();
        if !set.communities.is_empty() {
            let _ = writeln!(s, " set community {}{additive}", set.communities.join(" "));
        }
        if !set.large_communities.is_empty() {
            let _ = writeln!(
                s,
                " set large-community {}{additive}",
                set.large_communities.join(" ")
            );
        }
        if let Some(lp) = set.local_pref {
            let _ = writeln!(s, " set local-preference {lp}");
        }
        s
    }

    pub fn render(&self) -> String {
        if self.origination {
            return self.render_origination();
        }
        let p = &self.peer;
        let mut s = String::new();
        let _ = writeln!(s, "frr defaults traditional\nhostname {}\nlog syslog informational\nservice integrated-vtysh-config\n!", self.hostname);
        if self.delay_timer_zero {
            s.push_str("bgp route-map delay-timer 0\n!\n");
        }
        s.push_str("bfd\n profile tor-fast\n  receive-interval 300\n  transmit-interval 300\n  detect-multiplier 3\n exit\nexit\n!\n");
        let afs: Vec<&str> = ["ip", "ipv6"]
            .into_iter()
            .filter(|f| self.announce.iter().any(|a| self.family(&a.prefix) == *f))
            .collect();
        for f in &afs {
            for a in self
                .announce
                .iter()
                .filter(|a| self.family(&a.prefix) == *f)
            {
                let _ = writeln!(
                    s,
                    "{f} prefix-list ferrule-{p}-{f}-s{} seq {} permit {}",
                    a.set, a.seq, a.prefix
                );
            }
        }
        s.push_str("!\n");
        let _ = writeln!(s, "route-map ferrule-{p}-in deny 1\nexit\n!");
        for f in &afs {
            let out = if *f == "ip" { "out" } else { "out6" };
            for (i, set) in self.sets.iter().enumerate() {
                if !self
                    .announce
                    .iter()
                    .any(|a| a.set == i && self.family(&a.prefix) == *f)
                {
                    continue;
                }
                let _ = writeln!(s, "route-map ferrule-{p}-{out} permit {}", i + 1);
                let m = if *f == "ip" { "ip" } else { "ipv6" };
                let _ = writeln!(s, " match {m} address prefix-list ferrule-{p}-{f}-s{i}");
                s.push_str(&Self::set_lines(set, " additive"));
                s.push_str("exit\n!\n");
            }
        }
        let _ = writeln!(s, "router bgp {}\n bgp router-id {}\n no bgp ebgp-requires-policy\n no bgp network import-check\n no bgp default ipv4-unicast\n bgp graceful-restart preserve-fw-state", self.asn, self.router_id);
        let _ = writeln!(s, " neighbor {p} remote-as {}\n neighbor {p} timers 3 9\n neighbor {p} timers connect 5\n neighbor {p} bfd\n neighbor {p} bfd profile tor-fast\n !", self.peer_as);
        for f in ["ip", "ipv6"] {
            let (af, out) = if f == "ip" {
                ("ipv4", "out")
            } else {
                ("ipv6", "out6")
            };
            let has = afs.contains(&f);
            if f == "ipv6" && !has {
                continue;
            }
            let _ = writeln!(s, " address-family {af} unicast");
            for a in self.announce.iter().filter(|a| self.family(&a.prefix) == f) {
                let _ = writeln!(s, "  network {}", a.prefix);
            }
            let _ = writeln!(
                s,
                "  neighbor {p} activate\n  neighbor {p} route-map ferrule-{p}-in in"
            );
            if has {
                let _ = writeln!(s, "  neighbor {p} route-map ferrule-{p}-{out} out");
            }
            s.push_str(" exit-address-family\n");
        }
        s.push_str("exit\n!\n");
        s
    }

    fn header(&self, s: &mut String) {
        let _ = writeln!(s, "frr defaults traditional\nhostname {}\nlog syslog informational\nservice integrated-vtysh-config\n!", self.hostname);
        if self.delay_timer_zero {
            s.push_str("bgp route-map delay-timer 0\n!\n");
        }
        s.push_str("bfd\n profile tor-fast\n  receive-interval 300\n  transmit-interval 300\n  detect-multiplier 3\n exit\nexit\n!\n");
    }

    fn render_origination(&self) -> String {
        let p = &self.peer;
        let mut s = String::new();
        self.header(&mut s);
        for (i, set) in self.sets.iter().enumerate() {
            let _ = writeln!(s, "route-map ferrule-set-{i} permit 1");
            s.push_str(&Self::set_lines(set, ""));
            s.push_str("exit\n!\n");
        }
        let _ = writeln!(
            s,
            "route-map ferrule-{p}-in deny 1\nexit\n!\nroute-map ferrule-{p}-out permit 1\nexit\n!"
        );
        let _ = writeln!(s, "router bgp {}\n bgp router-id {}\n no bgp ebgp-requires-policy\n no bgp network import-check\n no bgp default ipv4-unicast\n bgp graceful-restart preserve-fw-state", self.asn, self.router_id);
        let _ = writeln!(s, " neighbor {p} remote-as {}\n neighbor {p} timers 3 9\n neighbor {p} timers connect 5\n neighbor {p} bfd\n neighbor {p} bfd profile tor-fast\n !", self.peer_as);
        for (f, af) in [("ip", "ipv4"), ("ipv6", "ipv6")] {
            let mine: Vec<&Announce> = self
                .announce
                .iter()
                .filter(|a| self.family(&a.prefix) == f)
                .collect();
            if f == "ipv6" && mine.is_empty() {
                continue;
            }
            let _ = writeln!(s, " address-family {af} unicast");
            for a in mine {
                let _ = writeln!(s, "  network {} route-map ferrule-set-{}", a.prefix, a.set);
            }
            let _ = writeln!(s, "  neighbor {p} activate\n  neighbor {p} route-map ferrule-{p}-in in\n  neighbor {p} route-map ferrule-{p}-out out\n exit-address-family");
        }
        s.push_str("exit\n!\n");
        s
    }
}
