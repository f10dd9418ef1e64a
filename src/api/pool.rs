use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// A set of addresses LoadBalancer Services may get.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "metallb.io",
    version = "v1beta1",
    kind = "IPAddressPool",
    derive = "PartialEq",
    namespaced,
    status = "IPAddressPoolStatus",
    printcolumn = r#"{"name":"Valid","type":"string","jsonPath":".status.conditions[?(@.type==\"Valid\")].status"}"#,
    shortname = "ippool",
    printcolumn = r#"{"name":"Auto Assign","type":"boolean","jsonPath":".spec.autoAssign"}"#,
    printcolumn = r#"{"name":"Avoid Buggy IPs","type":"boolean","jsonPath":".spec.avoidBuggyIPs"}"#,
    printcolumn = r#"{"name":"Addresses","type":"string","jsonPath":".spec.addresses"}"#,
    printcolumn = r#"{"name":"Assigned IPv4","type":"integer","jsonPath":".status.assignedIPv4"}"#,
    printcolumn = r#"{"name":"Available IPv4","type":"integer","jsonPath":".status.availableIPv4"}"#,
    printcolumn = r#"{"name":"Assigned IPv6","type":"integer","jsonPath":".status.assignedIPv6","priority":1}"#,
    printcolumn = r#"{"name":"Available IPv6","type":"integer","jsonPath":".status.availableIPv6","priority":1}"#
)]
#[serde(rename_all = "camelCase")]
pub struct IPAddressPoolSpec {
    /// CIDRs (`203.0.113.0/24`, `2001:db8::/64`) or inclusive ranges (`203.0.113.10-203.0.113.20`).
    #[x_kube(validation = Rule::new("self.all(a, a.size() > 0)").message("addresses must not be empty strings"))]
    #[schemars(length(min = 1))]
    pub addresses: Vec<String>,
    /// Whether Services that name no pool may get addresses from this one (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_assign: Option<bool>,
    /// Never hand out the .0 and .255 addresses of any /24 (some old equipment drops them).
    #[serde(
        default,
        rename = "avoidBuggyIPs",
        skip_serializing_if = "Option::is_none"
    )]
    pub avoid_buggy_ips: Option<bool>,
    /// Which Services this pool serves, and before which other pools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_allocation: Option<ServiceAllocation>,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAllocation {
    /// Lower numbers are tried first; pools without a priority come last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub priority: Option<i32>,
    /// Namespaces whose Services may use this pool.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Label selectors on namespaces whose Services may use this pool.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespace_selectors: Vec<LabelSelector>,
    /// Label selectors on Services that may use this pool.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_selectors: Vec<LabelSelector>,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IPAddressPoolStatus {
    #[serde(default, rename = "assignedIPv4")]
    pub assigned_ipv4: u64,
    #[serde(default, rename = "assignedIPv6")]
    pub assigned_ipv6: u64,
    #[serde(default, rename = "availableIPv4")]
    pub available_ipv4: u64,
    #[serde(default, rename = "availableIPv6")]
    pub available_ipv6: u64,
    /// `Valid`: whether ferrule accepts the pool (written by the leading controller).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
}
