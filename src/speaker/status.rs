//! Pure builders of the status objects one speaker publishes, from its node's intent, FRR's
//! state and the last apply. Sinks (Kubernetes or files) write only what changed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::ObjectMeta;
use kube::Resource;

use super::state::FrrState;
use crate::api::status::{
    BGPSession, BGPSessionSpec, BGPSessionStatus, ServiceAnnouncement, ServiceAnnouncementSpec,
    ServiceAnnouncementStatus, SpeakerNode, SpeakerNodeSpec, SpeakerNodeStatus, NODE_LABEL,
    PEER_LABEL, SERVICE_NAMESPACE_LABEL, SERVICE_NAME_LABEL,
};
use crate::core::intent::NodeIntent;
use crate::core::model::ServiceKey;
use crate::core::snapshot::ValidationError;
use crate::frr::render::{sha256_hex, LeftOut};

/// Everything one node publishes, each list sorted by object name. The announcements (one
/// per Service, thousands on a big cluster) change only when the node's intent does; they
/// are built once per intent and shared, so a status poll neither rebuilds nor compares
/// them unless they changed.
#[derive(Clone, Debug, Default)]
pub struct StatusObjects {
    pub sessions: Vec<BGPSession>,
    pub announcements: Arc<Vec<ServiceAnnouncement>>,
    pub node: Option<SpeakerNode>,
}

impl PartialEq for StatusObjects {
    fn eq(&self, other: &Self) -> bool {
        self.sessions == other.sessions
            && self.node == other.node
            && (Arc::ptr_eq(&self.announcements, &other.announcements)
                || self.announcements == other.announcements)
    }
}

/// The outcome of the last apply, as the node status shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyInfo {
    pub ok: bool,
    pub message: Option<String>,
    pub config_hash: String,
    pub generation: u64,
    pub duration_ms: u64,
    pub commands_sent: u64,
    pub refused_extras: Vec<String>,
}

/// The reference that ties a node's status objects to its Node: when the Node is deleted,
/// Kubernetes' garbage collector deletes them, so a removed node leaves no status behind.
pub fn node_owner(node: &str, uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: "v1".into(),
        kind: "Node".into(),
        name: node.into(),
        uid: uid.into(),
        ..Default::default()
    }
}

/// Sets `owner` (or none) as the objects' only owner.
pub fn set_owner<K: Resource>(objects: &mut [K], owner: Option<&OwnerReference>) {
    for o in objects {
        o.meta_mut().owner_references = owner.map(|r| vec![r.clone()]);
    }
}

impl StatusObjects {
    /// Ties the sessions and the node object to the Node and stamps them with the time the
    /// speaker last reported. (Announcements are owned where they are built, once per
    /// intent; they carry no time, so a heartbeat does not rewrite thousands of them.)
    pub fn stamp(&mut self, owner: Option<&OwnerReference>, observed_at: Option<&str>) {
        set_owner(&mut self.sessions, owner);
        set_owner(self.node.as_mut_slice(), owner);
        for s in &mut self.sessions {
            if let Some(st) = s.status.as_mut() {
                st.observed_at = observed_at.map(str::to_string);
            }
        }
        if let Some(st) = self.node.as_mut().and_then(|n| n.status.as_mut()) {
            st.observed_at = observed_at.map(str::to_string);
        }
    }
}

/// Kubernetes object names are DNS-1123 subdomains of at most 253 characters; node, peer
/// and Service names already are, but their concatenation may be too long or collide, so
/// long names are cut and made unique with a hash.
pub fn object_name(parts: &[&str]) -> String {
    let joined = parts.join("-").to_ascii_lowercase();
    let clean: String = joined
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let clean = clean.trim_matches(|c| c == '-' || c == '.').to_string();
    if clean.len() <= 63 && clean == joined {
        return clean;
    }
    let hash = hex8(&joined);
    let keep: String = clean.chars().take(54).collect();
    format!("{}-{hash}", keep.trim_end_matches(['-', '.']))
}

fn hex8(s: &str) -> String {
    sha256_hex(s)[..8].to_string()
}

fn meta(name: String, namespace: &str, labels: &[(&str, &str)]) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: Some(namespace.to_string()),
        labels: Some(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), label_value(v)))
                .collect(),
        ),
        ..Default::default()
    }
}

/// A label value for `v` (at most 63 characters of `[A-Za-z0-9._-]`, alphanumeric at both
/// ends). A value that does not fit as it is gets a hash of the whole, so two long node
/// names that share 63 characters still differ. Writers and the sink's label selectors use
/// this one function, so what is listed is what was written.
pub fn label_value(v: &str) -> String {
    let clean: String = v
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed = clean.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if trimmed.len() <= 63 && trimmed == v {
        return trimmed.to_string();
    }
    let keep: String = trimmed.chars().take(54).collect();
    let keep = keep.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    if keep.is_empty() {
        hex8(v)
    } else {
        format!("{keep}-{}", hex8(v))
    }
}

/// Formats a Unix time as RFC 3339 UTC (what a `date` printer column expects).
pub fn rfc3339_utc(epoch: i64) -> Option<String> {
    if epoch < 0 {
        return None;
    }
    let days = epoch.div_euclid(86_400);
    let secs = epoch.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    Some(format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    ))
}

/// What the node's computation reported besides its intent, for its SpeakerNode.
#[derive(Clone, Copy, Default)]
pub struct Findings<'a> {
    /// Objects left out of the computation.
    pub errors: &'a [ValidationError],
    /// Objects used with a part skipped or defaulted.
    pub warnings: &'a [ValidationError],
    /// Parts of the intent the renderer could not carry.
    pub left_out: &'a [LeftOut],
}

/// Builds the status objects of `intent.node`.
pub fn build(
    namespace: &str,
    intent: &NodeIntent,
    frr: Option<&FrrState>,
    apply: Option<&ApplyInfo>,
    findings: Findings<'_>,
) -> StatusObjects {
    let announcements = Arc::new(announcements(namespace, intent));
    build_with(namespace, intent, announcements, frr, apply, findings)
}

/// [`build`] with the announcements already built (by [`announcements`]) for this intent.
pub fn build_with(
    namespace: &str,
    intent: &NodeIntent,
    announcements: Arc<Vec<ServiceAnnouncement>>,
    frr: Option<&FrrState>,
    apply: Option<&ApplyInfo>,
    findings: Findings<'_>,
) -> StatusObjects {
    let node = intent.node.as_str();
    let mut sessions = Vec::new();
    for router in &intent.routers {
        for n in &router.neighbors {
            let address = n.address.to_string();
            let state = frr.and_then(|f| f.session(router.vrf.as_deref(), &address));
            let status = match state {
                Some(s) => BGPSessionStatus {
                    bgp: s.bgp_state.clone(),
                    bfd: match (n.bfd || n.bfd_profile.is_some(), &s.bfd) {
                        (true, Some(b)) => b.clone(),
                        (true, None) => "down".into(),
                        (false, _) => String::new(),
                    },
                    prefixes_sent: s.prefixes_sent,
                    prefixes_received: s.prefixes_received,
                    established_since: s.established_epoch.and_then(rfc3339_utc),
                    last_error: s.last_error.clone(),
                    observed_at: None,
                },
                None => BGPSessionStatus {
                    bgp: if frr.is_some() {
                        "NotConfigured"
                    } else {
                        "Unknown"
                    }
                    .into(),
                    bfd: String::new(),
                    ..Default::default()
                },
            };
            let name = object_name(&[node, &n.peer]);
            let mut obj = BGPSession::new(
                &name,
                BGPSessionSpec {
                    node: node.into(),
                    peer: n.peer.clone(),
                    peer_address: address,
                    vrf: router.vrf.clone(),
                },
            );
            obj.metadata = meta(
                name,
                namespace,
                &[(NODE_LABEL, node), (PEER_LABEL, &n.peer)],
            );
            obj.status = Some(status);
            sessions.push(obj);
        }
    }
    sessions.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));

    let node_obj = apply.map(|a| {
        let name = object_name(&[node]);
        let mut obj = SpeakerNode::new(&name, SpeakerNodeSpec { node: node.into() });
        obj.metadata = meta(name, namespace, &[(NODE_LABEL, node)]);
        obj.status = Some(SpeakerNodeStatus {
            config_hash: a.config_hash.chars().take(12).collect(),
            generation: a.generation,
            apply_result: if a.ok { "Success" } else { "Failed" }.into(),
            apply_message: a.message.clone(),
            apply_duration: format!("{}ms", a.duration_ms),
            commands_sent: a.commands_sent,
            frr_version: frr.map(|f| f.version.clone()).unwrap_or_default(),
            validation_error_count: findings.errors.len() as u64,
            validation_errors: findings.errors.iter().map(|e| e.to_string()).collect(),
            validation_warnings: findings.warnings.iter().map(|e| e.to_string()).collect(),
            left_out: findings.left_out.iter().map(|l| l.to_string()).collect(),
            extras_refused: a.refused_extras.clone(),
            observed_at: None,
        });
        obj
    });
    StatusObjects {
        sessions,
        announcements,
        node: node_obj,
    }
}

/// One ServiceAnnouncement per Service the node announces or withholds, sorted by name.
pub fn announcements(namespace: &str, intent: &NodeIntent) -> Vec<ServiceAnnouncement> {
    let node = intent.node.as_str();
    let mut announcements = Vec::new();
    for (svc, ann) in announcements_by_service(intent) {
        let name = object_name(&[&svc.namespace, &svc.name, node]);
        let state = if ann.prefixes.is_empty() {
            "Withdrawn"
        } else {
            "Announced"
        };
        let reason = if ann.reasons.is_empty() {
            None
        } else {
            Some(ann.reasons.into_iter().collect::<Vec<_>>().join("; "))
        };
        let mut obj = ServiceAnnouncement::new(
            &name,
            ServiceAnnouncementSpec {
                service: svc.to_string(),
                node: node.into(),
            },
        );
        obj.metadata = meta(
            name,
            namespace,
            &[
                (NODE_LABEL, node),
                (SERVICE_NAMESPACE_LABEL, &svc.namespace),
                (SERVICE_NAME_LABEL, &svc.name),
            ],
        );
        obj.status = Some(ServiceAnnouncementStatus {
            state: state.into(),
            prefixes: ann.prefixes.into_iter().collect(),
            peers: ann.peers.into_iter().collect(),
            reason,
        });
        announcements.push(obj);
    }
    announcements.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    announcements
}

#[derive(Default)]
struct Ann {
    prefixes: BTreeSet<String>,
    peers: BTreeSet<String>,
    reasons: BTreeSet<String>,
}

fn announcements_by_service(intent: &NodeIntent) -> BTreeMap<ServiceKey, Ann> {
    let mut out: BTreeMap<ServiceKey, Ann> = BTreeMap::new();
    for router in &intent.routers {
        for n in &router.neighbors {
            for a in &n.announcements {
                for svc in &a.services {
                    let e = out.entry(svc.clone()).or_default();
                    e.prefixes.insert(a.prefix.to_string());
                    e.peers.insert(n.peer.clone());
                }
            }
        }
    }
    for w in &intent.withheld {
        let e = out.entry(w.service.clone()).or_default();
        let reason = match &w.peer {
            Some(p) => format!("{} to {p}: {}", w.prefix, w.reason),
            None => format!("{}: {}", w.prefix, w.reason),
        };
        e.reasons.insert(reason);
    }
    out
}
