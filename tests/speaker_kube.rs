//! The speaker's Kubernetes glue through kube's real Client against the in-process API
//! stand-in: the source builds the node's snapshot from reflectors, the sink writes status
//! objects only when they change, and RBAC grants exactly what both call.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ferrule::api::status::{BGPSession, ServiceAnnouncement, SpeakerNode};
use ferrule::core::validate::Snapshot;
use ferrule::pipeline::{self, Addresses};
use ferrule::speaker::engine::StatusSink;
use ferrule::speaker::sink::KubeSink;
use ferrule::speaker::status::{self, ApplyInfo};
use k8s_openapi::api::core::v1::{LoadBalancerIngress, LoadBalancerStatus, ServiceStatus};
use support::apiserver::ApiServer;
use support::eventually;
use tokio::sync::watch;

const NS: &str = "metallb-system";
const WAIT: Duration = Duration::from_secs(10);

/// The seed's objects in the stand-in, with web already holding 203.0.113.5 (as the
/// controller would have written).
fn seeded_server() -> ApiServer {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/seed");
    let s = ferrule::manifests::load_dir(&dir, NS).unwrap().snapshot;
    let server = ApiServer::new();
    s.pools.iter().for_each(|o| server.seed(o));
    s.peers.iter().for_each(|o| server.seed(o));
    s.advertisements.iter().for_each(|o| server.seed(o));
    s.bfd_profiles.iter().for_each(|o| server.seed(o));
    s.endpoint_slices.iter().for_each(|o| server.seed(o));
    s.nodes.iter().for_each(|o| server.seed(o));
    for svc in &s.services {
        let mut svc = svc.clone();
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
    let task = tokio::spawn(ferrule::speaker::kube_source::run(
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
    let snap = snapshot_from(&server, "node-21").await;
    assert_eq!(snap.pools.len(), 1);
    assert_eq!(snap.peers.len(), 2);
    assert_eq!(snap.services.len(), 1);
    // Only its own Node is watched.
    let nodes: Vec<_> = snap
        .nodes
        .iter()
        .map(|n| n.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(nodes, ["node-21"]);
    // EndpointSlices keep node and conditions, not every address.
    assert!(snap.endpoint_slices[0]
        .endpoints
        .iter()
        .all(|e| e.addresses.len() <= 1));

    // The speaker announces what the controller assigned, from status.
    let computed = pipeline::compute(
        &snap,
        &pipeline::Options::default(),
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
}

#[tokio::test]
async fn sink_writes_changed_objects_only_and_removes_stale_ones() {
    let server = seeded_server();
    let snap = snapshot_from(&server, "node-21").await;
    let computed = pipeline::compute(
        &snap,
        &pipeline::Options::default(),
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
    let objects = status::build(NS, &intent, None, Some(&apply), &[]);

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
    eprintln!("speaker grants not exercised here: {unused:?}");
}
