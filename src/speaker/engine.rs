//! The reconcile engine: one loop per node that turns snapshots into an FRR config, applies
//! it (at most one apply in flight, bursts collapsed by a short coalescing window, failures
//! retried with backoff while the last good config stays in FRR), reads FRR's state back and
//! publishes status when it changes.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tracing::{debug, info, info_span, warn, Instrument};

use super::events::{self, AnnouncementEvent};
use super::metrics::Metrics;
use super::state::FrrState;
use super::status::{self, ApplyInfo, StatusObjects};
use crate::api::status::ServiceAnnouncement;
use crate::core::intent::NodeIntent;
use crate::core::model::{Assignment, ServiceKey};
use crate::core::validate::{Snapshot, ValidationError};
use crate::pipeline::{self, Addresses};

/// The outcome of bringing FRR to a config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub ok: bool,
    /// FRR's own words on failure.
    pub message: Option<String>,
    pub commands_sent: u64,
    pub duration: Duration,
}

/// The FRR side of the engine (the vtysh driver in production, fakes in tests).
pub trait Frr: Send {
    fn apply(&mut self, config: &str) -> impl Future<Output = Applied> + Send;
    fn read_state(&mut self) -> impl Future<Output = Result<FrrState, String>> + Send;
    /// A counter that moves when FRR may have lost the config it was given (a daemon
    /// restarted); the engine then applies again.
    fn restarts(&self) -> u64 {
        0
    }
}

/// Where status goes (the Kubernetes API or a directory). Implementations write only the
/// objects that differ from what they last wrote and remove the ones that disappeared.
pub trait StatusSink: Send {
    fn publish(
        &mut self,
        objects: &StatusObjects,
    ) -> impl Future<Output = Result<usize, String>> + Send;

    /// Tell about Services this node started or stopped announcing (after the apply that
    /// did it). Best effort: a lost event is logged, never retried.
    fn events(&mut self, events: &[AnnouncementEvent]) -> impl Future<Output = ()> + Send {
        for e in events {
            info!(service = %format!("{}/{}", e.namespace, e.name), reason = e.event.reason, note = %e.event.note, "service event");
        }
        async {}
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
        }
    }
}

pub fn config_hash(config: &str) -> String {
    Sha256::digest(config.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

struct Desired {
    config: String,
    hash: String,
    intent: NodeIntent,
    errors: Vec<ValidationError>,
    /// Built once per intent (thousands on a big cluster), shared with every publish.
    announcements: Arc<Vec<ServiceAnnouncement>>,
}

/// Runs until `shutdown` turns true. `snapshots` holds `None` until the source has synced:
/// nothing is applied before that, so a restart never withdraws what FRR announces.
pub async fn run<F: Frr, S: StatusSink>(
    cfg: EngineConfig,
    mut snapshots: watch::Receiver<Option<Arc<Snapshot>>>,
    mut frr: F,
    mut sink: S,
    metrics: Metrics,
    mut shutdown: watch::Receiver<bool>,
) {
    let span = info_span!("speaker", node = %cfg.node);
    async move {
        let mut previous: BTreeMap<ServiceKey, Assignment> = BTreeMap::new();
        let mut desired: Option<Desired> = None;
        let mut applied_hash: Option<String> = None;
        // The announcements of the config FRR runs; None until the first apply (a restart
        // is a baseline, not a burst of events).
        let mut applied_announcements: Option<Arc<Vec<ServiceAnnouncement>>> = None;
        let mut last_apply: Option<ApplyInfo> = None;
        let mut generation = 0u64;
        let mut frr_state: Option<FrrState> = None;
        let mut published: Option<StatusObjects> = None;
        let mut recompute_at: Option<tokio::time::Instant> = None;
        // When the change now being worked on was first seen (for the latency log).
        let mut change_seen: Option<Instant> = None;
        let mut retry_at: Option<tokio::time::Instant> = None;
        let mut backoff = cfg.min_backoff;
        let mut restarts = frr.restarts();
        let mut poll = tokio::time::interval(cfg.poll_interval);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // A snapshot may already be there.
        if snapshots.borrow().is_some() {
            recompute_at = Some(tokio::time::Instant::now());
        }

        loop {
            let far = tokio::time::Instant::now() + Duration::from_secs(3600);
            tokio::select! {
                changed = snapshots.changed() => {
                    if changed.is_err() {
                        info!("source closed; stopping");
                        break;
                    }
                    // Coalesce: the first change of a burst starts the window, later ones ride along.
                    recompute_at.get_or_insert(tokio::time::Instant::now() + cfg.coalesce);
                    change_seen.get_or_insert_with(Instant::now);
                    continue;
                }
                _ = tokio::time::sleep_until(recompute_at.unwrap_or(far)), if recompute_at.is_some() => {
                    recompute_at = None;
                    let Some(snapshot) = snapshots.borrow_and_update().clone() else { continue };
                    metrics.reconciles.inc();
                    let t = Instant::now();
                    match compute(&cfg, &snapshot, &mut previous, desired.as_ref()) {
                        Ok(d) => {
                            debug!(us = t.elapsed().as_micros() as u64, hash = %&d.hash[..12], "computed");
                            desired = Some(d);
                        }
                        Err(e) => {
                            warn!(error = %e, "cannot render config; keeping FRR as it is");
                            continue;
                        }
                    }
                }
                _ = tokio::time::sleep_until(retry_at.unwrap_or(far)), if retry_at.is_some() => {
                    retry_at = None;
                }
                _ = poll.tick() => {
                    match frr.read_state().await {
                        Ok(state) => {
                            metrics.observe(&state);
                            frr_state = Some(state);
                        }
                        Err(e) => debug!(error = %e, "cannot read FRR state"),
                    }
                    if frr.restarts() != restarts {
                        restarts = frr.restarts();
                        if applied_hash.take().is_some() {
                            warn!("FRR restarted (its connection was re-opened); applying the config again");
                            retry_at = Some(tokio::time::Instant::now());
                        }
                    }
                    publish(&cfg, desired.as_ref(), frr_state.as_ref(), last_apply.as_ref(), &mut sink, &mut published, &metrics).await;
                    continue;
                }
                _ = shutdown.changed() => {
                    if *shutdown.borrow() {
                        info!("shutting down; FRR keeps its running config");
                        break;
                    }
                    continue;
                }
            }

            // Apply when the desired config differs from what FRR was last brought to.
            let Some(d) = desired.as_ref() else { continue };
            if applied_hash.as_deref() == Some(d.hash.as_str()) {
                change_seen = None;
                publish(&cfg, desired.as_ref(), frr_state.as_ref(), last_apply.as_ref(), &mut sink, &mut published, &metrics).await;
                continue;
            }
            let started = Instant::now();
            let result = frr.apply(&d.config).await;
            let elapsed = result.duration.max(started.elapsed());
            metrics.apply_duration.observe(elapsed.as_secs_f64());
            if result.ok {
                generation += 1;
                if result.commands_sent > 0 {
                    metrics.applies.inc();
                }
                let since_change_ms = change_seen.take().map(|t| t.elapsed().as_millis() as u64);
                info!(hash = %&d.hash[..12], commands = result.commands_sent, ms = elapsed.as_millis() as u64, since_change_ms, "applied");
                applied_hash = Some(d.hash.clone());
                if let Some(before) = applied_announcements.replace(d.announcements.clone()) {
                    if !Arc::ptr_eq(&before, &d.announcements) {
                        let evs = events::diff(&cfg.node, &before, &d.announcements);
                        if evs.len() > events::MAX_PER_APPLY {
                            info!(changed = evs.len(), sent = events::MAX_PER_APPLY, "more Services changed than Events are sent per apply");
                        }
                        sink.events(&evs[..evs.len().min(events::MAX_PER_APPLY)]).await;
                    }
                }
                backoff = cfg.min_backoff;
                metrics.set_ready(true);
            } else {
                metrics.apply_errors.inc();
                warn!(error = result.message.as_deref().unwrap_or(""), retry_in_ms = backoff.as_millis() as u64, "apply failed; last good config stays");
                retry_at = Some(tokio::time::Instant::now() + backoff);
                backoff = (backoff * 2).min(cfg.max_backoff);
            }
            last_apply = Some(ApplyInfo {
                ok: result.ok,
                message: result.message.clone(),
                config_hash: if result.ok { d.hash.clone() } else { applied_hash.clone().unwrap_or_default() },
                generation,
                duration_ms: elapsed.as_millis() as u64,
                commands_sent: result.commands_sent,
            });
            publish(&cfg, desired.as_ref(), frr_state.as_ref(), last_apply.as_ref(), &mut sink, &mut published, &metrics).await;
        }
    }
    .instrument(span)
    .await
}

fn compute(
    cfg: &EngineConfig,
    snapshot: &Snapshot,
    previous: &mut BTreeMap<ServiceKey, Assignment>,
    before: Option<&Desired>,
) -> Result<Desired, crate::frr::render::RenderError> {
    let computed = pipeline::compute(snapshot, &cfg.pipeline, cfg.addresses, previous);
    *previous = computed.allocation.assigned.clone();
    let intent = computed.node_intent(&cfg.node);
    let config = crate::frr::render::render(&intent)?;
    let hash = config_hash(&config);
    let announcements = match before {
        // Most changes touch no Service this node speaks for: keep the shared list.
        Some(b) if b.intent == intent => b.announcements.clone(),
        _ => Arc::new(status::announcements(&cfg.namespace, &intent)),
    };
    Ok(Desired {
        config,
        hash,
        intent,
        errors: computed.errors,
        announcements,
    })
}

async fn publish<S: StatusSink>(
    cfg: &EngineConfig,
    desired: Option<&Desired>,
    frr: Option<&FrrState>,
    apply: Option<&ApplyInfo>,
    sink: &mut S,
    published: &mut Option<StatusObjects>,
    metrics: &Metrics,
) {
    // Nothing is published before the first apply: a restarting speaker must not replace
    // its previous status with half-known state.
    let (Some(d), Some(_)) = (desired, apply) else {
        return;
    };
    let objects = status::build_with(
        &cfg.namespace,
        &d.intent,
        d.announcements.clone(),
        frr,
        apply,
        &d.errors,
    );
    if published.as_ref() == Some(&objects) {
        return;
    }
    match sink.publish(&objects).await {
        Ok(written) => {
            metrics.status_writes.inc_by(written as u64);
            *published = Some(objects);
        }
        Err(e) => warn!(error = %e, "cannot publish status; will retry"),
    }
}
