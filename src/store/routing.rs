//! Where a query runs: the master, a read replica or a search replica.
//!
//! Routing rules:
//! - Writes, and every read inside a write or a read-modify-write transaction, use the master.
//! - Plain reads ([`Store::read`](super::Store::read)) rotate over the healthy read replicas. A
//!   replica whose connection or query fails at the source level (no connection, connection closed,
//!   server shutting down, statement timeout) is marked unhealthy and the read is retried on the
//!   next replica, then on the master, so the request does not fail. With no healthy replica
//!   (or none configured) the master serves reads.
//! - The `DbSupervisor` actor runs [`Router::check_once`] every `ReplicaMonitorIntervalSeconds`:
//!   it re-checks every replica, puts it back in rotation once it answers again, and measures
//!   ReplicaLagSettings.
//! - Read your writes: replicas are used only inside a request scope that [`ReadYourWrites`] chose
//!   as `Replica`. A request that is not a read ([`is_read_request`]: GET, HEAD and the two POST
//!   searches) is a write: its reads use the master, and so do the reads of every request carrying
//!   the same token for [`READ_YOUR_WRITES_WINDOW`] after that token's last write, on every node: a
//!   node where a session writes tells its peers (a best-effort cluster message carrying a digest
//!   of the token, sent when the write starts and at most once a second per session), so behind a
//!   load balancer the session's next reads on another node use the master too. A peer that is
//!   unreachable misses the message; its reads for that session may then lag like anyone's.
//!   Reads outside any request scope (actors, jobs, websocket) use the master.
//! - Searches ([`Router::search`]) use the healthy search replicas, then the read replicas, then the
//!   master, with the same skipping, retrying and read-your-writes rule.
//! - Recycling builds a new set of pools and swaps it in; queries in flight finish on the old set,
//!   whose connections close when the last of them is returned.

use super::{StoreError, StoreResult};
use crate::config::{ReplicaLagSetting, SqlSettings};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use slog::{error, info, warn, Logger};
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

/// How long after a write a session's reads go to the master.
pub const READ_YOUR_WRITES_WINDOW: Duration = Duration::from_secs(10);
/// Sessions remembered at most; past this, expired entries are pruned (then the oldest half).
const RECENT_WRITERS_MAX: usize = 100_000;

/// Which source a request's plain reads may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadRoute {
    /// Rotate over healthy replicas.
    Replica,
    /// The master only.
    Master,
}

tokio::task_local! {
    static READ_ROUTE: ReadRoute;
}

/// Run `f` with its plain reads routed as `route`.
pub async fn with_read_route<F: Future>(route: ReadRoute, f: F) -> F::Output {
    READ_ROUTE.scope(route, f).await
}

/// Run `f` (which may start work synchronously) with its plain reads routed as `route`.
pub fn sync_read_route<R>(route: ReadRoute, f: impl FnOnce() -> R) -> R {
    READ_ROUTE.sync_scope(route, f)
}

fn current_route() -> ReadRoute {
    READ_ROUTE.try_with(|r| *r).unwrap_or(ReadRoute::Master)
}

/// Whether a request only reads: GET and HEAD, and the POST searches (Mattermost's search
/// endpoints take their query in a POST body).
pub fn is_read_request(method: &str, path: &str) -> bool {
    match method {
        "GET" | "HEAD" => true,
        "POST" => {
            path == "/api/v4/users/search" || (path.starts_with("/api/v4/teams/") && path.ends_with("/posts/search"))
        }
        _ => false,
    }
}

/// Remembers which sessions wrote recently (by a digest of their token, never the token), here and,
/// through the cluster, on the other nodes.
pub struct ReadYourWrites {
    recent: Mutex<HashMap<u64, Instant>>,
    window: Duration,
    /// Tells the other nodes that a session wrote (set once the cluster is up).
    announce: OnceLock<Box<dyn Fn(u64) + Send + Sync>>,
}

/// A session is announced again after this long, so peers' windows stay within this of ours.
const ANNOUNCE_EVERY: Duration = Duration::from_secs(1);

impl Default for ReadYourWrites {
    /// [`READ_YOUR_WRITES_WINDOW`], or `STARLING_TEST_READ_YOUR_WRITES_MS` (a test hook).
    fn default() -> Self {
        let window = std::env::var("STARLING_TEST_READ_YOUR_WRITES_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map(Duration::from_millis)
            .unwrap_or(READ_YOUR_WRITES_WINDOW);
        Self { recent: Mutex::default(), window, announce: OnceLock::new() }
    }
}

/// The digest a session is known by: the first 8 bytes of SHA-256 of its token (the same on
/// every node, and not reversible).
pub fn session_digest(token: &str) -> u64 {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(token.as_bytes());
    u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

impl ReadYourWrites {
    /// From now on, tell the cluster about each writing session (at most every [`ANNOUNCE_EVERY`]).
    pub fn set_announcer(&self, f: impl Fn(u64) + Send + Sync + 'static) {
        let _ = self.announce.set(Box::new(f));
    }

    /// The route for a request: `is_read` is true for GET and HEAD.
    pub fn route(&self, is_read: bool, token: Option<&str>) -> ReadRoute {
        let now = Instant::now();
        let Some(token) = token else {
            return if is_read { ReadRoute::Replica } else { ReadRoute::Master };
        };
        let key = session_digest(token);
        if !is_read {
            if self.mark(key, now) {
                if let Some(f) = self.announce.get() {
                    f(key);
                }
            }
            return ReadRoute::Master;
        }
        let Ok(mut recent) = self.recent.lock() else {
            return ReadRoute::Master;
        };
        match recent.get(&key) {
            Some(t) if now.duration_since(*t) < self.window => ReadRoute::Master,
            Some(_) => {
                recent.remove(&key);
                ReadRoute::Replica
            }
            None => ReadRoute::Replica,
        }
    }

    /// Another node says this session wrote there just now.
    pub fn mark_remote(&self, key: u64) {
        self.mark(key, Instant::now());
    }

    /// Record a write at `now`; true when the session's previous mark is older than
    /// [`ANNOUNCE_EVERY`] (so it is worth telling the other nodes).
    fn mark(&self, key: u64, now: Instant) -> bool {
        let Ok(mut recent) = self.recent.lock() else {
            return false;
        };
        if recent.len() >= RECENT_WRITERS_MAX {
            recent.retain(|_, t| now.duration_since(*t) < self.window);
            if recent.len() >= RECENT_WRITERS_MAX {
                recent.clear();
            }
        }
        match recent.insert(key, now) {
            Some(prev) => now.saturating_duration_since(prev) >= ANNOUNCE_EVERY,
            None => true,
        }
    }
}

/// One replica's pool and its health.
pub(crate) struct Source {
    pub pool: Pool,
    healthy: AtomicBool,
}

impl Source {
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }
}

/// One generation of pools, replaced as a whole by a recycle.
pub(crate) struct Pools {
    pub master: Pool,
    pub replicas: Vec<Source>,
    pub search: Vec<Source>,
    /// ReplicaLagSettings, measured by the monitor.
    lag_settings: Vec<ReplicaLagSetting>,
    /// MaxIdleConns and ConnMaxIdleTimeMilliseconds, applied to every pool each round.
    max_idle: usize,
    idle_time: Duration,
}

impl Pools {
    fn build(s: &SqlSettings) -> StoreResult<Pools> {
        let replica = |dsn: &String| {
            Ok::<_, StoreError>(Source {
                pool: build_pool(dsn, s, Duration::from_secs(3))?,
                healthy: AtomicBool::new(true),
            })
        };
        Ok(Pools {
            master: build_pool(&s.data_source, s, Duration::from_secs(10))?,
            replicas: s.data_source_replicas.iter().map(replica).collect::<StoreResult<_>>()?,
            search: s.data_source_search_replicas.iter().map(replica).collect::<StoreResult<_>>()?,
            lag_settings: s.replica_lag_settings.clone(),
            max_idle: s.max_idle_conns.max(0) as usize,
            idle_time: Duration::from_millis(s.conn_max_idle_time_milliseconds.max(0) as u64),
        })
    }

    /// Drop idle connections past MaxIdleConns (per pool) or idle past ConnMaxIdleTimeMilliseconds.
    fn trim_idle(&self) {
        for pool in std::iter::once(&self.master).chain(self.replicas.iter().chain(&self.search).map(|s| &s.pool)) {
            let mut kept = 0;
            pool.retain(|_, m| {
                let keep = kept < self.max_idle && (self.idle_time.is_zero() || m.last_used() < self.idle_time);
                kept += usize::from(keep);
                keep
            });
        }
    }

    fn close(&self) {
        self.master.close();
        for s in self.replicas.iter().chain(&self.search) {
            s.pool.close();
        }
    }
}

/// A kind of replica a query may use.
#[derive(Debug, Clone, Copy)]
enum Tier {
    Read,
    Search,
}

/// Pool figures for metrics.
#[derive(Debug, Default, Clone, Copy)]
pub struct PoolStats {
    pub master_open: usize,
    pub master_idle: usize,
    pub replica_open: usize,
    pub search_open: usize,
    pub healthy_replicas: usize,
    /// Plain reads served by a replica, and by the master, since start.
    pub replica_reads: u64,
    /// Searches served by a search replica.
    pub search_reads: u64,
    pub master_reads: u64,
    /// Plain reads retried elsewhere because their replica failed.
    pub replica_failures: u64,
}

/// The current pools and the rotation over them.
pub(crate) struct Router {
    pools: RwLock<Arc<Pools>>,
    next: AtomicUsize,
    closed: AtomicBool,
    replica_reads: AtomicU64,
    search_reads: AtomicU64,
    master_reads: AtomicU64,
    replica_failures: AtomicU64,
    lag: Mutex<Vec<LagSample>>,
    /// Whether the master answered the monitor's last check.
    master_healthy: AtomicBool,
}

/// One row of a ReplicaLagSettings query: the node it names and the lag it reports.
#[derive(Debug, Clone, PartialEq)]
pub struct LagSample {
    pub node: String,
    /// From QueryAbsoluteLag (bytes, as the query defines it) or QueryTimeLag (as defined there).
    pub kind: LagKind,
    pub value: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LagKind {
    Absolute,
    Time,
}

impl Router {
    pub fn new(s: &SqlSettings) -> StoreResult<Router> {
        Ok(Router {
            pools: RwLock::new(Arc::new(Pools::build(s)?)),
            next: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            replica_reads: AtomicU64::new(0),
            search_reads: AtomicU64::new(0),
            master_reads: AtomicU64::new(0),
            replica_failures: AtomicU64::new(0),
            lag: Mutex::default(),
            master_healthy: AtomicBool::new(true),
        })
    }

    pub fn pools(&self) -> Arc<Pools> {
        // A poisoned lock still holds a whole Arc: a writer only ever swaps it.
        match self.pools.read() {
            Ok(p) => p.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// A connection from the current master pool.
    pub async fn get(&self) -> Result<deadpool_postgres::Object, deadpool_postgres::PoolError> {
        let pools = self.pools();
        pools.master.get().await
    }

    /// Build new pools from `s` and swap them in; requests in flight finish on the old ones.
    pub fn recycle(&self, s: &SqlSettings) -> StoreResult<()> {
        let fresh = Arc::new(Pools::build(s)?);
        match self.pools.write() {
            Ok(mut p) => *p = fresh,
            Err(p) => *p.into_inner() = fresh,
        }
        Ok(())
    }

    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        self.pools().close();
    }

    pub fn stats(&self) -> PoolStats {
        let p = self.pools();
        let m = p.master.status();
        PoolStats {
            master_open: m.size,
            master_idle: m.available,
            replica_open: p.replicas.iter().map(|s| s.pool.status().size).sum(),
            search_open: p.search.iter().map(|s| s.pool.status().size).sum(),
            healthy_replicas: p.replicas.iter().filter(|s| s.healthy()).count(),
            replica_reads: self.replica_reads.load(Ordering::Relaxed),
            search_reads: self.search_reads.load(Ordering::Relaxed),
            master_reads: self.master_reads.load(Ordering::Relaxed),
            replica_failures: self.replica_failures.load(Ordering::Relaxed),
        }
    }

    /// The last ReplicaLagSettings measurements.
    pub fn lag(&self) -> Vec<LagSample> {
        self.lag.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Run a plain read, on a replica when the request's route allows it (see the module doc).
    pub async fn read<T>(
        &self,
        log: &Logger,
        f: impl AsyncFn(&deadpool_postgres::Client) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.run(log, &[Tier::Read], f).await
    }

    /// Run a search: on the healthy search replicas, then the read replicas, then the master.
    pub async fn search<T>(
        &self,
        log: &Logger,
        f: impl AsyncFn(&deadpool_postgres::Client) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.run(log, &[Tier::Search, Tier::Read], f).await
    }

    /// Try each tier in order when the route allows replicas; the master last.
    async fn run<T>(
        &self,
        log: &Logger,
        tiers: &[Tier],
        f: impl AsyncFn(&deadpool_postgres::Client) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let pools = self.pools();
        if current_route() == ReadRoute::Replica {
            for tier in tiers {
                let (kind, list, served) = match tier {
                    Tier::Read => ("read", &pools.replicas, &self.replica_reads),
                    Tier::Search => ("search", &pools.search, &self.search_reads),
                };
                if let Some(v) = self.try_sources(log, kind, list, served, &f).await {
                    return v;
                }
            }
        }
        self.master_reads.fetch_add(1, Ordering::Relaxed);
        let c = pools.master.get().await?;
        f(&c).await
    }

    /// Run `f` on the first healthy source of `list` (rotating the start) that does not fail at
    /// the source level; a source that does is marked unhealthy. None when every one failed or
    /// none is healthy.
    async fn try_sources<T>(
        &self,
        log: &Logger,
        kind: &'static str,
        list: &[Source],
        served: &AtomicU64,
        f: &impl AsyncFn(&deadpool_postgres::Client) -> StoreResult<T>,
    ) -> Option<StoreResult<T>> {
        let n = list.len();
        if n == 0 {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            let idx = (start + i) % n;
            let src = &list[idx];
            if !src.healthy() {
                continue;
            }
            let result = match src.pool.get().await {
                Ok(c) => f(&c).await,
                Err(e) => Err(StoreError::from(e)),
            };
            match result {
                Err(e) if is_source_failure(&e) => {
                    src.healthy.store(false, Ordering::Relaxed);
                    self.replica_failures.fetch_add(1, Ordering::Relaxed);
                    warn!(log, "replica failed, skipping it"; "kind" => kind, "replica" => idx, "error" => %e);
                }
                other => {
                    served.fetch_add(1, Ordering::Relaxed);
                    return Some(other);
                }
            }
        }
        None
    }

    /// Whether the master answered the monitor's last check (`starling_db_master_up`).
    pub fn master_healthy(&self) -> bool {
        self.master_healthy.load(Ordering::Relaxed)
    }

    /// One round of the DbSupervisor: trim idle connections, check the master, measure
    /// ReplicaLagSettings, then check every replica (each within `limit`) and mark it healthy or
    /// not. Nothing once the store is closed.
    pub async fn check_once(&self, limit: Duration, log: &Logger) {
        if self.closed.load(Ordering::Relaxed) {
            return;
        }
        let pools = self.pools();
        pools.trim_idle();
        let ok = check(&pools.master, limit).await;
        let was = self.master_healthy.swap(ok, Ordering::Relaxed);
        if ok && !was {
            info!(log, "database master reachable again");
        } else if !ok && was {
            error!(log, "database master unreachable: writes fail until it answers or DataSource is changed");
        }
        if !pools.lag_settings.is_empty() {
            let mut samples = vec![];
            for setting in &pools.lag_settings {
                match measure_lag(setting, limit).await {
                    Ok(mut s) => samples.append(&mut s),
                    Err(e) => warn!(log, "replica lag query failed"; "error" => %e),
                }
            }
            if let Ok(mut lag) = self.lag.lock() {
                *lag = samples;
            }
        }
        for (kind, list) in [("read", &pools.replicas), ("search", &pools.search)] {
            for (idx, src) in list.iter().enumerate() {
                let ok = check(&src.pool, limit).await;
                let was = src.healthy.swap(ok, Ordering::Relaxed);
                if ok && !was {
                    info!(log, "replica healthy again"; "kind" => kind, "replica" => idx);
                } else if !ok && was {
                    warn!(log, "replica unhealthy"; "kind" => kind, "replica" => idx);
                }
            }
        }
    }
}

/// Run one ReplicaLagSetting's two queries on its own short-lived connection. Each row is
/// (node name, lag); the lag may be any numeric type, so the rows are read as text.
async fn measure_lag(setting: &ReplicaLagSetting, limit: Duration) -> Result<Vec<LagSample>, String> {
    let work = async {
        let (client, conn) =
            tokio_postgres::connect(&setting.data_source, tokio_postgres::NoTls).await.map_err(|e| e.to_string())?;
        let task = tokio::spawn(conn);
        let mut out = vec![];
        for (kind, sql) in [(LagKind::Absolute, &setting.query_absolute_lag), (LagKind::Time, &setting.query_time_lag)]
        {
            if sql.trim().is_empty() {
                continue;
            }
            for msg in client.simple_query(sql).await.map_err(|e| e.to_string())? {
                if let tokio_postgres::SimpleQueryMessage::Row(row) = msg {
                    let node = row.get(0).unwrap_or_default().to_owned();
                    if let Some(value) = row.get(1).and_then(|v| v.parse::<f64>().ok()) {
                        out.push(LagSample { node, kind, value });
                    }
                }
            }
        }
        drop(client);
        task.abort();
        Ok(out)
    };
    tokio::time::timeout(limit.max(Duration::from_secs(1)), work).await.map_err(|_| "timed out".to_owned())?
}

/// One `SELECT 1` within `limit`.
async fn check(pool: &Pool, limit: Duration) -> bool {
    let probe = async {
        let c = pool.get().await.ok()?;
        c.simple_query("SELECT 1").await.ok()
    };
    matches!(tokio::time::timeout(limit.max(Duration::from_secs(1)), probe).await, Ok(Some(_)))
}

/// Whether an error says the source is unusable (rather than the query being wrong).
fn is_source_failure(e: &StoreError) -> bool {
    match e {
        StoreError::Unavailable(_) => true,
        StoreError::Db(e) => match e.as_db_error() {
            None => true,
            // 08: connection exception; 57: operator intervention (shutdown, cancel, timeout).
            Some(d) => {
                let code = d.code().code();
                code.starts_with("08") || code.starts_with("57")
            }
        },
        StoreError::Migration { .. } => false,
    }
}

pub(crate) fn build_pool(dsn: &str, s: &SqlSettings, connect_timeout: Duration) -> StoreResult<Pool> {
    let mut pg: tokio_postgres::Config =
        dsn.parse().map_err(|e: tokio_postgres::Error| StoreError::Unavailable(e.to_string()))?;
    // QueryTimeout on every statement; and no JIT compilation, which PostgreSQL may choose for
    // short OLTP queries on tables without fresh statistics and which then costs ~80 ms a query.
    // Options already in the DataSource (`?options=...`) are kept and win for `jit`.
    let mut options = pg.get_options().map(str::to_owned).unwrap_or_default();
    options.push_str(&format!(" -c statement_timeout={}", s.query_timeout.max(1) * 1000));
    if !options.contains("jit") {
        options.push_str(" -c jit=off");
    }
    pg.options(options.trim());
    if pg.get_connect_timeout().is_none() {
        pg.connect_timeout(connect_timeout);
    }
    let mgr =
        Manager::from_config(pg, tokio_postgres::NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    // ConnMaxLifetimeMilliseconds and ConnMaxIdleTimeMilliseconds: an older or longer-idle
    // connection is dropped instead of reused (0 means no limit, as in Mattermost).
    let lifetime = Duration::from_millis(s.conn_max_lifetime_milliseconds.max(0) as u64);
    let idle = Duration::from_millis(s.conn_max_idle_time_milliseconds.max(0) as u64);
    let aged = deadpool_postgres::Hook::sync_fn(move |_, m| {
        if (!lifetime.is_zero() && m.age() > lifetime) || (!idle.is_zero() && m.last_used() > idle) {
            return Err(deadpool_postgres::HookError::message("connection past its lifetime or idle time"));
        }
        Ok(())
    });
    Pool::builder(mgr)
        .pre_recycle(aged)
        .max_size(s.max_open_conns.max(1) as usize)
        .wait_timeout(Some(Duration::from_secs(s.query_timeout.max(1) as u64)))
        .create_timeout(Some(connect_timeout))
        .recycle_timeout(Some(Duration::from_secs(5)))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_reads_from_the_master_after_it_writes() {
        let ryw =
            ReadYourWrites { recent: Mutex::default(), window: Duration::from_millis(200), announce: OnceLock::new() };
        assert_eq!(ryw.route(true, Some("a")), ReadRoute::Replica);
        assert_eq!(ryw.route(false, Some("a")), ReadRoute::Master, "a write itself uses the master");
        assert_eq!(ryw.route(true, Some("a")), ReadRoute::Master, "reads right after the write");
        assert_eq!(ryw.route(true, Some("b")), ReadRoute::Replica, "other sessions are unaffected");
        assert_eq!(ryw.route(false, None), ReadRoute::Master);
        assert_eq!(ryw.route(true, None), ReadRoute::Replica);
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(ryw.route(true, Some("a")), ReadRoute::Replica, "the window has passed");
    }

    #[test]
    fn writes_are_announced_at_most_once_a_second_and_peers_marks_count() {
        let ryw =
            ReadYourWrites { recent: Mutex::default(), window: Duration::from_millis(500), announce: OnceLock::new() };
        let told = Arc::new(Mutex::new(Vec::new()));
        let t = told.clone();
        ryw.set_announcer(move |k| t.lock().unwrap().push(k));
        ryw.route(false, Some("tok"));
        ryw.route(false, Some("tok"));
        ryw.route(true, Some("tok"));
        assert_eq!(*told.lock().unwrap(), vec![session_digest("tok")], "one announcement, a digest");
        assert_ne!(session_digest("tok"), session_digest("tok2"));
        // A peer's announcement makes this node route the session's reads to the master.
        assert_eq!(ryw.route(true, Some("other")), ReadRoute::Replica);
        ryw.mark_remote(session_digest("other"));
        assert_eq!(ryw.route(true, Some("other")), ReadRoute::Master);
    }

    /// Against the test PostgreSQL (STARLING_TEST_PG, as the integration tests).
    #[tokio::test]
    async fn pooled_connections_carry_the_query_timeout_and_no_jit() {
        let base = std::env::var("STARLING_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let sql = SqlSettings { query_timeout: 7, ..SqlSettings::default() };
        let pool = build_pool(&format!("{}/postgres", base.trim_end_matches('/')), &sql, Duration::from_secs(5))
            .expect("pool");
        let c = pool.get().await.expect("PostgreSQL must be running for this test (see README)");
        let timeout: String = c.query_one("SHOW statement_timeout", &[]).await.unwrap().get(0);
        let jit: String = c.query_one("SHOW jit", &[]).await.unwrap().get(0);
        assert_eq!((timeout.as_str(), jit.as_str()), ("7s", "off"));
        // An explicit choice in the DataSource wins.
        let dsn = format!("{}/postgres?options=-c%20jit%3Don", base.trim_end_matches('/'));
        let c = build_pool(&dsn, &sql, Duration::from_secs(5)).expect("pool").get().await.expect("connects");
        let jit: String = c.query_one("SHOW jit", &[]).await.unwrap().get(0);
        assert_eq!(jit, "on");
    }

    #[test]
    fn searches_are_reads() {
        assert!(is_read_request("GET", "/api/v4/channels/x/posts"));
        assert!(is_read_request("POST", "/api/v4/users/search"));
        assert!(is_read_request("POST", "/api/v4/teams/abc/posts/search"));
        assert!(!is_read_request("POST", "/api/v4/posts"));
        assert!(!is_read_request("PUT", "/api/v4/users/search"));
    }

    #[test]
    fn source_failures_are_told_from_query_errors() {
        assert!(is_source_failure(&StoreError::Unavailable("refused".into())));
        assert!(!is_source_failure(&StoreError::Migration { version: 1, error: "x".into() }));
    }

    #[test]
    fn no_route_scope_means_master() {
        assert_eq!(current_route(), ReadRoute::Master);
        assert_eq!(sync_read_route(ReadRoute::Replica, current_route), ReadRoute::Replica);
    }
}
