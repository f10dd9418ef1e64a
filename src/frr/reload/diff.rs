//! Desired config tree vs running config tree -> the ordered vtysh batch that turns one into
//! the other, touching only what changed.
//!
//! Order (FRR accepts it, and no transient state withdraws or leaks routes):
//! 1. globals, then definitions that others refer to — prefix-lists, community/as-path
//!    lists, route-map entries, BFD profiles — are added or changed *before* anything uses
//!    them (an outbound route-map that does not exist yet denies everything);
//! 2. the users — `router bgp` (and interface/vrf blocks): removals first (a gone neighbor
//!    is one `no neighbor X`, never line by line), then additions and changes;
//! 3. definitions that are gone are removed *after* their users stopped referring to them
//!    (whole prefix-lists / route-maps in one command when nothing of them is left, else
//!    entry by entry: `no ip prefix-list P seq N permit X`, `no route-map RM permit N`);
//! 4. `network P route-map RM` lines whose RM changed are re-sent unchanged: that
//!    re-originates P with the new attributes (FRR does not re-run the map by itself);
//! 5. exec mode: `clear bgp [vrf V] <afi> unicast X soft out` (and `soft in`) for every
//!    neighbor whose policy changed, because with `bgp route-map delay-timer 0` FRR never
//!    re-applies a changed route-map by itself, and with the default timer it waits ~5 s.
//!    FRR 8.4 still delays the re-announcement by a fixed 100 ms
//!    (`BGP_ANNOUNCE_ROUTE_SHORT_DELAY_MS`; 500 ms when the peer shares an update group),
//!    which is why attributes set at origination reach the peer faster than outbound ones.
//!
//! Lines are compared by slot (see [`super::config`]): an unchanged line is never re-sent,
//! a changed value is overwritten in place (no `no` first, so `neighbor X bfd` or a
//! session-level setting is never removed and re-added).

use std::collections::{BTreeMap, BTreeSet};

use super::config::{bfd_default_for, Config, Ctx, Line};

/// The commands for one apply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// Config-mode commands in order, starting at the `configure terminal` node, with the
    /// context-entering and `exit` lines they need.
    pub config: Vec<String>,
    /// Exec-mode commands to run after the config (soft clears).
    pub exec: Vec<String>,
    /// How many config commands change something (navigation not counted).
    pub changes: usize,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.config.is_empty() && self.exec.is_empty()
    }

    /// Every command sent (config then exec).
    pub fn commands(&self) -> impl Iterator<Item = &String> {
        self.config.iter().chain(self.exec.iter())
    }
}

/// One change: run `cmd` in the node reached by entering `path` (openers, outermost first).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Step {
    path: Vec<(String, Ctx)>,
    cmd: String,
    /// Running `cmd` enters this context (an opener being added).
    enters: Option<Ctx>,
}

/// What changed, for deciding which neighbors need a soft clear.
#[derive(Default)]
struct Touched {
    route_maps: BTreeSet<String>,
    lists: BTreeSet<String>,
    /// (router opener norm, afi/safi, neighbor, direction) whose policy line changed.
    policy_lines: BTreeSet<(String, String, String, String)>,
}

pub fn diff(desired: &Config, running: &Config) -> Batch {
    let mut steps: Vec<Step> = Vec::new();
    let mut touched = Touched::default();
    let root: Vec<(String, Ctx)> = Vec::new();

    let d = &desired.lines;
    let r = &running.lines;
    let is = |l: &&Line, cat: Cat| category(l) == cat;

    // 1. globals and definitions: additions and changes.
    let globals_d: Vec<&Line> = d.iter().filter(|l| is(l, Cat::Global)).collect();
    let globals_r: Vec<&Line> = r.iter().filter(|l| is(l, Cat::Global)).collect();
    let (adds, global_removes) = diff_flat(&root, &globals_d, &globals_r);
    steps.extend(adds);
    let lists_d: Vec<&Line> = d.iter().filter(|l| is(l, Cat::List)).collect();
    let lists_r: Vec<&Line> = r.iter().filter(|l| is(l, Cat::List)).collect();
    let (adds, list_removes) = diff_flat(&root, &lists_d, &lists_r);
    for s in &adds {
        if let Some(n) = list_name(&s.cmd) {
            touched.lists.insert(n);
        }
    }
    steps.extend(adds);
    let desired_lists: BTreeSet<String> =
        lists_d.iter().filter_map(|l| list_name(&l.norm)).collect();
    let dm: Vec<&Line> = d.iter().filter(|l| is(l, Cat::RouteMap)).collect();
    let rm: Vec<&Line> = r.iter().filter(|l| is(l, Cat::RouteMap)).collect();
    let (mut rm_adds, rm_removes) = diff_route_maps(&dm, &rm, &mut touched);
    steps.append(&mut rm_adds);
    let db: Vec<&Line> = d.iter().filter(|l| is(l, Cat::Bfd)).collect();
    let rb: Vec<&Line> = r.iter().filter(|l| is(l, Cat::Bfd)).collect();
    let (mut bfd_adds, bfd_removes) = diff_bfd(&db, &rb);
    steps.append(&mut bfd_adds);

    // 2. users.
    let du: Vec<&Line> = d.iter().filter(|l| is(l, Cat::User)).collect();
    let ru: Vec<&Line> = r.iter().filter(|l| is(l, Cat::User)).collect();
    diff_users(&du, &ru, &mut steps, &mut touched);

    // 3. definitions that are gone, users no longer refer to them.
    steps.extend(rm_removes);
    steps.extend(list_removals(&list_removes, &desired_lists, &mut touched));
    steps.extend(bfd_removes);
    steps.extend(global_removes);

    let affected = affected_route_maps(desired, &touched);
    reoriginate(desired, &affected, &mut steps);
    let exec = soft_clears(desired, running, &touched, &affected);
    render(&steps, exec)
}

/// Step 4: `network P route-map RM` whose RM changed. FRR (with `bgp route-map delay-timer
/// 0`) does not re-run it by itself, and a soft clear does not either (it only re-runs
/// outbound policy). Re-sending the unchanged `network` line re-originates P with the new
/// attributes at once (~40 ms in the lab, no withdraw).
fn reoriginate(desired: &Config, affected: &BTreeSet<String>, steps: &mut Vec<Step>) {
    if affected.is_empty() {
        return;
    }
    let sent: BTreeSet<(Vec<(String, Ctx)>, String)> = steps
        .iter()
        .map(|s| (s.path.clone(), s.cmd.clone()))
        .collect();
    for router in desired
        .lines
        .iter()
        .filter(|l| l.ctx == Some(Ctx::RouterBgp))
    {
        let rpath = enter(&[], router);
        for af in router
            .children
            .iter()
            .filter(|c| c.ctx == Some(Ctx::AddressFamily))
        {
            let path = enter(&rpath, af);
            for c in &af.children {
                let t: Vec<&str> = c.norm.split(' ').collect();
                if let ["network", _, "route-map", rm, ..] = t.as_slice() {
                    if affected.contains(*rm) && !sent.contains(&(path.clone(), c.text.clone())) {
                        steps.push(step(&path, &c.text));
                    }
                }
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cat {
    Global,
    List,
    RouteMap,
    Bfd,
    User,
}

fn category(l: &Line) -> Cat {
    match l.ctx {
        Some(Ctx::RouteMap) => Cat::RouteMap,
        Some(Ctx::Bfd) => Cat::Bfd,
        Some(_) => Cat::User,
        None => {
            let t: Vec<&str> = l.norm.split(' ').collect();
            match t.as_slice() {
                ["ip" | "ipv6", "prefix-list", ..]
                | ["bgp", "community-list" | "large-community-list" | "extcommunity-list", ..]
                | ["bgp", "as-path", "access-list", ..]
                | ["access-list", ..]
                | ["ipv6", "access-list", ..] => Cat::List,
                _ => Cat::Global,
            }
        }
    }
}

/// The name of the list a top-level list line belongs to.
fn list_name(norm: &str) -> Option<String> {
    let t: Vec<&str> = norm.split(' ').collect();
    let t = match t.as_slice() {
        ["no", rest @ ..] => rest.to_vec(),
        _ => t,
    };
    match t.as_slice() {
        ["ip" | "ipv6", "prefix-list", name, ..] => Some(name.to_string()),
        ["bgp", "community-list" | "large-community-list" | "extcommunity-list", "standard" | "expanded", name, ..] => {
            Some(name.to_string())
        }
        ["bgp", "community-list" | "large-community-list" | "extcommunity-list", name, ..] => {
            Some(name.to_string())
        }
        ["bgp", "as-path", "access-list", name, ..] => Some(name.to_string()),
        ["access-list", name, ..] | ["ipv6", "access-list", name, ..] => Some(name.to_string()),
        _ => None,
    }
}

/// The command that undoes `line` (a leaf or a whole context).
fn removal(line: &Line) -> Option<String> {
    if line.unmanaged() {
        return None;
    }
    if let Some(default) = bfd_default_for(&line.slot) {
        return Some(default.to_string());
    }
    Some(match line.norm.strip_prefix("no ") {
        Some(positive) => positive.to_string(),
        None => format!("no {}", line.text),
    })
}

fn by_slot<'a>(lines: &[&'a Line]) -> BTreeMap<&'a str, &'a Line> {
    // A repeated slot: FRR keeps the last one.
    lines.iter().map(|l| (l.slot.as_str(), *l)).collect()
}

/// Leaves (top level globals or list entries): (additions/changes, removals).
fn diff_flat(
    path: &[(String, Ctx)],
    desired: &[&Line],
    running: &[&Line],
) -> (Vec<Step>, Vec<Step>) {
    let dmap = by_slot(desired);
    let rmap = by_slot(running);
    let mut adds = Vec::new();
    for l in desired {
        match rmap.get(l.slot.as_str()) {
            Some(r) if r.norm == l.norm => {}
            _ => adds.push(step(path, &l.text)),
        }
    }
    let mut removes = Vec::new();
    for l in running.iter().rev() {
        if !dmap.contains_key(l.slot.as_str()) {
            if let Some(cmd) = removal(l) {
                removes.push(step(path, &cmd));
            }
        }
    }
    (adds, removes)
}

fn step(path: &[(String, Ctx)], cmd: &str) -> Step {
    Step {
        path: path.to_vec(),
        cmd: cmd.to_string(),
        enters: None,
    }
}

fn enter(path: &[(String, Ctx)], line: &Line) -> Vec<(String, Ctx)> {
    let mut p = path.to_vec();
    p.push((line.text.clone(), line.ctx.unwrap_or(Ctx::Other)));
    p
}

/// Add a whole line (a context with all its children).
fn add_all(path: &[(String, Ctx)], line: &Line, out: &mut Vec<Step>) {
    out.push(Step {
        path: path.to_vec(),
        cmd: line.text.clone(),
        enters: line.ctx,
    });
    if line.is_context() {
        let inner = enter(path, line);
        for c in &line.children {
            add_all(&inner, c, out);
        }
    }
}

/// Generic recursive diff of one context's children: removals first (reverse running
/// order), then additions and changes (desired order).
fn diff_level(
    path: &[(String, Ctx)],
    desired: &[Line],
    running: &[Line],
    skip_removal: &dyn Fn(&Line) -> bool,
    out: &mut Vec<Step>,
) {
    let d: Vec<&Line> = desired.iter().collect();
    let r: Vec<&Line> = running.iter().collect();
    let dmap = by_slot(&d);
    let rmap = by_slot(&r);
    for l in running.iter().rev() {
        if dmap.contains_key(l.slot.as_str()) || skip_removal(l) {
            continue;
        }
        remove_line(path, l, out);
    }
    for l in desired {
        match rmap.get(l.slot.as_str()) {
            None => add_all(path, l, out),
            Some(r) if r.norm == l.norm => {
                if l.is_context() {
                    diff_level(&enter(path, l), &l.children, &r.children, skip_removal, out);
                }
            }
            Some(r) => {
                if l.is_context() {
                    // Same slot, different opener (route-map action, router AS): replace.
                    remove_line(path, r, out);
                    add_all(path, l, out);
                } else {
                    out.push(step(path, &l.text));
                }
            }
        }
    }
}

fn remove_line(path: &[(String, Ctx)], l: &Line, out: &mut Vec<Step>) {
    if l.ctx == Some(Ctx::AddressFamily) {
        // No `no address-family`: empty it line by line.
        let inner = enter(path, l);
        for c in l.children.iter().rev() {
            remove_line(&inner, c, out);
        }
        return;
    }
    if let Some(cmd) = removal(l) {
        out.push(step(path, &cmd));
    }
}

/// Route-maps: (additions/changes, removals). Entries are contexts keyed by name+seq.
fn diff_route_maps(
    desired: &[&Line],
    running: &[&Line],
    touched: &mut Touched,
) -> (Vec<Step>, Vec<Step>) {
    let root: Vec<(String, Ctx)> = Vec::new();
    let name = |l: &Line| l.norm.split(' ').nth(1).unwrap_or_default().to_string();
    let dmap = by_slot(desired);
    let rmap = by_slot(running);
    let mut adds = Vec::new();
    for l in desired {
        let before = adds.len();
        match rmap.get(l.slot.as_str()) {
            None => add_all(&root, l, &mut adds),
            Some(r) if r.norm == l.norm => diff_level(
                &enter(&root, l),
                &l.children,
                &r.children,
                &|_| false,
                &mut adds,
            ),
            Some(r) => {
                adds.push(step(&root, &removal(r).unwrap_or_default()));
                add_all(&root, l, &mut adds);
            }
        }
        if adds.len() > before {
            touched.route_maps.insert(name(l));
        }
    }
    let desired_names: BTreeSet<String> = desired.iter().map(|l| name(l)).collect();
    let mut removes = Vec::new();
    let mut whole: BTreeSet<String> = BTreeSet::new();
    for l in running.iter().rev() {
        if dmap.contains_key(l.slot.as_str()) {
            continue;
        }
        let n = name(l);
        touched.route_maps.insert(n.clone());
        if desired_names.contains(&n) {
            removes.push(step(&root, &removal(l).unwrap_or_default()));
        } else if whole.insert(n.clone()) {
            removes.push(step(&root, &format!("no route-map {n}")));
        }
    }
    (adds, removes)
}

/// Removals of list entries; a prefix-list with nothing left goes in one command.
fn list_removals(
    removes: &[Step],
    desired_lists: &BTreeSet<String>,
    touched: &mut Touched,
) -> Vec<Step> {
    let root: Vec<(String, Ctx)> = Vec::new();
    let mut out = Vec::new();
    let mut whole: BTreeSet<(String, String)> = BTreeSet::new();
    for s in removes {
        let Some(name) = list_name(&s.cmd) else {
            out.push(s.clone());
            continue;
        };
        touched.lists.insert(name.clone());
        let t: Vec<&str> = s.cmd.split(' ').collect();
        match t.as_slice() {
            ["no", family @ ("ip" | "ipv6"), "prefix-list", ..]
                if !desired_lists.contains(&name) =>
            {
                if whole.insert((family.to_string(), name.clone())) {
                    out.push(step(&root, &format!("no {family} prefix-list {name}")));
                }
            }
            _ => out.push(s.clone()),
        }
    }
    out
}

/// BFD: (additions/changes incl. inside profiles, removals of profiles / the block).
fn diff_bfd(desired: &[&Line], running: &[&Line]) -> (Vec<Step>, Vec<Step>) {
    let root: Vec<(String, Ctx)> = Vec::new();
    let mut adds = Vec::new();
    let mut removes = Vec::new();
    match (desired.first(), running.first()) {
        (None, None) => {}
        (Some(d), None) => add_all(&root, d, &mut adds),
        (None, Some(r)) => {
            if let Some(cmd) = removal(r) {
                removes.push(step(&root, &cmd));
            }
        }
        (Some(d), Some(r)) => {
            let path = enter(&root, d);
            // Profiles/peers that go are removed after the neighbors stop using them.
            diff_level(
                &path,
                &d.children,
                &r.children,
                &|l| l.ctx.is_some(),
                &mut adds,
            );
            let keep: BTreeSet<&str> = d.children.iter().map(|c| c.slot.as_str()).collect();
            for c in r.children.iter().rev() {
                if c.ctx.is_some() && !keep.contains(c.slot.as_str()) {
                    remove_line(&path, c, &mut removes);
                }
            }
        }
    }
    (adds, removes)
}

/// `router bgp`, interfaces, vrfs and other blocks.
fn diff_users(desired: &[&Line], running: &[&Line], out: &mut Vec<Step>, touched: &mut Touched) {
    let root: Vec<(String, Ctx)> = Vec::new();
    let dmap = by_slot(desired);
    let rmap = by_slot(running);
    // Whole blocks that go: VRF routers before the default one (FRR refuses the other order).
    let mut gone: Vec<&Line> = running
        .iter()
        .filter(|l| !dmap.contains_key(l.slot.as_str()))
        .copied()
        .collect();
    gone.sort_by_key(|l| (l.slot == "router bgp", l.slot.clone()));
    for l in gone {
        remove_line(&root, l, out);
    }
    for l in desired {
        match rmap.get(l.slot.as_str()) {
            None => add_all(&root, l, out),
            Some(r) if r.norm != l.norm => {
                remove_line(&root, r, out);
                add_all(&root, l, out);
            }
            Some(r) if l.ctx == Some(Ctx::RouterBgp) => diff_router(l, r, out, touched),
            Some(r) => diff_level(&enter(&root, l), &l.children, &r.children, &|_| false, out),
        }
    }
}

/// The neighbor a `neighbor X ...` line is about.
fn neighbor_of(l: &Line) -> Option<&str> {
    let mut t = l.norm.split(' ');
    match (t.next(), t.next()) {
        (Some("neighbor"), Some(n)) => Some(n),
        (Some("no"), Some("neighbor")) => t.next(),
        _ => None,
    }
}

fn diff_router(d: &Line, r: &Line, out: &mut Vec<Step>, touched: &mut Touched) {
    let path = enter(&[], d);
    let wanted: BTreeSet<&str> = d.children.iter().filter_map(neighbor_of).collect();
    let had: BTreeSet<&str> = r.children.iter().filter_map(neighbor_of).collect();
    let gone: BTreeSet<String> = had.difference(&wanted).map(|s| s.to_string()).collect();
    // A neighbor that goes is one command; none of its own lines are touched.
    let mut groups_gone = Vec::new();
    for n in &gone {
        let is_group = r
            .children
            .iter()
            .any(|c| c.norm == format!("neighbor {n} peer-group"));
        if is_group {
            groups_gone.push(format!("no neighbor {n} peer-group"));
        } else {
            out.push(step(&path, &format!("no neighbor {n}")));
        }
    }
    for g in groups_gone {
        out.push(step(&path, &g));
    }
    let skip = |l: &Line| neighbor_of(l).is_some_and(|n| gone.contains(n));
    let before = out.len();
    diff_level(&path, &d.children, &r.children, &skip, out);
    // Outbound/inbound policy lines that changed (new route-map, other route-map).
    for s in &out[before..] {
        let t: Vec<&str> = s.cmd.split(' ').collect();
        let af = s
            .path
            .iter()
            .find(|(_, c)| *c == Ctx::AddressFamily)
            .map(|(text, _)| afi_of(text));
        if let (Some(afi), ["neighbor", n, "route-map" | "prefix-list" | "filter-list", _, dir]) =
            (af, t.as_slice())
        {
            if !gone.contains(*n) && wanted.contains(n) {
                touched
                    .policy_lines
                    .insert((d.norm.clone(), afi, n.to_string(), dir.to_string()));
            }
        }
    }
}

/// `address-family ipv4 unicast` -> `ipv4 unicast`.
fn afi_of(opener: &str) -> String {
    opener.trim_start_matches("address-family ").to_string()
}

/// (afi/safi, neighbor, direction, route-map) of every `neighbor X route-map RM in|out`.
fn route_map_users(router: &Line) -> Vec<(String, String, String, String)> {
    let mut v = Vec::new();
    for af in router
        .children
        .iter()
        .filter(|c| c.ctx == Some(Ctx::AddressFamily))
    {
        for c in &af.children {
            let t: Vec<&str> = c.norm.split(' ').collect();
            if let ["neighbor", n, "route-map", rm, dir @ ("in" | "out")] = t.as_slice() {
                v.push((
                    afi_of(&af.norm),
                    n.to_string(),
                    dir.to_string(),
                    rm.to_string(),
                ));
            }
        }
    }
    v
}

/// Route-maps affected by the change: touched ones, those matching touched lists, and
/// those calling affected ones (to a fixpoint).
fn affected_route_maps(desired: &Config, touched: &Touched) -> BTreeSet<String> {
    let mut maps: BTreeMap<String, Vec<&Line>> = BTreeMap::new();
    for l in desired
        .lines
        .iter()
        .filter(|l| l.ctx == Some(Ctx::RouteMap))
    {
        let name = l.norm.split(' ').nth(1).unwrap_or_default().to_string();
        maps.entry(name).or_default().extend(l.children.iter());
    }
    let mut affected: BTreeSet<String> = touched.route_maps.clone();
    for (name, lines) in &maps {
        let uses_list = lines.iter().any(|c| {
            c.norm.starts_with("match ") && c.norm.split(' ').any(|t| touched.lists.contains(t))
        });
        if uses_list {
            affected.insert(name.clone());
        }
    }
    loop {
        let mut grew = false;
        for (name, lines) in &maps {
            if affected.contains(name) {
                continue;
            }
            let calls = lines.iter().any(|c| {
                c.norm
                    .strip_prefix("call ")
                    .is_some_and(|callee| affected.contains(callee))
            });
            if calls {
                affected.insert(name.clone());
                grew = true;
            }
        }
        if !grew {
            return affected;
        }
    }
}

/// `clear bgp ... soft out|in` for established-or-not neighbors (FRR ignores it for a
/// session that is down) whose policy changed; neighbors new in this batch need none.
fn soft_clears(
    desired: &Config,
    running: &Config,
    touched: &Touched,
    affected: &BTreeSet<String>,
) -> Vec<String> {
    let mut clears: BTreeSet<(String, String, String, String)> = BTreeSet::new();
    for router in desired
        .lines
        .iter()
        .filter(|l| l.ctx == Some(Ctx::RouterBgp))
    {
        let Some(old) = running.lines.iter().find(|r| r.norm == router.norm) else {
            continue; // a new router has no session to refresh
        };
        let existed: BTreeSet<&str> = old.children.iter().filter_map(neighbor_of).collect();
        let vrf = match router.norm.split(' ').collect::<Vec<_>>().as_slice() {
            ["router", "bgp", _, "vrf", v] => format!("vrf {v} "),
            _ => String::new(),
        };
        for (afi, n, dir, rm) in route_map_users(router) {
            let policy_changed = touched.policy_lines.contains(&(
                router.norm.clone(),
                afi.clone(),
                n.clone(),
                dir.clone(),
            ));
            if existed.contains(n.as_str()) && (affected.contains(rm.as_str()) || policy_changed) {
                clears.insert((vrf.clone(), afi, n, dir));
            }
        }
    }
    clears
        .into_iter()
        .map(|(vrf, afi, n, dir)| format!("clear bgp {vrf}{afi} {n} soft {dir}"))
        .collect()
}

/// Turn steps into commands with the navigation between their nodes.
fn render(steps: &[Step], exec: Vec<String>) -> Batch {
    let mut config = Vec::new();
    let mut at: Vec<(String, Ctx)> = Vec::new();
    for s in steps {
        let common = at
            .iter()
            .zip(s.path.iter())
            .take_while(|(a, b)| a.0 == b.0)
            .count();
        while at.len() > common {
            let (_, ctx) = at.pop().expect("non-empty");
            config.push(ctx.exit_command().to_string());
        }
        for p in &s.path[common..] {
            config.push(p.0.clone());
            at.push(p.clone());
        }
        config.push(s.cmd.clone());
        if let Some(ctx) = s.enters {
            at.push((s.cmd.clone(), ctx));
        }
    }
    Batch {
        changes: steps.len(),
        config,
        exec,
    }
}

#[cfg(test)]
mod tests;
