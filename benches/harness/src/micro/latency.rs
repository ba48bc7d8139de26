//! `latency`: posts made on node A at a steady rate; one websocket of a channel member on node B
//! (cross node) and one on node A (same node) time each `posted` event from the moment its
//! request was sent (one process, monotonic clock).

use super::{api_url, raw_client};
use crate::cli::LatencyArgs;
use crate::report::{self, fmt, Machine};
use crate::stats::{self, LatencyMs};
use crate::ws;
use anyhow::{anyhow, bail, Result};
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

/// How long to wait for the last events after the last post.
const TAIL: Duration = Duration::from_secs(10);

type Sent = Arc<Mutex<HashMap<u64, Instant>>>;

struct Receiver {
    node: String,
    hist: Histogram<u64>,
    seen: HashSet<u64>,
    duplicates: u64,
}

/// Read `posted` events of this run until `stop`, timing each against its send instant.
async fn receive(mut sock: ws::Ws, node: String, run_id: String, sent: Sent, stop: Instant) -> Receiver {
    let mut r = Receiver { node, hist: stats::histogram(), seen: HashSet::new(), duplicates: 0 };
    loop {
        let left = stop.saturating_duration_since(Instant::now());
        let msg = match tokio::time::timeout(left, sock.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => t,
            Ok(Some(Ok(_))) => continue,
            _ => break,
        };
        let now = Instant::now();
        let Some(m) = ws::posted_message(msg.as_str()) else { continue };
        let Some((seq, _)) = ws::parse_stamp(&m, &run_id) else { continue };
        if !r.seen.insert(seq) {
            r.duplicates += 1;
            continue;
        }
        let at = sent.lock().unwrap_or_else(|p| p.into_inner()).get(&seq).copied();
        if let Some(at) = at {
            stats::record(&mut r.hist, now.duration_since(at).as_micros() as i64);
        }
    }
    drop(tokio::time::timeout(Duration::from_secs(1), sock.close(None)).await);
    r
}

pub async fn run(a: LatencyArgs) -> Result<()> {
    let c = &a.cluster;
    if c.urls.len() < 2 {
        bail!("latency needs two nodes: --url A (posts) --url B (websocket)");
    }
    if a.rate <= 0.0 {
        bail!("--rate must be positive");
    }
    let machine = Machine::probe();
    report::note(format!("machine: {}", machine.describe()));
    let (_, f) = super::fixture(c, 2, Some("latency")).await?;
    let channel = f.channel_id.clone().ok_or_else(|| anyhow!("no channel"))?;
    let (poster, watcher) = (&f.users[0], &f.users[1]);
    let run_id = format!("lat{:x}", std::process::id());
    let sent: Sent = Arc::new(Mutex::new(HashMap::new()));

    let mut open = Vec::new();
    for base in [&c.urls[1], &c.urls[0]] {
        let url = ws::ws_url(base)?;
        let dest = ws::resolve(&url).await?;
        let mut sock = ws::upgrade(dest, None, &url, &watcher.token).await?;
        let hello = ws::read_hello(&mut sock).await?;
        open.push((sock, hello.node_id));
    }
    if open[0].1 == open[1].1 {
        report::note(format!("warning: both URLs reached node {}: the cross-node figure is same-node", open[0].1));
    }
    let duration = Duration::from_secs_f64(a.posts as f64 / a.rate);
    let stop = Instant::now() + duration + TAIL + Duration::from_secs(5);
    let receivers: Vec<_> = open
        .into_iter()
        .map(|(sock, node)| tokio::spawn(receive(sock, node, run_id.clone(), sent.clone(), stop)))
        .collect();

    report::note(format!(
        "{} posts at {}/s on {}, watched on {} and {}",
        a.posts, a.rate, c.urls[0], c.urls[1], c.urls[0]
    ));
    let http = raw_client(a.max_in_flight)?;
    let gate = Arc::new(Semaphore::new(a.max_in_flight.max(1)));
    let post_hist = Arc::new(Mutex::new(stats::histogram()));
    let confirmed = Arc::new(Mutex::new(HashSet::new()));
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / a.rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let t0 = Instant::now();
    let bar = report::bar(a.posts as u64, "posts");
    let mut tasks = Vec::with_capacity(a.posts);
    for seq in 1..=a.posts as u64 {
        tick.tick().await;
        let permit = gate.clone().acquire_owned().await?;
        let (http, url, token, channel, run_id, sent, post_hist, confirmed) = (
            http.clone(),
            api_url(&c.urls[0], "/posts"),
            poster.token.clone(),
            channel.clone(),
            run_id.clone(),
            sent.clone(),
            post_hist.clone(),
            confirmed.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let message = ws::stamp(&run_id, seq, ws::unix_us(SystemTime::now()));
            let at = Instant::now();
            sent.lock().unwrap_or_else(|p| p.into_inner()).insert(seq, at);
            let r = http
                .post(&url)
                .bearer_auth(&token)
                .json(&json!({"channel_id": channel, "message": message}))
                .send()
                .await;
            if matches!(&r, Ok(resp) if resp.status().is_success()) {
                stats::record(
                    &mut post_hist.lock().unwrap_or_else(|p| p.into_inner()),
                    at.elapsed().as_micros() as i64,
                );
                confirmed.lock().unwrap_or_else(|p| p.into_inner()).insert(seq);
            }
            drop(permit);
        }));
        bar.inc(1);
    }
    for t in tasks {
        t.await?;
    }
    bar.finish_and_clear();
    let achieved = a.posts as f64 / t0.elapsed().as_secs_f64().max(1e-9);
    let confirmed: HashSet<u64> = confirmed.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut results = Vec::new();
    for r in receivers {
        results.push(r.await?);
    }
    let posts_ms = LatencyMs::of(&post_hist.lock().unwrap_or_else(|p| p.into_inner()));
    let labels = ["cross node (B)", "same node (A)"];
    let mut rows = Vec::new();
    let mut figures_recv = Vec::new();
    for (r, label) in results.iter().zip(labels) {
        let l = LatencyMs::of(&r.hist);
        let lost = confirmed.iter().filter(|s| !r.seen.contains(s)).count();
        rows.push(vec![
            label.to_owned(),
            r.node.clone(),
            r.hist.len().to_string(),
            fmt(l.map(|x| x.p50), 2),
            fmt(l.map(|x| x.p99), 2),
            fmt(l.map(|x| x.p999), 2),
            fmt(l.map(|x| x.max), 2),
            lost.to_string(),
            r.duplicates.to_string(),
        ]);
        figures_recv.push(
            json!({"where": label, "node_id": r.node, "latency_ms": l, "lost": lost, "duplicated": r.duplicates}),
        );
    }
    report::print_table(
        &format!("post on {} -> `posted` on a websocket ({} posts, {:.1}/s achieved)", c.urls[0], a.posts, achieved),
        &["receiver", "node", "events", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "lost", "dup"],
        &rows,
    );
    println!(
        "POST /posts round trip: p50 {} ms, p99 {} ms; {} of {} confirmed",
        fmt(posts_ms.map(|x| x.p50), 2),
        fmt(posts_ms.map(|x| x.p99), 2),
        confirmed.len(),
        a.posts
    );
    let cross = LatencyMs::of(&results[0].hist);
    let figures = json!({
        "poster_url": c.urls[0],
        "watcher_url": c.urls[1],
        "posts": a.posts,
        "rate": a.rate,
        "achieved_rate": achieved,
        "confirmed": confirmed.len(),
        "post_ms": posts_ms,
        "latency_ms": { "cross_node": cross, "same_node": LatencyMs::of(&results[1].hist) },
        "receivers": figures_recv,
    });
    super::finish(c, "latency", &machine, figures)
}
