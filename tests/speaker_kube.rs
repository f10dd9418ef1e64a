//! The speaker's Kubernetes glue through kube's real Client against the in-process API
//! stand-in: the source builds the node's snapshot from reflectors, the sink writes status
//! objects only when they change, and RBAC grants exactly what both call.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ferrule::api::status::{BGPSession, ServiceAnnouncement, SpeakerNode};
use ferrule::Snapshot;
use ferrule::{build_status, engine, ApplyInfo, EngineConfig, KubeSink, Metrics, StatusSink};
use ferrule::{compute, Addresses, Options};
use k8s_openapi::api::core::v1::{LoadBalancerIngress, LoadBalancerStatus, ServiceStatus};
use support::apiserver::{ApiServer, Fault, Verb};
use support::eventually;
use support::fake_frr::FakeFrr;
use tokio::sync::watch;

const NS: &str = "metallb-system";
const WAIT: Duration = Duration::from_secs(10);

/// The seed's objects in the stand-in, with web already holding 203.0.113.5 (as the
/// controller would have written).
fn seeded_server() -> ApiServer {
    let s = support::fixtures::seed_snapshot();
    let server = ApiServer::new();
    s.pools.iter().for_each(|o| server.seed(o));
    s.peers.iter().for_each(|o| server.seed(o));
    s.advertisements.iter().for_each(|o| server.seed(o));
    s.bfd_profiles.iter().for_each(|o| server.seed(o));
    s.endpoint_slices.iter().for_each(|o| server.seed(&**o));
    s.nodes.iter().for_each(|o| server.seed(o));
    for svc in &s.services {
        let mut svc = (**svc).clone();
        svc.status = Some(ServiceStatus {
            load_balancer: Some(LoadBalancerStatus {
                ingress: Some(vec![LoadBalancerIngress {
                    ip: Some("203.0.113.5".into()),
                    ..Default::default()
                }]),
            }),
            ..Default::default()
        });
        server.seed(&svc);
    }
    server
}

async fn snapshot_from(server: &ApiServer, node: &str) -> Arc<Snapshot> {
    let (tx, mut rx) = watch::channel(None);
    let task = tokio::spawn(ferrule::watch_cluster(
        server.client_as("speaker"),
        NS.into(),
        node.into(),
        tx,
    ));
    let snap = eventually("a synced snapshot", WAIT, || {
        let s = rx.borrow_and_update().clone();
        async move { s }
    })
    .await;
    task.abort();
    snap
}

#[tokio::test]
async fn source_builds_the_node_snapshot_and_caches_only_what_the_node_needs() {
    let server = seeded_server();
    for (name, text) in [
        (
            "bgpextras",
            "ip prefix-list extra seq 5 permit 198.51.100.0/24\n",
        ),
        ("unrelated", "x"),
    ] {
        server.seed_raw::<k8s_openapi::api::core::v1::ConfigMap>(serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": { "name": name, "namespace": NS },
            "data": { "extras": text }
        }));
    }
    // A Node as the kubelet writes it, with much the speaker has no use for.
    server.seed_raw::<k8s_openapi::api::core::v1::Node>(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": { "name": "node-24", "labels": { "rack": "r2" } },
        "spec": { "podCIDR": "198.51.100.0/26", "providerID": "metal://24" },
        "status": {
            "addresses": [{ "type": "InternalIP", "address": "198.51.100.24" }],
            "images": [{ "names": ["registry.example/app:1"], "sizeBytes": 1000 }],
            "nodeInfo": { "machineID": "m", "systemUUID": "s", "bootID": "b", "kernelVersion": "6",
                "osImage": "d", "containerRuntimeVersion": "c", "kubeletVersion": "k",
                "kubeProxyVersion": "k", "operatingSystem": "linux", "architecture": "amd64" },
            "conditions": [
                { "type": "Ready", "status": "True" },
                { "type": "NetworkUnavailable", "status": "False" }
            ]
        }
    }));
    let snap = snapshot_from(&server, "node-21").await;
    assert_eq!(snap.pools.len(), 1);
    assert_eq!(snap.peers.len(), 2);
    assert_eq!(snap.services.len(), 1);
    // Every Node is watched (rules between peers and advertisements depend on which nodes
    // their selectors share, and the speaker must judge as the controller does), each
    // trimmed to its labels and the one condition the speaker reads.
    let mut nodes: Vec<_> = snap
        .nodes
        .iter()
        .map(|n| n.metadata.name.clone().unwrap())
        .collect();
    nodes.sort();
    assert_eq!(nodes, ["node-21", "node-22", "node-23", "node-24"]);
    for n in &snap.nodes {
        assert!(n.spec.is_none(), "spec trimmed");
        let status = n.status.as_ref();
        assert!(status
            .is_none_or(|s| s.addresses.is_none() && s.images.is_none() && s.node_info.is_none()));
        let conditions = status.and_then(|s| s.conditions.as_ref());
        assert!(conditions.is_none_or(|c| c.iter().all(|c| c.type_ == "NetworkUnavailable")));
    }
    // MetalLB's bgpextras ConfigMap, and only it, reaches the snapshot and the config.
    assert_eq!(
        snap.config_maps
            .iter()
            .map(|c| c.metadata.name.clone().unwrap())
            .collect::<Vec<_>>(),
        ["bgpextras"]
    );
    let fat = snap
        .nodes
        .iter()
        .find(|n| n.metadata.name.as_deref() == Some("node-24"))
        .unwrap();
    assert_eq!(fat.metadata.labels.as_ref().unwrap()["rack"], "r2");
    assert_eq!(
        fat.status
            .as_ref()
            .unwrap()
            .conditions
            .as_ref()
            .unwrap()
            .len(),
        1
    );
    // EndpointSlices keep node and conditions, not every address.
    assert!(snap.endpoint_slices[0]
        .endpoints
        .iter()
        .all(|e| e.addresses.len() <= 1));

    // The speaker announces what the controller assigned, from status.
    let computed = compute(
        &snap,
        &Options::default(),
        Addresses::FromStatus,
        &BTreeMap::new(),
    );
    let intent = computed.node_intent("node-21");
    let prefixes: Vec<String> = intent.routers[0].neighbors[0]
        .announcements
        .iter()
        .map(|a| a.prefix.to_string())
        .collect();
    assert_eq!(prefixes, ["203.0.113.5/32"]);
    assert_eq!(
        computed.extras.as_deref(),
        Some("ip prefix-list extra seq 5 permit 198.51.100.0/24\n")
    );
}

#[tokio::test]
async fn spec_less_and_malformed_metallb_objects_cost_only_themselves() {
    let server = seeded_server();
    // As MetalLB's docs create it: no spec at all means every pool, every peer.
    server.seed_raw::<ferrule::api::BGPAdvertisement>(serde_json::json!({
        "apiVersion": "metallb.io/v1beta1",
        "kind": "BGPAdvertisement",
        "metadata": { "name": "everything", "namespace": NS },
    }));
    // Accepted by a lax API server, but not a BFD profile ferrule can read.
    server.seed_raw::<ferrule::api::BFDProfile>(serde_json::json!({
        "apiVersion": "metallb.io/v1beta1",
        "kind": "BFDProfile",
        "metadata": { "name": "broken", "namespace": NS },
        "spec": { "receiveInterval": "fast" },
    }));
    let snap = snapshot_from(&server, "node-21").await;
    let names = |v: Vec<Option<String>>| v.into_iter().flatten().collect::<Vec<_>>();
    assert!(names(
        snap.advertisements
            .iter()
            .map(|a| a.metadata.name.clone())
            .collect()
    )
    .contains(&"everything".to_string()));
    let profiles = names(
        snap.bfd_profiles
            .iter()
            .map(|p| p.metadata.name.clone())
            .collect(),
    );
    assert!(!profiles.contains(&"broken".to_string()), "{profiles:?}");
    assert!(
        !profiles.is_empty(),
        "the seed's own profile is still there"
    );
    assert_eq!(snap.peers.len(), 2);
}

#[tokio::test]
async fn sink_writes_changed_objects_only_and_removes_stale_ones() {
    let server = seeded_server();
    let snap = snapshot_from(&server, "node-21").await;
    let computed = compute(
        &snap,
        &Options::default(),
        Addresses::FromStatus,
        &BTreeMap::new(),
    );
    let intent = computed.node_intent("node-21");
    let apply = ApplyInfo {
        ok: true,
        config_hash: "abc123".into(),
        generation: 1,
        ..Default::default()
    };
    let objects = build_status(NS, &intent, None, Some(&apply), Default::default());

    let mut sink = KubeSink::new(server.client_as("speaker"), NS, "node-21");
    let written = sink.publish(&objects).await.unwrap();
    assert_eq!(written, 4, "2 sessions, 1 announcement, 1 node");
    let sessions: Vec<BGPSession> = server.objects();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0].status.as_ref().unwrap().bgp, "Unknown");
    let ann: Vec<ServiceAnnouncement> = server.objects();
    assert_eq!(ann[0].status.as_ref().unwrap().prefixes, ["203.0.113.5/32"]);
    let node: Vec<SpeakerNode> = server.objects();
    assert_eq!(node[0].status.as_ref().unwrap().config_hash, "abc123");

    // Same objects again: nothing is written.
    assert_eq!(sink.publish(&objects).await.unwrap(), 0);
    // A fresh sink (speaker restart) reads what exists and writes nothing either.
    let mut restarted = KubeSink::new(server.client_as("speaker"), NS, "node-21");
    assert_eq!(
        restarted.publish(&objects).await.unwrap(),
        0,
        "restart must not rewrite status"
    );

    // tor2 goes away: its session object is deleted, the rest stays.
    let mut fewer = objects.clone();
    fewer.sessions.retain(|s| s.spec.peer != "tor2");
    assert_eq!(restarted.publish(&fewer).await.unwrap(), 1);
    let sessions: Vec<BGPSession> = server.objects();
    assert_eq!(sessions.len(), 1);

    let mine: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.client.as_deref() == Some("speaker"))
        .collect();
    let unused = support::rbac::assert_granted("ferrule-speaker", &mine);
    assert!(
        !unused.contains(&("ferrule.io".into(), "bgpsessions".into(), "delete".into())),
        "a stale session is deleted here"
    );
}

/// One status object the API refuses costs only itself: the others are written once, and
/// the next publish retries only the refused one.
#[tokio::test]
async fn a_refused_status_object_is_retried_alone() {
    let server = seeded_server();
    let snap = snapshot_from(&server, "node-21").await;
    let computed = compute(
        &snap,
        &Options::default(),
        Addresses::FromStatus,
        &BTreeMap::new(),
    );
    let intent = computed.node_intent("node-21");
    let apply = ApplyInfo {
        ok: true,
        ..Default::default()
    };
    let objects = build_status(NS, &intent, None, Some(&apply), Default::default());
    let refused = objects.announcements[0].metadata.name.clone().unwrap();
    server.inject(Fault {
        verb: Some(Verb::Patch),
        resource: Some("serviceannouncements".into()),
        name: Some(refused.clone()),
        code: 422,
        times: usize::MAX,
        ..Default::default()
    });
    let writes = |server: &ApiServer| {
        server
            .requests()
            .into_iter()
            .filter(|r| r.client.as_deref() == Some("speaker") && r.verb.is_write())
            .count()
    };
    let mut sink = KubeSink::new(server.client_as("speaker"), NS, "node-21");
    let err = sink.publish(&objects).await.unwrap_err().to_string();
    assert!(err.contains(&refused), "{err}");
    assert_eq!(server.objects::<BGPSession>().len(), 2);
    assert_eq!(server.objects::<SpeakerNode>().len(), 1);
    assert!(server.objects::<ServiceAnnouncement>().is_empty());

    // The next publish sends the refused object only (one patch), not all four again.
    let w0 = writes(&server);
    assert!(sink.publish(&objects).await.is_err());
    assert_eq!(
        writes(&server) - w0,
        1,
        "only the refused object is retried"
    );

    server.clear_faults();
    assert_eq!(sink.publish(&objects).await.unwrap(), 1);
    assert_eq!(server.objects::<ServiceAnnouncement>().len(), 1);
    assert_eq!(sink.publish(&objects).await.unwrap(), 0);
}

/// A node name longer than a label value can be: the objects are labelled and listed with
/// the same value, which a real API server accepts, so a restarted sink finds them.
#[tokio::test]
async fn a_long_node_name_lists_what_it_wrote() {
    let long = format!("node-{}", "x".repeat(70));
    let server = seeded_server();
    let snap = snapshot_from(&server, &long).await;
    let computed = compute(
        &snap,
        &Options::default(),
        Addresses::FromStatus,
        &BTreeMap::new(),
    );
    let apply = ApplyInfo {
        ok: true,
        ..Default::default()
    };
    let objects = build_status(
        NS,
        &computed.node_intent(&long),
        None,
        Some(&apply),
        Default::default(),
    );
    let mut sink = KubeSink::new(server.client_as("speaker"), NS, &long);
    let written = sink.publish(&objects).await.unwrap();
    assert!(written >= 1);
    let mut restarted = KubeSink::new(server.client_as("speaker"), NS, &long);
    assert_eq!(restarted.publish(&objects).await.unwrap(), 0);
    let node: Vec<SpeakerNode> = server.objects();
    let label = &node[0].metadata.labels.as_ref().unwrap()["ferrule.io/node"];
    assert!(
        label.len() <= 63 && label.starts_with("node-xxx"),
        "{label}"
    );
    // A second long name sharing the first 63 characters gets its own label value.
    let other = format!("{long}y");
    assert_ne!(ferrule::label_value(&other), *label);
}

/// The whole speaker in Kubernetes mode: reflectors in, FRR (scripted) applied, status and
/// Events out through server-side apply, all through kube's real Client.
#[tokio::test]
async fn kube_mode_speaker_publishes_status_and_service_events() {
    let server = seeded_server();
    let client = server.client_as("speaker");
    let (tx, rx) = watch::channel(None);
    let source = tokio::spawn(ferrule::watch_cluster(
        client.clone(),
        NS.into(),
        "node-21".into(),
        tx,
    ));
    let frr = FakeFrr::established(&["10.0.0.1", "10.0.0.2"]);
    let mut cfg = EngineConfig::new("node-21", NS);
    cfg.poll_interval = Duration::from_millis(50);
    cfg.owned_status = true; // as `ferrule speaker` sets it in Kubernetes mode
    let (stop, stop_rx) = watch::channel(false);
    let engine = tokio::spawn(engine::run(
        cfg,
        rx,
        frr.clone(),
        KubeSink::new(client.clone(), NS, "node-21"),
        Metrics::new(),
        stop_rx,
    ));

    // Status: both sessions Established (BFD up where a profile asks for it), web
    // announced from node-21.
    let sessions = eventually("sessions Established in the API", WAIT, || {
        let sessions: Vec<BGPSession> = server.objects();
        let up = sessions
            .iter()
            .filter(|s| s.status.as_ref().is_some_and(|st| st.bgp == "Established"))
            .count();
        async move { (up == 2).then_some(sessions) }
    })
    .await;
    let bfd: Vec<(&str, &str)> = sessions
        .iter()
        .map(|s| {
            (
                s.spec.peer.as_str(),
                s.status.as_ref().unwrap().bfd.as_str(),
            )
        })
        .collect();
    assert!(bfd.contains(&("tor1", "up")), "{bfd:?}");
    let ann: Vec<ServiceAnnouncement> = server.objects();
    let web = ann
        .iter()
        .find(|a| a.spec.service == "default/web")
        .unwrap();
    assert_eq!(web.status.as_ref().unwrap().state, "Announced");
    assert!(frr.applied()[0].contains("network 203.0.113.5/32"));
    let node: Vec<SpeakerNode> = server.objects();
    assert_eq!(node[0].status.as_ref().unwrap().apply_result, "Success");
    assert_eq!(node[0].status.as_ref().unwrap().frr_version, "8.4.4");

    // node-21's endpoint goes: the route is withdrawn and the Service gets an Event saying so.
    let mut slices: Vec<k8s_openapi::api::discovery::v1::EndpointSlice> = server.objects();
    let mut slice = slices.remove(0);
    slice
        .endpoints
        .retain(|e| e.node_name.as_deref() != Some("node-21"));
    slice.metadata.managed_fields = None;
    slice.metadata.resource_version = None;
    kube::Api::<k8s_openapi::api::discovery::v1::EndpointSlice>::namespaced(
        server.client(),
        "default",
    )
    .replace(
        &slice.metadata.name.clone().unwrap(),
        &Default::default(),
        &slice,
    )
    .await
    .unwrap();
    let event = eventually("a Withdrawn event on default/web", WAIT, || {
        let events: Vec<k8s_openapi::api::events::v1::Event> = server.objects();
        let found = events
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("Withdrawn"));
        async move { found }
    })
    .await;
    assert_eq!(
        event.regarding.as_ref().and_then(|r| r.name.as_deref()),
        Some("web")
    );
    assert_eq!(event.reporting_instance.as_deref(), Some("node-21"));
    let note = event.note.unwrap();
    assert!(note.contains("withdrawn from node node-21"), "{note}");
    assert!(note.contains("externalTrafficPolicy is Local"), "{note}");
    let last = frr.applied().last().cloned().unwrap();
    assert!(!last.contains("network 203.0.113.5/32"), "{last}");
    let ann: Vec<ServiceAnnouncement> = server.objects();
    let web = ann
        .iter()
        .find(|a| a.spec.service == "default/web")
        .unwrap();
    assert_eq!(web.status.as_ref().unwrap().state, "Withdrawn");

    // Every object is tied to node-21's Node and says when the speaker last reported.
    let node_uid = server
        .object::<k8s_openapi::api::core::v1::Node>(None, "node-21")
        .unwrap()
        .metadata
        .uid
        .unwrap();
    let owners = |m: &kube::api::ObjectMeta| {
        m.owner_references
            .iter()
            .flatten()
            .map(|r| (r.kind.clone(), r.name.clone(), r.uid.clone()))
            .collect::<Vec<_>>()
    };
    let want = vec![("Node".to_string(), "node-21".to_string(), node_uid)];
    for s in server.objects::<BGPSession>() {
        assert_eq!(owners(&s.metadata), want);
        assert!(s.status.unwrap().observed_at.is_some());
    }
    for a in server.objects::<ServiceAnnouncement>() {
        assert_eq!(owners(&a.metadata), want);
    }
    let node: Vec<SpeakerNode> = server.objects();
    assert_eq!(owners(&node[0].metadata), want);
    assert!(node[0].status.as_ref().unwrap().observed_at.is_some());

    // The Service goes: so does its announcement.
    kube::Api::<k8s_openapi::api::core::v1::Service>::namespaced(server.client(), "default")
        .delete("web", &Default::default())
        .await
        .unwrap();
    eventually("web's ServiceAnnouncement deleted", WAIT, || {
        let gone = server
            .objects::<ServiceAnnouncement>()
            .iter()
            .all(|a| a.spec.service != "default/web");
        async move { gone.then_some(()) }
    })
    .await;

    // The Node goes: its status objects go with it (garbage collection), and the speaker,
    // still running, does not write them back over the next polls.
    kube::Api::<k8s_openapi::api::core::v1::Node>::all(server.client())
        .delete("node-21", &Default::default())
        .await
        .unwrap();
    let reads = frr.reads();
    eventually("five more FRR polls after the Node went", WAIT, || {
        let n = frr.reads();
        async move { (n >= reads + 5).then_some(()) }
    })
    .await;
    assert!(server.objects::<BGPSession>().is_empty());
    assert!(server.objects::<ServiceAnnouncement>().is_empty());
    assert!(server.objects::<SpeakerNode>().is_empty());

    stop.send(true).unwrap();
    engine.await.unwrap();
    source.abort();
    let mine: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.client.as_deref() == Some("speaker"))
        .collect();
    let unused = support::rbac::assert_granted("ferrule-speaker", &mine);
    // bgpsessions delete is exercised by sink_writes_changed_objects_only_and_removes_stale_ones.
    let unused: Vec<_> = unused
        .into_iter()
        .filter(|g| *g != ("ferrule.io".into(), "bgpsessions".into(), "delete".into()))
        .collect();
    assert!(
        unused.is_empty(),
        "ferrule-speaker grants nothing calls: {unused:?}"
    );
}
