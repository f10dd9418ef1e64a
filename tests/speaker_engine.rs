//! The reconcile engine with a scripted FRR and an in-memory status sink: what it applies,
//! when, how often, and what it publishes.

use std::sync::Arc;
use std::time::Duration;

mod support;

use ferrule::{engine, EngineConfig, FrrState, Metrics, SessionState, Snapshot, StatusObjects};
use support::fake_frr::{FakeFrr, MemorySink};
use tokio::sync::watch;

fn seed() -> Snapshot {
    support::fixtures::seed_snapshot()
}

/// The seed without node-21's endpoint.
fn seed_without_node21_endpoint() -> Snapshot {
    let mut s = seed();
    for slice in &mut s.endpoint_slices {
        Arc::make_mut(slice)
            .endpoints
            .retain(|e| e.node_name.as_deref() != Some("node-21"));
    }
    s
}

struct Harness {
    frr: FakeFrr,
    sink: MemorySink,
    tx: watch::Sender<Option<Arc<Snapshot>>>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

fn start(node: &str, initial: Option<Snapshot>) -> Harness {
    let frr = FakeFrr::default();
    let sink = MemorySink::default();
    let (tx, rx) = watch::channel(initial.map(Arc::new));
    let (stop, stop_rx) = watch::channel(false);
    let mut cfg = EngineConfig::new(node, "metallb-system");
    cfg.addresses = ferrule::Addresses::Allocate;
    cfg.coalesce = Duration::from_millis(30);
    cfg.poll_interval = Duration::from_millis(20);
    cfg.min_backoff = Duration::from_millis(20);
    cfg.max_backoff = Duration::from_millis(80);
    let task = tokio::spawn(engine::run(
        cfg,
        rx,
        frr.clone(),
        sink.clone(),
        Metrics::new(),
        stop_rx,
    ));
    Harness {
        frr,
        sink,
        tx,
        stop,
        task,
    }
}

/// node-21's engine in file mode (it hands out addresses itself), FRR's defaults otherwise.
fn node21_config() -> EngineConfig {
    let mut cfg = EngineConfig::new("node-21", "metallb-system");
    cfg.addresses = ferrule::Addresses::Allocate;
    cfg
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

impl Harness {
    fn applied(&self) -> Vec<String> {
        self.frr.0.lock().unwrap().applied.clone()
    }
    fn reads(&self) -> usize {
        self.frr.0.lock().unwrap().reads
    }
    fn last_published(&self) -> Option<StatusObjects> {
        self.sink.0.lock().unwrap().last().cloned()
    }
    fn publishes(&self) -> usize {
        self.sink.0.lock().unwrap().len()
    }
    async fn stop(self) {
        self.stop.send(true).unwrap();
        self.task.await.unwrap();
    }
}

#[tokio::test]
async fn nothing_is_applied_before_the_source_has_synced() {
    let h = start("node-21", None);
    let reads = h.reads();
    until("a few FRR polls", || h.reads() >= reads + 3).await;
    assert!(h.applied().is_empty());
    assert_eq!(h.publishes(), 0, "no status before the first apply");
    h.stop().await;
}

#[tokio::test]
async fn applies_once_and_never_again_for_an_equal_snapshot() {
    let h = start("node-21", Some(seed()));
    until("first apply", || h.applied().len() == 1).await;
    assert!(h.applied()[0].contains("network 203.0.113.0/32"));
    // The same content again (a resync) and a few polls later: nothing more is applied.
    h.tx.send_replace(Some(Arc::new(seed())));
    let reads = h.reads();
    until("polls after the resync", || h.reads() >= reads + 5).await;
    assert_eq!(h.applied().len(), 1);
    h.stop().await;
}

#[tokio::test]
async fn a_restarted_frr_gets_its_config_again() {
    let h = start("node-21", Some(seed()));
    until("first apply", || h.applied().len() == 1).await;
    // bgpd restarted: it came back with the startup config only.
    h.frr.0.lock().unwrap().restarts += 1;
    until("the config applied again", || h.applied().len() == 2).await;
    assert_eq!(h.applied()[0], h.applied()[1]);
    let reads = h.reads();
    until("polls after the re-apply", || h.reads() >= reads + 5).await;
    assert_eq!(h.applied().len(), 2, "one re-apply per restart");
    h.stop().await;
}

#[tokio::test]
async fn a_burst_of_changes_collapses_into_few_applies() {
    let h = start("node-21", Some(seed()));
    until("first apply", || h.applied().len() == 1).await;
    // 20 flips inside the coalescing window end on the withdrawn state.
    for i in 0..20 {
        let s = if i % 2 == 0 {
            seed()
        } else {
            seed_without_node21_endpoint()
        };
        h.tx.send_replace(Some(Arc::new(s)));
    }
    until("the withdrawal", || {
        h.applied()
            .last()
            .is_some_and(|c| !c.contains("network 203.0.113.0/32"))
    })
    .await;
    let applies = h.applied().len();
    assert!(applies <= 3, "20 changes gave {applies} applies");
    h.stop().await;
}

#[tokio::test]
async fn a_failed_apply_is_retried_and_reported() {
    let h = start("node-22", None);
    h.frr.0.lock().unwrap().fail_next = 2;
    h.tx.send_replace(Some(Arc::new(seed())));
    until("a failure is published", || {
        h.last_published()
            .and_then(|o| o.node)
            .and_then(|n| n.status)
            .is_some_and(|s| {
                s.apply_result == "Failed"
                    && s.apply_message.as_deref() == Some("% Unknown command: bogus")
            })
    })
    .await;
    until("the retry succeeds", || h.applied().len() == 1).await;
    until("success is published", || {
        h.last_published()
            .and_then(|o| o.node)
            .and_then(|n| n.status)
            .is_some_and(|s| s.apply_result == "Success" && s.generation == 1)
    })
    .await;
    h.stop().await;
}

/// A change FRR refuses, then reverted: the last good config is what FRR runs again, and
/// status says so (not the stale failure).
#[tokio::test]
async fn reverting_a_refused_change_clears_the_failure() {
    let h = start("node-21", Some(seed()));
    until("first apply", || h.applied().len() == 1).await;
    h.frr.0.lock().unwrap().fail_next = usize::MAX;
    h.tx.send_replace(Some(Arc::new(seed_without_node21_endpoint())));
    let failed = |o: &StatusObjects| {
        o.node
            .as_ref()
            .and_then(|n| n.status.as_ref())
            .is_some_and(|s| s.apply_result == "Failed")
    };
    until("the failure is published", || {
        h.last_published().is_some_and(|o| failed(&o))
    })
    .await;
    // Back to what FRR runs; the culprit gone, FRR takes applies again.
    h.tx.send_replace(Some(Arc::new(seed())));
    tokio::time::sleep(Duration::from_millis(100)).await;
    h.frr.0.lock().unwrap().fail_next = 0;
    until("success is published again", || {
        h.last_published().is_some_and(|o| !failed(&o))
    })
    .await;
    let applied = h.applied();
    assert_eq!(applied.len(), 2, "one verifying apply of the good config");
    assert_eq!(applied[0], applied[1]);
    h.stop().await;
}

#[tokio::test]
async fn status_follows_frr_and_is_written_only_on_change() {
    let h = start("node-21", Some(seed()));
    until("first apply", || h.applied().len() == 1).await;
    {
        let mut s = h.frr.0.lock().unwrap();
        s.state = FrrState {
            version: "8.4.4".into(),
            sessions: vec![SessionState {
                neighbor: "10.0.0.1".into(),
                bgp_state: "Established".into(),
                established_epoch: Some(1_764_115_200),
                prefixes_sent: 1,
                bfd: Some("up".into()),
                ..Default::default()
            }],
        };
    }
    until("tor1 Established in status", || {
        h.last_published().is_some_and(|o| {
            o.sessions.iter().any(|s| {
                s.spec.peer == "tor1"
                    && s.status.as_ref().is_some_and(|st| {
                        st.bgp == "Established" && st.bfd == "up" && st.prefixes_sent == 1
                    })
            })
        })
    })
    .await;
    let published = h.publishes();
    let reads = h.reads();
    until("more polls", || h.reads() >= reads + 5).await;
    assert_eq!(
        h.publishes(),
        published,
        "unchanged state must not be written again"
    );

    let last = h.last_published().unwrap();
    let tor2 = last
        .sessions
        .iter()
        .find(|s| s.spec.peer == "tor2")
        .unwrap();
    assert_eq!(tor2.status.as_ref().unwrap().bgp, "NotConfigured");
    let web = &last.announcements[0];
    assert_eq!(web.spec.service, "default/web");
    assert_eq!(web.status.as_ref().unwrap().state, "Announced");
    assert_eq!(web.status.as_ref().unwrap().peers, ["tor1", "tor2"]);
    let node = last.node.unwrap().status.unwrap();
    assert_eq!(node.frr_version, "8.4.4");
    assert_eq!(node.apply_result, "Success");
    h.stop().await;
}

#[tokio::test]
async fn a_node_without_endpoints_publishes_why() {
    let h = start("node-23", Some(seed()));
    until("withdrawn announcement", || {
        h.last_published().is_some_and(|o| {
            o.announcements.iter().any(|a| {
                a.status.as_ref().is_some_and(|s| {
                    s.state == "Withdrawn"
                        && s.reason
                            .as_deref()
                            .is_some_and(|r| r.contains("no serving endpoint runs on this node"))
                })
            })
        })
    })
    .await;
    h.stop().await;
}

/// A status sink that never answers, as a hung API server would.
struct HungSink;

impl ferrule::StatusSink for HungSink {
    async fn publish(&mut self, _: &StatusObjects) -> Result<usize, ferrule::SinkError> {
        std::future::pending().await
    }
}

/// Status writes that hang never hold up an apply: the second change is applied while the
/// first status write is still waiting.
#[tokio::test]
async fn a_hung_status_sink_never_stalls_applies() {
    let frr = FakeFrr::default();
    let (tx, rx) = watch::channel(Some(Arc::new(seed())));
    let (stop, stop_rx) = watch::channel(false);
    let mut cfg = node21_config();
    cfg.coalesce = Duration::from_millis(10);
    cfg.poll_interval = Duration::from_millis(20);
    let task = tokio::spawn(engine::run(
        cfg,
        rx,
        frr.clone(),
        HungSink,
        Metrics::new(),
        stop_rx,
    ));
    let applied = || frr.0.lock().unwrap().applied.clone();
    until("first apply", || applied().len() == 1).await;
    tx.send_replace(Some(Arc::new(seed_without_node21_endpoint())));
    until("the change applied", || applied().len() == 2).await;
    assert!(
        !applied()[1].contains("network 203.0.113.0/32"),
        "withdrawn"
    );
    tx.send_replace(Some(Arc::new(seed())));
    until("and back", || applied().len() == 3).await;
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the engine stops although status is stuck")
        .unwrap();
}

/// With nothing changing, status is still re-stamped every heartbeat, so `observedAt` (the
/// `Reported` column) shows a live speaker as live and a stopped one as stopped.
#[tokio::test]
async fn status_is_restamped_every_heartbeat() {
    let frr = FakeFrr::default();
    let sink = MemorySink::default();
    let (_tx, rx) = watch::channel(Some(Arc::new(seed())));
    let (stop, stop_rx) = watch::channel(false);
    let mut cfg = node21_config();
    cfg.poll_interval = Duration::from_millis(20);
    cfg.heartbeat = Duration::from_secs(1);
    let task = tokio::spawn(engine::run(
        cfg,
        rx,
        frr.clone(),
        sink.clone(),
        Metrics::new(),
        stop_rx,
    ));
    let stamp = |o: &ferrule::StatusObjects| {
        o.node
            .as_ref()
            .and_then(|n| n.status.as_ref())
            .and_then(|s| s.observed_at.clone())
    };
    until("first status", || sink.last().is_some()).await;
    let first = stamp(&sink.last().unwrap()).expect("observedAt set");
    let writes = sink.count();
    until("a heartbeat re-stamp", || {
        sink.last()
            .and_then(|o| stamp(&o))
            .is_some_and(|t| t > first)
    })
    .await;
    // Polls in between (every 20 ms, ~50 of them) wrote nothing: one publish per beat.
    assert!(
        sink.count() - writes <= 2,
        "{} publishes in one heartbeat",
        sink.count() - writes
    );
    let last = sink.last().unwrap();
    for s in &last.sessions {
        assert_eq!(
            s.status.as_ref().unwrap().observed_at.as_deref(),
            stamp(&last).as_deref()
        );
    }
    stop.send(true).unwrap();
    task.await.unwrap();
}

/// `/readyz` turns false when FRR stops answering, and `/healthz` when the engine loop
/// itself stops making progress (a liveness probe then restarts the speaker).
#[tokio::test]
async fn health_reports_an_unreachable_frr_and_a_wedged_engine() {
    let frr = FakeFrr::default();
    let (_tx, rx) = watch::channel(Some(Arc::new(seed())));
    let (stop, stop_rx) = watch::channel(false);
    let mut cfg = node21_config();
    cfg.poll_interval = Duration::from_millis(20);
    let metrics = Metrics::new();
    metrics.set_wedge_after(Duration::from_millis(300));
    let task = tokio::spawn(engine::run(
        cfg,
        rx,
        frr.clone(),
        MemorySink::default(),
        metrics.clone(),
        stop_rx,
    ));
    until("ready after the first apply", || {
        metrics.readiness().is_ok()
    })
    .await;
    assert_eq!(metrics.healthy(), Ok(()));

    frr.0.lock().unwrap().unreachable = true;
    until("not ready while FRR does not answer", || {
        metrics
            .readiness()
            .is_err_and(|e| e.contains("FRR did not answer"))
    })
    .await;
    assert_eq!(
        metrics.healthy(),
        Ok(()),
        "an unreachable FRR is no wedged loop"
    );
    frr.0.lock().unwrap().unreachable = false;
    until("ready again", || metrics.readiness().is_ok()).await;

    frr.0.lock().unwrap().hang_reads = true;
    until("unhealthy once the loop stops moving", || {
        metrics
            .healthy()
            .is_err_and(|e| e.contains("engine wedged"))
    })
    .await;
    assert!(metrics.readiness().is_err());
    task.abort();
    drop(stop);
}

/// An FRR whose daemons never answer (SIGSTOPped): applies hang, and state reads too when
/// `reads_hang`; counts the hanging calls begun.
#[derive(Clone, Default)]
struct WedgedFrr {
    begun: Arc<std::sync::atomic::AtomicUsize>,
    reads_hang: bool,
}

impl ferrule::Frr for WedgedFrr {
    async fn apply(&mut self, _: &ferrule::Rendered) -> ferrule::Applied {
        self.begun.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        std::future::pending().await
    }
    async fn read_state(&mut self) -> Result<FrrState, ferrule::StatusError> {
        if !self.reads_hang {
            return Ok(FrrState::default());
        }
        self.begun.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        std::future::pending().await
    }
}

/// Shutdown does not wait for FRR: an apply or a poll in flight to a wedged daemon is
/// dropped, and the engine returns at once.
#[tokio::test]
async fn shutdown_does_not_wait_for_a_wedged_frr() {
    for (what, initial) in [("apply", Some(seed())), ("poll", None)] {
        let frr = WedgedFrr {
            reads_hang: initial.is_none(),
            ..WedgedFrr::default()
        };
        let (_tx, rx) = watch::channel(initial.map(Arc::new));
        let (stop, stop_rx) = watch::channel(false);
        let mut cfg = EngineConfig::new("node-21", "metallb-system");
        cfg.addresses = ferrule::Addresses::Allocate;
        cfg.coalesce = Duration::from_millis(10);
        cfg.poll_interval = Duration::from_millis(20);
        let task = tokio::spawn(engine::run(
            cfg,
            rx,
            frr.clone(),
            MemorySink::default(),
            Metrics::new(),
            stop_rx,
        ));
        until(&format!("a {what} in flight"), || {
            frr.begun.load(std::sync::atomic::Ordering::SeqCst) > 0
        })
        .await;
        let t = tokio::time::Instant::now();
        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(1), task)
            .await
            .unwrap_or_else(|_| panic!("the engine waited for a wedged {what}"))
            .unwrap();
        eprintln!("stopped with a {what} in flight after {:?}", t.elapsed());
    }
}

/// Leading edge: a change after a quiet spell is applied at once, not after the coalescing
/// window; a burst that is still arriving waits the window out and makes one more apply.
#[tokio::test(start_paused = true)]
async fn an_isolated_change_skips_the_coalescing_window() {
    let frr = FakeFrr::default();
    let (tx, rx) = watch::channel(Some(Arc::new(seed())));
    let (stop, stop_rx) = watch::channel(false);
    let mut cfg = node21_config();
    cfg.coalesce = Duration::from_millis(500);
    cfg.poll_interval = Duration::from_secs(3600);
    let task = tokio::spawn(engine::run(
        cfg,
        rx,
        frr.clone(),
        MemorySink::default(),
        Metrics::new(),
        stop_rx,
    ));
    let applied = || frr.0.lock().unwrap().applied.len();
    until("first apply", || applied() == 1).await;
    tokio::time::sleep(Duration::from_secs(1)).await; // quiet

    let t = tokio::time::Instant::now();
    tx.send_replace(Some(Arc::new(seed_without_node21_endpoint())));
    until("the isolated change applied", || applied() == 2).await;
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "waited {:?}, the whole window",
        t.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;

    // A burst: ten changes 1 ms apart. The first goes at once, the rest in one more apply.
    for i in 0..10 {
        let s = if i % 2 == 0 {
            seed()
        } else {
            seed_without_node21_endpoint()
        };
        tx.send_replace(Some(Arc::new(s)));
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let burst = applied() - 2;
    assert!(
        (1..=2).contains(&burst),
        "{burst} applies for a burst of 10"
    );
    stop.send(true).unwrap();
    task.await.unwrap();
}
