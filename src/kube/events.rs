//! Kubernetes Events about Services (`events.k8s.io/v1`), as MetalLB emits them.
//!
//! kube's `Recorder` folds repeats of one reason into a series that keeps the first note, so
//! a second failure with a different reason would show the old message; the controller only
//! emits on a change of outcome anyway, so each event here is a new object.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::Client;

/// The `reportingController` of every event.
pub const REPORTER: &str = "ferrule-controller";

pub const IP_ALLOCATED: &str = "IPAllocated";
pub const ALLOCATION_FAILED: &str = "AllocationFailed";
pub const ADDRESS_KEPT: &str = "AddressKept";
pub const POOL_DELETED: &str = "PoolDeleted";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceEvent {
    pub warning: bool,
    pub reason: &'static str,
    pub note: String,
}

impl ServiceEvent {
    pub fn allocated(ips: &[IpAddr]) -> Self {
        ServiceEvent {
            warning: false,
            reason: IP_ALLOCATED,
            note: format!("Assigned IP {}", go_quoted(ips)),
        }
    }

    /// The Service's pool cannot be used now; it keeps its address (unannounced).
    pub fn kept(ips: &[IpAddr], pool: &str, why: &str) -> Self {
        ServiceEvent {
            warning: true,
            reason: ADDRESS_KEPT,
            note: format!(
                "Keeping IP {}: IPAddressPool {pool} cannot be used now ({why}); the address stays this Service's and is announced again once the pool is fixed",
                go_quoted(ips)
            ),
        }
    }

    /// The pool the Service's address came from was deleted: the address is given up.
    pub fn pool_deleted(ips: &[IpAddr], pool: &str) -> Self {
        ServiceEvent {
            warning: true,
            reason: POOL_DELETED,
            note: format!(
                "IPAddressPool {pool} was deleted: giving up IP {}",
                go_quoted(ips)
            ),
        }
    }

    pub fn failed(service: &str, reason: &str) -> Self {
        ServiceEvent {
            warning: true,
            reason: ALLOCATION_FAILED,
            note: format!("Failed to allocate IP for \"{service}\": {reason}"),
        }
    }
}

/// Go's `%q` of a string slice, which MetalLB's messages use: `["a" "b"]`.
fn go_quoted(ips: &[IpAddr]) -> String {
    let inner: Vec<String> = ips.iter().map(|ip| format!("\"{ip}\"")).collect();
    format!("[{}]", inner.join(" "))
}

pub async fn publish(
    client: &Client,
    regarding: &ObjectReference,
    instance: &str,
    ev: &ServiceEvent,
) -> Result<(), kube::Error> {
    create(client, regarding, REPORTER, instance, "Allocate", ev).await
}

/// Create one `events.k8s.io/v1` Event about `regarding` (also used by the speaker, with
/// its own reporter and actions).
pub async fn create(
    client: &Client,
    regarding: &ObjectReference,
    reporter: &str,
    instance: &str,
    action: &str,
    ev: &ServiceEvent,
) -> Result<(), kube::Error> {
    let namespace = regarding
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let name = regarding.name.clone().unwrap_or_default();
    let event = Event {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}.")),
            namespace: Some(namespace.clone()),
            ..Default::default()
        },
        event_time: Some(MicroTime(k8s_openapi::jiff::Timestamp::now())),
        action: Some(action.into()),
        reason: Some(ev.reason.into()),
        note: Some(ev.note.clone()),
        type_: Some(if ev.warning { "Warning" } else { "Normal" }.into()),
        regarding: Some(regarding.clone()),
        reporting_controller: Some(reporter.into()),
        reporting_instance: Some(instance.into()),
        ..Default::default()
    };
    super::bounded(
        Api::<Event>::namespaced(client.clone(), &namespace).create(&PostParams::default(), &event),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_read_like_metallb() {
        let cases: [(&[&str], &str); 3] = [
            (&["203.0.113.1"], r#"Assigned IP ["203.0.113.1"]"#),
            (
                &["203.0.113.1", "2001:db8::1"],
                r#"Assigned IP ["203.0.113.1" "2001:db8::1"]"#,
            ),
            (&[], "Assigned IP []"),
        ];
        for (ips, want) in cases {
            let ips: Vec<IpAddr> = ips.iter().map(|i| i.parse().unwrap()).collect();
            assert_eq!(ServiceEvent::allocated(&ips).note, want);
        }
        let f = ServiceEvent::failed("default/web", "no available IPs");
        assert!(f.warning);
        assert_eq!(
            f.note,
            r#"Failed to allocate IP for "default/web": no available IPs"#
        );
    }
}
