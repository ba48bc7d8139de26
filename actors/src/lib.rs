//! The actors a Starling node is assembled from.
//!
//! Supervision tree (kept true as actors are added), with each actor's messages. Every actor
//! marked (S) is started by the node's [`Supervisor`]: when it panics or stops, it is restarted
//! with the same address after `restarting()` resets what a failure may have left half-done; after
//! [`Supervisor::shut_down`] (the node's ordered stop) actors stop for good. Every supervised actor
//! also takes [`Restart`]. Mailbox bounds and what happens when one is full: [`mailbox`].
//!
//! ```text
//! node (src/server.rs: NodeBuilder)   the Supervisor: restarts, counts restarts per actor
//! ├── ConfigService (S)  src/config/service.rs: the running config
//! │       Reload, Update, GetEnvOverrides; hears RemoteConfigChanged
//! ├── DbSupervisor (S)   replicas' health and lag every ReplicaMonitorIntervalSeconds (a ReplicaMonitor)
//! ├── SessionCache (S)   token -> session (a SessionStore); restarts empty
//! │       GetSession, InvalidateSession, RevokeSession, InvalidateUserSessions, ClearSessions;
//! │       hears ClusterViewChanged (a peer suspect or down: trust nothing cached)
//! ├── EventBus (S)       every BusEvent of the node, local or a peer's        mailbox BUS_MAILBOX
//! │       Publish { event, origin }, Subscribe { subscriber, filter } -> Published,
//! │       CloseWebsockets, TakeQueueInOrder
//! ├── Hub × N (S)        a thread each; connections by user (a MembershipStore)  HUB_MAILBOX
//! │       Register, Unregister, Deliver, ApplyMembership, CloseSessions, BeginImport, TakeQueue,
//! │       GetUserConnectionCount, GetIsChannelMember, GetHubStats; restarts closing its sockets
//! ├── Presence (S)       online / away / offline (a StatusStore); publishes BusEvent::Status
//! │       UserPresenceChanged (from hubs), UserActive, SetStatus, GetStatuses; hears peers' statuses
//! ├── WsConnection × M   one per websocket; not restarted (its client reconnects and resumes)
//! │       CloseConnection (from its hub)
//! ├── cluster (with ClusterSettings.Enable)
//! │   ├── Cluster (S)        coordinator, a bus subscriber (local events -> every peer) CLUSTER_MAILBOX
//! │   │       BroadcastAndWait, AskPeers, SetPeers, PeerSeen, GetPeerStatuses, AnnounceConfig,
//! │   │       SubscribeView -> ClusterViewChanged, SubscribeConfig -> RemoteConfigChanged
//! │   │   └── ClusterPeer × P    one per remote node, restarted by the Cluster      PEER_MAILBOX
//! │   │           Enqueue, Ask, RedialNow, StopPeer; pushes its PeerStatus; redials every 15 s
//! │   ├── inbound links      (tasks, at most MAX_INBOUND) publish peers' events on the bus
//! │   └── Discovery (S)      the ClusterDiscovery row (a DiscoveryStore) -> SetPeers
//! ├── Leader (S)         the bully rule over the Cluster's view: Subscribe -> LeaderChanged, GetLeader
//! ├── JobScheduler (S)   while leading, creates recurring jobs (a JobStore): hears LeaderChanged
//! ├── JobWorker (S)      claims pending jobs, runs them through a JobRunner: PollNow, DrainJobs
//! ├── OutgoingHooks (S)  src/outgoing_hooks.rs: a bus subscriber (this node's new posts) that
//! │       calls matching outgoing webhooks; hears Published; its queue and call slots are bounded
//! └── parts (S)          what a binary adds through the NodeBuilder (extension actors)
//! ```
//!
//! One post, from the API to another node's websocket: the API publishes `BusEvent::Ws(posted)`
//! ([`event_bus::Publish`]) -> [`EventBus`] hands it to the author's channel members' [`Hub`]s and
//! to its subscribers -> [`cluster::Cluster`] (a subscriber) gives each [`cluster::peer::ClusterPeer`]
//! `ClusterMessage::Bus(event)` -> sealed on the link -> the other node's [`cluster::inbound`]
//! publishes the same `BusEvent` on its bus -> its hubs -> its members' [`WsConnection`]s.
//!
//! Adding a websocket event that reaches every node: one method in the node's `src/events.rs`
//! (it publishes `BusEvent::Ws`); nothing here or in the protocol changes. Adding another kind of
//! fact: a `BusEvent` variant (protocol `bus.rs`, with its wire id in `message.rs`) and what the
//! bus does with it here.
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
pub mod ws_action;
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
