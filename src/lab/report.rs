//! What the article's verification shows, read from a running lab: the Services' external
//! IPs (the speakers' ledgers), BGP and BFD per node and peer (the speakers' status
//! tables), and each ToR's route to each Service IP with its next hops and communities
//! (the ToR's zebra and bgpd, straight over their vty sockets).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read as _, Write as _};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::state::{Layout, NodeDirs};
use crate::speaker::table::format_table;

/// One command to one daemon's vty socket (FRR's protocol: command and NUL; the answer
/// ends with three NULs and a status byte).
pub fn vty(run: &Path, daemon: &str, cmd: &str) -> Result<String, String> {
    let path = run.join(format!("{daemon}.vty"));
    let mut s = std::os::unix::net::UnixStream::connect(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    s.write_all(cmd.as_bytes())
        .and_then(|()| s.write_all(&[0]))
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        let n = s.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err(format!("{daemon} closed the vty"));
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() >= 4 && buf[buf.len() - 4..buf.len() - 1] == [0, 0, 0] {
            let status = buf[buf.len() - 1];
            buf.truncate(buf.len() - 4);
            let text = String::from_utf8_lossy(&buf).into_owned();
            return if status == 0 { Ok(text) } else { Err(text) };
        }
    }
}

pub fn vty_json(run: &Path, daemon: &str, cmd: &str) -> Result<Value, String> {
    let text = vty(run, daemon, cmd)?;
    serde_json::from_str(&text).map_err(|e| format!("`{cmd}`: {e}: {text}"))
}

/// The ToR's BGP peers (IPv4 unicast) and their states.
pub fn peers(tor: &NodeDirs) -> Result<BTreeMap<String, String>, String> {
    let v = vty_json(&tor.run, "bgpd", "show bgp summary json")?;
    Ok(v["ipv4Unicast"]["peers"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, p)| (k.clone(), p["state"].as_str().unwrap_or("?").to_string()))
                .collect()
        })
        .unwrap_or_default())
}

/// Polls until every ToR has `expected` peers, all Established; when each got there.
pub fn wait_sessions(
    layout: &Layout,
    expected: usize,
    limit: Duration,
) -> Result<Vec<(String, Duration)>, String> {
    let start = Instant::now();
    let mut done: BTreeMap<String, Duration> = BTreeMap::new();
    let tors: Vec<&NodeDirs> = layout.nodes.iter().filter(|n| n.router).collect();
    loop {
        let mut last = BTreeMap::new();
        for t in &tors {
            if done.contains_key(&t.name) {
                continue;
            }
            let p = peers(t).unwrap_or_default();
            let up = p.values().filter(|s| *s == "Established").count();
            if up >= expected {
                done.insert(t.name.clone(), start.elapsed());
            } else {
                last.insert(t.name.clone(), p);
            }
        }
        if done.len() == tors.len() {
            return Ok(tors
                .iter()
                .map(|t| (t.name.clone(), done[&t.name]))
                .collect());
        }
        if start.elapsed() >= limit {
            return Err(format!(
                "after {limit:?} not every ToR has {expected} Established sessions: {last:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls until every Service address the speakers handed out has a BGP route at every
/// ToR, and every speaker reports its sessions Established, so what `status` prints right
/// after `up` is the lab at rest; how long that took.
pub fn wait_announced(layout: &Layout, limit: Duration) -> Result<Duration, String> {
    let start = Instant::now();
    let tors: Vec<&NodeDirs> = layout.nodes.iter().filter(|n| n.router).collect();
    loop {
        let ips: BTreeSet<String> = service_ips(layout).into_values().flatten().collect();
        let mut missing: Vec<String> = Vec::new();
        if ips.is_empty() {
            missing.push("no Service address handed out yet".into());
        }
        for t in &tors {
            for ip in &ips {
                if route(t, ip).0 != "bgp" {
                    missing.push(format!("{ip} at {}", t.name));
                }
            }
        }
        for n in &layout.nodes {
            let Some(status) = &n.status else { continue };
            let sessions: Vec<String> = std::fs::read_dir(status.join("bgpsessions"))
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .collect();
            if sessions.is_empty() || sessions.iter().any(|t| !t.contains("bgp: Established")) {
                missing.push(format!("{}'s status", n.name));
            }
        }
        if missing.is_empty() {
            return Ok(start.elapsed());
        }
        if start.elapsed() >= limit {
            return Err(format!(
                "after {limit:?} still waiting for: {}",
                missing.join(", ")
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `namespace/name` -> addresses, from every speaker's ledger.
pub fn service_ips(layout: &Layout) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for n in &layout.nodes {
        let Some(status) = &n.status else { continue };
        let Ok(text) = std::fs::read_to_string(status.join("ledger.json")) else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        for (svc, ips) in v["addresses"].as_object().into_iter().flatten() {
            let set = out.entry(svc.clone()).or_default();
            for ip in ips.as_array().into_iter().flatten() {
                if let Some(ip) = ip.as_str() {
                    set.insert(ip.to_string());
                }
            }
        }
    }
    out
}

/// A ToR's installed route to `ip`/32: protocol, next hops, and the communities of the
/// BGP paths (empty when there is no route).
pub fn route(tor: &NodeDirs, ip: &str) -> (String, BTreeSet<String>, BTreeSet<String>) {
    let prefix = format!("{ip}/32");
    let mut protocol = String::from("-");
    let mut hops = BTreeSet::new();
    if let Ok(v) = vty_json(&tor.run, "zebra", &format!("show ip route {prefix} json")) {
        for r in v[&prefix].as_array().into_iter().flatten() {
            if r["selected"] != true {
                continue;
            }
            protocol = r["protocol"].as_str().unwrap_or("?").to_string();
            for nh in r["nexthops"].as_array().into_iter().flatten() {
                if let Some(a) = nh["ip"].as_str() {
                    hops.insert(a.to_string());
                }
            }
        }
    }
    let mut communities = BTreeSet::new();
    if let Ok(v) = vty_json(
        &tor.run,
        "bgpd",
        &format!("show bgp ipv4 unicast {prefix} json"),
    ) {
        for p in v["paths"].as_array().into_iter().flatten() {
            if let Some(c) = p["community"]["string"].as_str() {
                communities.extend(c.split_whitespace().map(str::to_string));
            }
        }
    }
    (protocol, hops, communities)
}

fn join(s: &BTreeSet<String>) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s.iter().cloned().collect::<Vec<_>>().join(",")
    }
}

/// The whole verification as text.
pub fn status(layout: &Layout, now: i64) -> String {
    let mut out = String::new();
    let ips = service_ips(layout);
    let rows: Vec<Vec<String>> = ips
        .iter()
        .map(|(svc, set)| vec![svc.clone(), join(set)])
        .collect();
    out.push_str(&format_table(&["SERVICE", "EXTERNAL-IP"], &rows));
    for n in &layout.nodes {
        let Some(dir) = &n.status else { continue };
        out.push_str(&format!("\n== {} ({})\n", n.name, dir.display()));
        out.push_str(&crate::speaker::table::render(dir, now));
    }
    let mut rows = Vec::new();
    for t in layout.nodes.iter().filter(|n| n.router) {
        for set in ips.values() {
            for ip in set {
                let (protocol, hops, communities) = route(t, ip);
                rows.push(vec![
                    t.name.clone(),
                    format!("{ip}/32"),
                    protocol,
                    hops.len().to_string(),
                    join(&hops),
                    join(&communities),
                ]);
            }
        }
    }
    out.push('\n');
    out.push_str(&format_table(
        &[
            "ROUTER",
            "ROUTE",
            "PROTOCOL",
            "PATHS",
            "NEXTHOPS",
            "COMMUNITIES",
        ],
        &rows,
    ));
    out
}
