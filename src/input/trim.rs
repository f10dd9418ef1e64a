//! What the speaker keeps of the objects it reads in bulk: everything its computation
//! reads, nothing else. Applied by both sources as each object arrives, so memory follows
//! what is announced, not the size of the objects in the cluster.

use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

/// Services: only LoadBalancer ones matter; others are kept as bare names (a reflector
/// cannot filter server-side by type) so memory stays proportional to what is announced.
pub fn service(svc: &mut Service) {
    svc.metadata.managed_fields = None;
    let is_lb = svc.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer");
    if !is_lb {
        svc.spec = None;
        svc.status = None;
        svc.metadata.annotations = None;
        svc.metadata.labels = None;
    } else if let Some(a) = svc.metadata.annotations.as_mut() {
        a.retain(|k, _| k.starts_with("metallb.io/") || k.starts_with("metallb.universe.tf/"));
    }
}

/// EndpointSlices, for the speaker of `node`: it needs to know whether a serving endpoint
/// runs on its own node (`externalTrafficPolicy: Local`) and whether one serves anywhere
/// (`Cluster`). So it keeps its own node's endpoints and at most one serving endpoint
/// elsewhere, each reduced to node, conditions and one address: with 10 endpoints per
/// Service spread over the cluster, 90% of them are never held.
pub fn endpoint_slice(slice: &mut EndpointSlice, node: &str) {
    slice.metadata.managed_fields = None;
    slice.metadata.annotations = None;
    slice.ports = None;
    let mut witness = false;
    slice.endpoints.retain(|ep| {
        if ep.node_name.as_deref() == Some(node) {
            return true;
        }
        if !witness && crate::core::cluster::serves(ep) {
            witness = true;
            return true;
        }
        false
    });
    slice.endpoints.shrink_to_fit();
    for ep in &mut slice.endpoints {
        // Keep one address: "has addresses" is part of the serving rule.
        ep.addresses.truncate(1);
        ep.target_ref = None;
        ep.hints = None;
        ep.hostname = None;
        ep.deprecated_topology = None;
        ep.zone = None;
    }
}

/// Nodes: their labels (selectors) and the NetworkUnavailable condition, nothing else, so
/// every speaker can hold every Node (a few hundred bytes each).
pub fn node(node: &mut Node) {
    let m = &mut node.metadata;
    m.managed_fields = None;
    m.annotations = None;
    m.owner_references = None;
    m.finalizers = None;
    node.spec = None;
    if let Some(status) = node.status.as_mut() {
        let conditions = status.conditions.take().map(|cs| {
            cs.into_iter()
                .filter(|c| c.type_ == "NetworkUnavailable")
                .map(|c| k8s_openapi::api::core::v1::NodeCondition {
                    type_: c.type_,
                    status: c.status,
                    ..Default::default()
                })
                .collect()
        });
        *status = k8s_openapi::api::core::v1::NodeStatus {
            conditions,
            ..Default::default()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::cluster;

    #[test]
    fn trimmed_slices_give_every_node_the_same_endpoint_answer() {
        let slice: EndpointSlice = serde_yaml::from_str(
            "metadata: { name: web-1, namespace: default, labels: { kubernetes.io/service-name: web } }
addressType: IPv4
endpoints:
- { addresses: [10.0.0.1], nodeName: n1, conditions: { ready: false } }
- { addresses: [10.0.0.2], nodeName: n2, conditions: { ready: true }, targetRef: { kind: Pod, name: p2 } }
- { addresses: [10.0.0.3], nodeName: n3, conditions: { ready: true } }
- { addresses: [], nodeName: n4, conditions: { ready: true } }
- { addresses: [10.0.0.5, 10.0.0.6], nodeName: n1, conditions: { ready: false, serving: true } }
",
        )
        .unwrap();
        for node in ["n1", "n2", "n3", "n4", "n5"] {
            let mut trimmed = slice.clone();
            endpoint_slice(&mut trimmed, node);
            let full = cluster::endpoints(std::slice::from_ref(&slice));
            let kept = cluster::endpoints(std::slice::from_ref(&trimmed));
            let key = full.keys().next().unwrap().clone();
            let local = |m: &std::collections::BTreeMap<_, Vec<crate::core::model::Endpoint>>| {
                m[&key]
                    .iter()
                    .any(|e| e.serving && e.node.as_deref() == Some(node))
            };
            let anywhere = |m: &std::collections::BTreeMap<
                _,
                Vec<crate::core::model::Endpoint>,
            >| { m[&key].iter().any(|e| e.serving) };
            assert_eq!(local(&full), local(&kept), "{node}");
            assert_eq!(anywhere(&full), anywhere(&kept), "{node}");
            assert!(
                trimmed.endpoints.len() <= 3,
                "{node}: {:?}",
                trimmed.endpoints
            );
            assert!(trimmed.endpoints.iter().all(|e| e.target_ref.is_none()));
        }
    }
}
