//! `ferrule controller` end to end through kube's real Client, against the in-process API
//! server. Assertions follow MetalLB's semantics, not the allocator's internals: addresses
//! come from the right pool, are distinct unless shared, stay put, and are reused.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrule::api::IPAddressPool;
use ferrule::Leadership;
use ferrule::{
    fetch, reconcile_once, run_controller as run, ControllerOptions, Memory, POOL_ANNOTATION,
};
use futures::TryStreamExt;
use ipnet::IpNet;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::events::v1::Event;
use kube::api::{
    Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::ResourceExt;
use serde_json::json;
use support::apiserver::{ApiServer, Fault, RequestRecord, Verb};
use support::eventually;
use tokio::task::JoinHandle;

const NS: &str = "metallb-system";
const WAIT: Duration = Duration::from_secs(10);

fn seed_pool() -> IPAddressPool {
    let yaml = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/seed/01-pool.yaml"
    ))
    .unwrap();
    serde_yaml::from_str(&yaml).unwrap()
}

fn seed_service() -> Service {
    let yaml = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/seed/04-service.yaml"
    ))
    .unwrap();
    serde_yaml::from_str(&yaml).unwrap()
}

fn seed_net() -> IpNet {
    seed_pool().spec.addresses[0].parse().unwrap()
}

fn pool(name: &str, addresses: &[&str], auto_assign: bool) -> IPAddressPool {
    let mut p = IPAddressPool::new(
        name,
        ferrule::api::IPAddressPoolSpec {
            addresses: addresses.iter().map(|a| a.to_string()).collect(),
            auto_assign: Some(auto_assign),
            ..Default::default()
        },
    );
    p.metadata.namespace = Some(NS.into());
    p
}

/// The seed's web Service under another name, with extra annotations and one port.
fn lb(name: &str, annotations: &[(&str, &str)], port: i32) -> Service {
    let mut s = seed_service();
    s.metadata.name = Some(name.into());
    s.metadata.annotations = Some(
        annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    s.spec.as_mut().unwrap().ports.as_mut().unwrap()[0].port = port;
    s
}

async fn create<K>(server: &ApiServer, ns: &str, obj: &K)
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    Api::<K>::namespaced(server.client(), ns)
        .create(&PostParams::default(), obj)
        .await
        .unwrap();
}

fn ingress(server: &ApiServer, name: &str) -> Vec<IpAddr> {
    server
        .object::<Service>(Some("default"), name)
        .and_then(|s| s.status?.load_balancer?.ingress)
        .map(|i| {
            i.iter()
                .filter_map(|x| x.ip.as_ref()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

async fn wait_assigned(server: &ApiServer, names: &[&str]) -> BTreeMap<String, IpAddr> {
    eventually(&format!("addresses for {names:?}"), WAIT, || {
        let got: BTreeMap<String, IpAddr> = names
            .iter()
            .filter_map(|n| Some((n.to_string(), *ingress(server, n).first()?)))
            .collect();
        async move { (got.len() == names.len()).then_some(got) }
    })
    .await
}

/// Events about one Service, as (type, reason, note).
fn events_for(server: &ApiServer, name: &str) -> Vec<(String, String, String)> {
    server
        .objects::<Event>()
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .map(|e| {
            (
                e.type_.unwrap_or_default(),
                e.reason.unwrap_or_default(),
                e.note.unwrap_or_default(),
            )
        })
        .collect()
}

async fn wait_event(server: &ApiServer, name: &str, reason: &str) -> (String, String, String) {
    eventually(&format!("{reason} event for {name}"), WAIT, || {
        let found = events_for(server, name).into_iter().find(|e| e.1 == reason);
        async move { found }
    })
    .await
}

fn fast_options(identity: &str) -> ControllerOptions {
    ControllerOptions {
        identity: Some(identity.into()),
        lease_duration: Duration::from_secs(2),
        renew_deadline: Duration::from_millis(1200),
        renew_interval: Duration::from_millis(200),
        debounce: Duration::from_millis(20),
        ..ControllerOptions::default()
    }
}

fn start(server: &ApiServer, identity: &str) -> JoinHandle<()> {
    // RUST_LOG=ferrule=debug shows what the controllers do.
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
    let client = server.client_as(identity);
    let opts = fast_options(identity);
    tokio::spawn(async move {
        if let Err(e) = run(client, opts).await {
            panic!("controller stopped: {e}");
        }
    })
}

fn lease_holder(server: &ApiServer) -> Option<String> {
    server
        .object::<Lease>(Some(NS), "ferrule-controller")?
        .spec?
        .holder_identity
}

async fn wait_leader(server: &ApiServer, who: &str) {
    eventually(&format!("{who} holding the lease"), WAIT, || {
        let holder = lease_holder(server);
        async move { (holder.as_deref() == Some(who)).then_some(()) }
    })
    .await
}

/// Writes to Services and pools (status, annotations), leaving out leases and events.
fn object_writes(log: &[RequestRecord]) -> Vec<RequestRecord> {
    log.iter()
        .filter(|r| {
            r.verb.is_write()
                && (r.resource.ends_with("/services") || r.resource.ends_with("/ipaddresspools"))
        })
        .cloned()
        .collect()
}

#[tokio::test]
async fn seed_service_gets_an_address_in_one_reconcile() {
    let server = ApiServer::new();
    let client = server.client();
    create(&server, NS, &seed_pool()).await;
    create(&server, "default", &seed_service()).await;
    let opts = ControllerOptions::default();
    let leadership = Leadership::unconditional();
    let mut memory = Memory::default();

    let inputs = fetch(&client, NS).await.unwrap();
    let report = reconcile_once(&client, &opts, &leadership, &inputs, &mut memory)
        .await
        .unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);

    let ips = ingress(&server, "web");
    assert_eq!(ips.len(), 1, "one address: {ips:?}");
    assert!(seed_net().contains(&ips[0]), "{} in {}", ips[0], seed_net());
    let web = server.object::<Service>(Some("default"), "web").unwrap();
    assert_eq!(
        web.annotations().get(POOL_ANNOTATION).map(String::as_str),
        Some("prod-pool")
    );
    let events = events_for(&server, "web");
    assert_eq!(
        events,
        [(
            "Normal".to_string(),
            "IPAllocated".to_string(),
            format!("Assigned IP [\"{}\"]", ips[0])
        )]
    );
    let status = server
        .object::<IPAddressPool>(Some(NS), "prod-pool")
        .unwrap()
        .status
        .unwrap();
    assert_eq!((status.assigned_ipv4, status.available_ipv4), (1, 255));

    // The same view again changes nothing and says nothing.
    let before = server.requests().len();
    let inputs = fetch(&client, NS).await.unwrap();
    let report = reconcile_once(&client, &opts, &leadership, &inputs, &mut memory)
        .await
        .unwrap();
    assert_eq!((report.writes, report.events), (0, 0));
    assert!(server.requests()[before..]
        .iter()
        .all(|r| !r.verb.is_write()));
}

#[tokio::test]
async fn reconcile_writes_nothing_without_leadership() {
    let server = ApiServer::new();
    let client = server.client();
    create(&server, NS, &seed_pool()).await;
    create(&server, "default", &seed_service()).await;
    let inputs = fetch(&client, NS).await.unwrap();
    // A leadership that has already ended (never acquired).
    let (ended, _never_polled) = ferrule::elect(
        client.clone(),
        ferrule::LeaseConfig {
            name: "x".into(),
            namespace: NS.into(),
            identity: "x".into(),
            lease_duration: Duration::from_secs(1),
            renew_deadline: Duration::from_millis(600),
            renew_interval: Duration::from_millis(100),
        },
    );
    let result = reconcile_once(
        &client,
        &ControllerOptions::default(),
        &ended,
        &inputs,
        &mut Memory::default(),
    )
    .await;
    assert!(matches!(result, Err(ferrule::ControllerError::NotLeader)));
    assert!(
        server.writes_excluding(&[]).len() == 2,
        "only the test's two creates"
    );
}

/// Each case: Services created in order (name, annotations, port, loadBalancerClass) and
/// what each must end with.
#[tokio::test]
async fn allocation_outcomes() {
    #[derive(Debug)]
    enum Want {
        InSeedPool,
        Exactly(&'static str),
        /// AllocationFailed whose note mentions this, if given.
        Failed(Option<&'static str>),
        Untouched,
    }
    type Case = (
        &'static str,
        Vec<(
            &'static str,
            Vec<(&'static str, &'static str)>,
            i32,
            Option<&'static str>,
            Want,
        )>,
    );
    let cases: Vec<Case> = vec![
        (
            "two services, two addresses",
            vec![
                ("web", vec![], 443, None, Want::InSeedPool),
                ("web2", vec![], 443, None, Want::InSeedPool),
            ],
        ),
        (
            "address outside every pool",
            vec![(
                "outside",
                vec![("metallb.io/loadBalancerIPs", "198.51.100.7")],
                443,
                None,
                Want::Failed(Some("198.51.100.7")),
            )],
        ),
        (
            "requested address inside the pool",
            vec![(
                "pinned",
                vec![("metallb.io/loadBalancerIPs", "203.0.113.77")],
                443,
                None,
                Want::Exactly("203.0.113.77"),
            )],
        ),
        (
            "sharing with one key, refused without",
            vec![
                (
                    "share-a",
                    vec![
                        ("metallb.io/loadBalancerIPs", "203.0.113.50"),
                        ("metallb.io/allow-shared-ip", "k"),
                    ],
                    443,
                    None,
                    Want::Exactly("203.0.113.50"),
                ),
                (
                    "share-b",
                    vec![
                        ("metallb.io/loadBalancerIPs", "203.0.113.50"),
                        ("metallb.io/allow-shared-ip", "k"),
                    ],
                    80,
                    None,
                    Want::Exactly("203.0.113.50"),
                ),
                (
                    "no-share",
                    vec![("metallb.io/loadBalancerIPs", "203.0.113.50")],
                    8080,
                    None,
                    Want::Failed(None),
                ),
            ],
        ),
        (
            "foreign loadBalancerClass",
            vec![(
                "foreign",
                vec![],
                443,
                Some("example.com/other"),
                Want::Untouched,
            )],
        ),
    ];
    for (what, services) in cases {
        let server = ApiServer::new();
        create(&server, NS, &seed_pool()).await;
        let task = start(&server, "solo");
        // One at a time: who was first decides who gets a contested address.
        for (name, ann, port, class, want) in &services {
            let mut s = lb(name, ann, *port);
            s.spec.as_mut().unwrap().load_balancer_class = class.map(str::to_string);
            create(&server, "default", &s).await;
            match want {
                Want::InSeedPool => {
                    let ip = wait_assigned(&server, &[name]).await[*name];
                    assert!(seed_net().contains(&ip), "{what}: {name} got {ip}");
                }
                Want::Exactly(ip) => {
                    let got = wait_assigned(&server, &[name]).await[*name];
                    assert_eq!(got.to_string(), *ip, "{what}: {name}");
                }
                Want::Failed(mention) => {
                    let (ty, _, note) = wait_event(&server, name, "AllocationFailed").await;
                    assert_eq!(ty, "Warning");
                    assert!(note.contains(&format!("default/{name}")), "{what}: {note}");
                    if let Some(m) = mention {
                        assert!(note.contains(m), "{what}: {note} should name {m}");
                    }
                    assert!(
                        ingress(&server, name).is_empty(),
                        "{what}: {name} has no address"
                    );
                }
                Want::Untouched => {}
            }
        }
        // A marker Service proves the controller has seen (and handled) all of the above.
        create(&server, "default", &lb("marker", &[], 443)).await;
        wait_assigned(&server, &["marker"]).await;
        let mut holders: BTreeMap<IpAddr, Vec<&str>> = BTreeMap::new();
        for (name, _, _, _, want) in &services {
            let ips = ingress(&server, name);
            if matches!(want, Want::Untouched | Want::Failed(_)) {
                assert!(
                    ips.is_empty(),
                    "{what}: {name} must have no address, has {ips:?}"
                );
                let svc = server.object::<Service>(Some("default"), name).unwrap();
                if matches!(want, Want::Untouched) {
                    assert!(
                        events_for(&server, name).is_empty(),
                        "{what}: no events for {name}"
                    );
                    assert!(!svc.annotations().contains_key(POOL_ANNOTATION));
                }
            }
            for ip in ips {
                holders.entry(ip).or_default().push(name);
            }
        }
        for (ip, names) in &holders {
            let shared = names.iter().all(|n| n.starts_with("share-"));
            assert!(names.len() == 1 || shared, "{what}: {ip} held by {names:?}");
        }
        // Events only on a change of outcome: one each, however many reconciles ran.
        for (name, _, _, _, want) in &services {
            let n = events_for(&server, name).len();
            let expected = usize::from(!matches!(want, Want::Untouched));
            assert_eq!(n, expected, "{what}: events for {name}");
        }
        task.abort();
    }
}

#[tokio::test]
async fn exhaustion_then_release_on_delete() {
    let server = ApiServer::new();
    create(&server, NS, &seed_pool()).await;
    create(&server, NS, &pool("small", &["198.51.100.0/30"], false)).await;
    let task = start(&server, "solo");
    let names = ["s0", "s1", "s2", "s3"];
    for n in names {
        create(
            &server,
            "default",
            &lb(n, &[("metallb.io/address-pool", "small")], 443),
        )
        .await;
        wait_assigned(&server, &[n]).await;
    }
    create(
        &server,
        "default",
        &lb("s4", &[("metallb.io/address-pool", "small")], 443),
    )
    .await;
    let (_, _, note) = wait_event(&server, "s4", "AllocationFailed").await;
    assert!(note.contains("default/s4"), "{note}");
    let held = wait_assigned(&server, &names).await;
    let small: IpNet = "198.51.100.0/30".parse().unwrap();
    assert_eq!(
        held.values().collect::<BTreeSet<_>>().len(),
        4,
        "distinct: {held:?}"
    );
    assert!(held.values().all(|ip| small.contains(ip)), "{held:?}");
    assert!(ingress(&server, "s4").is_empty());
    let status = eventually("pool status full", WAIT, || {
        let s = server
            .object::<IPAddressPool>(Some(NS), "small")
            .and_then(|p| p.status);
        async move { s.filter(|s| s.assigned_ipv4 == 4) }
    })
    .await;
    assert_eq!(status.available_ipv4, 0);

    // Deleting one hands exactly its address to the waiting Service.
    Api::<Service>::namespaced(server.client(), "default")
        .delete("s1", &DeleteParams::default())
        .await
        .unwrap();
    let got = wait_assigned(&server, &["s4"]).await["s4"];
    assert_eq!(got, held["s1"]);
    let (ty, _, note) = wait_event(&server, "s4", "IPAllocated").await;
    assert_eq!(
        (ty.as_str(), note),
        ("Normal", format!("Assigned IP [\"{got}\"]"))
    );
    for n in ["s0", "s2", "s3"] {
        assert_eq!(ingress(&server, n), [held[n]], "{n} keeps its address");
    }
    task.abort();
}

#[tokio::test]
async fn type_change_releases_and_pool_change_retries() {
    let server = ApiServer::new();
    create(&server, NS, &pool("small", &["198.51.100.0/31"], true)).await;
    let task = start(&server, "solo");
    for n in ["a", "b"] {
        create(&server, "default", &lb(n, &[], 443)).await;
        wait_assigned(&server, &[n]).await;
    }
    create(&server, "default", &lb("c", &[], 443)).await;
    wait_event(&server, "c", "AllocationFailed").await;
    let services = Api::<Service>::namespaced(server.client(), "default");

    // a stops being a LoadBalancer: its status and annotation go, c gets its address.
    let a_ip = ingress(&server, "a")[0];
    services
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "type": "ClusterIP" } })),
        )
        .await
        .unwrap();
    assert_eq!(wait_assigned(&server, &["c"]).await["c"], a_ip);
    assert!(ingress(&server, "a").is_empty());
    let a = server.object::<Service>(Some("default"), "a").unwrap();
    assert!(!a.annotations().contains_key(POOL_ANNOTATION));

    // A pending Service is retried when a pool grows.
    create(&server, "default", &lb("d", &[], 443)).await;
    wait_event(&server, "d", "AllocationFailed").await;
    Api::<IPAddressPool>::namespaced(server.client(), NS)
        .patch(
            "small",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "addresses": ["198.51.100.0/30"] } })),
        )
        .await
        .unwrap();
    let d = wait_assigned(&server, &["d"]).await["d"];
    assert!("198.51.100.0/30".parse::<IpNet>().unwrap().contains(&d));
    task.abort();
}

#[tokio::test]
async fn restart_keeps_every_address() {
    let server = ApiServer::new();
    create(&server, NS, &seed_pool()).await;
    let first = start(&server, "first");
    let names = ["a", "b", "c", "d"];
    for n in names {
        create(&server, "default", &lb(n, &[], 443)).await;
    }
    let before = wait_assigned(&server, &names).await;
    first.abort();
    let _ = first.await;

    // While nobody runs: the lowest address is freed and a newcomer arrives, which a
    // recompute from scratch would be tempted to shuffle.
    let lowest = before
        .iter()
        .min_by_key(|(_, ip)| **ip)
        .map(|(n, _)| n.clone())
        .unwrap();
    Api::<Service>::namespaced(server.client(), "default")
        .delete(&lowest, &DeleteParams::default())
        .await
        .unwrap();
    create(&server, "default", &lb("newcomer", &[], 443)).await;
    let mark = server.requests().len();

    let second = start(&server, "second");
    wait_assigned(&server, &["newcomer"]).await;
    for (n, ip) in &before {
        if *n != lowest {
            assert_eq!(ingress(&server, n), [*ip], "{n} keeps its address");
        }
    }
    let touched: BTreeSet<String> = object_writes(&server.requests()[mark..])
        .iter()
        .filter(|r| r.resource.ends_with("/services"))
        .filter_map(|r| r.name.clone())
        .collect();
    assert_eq!(
        touched,
        BTreeSet::from(["newcomer".to_string()]),
        "only the newcomer was written"
    );
    second.abort();
}

#[tokio::test]
async fn no_writes_in_steady_state() {
    let server = ApiServer::new();
    create(&server, NS, &seed_pool()).await;
    let task = start(&server, "solo");
    for n in ["a", "b"] {
        create(&server, "default", &lb(n, &[], 443)).await;
    }
    wait_assigned(&server, &["a", "b"]).await;
    create(&server, "default", &lb("probe1", &[], 443)).await;
    wait_assigned(&server, &["probe1"]).await;
    eventually("pool status counts 3", WAIT, || {
        let s = server
            .object::<IPAddressPool>(Some(NS), "prod-pool")
            .and_then(|p| p.status);
        async move { s.filter(|s| s.assigned_ipv4 == 3).map(|_| ()) }
    })
    .await;
    let mark = server.requests().len();

    // Changes that wake the controller but change no outcome...
    let services = Api::<Service>::namespaced(server.client(), "default");
    services
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "labels": { "touched": "yes" } } })),
        )
        .await
        .unwrap();
    Api::<Namespace>::all(server.client())
        .create(
            &PostParams::default(),
            &Namespace {
                metadata: ObjectMeta {
                    name: Some("other".into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // ...then one that does; once it is handled, the others were seen too.
    create(&server, "default", &lb("probe2", &[], 443)).await;
    wait_assigned(&server, &["probe2"]).await;
    eventually("pool status counts 4", WAIT, || {
        let s = server
            .object::<IPAddressPool>(Some(NS), "prod-pool")
            .and_then(|p| p.status);
        async move { s.filter(|s| s.assigned_ipv4 == 4).map(|_| ()) }
    })
    .await;

    let writes: Vec<(String, Option<String>)> = server.requests()[mark..]
        .iter()
        .filter(|r| {
            r.verb.is_write()
                && r.client.as_deref() == Some("solo")
                && !r.resource.ends_with("/leases")
        })
        .map(|r| (r.resource.clone(), r.name.clone()))
        .collect();
    let unexpected: Vec<_> = writes
        .iter()
        .filter(|(res, name)| {
            let probe = name.as_deref() == Some("probe2") && res.ends_with("/services");
            let pool = name.as_deref() == Some("prod-pool");
            let event = res.ends_with("/events");
            !(probe || pool || event)
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "writes beyond probe2: {unexpected:?}"
    );
    let events = writes
        .iter()
        .filter(|(r, _)| r.ends_with("/events"))
        .count();
    assert_eq!(events, 1, "one IPAllocated for probe2");
    task.abort();
}

/// Watches every Service change and checks, at each, that no Service ever held two
/// different address sets and no address is held by two Services that do not share.
/// Returns the violations found so far and the names seen, shared with the task.
struct Checker {
    task: JoinHandle<()>,
    violations: Arc<Mutex<Vec<String>>>,
    seen: Arc<Mutex<BTreeSet<String>>>,
}

impl Checker {
    fn start(server: &ApiServer) -> Checker {
        let api: Api<Service> = Api::all(server.client());
        let violations = Arc::new(Mutex::new(Vec::new()));
        let seen_names = Arc::new(Mutex::new(BTreeSet::new()));
        let (v, names) = (violations.clone(), seen_names.clone());
        let task = tokio::spawn(async move {
            let mut held: BTreeMap<String, BTreeSet<Vec<IpAddr>>> = BTreeMap::new();
            let mut current: BTreeMap<String, (Vec<IpAddr>, Option<String>)> = BTreeMap::new();
            let mut stream = Box::pin(api.watch(&WatchParams::default(), "0").await.unwrap());
            while let Ok(Some(ev)) = stream.try_next().await {
                let (svc, gone) = match ev {
                    WatchEvent::Added(s) | WatchEvent::Modified(s) => (s, false),
                    WatchEvent::Deleted(s) => (s, true),
                    _ => continue,
                };
                let name = svc.name_any();
                names.lock().unwrap().insert(name.clone());
                if gone {
                    current.remove(&name);
                    continue;
                }
                let ips: Vec<IpAddr> = svc
                    .status
                    .clone()
                    .and_then(|s| s.load_balancer?.ingress)
                    .map(|i| {
                        i.iter()
                            .filter_map(|x| x.ip.as_ref()?.parse().ok())
                            .collect()
                    })
                    .unwrap_or_default();
                if !ips.is_empty() {
                    let sets = held.entry(name.clone()).or_default();
                    sets.insert(ips.clone());
                    if sets.len() > 1 {
                        v.lock().unwrap().push(format!("{name} held {sets:?}"));
                    }
                }
                let key = svc.annotations().get("metallb.io/allow-shared-ip").cloned();
                current.insert(name, (ips, key));
                let mut holders: BTreeMap<IpAddr, Vec<(&String, &Option<String>)>> =
                    BTreeMap::new();
                for (n, (ips, k)) in &current {
                    for ip in ips {
                        holders.entry(*ip).or_default().push((n, k));
                    }
                }
                for (ip, hs) in holders {
                    let shared = hs.iter().all(|(_, k)| k.is_some() && *k == hs[0].1);
                    if hs.len() > 1 && !shared {
                        v.lock().unwrap().push(format!("{ip} held by {hs:?}"));
                    }
                }
            }
        });
        Checker {
            task,
            violations,
            seen: seen_names,
        }
    }

    /// Wait until the checker has seen `sentinel`, then return its findings.
    async fn finish(self, sentinel: &str) -> Vec<String> {
        eventually("the checker catching up", WAIT, || {
            let done = self.seen.lock().unwrap().contains(sentinel);
            async move { done.then_some(()) }
        })
        .await;
        self.task.abort();
        let v = self.violations.lock().unwrap().clone();
        v
    }
}

#[tokio::test]
async fn leader_handover() {
    let server = ApiServer::new();
    create(&server, NS, &seed_pool()).await;
    let checker = Checker::start(&server);
    let a = start(&server, "a");
    wait_leader(&server, "a").await;
    let b = start(&server, "b");
    for n in ["s1", "s2", "s3"] {
        create(&server, "default", &lb(n, &[], 443)).await;
    }
    wait_assigned(&server, &["s1", "s2", "s3"]).await;
    assert_eq!(lease_holder(&server).as_deref(), Some("a"));
    let by = |who: &str, log: &[RequestRecord]| {
        object_writes(log)
            .iter()
            .filter(|r| r.client.as_deref() == Some(who))
            .count()
    };
    assert_eq!(by("b", &server.requests()), 0, "the standby never writes");
    assert!(by("a", &server.requests()) > 0);

    // Kill the leader: b takes over once the lease expires, and serves new Services.
    a.abort();
    let _ = a.await;
    let killed_at = server.requests().len();
    Api::<Service>::namespaced(server.client(), "default")
        .delete("s2", &DeleteParams::default())
        .await
        .unwrap();
    create(&server, "default", &lb("s4", &[], 443)).await;
    wait_leader(&server, "b").await;
    wait_assigned(&server, &["s4"]).await;
    assert_eq!(by("a", &server.requests()[killed_at..]), 0);

    // Someone else takes the lease: b stops writing at once; after that holder goes
    // silent, a fresh `a` takes over.
    let leases: Api<Lease> = Api::namespaced(server.client(), NS);
    let mut lease = leases.get("ferrule-controller").await.unwrap();
    lease.spec.as_mut().unwrap().holder_identity = Some("intruder".into());
    leases
        .replace("ferrule-controller", &PostParams::default(), &lease)
        .await
        .unwrap();
    let stolen_at = server.requests().len();
    // b learns of it at its next lease read; its second read proves the first was handled.
    eventually("b reading the lease twice", WAIT, || {
        let reads = server.requests()[stolen_at..]
            .iter()
            .filter(|r| {
                r.client.as_deref() == Some("b")
                    && r.resource.ends_with("/leases")
                    && r.verb == Verb::Get
            })
            .count();
        async move { (reads >= 2).then_some(()) }
    })
    .await;
    let quiet_at = server.requests().len();
    let a = start(&server, "a");
    create(&server, "default", &lb("s5", &[], 443)).await;
    // The intruder never renews: a or b takes over after it expires.
    let winner = eventually("a new leader", WAIT, || {
        let h = lease_holder(&server).filter(|h| h != "intruder");
        async move { h }
    })
    .await;
    wait_assigned(&server, &["s5"]).await;
    let log = server.requests();
    let log = &log[quiet_at..];
    let loser = if winner == "a" { "b" } else { "a" };
    assert_eq!(by(loser, log), 0, "{loser} wrote without the lease");
    let takeover = log
        .iter()
        .position(|r| {
            r.client.as_deref() == Some(winner.as_str())
                && r.resource.ends_with("/leases")
                && r.verb == Verb::Update
        })
        .expect("the winner wrote the lease");
    assert_eq!(
        by(&winner, &log[..takeover]),
        0,
        "{winner} wrote before taking the lease"
    );
    assert!(by(&winner, &log[takeover..]) > 0);

    a.abort();
    b.abort();
    create(&server, "default", &lb("sentinel", &[], 443)).await;
    let violations = checker.finish("sentinel").await;
    assert!(violations.is_empty(), "{violations:?}");
}

/// The leader is cut off from the API: it steps down on its own, the standby takes over,
/// and once the old leader is back it stays a standby and writes nothing.
#[tokio::test]
async fn partitioned_leader_steps_down() {
    let server = ApiServer::new();
    create(&server, NS, &seed_pool()).await;
    let checker = Checker::start(&server);
    let a = start(&server, "a");
    wait_leader(&server, "a").await;
    let b = start(&server, "b");
    create(&server, "default", &lb("s1", &[], 443)).await;
    wait_assigned(&server, &["s1"]).await;

    server.inject(Fault {
        client: Some("a".into()),
        code: 503,
        times: usize::MAX,
        ..Default::default()
    });
    create(&server, "default", &lb("s2", &[], 443)).await;
    wait_leader(&server, "b").await;
    wait_assigned(&server, &["s2"]).await;
    let log = server.requests();
    let takeover = log
        .iter()
        .position(|r| {
            r.client.as_deref() == Some("b")
                && r.resource.ends_with("/leases")
                && r.verb == Verb::Update
        })
        .expect("b took the lease");
    let a_after: Vec<_> = object_writes(&log[takeover..])
        .into_iter()
        .filter(|r| r.client.as_deref() == Some("a"))
        .collect();
    assert!(
        a_after.is_empty(),
        "a tried to write after b took over: {a_after:?}"
    );

    server.clear_faults();
    create(&server, "default", &lb("s3", &[], 443)).await;
    wait_assigned(&server, &["s3"]).await;
    // a is reachable again and reads the lease, but b still holds it.
    let healed_at = server.requests().len();
    eventually("a reading the lease again", WAIT, || {
        let n = server.requests()[healed_at..]
            .iter()
            .filter(|r| r.client.as_deref() == Some("a") && r.resource.ends_with("/leases"))
            .count();
        async move { (n >= 2).then_some(()) }
    })
    .await;
    assert_eq!(lease_holder(&server).as_deref(), Some("b"));
    let a_writes = object_writes(&server.requests()[takeover..])
        .into_iter()
        .filter(|r| r.client.as_deref() == Some("a"))
        .count();
    assert_eq!(a_writes, 0);

    a.abort();
    b.abort();
    create(&server, "default", &lb("sentinel", &[], 443)).await;
    let violations = checker.finish("sentinel").await;
    assert!(violations.is_empty(), "{violations:?}");
}

/// The leader's write hangs in the network while its leadership runs out and the standby
/// takes over. The write is abandoned when the leadership ends, so when the network lets it
/// through at last it is gone: nothing the old leader computed lands after the hand-over.
#[tokio::test]
async fn a_write_hung_past_the_hand_over_never_lands() {
    let server = ApiServer::new();
    create(&server, NS, &seed_pool()).await;
    let a = start(&server, "a");
    wait_leader(&server, "a").await;
    let b = start(&server, "b");
    create(&server, "default", &lb("s1", &[], 443)).await;
    wait_assigned(&server, &["s1"]).await;

    // Every new request of a's hangs (its renewals too); its open watches still deliver.
    let cut = server.requests().len();
    server.inject(Fault {
        client: Some("a".into()),
        hang: true,
        times: usize::MAX,
        ..Default::default()
    });
    create(&server, "default", &lb("s2", &[], 443)).await;
    eventually("a's write of s2 hanging", WAIT, || {
        let hung = object_writes(&server.requests()[cut..])
            .iter()
            .any(|r| r.client.as_deref() == Some("a") && r.served.is_none());
        async move { hung.then_some(()) }
    })
    .await;
    wait_leader(&server, "b").await;
    wait_assigned(&server, &["s2"]).await;
    let log = server.requests();
    let takeover = log
        .iter()
        .filter(|r| {
            r.client.as_deref() == Some("b")
                && r.resource.ends_with("/leases")
                && r.verb == Verb::Update
        })
        .filter_map(|r| r.served)
        .min()
        .expect("b took the lease");

    // The network heals: whatever a still had in flight is served now.
    server.clear_faults();
    let healed = server.requests().len();
    eventually("a talking to the API again", WAIT, || {
        let n = server.requests()[healed..]
            .iter()
            .filter(|r| r.client.as_deref() == Some("a") && r.served.is_some())
            .count();
        async move { (n >= 2).then_some(()) }
    })
    .await;
    let late: Vec<_> = object_writes(&server.requests())
        .into_iter()
        .filter(|r| r.client.as_deref() == Some("a") && r.served.is_some_and(|s| s > takeover))
        .collect();
    assert!(
        late.is_empty(),
        "a's writes landed after b took over: {late:?}"
    );
    assert_eq!(lease_holder(&server).as_deref(), Some("b"));
    a.abort();
    b.abort();
}

#[tokio::test]
async fn rbac_grants_exactly_what_the_controller_calls() {
    use ferrule::api::{BFDProfile, BGPAdvertisement, BGPPeer, Community, L2Advertisement};
    let server = ApiServer::new();
    create(&server, NS, &seed_pool()).await;
    create(
        &server,
        NS,
        &metallb::<L2Advertisement>("L2Advertisement", "l2", json!({})),
    )
    .await;
    // One object of every metallb.io kind, so each gets its condition written.
    create(
        &server,
        NS,
        &metallb::<BFDProfile>("BFDProfile", "fast", json!({})),
    )
    .await;
    create(
        &server,
        NS,
        &metallb::<BGPPeer>(
            "BGPPeer",
            "tor1",
            json!({ "myASN": 65100, "peerASN": 65000, "peerAddress": "192.0.2.1" }),
        ),
    )
    .await;
    create(
        &server,
        NS,
        &metallb::<BGPAdvertisement>("BGPAdvertisement", "all", json!({})),
    )
    .await;
    create(
        &server,
        NS,
        &metallb::<Community>("Community", "names", json!({})),
    )
    .await;
    let task = start(&server, "rbac");
    create(&server, "default", &lb("web", &[], 443)).await;
    wait_assigned(&server, &["web"]).await;
    eventually("pool status written", WAIT, || {
        let s = server
            .object::<IPAddressPool>(Some(NS), "prod-pool")
            .and_then(|p| p.status);
        async move { s.filter(|s| s.assigned_ipv4 == 1).map(|_| ()) }
    })
    .await;
    wait_valid::<BFDProfile>(&server, "fast", "True").await;
    wait_valid::<BGPPeer>(&server, "tor1", "True").await;
    wait_valid::<BGPAdvertisement>(&server, "all", "True").await;
    wait_valid::<Community>(&server, "names", "True").await;
    wait_valid::<IPAddressPool>(&server, "prod-pool", "True").await;
    wait_valid::<L2Advertisement>(&server, "l2", "False/Unsupported").await;
    // A renewal (update of the existing Lease) happens within one renew interval.
    eventually("lease renewed", WAIT, || {
        let renewed = server.requests().iter().any(|r| {
            r.client.as_deref() == Some("rbac")
                && r.resource.ends_with("/leases")
                && r.verb == support::apiserver::Verb::Update
        });
        async move { renewed.then_some(()) }
    })
    .await;
    task.abort();
    let mine: Vec<RequestRecord> = server
        .requests()
        .into_iter()
        .filter(|r| r.client.as_deref() == Some("rbac"))
        .collect();
    let unused = support::rbac::assert_granted("ferrule-controller", &mine);
    assert!(
        unused.is_empty(),
        "ferrule-controller grants nothing calls: {unused:?}"
    );
}

fn metallb<K: serde::de::DeserializeOwned>(kind: &str, name: &str, spec: serde_json::Value) -> K {
    let version = if kind == "BGPPeer" {
        "v1beta2"
    } else {
        "v1beta1"
    };
    serde_json::from_value(json!({
        "apiVersion": format!("metallb.io/{version}"),
        "kind": kind,
        "metadata": { "name": name, "namespace": NS },
        "spec": spec,
    }))
    .unwrap()
}

/// The `Valid` condition of a stored metallb.io object: (status, message).
/// The `Valid` condition as ("Status/Reason", message).
fn valid_condition<K>(server: &ApiServer, name: &str) -> Option<(String, String)>
where
    K: kube::Resource<DynamicType = ()> + serde::de::DeserializeOwned + serde::Serialize,
{
    let v = server.object_raw::<K>(Some(NS), name)?;
    v["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Valid")
        .map(|c| {
            (
                format!(
                    "{}/{}",
                    c["status"].as_str().unwrap_or(""),
                    c["reason"].as_str().unwrap_or("")
                ),
                c["message"].as_str().unwrap_or("").to_string(),
            )
        })
}

/// Waits for `Valid` to have status `want` ("True"), or status and reason ("True/Degraded").
async fn wait_valid<K>(server: &ApiServer, name: &str, want: &str) -> String
where
    K: kube::Resource<DynamicType = ()> + serde::de::DeserializeOwned + serde::Serialize,
{
    eventually(&format!("{name} Valid={want}"), WAIT, || {
        let c = valid_condition::<K>(server, name);
        let whole = want.contains('/');
        async move {
            c.filter(|(s, _)| {
                if whole {
                    s == want
                } else {
                    s.split('/').next() == Some(want)
                }
            })
            .map(|(_, m)| m)
        }
    })
    .await
}

/// Every MetalLB object carries a `Valid` condition: an invalid one says which field is
/// wrong, one used with a part defaulted is `Degraded` and says what, a fix turns both
/// `Valid`, and objects whose verdict did not change are not rewritten.
#[tokio::test]
async fn validation_conditions_on_metallb_objects() {
    use ferrule::api::{BFDProfile, BGPAdvertisement, BGPPeer, Community};
    let server = ApiServer::new();
    create(&server, NS, &seed_pool()).await;
    create(
        &server,
        NS,
        &metallb::<BFDProfile>("BFDProfile", "fast", json!({ "receiveInterval": 100 })),
    )
    .await;
    // Its Secret does not exist: the session runs, keeping whatever password it had.
    create(&server, NS, &metallb::<BGPPeer>("BGPPeer", "tor1", json!({ "myASN": 65100, "peerASN": 65000, "peerAddress": "192.0.2.1", "bfdProfile": "fast", "passwordSecret": { "name": "tor1-pw" } }))).await;
    // A missing profile: MetalLB still runs the session, with BFD at FRR's defaults.
    create(&server, NS, &metallb::<BGPPeer>("BGPPeer", "tor2", json!({ "myASN": 65100, "peerASN": 65000, "peerAddress": "192.0.2.2", "bfdProfile": "missing" }))).await;
    // Nothing to peer with: left out.
    create(
        &server,
        NS,
        &metallb::<BGPPeer>(
            "BGPPeer",
            "tor3",
            json!({ "myASN": 65100, "peerASN": 65000, "peerAddress": "192.0.2.300" }),
        ),
    )
    .await;
    create(
        &server,
        NS,
        &metallb::<Community>(
            "Community",
            "names",
            json!({ "communities": [{ "name": "vip", "value": "65000:100" }] }),
        ),
    )
    .await;
    // As MetalLB's docs create it: no spec at all.
    server.seed_raw::<BGPAdvertisement>(json!({
        "apiVersion": "metallb.io/v1beta1",
        "kind": "BGPAdvertisement",
        "metadata": { "name": "all", "namespace": NS },
    }));
    let task = start(&server, "validator");

    let why = wait_valid::<BGPPeer>(&server, "tor2", "True/Degraded").await;
    assert!(why.contains("spec.bfdProfile"), "{why}");
    assert!(why.contains("missing"), "{why}");
    let why = wait_valid::<BGPPeer>(&server, "tor3", "False/Invalid").await;
    assert!(why.contains("spec.peerAddress"), "{why}");
    let why = wait_valid::<BGPPeer>(&server, "tor1", "True/Degraded").await;
    assert!(why.contains("tor1-pw"), "{why}");
    wait_valid::<BFDProfile>(&server, "fast", "True").await;
    wait_valid::<Community>(&server, "names", "True").await;
    wait_valid::<BGPAdvertisement>(&server, "all", "True").await;
    wait_valid::<IPAddressPool>(&server, "prod-pool", "True").await;
    // The pool's counts (the allocation loop's) and its condition live side by side.
    eventually("pool counts beside the condition", WAIT, || {
        let s = server
            .object::<IPAddressPool>(Some(NS), "prod-pool")
            .and_then(|p| p.status);
        async move {
            s.filter(|s| s.available_ipv4 > 0 && !s.conditions.is_empty())
                .map(|_| ())
        }
    })
    .await;

    // The fix: tor2 names a profile that exists.
    let mark = server.requests().len();
    Api::<BGPPeer>::namespaced(server.client(), NS)
        .patch(
            "tor2",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "bfdProfile": "fast" } })),
        )
        .await
        .unwrap();
    wait_valid::<BGPPeer>(&server, "tor2", "True/Valid").await;
    let status_writes: Vec<(String, Option<String>)> = server.requests()[mark..]
        .iter()
        .filter(|r| r.client.as_deref() == Some("validator") && r.verb.is_write())
        .filter(|r| r.resource.contains("metallb.io"))
        .map(|r| (r.resource.clone(), r.name.clone()))
        .collect();
    assert!(
        status_writes.len() == 1 && status_writes[0].1.as_deref() == Some("tor2"),
        "only tor2's condition is rewritten: {status_writes:?}"
    );
    task.abort();
}

/// The first rule in the controller: a newer pool overlapping the serving one (its name
/// sorting first), or an invalid one, changes no Service's address, and the controller does
/// not even write to those Services; a Service created meanwhile gets an address from the
/// incumbent. A serving pool that turns invalid keeps its Services' addresses (an event
/// says why), and they are the same once it is fixed.
#[tokio::test]
async fn bad_pools_move_no_address() {
    let server = ApiServer::new();
    create(&server, NS, &seed_pool()).await;
    let task = start(&server, "first-rule");
    for n in ["a", "b"] {
        create(&server, "default", &lb(n, &[], 443)).await;
    }
    let before = wait_assigned(&server, &["a", "b"]).await;
    let mark = server.requests().len();

    create(&server, NS, &pool("aaa-pool", &["203.0.113.0/25"], true)).await;
    let why = wait_valid::<IPAddressPool>(&server, "aaa-pool", "False/Conflict").await;
    assert!(why.contains("prod-pool"), "names the incumbent: {why}");
    create(&server, NS, &pool("aab-pool", &["not-an-address"], true)).await;
    wait_valid::<IPAddressPool>(&server, "aab-pool", "False/Invalid").await;
    wait_valid::<IPAddressPool>(&server, "prod-pool", "True/Valid").await;
    create(&server, "default", &lb("c", &[], 443)).await;
    let c = wait_assigned(&server, &["c"]).await["c"];
    assert!(seed_net().contains(&c));
    let svc_c = server.object::<Service>(Some("default"), "c").unwrap();
    assert_eq!(svc_c.annotations()[POOL_ANNOTATION], "prod-pool");
    for n in ["a", "b"] {
        assert_eq!(ingress(&server, n), [before[n]], "{n} keeps its address");
    }
    let touched: Vec<RequestRecord> = object_writes(&server.requests()[mark..])
        .into_iter()
        .filter(|r| r.resource.ends_with("/services") || r.resource.ends_with("/services/status"))
        .filter(|r| matches!(r.name.as_deref(), Some("a") | Some("b")))
        .collect();
    assert!(touched.is_empty(), "no write to a or b: {touched:?}");

    // The serving pool edited into a shape ferrule cannot read (its CRD aside): it keeps
    // meaning what it meant; nothing moves and nothing is deleted.
    let pools = Api::<IPAddressPool>::namespaced(server.client(), NS);
    let mark = server.requests().len();
    Api::<kube::api::DynamicObject>::namespaced_with(
        server.client(),
        NS,
        &kube::api::ApiResource::erase::<IPAddressPool>(&()),
    )
    .patch(
        "prod-pool",
        &PatchParams::default(),
        &Patch::Merge(json!({ "spec": { "addresses": "203.0.113.0/24" } })),
    )
    .await
    .unwrap();
    let why = wait_valid::<IPAddressPool>(&server, "prod-pool", "False").await;
    assert!(why.contains("last version that fitted"), "{why}");
    create(&server, "default", &lb("d", &[], 443)).await;
    let d = wait_assigned(&server, &["d"]).await["d"];
    assert!(
        seed_net().contains(&d),
        "allocated from the last fitting prod-pool: {d}"
    );
    for n in ["a", "b"] {
        assert_eq!(ingress(&server, n), [before[n]], "{n} keeps its address");
    }
    let touched: Vec<RequestRecord> = object_writes(&server.requests()[mark..])
        .into_iter()
        .filter(|r| r.resource.contains("/services"))
        .filter(|r| matches!(r.name.as_deref(), Some("a") | Some("b") | Some("c")))
        .collect();
    assert!(touched.is_empty(), "no write to a, b or c: {touched:?}");
    pools
        .patch(
            "prod-pool",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "addresses": ["203.0.113.0/24"] } })),
        )
        .await
        .unwrap();
    wait_valid::<IPAddressPool>(&server, "prod-pool", "True/Valid").await;

    // The serving pool itself breaks: its Services keep their addresses, and say why.
    // (aaa-pool goes first: with prod-pool unusable it would stop losing the overlap and
    // take the Services in, at the same addresses.)
    pools
        .delete("aaa-pool", &DeleteParams::default())
        .await
        .unwrap();
    pools
        .patch(
            "prod-pool",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "addresses": ["garbage"] } })),
        )
        .await
        .unwrap();
    wait_valid::<IPAddressPool>(&server, "prod-pool", "False/Invalid").await;
    let (ty, _, note) = wait_event(&server, "b", "AddressKept").await;
    // A Warning: the Service is not announced until the pool is fixed.
    assert_eq!(ty, "Warning", "{note}");
    assert!(
        note.contains("prod-pool") && note.contains(&before["b"].to_string()),
        "{note}"
    );
    for n in ["a", "b"] {
        assert_eq!(
            ingress(&server, n),
            [before[n]],
            "{n} keeps its address while broken"
        );
    }
    assert_eq!(ingress(&server, "c"), [c]);
    pools
        .patch(
            "prod-pool",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "addresses": ["203.0.113.0/24"] } })),
        )
        .await
        .unwrap();
    wait_valid::<IPAddressPool>(&server, "prod-pool", "True/Valid").await;
    for n in ["a", "b"] {
        assert_eq!(
            ingress(&server, n),
            [before[n]],
            "{n} has the same address after the fix"
        );
    }

    // Deleting the pool on purpose does take the addresses away, and says why.
    pools
        .delete("prod-pool", &DeleteParams::default())
        .await
        .unwrap();
    let (ty, _, note) = wait_event(&server, "a", "PoolDeleted").await;
    assert_eq!(ty, "Warning", "{note}");
    assert!(
        note.contains("prod-pool") && note.contains(&before["a"].to_string()),
        "{note}"
    );
    eventually("a released", WAIT, || {
        let empty = ingress(&server, "a").is_empty();
        async move { empty.then_some(()) }
    })
    .await;
    task.abort();
}
