//! Address arithmetic over pools' ranges: the lowest free address without enumerating a
//! /64, capacity, MetalLB's avoidBuggyIPs, families.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::core::model::{IpFamily, IpRange, Pool};

/// The lowest address of `range` nobody holds (and not .0/.255 if avoiding buggy IPs).
/// Walks from the range's cursor over held addresses only, so filling a /16 costs linear time
/// in total, and a /64 is never enumerated.
pub(super) fn lowest_free<H>(
    holders: &BTreeMap<IpAddr, H>,
    cursors: &mut HashMap<(IpRange, bool), Option<u128>>,
    range: &IpRange,
    avoid_buggy: bool,
) -> Option<IpAddr> {
    let fam = range_family(range)?;
    let (first, last) = (to_u128(range.first), to_u128(range.last));
    if first > last {
        return None;
    }
    let avoid = avoid_buggy && fam == IpFamily::V4;
    let cursor = cursors.entry((*range, avoid)).or_insert(Some(first));
    let mut c = (*cursor)?;
    let mut held = holders
        .range(from_u128(fam, c)..=range.last)
        .map(|(ip, _)| to_u128(*ip))
        .peekable();
    loop {
        let skip = (avoid && buggy_u128(c)) || {
            while held.next_if(|h| *h < c).is_some() {}
            held.next_if_eq(&c).is_some()
        };
        if !skip {
            *cursor = Some(c);
            return Some(from_u128(fam, c));
        }
        if c == last {
            *cursor = None;
            return None;
        }
        c += 1;
    }
}

/// (IPv4, IPv6) addresses a pool can hand out, saturating.
pub(super) fn capacity(pool: &Pool) -> (u128, u128) {
    let (mut v4, mut v6) = (0u128, 0u128);
    for r in &pool.ranges {
        let Some(fam) = range_family(r) else { continue };
        let (first, last) = (to_u128(r.first), to_u128(r.last));
        if first > last {
            continue;
        }
        let size = (last - first).saturating_add(1);
        match fam {
            IpFamily::V4 => {
                let buggy = if pool.avoid_buggy_ips {
                    buggy_count(first, last)
                } else {
                    0
                };
                v4 = v4.saturating_add(size - buggy);
            }
            IpFamily::V6 => v6 = v6.saturating_add(size),
        }
    }
    (v4, v6)
}

/// IPv4 addresses ending in .0 or .255 within `[first, last]`.
pub(super) fn buggy_count(first: u128, last: u128) -> u128 {
    // Addresses x <= n with x % 256 == r.
    let upto = |n: u128, r: u128| if n < r { 0 } else { (n - r) / 256 + 1 };
    let in_range = |r| upto(last, r) - first.checked_sub(1).map_or(0, |f| upto(f, r));
    in_range(0) + in_range(255)
}

pub(super) fn buggy_u128(v: u128) -> bool {
    matches!(v % 256, 0 | 255)
}

/// MetalLB's `ipConfusesBuggyFirmwares`.
pub(super) fn is_buggy(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V4(v4) if matches!(v4.octets()[3], 0 | 255))
}

pub(super) fn in_ranges(pool: &Pool, ip: IpAddr) -> bool {
    let fam = family(ip);
    let v = to_u128(ip);
    pool.ranges
        .iter()
        .any(|r| range_family(r) == Some(fam) && to_u128(r.first) <= v && v <= to_u128(r.last))
}

/// Inside the pool and allowed by its avoidBuggyIPs.
pub(super) fn usable(pool: &Pool, ip: IpAddr) -> bool {
    in_ranges(pool, ip) && !(pool.avoid_buggy_ips && is_buggy(ip))
}

pub(super) fn has_family(pool: &Pool, fam: IpFamily) -> bool {
    pool.ranges.iter().any(|r| range_family(r) == Some(fam))
}

pub(super) fn range_family(r: &IpRange) -> Option<IpFamily> {
    let fam = family(r.first);
    (family(r.last) == fam).then_some(fam)
}

pub(super) fn family(ip: IpAddr) -> IpFamily {
    match ip {
        IpAddr::V4(_) => IpFamily::V4,
        IpAddr::V6(_) => IpFamily::V6,
    }
}

pub(super) fn other(fam: IpFamily) -> IpFamily {
    match fam {
        IpFamily::V4 => IpFamily::V6,
        IpFamily::V6 => IpFamily::V4,
    }
}

pub(super) fn family_name(fam: IpFamily) -> &'static str {
    match fam {
        IpFamily::V4 => "IPv4",
        IpFamily::V6 => "IPv6",
    }
}

pub(super) fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

pub(super) fn from_u128(fam: IpFamily, v: u128) -> IpAddr {
    match fam {
        // In range by construction: v lies within an IPv4 range.
        IpFamily::V4 => IpAddr::V4(Ipv4Addr::from(v as u32)),
        IpFamily::V6 => IpAddr::V6(Ipv6Addr::from(v)),
    }
}

pub(super) fn sorted(ips: &[IpAddr]) -> Vec<IpAddr> {
    let mut v = ips.to_vec();
    v.sort();
    v.dedup();
    v
}

pub(super) fn sat64(v: u128) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}
