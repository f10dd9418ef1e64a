//! Apply a desired FRR config: diff against the running config, send the change in ONE
//! batch, read back and verify; on failure report FRR's words and restore.
//!
//! The running config read back after each successful apply is kept and used as the basis
//! of the next diff, so a change costs one round trip (batch + soft clears + read-back),
//! not two: that is what makes an attribute change reach the peer in well under 100 ms.
//! The cache cannot hide drift: every apply verifies the fresh read-back against the
//! desired config, an apply with nothing to send re-reads before saying so, and a batch
//! that FRR rejects or that leaves a difference is retried once against a fresh read.

use std::time::{Duration, Instant};

use std::collections::{BTreeMap, BTreeSet};

use super::config::{parse, Config, Line};
use super::diff::{diff, Batch};
use crate::frr::cli::{redact, Cli, CliError, Transport};
use crate::frr::render::{sha256_hex, Keep, Rendered};

/// Context navigation in a batch (entering a block, leaving it), not a change.
fn is_navigation(command: &str) -> bool {
    matches!(
        command.trim(),
        "exit" | "exit-address-family" | "exit-vrf" | "end"
    ) || super::config::root_context(&command.split_whitespace().collect::<Vec<_>>()).is_some()
}

/// How an apply ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// FRR runs exactly the desired config (verified by reading it back).
    Ok,
    Err {
        /// FRR's own message (`% Unknown command: ...`), or what still differs.
        frr_message: String,
        /// The command FRR refused, when one did.
        failed_command: Option<String>,
        /// Whether the config that ran before (the last good one) is back in place.
        restored: bool,
    },
}

#[derive(Clone, Debug)]
pub struct ApplyResult {
    pub outcome: Outcome,
    pub duration: Duration,
    /// Of `duration`, the time spent waiting for FRR (the rest is ferrule's own
    /// parse and diff work).
    pub frr_duration: Duration,
    /// Commands sent to FRR (config incl. context navigation, and soft clears), over all
    /// attempts; 0 when nothing changed. Restore commands are not counted.
    pub commands_sent: usize,
    /// Batches sent to FRR (round trips that carried config), restore excluded: 1 for a
    /// change that went in at once, 0 when nothing changed.
    pub batches: usize,
    /// Config lines that changed something (navigation not counted).
    pub changes: usize,
    /// sha256 of the desired config text, hex.
    pub config_hash: String,
    /// The commands sent, over all attempts (restore excluded), for logs and events;
    /// passwords redacted.
    pub batch: Vec<String>,
    /// Non-fatal messages FRR printed while accepting the batch.
    pub warnings: Vec<String>,
    /// Lines of the `bgpextras` text FRR refused (or took without showing them back), with
    /// FRR's words: left out, while the rest of the config applied.
    pub refused_extras: Vec<String>,
}

impl ApplyResult {
    pub fn is_ok(&self) -> bool {
        self.outcome == Outcome::Ok
    }
}

/// The driver for one FRR instance. Applies are serialized by `&mut self`.
/// (No `Debug`: the last good config may hold BGP passwords.)
pub struct Driver {
    cli: Cli,
    /// The last desired config that applied and verified: its text, and the tree FRR was
    /// brought to (kept lines and refused extras accounted for), the restore target.
    last_good: Option<(String, Config)>,
    /// Running config as read back after the last verified apply.
    running: Option<Config>,
    /// Extras lines FRR refused, with what it said: not sent again while the extras still
    /// hold them (and FRR has not restarted), reported again on every apply.
    refused: BTreeMap<String, String>,
}

/// What an apply brings FRR to.
struct Target {
    config: Config,
    keep: Vec<Keep>,
    /// The `bgpextras` lines, by their text: FRR refusing one of these costs only that line.
    extras: BTreeSet<String>,
    /// Extras lines refused in this apply, by text, with the report.
    refused: BTreeMap<String, String>,
}

impl Target {
    fn new(r: &Rendered) -> Self {
        let mut extras = BTreeSet::new();
        fn walk(lines: &[Line], out: &mut BTreeSet<String>) {
            for l in lines {
                out.insert(l.text.clone());
                walk(&l.children, out);
            }
        }
        if let Some(x) = &r.extras {
            walk(&parse(x).lines, &mut extras);
        }
        Target {
            config: parse(&r.text),
            keep: r.keep.clone(),
            extras,
            refused: BTreeMap::new(),
        }
    }

    /// The desired tree against `running`: the kept lines as FRR runs them.
    fn effective(&self, running: &Config) -> Config {
        let mut out = self.config.clone();
        for k in &self.keep {
            let kept = find(&running.lines, &k.context)
                .and_then(|ls| ls.iter().find(|l| l.slot == k.slot))
                .cloned();
            let Some(line) =
                kept.or_else(|| k.instead.as_ref().and_then(|i| in_context(&k.context, i)))
            else {
                continue;
            };
            if let Some(into) = find_mut(&mut out.lines, &k.context) {
                if !into.iter().any(|l| l.slot == line.slot) {
                    into.push(line);
                }
            }
        }
        out
    }

    /// Leaves out the extras line FRR refused as `command`, remembering `report`; false
    /// when `command` is not one.
    fn refuse(&mut self, command: &str, report: String, result: &mut ApplyResult) -> bool {
        let text = command.split_whitespace().collect::<Vec<_>>().join(" ");
        if !self.drop_extra(&text) {
            return false;
        }
        let report = redact(&report);
        result.refused_extras.push(report.clone());
        self.refused.insert(text, report);
        true
    }

    /// Leaves out the extras line `command`; false when `command` is not one.
    fn drop_extra(&mut self, command: &str) -> bool {
        let text = command.split_whitespace().collect::<Vec<_>>().join(" ");
        if !self.extras.contains(&text) {
            return false;
        }
        fn prune(lines: &mut Vec<Line>, text: &str) -> bool {
            let before = lines.len();
            lines.retain(|l| l.text != text);
            let mut removed = lines.len() != before;
            for l in lines.iter_mut() {
                removed |= prune(&mut l.children, text);
            }
            removed
        }
        prune(&mut self.config.lines, &text)
    }
}

/// `text` as a line inside the context the openers `path` reach, as the parser reads it.
fn in_context(path: &[String], text: &str) -> Option<Line> {
    let mut config = String::new();
    for (depth, opener) in path.iter().enumerate() {
        config.push_str(&" ".repeat(depth));
        config.push_str(opener);
        config.push('\n');
    }
    config.push_str(&" ".repeat(path.len()));
    config.push_str(text);
    config.push('\n');
    let mut lines = parse(&config).lines;
    for _ in path {
        lines = std::mem::take(&mut lines.first_mut()?.children);
    }
    lines.into_iter().next()
}

/// The children of the context reached by the openers `path` (by their normalized text).
fn find<'a>(lines: &'a [Line], path: &[String]) -> Option<&'a [Line]> {
    match path.split_first() {
        None => Some(lines),
        Some((first, rest)) => find(&lines.iter().find(|l| l.norm == *first)?.children, rest),
    }
}

fn find_mut<'a>(lines: &'a mut Vec<Line>, path: &[String]) -> Option<&'a mut Vec<Line>> {
    match path.split_first() {
        None => Some(lines),
        Some((first, rest)) => find_mut(
            &mut lines.iter_mut().find(|l| l.norm == *first)?.children,
            rest,
        ),
    }
}

/// Why a batch did not bring FRR to the desired config.
struct Failure {
    message: String,
    /// The refused command; may hold a secret (redact it wherever it is shown).
    command: Option<String>,
    /// FRR did not answer in time (a frozen or overloaded daemon).
    unresponsive: bool,
}

impl From<CliError> for Failure {
    fn from(e: CliError) -> Self {
        match e {
            CliError::Rejected {
                command, message, ..
            } => Failure {
                message,
                command: Some(command),
                unresponsive: false,
            },
            other => Failure {
                unresponsive: matches!(other, CliError::Timeout { .. }),
                message: other.to_string(),
                command: None,
            },
        }
    }
}

/// The transports report a refused command redacted; the batch's own line (by its
/// position) is what an extras line is known by, so a refused extras line holding a
/// password still costs only itself. Every report of the command redacts it again.
fn unredacted(e: CliError, config: &[String]) -> Failure {
    let raw = match &e {
        CliError::Rejected { line, command, .. } => line
            .checked_sub(1)
            .and_then(|i| config.get(i))
            .filter(|raw| redact(raw.trim()) == command.trim())
            .cloned(),
        _ => None,
    };
    let mut f = Failure::from(e);
    if raw.is_some() {
        f.command = raw;
    }
    f
}

impl Driver {
    pub fn new(cli: Cli) -> Self {
        Driver {
            cli,
            last_good: None,
            running: None,
            refused: BTreeMap::new(),
        }
    }

    pub fn cli(&self) -> &Cli {
        &self.cli
    }

    /// The last desired config that applied cleanly.
    pub fn last_good(&self) -> Option<&str> {
        self.last_good.as_ref().map(|(t, _)| t.as_str())
    }

    /// Forget the cached running config (and which extras lines FRR refused): the next
    /// apply reads it first.
    pub fn forget_running(&mut self) {
        self.running = None;
        self.refused.clear();
    }

    async fn read_running(&self, result: &mut ApplyResult) -> Result<Config, Failure> {
        let t = Instant::now();
        let text = self.cli.running_config().await;
        result.frr_duration += t.elapsed();
        Ok(parse(&text?))
    }

    /// Brings FRR to `desired` (a whole config, no kept lines, no extras).
    pub async fn apply(&mut self, desired: &str) -> ApplyResult {
        self.apply_rendered(&Rendered {
            text: desired.to_string(),
            ..Rendered::default()
        })
        .await
    }

    /// Brings FRR to a rendered config: its kept lines stay as FRR runs them, and extras
    /// lines FRR refuses are left out and reported while the rest applies.
    pub async fn apply_rendered(&mut self, desired: &Rendered) -> ApplyResult {
        let start = Instant::now();
        let mut result = ApplyResult {
            outcome: Outcome::Ok,
            duration: Duration::ZERO,
            frr_duration: Duration::ZERO,
            commands_sent: 0,
            batches: 0,
            changes: 0,
            config_hash: sha256_hex(&desired.text),
            batch: Vec::new(),
            warnings: Vec::new(),
            refused_extras: Vec::new(),
        };
        let mut target = Target::new(desired);
        // Lines FRR refused before are not offered again.
        self.refused.retain(|line, _| target.extras.contains(line));
        for (line, said) in &self.refused {
            target.drop_extra(line);
            result.refused_extras.push(said.clone());
        }
        match self.converge(&mut target, &mut result).await {
            Ok(after) => {
                let good = target.effective(&after);
                self.running = Some(after);
                self.last_good = Some((desired.text.clone(), good));
                self.refused.extend(std::mem::take(&mut target.refused));
            }
            Err((failure, basis)) => {
                self.running = None;
                // A daemon that did not answer would not answer the restore either (two
                // more timeouts before the next try); the next apply reads what FRR runs
                // and converges from there.
                let restored = !failure.unresponsive && self.restore(basis).await;
                result.outcome = Outcome::Err {
                    // Whatever FRR echoed back may hold a password from the batch.
                    frr_message: redact(&failure.message),
                    failed_command: failure.command.as_deref().map(redact),
                    restored,
                };
            }
        }
        result.duration = start.elapsed();
        result
    }

    /// Bring FRR to `target`; Ok(running config read back). Err carries the config FRR ran
    /// before this apply, when known (restore target if there is no last good config).
    async fn converge(
        &mut self,
        target: &mut Target,
        result: &mut ApplyResult,
    ) -> Result<Config, (Failure, Option<Config>)> {
        let (mut basis, mut cached) = match self.running.take() {
            Some(c) => (c, true),
            None => (
                self.read_running(result).await.map_err(|f| (f, None))?,
                false,
            ),
        };
        // Each extras line FRR refuses costs one more round, at most once per line.
        let mut extra_rounds = target.extras.len();
        loop {
            let batch = diff(&target.effective(&basis), &basis);
            if batch.is_empty() {
                if !cached {
                    return Ok(basis);
                }
                // Nothing to send per the cache: make sure FRR agrees before saying so.
                basis = self.read_running(result).await.map_err(|f| (f, None))?;
                cached = false;
                continue;
            }
            match self.send(&batch, result).await {
                Ok(after) => {
                    let rest = diff(&target.effective(&after), &after);
                    if rest.is_empty() {
                        return Ok(after);
                    }
                    // Extras FRR took but shows differently (or not at all) cannot be
                    // verified: reported, and no longer part of what is compared.
                    if !cached
                        && rest
                            .config
                            .iter()
                            .filter(|c| !is_navigation(c))
                            .all(|c| target.extras.contains(c.trim()))
                    {
                        for c in rest.config.iter().filter(|c| !is_navigation(c)) {
                            let report = format!(
                                "{}: FRR took it but does not show it back",
                                redact(c.trim())
                            );
                            target.refuse(c, report, result);
                        }
                        if diff(&target.effective(&after), &after).is_empty() {
                            return Ok(after);
                        }
                    }
                    if cached {
                        // The cache was stale (FRR changed behind our back): one more round
                        // against what FRR really runs.
                        basis = after;
                        cached = false;
                        continue;
                    }
                    let shown: Vec<String> =
                        rest.config.iter().take(8).map(|c| redact(c)).collect();
                    return Err((
                        Failure {
                            message: format!(
                                "FRR accepted the batch but its running config still differs; it would still need: {}",
                                shown.join(" / ")
                            ),
                            command: None,
                            unresponsive: false,
                        },
                        Some(basis),
                    ));
                }
                Err(f)
                    if extra_rounds > 0
                        && f.command.as_deref().is_some_and(|c| {
                            let report = format!("{c}: {}", f.message);
                            target.refuse(c, report, result)
                        }) =>
                {
                    // A bgpextras line FRR refuses costs only itself.
                    extra_rounds -= 1;
                    let _ = self.cli.end_configuration().await;
                    basis = self
                        .read_running(result)
                        .await
                        .map_err(|e| (e, Some(basis.clone())))?;
                    cached = false;
                }
                Err(f) if cached => {
                    // A stale basis can make FRR refuse a command (`no network X` for a
                    // network someone already removed). Retry from a fresh read, but only
                    // when the refused command is no longer part of the fix: otherwise it
                    // would just be refused again.
                    let _ = self.cli.end_configuration().await;
                    let fresh = self
                        .read_running(result)
                        .await
                        .map_err(|e| (e, Some(basis.clone())))?;
                    let again = diff(&target.effective(&fresh), &fresh);
                    let repeats = f
                        .command
                        .as_ref()
                        .is_some_and(|c| again.commands().any(|x| redact(x) == redact(c)));
                    if repeats {
                        return Err((f, Some(basis)));
                    }
                    basis = fresh;
                    cached = false;
                }
                Err(f) => return Err((f, Some(basis))),
            }
        }
    }

    async fn send(&self, batch: &Batch, result: &mut ApplyResult) -> Result<Config, Failure> {
        result.commands_sent += batch.config.len() + batch.exec.len();
        result.batches += 1;
        result.changes += batch.changes;
        result.batch.extend(batch.commands().map(|c| redact(c)));
        let t = Instant::now();
        let out = self.cli.apply_batch(&batch.config, &batch.exec, true).await;
        result.frr_duration += t.elapsed();
        let out = out.map_err(|e| unredacted(e, &batch.config))?;
        result.warnings.extend(
            out.warnings
                .into_iter()
                .map(|(c, w)| redact(&format!("{c}: {w}"))),
        );
        match out.running_config {
            Some(text) => Ok(parse(&text)),
            None => self.read_running(result).await,
        }
    }

    /// Put back the last good config (or, before any success, what ran before this apply).
    /// True when FRR verifiably runs it again.
    async fn restore(&mut self, before: Option<Config>) -> bool {
        // A batch that died half-way left bgpd waiting for the end of the config.
        let _ = self.cli.end_configuration().await;
        let target = match (&self.last_good, before) {
            (Some((_, good)), _) => good.clone(),
            (None, Some(before)) => before,
            (None, None) => return false,
        };
        let Ok(text) = self.cli.running_config().await else {
            return false;
        };
        let now = parse(&text);
        let batch = diff(&target, &now);
        let after = if batch.is_empty() {
            now
        } else {
            match self.cli.apply_batch(&batch.config, &batch.exec, true).await {
                Ok(out) => match out.running_config {
                    Some(t) => parse(&t),
                    None => return false,
                },
                Err(_) => {
                    let _ = self.cli.end_configuration().await;
                    return false;
                }
            }
        };
        let ok = diff(&target, &after).is_empty();
        if ok {
            self.running = Some(after);
        }
        ok
    }
}
