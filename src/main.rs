//! The `starling` command: parse the CLI, load the config, build the logger, run the node.

use clap::{Parser, Subcommand};

/// mimalloc: far less fragmentation than glibc's per-thread arenas under many connections and
/// bursts of password hashing.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::path::PathBuf;
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
        /// The config file; created from defaults if missing.
        #[arg(long, short = 'c', env = "MM_CONFIG", default_value = "config.json")]
        config: PathBuf,
    },
    /// Check a config file (with the environment's overrides) and print the effective config.
    CheckConfig {
        #[arg(long, short = 'c', env = "MM_CONFIG", default_value = "config.json")]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => serve(config),
        Command::CheckConfig { config } => match starling::config::load(&config) {
            Ok(loaded) => {
                println!("{}", serde_json::to_string_pretty(&loaded.config).unwrap_or_default());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("starling: invalid config: {e}");
                ExitCode::from(2)
            }
        },
    }
}

fn serve(path: PathBuf) -> ExitCode {
    let loaded = match starling::config::load(&path) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("starling: invalid config: {e}");
            return ExitCode::from(2);
        }
    };
    let (log, guard) = match starling::logging::build(&loaded.config.log_settings) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("starling: cannot open the log file: {e}");
            return ExitCode::from(2);
        }
    };
    actix_web::rt::System::new().block_on(async move {
        match starling::server::run(loaded, log.clone()).await {
            Ok(()) => {
                drop(log);
                drop(guard);
                ExitCode::SUCCESS
            }
            Err(e) => {
                slog::crit!(log, "node failed"; "error" => format!("{e:#}"));
                eprintln!("starling: {e:#}");
                drop(log);
                drop(guard); // flushes the log
                             // Leave now: tearing the runtime down under half-started actors helps nobody.
                std::process::exit(1)
            }
        }
    })
}
