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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Crds => print!("{}", ferrule::api::crds_yaml()),
    }
    Ok(())
}
