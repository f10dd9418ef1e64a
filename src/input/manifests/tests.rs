use super::*;
use crate::input::dir::DirReader;

fn snapshot() -> Snapshot {
    Snapshot {
        namespace: "metallb-system".into(),
        ..Snapshot::default()
    }
}

const POOL: &str = "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p}\nspec: {addresses: [203.0.113.0/24]}\n";

#[test]
fn documents_kinds_and_namespaces() {
    let text = format!(
        "---\n# leading separator and comments are fine\n{POOL}--- # a comment after the separator\n\
         apiVersion: metallb.io/v1beta1\nkind: BGPPeer\nmetadata: {{name: t1}}\nspec: {{myASN: 1, peerASN: 2, peerAddress: 198.51.100.1, holdTime: 9s}}\n\
         ---\n---\n\
         apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: t2, namespace: elsewhere}}\nspec: {{myASN: 1, dynamicASN: external, interface: eth0}}\n\
         ---\napiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {{name: a}}\n\
         ---\napiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {{name: b}}\n\
         ---\napiVersion: metallb.io/v1beta1\nkind: Community\nmetadata: {{name: c}}\nspec: {{communities: [{{name: x, value: '1:1'}}]}}\n\
         ---\napiVersion: v1\nkind: Service\nmetadata: {{name: web}}\nspec: {{type: LoadBalancer}}\n\
         ---\napiVersion: v1\nkind: Secret\nmetadata: {{name: pw}}\ntype: kubernetes.io/basic-auth\ndata: {{password: aHVudGVyMg==}}\nstringData: {{username: me}}\n\
         ---\napiVersion: v1\nkind: Node\nmetadata: {{name: n1, namespace: nonsense}}\n\
         ---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: shop}}\n\
         ---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: web-1, namespace: shop}}\naddressType: IPv4\nendpoints: []\n\
         ---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app}}\n\
         ---\napiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {{name: l2}}\n"
    );
    let mut s = snapshot();
    let d = parse_str(&text, "all.yaml", &mut s);
    assert!(d.errors.is_empty(), "{:?}", d.errors);

    let ns = |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| m.namespace.clone();
    assert_eq!(ns(&s.pools[0].metadata).as_deref(), Some("metallb-system"));
    assert_eq!(s.peers.len(), 2);
    // v1beta1 converted to v1beta2, fields kept.
    assert_eq!(s.peers[0].spec.peer_asn, Some(2));
    assert_eq!(s.peers[0].spec.hold_time.as_deref(), Some("9s"));
    assert_eq!(s.peers[1].spec.interface.as_deref(), Some("eth0"));
    assert_eq!(ns(&s.peers[1].metadata).as_deref(), Some("elsewhere"));
    assert_eq!(s.advertisements.len(), 1);
    assert_eq!(s.bfd_profiles.len(), 1);
    assert_eq!(s.communities[0].spec.communities[0].value, "1:1");
    assert_eq!(ns(&s.services[0].metadata).as_deref(), Some("default"));
    // stringData is merged into data, as the API server does.
    let data = s.secrets[0].data.as_ref().unwrap();
    assert_eq!(data["password"].0, b"hunter2");
    assert_eq!(data["username"].0, b"me");
    assert!(s.secrets[0].string_data.is_none());
    // Cluster-scoped objects have no namespace.
    assert_eq!(ns(&s.nodes[0].metadata), None);
    assert_eq!(s.namespaces.len(), 1);
    assert_eq!(ns(&s.endpoint_slices[0].metadata).as_deref(), Some("shop"));

    let skipped: Vec<(&str, u32)> = d
        .warnings
        .iter()
        .map(|w| match w {
            Warning::Skipped { kind, at, .. } | Warning::Unsupported { kind, at, .. } => {
                (kind.as_str(), at.doc)
            }
            other => panic!("unexpected {other}"),
        })
        .collect();
    // Document numbers count the empty ones too (the leading `---` opens document 2).
    assert_eq!(skipped, [("Deployment", 14), ("L2Advertisement", 15)]);
    // An L2Advertisement is MetalLB's, but not ferrule's to do: said so, plainly.
    assert!(d.warnings[1]
        .to_string()
        .contains("L2 mode is outside ferrule"));
}

#[test]
fn broken_documents_do_not_stop_the_others() {
    let text = format!(
        "{POOL}---\nkey: *undefined_anchor\n---\nb: [1\n---\n\
         apiVersion: metallb.io/v1beta1\nkind: BGPPeer\nmetadata: {{name: bad}}\nspec: {{myASN: lots, peerASN: 2, peerAddress: x}}\n\
         ---\n- just\n- a list\n---\nmetadata: {{name: kindless}}\n---\n\
         apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {{name: good}}\n"
    );
    let mut s = snapshot();
    let d = parse_str(&text, "mixed.yaml", &mut s);
    assert_eq!(s.pools.len(), 1);
    assert_eq!(s.bfd_profiles.len(), 1);
    assert!(s.peers.is_empty());
    let messages: Vec<String> = d.errors.iter().map(ToString::to_string).collect();
    assert_eq!(messages.len(), 5, "{messages:#?}");
    assert!(
        messages[0].starts_with("mixed.yaml: document 2 (line 6): invalid YAML: unknown anchor"),
        "{}",
        messages[0]
    );
    assert!(
        messages[1].starts_with("mixed.yaml: document 3 (line 8): invalid YAML"),
        "{}",
        messages[1]
    );
    assert!(
        messages[2].starts_with("mixed.yaml: document 4 (line 10): BGPPeer bad: ")
            && messages[2].contains("myASN"),
        "{}",
        messages[2]
    );
    assert!(
        messages[3].contains("document 5") && messages[3].contains("not a Kubernetes object"),
        "{}",
        messages[3]
    );
    assert!(
        messages[4].contains("document 6") && messages[4].contains("missing apiVersion or kind"),
        "{}",
        messages[4]
    );
}

#[test]
fn later_documents_win() {
    let peer = |name: &str, asn: u32, version: &str| {
        format!("apiVersion: metallb.io/{version}\nkind: BGPPeer\nmetadata: {{name: {name}}}\nspec: {{myASN: {asn}, peerASN: 2, peerAddress: 198.51.100.1}}\n")
    };
    let mut s = snapshot();
    let text = [
        peer("t1", 1, "v1beta1"),
        peer("t2", 2, "v1beta1"),
        peer("t1", 3, "v1beta2"),
    ]
    .join("---\n");
    let d = parse_str(&text, "a.yaml", &mut s);
    // Across calls (files) too, and across API versions of the same kind.
    let d2 = parse_str(&peer("t2", 4, "v1beta1"), "b.yaml", &mut s);
    let asns: Vec<(String, u32)> = s
        .peers
        .iter()
        .map(|p| (p.metadata.name.clone().unwrap(), p.spec.my_asn))
        .collect();
    assert_eq!(asns, [("t1".to_string(), 3), ("t2".to_string(), 4)]);
    let replaced = |d: &Diagnostics| -> Vec<String> {
        d.warnings
            .iter()
            .map(|w| match w {
                Warning::Replaced { object, at } => format!("{}#{} {object}", at.file, at.doc),
                other => panic!("unexpected {other}"),
            })
            .collect()
    };
    assert_eq!(replaced(&d), ["a.yaml#3 BGPPeer metallb-system/t1"]);
    assert_eq!(replaced(&d2), ["b.yaml#1 BGPPeer metallb-system/t2"]);
    // The same name in another namespace is another object.
    parse_str(
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n",
        "c.yaml",
        &mut s,
    );
    assert_eq!(s.services.len(), 2);
}

#[test]
fn lists_are_unpacked() {
    let text = "apiVersion: v1\nkind: List\nitems:\n\
                - {apiVersion: v1, kind: Node, metadata: {name: n1}}\n\
                - {apiVersion: v1, kind: Node, metadata: {name: n2}}\n\
                - {apiVersion: v1, kind: Node, metadata: {name: n3}, spec: {unschedulable: maybe}}\n\
                ---\napiVersion: v1\nkind: NodeList\nitems: [{apiVersion: v1, kind: Node, metadata: {name: n4}}]\n";
    let mut s = snapshot();
    let d = parse_str(text, "list.yaml", &mut s);
    let names: Vec<_> = s
        .nodes
        .iter()
        .map(|n| n.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["n1", "n2", "n4"]);
    assert_eq!(d.errors.len(), 1);
    let e = d.errors[0].to_string();
    assert!(
        e.starts_with("list.yaml: document 1 (line 1), items[2]: Node n3: "),
        "{e}"
    );
}

#[test]
fn unknown_fields_are_warned_about() {
    let text = "apiVersion: metallb.io/v1beta1\nkind: BGPPeer\nmetadata: {name: t1}\n\
                spec:\n  myASN: 1\n  peerASN: 2\n  peerAddress: 198.51.100.1\n  holdtime: 90s\n\
                \x20 nodeSelectors: [{matchLabels: {any-key: fine}, matchExpresions: []}]\nstatuss: {}\n";
    let mut s = snapshot();
    let d = parse_str(text, "typo.yaml", &mut s);
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    assert_eq!(s.peers.len(), 1);
    let fields: Vec<&str> = d
        .warnings
        .iter()
        .map(|w| match w {
            Warning::UnknownField { field, object, .. } => {
                assert_eq!(object.to_string(), "BGPPeer metallb-system/t1");
                field.as_str()
            }
            other => panic!("unexpected {other}"),
        })
        .collect();
    assert_eq!(
        fields,
        [
            "spec.holdtime",
            "spec.nodeSelectors[0].matchExpresions",
            "statuss"
        ]
    );
}

#[test]
fn load_dir_reads_yaml_files_in_order() {
    let dir = std::env::temp_dir().join(format!("ferrule-manifests-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    let pool = |cidr: &str| {
        format!("apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: p}}\nspec: {{addresses: [{cidr}]}}\n")
    };
    std::fs::write(dir.join("10-b.yml"), pool("198.51.100.0/24")).unwrap();
    std::fs::write(dir.join("02-a.yaml"), pool("203.0.113.0/24")).unwrap();
    std::fs::write(dir.join("20-c.yaml"), "a: [\n").unwrap();
    std::fs::write(dir.join("notes.txt"), "not yaml: [").unwrap();
    std::fs::write(dir.join("sub/99.yaml"), pool("192.0.2.0/24")).unwrap();

    let loaded = load_dir(&dir, "ns1").unwrap();
    assert_eq!(loaded.snapshot.namespace, "ns1");
    assert_eq!(loaded.snapshot.pools.len(), 1);
    // 10-b.yml comes after 02-a.yaml, so it wins; sub/ is not read.
    assert_eq!(loaded.snapshot.pools[0].spec.addresses, ["198.51.100.0/24"]);
    assert_eq!(
        loaded.snapshot.pools[0].metadata.namespace.as_deref(),
        Some("ns1")
    );
    assert_eq!(loaded.errors.len(), 1);
    assert!(loaded.errors[0]
        .to_string()
        .contains("20-c.yaml: document 1"));
    assert_eq!(loaded.warnings.len(), 1);

    let missing = load_dir(&dir.join("absent"), "ns1").unwrap_err();
    assert!(matches!(missing, ManifestError::Io { .. }));
    assert!(missing.to_string().contains("absent"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn separators_follow_kubectl() {
    let docs: Vec<(u32, &str)> = split_documents("a: 1\n---\nb: 2\n--- # c\nc: 3\n---x: 4\n");
    assert_eq!(docs, [(1, "a: 1\n"), (3, "b: 2\n"), (5, "c: 3\n---x: 4\n")]);
    assert_eq!(split_documents(""), [(1, "")]);
}

#[test]
fn a_file_cut_off_mid_write_keeps_its_last_good_content() {
    let dir = std::env::temp_dir().join(format!("ferrule-dir-reader-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("pools.yaml");
    let two = format!("{POOL}---\n{}", POOL.replace("name: p", "name: q"));
    let mut reader = DirReader::default();
    let names = |l: &Loaded| -> Vec<String> {
        l.snapshot
            .pools
            .iter()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect()
    };
    std::fs::write(&file, &two).unwrap();
    assert_eq!(names(&reader.load(&dir, "ns", None).unwrap()), ["p", "q"]);
    // Cut in q's `kind`: what is left parses (p, and a kind nobody reads), yet it is no
    // deletion of q.
    let cut_at = two.rfind("IPAddressPool").unwrap() + "IPAddr".len();
    for cut in [&two[..cut_at], ""] {
        std::fs::write(&file, cut).unwrap();
        let l = reader.load(&dir, "ns", None).unwrap();
        assert_eq!(names(&l), ["p", "q"], "{cut:?}");
        assert!(
            l.errors[0].to_string().contains("mid-write"),
            "{:?}",
            l.errors
        );
        assert!(matches!(l.warnings[..], [Warning::KeptLastGood { .. }]));
    }
    // An edit that ends with a newline is taken: q goes.
    std::fs::write(&file, POOL).unwrap();
    assert_eq!(names(&reader.load(&dir, "ns", None).unwrap()), ["p"]);
    // A fresh reader (`ferrule render`) has no last good content: it reads what is there.
    std::fs::write(&file, &two[..cut_at]).unwrap();
    assert_eq!(
        names(&DirReader::default().load(&dir, "ns", None).unwrap()),
        ["p"]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn hostile_files_cost_only_themselves() {
    let base = std::env::temp_dir().join(format!("ferrule-hostile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let dir = base.join("manifests");
    std::fs::create_dir_all(dir.join("..data")).unwrap();
    let pool = |name: &str, cidr: &str| {
        format!("apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: {name}}}\nspec: {{addresses: [{cidr}]}}\n")
    };
    std::fs::write(dir.join("01-good.yaml"), pool("good", "203.0.113.0/24")).unwrap();
    // A ConfigMap volume's layout: x.yaml -> ..data/x.yaml, inside the directory: read.
    std::fs::write(dir.join("..data/02-cm.yaml"), pool("cm", "198.51.100.0/24")).unwrap();
    std::os::unix::fs::symlink("..data/02-cm.yaml", dir.join("02-cm.yaml")).unwrap();
    // A link out of the directory: refused, whatever it points at.
    std::fs::write(base.join("outside.yaml"), pool("outside", "192.0.2.0/24")).unwrap();
    std::os::unix::fs::symlink(base.join("outside.yaml"), dir.join("03-out.yaml")).unwrap();
    // A few hundred KB of nested aliases (a "billion laughs").
    let mut bomb = format!(
        "pad: [{}]\na0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
        vec!["1"; 100_000].join(",")
    );
    for i in 1..7 {
        let refs: Vec<String> = (0..9).map(|_| format!("*a{}", i - 1)).collect();
        bomb.push_str(&format!("a{i}: &a{i} [{}]\n", refs.join(", ")));
    }
    std::fs::write(dir.join("04-bomb.yaml"), &bomb).unwrap();
    // Bigger than a manifest file may be (sparse: no disk is spent).
    let big = std::fs::File::create(dir.join("05-big.yaml")).unwrap();
    big.set_len(MAX_FILE_BYTES + 1).unwrap();

    let mut reader = DirReader::default();
    let started = std::time::Instant::now();
    let loaded = reader.load(&dir, "ns", None).unwrap();
    let took = started.elapsed();
    let mut names: Vec<String> = loaded
        .snapshot
        .pools
        .iter()
        .map(|p| p.metadata.name.clone().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["cm", "good"]);
    let errors: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 3, "{errors:#?}");
    assert!(
        errors
            .iter()
            .any(|e| e.contains("03-out.yaml") && e.contains("outside the manifest directory")),
        "{errors:#?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("04-bomb.yaml") && e.contains("expands to more than")),
        "{errors:#?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("05-big.yaml") && e.contains("MiB")),
        "{errors:#?}"
    );
    eprintln!("hostile directory read in {took:?}");

    // A file that was good and turns hostile keeps its last good content.
    std::fs::write(dir.join("01-good.yaml"), &bomb).unwrap();
    let loaded = reader.load(&dir, "ns", None).unwrap();
    assert!(loaded
        .snapshot
        .pools
        .iter()
        .any(|p| p.metadata.name.as_deref() == Some("good")));
    assert!(loaded
        .warnings
        .iter()
        .any(|w| matches!(w, Warning::KeptLastGood { file } if file.contains("01-good"))));
    std::fs::remove_dir_all(&base).unwrap();
}

#[test]
fn a_change_reparses_only_the_file_that_changed() {
    let dir = std::env::temp_dir().join(format!("ferrule-parse-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let pool = |name: &str, cidr: &str| {
        format!("apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: {name}}}\nspec: {{addresses: [{cidr}]}}\n")
    };
    for i in 0..10 {
        std::fs::write(
            dir.join(format!("{i:02}.yaml")),
            pool(&format!("p{i}"), "203.0.113.0/24"),
        )
        .unwrap();
    }
    // A later file redefines p0: the later definition wins, with the warning.
    std::fs::write(dir.join("99.yaml"), pool("p0", "198.51.100.0/24")).unwrap();
    let mut reader = DirReader::default();
    let first = reader.load(&dir, "ns", None).unwrap();
    assert_eq!(reader.parses(), 11);
    assert_eq!(first.snapshot.pools.len(), 10);
    let again = reader.load(&dir, "ns", None).unwrap();
    assert_eq!(reader.parses(), 11, "nothing changed, nothing parsed");
    assert_eq!(again.snapshot, first.snapshot);
    assert_eq!(again.warnings, first.warnings);
    assert!(
        matches!(&again.warnings[..], [Warning::Replaced { at, .. }] if at.file.ends_with("99.yaml"))
    );

    std::fs::write(dir.join("05.yaml"), pool("p5", "192.0.2.0/24")).unwrap();
    let changed = reader.load(&dir, "ns", None).unwrap();
    assert_eq!(reader.parses(), 12, "only 05.yaml was parsed again");
    let p5 = changed
        .snapshot
        .pools
        .iter()
        .find(|p| p.metadata.name.as_deref() == Some("p5"))
        .unwrap();
    assert_eq!(p5.spec.addresses, ["192.0.2.0/24"]);
    // What a fresh reader makes of the directory is the same.
    let fresh = DirReader::default().load(&dir, "ns", None).unwrap();
    assert_eq!(fresh.snapshot, changed.snapshot);
    std::fs::remove_file(dir.join("99.yaml")).unwrap();
    let removed = reader.load(&dir, "ns", None).unwrap();
    let p0 = removed
        .snapshot
        .pools
        .iter()
        .find(|p| p.metadata.name.as_deref() == Some("p0"))
        .unwrap();
    assert_eq!(p0.spec.addresses, ["203.0.113.0/24"]);
    assert!(removed.warnings.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A malformed Secret (or a BGPPeer's non-string password) is reported by its shape, never
/// by the value serde would quote.
#[test]
fn errors_of_documents_with_secrets_quote_no_value() {
    let secret =
        "apiVersion: v1\nkind: Secret\nmetadata: {name: pw}\ntype: kubernetes.io/basic-auth\n";
    let peer = "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: p}\nspec:\n  myASN: 1\n  peerASN: 2\n  peerAddress: 192.0.2.1\n";
    let table = [
        (
            format!("{secret}stringData: \"hunter2-x\"\n"),
            "stringData: invalid type: string \"<redacted>\", expected a map",
        ),
        (
            format!("{secret}stringData: \"hun\\\"ter2-x\"\n"),
            "stringData: invalid type: string \"<redacted>\", expected a map",
        ),
        (
            format!("{secret}stringData: {{hunter2-x: 5}}\n"),
            "invalid type: integer `<redacted>`, expected a string",
        ),
        (
            format!("{secret}immutable: hunter2-x\n"),
            "immutable: invalid type: string \"<redacted>\", expected a boolean",
        ),
        (
            format!("{peer}  password: 20240917\n"),
            "invalid type: integer `<redacted>`, expected a string",
        ),
        (
            format!("{peer}  password: 1.5e3\n"),
            "invalid type: floating point `<redacted>`, expected a string",
        ),
    ];
    for (text, want) in &table {
        let mut s = snapshot();
        let d = parse_str(text, "f.yaml", &mut s);
        let said: Vec<String> = d.errors.iter().map(ToString::to_string).collect();
        assert_eq!(said.len(), 1, "{text}: {said:?}");
        assert!(said[0].ends_with(want), "{text}: {said:?}");
        assert!(
            !said[0].contains("hunter2") && !said[0].contains("2024"),
            "{said:?}"
        );
    }
    // Other documents keep the value: it is what the user needs to see.
    let mut s = snapshot();
    let d = parse_str(
        &format!("{peer}  holdTime: [9s]\n  password: ok\n"),
        "f.yaml",
        &mut s,
    );
    assert_eq!(d.errors.len(), 1);
}
