//! MetalLB's kinds read untyped from the API and typed one object at a time: a spec-less
//! object (valid per the CRD) reads as all defaults, and one that does not fit ferrule's
//! types costs only itself, where a typed watcher would fail the whole list.

use kube::api::{ApiResource, DynamicObject};
use kube::runtime::reflector::{self, Store};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;

/// `Api` for a metallb.io kind, untyped.
pub fn api<K: Resource<DynamicType = ()>>(client: &Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &ApiResource::erase::<K>(&()))
}

/// A reflector store for a metallb.io kind, untyped.
pub fn store<K: Resource<DynamicType = ()>>() -> (
    Store<DynamicObject>,
    reflector::store::Writer<DynamicObject>,
) {
    let writer = reflector::store::Writer::new(ApiResource::erase::<K>(&()));
    (writer.as_reader(), writer)
}

/// An object that does not fit its type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unfit {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
    pub resource_version: String,
    pub error: String,
}

/// The store's objects as `K`, and those that do not fit.
pub fn typed<K: DeserializeOwned + Resource<DynamicType = ()>>(
    store: &Store<DynamicObject>,
) -> (Vec<K>, Vec<Unfit>) {
    let mut ok = Vec::new();
    let mut unfit = Vec::new();
    for obj in store.state() {
        let result = serde_json::to_value(&*obj).and_then(|value| from_api_object::<K>(value));
        match result {
            Ok(k) => ok.push(k),
            Err(e) => unfit.push(Unfit {
                kind: match K::kind(&()) {
                    std::borrow::Cow::Borrowed(s) => s,
                    std::borrow::Cow::Owned(_) => "object",
                },
                namespace: obj.namespace().unwrap_or_default(),
                name: obj.name_any(),
                resource_version: obj.resource_version().unwrap_or_default(),
                error: e.to_string(),
            }),
        }
    }
    (ok, unfit)
}

/// A `metallb.io` object as the API server returns it, typed. MetalLB's docs create some of
/// them with no `spec` at all ("every default"), which the generated types do not accept,
/// so an absent spec is read as an empty one; anything else that does not fit the type is
/// an error for that one object (never for the whole list).
pub fn from_api_object<K: serde::de::DeserializeOwned>(
    mut value: serde_json::Value,
) -> Result<K, serde_json::Error> {
    if let Some(map) = value.as_object_mut() {
        map.entry("spec")
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
    }
    serde_json::from_value(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{BGPAdvertisement, BGPAdvertisementSpec, IPAddressPool};

    #[test]
    fn an_api_object_without_spec_reads_as_defaults() {
        let adv: BGPAdvertisement = from_api_object(serde_json::json!({
            "apiVersion": "metallb.io/v1beta1",
            "kind": "BGPAdvertisement",
            "metadata": { "name": "all", "namespace": "metallb-system" },
        }))
        .unwrap();
        assert_eq!(adv.spec, BGPAdvertisementSpec::default());
        let bad = from_api_object::<IPAddressPool>(serde_json::json!({
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": { "name": "p" },
            "spec": { "addresses": "not-a-list" },
        }));
        assert!(bad.is_err());
    }
}
