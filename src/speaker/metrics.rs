//! Prometheus metrics and the `/metrics`, `/healthz`, `/readyz` endpoints.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use super::state::FrrState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SessionLabels {
    pub vrf: String,
    pub neighbor: String,
}

/// The speaker's metrics. Cheap to clone (everything inside is shared).
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Mutex<Registry>>,
    pub session_up: Family<SessionLabels, Gauge>,
    pub bfd_up: Family<SessionLabels, Gauge>,
    pub prefixes_sent: Family<SessionLabels, Gauge>,
    pub prefixes_received: Family<SessionLabels, Gauge>,
    pub apply_duration: Histogram,
    pub apply_errors: Counter,
    pub applies: Counter,
    pub reconciles: Counter,
    pub status_writes: Counter,
    ready: Arc<AtomicBool>,
    health: Arc<Health>,
}

/// What `/healthz` and `/readyz` answer from: the engine loop's last sign of progress
/// (a poll or an apply that finished) and whether FRR answered the last poll.
struct Health {
    started: std::time::Instant,
    /// Milliseconds after `started` of the last progress.
    last_progress_ms: AtomicU64,
    frr_reachable: AtomicBool,
    wedge_after_ms: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// A loop that has not moved for this long is wedged (a poll every 500 ms; an FRR call is
/// bounded by its own, shorter timeout).
pub const DEFAULT_WEDGE_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("ferrule");
        let m = Metrics {
            registry: Arc::new(Mutex::new(Registry::default())),
            session_up: Family::default(),
            bfd_up: Family::default(),
            prefixes_sent: Family::default(),
            prefixes_received: Family::default(),
            // 1 ms .. ~16 s: applies are milliseconds, frr-reload.py-style outliers are seconds.
            apply_duration: Histogram::new(
                prometheus_client::metrics::histogram::exponential_buckets(0.001, 2.0, 15),
            ),
            apply_errors: Counter::default(),
            applies: Counter::default(),
            reconciles: Counter::default(),
            status_writes: Counter::default(),
            ready: Arc::new(AtomicBool::new(false)),
            health: Arc::new(Health {
                started: std::time::Instant::now(),
                last_progress_ms: AtomicU64::new(0),
                frr_reachable: AtomicBool::new(true),
                wedge_after_ms: AtomicU64::new(DEFAULT_WEDGE_AFTER.as_millis() as u64),
            }),
        };
        registry.register(
            "bgp_session_up",
            "1 when the BGP session is Established",
            m.session_up.clone(),
        );
        registry.register(
            "bfd_session_up",
            "1 when the BFD session is up",
            m.bfd_up.clone(),
        );
        registry.register(
            "bgp_prefixes_sent",
            "Prefixes sent to the peer",
            m.prefixes_sent.clone(),
        );
        registry.register(
            "bgp_prefixes_received",
            "Prefixes received from the peer",
            m.prefixes_received.clone(),
        );
        registry.register(
            "frr_apply_duration_seconds",
            "Time to bring FRR to the desired config",
            m.apply_duration.clone(),
        );
        registry.register("frr_apply_errors", "Failed applies", m.apply_errors.clone());
        registry.register(
            "frr_applies",
            "Applies that sent commands",
            m.applies.clone(),
        );
        registry.register(
            "reconciles",
            "Recomputations of the node's config",
            m.reconciles.clone(),
        );
        registry.register(
            "status_writes",
            "Status objects written",
            m.status_writes.clone(),
        );
        *m.registry.lock().expect("fresh mutex") = registry;
        m
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// The engine loop finished a poll or an apply.
    pub fn progress(&self) {
        let h = &self.health;
        h.last_progress_ms
            .store(h.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// Whether FRR answered the last poll.
    pub fn set_frr_reachable(&self, ok: bool) {
        self.health.frr_reachable.store(ok, Ordering::Relaxed);
    }

    /// How long the loop may go without progress before `/healthz` fails.
    pub fn set_wedge_after(&self, d: std::time::Duration) {
        self.health
            .wedge_after_ms
            .store(d.as_millis() as u64, Ordering::Relaxed);
    }

    /// `/healthz`: Err(why) when the engine loop has made no progress for too long (a
    /// liveness probe then restarts the speaker; FRR keeps its config meanwhile).
    pub fn healthy(&self) -> Result<(), String> {
        let h = &self.health;
        let now = h.started.elapsed().as_millis() as u64;
        let idle = now.saturating_sub(h.last_progress_ms.load(Ordering::Relaxed));
        let limit = h.wedge_after_ms.load(Ordering::Relaxed);
        if idle > limit {
            return Err(format!(
                "engine wedged: no poll or apply finished for {:.1} s (limit {:.1} s)",
                idle as f64 / 1000.0,
                limit as f64 / 1000.0
            ));
        }
        Ok(())
    }

    /// `/readyz`: the first apply succeeded, FRR answers, and the loop is not wedged.
    pub fn readiness(&self) -> Result<(), String> {
        self.healthy()?;
        if !self.is_ready() {
            return Err("not ready: no config applied yet".into());
        }
        if !self.health.frr_reachable.load(Ordering::Relaxed) {
            return Err("not ready: FRR did not answer the last poll".into());
        }
        Ok(())
    }

    /// Mirrors FRR's sessions into the gauges; sessions that vanished are removed.
    pub fn observe(&self, state: &FrrState) {
        self.session_up.clear();
        self.bfd_up.clear();
        self.prefixes_sent.clear();
        self.prefixes_received.clear();
        for s in &state.sessions {
            let l = SessionLabels {
                vrf: s.vrf.clone().unwrap_or_else(|| "default".into()),
                neighbor: s.neighbor.clone(),
            };
            self.session_up
                .get_or_create(&l)
                .set(i64::from(s.bgp_state == "Established"));
            if let Some(bfd) = &s.bfd {
                self.bfd_up.get_or_create(&l).set(i64::from(bfd == "up"));
            }
            self.prefixes_sent
                .get_or_create(&l)
                .set(s.prefixes_sent as i64);
            self.prefixes_received
                .get_or_create(&l)
                .set(s.prefixes_received as i64);
        }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().expect("metrics registry lock");
        prometheus_client::encoding::text::encode(&mut out, &registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// Serves `/metrics`, `/healthz` (the process answers) and `/readyz` (initial sync done and
/// the first apply succeeded) until the listener is dropped.
pub async fn serve(listener: TcpListener, metrics: Metrics) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let metrics = metrics.clone();
                async move { Ok::<_, Infallible>(respond(&req, &metrics)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn respond<B>(req: &Request<B>, metrics: &Metrics) -> Response<Full<Bytes>> {
    let (status, body) = match req.uri().path() {
        "/metrics" => (StatusCode::OK, metrics.encode()),
        "/healthz" => match metrics.healthy() {
            Ok(()) => (StatusCode::OK, "ok\n".to_string()),
            Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")),
        },
        "/readyz" => match metrics.readiness() {
            Ok(()) => (StatusCode::OK, "ready\n".to_string()),
            Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")),
        },
        _ => (StatusCode::NOT_FOUND, "not found\n".to_string()),
    };
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; version=0.0.4")
        .body(Full::new(Bytes::from(body)))
        .expect("static response parts are valid")
}

pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
