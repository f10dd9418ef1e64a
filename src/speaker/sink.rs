//! Status sinks: the Kubernetes API (server-side apply, only changed objects) and a
//! directory of YAML files (file mode), both behind `engine::StatusSink`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::debug;

use super::engine::StatusSink;
use super::status::StatusObjects;
use crate::api::status::{BGPSession, ServiceAnnouncement, SpeakerNode, NODE_LABEL};

const FIELD_MANAGER: &str = "ferrule-speaker";

/// Flattens the objects into (kind dir, name) → YAML, the unit both sinks compare.
fn documents(objects: &StatusObjects) -> BTreeMap<(String, String), String> {
    fn add<K: Resource<DynamicType = ()> + Serialize>(
        out: &mut BTreeMap<(String, String), String>,
        obj: &K,
    ) {
        let key = (
            K::plural(&()).to_string(),
            obj.meta().name.clone().unwrap_or_default(),
        );
        out.insert(
            key,
            serde_yaml::to_string(obj).expect("status objects serialize"),
        );
    }
    let mut out = BTreeMap::new();
    objects.sessions.iter().for_each(|o| add(&mut out, o));
    objects.announcements.iter().for_each(|o| add(&mut out, o));
    objects.node.iter().for_each(|o| add(&mut out, o));
    out
}

/// Writes `DIR/<plural>/<name>.yaml`, one file per object; removes files of objects that
/// are gone. Files are replaced atomically (write + rename) so readers never see half.
pub struct FileSink {
    dir: PathBuf,
    written: BTreeMap<(String, String), String>,
}

impl FileSink {
    pub fn new(dir: &Path) -> Self {
        FileSink {
            dir: dir.to_path_buf(),
            written: BTreeMap::new(),
        }
    }
}

impl StatusSink for FileSink {
    async fn publish(&mut self, objects: &StatusObjects) -> Result<usize, String> {
        let docs = documents(objects);
        let mut writes = 0;
        for ((kind, name), yaml) in &docs {
            if self.written.get(&(kind.clone(), name.clone())) == Some(yaml) {
                continue;
            }
            let dir = self.dir.join(kind);
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let path = dir.join(format!("{name}.yaml"));
            let tmp = dir.join(format!(".{name}.yaml.tmp"));
            std::fs::write(&tmp, yaml).map_err(|e| format!("{}: {e}", tmp.display()))?;
            std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))?;
            writes += 1;
        }
        for (kind, name) in self.written.keys() {
            if !docs.contains_key(&(kind.clone(), name.clone())) {
                let _ = std::fs::remove_file(self.dir.join(kind).join(format!("{name}.yaml")));
                writes += 1;
            }
        }
        self.written = docs;
        Ok(writes)
    }
}

/// Server-side applies changed objects (spec, then status) in the speaker's namespace and
/// deletes this node's objects that are gone. At start it reads what exists, so a restart
/// writes nothing that did not change.
pub struct KubeSink {
    client: Client,
    namespace: String,
    node: String,
    written: Option<BTreeMap<(String, String), String>>,
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
        let lp = ListParams::default().labels(&format!("{NODE_LABEL}={}", self.node));
        Ok(api.list(&lp).await?.items)
    }

    async fn load(&mut self) -> Result<BTreeMap<(String, String), String>, kube::Error> {
        let mut current = StatusObjects {
            sessions: self.existing::<BGPSession>().await?,
            announcements: self.existing::<ServiceAnnouncement>().await?,
            node: None,
        };
        // Compare like with like: what we would have written, not the server's extra metadata.
        for o in &mut current.sessions {
            strip(o);
        }
        for o in &mut current.announcements {
            strip(o);
        }
        let mut docs = documents(&current);
        for n in self.existing::<SpeakerNode>().await? {
            let mut n = n;
            strip(&mut n);
            docs.insert(
                ("speakernodes".into(), n.name_any()),
                serde_yaml::to_string(&n).expect("serializes"),
            );
        }
        Ok(docs)
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
        api.patch(&name, &pp, &Patch::Apply(obj)).await?;
        api.patch_status(&name, &pp, &Patch::Apply(obj)).await?;
        Ok(())
    }

    async fn delete(&self, kind: &str, name: &str) -> Result<(), kube::Error> {
        let dp = DeleteParams::default();
        let ns = &self.namespace;
        let res = match kind {
            "bgpsessions" => Api::<BGPSession>::namespaced(self.client.clone(), ns)
                .delete(name, &dp)
                .await
                .map(|_| ()),
            "serviceannouncements" => {
                Api::<ServiceAnnouncement>::namespaced(self.client.clone(), ns)
                    .delete(name, &dp)
                    .await
                    .map(|_| ())
            }
            _ => Api::<SpeakerNode>::namespaced(self.client.clone(), ns)
                .delete(name, &dp)
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
    async fn publish(&mut self, objects: &StatusObjects) -> Result<usize, String> {
        if self.written.is_none() {
            self.written = Some(self.load().await.map_err(|e| e.to_string())?);
        }
        let docs = documents(objects);
        let before = self.written.clone().unwrap_or_default();
        let mut writes = 0;
        for o in &objects.sessions {
            let key = ("bgpsessions".to_string(), o.name_any());
            if before.get(&key) != docs.get(&key) {
                self.apply(o)
                    .await
                    .map_err(|e| format!("BGPSession {}: {e}", o.name_any()))?;
                writes += 1;
            }
        }
        for o in &objects.announcements {
            let key = ("serviceannouncements".to_string(), o.name_any());
            if before.get(&key) != docs.get(&key) {
                self.apply(o)
                    .await
                    .map_err(|e| format!("ServiceAnnouncement {}: {e}", o.name_any()))?;
                writes += 1;
            }
        }
        if let Some(o) = &objects.node {
            let key = ("speakernodes".to_string(), o.name_any());
            if before.get(&key) != docs.get(&key) {
                self.apply(o)
                    .await
                    .map_err(|e| format!("SpeakerNode {}: {e}", o.name_any()))?;
                writes += 1;
            }
        }
        for (kind, name) in before.keys() {
            if !docs.contains_key(&(kind.clone(), name.clone())) {
                debug!(kind, name, "deleting stale status object");
                self.delete(kind, name)
                    .await
                    .map_err(|e| format!("{kind} {name}: {e}"))?;
                writes += 1;
            }
        }
        self.written = Some(docs);
        Ok(writes)
    }
}
