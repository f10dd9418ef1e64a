//! File mode's shared memory: which object every speaker saw first, and which addresses
//! Services were given. Without a controller each speaker decides for itself; with this
//! file (one per cluster of speakers, under their common `--status-dir`) they decide alike
//! whatever history each saw, a speaker restarted in the middle of an episode included: a
//! conflict between two objects goes to the one the ledger saw first, and a Service keeps
//! the address the ledger holds for it, as a controller-written status would keep it.
//!
//! Writes are serialized with an exclusive `flock` on `<ledger>.lock` and replace the file
//! atomically; every writer merges what is there with what it adds, so concurrent speakers
//! end with the same content. A ledger that cannot be read counts as empty (and is
//! reported): file mode then falls back to deciding from the files alone.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::core::model::{Assignment, ObjectRef, ServiceKey};
use crate::core::snapshot::{rank_new, Snapshot};

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("ledger {}: cannot lock it: {source}", path.display())]
    Lock { path: PathBuf, source: nix::Error },
    #[error("ledger {}: another speaker has held its lock for {waited:?}", path.display())]
    Busy { path: PathBuf, waited: Duration },
}

/// What the file holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Content {
    /// `Kind namespace/name` -> rank (lower was seen earlier).
    seen: BTreeMap<String, u64>,
    next: u64,
    /// `namespace/name` -> addresses.
    addresses: BTreeMap<String, Vec<IpAddr>>,
    /// `namespace/name` -> the pool the addresses came from.
    #[serde(default)]
    pools: BTreeMap<String, String>,
}

/// How long a speaker waits for another one's lock before it decides without the ledger
/// (a hung writer must not stall its applies).
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(2);

/// The ledger at one path.
#[derive(Clone, Debug)]
pub struct Ledger {
    path: PathBuf,
    lock_timeout: Duration,
}

fn key(o: &ObjectRef) -> String {
    o.to_string()
}

impl Ledger {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Ledger {
            path: path.into(),
            lock_timeout: LOCK_TIMEOUT,
        }
    }

    /// The same ledger, waiting at most `timeout` for its lock.
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self) -> impl Fn(std::io::Error) -> LedgerError + '_ {
        move |source| LedgerError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn lock(&self) -> Result<Flock<File>, LedgerError> {
        let lock_path = self.path.with_extension("lock");
        if let Some(dir) = lock_path.parent() {
            std::fs::create_dir_all(dir).map_err(self.io())?;
        }
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(self.io())?;
        let started = Instant::now();
        loop {
            match Flock::lock(f, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => return Ok(lock),
                Err((back, nix::Error::EWOULDBLOCK)) if started.elapsed() < self.lock_timeout => {
                    f = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((_, nix::Error::EWOULDBLOCK)) => {
                    return Err(LedgerError::Busy {
                        path: lock_path,
                        waited: started.elapsed(),
                    })
                }
                Err((_, source)) => {
                    return Err(LedgerError::Lock {
                        path: lock_path,
                        source,
                    })
                }
            }
        }
    }

    fn read(&self) -> Content {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
                tracing::warn!(ledger = %self.path.display(), error = %e, "ledger unreadable; starting it anew");
                Content::default()
            }),
            Err(_) => Content::default(),
        }
    }

    fn write(&self, c: &Content) -> Result<(), LedgerError> {
        let tmp = self.path.with_extension("tmp");
        let text = serde_json::to_string_pretty(c).expect("ledger serializes");
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o644)
            .open(&tmp)
            .map_err(self.io())?;
        f.write_all(text.as_bytes()).map_err(self.io())?;
        f.sync_all().map_err(self.io())?;
        std::fs::rename(&tmp, &self.path).map_err(self.io())
    }

    /// Ranks the snapshot's objects the ledger has not seen yet (all of them one rank above
    /// the last), forgets those that are gone, and fills the snapshot's `first_seen` and
    /// `recorded` from the ledger.
    pub fn observe(&self, snapshot: &mut Snapshot) -> Result<(), LedgerError> {
        let _guard = self.lock()?;
        let mut c = self.read();
        let before = c.clone();
        let objects = snapshot.metallb_objects();
        let present: BTreeSet<String> = objects.iter().map(key).collect();
        rank_new(&mut c.seen, &mut c.next, &present);
        if c != before {
            self.write(&c)?;
        }
        snapshot.first_seen = objects
            .into_iter()
            .filter_map(|o| Some((c.seen.get(&key(&o)).copied()?, o)))
            .map(|(r, o)| (o, r))
            .collect();
        snapshot.recorded = c
            .addresses
            .iter()
            .filter_map(|(k, ips)| {
                let (ns, name) = k.split_once('/')?;
                let a = Assignment {
                    pool: c.pools.get(k).cloned().unwrap_or_default(),
                    ips: ips.clone(),
                };
                Some((ServiceKey::new(ns, name), a))
            })
            .collect();
        Ok(())
    }

    /// Records what Services hold now (assigned or held): Services in `services` that hold
    /// nothing, and Services not in it, lose their entry. Writes only on a change.
    pub fn record<'a>(
        &self,
        services: impl IntoIterator<Item = &'a ServiceKey>,
        holding: impl IntoIterator<Item = (&'a ServiceKey, &'a Assignment)>,
    ) -> Result<(), LedgerError> {
        let _guard = self.lock()?;
        let mut c = self.read();
        let before = c.clone();
        let present: BTreeSet<String> = services.into_iter().map(|k| k.to_string()).collect();
        let holding: BTreeMap<String, &Assignment> = holding
            .into_iter()
            .map(|(k, a)| (k.to_string(), a))
            .collect();
        c.addresses
            .retain(|k, _| present.contains(k) && holding.contains_key(k));
        c.pools.retain(|k, _| holding.contains_key(k));
        for (k, a) in holding {
            c.addresses.insert(k.clone(), a.ips.clone());
            c.pools.insert(k, a.pool.clone());
        }
        if c != before {
            self.write(&c)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "ferrule-ledger-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn snapshot(pools: &[&str]) -> Snapshot {
        let mut s = Snapshot {
            namespace: "metallb-system".into(),
            ..Snapshot::default()
        };
        for p in pools {
            let yaml = format!("apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: {p}}}\nspec: {{addresses: [192.0.2.0/28]}}\n");
            crate::input::manifests::parse_str(&yaml, "t", &mut s);
        }
        s
    }

    #[test]
    fn first_seen_survives_a_restart_and_new_objects_rank_later() {
        let d = dir();
        let ledger = Ledger::new(d.join("ledger.json"));
        let mut s = snapshot(&["b-old"]);
        ledger.observe(&mut s).unwrap();
        let mut s = snapshot(&["a-new", "b-old"]);
        ledger.observe(&mut s).unwrap();
        let rank = |s: &Snapshot, n: &str| {
            s.first_seen[&ObjectRef::new("IPAddressPool", "metallb-system", n)]
        };
        assert!(rank(&s, "b-old") < rank(&s, "a-new"));
        // Another speaker (or this one restarted) seeing both at once agrees.
        let mut fresh = snapshot(&["a-new", "b-old"]);
        Ledger::new(d.join("ledger.json"))
            .observe(&mut fresh)
            .unwrap();
        assert_eq!(fresh.first_seen, s.first_seen);
        // Gone and back: new again.
        ledger.observe(&mut snapshot(&["a-new"])).unwrap();
        let mut back = snapshot(&["a-new", "b-old"]);
        ledger.observe(&mut back).unwrap();
        assert!(rank(&back, "b-old") > rank(&back, "a-new"));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn addresses_are_recorded_and_released() {
        let d = dir();
        let ledger = Ledger::new(d.join("ledger.json"));
        let web = ServiceKey::new("default", "web");
        let api = ServiceKey::new("default", "api");
        let a = |ip: &str| Assignment {
            pool: "p".into(),
            ips: vec![ip.parse().unwrap()],
        };
        let (wa, aa) = (a("192.0.2.1"), a("192.0.2.2"));
        ledger
            .record([&web, &api], [(&web, &wa), (&api, &aa)])
            .unwrap();
        let mut s = snapshot(&[]);
        ledger.observe(&mut s).unwrap();
        assert_eq!(s.recorded[&web], wa);
        // api is gone from the files: its address is released.
        ledger.record([&web], [(&web, &wa)]).unwrap();
        let mut s = snapshot(&[]);
        ledger.observe(&mut s).unwrap();
        assert_eq!(s.recorded.keys().collect::<Vec<_>>(), [&web]);
        let _ = std::fs::remove_dir_all(&d);
    }

    /// A writer that holds the lock and never lets go costs a bounded wait and an error,
    /// never a stalled speaker.
    #[test]
    fn a_held_lock_is_waited_for_only_so_long() {
        let d = dir();
        let ledger =
            Ledger::new(d.join("ledger.json")).with_lock_timeout(Duration::from_millis(50));
        let held = ledger.lock().unwrap();
        let err = ledger.observe(&mut snapshot(&["p"])).unwrap_err();
        assert!(matches!(err, LedgerError::Busy { .. }), "{err}");
        drop(held);
        ledger.observe(&mut snapshot(&["p"])).unwrap();
        let _ = std::fs::remove_dir_all(&d);
    }
}
