//! The baseline every validation test mutates, and the table runner that checks exactly
//! which objects are reported and left out.

pub use std::collections::BTreeSet;

pub use ipnet::IpNet;
pub use k8s_openapi::api::core::v1::Secret;
pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
pub use kube::Resource;

pub use super::{validate, Validated};
pub use crate::api;
pub use crate::core::model::*;
pub use crate::core::snapshot::Snapshot;
use crate::input::manifests;

pub const NS: &str = "metallb-system";

/// A valid configuration touching every rule: two pools (one with a range and IPv6),
/// two peers (one v1beta2 with a Secret), a BFD profile, Community aliases and two
/// advertisements, on two nodes.
pub const BASELINE: &str = r#"
apiVersion: v1
kind: Node
metadata: {name: node-a, labels: {rack: r1, zone: z1}}
---
apiVersion: v1
kind: Node
metadata: {name: node-b, labels: {rack: r2}}
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: fast}
spec: {receiveInterval: 300, transmitInterval: 300, detectMultiplier: 3}
---
apiVersion: metallb.io/v1beta1
kind: Community
metadata: {name: aliases}
spec:
  communities:
  - {name: gold, value: "65000:1"}
  - {name: big, value: "large:1:2:3"}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool-a, labels: {tier: a}}
spec:
  addresses: [203.0.113.0/25]
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool-b, labels: {tier: b}}
spec:
  addresses: [203.0.113.128-203.0.113.200, "2001:db8::/64"]
  autoAssign: false
  serviceAllocation:
    priority: 1
    namespaces: [web]
    serviceSelectors: [{matchExpressions: [{key: app, operator: In, values: [web]}]}]
---
apiVersion: v1
kind: Secret
metadata: {name: peer-pw, namespace: metallb-system}
type: kubernetes.io/basic-auth
stringData: {username: x, password: "s3cret-value"}
---
apiVersion: metallb.io/v1beta1
kind: BGPPeer
metadata: {name: peer-a}
spec:
  myASN: 65100
  peerASN: 65000
  peerAddress: 198.51.100.1
  holdTime: 90s
  bfdProfile: fast
  nodeSelectors: [{matchLabels: {rack: r1}}]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer-b}
spec:
  myASN: 65100
  peerASN: 65001
  peerAddress: 198.51.100.2
  keepaliveTime: 10s
  passwordSecret: {name: peer-pw}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv-a}
spec:
  ipAddressPools: [pool-a]
  communities: [gold, "65000:100"]
  localPref: 100
  peers: [peer-a]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv-b}
spec:
  ipAddressPoolSelectors: [{matchLabels: {tier: b}}]
  nodeSelectors: [{matchLabels: {zone: z1}}]
"#;

pub fn add(s: &mut Snapshot, yaml: &str) {
    let d = manifests::parse_str(yaml, "test", s);
    assert!(d.errors.is_empty(), "{:?}", d.errors);
}

pub fn baseline() -> Snapshot {
    let mut s = Snapshot {
        namespace: NS.into(),
        ..Snapshot::default()
    };
    add(&mut s, BASELINE);
    s
}

pub fn find<'a, K: Resource>(list: &'a mut [K], name: &str) -> &'a mut K {
    list.iter_mut()
        .find(|o| o.meta().name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("{name} not in baseline"))
}

pub fn pool_spec<'a>(s: &'a mut Snapshot, n: &str) -> &'a mut api::IPAddressPoolSpec {
    &mut find(&mut s.pools, n).spec
}

pub fn peer_spec<'a>(s: &'a mut Snapshot, n: &str) -> &'a mut api::BGPPeerSpec {
    &mut find(&mut s.peers, n).spec
}

pub fn adv_spec<'a>(s: &'a mut Snapshot, n: &str) -> &'a mut api::BGPAdvertisementSpec {
    &mut find(&mut s.advertisements, n).spec
}

pub fn bfd_spec(s: &mut Snapshot) -> &mut api::BFDProfileSpec {
    &mut find(&mut s.bfd_profiles, "fast").spec
}

pub fn aliases(s: &mut Snapshot) -> &mut Vec<api::CommunityAlias> {
    &mut find(&mut s.communities, "aliases").spec.communities
}

pub fn secret(s: &mut Snapshot) -> &mut Secret {
    find(&mut s.secrets, "peer-pw")
}

pub fn sel(yaml: &str) -> LabelSelector {
    serde_yaml::from_str(yaml).unwrap()
}

pub fn some(v: &str) -> Option<String> {
    Some(v.into())
}

/// (kind, name) of every object in the config, for "the others survive".
pub fn present(c: &Config) -> BTreeSet<(&'static str, String)> {
    let mut out = BTreeSet::new();
    out.extend(c.pools.keys().map(|n| ("IPAddressPool", n.clone())));
    out.extend(c.peers.keys().map(|n| ("BGPPeer", n.clone())));
    out.extend(c.bfd_profiles.keys().map(|n| ("BFDProfile", n.clone())));
    out.extend(
        c.advertisements
            .keys()
            .map(|n| ("BGPAdvertisement", n.clone())),
    );
    out
}

pub type Expect = (&'static str, &'static str, &'static str, &'static str);

pub struct Row {
    pub name: &'static str,
    pub mutate: fn(&mut Snapshot),
    /// (kind, object name, field, message substring); empty = still valid.
    pub errors: &'static [Expect],
}

/// Applies each mutation to the baseline and checks that exactly the expected objects
/// are reported, at the expected fields, that they are left out of the config, and that
/// every other baseline object survives.
pub fn run(rows: &[Row]) {
    let base = validate(&baseline());
    assert_eq!(base.errors, vec![], "baseline must be valid");
    let base_objects = present(&base.config);
    assert_eq!(base_objects.len(), 7);
    for row in rows {
        let mut s = baseline();
        (row.mutate)(&mut s);
        let v = validate(&s);
        let shown: Vec<String> = v.errors.iter().map(ToString::to_string).collect();
        for (kind, name, field, want) in row.errors {
            assert!(
                v.errors
                    .iter()
                    .any(|e| e.object == ObjectRef::new(kind, NS, name)
                        && e.field == *field
                        && e.message.contains(want)),
                "{}: expected {kind} {name} {field}: ..{want}.., got {shown:#?}",
                row.name
            );
        }
        for e in &v.errors {
            assert!(
                row.errors.iter().any(|(k, n, f, _)| e.object.kind == *k
                    && e.object.name == *n
                    && e.field == *f),
                "{}: unexpected error {e}",
                row.name
            );
        }
        let reported: BTreeSet<(String, String)> = v
            .errors
            .iter()
            .map(|e| (e.object.kind.clone(), e.object.name.clone()))
            .collect();
        let expected: BTreeSet<(String, String)> = row
            .errors
            .iter()
            .map(|(k, n, _, _)| (k.to_string(), n.to_string()))
            .collect();
        assert_eq!(
            reported, expected,
            "{}: reported objects; got {shown:#?}",
            row.name
        );
        let now = present(&v.config);
        for (kind, name) in &base_objects {
            let failed = expected.contains(&(kind.to_string(), name.clone()));
            assert_eq!(
                now.contains(&(*kind, name.clone())),
                !failed,
                "{}: {kind} {name} should {}be in the config",
                row.name,
                if failed { "not " } else { "" }
            );
        }
        for (kind, name) in &now {
            assert!(
                !expected.contains(&(kind.to_string(), name.clone())),
                "{}: invalid {kind} {name} is in the config",
                row.name
            );
        }
        assert!(
            v.errors.windows(2).all(|w| w[0] < w[1]),
            "{}: errors sorted",
            row.name
        );
    }
}

/// What breaks when peer-a is left out.
pub const PEER_A_DEPENDENTS: Expect = (
    "BGPAdvertisement",
    "adv-a",
    "spec.peers[0]",
    "BGPPeer peer-a is invalid",
);

/// What breaks when the BFD profile is left out.
pub const BFD_DEPENDENTS: [Expect; 2] = [
    (
        "BGPPeer",
        "peer-a",
        "spec.bfdProfile",
        "BFDProfile fast is invalid",
    ),
    PEER_A_DEPENDENTS,
];
