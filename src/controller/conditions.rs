//! A `Valid` condition on every MetalLB object (IPAddressPool, BGPPeer, BGPAdvertisement,
//! BFDProfile, Community), so `kubectl get bgppeers` shows which ones ferrule ignores and
//! `kubectl describe` says which field is wrong. Speakers validate the same objects for
//! their own configs; only the leading controller writes these shared objects, and only
//! when a condition changes.
//!
//! The verdict comes from the very computation the speakers run, on the same objects: the
//! controller reads the Secrets in its namespace (as the speakers do) so that a peer whose
//! Secret is missing says so, and every Node, so that rules between objects that can meet
//! on a node see the nodes the speakers see.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::runtime::reflector::Store;
use kube::{Client, ResourceExt};
use serde_json::json;

use super::leader::{LeaderTask, Leadership, Pass};
use crate::api::{
    BFDProfile, BGPAdvertisement, BGPPeer, Community, IPAddressPool, L2Advertisement,
};
use crate::core::intent::{node_intent, ClusterView};
use crate::core::model::ObjectRef;
use crate::core::pipeline::{self, Addresses, Options};
use crate::core::snapshot::ValidationError;
use crate::frr::render::render_node;
use crate::kube::stores::Stores;
use crate::kube::untyped::{self, Unfit};

pub const VALID: &str = "Valid";

/// What one object's `Valid` condition should say (the transition time aside).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub valid: bool,
    pub reason: &'static str,
    pub message: String,
}

/// Object identity: (kind, namespace, name).
pub type Key = (String, String, String);

/// Why an L2Advertisement is not used.
pub const L2_IGNORED: &str =
    "L2 mode is outside ferrule (BGP only): this L2Advertisement is ignored";

/// The verdict for every object in `objects`, from the same computation the speakers run:
/// `Invalid` (left out; `Conflict` when it only lost to older objects), `Degraded` (used,
/// with parts skipped or defaulted, as the message says) or `Valid`. Several problems are
/// joined in one message.
pub fn verdicts(
    objects: &[Key],
    errors: &[ValidationError],
    warnings: &[ValidationError],
    unfit: &[Unfit],
) -> BTreeMap<Key, Verdict> {
    let key = |e: &ValidationError| {
        (
            e.object.kind.clone(),
            e.object.namespace.clone(),
            e.object.name.clone(),
        )
    };
    // Per object: (messages, every one a lost conflict).
    let mut bad: BTreeMap<Key, (Vec<String>, bool)> = BTreeMap::new();
    for e in errors {
        let entry = bad.entry(key(e)).or_insert((Vec::new(), true));
        entry.0.push(format!("{}: {}", e.field, e.message));
        entry.1 &= e.incumbent.is_some();
    }
    for u in unfit {
        let entry = bad
            .entry((u.kind.to_string(), u.namespace.clone(), u.name.clone()))
            .or_insert((Vec::new(), false));
        entry
            .0
            .push(format!("does not fit the metallb.io schema: {}", u.error));
        entry.1 = false;
    }
    let mut degraded: BTreeMap<Key, Vec<String>> = BTreeMap::new();
    for w in warnings {
        degraded
            .entry(key(w))
            .or_default()
            .push(format!("{}: {}", w.field, w.message));
    }
    objects
        .iter()
        .map(|k| {
            let verdict = if k.0 == "L2Advertisement" {
                Verdict {
                    valid: false,
                    reason: "Unsupported",
                    message: L2_IGNORED.into(),
                }
            } else if let Some((p, conflict)) = bad.get(k) {
                Verdict {
                    valid: false,
                    reason: if *conflict { "Conflict" } else { "Invalid" },
                    message: p.join("; "),
                }
            } else if let Some(w) = degraded.get(k) {
                Verdict {
                    valid: true,
                    reason: "Degraded",
                    message: w.join("; "),
                }
            } else {
                Verdict {
                    valid: true,
                    reason: "Valid",
                    message: "accepted by ferrule".into(),
                }
            };
            (k.clone(), verdict)
        })
        .collect()
}

/// The condition to write, or None when the object already says so.
fn condition_update(
    current: Option<&Condition>,
    v: &Verdict,
    generation: Option<i64>,
) -> Option<Condition> {
    let status = if v.valid { "True" } else { "False" };
    if let Some(c) = current {
        if c.status == status
            && c.reason == v.reason
            && c.message == v.message
            && c.observed_generation == generation
        {
            return None;
        }
    }
    let since = match current {
        Some(c) if c.status == status => c.last_transition_time.clone(),
        _ => Time(k8s_openapi::jiff::Timestamp::now()),
    };
    Some(Condition {
        type_: VALID.into(),
        status: status.into(),
        reason: v.reason.into(),
        message: v.message.clone(),
        observed_generation: generation,
        last_transition_time: since,
    })
}

/// The conditions loop's state, driven by [`super::leader::lead`].
pub struct Conditions {
    namespace: String,
    leadership: Leadership,
    stores: Stores,
    /// Per kind: the store of its objects and the API to patch their status with.
    kinds: Vec<(&'static str, Store<DynamicObject>, Api<DynamicObject>)>,
}

impl Conditions {
    pub fn new(client: Client, namespace: String, leadership: Leadership, stores: Stores) -> Self {
        let ns = namespace.as_str();
        let mut kinds = Vec::new();
        let mut add = |name, store: &Option<Store<DynamicObject>>, api| {
            if let Some(store) = store {
                kinds.push((name, store.clone(), api));
            }
        };
        add(
            "IPAddressPool",
            &stores.pools,
            untyped::api::<IPAddressPool>(&client, ns),
        );
        add(
            "BGPPeer",
            &stores.peers,
            untyped::api::<BGPPeer>(&client, ns),
        );
        add(
            "BGPAdvertisement",
            &stores.advertisements,
            untyped::api::<BGPAdvertisement>(&client, ns),
        );
        add(
            "BFDProfile",
            &stores.bfd_profiles,
            untyped::api::<BFDProfile>(&client, ns),
        );
        add(
            "Community",
            &stores.communities,
            untyped::api::<Community>(&client, ns),
        );
        add(
            "L2Advertisement",
            &stores.l2_advertisements,
            untyped::api::<L2Advertisement>(&client, ns),
        );
        Conditions {
            namespace,
            leadership,
            stores,
            kinds,
        }
    }
}

impl LeaderTask for Conditions {
    async fn pass(&mut self) -> Pass {
        match converge(self).await {
            Ok(0) => Pass::Done,
            Ok(n) => {
                tracing::debug!(writes = n, "validation conditions written");
                Pass::Done
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot write validation conditions; retrying");
                Pass::Failed
            }
        }
    }
}

/// What the speakers' renderer would leave out of some node's config, as errors on the
/// objects concerned. Nothing, while validation and rendering agree as they must (both ask
/// `core::limits`); this keeps `Valid` truthful should they ever not. Sessions, profiles and
/// routers are what rendering can refuse, so the nodes are rendered without Services.
fn rendering_refusals(computed: &pipeline::Computed, namespace: &str) -> Vec<ValidationError> {
    let none = BTreeMap::new();
    let (no_services, no_assignments) = (BTreeMap::new(), BTreeMap::new());
    let view = ClusterView {
        services: &no_services,
        assignments: &no_assignments,
        held: &none,
        ..computed.view()
    };
    let mut out = std::collections::BTreeSet::new();
    for node in computed.nodes.keys() {
        let Ok(rendered) = render_node(&node_intent(&view, node), None) else {
            continue;
        };
        for l in rendered.left_out {
            let Some((kind, name)) = l.object.split_once(' ') else {
                continue;
            };
            out.insert(ValidationError::new(
                ObjectRef::new(kind, namespace, name),
                "spec",
                format!("FRR cannot take {} on node {node}: {}", l.what, l.error),
            ));
        }
    }
    out.into_iter().collect()
}

async fn converge(c: &Conditions) -> Result<usize, kube::Error> {
    let built = c.stores.snapshot(&c.namespace);
    // The speakers' own computation on the same objects (Secrets included): what they
    // leave out is what is invalid, what they degrade is what is degraded.
    let computed = pipeline::compute(
        &built.snapshot,
        &Options::default(),
        Addresses::FromStatus,
        &BTreeMap::new(),
    );
    let mut objects: Vec<(Key, &Api<DynamicObject>, std::sync::Arc<DynamicObject>)> = Vec::new();
    for (kind, store, api) in &c.kinds {
        for obj in store.state() {
            let key = (
                kind.to_string(),
                obj.namespace().unwrap_or_default(),
                obj.name_any(),
            );
            objects.push((key, api, obj));
        }
    }
    let keys: Vec<Key> = objects.iter().map(|(k, _, _)| k.clone()).collect();
    let mut errors = computed.errors.clone();
    errors.extend(rendering_refusals(&computed, &c.namespace));
    let verdicts = verdicts(&keys, &errors, &computed.warnings, &built.unfit);
    let mut writes = 0;
    for (key, api, obj) in &objects {
        let conditions: Vec<Condition> = obj
            .data
            .get("status")
            .and_then(|s| s.get("conditions"))
            .and_then(|c| serde_json::from_value(c.clone()).ok())
            .unwrap_or_default();
        let current = conditions.iter().find(|c| c.type_ == VALID);
        let Some(update) = condition_update(current, &verdicts[key], obj.metadata.generation)
        else {
            continue;
        };
        if !c.leadership.is_leader() {
            return Ok(writes);
        }
        let mut all: Vec<Condition> = conditions
            .into_iter()
            .filter(|c| c.type_ != VALID)
            .collect();
        all.push(update);
        let patch = json!({ "status": { "conditions": all } });
        c.leadership
            .bounded(api.patch_status(&key.2, &PatchParams::default(), &Patch::Merge(&patch)))
            .await?;
        writes += 1;
    }
    Ok(writes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Should validation ever let through what FRR cannot take, the object's condition says
    /// so. (Validation refuses such a password; the model is edited behind its back here.)
    #[test]
    fn what_rendering_would_refuse_shows_in_the_condition() {
        let mut s = crate::core::snapshot::Snapshot {
            namespace: "metallb-system".into(),
            ..Default::default()
        };
        let yaml = "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\n---\napiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: tor}\nspec: {myASN: 65100, peerASN: 65000, peerAddress: 192.0.2.1}\n";
        crate::input::manifests::parse_str(yaml, "t", &mut s);
        let mut computed = pipeline::compute(
            &s,
            &Options::default(),
            Addresses::FromStatus,
            &BTreeMap::new(),
        );
        assert!(rendering_refusals(&computed, "metallb-system").is_empty());
        computed.config.peers.get_mut("tor").unwrap().password =
            Some(crate::core::model::Password::new("two words".into()));
        let refused = rendering_refusals(&computed, "metallb-system");
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert_eq!(
            refused[0].object,
            ObjectRef::new("BGPPeer", "metallb-system", "tor")
        );
        assert!(
            refused[0].message.contains("on node n1"),
            "{}",
            refused[0].message
        );
        assert!(
            !refused[0].message.contains("two words"),
            "never the password"
        );
    }

    fn key(kind: &str, name: &str) -> Key {
        (kind.into(), "metallb-system".into(), name.into())
    }

    #[test]
    fn every_object_gets_a_verdict_and_problems_are_joined() {
        let errors = vec![
            ValidationError::new(
                ObjectRef::new("BGPPeer", "metallb-system", "tor1"),
                "spec.bfdProfile",
                "BFDProfile \"missing\" not found",
            ),
            ValidationError::new(
                ObjectRef::new("BGPPeer", "metallb-system", "tor1"),
                "spec.holdTime",
                "must be 0 or at least 3s",
            ),
        ];
        let unfit = vec![Unfit {
            kind: "BFDProfile",
            namespace: "metallb-system".into(),
            name: "broken".into(),
            resource_version: "7".into(),
            error: "invalid type: string \"fast\", expected u32".into(),
        }];
        let v = verdicts(
            &[
                key("BGPPeer", "tor1"),
                key("BGPPeer", "tor2"),
                key("BFDProfile", "broken"),
            ],
            &errors,
            &[],
            &unfit,
        );
        assert!(v[&key("BGPPeer", "tor2")].valid);
        let tor1 = &v[&key("BGPPeer", "tor1")];
        assert!(!tor1.valid);
        assert_eq!(
            tor1.message,
            "spec.bfdProfile: BFDProfile \"missing\" not found; spec.holdTime: must be 0 or at least 3s"
        );
        assert!(v[&key("BFDProfile", "broken")]
            .message
            .contains("does not fit"));
    }

    #[test]
    fn unchanged_conditions_are_not_rewritten_and_keep_their_transition_time() {
        let valid = Verdict {
            valid: true,
            reason: "Valid",
            message: "accepted by ferrule".into(),
        };
        let first = condition_update(None, &valid, Some(1)).unwrap();
        assert_eq!(first.status, "True");
        assert_eq!(condition_update(Some(&first), &valid, Some(1)), None);
        // A new generation with the same verdict: rewritten, same transition time.
        let again = condition_update(Some(&first), &valid, Some(2)).unwrap();
        assert_eq!(again.last_transition_time, first.last_transition_time);
        let invalid = Verdict {
            valid: false,
            reason: "Invalid",
            message: "spec.x: bad".into(),
        };
        assert_eq!(
            condition_update(Some(&again), &invalid, Some(3))
                .unwrap()
                .status,
            "False"
        );
    }
}
