//! What a Service needs (its address families) and why it gets no address: the types
//! allocation answers with.

use std::fmt;
use std::net::IpAddr;

use super::addresses::{family, family_name, has_family, other};
use crate::core::model::{IpFamily, IpFamilyPolicy, Pool, Service, ServiceKey, ServicePort};

/// Which addresses a Service needs, from `spec.ipFamilies` and `spec.ipFamilyPolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FamilyNeed {
    One(IpFamily),
    /// `required`: RequireDualStack; otherwise PreferDualStack on a dual-stack Service.
    Both {
        primary: IpFamily,
        required: bool,
    },
}

impl FamilyNeed {
    /// MetalLB derives the family from the cluster IPs; `ipFamilies` lists the same families.
    /// PreferDualStack on a single-family Service is single stack.
    pub fn of(svc: &Service) -> Self {
        let primary = svc.ip_families.first().copied().unwrap_or(IpFamily::V4);
        let has_other = svc.ip_families.contains(&other(primary));
        match svc.ip_family_policy {
            IpFamilyPolicy::SingleStack => FamilyNeed::One(primary),
            IpFamilyPolicy::RequireDualStack => FamilyNeed::Both {
                primary,
                required: true,
            },
            IpFamilyPolicy::PreferDualStack if has_other => FamilyNeed::Both {
                primary,
                required: false,
            },
            IpFamilyPolicy::PreferDualStack => FamilyNeed::One(primary),
        }
    }

    /// The families to look for, most wanted first.
    pub(super) fn families(self) -> Vec<IpFamily> {
        match self {
            FamilyNeed::One(f) => vec![f],
            FamilyNeed::Both { primary, .. } => vec![primary, other(primary)],
        }
    }

    /// Whether a sorted, deduplicated address list has the right shape for this Service.
    pub(super) fn fits(self, ips: &[IpAddr]) -> bool {
        let distinct = match ips {
            [_] => true,
            [a, b] => family(*a) != family(*b),
            _ => false,
        };
        distinct
            && match self {
                FamilyNeed::One(f) => ips.len() == 1 && family(ips[0]) == f,
                FamilyNeed::Both { required, .. } => !required || ips.len() == 2,
            }
    }

    /// Whether a pool has address ranges this Service could use at all.
    pub(super) fn served_by(self, pool: &Pool) -> bool {
        match self {
            FamilyNeed::One(f) => has_family(pool, f),
            FamilyNeed::Both { required: true, .. } => {
                has_family(pool, IpFamily::V4) && has_family(pool, IpFamily::V6)
            }
            FamilyNeed::Both {
                required: false, ..
            } => has_family(pool, IpFamily::V4) || has_family(pool, IpFamily::V6),
        }
    }
}

impl fmt::Display for FamilyNeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FamilyNeed::One(fam) => write!(f, "an {} address", family_name(*fam)),
            FamilyNeed::Both { required: true, .. } => {
                f.write_str("an IPv4 and an IPv6 address (RequireDualStack)")
            }
            FamilyNeed::Both {
                required: false, ..
            } => f.write_str("an IPv4 and/or an IPv6 address (PreferDualStack)"),
        }
    }
}

/// Why an address in use by another Service cannot be shared with this one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Conflict {
    /// One of the two has no `metallb.io/allow-shared-ip`.
    NotShared,
    KeyMismatch {
        ours: String,
        theirs: String,
    },
    /// Backends differ: ETP Local Services share only with the same pod selector.
    BackendMismatch,
    Port(ServicePort),
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Conflict::NotShared => f.write_str(
                "sharing an address needs both Services to set the same metallb.io/allow-shared-ip",
            ),
            Conflict::KeyMismatch { ours, theirs } => write!(
                f,
                "their metallb.io/allow-shared-ip keys differ (\"{ours}\" here, \"{theirs}\" there)"
            ),
            Conflict::BackendMismatch => f.write_str(
                "their backends differ (externalTrafficPolicy: Local Services share only with \
                 Services of the same pod selector and policy)",
            ),
            Conflict::Port(p) => write!(f, "both use port {}/{}", p.protocol, p.port),
        }
    }
}

/// Why a Service got no address. Messages name the Service, the pool, the address, and the
/// other Service involved.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum AllocationError {
    #[error("no IPAddressPool exists, so Service {service} gets no address")]
    NoPools { service: ServiceKey },
    #[error(
        "no IPAddressPool with autoAssign admits Service {service} (see spec.autoAssign and \
         spec.serviceAllocation of the pools, or name a pool with metallb.io/address-pool)"
    )]
    NoEligiblePool { service: ServiceKey },
    #[error(
        "Service {service} needs {need}, but no IPAddressPool it may use has such addresses \
         (tried {})", pools.join(", ")
    )]
    NoPoolForFamily {
        service: ServiceKey,
        need: FamilyNeed,
        pools: Vec<String>,
    },
    #[error("Service {service} needs {need}, but IPAddressPool {pool} has no such addresses")]
    PoolLacksFamily {
        service: ServiceKey,
        pool: String,
        need: FamilyNeed,
    },
    #[error("no available addresses in pools {} for Service {service}", pools.join(", "))]
    Exhausted {
        service: ServiceKey,
        pools: Vec<String>,
    },
    #[error(
        "Service {service} names IPAddressPool \"{pool}\" in metallb.io/address-pool, which \
         does not exist"
    )]
    UnknownPool { service: ServiceKey, pool: String },
    #[error(
        "IPAddressPool {pool} does not admit Service {service} (spec.serviceAllocation \
         namespaces and selectors exclude it)"
    )]
    PoolDoesNotAdmit { service: ServiceKey, pool: String },
    #[error("Service {service} requests {ip}, which is not in any IPAddressPool")]
    NotInAnyPool { service: ServiceKey, ip: IpAddr },
    #[error(
        "Service {service} requests {ip}, which IPAddressPool {pool} excludes: spec.avoidBuggyIPs \
         refuses addresses ending in .0 or .255"
    )]
    BuggyIp {
        service: ServiceKey,
        ip: IpAddr,
        pool: String,
    },
    #[error(
        "Service {service} requests {ip}, which is in IPAddressPool {actual}, not in {requested} \
         named by metallb.io/address-pool"
    )]
    NotInRequestedPool {
        service: ServiceKey,
        ip: IpAddr,
        requested: String,
        actual: String,
    },
    #[error(
        "Service {service} requests {first} (IPAddressPool {first_pool}) and {second} \
         (IPAddressPool {second_pool}); its addresses must come from one pool"
    )]
    DifferentPools {
        service: ServiceKey,
        first: IpAddr,
        first_pool: String,
        second: IpAddr,
        second_pool: String,
    },
    #[error(
        "Service {service} requests {}, but needs {need} (spec.ipFamilies, spec.ipFamilyPolicy)",
        join_ips(ips)
    )]
    RequestedFamilyMismatch {
        service: ServiceKey,
        ips: Vec<IpAddr>,
        need: FamilyNeed,
    },
    #[error("Service {service} requests {ip}, which Service {other} already uses: {reason}")]
    Conflict {
        service: ServiceKey,
        ip: IpAddr,
        other: ServiceKey,
        reason: Conflict,
    },
}

pub(super) fn join_ips(ips: &[IpAddr]) -> String {
    let v: Vec<String> = ips.iter().map(ToString::to_string).collect();
    v.join(", ")
}
