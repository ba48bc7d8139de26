//! The cluster: this node's view of its peers and the links to them.
//!
//! - [`Cluster`] (this module) is the coordinator: it owns one [`peer::ClusterPeer`] per remote
//!   node, fans broadcasts and requests out to them, answers indirect probes, and tells
//!   subscribers when the view changes (every peer up, or not).
//! - [`peer::ClusterPeer`] dials one remote node, handshakes, and sends it batches of envelopes over
//!   the sealed transport: reliable messages stay queued until acknowledged and are re-sent after
//!   a reconnect; best-effort ones are dropped when the link is down.
//! - [`inbound`] accepts connections on the gossip port, checks the handshake and applies what
//!   peers send (events to the hubs, revocations to the session cache), acknowledging reliable
//!   messages only once applied.
//! - [`discovery::Discovery`] keeps this node's row in ClusterDiscovery and tells the coordinator
//!   which nodes share its ClusterName.
//!
//! Failure detection (design note). Every pair of nodes keeps a TCP link each way; the dialer pings
//! every [`PING_INTERVAL`] and hears pongs, acks and responses. A node killed outright closes its
//! sockets, so its peers see the link drop and the redial refused within milliseconds: that is a
//! definite "down". A silent link (hung host, partition) makes the peer *suspect* after
//! [`SUSPECT_AFTER`]; the coordinator then asks the other live peers whether they heard the suspect
//! recently (SWIM's indirect probe). Any "yes" keeps it suspect but not down (it is slow, not
//! dead); no "yes" by [`DOWN_AFTER`] makes it down. Down peers are redialled every
//! [`RETRY_INTERVAL`] (Mattermost's 15 s contract), and at once when they dial us.

pub mod discovery;
pub mod inbound;
pub mod peer;

use crate::event_bus::EventBus;
use crate::hub::MembershipChange;
use crate::session_cache::SessionCache;
use crate::{HubSet, Presence};
use actix::prelude::*;
use peer::{ClusterPeer, PeerState};
use starling_protocol::message::{ClusterMessage, MembershipChangeWire, Request, Response};
use starling_protocol::WsEvent;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How often a live link is pinged.
pub const PING_INTERVAL: Duration = Duration::from_millis(250);
/// Silence after which a peer is suspect (and indirectly probed).
pub const SUSPECT_AFTER: Duration = Duration::from_millis(1000);
/// Silence after which a suspect nobody vouches for is down.
pub const DOWN_AFTER: Duration = Duration::from_millis(2500);
/// How often a down peer is redialled (Mattermost's contract).
pub const RETRY_INTERVAL: Duration = Duration::from_secs(15);
/// How long a revocation waits for every reachable peer to confirm.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(2);

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
    pub node_id: String,
    pub cluster_name: String,
    pub app_version: String,
    pub schema_version: i32,
    pub config_hash: ConfigHash,
    /// host:port peers dial.
    pub gossip_addr: String,
    pub hostname: String,
}

impl NodeInfo {
    /// This node's half of a handshake, with a fresh random value.
    pub fn hello(&self) -> starling_protocol::handshake::Hello {
        let mut random = [0u8; 32];
        peer::rand_fill(&mut random);
        starling_protocol::handshake::Hello {
            node_id: self.node_id.clone(),
            cluster_name: self.cluster_name.clone(),
            min_version: starling_protocol::frame::MIN_PROTOCOL_VERSION,
            max_version: starling_protocol::frame::MAX_PROTOCOL_VERSION,
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
    pub key: [u8; 32],
    pub encrypt: bool,
    pub compress: bool,
}

/// Counters the node exports as metrics.
#[derive(Default)]
pub struct ClusterCounters {
    pub requests: AtomicU64,
    pub request_micros: AtomicU64,
    pub frames_sent: AtomicU64,
    pub frames_received: AtomicU64,
    pub event_types: Mutex<BTreeMap<&'static str, u64>>,
    pub rejected: Mutex<BTreeMap<&'static str, u64>>,
    /// Peer state changes, by the state entered (`down`, `suspect`, `up`, `connecting`).
    pub peer_transitions: Mutex<BTreeMap<&'static str, u64>>,
}

impl ClusterCounters {
    pub fn count_event(&self, name: &'static str) {
        if let Ok(mut m) = self.event_types.lock() {
            *m.entry(name).or_default() += 1;
        }
    }
    pub fn peer_entered(&self, state: &'static str) {
        if let Ok(mut m) = self.peer_transitions.lock() {
            *m.entry(state).or_default() += 1;
        }
    }
    pub fn reject(&self, reason: &'static str) {
        if let Ok(mut m) = self.rejected.lock() {
            *m.entry(reason).or_default() += 1;
        }
    }
}

/// When this node last heard each peer (by node id), on any link: for indirect probes.
pub type HeardTable = Arc<Mutex<HashMap<String, Instant>>>;

/// Told the digest of a session that wrote through another node (read your writes).
pub type SessionWroteHook = Arc<dyn Fn(u64) + Send + Sync>;

/// What inbound links and the coordinator apply peers' messages to.
#[derive(Clone)]
pub struct LocalParts {
    pub bus: Addr<EventBus>,
    pub sessions: Addr<SessionCache>,
    pub hubs: HubSet,
    pub presence: Addr<Presence>,
    /// Where peers' [`ClusterMessage::SessionWrote`] go (the node's read routing), if anywhere.
    pub session_wrote: Option<SessionWroteHook>,
}

/// One peer's row in cluster status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStatus {
    pub gossip_addr: String,
    pub node_id: String,
    pub hostname: String,
    pub app_version: String,
    pub schema_version: i32,
    pub config_hash: String,
    pub state: PeerState,
    pub reason: String,
    pub last_heard_ms: i64,
}

/// The membership view, told to subscribers whenever it changes.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct ClusterViewChanged {
    /// Node ids of the peers that are up now.
    pub up: Vec<String>,
    /// Whether every known peer is up (a node that lost contact must not trust its caches).
    pub all_up: bool,
}

/// Forward something this node published to every peer.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub enum ClusterBroadcast {
    Event(WsEvent),
    Membership {
        user_id: String,
        change: MembershipChange,
    },
    StatusUpdate {
        user_id: String,
        status: String,
        manual: bool,
        last_activity_at: i64,
    },
    /// A session wrote here (best effort: a lost one only costs a replica read).
    SessionWrote {
        session: u64,
    },
}

/// Send a reliable message to every peer and wait until each reachable one has applied it (or
/// [`ACK_TIMEOUT`]). Returns how many confirmed.
#[derive(Debug, Message)]
#[rtype(result = "usize")]
pub struct BroadcastAndWait {
    pub message: ClusterMessage,
}

/// Ask every up peer; collect their answers (within the timeout).
#[derive(Debug, Message)]
#[rtype(result = "Vec<(String, Response)>")]
pub struct AskPeers {
    pub request: Request,
    pub timeout: Duration,
}

/// The set of peers, from discovery.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct SetPeers {
    pub gossip_addrs: Vec<String>,
}

/// A peer dialled us: make sure we have a link to it (and redial now if it was down).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct PeerSeen {
    pub gossip_addr: String,
    pub node_id: String,
}

#[derive(Debug, Message)]
#[rtype(result = "Vec<PeerStatus>")]
pub struct GetPeerStatuses;

/// This node's config changed (saved or reloaded): tell every peer the new hash, reliably, so
/// they reload too (a database-kept config) and show the new hash in cluster status.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct AnnounceConfig {
    pub config_hash: String,
}

/// A peer announced a new config hash; told to config subscribers.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct RemoteConfigChanged {
    pub node_id: String,
    pub config_hash: String,
}

/// Hear about peers' config changes (the node's config service reloads on them).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SubscribeConfig {
    pub subscriber: Recipient<RemoteConfigChanged>,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct SubscribeView {
    pub subscriber: Recipient<ClusterViewChanged>,
}

/// From a peer actor: its state changed.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct PeerStateChanged {
    pub gossip_addr: String,
}

/// From a peer actor: it suspects its node; ask the others.
#[derive(Debug, Message)]
#[rtype(result = "bool")]
pub(crate) struct IndirectProbe {
    pub node_id: String,
}

/// Leave the cluster: tell discovery-driven peers to stop.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct LeaveCluster;

pub struct Cluster {
    me: NodeInfo,
    transport: TransportSettings,
    local: LocalParts,
    counters: Arc<ClusterCounters>,
    heard: HeardTable,
    peers: HashMap<String, Addr<ClusterPeer>>,
    statuses: HashMap<String, PeerStatus>,
    subscribers: Vec<Recipient<ClusterViewChanged>>,
    config_subscribers: Vec<Recipient<RemoteConfigChanged>>,
    last_view: Option<(Vec<String>, bool)>,
    log: slog::Logger,
    leaving: bool,
}

impl Cluster {
    pub fn new(
        me: NodeInfo,
        transport: TransportSettings,
        local: LocalParts,
        counters: Arc<ClusterCounters>,
        heard: HeardTable,
        log: slog::Logger,
    ) -> Self {
        Self {
            me,
            transport,
            local,
            counters,
            heard,
            peers: HashMap::new(),
            statuses: HashMap::new(),
            subscribers: Vec::new(),
            config_subscribers: Vec::new(),
            last_view: None,
            log,
            leaving: false,
        }
    }

    fn ensure_peer(&mut self, addr: &str, ctx: &mut Context<Self>) -> Addr<ClusterPeer> {
        if let Some(p) = self.peers.get(addr) {
            return p.clone();
        }
        let peer = ClusterPeer::new(
            addr.to_owned(),
            self.me.clone(),
            self.transport.clone(),
            ctx.address(),
            self.local.clone(),
            self.counters.clone(),
            self.heard.clone(),
            self.log.clone(),
        )
        .start();
        self.peers.insert(addr.to_owned(), peer.clone());
        peer
    }

    fn publish_view(&mut self) {
        let mut up: Vec<String> = self
            .statuses
            .values()
            .filter(|s| s.state == PeerState::Up || s.state == PeerState::Suspect)
            .map(|s| s.node_id.clone())
            .collect();
        up.sort();
        let all_up = self.statuses.values().all(|s| s.state == PeerState::Up || s.state == PeerState::Suspect)
            && self.statuses.len() == self.peers.len();
        let view = (up.clone(), all_up);
        if self.last_view.as_ref() == Some(&view) {
            return;
        }
        self.last_view = Some(view);
        self.subscribers.retain(|s| s.connected());
        for s in &self.subscribers {
            s.do_send(ClusterViewChanged { up: up.clone(), all_up });
        }
    }

    fn up_peers(&self) -> Vec<Addr<ClusterPeer>> {
        self.peers
            .iter()
            .filter(|(a, _)| self.statuses.get(*a).is_some_and(|s| s.state != PeerState::Down))
            .map(|(_, p)| p.clone())
            .collect()
    }
}

impl Actor for Cluster {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(usize::MAX >> 4);
        // Peers report state changes; this also refreshes the view periodically.
        ctx.run_interval(Duration::from_millis(500), |act, ctx| {
            for (addr, p) in act.peers.clone() {
                p.send(peer::GetStatus)
                    .into_actor(act)
                    .then(move |res, act, _| {
                        if let Ok(st) = res {
                            act.statuses.insert(addr, st);
                        }
                        act.publish_view();
                        fut::ready(())
                    })
                    .spawn(ctx);
            }
        });
    }
}

impl Handler<SetPeers> for Cluster {
    type Result = ();
    fn handle(&mut self, msg: SetPeers, ctx: &mut Self::Context) {
        if self.leaving {
            return;
        }
        let wanted: Vec<String> = msg.gossip_addrs.into_iter().filter(|a| a != &self.me.gossip_addr).collect();
        for a in &wanted {
            self.ensure_peer(a, ctx);
        }
        let gone: Vec<String> = self.peers.keys().filter(|a| !wanted.contains(a)).cloned().collect();
        for a in gone {
            if let Some(p) = self.peers.remove(&a) {
                p.do_send(peer::StopPeer);
            }
            self.statuses.remove(&a);
            slog::info!(self.log, "peer left the cluster"; "peer_addr" => &a);
        }
        self.publish_view();
    }
}

impl Handler<PeerSeen> for Cluster {
    type Result = ();
    fn handle(&mut self, msg: PeerSeen, ctx: &mut Self::Context) {
        if self.leaving || msg.gossip_addr == self.me.gossip_addr {
            return;
        }
        let p = self.ensure_peer(&msg.gossip_addr, ctx);
        p.do_send(peer::RedialNow);
    }
}

impl Handler<PeerStateChanged> for Cluster {
    type Result = ();
    fn handle(&mut self, msg: PeerStateChanged, ctx: &mut Self::Context) {
        let Some(p) = self.peers.get(&msg.gossip_addr).cloned() else { return };
        let addr = msg.gossip_addr;
        p.send(peer::GetStatus)
            .into_actor(self)
            .then(move |res, act, _| {
                if let Ok(st) = res {
                    act.statuses.insert(addr, st);
                }
                act.publish_view();
                fut::ready(())
            })
            .wait(ctx);
    }
}

impl Handler<ClusterBroadcast> for Cluster {
    type Result = ();
    fn handle(&mut self, msg: ClusterBroadcast, _ctx: &mut Self::Context) {
        let message = match msg {
            ClusterBroadcast::Event(event) => ClusterMessage::Publish { event },
            ClusterBroadcast::Membership { user_id, change } => {
                ClusterMessage::Membership { user_id, change: membership_to_wire(change) }
            }
            ClusterBroadcast::StatusUpdate { user_id, status, manual, last_activity_at } => {
                ClusterMessage::StatusUpdate { user_id, status, manual, last_activity_at }
            }
            ClusterBroadcast::SessionWrote { session } => ClusterMessage::SessionWrote { session },
        };
        self.counters.count_event(message.name());
        for p in self.peers.values() {
            p.do_send(peer::Enqueue { message: message.clone(), ack: None });
        }
    }
}

impl Handler<BroadcastAndWait> for Cluster {
    type Result = ResponseFuture<usize>;
    fn handle(&mut self, msg: BroadcastAndWait, _ctx: &mut Self::Context) -> Self::Result {
        self.counters.count_event(msg.message.name());
        let mut waits = Vec::new();
        for p in self.up_peers() {
            let (tx, rx) = oneshot::channel();
            p.do_send(peer::Enqueue { message: msg.message.clone(), ack: Some(tx) });
            waits.push(rx);
        }
        // Down peers get it queued too, for when they return.
        for (addr, p) in &self.peers {
            if self.statuses.get(addr).is_none_or(|s| s.state == PeerState::Down) {
                p.do_send(peer::Enqueue { message: msg.message.clone(), ack: None });
            }
        }
        let counters = self.counters.clone();
        Box::pin(async move {
            let started = Instant::now();
            let results = tokio::time::timeout(ACK_TIMEOUT, futures_util::future::join_all(waits)).await;
            counters.requests.fetch_add(1, Ordering::Relaxed);
            counters.request_micros.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
            results.map(|r| r.iter().filter(|x| x.is_ok()).count()).unwrap_or(0)
        })
    }
}

impl Handler<AskPeers> for Cluster {
    type Result = ResponseFuture<Vec<(String, Response)>>;
    fn handle(&mut self, msg: AskPeers, _ctx: &mut Self::Context) -> Self::Result {
        let asks: Vec<_> = self
            .up_peers()
            .into_iter()
            .map(|p| p.send(peer::Ask { request: msg.request.clone(), timeout: msg.timeout }))
            .collect();
        let counters = self.counters.clone();
        Box::pin(async move {
            let started = Instant::now();
            let answers = futures_util::future::join_all(asks).await;
            counters.requests.fetch_add(1, Ordering::Relaxed);
            counters.request_micros.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
            answers.into_iter().filter_map(|a| a.ok().flatten()).collect()
        })
    }
}

impl Handler<IndirectProbe> for Cluster {
    type Result = ResponseFuture<bool>;
    fn handle(&mut self, msg: IndirectProbe, _ctx: &mut Self::Context) -> Self::Result {
        let asks: Vec<_> = self
            .peers
            .iter()
            .filter(|(a, _)| {
                self.statuses.get(*a).is_some_and(|s| s.state == PeerState::Up && s.node_id != msg.node_id)
            })
            .map(|(_, p)| {
                p.send(peer::Ask {
                    request: Request::Probe { target_node_id: msg.node_id.clone() },
                    timeout: Duration::from_millis(500),
                })
            })
            .collect();
        Box::pin(async move {
            let answers = futures_util::future::join_all(asks).await;
            answers.into_iter().any(|a| matches!(a, Ok(Some((_, Response::Probe { alive: true })))))
        })
    }
}

impl Handler<GetPeerStatuses> for Cluster {
    type Result = MessageResult<GetPeerStatuses>;
    fn handle(&mut self, _msg: GetPeerStatuses, _ctx: &mut Self::Context) -> Self::Result {
        let mut v: Vec<PeerStatus> = self.statuses.values().cloned().collect();
        v.sort_by(|a, b| a.gossip_addr.cmp(&b.gossip_addr));
        MessageResult(v)
    }
}

impl Handler<SubscribeView> for Cluster {
    type Result = ();
    fn handle(&mut self, msg: SubscribeView, _ctx: &mut Self::Context) {
        if let Some((up, all_up)) = &self.last_view {
            msg.subscriber.do_send(ClusterViewChanged { up: up.clone(), all_up: *all_up });
        }
        self.subscribers.push(msg.subscriber);
    }
}

impl Handler<AnnounceConfig> for Cluster {
    type Result = ();
    fn handle(&mut self, msg: AnnounceConfig, _ctx: &mut Self::Context) {
        let message = ClusterMessage::ConfigChanged { config_hash: msg.config_hash };
        self.counters.count_event(message.name());
        for p in self.peers.values() {
            p.do_send(peer::Enqueue { message: message.clone(), ack: None });
        }
    }
}

impl Handler<RemoteConfigChanged> for Cluster {
    type Result = ();
    fn handle(&mut self, msg: RemoteConfigChanged, _ctx: &mut Self::Context) {
        for (addr, st) in self.statuses.iter_mut().filter(|(_, s)| s.node_id == msg.node_id) {
            st.config_hash = msg.config_hash.clone();
            if let Some(p) = self.peers.get(addr) {
                p.do_send(peer::SetRemoteConfigHash { config_hash: msg.config_hash.clone() });
            }
        }
        self.config_subscribers.retain(|s| s.connected());
        for s in &self.config_subscribers {
            s.do_send(msg.clone());
        }
    }
}

impl Handler<SubscribeConfig> for Cluster {
    type Result = ();
    fn handle(&mut self, msg: SubscribeConfig, _ctx: &mut Self::Context) {
        self.config_subscribers.push(msg.subscriber);
    }
}

impl Handler<LeaveCluster> for Cluster {
    type Result = ResponseFuture<()>;
    fn handle(&mut self, _msg: LeaveCluster, _ctx: &mut Self::Context) -> Self::Result {
        self.leaving = true;
        let stops: Vec<_> = self.peers.drain().map(|(_, p)| p.send(peer::StopPeer)).collect();
        Box::pin(async move {
            let _ = tokio::time::timeout(Duration::from_secs(2), futures_util::future::join_all(stops)).await;
        })
    }
}

pub fn membership_to_wire(c: MembershipChange) -> MembershipChangeWire {
    match c {
        MembershipChange::JoinedChannel(x) => MembershipChangeWire::JoinedChannel(x),
        MembershipChange::LeftChannel(x) => MembershipChangeWire::LeftChannel(x),
        MembershipChange::JoinedTeam(x) => MembershipChangeWire::JoinedTeam(x),
        MembershipChange::LeftTeam(x) => MembershipChangeWire::LeftTeam(x),
    }
}

pub fn membership_from_wire(c: MembershipChangeWire) -> MembershipChange {
    match c {
        MembershipChangeWire::JoinedChannel(x) => MembershipChange::JoinedChannel(x),
        MembershipChangeWire::LeftChannel(x) => MembershipChange::LeftChannel(x),
        MembershipChangeWire::JoinedTeam(x) => MembershipChange::JoinedTeam(x),
        MembershipChangeWire::LeftTeam(x) => MembershipChange::LeftTeam(x),
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
