//! The one scripted FRR (and in-memory status sink) every speaker test drives the engine
//! with: it records what it was given, fails when told to, and reports the sessions it is
//! told to.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrule::{Applied, FrrState, Rendered, SessionState, SinkError, StatusError, StatusObjects};
use ferrule::{Frr, StatusSink};

#[derive(Default)]
pub struct Script {
    /// Every config applied, in order.
    pub applied: Vec<String>,
    /// Refuse this many applies (as FRR refusing a command would).
    pub fail_next: usize,
    /// What `read_state` answers.
    pub state: FrrState,
    /// How often the state was read.
    pub reads: usize,
    /// Bumped to play a restarted daemon.
    pub restarts: u64,
    /// `read_state` fails (FRR's sockets gone).
    pub unreachable: bool,
    /// `read_state` never returns (a wedged call, past every timeout).
    pub hang_reads: bool,
}

/// Cheap to clone; clones share one script.
#[derive(Clone, Default)]
pub struct FakeFrr(pub Arc<Mutex<Script>>);

impl FakeFrr {
    /// FRR with these sessions Established (BFD up), as a healthy node reports them.
    pub fn established(neighbors: &[&str]) -> Self {
        let f = FakeFrr::default();
        f.0.lock().unwrap().state = FrrState {
            version: "8.4.4".into(),
            sessions: neighbors.iter().map(|n| established(n)).collect(),
        };
        f
    }

    pub fn applied(&self) -> Vec<String> {
        self.0.lock().unwrap().applied.clone()
    }

    pub fn reads(&self) -> usize {
        self.0.lock().unwrap().reads
    }
}

/// One Established session with BFD up.
pub fn established(neighbor: &str) -> SessionState {
    SessionState {
        vrf: None,
        neighbor: neighbor.into(),
        bgp_state: "Established".into(),
        established_epoch: Some(1_700_000_000),
        prefixes_sent: 1,
        prefixes_received: 0,
        connections_established: 1,
        connections_dropped: 0,
        bfd: Some("up".into()),
        last_error: None,
    }
}

impl Frr for FakeFrr {
    async fn apply(&mut self, config: &Rendered) -> Applied {
        let mut s = self.0.lock().unwrap();
        if s.fail_next > 0 {
            s.fail_next -= 1;
            return Applied::failed("% Unknown command: bogus", 1, Duration::from_millis(1));
        }
        s.applied.push(config.text.clone());
        Applied::ok(3, Duration::from_millis(1))
    }

    async fn read_state(&mut self) -> Result<FrrState, StatusError> {
        let hang = {
            let mut s = self.0.lock().unwrap();
            s.reads += 1;
            if s.unreachable {
                return Err(StatusError::Cli(ferrule::CliError::Timeout {
                    what: "show bgp neighbors json".into(),
                    after: Duration::from_secs(1),
                }));
            }
            s.hang_reads
        };
        if hang {
            std::future::pending::<()>().await;
        }
        Ok(self.0.lock().unwrap().state.clone())
    }

    fn restarts(&self) -> u64 {
        self.0.lock().unwrap().restarts
    }
}

/// Keeps every publish in memory.
#[derive(Clone, Default)]
pub struct MemorySink(pub Arc<Mutex<Vec<StatusObjects>>>);

impl MemorySink {
    pub fn last(&self) -> Option<StatusObjects> {
        self.0.lock().unwrap().last().cloned()
    }

    pub fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

impl StatusSink for MemorySink {
    async fn publish(&mut self, objects: &StatusObjects) -> Result<usize, SinkError> {
        self.0.lock().unwrap().push(objects.clone());
        Ok(1)
    }
}
