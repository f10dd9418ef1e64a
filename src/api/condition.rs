//! The status ferrule writes on MetalLB's own objects.

/// What ferrule writes in the status of MetalLB's objects: a `Valid` condition saying
/// whether the object is used, and if not, which field is wrong (only the leading
/// controller writes it).
#[derive(
    serde::Serialize, serde::Deserialize, schemars::JsonSchema, Clone, Debug, Default, PartialEq,
)]
pub struct MetallbStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
}
