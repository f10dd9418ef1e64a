// PLACEHOLDER: replaced by wt-allocate/wt-validate at merge.
//! Minimal temporary stand-ins for functions other branches own, with their agreed
//! signatures, so the controller compiles and its tests run before the merge. Delete this
//! file, `allocate.rs`, `cluster.rs` and the re-export line in `validate.rs` at merge.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use k8s_openapi::api::core::v1::Namespace;

use super::model::{
    Assignment, IpFamilyPolicy, IpRange, Labels, ObjectRef, Pool, Service, ServiceKey, ServicePort,
};
use super::validate::{Snapshot, ValidationError};

// ---- core::validate ----

pub struct Validated {
    pub config: super::model::Config,
    pub errors: Vec<ValidationError>,
}

/// Pools only: CIDRs and `a-b` ranges, autoAssign defaulting to true.
pub fn validate(snapshot: &Snapshot) -> Validated {
    let mut config = super::model::Config::default();
    let mut errors = Vec::new();
    'pools: for p in &snapshot.pools {
        let name = p.metadata.name.clone().unwrap_or_default();
        let mut ranges = Vec::new();
        let mut cidrs = Vec::new();
        for a in &p.spec.addresses {
            if let Ok(net) = a.parse::<IpNet>() {
                ranges.push(IpRange {
                    first: net.network(),
                    last: net.broadcast(),
                });
                cidrs.push(net);
            } else if let Some((f, l)) = a.split_once('-') {
                match (f.trim().parse::<IpAddr>(), l.trim().parse::<IpAddr>()) {
                    (Ok(first), Ok(last)) if first <= last => ranges.push(IpRange { first, last }),
                    _ => {
                        errors.push(ValidationError {
                            object: ObjectRef::new("IPAddressPool", &snapshot.namespace, &name),
                            field: "spec.addresses".into(),
                            message: format!("invalid range {a:?}"),
                        });
                        continue 'pools;
                    }
                }
            } else {
                errors.push(ValidationError {
                    object: ObjectRef::new("IPAddressPool", &snapshot.namespace, &name),
                    field: "spec.addresses".into(),
                    message: format!("invalid address {a:?}"),
                });
                continue 'pools;
            }
        }
        config.pools.insert(
            name.clone(),
            Pool {
                name,
                labels: p.metadata.labels.clone().unwrap_or_default(),
                ranges,
                cidrs,
                auto_assign: p.spec.auto_assign.unwrap_or(true),
                avoid_buggy_ips: p.spec.avoid_buggy_ips.unwrap_or(false),
                allocation: None,
            },
        );
    }
    Validated { config, errors }
}

// ---- core::cluster ----

pub fn services(
    snapshot: &Snapshot,
    lb_class: Option<&str>,
) -> (Vec<Service>, Vec<ValidationError>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for s in &snapshot.services {
        let ns = s.metadata.namespace.clone().unwrap_or_default();
        let name = s.metadata.name.clone().unwrap_or_default();
        let spec = s.spec.clone().unwrap_or_default();
        let ann = s.metadata.annotations.clone().unwrap_or_default();
        let is_ours = spec.type_.as_deref() == Some("LoadBalancer")
            && spec.load_balancer_class.as_deref() == lb_class;
        let mut requested_ips = Vec::new();
        let wanted = spec
            .load_balancer_ip
            .iter()
            .chain(ann.get("metallb.io/loadBalancerIPs"))
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty());
        for ip in wanted {
            match ip.parse::<IpAddr>() {
                Ok(ip) => requested_ips.push(ip),
                Err(_) => errors.push(ValidationError {
                    object: ObjectRef::new("Service", &ns, &name),
                    field: "metadata.annotations[metallb.io/loadBalancerIPs]".into(),
                    message: format!("invalid IP {ip:?}"),
                }),
            }
        }
        let current_ips = s
            .status
            .as_ref()
            .and_then(|st| st.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .map(|i| {
                i.iter()
                    .filter_map(|x| x.ip.as_ref()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        out.push(Service {
            key: ServiceKey::new(&ns, &name),
            labels: s.metadata.labels.clone().unwrap_or_default(),
            is_ours,
            etp_local: spec.external_traffic_policy.as_deref() == Some("Local"),
            requested_ips,
            requested_pool: ann.get("metallb.io/address-pool").cloned(),
            sharing_key: ann.get("metallb.io/allow-shared-ip").cloned(),
            ports: spec
                .ports
                .unwrap_or_default()
                .iter()
                .map(|p| ServicePort {
                    protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                    port: p.port,
                })
                .collect::<BTreeSet<_>>(),
            selector: spec.selector.unwrap_or_default(),
            ip_families: Vec::new(),
            ip_family_policy: IpFamilyPolicy::SingleStack,
            current_ips,
        });
    }
    (out, errors)
}

pub fn namespace_labels(namespaces: &[Namespace]) -> BTreeMap<String, Labels> {
    namespaces
        .iter()
        .map(|n| {
            (
                n.metadata.name.clone().unwrap_or_default(),
                n.metadata.labels.clone().unwrap_or_default(),
            )
        })
        .collect()
}

// ---- core::allocate ----

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllocationError(pub String);

impl fmt::Display for AllocationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Allocation {
    pub assigned: BTreeMap<ServiceKey, Assignment>,
    pub failed: BTreeMap<ServiceKey, AllocationError>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolUsage {
    pub assigned_v4: u64,
    pub assigned_v6: u64,
    pub available_v4: u64,
    pub available_v6: u64,
}

fn pool_of(pools: &BTreeMap<String, Pool>, ip: IpAddr) -> Option<&Pool> {
    pools
        .values()
        .find(|p| p.ranges.iter().any(|r| r.first <= ip && ip <= r.last))
}

fn next_ip(ip: IpAddr) -> Option<IpAddr> {
    match ip {
        IpAddr::V4(a) => u32::from(a).checked_add(1).map(|n| IpAddr::V4(n.into())),
        IpAddr::V6(a) => u128::from(a).checked_add(1).map(|n| IpAddr::V6(n.into())),
    }
}

/// Stability first (current addresses), then requested addresses, then the lowest free
/// address of the requested pool or the first auto-assign pool. Sharing: same key only.
pub fn allocate(
    pools: &BTreeMap<String, Pool>,
    services: &[Service],
    _namespace_labels: &BTreeMap<String, Labels>,
) -> Allocation {
    let mut out = Allocation::default();
    // ip -> sharing key of its holders (None: exclusive)
    let mut used: BTreeMap<IpAddr, Option<String>> = BTreeMap::new();
    let ours: Vec<&Service> = services.iter().filter(|s| s.is_ours).collect();
    let free =
        |used: &BTreeMap<IpAddr, Option<String>>, ip: IpAddr, key: &Option<String>| match used
            .get(&ip)
        {
            None => true,
            Some(k) => k.is_some() && k == key,
        };
    let mut pending = Vec::new();
    for s in &ours {
        let keep = !s.current_ips.is_empty()
            && (s.requested_ips.is_empty() || s.requested_ips == s.current_ips)
            && s.current_ips.iter().all(|ip| {
                pool_of(pools, *ip)
                    .is_some_and(|p| s.requested_pool.as_ref().is_none_or(|r| *r == p.name))
                    && free(&used, *ip, &s.sharing_key)
            });
        if keep {
            for ip in &s.current_ips {
                used.insert(*ip, s.sharing_key.clone());
            }
            let pool = pool_of(pools, s.current_ips[0])
                .expect("checked")
                .name
                .clone();
            out.assigned.insert(
                s.key.clone(),
                Assignment {
                    pool,
                    ips: s.current_ips.clone(),
                },
            );
        } else {
            pending.push(*s);
        }
    }
    for s in pending {
        let result = if !s.requested_ips.is_empty() {
            let mut pool = None;
            let mut err = None;
            for ip in &s.requested_ips {
                match pool_of(pools, *ip) {
                    None => err = Some(format!("{ip} is not allowed in config")),
                    Some(_) if !free(&used, *ip, &s.sharing_key) => {
                        err = Some(format!("{ip} is already in use"))
                    }
                    Some(p) => pool = Some(p.name.clone()),
                }
            }
            match (err, pool) {
                (Some(e), _) => Err(e),
                (None, Some(pool)) => Ok(Assignment {
                    pool,
                    ips: s.requested_ips.clone(),
                }),
                (None, None) => Err("no address requested".into()),
            }
        } else {
            let candidates: Vec<&Pool> = match &s.requested_pool {
                Some(name) => pools.get(name).into_iter().collect(),
                None => pools.values().filter(|p| p.auto_assign).collect(),
            };
            let mut found = None;
            'pools: for p in &candidates {
                for r in &p.ranges {
                    let mut ip = r.first;
                    loop {
                        if free(&used, ip, &s.sharing_key) {
                            found = Some(Assignment {
                                pool: p.name.clone(),
                                ips: vec![ip],
                            });
                            break 'pools;
                        }
                        match next_ip(ip) {
                            Some(n) if n <= r.last => ip = n,
                            _ => break,
                        }
                    }
                }
            }
            match (found, &s.requested_pool) {
                (Some(a), _) => Ok(a),
                (None, Some(p)) if !pools.contains_key(p) => Err(format!("unknown pool {p:?}")),
                (None, _) => Err("no available IPs".into()),
            }
        };
        match result {
            Ok(a) => {
                for ip in &a.ips {
                    used.insert(*ip, s.sharing_key.clone());
                }
                out.assigned.insert(s.key.clone(), a);
            }
            Err(e) => {
                out.failed.insert(s.key.clone(), AllocationError(e));
            }
        }
    }
    out
}

fn range_size(r: &IpRange) -> u64 {
    match (r.first, r.last) {
        (IpAddr::V4(a), IpAddr::V4(b)) => u64::from(u32::from(b) - u32::from(a)) + 1,
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            u64::try_from(u128::from(b) - u128::from(a) + 1).unwrap_or(u64::MAX)
        }
        _ => 0,
    }
}

pub fn pool_usage(
    pools: &BTreeMap<String, Pool>,
    assigned: &BTreeMap<ServiceKey, Assignment>,
) -> BTreeMap<String, PoolUsage> {
    pools
        .values()
        .map(|p| {
            let ips: BTreeSet<IpAddr> = assigned
                .values()
                .filter(|a| a.pool == p.name)
                .flat_map(|a| a.ips.iter().copied())
                .collect();
            let v4 = ips.iter().filter(|i| i.is_ipv4()).count() as u64;
            let v6 = ips.len() as u64 - v4;
            let (size_v4, size_v6) = p.ranges.iter().fold((0u64, 0u64), |(a, b), r| {
                if r.first.is_ipv4() {
                    (a + range_size(r), b)
                } else {
                    (a, b.saturating_add(range_size(r)))
                }
            });
            (
                p.name.clone(),
                PoolUsage {
                    assigned_v4: v4,
                    assigned_v6: v6,
                    available_v4: size_v4 - v4,
                    available_v6: size_v6.saturating_sub(v6),
                },
            )
        })
        .collect()
}
