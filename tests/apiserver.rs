//! The in-process API server stand-in, driven through kube's real `Client`.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Event as CoreEvent, Namespace, Service, ServiceSpec};
use k8s_openapi::api::events::v1::Event;
use kube::api::{
    Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::{Resource, ResourceExt};
use serde_json::json;
use support::apiserver::{ApiServer, Availability, Fault, Verb};
use support::eventually;

const WAIT: Duration = Duration::from_secs(5);

fn cm(name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("k".to_string(), name.to_string())])),
        ..Default::default()
    }
}

fn svc(name: &str) -> Service {
    Service {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            type_: Some("LoadBalancer".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn api_code(err: kube::Error) -> (u16, String) {
    match err {
        kube::Error::Api(s) => (s.code, s.reason.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn rv(obj: &impl kube::Resource) -> u64 {
    obj.meta()
        .resource_version
        .as_deref()
        .expect("server sets resourceVersion")
        .parse()
        .expect("numeric resourceVersion")
}

#[tokio::test]
async fn create_get_and_server_fields() {
    let server = ApiServer::new();
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "ns1");
    let created = api
        .create(&PostParams::default(), &cm("a", &[]))
        .await
        .unwrap();
    let got = api.get("a").await.unwrap();
    assert_eq!(created, got);
    assert_eq!(got.namespace().as_deref(), Some("ns1"));
    assert!(got.uid().is_some_and(|u| !u.is_empty()));
    assert!(got.creation_timestamp().is_some());
    assert_eq!(got.meta().generation, Some(1));
    let other = api
        .create(&PostParams::default(), &cm("b", &[]))
        .await
        .unwrap();
    assert_ne!(got.uid(), other.uid());
    assert!(rv(&other) > rv(&got), "resourceVersion is monotonic");

    let (code, reason) = api_code(
        api.create(&PostParams::default(), &cm("a", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (409, "AlreadyExists"));
    let (code, reason) = api_code(api.get("missing").await.unwrap_err());
    assert_eq!((code, reason.as_str()), (404, "NotFound"));
    // Same name in another namespace is another object.
    let api2: Api<ConfigMap> = Api::namespaced(server.client(), "ns2");
    api2.create(&PostParams::default(), &cm("a", &[]))
        .await
        .unwrap();
    let all: Api<ConfigMap> = Api::all(server.client());
    assert_eq!(
        all.list(&ListParams::default()).await.unwrap().items.len(),
        3
    );
}

#[tokio::test]
async fn cluster_scoped_objects() {
    let server = ApiServer::new();
    let api: Api<Namespace> = Api::all(server.client());
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some("team-a".into()),
            labels: Some(BTreeMap::from([("team".into(), "a".into())])),
            ..Default::default()
        },
        ..Default::default()
    };
    api.create(&PostParams::default(), &ns).await.unwrap();
    let got = api.get("team-a").await.unwrap();
    assert_eq!(got.namespace(), None);
    assert_eq!(got.labels().get("team").map(String::as_str), Some("a"));
    let status = json!({ "status": { "phase": "Active" } });
    let patched = api
        .patch_status("team-a", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    assert_eq!(
        patched.status.and_then(|s| s.phase).as_deref(),
        Some("Active")
    );
}

#[tokio::test]
async fn replace_checks_resource_version() {
    let server = ApiServer::new();
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let first = api
        .create(&PostParams::default(), &cm("a", &[]))
        .await
        .unwrap();
    let mut next = first.clone();
    next.data = Some(BTreeMap::from([("k".into(), "v2".into())]));
    let second = api
        .replace("a", &PostParams::default(), &next)
        .await
        .unwrap();
    assert!(rv(&second) > rv(&first));
    // Writing from the stale copy is a conflict.
    let (code, reason) = api_code(
        api.replace("a", &PostParams::default(), &next)
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    let (code, _) = api_code(
        api.replace("nope", &PostParams::default(), &cm("nope", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 404);
}

#[tokio::test]
async fn patch_kinds() {
    let server = ApiServer::new();
    let client = server.client();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &cm("a", &[("x", "1")]))
        .await
        .unwrap();

    let merge = json!({ "data": { "m": "merged" }, "metadata": { "labels": { "x": null } } });
    let out = api
        .patch("a", &PatchParams::default(), &Patch::Merge(&merge))
        .await
        .unwrap();
    assert_eq!(out.data.as_ref().unwrap()["m"], "merged");
    assert_eq!(
        out.data.as_ref().unwrap()["k"],
        "a",
        "merge keeps other keys"
    );
    assert!(!out.labels().contains_key("x"), "null deletes");

    let strategic = json!({ "data": { "s": "strategic" } });
    let out = api
        .patch("a", &PatchParams::default(), &Patch::Strategic(&strategic))
        .await
        .unwrap();
    assert_eq!(out.data.as_ref().unwrap()["s"], "strategic");

    // Server-side apply needs a field manager, and creates what is missing.
    let applied = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": { "name": "b" }, "data": { "a": "applied" },
    });
    let (code, _) = api_code(
        api.patch("b", &PatchParams::default(), &Patch::Apply(&applied))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 400);
    let out = api
        .patch("b", &PatchParams::apply("test"), &Patch::Apply(&applied))
        .await
        .unwrap();
    assert_eq!(out.data.unwrap()["a"], "applied");

    // JSON patch (kube's Patch::Json needs a feature we do not enable: send it raw).
    let req = http::Request::patch("/api/v1/namespaces/default/configmaps/a")
        .header("content-type", "application/json-patch+json")
        .body(
            serde_json::to_vec(&json!([{ "op": "replace", "path": "/data/k", "value": "jp" }]))
                .unwrap(),
        )
        .unwrap();
    let out: ConfigMap = client.request(req).await.unwrap();
    assert_eq!(out.data.unwrap()["k"], "jp");

    // A merge patch that names a stale resourceVersion conflicts.
    let stale = json!({ "metadata": { "resourceVersion": "1" }, "data": { "z": "z" } });
    let (code, _) = api_code(
        api.patch("a", &PatchParams::default(), &Patch::Merge(&stale))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 409);
}

#[tokio::test]
async fn status_subresource_is_separate() {
    let server = ApiServer::new();
    let api: Api<Service> = Api::namespaced(server.client(), "default");
    let mut s = svc("web");
    s.status = Some(
        serde_json::from_value(json!({"loadBalancer": {"ingress": [{"ip": "192.0.2.9"}]}}))
            .unwrap(),
    );
    let created = api.create(&PostParams::default(), &s).await.unwrap();
    assert!(
        created
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .is_none(),
        "create drops status"
    );
    let status = json!({ "status": { "loadBalancer": { "ingress": [{ "ip": "203.0.113.1" }] } },
                         "spec": { "type": "ClusterIP" } });
    let out = api
        .patch_status("web", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    assert_eq!(
        out.spec.as_ref().unwrap().type_.as_deref(),
        Some("LoadBalancer"),
        "status write keeps spec"
    );
    let ingress = |s: &Service| {
        s.status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|l| l.ingress.as_ref())
            .map(|i| i.iter().filter_map(|x| x.ip.clone()).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    assert_eq!(ingress(&out), ["203.0.113.1"]);
    // A main-resource write cannot touch status.
    let main = json!({ "status": { "loadBalancer": { "ingress": [] } }, "metadata": { "labels": { "a": "b" } } });
    let out = api
        .patch("web", &PatchParams::default(), &Patch::Merge(&main))
        .await
        .unwrap();
    assert_eq!(ingress(&out), ["203.0.113.1"]);
    assert_eq!(out.labels()["a"], "b");
    // replace_status too.
    let mut cleared = out.clone();
    cleared.status = None;
    let out = api
        .replace_status("web", &PostParams::default(), &cleared)
        .await
        .unwrap();
    assert!(ingress(&out).is_empty());
}

#[tokio::test]
async fn generation_follows_spec_only() {
    let server = ApiServer::new();
    let api: Api<Service> = Api::namespaced(server.client(), "default");
    api.create(&PostParams::default(), &svc("web"))
        .await
        .unwrap();
    let cases: [(&str, serde_json::Value, bool, i64); 4] = [
        (
            "label",
            json!({ "metadata": { "labels": { "a": "b" } } }),
            false,
            1,
        ),
        ("spec", json!({ "spec": { "type": "NodePort" } }), false, 2),
        (
            "status",
            json!({ "status": { "loadBalancer": { "ingress": [{ "ip": "203.0.113.7" }] } } }),
            true,
            2,
        ),
        (
            "spec again",
            json!({ "spec": { "type": "LoadBalancer" } }),
            false,
            3,
        ),
    ];
    for (what, patch, status, want) in cases {
        let out = if status {
            api.patch_status("web", &PatchParams::default(), &Patch::Merge(&patch))
                .await
        } else {
            api.patch("web", &PatchParams::default(), &Patch::Merge(&patch))
                .await
        }
        .unwrap();
        assert_eq!(out.meta().generation, Some(want), "after {what}");
    }
}

#[tokio::test]
async fn label_and_field_selectors() {
    let server = ApiServer::new();
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    for (name, labels) in [
        ("a", vec![("app", "web"), ("tier", "front")]),
        ("b", vec![("app", "db")]),
        ("c", vec![]),
    ] {
        api.create(&PostParams::default(), &cm(name, &labels))
            .await
            .unwrap();
    }
    let cases = [
        ("app=web", vec!["a"]),
        ("app==web", vec!["a"]),
        ("app!=web", vec!["b", "c"]),
        ("app in (web,db)", vec!["a", "b"]),
        ("app notin (web)", vec!["b", "c"]),
        ("tier", vec!["a"]),
        ("!tier", vec!["b", "c"]),
        ("app,!tier", vec!["b"]),
        ("app=web,tier=back", vec![]),
    ];
    for (selector, want) in cases {
        let got: Vec<String> = api
            .list(&ListParams::default().labels(selector))
            .await
            .unwrap()
            .items
            .iter()
            .map(|o| o.name_any())
            .collect();
        assert_eq!(got, want, "labelSelector {selector}");
    }
    let got = api
        .list(&ListParams::default().fields("metadata.name=b"))
        .await
        .unwrap();
    assert_eq!(got.items.len(), 1);
    assert_eq!(got.items[0].name_any(), "b");
    let got = api
        .list(&ListParams::default().fields("metadata.name!=b"))
        .await
        .unwrap();
    assert_eq!(got.items.len(), 2);
}

#[tokio::test]
async fn list_pages_and_resource_version() {
    let server = ApiServer::new();
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    for i in 0..5 {
        api.create(&PostParams::default(), &cm(&format!("c{i}"), &[]))
            .await
            .unwrap();
    }
    let mut names = Vec::new();
    let mut lp = ListParams::default().limit(2);
    let mut pages = 0;
    loop {
        let page = api.list(&lp).await.unwrap();
        pages += 1;
        assert_eq!(
            page.metadata.resource_version.as_deref(),
            Some(server.resource_version().to_string().as_str())
        );
        names.extend(page.items.iter().map(|o| o.name_any()));
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => lp = ListParams::default().limit(2).continue_token(&c),
            _ => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names, ["c0", "c1", "c2", "c3", "c4"]);
}

#[tokio::test]
async fn raw_watch_replays_from_version_and_bookmarks() {
    let server = ApiServer::new();
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let a = api
        .create(&PostParams::default(), &cm("a", &[]))
        .await
        .unwrap();
    let from = a.resource_version().unwrap();
    api.create(&PostParams::default(), &cm("b", &[]))
        .await
        .unwrap();
    api.delete("a", &DeleteParams::default()).await.unwrap();

    let mut stream = api
        .watch(&WatchParams::default(), &from)
        .await
        .unwrap()
        .boxed();
    let mut seen = Vec::new();
    while let Some(ev) = stream.try_next().await.unwrap() {
        match ev {
            WatchEvent::Added(o) => seen.push(format!("ADDED {}", o.name_any())),
            WatchEvent::Modified(o) => seen.push(format!("MODIFIED {}", o.name_any())),
            WatchEvent::Deleted(o) => seen.push(format!("DELETED {}", o.name_any())),
            WatchEvent::Bookmark(b) => {
                assert_eq!(
                    b.metadata.resource_version,
                    server.resource_version().to_string()
                );
                break;
            }
            WatchEvent::Error(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(seen, ["ADDED b", "DELETED a"]);

    // Live: a change made now arrives on the open stream.
    api.create(&PostParams::default(), &cm("c", &[]))
        .await
        .unwrap();
    match stream.try_next().await.unwrap() {
        Some(WatchEvent::Added(o)) => assert_eq!(o.name_any(), "c"),
        other => panic!("expected ADDED c, got {other:?}"),
    }
}

#[tokio::test]
async fn periodic_bookmarks() {
    let server = ApiServer::new();
    server.set_bookmark_interval(Duration::from_millis(20));
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let mut stream = api
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    // The first bookmark closes the (empty) replay; later ones come from the timer.
    let mut bookmarks = 0;
    while bookmarks < 3 {
        if let Some(WatchEvent::Bookmark(_)) = stream.try_next().await.unwrap() {
            bookmarks += 1;
        }
    }
}

#[tokio::test]
async fn watch_label_changes_enter_and_leave_selection() {
    let server = ApiServer::new();
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let a = api
        .create(&PostParams::default(), &cm("a", &[("app", "web")]))
        .await
        .unwrap();
    let mut stream = api
        .watch(
            &WatchParams::default().labels("app=web"),
            a.resource_version().as_deref().unwrap(),
        )
        .await
        .unwrap()
        .boxed();
    let relabel = |v: &str| json!({ "metadata": { "labels": { "app": v } } });
    api.patch("a", &PatchParams::default(), &Patch::Merge(relabel("db")))
        .await
        .unwrap();
    api.patch("a", &PatchParams::default(), &Patch::Merge(relabel("web")))
        .await
        .unwrap();
    let mut kinds = Vec::new();
    while kinds.len() < 2 {
        match stream.try_next().await.unwrap().unwrap() {
            WatchEvent::Added(_) => kinds.push("ADDED"),
            WatchEvent::Deleted(_) => kinds.push("DELETED"),
            WatchEvent::Modified(_) => kinds.push("MODIFIED"),
            WatchEvent::Bookmark(_) => {}
            WatchEvent::Error(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(kinds, ["DELETED", "ADDED"]);
}

#[tokio::test]
async fn compacted_history_is_gone() {
    let server = ApiServer::new();
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let a = api
        .create(&PostParams::default(), &cm("a", &[]))
        .await
        .unwrap();
    api.create(&PostParams::default(), &cm("b", &[]))
        .await
        .unwrap();
    server.compact();
    let mut stream = api
        .watch(
            &WatchParams::default(),
            a.resource_version().as_deref().unwrap(),
        )
        .await
        .unwrap()
        .boxed();
    match stream.try_next().await.unwrap() {
        Some(WatchEvent::Error(e)) => assert_eq!(e.code, 410),
        other => panic!("expected 410, got {other:?}"),
    }
}

/// kube's watcher with each initial-list strategy keeps a reflector store equal to the
/// server's objects through creates, updates and deletes.
#[tokio::test]
async fn runtime_watcher_and_reflector() {
    for (what, config) in [
        ("list+watch", watcher::Config::default()),
        (
            "streaming list",
            watcher::Config::default().streaming_lists(),
        ),
        ("paged list", watcher::Config::default().page_size(1)),
    ] {
        let server = ApiServer::new();
        let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
        for n in ["pre1", "pre2", "pre3"] {
            api.create(&PostParams::default(), &cm(n, &[]))
                .await
                .unwrap();
        }
        let (reader, writer) = reflector::store();
        let task = tokio::spawn(
            reflector(writer, watcher(api.clone(), config))
                .applied_objects()
                .for_each(|_| async {}),
        );
        reader.wait_until_ready().await.unwrap();
        api.create(&PostParams::default(), &cm("live", &[]))
            .await
            .unwrap();
        api.delete("pre1", &DeleteParams::default()).await.unwrap();
        let patch = json!({ "data": { "k": "changed" } });
        api.patch("pre2", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
        let want: Vec<(String, String)> = server
            .objects::<ConfigMap>()
            .iter()
            .map(|o| (o.name_any(), o.data.as_ref().unwrap()["k"].clone()))
            .collect();
        eventually(what, WAIT, || {
            let mut got: Vec<(String, String)> = reader
                .state()
                .iter()
                .map(|o| (o.name_any(), o.data.as_ref().unwrap()["k"].clone()))
                .collect();
            got.sort();
            let want = want.clone();
            async move { (got == want).then_some(()) }
        })
        .await;
        task.abort();
    }
}

#[tokio::test]
async fn finalizers_delay_deletion() {
    let server = ApiServer::new();
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let mut obj = cm("a", &[]);
    obj.metadata.finalizers = Some(vec!["example.com/keep".into()]);
    api.create(&PostParams::default(), &obj).await.unwrap();
    api.delete("a", &DeleteParams::default()).await.unwrap();
    let still = api.get("a").await.unwrap();
    assert!(still.metadata.deletion_timestamp.is_some());
    let clear = json!({ "metadata": { "finalizers": null } });
    api.patch("a", &PatchParams::default(), &Patch::Merge(&clear))
        .await
        .unwrap();
    assert_eq!(api_code(api.get("a").await.unwrap_err()).0, 404);
}

#[tokio::test]
async fn delete_preconditions_and_collection() {
    let server = ApiServer::new();
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    for (n, l) in [("a", "x"), ("b", "x"), ("c", "y")] {
        api.create(&PostParams::default(), &cm(n, &[("l", l)]))
            .await
            .unwrap();
    }
    let dp = DeleteParams {
        preconditions: Some(kube::api::Preconditions {
            resource_version: Some("999".into()),
            uid: None,
        }),
        ..Default::default()
    };
    assert_eq!(api_code(api.delete("a", &dp).await.unwrap_err()).0, 409);
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("l=x"),
    )
    .await
    .unwrap();
    let left: Vec<String> = server
        .objects::<ConfigMap>()
        .iter()
        .map(|o| o.name_any())
        .collect();
    assert_eq!(left, ["c"]);
}

#[tokio::test]
async fn counts_requests_per_verb() {
    let server = ApiServer::new();
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    api.create(&PostParams::default(), &cm("a", &[]))
        .await
        .unwrap();
    api.get("a").await.unwrap();
    api.list(&ListParams::default()).await.unwrap();
    let p = json!({ "data": { "x": "y" } });
    api.patch("a", &PatchParams::default(), &Patch::Merge(&p))
        .await
        .unwrap();
    let leases: Api<Lease> = Api::namespaced(server.client(), "default");
    leases
        .create(
            &PostParams::default(),
            &Lease {
                metadata: ObjectMeta {
                    name: Some("l".into()),
                    ..Default::default()
                },
                spec: None,
            },
        )
        .await
        .unwrap();
    let counts = server.counts();
    assert_eq!(counts.get(&Verb::Create), Some(&2));
    assert_eq!(counts.get(&Verb::Get), Some(&1));
    assert_eq!(counts.get(&Verb::List), Some(&1));
    assert_eq!(counts.get(&Verb::Patch), Some(&1));
    let writes = server.writes_excluding(&["leases"]);
    assert_eq!(writes.len(), 2);
    assert!(writes.iter().all(|w| w.resource == "v1/configmaps"));
}

#[tokio::test]
async fn events_and_leases_are_plain_resources() {
    let server = ApiServer::new();
    let client = server.client();
    let ev = Event {
        metadata: ObjectMeta {
            generate_name: Some("web.".into()),
            ..Default::default()
        },
        reason: Some("IPAllocated".into()),
        type_: Some("Normal".into()),
        ..Default::default()
    };
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let created = events.create(&PostParams::default(), &ev).await.unwrap();
    assert!(created.name_any().starts_with("web."));
    let core_events: Api<CoreEvent> = Api::namespaced(client.clone(), "default");
    core_events
        .create(
            &PostParams::default(),
            &CoreEvent {
                metadata: ObjectMeta {
                    name: Some("e1".into()),
                    ..Default::default()
                },
                reason: Some("AllocationFailed".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert_eq!(
        core_events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );

    let leases: Api<Lease> = Api::namespaced(client, "metallb-system");
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some("ferrule-controller".into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some("a".into()),
            ..Default::default()
        }),
    };
    let held = leases.create(&PostParams::default(), &lease).await.unwrap();
    let mut take = held.clone();
    take.spec.as_mut().unwrap().holder_identity = Some("b".into());
    leases
        .replace("ferrule-controller", &PostParams::default(), &take)
        .await
        .unwrap();
    // A second writer from the same old copy loses.
    take.spec.as_mut().unwrap().holder_identity = Some("c".into());
    let (code, _) = api_code(
        leases
            .replace("ferrule-controller", &PostParams::default(), &take)
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 409);
}

#[tokio::test]
async fn outages_and_faults() {
    let server = ApiServer::new();
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    api.create(&PostParams::default(), &cm("a", &[]))
        .await
        .unwrap();

    server.set_availability(Availability::Unavailable);
    assert_eq!(api_code(api.get("a").await.unwrap_err()).0, 503);

    server.set_availability(Availability::Hang);
    let pending = tokio::spawn({
        let api = api.clone();
        async move { api.get("a").await }
    });
    // Hung, not failed: it is still waiting after a while...
    assert!(tokio::time::timeout(Duration::from_millis(100), async {
        while !pending.is_finished() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .is_err());
    // ...and completes once the server is back.
    server.set_availability(Availability::Up);
    assert_eq!(pending.await.unwrap().unwrap().name_any(), "a");

    server.inject(Fault {
        verb: Some(Verb::Patch),
        resource: Some("configmaps".into()),
        subresource: None,
        code: 500,
        times: 1,
        ..Default::default()
    });
    let p = json!({ "data": { "x": "y" } });
    assert_eq!(
        api_code(
            api.patch("a", &PatchParams::default(), &Patch::Merge(&p))
                .await
                .unwrap_err()
        )
        .0,
        500
    );
    api.patch("a", &PatchParams::default(), &Patch::Merge(&p))
        .await
        .unwrap();

    // A partition of one client: only its requests fail, until cleared.
    server.inject(Fault {
        client: Some("cut".into()),
        code: 503,
        times: usize::MAX,
        ..Default::default()
    });
    let cut: Api<ConfigMap> = Api::namespaced(server.client_as("cut"), "default");
    for _ in 0..3 {
        assert_eq!(api_code(cut.get("a").await.unwrap_err()).0, 503);
    }
    api.get("a").await.unwrap();
    server.clear_faults();
    cut.get("a").await.unwrap();
    let cut_requests = server
        .requests()
        .iter()
        .filter(|r| r.client.as_deref() == Some("cut"))
        .count();
    assert_eq!(cut_requests, 4, "faulted requests are logged too");
}

#[tokio::test]
async fn outage_cuts_watches_and_watcher_recovers() {
    let server = ApiServer::new();
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    api.create(&PostParams::default(), &cm("a", &[]))
        .await
        .unwrap();
    let (reader, writer) = reflector::store();
    let task = tokio::spawn(
        reflector(writer, watcher(api.clone(), watcher::Config::default()))
            .default_backoff()
            .applied_objects()
            .for_each(|_| async {}),
    );
    reader.wait_until_ready().await.unwrap();
    server.set_availability(Availability::Unavailable);
    server.set_availability(Availability::Up);
    api.create(&PostParams::default(), &cm("b", &[]))
        .await
        .unwrap();
    eventually("store sees b after the outage", WAIT, || {
        let n = reader.state().len();
        async move { (n == 2).then_some(()) }
    })
    .await;
    assert!(
        server.counts()[&Verb::Watch] >= 2,
        "the watch was re-opened"
    );
    task.abort();
}
