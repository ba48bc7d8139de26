//! `starling serve`, with the example extensions: the word filter (words from
//! `STARLING_EXAMPLES_REFUSE` and `STARLING_EXAMPLES_MASK`, comma-separated) and, when
//! `STARLING_EXAMPLES_DIGEST_CHANNEL` and `STARLING_EXAMPLES_DIGEST_USER` are set, the channel
//! digest every `STARLING_EXAMPLES_DIGEST_SECONDS` (default 60).

use clap::{Parser, Subcommand};
use starling::config::source::ConfigSource;
use starling_examples::{ChannelDigest, WordFilter, Words};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "starling-examples", about = "A Starling node with the example extensions")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node.
    Serve {
        #[arg(long, short = 'c', env = "MM_CONFIG", default_value = "config.json")]
        config: String,
        #[arg(long, env = "STARLING_EXAMPLES_REFUSE", value_delimiter = ',')]
        refuse: Vec<String>,
        #[arg(long, env = "STARLING_EXAMPLES_MASK", value_delimiter = ',')]
        mask: Vec<String>,
        #[arg(long, env = "STARLING_EXAMPLES_DIGEST_CHANNEL")]
        digest_channel: Option<String>,
        #[arg(long, env = "STARLING_EXAMPLES_DIGEST_USER")]
        digest_user: Option<String>,
        #[arg(long, env = "STARLING_EXAMPLES_DIGEST_SECONDS", default_value_t = 60)]
        digest_seconds: u64,
    },
}

fn main() -> ExitCode {
    let Command::Serve { config, refuse, mask, digest_channel, digest_user, digest_seconds } = Cli::parse().command;
    starling::server::serve_process(ConfigSource::parse(&config), move |b| {
        let b = b.extension(WordFilter { words: Words { refuse, mask } });
        match (digest_channel, digest_user) {
            (Some(channel_id), Some(user_id)) => {
                b.extension(ChannelDigest { channel_id, user_id, every: Duration::from_secs(digest_seconds.max(1)) })
            }
            _ => b,
        }
    })
}
