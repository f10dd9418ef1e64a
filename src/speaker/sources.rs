//! Where snapshots come from: a directory of manifests (file mode, labs, hosts without
//! Kubernetes) or the Kubernetes API. Both publish into one `watch` channel that holds
//! `None` until the first complete view, then the latest snapshot.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::watcher;
use kube::{Api, Client};
use notify::{RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use crate::core::snapshot::{FirstSeen, Snapshot, BGP_EXTRAS};
use crate::input::ledger::Ledger;
use crate::input::{manifests, trim};
use crate::kube::reflect::Watches;
use crate::kube::stores::{Stores, UnfitLog};

pub type SnapshotTx = watch::Sender<Option<Arc<Snapshot>>>;
pub type SnapshotRx = watch::Receiver<Option<Arc<Snapshot>>>;

// ---------------------------------------------------------------------------------------
// File mode: a directory of manifests, watched with inotify.

/// Watches `dir` (inotify) and publishes a fresh snapshot for `node`'s speaker whenever a
/// file in it changes, or the shared `ledger` does (another speaker recorded something).
/// A document that fails to parse is reported and left out; a file that parsed before
/// keeps its last good content while it does not (see `crate::input::dir::DirReader`).
pub async fn watch_dir(
    dir: PathBuf,
    namespace: String,
    node: String,
    ledger: Option<Ledger>,
    tx: SnapshotTx,
) -> Result<(), notify::Error> {
    // Events name files by the path watched; compare like with like, whatever the
    // working directory (a relative --source never matched, so it was never re-read).
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel::<FileEvent>();
    let ledger_path = ledger
        .as_ref()
        .map(|l| std::path::absolute(l.path()).unwrap_or_else(|_| l.path().to_owned()));
    let manifests_dir = dir.clone();
    let ledger_dir = ledger_path
        .as_ref()
        .and_then(|l| l.parent())
        .map(Path::to_path_buf);
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let Ok(e) = res else { return };
        // In the ledger's directory (the status dir) only the ledger itself counts.
        let relevant = e.paths.iter().any(|p| {
            p.parent() == Some(manifests_dir.as_path()) || Some(p) == ledger_path.as_ref()
        });
        if !(relevant || e.paths.is_empty()) {
            return;
        }
        if let Some(ev) = FileEvent::of(&e) {
            let _ = ev_tx.send(ev);
        }
    })?;
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    if let Some(parent) = &ledger_dir {
        std::fs::create_dir_all(parent).map_err(notify::Error::io)?;
        watcher.watch(parent, RecursiveMode::NonRecursive)?;
    }
    let mut reader = crate::input::dir::DirReader::default();
    let mut source = DirSource {
        dir: &dir,
        namespace: &namespace,
        node: &node,
        ledger: ledger.as_ref(),
        first_seen: FirstSeen::default(),
        reader: &mut reader,
        reported: Vec::new(),
    };
    source.load_and_send(&tx, &Writing::default());
    let mut writing = Writing::default();
    loop {
        // A file still open for writing is held (kept as last read) until it is closed, or
        // for at most MAX_HOLD; wake up for that deadline too.
        let event = match writing.deadline() {
            Some(at) => match tokio::time::timeout_at(at.into(), ev_rx.recv()).await {
                Ok(ev) => ev,
                Err(_) => {
                    for p in writing.expire() {
                        warn!(file = %p.display(), "still open for writing after {MAX_HOLD:?}; reading it as it is");
                    }
                    source.load_and_send(&tx, &writing);
                    continue;
                }
            },
            None => ev_rx.recv().await,
        };
        let Some(event) = event else { break };
        // An editor or `cp` makes several events per change; take them all, then reload once.
        let mut reload = writing.note(event);
        tokio::time::sleep(Duration::from_millis(2)).await;
        while let Ok(ev) = ev_rx.try_recv() {
            reload |= writing.note(ev);
        }
        if reload {
            source.load_and_send(&tx, &writing);
        }
    }
    Ok(())
}

/// The longest a file open for writing is held back: a writer that never closes its file
/// must not freeze what the file says.
const MAX_HOLD: Duration = Duration::from_secs(10);

/// What one inotify event means for reading the directory.
#[derive(Debug)]
enum FileEvent {
    /// Data written into a file that is still open (IN_MODIFY / IN_CREATE).
    Writing(PathBuf),
    /// The writer closed the file (IN_CLOSE_WRITE): its content is complete.
    Closed(PathBuf),
    /// Renamed, removed, attributes: the directory changed.
    Changed,
}

impl FileEvent {
    fn of(e: &notify::Event) -> Option<FileEvent> {
        use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind};
        use notify::EventKind;
        let path = e.paths.first().cloned();
        match (e.kind, path) {
            (EventKind::Access(AccessKind::Close(AccessMode::Write)), Some(p)) => {
                Some(FileEvent::Closed(p))
            }
            // Opening and reading a file is an event too (IN_OPEN / IN_CLOSE_NOWRITE):
            // reacting to those would make every reload trigger the next one.
            (EventKind::Access(_), _) => None,
            (EventKind::Modify(ModifyKind::Data(_)), Some(p))
            | (EventKind::Create(CreateKind::File), Some(p)) => Some(FileEvent::Writing(p)),
            _ => Some(FileEvent::Changed),
        }
    }
}

/// Files written into and not yet closed, with when that was first seen. While a file is
/// here, the reader uses its last content (a half-written file never withdraws a route);
/// the other files are read as usual.
#[derive(Debug, Default)]
pub(crate) struct Writing {
    open: std::collections::BTreeMap<PathBuf, std::time::Instant>,
}

impl Writing {
    /// Takes an event in; true when the directory should be read again.
    fn note(&mut self, ev: FileEvent) -> bool {
        match ev {
            // More data into a file already held changes nothing we would read.
            FileEvent::Writing(p) => {
                self.open.entry(p).or_insert_with(std::time::Instant::now);
                false
            }
            FileEvent::Closed(p) => {
                self.open.remove(&p);
                true
            }
            FileEvent::Changed => {
                // A rename or removal ends a write too (the file moved or went).
                self.open.retain(|p, _| p.exists());
                true
            }
        }
    }

    fn deadline(&self) -> Option<std::time::Instant> {
        self.open.values().min().map(|t| *t + MAX_HOLD)
    }

    /// Releases files held for MAX_HOLD; returns them.
    fn expire(&mut self) -> Vec<PathBuf> {
        let now = std::time::Instant::now();
        let gone: Vec<PathBuf> = self
            .open
            .iter()
            .filter(|(_, t)| now >= **t + MAX_HOLD)
            .map(|(p, _)| p.clone())
            .collect();
        for p in &gone {
            self.open.remove(p);
        }
        gone
    }

    pub(crate) fn held(&self) -> std::collections::BTreeSet<PathBuf> {
        self.open.keys().cloned().collect()
    }
}

struct DirSource<'a> {
    dir: &'a Path,
    namespace: &'a str,
    node: &'a str,
    ledger: Option<&'a Ledger>,
    /// Ages when there is no ledger, or it cannot be read.
    first_seen: FirstSeen,
    reader: &'a mut crate::input::dir::DirReader,
    /// Problems already logged (each is said once, not on every reload).
    reported: Vec<String>,
}

impl DirSource<'_> {
    fn load_and_send(&mut self, tx: &SnapshotTx, writing: &Writing) {
        let held = writing.held();
        let mut loaded =
            match self
                .reader
                .load_holding(self.dir, self.namespace, Some(self.node), &held)
            {
                Ok(l) => l,
                Err(e) => {
                    warn!(error = %e, "cannot read manifests; keeping the last good snapshot");
                    return;
                }
            };
        let said: Vec<String> = loaded
            .errors
            .iter()
            .map(ToString::to_string)
            .chain(loaded.warnings.iter().filter_map(|w| match w {
                manifests::Warning::Replaced { .. } => None,
                other => Some(other.to_string()),
            }))
            .collect();
        for line in said.iter().filter(|l| !self.reported.contains(l)) {
            warn!("{line}");
        }
        self.reported = said;
        loaded.shrink();
        let mut snapshot = loaded.snapshot;
        // This process's own ranks, kept up either way, then the ledger's over them: the
        // ledger knows what other speakers and earlier runs saw.
        self.first_seen.rank(&mut snapshot);
        if let Some(ledger) = self.ledger {
            if let Err(e) = ledger.observe(&mut snapshot) {
                warn!(error = %e, "cannot use the ledger; deciding conflicts by what this speaker saw first");
            }
        }
        let snapshot = Arc::new(snapshot);
        let changed = tx.borrow().as_deref() != Some(&*snapshot);
        if changed {
            info!(dir = %self.dir.display(), "manifests changed");
            tx.send_replace(Some(snapshot));
        }
    }
}

// ---------------------------------------------------------------------------------------
// The Kubernetes API: reflector stores for what this node's config depends on, trimmed to
// what the speaker reads (managed fields dropped, EndpointSlices reduced to node and
// conditions), Nodes down to labels and conditions.

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
    // Every Node, trimmed to labels and conditions: rules between peers and between
    // advertisements depend on which nodes their selectors can share, and the controller
    // must reach the same verdict from the same view.
    stores.nodes = Some(watches.add("Node", Api::<Node>::all(client.clone()), all(), trim::node));
    stores.config_maps = Some(watches.add(
        "ConfigMap",
        Api::<ConfigMap>::namespaced(client, &namespace),
        all().fields(&format!("metadata.name={}", BGP_EXTRAS.0)),
        |c: &mut ConfigMap| c.metadata.managed_fields = None,
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
