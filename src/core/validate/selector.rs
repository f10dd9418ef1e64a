//! Label selectors: compiled once (every error named), and where two selector lists can
//! select the same node.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::names::{is_label_value, is_qualified_name};
use super::report::Report;
use crate::core::model::{any_matches, Node as ModelNode, Requirement, Selector};

/// Compiles a Kubernetes LabelSelector. Errors are (field suffix, message) pairs, the field
/// relative to the selector.
pub fn compile_selector(sel: &LabelSelector) -> Result<Selector, Vec<(String, String)>> {
    let mut errors = Vec::new();
    let mut requirements = Vec::new();
    for (k, v) in sel.match_labels.iter().flatten() {
        if !is_qualified_name(k) {
            errors.push(("matchLabels".into(), format!("invalid label key {k:?}")));
        }
        if !is_label_value(v) {
            errors.push((
                "matchLabels".into(),
                format!("invalid label value {v:?} for key {k:?}"),
            ));
        }
        requirements.push(Requirement::In(k.clone(), BTreeSet::from([v.clone()])));
    }
    for (i, e) in sel.match_expressions.iter().flatten().enumerate() {
        let field = format!("matchExpressions[{i}]");
        if !is_qualified_name(&e.key) {
            errors.push((
                format!("{field}.key"),
                format!("invalid label key {:?}", e.key),
            ));
        }
        let values = e.values.clone().unwrap_or_default();
        for v in &values {
            if !is_label_value(v) {
                errors.push((
                    format!("{field}.values"),
                    format!("invalid label value {v:?}"),
                ));
            }
        }
        let set: BTreeSet<String> = values.iter().cloned().collect();
        if set.len() != values.len() {
            errors.push((format!("{field}.values"), "values are listed twice".into()));
        }
        let key = e.key.clone();
        let req = match e.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => {
                errors.push((
                    format!("{field}.values"),
                    format!("operator {} needs at least one value", e.operator),
                ));
                continue;
            }
            "Exists" | "DoesNotExist" if !values.is_empty() => {
                errors.push((
                    format!("{field}.values"),
                    format!("operator {} takes no values", e.operator),
                ));
                continue;
            }
            "In" => Requirement::In(key, set),
            "NotIn" => Requirement::NotIn(key, set),
            "Exists" => Requirement::Exists(key),
            "DoesNotExist" => Requirement::DoesNotExist(key),
            other => {
                errors.push((
                    format!("{field}.operator"),
                    format!("unknown operator {other:?} (In, NotIn, Exists or DoesNotExist)"),
                ));
                continue;
            }
        };
        if requirements.contains(&req) {
            errors.push((field, "the same expression is listed twice".into()));
        }
        requirements.push(req);
    }
    if errors.is_empty() {
        Ok(Selector { requirements })
    } else {
        Err(errors)
    }
}

/// Compiles a list of selectors at `field` (e.g. `spec.nodeSelectors`), reporting every
/// invalid or repeated selector.
pub(super) fn selectors(r: &mut Report, field: &str, sels: &[LabelSelector]) -> Vec<Selector> {
    let mut out: Vec<Selector> = Vec::new();
    for (i, sel) in sels.iter().enumerate() {
        match compile_selector(sel) {
            Ok(s) => {
                if out.contains(&s) {
                    r.err(format!("{field}[{i}]"), "the same selector is listed twice");
                }
                out.push(s);
            }
            Err(errs) => {
                for (sub, message) in errs {
                    r.err(format!("{field}[{i}].{sub}"), message);
                }
            }
        }
    }
    out
}

/// Where two selector lists can select the same node.
pub(super) enum Overlap {
    /// This node matches both.
    Node(String),
    /// No current node matches both, but the lists are identical (for example both empty,
    /// meaning every node), so any node that matches one matches the other.
    Same,
    /// No Node is known at all: as MetalLB does, any two may share a node.
    NoNodes,
}

impl fmt::Display for Overlap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Overlap::Node(n) => write!(f, "node {n} is selected by both"),
            Overlap::Same => f.write_str("both have the same nodeSelectors"),
            Overlap::NoNodes => f.write_str("no Node is known, so any node may run both"),
        }
    }
}

pub(super) fn node_overlap(
    a: &[Selector],
    b: &[Selector],
    nodes: &BTreeMap<String, ModelNode>,
) -> Option<Overlap> {
    if nodes.is_empty() {
        return Some(Overlap::NoNodes);
    }
    nodes
        .values()
        .find(|n| any_matches(a, &n.labels) && any_matches(b, &n.labels))
        .map(|n| Overlap::Node(n.name.clone()))
        .or_else(|| (a == b).then_some(Overlap::Same))
}

#[cfg(test)]
mod tests;
