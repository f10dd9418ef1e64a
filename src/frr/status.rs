//! BGP and BFD state read back from FRR's JSON show commands.
//!
//! Parsers are tolerant by design: every field is `#[serde(default)]`, unknown fields are
//! ignored, and states are matched case-insensitively, so one parser reads FRR 7.5 to 10.x.
//! Differences handled (checked against 8.4 in the lab and FRR's sources for newer ones):
//! - `pfxSnt` in `show bgp summary json` appeared in 7.5; absent -> `None`, not 0.
//! - `peerState` (`OK`, `Admin`, `PfxCt`, `Policy`, `RTT`) appeared in 8.x; absent -> `None`.
//! - Session states: summary says `state: "Established"`, neighbors say
//!   `bgpState: "Established"`; older and newer releases differ in casing (`established`)
//!   and some print `Idle (Admin)` — all map to [`BgpState`].
//! - BFD status is `up`/`down`/`init`/`shutdown` in `show bfd peers json` but `Up`/`Down` in
//!   `peerBfdInfo.status` of the neighbor JSON.
//! - `show bfd peers json`: `uptime` (s) only while up, `downtime` (s) only while down,
//!   `local`/`vrf`/`interface` only when set, `rtt-*` only in 8.2..9.x, `minimum-ttl` only
//!   for multihop sessions, `label` only for labelled peers.
//! - `show bgp vrf all neighbors json` mixes `vrfId`/`vrfName` keys with the peer objects.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::cli::{Cli, CliError, Transport};

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("`{command}`: FRR did not return the expected JSON: {source}")]
    Json {
        command: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    Cli(#[from] CliError),
}

/// Everything ferrule reports about one node's sessions, read in one vtysh call.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FrrStatus {
    /// Per VRF and peer (all address families in `address_family_info`).
    pub neighbors: Vec<BgpNeighbor>,
    /// Per VRF, address family and peer.
    pub summary: Vec<SummaryPeer>,
    pub bfd_peers: Vec<BfdPeer>,
    pub bfd_counters: Vec<BfdCounters>,
}

const STATUS_COMMANDS: [&str; 4] = [
    "show bgp vrf all neighbors json",
    "show bgp vrf all summary json",
    "show bfd peers json",
    "show bfd peers counters json",
];

impl FrrStatus {
    /// Read BGP and BFD state from FRR (one round trip for the four show commands).
    pub async fn read(cli: &Cli) -> Result<FrrStatus, StatusError> {
        let out = cli.exec(&STATUS_COMMANDS).await?;
        let get = |i: usize| out.get(i).map(String::as_str).unwrap_or_default();
        Ok(FrrStatus {
            neighbors: parse_bgp_vrf_all_neighbors(get(0))?,
            summary: parse_bgp_vrf_all_summary(get(1))?,
            bfd_peers: parse_bfd_peers(get(2))?,
            bfd_counters: parse_bfd_counters(get(3))?,
        })
    }

    pub fn neighbor(&self, vrf: &str, address: &str) -> Option<&BgpNeighbor> {
        self.neighbors
            .iter()
            .find(|n| n.vrf == vrf && n.address == address)
    }

    /// The BFD session with `peer` in `vrf` (single-hop or multihop).
    pub fn bfd_peer(&self, vrf: &str, peer: &str) -> Option<&BfdPeer> {
        self.bfd_peers
            .iter()
            .find(|p| p.vrf_name() == vrf && p.peer == peer)
    }
}

/// A BGP FSM state as FRR names it (any casing, `Idle (Admin)` style suffixes ignored).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum BgpState {
    #[default]
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
    Clearing,
    Deleted,
    Other(String),
}

impl BgpState {
    pub fn parse(s: &str) -> BgpState {
        let word = s.split_whitespace().next().unwrap_or("");
        match word.to_ascii_lowercase().as_str() {
            "idle" => BgpState::Idle,
            "connect" => BgpState::Connect,
            "active" => BgpState::Active,
            "opensent" => BgpState::OpenSent,
            "openconfirm" => BgpState::OpenConfirm,
            "established" => BgpState::Established,
            "clearing" => BgpState::Clearing,
            "deleted" => BgpState::Deleted,
            _ => BgpState::Other(s.to_string()),
        }
    }

    pub fn is_established(&self) -> bool {
        *self == BgpState::Established
    }
}

impl fmt::Display for BgpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BgpState::Other(s) => f.write_str(s),
            other => write!(f, "{other:?}"),
        }
    }
}

impl<'de> Deserialize<'de> for BgpState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(BgpState::parse(&String::deserialize(d)?))
    }
}

/// BFD session status (`show bfd peers json` `status`, neighbor `peerBfdInfo.status`).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum BfdStatus {
    Up,
    #[default]
    Down,
    Init,
    /// `shutdown` (administratively down).
    AdminDown,
    Unknown(String),
}

impl BfdStatus {
    pub fn parse(s: &str) -> BfdStatus {
        match s.to_ascii_lowercase().as_str() {
            "up" => BfdStatus::Up,
            "down" => BfdStatus::Down,
            "init" => BfdStatus::Init,
            "shutdown" | "admindown" | "adm_down" => BfdStatus::AdminDown,
            _ => BfdStatus::Unknown(s.to_string()),
        }
    }
}

impl fmt::Display for BfdStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BfdStatus::Unknown(s) => f.write_str(s),
            other => write!(f, "{other:?}"),
        }
    }
}

impl<'de> Deserialize<'de> for BfdStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(BfdStatus::parse(&String::deserialize(d)?))
    }
}

/// One peer row of `show bgp [vrf all] summary json`, for one address family.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SummaryPeer {
    /// Filled from the enclosing keys, not the peer object.
    #[serde(skip_deserializing)]
    pub vrf: String,
    #[serde(skip_deserializing)]
    pub afi_safi: String,
    #[serde(skip_deserializing)]
    pub address: String,
    pub hostname: Option<String>,
    /// `remoteAs` is a number; FRR 10 may print a string for unresolved `remote-as auto`.
    #[serde(deserialize_with = "lenient_u32")]
    pub remote_as: Option<u32>,
    #[serde(deserialize_with = "lenient_u32")]
    pub local_as: Option<u32>,
    pub state: BgpState,
    /// FRR >= 8: `OK`, `Admin`, `PfxCt`, `Policy`, `RTT`.
    pub peer_state: Option<String>,
    pub peer_uptime_msec: Option<u64>,
    pub peer_uptime_established_epoch: Option<u64>,
    pub pfx_rcd: Option<u64>,
    /// Absent before FRR 7.5.
    pub pfx_snt: Option<u64>,
    pub msg_rcvd: Option<u64>,
    pub msg_sent: Option<u64>,
    pub connections_established: Option<u64>,
    pub connections_dropped: Option<u64>,
    pub dynamic_peer: bool,
}

/// Parse `show bgp summary json` (one VRF: `{ "ipv4Unicast": { "peers": {..} }, .. }`).
pub fn parse_bgp_summary(json: &str, vrf: &str) -> Result<Vec<SummaryPeer>, StatusError> {
    const CMD: &str = "show bgp summary json";
    let v = object(parse(json, CMD)?, CMD)?;
    let mut out = Vec::new();
    summary_vrf(vrf, &v, &mut out).map_err(|source| StatusError::Json {
        command: CMD,
        source,
    })?;
    out.sort_by(|a, b| (&a.vrf, &a.address, &a.afi_safi).cmp(&(&b.vrf, &b.address, &b.afi_safi)));
    Ok(out)
}

/// Parse `show bgp vrf all summary json` (`{ "default": { "ipv4Unicast": .. }, "red": .. }`).
pub fn parse_bgp_vrf_all_summary(json: &str) -> Result<Vec<SummaryPeer>, StatusError> {
    const CMD: &str = "show bgp vrf all summary json";
    let v = object(parse(json, CMD)?, CMD)?;
    let mut out = Vec::new();
    for (vrf, afs) in &v {
        if let Value::Object(afs) = afs {
            summary_vrf(vrf, afs, &mut out).map_err(|source| StatusError::Json {
                command: CMD,
                source,
            })?;
        }
    }
    out.sort_by(|a, b| (&a.vrf, &a.address, &a.afi_safi).cmp(&(&b.vrf, &b.address, &b.afi_safi)));
    Ok(out)
}

fn summary_vrf(
    vrf: &str,
    afs: &Map<String, Value>,
    out: &mut Vec<SummaryPeer>,
) -> Result<(), serde_json::Error> {
    for (afi_safi, af) in afs {
        // An AF object has `peers`; scalars and AFs without neighbors are skipped.
        let Some(Value::Object(peers)) = af.get("peers") else {
            continue;
        };
        for (address, p) in peers {
            let mut peer: SummaryPeer = serde_json::from_value(p.clone())?;
            peer.vrf = vrf.to_string();
            peer.afi_safi = afi_safi.clone();
            peer.address = address.clone();
            out.push(peer);
        }
    }
    Ok(())
}

/// `messageStats` of a neighbor.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct MessageStats {
    pub opens_sent: u64,
    pub opens_recv: u64,
    pub notifications_sent: u64,
    pub notifications_recv: u64,
    pub updates_sent: u64,
    pub updates_recv: u64,
    pub keepalives_sent: u64,
    pub keepalives_recv: u64,
    pub route_refresh_sent: u64,
    pub route_refresh_recv: u64,
    pub total_sent: u64,
    pub total_recv: u64,
}

/// One entry of a neighbor's `addressFamilyInfo`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AfInfo {
    pub accepted_prefix_counter: Option<u64>,
    pub sent_prefix_counter: Option<u64>,
    pub route_map_for_incoming_advertisements: Option<String>,
    pub route_map_for_outgoing_advertisements: Option<String>,
}

/// A neighbor's `peerBfdInfo`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NeighborBfd {
    /// `single hop` / `multi hop`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub detect_multiplier: Option<u32>,
    pub rx_min_interval: Option<u32>,
    pub tx_min_interval: Option<u32>,
    pub status: BfdStatus,
    pub last_update: Option<String>,
}

/// One neighbor of `show bgp [vrf all] neighbors json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BgpNeighbor {
    #[serde(skip_deserializing)]
    pub vrf: String,
    #[serde(skip_deserializing)]
    pub address: String,
    #[serde(deserialize_with = "lenient_u32")]
    pub remote_as: Option<u32>,
    #[serde(deserialize_with = "lenient_u32")]
    pub local_as: Option<u32>,
    pub hostname: Option<String>,
    pub remote_router_id: Option<String>,
    pub nbr_external_link: bool,
    pub nbr_internal_link: bool,
    pub bgp_state: BgpState,
    /// Only while Established.
    pub bgp_timer_up_msec: Option<u64>,
    pub bgp_timer_up_established_epoch: Option<u64>,
    pub bgp_timer_hold_time_msecs: Option<u64>,
    pub bgp_timer_keep_alive_interval_msecs: Option<u64>,
    pub connections_established: Option<u64>,
    pub connections_dropped: Option<u64>,
    pub last_reset_due_to: Option<String>,
    pub last_notification_reason: Option<String>,
    pub last_error_code_subcode: Option<String>,
    pub message_stats: MessageStats,
    pub address_family_info: BTreeMap<String, AfInfo>,
    pub peer_bfd_info: Option<NeighborBfd>,
    pub host_local: Option<String>,
    pub host_foreign: Option<String>,
}

/// Parse `show bgp neighbors json` (one VRF, keyed by peer).
pub fn parse_bgp_neighbors(json: &str, vrf: &str) -> Result<Vec<BgpNeighbor>, StatusError> {
    const CMD: &str = "show bgp neighbors json";
    let v = object(parse(json, CMD)?, CMD)?;
    let mut out = Vec::new();
    neighbors_vrf(vrf, &v, &mut out).map_err(|source| StatusError::Json {
        command: CMD,
        source,
    })?;
    Ok(out)
}

/// Parse `show bgp vrf all neighbors json` (`{ "default": { "vrfId": 0, "192.0.2.1": {..} } }`).
pub fn parse_bgp_vrf_all_neighbors(json: &str) -> Result<Vec<BgpNeighbor>, StatusError> {
    const CMD: &str = "show bgp vrf all neighbors json";
    let v = object(parse(json, CMD)?, CMD)?;
    let mut out = Vec::new();
    for (vrf, peers) in &v {
        if let Value::Object(peers) = peers {
            neighbors_vrf(vrf, peers, &mut out).map_err(|source| StatusError::Json {
                command: CMD,
                source,
            })?;
        }
    }
    out.sort_by(|a, b| (&a.vrf, &a.address).cmp(&(&b.vrf, &b.address)));
    Ok(out)
}

fn neighbors_vrf(
    vrf: &str,
    peers: &Map<String, Value>,
    out: &mut Vec<BgpNeighbor>,
) -> Result<(), serde_json::Error> {
    for (address, p) in peers {
        // `vrfId`, `vrfName` and similar scalars sit next to the peer objects.
        let is_peer = p.get("bgpState").is_some() || p.get("remoteAs").is_some();
        if !is_peer {
            continue;
        }
        let mut n: BgpNeighbor = serde_json::from_value(p.clone())?;
        n.vrf = vrf.to_string();
        n.address = address.clone();
        out.push(n);
    }
    Ok(())
}

/// One entry of `show bfd peers json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct BfdPeer {
    pub multihop: bool,
    pub peer: String,
    pub local: Option<String>,
    /// Absent in some releases for the default VRF.
    pub vrf: Option<String>,
    pub interface: Option<String>,
    pub label: Option<String>,
    pub id: Option<u32>,
    pub remote_id: Option<u32>,
    pub passive_mode: bool,
    pub minimum_ttl: Option<u8>,
    pub status: BfdStatus,
    /// Seconds, present only while up.
    pub uptime: Option<u64>,
    /// Seconds, present only while down.
    pub downtime: Option<u64>,
    pub diagnostic: Option<String>,
    pub remote_diagnostic: Option<String>,
    /// Milliseconds.
    pub receive_interval: Option<u32>,
    pub transmit_interval: Option<u32>,
    pub echo_receive_interval: Option<u32>,
    pub echo_transmit_interval: Option<u32>,
    pub detect_multiplier: Option<u32>,
    pub remote_receive_interval: Option<u32>,
    pub remote_transmit_interval: Option<u32>,
    pub remote_echo_receive_interval: Option<u32>,
    pub remote_detect_multiplier: Option<u32>,
}

impl BfdPeer {
    pub fn vrf_name(&self) -> &str {
        self.vrf.as_deref().unwrap_or("default")
    }
}

/// One entry of `show bfd peers counters json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct BfdCounters {
    pub multihop: bool,
    pub peer: String,
    pub local: Option<String>,
    pub vrf: Option<String>,
    pub interface: Option<String>,
    pub control_packet_input: u64,
    pub control_packet_output: u64,
    pub echo_packet_input: u64,
    pub echo_packet_output: u64,
    pub session_up: u64,
    pub session_down: u64,
    pub zebra_notifications: u64,
}

pub fn parse_bfd_peers(json: &str) -> Result<Vec<BfdPeer>, StatusError> {
    let mut v: Vec<BfdPeer> = array(json, "show bfd peers json")?;
    v.sort_by(|a, b| (a.vrf_name(), &a.peer, &a.local).cmp(&(b.vrf_name(), &b.peer, &b.local)));
    Ok(v)
}

pub fn parse_bfd_counters(json: &str) -> Result<Vec<BfdCounters>, StatusError> {
    let mut v: Vec<BfdCounters> = array(json, "show bfd peers counters json")?;
    v.sort_by(|a, b| (&a.vrf, &a.peer, &a.local).cmp(&(&b.vrf, &b.peer, &b.local)));
    Ok(v)
}

/// The JSON value FRR printed; empty output (some releases print nothing for "no peers")
/// becomes `null`.
fn parse(json: &str, command: &'static str) -> Result<Value, StatusError> {
    if json.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(json).map_err(|source| StatusError::Json { command, source })
}

/// An object's members; `null` is an empty object, anything else an error.
fn object(v: Value, command: &'static str) -> Result<Map<String, Value>, StatusError> {
    match v {
        Value::Object(m) => Ok(m),
        Value::Null => Ok(Map::new()),
        other => Err(StatusError::Json {
            command,
            source: serde::de::Error::custom(format!("expected an object, got {other}")),
        }),
    }
}

fn array<T: serde::de::DeserializeOwned>(
    json: &str,
    command: &'static str,
) -> Result<Vec<T>, StatusError> {
    match parse(json, command)? {
        Value::Null => Ok(Vec::new()),
        v => serde_json::from_value(v).map_err(|source| StatusError::Json { command, source }),
    }
}

/// A u32 that may be printed as a number or a numeric string; anything else is `None`.
fn lenient_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.parse().ok(),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/testdata/frr/");

    fn sample(name: &str) -> String {
        std::fs::read_to_string(format!("{DIR}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    #[test]
    fn session_states_parse_across_versions() {
        let table = [
            ("Established", BgpState::Established),
            ("established", BgpState::Established),
            ("Idle (Admin)", BgpState::Idle),
            ("Active", BgpState::Active),
            ("OpenSent", BgpState::OpenSent),
            ("Clearing", BgpState::Clearing),
            ("Weird", BgpState::Other("Weird".into())),
        ];
        for (input, want) in table {
            assert_eq!(BgpState::parse(input), want, "{input}");
        }
        let bfd = [
            ("up", BfdStatus::Up),
            ("Up", BfdStatus::Up),
            ("down", BfdStatus::Down),
            ("init", BfdStatus::Init),
            ("shutdown", BfdStatus::AdminDown),
            ("Unknown", BfdStatus::Unknown("Unknown".into())),
        ];
        for (input, want) in bfd {
            assert_eq!(BfdStatus::parse(input), want, "{input}");
        }
    }

    #[test]
    fn frr_8_4_summary_samples() {
        let tor =
            parse_bgp_vrf_all_summary(&sample("frr8.4-tor-bgp-vrf-all-summary.json")).unwrap();
        assert_eq!(tor.len(), 1);
        let p = &tor[0];
        assert_eq!(
            (p.vrf.as_str(), p.afi_safi.as_str(), p.address.as_str()),
            ("default", "ipv4Unicast", "192.0.2.21")
        );
        assert_eq!(p.state, BgpState::Established);
        assert_eq!(p.peer_state.as_deref(), Some("OK"));
        assert_eq!(p.remote_as, Some(65100));
        assert_eq!(p.pfx_rcd, Some(3));
        assert!(p.pfx_snt.is_some());
        assert!(p.peer_uptime_msec.is_some());
        assert_eq!(p.connections_established, Some(1));
        assert!(p.dynamic_peer);

        let node = parse_bgp_summary(&sample("frr8.4-node-bgp-summary.json"), "default").unwrap();
        assert_eq!(node.len(), 1);
        assert_eq!(node[0].address, "192.0.2.1");
        assert_eq!(node[0].vrf, "default");
        assert!(node[0].state.is_established());
    }

    #[test]
    fn frr_8_4_neighbor_and_bfd_samples() {
        for file in [
            "frr8.4-node-bgp-vrf-all-neighbors.json",
            "frr8.4-node-bgp-neighbors.json",
        ] {
            let text = sample(file);
            let n = if file.contains("vrf-all") {
                parse_bgp_vrf_all_neighbors(&text)
            } else {
                parse_bgp_neighbors(&text, "default")
            }
            .unwrap();
            assert_eq!(n.len(), 1, "{file}: vrfId/vrfName are not peers");
            let n = &n[0];
            assert_eq!(n.address, "192.0.2.1");
            assert_eq!(n.bgp_state, BgpState::Established);
            assert_eq!(n.bgp_timer_hold_time_msecs, Some(9000));
            assert!(n.message_stats.updates_sent > 0);
            let af = &n.address_family_info["ipv4Unicast"];
            assert_eq!(af.sent_prefix_counter, Some(3));
            assert_eq!(
                af.route_map_for_outgoing_advertisements.as_deref(),
                Some("ferrule-192.0.2.1-out")
            );
            let bfd = n.peer_bfd_info.as_ref().expect("bfd info");
            assert_eq!(bfd.status, BfdStatus::Up);
            assert_eq!(bfd.detect_multiplier, Some(3));
        }
        let peers = parse_bfd_peers(&sample("frr8.4-node-bfd-peers.json")).unwrap();
        assert_eq!(peers.len(), 1);
        assert_eq!(peers[0].status, BfdStatus::Up);
        assert_eq!(peers[0].receive_interval, Some(300));
        assert!(peers[0].uptime.is_some() && peers[0].downtime.is_none());
        let counters = parse_bfd_counters(&sample("frr8.4-node-bfd-peers-counters.json")).unwrap();
        assert_eq!(counters.len(), 1);
        // Captured after the echo-mode flaps described in frr-lab notes: 5 ups, 8 downs.
        let c = &counters[0];
        assert_eq!(
            (c.session_up, c.session_down, c.echo_packet_output),
            (5, 8, 19)
        );
        assert_eq!(c.interface.as_deref(), Some("eth0"));
    }

    #[test]
    fn frr_10_shaped_samples() {
        let s =
            parse_bgp_vrf_all_summary(&sample("frr10-shaped-bgp-vrf-all-summary.json")).unwrap();
        let by: Vec<(&str, &str, &BgpState, Option<u32>)> = s
            .iter()
            .map(|p| (p.vrf.as_str(), p.address.as_str(), &p.state, p.remote_as))
            .collect();
        assert_eq!(
            by,
            [
                ("default", "192.0.2.1", &BgpState::Established, Some(65000)),
                ("default", "192.0.2.2", &BgpState::Idle, None),
                ("red", "2001:db8::1", &BgpState::Established, Some(65000)),
            ]
        );
        assert_eq!(s[1].peer_state.as_deref(), Some("Admin"));
        assert_eq!(s[2].pfx_snt, None, "missing pfxSnt stays unknown");

        let n = parse_bgp_vrf_all_neighbors(&sample("frr10-shaped-bgp-vrf-all-neighbors.json"))
            .unwrap();
        assert_eq!(n.len(), 2);
        assert_eq!(n[0].peer_bfd_info.as_ref().unwrap().status, BfdStatus::Up);
        assert_eq!(n[1].bgp_state, BgpState::Idle);
        assert_eq!(n[1].remote_as, None);
        assert_eq!(n[1].message_stats, MessageStats::default());

        let b = parse_bfd_peers(&sample("frr10-shaped-bfd-peers.json")).unwrap();
        assert_eq!(b.len(), 2);
        let red = b.iter().find(|p| p.vrf_name() == "red").unwrap();
        assert!(red.multihop && red.passive_mode);
        assert_eq!(red.minimum_ttl, Some(250));
        assert_eq!(
            (red.status.clone(), red.downtime, red.uptime),
            (BfdStatus::Down, Some(42), None)
        );
    }

    #[test]
    fn empty_answers_are_empty() {
        for text in ["", "{}", "{\n}\n"] {
            assert!(
                parse_bgp_vrf_all_summary(text).unwrap().is_empty(),
                "{text:?}"
            );
            assert!(
                parse_bgp_vrf_all_neighbors(text).unwrap().is_empty(),
                "{text:?}"
            );
        }
        for text in ["", "[]", "[\n]\n"] {
            assert!(parse_bfd_peers(text).unwrap().is_empty(), "{text:?}");
        }
        assert!(parse_bfd_peers("{\"oops\": 1}").is_err());
        assert!(parse_bgp_summary("[1]", "default").is_err());
    }
}
