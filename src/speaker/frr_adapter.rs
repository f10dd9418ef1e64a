//! The engine's FRR side in production: the apply driver (diff + apply + verify) and the
//! status parsers, translated into the speaker's own state types.

use std::collections::BTreeMap;

use super::engine::{Applied, Frr};
use super::state::{FrrState, SessionState};
use crate::frr::cli::{Cli, Transport};
use crate::frr::reload::apply::{Driver, Outcome};
use crate::frr::render::Rendered;
use crate::frr::status::{FrrStatus, StatusError};

pub struct FrrDriver {
    driver: Driver,
    cli: Cli,
    version: Option<String>,
    /// The daemons' restarts as of the last apply.
    restarts_seen: u64,
}

impl FrrDriver {
    pub fn new(cli: Cli) -> Self {
        FrrDriver {
            driver: Driver::new(cli.clone()),
            restarts_seen: cli.reconnects(),
            cli,
            version: None,
        }
    }

    async fn version(&mut self) -> String {
        if self.version.is_none() {
            if let Ok(out) = self.cli.show("show version").await {
                // "FRRouting 8.4.4 (host) on Linux(...)."
                let v = out
                    .lines()
                    .find_map(|l| l.strip_prefix("FRRouting "))
                    .and_then(|rest| rest.split_whitespace().next())
                    .map(str::to_string);
                self.version = v;
            }
        }
        self.version.clone().unwrap_or_default()
    }
}

impl Frr for FrrDriver {
    async fn apply(&mut self, config: &Rendered) -> Applied {
        // A restarted daemon runs something else (and may take what it refused before).
        let restarts = self.cli.reconnects();
        if restarts != self.restarts_seen {
            self.restarts_seen = restarts;
            self.driver.forget_running();
        }
        let r = self.driver.apply_rendered(config).await;
        if !r.batch.is_empty() {
            // Passwords in it are redacted (ApplyResult::batch).
            tracing::debug!(commands = ?r.batch, "sent to FRR");
        }
        let message = match &r.outcome {
            Outcome::Ok => None,
            Outcome::Err {
                frr_message,
                failed_command,
                restored,
            } => Some(format!(
                "{frr_message}{}{}",
                failed_command
                    .as_deref()
                    .map(|c| format!(" (command: {c})"))
                    .unwrap_or_default(),
                if *restored {
                    "; last good config restored"
                } else {
                    "; FRR config may differ from the last good one"
                }
            )),
        };
        Applied {
            ok: r.is_ok(),
            message,
            commands_sent: r.commands_sent as u64,
            duration: r.duration,
            refused_extras: r.refused_extras,
        }
    }

    fn restarts(&self) -> u64 {
        self.cli.reconnects()
    }

    async fn read_state(&mut self) -> Result<FrrState, StatusError> {
        let status = FrrStatus::read(&self.cli).await?;
        let version = self.version().await;
        Ok(to_state(&status, version))
    }
}

/// Folds FRR's per-neighbor and per-address-family views into one row per session.
pub fn to_state(status: &FrrStatus, version: String) -> FrrState {
    let mut prefixes: BTreeMap<(&str, &str), (u64, u64)> = BTreeMap::new();
    for p in &status.summary {
        let e = prefixes
            .entry((p.vrf.as_str(), p.address.as_str()))
            .or_default();
        e.0 += p.pfx_snt.unwrap_or(0);
        e.1 += p.pfx_rcd.unwrap_or(0);
    }
    let mut sessions: Vec<SessionState> = status
        .neighbors
        .iter()
        .map(|n| {
            let (sent, received) = prefixes
                .get(&(n.vrf.as_str(), n.address.as_str()))
                .copied()
                .unwrap_or_default();
            let bfd = n.peer_bfd_info.as_ref().map(|_| {
                status
                    .bfd_peer(&n.vrf, &n.address)
                    .map(|p| bfd_word(&p.status.to_string()))
                    .unwrap_or_else(|| "down".into())
            });
            SessionState {
                vrf: (n.vrf != "default").then(|| n.vrf.clone()),
                neighbor: n.address.clone(),
                bgp_state: n.bgp_state.to_string(),
                established_epoch: n
                    .bgp_timer_up_established_epoch
                    .filter(|_| n.bgp_state.is_established())
                    .map(|e| e as i64),
                prefixes_sent: sent,
                prefixes_received: received,
                connections_established: n.connections_established.unwrap_or(0),
                connections_dropped: n.connections_dropped.unwrap_or(0),
                bfd,
                last_error: n
                    .last_notification_reason
                    .clone()
                    .or_else(|| n.last_reset_due_to.clone())
                    .filter(|s| !s.is_empty()),
            }
        })
        .collect();
    sessions.sort_by(|a, b| (&a.vrf, &a.neighbor).cmp(&(&b.vrf, &b.neighbor)));
    FrrState { version, sessions }
}

/// `Up` → `up`, `AdminDown` → `adminDown`: the words `kubectl get` shows.
fn bfd_word(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_ascii_lowercase().to_string() + c.as_str(),
        None => String::new(),
    }
}
