//! The actors a Starling node is assembled from.
//!
//! Supervision tree (kept true as actors are added):
//!
//! ```text
//! node (src/server.rs)
//! └── SessionCache        token -> session, TTL ServiceSettings.SessionCacheInMinutes;
//!                         invalidated by logout / revoke; reads through a SessionStore
//! ```
//!
//! When an actor needs the database it declares the small trait it needs here (for example
//! [`session_cache::SessionStore`]) and the node's store implements it, so dependencies run one way:
//! `protocol` <- `actors` <- the node.

pub mod session_cache;

pub use session_cache::{
    ClearSessions, GetSession, InvalidateSession, InvalidateUserSessions, Session, SessionCache,
    SessionCacheError, SessionStore,
};
