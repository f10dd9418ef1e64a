//! `core::limits` against running FRR daemons: every value the limits accept, FRR takes
//! (the line is in the running config afterwards), and where FRR itself draws the line
//! (BFD profile names, local-as, one-word passwords) it draws it exactly where the limits
//! do. Validation and rendering both ask `limits`, so this is what keeps "valid" meaning
//! "renderable" on a real FRR.

#[path = "harness.rs"]
mod harness;

use ferrule::limits;
use ferrule::model::RemoteAs;
use harness::{Instance, Lab};

/// Applies `lines` in config mode; true when FRR took every one and `expect` then shows in
/// the running config.
fn takes(inst: &Instance, lines: &[String], expect: &str) -> bool {
    let mut cmds = vec!["configure terminal".to_string()];
    cmds.extend(lines.iter().cloned());
    let cmds: Vec<&str> = cmds.iter().map(String::as_str).collect();
    let ok = inst.vtysh(&cmds).is_ok();
    ok && inst.running_config().lines().any(|l| l.trim() == expect)
}

fn cleanup(inst: &Instance, lines: &[&str]) {
    let mut cmds = vec!["configure terminal"];
    cmds.extend(lines);
    let _ = inst.vtysh(&cmds);
}

#[test]
fn what_limits_accept_frr_takes() {
    let Some(lab) = Lab::start(1) else { return };
    let node = lab.node(0);

    // BFD profile names: bfdd's own limit, both ways.
    for len in [1, 63, 64, 65, 80] {
        let name = "p".repeat(len);
        let took = takes(
            node,
            &["bfd".into(), format!("profile {name}")],
            &format!("profile {name}"),
        );
        assert_eq!(
            took,
            limits::bfd_profile_name(&name).is_ok(),
            "BFD profile name of {len} characters: FRR took it: {took}"
        );
        cleanup(node, &["bfd", &format!("no profile {name}")]);
    }

    // Passwords: every one the limits accept is taken as written; one with whitespace is
    // refused by FRR too.
    let router = |pw: &str| {
        vec![
            "router bgp 65100".to_string(),
            "neighbor 192.0.2.99 remote-as 65000".into(),
            format!("neighbor 192.0.2.99 password {pw}"),
        ]
    };
    let passwords = [
        "s3cret".to_string(),
        "#not-a-comment".into(),
        "!bang".into(),
        "quo\"te".into(),
        "back\\slash".into(),
        "pässwörd".into(),
        "é".repeat(40),
        "x".repeat(80),
    ];
    for pw in &passwords {
        assert!(limits::password(pw).is_ok(), "{pw:?}");
        assert!(
            takes(
                node,
                &router(pw),
                &format!("neighbor 192.0.2.99 password {pw}")
            ),
            "FRR must take password {pw:?}"
        );
    }
    for pw in ["two words", "tab\there"] {
        assert!(limits::password(pw).is_err(), "{pw:?}");
        assert!(
            !takes(
                node,
                &router(pw),
                &format!("neighbor 192.0.2.99 password {pw}")
            ),
            "FRR takes {pw:?} differently than written"
        );
    }
    cleanup(node, &["no router bgp 65100"]);

    // local-as: eBGP only, never the peer's own AS; FRR refuses the rest.
    let cases = [
        (RemoteAs::Asn(65000), 65200u32),
        (RemoteAs::Asn(65100), 65200),
        (RemoteAs::Asn(65200), 65200),
        (RemoteAs::External, 65200),
        (RemoteAs::Internal, 65200),
    ];
    for (remote, local) in cases {
        let remote_as = match remote {
            RemoteAs::Asn(a) => a.to_string(),
            RemoteAs::External => "external".into(),
            RemoteAs::Internal => "internal".into(),
        };
        let took = takes(
            node,
            &[
                "router bgp 65100".into(),
                format!("neighbor 192.0.2.98 remote-as {remote_as}"),
                format!("neighbor 192.0.2.98 local-as {local} no-prepend replace-as"),
            ],
            &format!("neighbor 192.0.2.98 local-as {local} no-prepend replace-as"),
        );
        assert_eq!(
            took,
            limits::local_as(65100, remote, local).is_ok(),
            "local-as {local} with remote-as {remote_as}: FRR took it: {took}"
        );
        cleanup(node, &["no router bgp 65100"]);
    }

    // VRF and interface names at the longest Linux takes: FRR takes them.
    let vrf = "v".repeat(15);
    assert!(limits::vrf_name(&vrf).is_ok());
    assert!(takes(
        node,
        &[format!("router bgp 65100 vrf {vrf}")],
        &format!("router bgp 65100 vrf {vrf}")
    ));
    cleanup(node, &[&format!("no router bgp 65100 vrf {vrf}")]);
    let ifname = "i".repeat(15);
    assert!(limits::interface_name(&ifname).is_ok());
    assert!(takes(
        node,
        &[
            "router bgp 65100".into(),
            format!("neighbor {ifname} interface remote-as external")
        ],
        &format!("neighbor {ifname} interface remote-as external")
    ));
    cleanup(node, &["no router bgp 65100"]);
}
