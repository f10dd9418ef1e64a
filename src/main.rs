//! The `ferrule` command line. Errors end here as `anyhow`; the library uses typed errors.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ferrule",
    version,
    about = "BGP LoadBalancer Services on bare metal, with FRR"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the CustomResourceDefinitions ferrule serves (metallb.io), as YAML.
    Crds,
    /// Allocate LoadBalancer addresses from IPAddressPools (leader-elected).
    Controller(ferrule::controller::ControllerOptions),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Crds => print!("{}", ferrule::api::crds_yaml()),
        Command::Controller(opts) => controller(opts)?,
    }
    Ok(())
}

fn controller(opts: ferrule::controller::ControllerOptions) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let client = kube::Client::try_default().await?;
        tokio::select! {
            r = ferrule::controller::run(client, opts) => r?,
            _ = tokio::signal::ctrl_c() => tracing::info!("interrupted, stopping"),
        }
        anyhow::Ok(())
    })
}
