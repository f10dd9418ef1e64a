//! Status sinks: the Kubernetes API (server-side apply, only changed objects) and a
//! directory of YAML files (file mode), both behind [`StatusSink`].

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::{debug, info, warn};

use super::events::{AnnouncementEvent, ANNOUNCED};
use super::status::{label_value, StatusObjects};
use crate::api::status::{BGPSession, ServiceAnnouncement, SpeakerNode, NODE_LABEL};
use crate::kube::bounded;

const FIELD_MANAGER: &str = "ferrule-speaker";

/// Why status could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{object}: {source}")]
    Kube {
        object: String,
        #[source]
        source: kube::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SinkError + '_ {
    move |source| SinkError::Io {
        path: path.to_owned(),
        source,
    }
}

fn api(object: String) -> impl FnOnce(kube::Error) -> SinkError {
    move |source| SinkError::Kube { object, source }
}
/// `reportingController` of the speaker's Events (the instance is the node).
pub const EVENT_REPORTER: &str = "ferrule-speaker";

/// Where status goes (the Kubernetes API or a directory). Implementations write only the
/// objects that differ from what they last wrote and remove the ones that disappeared.
pub trait StatusSink: Send {
    fn publish(
        &mut self,
        objects: &StatusObjects,
    ) -> impl Future<Output = Result<usize, SinkError>> + Send;

    /// Tell about Services this node started or stopped announcing (after the apply that
    /// did it). Best effort: a lost event is logged, never retried.
    fn events(&mut self, events: &[AnnouncementEvent]) -> impl Future<Output = ()> + Send {
        for e in events {
            info!(service = %format!("{}/{}", e.namespace, e.name), reason = e.event.reason, note = %e.event.note, "service event");
        }
        async {}
    }
}

/// One object to write or remove, found by comparing what was last written with what is
/// wanted now. Typed comparison: nothing is serialized unless it is written.
enum Change<'a> {
    Write(Obj<'a>),
    Delete { plural: &'static str, name: String },
}

#[derive(Clone, Copy)]
enum Obj<'a> {
    Session(&'a BGPSession),
    Announcement(&'a ServiceAnnouncement),
    Node(&'a SpeakerNode),
}

impl Obj<'_> {
    fn plural(self) -> &'static str {
        match self {
            Obj::Session(_) => "bgpsessions",
            Obj::Announcement(_) => "serviceannouncements",
            Obj::Node(_) => "speakernodes",
        }
    }

    fn name(self) -> String {
        match self {
            Obj::Session(o) => o.name_any(),
            Obj::Announcement(o) => o.name_any(),
            Obj::Node(o) => o.name_any(),
        }
    }

    fn yaml(self) -> String {
        match self {
            Obj::Session(o) => serde_yaml::to_string(o),
            Obj::Announcement(o) => serde_yaml::to_string(o),
            Obj::Node(o) => serde_yaml::to_string(o),
        }
        .expect("status objects serialize")
    }
}

/// Merge-join of two name-sorted lists.
fn delta_of<'a, K: Resource + PartialEq>(
    before: &[K],
    after: &'a [K],
    wrap: fn(&'a K) -> Obj<'a>,
    plural: &'static str,
    out: &mut Vec<Change<'a>>,
) {
    let old: BTreeMap<&str, &K> = before
        .iter()
        .filter_map(|o| Some((o.meta().name.as_deref()?, o)))
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    for o in after {
        let name = o.meta().name.as_deref().unwrap_or_default();
        seen.insert(name);
        if old.get(name) != Some(&o) {
            out.push(Change::Write(wrap(o)));
        }
    }
    for name in old.keys() {
        if !seen.contains(name) {
            out.push(Change::Delete {
                plural,
                name: name.to_string(),
            });
        }
    }
}

fn delta<'a>(before: &StatusObjects, after: &'a StatusObjects) -> Vec<Change<'a>> {
    let mut out = Vec::new();
    delta_of(
        &before.sessions,
        &after.sessions,
        Obj::Session,
        "bgpsessions",
        &mut out,
    );
    // The common case on a poll: the very same announcements as last time.
    if !std::sync::Arc::ptr_eq(&before.announcements, &after.announcements) {
        delta_of(
            &before.announcements,
            &after.announcements,
            Obj::Announcement,
            "serviceannouncements",
            &mut out,
        );
    }
    // The node object is written, never deleted: it goes with its Node (ownerReferences).
    if after.node.is_some() {
        delta_of(
            before.node.as_slice(),
            after.node.as_slice(),
            Obj::Node,
            "speakernodes",
            &mut out,
        );
    }
    out
}

/// Writes `DIR/<plural>/<name>.yaml`, one file per object; removes files of objects that
/// are gone. Files are replaced atomically (write + rename) so readers never see half.
pub struct FileSink {
    dir: PathBuf,
    written: StatusObjects,
}

impl FileSink {
    pub fn new(dir: &Path) -> Self {
        FileSink {
            dir: dir.to_owned(),
            written: StatusObjects::default(),
        }
    }
}

impl StatusSink for FileSink {
    async fn publish(&mut self, objects: &StatusObjects) -> Result<usize, SinkError> {
        let changes = delta(&self.written, objects);
        for change in &changes {
            match change {
                Change::Write(o) => {
                    let dir = self.dir.join(o.plural());
                    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
                    let name = o.name();
                    let path = dir.join(format!("{name}.yaml"));
                    let tmp = dir.join(format!(".{name}.yaml.tmp"));
                    std::fs::write(&tmp, o.yaml()).map_err(io(&tmp))?;
                    std::fs::rename(&tmp, &path).map_err(io(&path))?;
                }
                Change::Delete { plural, name } => {
                    let _ =
                        std::fs::remove_file(self.dir.join(plural).join(format!("{name}.yaml")));
                }
            }
        }
        self.written = objects.clone();
        Ok(changes.len())
    }
}

/// Server-side applies changed objects (spec, then status) in the speaker's namespace and
/// deletes this node's objects that are gone. At start it reads what exists, so a restart
/// writes nothing that did not change.
pub struct KubeSink {
    client: Client,
    namespace: String,
    node: String,
    /// What the API holds for this node, as last read or written (None before the first
    /// publish reads it: a restart then writes only what differs).
    written: Option<StatusObjects>,
}

impl KubeSink {
    pub fn new(client: Client, namespace: &str, node: &str) -> Self {
        KubeSink {
            client,
            namespace: namespace.into(),
            node: node.into(),
            written: None,
        }
    }

    async fn existing<K>(&self) -> Result<Vec<K>, kube::Error>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), &self.namespace);
        let lp = ListParams::default().labels(&format!("{NODE_LABEL}={}", label_value(&self.node)));
        Ok(bounded(api.list(&lp)).await?.items)
    }

    async fn load(&mut self) -> Result<StatusObjects, kube::Error> {
        // Compare like with like: what we would have written, not the server's metadata.
        fn stripped<K: Resource>(mut v: Vec<K>) -> Vec<K> {
            v.iter_mut().for_each(strip);
            v.sort_by(|a, b| a.meta().name.cmp(&b.meta().name));
            v
        }
        Ok(StatusObjects {
            sessions: stripped(self.existing::<BGPSession>().await?),
            announcements: std::sync::Arc::new(stripped(
                self.existing::<ServiceAnnouncement>().await?,
            )),
            node: stripped(self.existing::<SpeakerNode>().await?).pop(),
        })
    }

    async fn apply<K>(&self, obj: &K) -> Result<(), kube::Error>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + Serialize
            + DeserializeOwned
            + std::fmt::Debug,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), &self.namespace);
        let pp = PatchParams::apply(FIELD_MANAGER).force();
        let name = obj.meta().name.clone().unwrap_or_default();
        bounded(api.patch(&name, &pp, &Patch::Apply(obj))).await?;
        bounded(api.patch_status(&name, &pp, &Patch::Apply(obj))).await?;
        Ok(())
    }

    async fn delete(&self, kind: &str, name: &str) -> Result<(), kube::Error> {
        let dp = DeleteParams::default();
        let ns = &self.namespace;
        let client = || self.client.clone();
        let res = match kind {
            "bgpsessions" => bounded(Api::<BGPSession>::namespaced(client(), ns).delete(name, &dp))
                .await
                .map(|_| ()),
            "serviceannouncements" => {
                bounded(Api::<ServiceAnnouncement>::namespaced(client(), ns).delete(name, &dp))
                    .await
                    .map(|_| ())
            }
            _ => bounded(Api::<SpeakerNode>::namespaced(client(), ns).delete(name, &dp))
                .await
                .map(|_| ()),
        };
        match res {
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            other => other,
        }
    }
}

/// Drops server-populated metadata so stored objects compare equal to built ones.
fn strip<K: Resource>(obj: &mut K) {
    let m = obj.meta_mut();
    m.uid = None;
    m.resource_version = None;
    m.generation = None;
    m.creation_timestamp = None;
    m.managed_fields = None;
    m.annotations = None;
}

impl StatusSink for KubeSink {
    async fn events(&mut self, events: &[AnnouncementEvent]) {
        for e in events {
            let regarding = ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Service".into()),
                namespace: Some(e.namespace.clone()),
                name: Some(e.name.clone()),
                ..Default::default()
            };
            let action = if e.event.reason == ANNOUNCED {
                "Announce"
            } else {
                "Withdraw"
            };
            if let Err(err) = crate::kube::events::create(
                &self.client,
                &regarding,
                EVENT_REPORTER,
                &self.node,
                action,
                &e.event,
            )
            .await
            {
                warn!(service = %format!("{}/{}", e.namespace, e.name), error = %err, "cannot record event");
            }
        }
    }

    async fn publish(&mut self, objects: &StatusObjects) -> Result<usize, SinkError> {
        if self.written.is_none() {
            let existing = self.load().await.map_err(api("existing status".into()))?;
            self.written = Some(existing);
        }
        let before = self.written.clone().unwrap_or_default();
        let changes = delta(&before, objects);
        // Every change is tried; one the API refuses is retried on the next publish, the
        // rest are recorded as written, so one bad object does not make all re-send.
        let mut failed: Vec<(&'static str, String)> = Vec::new();
        let mut first_error = None;
        let mut written = 0;
        for change in &changes {
            let (plural, name, result) = match change {
                Change::Write(o) => {
                    let res = match o {
                        Obj::Session(o) => self.apply(*o).await,
                        Obj::Announcement(o) => self.apply(*o).await,
                        Obj::Node(o) => self.apply(*o).await,
                    };
                    (o.plural(), o.name(), res)
                }
                Change::Delete { plural, name } => {
                    debug!(kind = plural, name, "deleting stale status object");
                    (*plural, name.clone(), self.delete(plural, name).await)
                }
            };
            match result {
                Ok(()) => written += 1,
                Err(e) => {
                    warn!(kind = plural, name = %name, error = %e, "status object not written");
                    first_error.get_or_insert_with(|| (format!("{plural} {name}"), e));
                    failed.push((plural, name));
                }
            }
        }
        self.written = Some(if failed.is_empty() {
            objects.clone()
        } else {
            progress(&before, objects, &failed)
        });
        match first_error {
            None => Ok(written),
            Some((object, source)) => Err(SinkError::Kube {
                object: match failed.len() {
                    1 => object,
                    n => format!("{object} (and {} more)", n - 1),
                },
                source,
            }),
        }
    }
}

/// What the API holds after a publish where the `failed` changes did not land: `after`,
/// except that each failed object is as it was `before` (absent if it was absent).
fn progress(
    before: &StatusObjects,
    after: &StatusObjects,
    failed: &[(&'static str, String)],
) -> StatusObjects {
    fn merge<K: Resource + Clone>(
        before: &[K],
        after: &[K],
        plural: &str,
        failed: &[(&'static str, String)],
    ) -> Vec<K> {
        let failed_name = |o: &K| {
            let name = o.meta().name.as_deref().unwrap_or_default();
            failed.iter().any(|(p, n)| *p == plural && n == name)
        };
        let mut out: Vec<K> = after.iter().filter(|o| !failed_name(o)).cloned().collect();
        out.extend(before.iter().filter(|o| failed_name(o)).cloned());
        out.sort_by(|a, b| a.meta().name.cmp(&b.meta().name));
        out
    }
    StatusObjects {
        sessions: merge(&before.sessions, &after.sessions, "bgpsessions", failed),
        announcements: std::sync::Arc::new(merge(
            &before.announcements,
            &after.announcements,
            "serviceannouncements",
            failed,
        )),
        node: merge(
            before.node.as_slice(),
            after.node.as_slice(),
            "speakernodes",
            failed,
        )
        .pop(),
    }
}
