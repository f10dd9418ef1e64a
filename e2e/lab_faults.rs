//! Fault drills with real FRR and the real `ferrule speaker` binary in file mode: a bgpd
//! killed and restarted empty, a bgpd frozen (SIGSTOP) while a change arrives and while the
//! speaker is told to stop, FRR refusing a line, the speaker killed in the middle of a
//! 2,000-prefix apply, and 500 random manifest changes. Each drill asserts what the ToR
//! sees (routes, session counters) and prints what it measured.
//!
//! The drills run one at a time (a lock): they time convergence on a 2-core machine, and a
//! 2,000-prefix apply next door would turn their numbers into noise.

#[path = "harness.rs"]
mod harness;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use harness::{
    free_port, tor_config, wait_established, wait_until, Instance, Lab, RouteMonitor, Work,
};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const NS: &str = "metallb-system";
const POLL_MS: u64 = 250;

// ---- the speaker process ----

/// One `ferrule speaker` process in file mode for one node. Dropping it kills it.
struct Speaker {
    child: Option<Child>,
    metrics_port: u16,
    log: PathBuf,
}

impl Speaker {
    /// `ferrule speaker` for `node` over the directories of `work`, with this per-command
    /// timeout (`--frr-command-timeout`).
    fn start(node: &Instance, work: &Work, timeout: &str) -> Speaker {
        let metrics_port = free_port();
        let log = work.dir.join(format!(
            "speaker-{}-{}.log",
            node.name,
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_ferrule"))
            .arg("speaker")
            .args(["--node", &node.name, "--namespace", NS])
            .arg("--source")
            .arg(&work.manifests)
            .arg("--status-dir")
            .arg(&work.status)
            .arg("--vty-socket-dir")
            .arg(&node.run)
            .arg("--frr-config-dir")
            .arg(&node.etc)
            .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
            .args(["--poll-ms", &POLL_MS.to_string(), "--coalesce-ms", "10"])
            .args(["--frr-command-timeout", timeout])
            .env(
                "RUST_LOG",
                std::env::var("FERRULE_LAB_SPEAKER_LOG").unwrap_or_else(|_| "info".into()),
            )
            .env_remove("FERRULE_LOG_JSON")
            .stdin(Stdio::null())
            // tracing writes to stdout.
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("ferrule speaker");
        Speaker {
            child: Some(child),
            metrics_port,
            log,
        }
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.as_ref().expect("running").id() as i32)
    }

    /// The value of one metric line (`name` exactly, no labels), when /metrics answers.
    fn metric(&self, name: &str) -> Option<f64> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.metrics_port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            (k == name).then(|| v.trim().parse().ok())?
        })
    }

    fn metric_now(&self, name: &str) -> f64 {
        wait_until(Duration::from_secs(10), &format!("metric {name}"), || {
            self.metric(name).ok_or("no answer")
        })
    }

    /// Open file descriptors (sockets included).
    fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// Resident memory, KiB.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL, and reap.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM; how long until the process was gone (panics after 10 s).
    fn terminate(&mut self) -> Duration {
        let mut c = self.child.take().expect("running");
        let t = Instant::now();
        kill(Pid::from_raw(c.id() as i32), Signal::SIGTERM).unwrap();
        let status = wait_until(Duration::from_secs(10), "the speaker to exit", || {
            c.try_wait()
                .map_err(|e| e.to_string())?
                .ok_or_else(|| "running".to_string())
        });
        let took = t.elapsed();
        assert!(status.success(), "speaker exited with {status}");
        took
    }
}

impl Drop for Speaker {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---- manifests ----

/// A temp directory with `manifests/` and `status/`, removed on drop.
/// The SpeakerNode status of `node`: (applyResult, applyMessage, extrasRefused).
fn node_status(work: &Work, node: &str) -> Option<(String, Option<String>, Vec<String>)> {
    let s = work.speaker_node(node)?;
    Some((s.apply_result, s.apply_message, s.extras_refused))
}

/// Pools, one BGPPeer (the ToR), Nodes. `peer_extra`: more `spec` lines of the peer.
fn base_yaml(nodes: &[&Instance], my_as: u32, peer_as: u32, peer_extra: &str) -> String {
    let mut s = format!(
        "apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{ name: pool-a, namespace: {NS} }}
spec:
  addresses: [203.0.113.0/24]
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{ name: pool-b, namespace: {NS} }}
spec:
  addresses: [198.51.100.0/24]
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{ name: pool-v6, namespace: {NS} }}
spec:
  addresses: [2001:db8:100::/116]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{ name: tor, namespace: {NS} }}
spec:
  myASN: {my_as}
  peerASN: {peer_as}
  peerAddress: 192.0.2.1
  connectTime: 1s
{peer_extra}"
    );
    for n in nodes {
        s.push_str(&format!(
            "---\napiVersion: v1\nkind: Node\nmetadata: {{ name: {} }}\n",
            n.name
        ));
    }
    s
}

fn adv_yaml(name: &str, pool: &str, communities: &[&str], local_pref: Option<u32>) -> String {
    let mut s = format!(
        "apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{ name: {name}, namespace: {NS} }}
spec:
  ipAddressPools: [{pool}]
"
    );
    if !communities.is_empty() {
        let quoted: Vec<String> = communities.iter().map(|c| format!("\"{c}\"")).collect();
        s.push_str(&format!("  communities: [{}]\n", quoted.join(", ")));
    }
    if let Some(lp) = local_pref {
        s.push_str(&format!("  localPref: {lp}\n"));
    }
    s
}

/// A LoadBalancer Service and its EndpointSlice (ready endpoints on `nodes`). `ip`: its
/// address (annotation), else allocated; `v6`: single-stack IPv6.
fn service_yaml(name: &str, etp_local: bool, ip: Option<&str>, v6: bool, nodes: &[&str]) -> String {
    let annotations = ip
        .map(|ip| format!("  annotations: {{ metallb.io/loadBalancerIPs: \"{ip}\" }}\n"))
        .unwrap_or_default();
    let families = if v6 { "  ipFamilies: [IPv6]\n" } else { "" };
    let policy = if etp_local { "Local" } else { "Cluster" };
    let mut s = format!(
        "apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: default
{annotations}spec:
  type: LoadBalancer
  externalTrafficPolicy: {policy}
{families}  selector: {{ app: {name} }}
  ports: [{{ port: 443, targetPort: 8443 }}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: {name}-1
  namespace: default
  labels: {{ kubernetes.io/service-name: {name} }}
addressType: IPv4
endpoints:{}
",
        if nodes.is_empty() { " []" } else { "" }
    );
    for (i, n) in nodes.iter().enumerate() {
        s.push_str(&format!(
            "- addresses: [10.244.{i}.10]\n  conditions: {{ ready: true }}\n  nodeName: {n}\n"
        ));
    }
    s
}

// ---- what FRR shows ----

fn bgpd_pid(inst: &Instance) -> Pid {
    let text = std::fs::read_to_string(inst.run.join("bgpd.pid")).unwrap();
    Pid::from_raw(text.trim().parse().unwrap())
}

/// Prefix -> the peers (next hops) the ToR has a path from, for one address family.
fn tor_table(tor: &Instance, afi: &str) -> BTreeMap<String, BTreeSet<String>> {
    let v = tor.bgpd_json(&format!("show bgp {afi} unicast json"));
    let mut out = BTreeMap::new();
    for (prefix, paths) in v["routes"].as_object().into_iter().flatten() {
        let peers: BTreeSet<String> = paths
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["peerId"].as_str().map(str::to_string))
            .collect();
        out.insert(prefix.clone(), peers);
    }
    out
}

/// Node address -> (connectionsEstablished, connectionsDropped) at the ToR, from
/// `show bgp neighbors json`: any session reset moves one of them.
fn session_counters(tor: &Instance, nodes: &[&Instance]) -> BTreeMap<String, (u64, u64)> {
    let v = tor.bgpd_json("show bgp neighbors json");
    nodes
        .iter()
        .map(|n| {
            let addr = n.ipv4.to_string();
            let p = &v[&addr];
            let field = |k: &str| p[k].as_u64().unwrap_or_else(|| panic!("{addr} {k}: {p}"));
            (
                addr.clone(),
                (field("connectionsEstablished"), field("connectionsDropped")),
            )
        })
        .collect()
}

/// Prefixes the ToR has received from `peer` in one address family (`ipv4Unicast`).
fn pfx_rcd(tor: &Instance, af: &str, peer: &Instance) -> u64 {
    let v = tor.bgpd_json("show bgp summary json");
    v[af]["peers"][peer.ipv4.to_string()]["pfxRcd"]
        .as_u64()
        .unwrap_or(0)
}

/// Prefixes in bgpd's IPv6 table (its own `network`s included): the last line of
/// `show bgp ipv6 unicast` straight from bgpd ("Displayed  N routes and M total paths").
fn bgpd_ipv6_routes(node: &Instance) -> Option<usize> {
    let text = node.daemon_query("bgpd", "show bgp ipv6 unicast").ok()?;
    if text.contains("No BGP prefixes displayed") || text.trim().is_empty() {
        return Some(0);
    }
    let line = text.lines().rev().find(|l| l.starts_with("Displayed"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn wait_table(
    tor: &Instance,
    want: &BTreeMap<String, BTreeSet<String>>,
    timeout: Duration,
    what: &str,
) -> Duration {
    let t = Instant::now();
    wait_until(timeout, what, || {
        let got = tor_table(tor, "ipv4");
        if &got == want {
            Ok(())
        } else {
            Err(got)
        }
    });
    t.elapsed()
}

/// The ToR's kernel routes installed by BGP, as `ip route` prints them.
fn kernel_routes(tor: &Instance) -> Vec<String> {
    harness::exec(&tor.ns, &["ip", "-4", "route", "show", "proto", "bgp"])
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn log_init() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("FERRULE_LAB_LOG"))
        .with_test_writer()
        .try_init();
}

// ---- the drills ----

/// bgpd dies (SIGKILL) and comes back empty, as a crashed FRR container would: the speaker
/// notices the re-opened socket, applies the whole config again, and the ToR gets the
/// Service routes back.
#[test]
fn bgpd_killed_and_restarted_empty_gets_its_config_back() {
    let _serial = serial();
    log_init();
    let Some(lab) = Lab::start_peered(1, 65000, 65100) else {
        return;
    };
    let node = lab.node(0);
    let work = Work::new("restart");
    work.write(
        "10-base.yaml",
        &base_yaml(&[node], 65100, 65000, "  holdTime: 9s\n"),
    );
    work.write(
        "20-adv.yaml",
        &adv_yaml("adv-a", "pool-a", &["65000:100"], None),
    );
    for i in 0..3 {
        work.write(
            &format!("30-svc-{i}.yaml"),
            &service_yaml(&format!("svc{i}"), false, None, false, &[&node.name]),
        );
    }
    let mut speaker = Speaker::start(node, &work, "10s");
    wait_established(&lab.tor, node.ipv4, Duration::from_secs(30));
    let want: BTreeMap<String, BTreeSet<String>> = wait_until(
        Duration::from_secs(15),
        "3 Service routes at the ToR",
        || {
            let t = tor_table(&lab.tor, "ipv4");
            if t.len() == 3 {
                Ok(t)
            } else {
                Err(t)
            }
        },
    );
    let reconnects_before = speaker
        .log_text()
        .matches("connection was re-opened")
        .count();

    kill(bgpd_pid(node), Signal::SIGKILL).unwrap();
    let killed = Instant::now();
    wait_until(
        Duration::from_secs(10),
        "the ToR to lose the routes",
        || {
            let t = tor_table(&lab.tor, "ipv4");
            if t.is_empty() {
                Ok(())
            } else {
                Err(t)
            }
        },
    );
    let withdrawn = killed.elapsed();
    let mut bgpd = node.restart_daemon("bgpd");
    let restarted = Instant::now();
    let back = wait_table(
        &lab.tor,
        &want,
        Duration::from_secs(30),
        "the Service routes back at the ToR after bgpd restarted empty",
    );
    let running = node.running_config();
    assert_eq!(
        running
            .lines()
            .filter(|l| l.trim_start().starts_with("network "))
            .count(),
        3,
        "the config is back in the new bgpd:\n{running}"
    );
    let log = speaker.log_text();
    assert!(
        log.matches("connection was re-opened").count() > reconnects_before,
        "the speaker said why it re-applied:\n{log}"
    );
    eprintln!(
        "faults: bgpd SIGKILL -> ToR withdrew the routes after {withdrawn:?}; new empty bgpd's \
         vty socket {:?} after the kill; config re-applied and 3 routes back at the ToR {back:?} \
         after that",
        restarted - killed
    );
    speaker.terminate();
    let _ = bgpd.kill();
    let _ = bgpd.wait();
}

/// bgpd frozen (SIGSTOP) while a change arrives: with `--frr-command-timeout 1s` the
/// speaker's commands time out, nothing piles up (no connection or memory growth, at most
/// one apply attempt per timeout, not one per poll), and after SIGCONT the change applies.
/// Then, with bgpd frozen again and an apply in flight under a 60 s timeout, SIGTERM stops
/// the speaker at once.
#[test]
fn bgpd_frozen_while_a_change_arrives() {
    let _serial = serial();
    log_init();
    let Some(lab) = Lab::start(1) else {
        return;
    };
    let node = lab.node(0);
    // Hold 30 s: a frozen bgpd sends no keepalives, and the drill must not be a hold-timer
    // test. BFD (bfdd is not frozen) stays up.
    lab.tor
        .load_config(&tor_config(65000, &[(node, 65100)]).replace("timers 3 9", "timers 10 30"))
        .unwrap();
    let work = Work::new("frozen");
    work.write(
        "10-base.yaml",
        &base_yaml(&[node], 65100, 65000, "  holdTime: 30s\n"),
    );
    work.write("20-adv.yaml", &adv_yaml("adv-a", "pool-a", &[], None));
    let svc = |i: usize| {
        service_yaml(
            &format!("svc{i}"),
            false,
            Some(&format!("203.0.113.{}", 10 + i)),
            false,
            &[&node.name],
        )
    };
    work.write("30-svc-0.yaml", &svc(0));
    let mut speaker = Speaker::start(node, &work, "1s");
    wait_established(&lab.tor, node.ipv4, Duration::from_secs(30));
    let one: BTreeMap<String, BTreeSet<String>> = [(
        "203.0.113.10/32".to_string(),
        BTreeSet::from([node.ipv4.to_string()]),
    )]
    .into();
    wait_table(&lab.tor, &one, Duration::from_secs(15), "svc0 at the ToR");
    let counters = session_counters(&lab.tor, &[node]);
    let (fds0, rss0) = (speaker.fds(), speaker.rss_kib());
    let errors0 = speaker.metric_now("ferrule_frr_apply_errors_total");
    let attempts0 = speaker.metric_now("ferrule_frr_apply_duration_seconds_count");

    let bgpd = bgpd_pid(node);
    kill(bgpd, Signal::SIGSTOP).unwrap();
    let frozen = Instant::now();
    work.write("30-svc-1.yaml", &svc(1));
    wait_until(
        Duration::from_secs(10),
        "the apply to a frozen bgpd to time out",
        || {
            let e = speaker
                .metric("ferrule_frr_apply_errors_total")
                .unwrap_or(0.0);
            if e > errors0 {
                Ok(())
            } else {
                Err(e)
            }
        },
    );
    let first_error = frozen.elapsed();
    // Stay frozen 9 s in all, sampling what the speaker holds.
    let (mut max_fds, mut max_rss) = (fds0, rss0);
    while frozen.elapsed() < Duration::from_secs(9) {
        max_fds = max_fds.max(speaker.fds());
        max_rss = max_rss.max(speaker.rss_kib());
        std::thread::sleep(Duration::from_millis(100));
    }
    let freeze = frozen.elapsed();
    let attempts = speaker.metric_now("ferrule_frr_apply_duration_seconds_count") - attempts0;
    let errors = speaker.metric_now("ferrule_frr_apply_errors_total") - errors0;
    let log = speaker.log_text();
    let timeouts = log.matches("did not answer within 1s").count();
    assert!(
        tor_table(&lab.tor, "ipv4") == one,
        "the ToR keeps svc0 and has no svc1 yet"
    );
    kill(bgpd, Signal::SIGCONT).unwrap();
    let two: BTreeMap<String, BTreeSet<String>> = ["203.0.113.10/32", "203.0.113.11/32"]
        .iter()
        .map(|p| (p.to_string(), BTreeSet::from([node.ipv4.to_string()])))
        .collect();
    let applied = wait_table(
        &lab.tor,
        &two,
        Duration::from_secs(30),
        "svc1 at the ToR after bgpd resumed",
    );
    let polls = freeze.as_millis() as f64 / POLL_MS as f64;
    eprintln!(
        "faults: bgpd frozen {freeze:?}: first apply error {first_error:?} after the freeze \
         (timeout 1s); {attempts} apply attempts ({errors} failed), {timeouts} timeouts logged, \
         over ~{polls:.0} poll ticks; fds {fds0} -> max {max_fds}; RSS {rss0} KiB -> max \
         {max_rss} KiB; after SIGCONT the change reached the ToR in {applied:?}"
    );
    // The change waits for the poll in flight (one timeout); its apply then costs about
    // two (re-opening the dropped connection, the batch's first command). No restore is
    // tried against a daemon that does not answer (that cost two more: 5 s before). At the
    // old fixed 120 s this would have been minutes.
    assert!(
        first_error < Duration::from_millis(4500),
        "commands to a frozen bgpd fail after the 1 s timeout, not later: {first_error:?}"
    );
    assert!(timeouts >= 1, "the timeout is logged:\n{log}");
    assert!(errors >= 1.0);
    // Every attempt costs at least one 1 s timeout: no more than one per second of freeze,
    // and far fewer than the poll ticks.
    assert!(
        attempts <= freeze.as_secs_f64() + 1.0 && attempts < polls / 2.0,
        "{attempts} applies in {freeze:?} ({polls:.0} polls)"
    );
    assert!(
        max_fds <= fds0 + 3,
        "connections pile up: {fds0} -> {max_fds}"
    );
    assert!(
        max_rss < rss0 + 16 * 1024,
        "memory grows while bgpd is frozen: {rss0} -> {max_rss} KiB"
    );
    assert!(
        applied < Duration::from_secs(15),
        "the change applies soon after SIGCONT: {applied:?}"
    );
    assert_eq!(
        session_counters(&lab.tor, &[node]),
        counters,
        "no session reset"
    );
    speaker.terminate();

    // Shutdown with an apply in flight to a frozen bgpd, under a timeout far longer than
    // the 2 s the speaker may take to stop.
    let mut speaker = Speaker::start(node, &work, "60s");
    wait_until(
        Duration::from_secs(15),
        "the new speaker's first apply",
        || match node_status(&work, &node.name) {
            Some((r, _, _)) if r == "Success" => {
                let n = speaker.metric("ferrule_frr_apply_duration_seconds_count");
                n.filter(|n| *n >= 1.0).ok_or("no apply yet".to_string())
            }
            other => Err(format!("{other:?}")),
        },
    );
    let reconciles = speaker.metric_now("ferrule_reconciles_total");
    kill(bgpd, Signal::SIGSTOP).unwrap();
    work.write("30-svc-2.yaml", &svc(2));
    // The recompute happened, so the apply it starts is now waiting on the frozen bgpd.
    wait_until(
        Duration::from_secs(10),
        "the change computed (apply in flight)",
        || {
            let n = speaker.metric("ferrule_reconciles_total").unwrap_or(0.0);
            if n > reconciles {
                Ok(())
            } else {
                Err(n)
            }
        },
    );
    std::thread::sleep(Duration::from_millis(200)); // let the apply reach bgpd's socket
    let took = speaker.terminate();
    kill(bgpd, Signal::SIGCONT).unwrap();
    eprintln!(
        "faults: SIGTERM with an apply in flight to a frozen bgpd (timeout 60s): exited in {took:?}"
    );
    assert!(
        took < Duration::from_secs(2),
        "the speaker waited for the frozen bgpd: {took:?}"
    );
    let log = speaker.log_text();
    assert!(log.contains("shutting down"), "{log}");
}

/// FRR refuses a line: a BGPPeer at the node's own address (`% Can not configure the local
/// system as neighbor`). The whole apply fails, the last good config stays (no route event
/// at the ToR, no session reset), and the SpeakerNode status carries FRR's words; once the
/// peer goes, applies succeed again. Then a `bgpextras` line FRR refuses: only that line is
/// left out, reported with FRR's words, while the change beside it applies.
#[test]
fn frr_refusing_a_line_keeps_the_last_good_config() {
    let _serial = serial();
    log_init();
    let Some(lab) = Lab::start_peered(1, 65000, 65100) else {
        return;
    };
    let node = lab.node(0);
    let work = Work::new("refused");
    work.write(
        "10-base.yaml",
        &base_yaml(&[node], 65100, 65000, "  holdTime: 9s\n"),
    );
    work.write(
        "20-adv.yaml",
        &adv_yaml("adv-a", "pool-a", &["65000:100"], None),
    );
    for i in 0..2 {
        work.write(
            &format!("30-svc-{i}.yaml"),
            &service_yaml(
                &format!("svc{i}"),
                false,
                Some(&format!("203.0.113.{}", 10 + i)),
                false,
                &[&node.name],
            ),
        );
    }
    let mut speaker = Speaker::start(node, &work, "10s");
    wait_established(&lab.tor, node.ipv4, Duration::from_secs(30));
    let want: BTreeMap<String, BTreeSet<String>> = ["203.0.113.10/32", "203.0.113.11/32"]
        .iter()
        .map(|p| (p.to_string(), BTreeSet::from([node.ipv4.to_string()])))
        .collect();
    wait_table(
        &lab.tor,
        &want,
        Duration::from_secs(15),
        "2 routes at the ToR",
    );
    wait_until(
        Duration::from_secs(10),
        "status Success",
        || match node_status(&work, &node.name) {
            Some((r, _, _)) if r == "Success" => Ok(()),
            other => Err(other),
        },
    );
    let counters = session_counters(&lab.tor, &[node]);
    let good = node.running_config();
    // The ToR's kernel has both routes before the watch starts.
    wait_until(
        Duration::from_secs(10),
        "both routes in the ToR's kernel",
        || {
            let k = kernel_routes(&lab.tor);
            if k.len() == 2 {
                Ok(())
            } else {
                Err(k)
            }
        },
    );
    let fib = RouteMonitor::start(&lab.tor);

    let bad_peer = format!(
        "apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{ name: self, namespace: {NS} }}
spec:
  myASN: 65100
  peerASN: 65001
  peerAddress: {}
",
        node.ipv4
    );
    let t = Instant::now();
    work.write("40-self-peer.yaml", &bad_peer);
    let message = wait_until(
        Duration::from_secs(15),
        "status to show the refused apply",
        || match node_status(&work, &node.name) {
            Some((r, Some(m), _)) if r == "Failed" => Ok(m),
            other => Err(other),
        },
    );
    let reported = t.elapsed();
    // Retries (with backoff) keep failing; over them, nothing moves at the ToR.
    let events: Vec<String> = fib
        .take(Duration::from_secs(3))
        .into_iter()
        .filter(|l| l.contains("203.0.113."))
        .collect();
    let errors = speaker.metric_now("ferrule_frr_apply_errors_total");
    eprintln!(
        "faults: FRR refused a line; status after {reported:?}: {message:?}; {errors} failed \
         applies; ToR route events meanwhile: {events:?}"
    );
    assert!(
        message.contains("Can not configure the local system as neighbor"),
        "FRR's own words in status: {message}"
    );
    assert!(message.contains(&node.ipv4.to_string()), "{message}");
    assert!(message.contains("last good config restored"), "{message}");
    assert!(events.is_empty(), "routes moved at the ToR: {events:?}");
    assert_eq!(tor_table(&lab.tor, "ipv4"), want);
    assert_eq!(session_counters(&lab.tor, &[node]), counters);
    // FRR runs the last good config (compared as FRR means it). The retries go on: caught
    // between a retry's batch and its restore, FRR holds the batch's route-maps, which
    // nothing references (the neighbor line that would was refused); nothing else may
    // differ.
    let now = node.running_config();
    let drift = ferrule::frr_diff::diff(
        &ferrule::frr_config::parse(&good),
        &ferrule::frr_config::parse(&now),
    );
    let transient: Vec<&String> = drift
        .config
        .iter()
        .filter(|c| c.starts_with("no route-map "))
        .collect();
    eprintln!("faults: unreferenced route-maps of a retry in flight: {transient:?}");
    assert_eq!(
        transient.len(),
        drift.changes,
        "FRR runs the last good config; it would need {:?}\nwas:\n{good}\nnow:\n{now}",
        drift.config
    );

    // The bad peer goes: applies succeed again, nothing moved.
    work.remove("40-self-peer.yaml");
    wait_until(
        Duration::from_secs(15),
        "status Success again",
        || match node_status(&work, &node.name) {
            Some((r, None, _)) if r == "Success" => Ok(()),
            other => Err(other),
        },
    );

    // A bgpextras line FRR refuses beside a real change (a third Service).
    let extras = format!(
        "apiVersion: v1
kind: ConfigMap
metadata: {{ name: bgpextras, namespace: {NS} }}
data:
  extras: |
    ip prefix-list extra-ok seq 5 permit 198.51.100.0/24
    neighbor 192.0.2.1 no-such-knob
"
    );
    work.write("50-extras.yaml", &extras);
    work.write(
        "30-svc-2.yaml",
        &service_yaml("svc2", false, Some("203.0.113.12"), false, &[&node.name]),
    );
    let mut three = want.clone();
    three.insert(
        "203.0.113.12/32".into(),
        BTreeSet::from([node.ipv4.to_string()]),
    );
    wait_table(&lab.tor, &three, Duration::from_secs(15), "svc2 at the ToR");
    let refused =
        wait_until(
            Duration::from_secs(15),
            "extras refused in status",
            || match node_status(&work, &node.name) {
                Some((r, _, refused)) if r == "Success" && !refused.is_empty() => Ok(refused),
                other => Err(other),
            },
        );
    eprintln!("faults: bgpextras line refused, the rest applied; status: {refused:?}");
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].contains("no-such-knob"), "{refused:?}");
    assert!(
        node.running_config()
            .contains("ip prefix-list extra-ok seq 5 permit 198.51.100.0/24"),
        "the good extras line applied"
    );
    assert_eq!(session_counters(&lab.tor, &[node]), counters);
    speaker.terminate();
}

const MANY: usize = 2000;

/// 2,000 IPv6 Services (one /128 each) arrive; the speaker is SIGKILLed while bgpd has
/// part of them, then started again: it reads what FRR runs, sends the rest, and the ToR
/// ends with all 2,000 without the session ever being reset.
#[test]
fn speaker_killed_mid_apply_converges_without_a_reset() {
    let _serial = serial();
    log_init();
    let Some(lab) = Lab::start_peered(1, 65000, 65100) else {
        return;
    };
    let node = lab.node(0);
    let work = Work::new("midapply");
    work.write(
        "10-base.yaml",
        &base_yaml(
            &[node],
            65100,
            65000,
            "  holdTime: 9s\n  dualStackAddressFamily: true\n",
        ),
    );
    work.write(
        "20-adv.yaml",
        &adv_yaml("adv-v6", "pool-v6", &["65000:600"], None),
    );
    let mut speaker = Speaker::start(node, &work, "10s");
    wait_established(&lab.tor, node.ipv4, Duration::from_secs(30));
    wait_until(
        Duration::from_secs(10),
        "the first apply",
        || match node_status(&work, &node.name) {
            Some((r, _, _)) if r == "Success" => Ok(()),
            other => Err(other),
        },
    );
    let counters = session_counters(&lab.tor, &[node]);

    let many: Vec<String> = (0..MANY)
        .map(|i| service_yaml(&format!("many{i}"), false, None, true, &[&node.name]))
        .collect();
    let written = Instant::now();
    work.write("70-many.yaml", &many.join("---\n"));
    // Kill the speaker once bgpd has a quarter, not all, of the prefixes.
    let mut first_seen = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = bgpd_ipv6_routes(node).unwrap_or(0);
        if n > 0 && first_seen.is_none() {
            first_seen = Some(written.elapsed());
        }
        if (MANY / 4..MANY).contains(&n) {
            speaker.kill();
            break;
        }
        assert!(
            n < MANY,
            "the apply finished before the drill could catch it half-way"
        );
        assert!(
            Instant::now() < deadline,
            "the apply never started; speaker log:\n{}",
            speaker.log_text()
        );
    }
    let killed = written.elapsed();
    let at_kill = bgpd_ipv6_routes(node).unwrap_or(0);
    assert!(
        at_kill < MANY,
        "bgpd had every prefix when the speaker died: {at_kill}"
    );
    let restarted = Instant::now();
    let mut speaker = Speaker::start(node, &work, "10s");
    wait_until(
        Duration::from_secs(90),
        "all 2,000 prefixes at the ToR after the speaker restarted",
        || {
            let got = pfx_rcd(&lab.tor, "ipv6Unicast", node);
            let local = bgpd_ipv6_routes(node).unwrap_or(0);
            if got == MANY as u64 && local == MANY {
                Ok(())
            } else {
                Err((got, local))
            }
        },
    );
    let converged = restarted.elapsed();
    let status = wait_until(
        Duration::from_secs(30),
        "status Success",
        || match node_status(&work, &node.name) {
            Some((r, m, _)) if r == "Success" => Ok(m),
            other => Err(other),
        },
    );
    let after = session_counters(&lab.tor, &[node]);
    eprintln!(
        "faults: {MANY} Services written; first prefix in bgpd after {:?}; speaker SIGKILLed \
         {killed:?} after the write with {at_kill} of {MANY} in bgpd; restarted speaker \
         converged (ToR has {MANY}) in {converged:?}; ToR session counters before {counters:?} \
         after {after:?}",
        first_seen.unwrap_or_default()
    );
    assert_eq!(status, None);
    assert_eq!(after, counters, "the BGP session was reset");
    speaker.terminate();
}

/// A tiny xorshift64*: seeded, reproducible, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }
}

const SLOTS: usize = 16;
const CHANGES: usize = 500;
const COMMUNITIES: [&str; 3] = ["65000:1", "65000:2", "65000:3"];
const LOCAL_PREFS: [Option<u32>; 4] = [None, Some(120), Some(150), Some(200)];
/// The rate changes are written at (a pace, not a wait for anything).
const CHANGE_INTERVAL: Duration = Duration::from_millis(15);

#[derive(Clone, Debug)]
struct Svc {
    etp_local: bool,
    /// Indices of the nodes with a ready endpoint.
    nodes: Vec<usize>,
}

#[derive(Clone, Debug)]
struct Adv {
    communities: Vec<&'static str>,
    local_pref: Option<u32>,
}

/// What the manifests say, written one file per Service slot and per advertisement.
struct World {
    services: Vec<Option<Svc>>,
    advs: [Adv; 2],
}

fn slot_ip(i: usize) -> String {
    if i < SLOTS / 2 {
        format!("203.0.113.{}", 20 + i)
    } else {
        format!("198.51.100.{}", 20 + i)
    }
}

impl World {
    fn random_svc(rng: &mut Rng, nodes: usize) -> Svc {
        Svc {
            etp_local: rng.coin(),
            nodes: (0..nodes).filter(|_| rng.coin()).collect(),
        }
    }

    fn random_adv(rng: &mut Rng) -> Adv {
        Adv {
            communities: COMMUNITIES.iter().copied().filter(|_| rng.coin()).collect(),
            local_pref: LOCAL_PREFS[rng.below(LOCAL_PREFS.len())],
        }
    }

    fn write_svc(&self, work: &Work, nodes: &[&Instance], i: usize) {
        let file = format!("30-svc-{i:02}.yaml");
        match &self.services[i] {
            None => work.remove(&file),
            Some(s) => {
                let on: Vec<&str> = s.nodes.iter().map(|&n| nodes[n].name.as_str()).collect();
                let ip = slot_ip(i);
                work.write(
                    &file,
                    &service_yaml(&format!("s{i}"), s.etp_local, Some(&ip), false, &on),
                );
            }
        }
    }

    fn write_adv(&self, work: &Work, i: usize) {
        let (name, pool) = [("adv-a", "pool-a"), ("adv-b", "pool-b")][i];
        let a = &self.advs[i];
        work.write(
            &format!("20-{name}.yaml"),
            &adv_yaml(name, pool, &a.communities, a.local_pref),
        );
    }

    /// One random change (never a peer): returns what it was.
    fn change(&mut self, rng: &mut Rng, work: &Work, nodes: &[&Instance]) -> &'static str {
        let i = rng.below(SLOTS);
        let kind = rng.below(10);
        match (kind, self.services[i].is_some()) {
            (0..=1, _) => {
                self.services[i] = match self.services[i] {
                    Some(_) => None,
                    None => Some(World::random_svc(rng, nodes.len())),
                };
                self.write_svc(work, nodes, i);
                "service added/removed"
            }
            (2..=4, true) => {
                let s = self.services[i].as_mut().unwrap();
                s.nodes = (0..nodes.len()).filter(|_| rng.coin()).collect();
                self.write_svc(work, nodes, i);
                "endpoints moved"
            }
            (5..=6, true) => {
                let s = self.services[i].as_mut().unwrap();
                s.etp_local = !s.etp_local;
                self.write_svc(work, nodes, i);
                "externalTrafficPolicy flipped"
            }
            (7..=8, _) => {
                let a = rng.below(2);
                self.advs[a].communities =
                    COMMUNITIES.iter().copied().filter(|_| rng.coin()).collect();
                self.write_adv(work, a);
                "communities changed"
            }
            _ => {
                let a = rng.below(2);
                self.advs[a].local_pref = LOCAL_PREFS[rng.below(LOCAL_PREFS.len())];
                self.write_adv(work, a);
                "localPref changed"
            }
        }
    }
}

/// Prefix -> paths as (next hop, communities sorted, LOCAL_PREF): the ToR's BGP table.
type Paths = BTreeMap<String, BTreeSet<(String, String, u64)>>;

fn sorted_words(s: &str) -> String {
    let mut w: Vec<&str> = s.split_whitespace().collect();
    w.sort();
    w.join(" ")
}

fn tor_paths(tor: &Instance) -> Paths {
    let mut out = Paths::new();
    for prefix in tor_table(tor, "ipv4").keys() {
        let v = tor.bgpd_json(&format!("show bgp ipv4 unicast {prefix} json"));
        let paths = out.entry(prefix.clone()).or_default();
        for p in v["paths"].as_array().into_iter().flatten() {
            paths.insert((
                p["nexthops"][0]["ip"].as_str().unwrap_or("?").to_string(),
                sorted_words(p["community"]["string"].as_str().unwrap_or("")),
                p["locPrf"].as_u64().unwrap_or(100),
            ));
        }
    }
    out
}

/// What ferrule's pure core says the ToR should have for the manifests as they are now:
/// `compute` over the directory, each node's intent, every announcement to the ToR.
fn expected_paths(work: &Work, nodes: &[&Instance]) -> Paths {
    let loaded = ferrule::manifests::load_dir(&work.manifests, NS).unwrap();
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let computed = ferrule::compute(
        &loaded.snapshot,
        &ferrule::Options::default(),
        ferrule::Addresses::Allocate,
        &BTreeMap::new(),
    );
    assert!(computed.errors.is_empty(), "{:?}", computed.errors);
    let mut out = Paths::new();
    for n in nodes {
        let intent = computed.node_intent(&n.name);
        for r in &intent.routers {
            for nb in &r.neighbors {
                for a in &nb.announcements {
                    let communities: Vec<String> =
                        a.communities.iter().map(|c| c.to_string()).collect();
                    out.entry(a.prefix.to_string()).or_default().insert((
                        n.ipv4.to_string(),
                        sorted_words(&communities.join(" ")),
                        a.local_pref.map(u64::from).unwrap_or(100),
                    ));
                }
            }
        }
    }
    out
}

/// Prefix -> next hops in the ToR's kernel (what packets use).
fn tor_fib(tor: &Instance) -> BTreeMap<String, BTreeSet<String>> {
    let text = harness::exec(
        &tor.ns,
        &["ip", "-4", "-j", "route", "show", "proto", "bgp"],
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let mut out = BTreeMap::new();
    for r in v.as_array().into_iter().flatten() {
        let dst = r["dst"].as_str().unwrap_or("?");
        let dst = if dst.contains('/') {
            dst.to_string()
        } else {
            format!("{dst}/32")
        };
        let mut hops: BTreeSet<String> = r["nexthops"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|h| h["gateway"].as_str().map(str::to_string))
            .collect();
        if let Some(g) = r["gateway"].as_str() {
            hops.insert(g.to_string());
        }
        out.insert(dst, hops);
    }
    out
}

/// The FIB the expected paths imply: every path's next hop (the ToR runs iBGP multipath,
/// and every node's paths for a prefix carry the same attributes).
fn expected_fib(paths: &Paths) -> BTreeMap<String, BTreeSet<String>> {
    paths
        .iter()
        .map(|(p, ps)| (p.clone(), ps.iter().map(|x| x.0.clone()).collect()))
        .collect()
}

/// 500 random manifest changes (Services added and removed, endpoints moved between nodes,
/// externalTrafficPolicy flipped, advertisement communities and localPref changed; never a
/// peer) written in quick succession to two speakers: no session is reset, and at every
/// 50th change and at the end the ToR's BGP table and FIB are exactly what ferrule's pure
/// core computes for the manifests.
///
/// It found a real loss of withdrawals: FRR's update groups wait `coalesce-time` (1 s by
/// default) after a session comes up before sending their table, and a prefix withdrawn in
/// that window stayed in the adj-RIB-out, and at the ToR, for good (a soft clear did not
/// help; the nodes' own tables no longer had it). ferrule renders `coalesce-time 0`.
/// FAULTS_SEED=N runs another sequence.
#[test]
fn five_hundred_random_manifest_changes_reset_no_session() {
    let _serial = serial();
    log_init();
    let seed: u64 = std::env::var("FAULTS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_f4a1_7000_0013);
    let Some(lab) = Lab::start_peered(2, 65000, 65000) else {
        return;
    };
    let nodes: Vec<&Instance> = lab.nodes.iter().collect();
    let work = Work::new("random");
    let mut rng = Rng(seed);
    let mut world = World {
        services: (0..SLOTS)
            .map(|_| rng.coin().then(|| World::random_svc(&mut rng, nodes.len())))
            .collect(),
        advs: [World::random_adv(&mut rng), World::random_adv(&mut rng)],
    };
    work.write(
        "10-base.yaml",
        &base_yaml(&nodes, 65000, 65000, "  holdTime: 9s\n"),
    );
    for a in 0..2 {
        world.write_adv(&work, a);
    }
    for i in 0..SLOTS {
        world.write_svc(&work, &nodes, i);
    }
    let speakers: Vec<Speaker> = nodes
        .iter()
        .map(|n| Speaker::start(n, &work, "10s"))
        .collect();
    for n in &nodes {
        wait_established(&lab.tor, n.ipv4, Duration::from_secs(30));
    }
    let converge = |what: &str| -> (Duration, usize) {
        let t = Instant::now();
        let want = expected_paths(&work, &nodes);
        let r = harness::try_wait_until(Duration::from_secs(30), || {
            let got = tor_paths(&lab.tor);
            if got != want {
                return Err(format!("BGP table differs:\n got  {got:?}\n want {want:?}"));
            }
            let (fib, want_fib) = (tor_fib(&lab.tor), expected_fib(&want));
            if fib != want_fib {
                return Err(format!("FIB differs:\n got  {fib:?}\n want {want_fib:?}"));
            }
            Ok(())
        });
        if let Err(e) = r {
            // Diagnosis: does a soft-out refresh from the nodes clear what is stale?
            for n in &nodes {
                let _ = n.vtysh(&["clear bgp ipv4 unicast 192.0.2.1 soft out"]);
            }
            let want = expected_paths(&work, &nodes);
            let healed = harness::try_wait_until(Duration::from_secs(5), || {
                let got = tor_paths(&lab.tor);
                if got == want {
                    Ok(())
                } else {
                    Err(got)
                }
            });
            eprintln!("after `clear bgp ... soft out` on the nodes: {healed:?}");
            let configs: Vec<String> = nodes
                .iter()
                .map(|n| {
                    format!(
                        "{} table: {:?}\nadvertised: {}",
                        n.name,
                        tor_table(n, "ipv4").keys().collect::<Vec<_>>(),
                        n.vtysh(&["show bgp ipv4 unicast neighbors 192.0.2.1 advertised-routes"])
                            .unwrap_or_default()
                    )
                })
                .collect();
            let logs: Vec<String> = speakers.iter().map(|s| s.log_text()).collect();
            panic!(
                "timed out waiting for {what}: {e}\nnode configs:\n{}\nspeaker logs (tails):\n{}",
                configs.join("\n-----\n"),
                logs.iter()
                    .map(|l| l.lines().rev().take(40).collect::<Vec<_>>().join("\n"))
                    .collect::<Vec<_>>()
                    .join("\n-----\n")
            );
        }
        (t.elapsed(), want.len())
    };
    let (initial, _) = converge("the initial manifests at the ToR");
    let counters = session_counters(&lab.tor, &nodes);
    let applies0: f64 = speakers
        .iter()
        .map(|s| s.metric_now("ferrule_frr_applies_total"))
        .sum();

    let started = Instant::now();
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    let mut checkpoints = Vec::new();
    for i in 1..=CHANGES {
        let t = Instant::now();
        *kinds
            .entry(world.change(&mut rng, &work, &nodes))
            .or_default() += 1;
        if i % 50 == 0 {
            let (took, prefixes) = converge(&format!("the ToR to match the core after change {i}"));
            checkpoints.push((i, took, prefixes));
            assert_eq!(
                session_counters(&lab.tor, &nodes),
                counters,
                "a session was reset by change {i} or before"
            );
        } else if let Some(left) = CHANGE_INTERVAL.checked_sub(t.elapsed()) {
            std::thread::sleep(left);
        }
    }
    let total = started.elapsed();
    let applies: f64 = speakers
        .iter()
        .map(|s| s.metric_now("ferrule_frr_applies_total"))
        .sum::<f64>()
        - applies0;
    let errors: f64 = speakers
        .iter()
        .map(|s| s.metric_now("ferrule_frr_apply_errors_total"))
        .sum();
    let after = session_counters(&lab.tor, &nodes);
    let final_paths = tor_paths(&lab.tor);
    eprintln!(
        "faults: seed {seed:#x}: {CHANGES} random changes {kinds:?} in {total:?} (initial \
         convergence {initial:?}); {applies} applies that sent commands over 2 speakers, \
         {errors} failed; convergence at each 50th change (change, time, prefixes): \
         {checkpoints:?}; final ToR table = core's ({} prefixes); session counters before \
         {counters:?} after {after:?}",
        final_paths.len()
    );
    assert_eq!(after, counters, "sessions were reset");
    assert_eq!(errors, 0.0, "no apply failed");
    assert!(
        applies > 50.0,
        "the changes reached FRR as applies: {applies}"
    );
    for mut s in speakers {
        s.terminate();
    }
}
