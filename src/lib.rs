//! Starling: a Mattermost-compatible team-chat server whose nodes run as one cluster.
//!
//! Module map:
//! - [`config`]: `config.json` with Mattermost's sections and `MM_<SECTION>_<KEY>` overrides.
//! - [`logging`]: slog console and JSON file logs from LogSettings.
//! - [`store`]: PostgreSQL access and schema migrations (one file per table family); master, read
//!   and search replica pools and the routing between them (`store::routing`).
//! - [`filestore`]: where uploaded bytes live (a local or shared directory, or S3).
//! - [`api`]: Mattermost's API v4, one file per resource.
//! - [`audit`]: the audit trail (`audit::record`): the Audits table and each node's audit file.
//! - [`emoji`]: emoji names (system and custom) and the image checks of custom emoji uploads.
//! - [`images`]: profile pictures, team icons, generated avatars, file thumbnails and previews.
//! - [`events`]: the websocket events the API publishes, and membership changes.
//! - [`hooks`]: MessageWillBePosted / MessageWillBeUpdated, run before a post is written.
//! - [`commands`]: slash commands extensions and plugins answer.
//! - [`outbound`]: every HTTP call to a user-configured URL (timeouts, size and concurrency
//!   bounds, AllowedUntrustedInternalConnections).
//! - [`outgoing_hooks`]: calling outgoing webhooks on new posts (bounded queue, bounded calls,
//!   each call claimed once in the cluster).
//! - [`extensions`]: extension actors compiled into a node (`NodeBuilder::extension`).
//! - [`cluster`]: joining the cluster: key, advertised address, gossip listener, discovery.
//! - [`jobs`]: the job types, the recurring schedule, and starting leader election and the job server.
//! - [`error`]: the API's error type in Mattermost's JSON shape.
//! - [`metrics`]: Prometheus metrics.
//! - [`server`]: assembling a node from its parts and shutting it down in order.
//! - [`admin`]: `starling admin`, the operator's CLI over the API (or local mode's socket).
//!
//! The actors live in the `starling-actors` crate and the wire vocabulary in `starling-protocol`.

pub mod admin;
pub mod api;
pub mod audit;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod drain;
pub mod emoji;
pub mod error;
pub mod events;
pub mod extensions;
pub mod filestore;
pub mod hooks;
pub mod images;
pub mod jobs;
pub mod limits;
pub mod logging;
pub mod metrics;
pub mod outbound;
pub mod outgoing_hooks;
pub mod plugins;
pub mod ratelimit;
pub mod server;
pub mod store;

/// This build's version, reported by ping, cluster status and the client config's `BuildNumber`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The Mattermost server version whose API Starling speaks, as clients read it from
/// `X-Version-Id`, the client config's `Version` and the websocket `hello` (the mobile app logs its
/// user out below 9.11.0 and warns below 10.11.0).
pub const MATTERMOST_VERSION: &str = "10.11.0";
