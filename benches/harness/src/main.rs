//! starling-bench: the load harness bundled with Starling.
//!
//! Module map:
//! - `cli`: the subcommands and their options (`setup`, `idle`, `fanout`, `run`, `throughput`,
//!   `revoke`, `latency`, `killdetect`, `soak`, hidden `worker`).
//! - `api`: the Mattermost API v4 calls the harness makes while setting up.
//! - `setup`: the fixture (admin, team, channel, users logged in), built concurrently.
//! - `ws`: the websocket client (source address, auth on upgrade, `hello`, frame parsing) and
//!   post stamps.
//! - `workers`: worker processes holding the clients (`child`) and the parent's `Pool`,
//!   talking JSON lines (`protocol`).
//! - `scenario`: what `idle` and `fanout` do first and last.
//! - `mixed`: the `run` scenario: plan, channels, simulated users (`user`, `engine` in the
//!   workers), loss accounting (`book`), ramp and gates, summary.
//! - `micro`: cluster micro-benchmarks (`throughput`, `revoke`, `latency`, `killdetect`).
//! - `chaos`: killing, watching and restarting a node. `procs`: RSS and CPU of node processes.
//! - `baseline`: raw PostgreSQL INSERTs and a bare tokio websocket broadcast server.
//! - `stats`: histograms that cross processes, percentiles; `report`: progress, tables, JSON;
//!   `svg`: the latency plot.

// The run report is one large `json!` literal.
#![recursion_limit = "256"]

mod api;
mod baseline;
mod chaos;
mod cli;
mod fanout;
mod idle;
mod micro;
mod mixed;
mod procs;
mod report;
mod scenario;
mod setup;
mod stats;
mod svg;
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
        Command::Run(args) => runtime().and_then(|rt| rt.block_on(mixed::run(*args))),
        Command::Throughput(args) => runtime().and_then(|rt| rt.block_on(micro::throughput::run(args))),
        Command::Revoke(args) => runtime().and_then(|rt| rt.block_on(micro::revoke::run(args))),
        Command::Latency(args) => runtime().and_then(|rt| rt.block_on(micro::latency::run(args))),
        Command::Killdetect(args) => runtime().and_then(|rt| rt.block_on(micro::killdetect::run(args))),
        Command::Soak(args) => runtime().and_then(|rt| rt.block_on(micro::soak::run(args))),
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
