//! `ferrule controller`: hands out LoadBalancer addresses from IPAddressPools, as MetalLB's
//! controller does ([`allocation`]), and keeps a `Valid` condition on every MetalLB object
//! ([`conditions`]). Both loops read one set of watch stores, decide through the same
//! `pipeline::compute` the speakers run, and write only while this process holds the Lease
//! ([`leader`]).

mod allocation;
pub mod conditions;
mod error;
pub mod leader;
mod options;

use k8s_openapi::api::core::v1::{Namespace, Node, Secret, Service};
use kube::api::Api;
use kube::runtime::watcher;
use kube::Client;

use crate::api::L2Advertisement;
use crate::input::trim;
use crate::kube::reflect::Watches;
use crate::kube::stores::{watch_untyped, Stores};
use leader::{lead, LeaseConfig};

pub use allocation::{fetch, reconcile_once, Memory, Outcome, ReconcileReport, POOL_ANNOTATION};
pub use error::ControllerError;
pub use options::ControllerOptions;

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
    // The speakers' inputs, so that Valid says what they do: Secrets (passwordSecret) and
    // every Node (rules between objects that can meet on a node).
    stores.secrets = Some(watches.add(
        "Secret",
        Api::<Secret>::namespaced(client.clone(), &opts.namespace),
        all(),
        |s: &mut Secret| s.metadata.managed_fields = None,
    ));
    stores.l2_advertisements =
        watch_untyped::<L2Advertisement>(&mut watches, &client, &opts.namespace, "L2Advertisement");
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
