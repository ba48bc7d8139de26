//! Starling's wire vocabulary: what nodes and clients exchange, without actix and without an I/O
//! runtime, so every piece can be tested byte for byte.
//!
//! - [`id`]: Mattermost-style 26-character ids and the newtypes built on them.

pub mod id;

pub use id::{new_id, ChannelId, ConnectionId, FileId, NodeId, PostId, SessionId, TeamId, UserId};
