//! Validation of a whole snapshot of user objects with MetalLB's rules (and more). Invalid
//! objects are left out and reported; everything valid still works. One file per kind;
//! [`report`] holds the bookkeeping they share.

mod advertisement;
mod bfd;
mod community;
mod names;
mod peer;
mod pool;
mod report;
mod selector;

use std::collections::BTreeMap;

use super::cluster;
use super::model::{Advertisement, Config, Peer, Pool};
use super::snapshot::{Snapshot, ValidationError};
use report::{collect, error, ours, Known};

/// The result of validating a snapshot: every valid object, converted, and one error per
/// problem found (sorted). An object with any error is left out of `config`; objects that
/// depend on a left-out object are themselves reported and left out.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Validated {
    pub config: Config,
    pub errors: Vec<ValidationError>,
}

/// Validates the `metallb.io` objects in `snapshot.namespace` (objects in other namespaces
/// are ignored, as MetalLB does: they may belong to another installation) and converts them
/// into the model.
///
/// Order of checks, so that cross-object rules are deterministic: BFD profiles, Community
/// aliases, pools, peers, advertisements; within a kind, objects in name order. When two
/// objects conflict, the later one by name is reported and left out.
pub fn validate(snapshot: &Snapshot) -> Validated {
    let ns = snapshot.namespace.as_str();
    let nodes = cluster::nodes(&snapshot.nodes);
    let mut errors = Vec::new();

    let bfd_objs = ours(&snapshot.bfd_profiles, ns);
    let mut bfd_profiles = BTreeMap::new();
    for p in &bfd_objs {
        if let Some(v) = collect(bfd::bfd_profile(p), &mut errors) {
            bfd_profiles.insert(v.name.clone(), v);
        }
    }
    let bfd = Known::new("BFDProfile", &bfd_objs, &bfd_profiles);

    let aliases = community::communities(&ours(&snapshot.communities, ns), &mut errors);

    let pool_objs = ours(&snapshot.pools, ns);
    let mut pools: BTreeMap<String, Pool> = BTreeMap::new();
    for p in &pool_objs {
        let Some(pool) = collect(pool::pool(p), &mut errors) else {
            continue;
        };
        match pool::pool_overlap(&pool, &pools) {
            Some((field, message)) => {
                errors.push(error(&p.metadata, "IPAddressPool", field, message))
            }
            None => {
                pools.insert(pool.name.clone(), pool);
            }
        }
    }
    let pools_known = Known::new("IPAddressPool", &pool_objs, &pools);

    let peer_objs = ours(&snapshot.peers, ns);
    let mut peers: BTreeMap<String, Peer> = BTreeMap::new();
    for p in &peer_objs {
        let Some(peer) = collect(peer::peer(p, &snapshot.secrets, &bfd), &mut errors) else {
            continue;
        };
        match peer::peer_conflict(&peer, &peers, &nodes) {
            Some((field, message)) => errors.push(error(&p.metadata, "BGPPeer", field, message)),
            None => {
                peers.insert(peer.name.clone(), peer);
            }
        }
    }
    let peers_known = Known::new("BGPPeer", &peer_objs, &peers);

    let adv_objs = ours(&snapshot.advertisements, ns);
    let mut advertisements: BTreeMap<String, Advertisement> = BTreeMap::new();
    for a in &adv_objs {
        let adv = advertisement::advertisement(a, &pools_known, &peers_known, &aliases);
        let Some(adv) = collect(adv, &mut errors) else {
            continue;
        };
        match advertisement::local_pref_conflict(&adv, &advertisements, &pools, &nodes) {
            Some(message) => errors.push(error(
                &a.metadata,
                "BGPAdvertisement",
                "spec.localPref",
                message,
            )),
            None => {
                advertisements.insert(adv.name.clone(), adv);
            }
        }
    }

    errors.sort();
    errors.dedup();
    Validated {
        config: Config {
            pools,
            peers,
            bfd_profiles,
            advertisements,
        },
        errors,
    }
}

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
