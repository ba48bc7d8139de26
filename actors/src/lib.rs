//! The actors a Starling node is assembled from.
//!
//! Supervision tree (kept true as actors are added):
//!
//! ```text
//! node (src/server.rs)
//! ├── SessionCache        token -> session, TTL ServiceSettings.SessionCacheInMinutes;
//! │                       invalidated by logout / revoke; reads through a SessionStore
//! ├── EventBus            every websocket event of the node: renders it once, hands it to the
//! │                       hubs, tells subscribers (extra actors) through Subscribe
//! ├── Hub × N             (one arbiter each) connections grouped by user: seq, membership filter,
//! │                       dead queue for resume, bounded send queues; reads a MembershipStore
//! ├── Presence            online / away / offline from websocket activity; a StatusStore
//! ├── WsConnection × M    one per websocket, fed by actix-ws's stream; writes through its outbox
//! └── (with ClusterSettings.Enable)
//!     ├── Cluster           coordinator: peers, broadcasts, requests, the membership view
//!     │   └── ClusterPeer × P   one link per remote node: reliable queue, acks, pings, retries
//!     ├── Discovery         the ClusterDiscovery row and the list of peers; a DiscoveryStore
//!     └── gossip listener   (task) accepts peers' links and applies what they send
//! ```
//!
//! When an actor needs the database it declares the small trait it needs here (for example
//! [`session_cache::SessionStore`], [`hub::MembershipStore`], [`presence::StatusStore`]) and the
//! node's store implements it, so dependencies run one way: `protocol` <- `actors` <- the node.

pub mod cluster;
pub mod event_bus;
pub mod hub;
pub mod presence;
pub mod session_cache;
pub mod ws_connection;

pub use event_bus::{CloseWebsockets, EventBus, EventPublished, HubSet, PublishEvent, PublishMembership, Subscribe};
pub use hub::{Hub, MembershipChange, MembershipStore, Memberships, SessionTarget};
pub use presence::{Presence, Status, StatusStore};
pub use session_cache::{
    ClearSessions, GetSession, InvalidateSession, InvalidateUserSessions, Session, SessionCache, SessionCacheError,
    SessionStore,
};
pub use ws_connection::{WsConnection, WsContext};
