//! Reading a directory of manifests (`super::manifests`) again and again (a file-mode speaker): each file's last
//! good content, files still being written, hostile files, and a parse cache so that a
//! change re-parses only the files that changed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::manifests::{
    parse as parse_into, read_manifest, split_documents, yaml_files, Index, Loaded, Location,
    ManifestError, Warning,
};
use crate::core::snapshot::Snapshot;

/// Reads a directory again and again (a file-mode speaker), remembering each file's last
/// content that parsed: a file caught half-written (an editor saving in place) or broken by
/// an edit keeps its last good content, with an error saying so, instead of taking its
/// objects away. A new file that does not parse costs only its own documents.
///
/// A file cut off mid-write (a writer that died, a full disk, a reader faster than an
/// in-place save) may still parse (`conditions:` at a half document's end is a null; the
/// documents after the cut are just missing), so a file whose last good content ended with
/// a newline and whose content now does not (an empty one too) counts as not parsing.
#[derive(Debug, Default)]
pub struct DirReader {
    last_good: BTreeMap<PathBuf, String>,
    /// Each file as last parsed (see [`Fragment`]).
    parsed: BTreeMap<PathBuf, Fragment>,
    /// Files parsed so far (a file whose text did not change is not parsed again).
    parses: usize,
}

impl DirReader {
    /// How many file texts were parsed so far.
    pub fn parses(&self) -> usize {
        self.parses
    }

    pub fn load(
        &mut self,
        dir: &Path,
        namespace: &str,
        trim: Option<&str>,
    ) -> Result<Loaded, ManifestError> {
        self.load_holding(dir, namespace, trim, &BTreeSet::new())
    }

    /// [`DirReader::load`], with the files in `held` (still open for writing) read as they
    /// were last read: their last good content, or not at all if they are new.
    pub fn load_holding(
        &mut self,
        dir: &Path,
        namespace: &str,
        trim: Option<&str>,
        held: &BTreeSet<PathBuf>,
    ) -> Result<Loaded, ManifestError> {
        let (files, canonical_dir) = yaml_files(dir)?;
        let mut texts: Vec<(PathBuf, Result<String, std::io::Error>)> = files
            .into_iter()
            .filter_map(|p| {
                if held.contains(&p) {
                    let last = self.last_good.get(&p)?.clone();
                    return Some((p, Ok(last)));
                }
                let t = read_manifest(&p, &canonical_dir);
                Some((p, t))
            })
            .collect();
        self.last_good
            .retain(|p, _| texts.iter().any(|(q, _)| q == p));
        let mut loaded = parse_all(&mut self.parsed, &mut self.parses, &texts, namespace, trim);
        for (path, text) in &texts {
            if let (Ok(text), Some(good)) = (text, self.last_good.get(path)) {
                if good.ends_with('\n') && !text.ends_with('\n') {
                    loaded.errors.push(cut_off(path, text));
                }
            }
        }
        // Files that do not parse now but did before: read again with their last good text.
        let broken: BTreeSet<String> = loaded
            .errors
            .iter()
            .filter_map(ManifestError::file)
            .collect();
        let mut substituted = Vec::new();
        for (path, text) in texts.iter_mut() {
            let name = path.display().to_string();
            match self.last_good.get(path) {
                Some(good) if broken.contains(&name) || text.is_err() => {
                    *text = Ok(good.clone());
                    substituted.push(name);
                }
                _ => {}
            }
        }
        if !substituted.is_empty() {
            let errors = std::mem::take(&mut loaded.errors);
            loaded = parse_all(&mut self.parsed, &mut self.parses, &texts, namespace, trim);
            loaded.errors = errors;
            for file in substituted {
                loaded.warnings.push(Warning::KeptLastGood { file });
            }
        }
        for (path, text) in texts {
            let name = path.display().to_string();
            if let Ok(t) = text {
                if !loaded
                    .errors
                    .iter()
                    .any(|e| e.file().as_deref() == Some(name.as_str()))
                {
                    self.last_good.insert(path, t);
                }
            }
        }
        Ok(loaded)
    }
}

/// The error of a file that looks cut off mid-write (see [`DirReader`]).
fn cut_off(path: &Path, text: &str) -> ManifestError {
    let docs = split_documents(text);
    let what = if text.is_empty() {
        "is empty"
    } else {
        "ends mid-line"
    };
    ManifestError::Document {
        at: Location {
            file: path.display().to_string(),
            doc: docs.len() as u32,
            line: docs.last().map_or(1, |d| d.0),
            item: None,
        },
        message: format!("the file {what} where it ended with a newline: it looks cut off mid-write (delete the file to delete its objects)"),
    }
}

/// One file parsed on its own, kept while its text (by length and hash) and the reading
/// options stay the same: a change re-parses only the files that changed.
#[derive(Debug)]
struct Fragment {
    fingerprint: (usize, u64, String, Option<String>),
    snapshot: Snapshot,
    errors: Vec<ManifestError>,
    warnings: Vec<Warning>,
    /// Where each object was defined, for "replaces an earlier definition" across files.
    placed: Vec<(Key, Location)>,
}

type Key = (String, String, String);

fn fingerprint(
    text: &str,
    namespace: &str,
    trim: Option<&str>,
) -> (usize, u64, String, Option<String>) {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    (
        text.len(),
        h.finish(),
        namespace.to_string(),
        trim.map(str::to_string),
    )
}

fn parse_all(
    cache: &mut BTreeMap<PathBuf, Fragment>,
    parses: &mut usize,
    texts: &[(PathBuf, Result<String, std::io::Error>)],
    namespace: &str,
    trim: Option<&str>,
) -> Loaded {
    let mut loaded = Loaded {
        snapshot: Snapshot {
            namespace: namespace.into(),
            ..Snapshot::default()
        },
        ..Loaded::default()
    };
    let mut index = Index::new();
    for (path, text) in texts {
        match text {
            Ok(text) => {
                let fp = fingerprint(text, namespace, trim);
                let fresh = cache.get(path).is_none_or(|f| f.fingerprint != fp);
                if fresh {
                    *parses += 1;
                    let mut snapshot = Snapshot {
                        namespace: namespace.into(),
                        ..Snapshot::default()
                    };
                    let d = parse_into(text, &path.display().to_string(), &mut snapshot, trim);
                    cache.insert(
                        path.clone(),
                        Fragment {
                            fingerprint: fp,
                            snapshot,
                            errors: d.errors,
                            warnings: d.warnings,
                            placed: d.placed,
                        },
                    );
                }
                merge(&mut loaded, &cache[path], &mut index);
            }
            Err(error) => loaded.errors.push(ManifestError::Io {
                path: path.clone(),
                error: std::io::Error::new(error.kind(), error.to_string()),
            }),
        }
    }
    cache.retain(|p, _| texts.iter().any(|(q, _)| q == p));
    loaded
}

/// Adds one file's objects to what the files before it gave: later definitions win, as
/// they do within a file, with the same warning.
fn merge(loaded: &mut Loaded, f: &Fragment, index: &mut Index) {
    loaded.errors.extend(f.errors.iter().map(copy_error));
    loaded.warnings.extend(f.warnings.iter().cloned());
    let s = &mut loaded.snapshot;
    let w = &mut loaded.warnings;
    let fs = &f.snapshot;
    merge_list::<crate::api::IPAddressPool, _>(
        "IPAddressPool",
        &mut s.pools,
        &fs.pools,
        f,
        index,
        w,
    );
    merge_list::<crate::api::BGPPeer, _>("BGPPeer", &mut s.peers, &fs.peers, f, index, w);
    merge_list::<crate::api::BGPAdvertisement, _>(
        "BGPAdvertisement",
        &mut s.advertisements,
        &fs.advertisements,
        f,
        index,
        w,
    );
    merge_list::<crate::api::BFDProfile, _>(
        "BFDProfile",
        &mut s.bfd_profiles,
        &fs.bfd_profiles,
        f,
        index,
        w,
    );
    merge_list::<crate::api::Community, _>(
        "Community",
        &mut s.communities,
        &fs.communities,
        f,
        index,
        w,
    );
    merge_list::<k8s_openapi::api::core::v1::Secret, _>(
        "Secret",
        &mut s.secrets,
        &fs.secrets,
        f,
        index,
        w,
    );
    merge_list::<k8s_openapi::api::core::v1::Service, _>(
        "Service",
        &mut s.services,
        &fs.services,
        f,
        index,
        w,
    );
    merge_list::<k8s_openapi::api::discovery::v1::EndpointSlice, _>(
        "EndpointSlice",
        &mut s.endpoint_slices,
        &fs.endpoint_slices,
        f,
        index,
        w,
    );
    merge_list::<k8s_openapi::api::core::v1::Node, _>("Node", &mut s.nodes, &fs.nodes, f, index, w);
    merge_list::<k8s_openapi::api::core::v1::Namespace, _>(
        "Namespace",
        &mut s.namespaces,
        &fs.namespaces,
        f,
        index,
        w,
    );
    merge_list::<k8s_openapi::api::core::v1::ConfigMap, _>(
        "ConfigMap",
        &mut s.config_maps,
        &fs.config_maps,
        f,
        index,
        w,
    );
}

fn merge_list<K: kube::Resource, L: Clone + std::borrow::Borrow<K>>(
    kind: &str,
    dst: &mut Vec<L>,
    src: &[L],
    f: &Fragment,
    index: &mut Index,
    warnings: &mut Vec<Warning>,
) {
    for o in src {
        let m = o.borrow().meta();
        let key: Key = (
            kind.to_string(),
            m.namespace.clone().unwrap_or_default(),
            m.name.clone().unwrap_or_default(),
        );
        match index.get(&key) {
            Some(&i) => {
                dst[i] = o.clone();
                if let Some((_, at)) = f.placed.iter().rev().find(|(k, _)| *k == key) {
                    warnings.push(Warning::Replaced {
                        at: at.clone(),
                        object: crate::core::model::ObjectRef::new(kind, &key.1, &key.2),
                    });
                }
            }
            None => {
                index.insert(key, dst.len());
                dst.push(o.clone());
            }
        }
    }
}

/// A parse error again (parse errors carry no I/O error, but the type allows one).
fn copy_error(e: &ManifestError) -> ManifestError {
    match e {
        ManifestError::Io { path, error } => ManifestError::Io {
            path: path.clone(),
            error: std::io::Error::new(error.kind(), error.to_string()),
        },
        ManifestError::Yaml { at, message } => ManifestError::Yaml {
            at: at.clone(),
            message: message.clone(),
        },
        ManifestError::Document { at, message } => ManifestError::Document {
            at: at.clone(),
            message: message.clone(),
        },
        ManifestError::Object {
            at,
            kind,
            name,
            message,
        } => ManifestError::Object {
            at: at.clone(),
            kind: kind.clone(),
            name: name.clone(),
            message: message.clone(),
        },
    }
}
