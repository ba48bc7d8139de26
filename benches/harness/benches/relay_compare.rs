//! Cross-node fan-out three ways, in one run (issue 20, item 5): the same `posted` events, at the
//! same rate, from one node's bus to the buses of R other nodes (R = 2: a three-node cluster),
//! - through Starling's cluster transport (a `ClusterPeer` per remote node over TCP on loopback,
//!   batched frames with LZ4, authenticated or encrypted), and
//! - relayed through Redis pub/sub and through NATS, as an engineer might wire a cluster instead:
//!   a relay actor subscribed to the sending node's bus encodes each event with the same codec
//!   (`encode_batch`, no compression or sealing) and publishes it on one channel/subject; each
//!   receiving node has its own subscription, decodes and publishes the event on its bus.
//!
//! Every node is the real actor stack (bus, hubs, session cache, presence), all in this process;
//! an actor on each receiving bus records each event's latency (one clock) and counts it.
//! CPU per event is this process's CPU (all nodes, the sender loop and the clients) plus the
//! broker's (from /proc), over the measured seconds, divided by the events published.
//!
//! Run (Redis at 127.0.0.1:6379 and NATS at 127.0.0.1:4222 unless BENCH_REDIS / BENCH_NATS say):
//! `cargo bench -p starling-bench --features relays --bench relay_compare`
//! (`BENCH_RATE` events/s, default 10000; `BENCH_SECS`, default 10; `BENCH_RECEIVERS`, default 2).
//! A broker that cannot be reached is reported as SKIPPED on its line.

mod common;

use actix::prelude::*;
use common::{cluster_node, latencies, linked, realtime, record_remote, send_paced, Latencies};
use futures_util::StreamExt;
use starling_actors::cluster::{Joined, SetPeers};
use starling_actors::{EventBus, Filter, Origin, Publish, Published, Subscribe, Supervisor};
use starling_protocol::message::{decode_batch, encode_batch, ClusterMessage, Decoded, Envelope};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Events the relay actor holds for its publisher task; when full, an event is dropped and counted.
const RELAY_QUEUE: usize = 65_536;
const TOPIC: &str = "starling.bench.relay";

/// CPU seconds this process has used (user + system).
fn own_cpu_s() -> f64 {
    // SAFETY: getrusage only writes into the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// CPU seconds of a process, from /proc/PID/stat.
fn proc_cpu_s(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf only reads a system constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some(ticks as f64 / hz)
}

/// The pid of the running process called `name` (the broker), if exactly one is found.
fn pid_of(name: &str) -> Option<u32> {
    let mut found = vec![];
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        if std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == name) {
            found.push(pid);
        }
    }
    (found.len() == 1).then(|| found[0])
}

/// Subscribed to the sending node's bus for its own events: encodes each for the broker.
struct RelayOut {
    tx: mpsc::Sender<Vec<u8>>,
    dropped: Arc<AtomicU64>,
}

impl Actor for RelayOut {
    type Context = Context<Self>;
}

impl Handler<Published> for RelayOut {
    type Result = ();
    fn handle(&mut self, msg: Published, _ctx: &mut Self::Context) {
        let bytes = encode_batch(&[Envelope { id: 0, message: ClusterMessage::Bus((*msg.event).clone()) }]);
        if self.tx.try_send(bytes).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A relayed payload, decoded and published on a receiving node's bus as a peer's event.
fn deliver(bus: &Addr<EventBus>, payload: &[u8], from: &Origin) {
    if let Ok(decoded) = decode_batch(payload) {
        for d in decoded {
            if let Decoded::Message(Envelope { message: ClusterMessage::Bus(event), .. }) = d {
                bus.do_send(Publish { event, origin: from.clone() });
            }
        }
    }
}

/// How the sending node reaches the others.
#[derive(Clone, Copy)]
enum Way {
    Starling { encrypt: bool },
    Redis,
    Nats,
}

impl Way {
    fn name(self) -> &'static str {
        match self {
            Way::Starling { encrypt: false } => "starling transport (LZ4, authenticated)",
            Way::Starling { encrypt: true } => "starling transport (LZ4, encrypted)",
            Way::Redis => "redis pub/sub",
            Way::Nats => "nats",
        }
    }
    fn broker(self) -> Option<&'static str> {
        match self {
            Way::Starling { .. } => None,
            Way::Redis => Some("redis-server"),
            Way::Nats => Some("nats-server"),
        }
    }
}

/// One way, wired: the sending bus, the receivers' counts, and what to stop afterwards.
struct Wired {
    sender: Addr<EventBus>,
    received: Vec<Arc<AtomicU64>>,
    dropped: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    clusters: Vec<Joined>,
}

async fn wire_cluster(encrypt: bool, receivers: usize, hist: &Latencies) -> anyhow::Result<Wired> {
    let mut key = [0u8; 32];
    key[0] = 7;
    let mut nodes = vec![];
    for i in 0..=receivers {
        nodes.push(cluster_node(&format!("n{i}"), key, encrypt).await);
    }
    let all: Vec<String> = nodes.iter().map(|n| n.gossip.clone()).collect();
    for n in &nodes {
        let others = all.iter().filter(|g| **g != n.gossip).cloned().collect();
        n.joined.cluster.do_send(SetPeers { gossip_addrs: others });
    }
    for n in &nodes {
        anyhow::ensure!(linked(n.joined.cluster.clone(), receivers).await, "the nodes did not link up");
    }
    let received = nodes[1..].iter().map(|n| record_remote(&n.realtime.bus, hist)).collect();
    let sender = nodes[0].realtime.bus.clone();
    let clusters = nodes.into_iter().map(|n| n.joined).collect();
    Ok(Wired { sender, received, dropped: Arc::new(AtomicU64::new(0)), tasks: vec![], clusters })
}

async fn wire_broker(way: Way, receivers: usize, hist: &Latencies) -> anyhow::Result<Wired> {
    let sup = Supervisor::new(slog::Logger::root(slog::Discard, slog::o!()));
    let from = Origin::Peer("relaysender0000000000000000".to_owned().into());
    let sending = realtime(&sup);
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(RELAY_QUEUE);
    let mut tasks = vec![];
    let mut received = vec![];
    if let Way::Redis = way {
        let url = std::env::var("BENCH_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
        let client = redis::Client::open(url)?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        for _ in 0..receivers {
            let node = realtime(&sup);
            received.push(record_remote(&node.bus, hist));
            let mut ps = client.get_async_pubsub().await?;
            ps.subscribe(TOPIC).await?;
            let (bus, from) = (node.bus.clone(), from.clone());
            tasks.push(tokio::spawn(async move {
                let mut messages = ps.into_on_message();
                while let Some(m) = messages.next().await {
                    deliver(&bus, m.get_payload_bytes(), &from);
                }
            }));
        }
        // What has queued up goes as one pipeline: the broker's equivalent of a batch.
        tasks.push(tokio::spawn(async move {
            let mut batch = Vec::with_capacity(512);
            while rx.recv_many(&mut batch, 512).await > 0 {
                let mut pipe = redis::pipe();
                for payload in batch.drain(..) {
                    pipe.cmd("PUBLISH").arg(TOPIC).arg(payload).ignore();
                }
                let _: redis::RedisResult<()> = pipe.query_async(&mut conn).await;
            }
        }));
    } else {
        let addr = std::env::var("BENCH_NATS").unwrap_or_else(|_| "127.0.0.1:4222".into());
        let client = async_nats::connect(addr.as_str()).await?;
        for _ in 0..receivers {
            let node = realtime(&sup);
            received.push(record_remote(&node.bus, hist));
            let own = async_nats::connect(addr.as_str()).await?;
            let mut sub = own.subscribe(TOPIC).await?;
            own.flush().await?;
            let (bus, from) = (node.bus.clone(), from.clone());
            tasks.push(tokio::spawn(async move {
                let _keep = own;
                while let Some(m) = sub.next().await {
                    deliver(&bus, &m.payload, &from);
                }
            }));
        }
        tasks.push(tokio::spawn(async move {
            // The client buffers and flushes on its own.
            while let Some(payload) = rx.recv().await {
                let _ = client.publish(TOPIC, payload.into()).await;
            }
        }));
    }
    let relay = RelayOut { tx, dropped: Arc::new(AtomicU64::new(0)) };
    let dropped = relay.dropped.clone();
    sending.bus.do_send(Subscribe { subscriber: relay.start().recipient(), filter: Filter::local() });
    // Let every subscription reach the broker before the first event.
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(Wired { sender: sending.bus.clone(), received, dropped, tasks, clusters: vec![] })
}

fn total(received: &[Arc<AtomicU64>]) -> u64 {
    received.iter().map(|c| c.load(Ordering::Relaxed)).sum()
}

async fn run(way: Way, rate: u64, secs: u64, receivers: usize) {
    let hist = latencies();
    let wired = match way {
        Way::Starling { encrypt } => wire_cluster(encrypt, receivers, &hist).await,
        Way::Redis | Way::Nats => wire_broker(way, receivers, &hist).await,
    };
    let mut w = match wired {
        Ok(w) => w,
        Err(e) => {
            println!("relay_compare/{}: SKIPPED, could not be set up: {e:#}", way.name());
            return;
        }
    };
    let broker_pid = way.broker().and_then(|name| {
        let pid = pid_of(name);
        if pid.is_none() {
            println!("relay_compare/{}: no single {name} process found: its CPU is not counted", way.name());
        }
        pid
    });
    let broker_cpu = || broker_pid.and_then(proc_cpu_s).unwrap_or(0.0);
    let mut measured = (0.0, 0.0, 0u64);
    for (phase, dur) in [("warm-up", 1), ("measure", secs)] {
        let before = total(&w.received);
        if phase == "measure" {
            hist.lock().expect("histogram").reset();
        }
        let (cpu0, broker0) = (own_cpu_s(), broker_cpu());
        let events = rate * dur;
        send_paced(&w.sender, rate, events).await;
        // Let the last ones arrive (bounded).
        let want = before + events * receivers as u64;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && total(&w.received) < want {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        measured = (own_cpu_s() - cpu0, broker_cpu() - broker0, total(&w.received) - before);
    }
    let (cpu, broker, got) = measured;
    let published = rate * secs;
    let expected = published * receivers as u64;
    {
        let h = hist.lock().expect("histogram");
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1e6;
        let us = |s: f64| s * 1e6 / published as f64;
        println!(
            "relay_compare/{}: {published} events at {rate}/s to {receivers} nodes for {secs} s: delivered {got} of {expected} ({:.2} %), dropped at the relay {}; latency p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, max {:.3} ms; CPU per event: process {:.1} us + broker {:.1} us = {:.1} us",
            way.name(),
            100.0 * got as f64 / expected as f64,
            w.dropped.load(Ordering::Relaxed),
            ms(0.5),
            ms(0.99),
            ms(0.999),
            h.max() as f64 / 1e6,
            us(cpu),
            us(broker),
            us(cpu + broker),
        );
    }
    for t in w.tasks.drain(..) {
        t.abort();
    }
    for c in &mut w.clusters {
        c.leave().await;
    }
    // Let this way's actors go quiet before the next one is measured.
    tokio::time::sleep(Duration::from_millis(500)).await;
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs it briefly.
    let quick = std::env::args().any(|a| a == "--test") || !std::env::args().any(|a| a == "--bench");
    let env = |k: &str, d: u64| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let rate = env("BENCH_RATE", 10_000);
    let secs = env("BENCH_SECS", if quick { 1 } else { 10 });
    let receivers = env("BENCH_RECEIVERS", 2) as usize;
    System::new().block_on(async move {
        for way in [Way::Starling { encrypt: false }, Way::Starling { encrypt: true }, Way::Redis, Way::Nats] {
            run(way, rate, secs, receivers).await;
        }
    });
}
