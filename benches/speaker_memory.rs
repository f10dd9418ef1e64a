//! Resident memory of `ferrule speaker` (the release binary, file mode) with a large
//! cluster in its source: 10,000 LoadBalancer Services, 10,000 EndpointSlices of 10
//! endpoints each (100,000 endpoints), 100 Nodes. 90% of the Services are
//! `externalTrafficPolicy: Cluster` (every node announces them), 10% `Local`.
//!
//! With the FRR lab available the speaker drives a real FRR (one node namespace): its peak
//! then includes rendering, diffing and reading back a config with ~9,000 `network` lines.
//! Without it (outside CI) the apply fails at once and only the source/compute side counts;
//! the bench says which one it measured.
//!
//! `cargo bench --bench speaker_memory`; `SPEAKER_BENCH_SERVICES=N` changes the size.
//! Prints the time to the first apply and VmHWM/VmRSS (target: under 64 MB).

#[path = "../e2e/harness.rs"]
mod harness;

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const NODES: usize = 100;
const ENDPOINTS_PER_SLICE: usize = 10;

/// All addresses are from 2001:db8::/32 (documentation range): the pool and the
/// announced /128s end up in the lab's FRR.
fn manifests(dir: &Path, services: usize) {
    let mut config = String::from(
        "apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: { name: big, namespace: metallb-system }
spec:
  addresses: [\"2001:db8:1000::/108\"]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: { name: tor, namespace: metallb-system }
spec: { myASN: 65100, peerASN: 65000, peerAddress: \"2001:db8::1\" }
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: { name: big, namespace: metallb-system }
spec:
  ipAddressPools: [big]
  communities: [\"65000:100\"]
",
    );
    for n in 0..NODES {
        write!(
            config,
            "---\napiVersion: v1\nkind: Node\nmetadata: {{ name: node-{n}, labels: {{ rack: r{} }} }}\n",
            n % 4
        )
        .unwrap();
    }
    std::fs::write(dir.join("00-config.yaml"), config).unwrap();

    let mut svc = String::new();
    let mut slices = String::new();
    for i in 0..services {
        let policy = if i % 10 == 0 { "Local" } else { "Cluster" };
        write!(
            svc,
            "---
apiVersion: v1
kind: Service
metadata: {{ name: svc-{i}, namespace: ns-{ns}, labels: {{ app: app-{i} }} }}
spec:
  type: LoadBalancer
  externalTrafficPolicy: {policy}
  ipFamilyPolicy: SingleStack
  ipFamilies: [IPv6]
  selector: {{ app: app-{i} }}
  ports: [{{ name: https, port: 443, targetPort: 8443, protocol: TCP }}]
",
            ns = i % 50
        )
        .unwrap();
        write!(
            slices,
            "---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: svc-{i}-abcde
  namespace: ns-{ns}
  labels: {{ kubernetes.io/service-name: svc-{i} }}
addressType: IPv6
ports: [{{ name: https, port: 8443, protocol: TCP }}]
endpoints:
",
            ns = i % 50
        )
        .unwrap();
        for j in 0..ENDPOINTS_PER_SLICE {
            write!(
                slices,
                "- addresses: [\"2001:db8:ffff:{:x}::{:x}\"]\n  conditions: {{ ready: true, serving: true }}\n  nodeName: node-{}\n  targetRef: {{ kind: Pod, name: svc-{i}-pod-{j}, namespace: ns-{} }}\n",
                i,
                j + 1,
                (i + j * 7) % NODES,
                i % 50
            )
            .unwrap();
        }
    }
    std::fs::write(dir.join("10-services.yaml"), svc).unwrap();
    std::fs::write(dir.join("20-endpointslices.yaml"), slices).unwrap();
}

/// The speaker process, killed if the bench panics half-way.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// (VmHWM, VmRSS) in kB.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// The speaker's own status: (generation, apply result).
fn node_status(status: &Path) -> Option<(u64, String)> {
    let v = node_yaml(status)?;
    Some((
        v["status"]["generation"].as_u64()?,
        v["status"]["applyResult"].as_str()?.to_string(),
    ))
}

fn node_yaml(status: &Path) -> Option<serde_yaml::Value> {
    let text = std::fs::read_to_string(status.join("speakernodes").join("node-1.yaml")).ok()?;
    serde_yaml::from_str(&text).ok()
}

/// "N commands in D" from the speaker's last apply.
fn last_apply(status: &Path) -> String {
    let v = node_yaml(status).unwrap_or_default();
    format!(
        "{} commands in {}",
        v["status"]["commandsSent"].as_u64().unwrap_or(0),
        v["status"]["applyDuration"].as_str().unwrap_or("?")
    )
}

fn main() {
    let services: usize = std::env::var("SPEAKER_BENCH_SERVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let work = std::env::temp_dir().join(format!("ferrule-speaker-mem-{}", std::process::id()));
    let source = work.join("manifests");
    let status = work.join("status");
    std::fs::create_dir_all(&source).unwrap();
    manifests(&source, services);
    let bytes: u64 = std::fs::read_dir(&source)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();

    let lab = harness::Lab::start(1);
    let vty_dir = match &lab {
        Some(lab) => lab.node(0).run.clone(),
        None => work.join("no-frr"),
    };
    let speaker = Command::new(env!("CARGO_BIN_EXE_ferrule"))
        .args(["speaker", "--node", "node-1", "--metrics-addr", ""])
        .arg("--source")
        .arg(&source)
        .arg("--status-dir")
        .arg(&status)
        .arg("--vty-socket-dir")
        .arg(&vty_dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the speaker");
    let mut speaker = Reaped(speaker);
    let pid = speaker.0.id();
    let started = Instant::now();

    let want_ok = lab.is_some();
    let first =
        harness::wait_until(
            Duration::from_secs(600),
            "the first apply",
            || match node_status(&status) {
                Some((g, r)) if !want_ok || (g >= 1 && r == "Success") => Ok(started.elapsed()),
                other => Err(other),
            },
        );
    let (hwm_first, rss_first) = memory(pid);
    let first_apply = last_apply(&status);

    // One more Service: a full recompute and an incremental apply.
    std::fs::write(
        source.join("30-one-more.yaml"),
        "apiVersion: v1
kind: Service
metadata: { name: one-more, namespace: default }
spec:
  type: LoadBalancer
  ipFamilyPolicy: SingleStack
  ipFamilies: [IPv6]
  ports: [{ port: 80 }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: one-more-abcde
  namespace: default
  labels: { kubernetes.io/service-name: one-more }
addressType: IPv6
endpoints:
- addresses: [\"2001:db8:fffe::1\"]
  conditions: { ready: true }
  nodeName: node-2
",
    )
    .unwrap();
    let changed = Instant::now();
    if want_ok {
        harness::wait_until(
            Duration::from_secs(300),
            "the second apply",
            || match node_status(&status) {
                Some((g, r)) if g >= 2 && r == "Success" => Ok(()),
                other => Err(other),
            },
        );
    }
    // Without FRR there is no second apply to wait for: say so instead of a time.
    let second = want_ok.then(|| changed.elapsed());
    let (hwm, rss) = memory(pid);
    let second_apply = last_apply(&status);

    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = speaker.0.wait();
    drop(lab);
    let _ = std::fs::remove_dir_all(&work);

    println!(
        "speaker memory: {services} Services, {} endpoints, {NODES} nodes ({:.1} MB of YAML), {}",
        services * ENDPOINTS_PER_SLICE,
        bytes as f64 / 1e6,
        if want_ok {
            "applied to real FRR"
        } else {
            "NO FRR (apply fails; source and compute only)"
        }
    );
    println!(
        "  first apply ({first_apply}) done {:.2} s after start: VmHWM {:.1} MB, VmRSS {:.1} MB",
        first.as_secs_f64(),
        hwm_first as f64 / 1024.0,
        rss_first as f64 / 1024.0
    );
    println!(
        "  one more Service ({second_apply}) applied {} after the file write: VmHWM {:.1} MB, VmRSS {:.1} MB (target < 64 MB)",
        second.map_or("(not applied: no FRR)".to_string(), |d| format!("{:.0} ms", d.as_secs_f64() * 1e3)),
        hwm as f64 / 1024.0,
        rss as f64 / 1024.0
    );
}
