//! Human-readable answers to "who announces my Service, to whom, and why not", as printed
//! by `ferrule render --explain`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use super::intent::NodeIntent;
use super::model::{RemoteAs, ServiceKey};
use super::pipeline::Computed;

/// One block per Service: its addresses, then per node what goes to which peer, or why not.
pub fn explain(computed: &Computed, intents: &BTreeMap<String, NodeIntent>) -> String {
    let mut out = String::new();
    let mut keys: BTreeSet<&ServiceKey> = computed.services.keys().collect();
    keys.extend(computed.allocation.failed.keys());
    for key in keys {
        let _ = write!(out, "Service {key}: ");
        match (
            computed.allocation.assigned.get(key),
            computed.allocation.failed.get(key),
        ) {
            (Some(a), _) => {
                let ips: Vec<String> = a.ips.iter().map(|ip| ip.to_string()).collect();
                let _ = writeln!(out, "{} from pool {}", ips.join(", "), a.pool);
            }
            (None, Some(e)) => {
                let _ = writeln!(out, "no address: {e}");
                continue;
            }
            (None, None) => {
                let _ = writeln!(out, "no address yet");
                continue;
            }
        }
        for (node, intent) in intents {
            let mut lines = Vec::new();
            for r in &intent.routers {
                for n in &r.neighbors {
                    for a in n.announcements.iter().filter(|a| a.services.contains(key)) {
                        let mut attrs = Vec::new();
                        if !a.communities.is_empty() {
                            let c: Vec<String> =
                                a.communities.iter().map(|c| c.to_string()).collect();
                            attrs.push(format!("communities {}", c.join(" ")));
                        }
                        if let Some(lp) = a.local_pref {
                            attrs.push(format!("local-pref {lp}"));
                        }
                        let attrs = if attrs.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", attrs.join(", "))
                        };
                        lines.push(format!(
                            "announces {} to {} ({}){attrs}",
                            a.prefix, n.peer, n.address
                        ));
                    }
                }
            }
            for w in intent.withheld.iter().filter(|w| &w.service == key) {
                match &w.peer {
                    Some(p) => lines.push(format!(
                        "does not announce {} to {p}: {}",
                        w.prefix, w.reason
                    )),
                    None => lines.push(format!("does not announce {}: {}", w.prefix, w.reason)),
                }
            }
            if lines.is_empty() {
                lines.push("has no BGP session that could carry it".into());
            }
            for l in lines {
                let _ = writeln!(out, "  node {node} {l}");
            }
        }
    }
    out
}

/// Warnings about configurations that are valid but will not do what their author likely
/// expects, e.g. a localPref that every peer it reaches drops because the sessions are eBGP.
pub fn warnings(intents: &BTreeMap<String, NodeIntent>) -> Vec<String> {
    let mut ebgp_only: BTreeMap<String, bool> = BTreeMap::new();
    for intent in intents.values() {
        for r in &intent.routers {
            for n in &r.neighbors {
                let ibgp = match n.remote_as {
                    RemoteAs::Asn(a) => a == r.asn,
                    RemoteAs::Internal => true,
                    RemoteAs::External => false,
                };
                for a in n.announcements.iter().filter(|a| a.local_pref.is_some()) {
                    let e = ebgp_only.entry(a.prefix.to_string()).or_insert(true);
                    *e &= !ibgp;
                }
            }
        }
    }
    let prefixes: Vec<String> = ebgp_only
        .into_iter()
        .filter(|(_, only_ebgp)| *only_ebgp)
        .map(|(prefix, _)| prefix)
        .collect();
    if prefixes.is_empty() {
        return Vec::new();
    }
    let shown: Vec<&str> = prefixes.iter().take(5).map(String::as_str).collect();
    let more = if prefixes.len() > 5 {
        format!(" and {} more", prefixes.len() - 5)
    } else {
        String::new()
    };
    vec![format!(
        "localPref is set for {}{more}, but every peer they are announced to is eBGP, and eBGP never carries LOCAL_PREF",
        shown.join(", ")
    )]
}
