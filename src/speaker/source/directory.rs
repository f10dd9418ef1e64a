//! File mode: a directory of manifests, watched with inotify.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::SnapshotTx;
use crate::input::manifests;

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
