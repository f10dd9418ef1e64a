//! IPAddressPool: address entries (CIDRs and ranges), serviceAllocation, and overlaps
//! between pools.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipnet::IpNet;

use super::names::is_dns1123_label;
use super::report::{Checked, Report};
use super::selector::selectors;
use crate::api;
use crate::core::model::{IpRange, Pool, PoolAllocation};

/// One pool entry, parsed: the range it spans, the CIDR when it was one, and a note when
/// it was written with host bits (`203.0.113.40/24`), which MetalLB masks off and so does
/// this.
pub struct PoolEntry {
    pub range: IpRange,
    pub cidr: Option<IpNet>,
    pub masked: Option<IpNet>,
}

/// Parses one pool entry: a CIDR or an inclusive range `a-b`.
pub fn parse_pool_address(entry: &str) -> Result<PoolEntry, String> {
    let text = entry.trim();
    if let Some((a, b)) = text.split_once('-') {
        let parse = |s: &str, which: &str| {
            s.trim().parse::<IpAddr>().map_err(|_| {
                format!(
                    "invalid range {entry:?}: {which} {:?} is not an IP address",
                    s.trim()
                )
            })
        };
        let (first, last) = (parse(a, "start")?, parse(b, "end")?);
        if first.is_ipv4() != last.is_ipv4() {
            return Err(format!(
                "invalid range {entry:?}: start and end are of different IP families"
            ));
        }
        if first > last {
            return Err(format!(
                "invalid range {entry:?}: start {first} is after end {last}"
            ));
        }
        return Ok(PoolEntry {
            range: IpRange { first, last },
            cidr: None,
            masked: None,
        });
    }
    if text.contains('/') {
        let written: IpNet = text
            .parse()
            .map_err(|_| format!("{entry:?} is not a valid CIDR or range"))?;
        let net = written.trunc();
        return Ok(PoolEntry {
            range: IpRange {
                first: net.network(),
                last: net.broadcast(),
            },
            cidr: Some(net),
            masked: (net != written).then_some(net),
        });
    }
    match text.parse::<IpAddr>() {
        Ok(ip) => Err(format!(
            "{entry:?} is a single address; write it as a CIDR ({ip}/{})",
            if ip.is_ipv4() { 32 } else { 128 }
        )),
        Err(_) => Err(format!(
            "{entry:?} is neither a CIDR (203.0.113.0/24) nor a range (203.0.113.10-203.0.113.20)"
        )),
    }
}

/// The ranges of every entry that parses, whatever else is wrong with the pool: the
/// addresses Services may still hold from it while it is unusable.
pub(super) fn parseable_ranges(p: &api::IPAddressPool) -> Vec<IpRange> {
    p.spec
        .addresses
        .iter()
        .filter_map(|e| parse_pool_address(e).ok())
        .map(|e| e.range)
        .collect()
}

fn overlaps(a: &IpRange, b: &IpRange) -> bool {
    a.first.is_ipv4() == b.first.is_ipv4() && a.first <= b.last && b.first <= a.last
}

/// One pool. An entry that does not parse, or overlaps an earlier entry, is left out with
/// a warning while others remain (MetalLB would refuse the whole configuration; ferrule
/// keeps the rest of the pool serving); with no usable entry left the pool is invalid.
pub(super) fn pool(p: &api::IPAddressPool) -> Checked<Pool> {
    let mut r = Report::new(&p.metadata, "IPAddressPool");
    let s = &p.spec;
    // (index in spec.addresses, range) of the entries that parsed.
    let mut parsed: Vec<(usize, IpRange)> = Vec::new();
    let mut cidrs = Vec::new();
    let mut skipped = Vec::new();
    for (i, entry) in s.addresses.iter().enumerate() {
        let field = format!("spec.addresses[{i}]");
        match parse_pool_address(entry) {
            Ok(e) => {
                if let Some((j, _)) = parsed.iter().find(|(_, o)| overlaps(o, &e.range)) {
                    skipped.push((
                        field,
                        format!(
                            "{entry} overlaps spec.addresses[{j}] ({}); this entry is left out",
                            s.addresses[*j]
                        ),
                    ));
                    continue;
                }
                if let Some(net) = e.masked {
                    r.warn(
                        field,
                        format!("{entry} has host bits set; used as {net}, as MetalLB does"),
                    );
                }
                parsed.push((i, e.range));
                cidrs.extend(e.cidr);
            }
            Err(e) => skipped.push((field, format!("{e}; this entry is left out"))),
        }
    }
    if parsed.is_empty() {
        if s.addresses.is_empty() {
            r.err("spec.addresses", "at least one address range is required");
        }
        for (field, message) in skipped {
            r.err(field, message.trim_end_matches("; this entry is left out"));
        }
    } else {
        for (field, message) in skipped {
            r.warn(field, message);
        }
    }
    let ranges = parsed.into_iter().map(|(_, r)| r).collect();
    let allocation = s.service_allocation.as_ref().map(|a| {
        if let Some(prio) = a.priority.filter(|p| *p < 0) {
            r.err(
                "spec.serviceAllocation.priority",
                format!("{prio} is negative"),
            );
        }
        let mut namespaces = BTreeSet::new();
        for (i, ns) in a.namespaces.iter().enumerate() {
            let field = format!("spec.serviceAllocation.namespaces[{i}]");
            if !is_dns1123_label(ns) {
                r.err(field, format!("{ns:?} is not a valid namespace name"));
            } else if !namespaces.insert(ns.clone()) {
                r.warn(
                    field,
                    format!("{ns:?} is listed twice; the repeat is ignored"),
                );
            }
        }
        PoolAllocation {
            priority: a.priority,
            namespaces,
            namespace_selectors: selectors(
                &mut r,
                "spec.serviceAllocation.namespaceSelectors",
                &a.namespace_selectors,
            ),
            service_selectors: selectors(
                &mut r,
                "spec.serviceAllocation.serviceSelectors",
                &a.service_selectors,
            ),
        }
    });
    let pool = Pool {
        name: p.metadata.name.clone().unwrap_or_default(),
        labels: p.metadata.labels.clone().unwrap_or_default(),
        ranges,
        cidrs,
        auto_assign: s.auto_assign.unwrap_or(true),
        avoid_buggy_ips: s.avoid_buggy_ips.unwrap_or(false),
        allocation,
    };
    r.finish(pool)
}

/// The first overlap of `pool` with an older, accepted pool, as (field, message, the older
/// pool's name).
pub(super) fn pool_overlap(
    pool: &Pool,
    spec: &api::IPAddressPoolSpec,
    accepted: &BTreeMap<String, Pool>,
) -> Option<(String, String, String)> {
    for range in &pool.ranges {
        for other in accepted.values() {
            if let Some(o) = other.ranges.iter().find(|o| overlaps(o, range)) {
                // The entry as the spec lists it (entries left out shift the ranges).
                let i = spec
                    .addresses
                    .iter()
                    .position(|e| parse_pool_address(e).is_ok_and(|e| e.range == *range))
                    .unwrap_or_default();
                return Some((
                    format!("spec.addresses[{i}]"),
                    format!(
                        "{} overlaps {} of the older IPAddressPool {}, which keeps its addresses",
                        show_range(pool, range),
                        show_range(other, o),
                        other.name
                    ),
                    other.name.clone(),
                ));
            }
        }
    }
    None
}

/// A pool entry as the user wrote it: as a CIDR if it was one, else as a range.
pub(super) fn show_range(pool: &Pool, r: &IpRange) -> String {
    pool.cidrs
        .iter()
        .find(|n| n.network() == r.first && n.broadcast() == r.last)
        .map_or_else(|| r.to_string(), ToString::to_string)
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u32::from(v4).into(),
        IpAddr::V6(v6) => v6.into(),
    }
}

/// The prefix length of the largest CIDR block inside the range: what an aggregated
/// announcement may be no shorter than (MetalLB's rule, which for a CIDR is its length).
pub fn min_prefix_len(r: &IpRange) -> u8 {
    let bits: u32 = if r.first.is_ipv4() { 32 } else { 128 };
    let (mut cur, last) = (to_u128(r.first), to_u128(r.last));
    let block_last = |start: u128, log: u32| {
        if log >= 128 {
            u128::MAX
        } else {
            start | ((1u128 << log) - 1)
        }
    };
    let mut best = bits;
    loop {
        let mut log = cur.trailing_zeros().min(bits);
        while log > 0 && block_last(cur, log) > last {
            log -= 1;
        }
        best = best.min(bits - log);
        let end = block_last(cur, log);
        if end >= last {
            return best as u8;
        }
        cur = end + 1;
    }
}

#[cfg(test)]
mod tests;
