//! Extension actors: Rust code compiled into a node that changes what it does, added through the
//! [`NodeBuilder`](crate::server::NodeBuilder) with `.extension(...)`.
//!
//! An extension is one or more actors. When its node starts it is given the node's parts
//! ([`NodeParts`]: store, event bus, leader election, supervisor, logger) and answers with a
//! [`Registration`]:
//! - before-hooks (`MessageWillBePosted`, `MessageWillBeUpdated`) that may change or refuse a post,
//!   run in registration order with a deadline (see [`crate::hooks`]);
//! - slash commands it answers (see [`crate::commands`]);
//! - HTTP routes, served under `/plugins/{id}/`;
//! - a recipient told to stop when the node stops.
//!
//! After-hooks are bus subscriptions: subscribe through `NodeParts::subscribe` with a
//! [`Filter`], for example [`local_posts`] (`MessageHasBeenPosted` on the node that handled the
//! post, once in the cluster). Leader-only work subscribes to the election through
//! `NodeParts::leader` and runs while `LeaderChanged::is_leader` says so; it moves when the leader
//! does. The crate `examples/` has two: a word filter and a channel digest on the leader.

use crate::commands::{CommandSpec, ExecuteCommand};
use crate::hooks::{MessageWillBePosted, MessageWillBeUpdated};
use crate::server::{NodeParts, RouteGroup};
use actix::prelude::*;
use starling_actors::{BusEvent, Filter, Origin, Published};

/// Ask an extension to stop (its node is stopping).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct StopExtension;

/// What an extension registers with its node.
#[derive(Default)]
pub struct Registration {
    pub message_will_be_posted: Option<Recipient<MessageWillBePosted>>,
    pub message_will_be_updated: Option<Recipient<MessageWillBeUpdated>>,
    pub commands: Vec<(CommandSpec, Recipient<ExecuteCommand>)>,
    /// Served under `/plugins/{id}/`.
    pub routes: Option<RouteGroup>,
    pub stop: Option<Recipient<StopExtension>>,
}

/// An extension compiled into the node.
pub trait Extension: 'static {
    /// Its id: letters, digits, `-`, `_`, `.` (routes go under `/plugins/{id}/`; hooks, commands
    /// and metrics are named by it).
    fn id(&self) -> &'static str;
    /// Start its actors (under `node.supervisor`) and say what it registers.
    fn start(self: Box<Self>, node: &NodeParts) -> Registration;
}

/// Whether `id` can name an extension or plugin (Mattermost's manifest id rule).
pub fn valid_id(id: &str) -> bool {
    (3..=190).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// Posts created on this node (each post once in the cluster): `MessageHasBeenPosted`.
pub fn local_posts() -> Filter {
    Filter::new(|e, o| *o == Origin::Local && matches!(e, BusEvent::Ws(w) if w.event == "posted"))
}

/// The post a `posted` event carries (its id, author, channel, message, props, files).
pub fn posted_post(msg: &Published) -> Option<crate::hooks::DraftPost> {
    let BusEvent::Ws(w) = &*msg.event else { return None };
    if w.event != "posted" {
        return None;
    }
    let data: serde_json::Value = serde_json::from_str(&w.data).ok()?;
    serde_json::from_str(data.get("post")?.as_str()?).ok()
}
