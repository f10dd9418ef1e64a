//! The Kubernetes glue, written once for the speaker and the controller: watches and their
//! stores ([`reflect`]), stores turned into the core's snapshot ([`stores`]), `metallb.io`
//! objects read untyped and typed one at a time ([`untyped`]), and Events ([`events`]).
pub mod events;
pub mod reflect;
pub mod stores;
pub mod untyped;

use std::future::Future;
use std::time::Duration;

/// How long any one API call may take before it is abandoned as failed (and retried by
/// whoever made it). Watches are long-lived and bounded by the watcher's own timeouts.
pub const API_TIMEOUT: Duration = Duration::from_secs(30);

/// `call`, abandoned after [`API_TIMEOUT`]: a hung API server costs a retry, never a stall.
pub async fn bounded<T>(
    call: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, kube::Error> {
    match tokio::time::timeout(API_TIMEOUT, call).await {
        Ok(result) => result,
        Err(_) => Err(kube::Error::Service(Box::new(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "no answer from the API server within {}s",
                API_TIMEOUT.as_secs()
            ),
        )))),
    }
}
