//! The cluster: this node's view of its peers and the links to them.
//!
//! - [`coordinator::Cluster`] owns one [`peer::ClusterPeer`] per remote node, forwards what this
//!   node publishes on its bus to every peer, sends requests, answers indirect probes and tells
//!   subscribers when the view changes.
//! - [`peer::ClusterPeer`] dials one remote node and sends it batches of envelopes: reliable
//!   messages stay queued until acknowledged and are re-sent after a reconnect; best-effort ones
//!   are dropped when the link is down. It pushes its [`PeerStatus`] to the coordinator.
//! - [`inbound`] accepts peers' links on the gossip port and applies what they send: bus events to
//!   this node's bus, revocations to the session cache; reliable messages are acknowledged once
//!   applied.
//! - [`link`] is the link itself, for both directions: handshake, framing, sealing ([`Transport`]:
//!   TCP, or [`memory::MemoryNetwork`] in tests).
//! - [`discovery::Discovery`] keeps this node's row in ClusterDiscovery and tells the coordinator
//!   which nodes share its ClusterName.
//! - [`node`]: who a node is; [`counters`]: what the metrics show.
//!
//! One post, from the API to another node's websocket: the API publishes
//! `BusEvent::Ws(posted)` on its [`EventBus`](crate::event_bus::EventBus) -> the bus hands it to
//! its hubs and to its subscribers, the coordinator among them -> the coordinator gives each peer
//! `ClusterMessage::Bus(event)` -> the peer seals it into a frame -> the other node's [`inbound`]
//! link decodes it and publishes the same `BusEvent` on that node's bus (origin: the peer) -> its
//! hubs deliver it to the members' websockets.
//!
//! Failure detection (design note). Every pair of nodes keeps a link each way; the dialer pings
//! every [`PING_INTERVAL`] and hears pongs, acks and responses. A node killed outright closes its
//! sockets, so its peers see the link drop and the redial refused within milliseconds: that is a
//! definite "down". A silent link (hung host, partition) makes the peer *suspect* after
//! [`SUSPECT_AFTER`]; the coordinator then asks the other live peers whether they heard the suspect
//! recently (SWIM's indirect probe). Any "yes" keeps it suspect but not down (it is slow, not
//! dead); no "yes" by [`DOWN_AFTER`] makes it down. Down peers are redialled every
//! [`RETRY_INTERVAL`] (Mattermost's 15 s contract), and at once when they dial us.

pub mod answers;
pub mod coordinator;
pub mod counters;
pub mod discovery;
pub mod inbound;
pub mod link;
pub mod memory;
pub mod node;
pub mod peer;
#[cfg(test)]
mod tests;

pub use answers::{Answerers, ExtensionQuestion};
pub use coordinator::{
    AnnounceConfig, AskPeers, BroadcastAndWait, Cluster, ClusterViewChanged, GetPeerStatuses, LeaveCluster, PeerSeen,
    RemoteConfigChanged, SetPeers, SubscribeConfig, SubscribeView,
};
pub use counters::ClusterCounters;
pub use inbound::{Inbound, LocalParts};
pub use link::{Listener, Tcp, Transport};
pub use node::{ConfigHash, NodeInfo, PeerState, PeerStatus, TransportSettings, MAX_CLOCK_SKEW_MS};

use crate::event_bus::{Filter, Subscribe};
use crate::supervisor::Supervisor;
use actix::Addr;
use starling_protocol::NodeId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// How often a live link is pinged.
pub const PING_INTERVAL: Duration = Duration::from_millis(250);
/// Silence after which a peer is suspect (and indirectly probed): four pings unanswered.
pub const SUSPECT_AFTER: Duration = Duration::from_millis(1000);
/// Silence after which a suspect nobody vouches for is down.
pub const DOWN_AFTER: Duration = Duration::from_millis(2500);
/// How often a down peer is redialled (Mattermost's contract).
pub const RETRY_INTERVAL: Duration = Duration::from_secs(15);
/// How long a dial (connect and handshake) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a revocation waits for every reachable peer to confirm.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(2);
/// How long an indirect probe waits for the other peers' answers.
pub const INDIRECT_PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// A quiet link makes its node suspect within `SUSPECT_AFTER` plus one ping tick, and a node with
/// a suspect peer stops trusting its session cache ([`ClusterViewChanged::all_answering`]). That
/// must come before a revocation sent from the other side is given up on: before the sender stops
/// waiting for the ack (`ACK_TIMEOUT`) and before it marks this node down and stops waiting at all
/// (`DOWN_AFTER`). Then, once a revocation returns, no node accepts the revoked token from its
/// cache, however the cluster is partitioned.
pub const TRUST_MARGINS_HOLD: bool = SUSPECT_AFTER.as_millis() + PING_INTERVAL.as_millis() < ACK_TIMEOUT.as_millis()
    && SUSPECT_AFTER.as_millis() + PING_INTERVAL.as_millis() < DOWN_AFTER.as_millis();
const _: () = assert!(TRUST_MARGINS_HOLD, "a partitioned node must distrust its cache before a revocation returns");

/// When this node last heard each peer (by node id), on any link: for indirect probes.
pub type HeardTable = Arc<Mutex<HashMap<NodeId, Instant>>>;

/// What a node needs to join a cluster.
pub struct JoinSettings {
    pub me: NodeInfo,
    pub transport: TransportSettings,
    /// How peers are dialled.
    pub network: Arc<dyn Transport>,
    pub log: slog::Logger,
}

/// A node's part of the cluster, once joined.
pub struct Joined {
    pub cluster: Addr<Cluster>,
    pub me: NodeInfo,
    pub counters: Arc<ClusterCounters>,
    listener: Option<tokio::task::JoinHandle<()>>,
}

/// Start the coordinator (supervised), subscribe it to the bus for what this node publishes,
/// tell the session cache about view changes, and accept peers' links from `listener`.
pub fn join(sup: &Supervisor, s: JoinSettings, listener: impl Listener, local: LocalParts) -> Joined {
    let counters = Arc::new(ClusterCounters::default());
    let heard: HeardTable = Arc::default();
    let parts = Arc::new(peer::PeerParts {
        me: s.me.clone(),
        transport: s.transport.clone(),
        network: s.network,
        counters: counters.clone(),
        heard: heard.clone(),
        log: s.log.clone(),
    });
    let h = heard.clone();
    let cluster = sup.start("cluster", move |_| Cluster::new(parts, h));
    local.bus.do_send(Subscribe { subscriber: cluster.clone().recipient(), filter: Filter::local() });
    // A node out of contact with a peer stops trusting its session cache.
    cluster.do_send(SubscribeView { subscriber: local.sessions.clone().recipient() });
    let inbound =
        Arc::new(Inbound::new(s.me.clone(), s.transport, cluster.clone(), local, counters.clone(), heard, s.log));
    let listener = Some(tokio::spawn(inbound::serve(listener, inbound)));
    Joined { cluster, me: s.me, counters, listener }
}

impl Joined {
    /// Leave: close every link and stop accepting. Safe to call twice.
    pub async fn leave(&mut self) {
        let _ = self.cluster.send(LeaveCluster).await; // a coordinator already gone has no links
        if let Some(t) = self.listener.take() {
            t.abort();
        }
    }
}
