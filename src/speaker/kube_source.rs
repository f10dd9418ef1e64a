//! The Kubernetes source: reflector stores for what this node's config depends on, and a
//! snapshot rebuilt from them on every change. Stores keep only what the speaker needs
//! (managed fields dropped, EndpointSlices reduced to node + conditions), and the node
//! watches only its own Node object, so memory does not grow with the cluster's node count.

use std::sync::Arc;

use futures::{future, StreamExt};
use k8s_openapi::api::core::v1::{Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::source::SnapshotTx;
use crate::api;
use crate::core::validate::Snapshot;

#[derive(Clone)]
struct Stores {
    pools: Store<api::IPAddressPool>,
    peers: Store<api::BGPPeer>,
    advertisements: Store<api::BGPAdvertisement>,
    bfd_profiles: Store<api::BFDProfile>,
    communities: Store<api::Community>,
    secrets: Store<Secret>,
    services: Store<Service>,
    endpoint_slices: Store<EndpointSlice>,
    nodes: Store<Node>,
}

fn strip<K: Resource>(obj: &mut K) {
    obj.meta_mut().managed_fields = None;
}

/// Starts one reflector per kind and publishes a snapshot after each change, once every
/// store has its initial list. Runs until the client is dropped; watch errors are retried
/// with backoff by the watcher and the stores keep their last content meanwhile, so a broken
/// API connection never turns into an empty config.
pub async fn run(client: Client, namespace: String, node: String, tx: SnapshotTx) {
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel::<()>();
    let ns = namespace.as_str();

    macro_rules! reflect {
        ($api:expr, $cfg:expr, $modify:expr) => {{
            let (reader, writer) = reflector::store();
            let ev_tx = ev_tx.clone();
            let stream = watcher($api, $cfg)
                .default_backoff()
                .modify($modify)
                .reflect(writer)
                .applied_objects();
            tokio::spawn(async move {
                stream
                    .for_each(|res| {
                        match res {
                            Ok(_) => {}
                            Err(e) => warn!(error = %e, "watch error; retrying"),
                        }
                        let _ = ev_tx.send(());
                        future::ready(())
                    })
                    .await;
            });
            reader
        }};
    }

    let cfg = watcher::Config::default();
    let stores = Stores {
        pools: reflect!(
            Api::<api::IPAddressPool>::namespaced(client.clone(), ns),
            cfg.clone(),
            strip
        ),
        peers: reflect!(
            Api::<api::BGPPeer>::namespaced(client.clone(), ns),
            cfg.clone(),
            strip
        ),
        advertisements: reflect!(
            Api::<api::BGPAdvertisement>::namespaced(client.clone(), ns),
            cfg.clone(),
            strip
        ),
        bfd_profiles: reflect!(
            Api::<api::BFDProfile>::namespaced(client.clone(), ns),
            cfg.clone(),
            strip
        ),
        communities: reflect!(
            Api::<api::Community>::namespaced(client.clone(), ns),
            cfg.clone(),
            strip
        ),
        secrets: reflect!(
            Api::<Secret>::namespaced(client.clone(), ns),
            cfg.clone(),
            strip
        ),
        services: reflect!(
            Api::<Service>::all(client.clone()),
            cfg.clone(),
            strip_service
        ),
        endpoint_slices: reflect!(
            Api::<EndpointSlice>::all(client.clone()),
            cfg.clone(),
            strip_slice
        ),
        nodes: reflect!(
            Api::<Node>::all(client.clone()),
            watcher::Config::default().fields(&format!("metadata.name={node}")),
            strip_node
        ),
    };
    drop(ev_tx);

    // Nothing is published before every store holds its initial list: a partial view would
    // withdraw what FRR announces.
    if !ready(&stores).await {
        return;
    }
    loop {
        let snapshot = build(&stores, &namespace);
        debug!(services = snapshot.services.len(), "snapshot rebuilt");
        tx.send_replace(Some(Arc::new(snapshot)));
        if ev_rx.recv().await.is_none() {
            return;
        }
        // A burst of events makes one snapshot.
        while ev_rx.try_recv().is_ok() {}
    }
}

async fn ready(s: &Stores) -> bool {
    // Each resolves once its store has the initial list; Err only if its watcher is gone.
    let all = [
        s.pools.wait_until_ready().await.is_ok(),
        s.peers.wait_until_ready().await.is_ok(),
        s.advertisements.wait_until_ready().await.is_ok(),
        s.bfd_profiles.wait_until_ready().await.is_ok(),
        s.communities.wait_until_ready().await.is_ok(),
        s.secrets.wait_until_ready().await.is_ok(),
        s.services.wait_until_ready().await.is_ok(),
        s.endpoint_slices.wait_until_ready().await.is_ok(),
        s.nodes.wait_until_ready().await.is_ok(),
    ];
    all.iter().all(|ok| *ok)
}

fn items<K: Resource + Clone + DeserializeOwned>(store: &Store<K>) -> Vec<K>
where
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    store.state().iter().map(|o| (**o).clone()).collect()
}

fn build(s: &Stores, namespace: &str) -> Snapshot {
    Snapshot {
        namespace: namespace.to_string(),
        pools: items(&s.pools),
        peers: items(&s.peers),
        advertisements: items(&s.advertisements),
        bfd_profiles: items(&s.bfd_profiles),
        communities: items(&s.communities),
        secrets: items(&s.secrets),
        services: items(&s.services),
        endpoint_slices: items(&s.endpoint_slices),
        nodes: items(&s.nodes),
        namespaces: Vec::new(),
    }
}

/// Services: only LoadBalancer ones matter; others are kept as bare names (a reflector
/// cannot filter server-side by type) so memory stays proportional to what is announced.
fn strip_service(svc: &mut Service) {
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

/// EndpointSlices: the speaker needs node names and conditions, not addresses or ports.
fn strip_slice(slice: &mut EndpointSlice) {
    slice.metadata.managed_fields = None;
    slice.metadata.annotations = None;
    slice.ports = None;
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

fn strip_node(node: &mut Node) {
    node.metadata.managed_fields = None;
    node.metadata.annotations = None;
    if let Some(status) = node.status.as_mut() {
        status.images = None;
        status.volumes_attached = None;
        status.volumes_in_use = None;
        status.node_info = None;
    }
}
