//! What a node publishes on its event bus: one vocabulary from the API to the wire to another
//! node's websockets. A [`BusEvent`] made by an API handler is the same value that a peer's bus
//! receives; nothing translates it on the way.
//!
//! Adding a fact that must reach every node:
//! - a websocket event: nothing here; it is a [`BusEvent::Ws`] (the node's `events` module makes it);
//! - a new kind of fact: a variant here, its `TYPE_*` id, body and two match arms in `message.rs`
//!   (the compiler lists them), and what a node does with it in the bus.
//!
//! Extensions (actors added to a node later) exchange their own messages as
//! [`BusEvent::Extension`]: a name, a version of their own and opaque bytes.

use crate::event::WsEvent;
use crate::id::{ChannelId, TeamId, UserId};
use serde::{Deserialize, Serialize};

/// A user joined or left a channel or team: it changes which events reach them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MembershipChange {
    /// Became a member of the channel.
    JoinedChannel(ChannelId),
    /// Left (or was removed from) the channel.
    LeftChannel(ChannelId),
    /// Became a member of the team.
    JoinedTeam(TeamId),
    /// Left (or was removed from) the team.
    LeftTeam(TeamId),
}

/// A user's status (online, away, dnd, offline) as the node that decided it saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserStatus {
    /// Whose status.
    pub user_id: UserId,
    /// `online`, `away`, `dnd` or `offline`.
    pub status: String,
    /// Set by the user (kept until they change it), not by activity.
    pub manual: bool,
    /// Last activity (ms since the epoch).
    pub last_activity_at: i64,
}

/// A message of an extension: its receiver is the extension registered under `extension` on each
/// node; a node without it drops the message and counts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtensionMessage {
    /// The extension's name (its id).
    pub extension: String,
    /// The extension's own version of `payload`'s format.
    pub version: u16,
    /// Whatever the extension sends (its own format).
    pub payload: Vec<u8>,
}

/// A fact a node publishes: for its own connections, its subscribers and every peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusEvent {
    /// A websocket event for the connections its broadcast names.
    Ws(WsEvent),
    /// A membership change, ordered with the events around it.
    Membership {
        /// Whose membership.
        user_id: UserId,
        /// What changed.
        change: MembershipChange,
    },
    /// A status change; every node shows it as a `status_change` event to the user.
    Status(UserStatus),
    /// A session wrote through the publishing node: for a short window its reads on any node go to
    /// the master (read your writes). `session` is a one-way digest of the token, not the token.
    SessionWrote {
        /// The digest of the session's token.
        session: u64,
    },
    /// An extension's message.
    Extension(ExtensionMessage),
}

impl BusEvent {
    /// A constant label for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            BusEvent::Ws(_) => "publish",
            BusEvent::Membership { .. } => "membership",
            BusEvent::Status(_) => "update_status",
            BusEvent::SessionWrote { .. } => "session_wrote",
            BusEvent::Extension(_) => "extension",
        }
    }

    /// Whether a peer must get it even after a broken link (it is kept until acknowledged), or it
    /// may be lost with the link (a newer one soon replaces it, or losing it costs little).
    pub fn is_reliable(&self) -> bool {
        match self {
            BusEvent::Ws(_) | BusEvent::Membership { .. } | BusEvent::Status(_) | BusEvent::Extension(_) => true,
            BusEvent::SessionWrote { .. } => false,
        }
    }
}
