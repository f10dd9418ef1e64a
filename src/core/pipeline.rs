//! The whole pure computation, from a snapshot of user objects to every node's routing
//! intent: validation, conversion, allocation (or adoption of addresses already in status)
//! and intent. `ferrule render`, the speaker and the golden tests all go through here.

use std::collections::BTreeMap;

use super::allocate::{self, Allocation};
use super::cluster;
use super::intent::{self, ClusterView, NodeIntent};
use super::model::{Assignment, Config, Endpoint, Node, Service, ServiceKey};
use super::snapshot::{Snapshot, ValidationError};
use super::validate;

/// Where Services' addresses come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Addresses {
    /// Allocate here (file mode, `ferrule render`, the controller). Addresses already in a
    /// Service's status, or in `previous`, are kept when still valid.
    Allocate,
    /// Only what Services' status already holds (the speaker beside a controller): the
    /// speaker announces what the controller assigned and never invents addresses.
    FromStatus,
}

#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The loadBalancerClass ferrule answers to; `None` means Services without a class.
    pub lb_class: Option<String>,
}

/// The result of one computation over a snapshot.
#[derive(Clone, Debug, Default)]
pub struct Computed {
    pub config: Config,
    /// Validation errors of CRs and Services, sorted.
    pub errors: Vec<ValidationError>,
    /// Every LoadBalancer Service ferrule answers to, by key.
    pub services: BTreeMap<ServiceKey, Service>,
    pub allocation: Allocation,
    pub endpoints: BTreeMap<ServiceKey, Vec<Endpoint>>,
    pub nodes: BTreeMap<String, Node>,
}

impl Computed {
    pub fn view(&self) -> ClusterView<'_> {
        ClusterView {
            config: &self.config,
            services: &self.services,
            assignments: &self.allocation.assigned,
            endpoints: &self.endpoints,
            nodes: &self.nodes,
        }
    }

    pub fn node_intent(&self, node: &str) -> NodeIntent {
        intent::node_intent(&self.view(), node)
    }

    pub fn all_node_intents(&self) -> BTreeMap<String, NodeIntent> {
        intent::all_node_intents(&self.view())
    }
}

/// Runs validation, allocation and conversion. `previous` are addresses handed out by an
/// earlier run in this process (file mode keeps them so a new Service never moves another).
pub fn compute(
    snapshot: &Snapshot,
    opts: &Options,
    addresses: Addresses,
    previous: &BTreeMap<ServiceKey, Assignment>,
) -> Computed {
    let validate::Validated { config, mut errors } = validate::validate(snapshot);
    let (mut services, service_errors) = cluster::services(snapshot, opts.lb_class.as_deref());
    errors.extend(service_errors);
    errors.sort();
    errors.dedup();

    for svc in &mut services {
        if svc.current_ips.is_empty() {
            if let Some(prev) = previous.get(&svc.key) {
                svc.current_ips = prev.ips.clone();
            }
        }
    }
    let allocation = match addresses {
        Addresses::Allocate => {
            let ns_labels = cluster::namespace_labels(&snapshot.namespaces);
            allocate::allocate(&config.pools, &services, &ns_labels)
        }
        Addresses::FromStatus => adopt(&config, &services),
    };
    Computed {
        errors,
        services: services
            .into_iter()
            .filter(|s| s.is_ours)
            .map(|s| (s.key.clone(), s))
            .collect(),
        allocation,
        endpoints: cluster::endpoints(&snapshot.endpoint_slices),
        nodes: cluster::nodes(&snapshot.nodes),
        config,
    }
}

/// The speaker's view of addresses when a controller assigns them: whatever each Service's
/// status holds, attributed to the valid pool containing it. An address in no valid pool is
/// not announced (the controller will move or fail that Service).
fn adopt(config: &Config, services: &[Service]) -> Allocation {
    let mut out = Allocation::default();
    for svc in services
        .iter()
        .filter(|s| s.is_ours && !s.current_ips.is_empty())
    {
        let pool = config.pools.values().find(|p| {
            svc.current_ips.iter().all(|ip| {
                p.ranges
                    .iter()
                    .any(|r| r.first <= *ip && *ip <= r.last && r.first.is_ipv4() == ip.is_ipv4())
            })
        });
        if let Some(pool) = pool {
            out.assigned.insert(
                svc.key.clone(),
                Assignment {
                    pool: pool.name.clone(),
                    ips: svc.current_ips.clone(),
                },
            );
        }
    }
    out
}
