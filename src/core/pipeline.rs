//! The whole pure computation, from a snapshot of user objects to every node's routing
//! intent: validation, conversion, allocation (or adoption of addresses already in status)
//! and intent. `ferrule render`, the speaker and the golden tests all go through here.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::allocate::{self, Allocation};
use super::cluster;
use super::intent::{self, ClusterView, NodeIntent};
use super::model::{Assignment, Config, Endpoint, IpRange, Node, Service, ServiceKey};
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
    /// MetalLB's `--ignore-exclude-lb`: the exclude-from-external-load-balancers label does
    /// not stop a node announcing.
    pub ignore_exclude_lb: bool,
}

/// The result of one computation over a snapshot.
#[derive(Clone, Debug, Default)]
pub struct Computed {
    pub config: Config,
    /// Validation errors of CRs and Services, sorted.
    pub errors: Vec<ValidationError>,
    /// What objects are used despite, sorted.
    pub warnings: Vec<ValidationError>,
    /// IPAddressPools that exist but cannot be used, with the ranges Services may hold.
    pub unusable_pools: BTreeMap<String, Vec<IpRange>>,
    /// MetalLB's `bgpextras` text, appended to every node's FRR config.
    pub extras: Option<String>,
    /// Every LoadBalancer Service ferrule answers to, by key.
    pub services: BTreeMap<ServiceKey, Service>,
    pub allocation: Allocation,
    pub endpoints: BTreeMap<ServiceKey, Vec<Endpoint>>,
    pub nodes: BTreeMap<String, Node>,
    pub ignore_exclude_lb: bool,
}

impl Computed {
    pub fn view(&self) -> ClusterView<'_> {
        ClusterView {
            config: &self.config,
            services: &self.services,
            assignments: &self.allocation.assigned,
            held: &self.allocation.held,
            endpoints: &self.endpoints,
            nodes: &self.nodes,
            ignore_exclude_lb: self.ignore_exclude_lb,
        }
    }

    pub fn node_intent(&self, node: &str) -> NodeIntent {
        intent::node_intent(&self.view(), node)
    }

    pub fn all_node_intents(&self) -> BTreeMap<String, NodeIntent> {
        intent::all_node_intents(&self.view())
    }
}

/// Runs validation, allocation and conversion. A Service's current addresses are those in
/// its status; without any (file mode), those the ledger recorded for it
/// (`snapshot.recorded`), else those `previous` gave it earlier in this process.
pub fn compute(
    snapshot: &Snapshot,
    opts: &Options,
    addresses: Addresses,
    previous: &BTreeMap<ServiceKey, Assignment>,
) -> Computed {
    let (mut services, service_errors) = cluster::services(snapshot, opts.lb_class.as_deref());
    for svc in &mut services {
        if svc.current_ips.is_empty() {
            if let Some(a) = snapshot
                .recorded
                .get(&svc.key)
                .or_else(|| previous.get(&svc.key))
            {
                svc.current_ips = a.ips.clone();
                svc.current_pool = Some(a.pool.clone());
            }
        }
    }
    let in_use: BTreeSet<IpAddr> = services
        .iter()
        .filter(|s| s.is_ours)
        .flat_map(|s| s.current_ips.iter().copied())
        .collect();
    let validate::Validated {
        config,
        mut errors,
        mut warnings,
        unusable_pools,
    } = validate::validate(snapshot, &in_use);
    errors.extend(service_errors);
    errors.sort();
    errors.dedup();

    let allocation = match addresses {
        Addresses::Allocate => {
            let ns_labels = cluster::namespace_labels(&snapshot.namespaces);
            allocate::allocate(&config.pools, &unusable_pools, &services, &ns_labels)
        }
        Addresses::FromStatus => adopt(&config, &unusable_pools, &services),
    };
    let services: BTreeMap<ServiceKey, Service> = services
        .into_iter()
        .filter(|s| s.is_ours)
        .map(|s| (s.key.clone(), s))
        .collect();
    let nodes = cluster::nodes(&snapshot.nodes);
    warnings.extend(validate::selector_local_pref_warnings(
        &config,
        &services,
        &allocation.assigned,
        &nodes,
        &snapshot.namespace,
    ));
    warnings.sort();
    warnings.dedup();
    Computed {
        errors,
        warnings,
        extras: cluster::bgp_extras(snapshot),
        services,
        allocation,
        endpoints: cluster::endpoints(&snapshot.endpoint_slices),
        nodes,
        ignore_exclude_lb: opts.ignore_exclude_lb,
        config,
        unusable_pools,
    }
}

/// The speaker's view of addresses when a controller assigns them: whatever each Service's
/// status holds, attributed to the valid pool containing it. An address in no valid pool is
/// not announced (the controller will move or fail that Service).
fn adopt(
    config: &Config,
    unusable: &BTreeMap<String, Vec<IpRange>>,
    services: &[Service],
) -> Allocation {
    let within = |ranges: &[IpRange], ips: &[IpAddr]| {
        ips.iter().all(|ip| {
            ranges
                .iter()
                .any(|r| r.first <= *ip && *ip <= r.last && r.first.is_ipv4() == ip.is_ipv4())
        })
    };
    let mut out = Allocation::default();
    for svc in services
        .iter()
        .filter(|s| s.is_ours && !s.current_ips.is_empty())
    {
        let assignment = |pool: &str| Assignment {
            pool: pool.to_string(),
            ips: svc.current_ips.clone(),
        };
        if let Some(pool) = config
            .pools
            .values()
            .find(|p| within(&p.ranges, &svc.current_ips))
        {
            out.assigned.insert(svc.key.clone(), assignment(&pool.name));
        } else if let Some(name) = allocate::unusable_pool_of(svc, unusable) {
            // Its pool is unusable now: not announced, and the reason says so.
            out.held.insert(svc.key.clone(), assignment(name));
        }
    }
    out
}
