//! LoadBalancer IP allocation: MetalLB's rules (metallb/metallb `internal/allocator` and
//! `controller/service.go`) as one pure function of the whole cluster, instead of a cache
//! whose result depends on the order events arrived in.
//!
//! Work happens in four passes over the Services that are ours, each sorted by key:
//! 1. Services whose current addresses (`status.loadBalancer.ingress`) are still valid keep
//!    them: inside one pool (avoidBuggyIPs honoured) that admits the Service, the pool and
//!    addresses it requests, its IP families, and shareable with the Services kept before it.
//!    `autoAssign: false` does not take an address away (MetalLB's `Assign` ignores it too).
//! 2. PreferDualStack Services that kept a single address try to add the missing family from
//!    the same pool (MetalLB's `AllocateFromPoolForAdditionalFamily`).
//! 3. Services requesting addresses, so an explicit request beats an automatic pick of the
//!    same address among new Services.
//! 4. Everything else: the requested pool, or the first auto-assign pool with room.
//!
//! So a Service that has an address never loses it to one added later, and feeding the
//! result back as `current_ips` gives the same result.
//!
//! Where we differ from MetalLB, on purpose:
//! - Candidate pools are ordered deterministically: pools with a `serviceAllocation` that admit
//!   the Service, those with a priority first (ascending; 0 means unset, as Go's zero value),
//!   then by name; then pools without `serviceAllocation`, by name. MetalLB sorts the first
//!   group with an unstable sort and walks the second in Go map order.
//!
//! As in MetalLB: a pool whose `serviceAllocation` has only a priority (or is empty) admits
//! every Service and is tried before pools without one; namespace selectors that match no
//! namespace admit no Service; a pool with a `serviceAllocation` is never a fallback for
//! Services it does not admit.
//!
//! Also on purpose:
//! - With `metallb.io/allow-shared-ip`, an address already used by a compatible Service in any
//!   candidate pool is preferred over a free one, so Services meant to share land together.
//!   MetalLB takes the lowest address that is free or shareable in the first pool with one.
//! - Addresses are returned sorted (IPv4 before IPv6, which is also MetalLB's dual-stack order).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use serde::Serialize;

mod addresses;
mod need;

use addresses::{
    capacity, family, in_ranges, lowest_free, other, range_family, sat64, sorted, usable,
};
pub use need::{AllocationError, Conflict, FamilyNeed};

use super::model::{
    any_matches, Assignment, IpFamily, IpRange, Labels, Pool, Service, ServiceKey, ServicePort,
};

/// The outcome for every Service that is ours: an assignment or the reason it has none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allocation {
    pub assigned: BTreeMap<ServiceKey, Assignment>,
    pub failed: BTreeMap<ServiceKey, AllocationError>,
    /// Services that keep addresses of a pool that exists but cannot be used now (invalid,
    /// or lost a conflict): nobody else gets those addresses, they are not announced, and
    /// they are back in `assigned` as soon as the pool is usable again.
    pub held: BTreeMap<ServiceKey, Assignment>,
}

/// Address counts of one pool, as the IPAddressPool status shows them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PoolUsage {
    pub assigned_v4: u64,
    pub assigned_v6: u64,
    /// Free addresses (avoidBuggyIPs honoured), saturating at `u64::MAX` for huge IPv6 pools.
    pub available_v4: u64,
    pub available_v6: u64,
}

/// The unusable pool (invalid, or lost a conflict) a Service's current addresses belong to:
/// the one it was allocated from, if that is unusable, else one whose entries that still
/// parse cover them all.
pub fn unusable_pool_of<'a>(
    svc: &Service,
    unusable: &'a BTreeMap<String, Vec<IpRange>>,
) -> Option<&'a str> {
    if let Some((name, _)) = svc
        .current_pool
        .as_ref()
        .and_then(|p| unusable.get_key_value(p))
    {
        return Some(name);
    }
    let inside = |ranges: &Vec<IpRange>, ip: &IpAddr| {
        ranges
            .iter()
            .any(|r| range_family(r) == Some(family(*ip)) && r.first <= *ip && *ip <= r.last)
    };
    unusable
        .iter()
        .find(|(_, ranges)| svc.current_ips.iter().all(|ip| inside(ranges, ip)))
        .map(|(name, _)| name.as_str())
}

/// Allocates addresses to every Service with `is_ours`; the others are ignored. Pools are
/// assumed not to overlap (validation refuses overlapping pools, as MetalLB does).
pub fn allocate(
    pools: &BTreeMap<String, Pool>,
    unusable: &BTreeMap<String, Vec<IpRange>>,
    services: &[Service],
    namespace_labels: &BTreeMap<String, Labels>,
) -> Allocation {
    let mut ours: Vec<&Service> = services.iter().filter(|s| s.is_ours).collect();
    ours.sort_by(|a, b| a.key.cmp(&b.key));
    // Keys are unique in a cluster; if not, the first given wins.
    ours.dedup_by(|a, b| a.key == b.key);

    let mut state = State::new(pools, namespace_labels);
    let mut out = Allocation::default();

    for svc in ours.iter().filter(|s| !s.current_ips.is_empty()) {
        if let Some(a) = state.keep(svc) {
            out.assigned.insert(svc.key.clone(), a);
        } else if let Some(a) = state.hold_unusable(svc, unusable) {
            out.held.insert(svc.key.clone(), a);
        }
    }
    // After every keep, so the added address cannot be one another Service still holds.
    for svc in &ours {
        if let Some(a) = out.assigned.get_mut(&svc.key) {
            state.complete_dual_stack(svc, a);
        }
    }
    let (requesting, rest): (Vec<&Service>, Vec<&Service>) = ours
        .iter()
        .filter(|s| !out.assigned.contains_key(&s.key) && !out.held.contains_key(&s.key))
        .partition(|s| !s.requested_ips.is_empty());
    for svc in requesting.into_iter().chain(rest) {
        match state.fresh(svc) {
            Ok(a) => {
                out.assigned.insert(svc.key.clone(), a);
            }
            Err(e) => {
                out.failed.insert(svc.key.clone(), e);
            }
        }
    }
    out
}

/// Assigned and available addresses per pool. Counts distinct addresses (shared ones once).
pub fn pool_usage(
    pools: &BTreeMap<String, Pool>,
    assigned: &BTreeMap<ServiceKey, Assignment>,
) -> BTreeMap<String, PoolUsage> {
    let mut used: BTreeMap<&str, BTreeSet<IpAddr>> = BTreeMap::new();
    for a in assigned.values() {
        if let Some(pool) = pools.get(&a.pool) {
            let set = used.entry(pool.name.as_str()).or_default();
            set.extend(a.ips.iter().filter(|ip| usable(pool, **ip)));
        }
    }
    pools
        .iter()
        .map(|(name, pool)| {
            let (cap_v4, cap_v6) = capacity(pool);
            let ips = used.get(name.as_str());
            let count = |fam| ips.map_or(0, |s| s.iter().filter(|ip| family(**ip) == fam).count());
            let (a4, a6) = (count(IpFamily::V4) as u128, count(IpFamily::V6) as u128);
            let usage = PoolUsage {
                assigned_v4: sat64(a4),
                assigned_v6: sat64(a6),
                available_v4: sat64(cap_v4.saturating_sub(a4)),
                available_v6: sat64(cap_v6.saturating_sub(a6)),
            };
            (name.clone(), usage)
        })
        .collect()
}

/// Who uses one address. Every user has the same sharing and backend key.
#[derive(Debug)]
struct Holder {
    sharing: String,
    backend: String,
    ports: BTreeMap<ServicePort, ServiceKey>,
    services: BTreeSet<ServiceKey>,
}

/// What a Service brings to an address it wants to use.
struct Claim<'s> {
    key: &'s ServiceKey,
    /// Empty: no sharing (MetalLB treats an empty annotation the same).
    sharing: &'s str,
    backend: String,
    ports: &'s BTreeSet<ServicePort>,
}

impl<'s> Claim<'s> {
    fn of(svc: &'s Service) -> Self {
        // MetalLB's BackendKey: the pod selector for ETP Local (labels.Set.String(), sorted),
        // nothing for Cluster, which can share regardless of backends.
        let backend = if svc.etp_local {
            let pairs: Vec<String> = svc
                .selector
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            pairs.join(",")
        } else {
            String::new()
        };
        Claim {
            key: &svc.key,
            sharing: svc.sharing_key.as_deref().unwrap_or(""),
            backend,
            ports: &svc.ports,
        }
    }
}

enum ChooseFail {
    /// No candidate has ranges of the needed families.
    NoFamily,
    /// Some do, but every such address is taken.
    Exhausted,
}

struct State<'a> {
    pools: &'a BTreeMap<String, Pool>,
    namespace_labels: &'a BTreeMap<String, Labels>,
    /// Pools with autoAssign, in the order automatic allocation tries them.
    auto_order: Vec<&'a Pool>,
    holders: BTreeMap<IpAddr, Holder>,
    /// Addresses by the sharing key of their users, to find shareable ones without a scan.
    by_sharing_key: BTreeMap<String, BTreeSet<IpAddr>>,
    /// Per (range, avoidBuggyIPs): every address below the cursor is held or skipped, `None`
    /// when the whole range is. Valid because addresses are only added during one run.
    cursors: HashMap<(IpRange, bool), Option<u128>>,
}

/// A candidate pool's answer in `choose`: its score (lower wins), the pool, the addresses.
type Pick<'a> = ((u8, Reverse<usize>, usize), &'a Pool, Vec<IpAddr>);

// Errors carry the names their messages need; each is built at most once per failed Service
// and stored by value in `Allocation::failed`, so boxing them here would buy nothing.
#[allow(clippy::result_large_err)]
impl<'a> State<'a> {
    fn new(
        pools: &'a BTreeMap<String, Pool>,
        namespace_labels: &'a BTreeMap<String, Labels>,
    ) -> Self {
        let mut auto_order: Vec<&Pool> = pools.values().filter(|p| p.auto_assign).collect();
        // Stable sort over name order: ties stay sorted by name.
        auto_order.sort_by_key(|p| match &p.allocation {
            Some(a) => match a.priority.filter(|p| *p != 0) {
                Some(prio) => (0u8, prio),
                None => (1, 0),
            },
            None => (2, 0),
        });
        State {
            pools,
            namespace_labels,
            auto_order,
            holders: BTreeMap::new(),
            by_sharing_key: BTreeMap::new(),
            cursors: HashMap::new(),
        }
    }

    /// MetalLB's `isPoolCompatibleWithService`, with namespace selectors evaluated here.
    fn admits(&self, pool: &Pool, svc: &Service) -> bool {
        let Some(alloc) = &pool.allocation else {
            return true;
        };
        let ns = &svc.key.namespace;
        let ns_ok = (alloc.namespaces.is_empty() && alloc.namespace_selectors.is_empty())
            || alloc.namespaces.contains(ns)
            // A namespace we know nothing of matches no selector, as in MetalLB, which
            // evaluates selectors against existing Namespace objects.
            || self
                .namespace_labels
                .get(ns)
                .is_some_and(|l| alloc.namespace_selectors.iter().any(|s| s.matches(l)));
        ns_ok && any_matches(&alloc.service_selectors, &svc.labels)
    }

    /// Pass 1: the Service's current addresses, if still valid.
    fn keep(&mut self, svc: &Service) -> Option<Assignment> {
        let need = FamilyNeed::of(svc);
        let claim = Claim::of(svc);
        let ips = sorted(&svc.current_ips);
        if !need.fits(&ips) {
            return None;
        }
        let pools = self.pools;
        let pool = pools
            .values()
            .find(|p| ips.iter().all(|ip| usable(p, *ip)))?;
        if !self.admits(pool, svc)
            || svc.requested_pool.as_ref().is_some_and(|p| *p != pool.name)
            || (!svc.requested_ips.is_empty() && sorted(&svc.requested_ips) != ips)
            || ips.iter().any(|ip| self.check(*ip, &claim).is_err())
        {
            return None;
        }
        for ip in &ips {
            self.hold(*ip, &claim);
        }
        Some(Assignment {
            pool: pool.name.clone(),
            ips,
        })
    }

    /// Pass 1, continued: current addresses inside a pool that exists but cannot be used
    /// now. They stay the Service's (and nobody else's) until the pool is fixed or deleted;
    /// an invalid or conflicting pool never moves an address.
    fn hold_unusable(
        &mut self,
        svc: &Service,
        unusable: &BTreeMap<String, Vec<IpRange>>,
    ) -> Option<Assignment> {
        let ips = sorted(&svc.current_ips);
        let pool = unusable_pool_of(svc, unusable)?;
        let claim = Claim::of(svc);
        if ips.iter().any(|ip| self.check(*ip, &claim).is_err()) {
            return None;
        }
        for ip in &ips {
            self.hold(*ip, &claim);
        }
        Some(Assignment {
            pool: pool.to_owned(),
            ips,
        })
    }

    /// Pass 2: a PreferDualStack Service with one address gets the other family if its pool
    /// has one to give. Not when the user asked for specific addresses.
    fn complete_dual_stack(&mut self, svc: &Service, a: &mut Assignment) {
        let FamilyNeed::Both {
            required: false, ..
        } = FamilyNeed::of(svc)
        else {
            return;
        };
        if a.ips.len() != 1 || !svc.requested_ips.is_empty() {
            return;
        }
        let Some(pool) = self.pools.get(&a.pool) else {
            return;
        };
        let claim = Claim::of(svc);
        if let Some((ip, _)) = self.offer(pool, other(family(a.ips[0])), &claim) {
            self.hold(ip, &claim);
            a.ips.push(ip);
            a.ips.sort();
        }
    }

    /// Passes 3 and 4: a new assignment.
    fn fresh(&mut self, svc: &Service) -> Result<Assignment, AllocationError> {
        let service = svc.key.clone();
        if !svc.requested_ips.is_empty() {
            return self.requested(svc);
        }
        let need = FamilyNeed::of(svc);
        let claim = Claim::of(svc);
        if let Some(name) = &svc.requested_pool {
            // The named pool only, even with autoAssign false (MetalLB's AllocateFromPool).
            let pools = self.pools;
            let Some(pool) = pools.get(name) else {
                return Err(AllocationError::UnknownPool {
                    service,
                    pool: name.clone(),
                });
            };
            if !self.admits(pool, svc) {
                return Err(AllocationError::PoolDoesNotAdmit {
                    service,
                    pool: name.clone(),
                });
            }
            return self
                .choose(&[pool], need, &claim)
                .map_err(|fail| match fail {
                    ChooseFail::NoFamily => AllocationError::PoolLacksFamily {
                        service,
                        pool: name.clone(),
                        need,
                    },
                    ChooseFail::Exhausted => AllocationError::Exhausted {
                        service,
                        pools: vec![name.clone()],
                    },
                });
        }
        if self.pools.is_empty() {
            return Err(AllocationError::NoPools { service });
        }
        let candidates: Vec<&'a Pool> = self
            .auto_order
            .iter()
            .copied()
            .filter(|p| self.admits(p, svc))
            .collect();
        if candidates.is_empty() {
            return Err(AllocationError::NoEligiblePool { service });
        }
        self.choose(&candidates, need, &claim)
            .map_err(|fail| match fail {
                ChooseFail::NoFamily => AllocationError::NoPoolForFamily {
                    service,
                    need,
                    pools: candidates.iter().map(|p| p.name.clone()).collect(),
                },
                ChooseFail::Exhausted => AllocationError::Exhausted {
                    service,
                    pools: candidates
                        .iter()
                        .filter(|p| need.served_by(p))
                        .map(|p| p.name.clone())
                        .collect(),
                },
            })
    }

    /// `spec.loadBalancerIP` / `metallb.io/loadBalancerIPs`: exactly these, or an error.
    fn requested(&mut self, svc: &Service) -> Result<Assignment, AllocationError> {
        let service = svc.key.clone();
        let need = FamilyNeed::of(svc);
        let ips = sorted(&svc.requested_ips);
        if !need.fits(&ips) {
            return Err(AllocationError::RequestedFamilyMismatch { service, ips, need });
        }
        if let Some(name) = &svc.requested_pool {
            if !self.pools.contains_key(name) {
                return Err(AllocationError::UnknownPool {
                    service,
                    pool: name.clone(),
                });
            }
        }
        let mut chosen: Option<(&'a Pool, IpAddr)> = None;
        for ip in &ips {
            let pool = self.pool_of_requested(svc, *ip)?;
            match chosen {
                None => chosen = Some((pool, *ip)),
                Some((first_pool, first)) if first_pool.name != pool.name => {
                    return Err(AllocationError::DifferentPools {
                        service,
                        first,
                        first_pool: first_pool.name.clone(),
                        second: *ip,
                        second_pool: pool.name.clone(),
                    });
                }
                Some(_) => {}
            }
        }
        let (pool, _) = chosen.expect("fits() guarantees at least one address");
        if !self.admits(pool, svc) {
            return Err(AllocationError::PoolDoesNotAdmit {
                service,
                pool: pool.name.clone(),
            });
        }
        let claim = Claim::of(svc);
        for ip in &ips {
            if let Err((other, reason)) = self.check(*ip, &claim) {
                return Err(AllocationError::Conflict {
                    service,
                    ip: *ip,
                    other,
                    reason,
                });
            }
        }
        for ip in &ips {
            self.hold(*ip, &claim);
        }
        Ok(Assignment {
            pool: pool.name.clone(),
            ips,
        })
    }

    /// The pool a requested address belongs to. MetalLB's `poolFor` does not count an
    /// avoidBuggyIPs pool's .0/.255 addresses as inside it, so requesting one fails too.
    fn pool_of_requested(&self, svc: &Service, ip: IpAddr) -> Result<&'a Pool, AllocationError> {
        let pools = self.pools;
        let containing: Vec<&'a Pool> = pools.values().filter(|p| in_ranges(p, ip)).collect();
        let service = || svc.key.clone();
        let Some(first) = containing.first() else {
            return Err(AllocationError::NotInAnyPool {
                service: service(),
                ip,
            });
        };
        let pool = match &svc.requested_pool {
            Some(name) => containing.iter().find(|p| p.name == *name).ok_or_else(|| {
                AllocationError::NotInRequestedPool {
                    service: service(),
                    ip,
                    requested: name.clone(),
                    actual: first.name.clone(),
                }
            })?,
            None => containing.iter().find(|p| usable(p, ip)).unwrap_or(first),
        };
        if !usable(pool, ip) {
            return Err(AllocationError::BuggyIp {
                service: service(),
                ip,
                pool: pool.name.clone(),
            });
        }
        Ok(pool)
    }

    /// The best pool among `candidates` (in order) and its addresses, which are then held.
    /// Preference: the full family need before a partial one (PreferDualStack), then more
    /// shared addresses (same sharing key), then candidate order.
    fn choose(
        &mut self,
        candidates: &[&'a Pool],
        need: FamilyNeed,
        claim: &Claim,
    ) -> Result<Assignment, ChooseFail> {
        let families = need.families();
        let mut served = false;
        let mut best: Option<Pick<'a>> = None;
        for (idx, pool) in candidates.iter().enumerate() {
            if !need.served_by(pool) {
                continue;
            }
            served = true;
            let offers: Vec<Option<(IpAddr, bool)>> = families
                .iter()
                .map(|f| self.offer(pool, *f, claim))
                .collect();
            let (rank, picked): (u8, Vec<(IpAddr, bool)>) = match (need, offers.as_slice()) {
                (FamilyNeed::One(_), [Some(a)]) => (0, vec![*a]),
                (FamilyNeed::Both { .. }, [Some(a), Some(b)]) => (0, vec![*a, *b]),
                (
                    FamilyNeed::Both {
                        required: false, ..
                    },
                    [Some(a), None],
                ) => (1, vec![*a]),
                (
                    FamilyNeed::Both {
                        required: false, ..
                    },
                    [None, Some(b)],
                ) => (2, vec![*b]),
                _ => continue,
            };
            let shared = picked.iter().filter(|(_, s)| *s).count();
            let score = (rank, Reverse(shared), idx);
            let ips = picked.iter().map(|(ip, _)| *ip).collect();
            if best.as_ref().is_none_or(|(b, _, _)| score < *b) {
                best = Some((score, pool, ips));
            }
            // Nothing later can beat a complete answer that needs no sharing preference.
            if rank == 0 && (claim.sharing.is_empty() || shared == picked.len()) {
                break;
            }
        }
        let Some((_, pool, mut ips)) = best else {
            return Err(if served {
                ChooseFail::Exhausted
            } else {
                ChooseFail::NoFamily
            });
        };
        ips.sort();
        for ip in &ips {
            self.hold(*ip, claim);
        }
        Ok(Assignment {
            pool: pool.name.clone(),
            ips,
        })
    }

    /// The address `pool` would give this claim in one family: the lowest one already used by
    /// compatible Services with the same sharing key, else the lowest free one (ranges in the
    /// order written). `bool`: the address is shared.
    fn offer(&mut self, pool: &Pool, fam: IpFamily, claim: &Claim) -> Option<(IpAddr, bool)> {
        if !claim.sharing.is_empty() {
            if let Some(addrs) = self.by_sharing_key.get(claim.sharing) {
                let found = addrs.iter().find(|ip| {
                    family(**ip) == fam && usable(pool, **ip) && self.check(**ip, claim).is_ok()
                });
                if let Some(ip) = found {
                    return Some((*ip, true));
                }
            }
        }
        let avoid = pool.avoid_buggy_ips;
        pool.ranges
            .iter()
            .filter(|r| range_family(r) == Some(fam))
            .find_map(|r| lowest_free(&self.holders, &mut self.cursors, r, avoid))
            .map(|ip| (ip, false))
    }

    /// MetalLB's `checkSharing` + `sharingOK`: may this claim use `ip` too?
    fn check(&self, ip: IpAddr, claim: &Claim) -> Result<(), (ServiceKey, Conflict)> {
        let Some(h) = self.holders.get(&ip) else {
            return Ok(());
        };
        let Some(first) = h.services.iter().find(|k| *k != claim.key) else {
            return Ok(());
        };
        let fail = |reason| Err((first.clone(), reason));
        if h.sharing.is_empty() || claim.sharing.is_empty() {
            return fail(Conflict::NotShared);
        }
        if h.sharing != claim.sharing {
            return fail(Conflict::KeyMismatch {
                ours: claim.sharing.to_string(),
                theirs: h.sharing.clone(),
            });
        }
        if h.backend != claim.backend {
            return fail(Conflict::BackendMismatch);
        }
        for port in claim.ports {
            if let Some(other) = h.ports.get(port) {
                return Err((other.clone(), Conflict::Port(port.clone())));
            }
        }
        Ok(())
    }

    fn hold(&mut self, ip: IpAddr, claim: &Claim) {
        let h = self.holders.entry(ip).or_insert_with(|| Holder {
            sharing: claim.sharing.to_string(),
            backend: claim.backend.clone(),
            ports: BTreeMap::new(),
            services: BTreeSet::new(),
        });
        for port in claim.ports {
            h.ports.insert(port.clone(), claim.key.clone());
        }
        h.services.insert(claim.key.clone());
        if !claim.sharing.is_empty() {
            self.by_sharing_key
                .entry(claim.sharing.to_string())
                .or_default()
                .insert(ip);
        }
    }
}

#[cfg(test)]
mod tests;
