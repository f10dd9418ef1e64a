//! FRR configuration text -> a normalized tree, so a rendered config and FRR's own
//! `show running-config` compare equal exactly when FRR would run the same thing.
//!
//! Both sides go through the same [`parse`]. Every line keeps three forms:
//! - `text`: what to send to FRR (the input line, whitespace collapsed);
//! - `norm`: the comparison form (FRR's rewrites undone, see below);
//! - `slot`: what the line *sets*. Lines with the same slot overwrite each other in FRR
//!   (`neighbor X timers 3 9` replaces `neighbor X timers 10 30`), so the diff sends only the
//!   new line instead of `no old` + `new`.
//!
//! FRR 8.4 rewrites found by applying rendered configs to real daemons and reading back:
//! - values equal to BFD defaults are not shown (`receive-interval 300`,
//!   `transmit-interval 300`, `detect-multiplier 3`, `echo receive-interval 50`,
//!   `echo transmit-interval 50`, `minimum-ttl 254`), and `no echo-mode` etc. are implied;
//! - `neighbor X bfd profile P` implies a separate `neighbor X bfd` line;
//! - `neighbor X ebgp-multihop` is shown as `... ebgp-multihop 255`; `neighbor X port 179`
//!   is not shown;
//! - `neighbor X activate` is not shown in `address-family ipv4 unicast` while
//!   `bgp default ipv4-unicast` is on (the default);
//! - `address-family ipv4` is shown as `address-family ipv4 unicast` (same for ipv6); empty
//!   address families, an empty `line vty` are not shown;
//! - prefixes are masked (`203.0.113.5/24` -> `203.0.113.0/24`), IPv6 addresses compressed;
//! - `set community` values are sorted numerically, de-duplicated and well-known ones named
//!   (`65535:65282 64512:100` -> `64512:100 no-advertise`); `set large-community` keeps order;
//! - `ip prefix-list` entries without `seq` get FRR's next multiple of 5 after the highest;
//! - line order inside a context is FRR's own (compared as sets here);
//! - `no ip forwarding`/`no ipv6 forwarding` (zebra's view of the kernel) and vtysh's own
//!   `hostname` appear without being configured; `frr version`/`frr defaults`/`hostname`/
//!   `service integrated-vtysh-config` are ignored, forwarding lines are kept but never removed
//!   unless the desired config mentions them (see [`Line::unmanaged`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

/// The kind of a context block (the CLI node its children run in).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ctx {
    RouterBgp,
    AddressFamily,
    RouteMap,
    Bfd,
    BfdProfile,
    BfdPeer,
    Interface,
    Vrf,
    LineVty,
    /// Any other top-level block (`router ospf`, `key chain`, ...): diffed generically.
    Other,
}

impl Ctx {
    /// The command that leaves this node (one level up).
    pub fn exit_command(self) -> &'static str {
        match self {
            Ctx::AddressFamily => "exit-address-family",
            Ctx::Vrf => "exit-vrf",
            _ => "exit",
        }
    }
}

/// One config line, possibly opening a context with children.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub text: String,
    pub norm: String,
    pub slot: String,
    /// `Some` when this line opens a context.
    pub ctx: Option<Ctx>,
    pub children: Vec<Line>,
}

impl Line {
    /// Lines FRR shows on its own (kernel state): kept, but only changed when the desired
    /// config says something about them.
    pub fn unmanaged(&self) -> bool {
        matches!(self.slot.as_str(), "ip forwarding" | "ipv6 forwarding")
    }

    pub fn is_context(&self) -> bool {
        self.ctx.is_some()
    }

    fn leaf(text: String, norm: String, parent: Option<Ctx>) -> Line {
        let slot = slot_of(parent, &norm);
        Line {
            text,
            norm,
            slot,
            ctx: None,
            children: Vec::new(),
        }
    }
}

/// A whole configuration: the top-level lines in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    pub lines: Vec<Line>,
}

impl Config {
    /// The normalized config as text (sorted within contexts): equal configs print equal.
    pub fn canonical(&self) -> String {
        fn walk(lines: &[Line], depth: usize, out: &mut String) {
            let mut sorted: Vec<&Line> = lines.iter().collect();
            sorted.sort_by(|a, b| a.norm.cmp(&b.norm));
            for l in sorted {
                out.push_str(&" ".repeat(depth));
                out.push_str(&l.norm);
                out.push('\n');
                walk(&l.children, depth + 1, out);
            }
        }
        let mut s = String::new();
        walk(&self.lines, 0, &mut s);
        s
    }
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical())
    }
}

struct Open {
    line: Line,
    indent: usize,
    child_indent: Option<usize>,
}

/// Parse FRR config text (a rendered file or `show running-config` output).
///
/// Nesting follows FRR's own rules as far as text allows: context openers known per node
/// (`router bgp` > `address-family`; `bfd` > `profile`/`peer`), top-level-only commands close
/// every open context, `exit`/`exit-address-family`/`exit-vrf` close one, `end` and a `!` in
/// column 0 close all, and otherwise a line deeper-or-equal indented than its context's
/// first child stays inside it.
pub fn parse(text: &str) -> Config {
    let mut root: Vec<Line> = Vec::new();
    let mut stack: Vec<Open> = Vec::new();

    fn close(stack: &mut Vec<Open>, root: &mut Vec<Line>) {
        if let Some(open) = stack.pop() {
            match stack.last_mut() {
                Some(parent) => parent.line.children.push(open.line),
                None => root.push(open.line),
            }
        }
    }

    for raw in text.lines() {
        let line = raw.trim_end();
        let trimmed = line.trim_start();
        if trimmed.is_empty() {
            continue;
        }
        let indent = line.len() - trimmed.len();
        if trimmed.starts_with('!') {
            if indent == 0 {
                while !stack.is_empty() {
                    close(&mut stack, &mut root);
                }
            }
            continue;
        }
        let tokens: Vec<&str> = trimmed.split_whitespace().collect();
        let text = tokens.join(" ");
        match text.as_str() {
            "end" => {
                while !stack.is_empty() {
                    close(&mut stack, &mut root);
                }
                continue;
            }
            "exit" | "exit-address-family" | "exit-vrf" | "quit" => {
                close(&mut stack, &mut root);
                continue;
            }
            _ => {}
        }

        let root_opener = root_context(&tokens);
        let child_opener = child_context(&tokens);
        if root_opener.is_some() || is_root_only(&tokens) {
            while !stack.is_empty() {
                close(&mut stack, &mut root);
            }
        } else if let Some((parent, _)) = child_opener {
            // Close until the innermost open context of the parent kind (if any is open).
            if stack.iter().any(|o| o.line.ctx == Some(parent)) {
                while stack.last().is_some_and(|o| o.line.ctx != Some(parent)) {
                    close(&mut stack, &mut root);
                }
            }
        } else {
            while let Some(top) = stack.last() {
                let inside = match top.child_indent {
                    Some(ci) => indent >= ci,
                    None => indent >= top.indent,
                };
                if inside {
                    break;
                }
                close(&mut stack, &mut root);
            }
        }

        let parent = stack.last().and_then(|o| o.line.ctx);
        if let Some(top) = stack.last_mut() {
            top.child_indent.get_or_insert(indent);
        }
        let ctx = match (root_opener, child_opener) {
            (Some(c), _) => Some(c),
            (None, Some((p, c))) if parent == Some(p) => Some(c),
            _ => None,
        };
        let Some(norm) = normalize_line(parent, &tokens) else {
            continue;
        };
        let text = match ctx {
            // FRR's spelling of the AF (`ipv4` -> `ipv4 unicast`) so the node is entered alike.
            Some(Ctx::AddressFamily) => norm.clone(),
            _ => text,
        };
        match ctx {
            Some(c) => {
                let slot = slot_of(parent, &norm);
                stack.push(Open {
                    line: Line {
                        text,
                        norm,
                        slot,
                        ctx: Some(c),
                        children: Vec::new(),
                    },
                    indent,
                    child_indent: None,
                });
            }
            None => {
                let l = Line::leaf(text, norm, parent);
                match stack.last_mut() {
                    Some(top) => top.line.children.push(l),
                    None => root.push(l),
                }
            }
        }
    }
    while !stack.is_empty() {
        close(&mut stack, &mut root);
    }
    let mut config = Config { lines: root };
    post_process(&mut config);
    config
}

/// Top-level context openers.
pub(crate) fn root_context(t: &[&str]) -> Option<Ctx> {
    match t {
        ["router", "bgp", ..] => Some(Ctx::RouterBgp),
        ["route-map", _, "permit" | "deny", _] => Some(Ctx::RouteMap),
        ["bfd"] => Some(Ctx::Bfd),
        ["interface", ..] => Some(Ctx::Interface),
        ["vrf", _] => Some(Ctx::Vrf),
        ["line", "vty"] => Some(Ctx::LineVty),
        ["router", ..]
        | ["key", "chain", ..]
        | ["segment-routing"]
        | ["mpls", "ldp"]
        | ["nexthop-group", ..]
        | ["pbr-map", ..]
        | ["rpki"] => Some(Ctx::Other),
        _ => None,
    }
}

/// Openers of nested contexts: (parent kind, own kind).
pub(crate) fn child_context(t: &[&str]) -> Option<(Ctx, Ctx)> {
    match t {
        ["address-family", ..] => Some((Ctx::RouterBgp, Ctx::AddressFamily)),
        ["profile", _] => Some((Ctx::Bfd, Ctx::BfdProfile)),
        ["peer", ..] => Some((Ctx::Bfd, Ctx::BfdPeer)),
        _ => None,
    }
}

/// Commands that exist only at the top level: they close any open context.
fn is_root_only(t: &[&str]) -> bool {
    matches!(
        t,
        ["ip" | "ipv6", "prefix-list", ..]
            | [
                "bgp",
                "community-list" | "large-community-list" | "extcommunity-list",
                ..
            ]
            | ["bgp", "as-path", "access-list", ..]
            | ["bgp", "route-map", "delay-timer", ..]
            | ["access-list", ..]
            | ["ipv6", "access-list", ..]
            | ["frr", ..]
            | ["hostname", ..]
            | ["service", ..]
            | ["log", ..]
            | ["debug", ..]
            | ["agentx"]
            | ["password", ..]
            | ["enable", "password", ..]
            | ["ip" | "ipv6", "forwarding"]
            | ["no", "ip" | "ipv6", "forwarding"]
            | ["Building", "configuration..."]
            | ["Current", "configuration:"]
    )
}

/// The comparison form of one line, or `None` when the line carries nothing to compare
/// (ignored top-level lines, BFD values equal to FRR's defaults).
fn normalize_line(parent: Option<Ctx>, t: &[&str]) -> Option<String> {
    if parent.is_none() {
        match t {
            ["frr", ..] | ["hostname", ..] | ["service", "integrated-vtysh-config"] => return None,
            ["Building", "configuration..."] | ["Current", "configuration:"] => return None,
            _ => {}
        }
    }
    let canon: Vec<String> = t.iter().map(|x| canonical_token(x)).collect();
    let c: Vec<&str> = canon.iter().map(String::as_str).collect();
    match (parent, c.as_slice()) {
        (Some(Ctx::BfdProfile | Ctx::BfdPeer), l) if is_bfd_default(l) => None,
        (Some(Ctx::RouterBgp), ["neighbor", _, "port", "179"]) => None,
        (Some(Ctx::RouterBgp), ["neighbor", n, "ebgp-multihop"]) => {
            Some(format!("neighbor {n} ebgp-multihop 255"))
        }
        (Some(Ctx::RouterBgp), ["address-family", afi]) => {
            Some(format!("address-family {afi} unicast"))
        }
        (Some(Ctx::RouteMap), ["set", "community", values @ ..]) => {
            Some(format!("set community {}", canonical_communities(values)))
        }
        _ => Some(c.join(" ")),
    }
}

fn is_bfd_default(t: &[&str]) -> bool {
    matches!(
        t,
        ["receive-interval", "300"]
            | ["transmit-interval", "300"]
            | ["detect-multiplier", "3"]
            | ["echo", "receive-interval", "50"]
            | ["echo", "transmit-interval", "50"]
            | ["echo-interval", "50"]
            | ["minimum-ttl", "254"]
            | ["no", "echo-mode"]
            | ["no", "passive-mode"]
            | ["no", "shutdown"]
    )
}

/// BFD value that a removed line falls back to (BFD has no `no receive-interval`).
pub fn bfd_default_for(slot: &str) -> Option<&'static str> {
    Some(match slot {
        "receive-interval" => "receive-interval 300",
        "transmit-interval" => "transmit-interval 300",
        "detect-multiplier" => "detect-multiplier 3",
        "echo receive-interval" => "echo receive-interval 50",
        "echo transmit-interval" => "echo transmit-interval 50",
        "echo-interval" => "echo-interval 50",
        "minimum-ttl" => "minimum-ttl 254",
        _ => return None,
    })
}

/// Addresses and prefixes as FRR prints them: compressed IPv6, prefixes masked.
fn canonical_token(t: &str) -> String {
    if t.contains('/') {
        if let Ok(net) = t.parse::<IpNet>() {
            return net.trunc().to_string();
        }
    } else if t.contains(['.', ':']) {
        if let Ok(ip) = t.parse::<IpAddr>() {
            return ip.to_string();
        }
    }
    t.to_string()
}

const WELL_KNOWN: [(&str, u32); 15] = [
    ("internet", 0),
    ("graceful-shutdown", 0xFFFF_0000),
    ("accept-own", 0xFFFF_0001),
    ("route-filter-translated-v4", 0xFFFF_0002),
    ("route-filter-v4", 0xFFFF_0003),
    ("route-filter-translated-v6", 0xFFFF_0004),
    ("route-filter-v6", 0xFFFF_0005),
    ("llgr-stale", 0xFFFF_0006),
    ("no-llgr", 0xFFFF_0007),
    ("accept-own-nexthop", 0xFFFF_0008),
    ("blackhole", 0xFFFF_029A),
    ("no-export", 0xFFFF_FF01),
    ("no-advertise", 0xFFFF_FF02),
    ("local-AS", 0xFFFF_FF03),
    ("no-peer", 0xFFFF_FF04),
];

/// `set community` values: numeric, sorted, de-duplicated, flags (`additive`) last.
fn canonical_communities(values: &[&str]) -> String {
    let mut nums: BTreeSet<u32> = BTreeSet::new();
    let mut words: Vec<String> = Vec::new();
    for v in values {
        let num = WELL_KNOWN
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(v))
            .map(|(_, n)| *n)
            .or_else(|| {
                let (a, b) = v.split_once(':')?;
                Some((a.parse::<u16>().ok()? as u32) << 16 | b.parse::<u16>().ok()? as u32)
            });
        match num {
            Some(n) => {
                nums.insert(n);
            }
            None => words.push(v.to_string()),
        }
    }
    let mut parts: Vec<String> = nums
        .iter()
        .map(|n| format!("{}:{}", n >> 16, n & 0xFFFF))
        .collect();
    parts.extend(words);
    parts.join(" ")
}

/// What a line sets: lines with equal slots overwrite each other (see module doc).
pub fn slot_of(parent: Option<Ctx>, norm: &str) -> String {
    let t: Vec<&str> = norm.split(' ').collect();
    // `no X` and `X` set the same thing.
    let t = match t.as_slice() {
        ["no", rest @ ..] if !rest.is_empty() => rest.to_vec(),
        _ => t,
    };
    let join = |n: usize| t[..n.min(t.len())].join(" ");
    match (parent, t.as_slice()) {
        // Top level.
        (None, ["router", "bgp", _, "vrf", v]) => format!("router bgp vrf {v}"),
        (None, ["router", "bgp", ..]) => "router bgp".into(),
        (None, ["route-map", name, _, seq]) => format!("route-map {name} {seq}"),
        (None, ["ip" | "ipv6", "prefix-list", _, "seq", _, ..]) => join(5),
        (None, ["bgp", "route-map", "delay-timer", ..]) => join(3),
        (None, ["ip" | "ipv6", "forwarding"]) => join(2),
        (None, ["log", "syslog" | "stdout" | "file" | "monitor", ..]) => join(2),
        (None, ["log", "timestamp", "precision", ..]) => join(3),
        // router bgp.
        (Some(Ctx::RouterBgp), ["neighbor", n, "timers", "connect", ..]) => {
            format!("neighbor {n} timers connect")
        }
        (Some(Ctx::RouterBgp), ["neighbor", n, "bfd", "profile", ..]) => {
            format!("neighbor {n} bfd profile")
        }
        (
            Some(Ctx::RouterBgp),
            ["neighbor", _, "remote-as"
            | "timers"
            | "password"
            | "update-source"
            | "port"
            | "ebgp-multihop"
            | "ttl-security"
            | "local-as"
            | "description"
            | "advertisement-interval"
            | "solo"
            | "ttl"
            | "interface", ..],
        ) => join(3),
        // `neighbor X peer-group G` (membership) vs `neighbor G peer-group` (definition).
        (Some(Ctx::RouterBgp), ["neighbor", _, "peer-group", _]) => join(3),
        (Some(Ctx::RouterBgp), ["bgp", "router-id", ..]) => join(2),
        (Some(Ctx::RouterBgp), ["bgp", "cluster-id", ..]) => join(2),
        (Some(Ctx::RouterBgp), ["timers", "bgp", ..]) => join(2),
        (Some(Ctx::RouterBgp), ["coalesce-time", ..]) => join(1),
        (
            Some(Ctx::RouterBgp),
            ["bgp", "graceful-restart", "restart-time" | "stalepath-time" | "select-defer-time", ..],
        ) => join(3),
        // address-family.
        (
            Some(Ctx::AddressFamily),
            ["neighbor", n, kind @ ("route-map" | "prefix-list" | "filter-list" | "distribute-list"), _, dir],
        ) => {
            format!("neighbor {n} {kind} {dir}")
        }
        (
            Some(Ctx::AddressFamily),
            ["neighbor", _, "maximum-prefix"
            | "allowas-in"
            | "weight"
            | "default-originate"
            | "unsuppress-map"
            | "attribute-unchanged", ..],
        ) => join(3),
        (Some(Ctx::AddressFamily), ["maximum-paths", "ibgp", ..]) => join(2),
        (Some(Ctx::AddressFamily), ["maximum-paths", ..]) => join(1),
        (Some(Ctx::AddressFamily), ["distance", "bgp", ..]) => join(2),
        (Some(Ctx::AddressFamily), ["network", prefix, ..]) => format!("network {prefix}"),
        // route-map entries.
        (Some(Ctx::RouteMap), ["set", "extcommunity", kind, ..]) => {
            format!("set extcommunity {kind}")
        }
        (Some(Ctx::RouteMap), ["set", "as-path", kind, ..]) => format!("set as-path {kind}"),
        (Some(Ctx::RouteMap), ["set", "ip" | "ipv6", "next-hop", ..]) => join(3),
        (Some(Ctx::RouteMap), ["set", attr, ..]) => format!("set {attr}"),
        (Some(Ctx::RouteMap), ["match", "ip" | "ipv6", _, "prefix-list", ..]) => join(4),
        (Some(Ctx::RouteMap), ["match", "ip" | "ipv6", ..]) => join(3),
        (Some(Ctx::RouteMap), ["match", attr, ..]) => format!("match {attr}"),
        (Some(Ctx::RouteMap), ["on-match" | "call" | "description" | "continue", ..]) => join(1),
        // BFD.
        (Some(Ctx::BfdProfile | Ctx::BfdPeer), ["echo", kind, _]) => format!("echo {kind}"),
        (
            Some(Ctx::BfdProfile | Ctx::BfdPeer),
            ["receive-interval" | "transmit-interval" | "detect-multiplier" | "echo-interval"
            | "minimum-ttl", ..],
        ) => join(1),
        (Some(Ctx::BfdProfile | Ctx::BfdPeer), ["echo-mode" | "passive-mode" | "shutdown"]) => {
            join(1)
        }
        _ => t.join(" "),
    }
}

fn post_process(config: &mut Config) {
    for l in config.lines.iter_mut() {
        if l.ctx == Some(Ctx::RouterBgp) {
            router_bgp_rules(l);
        }
    }
    prefix_list_sequences(&mut config.lines);
    drop_empty(&mut config.lines);
    dedupe(&mut config.lines);
}

fn router_bgp_rules(router: &mut Line) {
    let default_ipv4 = !router
        .children
        .iter()
        .any(|c| c.norm == "no bgp default ipv4-unicast");
    // `neighbor X bfd profile P` shows up with its implied `neighbor X bfd`.
    let implied: Vec<Line> = router
        .children
        .iter()
        .filter_map(|c| {
            let t: Vec<&str> = c.norm.split(' ').collect();
            match t.as_slice() {
                ["neighbor", n, "bfd", "profile", _] => {
                    let bfd = format!("neighbor {n} bfd");
                    let present = router.children.iter().any(|o| o.norm == bfd);
                    (!present).then(|| Line::leaf(bfd.clone(), bfd, Some(Ctx::RouterBgp)))
                }
                _ => None,
            }
        })
        .collect();
    router.children.extend(implied);
    if default_ipv4 {
        for af in router.children.iter_mut() {
            if af.ctx == Some(Ctx::AddressFamily) && af.norm == "address-family ipv4 unicast" {
                af.children.retain(|c| {
                    !matches!(
                        c.norm.split(' ').collect::<Vec<_>>().as_slice(),
                        ["neighbor", _, "activate"]
                    )
                });
            }
        }
    }
}

/// Give `ip prefix-list NAME permit P` (no `seq`) the sequence FRR would: the next
/// multiple of 5 above the highest so far in that list.
fn prefix_list_sequences(lines: &mut [Line]) {
    let mut highest: BTreeMap<(String, String), u64> = BTreeMap::new();
    for l in lines.iter_mut().filter(|l| l.ctx.is_none()) {
        let t: Vec<String> = l.norm.split(' ').map(str::to_string).collect();
        let (family, name) = match t.as_slice() {
            [f, p, name, ..] if (f == "ip" || f == "ipv6") && p == "prefix-list" => {
                (f.clone(), name.clone())
            }
            _ => continue,
        };
        let key = (family, name);
        if t.get(3).map(String::as_str) == Some("seq") {
            if let Some(seq) = t.get(4).and_then(|s| s.parse::<u64>().ok()) {
                let h = highest.entry(key).or_insert(0);
                *h = (*h).max(seq);
            }
            continue;
        }
        if !matches!(t.get(3).map(String::as_str), Some("permit" | "deny")) {
            continue;
        }
        let h = highest.entry(key).or_insert(0);
        let seq = (*h / 5) * 5 + 5;
        *h = seq;
        let rest = t[3..].join(" ");
        let norm = format!("{} prefix-list {} seq {seq} {rest}", t[0], t[2]);
        l.text = norm.clone();
        l.slot = slot_of(None, &norm);
        l.norm = norm;
    }
}

/// FRR does not show empty address families or an empty `line vty`.
fn drop_empty(lines: &mut Vec<Line>) {
    for l in lines.iter_mut() {
        drop_empty(&mut l.children);
    }
    lines.retain(|l| {
        !(l.children.is_empty() && matches!(l.ctx, Some(Ctx::AddressFamily | Ctx::LineVty)))
    });
}

/// Repeated lines (same norm) in one context count once; repeated contexts merge.
fn dedupe(lines: &mut Vec<Line>) {
    let mut out: Vec<Line> = Vec::with_capacity(lines.len());
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for l in lines.drain(..) {
        match index.get(&l.norm) {
            Some(&i) => out[i].children.extend(l.children),
            None => {
                index.insert(l.norm.clone(), out.len());
                out.push(l);
            }
        }
    }
    for l in out.iter_mut() {
        dedupe(&mut l.children);
    }
    *lines = out;
}

#[cfg(test)]
mod tests;
