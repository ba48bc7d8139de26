//! `ClusterPeer`: this node's link to one remote node, reached at its gossip address.
//!
//! Reliable messages get increasing ids and stay queued until the peer acknowledges them; after a
//! reconnect to the same node process they are sent again (the receiver skips ids it has applied).
//! A peer process that restarted (new node id) starts with an empty queue: it loaded its state
//! fresh. Best-effort messages (pings, requests) are dropped while the link is down.
//!
//! The peer pushes its [`PeerStatus`] to the coordinator whenever it changes. A peer that stops
//! unexpectedly tells the coordinator, which starts a new one for the address (its queue is gone,
//! so the new one has the node reset its caches when it connects).

use super::coordinator::{Cluster, IndirectProbe, PeerStateChanged, PeerStopped};
use super::link::{self, Established, LinkError, LinkWriter, NotSent, Transport};
use super::node::{skew_estimate, NodeInfo, PeerState, PeerStatus, TransportSettings, MAX_CLOCK_SKEW_MS};
use super::{ClusterCounters, HeardTable, CONNECT_TIMEOUT, DOWN_AFTER, PING_INTERVAL, RETRY_INTERVAL, SUSPECT_AFTER};
use crate::mailbox::{forward_async, PEER_MAILBOX};
use actix::prelude::*;
use starling_protocol::envelope::MAX_PAYLOAD;
use starling_protocol::handshake::Hello;
use starling_protocol::message::{encode_batch, ClusterMessage, Decoded, Envelope, Request, Response};
use starling_protocol::now_ms;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// Reliable messages kept for a peer at most; past that the oldest are dropped and the peer is
/// told to drop its caches when the link returns.
pub const MAX_UNACKED: usize = 100_000;
/// Best-effort messages waiting for the next frame at most; past that the oldest are dropped
/// (and counted).
pub const MAX_BEST_EFFORT: usize = 4096;
/// Envelopes per frame at most.
const BATCH_MAX: usize = 512;
/// How soon a flush is retried when the link's write queue is full.
const FLUSH_RETRY: Duration = Duration::from_millis(2);

/// Send a message to this peer (reliable ones are kept until acknowledged). `ack` is told when the
/// peer has applied it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Enqueue {
    pub message: ClusterMessage,
    pub ack: Option<oneshot::Sender<()>>,
}

/// Send a request; the answer (with the peer's node id), or None on timeout or a down link.
#[derive(Message)]
#[rtype(result = "Option<(starling_protocol::NodeId, Response)>")]
pub struct Ask {
    pub request: Request,
    pub timeout: Duration,
}

/// Dial now if the link is down (the peer dialled us: it is back).
#[derive(Message)]
#[rtype(result = "()")]
pub struct RedialNow;

/// The peer announced a new config hash (it reloaded its config).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetRemoteConfigHash {
    pub config_hash: String,
}

/// Push the current status to the coordinator again (after the coordinator restarted).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReportStatus;

/// Close the link and stop for good (the node left the cluster, or the peer did).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopPeer;

#[derive(Message)]
#[rtype(result = "()")]
struct LinkUp {
    generation: u64,
    link: Box<Established>,
}

#[derive(Message)]
#[rtype(result = "()")]
struct LinkFailed {
    generation: u64,
    error: LinkError,
}

#[derive(Message)]
#[rtype(result = "()")]
struct Incoming {
    generation: u64,
    items: Vec<Decoded>,
}

#[derive(Message)]
#[rtype(result = "()")]
struct Flush;

struct Pending {
    id: u64,
    message: ClusterMessage,
    ack: Option<oneshot::Sender<()>>,
}

/// What a peer is built from.
pub struct PeerParts {
    pub me: NodeInfo,
    pub transport: TransportSettings,
    pub network: Arc<dyn Transport>,
    pub counters: Arc<ClusterCounters>,
    pub heard: HeardTable,
    pub log: slog::Logger,
}

pub struct ClusterPeer {
    addr: String,
    parts: Arc<PeerParts>,
    cluster: Addr<Cluster>,
    log: slog::Logger,

    state: PeerState,
    reason: String,
    remote: Option<Hello>,
    protocol_version: u16,
    /// The peer's clock minus ours (ms), from the last pong that carried its clock.
    clock_skew_ms: Option<i64>,
    generation: u64,
    link: Option<LinkWriter>,
    dialing: bool,
    next_id: u64,
    unacked: VecDeque<Pending>,
    sent_upto: u64,
    best_effort: VecDeque<ClusterMessage>,
    resync: bool,
    last_heard: Instant,
    vouched_at: Option<Instant>,
    probing: bool,
    next_req: u64,
    asks: HashMap<u64, oneshot::Sender<Response>>,
    flush_scheduled: bool,
    last_redial: Option<Instant>,
    stopping: bool,
}

impl ClusterPeer {
    /// A peer for `addr`. `resync`: what was queued for it was lost (a peer actor died), so the
    /// node is told to reset its caches when it connects.
    pub fn new(addr: String, parts: Arc<PeerParts>, cluster: Addr<Cluster>, resync: bool) -> Self {
        let log = parts.log.new(slog::o!("peer_addr" => addr.clone()));
        Self {
            addr,
            parts,
            cluster,
            log,
            state: PeerState::Connecting,
            reason: String::new(),
            remote: None,
            protocol_version: 0,
            clock_skew_ms: None,
            generation: 0,
            link: None,
            dialing: false,
            next_id: 1,
            unacked: VecDeque::new(),
            sent_upto: 0,
            best_effort: VecDeque::new(),
            resync,
            last_heard: Instant::now(),
            vouched_at: None,
            probing: false,
            next_req: 1,
            asks: HashMap::new(),
            flush_scheduled: false,
            last_redial: None,
            stopping: false,
        }
    }

    fn status(&self) -> PeerStatus {
        let r = self.remote.as_ref();
        PeerStatus {
            gossip_addr: self.addr.clone(),
            node_id: r.map(|h| h.node_id.clone()).unwrap_or_default(),
            hostname: r.map(|h| h.hostname.clone()).unwrap_or_default(),
            app_version: r.map(|h| h.app_version.clone()).unwrap_or_default(),
            schema_version: r.map(|h| h.schema_version).unwrap_or_default(),
            config_hash: r.map(|h| h.config_hash.clone()).unwrap_or_default(),
            protocol_version: self.protocol_version,
            state: self.state,
            reason: self.reason.clone(),
            last_heard_ms: now_ms() - self.last_heard.elapsed().as_millis() as i64,
            clock_skew_ms: self.clock_skew_ms,
        }
    }

    fn push_status(&self) {
        // One per state change, and the coordinator only reads it: do_send is bounded by them.
        self.cluster.do_send(PeerStateChanged { status: self.status() });
    }

    fn set_state(&mut self, state: PeerState, reason: &str) {
        if self.state == state && self.reason == reason {
            return;
        }
        let was = self.state;
        self.state = state;
        self.reason = reason.to_owned();
        if was != state {
            self.parts.counters.peer_entered(state.as_str());
        }
        match state {
            PeerState::Down => slog::error!(self.log, "peer down"; "reason" => reason, "was" => was.as_str()),
            PeerState::Up if was != PeerState::Up => slog::info!(self.log, "peer up"),
            PeerState::Suspect => slog::warn!(self.log, "peer suspect"; "reason" => reason),
            _ => {}
        }
        self.push_status();
    }

    /// A pong to the ping sent at `sent_ms` (our clock) says the peer's clock read `answered_ms`
    /// ([`skew_estimate`]). The status is pushed when the skew crosses [`MAX_CLOCK_SKEW_MS`] or
    /// moves by a tenth of it.
    fn clock_measured(&mut self, sent_ms: i64, answered_ms: i64) {
        let Some(skew) = skew_estimate(self.parts.me.now_ms(), sent_ms, answered_ms) else { return };
        let flagged = |s: Option<i64>| s.is_some_and(|s| s.unsigned_abs() > MAX_CLOCK_SKEW_MS as u64);
        let before = self.clock_skew_ms.replace(skew);
        if flagged(Some(skew)) != flagged(before) {
            if flagged(Some(skew)) {
                slog::warn!(self.log, "peer clock skew over the limit"; "skew_ms" => skew, "limit_ms" => MAX_CLOCK_SKEW_MS);
            } else {
                slog::info!(self.log, "peer clock skew back within the limit"; "skew_ms" => skew);
            }
            self.push_status();
        } else if before.is_none_or(|b| b.abs_diff(skew) > (MAX_CLOCK_SKEW_MS / 10) as u64) {
            self.push_status();
        }
    }

    fn heard_now(&mut self) {
        self.last_heard = Instant::now();
        if let (Some(r), Ok(mut h)) = (&self.remote, self.parts.heard.lock()) {
            h.insert(r.node_id.clone(), self.last_heard);
        }
    }

    fn dial(&mut self, ctx: &mut Context<Self>) {
        if self.dialing || self.stopping {
            return;
        }
        self.dialing = true;
        self.last_redial = Some(Instant::now());
        self.generation += 1;
        let generation = self.generation;
        let addr = self.addr.clone();
        let parts = self.parts.clone();
        let me = ctx.address();
        tokio::spawn(async move {
            let dialled = tokio::time::timeout(
                CONNECT_TIMEOUT,
                link::dial(parts.network.as_ref(), &addr, &parts.me, &parts.transport),
            )
            .await
            .unwrap_or(Err(LinkError::Timeout("connect")));
            match dialled {
                Ok(link) => me.do_send(LinkUp { generation, link: Box::new(link) }),
                Err(error) => me.do_send(LinkFailed { generation, error }),
            }
        });
    }

    fn schedule_flush(&mut self, ctx: &mut Context<Self>) {
        if !self.flush_scheduled && self.link.is_some() {
            self.flush_scheduled = true;
            ctx.notify(Flush);
        }
    }

    fn flush(&mut self, ctx: &mut Context<Self>) {
        self.flush_scheduled = false;
        loop {
            let Some(link) = self.link.as_mut() else { return };
            let mut batch: Vec<Envelope> =
                self.best_effort.iter().take(BATCH_MAX).map(|m| Envelope { id: 0, message: m.clone() }).collect();
            let best_effort = batch.len();
            for p in self.unacked.iter().filter(|p| p.id > self.sent_upto) {
                if batch.len() >= BATCH_MAX {
                    break;
                }
                batch.push(Envelope { id: p.id, message: p.message.clone() });
            }
            if batch.is_empty() {
                return;
            }
            // Keep each frame under the payload limit: halve the batch until it fits.
            let mut n = batch.len();
            while n > 1 && encode_batch(&batch[..n]).len() > MAX_PAYLOAD {
                n /= 2;
            }
            if n == 1 && encode_batch(&batch[..1]).len() > MAX_PAYLOAD {
                // One message larger than a frame can never be sent: drop it rather than wedge the link.
                slog::error!(self.log, "message too large for a frame, dropped"; "msg_type" => batch[0].message.name());
                self.parts.counters.reject("too_long");
                if best_effort > 0 {
                    self.best_effort.pop_front();
                } else {
                    let id = batch[0].id;
                    self.unacked.retain(|p| p.id != id);
                    self.sent_upto = self.sent_upto.max(id);
                }
                continue;
            }
            match link.try_send(&batch[..n]) {
                Ok(()) => {
                    self.parts.counters.frames_sent.fetch_add(1, Ordering::Relaxed);
                    self.best_effort.drain(..n.min(best_effort));
                    self.sent_upto = batch[..n].iter().map(|e| e.id).max().unwrap_or(0).max(self.sent_upto);
                }
                Err(NotSent::Full) => {
                    // The socket is behind: try again shortly; nothing was sealed or lost.
                    self.flush_scheduled = true;
                    ctx.notify_later(Flush, FLUSH_RETRY);
                    return;
                }
                Err(NotSent::Closed) => return, // the reader reports the failure
            }
        }
    }

    fn link_lost(&mut self, error: &LinkError, ctx: &mut Context<Self>) {
        self.link = None;
        self.generation += 1; // ignore the old reader
        self.asks.clear(); // their askers see the answer channel close
        if let Some(reason) = error.reason() {
            self.parts.counters.reject(reason);
        }
        if self.stopping {
            return;
        }
        let error = error.to_string();
        match self.state {
            // A live link broke: redial at once; failing that, the peer is down.
            PeerState::Up | PeerState::Suspect => {
                slog::warn!(self.log, "peer link lost, redialling"; "error" => &error);
                self.set_state(PeerState::Connecting, &error);
                self.dial(ctx);
            }
            _ => self.set_state(PeerState::Down, &error),
        }
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        match self.state {
            PeerState::Up | PeerState::Suspect => {
                self.push_best_effort(ClusterMessage::Ping { nonce: self.generation, sent_ms: self.parts.me.now_ms() });
                self.schedule_flush(ctx);
                let silent = self.last_heard.elapsed();
                if silent > SUSPECT_AFTER && self.state == PeerState::Up {
                    self.set_state(PeerState::Suspect, "no answer to pings");
                }
                if self.state == PeerState::Suspect && !self.probing {
                    self.probing = true;
                    let node_id = self.remote.as_ref().map(|r| r.node_id.clone()).unwrap_or_default();
                    self.cluster
                        .send(IndirectProbe { node_id })
                        .into_actor(self)
                        .then(|res, act, _| {
                            act.probing = false;
                            if res.unwrap_or(false) {
                                act.vouched_at = Some(Instant::now());
                            }
                            fut::ready(())
                        })
                        .spawn(ctx);
                }
                let vouched = self.vouched_at.is_some_and(|t| t.elapsed() < DOWN_AFTER);
                if self.state == PeerState::Suspect && silent > DOWN_AFTER && !vouched {
                    self.link = None;
                    self.generation += 1;
                    self.set_state(PeerState::Down, "no answer to pings or indirect probes");
                }
            }
            PeerState::Down => {
                if self.last_redial.is_none_or(|t| t.elapsed() >= RETRY_INTERVAL) {
                    self.dial(ctx);
                }
            }
            PeerState::Connecting => {}
        }
    }

    fn push_best_effort(&mut self, message: ClusterMessage) {
        if self.best_effort.len() >= MAX_BEST_EFFORT {
            self.best_effort.pop_front();
            self.parts.counters.best_effort_dropped.fetch_add(1, Ordering::Relaxed);
        }
        self.best_effort.push_back(message);
    }

    fn on_link_up(&mut self, link: Established, ctx: &mut Context<Self>) {
        let Established { mut reader, writer, remote, version } = link;
        let restarted = self.remote.as_ref().is_some_and(|r| r.node_id != remote.node_id);
        if restarted {
            // A new process: what was queued for the old one is moot (it starts from the database).
            slog::info!(self.log, "peer restarted"; "peer_id" => remote.node_id.as_str());
            self.unacked.clear();
        }
        self.remote = Some(remote);
        self.protocol_version = version;
        self.clock_skew_ms = None; // measured again on this link (a protocol 1 link never is)
        self.link = Some(writer);
        self.sent_upto = 0; // everything still unacknowledged goes again
        self.vouched_at = None;
        self.heard_now();
        if std::mem::take(&mut self.resync) {
            // Messages were dropped while it was away: have it drop its caches.
            let id = self.next_id;
            self.next_id += 1;
            self.unacked.push_back(Pending { id, message: ClusterMessage::InvalidateAllCaches, ack: None });
        }
        // What the peer sends back on this link (acks, pongs, answers), at the pace we handle it.
        let generation = self.generation;
        let me = ctx.address();
        let counters = self.parts.counters.clone();
        tokio::spawn(async move {
            loop {
                match reader.read_batch().await {
                    Ok(items) => {
                        counters.frames_received.fetch_add(1, Ordering::Relaxed);
                        if !forward_async(&me, Incoming { generation, items }).await {
                            return;
                        }
                    }
                    Err(error) => {
                        me.do_send(LinkFailed { generation, error });
                        return;
                    }
                }
            }
        });
        self.set_state(PeerState::Up, "");
        self.schedule_flush(ctx);
    }
}

impl Actor for ClusterPeer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(PEER_MAILBOX);
        self.push_status();
        self.dial(ctx);
        ctx.run_interval(PING_INTERVAL, |act, ctx| act.tick(ctx));
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        if !self.stopping {
            self.cluster.do_send(PeerStopped { gossip_addr: self.addr.clone() });
        }
    }
}

impl Handler<LinkUp> for ClusterPeer {
    type Result = ();
    fn handle(&mut self, msg: LinkUp, ctx: &mut Self::Context) {
        self.dialing = false;
        if msg.generation != self.generation || self.stopping {
            return;
        }
        self.on_link_up(*msg.link, ctx);
    }
}

impl Handler<LinkFailed> for ClusterPeer {
    type Result = ();
    fn handle(&mut self, msg: LinkFailed, ctx: &mut Self::Context) {
        if msg.generation != self.generation {
            return;
        }
        self.dialing = false;
        self.link_lost(&msg.error, ctx);
    }
}

impl Handler<Incoming> for ClusterPeer {
    type Result = ();
    fn handle(&mut self, msg: Incoming, _ctx: &mut Self::Context) {
        if msg.generation != self.generation {
            return;
        }
        self.heard_now();
        if self.state == PeerState::Suspect {
            self.set_state(PeerState::Up, "");
        }
        for item in msg.items {
            match item {
                Decoded::Message(Envelope { message: ClusterMessage::Ack { up_to }, .. }) => {
                    while self.unacked.front().is_some_and(|p| p.id <= up_to) {
                        if let Some(tx) = self.unacked.pop_front().and_then(|p| p.ack) {
                            let _ = tx.send(()); // the waiter may have given up
                        }
                    }
                }
                Decoded::Message(Envelope { message: ClusterMessage::Response { req_id, response }, .. }) => {
                    if let Some(tx) = self.asks.remove(&req_id) {
                        let _ = tx.send(response); // the asker may have timed out
                    }
                }
                Decoded::Message(Envelope { message: ClusterMessage::Pong { sent_ms, answered_ms, .. }, .. }) => {
                    if let Some(answered_ms) = answered_ms {
                        self.clock_measured(sent_ms, answered_ms);
                    }
                }
                Decoded::Message(other) => {
                    slog::debug!(self.log, "unexpected message on outbound link"; "msg_type" => other.message.name());
                }
                Decoded::Unknown { type_id, .. } => {
                    self.parts.counters.reject("unknown_type");
                    slog::warn!(self.log, "unknown message type dropped"; "msg_type" => type_id);
                }
            }
        }
    }
}

impl Handler<Flush> for ClusterPeer {
    type Result = ();
    fn handle(&mut self, _msg: Flush, ctx: &mut Self::Context) {
        self.flush(ctx);
    }
}

impl Handler<Enqueue> for ClusterPeer {
    type Result = ();
    fn handle(&mut self, msg: Enqueue, ctx: &mut Self::Context) {
        if msg.message.is_reliable() {
            if self.unacked.len() >= MAX_UNACKED {
                self.unacked.pop_front();
                if !self.resync {
                    slog::warn!(self.log, "peer queue full, dropping oldest; caches will be reset");
                }
                self.resync = true;
            }
            let id = self.next_id;
            self.next_id += 1;
            self.unacked.push_back(Pending { id, message: msg.message, ack: msg.ack });
        } else if self.link.is_some() {
            self.push_best_effort(msg.message);
        }
        self.schedule_flush(ctx);
    }
}

impl Handler<Ask> for ClusterPeer {
    type Result = ResponseFuture<Option<(starling_protocol::NodeId, Response)>>;
    fn handle(&mut self, msg: Ask, ctx: &mut Self::Context) -> Self::Result {
        let node_id = self.remote.as_ref().map(|r| r.node_id.clone()).unwrap_or_default();
        if self.link.is_none() || !self.state.is_live() {
            return Box::pin(async { None });
        }
        let req_id = self.next_req;
        self.next_req += 1;
        let (tx, rx) = oneshot::channel();
        self.asks.insert(req_id, tx);
        self.push_best_effort(ClusterMessage::Request { req_id, request: msg.request });
        self.schedule_flush(ctx);
        let timeout = msg.timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(r)) => Some((node_id, r)),
                _ => None,
            }
        })
    }
}

impl Handler<SetRemoteConfigHash> for ClusterPeer {
    type Result = ();
    fn handle(&mut self, msg: SetRemoteConfigHash, _ctx: &mut Self::Context) {
        if let Some(r) = self.remote.as_mut() {
            r.config_hash = msg.config_hash;
        }
        self.push_status();
    }
}

impl Handler<ReportStatus> for ClusterPeer {
    type Result = ();
    fn handle(&mut self, _msg: ReportStatus, _ctx: &mut Self::Context) {
        self.push_status();
    }
}

impl Handler<RedialNow> for ClusterPeer {
    type Result = ();
    fn handle(&mut self, _msg: RedialNow, ctx: &mut Self::Context) {
        if self.link.is_none() {
            self.dial(ctx);
        }
    }
}

impl Handler<StopPeer> for ClusterPeer {
    type Result = ();
    fn handle(&mut self, _msg: StopPeer, ctx: &mut Self::Context) {
        self.stopping = true;
        self.link = None;
        ctx.stop();
    }
}
