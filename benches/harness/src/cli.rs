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
    /// One channel, many connected members: post and measure delivery latency and rate
    /// (`--baseline`: and the same against a bare tokio websocket broadcast server).
    Fanout(FanoutArgs),
    /// The mixed workload of Mattermost's load test over one or more nodes: fixed users or a ramp
    /// under the gates, post->`posted` latency same-node and cross-node, lost and duplicated
    /// events, optionally a node killed mid-run.
    Run(Box<RunArgs>),
    /// Post creation throughput as a ratio to raw INSERTs of the same rows into the same database.
    Throughput(ThroughputArgs),
    /// Token revocation: logout on node A, then /users/me on node B; propagation and stale accepts.
    Revoke(RevokeArgs),
    /// Post on node A, `posted` on a websocket on node B (and on A): latency percentiles.
    Latency(LatencyArgs),
    /// SIGKILL a node; time until every other node reports it red in /cluster/status.
    Killdetect(KilldetectArgs),
    /// Watch the cluster for a long time with no node killed and count "down" verdicts (false
    /// ones, by construction); `scripts/soak` adds packet loss and a CPU-starved node.
    Soak(SoakArgs),
    /// Internal: a child process holding websocket clients, driven over stdin/stdout JSON lines.
    #[command(hide = true)]
    Worker(WorkerArgs),
}

/// Options every scenario shares: where the node is, the fixture, and how clients are spread.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Base URL of a node (http://host:port). `run` takes several (users are spread over them);
    /// the other scenarios use one.
    #[arg(long = "url", default_value = "http://127.0.0.1:8065")]
    pub urls: Vec<String>,
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

impl CommonArgs {
    /// The node URL of the single-node scenarios (the first `--url`).
    pub fn url(&self) -> &str {
        self.urls.first().map(String::as_str).unwrap_or("http://127.0.0.1:8065")
    }
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
    /// After the readings, keep the connections open this many seconds more (for attaching idle
    /// clients to a cluster while another command measures it, as target 2 asks), then report how
    /// many are still open.
    #[arg(long, default_value_t = 0)]
    pub hold: u64,
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
    /// Afterwards, run the same posts against a bare tokio websocket broadcast server inside the
    /// harness, over the same number of connections, and print the ratio of deliveries/s.
    #[arg(long)]
    pub baseline: bool,
    /// Only the baseline server (no node needed).
    #[arg(long)]
    pub baseline_only: bool,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Seconds of the measured action phase (in `--ramp` mode: at most this long).
    #[arg(long, default_value_t = 60)]
    pub duration: u64,
    /// Channels in the team (default: one per 8 users). Sizes are skewed: many small, a few large.
    #[arg(long)]
    pub channels: Option<usize>,
    /// Channels each user is a member of.
    #[arg(long, default_value_t = 3)]
    pub channels_per_user: usize,
    /// Shortest idle pause between two actions of a user, in ms (Mattermost: 1 s).
    #[arg(long, default_value_t = 1_000)]
    pub pause_min_ms: u64,
    /// Mean idle pause, in ms (Mattermost: 20 s); exponentially distributed above the minimum.
    #[arg(long, default_value_t = 20_000)]
    pub pause_mean_ms: u64,
    /// Action weights, e.g. `fetch=48,scroll=15,post=7,unread=7,thread=2,reconnect=1,dm=2,status=8,profiles=8,react=2`
    /// (the default); names left out keep their default weight.
    #[arg(long)]
    pub mix: Option<String>,
    /// Share of created posts that are replies (Mattermost: 18 %).
    #[arg(long, default_value_t = 0.18)]
    pub reply_share: f64,
    /// Share of created posts that carry a file (Mattermost: 2 %).
    #[arg(long, default_value_t = 0.02)]
    pub file_share: f64,
    /// Size of an attached file, in bytes.
    #[arg(long, default_value_t = 4_096)]
    pub file_size: usize,
    /// Seconds one REST request may take before it counts as a timeout.
    #[arg(long, default_value_t = 30)]
    pub request_timeout: u64,
    /// A client whose socket dropped reconnects after a random 0..this many ms, then backs off.
    #[arg(long, default_value_t = 500)]
    pub reconnect_jitter_ms: u64,
    /// After a reconnect without resume, REST catch-up starts this many ms before the socket was lost.
    #[arg(long, default_value_t = 10_000)]
    pub catchup_margin_ms: u64,
    /// Seconds allowed at the end for every client to hold every post of its channels.
    #[arg(long, default_value_t = 15)]
    pub drain_timeout: u64,
    /// Find the supported user count: start with --ramp-start users, add --ramp-step while the
    /// gates pass over a --ramp-interval window, remove --ramp-step when one fails, until the count
    /// is flat (--ramp-flips direction changes) or --duration ends. --users is the pool's size.
    #[arg(long)]
    pub ramp: bool,
    #[arg(long, default_value_t = 8)]
    pub ramp_start: usize,
    #[arg(long, default_value_t = 8)]
    pub ramp_step: usize,
    /// Seconds per ramp window.
    #[arg(long, default_value_t = 10)]
    pub ramp_interval: u64,
    #[arg(long, default_value_t = 4)]
    pub ramp_flips: usize,
    /// Gate: request p99 in ms (benchmarks.md target 10: 150; Mattermost: 2000).
    #[arg(long, default_value_t = 150.0)]
    pub gate_p99_ms: f64,
    /// Gate: request mean in ms (target 10: 15; Mattermost: 100).
    #[arg(long, default_value_t = 15.0)]
    pub gate_mean_ms: f64,
    /// Gate: share of requests that may fail with 5xx, a timeout or a transport error
    /// (target 10: 0; Mattermost: 0.00025).
    #[arg(long, default_value_t = 0.0)]
    pub gate_error_rate: f64,
    /// Node processes whose RSS and CPU are sampled every second (repeatable).
    #[arg(long = "pid")]
    pub pids: Vec<u32>,
    /// PostgreSQL URL of the nodes' database: also measure raw INSERTs of post rows there.
    #[arg(long)]
    pub pg: Option<String>,
    /// Write the latency plot here (default: the JSON path with .svg).
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// Node URLs whose /cluster/status the chaos scenario polls (default: every --url that
    /// reaches one node; give them when clients go through a balancer).
    #[arg(long = "node-url")]
    pub node_urls: Vec<String>,
    /// SIGKILL this node process --chaos-at seconds into the action phase.
    #[arg(long)]
    pub chaos_kill_pid: Option<u32>,
    #[arg(long, default_value_t = 10)]
    pub chaos_at: u64,
    /// After the kill (and --chaos-restart-after seconds), run this shell command to restart it.
    #[arg(long)]
    pub chaos_restart_cmd: Option<String>,
    /// After the kill, start the process again with its own command line, environment and
    /// directory (read from /proc before the kill).
    #[arg(long)]
    pub chaos_restart_same: bool,
    #[arg(long, default_value_t = 5)]
    pub chaos_restart_after: u64,
    /// Write the restarted process's pid here (e.g. dev/n2/starling.pid).
    #[arg(long)]
    pub chaos_pid_file: Option<PathBuf>,
    /// Seed of the users' random choices.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Test only: one client drops one `posted` event, so the loss accounting must report 1.
    #[arg(long, hide = true)]
    pub drop_one_event_for_test: bool,
}

/// What the small cluster scenarios share: nodes, names, the report.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// Base URLs of the nodes (http://host:port), in order.
    #[arg(long = "url", required = true)]
    pub urls: Vec<String>,
    #[arg(long, default_value = "bench")]
    pub prefix: String,
    #[arg(long, default_value = "bench-password-1")]
    pub password: String,
    /// Write the JSON report here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct ThroughputArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// PostgreSQL URL of the nodes' database (the raw INSERT baseline runs there).
    #[arg(long)]
    pub pg: String,
    /// Posts (and raw INSERTs) in flight at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Channels the posters spread over (default: one each, as the raw INSERTs spread over 16
    /// channel ids; 1 measures a single hot channel).
    #[arg(long)]
    pub channels: Option<usize>,
    /// Seconds each of the two measurements lasts.
    #[arg(long, default_value_t = 15)]
    pub duration: u64,
}

#[derive(Debug, Clone, Args)]
pub struct RevokeArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Sessions to revoke, one at a time.
    #[arg(long, default_value_t = 200)]
    pub sessions: usize,
    /// Logins in flight while preparing the sessions (each hashes a password).
    #[arg(long, default_value_t = 2)]
    pub login_concurrency: usize,
}

#[derive(Debug, Clone, Args)]
pub struct LatencyArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Posts to make on the first node.
    #[arg(long, default_value_t = 1_000)]
    pub posts: usize,
    /// Posts per second (open loop).
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// Posts in flight at most (a slow node then lowers the rate rather than piling up).
    #[arg(long, default_value_t = 64)]
    pub max_in_flight: usize,
}

#[derive(Debug, Clone, Args)]
pub struct KilldetectArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// The node process to SIGKILL (one of the --url nodes).
    #[arg(long, required_unless_present = "pid_file")]
    pub pid: Option<u32>,
    /// Read the pid from this file (and write the restarted process's pid back).
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Kills to make; between two, the node is restarted (--restart-same or --restart-cmd) and
    /// the harness waits until every node is green again.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    #[arg(long)]
    pub restart_cmd: Option<String>,
    #[arg(long)]
    pub restart_same: bool,
    /// Seconds to wait for the survivors to report the node red.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
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

#[derive(Debug, Clone, Args)]
pub struct SoakArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Each node's metrics URL (http://host:port/metrics), in --url order: exact transition
    /// counts. Without them, only what polling sees is counted.
    #[arg(long = "metrics")]
    pub metrics: Vec<String>,
    /// Seconds to watch.
    #[arg(long, default_value_t = 3_600)]
    pub duration: u64,
    /// How often each node's /cluster/status is polled.
    #[arg(long, default_value_t = 200)]
    pub interval_ms: u64,
    /// What the cluster is put through (free text, copied into the report).
    #[arg(long)]
    pub conditions: Option<String>,
}
