//! What reading manifests reports besides objects: errors that leave a document out, and
//! warnings about documents that loaded.

use std::fmt;
use std::path::PathBuf;

use serde_yaml::Value;
use thiserror::Error;

use crate::core::model::ObjectRef;

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

impl ManifestError {
    /// The file the error is about, as its messages name it.
    pub fn file(&self) -> Option<String> {
        match self {
            ManifestError::Io { path, .. } => Some(path.display().to_string()),
            ManifestError::Yaml { at, .. }
            | ManifestError::Document { at, .. }
            | ManifestError::Object { at, .. } => Some(at.file.clone()),
        }
    }
}

/// Things worth telling the user that do not stop a document from loading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Warning {
    /// The file does not parse now; its last content that did is used until it does.
    KeptLastGood { file: String },
    /// A kind ferrule does not read (a Deployment, an L2Advertisement...).
    Skipped {
        at: Location,
        api_version: String,
        kind: String,
        name: String,
    },
    /// A MetalLB kind ferrule does not implement.
    Unsupported {
        at: Location,
        kind: String,
        name: String,
        why: &'static str,
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
            Warning::Unsupported { at, kind, name, why } => write!(f, "{at}: {kind} {name}: {why}"),
            Warning::KeptLastGood { file } => write!(
                f,
                "{file} does not parse; its objects stay as its last good content had them until it does"
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
    /// Where each object added was defined: (kind, namespace, name) and its location.
    pub placed: Vec<((String, String, String), Location)>,
}

/// A document's deserializing error as it may be logged. serde quotes the values it
/// refuses (`stringData: invalid type: string "hunter2", expected a map`), so for a document
/// that may hold a secret (any Secret; a BGPPeer whose `spec.password` is not a string, whose
/// error may not even name the field) every quoted value goes, and of the path only its
/// first field stays (a Secret's keys are its owner's business too).
pub(super) fn without_secrets(kind: &str, value: &Value, message: String) -> String {
    let password = value
        .get("spec")
        .and_then(|s| s.get("password"))
        .is_some_and(|p| !p.is_string());
    if kind != "Secret" && !password {
        return message;
    }
    let (path, rest) = match message.split_once(": ") {
        Some((p, r)) if !p.contains(' ') => (p.split(['.', '[']).next(), r),
        _ => (None, message.as_str()),
    };
    let mut out = path.map(|p| format!("{p}: ")).unwrap_or_default();
    let mut inside: Option<char> = None;
    let mut escaped = false;
    for c in rest.chars() {
        match inside {
            Some(_) if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => {
                out.push_str("<redacted>");
                out.push(c);
                inside = None;
            }
            Some(_) => {}
            None => {
                out.push(c);
                if c == '"' || c == '`' {
                    inside = Some(c);
                }
            }
        }
    }
    if inside.is_some() {
        out.push_str("<redacted>");
    }
    out
}
