//! Validation of a whole snapshot of user objects with MetalLB's rules (and more). Invalid
//! objects are left out and reported; everything valid still works. One file per kind;
//! [`report`] holds the bookkeeping they share.

mod advertisement;
mod bfd;
mod community;
mod cross;
pub mod names;
mod peer;
mod pool;
mod report;
mod selector;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::cluster;
use super::model::{Advertisement, Config, IpRange, ObjectRef, Peer, Pool};
use super::snapshot::{Snapshot, ValidationError};
use crate::api;
use report::{by_age, ours, Known, Problems};

pub use advertisement::selector_local_pref_warnings;

/// The result of validating a snapshot: every usable object, converted; one error per
/// problem that leaves an object (or the part named) out, one warning per problem the
/// object is used despite; both sorted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Validated {
    pub config: Config,
    pub errors: Vec<ValidationError>,
    pub warnings: Vec<ValidationError>,
    /// IPAddressPools that exist but cannot be used (invalid, or lost a conflict), with the
    /// ranges of their entries that parse: Services holding addresses from them keep them.
    pub unusable_pools: BTreeMap<String, Vec<IpRange>>,
}

/// Validates the `metallb.io` objects in `snapshot.namespace` (objects in other namespaces
/// are ignored, as MetalLB does: they may belong to another installation) and converts them
/// into the model. `in_use` are the addresses Services hold: between two conflicting pools
/// of the same age, the one they use stays.
///
/// A problem costs only the object that has it. References to other objects that are
/// missing or invalid are skipped with a warning. Where two objects conflict (overlapping
/// pools, one neighbor twice, disagreeing AS numbers, router IDs or localPrefs) the older
/// one stays and the newcomer is left out, its error naming the incumbent; objects are
/// taken oldest first (see `report::Age`), so the verdict does not depend on the order they
/// are listed in.
pub fn validate(snapshot: &Snapshot, in_use: &BTreeSet<IpAddr>) -> Validated {
    let ns = snapshot.namespace.as_str();
    let seen = &snapshot.first_seen;
    let nodes = cluster::nodes(&snapshot.nodes);
    let mut problems = Problems::default();

    let bfd_objs = ours(&snapshot.bfd_profiles, ns);
    let mut bfd_profiles = BTreeMap::new();
    for p in &bfd_objs {
        if let Some(v) = problems.take(bfd::bfd_profile(p)) {
            bfd_profiles.insert(v.name.clone(), v);
        }
    }
    let bfd = Known::new("BFDProfile", &bfd_objs, &bfd_profiles);

    let community_objs = by_age(ours(&snapshot.communities, ns), "Community", seen, |_| {
        false
    });
    let aliases = community::communities(&community_objs, &mut problems);

    let pool_objs = ours(&snapshot.pools, ns);
    let holds = |p: &api::IPAddressPool| {
        pool::parseable_ranges(p)
            .iter()
            .any(|r| in_use.iter().any(|ip| r.first <= *ip && *ip <= r.last))
    };
    let mut pools: BTreeMap<String, Pool> = BTreeMap::new();
    let mut unusable_pools = BTreeMap::new();
    for p in by_age(pool_objs.clone(), "IPAddressPool", seen, holds) {
        let name = p.metadata.name.clone().unwrap_or_default();
        let usable = match problems.take(pool::pool(p)) {
            None => false,
            Some(pool) => match pool::pool_overlap(&pool, &p.spec, &pools) {
                Some((field, message, incumbent)) => {
                    problems.conflict(
                        report::object_ref(&p.metadata, "IPAddressPool"),
                        field,
                        message,
                        ObjectRef::new("IPAddressPool", ns, &incumbent),
                    );
                    false
                }
                None => {
                    pools.insert(name.clone(), pool);
                    true
                }
            },
        };
        if !usable {
            unusable_pools.insert(name, pool::parseable_ranges(p));
        }
    }
    let pools_known = Known::new("IPAddressPool", &pool_objs, &pools);

    let peer_objs = ours(&snapshot.peers, ns);
    let mut peers: BTreeMap<String, Peer> = BTreeMap::new();
    let mut accepted: Vec<String> = Vec::new();
    for p in by_age(peer_objs.clone(), "BGPPeer", seen, |_| false) {
        let Some(peer) = problems.take(peer::peer(p, &snapshot.secrets, &bfd)) else {
            continue;
        };
        let older = accepted.iter().map(|n| &peers[n]);
        match peer::peer_conflict(&peer, older, &nodes) {
            Some((field, message, incumbent)) => problems.conflict(
                report::object_ref(&p.metadata, "BGPPeer"),
                field,
                message,
                ObjectRef::new("BGPPeer", ns, &incumbent.name),
            ),
            None => {
                accepted.push(peer.name.clone());
                peers.insert(peer.name.clone(), peer);
            }
        }
    }
    let peers_known = Known::new("BGPPeer", &peer_objs, &peers);

    let adv_objs = ours(&snapshot.advertisements, ns);
    let mut advertisements: BTreeMap<String, Advertisement> = BTreeMap::new();
    let mut accepted: Vec<String> = Vec::new();
    for a in by_age(adv_objs, "BGPAdvertisement", seen, |_| false) {
        let adv = advertisement::advertisement(a, &pools_known, &peers_known, &aliases);
        let Some(adv) = problems.take(adv) else {
            continue;
        };
        let older = accepted.iter().map(|n| &advertisements[n]);
        match advertisement::local_pref_conflict(&adv, older, &pools, &nodes) {
            Some((message, incumbent)) => problems.conflict(
                report::object_ref(&a.metadata, "BGPAdvertisement"),
                "spec.localPref",
                message,
                ObjectRef::new("BGPAdvertisement", ns, &incumbent.name),
            ),
            None => {
                accepted.push(adv.name.clone());
                advertisements.insert(adv.name.clone(), adv);
            }
        }
    }

    let config = Config {
        pools,
        peers,
        bfd_profiles,
        advertisements,
    };
    problems.warnings.extend(cross::echo_with_ipv6(&config, ns));
    let Problems {
        mut errors,
        mut warnings,
    } = problems;
    errors.sort();
    errors.dedup();
    warnings.sort();
    warnings.dedup();
    Validated {
        config,
        errors,
        warnings,
        unusable_pools,
    }
}

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
