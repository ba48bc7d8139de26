//! Cluster messages: what a Data frame's payload carries.
//!
//! A payload is a batch of envelopes:
//!
//! ```text
//! varint count, then per envelope: varint id | u16 BE type id | varint body length | postcard body
//! ```
//!
//! Varints are unsigned LEB128 (as postcard writes them), at most 10 bytes, minimal. Each message
//! type has an explicit numeric id (`TYPE_*`), append-only; its body is a private struct so Rust's
//! declaration order never reaches the wire, and sub-kinds (requests, responses, membership changes)
//! carry explicit ids of their own. Struct fields are only ever appended: readers ignore bytes
//! after the fields they know. A type id (or sub-kind) this build does not know is skipped by its
//! length and reported as [`Decoded::Unknown`].

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::bus::{BusEvent, ExtensionMessage, MembershipChange, UserStatus};
use crate::error::ProtocolError;
use crate::event::WsEvent;
use crate::id::{ChannelId, ConnectionId, NodeId, TeamId, UserId};

/// One event of a connection's websocket queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedEvent {
    /// The `seq` the connection gave it.
    pub seq: i64,
    /// The event.
    pub event: WsEvent,
}

/// A connection's websocket state, handed to the node its client reconnected to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionQueue {
    /// Whose connection it is (the new node checks it is the same user's).
    pub user_id: UserId,
    /// The `seq` the next event gets.
    pub next_seq: i64,
    /// The last events, oldest first (at most the hub's dead queue).
    pub events: Vec<QueuedEvent>,
}

/// One node's figures for the cluster stats page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStats {
    /// The node that answered.
    pub node_id: NodeId,
    /// Open websockets.
    pub websockets: u64,
    /// Users with a websocket.
    pub users: u64,
    /// Tasks running (Mattermost's "goroutines").
    pub tasks: u64,
}

/// A question one node asks another; the answer comes back as a [`Response`] with the same `req_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// The node's figures ([`Response::Stats`]).
    GetStats,
    /// How many websockets this user has on the node ([`Response::ConnectionCount`]).
    GetUserConnectionCount {
        /// The user asked about.
        user_id: UserId,
    },
    /// Hand over (and forget) a connection's queue, for a client that reconnected elsewhere.
    TakeConnectionQueue {
        /// The connection the client resumes.
        connection_id: ConnectionId,
        /// Its user (a queue is only handed to the same user).
        user_id: UserId,
        /// The next `seq` the client expects.
        sequence_number: i64,
    },
    /// Indirect probe: is `target_node_id` alive from where you are?
    Probe {
        /// The suspect.
        target_node_id: NodeId,
    },
    /// A question for the extension registered under `extension` on the peer
    /// ([`Response::Extension`] answers it).
    Extension {
        /// The extension's name.
        extension: String,
        /// The question, in the extension's own format.
        payload: Vec<u8>,
    },
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// To [`Request::GetStats`].
    Stats(NodeStats),
    /// To [`Request::GetUserConnectionCount`].
    ConnectionCount(u64),
    /// To [`Request::TakeConnectionQueue`]: the queue, or None when it cannot be resumed there.
    ConnectionQueue(Option<ConnectionQueue>),
    /// To [`Request::Probe`].
    Probe {
        /// Whether the answering node heard the suspect lately.
        alive: bool,
    },
    /// The request could not be answered, and why.
    Error(String),
    /// To [`Request::Extension`]: the extension's answer, in its own format.
    Extension(Vec<u8>),
}

// ONLY APPEND: message type ids, never reused.
/// [`BusEvent::Ws`]
pub const TYPE_PUBLISH: u16 = 1;
/// [`BusEvent::Membership`]
pub const TYPE_MEMBERSHIP: u16 = 2;
/// [`ClusterMessage::ClearSession`]
pub const TYPE_CLEAR_SESSION: u16 = 3;
/// [`ClusterMessage::ClearUserSessions`]
pub const TYPE_CLEAR_USER_SESSIONS: u16 = 4;
/// [`ClusterMessage::InvalidateAllCaches`]
pub const TYPE_INVALIDATE_ALL_CACHES: u16 = 5;
/// [`ClusterMessage::ConfigChanged`]
pub const TYPE_CONFIG_CHANGED: u16 = 6;
/// [`ClusterMessage::Ping`]
pub const TYPE_PING: u16 = 7;
/// [`ClusterMessage::Pong`]
pub const TYPE_PONG: u16 = 8;
/// [`ClusterMessage::Ack`]
pub const TYPE_ACK: u16 = 9;
/// [`ClusterMessage::Request`]
pub const TYPE_REQUEST: u16 = 10;
/// [`ClusterMessage::Response`]
pub const TYPE_RESPONSE: u16 = 11;
/// [`BusEvent::Status`]
pub const TYPE_STATUS_UPDATE: u16 = 12;
/// [`BusEvent::SessionWrote`]
pub const TYPE_SESSION_WROTE: u16 = 13;
/// Reserved for extensions: [`ExtensionMessage`], routed by the extension's name.
pub const TYPE_EXTENSION: u16 = 14;

// ONLY APPEND: request kinds inside a TYPE_REQUEST body, never reused.
/// [`Request::GetStats`]
pub const REQUEST_GET_STATS: u16 = 1;
/// [`Request::GetUserConnectionCount`]
pub const REQUEST_GET_USER_CONNECTION_COUNT: u16 = 2;
/// [`Request::TakeConnectionQueue`]
pub const REQUEST_TAKE_CONNECTION_QUEUE: u16 = 3;
/// [`Request::Probe`]
pub const REQUEST_PROBE: u16 = 4;
/// [`Request::Extension`]
pub const REQUEST_EXTENSION: u16 = 5;

// ONLY APPEND: response kinds inside a TYPE_RESPONSE body, never reused.
/// [`Response::Stats`]
pub const RESPONSE_STATS: u16 = 1;
/// [`Response::ConnectionCount`]
pub const RESPONSE_CONNECTION_COUNT: u16 = 2;
/// [`Response::ConnectionQueue`]
pub const RESPONSE_CONNECTION_QUEUE: u16 = 3;
/// [`Response::Probe`]
pub const RESPONSE_PROBE: u16 = 4;
/// [`Response::Error`]
pub const RESPONSE_ERROR: u16 = 5;
/// [`Response::Extension`]
pub const RESPONSE_EXTENSION: u16 = 6;

// ONLY APPEND: membership change kinds inside a TYPE_MEMBERSHIP body, never reused.
/// [`MembershipChange::JoinedChannel`]
pub const CHANGE_JOINED_CHANNEL: u8 = 1;
/// [`MembershipChange::LeftChannel`]
pub const CHANGE_LEFT_CHANNEL: u8 = 2;
/// [`MembershipChange::JoinedTeam`]
pub const CHANGE_JOINED_TEAM: u8 = 3;
/// [`MembershipChange::LeftTeam`]
pub const CHANGE_LEFT_TEAM: u8 = 4;

/// A message between nodes.
///
/// ONLY APPEND: each variant (and each [`BusEvent`] kind) has an explicit numeric type id
/// (`TYPE_*`), never reused, never a Rust name on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterMessage {
    /// Something the sending node published on its bus: the receiver publishes it on its own.
    /// Each kind has its own type id (`TYPE_PUBLISH`, `TYPE_MEMBERSHIP`, `TYPE_STATUS_UPDATE`,
    /// `TYPE_SESSION_WROTE`, `TYPE_EXTENSION`).
    Bus(BusEvent),
    /// Drop the session with this token from the session cache.
    ClearSession {
        /// The revoked session's token.
        token: String,
    },
    /// Drop every session of this user from the session cache.
    ClearUserSessions {
        /// Whose sessions.
        user_id: UserId,
    },
    /// Drop every cache (the sender lost messages for this node, so caches may be stale).
    InvalidateAllCaches,
    /// The sender runs a new config: reload (a shared config) and show the new hash.
    ConfigChanged {
        /// The sender's config hash now.
        config_hash: String,
    },
    /// Are you there? Answered with a [`ClusterMessage::Pong`] carrying the same values.
    Ping {
        /// The sender's link generation.
        nonce: u64,
        /// When the sender sent it, in its clock (ms since the epoch).
        sent_ms: i64,
    },
    /// The answer to a [`ClusterMessage::Ping`].
    Pong {
        /// The ping's nonce.
        nonce: u64,
        /// The ping's `sent_ms`.
        sent_ms: i64,
        /// Protocol 2: the answering node's clock when it answered (ms since the epoch), from which
        /// the pinger estimates the clock skew between them. None from a protocol 1 link.
        answered_ms: Option<i64>,
    },
    /// Cumulative: every reliable envelope id <= `up_to` arrived.
    Ack {
        /// The highest reliable id applied.
        up_to: u64,
    },
    /// A question; answered by a [`ClusterMessage::Response`] with the same `req_id`.
    Request {
        /// Chosen by the asker, unique on its link.
        req_id: u64,
        /// What is asked.
        request: Request,
    },
    /// The answer to the [`ClusterMessage::Request`] with this `req_id`.
    Response {
        /// The request's id.
        req_id: u64,
        /// The answer.
        response: Response,
    },
}

impl From<BusEvent> for ClusterMessage {
    fn from(e: BusEvent) -> Self {
        ClusterMessage::Bus(e)
    }
}

impl ClusterMessage {
    /// The explicit wire id of this message's type.
    pub fn type_id(&self) -> u16 {
        match self {
            ClusterMessage::Bus(BusEvent::Ws(_)) => TYPE_PUBLISH,
            ClusterMessage::Bus(BusEvent::Membership { .. }) => TYPE_MEMBERSHIP,
            ClusterMessage::Bus(BusEvent::Status(_)) => TYPE_STATUS_UPDATE,
            ClusterMessage::Bus(BusEvent::SessionWrote { .. }) => TYPE_SESSION_WROTE,
            ClusterMessage::Bus(BusEvent::Extension(_)) => TYPE_EXTENSION,
            ClusterMessage::ClearSession { .. } => TYPE_CLEAR_SESSION,
            ClusterMessage::ClearUserSessions { .. } => TYPE_CLEAR_USER_SESSIONS,
            ClusterMessage::InvalidateAllCaches => TYPE_INVALIDATE_ALL_CACHES,
            ClusterMessage::ConfigChanged { .. } => TYPE_CONFIG_CHANGED,
            ClusterMessage::Ping { .. } => TYPE_PING,
            ClusterMessage::Pong { .. } => TYPE_PONG,
            ClusterMessage::Ack { .. } => TYPE_ACK,
            ClusterMessage::Request { .. } => TYPE_REQUEST,
            ClusterMessage::Response { .. } => TYPE_RESPONSE,
        }
    }

    /// A constant label for logs and `cluster_event_type_totals{name}` (Mattermost's names where
    /// it has one).
    pub fn name(&self) -> &'static str {
        match self {
            ClusterMessage::Bus(e) => e.name(),
            ClusterMessage::ClearSession { .. } => "clear_session",
            ClusterMessage::ClearUserSessions { .. } => "clear_user_sessions",
            ClusterMessage::InvalidateAllCaches => "inv_all_caches",
            ClusterMessage::ConfigChanged { .. } => "config_changed",
            ClusterMessage::Ping { .. } => "ping",
            ClusterMessage::Pong { .. } => "pong",
            ClusterMessage::Ack { .. } => "ack",
            ClusterMessage::Request { .. } => "request",
            ClusterMessage::Response { .. } => "response",
        }
    }

    /// Whether the sender numbers it, keeps it until acknowledged and resends it; otherwise it is
    /// sent once with id 0.
    pub fn is_reliable(&self) -> bool {
        match self {
            ClusterMessage::Bus(e) => e.is_reliable(),
            ClusterMessage::ClearSession { .. }
            | ClusterMessage::ClearUserSessions { .. }
            | ClusterMessage::InvalidateAllCaches
            | ClusterMessage::ConfigChanged { .. }
            | ClusterMessage::Request { .. }
            | ClusterMessage::Response { .. } => true,
            ClusterMessage::Ping { .. } | ClusterMessage::Pong { .. } | ClusterMessage::Ack { .. } => false,
        }
    }
}

/// A message with its reliable-delivery id (0 for best-effort messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Reliable messages: the sender's increasing id for acks and dedupe. Best-effort: 0.
    pub id: u64,
    /// What it carries.
    pub message: ClusterMessage,
}

/// One decoded entry of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A message this build knows.
    Message(Envelope),
    /// A type (or a request, response or membership kind) this build does not know, skipped by its
    /// length: the caller logs and drops it (and still acknowledges a reliable id).
    Unknown {
        /// The envelope's id.
        id: u64,
        /// Its type id.
        type_id: u16,
    },
}

// ---- bodies: private structs, so Rust names and enum order never reach the wire ----

#[derive(Serialize, Deserialize)]
struct PublishBody<'a> {
    event: Cow<'a, WsEvent>,
}

#[derive(Serialize, Deserialize)]
struct MembershipBody<'a> {
    user_id: Cow<'a, str>,
    /// `CHANGE_*`
    kind: u8,
    /// The channel or team.
    target_id: Cow<'a, str>,
}

#[derive(Serialize, Deserialize)]
struct ClearSessionBody<'a> {
    token: Cow<'a, str>,
}

#[derive(Serialize, Deserialize)]
struct ClearUserSessionsBody<'a> {
    user_id: Cow<'a, str>,
}

#[derive(Serialize, Deserialize)]
struct InvalidateAllCachesBody {}

#[derive(Serialize, Deserialize)]
struct ConfigChangedBody<'a> {
    config_hash: Cow<'a, str>,
}

/// Ping and Pong alike.
#[derive(Serialize, Deserialize)]
struct PingBody {
    nonce: u64,
    sent_ms: i64,
}

/// What protocol 2 appends to a Pong's [`PingBody`].
#[derive(Serialize, Deserialize)]
struct PongTail {
    answered_ms: i64,
}

#[derive(Serialize, Deserialize)]
struct AckBody {
    up_to: u64,
}

#[derive(Serialize, Deserialize)]
struct SessionWroteBody {
    session: u64,
}

/// The start of a Request or Response body; the kind's own struct follows.
#[derive(Serialize, Deserialize)]
struct CallHead {
    req_id: u64,
    /// `REQUEST_*` or `RESPONSE_*`
    kind: u16,
}

#[derive(Serialize, Deserialize)]
struct GetStatsBody {}

#[derive(Serialize, Deserialize)]
struct GetUserConnectionCountBody<'a> {
    user_id: Cow<'a, str>,
}

#[derive(Serialize, Deserialize)]
struct TakeConnectionQueueBody<'a> {
    connection_id: Cow<'a, str>,
    user_id: Cow<'a, str>,
    sequence_number: i64,
}

#[derive(Serialize, Deserialize)]
struct ProbeBody<'a> {
    target_node_id: Cow<'a, str>,
}

#[derive(Serialize, Deserialize)]
struct ExtensionRequestBody<'a> {
    extension: Cow<'a, str>,
    payload: Cow<'a, [u8]>,
}

#[derive(Serialize, Deserialize)]
struct ExtensionResponseBody<'a> {
    payload: Cow<'a, [u8]>,
}

#[derive(Serialize, Deserialize)]
struct StatsBody<'a> {
    stats: Cow<'a, NodeStats>,
}

#[derive(Serialize, Deserialize)]
struct ConnectionCountBody {
    count: u64,
}

#[derive(Serialize, Deserialize)]
struct ConnectionQueueBody<'a> {
    queue: Option<Cow<'a, ConnectionQueue>>,
}

#[derive(Serialize, Deserialize)]
struct ProbeResultBody {
    alive: bool,
}

#[derive(Serialize, Deserialize)]
struct ErrorBody<'a> {
    message: Cow<'a, str>,
}

#[derive(Serialize, Deserialize)]
struct ExtensionBody<'a> {
    extension: Cow<'a, str>,
    version: u16,
    payload: Cow<'a, [u8]>,
}

#[derive(Serialize, Deserialize)]
struct StatusUpdateBody<'a> {
    user_id: Cow<'a, str>,
    status: Cow<'a, str>,
    manual: bool,
    last_activity_at: i64,
}

/// A postcard flavor that appends to a borrowed Vec.
struct AppendTo<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for AppendTo<'_> {
    type Output = ();

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

fn put<T: Serialize>(out: &mut Vec<u8>, value: &T) {
    // Appending to a Vec never runs out of room, and these bodies hold only strings, integers,
    // bools, options and sequences of known length, so postcard cannot fail here.
    #[allow(clippy::expect_used)] // provably safe: see above
    postcard::serialize_with_flavor(value, AppendTo(out)).expect("message bodies always serialize");
}

fn b(s: &str) -> Cow<'_, str> {
    Cow::Borrowed(s)
}

fn encode_body(message: &ClusterMessage, out: &mut Vec<u8>) {
    match message {
        ClusterMessage::Bus(BusEvent::Ws(event)) => put(out, &PublishBody { event: Cow::Borrowed(event) }),
        ClusterMessage::Bus(BusEvent::Membership { user_id, change }) => {
            let (kind, target_id) = match change {
                MembershipChange::JoinedChannel(id) => (CHANGE_JOINED_CHANNEL, id.as_str()),
                MembershipChange::LeftChannel(id) => (CHANGE_LEFT_CHANNEL, id.as_str()),
                MembershipChange::JoinedTeam(id) => (CHANGE_JOINED_TEAM, id.as_str()),
                MembershipChange::LeftTeam(id) => (CHANGE_LEFT_TEAM, id.as_str()),
            };
            put(out, &MembershipBody { user_id: b(user_id.as_str()), kind, target_id: b(target_id) })
        }
        ClusterMessage::Bus(BusEvent::Status(UserStatus { user_id, status, manual, last_activity_at })) => put(
            out,
            &StatusUpdateBody {
                user_id: b(user_id.as_str()),
                status: b(status),
                manual: *manual,
                last_activity_at: *last_activity_at,
            },
        ),
        ClusterMessage::Bus(BusEvent::SessionWrote { session }) => put(out, &SessionWroteBody { session: *session }),
        ClusterMessage::Bus(BusEvent::Extension(ExtensionMessage { extension, version, payload })) => put(
            out,
            &ExtensionBody { extension: b(extension), version: *version, payload: Cow::Borrowed(payload.as_slice()) },
        ),
        ClusterMessage::ClearSession { token } => put(out, &ClearSessionBody { token: b(token) }),
        ClusterMessage::ClearUserSessions { user_id } => {
            put(out, &ClearUserSessionsBody { user_id: b(user_id.as_str()) })
        }
        ClusterMessage::InvalidateAllCaches => put(out, &InvalidateAllCachesBody {}),
        ClusterMessage::ConfigChanged { config_hash } => put(out, &ConfigChangedBody { config_hash: b(config_hash) }),
        ClusterMessage::Ping { nonce, sent_ms } => put(out, &PingBody { nonce: *nonce, sent_ms: *sent_ms }),
        ClusterMessage::Pong { nonce, sent_ms, answered_ms } => {
            put(out, &PingBody { nonce: *nonce, sent_ms: *sent_ms });
            // Appended in protocol 2; a protocol 1 pong ends after the ping's fields.
            if let Some(answered_ms) = answered_ms {
                put(out, &PongTail { answered_ms: *answered_ms });
            }
        }
        ClusterMessage::Ack { up_to } => put(out, &AckBody { up_to: *up_to }),
        ClusterMessage::Request { req_id, request } => {
            let req_id = *req_id;
            match request {
                Request::GetStats => {
                    put(out, &CallHead { req_id, kind: REQUEST_GET_STATS });
                    put(out, &GetStatsBody {});
                }
                Request::GetUserConnectionCount { user_id } => {
                    put(out, &CallHead { req_id, kind: REQUEST_GET_USER_CONNECTION_COUNT });
                    put(out, &GetUserConnectionCountBody { user_id: b(user_id.as_str()) });
                }
                Request::TakeConnectionQueue { connection_id, user_id, sequence_number } => {
                    put(out, &CallHead { req_id, kind: REQUEST_TAKE_CONNECTION_QUEUE });
                    put(
                        out,
                        &TakeConnectionQueueBody {
                            connection_id: b(connection_id.as_str()),
                            user_id: b(user_id.as_str()),
                            sequence_number: *sequence_number,
                        },
                    );
                }
                Request::Probe { target_node_id } => {
                    put(out, &CallHead { req_id, kind: REQUEST_PROBE });
                    put(out, &ProbeBody { target_node_id: b(target_node_id.as_str()) });
                }
                Request::Extension { extension, payload } => {
                    put(out, &CallHead { req_id, kind: REQUEST_EXTENSION });
                    put(out, &ExtensionRequestBody { extension: b(extension), payload: Cow::Borrowed(payload) });
                }
            }
        }
        ClusterMessage::Response { req_id, response } => {
            let req_id = *req_id;
            match response {
                Response::Stats(stats) => {
                    put(out, &CallHead { req_id, kind: RESPONSE_STATS });
                    put(out, &StatsBody { stats: Cow::Borrowed(stats) });
                }
                Response::ConnectionCount(count) => {
                    put(out, &CallHead { req_id, kind: RESPONSE_CONNECTION_COUNT });
                    put(out, &ConnectionCountBody { count: *count });
                }
                Response::ConnectionQueue(queue) => {
                    put(out, &CallHead { req_id, kind: RESPONSE_CONNECTION_QUEUE });
                    put(out, &ConnectionQueueBody { queue: queue.as_ref().map(Cow::Borrowed) });
                }
                Response::Probe { alive } => {
                    put(out, &CallHead { req_id, kind: RESPONSE_PROBE });
                    put(out, &ProbeResultBody { alive: *alive });
                }
                Response::Error(message) => {
                    put(out, &CallHead { req_id, kind: RESPONSE_ERROR });
                    put(out, &ErrorBody { message: b(message) });
                }
                Response::Extension(payload) => {
                    put(out, &CallHead { req_id, kind: RESPONSE_EXTENSION });
                    put(out, &ExtensionResponseBody { payload: Cow::Borrowed(payload) });
                }
            }
        }
    }
}

/// Reads a `T` from the start of `body`, ignoring any bytes after it (fields a newer peer appended).
fn take<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<(T, &'a [u8]), ProtocolError> {
    postcard::take_from_bytes(body).map_err(|e| ProtocolError::Decode(format!("message body: {e}")))
}

fn get<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ProtocolError> {
    take(body).map(|(v, _)| v)
}

/// The message of type `type_id`; `Ok(None)` for a type or sub-kind this build does not know.
fn decode_body(type_id: u16, body: &[u8]) -> Result<Option<ClusterMessage>, ProtocolError> {
    let message = match type_id {
        TYPE_PUBLISH => {
            let PublishBody { event } = get(body)?;
            ClusterMessage::Bus(BusEvent::Ws(event.into_owned()))
        }
        TYPE_MEMBERSHIP => {
            let MembershipBody { user_id, kind, target_id } = get(body)?;
            let target_id = target_id.into_owned();
            let change = match kind {
                CHANGE_JOINED_CHANNEL => MembershipChange::JoinedChannel(ChannelId(target_id)),
                CHANGE_LEFT_CHANNEL => MembershipChange::LeftChannel(ChannelId(target_id)),
                CHANGE_JOINED_TEAM => MembershipChange::JoinedTeam(TeamId(target_id)),
                CHANGE_LEFT_TEAM => MembershipChange::LeftTeam(TeamId(target_id)),
                _ => return Ok(None),
            };
            ClusterMessage::Bus(BusEvent::Membership { user_id: UserId(user_id.into_owned()), change })
        }
        TYPE_CLEAR_SESSION => {
            let ClearSessionBody { token } = get(body)?;
            ClusterMessage::ClearSession { token: token.into_owned() }
        }
        TYPE_CLEAR_USER_SESSIONS => {
            let ClearUserSessionsBody { user_id } = get(body)?;
            ClusterMessage::ClearUserSessions { user_id: UserId(user_id.into_owned()) }
        }
        TYPE_INVALIDATE_ALL_CACHES => {
            let InvalidateAllCachesBody {} = get(body)?;
            ClusterMessage::InvalidateAllCaches
        }
        TYPE_CONFIG_CHANGED => {
            let ConfigChangedBody { config_hash } = get(body)?;
            ClusterMessage::ConfigChanged { config_hash: config_hash.into_owned() }
        }
        TYPE_PING => {
            let PingBody { nonce, sent_ms } = get(body)?;
            ClusterMessage::Ping { nonce, sent_ms }
        }
        TYPE_PONG => {
            let (PingBody { nonce, sent_ms }, rest) = take(body)?;
            let answered_ms = if rest.is_empty() { None } else { Some(get::<PongTail>(rest)?.answered_ms) };
            ClusterMessage::Pong { nonce, sent_ms, answered_ms }
        }
        TYPE_ACK => {
            let AckBody { up_to } = get(body)?;
            ClusterMessage::Ack { up_to }
        }
        TYPE_REQUEST => {
            let (CallHead { req_id, kind }, rest) = take(body)?;
            let request = match kind {
                REQUEST_GET_STATS => {
                    let GetStatsBody {} = get(rest)?;
                    Request::GetStats
                }
                REQUEST_GET_USER_CONNECTION_COUNT => {
                    let GetUserConnectionCountBody { user_id } = get(rest)?;
                    Request::GetUserConnectionCount { user_id: UserId(user_id.into_owned()) }
                }
                REQUEST_TAKE_CONNECTION_QUEUE => {
                    let TakeConnectionQueueBody { connection_id, user_id, sequence_number } = get(rest)?;
                    Request::TakeConnectionQueue {
                        connection_id: ConnectionId(connection_id.into_owned()),
                        user_id: UserId(user_id.into_owned()),
                        sequence_number,
                    }
                }
                REQUEST_PROBE => {
                    let ProbeBody { target_node_id } = get(rest)?;
                    Request::Probe { target_node_id: NodeId(target_node_id.into_owned()) }
                }
                REQUEST_EXTENSION => {
                    let ExtensionRequestBody { extension, payload } = get(rest)?;
                    Request::Extension { extension: extension.into_owned(), payload: payload.into_owned() }
                }
                _ => return Ok(None),
            };
            ClusterMessage::Request { req_id, request }
        }
        TYPE_RESPONSE => {
            let (CallHead { req_id, kind }, rest) = take(body)?;
            let response = match kind {
                RESPONSE_STATS => {
                    let StatsBody { stats } = get(rest)?;
                    Response::Stats(stats.into_owned())
                }
                RESPONSE_CONNECTION_COUNT => {
                    let ConnectionCountBody { count } = get(rest)?;
                    Response::ConnectionCount(count)
                }
                RESPONSE_CONNECTION_QUEUE => {
                    let ConnectionQueueBody { queue } = get(rest)?;
                    Response::ConnectionQueue(queue.map(Cow::into_owned))
                }
                RESPONSE_PROBE => {
                    let ProbeResultBody { alive } = get(rest)?;
                    Response::Probe { alive }
                }
                RESPONSE_ERROR => {
                    let ErrorBody { message } = get(rest)?;
                    Response::Error(message.into_owned())
                }
                RESPONSE_EXTENSION => {
                    let ExtensionResponseBody { payload } = get(rest)?;
                    Response::Extension(payload.into_owned())
                }
                _ => return Ok(None),
            };
            ClusterMessage::Response { req_id, response }
        }
        TYPE_STATUS_UPDATE => {
            let StatusUpdateBody { user_id, status, manual, last_activity_at } = get(body)?;
            ClusterMessage::Bus(BusEvent::Status(UserStatus {
                user_id: UserId(user_id.into_owned()),
                status: status.into_owned(),
                manual,
                last_activity_at,
            }))
        }
        TYPE_SESSION_WROTE => {
            let SessionWroteBody { session } = get(body)?;
            ClusterMessage::Bus(BusEvent::SessionWrote { session })
        }
        TYPE_EXTENSION => {
            let ExtensionBody { extension, version, payload } = get(body)?;
            ClusterMessage::Bus(BusEvent::Extension(ExtensionMessage {
                extension: extension.into_owned(),
                version,
                payload: payload.into_owned(),
            }))
        }
        _ => return Ok(None),
    };
    Ok(Some(message))
}

// ---- varints ----

/// Bytes of `v` as an unsigned LEB128 varint.
fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Writes `v` as a varint into exactly `varint_len(v)` bytes at the start of `out`.
fn write_varint(out: &mut [u8], mut v: u64) {
    let mut i = 0;
    while v >= 0x80 {
        out[i] = (v as u8) | 0x80;
        v >>= 7;
        i += 1;
    }
    out[i] = v as u8;
}

/// A reader over a batch that never reads past its end.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.buf.len()
    }

    fn varint(&mut self, what: &str) -> Result<u64, ProtocolError> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let Some((&byte, rest)) = self.buf.split_first() else {
                return Err(ProtocolError::Decode(format!("batch ends inside the {what}")));
            };
            self.buf = rest;
            let bits = u64::from(byte & 0x7f);
            // The tenth byte may only hold the top bit of a u64.
            if i == 9 && byte > 1 {
                return Err(ProtocolError::Decode(format!("{what} overflows u64")));
            }
            value |= bits << (7 * i);
            if byte & 0x80 == 0 {
                if byte == 0 && i > 0 {
                    return Err(ProtocolError::Decode(format!("{what} is not minimal")));
                }
                return Ok(value);
            }
        }
        Err(ProtocolError::Decode(format!("{what} overflows u64")))
    }

    fn bytes(&mut self, n: usize, what: &str) -> Result<&'a [u8], ProtocolError> {
        if n > self.buf.len() {
            return Err(ProtocolError::Decode(format!("{what} of {n} bytes but {} remain", self.buf.len())));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }
}

/// About the bytes one envelope takes on the wire (a little over, to spare reallocations).
fn size_hint(message: &ClusterMessage) -> usize {
    let strings = match message {
        ClusterMessage::Bus(BusEvent::Ws(event)) => event_size(event),
        ClusterMessage::Bus(BusEvent::Extension(x)) => x.extension.len() + x.payload.len() + 8,
        ClusterMessage::Response { response: Response::ConnectionQueue(Some(q)), .. } => {
            q.user_id.as_str().len() + q.events.iter().map(|e| 10 + event_size(&e.event)).sum::<usize>()
        }
        ClusterMessage::Bus(BusEvent::Membership { user_id, .. })
        | ClusterMessage::ClearUserSessions { user_id }
        | ClusterMessage::Bus(BusEvent::Status(UserStatus { user_id, .. })) => user_id.as_str().len() + 16,
        ClusterMessage::ClearSession { token } => token.len(),
        _ => 40,
    };
    32 + strings
}

fn event_size(e: &WsEvent) -> usize {
    let b = &e.broadcast;
    e.event.len()
        + e.data.len()
        + b.omit_users.iter().map(|u| u.len() + 2).sum::<usize>()
        + b.user_id.len()
        + b.channel_id.len()
        + b.team_id.len()
        + b.connection_id.len()
        + b.omit_connection_id.len()
        + 24
}

/// The least bytes one envelope takes: id (1) + type (2) + body length (1).
const MIN_ENVELOPE: usize = 4;
/// Room left for a body's length before the body is written; 2 bytes cover bodies under 16 KiB.
const LEN_GUESS: usize = 2;

/// The payload for a batch of envelopes: varint count, then per envelope varint id, u16 BE type id,
/// varint body length and the postcard body.
pub fn encode_batch(envelopes: &[Envelope]) -> Vec<u8> {
    let mut out = Vec::with_capacity(10 + envelopes.iter().map(|e| size_hint(&e.message)).sum::<usize>());
    put_varint(&mut out, envelopes.len() as u64);
    for envelope in envelopes {
        put_varint(&mut out, envelope.id);
        out.extend_from_slice(&envelope.message.type_id().to_be_bytes());
        // Write the body after a guessed room for its length, then fix the room to the real size:
        // no copy for the common sizes.
        let len_at = out.len();
        out.resize(len_at + LEN_GUESS, 0);
        encode_body(&envelope.message, &mut out);
        let body_len = out.len() - len_at - LEN_GUESS;
        let need = varint_len(body_len as u64);
        if need > LEN_GUESS {
            let grow = need - LEN_GUESS;
            out.resize(out.len() + grow, 0);
            out.copy_within(len_at + LEN_GUESS..len_at + LEN_GUESS + body_len, len_at + need);
        } else if need < LEN_GUESS {
            out.copy_within(len_at + LEN_GUESS.., len_at + need);
            out.truncate(len_at + need + body_len);
        }
        write_varint(&mut out[len_at..], body_len as u64);
    }
    out
}

/// The envelopes of a batch, in order. Unknown types are skipped by their length and reported as
/// [`Decoded::Unknown`]; a malformed batch or body is a `Decode` error. Never panics, and allocates
/// nothing a short payload could make large: the count is bounded by the payload length first.
pub fn decode_batch(payload: &[u8]) -> Result<Vec<Decoded>, ProtocolError> {
    let mut r = Reader { buf: payload };
    let count = r.varint("envelope count")?;
    if count > (r.remaining() / MIN_ENVELOPE) as u64 {
        return Err(ProtocolError::Decode(format!("{count} envelopes cannot fit in {} bytes", payload.len())));
    }
    let mut out = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let id = r.varint("envelope id")?;
        let t = r.bytes(2, "type id")?;
        let type_id = u16::from_be_bytes([t[0], t[1]]);
        let len = r.varint("body length")?;
        let len = usize::try_from(len).map_err(|_| ProtocolError::Decode("body length overflows usize".into()))?;
        let body = r.bytes(len, "body")?;
        out.push(match decode_body(type_id, body)? {
            Some(message) => Decoded::Message(Envelope { id, message }),
            None => Decoded::Unknown { id, type_id },
        });
    }
    if r.remaining() != 0 {
        return Err(ProtocolError::Decode(format!("{} bytes after the last envelope", r.remaining())));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
