//! BGPAdvertisement: which pools, peers, nodes and Services it covers, with what
//! attributes; and the localPref rule between advertisements.

use std::collections::{BTreeMap, BTreeSet};

use super::community::Aliases;
use super::pool::{min_prefix_len, show_range};
use super::report::{duplicates, Checked, Known, Report};
use super::selector::{node_overlap, selectors, Overlap};
use crate::api;
use crate::core::model::{
    any_matches, Advertisement, Assignment, Community, Config, Node as ModelNode, ObjectRef, Peer,
    Pool, Service, ServiceKey,
};
use crate::core::snapshot::ValidationError;

pub(super) fn advertisement(
    a: &api::BGPAdvertisement,
    pools: &Known<Pool>,
    peers: &Known<Peer>,
    aliases: &Aliases,
) -> Checked<Advertisement> {
    let mut r = Report::new(&a.metadata, "BGPAdvertisement");
    let s = &a.spec;

    let mut length = |field: &str, v: Option<i32>, max: u8| -> u8 {
        let v = v.unwrap_or(max.into());
        match u8::try_from(v) {
            Ok(l) if l <= max => l,
            _ => {
                r.err(
                    format!("spec.{field}"),
                    format!("{v} is out of range 0-{max}"),
                );
                max
            }
        }
    };
    let agg4 = length("aggregationLength", s.aggregation_length, 32);
    let agg6 = length("aggregationLengthV6", s.aggregation_length_v6, 128);
    if !s.service_selectors.is_empty() {
        // An aggregated prefix carries other Services too, so it cannot be limited to some
        // Services (MetalLB's rule).
        if agg4 != 32 {
            r.err(
                "spec.aggregationLength",
                "aggregationLength cannot be combined with serviceSelectors",
            );
        }
        if agg6 != 128 {
            r.err(
                "spec.aggregationLengthV6",
                "aggregationLengthV6 cannot be combined with serviceSelectors",
            );
        }
    }

    // What the advertisement refers to by name (community aliases, pools, peers) may be
    // missing or invalid: that name is skipped with a warning, as MetalLB skips unknown pools
    // and peers, and the rest of the advertisement is used.
    let mut communities = BTreeSet::new();
    duplicates(&mut r, "spec.communities", &s.communities);
    for (i, c) in s.communities.iter().enumerate() {
        let field = format!("spec.communities[{i}]");
        if let Some((v, _)) = aliases.valid.get(c) {
            communities.insert(*v);
        } else if let Some(obj) = aliases.invalid.get(c) {
            r.warn(
                field,
                format!(
                    "community alias {c:?} of Community {obj} is invalid; announced without it"
                ),
            );
        } else {
            match c.parse::<Community>() {
                Ok(v) => {
                    communities.insert(v);
                }
                Err(e) if c.contains(':') => r.err(field, e.to_string()),
                Err(_) => r.warn(
                    field,
                    format!("{c:?} is neither a Community alias that exists nor a community value (AA:NN, large:A:B:C); announced without it"),
                ),
            }
        }
    }

    let mut pool_names = BTreeSet::new();
    duplicates(&mut r, "spec.ipAddressPools", &s.ip_address_pools);
    for (i, name) in s.ip_address_pools.iter().enumerate() {
        match pools.get(name) {
            Ok(_) => {
                pool_names.insert(name.clone());
            }
            Err(missing) => r.warn(
                format!("spec.ipAddressPools[{i}]"),
                format!("{missing}; skipped"),
            ),
        }
    }
    let pool_selectors = selectors(
        &mut r,
        "spec.ipAddressPoolSelectors",
        &s.ip_address_pool_selectors,
    );
    // Selectors only pick valid pools: one invalid pool must not take down an advertisement
    // that merely matches it by label.
    for pool in pools.valid.values() {
        if pool_selectors.iter().any(|sel| sel.matches(&pool.labels)) {
            pool_names.insert(pool.name.clone());
        }
    }
    if s.ip_address_pools.is_empty() && s.ip_address_pool_selectors.is_empty() {
        // MetalLB: neither names nor selectors means every pool. A list whose names all
        // vanished means none: never every pool.
        pool_names.extend(pools.valid.keys().cloned());
    }

    let peer_names = if s.peers.is_empty() {
        None
    } else {
        duplicates(&mut r, "spec.peers", &s.peers);
        let mut names = BTreeSet::new();
        for (i, name) in s.peers.iter().enumerate() {
            match peers.get(name) {
                Ok(_) => {
                    names.insert(name.clone());
                }
                Err(missing) => r.warn(
                    format!("spec.peers[{i}]"),
                    format!("{missing}; nothing is announced to it"),
                ),
            }
        }
        Some(names)
    };

    let node_selectors = selectors(&mut r, "spec.nodeSelectors", &s.node_selectors);
    let service_selectors = selectors(&mut r, "spec.serviceSelectors", &s.service_selectors);

    // Aggregating must not announce addresses outside the pool: the aggregation length may
    // not be shorter than the largest block of any entry of the same family. A pool this
    // advertisement cannot aggregate is left out of it, not the whole advertisement: a new
    // pool matching its selectors must not withdraw what it announces today.
    pool_names.retain(|name| {
        let Some(pool) = pools.valid.get(name) else {
            return false;
        };
        for range in &pool.ranges {
            let (field, agg) = if range.first.is_ipv4() {
                ("spec.aggregationLength", agg4)
            } else {
                ("spec.aggregationLengthV6", agg6)
            };
            let block = min_prefix_len(range);
            if agg < block {
                r.warn(
                    field,
                    format!(
                        "{agg} is shorter than /{block} of {} in IPAddressPool {name}: the aggregate would announce addresses outside the pool, so this advertisement does not announce that pool",
                        show_range(pool, range)
                    ),
                );
                return false;
            }
        }
        true
    });

    let adv = Advertisement {
        name: a.metadata.name.clone().unwrap_or_default(),
        aggregation_length_v4: agg4,
        aggregation_length_v6: agg6,
        local_pref: s.local_pref,
        communities,
        pools: pool_names,
        node_selectors,
        peers: peer_names,
        service_selectors,
    };
    r.finish(adv)
}

/// MetalLB's rule: two advertisements that send the same prefix to the same peer from the
/// same node may not ask for different LOCAL_PREFs (unset counts as 0, as in MetalLB). They
/// do not conflict when their peer lists are disjoint, their nodes are, or their
/// aggregation lengths differ for every family of the pool (both, for a dual-stack pool).
/// As in MetalLB, advertisements with serviceSelectors are exempt here: which Services they
/// carry is known per Service (see `selector_local_pref_warnings`). Returns (message, the
/// older advertisement).
pub(super) fn local_pref_conflict<'a>(
    adv: &Advertisement,
    accepted: impl Iterator<Item = &'a Advertisement>,
    pools: &BTreeMap<String, Pool>,
    nodes: &BTreeMap<String, ModelNode>,
) -> Option<(String, &'a Advertisement)> {
    if !adv.service_selectors.is_empty() {
        return None;
    }
    accepted
        .filter_map(|other| Some((conflict_on(adv, other, pools, nodes)?, other)))
        .next()
}

/// Why `adv` conflicts with `other`, if it does.
fn conflict_on(
    adv: &Advertisement,
    other: &Advertisement,
    pools: &BTreeMap<String, Pool>,
    nodes: &BTreeMap<String, ModelNode>,
) -> Option<String> {
    let (lp, olp) = (adv.local_pref.unwrap_or(0), other.local_pref.unwrap_or(0));
    if olp == lp || !other.service_selectors.is_empty() {
        return None;
    }
    for name in adv.pools.intersection(&other.pools) {
        if let Some(overlap) = same_routes(adv, other, name, pools, nodes) {
            return Some(format!(
                "localPref {lp} conflicts with localPref {olp} of the older BGPAdvertisement {} for IPAddressPool {name}: both announce the same prefixes to the same peers ({overlap})",
                other.name
            ));
        }
    }
    None
}

/// Whether `a` and `b` would send the same prefixes of `pool` to the same peers from the
/// same node: the nodes they share, if so.
fn same_routes(
    a: &Advertisement,
    b: &Advertisement,
    pool: &str,
    pools: &BTreeMap<String, Pool>,
    nodes: &BTreeMap<String, ModelNode>,
) -> Option<Overlap> {
    if let (Some(x), Some(y)) = (&a.peers, &b.peers) {
        if x.is_disjoint(y) {
            return None;
        }
    }
    let pool = pools.get(pool)?;
    let has_v4 = pool.ranges.iter().any(|r| r.first.is_ipv4());
    let has_v6 = pool.ranges.iter().any(|r| !r.first.is_ipv4());
    // Equal lengths in any family of the pool give equal prefixes there.
    let same_prefixes = (has_v4 && a.aggregation_length_v4 == b.aggregation_length_v4)
        || (has_v6 && a.aggregation_length_v6 == b.aggregation_length_v6);
    if !same_prefixes {
        return None;
    }
    node_overlap(&a.node_selectors, &b.node_selectors, nodes)
}

/// The localPref rule where serviceSelectors are involved, which only the Services decide:
/// two advertisements that both apply to one Service and send its prefixes to the same peers
/// with different localPrefs. MetalLB withdraws such a Service; ferrule announces it with the
/// higher localPref and warns, on each advertisement with serviceSelectors, once per pair
/// (naming one Service and how many there are).
pub fn selector_local_pref_warnings(
    config: &Config,
    services: &BTreeMap<ServiceKey, Service>,
    assignments: &BTreeMap<ServiceKey, Assignment>,
    nodes: &BTreeMap<String, ModelNode>,
    namespace: &str,
) -> Vec<ValidationError> {
    let selective = config
        .advertisements
        .values()
        .any(|a| !a.service_selectors.is_empty());
    if !selective {
        return Vec::new();
    }
    // (advertisement with serviceSelectors, the other) -> Services both apply to.
    let mut pairs: BTreeMap<(&str, &str), Vec<&ServiceKey>> = BTreeMap::new();
    for (key, a) in assignments {
        let Some(svc) = services.get(key) else {
            continue;
        };
        let applying: Vec<&Advertisement> = config
            .advertisements
            .values()
            .filter(|adv| adv.pools.contains(&a.pool))
            .filter(|adv| any_matches(&adv.service_selectors, &svc.labels))
            .collect();
        for (i, x) in applying.iter().enumerate() {
            for y in &applying[i + 1..] {
                if x.local_pref.unwrap_or(0) == y.local_pref.unwrap_or(0)
                    || same_routes(x, y, &a.pool, &config.pools, nodes).is_none()
                {
                    continue;
                }
                for (me, other) in [(x, y), (y, x)] {
                    if !me.service_selectors.is_empty() {
                        pairs.entry((&me.name, &other.name)).or_default().push(key);
                    }
                }
            }
        }
    }
    pairs
        .into_iter()
        .map(|((me, other), keys)| {
            let (lp, olp) = (
                config.advertisements[me].local_pref.unwrap_or(0),
                config.advertisements[other].local_pref.unwrap_or(0),
            );
            let more = match keys.len() {
                1 => String::new(),
                n => format!(" and {} more Services", n - 1),
            };
            ValidationError::new(
                ObjectRef::new("BGPAdvertisement", namespace, me),
                "spec.localPref",
                format!(
                    "localPref {lp} and localPref {olp} of BGPAdvertisement {other} both apply to Service {}{more} (same prefixes, same peers); ferrule announces localPref {}, where MetalLB would withdraw the Service",
                    keys[0],
                    lp.max(olp)
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests;
