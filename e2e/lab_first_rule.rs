//! ferrule's first rule with real FRR: a bad, conflicting, half-written or deleted object
//! costs only itself. It never moves a route that does not depend on that object's own
//! content, and no Service loses or changes its address.
//!
//! Three file-mode speakers (one per node, one manifests directory, one ledger) announce two
//! Services over iBGP (so LOCAL_PREF reaches the ToR) to `tor1`, the lab's real ToR, with BFD
//! and a TCP MD5 password from a Secret, and to `tor2`, an address where no router answers.
//! A `RouteMonitor` watches the ToR's kernel routing table for the whole run. Each hostile
//! change is applied and then reverted; after each half, once every speaker has demonstrably
//! read, computed, applied and published a snapshot that includes it, the test asserts:
//! - the ToR's kernel saw no route event at all. None is implied: the ToR is tor1, and every
//!   change is either about another object (tor2, a new peer, a new pool) or one whose
//!   dependants keep what they run by the rule (a broken file, a deleted BFDProfile/Secret);
//! - the ToR's BGP paths (next hops, community, LOCAL_PREF) and kernel routes are the
//!   baseline's, and no session with it was reset (BGP connection and BFD down counters);
//! - every Service has its address (the ledger, every speaker's ServiceAnnouncements);
//! - node1's running FRR config shows the change where it should (a new neighbor, BFD on
//!   FRR's defaults, no tor2) and tor1's session lines where they must stay;
//! - the speakers blame the culprit, and only it (nothing after the revert).
//!
//! Proof of processing: after each change the test rewrites `zz-step.yaml` with an unused
//! BFDProfile `step-N` whose interval is out of range, itself a bad object. Once every
//! speaker's SpeakerNode status lists `step-N`'s error, that speaker has read the directory
//! after the change and computed, applied and published the result (the engine publishes
//! after the apply). A short settle window then catches late route events.

#[path = "harness.rs"]
mod harness;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ferrule::api::status::{ServiceAnnouncement, SpeakerNode};
use ferrule::{engine, EngineConfig, FileSink, FrrDriver, Metrics};
use harness::{tor_config, wait_established, wait_until, Instance, Lab, RouteMonitor};
use tokio::sync::watch;

/// One AS everywhere: iBGP, so the advertisement's localPref is visible at the ToR.
const AS: u32 = 65000;
const PASSWORD: &str = "s3cret-tor1";
const COMMUNITY: &str = "65000:100";
const LOCAL_PREF: u64 = 150;
/// Late route events (a reset session, a re-sent route-map) show well within this.
const SETTLE: Duration = Duration::from_millis(1500);
const SERVICES_FILE: &str = "70-services.yaml";
const TOR1_FILE: &str = "40-tor1.yaml";

/// The good manifests, one file per object a case deletes, named so they sort after the
/// hostile newcomers (`05-...`).
fn baseline(nodes: &[Instance]) -> BTreeMap<&'static str, String> {
    let mut files = BTreeMap::new();
    files.insert(
        "10-pool.yaml",
        "apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: { name: prod-pool, namespace: metallb-system }
spec:
  addresses: [203.0.113.0/24]
"
        .to_string(),
    );
    // Not FRR's defaults (300/300/3), so deleting it really changes BFD's timers.
    files.insert(
        "20-bfd.yaml",
        "apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: { name: tor-bfd, namespace: metallb-system }
spec: { receiveInterval: 200, transmitInterval: 200, detectMultiplier: 3 }
"
        .to_string(),
    );
    files.insert("30-secret.yaml", secret("tor1-pw", PASSWORD));
    files.insert(
        TOR1_FILE,
        peer("tor1", "192.0.2.1", "  passwordSecret: { name: tor1-pw }\n"),
    );
    files.insert("41-tor2.yaml", peer("tor2", "192.0.2.2", ""));
    files.insert(
        "50-adv.yaml",
        format!(
            "apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{ name: prod-adv, namespace: metallb-system }}
spec:
  ipAddressPools: [prod-pool]
  peers: [tor1, tor2]
  communities: [\"{COMMUNITY}\"]
  localPref: {LOCAL_PREF}
"
        ),
    );
    let node_docs: Vec<String> = nodes
        .iter()
        .map(|n| {
            format!(
                "apiVersion: v1\nkind: Node\nmetadata: {{ name: {} }}\n",
                n.name
            )
        })
        .collect();
    files.insert("60-nodes.yaml", node_docs.join("---\n"));
    // web (Local) has endpoints on node1 and node2; api (Cluster) on node3.
    files.insert(
        SERVICES_FILE,
        [
            service("web", "Local"),
            endpoint_slice("web", &[&nodes[0].name, &nodes[1].name]),
            service("api", "Cluster"),
            endpoint_slice("api", &[&nodes[2].name]),
        ]
        .join("---\n"),
    );
    files
}

fn secret(name: &str, password: &str) -> String {
    format!(
        "apiVersion: v1
kind: Secret
metadata: {{ name: {name}, namespace: metallb-system }}
type: kubernetes.io/basic-auth
stringData: {{ password: \"{password}\" }}
"
    )
}

/// A BGPPeer with tor1's settings at `address`; `extra` is more `spec` lines.
fn peer(name: &str, address: &str, extra: &str) -> String {
    format!(
        "apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{ name: {name}, namespace: metallb-system }}
spec:
  myASN: {AS}
  peerASN: {AS}
  peerAddress: {address}
  holdTime: 9s
  connectTime: 1s
  bfdProfile: tor-bfd
{extra}"
    )
}

fn service(name: &str, policy: &str) -> String {
    format!(
        "apiVersion: v1
kind: Service
metadata: {{ name: {name}, namespace: default }}
spec:
  type: LoadBalancer
  externalTrafficPolicy: {policy}
  selector: {{ app: {name} }}
  ports: [{{ port: 443, targetPort: 8443 }}]
"
    )
}

fn endpoint_slice(service: &str, nodes: &[&str]) -> String {
    let mut s = format!(
        "apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: {service}-1
  namespace: default
  labels: {{ kubernetes.io/service-name: {service} }}
addressType: IPv4
endpoints:
"
    );
    for (i, n) in nodes.iter().enumerate() {
        s.push_str(&format!(
            "- addresses: [10.244.{i}.10]\n  conditions: {{ ready: true }}\n  nodeName: {n}\n"
        ));
    }
    s
}

/// The step marker: unused, and invalid (receiveInterval below MetalLB's 10 ms).
fn marker(step: u32) -> String {
    format!(
        "apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {{ name: step-{step}, namespace: metallb-system }}
spec: {{ receiveInterval: 5 }}
"
    )
}

fn marker_error(step: u32) -> String {
    format!("BFDProfile metallb-system/step-{step}:")
}

/// Replaces a file the way `kubectl`-style tools do: write aside, rename.
fn write(dir: &Path, name: &str, text: &str) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

/// One hostile change.
enum Edit {
    /// A new or replaced file (atomically).
    Write(&'static str, String),
    /// An existing file overwritten in place (truncate, then write), as an editor saves.
    Overwrite(&'static str, String),
    /// An existing file rewritten in place through one open handle, in two halves 300 ms
    /// apart (a slow writer): the first half on its own parses, with less in it.
    InTwoHalves(&'static str, String, usize),
    Remove(&'static str),
}

impl Edit {
    fn file(&self) -> &'static str {
        match self {
            Edit::Write(f, _)
            | Edit::Overwrite(f, _)
            | Edit::InTwoHalves(f, _, _)
            | Edit::Remove(f) => f,
        }
    }

    fn apply(&self, dir: &Path) {
        match self {
            Edit::Write(f, text) => write(dir, f, text),
            Edit::Overwrite(f, text) => std::fs::write(dir.join(f), text).unwrap(),
            Edit::InTwoHalves(f, text, cut) => {
                use std::io::Write;
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .truncate(true)
                    .open(dir.join(f))
                    .unwrap();
                file.write_all(&text.as_bytes()[..*cut]).unwrap();
                file.flush().unwrap();
                std::thread::sleep(Duration::from_millis(300)); // the writer's own pace
                file.write_all(&text.as_bytes()[*cut..]).unwrap();
            }
            Edit::Remove(f) => std::fs::remove_file(dir.join(f)).unwrap(),
        }
    }
}

/// What the speakers must say about a change: every finding (error or warning) starts with
/// `culprit` and one mentions `mentions`; `None`: no finding at all.
type Blame = Option<(&'static str, &'static str)>;

struct Case {
    name: &'static str,
    edit: Edit,
    blame: Blame,
    /// A BGPPeer the change deletes: the only thing that may change is that announcements
    /// no longer list it.
    gone_peer: Option<&'static str>,
    /// Line prefixes node1's running FRR config must (true) or must not (false) have while
    /// the change holds: proof it reached FRR as the rule says it should.
    frr: &'static [(&'static str, bool)],
}

impl Case {
    fn new(name: &'static str, edit: Edit) -> Case {
        Case {
            name,
            edit,
            blame: None,
            gone_peer: None,
            frr: &[],
        }
    }

    fn blames(self, culprit: &'static str, mentions: &'static str) -> Case {
        Case {
            blame: Some((culprit, mentions)),
            ..self
        }
    }

    fn frr(self, frr: &'static [(&'static str, bool)]) -> Case {
        Case { frr, ..self }
    }
}

/// tor1's session as the baseline configures it on the nodes.
const TOR1_UP: &[(&str, bool)] = &[
    (" neighbor 192.0.2.1 remote-as 65000", true),
    (" neighbor 192.0.2.1 bfd profile tor-bfd", true),
    (" neighbor 192.0.2.1 password s3cret-tor1", true),
    (" neighbor 192.0.2.1 shutdown", false),
    ("  network 203.0.113.0/32 ", true),
    ("  network 203.0.113.1/32 ", true),
];

fn cases(files: &BTreeMap<&'static str, String>) -> Vec<Case> {
    // Cut at half the bytes, as a writer that died or a disk that filled leaves a file: the
    // Services file then ends inside web's EndpointSlice, in a way that still parses as
    // YAML (api's objects are simply missing); tor1's file ends mid-key and does not parse.
    let half = |file: &str| {
        let text = &files[file];
        let cut = text[..text.len() / 2].to_string();
        assert!(!cut.ends_with('\n'), "{file} cut mid-line: {cut}");
        cut
    };
    let garbage = "apiVersion: [v1\nkind: {{ ::\n\t- ]";
    let aaa_pool = "apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: { name: aaa-pool, namespace: metallb-system }
spec:
  addresses: [203.0.113.0/25]
";
    let tor4 = format!(
        "{}---\n{}",
        secret("tor4-pw", &"p".repeat(81)),
        peer("tor4", "192.0.2.4", "  passwordSecret: { name: tor4-pw }\n")
    );
    // The Services file rewritten with its own content by a slow writer, cut where web's
    // EndpointSlice has listed node1 but not yet node2: read then, node2's next hop goes.
    let services = files[SERVICES_FILE].clone();
    let node2_endpoint = services.find("- addresses: [10.244.1.10]").unwrap();
    vec![
        Case::new(
            "the Services file rewritten in place in two halves 300 ms apart",
            Edit::InTwoHalves(SERVICES_FILE, services, node2_endpoint),
        )
        .frr(TOR1_UP),
        Case::new(
            "an unparseable YAML file dropped in",
            Edit::Write("05-garbage.yaml", garbage.into()),
        )
        .frr(TOR1_UP),
        Case::new(
            "the Services file overwritten with half its content",
            Edit::Overwrite(SERVICES_FILE, half(SERVICES_FILE)),
        )
        .frr(TOR1_UP),
        // The first instant of an in-place save, held until every speaker has read it.
        Case::new(
            "the Services file caught empty by an in-place save",
            Edit::Overwrite(SERVICES_FILE, String::new()),
        )
        .frr(TOR1_UP),
        Case::new(
            "tor1's file overwritten with half its content",
            Edit::Overwrite(TOR1_FILE, half(TOR1_FILE)),
        )
        .frr(TOR1_UP),
        Case::new(
            "a newer IPAddressPool overlapping prod-pool, sorting before it",
            Edit::Write("05-aaa-pool.yaml", aaa_pool.into()),
        )
        .blames("IPAddressPool metallb-system/aaa-pool", "prod-pool")
        .frr(TOR1_UP),
        // The newcomer is configured (FRR really changes) but shut down: with no password
        // FRR runs for it, it never runs without the one it was meant to have.
        Case::new(
            "a new BGPPeer whose password has an inner space",
            Edit::Write(
                "45-tor3.yaml",
                peer("tor3", "192.0.2.3", "  password: \"two words\"\n"),
            ),
        )
        .blames("BGPPeer metallb-system/tor3", "password")
        .frr(&[
            (" neighbor 192.0.2.3 remote-as 65000", true),
            (" neighbor 192.0.2.3 shutdown", true),
            (" neighbor 192.0.2.3 password", false),
            (" neighbor 192.0.2.1 password s3cret-tor1", true),
        ]),
        Case::new(
            "a new BGPPeer whose Secret holds an 81-byte password",
            Edit::Write("45-tor4.yaml", tor4),
        )
        .blames("BGPPeer metallb-system/tor4", "80 bytes")
        .frr(&[
            (" neighbor 192.0.2.4 remote-as 65000", true),
            (" neighbor 192.0.2.4 shutdown", true),
            (" neighbor 192.0.2.4 password", false),
            (" neighbor 192.0.2.1 password s3cret-tor1", true),
        ]),
        // tor1 keeps the password FRR runs.
        Case::new(
            "tor1's Secret changed to a password FRR cannot take",
            Edit::Write("30-secret.yaml", secret("tor1-pw", "two words")),
        )
        .blames("BGPPeer metallb-system/tor1", "tor1-pw")
        .frr(TOR1_UP),
        // BFD stays on (removing `neighbor X bfd` would reset the session), on FRR's
        // default timers.
        Case::new(
            "the BFDProfile tor1 uses deleted",
            Edit::Remove("20-bfd.yaml"),
        )
        .blames("BGPPeer metallb-system/tor", "tor-bfd")
        .frr(&[
            (" neighbor 192.0.2.1 bfd profile", false),
            (" neighbor 192.0.2.1 bfd", true),
            (" profile tor-bfd", false),
        ]),
        Case {
            gone_peer: Some("tor2"),
            ..Case::new(
                "BGPPeer tor2 deleted while the advertisement names it",
                Edit::Remove("41-tor2.yaml"),
            )
            .blames("BGPAdvertisement metallb-system/prod-adv", "tor2")
            .frr(&[
                (" neighbor 192.0.2.2", false),
                ("  network 203.0.113.0/32 ", true),
            ])
        },
        Case::new(
            "tor1's password Secret deleted",
            Edit::Remove("30-secret.yaml"),
        )
        .blames("BGPPeer metallb-system/tor1", "tor1-pw")
        .frr(TOR1_UP),
    ]
}

struct Speakers {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Speakers {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// A file-mode speaker per node, as `ferrule speaker --manifests DIR --status-dir STATUS`
/// runs it (the ledger in the status dir, shared by all).
fn start_speakers(lab: &Lab, manifests: &Path, status: &Path) -> Speakers {
    let (stop, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    for node in &lab.nodes {
        let (tx, rx) = watch::channel(None);
        let ledger = ferrule::Ledger::new(status.join("ledger.json"));
        let (dir, name, watch_ledger) =
            (manifests.to_path_buf(), node.name.clone(), ledger.clone());
        tasks.push(tokio::spawn(async move {
            ferrule::watch_dir(dir, "metallb-system".into(), name, Some(watch_ledger), tx)
                .await
                .unwrap();
        }));
        let mut cfg = EngineConfig::new(&node.name, "metallb-system");
        cfg.addresses = ferrule::Addresses::Allocate;
        cfg.ledger = Some(ledger);
        cfg.coalesce = Duration::from_millis(10);
        cfg.poll_interval = Duration::from_millis(250);
        tasks.push(tokio::spawn(engine::run(
            cfg,
            rx,
            FrrDriver::new(node.client()),
            FileSink::new(status),
            Metrics::new(),
            stop_rx.clone(),
        )));
    }
    Speakers { stop, tasks }
}

/// One JSON answer straight from a daemon's vty socket.
fn daemon_json(inst: &Instance, daemon: &str, cmd: &str) -> serde_json::Value {
    let text = inst
        .daemon_query(daemon, cmd)
        .unwrap_or_else(|e| panic!("{} {daemon} `{cmd}`: {e}", inst.name));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{daemon} `{cmd}`: {e}: {text}"))
}

/// prefix -> every path the ToR's BGP has for it: (next hop, communities, LOCAL_PREF).
type Paths = BTreeMap<String, BTreeSet<(String, String, Option<u64>)>>;

fn tor_paths(tor: &Instance) -> Paths {
    let table = daemon_json(tor, "bgpd", "show bgp ipv4 unicast json");
    let mut out = Paths::new();
    for prefix in table["routes"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(p, _)| p)
    {
        let v = daemon_json(tor, "bgpd", &format!("show bgp ipv4 unicast {prefix} json"));
        let paths = out.entry(prefix.clone()).or_default();
        for p in v["paths"].as_array().into_iter().flatten() {
            paths.insert((
                p["nexthops"][0]["ip"].as_str().unwrap_or("?").to_string(),
                p["community"]["string"].as_str().unwrap_or("").to_string(),
                p["locPrf"].as_u64(),
            ));
        }
    }
    out
}

/// Node address -> (BGP connections established, dropped, BFD sessions down) at the ToR:
/// any reset moves one of them.
type Counters = BTreeMap<String, (u64, u64, u64)>;

fn counters(lab: &Lab) -> Counters {
    let summary = daemon_json(&lab.tor, "bgpd", "show bgp summary json");
    let bfd = lab.tor.vtysh_json("show bfd peers counters json");
    lab.nodes
        .iter()
        .map(|n| {
            let addr = n.ipv4.to_string();
            let p = &summary["ipv4Unicast"]["peers"][&addr];
            let down = bfd
                .as_array()
                .and_then(|a| a.iter().find(|b| b["peer"] == addr.as_str()))
                .and_then(|b| b["session-down"].as_u64());
            let field = |k: &str| p[k].as_u64().unwrap_or_else(|| panic!("{addr} {k}: {p}"));
            (
                addr.clone(),
                (
                    field("connectionsEstablished"),
                    field("connectionsDropped"),
                    down.unwrap_or_else(|| panic!("no BFD counters for {addr}: {bfd}")),
                ),
            )
        })
        .collect()
}

/// The SpeakerNode status the node's speaker wrote: (errors, warnings).
fn findings(status: &Path, node: &str) -> Option<(Vec<String>, Vec<String>)> {
    let path = status.join("speakernodes").join(format!("{node}.yaml"));
    let obj: SpeakerNode = serde_yaml::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    let s = obj.status?;
    Some((s.validation_errors, s.validation_warnings))
}

/// (node, Service) -> (state, prefixes, peers) as that speaker says it announces it.
type Announcements = BTreeMap<(String, String), (String, Vec<String>, Vec<String>)>;
/// (node, Service) -> the reason it gives for what it withholds.
type Reasons = BTreeMap<(String, String), Option<String>>;

fn announcements(status: &Path) -> (Announcements, Reasons) {
    let (mut out, mut reasons) = (Announcements::new(), Reasons::new());
    let dir = status.join("serviceannouncements");
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue; // replaced under us; the caller compares again
        };
        let a: ServiceAnnouncement =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let key = (a.spec.node, a.spec.service);
        let s = a.status.unwrap_or_default();
        out.insert(key.clone(), (s.state, s.prefixes, s.peers));
        reasons.insert(key, s.reason);
    }
    (out, reasons)
}

/// Service -> addresses, as the ledger holds them.
fn ledger_addresses(status: &Path) -> BTreeMap<String, Vec<String>> {
    let Ok(text) = std::fs::read_to_string(status.join("ledger.json")) else {
        return BTreeMap::new();
    };
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    serde_json::from_value(v["addresses"].clone()).unwrap_or_default()
}

/// Everything a case must leave as it was.
#[derive(Clone, Debug, PartialEq)]
struct View {
    paths: Paths,
    kernel: String,
    counters: Counters,
    addresses: BTreeMap<String, Vec<String>>,
    announcements: Announcements,
    reasons: Reasons,
}

struct Bench {
    lab: Lab,
    manifests: PathBuf,
    status: PathBuf,
    step: std::cell::Cell<u32>,
}

impl Bench {
    fn view(&self) -> View {
        let (announcements, reasons) = announcements(&self.status);
        View {
            paths: tor_paths(&self.lab.tor),
            kernel: harness::exec(&self.lab.tor.ns, &["ip", "route", "show", "proto", "bgp"])
                .unwrap(),
            counters: counters(&self.lab),
            addresses: ledger_addresses(&self.status),
            announcements,
            reasons,
        }
    }

    /// Writes the next step marker and waits until every speaker has published the status of
    /// a snapshot that holds it, with findings (the marker's aside) that `blame` accepts.
    fn processed(&self, what: &str, blame: Blame) -> Duration {
        let step = self.step.get() + 1;
        self.step.set(step);
        let t = Instant::now();
        write(&self.manifests, "zz-step.yaml", &marker(step));
        let marker = marker_error(step);
        for node in &self.lab.nodes {
            wait_until(
                Duration::from_secs(15),
                &format!("{what}: {} to process step {step}", node.name),
                || {
                    let (errors, warnings) =
                        findings(&self.status, &node.name).ok_or("no status")?;
                    if !errors.iter().any(|e| e.starts_with(&marker)) {
                        return Err(format!("no {marker} yet: {errors:?}"));
                    }
                    let said: Vec<&String> = errors
                        .iter()
                        .chain(&warnings)
                        .filter(|e| !e.starts_with("BFDProfile metallb-system/step-"))
                        .collect();
                    let ok = match blame {
                        None => said.is_empty(),
                        Some((culprit, mentions)) => {
                            said.iter().all(|e| e.starts_with(culprit))
                                && said.iter().any(|e| e.contains(mentions))
                        }
                    };
                    if ok {
                        Ok(())
                    } else {
                        Err(format!("expected {blame:?}, the speaker says {said:#?}"))
                    }
                },
            );
        }
        t.elapsed()
    }

    /// Applies one half of a case (the change or its revert) and checks the rule.
    fn half(
        &self,
        fib: &RouteMonitor,
        want: &View,
        what: &str,
        (blame, frr): (Blame, &[(&str, bool)]),
        act: impl FnOnce(&Path),
    ) {
        let early = fib.take(Duration::ZERO);
        assert!(
            early.is_empty(),
            "{what}: route events before the change: {early:#?}"
        );
        act(&self.manifests);
        let took = self.processed(what, blame);
        let events = fib.take(SETTLE);
        let view = self.view();
        assert!(
            events.is_empty(),
            "{what}: the ToR's kernel routes moved:\n{}\nToR paths now {:#?}",
            events.join("\n"),
            view.paths
        );
        let running = self.lab.nodes[0].running_config();
        for (line, present) in frr {
            assert_eq!(
                running.lines().any(|l| l.starts_with(line)),
                *present,
                "{what}: node1's FRR config should {}have {line:?}:\n{running}",
                if *present { "" } else { "not " }
            );
        }
        assert_eq!(
            view.paths, want.paths,
            "{what}: the ToR's BGP paths changed"
        );
        assert_eq!(
            view.kernel, want.kernel,
            "{what}: the ToR's kernel routes changed"
        );
        assert_eq!(
            view.counters, want.counters,
            "{what}: a session with the ToR was reset"
        );
        assert_eq!(
            view.addresses, want.addresses,
            "{what}: a Service's address changed"
        );
        assert_eq!(
            view.announcements, want.announcements,
            "{what}: the speakers' announcements changed"
        );
        // A change the speakers report may show in their reasons (a new peer no
        // advertisement lists); one they do not report may not.
        if blame.is_none() {
            assert_eq!(view.reasons, want.reasons, "{what}: the reasons changed");
        }
        eprintln!("first rule: {what}: processed by every speaker in {took:?}; nothing moved");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_object_costs_only_itself() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("FERRULE_LAB_LOG"))
        .with_test_writer()
        .try_init();
    let started = Instant::now();
    let Some(lab) = Lab::start(3) else { return };
    let peers: Vec<(&Instance, u32)> = lab.nodes.iter().map(|n| (n, AS)).collect();
    let mut tor = tor_config(AS, &peers);
    tor.push_str(&format!("router bgp {AS}\n"));
    for n in &lab.nodes {
        tor.push_str(&format!(" neighbor {} password {PASSWORD}\n", n.ipv4));
    }
    tor.push_str("exit\n");
    lab.tor.load_config(&tor).unwrap();

    let work = std::env::temp_dir().join(format!("ferrule-lab-first-rule-{}", std::process::id()));
    let _cleanup = RemoveOnDrop(work.clone());
    let (manifests, status) = (work.join("manifests"), work.join("status"));
    std::fs::create_dir_all(&manifests).unwrap();
    let files = baseline(&lab.nodes);
    for (name, text) in &files {
        write(&manifests, name, text);
    }
    let speakers = start_speakers(&lab, &manifests, &status);
    let bench = Bench {
        lab,
        manifests,
        status,
        step: Default::default(),
    };
    let lab = &bench.lab;

    // Baseline: both Services addressed, announced from the nodes that should, to tor1 with
    // the advertisement's attributes; sessions past FRR 8.4's startup period (it may reset a
    // new session once when BFD comes up after BGP).
    for n in &lab.nodes {
        wait_established(&lab.tor, n.ipv4, Duration::from_secs(30));
    }
    let addresses = wait_until(
        Duration::from_secs(15),
        "both Services in the ledger",
        || {
            let a = ledger_addresses(&bench.status);
            if a.len() == 2 {
                Ok(a)
            } else {
                Err(a)
            }
        },
    );
    let prefix = |svc: &str| format!("{}/32", addresses[svc][0]);
    let from = |nodes: &[Instance]| -> BTreeSet<(String, String, Option<u64>)> {
        nodes
            .iter()
            .map(|n| (n.ipv4.to_string(), COMMUNITY.to_string(), Some(LOCAL_PREF)))
            .collect()
    };
    let want_paths = Paths::from([
        (prefix("default/web"), from(&lab.nodes[..2])),
        (prefix("default/api"), from(&lab.nodes)),
    ]);
    wait_until(Duration::from_secs(15), "the ToR's baseline paths", || {
        let got = tor_paths(&lab.tor);
        if got == want_paths {
            Ok(())
        } else {
            Err(got)
        }
    });
    wait_until(Duration::from_secs(30), "settled sessions", || {
        let s = daemon_json(&lab.tor, "bgpd", "show bgp summary json");
        let b = lab.tor.vtysh_json("show bfd peers json");
        let unsettled: Vec<String> = lab
            .nodes
            .iter()
            .map(|n| n.ipv4.to_string())
            .filter(|a| {
                let bfd_up = b
                    .as_array()
                    .and_then(|l| l.iter().find(|x| x["peer"] == a.as_str()))
                    .filter(|x| x["status"] == "up")
                    .and_then(|x| x["uptime"].as_u64())
                    .unwrap_or(0);
                s["ipv4Unicast"]["peers"][a]["peerUptimeMsec"].as_u64() < Some(3000) || bfd_up < 3
            })
            .collect();
        if unsettled.is_empty() {
            Ok(())
        } else {
            Err(unsettled)
        }
    });
    bench.processed("baseline", None);
    let base = bench.view();
    eprintln!(
        "first rule: baseline after {:?}: addresses {:?}, ToR paths {:?}, counters {:?}",
        started.elapsed(),
        base.addresses,
        base.paths,
        base.counters
    );

    // The monitor sees what the kernel does: prove it with a route of our own first.
    let fib = RouteMonitor::start(&bench.lab.tor);
    let probe = ["route", "add", "198.51.100.99/32", "dev", "br0"];
    wait_until(
        Duration::from_secs(5),
        "the route monitor to see a probe",
        || {
            let _ = harness::exec(&bench.lab.tor.ns, &[&["ip"], &probe[..]].concat());
            fib.next_change("198.51.100.99", Duration::from_millis(200))
                .ok_or("no event")
        },
    );
    harness::exec(
        &bench.lab.tor.ns,
        &["ip", "route", "del", "198.51.100.99/32"],
    )
    .unwrap();
    fib.next_change("198.51.100.99", Duration::from_secs(5))
        .expect("the probe's removal");
    fib.take(Duration::from_millis(100));

    for case in cases(&files) {
        let t = Instant::now();
        let mut want = base.clone();
        if let Some(gone) = case.gone_peer {
            for a in want.announcements.values_mut() {
                a.2.retain(|p| p != gone);
            }
        }
        let name = case.name;
        bench.half(&fib, &want, name, (case.blame, case.frr), |dir| {
            case.edit.apply(dir)
        });
        // The revert puts the file back as the baseline had it, or removes the newcomer.
        let file = case.edit.file();
        bench.half(
            &fib,
            &base,
            &format!("{name} (reverted)"),
            (None, TOR1_UP),
            |dir| match files.get(file) {
                Some(text) => write(dir, file, text),
                None => std::fs::remove_file(dir.join(file)).unwrap(),
            },
        );
        eprintln!("first rule: case {name:?} took {:?}", t.elapsed());
    }
    eprintln!("first rule: all cases passed after {:?}", started.elapsed());
    drop(fib);
    drop(speakers);
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
