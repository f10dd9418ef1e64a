//! `ferrule speaker`: the per-node sidecar beside FRR. A source (Kubernetes or a directory
//! of manifests) feeds snapshots to the reconcile engine, which applies the node's config
//! over FRR's CLI and publishes status to the API or a status directory.

pub mod engine;
pub mod events;
pub mod frr_adapter;
pub mod metrics;
pub mod publisher;
pub mod sink;
pub mod sources;
pub mod state;
pub mod status;
pub mod table;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::watch;
use tracing::info;

use crate::core::pipeline::Addresses;
use crate::frr::cli::{Cli, VtyshProcess};
use crate::input::ledger::Ledger;

#[derive(Clone, Debug, clap::Args)]
pub struct SpeakerArgs {
    /// The node this speaker runs on.
    #[arg(long, env = "NODE_NAME")]
    pub node: String,
    /// Namespace of the metallb.io CRs and of ferrule's status objects.
    #[arg(long, env = "FERRULE_NAMESPACE", default_value = "metallb-system")]
    pub namespace: String,
    /// Read manifests from this directory instead of the Kubernetes API (file mode).
    #[arg(long)]
    pub source: Option<PathBuf>,
    /// File mode: write status objects as YAML under this directory.
    #[arg(long)]
    pub status_dir: Option<PathBuf>,
    /// File mode: the ledger speakers share to agree on conflicts and addresses whatever
    /// history each saw (default: `ledger.json` in --status-dir; give every speaker the
    /// same one).
    #[arg(long)]
    pub ledger: Option<PathBuf>,
    /// Only Services with this loadBalancerClass (default: Services without a class).
    #[arg(long, env = "FERRULE_LB_CLASS")]
    pub lb_class: Option<String>,
    /// Announce from nodes labelled node.kubernetes.io/exclude-from-external-load-balancers
    /// too (MetalLB's speaker flag of the same name).
    #[arg(long, env = "FERRULE_IGNORE_EXCLUDE_LB")]
    pub ignore_exclude_lb: bool,
    /// Coalescing window after a change, in milliseconds.
    #[arg(long, default_value_t = 20)]
    pub coalesce_ms: u64,
    /// How often FRR's BGP/BFD state is read back, in milliseconds.
    #[arg(long, default_value_t = 500)]
    pub poll_ms: u64,
    /// Status objects are re-stamped (`observedAt`, the `Reported` column) at least this
    /// often, in seconds, so a speaker that stopped shows it.
    #[arg(long, default_value_t = 60)]
    pub status_heartbeat_s: u64,
    /// FRR's vty socket directory (shared with the FRR container).
    #[arg(long, default_value = "/var/run/frr")]
    pub vty_socket_dir: PathBuf,
    /// FRR's config directory (where vtysh.conf lives).
    #[arg(long, default_value = "/etc/frr")]
    pub frr_config_dir: PathBuf,
    /// How commands reach FRR: `socket` talks to the daemons' vty sockets directly over
    /// kept-open connections (~0.2 ms a command); `vtysh` starts a vtysh process per call
    /// (~60 ms each), for FRR builds whose daemons the socket client does not cover.
    #[arg(long, value_enum, default_value_t = FrrTransport::Socket)]
    pub frr_transport: FrrTransport,
    /// vtysh binary (`--frr-transport vtysh`).
    #[arg(long, default_value = "vtysh")]
    pub vtysh: PathBuf,
    /// Run vtysh under this command (split on whitespace), e.g. for a network namespace.
    #[arg(long)]
    pub vtysh_wrapper: Option<String>,
    /// The longest one FRR command may take (`10s`, `1500ms`, or seconds). A command to
    /// a wedged daemon fails after this and its connection is dropped; the apply is retried
    /// with backoff while FRR keeps its last good config. With `--frr-transport vtysh` one
    /// vtysh process gets this per started 1,000 commands it carries.
    #[arg(
        long,
        env = "FERRULE_FRR_COMMAND_TIMEOUT",
        default_value = "10s",
        value_parser = parse_command_timeout
    )]
    pub frr_command_timeout: Duration,
    /// Where /metrics, /healthz and /readyz are served; empty to disable.
    #[arg(long, default_value = "0.0.0.0:7473")]
    pub metrics_addr: String,
}

/// `--frr-command-timeout`: a Go duration or bare seconds (as the controller's flags), not
/// zero (every command would fail).
fn parse_command_timeout(s: &str) -> Result<Duration, String> {
    match crate::core::duration::parse_flag(s) {
        Ok(d) if d.is_zero() => Err("must be more than 0".into()),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FrrTransport {
    Socket,
    Vtysh,
}

impl SpeakerArgs {
    /// How commands reach FRR, as the flags say.
    pub fn cli(&self) -> Cli {
        match self.frr_transport {
            FrrTransport::Socket => Cli::sockets(&self.vty_socket_dir, self.frr_command_timeout),
            FrrTransport::Vtysh => {
                let mut v = VtyshProcess::new(&self.vty_socket_dir)
                    .with_config_dir(&self.frr_config_dir)
                    .with_timeout(self.frr_command_timeout);
                v.binary = self.vtysh.clone();
                if let Some(w) = &self.vtysh_wrapper {
                    v = v.with_wrapper(w.split_whitespace());
                }
                Cli::Process(v)
            }
        }
    }

    pub fn engine_config(&self) -> engine::EngineConfig {
        let mut cfg = engine::EngineConfig::new(&self.node, &self.namespace);
        cfg.pipeline.lb_class = self.lb_class.clone();
        cfg.pipeline.ignore_exclude_lb = self.ignore_exclude_lb;
        cfg.coalesce = Duration::from_millis(self.coalesce_ms);
        cfg.poll_interval = Duration::from_millis(self.poll_ms);
        cfg.heartbeat = Duration::from_secs(self.status_heartbeat_s);
        // Without a controller (file mode) the speaker hands out addresses itself.
        cfg.addresses = if self.source.is_some() {
            Addresses::Allocate
        } else {
            Addresses::FromStatus
        };
        cfg.ledger = self.file_ledger();
        cfg.owned_status = self.source.is_none();
        cfg
    }

    /// File mode's ledger (see `input::ledger`).
    pub fn file_ledger(&self) -> Option<Ledger> {
        self.source.as_ref()?;
        let path = self
            .ledger
            .clone()
            .or_else(|| Some(self.status_dir.as_ref()?.join("ledger.json")))?;
        Some(Ledger::new(path))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpeakerError {
    #[error("--status-dir is required with --source (file mode)")]
    StatusDirRequired,
    #[error("metrics address {0:?}: {1}")]
    MetricsAddr(String, String),
    #[error("kubernetes client: {0}")]
    Kube(#[from] kube::Error),
}

/// Runs the speaker until SIGTERM/SIGINT. FRR keeps its running config on exit: a speaker
/// restart must not withdraw routes.
pub async fn run(args: SpeakerArgs) -> Result<(), SpeakerError> {
    let metrics = metrics::Metrics::new();
    if !args.metrics_addr.is_empty() {
        let addr: SocketAddr =
            args.metrics_addr
                .parse()
                .map_err(|e: std::net::AddrParseError| {
                    SpeakerError::MetricsAddr(args.metrics_addr.clone(), e.to_string())
                })?;
        let listener = metrics::bind(addr)
            .await
            .map_err(|e| SpeakerError::MetricsAddr(args.metrics_addr.clone(), e.to_string()))?;
        tokio::spawn(metrics::serve(listener, metrics.clone()));
    }
    let (tx, rx) = watch::channel(None);
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let frr = frr_adapter::FrrDriver::new(args.cli());
    let cfg = args.engine_config();
    info!(node = %args.node, namespace = %args.namespace, file_mode = args.source.is_some(), "speaker starting");
    match &args.source {
        Some(dir) => {
            let status_dir = args
                .status_dir
                .clone()
                .ok_or(SpeakerError::StatusDirRequired)?;
            let dir2 = dir.clone();
            let ns = args.namespace.clone();
            let node = args.node.clone();
            let ledger = args.file_ledger();
            let watcher = tokio::spawn(async move {
                if let Err(e) = sources::watch_dir(dir2.clone(), ns, node, ledger, tx).await {
                    tracing::error!(dir = %dir2.display(), error = %e, "cannot watch the manifest directory");
                }
            });
            let sink = sink::FileSink::new(&status_dir);
            engine::run(cfg, rx, frr, sink, metrics, stop_rx).await;
            watcher.abort();
        }
        None => {
            let client = kube::Client::try_default().await?;
            let sink = sink::KubeSink::new(client.clone(), &args.namespace, &args.node);
            tokio::spawn(sources::watch_cluster(
                client,
                args.namespace.clone(),
                args.node.clone(),
                tx,
            ));
            engine::run(cfg, rx, frr, sink, metrics, stop_rx).await;
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Args {
        #[command(flatten)]
        speaker: SpeakerArgs,
    }

    fn parse(extra: &[&str]) -> Result<SpeakerArgs, clap::Error> {
        let argv = ["speaker", "--node", "node1"].iter().chain(extra);
        Args::try_parse_from(argv).map(|a| a.speaker)
    }

    #[test]
    fn the_frr_command_timeout_is_a_flag_with_a_small_default() {
        let a = parse(&[]).unwrap();
        assert_eq!(
            a.frr_command_timeout,
            crate::frr::cli::DEFAULT_COMMAND_TIMEOUT
        );
        let a = parse(&["--frr-command-timeout", "1500ms"]).unwrap();
        assert_eq!(a.frr_command_timeout, Duration::from_millis(1500));
        match a.cli() {
            Cli::Sockets(s) => assert_eq!(s.timeout(), Duration::from_millis(1500)),
            other => panic!("{other:?}"),
        }
        let a = parse(&["--frr-command-timeout", "2s", "--frr-transport", "vtysh"]).unwrap();
        match a.cli() {
            Cli::Process(p) => assert_eq!(p.timeout, Duration::from_secs(2)),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse(&["--frr-command-timeout", "3"])
                .unwrap()
                .frr_command_timeout,
            Duration::from_secs(3)
        );
        for bad in ["0s", "0", "ten", "-1s"] {
            assert!(parse(&["--frr-command-timeout", bad]).is_err(), "{bad}");
        }
    }
}
