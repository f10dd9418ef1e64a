use super::condition::MetallbStatus;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// Named BGP communities that advertisements may refer to by name.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "metallb.io",
    version = "v1beta1",
    kind = "Community",
    derive = "PartialEq",
    namespaced,
    status = "MetallbStatus",
    printcolumn = r#"{"name":"Valid","type":"string","jsonPath":".status.conditions[?(@.type==\"Valid\")].status"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct CommunitySpec {
    #[serde(default)]
    pub communities: Vec<CommunityAlias>,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct CommunityAlias {
    /// The alias advertisements use.
    #[schemars(length(min = 1))]
    pub name: String,
    /// `AA:NN` or `large:AA:BB:CC`.
    #[schemars(length(min = 1))]
    pub value: String,
}
