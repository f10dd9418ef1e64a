//! Where snapshots come from: a directory of manifests (file mode, labs, hosts without
//! Kubernetes) or the Kubernetes API. Both publish into one `watch` channel that holds
//! `None` until the first complete view, then the latest snapshot.

mod cluster;
mod directory;

use std::sync::Arc;

use tokio::sync::watch;

use crate::core::snapshot::Snapshot;

pub use cluster::watch_cluster;
pub use directory::watch_dir;

pub type SnapshotTx = watch::Sender<Option<Arc<Snapshot>>>;
pub type SnapshotRx = watch::Receiver<Option<Arc<Snapshot>>>;
