//! What can stop the controller, or one of its writes.

use crate::core::model::ServiceKey;

#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error("invalid options: {0}")]
    Options(String),
    #[error("no identity: set --identity or POD_NAME")]
    NoIdentity,
    #[error("listing {kind}: {source}")]
    List {
        kind: &'static str,
        source: Box<kube::Error>,
    },
    #[error("Service {service}: {field}: {source}")]
    ServiceWrite {
        service: ServiceKey,
        field: &'static str,
        source: Box<kube::Error>,
    },
    #[error("Event for Service {service}: {source}")]
    Event {
        service: ServiceKey,
        source: Box<kube::Error>,
    },
    #[error("IPAddressPool {namespace}/{name}: status: {source}")]
    PoolWrite {
        namespace: String,
        name: String,
        source: Box<kube::Error>,
    },
    #[error("not the leader any more")]
    NotLeader,
    #[error(transparent)]
    Watch(#[from] crate::kube::reflect::WatchError),
}
