//! `ferrule render` as a user runs it: what reaches stdout is FRR config and nothing a
//! manifest smuggles in.

use std::process::Command;

#[test]
fn render_all_nodes_never_prints_a_hostile_node_name() {
    let dir = std::env::temp_dir().join(format!("ferrule-cli-render-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let seed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/seed");
    for e in std::fs::read_dir(&seed).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
    }
    std::fs::write(
        dir.join("99-hostile-node.yaml"),
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: \"evil\\nrouter bgp 1\\n neighbor 192.0.2.66 remote-as 1\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ferrule"))
        .args(["render", "--all-nodes", "--manifests"])
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("! ---- node "), "{stdout}");
    assert!(!stdout.contains("192.0.2.66"), "{stdout}");
    assert!(!stdout.contains("router bgp 1\n"), "{stdout}");
    assert!(
        stderr.contains("metadata.name is not a DNS-1123 subdomain"),
        "{stderr}"
    );
}
