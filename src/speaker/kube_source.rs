//! The Kubernetes source: reflector stores for what this node's config depends on, and a
//! snapshot rebuilt from them on every change. Stores keep only what the speaker needs
//! (managed fields dropped, EndpointSlices reduced to node + conditions), and the node
//! watches only its own Node object, so memory does not grow with the cluster's node count.

use std::sync::Arc;

use futures::{future, StreamExt};
use k8s_openapi::api::core::v1::{Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::DynamicObject;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::source::SnapshotTx;
use crate::api;
use crate::core::validate::Snapshot;

/// MetalLB's kinds are watched untyped and typed per object when a snapshot is built: a
/// spec-less object (valid per the CRD) or one that does not fit ferrule's types then costs
/// only itself, where a typed watcher would fail the whole list.
#[derive(Clone)]
struct Stores {
    pools: Store<DynamicObject>,
    peers: Store<DynamicObject>,
    advertisements: Store<DynamicObject>,
    bfd_profiles: Store<DynamicObject>,
    communities: Store<DynamicObject>,
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
        ($api:expr, $cfg:expr, $modify:expr) => {
            reflect!($api, $cfg, $modify, reflector::store())
        };
        ($api:expr, $cfg:expr, $modify:expr, $store:expr) => {{
            let (reader, writer) = $store;
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
    let own_node = node.clone();
    let stores = Stores {
        pools: reflect!(
            api::untyped::api::<api::IPAddressPool>(&client, ns),
            cfg.clone(),
            strip,
            api::untyped::store::<api::IPAddressPool>()
        ),
        peers: reflect!(
            api::untyped::api::<api::BGPPeer>(&client, ns),
            cfg.clone(),
            strip,
            api::untyped::store::<api::BGPPeer>()
        ),
        advertisements: reflect!(
            api::untyped::api::<api::BGPAdvertisement>(&client, ns),
            cfg.clone(),
            strip,
            api::untyped::store::<api::BGPAdvertisement>()
        ),
        bfd_profiles: reflect!(
            api::untyped::api::<api::BFDProfile>(&client, ns),
            cfg.clone(),
            strip,
            api::untyped::store::<api::BFDProfile>()
        ),
        communities: reflect!(
            api::untyped::api::<api::Community>(&client, ns),
            cfg.clone(),
            strip,
            api::untyped::store::<api::Community>()
        ),
        secrets: reflect!(
            Api::<Secret>::namespaced(client.clone(), ns),
            cfg.clone(),
            strip
        ),
        services: reflect!(
            Api::<Service>::all(client.clone()),
            cfg.clone(),
            crate::trim::service
        ),
        endpoint_slices: reflect!(
            Api::<EndpointSlice>::all(client.clone()),
            cfg.clone(),
            move |s: &mut EndpointSlice| crate::trim::endpoint_slice(s, &own_node)
        ),
        nodes: reflect!(
            Api::<Node>::all(client.clone()),
            watcher::Config::default().fields(&format!("metadata.name={node}")),
            crate::trim::node
        ),
    };
    drop(ev_tx);

    // Nothing is published before every store holds its initial list: a partial view would
    // withdraw what FRR announces.
    if !ready(&stores).await {
        return;
    }
    let mut unreadable = Unreadable::default();
    loop {
        let snapshot = build(&stores, &namespace, &mut unreadable);
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

/// Objects that did not fit their type, by kind/name@resourceVersion: each is reported once.
#[derive(Default)]
struct Unreadable(std::collections::BTreeSet<String>);

fn typed<K: DeserializeOwned + Resource<DynamicType = ()>>(
    store: &Store<DynamicObject>,
    unreadable: &mut Unreadable,
) -> Vec<K> {
    let (ok, unfit) = api::untyped::typed(store);
    for u in unfit {
        let key = format!(
            "{} {}/{}@{}",
            u.kind, u.namespace, u.name, u.resource_version
        );
        if unreadable.0.insert(key.clone()) {
            warn!(object = %key, error = %u.error, "left out: does not fit the metallb.io schema");
        }
    }
    ok
}

fn build(s: &Stores, namespace: &str, unreadable: &mut Unreadable) -> Snapshot {
    Snapshot {
        namespace: namespace.to_string(),
        pools: typed(&s.pools, unreadable),
        peers: typed(&s.peers, unreadable),
        advertisements: typed(&s.advertisements, unreadable),
        bfd_profiles: typed(&s.bfd_profiles, unreadable),
        communities: typed(&s.communities, unreadable),
        secrets: items(&s.secrets),
        // The stores' own Arcs: no copy of the cluster per event.
        services: s.services.state(),
        endpoint_slices: s.endpoint_slices.state(),
        nodes: items(&s.nodes),
        namespaces: Vec::new(),
    }
}
