//! The gossip port: accept peers' links and apply what they send. Events published on a peer's
//! bus are published on this node's bus as they are (with the peer as their origin); revocations
//! reach the session cache. Reliable messages are acknowledged only once applied, so a
//! revocation's sender knows this node has dropped the session when its ack arrives.
//!
//! Bounds: at most [`MAX_INBOUND`] links at once; a link is read only as fast as this node's bus
//! and session cache take what it carries (back-pressure reaches the sender through TCP, whose
//! own queue for us is bounded by `MAX_UNACKED`).

use super::answers::{Answerers, ExtensionQuestion};
use super::coordinator::{Cluster, PeerSeen, RemoteConfigChanged};
use super::link::{self, Established, LinkError, LinkWriter, Listener, NotSent};
use super::node::{NodeInfo, TransportSettings};
use super::{ClusterCounters, HeardTable, SUSPECT_AFTER};
use crate::event_bus::{CloseWebsockets, EventBus, Origin, Publish, TakeQueueInOrder};
use crate::hub::{GetUserConnectionCount, HubSet, SessionTarget, TakeQueue};
use crate::mailbox::forward_async;
use crate::session_cache::{ClearSessions, InvalidateUserSessions, RevokeSession, SessionCache};
use actix::Addr;
use starling_protocol::message::{ClusterMessage, Decoded, Envelope, NodeStats, Request, Response};
use starling_protocol::NodeId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Inbound links accepted at once at most (a peer needs one; the rest is abuse).
pub const MAX_INBOUND: usize = 256;
/// How long replies (acks, pongs, answers) may wait for a full write queue before the link is
/// given up: the peer is not reading.
const REPLY_PATIENCE: Duration = Duration::from_secs(2);

/// What peers' messages are applied to.
#[derive(Clone)]
pub struct LocalParts {
    pub bus: Addr<EventBus>,
    pub sessions: Addr<SessionCache>,
    pub hubs: HubSet,
    /// Who answers questions for extensions.
    pub answerers: Answerers,
}

pub struct Inbound {
    pub me: NodeInfo,
    pub transport: TransportSettings,
    pub cluster: Addr<Cluster>,
    pub local: LocalParts,
    pub counters: Arc<ClusterCounters>,
    pub heard: HeardTable,
    /// Highest reliable id applied, per sending node process.
    pub applied: Mutex<HashMap<NodeId, u64>>,
    pub active: AtomicUsize,
    pub log: slog::Logger,
}

impl Inbound {
    pub fn new(
        me: NodeInfo,
        transport: TransportSettings,
        cluster: Addr<Cluster>,
        local: LocalParts,
        counters: Arc<ClusterCounters>,
        heard: HeardTable,
        log: slog::Logger,
    ) -> Self {
        Self {
            me,
            transport,
            cluster,
            local,
            counters,
            heard,
            applied: Mutex::default(),
            active: AtomicUsize::new(0),
            log,
        }
    }
}

/// Accept links until the listener fails for good or the task is dropped.
pub async fn serve(mut listener: impl Listener, inbound: Arc<Inbound>) {
    loop {
        let stream = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                slog::warn!(inbound.log, "gossip accept failed"; "error" => %e);
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if inbound.active.load(Ordering::Relaxed) >= MAX_INBOUND {
            inbound.counters.reject("too_many_links");
            continue;
        }
        inbound.active.fetch_add(1, Ordering::Relaxed);
        let ib = inbound.clone();
        tokio::spawn(async move {
            if let Err(e) = handle(stream, &ib).await {
                if let Some(reason) = e.reason() {
                    ib.counters.reject(reason);
                    slog::warn!(ib.log, "gossip link refused or broken"; "reason" => reason, "error" => %e);
                } else {
                    slog::info!(ib.log, "gossip link closed"; "error" => %e);
                }
            }
            ib.active.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

async fn handle(stream: link::BoxStream, ib: &Arc<Inbound>) -> Result<(), LinkError> {
    let Established { mut reader, mut writer, remote, version } = link::accept(stream, &ib.me, &ib.transport).await?;
    if remote.app_version != ib.me.app_version {
        slog::warn!(ib.log, "peer runs another version"; "peer_id" => remote.node_id.as_str(),
            "version" => &remote.app_version, "protocol_version" => version);
    }
    if remote.config_hash != ib.me.config_hash.get() {
        slog::warn!(ib.log, "peer has a different config"; "peer_id" => remote.node_id.as_str());
    }
    // One per accepted link: bounded by MAX_INBOUND.
    ib.cluster.do_send(PeerSeen { gossip_addr: remote.gossip_addr.clone(), node_id: remote.node_id.clone() });
    slog::info!(ib.log, "peer link accepted"; "peer_id" => remote.node_id.as_str(), "peer_addr" => &remote.gossip_addr);
    loop {
        let items = reader.read_batch().await?;
        ib.counters.frames_received.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut h) = ib.heard.lock() {
            h.insert(remote.node_id.clone(), Instant::now());
        }
        let replies = apply(ib, &remote.node_id, version, items).await?;
        if !replies.is_empty() {
            send_replies(&mut writer, &replies).await?;
            ib.counters.frames_sent.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn send_replies(writer: &mut LinkWriter, replies: &[Envelope]) -> Result<(), LinkError> {
    let deadline = Instant::now() + REPLY_PATIENCE;
    loop {
        match writer.try_send(replies) {
            Ok(()) => return Ok(()),
            Err(NotSent::Closed) => {
                return Err(LinkError::Closed(std::io::Error::from(std::io::ErrorKind::BrokenPipe)))
            }
            Err(NotSent::Full) if Instant::now() >= deadline => return Err(LinkError::Timeout("replying")),
            Err(NotSent::Full) => tokio::time::sleep(Duration::from_millis(2)).await,
        }
    }
}

/// A message that could not be applied must not be acknowledged: the link is dropped instead, so
/// the sender keeps it queued and sends it again.
fn not_applied(what: &'static str) -> LinkError {
    LinkError::Closed(std::io::Error::other(what))
}

/// Apply a batch from `origin`; returns what to send back (pongs, responses, one cumulative ack).
/// `version`: the protocol version the link speaks (what the replies may carry).
async fn apply(
    ib: &Arc<Inbound>,
    origin: &NodeId,
    version: u16,
    items: Vec<Decoded>,
) -> Result<Vec<Envelope>, LinkError> {
    let mut replies = Vec::new();
    let mut ack_upto = None;
    let l = &ib.local;
    for item in items {
        let env = match item {
            Decoded::Message(env) => env,
            Decoded::Unknown { id, type_id } => {
                // Acknowledged all the same: a newer peer's message this build cannot use.
                if id != 0 {
                    ack_upto = Some(id.max(ack_upto.unwrap_or(0)));
                }
                ib.counters.reject("unknown_type");
                slog::warn!(ib.log, "unknown message type dropped"; "msg_type" => type_id, "peer_id" => origin.as_str());
                continue;
            }
        };
        if env.id != 0 {
            let seen = ib.applied.lock().ok().and_then(|m| m.get(origin).copied()).unwrap_or(0);
            ack_upto = Some(env.id.max(ack_upto.unwrap_or(0)));
            if env.id <= seen {
                continue; // re-sent after a reconnect; applied already
            }
        }
        let id = env.id;
        ib.counters.count_event(env.message.name());
        match env.message {
            ClusterMessage::Bus(event) => {
                if !forward_async(&l.bus, Publish { event, origin: Origin::Peer(origin.clone()) }).await {
                    return Err(not_applied("event bus unavailable"));
                }
            }
            ClusterMessage::ClearSession { token } => {
                l.sessions.send(RevokeSession { token: token.clone() }).await.map_err(|_| not_applied("sessions"))?;
                forward_async(&l.bus, CloseWebsockets { target: SessionTarget::Token(token) }).await;
            }
            ClusterMessage::ClearUserSessions { user_id } => {
                l.sessions
                    .send(InvalidateUserSessions { user_id: user_id.clone() })
                    .await
                    .map_err(|_| not_applied("sessions"))?;
                forward_async(&l.bus, CloseWebsockets { target: SessionTarget::User(user_id) }).await;
            }
            ClusterMessage::InvalidateAllCaches => {
                l.sessions.send(ClearSessions).await.map_err(|_| not_applied("sessions"))?;
            }
            ClusterMessage::ConfigChanged { config_hash } => {
                slog::info!(ib.log, "peer reports a config change"; "peer_id" => origin.as_str(), "config_hash" => &config_hash);
                forward_async(&ib.cluster, RemoteConfigChanged { node_id: origin.clone(), config_hash }).await;
            }
            ClusterMessage::Ping { nonce, sent_ms } => {
                // Protocol 2 tells the pinger our clock; protocol 1 pongs are the ping's echo.
                let answered_ms = (version >= 2).then(|| ib.me.now_ms());
                replies.push(Envelope { id: 0, message: ClusterMessage::Pong { nonce, sent_ms, answered_ms } })
            }
            ClusterMessage::Request { req_id, request } => {
                let response = answer(ib, origin, request).await;
                replies.push(Envelope { id: 0, message: ClusterMessage::Response { req_id, response } });
            }
            ClusterMessage::Pong { .. } | ClusterMessage::Ack { .. } | ClusterMessage::Response { .. } => {}
        }
        if id != 0 {
            if let Ok(mut m) = ib.applied.lock() {
                let e = m.entry(origin.clone()).or_insert(0);
                *e = (*e).max(id);
            }
        }
    }
    if let Some(up_to) = ack_upto {
        replies.push(Envelope { id: 0, message: ClusterMessage::Ack { up_to } });
    }
    Ok(replies)
}

async fn answer(ib: &Arc<Inbound>, origin: &NodeId, request: Request) -> Response {
    let hubs = &ib.local.hubs;
    match request {
        Request::GetStats => {
            let s = hubs.stats().await;
            let (websockets, users) = (s.active_connections as u64, s.users as u64);
            Response::Stats(NodeStats { node_id: ib.me.node_id.clone(), websockets, users, tasks: 0 })
        }
        Request::GetUserConnectionCount { user_id } => {
            let n = hubs.hub_for(&user_id).send(GetUserConnectionCount { user_id: user_id.clone() }).await.unwrap_or(0);
            Response::ConnectionCount(n as u64)
        }
        Request::TakeConnectionQueue { connection_id, user_id, sequence_number } => {
            let take = TakeQueue { connection_id, user_id, sequence_number };
            let taken = ib.local.bus.send(TakeQueueInOrder { take }).await.ok().flatten();
            Response::ConnectionQueue(taken)
        }
        Request::Probe { target_node_id } => {
            let alive = ib
                .heard
                .lock()
                .ok()
                .and_then(|h| h.get(&target_node_id).map(|t| t.elapsed() < SUSPECT_AFTER))
                .unwrap_or(false);
            Response::Probe { alive }
        }
        Request::Extension { extension, payload } => {
            let question = ExtensionQuestion { from: origin.clone(), payload };
            match ib.local.answerers.ask(&extension, question).await {
                Ok(answer) => Response::Extension(answer),
                Err(why) => Response::Error(why),
            }
        }
    }
}
