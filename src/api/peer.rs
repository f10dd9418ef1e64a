//! BGPPeer in both served versions. v1beta2 is a superset of v1beta1, so the core works on
//! the v1beta2 shape and v1beta1 objects convert into it losslessly.

pub use v1beta2::{BGPPeer, BGPPeerSpec, DynamicAsn, SecretRef};

pub mod v1beta1 {
    use crate::api::condition::MetallbStatus;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
    use kube::{CustomResource, KubeSchema};
    use serde::{Deserialize, Serialize};

    /// A BGP router each selected node peers with (the seed's form).
    #[derive(
        CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq,
    )]
    #[kube(
        group = "metallb.io",
        version = "v1beta1",
        kind = "BGPPeer",
        derive = "PartialEq",
        namespaced,
        status = "MetallbStatus",
        printcolumn = r#"{"name":"Valid","type":"string","jsonPath":".status.conditions[?(@.type==\"Valid\")].status"}"#,
        printcolumn = r#"{"name":"Address","type":"string","jsonPath":".spec.peerAddress"}"#,
        printcolumn = r#"{"name":"ASN","type":"integer","jsonPath":".spec.peerASN"}"#,
        printcolumn = r#"{"name":"BFD Profile","type":"string","jsonPath":".spec.bfdProfile"}"#,
        printcolumn = r#"{"name":"Multi Hops","type":"boolean","jsonPath":".spec.ebgpMultiHop"}"#
    )]
    #[serde(rename_all = "camelCase")]
    pub struct BGPPeerSpec {
        #[serde(rename = "myASN")]
        #[schemars(range(min = 1))]
        pub my_asn: u32,
        #[serde(rename = "peerASN")]
        #[schemars(range(min = 1))]
        pub peer_asn: u32,
        #[schemars(length(min = 1))]
        pub peer_address: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub source_address: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(range(min = 1, max = 65535))]
        pub peer_port: Option<u16>,
        /// Go duration, e.g. `90s`; 0 or at least 3 s.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub hold_time: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub keepalive_time: Option<String>,
        #[serde(default, rename = "routerID", skip_serializing_if = "Option::is_none")]
        pub router_id: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub node_selectors: Vec<LabelSelector>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub password: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub bfd_profile: Option<String>,
        #[serde(
            default,
            rename = "ebgpMultiHop",
            skip_serializing_if = "Option::is_none"
        )]
        pub ebgp_multi_hop: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub vrf: Option<String>,
    }

    impl From<BGPPeerSpec> for super::v1beta2::BGPPeerSpec {
        fn from(s: BGPPeerSpec) -> Self {
            super::v1beta2::BGPPeerSpec {
                my_asn: s.my_asn,
                peer_asn: Some(s.peer_asn),
                peer_address: Some(s.peer_address),
                source_address: s.source_address,
                peer_port: s.peer_port,
                hold_time: s.hold_time,
                keepalive_time: s.keepalive_time,
                router_id: s.router_id,
                node_selectors: s.node_selectors,
                password: s.password,
                bfd_profile: s.bfd_profile,
                ebgp_multi_hop: s.ebgp_multi_hop,
                vrf: s.vrf,
                ..Default::default()
            }
        }
    }
}

pub mod v1beta2 {
    use crate::api::condition::MetallbStatus;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
    use kube::{CustomResource, KubeSchema};
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    /// A BGP router each selected node peers with (storage version).
    #[derive(
        CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq,
    )]
    #[kube(
        group = "metallb.io",
        version = "v1beta2",
        kind = "BGPPeer",
        derive = "PartialEq",
        namespaced,
        status = "MetallbStatus",
        printcolumn = r#"{"name":"Valid","type":"string","jsonPath":".status.conditions[?(@.type==\"Valid\")].status"}"#,
        printcolumn = r#"{"name":"Address","type":"string","jsonPath":".spec.peerAddress"}"#,
        printcolumn = r#"{"name":"ASN","type":"integer","jsonPath":".spec.peerASN"}"#,
        printcolumn = r#"{"name":"BFD Profile","type":"string","jsonPath":".spec.bfdProfile"}"#,
        printcolumn = r#"{"name":"Multi Hops","type":"boolean","jsonPath":".spec.ebgpMultiHop"}"#
    )]
    #[x_kube(validation = Rule::new("has(self.peerAddress) != has(self.interface)").message("exactly one of peerAddress and interface must be set"))]
    #[x_kube(validation = Rule::new("has(self.peerASN) != has(self.dynamicASN)").message("exactly one of peerASN and dynamicASN must be set"))]
    #[x_kube(validation = Rule::new("!(has(self.password) && has(self.passwordSecret))").message("password and passwordSecret are mutually exclusive"))]
    #[x_kube(validation = Rule::new("!has(self.holdTime) || duration(self.holdTime) == duration('0s') || duration(self.holdTime) >= duration('3s')").message("holdTime must be 0 or at least 3s"))]
    #[x_kube(validation = Rule::new("!has(self.holdTime) || !has(self.keepaliveTime) || duration(self.keepaliveTime) <= duration(self.holdTime)").message("keepaliveTime must not exceed holdTime"))]
    #[serde(rename_all = "camelCase")]
    pub struct BGPPeerSpec {
        /// The AS number this node speaks as.
        #[serde(rename = "myASN")]
        #[schemars(range(min = 1))]
        pub my_asn: u32,
        /// The peer's AS number; exclusive with dynamicASN.
        #[serde(default, rename = "peerASN", skip_serializing_if = "Option::is_none")]
        #[schemars(range(min = 1))]
        pub peer_asn: Option<u32>,
        /// Accept whatever AS the peer has, as long as it is internal (= myASN) or external.
        #[serde(
            default,
            rename = "dynamicASN",
            skip_serializing_if = "Option::is_none"
        )]
        pub dynamic_asn: Option<DynamicAsn>,
        /// The peer's address; exclusive with interface.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub peer_address: Option<String>,
        /// Peer over this interface with BGP unnumbered; exclusive with peerAddress.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub interface: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub source_address: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(range(min = 1, max = 65535))]
        pub peer_port: Option<u16>,
        /// Go duration, e.g. `90s`; 0 or at least 3 s.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub hold_time: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub keepalive_time: Option<String>,
        /// How long to wait between connection attempts (Go duration, 1 s .. 65535 s).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub connect_time: Option<String>,
        /// The AS this session presents to the peer instead of myASN (FRR's `local-as ...
        /// no-prepend replace-as`).
        #[serde(default, rename = "localASN", skip_serializing_if = "Option::is_none")]
        #[schemars(range(min = 1))]
        pub local_asn: Option<u32>,
        #[serde(default, rename = "routerID", skip_serializing_if = "Option::is_none")]
        pub router_id: Option<String>,
        /// Nodes that peer; empty means all nodes.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub node_selectors: Vec<LabelSelector>,
        /// Plain-text TCP MD5 password (prefer passwordSecret).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub password: Option<String>,
        /// A `kubernetes.io/basic-auth` Secret whose `password` key holds the password.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub password_secret: Option<SecretRef>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub bfd_profile: Option<String>,
        #[serde(
            default,
            rename = "ebgpMultiHop",
            skip_serializing_if = "Option::is_none"
        )]
        pub ebgp_multi_hop: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub vrf: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub enable_graceful_restart: Option<bool>,
        /// Announce IPv4 and IPv6 prefixes over this one session (MP-BGP).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub dual_stack_address_family: Option<bool>,
        /// Deprecated in MetalLB: the opposite of dualStackAddressFamily.
        #[serde(default, rename = "disableMP", skip_serializing_if = "Option::is_none")]
        pub disable_mp: Option<bool>,
    }

    #[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
    #[serde(rename_all = "lowercase")]
    pub enum DynamicAsn {
        Internal,
        External,
    }

    #[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
    pub struct SecretRef {
        pub name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub namespace: Option<String>,
    }
}
