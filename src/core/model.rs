//! Validated domain types: what the user's objects mean once checked, with no Kubernetes
//! types in them. `validate` builds these; `allocate` and `intent` work only on these.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use serde::Serialize;

pub type Labels = BTreeMap<String, String>;

/// Names one Kubernetes object in errors, reasons and status: `Kind ns/name`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ObjectRef {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl ObjectRef {
    pub fn new(kind: &str, namespace: &str, name: &str) -> Self {
        ObjectRef {
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}", self.kind, self.name)
        } else {
            write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// A Service, by namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ServiceKey {
    pub namespace: String,
    pub name: String,
}

impl ServiceKey {
    pub fn new(namespace: &str, name: &str) -> Self {
        ServiceKey {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A compiled Kubernetes label selector (matchLabels and matchExpressions).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Selector {
    pub requirements: Vec<Requirement>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Requirement {
    In(String, BTreeSet<String>),
    NotIn(String, BTreeSet<String>),
    Exists(String),
    DoesNotExist(String),
}

impl Selector {
    /// An empty selector matches everything, as in Kubernetes.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.requirements.iter().all(|r| match r {
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        })
    }
}

/// True when the list is empty or any selector matches (MetalLB's rule for selector lists).
pub fn any_matches(selectors: &[Selector], labels: &Labels) -> bool {
    selectors.is_empty() || selectors.iter().any(|s| s.matches(labels))
}

/// An inclusive address range inside one family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct IpRange {
    pub first: IpAddr,
    pub last: IpAddr,
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Pool {
    pub name: String,
    pub labels: Labels,
    /// Address ranges in the order written; a CIDR is the range it spans.
    pub ranges: Vec<IpRange>,
    /// The CIDRs as written (ranges are kept as ranges); used for aggregation checks.
    pub cidrs: Vec<IpNet>,
    pub auto_assign: bool,
    pub avoid_buggy_ips: bool,
    pub allocation: Option<PoolAllocation>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PoolAllocation {
    pub priority: Option<i32>,
    pub namespaces: BTreeSet<String>,
    pub namespace_selectors: Vec<Selector>,
    pub service_selectors: Vec<Selector>,
}

/// A BGP password. Its Debug and Display never show the value.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Password(#[serde(skip)] String);

impl Password {
    pub fn new(value: String) -> Self {
        Password(value)
    }
    /// The secret itself: only the FRR renderer may call this.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum RemoteAs {
    Asn(u32),
    /// dynamicASN: internal (the peer's AS equals ours).
    Internal,
    /// dynamicASN: external (any AS but ours).
    External,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum PeerAddress {
    Ip(IpAddr),
    /// BGP unnumbered over this interface (already checked to be a safe interface name).
    Interface(String),
}

impl fmt::Display for PeerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerAddress::Ip(ip) => write!(f, "{ip}"),
            PeerAddress::Interface(i) => f.write_str(i),
        }
    }
}

/// Session timers in seconds, after MetalLB's defaulting (one of hold/keepalive set derives
/// the other, x3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Timers {
    pub keepalive: u32,
    pub hold: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Peer {
    /// The BGPPeer object's name.
    pub name: String,
    pub my_asn: u32,
    pub remote_as: RemoteAs,
    pub address: PeerAddress,
    pub source_address: Option<IpAddr>,
    pub port: Option<u16>,
    pub timers: Option<Timers>,
    /// Seconds between connection attempts.
    pub connect_time: Option<u32>,
    pub router_id: Option<Ipv4Addr>,
    /// `localASN`: the AS the peer sees this session come from, when not myASN.
    pub local_asn: Option<u32>,
    pub node_selectors: Vec<Selector>,
    /// Resolved password (inline or from the referenced Secret).
    #[serde(skip)]
    pub password: Option<Password>,
    /// The password asked for cannot be had (Secret missing, value FRR cannot take): keep
    /// whatever password FRR runs for this neighbor rather than drop the session.
    pub keep_password: bool,
    /// Name of a valid BFDProfile.
    pub bfd_profile: Option<String>,
    /// BFD on without a profile (FRR's default timers): the profile named is missing or
    /// invalid, and turning BFD off would reset the session.
    pub bfd: bool,
    pub ebgp_multihop: bool,
    /// VRF name, already checked to be a safe identifier.
    pub vrf: Option<String>,
    pub graceful_restart: bool,
    /// Carry both address families over this session.
    pub dual_stack: bool,
}

impl Peer {
    /// A peer with every optional setting at its default (FRR's defaults apply).
    pub fn new(name: &str, my_asn: u32, remote_as: RemoteAs, address: PeerAddress) -> Self {
        Peer {
            name: name.into(),
            my_asn,
            remote_as,
            address,
            source_address: None,
            port: None,
            timers: None,
            connect_time: None,
            router_id: None,
            local_asn: None,
            node_selectors: vec![],
            password: None,
            keep_password: false,
            bfd_profile: None,
            bfd: false,
            ebgp_multihop: false,
            vrf: None,
            graceful_restart: false,
            dual_stack: false,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BfdProfile {
    pub name: String,
    pub receive_interval: Option<u32>,
    pub transmit_interval: Option<u32>,
    pub detect_multiplier: Option<u32>,
    pub echo_interval: Option<u32>,
    pub echo_mode: bool,
    pub passive_mode: bool,
    pub minimum_ttl: Option<u32>,
}

/// A parsed BGP community value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Community {
    Standard(u16, u16),
    Large(u32, u32, u32),
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Community::Standard(a, b) => write!(f, "{a}:{b}"),
            Community::Large(a, b, c) => write!(f, "{a}:{b}:{c}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Advertisement {
    pub name: String,
    pub aggregation_length_v4: u8,
    pub aggregation_length_v6: u8,
    pub local_pref: Option<u32>,
    /// Aliases already resolved.
    pub communities: BTreeSet<Community>,
    /// Names of valid pools this advertisement covers (names and selectors already resolved).
    pub pools: BTreeSet<String>,
    pub node_selectors: Vec<Selector>,
    /// The BGPPeers it announces to, by name; `None` means every peer. Names that do not
    /// exist (or are invalid) are already left out, so `Some` of an empty set sends nowhere.
    pub peers: Option<BTreeSet<String>>,
    pub service_selectors: Vec<Selector>,
}

/// The validated configuration: only objects that passed validation are here.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Config {
    /// By name, so iteration is sorted.
    pub pools: BTreeMap<String, Pool>,
    pub peers: BTreeMap<String, Peer>,
    pub bfd_profiles: BTreeMap<String, BfdProfile>,
    pub advertisements: BTreeMap<String, Advertisement>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum IpFamily {
    V4,
    V6,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum IpFamilyPolicy {
    SingleStack,
    PreferDualStack,
    RequireDualStack,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ServicePort {
    pub protocol: String,
    pub port: i32,
}

/// What allocation and intent need to know of a Service.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Service {
    pub key: ServiceKey,
    pub labels: Labels,
    /// type: LoadBalancer and no foreign loadBalancerClass.
    pub is_ours: bool,
    pub etp_local: bool,
    /// `spec.loadBalancerIP` and `metallb.io/loadBalancerIPs`, parsed.
    pub requested_ips: Vec<IpAddr>,
    /// `metallb.io/address-pool`.
    pub requested_pool: Option<String>,
    /// `metallb.io/allow-shared-ip`.
    pub sharing_key: Option<String>,
    pub ports: BTreeSet<ServicePort>,
    /// The pod selector, used to tell whether two ETP=Local Services share backends.
    pub selector: Labels,
    pub ip_families: Vec<IpFamily>,
    pub ip_family_policy: IpFamilyPolicy,
    /// Addresses currently in `status.loadBalancer.ingress` (what we handed out before).
    pub current_ips: Vec<IpAddr>,
    /// The pool those addresses came from (`metallb.io/ip-allocated-from-pool`, or file
    /// mode's ledger): a Service whose pool turned unusable keeps its addresses even when
    /// nothing of the pool parses any more.
    pub current_pool: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Node {
    pub name: String,
    pub labels: Labels,
    /// NodeCondition NetworkUnavailable is True.
    pub network_unavailable: bool,
}

/// The label that takes a node out of every load balancer.
pub const EXCLUDE_LB_LABEL: &str = "node.kubernetes.io/exclude-from-external-load-balancers";

impl Node {
    pub fn excluded_from_lb(&self) -> bool {
        self.labels.contains_key(EXCLUDE_LB_LABEL)
    }
}

/// One endpoint of a Service, as far as announcement cares.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Endpoint {
    pub node: Option<String>,
    /// Has addresses and is ready (unset counts as ready) or serving.
    pub serving: bool,
}

/// The addresses a Service holds, and the pool they came from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Assignment {
    pub pool: String,
    pub ips: Vec<IpAddr>,
}
