//! Who a node is (as peers see it in the handshake and in cluster status), how its links behave,
//! and what it knows of each peer.

use starling_protocol::handshake::Hello;
use starling_protocol::NodeId;
use std::sync::{Arc, RwLock};

/// This node's config hash, shared by everything that shows it (handshakes, cluster status) so a
/// reloaded config is announced with its new hash.
#[derive(Debug, Clone, Default)]
pub struct ConfigHash(Arc<RwLock<String>>);

impl ConfigHash {
    pub fn new(hash: impl Into<String>) -> Self {
        Self(Arc::new(RwLock::new(hash.into())))
    }
    pub fn get(&self) -> String {
        self.0.read().map(|h| h.clone()).unwrap_or_else(|p| p.into_inner().clone())
    }
    /// Replace the hash; true when it changed.
    pub fn set(&self, hash: &str) -> bool {
        let mut h = self.0.write().unwrap_or_else(|p| p.into_inner());
        if *h == hash {
            return false;
        }
        *h = hash.to_owned();
        true
    }
}

/// Who this node is, as peers see it in the handshake and in cluster status.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub node_id: NodeId,
    pub cluster_name: String,
    pub app_version: String,
    pub schema_version: i32,
    pub config_hash: ConfigHash,
    /// host:port peers dial.
    pub gossip_addr: String,
    pub hostname: String,
    /// The protocol versions this node speaks (the handshake picks the highest both speak).
    pub protocol: (u16, u16),
    /// Added to this node's clock wherever the cluster reads it (pings, pongs, skew): 0, except in
    /// tests that play a node with a wrong clock.
    pub clock_offset_ms: i64,
}

/// Clocks further apart than this are flagged (cluster status, log, metric): timestamps order
/// posts and expire sessions, and a node written by NTP stays well within it.
pub const MAX_CLOCK_SKEW_MS: i64 = 1000;

/// The peer's clock minus ours, from a pong that arrived at `now` (our clock) answering the ping
/// sent at `sent_ms` with the peer's clock at `answered_ms`: that minus our clock halfway through
/// the round trip. The estimate is off by up to half the round trip, so a slow one (a loaded peer
/// answering late) is not used (None), and neither are values that do not fit: the peer echoes
/// `sent_ms` and states `answered_ms`, so both are checked, not trusted.
pub fn skew_estimate(now: i64, sent_ms: i64, answered_ms: i64) -> Option<i64> {
    let rtt = now.checked_sub(sent_ms).filter(|rtt| (0..=MAX_CLOCK_SKEW_MS / 2).contains(rtt))?;
    answered_ms.checked_sub(sent_ms + rtt / 2)
}

/// How far apart two app versions are, by Mattermost's upgrade rule: nodes of one cluster may be
/// at most one minor version apart (while it is upgraded node by node), never another major.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionGap {
    Same,
    /// Another patch release, or the next or previous minor one: they work together.
    Compatible,
    /// Another major version, or minors two or more apart: refused.
    TooFar,
}

/// `major.minor` of `major.minor.patch[-suffix]`.
fn major_minor(v: &str) -> Option<(u64, u64)> {
    let mut parts = v.split(['.', '-', '+']);
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

pub fn version_gap(ours: &str, theirs: &str) -> VersionGap {
    if ours == theirs {
        return VersionGap::Same;
    }
    match (major_minor(ours), major_minor(theirs)) {
        (Some((a, x)), Some((b, y))) if a == b && x.abs_diff(y) <= 1 => VersionGap::Compatible,
        _ => VersionGap::TooFar,
    }
}

/// Why a node of version `ours` does not link with one of `theirs`, if it does not.
pub fn version_refusal(ours: &str, theirs: &str) -> Option<String> {
    (version_gap(ours, theirs) == VersionGap::TooFar).then(|| {
        format!("app version {theirs} is too far from {ours}: nodes may be at most one minor version apart (upgrade one minor version at a time)")
    })
}

impl NodeInfo {
    /// This node's clock as the cluster reads it (ms since the epoch).
    pub fn now_ms(&self) -> i64 {
        starling_protocol::now_ms() + self.clock_offset_ms
    }

    /// This node's half of a handshake, with a fresh random value.
    pub fn hello(&self) -> Hello {
        let mut random = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut random);
        Hello {
            node_id: self.node_id.clone(),
            cluster_name: self.cluster_name.clone(),
            min_version: self.protocol.0,
            max_version: self.protocol.1,
            app_version: self.app_version.clone(),
            schema_version: self.schema_version,
            config_hash: self.config_hash.get(),
            gossip_addr: self.gossip_addr.clone(),
            hostname: self.hostname.clone(),
            random,
        }
    }
}

/// How the transport behaves (from ClusterSettings).
#[derive(Clone)]
pub struct TransportSettings {
    /// The cluster key (Systems.ClusterEncryptionKey): seals handshakes, derives session keys.
    pub key: [u8; 32],
    /// Encrypt payloads too (ClusterSettings.EnableExperimentalGossipEncryption); frames are
    /// always authenticated.
    pub encrypt: bool,
    /// LZ4-compress batches (ClusterSettings.EnableGossipCompression).
    pub compress: bool,
}

/// What this node makes of a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerState {
    /// Dialling (first contact, or a live link broke and is being redialled).
    Connecting,
    Up,
    /// Silent for a while; others are asked whether they hear it.
    Suspect,
    /// Unreachable; redialled every [`super::RETRY_INTERVAL`].
    Down,
}

impl PeerState {
    pub fn as_str(&self) -> &'static str {
        match self {
            PeerState::Connecting => "connecting",
            PeerState::Up => "up",
            PeerState::Suspect => "suspect",
            PeerState::Down => "down",
        }
    }

    /// Up or suspect: reachable as far as this node knows.
    pub fn is_live(&self) -> bool {
        matches!(self, PeerState::Up | PeerState::Suspect)
    }
}

/// One peer's row in cluster status. Peers push it to the coordinator when it changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStatus {
    pub gossip_addr: String,
    /// Empty until the first handshake.
    pub node_id: NodeId,
    pub hostname: String,
    pub app_version: String,
    pub schema_version: i32,
    pub config_hash: String,
    /// The protocol version the link speaks (0 before the first handshake).
    pub protocol_version: u16,
    pub state: PeerState,
    pub reason: String,
    pub last_heard_ms: i64,
    /// How far the peer's clock is ahead of this node's (negative: behind), in ms, as measured from
    /// the last pong; None before one arrived, or on a protocol 1 link (which carries no clock).
    pub clock_skew_ms: Option<i64>,
}

impl PeerStatus {
    /// A peer not yet reached.
    pub fn unknown(gossip_addr: &str) -> Self {
        Self {
            gossip_addr: gossip_addr.to_owned(),
            node_id: NodeId::default(),
            hostname: String::new(),
            app_version: String::new(),
            schema_version: 0,
            config_hash: String::new(),
            protocol_version: 0,
            state: PeerState::Connecting,
            reason: String::new(),
            last_heard_ms: 0,
            clock_skew_ms: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_link_when_at_most_one_minor_apart_within_a_major() {
        use VersionGap::*;
        for (a, b, gap) in [
            ("10.5.0", "10.5.0", Same),
            ("10.5.0", "10.5.3", Compatible),
            ("10.5.0", "10.6.0", Compatible),
            ("10.6.1", "10.5.0-rc1", Compatible),
            ("10.5.0", "10.7.0", TooFar),
            ("10.5.0", "11.5.0", TooFar),
            ("9.11.0", "10.0.0", TooFar),
            ("test", "other", TooFar),
        ] {
            assert_eq!(version_gap(a, b), gap, "{a} / {b}");
            assert_eq!(version_gap(b, a), gap, "{b} / {a}");
        }
        assert!(version_refusal("10.5.0", "10.6.0").is_none());
    }

    #[test]
    fn skew_is_estimated_from_quick_round_trips_only_and_never_overflows() {
        let t = 1_700_000_000_000;
        assert_eq!(skew_estimate(t + 10, t, t + 5_005), Some(5_000), "ahead");
        assert_eq!(skew_estimate(t + 10, t, t - 4_995), Some(-5_000), "behind");
        assert_eq!(skew_estimate(t + 501, t, t), None, "a slow round trip says nothing");
        assert_eq!(skew_estimate(t, t + 1, t), None, "our clock stepped back");
        // A peer's garbage: refused where it does not fit, never a panic.
        for (sent, answered) in [(i64::MIN, 0), (i64::MAX, 0), (t, i64::MIN)] {
            assert!(skew_estimate(t, sent, answered).is_none(), "{sent} {answered}");
        }
        assert_eq!(skew_estimate(t, t, i64::MAX), Some(i64::MAX - t), "absurd but representable: shown red");
        assert_eq!(skew_estimate(i64::MIN, i64::MIN, i64::MIN), Some(0));
        assert!(version_refusal("10.5.0", "10.7.0").unwrap().contains("10.7.0 is too far from 10.5.0"));
    }
}
