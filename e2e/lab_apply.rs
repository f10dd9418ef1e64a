//! The FRR driver against real daemons: Service changes apply in one vtysh batch, reach
//! the ToR at once (route-map delay-timer handled), never reset the session, identical
//! configs send nothing, and a rejected command leaves the running config as it was.

#[path = "harness.rs"]
mod harness;

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ferrule::frr_config::parse;
use ferrule::frr_status::BfdStatus;
use ferrule::{Cli, Driver, FrrStatus, Outcome};
use harness::{best_path, Instance, Lab};
use support::fixtures::{Announce, AttrSet, NodeConfig};

/// A vtysh client that also counts its invocations in `counter` (one line per process).
fn counting_client(inst: &Instance, counter: &Path) -> Cli {
    let mut wrapper: Vec<String> = vec![
        "sh".into(),
        "-c".into(),
        "echo >> \"$0\"; exec \"$@\"".into(),
        counter.display().to_string(),
    ];
    wrapper.extend(inst.uts_wrapper());
    Cli::Process(inst.vtysh_process().with_wrapper(wrapper))
}

fn calls(counter: &Path) -> usize {
    std::fs::read_to_string(counter)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// vtysh processes started so far, when the client under test starts processes.
struct Calls(Option<PathBuf>);

impl Calls {
    fn now(&self) -> usize {
        self.0.as_deref().map(calls).unwrap_or(0)
    }

    /// The apply `r` went to FRR in `batches` batches, and (vtysh transport) in `processes`
    /// vtysh processes since `c0`.
    fn assert_since(&self, c0: usize, r: &ferrule::ApplyResult, batches: usize, processes: usize) {
        assert_eq!(r.batches, batches, "batches sent: {:?}", r.batch);
        if let Some(counter) = &self.0 {
            assert_eq!(calls(counter) - c0, processes, "vtysh invocations");
        }
    }
}

/// Start watching `inst` (1-2 ms polls straight to bgpd) until `pred` holds; the handle
/// returns when it first held.
fn watch(
    inst: &Instance,
    prefix: &str,
    pred: impl Fn(Option<(String, Option<u64>)>) -> bool + Send + 'static,
) -> JoinHandle<Instant> {
    let inst = inst.clone();
    let prefix = prefix.to_string();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = best_path(&inst, &prefix);
            if pred(r.clone()) {
                return Instant::now();
            }
            assert!(
                Instant::now() < deadline,
                "{prefix} at {}: still {r:?}",
                inst.name
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    })
}

/// Session counters that must not move while Services change.
#[derive(Debug, PartialEq, Eq)]
struct Stability {
    tor_established: Option<u64>,
    tor_established_epoch: Option<u64>,
    node_established: Option<u64>,
    tor_bfd_down: u64,
    tor_bfd_up: u64,
}

/// FRR derives the established epoch as now minus uptime, so it jitters by a second
/// between reads; a reset moves it by far more and also bumps the connection counters.
fn assert_stable(before: &Stability, after: &Stability) {
    let epoch_moved = match (before.tor_established_epoch, after.tor_established_epoch) {
        (Some(a), Some(b)) => a.abs_diff(b) > 1,
        (a, b) => a != b,
    };
    let counters = |s: &Stability| {
        (
            s.tor_established,
            s.node_established,
            s.tor_bfd_down,
            s.tor_bfd_up,
        )
    };
    assert!(
        !epoch_moved && counters(before) == counters(after),
        "a session was reset: before {before:?}, after {after:?}"
    );
}

async fn stability(lab: &Lab, node: &Instance) -> (Stability, u64) {
    let tor = FrrStatus::read(&lab.tor.client()).await.unwrap();
    let n = FrrStatus::read(&node.client()).await.unwrap();
    let addr = node.ipv4.to_string();
    let p = tor
        .summary
        .iter()
        .find(|p| p.address == addr)
        .expect("tor peer");
    let c = tor
        .bfd_counters
        .iter()
        .find(|c| c.peer == addr)
        .expect("bfd counters");
    let b = tor.bfd_peer("default", &addr).expect("bfd peer");
    assert_eq!(b.status, BfdStatus::Up);
    (
        Stability {
            tor_established: p.connections_established,
            tor_established_epoch: p.peer_uptime_established_epoch,
            node_established: n
                .neighbor("default", &lab.tor.ipv4.to_string())
                .and_then(|x| x.connections_established),
            tor_bfd_down: c.session_down,
            tor_bfd_up: c.session_up,
        },
        b.uptime.unwrap_or(0),
    )
}

/// Established and BFD up on both sides, and past the startup period in which FRR 8.4 may
/// reset a new session once (BFD coming up after BGP).
fn wait_settled(lab: &Lab, node: &Instance) {
    harness::wait_established(&lab.tor, node.ipv4, Duration::from_secs(30));
    harness::wait_bfd_up(&lab.tor, node.ipv4, Duration::from_secs(15));
    harness::wait_bfd_up(node, lab.tor.ipv4, Duration::from_secs(15));
    harness::wait_until(Duration::from_secs(30), "a settled session", || {
        let s = lab.tor.vtysh_json("show bgp summary json");
        let p = &s["ipv4Unicast"]["peers"][node.ipv4.to_string()];
        let b = lab.tor.vtysh_json("show bfd peers json");
        let bfd_up = b
            .as_array()
            .and_then(|a| a.iter().find(|x| x["peer"] == node.ipv4.to_string()))
            .and_then(|x| x["uptime"].as_u64())
            .unwrap_or(0);
        let ok = p["state"] == "Established"
            && p["peerUptimeMsec"].as_u64() >= Some(3000)
            && bfd_up >= 3;
        if ok {
            Ok(())
        } else {
            Err((p["state"].clone(), p["peerUptimeMsec"].clone(), bfd_up))
        }
    });
}

fn normalized_running(inst: &Instance) -> String {
    let mut c = parse(&inst.running_config());
    c.lines.retain(|l| !l.unmanaged());
    c.canonical()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn node_config(asn: u32, peer_as: u32) -> NodeConfig {
    let mut cfg = NodeConfig::new("node1", asn, "192.0.2.21", "192.0.2.1", peer_as);
    cfg.sets = vec![
        AttrSet {
            communities: vec!["64512:100".into()],
            large_communities: vec![],
            local_pref: Some(200),
        },
        AttrSet::community("64512:200"),
        AttrSet {
            communities: vec![],
            large_communities: vec!["65100:1:2".into()],
            local_pref: None,
        },
    ];
    for (last, set) in [(5u32, 0), (6, 0), (7, 1), (9, 2)] {
        cfg.announce.push(Announce {
            prefix: format!("203.0.113.{last}/32"),
            seq: last,
            set,
        });
    }
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_changes_apply_in_one_batch_without_session_resets() {
    service_changes(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_changes_over_daemon_sockets() {
    service_changes(false).await;
}

/// The driver through one vtysh process per batch (`through_vtysh`, each process counted)
/// or straight over the daemons' vty sockets: the same changes, the same batches.
async fn service_changes(through_vtysh: bool) {
    let Some(lab) = Lab::start_peered(1, 65000, 65100) else {
        return;
    };
    let node = lab.node(0).clone();
    let counter = node.etc.join("vtysh-calls");
    let (client, counter) = if through_vtysh {
        (counting_client(&node, &counter), Calls(Some(counter)))
    } else {
        (node.client(), Calls(None))
    };
    eprintln!(
        "transport: {}",
        if through_vtysh {
            "vtysh"
        } else {
            "vty sockets"
        }
    );
    let mut driver = Driver::new(client);
    let mut cfg = node_config(65100, 65000);

    // Load from empty: verified by the driver and, independently, here.
    let r = driver.apply(&cfg.render()).await;
    assert_eq!(r.outcome, Outcome::Ok, "{:?}", r);
    assert!(r.commands_sent > 20);
    assert_eq!(normalized_running(&node), parse(&cfg.render()).canonical());
    wait_settled(&lab, &node);
    let (before, bfd_uptime_before) = stability(&lab, &node).await;
    let p = "ferrule-192.0.2.1";
    let mut figures: Vec<(&str, usize, Duration, Duration)> = Vec::new();

    // A. A new Service: one network + one prefix-list entry, in one vtysh process.
    cfg.announce.push(Announce {
        prefix: "203.0.113.8/32".into(),
        seq: 8,
        set: 0,
    });
    let seen = watch(&lab.tor, "203.0.113.8/32", |r| {
        r.is_some_and(|(c, _)| c.contains("64512:100"))
    });
    let (c0, t0) = (counter.now(), Instant::now());
    let r = driver.apply(&cfg.render()).await;
    let latency = seen.join().unwrap() - t0;
    assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
    counter.assert_since(c0, &r, 1, 1);
    assert_eq!(
        r.batch,
        s(&[
            &format!("ip prefix-list {p}-ip-s0 seq 8 permit 203.0.113.8/32"),
            "router bgp 65100",
            "address-family ipv4 unicast",
            "network 203.0.113.8/32",
            "clear bgp ipv4 unicast 192.0.2.1 soft out",
        ])
    );
    figures.push(("add a Service", r.commands_sent, r.duration, latency));

    // B. One Service's community changes: its entry moves to another attribute set.
    cfg.announce.iter_mut().find(|a| a.seq == 5).unwrap().set = 1;
    let seen = watch(&lab.tor, "203.0.113.5/32", |r| {
        r.is_some_and(|(c, _)| c.contains("64512:200") && !c.contains("64512:100"))
    });
    let (c0, t0) = (counter.now(), Instant::now());
    let r = driver.apply(&cfg.render()).await;
    let latency = seen.join().unwrap() - t0;
    assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
    counter.assert_since(c0, &r, 1, 1);
    assert_eq!(
        r.batch,
        s(&[
            &format!("ip prefix-list {p}-ip-s1 seq 5 permit 203.0.113.5/32"),
            &format!("no ip prefix-list {p}-ip-s0 seq 5 permit 203.0.113.5/32"),
            "clear bgp ipv4 unicast 192.0.2.1 soft out",
        ])
    );
    figures.push((
        "move a Service to another community",
        r.commands_sent,
        r.duration,
        latency,
    ));

    // C. An attribute set's value changes (route-map edit in place).
    cfg.sets[2].large_communities = vec!["65100:7:7".into()];
    let (c0, t0) = (counter.now(), Instant::now());
    let tor = lab.tor.clone();
    let seen = std::thread::spawn(move || {
        harness::wait_until(Duration::from_secs(10), "large community 65100:7:7", || {
            let v = tor.bgpd_json("show bgp ipv4 unicast 203.0.113.9/32 json");
            let lc = v["paths"][0]["largeCommunity"]["string"]
                .as_str()
                .unwrap_or("")
                .to_string();
            if lc.contains("65100:7:7") {
                Ok(Instant::now())
            } else {
                Err(lc)
            }
        })
    });
    let r = driver.apply(&cfg.render()).await;
    let latency = seen.join().unwrap() - t0;
    assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
    counter.assert_since(c0, &r, 1, 1);
    assert_eq!(
        r.batch,
        s(&[
            &format!("route-map {p}-out permit 3"),
            "set large-community 65100:7:7 additive",
            "clear bgp ipv4 unicast 192.0.2.1 soft out",
        ])
    );
    figures.push((
        "change a set's large community",
        r.commands_sent,
        r.duration,
        latency,
    ));

    // D. A Service goes.
    cfg.announce.retain(|a| a.seq != 8);
    let seen = watch(&lab.tor, "203.0.113.8/32", |r| r.is_none());
    let t0 = Instant::now();
    let r = driver.apply(&cfg.render()).await;
    let latency = seen.join().unwrap() - t0;
    assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
    assert_eq!(
        r.batch,
        s(&[
            "router bgp 65100",
            "address-family ipv4 unicast",
            "no network 203.0.113.8/32",
            "exit-address-family",
            "exit",
            &format!("no ip prefix-list {p}-ip-s0 seq 8 permit 203.0.113.8/32"),
            "clear bgp ipv4 unicast 192.0.2.1 soft out",
        ])
    );
    figures.push(("withdraw a Service", r.commands_sent, r.duration, latency));

    // E. Identical config: nothing sent (one read to confirm FRR agrees).
    let c0 = counter.now();
    let r = driver.apply(&cfg.render()).await;
    assert_eq!(r.outcome, Outcome::Ok);
    assert_eq!((r.commands_sent, r.changes), (0, 0), "{:?}", r.batch);
    counter.assert_since(c0, &r, 0, 1);

    // F. A rejected command after a real change: FRR's error comes back, the half-applied
    // change is rolled back, the running config is what it was.
    let good = normalized_running(&node);
    let mut bad = cfg.clone();
    bad.announce.iter_mut().find(|a| a.seq == 7).unwrap().set = 0;
    let bad_text = bad.render().replace(
        " set local-preference 200\n",
        " set local-preference 200\n set bogus-attribute 1\n",
    );
    let r = driver.apply(&bad_text).await;
    match &r.outcome {
        Outcome::Err {
            frr_message,
            failed_command,
            restored,
        } => {
            assert!(frr_message.contains("Unknown command"), "{frr_message}");
            assert_eq!(failed_command.as_deref(), Some("set bogus-attribute 1"));
            assert!(restored, "{r:?}");
        }
        Outcome::Ok => panic!("a bogus command was accepted: {r:?}"),
    }
    assert!(
        r.batch.iter().any(|c| c.contains("ip-s0 seq 7")),
        "the good line went first: {:?}",
        r.batch
    );
    assert_eq!(normalized_running(&node), good);
    assert_eq!(driver.last_good(), Some(cfg.render().as_str()));
    assert_eq!(
        best_path(&lab.tor, "203.0.113.7/32").map(|(c, _)| c.contains("64512:200")),
        Some(true)
    );

    // G. Without `bgp route-map delay-timer 0` (FRR's 5 s default) attribute changes still
    // arrive at once: the soft clear does not wait for the timer.
    cfg.delay_timer_zero = false;
    let r = driver.apply(&cfg.render()).await;
    assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
    assert_eq!(r.batch, s(&["no bgp route-map delay-timer 0"]));
    cfg.announce.iter_mut().find(|a| a.seq == 7).unwrap().set = 0;
    let seen = watch(&lab.tor, "203.0.113.7/32", |r| {
        r.is_some_and(|(c, _)| c.contains("64512:100"))
    });
    let t0 = Instant::now();
    let r = driver.apply(&cfg.render()).await;
    let latency = seen.join().unwrap() - t0;
    assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
    figures.push((
        "community change, delay-timer default",
        r.commands_sent,
        r.duration,
        latency,
    ));

    // H. Attributes set at origination (`network P route-map ferrule-set-K`): the switch is
    // one batch, and changes then skip FRR's 100 ms soft-out announce timer.
    cfg.delay_timer_zero = true;
    cfg.origination = true;
    let r = driver.apply(&cfg.render()).await;
    assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
    assert!(
        r.batch
            .iter()
            .any(|c| c == "network 203.0.113.5/32 route-map ferrule-set-1"),
        "{:?}",
        r.batch
    );
    // Every prefix is announced with its set's attributes right after the switch (route-maps
    // created in the same batch as the `network ... route-map` lines that use them).
    for (prefix, want) in [
        ("203.0.113.5/32", "64512:200"),
        ("203.0.113.6/32", "64512:100"),
        ("203.0.113.7/32", "64512:100"),
    ] {
        let tor = lab.tor.clone();
        harness::wait_until(
            Duration::from_secs(10),
            &format!("{prefix} with {want}"),
            || match best_path(&tor, prefix) {
                Some((c, _)) if c.split(' ').any(|x| x == want) => Ok(()),
                other => Err(other),
            },
        );
    }
    let tor = lab.tor.clone();
    harness::wait_until(
        Duration::from_secs(10),
        "203.0.113.9/32 with 65100:7:7",
        || {
            let v = tor.bgpd_json("show bgp ipv4 unicast 203.0.113.9/32 json");
            let lc = v["paths"][0]["largeCommunity"]["string"]
                .as_str()
                .unwrap_or("")
                .to_string();
            if lc == "65100:7:7" {
                Ok(())
            } else {
                Err(lc)
            }
        },
    );
    cfg.announce.iter_mut().find(|a| a.seq == 5).unwrap().set = 0;
    let seen = watch(&lab.tor, "203.0.113.5/32", |r| {
        r.is_some_and(|(c, _)| c.contains("64512:100"))
    });
    let t0 = Instant::now();
    let r = driver.apply(&cfg.render()).await;
    let latency = seen.join().unwrap() - t0;
    assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
    assert_eq!(
        r.batch,
        s(&[
            "router bgp 65100",
            "address-family ipv4 unicast",
            "network 203.0.113.5/32 route-map ferrule-set-0"
        ])
    );
    figures.push((
        "origination: move a Service to another set",
        r.commands_sent,
        r.duration,
        latency,
    ));
    cfg.sets[1].communities = vec!["64512:222".into()];
    let seen = watch(&lab.tor, "203.0.113.6/32", |r| {
        r.is_some_and(|(c, _)| c.contains("64512:222"))
    });
    cfg.announce.iter_mut().find(|a| a.seq == 6).unwrap().set = 1;
    let t0 = Instant::now();
    let r = driver.apply(&cfg.render()).await;
    let latency = seen.join().unwrap() - t0;
    assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
    figures.push((
        "origination: set's community + move",
        r.commands_sent,
        r.duration,
        latency,
    ));
    cfg.sets[1].communities = vec!["64512:223".into()];
    let seen = watch(&lab.tor, "203.0.113.6/32", |r| {
        r.is_some_and(|(c, _)| c.contains("64512:223"))
    });
    let t0 = Instant::now();
    let r = driver.apply(&cfg.render()).await;
    let latency = seen.join().unwrap() - t0;
    assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
    assert_eq!(
        r.batch,
        s(&[
            "route-map ferrule-set-1 permit 1",
            "set community 64512:223",
            "exit",
            "router bgp 65100",
            "address-family ipv4 unicast",
            // Only .6 is in set 1 by now (.5 and .7 moved to set 0 above).
            "network 203.0.113.6/32 route-map ferrule-set-1",
        ])
    );
    figures.push((
        "origination: a set's community changes",
        r.commands_sent,
        r.duration,
        latency,
    ));

    // Nothing above reset the BGP session or the BFD session.
    let (after, bfd_uptime_after) = stability(&lab, &node).await;
    assert_stable(&before, &after);
    assert!(
        bfd_uptime_after >= bfd_uptime_before,
        "BFD uptime went back: {bfd_uptime_before} -> {bfd_uptime_after}"
    );

    eprintln!(
        "\n{:<40} {:>8} {:>12} {:>18}",
        "change", "commands", "apply", "ToR sees it after"
    );
    for (what, n, apply, seen) in &figures {
        eprintln!(
            "{what:<40} {n:>8} {:>10.1}ms {:>16.1}ms",
            apply.as_secs_f64() * 1e3,
            seen.as_secs_f64() * 1e3
        );
        // Proof that the delay-timer is handled (the timer alone would take ~5 s, with
        // `delay-timer 0` forever); the speed figures themselves are printed, not asserted.
        assert!(*seen < Duration::from_secs(2), "{what}: {seen:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ibgp_tor_sees_local_pref() {
    let Some(lab) = Lab::start_peered(1, 65000, 65000) else {
        return;
    };
    let node = lab.node(0).clone();
    let mut driver = Driver::new(node.client());
    let mut cfg = node_config(65000, 65000);
    cfg.sets[1].local_pref = Some(100);
    let r = driver.apply(&cfg.render()).await;
    assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
    harness::wait_established(&lab.tor, node.ipv4, Duration::from_secs(30));
    let lp = |prefix: &'static str, want: u64| {
        let tor = lab.tor.clone();
        harness::wait_until(
            Duration::from_secs(10),
            &format!("LOCAL_PREF {want} on {prefix}"),
            move || match best_path(&tor, prefix) {
                Some((_, Some(lp))) if lp == want => Ok(()),
                other => Err(other),
            },
        )
    };
    lp("203.0.113.5/32", 200);
    lp("203.0.113.7/32", 100);
    // Set 2 sets none: iBGP carries the default.
    lp("203.0.113.9/32", 100);

    cfg.sets[0].local_pref = Some(150);
    let seen = watch(&lab.tor, "203.0.113.5/32", |r| {
        r.is_some_and(|(_, lp)| lp == Some(150))
    });
    let t0 = Instant::now();
    let r = driver.apply(&cfg.render()).await;
    let latency = seen.join().unwrap() - t0;
    assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
    assert_eq!(
        r.batch,
        s(&[
            "route-map ferrule-192.0.2.1-out permit 1",
            "set local-preference 150",
            "clear bgp ipv4 unicast 192.0.2.1 soft out",
        ])
    );
    eprintln!(
        "iBGP local-preference 200 -> 150: apply {:?}, ToR sees it after {latency:?}",
        r.duration
    );
    assert!(latency < Duration::from_secs(2));
}

/// Through vtysh processes, a BGP password never reaches a command line (anyone can read
/// /proc/PID/cmdline): batches holding one go through vtysh's stdin.
#[tokio::test]
async fn passwords_never_reach_vtysh_command_lines() {
    let Some(lab) = Lab::start(1) else { return };
    let node = lab.node(0).clone();
    let log = node.etc.join("vtysh-argv");
    let mut wrapper: Vec<String> = vec![
        "sh".into(),
        "-c".into(),
        "echo \"$*\" >> \"$0\"; exec \"$@\"".into(),
        log.display().to_string(),
    ];
    wrapper.extend(node.uts_wrapper());
    let mut driver = Driver::new(Cli::Process(node.vtysh_process().with_wrapper(wrapper)));
    for pw in ["s3cret-first", "s3cret-second"] {
        let config = format!(
            "router bgp 65100\n neighbor 192.0.2.1 remote-as 65000\n neighbor 192.0.2.1 password {pw}\nexit\n"
        );
        let r = driver.apply(&config).await;
        assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
        assert!(node
            .running_config()
            .contains(&format!("neighbor 192.0.2.1 password {pw}")));
        assert!(
            r.batch.iter().all(|c| !c.contains(pw)),
            "the reported batch is redacted: {:?}",
            r.batch
        );
    }
    let argv = std::fs::read_to_string(&log).unwrap();
    assert!(argv.lines().count() >= 2, "vtysh ran: {argv}");
    assert!(
        !argv.contains("s3cret"),
        "a password on a command line:\n{argv}"
    );
}
