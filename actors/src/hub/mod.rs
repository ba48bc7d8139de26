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
//!
//! Bounds: the mailbox holds [`HUB_MAILBOX`] messages (the bus waits while it is full); events held
//! for a user whose memberships are loading, [`PENDING_MAX`]; events held during an import,
//! [`SEND_QUEUE`] (past that the import is abandoned and the client gets a fresh `hello`).

use crate::error::StoreResult;
use crate::mailbox::HUB_MAILBOX;
use actix::prelude::*;
use futures_util::future::BoxFuture;
use starling_protocol::event::frame_with_seq;
use starling_protocol::message::{ConnectionQueue, QueuedEvent};
use starling_protocol::{Broadcast, ChannelId, ConnectionId, MembershipChange, TeamId, UserId, WsEvent};
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

#[cfg(test)]
mod tests;

/// Events kept per connection for resume (Mattermost: 128).
pub const DEAD_QUEUE: usize = 128;
/// Frames a connection may have waiting to be written (Mattermost: 256).
pub const SEND_QUEUE: usize = 256;
/// How long a disconnected connection's state is kept for resume (Mattermost: about 5 minutes).
pub const INACTIVE_TTL: Duration = Duration::from_secs(300);
/// How often connections past [`INACTIVE_TTL`] are forgotten.
const PURGE_INTERVAL: Duration = Duration::from_secs(30);
/// Items held for a user whose memberships are still loading before that user is dropped.
pub const PENDING_MAX: usize = 10_000;
/// How long after a cross-node resume events are checked against the imported queue.
pub const IMPORT_DEDUPE: Duration = Duration::from_secs(5);

/// This node's hubs; a user's connections all live in one of them.
#[derive(Clone)]
pub struct HubSet {
    hubs: Arc<Vec<Addr<Hub>>>,
}

impl HubSet {
    pub fn new(hubs: Vec<Addr<Hub>>) -> Self {
        assert!(!hubs.is_empty(), "a node has at least one hub");
        Self { hubs: Arc::new(hubs) }
    }

    pub fn hub_for(&self, user_id: &UserId) -> &Addr<Hub> {
        self.hub_for_str(user_id.as_str())
    }

    /// The hub of the user with this id (as a broadcast names it).
    pub fn hub_for_str(&self, user_id: &str) -> &Addr<Hub> {
        let mut h = DefaultHasher::new();
        user_id.hash(&mut h);
        &self.hubs[(h.finish() % self.hubs.len() as u64) as usize]
    }

    pub fn all(&self) -> &[Addr<Hub>] {
        &self.hubs
    }

    /// Every hub's [`HubStats`], added up (a hub that does not answer counts nothing).
    pub async fn stats(&self) -> HubStats {
        let mut total = HubStats::default();
        for h in self.all() {
            if let Ok(s) = h.send(GetHubStats).await {
                total.users += s.users;
                total.active_connections += s.active_connections;
                total.inactive_connections += s.inactive_connections;
            }
        }
        total
    }
}

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
    Close {
        code: u16,
        reason: String,
    },
}

pub type Outbox = mpsc::Sender<Outgoing>;

/// What a hub needs from the database: a user's channels and teams.
pub trait MembershipStore: Send + Sync + 'static {
    fn memberships(&self, user_id: &UserId) -> BoxFuture<'static, StoreResult<Memberships>>;
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Memberships {
    pub channels: HashSet<ChannelId>,
    pub teams: HashSet<TeamId>,
}

impl Memberships {
    fn apply(&mut self, change: &MembershipChange) {
        match change {
            MembershipChange::JoinedChannel(c) => {
                self.channels.insert(c.clone());
            }
            MembershipChange::LeftChannel(c) => {
                self.channels.remove(c);
            }
            MembershipChange::JoinedTeam(t) => {
                self.teams.insert(t.clone());
            }
            MembershipChange::LeftTeam(t) => {
                self.teams.remove(t);
            }
        }
    }

    /// Whether a user with these memberships should get an event with this broadcast.
    fn wants(&self, user_id: &UserId, b: &Broadcast) -> bool {
        !b.omit_users.iter().any(|u| u == user_id.as_str())
            && (b.user_id.is_empty() || b.user_id == user_id.as_str())
            && (b.channel_id.is_empty() || self.channels.contains(b.channel_id.as_str()))
            && (b.team_id.is_empty() || self.teams.contains(b.team_id.as_str()))
    }
}

/// The users of a hub by channel: those whose memberships say they are in it, and those whose
/// memberships are still loading (they may be). Kept with every change of `Hub::users`.
#[derive(Default)]
struct ChannelIndex {
    members: HashMap<ChannelId, HashSet<UserId>>,
    loading: HashSet<UserId>,
}

impl ChannelIndex {
    fn ready(&mut self, user: &UserId, m: &Memberships) {
        self.loading.remove(user);
        for c in &m.channels {
            self.members.entry(c.clone()).or_default().insert(user.clone());
        }
    }

    fn apply(&mut self, user: &UserId, change: &MembershipChange) {
        match change {
            MembershipChange::JoinedChannel(c) => {
                self.members.entry(c.clone()).or_default().insert(user.clone());
            }
            MembershipChange::LeftChannel(c) => self.leave(user, c),
            MembershipChange::JoinedTeam(_) | MembershipChange::LeftTeam(_) => {}
        }
    }

    fn leave(&mut self, user: &UserId, channel: &ChannelId) {
        if let Some(users) = self.members.get_mut(channel) {
            users.remove(user);
            if users.is_empty() {
                self.members.remove(channel);
            }
        }
    }

    fn forget(&mut self, user: &UserId, membership: &MembershipState) {
        self.loading.remove(user);
        if let MembershipState::Ready(m) = membership {
            for c in &m.channels {
                self.leave(user, c);
            }
        }
    }

    /// The users an event of `channel` may be for.
    fn concerned(&self, channel: &str) -> Vec<UserId> {
        let members = self.members.get(channel).into_iter().flatten();
        members.chain(self.loading.iter()).cloned().collect()
    }
}

/// Ask the connection actor to close its socket (slow consumer, revoked session).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct CloseConnection {
    pub code: u16,
    pub reason: String,
}

/// Where a resuming client is: the connection it had and the next event it expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    pub connection_id: ConnectionId,
    pub sequence_number: i64,
}

/// A connection's queue taken over from the node it was on before (cross-node resume).
#[derive(Debug, Clone)]
pub struct Imported {
    pub connection_id: ConnectionId,
    pub queue: ConnectionQueue,
}

/// Register a newly authenticated socket, new or resuming.
#[derive(Message)]
#[rtype(result = "Registered")]
pub struct Register {
    pub user_id: UserId,
    pub session_token: String,
    /// `connection_id` and `sequence_number` the client sent, if any.
    pub resume: Option<Resume>,
    pub outbox: Outbox,
    pub control: Recipient<CloseConnection>,
    /// Data of the `hello` event (connection_id is added).
    pub hello: serde_json::Map<String, serde_json::Value>,
    pub imported: Option<Imported>,
    /// The `seq` of the `authentication_challenge` that authenticated the socket: its OK is written
    /// right after the hello (or the replay), before any event can come between.
    pub reply_to: Option<i64>,
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

/// A draining node moves its clients: close up to `max` active websockets with 1001 (going away),
/// keeping each queue as a disconnect does, so that the client reconnects through the load
/// balancer to another node and resumes there (that node takes the queue from this one). Answers
/// how many stay active.
#[derive(Debug, Message)]
#[rtype(result = "usize")]
pub struct MoveConnections {
    pub max: usize,
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
    pub channel_id: ChannelId,
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

/// A live socket's ends, as the hub holds them.
struct Socket {
    outbox: Outbox,
    control: Recipient<CloseConnection>,
}

/// Events that reached a connection while its queue was being imported.
#[derive(Default)]
struct Held {
    events: Vec<Arc<PreparedEvent>>,
    overflow: bool,
}

struct Connection {
    user_id: UserId,
    session_token: String,
    next_seq: i64,
    queue: VecDeque<(i64, Arc<PreparedEvent>)>,
    socket: Option<Socket>,
    inactive_since: Option<Instant>,
    /// While the queue is imported from a peer ([`BeginImport`]).
    importing: Option<Held>,
    /// After an import, until this instant, an event equal to one in the queue is not delivered
    /// again: the node the queue came from may have queued events that reach this node later.
    dedupe_until: Option<Instant>,
}

impl Connection {
    fn new(user_id: &UserId, session_token: String) -> Self {
        Self {
            user_id: user_id.clone(),
            session_token,
            next_seq: 0,
            queue: VecDeque::new(),
            socket: None,
            inactive_since: None,
            importing: None,
            dedupe_until: None,
        }
    }

    /// Whether a client that has seen everything before `seq` can resume here.
    fn can_resume_from(&self, seq: i64) -> bool {
        seq == self.next_seq || self.queue.front().is_some_and(|(first, _)| *first <= seq && seq < self.next_seq)
    }

    /// Take a queue handed over by another node.
    fn load(&mut self, q: ConnectionQueue) {
        self.next_seq = q.next_seq;
        self.queue = q.events.into_iter().map(|e| (e.seq, PreparedEvent::new(e.event))).collect();
    }

    /// Give the connection a live socket: what the client has not seen (from `seq`) goes first.
    /// A new outbox holds [`SEND_QUEUE`] > [`DEAD_QUEUE`] frames, so the replay always fits.
    fn attach(&mut self, socket: Socket, session_token: String, seq: i64) {
        if let Some(old) = self.socket.take() {
            old.control.do_send(CloseConnection { code: 1000, reason: "replaced by a resumed connection".into() });
        }
        for (s, e) in self.queue.iter().filter(|(s, _)| *s >= seq) {
            let _ = socket.outbox.try_send(Outgoing::Text(e.frame(*s))); // fits: see above
        }
        self.socket = Some(socket);
        self.inactive_since = None;
        self.session_token = session_token;
    }
}

pub struct Hub {
    store: Arc<dyn MembershipStore>,
    users: HashMap<UserId, UserEntry>,
    /// Which of `users` each channel event may concern, so that it is not offered to every user
    /// connected here.
    by_channel: ChannelIndex,
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
        Self {
            store,
            users: HashMap::new(),
            by_channel: ChannelIndex::default(),
            connections: HashMap::new(),
            presence,
            log,
        }
    }

    fn active_count(&self, user_id: &UserId) -> usize {
        self.users.get(user_id).map_or(0, |u| {
            u.connections.iter().filter(|c| self.connections.get(*c).is_some_and(|c| c.socket.is_some())).count()
        })
    }

    fn presence_changed(&self, user_id: &UserId, online: bool) {
        if let Some(p) = &self.presence {
            // One per first or last connection of a user: bounded by connections.
            p.do_send(UserPresenceChanged { user_id: user_id.clone(), online });
        }
    }

    /// Add a connection (and its user, loading their memberships the first time).
    fn add(&mut self, id: ConnectionId, conn: Connection, ctx: &mut Context<Self>) {
        let user_id = conn.user_id.clone();
        self.connections.insert(id.clone(), conn);
        let by_channel = &mut self.by_channel;
        let entry = self.users.entry(user_id.clone()).or_insert_with(|| {
            by_channel.loading.insert(user_id.clone());
            UserEntry { connections: Vec::new(), membership: MembershipState::Loading(Vec::new()) }
        });
        entry.connections.push(id);
        if entry.connections.len() == 1 {
            self.load_memberships(user_id, ctx);
        }
    }

    /// Queue an event for one connection and write it if the socket is live.
    fn push(&mut self, conn_id: &ConnectionId, event: &Arc<PreparedEvent>) {
        let Some(c) = self.connections.get_mut(conn_id) else { return };
        if let Some(held) = &mut c.importing {
            if held.events.len() < SEND_QUEUE {
                held.events.push(event.clone());
            } else {
                held.overflow = true;
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
        let overflow = c.socket.as_ref().is_some_and(|s| {
            matches!(s.outbox.try_send(Outgoing::Text(event.frame(seq))), Err(mpsc::error::TrySendError::Full(_)))
        });
        if overflow {
            slog::info!(self.log, "slow websocket disconnected"; "conn_id" => conn_id.as_str(), "user_id" => c.user_id.as_str());
            if let Some(s) = c.socket.take() {
                s.control.do_send(CloseConnection { code: 1008, reason: "send queue full".into() });
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
        match &mut entry.membership {
            MembershipState::Loading(pending) => {
                if pending.len() < PENDING_MAX {
                    pending.push(Pending::Event(event.clone()));
                }
                return;
            }
            MembershipState::Ready(m) if !m.wants(user_id, &event.event.broadcast) => return,
            MembershipState::Ready(_) => {}
        }
        let targets: Vec<ConnectionId> =
            entry.connections.iter().filter(|c| connection_wants(c, &event.event.broadcast)).cloned().collect();
        for c in targets {
            self.push(&c, event);
        }
    }

    /// Forget a connection entirely.
    fn drop_connection(&mut self, conn_id: &ConnectionId) {
        let Some(c) = self.connections.remove(conn_id) else { return };
        let was_active = c.socket.is_some();
        if let Some(s) = c.socket {
            s.control.do_send(CloseConnection { code: 1000, reason: "session ended".into() });
        }
        if let Some(u) = self.users.get_mut(&c.user_id) {
            u.connections.retain(|x| x != conn_id);
            if u.connections.is_empty() {
                if let Some(gone) = self.users.remove(&c.user_id) {
                    self.by_channel.forget(&c.user_id, &gone.membership);
                }
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
        let fut = self.store.memberships(&user_id);
        ctx.spawn(fut.into_actor(self).map(move |res, hub, _ctx| {
            let pending = match hub.users.get_mut(&user_id).map(|e| &mut e.membership) {
                Some(MembershipState::Loading(pending)) => std::mem::take(pending),
                _ => return,
            };
            let conns = hub.users.get(&user_id).map(|u| u.connections.clone()).unwrap_or_default();
            match res {
                Ok(mut m) => {
                    // Replay what arrived while loading, in order: each event is judged by the
                    // memberships as they were when it arrived.
                    for p in pending {
                        match p {
                            Pending::Change(change) => m.apply(&change),
                            Pending::Event(e) if m.wants(&user_id, &e.event.broadcast) => {
                                for c in conns.iter().filter(|c| connection_wants(c, &e.event.broadcast)) {
                                    hub.push(c, &e);
                                }
                            }
                            Pending::Event(_) => {}
                        }
                    }
                    if let Some(entry) = hub.users.get_mut(&user_id) {
                        hub.by_channel.ready(&user_id, &m);
                        entry.membership = MembershipState::Ready(m);
                    }
                }
                Err(error) => {
                    slog::warn!(hub.log, "cannot load memberships, closing user connections"; "user_id" => user_id.as_str(), "error" => %error);
                    for c in conns {
                        hub.drop_connection(&c);
                    }
                }
            }
        }));
    }

    /// A place held by [`BeginImport`] for this connection: fill it with the imported queue (and
    /// then what arrived meanwhile), or give it up. Some(registered) when it was filled.
    fn complete_import(
        &mut self,
        user_id: &UserId,
        resume: &Resume,
        imported: &mut Option<Imported>,
        socket: &mut Option<Socket>,
        session_token: &str,
    ) -> Option<Registered> {
        let cid = &resume.connection_id;
        let held = self.connections.get_mut(cid).filter(|c| c.user_id == *user_id)?.importing.take()?;
        let queue = imported
            .take_if(|i| i.connection_id == *cid && i.queue.user_id == *user_id && !held.overflow)
            .map(|i| i.queue);
        let (Some(queue), Some(c)) = (queue, self.connections.get_mut(cid)) else {
            self.drop_connection(cid);
            return None;
        };
        c.load(queue);
        c.attach(socket.take()?, session_token.to_owned(), resume.sequence_number);
        c.dedupe_until = Some(Instant::now() + IMPORT_DEDUPE);
        // What reached this node during the handover, unless the queue has it (push checks while
        // `dedupe_until` holds).
        for e in held.events {
            self.push(cid, &e);
        }
        Some(Registered { connection_id: cid.clone(), resumed: true })
    }
}

fn connection_wants(conn: &ConnectionId, b: &Broadcast) -> bool {
    (b.connection_id.is_empty() || b.connection_id == conn.as_str()) && b.omit_connection_id != conn.as_str()
}

impl Actor for Hub {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(HUB_MAILBOX);
        ctx.run_interval(PURGE_INTERVAL, |hub, _| hub.purge_inactive());
    }
}

impl actix::Supervised for Hub {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        // A hub that failed may have left a connection's sequence half-assigned: close every
        // socket (their clients reconnect and get a fresh hello) and start empty.
        let ids: Vec<ConnectionId> = self.connections.keys().cloned().collect();
        for id in ids {
            self.drop_connection(&id);
        }
        self.users.clear();
        self.by_channel = ChannelIndex::default();
    }
}

crate::restartable!(Hub);

impl Handler<Register> for Hub {
    type Result = MessageResult<Register>;

    fn handle(&mut self, msg: Register, ctx: &mut Self::Context) -> Self::Result {
        let Register { user_id, session_token, resume, outbox, control, mut hello, mut imported, reply_to } = msg;
        let was_online = self.active_count(&user_id) > 0;
        let reply_outbox = reply_to.map(|seq| (seq, outbox.clone(), control.clone()));
        let mut socket = Some(Socket { outbox, control });
        let resumed = resume.and_then(|resume| {
            // 1. A place held for a cross-node resume.
            if let Some(r) = self.complete_import(&user_id, &resume, &mut imported, &mut socket, &session_token) {
                return Some(r);
            }
            // 2. A queue imported without a held place: it continues here.
            if let Some(i) = imported.take().filter(|i| {
                i.connection_id == resume.connection_id
                    && i.queue.user_id == user_id
                    && !self.connections.contains_key(&i.connection_id)
            }) {
                let mut c = Connection::new(&user_id, session_token.clone());
                c.load(i.queue);
                c.attach(socket.take()?, session_token.clone(), resume.sequence_number);
                self.add(i.connection_id.clone(), c, ctx);
                return Some(Registered { connection_id: i.connection_id, resumed: true });
            }
            // 3. A connection of this hub, with the sequence still in its queue or exactly next.
            let c = self.connections.get_mut(&resume.connection_id).filter(|c| {
                c.user_id == user_id && c.importing.is_none() && c.can_resume_from(resume.sequence_number)
            })?;
            c.attach(socket.take()?, session_token.clone(), resume.sequence_number);
            Some(Registered { connection_id: resume.connection_id, resumed: true })
        });
        let registered = resumed.unwrap_or_else(|| {
            // 4. A new connection: its hello is its first event.
            let connection_id = ConnectionId::new();
            let mut c = Connection::new(&user_id, session_token.clone());
            if let Some(s) = socket.take() {
                c.attach(s, session_token, 0);
            }
            self.add(connection_id.clone(), c, ctx);
            hello.insert("connection_id".into(), serde_json::Value::String(connection_id.as_str().to_owned()));
            let event = PreparedEvent::new(WsEvent::new(
                "hello",
                serde_json::Value::Object(hello).to_string(),
                Broadcast { user_id: user_id.as_str().to_owned(), ..Default::default() },
            ));
            self.push(&connection_id, &event);
            Registered { connection_id, resumed: false }
        });
        if let Some((seq, outbox, control)) = reply_outbox {
            let ok = serde_json::json!({"status": "OK", "seq_reply": seq}).to_string();
            if outbox.try_send(Outgoing::Text(ok)).is_err() {
                // The replay filled the outbox: the client resumes again on a fresh socket.
                control.do_send(CloseConnection { code: 1013, reason: "try again".into() });
            }
        }
        if !was_online {
            self.presence_changed(&user_id, true);
        }
        MessageResult(registered)
    }
}

impl Handler<Unregister> for Hub {
    type Result = ();
    fn handle(&mut self, msg: Unregister, _ctx: &mut Self::Context) {
        let Some(c) = self.connections.get_mut(&msg.connection_id) else { return };
        if c.socket.as_ref().is_some_and(|s| s.outbox.same_channel(&msg.outbox)) {
            c.socket = None;
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
        let users: Vec<UserId> = match b.channel_id.as_str() {
            "" => self.users.keys().cloned().collect(),
            channel => self.by_channel.concerned(channel),
        };
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
            MembershipState::Ready(m) => {
                m.apply(&msg.change);
                self.by_channel.apply(&msg.user_id, &msg.change);
            }
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

impl Handler<MoveConnections> for Hub {
    type Result = usize;
    fn handle(&mut self, msg: MoveConnections, _ctx: &mut Self::Context) -> usize {
        let moving: Vec<ConnectionId> = self
            .connections
            .iter()
            .filter(|(_, c)| c.socket.is_some())
            .map(|(id, _)| id.clone())
            .take(msg.max)
            .collect();
        let now = Instant::now();
        for id in &moving {
            let Some(c) = self.connections.get_mut(id) else { continue };
            if let Some(s) = c.socket.take() {
                s.control.do_send(CloseConnection { code: 1001, reason: "node draining: reconnect".into() });
            }
            c.inactive_since = Some(now);
            let user = c.user_id.clone();
            if self.active_count(&user) == 0 {
                self.presence_changed(&user, false);
            }
        }
        self.connections.values().filter(|c| c.socket.is_some()).count()
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
                let lookup = self.store.memberships(&msg.user_id);
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
        let mut c = Connection::new(&msg.user_id, msg.session_token);
        // Purged like any inactive connection if the import never completes.
        c.inactive_since = Some(Instant::now());
        c.importing = Some(Held::default());
        self.add(msg.connection_id, c, ctx);
        true
    }
}

impl Handler<TakeQueue> for Hub {
    type Result = MessageResult<TakeQueue>;
    fn handle(&mut self, msg: TakeQueue, _ctx: &mut Self::Context) -> Self::Result {
        let Some(c) = self.connections.get(&msg.connection_id) else { return MessageResult(None) };
        if c.user_id != msg.user_id || c.importing.is_some() || !c.can_resume_from(msg.sequence_number) {
            return MessageResult(None);
        }
        let q = ConnectionQueue {
            user_id: c.user_id.clone(),
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
        let active = self.connections.values().filter(|c| c.socket.is_some()).count();
        MessageResult(HubStats {
            users: self.users.len(),
            active_connections: active,
            inactive_connections: self.connections.len() - active,
        })
    }
}
