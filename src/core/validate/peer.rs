//! BGPPeer: AS numbers, address or interface, timers, passwords (inline or from a Secret),
//! BFD profile, VRF; and what peers that can meet on one node must agree on.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use k8s_openapi::api::core::v1::Secret;

use super::report::{Checked, Known, Report};
use super::selector::{node_overlap, selectors};
use crate::api::{self, DynamicAsn};
use crate::core::model::{
    BfdProfile, Node as ModelNode, Password, Peer, PeerAddress, RemoteAs, Timers,
};
use crate::core::{duration, limits};

const MAX_TIMER: u64 = 65535;

/// A timer FRR takes in whole seconds. A fraction is cut off, as MetalLB does, with a
/// warning: FRR runs another value than the one written, and the peer negotiates on it.
fn timer_secs(r: &mut Report, field: &str, text: &str) -> Option<u32> {
    let d = match duration::parse(text) {
        Ok(d) => d,
        Err(e) => {
            r.err(field, e.to_string());
            return None;
        }
    };
    let secs = match duration::whole_seconds(d) {
        Some(secs) => secs,
        None => {
            let secs = d.as_secs();
            r.warn(
                field,
                format!("{text} is not a whole number of seconds; FRR takes {secs}s, as MetalLB truncates it"),
            );
            secs
        }
    };
    if secs > MAX_TIMER {
        r.err(
            field,
            format!("{text} is longer than {MAX_TIMER}s, FRR's limit"),
        );
        return None;
    }
    Some(secs as u32)
}

/// MetalLB's timer rules: hold 0 or >= 3 s, keepalive <= hold, one set derives the other
/// (keepalive = hold / 3 rounded down, hold = 3 x keepalive), none set leaves FRR's
/// defaults.
fn timers(r: &mut Report, hold: Option<&str>, keepalive: Option<&str>) -> Option<Timers> {
    let h = hold.map(|t| timer_secs(r, "spec.holdTime", t));
    let k = keepalive.map(|t| timer_secs(r, "spec.keepaliveTime", t));
    let (hold, keepalive) = match (h, k) {
        (None, None) => return None,
        (Some(None), _) | (_, Some(None)) => return None,
        (Some(Some(h)), Some(Some(k))) => (h, k),
        (Some(Some(h)), None) => (h, h / 3),
        (None, Some(Some(k))) => {
            let h = u64::from(k) * 3;
            if h > MAX_TIMER {
                r.err(
                    "spec.keepaliveTime",
                    format!("{k}s implies a holdTime of {h}s (3 x keepalive), above FRR's limit of {MAX_TIMER}s; set holdTime too"),
                );
                return None;
            }
            (h as u32, k)
        }
    };
    if hold != 0 && hold < 3 {
        // Checked first: a keepalive derived from a bad hold time is not worth a second error.
        r.err(
            "spec.holdTime",
            format!("{hold}s is invalid: holdTime must be 0 or at least 3s"),
        );
        return None;
    }
    if keepalive > hold {
        r.err(
            "spec.keepaliveTime",
            format!("keepaliveTime {keepalive}s exceeds holdTime {hold}s"),
        );
        return None;
    }
    if keepalive == 0 && hold != 0 {
        // MetalLB accepts it and FRR takes it (`timers 0 H`): the session then depends on
        // the peer's keepalives.
        r.warn(
            "spec.keepaliveTime",
            format!("keepaliveTime 0 sends no keepalives while holdTime is {hold}s: the session stays up only as long as the peer keeps sending; use holdTime 0 to disable both"),
        );
    }
    Some(Timers { keepalive, hold })
}

/// The password in the peer's `passwordSecret`, or why there is none. MetalLB reads the
/// Secret from its own namespace whatever `namespace` says; so does ferrule, with a warning
/// when the field names another one.
fn secret_password(
    r: &mut Report,
    ours: &str,
    sref: &api::SecretRef,
    secrets: &[Secret],
) -> Result<Password, String> {
    let field = "spec.passwordSecret";
    if let Some(other) = sref
        .namespace
        .as_deref()
        .filter(|n| !n.is_empty() && *n != ours)
    {
        r.warn(
            format!("{field}.namespace"),
            format!("{other:?} is ignored: MetalLB and ferrule read the Secret from {ours}, their own namespace"),
        );
    }
    let name = format!("{ours}/{}", sref.name);
    let Some(secret) = secrets.iter().find(|s| {
        s.metadata.name.as_deref() == Some(sref.name.as_str())
            && s.metadata.namespace.as_deref().unwrap_or("default") == ours
    }) else {
        return Err(format!("Secret {name} not found"));
    };
    let ty = secret.type_.as_deref().unwrap_or("Opaque");
    if ty != "kubernetes.io/basic-auth" {
        return Err(format!(
            "Secret {name} has type {ty}; kubernetes.io/basic-auth is required"
        ));
    }
    let value = match (
        secret.data.as_ref().and_then(|d| d.get("password")),
        secret.string_data.as_ref().and_then(|d| d.get("password")),
    ) {
        // stringData wins, as the API server merges it over data.
        (_, Some(s)) => s.clone(),
        (Some(b), None) => String::from_utf8(b.0.clone())
            .map_err(|_| format!("the password in Secret {name} is not valid UTF-8"))?,
        (None, None) => return Err(format!("Secret {name} has no key \"password\"")),
    };
    limits::password(&value).map_err(|why| format!("the password in Secret {name} {why}"))?;
    Ok(Password::new(value))
}

/// Go's empty string is "unset"; MetalLB manifests rely on that.
pub(super) fn set(o: &Option<String>) -> Option<&str> {
    o.as_deref().filter(|s| !s.is_empty())
}

pub(super) fn peer(p: &api::BGPPeer, secrets: &[Secret], bfd: &Known<BfdProfile>) -> Checked<Peer> {
    let mut r = Report::new(&p.metadata, "BGPPeer");
    let s = &p.spec;
    let peer_ns = p.metadata.namespace.as_deref().unwrap_or_default();

    if s.my_asn == 0 {
        r.err("spec.myASN", "0 is not a valid AS number (1-4294967295)");
    }
    let remote_as = match (s.peer_asn, s.dynamic_asn) {
        (Some(_), Some(_)) => {
            r.err(
                "spec.dynamicASN",
                "peerASN and dynamicASN are mutually exclusive",
            );
            RemoteAs::External
        }
        (Some(0), None) => {
            r.err("spec.peerASN", "0 is not a valid AS number (1-4294967295)");
            RemoteAs::External
        }
        (Some(asn), None) => RemoteAs::Asn(asn),
        (None, Some(DynamicAsn::Internal)) => RemoteAs::Internal,
        (None, Some(DynamicAsn::External)) => RemoteAs::External,
        (None, None) => {
            r.err("spec.peerASN", "one of peerASN and dynamicASN is required");
            RemoteAs::External
        }
    };

    let address = match (set(&s.peer_address), set(&s.interface)) {
        (Some(_), Some(_)) => {
            r.err(
                "spec.interface",
                "peerAddress and interface are mutually exclusive",
            );
            None
        }
        (None, None) => {
            r.err(
                "spec.peerAddress",
                "one of peerAddress and interface is required",
            );
            None
        }
        (Some(a), None) => match a.parse::<IpAddr>() {
            Ok(ip)
                if ip.is_unspecified()
                    || ip.is_multicast()
                    || ip == IpAddr::V4(Ipv4Addr::BROADCAST) =>
            {
                r.err("spec.peerAddress", format!("{ip} is not a unicast address"));
                None
            }
            Ok(ip) => Some(PeerAddress::Ip(ip)),
            Err(_) => {
                r.err("spec.peerAddress", format!("{a:?} is not an IP address"));
                None
            }
        },
        (None, Some(i)) => match limits::interface_name(i) {
            Ok(()) => Some(PeerAddress::Interface(i.to_owned())),
            Err(why) => {
                r.err(
                    "spec.interface",
                    format!("{i:?} is not an interface name FRR takes: it {why}"),
                );
                None
            }
        },
    };

    let source_address = set(&s.source_address).and_then(|a| match a.parse::<IpAddr>() {
        Err(_) => {
            r.err("spec.sourceAddress", format!("{a:?} is not an IP address"));
            None
        }
        Ok(ip) => {
            if let Some(PeerAddress::Ip(peer)) = &address {
                if peer.is_ipv4() != ip.is_ipv4() {
                    r.err(
                        "spec.sourceAddress",
                        format!("{ip} and peerAddress {peer} are of different IP families"),
                    );
                }
            }
            Some(ip)
        }
    });

    if s.peer_port == Some(0) {
        r.err("spec.peerPort", "0 is not a valid port (1-65535)");
    }

    let router_id = set(&s.router_id).and_then(|id| match id.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) if !v4.is_unspecified() => Some(v4),
        Ok(IpAddr::V4(v4)) => {
            r.err("spec.routerID", format!("{v4} is not a usable router ID"));
            None
        }
        Ok(IpAddr::V6(_)) => {
            r.err(
                "spec.routerID",
                format!("{id} is IPv6; a BGP router ID is an IPv4 address"),
            );
            None
        }
        Err(_) => {
            r.err("spec.routerID", format!("{id:?} is not an IPv4 address"));
            None
        }
    });

    let timers = timers(&mut r, s.hold_time.as_deref(), s.keepalive_time.as_deref());
    let connect_time = s.connect_time.as_deref().and_then(|t| {
        let secs = timer_secs(&mut r, "spec.connectTime", t)?;
        if secs == 0 {
            r.err("spec.connectTime", "must be at least 1s");
        }
        Some(secs)
    });

    let node_selectors = selectors(&mut r, "spec.nodeSelectors", &s.node_selectors);

    // A password that cannot be had keeps the session as FRR runs it: dropping the password
    // (or the session) would take down a session that may be up.
    let keep = "the session keeps the password FRR runs for it (a session FRR runs no password for stays shut down)";
    let (password, keep_password) = match (set(&s.password), &s.password_secret) {
        (Some(_), Some(_)) => {
            r.err(
                "spec.passwordSecret",
                "password and passwordSecret are mutually exclusive",
            );
            (None, false)
        }
        (Some(pw), None) => match limits::password(pw) {
            Ok(()) => (Some(Password::new(pw.to_owned())), false),
            Err(why) => {
                r.warn("spec.password", format!("the password {why}; {keep}"));
                (None, true)
            }
        },
        (None, Some(sref)) => match secret_password(&mut r, peer_ns, sref, secrets) {
            Ok(pw) => (Some(pw), false),
            Err(why) => {
                r.warn("spec.passwordSecret", format!("{why}; {keep}"));
                (None, true)
            }
        },
        (None, None) => (None, false),
    };

    // A missing or invalid profile keeps BFD on with FRR's defaults: removing BFD from a
    // session resets it.
    let (bfd_profile, bfd_defaults) = match set(&s.bfd_profile) {
        None => (None, false),
        Some(name) => match bfd.get(name) {
            Ok(_) => (Some(name.to_owned()), false),
            Err(missing) => {
                r.warn(
                    "spec.bfdProfile",
                    format!("{missing}; BFD stays on with FRR's default timers (300/300/3)"),
                );
                (None, true)
            }
        },
    };

    let ebgp_multihop = s.ebgp_multi_hop.unwrap_or(false);
    let ibgp = match remote_as {
        RemoteAs::Asn(a) => a == s.my_asn,
        RemoteAs::Internal => true,
        RemoteAs::External => false,
    };
    if ebgp_multihop && ibgp {
        r.warn(
            "spec.ebgpMultiHop",
            "ebgpMultiHop applies to eBGP only and this peer is iBGP (its AS is ours): FRR ignores it, iBGP sessions are not limited to one hop",
        );
    }

    // 0 is Go's "unset" (MetalLB renders local-as only when localASN != 0), as is myASN.
    let local_asn = match s.local_asn {
        None | Some(0) => None,
        Some(l) if l == s.my_asn => None,
        Some(l) => match limits::local_as(s.my_asn, remote_as, l) {
            Ok(()) => Some(l),
            Err(why) => {
                r.err("spec.localASN", format!("localASN {l}: {why}"));
                None
            }
        },
    };

    let vrf = set(&s.vrf).and_then(|v| match limits::vrf_name(v) {
        Ok(()) => Some(v.to_owned()),
        Err(why) => {
            r.err(
                "spec.vrf",
                format!("{v:?} is not a VRF name FRR takes: it {why}"),
            );
            None
        }
    });

    let Some(address) = address else {
        return r.fail();
    };
    let peer = Peer {
        name: p.metadata.name.clone().unwrap_or_default(),
        my_asn: s.my_asn,
        remote_as,
        address,
        source_address,
        port: s.peer_port,
        timers,
        connect_time,
        router_id,
        local_asn,
        node_selectors,
        password,
        keep_password,
        bfd_profile,
        bfd: bfd_defaults,
        ebgp_multihop,
        vrf,
        graceful_restart: s.enable_graceful_restart.unwrap_or(false),
        dual_stack: s.dual_stack_address_family == Some(true),
    };
    r.finish(peer)
}

fn vrf_name(vrf: &Option<String>) -> String {
    match vrf {
        Some(v) => format!("VRF {v}"),
        None => "the default VRF".into(),
    }
}

/// A conflict of `peer` with an older, accepted peer: (field, message, the older peer).
/// One node runs one BGP instance per VRF, so peers that can meet on a node must agree on
/// its AS and cannot both be the same neighbor there; and, as MetalLB requires, on the
/// router ID whatever their VRF (an unset router ID counts as a value).
pub(super) fn peer_conflict<'a>(
    peer: &Peer,
    accepted: impl Iterator<Item = &'a Peer>,
    nodes: &BTreeMap<String, ModelNode>,
) -> Option<(String, String, &'a Peer)> {
    for other in accepted {
        let Some(overlap) = node_overlap(&peer.node_selectors, &other.node_selectors, nodes) else {
            continue;
        };
        let show = |id: Option<Ipv4Addr>| id.map_or("unset".to_string(), |i| i.to_string());
        if other.router_id != peer.router_id {
            return Some((
                "spec.routerID".into(),
                format!(
                    "routerID {} differs from routerID {} of the older BGPPeer {} ({overlap}); peers that can run on one node must agree on it",
                    show(peer.router_id),
                    show(other.router_id),
                    other.name
                ),
                other,
            ));
        }
        if other.vrf != peer.vrf {
            continue;
        }
        let where_ = format!("in {} ({overlap})", vrf_name(&peer.vrf));
        if other.address == peer.address {
            let field = match peer.address {
                PeerAddress::Ip(_) => "spec.peerAddress",
                PeerAddress::Interface(_) => "spec.interface",
            };
            return Some((
                field.into(),
                format!(
                    "the older BGPPeer {} already peers with {} {where_}",
                    other.name, peer.address
                ),
                other,
            ));
        }
        if other.my_asn != peer.my_asn {
            return Some((
                "spec.myASN".into(),
                format!(
                    "myASN {} differs from myASN {} of the older BGPPeer {} {where_}; a node has one AS per VRF",
                    peer.my_asn, other.my_asn, other.name
                ),
                other,
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests;
