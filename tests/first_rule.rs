//! The first rule, end to end through the pure pipeline: a bad, conflicting or deleted
//! object costs only itself. Each case starts from a settled cluster (addresses assigned
//! and written to status, as the controller does), adds the bad object after the good
//! ones, or deletes one, and compares every node's routes and every Service's address.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ferrule::model::ServiceKey;
use ferrule::{compute, manifests, Addresses, Options, Snapshot};
use k8s_openapi::api::core::v1::{LoadBalancerIngress, LoadBalancerStatus, ServiceStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

const NS: &str = "metallb-system";

/// The article's cluster, grown a little: two pools, two ToRs with BFD and a password, an
/// advertisement naming both peers and a community alias, a second one for one rack only.
const CLUSTER: &str = r#"
apiVersion: v1
kind: Node
metadata: {name: node-21, labels: {rack: r1}}
---
apiVersion: v1
kind: Node
metadata: {name: node-22, labels: {rack: r1}}
---
apiVersion: v1
kind: Node
metadata: {name: node-23, labels: {rack: r2}}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: prod-pool}
spec: {addresses: [203.0.113.0/26]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: batch-pool}
spec: {addresses: [198.51.100.64/28], autoAssign: false}
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: tor-bfd}
spec: {receiveInterval: 300, transmitInterval: 300, detectMultiplier: 3}
---
apiVersion: v1
kind: Secret
metadata: {name: tor2-pw, namespace: metallb-system}
type: kubernetes.io/basic-auth
stringData: {password: s3cret}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor1}
spec: {myASN: 65100, peerASN: 65000, peerAddress: 192.0.2.1, bfdProfile: tor-bfd}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor2}
spec:
  myASN: 65100
  peerASN: 65000
  peerAddress: 192.0.2.2
  bfdProfile: tor-bfd
  passwordSecret: {name: tor2-pw}
---
apiVersion: metallb.io/v1beta1
kind: Community
metadata: {name: names}
spec:
  communities: [{name: vip, value: "65000:100"}]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: prod-adv}
spec:
  ipAddressPools: [prod-pool]
  peers: [tor1, tor2]
  communities: [vip]
  localPref: 100
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: batch-adv}
spec:
  ipAddressPools: [batch-pool]
  nodeSelectors: [{matchLabels: {rack: r1}}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector: {app: web}
  ports: [{port: 443}]
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: default}
spec:
  type: LoadBalancer
  selector: {app: api}
  ports: [{port: 80}]
---
apiVersion: v1
kind: Service
metadata:
  name: jobs
  namespace: default
  annotations: {metallb.io/address-pool: batch-pool}
spec:
  type: LoadBalancer
  selector: {app: jobs}
  ports: [{port: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints:
- {addresses: [198.51.100.10], conditions: {ready: true, serving: true}, nodeName: node-21}
- {addresses: [198.51.100.11], conditions: {ready: true, serving: true}, nodeName: node-22}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: api-1, namespace: default, labels: {kubernetes.io/service-name: api}}
addressType: IPv4
endpoints:
- {addresses: [198.51.100.12], conditions: {ready: true, serving: true}, nodeName: node-23}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: jobs-1, namespace: default, labels: {kubernetes.io/service-name: jobs}}
addressType: IPv4
endpoints:
- {addresses: [198.51.100.13], conditions: {ready: true, serving: true}, nodeName: node-22}
"#;

/// (node, peer, prefix, communities, localPref): every route every node announces.
type Route = (String, String, String, String, Option<u32>);

fn add(s: &mut Snapshot, yaml: &str) {
    let d = manifests::parse_str(yaml, "test", s);
    assert!(d.errors.is_empty(), "{:?}", d.errors);
}

/// Gives every metallb.io object without a creationTimestamp this one (seconds).
fn stamp_unstamped(s: &mut Snapshot, secs: i64) {
    fn stamp<K: kube::Resource>(list: &mut [K], secs: i64) {
        let t = Time(k8s_openapi::jiff::Timestamp::from_second(secs).unwrap());
        for o in list {
            o.meta_mut()
                .creation_timestamp
                .get_or_insert_with(|| t.clone());
        }
    }
    stamp(&mut s.pools, secs);
    stamp(&mut s.peers, secs);
    stamp(&mut s.advertisements, secs);
    stamp(&mut s.bfd_profiles, secs);
    stamp(&mut s.communities, secs);
}

/// The cluster, every object created at t = 1,000 s (what a test adds later gets 2,000 s),
/// with the controller's addresses written to the Services.
fn settled() -> Snapshot {
    let mut s = Snapshot {
        namespace: NS.into(),
        ..Snapshot::default()
    };
    add(&mut s, CLUSTER);
    stamp_unstamped(&mut s, 1_000);
    // The controller's pass: addresses allocated and written to status, the pool to its
    // annotation.
    let addresses = assignments(&s);
    assert_eq!(
        addresses.len(),
        3,
        "every Service has an address: {addresses:?}"
    );
    for svc in &mut s.services {
        let svc = std::sync::Arc::make_mut(svc);
        let key = ServiceKey::new(
            svc.metadata.namespace.as_deref().unwrap(),
            svc.metadata.name.as_deref().unwrap(),
        );
        svc.metadata.annotations.get_or_insert_default().insert(
            ferrule::POOL_ANNOTATION.into(),
            addresses[&key].pool.clone(),
        );
        svc.status = Some(ServiceStatus {
            load_balancer: Some(LoadBalancerStatus {
                ingress: Some(
                    addresses[&key]
                        .ips
                        .iter()
                        .map(|ip| LoadBalancerIngress {
                            ip: Some(ip.to_string()),
                            ..Default::default()
                        })
                        .collect(),
                ),
            }),
            ..Default::default()
        });
    }
    s
}

/// What the controller gives each Service.
fn addresses(s: &Snapshot) -> BTreeMap<ServiceKey, Vec<IpAddr>> {
    assignments(s)
        .into_iter()
        .map(|(k, a)| (k, a.ips))
        .collect()
}

fn assignments(s: &Snapshot) -> BTreeMap<ServiceKey, ferrule::model::Assignment> {
    let c = compute(
        s,
        &Options::default(),
        Addresses::Allocate,
        &BTreeMap::new(),
    );
    c.allocation
        .assigned
        .into_iter()
        .chain(c.allocation.held)
        .collect()
}

/// What the speakers announce, from the addresses in status.
fn routes(s: &Snapshot) -> BTreeSet<Route> {
    let c = compute(
        s,
        &Options::default(),
        Addresses::FromStatus,
        &BTreeMap::new(),
    );
    let mut out = BTreeSet::new();
    for (node, intent) in c.all_node_intents() {
        for r in &intent.routers {
            for n in &r.neighbors {
                for a in &n.announcements {
                    let communities: Vec<String> =
                        a.communities.iter().map(ToString::to_string).collect();
                    out.insert((
                        node.clone(),
                        n.peer.clone(),
                        a.prefix.to_string(),
                        communities.join(" "),
                        a.local_pref,
                    ));
                }
            }
        }
    }
    out
}

/// (node, peer, BFD on, password kept or set): every session every node runs.
fn sessions(s: &Snapshot) -> BTreeSet<(String, String, bool, bool)> {
    let c = compute(
        s,
        &Options::default(),
        Addresses::FromStatus,
        &BTreeMap::new(),
    );
    let mut out = BTreeSet::new();
    for (node, intent) in c.all_node_intents() {
        for r in &intent.routers {
            for n in &r.neighbors {
                out.insert((
                    node.clone(),
                    n.peer.clone(),
                    n.bfd || n.bfd_profile.is_some(),
                    n.password.is_some() || n.keep_password,
                ));
            }
        }
    }
    out
}

fn errors_of(s: &Snapshot) -> Vec<String> {
    let c = compute(
        s,
        &Options::default(),
        Addresses::FromStatus,
        &BTreeMap::new(),
    );
    c.errors.iter().map(ToString::to_string).collect()
}

fn warnings_of(s: &Snapshot) -> Vec<String> {
    let c = compute(
        s,
        &Options::default(),
        Addresses::FromStatus,
        &BTreeMap::new(),
    );
    c.warnings.iter().map(ToString::to_string).collect()
}

#[test]
fn the_settled_cluster_announces_what_the_article_expects() {
    let s = settled();
    let r = routes(&s);
    let web = &addresses(&s)[&ServiceKey::new("default", "web")][0];
    // web is ETP=Local: node-21 and node-22 announce it to both ToRs, node-23 does not.
    let web_from: BTreeSet<_> = r
        .iter()
        .filter(|x| x.2 == format!("{web}/32"))
        .map(|x| (x.0.as_str(), x.1.as_str()))
        .collect();
    assert_eq!(
        web_from,
        BTreeSet::from([
            ("node-21", "tor1"),
            ("node-21", "tor2"),
            ("node-22", "tor1"),
            ("node-22", "tor2")
        ])
    );
    assert!(r
        .iter()
        .all(|x| !x.2.starts_with("203.") || (x.3 == "65000:100" && x.4 == Some(100))));
    // jobs (batch-pool) only from rack r1.
    assert!(r.iter().any(|x| x.2.starts_with("198.51.100.6")));
    assert!(r
        .iter()
        .filter(|x| x.2.starts_with("198.51.100.6"))
        .all(|x| x.0 != "node-23"));
    assert!(errors_of(&s).is_empty(), "{:?}", errors_of(&s));
    assert!(warnings_of(&s).is_empty(), "{:?}", warnings_of(&s));
}

/// A bad object added after the good ones: nothing anyone announced moves, no Service's
/// address changes, and the newcomer is the one reported.
#[test]
fn a_bad_newcomer_moves_nothing() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "a newer pool overlapping the serving pool",
            "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: aaa-pool}\nspec: {addresses: [203.0.113.0/24]}\n",
            "IPAddressPool metallb-system/aaa-pool",
        ),
        (
            "a newer pool with nothing usable in it",
            "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: aaa-pool}\nspec: {addresses: [not-an-address]}\n",
            "IPAddressPool metallb-system/aaa-pool",
        ),
        (
            "a newer peer at tor1's address",
            "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: aaa}\nspec: {myASN: 65100, peerASN: 65009, peerAddress: 192.0.2.1}\n",
            "BGPPeer metallb-system/aaa",
        ),
        (
            "a newer peer with another AS for the same nodes",
            "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: aaa}\nspec: {myASN: 65200, peerASN: 65009, peerAddress: 192.0.2.9}\n",
            "BGPPeer metallb-system/aaa",
        ),
        (
            "a newer peer with a router ID the others lack",
            "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: aaa}\nspec: {myASN: 65100, peerASN: 65009, peerAddress: 192.0.2.9, routerID: 192.0.2.200}\n",
            "BGPPeer metallb-system/aaa",
        ),
        (
            "a newer advertisement with another localPref for the same prefixes",
            "apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {name: aaa-adv}\nspec: {ipAddressPools: [prod-pool], localPref: 300}\n",
            "BGPAdvertisement metallb-system/aaa-adv",
        ),
        (
            "a newer Community redefining the alias in use",
            "apiVersion: metallb.io/v1beta1\nkind: Community\nmetadata: {name: aaa}\nspec: {communities: [{name: vip, value: '65000:666'}]}\n",
            "Community metallb-system/aaa",
        ),
        (
            "an invalid BFDProfile",
            "apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {name: aaa}\nspec: {receiveInterval: 5}\n",
            "BFDProfile metallb-system/aaa",
        ),
    ];
    let before = settled();
    let (routes_before, addresses_before) = (routes(&before), addresses(&before));
    let sessions_before = sessions(&before);
    for (what, yaml, culprit) in cases {
        let mut s = before.clone();
        add(&mut s, yaml);
        stamp_unstamped(&mut s, 2_000);
        assert_eq!(routes(&s), routes_before, "{what}: routes moved");
        assert_eq!(addresses(&s), addresses_before, "{what}: addresses moved");
        assert_eq!(sessions(&s), sessions_before, "{what}: sessions changed");
        let reported: Vec<String> = errors_of(&s).into_iter().chain(warnings_of(&s)).collect();
        assert!(!reported.is_empty(), "{what}: nothing reported");
        assert!(
            reported.iter().all(|e| e.starts_with(culprit)),
            "{what}: only {culprit} is reported: {reported:#?}"
        );
    }
}

fn remove<K: kube::Resource>(list: &mut Vec<K>, name: &str) {
    let before = list.len();
    list.retain(|o| o.meta().name.as_deref() != Some(name));
    assert_eq!(list.len(), before - 1, "{name} was there");
}

/// A deleted object changes only what depended on its own content.
#[test]
fn a_deleted_dependency_costs_only_what_depended_on_it() {
    let before = settled();
    let routes_before = routes(&before);
    let addresses_before = addresses(&before);
    let sessions_before = sessions(&before);
    let jobs = ServiceKey::new("default", "jobs");
    let is_batch = |r: &Route| r.2.starts_with("198.51.100.");

    // The tor2 BGPPeer (named in prod-adv's peers): only routes to tor2 go.
    let mut s = before.clone();
    remove(&mut s.peers, "tor2");
    let want: BTreeSet<Route> = routes_before
        .iter()
        .filter(|r| r.1 != "tor2")
        .cloned()
        .collect();
    assert_eq!(routes(&s), want, "peer deleted");
    assert_eq!(addresses(&s), addresses_before);
    assert!(warnings_of(&s)
        .iter()
        .any(|w| w.contains("prod-adv") && w.contains("tor2")));

    // batch-pool, deleted on purpose: jobs loses its address and routes, nothing else moves.
    let mut s = before.clone();
    remove(&mut s.pools, "batch-pool");
    let want: BTreeSet<Route> = routes_before
        .iter()
        .filter(|r| !is_batch(r))
        .cloned()
        .collect();
    assert_eq!(routes(&s), want, "pool deleted");
    let mut want = addresses_before.clone();
    want.remove(&jobs);
    assert_eq!(addresses(&s), want);

    // The BFDProfile: both sessions stay, BFD on FRR's default timers; no route moves.
    let mut s = before.clone();
    remove(&mut s.bfd_profiles, "tor-bfd");
    assert_eq!(routes(&s), routes_before, "BFD profile deleted");
    assert_eq!(sessions(&s), sessions_before, "BFD stays on");
    assert!(warnings_of(&s).iter().any(|w| w.contains("tor-bfd")));

    // tor2's Secret: the session stays, keeping the password it has.
    let mut s = before.clone();
    remove(&mut s.secrets, "tor2-pw");
    assert_eq!(routes(&s), routes_before, "Secret deleted");
    assert_eq!(sessions(&s), sessions_before, "password kept");
    assert!(warnings_of(&s).iter().any(|w| w.contains("tor2-pw")));

    // The Community alias: prod's routes stay, without the alias's value.
    let mut s = before.clone();
    remove(&mut s.communities, "names");
    let want: BTreeSet<Route> = routes_before
        .iter()
        .map(|r| {
            let mut r = r.clone();
            if r.3 == "65000:100" {
                r.3 = String::new();
            }
            r
        })
        .collect();
    assert_eq!(routes(&s), want, "alias deleted");
    assert_eq!(addresses(&s), addresses_before);

    // node-22 loses its rack label: batch-adv no longer selects it; only its batch routes go.
    let mut s = before.clone();
    s.nodes
        .iter_mut()
        .find(|n| n.metadata.name.as_deref() == Some("node-22"))
        .unwrap()
        .metadata
        .labels
        .as_mut()
        .unwrap()
        .remove("rack");
    let want: BTreeSet<Route> = routes_before
        .iter()
        .filter(|r| !(is_batch(r) && r.0 == "node-22"))
        .cloned()
        .collect();
    assert_eq!(routes(&s), want, "node label removed");
    assert!(
        routes(&s).iter().any(is_batch),
        "node-21 still announces jobs"
    );
    assert_eq!(addresses(&s), addresses_before);
}

/// A pool that turns invalid, or loses to an older one, keeps its Services' addresses; when
/// it is fixed they are announced again with the same addresses.
#[test]
fn services_keep_their_addresses_through_a_broken_pool() {
    let before = settled();
    let addresses_before = addresses(&before);
    let mut s = before.clone();
    s.pools
        .iter_mut()
        .find(|p| p.metadata.name.as_deref() == Some("prod-pool"))
        .unwrap()
        .spec
        .addresses = vec!["garbage".into()];
    assert_eq!(addresses(&s), addresses_before, "held while broken");
    let c = compute(
        &s,
        &Options::default(),
        Addresses::FromStatus,
        &BTreeMap::new(),
    );
    let node = c.node_intent("node-21");
    assert!(
        routes(&s).iter().all(|r| !r.2.starts_with("203.")),
        "not announced while broken"
    );
    assert!(node
        .withheld
        .iter()
        .any(|w| w.reason == ferrule::WithholdReason::PoolUnusable));
    // Other pools' Services are untouched.
    assert!(routes(&s).iter().any(|r| r.2.starts_with("198.51.100.")));
}
