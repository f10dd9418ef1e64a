use super::*;

const SEED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/containerlab/seed");

#[test]
fn a_kind_the_runner_cannot_build_stops_it() {
    let t = "name: x\ntopology:\n  nodes:\n    r1: { kind: nokia_srlinux }\n";
    let e = plan_text(t, Path::new(SEED), None).unwrap_err();
    assert!(e.0.contains("kind \"nokia_srlinux\""), "{e}");
}

#[test]
fn an_exec_line_that_is_not_ip_stops_it() {
    let t = "name: x\ntopology:\n  nodes:\n    n1: { kind: linux, exec: [\"sysctl -w net.ipv4.ip_forward=1\"] }\n";
    let e = plan_text(t, Path::new(SEED), None).unwrap_err();
    assert!(e.0.contains("only `ip ...`"), "{e}");
    let t = "name: x\ntopology:\n  nodes:\n    n1: { kind: linux, exec: [\"ip netns add y\"] }\n";
    assert!(plan_text(t, Path::new(SEED), None).is_err());
}

#[test]
fn a_bind_it_cannot_map_stops_it() {
    let t =
        "name: x\ntopology:\n  nodes:\n    n1: { kind: linux, binds: [\"daemons:/etc/hosts\"] }\n";
    let e = plan_text(t, Path::new(SEED), None).unwrap_err();
    assert!(e.0.contains("bind to /etc/hosts"), "{e}");
    let t = "name: x\ntopology:\n  nodes:\n    n1: { kind: linux, binds: [\"nope:/etc/frr/daemons\"] }\n";
    let e = plan_text(t, Path::new(SEED), None).unwrap_err();
    assert!(e.0.contains("does not exist"), "{e}");
}

#[test]
fn unknown_fields_and_commands_stop_it() {
    let t = "name: x\ntopology:\n  nodes:\n    n1: { kind: linux, ports: [\"80:80\"] }\n";
    assert!(plan_text(t, Path::new(SEED), None).is_err());
    let t = "name: x\ntopology:\n  nodes:\n    n1: { kind: linux, cmd: \"nginx -g daemon\" }\n";
    let e = plan_text(t, Path::new(SEED), None).unwrap_err();
    assert!(e.0.contains("cmd step"), "{e}");
    let t = "name: x\ntopology:\n  nodes:\n    n1: { kind: linux, cmd: \"sh -c 'sleep infinity; rm -rf /'\" }\n";
    assert!(plan_text(t, Path::new(SEED), None).is_err());
}

#[test]
fn bridges_and_links_plan_inside_namespaces() {
    let t = "name: b\ntopology:\n  nodes:\n    a: { kind: linux }\n    sw: { kind: bridge }\n  links:\n    - endpoints: [\"a:eth1\", \"sw:pa\"]\n";
    let p = plan_text(t, Path::new(SEED), None).unwrap();
    assert_eq!(p.bridges, ["sw"]);
    assert_eq!(p.netns("sw"), "flab.b.sw");
    assert!(p.links[0].1.bridge && !p.links[0].0.bridge);
    let t = "name: b\ntopology:\n  nodes:\n    a: { kind: linux }\n  links:\n    - endpoints: [\"a:eth1\", \"c:eth1\"]\n";
    assert!(plan_text(t, Path::new(SEED), None).is_err());
}

#[test]
fn shell_words() {
    assert_eq!(
        super::super::shell::split(r#"sh -c "a && b --x 'y z'""#).unwrap(),
        ["sh", "-c", "a && b --x 'y z'"]
    );
    assert!(super::super::shell::split("a 'b").is_err());
}
