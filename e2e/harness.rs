//! Lab harness: real FRR daemons in network namespaces the test creates and always removes.
//!
//! Topology: one ToR namespace holding a Linux bridge (192.0.2.1/24, 2001:db8::1/64) and one
//! veth per node; each node namespace gets `eth0` with 192.0.2.21.., 2001:db8::21... Every
//! namespace runs its own FRR (zebra, staticd, bfdd, bgpd) with private config/run/log dirs,
//! started as frr-lab.md describes, inside its own UTS namespace so FRR and vtysh agree on one
//! hostname. Dropping the [`Lab`] kills the daemons, waits for them, deletes the namespaces
//! and the temp dir — also when the test panics. Labs left behind by a killed test process
//! are swept by the next `Lab::start`.
//!
//! Include it with `#[path = "../e2e/harness.rs"] mod harness;`.
#![allow(dead_code)]

use std::fmt::Debug;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const FRR_LIBEXEC: &str = "/usr/lib/frr";
pub const DAEMONS: [&str; 4] = ["zebra", "staticd", "bfdd", "bgpd"];
/// Every lab namespace name starts with this, then `<pid>-<counter>-`.
const PREFIX: &str = "frlab-";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// One FRR instance (one namespace).
#[derive(Clone, Debug)]
pub struct Instance {
    /// Hostname inside the instance's UTS namespace; also its role (`tor`, `node1`, ...).
    pub name: String,
    pub ns: String,
    pub etc: PathBuf,
    pub run: PathBuf,
    pub log: PathBuf,
    pub ipv4: Ipv4Addr,
    pub ipv6: Ipv6Addr,
    /// The capability bounding set the daemons run with (`setpriv --bounding-set` form,
    /// e.g. `-all,+net_admin`); None: all of root's.
    pub caps: Option<String>,
}

pub struct Lab {
    pub tor: Instance,
    pub nodes: Vec<Instance>,
    dir: PathBuf,
    namespaces: Vec<String>,
    /// The daemons run in the foreground as our children, so we reap them (no zombies).
    daemons: Vec<std::process::Child>,
}

/// Why a lab could not be built. With `CI` set (any non-empty value) this fails the test; otherwise it skips.
pub fn unavailable(reason: &str) -> Option<Lab> {
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("lab required under CI (CI is set) but unavailable: {reason}");
    }
    eprintln!();
    eprintln!("!!!!!!!! SKIPPING FRR LAB TEST: {reason}");
    eprintln!(
        "!!!!!!!! (root, iproute2 netns, unshare and FRR 8.x under {FRR_LIBEXEC} are needed;"
    );
    eprintln!("!!!!!!!!  set CI (any non-empty value) to make this a failure)");
    eprintln!();
    None
}

impl Lab {
    /// A ToR and `nodes` nodes, FRR running everywhere with an empty config.
    /// `None` (after a loud message) when the machine cannot run the lab and CI is not set.
    pub fn start(nodes: usize) -> Option<Lab> {
        Lab::start_with_caps(nodes, None)
    }

    /// [`Lab::start`] with the nodes' daemons limited to `caps` (a container's
    /// capabilities, in `setpriv --bounding-set` form); the ToR keeps all of root's.
    pub fn start_with_caps(nodes: usize, caps: Option<&str>) -> Option<Lab> {
        assert!((1..=50).contains(&nodes), "1..=50 nodes");
        if let Err(reason) = prerequisites() {
            return unavailable(&reason);
        }
        sweep_stale_labs();
        let id = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let dir = std::env::temp_dir().join(&id);
        let instance = |name: &str, last_octet: u8| Instance {
            name: name.to_string(),
            ns: format!("{id}-{name}"),
            etc: dir.join(name).join("etc"),
            run: dir.join(name).join("run"),
            log: dir.join(name).join("log"),
            ipv4: Ipv4Addr::new(192, 0, 2, last_octet),
            ipv6: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(last_octet)),
            caps: None,
        };
        let tor = instance("tor", 1);
        let nodes: Vec<Instance> = (0..nodes)
            .map(|i| Instance {
                caps: caps.map(str::to_string),
                ..instance(&format!("node{}", i + 1), 21 + i as u8)
            })
            .collect();
        // From here on the guard owns whatever exists, so a failure half-way still cleans up.
        let mut lab = Lab {
            tor,
            nodes,
            dir,
            namespaces: Vec::new(),
            daemons: Vec::new(),
        };
        if let Err(e) = lab.build() {
            if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
                panic!("building the lab failed: {e}");
            }
            drop(lab);
            return unavailable(&format!("building the lab failed: {e}"));
        }
        Some(lab)
    }

    /// A lab whose ToR (AS `tor_as`) already peers with every node (each AS `node_as`), as
    /// most lab tests start.
    pub fn start_peered(nodes: usize, tor_as: u32, node_as: u32) -> Option<Lab> {
        let lab = Lab::start(nodes)?;
        let peers: Vec<(&Instance, u32)> = lab.nodes.iter().map(|n| (n, node_as)).collect();
        lab.tor
            .load_config(&tor_config(tor_as, &peers))
            .unwrap_or_else(|e| panic!("ToR config: {e}"));
        Some(lab)
    }

    fn instances(&self) -> impl Iterator<Item = &Instance> {
        std::iter::once(&self.tor).chain(self.nodes.iter())
    }

    fn build(&mut self) -> Result<(), String> {
        std::fs::create_dir_all(&self.dir).map_err(|e| format!("{}: {e}", self.dir.display()))?;
        let all: Vec<Instance> = self.instances().cloned().collect();
        for inst in &all {
            run(&["ip", "netns", "add", &inst.ns])?;
            self.namespaces.push(inst.ns.clone());
            run(&["ip", "-n", &inst.ns, "link", "set", "lo", "up"])?;
        }
        let tor = self.tor.ns.clone();
        run(&["ip", "-n", &tor, "link", "add", "br0", "type", "bridge"])?;
        run(&["ip", "-n", &tor, "link", "set", "br0", "up"])?;
        let tor4 = format!("{}/24", self.tor.ipv4);
        let tor6 = format!("{}/64", self.tor.ipv6);
        run(&["ip", "-n", &tor, "addr", "add", &tor4, "dev", "br0"])?;
        run(&[
            "ip", "-n", &tor, "addr", "add", &tor6, "dev", "br0", "nodad",
        ])?;
        for (i, node) in self.nodes.iter().enumerate() {
            // Both ends are created inside lab namespaces: nothing appears in the root one.
            let port = format!("v{}", i + 1);
            run(&[
                "ip", "-n", &tor, "link", "add", &port, "type", "veth", "peer", "name", "eth0",
                "netns", &node.ns,
            ])?;
            run(&[
                "ip", "-n", &tor, "link", "set", &port, "master", "br0", "up",
            ])?;
            let a4 = format!("{}/24", node.ipv4);
            let a6 = format!("{}/64", node.ipv6);
            run(&["ip", "-n", &node.ns, "addr", "add", &a4, "dev", "eth0"])?;
            run(&[
                "ip", "-n", &node.ns, "addr", "add", &a6, "dev", "eth0", "nodad",
            ])?;
            run(&["ip", "-n", &node.ns, "link", "set", "eth0", "up"])?;
        }
        for inst in &all {
            start_frr(inst, &mut self.daemons)?;
        }
        Ok(())
    }

    pub fn node(&self, i: usize) -> &Instance {
        &self.nodes[i]
    }
}

fn prerequisites() -> Result<(), String> {
    // Namespaces need root; /proc/self is owned by our effective uid.
    if std::os::unix::fs::MetadataExt::uid(
        &std::fs::metadata("/proc/self").map_err(|e| e.to_string())?,
    ) != 0
    {
        return Err("not root".into());
    }
    for d in DAEMONS {
        let p = Path::new(FRR_LIBEXEC).join(d);
        if !p.exists() {
            return Err(format!("{} missing", p.display()));
        }
    }
    for tool in ["ip", "vtysh", "unshare", "install"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !found {
            return Err(format!("`{tool}` not found"));
        }
    }
    Ok(())
}

/// Run a command in the root namespace; Err carries the command and its stderr.
fn run(argv: &[&str]) -> Result<Output, String> {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .map_err(|e| format!("{}: {e}", argv.join(" ")))?;
    if !out.status.success() {
        return Err(format!(
            "`{}` failed ({}): {}",
            argv.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out)
}

/// `sh -c` script that enters a fresh UTS namespace named `$0` and execs the rest.
const UTS_WRAPPER: &str = "hostname \"$0\" && exec \"$@\"";

fn start_frr(inst: &Instance, children: &mut Vec<std::process::Child>) -> Result<(), String> {
    for d in [&inst.etc, &inst.run, &inst.log] {
        run(&[
            "install",
            "-d",
            "-o",
            "frr",
            "-g",
            "frr",
            &d.to_string_lossy(),
        ])?;
    }
    let vtysh_conf = inst.etc.join("vtysh.conf");
    std::fs::write(&vtysh_conf, "service integrated-vtysh-config\n")
        .map_err(|e| format!("{}: {e}", vtysh_conf.display()))?;
    run(&["chown", "frr:frr", &vtysh_conf.to_string_lossy()])?;
    for daemon in DAEMONS {
        children.push(spawn_daemon(inst, daemon)?);
        wait_vty(inst, daemon)?;
    }
    // vtysh connects to every daemon; wait until a real command answers.
    try_wait_until(Duration::from_secs(10), || inst.vtysh(&["show version"]))
        .map_err(|e| format!("{}: vtysh never answered: {e}", inst.ns))?;
    Ok(())
}

/// Start one FRR daemon of `inst` in the foreground (the child IS the daemon).
fn spawn_daemon(inst: &Instance, daemon: &str) -> Result<std::process::Child, String> {
    let run_dir = inst.run.to_string_lossy().into_owned();
    let bin = format!("{FRR_LIBEXEC}/{daemon}");
    let pid = format!("{run_dir}/{daemon}.pid");
    let zserv = format!("{run_dir}/zserv.api");
    let log = format!("file:{}/{daemon}.log", inst.log.display());
    let bfdctl = format!("{run_dir}/bfdd.sock");
    // `ip netns exec`, `unshare` and `sh` all exec: the child we spawn IS the daemon.
    let mut argv = vec![
        "netns",
        "exec",
        &inst.ns,
        "unshare",
        "--uts",
        "sh",
        "-c",
        UTS_WRAPPER,
        &inst.name,
    ];
    if let Some(caps) = &inst.caps {
        argv.extend(["setpriv", "--bounding-set", caps.as_str()]);
    }
    argv.extend([
        bin.as_str(),
        "-P",
        "0",
        "-f",
        "/dev/null",
        "-i",
        &pid,
        "-z",
        &zserv,
        "--vty_socket",
        &run_dir,
        "--log",
        &log,
    ]);
    if daemon == "bfdd" {
        argv.extend(["--bfdctl", &bfdctl]);
    }
    Command::new("ip")
        .args(&argv)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{} {daemon}: {e}", inst.ns))
}

/// A daemon is usable once its vty socket exists.
fn wait_vty(inst: &Instance, daemon: &str) -> Result<(), String> {
    let vty = inst.run.join(format!("{daemon}.vty"));
    try_wait_until(Duration::from_secs(10), || {
        vty.exists().then_some(()).ok_or("no vty socket")
    })
    .map_err(|e| format!("{} {daemon}: {e}", inst.ns))
}

impl Instance {
    /// Stop one daemon and start it again with an empty config, as a restarted FRR
    /// container would. Returns the new daemon (the lab's teardown kills it
    /// with the namespace; the caller reaps it).
    pub fn restart_daemon(&self, daemon: &str) -> std::process::Child {
        let pid_file = self.run.join(format!("{daemon}.pid"));
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let _ = std::fs::remove_file(self.run.join(format!("{daemon}.vty")));
        kill_and_wait(&[pid]);
        let child = spawn_daemon(self, daemon).unwrap();
        wait_vty(self, daemon).unwrap();
        child
    }
}

impl Instance {
    /// The argv prefix that runs a program in this instance's UTS namespace (hostname).
    pub fn uts_wrapper(&self) -> Vec<String> {
        vec![
            "unshare".into(),
            "--uts".into(),
            "sh".into(),
            "-c".into(),
            UTS_WRAPPER.into(),
            self.name.clone(),
        ]
    }

    /// ferrule's own FRR client for this instance as the speaker runs it: straight to the
    /// daemons' vty sockets.
    pub fn client(&self) -> ferrule::Cli {
        ferrule::Cli::sockets(&self.run, Duration::from_secs(60))
    }

    /// ferrule's FRR client going through a vtysh process per call (`--frr-transport vtysh`).
    pub fn client_vtysh(&self) -> ferrule::Cli {
        ferrule::Cli::Process(self.vtysh_process())
    }

    /// The vtysh process client itself, for callers that adjust it (another binary).
    pub fn vtysh_process(&self) -> ferrule::VtyshProcess {
        ferrule::VtyshProcess::new(&self.run)
            .with_config_dir(&self.etc)
            .with_wrapper(self.uts_wrapper())
            .with_timeout(Duration::from_secs(60))
    }

    fn vtysh_command(&self) -> Command {
        let w = self.uts_wrapper();
        let mut c = Command::new(&w[0]);
        c.args(&w[1..])
            .arg("vtysh")
            .arg("--vty_socket")
            .arg(&self.run);
        c.arg("--config_dir").arg(&self.etc);
        c
    }

    /// Run commands in one vtysh invocation (`-c` each). Ok(stdout) on exit 0, Err(stdout +
    /// stderr) otherwise. Config commands need a leading `configure terminal`.
    pub fn vtysh(&self, cmds: &[&str]) -> Result<String, String> {
        let mut c = self.vtysh_command();
        for cmd in cmds {
            c.arg("-c").arg(cmd);
        }
        let out = c.output().map_err(|e| format!("vtysh: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            Ok(stdout)
        } else {
            Err(format!(
                "vtysh {:?} failed ({}): {}{}",
                cmds,
                out.status,
                stdout,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// Load a whole config text (`vtysh -f`), as an operator would for a hand-written config.
    pub fn load_config(&self, text: &str) -> Result<String, String> {
        let path = self.etc.join(format!(
            "load-{}.conf",
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        let out = self
            .vtysh_command()
            .arg("-f")
            .arg(&path)
            .output()
            .map_err(|e| format!("vtysh: {e}"))?;
        let _ = std::fs::remove_file(&path);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            Ok(stdout)
        } else {
            Err(format!(
                "vtysh -f failed ({}): {stdout}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// One command straight to a daemon's vty socket (FRR's vtysh protocol: command + NUL,
    /// answer until three NULs and a status byte). ~1 ms instead of a vtysh start (~50 ms),
    /// so convergence can be timed with a fine poll.
    pub fn daemon_query(&self, daemon: &str, cmd: &str) -> Result<String, String> {
        use std::io::{Read, Write};
        let path = self.run.join(format!("{daemon}.vty"));
        let mut s = std::os::unix::net::UnixStream::connect(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        s.write_all(cmd.as_bytes())
            .and_then(|_| s.write_all(&[0]))
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

    /// `daemon_query` of a JSON command to bgpd, parsed.
    pub fn bgpd_json(&self, cmd: &str) -> serde_json::Value {
        let text = self
            .daemon_query("bgpd", cmd)
            .unwrap_or_else(|e| panic!("{}: {e}", self.name));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}: {text}", self.name))
    }

    /// A `show ... json` command, parsed.
    pub fn vtysh_json(&self, cmd: &str) -> serde_json::Value {
        let text = self
            .vtysh(&[cmd])
            .unwrap_or_else(|e| panic!("{}: {e}", self.name));
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: `{cmd}` gave no JSON ({e}): {text}", self.name))
    }

    pub fn running_config(&self) -> String {
        self.vtysh(&["show running-config"])
            .unwrap_or_else(|e| panic!("{}: {e}", self.name))
    }

    /// The daemon log files concatenated (for failure messages).
    pub fn logs_tail(&self, lines: usize) -> String {
        let mut s = String::new();
        for d in DAEMONS {
            let text =
                std::fs::read_to_string(self.log.join(format!("{d}.log"))).unwrap_or_default();
            let v: Vec<&str> = text.lines().collect();
            for l in &v[v.len().saturating_sub(lines)..] {
                s.push_str(&format!("{d}: {l}\n"));
            }
        }
        s
    }
}

/// Run `cmd` inside namespace `ns` (`ip netns exec`).
pub fn exec(ns: &str, cmd: &[&str]) -> Result<String, String> {
    let mut argv = vec!["ip", "netns", "exec", ns];
    argv.extend_from_slice(cmd);
    run(&argv).map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Poll `f` until it returns Ok or `timeout` passes; panics with the last error then.
pub fn wait_until<T, E: Debug>(
    timeout: Duration,
    what: &str,
    f: impl FnMut() -> Result<T, E>,
) -> T {
    try_wait_until(timeout, f)
        .unwrap_or_else(|e| panic!("timed out after {timeout:?} waiting for {what}: {e}"))
}

/// Poll `f` (every 10 ms) until it returns Ok; Err(last error) after `timeout`.
pub fn try_wait_until<T, E: Debug>(
    timeout: Duration,
    mut f: impl FnMut() -> Result<T, E>,
) -> Result<T, String> {
    let deadline = Instant::now() + timeout;
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err(e) if Instant::now() >= deadline => return Err(format!("{e:?}")),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

pub fn alive(pid: i32) -> bool {
    // A zombie has exited (our own daemons are reaped in Drop, after this check).
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn kill_and_wait(pids: &[i32]) {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    for &p in pids {
        let _ = kill(Pid::from_raw(p), Signal::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|&p| alive(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    for &p in pids.iter().filter(|&&p| alive(p)) {
        let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|&p| alive(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Processes still running inside a namespace (all started by a lab).
fn netns_pids(ns: &str) -> Vec<i32> {
    Command::new("ip")
        .args(["netns", "pids", ns])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn remove_namespaces(namespaces: &[String]) {
    let mut pids: Vec<i32> = Vec::new();
    for ns in namespaces {
        pids.extend(netns_pids(ns));
    }
    kill_and_wait(&pids);
    for ns in namespaces {
        let _ = Command::new("ip").args(["netns", "del", ns]).status();
    }
}

/// Remove namespaces and dirs of labs whose test process no longer exists.
fn sweep_stale_labs() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    let owner =
        |name: &str| -> Option<i32> { name.strip_prefix(PREFIX)?.split('-').next()?.parse().ok() };
    let stale: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| owner(n).is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()))
        .map(str::to_string)
        .collect();
    if stale.is_empty() {
        return;
    }
    eprintln!("harness: removing stale lab namespaces {stale:?}");
    remove_namespaces(&stale);
    for n in &stale {
        if let Some(lab_id) = n.rsplit_once('-').map(|(id, _)| id) {
            let _ = std::fs::remove_dir_all(std::env::temp_dir().join(lab_id));
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let pids: Vec<i32> = self.daemons.iter().map(|c| c.id() as i32).collect();
        kill_and_wait(&pids);
        for c in &mut self.daemons {
            let _ = c.kill(); // no-op unless it ignored SIGTERM and SIGKILL above
            let _ = c.wait();
        }
        remove_namespaces(&self.namespaces);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A hand-written ToR config: AS `tor_as`, one explicit neighbor per node (so a session
/// reset shows in its `connectionsEstablished`), ECMP across nodes, BFD 300/300/3.
pub fn tor_config(tor_as: u32, nodes: &[(&Instance, u32)]) -> String {
    let mut s = String::from(
        "bfd\n profile lab\n  receive-interval 300\n  transmit-interval 300\n  detect-multiplier 3\n exit\nexit\n",
    );
    s.push_str(&format!("router bgp {tor_as}\n bgp router-id 192.0.2.1\n"));
    s.push_str(" no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n");
    s.push_str(" bgp bestpath as-path multipath-relax\n");
    for (node, asn) in nodes {
        let n = node.ipv4;
        s.push_str(&format!(
            " neighbor {n} remote-as {asn}\n neighbor {n} timers 3 9\n neighbor {n} timers connect 1\n neighbor {n} bfd\n neighbor {n} bfd profile lab\n"
        ));
    }
    s.push_str(" address-family ipv4 unicast\n  maximum-paths 8\n  maximum-paths ibgp 8\n");
    for (node, _) in nodes {
        s.push_str(&format!("  neighbor {} activate\n", node.ipv4));
    }
    s.push_str(" exit-address-family\n address-family ipv6 unicast\n");
    for (node, _) in nodes {
        s.push_str(&format!("  neighbor {} activate\n", node.ipv4));
    }
    s.push_str(" exit-address-family\nexit\n");
    s
}

/// Poll the ToR until its session with `peer` is Established; returns the summary entry.
pub fn wait_established(tor: &Instance, peer: Ipv4Addr, timeout: Duration) -> serde_json::Value {
    wait_until(
        timeout,
        &format!("{} Established on {}", peer, tor.name),
        || {
            let v = tor.vtysh_json("show bgp summary json");
            let p = &v["ipv4Unicast"]["peers"][peer.to_string()];
            if p["state"] == "Established" {
                Ok(p.clone())
            } else {
                Err(p.clone())
            }
        },
    )
}

/// Poll until the BFD session with `peer` is up on `inst`; returns the peer entry.
pub fn wait_bfd_up(inst: &Instance, peer: Ipv4Addr, timeout: Duration) -> serde_json::Value {
    wait_until(
        timeout,
        &format!("BFD {} up on {}", peer, inst.name),
        || {
            let v = inst.vtysh_json("show bfd peers json");
            let found = v
                .as_array()
                .and_then(|a| a.iter().find(|p| p["peer"] == peer.to_string()))
                .cloned();
            match found {
                Some(p) if p["status"] == "up" => Ok(p),
                other => Err(other),
            }
        },
    )
}

/// The best path's attributes at `inst` for `prefix`: (community string, local pref).
pub fn best_path(inst: &Instance, prefix: &str) -> Option<(String, Option<u64>)> {
    let v = inst.bgpd_json(&format!("show bgp ipv4 unicast {prefix} json"));
    let paths = v["paths"].as_array()?;
    let best = paths
        .iter()
        .find(|p| p["bestpath"]["overall"] == true)
        .or(paths.first())?;
    Some((
        best["community"]["string"]
            .as_str()
            .unwrap_or("")
            .to_string(),
        best["locPrf"].as_u64(),
    ))
}

/// Watches an instance's kernel routing table (`ip monitor route`, netlink push, no polling)
/// and timestamps every event as it arrives: what a packet sees, the end of the path from a
/// change to the peer's FIB.
pub struct RouteMonitor {
    child: std::process::Child,
    events: std::sync::mpsc::Receiver<(Instant, String)>,
}

impl RouteMonitor {
    pub fn start(inst: &Instance) -> RouteMonitor {
        use std::io::BufRead;
        let mut child = Command::new("ip")
            .args(["-n", &inst.ns, "monitor", "route"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("ip monitor route");
        let out = child.stdout.take().unwrap();
        let (tx, events) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        RouteMonitor { child, events }
    }

    /// Forget the events seen so far.
    pub fn drain(&self) {
        while self.events.try_recv().is_ok() {}
    }

    /// Every event since the last `take` or `drain`, plus those arriving within `settle` from
    /// now: each line as `ip monitor route` printed it (a multipath route spans several).
    pub fn take(&self, settle: Duration) -> Vec<String> {
        let deadline = Instant::now() + settle;
        let mut out = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.events.recv_timeout(left) {
                Ok((_, line)) => out.push(line),
                Err(_) => break,
            }
        }
        out.extend(self.events.try_iter().map(|(_, line)| line));
        out
    }

    /// When the first route event naming `prefix` (e.g. `203.0.113.0`) arrived, waiting at
    /// most `timeout` for it.
    pub fn next_change(&self, prefix: &str, timeout: Duration) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let (at, line) = self.events.recv_timeout(left).ok()?;
            let first = line.split_whitespace().find(|w| *w != "Deleted");
            if first.is_some_and(|w| w == prefix || w.starts_with(&format!("{prefix}/"))) {
                return Some(at);
            }
        }
    }
}

impl Drop for RouteMonitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A file-mode lab's working directory: `manifests/` (the speakers' --source) and `status/`
/// (their --status-dir). Removed on drop, unless FERRULE_LAB_KEEP is set (a post-mortem).
pub struct Work {
    pub dir: PathBuf,
    pub manifests: PathBuf,
    pub status: PathBuf,
}

impl Work {
    pub fn new(tag: &str) -> Work {
        let dir = std::env::temp_dir().join(format!(
            "ferrule-lab-{tag}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let manifests = dir.join("manifests");
        let status = dir.join("status");
        std::fs::create_dir_all(&manifests).unwrap();
        std::fs::create_dir_all(&status).unwrap();
        Work {
            dir,
            manifests,
            status,
        }
    }

    /// Replaces a manifest atomically (write aside, rename), as tools do.
    pub fn write(&self, name: &str, text: &str) {
        let tmp = self.manifests.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, self.manifests.join(name)).unwrap();
    }

    pub fn remove(&self, name: &str) {
        let _ = std::fs::remove_file(self.manifests.join(name));
    }

    /// The SpeakerNode status the speaker of `node` wrote, once it wrote one.
    pub fn speaker_node(&self, node: &str) -> Option<ferrule::api::status::SpeakerNodeStatus> {
        let path = self
            .status
            .join("speakernodes")
            .join(format!("{node}.yaml"));
        let obj: ferrule::api::status::SpeakerNode =
            serde_yaml::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
        obj.status
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        if std::env::var_os("FERRULE_LAB_KEEP").is_some() {
            eprintln!("kept {}", self.dir.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A localhost TCP port free right now (for a speaker's --metrics-addr).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
