//! `Cluster`, the coordinator: owns one [`ClusterPeer`] per remote node, forwards what this node
//! publishes on its bus to every peer, sends requests and revocations that wait for answers,
//! answers indirect probes, and tells subscribers when the view changes (which peers are up).
//!
//! It subscribes to the [`EventBus`](crate::event_bus::EventBus) for events of local origin: a
//! [`BusEvent`](starling_protocol::BusEvent) leaves this node as `ClusterMessage::Bus` of the same value. Peers push their
//! status when it changes; nothing here polls or waits for a peer.

use super::node::{NodeInfo, PeerState, PeerStatus};
use super::peer::{self, ClusterPeer, PeerParts};
use super::{HeardTable, ACK_TIMEOUT, INDIRECT_PROBE_TIMEOUT};
use crate::event_bus::{Origin, Published};
use crate::mailbox::{Forwarder, CLUSTER_MAILBOX};
use actix::prelude::*;
use starling_protocol::message::{ClusterMessage, Request, Response};
use starling_protocol::NodeId;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// The membership view, told to subscribers whenever it changes.
#[derive(Debug, Clone, PartialEq, Eq, Message)]
#[rtype(result = "()")]
pub struct ClusterViewChanged {
    /// Node ids of the peers that are up (or suspect: not yet given up on).
    pub up: Vec<NodeId>,
    /// Whether every known peer is up or suspect (none given up on): a starting node has reached
    /// its peers.
    pub all_up: bool,
    /// Whether every known peer is up and answering its pings (none even suspect). A node whose
    /// peer has gone quiet may have missed a revocation that peer sent, so its caches trust
    /// nothing until this holds again (see [`super::TRUST_MARGINS_HOLD`]).
    pub all_answering: bool,
}

/// Send a reliable message to every peer and wait until each reachable one has applied it (or
/// [`ACK_TIMEOUT`]). Returns how many confirmed.
#[derive(Debug, Message)]
#[rtype(result = "usize")]
pub struct BroadcastAndWait {
    pub message: ClusterMessage,
}

/// Ask every live peer; collect their answers (within the timeout).
#[derive(Debug, Message)]
#[rtype(result = "Vec<(NodeId, Response)>")]
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
    pub node_id: NodeId,
}

/// Every peer's status, by gossip address.
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
    pub node_id: NodeId,
    pub config_hash: String,
}

/// Hear about peers' config changes (the node's config service reloads on them).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SubscribeConfig {
    pub subscriber: Recipient<RemoteConfigChanged>,
}

/// Hear about view changes (the leader election, the session cache).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SubscribeView {
    pub subscriber: Recipient<ClusterViewChanged>,
}

/// Leave the cluster: stop every peer link.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct LeaveCluster;

/// From a peer actor: its status changed.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct PeerStateChanged {
    pub status: PeerStatus,
}

/// From a peer actor that stopped without being told to.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct PeerStopped {
    pub gossip_addr: String,
}

/// From a peer actor: it suspects its node; ask the others whether they hear it.
#[derive(Debug, Message)]
#[rtype(result = "bool")]
pub(crate) struct IndirectProbe {
    pub node_id: NodeId,
}

pub struct Cluster {
    me: NodeInfo,
    parts: Arc<PeerParts>,
    heard: HeardTable,
    peers: HashMap<String, Addr<ClusterPeer>>,
    statuses: HashMap<String, PeerStatus>,
    view_subscribers: Vec<Recipient<ClusterViewChanged>>,
    config_subscribers: Vec<Recipient<RemoteConfigChanged>>,
    last_view: Option<ClusterViewChanged>,
    log: slog::Logger,
    leaving: bool,
    out: Forwarder,
}

impl Cluster {
    pub fn new(parts: Arc<PeerParts>, heard: HeardTable) -> Self {
        Self {
            me: parts.me.clone(),
            log: parts.log.clone(),
            parts,
            heard,
            peers: HashMap::new(),
            statuses: HashMap::new(),
            view_subscribers: Vec::new(),
            config_subscribers: Vec::new(),
            last_view: None,
            leaving: false,
            out: Forwarder::default(),
        }
    }

    fn start_peer(&mut self, addr: &str, resync: bool, ctx: &mut Context<Self>) -> Addr<ClusterPeer> {
        let peer = ClusterPeer::new(addr.to_owned(), self.parts.clone(), ctx.address(), resync).start();
        self.peers.insert(addr.to_owned(), peer.clone());
        self.statuses.entry(addr.to_owned()).or_insert_with(|| PeerStatus::unknown(addr));
        peer
    }

    fn ensure_peer(&mut self, addr: &str, ctx: &mut Context<Self>) -> Addr<ClusterPeer> {
        match self.peers.get(addr) {
            Some(p) => p.clone(),
            None => self.start_peer(addr, false, ctx),
        }
    }

    fn publish_view(&mut self) {
        let live = |s: &PeerStatus| s.state.is_live();
        let mut up: Vec<NodeId> = self.statuses.values().filter(|s| live(s)).map(|s| s.node_id.clone()).collect();
        up.sort();
        let all_up = self.statuses.values().all(live) && self.statuses.len() == self.peers.len();
        let all_answering = all_up && self.statuses.values().all(|s| s.state == PeerState::Up);
        let view = ClusterViewChanged { up, all_up, all_answering };
        if self.last_view.as_ref() == Some(&view) {
            return;
        }
        self.last_view = Some(view.clone());
        self.view_subscribers.retain(|s| s.connected());
        for s in &self.view_subscribers {
            s.do_send(view.clone()); // one per view change: bounded by them
        }
    }

    fn live_peers(&self) -> impl Iterator<Item = (&String, &Addr<ClusterPeer>)> {
        self.peers.iter().filter(|(a, _)| self.statuses.get(*a).is_some_and(|s| s.state.is_live()))
    }
}

impl Actor for Cluster {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(CLUSTER_MAILBOX);
    }
}

impl actix::Supervised for Cluster {
    fn restarting(&mut self, ctx: &mut Self::Context) {
        // The peers live on (their queues with them); have them report again. Sends to them that
        // were waiting go first.
        self.out.restarted(ctx);
        self.last_view = None;
        for p in self.peers.values() {
            p.do_send(peer::ReportStatus);
        }
    }
}

crate::restartable!(Cluster);

impl Handler<Published> for Cluster {
    type Result = ();
    fn handle(&mut self, msg: Published, ctx: &mut Self::Context) {
        if msg.origin != Origin::Local || self.leaving {
            return;
        }
        let message = ClusterMessage::Bus((*msg.event).clone());
        self.parts.counters.count_event(message.name());
        let peers: Vec<Addr<ClusterPeer>> = self.peers.values().cloned().collect();
        for p in peers {
            self.out.forward_to(ctx, &p, peer::Enqueue { message: message.clone(), ack: None });
        }
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
        self.ensure_peer(&msg.gossip_addr, ctx).do_send(peer::RedialNow);
    }
}

impl Handler<PeerStateChanged> for Cluster {
    type Result = ();
    fn handle(&mut self, msg: PeerStateChanged, _ctx: &mut Self::Context) {
        if !self.peers.contains_key(&msg.status.gossip_addr) {
            return; // a peer that was removed, reporting as it stops
        }
        self.statuses.insert(msg.status.gossip_addr.clone(), msg.status);
        self.publish_view();
    }
}

impl Handler<PeerStopped> for Cluster {
    type Result = ();
    fn handle(&mut self, msg: PeerStopped, ctx: &mut Self::Context) {
        if self.leaving || !self.peers.contains_key(&msg.gossip_addr) {
            return;
        }
        // Its queue went with it: the new one has the node reset its caches.
        slog::error!(self.log, "peer actor stopped, starting a new one"; "peer_addr" => &msg.gossip_addr);
        self.start_peer(&msg.gossip_addr, true, ctx);
    }
}

impl Handler<BroadcastAndWait> for Cluster {
    type Result = ResponseFuture<usize>;
    fn handle(&mut self, msg: BroadcastAndWait, _ctx: &mut Self::Context) -> Self::Result {
        self.parts.counters.count_event(msg.message.name());
        let mut waits = Vec::new();
        for (addr, p) in &self.peers {
            let live = self.statuses.get(addr).is_some_and(|s| s.state.is_live());
            // Peers that are not live get it queued too, for when they return; nobody waits for them.
            let ack = live.then(|| {
                let (tx, rx) = oneshot::channel();
                waits.push(rx);
                tx
            });
            // One per revocation request in flight: bounded by them.
            p.do_send(peer::Enqueue { message: msg.message.clone(), ack });
        }
        let counters = self.parts.counters.clone();
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
    type Result = ResponseFuture<Vec<(NodeId, Response)>>;
    fn handle(&mut self, msg: AskPeers, _ctx: &mut Self::Context) -> Self::Result {
        let asks: Vec<_> = self
            .live_peers()
            .map(|(_, p)| p.send(peer::Ask { request: msg.request.clone(), timeout: msg.timeout }))
            .collect();
        let counters = self.parts.counters.clone();
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
                    timeout: INDIRECT_PROBE_TIMEOUT,
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
        let now = Instant::now();
        let heard = self.heard.lock().map(|h| h.clone()).unwrap_or_default();
        let mut v: Vec<PeerStatus> = self
            .statuses
            .values()
            .cloned()
            .map(|mut s| {
                // Heard on any link, inbound included.
                if let Some(t) = heard.get(&s.node_id) {
                    let ms = starling_protocol::now_ms() - now.duration_since(*t).as_millis() as i64;
                    s.last_heard_ms = s.last_heard_ms.max(ms);
                }
                s
            })
            .collect();
        v.sort_by(|a, b| a.gossip_addr.cmp(&b.gossip_addr));
        MessageResult(v)
    }
}

impl Handler<SubscribeView> for Cluster {
    type Result = ();
    fn handle(&mut self, msg: SubscribeView, _ctx: &mut Self::Context) {
        if let Some(view) = &self.last_view {
            msg.subscriber.do_send(view.clone());
        }
        self.view_subscribers.push(msg.subscriber);
    }
}

impl Handler<AnnounceConfig> for Cluster {
    type Result = ();
    fn handle(&mut self, msg: AnnounceConfig, _ctx: &mut Self::Context) {
        let message = ClusterMessage::ConfigChanged { config_hash: msg.config_hash };
        self.parts.counters.count_event(message.name());
        for p in self.peers.values() {
            p.do_send(peer::Enqueue { message: message.clone(), ack: None }); // one per config save
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
            // Peers already gone answer nothing; the timeout bounds a stuck one.
            let _ = tokio::time::timeout(Duration::from_secs(2), futures_util::future::join_all(stops)).await;
        })
    }
}
