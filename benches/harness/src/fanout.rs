//! `fanout`: one channel whose members hold `--members` websockets; posts made one at a time,
//! each timed from its wall-clock send stamp to its first and last `posted` delivery.

use crate::cli::FanoutArgs;
use crate::report::{self, fmt};
use crate::scenario::{self, Ctx};
use crate::stats::{self, LatencyMs, Spread};
use crate::workers::protocol::{Command, Event};
use crate::workers::{self, Received};
use crate::ws;
use anyhow::{anyhow, Result};
use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::json;
use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime};

const STATUS_TIMEOUT: Duration = Duration::from_secs(10);
/// How long workers may take to answer `GetDeliveries` after a post timed out.
const REPORT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Serialize)]
struct PostFigures {
    seq: u64,
    post_id: String,
    /// Connections open just before the post.
    expected: u64,
    delivered: u64,
    missing: u64,
    timed_out: bool,
    /// The POST /posts round trip, as the sender saw it.
    post_http_ms: f64,
    first_delivery_ms: Option<f64>,
    last_delivery_ms: Option<f64>,
    first_to_last_ms: Option<f64>,
    /// delivered / (last - first).
    deliveries_per_s: Option<f64>,
    /// delivered / last (counting from the send).
    deliveries_per_s_from_send: Option<f64>,
    delivery_ms: Option<LatencyMs>,
}

pub async fn run(a: FanoutArgs) -> Result<()> {
    let c = &a.common;
    if let Some(pid) = a.pid {
        report::rss(pid)?;
    }
    let mut ctx = Ctx::start(c, a.members, Some(&a.channel)).await?;
    let measured = measure(&mut ctx, &a).await;
    let common = ctx.common_figures(c);
    let Ctx { pool, machine, .. } = ctx;
    pool.shutdown().await;
    let m = measured?;

    let table: Vec<Vec<String>> = m
        .posts
        .iter()
        .map(|p| {
            vec![
                p.seq.to_string(),
                p.expected.to_string(),
                p.delivered.to_string(),
                fmt(Some(p.post_http_ms), 1),
                fmt(p.first_delivery_ms, 1),
                fmt(p.last_delivery_ms, 1),
                fmt(p.first_to_last_ms, 1),
                fmt(p.deliveries_per_s, 0),
                fmt(p.delivery_ms.map(|l| l.p99), 1),
            ]
        })
        .collect();
    let header =
        ["post", "expected", "delivered", "POST ms", "first ms", "last ms", "first->last ms", "deliveries/s", "p99 ms"];
    report::print_table(
        &format!("fan-out: {} connections over {} users, one channel", m.open_at_start, c.users),
        &header,
        &table,
    );
    let summary = Summary::of(&m.posts);
    let line = |name: &str, s: Option<Spread>, d: usize| {
        vec![
            name.to_owned(),
            fmt(s.map(|s| s.p50), d),
            fmt(s.map(|s| s.p99), d),
            fmt(s.map(|s| s.min), d),
            fmt(s.map(|s| s.max), d),
        ]
    };
    report::print_table(
        &format!("over {} posts", m.posts.len()),
        &["", "p50", "p99", "min", "max"],
        &[
            line("first delivery ms", summary.first_delivery_ms, 1),
            line("last delivery ms", summary.last_delivery_ms, 1),
            line("first->last ms", summary.first_to_last_ms, 1),
            line("deliveries/s", summary.deliveries_per_s, 0),
            line("POST round trip ms", summary.post_http_ms, 1),
        ],
    );
    let all = LatencyMs::of(&m.all_deliveries);
    println!(
        "every delivery: n={} p50={} p99={} p99.9={} max={} ms; missing deliveries: {}",
        all.map_or(0, |l| l.count),
        fmt(all.map(|l| l.p50), 1),
        fmt(all.map(|l| l.p99), 1),
        fmt(all.map(|l| l.p999), 1),
        fmt(all.map(|l| l.max), 1),
        m.posts.iter().map(|p| p.missing).sum::<u64>()
    );
    let figures = json!({
        "scenario": common,
        "members": a.members,
        "posts_requested": a.posts,
        "channel": a.channel,
        "connect": m.connect,
        "open_at_start": m.open_at_start,
        "node_rss_bytes": m.rss,
        "posts": m.posts,
        "summary": summary,
        "delivery_latency_ms": all,
        "deliveries_missing": m.posts.iter().map(|p| p.missing).sum::<u64>(),
    });
    scenario::finish(c, "fanout", &machine, figures)
}

struct Measured {
    connect: serde_json::Value,
    open_at_start: u64,
    rss: serde_json::Value,
    posts: Vec<PostFigures>,
    all_deliveries: Histogram<u64>,
}

#[derive(Debug, Serialize)]
struct Summary {
    first_delivery_ms: Option<Spread>,
    last_delivery_ms: Option<Spread>,
    first_to_last_ms: Option<Spread>,
    deliveries_per_s: Option<Spread>,
    post_http_ms: Option<Spread>,
}

impl Summary {
    fn of(posts: &[PostFigures]) -> Self {
        let s = |f: fn(&PostFigures) -> Option<f64>| Spread::of(&posts.iter().filter_map(f).collect::<Vec<_>>());
        Self {
            first_delivery_ms: s(|p| p.first_delivery_ms),
            last_delivery_ms: s(|p| p.last_delivery_ms),
            first_to_last_ms: s(|p| p.first_to_last_ms),
            deliveries_per_s: s(|p| p.deliveries_per_s),
            post_http_ms: s(|p| Some(p.post_http_ms)),
        }
    }
}

async fn measure(ctx: &mut Ctx, a: &FanoutArgs) -> Result<Measured> {
    let c = &a.common;
    let rss_before = a.pid.map(report::rss).transpose()?;
    let batches = workers::spread(0..a.members, ctx.pool.len(), &ctx.tokens);
    let out = ctx
        .pool
        .connect(
            batches,
            c.connect_concurrency,
            Ctx::per_conn_timeout(c),
            Duration::from_secs(c.phase_timeout),
            "connect members",
        )
        .await?;
    report::note(format!("connected {} of {} in {:.1}s", out.ok, a.members, out.elapsed.as_secs_f64()));
    let connect = json!({
        "ok": out.ok,
        "failed": out.failed,
        "unfinished": out.unfinished,
        "elapsed_s": out.elapsed.as_secs_f64(),
        "connect_ms": LatencyMs::of(&out.connect_us),
        "errors": out.errors,
    });
    for e in &out.errors {
        report::note(format!("connect error: {e}"));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let open_at_start = ctx.pool.status(STATUS_TIMEOUT).await?.open;
    let rss_connected = a.pid.map(report::rss).transpose()?;

    let channel_id = ctx.fixture.channel_id.clone().ok_or_else(|| anyhow!("the fixture has no channel"))?;
    let mut posts = Vec::new();
    let mut all = stats::histogram();
    let bar = report::bar(a.posts as u64, "posts");
    for seq in 1..=a.posts as u64 {
        let p = one_post(ctx, a, &channel_id, seq, &mut all).await?;
        report::note(format!(
            "post {seq}: {}/{} delivered, first {} ms, last {} ms",
            p.delivered,
            p.expected,
            fmt(p.first_delivery_ms, 1),
            fmt(p.last_delivery_ms, 1)
        ));
        posts.push(p);
        bar.inc(1);
        tokio::time::sleep(Duration::from_millis(a.pause_ms)).await;
    }
    bar.finish_and_clear();
    let rss_after = a.pid.map(report::rss).transpose()?;
    Ok(Measured {
        connect,
        open_at_start,
        rss: json!({ "before": rss_before, "connected": rss_connected, "after_posts": rss_after }),
        posts,
        all_deliveries: all,
    })
}

/// Make post `seq` and wait until every worker has all its deliveries, or the post timeout.
async fn one_post(
    ctx: &mut Ctx,
    a: &FanoutArgs,
    channel_id: &str,
    seq: u64,
    all: &mut Histogram<u64>,
) -> Result<PostFigures> {
    let st = ctx.pool.status(STATUS_TIMEOUT).await?;
    let mut waiting: HashSet<usize> =
        st.open_by_worker.iter().enumerate().filter(|(_, &open)| open > 0).map(|(w, _)| w).collect();
    let sent = SystemTime::now();
    let t0 = Instant::now();
    let message = ws::stamp(&ctx.run_id, seq, ws::unix_us(sent));
    let post = ctx.api.create_post(&ctx.fixture.admin.token, channel_id, &message).await?;
    let post_http_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let deadline = t0 + Duration::from_secs(a.post_timeout);

    let mut got = Vec::new();
    let mut timed_out = false;
    while !waiting.is_empty() {
        match ctx.pool.recv(deadline).await {
            Received::Event(w, ev @ Event::Deliveries { seq: s, complete: true, .. }) if s == seq => {
                if waiting.remove(&w) {
                    got.push(ev);
                }
            }
            Received::Event(w, Event::Error { message }) => report::note(format!("worker {w}: {message}")),
            Received::Event(..) => {}
            Received::Exited(w) => {
                waiting.remove(&w);
            }
            Received::Timeout => {
                timed_out = true;
                break;
            }
        }
    }
    if timed_out {
        // Ask the stragglers what they have so far.
        for &w in &waiting {
            ctx.pool.send(w, &Command::GetDeliveries { seq }).await?;
        }
        let until = Instant::now() + REPORT_TIMEOUT;
        while !waiting.is_empty() {
            match ctx.pool.recv(until).await {
                Received::Event(w, ev @ Event::Deliveries { seq: s, .. }) if s == seq => {
                    if waiting.remove(&w) {
                        got.push(ev);
                    }
                }
                Received::Event(..) => {}
                Received::Exited(w) => {
                    waiting.remove(&w);
                }
                Received::Timeout => break,
            }
        }
    }

    let mut delivered = 0;
    let mut first: Option<i64> = None;
    let mut last: Option<i64> = None;
    let mut hist = stats::histogram();
    for ev in got {
        if let Event::Deliveries { count, first_us, last_us, latency_us, .. } = ev {
            delivered += count;
            first = match (first, first_us) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            last = match (last, last_us) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            stats::merge(&mut hist, &latency_us);
        }
    }
    // Both come from stats::histogram(), with the same bounds: adding cannot fail.
    if all.add(&hist).is_err() {
        report::note("delivery histograms did not merge");
    }
    let ms = |us: i64| us as f64 / 1000.0;
    let spread_s = match (first, last) {
        (Some(f), Some(l)) => Some(((l - f).max(1)) as f64 / 1e6),
        _ => None,
    };
    Ok(PostFigures {
        seq,
        post_id: post.get("id").and_then(|v| v.as_str()).unwrap_or_default().to_owned(),
        expected: st.open,
        delivered,
        missing: st.open.saturating_sub(delivered),
        timed_out,
        post_http_ms,
        first_delivery_ms: first.map(ms),
        last_delivery_ms: last.map(ms),
        first_to_last_ms: first.zip(last).map(|(f, l)| ms(l - f)),
        deliveries_per_s: spread_s.map(|s| delivered as f64 / s),
        deliveries_per_s_from_send: last.filter(|&l| l > 0).map(|l| delivered as f64 / (l as f64 / 1e6)),
        delivery_ms: LatencyMs::of(&hist),
    })
}
