//! One BGP session and one BFD profile as FRR takes them: every value checked (by the same
//! `core::limits` validation uses) and formatted for the templates.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::IpAddr;

use super::error::RenderError;
use super::names::{self, SafeName};
use super::output::LeftOut;
use super::output::Notes;
use crate::core::intent::{Neighbor, Router};
use crate::core::limits;
use crate::core::model::{BfdProfile, PeerAddress, RemoteAs};

// Values FRR 8.4 treats as defaults and never prints; leaving them out keeps the rendered text
// equal to `show running-config`.
// Values FRR 8.4 treats as defaults and never prints; leaving them out keeps the rendered text
// equal to `show running-config`.
const BGP_DEFAULT_PORT: u16 = 179;

const BFD_DEFAULT_INTERVAL: u32 = 300;

const BFD_DEFAULT_DETECT_MULTIPLIER: u32 = 3;

const BFD_DEFAULT_ECHO_INTERVAL: u32 = 50;

const BFD_DEFAULT_MINIMUM_TTL: u32 = 254;

pub(super) struct NeighborView {
    /// The address or interface name, as every `neighbor X ...` line spells it.
    pub(super) id: String,
    pub(super) interface: bool,
    pub(super) remote_as: String,
    pub(super) local_as: Option<u32>,
    /// `neighbor X bfd` (with or without a profile).
    pub(super) bfd: bool,
    pub(super) bfd_profile: Option<SafeName>,
    pub(super) password: Option<String>,
    /// Keep the password FRR runs (rendered as nothing; the apply step keeps the line).
    pub(super) keep_password: bool,
    pub(super) disable_connected_check: bool,
    pub(super) port: Option<u16>,
    pub(super) ebgp_multihop: bool,
    pub(super) update_source: Option<String>,
    pub(super) timers: Option<(u32, u32)>,
    pub(super) connect_time: Option<u32>,
    pub(super) graceful_restart: bool,
}

pub(super) struct BfdProfileView {
    pub(super) name: SafeName,
    pub(super) detect_multiplier: Option<u32>,
    pub(super) transmit_interval: Option<u32>,
    pub(super) receive_interval: Option<u32>,
    pub(super) passive_mode: bool,
    pub(super) echo_mode: bool,
    pub(super) echo_interval: Option<u32>,
    pub(super) minimum_ttl: Option<u32>,
}

pub(super) fn router_origin(router: &Router) -> String {
    let peers: Vec<&str> = router.neighbors.iter().map(|n| n.peer.as_str()).collect();
    let mut s = format!("router bgp {}", router.asn);
    if let Some(v) = &router.vrf {
        let _ = write!(s, " vrf {v:?}");
    }
    if !peers.is_empty() {
        let _ = write!(s, " (BGPPeer {})", peers.join(", "));
    }
    s
}

pub(super) fn neighbor_origin(n: &Neighbor) -> String {
    format!("BGPPeer {}", n.peer)
}

pub(super) fn out_of_range(origin: String, value: u64, range: &'static str) -> RenderError {
    RenderError::OutOfRange {
        origin,
        value,
        range,
    }
}

pub(super) fn check_range(
    origin: impl FnOnce() -> String,
    value: u32,
    lo: u32,
    hi: u32,
    range: &'static str,
) -> Result<u32, RenderError> {
    if (lo..=hi).contains(&value) {
        Ok(value)
    } else {
        Err(out_of_range(origin(), value.into(), range))
    }
}

pub(super) fn router_vrf(router: &Router) -> Result<Option<SafeName>, RenderError> {
    let Some(vrf) = &router.vrf else {
        return Ok(None);
    };
    let origin = match router.neighbors.first() {
        Some(n) => format!("{} spec.vrf", neighbor_origin(n)),
        None => format!("router bgp {} VRF", router.asn),
    };
    limits::vrf_name(vrf).map_err(|reason| RenderError::UnsafeName {
        origin,
        value: names::shorten(vrf),
        reason,
    })?;
    Ok(Some(SafeName::trusted(vrf)))
}

pub(super) fn neighbor(
    router: &Router,
    n: &Neighbor,
    known_profiles: &BTreeSet<String>,
    notes: &mut Notes,
) -> Result<NeighborView, RenderError> {
    let origin = neighbor_origin(n);
    let field = |f: &str| format!("{origin} {f}");
    let (id, interface) = match &n.address {
        PeerAddress::Ip(ip) => (ip.to_string(), false),
        PeerAddress::Interface(name) => {
            limits::interface_name(name).map_err(|reason| RenderError::UnsafeName {
                origin: field("spec.interface"),
                value: names::shorten(name),
                reason,
            })?;
            (name.clone(), true)
        }
    };
    let ibgp = match n.remote_as {
        RemoteAs::Internal => true,
        RemoteAs::External => false,
        RemoteAs::Asn(asn) => asn == router.asn,
    };
    let remote_as = match n.remote_as {
        RemoteAs::Asn(asn) => {
            check_range(|| field("spec.peerASN"), asn, 1, u32::MAX, "1-4294967295")?.to_string()
        }
        RemoteAs::Internal => "internal".into(),
        RemoteAs::External => "external".into(),
    };
    let local_as = match n.local_as {
        None => None,
        Some(l) if l == router.asn => None,
        Some(l) => {
            check_range(|| field("spec.localASN"), l, 1, u32::MAX, "1-4294967295")?;
            limits::local_as(router.asn, n.remote_as, l).map_err(|why| {
                RenderError::Unsupported {
                    origin: field("spec.localASN"),
                    message: format!("localASN {l}: {why}"),
                }
            })?;
            // `no-prepend replace-as`: the peer sees a router of AS `l` only, as if it were
            // the router's own ASN.
            Some(l)
        }
    };
    // A profile that did not render leaves BFD on with FRR's defaults: taking BFD off would
    // reset the session.
    let mut bfd = n.bfd;
    let bfd_profile = match &n.bfd_profile {
        None => None,
        Some(p) if known_profiles.contains(p) => Some(SafeName::trusted(p)),
        Some(p) => {
            notes.left_out.push(LeftOut {
                object: origin.clone(),
                what: format!("BFD profile {p} (BFD stays on with FRR's defaults)"),
                error: RenderError::UnknownBfdProfile {
                    origin: field("spec.bfdProfile"),
                    profile: p.clone(),
                }
                .to_string(),
            });
            notes.first_error(RenderError::UnknownBfdProfile {
                origin: field("spec.bfdProfile"),
                profile: p.clone(),
            });
            bfd = true;
            None
        }
    };
    let mut keep_password = n.keep_password;
    let password = match &n.password {
        None => None,
        Some(pw) => match limits::password(pw.expose()) {
            Ok(()) => Some(pw.expose().to_owned()),
            Err(_) => {
                // Never in a message: the reason could hint at the secret.
                let error = RenderError::InvalidPassword {
                    origin: field("spec.password"),
                };
                notes.left_out.push(LeftOut {
                    object: origin.clone(),
                    what: "its password (FRR keeps the one it runs)".into(),
                    error: error.to_string(),
                });
                notes.first_error(error);
                keep_password = true;
                None
            }
        },
    };
    // MetalLB's workaround for FRR's next-hop check on single-hop IPv6 eBGP sessions: the
    // peer's link-local next hop is not "connected" to the global address it peers from.
    let disable_connected_check = matches!(n.address, PeerAddress::Ip(IpAddr::V6(_)))
        && n.ipv6
        && !n.ipv4
        && !n.ebgp_multihop
        && !ibgp;
    let port = match n.port {
        None | Some(BGP_DEFAULT_PORT) => None,
        Some(0) => return Err(out_of_range(field("spec.peerPort"), 0, "1-65535")),
        Some(p) => Some(p),
    };
    let timers = match n.timers {
        None => None,
        Some(t) => {
            check_range(
                || field("spec.keepaliveTime"),
                t.keepalive,
                0,
                65535,
                "0-65535",
            )?;
            if t.hold != 0 {
                check_range(|| field("spec.holdTime"), t.hold, 3, 65535, "0 or 3-65535")?;
            }
            Some((t.keepalive, t.hold))
        }
    };
    let connect_time = match n.connect_time {
        None => None,
        Some(c) => Some(check_range(
            || field("spec.connectTime"),
            c,
            1,
            65535,
            "1-65535",
        )?),
    };
    Ok(NeighborView {
        id,
        interface,
        remote_as,
        local_as,
        bfd: bfd || bfd_profile.is_some(),
        bfd_profile,
        password,
        keep_password,
        disable_connected_check,
        port,
        // FRR ignores (and never shows) ebgp-multihop on iBGP sessions.
        ebgp_multihop: n.ebgp_multihop && !ibgp,
        update_source: n.source_address.map(|a| a.to_string()),
        timers,
        connect_time,
        graceful_restart: n.graceful_restart,
    })
}

/// The profiles that render; one FRR cannot take is left out (its peers keep BFD on with
/// FRR's defaults).
pub(super) fn bfd_profiles(profiles: &[BfdProfile], notes: &mut Notes) -> Vec<BfdProfileView> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for p in profiles {
        match bfd_profile(p, &mut seen) {
            Ok(v) => out.push(v),
            Err(e) => {
                notes.left_out.push(LeftOut {
                    object: format!("BFDProfile {}", names::shorten(&p.name)),
                    what: "the profile".into(),
                    error: e.to_string(),
                });
                notes.first_error(e);
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn bfd_profile(p: &BfdProfile, seen: &mut BTreeSet<String>) -> Result<BfdProfileView, RenderError> {
    {
        let origin = format!("BFDProfile {:?}", p.name);
        limits::bfd_profile_name(&p.name).map_err(|reason| RenderError::UnsafeName {
            origin: format!("{origin} metadata.name"),
            value: names::shorten(&p.name),
            reason,
        })?;
        let name = SafeName::trusted(&p.name);
        if !seen.insert(p.name.clone()) {
            return Err(RenderError::NameCollision {
                name: name.to_string(),
            });
        }
        let field = |f: &str| format!("BFDProfile {name} {f}");
        let interval = |v: Option<u32>, f: &str| -> Result<Option<u32>, RenderError> {
            match v {
                None => Ok(None),
                Some(v) => check_range(|| field(f), v, 10, 60000, "10-60000").map(Some),
            }
        };
        let not_default = |v: Option<u32>, default: u32| v.filter(|v| *v != default);
        Ok(BfdProfileView {
            detect_multiplier: not_default(
                match p.detect_multiplier {
                    None => None,
                    Some(v) => Some(check_range(
                        || field("spec.detectMultiplier"),
                        v,
                        2,
                        255,
                        "2-255",
                    )?),
                },
                BFD_DEFAULT_DETECT_MULTIPLIER,
            ),
            transmit_interval: not_default(
                interval(p.transmit_interval, "spec.transmitInterval")?,
                BFD_DEFAULT_INTERVAL,
            ),
            receive_interval: not_default(
                interval(p.receive_interval, "spec.receiveInterval")?,
                BFD_DEFAULT_INTERVAL,
            ),
            passive_mode: p.passive_mode,
            echo_mode: p.echo_mode,
            echo_interval: not_default(
                interval(p.echo_interval, "spec.echoInterval")?,
                BFD_DEFAULT_ECHO_INTERVAL,
            ),
            minimum_ttl: not_default(
                match p.minimum_ttl {
                    None => None,
                    Some(v) => Some(check_range(
                        || field("spec.minimumTtl"),
                        v,
                        1,
                        254,
                        "1-254",
                    )?),
                },
                BFD_DEFAULT_MINIMUM_TTL,
            ),
            name,
        })
    }
}
