//! Node-to-node latency of the cluster transport at a fixed message rate (benchmarks.md target 4,
//! second half: p99 <= 1 ms at 10k msgs/s).
//!
//! Two nodes' actor stacks (EventBus, hubs, session cache, presence, `Cluster` coordinator with its
//! `ClusterPeer`, gossip listener), assembled by `Realtime` as a node's are, run in this one process
//! and link over real TCP on loopback with the real handshake, framing, LZ4 and ChaCha20-Poly1305.
//! Node A's event bus is handed `posted` events at a steady rate (as its API would publish them);
//! an extra actor subscribed to node B's EventBus records, for each, the time from A's bus to B's
//! bus having handed it to B's hubs (one clock: one process). Run once with gossip encryption
//! off (Mattermost's default) and once with it on.
//!
//! Run: `cargo bench -p starling-bench --bench cluster_transport`
//! (`BENCH_RATE` msgs/s, default 10000; `BENCH_SECS`, default 10).

mod common;

use actix::prelude::*;
use common::{cluster_node, latencies, linked, record_remote, send_paced};
use starling_actors::cluster::SetPeers;
use std::time::{Duration, Instant};

async fn run(encrypt: bool, rate: u64, secs: u64) {
    let mut key = [0u8; 32];
    key[0] = 7;
    let a = cluster_node("a", key, encrypt).await;
    let b = cluster_node("b", key, encrypt).await;
    a.joined.cluster.do_send(SetPeers { gossip_addrs: vec![b.gossip.clone()] });
    b.joined.cluster.do_send(SetPeers { gossip_addrs: vec![a.gossip.clone()] });
    assert!(
        linked(a.joined.cluster.clone(), 1).await && linked(b.joined.cluster.clone(), 1).await,
        "the two nodes link up"
    );
    let hist = latencies();
    let _received = record_remote(&b.realtime.bus, &hist);

    // Warm up for a second, then measure.
    for (phase, dur) in [("warm-up", 1), ("measure", secs)] {
        if phase == "measure" {
            hist.lock().expect("histogram").reset();
        }
        let total = rate * dur;
        send_paced(&a.realtime.bus, rate, total).await;
        // Let the last ones arrive (bounded).
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let got = hist.lock().expect("histogram").len();
            if phase == "warm-up" || got >= total {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let h = hist.lock().expect("histogram");
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1e6;
    println!(
        "cluster_transport/{}: {} msgs at {rate}/s for {secs} s: received {} ({:.2} %), node-to-node p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, max {:.3} ms (target 4: p99 <= 1 ms)",
        if encrypt { "encrypted" } else { "authenticated" },
        rate * secs,
        h.len(),
        100.0 * h.len() as f64 / (rate * secs) as f64,
        ms(0.5),
        ms(0.99),
        ms(0.999),
        h.max() as f64 / 1e6
    );
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs it briefly.
    let quick = std::env::args().any(|a| a == "--test") || !std::env::args().any(|a| a == "--bench");
    let rate: u64 = std::env::var("BENCH_RATE").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let secs: u64 = std::env::var("BENCH_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(if quick { 1 } else { 10 });
    let sys = System::new();
    sys.block_on(async move {
        run(false, rate, secs).await;
        run(true, rate, secs).await;
    });
}
