//! A PostgreSQL primary and a streaming replica of it, owned by one test.
//!
//! Both run from a temp dir owned by the `postgres` OS user (PostgreSQL refuses to run as root),
//! on free loopback ports, with trust auth on 127.0.0.1 only. The replica is a `pg_basebackup -R`
//! copy of the primary. Helpers stop, start, pause and promote the replica; every wait is bounded;
//! Drop stops both servers and removes the directory.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// How long any single server operation may take before the harness gives up.
const PG_WAIT: Duration = Duration::from_secs(60);

pub struct PgPair {
    pub dir: PathBuf,
    pub bin: PathBuf,
    pub primary_port: u16,
    pub replica_port: u16,
    stopped: bool,
}

/// The newest PostgreSQL under /usr/lib/postgresql.
fn pg_bin_dir() -> PathBuf {
    let mut versions: Vec<u32> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL binaries under /usr/lib/postgresql")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    versions.sort_unstable();
    let v = versions.last().expect("a PostgreSQL version");
    PathBuf::from(format!("/usr/lib/postgresql/{v}/bin"))
}

/// A free loopback port below the ephemeral range, so no outgoing connection of this machine can
/// take it between the pick and the server's start.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (first, span) = (10_000u16, low.saturating_sub(10_000).max(1000));
    // Start at a per-process offset so parallel test binaries rarely meet.
    let _ =
        NEXT.compare_exchange(0, (std::process::id() % span as u32) as u16 + 1, Ordering::Relaxed, Ordering::Relaxed);
    for _ in 0..span {
        let port = first + NEXT.fetch_add(1, Ordering::Relaxed) % span;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port below the ephemeral range");
}

/// Run a command as the postgres OS user, with a bounded wall time.
fn as_postgres(args: &[&str]) -> Output {
    let mut cmd = Command::new("timeout");
    cmd.arg(PG_WAIT.as_secs().to_string()).args(["runuser", "-u", "postgres", "--"]).args(args);
    cmd.current_dir("/tmp");
    cmd.output().expect("run a PostgreSQL command as the postgres user")
}

fn check(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl PgPair {
    /// initdb a primary, base-backup a replica from it, start both and wait until the replica streams.
    pub async fn start() -> PgPair {
        Self::start_with(false).await
    }

    /// [`PgPair::start`] with the replica as a synchronous standby (`synchronous_standby_names`):
    /// a commit is acknowledged only once the replica has it, so a crashed primary loses nothing
    /// a client was told is written.
    pub async fn start_synchronous() -> PgPair {
        Self::start_with(true).await
    }

    async fn start_with(synchronous: bool) -> PgPair {
        let dir = std::env::temp_dir().join(format!("starling-pgpair-{}", starling_protocol::new_id()));
        std::fs::create_dir_all(&dir).expect("pair dir");
        check(
            Command::new("chown").args(["postgres:postgres", &dir.to_string_lossy()]).output().expect("chown"),
            "chown",
        );
        let bin = pg_bin_dir();
        let pair = PgPair { dir, bin, primary_port: free_port(), replica_port: free_port(), stopped: false };
        let primary = pair.primary_dir();
        check(
            as_postgres(&[
                &pair.tool("initdb"),
                "-D",
                &primary.to_string_lossy(),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ]),
            "initdb",
        );
        let conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\nwal_level = replica\n\
             max_wal_senders = 5\nhot_standby = on\nfsync = off\nfull_page_writes = off\n\
             max_connections = 200\nwal_keep_size = 256MB\n",
            pair.primary_port,
            pair.dir.to_string_lossy()
        );
        append_as_postgres(&primary.join("postgresql.conf"), &conf);
        if synchronous {
            append_as_postgres(&primary.join("postgresql.conf"), "synchronous_standby_names = '*'\n");
        }
        append_as_postgres(
            &primary.join("pg_hba.conf"),
            "\nhost all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n",
        );
        pair.pg_ctl_start(&primary);
        let replica = pair.replica_dir();
        check(
            as_postgres(&[
                &pair.tool("pg_basebackup"),
                "-h",
                "127.0.0.1",
                "-p",
                &pair.primary_port.to_string(),
                "-U",
                "postgres",
                "-D",
                &replica.to_string_lossy(),
                "-R",
                "-X",
                "stream",
                "--no-sync",
            ]),
            "pg_basebackup",
        );
        // The copy has the primary's settings; promoted, with no standby of its own, it must not
        // wait for one.
        append_as_postgres(
            &replica.join("postgresql.conf"),
            &format!("\nport = {}\nsynchronous_standby_names = ''\n", pair.replica_port),
        );
        pair.pg_ctl_start(&replica);
        // The replica streams once the primary shows it in pg_stat_replication.
        let url = pair.primary_url("postgres");
        let streaming = crate::common::wait_until(PG_WAIT, || {
            let url = url.clone();
            async move {
                match query_i64(&url, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'").await {
                    Some(n) => n > 0,
                    None => false,
                }
            }
        })
        .await;
        assert!(streaming, "replica did not start streaming");
        pair
    }

    fn tool(&self, name: &str) -> String {
        self.bin.join(name).to_string_lossy().into_owned()
    }
    pub fn primary_dir(&self) -> PathBuf {
        self.dir.join("primary")
    }
    pub fn replica_dir(&self) -> PathBuf {
        self.dir.join("replica")
    }
    pub fn primary_url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}?sslmode=disable", self.primary_port)
    }
    pub fn replica_url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}?sslmode=disable", self.replica_port)
    }

    fn pg_ctl_start(&self, data: &Path) {
        let log = data.with_extension("log");
        let out = as_postgres(&[
            &self.tool("pg_ctl"),
            "-D",
            &data.to_string_lossy(),
            "-l",
            &log.to_string_lossy(),
            "-w",
            "-t",
            "60",
            "start",
        ]);
        if !out.status.success() {
            let server_log = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = server_log.lines().rev().take(20).collect();
            panic!(
                "pg_ctl start failed: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }

    fn pg_ctl_stop(&self, data: &Path) -> bool {
        as_postgres(&[&self.tool("pg_ctl"), "-D", &data.to_string_lossy(), "-m", "fast", "-w", "-t", "60", "stop"])
            .status
            .success()
    }

    /// Create a database on the primary and wait until the replica has it too.
    pub async fn create_db(&self) -> String {
        let name = format!("starling_repl_{}", starling_protocol::new_id());
        execute(&self.primary_url("postgres"), &format!("CREATE DATABASE {name}")).await;
        let url = self.replica_url("postgres");
        let q = format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'");
        let ok = crate::common::wait_until(PG_WAIT, || {
            let (url, q) = (url.clone(), q.clone());
            async move { query_i64(&url, &q).await == Some(1) }
        })
        .await;
        assert!(ok, "database did not reach the replica");
        name
    }

    /// Stop the replica (fast shutdown: its sessions are terminated).
    pub fn stop_replica(&self) {
        assert!(self.pg_ctl_stop(&self.replica_dir()), "stop replica");
    }

    pub fn start_replica(&self) {
        self.pg_ctl_start(&self.replica_dir());
    }

    pub async fn pause_replay(&self) {
        execute(&self.replica_url("postgres"), "SELECT pg_wal_replay_pause()").await;
    }

    pub async fn resume_replay(&self) {
        execute(&self.replica_url("postgres"), "SELECT pg_wal_replay_resume()").await;
    }

    /// Stop the primary (as when it fails).
    pub fn stop_primary(&self) {
        assert!(self.pg_ctl_stop(&self.primary_dir()), "stop primary");
    }

    /// Crash the primary: immediate shutdown, no checkpoint, nothing more sent to the replica.
    pub fn crash_primary(&self) {
        let out = as_postgres(&[
            &self.tool("pg_ctl"),
            "-D",
            &self.primary_dir().to_string_lossy(),
            "-m",
            "immediate",
            "-w",
            "-t",
            "60",
            "stop",
        ]);
        check(out, "pg_ctl stop -m immediate");
    }

    /// Promote the replica and wait until it accepts writes.
    pub async fn promote(&self) {
        check(
            as_postgres(&[
                &self.tool("pg_ctl"),
                "-D",
                &self.replica_dir().to_string_lossy(),
                "-w",
                "-t",
                "60",
                "promote",
            ]),
            "pg_ctl promote",
        );
        let url = self.replica_url("postgres");
        let ok =
            crate::common::wait_until(PG_WAIT, || {
                let url = url.clone();
                async move {
                    query_i64(&url, "SELECT CASE WHEN pg_is_in_recovery() THEN 0 ELSE 1 END::bigint").await == Some(1)
                }
            })
            .await;
        assert!(ok, "replica did not leave recovery");
    }

    /// Wait until the replica has replayed everything the primary has written so far.
    pub async fn wait_caught_up(&self) {
        let lsn_q = "SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint";
        let target = query_i64(&self.primary_url("postgres"), lsn_q).await.expect("primary lsn");
        let url = self.replica_url("postgres");
        let ok = crate::common::wait_until(PG_WAIT, || {
            let url = url.clone();
            async move {
                query_i64(&url, "SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint")
                    .await
                    .is_some_and(|l| l >= target)
            }
        })
        .await;
        assert!(ok, "replica did not catch up");
    }
}

impl Drop for PgPair {
    fn drop(&mut self) {
        if !self.stopped {
            self.stopped = true;
            let _ = self.pg_ctl_stop(&self.replica_dir());
            let _ = self.pg_ctl_stop(&self.primary_dir());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn append_as_postgres(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(path).expect("open config to append");
    f.write_all(text.as_bytes()).expect("append config");
}

/// One value from `sql`, or None when the server cannot answer (down, starting, refusing).
pub async fn query_i64(url: &str, sql: &str) -> Option<i64> {
    let connect = tokio_postgres::connect(url, tokio_postgres::NoTls);
    let (client, conn) = tokio::time::timeout(Duration::from_secs(5), connect).await.ok()?.ok()?;
    let task = tokio::spawn(conn);
    let row = tokio::time::timeout(Duration::from_secs(10), client.query_one(sql, &[])).await.ok()?;
    let row = row.ok();
    drop(client);
    let _ = task.await;
    row.and_then(|r| r.try_get::<_, i64>(0).ok())
}

/// Run `sql` (panics on failure: it is the test's own setup).
pub async fn execute(url: &str, sql: &str) {
    let (client, conn) =
        tokio::time::timeout(Duration::from_secs(10), tokio_postgres::connect(url, tokio_postgres::NoTls))
            .await
            .expect("connect in time")
            .expect("connect");
    let task = tokio::spawn(conn);
    client.simple_query(sql).await.expect("statement");
    drop(client);
    let _ = task.await;
}

/// The node's `/metrics` text, as the metrics server would render it.
pub async fn metrics_text(node: &starling::server::Node) -> String {
    node.state.metrics.render(&node.state.store)
}
