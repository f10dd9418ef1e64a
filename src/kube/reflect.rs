//! The watch plumbing every Kubernetes-facing loop shares, written once: one reflector per
//! kind (watch, retry with backoff, store), one readiness gate over all of them, one change
//! signal that any number of loops can wait on, debounced, and the backoff those loops use
//! after a failed write.
//!
//! Every watch event wakes the loops, deletions included: a loop that only heard about
//! added or modified objects would keep announcing what a deleted object implied until
//! something else changed.

use std::fmt::Debug;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::reflector::{store::Writer, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::warn;

/// Why the watches cannot deliver a complete view.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("the watch of {0} ended before it listed its objects")]
    NeverReady(&'static str),
    #[error("every watch has ended")]
    Ended,
}

type ReadyCheck = Pin<Box<dyn Future<Output = Result<(), WatchError>> + Send>>;

/// A set of reflectors feeding stores, and the change signal they raise. Dropping it stops
/// every watch.
pub struct Watches {
    changes: watch::Sender<u64>,
    tasks: Vec<JoinHandle<()>>,
    ready: Vec<ReadyCheck>,
}

impl Default for Watches {
    fn default() -> Self {
        Watches::new()
    }
}

impl Watches {
    pub fn new() -> Self {
        Watches {
            changes: watch::channel(0).0,
            tasks: Vec::new(),
            ready: Vec::new(),
        }
    }

    /// A handle that wakes on every change of any store (created now or later).
    pub fn subscribe(&self) -> Changes {
        Changes(self.changes.subscribe())
    }

    /// Watches `api` into a new store. `modify` trims each object as it arrives, so the
    /// store holds only what its readers need.
    pub fn add<K>(
        &mut self,
        kind: &'static str,
        api: Api<K>,
        config: watcher::Config,
        modify: impl FnMut(&mut K) + Send + 'static,
    ) -> Store<K>
    where
        K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
        K::DynamicType: Default + Eq + Hash + Clone + Send + Sync,
    {
        self.add_with(kind, api, config, modify, Writer::default())
    }

    /// [`Watches::add`] into a given writer (untyped stores need one made for their kind).
    pub fn add_with<K>(
        &mut self,
        kind: &'static str,
        api: Api<K>,
        config: watcher::Config,
        modify: impl FnMut(&mut K) + Send + 'static,
        writer: Writer<K>,
    ) -> Store<K>
    where
        K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
        K::DynamicType: Eq + Hash + Clone + Send + Sync,
    {
        let store = writer.as_reader();
        let stream = watcher(api, config)
            .default_backoff()
            .modify(modify)
            .reflect(writer);
        let changes = self.changes.clone();
        self.tasks.push(tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(event) = stream.next().await {
                if let Err(e) = event {
                    warn!(kind, error = %e, "watch failed; retrying with backoff");
                }
                changes.send_modify(|n| *n = n.wrapping_add(1));
            }
            warn!(kind, "watch ended");
        }));
        let reader = store.clone();
        self.ready.push(Box::pin(async move {
            reader
                .wait_until_ready()
                .await
                .map_err(|_| WatchError::NeverReady(kind))
        }));
        store
    }

    /// Resolves once every store holds its initial list. Nothing may be decided before:
    /// a partial view would withdraw what the missing objects imply.
    pub async fn ready(&mut self) -> Result<(), WatchError> {
        for check in self.ready.drain(..) {
            check.await?;
        }
        Ok(())
    }
}

impl Drop for Watches {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// One loop's view of the change signal.
pub struct Changes(watch::Receiver<u64>);

impl Changes {
    /// Waits for the next change, then `debounce` more, so that a burst of events makes one
    /// wake-up. `Err` once every watch has ended.
    pub async fn next(&mut self, debounce: Duration) -> Result<(), WatchError> {
        self.wait().await?;
        tokio::time::sleep(debounce).await;
        self.settle();
        Ok(())
    }

    /// Waits for a change not yet [settled](Changes::settle).
    pub async fn wait(&mut self) -> Result<(), WatchError> {
        self.0.changed().await.map_err(|_| WatchError::Ended)
    }

    /// Counts every change so far as seen.
    pub fn settle(&mut self) {
        self.0.mark_unchanged();
    }

    /// Makes the next [`Changes::next`] return at once (a first pass, a retry).
    pub fn mark_changed(&mut self) {
        self.0.mark_changed();
    }
}

/// Exponential backoff for a loop whose writes failed: `min`, doubling up to `max`, back to
/// `min` after a success.
#[derive(Clone, Debug)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max,
            next: min,
        }
    }

    /// The delay the next failure would wait, without counting one.
    pub fn next_delay(&self) -> Duration {
        self.next
    }

    /// The delay before the next attempt; the one after it doubles.
    pub fn failed(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }

    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

/// Waits until `at`, or forever when there is nothing to wait for (a `select!` arm that is
/// off).
pub async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// A reflector store's objects, cloned out of their `Arc`s.
pub fn items<K>(store: &Store<K>) -> Vec<K>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + Hash + Clone,
{
    store.state().iter().map(|o| (**o).clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_and_resets() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(200), ms(1000));
        let got: Vec<Duration> = (0..5).map(|_| b.failed()).collect();
        assert_eq!(got, [ms(200), ms(400), ms(800), ms(1000), ms(1000)]);
        b.reset();
        assert_eq!(b.failed(), ms(200));
    }

    #[tokio::test]
    async fn changes_wake_every_subscriber_once_per_burst() {
        let w = Watches::new();
        let (mut a, mut b) = (w.subscribe(), w.subscribe());
        for _ in 0..5 {
            w.changes.send_modify(|n| *n += 1);
        }
        a.next(Duration::ZERO).await.unwrap();
        b.next(Duration::ZERO).await.unwrap();
        // The burst was consumed: nothing more is pending.
        let again = tokio::time::timeout(Duration::from_millis(20), a.next(Duration::ZERO)).await;
        assert!(again.is_err(), "a second wake-up for one burst");
        drop(w);
        assert!(matches!(
            b.next(Duration::ZERO).await,
            Err(WatchError::Ended)
        ));
    }
}
