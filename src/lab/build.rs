//! `up`: a checked [`Plan`] built with network namespaces, veth pairs, Linux bridges, FRR
//! daemons and `ferrule speaker` processes, every path under the lab's state directory, every
//! namespace and process noted in the journal before it is created.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::state::{Journal, Layout, NodeDirs, Record};
use super::topology::{Plan, FRR_DAEMONS};

pub const FRR_LIBEXEC: &str = "/usr/lib/frr";

/// `sh -c` script: a fresh UTS namespace named `$0`, then exec the rest. FRR takes its
/// hostname from uname, so each node gets its own, as each container would.
const UTS_WRAPPER: &str = "hostname \"$0\" && exec \"$@\"";

/// Root, iproute2, unshare, FRR's daemons and vtysh; and the ferrule binary if speakers run.
pub fn prerequisites(plan: &Plan, ferrule: &Path) -> Result<(), String> {
    // /proc/self is owned by our effective uid.
    let uid = std::fs::metadata("/proc/self")
        .map_or(u32::MAX, |m| std::os::unix::fs::MetadataExt::uid(&m));
    if uid != 0 {
        return Err("the lab runner needs root (network namespaces)".into());
    }
    for d in FRR_DAEMONS {
        let p = Path::new(FRR_LIBEXEC).join(d);
        if !p.exists() {
            return Err(format!("{} missing (install FRR 8.4)", p.display()));
        }
    }
    for tool in ["ip", "unshare", "install", "vtysh", "hostname"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            return Err(format!("`{tool}` not found"));
        }
    }
    if plan.speakers().next().is_some() && !ferrule.is_file() {
        return Err(format!(
            "{}: no ferrule binary (give --ferrule)",
            ferrule.display()
        ));
    }
    Ok(())
}

pub fn run(argv: &[&str]) -> Result<Output, String> {
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

/// The directories of every Linux node, as `lab.json` records them.
pub fn layout(plan: &Plan, state_dir: &Path) -> Layout {
    let nodes = plan
        .nodes
        .iter()
        .map(|n| {
            let d = state_dir.join(&n.name);
            NodeDirs {
                name: n.name.clone(),
                ns: plan.netns(&n.name),
                etc: d.join("etc"),
                run: d.join("run"),
                log: d.join("log"),
                status: n.speaker.as_ref().map(|_| d.join("status")),
                source: n.speaker.as_ref().map(|sp| sp.source.clone()),
                router: !n.daemons.is_empty() && n.speaker.is_none(),
            }
        })
        .collect();
    Layout {
        name: plan.name.clone(),
        state_dir: state_dir.to_path_buf(),
        nodes,
    }
}

/// What `up` timed.
pub struct Built {
    pub layout: Layout,
    /// From the start of `up` until the FRR daemons answered, and until the speakers ran.
    pub frr_ready: Duration,
    pub speakers_started: Duration,
}

/// Builds the lab. On an error the caller runs `down` (everything is in the journal).
pub fn build(plan: &Plan, state_dir: &Path, ferrule: &Path) -> Result<Built, String> {
    let start = Instant::now();
    std::fs::create_dir_all(state_dir).map_err(|e| format!("{}: {e}", state_dir.display()))?;
    let layout = layout(plan, state_dir);
    layout.save()?;
    let mut journal = Journal::create(state_dir)?;
    let all: Vec<&str> = plan
        .nodes
        .iter()
        .map(|n| n.name.as_str())
        .chain(plan.bridges.iter().map(String::as_str))
        .collect();
    for name in &all {
        let ns = plan.netns(name);
        journal.note(&Record::Netns(ns.clone()))?;
        run(&["ip", "netns", "add", &ns])?;
        run(&["ip", "-n", &ns, "link", "set", "lo", "up"])?;
    }
    for br in &plan.bridges {
        let ns = plan.netns(br);
        run(&["ip", "-n", &ns, "link", "add", br, "type", "bridge"])?;
        run(&["ip", "-n", &ns, "link", "set", br, "up"])?;
    }
    for (a, b) in &plan.links {
        let (na, nb) = (plan.netns(&a.node), plan.netns(&b.node));
        // Both ends are made inside the lab's namespaces: nothing lands in the root one.
        run(&[
            "ip", "-n", &na, "link", "add", &a.iface, "type", "veth", "peer", "name", &b.iface,
            "netns", &nb,
        ])?;
        for (e, ns) in [(a, &na), (b, &nb)] {
            if e.bridge {
                run(&[
                    "ip", "-n", ns, "link", "set", &e.iface, "master", &e.node, "up",
                ])?;
            } else {
                run(&["ip", "-n", ns, "link", "set", &e.iface, "up"])?;
            }
        }
    }
    for n in &plan.nodes {
        let ns = plan.netns(&n.name);
        for args in &n.exec {
            let mut argv = vec!["ip", "-n", ns.as_str()];
            argv.extend(args.iter().map(String::as_str));
            run(&argv).map_err(|e| format!("node {}: exec: {e}", n.name))?;
        }
    }
    // FRR: directories, then each daemon kind across all nodes at once, zebra first.
    for (n, dirs) in plan.nodes.iter().zip(&layout.nodes) {
        if n.daemons.is_empty() {
            continue;
        }
        for d in [&dirs.etc, &dirs.run, &dirs.log] {
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
        let vtysh_conf = dirs.etc.join("vtysh.conf");
        std::fs::write(&vtysh_conf, "service integrated-vtysh-config\n")
            .map_err(|e| format!("{}: {e}", vtysh_conf.display()))?;
        if let Some(conf) = &n.frr_conf {
            let dst = dirs.etc.join("frr.conf");
            std::fs::copy(conf, &dst).map_err(|e| format!("{}: {e}", conf.display()))?;
        }
        run(&["chown", "-R", "frr:frr", &dirs.etc.to_string_lossy()])?;
    }
    for daemon in FRR_DAEMONS {
        let mut waiting = Vec::new();
        for (n, dirs) in plan.nodes.iter().zip(&layout.nodes) {
            if !n.daemons.iter().any(|d| d == daemon) {
                continue;
            }
            let what = format!("{}/{daemon}", n.name);
            journal.note(&Record::Spawn(what.clone()))?;
            let pid = spawn_daemon(dirs, daemon)?;
            journal.note(&Record::Pid(what.clone(), pid))?;
            waiting.push((what, dirs.run.join(format!("{daemon}.vty")), pid));
        }
        for (what, vty, pid) in waiting {
            wait_for(
                Duration::from_secs(10),
                || vty.exists(),
                || format!("{what} (pid {pid}) made no vty socket {}", vty.display()),
            )?;
        }
    }
    // The routers' startup configs, as frrinit.sh applies them (`vtysh -b`).
    for dirs in layout.nodes.iter().filter(|d| d.router) {
        if !dirs.etc.join("frr.conf").exists() {
            continue;
        }
        let mut argv = uts(&dirs.name);
        argv.extend(["vtysh".into(), "--vty_socket".into()]);
        argv.push(dirs.run.to_string_lossy().into_owned());
        argv.extend([
            "--config_dir".into(),
            dirs.etc.to_string_lossy().into_owned(),
        ]);
        argv.push("-b".into());
        let out = Command::new(&argv[0])
            .args(&argv[1..])
            .output()
            .map_err(|e| format!("{}: vtysh -b: {e}", dirs.name))?;
        if !out.status.success() {
            return Err(format!(
                "{}: vtysh -b of its startup config failed ({}): {}{}",
                dirs.name,
                out.status,
                String::from_utf8_lossy(&out.stdout).trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    let frr_ready = start.elapsed();
    for (n, dirs) in plan.nodes.iter().zip(&layout.nodes) {
        let (Some(sp), Some(status)) = (&n.speaker, &dirs.status) else {
            continue;
        };
        std::fs::create_dir_all(status).map_err(|e| format!("{}: {e}", status.display()))?;
        let mut argv = uts(&n.name);
        argv.push(ferrule.to_string_lossy().into_owned());
        argv.push("speaker".into());
        for (k, v) in [
            ("--source", sp.source.clone()),
            ("--status-dir", status.clone()),
            ("--vty-socket-dir", dirs.run.clone()),
            ("--frr-config-dir", dirs.etc.clone()),
        ] {
            argv.push(k.into());
            argv.push(v.to_string_lossy().into_owned());
        }
        // Port 0: the kernel picks a free one (inside the node's namespace).
        argv.extend(["--metrics-addr".into(), "127.0.0.1:0".into()]);
        argv.extend(sp.args.iter().cloned());
        let what = format!("{}/ferrule-speaker", n.name);
        journal.note(&Record::Spawn(what.clone()))?;
        let log_path = dirs.log.join("speaker.log");
        let log =
            std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        let child = netns_command(&dirs.ns, &argv)
            .envs(&n.env)
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("{what}: {e}"))?;
        journal.note(&Record::Pid(what, child.id() as i32))?;
    }
    Ok(Built {
        layout,
        frr_ready,
        speakers_started: start.elapsed(),
    })
}

fn uts(hostname: &str) -> Vec<String> {
    ["unshare", "--uts", "sh", "-c", UTS_WRAPPER, hostname]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// `ip netns exec NS argv...`, detached: its own process group, so it outlives the runner
/// and a Ctrl-C at the runner's terminal does not reach it.
fn netns_command(ns: &str, argv: &[String]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns])
        .args(argv)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    c
}

/// Kills one of a node's FRR daemons and starts it again, empty, as a rolling update of the
/// FRR container does; returns when its vty socket is back. The new daemon runs under the
/// lab's state dir, so `down` finds it.
pub fn restart_daemon(dirs: &NodeDirs, daemon: &str) -> Result<i32, String> {
    let pid_file = dirs.run.join(format!("{daemon}.pid"));
    let old: i32 = std::fs::read_to_string(&pid_file)
        .map_err(|e| format!("{}: {e}", pid_file.display()))?
        .trim()
        .parse()
        .map_err(|e| format!("{}: {e}", pid_file.display()))?;
    let vty = dirs.run.join(format!("{daemon}.vty"));
    super::state::kill_and_wait(&[old]);
    let _ = std::fs::remove_file(&vty);
    let pid = spawn_daemon(dirs, daemon)?;
    wait_for(
        Duration::from_secs(10),
        || vty.exists(),
        || format!("{}/{daemon} (pid {pid}) made no vty socket", dirs.name),
    )?;
    Ok(pid)
}

/// One FRR daemon in the foreground (`ip netns exec`, `unshare` and `sh` all exec, so the
/// child is the daemon); returns its pid.
fn spawn_daemon(dirs: &NodeDirs, daemon: &str) -> Result<i32, String> {
    let run_dir = dirs.run.to_string_lossy().into_owned();
    let mut argv = uts(&dirs.name);
    argv.extend([
        format!("{FRR_LIBEXEC}/{daemon}"),
        "-P".into(),
        "0".into(),
        "-f".into(),
        "/dev/null".into(),
        "-i".into(),
        format!("{run_dir}/{daemon}.pid"),
        "-z".into(),
        format!("{run_dir}/zserv.api"),
        "--vty_socket".into(),
        run_dir.clone(),
        "--log".into(),
        format!("file:{}/{daemon}.log", dirs.log.display()),
    ]);
    if daemon == "bfdd" {
        // Or every instance fights over one global control socket.
        argv.extend(["--bfdctl".into(), format!("{run_dir}/bfdd.sock")]);
    }
    let child = netns_command(&dirs.ns, &argv)
        .spawn()
        .map_err(|e| format!("{} {daemon}: {e}", dirs.name))?;
    Ok(child.id() as i32)
}

/// Polls `done` every 10 ms until it holds or `limit` passes.
pub fn wait_for(
    limit: Duration,
    mut done: impl FnMut() -> bool,
    why: impl FnOnce() -> String,
) -> Result<Duration, String> {
    let start = Instant::now();
    loop {
        if done() {
            return Ok(start.elapsed());
        }
        if start.elapsed() >= limit {
            return Err(format!("after {limit:?}: {}", why()));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The state directory of lab `name` under `root`.
pub fn state_dir(root: &Path, name: &str) -> PathBuf {
    root.join(name)
}
