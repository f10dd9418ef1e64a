//! Allocation speed: 10,000 Services over /16 pools (and a /64), cold and at steady state.
//! Prints figures; `cargo bench --bench allocate`.

use std::collections::{BTreeMap, BTreeSet};
use std::hint::black_box;
use std::time::{Duration, Instant};

use ferrule::allocate;
use ferrule::model::{
    IpFamily, IpFamilyPolicy, IpRange, Labels, Pool, Service, ServiceKey, ServicePort,
};

fn pool(name: &str, first: &str, last: &str, avoid: bool) -> Pool {
    Pool {
        name: name.into(),
        labels: Labels::new(),
        ranges: vec![IpRange {
            first: first.parse().unwrap(),
            last: last.parse().unwrap(),
        }],
        cidrs: vec![],
        auto_assign: true,
        avoid_buggy_ips: avoid,
        allocation: None,
    }
}

fn service(i: usize, families: &[IpFamily], policy: IpFamilyPolicy) -> Service {
    Service {
        key: ServiceKey::new(&format!("ns{}", i % 50), &format!("svc{i:05}")),
        labels: Labels::new(),
        is_ours: true,
        etp_local: false,
        requested_ips: vec![],
        requested_pool: None,
        // Every tenth Service shares with its neighbour on another port.
        sharing_key: (i % 10 < 2).then(|| format!("k{}", i / 10)),
        ports: BTreeSet::from([ServicePort {
            protocol: "TCP".into(),
            port: 80 + (i % 2) as i32,
        }]),
        selector: Labels::new(),
        ip_families: families.to_vec(),
        ip_family_policy: policy,
        current_ips: vec![],
        current_pool: None,
    }
}

/// Median of `runs` timings of `f`.
fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut t: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    t.sort();
    t[runs / 2]
}

fn main() {
    let pools: BTreeMap<String, Pool> = [
        pool("a", "10.20.0.0", "10.20.255.255", true),
        pool("b", "10.21.0.0", "10.21.255.255", false),
        pool("v6", "2001:db8::", "2001:db8::ffff:ffff:ffff:ffff", false),
    ]
    .into_iter()
    .map(|p| (p.name.clone(), p))
    .collect();
    let ns = BTreeMap::new();
    let n = 10_000;
    let cases: [(&str, &[IpFamily], IpFamilyPolicy); 2] = [
        ("IPv4", &[IpFamily::V4], IpFamilyPolicy::SingleStack),
        (
            "dual-stack",
            &[IpFamily::V4, IpFamily::V6],
            IpFamilyPolicy::PreferDualStack,
        ),
    ];
    for (label, families, policy) in cases {
        let cold: Vec<Service> = (0..n).map(|i| service(i, families, policy)).collect();
        let out = allocate(&pools, &BTreeMap::new(), &cold, &ns);
        assert!(out.failed.is_empty(), "{:?}", out.failed.values().next());
        let steady: Vec<Service> = cold
            .iter()
            .map(|s| {
                let mut s = s.clone();
                s.current_ips = out.assigned[&s.key].ips.clone();
                s
            })
            .collect();
        let mut plus_one = steady.clone();
        plus_one.push(service(n, families, policy));

        let t_cold = median(5, || {
            black_box(allocate(&pools, &BTreeMap::new(), black_box(&cold), &ns));
        });
        let t_steady = median(5, || {
            black_box(allocate(&pools, &BTreeMap::new(), black_box(&steady), &ns));
        });
        let t_plus = median(5, || {
            black_box(allocate(
                &pools,
                &BTreeMap::new(),
                black_box(&plus_one),
                &ns,
            ));
        });
        println!(
            "allocate {n} {label} Services: cold {:.1} ms, steady state {:.1} ms, one added {:.1} ms",
            t_cold.as_secs_f64() * 1e3,
            t_steady.as_secs_f64() * 1e3,
            t_plus.as_secs_f64() * 1e3,
        );
    }
}
