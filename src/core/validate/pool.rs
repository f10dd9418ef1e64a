//! IPAddressPool: address entries (CIDRs and ranges), serviceAllocation, and overlaps
//! between pools.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipnet::IpNet;

use super::names::is_dns1123_label;
use super::report::Report;
use super::selector::selectors;
use crate::api;
use crate::core::model::{IpRange, Pool, PoolAllocation};
use crate::core::snapshot::ValidationError;

/// Parses one pool entry: a CIDR with no host bits, or an inclusive range `a-b`. Returns
/// the range it spans and, for a CIDR, the CIDR.
pub fn parse_pool_address(entry: &str) -> Result<(IpRange, Option<IpNet>), String> {
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
        return Ok((IpRange { first, last }, None));
    }
    if text.contains('/') {
        let net: IpNet = text
            .parse()
            .map_err(|_| format!("{entry:?} is not a valid CIDR or range"))?;
        if net.trunc() != net {
            return Err(format!(
                "{entry:?} has host bits set; did you mean {}?",
                net.trunc()
            ));
        }
        return Ok((
            IpRange {
                first: net.network(),
                last: net.broadcast(),
            },
            Some(net),
        ));
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

fn overlaps(a: &IpRange, b: &IpRange) -> bool {
    a.first.is_ipv4() == b.first.is_ipv4() && a.first <= b.last && b.first <= a.last
}

pub(super) fn pool(p: &api::IPAddressPool) -> Result<Pool, Vec<ValidationError>> {
    let mut r = Report::new(&p.metadata, "IPAddressPool");
    let s = &p.spec;
    if s.addresses.is_empty() {
        r.err("spec.addresses", "at least one address range is required");
    }
    // (index in spec.addresses, range) of the entries that parsed.
    let mut parsed: Vec<(usize, IpRange)> = Vec::new();
    let mut cidrs = Vec::new();
    for (i, entry) in s.addresses.iter().enumerate() {
        let field = format!("spec.addresses[{i}]");
        match parse_pool_address(entry) {
            Ok((range, cidr)) => {
                if let Some((j, _)) = parsed.iter().find(|(_, o)| overlaps(o, &range)) {
                    r.err(
                        field,
                        format!("{entry} overlaps spec.addresses[{j}] ({})", s.addresses[*j]),
                    );
                }
                parsed.push((i, range));
                cidrs.extend(cidr);
            }
            Err(e) => r.err(field, e),
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
                r.err(field, format!("{ns:?} is listed twice"));
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

/// The first overlap of `pool` with an already accepted pool, as (field, message).
pub(super) fn pool_overlap(
    pool: &Pool,
    accepted: &BTreeMap<String, Pool>,
) -> Option<(String, String)> {
    for (i, range) in pool.ranges.iter().enumerate() {
        for other in accepted.values() {
            if let Some(o) = other.ranges.iter().find(|o| overlaps(o, range)) {
                return Some((
                    format!("spec.addresses[{i}]"),
                    format!(
                        "{} overlaps {} of IPAddressPool {}",
                        show_range(pool, range),
                        show_range(other, o),
                        other.name
                    ),
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
