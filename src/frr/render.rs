//! One node's [`NodeIntent`] as a complete FRR 8.4 config (`frr.conf`).
//!
//! Rust builds a flat view model (every string formatted and checked here); the askama
//! templates in `templates/frr/` only lay it out, one file per stanza. Inside each stanza the
//! lines follow what FRR 8.4 prints in `show running-config` (line order, values equal to FRR's
//! defaults left out, well-known communities by name), so a loaded config reads back line for
//! line as rendered. Only the stanza order differs: route-maps come first (see below).
//!
//! Shape:
//! - `bgp route-map delay-timer 1` (see [`ROUTE_MAP_DELAY_TIMER`]).
//! - Route-maps, before the `router bgp` stanzas that use them.
//! - Per router: `router bgp ASN [vrf V]`, session lines per neighbor, then one address-family
//!   block per family in use: a `network` per prefix this node announces to some neighbor of
//!   the router, and per neighbor `activate` + an inbound route-map that denies everything + an
//!   outbound route-map.
//! - `bfd` block with the profiles in use.
//!
//! # Outbound policy: announcement classes and route tags
//! A prefix's *announcement class* is the set of (neighbor, attributes) it goes out with, e.g.
//! `{tor1: 65000:100 lp 100, tor2: 65000:100 lp 100}`. Each class gets a route tag derived
//! from a hash of its content, and a route-map `ferrule-tag-T` that only does `set tag T`. Every
//! prefix is `network P route-map ferrule-tag-T`; each neighbor's out route-map has one entry per
//! class it belongs to (`match tag T`, then the class's communities / local preference for that
//! neighbor) and a final `deny 65535`, which drops everything else, such as a `network` meant for
//! another neighbor.
//!
//! Why not a prefix-list per attribute set: FRR 8.4 commits every prefix-list entry through
//! its northbound layer, which costs time proportional to the list's size: loading 2,000
//! entries took 48 s, and 20,000 (10,000 prefixes, 2 peers) did not finish in 20 minutes.
//! `network` lines are cheap (10,000 with route-maps: 2 s). So the config grows with prefixes
//! only in `network` lines, and with classes everywhere else.
//!
//! Changes stay small and take effect at once, without `clear bgp`: a tagging route-map's
//! content is fixed by its name, and so is each out entry's; a new Service is one `network`
//! line, a Service changing class is one `network` line re-issued with the other route-map
//! (FRR re-originates it at once), and a class appears or goes with its route-map entries.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;
use std::net::IpAddr;

use askama::Template;
use ipnet::IpNet;

use super::names::{self, SafeName};
use crate::core::intent::{Neighbor, NodeIntent, Router};
use crate::core::model::{BfdProfile, Community, PeerAddress, RemoteAs};

/// Why a config could not be rendered. Messages name the object and field; they never contain
/// a password.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("{origin}: {reason}: {value:?}")]
    UnsafeName {
        origin: String,
        value: String,
        reason: &'static str,
    },
    #[error("{origin}: {value} is out of range ({range})")]
    OutOfRange {
        origin: String,
        value: u64,
        range: &'static str,
    },
    #[error(
        "{origin}: the password must be 1 to 80 printable ASCII characters without spaces (TCP MD5 key)"
    )]
    InvalidPassword { origin: String },
    #[error("{origin}: BFD profile {profile:?} is not among the node's BFD profiles")]
    UnknownBfdProfile { origin: String, profile: String },
    #[error("{origin}: {message}")]
    Unsupported { origin: String, message: String },
    #[error("two BGP routers for the {vrf} VRF")]
    DuplicateRouter { vrf: String },
    #[error("{origin}: neighbor {neighbor} is configured twice in one router")]
    DuplicateNeighbor { origin: String, neighbor: String },
    #[error("derived name {name} would be used twice; rename a VRF or interface")]
    NameCollision { name: String },
    #[error("template: {0}")]
    Template(#[from] askama::Error),
}

/// FRR's `bgp route-map delay-timer`, in seconds: 1 (FRR's default is 5; global in FRR 8.4).
///
/// The timer decides when FRR re-applies a changed route-map to routes it already has. This
/// config never changes a route-map in place (see the module docs): Services move between
/// classes by re-issuing their `network` line, which FRR applies at once whatever the timer.
/// So the timer only matters as a safety net, for a `network ... route-map M` that FRR read
/// before `M` existed: FRR drops such a route and, at 0, never looks at it again (measured:
/// a config in FRR's own stanza order, as `write` saves it, announced nothing after a restart).
/// At 1 such a route is repaired a second after the last route-map edit, at the cost of one
/// no-op re-evaluation after each route-map change. A `clear bgp ... soft out` after an apply
/// is harmless but not needed.
pub const ROUTE_MAP_DELAY_TIMER: u32 = 1;

/// Sequence number of the final deny entry of each outbound route-map.
const FINAL_DENY_SEQ: u32 = 65535;

// Values FRR 8.4 treats as defaults and never prints; leaving them out keeps the rendered text
// equal to `show running-config`.
const BGP_DEFAULT_PORT: u16 = 179;
const BFD_DEFAULT_INTERVAL: u32 = 300;
const BFD_DEFAULT_DETECT_MULTIPLIER: u32 = 3;
const BFD_DEFAULT_ECHO_INTERVAL: u32 = 50;
const BFD_DEFAULT_MINIMUM_TTL: u32 = 254;

/// Renders the whole FRR config for one node.
///
/// The result contains BGP passwords (`neighbor X password ...`, nowhere else): it is a secret.
/// Write it with mode 0600 and never log it.
pub fn render(intent: &NodeIntent) -> Result<String, RenderError> {
    let view = View::build(intent)?;
    let mut out = FrrConf { v: &view }.render()?;
    // askama drops the template file's final newline.
    out.push('\n');
    Ok(out)
}

#[derive(Template)]
#[template(path = "frr/frr.conf", escape = "none")]
struct FrrConf<'a> {
    v: &'a View,
}

/// The flat view model the templates lay out. Every string in it is a formatted IP/number or
/// a [`SafeName`].
struct View {
    delay_timer: u32,
    /// Sorted by (name, seq).
    route_maps: Vec<RouteMapEntryView>,
    routers: Vec<RouterView>,
    bfd_profiles: Vec<BfdProfileView>,
}

struct RouterView {
    asn: u32,
    vrf: Option<SafeName>,
    router_id: Option<String>,
    graceful_restart: bool,
    /// In FRR's order: interface neighbors first, then by address.
    neighbors: Vec<NeighborView>,
    /// IPv4 first.
    families: Vec<FamilyView>,
}

struct NeighborView {
    /// The address or interface name, as every `neighbor X ...` line spells it.
    id: String,
    interface: bool,
    remote_as: String,
    local_as: Option<u32>,
    bfd_profile: Option<SafeName>,
    password: Option<String>,
    port: Option<u16>,
    ebgp_multihop: bool,
    update_source: Option<String>,
    timers: Option<(u32, u32)>,
    connect_time: Option<u32>,
    graceful_restart: bool,
}

struct FamilyView {
    afi: &'static str,
    /// Sorted by prefix, each with its class's tagging route-map.
    networks: Vec<(IpNet, SafeName)>,
    neighbors: Vec<FamilyNeighborView>,
}

struct FamilyNeighborView {
    id: String,
    route_map_in: SafeName,
    route_map_out: SafeName,
}

struct RouteMapEntryView {
    name: SafeName,
    action: &'static str,
    seq: u32,
    match_tag: Option<u32>,
    communities: Option<String>,
    large_communities: Option<String>,
    local_pref: Option<u32>,
    set_tag: Option<u32>,
}

impl RouteMapEntryView {
    fn new(name: SafeName, action: &'static str, seq: u32) -> Self {
        RouteMapEntryView {
            name,
            action,
            seq,
            match_tag: None,
            communities: None,
            large_communities: None,
            local_pref: None,
            set_tag: None,
        }
    }
}

struct BfdProfileView {
    name: SafeName,
    detect_multiplier: Option<u32>,
    transmit_interval: Option<u32>,
    receive_interval: Option<u32>,
    passive_mode: bool,
    echo_mode: bool,
    echo_interval: Option<u32>,
    minimum_ttl: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Family {
    V4,
    V6,
}

impl Family {
    fn of(prefix: &IpNet) -> Family {
        match prefix {
            IpNet::V4(_) => Family::V4,
            IpNet::V6(_) => Family::V6,
        }
    }
}

/// The attributes one neighbor gets a prefix with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct AttrSet<'a> {
    communities: &'a BTreeSet<Community>,
    local_pref: Option<u32>,
}

impl AttrSet<'_> {
    fn standard(&self) -> Vec<String> {
        self.communities
            .iter()
            .filter_map(|c| match c {
                Community::Standard(a, b) => Some(standard_community(*a, *b)),
                Community::Large(..) => None,
            })
            .collect()
    }
    fn large(&self) -> Vec<String> {
        self.communities
            .iter()
            .filter(|c| matches!(c, Community::Large(..)))
            .map(|c| c.to_string())
            .collect()
    }
    /// Numeric text form, part of a class's canonical text.
    fn canonical(&self) -> String {
        let numeric = |large: bool| {
            self.communities
                .iter()
                .filter(|c| matches!(c, Community::Large(..)) == large)
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        let lp = self.local_pref.map(|v| v.to_string()).unwrap_or_default();
        format!("c={};lc={};lp={lp}", numeric(false), numeric(true))
    }
}

/// A standard community as FRR 8.4 prints it: well-known values by name (so the rendered
/// text equals `show running-config`), others as `a:b`. FRR sorts by numeric value, as the
/// `BTreeSet` already does.
fn standard_community(a: u16, b: u16) -> String {
    let name = match (a, b) {
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
        _ => return format!("{a}:{b}"),
    };
    name.to_owned()
}

/// An announcement class: which neighbors (by global index) get the prefix, with what.
/// Sorted by neighbor index.
type Class<'a> = Vec<(usize, AttrSet<'a>)>;

/// A neighbor, as the policy builder needs it.
struct PolicyNeighbor {
    key: String,
    route_map_out: SafeName,
}

impl View {
    fn build(intent: &NodeIntent) -> Result<View, RenderError> {
        let bfd_profiles = bfd_profiles(&intent.bfd_profiles)?;
        let known_profiles: BTreeSet<String> =
            bfd_profiles.iter().map(|p| p.name.to_string()).collect();
        let mut route_maps = Vec::new();
        let mut policy_neighbors: Vec<PolicyNeighbor> = Vec::new();
        let mut classes: BTreeMap<Class, usize> = BTreeMap::new();
        // Per router: its view (networks still empty) and (prefix, class index) pairs.
        let mut routers: Vec<(RouterView, Vec<(IpNet, usize)>)> = Vec::new();
        let mut vrfs = BTreeSet::new();
        for router in &intent.routers {
            let vrf = router_vrf(router)?;
            let vrf_label = vrf.as_ref().map_or("default".to_owned(), |v| v.to_string());
            if !vrfs.insert(vrf_label.clone()) {
                return Err(RenderError::DuplicateRouter { vrf: vrf_label });
            }
            let (view, announced) = router_view(
                router,
                vrf,
                &known_profiles,
                &mut policy_neighbors,
                &mut route_maps,
            )?;
            let mut networks = Vec::with_capacity(announced.len());
            for (prefix, class) in announced {
                let next = classes.len();
                let index = *classes.entry(class).or_insert(next);
                networks.push((prefix, index));
            }
            routers.push((view, networks));
        }

        let tags = assign_tags(&classes, &policy_neighbors);
        // Tagging route-maps, and each neighbor's out entries (one per class it is in).
        let mut out_entries: BTreeMap<usize, Vec<(u32, AttrSet)>> = BTreeMap::new();
        for (class, &index) in &classes {
            let tag = tags[index];
            let mut entry = RouteMapEntryView::new(names::tag_route_map(tag), "permit", 10);
            entry.set_tag = Some(tag);
            route_maps.push(entry);
            for (g, attrs) in class {
                out_entries.entry(*g).or_default().push((tag, *attrs));
            }
        }
        for (g, mut entries) in out_entries {
            // Sequence numbers derive from the tag; rare clashes take the next free number,
            // in tag order so the result depends only on this neighbor's classes.
            entries.sort_by_key(|(tag, _)| (seq_for_tag(*tag), *tag));
            let mut used = BTreeSet::from([FINAL_DENY_SEQ]);
            for (tag, attrs) in entries {
                let seq = free_seq(seq_for_tag(tag), &mut used, 1, FINAL_DENY_SEQ - 1).ok_or_else(
                    || RenderError::Unsupported {
                        origin: format!("route-map {}", policy_neighbors[g].route_map_out),
                        message: "more than 65534 announcement classes".into(),
                    },
                )?;
                let standard = attrs.standard();
                let large = attrs.large();
                let mut entry = RouteMapEntryView::new(
                    policy_neighbors[g].route_map_out.clone(),
                    "permit",
                    seq,
                );
                entry.match_tag = Some(tag);
                // `set community` replaces: the route carries exactly the configured set.
                entry.communities = (!standard.is_empty()).then(|| standard.join(" "));
                entry.large_communities = (!large.is_empty()).then(|| large.join(" "));
                entry.local_pref = attrs.local_pref;
                route_maps.push(entry);
            }
        }
        route_maps.sort_by(|a, b| (&a.name, a.seq).cmp(&(&b.name, b.seq)));
        check_unique(&route_maps)?;

        let routers = routers
            .into_iter()
            .map(|(mut view, networks)| {
                for (prefix, index) in networks {
                    let family = Family::of(&prefix);
                    let fv = view
                        .families
                        .iter_mut()
                        .find(|f| f.afi == afi(family))
                        .expect("a prefix is announced only in an active family");
                    fv.networks
                        .push((prefix, names::tag_route_map(tags[index])));
                }
                view
            })
            .collect();
        Ok(View {
            delay_timer: ROUTE_MAP_DELAY_TIMER,
            route_maps,
            routers,
            bfd_profiles,
        })
    }
}

fn afi(family: Family) -> &'static str {
    match family {
        Family::V4 => "ipv4",
        Family::V6 => "ipv6",
    }
}

/// The router's view, its neighbors' in/deny-all and final-deny route-map entries (pushed to
/// `route_maps`), and every announced prefix with its class (sorted by prefix).
fn router_view<'a>(
    router: &'a Router,
    vrf: Option<SafeName>,
    known_profiles: &BTreeSet<String>,
    policy_neighbors: &mut Vec<PolicyNeighbor>,
    route_maps: &mut Vec<RouteMapEntryView>,
) -> Result<(RouterView, BTreeMap<IpNet, Class<'a>>), RenderError> {
    let origin = router_origin(router);
    if router.asn == 0 {
        return Err(out_of_range(format!("{origin} ASN"), 0, "1-4294967295"));
    }
    // FRR lists interface neighbors first, then addresses in numeric order.
    let mut ordered: Vec<&Neighbor> = router.neighbors.iter().collect();
    ordered.sort_by_key(|n| match &n.address {
        PeerAddress::Interface(i) => (0, None, Some(i.as_str())),
        PeerAddress::Ip(ip) => (1, Some(*ip), None),
    });
    let mut seen = BTreeSet::new();
    let mut neighbors = Vec::new();
    let mut families: BTreeMap<Family, FamilyView> = BTreeMap::new();
    let mut announced: BTreeMap<IpNet, Class> = BTreeMap::new();
    for n in ordered {
        if !seen.insert(&n.address) {
            return Err(RenderError::DuplicateNeighbor {
                origin: neighbor_origin(n),
                neighbor: n.address.to_string(),
            });
        }
        let nv = neighbor(router, n, known_profiles)?;
        let key = names::neighbor_key(vrf.as_ref(), &n.address);
        let rm_in = names::route_map_in(&key)?;
        let rm_out = names::route_map_out(&key)?;
        let active: Vec<Family> = [(n.ipv4, Family::V4), (n.ipv6, Family::V6)]
            .into_iter()
            .filter_map(|(on, f)| on.then_some(f))
            .collect();
        for &family in &active {
            families
                .entry(family)
                .or_insert_with(|| FamilyView {
                    afi: afi(family),
                    networks: Vec::new(),
                    neighbors: Vec::new(),
                })
                .neighbors
                .push(FamilyNeighborView {
                    id: nv.id.clone(),
                    route_map_in: rm_in.clone(),
                    route_map_out: rm_out.clone(),
                });
        }
        let g = policy_neighbors.len();
        for a in &n.announcements {
            // A prefix in a family the session does not carry cannot be sent; intent reports
            // it as withheld.
            if !active.contains(&Family::of(&a.prefix)) {
                continue;
            }
            let class = announced.entry(a.prefix).or_default();
            // Neighbors come one after another, so a repeat shows as the last entry.
            if class.last().is_some_and(|(last, _)| *last == g) {
                return Err(RenderError::Unsupported {
                    origin: neighbor_origin(n),
                    message: format!("prefix {} is announced twice", a.prefix),
                });
            }
            class.push((
                g,
                AttrSet {
                    communities: &a.communities,
                    local_pref: a.local_pref,
                },
            ));
        }
        route_maps.push(RouteMapEntryView::new(
            rm_out.clone(),
            "deny",
            FINAL_DENY_SEQ,
        ));
        route_maps.push(RouteMapEntryView::new(rm_in, "deny", 10));
        policy_neighbors.push(PolicyNeighbor {
            key,
            route_map_out: rm_out,
        });
        neighbors.push(nv);
    }
    let view = RouterView {
        asn: router.asn,
        vrf,
        router_id: router.router_id.map(|id| id.to_string()),
        graceful_restart: router.neighbors.iter().any(|n| n.graceful_restart),
        neighbors,
        families: families.into_values().collect(),
    };
    Ok((view, announced))
}

/// A tag per class (indexed like the classes' values), derived from the class's canonical text
/// (neighbor keys and attributes). The rare clash takes the next free tag, in (preferred tag,
/// canonical text) order, so a class's tag depends on nothing else unless it clashes.
fn assign_tags(classes: &BTreeMap<Class, usize>, neighbors: &[PolicyNeighbor]) -> Vec<u32> {
    let mut wanted: Vec<(u32, String, usize)> = classes
        .iter()
        .map(|(class, &index)| {
            let canonical = class
                .iter()
                .map(|(g, attrs)| format!("{}={}", neighbors[*g].key, attrs.canonical()))
                .collect::<Vec<_>>()
                .join("|");
            (names::preferred_tag(&canonical), canonical, index)
        })
        .collect();
    wanted.sort();
    let mut tags = vec![0; classes.len()];
    let mut used = BTreeSet::new();
    for (want, _, index) in wanted {
        tags[index] = free_seq(want, &mut used, 1, u32::MAX).expect("fewer than 2^32 classes");
    }
    tags
}

/// Preferred sequence number of a class's entry in an out route-map: 1..=65534.
fn seq_for_tag(tag: u32) -> u32 {
    1 + tag % (FINAL_DENY_SEQ - 1)
}

fn check_unique(route_maps: &[RouteMapEntryView]) -> Result<(), RenderError> {
    let mut seen = HashSet::new();
    for rm in route_maps {
        if !seen.insert((rm.name.as_str(), rm.seq)) {
            return Err(RenderError::NameCollision {
                name: rm.name.to_string(),
            });
        }
    }
    Ok(())
}

/// The first free number at or after `want`, wrapping within `lo..=hi`.
fn free_seq(want: u32, used: &mut BTreeSet<u32>, lo: u32, hi: u32) -> Option<u32> {
    let span = u64::from(hi - lo) + 1;
    // `used` only ever holds numbers within `lo..=hi`.
    if used.len() as u64 >= span {
        return None;
    }
    let mut seq = want.clamp(lo, hi);
    while used.contains(&seq) {
        seq = if seq == hi { lo } else { seq + 1 };
    }
    used.insert(seq);
    Some(seq)
}

fn router_origin(router: &Router) -> String {
    let peers: Vec<&str> = router.neighbors.iter().map(|n| n.peer.as_str()).collect();
    let mut s = format!("router bgp {}", router.asn);
    if let Some(v) = &router.vrf {
        let _ = write!(s, " vrf {v:?}");
    }
    if !peers.is_empty() {
        let _ = write!(s, " (BGPPeer {})", peers.join(", "));
    }
    s
}

fn neighbor_origin(n: &Neighbor) -> String {
    format!("BGPPeer {}", n.peer)
}

fn out_of_range(origin: String, value: u64, range: &'static str) -> RenderError {
    RenderError::OutOfRange {
        origin,
        value,
        range,
    }
}

fn check_range(
    origin: impl FnOnce() -> String,
    value: u32,
    lo: u32,
    hi: u32,
    range: &'static str,
) -> Result<u32, RenderError> {
    if (lo..=hi).contains(&value) {
        Ok(value)
    } else {
        Err(out_of_range(origin(), value.into(), range))
    }
}

fn router_vrf(router: &Router) -> Result<Option<SafeName>, RenderError> {
    let Some(vrf) = &router.vrf else {
        return Ok(None);
    };
    let origin = match router.neighbors.first() {
        Some(n) => format!("{} spec.vrf", neighbor_origin(n)),
        None => format!("router bgp {} VRF", router.asn),
    };
    let name = SafeName::new(vrf, &origin)?;
    // `router bgp N vrf default` is the default instance under another name.
    if name.as_str() == "default" {
        return Err(RenderError::UnsafeName {
            origin,
            value: vrf.clone(),
            reason: "the default VRF is named by leaving spec.vrf empty",
        });
    }
    Ok(Some(name))
}

fn neighbor(
    router: &Router,
    n: &Neighbor,
    known_profiles: &BTreeSet<String>,
) -> Result<NeighborView, RenderError> {
    let origin = neighbor_origin(n);
    let field = |f: &str| format!("{origin} {f}");
    let (id, interface) = match &n.address {
        PeerAddress::Ip(ip) => (ip.to_string(), false),
        PeerAddress::Interface(name) => (
            SafeName::new(name, field("spec.interface"))?.to_string(),
            true,
        ),
    };
    if interface && id.parse::<IpAddr>().is_ok() {
        return Err(RenderError::UnsafeName {
            origin: field("spec.interface"),
            value: id,
            reason: "an interface name that reads as an IP address",
        });
    }
    let ibgp = match n.remote_as {
        RemoteAs::Internal => true,
        RemoteAs::External => false,
        RemoteAs::Asn(asn) => asn == router.asn,
    };
    let remote_as = match n.remote_as {
        RemoteAs::Asn(asn) => {
            check_range(|| field("spec.peerASN"), asn, 1, u32::MAX, "1-4294967295")?.to_string()
        }
        RemoteAs::Internal => "internal".into(),
        RemoteAs::External => "external".into(),
    };
    let local_as = match n.local_as {
        None => None,
        Some(l) if l == router.asn => None,
        Some(l) => {
            check_range(|| field("spec.myASN"), l, 1, u32::MAX, "1-4294967295")?;
            if ibgp || n.remote_as == RemoteAs::Asn(l) {
                return Err(RenderError::Unsupported {
                    origin: field("spec.myASN"),
                    message: format!(
                        "myASN {l} differs from the router's ASN {} and FRR allows a local AS \
                         only on eBGP sessions whose peer AS differs from it; give this session \
                         a router of its own (another VRF) or use the router's ASN",
                        router.asn
                    ),
                });
            }
            // `no-prepend replace-as`: the peer sees a router of AS `l` only, as if myASN
            // were the router's own ASN.
            Some(l)
        }
    };
    let bfd_profile = match &n.bfd_profile {
        None => None,
        Some(p) => {
            let name = SafeName::new(p, field("spec.bfdProfile"))?;
            if !known_profiles.contains(name.as_str()) {
                return Err(RenderError::UnknownBfdProfile {
                    origin: field("spec.bfdProfile"),
                    profile: p.clone(),
                });
            }
            Some(name)
        }
    };
    let password = match &n.password {
        None => None,
        Some(pw) => {
            let s = pw.expose();
            if s.is_empty() || s.len() > 80 || !s.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(RenderError::InvalidPassword {
                    origin: field("spec.password"),
                });
            }
            Some(s.to_owned())
        }
    };
    let port = match n.port {
        None | Some(BGP_DEFAULT_PORT) => None,
        Some(0) => return Err(out_of_range(field("spec.peerPort"), 0, "1-65535")),
        Some(p) => Some(p),
    };
    let timers = match n.timers {
        None => None,
        Some(t) => {
            check_range(
                || field("spec.keepaliveTime"),
                t.keepalive,
                0,
                65535,
                "0-65535",
            )?;
            if t.hold != 0 {
                check_range(|| field("spec.holdTime"), t.hold, 3, 65535, "0 or 3-65535")?;
            }
            Some((t.keepalive, t.hold))
        }
    };
    let connect_time = match n.connect_time {
        None => None,
        Some(c) => Some(check_range(
            || field("spec.connectTime"),
            c,
            1,
            65535,
            "1-65535",
        )?),
    };
    Ok(NeighborView {
        id,
        interface,
        remote_as,
        local_as,
        bfd_profile,
        password,
        port,
        // FRR ignores (and never shows) ebgp-multihop on iBGP sessions.
        ebgp_multihop: n.ebgp_multihop && !ibgp,
        update_source: n.source_address.map(|a| a.to_string()),
        timers,
        connect_time,
        graceful_restart: n.graceful_restart,
    })
}

fn bfd_profiles(profiles: &[BfdProfile]) -> Result<Vec<BfdProfileView>, RenderError> {
    let mut out: Vec<BfdProfileView> = Vec::new();
    let mut seen = BTreeSet::new();
    for p in profiles {
        let origin = format!("BFDProfile {:?}", p.name);
        let name = SafeName::new(&p.name, format!("{origin} metadata.name"))?;
        if !seen.insert(name.clone()) {
            return Err(RenderError::NameCollision {
                name: name.to_string(),
            });
        }
        let field = |f: &str| format!("BFDProfile {name} {f}");
        let interval = |v: Option<u32>, f: &str| -> Result<Option<u32>, RenderError> {
            match v {
                None => Ok(None),
                Some(v) => check_range(|| field(f), v, 10, 60000, "10-60000").map(Some),
            }
        };
        let not_default = |v: Option<u32>, default: u32| v.filter(|v| *v != default);
        out.push(BfdProfileView {
            detect_multiplier: not_default(
                match p.detect_multiplier {
                    None => None,
                    Some(v) => Some(check_range(
                        || field("spec.detectMultiplier"),
                        v,
                        2,
                        255,
                        "2-255",
                    )?),
                },
                BFD_DEFAULT_DETECT_MULTIPLIER,
            ),
            transmit_interval: not_default(
                interval(p.transmit_interval, "spec.transmitInterval")?,
                BFD_DEFAULT_INTERVAL,
            ),
            receive_interval: not_default(
                interval(p.receive_interval, "spec.receiveInterval")?,
                BFD_DEFAULT_INTERVAL,
            ),
            passive_mode: p.passive_mode,
            echo_mode: p.echo_mode,
            echo_interval: not_default(
                interval(p.echo_interval, "spec.echoInterval")?,
                BFD_DEFAULT_ECHO_INTERVAL,
            ),
            minimum_ttl: not_default(
                match p.minimum_ttl {
                    None => None,
                    Some(v) => Some(check_range(
                        || field("spec.minimumTtl"),
                        v,
                        1,
                        254,
                        "1-254",
                    )?),
                },
                BFD_DEFAULT_MINIMUM_TTL,
            ),
            name,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Helpers for tests (here and in `tests/`): real FRR's validator and a stanza parser.
pub mod testing {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// The vtysh to validate with: `$FERRULE_VTYSH`, else `vtysh` on `PATH`, else
    /// `/usr/bin/vtysh`.
    pub fn vtysh_path() -> Option<PathBuf> {
        if let Some(p) = std::env::var_os("FERRULE_VTYSH") {
            return Some(PathBuf::from(p));
        }
        let on_path = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("vtysh"))
                .find(|p| p.is_file())
        });
        on_path.or_else(|| Some(PathBuf::from("/usr/bin/vtysh")).filter(|p| p.is_file()))
    }

    /// Checks `config` with `vtysh --dryrun` (FRR's own parser, no daemon needed). Hermetic:
    /// vtysh reads an empty `vtysh.conf` from a private temporary directory instead of
    /// `/etc/frr`. The error carries vtysh's message, which names the offending line.
    pub fn validate_with_frr(config: &str) -> Result<(), String> {
        let vtysh = vtysh_path().ok_or("vtysh not found (install FRR 8.4)")?;
        let dir = TempDir::new().map_err(|e| format!("temporary directory: {e}"))?;
        let conf = dir.path().join("frr.conf");
        std::fs::write(dir.path().join("vtysh.conf"), "")
            .and_then(|()| {
                // The config may hold passwords.
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&conf)?
                    .write_all(config.as_bytes())
            })
            .map_err(|e| format!("writing {}: {e}", conf.display()))?;
        let out = Command::new(&vtysh)
            .arg("--config_dir")
            .arg(dir.path())
            .arg("--dryrun")
            .arg("-f")
            .arg(&conf)
            .output()
            .map_err(|e| format!("running {}: {e}", vtysh.display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "vtysh --dryrun rejected the config ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim(),
                String::from_utf8_lossy(&out.stdout).trim()
            ))
        }
    }

    /// [`validate_with_frr`] with the test policy for a missing vtysh: under `CI=true` that is
    /// a failure (panic); elsewhere the check is skipped with a loud message and `None`.
    pub fn frr_check(label: &str, config: &str) -> Option<Result<(), String>> {
        if vtysh_path().is_none() {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{label}: vtysh is required under CI=true (install FRR 8.4)");
            }
            eprintln!("!!! {label}: vtysh not found, FRR validation SKIPPED (install FRR 8.4)");
            return None;
        }
        Some(validate_with_frr(config))
    }

    /// One config line and the lines indented under it.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Stanza {
        /// The line without its indentation.
        pub line: String,
        pub indent: usize,
        pub children: Vec<Stanza>,
    }

    /// Parses a config into its stanza tree by indentation, skipping blank and `!` lines. A
    /// closing `exit` / `exit-address-family` at its opener's indentation becomes the opener's
    /// last child. (FRR itself ignores indentation; tests use this to check a config's shape.)
    pub fn stanzas(config: &str) -> Vec<Stanza> {
        let mut roots: Vec<Stanza> = Vec::new();
        for raw in config.lines() {
            let line = raw.trim_start_matches(' ');
            if line.trim().is_empty() || line.starts_with('!') {
                continue;
            }
            let node = Stanza {
                line: line.to_owned(),
                indent: raw.len() - line.len(),
                children: Vec::new(),
            };
            insert(&mut roots, node);
        }
        roots
    }

    fn insert(siblings: &mut Vec<Stanza>, node: Stanza) {
        let closer = matches!(node.line.as_str(), "exit" | "exit-address-family");
        match siblings.last_mut() {
            Some(last) if node.indent > last.indent => insert(&mut last.children, node),
            Some(last) if closer && node.indent == last.indent => last.children.push(node),
            _ => siblings.push(node),
        }
    }

    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> std::io::Result<TempDir> {
            static N: AtomicU64 = AtomicU64::new(0);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let path = std::env::temp_dir().join(format!(
                "ferrule-frr-check-{}-{}-{nanos}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir(&path)?;
            Ok(TempDir(path))
        }
        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{stanzas, validate_with_frr, vtysh_path};
    use super::*;
    use crate::core::intent::Announcement;
    use crate::frr::names::is_safe;
    use proptest::prelude::*;

    const PLACEHOLDER: &str = "placeholder";

    #[derive(Clone, Copy, Debug)]
    enum Slot {
        BfdProfile,
        Vrf,
        Interface,
    }

    /// One router, one neighbor with one announcement and a BFD profile; `name` goes into
    /// `slot`, every other name is fixed.
    fn intent_with(slot: Slot, name: &str) -> NodeIntent {
        let pick = |s: Slot, fixed: &str| {
            if std::mem::discriminant(&s) == std::mem::discriminant(&slot) {
                name.to_owned()
            } else {
                fixed.to_owned()
            }
        };
        let profile = pick(Slot::BfdProfile, "bfd1");
        NodeIntent {
            node: "n1".into(),
            routers: vec![Router {
                vrf: Some(pick(Slot::Vrf, "red")),
                asn: 65100,
                router_id: None,
                neighbors: vec![Neighbor {
                    peer: "tor1".into(),
                    address: match slot {
                        Slot::Interface => PeerAddress::Interface(name.to_owned()),
                        _ => PeerAddress::Ip("192.0.2.1".parse().unwrap()),
                    },
                    remote_as: RemoteAs::External,
                    local_as: None,
                    port: None,
                    timers: None,
                    connect_time: None,
                    password: None,
                    source_address: None,
                    ebgp_multihop: false,
                    bfd_profile: Some(profile.clone()),
                    graceful_restart: false,
                    ipv4: true,
                    ipv6: false,
                    announcements: vec![Announcement {
                        prefix: "203.0.113.10/32".parse().unwrap(),
                        communities: [Community::Standard(65000, 100)].into(),
                        local_pref: Some(100),
                        services: vec![],
                    }],
                }],
            }],
            bfd_profiles: vec![BfdProfile {
                name: profile,
                receive_interval: Some(100),
                ..BfdProfile::default()
            }],
            withheld: vec![],
        }
    }

    /// Per top-level stanza (a line at indentation 0 and the lines up to the next one): per
    /// line, indentation, first word and number of words; stanzas sorted, since route-maps
    /// sort by name and names vary. Equal shapes mean equal structure, whatever the names.
    fn shape(config: &str) -> Vec<Vec<(usize, String, usize)>> {
        let mut stanzas: Vec<Vec<(usize, String, usize)>> = Vec::new();
        for l in config.lines() {
            let words: Vec<&str> = l.split_whitespace().collect();
            let indent = l.len() - l.trim_start().len();
            let line = (
                indent,
                words.first().unwrap_or(&"").to_string(),
                words.len(),
            );
            match stanzas.last_mut() {
                Some(s) if indent > 0 || matches!(line.1.as_str(), "exit" | "!") => s.push(line),
                _ => stanzas.push(vec![line]),
            }
        }
        stanzas.sort();
        stanzas
    }

    fn hostile_name() -> impl Strategy<Value = String> {
        prop_oneof![
            "[A-Za-z0-9._-]{1,70}",
            "[a-z]{0,6}[ \t\n\r!#;\\\\/]{1,3}(exit|end|router bgp 1| neighbor x)?[a-z]{0,4}",
            "\\PC{0,24}",
            any::<String>(),
            Just(String::new()),
            Just("exit".to_owned()),
            Just("end".to_owned()),
            Just("default".to_owned()),
            Just("192.0.2.1".to_owned()),
            Just("x".repeat(64)),
        ]
    }

    proptest! {
        #[test]
        fn hostile_names_are_rejected_or_cannot_change_the_structure(
            name in hostile_name(),
            slot in prop_oneof![Just(Slot::BfdProfile), Just(Slot::Vrf), Just(Slot::Interface)],
        ) {
            let reference = render(&intent_with(slot, PLACEHOLDER)).unwrap();
            let result = render(&intent_with(slot, &name));
            let acceptable = is_safe(&name)
                && match slot {
                    Slot::Vrf => name != "default",
                    Slot::Interface => name.parse::<IpAddr>().is_err(),
                    Slot::BfdProfile => true,
                };
            match result {
                Err(e) => {
                    prop_assert!(!acceptable, "{name:?} in {slot:?} rejected: {e}");
                    let msg = e.to_string();
                    prop_assert!(msg.contains("spec.") || msg.contains("metadata.name"), "{msg}");
                }
                Ok(config) => {
                    prop_assert!(acceptable, "{name:?} in {slot:?} rendered:\n{config}");
                    prop_assert_eq!(shape(&config), shape(&reference));
                    prop_assert_eq!(stanzas(&config).len(), stanzas(&reference).len());
                    prop_assert!(config.split_whitespace().any(|w| w == name || w.contains(&name)));
                }
            }
        }
    }

    #[test]
    fn stanza_parser_nests_by_indentation() {
        let tree = stanzas("a\n b\n  c\n exit\n!\nd\nexit\n");
        assert_eq!(tree.len(), 2);
        assert_eq!(tree[0].line, "a");
        // ` exit` closes ` b` (as in a bfd profile), `exit` closes `d`.
        assert_eq!(tree[0].children.len(), 1);
        let b = &tree[0].children[0];
        assert_eq!((b.line.as_str(), b.indent), ("b", 1));
        let b_children: Vec<&str> = b.children.iter().map(|s| s.line.as_str()).collect();
        assert_eq!(b_children, ["c", "exit"]);
        assert_eq!(tree[1].children[0].line, "exit");
    }

    #[test]
    fn free_seq_wraps_and_reports_exhaustion() {
        let mut used = BTreeSet::from([5, 6]);
        assert_eq!(free_seq(6, &mut used, 1, 6), Some(1));
        assert_eq!(free_seq(0, &mut used, 1, 6), Some(2));
        let mut full: BTreeSet<u32> = (1..=3).collect();
        assert_eq!(free_seq(2, &mut full, 1, 3), None);
    }

    #[test]
    fn well_known_communities_use_frr_names() {
        let cases = [
            ((0, 0), "internet"),
            ((65535, 65281), "no-export"),
            ((65535, 666), "blackhole"),
            ((65535, 9), "65535:9"),
            ((65000, 100), "65000:100"),
        ];
        for ((a, b), want) in cases {
            assert_eq!(standard_community(a, b), want);
        }
    }

    #[test]
    fn validate_with_frr_names_the_bad_line() {
        if vtysh_path().is_none() {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("vtysh is required under CI=true");
            }
            eprintln!("!!! vtysh not found: validate_with_frr test SKIPPED");
            return;
        }
        let good = render(&intent_with(Slot::Vrf, "red")).unwrap();
        assert_eq!(validate_with_frr(&good), Ok(()));
        let bad = format!("{good}router bgp 65100\n neighbor 192.0.2.1 frobnicate\nexit\n");
        let err = validate_with_frr(&bad).unwrap_err();
        assert!(err.contains("frobnicate"), "{err}");
    }
}
