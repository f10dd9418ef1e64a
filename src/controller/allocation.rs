//! Address allocation, as MetalLB's controller does it: level-based, any change to a
//! Service, an IPAddressPool or a Namespace triggers one recompute of the whole allocation
//! (through the same [`pipeline::compute`] the speakers run), and only the differences between
//! that result and what the objects already say are written. Existing addresses come back in
//! as `current_ips`, so restarts and leader changes keep them. Only the holder of the Lease
//! writes.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Namespace, ObjectReference, Service};
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use tracing::Instrument;

use super::error::ControllerError;
use super::leader::{LeaderTask, Leadership, Pass};
use super::options::ControllerOptions;
use crate::api::{IPAddressPool, IPAddressPoolStatus};
use crate::core::allocate::pool_usage;
use crate::core::model::{Assignment, ServiceKey};
use crate::core::pipeline::{self, Addresses};
use crate::core::snapshot::{Snapshot, ValidationError};
use crate::kube::bounded;
use crate::kube::events::{self, ServiceEvent};
use crate::kube::stores::Stores;

/// The annotation naming the pool a Service's addresses came from (MetalLB's).
pub const POOL_ANNOTATION: &str = crate::core::cluster::ANNOTATION_ALLOCATED_FROM;

/// Everything one reconcile reads, listed straight from the API (tests, one-shot runs):
/// the IPAddressPools in `namespace`, every Service and Namespace.
pub async fn fetch(client: &Client, namespace: &str) -> Result<Snapshot, ControllerError> {
    let lp = ListParams::default();
    let list_err = |kind| {
        move |source| ControllerError::List {
            kind,
            source: Box::new(source),
        }
    };
    Ok(Snapshot {
        namespace: namespace.to_string(),
        pools: bounded(Api::<IPAddressPool>::namespaced(client.clone(), namespace).list(&lp))
            .await
            .map_err(list_err("IPAddressPool"))?
            .items,
        services: bounded(Api::<Service>::all(client.clone()).list(&lp))
            .await
            .map_err(list_err("Service"))?
            .items
            .into_iter()
            .map(std::sync::Arc::new)
            .collect(),
        namespaces: bounded(Api::<Namespace>::all(client.clone()).list(&lp))
            .await
            .map_err(list_err("Namespace"))?
            .items,
        ..Snapshot::default()
    })
}

/// What one Service ended up with in the last reconcile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Assigned(Assignment),
    /// Keeps its addresses, from a pool that cannot be used now (why).
    Held(Assignment, String),
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
    view: &Snapshot,
    memory: &mut Memory,
) -> Result<ReconcileReport, ControllerError> {
    let mut report = ReconcileReport::default();

    // Never decide from a view older than our own last writes.
    let live: BTreeMap<(&'static str, String, String), String> = view
        .services
        .iter()
        .map(|s| {
            (
                ("Service", s.namespace().unwrap_or_default(), s.name_any()),
                s.resource_version().unwrap_or_default(),
            )
        })
        .chain(view.pools.iter().map(|p| {
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
    let mut snapshot = view.clone();
    snapshot
        .services
        .retain(|s| s.metadata.deletion_timestamp.is_none());
    let options = pipeline::Options {
        lb_class: opts.lb_class.clone(),
        ..pipeline::Options::default()
    };
    let computed = pipeline::compute(&snapshot, &options, Addresses::Allocate, &BTreeMap::new());
    // What allocation depends on; the other kinds' problems are the conditions' business.
    let relevant: Vec<&ValidationError> = computed
        .errors
        .iter()
        .filter(|e| matches!(e.object.kind.as_str(), "Service" | "IPAddressPool"))
        .collect();
    for e in &relevant {
        tracing::warn!(object = %e.object, field = %e.field, "{}", e.message);
    }
    let invalid: BTreeMap<ServiceKey, String> = relevant
        .iter()
        .filter(|e| e.object.kind == "Service")
        .map(|e| {
            (
                ServiceKey::new(&e.object.namespace, &e.object.name),
                format!("{}: {}", e.field, e.message),
            )
        })
        .collect();
    report.invalid = relevant.into_iter().cloned().collect();
    let allocation = &computed.allocation;

    // Walk the Kubernetes objects, not the models: a Service the conversion leaves out
    // (no longer a LoadBalancer, say) may still carry an address of ours to take back.
    let pools: BTreeSet<String> = snapshot.pools.iter().map(|p| p.name_any()).collect();
    let mut present = BTreeSet::new();
    for svc in snapshot.services.iter().map(|s| &**s) {
        let key = key_of(svc);
        present.insert(key.clone());
        let outcome = if let Some(a) = allocation.assigned.get(&key) {
            Outcome::Assigned(a.clone())
        } else if let Some(a) = allocation.held.get(&key) {
            let why = computed
                .errors
                .iter()
                .find(|e| e.object.kind == "IPAddressPool" && e.object.name == a.pool)
                .map_or_else(|| "see its Valid condition".to_string(), |e| e.to_string());
            Outcome::Held(a.clone(), why)
        } else if let Some(e) = allocation.failed.get(&key) {
            Outcome::Failed(e.to_string())
        } else if let Some(reason) = invalid.get(&key) {
            Outcome::Failed(reason.clone())
        } else if computed.services.contains_key(&key) {
            tracing::debug!(service = %key, "neither assigned nor failed");
            continue;
        } else {
            Outcome::Released
        };
        let span = tracing::info_span!("service", service = %key);
        match converge_service(client, opts, leadership, svc, &outcome, &pools, memory)
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

    let usage = pool_usage(&computed.config.pools, &allocation.assigned);
    for pool in &snapshot.pools {
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
        match leadership
            .bounded(api.patch_status(
                &pool.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            ))
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
    pools: &BTreeSet<String>,
    memory: &mut Memory,
) -> Result<(usize, usize), ControllerError> {
    let key = key_of(svc);
    let observed_ips = ingress_ips(svc);
    let observed_pool = svc.annotations().get(POOL_ANNOTATION).cloned();
    let (want_ips, want_pool): (Vec<IpAddr>, Option<String>) = match outcome {
        Outcome::Assigned(a) | Outcome::Held(a, _) => (a.ips.clone(), Some(a.pool.clone())),
        Outcome::Failed(_) => (Vec::new(), None),
        // Only take back what we gave: a foreign controller's status is not ours to clear.
        Outcome::Released if observed_pool.is_none() => return Ok((0, 0)),
        Outcome::Released => (Vec::new(), None),
    };
    let status_differs =
        observed_ips.iter().collect::<BTreeSet<_>>() != want_ips.iter().collect::<BTreeSet<_>>();
    let annotation_differs = observed_pool != want_pool;
    // Only a pool deleted on purpose takes an address away; say so.
    let deleted = observed_pool
        .as_ref()
        .filter(|p| status_differs && !observed_ips.is_empty() && !pools.contains(*p));
    let mut events: Vec<ServiceEvent> = deleted
        .map(|pool| ServiceEvent::pool_deleted(&observed_ips, pool))
        .into_iter()
        .collect();
    let event = match outcome {
        Outcome::Held(a, why) if memory.outcomes.get(&key) != Some(outcome) => {
            Some(ServiceEvent::kept(&a.ips, &a.pool, why))
        }
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
        let out = leadership
            .bounded(api.patch_status(&key.name, &PatchParams::default(), &Patch::Merge(&patch)))
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
        let result = leadership
            .bounded(api.patch(&key.name, &PatchParams::default(), &Patch::Merge(&patch)))
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
    events.extend(event);
    let mut emitted = 0;
    for ev in events {
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

/// The allocation loop's state, driven by [`super::leader::lead`].
pub(super) struct Allocator {
    client: Client,
    opts: ControllerOptions,
    leadership: Leadership,
    stores: Stores,
    memory: Memory,
}

impl Allocator {
    pub(super) fn new(
        client: Client,
        opts: ControllerOptions,
        leadership: Leadership,
        stores: Stores,
    ) -> Self {
        Allocator {
            client,
            opts,
            leadership,
            stores,
            memory: Memory::default(),
        }
    }
}

impl LeaderTask for Allocator {
    async fn pass(&mut self) -> Pass {
        let view = self.stores.snapshot(&self.opts.namespace).snapshot;
        match reconcile_once(
            &self.client,
            &self.opts,
            &self.leadership,
            &view,
            &mut self.memory,
        )
        .await
        {
            Ok(report) => {
                tracing::debug!(
                    writes = report.writes,
                    events = report.events,
                    requeue = report.requeue,
                    "reconciled"
                );
                if !report.errors.is_empty() {
                    Pass::Failed
                } else if report.requeue {
                    Pass::Requeue
                } else {
                    Pass::Done
                }
            }
            Err(ControllerError::NotLeader) => {
                tracing::info!("stopped writing: leadership ended");
                self.memory = Memory::default();
                Pass::Done
            }
            Err(e) => {
                tracing::warn!(error = %e, "reconcile failed");
                Pass::Failed
            }
        }
    }

    fn lost(&mut self) {
        self.memory = Memory::default();
    }
}
