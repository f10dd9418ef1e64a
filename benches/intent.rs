//! Time and peak memory of one node's intent in a large synthetic cluster.
//! Run with `cargo bench --bench intent`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use ferrule::model::Community;
use ferrule::node_intent;
use support::fixtures::{adv, ep, node, peer, pool, service, Fixture};

/// Counts live heap bytes and their high-water mark.
struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = CURRENT.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const SERVICES: usize = 10_000;
const ENDPOINTS_PER_SERVICE: usize = 10;
const NODES: usize = 100;
const RUNS: usize = 21;

/// CPU time this thread has used, from /proc (Linux); wall time alone misleads when other
/// builds share the cores.
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

fn mb(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn node_name(i: usize) -> String {
    format!("node-{i:03}")
}

/// 2 peers, one /16 pool, one advertisement; half the Services ETP Local; endpoints spread
/// round-robin over the nodes so every node hosts some of every tenth Service.
fn build() -> Fixture {
    let base = u32::from(Ipv4Addr::new(198, 18, 0, 0));
    let mut f = Fixture::default();
    f.add_pool(pool("bench", "198.18.0.0/16"))
        .add_peer(peer("tor1", "192.0.2.1"))
        .add_peer(peer("tor2", "192.0.2.2"));
    let mut a = adv("bench", &["bench"]);
    a.local_pref = Some(100);
    a.communities.insert(Community::Standard(65000, 100));
    f.add_adv(a);
    for i in 0..NODES {
        f.add_node(node(&node_name(i)));
    }
    for i in 0..SERVICES {
        let svc = service(&format!("ns-{}/svc-{i:05}", i % 50), i % 2 == 0);
        let ip = Ipv4Addr::from(base + 1 + i as u32).to_string();
        let eps = (0..ENDPOINTS_PER_SERVICE)
            .map(|j| ep(&node_name((i * 7 + j * 13) % NODES), j != 0))
            .collect();
        f.add_service(svc, "bench", &[&ip], eps);
    }
    f
}

fn main() {
    let cluster = build();
    let build_peak = PEAK.load(Ordering::Relaxed);
    let view = cluster.view();
    let endpoints: usize = cluster.endpoints.values().map(Vec::len).sum();
    let node = node_name(42);

    let runs = std::env::var("INTENT_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .filter(|&r: &usize| r > 0)
        .unwrap_or(RUNS);
    let mut times = Vec::with_capacity(runs);
    let mut cpu_times = Vec::with_capacity(runs);
    let mut call_peak = 0;
    let mut shape = (0, 0);
    for _ in 0..runs {
        let before = CURRENT.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let cpu_start = thread_cpu_ns();
        let start = Instant::now();
        let intent = std::hint::black_box(node_intent(&view, &node));
        times.push(start.elapsed().as_secs_f64() * 1e3);
        if let (Some(a), Some(b)) = (cpu_start, thread_cpu_ns()) {
            cpu_times.push((b - a) as f64 / 1e6);
        }
        call_peak = call_peak.max(PEAK.load(Ordering::Relaxed) - before);
        let announced = intent.routers[0].neighbors[0].announcements.len();
        shape = (announced, intent.withheld.len());
        drop(intent);
    }
    times.sort_by(f64::total_cmp);
    cpu_times.sort_by(f64::total_cmp);
    let median = times[runs / 2];
    let cpu = cpu_times
        .get(runs / 2)
        .map_or("n/a".to_string(), |c| format!("{c:.2} ms"));
    // The process-wide peak: building the input, or the input plus the largest call.
    let process_peak = build_peak.max(CURRENT.load(Ordering::Relaxed) + call_peak);

    println!(
        "intent: {SERVICES} services, {endpoints} endpoints, {NODES} nodes: median {median:.2} ms, \
         peak {:.2} MB (target < 100 ms, < 64 MB)",
        mb(call_peak)
    );
    println!(
        "intent: {node}: {} prefixes per neighbor, {} withheld; wall min {:.2} ms, max {:.2} ms, \
         median CPU {cpu} over {runs} runs; process peak incl. input {:.1} MB",
        shape.0,
        shape.1,
        times[0],
        times[runs - 1],
        mb(process_peak)
    );
}
