//! starling-bench: the load harness bundled with Starling.
//!
//! Module map:
//! - `cli`: the subcommands and their options (`idle`, `fanout`, hidden `worker`).
//! - `api`: the Mattermost API v4 calls the harness makes.
//! - `setup`: the fixture (admin, team, channel, users logged in), built concurrently.
//! - `ws`: the websocket client (source address, auth on upgrade, `hello`) and post stamps.
//! - `workers`: worker processes holding the clients (`child`) and the parent's `Pool`,
//!   talking JSON lines (`protocol`).
//! - `scenario`: what every scenario does first and last; `idle` and `fanout` are scenarios
//!   (`setup` alone builds the fixture and saves the logins).
//! - `stats`: histograms that cross processes, percentiles; `report`: progress, tables, JSON.

mod api;
mod cli;
mod fanout;
mod idle;
mod report;
mod scenario;
mod setup;
mod stats;
mod workers;
mod ws;

use clap::Parser;
use cli::{Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Worker(args) => workers::child::main(args),
        Command::Setup(args) => runtime().and_then(|rt| rt.block_on(setup::run(args))),
        Command::Idle(args) => runtime().and_then(|rt| rt.block_on(idle::run(args))),
        Command::Fanout(args) => runtime().and_then(|rt| rt.block_on(fanout::run(args))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("starling-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?)
}
