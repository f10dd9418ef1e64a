//! How commands reach FRR. One [`Transport`] contract, two implementations: the daemons'
//! own vty sockets ([`vty`], the default: kept-open connections, ~0.2 ms a command) and a
//! `vtysh` process per call ([`vtysh`], ~50 ms each, for FRR builds the socket client does
//! not cover). [`Cli`] is the client the rest of ferrule holds; it is one or the other.
//!
//! Both refuse any command with a control character (a newline would end a command early
//! and smuggle in another) and redact secrets from every error they return.

mod transport;
mod vty;
mod vtysh;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use transport::{
    check_safe, redact, BatchOutput, CliError, Transport, DEFAULT_COMMAND_TIMEOUT,
};
pub use vty::VtySockets;
pub use vtysh::VtyshProcess;

/// The FRR client: the daemons' sockets or a vtysh process per call. Cheap to clone
/// (clones share the socket connections).
#[derive(Clone, Debug)]
pub enum Cli {
    Sockets(Arc<VtySockets>),
    Process(VtyshProcess),
}

impl Cli {
    /// Straight to the daemons' vty sockets in `run_dir`.
    pub fn sockets(run_dir: impl Into<PathBuf>, timeout: Duration) -> Self {
        Cli::Sockets(Arc::new(VtySockets::new(run_dir, timeout)))
    }

    /// Whether commands go over the daemons' sockets (not through vtysh).
    pub fn is_direct(&self) -> bool {
        matches!(self, Cli::Sockets(_))
    }

    /// One show command's output.
    pub async fn show(&self, command: &str) -> Result<String, CliError> {
        check_safe(command)?;
        match self {
            Cli::Sockets(s) => Ok(s.exec(&[command]).await?.pop().unwrap_or_default()),
            Cli::Process(p) => p.show(command).await,
        }
    }

    /// A `show ... json` command, deserialized.
    pub async fn show_json<T: serde::de::DeserializeOwned>(
        &self,
        command: &str,
    ) -> Result<T, CliError> {
        let text = self.show(command).await?;
        serde_json::from_str(&text).map_err(|source| CliError::Json {
            command: command.to_string(),
            source,
        })
    }

    pub async fn running_config(&self) -> Result<String, CliError> {
        self.show("show running-config").await
    }
}

impl From<VtyshProcess> for Cli {
    fn from(p: VtyshProcess) -> Self {
        Cli::Process(p)
    }
}

impl Transport for Cli {
    async fn exec(&self, commands: &[&str]) -> Result<Vec<String>, CliError> {
        match self {
            Cli::Sockets(s) => s.exec(commands).await,
            Cli::Process(p) => p.exec(commands).await,
        }
    }

    async fn apply_batch(
        &self,
        config: &[String],
        exec: &[String],
        read_back: bool,
    ) -> Result<BatchOutput, CliError> {
        // Checked here, once, for either transport.
        for c in config.iter().chain(exec) {
            check_safe(c)?;
        }
        match self {
            Cli::Sockets(s) => s.apply_batch(config, exec, read_back).await,
            Cli::Process(p) => p.apply_batch(config, exec, read_back).await,
        }
    }

    async fn end_configuration(&self) -> Result<(), CliError> {
        match self {
            Cli::Sockets(s) => s.end_configuration().await,
            Cli::Process(p) => p.end_configuration().await,
        }
    }

    fn reconnects(&self) -> u64 {
        match self {
            Cli::Sockets(s) => VtySockets::reconnects(s),
            Cli::Process(_) => 0,
        }
    }
}
