//! Starling's wire vocabulary: what nodes and clients exchange, without actix and without an I/O
//! runtime, so every piece can be tested byte for byte.
//!
//! - [`bus`]: what a node publishes on its event bus, the same value on the wire.
//! - [`event`]: websocket events and their JSON rendering.
//! - [`id`]: Mattermost-style 26-character ids and the newtypes built on them.
//! - [`frame`]: the fixed 12-byte frame header (magic, version, kind, flags, length).
//! - [`handshake`]: Hello / Welcome / Refuse sealed with the cluster key, version negotiation,
//!   per-connection session keys.
//! - [`envelope`]: Data frames: authenticated always, encrypted and LZ4-compressed on demand,
//!   replay-proof counters.
//! - [`message`]: cluster messages with explicit append-only type ids, batched into a payload.
//! - [`error`]: why bytes from a peer were refused.
//!
//! A connection: the dialer sends [`seal_hello`], the acceptor answers [`seal_welcome`] (after
//! [`negotiate`]) or [`seal_refuse`]; both call [`session_keys`] with the two `random`s and build a
//! [`Sealer`] for what they send and an [`Opener`] for what they receive. Every Data frame then
//! carries [`encode_batch`] of a batch of [`Envelope`]s. Reading: [`parse_header`] until it has a
//! whole frame, then [`open_handshake`] or [`Opener::open`], then [`decode_batch`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod bus;
pub mod envelope;
pub mod error;
pub mod event;
pub mod frame;
pub mod handshake;
pub mod id;
pub mod message;

pub use bus::{BusEvent, ExtensionMessage, MembershipChange, UserStatus};
pub use envelope::{Opener, Sealer, SessionKey, MAX_PAYLOAD};
pub use error::ProtocolError;
pub use event::{Broadcast, WsEvent};
pub use frame::{
    parse_header, FrameHeader, FrameKind, FLAG_COMPRESSED, FLAG_ENCRYPTED, HEADER_LEN, MAGIC, MAX_BODY,
    MAX_PROTOCOL_VERSION, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION,
};
pub use handshake::{
    negotiate, open_handshake, seal_hello, seal_refuse, seal_welcome, session_keys, HandshakeFrame, Hello, Welcome,
};
pub use id::{new_id, ChannelId, ConnectionId, FileId, NodeId, PostId, SessionId, TeamId, UserId};
pub use message::{
    decode_batch, encode_batch, ClusterMessage, ConnectionQueue, Decoded, Envelope, NodeStats, QueuedEvent, Request,
    Response,
};

/// Milliseconds since the Unix epoch, as Mattermost stores every time (0 if the clock is before it).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
