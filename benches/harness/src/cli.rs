//! Command-line interface: one subcommand per scenario, plus the hidden `worker` the harness
//! re-executes itself as to hold websocket clients in several processes.

use clap::{Args, Parser, Subcommand};
use std::net::IpAddr;
use std::path::PathBuf;

/// The most websocket clients one worker process holds (the open-file limit is per process).
pub const MAX_PER_WORKER: u64 = 4_000;

#[derive(Debug, Parser)]
#[command(name = "starling-bench", version, about = "Load harness for Starling (Mattermost API v4 + websocket)")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Only build the fixture (users logged in, team, channel) and save the logins to --sessions:
    /// restart the node afterwards to measure memory without the setup's password hashing.
    Setup(SetupArgs),
    /// Open N authenticated idle websockets and report the node's RSS per connection.
    Idle(IdleArgs),
    /// One channel, many connected members: post and measure delivery latency and rate.
    Fanout(FanoutArgs),
    /// Internal: a child process holding websocket clients, driven over stdin/stdout JSON lines.
    #[command(hide = true)]
    Worker(WorkerArgs),
}

/// Options every scenario shares: where the node is, the fixture, and how clients are spread.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Base URL of the node (http://host:port).
    #[arg(long, default_value = "http://127.0.0.1:8065")]
    pub url: String,
    /// How many distinct users the connections are spread over (created or reused by name).
    #[arg(long, default_value_t = 500)]
    pub users: usize,
    /// Prefix of every name the harness creates: users PREFIX-u00001, team PREFIX, admin PREFIXadmin.
    #[arg(long, default_value = "bench")]
    pub prefix: String,
    /// Password of every harness user.
    #[arg(long, default_value = "bench-password-1")]
    pub password: String,
    /// Concurrent API requests while setting up (sign-up and login hash passwords: keep it modest).
    #[arg(long, default_value_t = 16)]
    pub setup_concurrency: usize,
    /// Seconds the whole setup phase may take.
    #[arg(long, default_value_t = 900)]
    pub setup_timeout: u64,
    /// Websocket clients per worker process (at most 4000).
    #[arg(long, default_value_t = MAX_PER_WORKER, value_parser = clap::value_parser!(u64).range(1..=MAX_PER_WORKER))]
    pub per_worker: u64,
    /// Connection attempts in flight per worker.
    #[arg(long, default_value_t = 32)]
    pub connect_concurrency: usize,
    /// Seconds one connection may take to connect, upgrade and receive `hello`.
    #[arg(long, default_value_t = 30)]
    pub connect_timeout: u64,
    /// Seconds a whole connect phase (one checkpoint) may take.
    #[arg(long, default_value_t = 600)]
    pub phase_timeout: u64,
    /// Seconds after which workers exit whatever happens.
    #[arg(long, default_value_t = 3_600)]
    pub max_duration: u64,
    /// Do not bind workers' sockets to 127.0.0.2, 127.0.0.3, ... (done only for loopback targets).
    #[arg(long)]
    pub no_source_bind: bool,
    /// Reuse the logins saved in this file (and save new ones there). A run that reuses them
    /// makes the node hash no password, so its RSS is not inflated by setup.
    #[arg(long)]
    pub sessions: Option<PathBuf>,
    /// Write the JSON report here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct SetupArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Also create this channel with every user as a member (as `fanout` does).
    #[arg(long)]
    pub channel: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct IdleArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Process id of the node, whose RSS is measured.
    #[arg(long)]
    pub pid: u32,
    /// Connections to open in total.
    #[arg(long, default_value_t = 15_000)]
    pub connections: usize,
    /// Connection counts at which RSS is reported (comma separated); the total is always one.
    /// Default: 5000 (when below the total) and the total.
    #[arg(long, value_delimiter = ',')]
    pub checkpoints: Vec<usize>,
    /// Seconds to stay idle before each RSS reading.
    #[arg(long, default_value_t = 5)]
    pub settle: u64,
}

#[derive(Debug, Clone, Args)]
pub struct FanoutArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Websocket connections, all members of the one channel (spread over --users).
    #[arg(long, default_value_t = 10_000)]
    pub members: usize,
    /// Posts to make, one at a time.
    #[arg(long, default_value_t = 5)]
    pub posts: usize,
    /// Seconds to wait for every delivery of one post.
    #[arg(long, default_value_t = 30)]
    pub post_timeout: u64,
    /// Milliseconds of quiet between posts.
    #[arg(long, default_value_t = 1_000)]
    pub pause_ms: u64,
    /// Name of the channel (in the harness team).
    #[arg(long, default_value = "fanout")]
    pub channel: String,
    /// Process id of the node, to report its RSS as well (optional).
    #[arg(long)]
    pub pid: Option<u32>,
}

#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// Position of this worker among its siblings (for messages only).
    #[arg(long)]
    pub index: usize,
    /// Websocket URL (ws://host:port/api/v4/websocket).
    #[arg(long)]
    pub ws_url: String,
    /// Local address to bind client sockets to.
    #[arg(long)]
    pub source: Option<IpAddr>,
    /// Run id: only posts stamped with it are counted.
    #[arg(long)]
    pub run_id: String,
    /// Exit after this many seconds even if the parent is still there.
    #[arg(long)]
    pub max_duration: u64,
}
