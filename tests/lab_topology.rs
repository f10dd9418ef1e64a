//! The containerlab topologies the lab runner builds: they parse into a plan the runner can
//! build (without building it), and the ToRs' startup configs pass FRR's own validator.

#[path = "support/frr.rs"]
#[allow(dead_code)]
mod frr;

use std::path::Path;

fn seed_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("containerlab/seed")
}

#[test]
fn the_seed_topology_plans_as_the_article_draws_it() {
    let plan = ferrule::lab::plan(&seed_dir().join("seed.clab.yml"), None).unwrap();
    assert_eq!(plan.name, "ferrule-seed");
    let routers: Vec<&str> = plan.routers().map(|n| n.name.as_str()).collect();
    assert_eq!(routers, ["tor1", "tor2"]);
    let speakers: Vec<&str> = plan.speakers().map(|n| n.name.as_str()).collect();
    assert_eq!(speakers, ["node-21", "node-22", "node-23"]);
    for n in plan.speakers() {
        assert_eq!(n.env["NODE_NAME"], n.name);
        assert_eq!(n.daemons, ["zebra", "staticd", "bfdd", "bgpd"]);
        assert_eq!(
            n.speaker.as_ref().unwrap().source,
            seed_dir().join("manifests")
        );
        assert_eq!(n.exec.len(), 2, "{}: two addresses", n.name);
    }
    for t in plan.routers() {
        let conf = t.frr_conf.as_ref().unwrap();
        assert_eq!(conf, &seed_dir().join(format!("{}.conf", t.name)));
    }
    // Each segment is a switch node of its own: nothing needs creating on the host.
    assert!(plan.bridges.is_empty());
    assert_eq!(plan.links.len(), 8);
    assert!(plan
        .links
        .iter()
        .all(|(a, b)| a.iface.starts_with("eth") && b.iface.starts_with("eth")));
}

#[test]
fn the_tor_configs_pass_frrs_validator() {
    for tor in ["tor1", "tor2"] {
        let path = seed_dir().join(format!("{tor}.conf"));
        let text = std::fs::read_to_string(&path).unwrap();
        if let Some(r) = frr::frr_check(tor, &text) {
            r.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
    }
}

#[test]
fn bfd_is_expected_at_a_tor_only_where_the_nodes_run_it() {
    // tor1's BGPPeer has bfdProfile tor-bfd (05-bfd.yaml); tor2's has none.
    let tor1 = std::fs::read_to_string(seed_dir().join("tor1.conf")).unwrap();
    let tor2 = std::fs::read_to_string(seed_dir().join("tor2.conf")).unwrap();
    assert!(tor1.contains("neighbor nodes bfd profile tor-bfd"));
    assert!(!tor2
        .lines()
        .any(|l| l.trim_start().starts_with("neighbor nodes bfd")));
}
