//! What the pure core is fed and what it answers with when an object is wrong: a
//! [`Snapshot`] of every object ferrule reads (from the API or a directory of manifests),
//! and [`ValidationError`], one problem with one field of one object.

use std::fmt;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde::Serialize;

use super::model::ObjectRef;
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
}

/// One problem with one field of one object.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ValidationError {
    pub object: ObjectRef,
    /// JSON path of the field, e.g. `spec.holdTime`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.object, self.field, self.message)
    }
}

impl std::error::Error for ValidationError {}
