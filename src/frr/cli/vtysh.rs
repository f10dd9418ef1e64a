//! Talking to FRR through a `vtysh` process: show commands and config batches in ONE
//! invocation.
//!
//! Batches run as `vtysh -E -c 'configure terminal' -c XFRR_start_configuration -c ... -c
//! XFRR_end_configuration -c end -c <exec commands> -c 'show running-config'`:
//! - `-c` stops at the first rejected command, and `-E` echoes every command with its
//!   prompt, so an error is attributed to the exact line (and its config node) FRR refused.
//! - `XFRR_start/end_configuration` (what `vtysh -f` sends around a file) make the daemons
//!   defer their northbound commit to the end of the batch: measured on FRR 8.4, 10 prefix-list
//!   lines cost one commit instead of ten (3x faster; the gap grows with the config size).
//!   Side effect: a neighbor *created* inside the batch starts ~1 s after it (bgpd holds new
//!   peers until its config-read timer fires). If a batch dies before
//!   `XFRR_end_configuration`, call [`VtyshProcess::end_configuration`] so that timer is re-armed.
//! - exec commands (`clear bgp ... soft out`) and the read-back of the running config ride in
//!   the same process, so a change costs one vtysh start (~35-50 ms of its own CPU).
//!
//! Batches too large for argv, or holding a password (never on a command line), go through
//! `vtysh -f /dev/stdin` (same deferred commit, but
//! FRR continues after an error; errors come back as `line N:`), then one more `-c` call for
//! exec commands and the read-back.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::transport::{
    check_safe, redact, BatchOutput, CliError, Transport, DEFAULT_COMMAND_TIMEOUT,
};

/// Arguments beyond this many bytes go through `-f /dev/stdin` instead of `-c` (Linux allows
/// ~2 MiB of argv+env; keep well below).
const MAX_ARGV_BYTES: usize = 512 * 1024;

const START: &str = "XFRR_start_configuration";
const END: &str = "XFRR_end_configuration";

/// vtysh as a process per call, for one FRR instance.
#[derive(Clone, Debug)]
pub struct VtyshProcess {
    pub binary: PathBuf,
    /// `--vty_socket`: the daemons' run dir (default: vtysh's built-in /var/run/frr).
    pub vty_socket_dir: Option<PathBuf>,
    /// `--config_dir`: where vtysh.conf lives.
    pub config_dir: Option<PathBuf>,
    /// Argv prefix to run vtysh under (e.g. `unshare --uts sh -c 'hostname "$0" && exec
    /// "$@"' NAME` in a lab, so vtysh's hostname matches the daemons').
    pub wrapper: Vec<OsString>,
    pub timeout: Duration,
}

impl Default for VtyshProcess {
    fn default() -> Self {
        VtyshProcess {
            binary: PathBuf::from("vtysh"),
            vty_socket_dir: None,
            config_dir: None,
            wrapper: Vec::new(),
            timeout: DEFAULT_COMMAND_TIMEOUT,
        }
    }
}

/// One command echoed by `vtysh -E` and what it printed.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Echoed {
    node: String,
    output: String,
}

impl VtyshProcess {
    /// vtysh for the instance whose daemons use `vty_socket_dir`.
    pub fn new(vty_socket_dir: impl Into<PathBuf>) -> Self {
        VtyshProcess {
            vty_socket_dir: Some(vty_socket_dir.into()),
            ..VtyshProcess::default()
        }
    }

    pub fn with_config_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config_dir = Some(dir.into());
        self
    }

    pub fn with_wrapper<I, S>(mut self, argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.wrapper = argv.into_iter().map(Into::into).collect();
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn command(&self) -> Command {
        let mut c = match self.wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(&self.binary);
                c
            }
            None => Command::new(&self.binary),
        };
        if let Some(d) = &self.vty_socket_dir {
            c.arg("--vty_socket").arg(d);
        }
        if let Some(d) = &self.config_dir {
            c.arg("--config_dir").arg(d);
        }
        // No pager, no locale surprises in FRR's messages.
        c.env_remove("VTYSH_PAGER").env("LC_ALL", "C");
        c.kill_on_drop(true);
        c
    }

    /// How long one vtysh process may take for `commands` commands: the per-command timeout
    /// per started 1,000 (a whole batch rides in one process; a 2,000-line first apply must
    /// not be killed by a limit meant for one show).
    pub fn limit(&self, commands: usize) -> Duration {
        let thousands = commands.div_ceil(1000).max(1);
        self.timeout
            .saturating_mul(u32::try_from(thousands).unwrap_or(u32::MAX))
    }

    /// Run vtysh; `what` names it in a timeout error, `commands` sets its [`Self::limit`]. The
    /// process is killed when the limit passes or the call is dropped (cancelled).
    async fn run(
        &self,
        mut cmd: Command,
        stdin: Option<String>,
        what: &str,
        commands: usize,
    ) -> Result<std::process::Output, CliError> {
        let limit = self.limit(commands);
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|source| CliError::Spawn {
            binary: self.binary.display().to_string(),
            source,
        })?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // vtysh reads the whole file before answering; a write error shows as its exit.
            let _ = pipe.write_all(text.as_bytes()).await;
            drop(pipe);
        }
        match tokio::time::timeout(limit, child.wait_with_output()).await {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(source)) => Err(CliError::Spawn {
                binary: self.binary.display().to_string(),
                source,
            }),
            Err(_) => Err(CliError::Timeout {
                what: format!("vtysh `{}`", redact(what)),
                after: limit,
            }),
        }
    }

    /// One show command's output.
    pub async fn show(&self, command: &str) -> Result<String, CliError> {
        check_safe(command)?;
        let mut cmd = self.command();
        cmd.arg("-c").arg(command);
        let out = self.run(cmd, None, command, 1).await?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            return Err(CliError::Failed {
                command: redact(command),
                status: out.status.to_string(),
                message: redact(
                    format!("{}{}", stdout, String::from_utf8_lossy(&out.stderr)).trim(),
                ),
            });
        }
        Ok(stdout)
    }

    async fn apply_batch_args(
        &self,
        config: &[String],
        exec: &[String],
        read_back: bool,
    ) -> Result<BatchOutput, CliError> {
        let mut cmds: Vec<String> = Vec::with_capacity(config.len() + exec.len() + 6);
        if !config.is_empty() {
            cmds.push("configure terminal".into());
            cmds.push(START.into());
            cmds.extend(config.iter().cloned());
            cmds.push(END.into());
            cmds.push("end".into());
        }
        cmds.extend(exec.iter().cloned());
        if read_back {
            cmds.push("show running-config".into());
        }
        if cmds.is_empty() {
            return Ok(BatchOutput::default());
        }
        // Config line i (1-based) sits at cmds[i + 1].
        let lines = if config.is_empty() {
            0..0
        } else {
            2..config.len() + 2
        };
        let echoed = self.echoed(&cmds, lines).await?;
        let mut out = BatchOutput::default();
        for (i, e) in echoed.iter().enumerate().take(config.len() + 2).skip(2) {
            if !e.output.trim().is_empty() {
                out.warnings
                    .push((redact(&cmds[i]), redact(e.output.trim())));
            }
        }
        if read_back {
            out.running_config = echoed.last().map(|e| e.output.clone());
        }
        Ok(out)
    }

    /// Run `cmds` with `-E -c` each; `lines` = the indices of `cmds` that are batch config
    /// lines (errors there report a 1-based batch line; elsewhere line 0).
    async fn echoed(
        &self,
        cmds: &[String],
        lines: std::ops::Range<usize>,
    ) -> Result<Vec<Echoed>, CliError> {
        let mut cmd = self.command();
        cmd.arg("-E");
        for c in cmds {
            check_safe(c)?;
            cmd.arg("-c").arg(c);
        }
        let what = match cmds {
            [one] => one.clone(),
            _ => format!(
                "-c {} ... ({} commands)",
                cmds.first().map(String::as_str).unwrap_or(""),
                cmds.len()
            ),
        };
        let out = self.run(cmd, None, &what, cmds.len()).await?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let echoed = split_echo(&stdout, cmds);
        if out.status.success() && echoed.len() == cmds.len() {
            return Ok(echoed);
        }
        // vtysh stops at the first command that fails: the last one echoed.
        match echoed.last() {
            Some(last) if !out.status.success() => {
                let i = echoed.len() - 1;
                let mut message = last.output.trim().to_string();
                if message.is_empty() {
                    message = stderr.trim().to_string();
                }
                let line = if lines.contains(&i) {
                    i + 1 - lines.start
                } else {
                    0
                };
                Err(CliError::Rejected {
                    line,
                    command: redact(&cmds[i]),
                    node: last.node.clone(),
                    message: redact(&message),
                })
            }
            _ => Err(CliError::Failed {
                command: redact(&cmds.first().cloned().unwrap_or_default()),
                status: out.status.to_string(),
                message: redact(format!("{stdout}{stderr}").trim()),
            }),
        }
    }

    async fn apply_batch_file(
        &self,
        config: &[String],
        exec: &[String],
        read_back: bool,
    ) -> Result<BatchOutput, CliError> {
        let mut cmd = self.command();
        cmd.arg("-f").arg("/dev/stdin");
        let mut text = config.join("\n");
        text.push('\n');
        let what = format!("-f /dev/stdin ({} lines)", config.len());
        let out = self.run(cmd, Some(text), &what, config.len()).await?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if !out.status.success() {
            // `line N: % Unknown command[..]: text` — FRR's message for the first bad line.
            let first = stderr
                .lines()
                .chain(stdout.lines())
                .find_map(parse_file_error);
            return Err(match first {
                Some((line, message)) => CliError::Rejected {
                    line,
                    command: redact(
                        &config
                            .get(line.wrapping_sub(1))
                            .cloned()
                            .unwrap_or_default(),
                    ),
                    node: String::new(),
                    message: redact(&message),
                },
                None => CliError::Failed {
                    command: "vtysh -f".into(),
                    status: out.status.to_string(),
                    message: redact(format!("{stdout}{stderr}").trim()),
                },
            });
        }
        let warnings = stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| (String::new(), redact(l.trim())))
            .collect();
        let mut rest = self.apply_batch_args(&[], exec, read_back).await?;
        rest.warnings = warnings;
        Ok(rest)
    }
}

impl Transport for VtyshProcess {
    /// Run exec-mode commands (`show ...`, `clear ...`) in one invocation; returns each
    /// one's output, in order.
    async fn exec(&self, commands: &[&str]) -> Result<Vec<String>, CliError> {
        let cmds: Vec<String> = commands.iter().map(|c| c.to_string()).collect();
        let echoed = self.echoed(&cmds, 0..0).await?;
        Ok(echoed.into_iter().map(|e| e.output).collect())
    }

    /// Apply `config` lines (already ordered, with the context-entering lines they need; the
    /// batch starts at the `configure terminal` node), then run `exec` commands, then
    /// optionally read the running config back — all in one vtysh process when argv allows.
    async fn apply_batch(
        &self,
        config: &[String],
        exec: &[String],
        read_back: bool,
    ) -> Result<BatchOutput, CliError> {
        let bytes: usize = config.iter().chain(exec).map(|c| c.len() + 4).sum();
        // A password on vtysh's command line would be readable by anyone (/proc/PID/cmdline):
        // such batches go through stdin.
        let secret = config.iter().any(|c| redact(c) != *c);
        if bytes > MAX_ARGV_BYTES || secret {
            return self.apply_batch_file(config, exec, read_back).await;
        }
        self.apply_batch_args(config, exec, read_back).await
    }

    /// Re-arm bgpd's end-of-config timer after a batch that died half-way (see module doc).
    async fn end_configuration(&self) -> Result<(), CliError> {
        self.echoed(&["configure terminal".to_string(), END.to_string()], 0..0)
            .await
            .map(|_| ())
    }
}

/// `line 4: % Unknown command[25]: neighbor 192.0.2.1 bogus` -> (4, whole message).
fn parse_file_error(l: &str) -> Option<(usize, String)> {
    let rest = l.trim().strip_prefix("line ")?;
    let (n, msg) = rest.split_once(':')?;
    Some((n.trim().parse().ok()?, msg.trim().to_string()))
}

/// Split `vtysh -E` output into per-command chunks. Each command is echoed as
/// `<hostname>[(<node>)]# <command>`; what follows until the next echo is its output.
fn split_echo(stdout: &str, cmds: &[String]) -> Vec<Echoed> {
    let mut out: Vec<Echoed> = Vec::new();
    let mut current: Option<Echoed> = None;
    for line in stdout.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        if let Some(next) = cmds.get(out.len() + usize::from(current.is_some())) {
            if let Some(node) = echo_node(bare, next) {
                if let Some(done) = current.take() {
                    out.push(done);
                }
                current = Some(Echoed {
                    node,
                    output: String::new(),
                });
                continue;
            }
        }
        if let Some(c) = current.as_mut() {
            c.output.push_str(line);
        }
    }
    if let Some(done) = current.take() {
        out.push(done);
    }
    out
}

/// If `line` is the echo of `cmd`, the node name from its prompt (`""` for exec mode).
fn echo_node(line: &str, cmd: &str) -> Option<String> {
    let prompt = line.strip_suffix(cmd)?.strip_suffix("# ")?;
    if prompt.is_empty() || prompt.contains(char::is_whitespace) {
        return None;
    }
    Some(match prompt.split_once('(') {
        Some((_, node)) => node.trim_end_matches(')').to_string(),
        None => String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn a_process_gets_one_timeout_per_started_thousand_commands() {
        let v = VtyshProcess::default().with_timeout(Duration::from_secs(2));
        assert_eq!(v.limit(0), Duration::from_secs(2));
        assert_eq!(v.limit(1), Duration::from_secs(2));
        assert_eq!(v.limit(1000), Duration::from_secs(2));
        assert_eq!(v.limit(1001), Duration::from_secs(4));
        assert_eq!(v.limit(2500), Duration::from_secs(6));
    }

    #[test]
    fn echo_transcript_is_split_per_command() {
        // Captured from vtysh 8.4 with -E (a failing batch: vtysh stops after `set bogus`).
        let stdout = "node1# configure terminal\nnode1(config)# route-map A permit 1\nnode1(config-route-map)# set local-preference 204\nnode1(config-route-map)# set bogus\n% Unknown command: set bogus\n";
        let cmds = s(&[
            "configure terminal",
            "route-map A permit 1",
            "set local-preference 204",
            "set bogus",
            "end",
        ]);
        let e = split_echo(stdout, &cmds);
        assert_eq!(e.len(), 4);
        assert_eq!(e[0].node, "");
        assert_eq!(e[1].node, "config");
        assert_eq!(e[3].node, "config-route-map");
        assert_eq!(e[3].output, "% Unknown command: set bogus\n");
        assert_eq!(e[2].output, "");
    }

    #[test]
    fn echo_keeps_multiline_show_output() {
        let stdout = "h# end\nh# show running-config\nBuilding configuration...\n\nrouter bgp 1\n h# not an echo\nend\n";
        let e = split_echo(stdout, &s(&["end", "show running-config"]));
        assert_eq!(e.len(), 2);
        assert!(e[1].output.contains("router bgp 1\n h# not an echo\nend\n"));
    }

    #[test]
    fn file_errors_carry_line_and_message() {
        let table = [
            (
                "line 4: % Unknown command[25]: neighbor 192.0.2.1 bogus thing",
                Some((
                    4,
                    "% Unknown command[25]: neighbor 192.0.2.1 bogus thing".to_string(),
                )),
            ),
            ("The route-map 'x' does not exist.", None),
        ];
        for (input, want) in table {
            assert_eq!(parse_file_error(input), want, "{input}");
        }
    }
}
