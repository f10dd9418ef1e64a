//! What the pure core is fed and what it answers with when an object is wrong: a
//! [`Snapshot`] of every object ferrule reads (from the API or a directory of manifests),
//! and [`ValidationError`], one problem with one field of one object.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde::Serialize;

use super::model::{Assignment, ObjectRef, ServiceKey};
use crate::api;

/// Everything ferrule reads, as the API (or a directory of manifests) gives it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// The namespace ferrule reads its CRs from (`metallb-system` by default).
    pub namespace: String,
    pub pools: Vec<api::IPAddressPool>,
    /// Every served version, converted to v1beta2.
    pub peers: Vec<api::BGPPeer>,
    pub advertisements: Vec<api::BGPAdvertisement>,
    pub bfd_profiles: Vec<api::BFDProfile>,
    pub communities: Vec<api::Community>,
    /// Secrets referenced by peers' passwordSecret.
    pub secrets: Vec<Secret>,
    /// Shared with the source's cache (a Kubernetes reflector store holds the same `Arc`s):
    /// building a snapshot copies pointers, not the cluster's Services and EndpointSlices.
    pub services: Vec<Arc<Service>>,
    pub endpoint_slices: Vec<Arc<EndpointSlice>>,
    pub nodes: Vec<Node>,
    pub namespaces: Vec<Namespace>,
    /// MetalLB's `bgpextras` ConfigMap (raw FRR config appended to every node's), if any.
    pub config_maps: Vec<ConfigMap>,
    /// In which order this process (or, in file mode, the shared ledger) first saw each
    /// object: the tie-break after `creationTimestamp` when two objects conflict. Objects
    /// first seen together share a rank.
    pub first_seen: BTreeMap<ObjectRef, u64>,
    /// File mode: the addresses Services were given before, and their pools (the
    /// ledger's), which they keep as a controller-written status would keep them.
    pub recorded: BTreeMap<ServiceKey, Assignment>,
}

impl Snapshot {
    /// Every `metallb.io` object in ferrule's namespace, as conflicts between them name them.
    pub fn metallb_objects(&self) -> Vec<ObjectRef> {
        fn refs<K: kube::Resource>(kind: &str, ns: &str, items: &[K], out: &mut Vec<ObjectRef>) {
            for o in items {
                let m = o.meta();
                if m.namespace.as_deref() == Some(ns) {
                    out.push(ObjectRef::new(
                        kind,
                        ns,
                        m.name.as_deref().unwrap_or_default(),
                    ));
                }
            }
        }
        let ns = self.namespace.as_str();
        let mut out = Vec::new();
        refs("IPAddressPool", ns, &self.pools, &mut out);
        refs("BGPPeer", ns, &self.peers, &mut out);
        refs("BGPAdvertisement", ns, &self.advertisements, &mut out);
        refs("BFDProfile", ns, &self.bfd_profiles, &mut out);
        refs("Community", ns, &self.communities, &mut out);
        out
    }
}

/// Ranks objects by when this process first saw them: every object new in one snapshot
/// gets the same rank, one above the last; an object that goes away and comes back is new
/// again.
#[derive(Clone, Debug, Default)]
pub struct FirstSeen {
    ranks: BTreeMap<ObjectRef, u64>,
    next: u64,
}

impl FirstSeen {
    pub fn rank(&mut self, snapshot: &mut Snapshot) {
        let present = snapshot.metallb_objects().into_iter().collect();
        rank_new(&mut self.ranks, &mut self.next, &present);
        snapshot.first_seen = self.ranks.clone();
    }
}

/// The ranking rule, for [`FirstSeen`] and file mode's ledger alike: `ranks` forgets what is
/// not `present`, and everything present but unranked gets rank `next`, which then moves on.
pub fn rank_new<K: Ord + Clone>(
    ranks: &mut BTreeMap<K, u64>,
    next: &mut u64,
    present: &std::collections::BTreeSet<K>,
) {
    ranks.retain(|k, _| present.contains(k));
    let mut added = false;
    for o in present {
        ranks.entry(o.clone()).or_insert_with(|| {
            added = true;
            *next
        });
    }
    if added {
        *next += 1;
    }
}

/// The ConfigMap MetalLB reads raw FRR config from, and its key.
pub const BGP_EXTRAS: (&str, &str) = ("bgpextras", "extras");

/// One problem with one field of one object. The same shape serves errors (the object, or
/// the part named, is left out) and warnings (it is used, degraded as the message says).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ValidationError {
    pub object: ObjectRef,
    /// JSON path of the field, e.g. `spec.holdTime`.
    pub field: String,
    pub message: String,
    /// Set when the object lost a conflict: the older object that won it.
    pub incumbent: Option<ObjectRef>,
}

impl ValidationError {
    pub fn new(object: ObjectRef, field: impl Into<String>, message: impl Into<String>) -> Self {
        ValidationError {
            object,
            field: field.into(),
            message: message.into(),
            incumbent: None,
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.object, self.field, self.message)
    }
}

impl std::error::Error for ValidationError {}
