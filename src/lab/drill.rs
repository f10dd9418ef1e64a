//! `ferrule-lab drill`: the article's failover drill on a lab that is up. One node that
//! announces a Service fails hard (its FRR frozen: nothing more is sent, as when a node
//! hangs or its link dies): a ToR with BFD drops its next hop within BFD's detection time;
//! one without keeps forwarding to it until the BGP hold time. Then, with the node back,
//! a drain: its last endpoint removed from the Service's EndpointSlice, and its next hop
//! leaves every ToR. The EndpointSlice is put back as it was afterwards.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::report::{route, service_ips};
use super::state::{Layout, NodeDirs};

/// How long a ToR without BFD is watched before it counts as "keeps it until hold time".
const BFD_WINDOW: Duration = Duration::from_secs(3);

/// Runs the drill; the report says each measured time.
pub fn drill(layout: &Layout) -> Result<String, String> {
    let tors: Vec<&NodeDirs> = layout.nodes.iter().filter(|n| n.router).collect();
    let (service, ip) = service_ips(layout)
        .into_iter()
        .find_map(|(s, ips)| Some((s, ips.into_iter().next()?)))
        .ok_or("no Service has an address yet")?;
    bfd_settled(layout, Duration::from_secs(15))?;
    let hops = |t: &NodeDirs| route(t, &ip).1;
    let before: BTreeMap<&str, BTreeSet<String>> =
        tors.iter().map(|t| (t.name.as_str(), hops(t))).collect();
    // The victim: a speaker node that is a next hop somewhere (its addresses from its
    // namespace), the last by name.
    let (victim, addrs) = layout
        .nodes
        .iter()
        .rev()
        .filter(|n| n.status.is_some())
        .find_map(|n| {
            let a = addresses(n);
            before
                .values()
                .any(|h| h.iter().any(|x| a.contains(x)))
                .then_some((n, a))
        })
        .ok_or_else(|| format!("no node is a next hop for {service} ({ip}): {before:?}"))?;
    let mut out = format!(
        "drill on {service} ({ip}): next hops {before:?}; failing {}\n",
        victim.name
    );
    let gone = |t: &NodeDirs| !hops(t).iter().any(|h| addrs.contains(h));

    // 1. Hard failure.
    let pids: Vec<i32> = ["bfdd", "bgpd"]
        .iter()
        .filter_map(|d| pid(victim, d))
        .collect();
    signal(&pids, Signal::SIGSTOP)?;
    let t = Instant::now();
    let lost = watch(&tors, BFD_WINDOW, &gone);
    signal(&pids, Signal::SIGCONT)?;
    for tor in &tors {
        match lost.get(tor.name.as_str()) {
            Some(d) => out.push_str(&format!(
                "  hard failure: {}'s next hop gone at {} after {:.0} ms (BFD)\n",
                victim.name,
                tor.name,
                d.as_secs_f64() * 1000.0
            )),
            None => out.push_str(&format!(
                "  hard failure: {} still forwards to {} after {:.1} s (no BFD: until its hold time)\n",
                tor.name,
                victim.name,
                t.elapsed().as_secs_f64()
            )),
        }
    }
    wait_back(&tors, &before, &hops, Duration::from_secs(60))?;

    // 2. Drain.
    let (file, original, drained) = drained_slice(victim)?;
    replace(&file, &drained)?;
    let t = Instant::now();
    let left = watch(&tors, Duration::from_secs(10), &gone);
    replace(&file, &original)?;
    for tor in &tors {
        match left.get(tor.name.as_str()) {
            Some(d) => out.push_str(&format!(
                "  drain: {}'s last endpoint removed, next hop gone at {} after {:.0} ms\n",
                victim.name,
                tor.name,
                d.as_secs_f64() * 1000.0
            )),
            None => out.push_str(&format!(
                "  drain: {} still has {} after {:.1} s\n",
                tor.name,
                victim.name,
                t.elapsed().as_secs_f64()
            )),
        }
    }
    wait_back(&tors, &before, &hops, Duration::from_secs(30))?;
    out.push_str("  restored: the EndpointSlice as it was, every next hop back\n");
    if left.len() != tors.len() {
        return Err(format!("{out}the drain did not reach every ToR"));
    }
    Ok(out)
}

/// Waits until every session the speakers run with BFD has BFD up (right after `up` it may
/// not be yet, and the hard failure would then show the hold time, not BFD).
fn bfd_settled(layout: &Layout, limit: Duration) -> Result<(), String> {
    let t = Instant::now();
    loop {
        let pending: Vec<String> = layout
            .nodes
            .iter()
            .filter_map(|n| n.status.as_ref())
            .flat_map(|s| {
                std::fs::read_dir(s.join("bgpsessions"))
                    .into_iter()
                    .flatten()
            })
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .filter(|y| {
                y.lines()
                    .filter_map(|l| l.trim().strip_prefix("bfd: "))
                    .any(|b| b != "up")
            })
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        if t.elapsed() > limit {
            return Err(format!(
                "BFD not up on {} sessions after {limit:?}",
                pending.len()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The node's IPv4 addresses (in its namespace).
fn addresses(n: &NodeDirs) -> BTreeSet<String> {
    let Ok(o) = std::process::Command::new("ip")
        .args(["-n", &n.ns, "-4", "-j", "addr", "show"])
        .output()
    else {
        return BTreeSet::new();
    };
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    v.as_array()
        .into_iter()
        .flatten()
        .flat_map(|i| i["addr_info"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["local"].as_str().map(str::to_string))
        .collect()
}

fn pid(n: &NodeDirs, daemon: &str) -> Option<i32> {
    std::fs::read_to_string(n.run.join(format!("{daemon}.pid")))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn signal(pids: &[i32], s: Signal) -> Result<(), String> {
    for &p in pids {
        kill(Pid::from_raw(p), s).map_err(|e| format!("{s} to {p}: {e}"))?;
    }
    Ok(())
}

/// Polls every 5 ms for up to `limit`: when `done` first held at each ToR.
fn watch<'a>(
    tors: &[&'a NodeDirs],
    limit: Duration,
    done: &dyn Fn(&NodeDirs) -> bool,
) -> BTreeMap<&'a str, Duration> {
    let t = Instant::now();
    let mut at = BTreeMap::new();
    while t.elapsed() < limit && at.len() < tors.len() {
        for tor in tors {
            if !at.contains_key(tor.name.as_str()) && done(tor) {
                at.insert(tor.name.as_str(), t.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    at
}

fn wait_back(
    tors: &[&NodeDirs],
    before: &BTreeMap<&str, BTreeSet<String>>,
    hops: &dyn Fn(&NodeDirs) -> BTreeSet<String>,
    limit: Duration,
) -> Result<(), String> {
    let t = Instant::now();
    while t.elapsed() < limit {
        if tors
            .iter()
            .all(|tor| hops(tor) == before[tor.name.as_str()])
        {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!("the next hops did not come back within {limit:?}"))
}

/// The manifest file with an EndpointSlice endpoint on the victim: (path, its text, the
/// text without the victim's endpoints).
fn drained_slice(victim: &NodeDirs) -> Result<(PathBuf, String, String), String> {
    let dir = victim
        .source
        .as_ref()
        .ok_or_else(|| format!("{}: no manifests directory", victim.name))?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let mut docs: Vec<serde_yaml::Value> = Vec::new();
        let mut touched = false;
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let mut v: serde_yaml::Value = serde::Deserialize::deserialize(doc)
                .map_err(|e| format!("{}: {e}", file.display()))?;
            if v["kind"].as_str() == Some("EndpointSlice") {
                if let Some(eps) = v
                    .get_mut("endpoints")
                    .and_then(serde_yaml::Value::as_sequence_mut)
                {
                    let n = eps.len();
                    eps.retain(|e| e["nodeName"].as_str() != Some(victim.name.as_str()));
                    touched |= eps.len() != n;
                }
            }
            docs.push(v);
        }
        if touched {
            let drained = docs
                .iter()
                .map(|d| serde_yaml::to_string(d).unwrap_or_default())
                .collect::<Vec<_>>()
                .join("---\n");
            return Ok((file, text, drained));
        }
    }
    Err(format!(
        "no EndpointSlice in {} has an endpoint on {}",
        dir.display(),
        victim.name
    ))
}

/// Replaces a file as a tool would: written aside, renamed over it.
fn replace(file: &Path, text: &str) -> Result<(), String> {
    let tmp = file.with_file_name(format!(
        ".{}.drill",
        file.file_name().unwrap_or_default().to_string_lossy()
    ));
    std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, file).map_err(|e| format!("{}: {e}", file.display()))
}
