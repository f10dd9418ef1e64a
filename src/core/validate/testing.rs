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

/// Marks `name` of `kind` as seen after every other object (a newcomer), as a source
/// that saw the baseline first would.
pub fn newcomer(s: &mut Snapshot, kind: &str, name: &str) {
    for o in s.metallb_objects() {
        s.first_seen.insert(o, 0);
    }
    s.first_seen.insert(ObjectRef::new(kind, NS, name), 1);
}

/// Gives `name` of `kind` a creationTimestamp (seconds since the epoch).
pub fn created(list: &mut [impl Resource], name: &str, secs: i64) {
    let o = list
        .iter_mut()
        .find(|o| o.meta().name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("{name} not found"));
    o.meta_mut().creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        k8s_openapi::jiff::Timestamp::from_second(secs).unwrap(),
    ));
}

/// Validates with no address in use.
pub fn check(s: &Snapshot) -> Validated {
    validate(s, &BTreeSet::new())
}

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
    /// (kind, object name, field, message substring) of the problems that leave the object
    /// out; empty = still valid.
    pub errors: &'static [Expect],
    /// The same of the problems the object is used despite.
    pub warnings: &'static [Expect],
}

/// Applies each mutation to the baseline and checks that exactly the expected objects
/// are reported, at the expected fields, that they are left out of the config, and that
/// every other baseline object survives.
pub fn run(rows: &[Row]) {
    let mut failures = Vec::new();
    let base = check(&baseline());
    assert_eq!(base.errors, vec![], "baseline must be valid");
    assert_eq!(base.warnings, vec![], "baseline must be clean");
    let base_objects = present(&base.config);
    assert_eq!(base_objects.len(), 7);
    for row in rows {
        let outcome = std::panic::catch_unwind(|| run_row(row, &base_objects));
        if let Err(e) = outcome {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(msg);
        }
    }
    assert!(
        failures.is_empty(),
        "{} rows failed:\n{}",
        failures.len(),
        failures.join("\n---\n")
    );
}

fn run_row(row: &Row, base_objects: &BTreeSet<(&'static str, String)>) {
    {
        let mut s = baseline();
        (row.mutate)(&mut s);
        let v = check(&s);
        if std::env::var_os("DUMP_ROWS").is_some() {
            let show = |l: &[crate::core::snapshot::ValidationError]| {
                l.iter()
                    .map(|e| {
                        format!(
                            "({:?}, {:?}, {:?}, {:?})",
                            e.object.kind, e.object.name, e.field, e.message
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(",\n    ")
            };
            eprintln!(
                "ROW {:?}\n  errors: [{}]\n  warnings: [{}]",
                row.name,
                show(&v.errors),
                show(&v.warnings)
            );
        }
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
        let warned: Vec<String> = v.warnings.iter().map(ToString::to_string).collect();
        for (kind, name, field, want) in row.warnings {
            assert!(
                v.warnings
                    .iter()
                    .any(|e| e.object == ObjectRef::new(kind, NS, name)
                        && e.field == *field
                        && e.message.contains(want)),
                "{}: expected warning {kind} {name} {field}: ..{want}.., got {warned:#?}",
                row.name
            );
        }
        for e in &v.warnings {
            assert!(
                row.warnings.iter().any(|(k, n, f, _)| e.object.kind == *k
                    && e.object.name == *n
                    && e.field == *f),
                "{}: unexpected warning {e}",
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
        for (kind, name) in base_objects {
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

/// What peer-a being left out costs adv-a, which names it: a warning, nothing more.
pub const PEER_A_DEPENDENTS: Expect = (
    "BGPAdvertisement",
    "adv-a",
    "spec.peers[0]",
    "BGPPeer peer-a is invalid (see its own conditions); nothing is announced to it",
);

/// What the BFD profile being left out costs peer-a, which uses it: BFD on FRR's defaults.
pub const BFD_DEPENDENT: Expect = (
    "BGPPeer",
    "peer-a",
    "spec.bfdProfile",
    "BFDProfile fast is invalid (see its own conditions); BFD stays on with FRR's default timers",
);
