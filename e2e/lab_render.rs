//! What `ferrule render` makes of the article's manifests runs on real FRR: the node's
//! config loads cleanly and a ToR receives the Service's /32 with community 65000:100 right
//! after the session comes up (eBGP), and with LOCAL_PREF 100 over iBGP.
//! The manifests are `containerlab/seed/manifests`: the article's, with the ToRs at TEST-NET
//! addresses so the lab can reach them.

#[path = "harness.rs"]
mod harness;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use ferrule::{compute, Addresses, Driver, Options};
use harness::{best_path, tor_config, wait_established, wait_until, Lab};

fn seed_snapshot() -> ferrule::Snapshot {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("containerlab/seed/manifests");
    ferrule::manifests::load_dir(&dir, "metallb-system")
        .unwrap()
        .snapshot
}

fn rendered_node21(ibgp: bool) -> (String, String) {
    let mut snapshot = seed_snapshot();
    if ibgp {
        for p in &mut snapshot.peers {
            p.spec.peer_asn = Some(p.spec.my_asn);
        }
    }
    let computed = compute(
        &snapshot,
        &Options::default(),
        Addresses::Allocate,
        &BTreeMap::new(),
    );
    assert!(computed.errors.is_empty(), "{:?}", computed.errors);
    let ip = computed.allocation.assigned.values().next().unwrap().ips[0];
    let config = ferrule::render(&computed.node_intent("node-21")).unwrap();
    (config, format!("{ip}/32"))
}

async fn check(ibgp: bool) {
    let Some(lab) = Lab::start(1) else { return };
    let node = lab.node(0);
    let tor_as = if ibgp { 65100 } else { 65000 };
    lab.tor
        .load_config(&tor_config(tor_as, &[(node, 65100)]))
        .unwrap();

    let (config, prefix) = rendered_node21(ibgp);
    let mut driver = Driver::new(node.client());
    let result = driver.apply(&config).await;
    assert!(
        result.is_ok(),
        "FRR rejected ferrule's rendered config: {:?}\n{config}",
        result.outcome
    );

    wait_established(&lab.tor, node.ipv4, Duration::from_secs(30));
    let up = Instant::now();
    let (communities, local_pref) = wait_until(
        Duration::from_secs(5),
        &format!("{prefix} at the ToR"),
        || best_path(&lab.tor, &prefix).ok_or(()),
    );
    let after = up.elapsed();
    eprintln!(
        "render lab ({}): {prefix} at the ToR {after:?} after Established",
        if ibgp { "iBGP" } else { "eBGP" }
    );
    assert!(
        communities.split_whitespace().any(|c| c == "65000:100"),
        "communities {communities:?}"
    );
    if ibgp {
        assert_eq!(local_pref, Some(100), "iBGP carries LOCAL_PREF");
    }
}

#[tokio::test]
async fn seed_config_reaches_the_tor_with_its_community_over_ebgp() {
    check(false).await;
}

#[tokio::test]
async fn seed_config_carries_local_pref_over_ibgp() {
    check(true).await;
}

/// MetalLB's `bgpextras` ConfigMap: its lines go after ferrule's config; a line FRR refuses
/// is left out and reported, and everything else, ferrule's own config and the other extras
/// lines, applies and announces.
#[tokio::test]
async fn bgpextras_lines_frr_refuses_are_reported_and_the_rest_applies() {
    let Some(lab) = Lab::start(1) else { return };
    let node = lab.node(0);
    lab.tor
        .load_config(&tor_config(65000, &[(node, 65100)]))
        .unwrap();
    let mut snapshot = seed_snapshot();
    let extras = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bgpextras, namespace: metallb-system}\ndata:\n  extras: |\n    ip prefix-list extra-ok seq 5 permit 198.51.100.0/24\n    this is not an frr command\n    ip prefix-list extra-ok seq 10 permit 192.0.2.0/24\n";
    let d = ferrule::manifests::parse_str(extras, "extras", &mut snapshot);
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    let computed = compute(
        &snapshot,
        &Options::default(),
        Addresses::Allocate,
        &BTreeMap::new(),
    );
    let ip = computed.allocation.assigned.values().next().unwrap().ips[0];
    let rendered =
        ferrule::render_node(&computed.node_intent("node-21"), computed.extras.as_deref()).unwrap();
    assert!(rendered.text.contains("this is not an frr command"));

    let mut driver = Driver::new(node.client());
    let result = driver.apply_rendered(&rendered).await;
    assert!(result.is_ok(), "{:?}", result.outcome);
    assert_eq!(
        result.refused_extras.len(),
        1,
        "{:?}",
        result.refused_extras
    );
    assert!(
        result.refused_extras[0].contains("this is not an frr command"),
        "{:?}",
        result.refused_extras
    );
    let running = node.running_config();
    for line in [
        "ip prefix-list extra-ok seq 5 permit 198.51.100.0/24",
        "ip prefix-list extra-ok seq 10 permit 192.0.2.0/24",
    ] {
        assert!(running.contains(line), "{line} applied:\n{running}");
    }
    wait_established(&lab.tor, node.ipv4, Duration::from_secs(30));
    wait_until(
        Duration::from_secs(5),
        &format!("{ip}/32 at the ToR"),
        || best_path(&lab.tor, &format!("{ip}/32")).ok_or(()),
    );
    // Applying the same again sends nothing and still reports the refused line.
    let again = driver.apply_rendered(&rendered).await;
    assert!(again.is_ok(), "{:?}", again.outcome);
    assert_eq!(again.commands_sent, 0, "{:?}", again.batch);
    assert_eq!(again.refused_extras, result.refused_extras);
}
