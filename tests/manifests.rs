//! The install manifests parse into the Kubernetes types they claim to be, carry the CRDs
//! the code generates, and grant each component what it uses and nothing it does not.

use std::collections::BTreeSet;
use std::path::Path;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::rbac::v1::{ClusterRole, Role};
use serde::Deserialize;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/manifests");

fn documents(file: &str) -> Vec<serde_yaml::Value> {
    let text = std::fs::read_to_string(Path::new(DIR).join(file)).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde_yaml::Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

fn of_kind<T: serde::de::DeserializeOwned>(file: &str, kind: &str) -> Vec<T> {
    documents(file)
        .into_iter()
        .filter(|d| d["kind"].as_str() == Some(kind))
        .map(|d| serde_yaml::from_value(d).unwrap_or_else(|e| panic!("{file}: {kind}: {e}")))
        .collect()
}

#[test]
fn kustomization_lists_every_manifest_and_each_parses() {
    let k = &documents("kustomization.yaml")[0];
    let listed: BTreeSet<String> = k["resources"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    let present: BTreeSet<String> = std::fs::read_dir(DIR)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".yaml") && n != "kustomization.yaml")
        .collect();
    assert_eq!(listed, present);
    for file in &present {
        for doc in documents(file) {
            let kind = doc["kind"]
                .as_str()
                .unwrap_or_else(|| panic!("{file}: document without kind"));
            assert!(
                doc["apiVersion"].as_str().is_some(),
                "{file}: {kind} without apiVersion"
            );
            assert!(
                doc["metadata"]["name"].as_str().is_some(),
                "{file}: {kind} without name"
            );
        }
    }
}

#[test]
fn manifests_carry_the_generated_crds() {
    let shipped = std::fs::read_to_string(Path::new(DIR).join("crds.yaml")).unwrap();
    assert!(
        shipped == ferrule::api::crds_yaml(),
        "manifests/crds.yaml differs from the generated CRDs: cp crds/crds.yaml manifests/"
    );
}

#[test]
fn speaker_daemonset_shares_frr_dirs_and_knows_its_node() {
    let ds: Vec<DaemonSet> = of_kind("speaker.yaml", "DaemonSet");
    let pod = ds[0].spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    assert_eq!(pod.host_network, Some(true));
    let containers: Vec<_> = pod.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(containers, ["frr", "ferrule"]);
    for c in &pod.containers {
        let mounts: BTreeSet<_> = c
            .volume_mounts
            .iter()
            .flatten()
            .map(|m| (m.name.as_str(), m.mount_path.as_str()))
            .collect();
        assert!(mounts.contains(&("frr-config", "/etc/frr")), "{}", c.name);
        assert!(
            mounts.contains(&("frr-sockets", "/var/run/frr")),
            "{}",
            c.name
        );
        assert!(
            c.liveness_probe.is_some(),
            "{} has no liveness probe",
            c.name
        );
    }
    let ferrule = &pod.containers[1];
    assert!(ferrule.readiness_probe.is_some());
    let node_env = ferrule
        .env
        .iter()
        .flatten()
        .find(|e| e.name == "NODE_NAME")
        .expect("NODE_NAME is set");
    let field = node_env
        .value_from
        .as_ref()
        .unwrap()
        .field_ref
        .as_ref()
        .unwrap();
    assert_eq!(field.field_path, "spec.nodeName");
}

fn grants(rules: &[k8s_openapi::api::rbac::v1::PolicyRule]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for r in rules {
        for g in r.api_groups.iter().flatten() {
            for res in r.resources.iter().flatten() {
                for v in &r.verbs {
                    out.insert(format!("{g}/{res}:{v}"));
                }
            }
        }
    }
    out
}

#[test]
fn rbac_is_least_privilege() {
    let croles: Vec<ClusterRole> = of_kind("rbac.yaml", "ClusterRole");
    let roles: Vec<Role> = of_kind("rbac.yaml", "Role");
    let of = |name: &str| -> BTreeSet<String> {
        let mut g = BTreeSet::new();
        for c in croles
            .iter()
            .filter(|c| c.metadata.name.as_deref() == Some(name))
        {
            g.extend(grants(c.rules.as_deref().unwrap_or_default()));
        }
        for r in roles
            .iter()
            .filter(|r| r.metadata.name.as_deref() == Some(name))
        {
            g.extend(grants(r.rules.as_deref().unwrap_or_default()));
        }
        g
    };
    let speaker = of("ferrule-speaker");
    let controller = of("ferrule-controller");
    // The speaker announces what the controller assigned: it never writes Services.
    assert!(speaker.iter().all(|g| !g.starts_with("/services")
        || g.ends_with(":get")
        || g.ends_with(":list")
        || g.ends_with(":watch")));
    assert!(speaker.contains("ferrule.io/bgpsessions/status:patch"));
    assert!(speaker.contains("/secrets:watch"));
    // The controller reads Secrets only to judge peers' passwords as the speakers will
    // (Valid must tell the truth), only in its own namespace, and never writes them.
    let controller_secrets: BTreeSet<&String> = controller
        .iter()
        .filter(|g| g.contains("secrets"))
        .collect();
    assert_eq!(
        controller_secrets,
        BTreeSet::from([&"/secrets:list".to_string(), &"/secrets:watch".to_string()])
    );
    let namespaced_only = croles
        .iter()
        .filter(|c| c.metadata.name.as_deref() == Some("ferrule-controller"))
        .all(|c| {
            !grants(c.rules.as_deref().unwrap_or_default())
                .iter()
                .any(|g| g.contains("secrets"))
        });
    assert!(
        namespaced_only,
        "the controller's Secret grant is a Role in its namespace"
    );
    assert!(controller.contains("/services/status:patch"));
    assert!(controller.contains("coordination.k8s.io/leases:update"));
    // Nobody may delete Services or touch RBAC.
    for g in speaker.iter().chain(&controller) {
        assert!(!g.starts_with("/services:delete"), "{g}");
        assert!(!g.starts_with("rbac.authorization.k8s.io"), "{g}");
        assert!(!g.contains('*'), "wildcard grant {g}");
    }
}

/// ferrule's own containers run as non-root with no capability, a read-only root and the
/// runtime's seccomp profile; FRR's container gets exactly the capabilities its comments
/// account for (e2e/lab_smoke.rs runs the daemons with that set).
#[test]
fn containers_run_with_least_privilege() {
    use k8s_openapi::api::apps::v1::Deployment;
    let ds: Vec<DaemonSet> = of_kind("speaker.yaml", "DaemonSet");
    let deploy: Vec<Deployment> = of_kind("controller.yaml", "Deployment");
    let speaker_pod = ds[0].spec.as_ref().unwrap().template.spec.clone().unwrap();
    let controller_pod = deploy[0]
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .clone()
        .unwrap();
    for (pod, name) in [(&speaker_pod, "ferrule"), (&controller_pod, "controller")] {
        let c = pod.containers.iter().find(|c| c.name == name).unwrap();
        let sc = c.security_context.as_ref().unwrap();
        let pod_sc = pod.security_context.clone().unwrap_or_default();
        assert_eq!(
            sc.run_as_non_root.or(pod_sc.run_as_non_root),
            Some(true),
            "{name}"
        );
        let uid = sc.run_as_user.or(pod_sc.run_as_user).unwrap();
        assert!(uid > 0, "{name}");
        assert_eq!(sc.read_only_root_filesystem, Some(true), "{name}");
        assert_eq!(sc.allow_privilege_escalation, Some(false), "{name}");
        let caps = sc.capabilities.as_ref().unwrap();
        assert_eq!(
            caps.drop.as_deref(),
            Some(&["ALL".to_string()][..]),
            "{name}"
        );
        assert!(caps.add.as_ref().is_none_or(|a| a.is_empty()), "{name}");
        let seccomp = sc
            .seccomp_profile
            .as_ref()
            .or(pod_sc.seccomp_profile.as_ref())
            .map(|p| p.type_.as_str());
        assert_eq!(seccomp, Some("RuntimeDefault"), "{name}");
    }
    // The sidecar reads FRR's config, never writes it.
    let ferrule = speaker_pod
        .containers
        .iter()
        .find(|c| c.name == "ferrule")
        .unwrap();
    let etc = ferrule
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.mount_path == "/etc/frr")
        .unwrap();
    assert_eq!(etc.read_only, Some(true));
    // It reaches the vty sockets as frr with frrvty, the ids the image fixes.
    let dockerfile =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/manifests/Dockerfile"))
            .unwrap();
    let sc = ferrule.security_context.as_ref().unwrap();
    assert!(dockerfile.contains(&format!("--uid {} --gid frr", sc.run_as_user.unwrap())));
    let groups = speaker_pod
        .security_context
        .as_ref()
        .unwrap()
        .supplemental_groups
        .clone()
        .unwrap();
    for g in &groups {
        assert!(
            dockerfile.contains(&format!("--gid {g} frrvty")),
            "group {g}"
        );
    }
    let frr = speaker_pod
        .containers
        .iter()
        .find(|c| c.name == "frr")
        .unwrap();
    let caps = frr
        .security_context
        .as_ref()
        .unwrap()
        .capabilities
        .clone()
        .unwrap();
    assert_eq!(caps.drop.as_deref(), Some(&["ALL".to_string()][..]));
    let mut add = caps.add.unwrap();
    add.sort();
    assert_eq!(
        add,
        [
            "CHOWN",
            "DAC_OVERRIDE",
            "FOWNER",
            "KILL",
            "NET_ADMIN",
            "NET_BIND_SERVICE",
            "NET_RAW",
            "SETGID",
            "SETUID",
            "SYS_ADMIN"
        ]
    );
}
