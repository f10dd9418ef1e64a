//! Reload benchmark on real FRR: ferrule's driver vs `frr-reload.py --reload`, same daemons,
//! same configs (2,000 announced prefixes in 4 attribute sets, a ToR peer), in two config
//! shapes: MetalLB-style per-neighbor prefix-lists in the outbound route-map, and
//! attributes set at origination (`network P route-map ferrule-set-K`).
//!
//! `cargo bench --bench reload`; `RELOAD_BENCH_PREFIXES=N` changes the size,
//! `RELOAD_BENCH_SKIP_FRR_RELOAD=1` measures ferrule only (frr-reload.py needs minutes),
//! `RELOAD_BENCH_SHAPE=origination|outbound` runs one shape.

#[path = "../e2e/harness.rs"]
mod harness;

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use ferrule::frr_config::parse;
use ferrule::frr_diff::diff;
use ferrule::{Driver, Outcome};
use harness::{Instance, Lab};
use support::fixtures::{Announce, AttrSet, NodeConfig};

const SCENARIOS: [&str; 4] = [
    "load from empty",
    "change 10 prefixes",
    "no change",
    "withdraw 1,000",
];

struct Configs {
    full: String,
    changed: String,
    withdrawn: String,
}

fn configs(n: u32, origination: bool) -> Configs {
    let mut cfg = NodeConfig::new("node1", 65100, "192.0.2.21", "192.0.2.1", 65000);
    cfg.origination = origination;
    cfg.sets = (0..4)
        .map(|i| AttrSet {
            communities: vec![format!("64512:{}", 100 + i)],
            large_communities: vec![],
            local_pref: Some(100 + 10 * i),
        })
        .collect();
    cfg.announce = (1..=n)
        .map(|i| Announce {
            prefix: format!("2001:db8:100::{i:x}/128"),
            seq: i,
            set: (i % 4) as usize,
        })
        .collect();
    let full = cfg.render();
    for a in cfg.announce.iter_mut().take(10) {
        a.set = (a.set + 1) % 4;
    }
    let changed = cfg.render();
    let keep = (n as usize).saturating_sub(1000).max(n as usize / 2);
    cfg.announce.truncate(keep);
    Configs {
        full,
        changed,
        withdrawn: cfg.render(),
    }
}

/// (scenario, desired config) in order: load, `reps` 10-prefix changes (toggling), `reps`
/// identical re-applies, then the withdrawal.
fn plan(c: &Configs, reps: usize) -> Vec<(usize, &str)> {
    let mut v = vec![(0, c.full.as_str())];
    for i in 0..reps {
        v.push((1, if i % 2 == 0 { &c.changed } else { &c.full }));
    }
    let last = v.last().map(|x| x.1).unwrap_or(&c.full);
    for _ in 0..reps {
        v.push((2, last));
    }
    v.push((3, c.withdrawn.as_str()));
    v
}

/// Per scenario: durations, commands of the first run, all runs converged.
#[derive(Default, Clone)]
struct Runs {
    times: Vec<Duration>,
    commands: Option<usize>,
    ok: bool,
}

fn collect(results: Vec<(usize, Duration, usize, bool)>) -> Vec<Runs> {
    let mut runs = vec![
        Runs {
            ok: true,
            ..Runs::default()
        };
        SCENARIOS.len()
    ];
    for (i, d, c, ok) in results {
        runs[i].times.push(d);
        runs[i].commands.get_or_insert(c);
        runs[i].ok &= ok;
    }
    runs
}

fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v[v.len() / 2]
}

/// Back to an empty routing config, outside both tools.
fn reset(node: &Instance) {
    let running = parse(&node.running_config());
    let mut cmds: Vec<String> = vec!["configure terminal".into()];
    for l in &running.lines {
        let t: Vec<&str> = l.norm.split(' ').collect();
        match t.as_slice() {
            ["router", "bgp", ..] => cmds.push(format!("no {}", l.text)),
            ["route-map", name, ..] => cmds.push(format!("no route-map {name}")),
            [f @ ("ip" | "ipv6"), "prefix-list", name, ..] => {
                cmds.push(format!("no {f} prefix-list {name}"))
            }
            ["bgp", "route-map", "delay-timer", ..] => {
                cmds.push("no bgp route-map delay-timer".into())
            }
            ["bfd"] => cmds.push("no bfd".into()),
            _ => {}
        }
    }
    cmds.dedup();
    let refs: Vec<&str> = cmds.iter().map(String::as_str).collect();
    node.vtysh(&refs).expect("reset");
    let left = parse(&node.running_config());
    assert!(
        left.lines
            .iter()
            .all(|l| l.unmanaged() || l.norm.starts_with("log ")),
        "reset left: {}",
        left.canonical()
    );
}

fn matches(node: &Instance, desired: &str) -> bool {
    let mut running = parse(&node.running_config());
    running.lines.retain(|l| !l.unmanaged());
    running.canonical() == parse(desired).canonical()
}

async fn run_ferrule(node: &Instance, steps: &[(usize, &str)]) -> Vec<Runs> {
    let mut driver = Driver::new(ferrule::Cli::sockets(&node.run, Duration::from_secs(1200)));
    let mut out = Vec::new();
    for &(scenario, desired) in steps {
        let r = driver.apply(desired).await;
        if let Outcome::Err { frr_message, .. } = &r.outcome {
            eprintln!("ferrule apply failed: {frr_message}");
        }
        eprintln!(
            "ferrule: {:>8.1} ms total, {:>8.1} ms in vtysh/FRR, {} commands",
            r.duration.as_secs_f64() * 1e3,
            r.frr_duration.as_secs_f64() * 1e3,
            r.commands_sent
        );
        out.push((
            scenario,
            r.duration,
            r.commands_sent,
            r.is_ok() && matches(node, desired),
        ));
    }
    collect(out)
}

fn run_frr_reload(node: &Instance, steps: &[(usize, &str)]) -> Vec<Runs> {
    // The file must be <confdir>/frr.conf, or frr-reload.py runs `write` afterwards.
    let target = node.etc.join("frr.conf");
    let mut out = Vec::new();
    for &(scenario, desired) in steps {
        std::fs::write(&target, desired).unwrap();
        let mut argv = node.uts_wrapper();
        argv.extend(
            [
                "python3",
                "/usr/lib/frr/frr-reload.py",
                "--reload",
                "--stdout",
                "--bindir",
                "/usr/bin",
            ]
            .map(String::from),
        );
        for (flag, path) in [
            ("--confdir", &node.etc),
            ("--rundir", &node.run),
            ("--vty_socket", &node.run),
        ] {
            argv.push(flag.into());
            argv.push(path.display().to_string());
        }
        argv.push(target.display().to_string());
        let t0 = Instant::now();
        let o = Command::new(&argv[0])
            .args(&argv[1..])
            .output()
            .expect("frr-reload.py");
        let d = t0.elapsed();
        let log = String::from_utf8_lossy(&o.stderr);
        // Commands it ran: one line per `Executed` deletion, plus the added lines file.
        let sent = log.matches("Executed").count();
        if !o.status.success() {
            eprintln!(
                "frr-reload.py exit {}: {}",
                o.status,
                log.lines().rev().take(5).collect::<Vec<_>>().join(" | ")
            );
        }
        eprintln!(
            "frr-reload.py: {:>8.1} ms, {sent} deletions",
            d.as_secs_f64() * 1e3
        );
        out.push((
            scenario,
            d,
            sent,
            o.status.success() && matches(node, desired),
        ));
    }
    collect(out)
}

fn main() {
    let n: u32 = std::env::var("RELOAD_BENCH_PREFIXES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let skip_reload = std::env::var_os("RELOAD_BENCH_SKIP_FRR_RELOAD").is_some();
    let Some(lab) = Lab::start_peered(1, 65000, 65100) else {
        return;
    };
    let node = lab.node(0).clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    let only = std::env::var("RELOAD_BENCH_SHAPE").unwrap_or_default();
    for (shape, origination) in [
        ("origination route-maps", true),
        ("outbound prefix-lists", false),
    ] {
        if !shape.starts_with(only.as_str()) {
            continue;
        }
        let c = configs(n, origination);
        let lines = c.full.lines().count();
        reset(&node);
        let ours = rt.block_on(run_ferrule(&node, &plan(&c, 5)));
        let theirs = if skip_reload {
            None
        } else {
            reset(&node);
            Some(run_frr_reload(&node, &plan(&c, 3)))
        };
        println!("\n{n} prefixes, 4 attribute sets, {shape} ({lines} config lines); median (min) of runs");
        println!(
            "{:<20} {:>20} {:>9} {:>16} {:>9} {:>8}",
            "scenario", "ferrule", "commands", "frr-reload.py", "deletes", "ratio"
        );
        let fmt = |r: &Runs| {
            let min = r.times.iter().min().copied().unwrap_or_default();
            let mark = if r.ok { "" } else { " (!)" };
            if r.times.len() > 1 {
                format!(
                    "{:.3}s ({:.3}s){mark}",
                    median(&r.times).as_secs_f64(),
                    min.as_secs_f64()
                )
            } else {
                format!("{:.3}s{mark}", min.as_secs_f64())
            }
        };
        for (i, name) in SCENARIOS.iter().enumerate() {
            let o = &ours[i];
            let mut row = format!("{name:<20} {:>20} {:>9}", fmt(o), o.commands.unwrap_or(0));
            if let Some(t) = &theirs {
                let ratio = median(&t[i].times).as_secs_f64() / median(&o.times).as_secs_f64();
                row += &format!(
                    " {:>16} {:>9} {:>7.1}x",
                    fmt(&t[i]),
                    t[i].commands.unwrap_or(0),
                    ratio
                );
            }
            println!("{row}");
        }
        // ferrule's own work per apply, without FRR: parse desired + running, diff.
        let running = parse(&c.full);
        let t0 = Instant::now();
        let rounds = 20;
        for _ in 0..rounds {
            let desired = parse(&c.changed);
            let b = diff(&desired, &running);
            assert!(!b.is_empty());
        }
        println!(
            "ferrule CPU per apply (parse {lines} lines + diff, no FRR): {:.1} ms",
            t0.elapsed().as_secs_f64() * 1e3 / f64::from(rounds)
        );
        println!("(!) = the running config did not match the desired one afterwards");
    }
}
