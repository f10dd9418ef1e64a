//! Where snapshots come from: a directory of manifests (file mode, labs, hosts without
//! Kubernetes) or the Kubernetes API. Both publish into one `watch` channel that holds
//! `None` until the first complete view, then the latest snapshot.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::watcher;
use kube::{Api, Client};
use notify::{RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use crate::core::snapshot::Snapshot;
use crate::input::{manifests, trim};
use crate::kube::reflect::Watches;
use crate::kube::stores::{Stores, UnfitLog};

pub type SnapshotTx = watch::Sender<Option<Arc<Snapshot>>>;
pub type SnapshotRx = watch::Receiver<Option<Arc<Snapshot>>>;

// ---------------------------------------------------------------------------------------
// File mode: a directory of manifests, watched with inotify.

/// Watches `dir` (inotify) and publishes a fresh snapshot for `node`'s speaker whenever a
/// file in it changes.
/// A document that fails to parse is reported and left out; the rest still applies.
pub async fn watch_dir(
    dir: PathBuf,
    namespace: String,
    node: String,
    tx: SnapshotTx,
) -> Result<(), notify::Error> {
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel::<()>();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        // Opening and reading a file is an event too (inotify IN_OPEN / IN_CLOSE_NOWRITE):
        // reacting to those would make every reload trigger the next one.
        if res.is_ok_and(|e| !matches!(e.kind, notify::EventKind::Access(_))) {
            let _ = ev_tx.send(());
        }
    })?;
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    load_and_send(&dir, &namespace, &node, &tx);
    while ev_rx.recv().await.is_some() {
        // An editor or `cp` makes several events per change; take them all, then reload once.
        tokio::time::sleep(Duration::from_millis(2)).await;
        while ev_rx.try_recv().is_ok() {}
        load_and_send(&dir, &namespace, &node, &tx);
    }
    Ok(())
}

fn load_and_send(dir: &Path, namespace: &str, node: &str, tx: &SnapshotTx) {
    match manifests::load_dir_trimmed(dir, namespace, node) {
        Ok(loaded) => {
            for e in &loaded.errors {
                warn!(error = %e, "manifest document skipped");
            }
            let snapshot = Arc::new(loaded.snapshot);
            let changed = tx.borrow().as_deref() != Some(&*snapshot);
            if changed {
                info!(dir = %dir.display(), "manifests changed");
                tx.send_replace(Some(snapshot));
            }
        }
        Err(e) => warn!(error = %e, "cannot read manifests; keeping the last good snapshot"),
    }
}

// ---------------------------------------------------------------------------------------
// The Kubernetes API: reflector stores for what this node's config depends on, trimmed to
// what the speaker reads (managed fields dropped, EndpointSlices reduced to node and
// conditions), and only its own Node object, so memory does not grow with the cluster.

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
