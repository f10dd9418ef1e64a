//! Events on Services as this node starts or stops announcing them ("announced from node
//! N to tor1, tor2", "withdrawn from node N: <why>"), derived from the announcement lists
//! of two successive applied intents, so `kubectl describe service` tells the story.

use std::collections::BTreeMap;

use crate::api::status::ServiceAnnouncement;
use crate::kube::events::ServiceEvent;

pub const ANNOUNCED: &str = "Announced";
pub const WITHDRAWN: &str = "Withdrawn";

/// At most this many Events per apply: a pool change can flip thousands of Services at
/// once, and the API should not get thousands of Events from every node for it.
pub const MAX_PER_APPLY: usize = 50;

/// One Event about one Service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnouncementEvent {
    pub namespace: String,
    pub name: String,
    pub event: ServiceEvent,
}

/// What changed between two applied announcement lists of `node`, Services in name order.
/// Services that appear or disappear while withdrawn make no Event (a Service is created
/// or deleted; its own events say so).
pub fn diff<'a>(
    node: &str,
    before: &'a [ServiceAnnouncement],
    after: &'a [ServiceAnnouncement],
) -> Vec<AnnouncementEvent> {
    let by_service =
        |list: &'a [ServiceAnnouncement]| -> BTreeMap<&'a str, &'a ServiceAnnouncement> {
            list.iter().map(|a| (a.spec.service.as_str(), a)).collect()
        };
    let (old, new) = (by_service(before), by_service(after));
    let announced = |a: Option<&&ServiceAnnouncement>| {
        a.and_then(|a| a.status.as_ref())
            .is_some_and(|s| s.state == ANNOUNCED)
    };
    let mut out = Vec::new();
    let keys: std::collections::BTreeSet<&str> = old.keys().chain(new.keys()).copied().collect();
    for key in keys {
        let (was, is) = (announced(old.get(key)), announced(new.get(key)));
        let Some((namespace, name)) = key.split_once('/') else {
            continue;
        };
        let event = match (was, is) {
            (false, true) => {
                let status = new[key].status.as_ref().expect("announced has status");
                ServiceEvent {
                    warning: false,
                    reason: ANNOUNCED,
                    note: format!(
                        "announcing {} from node {node} to {}",
                        status.prefixes.join(", "),
                        status.peers.join(", ")
                    ),
                }
            }
            (true, false) => {
                let why = new
                    .get(key)
                    .and_then(|a| a.status.as_ref())
                    .and_then(|s| s.reason.clone())
                    .unwrap_or_else(|| "no longer a LoadBalancer Service with an address".into());
                ServiceEvent {
                    warning: false,
                    reason: WITHDRAWN,
                    note: format!("withdrawn from node {node}: {why}"),
                }
            }
            _ => continue,
        };
        out.push(AnnouncementEvent {
            namespace: namespace.into(),
            name: name.into(),
            event,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::status::{ServiceAnnouncementSpec, ServiceAnnouncementStatus};

    fn ann(service: &str, state: &str, reason: Option<&str>) -> ServiceAnnouncement {
        let mut a = ServiceAnnouncement::new(
            "x",
            ServiceAnnouncementSpec {
                service: service.into(),
                node: "node-21".into(),
            },
        );
        a.status = Some(ServiceAnnouncementStatus {
            state: state.into(),
            prefixes: if state == ANNOUNCED {
                vec!["203.0.113.0/32".into()]
            } else {
                vec![]
            },
            peers: if state == ANNOUNCED {
                vec!["tor1".into(), "tor2".into()]
            } else {
                vec![]
            },
            reason: reason.map(str::to_string),
        });
        a
    }

    #[test]
    fn only_state_changes_make_events() {
        let before = vec![
            ann("default/web", ANNOUNCED, None),
            ann("default/db", "Withdrawn", Some("no endpoint")),
            ann("default/gone", ANNOUNCED, None),
            ann("default/same", ANNOUNCED, None),
        ];
        let after = vec![
            ann(
                "default/web",
                "Withdrawn",
                Some("203.0.113.0/32: externalTrafficPolicy is Local and no serving endpoint runs on this node"),
            ),
            ann("default/db", ANNOUNCED, None),
            ann("default/same", ANNOUNCED, None),
            ann("default/new-withdrawn", "Withdrawn", Some("x")),
        ];
        let got: Vec<(String, &str, String)> = diff("node-21", &before, &after)
            .into_iter()
            .map(|e| (e.name, e.event.reason, e.event.note))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "db".into(),
                    ANNOUNCED,
                    "announcing 203.0.113.0/32 from node node-21 to tor1, tor2".into()
                ),
                (
                    "gone".into(),
                    WITHDRAWN,
                    "withdrawn from node node-21: no longer a LoadBalancer Service with an address".into()
                ),
                (
                    "web".into(),
                    WITHDRAWN,
                    "withdrawn from node node-21: 203.0.113.0/32: externalTrafficPolicy is Local and no serving endpoint runs on this node".into()
                ),
            ]
        );
        assert!(diff("node-21", &after, &after).is_empty());
    }
}
