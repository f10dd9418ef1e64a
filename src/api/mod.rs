//! The Kubernetes API surface ferrule reads: MetalLB's own `metallb.io` CRDs, unchanged,
//! so a user's existing manifests apply as they are. These types carry schema and printer
//! columns for the API server; all meaning is given to them by `crate::core`.

mod advertisement;
mod bfd;
mod community;
mod condition;
mod l2;
mod peer;
mod pool;
pub mod status;

pub use advertisement::{BGPAdvertisement, BGPAdvertisementSpec};
pub use bfd::{BFDProfile, BFDProfileSpec};
pub use community::{Community, CommunityAlias, CommunitySpec};
pub use condition::MetallbStatus;
pub use l2::{L2Advertisement, L2AdvertisementSpec};
pub use peer::{v1beta1, v1beta2, BGPPeer, BGPPeerSpec, DynamicAsn, SecretRef};
pub use pool::{IPAddressPool, IPAddressPoolSpec, IPAddressPoolStatus, ServiceAllocation};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::core::crd::merge_crds;
use kube::CustomResourceExt;

/// The API group, as MetalLB defines it.
pub const GROUP: &str = "metallb.io";

/// Every CRD ferrule serves, in a stable order: MetalLB's, then ferrule's status kinds. BGPPeer is served in v1beta1 (the form most
/// manifests use) and v1beta2 (the storage version, as in MetalLB).
pub fn crds() -> Vec<CustomResourceDefinition> {
    let peer = merge_crds(
        vec![v1beta1::BGPPeer::crd(), v1beta2::BGPPeer::crd()],
        "v1beta2",
    )
    .expect("both BGPPeer versions share group, kind and scope");
    vec![
        spec_optional(BFDProfile::crd()),
        spec_optional(BGPAdvertisement::crd()),
        peer,
        spec_optional(Community::crd()),
        IPAddressPool::crd(),
        spec_optional(L2Advertisement::crd()),
        status::BGPSession::crd(),
        status::ServiceAnnouncement::crd(),
        status::SpeakerNode::crd(),
    ]
}

/// MetalLB's docs create BGPAdvertisements (and profiles) with no `spec` at all, meaning
/// "every default"; the API server must accept them, so `spec` is not required for kinds
/// whose fields are all optional.
fn spec_optional(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    for v in &mut crd.spec.versions {
        if let Some(schema) = v
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        {
            if let Some(req) = schema.required.as_mut() {
                req.retain(|r| r != "spec");
                if req.is_empty() {
                    schema.required = None;
                }
            }
        }
    }
    crd
}

/// The CRDs as one multi-document YAML stream, exactly what `ferrule crds` prints and
/// what `crds/crds.yaml` must hold.
pub fn crds_yaml() -> String {
    let mut out = String::new();
    for crd in crds() {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&crd).expect("CRDs serialize"));
    }
    out
}
