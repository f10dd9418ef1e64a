//! The Kubernetes source: reflector stores for what this node's config depends on, and a
//! snapshot rebuilt from them on every change. Stores keep only what the speaker needs
//! (managed fields dropped, EndpointSlices reduced to node + conditions), and the node
//! watches only its own Node object, so memory does not grow with the cluster's node count.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::watcher;
use kube::{Api, Client};
use tracing::{debug, warn};

use super::SnapshotTx;
use crate::input::trim;
use crate::kube::reflect::Watches;
use crate::kube::stores::{Stores, UnfitLog};

/// Starts the watches and publishes a snapshot after each change, once every store has its
/// initial list. Runs until the watches end; watch errors are retried with backoff by the
/// watcher and the stores keep their last content meanwhile, so a broken API connection
/// never turns into an empty config.
pub async fn watch_cluster(client: Client, namespace: String, node: String, tx: SnapshotTx) {
    let mut watches = Watches::new();
    let mut changes = watches.subscribe();
    let mut stores = Stores::default();
    stores.watch_metallb(&mut watches, &client, &namespace);
    let all = watcher::Config::default;
    stores.secrets = Some(watches.add(
        "Secret",
        Api::<Secret>::namespaced(client.clone(), &namespace),
        all(),
        |s: &mut Secret| s.metadata.managed_fields = None,
    ));
    stores.services = Some(watches.add(
        "Service",
        Api::<Service>::all(client.clone()),
        all(),
        trim::service,
    ));
    let own = node.clone();
    stores.endpoint_slices = Some(watches.add(
        "EndpointSlice",
        Api::<EndpointSlice>::all(client.clone()),
        all(),
        move |s: &mut EndpointSlice| trim::endpoint_slice(s, &own),
    ));
    stores.nodes = Some(watches.add(
        "Node",
        Api::<Node>::all(client),
        all().fields(&format!("metadata.name={node}")),
        trim::node,
    ));

    // Nothing is published before every store holds its initial list: a partial view would
    // withdraw what FRR announces.
    if let Err(e) = watches.ready().await {
        warn!(error = %e, "no complete view of the cluster; publishing nothing");
        return;
    }
    let mut unfit = UnfitLog::default();
    loop {
        let built = stores.snapshot(&namespace);
        unfit.report(&built.unfit);
        debug!(services = built.snapshot.services.len(), "snapshot rebuilt");
        tx.send_replace(Some(Arc::new(built.snapshot)));
        // A burst of events makes one snapshot; the engine coalesces further.
        if changes.next(Duration::ZERO).await.is_err() {
            return;
        }
    }
}
