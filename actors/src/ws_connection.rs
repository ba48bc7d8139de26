//! `WsConnection`: one websocket, fed by actix-ws's message stream. It authenticates the socket
//! (at the upgrade or by `authentication_challenge` within [`AUTH_TIMEOUT`]), registers it with its
//! user's hub, answers client actions with `{status, seq_reply}`, answers ping frames at once and
//! pings idle sockets. Events reach the socket from the hub through the connection's bounded outbox,
//! which a writer task drains into the socket.

use crate::cluster::AskPeers;
use crate::event_bus::{EventBus, Publish};
use crate::hub::{
    BeginImport, CloseConnection, GetIsChannelMember, HubSet, Imported, Outbox, Outgoing, Register, Resume, Unregister,
    SEND_QUEUE,
};
use crate::presence::{GetStatuses, Presence, SetStatus, UserActive, AWAY, ONLINE};
use crate::session_cache::{GetSession, Session, SessionCache};
use crate::ws_action::{self, Action, BadJson, Typing};
use actix::prelude::*;
use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, ProtocolError};
use serde_json::{json, Value};
use starling_protocol::message::{Request, Response};
use starling_protocol::{now_ms, Broadcast, ChannelId, ConnectionId, UserId, WsEvent};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// An unauthenticated socket is closed after this long.
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(5);
/// How often an idle socket is pinged.
pub const PING_INTERVAL: Duration = Duration::from_secs(30);
/// A socket silent for this long is closed.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(90);
/// The largest frame a client may send (Mattermost reads at most 8 KiB).
pub const MAX_CLIENT_FRAME: usize = 8 * 1024;
/// How long a resuming connection waits for a peer to hand over its queue.
pub const TAKE_QUEUE_TIMEOUT: Duration = Duration::from_secs(1);

/// What every connection of a node shares.
pub struct WsContext {
    pub sessions: Addr<SessionCache>,
    pub hubs: HubSet,
    pub bus: Addr<EventBus>,
    pub presence: Addr<Presence>,
    /// Set on a node that is part of a cluster: a connection id unknown here may be a peer's.
    pub cluster: Option<Recipient<AskPeers>>,
    pub node_id: String,
    pub version: String,
    pub hostname: String,
    pub log: slog::Logger,
}

pub struct WsConnection {
    ctx: Arc<WsContext>,
    outbox: Outbox,
    writer: Option<tokio::task::JoinHandle<()>>,
    session: Option<Session>,
    connection_id: Option<ConnectionId>,
    resume: Option<Resume>,
    last_heard: Instant,
    /// Requests answered while registration is under way are fine; events come from the hub.
    registering: bool,
}

impl WsConnection {
    /// Take over an upgraded socket. `session` is set when the upgrade request was authenticated.
    pub fn start(
        ctx: Arc<WsContext>,
        ws: actix_ws::Session,
        stream: AggregatedMessageStream,
        session: Option<Session>,
        resume: Option<Resume>,
    ) -> Addr<Self> {
        let (outbox, rx) = mpsc::channel(SEND_QUEUE);
        let writer = actix::spawn(write_socket(ws, rx));
        WsConnection::create(move |c| {
            c.add_stream(stream);
            WsConnection {
                ctx,
                outbox,
                writer: Some(writer),
                session,
                connection_id: None,
                resume,
                last_heard: Instant::now(),
                registering: false,
            }
        })
    }

    fn send(&mut self, text: String, c: &mut Context<Self>) {
        if self.outbox.try_send(Outgoing::Text(text)).is_err() {
            self.abort(c);
        }
    }

    fn reply(&mut self, seq: i64, data: Option<Value>, c: &mut Context<Self>) {
        let mut v = json!({"status": "OK", "seq_reply": seq});
        if let Some(d) = data {
            v["data"] = d;
        }
        self.send(v.to_string(), c);
    }

    fn reply_error(&mut self, seq: i64, id: &str, message: &str, c: &mut Context<Self>) {
        let v = json!({
            "status": "FAIL",
            "seq_reply": seq,
            "error": {"id": id, "message": message, "detailed_error": "", "request_id": "", "status_code": 400},
        });
        self.send(v.to_string(), c);
    }

    /// Stop writing at once (the client cannot keep up or is gone).
    fn abort(&mut self, c: &mut Context<Self>) {
        if let Some(w) = self.writer.take() {
            w.abort();
        }
        c.stop();
    }

    fn close(&mut self, code: u16, reason: &str, c: &mut Context<Self>) {
        if self.outbox.try_send(Outgoing::Close { code, reason: reason.to_owned() }).is_err() {
            self.abort(c);
        } else {
            c.stop();
        }
    }

    /// Register with the hub, which sends `hello` and then answers the `authentication_challenge`
    /// numbered `reply_to`, if any (Mattermost's order: clients expect `hello` first).
    fn register(&mut self, reply_to: Option<i64>, c: &mut Context<Self>) {
        let Some(session) = self.session.clone() else { return };
        self.registering = true;
        let mut hello = serde_json::Map::new();
        hello.insert("server_version".into(), Value::String(self.ctx.version.clone()));
        hello.insert("server_hostname".into(), Value::String(self.ctx.hostname.clone()));
        hello.insert("node_id".into(), Value::String(self.ctx.node_id.clone()));
        let resume = self.resume.take();
        let hub = self.ctx.hubs.hub_for(&session.user_id).clone();
        let cluster = self.ctx.cluster.clone();
        let mut msg = Register {
            user_id: session.user_id.clone(),
            session_token: session.token.clone(),
            resume: resume.clone(),
            outbox: self.outbox.clone(),
            control: c.address().recipient(),
            hello,
            imported: None,
            reply_to,
        };
        let lookup = async move {
            // A connection id this node does not hold may live on a peer: take its queue over.
            if let (Some(r), Some(cluster)) = (resume, cluster) {
                // Hold its place here first: events reaching this node during the handover wait
                // there instead of missing the connection.
                let begin = BeginImport {
                    connection_id: r.connection_id.clone(),
                    user_id: session.user_id.clone(),
                    session_token: session.token.clone(),
                };
                if hub.send(begin).await.unwrap_or(false) {
                    let ask = AskPeers {
                        request: Request::TakeConnectionQueue {
                            connection_id: r.connection_id.clone(),
                            user_id: session.user_id.clone(),
                            sequence_number: r.sequence_number,
                        },
                        timeout: TAKE_QUEUE_TIMEOUT,
                    };
                    let answers = cluster.send(ask).await.unwrap_or_default();
                    msg.imported = answers.into_iter().find_map(|(_, answer)| match answer {
                        Response::ConnectionQueue(Some(queue)) => {
                            Some(Imported { connection_id: r.connection_id.clone(), queue })
                        }
                        _ => None,
                    });
                }
            }
            hub.send(msg).await
        };
        lookup.into_actor(self).then(move |res, act, c| {
            act.registering = false;
            match res {
                Ok(r) => {
                    slog::debug!(act.ctx.log, "websocket registered"; "conn_id" => r.connection_id.as_str(), "resumed" => r.resumed);
                    act.connection_id = Some(r.connection_id);
                }
                Err(_) => act.close(1011, "hub unavailable", c),
            }
            fut::ready(())
        })
        .wait(c);
    }

    fn user_id(&self) -> Option<UserId> {
        self.session.as_ref().map(|s| s.user_id.clone())
    }

    fn handle_text(&mut self, text: &str, c: &mut Context<Self>) {
        let req = match ws_action::decode(text) {
            Ok(r) => r,
            Err(BadJson { seq }) => {
                self.reply_error(seq, "api.web_socket_router.bad_json.app_error", "The message is not valid JSON.", c);
                return;
            }
        };
        let seq = req.seq;
        if self.session.is_none() {
            if let Action::AuthenticationChallenge { token } = req.action {
                self.authenticate(seq, token, c);
            } else {
                self.reply_error(seq, "api.web_socket_router.not_authenticated.app_error", "Authenticate first.", c);
            }
            return;
        }
        let Some(user_id) = self.user_id() else { return };
        self.ctx.presence.do_send(UserActive { user_id: user_id.clone(), manual: false });
        match req.action {
            Action::AuthenticationChallenge { .. } => self.reply(seq, None, c),
            Action::Ping => {
                let data = json!({
                    "text": "pong",
                    "version": self.ctx.version,
                    "server_time": now_ms(),
                    "node_id": self.ctx.node_id,
                });
                self.reply(seq, Some(data), c);
            }
            Action::UserTyping(Some(t)) => self.typing(seq, user_id, t, c),
            Action::UserTyping(None) => {
                self.reply_error(seq, "api.websocket_handler.invalid_param.app_error", "Invalid channel_id.", c)
            }
            Action::GetStatuses => self.statuses(seq, None, c),
            Action::GetStatusesByIds(Some(ids)) => self.statuses(seq, Some(ids), c),
            Action::GetStatusesByIds(None) => {
                self.reply_error(seq, "api.websocket_handler.invalid_param.app_error", "Invalid user_ids.", c)
            }
            Action::UpdateActiveStatus { active: Some(active), manual } => {
                let status = if active { ONLINE } else { AWAY };
                self.ctx.presence.do_send(SetStatus { user_id, status: status.into(), manual });
                self.reply(seq, None, c);
            }
            Action::UpdateActiveStatus { active: None, .. } => {
                self.reply_error(seq, "api.websocket_handler.invalid_param.app_error", "Invalid user_is_active.", c)
            }
            Action::Presence => self.reply(seq, None, c),
            Action::Unknown(_) => {
                self.reply_error(seq, "api.web_socket_router.bad_action.app_error", "Unknown action.", c)
            }
        }
    }

    fn authenticate(&mut self, seq: i64, token: Option<String>, c: &mut Context<Self>) {
        let Some(token) = token else {
            self.reply_error(seq, "api.web_socket_router.no_token.app_error", "No token in the challenge.", c);
            return;
        };
        self.ctx
            .sessions
            .send(GetSession { token })
            .into_actor(self)
            .then(move |res, act, c| {
                match res {
                    Ok(Ok(Some(s))) if !s.is_expired(now_ms()) && act.session.is_none() => {
                        act.session = Some(s);
                        act.register(Some(seq), c);
                    }
                    _ => act.reply_error(
                        seq,
                        "api.web_socket_router.bad_token.app_error",
                        "Invalid or expired session.",
                        c,
                    ),
                }
                fut::ready(())
            })
            .wait(c);
    }

    fn typing(&mut self, seq: i64, user_id: UserId, t: Typing, c: &mut Context<Self>) {
        let Typing { channel_id, parent_id } = t;
        let hub = self.ctx.hubs.hub_for(&user_id).clone();
        hub.send(GetIsChannelMember { user_id: user_id.clone(), channel_id: ChannelId(channel_id.clone()) })
            .into_actor(self)
            .then(move |res, act, c| {
                if res.unwrap_or(false) {
                    let event = WsEvent::new(
                        "typing",
                        json!({"parent_id": parent_id, "user_id": user_id.as_str()}).to_string(),
                        Broadcast { channel_id, omit_users: vec![user_id.as_str().to_owned()], ..Default::default() },
                    );
                    // One per typing action, which the socket's frames bound.
                    act.ctx.bus.do_send(Publish::ws(event));
                    act.reply(seq, None, c);
                } else {
                    act.reply_error(seq, "api.context.permissions.app_error", "Not a member of that channel.", c);
                }
                fut::ready(())
            })
            .wait(c);
    }

    fn statuses(&mut self, seq: i64, ids: Option<Vec<UserId>>, c: &mut Context<Self>) {
        // Without ids: the caller's own status (Mattermost returns the statuses it holds in memory).
        let ids = ids.unwrap_or_else(|| self.user_id().into_iter().collect());
        self.ctx
            .presence
            .send(GetStatuses { user_ids: ids })
            .into_actor(self)
            .then(move |res, act, c| {
                match res {
                    Ok(Ok(list)) => {
                        let map: serde_json::Map<String, Value> =
                            list.into_iter().map(|s| (s.user_id.0, Value::String(s.status))).collect();
                        act.reply(seq, Some(Value::Object(map)), c);
                    }
                    _ => act.reply_error(seq, "api.status.get.app_error", "Statuses are unavailable.", c),
                }
                fut::ready(())
            })
            .wait(c);
    }
}

/// What the node's upgrade puts in the socket's byte stream when a client frame declares more
/// than [`MAX_CLIENT_FRAME`]: actix-ws would buffer such a frame whole before checking its size,
/// so the node reads each frame's header as the bytes pass and stops the stream at once.
#[derive(Debug, thiserror::Error)]
#[error("a websocket frame declares more than the size limit")]
pub struct FrameTooLarge;

/// Whether `e` carries [`FrameTooLarge`] somewhere down its chain (actix-ws wraps the stream's
/// error in an io::Error of its own).
fn is_frame_too_large(e: &std::io::Error) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = e.get_ref().map(|e| e as _);
    while let Some(err) = next {
        if err.is::<FrameTooLarge>() {
            return true;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io.get_ref().is_some_and(|inner| inner.is::<FrameTooLarge>()) {
                return true;
            }
        }
        next = err.source();
    }
    false
}

/// The close code (RFC 6455 section 7.4.1) for a frame the client should not have sent.
fn close_for(e: &ProtocolError) -> (u16, &'static str) {
    match e {
        // A frame past MAX_CLIENT_FRAME: refused from its header alone, or once read.
        ProtocolError::Overflow => (1009, "frame too large"),
        ProtocolError::Io(io) if is_frame_too_large(io) => (1009, "frame too large"),
        // Continuations adding up past MAX_CLIENT_FRAME (actix-ws's own words for it).
        ProtocolError::Io(io) if io.to_string().contains("continuation size") => (1009, "message too large"),
        // A text message that is not UTF-8 (actix-ws reports the UTF-8 error as InvalidData; reserved
        // bits set are InvalidData too, and a protocol error).
        ProtocolError::Io(io)
            if io.kind() == std::io::ErrorKind::InvalidData && io.to_string().to_lowercase().contains("utf-8") =>
        {
            (1007, "text frame is not UTF-8")
        }
        // Unmasked frames, reserved bits or opcodes, stray continuations, broken reads.
        _ => (1002, "protocol error"),
    }
}

async fn write_socket(mut ws: actix_ws::Session, mut rx: mpsc::Receiver<Outgoing>) {
    while let Some(out) = rx.recv().await {
        let sent = match out {
            Outgoing::Text(t) => ws.text(t).await,
            Outgoing::Ping(p) => ws.ping(&p).await,
            Outgoing::Pong(p) => ws.pong(&p).await,
            Outgoing::Close { code, reason } => {
                let _ = ws.close(Some(CloseReason { code: CloseCode::from(code), description: Some(reason) })).await;
                return;
            }
        };
        if sent.is_err() {
            return;
        }
    }
    let _ = ws.close(None).await;
}

impl Actor for WsConnection {
    type Context = Context<Self>;

    fn started(&mut self, c: &mut Self::Context) {
        if self.session.is_some() {
            self.register(None, c);
        } else {
            c.run_later(AUTH_TIMEOUT, |act, c| {
                if act.session.is_none() {
                    act.close(1008, "authentication timeout", c);
                }
            });
        }
        c.run_interval(PING_INTERVAL, |act, c| {
            if act.last_heard.elapsed() > CLIENT_TIMEOUT {
                act.close(1001, "client timeout", c);
            } else if act.outbox.try_send(Outgoing::Ping(Vec::new())).is_err() {
                act.abort(c);
            }
        });
    }

    fn stopped(&mut self, _c: &mut Self::Context) {
        if let (Some(id), Some(s)) = (self.connection_id.take(), self.session.as_ref()) {
            self.ctx.hubs.hub_for(&s.user_id).do_send(Unregister { connection_id: id, outbox: self.outbox.clone() });
        }
    }
}

impl StreamHandler<Result<AggregatedMessage, ProtocolError>> for WsConnection {
    fn handle(&mut self, item: Result<AggregatedMessage, ProtocolError>, c: &mut Self::Context) {
        self.last_heard = Instant::now();
        match item {
            Ok(AggregatedMessage::Text(t)) => self.handle_text(&t, c),
            Ok(AggregatedMessage::Binary(_)) => self.close(1003, "binary frames are not supported", c),
            Ok(AggregatedMessage::Ping(p)) => {
                if self.outbox.try_send(Outgoing::Pong(p.to_vec())).is_err() {
                    self.abort(c);
                }
            }
            Ok(AggregatedMessage::Pong(_)) => {}
            Ok(AggregatedMessage::Close(_)) => c.stop(),
            Err(e) => {
                slog::debug!(self.ctx.log, "websocket protocol error"; "error" => %e);
                let (code, reason) = close_for(&e);
                self.close(code, reason, c);
            }
        }
    }

    fn finished(&mut self, c: &mut Self::Context) {
        c.stop();
    }
}

impl Handler<CloseConnection> for WsConnection {
    type Result = ();
    fn handle(&mut self, msg: CloseConnection, c: &mut Self::Context) {
        self.connection_id = None; // the hub already let go of it
        if msg.code == 1008 {
            self.abort(c); // slow consumer: its queue is full, do not wait for it
        } else {
            self.close(msg.code, &msg.reason, c);
        }
    }
}
