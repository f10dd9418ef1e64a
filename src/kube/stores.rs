//! Watch stores turned into the core's [`Snapshot`], the one way both the speaker and the
//! controller do it. A kind a process does not watch stays empty in its snapshots.
//!
//! MetalLB's kinds are watched untyped and typed per object here: a spec-less object (valid
//! per the CRD) or one that does not fit ferrule's types then costs only itself, where a
//! typed watcher would fail the whole list.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::DynamicObject;
use kube::runtime::reflector::Store;
use kube::runtime::watcher;
use kube::Client;
use tracing::warn;

use super::reflect::{items, Watches};
use super::untyped::{self, Unfit};
use crate::api;
use crate::core::snapshot::{FirstSeen, Snapshot};

/// The stores one process reads.
#[derive(Clone, Default)]
pub struct Stores {
    pub pools: Option<Store<DynamicObject>>,
    pub peers: Option<Store<DynamicObject>>,
    pub advertisements: Option<Store<DynamicObject>>,
    pub bfd_profiles: Option<Store<DynamicObject>>,
    pub communities: Option<Store<DynamicObject>>,
    pub secrets: Option<Store<Secret>>,
    pub services: Option<Store<Service>>,
    pub endpoint_slices: Option<Store<EndpointSlice>>,
    pub nodes: Option<Store<Node>>,
    pub namespaces: Option<Store<Namespace>>,
    pub config_maps: Option<Store<ConfigMap>>,
    /// Only to tell their authors they are ignored (ferrule does not do L2 mode).
    pub l2_advertisements: Option<Store<DynamicObject>>,
    /// When this process first saw each object, shared by every snapshot built from these
    /// stores (the conflict tie-break after creationTimestamp).
    pub first_seen: Arc<Mutex<FirstSeen>>,
    /// The last version of each metallb.io object that fitted its type.
    pub last_fit: Arc<Mutex<untyped::LastFit>>,
}

/// A snapshot and the objects that were left out of it for not fitting their type.
pub struct Built {
    pub snapshot: Snapshot,
    pub unfit: Vec<Unfit>,
}

fn strip<K: kube::Resource>(obj: &mut K) {
    obj.meta_mut().managed_fields = None;
}

impl Stores {
    /// Adds watches of the five `metallb.io` kinds in `namespace`.
    pub fn watch_metallb(&mut self, watches: &mut Watches, client: &Client, namespace: &str) {
        self.pools =
            watch_untyped::<api::IPAddressPool>(watches, client, namespace, "IPAddressPool");
        self.peers = watch_untyped::<api::BGPPeer>(watches, client, namespace, "BGPPeer");
        self.advertisements =
            watch_untyped::<api::BGPAdvertisement>(watches, client, namespace, "BGPAdvertisement");
        self.bfd_profiles =
            watch_untyped::<api::BFDProfile>(watches, client, namespace, "BFDProfile");
        self.communities = watch_untyped::<api::Community>(watches, client, namespace, "Community");
    }

    /// The current content of every store, as the core reads it.
    pub fn snapshot(&self, namespace: &str) -> Built {
        fn typed<K>(
            store: &Option<Store<DynamicObject>>,
            last_fit: &mut untyped::LastFit,
            unfit: &mut Vec<Unfit>,
        ) -> Vec<K>
        where
            K: serde::de::DeserializeOwned + kube::Resource<DynamicType = ()>,
        {
            let Some(store) = store else {
                return Vec::new();
            };
            let (ok, mut bad) = untyped::typed(store, last_fit);
            unfit.append(&mut bad);
            ok
        }
        let mut unfit = Vec::new();
        let mut last = self.last_fit.lock().expect("last fitting versions");
        let pools = typed(&self.pools, &mut last, &mut unfit);
        let peers = typed(&self.peers, &mut last, &mut unfit);
        let advertisements = typed(&self.advertisements, &mut last, &mut unfit);
        let bfd_profiles = typed(&self.bfd_profiles, &mut last, &mut unfit);
        let communities = typed(&self.communities, &mut last, &mut unfit);
        drop(last);
        let snapshot = Snapshot {
            namespace: namespace.to_string(),
            pools,
            peers,
            advertisements,
            bfd_profiles,
            communities,
            secrets: self.secrets.as_ref().map(items).unwrap_or_default(),
            // The stores' own Arcs: no copy of the cluster per event.
            services: self.services.as_ref().map(Store::state).unwrap_or_default(),
            endpoint_slices: self
                .endpoint_slices
                .as_ref()
                .map(Store::state)
                .unwrap_or_default(),
            nodes: self.nodes.as_ref().map(items).unwrap_or_default(),
            namespaces: self.namespaces.as_ref().map(items).unwrap_or_default(),
            config_maps: self.config_maps.as_ref().map(items).unwrap_or_default(),
            first_seen: BTreeMap::new(),
            recorded: BTreeMap::new(),
        };
        let mut snapshot = snapshot;
        self.first_seen
            .lock()
            .expect("first-seen ranks")
            .rank(&mut snapshot);
        Built { snapshot, unfit }
    }
}

/// A watch of one `metallb.io` kind in `namespace`, untyped.
pub fn watch_untyped<K: kube::Resource<DynamicType = ()>>(
    watches: &mut Watches,
    client: &Client,
    namespace: &str,
    kind: &'static str,
) -> Option<Store<DynamicObject>> {
    let (_, writer) = untyped::store::<K>();
    Some(watches.add_with(
        kind,
        untyped::api::<K>(client, namespace),
        watcher::Config::default(),
        strip,
        writer,
    ))
}

/// Reports each object that does not fit its type once per resourceVersion, not on every
/// rebuild. Holds only what is unfit now: an object fixed or deleted is forgotten, so the
/// set never outgrows the objects that are broken at the moment.
#[derive(Default)]
pub struct UnfitLog(BTreeSet<String>);

impl UnfitLog {
    pub fn report(&mut self, unfit: &[Unfit]) {
        let mut now = BTreeSet::new();
        for u in unfit {
            let key = format!(
                "{} {}/{}@{}",
                u.kind, u.namespace, u.name, u.resource_version
            );
            if !self.0.contains(&key) {
                warn!(object = %key, error = %u.error, "left out: does not fit the metallb.io schema");
            }
            now.insert(key);
        }
        self.0 = now;
    }

    /// How many reports are remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.len()
    }
}

#[cfg(test)]
mod unfit_log_tests {
    use super::*;

    fn unfit(rv: u32) -> Unfit {
        Unfit {
            kind: "IPAddressPool",
            namespace: "metallb-system".into(),
            name: "p".into(),
            resource_version: rv.to_string(),
            error: "spec.addresses: invalid type".into(),
        }
    }

    #[test]
    fn the_log_holds_only_what_is_unfit_now() {
        let mut log = UnfitLog::default();
        // One object broken again and again (a controller fighting a user): one entry.
        for rv in 1..=1000 {
            log.report(&[unfit(rv)]);
            assert_eq!(log.len(), 1);
        }
        log.report(&[]);
        assert_eq!(log.len(), 0);
    }
}
