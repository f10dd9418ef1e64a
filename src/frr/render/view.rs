//! The flat view model the templates lay out, built from a node's intent: every string in
//! it is a formatted IP or number or a [`SafeName`], checked here.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use askama::Template;
use ipnet::IpNet;

use super::error::RenderError;
use super::names::{self, SafeName};
use super::output::{Keep, LeftOut, Notes};
use super::session::{
    bfd_profiles, neighbor, neighbor_origin, out_of_range, router_origin, router_vrf,
    BfdProfileView, NeighborView,
};
use crate::core::intent::{Neighbor, NodeIntent, Router};
use crate::core::model::{Community, PeerAddress};

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

#[derive(Template)]
#[template(path = "frr/frr.conf", escape = "none")]
struct FrrConf<'a> {
    v: &'a View,
}

/// The flat view model the templates lay out. Every string in it is a formatted IP/number or
/// a [`SafeName`].
pub(super) struct View {
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
    /// The text of the config (askama drops the template's final newline).
    pub(super) fn render(&self) -> Result<String, askama::Error> {
        FrrConf { v: self }.render()
    }

    /// The view of everything that renders; `notes` gets what was left out (and why) and
    /// the lines FRR runs that are to stay.
    pub(super) fn build(intent: &NodeIntent, notes: &mut Notes) -> Result<View, RenderError> {
        let bfd_profiles = bfd_profiles(&intent.bfd_profiles, notes);
        let known_profiles: BTreeSet<String> =
            bfd_profiles.iter().map(|p| p.name.to_string()).collect();
        let mut route_maps = Vec::new();
        let mut policy_neighbors: Vec<PolicyNeighbor> = Vec::new();
        let mut classes: BTreeMap<Class, usize> = BTreeMap::new();
        // Per router: its view (networks still empty) and (prefix, class index) pairs.
        let mut routers: Vec<(RouterView, Vec<(IpNet, usize)>)> = Vec::new();
        let mut vrfs = BTreeSet::new();
        for router in &intent.routers {
            let leave_out = |notes: &mut Notes, error: RenderError| {
                for n in &router.neighbors {
                    notes.left_out.push(LeftOut {
                        object: neighbor_origin(n),
                        what: "its BGP session".into(),
                        error: error.to_string(),
                    });
                }
                notes.first_error(error);
            };
            let vrf = match router_vrf(router) {
                Ok(v) => v,
                Err(e) => {
                    leave_out(notes, e);
                    continue;
                }
            };
            let vrf_label = vrf.as_ref().map_or("default".to_owned(), |v| v.to_string());
            if !vrfs.insert(vrf_label.clone()) {
                leave_out(notes, RenderError::DuplicateRouter { vrf: vrf_label });
                continue;
            }
            let (view, announced) = match router_view(
                router,
                vrf,
                &known_profiles,
                &mut policy_neighbors,
                &mut route_maps,
                notes,
            ) {
                Ok(r) => r,
                Err(e) => {
                    leave_out(notes, e);
                    continue;
                }
            };
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
    notes: &mut Notes,
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
    let opener = match &vrf {
        None => format!("router bgp {}", router.asn),
        Some(v) => format!("router bgp {} vrf {v}", router.asn),
    };
    for n in ordered {
        // One neighbor FRR cannot take costs only that session.
        let checked = (|| {
            if !seen.insert(&n.address) {
                return Err(RenderError::DuplicateNeighbor {
                    origin: neighbor_origin(n),
                    neighbor: n.address.to_string(),
                });
            }
            let nv = neighbor(router, n, known_profiles, notes)?;
            let key = names::neighbor_key(vrf.as_ref(), &n.address);
            let rm_in = names::route_map_in(&key)?;
            let rm_out = names::route_map_out(&key)?;
            let mut twice = n
                .announcements
                .windows(2)
                .filter(|w| w[0].prefix == w[1].prefix);
            if let Some(w) = twice.next() {
                return Err(RenderError::Unsupported {
                    origin: neighbor_origin(n),
                    message: format!("prefix {} is announced twice", w[0].prefix),
                });
            }
            Ok((nv, key, rm_in, rm_out))
        })();
        let (nv, key, rm_in, rm_out) = match checked {
            Ok(v) => v,
            Err(e) => {
                notes.left_out.push(LeftOut {
                    object: neighbor_origin(n),
                    what: "its BGP session".into(),
                    error: e.to_string(),
                });
                notes.first_error(e);
                continue;
            }
        };
        if nv.keep_password {
            notes.keep.push(Keep {
                context: vec![opener.clone()],
                slot: format!("neighbor {} password", nv.id),
                instead: Some(format!("neighbor {} shutdown", nv.id)),
            });
        }
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

#[cfg(test)]
mod tests;
