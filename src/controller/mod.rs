//! `ferrule controller`: hands out LoadBalancer addresses from IPAddressPools, like
//! MetalLB's controller.
//!
//! Level-based: any change to a Service, an IPAddressPool or a Namespace triggers one
//! recompute of the whole allocation (coalesced over a short window), and only the
//! differences between that result and what the objects already say are written. Existing
//! addresses come back in as `current_ips`, so restarts and leader changes keep them.
//! Only the holder of the Lease writes.

pub mod conditions;
pub mod events;
pub mod leader;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, ObjectReference, Service};
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::Instrument;

use crate::api::{IPAddressPool, IPAddressPoolStatus};
use crate::core::allocate::{allocate, pool_usage};
use crate::core::cluster;
use crate::core::model::{Assignment, ServiceKey};
use crate::core::validate::{validate, Snapshot, ValidationError};
use events::ServiceEvent;
use leader::{Leadership, LeaseConfig};

/// The annotation naming the pool a Service's addresses came from (MetalLB's).
pub const POOL_ANNOTATION: &str = "metallb.io/ip-allocated-from-pool";

/// Options of `ferrule controller`.
#[derive(clap::Parser, Clone, Debug)]
#[command(name = "controller")]
pub struct ControllerOptions {
    /// Namespace of the IPAddressPools and of the leader-election Lease.
    #[arg(long, env = "FERRULE_NAMESPACE", default_value = "metallb-system")]
    pub namespace: String,
    /// Serve only Services with this spec.loadBalancerClass (unset: only Services without
    /// one, as MetalLB does).
    #[arg(long, env = "FERRULE_LB_CLASS")]
    pub lb_class: Option<String>,
    /// Holder identity in the Lease: the pod name (falls back to $HOSTNAME).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// Name of the leader-election Lease.
    #[arg(long, default_value = "ferrule-controller")]
    pub lease_name: String,
    /// How long others wait after the last renewal they saw before taking over.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub lease_duration: Duration,
    /// The leader steps down if it could not renew for this long (< lease duration).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub renew_deadline: Duration,
    /// How often the leader renews (and others retry).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub renew_interval: Duration,
    /// Changes arriving within this window are handled by one recompute.
    #[arg(long, default_value = "30ms", value_parser = parse_duration)]
    pub debounce: Duration,
}

impl Default for ControllerOptions {
    fn default() -> Self {
        <Self as clap::Parser>::parse_from(["controller"])
    }
}

impl ControllerOptions {
    fn check(&self) -> Result<(), ControllerError> {
        if !(self.renew_interval < self.renew_deadline && self.renew_deadline < self.lease_duration)
        {
            return Err(ControllerError::Options(format!(
                "need --renew-interval ({:?}) < --renew-deadline ({:?}) < --lease-duration ({:?})",
                self.renew_interval, self.renew_deadline, self.lease_duration
            )));
        }
        Ok(())
    }

    fn instance(&self) -> &str {
        self.identity.as_deref().unwrap_or(events::REPORTER)
    }
}

/// `250ms`, `15s`, `2m`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (e.g. 250ms, 15s, 2m)"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "" | "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("invalid duration unit in {s:?} (ms, s or m)")),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error("invalid options: {0}")]
    Options(String),
    #[error("no identity: set --identity or POD_NAME")]
    NoIdentity,
    #[error("listing {kind}: {source}")]
    List {
        kind: &'static str,
        source: Box<kube::Error>,
    },
    #[error("Service {service}: {field}: {source}")]
    ServiceWrite {
        service: ServiceKey,
        field: &'static str,
        source: Box<kube::Error>,
    },
    #[error("Event for Service {service}: {source}")]
    Event {
        service: ServiceKey,
        source: Box<kube::Error>,
    },
    #[error("IPAddressPool {namespace}/{name}: status: {source}")]
    PoolWrite {
        namespace: String,
        name: String,
        source: Box<kube::Error>,
    },
    #[error("not the leader any more")]
    NotLeader,
    #[error("the watch of {0} ended")]
    WatchEnded(&'static str),
}

/// The objects one reconcile works from.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    pub pools: Vec<IPAddressPool>,
    pub services: Vec<Service>,
    pub namespaces: Vec<Namespace>,
}

impl Inputs {
    /// Read everything straight from the API (tests, one-shot runs).
    pub async fn fetch(client: &Client, namespace: &str) -> Result<Inputs, ControllerError> {
        let lp = ListParams::default();
        let list_err = |kind| {
            move |source| ControllerError::List {
                kind,
                source: Box::new(source),
            }
        };
        Ok(Inputs {
            pools: Api::<IPAddressPool>::namespaced(client.clone(), namespace)
                .list(&lp)
                .await
                .map_err(list_err("IPAddressPool"))?
                .items,
            services: Api::<Service>::all(client.clone())
                .list(&lp)
                .await
                .map_err(list_err("Service"))?
                .items,
            namespaces: Api::<Namespace>::all(client.clone())
                .list(&lp)
                .await
                .map_err(list_err("Namespace"))?
                .items,
        })
    }

    fn from_stores(
        pools: &Store<IPAddressPool>,
        services: &Store<Service>,
        namespaces: &Store<Namespace>,
    ) -> Inputs {
        Inputs {
            pools: pools.state().iter().map(|p| (**p).clone()).collect(),
            services: services.state().iter().map(|s| (**s).clone()).collect(),
            namespaces: namespaces.state().iter().map(|n| (**n).clone()).collect(),
        }
    }
}

/// What one Service ended up with in the last reconcile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Assigned(Assignment),
    Failed(String),
    /// Not a LoadBalancer Service of ours (any address of ours was taken back).
    Released,
}

/// What the controller remembers between reconciles (lost on restart by design: everything
/// that matters is in the objects).
#[derive(Debug, Default)]
pub struct Memory {
    outcomes: BTreeMap<ServiceKey, Outcome>,
    /// resourceVersions our own writes made obsolete, per object: a store still showing one
    /// has not caught up with us yet, and deciding from it would undo our work.
    superseded: BTreeMap<(&'static str, String, String), BTreeSet<String>>,
}

/// What one reconcile did.
#[derive(Debug, Default)]
pub struct ReconcileReport {
    pub outcomes: BTreeMap<ServiceKey, Outcome>,
    pub writes: usize,
    pub events: usize,
    /// The view was behind our own writes, or a write met a newer object: run again soon.
    pub requeue: bool,
    /// Per-object failures; other objects were still handled.
    pub errors: Vec<ControllerError>,
    pub invalid: Vec<ValidationError>,
}

fn ingress_ips(svc: &Service) -> Vec<IpAddr> {
    svc.status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .map(|i| {
            i.iter()
                .filter_map(|x| x.ip.as_ref()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn key_of(svc: &Service) -> ServiceKey {
    ServiceKey::new(&svc.namespace().unwrap_or_default(), &svc.name_any())
}

fn reference(svc: &Service) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Service".into()),
        namespace: svc.namespace(),
        name: Some(svc.name_any()),
        uid: svc.uid(),
        resource_version: svc.resource_version(),
        ..Default::default()
    }
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409 || s.code == 404)
}

/// One recompute: allocate for every Service from the given view, write what differs, emit
/// events for changed outcomes, update pool status. Writes stop as soon as `leadership`
/// ends.
pub async fn reconcile_once(
    client: &Client,
    opts: &ControllerOptions,
    leadership: &Leadership,
    inputs: &Inputs,
    memory: &mut Memory,
) -> Result<ReconcileReport, ControllerError> {
    let mut report = ReconcileReport::default();

    // Never decide from a view older than our own last writes.
    let live: BTreeMap<(&'static str, String, String), String> = inputs
        .services
        .iter()
        .map(|s| {
            (
                ("Service", s.namespace().unwrap_or_default(), s.name_any()),
                s.resource_version().unwrap_or_default(),
            )
        })
        .chain(inputs.pools.iter().map(|p| {
            (
                (
                    "IPAddressPool",
                    p.namespace().unwrap_or_default(),
                    p.name_any(),
                ),
                p.resource_version().unwrap_or_default(),
            )
        }))
        .collect();
    memory
        .superseded
        .retain(|k, old| live.get(k).is_some_and(|rv| old.contains(rv)));
    if !memory.superseded.is_empty() {
        tracing::debug!(
            objects = memory.superseded.len(),
            "view behind our writes, waiting"
        );
        report.requeue = true;
        return Ok(report);
    }

    // Deleting Services give their addresses back at once.
    let services: Vec<Service> = inputs
        .services
        .iter()
        .filter(|s| s.metadata.deletion_timestamp.is_none())
        .cloned()
        .collect();
    let snapshot = Snapshot {
        namespace: opts.namespace.clone(),
        pools: inputs.pools.clone(),
        services: services.iter().cloned().map(std::sync::Arc::new).collect(),
        namespaces: inputs.namespaces.clone(),
        ..Default::default()
    };
    let validated = validate(&snapshot);
    let (models, service_errors) = cluster::services(&snapshot, opts.lb_class.as_deref());
    let ns_labels = cluster::namespace_labels(&inputs.namespaces);
    let allocation = allocate(&validated.config.pools, &models, &ns_labels);
    for e in validated.errors.iter().chain(&service_errors) {
        tracing::warn!(object = %e.object, field = %e.field, "{}", e.message);
    }
    let invalid: BTreeMap<ServiceKey, String> = service_errors
        .iter()
        .filter(|e| e.object.kind == "Service")
        .map(|e| {
            (
                ServiceKey::new(&e.object.namespace, &e.object.name),
                format!("{}: {}", e.field, e.message),
            )
        })
        .collect();
    report.invalid = validated
        .errors
        .iter()
        .chain(&service_errors)
        .cloned()
        .collect();

    // Walk the Kubernetes objects, not the models: a Service the conversion leaves out
    // (no longer a LoadBalancer, say) may still carry an address of ours to take back.
    let ours: BTreeMap<&ServiceKey, bool> = models.iter().map(|m| (&m.key, m.is_ours)).collect();
    let mut present = BTreeSet::new();
    for svc in &services {
        let key = key_of(svc);
        present.insert(key.clone());
        let outcome = if let Some(a) = allocation.assigned.get(&key) {
            Outcome::Assigned(a.clone())
        } else if let Some(e) = allocation.failed.get(&key) {
            Outcome::Failed(e.to_string())
        } else if let Some(reason) = invalid.get(&key) {
            Outcome::Failed(reason.clone())
        } else if ours.get(&key) == Some(&true) {
            tracing::debug!(service = %key, "neither assigned nor failed");
            continue;
        } else {
            Outcome::Released
        };
        let span = tracing::info_span!("service", service = %key);
        match converge_service(client, opts, leadership, svc, &outcome, memory)
            .instrument(span)
            .await
        {
            Ok((writes, events)) => {
                report.writes += writes;
                report.events += events;
                memory.outcomes.insert(key.clone(), outcome.clone());
            }
            Err(ControllerError::NotLeader) => return Err(ControllerError::NotLeader),
            // Our view was older than the object: the watch brings the new one.
            Err(ControllerError::ServiceWrite { source, .. }) if is_conflict(&source) => {
                tracing::debug!(service = %key, "changed under us, again soon");
                report.requeue = true;
            }
            Err(e) => {
                tracing::warn!(service = %key, error = %e, "could not update");
                report.requeue = true;
                report.errors.push(e);
            }
        }
        report.outcomes.insert(key.clone(), outcome);
    }
    memory.outcomes.retain(|k, _| present.contains(k));

    let usage = pool_usage(&validated.config.pools, &allocation.assigned);
    for pool in &inputs.pools {
        let Some(u) = usage.get(&pool.name_any()) else {
            continue;
        };
        // The counts are this loop's; conditions belong to the validation writer and are
        // neither compared nor sent here.
        let mut want = IPAddressPoolStatus {
            assigned_ipv4: u.assigned_v4,
            assigned_ipv6: u.assigned_v6,
            available_ipv4: u.available_v4,
            available_ipv6: u.available_v6,
            conditions: Vec::new(),
        };
        let current = pool.status.clone().map(|mut s| {
            s.conditions.clear();
            s
        });
        if current.as_ref() == Some(&want) {
            continue;
        }
        want.conditions.clear();
        if !leadership.is_leader() {
            return Err(ControllerError::NotLeader);
        }
        let ns = pool.namespace().unwrap_or_default();
        let rv = pool.resource_version().unwrap_or_default();
        let patch = json!({ "metadata": { "resourceVersion": rv }, "status": want });
        let api: Api<IPAddressPool> = Api::namespaced(client.clone(), &ns);
        match api
            .patch_status(
                &pool.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(_) => {
                report.writes += 1;
                memory
                    .superseded
                    .entry(("IPAddressPool", ns, pool.name_any()))
                    .or_default()
                    .insert(rv);
            }
            Err(source) => {
                report.requeue = true;
                if !is_conflict(&source) {
                    report.errors.push(ControllerError::PoolWrite {
                        namespace: ns,
                        name: pool.name_any(),
                        source: Box::new(source),
                    });
                }
            }
        }
    }
    Ok(report)
}

/// Bring one Service's status, annotation and events in line with its outcome. Returns
/// (writes, events).
async fn converge_service(
    client: &Client,
    opts: &ControllerOptions,
    leadership: &Leadership,
    svc: &Service,
    outcome: &Outcome,
    memory: &mut Memory,
) -> Result<(usize, usize), ControllerError> {
    let key = key_of(svc);
    let observed_ips = ingress_ips(svc);
    let observed_pool = svc.annotations().get(POOL_ANNOTATION).cloned();
    let (want_ips, want_pool): (Vec<IpAddr>, Option<String>) = match outcome {
        Outcome::Assigned(a) => (a.ips.clone(), Some(a.pool.clone())),
        Outcome::Failed(_) => (Vec::new(), None),
        // Only take back what we gave: a foreign controller's status is not ours to clear.
        Outcome::Released if observed_pool.is_none() => return Ok((0, 0)),
        Outcome::Released => (Vec::new(), None),
    };
    let status_differs =
        observed_ips.iter().collect::<BTreeSet<_>>() != want_ips.iter().collect::<BTreeSet<_>>();
    let annotation_differs = observed_pool != want_pool;
    let event = match outcome {
        Outcome::Assigned(a) if status_differs => Some(ServiceEvent::allocated(&a.ips)),
        Outcome::Failed(reason) if memory.outcomes.get(&key) != Some(outcome) => {
            Some(ServiceEvent::failed(&key.to_string(), reason))
        }
        _ => None,
    };
    let mut writes = 0;
    let mut rv = svc.resource_version().unwrap_or_default();
    let api: Api<Service> = Api::namespaced(client.clone(), &key.namespace);
    let mut stale = Vec::new();
    if status_differs {
        if !leadership.is_leader() {
            return Err(ControllerError::NotLeader);
        }
        let ingress: Vec<_> = want_ips
            .iter()
            .map(|ip| json!({ "ip": ip.to_string() }))
            .collect();
        let ingress = if ingress.is_empty() {
            serde_json::Value::Null
        } else {
            json!(ingress)
        };
        let patch = json!({
            "metadata": { "resourceVersion": rv },
            "status": { "loadBalancer": { "ingress": ingress } },
        });
        let out = api
            .patch_status(&key.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|source| ControllerError::ServiceWrite {
                service: key.clone(),
                field: "status.loadBalancer.ingress",
                source: Box::new(source),
            })?;
        writes += 1;
        stale.push(std::mem::replace(
            &mut rv,
            out.resource_version().unwrap_or_default(),
        ));
        tracing::info!(ips = ?want_ips, "status written");
    }
    if annotation_differs {
        if !leadership.is_leader() {
            return Err(ControllerError::NotLeader);
        }
        let patch = json!({
            "metadata": { "resourceVersion": rv, "annotations": { POOL_ANNOTATION: want_pool } },
        });
        let result = api
            .patch(&key.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await;
        // Whatever happens next, the store must not be trusted at the versions we replaced.
        if !stale.is_empty() {
            memory
                .superseded
                .entry(("Service", key.namespace.clone(), key.name.clone()))
                .or_default()
                .extend(stale.drain(..));
        }
        let out = result.map_err(|source| ControllerError::ServiceWrite {
            service: key.clone(),
            field: "metadata.annotations[metallb.io/ip-allocated-from-pool]",
            source: Box::new(source),
        })?;
        writes += 1;
        stale.push(std::mem::replace(
            &mut rv,
            out.resource_version().unwrap_or_default(),
        ));
    }
    if !stale.is_empty() {
        memory
            .superseded
            .entry(("Service", key.namespace.clone(), key.name.clone()))
            .or_default()
            .extend(stale);
    }
    let mut emitted = 0;
    if let Some(ev) = event {
        if !leadership.is_leader() {
            return Err(ControllerError::NotLeader);
        }
        events::publish(client, &reference(svc), opts.instance(), &ev)
            .await
            .map_err(|source| ControllerError::Event {
                service: key.clone(),
                source: Box::new(source),
            })?;
        emitted += 1;
        if ev.warning {
            tracing::warn!(reason = ev.reason, "{}", ev.note);
        }
    }
    Ok((writes, emitted))
}

/// Run the controller until an unrecoverable error. Dropping the future stops everything
/// (watches, lease renewals, writes).
pub async fn run(client: Client, opts: ControllerOptions) -> Result<(), ControllerError> {
    opts.check()?;
    let identity = opts
        .identity
        .clone()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .filter(|i| !i.is_empty())
        .ok_or(ControllerError::NoIdentity)?;
    let opts = ControllerOptions {
        identity: Some(identity.clone()),
        ..opts
    };
    let (leadership, elector) = leader::elect(
        client.clone(),
        LeaseConfig {
            name: opts.lease_name.clone(),
            namespace: opts.namespace.clone(),
            identity,
            lease_duration: opts.lease_duration,
            renew_deadline: opts.renew_deadline,
            renew_interval: opts.renew_interval,
        },
    );

    // Subscribed before the elector first runs, so the first election is never missed; the
    // first pass runs as soon as the stores are ready.
    let mut leader_changes = leadership.subscribe();
    leader_changes.mark_changed();

    // Any change anywhere wakes the loop; a full channel means a wake-up is already pending.
    let (wake, mut woken) = mpsc::channel::<()>(1);
    let (pools, pools_w) = reflector::store::<IPAddressPool>();
    let (services, services_w) = reflector::store::<Service>();
    let (namespaces, namespaces_w) = reflector::store::<Namespace>();
    let watch_pools = watch(
        reflector::reflector(
            pools_w,
            watcher(
                Api::namespaced(client.clone(), &opts.namespace),
                watcher::Config::default(),
            ),
        ),
        wake.clone(),
        "IPAddressPool",
    );
    let watch_services = watch(
        reflector::reflector(
            services_w,
            watcher(Api::all(client.clone()), watcher::Config::default()),
        ),
        wake.clone(),
        "Service",
    );
    let watch_namespaces = watch(
        reflector::reflector(
            namespaces_w,
            watcher(Api::all(client.clone()), watcher::Config::default()),
        ),
        wake.clone(),
        "Namespace",
    );

    let reconciler = async {
        for ready in [
            pools.wait_until_ready().await,
            services.wait_until_ready().await,
            namespaces.wait_until_ready().await,
        ] {
            if ready.is_err() {
                return Err(ControllerError::WatchEnded("a store"));
            }
        }
        let mut memory = Memory::default();
        let mut retry_at: Option<Instant> = None;
        let mut backoff = Duration::from_millis(200);
        loop {
            tokio::select! {
                Some(()) = woken.recv() => {}
                changed = leader_changes.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                }
                _ = sleep_until(retry_at) => {}
            }
            retry_at = None;
            tokio::time::sleep(opts.debounce).await;
            while woken.try_recv().is_ok() {}
            if !leadership.is_leader() {
                memory = Memory::default();
                continue;
            }
            let inputs = Inputs::from_stores(&pools, &services, &namespaces);
            match reconcile_once(&client, &opts, &leadership, &inputs, &mut memory).await {
                Ok(report) => {
                    tracing::debug!(
                        writes = report.writes,
                        events = report.events,
                        requeue = report.requeue,
                        "reconciled"
                    );
                    if report.errors.is_empty() {
                        backoff = Duration::from_millis(200);
                    }
                    if report.requeue {
                        retry_at = Some(Instant::now() + backoff);
                        if !report.errors.is_empty() {
                            backoff = (backoff * 2).min(Duration::from_secs(30));
                        }
                    }
                }
                Err(ControllerError::NotLeader) => {
                    tracing::info!("stopped writing: leadership ended");
                    memory = Memory::default();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reconcile failed");
                    retry_at = Some(Instant::now() + backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    };

    let conditions = conditions::run(
        client.clone(),
        opts.namespace.clone(),
        &leadership,
        opts.debounce,
    );

    tokio::select! {
        () = elector => Ok(()),
        r = conditions => r,
        r = watch_pools => r,
        r = watch_services => r,
        r = watch_namespaces => r,
        r = reconciler => r,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Drive one reflector stream, waking the reconcile loop on every event.
async fn watch<K, S>(
    stream: S,
    wake: mpsc::Sender<()>,
    kind: &'static str,
) -> Result<(), ControllerError>
where
    S: futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send,
{
    let mut stream = std::pin::pin!(stream.default_backoff());
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(_) => {
                let _ = wake.try_send(());
            }
            Err(e) => tracing::warn!(kind, error = %e, "watch failed, retrying"),
        }
    }
    Err(ControllerError::WatchEnded(kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let cases = [
            ("250ms", Some(Duration::from_millis(250))),
            ("15s", Some(Duration::from_secs(15))),
            ("15", Some(Duration::from_secs(15))),
            ("2m", Some(Duration::from_secs(120))),
            ("1h", None),
            ("s", None),
            ("", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_duration(input).ok(), want, "{input:?}");
        }
    }

    #[test]
    fn defaults_and_timing_rule() {
        let o = ControllerOptions::default();
        assert_eq!(o.namespace, "metallb-system");
        assert_eq!(o.lease_duration, Duration::from_secs(15));
        assert_eq!(o.renew_interval, Duration::from_secs(5));
        assert!(o.check().is_ok());
        let bad = ControllerOptions {
            renew_deadline: Duration::from_secs(20),
            ..o
        };
        assert!(bad.check().is_err());
    }
}
