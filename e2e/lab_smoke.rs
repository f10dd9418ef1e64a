//! The lab harness itself: FRR comes up in namespaces, peers, and everything is removed after.

#[path = "harness.rs"]
mod harness;

use std::process::Command;
use std::time::Duration;

fn namespaces() -> String {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn ebgp_and_bfd_come_up_and_the_lab_is_removed() {
    let t0 = std::time::Instant::now();
    let Some(lab) = harness::Lab::start_peered(1, 65000, 65100) else {
        return;
    };
    eprintln!("lab up after {:?}", t0.elapsed());
    let node = lab.node(0).clone();
    node.load_config(&format!(
        "router bgp 65100\n bgp router-id {n}\n no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n no bgp network import-check\n neighbor 192.0.2.1 remote-as 65000\n neighbor 192.0.2.1 timers 3 9\n neighbor 192.0.2.1 timers connect 5\n neighbor 192.0.2.1 bfd\n address-family ipv4 unicast\n  network 203.0.113.5/32\n  neighbor 192.0.2.1 activate\n exit-address-family\nexit\n",
        n = node.ipv4
    ))
    .unwrap();

    // The running config carries exactly one hostname: the instance's own UTS name.
    let running = node.running_config();
    let hostnames: Vec<&str> = running
        .lines()
        .filter(|l| l.starts_with("hostname "))
        .collect();
    assert_eq!(hostnames, ["hostname node1"], "{running}");

    let peer = harness::wait_established(&lab.tor, node.ipv4, Duration::from_secs(20));
    assert_eq!(peer["remoteAs"], 65100);
    eprintln!("Established after {:?}", t0.elapsed());
    harness::wait_bfd_up(&lab.tor, node.ipv4, Duration::from_secs(10));
    let route = harness::wait_until(Duration::from_secs(10), "203.0.113.5/32 at the ToR", || {
        let v = lab
            .tor
            .vtysh_json("show bgp ipv4 unicast 203.0.113.5/32 json");
        if v["paths"].as_array().is_some_and(|p| !p.is_empty()) {
            Ok(v)
        } else {
            Err(v)
        }
    });
    assert_eq!(
        route["paths"][0]["nexthops"][0]["ip"],
        node.ipv4.to_string()
    );
    eprintln!("route seen after {:?}", t0.elapsed());

    // Nothing of the lab lives in the root namespace.
    let root = Command::new("ip").args(["-br", "addr"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&root.stdout).contains("203.0.113."));

    let ns = lab.tor.ns.clone();
    let pid_file = node.run.join("bgpd.pid");
    let bgpd: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(namespaces().contains(&ns));
    drop(lab);
    eprintln!("torn down after {:?}", t0.elapsed());
    assert!(!namespaces().contains(&ns), "namespace {ns} left behind");
    assert!(!harness::alive(bgpd), "bgpd {bgpd} still running");
}

/// What the panicking thread knew about its lab while it was alive.
struct LiveLab {
    ns: String,
    bgpd: i32,
    dir: std::path::PathBuf,
}

#[test]
fn a_panicking_test_still_removes_its_lab() {
    // The thread panics with what identifies its lab, while the lab is alive.
    let t = std::thread::spawn(|| -> Option<()> {
        // None = no lab on this machine (skipped loudly; under CI Lab::start panics itself).
        let lab = harness::Lab::start(1)?;
        let node = lab.node(0);
        let bgpd: i32 = std::fs::read_to_string(node.run.join("bgpd.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(namespaces().contains(&node.ns) && harness::alive(bgpd));
        std::panic::panic_any(LiveLab {
            ns: node.ns.clone(),
            bgpd,
            dir: node.run.clone(),
        });
    });
    let live = match t.join() {
        Ok(_) => return, // skipped: no lab here
        // Any other panic (the lab did not come up, an assert above) is this test's failure.
        Err(payload) => match payload.downcast::<LiveLab>() {
            Ok(live) => live,
            Err(other) => std::panic::resume_unwind(other),
        },
    };
    assert!(
        !namespaces().contains(&live.ns),
        "namespace {} left behind",
        live.ns
    );
    assert!(
        !harness::alive(live.bgpd),
        "bgpd {} still running",
        live.bgpd
    );
    assert!(!live.dir.exists(), "{} left behind", live.dir.display());
}

/// The capabilities the speaker manifest gives its FRR container, in `setpriv` form.
fn manifest_frr_caps() -> (Vec<String>, String) {
    use serde::Deserialize;
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/manifests/speaker.yaml"
    ))
    .unwrap();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let v = serde_yaml::Value::deserialize(doc).unwrap();
        if v["kind"].as_str() != Some("DaemonSet") {
            continue;
        }
        let ds: k8s_openapi::api::apps::v1::DaemonSet = serde_yaml::from_value(v).unwrap();
        let pod = ds.spec.unwrap().template.spec.unwrap();
        let frr = pod.containers.iter().find(|c| c.name == "frr").unwrap();
        let caps = frr
            .security_context
            .as_ref()
            .unwrap()
            .capabilities
            .as_ref()
            .unwrap();
        assert_eq!(caps.drop.as_deref(), Some(&["ALL".to_string()][..]));
        let add = caps.add.clone().unwrap();
        let set = std::iter::once("-all".to_string())
            .chain(add.iter().map(|c| format!("+{}", c.to_ascii_lowercase())))
            .collect::<Vec<_>>()
            .join(",");
        return (add, set);
    }
    panic!("no DaemonSet in manifests/speaker.yaml");
}

/// FRR's daemons come up, peer and run BFD with exactly the capabilities the manifest
/// grants its FRR container (and no more: the kernel's bounding set says so).
#[test]
fn frr_daemons_run_with_only_the_manifests_capabilities() {
    let (add, caps) = manifest_frr_caps();
    let Some(lab) = harness::Lab::start_with_caps(1, Some(&caps)) else {
        return;
    };
    let node = lab.node(0).clone();
    lab.tor
        .load_config(&harness::tor_config(65000, &[(&node, 65100)]))
        .unwrap();
    node.load_config(&format!(
        "router bgp 65100\n bgp router-id {n}\n no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n no bgp network import-check\n neighbor 192.0.2.1 remote-as 65000\n neighbor 192.0.2.1 timers 3 9\n neighbor 192.0.2.1 timers connect 1\n neighbor 192.0.2.1 bfd\n address-family ipv4 unicast\n  network 203.0.113.7/32\n  neighbor 192.0.2.1 activate\n exit-address-family\nexit\n",
        n = node.ipv4
    ))
    .unwrap();
    harness::wait_established(&lab.tor, node.ipv4, Duration::from_secs(20));
    harness::wait_bfd_up(&lab.tor, node.ipv4, Duration::from_secs(10));
    harness::wait_until(Duration::from_secs(10), "203.0.113.7/32 at the ToR", || {
        match harness::best_path(&lab.tor, "203.0.113.7/32") {
            Some(p) => Ok(p),
            None => Err("no path"),
        }
    });
    // Each daemon really ran with only those: bit n of CapBnd is capability n.
    let bits: u64 = add
        .iter()
        .map(|c| {
            let n = match c.as_str() {
                "CHOWN" => 0,
                "DAC_OVERRIDE" => 1,
                "FOWNER" => 3,
                "KILL" => 5,
                "SETGID" => 6,
                "SETUID" => 7,
                "NET_BIND_SERVICE" => 10,
                "NET_ADMIN" => 12,
                "NET_RAW" => 13,
                "SYS_ADMIN" => 21,
                other => panic!("capability {other}: add its number here"),
            };
            1u64 << n
        })
        .sum();
    for d in ["zebra", "bgpd", "bfdd"] {
        let pid = std::fs::read_to_string(node.run.join(format!("{d}.pid"))).unwrap();
        let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).unwrap();
        let bnd = status.lines().find(|l| l.starts_with("CapBnd:")).unwrap();
        let got = u64::from_str_radix(bnd.split_whitespace().nth(1).unwrap(), 16).unwrap();
        assert_eq!(got, bits, "{d}: {bnd}");
    }
    eprintln!("FRR ran peered with BFD on the manifest's capabilities: {caps}");
}
