//! `ferrule-lab`: a containerlab topology (default the article's, `containerlab/seed`) run
//! with network namespaces and real FRR instead of containers. Needs root and FRR.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

const DEFAULT_TOPOLOGY: &str = "containerlab/seed/seed.clab.yml";

#[derive(Parser)]
#[command(
    name = "ferrule-lab",
    version,
    about = "containerlab topologies without containers"
)]
struct Cli {
    /// Where labs keep their state (`<root>/<lab name>/`).
    #[arg(long, global = true, default_value = ferrule::lab::STATE_ROOT)]
    state_root: PathBuf,
    /// Use this lab name instead of the topology's (to run a second copy beside it).
    #[arg(long, global = true)]
    name: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check the topology and print what would be built; builds nothing.
    Check {
        #[arg(default_value = DEFAULT_TOPOLOGY)]
        topology: PathBuf,
    },
    /// Build the lab, start FRR and the speakers, wait for the BGP sessions.
    Up {
        #[arg(default_value = DEFAULT_TOPOLOGY)]
        topology: PathBuf,
        /// The ferrule binary the speakers run (default: beside this one).
        #[arg(long)]
        ferrule: Option<PathBuf>,
        /// How long to wait for every ToR's sessions, in seconds.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// Service IPs, BGP/BFD per node and peer, each ToR's routes to the Service IPs.
    Status {
        #[arg(default_value = DEFAULT_TOPOLOGY)]
        topology: PathBuf,
    },
    /// The article's failover drill: a node's FRR frozen (BFD vs hold time), then the node
    /// drained (its last endpoint removed; the manifest is put back after); prints each time.
    Drill {
        #[arg(default_value = DEFAULT_TOPOLOGY)]
        topology: PathBuf,
    },
    /// Remove the lab's processes, namespaces and state (also after a crash).
    Down {
        #[arg(default_value = DEFAULT_TOPOLOGY)]
        topology: PathBuf,
    },
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferrule-lab: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The lab name: --name, else the topology's (read without the full check, so `down` works
/// for a topology the runner would now refuse).
fn lab_name(cli_name: &Option<String>, topology: &PathBuf) -> Result<String, String> {
    if let Some(n) = cli_name {
        return Ok(n.clone());
    }
    let text = std::fs::read_to_string(topology)
        .map_err(|e| format!("{}: {e} (or give --name)", topology.display()))?;
    let v: serde_yaml::Value =
        serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", topology.display()))?;
    v["name"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("{}: no name", topology.display()))
}

fn run(cli: Cli) -> Result<(), String> {
    match &cli.command {
        Command::Check { topology } => {
            let plan = ferrule::lab::plan(topology, cli.name.as_deref()).map_err(|e| e.0)?;
            println!(
                "{}: lab {}: {} nodes ({} ToRs, {} speakers), {} bridges, {} links: the runner can build it",
                topology.display(),
                plan.name,
                plan.nodes.len(),
                plan.routers().count(),
                plan.speakers().count(),
                plan.bridges.len(),
                plan.links.len()
            );
        }
        Command::Up {
            topology,
            ferrule,
            timeout,
        } => {
            let plan = ferrule::lab::plan(topology, cli.name.as_deref())
                .map_err(|e| format!("{}\nnothing was built", e.0))?;
            let ferrule = match ferrule {
                Some(p) => p.clone(),
                None => std::env::current_exe()
                    .map_err(|e| e.to_string())?
                    .with_file_name("ferrule"),
            };
            let summary = ferrule::lab::up(
                &plan,
                &cli.state_root,
                &ferrule,
                Duration::from_secs(*timeout),
            )?;
            print!("{summary}");
        }
        Command::Status { topology } => {
            let name = lab_name(&cli.name, topology)?;
            print!(
                "{}",
                ferrule::lab::status(&ferrule::lab::state_dir(&cli.state_root, &name))?
            );
        }
        Command::Drill { topology } => {
            let name = lab_name(&cli.name, topology)?;
            let layout =
                ferrule::lab::Layout::load(&ferrule::lab::state_dir(&cli.state_root, &name))?;
            print!("{}", ferrule::lab::drill::drill(&layout)?);
        }
        Command::Down { topology } => {
            let name = lab_name(&cli.name, topology)?;
            let r = ferrule::lab::down(&name, &cli.state_root);
            println!(
                "lab {name}: stopped {} processes, removed {} namespaces{}",
                r.processes.len(),
                r.namespaces.len(),
                r.state_dir
                    .map(|d| format!(" and {}", d.display()))
                    .unwrap_or_default()
            );
            if !r.left.is_empty() {
                return Err(format!("left behind: {:?}", r.left));
            }
        }
    }
    Ok(())
}
