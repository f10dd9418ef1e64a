//! The `ferrule` command line. Errors end here as `anyhow`; the library uses typed errors.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use ferrule::{Addresses, Options};

#[derive(Parser)]
#[command(
    name = "ferrule",
    version,
    about = "BGP LoadBalancer Services on bare metal, with FRR"
)]
struct Cli {
    /// Log as JSON lines (for log collectors) instead of text.
    #[arg(long, global = true, env = "FERRULE_LOG_JSON")]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the CustomResourceDefinitions ferrule serves, as YAML.
    Crds,
    /// Render each node's FRR config from a directory of manifests.
    Render(RenderArgs),
    /// Run beside FRR on a node: apply the node's config and publish its state.
    Speaker(ferrule::SpeakerArgs),
    /// Print the status tables of a file-mode speaker (as `kubectl get` would).
    Status {
        /// The speaker's --status-dir.
        #[arg(long)]
        status_dir: PathBuf,
    },
    /// Allocate LoadBalancer addresses from IPAddressPools (leader-elected).
    Controller(ferrule::ControllerOptions),
}

#[derive(clap::Args)]
struct RenderArgs {
    /// Directory of YAML manifests (multi-document files, *.yaml / *.yml).
    #[arg(long)]
    manifests: PathBuf,
    /// Render this node's config.
    #[arg(
        long,
        conflicts_with = "all_nodes",
        required_unless_present = "all_nodes"
    )]
    node: Option<String>,
    /// Render every node's config.
    #[arg(long)]
    all_nodes: bool,
    /// Say per Service and peer why it is or is not announced.
    #[arg(long)]
    explain: bool,
    /// Namespace of the metallb.io CRs.
    #[arg(long, default_value = "metallb-system")]
    namespace: String,
    /// Only Services with this loadBalancerClass (default: Services without a class).
    #[arg(long)]
    lb_class: Option<String>,
    /// As the speaker's --ignore-exclude-lb.
    #[arg(long)]
    ignore_exclude_lb: bool,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Crds => print!("{}", ferrule::api::crds_yaml()),
        Command::Render(args) => render(args)?,
        Command::Status { status_dir } => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs() as i64;
            print!("{}", ferrule::status_table(&status_dir, now));
        }
        Command::Speaker(args) => {
            init_logging(cli.log_json);
            let rt = runtime()?;
            let result = rt.block_on(ferrule::run_speaker(args));
            // Exit promptly after SIGTERM: file writes still running on blocking threads
            // (a wedged filesystem) are not waited for beyond this.
            rt.shutdown_timeout(std::time::Duration::from_secs(1));
            result?;
        }
        Command::Controller(opts) => {
            init_logging(cli.log_json);
            runtime()?.block_on(async {
                let client = kube::Client::try_default().await?;
                tokio::select! {
                    r = ferrule::run_controller(client, opts) => r?,
                    _ = tokio::signal::ctrl_c() => tracing::info!("interrupted, stopping"),
                }
                anyhow::Ok(())
            })?;
        }
    }
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

fn init_logging(json: bool) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// `ferrule render`: invalid objects go to stderr; the exit code is non-zero only when
/// nothing valid is left to render.
fn render(args: RenderArgs) -> anyhow::Result<()> {
    let loaded = ferrule::manifests::load_dir(&args.manifests, &args.namespace)
        .with_context(|| format!("reading {}", args.manifests.display()))?;
    for e in &loaded.errors {
        eprintln!("error: {e}");
    }
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    let opts = Options {
        lb_class: args.lb_class.clone(),
        ignore_exclude_lb: args.ignore_exclude_lb,
    };
    let computed = ferrule::compute(
        &loaded.snapshot,
        &opts,
        Addresses::Allocate,
        &BTreeMap::new(),
    );
    for e in &computed.errors {
        eprintln!("invalid: {e}");
    }
    for w in &computed.warnings {
        eprintln!("warning: {w}");
    }
    let nodes: Vec<String> = match &args.node {
        Some(n) => {
            if !computed.nodes.contains_key(n) {
                bail!("node {n} is not in {}", args.manifests.display());
            }
            vec![n.clone()]
        }
        None => computed.nodes.keys().cloned().collect(),
    };
    if nodes.is_empty() {
        bail!(
            "no Node objects in {}: nothing to render",
            args.manifests.display()
        );
    }
    if computed.config.peers.is_empty() {
        bail!(
            "no valid BGPPeer in {}: nothing to render",
            args.manifests.display()
        );
    }
    let intents: BTreeMap<String, _> = nodes
        .iter()
        .map(|n| (n.clone(), computed.node_intent(n)))
        .collect();
    for w in ferrule::explain::warnings(&intents) {
        eprintln!("warning: {w}");
    }
    let mut out = String::new();
    for (node, intent) in &intents {
        // A node's name goes into the output only as Kubernetes allows it: anything else
        // (a newline and a config line after it) would be config nobody asked for.
        if !ferrule::names::is_dns1123_subdomain(node) {
            eprintln!(
                "error: Node {node:?}: metadata.name is not a DNS-1123 subdomain; not rendered"
            );
            continue;
        }
        let config = ferrule::render(intent).with_context(|| format!("rendering node {node}"))?;
        if intents.len() > 1 {
            out.push_str(&format!("! ---- node {node} ----\n"));
        }
        out.push_str(&config);
        if !config.ends_with('\n') {
            out.push('\n');
        }
    }
    if args.explain {
        out.push_str("! ---- explain ----\n");
        for line in ferrule::explain::explain(&computed, &intents).lines() {
            out.push_str("! ");
            out.push_str(line);
            out.push('\n');
        }
    }
    print!("{out}");
    Ok(())
}
