//! Status writes off the apply path. The engine hands each status to a task that writes
//! it; a slow or hung API server (or disk) then delays status, never an apply. Only the
//! latest status is kept: a write that fails or times out is retried with backoff, with
//! whatever is newest by then.

use std::future::Future;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};

use super::events::AnnouncementEvent;
use super::metrics::Metrics;
use super::sink::{SinkError, StatusSink};
use super::status::StatusObjects;

/// How long one publish (all of a node's objects) may take before it is abandoned.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
const MIN_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// A [`StatusSink`] that returns at once and leaves the writing to a task of its own.
pub struct Deferred {
    status: watch::Sender<Option<StatusObjects>>,
    events: mpsc::Sender<Vec<AnnouncementEvent>>,
}

impl Deferred {
    /// Starts the writer task over `sink`. It ends once the `Deferred` is dropped and the
    /// write in flight, if any, is done.
    pub fn spawn<S: StatusSink + 'static>(sink: S, metrics: Metrics) -> Deferred {
        let (status, rx) = watch::channel(None);
        let (events, ev_rx) = mpsc::channel(64);
        tokio::spawn(write_loop(sink, rx, ev_rx, metrics));
        Deferred { status, events }
    }
}

impl StatusSink for Deferred {
    fn publish(
        &mut self,
        objects: &StatusObjects,
    ) -> impl Future<Output = Result<usize, SinkError>> + Send {
        self.status.send_replace(Some(objects.clone()));
        // What the writer task writes is counted there.
        async { Ok(0) }
    }

    fn events(&mut self, events: &[AnnouncementEvent]) -> impl Future<Output = ()> + Send {
        if !events.is_empty() && self.events.try_send(events.to_vec()).is_err() {
            warn!(
                count = events.len(),
                "status writer is behind; service events dropped"
            );
        }
        async {}
    }
}

async fn write_loop<S: StatusSink>(
    mut sink: S,
    mut status: watch::Receiver<Option<StatusObjects>>,
    mut events: mpsc::Receiver<Vec<AnnouncementEvent>>,
    metrics: Metrics,
) {
    let mut events_open = true;
    loop {
        tokio::select! {
            biased;
            changed = status.changed() => {
                if changed.is_err() {
                    return;
                }
                if !write_latest(&mut sink, &mut status, &metrics).await {
                    return;
                }
            }
            batch = events.recv(), if events_open => match batch {
                Some(batch) => {
                    if tokio::time::timeout(WRITE_TIMEOUT, sink.events(&batch)).await.is_err() {
                        warn!(count = batch.len(), "service events timed out");
                    }
                }
                None => events_open = false,
            },
        }
    }
}

/// Writes the newest status until one write succeeds. False when the engine is gone.
async fn write_latest<S: StatusSink>(
    sink: &mut S,
    status: &mut watch::Receiver<Option<StatusObjects>>,
    metrics: &Metrics,
) -> bool {
    let mut backoff = MIN_BACKOFF;
    loop {
        let Some(objects) = status.borrow_and_update().clone() else {
            return true;
        };
        match tokio::time::timeout(WRITE_TIMEOUT, sink.publish(&objects)).await {
            Ok(Ok(written)) => {
                metrics.status_writes.inc_by(written as u64);
                debug!(written, "status written");
                return true;
            }
            Ok(Err(e)) => warn!(error = %e, retry_in = ?backoff, "cannot publish status"),
            Err(_) => warn!(retry_in = ?backoff, "publishing status timed out"),
        }
        // Retry after the backoff, or at once when there is something newer to write.
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            changed = status.changed() => {
                if changed.is_err() {
                    return false;
                }
            }
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A sink that blocks until released, recording what it was given.
    #[derive(Clone, Default)]
    struct Stuck {
        release: Arc<tokio::sync::Notify>,
        written: Arc<Mutex<Vec<usize>>>,
    }

    impl StatusSink for Stuck {
        fn publish(
            &mut self,
            objects: &StatusObjects,
        ) -> impl Future<Output = Result<usize, SinkError>> + Send {
            let (release, written) = (self.release.clone(), self.written.clone());
            let n = objects.sessions.len();
            async move {
                release.notified().await;
                written.lock().unwrap().push(n);
                Ok(n)
            }
        }
    }

    fn objects(sessions: usize) -> StatusObjects {
        let mut o = StatusObjects::default();
        for i in 0..sessions {
            o.sessions.push(crate::api::status::BGPSession::new(
                &format!("s{i}"),
                Default::default(),
            ));
        }
        o
    }

    /// A hung sink does not hold up the caller, and once it answers only the newest status
    /// is written after the one in flight.
    #[tokio::test]
    async fn a_hung_sink_never_blocks_the_engine() {
        let stuck = Stuck::default();
        let mut d = Deferred::spawn(stuck.clone(), Metrics::new());
        for n in 1..=5 {
            // Each returns at once although nothing is being written.
            tokio::time::timeout(Duration::from_secs(1), d.publish(&objects(n)))
                .await
                .expect("publish returns at once")
                .unwrap();
            tokio::task::yield_now().await;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            stuck.release.notify_one();
            if stuck.written.lock().unwrap().last() == Some(&5) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "newest status written"
            );
            tokio::task::yield_now().await;
        }
        let written = stuck.written.lock().unwrap().clone();
        assert!(written.len() <= 2, "stale statuses skipped: {written:?}");
    }
}
