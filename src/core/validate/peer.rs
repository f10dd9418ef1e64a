//! BGPPeer: AS numbers, address or interface, timers, passwords (inline or from a Secret),
//! BFD profile, VRF; and what peers that can meet on one node must agree on.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use k8s_openapi::api::core::v1::Secret;

use super::names::is_ifname;
use super::report::{Known, Report};
use super::selector::{node_overlap, selectors};
use crate::api::{self, DynamicAsn};
use crate::core::duration;
use crate::core::model::{
    BfdProfile, Node as ModelNode, Password, Peer, PeerAddress, RemoteAs, Timers,
};
use crate::core::snapshot::ValidationError;

const MAX_TIMER: u64 = 65535;

/// A timer FRR takes in whole seconds. Fractions are rejected rather than rounded: FRR would
/// silently use another value than the one written, and the peer negotiates on it.
fn timer_secs(r: &mut Report, field: &str, text: &str) -> Option<u32> {
    let d = match duration::parse(text) {
        Ok(d) => d,
        Err(e) => {
            r.err(field, e.to_string());
            return None;
        }
    };
    let Some(secs) = duration::whole_seconds(d) else {
        r.err(
            field,
            format!("{text} is not a whole number of seconds; FRR takes whole seconds"),
        );
        return None;
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
        r.err(
            "spec.keepaliveTime",
            format!("keepaliveTime 0 sends no keepalives, so a holdTime of {hold}s would expire; use holdTime 0 to disable both"),
        );
        return None;
    }
    Some(Timers { keepalive, hold })
}

/// Checks a BGP password without ever putting it in a message. FRR reads
/// `neighbor X password LINE` to the end of the line, so a newline would end the command
/// and start another one (config injection); other control characters and leading or
/// trailing whitespace are rejected or silently trimmed by vtysh, which would leave a key
/// that differs from the router's without any error.
fn password_problem(value: &str) -> Option<&'static str> {
    if value.is_empty() {
        Some("is empty")
    } else if value.chars().any(char::is_control) {
        Some("contains a newline or another control character, which FRR cannot take")
    } else if value.trim() != value {
        Some("has leading or trailing whitespace, which FRR would drop")
    } else if value.len() > 80 {
        Some("is longer than 80 bytes, Linux's limit for TCP MD5 keys")
    } else {
        None
    }
}

fn secret_password(
    r: &mut Report,
    peer_ns: &str,
    sref: &api::SecretRef,
    secrets: &[Secret],
) -> Option<Password> {
    let field = "spec.passwordSecret";
    let ns = sref
        .namespace
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or(peer_ns);
    let Some(secret) = secrets.iter().find(|s| {
        s.metadata.name.as_deref() == Some(sref.name.as_str())
            && s.metadata.namespace.as_deref().unwrap_or("default") == ns
    }) else {
        r.err(field, format!("Secret {ns}/{} not found", sref.name));
        return None;
    };
    let ty = secret.type_.as_deref().unwrap_or("Opaque");
    if ty != "kubernetes.io/basic-auth" {
        r.err(
            field,
            format!(
                "Secret {ns}/{} has type {ty}; kubernetes.io/basic-auth is required",
                sref.name
            ),
        );
        return None;
    }
    let value = match (
        secret.data.as_ref().and_then(|d| d.get("password")),
        secret.string_data.as_ref().and_then(|d| d.get("password")),
    ) {
        // stringData wins, as the API server merges it over data.
        (_, Some(s)) => Some(s.clone()),
        (Some(b), None) => match String::from_utf8(b.0.clone()) {
            Ok(s) => Some(s),
            Err(_) => {
                r.err(
                    field,
                    format!(
                        "the password in Secret {ns}/{} is not valid UTF-8",
                        sref.name
                    ),
                );
                return None;
            }
        },
        (None, None) => None,
    };
    let Some(value) = value else {
        r.err(
            field,
            format!("Secret {ns}/{} has no key \"password\"", sref.name),
        );
        return None;
    };
    if let Some(problem) = password_problem(&value) {
        r.err(
            field,
            format!("the password in Secret {ns}/{} {problem}", sref.name),
        );
        return None;
    }
    Some(Password::new(value))
}

/// Go's empty string is "unset"; MetalLB manifests rely on that.
pub(super) fn set(o: &Option<String>) -> Option<&str> {
    o.as_deref().filter(|s| !s.is_empty())
}

pub(super) fn peer(
    p: &api::BGPPeer,
    secrets: &[Secret],
    bfd: &Known<BfdProfile>,
) -> Result<Peer, Vec<ValidationError>> {
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
        (None, Some(i)) => {
            if is_ifname(i) {
                Some(PeerAddress::Interface(i.to_owned()))
            } else {
                r.err(
                    "spec.interface",
                    format!("{i:?} is not a valid interface name (1-15 of letters, digits, '.', '_', '-', starting with a letter or digit)"),
                );
                None
            }
        }
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

    let password = match (set(&s.password), &s.password_secret) {
        (Some(_), Some(_)) => {
            r.err(
                "spec.passwordSecret",
                "password and passwordSecret are mutually exclusive",
            );
            None
        }
        (Some(pw), None) => match password_problem(pw) {
            Some(problem) => {
                r.err("spec.password", format!("the password {problem}"));
                None
            }
            None => Some(Password::new(pw.to_owned())),
        },
        (None, Some(sref)) => secret_password(&mut r, peer_ns, sref, secrets),
        (None, None) => None,
    };

    let bfd_profile = set(&s.bfd_profile).and_then(|name| match bfd.get(name) {
        Ok(_) => Some(name.to_owned()),
        Err(message) => {
            r.err("spec.bfdProfile", message.to_string());
            None
        }
    });

    let ebgp_multihop = s.ebgp_multi_hop.unwrap_or(false);
    let ibgp = match remote_as {
        RemoteAs::Asn(a) => a == s.my_asn,
        RemoteAs::Internal => true,
        RemoteAs::External => false,
    };
    if ebgp_multihop && ibgp {
        r.err(
            "spec.ebgpMultiHop",
            "ebgpMultiHop applies to eBGP only; this peer is iBGP (its AS is ours)",
        );
    }

    let vrf = set(&s.vrf).and_then(|v| {
        if is_ifname(v) {
            Some(v.to_owned())
        } else {
            r.err(
                "spec.vrf",
                format!("{v:?} is not a valid VRF name (1-15 of letters, digits, '.', '_', '-', starting with a letter or digit)"),
            );
            None
        }
    });

    let Some(address) = address else {
        return Err(r.errors);
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
        node_selectors,
        password,
        bfd_profile,
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

/// The first conflict of `peer` with an already accepted peer, as (field, message): one
/// node runs one BGP instance per VRF, so peers that can meet on a node must agree on its
/// AS and router ID, and cannot both be the same neighbor.
pub(super) fn peer_conflict(
    peer: &Peer,
    accepted: &BTreeMap<String, Peer>,
    nodes: &BTreeMap<String, ModelNode>,
) -> Option<(String, String)> {
    for other in accepted.values().filter(|o| o.vrf == peer.vrf) {
        let Some(overlap) = node_overlap(&peer.node_selectors, &other.node_selectors, nodes) else {
            continue;
        };
        let where_ = format!("in {} ({overlap})", vrf_name(&peer.vrf));
        if other.address == peer.address {
            let field = match peer.address {
                PeerAddress::Ip(_) => "spec.peerAddress",
                PeerAddress::Interface(_) => "spec.interface",
            };
            return Some((
                field.into(),
                format!(
                    "BGPPeer {} already peers with {} {where_}",
                    other.name, peer.address
                ),
            ));
        }
        if other.my_asn != peer.my_asn {
            return Some((
                "spec.myASN".into(),
                format!(
                    "myASN {} differs from myASN {} of BGPPeer {} {where_}; a node has one AS per VRF",
                    peer.my_asn, other.my_asn, other.name
                ),
            ));
        }
        if let (Some(a), Some(b)) = (peer.router_id, other.router_id) {
            if a != b {
                return Some((
                    "spec.routerID".into(),
                    format!("routerID {a} differs from routerID {b} of BGPPeer {} {where_}; a node has one router ID per VRF", other.name),
                ));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests;
