//! The reconcile engine: one per node, turning snapshots into an FRR config, applying it
//! (at most one apply in flight, bursts collapsed by a short coalescing window, failures
//! retried with backoff while the last good config stays in FRR), reading FRR's state back
//! and publishing status when it changes.
//!
//! [`Engine`] holds the state and reacts to three things: a new snapshot
//! ([`Engine::on_snapshot`]), a poll tick ([`Engine::on_poll`]) and the moment to bring FRR to
//! the desired config ([`Engine::apply`]). [`run`] is the event loop around it.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::{debug, info, info_span, warn, Instrument};

use super::events;
use super::metrics::Metrics;
use super::publisher::Deferred;
use super::sink::StatusSink;
use super::state::FrrState;
use super::status::{self, ApplyInfo, StatusObjects};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use crate::api::status::ServiceAnnouncement;
use crate::core::intent::NodeIntent;
use crate::core::model::{Assignment, ServiceKey};
use crate::core::pipeline::{self, Addresses};
use crate::core::snapshot::{Snapshot, ValidationError};
use crate::frr::render::{self, RenderError, Rendered};
use crate::frr::status::StatusError;
use crate::input::ledger::Ledger;
use crate::kube::reflect::{sleep_until, Backoff};

/// The outcome of bringing FRR to a config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub ok: bool,
    /// FRR's own words on failure.
    pub message: Option<String>,
    pub commands_sent: u64,
    pub duration: Duration,
    /// `bgpextras` lines FRR refused, with its words (the rest applied).
    pub refused_extras: Vec<String>,
}

impl Applied {
    /// An apply that went through.
    pub fn ok(commands_sent: u64, duration: Duration) -> Self {
        Applied {
            ok: true,
            message: None,
            commands_sent,
            duration,
            refused_extras: Vec::new(),
        }
    }

    /// An apply FRR refused, in its words.
    pub fn failed(message: impl Into<String>, commands_sent: u64, duration: Duration) -> Self {
        Applied {
            ok: false,
            message: Some(message.into()),
            commands_sent,
            duration,
            refused_extras: Vec::new(),
        }
    }
}

/// The FRR side of the engine (the FRR driver in production, fakes in tests).
pub trait Frr: Send {
    fn apply(&mut self, config: &Rendered) -> impl Future<Output = Applied> + Send;
    fn read_state(&mut self) -> impl Future<Output = Result<FrrState, StatusError>> + Send;
    /// A counter that moves when FRR may have lost the config it was given (a daemon
    /// restarted); the engine then applies again.
    fn restarts(&self) -> u64 {
        0
    }
}

#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub node: String,
    /// Namespace status objects are written to.
    pub namespace: String,
    pub pipeline: pipeline::Options,
    pub addresses: Addresses,
    /// How long to wait after a change for more changes before recomputing.
    pub coalesce: Duration,
    /// How often FRR's state is read back.
    pub poll_interval: Duration,
    /// First retry delay after a failed apply; doubles up to `max_backoff`.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// File mode: the ledger the addresses handed out are recorded in.
    pub ledger: Option<Ledger>,
    /// How often status is re-stamped (`observedAt`) when nothing else changed, so a
    /// speaker that stopped shows as stopped.
    pub heartbeat: Duration,
    /// Status is written only while this node's Node exists (Kubernetes mode): objects tie
    /// to it, and a deleted Node's objects, collected with it, must not come back.
    pub owned_status: bool,
}

impl EngineConfig {
    pub fn new(node: &str, namespace: &str) -> Self {
        EngineConfig {
            node: node.into(),
            namespace: namespace.into(),
            pipeline: pipeline::Options::default(),
            addresses: Addresses::FromStatus,
            coalesce: Duration::from_millis(20),
            poll_interval: Duration::from_millis(500),
            min_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            ledger: None,
            heartbeat: Duration::from_secs(60),
            owned_status: false,
        }
    }
}

/// What FRR should run, computed from the latest snapshot.
struct Desired {
    rendered: Rendered,
    hash: String,
    intent: NodeIntent,
    errors: Vec<ValidationError>,
    warnings: Vec<ValidationError>,
    /// Built once per intent (thousands on a big cluster), shared with every publish.
    announcements: Arc<Vec<ServiceAnnouncement>>,
    /// This node's Node, which owns its status objects (None until the Node is seen).
    owner: Option<OwnerReference>,
}

/// One node's reconcile state.
pub struct Engine<F: Frr, S: StatusSink> {
    cfg: EngineConfig,
    frr: F,
    sink: S,
    metrics: Metrics,
    /// Addresses handed out by the last computation (file mode keeps them stable).
    previous: BTreeMap<ServiceKey, Assignment>,
    desired: Option<Desired>,
    /// The hash of the config FRR was last brought to; `None` forces an apply.
    applied_hash: Option<String>,
    /// The announcements of the config FRR runs; None until the first apply (a restart is a
    /// baseline, not a burst of events).
    applied_announcements: Option<Arc<Vec<ServiceAnnouncement>>>,
    last_apply: Option<ApplyInfo>,
    generation: u64,
    frr_state: Option<FrrState>,
    published: Option<StatusObjects>,
    /// When the change now being worked on was first seen (for the latency log).
    change_seen: Option<Instant>,
    backoff: Backoff,
    restarts: u64,
    /// The Unix time status was last stamped with (see [`EngineConfig::heartbeat`]).
    observed_at: Option<i64>,
}

impl<F: Frr, S: StatusSink> Engine<F, S> {
    pub fn new(cfg: EngineConfig, frr: F, sink: S, metrics: Metrics) -> Self {
        let restarts = frr.restarts();
        let backoff = Backoff::new(cfg.min_backoff, cfg.max_backoff);
        Engine {
            cfg,
            frr,
            sink,
            metrics,
            previous: BTreeMap::new(),
            desired: None,
            applied_hash: None,
            applied_announcements: None,
            last_apply: None,
            generation: 0,
            frr_state: None,
            published: None,
            change_seen: None,
            backoff,
            restarts,
            observed_at: None,
        }
    }

    /// A change arrived; the coalescing window starts (for the latency log).
    pub fn on_change(&mut self) {
        self.change_seen.get_or_insert_with(Instant::now);
    }

    /// Recompute the desired config from `snapshot`. A config that cannot be rendered
    /// leaves the previous desired config (and FRR) as they are; false then.
    pub fn on_snapshot(&mut self, snapshot: &Snapshot) -> bool {
        self.metrics.reconciles.inc();
        let t = Instant::now();
        match self.compute(snapshot) {
            Ok(d) => {
                debug!(us = t.elapsed().as_micros() as u64, hash = %&d.hash[..12], "computed");
                self.desired = Some(d);
                true
            }
            Err(e) => {
                warn!(error = %e, "cannot render config; keeping FRR as it is");
                false
            }
        }
    }

    /// Read FRR's state back, notice restarted daemons, publish. Returns true when FRR
    /// must be given its config again.
    pub async fn on_poll(&mut self) -> bool {
        match self.frr.read_state().await {
            Ok(state) => {
                self.metrics.observe(&state);
                self.metrics.set_frr_reachable(true);
                self.frr_state = Some(state);
            }
            Err(e) => {
                debug!(error = %e, "cannot read FRR state");
                self.metrics.set_frr_reachable(false);
            }
        }
        self.metrics.progress();
        let mut reapply = false;
        if self.frr.restarts() != self.restarts {
            self.restarts = self.frr.restarts();
            if self.applied_hash.take().is_some() {
                warn!("FRR's connection was re-opened (a daemon restarted, or did not answer in time); applying the config again");
                reapply = true;
            }
        }
        self.publish().await;
        reapply
    }

    /// Bring FRR to the desired config when it differs from what FRR was last brought to.
    /// Returns the delay before a retry when the apply failed.
    pub async fn apply(&mut self) -> Option<Duration> {
        let d = self.desired.as_ref()?;
        // After a failed apply, going back to the config FRR last ran still takes one
        // (normally empty, verified) apply: otherwise status would report the failure
        // until the next real change, long after its culprit is gone.
        let failed = self.last_apply.as_ref().is_some_and(|a| !a.ok);
        if self.applied_hash.as_deref() == Some(d.hash.as_str()) && !failed {
            self.change_seen = None;
            self.publish().await;
            return None;
        }
        let started = Instant::now();
        let result = self.frr.apply(&d.rendered).await;
        self.metrics.progress();
        let elapsed = result.duration.max(started.elapsed());
        self.metrics.apply_duration.observe(elapsed.as_secs_f64());
        let mut retry = None;
        if result.ok {
            self.generation += 1;
            if result.commands_sent > 0 {
                self.metrics.applies.inc();
            }
            let since_change_ms = self
                .change_seen
                .take()
                .map(|t| t.elapsed().as_millis() as u64);
            info!(hash = %&d.hash[..12], commands = result.commands_sent, ms = elapsed.as_millis() as u64, since_change_ms, "applied");
            self.applied_hash = Some(d.hash.clone());
            let announcements = d.announcements.clone();
            if let Some(before) = self.applied_announcements.replace(announcements.clone()) {
                if !Arc::ptr_eq(&before, &announcements) {
                    let evs = events::diff(&self.cfg.node, &before, &announcements);
                    if evs.len() > events::MAX_PER_APPLY {
                        info!(
                            changed = evs.len(),
                            sent = events::MAX_PER_APPLY,
                            "more Services changed than Events are sent per apply"
                        );
                    }
                    self.sink
                        .events(&evs[..evs.len().min(events::MAX_PER_APPLY)])
                        .await;
                }
            }
            self.backoff.reset();
            self.metrics.set_ready(true);
        } else {
            self.metrics.apply_errors.inc();
            let delay = self.backoff.failed();
            warn!(
                error = result.message.as_deref().unwrap_or(""),
                retry_in_ms = delay.as_millis() as u64,
                "apply failed; last good config stays"
            );
            retry = Some(delay);
        }
        let d = self.desired.as_ref()?;
        self.last_apply = Some(ApplyInfo {
            ok: result.ok,
            message: result.message.clone(),
            config_hash: if result.ok {
                d.hash.clone()
            } else {
                self.applied_hash.clone().unwrap_or_default()
            },
            generation: self.generation,
            duration_ms: elapsed.as_millis() as u64,
            commands_sent: result.commands_sent,
            refused_extras: result.refused_extras.clone(),
        });
        self.publish().await;
        retry
    }

    fn compute(&mut self, snapshot: &Snapshot) -> Result<Desired, RenderError> {
        let cfg = &self.cfg;
        let computed = pipeline::compute(snapshot, &cfg.pipeline, cfg.addresses, &self.previous);
        self.previous = computed.allocation.assigned.clone();
        if let Some(ledger) = &cfg.ledger {
            let holding = computed
                .allocation
                .assigned
                .iter()
                .chain(&computed.allocation.held);
            if let Err(e) = ledger.record(computed.services.keys(), holding) {
                warn!(error = %e, "cannot record addresses in the ledger");
            }
        }
        let intent = computed.node_intent(&cfg.node);
        let rendered = render::render_node(&intent, computed.extras.as_deref())?;
        for l in &rendered.left_out {
            warn!(object = %l.object, "{l}");
        }
        // The kept lines are part of what FRR is brought to.
        let hash = render::sha256_hex(&format!("{}{:?}", rendered.text, rendered.keep));
        let owner = snapshot
            .nodes
            .iter()
            .find(|n| n.metadata.name.as_deref() == Some(cfg.node.as_str()))
            .and_then(|n| n.metadata.uid.as_deref())
            .map(|uid| status::node_owner(&cfg.node, uid));
        let announcements = match &self.desired {
            // Most changes touch no Service this node speaks for: keep the shared list.
            Some(b) if b.intent == intent && b.owner == owner => b.announcements.clone(),
            _ => {
                let mut list = status::announcements(&cfg.namespace, &intent);
                status::set_owner(&mut list, owner.as_ref());
                Arc::new(list)
            }
        };
        Ok(Desired {
            rendered,
            hash,
            intent,
            errors: computed.errors,
            warnings: computed.warnings,
            announcements,
            owner,
        })
    }

    /// Publish status if it changed. Nothing is published before the first apply: a
    /// restarting speaker must not replace its previous status with half-known state.
    async fn publish(&mut self) {
        let (Some(d), Some(apply)) = (&self.desired, &self.last_apply) else {
            return;
        };
        if self.cfg.owned_status && d.owner.is_none() {
            debug!("this node's Node is not known (yet, or any more): status not written");
            return;
        }
        let mut objects = status::build_with(
            &self.cfg.namespace,
            &d.intent,
            d.announcements.clone(),
            self.frr_state.as_ref(),
            Some(apply),
            status::Findings {
                errors: &d.errors,
                warnings: &d.warnings,
                left_out: &d.rendered.left_out,
            },
        );
        // Unchanged since the last stamp, and the heartbeat not due: nothing to write.
        // Otherwise the objects go out stamped with now.
        let now = unix_now();
        if let Some(t) = self.observed_at {
            objects.stamp(d.owner.as_ref(), status::rfc3339_utc(t).as_deref());
            let due = now - t >= self.cfg.heartbeat.as_secs().max(1) as i64;
            if !due && self.published.as_ref() == Some(&objects) {
                return;
            }
        }
        objects.stamp(d.owner.as_ref(), status::rfc3339_utc(now).as_deref());
        self.observed_at = Some(now);
        match self.sink.publish(&objects).await {
            Ok(written) => {
                self.metrics.status_writes.inc_by(written as u64);
                self.published = Some(objects);
            }
            Err(e) => warn!(error = %e, "cannot publish status; will retry"),
        }
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Runs until `shutdown` turns true. `snapshots` holds `None` until the source has synced:
/// nothing is applied before that, so a restart never withdraws what FRR announces.
pub async fn run<F: Frr, S: StatusSink + 'static>(
    cfg: EngineConfig,
    mut snapshots: watch::Receiver<Option<Arc<Snapshot>>>,
    frr: F,
    sink: S,
    metrics: Metrics,
    mut shutdown: watch::Receiver<bool>,
) {
    let span = info_span!("speaker", node = %cfg.node);
    async move {
        let coalesce = cfg.coalesce;
        let mut poll = tokio::time::interval(cfg.poll_interval);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Status is written by a task of its own: a hung API server never holds up an apply.
        let sink = Deferred::spawn(sink, metrics.clone());
        let mut engine = Engine::new(cfg, frr, sink, metrics);
        let mut recompute_at: Option<tokio::time::Instant> = None;
        // When the last recompute started: a change after a quiet `coalesce` is alone.
        let mut last_recompute: Option<tokio::time::Instant> = None;
        let mut retry_at: Option<tokio::time::Instant> = None;
        // A snapshot may already be there.
        if snapshots.borrow().is_some() {
            recompute_at = Some(tokio::time::Instant::now());
        }
        loop {
            tokio::select! {
                changed = snapshots.changed() => {
                    if changed.is_err() {
                        info!("source closed; stopping");
                        break;
                    }
                    // Leading edge: a change after a quiet spell is applied at once; one
                    // that follows another within `coalesce` (a burst still arriving)
                    // waits the window out, and later ones ride along.
                    let now = tokio::time::Instant::now();
                    let quiet = last_recompute.is_none_or(|t| now >= t + coalesce);
                    recompute_at.get_or_insert(if quiet { now } else { now + coalesce });
                    engine.on_change();
                    continue;
                }
                _ = sleep_until(recompute_at), if recompute_at.is_some() => {
                    recompute_at = None;
                    last_recompute = Some(tokio::time::Instant::now());
                    let Some(snapshot) = snapshots.borrow_and_update().clone() else { continue };
                    if !engine.on_snapshot(&snapshot) {
                        continue;
                    }
                }
                _ = sleep_until(retry_at), if retry_at.is_some() => {
                    retry_at = None;
                }
                _ = poll.tick() => {
                    let reapply = tokio::select! {
                        r = engine.on_poll() => r,
                        _ = stopping(&mut shutdown) => break,
                    };
                    if reapply {
                        retry_at = Some(tokio::time::Instant::now());
                    }
                    continue;
                }
                _ = stopping(&mut shutdown) => break,
            }
            // An apply (or poll) waiting on a wedged daemon is dropped at shutdown: the vty
            // client closes a connection whose command was cut off, and the next speaker's
            // first batch re-arms bgpd's end-of-config handling.
            let retry = tokio::select! {
                r = engine.apply() => r,
                _ = stopping(&mut shutdown) => break,
            };
            if let Some(delay) = retry {
                retry_at = Some(tokio::time::Instant::now() + delay);
            }
        }
        if *shutdown.borrow() {
            info!("shutting down; FRR keeps its running config");
        }
    }
    .instrument(span)
    .await
}

/// Resolves once shutdown is asked for (at once if it already was); never, if the sender is
/// gone without asking.
async fn stopping(shutdown: &mut watch::Receiver<bool>) {
    if shutdown.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}
