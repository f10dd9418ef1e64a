//! What a lab left on the machine and how it goes away. `up` writes `lab.json` (where every
//! node's directories are) and appends to `created.jsonl` *before* it creates each thing, so
//! `down` finds everything also after the runner was killed; `down` then also sweeps by name:
//! namespaces starting with the lab's prefix and processes whose command line names the
//! lab's state directory.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Where one node's FRR and speaker keep their files.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeDirs {
    pub name: String,
    pub ns: String,
    pub etc: PathBuf,
    pub run: PathBuf,
    pub log: PathBuf,
    /// The speaker's --status-dir (nodes running `ferrule speaker`).
    pub status: Option<PathBuf>,
    /// The speaker's --source (its manifests directory).
    #[serde(default)]
    pub source: Option<PathBuf>,
    /// Runs FRR with its own startup config and no speaker (a ToR).
    pub router: bool,
}

/// `lab.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Layout {
    pub name: String,
    pub state_dir: PathBuf,
    pub nodes: Vec<NodeDirs>,
}

impl Layout {
    pub fn load(state_dir: &Path) -> Result<Layout, String> {
        let p = state_dir.join("lab.json");
        let text = std::fs::read_to_string(&p)
            .map_err(|e| format!("{}: {e} (is the lab up?)", p.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))
    }

    pub fn save(&self) -> Result<(), String> {
        let p = self.state_dir.join("lab.json");
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))
    }
}

/// One line of `created.jsonl`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Record {
    /// About to add this network namespace.
    Netns(String),
    /// About to start this process (`node/daemon`).
    Spawn(String),
    /// It started with this pid.
    Pid(String, i32),
}

/// The append-only journal of what `up` created.
pub struct Journal {
    file: std::fs::File,
}

impl Journal {
    pub fn create(state_dir: &Path) -> Result<Journal, String> {
        let p = state_dir.join("created.jsonl");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p)
            .map_err(|e| format!("{}: {e}", p.display()))?;
        Ok(Journal { file })
    }

    /// Written and synced before the thing it names is created.
    pub fn note(&mut self, r: &Record) -> Result<(), String> {
        let mut line = serde_json::to_string(r).map_err(|e| e.to_string())?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.sync_data())
            .map_err(|e| format!("created.jsonl: {e}"))
    }
}

fn read_journal(state_dir: &Path) -> Vec<Record> {
    std::fs::read_to_string(state_dir.join("created.jsonl"))
        .unwrap_or_default()
        .lines()
        // A line cut short by a crash is skipped; the sweep by name covers it.
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Namespaces whose name starts with `prefix`.
pub fn namespaces_with(prefix: &str) -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output();
    out.map(|o| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|n| n.starts_with(prefix))
            .map(str::to_string)
            .collect()
    })
    .unwrap_or_default()
}

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

/// Live processes (not this one) whose command line contains `needle`.
pub fn processes_naming(needle: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me && alive(pid))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    String::from_utf8_lossy(&c)
                        .replace('\0', " ")
                        .contains(needle)
                })
                .unwrap_or(false)
        })
        .collect()
}

/// Running and not a zombie.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// SIGTERM, up to 5 s, then SIGKILL and up to 5 s more.
pub fn kill_and_wait(pids: &[i32]) {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let wait = |limit: Duration| {
        let deadline = Instant::now() + limit;
        while pids.iter().any(|&p| alive(p)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    for &p in pids {
        let _ = kill(Pid::from_raw(p), Signal::SIGTERM);
    }
    wait(Duration::from_secs(5));
    for &p in pids.iter().filter(|&&p| alive(p)) {
        let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
    }
    wait(Duration::from_secs(5));
}

/// What `down` removed, and what it could not.
#[derive(Debug, Default)]
pub struct Removed {
    pub namespaces: Vec<String>,
    pub processes: Vec<i32>,
    pub state_dir: Option<PathBuf>,
    pub left: Vec<String>,
}

/// Removes lab `name` whose state is under `state_dir`: its processes, namespaces and
/// files, from the journal and by name.
pub fn down(name: &str, state_dir: &Path) -> Removed {
    let prefix = super::topology::ns_prefix(name);
    let needle = format!("{}/", state_dir.display());
    let journal = read_journal(state_dir);
    let mut namespaces: Vec<String> = journal
        .iter()
        .filter_map(|r| match r {
            Record::Netns(n) => Some(n.clone()),
            _ => None,
        })
        .collect();
    for n in namespaces_with(&prefix) {
        if !namespaces.contains(&n) {
            namespaces.push(n);
        }
    }
    let mut pids: Vec<i32> = namespaces.iter().flat_map(|n| netns_pids(n)).collect();
    // A recorded pid counts only while its command line still names the lab (pids recycle).
    pids.extend(processes_naming(&needle));
    pids.sort_unstable();
    pids.dedup();
    kill_and_wait(&pids);
    let mut removed = Removed {
        processes: pids,
        ..Removed::default()
    };
    for n in &namespaces {
        let ok = Command::new("ip")
            .args(["netns", "del", n])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            removed.namespaces.push(n.clone());
        }
    }
    if state_dir.exists() {
        match std::fs::remove_dir_all(state_dir) {
            Ok(()) => removed.state_dir = Some(state_dir.to_path_buf()),
            Err(e) => removed.left.push(format!("{}: {e}", state_dir.display())),
        }
    }
    for n in namespaces_with(&prefix) {
        removed.left.push(format!("namespace {n}"));
    }
    for p in processes_naming(&needle) {
        removed.left.push(format!("process {p}"));
    }
    removed
}
