//! The seed manifests (what the article's users apply) load into the API types unchanged and
//! validate with zero errors, and mean what the article says they mean.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use ferrule::cluster;
use ferrule::manifests::{self, Loaded, Warning};
use ferrule::model::{Community, IpRange, PeerAddress, RemoteAs, ServiceKey, Timers};
use ferrule::validate;

const NAMESPACE: &str = "metallb-system";

fn load(dir: &Path) -> Loaded {
    let loaded = manifests::load_dir(dir, NAMESPACE).expect("seed dir readable");
    assert!(
        loaded.errors.is_empty(),
        "{}: {:?}",
        dir.display(),
        loaded
            .errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    );
    let unexpected: Vec<_> = loaded
        .warnings
        .iter()
        .filter(|w| !matches!(w, Warning::Replaced { .. }))
        .map(ToString::to_string)
        .collect();
    assert!(unexpected.is_empty(), "{}: {unexpected:?}", dir.display());
    loaded
}

fn check_seed(dir: &Path) {
    let loaded = load(dir);
    let snapshot = &loaded.snapshot;
    let v = validate(snapshot, &Default::default());
    assert_eq!(v.errors, vec![], "{}", dir.display());
    let config = &v.config;

    let pool = &config.pools["prod-pool"];
    let cidr = "203.0.113.0/24".parse().unwrap();
    assert_eq!(pool.cidrs, vec![cidr]);
    assert_eq!(
        pool.ranges,
        vec![IpRange {
            first: "203.0.113.0".parse().unwrap(),
            last: "203.0.113.255".parse().unwrap()
        }]
    );
    assert!(pool.auto_assign);

    // 05-bfd.yaml redefines tor1 after 02-peers.yaml; the later document wins, as with
    // `kubectl apply -f dir/`: BFD on, and no holdTime any more.
    let tor1 = &config.peers["tor1"];
    assert_eq!(
        tor1.address,
        PeerAddress::Ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)))
    );
    assert_eq!(tor1.bfd_profile.as_deref(), Some("tor-bfd"));
    assert_eq!(tor1.timers, None);
    assert!(loaded.warnings.iter().any(|w| matches!(
        w,
        Warning::Replaced { object, .. } if object.kind == "BGPPeer" && object.name == "tor1"
    )));
    let tor2 = &config.peers["tor2"];
    assert_eq!(
        tor2.address,
        PeerAddress::Ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)))
    );
    for p in [tor1, tor2] {
        assert_eq!((p.my_asn, p.remote_as), (65100, RemoteAs::Asn(65000)));
    }
    let bfd = &config.bfd_profiles["tor-bfd"];
    assert_eq!(
        (
            bfd.receive_interval,
            bfd.transmit_interval,
            bfd.detect_multiplier
        ),
        (Some(300), Some(300), Some(3))
    );

    let adv = &config.advertisements["prod-adv"];
    assert_eq!(
        adv.communities.iter().collect::<Vec<_>>(),
        vec![&Community::Standard(65000, 100)]
    );
    assert_eq!(adv.local_pref, Some(100));
    assert_eq!(adv.aggregation_length_v4, 32);
    assert_eq!(adv.pools.iter().collect::<Vec<_>>(), vec!["prod-pool"]);

    let (services, errors) = cluster::services(snapshot, None);
    assert_eq!(errors, vec![]);
    let web = services
        .iter()
        .find(|s| s.key == ServiceKey::new("default", "web"))
        .expect("the web Service, in namespace default");
    assert!(web.is_ours && web.etp_local);
    assert_eq!(web.selector.get("app").map(String::as_str), Some("web"));
}

#[test]
fn examples_seed_loads_and_validates() {
    check_seed(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/seed"));
}

/// The article's manifests, as the user applies them (sha256 of each file in
/// `../shared/seed/manifests`). `examples/seed` carries them byte for byte, so this test
/// never depends on a directory outside the clone, and cannot pass on a drifted copy.
const SEED_FILES: [(&str, &str); 5] = [
    (
        "01-pool.yaml",
        "0c0ccffc657d42051740e7aec4b8b26d2de4eea7496318e81e20ee18d3542b3e",
    ),
    (
        "02-peers.yaml",
        "a0c94bc8fdcea545404c5d476d9814f51c0bf9625d2dc779defa7abfd1dc106c",
    ),
    (
        "03-advertisement.yaml",
        "1337963d0d818fa0d5929d0e87fc757fb41232e0168e7ec0136c715ace74d976",
    ),
    (
        "04-service.yaml",
        "174c3771be565d266ca8739c988d14477de8f4a47330a3f91f353dd9f68d1ffc",
    ),
    (
        "05-bfd.yaml",
        "2e487a5d24783c2c2d0513f85c4790bbb4c02b68a8721e6615666f184dc3e581",
    ),
];

#[test]
fn shared_seed_loads_and_validates() {
    use sha2::{Digest, Sha256};
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../shared/seed/manifests");
    // Only the user's five files, in a directory of their own: nothing of ours helps them.
    let dir = std::env::temp_dir().join(format!("ferrule-shared-seed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, sha) in SEED_FILES {
        let text = std::fs::read(root.join("examples/seed").join(name)).unwrap();
        assert_eq!(
            format!("{:x}", Sha256::digest(&text)),
            sha,
            "examples/seed/{name} is no longer the article's file"
        );
        if shared.is_dir() {
            assert_eq!(
                std::fs::read(shared.join(name)).unwrap(),
                text,
                "examples/seed/{name} differs from ../shared"
            );
        }
        std::fs::write(dir.join(name), &text).unwrap();
    }
    let loaded = load(&dir);
    let v = validate(&loaded.snapshot, &Default::default());
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(v.errors, vec![]);
    assert_eq!(
        (
            v.config.pools.len(),
            v.config.peers.len(),
            v.config.advertisements.len()
        ),
        (1, 2, 1)
    );
    assert!(v.config.bfd_profiles.contains_key("tor-bfd"));
}

/// The peers file alone still has tor1's holdTime: 90 s derives a 30 s keepalive.
#[test]
fn seed_peers_file_alone_derives_keepalive() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/seed");
    let text = std::fs::read_to_string(dir.join("02-peers.yaml")).unwrap();
    let mut snapshot = ferrule::Snapshot {
        namespace: NAMESPACE.into(),
        ..Default::default()
    };
    let d = manifests::parse_str(&text, "02-peers.yaml", &mut snapshot);
    assert!(d.errors.is_empty() && d.warnings.is_empty(), "{d:?}");
    let v = validate(&snapshot, &Default::default());
    assert_eq!(v.errors, vec![]);
    assert_eq!(
        v.config.peers["tor1"].timers,
        Some(Timers {
            keepalive: 30,
            hold: 90
        })
    );
    assert_eq!(v.config.peers["tor2"].timers, None);
}
