//! Bookkeeping every kind's validation shares: which objects count, how problems name an
//! object and field, how references between kinds resolve ("unknown" vs "invalid"), and
//! which of two conflicting objects is the incumbent.

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

/// Problems found so far, split by what they cost.
#[derive(Default)]
pub(super) struct Problems {
    /// The object (or the part named) is left out.
    pub(super) errors: Vec<ValidationError>,
    /// The object is used, degraded as the message says.
    pub(super) warnings: Vec<ValidationError>,
}

impl Problems {
    /// The value of a checked object, its problems recorded.
    pub(super) fn take<T>(&mut self, checked: Checked<T>) -> Option<T> {
        self.warnings.extend(checked.warnings);
        match checked.value {
            Ok(v) => Some(v),
            Err(mut e) => {
                self.errors.append(&mut e);
                None
            }
        }
    }

    /// `object` lost a conflict to `incumbent`.
    pub(super) fn conflict(
        &mut self,
        object: ObjectRef,
        field: impl Into<String>,
        message: impl Into<String>,
        incumbent: ObjectRef,
    ) {
        let mut e = ValidationError::new(object, field, message);
        e.incumbent = Some(incumbent);
        self.errors.push(e);
    }
}

/// One object's verdict: its value or its errors, and warnings either way.
pub(super) struct Checked<T> {
    pub(super) value: Result<T, Vec<ValidationError>>,
    pub(super) warnings: Vec<ValidationError>,
}

/// Problems of one object, gathered so that every one is reported at once.
pub(super) struct Report {
    pub(super) object: ObjectRef,
    pub(super) errors: Vec<ValidationError>,
    pub(super) warnings: Vec<ValidationError>,
}

impl Report {
    /// Starts a report and checks the object's name, which every kind needs (names end up
    /// in FRR configuration: profile names, route-map names, comments).
    pub(super) fn new(meta: &ObjectMeta, kind: &str) -> Self {
        let mut r = Report {
            object: object_ref(meta, kind),
            errors: Vec::new(),
            warnings: Vec::new(),
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
        self.errors
            .push(ValidationError::new(self.object.clone(), field, message));
    }

    /// Something the object asks for is skipped or defaulted; the rest of it is used.
    pub(super) fn warn(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.warnings
            .push(ValidationError::new(self.object.clone(), field, message));
    }

    pub(super) fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    pub(super) fn finish<T>(self, value: T) -> Checked<T> {
        let value = if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(self.errors)
        };
        Checked {
            value,
            warnings: self.warnings,
        }
    }

    /// The object cannot be used at all (errors already recorded).
    pub(super) fn fail<T>(self) -> Checked<T> {
        debug_assert!(!self.errors.is_empty());
        Checked {
            value: Err(self.errors),
            warnings: self.warnings,
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
    #[error("{kind} {name} is invalid (see its own conditions)")]
    Invalid { kind: &'static str, name: String },
    #[error("{kind} {name} does not exist")]
    Unknown { kind: &'static str, name: String },
}

/// Reports every repeated entry of a list; the repeat is ignored (MetalLB rejects the whole
/// configuration for it; one repeated name changes nothing here).
pub(super) fn duplicates(r: &mut Report, field: &str, items: &[String]) {
    for (i, item) in items.iter().enumerate() {
        if items[..i].contains(item) {
            r.warn(
                format!("{field}[{i}]"),
                format!("{item:?} is listed twice; the repeat is ignored"),
            );
        }
    }
}

/// How old an object is, for conflicts between two objects: the one that sorts first is
/// the incumbent and keeps its place; the newcomer is left out. Older `creationTimestamp`
/// first (an object without one, as in file mode, after every object with one); then the
/// object this process, or file mode's shared ledger, saw first; then the one whose
/// addresses Services use; the name only as the last tie-break.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Age {
    created: (bool, i64),
    seen: u64,
    idle: bool,
    name: String,
}

impl Age {
    pub(super) fn of(
        meta: &ObjectMeta,
        kind: &str,
        first_seen: &BTreeMap<ObjectRef, u64>,
        in_use: bool,
    ) -> Age {
        let created = match &meta.creation_timestamp {
            Some(t) => (false, t.0.as_second()),
            None => (true, 0),
        };
        Age {
            created,
            seen: first_seen
                .get(&object_ref(meta, kind))
                .copied()
                .unwrap_or(u64::MAX),
            idle: !in_use,
            name: meta.name.clone().unwrap_or_default(),
        }
    }
}

/// `objects` oldest first (see [`Age`]).
pub(super) fn by_age<'a, K: Resource>(
    objects: Vec<&'a K>,
    kind: &str,
    first_seen: &BTreeMap<ObjectRef, u64>,
    in_use: impl Fn(&K) -> bool,
) -> Vec<&'a K> {
    let mut aged: Vec<(Age, &'a K)> = objects
        .into_iter()
        .map(|o| (Age::of(o.meta(), kind, first_seen, in_use(o)), o))
        .collect();
    aged.sort_by(|a, b| a.0.cmp(&b.0));
    aged.into_iter().map(|(_, o)| o).collect()
}
