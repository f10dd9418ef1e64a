//! IP allocation: one table per rule family, plus properties over random clusters.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ferrule::model::{
    Assignment, IpFamily, IpFamilyPolicy, IpRange, Labels, Pool, PoolAllocation, Requirement,
    Selector, Service, ServiceKey, ServicePort,
};
use ferrule::{allocate, pool_usage, Allocation, AllocationError, PoolUsage};
use ipnet::IpNet;
use proptest::prelude::*;

// ---------------------------------------------------------------- builders

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// `a-b` or a CIDR.
fn range(s: &str) -> IpRange {
    match s.split_once('-') {
        Some((a, b)) => IpRange {
            first: ip(a),
            last: ip(b),
        },
        None => {
            let net: IpNet = s.parse().unwrap();
            IpRange {
                first: net.network(),
                last: net.broadcast(),
            }
        }
    }
}

fn pool(name: &str, addrs: &[&str]) -> Pool {
    Pool {
        name: name.into(),
        labels: Labels::new(),
        ranges: addrs.iter().map(|a| range(a)).collect(),
        cidrs: vec![],
        auto_assign: true,
        avoid_buggy_ips: false,
        allocation: None,
    }
}

fn eq_selector(k: &str, v: &str) -> Selector {
    Selector {
        requirements: vec![Requirement::In(k.into(), BTreeSet::from([v.to_string()]))],
    }
}

trait PoolExt {
    fn manual(self) -> Self;
    fn avoid_buggy(self) -> Self;
    fn priority(self, p: i32) -> Self;
    fn namespaces(self, ns: &[&str]) -> Self;
    fn ns_selector(self, k: &str, v: &str) -> Self;
    fn svc_selector(self, k: &str, v: &str) -> Self;
}

fn alloc_of(p: &mut Pool) -> &mut PoolAllocation {
    p.allocation.get_or_insert_with(PoolAllocation::default)
}

impl PoolExt for Pool {
    fn manual(mut self) -> Self {
        self.auto_assign = false;
        self
    }
    fn avoid_buggy(mut self) -> Self {
        self.avoid_buggy_ips = true;
        self
    }
    fn priority(mut self, p: i32) -> Self {
        alloc_of(&mut self).priority = Some(p);
        self
    }
    fn namespaces(mut self, ns: &[&str]) -> Self {
        alloc_of(&mut self)
            .namespaces
            .extend(ns.iter().map(|s| s.to_string()));
        self
    }
    fn ns_selector(mut self, k: &str, v: &str) -> Self {
        alloc_of(&mut self)
            .namespace_selectors
            .push(eq_selector(k, v));
        self
    }
    fn svc_selector(mut self, k: &str, v: &str) -> Self {
        alloc_of(&mut self)
            .service_selectors
            .push(eq_selector(k, v));
        self
    }
}

fn key(s: &str) -> ServiceKey {
    let (ns, name) = s.split_once('/').unwrap();
    ServiceKey::new(ns, name)
}

/// An IPv4 single-stack Service of ours on TCP/80.
fn svc(k: &str) -> Service {
    Service {
        key: key(k),
        labels: Labels::new(),
        is_ours: true,
        etp_local: false,
        requested_ips: vec![],
        requested_pool: None,
        sharing_key: None,
        ports: BTreeSet::from([port("TCP", 80)]),
        selector: Labels::new(),
        ip_families: vec![IpFamily::V4],
        ip_family_policy: IpFamilyPolicy::SingleStack,
        current_ips: vec![],
        current_pool: None,
    }
}

fn port(proto: &str, port: i32) -> ServicePort {
    ServicePort {
        protocol: proto.into(),
        port,
    }
}

trait SvcExt {
    fn ips(self, ips: &[&str]) -> Self;
    fn pool(self, p: &str) -> Self;
    fn share(self, k: &str) -> Self;
    fn ports(self, ports: &[(&str, i32)]) -> Self;
    fn local(self, app: &str) -> Self;
    fn families(self, f: &[IpFamily], policy: IpFamilyPolicy) -> Self;
    fn current(self, ips: &[&str]) -> Self;
    fn label(self, k: &str, v: &str) -> Self;
    fn not_ours(self) -> Self;
}

impl SvcExt for Service {
    fn ips(mut self, ips: &[&str]) -> Self {
        self.requested_ips = ips.iter().map(|s| ip(s)).collect();
        self
    }
    fn pool(mut self, p: &str) -> Self {
        self.requested_pool = Some(p.into());
        self
    }
    fn share(mut self, k: &str) -> Self {
        self.sharing_key = Some(k.into());
        self
    }
    fn ports(mut self, ports: &[(&str, i32)]) -> Self {
        self.ports = ports.iter().map(|(p, n)| port(p, *n)).collect();
        self
    }
    fn local(mut self, app: &str) -> Self {
        self.etp_local = true;
        self.selector = Labels::from([("app".to_string(), app.to_string())]);
        self
    }
    fn families(mut self, f: &[IpFamily], policy: IpFamilyPolicy) -> Self {
        self.ip_families = f.to_vec();
        self.ip_family_policy = policy;
        self
    }
    fn current(mut self, ips: &[&str]) -> Self {
        self.current_ips = ips.iter().map(|s| ip(s)).collect();
        self
    }
    fn label(mut self, k: &str, v: &str) -> Self {
        self.labels.insert(k.into(), v.into());
        self
    }
    fn not_ours(mut self) -> Self {
        self.is_ours = false;
        self
    }
}

use IpFamily::{V4, V6};
use IpFamilyPolicy::{PreferDualStack, RequireDualStack, SingleStack};

fn pools_map(pools: Vec<Pool>) -> BTreeMap<String, Pool> {
    pools.into_iter().map(|p| (p.name.clone(), p)).collect()
}

fn ns_labels(entries: &[(&str, &str, &str)]) -> BTreeMap<String, Labels> {
    let mut m: BTreeMap<String, Labels> = BTreeMap::new();
    for (ns, k, v) in entries {
        m.entry(ns.to_string())
            .or_default()
            .insert(k.to_string(), v.to_string());
    }
    m
}

// ---------------------------------------------------------------- table runner

#[derive(Debug)]
enum Want {
    /// Pool and addresses (sorted, IPv4 first).
    Got(&'static str, &'static [&'static str]),
    /// The error message contains each of these.
    Fails(&'static [&'static str]),
    /// Neither assigned nor failed.
    Absent,
}
use Want::{Absent, Fails, Got};

struct Case {
    name: &'static str,
    pools: Vec<Pool>,
    services: Vec<Service>,
    ns: &'static [(&'static str, &'static str, &'static str)],
    want: Vec<(&'static str, Want)>,
}

fn run(cases: Vec<Case>) {
    for c in cases {
        let pools = pools_map(c.pools);
        let out = allocate(&pools, &BTreeMap::new(), &c.services, &ns_labels(c.ns));
        for svc in &c.services {
            let both = out.assigned.contains_key(&svc.key) && out.failed.contains_key(&svc.key);
            assert!(!both, "{}: {} both assigned and failed", c.name, svc.key);
        }
        for (k, want) in &c.want {
            let k = key(k);
            let (got, err) = (out.assigned.get(&k), out.failed.get(&k));
            match want {
                Got(pool, ips) => {
                    let expected = Assignment {
                        pool: pool.to_string(),
                        ips: ips.iter().map(|s| ip(s)).collect(),
                    };
                    assert_eq!(got, Some(&expected), "{}: {k} (error: {err:?})", c.name);
                }
                Fails(parts) => {
                    let msg = err
                        .unwrap_or_else(|| panic!("{}: {k} should fail, got {got:?}", c.name))
                        .to_string();
                    for part in *parts {
                        assert!(
                            msg.contains(part),
                            "{}: {k}: {msg:?} lacks {part:?}",
                            c.name
                        );
                    }
                }
                Absent => assert!(
                    got.is_none() && err.is_none(),
                    "{}: {k} should be ignored, got {got:?} {err:?}",
                    c.name
                ),
            }
        }
    }
}

// ---------------------------------------------------------------- pools and candidates

#[test]
fn pool_selection() {
    run(vec![
        Case {
            name: "lowest free address, in key order",
            pools: vec![pool("a", &["10.0.0.0/30"])],
            services: vec![svc("ns/b"), svc("ns/a")],
            ns: &[],
            want: vec![
                ("ns/a", Got("a", &["10.0.0.0"])),
                ("ns/b", Got("a", &["10.0.0.1"])),
            ],
        },
        Case {
            name: "ranges tried in the order written",
            pools: vec![pool("a", &["10.0.5.1-10.0.5.1", "10.0.1.0/31"])],
            services: vec![svc("ns/a"), svc("ns/b")],
            ns: &[],
            want: vec![
                ("ns/a", Got("a", &["10.0.5.1"])),
                ("ns/b", Got("a", &["10.0.1.0"])),
            ],
        },
        Case {
            name: "autoAssign false is skipped",
            pools: vec![
                pool("a", &["10.0.0.0/30"]).manual(),
                pool("b", &["10.0.1.0/30"]),
            ],
            services: vec![svc("ns/s")],
            ns: &[],
            want: vec![("ns/s", Got("b", &["10.0.1.0"]))],
        },
        Case {
            name: "only autoAssign false pools",
            pools: vec![pool("a", &["10.0.0.0/30"]).manual()],
            services: vec![svc("ns/s")],
            ns: &[],
            want: vec![(
                "ns/s",
                Fails(&["no IPAddressPool with autoAssign admits Service ns/s"]),
            )],
        },
        Case {
            name: "no pools at all",
            pools: vec![],
            services: vec![svc("ns/s")],
            ns: &[],
            want: vec![("ns/s", Fails(&["no IPAddressPool exists", "ns/s"]))],
        },
        Case {
            name: "avoidBuggyIPs skips .0 and .255",
            pools: vec![pool("a", &["10.0.0.255-10.0.1.1"]).avoid_buggy()],
            services: vec![svc("ns/a"), svc("ns/b")],
            ns: &[],
            want: vec![
                ("ns/a", Got("a", &["10.0.1.1"])),
                (
                    "ns/b",
                    Fails(&["no available addresses in pools a", "Service ns/b"]),
                ),
            ],
        },
        Case {
            name: "without avoidBuggyIPs .0 is handed out",
            pools: vec![pool("a", &["10.0.1.0/24"])],
            services: vec![svc("ns/a")],
            ns: &[],
            want: vec![("ns/a", Got("a", &["10.0.1.0"]))],
        },
        Case {
            name: "exhaustion names every pool tried",
            pools: vec![
                pool("a", &["10.0.0.1-10.0.0.1"]),
                pool("b", &["10.0.1.1-10.0.1.1"]),
                pool("c", &["2001:db8::1-2001:db8::1"]),
            ],
            services: vec![svc("ns/1"), svc("ns/2"), svc("ns/3")],
            ns: &[],
            want: vec![
                ("ns/1", Got("a", &["10.0.0.1"])),
                ("ns/2", Got("b", &["10.0.1.1"])),
                (
                    "ns/3",
                    Fails(&["no available addresses in pools a, b for Service ns/3"]),
                ),
            ],
        },
    ]);
}

#[test]
fn priority_and_service_allocation() {
    run(vec![
        Case {
            name: "priority ascending beats name",
            pools: vec![
                pool("a", &["10.0.0.0/30"]).priority(2),
                pool("b", &["10.0.1.0/30"]).priority(1),
                pool("c", &["10.0.2.0/30"]),
            ],
            services: vec![svc("ns/s")],
            ns: &[],
            want: vec![("ns/s", Got("b", &["10.0.1.0"]))],
        },
        Case {
            name: "serviceAllocation without priority before pools without serviceAllocation",
            pools: vec![
                pool("a", &["10.0.0.0/30"]),
                pool("b", &["10.0.1.0/30"]).namespaces(&["ns"]),
                pool("c", &["10.0.2.0/30"]).priority(5),
            ],
            services: vec![svc("ns/s"), svc("other/s")],
            ns: &[],
            want: vec![
                ("ns/s", Got("c", &["10.0.2.0"])),
                ("other/s", Got("c", &["10.0.2.1"])),
            ],
        },
        Case {
            name: "priority 0 is unset (Go zero value)",
            pools: vec![
                pool("a", &["10.0.0.0/30"]).priority(0),
                pool("b", &["10.0.1.0/30"]).priority(3),
            ],
            services: vec![svc("ns/s")],
            ns: &[],
            want: vec![("ns/s", Got("b", &["10.0.1.0"]))],
        },
        Case {
            name: "full priority pool falls through to the next",
            pools: vec![
                pool("a", &["10.0.0.1-10.0.0.1"]).priority(1),
                pool("b", &["10.0.1.0/30"]),
            ],
            services: vec![svc("ns/1"), svc("ns/2")],
            ns: &[],
            want: vec![
                ("ns/1", Got("a", &["10.0.0.1"])),
                ("ns/2", Got("b", &["10.0.1.0"])),
            ],
        },
        Case {
            name: "namespaces restrict a pool",
            pools: vec![
                pool("a", &["10.0.0.0/30"]).namespaces(&["team"]),
                pool("b", &["10.0.1.0/30"]),
            ],
            services: vec![svc("team/s"), svc("other/s")],
            ns: &[],
            want: vec![
                ("team/s", Got("a", &["10.0.0.0"])),
                ("other/s", Got("b", &["10.0.1.0"])),
            ],
        },
        Case {
            name: "namespace selectors match namespace labels",
            pools: vec![pool("a", &["10.0.0.0/30"]).ns_selector("env", "prod")],
            services: vec![svc("prod/s"), svc("dev/s"), svc("unknown/s")],
            ns: &[("prod", "env", "prod"), ("dev", "env", "dev")],
            want: vec![
                ("prod/s", Got("a", &["10.0.0.0"])),
                (
                    "dev/s",
                    Fails(&["no IPAddressPool with autoAssign admits Service dev/s"]),
                ),
                ("unknown/s", Fails(&["admits Service unknown/s"])),
            ],
        },
        Case {
            name: "namespaces or namespace selectors: either admits",
            pools: vec![pool("a", &["10.0.0.0/30"])
                .namespaces(&["listed"])
                .ns_selector("env", "prod")],
            services: vec![svc("listed/s"), svc("prod/s"), svc("dev/s")],
            ns: &[("prod", "env", "prod")],
            want: vec![
                ("listed/s", Got("a", &["10.0.0.0"])),
                ("prod/s", Got("a", &["10.0.0.1"])),
                ("dev/s", Fails(&["admits Service dev/s"])),
            ],
        },
        Case {
            name: "service selectors",
            pools: vec![
                pool("gold", &["10.0.0.0/30"]).svc_selector("tier", "gold"),
                pool("rest", &["10.0.1.0/30"]),
            ],
            services: vec![svc("ns/g").label("tier", "gold"), svc("ns/x")],
            ns: &[],
            want: vec![
                ("ns/g", Got("gold", &["10.0.0.0"])),
                ("ns/x", Got("rest", &["10.0.1.0"])),
            ],
        },
        Case {
            name: "namespace and service selector must both match",
            pools: vec![pool("a", &["10.0.0.0/30"])
                .namespaces(&["ns"])
                .svc_selector("tier", "gold")],
            services: vec![svc("ns/plain"), svc("other/gold").label("tier", "gold")],
            ns: &[],
            want: vec![
                ("ns/plain", Fails(&["admits Service ns/plain"])),
                ("other/gold", Fails(&["admits Service other/gold"])),
            ],
        },
    ]);
}

#[test]
fn address_pool_annotation() {
    run(vec![
        Case {
            name: "requested pool, even with autoAssign false",
            pools: vec![
                pool("a", &["10.0.0.0/30"]),
                pool("manual", &["10.0.9.0/30"]).manual(),
            ],
            services: vec![svc("ns/s").pool("manual")],
            ns: &[],
            want: vec![("ns/s", Got("manual", &["10.0.9.0"]))],
        },
        Case {
            name: "requested pool only, no fallback when full",
            pools: vec![
                pool("a", &["10.0.0.1-10.0.0.1"]),
                pool("b", &["10.0.1.0/30"]),
            ],
            services: vec![svc("ns/1").pool("a"), svc("ns/2").pool("a")],
            ns: &[],
            want: vec![
                ("ns/1", Got("a", &["10.0.0.1"])),
                (
                    "ns/2",
                    Fails(&["no available addresses in pools a for Service ns/2"]),
                ),
            ],
        },
        Case {
            name: "unknown pool",
            pools: vec![pool("a", &["10.0.0.0/30"])],
            services: vec![svc("ns/s").pool("nope")],
            ns: &[],
            want: vec![(
                "ns/s",
                Fails(&[
                    "Service ns/s",
                    "\"nope\"",
                    "metallb.io/address-pool",
                    "does not exist",
                ]),
            )],
        },
        Case {
            name: "requested pool must admit the Service",
            pools: vec![pool("a", &["10.0.0.0/30"]).namespaces(&["team"])],
            services: vec![svc("ns/s").pool("a")],
            ns: &[],
            want: vec![(
                "ns/s",
                Fails(&["IPAddressPool a does not admit Service ns/s"]),
            )],
        },
        Case {
            name: "requested pool lacking the family",
            pools: vec![pool("a", &["10.0.0.0/30"])],
            services: vec![svc("ns/s").pool("a").families(&[V6], SingleStack)],
            ns: &[],
            want: vec![(
                "ns/s",
                Fails(&[
                    "Service ns/s needs an IPv6 address",
                    "IPAddressPool a has no such",
                ]),
            )],
        },
    ]);
}

#[test]
fn requested_ips() {
    run(vec![
        Case {
            name: "inside a pool, even autoAssign false",
            pools: vec![pool("a", &["10.0.0.0/24"]).manual()],
            services: vec![svc("ns/s").ips(&["10.0.0.7"])],
            ns: &[],
            want: vec![("ns/s", Got("a", &["10.0.0.7"]))],
        },
        Case {
            name: "not in any pool",
            pools: vec![pool("a", &["10.0.0.0/24"])],
            services: vec![svc("ns/s").ips(&["192.0.2.9"])],
            ns: &[],
            want: vec![(
                "ns/s",
                Fails(&[
                    "Service ns/s requests 192.0.2.9",
                    "not in any IPAddressPool",
                ]),
            )],
        },
        Case {
            name: "must be in the requested pool",
            pools: vec![pool("a", &["10.0.0.0/24"]), pool("b", &["10.0.1.0/24"])],
            services: vec![svc("ns/s").ips(&["10.0.0.7"]).pool("b")],
            ns: &[],
            want: vec![("ns/s", Fails(&["10.0.0.7", "in IPAddressPool a, not in b"]))],
        },
        Case {
            name: "in the requested pool",
            pools: vec![pool("a", &["10.0.0.0/24"]), pool("b", &["10.0.1.0/24"])],
            services: vec![svc("ns/s").ips(&["10.0.1.7"]).pool("b")],
            ns: &[],
            want: vec![("ns/s", Got("b", &["10.0.1.7"]))],
        },
        Case {
            name: "dual-stack addresses from two pools",
            pools: vec![pool("a", &["10.0.0.0/24"]), pool("b", &["2001:db8::/64"])],
            services: vec![svc("ns/s")
                .families(&[V4, V6], RequireDualStack)
                .ips(&["2001:db8::5", "10.0.0.5"])],
            ns: &[],
            want: vec![(
                "ns/s",
                Fails(&[
                    "10.0.0.5 (IPAddressPool a)",
                    "2001:db8::5 (IPAddressPool b)",
                    "one pool",
                ]),
            )],
        },
        Case {
            name: "dual-stack addresses from one pool",
            pools: vec![pool("a", &["10.0.0.0/24", "2001:db8::/64"])],
            services: vec![svc("ns/s")
                .families(&[V4, V6], RequireDualStack)
                .ips(&["2001:db8::5", "10.0.0.5"])],
            ns: &[],
            want: vec![("ns/s", Got("a", &["10.0.0.5", "2001:db8::5"]))],
        },
        Case {
            name: "pool must admit the Service",
            pools: vec![pool("a", &["10.0.0.0/24"]).svc_selector("tier", "gold")],
            services: vec![svc("ns/s").ips(&["10.0.0.7"])],
            ns: &[],
            want: vec![(
                "ns/s",
                Fails(&["IPAddressPool a does not admit Service ns/s"]),
            )],
        },
        Case {
            name: "buggy address refused in an avoidBuggyIPs pool",
            pools: vec![pool("a", &["10.0.0.0/24"]).avoid_buggy()],
            services: vec![svc("ns/s").ips(&["10.0.0.255"])],
            ns: &[],
            want: vec![(
                "ns/s",
                Fails(&["10.0.0.255", "IPAddressPool a", "avoidBuggyIPs"]),
            )],
        },
        Case {
            name: "buggy address fine elsewhere",
            pools: vec![pool("a", &["10.0.0.0/24"])],
            services: vec![svc("ns/s").ips(&["10.0.0.0"])],
            ns: &[],
            want: vec![("ns/s", Got("a", &["10.0.0.0"]))],
        },
        Case {
            name: "family must match the Service",
            pools: vec![pool("a", &["10.0.0.0/24", "2001:db8::/64"])],
            services: vec![
                svc("ns/v4").ips(&["2001:db8::1"]),
                svc("ns/req")
                    .families(&[V4, V6], RequireDualStack)
                    .ips(&["10.0.0.1"]),
                svc("ns/pref")
                    .families(&[V6, V4], PreferDualStack)
                    .ips(&["10.0.0.2"]),
            ],
            ns: &[],
            want: vec![
                (
                    "ns/v4",
                    Fails(&["requests 2001:db8::1", "needs an IPv4 address"]),
                ),
                ("ns/req", Fails(&["requests 10.0.0.1", "RequireDualStack"])),
                ("ns/pref", Got("a", &["10.0.0.2"])),
            ],
        },
        Case {
            name: "explicit requests are served before automatic picks",
            pools: vec![pool("a", &["10.0.0.0/30"])],
            services: vec![svc("ns/a-auto"), svc("ns/b-wants").ips(&["10.0.0.0"])],
            ns: &[],
            want: vec![
                ("ns/a-auto", Got("a", &["10.0.0.1"])),
                ("ns/b-wants", Got("a", &["10.0.0.0"])),
            ],
        },
    ]);
}

#[test]
fn sharing() {
    let pools = || vec![pool("a", &["10.0.0.0/29"])];
    run(vec![
        Case {
            name: "same key, different ports: shared",
            pools: pools(),
            services: vec![
                svc("ns/tcp").share("k").ips(&["10.0.0.5"]),
                svc("ns/udp")
                    .share("k")
                    .ports(&[("UDP", 53)])
                    .ips(&["10.0.0.5"]),
            ],
            ns: &[],
            want: vec![
                ("ns/tcp", Got("a", &["10.0.0.5"])),
                ("ns/udp", Got("a", &["10.0.0.5"])),
            ],
        },
        Case {
            name: "same protocol number on another protocol is no conflict",
            pools: pools(),
            services: vec![
                svc("ns/tcp")
                    .share("k")
                    .ports(&[("TCP", 53)])
                    .ips(&["10.0.0.5"]),
                svc("ns/udp")
                    .share("k")
                    .ports(&[("UDP", 53)])
                    .ips(&["10.0.0.5"]),
            ],
            ns: &[],
            want: vec![("ns/udp", Got("a", &["10.0.0.5"]))],
        },
        Case {
            name: "automatic pick lands on the shared address",
            pools: pools(),
            services: vec![
                svc("ns/a").share("k").ips(&["10.0.0.5"]),
                svc("ns/b").share("k").ports(&[("TCP", 443)]),
                svc("ns/c"),
            ],
            ns: &[],
            want: vec![
                ("ns/b", Got("a", &["10.0.0.5"])),
                ("ns/c", Got("a", &["10.0.0.0"])),
            ],
        },
        Case {
            name: "automatic pick with a port conflict takes a free address",
            pools: pools(),
            services: vec![
                svc("ns/a").share("k").ips(&["10.0.0.0"]),
                svc("ns/b").share("k"),
            ],
            ns: &[],
            want: vec![("ns/b", Got("a", &["10.0.0.1"]))],
        },
        Case {
            name: "key mismatch",
            pools: pools(),
            services: vec![
                svc("ns/a").share("k1").ips(&["10.0.0.5"]),
                svc("ns/b")
                    .share("k2")
                    .ports(&[("TCP", 443)])
                    .ips(&["10.0.0.5"]),
            ],
            ns: &[],
            want: vec![(
                "ns/b",
                Fails(&[
                    "Service ns/b requests 10.0.0.5",
                    "Service ns/a already uses",
                    "keys differ",
                ]),
            )],
        },
        Case {
            name: "no key on the newcomer",
            pools: pools(),
            services: vec![
                svc("ns/a").share("k").ips(&["10.0.0.5"]),
                svc("ns/b").ports(&[("TCP", 443)]).ips(&["10.0.0.5"]),
            ],
            ns: &[],
            want: vec![("ns/b", Fails(&["Service ns/a", "allow-shared-ip"]))],
        },
        Case {
            name: "port conflict",
            pools: pools(),
            services: vec![
                svc("ns/a").share("k").ips(&["10.0.0.5"]),
                svc("ns/b").share("k").ips(&["10.0.0.5"]),
            ],
            ns: &[],
            want: vec![("ns/b", Fails(&["Service ns/a", "both use port TCP/80"]))],
        },
        Case {
            name: "ETP Local with different selectors",
            pools: pools(),
            services: vec![
                svc("ns/a").share("k").local("x").ips(&["10.0.0.5"]),
                svc("ns/b")
                    .share("k")
                    .local("y")
                    .ports(&[("TCP", 443)])
                    .ips(&["10.0.0.5"]),
            ],
            ns: &[],
            want: vec![("ns/b", Fails(&["Service ns/a", "backends differ"]))],
        },
        Case {
            name: "ETP Local and Cluster",
            pools: pools(),
            services: vec![
                svc("ns/a").share("k").local("x").ips(&["10.0.0.5"]),
                svc("ns/b")
                    .share("k")
                    .ports(&[("TCP", 443)])
                    .ips(&["10.0.0.5"]),
            ],
            ns: &[],
            want: vec![("ns/b", Fails(&["backends differ"]))],
        },
        Case {
            name: "ETP Local with the same selector",
            pools: pools(),
            services: vec![
                svc("ns/a").share("k").local("x").ips(&["10.0.0.5"]),
                svc("ns/b")
                    .share("k")
                    .local("x")
                    .ports(&[("TCP", 443)])
                    .ips(&["10.0.0.5"]),
            ],
            ns: &[],
            want: vec![("ns/b", Got("a", &["10.0.0.5"]))],
        },
        Case {
            name: "automatic pick never shares without a key",
            pools: vec![pool("a", &["10.0.0.1-10.0.0.1"])],
            services: vec![svc("ns/a"), svc("ns/b").ports(&[("TCP", 443)])],
            ns: &[],
            want: vec![
                ("ns/a", Got("a", &["10.0.0.1"])),
                ("ns/b", Fails(&["no available addresses in pools a"])),
            ],
        },
    ]);
}

#[test]
fn families() {
    let dual = || pool("dual", &["10.0.0.0/30", "2001:db8::/126"]);
    run(vec![
        Case {
            name: "single stack IPv6",
            pools: vec![dual()],
            services: vec![svc("ns/s").families(&[V6], SingleStack)],
            ns: &[],
            want: vec![("ns/s", Got("dual", &["2001:db8::"]))],
        },
        Case {
            name: "RequireDualStack from one pool",
            pools: vec![pool("a4", &["10.0.9.0/30"]), dual()],
            services: vec![svc("ns/s").families(&[V4, V6], RequireDualStack)],
            ns: &[],
            want: vec![("ns/s", Got("dual", &["10.0.0.0", "2001:db8::"]))],
        },
        Case {
            name: "RequireDualStack never mixes pools",
            pools: vec![
                pool("a4", &["10.0.9.0/30"]),
                pool("b6", &["2001:db8::/126"]),
            ],
            services: vec![svc("ns/s").families(&[V4, V6], RequireDualStack)],
            ns: &[],
            want: vec![(
                "ns/s",
                Fails(&[
                    "Service ns/s needs an IPv4 and an IPv6 address",
                    "tried a4, b6",
                ]),
            )],
        },
        Case {
            name: "RequireDualStack when one family is exhausted",
            pools: vec![pool("d", &["10.0.0.0/30", "2001:db8::1-2001:db8::1"])],
            services: vec![
                svc("ns/a").families(&[V6], SingleStack),
                svc("ns/b").families(&[V4, V6], RequireDualStack),
            ],
            ns: &[],
            want: vec![
                ("ns/a", Got("d", &["2001:db8::1"])),
                (
                    "ns/b",
                    Fails(&["no available addresses in pools d for Service ns/b"]),
                ),
            ],
        },
        Case {
            name: "PreferDualStack takes both from a dual pool after a single one",
            pools: vec![pool("a4", &["10.0.9.0/30"]), dual()],
            services: vec![svc("ns/s").families(&[V4, V6], PreferDualStack)],
            ns: &[],
            want: vec![("ns/s", Got("dual", &["10.0.0.0", "2001:db8::"]))],
        },
        Case {
            name: "PreferDualStack falls back to the primary family",
            pools: vec![
                pool("a4", &["10.0.9.0/30"]),
                pool("b6", &["2001:db8::/126"]),
            ],
            services: vec![
                svc("ns/v4first").families(&[V4, V6], PreferDualStack),
                svc("ns/v6first").families(&[V6, V4], PreferDualStack),
            ],
            ns: &[],
            want: vec![
                ("ns/v4first", Got("a4", &["10.0.9.0"])),
                ("ns/v6first", Got("b6", &["2001:db8::"])),
            ],
        },
        Case {
            name: "PreferDualStack takes the secondary family when the primary is full",
            pools: vec![
                pool("a4", &["10.0.9.1-10.0.9.1"]),
                pool("b6", &["2001:db8::/126"]),
            ],
            services: vec![
                svc("ns/a"),
                svc("ns/b").families(&[V4, V6], PreferDualStack),
            ],
            ns: &[],
            want: vec![("ns/b", Got("b6", &["2001:db8::"]))],
        },
        Case {
            name: "PreferDualStack on a single-stack Service is single stack",
            pools: vec![dual()],
            services: vec![svc("ns/s").families(&[V4], PreferDualStack)],
            ns: &[],
            want: vec![("ns/s", Got("dual", &["10.0.0.0"]))],
        },
        Case {
            name: "no pool has the family",
            pools: vec![pool("a4", &["10.0.9.0/30"])],
            services: vec![svc("ns/s").families(&[V6], SingleStack)],
            ns: &[],
            want: vec![(
                "ns/s",
                Fails(&["Service ns/s needs an IPv6 address", "tried a4"]),
            )],
        },
    ]);
}

#[test]
fn foreign_services_are_ignored() {
    run(vec![Case {
        name: "loadBalancerClass not ours",
        pools: vec![pool("a", &["10.0.0.0/30"])],
        services: vec![
            svc("ns/foreign")
                .not_ours()
                .current(&["10.0.0.0"])
                .ips(&["10.0.0.0"]),
            svc("ns/mine"),
        ],
        ns: &[],
        want: vec![
            ("ns/foreign", Absent),
            // The foreign Service's address is not held by it.
            ("ns/mine", Got("a", &["10.0.0.0"])),
        ],
    }]);
}

// ---------------------------------------------------------------- current addresses

#[test]
fn current_addresses() {
    run(vec![
        Case {
            name: "valid current address kept over a lower free one",
            pools: vec![pool("a", &["10.0.0.0/30"])],
            services: vec![svc("ns/s").current(&["10.0.0.3"]), svc("ns/new")],
            ns: &[],
            want: vec![
                ("ns/s", Got("a", &["10.0.0.3"])),
                ("ns/new", Got("a", &["10.0.0.0"])),
            ],
        },
        Case {
            name: "kept in a pool now autoAssign false",
            pools: vec![
                pool("a", &["10.0.0.0/30"]).manual(),
                pool("b", &["10.0.1.0/30"]),
            ],
            services: vec![svc("ns/s").current(&["10.0.0.2"])],
            ns: &[],
            want: vec![("ns/s", Got("a", &["10.0.0.2"]))],
        },
        Case {
            name: "pool deleted or shrunk: reallocated",
            pools: vec![pool("a", &["10.0.0.0/31"])],
            services: vec![svc("ns/s").current(&["10.0.0.3"])],
            ns: &[],
            want: vec![("ns/s", Got("a", &["10.0.0.0"]))],
        },
        Case {
            name: "pool turned avoidBuggyIPs: reallocated",
            pools: vec![pool("a", &["10.0.0.0/30"]).avoid_buggy()],
            services: vec![svc("ns/s").current(&["10.0.0.0"])],
            ns: &[],
            want: vec![("ns/s", Got("a", &["10.0.0.1"]))],
        },
        Case {
            name: "requested address changed: moved to it, old one freed",
            pools: vec![pool("a", &["10.0.0.0/30"])],
            services: vec![
                svc("ns/s").current(&["10.0.0.0"]).ips(&["10.0.0.2"]),
                svc("ns/t"),
            ],
            ns: &[],
            want: vec![
                ("ns/s", Got("a", &["10.0.0.2"])),
                ("ns/t", Got("a", &["10.0.0.0"])),
            ],
        },
        Case {
            name: "requested pool changed: moved",
            pools: vec![pool("a", &["10.0.0.0/30"]), pool("b", &["10.0.1.0/30"])],
            services: vec![svc("ns/s").current(&["10.0.0.1"]).pool("b")],
            ns: &[],
            want: vec![("ns/s", Got("b", &["10.0.1.0"]))],
        },
        Case {
            name: "pool no longer admits the namespace: moved",
            pools: vec![
                pool("a", &["10.0.0.0/30"]).namespaces(&["other"]),
                pool("b", &["10.0.1.0/30"]),
            ],
            services: vec![svc("ns/s").current(&["10.0.0.1"])],
            ns: &[],
            want: vec![("ns/s", Got("b", &["10.0.1.0"]))],
        },
        Case {
            name: "two claim one address: the first by key keeps it",
            pools: vec![pool("a", &["10.0.0.0/30"])],
            services: vec![
                svc("ns/b").current(&["10.0.0.2"]),
                svc("ns/a").current(&["10.0.0.2"]),
            ],
            ns: &[],
            want: vec![
                ("ns/a", Got("a", &["10.0.0.2"])),
                ("ns/b", Got("a", &["10.0.0.0"])),
            ],
        },
        Case {
            name: "current family no longer fits: reallocated",
            pools: vec![pool("a", &["10.0.0.0/30", "2001:db8::/126"])],
            services: vec![svc("ns/s")
                .families(&[V6], SingleStack)
                .current(&["10.0.0.1"])],
            ns: &[],
            want: vec![("ns/s", Got("a", &["2001:db8::"]))],
        },
        Case {
            name: "PreferDualStack with one kept address gains the other family",
            pools: vec![pool("a", &["10.0.0.0/30", "2001:db8::/126"])],
            services: vec![
                svc("ns/s")
                    .families(&[V4, V6], PreferDualStack)
                    .current(&["10.0.0.2"]),
                // Holds the lowest IPv6 address: the completion must not take it.
                svc("ns/z")
                    .families(&[V6], SingleStack)
                    .current(&["2001:db8::"]),
            ],
            ns: &[],
            want: vec![
                ("ns/s", Got("a", &["10.0.0.2", "2001:db8::1"])),
                ("ns/z", Got("a", &["2001:db8::"])),
            ],
        },
        Case {
            name: "requested PreferDualStack single address is not completed",
            pools: vec![pool("a", &["10.0.0.0/30", "2001:db8::/126"])],
            services: vec![svc("ns/s")
                .families(&[V4, V6], PreferDualStack)
                .ips(&["10.0.0.2"])
                .current(&["10.0.0.2"])],
            ns: &[],
            want: vec![("ns/s", Got("a", &["10.0.0.2"]))],
        },
    ]);
}

/// Feeds an allocation back as the Services' status, as the next reconcile would see it.
fn with_status(services: &[Service], out: &Allocation) -> Vec<Service> {
    services
        .iter()
        .map(|s| {
            let mut s = s.clone();
            s.current_ips = out
                .assigned
                .get(&s.key)
                .map(|a| a.ips.clone())
                .unwrap_or_default();
            s
        })
        .collect()
}

#[test]
fn stability_across_recomputation_and_additions() {
    let pools = pools_map(vec![pool("a", &["10.0.0.0/28"]).avoid_buggy()]);
    let ns = BTreeMap::new();
    let services: Vec<Service> = ["ns/m", "ns/n", "ns/o"].iter().map(|k| svc(k)).collect();
    let first = allocate(&pools, &BTreeMap::new(), &services, &ns);
    assert_eq!(first.assigned.len(), 3);

    // Recomputing with the result as status changes nothing.
    let settled = with_status(&services, &first);
    assert_eq!(allocate(&pools, &BTreeMap::new(), &settled, &ns), first);

    // A restart: state is only what the status says, and it matches.
    let restarted = allocate(&pools, &BTreeMap::new(), &settled, &ns);
    assert_eq!(restarted.assigned, first.assigned);

    // A new Service sorting before the others takes a new address; nobody moves.
    let mut grown = settled.clone();
    grown.insert(0, svc("ns/a"));
    let after = allocate(&pools, &BTreeMap::new(), &grown, &ns);
    for (k, a) in &first.assigned {
        assert_eq!(after.assigned.get(k), Some(a), "{k} moved");
    }
    let new = &after.assigned[&key("ns/a")];
    assert!(first.assigned.values().all(|a| a.ips != new.ips));

    // Deleting one frees its address for the next newcomer; the rest stay.
    let freed = first.assigned[&key("ns/n")].ips.clone();
    let mut shrunk = with_status(&grown, &after);
    shrunk.retain(|s| s.key != key("ns/n"));
    shrunk.push(svc("ns/z"));
    let later = allocate(&pools, &BTreeMap::new(), &shrunk, &ns);
    assert_eq!(later.assigned[&key("ns/z")].ips, freed);
    for k in ["ns/a", "ns/m", "ns/o"] {
        assert_eq!(
            later.assigned[&key(k)],
            after.assigned[&key(k)],
            "{k} moved"
        );
    }
}

#[test]
fn input_order_does_not_matter() {
    let pools = pools_map(vec![
        pool("a", &["10.0.0.0/29"]),
        pool("b", &["10.0.1.0/29"]),
    ]);
    let services: Vec<Service> = (0..12).map(|i| svc(&format!("ns/s{i:02}"))).collect();
    let forward = allocate(&pools, &BTreeMap::new(), &services, &BTreeMap::new());
    let mut reversed = services.clone();
    reversed.reverse();
    assert_eq!(
        allocate(&pools, &BTreeMap::new(), &reversed, &BTreeMap::new()),
        forward
    );
    assert!(forward.failed.is_empty(), "16 addresses for 12 Services");
}

#[test]
fn ten_thousand_services_over_a_slash_16() {
    let pools = pools_map(vec![pool("big", &["10.20.0.0/16"]).avoid_buggy()]);
    let services: Vec<Service> = (0..10_000).map(|i| svc(&format!("ns/s{i:05}"))).collect();
    let out = allocate(&pools, &BTreeMap::new(), &services, &BTreeMap::new());
    assert!(out.failed.is_empty());
    let distinct: BTreeSet<IpAddr> = out.assigned.values().flat_map(|a| a.ips.clone()).collect();
    assert_eq!(distinct.len(), 10_000);
    // Lowest first, 254 usable addresses per /24 (.1 to .254): the last one follows.
    let (full, rest) = (10_000 / 254, 10_000 % 254);
    let last = distinct.iter().next_back().unwrap();
    assert_eq!(*last, ip(&format!("10.20.{full}.{rest}")));
    let usage = &pool_usage(&pools, &out.assigned)["big"];
    assert_eq!(usage.assigned_v4, 10_000);
    assert_eq!(usage.available_v4, 65_536 - 512 - 10_000);
}

// ---------------------------------------------------------------- pool usage

#[test]
fn pool_usage_counts() {
    let pools = pools_map(vec![
        pool("v4", &["10.0.0.0/24"]).avoid_buggy(),
        pool("dual", &["10.0.1.0/30", "2001:db8::/64"]),
        pool("huge", &["2001:db8:1::/48"]),
        pool("empty", &["10.0.2.0/30"]),
    ]);
    let a = |pool: &str, ips: &[&str]| Assignment {
        pool: pool.into(),
        ips: ips.iter().map(|s| ip(s)).collect(),
    };
    let assigned = BTreeMap::from([
        (key("ns/1"), a("v4", &["10.0.0.1"])),
        (key("ns/2"), a("v4", &["10.0.0.2"])),
        // Shares ns/2's address: counted once.
        (key("ns/3"), a("v4", &["10.0.0.2"])),
        (key("ns/4"), a("dual", &["10.0.1.1", "2001:db8::1"])),
        (key("ns/5"), a("huge", &["2001:db8:1::1"])),
        // Not a pool, and an address outside its pool: ignored.
        (key("ns/6"), a("gone", &["10.9.9.9"])),
        (key("ns/7"), a("empty", &["10.9.9.9"])),
    ]);
    let usage = pool_usage(&pools, &assigned);
    let u = |a4, v4, a6, v6| PoolUsage {
        assigned_v4: a4,
        available_v4: v4,
        assigned_v6: a6,
        available_v6: v6,
    };
    let want = BTreeMap::from([
        ("v4".to_string(), u(2, 254 - 2, 0, 0)),
        // 2^64 addresses in the /64, one used: exactly u64::MAX left.
        ("dual".to_string(), u(1, 3, 1, u64::MAX)),
        // 2^80 - 1 saturates.
        ("huge".to_string(), u(0, 0, 1, u64::MAX)),
        ("empty".to_string(), u(0, 4, 0, 0)),
    ]);
    assert_eq!(usage, want);
}

#[test]
fn error_variants_are_typed() {
    let pools = pools_map(vec![pool("a", &["10.0.0.0/30"])]);
    let out = allocate(
        &pools,
        &BTreeMap::new(),
        &[
            svc("ns/a").share("k").ips(&["10.0.0.1"]),
            svc("ns/b").share("k").ips(&["10.0.0.1"]),
        ],
        &BTreeMap::new(),
    );
    match &out.failed[&key("ns/b")] {
        AllocationError::Conflict { ip: at, other, .. } => {
            assert_eq!((*at, other.clone()), (ip("10.0.0.1"), key("ns/a")));
        }
        e => panic!("unexpected {e:?}"),
    }
}

// ---------------------------------------------------------------- properties

fn arb_pool(i: u8) -> impl Strategy<Value = Pool> {
    (
        // Near the addresses arb_ip draws from, so requests and status often hit a pool.
        prop_oneof![0u8..4, 248u8..=252],
        0u8..12,
        proptest::option::of(0u16..6),
        prop::bool::weighted(0.8),
        any::<bool>(),
        prop_oneof![
            2 => Just(None),
            1 => (proptest::option::of(0i32..3), any::<bool>(), any::<bool>()).prop_map(Some),
        ],
    )
        .prop_map(move |(start, len, v6, auto, avoid, alloc)| {
            let end = start.saturating_add(len);
            let mut ranges = vec![range(&format!("10.0.{i}.{start}-10.0.{i}.{end}"))];
            if let Some(n) = v6 {
                ranges.push(range(&format!("2001:db8:{i}::1-2001:db8:{i}::{}", n + 1)));
            }
            let allocation = alloc.map(|(priority, ns_only, gold_only)| PoolAllocation {
                priority,
                namespaces: if ns_only {
                    BTreeSet::from(["a".to_string()])
                } else {
                    BTreeSet::new()
                },
                namespace_selectors: vec![],
                service_selectors: if gold_only {
                    vec![eq_selector("tier", "gold")]
                } else {
                    vec![]
                },
            });
            Pool {
                name: format!("p{i}"),
                labels: Labels::new(),
                ranges,
                cidrs: vec![],
                auto_assign: auto,
                avoid_buggy_ips: avoid,
                allocation,
            }
        })
}

/// Addresses near the pools' ranges: none, one of either family, or one of each from the
/// same pool's block, so requests and status are often well-formed and sometimes collide.
fn arb_addrs() -> impl Strategy<Value = Vec<IpAddr>> {
    let v4 = |p: u8, h: u8| ip(&format!("10.0.{p}.{h}"));
    let v6 = |p: u8, h: u8| ip(&format!("2001:db8:{p}::{h}"));
    let host4 = || prop_oneof![0u8..8, 250u8..=255];
    prop_oneof![
        2 => Just(vec![]),
        2 => (0u8..3, host4()).prop_map(move |(p, h)| vec![v4(p, h)]),
        1 => (0u8..3, 0u8..8).prop_map(move |(p, h)| vec![v6(p, h)]),
        1 => (0u8..3, host4(), 0u8..8).prop_map(move |(p, h, h6)| vec![v4(p, h), v6(p, h6)]),
    ]
}

fn arb_service(i: usize) -> impl Strategy<Value = Service> {
    let families = prop_oneof![
        Just((vec![V4], SingleStack)),
        Just((vec![V6], SingleStack)),
        Just((vec![V4, V6], PreferDualStack)),
        Just((vec![V6, V4], PreferDualStack)),
        Just((vec![V4, V6], RequireDualStack)),
    ];
    (
        (
            0usize..3,
            any::<bool>(),
            prop::bool::weighted(0.9),
            any::<bool>(),
        ),
        arb_addrs(),
        prop_oneof![
            6 => Just(None),
            // p3 never exists: an unknown pool.
            1 => (0u8..4).prop_map(|p| Some(format!("p{p}"))),
        ],
        prop_oneof![Just(None), Just(Some("k1")), Just(Some("k2"))],
        prop::collection::btree_set(
            prop_oneof![
                Just(port("TCP", 80)),
                Just(port("TCP", 443)),
                Just(port("UDP", 53))
            ],
            0..3,
        ),
        (any::<bool>(), families, prop::bool::weighted(0.8)),
        arb_addrs(),
    )
        .prop_map(
            move |(
                (ns, gold, ours, local),
                req,
                pool,
                share,
                ports,
                (app_x, fam, fit),
                current,
            )| {
                // Mostly addresses of the Service's own families, so they can be valid.
                let fit_to = |addrs: Vec<IpAddr>| -> Vec<IpAddr> {
                    if !fit {
                        return addrs;
                    }
                    let wanted = |a: &IpAddr| fam.0.contains(&if a.is_ipv4() { V4 } else { V6 });
                    let mut v: Vec<IpAddr> = addrs.into_iter().filter(wanted).collect();
                    if fam.1 == SingleStack {
                        v.truncate(1);
                    }
                    v
                };
                let (req, current) = (fit_to(req), fit_to(current));
                let mut s = svc(&format!("{}/s{i:02}", ["a", "b", "c"][ns]));
                if gold {
                    s.labels.insert("tier".into(), "gold".into());
                }
                s.is_ours = ours;
                s.etp_local = local;
                s.selector =
                    Labels::from([("app".to_string(), if app_x { "x" } else { "y" }.to_string())]);
                // Requests are rarer than automatic allocation, as in real clusters.
                s.requested_ips = if i % 3 == 0 { req } else { vec![] };
                s.requested_pool = pool;
                s.sharing_key = share.map(String::from);
                s.ports = ports;
                (s.ip_families, s.ip_family_policy) = fam;
                s.current_ips = current;
                s
            },
        )
}

fn arb_cluster() -> impl Strategy<Value = (BTreeMap<String, Pool>, Vec<Service>)> {
    let pools = (1u8..4).prop_flat_map(|n| (0..n).map(arb_pool).collect::<Vec<_>>());
    let services = (0usize..16).prop_flat_map(|n| (0..n).map(arb_service).collect::<Vec<_>>());
    (pools, services).prop_map(|(p, s)| (pools_map(p), s))
}

fn in_pool(pool: &Pool, addr: IpAddr) -> bool {
    let buggy = matches!(addr, IpAddr::V4(v4) if matches!(v4.octets()[3], 0 | 255));
    let inside = pool.ranges.iter().any(|r| match (r.first, r.last, addr) {
        (IpAddr::V4(f), IpAddr::V4(l), IpAddr::V4(a)) => f <= a && a <= l,
        (IpAddr::V6(f), IpAddr::V6(l), IpAddr::V6(a)) => f <= a && a <= l,
        _ => false,
    });
    inside && !(pool.avoid_buggy_ips && buggy)
}

fn backend(s: &Service) -> String {
    if s.etp_local {
        format!("{:?}", s.selector)
    } else {
        String::new()
    }
}

/// The Services with a status in which they claim addresses other Services were given,
/// often two the same one: what a restart after lost or stale writes may look like.
fn scrambled(
    pools: &BTreeMap<String, Pool>,
    services: &[Service],
    picks: &[prop::sample::Index],
) -> Vec<Service> {
    let first = allocate(pools, &BTreeMap::new(), services, &BTreeMap::new());
    let held: Vec<Vec<IpAddr>> = first.assigned.values().map(|a| a.ips.clone()).collect();
    services
        .iter()
        .zip(picks)
        .map(|(s, pick)| {
            let mut s = s.clone();
            if !held.is_empty() {
                s.current_ips = held[pick.index(held.len())].clone();
            }
            s
        })
        .collect()
}

fn arb_picks() -> impl Strategy<Value = Vec<prop::sample::Index>> {
    prop::collection::vec(any::<prop::sample::Index>(), 16)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn assigned_addresses_lie_in_their_pool((pools, services) in arb_cluster()) {
        let out = allocate(&pools, &BTreeMap::new(), &services, &BTreeMap::new());
        for (k, a) in &out.assigned {
            let pool = pools.get(&a.pool);
            prop_assert!(pool.is_some(), "{k}: unknown pool {}", a.pool);
            for addr in &a.ips {
                prop_assert!(in_pool(pool.unwrap(), *addr), "{k}: {addr} outside {}", a.pool);
            }
        }
    }

    #[test]
    fn results_respect_services((pools, services) in arb_cluster()) {
        let out = allocate(&pools, &BTreeMap::new(), &services, &BTreeMap::new());
        for s in &services {
            let (got, err) = (out.assigned.get(&s.key), out.failed.get(&s.key));
            if !s.is_ours {
                prop_assert!(got.is_none() && err.is_none());
                continue;
            }
            prop_assert!(got.is_some() != err.is_some(), "{}: exactly one outcome", s.key);
            let Some(a) = got else { continue };
            let fams: Vec<IpFamily> = a.ips.iter()
                .map(|i| if i.is_ipv4() { V4 } else { V6 }).collect();
            match s.ip_family_policy {
                SingleStack => prop_assert_eq!(&fams, &vec![s.ip_families[0]]),
                RequireDualStack => prop_assert_eq!(&fams, &vec![V4, V6]),
                PreferDualStack => prop_assert!(fams == [V4] || fams == [V6] || fams == [V4, V6]),
            }
            if let Some(p) = &s.requested_pool {
                prop_assert_eq!(&a.pool, p);
            }
            if !s.requested_ips.is_empty() {
                let mut want = s.requested_ips.clone();
                want.sort();
                want.dedup();
                prop_assert_eq!(&a.ips, &want);
            }
        }
    }

    #[test]
    fn no_address_is_held_twice_unless_shared_compatibly(
        (pools, services) in arb_cluster(),
        picks in arb_picks(),
    ) {
        let scrambled = scrambled(&pools, &services, &picks);
        for svcs in [&services, &scrambled] {
            let out = allocate(&pools, &BTreeMap::new(), svcs, &BTreeMap::new());
            let by_key: BTreeMap<&ServiceKey, &Service> = svcs.iter().map(|s| (&s.key, s)).collect();
            let mut users: BTreeMap<IpAddr, Vec<&Service>> = BTreeMap::new();
            for (k, a) in &out.assigned {
                for addr in &a.ips {
                    users.entry(*addr).or_default().push(by_key[k]);
                }
            }
            for (addr, us) in &users {
                for (i, x) in us.iter().enumerate() {
                    for y in &us[i + 1..] {
                        prop_assert!(x.sharing_key.as_deref().is_some_and(|k| !k.is_empty()),
                            "{addr}: {} shares without a key", x.key);
                        prop_assert_eq!(&x.sharing_key, &y.sharing_key, "{}", addr);
                        prop_assert_eq!(backend(x), backend(y), "{}", addr);
                        prop_assert!(x.ports.is_disjoint(&y.ports),
                            "{addr}: {} and {} share a port", x.key, y.key);
                    }
                }
            }
        }
    }

    #[test]
    fn deterministic_and_order_independent(
        (pools, services) in arb_cluster(),
        picks in arb_picks(),
    ) {
        for services in [services.clone(), scrambled(&pools, &services, &picks)] {
            let once = allocate(&pools, &BTreeMap::new(), &services, &BTreeMap::new());
            prop_assert_eq!(&allocate(&pools, &BTreeMap::new(), &services, &BTreeMap::new()), &once);
            let mut reversed = services.clone();
            reversed.reverse();
            prop_assert_eq!(&allocate(&pools, &BTreeMap::new(), &reversed, &BTreeMap::new()), &once);
        }
    }

    #[test]
    fn idempotent((pools, services) in arb_cluster(), picks in arb_picks()) {
        for services in [services.clone(), scrambled(&pools, &services, &picks)] {
            let once = allocate(&pools, &BTreeMap::new(), &services, &BTreeMap::new());
            let twice = allocate(&pools, &BTreeMap::new(), &with_status(&services, &once), &BTreeMap::new());
            prop_assert_eq!(&twice.assigned, &once.assigned);
            let failed = |a: &Allocation| a.failed.keys().cloned().collect::<Vec<_>>();
            prop_assert_eq!(failed(&twice), failed(&once));
        }
    }

    #[test]
    fn adding_a_service_moves_nobody(
        (pools, services) in arb_cluster(),
        newcomer in arb_service(99),
    ) {
        let once = allocate(&pools, &BTreeMap::new(), &services, &BTreeMap::new());
        let mut grown = with_status(&services, &once);
        let mut newcomer = newcomer;
        newcomer.key.name = "a-newcomer".into();
        newcomer.current_ips.clear();
        grown.push(newcomer);
        let after = allocate(&pools, &BTreeMap::new(), &grown, &BTreeMap::new());
        for (k, a) in &once.assigned {
            prop_assert_eq!(after.assigned.get(k), Some(a), "{} moved", k);
        }
    }
}
