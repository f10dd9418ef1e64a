//! Validation of a whole snapshot of user objects with MetalLB's rules (and more). Invalid
//! objects are left out and reported; everything valid still works.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::Resource;

use super::model::{
    any_matches, Advertisement, BfdProfile, Community, Config, IpRange, Node as ModelNode,
    ObjectRef, Password, Peer, PeerAddress, Pool, PoolAllocation, RemoteAs, Requirement, Selector,
    Timers,
};
use super::snapshot::{Snapshot, ValidationError};
use super::{cluster, duration};
use crate::api::{self, DynamicAsn};

/// The result of validating a snapshot: every valid object, converted, and one error per
/// problem found (sorted). An object with any error is left out of `config`; objects that
/// depend on a left-out object are themselves reported and left out.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Validated {
    pub config: Config,
    pub errors: Vec<ValidationError>,
}

/// Validates the `metallb.io` objects in `snapshot.namespace` (objects in other namespaces
/// are ignored, as MetalLB does: they may belong to another installation) and converts them
/// into the model.
///
/// Order of checks, so that cross-object rules are deterministic: BFD profiles, Community
/// aliases, pools, peers, advertisements; within a kind, objects in name order. When two
/// objects conflict, the later one by name is reported and left out.
pub fn validate(snapshot: &Snapshot) -> Validated {
    let ns = snapshot.namespace.as_str();
    let nodes = cluster::nodes(&snapshot.nodes);
    let mut errors = Vec::new();

    let bfd_objs = ours(&snapshot.bfd_profiles, ns);
    let mut bfd_profiles = BTreeMap::new();
    for p in &bfd_objs {
        if let Some(v) = collect(bfd_profile(p), &mut errors) {
            bfd_profiles.insert(v.name.clone(), v);
        }
    }
    let bfd = Known::new("BFDProfile", &bfd_objs, &bfd_profiles);

    let aliases = communities(&ours(&snapshot.communities, ns), &mut errors);

    let pool_objs = ours(&snapshot.pools, ns);
    let mut pools: BTreeMap<String, Pool> = BTreeMap::new();
    for p in &pool_objs {
        let Some(pool) = collect(pool(p), &mut errors) else {
            continue;
        };
        match pool_overlap(&pool, &pools) {
            Some((field, message)) => {
                errors.push(error(&p.metadata, "IPAddressPool", field, message))
            }
            None => {
                pools.insert(pool.name.clone(), pool);
            }
        }
    }
    let pools_known = Known::new("IPAddressPool", &pool_objs, &pools);

    let peer_objs = ours(&snapshot.peers, ns);
    let mut peers: BTreeMap<String, Peer> = BTreeMap::new();
    for p in &peer_objs {
        let Some(peer) = collect(peer(p, &snapshot.secrets, &bfd), &mut errors) else {
            continue;
        };
        match peer_conflict(&peer, &peers, &nodes) {
            Some((field, message)) => errors.push(error(&p.metadata, "BGPPeer", field, message)),
            None => {
                peers.insert(peer.name.clone(), peer);
            }
        }
    }
    let peers_known = Known::new("BGPPeer", &peer_objs, &peers);

    let adv_objs = ours(&snapshot.advertisements, ns);
    let mut advertisements: BTreeMap<String, Advertisement> = BTreeMap::new();
    for a in &adv_objs {
        let adv = advertisement(a, &pools_known, &peers_known, &aliases);
        let Some(adv) = collect(adv, &mut errors) else {
            continue;
        };
        match local_pref_conflict(&adv, &advertisements, &pools, &nodes) {
            Some(message) => errors.push(error(
                &a.metadata,
                "BGPAdvertisement",
                "spec.localPref",
                message,
            )),
            None => {
                advertisements.insert(adv.name.clone(), adv);
            }
        }
    }

    errors.sort();
    errors.dedup();
    Validated {
        config: Config {
            pools,
            peers,
            bfd_profiles,
            advertisements,
        },
        errors,
    }
}

// ---------------------------------------------------------------------------------------
// Bookkeeping

/// The objects of one kind that count: in our namespace, one per name (the last one wins,
/// as the manifest loader does), sorted by name.
fn ours<'a, K: Resource>(items: &'a [K], namespace: &str) -> Vec<&'a K> {
    let mut by_name: BTreeMap<String, &K> = BTreeMap::new();
    for item in items {
        if item.meta().namespace.as_deref() == Some(namespace) {
            by_name.insert(item.meta().name.clone().unwrap_or_default(), item);
        }
    }
    by_name.into_values().collect()
}

fn object_ref(meta: &ObjectMeta, kind: &str) -> ObjectRef {
    ObjectRef::new(
        kind,
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default(),
    )
}

fn error(
    meta: &ObjectMeta,
    kind: &str,
    field: impl Into<String>,
    message: impl Into<String>,
) -> ValidationError {
    ValidationError {
        object: object_ref(meta, kind),
        field: field.into(),
        message: message.into(),
    }
}

fn collect<T>(
    result: Result<T, Vec<ValidationError>>,
    errors: &mut Vec<ValidationError>,
) -> Option<T> {
    result.map_err(|mut e| errors.append(&mut e)).ok()
}

/// Errors of one object, gathered so that every problem is reported at once.
struct Report {
    object: ObjectRef,
    errors: Vec<ValidationError>,
}

impl Report {
    /// Starts a report and checks the object's name, which every kind needs (names end up
    /// in FRR configuration: profile names, route-map names, comments).
    fn new(meta: &ObjectMeta, kind: &str) -> Self {
        let mut r = Report {
            object: object_ref(meta, kind),
            errors: Vec::new(),
        };
        let name = meta.name.as_deref().unwrap_or_default();
        if !is_dns1123_subdomain(name) {
            r.err(
                "metadata.name",
                format!("{name:?} is not a valid name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters"),
            );
        }
        r
    }

    fn err(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ValidationError {
            object: self.object.clone(),
            field: field.into(),
            message: message.into(),
        });
    }

    fn finish<T>(self, value: T) -> Result<T, Vec<ValidationError>> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(self.errors)
        }
    }
}

/// Valid objects of one kind by name, plus the names of all objects of that kind, to tell
/// "unknown" from "invalid" when another object refers to one.
struct Known<'a, T> {
    kind: &'static str,
    valid: &'a BTreeMap<String, T>,
    all: BTreeSet<String>,
}

impl<'a, T> Known<'a, T> {
    fn new<K: Resource>(
        kind: &'static str,
        objects: &[&K],
        valid: &'a BTreeMap<String, T>,
    ) -> Self {
        Known {
            kind,
            valid,
            all: objects
                .iter()
                .filter_map(|o| o.meta().name.clone())
                .collect(),
        }
    }

    fn get(&self, name: &str) -> Result<&'a T, String> {
        match self.valid.get(name) {
            Some(v) => Ok(v),
            None if self.all.contains(name) => Err(format!(
                "{} {name} is invalid (see its own errors)",
                self.kind
            )),
            None => Err(format!("unknown {} {name}", self.kind)),
        }
    }
}

/// Reports every repeated entry of a list (MetalLB rejects duplicates too).
fn duplicates(r: &mut Report, field: &str, items: &[String]) {
    for (i, item) in items.iter().enumerate() {
        if items[..i].contains(item) {
            r.err(format!("{field}[{i}]"), format!("{item:?} is listed twice"));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Names

/// Kubernetes' DNS-1123 subdomain: what object names must be.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns1123_part)
}

/// Kubernetes' DNS-1123 label: what namespace names must be.
pub fn is_dns1123_label(s: &str) -> bool {
    s.len() <= 63 && is_dns1123_part(s)
}

fn is_dns1123_part(s: &str) -> bool {
    let b = s.as_bytes();
    let edge = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !b.is_empty() && edge(&b[0]) && edge(&b[b.len() - 1]) && b.iter().all(|c| edge(c) || *c == b'-')
}

/// A label key: optional DNS subdomain prefix and `/`, then a name of at most 63
/// characters.
fn is_qualified_name(s: &str) -> bool {
    let name = match s.split_once('/') {
        Some((prefix, name)) => {
            if !is_dns1123_subdomain(prefix) {
                return false;
            }
            name
        }
        None => s,
    };
    !name.is_empty() && is_label_value(name)
}

/// A label value: empty, or at most 63 of `[A-Za-z0-9._-]`, alphanumeric at both ends.
fn is_label_value(s: &str) -> bool {
    let b = s.as_bytes();
    b.is_empty()
        || (b.len() <= 63
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c)))
}

/// A Linux interface name as FRR and the kernel accept it (IFNAMSIZ - 1 = 15 bytes), and
/// safe to put into FRR configuration.
pub fn is_ifname(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 15
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(c))
}

// ---------------------------------------------------------------------------------------
// Label selectors

/// Compiles a Kubernetes LabelSelector. Errors are (field suffix, message) pairs, the field
/// relative to the selector.
pub fn compile_selector(sel: &LabelSelector) -> Result<Selector, Vec<(String, String)>> {
    let mut errors = Vec::new();
    let mut requirements = Vec::new();
    for (k, v) in sel.match_labels.iter().flatten() {
        if !is_qualified_name(k) {
            errors.push(("matchLabels".into(), format!("invalid label key {k:?}")));
        }
        if !is_label_value(v) {
            errors.push((
                "matchLabels".into(),
                format!("invalid label value {v:?} for key {k:?}"),
            ));
        }
        requirements.push(Requirement::In(k.clone(), BTreeSet::from([v.clone()])));
    }
    for (i, e) in sel.match_expressions.iter().flatten().enumerate() {
        let field = format!("matchExpressions[{i}]");
        if !is_qualified_name(&e.key) {
            errors.push((
                format!("{field}.key"),
                format!("invalid label key {:?}", e.key),
            ));
        }
        let values = e.values.clone().unwrap_or_default();
        for v in &values {
            if !is_label_value(v) {
                errors.push((
                    format!("{field}.values"),
                    format!("invalid label value {v:?}"),
                ));
            }
        }
        let set: BTreeSet<String> = values.iter().cloned().collect();
        if set.len() != values.len() {
            errors.push((format!("{field}.values"), "values are listed twice".into()));
        }
        let key = e.key.clone();
        let req = match e.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => {
                errors.push((
                    format!("{field}.values"),
                    format!("operator {} needs at least one value", e.operator),
                ));
                continue;
            }
            "Exists" | "DoesNotExist" if !values.is_empty() => {
                errors.push((
                    format!("{field}.values"),
                    format!("operator {} takes no values", e.operator),
                ));
                continue;
            }
            "In" => Requirement::In(key, set),
            "NotIn" => Requirement::NotIn(key, set),
            "Exists" => Requirement::Exists(key),
            "DoesNotExist" => Requirement::DoesNotExist(key),
            other => {
                errors.push((
                    format!("{field}.operator"),
                    format!("unknown operator {other:?} (In, NotIn, Exists or DoesNotExist)"),
                ));
                continue;
            }
        };
        if requirements.contains(&req) {
            errors.push((field, "the same expression is listed twice".into()));
        }
        requirements.push(req);
    }
    if errors.is_empty() {
        Ok(Selector { requirements })
    } else {
        Err(errors)
    }
}

/// Compiles a list of selectors at `field` (e.g. `spec.nodeSelectors`), reporting every
/// invalid or repeated selector.
fn selectors(r: &mut Report, field: &str, sels: &[LabelSelector]) -> Vec<Selector> {
    let mut out: Vec<Selector> = Vec::new();
    for (i, sel) in sels.iter().enumerate() {
        match compile_selector(sel) {
            Ok(s) => {
                if out.contains(&s) {
                    r.err(format!("{field}[{i}]"), "the same selector is listed twice");
                }
                out.push(s);
            }
            Err(errs) => {
                for (sub, message) in errs {
                    r.err(format!("{field}[{i}].{sub}"), message);
                }
            }
        }
    }
    out
}

/// Where two selector lists can select the same node.
enum Overlap {
    /// This node matches both.
    Node(String),
    /// No current node matches both, but the lists are identical (for example both empty,
    /// meaning every node), so any node that matches one matches the other.
    Same,
}

impl fmt::Display for Overlap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Overlap::Node(n) => write!(f, "node {n} is selected by both"),
            Overlap::Same => f.write_str("both have the same nodeSelectors"),
        }
    }
}

fn node_overlap(
    a: &[Selector],
    b: &[Selector],
    nodes: &BTreeMap<String, ModelNode>,
) -> Option<Overlap> {
    nodes
        .values()
        .find(|n| any_matches(a, &n.labels) && any_matches(b, &n.labels))
        .map(|n| Overlap::Node(n.name.clone()))
        .or_else(|| (a == b).then_some(Overlap::Same))
}

// ---------------------------------------------------------------------------------------
// BFDProfile

fn bfd_profile(p: &api::BFDProfile) -> Result<BfdProfile, Vec<ValidationError>> {
    let mut r = Report::new(&p.metadata, "BFDProfile");
    let s = &p.spec;
    let mut range = |field: &str, v: Option<u32>, min: u32, max: u32| {
        if let Some(v) = v {
            if !(min..=max).contains(&v) {
                r.err(
                    format!("spec.{field}"),
                    format!("{v} is out of range {min}-{max}"),
                );
            }
        }
        v
    };
    let profile = BfdProfile {
        name: p.metadata.name.clone().unwrap_or_default(),
        receive_interval: range("receiveInterval", s.receive_interval, 10, 60000),
        transmit_interval: range("transmitInterval", s.transmit_interval, 10, 60000),
        detect_multiplier: range("detectMultiplier", s.detect_multiplier, 2, 255),
        echo_interval: range("echoInterval", s.echo_interval, 10, 60000),
        echo_mode: s.echo_mode.unwrap_or(false),
        passive_mode: s.passive_mode.unwrap_or(false),
        minimum_ttl: range("minimumTtl", s.minimum_ttl, 1, 254),
    };
    r.finish(profile)
}

// ---------------------------------------------------------------------------------------
// Community

/// Community aliases from valid Community objects, and which object defined aliases that
/// were left out (for better messages).
#[derive(Default)]
struct Aliases {
    valid: BTreeMap<String, (Community, String)>,
    invalid: BTreeMap<String, String>,
}

fn communities(objects: &[&api::Community], errors: &mut Vec<ValidationError>) -> Aliases {
    let mut aliases = Aliases::default();
    for c in objects {
        let mut r = Report::new(&c.metadata, "Community");
        let name = c.metadata.name.clone().unwrap_or_default();
        let mut mine: BTreeMap<String, Community> = BTreeMap::new();
        for (i, a) in c.spec.communities.iter().enumerate() {
            let field = format!("spec.communities[{i}]");
            if a.name.is_empty() {
                r.err(format!("{field}.name"), "alias name must not be empty");
            } else if a.name.parse::<Community>().is_ok() {
                // Advertisements look aliases up before parsing literals; an alias that
                // reads as a community value would silently change what that value means.
                r.err(
                    format!("{field}.name"),
                    format!(
                        "alias {:?} reads as a community value; pick a name that does not",
                        a.name
                    ),
                );
            } else if a
                .name
                .chars()
                .any(|ch| ch.is_whitespace() || ch.is_control())
            {
                r.err(
                    format!("{field}.name"),
                    format!("alias {:?} contains whitespace", a.name),
                );
            } else if mine.contains_key(&a.name) {
                r.err(
                    format!("{field}.name"),
                    format!("alias {:?} is defined twice", a.name),
                );
            } else if let Some((_, other)) = aliases.valid.get(&a.name) {
                r.err(
                    format!("{field}.name"),
                    format!(
                        "alias {:?} is already defined by Community {}/{other}",
                        a.name,
                        c.metadata.namespace.as_deref().unwrap_or_default()
                    ),
                );
            }
            match a.value.parse::<Community>() {
                Ok(v) => {
                    mine.insert(a.name.clone(), v);
                }
                Err(e) => r.err(format!("{field}.value"), e.to_string()),
            }
        }
        let names: Vec<String> = c.spec.communities.iter().map(|a| a.name.clone()).collect();
        match r.finish(mine) {
            Ok(mine) => {
                for (alias, v) in mine {
                    aliases.valid.insert(alias, (v, name.clone()));
                }
            }
            Err(mut e) => {
                errors.append(&mut e);
                for alias in names {
                    aliases.invalid.entry(alias).or_insert_with(|| name.clone());
                }
            }
        }
    }
    aliases
}

// ---------------------------------------------------------------------------------------
// IPAddressPool

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

fn pool(p: &api::IPAddressPool) -> Result<Pool, Vec<ValidationError>> {
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
fn pool_overlap(pool: &Pool, accepted: &BTreeMap<String, Pool>) -> Option<(String, String)> {
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
fn show_range(pool: &Pool, r: &IpRange) -> String {
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

// ---------------------------------------------------------------------------------------
// BGPPeer

const MAX_TIMER: u64 = 65535;

/// A timer FRR takes in whole seconds. Fractions are rejected rather than rounded: FRR would
/// silently use another value than the one written, and the peer negotiates on it.
fn timer_secs(r: &mut Report, field: &str, text: &str) -> Option<u32> {
    let d = match duration::parse(text) {
        Ok(d) => d,
        Err(e) => {
            r.err(field, e.to_string());
            return None;
        }
    };
    let Some(secs) = duration::whole_seconds(d) else {
        r.err(
            field,
            format!("{text} is not a whole number of seconds; FRR takes whole seconds"),
        );
        return None;
    };
    if secs > MAX_TIMER {
        r.err(
            field,
            format!("{text} is longer than {MAX_TIMER}s, FRR's limit"),
        );
        return None;
    }
    Some(secs as u32)
}

/// MetalLB's timer rules: hold 0 or >= 3 s, keepalive <= hold, one set derives the other
/// (keepalive = hold / 3 rounded down, hold = 3 x keepalive), none set leaves FRR's
/// defaults.
fn timers(r: &mut Report, hold: Option<&str>, keepalive: Option<&str>) -> Option<Timers> {
    let h = hold.map(|t| timer_secs(r, "spec.holdTime", t));
    let k = keepalive.map(|t| timer_secs(r, "spec.keepaliveTime", t));
    let (hold, keepalive) = match (h, k) {
        (None, None) => return None,
        (Some(None), _) | (_, Some(None)) => return None,
        (Some(Some(h)), Some(Some(k))) => (h, k),
        (Some(Some(h)), None) => (h, h / 3),
        (None, Some(Some(k))) => {
            let h = u64::from(k) * 3;
            if h > MAX_TIMER {
                r.err(
                    "spec.keepaliveTime",
                    format!("{k}s implies a holdTime of {h}s (3 x keepalive), above FRR's limit of {MAX_TIMER}s; set holdTime too"),
                );
                return None;
            }
            (h as u32, k)
        }
    };
    if hold != 0 && hold < 3 {
        // Checked first: a keepalive derived from a bad hold time is not worth a second error.
        r.err(
            "spec.holdTime",
            format!("{hold}s is invalid: holdTime must be 0 or at least 3s"),
        );
        return None;
    }
    if keepalive > hold {
        r.err(
            "spec.keepaliveTime",
            format!("keepaliveTime {keepalive}s exceeds holdTime {hold}s"),
        );
        return None;
    }
    if keepalive == 0 && hold != 0 {
        r.err(
            "spec.keepaliveTime",
            format!("keepaliveTime 0 sends no keepalives, so a holdTime of {hold}s would expire; use holdTime 0 to disable both"),
        );
        return None;
    }
    Some(Timers { keepalive, hold })
}

/// Checks a BGP password without ever putting it in a message. FRR reads
/// `neighbor X password LINE` to the end of the line, so a newline would end the command
/// and start another one (config injection); other control characters and leading or
/// trailing whitespace are rejected or silently trimmed by vtysh, which would leave a key
/// that differs from the router's without any error.
fn password_problem(value: &str) -> Option<&'static str> {
    if value.is_empty() {
        Some("is empty")
    } else if value.chars().any(char::is_control) {
        Some("contains a newline or another control character, which FRR cannot take")
    } else if value.trim() != value {
        Some("has leading or trailing whitespace, which FRR would drop")
    } else if value.len() > 80 {
        Some("is longer than 80 bytes, Linux's limit for TCP MD5 keys")
    } else {
        None
    }
}

fn secret_password(
    r: &mut Report,
    peer_ns: &str,
    sref: &api::SecretRef,
    secrets: &[Secret],
) -> Option<Password> {
    let field = "spec.passwordSecret";
    let ns = sref
        .namespace
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or(peer_ns);
    let Some(secret) = secrets.iter().find(|s| {
        s.metadata.name.as_deref() == Some(sref.name.as_str())
            && s.metadata.namespace.as_deref().unwrap_or("default") == ns
    }) else {
        r.err(field, format!("Secret {ns}/{} not found", sref.name));
        return None;
    };
    let ty = secret.type_.as_deref().unwrap_or("Opaque");
    if ty != "kubernetes.io/basic-auth" {
        r.err(
            field,
            format!(
                "Secret {ns}/{} has type {ty}; kubernetes.io/basic-auth is required",
                sref.name
            ),
        );
        return None;
    }
    let value = match (
        secret.data.as_ref().and_then(|d| d.get("password")),
        secret.string_data.as_ref().and_then(|d| d.get("password")),
    ) {
        // stringData wins, as the API server merges it over data.
        (_, Some(s)) => Some(s.clone()),
        (Some(b), None) => match String::from_utf8(b.0.clone()) {
            Ok(s) => Some(s),
            Err(_) => {
                r.err(
                    field,
                    format!(
                        "the password in Secret {ns}/{} is not valid UTF-8",
                        sref.name
                    ),
                );
                return None;
            }
        },
        (None, None) => None,
    };
    let Some(value) = value else {
        r.err(
            field,
            format!("Secret {ns}/{} has no key \"password\"", sref.name),
        );
        return None;
    };
    if let Some(problem) = password_problem(&value) {
        r.err(
            field,
            format!("the password in Secret {ns}/{} {problem}", sref.name),
        );
        return None;
    }
    Some(Password::new(value))
}

/// Go's empty string is "unset"; MetalLB manifests rely on that.
fn set(o: &Option<String>) -> Option<&str> {
    o.as_deref().filter(|s| !s.is_empty())
}

fn peer(
    p: &api::BGPPeer,
    secrets: &[Secret],
    bfd: &Known<BfdProfile>,
) -> Result<Peer, Vec<ValidationError>> {
    let mut r = Report::new(&p.metadata, "BGPPeer");
    let s = &p.spec;
    let peer_ns = p.metadata.namespace.as_deref().unwrap_or_default();

    if s.my_asn == 0 {
        r.err("spec.myASN", "0 is not a valid AS number (1-4294967295)");
    }
    let remote_as = match (s.peer_asn, s.dynamic_asn) {
        (Some(_), Some(_)) => {
            r.err(
                "spec.dynamicASN",
                "peerASN and dynamicASN are mutually exclusive",
            );
            RemoteAs::External
        }
        (Some(0), None) => {
            r.err("spec.peerASN", "0 is not a valid AS number (1-4294967295)");
            RemoteAs::External
        }
        (Some(asn), None) => RemoteAs::Asn(asn),
        (None, Some(DynamicAsn::Internal)) => RemoteAs::Internal,
        (None, Some(DynamicAsn::External)) => RemoteAs::External,
        (None, None) => {
            r.err("spec.peerASN", "one of peerASN and dynamicASN is required");
            RemoteAs::External
        }
    };

    let address = match (set(&s.peer_address), set(&s.interface)) {
        (Some(_), Some(_)) => {
            r.err(
                "spec.interface",
                "peerAddress and interface are mutually exclusive",
            );
            None
        }
        (None, None) => {
            r.err(
                "spec.peerAddress",
                "one of peerAddress and interface is required",
            );
            None
        }
        (Some(a), None) => match a.parse::<IpAddr>() {
            Ok(ip)
                if ip.is_unspecified()
                    || ip.is_multicast()
                    || ip == IpAddr::V4(Ipv4Addr::BROADCAST) =>
            {
                r.err("spec.peerAddress", format!("{ip} is not a unicast address"));
                None
            }
            Ok(ip) => Some(PeerAddress::Ip(ip)),
            Err(_) => {
                r.err("spec.peerAddress", format!("{a:?} is not an IP address"));
                None
            }
        },
        (None, Some(i)) => {
            if is_ifname(i) {
                Some(PeerAddress::Interface(i.to_owned()))
            } else {
                r.err(
                    "spec.interface",
                    format!("{i:?} is not a valid interface name (1-15 of letters, digits, '.', '_', '-', starting with a letter or digit)"),
                );
                None
            }
        }
    };

    let source_address = set(&s.source_address).and_then(|a| match a.parse::<IpAddr>() {
        Err(_) => {
            r.err("spec.sourceAddress", format!("{a:?} is not an IP address"));
            None
        }
        Ok(ip) => {
            if let Some(PeerAddress::Ip(peer)) = &address {
                if peer.is_ipv4() != ip.is_ipv4() {
                    r.err(
                        "spec.sourceAddress",
                        format!("{ip} and peerAddress {peer} are of different IP families"),
                    );
                }
            }
            Some(ip)
        }
    });

    if s.peer_port == Some(0) {
        r.err("spec.peerPort", "0 is not a valid port (1-65535)");
    }

    let router_id = set(&s.router_id).and_then(|id| match id.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) if !v4.is_unspecified() => Some(v4),
        Ok(IpAddr::V4(v4)) => {
            r.err("spec.routerID", format!("{v4} is not a usable router ID"));
            None
        }
        Ok(IpAddr::V6(_)) => {
            r.err(
                "spec.routerID",
                format!("{id} is IPv6; a BGP router ID is an IPv4 address"),
            );
            None
        }
        Err(_) => {
            r.err("spec.routerID", format!("{id:?} is not an IPv4 address"));
            None
        }
    });

    let timers = timers(&mut r, s.hold_time.as_deref(), s.keepalive_time.as_deref());
    let connect_time = s.connect_time.as_deref().and_then(|t| {
        let secs = timer_secs(&mut r, "spec.connectTime", t)?;
        if secs == 0 {
            r.err("spec.connectTime", "must be at least 1s");
        }
        Some(secs)
    });

    let node_selectors = selectors(&mut r, "spec.nodeSelectors", &s.node_selectors);

    let password = match (set(&s.password), &s.password_secret) {
        (Some(_), Some(_)) => {
            r.err(
                "spec.passwordSecret",
                "password and passwordSecret are mutually exclusive",
            );
            None
        }
        (Some(pw), None) => match password_problem(pw) {
            Some(problem) => {
                r.err("spec.password", format!("the password {problem}"));
                None
            }
            None => Some(Password::new(pw.to_owned())),
        },
        (None, Some(sref)) => secret_password(&mut r, peer_ns, sref, secrets),
        (None, None) => None,
    };

    let bfd_profile = set(&s.bfd_profile).and_then(|name| match bfd.get(name) {
        Ok(_) => Some(name.to_owned()),
        Err(message) => {
            r.err("spec.bfdProfile", message);
            None
        }
    });

    let ebgp_multihop = s.ebgp_multi_hop.unwrap_or(false);
    let ibgp = match remote_as {
        RemoteAs::Asn(a) => a == s.my_asn,
        RemoteAs::Internal => true,
        RemoteAs::External => false,
    };
    if ebgp_multihop && ibgp {
        r.err(
            "spec.ebgpMultiHop",
            "ebgpMultiHop applies to eBGP only; this peer is iBGP (its AS is ours)",
        );
    }

    let vrf = set(&s.vrf).and_then(|v| {
        if is_ifname(v) {
            Some(v.to_owned())
        } else {
            r.err(
                "spec.vrf",
                format!("{v:?} is not a valid VRF name (1-15 of letters, digits, '.', '_', '-', starting with a letter or digit)"),
            );
            None
        }
    });

    let Some(address) = address else {
        return Err(r.errors);
    };
    let peer = Peer {
        name: p.metadata.name.clone().unwrap_or_default(),
        my_asn: s.my_asn,
        remote_as,
        address,
        source_address,
        port: s.peer_port,
        timers,
        connect_time,
        router_id,
        node_selectors,
        password,
        bfd_profile,
        ebgp_multihop,
        vrf,
        graceful_restart: s.enable_graceful_restart.unwrap_or(false),
        dual_stack: s.dual_stack_address_family == Some(true),
    };
    r.finish(peer)
}

fn vrf_name(vrf: &Option<String>) -> String {
    match vrf {
        Some(v) => format!("VRF {v}"),
        None => "the default VRF".into(),
    }
}

/// The first conflict of `peer` with an already accepted peer, as (field, message): one
/// node runs one BGP instance per VRF, so peers that can meet on a node must agree on its
/// AS and router ID, and cannot both be the same neighbor.
fn peer_conflict(
    peer: &Peer,
    accepted: &BTreeMap<String, Peer>,
    nodes: &BTreeMap<String, ModelNode>,
) -> Option<(String, String)> {
    for other in accepted.values().filter(|o| o.vrf == peer.vrf) {
        let Some(overlap) = node_overlap(&peer.node_selectors, &other.node_selectors, nodes) else {
            continue;
        };
        let where_ = format!("in {} ({overlap})", vrf_name(&peer.vrf));
        if other.address == peer.address {
            let field = match peer.address {
                PeerAddress::Ip(_) => "spec.peerAddress",
                PeerAddress::Interface(_) => "spec.interface",
            };
            return Some((
                field.into(),
                format!(
                    "BGPPeer {} already peers with {} {where_}",
                    other.name, peer.address
                ),
            ));
        }
        if other.my_asn != peer.my_asn {
            return Some((
                "spec.myASN".into(),
                format!(
                    "myASN {} differs from myASN {} of BGPPeer {} {where_}; a node has one AS per VRF",
                    peer.my_asn, other.my_asn, other.name
                ),
            ));
        }
        if let (Some(a), Some(b)) = (peer.router_id, other.router_id) {
            if a != b {
                return Some((
                    "spec.routerID".into(),
                    format!("routerID {a} differs from routerID {b} of BGPPeer {} {where_}; a node has one router ID per VRF", other.name),
                ));
            }
        }
    }
    None
}

// ---------------------------------------------------------------------------------------
// BGPAdvertisement

fn advertisement(
    a: &api::BGPAdvertisement,
    pools: &Known<Pool>,
    peers: &Known<Peer>,
    aliases: &Aliases,
) -> Result<Advertisement, Vec<ValidationError>> {
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

    let mut communities = BTreeSet::new();
    duplicates(&mut r, "spec.communities", &s.communities);
    for (i, c) in s.communities.iter().enumerate() {
        let field = format!("spec.communities[{i}]");
        if let Some((v, _)) = aliases.valid.get(c) {
            communities.insert(*v);
        } else if let Some(obj) = aliases.invalid.get(c) {
            r.err(
                field,
                format!("community alias {c:?} comes from Community {obj}, which is invalid"),
            );
        } else {
            match c.parse::<Community>() {
                Ok(v) => {
                    communities.insert(v);
                }
                Err(e) if c.contains(':') => r.err(field, e.to_string()),
                Err(_) => r.err(
                    field,
                    format!("{c:?} is neither a known Community alias nor a community value (AA:NN, large:A:B:C)"),
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
            Err(message) => r.err(format!("spec.ipAddressPools[{i}]"), message),
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
        // MetalLB: neither names nor selectors means every pool.
        pool_names.extend(pools.valid.keys().cloned());
    }

    let mut peer_names = BTreeSet::new();
    duplicates(&mut r, "spec.peers", &s.peers);
    for (i, name) in s.peers.iter().enumerate() {
        match peers.get(name) {
            Ok(_) => {
                peer_names.insert(name.clone());
            }
            Err(message) => r.err(format!("spec.peers[{i}]"), message),
        }
    }

    let node_selectors = selectors(&mut r, "spec.nodeSelectors", &s.node_selectors);
    let service_selectors = selectors(&mut r, "spec.serviceSelectors", &s.service_selectors);

    // Aggregating must not announce addresses outside the pool: the aggregation length may
    // not be shorter than the largest block of any entry of the same family.
    for name in &pool_names {
        let Some(pool) = pools.valid.get(name) else {
            continue;
        };
        for range in &pool.ranges {
            let (field, agg) = if range.first.is_ipv4() {
                ("spec.aggregationLength", agg4)
            } else {
                ("spec.aggregationLengthV6", agg6)
            };
            let block = min_prefix_len(range);
            if agg < block {
                r.err(
                    field,
                    format!(
                        "{agg} is shorter than /{block} of {} in IPAddressPool {name}: the aggregate would announce addresses outside the pool",
                        show_range(pool, range)
                    ),
                );
            }
        }
    }

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
/// same node may not ask for different LOCAL_PREFs. As in MetalLB, advertisements with
/// serviceSelectors are exempt (which Services they carry is only known at run time;
/// intent must merge them deterministically).
fn local_pref_conflict(
    adv: &Advertisement,
    accepted: &BTreeMap<String, Advertisement>,
    pools: &BTreeMap<String, Pool>,
    nodes: &BTreeMap<String, ModelNode>,
) -> Option<String> {
    let lp = adv.local_pref?;
    if !adv.service_selectors.is_empty() {
        return None;
    }
    for other in accepted.values() {
        let Some(olp) = other.local_pref else {
            continue;
        };
        if olp == lp || !other.service_selectors.is_empty() {
            continue;
        }
        if !adv.peers.is_empty() && !other.peers.is_empty() && adv.peers.is_disjoint(&other.peers) {
            continue;
        }
        for name in adv.pools.intersection(&other.pools) {
            let Some(pool) = pools.get(name) else {
                continue;
            };
            let has_v4 = pool.ranges.iter().any(|r| r.first.is_ipv4());
            let has_v6 = pool.ranges.iter().any(|r| !r.first.is_ipv4());
            // Different aggregation lengths give different prefixes, which may differ.
            let same_prefixes = (!has_v4
                || adv.aggregation_length_v4 == other.aggregation_length_v4)
                && (!has_v6 || adv.aggregation_length_v6 == other.aggregation_length_v6);
            if !same_prefixes {
                continue;
            }
            if let Some(overlap) = node_overlap(&adv.node_selectors, &other.node_selectors, nodes) {
                return Some(format!(
                    "localPref {lp} conflicts with localPref {olp} of BGPAdvertisement {} for IPAddressPool {name}: both announce the same prefixes to the same peers ({overlap})",
                    other.name
                ));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::manifests;

    const NS: &str = "metallb-system";

    /// A valid configuration touching every rule: two pools (one with a range and IPv6),
    /// two peers (one v1beta2 with a Secret), a BFD profile, Community aliases and two
    /// advertisements, on two nodes.
    const BASELINE: &str = r#"
apiVersion: v1
kind: Node
metadata: {name: node-a, labels: {rack: r1, zone: z1}}
---
apiVersion: v1
kind: Node
metadata: {name: node-b, labels: {rack: r2}}
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: fast}
spec: {receiveInterval: 300, transmitInterval: 300, detectMultiplier: 3}
---
apiVersion: metallb.io/v1beta1
kind: Community
metadata: {name: aliases}
spec:
  communities:
  - {name: gold, value: "65000:1"}
  - {name: big, value: "large:1:2:3"}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool-a, labels: {tier: a}}
spec:
  addresses: [203.0.113.0/25]
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool-b, labels: {tier: b}}
spec:
  addresses: [203.0.113.128-203.0.113.200, "2001:db8::/64"]
  autoAssign: false
  serviceAllocation:
    priority: 1
    namespaces: [web]
    serviceSelectors: [{matchExpressions: [{key: app, operator: In, values: [web]}]}]
---
apiVersion: v1
kind: Secret
metadata: {name: peer-pw, namespace: metallb-system}
type: kubernetes.io/basic-auth
stringData: {username: x, password: "s3cret-value"}
---
apiVersion: metallb.io/v1beta1
kind: BGPPeer
metadata: {name: peer-a}
spec:
  myASN: 65100
  peerASN: 65000
  peerAddress: 198.51.100.1
  holdTime: 90s
  bfdProfile: fast
  nodeSelectors: [{matchLabels: {rack: r1}}]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer-b}
spec:
  myASN: 65100
  peerASN: 65001
  peerAddress: 198.51.100.2
  keepaliveTime: 10s
  passwordSecret: {name: peer-pw}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv-a}
spec:
  ipAddressPools: [pool-a]
  communities: [gold, "65000:100"]
  localPref: 100
  peers: [peer-a]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv-b}
spec:
  ipAddressPoolSelectors: [{matchLabels: {tier: b}}]
  nodeSelectors: [{matchLabels: {zone: z1}}]
"#;

    fn add(s: &mut Snapshot, yaml: &str) {
        let d = manifests::parse_str(yaml, "test", s);
        assert!(d.errors.is_empty(), "{:?}", d.errors);
    }

    fn baseline() -> Snapshot {
        let mut s = Snapshot {
            namespace: NS.into(),
            ..Snapshot::default()
        };
        add(&mut s, BASELINE);
        s
    }

    fn find<'a, K: Resource>(list: &'a mut [K], name: &str) -> &'a mut K {
        list.iter_mut()
            .find(|o| o.meta().name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("{name} not in baseline"))
    }
    fn pool<'a>(s: &'a mut Snapshot, n: &str) -> &'a mut api::IPAddressPoolSpec {
        &mut find(&mut s.pools, n).spec
    }
    fn peer<'a>(s: &'a mut Snapshot, n: &str) -> &'a mut api::BGPPeerSpec {
        &mut find(&mut s.peers, n).spec
    }
    fn adv<'a>(s: &'a mut Snapshot, n: &str) -> &'a mut api::BGPAdvertisementSpec {
        &mut find(&mut s.advertisements, n).spec
    }
    fn bfd(s: &mut Snapshot) -> &mut api::BFDProfileSpec {
        &mut find(&mut s.bfd_profiles, "fast").spec
    }
    fn aliases(s: &mut Snapshot) -> &mut Vec<api::CommunityAlias> {
        &mut find(&mut s.communities, "aliases").spec.communities
    }
    fn secret(s: &mut Snapshot) -> &mut Secret {
        find(&mut s.secrets, "peer-pw")
    }
    fn sel(yaml: &str) -> LabelSelector {
        serde_yaml::from_str(yaml).unwrap()
    }
    fn some(v: &str) -> Option<String> {
        Some(v.into())
    }

    /// (kind, name) of every object in the config, for "the others survive".
    fn present(c: &Config) -> BTreeSet<(&'static str, String)> {
        let mut out = BTreeSet::new();
        out.extend(c.pools.keys().map(|n| ("IPAddressPool", n.clone())));
        out.extend(c.peers.keys().map(|n| ("BGPPeer", n.clone())));
        out.extend(c.bfd_profiles.keys().map(|n| ("BFDProfile", n.clone())));
        out.extend(
            c.advertisements
                .keys()
                .map(|n| ("BGPAdvertisement", n.clone())),
        );
        out
    }

    type Expect = (&'static str, &'static str, &'static str, &'static str);

    struct Row {
        name: &'static str,
        mutate: fn(&mut Snapshot),
        /// (kind, object name, field, message substring); empty = still valid.
        errors: &'static [Expect],
    }

    /// Applies each mutation to the baseline and checks that exactly the expected objects
    /// are reported, at the expected fields, that they are left out of the config, and that
    /// every other baseline object survives.
    fn run(rows: &[Row]) {
        let base = validate(&baseline());
        assert_eq!(base.errors, vec![], "baseline must be valid");
        let base_objects = present(&base.config);
        assert_eq!(base_objects.len(), 7);
        for row in rows {
            let mut s = baseline();
            (row.mutate)(&mut s);
            let v = validate(&s);
            let shown: Vec<String> = v.errors.iter().map(ToString::to_string).collect();
            for (kind, name, field, want) in row.errors {
                assert!(
                    v.errors
                        .iter()
                        .any(|e| e.object == ObjectRef::new(kind, NS, name)
                            && e.field == *field
                            && e.message.contains(want)),
                    "{}: expected {kind} {name} {field}: ..{want}.., got {shown:#?}",
                    row.name
                );
            }
            for e in &v.errors {
                assert!(
                    row.errors.iter().any(|(k, n, f, _)| e.object.kind == *k
                        && e.object.name == *n
                        && e.field == *f),
                    "{}: unexpected error {e}",
                    row.name
                );
            }
            let reported: BTreeSet<(String, String)> = v
                .errors
                .iter()
                .map(|e| (e.object.kind.clone(), e.object.name.clone()))
                .collect();
            let expected: BTreeSet<(String, String)> = row
                .errors
                .iter()
                .map(|(k, n, _, _)| (k.to_string(), n.to_string()))
                .collect();
            assert_eq!(
                reported, expected,
                "{}: reported objects; got {shown:#?}",
                row.name
            );
            let now = present(&v.config);
            for (kind, name) in &base_objects {
                let failed = expected.contains(&(kind.to_string(), name.clone()));
                assert_eq!(
                    now.contains(&(*kind, name.clone())),
                    !failed,
                    "{}: {kind} {name} should {}be in the config",
                    row.name,
                    if failed { "not " } else { "" }
                );
            }
            for (kind, name) in &now {
                assert!(
                    !expected.contains(&(kind.to_string(), name.clone())),
                    "{}: invalid {kind} {name} is in the config",
                    row.name
                );
            }
            assert!(
                v.errors.windows(2).all(|w| w[0] < w[1]),
                "{}: errors sorted",
                row.name
            );
        }
    }

    /// What breaks when peer-a is left out.
    const PEER_A_DEPENDENTS: Expect = (
        "BGPAdvertisement",
        "adv-a",
        "spec.peers[0]",
        "BGPPeer peer-a is invalid",
    );
    /// What breaks when the BFD profile is left out.
    const BFD_DEPENDENTS: [Expect; 2] = [
        (
            "BGPPeer",
            "peer-a",
            "spec.bfdProfile",
            "BFDProfile fast is invalid",
        ),
        PEER_A_DEPENDENTS,
    ];

    #[test]
    fn names() {
        run(&[
            Row {
                name: "uppercase and underscore",
                mutate: |s| {
                    add(s, "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: Bad_Name}\nspec: {addresses: [192.0.2.0/28]}\n")
                },
                errors: &[(
                    "IPAddressPool",
                    "Bad_Name",
                    "metadata.name",
                    "not a valid name",
                )],
            },
            Row {
                name: "leading dash",
                mutate: |s| {
                    add(s, "apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {name: -slow}\nspec: {}\n")
                },
                errors: &[("BFDProfile", "-slow", "metadata.name", "not a valid name")],
            },
            Row {
                name: "dots are fine",
                mutate: |s| {
                    add(s, "apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {name: slow.v2}\nspec: {}\n")
                },
                errors: &[],
            },
        ]);
        // Longer than 253 characters (not expressible as a static row).
        let mut s = baseline();
        let long = "a".repeat(254);
        find(&mut s.bfd_profiles, "fast").metadata.name = Some(long.clone());
        let v = validate(&s);
        assert!(v
            .errors
            .iter()
            .any(|e| e.object.name == long && e.field == "metadata.name"));
    }

    #[test]
    fn objects_outside_our_namespace_are_ignored() {
        let mut s = baseline();
        add(
            &mut s,
            "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: Elsewhere, namespace: other}\nspec: {addresses: []}\n",
        );
        find(&mut s.peers, "peer-b").metadata.namespace = Some("other".into());
        let v = validate(&s);
        assert_eq!(v.errors, vec![]);
        assert!(!v.config.peers.contains_key("peer-b"));
        assert!(!v.config.pools.contains_key("Elsewhere"));
    }

    #[test]
    fn pools() {
        run(&[
            Row {
                name: "no addresses",
                mutate: |s| pool(s, "pool-a").addresses.clear(),
                errors: &[
                    ("IPAddressPool", "pool-a", "spec.addresses", "at least one"),
                    (
                        "BGPAdvertisement",
                        "adv-a",
                        "spec.ipAddressPools[0]",
                        "IPAddressPool pool-a is invalid",
                    ),
                ],
            },
            Row {
                name: "host bits",
                mutate: |s| pool(s, "pool-a").addresses = vec!["203.0.113.5/25".into()],
                errors: &[
                    (
                        "IPAddressPool",
                        "pool-a",
                        "spec.addresses[0]",
                        "host bits set; did you mean 203.0.113.0/25?",
                    ),
                    (
                        "BGPAdvertisement",
                        "adv-a",
                        "spec.ipAddressPools[0]",
                        "IPAddressPool pool-a is invalid",
                    ),
                ],
            },
            Row {
                name: "prefix too long",
                mutate: |s| pool(s, "pool-b").addresses[1] = "2001:db8::/129".into(),
                errors: &[(
                    "IPAddressPool",
                    "pool-b",
                    "spec.addresses[1]",
                    "not a valid CIDR",
                )],
            },
            Row {
                name: "single address",
                mutate: |s| pool(s, "pool-b").addresses.push("192.0.2.7".into()),
                errors: &[(
                    "IPAddressPool",
                    "pool-b",
                    "spec.addresses[2]",
                    "write it as a CIDR (192.0.2.7/32)",
                )],
            },
            Row {
                name: "garbage",
                mutate: |s| pool(s, "pool-b").addresses.push("banana".into()),
                errors: &[(
                    "IPAddressPool",
                    "pool-b",
                    "spec.addresses[2]",
                    "neither a CIDR",
                )],
            },
            Row {
                name: "range reversed",
                mutate: |s| pool(s, "pool-b").addresses[0] = "203.0.113.200-203.0.113.128".into(),
                errors: &[(
                    "IPAddressPool",
                    "pool-b",
                    "spec.addresses[0]",
                    "is after end",
                )],
            },
            Row {
                name: "range of mixed families",
                mutate: |s| pool(s, "pool-b").addresses[0] = "203.0.113.128-2001:db8:1::1".into(),
                errors: &[(
                    "IPAddressPool",
                    "pool-b",
                    "spec.addresses[0]",
                    "different IP families",
                )],
            },
            Row {
                name: "range with bad end",
                mutate: |s| pool(s, "pool-b").addresses[0] = "203.0.113.128-203.0.113.300".into(),
                errors: &[(
                    "IPAddressPool",
                    "pool-b",
                    "spec.addresses[0]",
                    "end \"203.0.113.300\" is not an IP",
                )],
            },
            Row {
                name: "whitespace around the dash is fine",
                mutate: |s| pool(s, "pool-b").addresses[0] = "203.0.113.128 - 203.0.113.200".into(),
                errors: &[],
            },
            Row {
                name: "overlap inside the pool",
                mutate: |s| {
                    pool(s, "pool-a")
                        .addresses
                        .push("203.0.113.10-203.0.113.12".into())
                },
                errors: &[
                    (
                        "IPAddressPool",
                        "pool-a",
                        "spec.addresses[1]",
                        "overlaps spec.addresses[0] (203.0.113.0/25)",
                    ),
                    (
                        "BGPAdvertisement",
                        "adv-a",
                        "spec.ipAddressPools[0]",
                        "IPAddressPool pool-a is invalid",
                    ),
                ],
            },
            Row {
                name: "overlap with an earlier pool is reported on the later one",
                mutate: |s| pool(s, "pool-b").addresses.push("203.0.113.64/26".into()),
                errors: &[(
                    "IPAddressPool",
                    "pool-b",
                    "spec.addresses[2]",
                    "203.0.113.64/26 overlaps 203.0.113.0/25 of IPAddressPool pool-a",
                )],
            },
            Row {
                name: "later by name, not by position in the input",
                mutate: |s| {
                    add(s, "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: pool-0}\nspec: {addresses: [203.0.113.100-203.0.113.101]}\n")
                },
                errors: &[
                    (
                        "IPAddressPool",
                        "pool-a",
                        "spec.addresses[0]",
                        "overlaps 203.0.113.100-203.0.113.101 of IPAddressPool pool-0",
                    ),
                    (
                        "BGPAdvertisement",
                        "adv-a",
                        "spec.ipAddressPools[0]",
                        "IPAddressPool pool-a is invalid",
                    ),
                ],
            },
            Row {
                name: "IPv6 overlap across pools",
                mutate: |s| pool(s, "pool-a").addresses.push("::/0".into()),
                errors: &[(
                    "IPAddressPool",
                    "pool-b",
                    "spec.addresses[1]",
                    "overlaps ::/0 of IPAddressPool pool-a",
                )],
            },
            Row {
                name: "a bad entry does not overlap anything",
                mutate: |s| {
                    add(s, "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: pool-c}\nspec: {addresses: [nonsense, 0.0.0.0/0]}\n")
                },
                errors: &[(
                    "IPAddressPool",
                    "pool-c",
                    "spec.addresses[0]",
                    "neither a CIDR",
                )],
            },
            Row {
                name: "negative priority",
                mutate: |s| {
                    pool(s, "pool-b")
                        .service_allocation
                        .as_mut()
                        .unwrap()
                        .priority = Some(-1)
                },
                errors: &[(
                    "IPAddressPool",
                    "pool-b",
                    "spec.serviceAllocation.priority",
                    "negative",
                )],
            },
            Row {
                name: "bad namespace",
                mutate: |s| {
                    pool(s, "pool-b")
                        .service_allocation
                        .as_mut()
                        .unwrap()
                        .namespaces
                        .push("Web!".into())
                },
                errors: &[(
                    "IPAddressPool",
                    "pool-b",
                    "spec.serviceAllocation.namespaces[1]",
                    "not a valid namespace name",
                )],
            },
            Row {
                name: "namespace twice",
                mutate: |s| {
                    pool(s, "pool-b")
                        .service_allocation
                        .as_mut()
                        .unwrap()
                        .namespaces
                        .push("web".into())
                },
                errors: &[(
                    "IPAddressPool",
                    "pool-b",
                    "spec.serviceAllocation.namespaces[1]",
                    "listed twice",
                )],
            },
        ]);
    }

    #[test]
    fn label_selectors() {
        run(&[
            Row {
                name: "In without values",
                mutate: |s| {
                    pool(s, "pool-b")
                        .service_allocation
                        .as_mut()
                        .unwrap()
                        .service_selectors =
                        vec![sel("matchExpressions: [{key: app, operator: In}]")]
                },
                errors: &[(
                    "IPAddressPool",
                    "pool-b",
                    "spec.serviceAllocation.serviceSelectors[0].matchExpressions[0].values",
                    "operator In needs at least one value",
                )],
            },
            Row {
                name: "NotIn with empty values",
                mutate: |s| {
                    pool(s, "pool-b")
                        .service_allocation
                        .as_mut()
                        .unwrap()
                        .namespace_selectors = vec![sel(
                        "matchExpressions: [{key: app, operator: NotIn, values: []}]",
                    )]
                },
                errors: &[(
                    "IPAddressPool",
                    "pool-b",
                    "spec.serviceAllocation.namespaceSelectors[0].matchExpressions[0].values",
                    "operator NotIn needs at least one value",
                )],
            },
            Row {
                name: "Exists with values",
                mutate: |s| {
                    peer(s, "peer-a").node_selectors = vec![sel(
                        "matchExpressions: [{key: rack, operator: Exists, values: [r1]}]",
                    )]
                },
                errors: &[
                    (
                        "BGPPeer",
                        "peer-a",
                        "spec.nodeSelectors[0].matchExpressions[0].values",
                        "operator Exists takes no values",
                    ),
                    PEER_A_DEPENDENTS,
                ],
            },
            Row {
                name: "unknown operator",
                mutate: |s| {
                    adv(s, "adv-b").node_selectors = vec![sel(
                        "matchExpressions: [{key: rack, operator: Gt, values: ['1']}]",
                    )]
                },
                errors: &[(
                    "BGPAdvertisement",
                    "adv-b",
                    "spec.nodeSelectors[0].matchExpressions[0].operator",
                    "unknown operator \"Gt\"",
                )],
            },
            Row {
                name: "invalid key",
                mutate: |s| {
                    adv(s, "adv-b").service_selectors = vec![sel("matchLabels: {'bad key': x}")]
                },
                errors: &[(
                    "BGPAdvertisement",
                    "adv-b",
                    "spec.serviceSelectors[0].matchLabels",
                    "invalid label key \"bad key\"",
                )],
            },
            Row {
                name: "invalid value",
                mutate: |s| {
                    adv(s, "adv-b").ip_address_pool_selectors =
                        vec![sel("matchLabels: {tier: '-b'}")]
                },
                errors: &[(
                    "BGPAdvertisement",
                    "adv-b",
                    "spec.ipAddressPoolSelectors[0].matchLabels",
                    "invalid label value \"-b\"",
                )],
            },
            Row {
                name: "same selector twice",
                mutate: |s| {
                    adv(s, "adv-b")
                        .node_selectors
                        .push(sel("matchLabels: {zone: z1}"))
                },
                errors: &[(
                    "BGPAdvertisement",
                    "adv-b",
                    "spec.nodeSelectors[1]",
                    "listed twice",
                )],
            },
            Row {
                name: "prefixed keys and DoesNotExist are fine",
                mutate: |s| {
                    adv(s, "adv-b").node_selectors = vec![sel(
                        "matchExpressions: [{key: example.com/role, operator: DoesNotExist}]",
                    )]
                },
                errors: &[],
            },
        ]);
    }

    #[test]
    fn compiled_selectors_match_like_kubernetes() {
        let s = compile_selector(&sel(
            "matchLabels: {a: '1'}\nmatchExpressions:\n- {key: b, operator: In, values: ['2', '3']}\n- {key: c, operator: NotIn, values: ['4']}\n- {key: d, operator: Exists}\n- {key: e, operator: DoesNotExist}",
        ))
        .unwrap();
        let labels = |kv: &[(&str, &str)]| -> crate::core::model::Labels {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let cases: &[(&[(&str, &str)], bool)] = &[
            (&[("a", "1"), ("b", "3"), ("d", "")], true),
            (&[("a", "1"), ("b", "3"), ("c", "5"), ("d", "x")], true),
            (&[("a", "2"), ("b", "3"), ("d", "")], false),
            (&[("a", "1"), ("b", "4"), ("d", "")], false),
            (&[("a", "1"), ("b", "2"), ("c", "4"), ("d", "")], false),
            (&[("a", "1"), ("b", "2")], false),
            (&[("a", "1"), ("b", "2"), ("d", ""), ("e", "")], false),
        ];
        for (kv, want) in cases {
            assert_eq!(s.matches(&labels(kv)), *want, "{kv:?}");
        }
        assert_eq!(
            compile_selector(&LabelSelector::default()),
            Ok(Selector::default())
        );
    }

    #[test]
    fn peers() {
        run(&[
            Row {
                name: "myASN 0",
                mutate: |s| peer(s, "peer-b").my_asn = 0,
                errors: &[(
                    "BGPPeer",
                    "peer-b",
                    "spec.myASN",
                    "0 is not a valid AS number",
                )],
            },
            Row {
                name: "peerASN 0",
                mutate: |s| peer(s, "peer-b").peer_asn = Some(0),
                errors: &[(
                    "BGPPeer",
                    "peer-b",
                    "spec.peerASN",
                    "0 is not a valid AS number",
                )],
            },
            Row {
                name: "peerASN and dynamicASN",
                mutate: |s| peer(s, "peer-b").dynamic_asn = Some(DynamicAsn::External),
                errors: &[("BGPPeer", "peer-b", "spec.dynamicASN", "mutually exclusive")],
            },
            Row {
                name: "neither peerASN nor dynamicASN",
                mutate: |s| peer(s, "peer-b").peer_asn = None,
                errors: &[(
                    "BGPPeer",
                    "peer-b",
                    "spec.peerASN",
                    "one of peerASN and dynamicASN is required",
                )],
            },
            Row {
                name: "dynamicASN alone is fine",
                mutate: |s| {
                    peer(s, "peer-b").peer_asn = None;
                    peer(s, "peer-b").dynamic_asn = Some(DynamicAsn::External);
                },
                errors: &[],
            },
            Row {
                name: "peerAddress and interface",
                mutate: |s| peer(s, "peer-b").interface = some("eth0"),
                errors: &[("BGPPeer", "peer-b", "spec.interface", "mutually exclusive")],
            },
            Row {
                name: "neither peerAddress nor interface",
                mutate: |s| peer(s, "peer-b").peer_address = some(""),
                errors: &[(
                    "BGPPeer",
                    "peer-b",
                    "spec.peerAddress",
                    "one of peerAddress and interface is required",
                )],
            },
            Row {
                name: "interface alone is fine",
                mutate: |s| {
                    peer(s, "peer-b").peer_address = None;
                    peer(s, "peer-b").interface = some("eth0.100");
                },
                errors: &[],
            },
            Row {
                name: "peerAddress not an IP",
                mutate: |s| peer(s, "peer-b").peer_address = some("198.51.100.256"),
                errors: &[(
                    "BGPPeer",
                    "peer-b",
                    "spec.peerAddress",
                    "\"198.51.100.256\" is not an IP address",
                )],
            },
            Row {
                name: "peerAddress multicast",
                mutate: |s| peer(s, "peer-b").peer_address = some("224.0.0.5"),
                errors: &[(
                    "BGPPeer",
                    "peer-b",
                    "spec.peerAddress",
                    "not a unicast address",
                )],
            },
            Row {
                name: "interface with a space",
                mutate: |s| {
                    peer(s, "peer-b").peer_address = None;
                    peer(s, "peer-b").interface = some("eth0 password x");
                },
                errors: &[(
                    "BGPPeer",
                    "peer-b",
                    "spec.interface",
                    "not a valid interface name",
                )],
            },
            Row {
                name: "interface longer than 15",
                mutate: |s| {
                    peer(s, "peer-b").peer_address = None;
                    peer(s, "peer-b").interface = some("abcdefghijklmnop");
                },
                errors: &[(
                    "BGPPeer",
                    "peer-b",
                    "spec.interface",
                    "not a valid interface name",
                )],
            },
            Row {
                name: "sourceAddress of the other family",
                mutate: |s| peer(s, "peer-b").source_address = some("2001:db8::1"),
                errors: &[(
                    "BGPPeer",
                    "peer-b",
                    "spec.sourceAddress",
                    "different IP families",
                )],
            },
            Row {
                name: "sourceAddress garbage",
                mutate: |s| peer(s, "peer-b").source_address = some("lo"),
                errors: &[(
                    "BGPPeer",
                    "peer-b",
                    "spec.sourceAddress",
                    "not an IP address",
                )],
            },
            Row {
                name: "peerPort 0",
                mutate: |s| peer(s, "peer-b").peer_port = Some(0),
                errors: &[("BGPPeer", "peer-b", "spec.peerPort", "not a valid port")],
            },
            Row {
                name: "routerID IPv6",
                mutate: |s| peer(s, "peer-b").router_id = some("2001:db8::1"),
                errors: &[(
                    "BGPPeer",
                    "peer-b",
                    "spec.routerID",
                    "a BGP router ID is an IPv4 address",
                )],
            },
            Row {
                name: "routerID garbage",
                mutate: |s| peer(s, "peer-b").router_id = some("router-1"),
                errors: &[("BGPPeer", "peer-b", "spec.routerID", "not an IPv4 address")],
            },
            Row {
                name: "ebgpMultiHop on iBGP",
                mutate: |s| {
                    peer(s, "peer-b").peer_asn = Some(65100);
                    peer(s, "peer-b").ebgp_multi_hop = Some(true);
                },
                errors: &[(
                    "BGPPeer",
                    "peer-b",
                    "spec.ebgpMultiHop",
                    "this peer is iBGP",
                )],
            },
            Row {
                name: "ebgpMultiHop on dynamic internal",
                mutate: |s| {
                    peer(s, "peer-b").peer_asn = None;
                    peer(s, "peer-b").dynamic_asn = Some(DynamicAsn::Internal);
                    peer(s, "peer-b").ebgp_multi_hop = Some(true);
                },
                errors: &[(
                    "BGPPeer",
                    "peer-b",
                    "spec.ebgpMultiHop",
                    "this peer is iBGP",
                )],
            },
            Row {
                name: "ebgpMultiHop on eBGP is fine",
                mutate: |s| peer(s, "peer-b").ebgp_multi_hop = Some(true),
                errors: &[],
            },
            Row {
                name: "vrf with a newline",
                mutate: |s| peer(s, "peer-b").vrf = some("red\nrouter bgp 1"),
                errors: &[("BGPPeer", "peer-b", "spec.vrf", "not a valid VRF name")],
            },
            Row {
                name: "unknown BFD profile",
                mutate: |s| peer(s, "peer-a").bfd_profile = some("nope"),
                errors: &[
                    (
                        "BGPPeer",
                        "peer-a",
                        "spec.bfdProfile",
                        "unknown BFDProfile nope",
                    ),
                    PEER_A_DEPENDENTS,
                ],
            },
        ]);
    }

    #[test]
    fn timers() {
        run(&[
            Row {
                name: "hold below 3s",
                mutate: |s| peer(s, "peer-a").hold_time = some("2s"),
                errors: &[
                    (
                        "BGPPeer",
                        "peer-a",
                        "spec.holdTime",
                        "must be 0 or at least 3s",
                    ),
                    PEER_A_DEPENDENTS,
                ],
            },
            Row {
                name: "hold garbage",
                mutate: |s| peer(s, "peer-a").hold_time = some("ninety"),
                errors: &[
                    (
                        "BGPPeer",
                        "peer-a",
                        "spec.holdTime",
                        "invalid duration \"ninety\"",
                    ),
                    PEER_A_DEPENDENTS,
                ],
            },
            Row {
                name: "hold without unit",
                mutate: |s| peer(s, "peer-a").hold_time = some("90"),
                errors: &[
                    ("BGPPeer", "peer-a", "spec.holdTime", "missing unit"),
                    PEER_A_DEPENDENTS,
                ],
            },
            Row {
                name: "fractional hold",
                mutate: |s| peer(s, "peer-a").hold_time = some("4.5s"),
                errors: &[
                    (
                        "BGPPeer",
                        "peer-a",
                        "spec.holdTime",
                        "not a whole number of seconds",
                    ),
                    PEER_A_DEPENDENTS,
                ],
            },
            Row {
                name: "hold above FRR's limit",
                mutate: |s| peer(s, "peer-a").hold_time = some("19h"),
                errors: &[
                    ("BGPPeer", "peer-a", "spec.holdTime", "longer than 65535s"),
                    PEER_A_DEPENDENTS,
                ],
            },
            Row {
                name: "keepalive above hold",
                mutate: |s| peer(s, "peer-a").keepalive_time = some("2m"),
                errors: &[
                    (
                        "BGPPeer",
                        "peer-a",
                        "spec.keepaliveTime",
                        "keepaliveTime 120s exceeds holdTime 90s",
                    ),
                    PEER_A_DEPENDENTS,
                ],
            },
            Row {
                name: "keepalive 0 with a hold time",
                mutate: |s| peer(s, "peer-a").keepalive_time = some("0s"),
                errors: &[
                    ("BGPPeer", "peer-a", "spec.keepaliveTime", "would expire"),
                    PEER_A_DEPENDENTS,
                ],
            },
            Row {
                name: "keepalive alone too long to derive a hold",
                mutate: |s| peer(s, "peer-b").keepalive_time = some("7h"),
                errors: &[(
                    "BGPPeer",
                    "peer-b",
                    "spec.keepaliveTime",
                    "implies a holdTime of 75600s",
                )],
            },
            Row {
                name: "connectTime 0",
                mutate: |s| peer(s, "peer-b").connect_time = some("0s"),
                errors: &[("BGPPeer", "peer-b", "spec.connectTime", "at least 1s")],
            },
            Row {
                name: "connectTime fractional",
                mutate: |s| peer(s, "peer-b").connect_time = some("1500ms"),
                errors: &[(
                    "BGPPeer",
                    "peer-b",
                    "spec.connectTime",
                    "not a whole number of seconds",
                )],
            },
        ]);
    }

    #[test]
    fn timer_derivation() {
        let t = |keepalive, hold| Some(Timers { keepalive, hold });
        let cases: &[(Option<&str>, Option<&str>, Option<Timers>)] = &[
            (None, None, None),
            (Some("90s"), None, t(30, 90)),
            (Some("1m40s"), None, t(33, 100)), // rounded down
            (Some("0"), None, t(0, 0)),
            (Some("3s"), None, t(1, 3)),
            (None, Some("10s"), t(10, 30)),
            (None, Some("1s"), t(1, 3)),
            (None, Some("0s"), t(0, 0)),
            (Some("90s"), Some("90s"), t(90, 90)),
            (Some("180s"), Some("1m"), t(60, 180)),
            (Some("0s"), Some("0s"), t(0, 0)),
        ];
        for (hold, keepalive, want) in cases {
            let mut s = baseline();
            peer(&mut s, "peer-b").hold_time = hold.map(Into::into);
            peer(&mut s, "peer-b").keepalive_time = keepalive.map(Into::into);
            let v = validate(&s);
            assert_eq!(v.errors, vec![], "{hold:?} {keepalive:?}");
            assert_eq!(
                v.config.peers["peer-b"].timers, *want,
                "{hold:?} {keepalive:?}"
            );
        }
    }

    const SECRET: &str = "s3cret-value";

    #[test]
    fn passwords() {
        run(&[
            Row {
                name: "password and passwordSecret",
                mutate: |s| peer(s, "peer-b").password = some("other"),
                errors: &[(
                    "BGPPeer",
                    "peer-b",
                    "spec.passwordSecret",
                    "mutually exclusive",
                )],
            },
            Row {
                name: "password with a newline",
                mutate: |s| {
                    peer(s, "peer-a").password = some("s3cret-value\n neighbor 1.2.3.4 remote-as 1")
                },
                errors: &[
                    ("BGPPeer", "peer-a", "spec.password", "newline"),
                    PEER_A_DEPENDENTS,
                ],
            },
            Row {
                name: "password with a tab",
                mutate: |s| peer(s, "peer-a").password = some("s3cret-value\tx"),
                errors: &[
                    ("BGPPeer", "peer-a", "spec.password", "control character"),
                    PEER_A_DEPENDENTS,
                ],
            },
            Row {
                name: "password with trailing space",
                mutate: |s| peer(s, "peer-a").password = some("s3cret-value "),
                errors: &[
                    (
                        "BGPPeer",
                        "peer-a",
                        "spec.password",
                        "leading or trailing whitespace",
                    ),
                    PEER_A_DEPENDENTS,
                ],
            },
            Row {
                name: "password too long",
                mutate: |s| peer(s, "peer-a").password = Some(SECRET.repeat(7)),
                errors: &[
                    ("BGPPeer", "peer-a", "spec.password", "80 bytes"),
                    PEER_A_DEPENDENTS,
                ],
            },
            Row {
                name: "inner spaces and ! are fine",
                mutate: |s| peer(s, "peer-a").password = some("!s3cret value#"),
                errors: &[],
            },
            Row {
                name: "secret missing",
                mutate: |s| s.secrets.clear(),
                errors: &[(
                    "BGPPeer",
                    "peer-b",
                    "spec.passwordSecret",
                    "Secret metallb-system/peer-pw not found",
                )],
            },
            Row {
                name: "secret in another namespace than the peer's by default",
                mutate: |s| secret(s).metadata.namespace = some("default"),
                errors: &[(
                    "BGPPeer",
                    "peer-b",
                    "spec.passwordSecret",
                    "Secret metallb-system/peer-pw not found",
                )],
            },
            Row {
                name: "secret namespace given explicitly",
                mutate: |s| {
                    secret(s).metadata.namespace = some("default");
                    peer(s, "peer-b")
                        .password_secret
                        .as_mut()
                        .unwrap()
                        .namespace = some("default");
                },
                errors: &[],
            },
            Row {
                name: "secret of the wrong type",
                mutate: |s| secret(s).type_ = some("Opaque"),
                errors: &[(
                    "BGPPeer",
                    "peer-b",
                    "spec.passwordSecret",
                    "has type Opaque; kubernetes.io/basic-auth is required",
                )],
            },
            Row {
                name: "secret without the password key",
                mutate: |s| {
                    secret(s).data.as_mut().unwrap().remove("password");
                },
                errors: &[(
                    "BGPPeer",
                    "peer-b",
                    "spec.passwordSecret",
                    "has no key \"password\"",
                )],
            },
            Row {
                name: "secret value with a newline",
                mutate: |s| {
                    let v = format!("{SECRET}\n");
                    secret(s)
                        .data
                        .as_mut()
                        .unwrap()
                        .insert("password".into(), k8s_openapi::ByteString(v.into_bytes()));
                },
                errors: &[(
                    "BGPPeer",
                    "peer-b",
                    "spec.passwordSecret",
                    "the password in Secret metallb-system/peer-pw contains a newline",
                )],
            },
            Row {
                name: "secret value not UTF-8",
                mutate: |s| {
                    secret(s)
                        .data
                        .as_mut()
                        .unwrap()
                        .insert("password".into(), k8s_openapi::ByteString(vec![0xff, 0xfe]));
                },
                errors: &[(
                    "BGPPeer",
                    "peer-b",
                    "spec.passwordSecret",
                    "not valid UTF-8",
                )],
            },
        ]);
    }

    #[test]
    fn passwords_resolve_and_never_show() {
        let mut s = baseline();
        let v = validate(&s);
        let pw = v.config.peers["peer-b"]
            .password
            .as_ref()
            .expect("from the Secret");
        assert_eq!(pw.expose(), SECRET);
        assert!(!format!("{:?}", v.config).contains(SECRET));

        peer(&mut s, "peer-a").password = Some(format!("{SECRET}\n"));
        peer(&mut s, "peer-b").password = Some(format!(" {SECRET}"));
        let v = validate(&s);
        assert!(!v.errors.is_empty());
        for e in &v.errors {
            assert!(!e.to_string().contains(SECRET), "{e}");
        }
    }

    #[test]
    fn bfd_profiles() {
        let cascade = |first: Expect| -> &'static [Expect] {
            Box::leak(vec![first, BFD_DEPENDENTS[0], BFD_DEPENDENTS[1]].into_boxed_slice())
        };
        run(&[
            Row {
                name: "bounds are inclusive",
                mutate: |s| {
                    let b = bfd(s);
                    b.receive_interval = Some(10);
                    b.transmit_interval = Some(60000);
                    b.detect_multiplier = Some(255);
                    b.echo_interval = Some(10);
                    b.minimum_ttl = Some(254);
                },
                errors: &[],
            },
            Row {
                name: "receiveInterval",
                mutate: |s| bfd(s).receive_interval = Some(9),
                errors: cascade((
                    "BFDProfile",
                    "fast",
                    "spec.receiveInterval",
                    "9 is out of range 10-60000",
                )),
            },
            Row {
                name: "transmitInterval",
                mutate: |s| bfd(s).transmit_interval = Some(60001),
                errors: cascade((
                    "BFDProfile",
                    "fast",
                    "spec.transmitInterval",
                    "out of range 10-60000",
                )),
            },
            Row {
                name: "echoInterval",
                mutate: |s| bfd(s).echo_interval = Some(0),
                errors: cascade((
                    "BFDProfile",
                    "fast",
                    "spec.echoInterval",
                    "out of range 10-60000",
                )),
            },
            Row {
                name: "detectMultiplier",
                mutate: |s| bfd(s).detect_multiplier = Some(1),
                errors: cascade((
                    "BFDProfile",
                    "fast",
                    "spec.detectMultiplier",
                    "out of range 2-255",
                )),
            },
            Row {
                name: "minimumTtl",
                mutate: |s| bfd(s).minimum_ttl = Some(255),
                errors: cascade((
                    "BFDProfile",
                    "fast",
                    "spec.minimumTtl",
                    "out of range 1-254",
                )),
            },
        ]);
    }

    const ALIAS_DEPENDENTS: Expect = (
        "BGPAdvertisement",
        "adv-a",
        "spec.communities[0]",
        "community alias \"gold\" comes from Community aliases, which is invalid",
    );

    #[test]
    fn communities() {
        run(&[
            Row {
                name: "empty alias name",
                mutate: |s| aliases(s)[1].name.clear(),
                errors: &[
                    (
                        "Community",
                        "aliases",
                        "spec.communities[1].name",
                        "must not be empty",
                    ),
                    ALIAS_DEPENDENTS,
                ],
            },
            Row {
                name: "bad value",
                mutate: |s| aliases(s)[1].value = "65536:1".into(),
                errors: &[
                    (
                        "Community",
                        "aliases",
                        "spec.communities[1].value",
                        "not a number in 0-65535",
                    ),
                    ALIAS_DEPENDENTS,
                ],
            },
            Row {
                name: "alias that reads as a value",
                mutate: |s| aliases(s)[1].name = "65000:5".into(),
                errors: &[
                    (
                        "Community",
                        "aliases",
                        "spec.communities[1].name",
                        "reads as a community value",
                    ),
                    ALIAS_DEPENDENTS,
                ],
            },
            Row {
                name: "alias twice in one object",
                mutate: |s| aliases(s)[1].name = "gold".into(),
                errors: &[
                    (
                        "Community",
                        "aliases",
                        "spec.communities[1].name",
                        "defined twice",
                    ),
                    ALIAS_DEPENDENTS,
                ],
            },
            Row {
                name: "alias defined by an earlier object",
                mutate: |s| {
                    add(s, "apiVersion: metallb.io/v1beta1\nkind: Community\nmetadata: {name: more}\nspec: {communities: [{name: gold, value: '1:1'}]}\n")
                },
                errors: &[(
                    "Community",
                    "more",
                    "spec.communities[0].name",
                    "already defined by Community metallb-system/aliases",
                )],
            },
            Row {
                name: "unknown alias",
                mutate: |s| adv(s, "adv-a").communities.push("silver".into()),
                errors: &[(
                    "BGPAdvertisement",
                    "adv-a",
                    "spec.communities[2]",
                    "neither a known Community alias nor a community value",
                )],
            },
            Row {
                name: "bad literal",
                mutate: |s| adv(s, "adv-a").communities.push("65000:70000".into()),
                errors: &[(
                    "BGPAdvertisement",
                    "adv-a",
                    "spec.communities[2]",
                    "\"70000\" is not a number in 0-65535",
                )],
            },
            Row {
                name: "entry twice",
                mutate: |s| adv(s, "adv-a").communities.push("gold".into()),
                errors: &[(
                    "BGPAdvertisement",
                    "adv-a",
                    "spec.communities[2]",
                    "listed twice",
                )],
            },
        ]);
    }

    #[test]
    fn communities_resolve() {
        let mut s = baseline();
        adv(&mut s, "adv-a").communities = vec![
            "gold".into(),
            "big".into(),
            "no-export".into(),
            "large:7:8:9".into(),
        ];
        let v = validate(&s);
        assert_eq!(v.errors, vec![]);
        assert_eq!(
            v.config.advertisements["adv-a"].communities,
            BTreeSet::from([
                Community::Standard(65000, 1),
                Community::Standard(65535, 65281),
                Community::Large(1, 2, 3),
                Community::Large(7, 8, 9),
            ])
        );
    }

    #[test]
    fn advertisements() {
        run(&[
            Row {
                name: "aggregationLength above 32",
                mutate: |s| adv(s, "adv-a").aggregation_length = Some(33),
                errors: &[(
                    "BGPAdvertisement",
                    "adv-a",
                    "spec.aggregationLength",
                    "33 is out of range 0-32",
                )],
            },
            Row {
                name: "aggregationLength negative",
                mutate: |s| adv(s, "adv-a").aggregation_length = Some(-1),
                errors: &[(
                    "BGPAdvertisement",
                    "adv-a",
                    "spec.aggregationLength",
                    "out of range 0-32",
                )],
            },
            Row {
                name: "aggregationLengthV6 above 128",
                mutate: |s| adv(s, "adv-a").aggregation_length_v6 = Some(129),
                errors: &[(
                    "BGPAdvertisement",
                    "adv-a",
                    "spec.aggregationLengthV6",
                    "out of range 0-128",
                )],
            },
            Row {
                name: "aggregation shorter than the pool's CIDR",
                mutate: |s| adv(s, "adv-a").aggregation_length = Some(24),
                errors: &[(
                    "BGPAdvertisement",
                    "adv-a",
                    "spec.aggregationLength",
                    "24 is shorter than /25 of 203.0.113.0/25 in IPAddressPool pool-a",
                )],
            },
            Row {
                name: "aggregation equal to the pool's CIDR is fine",
                mutate: |s| adv(s, "adv-a").aggregation_length = Some(25),
                errors: &[],
            },
            Row {
                name: "aggregation against a range: its largest block is a /26",
                mutate: |s| adv(s, "adv-b").aggregation_length = Some(25),
                errors: &[(
                    "BGPAdvertisement",
                    "adv-b",
                    "spec.aggregationLength",
                    "25 is shorter than /26 of 203.0.113.128-203.0.113.200 in IPAddressPool pool-b",
                )],
            },
            Row {
                name: "aggregation /26 over that range is fine",
                mutate: |s| adv(s, "adv-b").aggregation_length = Some(26),
                errors: &[],
            },
            Row {
                name: "IPv6 aggregation",
                mutate: |s| adv(s, "adv-b").aggregation_length_v6 = Some(63),
                errors: &[(
                    "BGPAdvertisement",
                    "adv-b",
                    "spec.aggregationLengthV6",
                    "63 is shorter than /64 of 2001:db8::/64",
                )],
            },
            Row {
                name: "aggregation with serviceSelectors",
                mutate: |s| {
                    adv(s, "adv-a").aggregation_length = Some(30);
                    adv(s, "adv-a").service_selectors = vec![sel("matchLabels: {app: web}")];
                },
                errors: &[(
                    "BGPAdvertisement",
                    "adv-a",
                    "spec.aggregationLength",
                    "cannot be combined with serviceSelectors",
                )],
            },
            Row {
                name: "unknown pool",
                mutate: |s| adv(s, "adv-a").ip_address_pools.push("nope".into()),
                errors: &[(
                    "BGPAdvertisement",
                    "adv-a",
                    "spec.ipAddressPools[1]",
                    "unknown IPAddressPool nope",
                )],
            },
            Row {
                name: "pool twice",
                mutate: |s| adv(s, "adv-a").ip_address_pools.push("pool-a".into()),
                errors: &[(
                    "BGPAdvertisement",
                    "adv-a",
                    "spec.ipAddressPools[1]",
                    "listed twice",
                )],
            },
            Row {
                name: "a selected pool that is invalid does not break the advertisement",
                mutate: |s| pool(s, "pool-b").addresses.push("nonsense".into()),
                errors: &[(
                    "IPAddressPool",
                    "pool-b",
                    "spec.addresses[2]",
                    "neither a CIDR",
                )],
            },
            Row {
                name: "unknown peer",
                mutate: |s| adv(s, "adv-a").peers.push("peer-z".into()),
                errors: &[(
                    "BGPAdvertisement",
                    "adv-a",
                    "spec.peers[1]",
                    "unknown BGPPeer peer-z",
                )],
            },
            Row {
                name: "peer twice",
                mutate: |s| adv(s, "adv-a").peers.push("peer-a".into()),
                errors: &[("BGPAdvertisement", "adv-a", "spec.peers[1]", "listed twice")],
            },
        ]);
    }

    #[test]
    fn advertisement_pool_coverage() {
        let mut s = baseline();
        let names = |v: &Validated, a: &str| {
            v.config.advertisements[a]
                .pools
                .iter()
                .cloned()
                .collect::<Vec<_>>()
        };
        let v = validate(&s);
        assert_eq!(names(&v, "adv-a"), ["pool-a"]);
        assert_eq!(names(&v, "adv-b"), ["pool-b"]);
        // Neither names nor selectors: every (valid) pool, as in MetalLB.
        adv(&mut s, "adv-b").ip_address_pool_selectors.clear();
        let v = validate(&s);
        assert_eq!(names(&v, "adv-b"), ["pool-a", "pool-b"]);
        // Names and selectors together: the union.
        adv(&mut s, "adv-a").ip_address_pool_selectors = vec![sel("matchLabels: {tier: b}")];
        let v = validate(&s);
        assert_eq!(names(&v, "adv-a"), ["pool-a", "pool-b"]);
        assert_eq!(
            v.config.advertisements["adv-a"].peers,
            BTreeSet::from(["peer-a".to_string()])
        );
    }

    /// Adds adv-c for pool-a with localPref 200 to every peer on every node, then applies
    /// `tweak`.
    fn adv_c(s: &mut Snapshot, tweak: &str) {
        add(
            s,
            &format!("apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {{name: adv-c}}\nspec:\n  ipAddressPools: [pool-a]\n{}{tweak}", if tweak.contains("localPref") { "" } else { "  localPref: 200\n" }),
        );
    }

    #[test]
    fn local_pref() {
        run(&[
            Row {
                name: "conflicting localPref for the same pool",
                mutate: |s| adv_c(s, ""),
                errors: &[(
                    "BGPAdvertisement",
                    "adv-c",
                    "spec.localPref",
                    "localPref 200 conflicts with localPref 100 of BGPAdvertisement adv-a for IPAddressPool pool-a",
                )],
            },
            Row {
                name: "reported on the later one by name",
                mutate: |s| {
                    adv_c(s, "");
                    find(&mut s.advertisements, "adv-c").metadata.name = some("adv-0");
                },
                errors: &[("BGPAdvertisement", "adv-a", "spec.localPref", "conflicts with localPref 200 of BGPAdvertisement adv-0")],
            },
            Row {
                name: "same value",
                mutate: |s| adv_c(s, "  localPref: 100\n"),
                errors: &[],
            },
            Row {
                name: "only one sets it",
                mutate: |s| {
                    adv_c(s, "");
                    adv(s, "adv-a").local_pref = None;
                },
                errors: &[],
            },
            Row {
                name: "different aggregation, different prefixes",
                mutate: |s| adv_c(s, "  aggregationLength: 25\n"),
                errors: &[],
            },
            Row {
                name: "disjoint peers",
                mutate: |s| adv_c(s, "  peers: [peer-b]\n"),
                errors: &[],
            },
            Row {
                name: "disjoint nodes",
                mutate: |s| {
                    adv_c(s, "  nodeSelectors: [{matchLabels: {rack: r2}}]\n");
                    adv(s, "adv-a").node_selectors = vec![sel("matchLabels: {rack: r1}")];
                },
                errors: &[],
            },
            Row {
                name: "overlapping nodes",
                mutate: |s| {
                    adv_c(s, "  nodeSelectors: [{matchLabels: {zone: z1}}]\n");
                    adv(s, "adv-a").node_selectors = vec![sel("matchLabels: {rack: r1}")];
                },
                errors: &[("BGPAdvertisement", "adv-c", "spec.localPref", "node node-a is selected by both")],
            },
            Row {
                name: "serviceSelectors are exempt, as in MetalLB",
                mutate: |s| adv_c(s, "  serviceSelectors: [{matchLabels: {app: web}}]\n"),
                errors: &[],
            },
        ]);
    }

    /// Adds peer-c (v1beta2) with the given spec lines.
    fn peer_c(s: &mut Snapshot, spec: &str) {
        add(
            s,
            &format!("apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: peer-c}}\nspec:\n{spec}"),
        );
    }

    #[test]
    fn peer_conflicts() {
        run(&[
            Row {
                name: "same address, overlapping nodes",
                mutate: |s| peer_c(s, "  myASN: 65100\n  peerASN: 65009\n  peerAddress: 198.51.100.1\n"),
                errors: &[(
                    "BGPPeer",
                    "peer-c",
                    "spec.peerAddress",
                    "BGPPeer peer-a already peers with 198.51.100.1 in the default VRF (node node-a is selected by both)",
                )],
            },
            Row {
                name: "same address, other VRF",
                mutate: |s| peer_c(s, "  myASN: 65100\n  peerASN: 65009\n  peerAddress: 198.51.100.1\n  vrf: red\n"),
                errors: &[],
            },
            Row {
                name: "same address, disjoint nodes",
                mutate: |s| peer_c(s, "  myASN: 65100\n  peerASN: 65009\n  peerAddress: 198.51.100.1\n  nodeSelectors: [{matchLabels: {rack: r2}}]\n"),
                errors: &[],
            },
            Row {
                name: "same interface",
                mutate: |s| {
                    peer(s, "peer-b").peer_address = None;
                    peer(s, "peer-b").interface = some("eth1");
                    peer_c(s, "  myASN: 65100\n  peerASN: 65009\n  interface: eth1\n");
                },
                errors: &[("BGPPeer", "peer-c", "spec.interface", "BGPPeer peer-b already peers with eth1")],
            },
            Row {
                name: "different myASN on a shared node",
                mutate: |s| peer_c(s, "  myASN: 65200\n  peerASN: 65009\n  peerAddress: 198.51.100.3\n"),
                errors: &[(
                    "BGPPeer",
                    "peer-c",
                    "spec.myASN",
                    "myASN 65200 differs from myASN 65100 of BGPPeer peer-a in the default VRF (node node-a is selected by both)",
                )],
            },
            Row {
                name: "different myASN in another VRF",
                mutate: |s| peer_c(s, "  myASN: 65200\n  peerASN: 65009\n  peerAddress: 198.51.100.3\n  vrf: red\n"),
                errors: &[],
            },
            Row {
                name: "different myASN, nodes never meet",
                mutate: |s| {
                    peer(s, "peer-b").node_selectors = vec![sel("matchLabels: {rack: r1}")];
                    peer_c(s, "  myASN: 65200\n  peerASN: 65009\n  peerAddress: 198.51.100.3\n  nodeSelectors: [{matchLabels: {rack: r2}}]\n");
                },
                errors: &[],
            },
            Row {
                name: "different routerID on a shared node",
                mutate: |s| {
                    peer(s, "peer-a").router_id = some("10.1.1.1");
                    peer(s, "peer-b").router_id = some("10.1.1.2");
                },
                errors: &[("BGPPeer", "peer-b", "spec.routerID", "routerID 10.1.1.2 differs from routerID 10.1.1.1 of BGPPeer peer-a")],
            },
            Row {
                name: "routerID set on one side only",
                mutate: |s| peer(s, "peer-b").router_id = some("10.1.1.2"),
                errors: &[],
            },
            Row {
                name: "no nodes known: identical selectors still conflict",
                mutate: |s| {
                    s.nodes.clear();
                    peer(s, "peer-a").node_selectors.clear();
                    peer(s, "peer-b").my_asn = 65200;
                },
                errors: &[("BGPPeer", "peer-b", "spec.myASN", "both have the same nodeSelectors")],
            },
            Row {
                name: "no nodes known: different selectors cannot be judged",
                mutate: |s| {
                    s.nodes.clear();
                    peer(s, "peer-b").my_asn = 65200;
                },
                errors: &[],
            },
        ]);
    }

    #[test]
    fn converts_the_baseline() {
        let v = validate(&baseline());
        let c = &v.config;
        let b = &c.pools["pool-b"];
        assert!(!b.auto_assign && !b.avoid_buggy_ips);
        assert_eq!(b.cidrs, vec!["2001:db8::/64".parse::<IpNet>().unwrap()]);
        assert_eq!(b.ranges.len(), 2);
        assert_eq!(b.labels.get("tier").map(String::as_str), Some("b"));
        let alloc = b.allocation.as_ref().unwrap();
        assert_eq!(alloc.priority, Some(1));
        assert_eq!(alloc.namespaces, BTreeSet::from(["web".to_string()]));
        assert_eq!(alloc.service_selectors.len(), 1);
        assert!(c.pools["pool-a"].allocation.is_none() && c.pools["pool-a"].auto_assign);

        let a = &c.peers["peer-a"];
        assert_eq!(
            a.timers,
            Some(Timers {
                keepalive: 30,
                hold: 90
            })
        );
        assert_eq!(a.bfd_profile.as_deref(), Some("fast"));
        assert_eq!(a.node_selectors.len(), 1);
        assert!(a.password.is_none() && a.vrf.is_none() && !a.ebgp_multihop);
        let b = &c.peers["peer-b"];
        assert_eq!(
            b.timers,
            Some(Timers {
                keepalive: 10,
                hold: 30
            })
        );
        assert_eq!(b.remote_as, RemoteAs::Asn(65001));

        let adv = &c.advertisements["adv-b"];
        assert_eq!(
            (adv.aggregation_length_v4, adv.aggregation_length_v6),
            (32, 128)
        );
        assert!(adv.peers.is_empty() && adv.local_pref.is_none());
    }

    #[test]
    fn pool_addresses_parse() {
        let r = |a: &str, b: &str| IpRange {
            first: a.parse().unwrap(),
            last: b.parse().unwrap(),
        };
        let cases: &[(&str, IpRange, bool)] = &[
            ("203.0.113.0/24", r("203.0.113.0", "203.0.113.255"), true),
            ("203.0.113.7/32", r("203.0.113.7", "203.0.113.7"), true),
            (" 203.0.113.0/31 ", r("203.0.113.0", "203.0.113.1"), true),
            ("2001:db8::/126", r("2001:db8::", "2001:db8::3"), true),
            (
                "203.0.113.10-203.0.113.20",
                r("203.0.113.10", "203.0.113.20"),
                false,
            ),
            (
                "203.0.113.10 -203.0.113.10",
                r("203.0.113.10", "203.0.113.10"),
                false,
            ),
            (
                "2001:db8::1 - 2001:db8::ff",
                r("2001:db8::1", "2001:db8::ff"),
                false,
            ),
        ];
        for (input, want, is_cidr) in cases {
            let (range, cidr) = parse_pool_address(input).expect(input);
            assert_eq!(range, *want, "{input}");
            assert_eq!(cidr.is_some(), *is_cidr, "{input}");
        }
        // Whole address spaces of different families never overlap.
        let (v4, _) = parse_pool_address("0.0.0.0/0").unwrap();
        let (v6, _) = parse_pool_address("::/0").unwrap();
        assert!(!overlaps(&v4, &v6) && !overlaps(&v6, &v4) && overlaps(&v6, &v6));
    }

    #[test]
    fn largest_block_inside_a_range() {
        let cases: &[(&str, &str, u8)] = &[
            ("203.0.113.0", "203.0.113.255", 24),
            ("203.0.113.1", "203.0.113.254", 26),
            ("203.0.113.128", "203.0.113.200", 26),
            ("203.0.113.7", "203.0.113.7", 32),
            ("203.0.113.6", "203.0.113.7", 31),
            ("203.0.113.7", "203.0.113.8", 32),
            ("0.0.0.0", "255.255.255.255", 0),
            ("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0),
            ("2001:db8::", "2001:db8::ffff", 112),
            ("2001:db8::1", "2001:db8::2", 128),
        ];
        for (a, b, want) in cases {
            let range = IpRange {
                first: a.parse().unwrap(),
                last: b.parse().unwrap(),
            };
            assert_eq!(min_prefix_len(&range), *want, "{a}-{b}");
        }
    }

    #[test]
    fn name_rules() {
        let cases: &[(&str, bool, bool, bool)] = &[
            // (input, subdomain, label, ifname)
            ("tor1", true, true, true),
            ("tor-1.example", true, false, true),
            ("Tor1", false, false, true),
            ("-tor", false, false, false),
            ("tor-", false, false, true),
            ("a..b", false, false, true),
            ("", false, false, false),
            ("eth0.100", true, false, true),
            ("veth_abc", false, false, true),
            ("sixteen-chars-xx", true, true, false),
            ("eth0 x", false, false, false),
        ];
        for (input, sub, label, ifname) in cases {
            assert_eq!(is_dns1123_subdomain(input), *sub, "subdomain {input:?}");
            assert_eq!(is_dns1123_label(input), *label, "label {input:?}");
            assert_eq!(is_ifname(input), *ifname, "ifname {input:?}");
        }
        assert!(is_dns1123_label(&"a".repeat(63)) && !is_dns1123_label(&"a".repeat(64)));
        assert!(
            is_qualified_name("example.com/role")
                && !is_qualified_name("example.com/")
                && !is_qualified_name("Ex_ample/role")
        );
        assert!(is_label_value("") && is_label_value("A_b.c-1") && !is_label_value("a b"));
    }

    #[test]
    fn deterministic() {
        let mut s = baseline();
        peer(&mut s, "peer-a").hold_time = some("1s");
        pool(&mut s, "pool-b").addresses.push("x".into());
        let a = validate(&s);
        s.pools.reverse();
        s.peers.reverse();
        s.advertisements.reverse();
        s.nodes.reverse();
        let b = validate(&s);
        assert_eq!(a, b);
        assert_eq!(
            serde_json::to_string(&a.config).unwrap(),
            serde_json::to_string(&b.config).unwrap()
        );
    }
}
