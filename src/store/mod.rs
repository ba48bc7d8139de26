//! PostgreSQL: connection, schema migrations under a database lock, and one file per table family.

mod channels;
pub mod cluster;
mod files;
mod jobs;
mod migrations;
mod posts;
mod realtime;
mod systems;
mod teams;
mod users;

pub use channels::{Channel, ChannelMember, NewChannel};
pub use files::FileInfo;
pub use jobs::{CancelResult, FileToDelete, JobRun};
pub use migrations::{MIGRATIONS, SCHEMA_VERSION};
pub use posts::{NewPost, Post, PostPage, PostQuery};
pub use teams::{Team, TeamJoin, TeamMember};
pub use users::{NewSession, NewUser, Session, User};

use crate::config::SqlSettings;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use slog::{info, warn, Logger};
use std::time::Duration;
use tokio_postgres::NoTls;

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

/// Milliseconds since the epoch, as Mattermost stores time.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// The node's database access. Every query goes through a pool this owns.
#[derive(Clone)]
pub struct Store {
    master: Pool,
}

impl Store {
    /// Build the master pool from SqlSettings (nothing is connected yet).
    pub fn new(s: &SqlSettings) -> StoreResult<Self> {
        Ok(Self { master: build_pool(&s.data_source, s)? })
    }

    pub fn pool(&self) -> &Pool {
        &self.master
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

    /// Pool figures for metrics: (size, available).
    pub fn pool_status(&self) -> (usize, usize) {
        let s = self.master.status();
        (s.size, s.available)
    }
}

fn build_pool(dsn: &str, s: &SqlSettings) -> StoreResult<Pool> {
    let mut pg: tokio_postgres::Config =
        dsn.parse().map_err(|e: tokio_postgres::Error| StoreError::Unavailable(e.to_string()))?;
    pg.options(format!("-c statement_timeout={}", s.query_timeout.max(1) * 1000));
    if pg.get_connect_timeout().is_none() {
        pg.connect_timeout(Duration::from_secs(10));
    }
    let mgr = Manager::from_config(pg, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    Pool::builder(mgr)
        .max_size(s.max_open_conns.max(1) as usize)
        .wait_timeout(Some(Duration::from_secs(s.query_timeout.max(1) as u64)))
        .create_timeout(Some(Duration::from_secs(10)))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))
}

/// Log a line when the store is ready (kept here so all store logging shares keys).
pub fn log_ready(log: &Logger, version: i32) {
    info!(log, "database ready"; "schema_version" => version);
}
