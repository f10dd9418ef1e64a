//! Bookkeeping every kind's validation shares: which objects count, how errors name an
//! object and field, and references between kinds ("unknown" vs "invalid").

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;

use super::names::is_dns1123_subdomain;
use crate::core::model::ObjectRef;
use crate::core::snapshot::ValidationError;

/// The objects of one kind that count: in our namespace, one per name (the last one wins,
/// as the manifest loader does), sorted by name.
pub(super) fn ours<'a, K: Resource>(items: &'a [K], namespace: &str) -> Vec<&'a K> {
    let mut by_name: BTreeMap<String, &K> = BTreeMap::new();
    for item in items {
        if item.meta().namespace.as_deref() == Some(namespace) {
            by_name.insert(item.meta().name.clone().unwrap_or_default(), item);
        }
    }
    by_name.into_values().collect()
}

pub(super) fn object_ref(meta: &ObjectMeta, kind: &str) -> ObjectRef {
    ObjectRef::new(
        kind,
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default(),
    )
}

pub(super) fn error(
    meta: &ObjectMeta,
    kind: &str,
    field: impl Into<String>,
    message: impl Into<String>,
) -> ValidationError {
    ValidationError {
        object: object_ref(meta, kind),
        field: field.into(),
        message: message.into(),
    }
}

pub(super) fn collect<T>(
    result: Result<T, Vec<ValidationError>>,
    errors: &mut Vec<ValidationError>,
) -> Option<T> {
    result.map_err(|mut e| errors.append(&mut e)).ok()
}

/// Errors of one object, gathered so that every problem is reported at once.
pub(super) struct Report {
    pub(super) object: ObjectRef,
    pub(super) errors: Vec<ValidationError>,
}

impl Report {
    /// Starts a report and checks the object's name, which every kind needs (names end up
    /// in FRR configuration: profile names, route-map names, comments).
    pub(super) fn new(meta: &ObjectMeta, kind: &str) -> Self {
        let mut r = Report {
            object: object_ref(meta, kind),
            errors: Vec::new(),
        };
        let name = meta.name.as_deref().unwrap_or_default();
        if !is_dns1123_subdomain(name) {
            r.err(
                "metadata.name",
                format!("{name:?} is not a valid name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters"),
            );
        }
        r
    }

    pub(super) fn err(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ValidationError {
            object: self.object.clone(),
            field: field.into(),
            message: message.into(),
        });
    }

    pub(super) fn finish<T>(self, value: T) -> Result<T, Vec<ValidationError>> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(self.errors)
        }
    }
}

/// Valid objects of one kind by name, plus the names of all objects of that kind, to tell
/// "unknown" from "invalid" when another object refers to one.
pub(super) struct Known<'a, T> {
    pub(super) kind: &'static str,
    pub(super) valid: &'a BTreeMap<String, T>,
    pub(super) all: BTreeSet<String>,
}

impl<'a, T> Known<'a, T> {
    pub(super) fn new<K: Resource>(
        kind: &'static str,
        objects: &[&K],
        valid: &'a BTreeMap<String, T>,
    ) -> Self {
        Known {
            kind,
            valid,
            all: objects
                .iter()
                .filter_map(|o| o.meta().name.clone())
                .collect(),
        }
    }

    pub(super) fn get(&self, name: &str) -> Result<&'a T, Missing> {
        let kind = self.kind;
        match self.valid.get(name) {
            Some(v) => Ok(v),
            None if self.all.contains(name) => Err(Missing::Invalid {
                kind,
                name: name.into(),
            }),
            None => Err(Missing::Unknown {
                kind,
                name: name.into(),
            }),
        }
    }
}

/// Why a referenced object cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(super) enum Missing {
    #[error("{kind} {name} is invalid (see its own errors)")]
    Invalid { kind: &'static str, name: String },
    #[error("unknown {kind} {name}")]
    Unknown { kind: &'static str, name: String },
}

/// Reports every repeated entry of a list (MetalLB rejects duplicates too).
pub(super) fn duplicates(r: &mut Report, field: &str, items: &[String]) {
    for (i, item) in items.iter().enumerate() {
        if items[..i].contains(item) {
            r.err(format!("{field}[{i}]"), format!("{item:?} is listed twice"));
        }
    }
}
