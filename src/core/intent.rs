//! Per-node routing intent: which neighbors one node peers with and, for each, exactly which
//! prefixes it announces with which attributes, plus a reason for everything it does not.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use ipnet::IpNet;
use serde::Serialize;

use super::model::{
    Assignment, BfdProfile, Community, Config, Endpoint, Node, Password, PeerAddress, RemoteAs,
    Service, ServiceKey, Timers,
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
    pub source_address: Option<std::net::IpAddr>,
    pub ebgp_multihop: bool,
    pub bfd_profile: Option<String>,
    pub graceful_restart: bool,
    /// Address families to activate on this session.
    pub ipv4: bool,
    pub ipv6: bool,
    /// Sorted by prefix; at most one entry per prefix (attributes from every advertisement
    /// that selects it to this peer are merged).
    pub announcements: Vec<Announcement>,
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

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
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
    pub endpoints: &'a BTreeMap<ServiceKey, Vec<Endpoint>>,
    pub nodes: &'a BTreeMap<String, Node>,
}
