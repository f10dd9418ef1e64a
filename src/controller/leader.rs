//! Leader election on a `coordination.k8s.io/v1` Lease, as client-go does it: the holder
//! renews every `renew_interval`; others take over once they have seen the record unchanged
//! for the lease duration. Every write carries the resourceVersion it was based on, so of
//! two candidates only one wins; a renewal that conflicts means the lease is lost.
//!
//! Safety margin: a leader trusts its leadership only until `renew_deadline` after the start
//! of its last successful renewal, which is shorter than the lease duration others wait for.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::Client;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::kube::reflect::{sleep_until, Backoff, Changes, WatchError};
use crate::kube::API_TIMEOUT;

/// Who we are and how the lease is kept.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub name: String,
    pub namespace: String,
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub renew_interval: Duration,
}

/// Whether this process may act as the leader right now. Cheap to clone.
#[derive(Clone)]
pub struct Leadership {
    valid_until: Arc<Mutex<Option<Instant>>>,
    changes: watch::Sender<bool>,
}

impl Leadership {
    fn new() -> Self {
        Leadership {
            valid_until: Arc::new(Mutex::new(None)),
            changes: watch::channel(false).0,
        }
    }

    /// Leadership that never ends: for a single instance, or to drive `reconcile_once`.
    pub fn unconditional() -> Self {
        let l = Self::new();
        l.set(Some(
            Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600),
        ));
        l
    }

    pub fn is_leader(&self) -> bool {
        self.valid_until
            .lock()
            .expect("leadership lock")
            .is_some_and(|t| Instant::now() < t)
    }

    /// `call` (a write), abandoned when this process's leadership as known now ends, or
    /// after [`API_TIMEOUT`] if sooner. Others take over only a lease duration after the
    /// last renewal, later than that: a write that could not finish while this process led
    /// is dropped before a new leader can act, never landing after the hand-over.
    pub async fn bounded<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, kube::Error> {
        let now = Instant::now();
        let until = *self.valid_until.lock().expect("leadership lock");
        let timed_out = |what: String| {
            kube::Error::Service(Box::new(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                what,
            )))
        };
        let Some(until) = until.filter(|t| now < *t) else {
            return Err(timed_out("not the leader: write not sent".into()));
        };
        let deadline = until.min(now + API_TIMEOUT);
        match tokio::time::timeout_at(deadline, call).await {
            Ok(result) => result,
            Err(_) => Err(timed_out(format!(
                "no answer within {:.1}s, before this process's leadership ends: write abandoned",
                (deadline - now).as_secs_f64()
            ))),
        }
    }

    /// Notified whenever leadership is gained or given up.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.changes.subscribe()
    }

    fn set(&self, until: Option<Instant>) {
        *self.valid_until.lock().expect("leadership lock") = until;
        self.changes.send_if_modified(|v| {
            let changed = *v != until.is_some();
            *v = until.is_some();
            changed
        });
    }
}

/// What one attempt found.
#[derive(Debug, PartialEq, Eq)]
enum Attempt {
    /// We hold the lease (acquired or renewed).
    Held,
    /// Someone else holds a live lease, or won the race.
    Other,
}

/// Keeps the lease for as long as the returned future runs. Drop it to stop (others take
/// over once the lease expires).
pub fn elect(
    client: Client,
    config: LeaseConfig,
) -> (Leadership, impl std::future::Future<Output = ()>) {
    let leadership = Leadership::new();
    let handle = leadership.clone();
    let fut = async move {
        let api: Api<Lease> = Api::namespaced(client, &config.namespace);
        let mut observed: Option<(String, Instant)> = None;
        loop {
            let started = Instant::now();
            // A hung API must not keep us waiting past the point we would step down anyway.
            let attempt = tokio::time::timeout(
                config.renew_deadline,
                try_acquire_or_renew(&api, &config, &mut observed),
            )
            .await;
            match attempt {
                Ok(Ok(Attempt::Held)) => {
                    if !handle.is_leader() {
                        tracing::info!(identity = %config.identity, lease = %config.name, "became leader");
                    }
                    handle.set(Some(started + config.renew_deadline));
                }
                Ok(Ok(Attempt::Other)) => {
                    if handle.is_leader() {
                        tracing::warn!(identity = %config.identity, "lost the lease");
                    }
                    handle.set(None);
                }
                Ok(Err(e)) => {
                    tracing::warn!(lease = %config.name, error = %e, "lease request failed");
                    if !handle.is_leader() {
                        handle.set(None);
                    }
                }
                Err(_) => {
                    tracing::warn!(lease = %config.name, "lease request timed out");
                    if !handle.is_leader() {
                        handle.set(None);
                    }
                }
            }
            tokio::time::sleep(config.renew_interval).await;
        }
    };
    (leadership, fut)
}

fn now() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

fn duration_seconds(d: Duration) -> i32 {
    // Round up: others then wait at least as long as we said.
    i32::try_from(d.as_millis().div_ceil(1000))
        .unwrap_or(i32::MAX)
        .max(1)
}

async fn try_acquire_or_renew(
    api: &Api<Lease>,
    config: &LeaseConfig,
    observed: &mut Option<(String, Instant)>,
) -> Result<Attempt, kube::Error> {
    let mut lease = match api.get_opt(&config.name).await? {
        Some(l) => l,
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(config.name.clone()),
                    namespace: Some(config.namespace.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(config.identity.clone()),
                    lease_duration_seconds: Some(duration_seconds(config.lease_duration)),
                    acquire_time: Some(now()),
                    renew_time: Some(now()),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return match api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(Attempt::Held),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(Attempt::Other),
                Err(e) => Err(e),
            };
        }
    };
    let rv = lease.metadata.resource_version.clone().unwrap_or_default();
    let spec = lease.spec.get_or_insert_with(Default::default);
    let holder = spec.holder_identity.clone().unwrap_or_default();
    let ours = holder == config.identity;
    if !ours && !holder.is_empty() {
        // Expiry is judged by our own clock from when we first saw this record, never by
        // comparing the holder's timestamps with our clock.
        let seen_at = match observed {
            Some((seen_rv, at)) if *seen_rv == rv => *at,
            _ => {
                *observed = Some((rv.clone(), Instant::now()));
                Instant::now()
            }
        };
        let duration = spec
            .lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs)
            .unwrap_or(config.lease_duration);
        if Instant::now() < seen_at + duration {
            return Ok(Attempt::Other);
        }
        tracing::info!(previous = %holder, "lease expired, taking over");
    }
    if !ours {
        spec.holder_identity = Some(config.identity.clone());
        spec.acquire_time = Some(now());
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
    }
    spec.renew_time = Some(now());
    spec.lease_duration_seconds = Some(duration_seconds(config.lease_duration));
    // `lease` still carries the resourceVersion we read: a concurrent writer makes this 409.
    match api
        .replace(&config.name, &PostParams::default(), &lease)
        .await
    {
        Ok(l) => {
            *observed = l.metadata.resource_version.map(|rv| (rv, Instant::now()));
            Ok(Attempt::Held)
        }
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(Attempt::Other),
        Err(e) => Err(e),
    }
}

/// What one pass of a leader's loop asks for next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// Nothing more until the next change.
    Done,
    /// Run again soon: the view was behind our own writes, or an object changed under us.
    Requeue,
    /// A write failed: run again after a growing delay.
    Failed,
}

/// One of the leader's loops (allocation, conditions).
pub trait LeaderTask: Send {
    /// One pass over the current view; only called while leading.
    fn pass(&mut self) -> impl std::future::Future<Output = Pass> + Send;
    /// Leadership ended: forget what only the leader may know.
    fn lost(&mut self) {}
}

/// Runs `task` after every change (debounced) and whenever leadership is gained, while
/// this process leads, retrying as each pass asks. Returns when leadership can no longer
/// change (the elector is gone), or with an error when every watch has ended.
pub async fn lead<T: LeaderTask>(
    leadership: &Leadership,
    mut changes: Changes,
    debounce: Duration,
    task: &mut T,
) -> Result<(), WatchError> {
    let mut leader_changes = leadership.subscribe();
    leader_changes.mark_changed();
    let mut retry_at: Option<Instant> = None;
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
    loop {
        tokio::select! {
            r = changes.wait() => r?,
            changed = leader_changes.changed() => if changed.is_err() { return Ok(()) },
            _ = sleep_until(retry_at) => {}
        }
        retry_at = None;
        tokio::time::sleep(debounce).await;
        changes.settle();
        if !leadership.is_leader() {
            task.lost();
            continue;
        }
        match task.pass().await {
            Pass::Done => backoff.reset(),
            Pass::Requeue => {
                backoff.reset();
                retry_at = Some(Instant::now() + backoff.next_delay());
            }
            Pass::Failed => retry_at = Some(Instant::now() + backoff.failed()),
        }
    }
}
