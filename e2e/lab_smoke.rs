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
