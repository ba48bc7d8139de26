//! Starling's wire vocabulary: what nodes and clients exchange, without actix and without an I/O
//! runtime, so every piece can be tested byte for byte.
//!
//! - [`event`]: websocket events and their JSON rendering.
//! - [`id`]: Mattermost-style 26-character ids and the newtypes built on them.

pub mod event;
pub mod id;

pub use event::{Broadcast, WsEvent};
pub use id::{new_id, ChannelId, ConnectionId, FileId, NodeId, PostId, SessionId, TeamId, UserId};
