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
        let result =
            serde_json::to_value(&*obj).and_then(|value| super::from_api_object::<K>(value));
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
