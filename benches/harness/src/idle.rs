//! `idle`: open N authenticated idle websockets, and report the node's RSS per connection at
//! checkpoints (benchmarks.md target 1: <= 8 KiB per connection at 15k).

use crate::cli::IdleArgs;
use crate::report::{self, fmt, Rss};
use crate::scenario::{self, Ctx};
use crate::stats::LatencyMs;
use crate::workers::{self, Pool};
use anyhow::{bail, Result};
use serde::Serialize;
use serde_json::json;
use std::time::Duration;

/// benchmarks.md, target 1.
const TARGET_KIB_PER_CONN: f64 = 8.0;
const STATUS_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Serialize)]
struct Checkpoint {
    connections: usize,
    /// Connections open (hello received, still up) when RSS was read.
    open: u64,
    failed: u64,
    unfinished: u64,
    closed_by_server: u64,
    rss_bytes: u64,
    hwm_bytes: u64,
    delta_bytes: i64,
    bytes_per_connection: Option<f64>,
    kib_per_connection: Option<f64>,
    /// Growth since the previous checkpoint divided by the connections added since.
    marginal_bytes_per_connection: Option<f64>,
    connect_phase_s: f64,
    connect_ms: Option<LatencyMs>,
    errors: Vec<String>,
}

/// The checkpoints in order, ending at the total: the given ones, or 5000 and the total.
fn checkpoints(given: &[usize], total: usize) -> Result<Vec<usize>> {
    let mut cps: Vec<usize> =
        if given.is_empty() { [5_000, total].into_iter().filter(|&c| c <= total).collect() } else { given.to_vec() };
    if let Some(&c) = cps.iter().find(|&&c| c == 0 || c > total) {
        bail!("checkpoint {c} is outside 1..={total}");
    }
    cps.push(total);
    cps.sort_unstable();
    cps.dedup();
    Ok(cps)
}

pub async fn run(a: IdleArgs) -> Result<()> {
    let c = &a.common;
    let cps = checkpoints(&a.checkpoints, a.connections)?;
    // Fail before any setup if the node can't be measured.
    report::rss(a.pid)?;
    let mut ctx = Ctx::start(c, a.connections, None).await?;
    let hashed = ctx.fixture.users.len() - ctx.fixture.reused_logins;
    if hashed > 0 {
        report::note(format!(
            "warning: the node hashed passwords for {hashed} logins just now; allocators keep that memory, \
             so RSS per connection may read low or negative. For a clean figure: `starling-bench setup \
             --sessions FILE`, restart the node, then `idle --sessions FILE`"
        ));
    }
    let measured = measure(&mut ctx, &a, &cps).await;
    let held = match (&measured, a.hold) {
        (Ok(_), secs) if secs > 0 => Some(hold(&mut ctx, secs).await?),
        _ => None,
    };
    let common = ctx.common_figures(c);
    let Ctx { pool, machine, .. } = ctx;
    pool.shutdown().await;
    let (baseline, rows) = measured?;

    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.connections.to_string(),
                r.open.to_string(),
                (r.failed + r.unfinished).to_string(),
                fmt(Some(r.rss_bytes as f64 / 1048576.0), 1),
                fmt(Some(r.delta_bytes as f64 / 1048576.0), 1),
                fmt(r.bytes_per_connection, 0),
                fmt(r.kib_per_connection, 2),
                fmt(r.marginal_bytes_per_connection.map(|b| b / 1024.0), 2),
                fmt(r.connect_ms.map(|l| l.p50), 1),
                fmt(r.connect_ms.map(|l| l.p99), 1),
            ]
        })
        .collect();
    report::print_table(
        &format!(
            "idle websockets: node pid {} RSS before {:.1} MiB (target <= {TARGET_KIB_PER_CONN} KiB/conn)",
            a.pid,
            baseline.rss_bytes as f64 / 1048576.0
        ),
        &[
            "conns",
            "open",
            "failed",
            "RSS MiB",
            "+RSS MiB",
            "B/conn",
            "KiB/conn",
            "marginal KiB/conn",
            "connect p50 ms",
            "p99 ms",
        ],
        &table,
    );
    for r in &rows {
        for e in &r.errors {
            println!("  connect error at {}: {e}", r.connections);
        }
    }
    let last = rows.last();
    if last.is_some_and(|r| r.delta_bytes < 0) {
        println!("  RSS fell while connecting: the node reused memory freed earlier; see the warning above");
    }
    let figures = json!({
        "scenario": common,
        "pid": a.pid,
        "connections": a.connections,
        "settle_s": a.settle,
        "hold_s": a.hold,
        "open_after_hold": held,
        "logins_hashed_during_run": hashed,
        "baseline": baseline,
        "checkpoints": rows,
        "target_kib_per_connection": TARGET_KIB_PER_CONN,
        "kib_per_connection": last.and_then(|r| r.kib_per_connection),
        "meets_target": last.and_then(|r| r.kib_per_connection).map(|k| k <= TARGET_KIB_PER_CONN),
    });
    scenario::finish(c, "idle", &machine, figures)
}

/// Keep the connections open `secs` seconds (reporting every 10 s how many are), then return how
/// many still are.
async fn hold(ctx: &mut Ctx, secs: u64) -> Result<u64> {
    report::note(format!("holding the connections open for {secs}s"));
    let until = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        tokio::time::sleep(left.min(Duration::from_secs(10))).await;
        let st = ctx.pool.status(STATUS_TIMEOUT).await?;
        report::note(format!("holding: {} open, {} closed by the server", st.open, st.closed));
        if left <= Duration::from_secs(10) {
            return Ok(st.open);
        }
    }
}

async fn measure(ctx: &mut Ctx, a: &IdleArgs, cps: &[usize]) -> Result<(Rss, Vec<Checkpoint>)> {
    let c = &a.common;
    let settle = Duration::from_secs(a.settle);
    tokio::time::sleep(settle).await;
    let baseline = report::rss(a.pid)?;
    report::note(format!("node RSS before: {:.1} MiB", baseline.rss_bytes as f64 / 1048576.0));
    let mut rows: Vec<Checkpoint> = Vec::new();
    let mut opened = 0;
    let (mut failed, mut unfinished) = (0, 0);
    for &cp in cps {
        let pool: &mut Pool = &mut ctx.pool;
        let batches = workers::spread(opened..cp, pool.len(), &ctx.tokens);
        let out = pool
            .connect(
                batches,
                c.connect_concurrency,
                Ctx::per_conn_timeout(c),
                Duration::from_secs(c.phase_timeout),
                &format!("connect {}..{cp}", opened + 1),
            )
            .await?;
        opened = cp;
        failed += out.failed;
        unfinished += out.unfinished;
        report::note(format!(
            "connected {} of {} in {:.1}s ({} failed); idle for {}s",
            out.ok,
            out.ok + out.failed + out.unfinished,
            out.elapsed.as_secs_f64(),
            out.failed + out.unfinished,
            a.settle
        ));
        tokio::time::sleep(settle).await;
        let st = pool.status(STATUS_TIMEOUT).await?;
        let now = report::rss(a.pid)?;
        let delta = now.rss_bytes as i64 - baseline.rss_bytes as i64;
        let per = (st.open > 0).then(|| delta as f64 / st.open as f64);
        let (prev_rss, prev_open) = rows.last().map_or((baseline.rss_bytes, 0), |r| (r.rss_bytes, r.open));
        let marginal =
            (st.open > prev_open).then(|| (now.rss_bytes as f64 - prev_rss as f64) / (st.open - prev_open) as f64);
        report::note(format!(
            "{} open: node RSS {:.1} MiB, {} B/conn",
            st.open,
            now.rss_bytes as f64 / 1048576.0,
            fmt(per, 0)
        ));
        rows.push(Checkpoint {
            connections: cp,
            open: st.open,
            failed,
            unfinished,
            closed_by_server: st.closed,
            rss_bytes: now.rss_bytes,
            hwm_bytes: now.hwm_bytes,
            delta_bytes: delta,
            bytes_per_connection: per,
            kib_per_connection: per.map(|b| b / 1024.0),
            marginal_bytes_per_connection: marginal,
            connect_phase_s: out.elapsed.as_secs_f64(),
            connect_ms: LatencyMs::of(&out.connect_us),
            errors: out.errors,
        });
    }
    Ok((baseline, rows))
}

#[cfg(test)]
mod tests {
    use super::checkpoints;

    #[test]
    fn default_and_given_checkpoints() {
        assert_eq!(checkpoints(&[], 15_000).unwrap(), [5_000, 15_000]);
        assert_eq!(checkpoints(&[], 5_000).unwrap(), [5_000]);
        assert_eq!(checkpoints(&[], 100).unwrap(), [100]);
        assert_eq!(checkpoints(&[10, 5], 20).unwrap(), [5, 10, 20]);
        assert!(checkpoints(&[30], 20).is_err());
    }
}
