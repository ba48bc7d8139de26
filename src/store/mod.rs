//! PostgreSQL: connection, schema migrations under a database lock, and one file per table family.

mod audits;
mod bots;
mod categories;
mod channels;
pub mod cluster;
mod commands;
mod direct;
mod emoji;
mod files;
mod incoming_hooks;
mod jobs;
mod migrations;
mod my_channels;
mod outgoing_hooks;
pub mod plugin_kv;
mod post_batch;
mod posts;
mod preferences;
mod reactions;
mod read_state;
mod realtime;
mod roles;
pub mod routing;
mod search;
mod sessions;
mod systems;
mod teams;
mod threads;
mod tokens;
mod users;

pub use audits::AuditRow;
pub use bots::{Bot, BotFilter, BotPatch};
pub use categories::{Category, CategoryError, CategoryUpdate, OrderedCategories};
pub use channels::{Channel, ChannelMember, NewChannel};
pub use commands::{Command, CommandFields};
pub use emoji::{Emoji, EmojiSort};
pub use files::FileInfo;
pub use incoming_hooks::{IncomingHook, IncomingHookPatch};
pub use jobs::{CancelResult, FileToDelete, JobRun};
pub use migrations::{MIGRATIONS, SCHEMA_VERSION};
pub use my_channels::{ChannelFilter, ChannelPatch, ChannelStats, MemberWithTeam, TeamUnread};
pub use outgoing_hooks::{
    CommandWebhook, CommandWebhookRefusal, OutgoingHook, OutgoingHookFields, OutgoingHookFilter,
    COMMAND_WEBHOOK_LIFETIME_MS, COMMAND_WEBHOOK_MAX_USES,
};
pub use post_batch::{GroupCommitStats, MAX_BATCH as MAX_POSTS_PER_COMMIT};
pub use posts::{emoji_names_in, NewPost, Post, PostMentions, PostPage, PostQuery};
pub use preferences::Preference;
pub use reactions::{Reaction, SaveReaction};
pub use read_state::{ChannelUnreadAt, UnreadPost};
pub use roles::MemberRoles;
pub use search::{PostSearch, PostSearchPage, UserScope};
pub use teams::{Team, TeamJoin, TeamMember};
pub use threads::{ThreadQuery, ThreadTotals, UserThreadRow};
pub use tokens::{is_access_token_session, token_hash, SessionsAndTokens, UserAccessToken};
pub use users::{NewSession, NewUser, Session, User, UserPatch};

use crate::config::SqlSettings;
use slog::{info, warn, Logger};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {}", db_detail(.0))]
    Db(#[from] tokio_postgres::Error),
    #[error("migration {version} failed: {error}")]
    Migration { version: i32, error: String },
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => StoreError::Db(e),
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

impl StoreError {
    /// Whether PostgreSQL refused text it cannot hold (a NUL character, or bytes that are not UTF-8).
    pub fn is_unstorable_text(&self) -> bool {
        use tokio_postgres::error::SqlState;
        match self {
            StoreError::Db(e) => e.as_db_error().is_some_and(|d| {
                *d.code() == SqlState::CHARACTER_NOT_IN_REPERTOIRE || *d.code() == SqlState::UNTRANSLATABLE_CHARACTER
            }),
            _ => false,
        }
    }

    /// The constraint a unique violation hit, if this is one.
    pub fn unique_violation(&self) -> Option<&str> {
        match self {
            StoreError::Db(e) => e
                .as_db_error()
                .filter(|d| *d.code() == tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
                .map(|d| d.constraint().unwrap_or("")),
            _ => None,
        }
    }
}

/// The server's own words for a database error, where it sent any.
fn db_detail(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => format!("{} ({})", d.message(), d.code().code()),
        None => e.to_string(),
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A statement parameter (for building parameter lists from parts).
type Param<'a> = &'a (dyn tokio_postgres::types::ToSql + Sync);

/// What an actor hears of a store error: whether to retry, and the store's words (for its log).
impl From<StoreError> for starling_actors::StoreError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(d) => starling_actors::StoreError::Unavailable(d),
            other => starling_actors::StoreError::Failed(other.to_string()),
        }
    }
}

pub use starling_protocol::now_ms;

/// The node's database access. Every query goes through a pool this owns: the master, or a read
/// replica through [`Store::read`] (the rules are in [`routing`]).
#[derive(Clone)]
pub struct Store {
    /// `self.master.get()` is a connection from the current master pool.
    master: Arc<routing::Router>,
    log: Logger,
    /// ServiceSettings.EnableCustomEmoji as the node runs it: while it is off, posts' metadata
    /// names no custom emoji (as in Mattermost).
    custom_emoji: Arc<std::sync::atomic::AtomicBool>,
    /// New posts waiting for their channel's group commit ([`post_batch`]).
    post_batches: Arc<post_batch::PostBatches>,
}

impl Store {
    /// Build the pools from SqlSettings (nothing is connected yet).
    pub fn new(s: &SqlSettings) -> StoreResult<Self> {
        Self::with_logger(s, Logger::root(slog::Discard, slog::o!()))
    }

    pub fn with_logger(s: &SqlSettings, log: Logger) -> StoreResult<Self> {
        Ok(Self {
            master: Arc::new(routing::Router::new(s)?),
            log,
            custom_emoji: Arc::default(),
            post_batches: Arc::default(),
        })
    }

    /// Follow ServiceSettings.EnableCustomEmoji (the node calls it at start and on each change).
    pub fn set_custom_emoji(&self, on: bool) {
        self.custom_emoji.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    fn custom_emoji(&self) -> bool {
        self.custom_emoji.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A plain read that may run on a read replica (see [`routing`]).
    pub(crate) async fn read<T>(
        &self,
        f: impl AsyncFn(&deadpool_postgres::Client) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.master.read(&self.log, f).await
    }

    /// A search: search replicas, then read replicas, then the master (see [`routing`]).
    pub(crate) async fn search<T>(
        &self,
        f: impl AsyncFn(&deadpool_postgres::Client) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.master.search(&self.log, f).await
    }

    /// Rebuild every pool from `s` (a new DataSource takes effect here); requests in flight finish.
    pub fn recycle(&self, s: &SqlSettings) -> StoreResult<()> {
        self.master.recycle(s)?;
        info!(self.log, "database pools recycled"; "replicas" => s.data_source_replicas.len(), "search_replicas" => s.data_source_search_replicas.len());
        Ok(())
    }

    /// Close every pool; replica checks do nothing after this. Safe to call twice.
    pub fn close(&self) {
        self.master.close();
    }

    pub fn pool_stats(&self) -> routing::PoolStats {
        self.master.stats()
    }

    /// Whether the master answered the DbSupervisor's last check.
    pub fn master_healthy(&self) -> bool {
        self.master.master_healthy()
    }

    /// The last ReplicaLagSettings measurements.
    pub fn replica_lag(&self) -> Vec<routing::LagSample> {
        self.master.lag()
    }

    /// Reach the database, retrying as SqlSettings says and logging each failure.
    pub async fn wait_until_reachable(&self, s: &SqlSettings, log: &Logger) -> StoreResult<()> {
        let attempts = s.connect_attempts.max(1);
        for attempt in 1..=attempts {
            match self.ping().await {
                Ok(()) => return Ok(()),
                Err(e) if attempt < attempts => {
                    warn!(log, "database not reachable, retrying"; "attempt" => attempt, "of" => attempts, "error" => %e);
                    tokio::time::sleep(Duration::from_secs(s.connect_retry_seconds.max(0) as u64)).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Unavailable("no attempts".into()))
    }

    pub async fn ping(&self) -> StoreResult<()> {
        let c = self.master.get().await?;
        c.simple_query("SELECT 1").await?;
        Ok(())
    }

    /// Run the schema migrations not yet applied, holding a database-wide advisory lock so that
    /// among nodes starting together exactly one migrates and the others wait.
    pub async fn migrate(&self, node_id: &str, log: &Logger) -> StoreResult<i32> {
        let mut c = self.master.get().await?;
        migrations::run(&mut c, node_id, log).await
    }

    pub async fn schema_version(&self) -> StoreResult<i32> {
        let c = self.master.get().await?;
        let row = c.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[]).await?;
        Ok(row.get(0))
    }
}

/// The DbSupervisor's view of the store: one round (master and replica health, idle trimming,
/// lag), bounded by `limit`.
impl starling_actors::ReplicaMonitor for Store {
    fn check_replicas(&self, limit: Duration) -> futures_util::future::BoxFuture<'static, ()> {
        let store = self.clone();
        Box::pin(async move { store.master.check_once(limit, &store.log).await })
    }
}

/// Log a line when the store is ready (kept here so all store logging shares keys).
pub fn log_ready(log: &Logger, version: i32) {
    info!(log, "database ready"; "schema_version" => version);
}
