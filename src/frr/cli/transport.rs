//! The contract both transports keep, what a batch returns, why a call failed, and the two
//! rules every command obeys: no control characters, no secrets in what is reported.

use std::future::Future;
use std::time::Duration;

/// How long one command may take unless told otherwise (the speaker's
/// `--frr-command-timeout`): long enough for a `show running-config` of a big config, short
/// enough that a wedged daemon costs seconds, not minutes.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("cannot run `{binary}`: {source}")]
    Spawn {
        binary: String,
        #[source]
        source: std::io::Error,
    },
    /// No complete answer within the per-command timeout. `what` names the daemon (or the
    /// vtysh process) and the command; the connection or process was dropped, so a late
    /// answer can never be taken for the next command's.
    #[error("{what} did not answer within {after:?} (dropped)")]
    Timeout { what: String, after: Duration },
    /// A daemon's answer outgrew the reply cap: the connection was dropped rather than
    /// buffering without limit (and left mid-reply, which would desync the next command).
    #[error("{daemon}'s answer to `{command}` exceeded {limit} bytes (connection dropped)")]
    TooLarge {
        daemon: String,
        command: String,
        limit: usize,
    },
    /// FRR refused a command: `message` is FRR's own text (e.g. `% Unknown command: ...`).
    #[error("FRR rejected `{command}` (batch line {line}, node {node}): {message}")]
    Rejected {
        /// 1-based position in the batch's config lines (0 for exec commands).
        line: usize,
        command: String,
        /// The CLI node the command ran in, from vtysh's prompt (`config-router-af`).
        node: String,
        message: String,
    },
    #[error("vtysh `{command}` failed ({status}): {message}")]
    Failed {
        command: String,
        status: String,
        message: String,
    },
    #[error("`{command}` did not return JSON: {source}")]
    Json {
        command: String,
        #[source]
        source: serde_json::Error,
    },
    /// A command contained a newline, NUL or other control character: never sent.
    #[error("refusing to send a command with a control character: {0:?}")]
    Unsafe(String),
}

/// What a successful batch printed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchOutput {
    /// Non-empty output of config commands that FRR accepted (warnings such as
    /// "The route-map 'x' does not exist."), as (command, text).
    pub warnings: Vec<(String, String)>,
    /// `show running-config` after the batch, when asked for.
    pub running_config: Option<String>,
}

/// What a transport does: exec-mode commands, config batches, and the cleanup after a
/// batch that died half-way. Every call has the transport's timeout.
pub trait Transport: Send + Sync {
    /// Exec-mode commands (`show ...`, `clear ...`), each one's output, in order.
    fn exec(&self, commands: &[&str])
        -> impl Future<Output = Result<Vec<String>, CliError>> + Send;

    /// Apply `config` lines (already ordered, with the context-entering lines they need;
    /// the batch starts at the `configure terminal` node), then run `exec` commands, then
    /// optionally read the running config back.
    fn apply_batch(
        &self,
        config: &[String],
        exec: &[String],
        read_back: bool,
    ) -> impl Future<Output = Result<BatchOutput, CliError>> + Send;

    /// Re-arm bgpd's end-of-config handling after a batch that died half-way.
    fn end_configuration(&self) -> impl Future<Output = Result<(), CliError>> + Send;

    /// Connections re-opened after being lost: a move means a daemon restarted and may
    /// have lost its config (0 where the transport cannot tell).
    fn reconnects(&self) -> u64 {
        0
    }
}

/// `text` with every secret FRR config can carry masked: whatever follows a `password` or
/// `key-string` token (BGP `neighbor X password P`, vty passwords, key chains). For
/// anything that may be logged or reported (batches, errors, events).
pub fn redact(text: &str) -> String {
    text.split('\n')
        .map(redact_line)
        .collect::<Vec<_>>()
        .join("\n")
}

/// One line: everything after a secret-bearing token goes, whatever the whitespace around
/// it (FRR takes `password  p` and `password\tp` as well as `password p`).
fn redact_line(line: &str) -> String {
    let mut rest = line;
    let mut out = String::with_capacity(line.len());
    loop {
        let start = rest.len() - rest.trim_start().len();
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        if rest.is_empty() {
            return out;
        }
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let token = &rest[..end];
        out.push_str(token);
        rest = &rest[end..];
        if matches!(
            token,
            "password" | "key-string" | "authentication-key" | "md5"
        ) && !rest.trim().is_empty()
        {
            out.push(' ');
            out.push_str("<redacted>");
            return out;
        }
    }
}

/// Refuse a command with a newline, NUL or other control character (it would end the
/// command early or smuggle in another). The error text is redacted like any other.
pub fn check_safe(command: &str) -> Result<(), CliError> {
    if command.chars().any(|c| c.is_control()) {
        // One line, so a secret split by the bad character is redacted whole.
        let flat: String = command
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        return Err(CliError::Unsafe(redact(&flat)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted() {
        let table = [
            (
                "neighbor 192.0.2.1 password s3cr3t",
                "neighbor 192.0.2.1 password <redacted>",
            ),
            (
                "% Unknown command: neighbor 192.0.2.1 password s3cr3t x",
                "% Unknown command: neighbor 192.0.2.1 password <redacted>",
            ),
            (" key-string abc", " key-string <redacted>"),
            (
                "neighbor 192.0.2.1 timers 3 9",
                "neighbor 192.0.2.1 timers 3 9",
            ),
            ("a\nenable password p", "a\nenable password <redacted>"),
            (
                "neighbor 192.0.2.1 password  two-spaces",
                "neighbor 192.0.2.1 password <redacted>",
            ),
            (
                "neighbor 192.0.2.1 password\ttab",
                "neighbor 192.0.2.1 password <redacted>",
            ),
            (
                "neighbor 192.0.2.1 password ",
                "neighbor 192.0.2.1 password ",
            ),
            ("x password a b c", "x password <redacted>"),
        ];
        for (input, want) in table {
            assert_eq!(redact(input), want);
            assert!(!redact(input).contains("s3cr3t"));
        }
    }

    #[test]
    fn control_characters_never_reach_vtysh() {
        for bad in ["a\nb", "a\0", "x\r"] {
            assert!(
                matches!(check_safe(bad), Err(CliError::Unsafe(_))),
                "{bad:?}"
            );
        }
        assert!(check_safe("neighbor 192.0.2.1 description tor #1").is_ok());
        let err = check_safe("neighbor 192.0.2.1 password se\ncret").unwrap_err();
        let text = err.to_string();
        assert!(!text.contains("cret"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
    }
}
