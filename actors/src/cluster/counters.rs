//! Counters the node exports as metrics (`mattermost_cluster_*`, `starling_cluster_*`).

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

#[derive(Default)]
pub struct ClusterCounters {
    /// Requests to peers (revocations waiting for acks, asks), and their total time.
    pub requests: AtomicU64,
    pub request_micros: AtomicU64,
    pub frames_sent: AtomicU64,
    pub frames_received: AtomicU64,
    /// Messages sent and received, by message name.
    pub event_types: Mutex<BTreeMap<&'static str, u64>>,
    /// Frames, links and messages refused, by reason.
    pub rejected: Mutex<BTreeMap<&'static str, u64>>,
    /// Peer state changes, by the state entered (`down`, `suspect`, `up`, `connecting`).
    pub peer_transitions: Mutex<BTreeMap<&'static str, u64>>,
    /// Best-effort messages dropped because a link's queue was full.
    pub best_effort_dropped: AtomicU64,
}

fn bump(m: &Mutex<BTreeMap<&'static str, u64>>, key: &'static str) {
    if let Ok(mut m) = m.lock() {
        *m.entry(key).or_default() += 1;
    }
}

impl ClusterCounters {
    pub fn count_event(&self, name: &'static str) {
        bump(&self.event_types, name);
    }
    pub fn peer_entered(&self, state: &'static str) {
        bump(&self.peer_transitions, state);
    }
    pub fn reject(&self, reason: &'static str) {
        bump(&self.rejected, reason);
    }
}
