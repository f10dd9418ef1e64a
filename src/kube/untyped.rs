//! MetalLB's kinds read untyped from the API and typed one object at a time: a spec-less
//! object (valid per the CRD) reads as all defaults, and one that does not fit ferrule's
//! types costs only itself, where a typed watcher would fail the whole list.

use std::collections::{BTreeMap, BTreeSet};

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

/// The last version of each object that fitted its type, by (kind, namespace, name), with
/// its uid: an object edited into a shape ferrule cannot read keeps meaning what it meant,
/// as a file caught half-written keeps its last good content in file mode.
pub type LastFit = BTreeMap<(String, String, String), (Option<String>, serde_json::Value)>;

/// The store's objects as `K`, and those that do not fit. An object that does not fit but
/// did before (same uid) is read as its last version that did, and said so in its error.
pub fn typed<K: DeserializeOwned + Resource<DynamicType = ()>>(
    store: &Store<DynamicObject>,
    last_fit: &mut LastFit,
) -> (Vec<K>, Vec<Unfit>) {
    let kind = match K::kind(&()) {
        std::borrow::Cow::Borrowed(s) => s,
        std::borrow::Cow::Owned(_) => "object",
    };
    let mut ok = Vec::new();
    let mut unfit = Vec::new();
    let mut present = BTreeSet::new();
    for obj in store.state() {
        let key = (
            kind.to_string(),
            obj.namespace().unwrap_or_default(),
            obj.name_any(),
        );
        present.insert(key.clone());
        // (A DynamicObject always serializes; null would just not fit.)
        let value = serde_json::to_value(&*obj).unwrap_or_default();
        match from_api_object::<K>(value.clone()) {
            Ok(k) => {
                last_fit.insert(key, (obj.uid(), value));
                ok.push(k);
            }
            Err(e) => {
                let kept = last_fit
                    .get(&key)
                    .filter(|(uid, _)| *uid == obj.uid())
                    .and_then(|(_, v)| from_api_object::<K>(v.clone()).ok());
                let mut error = e.to_string();
                if let Some(mut k) = kept {
                    // Today's metadata (resourceVersion, labels), the spec that last fitted.
                    *k.meta_mut() = obj.metadata.clone();
                    error.push_str("; its last version that fitted is used until it is fixed");
                    ok.push(k);
                }
                unfit.push(Unfit {
                    kind,
                    namespace: key.1,
                    name: key.2,
                    resource_version: obj.resource_version().unwrap_or_default(),
                    error,
                });
            }
        }
    }
    last_fit.retain(|k, _| k.0 != kind || present.contains(k));
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

    /// A pool edited into a shape ferrule cannot read keeps its last version that fitted
    /// (its Services keep their addresses and routes); deleted and re-created, it does not.
    #[test]
    fn an_object_that_stops_fitting_keeps_its_last_fitting_version() {
        let (store, mut writer) = store::<IPAddressPool>();
        let object = |uid: &str, addresses: serde_json::Value| -> DynamicObject {
            let rv = if addresses.is_array() { "1" } else { "2" };
            serde_json::from_value(serde_json::json!({
                "apiVersion": "metallb.io/v1beta1",
                "kind": "IPAddressPool",
                "metadata": { "name": "p", "namespace": "ns", "uid": uid, "resourceVersion": rv },
                "spec": { "addresses": addresses },
            }))
            .unwrap()
        };
        let mut last = LastFit::new();
        writer.apply_watcher_event(&kube::runtime::watcher::Event::Apply(object(
            "u1",
            serde_json::json!(["203.0.113.0/24"]),
        )));
        let (ok, unfit) = typed::<IPAddressPool>(&store, &mut last);
        assert_eq!((ok.len(), unfit.len()), (1, 0));
        writer.apply_watcher_event(&kube::runtime::watcher::Event::Apply(object(
            "u1",
            serde_json::json!("not-a-list"),
        )));
        let (ok, unfit) = typed::<IPAddressPool>(&store, &mut last);
        assert_eq!(ok.len(), 1, "the last fitting version stays");
        assert_eq!(ok[0].spec.addresses, ["203.0.113.0/24"]);
        // With today's metadata: a view that looks older than our own writes would stall
        // the controller.
        assert_eq!(ok[0].metadata.resource_version.as_deref(), Some("2"));
        assert!(
            unfit[0].error.contains("last version that fitted"),
            "{}",
            unfit[0].error
        );
        // Another object under the same name (re-created): nothing to keep.
        writer.apply_watcher_event(&kube::runtime::watcher::Event::Apply(object(
            "u2",
            serde_json::json!("not-a-list"),
        )));
        let (ok, unfit) = typed::<IPAddressPool>(&store, &mut last);
        assert!(ok.is_empty());
        assert!(
            !unfit[0].error.contains("last version"),
            "{}",
            unfit[0].error
        );
    }
}
