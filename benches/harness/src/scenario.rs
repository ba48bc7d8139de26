//! What every scenario does first (fixture, worker processes) and last (table, JSON report).

use crate::api::Api;
use crate::cli::CommonArgs;
use crate::report::{self, Machine};
use crate::setup::{self, Fixture};
use crate::workers::{Pool, PoolConfig};
use crate::ws;
use anyhow::{bail, Result};
use serde_json::{json, Value};
use std::time::Duration;

pub struct Ctx {
    pub api: Api,
    pub fixture: Fixture,
    pub pool: Pool,
    /// One per user, in user order.
    pub tokens: Vec<String>,
    pub machine: Machine,
    pub run_id: String,
}

impl Ctx {
    /// Build the fixture (with `channel` when given) and start enough workers for `connections`.
    pub async fn start(c: &CommonArgs, connections: usize, channel: Option<&str>) -> Result<Self> {
        if connections == 0 {
            bail!("nothing to connect: the connection count is 0");
        }
        let machine = Machine::probe();
        report::note(format!("machine: {}", machine.describe()));
        let ws_url = ws::ws_url(c.url())?;
        let dest = ws::resolve(&ws_url).await?;
        let bind_sources = !c.no_source_bind && dest.is_ipv4() && dest.ip().is_loopback();
        let api = Api::new(c.url(), c.setup_concurrency.max(1))?;
        let fixture = setup::prepare(&api, c, channel).await?;
        report::note(format!(
            "setup: {} users ({} new, {} saved logins reused) in {:.1}s",
            fixture.users.len(),
            fixture.created_users,
            fixture.reused_logins,
            fixture.elapsed.as_secs_f64()
        ));
        let tokens = fixture.users.iter().map(|u| u.token.clone()).collect();
        let per_worker = c.per_worker as usize;
        let workers = connections.div_ceil(per_worker);
        let run_id = format!("{:x}{:x}", std::process::id(), starling_protocol::now_ms());
        let pool = Pool::spawn(PoolConfig {
            workers,
            ws_url: &ws_url,
            bind_sources,
            run_id: &run_id,
            max_duration: c.max_duration,
        })
        .await?;
        report::note(format!(
            "{workers} worker processes, up to {per_worker} connections each{}",
            if bind_sources { ", sources 127.0.0.2.." } else { "" }
        ));
        Ok(Self { api, fixture, pool, tokens, machine, run_id })
    }

    pub fn per_conn_timeout(c: &CommonArgs) -> Duration {
        Duration::from_secs(c.connect_timeout)
    }

    /// The part of the JSON report that every scenario shares.
    pub fn common_figures(&self, c: &CommonArgs) -> Value {
        json!({
            "url": c.url(),
            "users": self.fixture.users.len(),
            "users_created": self.fixture.created_users,
            "logins_reused": self.fixture.reused_logins,
            "team_id": self.fixture.team_id,
            "channel_id": self.fixture.channel_id,
            "setup_s": self.fixture.elapsed.as_secs_f64(),
            "workers": self.pool.len(),
            "source_addresses": self.pool.sources.iter().flatten().map(|ip| ip.to_string()).collect::<Vec<_>>(),
        })
    }
}

/// Write the JSON report when asked to, and say where.
pub fn finish(c: &CommonArgs, mode: &str, machine: &Machine, figures: Value) -> Result<()> {
    println!("\nmachine: {}", machine.describe());
    println!("command: {}", report::command_line());
    if let Some(path) = &c.json {
        report::write_json(path, &report::envelope(mode, machine, figures))?;
    }
    Ok(())
}
