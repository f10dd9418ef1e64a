//! Core Kubernetes objects (Services, EndpointSlices, Nodes, Namespaces) as the model sees
//! them. Pure conversions: no client, no I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Namespace, Node as K8sNode};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::model::{
    Endpoint, IpFamily, IpFamilyPolicy, Labels, Node, ObjectRef, Service, ServiceKey, ServicePort,
};
use super::snapshot::{Snapshot, ValidationError, BGP_EXTRAS};

/// Addresses the Service asks for (comma separated, at most one per family).
pub const ANNOTATION_IPS: &str = "metallb.io/loadBalancerIPs";
/// The pool the Service wants its address from.
pub const ANNOTATION_POOL: &str = "metallb.io/address-pool";
/// Services with equal keys may share an address.
pub const ANNOTATION_SHARING: &str = "metallb.io/allow-shared-ip";
/// Set by the controller (as MetalLB's does): the pool a Service's addresses came from.
pub const ANNOTATION_ALLOCATED_FROM: &str = "metallb.io/ip-allocated-from-pool";
/// MetalLB's older annotation prefix, still honoured by MetalLB; read when the
/// `metallb.io/` form is absent so Services written for older releases keep working.
const LEGACY_PREFIX: &str = "metallb.universe.tf/";

/// The label EndpointSlices carry to name their Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

fn annotation<'a>(annotations: Option<&'a BTreeMap<String, String>>, key: &str) -> Option<&'a str> {
    let annotations = annotations?;
    let legacy = key
        .strip_prefix("metallb.io/")
        .map(|rest| format!("{LEGACY_PREFIX}{rest}"));
    annotations
        .get(key)
        .or_else(|| legacy.and_then(|k| annotations.get(&k)))
        .map(String::as_str)
}

fn family(ip: &IpAddr) -> IpFamily {
    match ip {
        IpAddr::V4(_) => IpFamily::V4,
        IpAddr::V6(_) => IpFamily::V6,
    }
}

/// Every Service of type LoadBalancer, sorted by key, plus the problems found in them.
///
/// A Service whose own spec or annotations are wrong (unparsable or contradictory address
/// requests, unknown IP family or policy) is reported and left out of the result: handing
/// it some other address than the one it asked for would be worse than handing out none,
/// and MetalLB likewise allocates nothing to such a Service. Services of another
/// loadBalancerClass are returned with `is_ours == false` and never reported: their
/// annotations are not ours to judge.
pub fn services(
    snapshot: &Snapshot,
    lb_class: Option<&str>,
) -> (Vec<Service>, Vec<ValidationError>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for svc in &snapshot.services {
        let Some(spec) = &svc.spec else { continue };
        if spec.type_.as_deref() != Some("LoadBalancer") {
            continue;
        }
        let namespace = svc.metadata.namespace.as_deref().unwrap_or("default");
        let name = svc.metadata.name.as_deref().unwrap_or_default();
        let object = ObjectRef::new("Service", namespace, name);
        let mut errs = Vec::new();
        let mut err = |field: &str, message: String| {
            errs.push(ValidationError::new(object.clone(), field, message))
        };
        let is_ours =
            spec.load_balancer_class.is_none() || spec.load_balancer_class.as_deref() == lb_class;
        let annotations = svc.metadata.annotations.as_ref();

        let requested_ips = if is_ours {
            requested_ips(
                spec.load_balancer_ip.as_deref(),
                annotation(annotations, ANNOTATION_IPS),
                &mut err,
            )
        } else {
            Vec::new()
        };

        let mut ip_families = Vec::new();
        for (i, f) in spec.ip_families.iter().flatten().enumerate() {
            match f.as_str() {
                "IPv4" => ip_families.push(IpFamily::V4),
                "IPv6" => ip_families.push(IpFamily::V6),
                other if is_ours => err(
                    &format!("spec.ipFamilies[{i}]"),
                    format!("unknown IP family {other:?} (IPv4 or IPv6)"),
                ),
                _ => {}
            }
        }
        if ip_families.is_empty() {
            // The API server fills ipFamilies; manifests often leave it out.
            ip_families = requested_ips.iter().map(family).collect();
            ip_families.sort();
            ip_families.dedup();
            if ip_families.is_empty() {
                ip_families.push(IpFamily::V4);
            }
        }
        let ip_family_policy = match spec.ip_family_policy.as_deref() {
            None | Some("SingleStack") => IpFamilyPolicy::SingleStack,
            Some("PreferDualStack") => IpFamilyPolicy::PreferDualStack,
            Some("RequireDualStack") => IpFamilyPolicy::RequireDualStack,
            Some(other) => {
                if is_ours {
                    err(
                        "spec.ipFamilyPolicy",
                        format!("unknown ipFamilyPolicy {other:?} (SingleStack, PreferDualStack or RequireDualStack)"),
                    );
                }
                IpFamilyPolicy::SingleStack
            }
        };

        let ports = spec
            .ports
            .iter()
            .flatten()
            .map(|p| ServicePort {
                protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                port: p.port,
            })
            .collect();
        let current_ips = svc
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .into_iter()
            .flatten()
            // The status is written by us; anything unparsable there is not an address we
            // handed out.
            .filter_map(|ing| ing.ip.as_deref()?.parse().ok())
            .collect();

        if !errs.is_empty() {
            errors.append(&mut errs);
            continue;
        }
        out.push(Service {
            key: ServiceKey::new(namespace, name),
            labels: svc.metadata.labels.clone().unwrap_or_default(),
            is_ours,
            etp_local: spec.external_traffic_policy.as_deref() == Some("Local"),
            requested_ips,
            requested_pool: annotation(annotations, ANNOTATION_POOL).map(str::to_owned),
            sharing_key: annotation(annotations, ANNOTATION_SHARING).map(str::to_owned),
            ports,
            selector: spec.selector.clone().unwrap_or_default(),
            ip_families,
            ip_family_policy,
            current_pool: annotation(annotations, ANNOTATION_ALLOCATED_FROM).map(str::to_owned),
            current_ips,
        });
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    errors.sort();
    (out, errors)
}

/// `spec.loadBalancerIP` (deprecated, one address) or the annotation (comma separated):
/// never both, at most one address per family.
fn requested_ips(
    spec_ip: Option<&str>,
    annotated: Option<&str>,
    err: &mut impl FnMut(&str, String),
) -> Vec<IpAddr> {
    let spec_ip = spec_ip.filter(|s| !s.trim().is_empty());
    let (field, text) = match (spec_ip, annotated) {
        (Some(_), Some(_)) => {
            err(
                &format!("metadata.annotations[{ANNOTATION_IPS}]"),
                "spec.loadBalancerIP and the metallb.io/loadBalancerIPs annotation are mutually exclusive".into(),
            );
            return Vec::new();
        }
        (Some(ip), None) => ("spec.loadBalancerIP".to_owned(), ip),
        (None, Some(ips)) => (format!("metadata.annotations[{ANNOTATION_IPS}]"), ips),
        (None, None) => return Vec::new(),
    };
    let mut ips: Vec<IpAddr> = Vec::new();
    for part in text.split(',').map(str::trim) {
        match part.parse::<IpAddr>() {
            Ok(ip) => ips.push(ip),
            Err(_) => {
                err(&field, format!("{part:?} is not an IP address"));
                return Vec::new();
            }
        }
    }
    if ips.len() > 2 {
        err(
            &field,
            format!(
                "{} addresses requested; at most two (one IPv4, one IPv6)",
                ips.len()
            ),
        );
        return Vec::new();
    }
    if let [a, b] = ips[..] {
        if family(&a) == family(&b) {
            err(
                &field,
                format!("{a} and {b} are of the same family; at most one address per family"),
            );
            return Vec::new();
        }
    }
    ips
}

/// Endpoints by Service: an endpoint serves when it has an address and is ready (unset
/// counts as ready) or serving (terminating but still serving counts, as in MetalLB).
/// Slices without the service-name label belong to no Service and are ignored.
pub fn endpoints<S: std::borrow::Borrow<EndpointSlice>>(
    slices: &[S],
) -> BTreeMap<ServiceKey, Vec<Endpoint>> {
    let mut out: BTreeMap<ServiceKey, BTreeSet<Endpoint>> = BTreeMap::new();
    for slice in slices.iter().map(|s| s.borrow()) {
        let Some(service) = slice
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(SERVICE_NAME_LABEL))
        else {
            continue;
        };
        let namespace = slice.metadata.namespace.as_deref().unwrap_or("default");
        let entry = out.entry(ServiceKey::new(namespace, service)).or_default();
        for ep in &slice.endpoints {
            entry.insert(Endpoint {
                node: ep.node_name.clone(),
                serving: serves(ep),
            });
        }
    }
    out.into_iter()
        .map(|(k, v)| (k, v.into_iter().collect()))
        .collect()
}

/// The serving rule for one endpoint (see [`endpoints`]).
pub fn serves(ep: &k8s_openapi::api::discovery::v1::Endpoint) -> bool {
    let conditions = ep.conditions.as_ref();
    let ready = conditions.and_then(|c| c.ready).unwrap_or(true);
    let serving = conditions.and_then(|c| c.serving).unwrap_or(false);
    !ep.addresses.is_empty() && (ready || serving)
}

/// Nodes by name.
pub fn nodes(nodes: &[K8sNode]) -> BTreeMap<String, Node> {
    nodes
        .iter()
        .map(|n| {
            let name = n.metadata.name.clone().unwrap_or_default();
            let network_unavailable = n
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .into_iter()
                .flatten()
                .any(|c| c.type_ == "NetworkUnavailable" && c.status == "True");
            let node = Node {
                name: name.clone(),
                labels: n.metadata.labels.clone().unwrap_or_default(),
                network_unavailable,
            };
            (name, node)
        })
        .collect()
}

/// The text of MetalLB's `bgpextras` ConfigMap in ferrule's namespace (key `extras`), if
/// it has any.
pub fn bgp_extras(snapshot: &Snapshot) -> Option<String> {
    let (name, key) = BGP_EXTRAS;
    snapshot
        .config_maps
        .iter()
        .find(|c| {
            c.metadata.name.as_deref() == Some(name)
                && c.metadata.namespace.as_deref() == Some(snapshot.namespace.as_str())
        })
        .and_then(|c| c.data.as_ref()?.get(key).cloned())
        .filter(|t| !t.trim().is_empty())
}

/// Namespace labels by namespace name (for pools' namespaceSelectors).
pub fn namespace_labels(namespaces: &[Namespace]) -> BTreeMap<String, Labels> {
    namespaces
        .iter()
        .map(|ns| {
            (
                ns.metadata.name.clone().unwrap_or_default(),
                ns.metadata.labels.clone().unwrap_or_default(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(yaml: &str) -> Snapshot {
        let mut s = Snapshot::default();
        for doc in yaml.split("\n---\n") {
            s.services
                .push(std::sync::Arc::new(serde_yaml::from_str(doc).unwrap()));
        }
        s
    }

    fn svc(extra_meta: &str, extra_spec: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: shop\n{extra_meta}spec:\n  type: LoadBalancer\n  ports: [{{port: 443}}, {{port: 53, protocol: UDP}}]\n  selector: {{app: web}}\n{extra_spec}"
        )
    }

    fn one(extra_meta: &str, extra_spec: &str) -> (Option<Service>, Vec<ValidationError>) {
        let (mut out, errors) = services(&snapshot(&svc(extra_meta, extra_spec)), Some("ferrule"));
        assert!(out.len() <= 1);
        (out.pop(), errors)
    }

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn converts_a_service() {
        let (s, errors) = one(
            "  labels: {tier: front}\n  annotations:\n    metallb.io/address-pool: prod\n    metallb.io/allow-shared-ip: k1\n",
            "  externalTrafficPolicy: Local\n  loadBalancerIP: 203.0.113.9\n",
        );
        assert_eq!(errors, vec![]);
        let s = s.unwrap();
        assert_eq!(s.key, ServiceKey::new("shop", "web"));
        assert!(s.is_ours && s.etp_local);
        assert_eq!(s.requested_ips, ips(&["203.0.113.9"]));
        assert_eq!(s.requested_pool.as_deref(), Some("prod"));
        assert_eq!(s.sharing_key.as_deref(), Some("k1"));
        assert_eq!(s.labels.get("tier").map(String::as_str), Some("front"));
        assert_eq!(s.selector.get("app").map(String::as_str), Some("web"));
        assert_eq!(
            s.ports.into_iter().collect::<Vec<_>>(),
            vec![
                ServicePort {
                    protocol: "TCP".into(),
                    port: 443
                },
                ServicePort {
                    protocol: "UDP".into(),
                    port: 53
                },
            ]
        );
        assert_eq!(s.ip_families, vec![IpFamily::V4]);
        assert_eq!(s.ip_family_policy, IpFamilyPolicy::SingleStack);
    }

    /// (metadata lines, spec lines, requested IPs, families, error field and substring)
    type Case = (
        String,
        &'static str,
        Vec<IpAddr>,
        Vec<IpFamily>,
        Option<(&'static str, &'static str)>,
    );

    #[test]
    fn requested_addresses_and_families() {
        let ann = |v: &str| format!("  annotations:\n    metallb.io/loadBalancerIPs: \"{v}\"\n");
        let cases: Vec<Case> = vec![
            (String::new(), "", vec![], vec![IpFamily::V4], None),
            (
                ann("2001:db8::5"),
                "",
                ips(&["2001:db8::5"]),
                vec![IpFamily::V6],
                None,
            ),
            (
                ann("203.0.113.5, 2001:db8::5"),
                "",
                ips(&["203.0.113.5", "2001:db8::5"]),
                vec![IpFamily::V4, IpFamily::V6],
                None,
            ),
            (
                ann("2001:db8::5"),
                "  ipFamilies: [IPv6, IPv4]\n  ipFamilyPolicy: RequireDualStack\n",
                ips(&["2001:db8::5"]),
                vec![IpFamily::V6, IpFamily::V4],
                None,
            ),
            (
                "  annotations:\n    metallb.universe.tf/loadBalancerIPs: 203.0.113.6\n".into(),
                "",
                ips(&["203.0.113.6"]),
                vec![IpFamily::V4],
                None,
            ),
            (
                String::new(),
                "  loadBalancerIP: \"\"\n",
                vec![],
                vec![IpFamily::V4],
                None,
            ),
            (
                ann("203.0.113.5"),
                "  loadBalancerIP: 203.0.113.5\n",
                vec![],
                vec![],
                Some((
                    "metadata.annotations[metallb.io/loadBalancerIPs]",
                    "mutually exclusive",
                )),
            ),
            (
                ann("203.0.113.500"),
                "",
                vec![],
                vec![],
                Some((
                    "metadata.annotations[metallb.io/loadBalancerIPs]",
                    "\"203.0.113.500\" is not an IP address",
                )),
            ),
            (
                String::new(),
                "  loadBalancerIP: web\n",
                vec![],
                vec![],
                Some(("spec.loadBalancerIP", "\"web\" is not an IP address")),
            ),
            (
                ann("203.0.113.5,203.0.113.6"),
                "",
                vec![],
                vec![],
                Some((
                    "metadata.annotations[metallb.io/loadBalancerIPs]",
                    "at most one address per family",
                )),
            ),
            (
                ann("203.0.113.5,2001:db8::1,2001:db8::2"),
                "",
                vec![],
                vec![],
                Some((
                    "metadata.annotations[metallb.io/loadBalancerIPs]",
                    "3 addresses requested",
                )),
            ),
            (
                String::new(),
                "  ipFamilies: [IPv5]\n",
                vec![],
                vec![],
                Some(("spec.ipFamilies[0]", "unknown IP family \"IPv5\"")),
            ),
            (
                String::new(),
                "  ipFamilyPolicy: Sometimes\n",
                vec![],
                vec![],
                Some(("spec.ipFamilyPolicy", "unknown ipFamilyPolicy")),
            ),
        ];
        for (meta, spec, want_ips, families, error) in cases {
            let (s, errors) = one(&meta, spec);
            match error {
                None => {
                    assert_eq!(errors, vec![], "{meta} {spec}");
                    let s = s.unwrap();
                    assert_eq!(s.requested_ips, want_ips, "{meta} {spec}");
                    assert_eq!(s.ip_families, families, "{meta} {spec}");
                }
                Some((field, message)) => {
                    // Reported on the Service, and the Service is left out.
                    assert!(s.is_none(), "{meta} {spec}");
                    assert_eq!(errors.len(), 1, "{errors:?}");
                    assert_eq!(errors[0].object, ObjectRef::new("Service", "shop", "web"));
                    assert_eq!(errors[0].field, field);
                    assert!(errors[0].message.contains(message), "{}", errors[0].message);
                }
            }
        }
    }

    #[test]
    fn classes_types_and_order() {
        let yaml = [
            "apiVersion: v1\nkind: Service\nmetadata: {name: b}\nspec: {type: LoadBalancer}",
            "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: x}\nspec: {type: LoadBalancer, loadBalancerClass: ferrule}",
            "apiVersion: v1\nkind: Service\nmetadata: {name: c, namespace: x, annotations: {metallb.io/loadBalancerIPs: junk}}\nspec: {type: LoadBalancer, loadBalancerClass: other}",
            "apiVersion: v1\nkind: Service\nmetadata: {name: d, namespace: x}\nspec: {type: ClusterIP}",
            "apiVersion: v1\nkind: Service\nmetadata: {name: e, namespace: x}\nspec: {type: LoadBalancer}\nstatus: {loadBalancer: {ingress: [{ip: 203.0.113.1}, {hostname: lb.example}, {ip: '2001:db8::1'}]}}",
        ]
        .join("\n---\n");
        let s = snapshot(&yaml);
        let ours = |out: &[Service]| {
            out.iter()
                .map(|s| (s.key.to_string(), s.is_ours))
                .collect::<Vec<_>>()
        };

        let (out, errors) = services(&s, Some("ferrule"));
        // A foreign class is returned as not ours and its annotations are not judged.
        assert_eq!(errors, vec![]);
        assert_eq!(
            ours(&out),
            [
                ("default/b".to_string(), true),
                ("x/a".into(), true),
                ("x/c".into(), false),
                ("x/e".into(), true)
            ]
        );
        assert_eq!(out[3].current_ips, ips(&["203.0.113.1", "2001:db8::1"]));

        let (out, _) = services(&s, None);
        assert_eq!(
            ours(&out),
            [
                ("default/b".to_string(), true),
                ("x/a".into(), false),
                ("x/c".into(), false),
                ("x/e".into(), true)
            ]
        );
    }

    #[test]
    fn endpoint_serving_rules() {
        let slice = |ns: &str, svc: Option<&str>, endpoints: &str| -> EndpointSlice {
            let labels = svc.map_or(String::new(), |s| {
                format!("  labels: {{kubernetes.io/service-name: {s}}}\n")
            });
            serde_yaml::from_str(&format!(
                "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: s\n  namespace: {ns}\n{labels}addressType: IPv4\nendpoints:\n{endpoints}"
            ))
            .unwrap()
        };
        let slices = vec![
            slice(
                "shop",
                Some("web"),
                "- {addresses: [10.1.0.1], nodeName: n1}\n\
                 - {addresses: [10.1.0.2], nodeName: n2, conditions: {ready: false}}\n\
                 - {addresses: [10.1.0.3], nodeName: n3, conditions: {ready: false, serving: true, terminating: true}}\n\
                 - {addresses: [10.1.0.4], nodeName: n4, conditions: {ready: true}}\n\
                 - {addresses: [], nodeName: n5}\n\
                 - {addresses: [10.1.0.6]}\n",
            ),
            // A second slice of the same Service: merged and deduplicated.
            slice("shop", Some("web"), "- {addresses: [10.1.0.7], nodeName: n1}\n"),
            slice("shop", None, "- {addresses: [10.1.0.8], nodeName: n9}\n"),
            slice("other", Some("web"), "- {addresses: [10.2.0.1], nodeName: n1, conditions: {serving: false, ready: false}}\n"),
        ];
        let ep = |node: Option<&str>, serving| Endpoint {
            node: node.map(Into::into),
            serving,
        };
        let out = endpoints(&slices);
        assert_eq!(out.len(), 2);
        assert_eq!(
            out[&ServiceKey::new("shop", "web")],
            vec![
                ep(None, true),
                ep(Some("n1"), true),
                ep(Some("n2"), false),
                ep(Some("n3"), true),
                ep(Some("n4"), true),
                ep(Some("n5"), false),
            ]
        );
        assert_eq!(
            out[&ServiceKey::new("other", "web")],
            vec![ep(Some("n1"), false)]
        );
    }

    #[test]
    fn nodes_and_namespaces() {
        let node = |name: &str, conditions: &str| -> K8sNode {
            serde_yaml::from_str(&format!(
                "apiVersion: v1\nkind: Node\nmetadata: {{name: {name}, labels: {{rack: r1}}}}\nstatus: {{conditions: [{conditions}]}}"
            ))
            .unwrap()
        };
        let out = nodes(&[
            node("n2", "{type: NetworkUnavailable, status: 'True'}"),
            node(
                "n1",
                "{type: NetworkUnavailable, status: 'False'}, {type: Ready, status: 'True'}",
            ),
            node("n3", ""),
        ]);
        let flags: Vec<_> = out
            .values()
            .map(|n| (n.name.as_str(), n.network_unavailable))
            .collect();
        assert_eq!(flags, [("n1", false), ("n2", true), ("n3", false)]);
        assert_eq!(out["n1"].labels.get("rack").map(String::as_str), Some("r1"));

        let ns: Vec<Namespace> = ["{name: b, labels: {team: x}}", "{name: a}"]
            .iter()
            .map(|m| {
                serde_yaml::from_str(&format!("apiVersion: v1\nkind: Namespace\nmetadata: {m}"))
                    .unwrap()
            })
            .collect();
        let labels = namespace_labels(&ns);
        assert_eq!(labels.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(labels["b"].get("team").map(String::as_str), Some("x"));
        assert!(labels["a"].is_empty());
    }
}
