//! ferrule's own status objects (group `ferrule.io`): small, one per thing a user asks about,
//! so every node writes only its own objects and `kubectl get` answers "is my session up, is
//! BFD up, who announces my Service" with printer columns.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Label naming the node an object belongs to (so a speaker lists only its own).
pub const NODE_LABEL: &str = "ferrule.io/node";
pub const PEER_LABEL: &str = "ferrule.io/peer";
pub const SERVICE_NAMESPACE_LABEL: &str = "ferrule.io/service-namespace";
pub const SERVICE_NAME_LABEL: &str = "ferrule.io/service-name";

/// One BGP session of one node with one BGPPeer.
#[derive(CustomResource, JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "ferrule.io",
    version = "v1alpha1",
    kind = "BGPSession",
    derive = "PartialEq",
    namespaced,
    status = "BGPSessionStatus",
    shortname = "bgps",
    printcolumn = r#"{"name":"Node","type":"string","jsonPath":".spec.node"}"#,
    printcolumn = r#"{"name":"Peer","type":"string","jsonPath":".spec.peer"}"#,
    printcolumn = r#"{"name":"Address","type":"string","jsonPath":".spec.peerAddress"}"#,
    printcolumn = r#"{"name":"BGP","type":"string","jsonPath":".status.bgp"}"#,
    printcolumn = r#"{"name":"BFD","type":"string","jsonPath":".status.bfd"}"#,
    printcolumn = r#"{"name":"Sent","type":"integer","jsonPath":".status.prefixesSent"}"#,
    printcolumn = r#"{"name":"Recv","type":"integer","jsonPath":".status.prefixesReceived"}"#,
    printcolumn = r#"{"name":"Up","type":"date","jsonPath":".status.establishedSince"}"#,
    printcolumn = r#"{"name":"Reported","type":"date","jsonPath":".status.observedAt"}"#,
    printcolumn = r#"{"name":"Error","type":"string","jsonPath":".status.lastError","priority":1}"#
)]
#[serde(rename_all = "camelCase")]
pub struct BGPSessionSpec {
    pub node: String,
    pub peer: String,
    pub peer_address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrf: Option<String>,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BGPSessionStatus {
    /// FRR's state: Idle, Connect, Active, OpenSent, OpenConfirm, Established.
    #[serde(default)]
    pub bgp: String,
    /// up, down, init, adminDown, or empty when the peer has no BFD profile.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bfd: String,
    #[serde(default)]
    pub prefixes_sent: u64,
    #[serde(default)]
    pub prefixes_received: u64,
    /// When the session last became Established (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub established_since: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the speaker last confirmed this state (RFC 3339), refreshed at least every
    /// heartbeat: an old time means the speaker stopped reporting, whatever the state says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<String>,
}

/// Whether one node announces one Service, to whom, and why not.
#[derive(CustomResource, JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "ferrule.io",
    version = "v1alpha1",
    kind = "ServiceAnnouncement",
    derive = "PartialEq",
    namespaced,
    status = "ServiceAnnouncementStatus",
    shortname = "svcann",
    printcolumn = r#"{"name":"Service","type":"string","jsonPath":".spec.service"}"#,
    printcolumn = r#"{"name":"Node","type":"string","jsonPath":".spec.node"}"#,
    printcolumn = r#"{"name":"State","type":"string","jsonPath":".status.state"}"#,
    printcolumn = r#"{"name":"Prefixes","type":"string","jsonPath":".status.prefixes"}"#,
    printcolumn = r#"{"name":"Peers","type":"string","jsonPath":".status.peers"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.reason"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAnnouncementSpec {
    /// `namespace/name` of the Service.
    pub service: String,
    pub node: String,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAnnouncementStatus {
    /// Announced or Withdrawn.
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub prefixes: Vec<String>,
    /// BGPPeer names the prefixes go to.
    #[serde(default)]
    pub peers: Vec<String>,
    /// Why not (or not to every peer), when withdrawn or partial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The speaker on one node: what it applied to FRR, how that went.
#[derive(CustomResource, JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "ferrule.io",
    version = "v1alpha1",
    kind = "SpeakerNode",
    derive = "PartialEq",
    namespaced,
    status = "SpeakerNodeStatus",
    shortname = "spn",
    printcolumn = r#"{"name":"Node","type":"string","jsonPath":".spec.node"}"#,
    printcolumn = r#"{"name":"Apply","type":"string","jsonPath":".status.applyResult"}"#,
    printcolumn = r#"{"name":"Config","type":"string","jsonPath":".status.configHash"}"#,
    printcolumn = r#"{"name":"Generation","type":"integer","jsonPath":".status.generation"}"#,
    printcolumn = r#"{"name":"Duration","type":"string","jsonPath":".status.applyDuration"}"#,
    printcolumn = r#"{"name":"FRR","type":"string","jsonPath":".status.frrVersion"}"#,
    printcolumn = r#"{"name":"Errors","type":"integer","jsonPath":".status.validationErrorCount"}"#,
    printcolumn = r#"{"name":"Reported","type":"date","jsonPath":".status.observedAt"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct SpeakerNodeSpec {
    pub node: String,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SpeakerNodeStatus {
    /// Short sha256 of the config last applied successfully.
    #[serde(default)]
    pub config_hash: String,
    /// Counts successful applies since the speaker started.
    #[serde(default)]
    pub generation: u64,
    /// Success or Failed.
    #[serde(default)]
    pub apply_result: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply_message: Option<String>,
    /// e.g. `12ms`.
    #[serde(default)]
    pub apply_duration: String,
    #[serde(default)]
    pub commands_sent: u64,
    #[serde(default)]
    pub frr_version: String,
    #[serde(default)]
    pub validation_error_count: u64,
    /// Validation errors of objects that affect this node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validation_errors: Vec<String>,
    /// What objects are used despite (skipped references, defaults used, kept passwords).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validation_warnings: Vec<String>,
    /// Objects (or parts) FRR would not take, left out of this node's config so the rest of
    /// it applies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left_out: Vec<String>,
    /// Lines of MetalLB's `bgpextras` FRR refused, with its words; the rest applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extras_refused: Vec<String>,
    /// When the speaker last reported (RFC 3339), refreshed at least every heartbeat: the
    /// `Reported` column's age says how long ago a speaker stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<String>,
}
