//! The `starling` command: parse the CLI, load the config, build the logger, run the node.

use clap::{Parser, Subcommand};

/// mimalloc: far less fragmentation than glibc's per-thread arenas under many connections and
/// bursts of password hashing.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use starling::config::source::{load_at_start, ConfigSource};
use starling::config::ConfigError;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "starling", version, about = "A Mattermost-compatible, highly available team-chat server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node.
    Serve {
        /// The config: a file (created from defaults if missing) or a database URL
        /// (`postgres://...`: the config is kept in its `configurations` table, shared by every node).
        #[arg(long, short = 'c', env = "MM_CONFIG", default_value = "config.json")]
        config: String,
    },
    /// Check a config (with the environment's overrides) and print the effective config, its
    /// secrets masked as the config API masks them. A missing file is an error (nothing is written).
    CheckConfig {
        #[arg(long, short = 'c', env = "MM_CONFIG", default_value = "config.json")]
        config: String,
    },
    /// Administer a running cluster through its API (mmctl's commands): `starling admin --help`.
    Admin(starling::admin::AdminArgs),
    /// Config operations.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Copy a config from one place to another, e.g. from config.json into the database:
    /// `starling config migrate config.json postgres://...`. Environment overrides are not copied.
    Migrate { from: String, to: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => serve(ConfigSource::parse(&config)),
        Command::Admin(args) => starling::admin::run(args),
        Command::CheckConfig { config } => block_on(async move {
            let source = ConfigSource::parse(&config);
            // A check only checks: a missing file is an error here (`serve` creates it).
            if let ConfigSource::File(path) = &source {
                if let Err(e) = std::fs::metadata(path) {
                    return invalid(ConfigError::Read { path: path.clone(), source: e });
                }
            }
            match load_at_start(&source).await {
                Ok(loaded) => {
                    // Secrets masked exactly as `GET /api/v4/config` masks them.
                    let shown = starling::config::sanitized(&loaded.config);
                    println!("{}", serde_json::to_string_pretty(&shown).unwrap_or_default());
                    ExitCode::SUCCESS
                }
                Err(e) => invalid(e),
            }
        }),
        Command::Config { action: ConfigAction::Migrate { from, to } } => block_on(async move {
            let (from, to) = (ConfigSource::parse(&from), ConfigSource::parse(&to));
            // Check it decodes and is valid (without the environment), then store it as it was.
            let stored = match from.read().await {
                Ok(v) => v,
                Err(e) => return invalid(e),
            };
            let stored = match starling::config::from_stored(stored, std::iter::empty()) {
                Ok((_, _, stored)) => stored,
                Err(e) => return invalid(e),
            };
            match to.write(&stored).await {
                Ok(()) => {
                    println!("config copied from {} to {}", from.describe(), to.describe());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("starling: {e}");
                    ExitCode::FAILURE
                }
            }
        }),
    }
}

fn block_on(f: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    actix_web::rt::System::new().block_on(f)
}

fn invalid(e: ConfigError) -> ExitCode {
    starling::server::config_error_exit(e)
}

fn serve(source: ConfigSource) -> ExitCode {
    starling::server::serve_process(source, |b| b)
}
