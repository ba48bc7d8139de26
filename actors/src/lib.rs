//! The actors a Starling node is assembled from.
//!
//! Supervision tree (kept true as actors are added). Every actor marked (S) is started by the
//! node's [`Supervisor`]: when it panics or stops, it is restarted with the same address after
//! `restarting()` resets what a failure may have left half-done; after [`Supervisor::shut_down`]
//! (the node's ordered stop) actors stop for good. Bounds are per mailbox (see [`mailbox`]).
//!
//! ```text
//! node (src/server.rs: NodeBuilder)            Supervisor: restarts, counts restarts per actor
//! ├── ConfigService (S)   (src/config/service.rs) the running config: reload, save, announce
//! ├── DbSupervisor (S)    every ReplicaMonitorIntervalSeconds: the master's and replicas' health and
//! │                       lag, through a ReplicaMonitor                 mailbox: local
//! ├── SessionCache (S)    token -> session; invalidated by logout / revoke (here and from peers);
//! │                       reads through a SessionStore; a SessionCache that restarts is empty
//! ├── EventBus (S)        every BusEvent of the node, local or from a peer: applies it to the
//! │                       hubs, then tells subscribers (Subscribe + Filter)  mailbox: BUS_MAILBOX
//! ├── Hub × N (S)         one arbiter each: connections grouped by user; seq, membership filter,
//! │                       queues for resume; a Hub that restarts closes its sockets  HUB_MAILBOX
//! ├── Presence (S)        online / away / offline; publishes BusEvent::Status; a StatusStore
//! ├── WsConnection × M    one per websocket (not restarted: its client reconnects and resumes)
//! ├── (with ClusterSettings.Enable)
//! │   ├── Cluster (S)       coordinator; a bus subscriber (local events -> every peer)
//! │   │   └── ClusterPeer × P   one per remote node, restarted by the Cluster if it stops;
//! │   │                         reliable queue (MAX_UNACKED), pings, redial every 15 s
//! │   ├── inbound links     (tasks) accept peers' links, publish their events on the bus
//! │   └── Discovery (S)     the ClusterDiscovery row and the list of peers; a DiscoveryStore
//! ├── Leader (S)          the bully rule over the Cluster's view; tells subscribers LeaderChanged
//! ├── JobScheduler (S)    (JobSettings.RunScheduler) while leading, creates recurring jobs
//! ├── JobWorker (S)       (JobSettings.RunJobs) claims pending jobs, runs them through a JobRunner
//! └── extensions (S)      actors a binary adds through the NodeBuilder
//! ```
//!
//! One post, from the API to another node's websocket: the API publishes `BusEvent::Ws(posted)`
//! ([`event_bus::Publish`]) -> [`EventBus`] hands it to the author's channel members' [`Hub`]s and
//! to its subscribers -> [`cluster::Cluster`] (a subscriber) gives each [`cluster::peer::ClusterPeer`]
//! `ClusterMessage::Bus(event)` -> sealed on the link -> the other node's [`cluster::inbound`]
//! publishes the same `BusEvent` on its bus -> its hubs -> its members' [`WsConnection`]s.
//!
//! When an actor needs the database it declares the small trait it needs here (for example
//! [`session_cache::SessionStore`], [`hub::MembershipStore`], [`presence::StatusStore`],
//! [`jobs::JobStore`], [`db_supervisor::ReplicaMonitor`]), returning [`StoreError`]s, and the
//! node's store implements it, so dependencies run one way: `protocol` <- `actors` <- the node.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod cluster;
pub mod db_supervisor;
pub mod error;
pub mod event_bus;
pub mod hub;
pub mod jobs;
pub mod leader;
pub mod mailbox;
pub mod presence;
pub mod realtime;
pub mod session_cache;
pub mod supervisor;
pub mod ws_connection;

pub use db_supervisor::{DbSupervisor, ReplicaMonitor};
pub use error::{StoreError, StoreResult};
pub use event_bus::{CloseWebsockets, EventBus, Filter, Origin, Publish, Published, Subscribe};
pub use hub::{Hub, HubSet, MembershipStore, Memberships, SessionTarget};
pub use jobs::{JobScheduler, JobStore, JobWorker};
pub use leader::{GetLeader, Leader, LeaderChanged};
pub use presence::{Presence, Status, StatusStore};
pub use realtime::{Realtime, RealtimeSettings, RealtimeStores};
pub use session_cache::{
    ClearSessions, GetSession, InvalidateSession, InvalidateUserSessions, RevokeSession, Session, SessionCache,
    SessionCacheError, SessionStore,
};
pub use starling_protocol::{BusEvent, MembershipChange};
pub use supervisor::{Restart, Supervisor};
pub use ws_connection::{WsConnection, WsContext};
