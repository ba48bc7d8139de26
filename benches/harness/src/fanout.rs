//! `fanout`: one channel whose members hold `--members` websockets; posts made one at a time,
//! each timed from its wall-clock send stamp to its first and last `posted` delivery.

use crate::baseline::ws_server::{posted_prefix, BroadcastServer};
use crate::cli::FanoutArgs;
use crate::report::{self, fmt};
use crate::scenario::{self, Ctx};
use crate::stats::{self, LatencyMs, Spread};
use crate::workers::protocol::{Command, Event};
use crate::workers::{self, Pool, PoolConfig, Received};
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
    if c.urls.len() > 1 {
        anyhow::bail!("fanout measures one node: give one --url");
    }
    if a.baseline_only {
        let machine = report::Machine::probe();
        let b = baseline(&a).await?;
        print_posts(&format!("bare tokio websocket broadcast server: {} connections", b.open_at_start), &b.posts);
        let figures = json!({ "members": a.members, "baseline": b.figures() });
        return scenario::finish(c, "fanout-baseline", &machine, figures);
    }
    if let Some(pid) = a.pid {
        report::rss(pid)?;
    }
    let mut ctx = Ctx::start(c, a.members, Some(&a.channel)).await?;
    let measured = measure(&mut ctx, &a).await;
    let common = ctx.common_figures(c);
    let Ctx { pool, machine, .. } = ctx;
    pool.shutdown().await;
    let m = measured?;

    print_posts(&format!("fan-out: {} connections over {} users, one channel", m.open_at_start, c.users), &m.posts);
    let summary = Summary::of(&m.posts);
    print_summary(m.posts.len(), &summary);
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
    let base = if a.baseline { Some(baseline(&a).await?) } else { None };
    let ratio = base.as_ref().and_then(|b| {
        let ours = summary.deliveries_per_s.map(|s| s.p50)?;
        let theirs = Summary::of(&b.posts).deliveries_per_s.map(|s| s.p50)?;
        (theirs > 0.0).then(|| ours / theirs)
    });
    if let Some(b) = &base {
        print_posts(&format!("bare tokio websocket broadcast server: {} connections", b.open_at_start), &b.posts);
        print_summary(b.posts.len(), &Summary::of(&b.posts));
        println!(
            "\nfan-out ratio (median deliveries/s, Starling / bare tokio broadcast): {} (benchmarks.md target 3: >= 0.7)",
            fmt(ratio, 2)
        );
    }
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
        "baseline": base.as_ref().map(Baseline::figures),
        "ratio_deliveries_per_s": ratio,
    });
    scenario::finish(c, "fanout", &machine, figures)
}

fn print_posts(title: &str, posts: &[PostFigures]) {
    let table: Vec<Vec<String>> = posts
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
    report::print_table(title, &header, &table);
}

fn print_summary(n: usize, summary: &Summary) {
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
        &format!("over {n} posts"),
        &["", "p50", "p99", "min", "max"],
        &[
            line("first delivery ms", summary.first_delivery_ms, 1),
            line("last delivery ms", summary.last_delivery_ms, 1),
            line("first->last ms", summary.first_to_last_ms, 1),
            line("deliveries/s", summary.deliveries_per_s, 0),
            line("POST round trip ms", summary.post_http_ms, 1),
        ],
    );
}

/// The same posts against the bare tokio websocket broadcast server, over as many connections.
struct Baseline {
    open_at_start: u64,
    posts: Vec<PostFigures>,
    lagged: u64,
}

impl Baseline {
    fn figures(&self) -> serde_json::Value {
        json!({
            "server": "tokio + tokio-tungstenite broadcast (in the harness)",
            "open_at_start": self.open_at_start,
            "posts": self.posts,
            "summary": Summary::of(&self.posts),
            "frames_lagged": self.lagged,
        })
    }
}

async fn baseline(a: &FanoutArgs) -> Result<Baseline> {
    let c = &a.common;
    let server = BroadcastServer::start().await?;
    report::note(format!("baseline: bare tokio websocket broadcast server on {}", server.addr));
    let ws_url = ws::ws_url(&server.url())?;
    let run_id = format!("base{:x}", std::process::id());
    let workers = a.members.div_ceil(c.per_worker as usize).max(1);
    let mut pool = Pool::spawn(PoolConfig {
        workers,
        ws_url: &ws_url,
        bind_sources: !c.no_source_bind,
        run_id: &run_id,
        max_duration: c.max_duration,
    })
    .await?;
    let tokens: Vec<String> = vec!["baseline".to_owned()];
    let batches = workers::spread(0..a.members, pool.len(), &tokens);
    let result = async {
        let out = pool
            .connect(
                batches,
                c.connect_concurrency,
                Duration::from_secs(c.connect_timeout),
                Duration::from_secs(c.phase_timeout),
                "baseline: connect",
            )
            .await?;
        report::note(format!("baseline: connected {} of {} in {:.1}s", out.ok, a.members, out.elapsed.as_secs_f64()));
        tokio::time::sleep(Duration::from_secs(2)).await;
        let open_at_start = pool.status(STATUS_TIMEOUT).await?.open;
        report::note(format!(
            "baseline: the server holds {} connections",
            server.connections.load(std::sync::atomic::Ordering::Relaxed)
        ));
        let mut posts = Vec::new();
        let mut all = stats::histogram();
        for seq in 1..=a.posts as u64 {
            let p = one_post(&mut pool, &run_id, a, seq, &mut all, Trigger::Baseline(&server)).await?;
            report::note(format!(
                "baseline post {seq}: {}/{} delivered, first {} ms, last {} ms",
                p.delivered,
                p.expected,
                fmt(p.first_delivery_ms, 1),
                fmt(p.last_delivery_ms, 1)
            ));
            posts.push(p);
            tokio::time::sleep(Duration::from_millis(a.pause_ms)).await;
        }
        Ok::<_, anyhow::Error>((open_at_start, posts))
    }
    .await;
    pool.shutdown().await;
    let (open_at_start, posts) = result?;
    Ok(Baseline { open_at_start, posts, lagged: server.lagged.load(std::sync::atomic::Ordering::Relaxed) })
}

/// What makes a post happen.
enum Trigger<'a> {
    /// POST /posts on the node.
    Node { api: &'a crate::api::Api, token: &'a str, channel_id: &'a str },
    /// A frame from the baseline server.
    Baseline(&'a BroadcastServer),
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
        let trigger = Trigger::Node { api: &ctx.api, token: &ctx.fixture.admin.token, channel_id: &channel_id };
        let p = one_post(&mut ctx.pool, &ctx.run_id, a, seq, &mut all, trigger).await?;
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
    pool: &mut Pool,
    run_id: &str,
    a: &FanoutArgs,
    seq: u64,
    all: &mut Histogram<u64>,
    trigger: Trigger<'_>,
) -> Result<PostFigures> {
    let st = pool.status(STATUS_TIMEOUT).await?;
    let mut waiting: HashSet<usize> =
        st.open_by_worker.iter().enumerate().filter(|(_, &open)| open > 0).map(|(w, _)| w).collect();
    let sent = SystemTime::now();
    let t0 = Instant::now();
    let message = ws::stamp(run_id, seq, ws::unix_us(sent));
    let post_id = match trigger {
        Trigger::Node { api, token, channel_id } => {
            let post = api.create_post(token, channel_id, &message).await?;
            post.get("id").and_then(|v| v.as_str()).unwrap_or_default().to_owned()
        }
        Trigger::Baseline(server) => {
            server.broadcast(posted_prefix(&message, "baselinechannel0000000000"));
            String::new()
        }
    };
    let post_http_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let deadline = t0 + Duration::from_secs(a.post_timeout);

    let mut got = Vec::new();
    let mut timed_out = false;
    while !waiting.is_empty() {
        match pool.recv(deadline).await {
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
            pool.send(w, &Command::GetDeliveries { seq }).await?;
        }
        let until = Instant::now() + REPORT_TIMEOUT;
        while !waiting.is_empty() {
            match pool.recv(until).await {
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
        post_id,
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
