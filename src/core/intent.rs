//! Per-node routing intent: which neighbors one node peers with and, for each, exactly which
//! prefixes it announces with which attributes, plus a reason for everything it does not.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use serde::Serialize;

use super::model::{
    any_matches, Advertisement, Assignment, BfdProfile, Community, Config, Endpoint, Labels, Node,
    Password, Peer, PeerAddress, RemoteAs, Service, ServiceKey, Timers,
};

/// Everything one node's routing daemons must do. Sorted and stable: equal inputs give
/// equal values (and byte-equal serializations).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct NodeIntent {
    pub node: String,
    /// One BGP instance per VRF (`None` = default VRF), sorted with the default first.
    pub routers: Vec<Router>,
    /// The BFD profiles some neighbor of this node uses, sorted by name.
    pub bfd_profiles: Vec<BfdProfile>,
    /// For every (Service prefix, peer) pair not announced: why. Sorted.
    pub withheld: Vec<Withheld>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Router {
    pub vrf: Option<String>,
    pub asn: u32,
    pub router_id: Option<Ipv4Addr>,
    /// Sorted by peer address.
    pub neighbors: Vec<Neighbor>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Neighbor {
    /// The BGPPeer this neighbor comes from.
    pub peer: String,
    pub address: PeerAddress,
    pub remote_as: RemoteAs,
    /// Set when the BGPPeer's myASN differs from the router's ASN (`local-as`).
    pub local_as: Option<u32>,
    pub port: Option<u16>,
    pub timers: Option<Timers>,
    pub connect_time: Option<u32>,
    #[serde(skip)]
    pub password: Option<Password>,
    /// Keep the password FRR runs for this neighbor (see `Peer::keep_password`).
    pub keep_password: bool,
    pub source_address: Option<std::net::IpAddr>,
    pub ebgp_multihop: bool,
    pub bfd_profile: Option<String>,
    /// BFD on with FRR's default timers (see `Peer::bfd`); implied by `bfd_profile`.
    pub bfd: bool,
    pub graceful_restart: bool,
    /// Address families to activate on this session.
    pub ipv4: bool,
    pub ipv6: bool,
    /// Sorted by prefix; at most one entry per prefix (attributes from every advertisement
    /// that selects it to this peer are merged).
    pub announcements: Vec<Announcement>,
}

impl Neighbor {
    /// A neighbor with every session setting at FRR's default, activated in the families
    /// its address implies (both for an unnumbered session), announcing nothing yet.
    pub fn new(peer: &str, address: PeerAddress, remote_as: RemoteAs) -> Self {
        let (ipv4, ipv6) = match address {
            PeerAddress::Ip(IpAddr::V4(_)) => (true, false),
            PeerAddress::Ip(IpAddr::V6(_)) => (false, true),
            PeerAddress::Interface(_) => (true, true),
        };
        Neighbor {
            peer: peer.into(),
            address,
            remote_as,
            local_as: None,
            port: None,
            timers: None,
            connect_time: None,
            password: None,
            keep_password: false,
            source_address: None,
            ebgp_multihop: false,
            bfd_profile: None,
            bfd: false,
            graceful_restart: false,
            ipv4,
            ipv6,
            announcements: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Announcement {
    pub prefix: IpNet,
    pub communities: BTreeSet<Community>,
    pub local_pref: Option<u32>,
    /// The Services this prefix carries, sorted.
    pub services: Vec<ServiceKey>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Withheld {
    pub service: ServiceKey,
    pub prefix: IpNet,
    /// `None` when the reason holds for every peer (e.g. no endpoint on this node).
    pub peer: Option<String>,
    pub reason: WithholdReason,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum WithholdReason {
    /// externalTrafficPolicy: Local and no serving endpoint on this node.
    NoLocalEndpoint,
    /// No serving endpoint on any node.
    NoServingEndpoint,
    /// The node carries `node.kubernetes.io/exclude-from-external-load-balancers`.
    NodeExcluded,
    /// The node's NetworkUnavailable condition is True.
    NodeNetworkUnavailable,
    /// No BGPAdvertisement covers the Service's pool.
    NoAdvertisement,
    /// Advertisements cover the pool but their nodeSelectors exclude this node.
    AdvertisementNodeSelector,
    /// Advertisements cover the pool but their serviceSelectors exclude the Service.
    AdvertisementServiceSelector,
    /// The advertisement limits its peers and this one is not among them.
    PeerNotSelected,
    /// The peer's nodeSelectors exclude this node (so there is no session).
    PeerNodeSelector,
    /// The session's address family cannot carry this prefix.
    AddressFamily,
    /// The Service's IPAddressPool exists but cannot be used now (invalid, or it lost a
    /// conflict): the Service keeps its address, unannounced until the pool is fixed.
    PoolUnusable,
}

impl std::fmt::Display for WithholdReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WithholdReason::NoLocalEndpoint => {
                "externalTrafficPolicy is Local and no serving endpoint runs on this node"
            }
            WithholdReason::NoServingEndpoint => "no serving endpoint on any node",
            WithholdReason::NodeExcluded => {
                "node is labelled node.kubernetes.io/exclude-from-external-load-balancers"
            }
            WithholdReason::NodeNetworkUnavailable => "node condition NetworkUnavailable is True",
            WithholdReason::NoAdvertisement => "no BGPAdvertisement covers the Service's pool",
            WithholdReason::AdvertisementNodeSelector => {
                "the BGPAdvertisements' nodeSelectors exclude this node"
            }
            WithholdReason::AdvertisementServiceSelector => {
                "the BGPAdvertisements' serviceSelectors exclude the Service"
            }
            WithholdReason::PeerNotSelected => "no BGPAdvertisement for this pool lists this peer",
            WithholdReason::PeerNodeSelector => "the BGPPeer's nodeSelectors exclude this node",
            WithholdReason::AddressFamily => "the session does not carry this address family",
            WithholdReason::PoolUnusable => {
                "the Service's IPAddressPool cannot be used now (see its Valid condition); the Service keeps its address"
            }
        })
    }
}

/// The cluster as intent sees it: validated config plus allocation results and endpoints.
#[derive(Clone, Copy, Debug)]
pub struct ClusterView<'a> {
    pub config: &'a Config,
    /// Services with an address, by key.
    pub services: &'a BTreeMap<ServiceKey, Service>,
    pub assignments: &'a BTreeMap<ServiceKey, Assignment>,
    /// Services holding addresses of a pool that cannot be used now (not announced).
    pub held: &'a BTreeMap<ServiceKey, Assignment>,
    pub endpoints: &'a BTreeMap<ServiceKey, Vec<Endpoint>>,
    pub nodes: &'a BTreeMap<String, Node>,
    /// MetalLB's `--ignore-exclude-lb`: nodes labelled
    /// `node.kubernetes.io/exclude-from-external-load-balancers` announce like any other.
    pub ignore_exclude_lb: bool,
}

/// The routing intent of every node in the view, by node name.
pub fn all_node_intents(view: &ClusterView) -> BTreeMap<String, NodeIntent> {
    view.nodes
        .keys()
        .map(|name| (name.clone(), node_intent(view, name)))
        .collect()
}

/// What `node` must announce to whom, and why it holds back everything else.
///
/// Per Service, the first node-wide reason wins (node excluded or NetworkUnavailable, then
/// endpoints, then advertisements) and is reported once per prefix with no peer; the prefixes
/// named are those the Service would go out as (host routes when no advertisement covers it).
/// Otherwise each (prefix, neighbor) is announced or gets its own per-peer reason.
///
/// Pure and deterministic: the result is fully sorted, so equal views give equal values and
/// byte-equal serializations. Cost is linear in Services + their endpoints (the maps keyed by
/// Service are walked together); per-pool advertisement lookups are computed once per call.
/// A node not in the view counts as one without labels.
///
/// `PeerNodeSelector` is reported only for peers an applicable advertisement names in its
/// `peers` list: an advertisement for "every peer" never meant peers bound to other nodes, and
/// listing each of those for each Service would grow with racks x Services.
pub fn node_intent(view: &ClusterView, node: &str) -> NodeIntent {
    // A node not (yet) known counts as one without labels, as MetalLB does before it has
    // seen the Node: peers and advertisements without nodeSelectors still apply.
    let unknown;
    let this = match view.nodes.get(node) {
        Some(n) => n,
        None => {
            unknown = Node {
                name: node.to_string(),
                labels: Labels::new(),
                network_unavailable: false,
            };
            &unknown
        }
    };
    let config = view.config;
    let (mut sessions, off_node) = sessions_of(config, &this.labels);
    let plans = advertisement_plans(config, &this.labels, &sessions, &off_node);
    let pools = pool_index(&plans);

    let node_reason = if this.excluded_from_lb() && !view.ignore_exclude_lb {
        Some(WithholdReason::NodeExcluded)
    } else if this.network_unavailable {
        Some(WithholdReason::NodeNetworkUnavailable)
    } else {
        None
    };

    let mut withheld = Vec::new();
    // Scratch buffers reused across Services so the loop does not allocate per Service.
    let mut applicable: Vec<usize> = Vec::new();
    let mut selected: Vec<(IpNet, usize)> = Vec::new();
    let mut not_selected: Vec<(IpNet, usize)> = Vec::new();

    // All three maps are sorted by Service key: walk them together instead of searching.
    let mut assignments = Cursor::new(view.assignments);
    let mut endpoints = Cursor::new(view.endpoints);
    for (key, service) in view.services {
        let Some(assignment) = assignments.seek(key) else {
            continue;
        };
        let pool = pools.get(assignment.pool.as_str());
        applicable.clear();
        if let Some(pool) = pool {
            applicable.extend(
                pool.on_node
                    .iter()
                    .copied()
                    .filter(|&i| any_matches(&plans[i].adv.service_selectors, &service.labels)),
            );
        }

        let reason = node_reason
            .or_else(|| endpoint_reason(endpoints.seek(key), node, service.etp_local))
            .or(advertisement_reason(pool, &applicable));
        if let Some(reason) = reason {
            // Name the prefixes the Service would go out as, as closely as the
            // advertisements tell: applicable ones, else those on this node, else any.
            let advs: &[usize] = match pool {
                Some(_) if !applicable.is_empty() => &applicable,
                Some(p) if !p.on_node.is_empty() => &p.on_node,
                Some(p) => &p.covering,
                None => &[],
            };
            for &ip in &assignment.ips {
                if advs.is_empty() {
                    withheld.push(withhold(key, IpNet::from(ip), None, reason));
                }
                for &a in advs {
                    let prefix = aggregate(ip, plans[a].adv);
                    withheld.push(withhold(key, prefix, None, reason));
                }
            }
            continue;
        }

        selected.clear();
        not_selected.clear();
        for &a in &applicable {
            let plan = &plans[a];
            for &ip in &assignment.ips {
                let prefix = aggregate(ip, plan.adv);
                for &s in &plan.selected {
                    selected.push((prefix, s));
                    let session = &mut sessions[s];
                    if session.carries(&prefix) {
                        session.announce(prefix, plan.adv, key);
                    } else {
                        let peer = Some(session.peer.name.clone());
                        withheld.push(withhold(key, prefix, peer, WithholdReason::AddressFamily));
                    }
                }
                not_selected.extend(plan.unselected.iter().map(|&s| (prefix, s)));
                for name in &plan.off_node {
                    let peer = Some((*name).to_string());
                    withheld.push(withhold(
                        key,
                        prefix,
                        peer,
                        WithholdReason::PeerNodeSelector,
                    ));
                }
            }
        }
        // A peer skipped by one advertisement may still get the prefix from another.
        selected.sort_unstable();
        for &(prefix, s) in &not_selected {
            if selected.binary_search(&(prefix, s)).is_err() {
                let peer = Some(sessions[s].peer.name.clone());
                withheld.push(withhold(key, prefix, peer, WithholdReason::PeerNotSelected));
            }
        }
    }

    for (key, held) in view.held {
        if view.services.contains_key(key) {
            for &ip in &held.ips {
                withheld.push(withhold(
                    key,
                    IpNet::from(ip),
                    None,
                    WithholdReason::PoolUnusable,
                ));
            }
        }
    }
    withheld.sort_unstable();
    withheld.dedup();
    let bfd_profiles = sessions
        .iter()
        .filter_map(|s| s.peer.bfd_profile.as_deref())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter_map(|name| config.bfd_profiles.get(name).cloned())
        .collect();
    NodeIntent {
        node: node.to_string(),
        routers: routers(sessions),
        bfd_profiles,
        withheld,
    }
}

/// Walks a map keyed by Service alongside the (sorted) Services: one step per entry instead of
/// a tree search per Service.
struct Cursor<'a, V> {
    entries: std::iter::Peekable<std::collections::btree_map::Iter<'a, ServiceKey, V>>,
}

impl<'a, V> Cursor<'a, V> {
    fn new(map: &'a BTreeMap<ServiceKey, V>) -> Self {
        Cursor {
            entries: map.iter().peekable(),
        }
    }

    /// The value for `key`; keys must be asked in ascending order.
    fn seek(&mut self, key: &ServiceKey) -> Option<&'a V> {
        while let Some(&(k, v)) = self.entries.peek() {
            match k.cmp(key) {
                std::cmp::Ordering::Less => {
                    self.entries.next();
                }
                std::cmp::Ordering::Equal => return Some(v),
                std::cmp::Ordering::Greater => return None,
            }
        }
        None
    }
}

fn withhold(
    service: &ServiceKey,
    prefix: IpNet,
    peer: Option<String>,
    reason: WithholdReason,
) -> Withheld {
    Withheld {
        service: service.clone(),
        prefix,
        peer,
        reason,
    }
}

/// `ip` masked to the advertisement's aggregation length for its family.
fn aggregate(ip: IpAddr, adv: &Advertisement) -> IpNet {
    let (len, max) = match ip {
        IpAddr::V4(_) => (adv.aggregation_length_v4, 32),
        IpAddr::V6(_) => (adv.aggregation_length_v6, 128),
    };
    // Validation bounds the lengths; clamping keeps this total anyway.
    IpNet::new(ip, len.min(max))
        .map(|n| n.trunc())
        .unwrap_or_else(|_| IpNet::from(ip))
}

/// Why no advertisement lets this node announce the Service, if none does.
fn advertisement_reason(pool: Option<&PoolAdvs>, applicable: &[usize]) -> Option<WithholdReason> {
    match pool {
        None => Some(WithholdReason::NoAdvertisement),
        Some(p) if p.on_node.is_empty() => Some(WithholdReason::AdvertisementNodeSelector),
        Some(_) if applicable.is_empty() => Some(WithholdReason::AdvertisementServiceSelector),
        Some(_) => None,
    }
}

/// Why a Service's endpoints keep this node from announcing it, if they do.
fn endpoint_reason(
    endpoints: Option<&Vec<Endpoint>>,
    node: &str,
    etp_local: bool,
) -> Option<WithholdReason> {
    let mut any_serving = false;
    for e in endpoints.into_iter().flatten() {
        if e.serving {
            if !etp_local || e.node.as_deref() == Some(node) {
                return None;
            }
            any_serving = true;
        }
    }
    Some(if any_serving {
        WithholdReason::NoLocalEndpoint
    } else {
        WithholdReason::NoServingEndpoint
    })
}

/// One BGP session of this node, with the announcements gathered for it so far.
struct Session<'a> {
    peer: &'a Peer,
    ipv4: bool,
    ipv6: bool,
    announcements: BTreeMap<IpNet, Merged<'a>>,
}

#[derive(Default)]
struct Merged<'a> {
    communities: BTreeSet<Community>,
    local_pref: Option<u32>,
    services: Vec<&'a ServiceKey>,
}

impl<'a> Session<'a> {
    fn new(peer: &'a Peer) -> Self {
        let (ipv4, ipv6) = match peer.address {
            PeerAddress::Ip(IpAddr::V4(_)) => (true, peer.dual_stack),
            PeerAddress::Ip(IpAddr::V6(_)) => (peer.dual_stack, true),
            // Unnumbered sessions run over link-local IPv6 and carry both families.
            PeerAddress::Interface(_) => (true, true),
        };
        Session {
            peer,
            ipv4,
            ipv6,
            announcements: BTreeMap::new(),
        }
    }

    fn carries(&self, prefix: &IpNet) -> bool {
        match prefix {
            IpNet::V4(_) => self.ipv4,
            IpNet::V6(_) => self.ipv6,
        }
    }

    fn announce(&mut self, prefix: IpNet, adv: &Advertisement, service: &'a ServiceKey) {
        let merged = self.announcements.entry(prefix).or_default();
        merged.communities.extend(adv.communities.iter().copied());
        // Validation rejects conflicting localPrefs for one pool; max keeps this
        // order-independent if prefixes of two pools aggregate together.
        merged.local_pref = merged.local_pref.max(adv.local_pref);
        merged.services.push(service);
    }

    fn into_neighbor(self) -> Neighbor {
        let p = self.peer;
        Neighbor {
            peer: p.name.clone(),
            address: p.address.clone(),
            remote_as: p.remote_as,
            local_as: p.local_asn.filter(|l| *l != p.my_asn),
            port: p.port,
            timers: p.timers,
            connect_time: p.connect_time,
            password: p.password.clone(),
            keep_password: p.keep_password,
            source_address: p.source_address,
            ebgp_multihop: p.ebgp_multihop,
            bfd_profile: p.bfd_profile.clone(),
            bfd: p.bfd,
            graceful_restart: p.graceful_restart,
            ipv4: self.ipv4,
            ipv6: self.ipv6,
            announcements: self
                .announcements
                .into_iter()
                .map(|(prefix, mut m)| {
                    m.services.sort_unstable();
                    m.services.dedup();
                    Announcement {
                        prefix,
                        communities: m.communities,
                        local_pref: m.local_pref,
                        services: m.services.into_iter().cloned().collect(),
                    }
                })
                .collect(),
        }
    }
}

/// This node's sessions, sorted by (VRF, peer name), and the names of peers whose
/// nodeSelectors exclude it.
fn sessions_of<'a>(config: &'a Config, labels: &Labels) -> (Vec<Session<'a>>, BTreeSet<&'a str>) {
    let mut by_vrf: BTreeMap<Option<&str>, Vec<&Peer>> = BTreeMap::new();
    let mut off_node = BTreeSet::new();
    for peer in config.peers.values() {
        if any_matches(&peer.node_selectors, labels) {
            by_vrf.entry(peer.vrf.as_deref()).or_default().push(peer);
        } else {
            off_node.insert(peer.name.as_str());
        }
    }
    let mut sessions = Vec::new();
    for peers in by_vrf.into_values() {
        // One BGP instance per VRF has one ASN. Validation rejects disagreeing myASNs;
        // should one slip through, the lowest-named peer wins and the others get no session.
        let asn = peers[0].my_asn;
        sessions.extend(
            peers
                .into_iter()
                .filter(|p| p.my_asn == asn)
                .map(Session::new),
        );
    }
    (sessions, off_node)
}

/// One advertisement as it applies to this node: which sessions it selects.
struct Plan<'a> {
    adv: &'a Advertisement,
    on_node: bool,
    /// Indices into the sessions it sends to, and those it leaves out.
    selected: Vec<usize>,
    unselected: Vec<usize>,
    /// Peers it names explicitly that have no session on this node.
    off_node: Vec<&'a str>,
}

fn advertisement_plans<'a>(
    config: &'a Config,
    labels: &Labels,
    sessions: &[Session<'a>],
    off_node: &BTreeSet<&'a str>,
) -> Vec<Plan<'a>> {
    config
        .advertisements
        .values()
        .map(|adv| {
            let (selected, unselected) = (0..sessions.len()).partition(|&i| {
                adv.peers
                    .as_ref()
                    .is_none_or(|p| p.contains(&sessions[i].peer.name))
            });
            Plan {
                adv,
                on_node: any_matches(&adv.node_selectors, labels),
                selected,
                unselected,
                off_node: off_node
                    .iter()
                    .copied()
                    .filter(|name| adv.peers.as_ref().is_some_and(|p| p.contains(*name)))
                    .collect(),
            }
        })
        .collect()
}

/// Advertisements (as indices into the plans) per pool name.
#[derive(Default)]
struct PoolAdvs {
    covering: Vec<usize>,
    on_node: Vec<usize>,
}

fn pool_index<'a>(plans: &[Plan<'a>]) -> BTreeMap<&'a str, PoolAdvs> {
    let mut index: BTreeMap<&'a str, PoolAdvs> = BTreeMap::new();
    for (i, plan) in plans.iter().enumerate() {
        for pool in &plan.adv.pools {
            let entry = index.entry(pool.as_str()).or_default();
            entry.covering.push(i);
            if plan.on_node {
                entry.on_node.push(i);
            }
        }
    }
    index
}

/// Groups sessions (sorted by VRF, then peer name) into one router per VRF.
fn routers(sessions: Vec<Session>) -> Vec<Router> {
    let mut routers: Vec<Router> = Vec::new();
    for session in sessions {
        let peer = session.peer;
        match routers.last_mut() {
            Some(r) if r.vrf == peer.vrf => {
                r.router_id = r.router_id.or(peer.router_id);
            }
            _ => routers.push(Router {
                vrf: peer.vrf.clone(),
                asn: peer.my_asn,
                router_id: peer.router_id,
                neighbors: Vec::new(),
            }),
        }
        if let Some(r) = routers.last_mut() {
            r.neighbors.push(session.into_neighbor());
        }
    }
    for r in &mut routers {
        r.neighbors
            .sort_by(|a, b| (&a.address, &a.peer).cmp(&(&b.address, &b.peer)));
    }
    routers
}
