//! `Hub`: a shard of this node's websocket connections, grouped by user.
//!
//! The hub gives each connection its event sequence (`seq`, contiguous per connection even under
//! concurrent broadcasts, because one actor assigns it), filters events by the user's channel and
//! team memberships, and keeps the last [`DEAD_QUEUE`] events of every connection so a client that
//! reconnects with its `connection_id` and `sequence_number` resumes without loss. A disconnected
//! connection keeps receiving into that queue for [`INACTIVE_TTL`]; a connection whose send queue
//! ([`SEND_QUEUE`] frames) is full is disconnected, never buffered without bound.
//!
//! Cross-node resume (a client that reconnects through the load balancer to another node): the new
//! node first holds the connection's place ([`BeginImport`]), so events reaching it meanwhile are
//! kept; then the old node hands over the whole queue ([`TakeQueue`], ordered behind every event
//! its bus already delivered); the new node replays from the client's `sequence_number`, then
//! delivers the kept events, and for [`IMPORT_DEDUPE`] skips events equal to one in the queue (the
//! old node may have queued events that reach the new one later). Residual case: an event from a
//! third node that reached the new node before the handover began and the old node only after it
//! is missed (it needs that third node's link to the old node to lag behind the whole handover).

use actix::prelude::*;
use futures_util::future::BoxFuture;
use starling_protocol::event::frame_with_seq;
use starling_protocol::message::{ConnectionQueue, QueuedEvent};
use starling_protocol::{Broadcast, ConnectionId, UserId, WsEvent};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Events kept per connection for resume (Mattermost: 128).
pub const DEAD_QUEUE: usize = 128;
/// Frames a connection may have waiting to be written (Mattermost: 256).
pub const SEND_QUEUE: usize = 256;
/// How long a disconnected connection's state is kept for resume (Mattermost: about 5 minutes).
pub const INACTIVE_TTL: Duration = Duration::from_secs(300);
/// Items held for a user whose memberships are still loading before that user is dropped.
const PENDING_MAX: usize = 10_000;

/// An event rendered once, shared by every connection that receives it.
#[derive(Debug)]
pub struct PreparedEvent {
    pub event: WsEvent,
    prefix: String,
}

impl PreparedEvent {
    pub fn new(event: WsEvent) -> Arc<Self> {
        let prefix = event.render_prefix();
        Arc::new(Self { event, prefix })
    }
    pub fn frame(&self, seq: i64) -> String {
        frame_with_seq(&self.prefix, seq)
    }
}

/// What the socket writer of a connection is asked to do.
#[derive(Debug)]
pub enum Outgoing {
    Text(String),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// Close with a code and reason; the writer stops after it.
    Close(u16, String),
}

pub type Outbox = mpsc::Sender<Outgoing>;

/// What a hub needs from the database: a user's channels and teams.
pub trait MembershipStore: Send + Sync + 'static {
    fn memberships(&self, user_id: String) -> BoxFuture<'static, Result<Memberships, String>>;
}

#[derive(Debug, Clone, Default)]
pub struct Memberships {
    pub channels: HashSet<String>,
    pub teams: HashSet<String>,
}

/// A user joined or left a channel or team: it changes which events reach them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembershipChange {
    JoinedChannel(String),
    LeftChannel(String),
    JoinedTeam(String),
    LeftTeam(String),
}

/// Ask the connection actor to close its socket (slow consumer, revoked session).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct CloseConnection {
    pub code: u16,
    pub reason: String,
}

/// Register a newly authenticated socket, new or resuming.
#[derive(Message)]
#[rtype(result = "Registered")]
pub struct Register {
    pub user_id: UserId,
    pub session_token: String,
    /// `connection_id` and `sequence_number` the client sent, if any.
    pub resume: Option<(ConnectionId, i64)>,
    pub outbox: Outbox,
    pub control: Recipient<CloseConnection>,
    /// Data of the `hello` event (connection_id is added).
    pub hello: serde_json::Map<String, serde_json::Value>,
    /// The connection's queue, taken over from the node it was on before (cross-node resume).
    pub imported: Option<(ConnectionId, ConnectionQueue)>,
}

/// A client reconnected here with a connection id this hub does not hold: hold its place while its
/// queue is fetched from the peer that has it. Events for the connection that arrive meanwhile
/// are kept (up to [`SEND_QUEUE`]) and delivered after the imported queue, less the ones the
/// queue already holds, so the handover neither drops nor repeats events that reach both nodes.
/// False when this hub holds the connection already (a local resume).
#[derive(Debug, Message)]
#[rtype(result = "bool")]
pub struct BeginImport {
    pub connection_id: ConnectionId,
    pub user_id: UserId,
    pub session_token: String,
}

/// Hand a connection's queue to another node where its client reconnected, and forget it here.
/// `None` unless the connection is this user's and `sequence_number` can be resumed from.
#[derive(Debug, Message)]
#[rtype(result = "Option<ConnectionQueue>")]
pub struct TakeQueue {
    pub connection_id: ConnectionId,
    pub user_id: UserId,
    pub sequence_number: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    pub connection_id: ConnectionId,
    /// True when the old connection's state was taken over (no hello was sent).
    pub resumed: bool,
}

/// The socket is gone; keep its state for resume.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Unregister {
    pub connection_id: ConnectionId,
    /// Only if this outbox is still the connection's (a resume may have replaced it).
    pub outbox: Outbox,
}

/// Deliver an event to the matching connections of this hub.
#[derive(Debug, Message, Clone)]
#[rtype(result = "()")]
pub struct Deliver {
    pub event: Arc<PreparedEvent>,
}

/// Apply a membership change of a user this hub owns.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct ApplyMembership {
    pub user_id: UserId,
    pub change: MembershipChange,
}

/// Which connections to close and forget for good (no resume).
#[derive(Debug, Clone)]
pub enum SessionTarget {
    Token(String),
    User(UserId),
    All,
}

#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct CloseSessions {
    pub target: SessionTarget,
}

/// How many active connections a user has on this hub.
#[derive(Debug, Message)]
#[rtype(result = "usize")]
pub struct GetUserConnectionCount {
    pub user_id: UserId,
}

/// Whether the hub knows this user to be in this channel (for actions like `user_typing`).
#[derive(Debug, Message)]
#[rtype(result = "bool")]
pub struct GetIsChannelMember {
    pub user_id: UserId,
    pub channel_id: String,
}

/// Counts for metrics and tests.
#[derive(Debug, Message)]
#[rtype(result = "HubStats")]
pub struct GetHubStats;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HubStats {
    pub users: usize,
    pub active_connections: usize,
    pub inactive_connections: usize,
}

/// A user's first connection arrived or the last one left: for presence.
#[derive(Debug, Message, Clone)]
#[rtype(result = "()")]
pub struct UserPresenceChanged {
    pub user_id: UserId,
    pub online: bool,
}

enum Pending {
    Event(Arc<PreparedEvent>),
    Change(MembershipChange),
}

enum MembershipState {
    Loading(Vec<Pending>),
    Ready(Memberships),
}

struct UserEntry {
    connections: Vec<ConnectionId>,
    membership: MembershipState,
}

struct Connection {
    user_id: UserId,
    session_token: String,
    next_seq: i64,
    queue: VecDeque<(i64, Arc<PreparedEvent>)>,
    active: Option<(Outbox, Recipient<CloseConnection>)>,
    inactive_since: Option<Instant>,
    /// While the queue is imported from a peer ([`BeginImport`]): events that arrived meanwhile,
    /// and whether more arrived than were kept.
    importing: Option<(Vec<Arc<PreparedEvent>>, bool)>,
    /// After an import, until this instant, an event equal to one in the queue is not delivered
    /// again: the node the queue came from may have queued events that reach this node later.
    dedupe_until: Option<Instant>,
}

/// How long after a cross-node resume events are checked against the imported queue.
pub const IMPORT_DEDUPE: Duration = Duration::from_secs(5);

pub struct Hub {
    store: Arc<dyn MembershipStore>,
    users: HashMap<UserId, UserEntry>,
    connections: HashMap<ConnectionId, Connection>,
    presence: Option<Recipient<UserPresenceChanged>>,
    log: slog::Logger,
}

impl Hub {
    pub fn new(
        store: Arc<dyn MembershipStore>,
        presence: Option<Recipient<UserPresenceChanged>>,
        log: slog::Logger,
    ) -> Self {
        Self { store, users: HashMap::new(), connections: HashMap::new(), presence, log }
    }

    fn active_count(&self, user_id: &UserId) -> usize {
        self.users.get(user_id).map_or(0, |u| {
            u.connections.iter().filter(|c| self.connections.get(*c).is_some_and(|c| c.active.is_some())).count()
        })
    }

    fn presence_changed(&self, user_id: &UserId, online: bool) {
        if let Some(p) = &self.presence {
            p.do_send(UserPresenceChanged { user_id: user_id.clone(), online });
        }
    }

    /// Queue an event for one connection and write it if the socket is live.
    fn push(&mut self, conn_id: &ConnectionId, event: &Arc<PreparedEvent>) {
        let Some(c) = self.connections.get_mut(conn_id) else { return };
        if let Some((held, overflow)) = &mut c.importing {
            if held.len() < SEND_QUEUE {
                held.push(event.clone());
            } else {
                *overflow = true;
            }
            return;
        }
        if let Some(until) = c.dedupe_until {
            if Instant::now() >= until {
                c.dedupe_until = None;
            } else if c.queue.iter().rev().any(|(_, x)| x.event == event.event) {
                return;
            }
        }
        let seq = c.next_seq;
        c.next_seq += 1;
        if c.queue.len() == DEAD_QUEUE {
            c.queue.pop_front();
        }
        c.queue.push_back((seq, event.clone()));
        let overflow = match &c.active {
            Some((outbox, _)) => {
                matches!(outbox.try_send(Outgoing::Text(event.frame(seq))), Err(mpsc::error::TrySendError::Full(_)))
            }
            None => false,
        };
        if overflow {
            slog::info!(self.log, "slow websocket disconnected"; "conn_id" => conn_id.as_str(), "user_id" => c.user_id.as_str());
            if let Some((_, control)) = c.active.take() {
                control.do_send(CloseConnection { code: 1008, reason: "send queue full".into() });
            }
            c.inactive_since = Some(Instant::now());
            let user = c.user_id.clone();
            if self.active_count(&user) == 0 {
                self.presence_changed(&user, false);
            }
        }
    }

    fn deliver_to_user(&mut self, user_id: &UserId, event: &Arc<PreparedEvent>) {
        let Some(entry) = self.users.get_mut(user_id) else { return };
        let b = &event.event.broadcast;
        match &mut entry.membership {
            MembershipState::Loading(pending) => {
                if pending.len() >= PENDING_MAX {
                    return;
                }
                pending.push(Pending::Event(event.clone()));
                return;
            }
            MembershipState::Ready(m) => {
                if !user_wants(user_id, m, b) {
                    return;
                }
            }
        }
        let targets: Vec<ConnectionId> = entry.connections.iter().filter(|c| connection_wants(c, b)).cloned().collect();
        for c in targets {
            self.push(&c, event);
        }
    }

    fn apply_change(m: &mut Memberships, change: &MembershipChange) {
        match change {
            MembershipChange::JoinedChannel(c) => {
                m.channels.insert(c.clone());
            }
            MembershipChange::LeftChannel(c) => {
                m.channels.remove(c);
            }
            MembershipChange::JoinedTeam(t) => {
                m.teams.insert(t.clone());
            }
            MembershipChange::LeftTeam(t) => {
                m.teams.remove(t);
            }
        }
    }

    /// Forget a connection entirely.
    fn drop_connection(&mut self, conn_id: &ConnectionId) {
        let Some(c) = self.connections.remove(conn_id) else { return };
        let was_active = c.active.is_some();
        if let Some((_, control)) = c.active {
            control.do_send(CloseConnection { code: 1000, reason: "session ended".into() });
        }
        if let Some(u) = self.users.get_mut(&c.user_id) {
            u.connections.retain(|x| x != conn_id);
            if u.connections.is_empty() {
                self.users.remove(&c.user_id);
            }
        }
        if was_active && self.active_count(&c.user_id) == 0 {
            self.presence_changed(&c.user_id, false);
        }
    }

    fn purge_inactive(&mut self) {
        let now = Instant::now();
        let stale: Vec<ConnectionId> = self
            .connections
            .iter()
            .filter(|(_, c)| c.inactive_since.is_some_and(|t| now.duration_since(t) >= INACTIVE_TTL))
            .map(|(id, _)| id.clone())
            .collect();
        for id in stale {
            self.drop_connection(&id);
        }
    }

    fn load_memberships(&mut self, user_id: UserId, ctx: &mut Context<Self>) {
        let fut = self.store.memberships(user_id.as_str().to_owned());
        ctx.spawn(fut.into_actor(self).map(move |res, hub, _ctx| {
            let pending = match hub.users.get_mut(&user_id).map(|e| &mut e.membership) {
                Some(MembershipState::Loading(pending)) => std::mem::take(pending),
                _ => return,
            };
            match res {
                Ok(mut m) => {
                    // Replay what arrived while loading, in order: each event is judged by the
                    // memberships as they were when it arrived.
                    let conns = hub.users.get(&user_id).map(|u| u.connections.clone()).unwrap_or_default();
                    for p in pending {
                        match p {
                            Pending::Change(change) => Hub::apply_change(&mut m, &change),
                            Pending::Event(e) if user_wants(&user_id, &m, &e.event.broadcast) => {
                                for c in conns.iter().filter(|c| connection_wants(c, &e.event.broadcast)) {
                                    hub.push(c, &e);
                                }
                            }
                            Pending::Event(_) => {}
                        }
                    }
                    if let Some(entry) = hub.users.get_mut(&user_id) {
                        entry.membership = MembershipState::Ready(m);
                    }
                }
                Err(error) => {
                    slog::warn!(hub.log, "cannot load memberships, closing user connections"; "user_id" => user_id.as_str(), "error" => error);
                    let conns = hub.users.get(&user_id).map(|u| u.connections.clone()).unwrap_or_default();
                    for c in conns {
                        hub.drop_connection(&c);
                    }
                }
            }
        }));
    }
}

fn connection_wants(conn: &ConnectionId, b: &Broadcast) -> bool {
    (b.connection_id.is_empty() || b.connection_id == conn.as_str()) && b.omit_connection_id != conn.as_str()
}

/// Whether a user with these memberships should get an event with this broadcast.
fn user_wants(user_id: &UserId, m: &Memberships, b: &Broadcast) -> bool {
    if b.omit_users.iter().any(|u| u == user_id.as_str()) {
        return false;
    }
    if !b.user_id.is_empty() && b.user_id != user_id.as_str() {
        return false;
    }
    if !b.channel_id.is_empty() && !m.channels.contains(&b.channel_id) {
        return false;
    }
    if !b.team_id.is_empty() && !m.teams.contains(&b.team_id) {
        return false;
    }
    true
}

impl Actor for Hub {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(usize::MAX >> 4);
        ctx.run_interval(Duration::from_secs(30), |hub, _| hub.purge_inactive());
    }
}

impl Handler<Register> for Hub {
    type Result = MessageResult<Register>;

    fn handle(&mut self, msg: Register, ctx: &mut Self::Context) -> Self::Result {
        let Register { user_id, session_token, resume, outbox, control, mut hello, mut imported } = msg;
        let was_online = self.active_count(&user_id) > 0;
        // A place held by BeginImport: fill it with the imported queue, or give it up.
        if let Some((cid, seq)) = &resume {
            let held = self.connections.get_mut(cid).filter(|c| c.user_id == user_id).and_then(|c| c.importing.take());
            if let Some((held, overflow)) = held {
                match imported.take().filter(|(i, q)| i == cid && q.user_id == user_id.as_str() && !overflow) {
                    Some((_, q)) => {
                        let queue: VecDeque<(i64, Arc<PreparedEvent>)> =
                            q.events.into_iter().map(|e| (e.seq, PreparedEvent::new(e.event))).collect();
                        let from = *seq;
                        if let Some(c) = self.connections.get_mut(cid) {
                            for (s, e) in queue.iter().filter(|(s, _)| *s >= from) {
                                let _ = outbox.try_send(Outgoing::Text(e.frame(*s)));
                            }
                            c.next_seq = q.next_seq;
                            c.queue = queue;
                            c.active = Some((outbox, control));
                            c.inactive_since = None;
                            c.session_token = session_token;
                            c.dedupe_until = Some(Instant::now() + IMPORT_DEDUPE);
                        }
                        // What reached this node during the handover, unless the queue has it
                        // (push checks while `dedupe_until` holds).
                        for e in held {
                            self.push(cid, &e);
                        }
                        if !was_online {
                            self.presence_changed(&user_id, true);
                        }
                        return MessageResult(Registered { connection_id: cid.clone(), resumed: true });
                    }
                    None => self.drop_connection(cid),
                }
            }
        }
        if let Some((cid, q)) =
            imported.filter(|(cid, q)| q.user_id == user_id.as_str() && !self.connections.contains_key(cid))
        {
            // Resumed from another node: its queue continues here, replayed from where the client is.
            let seq = resume.as_ref().map(|(_, s)| *s).unwrap_or(q.next_seq);
            let queue: VecDeque<(i64, Arc<PreparedEvent>)> =
                q.events.into_iter().map(|e| (e.seq, PreparedEvent::new(e.event))).collect();
            // The outbox is new and holds SEND_QUEUE > DEAD_QUEUE frames, so the replay fits.
            for (s, e) in queue.iter().filter(|(s, _)| *s >= seq) {
                let _ = outbox.try_send(Outgoing::Text(e.frame(*s)));
            }
            self.connections.insert(
                cid.clone(),
                Connection {
                    user_id: user_id.clone(),
                    session_token,
                    next_seq: q.next_seq,
                    queue,
                    active: Some((outbox, control)),
                    inactive_since: None,
                    importing: None,
                    dedupe_until: None,
                },
            );
            let needs_load = !self.users.contains_key(&user_id);
            let entry = self.users.entry(user_id.clone()).or_insert_with(|| UserEntry {
                connections: Vec::new(),
                membership: MembershipState::Loading(Vec::new()),
            });
            entry.connections.push(cid.clone());
            if needs_load {
                self.load_memberships(user_id.clone(), ctx);
            }
            if !was_online {
                self.presence_changed(&user_id, true);
            }
            return MessageResult(Registered { connection_id: cid, resumed: true });
        }
        // Resume: the same user's connection, with the sequence still in its queue or exactly next.
        if let Some((cid, seq)) = resume {
            let resumable = self.connections.get(&cid).is_some_and(|c| {
                c.user_id == user_id
                    && (seq == c.next_seq
                        || c.queue.front().is_some_and(|(first, _)| *first <= seq && seq < c.next_seq))
            });
            if let Some(c) = self.connections.get_mut(&cid).filter(|_| resumable) {
                if let Some((_, old)) = c.active.take() {
                    old.do_send(CloseConnection { code: 1000, reason: "replaced by a resumed connection".into() });
                }
                // The outbox is new and holds SEND_QUEUE > DEAD_QUEUE frames, so the replay fits.
                for (s, e) in c.queue.iter().filter(|(s, _)| *s >= seq) {
                    let _ = outbox.try_send(Outgoing::Text(e.frame(*s)));
                }
                c.active = Some((outbox, control));
                c.inactive_since = None;
                c.session_token = session_token;
                if !was_online {
                    self.presence_changed(&user_id, true);
                }
                return MessageResult(Registered { connection_id: cid, resumed: true });
            }
        }
        let connection_id = ConnectionId::new();
        self.connections.insert(
            connection_id.clone(),
            Connection {
                user_id: user_id.clone(),
                session_token,
                next_seq: 0,
                queue: VecDeque::new(),
                active: Some((outbox, control)),
                inactive_since: None,
                importing: None,
                dedupe_until: None,
            },
        );
        let needs_load = !self.users.contains_key(&user_id);
        let entry = self
            .users
            .entry(user_id.clone())
            .or_insert_with(|| UserEntry { connections: Vec::new(), membership: MembershipState::Loading(Vec::new()) });
        entry.connections.push(connection_id.clone());
        if needs_load {
            self.load_memberships(user_id.clone(), ctx);
        }
        hello.insert("connection_id".into(), serde_json::Value::String(connection_id.as_str().to_owned()));
        let event = PreparedEvent::new(WsEvent::new(
            "hello",
            serde_json::Value::Object(hello).to_string(),
            Broadcast { user_id: user_id.as_str().to_owned(), ..Default::default() },
        ));
        self.push(&connection_id, &event);
        if !was_online {
            self.presence_changed(&user_id, true);
        }
        MessageResult(Registered { connection_id, resumed: false })
    }
}

impl Handler<Unregister> for Hub {
    type Result = ();
    fn handle(&mut self, msg: Unregister, _ctx: &mut Self::Context) {
        let Some(c) = self.connections.get_mut(&msg.connection_id) else { return };
        let same = c.active.as_ref().is_some_and(|(o, _)| o.same_channel(&msg.outbox));
        if same {
            c.active = None;
            c.inactive_since = Some(Instant::now());
            let user = c.user_id.clone();
            if self.active_count(&user) == 0 {
                self.presence_changed(&user, false);
            }
        }
    }
}

impl Handler<Deliver> for Hub {
    type Result = ();
    fn handle(&mut self, msg: Deliver, _ctx: &mut Self::Context) {
        let b = &msg.event.event.broadcast;
        if !b.user_id.is_empty() {
            self.deliver_to_user(&UserId::from(b.user_id.as_str()), &msg.event);
            return;
        }
        let users: Vec<UserId> = self.users.keys().cloned().collect();
        for u in users {
            self.deliver_to_user(&u, &msg.event);
        }
    }
}

impl Handler<ApplyMembership> for Hub {
    type Result = ();
    fn handle(&mut self, msg: ApplyMembership, _ctx: &mut Self::Context) {
        let Some(entry) = self.users.get_mut(&msg.user_id) else { return };
        match &mut entry.membership {
            MembershipState::Loading(pending) => {
                if pending.len() < PENDING_MAX {
                    pending.push(Pending::Change(msg.change));
                }
            }
            MembershipState::Ready(m) => Hub::apply_change(m, &msg.change),
        }
    }
}

impl Handler<CloseSessions> for Hub {
    type Result = ();
    fn handle(&mut self, msg: CloseSessions, _ctx: &mut Self::Context) {
        let ids: Vec<ConnectionId> = self
            .connections
            .iter()
            .filter(|(_, c)| match &msg.target {
                SessionTarget::Token(t) => &c.session_token == t,
                SessionTarget::User(u) => &c.user_id == u,
                SessionTarget::All => true,
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            self.drop_connection(&id);
        }
    }
}

impl Handler<GetUserConnectionCount> for Hub {
    type Result = usize;
    fn handle(&mut self, msg: GetUserConnectionCount, _ctx: &mut Self::Context) -> usize {
        self.active_count(&msg.user_id)
    }
}

impl Handler<GetIsChannelMember> for Hub {
    type Result = ResponseFuture<bool>;
    fn handle(&mut self, msg: GetIsChannelMember, _ctx: &mut Self::Context) -> Self::Result {
        let answer = match self.users.get(&msg.user_id).map(|u| &u.membership) {
            Some(MembershipState::Ready(m)) => m.channels.contains(&msg.channel_id),
            // Still loading (a socket that just connected): ask the store rather than say no.
            Some(MembershipState::Loading(_)) => {
                let lookup = self.store.memberships(msg.user_id.as_str().to_owned());
                let channel_id = msg.channel_id;
                return Box::pin(async move { lookup.await.is_ok_and(|m| m.channels.contains(&channel_id)) });
            }
            None => false,
        };
        Box::pin(async move { answer })
    }
}

impl Handler<BeginImport> for Hub {
    type Result = bool;
    fn handle(&mut self, msg: BeginImport, ctx: &mut Self::Context) -> bool {
        if self.connections.contains_key(&msg.connection_id) {
            return false;
        }
        self.connections.insert(
            msg.connection_id.clone(),
            Connection {
                user_id: msg.user_id.clone(),
                session_token: msg.session_token,
                next_seq: 0,
                queue: VecDeque::new(),
                active: None,
                // Purged like any inactive connection if the import never completes.
                inactive_since: Some(Instant::now()),
                importing: Some((Vec::new(), false)),
                dedupe_until: None,
            },
        );
        let needs_load = !self.users.contains_key(&msg.user_id);
        let entry = self
            .users
            .entry(msg.user_id.clone())
            .or_insert_with(|| UserEntry { connections: Vec::new(), membership: MembershipState::Loading(Vec::new()) });
        entry.connections.push(msg.connection_id);
        if needs_load {
            self.load_memberships(msg.user_id, ctx);
        }
        true
    }
}

impl Handler<TakeQueue> for Hub {
    type Result = MessageResult<TakeQueue>;
    fn handle(&mut self, msg: TakeQueue, _ctx: &mut Self::Context) -> Self::Result {
        let Some(c) = self.connections.get(&msg.connection_id) else { return MessageResult(None) };
        let seq = msg.sequence_number;
        let resumable = c.user_id == msg.user_id
            && (seq == c.next_seq || c.queue.front().is_some_and(|(first, _)| *first <= seq && seq < c.next_seq));
        if !resumable {
            return MessageResult(None);
        }
        let q = ConnectionQueue {
            user_id: c.user_id.as_str().to_owned(),
            next_seq: c.next_seq,
            // All of it, the events the client has seen too: the new node replays from
            // `sequence_number` and recognises what reaches it during the handover.
            events: c.queue.iter().map(|(s, e)| QueuedEvent { seq: *s, event: e.event.clone() }).collect(),
        };
        self.drop_connection(&msg.connection_id);
        MessageResult(Some(q))
    }
}

impl Handler<GetHubStats> for Hub {
    type Result = MessageResult<GetHubStats>;
    fn handle(&mut self, _msg: GetHubStats, _ctx: &mut Self::Context) -> Self::Result {
        let active = self.connections.values().filter(|c| c.active.is_some()).count();
        MessageResult(HubStats {
            users: self.users.len(),
            active_connections: active,
            inactive_connections: self.connections.len() - active,
        })
    }
}
