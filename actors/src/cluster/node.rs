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
}

impl NodeInfo {
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
        }
    }
}
