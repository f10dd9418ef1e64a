//! A BGP password never leaks. A lab ToR wants TCP MD5 from the node; the node's real
//! `ferrule speaker` (file mode, debug logging) gets the password from a
//! `kubernetes.io/basic-auth` Secret, once over the vty sockets and once through vtysh
//! processes. While it runs, the test drives every error path that could echo the password
//! (a bgpextras line FRR refuses that carries it, Secrets FRR cannot take, a malformed
//! Secret) and a background thread reads `/proc/*/cmdline` (and the environment of the
//! speaker's children) every ~1 ms and the speaker's open files. At the end it looks for the
//! password (whole, its first 12 characters, its base64) in every channel: the speaker's
//! stdout and stderr, every status file, `/metrics`, `/healthz`, `/readyz`, command lines,
//! environments, and every file the speaker (or a child) opened for writing (strace, when
//! installed, else the open-fd scan). Every channel must hold zero hits.

#[path = "harness.rs"]
mod harness;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use harness::{free_port, tor_config, wait_established, wait_until, Instance, Lab, Work};

const NS: &str = "metallb-system";
const PASSWORD: &str = "Zq7-lab-secret-91";
const NODE_AS: u32 = 65100;
const TOR_AS: u32 = 65000;
const SERVICE_IP: &str = "203.0.113.10";
/// Started as a child of this test, only so the scanner proves it sees 5 ms processes
/// (a vtysh call lives 30 ms or more).
const CANARY: &str = "ferrule-scan-canary-7Hk2";

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// What counts as a hit: the password's first 12 characters (so the whole password, and a
/// cut-off copy that dodges a whole-word redaction, both count) and its base64 (a Secret's
/// `data` serialized back).
fn needles() -> Vec<String> {
    let b64 = serde_json::to_value(k8s_openapi::ByteString(PASSWORD.as_bytes().to_vec()))
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    // 12 bytes are 16 base64 characters, whatever follows them.
    vec![PASSWORD[..12].to_string(), b64[..16].to_string()]
}

fn hits(text: &[u8], needles: &[String]) -> usize {
    needles
        .iter()
        .map(|n| {
            let n = n.as_bytes();
            text.windows(n.len()).filter(|w| *w == n).count()
        })
        .sum()
}

// ---- manifests ----

/// Polls the SpeakerNode status until `ok` holds for it.
fn wait_status(
    work: &Work,
    node: &str,
    what: &str,
    ok: impl Fn(&ferrule::api::status::SpeakerNodeStatus) -> bool,
) -> ferrule::api::status::SpeakerNodeStatus {
    wait_until(Duration::from_secs(20), what, || {
        match work.speaker_node(node) {
            Some(s) if ok(&s) => Ok(s),
            other => Err(other.map(|s| {
                (
                    s.apply_result,
                    s.apply_message,
                    s.validation_warnings,
                    s.validation_errors,
                    s.extras_refused,
                )
            })),
        }
    })
}

fn base_yaml(node: &Instance) -> String {
    format!(
        "apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{ name: pool, namespace: {NS} }}
spec:
  addresses: [203.0.113.0/24]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{ name: tor, namespace: {NS} }}
spec:
  myASN: {NODE_AS}
  peerASN: {TOR_AS}
  peerAddress: 192.0.2.1
  holdTime: 9s
  connectTime: 1s
  passwordSecret: {{ name: tor-pw, namespace: {NS} }}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{ name: adv, namespace: {NS} }}
spec:
  ipAddressPools: [pool]
  communities: [\"65000:100\"]
---
apiVersion: v1
kind: Node
metadata: {{ name: {node} }}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
  annotations: {{ metallb.io/loadBalancerIPs: \"{SERVICE_IP}\" }}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector: {{ app: web }}
  ports: [{{ port: 443, targetPort: 8443 }}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: default
  labels: {{ kubernetes.io/service-name: web }}
addressType: IPv4
endpoints:
- addresses: [10.244.0.10]
  conditions: {{ ready: true }}
  nodeName: {node}
",
        node = node.name
    )
}

/// The Secret document; `body` is what follows `type:` (normally `stringData`).
fn secret_yaml(body: &str) -> String {
    format!(
        "apiVersion: v1
kind: Secret
metadata: {{ name: tor-pw, namespace: {NS} }}
type: kubernetes.io/basic-auth
{body}
"
    )
}

fn secret_with(password: &str) -> String {
    secret_yaml(&format!(
        "stringData: {{ username: node, password: \"{password}\" }}"
    ))
}

fn extras_yaml(line: &str) -> String {
    format!(
        "apiVersion: v1
kind: ConfigMap
metadata: {{ name: bgpextras, namespace: {NS} }}
data:
  extras: |
    {line}
"
    )
}

// ---- the speaker ----

/// How the test knows the speaker read a changed Secret.
enum Proof {
    /// SpeakerNode's validation warnings mention this.
    Warning(&'static str),
    /// The speaker's log has a line with this.
    Log(&'static str),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Transport {
    Socket,
    Vtysh,
}

struct Speaker {
    /// The process we started: strace (when installed) or ferrule itself.
    child: Option<Child>,
    /// ferrule's own pid.
    pid: i32,
    metrics_port: u16,
    stdout: PathBuf,
    stderr: PathBuf,
    trace: Option<PathBuf>,
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The pids whose parent is `pid` (every thread's children).
fn children_of(pid: i32) -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|s| {
            s.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect()
}

impl Speaker {
    fn start(node: &Instance, work: &Work, transport: Transport) -> Speaker {
        let metrics_port = free_port();
        let stdout = work.dir.join("speaker.stdout");
        let stderr = work.dir.join("speaker.stderr");
        let strace = have("strace");
        // Under CI the file and exec channels must be traced, not silently skipped.
        assert!(
            strace || std::env::var_os("CI").is_none_or(|v| v.is_empty()),
            "strace is required under CI (e2e/setup.sh installs it)"
        );
        let trace = strace.then(|| work.dir.join("speaker.strace"));
        let bin = env!("CARGO_BIN_EXE_ferrule");
        let mut cmd = match &trace {
            Some(t) => {
                // File syscalls only: paths, never what is written.
                let mut c = Command::new("strace");
                // File syscalls (paths, never what is written) and every exec with its
                // whole argv and environment (-v, -s): a second, complete look at what
                // the scanner samples.
                c.args(["-f", "-qq", "-v", "-s", "65536", "-e"])
                    .arg("trace=execve,open,openat,creat,rename,renameat,renameat2,link,linkat,truncate")
                    .arg("-o")
                    .arg(t)
                    .arg(bin);
                c
            }
            None => Command::new(bin),
        };
        cmd.arg("speaker")
            .args(["--node", &node.name, "--namespace", NS])
            .arg("--source")
            .arg(&work.manifests)
            .arg("--status-dir")
            .arg(&work.status)
            .arg("--vty-socket-dir")
            .arg(&node.run)
            .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
            .args(["--poll-ms", "250", "--coalesce-ms", "10"]);
        if transport == Transport::Vtysh {
            // `--vtysh-wrapper` is split on whitespace, which would cut the harness's
            // `sh -c SCRIPT` apart: the same wrapper as a one-word script instead.
            let wrapper = work.dir.join("uts-wrapper.sh");
            let w = node.uts_wrapper();
            std::fs::write(
                &wrapper,
                format!(
                    "#!/bin/sh\nexec {} {} {} {} '{}' {} \"$@\"\n",
                    w[0], w[1], w[2], w[3], w[4], w[5]
                ),
            )
            .unwrap();
            std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
            cmd.args(["--frr-transport", "vtysh", "--vtysh-wrapper"])
                .arg(&wrapper)
                .arg("--frr-config-dir")
                .arg(&node.etc);
        }
        let child = cmd
            .env("RUST_LOG", "debug")
            .env_remove("FERRULE_LOG_JSON")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("ferrule speaker");
        let started = child.id() as i32;
        let pid = if trace.is_some() {
            wait_until(Duration::from_secs(10), "ferrule under strace", || {
                children_of(started)
                    .into_iter()
                    .find(|p| {
                        std::fs::read(format!("/proc/{p}/cmdline"))
                            .is_ok_and(|c| c.windows(7).any(|w| w == b"speaker"))
                    })
                    .ok_or("not yet")
            })
        } else {
            started
        };
        Speaker {
            child: Some(child),
            pid,
            metrics_port,
            stdout,
            stderr,
            trace,
        }
    }

    fn get(&self, path: &str) -> String {
        wait_until(Duration::from_secs(10), path, || {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", self.metrics_port))
                .map_err(|e| e.to_string())?;
            s.set_read_timeout(Some(Duration::from_secs(5)))
                .map_err(|e| e.to_string())?;
            s.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
                .map_err(|e| e.to_string())?;
            let mut text = String::new();
            s.read_to_string(&mut text).map_err(|e| e.to_string())?;
            Ok::<_, String>(text)
        })
    }

    /// SIGTERM to ferrule, then wait for what we started (strace ends with it). On a
    /// timeout the child stays ours, so Drop still kills it.
    fn stop(&mut self) {
        use nix::sys::signal::{kill, Signal};
        let _ = kill(nix::unistd::Pid::from_raw(self.pid), Signal::SIGTERM);
        let pid = self.pid;
        let c = self.child.as_mut().expect("running");
        let what = format!(
            "ferrule {pid} to exit (children of {}: {:?}; {})",
            c.id(),
            children_of(c.id() as i32),
            std::fs::read_to_string(format!("/proc/{pid}/status"))
                .unwrap_or_default()
                .lines()
                .filter(|l| l.starts_with("State") || l.starts_with("TracerPid"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let status = wait_until(Duration::from_secs(15), &what, || {
            c.try_wait()
                .map_err(|e| e.to_string())?
                .ok_or_else(|| "running".to_string())
        });
        self.child = None;
        assert!(status.success(), "speaker exited with {status}");
    }
}

impl Drop for Speaker {
    /// SIGKILL ferrule and strace, reap strace, and make sure ferrule is gone too.
    fn drop(&mut self) {
        use nix::sys::signal::{kill, Signal};
        let Some(mut c) = self.child.take() else {
            return;
        };
        let ferrule = nix::unistd::Pid::from_raw(self.pid);
        let _ = kill(ferrule, Signal::SIGKILL);
        let _ = c.kill();
        let _ = c.wait();
        let gone = harness::try_wait_until(Duration::from_secs(5), || {
            let _ = kill(ferrule, Signal::SIGKILL);
            if harness::alive(self.pid) {
                Err("alive")
            } else {
                Ok(())
            }
        });
        if let Err(e) = gone {
            eprintln!("ferrule {} outlived its test: {e}", self.pid);
        }
    }
}

// ---- the /proc scanner ----

/// Ends the scanner when the test ends, also by a panic.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[derive(Debug, Default)]
struct Scan {
    passes: u64,
    /// Distinct pids whose command line was read.
    processes: usize,
    /// Distinct descendants of the speaker seen, and how many of them were vtysh.
    descendants: usize,
    vtysh: usize,
    cmdline_hits: usize,
    environ_hits: usize,
    environs_read: usize,
    canaries: usize,
    /// Regular files the speaker or a descendant held open.
    open_files: BTreeSet<PathBuf>,
    /// What leaked where, for the failure message.
    leaks: Vec<String>,
}

fn ppid(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Every ~1 ms: every process's command line (a speaker descendant's again on each pass, as
/// it may exec), a descendant's environment; every 10th pass the open fds.
fn scanner(speaker: i32, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Scan> {
    std::thread::spawn(move || {
        let needles = needles();
        let mut scan = Scan::default();
        // pid -> (descendant?, cmdlines seen)
        let mut seen: BTreeMap<i32, (bool, BTreeSet<Vec<u8>>)> = BTreeMap::new();
        let mut ever: BTreeSet<i32> = BTreeSet::new();
        let mut canary_pids: BTreeSet<i32> = BTreeSet::new();
        let mut vtysh_pids: BTreeSet<i32> = BTreeSet::new();
        let mut desc_pids: BTreeSet<i32> = BTreeSet::new();
        while !stop.load(Ordering::SeqCst) {
            scan.passes += 1;
            let mut now: BTreeSet<i32> = BTreeSet::new();
            for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                    continue;
                };
                now.insert(pid);
                let known = seen.get(&pid).map(|(d, _)| *d);
                if known == Some(false) {
                    continue;
                }
                let descendant = known.unwrap_or_else(|| {
                    pid == speaker
                        || ppid(pid)
                            .is_some_and(|p| p == speaker || seen.get(&p).is_some_and(|s| s.0))
                });
                let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                    continue;
                };
                let entry = seen.entry(pid).or_insert((descendant, BTreeSet::new()));
                ever.insert(pid);
                if entry.1.insert(cmdline.clone()) {
                    let n = hits(&cmdline, &needles);
                    if n > 0 {
                        scan.cmdline_hits += n;
                        scan.leaks.push(format!(
                            "cmdline of {pid}: {}",
                            String::from_utf8_lossy(&cmdline).replace('\0', " ")
                        ));
                    }
                    if hits(&cmdline, &[CANARY.to_string()]) > 0 {
                        canary_pids.insert(pid);
                    }
                    if descendant && pid != speaker {
                        desc_pids.insert(pid);
                        if cmdline.windows(5).any(|w| w == b"vtysh") {
                            vtysh_pids.insert(pid);
                        }
                        if let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) {
                            scan.environs_read += 1;
                            let n = hits(&env, &needles);
                            if n > 0 {
                                scan.environ_hits += n;
                                scan.leaks.push(format!("environ of {pid}"));
                            }
                        }
                    }
                }
            }
            seen.retain(|pid, _| now.contains(pid));
            if scan.passes % 10 == 0 {
                for (pid, _) in seen.iter().filter(|(_, (d, _))| *d) {
                    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"));
                    for fd in fds.into_iter().flatten().flatten() {
                        let info =
                            format!("/proc/{pid}/fdinfo/{}", fd.file_name().to_string_lossy());
                        if !writable(&info) {
                            continue;
                        }
                        if let Ok(target) = std::fs::read_link(fd.path()) {
                            if target.is_absolute() && !target.starts_with("/dev") {
                                scan.open_files.insert(target);
                            }
                        }
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        scan.processes = ever.len();
        scan.descendants = desc_pids.len();
        scan.vtysh = vtysh_pids.len();
        scan.canaries = canary_pids.len();
        scan
    })
}

// ---- what the speaker wrote ----

/// Whether an open file (its `/proc/PID/fdinfo/N`) was opened for writing.
fn writable(fdinfo: &str) -> bool {
    std::fs::read_to_string(fdinfo).is_ok_and(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
            .is_some_and(|f| f & 0o3 != 0)
    })
}

/// The successful execs in an strace log: (lines, how many ran vtysh).
fn execs(trace: &str) -> (Vec<&str>, usize) {
    let lines: Vec<&str> = trace
        .lines()
        .filter(|l| l.contains("execve(") && l.trim_end().ends_with(" = 0"))
        .collect();
    let vtysh = lines
        .iter()
        .filter(|l| l.split('"').nth(1).is_some_and(|p| p.ends_with("/vtysh")))
        .count();
    (lines, vtysh)
}

/// Paths opened for writing (or renamed/linked to) in an strace log.
fn written_paths(trace: &str) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    for line in trace.lines() {
        let quoted: Vec<&str> = line.split('"').skip(1).step_by(2).collect();
        let failed = line
            .rsplit_once(" = ")
            .is_none_or(|(_, r)| r.starts_with('-'));
        if failed || quoted.is_empty() {
            continue;
        }
        let writes = line.contains("O_WRONLY")
            || line.contains("O_RDWR")
            || line.contains("O_CREAT")
            || line.contains("creat(")
            || line.contains("truncate(");
        let target = if line.contains("rename") || line.contains("link") {
            quoted.last()
        } else if writes {
            quoted.first()
        } else {
            None
        };
        if let Some(p) = target {
            out.insert(PathBuf::from(p));
        }
    }
    out
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn world_readable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o004 != 0)
}

// ---- the drill ----

fn tor_with_password(node: &Instance) -> String {
    let plain = tor_config(TOR_AS, &[(node, NODE_AS)]);
    let anchor = format!(" neighbor {} timers 3 9\n", node.ipv4);
    let with = plain.replace(
        &anchor,
        &format!("{anchor} neighbor {} password {PASSWORD}\n", node.ipv4),
    );
    assert_ne!(
        plain, with,
        "the ToR config has no line to put the password after"
    );
    with
}

fn established_count(tor: &Instance, node: &Instance) -> (String, u64) {
    let v = tor.vtysh_json("show bgp summary json");
    let p = &v["ipv4Unicast"]["peers"][node.ipv4.to_string()];
    (
        p["state"].as_str().unwrap_or("").to_string(),
        p["connectionsEstablished"].as_u64().unwrap_or(0),
    )
}

fn no_warnings(s: &ferrule::api::status::SpeakerNodeStatus) -> bool {
    s.apply_result == "Success" && s.validation_warnings.is_empty() && s.extras_refused.is_empty()
}

fn drill(transport: Transport) {
    let _serial = serial();
    let Some(lab) = Lab::start(1) else { return };
    let node = lab.node(0);
    lab.tor
        .load_config(&tor_with_password(node))
        .unwrap_or_else(|e| panic!("ToR config: {e}"));
    let needles = needles();
    let work = Work::new(&format!("{transport:?}").to_lowercase());
    work.write("10-base.yaml", &base_yaml(node));
    work.write("20-secret.yaml", &secret_with(PASSWORD));

    let mut speaker = Speaker::start(node, &work, transport);
    let stop = Arc::new(AtomicBool::new(false));
    let scan = scanner(speaker.pid, stop.clone());
    let _stop_scanner = StopOnDrop(stop.clone());
    // The scanner must see processes that live about a millisecond.
    for _ in 0..5 {
        Command::new("sh")
            .args(["-c", "sleep 0.005", CANARY])
            .status()
            .unwrap();
    }

    // 1. The session comes up: the ToR insists on MD5, so the password is in use.
    let t = Instant::now();
    wait_established(&lab.tor, node.ipv4, Duration::from_secs(30));
    let up = t.elapsed();
    wait_status(
        &work,
        &node.name,
        "status Success, no warnings",
        no_warnings,
    );
    let (_, established) = established_count(&lab.tor, node);
    assert!(
        node.running_config()
            .contains(&format!("neighbor 192.0.2.1 password {PASSWORD}")),
        "FRR runs the Secret's password"
    );

    // 2a. A bgpextras line FRR refuses, carrying the password.
    let bad_extra = format!("neighbor 192.0.2.1 password {PASSWORD} bogus-extra-token");
    work.write("30-extras.yaml", &extras_yaml(&bad_extra));
    let s = wait_status(&work, &node.name, "the extras line refused", |s| {
        !s.extras_refused.is_empty()
    });
    let refused = s.extras_refused.clone();
    work.remove("30-extras.yaml");
    wait_status(&work, &node.name, "extras gone", no_warnings);

    // 2b. Secrets FRR cannot take (the speaker keeps FRR's password), and back.
    let long = format!("{PASSWORD}{}", "x".repeat(81 - PASSWORD.len()));
    // A broken Secret document keeps its file's last good content: the speaker's log
    // (its error for the document) is the proof it was read.
    let cases = [
        (
            "a password with a space",
            secret_with(&format!("{PASSWORD} two")),
            Proof::Warning("whitespace"),
        ),
        (
            "an 81-byte password",
            secret_with(&long),
            Proof::Warning("80 bytes"),
        ),
        (
            "stringData not a map",
            secret_yaml(&format!("stringData: \"{PASSWORD}\"")),
            Proof::Log("Secret tor-pw: stringData"),
        ),
        (
            "data not base64",
            secret_yaml(&format!("data: {{ password: {PASSWORD} }}")),
            Proof::Log("Secret tor-pw: data"),
        ),
    ];
    let mut said = Vec::new();
    for (what, text, proof) in &cases {
        work.write("20-secret.yaml", text);
        match proof {
            Proof::Warning(why) => {
                let s = wait_status(&work, &node.name, what, |s| {
                    s.validation_warnings.iter().any(|w| w.contains(why))
                });
                said.push(format!("{what}: {:?}", s.validation_warnings));
            }
            Proof::Log(line) => {
                let l = wait_until(Duration::from_secs(20), what, || {
                    let text = std::fs::read_to_string(&speaker.stdout).unwrap_or_default();
                    text.lines()
                        .find(|l| l.contains(line))
                        .map(str::to_string)
                        .ok_or("not logged yet")
                });
                said.push(format!(
                    "{what}: logged {:?}",
                    l.split_once("Secret").map_or("", |x| x.1)
                ));
            }
        }
        assert!(
            node.running_config()
                .contains(&format!("neighbor 192.0.2.1 password {PASSWORD}")),
            "{what}: FRR keeps its password"
        );
        work.write("20-secret.yaml", &secret_with(PASSWORD));
        wait_status(&work, &node.name, "the good Secret back", no_warnings);
    }
    let (state, after) = established_count(&lab.tor, node);
    assert_eq!(state, "Established");
    assert_eq!(after, established, "the session was never reset");

    // 3. HTTP answers while it runs.
    let http: Vec<(&str, String)> = ["/metrics", "/healthz", "/readyz"]
        .iter()
        .map(|p| (*p, speaker.get(p)))
        .collect();
    assert!(
        http[0].1.contains("ferrule_"),
        "/metrics answered: {}",
        http[0].1
    );

    stop.store(true, Ordering::SeqCst);
    let scan = scan.join().unwrap();
    speaker.stop();

    // 4. Count hits per channel.
    let stdout = std::fs::read(&speaker.stdout).unwrap();
    let stderr = std::fs::read(&speaker.stderr).unwrap();
    let log_hits = hits(&stdout, &needles) + hits(&stderr, &needles);
    let log_text = String::from_utf8_lossy(&stdout).to_string() + &String::from_utf8_lossy(&stderr);
    assert!(log_text.contains("DEBUG"), "debug logging is on");
    assert!(
        log_text.contains("bogus-extra-token") || refused.iter().any(|r| r.contains("redacted")),
        "the refused extras line was reported: {refused:?}"
    );

    let mut status_files = Vec::new();
    files_under(&work.status, &mut status_files);
    let mut status_hits = 0;
    let mut leaks = scan.leaks.clone();
    for f in &status_files {
        let n = hits(&std::fs::read(f).unwrap_or_default(), &needles);
        if n > 0 {
            leaks.push(format!("status file {}", f.display()));
        }
        status_hits += n;
    }
    let kinds: BTreeSet<String> = status_files
        .iter()
        .filter_map(|f| f.strip_prefix(&work.status).ok())
        .filter_map(|f| f.components().next())
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    for want in [
        "speakernodes",
        "bgpsessions",
        "serviceannouncements",
        "ledger.json",
    ] {
        assert!(kinds.contains(want), "status dir has {want}: {kinds:?}");
    }
    let http_hits: usize = http.iter().map(|(_, t)| hits(t.as_bytes(), &needles)).sum();

    // Files written: strace's list (else the fds seen open), minus our own capture files.
    let ours = [&speaker.stdout, &speaker.stderr];
    let trace = speaker
        .trace
        .as_ref()
        .map(|t| std::fs::read_to_string(t).unwrap());
    let mut written = trace.as_deref().map(written_paths).unwrap_or_default();
    let (exec_lines, vtysh_execs) = trace.as_deref().map(execs).unwrap_or_default();
    let mut exec_hits = 0;
    for l in &exec_lines {
        let n = hits(l.as_bytes(), &needles);
        if n > 0 {
            leaks.push(format!("exec (strace): {l}"));
        }
        exec_hits += n;
    }
    written.extend(scan.open_files.iter().cloned());
    written.retain(|p| {
        !p.starts_with("/dev") && !p.starts_with("/proc") && !ours.contains(&p) && p.is_file()
    });
    let mut file_hits = 0;
    for f in &written {
        let n = hits(&std::fs::read(f).unwrap_or_default(), &needles);
        if n > 0 {
            leaks.push(format!(
                "written file {} (world-readable: {})",
                f.display(),
                world_readable(f)
            ));
        }
        file_hits += n;
    }
    let status_world: Vec<&PathBuf> = status_files.iter().filter(|f| world_readable(f)).collect();
    let world: Vec<&PathBuf> = written.iter().filter(|f| world_readable(f)).collect();

    eprintln!(
        "secrets ({transport:?}): Established after {up:?}; refused extras {refused:?}; {}",
        said.join("; ")
    );
    eprintln!(
        "secrets ({transport:?}): scanner {} passes, {} processes, {} speaker children ({} vtysh), \
         {} environments read, canary seen {}/5 (5 ms processes); open files seen {:?}",
        scan.passes,
        scan.processes,
        scan.descendants,
        scan.vtysh,
        scan.environs_read,
        scan.canaries,
        scan.open_files
    );
    eprintln!(
        "secrets ({transport:?}): files written {:?} (world-readable: {:?}); status files {} ({} world-readable)",
        written,
        world,
        status_files.len(),
        status_world.len()
    );
    eprintln!(
        "secrets ({transport:?}): password hits: logs {log_hits} ({} bytes), status {status_hits} \
         ({} files), metrics/healthz/readyz {http_hits}, cmdline {} ({} processes scanned), \
         environ {}, execs {exec_hits} ({} execs traced, {vtysh_execs} of vtysh), written files {file_hits} ({} files)",
        stdout.len() + stderr.len(),
        status_files.len(),
        scan.cmdline_hits,
        scan.processes,
        scan.environ_hits,
        exec_lines.len(),
        written.len()
    );
    assert!(
        scan.canaries >= 1,
        "the scanner missed every 1 ms canary process"
    );
    if transport == Transport::Vtysh {
        assert!(scan.vtysh > 0, "the scanner saw no vtysh process");
        if trace.is_some() {
            assert!(
                scan.vtysh >= vtysh_execs,
                "the scanner saw {} of {vtysh_execs} vtysh processes",
                scan.vtysh
            );
        }
    } else {
        assert_eq!(
            scan.descendants, 0,
            "the socket transport starts no process"
        );
    }
    assert!(leaks.is_empty(), "the password leaked: {leaks:#?}");
    assert_eq!(log_hits, 0, "logs");
    assert_eq!(status_hits, 0, "status");
    assert_eq!(http_hits, 0, "http");
    assert_eq!(scan.cmdline_hits + scan.environ_hits, 0, "cmdline/environ");
    assert_eq!(exec_hits, 0, "execs");
    assert_eq!(file_hits, 0, "written files");
}

#[test]
fn the_password_never_leaks_over_vty_sockets() {
    drill(Transport::Socket);
}

#[test]
fn the_password_never_leaks_through_vtysh_processes() {
    drill(Transport::Vtysh);
}
