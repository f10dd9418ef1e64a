//! FRR's daemons spoken to directly over their vty sockets (`<run dir>/<daemon>.vty`), with
//! the protocol vtysh itself uses: a command goes out NUL-terminated; the daemon answers with
//! its output, three NUL bytes and the command's return code.
//!
//! Why not vtysh: one vtysh process spends 45-65 ms (measured on FRR 8.4 here) building the
//! CLI tree of every daemon before it sends anything; a command over a kept-open socket
//! takes 0.1-0.5 ms. In the lab an apply went from 72-94 ms to 7-13 ms, and a status poll
//! no longer starts a process at all.
//!
//! vtysh also decides which daemon runs which command. The configs ferrule renders use a
//! small, fixed part of that table ([`route_top_level`]): `bfd` blocks go to bfdd;
//! route-maps and prefix-lists go to bgpd and, best effort, to zebra (as vtysh sends them, so
//! `vtysh -c 'show running-config'` stays truthful); everything else goes to bgpd. The
//! running config read back is bgpd's followed by bfdd's.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::{Mutex, MutexGuard};
use tracing::debug;

use super::transport::{check_safe, redact, BatchOutput, CliError, Transport};
use crate::frr::reload::config::{child_context, root_context, Ctx};

const START: &str = "XFRR_start_configuration";
const END: &str = "XFRR_end_configuration";

/// The largest answer one command may get: `show running-config` of a 10,000-prefix node is
/// about 1 MiB, and the JSON shows of a few thousand sessions stay within a few MiB. A
/// runaway daemon beyond this costs an error and a re-opened connection, not the node's
/// memory.
pub const MAX_REPLY_BYTES: usize = 64 * 1024 * 1024;

/// FRR's return codes (lib/command.h) that mean the command was accepted.
const CMD_SUCCESS: u8 = 0;
const CMD_WARNING: u8 = 1;
const CMD_SUCCESS_DAEMON: u8 = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Daemon {
    Bgpd,
    Bfdd,
    Zebra,
}

impl Daemon {
    fn socket(self, dir: &Path) -> PathBuf {
        dir.join(format!("{self}.vty"))
    }
}

impl fmt::Display for Daemon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Daemon::Bgpd => "bgpd",
            Daemon::Bfdd => "bfdd",
            Daemon::Zebra => "zebra",
        })
    }
}

/// Where a top-level config line (and the block it opens) goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    pub daemon: Daemon,
    /// Also sent to zebra, whose answer does not decide the outcome.
    pub zebra_too: bool,
}

/// The daemon for a top-level config line (`no` forms route like the command they undo).
pub fn route_top_level(line: &str) -> Route {
    let t: Vec<&str> = line.split_whitespace().collect();
    let t = match t.as_slice() {
        ["no", rest @ ..] => rest,
        all => all,
    };
    match t {
        ["bfd", ..] | ["debug", "bfd", ..] => Route {
            daemon: Daemon::Bfdd,
            zebra_too: false,
        },
        ["route-map", ..] | ["ip" | "ipv6", "prefix-list", ..] => Route {
            daemon: Daemon::Bgpd,
            zebra_too: true,
        },
        ["ip" | "ipv6", "nht", ..] => Route {
            daemon: Daemon::Zebra,
            zebra_too: false,
        },
        _ => Route {
            daemon: Daemon::Bgpd,
            zebra_too: false,
        },
    }
}

/// The daemon for an exec-mode command.
pub fn route_exec(command: &str) -> Daemon {
    let t: Vec<&str> = command.split_whitespace().collect();
    match t.as_slice() {
        ["show" | "clear", "bfd", ..] => Daemon::Bfdd,
        _ => Daemon::Bgpd,
    }
}

/// Where each line of a config batch goes: the route of the top-level block it belongs to.
/// Block nesting follows the same opener rules as the config parser.
pub fn route_batch(config: &[String]) -> Vec<Route> {
    let mut stack: Vec<Ctx> = Vec::new();
    let mut current = route_top_level("");
    config
        .iter()
        .map(|line| {
            let t: Vec<&str> = line.split_whitespace().collect();
            if stack.is_empty() {
                current = route_top_level(line);
                if let Some(ctx) = root_context(&t) {
                    stack.push(ctx);
                }
                return current;
            }
            match t.as_slice() {
                ["exit" | "exit-address-family" | "exit-vrf" | "quit"] => {
                    stack.pop();
                }
                _ => {
                    if let Some((parent, own)) = child_context(&t) {
                        if stack.last() == Some(&parent) {
                            stack.push(own);
                        }
                    }
                }
            }
            current
        })
        .collect()
}

/// One command's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub output: String,
    pub code: u8,
}

impl Reply {
    pub fn accepted(&self) -> bool {
        matches!(self.code, CMD_SUCCESS | CMD_WARNING | CMD_SUCCESS_DAEMON)
    }
}

/// Kept-open connections to one FRR instance's daemons. Commands are serialized: a config
/// batch holds the lock from `configure terminal` to `end`, so a status read never lands in
/// the middle of one (the daemons keep the CLI node per connection).
pub struct VtySockets {
    dir: PathBuf,
    timeout: Duration,
    /// The largest answer taken from a daemon (see [`MAX_REPLY_BYTES`]).
    max_reply: usize,
    conns: Mutex<BTreeMap<Daemon, UnixStream>>,
    seen: std::sync::Mutex<std::collections::BTreeSet<Daemon>>,
    /// Connections re-opened after one was lost: a daemon restarted (and lost the config
    /// it was given), the socket broke, or a command timed out (the daemon may have taken
    /// part of a batch). The speaker re-applies, from a fresh read, when this moves.
    reconnects: std::sync::atomic::AtomicU64,
}

impl fmt::Debug for VtySockets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VtySockets")
            .field("dir", &self.dir)
            .finish()
    }
}

struct Session<'a> {
    dir: &'a Path,
    timeout: Duration,
    max_reply: usize,
    conns: MutexGuard<'a, BTreeMap<Daemon, UnixStream>>,
    /// Daemons whose connection this process has opened before (a new one is a reconnect).
    seen: &'a std::sync::Mutex<std::collections::BTreeSet<Daemon>>,
    reconnects: &'a std::sync::atomic::AtomicU64,
}

/// Why an exchange ended without an answer.
enum Exchange {
    Io(std::io::Error),
    TooLarge,
}

fn timed_out(daemon: Daemon, command: &str, after: Duration) -> CliError {
    CliError::Timeout {
        what: format!("{daemon} (`{}`)", redact(command)),
        after,
    }
}

fn io_error(daemon: Daemon, command: &str, e: impl fmt::Display) -> CliError {
    CliError::Failed {
        command: redact(command),
        status: format!("{daemon} vty socket"),
        message: e.to_string(),
    }
}

impl Session<'_> {
    async fn connect(&mut self, daemon: Daemon) -> Result<(), CliError> {
        if self.conns.contains_key(&daemon) {
            return Ok(());
        }
        let path = daemon.socket(self.dir);
        let stream = tokio::time::timeout(self.timeout, UnixStream::connect(&path))
            .await
            .map_err(|_| timed_out(daemon, "connect", self.timeout))?
            .map_err(|e| io_error(daemon, "connect", format!("{}: {e}", path.display())))?;
        self.conns.insert(daemon, stream);
        if !self.seen.lock().expect("not poisoned").insert(daemon) {
            self.reconnects
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        // vtysh's first words to every daemon: leave VIEW for ENABLE.
        let r = self.send(daemon, "enable").await?;
        if !r.accepted() {
            self.conns.remove(&daemon);
            return Err(io_error(daemon, "enable", r.output.trim()));
        }
        Ok(())
    }

    /// Send one command on the open connection. The connection is out of the map while the
    /// exchange runs and goes back only after a complete answer: one that broke, timed out,
    /// outgrew the reply cap or whose caller gave up (the future dropped, as at shutdown) is
    /// closed, so a late answer can never be read as the next command's.
    async fn send(&mut self, daemon: Daemon, command: &str) -> Result<Reply, CliError> {
        check_safe(command)?;
        let Some(mut stream) = self.conns.remove(&daemon) else {
            return Err(io_error(daemon, command, "not connected"));
        };
        let limit = self.max_reply;
        let conn = &mut stream;
        let exchange = async move {
            let mut msg = Vec::with_capacity(command.len() + 1);
            msg.extend_from_slice(command.as_bytes());
            msg.push(0);
            conn.write_all(&msg).await.map_err(Exchange::Io)?;
            let mut buf: Vec<u8> = Vec::new();
            let mut chunk = vec![0u8; 64 * 1024];
            loop {
                let n = conn.read(&mut chunk).await.map_err(Exchange::Io)?;
                if n == 0 {
                    return Err(Exchange::Io(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "daemon closed the connection",
                    )));
                }
                buf.extend_from_slice(&chunk[..n]);
                let len = buf.len();
                // The answer may reach the cap (plus its 4-byte trailer), not more.
                if len > limit.saturating_add(4) {
                    return Err(Exchange::TooLarge);
                }
                if len >= 4 && buf[len - 4..len - 1] == [0, 0, 0] {
                    let code = buf[len - 1];
                    buf.truncate(len - 4);
                    return Ok(Reply {
                        output: String::from_utf8_lossy(&buf).into_owned(),
                        code,
                    });
                }
            }
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok(reply)) => {
                self.conns.insert(daemon, stream);
                Ok(reply)
            }
            Ok(Err(Exchange::Io(e))) => Err(io_error(daemon, command, e)),
            Ok(Err(Exchange::TooLarge)) => Err(CliError::TooLarge {
                daemon: daemon.to_string(),
                command: redact(command),
                limit,
            }),
            Err(_) => Err(timed_out(daemon, command, self.timeout)),
        }
    }

    /// Run a command that is safe to repeat (a show, a mode change): a connection that
    /// broke since its last use (daemon restarted) is re-opened once.
    async fn run_idempotent(&mut self, daemon: Daemon, command: &str) -> Result<Reply, CliError> {
        let reused = self.conns.contains_key(&daemon);
        self.connect(daemon).await?;
        match self.send(daemon, command).await {
            Err(CliError::Failed { .. }) if reused => {
                self.connect(daemon).await?;
                self.send(daemon, command).await
            }
            other => other,
        }
    }

    async fn running_config(&mut self) -> Result<String, CliError> {
        let mut text = String::new();
        for daemon in [Daemon::Bgpd, Daemon::Bfdd] {
            // No bfdd (a deployment without BFD) reads as no BFD config, as in vtysh.
            if daemon == Daemon::Bfdd
                && !self.conns.contains_key(&daemon)
                && !daemon.socket(self.dir).exists()
            {
                continue;
            }
            let r = self.run_idempotent(daemon, "show running-config").await?;
            if !r.accepted() {
                return Err(rejected(0, "show running-config", daemon, &r));
            }
            text.push_str(&r.output);
            text.push_str("\nend\n");
        }
        // Of zebra's config, only what ferrule sends zebra alone (next-hop tracking); its
        // copies of the route-maps are best effort and bgpd's are the ones that count.
        if self.conns.contains_key(&Daemon::Zebra) || Daemon::Zebra.socket(self.dir).exists() {
            let r = self
                .run_idempotent(Daemon::Zebra, "show running-config")
                .await?;
            if r.accepted() {
                for line in r.output.lines() {
                    if route_top_level(line).daemon == Daemon::Zebra {
                        text.push_str(line);
                        text.push('\n');
                    }
                }
                text.push_str("end\n");
            }
        }
        Ok(text)
    }

    /// Leave config mode on every daemon that entered it (errors ignored: this is cleanup).
    async fn leave_config(&mut self, daemons: &[Daemon]) {
        for &d in daemons {
            if self.conns.contains_key(&d) {
                let _ = self.send(d, END).await;
                let _ = self.send(d, "end").await;
            }
        }
    }
}

fn rejected(line: usize, command: &str, daemon: Daemon, r: &Reply) -> CliError {
    let message = r.output.trim();
    CliError::Rejected {
        line,
        command: redact(command),
        node: daemon.to_string(),
        message: redact(if message.is_empty() {
            "command failed"
        } else {
            message
        }),
    }
}

impl VtySockets {
    pub fn new(dir: impl Into<PathBuf>, timeout: Duration) -> Self {
        VtySockets {
            dir: dir.into(),
            timeout,
            max_reply: MAX_REPLY_BYTES,
            conns: Mutex::new(BTreeMap::new()),
            seen: std::sync::Mutex::new(Default::default()),
            reconnects: Default::default(),
        }
    }

    /// Cap answers at `bytes` instead of [`MAX_REPLY_BYTES`].
    pub fn with_max_reply(mut self, bytes: usize) -> Self {
        self.max_reply = bytes;
        self
    }

    /// The per-command timeout: one command's whole exchange (and each connect).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How often a lost connection was re-opened (see the field).
    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(std::sync::atomic::Ordering::SeqCst)
    }

    async fn session(&self) -> Session<'_> {
        Session {
            dir: &self.dir,
            timeout: self.timeout,
            max_reply: self.max_reply,
            conns: self.conns.lock().await,
            seen: &self.seen,
            reconnects: &self.reconnects,
        }
    }

    pub async fn running_config(&self) -> Result<String, CliError> {
        self.session().await.running_config().await
    }
}

impl Transport for VtySockets {
    /// Exec-mode commands, each to its daemon; their outputs in order. The first refused
    /// command ends the run with its error.
    async fn exec(&self, commands: &[&str]) -> Result<Vec<String>, CliError> {
        let mut s = self.session().await;
        let mut out = Vec::with_capacity(commands.len());
        for &c in commands {
            if c == "show running-config" {
                out.push(s.running_config().await?);
                continue;
            }
            let daemon = route_exec(c);
            let r = s.run_idempotent(daemon, c).await?;
            if !r.accepted() {
                return Err(rejected(0, c, daemon, &r));
            }
            out.push(r.output);
        }
        Ok(out)
    }

    /// Apply `config` (starting at the config node, with its navigation lines) inside one
    /// deferred commit per daemon, then `exec` commands, then optionally read the running
    /// config back; one lock held throughout. On a refused line the daemons leave config
    /// mode and the error names the line (1-based), the daemon and FRR's message.
    async fn apply_batch(
        &self,
        config: &[String],
        exec: &[String],
        read_back: bool,
    ) -> Result<BatchOutput, CliError> {
        let mut s = self.session().await;
        let mut out = BatchOutput::default();
        if !config.is_empty() {
            let routes = route_batch(config);
            let mut primary: Vec<Daemon> = routes.iter().map(|r| r.daemon).collect();
            primary.sort();
            primary.dedup();
            for &d in &primary {
                let r = s.run_idempotent(d, "configure terminal").await?;
                if !r.accepted() {
                    return Err(rejected(0, "configure terminal", d, &r));
                }
                s.send(d, START).await?;
            }
            // zebra's copies of bgpd's lines are best effort: absent or refusing, zebra
            // never fails the batch for them (its own lines, next-hop tracking, do).
            let zebra_primary = primary.contains(&Daemon::Zebra);
            let mut zebra = zebra_primary
                || (routes.iter().any(|r| r.zebra_too)
                    && s.run_idempotent(Daemon::Zebra, "configure terminal")
                        .await
                        .is_ok_and(|r| r.accepted()));
            if zebra && !zebra_primary {
                zebra = s.send(Daemon::Zebra, START).await.is_ok();
            }
            let mut entered = primary.clone();
            if zebra && !zebra_primary {
                entered.push(Daemon::Zebra);
            }
            for (i, (line, route)) in config.iter().zip(&routes).enumerate() {
                let r = match s.send(route.daemon, line).await {
                    Ok(r) => r,
                    Err(e) => {
                        s.leave_config(&entered).await;
                        return Err(e);
                    }
                };
                if !r.accepted() {
                    s.leave_config(&entered).await;
                    return Err(rejected(i + 1, line, route.daemon, &r));
                }
                if !r.output.trim().is_empty() {
                    out.warnings.push((redact(line), redact(r.output.trim())));
                }
                if zebra && route.zebra_too {
                    match s.send(Daemon::Zebra, line).await {
                        Ok(r) if !r.accepted() => {
                            debug!(command = %redact(line), answer = %redact(r.output.trim()), "zebra refused a line (best effort)")
                        }
                        Ok(_) => {}
                        Err(e) => {
                            debug!(error = %e, "zebra connection lost (best effort)");
                            zebra = false;
                            entered.retain(|d| *d != Daemon::Zebra);
                        }
                    }
                }
            }
            for &d in &entered {
                let r = s.send(d, END).await?;
                if !r.accepted() {
                    s.leave_config(&entered).await;
                    return Err(rejected(0, END, d, &r));
                }
                s.send(d, "end").await?;
            }
        }
        for c in exec {
            let daemon = route_exec(c);
            let r = s.run_idempotent(daemon, c).await?;
            if !r.accepted() {
                return Err(rejected(0, c, daemon, &r));
            }
        }
        if read_back {
            out.running_config = Some(s.running_config().await?);
        }
        Ok(out)
    }

    /// Re-arm the daemons' end-of-config handling after a batch that died half-way.
    async fn end_configuration(&self) -> Result<(), CliError> {
        let mut s = self.session().await;
        for d in [Daemon::Bgpd, Daemon::Bfdd] {
            s.run_idempotent(d, "configure terminal").await?;
            s.send(d, END).await?;
            s.send(d, "end").await?;
        }
        Ok(())
    }

    fn reconnects(&self) -> u64 {
        VtySockets::reconnects(self)
    }
}

#[cfg(test)]
mod tests;
