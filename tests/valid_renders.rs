//! Validation and rendering agree: random MetalLB objects, hostile values included (long
//! names, passwords with spaces, tabs and non-ASCII, odd timers, AS numbers, VRFs, BFD
//! values, communities), go through the whole pipeline; whatever validation lets through,
//! every node's config renders with nothing left out, and FRR's own parser
//! (`vtysh --dryrun`) accepts every one of those configs that has a session (up to 200).

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use ferrule::{compute, manifests, render, render_node, Addresses, Options, Snapshot};
use proptest::prelude::*;
use serde_json::{json, Value};
use support::frr::frr_check;

/// How many rendered configs FRR itself checks: all those with sessions, up to this many
/// (one `vtysh --dryrun` took about 6 ms here).
const FRR_SAMPLE: usize = 200;
static CHECKED_BY_FRR: AtomicUsize = AtomicUsize::new(0);

fn name() -> impl Strategy<Value = String> {
    // Up to 72 characters: across bfdd's 64-character profile names.
    "[a-z0-9]([a-z0-9.-]{0,70}[a-z0-9])?"
}

fn duration() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0s".to_string()),
        Just("1s".into()),
        Just("3s".into()),
        Just("90s".into()),
        Just("2.5s".into()),
        Just("1m30s".into()),
        "[0-9]{1,5}(ms|s|m)",
    ]
}

fn asn() -> impl Strategy<Value = u32> {
    prop_oneof![Just(65000u32), Just(65100), Just(65200), any::<u32>()]
}

fn password() -> impl Strategy<Value = String> {
    prop_oneof![
        "[!-~]{1,80}",
        "[ -~éß€\t]{0,90}",
        Just("s3cret".to_string()),
        Just("two words".into()),
    ]
}

fn peer_address() -> impl Strategy<Value = String> {
    prop_oneof![
        (1u8..=254).prop_map(|i| format!("192.0.2.{i}")),
        (1u16..=0xfff).prop_map(|i| format!("2001:db8::{i:x}")),
        "[a-z][a-z0-9.!-]{0,18}",
    ]
}

fn community() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("65000:100".to_string()),
        Just("large:1:2:3".into()),
        Just("no-export".into()),
        Just("NO_ADVERTISE".into()),
        Just("65536:1".into()),
        Just("gold".into()),
        "[0-9]{1,6}:[0-9]{1,6}",
    ]
}

prop_compose! {
    fn bfd_profile()(
        name in name(),
        rx in proptest::option::of(0u32..70000),
        tx in proptest::option::of(0u32..70000),
        mult in proptest::option::of(0u32..300),
        echo in proptest::option::of(any::<bool>()),
        echo_interval in proptest::option::of(0u32..70000),
        passive in proptest::option::of(any::<bool>()),
        ttl in proptest::option::of(0u32..300),
    ) -> Value {
        let mut spec = serde_json::Map::new();
        let mut put = |k: &str, v: Option<Value>| { if let Some(v) = v { spec.insert(k.into(), v); } };
        put("receiveInterval", rx.map(Value::from));
        put("transmitInterval", tx.map(Value::from));
        put("detectMultiplier", mult.map(Value::from));
        put("echoMode", echo.map(Value::from));
        put("echoInterval", echo_interval.map(Value::from));
        put("passiveMode", passive.map(Value::from));
        put("minimumTtl", ttl.map(Value::from));
        json!({ "apiVersion": "metallb.io/v1beta1", "kind": "BFDProfile",
                "metadata": { "name": name }, "spec": spec })
    }
}

prop_compose! {
    fn peer(profiles: Vec<String>)(
        name in name(),
        my_asn in asn(),
        peer_asn in asn(),
        local_asn in proptest::option::of(asn()),
        address in peer_address(),
        interface in any::<bool>(),
        hold in proptest::option::of(duration()),
        keepalive in proptest::option::of(duration()),
        connect in proptest::option::of(duration()),
        pw in proptest::option::of(password()),
        bfd in proptest::option::of(proptest::sample::select(
            profiles.into_iter().chain(["missing".to_string()]).collect::<Vec<_>>())),
        multihop in proptest::option::of(any::<bool>()),
        vrf in proptest::option::of("[a-z][a-z0-9-]{0,17}"),
        router_id in proptest::option::of((1u8..=254).prop_map(|i| format!("192.0.2.{i}"))),
        port in proptest::option::of(any::<u16>()),
        graceful in proptest::option::of(any::<bool>()),
    ) -> Value {
        let mut spec = json!({ "myASN": my_asn, "peerASN": peer_asn });
        let s = spec.as_object_mut().unwrap();
        if interface { s.insert("interface".into(), json!(address)); }
        else { s.insert("peerAddress".into(), json!(address)); }
        let mut put = |k: &str, v: Option<Value>| { if let Some(v) = v { s.insert(k.into(), v); } };
        put("localASN", local_asn.map(Value::from));
        put("holdTime", hold.map(Value::from));
        put("keepaliveTime", keepalive.map(Value::from));
        put("connectTime", connect.map(Value::from));
        put("password", pw.map(Value::from));
        put("bfdProfile", bfd.map(Value::from));
        put("ebgpMultiHop", multihop.map(Value::from));
        put("vrf", vrf.map(Value::from));
        put("routerID", router_id.map(Value::from));
        put("peerPort", port.map(Value::from));
        put("enableGracefulRestart", graceful.map(Value::from));
        json!({ "apiVersion": "metallb.io/v1beta2", "kind": "BGPPeer",
                "metadata": { "name": name }, "spec": spec })
    }
}

prop_compose! {
    fn advertisement()(
        name in name(),
        communities in proptest::collection::vec(community(), 0..4),
        local_pref in proptest::option::of(any::<u32>()),
        agg4 in proptest::option::of(0u8..40),
        agg6 in proptest::option::of(0u8..140),
    ) -> Value {
        let mut spec = json!({ "ipAddressPools": ["pool-v4", "pool-v6"], "communities": communities });
        let s = spec.as_object_mut().unwrap();
        if let Some(lp) = local_pref { s.insert("localPref".into(), json!(lp)); }
        if let Some(a) = agg4 { s.insert("aggregationLength".into(), json!(a)); }
        if let Some(a) = agg6 { s.insert("aggregationLengthV6".into(), json!(a)); }
        json!({ "apiVersion": "metallb.io/v1beta1", "kind": "BGPAdvertisement",
                "metadata": { "name": name }, "spec": spec })
    }
}

fn cluster() -> impl Strategy<Value = Vec<Value>> {
    proptest::collection::vec(bfd_profile(), 0..3).prop_flat_map(|profiles| {
        let names: Vec<String> = profiles
            .iter()
            .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
            .collect();
        (
            Just(profiles),
            proptest::collection::vec(peer(names), 1..4),
            proptest::collection::vec(advertisement(), 1..3),
        )
            .prop_map(|(profiles, peers, advs)| {
                let mut all = fixed();
                all.extend(profiles);
                all.extend(peers);
                all.extend(advs);
                all
            })
    })
}

/// What every generated cluster has: two nodes, a v4 and a v6 pool, alias `gold`, and a
/// Service with endpoints on both nodes.
fn fixed() -> Vec<Value> {
    vec![
        json!({ "apiVersion": "v1", "kind": "Node", "metadata": { "name": "node-a" } }),
        json!({ "apiVersion": "v1", "kind": "Node", "metadata": { "name": "node-b" } }),
        json!({ "apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
                "metadata": { "name": "pool-v4" }, "spec": { "addresses": ["203.0.113.0/28"] } }),
        json!({ "apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
                "metadata": { "name": "pool-v6" }, "spec": { "addresses": ["2001:db8:5::/120"] } }),
        json!({ "apiVersion": "metallb.io/v1beta1", "kind": "Community", "metadata": { "name": "c" },
                "spec": { "communities": [{ "name": "gold", "value": "65000:7" }] } }),
        json!({ "apiVersion": "v1", "kind": "Service", "metadata": { "name": "web", "namespace": "default" },
                "spec": { "type": "LoadBalancer", "ipFamilyPolicy": "PreferDualStack",
                          "ipFamilies": ["IPv4", "IPv6"], "ports": [{ "port": 443 }] } }),
        json!({ "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": { "name": "web-1", "namespace": "default",
                              "labels": { "kubernetes.io/service-name": "web" } },
                "addressType": "IPv4",
                "endpoints": [
                    { "addresses": ["198.51.100.1"], "conditions": { "ready": true }, "nodeName": "node-a" },
                    { "addresses": ["198.51.100.2"], "conditions": { "ready": true }, "nodeName": "node-b" } ] }),
    ]
}

fn snapshot(objects: &[Value]) -> (Snapshot, String) {
    let text: String = objects
        .iter()
        .map(|o| format!("---\n{}\n", serde_json::to_string(o).unwrap()))
        .collect();
    let mut s = Snapshot {
        namespace: "metallb-system".into(),
        ..Snapshot::default()
    };
    let d = manifests::parse_str(&text, "generated", &mut s);
    assert!(d.errors.is_empty(), "{:?}\n{text}", d.errors);
    (s, text)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn whatever_validation_accepts_renders(objects in cluster()) {
        let (snapshot, text) = snapshot(&objects);
        let computed = compute(&snapshot, &Options::default(), Addresses::Allocate, &BTreeMap::new());
        for (node, intent) in computed.all_node_intents() {
            let rendered = render_node(&intent, None)
                .map_err(|e| TestCaseError::fail(format!("{node}: {e}\n{text}")))?;
            prop_assert!(
                rendered.left_out.is_empty(),
                "{node}: validation accepted what rendering leaves out: {:?}\nwarnings: {:?}\n{text}",
                rendered.left_out.iter().map(ToString::to_string).collect::<Vec<_>>(),
                computed.warnings.iter().map(ToString::to_string).collect::<Vec<_>>()
            );
            let strict = render(&intent);
            prop_assert!(strict.is_ok(), "{node}: {strict:?}\n{text}");
            let has_router = !intent.routers.is_empty();
            if has_router && CHECKED_BY_FRR.fetch_add(1, Ordering::SeqCst) < FRR_SAMPLE {
                if let Some(verdict) = frr_check("valid_renders", &rendered.text) {
                    prop_assert!(verdict.is_ok(), "{node}: {verdict:?}\n{}\n{text}", rendered.text);
                }
            }
        }
    }
}
