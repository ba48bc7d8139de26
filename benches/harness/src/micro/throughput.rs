//! `throughput`: how fast the nodes create posts with `--concurrency` posters in a closed loop,
//! against how fast the same database takes raw INSERTs of the same rows from as many
//! connections (benchmarks.md target 5: ratio >= 0.5).

use super::{api_url, raw_client};
use crate::baseline::pg;
use crate::cli::ThroughputArgs;
use crate::report::{self, fmt, Machine};
use crate::stats::{self, LatencyMs};
use crate::ws;
use anyhow::Result;
use serde_json::json;
use std::time::{Duration, Instant, SystemTime};

/// Posting before the measured window starts (connections, caches, JIT of the planner).
const WARM_UP: Duration = Duration::from_secs(2);
/// benchmarks.md target 5.
const TARGET: f64 = 0.5;

pub async fn run(a: ThroughputArgs) -> Result<()> {
    let c = &a.cluster;
    let machine = Machine::probe();
    report::note(format!("machine: {}", machine.describe()));
    let posters = a.concurrency.max(1);
    let (api, f) = super::fixture(c, posters, None).await?;
    let n_channels = a.channels.unwrap_or(posters).clamp(1, posters);
    let mut channels = Vec::with_capacity(n_channels);
    for k in 0..n_channels {
        channels.push(api.ensure_channel(&f.admin.token, &f.team_id, &format!("{}-tp{:03}", c.prefix, k + 1)).await?);
    }
    for (i, u) in f.users.iter().enumerate() {
        api.add_channel_member(&f.admin.token, &channels[i % n_channels], &u.user_id).await?;
    }
    let http = raw_client(posters)?;
    let run_id = format!("tp{:x}", std::process::id());
    let t0 = Instant::now();
    let start = t0 + WARM_UP;
    let end = start + Duration::from_secs(a.duration);
    report::note(format!(
        "{posters} posters in {n_channels} channel(s) over {} node(s) for {}s (after {WARM_UP:?} of warm-up)",
        c.urls.len(),
        a.duration
    ));
    let tasks = f.users.iter().enumerate().map(|(i, u)| {
        let (http, url, token, channel, run_id) = (
            http.clone(),
            api_url(&c.urls[i % c.urls.len()], "/posts"),
            u.token.clone(),
            channels[i % n_channels].clone(),
            run_id.clone(),
        );
        tokio::spawn(async move {
            let mut h = stats::histogram();
            let (mut ok, mut failed, mut seq) = (0u64, 0u64, 0u64);
            while Instant::now() < end {
                seq += 1;
                let sent = ws::unix_us(SystemTime::now());
                let message = ws::stamp_with_node(&run_id, (i as u64) << 40 | seq, sent, None);
                let t = Instant::now();
                let r = http
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&json!({"channel_id": channel, "message": message}))
                    .send()
                    .await;
                let good = matches!(&r, Ok(resp) if resp.status().is_success());
                if let Ok(resp) = r {
                    drop(resp.bytes().await);
                }
                if t >= start {
                    if good {
                        ok += 1;
                        stats::record(&mut h, t.elapsed().as_micros() as i64);
                    } else {
                        failed += 1;
                    }
                }
            }
            (ok, failed, h)
        })
    });
    let mut hist = stats::histogram();
    let (mut ok, mut failed) = (0, 0);
    for t in futures_util::future::join_all(tasks).await {
        let (o, fl, h) = t?;
        ok += o;
        failed += fl;
        if let Err(e) = hist.add(&h) {
            report::note(format!("post histograms did not merge: {e}"));
        }
    }
    let secs = Instant::now().duration_since(start).as_secs_f64().max(1e-9);
    let posts_per_s = ok as f64 / secs;
    report::note(format!("nodes: {posts_per_s:.0} posts/s ({failed} failed); now raw INSERTs"));
    let raw = pg::insert_rate(&a.pg, posters, Duration::from_secs(a.duration), 110).await?;
    let ratio = posts_per_s / raw.rows_per_s.max(1e-9);
    let post_ms = LatencyMs::of(&hist);
    report::print_table(
        &format!("post creation ({n_channels} channels) against raw INSERTs of the same rows, same database"),
        &["", "per s", "p50 ms", "p99 ms", "count", "failed"],
        &[
            vec![
                "POST /posts".into(),
                fmt(Some(posts_per_s), 0),
                fmt(post_ms.map(|l| l.p50), 2),
                fmt(post_ms.map(|l| l.p99), 2),
                ok.to_string(),
                failed.to_string(),
            ],
            vec![
                "raw INSERT".into(),
                fmt(Some(raw.rows_per_s), 0),
                fmt(raw.insert_ms.map(|l| l.p50), 2),
                fmt(raw.insert_ms.map(|l| l.p99), 2),
                raw.rows.to_string(),
                "0".into(),
            ],
        ],
    );
    println!("\nratio posts/s over raw inserts/s: {ratio:.3} (benchmarks.md target 5: >= {TARGET})");
    let figures = json!({
        "urls": c.urls,
        "concurrency": posters,
        "channels": n_channels,
        "duration_s": a.duration,
        "posts": ok,
        "posts_failed": failed,
        "posts_per_s": posts_per_s,
        "post_latency_ms": post_ms,
        "raw_inserts": raw,
        "ratio": ratio,
        "target": TARGET,
    });
    super::finish(c, "throughput", &machine, figures)
}
