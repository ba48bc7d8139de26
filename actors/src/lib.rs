//! The actors a Starling node is assembled from.
//!
//! Supervision tree (kept true as actors are added):
//!
//! ```text
//! node (src/server.rs)
//! ├── DbSupervisor        every ReplicaMonitorIntervalSeconds: re-checks the read and search
//! │                       replicas (a failed one leaves rotation until it answers) and measures
//! │                       ReplicaLagSettings, through a ReplicaMonitor
//! ├── SessionCache        token -> session, TTL ServiceSettings.SessionCacheInMinutes;
//! │                       invalidated by logout / revoke; reads through a SessionStore
//! ├── EventBus            every websocket event of the node: renders it once, hands it to the
//! │                       hubs, tells subscribers (extra actors) through Subscribe
//! ├── Hub × N             (one arbiter each) connections grouped by user: seq, membership filter,
//! │                       dead queue for resume, bounded send queues; reads a MembershipStore
//! ├── Presence            online / away / offline from websocket activity; a StatusStore
//! ├── WsConnection × M    one per websocket, fed by actix-ws's stream; writes through its outbox
//! ├── (with ClusterSettings.Enable)
//! │   ├── Cluster           coordinator: peers, broadcasts, requests, the membership view
//! │   │   └── ClusterPeer × P   one link per remote node: reliable queue, acks, pings, retries
//! │   ├── Discovery         the ClusterDiscovery row and the list of peers; a DiscoveryStore
//! │   └── gossip listener   (task) accepts peers' links and applies what they send
//! ├── Leader              the bully rule over the Cluster's view (lowest live node id; the node
//! │                       itself when clustering is off); tells subscribers LeaderChanged
//! ├── JobScheduler        (JobSettings.RunScheduler) follows LeaderChanged: while leading, creates
//! │                       each period's recurring job; the JobStore's unique period key makes it
//! │                       safe when two nodes lead at once
//! └── JobWorker           (JobSettings.RunJobs) polls pending jobs, claims them conditionally, runs
//!                         them through a JobRunner with heartbeats; re-queues jobs of dead nodes
//! ```
//!
//! When an actor needs the database it declares the small trait it needs here (for example
//! [`session_cache::SessionStore`], [`hub::MembershipStore`], [`presence::StatusStore`],
//! [`jobs::JobStore`], [`db_supervisor::ReplicaMonitor`]) and the node's store implements it, so dependencies run one way: `protocol` <- `actors` <- the node.

pub mod cluster;
pub mod db_supervisor;
pub mod event_bus;
pub mod hub;
pub mod jobs;
pub mod leader;
pub mod presence;
pub mod session_cache;
pub mod ws_connection;

pub use db_supervisor::{DbSupervisor, ReplicaMonitor, StopDbSupervisor};
pub use event_bus::{CloseWebsockets, EventBus, EventPublished, HubSet, PublishEvent, PublishMembership, Subscribe};
pub use hub::{Hub, MembershipChange, MembershipStore, Memberships, SessionTarget};
pub use jobs::{JobScheduler, JobStore, JobWorker};
pub use leader::{GetLeader, Leader, LeaderChanged};
pub use presence::{Presence, Status, StatusStore};
pub use session_cache::{
    ClearSessions, GetSession, InvalidateSession, InvalidateUserSessions, RevokeSession, Session, SessionCache,
    SessionCacheError, SessionStore,
};
pub use ws_connection::{WsConnection, WsContext};
