//! Checks a component's real API requests (recorded by the stand-in) against the RBAC it
//! ships with in `manifests/rbac.yaml`: every request must be granted, and every grant
//! must have been used, so the manifests say exactly what the code calls.

use std::collections::BTreeSet;

use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule, Role};
use serde::Deserialize;

use super::apiserver::{RequestRecord, Verb};

/// (api group, resource[/subresource], verb) triples as RBAC writes them.
pub type Grant = (String, String, String);

fn rules(role: &str) -> Vec<PolicyRule> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/manifests/rbac.yaml"))
        .expect("manifests/rbac.yaml");
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let v = serde_yaml::Value::deserialize(doc).unwrap();
        let named = v["metadata"]["name"].as_str() == Some(role);
        match v["kind"].as_str() {
            Some("ClusterRole") if named => {
                let r: ClusterRole = serde_yaml::from_value(v).unwrap();
                out.extend(r.rules.unwrap_or_default());
            }
            Some("Role") if named => {
                let r: Role = serde_yaml::from_value(v).unwrap();
                out.extend(r.rules.unwrap_or_default());
            }
            _ => {}
        }
    }
    out
}

pub fn granted(role: &str) -> BTreeSet<Grant> {
    let mut out = BTreeSet::new();
    for r in rules(role) {
        for g in r.api_groups.iter().flatten() {
            for res in r.resources.iter().flatten() {
                for v in &r.verbs {
                    out.insert((g.clone(), res.clone(), v.clone()));
                }
            }
        }
    }
    out
}

fn verb(v: Verb) -> &'static str {
    match v {
        Verb::Get => "get",
        Verb::List => "list",
        Verb::Watch => "watch",
        Verb::Create => "create",
        Verb::Update => "update",
        Verb::Patch => "patch",
        Verb::Delete => "delete",
        Verb::DeleteCollection => "deletecollection",
    }
}

/// What the recorded requests needed, as RBAC grants.
pub fn used(requests: &[RequestRecord]) -> BTreeSet<Grant> {
    let mut out = BTreeSet::new();
    for r in requests {
        // `v1/services` (core) or `group/version/resource`.
        let parts: Vec<&str> = r.resource.split('/').collect();
        let (group, resource) = match parts.as_slice() {
            [_, res] => (String::new(), res.to_string()),
            [g, _, res] => (g.to_string(), res.to_string()),
            _ => panic!("unexpected resource path {}", r.resource),
        };
        let resource = match &r.subresource {
            Some(s) => format!("{resource}/{s}"),
            None => resource,
        };
        if r.created {
            out.insert((group.clone(), resource.clone(), "create".to_string()));
        }
        out.insert((group, resource, verb(r.verb).to_string()));
    }
    out
}

/// Every request was granted; returns the grants no request used.
pub fn assert_granted(role: &str, requests: &[RequestRecord]) -> BTreeSet<Grant> {
    let granted = granted(role);
    let used = used(requests);
    let missing: Vec<_> = used.difference(&granted).collect();
    assert!(
        missing.is_empty(),
        "{role} made requests its RBAC does not grant: {missing:?}"
    );
    granted.difference(&used).cloned().collect()
}
