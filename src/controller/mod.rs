//! `ferrule controller`: hands out LoadBalancer addresses from IPAddressPools, as MetalLB's
//! controller does ([`allocation`]), and keeps a `Valid` condition on every MetalLB object
//! ([`conditions`]). Both loops read one set of watch stores, decide through the same
//! `pipeline::compute` the speakers run, and write only while this process holds the Lease
//! ([`leader`]).

mod allocation;
pub mod conditions;
mod error;
pub mod leader;

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Node, Service};
use kube::api::Api;
use kube::runtime::watcher;
use kube::Client;

use crate::input::trim;
use crate::kube::reflect::Watches;
use crate::kube::stores::Stores;
use leader::{lead, LeaseConfig};

pub use allocation::{fetch, reconcile_once, Memory, Outcome, ReconcileReport, POOL_ANNOTATION};
pub use error::ControllerError;

/// Options of `ferrule controller`.
#[derive(clap::Parser, Clone, Debug)]
#[command(name = "controller")]
pub struct ControllerOptions {
    /// Namespace of the IPAddressPools and of the leader-election Lease.
    #[arg(long, env = "FERRULE_NAMESPACE", default_value = "metallb-system")]
    pub namespace: String,
    /// Serve only Services with this spec.loadBalancerClass (unset: only Services without
    /// one, as MetalLB does).
    #[arg(long, env = "FERRULE_LB_CLASS")]
    pub lb_class: Option<String>,
    /// Holder identity in the Lease: the pod name (falls back to $HOSTNAME).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// Name of the leader-election Lease.
    #[arg(long, default_value = "ferrule-controller")]
    pub lease_name: String,
    /// How long others wait after the last renewal they saw before taking over.
    #[arg(long, default_value = "15s", value_parser = duration_flag)]
    pub lease_duration: Duration,
    /// The leader steps down if it could not renew for this long (< lease duration).
    #[arg(long, default_value = "10s", value_parser = duration_flag)]
    pub renew_deadline: Duration,
    /// How often the leader renews (and others retry).
    #[arg(long, default_value = "5s", value_parser = duration_flag)]
    pub renew_interval: Duration,
    /// Changes arriving within this window are handled by one recompute.
    #[arg(long, default_value = "30ms", value_parser = duration_flag)]
    pub debounce: Duration,
}

impl Default for ControllerOptions {
    fn default() -> Self {
        <Self as clap::Parser>::parse_from(["controller"])
    }
}

impl ControllerOptions {
    pub(crate) fn check(&self) -> Result<(), ControllerError> {
        if !(self.renew_interval < self.renew_deadline && self.renew_deadline < self.lease_duration)
        {
            return Err(ControllerError::Options(format!(
                "need --renew-interval ({:?}) < --renew-deadline ({:?}) < --lease-duration ({:?})",
                self.renew_interval, self.renew_deadline, self.lease_duration
            )));
        }
        Ok(())
    }

    pub(crate) fn instance(&self) -> &str {
        self.identity
            .as_deref()
            .unwrap_or(crate::kube::events::REPORTER)
    }
}

/// A duration flag: `250ms`, `15s`, `1m30s` (Go's grammar, as the CRDs use), or seconds.
fn duration_flag(s: &str) -> Result<Duration, String> {
    crate::core::duration::parse_flag(s).map_err(|e| e.to_string())
}

/// Run the controller until an unrecoverable error. Dropping the future stops everything
/// (watches, lease renewals, writes).
pub async fn run(client: Client, opts: ControllerOptions) -> Result<(), ControllerError> {
    opts.check()?;
    let identity = opts
        .identity
        .clone()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .filter(|i| !i.is_empty())
        .ok_or(ControllerError::NoIdentity)?;
    let opts = ControllerOptions {
        identity: Some(identity.clone()),
        ..opts
    };
    let (leadership, elector) = leader::elect(
        client.clone(),
        LeaseConfig {
            name: opts.lease_name.clone(),
            namespace: opts.namespace.clone(),
            identity,
            lease_duration: opts.lease_duration,
            renew_deadline: opts.renew_deadline,
            renew_interval: opts.renew_interval,
        },
    );

    // One set of stores for both loops. Services are kept whole: taking an address back from
    // a Service that stopped being a LoadBalancer needs its status and annotations.
    let mut watches = Watches::new();
    let mut stores = Stores::default();
    stores.watch_metallb(&mut watches, &client, &opts.namespace);
    let all = watcher::Config::default;
    stores.services = Some(watches.add(
        "Service",
        Api::<Service>::all(client.clone()),
        all(),
        |s: &mut Service| s.metadata.managed_fields = None,
    ));
    stores.namespaces = Some(watches.add(
        "Namespace",
        Api::<Namespace>::all(client.clone()),
        all(),
        |n: &mut Namespace| n.metadata.managed_fields = None,
    ));
    // Only labels matter (peers' and advertisements' nodeSelectors).
    stores.nodes = Some(watches.add("Node", Api::<Node>::all(client.clone()), all(), trim::node));
    let allocation_changes = watches.subscribe();
    let condition_changes = watches.subscribe();

    let loops = async {
        // Nothing is decided from a partial view.
        watches.ready().await?;
        let mut allocation = allocation::Allocator::new(
            client.clone(),
            opts.clone(),
            leadership.clone(),
            stores.clone(),
        );
        let mut conditions = conditions::Conditions::new(
            client.clone(),
            opts.namespace.clone(),
            leadership.clone(),
            stores.clone(),
        );
        tokio::select! {
            r = lead(&leadership, allocation_changes, opts.debounce, &mut allocation) => r?,
            r = lead(&leadership, condition_changes, opts.debounce, &mut conditions) => r?,
        }
        Ok::<(), ControllerError>(())
    };

    tokio::select! {
        () = elector => Ok(()),
        r = loops => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let cases = [
            ("250ms", Some(Duration::from_millis(250))),
            ("15s", Some(Duration::from_secs(15))),
            ("15", Some(Duration::from_secs(15))),
            ("2m", Some(Duration::from_secs(120))),
            ("1h", Some(Duration::from_secs(3600))),
            ("1m30s", Some(Duration::from_secs(90))),
            ("2x", None),
            ("s", None),
            ("", None),
        ];
        for (input, want) in cases {
            assert_eq!(duration_flag(input).ok(), want, "{input:?}");
        }
    }

    #[test]
    fn defaults_and_timing_rule() {
        let o = ControllerOptions::default();
        assert_eq!(o.namespace, "metallb-system");
        assert_eq!(o.lease_duration, Duration::from_secs(15));
        assert_eq!(o.renew_interval, Duration::from_secs(5));
        assert!(o.check().is_ok());
        let bad = ControllerOptions {
            renew_deadline: Duration::from_secs(20),
            ..o
        };
        assert!(bad.check().is_err());
    }
}
