//! Rules over the accepted objects together that MetalLB refuses a configuration for but
//! that cost nothing here if let through: they become warnings on the object to fix.

use std::collections::BTreeSet;

use crate::core::model::{Config, ObjectRef};
use crate::core::snapshot::ValidationError;

/// MetalLB refuses BFD echo mode on a peer that an advertisement sends IPv6 pools to (its
/// check looks at the pool's family, not the session's). The session and its routes work
/// without echo, so ferrule keeps them and says so on the peer.
pub(super) fn echo_with_ipv6(config: &Config, namespace: &str) -> Vec<ValidationError> {
    let echo: BTreeSet<&str> = config
        .peers
        .values()
        .filter(|p| {
            p.bfd_profile
                .as_ref()
                .and_then(|name| config.bfd_profiles.get(name))
                .is_some_and(|b| b.echo_mode)
        })
        .map(|p| p.name.as_str())
        .collect();
    let mut out = BTreeSet::new();
    for adv in config.advertisements.values() {
        let ipv6 = adv.pools.iter().find(|name| {
            config
                .pools
                .get(*name)
                .is_some_and(|p| p.ranges.iter().any(|r| r.first.is_ipv6()))
        });
        let Some(pool) = ipv6 else { continue };
        for peer in &echo {
            if adv.peers.as_ref().is_none_or(|names| names.contains(*peer)) {
                out.insert(ValidationError::new(
                    ObjectRef::new("BGPPeer", namespace, peer),
                    "spec.bfdProfile",
                    format!(
                        "the BFD profile has echoMode and BGPAdvertisement {} sends this peer IPv6 pool {pool}: MetalLB refuses that configuration; ferrule keeps the session, and FRR runs BFD echo only where it can",
                        adv.name
                    ),
                ));
            }
        }
    }
    out.into_iter().collect()
}
