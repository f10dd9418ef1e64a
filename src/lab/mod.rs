//! `ferrule-lab`: the containerlab topologies in `containerlab/` brought up without a
//! container engine. Linux nodes become network namespaces, `kind: bridge` nodes Linux
//! bridges in namespaces of their own, links veth pairs; FRR runs per node with its own
//! paths and `ferrule speaker` in file mode beside it. `topology` checks the file first, so
//! nothing the runner cannot do is half-built; `state` keeps what was created, so `down`
//! removes it also after a crash.

pub mod build;
pub mod drill;
pub mod report;
mod shell;
pub mod state;
pub mod topology;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use self::state::{Layout, Removed};
pub use self::topology::{plan, plan_text, Plan, Unsupported};

/// Where labs keep their state by default: `<root>/<lab name>/`.
pub const STATE_ROOT: &str = "/run/ferrule-lab";

/// Brings `plan` up under `state_root/<name>` and waits (until `timeout`) for every ToR to
/// have each speaker's session Established. Prints progress to stdout; returns the summary.
pub fn up(
    plan: &Plan,
    state_root: &Path,
    ferrule: &Path,
    timeout: Duration,
) -> Result<String, String> {
    build::prerequisites(plan, ferrule)?;
    let state_dir = build::state_dir(state_root, &plan.name);
    let leftover = state::namespaces_with(&plan.ns_prefix());
    if state_dir.exists() || !leftover.is_empty() {
        return Err(format!(
            "lab {} is already up (or was left behind: {} {leftover:?}); run `ferrule-lab down` first",
            plan.name,
            state_dir.display()
        ));
    }
    let start = Instant::now();
    let built = match build::build(plan, &state_dir, ferrule) {
        Ok(b) => b,
        Err(e) => {
            let removed = state::down(&plan.name, &state_dir);
            return Err(format!(
                "building lab {} failed: {e}\n(removed again: {} namespaces, {} processes{})",
                plan.name,
                removed.namespaces.len(),
                removed.processes.len(),
                if removed.left.is_empty() {
                    String::new()
                } else {
                    format!("; LEFT: {:?}", removed.left)
                }
            ));
        }
    };
    let expected = plan.speakers().count();
    let sessions = report::wait_sessions(&built.layout, expected, timeout).map_err(|e| {
        format!(
            "{e}\nthe lab stays up for a look (logs under {}); `ferrule-lab down` removes it",
            state_dir.display()
        )
    })?;
    let announced = report::wait_announced(&built.layout, timeout).map_err(|e| {
        format!(
            "{e}\nthe lab stays up for a look (logs under {}); `ferrule-lab down` removes it",
            state_dir.display()
        )
    })?;
    let mut s = format!(
        "lab {} up in {:.2}s: {} namespaces, FRR answering after {:.2}s, {} speakers started after {:.2}s\n",
        plan.name,
        start.elapsed().as_secs_f64(),
        plan.nodes.len() + plan.bridges.len(),
        built.frr_ready.as_secs_f64(),
        expected,
        built.speakers_started.as_secs_f64(),
    );
    for (tor, at) in &sessions {
        let since = built.speakers_started + *at;
        s.push_str(&format!(
            "  {tor}: {expected}/{expected} BGP sessions Established {:.2}s after start ({:.2}s after the speakers)\n",
            since.as_secs_f64(),
            at.as_secs_f64()
        ));
    }
    s.push_str(&format!(
        "  every Service address routed at every ToR, every speaker reporting: {:.2}s later\n",
        announced.as_secs_f64()
    ));
    s.push_str(&format!("state: {}\n", state_dir.display()));
    Ok(s)
}

/// The verification tables of the lab under `state_dir`.
pub fn status(state_dir: &Path) -> Result<String, String> {
    let layout = Layout::load(state_dir)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    Ok(report::status(&layout, now))
}

/// Removes lab `name` (state under `state_root/<name>`).
pub fn down(name: &str, state_root: &Path) -> Removed {
    state::down(name, &build::state_dir(state_root, name))
}

/// The lab's state directory.
pub fn state_dir(state_root: &Path, name: &str) -> PathBuf {
    build::state_dir(state_root, name)
}
