//! Reads Kubernetes manifests (multi-document YAML, as `kubectl apply -f` takes them) into a
//! [`Snapshot`], so ferrule can check and render a configuration without a cluster.
//!
//! Like `kubectl apply` in order, a later document for the same object (kind, namespace,
//! name) replaces an earlier one. One broken document never stops the others: its error is
//! collected and loading goes on.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use k8s_openapi::api::core::v1::{Namespace, Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray,
};
use k8s_openapi::ByteString;
use kube::Resource;
use serde::de::DeserializeOwned;
use serde_yaml::Value;
use thiserror::Error;

use crate::api;
use crate::core::model::ObjectRef;
use crate::core::snapshot::Snapshot;

/// Where a document sits: file, 1-based document number and the line it starts on, and the
/// index inside a `List`'s items.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub doc: u32,
    pub line: u32,
    pub item: Option<u32>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: document {} (line {})",
            self.file, self.doc, self.line
        )?;
        if let Some(i) = self.item {
            write!(f, ", items[{i}]")?;
        }
        Ok(())
    }
}

#[derive(Debug, Error)]
pub enum ManifestError {
    #[error("cannot read {}: {error}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        error: std::io::Error,
    },
    #[error("{at}: invalid YAML: {message}")]
    Yaml { at: Location, message: String },
    #[error("{at}: {message}")]
    Document { at: Location, message: String },
    /// The document names a known kind but does not fit its type.
    #[error("{at}: {kind} {name}: {message}")]
    Object {
        at: Location,
        kind: String,
        name: String,
        message: String,
    },
}

/// Things worth telling the user that do not stop a document from loading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Warning {
    /// A kind ferrule does not read (a Deployment, an L2Advertisement...).
    Skipped {
        at: Location,
        api_version: String,
        kind: String,
        name: String,
    },
    /// This document replaced an earlier definition of the same object.
    Replaced { at: Location, object: ObjectRef },
    /// A field the CRD does not define: most often a typo, which the API server would
    /// drop and MetalLB would never see.
    UnknownField {
        at: Location,
        object: ObjectRef,
        field: String,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::Skipped {
                at,
                api_version,
                kind,
                name,
            } => write!(
                f,
                "{at}: skipped {api_version} {kind} {name}: not a kind ferrule reads"
            ),
            Warning::Replaced { at, object } => {
                write!(
                    f,
                    "{at}: {object} replaces an earlier definition (later documents win)"
                )
            }
            Warning::UnknownField { at, object, field } => {
                write!(f, "{at}: {object}: unknown field {field} (ignored)")
            }
        }
    }
}

/// What parsing added besides objects.
#[derive(Debug, Default)]
pub struct Diagnostics {
    pub errors: Vec<ManifestError>,
    pub warnings: Vec<Warning>,
}

/// A directory of manifests, read.
#[derive(Debug, Default)]
pub struct Loaded {
    pub snapshot: Snapshot,
    /// Documents that could not be loaded; every other document was.
    pub errors: Vec<ManifestError>,
    pub warnings: Vec<Warning>,
}

/// Reads every `*.yaml` / `*.yml` file directly in `dir`, in file-name order, into a
/// snapshot whose `namespace` (where ferrule reads its CRs) is `namespace`. Fails only when
/// the directory itself cannot be read; unreadable files and broken documents are
/// collected in `Loaded::errors`.
pub fn load_dir(dir: &Path, namespace: &str) -> Result<Loaded, ManifestError> {
    load(dir, namespace, None)
}

/// [`load_dir`] keeping of Services, EndpointSlices and Nodes only what the speaker of
/// `node` reads ([`super::trim`]), trimmed as each object is read so the untrimmed cluster
/// is never in memory at once.
pub fn load_dir_trimmed(dir: &Path, namespace: &str, node: &str) -> Result<Loaded, ManifestError> {
    let mut loaded = load(dir, namespace, Some(node))?;
    let s = &mut loaded.snapshot;
    s.services.shrink_to_fit();
    s.endpoint_slices.shrink_to_fit();
    s.nodes.shrink_to_fit();
    Ok(loaded)
}

fn load(dir: &Path, namespace: &str, trim: Option<&str>) -> Result<Loaded, ManifestError> {
    let io = |error| ManifestError::Io {
        path: dir.to_owned(),
        error,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
        if yaml && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    let mut loaded = Loaded {
        snapshot: Snapshot {
            namespace: namespace.into(),
            ..Snapshot::default()
        },
        ..Loaded::default()
    };
    for path in files {
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let d = parse(
                    &text,
                    &path.display().to_string(),
                    &mut loaded.snapshot,
                    trim,
                );
                loaded.errors.extend(d.errors);
                loaded.warnings.extend(d.warnings);
            }
            Err(error) => loaded.errors.push(ManifestError::Io { path, error }),
        }
    }
    Ok(loaded)
}

/// Adds every object of a multi-document YAML text to `snapshot`. `source` names the text
/// in messages (usually the file path). metallb.io objects without a namespace go to
/// `snapshot.namespace`; namespaced core objects without one go to `default`.
pub fn parse_str(text: &str, source: &str, snapshot: &mut Snapshot) -> Diagnostics {
    parse(text, source, snapshot, None)
}

/// Object positions in the snapshot's lists by (kind, namespace, name): "later documents
/// win" without a linear search per object (10,000 Services would cost 50 million compares).
type Index = std::collections::HashMap<(String, String, String), usize>;

fn index_of(s: &Snapshot) -> Index {
    fn add<K: Resource>(index: &mut Index, kind: &str, list: &[impl std::borrow::Borrow<K>]) {
        for (i, o) in list.iter().enumerate() {
            let m = o.borrow().meta();
            index.insert(
                (
                    kind.to_string(),
                    m.namespace.clone().unwrap_or_default(),
                    m.name.clone().unwrap_or_default(),
                ),
                i,
            );
        }
    }
    let mut index = Index::new();
    add::<api::IPAddressPool>(&mut index, "IPAddressPool", &s.pools);
    add::<api::BGPPeer>(&mut index, "BGPPeer", &s.peers);
    add::<api::BGPAdvertisement>(&mut index, "BGPAdvertisement", &s.advertisements);
    add::<api::BFDProfile>(&mut index, "BFDProfile", &s.bfd_profiles);
    add::<api::Community>(&mut index, "Community", &s.communities);
    add::<Secret>(&mut index, "Secret", &s.secrets);
    add::<Service>(&mut index, "Service", &s.services);
    add::<EndpointSlice>(&mut index, "EndpointSlice", &s.endpoint_slices);
    add::<Node>(&mut index, "Node", &s.nodes);
    add::<Namespace>(&mut index, "Namespace", &s.namespaces);
    index
}

/// `trim`: the node whose speaker the objects are for (see [`load_dir_trimmed`]).
fn parse(text: &str, source: &str, snapshot: &mut Snapshot, trim: Option<&str>) -> Diagnostics {
    let mut d = Diagnostics::default();
    let mut index = index_of(snapshot);
    for (i, (line, doc)) in split_documents(text).into_iter().enumerate() {
        let at = Location {
            file: source.into(),
            doc: i as u32 + 1,
            line,
            item: None,
        };
        match serde_yaml::from_str::<Value>(doc) {
            Ok(Value::Null) => {}
            Ok(value) => add_value(value, at, snapshot, &mut d, trim, &mut index),
            Err(e) => d.errors.push(ManifestError::Yaml {
                at,
                message: e.to_string(),
            }),
        }
    }
    d
}

/// Splits a YAML stream into documents with the line each starts on, the way kubectl does:
/// a line starting with `---`, followed by nothing but whitespace or a comment, separates
/// documents. Each document is then parsed alone, so a broken one cannot take the rest of
/// the stream with it.
fn split_documents(text: &str) -> Vec<(u32, &str)> {
    let mut docs = Vec::new();
    let (mut start, mut start_line) = (0, 1);
    let mut offset = 0;
    for (n, line) in text.split_inclusive('\n').enumerate() {
        if let Some(rest) = line.strip_prefix("---") {
            let rest = rest.trim();
            if rest.is_empty() || rest.starts_with('#') {
                docs.push((start_line, &text[start..offset]));
                start = offset + line.len();
                start_line = n as u32 + 2;
            }
        }
        offset += line.len();
    }
    docs.push((start_line, &text[start..]));
    docs
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// Where an object's namespace comes from when the document has none.
#[derive(Clone, Copy)]
enum Scope {
    /// A metallb.io CR: ferrule's namespace.
    Ours,
    /// A namespaced core object: `default`, as kubectl does.
    Default,
    /// Cluster-scoped.
    Cluster,
}

fn add_value(
    value: Value,
    at: Location,
    snapshot: &mut Snapshot,
    d: &mut Diagnostics,
    trim: Option<&str>,
    index: &mut Index,
) {
    if !value.is_mapping() {
        d.errors.push(ManifestError::Document {
            at,
            message: "not a Kubernetes object (expected a mapping with apiVersion and kind)".into(),
        });
        return;
    }
    let (Some(api_version), Some(kind)) =
        (str_at(&value, &["apiVersion"]), str_at(&value, &["kind"]))
    else {
        d.errors.push(ManifestError::Document {
            at,
            message: "missing apiVersion or kind".into(),
        });
        return;
    };
    let (api_version, kind) = (api_version.to_owned(), kind.to_owned());
    let name = str_at(&value, &["metadata", "name"])
        .unwrap_or("<unnamed>")
        .to_owned();

    if kind == "List"
        || kind.ends_with("List") && value.get("items").is_some_and(Value::is_sequence)
    {
        let Some(Value::Sequence(items)) = value.get("items").cloned() else {
            return;
        };
        for (i, item) in items.into_iter().enumerate() {
            let at = Location {
                item: Some(i as u32),
                ..at.clone()
            };
            add_value(item, at, snapshot, d, trim, index);
        }
        return;
    }

    let mut value = value;
    if api_version.starts_with("metallb.io/") {
        // MetalLB's docs apply e.g. a BGPAdvertisement with no spec at all (every pool, every
        // peer); the generated types require one, so an absent spec is an empty one.
        if let Value::Mapping(m) = &mut value {
            m.entry("spec".into())
                .or_insert_with(|| Value::Mapping(Default::default()));
        }
    }

    let ours = snapshot.namespace.clone();
    let mut cx = Cx {
        at: &at,
        kind: &kind,
        name: &name,
        ours: &ours,
        d,
        index,
    };
    match (api_version.as_str(), kind.as_str()) {
        ("metallb.io/v1beta1", "IPAddressPool") => {
            cx.check_fields(&value, "v1beta1");
            cx.add(
                value,
                Scope::Ours,
                &mut snapshot.pools,
                |o: api::IPAddressPool| o,
            )
        }
        ("metallb.io/v1beta1", "BGPAdvertisement") => {
            cx.check_fields(&value, "v1beta1");
            cx.add(
                value,
                Scope::Ours,
                &mut snapshot.advertisements,
                |o: api::BGPAdvertisement| o,
            )
        }
        ("metallb.io/v1beta1", "BFDProfile") => {
            cx.check_fields(&value, "v1beta1");
            cx.add(
                value,
                Scope::Ours,
                &mut snapshot.bfd_profiles,
                |o: api::BFDProfile| o,
            )
        }
        ("metallb.io/v1beta1", "Community") => {
            cx.check_fields(&value, "v1beta1");
            cx.add(
                value,
                Scope::Ours,
                &mut snapshot.communities,
                |o: api::Community| o,
            )
        }
        ("metallb.io/v1beta1", "BGPPeer") => {
            cx.check_fields(&value, "v1beta1");
            cx.add(
                value,
                Scope::Ours,
                &mut snapshot.peers,
                |o: api::v1beta1::BGPPeer| api::BGPPeer {
                    metadata: o.metadata,
                    spec: o.spec.into(),
                    status: o.status,
                },
            )
        }
        ("metallb.io/v1beta2", "BGPPeer") => {
            cx.check_fields(&value, "v1beta2");
            cx.add(value, Scope::Ours, &mut snapshot.peers, |o: api::BGPPeer| o)
        }
        ("v1", "Service") => cx.add(
            value,
            Scope::Default,
            &mut snapshot.services,
            |mut o: Service| {
                if trim.is_some() {
                    super::trim::service(&mut o);
                }
                o
            },
        ),
        ("v1", "Secret") => cx.add(
            value,
            Scope::Default,
            &mut snapshot.secrets,
            merge_string_data,
        ),
        ("v1", "Node") => cx.add(value, Scope::Cluster, &mut snapshot.nodes, |mut o: Node| {
            if trim.is_some() {
                super::trim::node(&mut o);
            }
            o
        }),
        ("v1", "Namespace") => cx.add(
            value,
            Scope::Cluster,
            &mut snapshot.namespaces,
            |o: Namespace| o,
        ),
        ("discovery.k8s.io/v1", "EndpointSlice") => cx.add(
            value,
            Scope::Default,
            &mut snapshot.endpoint_slices,
            |mut o: EndpointSlice| {
                if let Some(node) = trim {
                    super::trim::endpoint_slice(&mut o, node);
                }
                o
            },
        ),
        _ => cx.d.warnings.push(Warning::Skipped {
            at: at.clone(),
            api_version: api_version.clone(),
            kind: kind.clone(),
            name: name.clone(),
        }),
    }
}

/// The API server merges `stringData` into `data` on write; do the same so the rest of
/// ferrule only looks at `data`.
fn merge_string_data(mut s: Secret) -> Secret {
    if let Some(string_data) = s.string_data.take() {
        let data = s.data.get_or_insert_with(BTreeMap::new);
        for (k, v) in string_data {
            data.insert(k, ByteString(v.into_bytes()));
        }
    }
    s
}

/// One document being added.
struct Cx<'a> {
    at: &'a Location,
    kind: &'a str,
    name: &'a str,
    ours: &'a str,
    d: &'a mut Diagnostics,
    index: &'a mut Index,
}

impl Cx<'_> {
    /// `L` is what the list holds: the object itself or an `Arc` of it.
    fn add<T, K, L>(
        &mut self,
        value: Value,
        scope: Scope,
        list: &mut Vec<L>,
        convert: impl FnOnce(T) -> K,
    ) where
        T: DeserializeOwned,
        K: Resource,
        L: From<K>,
    {
        let parsed = match T::deserialize(&value) {
            Ok(t) => t,
            Err(e) => {
                self.d.errors.push(ManifestError::Object {
                    at: self.at.clone(),
                    kind: self.kind.into(),
                    name: self.name.into(),
                    message: error_with_path::<T>(&value, e),
                });
                return;
            }
        };
        let mut obj = convert(parsed);
        let meta = obj.meta_mut();
        match scope {
            Scope::Ours => {
                meta.namespace.get_or_insert_with(|| self.ours.to_owned());
            }
            Scope::Default => {
                meta.namespace.get_or_insert_with(|| "default".to_owned());
            }
            Scope::Cluster => meta.namespace = None,
        }
        let (ns, name) = (meta.namespace.clone(), meta.name.clone());
        let key = (
            self.kind.to_string(),
            ns.clone().unwrap_or_default(),
            name.clone().unwrap_or_default(),
        );
        match self.index.get(&key).and_then(|&i| list.get_mut(i)) {
            Some(existing) => {
                *existing = L::from(obj);
                self.d.warnings.push(Warning::Replaced {
                    at: self.at.clone(),
                    object: ObjectRef::new(
                        self.kind,
                        ns.as_deref().unwrap_or_default(),
                        name.as_deref().unwrap_or_default(),
                    ),
                });
            }
            None => {
                self.index.insert(key, list.len());
                list.push(L::from(obj));
            }
        }
    }

    /// Warns about fields the CRD schema does not define.
    fn check_fields(&mut self, value: &Value, version: &str) {
        let Some(schema) = crd_schemas().get(&(self.kind.to_owned(), version.to_owned())) else {
            return;
        };
        let ns = str_at(value, &["metadata", "namespace"]).unwrap_or(self.ours);
        let object = ObjectRef::new(self.kind, ns, self.name);
        let mut fields = Vec::new();
        if let Value::Mapping(m) = value {
            for (k, v) in m {
                let key = k.as_str().unwrap_or_default();
                match key {
                    "apiVersion" | "kind" | "metadata" => {}
                    _ => match schema.properties.as_ref().and_then(|p| p.get(key)) {
                        Some(s) => unknown_fields(v, s, key, &mut fields),
                        None => fields.push(key.to_owned()),
                    },
                }
            }
        }
        for field in fields {
            self.d.warnings.push(Warning::UnknownField {
                at: self.at.clone(),
                object: object.clone(),
                field,
            });
        }
    }
}

/// Errors from a `Value` carry no field path; parsing the value's text again does
/// (`spec.myASN: invalid type...`). Its line numbers point into that text, not the user's
/// file, so they are dropped (the document's own line is in the Location).
fn error_with_path<T: DeserializeOwned>(value: &Value, error: serde_yaml::Error) -> String {
    let Ok(text) = serde_yaml::to_string(value) else {
        return error.to_string();
    };
    match serde_yaml::from_str::<T>(&text) {
        Err(e) => {
            let mut message = e.to_string();
            if e.location().is_some() {
                if let Some(i) = message.rfind(" at line ") {
                    message.truncate(i);
                }
            }
            message
        }
        Ok(_) => error.to_string(),
    }
}

/// Collects the paths in `v` that `schema` does not define. Only descends where the schema
/// lists properties, so it never reports a field the API server would keep.
fn unknown_fields(v: &Value, schema: &JSONSchemaProps, path: &str, out: &mut Vec<String>) {
    if schema.x_kubernetes_preserve_unknown_fields == Some(true) {
        return;
    }
    match v {
        Value::Mapping(m) => {
            let Some(props) = &schema.properties else {
                return;
            };
            for (k, child) in m {
                let key = k.as_str().unwrap_or_default();
                let p = format!("{path}.{key}");
                match props.get(key) {
                    Some(s) => unknown_fields(child, s, &p, out),
                    None => out.push(p),
                }
            }
        }
        Value::Sequence(items) => {
            if let Some(JSONSchemaPropsOrArray::Schema(s)) = &schema.items {
                for (i, item) in items.iter().enumerate() {
                    unknown_fields(item, s, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

/// The openAPIV3Schema of every served (kind, version), from our own CRDs.
fn crd_schemas() -> &'static BTreeMap<(String, String), JSONSchemaProps> {
    static SCHEMAS: OnceLock<BTreeMap<(String, String), JSONSchemaProps>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        let mut out = BTreeMap::new();
        for crd in api::crds() {
            for v in crd.spec.versions {
                if let Some(schema) = v.schema.and_then(|s| s.open_api_v3_schema) {
                    out.insert((crd.spec.names.kind.clone(), v.name), schema);
                }
            }
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        Snapshot {
            namespace: "metallb-system".into(),
            ..Snapshot::default()
        }
    }

    const POOL: &str = "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p}\nspec: {addresses: [203.0.113.0/24]}\n";

    #[test]
    fn documents_kinds_and_namespaces() {
        let text = format!(
            "---\n# leading separator and comments are fine\n{POOL}--- # a comment after the separator\n\
             apiVersion: metallb.io/v1beta1\nkind: BGPPeer\nmetadata: {{name: t1}}\nspec: {{myASN: 1, peerASN: 2, peerAddress: 198.51.100.1, holdTime: 9s}}\n\
             ---\n---\n\
             apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: t2, namespace: elsewhere}}\nspec: {{myASN: 1, dynamicASN: external, interface: eth0}}\n\
             ---\napiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {{name: a}}\n\
             ---\napiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {{name: b}}\n\
             ---\napiVersion: metallb.io/v1beta1\nkind: Community\nmetadata: {{name: c}}\nspec: {{communities: [{{name: x, value: '1:1'}}]}}\n\
             ---\napiVersion: v1\nkind: Service\nmetadata: {{name: web}}\nspec: {{type: LoadBalancer}}\n\
             ---\napiVersion: v1\nkind: Secret\nmetadata: {{name: pw}}\ntype: kubernetes.io/basic-auth\ndata: {{password: aHVudGVyMg==}}\nstringData: {{username: me}}\n\
             ---\napiVersion: v1\nkind: Node\nmetadata: {{name: n1, namespace: nonsense}}\n\
             ---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: shop}}\n\
             ---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: web-1, namespace: shop}}\naddressType: IPv4\nendpoints: []\n\
             ---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app}}\n\
             ---\napiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {{name: l2}}\n"
        );
        let mut s = snapshot();
        let d = parse_str(&text, "all.yaml", &mut s);
        assert!(d.errors.is_empty(), "{:?}", d.errors);

        let ns =
            |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| m.namespace.clone();
        assert_eq!(ns(&s.pools[0].metadata).as_deref(), Some("metallb-system"));
        assert_eq!(s.peers.len(), 2);
        // v1beta1 converted to v1beta2, fields kept.
        assert_eq!(s.peers[0].spec.peer_asn, Some(2));
        assert_eq!(s.peers[0].spec.hold_time.as_deref(), Some("9s"));
        assert_eq!(s.peers[1].spec.interface.as_deref(), Some("eth0"));
        assert_eq!(ns(&s.peers[1].metadata).as_deref(), Some("elsewhere"));
        assert_eq!(s.advertisements.len(), 1);
        assert_eq!(s.bfd_profiles.len(), 1);
        assert_eq!(s.communities[0].spec.communities[0].value, "1:1");
        assert_eq!(ns(&s.services[0].metadata).as_deref(), Some("default"));
        // stringData is merged into data, as the API server does.
        let data = s.secrets[0].data.as_ref().unwrap();
        assert_eq!(data["password"].0, b"hunter2");
        assert_eq!(data["username"].0, b"me");
        assert!(s.secrets[0].string_data.is_none());
        // Cluster-scoped objects have no namespace.
        assert_eq!(ns(&s.nodes[0].metadata), None);
        assert_eq!(s.namespaces.len(), 1);
        assert_eq!(ns(&s.endpoint_slices[0].metadata).as_deref(), Some("shop"));

        let skipped: Vec<(&str, u32)> = d
            .warnings
            .iter()
            .map(|w| match w {
                Warning::Skipped { kind, at, .. } => (kind.as_str(), at.doc),
                other => panic!("unexpected {other}"),
            })
            .collect();
        // Document numbers count the empty ones too (the leading `---` opens document 2).
        assert_eq!(skipped, [("Deployment", 14), ("L2Advertisement", 15)]);
    }

    #[test]
    fn broken_documents_do_not_stop_the_others() {
        let text = format!(
            "{POOL}---\nkey: *undefined_anchor\n---\nb: [1\n---\n\
             apiVersion: metallb.io/v1beta1\nkind: BGPPeer\nmetadata: {{name: bad}}\nspec: {{myASN: lots, peerASN: 2, peerAddress: x}}\n\
             ---\n- just\n- a list\n---\nmetadata: {{name: kindless}}\n---\n\
             apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {{name: good}}\n"
        );
        let mut s = snapshot();
        let d = parse_str(&text, "mixed.yaml", &mut s);
        assert_eq!(s.pools.len(), 1);
        assert_eq!(s.bfd_profiles.len(), 1);
        assert!(s.peers.is_empty());
        let messages: Vec<String> = d.errors.iter().map(ToString::to_string).collect();
        assert_eq!(messages.len(), 5, "{messages:#?}");
        assert!(
            messages[0]
                .starts_with("mixed.yaml: document 2 (line 6): invalid YAML: unknown anchor"),
            "{}",
            messages[0]
        );
        assert!(
            messages[1].starts_with("mixed.yaml: document 3 (line 8): invalid YAML"),
            "{}",
            messages[1]
        );
        assert!(
            messages[2].starts_with("mixed.yaml: document 4 (line 10): BGPPeer bad: ")
                && messages[2].contains("myASN"),
            "{}",
            messages[2]
        );
        assert!(
            messages[3].contains("document 5") && messages[3].contains("not a Kubernetes object"),
            "{}",
            messages[3]
        );
        assert!(
            messages[4].contains("document 6")
                && messages[4].contains("missing apiVersion or kind"),
            "{}",
            messages[4]
        );
    }

    #[test]
    fn later_documents_win() {
        let peer = |name: &str, asn: u32, version: &str| {
            format!("apiVersion: metallb.io/{version}\nkind: BGPPeer\nmetadata: {{name: {name}}}\nspec: {{myASN: {asn}, peerASN: 2, peerAddress: 198.51.100.1}}\n")
        };
        let mut s = snapshot();
        let text = [
            peer("t1", 1, "v1beta1"),
            peer("t2", 2, "v1beta1"),
            peer("t1", 3, "v1beta2"),
        ]
        .join("---\n");
        let d = parse_str(&text, "a.yaml", &mut s);
        // Across calls (files) too, and across API versions of the same kind.
        let d2 = parse_str(&peer("t2", 4, "v1beta1"), "b.yaml", &mut s);
        let asns: Vec<(String, u32)> = s
            .peers
            .iter()
            .map(|p| (p.metadata.name.clone().unwrap(), p.spec.my_asn))
            .collect();
        assert_eq!(asns, [("t1".to_string(), 3), ("t2".to_string(), 4)]);
        let replaced = |d: &Diagnostics| -> Vec<String> {
            d.warnings
                .iter()
                .map(|w| match w {
                    Warning::Replaced { object, at } => format!("{}#{} {object}", at.file, at.doc),
                    other => panic!("unexpected {other}"),
                })
                .collect()
        };
        assert_eq!(replaced(&d), ["a.yaml#3 BGPPeer metallb-system/t1"]);
        assert_eq!(replaced(&d2), ["b.yaml#1 BGPPeer metallb-system/t2"]);
        // The same name in another namespace is another object.
        parse_str(
            "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n",
            "c.yaml",
            &mut s,
        );
        assert_eq!(s.services.len(), 2);
    }

    #[test]
    fn lists_are_unpacked() {
        let text = "apiVersion: v1\nkind: List\nitems:\n\
                    - {apiVersion: v1, kind: Node, metadata: {name: n1}}\n\
                    - {apiVersion: v1, kind: Node, metadata: {name: n2}}\n\
                    - {apiVersion: v1, kind: Node, metadata: {name: n3}, spec: {unschedulable: maybe}}\n\
                    ---\napiVersion: v1\nkind: NodeList\nitems: [{apiVersion: v1, kind: Node, metadata: {name: n4}}]\n";
        let mut s = snapshot();
        let d = parse_str(text, "list.yaml", &mut s);
        let names: Vec<_> = s
            .nodes
            .iter()
            .map(|n| n.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["n1", "n2", "n4"]);
        assert_eq!(d.errors.len(), 1);
        let e = d.errors[0].to_string();
        assert!(
            e.starts_with("list.yaml: document 1 (line 1), items[2]: Node n3: "),
            "{e}"
        );
    }

    #[test]
    fn unknown_fields_are_warned_about() {
        let text = "apiVersion: metallb.io/v1beta1\nkind: BGPPeer\nmetadata: {name: t1}\n\
                    spec:\n  myASN: 1\n  peerASN: 2\n  peerAddress: 198.51.100.1\n  holdtime: 90s\n\
                    \x20 nodeSelectors: [{matchLabels: {any-key: fine}, matchExpresions: []}]\nstatuss: {}\n";
        let mut s = snapshot();
        let d = parse_str(text, "typo.yaml", &mut s);
        assert!(d.errors.is_empty(), "{:?}", d.errors);
        assert_eq!(s.peers.len(), 1);
        let fields: Vec<&str> = d
            .warnings
            .iter()
            .map(|w| match w {
                Warning::UnknownField { field, object, .. } => {
                    assert_eq!(object.to_string(), "BGPPeer metallb-system/t1");
                    field.as_str()
                }
                other => panic!("unexpected {other}"),
            })
            .collect();
        assert_eq!(
            fields,
            [
                "spec.holdtime",
                "spec.nodeSelectors[0].matchExpresions",
                "statuss"
            ]
        );
    }

    #[test]
    fn load_dir_reads_yaml_files_in_order() {
        let dir = std::env::temp_dir().join(format!("ferrule-manifests-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let pool = |cidr: &str| {
            format!("apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: p}}\nspec: {{addresses: [{cidr}]}}\n")
        };
        std::fs::write(dir.join("10-b.yml"), pool("198.51.100.0/24")).unwrap();
        std::fs::write(dir.join("02-a.yaml"), pool("203.0.113.0/24")).unwrap();
        std::fs::write(dir.join("20-c.yaml"), "a: [\n").unwrap();
        std::fs::write(dir.join("notes.txt"), "not yaml: [").unwrap();
        std::fs::write(dir.join("sub/99.yaml"), pool("192.0.2.0/24")).unwrap();

        let loaded = load_dir(&dir, "ns1").unwrap();
        assert_eq!(loaded.snapshot.namespace, "ns1");
        assert_eq!(loaded.snapshot.pools.len(), 1);
        // 10-b.yml comes after 02-a.yaml, so it wins; sub/ is not read.
        assert_eq!(loaded.snapshot.pools[0].spec.addresses, ["198.51.100.0/24"]);
        assert_eq!(
            loaded.snapshot.pools[0].metadata.namespace.as_deref(),
            Some("ns1")
        );
        assert_eq!(loaded.errors.len(), 1);
        assert!(loaded.errors[0]
            .to_string()
            .contains("20-c.yaml: document 1"));
        assert_eq!(loaded.warnings.len(), 1);

        let missing = load_dir(&dir.join("absent"), "ns1").unwrap_err();
        assert!(matches!(missing, ManifestError::Io { .. }));
        assert!(missing.to_string().contains("absent"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn separators_follow_kubectl() {
        let docs: Vec<(u32, &str)> = split_documents("a: 1\n---\nb: 2\n--- # c\nc: 3\n---x: 4\n");
        assert_eq!(docs, [(1, "a: 1\n"), (3, "b: 2\n"), (5, "c: 3\n---x: 4\n")]);
        assert_eq!(split_documents(""), [(1, "")]);
    }
}
