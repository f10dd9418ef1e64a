//! Reads Kubernetes manifests (multi-document YAML, as `kubectl apply -f` takes them) into a
//! [`Snapshot`], so ferrule can check and render a configuration without a cluster.
//!
//! Like `kubectl apply` in order, a later document for the same object (kind, namespace,
//! name) replaces an earlier one. One broken document never stops the others: its error is
//! collected and loading goes on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray,
};
use k8s_openapi::ByteString;
use kube::Resource;
use serde::de::DeserializeOwned;
use serde_yaml::Value;

use crate::api;
use crate::core::model::ObjectRef;
use crate::core::snapshot::Snapshot;

mod diagnostics;

pub use diagnostics::{Diagnostics, Location, ManifestError, Warning};

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
    loaded.shrink();
    Ok(loaded)
}

impl Loaded {
    /// Gives back the lists' spare capacity (a speaker keeps its snapshot for long).
    pub fn shrink(&mut self) {
        let s = &mut self.snapshot;
        s.services.shrink_to_fit();
        s.endpoint_slices.shrink_to_fit();
        s.nodes.shrink_to_fit();
    }
}

fn load(dir: &Path, namespace: &str, trim: Option<&str>) -> Result<Loaded, ManifestError> {
    let (files, canonical) = yaml_files(dir)?;
    let mut loaded = Loaded {
        snapshot: Snapshot {
            namespace: namespace.into(),
            ..Snapshot::default()
        },
        ..Loaded::default()
    };
    for path in files {
        let source = path.display().to_string();
        match read_manifest(&path, &canonical) {
            Ok(text) => {
                let d = parse(&text, &source, &mut loaded.snapshot, trim);
                loaded.errors.extend(d.errors);
                loaded.warnings.extend(d.warnings);
            }
            Err(error) => loaded.errors.push(ManifestError::Io { path, error }),
        }
    }
    Ok(loaded)
}

/// The `*.yaml` / `*.yml` files directly in `dir`, sorted, and the directory's canonical
/// path (what [`read_manifest`] keeps links inside). FIFOs and other non-files are skipped.
pub(crate) fn yaml_files(dir: &Path) -> Result<(Vec<PathBuf>, PathBuf), ManifestError> {
    let io = |error| ManifestError::Io {
        path: dir.to_owned(),
        error,
    };
    let canonical_dir = std::fs::canonicalize(dir).map_err(io)?;
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        let yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
        let regular = entry.file_type().is_ok_and(|t| t.is_file());
        if yaml && (regular || path.is_file()) {
            files.push(path);
        }
    }
    files.sort();
    Ok((files, canonical_dir))
}

/// The largest manifest file read (10,000 Services with 100,000 endpoints take ~15 MB);
/// a bigger one is refused, not read into memory.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// One manifest file's text, refused (an error naming why) when it is larger than
/// [`MAX_FILE_BYTES`] or a symbolic link leading out of the directory (a ConfigMap volume's
/// links into its own `..data` stay inside and are read).
pub(crate) fn read_manifest(path: &Path, canonical_dir: &Path) -> Result<String, std::io::Error> {
    use std::io::{Error, ErrorKind, Read};
    let target = std::fs::canonicalize(path)?;
    if !target.starts_with(canonical_dir) {
        return Err(Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "a symbolic link to {}, outside the manifest directory: not followed",
                target.display()
            ),
        ));
    }
    // Non-blocking: a FIFO swapped in after the directory was listed must not hang us.
    let file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
            .open(&target)?
    };
    if !file.metadata()?.is_file() {
        return Err(Error::new(ErrorKind::InvalidInput, "not a regular file"));
    }
    let too_big = || {
        Error::new(
            ErrorKind::InvalidData,
            format!("larger than {} MiB: not read", MAX_FILE_BYTES >> 20),
        )
    };
    if file.metadata()?.len() > MAX_FILE_BYTES {
        return Err(too_big());
    }
    // Read at most one byte past the limit: a file still growing is caught too.
    let mut text = String::new();
    file.take(MAX_FILE_BYTES + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big());
    }
    Ok(text)
}

/// Adds every object of a multi-document YAML text to `snapshot`. `source` names the text
/// in messages (usually the file path). metallb.io objects without a namespace go to
/// `snapshot.namespace`; namespaced core objects without one go to `default`.
pub fn parse_str(text: &str, source: &str, snapshot: &mut Snapshot) -> Diagnostics {
    parse(text, source, snapshot, None)
}

/// Object positions in the snapshot's lists by (kind, namespace, name): "later documents
/// win" without a linear search per object (10,000 Services would cost 50 million compares).
pub(crate) type Index = std::collections::HashMap<(String, String, String), usize>;

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
    add::<ConfigMap>(&mut index, "ConfigMap", &s.config_maps);
    index
}

/// `trim`: the node whose speaker the objects are for (see [`load_dir_trimmed`]).
pub(crate) fn parse(
    text: &str,
    source: &str,
    snapshot: &mut Snapshot,
    trim: Option<&str>,
) -> Diagnostics {
    let mut d = Diagnostics::default();
    let mut index = index_of(snapshot);
    for (i, (line, doc)) in split_documents(text).into_iter().enumerate() {
        let at = Location {
            file: source.into(),
            doc: i as u32 + 1,
            line,
            item: None,
        };
        match super::bounded_yaml::from_str(doc) {
            Ok(Value::Null) => {}
            Ok(value) => add_value(value, at, snapshot, &mut d, trim, &mut index),
            Err(message) => d.errors.push(ManifestError::Yaml { at, message }),
        }
    }
    d
}

/// Splits a YAML stream into documents with the line each starts on, the way kubectl does:
/// a line starting with `---`, followed by nothing but whitespace or a comment, separates
/// documents. Each document is then parsed alone, so a broken one cannot take the rest of
/// the stream with it.
pub(crate) fn split_documents(text: &str) -> Vec<(u32, &str)> {
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
        // MetalLB's raw FRR config; other ConfigMaps are not ferrule's.
        ("v1", "ConfigMap") if name == crate::core::snapshot::BGP_EXTRAS.0 => cx.add(
            value,
            Scope::Default,
            &mut snapshot.config_maps,
            |o: ConfigMap| o,
        ),
        ("metallb.io/v1beta1", "L2Advertisement") => cx.d.warnings.push(Warning::Unsupported {
            at: at.clone(),
            kind: kind.clone(),
            name: name.clone(),
            why: "L2 mode is outside ferrule (BGP only); this object is ignored",
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
                    message: diagnostics::without_secrets(
                        self.kind,
                        &value,
                        error_with_path::<T>(&value, e),
                    ),
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
        self.d.placed.push((key.clone(), self.at.clone()));
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
mod tests;
