//! Render time of a large node config: 10,000 announced /32s to 2 peers in 4 attribute sets.
//! Prints the median over repeated runs; the target is < 50 ms.

use std::collections::BTreeSet;
use std::hint::black_box;
use std::time::{Duration, Instant};

use ferrule::model::{BfdProfile, Community, PeerAddress, RemoteAs, Timers};
use ferrule::{render, Announcement, Neighbor, NodeIntent, Router};

const PREFIXES: u32 = 10_000;
const RUNS: usize = 31;

fn intent() -> NodeIntent {
    let sets: [(BTreeSet<Community>, Option<u32>); 4] = [
        ([Community::Standard(65000, 100)].into(), Some(100)),
        ([Community::Standard(65000, 200)].into(), None),
        ([Community::Large(65000, 1, 2)].into(), Some(200)),
        (BTreeSet::new(), None),
    ];
    let announcements: Vec<Announcement> = (0..PREFIXES)
        .map(|i| {
            let (communities, local_pref) = sets[(i % 4) as usize].clone();
            Announcement {
                prefix: format!("10.{}.{}.{}/32", 100 + i / 65536, (i / 256) % 256, i % 256)
                    .parse()
                    .unwrap(),
                communities,
                local_pref,
                services: Vec::new(),
            }
        })
        .collect();
    let neighbor = |name: &str, addr: &str| Neighbor {
        peer: name.into(),
        address: PeerAddress::Ip(addr.parse().unwrap()),
        remote_as: RemoteAs::Asn(65000),
        local_as: None,
        port: None,
        timers: Some(Timers {
            keepalive: 3,
            hold: 9,
        }),
        connect_time: Some(5),
        password: None,
        keep_password: false,
        source_address: None,
        ebgp_multihop: false,
        bfd_profile: Some("tor".into()),
        bfd: true,
        graceful_restart: false,
        ipv4: true,
        ipv6: false,
        announcements: announcements.clone(),
    };
    NodeIntent {
        node: "node1".into(),
        routers: vec![Router {
            vrf: None,
            asn: 65100,
            router_id: None,
            neighbors: vec![neighbor("tor1", "192.0.2.1"), neighbor("tor2", "192.0.2.2")],
        }],
        bfd_profiles: vec![BfdProfile {
            name: "tor".into(),
            receive_interval: Some(100),
            transmit_interval: Some(100),
            ..BfdProfile::default()
        }],
        withheld: Vec::new(),
    }
}

fn main() {
    let intent = intent();
    let config = render(&intent).expect("renders");
    // To time FRR loading it: FERRULE_BENCH_DUMP=/path cargo bench --bench render
    if let Some(path) = std::env::var_os("FERRULE_BENCH_DUMP") {
        std::fs::write(path, &config).expect("writes the dump");
    }
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            black_box(render(black_box(&intent)).expect("renders"));
            start.elapsed()
        })
        .collect();
    times.sort();
    let median = times[RUNS / 2];
    let route_map_entries = config
        .lines()
        .filter(|l| l.starts_with("route-map "))
        .count();
    println!(
        "render: {PREFIXES} prefixes x 2 peers: median {:.1} ms (target < 50 ms), config {} bytes, {route_map_entries} route-map entries",
        median.as_secs_f64() * 1e3,
        config.len(),
    );
}
