//! The committed CRDs must be exactly what the code generates, so the API server enforces
//! the same schema the code was written against. Regenerate with `ferrule crds`.

#[test]
fn committed_crds_match_generated() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/crds/crds.yaml"))
        .expect("crds/crds.yaml exists");
    let generated = ferrule::api::crds_yaml();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(
            concat!(env!("CARGO_MANIFEST_DIR"), "/crds/crds.yaml"),
            &generated,
        )
        .unwrap();
        return;
    }
    assert!(
        committed == generated,
        "crds/crds.yaml is stale: run `cargo run -- crds > crds/crds.yaml` (or UPDATE_GOLDEN=1 cargo test)"
    );
}

#[test]
fn every_kind_is_served_and_peer_has_both_versions() {
    let crds = ferrule::api::crds();
    let kinds: Vec<String> = crds.iter().map(|c| c.spec.names.kind.clone()).collect();
    assert_eq!(
        kinds,
        [
            "BFDProfile",
            "BGPAdvertisement",
            "BGPPeer",
            "Community",
            "IPAddressPool",
            "L2Advertisement",
            "BGPSession",
            "ServiceAnnouncement",
            "SpeakerNode"
        ]
    );
    let peer = crds
        .iter()
        .find(|c| c.spec.names.kind == "BGPPeer")
        .unwrap();
    let mut versions: Vec<_> = peer
        .spec
        .versions
        .iter()
        .map(|v| (v.name.as_str(), v.storage))
        .collect();
    versions.sort();
    assert_eq!(versions, [("v1beta1", false), ("v1beta2", true)]);
}
