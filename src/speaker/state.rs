//! What the speaker reads back from FRR, in the speaker's own terms. The FRR adapter fills
//! these from `show bgp vrf all neighbors json` / `show bfd peers json`; status objects and
//! metrics are built from them.

use serde::Serialize;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FrrState {
    pub version: String,
    /// Sorted by (vrf, address).
    pub sessions: Vec<SessionState>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SessionState {
    /// `None` for the default VRF.
    pub vrf: Option<String>,
    /// The neighbor as FRR names it: an address, or an interface for unnumbered peers.
    pub neighbor: String,
    /// Idle, Connect, Active, OpenSent, OpenConfirm, Established.
    pub bgp_state: String,
    /// Unix time (s) the session became Established, when it is.
    pub established_epoch: Option<i64>,
    pub prefixes_sent: u64,
    pub prefixes_received: u64,
    pub connections_established: u64,
    pub connections_dropped: u64,
    /// up, down, init, adminDown; `None` without BFD.
    pub bfd: Option<String>,
    /// FRR's last reset / notification reason.
    pub last_error: Option<String>,
}

impl FrrState {
    pub fn session(&self, vrf: Option<&str>, neighbor: &str) -> Option<&SessionState> {
        self.sessions
            .iter()
            .find(|s| s.vrf.as_deref() == vrf && s.neighbor == neighbor)
    }
}
