//! Cluster micro-benchmarks, each a subcommand: `throughput` (post creation against raw
//! INSERTs), `revoke` (logout on A, rejected on B), `latency` (post on A, `posted` on B) and
//! `killdetect` (SIGKILL a node, time until the others report it red) and `soak` (no kill: count
//! false "down" verdicts over a long run).

pub mod killdetect;
pub mod latency;
pub mod revoke;
pub mod soak;
pub mod throughput;

use crate::api::Api;
use crate::cli::{ClusterArgs, CommonArgs};
use crate::report::{self, Machine};
use crate::setup::{self, Fixture};
use anyhow::Result;
use serde_json::Value;
use std::time::Duration;

/// The fixture of a micro-benchmark: `users` users (and `channel` with all of them), built
/// through the first URL.
pub async fn fixture(c: &ClusterArgs, users: usize, channel: Option<&str>) -> Result<(Api, Fixture)> {
    let common = CommonArgs {
        urls: c.urls.clone(),
        users: users.max(1),
        prefix: c.prefix.clone(),
        password: c.password.clone(),
        setup_concurrency: 4,
        setup_timeout: 900,
        per_worker: 1,
        connect_concurrency: 1,
        connect_timeout: 30,
        phase_timeout: 600,
        max_duration: 3_600,
        no_source_bind: true,
        sessions: None,
        json: None,
    };
    let api = Api::new(&c.urls[0], 8)?;
    let f = setup::prepare(&api, &common, channel).await?;
    Ok((api, f))
}

/// A client without retries, for timing single requests.
pub fn raw_client(pool: usize) -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(pool)
        .tcp_nodelay(true)
        .build()?)
}

pub fn api_url(base: &str, path: &str) -> String {
    format!("{}/api/v4{path}", base.trim_end_matches('/'))
}

/// Print the machine and command, and write the flat JSON report when asked.
pub fn finish(c: &ClusterArgs, mode: &str, machine: &Machine, figures: Value) -> Result<()> {
    println!("\nmachine: {}", machine.describe());
    println!("command: {}", report::command_line());
    if let Some(p) = &c.json {
        report::write_json(p, &report::flat_envelope(mode, machine, figures))?;
    }
    Ok(())
}
