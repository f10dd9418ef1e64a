//! Real FRR's validator for rendered configs: `vtysh --dryrun`, hermetic, with the test
//! policy for a machine without FRR (fail when `CI` is set, skip loudly elsewhere).

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

/// The vtysh to validate with: `$FERRULE_VTYSH`, else `vtysh` on `PATH`, else
/// `/usr/bin/vtysh`.
pub fn vtysh_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FERRULE_VTYSH") {
        return Some(PathBuf::from(p));
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("vtysh"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| Some(PathBuf::from("/usr/bin/vtysh")).filter(|p| p.is_file()))
}

/// Checks `config` with `vtysh --dryrun` (FRR's own parser, no daemon needed). Hermetic:
/// vtysh reads an empty `vtysh.conf` from a private temporary directory instead of
/// `/etc/frr`. The error carries vtysh's message, which names the offending line.
pub fn validate_with_frr(config: &str) -> Result<(), String> {
    let vtysh = vtysh_path().ok_or("vtysh not found (install FRR 8.4)")?;
    let dir = TempDir::new().map_err(|e| format!("temporary directory: {e}"))?;
    let conf = dir.path().join("frr.conf");
    std::fs::write(dir.path().join("vtysh.conf"), "")
        .and_then(|()| {
            // The config may hold passwords.
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&conf)?
                .write_all(config.as_bytes())
        })
        .map_err(|e| format!("writing {}: {e}", conf.display()))?;
    let out = Command::new(&vtysh)
        .arg("--config_dir")
        .arg(dir.path())
        .arg("--dryrun")
        .arg("-f")
        .arg(&conf)
        .output()
        .map_err(|e| format!("running {}: {e}", vtysh.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "vtysh --dryrun rejected the config ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        ))
    }
}

/// [`validate_with_frr`] with the test policy for a missing vtysh: with `CI` set (any non-empty value) that is
/// a failure (panic); elsewhere the check is skipped with a loud message and `None`.
pub fn frr_check(label: &str, config: &str) -> Option<Result<(), String>> {
    if vtysh_path().is_none() {
        if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
            panic!("{label}: vtysh is required under CI (install FRR 8.4)");
        }
        eprintln!("!!! {label}: vtysh not found, FRR validation SKIPPED (install FRR 8.4)");
        return None;
    }
    Some(validate_with_frr(config))
}

/// Compares `config` with the golden file `dir/<name>.conf` (rewriting it first with
/// `UPDATE_GOLDEN=1`), then has FRR check the golden file. The error says which and why.
pub fn check_golden(dir: &Path, name: &str, config: &str) -> Result<(), String> {
    let path = dir.join(format!("{name}.conf"));
    if std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(&path, config).unwrap();
    }
    let golden = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "{name}: {}: {e} (UPDATE_GOLDEN=1 creates it)",
            path.display()
        )
    })?;
    if golden != config {
        let diff = pretty_assertions::StrComparison::new(&golden, config);
        return Err(format!(
            "{name}: rendered config differs from {} (UPDATE_GOLDEN=1 regenerates):\n{diff}",
            path.display()
        ));
    }
    match frr_check(name, &golden) {
        Some(Err(e)) => Err(format!("{name}: FRR rejects {}: {e}", path.display())),
        _ => Ok(()),
    }
}

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<TempDir> {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "ferrule-frr-check-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&path)?;
        Ok(TempDir(path))
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
