//! The gossip port: accept peers' links, check their handshake, and apply what they send.
//! Reliable messages are acknowledged only once applied, so a revocation's sender knows this node
//! has dropped the session when its ack arrives.

use super::peer::{read_frame, MAX_HANDSHAKE};
use super::{
    membership_from_wire, Cluster, ClusterCounters, HeardTable, LocalParts, NodeInfo, PeerSeen, RemoteConfigChanged,
    TransportSettings, SUSPECT_AFTER,
};
use crate::event_bus::{ApplyRemoteMembership, CloseWebsockets, DeliverRemoteEvent, TakeQueueInOrder};
use crate::hub::{GetHubStats, GetUserConnectionCount, SessionTarget, TakeQueue};
use crate::presence::ApplyRemoteStatus;
use crate::session_cache::{ClearSessions, InvalidateUserSessions, RevokeSession};
use crate::Status;
use actix::Addr;
use starling_protocol::envelope::{Opener, Sealer};
use starling_protocol::frame::{FrameKind, MAX_BODY, MAX_PROTOCOL_VERSION, MIN_PROTOCOL_VERSION};
use starling_protocol::handshake::{
    negotiate, open_handshake, seal_refuse, seal_welcome, session_keys, HandshakeFrame, Welcome,
};
use starling_protocol::message::{
    decode_batch, encode_batch, ClusterMessage, Decoded, Envelope, NodeStats, Request, Response,
};
use starling_protocol::{ConnectionId, UserId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// Inbound links accepted at once at most (a peer needs one; the rest is abuse).
pub const MAX_INBOUND: usize = 256;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);

pub struct Inbound {
    pub me: NodeInfo,
    pub transport: TransportSettings,
    pub cluster: Addr<Cluster>,
    pub local: LocalParts,
    pub counters: Arc<ClusterCounters>,
    pub heard: HeardTable,
    /// Highest reliable id applied, per sending node process.
    pub applied: Mutex<HashMap<String, u64>>,
    pub active: AtomicUsize,
    pub log: slog::Logger,
}

/// Accept links until the listener fails or the task is dropped.
pub async fn serve(listener: TcpListener, inbound: Arc<Inbound>) {
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(x) => x,
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
        let _ = stream.set_nodelay(true);
        inbound.active.fetch_add(1, Ordering::Relaxed);
        let ib = inbound.clone();
        actix::spawn(async move {
            let peer_addr = remote.to_string();
            if let Err(e) = handle(stream, &ib).await {
                slog::info!(ib.log, "gossip link closed"; "peer_addr" => peer_addr, "error" => e);
            }
            ib.active.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

async fn handle(stream: TcpStream, ib: &Arc<Inbound>) -> Result<(), String> {
    let (mut reader, mut writer) = stream.into_split();
    let me = &ib.me;
    let key = &ib.transport.key;
    let first = tokio::time::timeout(HANDSHAKE_TIMEOUT, read_frame(&mut reader, MAX_HANDSHAKE)).await;
    let (header, frame) = match first {
        Ok(Ok(f)) => f,
        Ok(Err(e)) => {
            ib.counters.reject(reason_label(&e));
            return Err(format!("bad first frame: {e}"));
        }
        Err(_) => {
            ib.counters.reject("handshake");
            return Err("handshake timed out".into());
        }
    };
    let hello = match open_handshake(key, &me.cluster_name, &header, &frame) {
        Ok(HandshakeFrame::Hello(h)) => h,
        Ok(_) => {
            ib.counters.reject("handshake");
            return Err("expected hello".into());
        }
        Err(e) => {
            // Wrong key or another cluster's name: it cannot read a refusal either.
            ib.counters.reject(e.reason());
            slog::warn!(ib.log, "gossip handshake rejected"; "reason" => e.reason(), "error" => %e);
            return Err(e.to_string());
        }
    };
    let refusal = if hello.cluster_name != me.cluster_name {
        Some(format!("cluster name {:?} is not {:?}", hello.cluster_name, me.cluster_name))
    } else if hello.node_id == me.node_id {
        Some("that is this node".to_owned())
    } else {
        None
    };
    let version = negotiate((MIN_PROTOCOL_VERSION, MAX_PROTOCOL_VERSION), (hello.min_version, hello.max_version));
    let refusal = match (refusal, &version) {
        (Some(r), _) => Some(r),
        (None, Err(e)) => Some(e.to_string()),
        (None, Ok(_)) => None,
    };
    if let Some(reason) = refusal {
        ib.counters.reject("handshake");
        slog::warn!(ib.log, "peer refused"; "node_id" => &hello.node_id, "peer_addr" => &hello.gossip_addr, "reason" => &reason);
        let _ = writer.write_all(&seal_refuse(key, &me.cluster_name, &reason)).await;
        return Err(reason);
    }
    if hello.app_version != me.app_version {
        slog::warn!(ib.log, "peer runs another version"; "node_id" => &hello.node_id, "version" => &hello.app_version);
    }
    if hello.config_hash != me.config_hash.get() {
        slog::warn!(ib.log, "peer has a different config"; "node_id" => &hello.node_id);
    }
    let mine = me.hello();
    let random = mine.random;
    let welcome = Welcome { hello: mine, version: version.unwrap_or(MIN_PROTOCOL_VERSION) };
    writer.write_all(&seal_welcome(key, &me.cluster_name, &welcome)).await.map_err(|e| e.to_string())?;
    let (in_key, out_key) = session_keys(key, &hello.random, &random);
    let mut opener = Opener::new(in_key, &me.cluster_name);
    let mut sealer = Sealer::new(out_key, &me.cluster_name, ib.transport.encrypt, ib.transport.compress);
    ib.cluster.do_send(PeerSeen { gossip_addr: hello.gossip_addr.clone(), node_id: hello.node_id.clone() });
    slog::info!(ib.log, "peer link accepted"; "node_id" => &hello.node_id, "peer_addr" => &hello.gossip_addr);

    loop {
        let (header, frame) = read_frame(&mut reader, MAX_BODY as usize).await.inspect_err(|e| {
            if !e.contains("eof") && !e.contains("reset") {
                ib.counters.reject(reason_label(e));
            }
        })?;
        if header.kind != FrameKind::Data {
            ib.counters.reject("kind");
            return Err("unexpected frame kind".into());
        }
        let items = match opener.open(&header, &frame).and_then(|p| decode_batch(&p)) {
            Ok(items) => items,
            Err(e) => {
                ib.counters.reject(e.reason());
                return Err(format!("{}: {e}", e.reason()));
            }
        };
        ib.counters.frames_received.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut h) = ib.heard.lock() {
            h.insert(hello.node_id.clone(), Instant::now());
        }
        let replies = apply(ib, &hello.node_id, items).await?;
        if !replies.is_empty() {
            let frame = sealer.seal(&encode_batch(&replies));
            writer.write_all(&frame).await.map_err(|e| e.to_string())?;
            ib.counters.frames_sent.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn reason_label(e: &str) -> &'static str {
    for r in ["bad_magic", "version", "kind", "too_long", "auth", "replay", "decompress", "decode", "handshake"] {
        if e.starts_with(r) {
            return r;
        }
    }
    "io"
}

/// A revocation that could not be applied must not be acknowledged: the link is dropped instead,
/// so the sender keeps it queued and sends it again.
fn not_applied(e: actix::MailboxError) -> String {
    format!("session cache unavailable: {e}")
}

/// Apply a batch from `origin`; returns what to send back (pongs, responses, one cumulative ack).
async fn apply(ib: &Arc<Inbound>, origin: &str, items: Vec<Decoded>) -> Result<Vec<Envelope>, String> {
    let mut replies = Vec::new();
    let mut ack_upto = None;
    for item in items {
        let env = match item {
            Decoded::Message(env) => env,
            Decoded::Unknown { type_id, .. } => {
                slog::warn!(ib.log, "unknown message type dropped"; "msg_type" => type_id, "node_id" => origin);
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
        let l = &ib.local;
        match env.message {
            ClusterMessage::Publish { event } => l.bus.do_send(DeliverRemoteEvent { event }),
            ClusterMessage::Membership { user_id, change } => l.bus.do_send(ApplyRemoteMembership {
                user_id: UserId::from(user_id),
                change: membership_from_wire(change),
            }),
            ClusterMessage::ClearSession { token } => {
                l.sessions.send(RevokeSession { token: token.clone() }).await.map_err(not_applied)?;
                l.bus.do_send(CloseWebsockets { target: SessionTarget::Token(token) });
            }
            ClusterMessage::ClearUserSessions { user_id } => {
                let user_id = UserId::from(user_id);
                l.sessions.send(InvalidateUserSessions { user_id: user_id.clone() }).await.map_err(not_applied)?;
                l.bus.do_send(CloseWebsockets { target: SessionTarget::User(user_id) });
            }
            ClusterMessage::InvalidateAllCaches => {
                l.sessions.send(ClearSessions).await.map_err(not_applied)?;
            }
            ClusterMessage::ConfigChanged { config_hash } => {
                slog::info!(ib.log, "peer reports a config change"; "node_id" => origin, "config_hash" => &config_hash);
                ib.cluster.do_send(RemoteConfigChanged { node_id: origin.to_owned(), config_hash });
            }
            ClusterMessage::Ping { nonce, sent_ms } => {
                replies.push(Envelope { id: 0, message: ClusterMessage::Pong { nonce, sent_ms } })
            }
            ClusterMessage::Request { req_id, request } => {
                let response = answer(ib, request).await;
                replies.push(Envelope { id: 0, message: ClusterMessage::Response { req_id, response } });
            }
            ClusterMessage::StatusUpdate { user_id, status, manual, last_activity_at } => {
                l.presence.do_send(ApplyRemoteStatus { status: Status { user_id, status, manual, last_activity_at } })
            }
            ClusterMessage::SessionWrote { session } => {
                if let Some(hook) = &l.session_wrote {
                    hook(session);
                }
            }
            ClusterMessage::Pong { .. } | ClusterMessage::Ack { .. } | ClusterMessage::Response { .. } => {}
        }
        if id != 0 {
            if let Ok(mut m) = ib.applied.lock() {
                let e = m.entry(origin.to_owned()).or_insert(0);
                *e = (*e).max(id);
            }
        }
    }
    if let Some(up_to) = ack_upto {
        replies.push(Envelope { id: 0, message: ClusterMessage::Ack { up_to } });
    }
    Ok(replies)
}

async fn answer(ib: &Arc<Inbound>, request: Request) -> Response {
    let hubs = &ib.local.hubs;
    match request {
        Request::GetStats => {
            let mut websockets = 0u64;
            let mut users = 0u64;
            for h in hubs.all() {
                if let Ok(s) = h.send(GetHubStats).await {
                    websockets += s.active_connections as u64;
                    users += s.users as u64;
                }
            }
            Response::Stats(NodeStats { node_id: ib.me.node_id.clone(), websockets, users, tasks: 0 })
        }
        Request::GetUserConnectionCount { user_id } => {
            let user_id = UserId::from(user_id);
            let n = hubs.hub_for(&user_id).send(GetUserConnectionCount { user_id: user_id.clone() }).await.unwrap_or(0);
            Response::ConnectionCount(n as u64)
        }
        Request::TakeConnectionQueue { connection_id, user_id, sequence_number } => {
            let user_id = UserId::from(user_id);
            let take = TakeQueue { connection_id: ConnectionId::from(connection_id), user_id, sequence_number };
            let taken = ib.local.bus.send(TakeQueueInOrder(take)).await.ok().flatten();
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
    }
}
