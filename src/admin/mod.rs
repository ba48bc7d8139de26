//! `starling admin ...`: the operator's CLI, in mmctl's command names and flags where mmctl has
//! them. It speaks only the public API (so the node that takes a change tells every other node),
//! with a saved login or personal access token (`auth login`), or local mode's Unix socket
//! (`--local`, for when no admin can log in).
//!
//! Output is a table for people and JSON with `--json` for scripts. Exit codes: 0 done; 1 the
//! server refused or failed (its message, error id and status on stderr) or a check failed
//! (`system status`); 2 a bad command line or a missing login; 3 the server could not be reached.

mod client;
mod commands;
pub mod credentials;
mod output;

use clap::{Args, Subcommand};
pub use client::{CliError, CliResult};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct AdminArgs {
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Talk to the node on this machine over local mode's socket, without a login
    /// (ServiceSettings.EnableLocalMode).
    #[arg(long, global = true)]
    pub local: bool,
    /// Local mode's socket (default: ServiceSettings.LocalModeSocketLocation's default).
    #[arg(long, global = true, env = "MMCTL_LOCAL_SOCKET_PATH", default_value = "/var/tmp/mattermost_local.socket")]
    pub local_socket_path: PathBuf,
    /// The credentials file (default: $XDG_CONFIG_HOME/starling/admin.json).
    #[arg(long, global = true, env = "STARLING_ADMIN_CONFIG")]
    pub config_path: Option<PathBuf>,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Log in to servers and pick the one commands go to.
    #[command(subcommand)]
    Auth(AuthCmd),
    /// Read and change the config (every node hears of a change).
    #[command(subcommand)]
    Config(ConfigCmd),
    /// The server's health and version.
    #[command(subcommand)]
    System(SystemCmd),
    /// The cluster's nodes.
    #[command(subcommand)]
    Cluster(ClusterCmd),
    /// Users.
    #[command(subcommand)]
    User(UserCmd),
    /// Teams.
    #[command(subcommand)]
    Team(TeamCmd),
    /// Channels.
    #[command(subcommand)]
    Channel(ChannelCmd),
    /// Posts.
    #[command(subcommand)]
    Post(PostCmd),
    /// Background jobs.
    #[command(subcommand)]
    Job(JobCmd),
    /// The database connections.
    #[command(subcommand)]
    Db(DbCmd),
    /// The node this command talks to.
    #[command(subcommand)]
    Node(NodeCmd),
    /// Plugins.
    #[command(subcommand)]
    Plugin(PluginCmd),
}

#[derive(Subcommand, Debug)]
pub enum AuthCmd {
    /// Log in to a server and make it the current one.
    Login {
        /// The server's address (http://host:8065 or behind the load balancer).
        url: String,
        /// A name for this login (default: the host).
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        username: Option<String>,
        #[arg(long)]
        password: Option<String>,
        /// Read the password from this file (so it is not in the shell's history).
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// A personal access token instead of a username and password.
        #[arg(long)]
        access_token: Option<String>,
        #[arg(long)]
        access_token_file: Option<PathBuf>,
    },
    /// The saved logins.
    List,
    /// Make a saved login the current one.
    Switch { name: String },
    /// The current login.
    Current,
    /// Forget a saved login.
    Delete { name: String },
}

#[derive(Subcommand, Debug)]
pub enum ConfigCmd {
    /// One setting, by its dotted name (ServiceSettings.SiteURL).
    Get { key: String },
    /// Change one setting (several values make a list).
    Set {
        key: String,
        #[arg(required = true)]
        values: Vec<String>,
    },
    /// Merge a JSON file into the config.
    Patch { file: PathBuf },
    /// The whole config (secrets masked).
    Show,
    /// Have the node re-read its config source.
    Reload,
    /// Copy a config from one store to another (a file or a postgres:// URL), as
    /// `starling config migrate` does; this one works on this machine, not through the API.
    Migrate { from: String, to: String },
}

#[derive(Subcommand, Debug)]
pub enum SystemCmd {
    /// Health of the node, its database and its file store; exits 1 if any is not OK.
    Status,
    /// The server's version.
    Version,
    /// Whether the server answers, and which node did.
    Ping,
}

#[derive(Subcommand, Debug)]
pub enum ClusterCmd {
    /// Every node: version, config hash, leader, state and why.
    Status,
}

#[derive(Subcommand, Debug)]
pub enum UserCmd {
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        username: String,
        #[arg(long)]
        password: String,
        #[arg(long)]
        first_name: Option<String>,
        #[arg(long)]
        last_name: Option<String>,
        #[arg(long)]
        nickname: Option<String>,
        /// Make the user a system admin.
        #[arg(long)]
        system_admin: bool,
    },
    List {
        #[arg(long, default_value_t = 0)]
        page: u32,
        #[arg(long, default_value_t = 200)]
        per_page: u32,
        /// Every page.
        #[arg(long)]
        all: bool,
    },
    /// Find users by username, email or id.
    Search {
        #[arg(required = true)]
        users: Vec<String>,
    },
    Activate {
        #[arg(required = true)]
        users: Vec<String>,
    },
    Deactivate {
        #[arg(required = true)]
        users: Vec<String>,
    },
    /// Set a user's system role: `system_admin` or `member`.
    Role { user: String, role: String },
}

#[derive(Subcommand, Debug)]
pub enum TeamCmd {
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        display_name: String,
        /// Invite only.
        #[arg(long)]
        private: bool,
    },
    List,
    /// Archive teams (their channels and posts are kept).
    Archive {
        #[arg(required = true)]
        teams: Vec<String>,
    },
    /// Team membership.
    #[command(subcommand)]
    Users(MembersCmd),
}

#[derive(Subcommand, Debug)]
pub enum MembersCmd {
    Add {
        target: String,
        #[arg(required = true)]
        users: Vec<String>,
    },
    Remove {
        target: String,
        #[arg(required = true)]
        users: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ChannelCmd {
    Create {
        #[arg(long)]
        team: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        display_name: String,
        #[arg(long)]
        private: bool,
        #[arg(long)]
        purpose: Option<String>,
        #[arg(long)]
        header: Option<String>,
    },
    /// A team's channels.
    List { team: String },
    /// Archive channels (`team:channel` or an id).
    Archive {
        #[arg(required = true)]
        channels: Vec<String>,
    },
    /// Channel membership (`team:channel` or an id).
    #[command(subcommand)]
    Users(MembersCmd),
}

#[derive(Subcommand, Debug)]
pub enum PostCmd {
    /// Post as the logged-in user into `team:channel` (or a channel id).
    Create {
        channel: String,
        #[arg(long)]
        message: String,
        /// The id of the post to reply to.
        #[arg(long)]
        reply_to: Option<String>,
    },
    /// The newest posts of `team:channel`, oldest first.
    List {
        channel: String,
        #[arg(long, short = 'n', default_value_t = 20)]
        number: u32,
    },
}

#[derive(Subcommand, Debug)]
pub enum JobCmd {
    List {
        #[arg(long = "type")]
        job_type: Option<String>,
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 0)]
        page: u32,
        #[arg(long, default_value_t = 50)]
        per_page: u32,
    },
    /// Queue a job of a type.
    Create { job_type: String },
    /// Ask a pending or running job to stop.
    Cancel {
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum NodeCmd {
    /// Drain the node and have it leave: its websocket clients move to other nodes over a few
    /// seconds, then it leaves the cluster and exits (as on SIGTERM). Talk to that node itself
    /// (`--local` on its machine, or a login to its own address), not to the load balancer.
    Drain {
        /// Wait until the node has exited (at most 60 s).
        #[arg(long)]
        wait: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum DbCmd {
    /// Close and reopen every node's database connections (after a failover).
    Recycle,
}

#[derive(Subcommand, Debug)]
pub enum PluginCmd {
    /// Upload plugin bundles (.tar.gz); every node installs them.
    Add {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    Enable {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    Disable {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    Delete {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    List,
}

/// Run one admin command; the process's exit code.
pub fn run(args: AdminArgs) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(commands::run(&args)) {
        Ok(code) => code,
        Err(e) => {
            match &e {
                CliError::Api { detail, .. } if !detail.is_empty() => eprintln!("Error: {e}: {detail}"),
                _ => eprintln!("Error: {e}"),
            }
            ExitCode::from(match e {
                CliError::Api { .. } => 1,
                CliError::Usage(_) => 2,
                CliError::Transport(_) => 3,
            })
        }
    }
}
