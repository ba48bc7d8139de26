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

use actix::prelude::*;
use futures_util::future::BoxFuture;
use hdrhistogram::Histogram;
use starling_actors::cluster::{
    Cluster, ConfigHash, GetPeerStatuses, JoinSettings, Joined, NodeInfo, PeerState, SetPeers, Tcp, TransportSettings,
};
use starling_actors::session_cache::{Session, SessionStore};
use starling_actors::{
    EventBus, Filter, MembershipStore, Memberships, Publish, Published, Realtime, RealtimeSettings, RealtimeStores,
    Status, StatusStore, StoreResult, Subscribe, Supervisor,
};
use starling_protocol::{Broadcast, BusEvent, UserId, WsEvent};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

static EPOCH: OnceLock<Instant> = OnceLock::new();

fn now_ns() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

struct Nothing;

impl MembershipStore for Nothing {
    fn memberships(&self, _user_id: &UserId) -> BoxFuture<'static, StoreResult<Memberships>> {
        Box::pin(async { Ok(Memberships::default()) })
    }
}

impl SessionStore for Nothing {
    fn session_by_token(&self, _token: String) -> BoxFuture<'static, StoreResult<Option<Session>>> {
        Box::pin(async { Ok(None) })
    }
}

impl StatusStore for Nothing {
    fn load_statuses(&self, _user_ids: Vec<UserId>) -> BoxFuture<'static, StoreResult<Vec<Status>>> {
        Box::pin(async { Ok(vec![]) })
    }
    fn save_statuses(&self, _statuses: Vec<Status>) -> BoxFuture<'static, StoreResult<()>> {
        Box::pin(async { Ok(()) })
    }
}

/// Records how long each event took to reach this node's bus.
struct Recorder {
    hist: Arc<Mutex<Histogram<u64>>>,
}

impl Actor for Recorder {
    type Context = Context<Self>;
}

impl Handler<Published> for Recorder {
    type Result = ();
    fn handle(&mut self, msg: Published, _ctx: &mut Self::Context) {
        let BusEvent::Ws(event) = &*msg.event else { return };
        let data = &event.data;
        let sent = data
            .strip_prefix("{\"sent_ns\":")
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(sent) = sent {
            if let Ok(mut h) = self.hist.lock() {
                let _ = h.record(now_ns().saturating_sub(sent).max(1));
            }
        }
    }
}

struct Node {
    cluster: Addr<Cluster>,
    bus: Addr<EventBus>,
    gossip: String,
    _joined: Joined,
}

/// A node's actor stack, assembled as a real node's is (Realtime, then the cluster), over TCP.
async fn node(name: &str, key: [u8; 32], encrypt: bool) -> Node {
    let log = slog::Logger::root(slog::Discard, slog::o!());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a gossip port");
    let gossip = listener.local_addr().expect("bound").to_string();
    let sup = Supervisor::new(log.clone());
    let stores =
        RealtimeStores { sessions: Arc::new(Nothing), memberships: Arc::new(Nothing), statuses: Arc::new(Nothing) };
    let settings = RealtimeSettings { hubs_on_own_threads: true, ..RealtimeSettings::default() };
    let realtime = Realtime::start(&sup, stores, &settings, &log);
    let me = NodeInfo {
        node_id: format!("{name}{}", &starling_protocol::new_id()[..20]).into(),
        cluster_name: "bench".into(),
        app_version: "bench".into(),
        schema_version: 1,
        config_hash: ConfigHash::new("bench"),
        gossip_addr: gossip.clone(),
        hostname: name.into(),
        protocol: (starling_protocol::MIN_PROTOCOL_VERSION, starling_protocol::MAX_PROTOCOL_VERSION),
        clock_offset_ms: 0,
    };
    let transport = TransportSettings { key, encrypt, compress: true };
    let joined = realtime.join_cluster(&sup, JoinSettings { me, transport, network: Arc::new(Tcp), log }, listener);
    Node { cluster: joined.cluster.clone(), bus: realtime.bus.clone(), gossip, _joined: joined }
}

fn event(seq: u64) -> WsEvent {
    // A typical `posted` event (~700 bytes of data), stamped first.
    let post = serde_json::json!({
        "id": format!("benchpost{seq:017}"), "channel_id": "benchchannel00000000000000",
        "user_id": "benchuser0000000000000000", "create_at": 1, "update_at": 1, "type": "",
        "message": "the build is green again after the deploy; starling-bench cluster transport latency",
        "props": {}, "hashtags": "", "root_id": "", "metadata": {},
    })
    .to_string();
    let data = format!(
        "{{\"sent_ns\":{},\"post\":{},\"channel_name\":\"bench\",\"channel_type\":\"O\",\"sender_name\":\"@bench\"}}",
        now_ns(),
        serde_json::Value::String(post)
    );
    WsEvent::new("posted", data, Broadcast { channel_id: "benchchannel00000000000000".into(), ..Default::default() })
}

async fn run(encrypt: bool, rate: u64, secs: u64) {
    let mut key = [0u8; 32];
    key[0] = 7;
    let a = node("a", key, encrypt).await;
    let b = node("b", key, encrypt).await;
    a.cluster.do_send(SetPeers { gossip_addrs: vec![b.gossip.clone()] });
    b.cluster.do_send(SetPeers { gossip_addrs: vec![a.gossip.clone()] });
    let up = |c: Addr<Cluster>| async move {
        for _ in 0..200 {
            let s = c.send(GetPeerStatuses).await.unwrap_or_default();
            if s.len() == 1 && s[0].state == PeerState::Up {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        false
    };
    assert!(up(a.cluster.clone()).await && up(b.cluster.clone()).await, "the two nodes link up");
    let hist = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram")));
    let rec = Recorder { hist: hist.clone() }.start();
    b.bus.do_send(Subscribe { subscriber: rec.recipient(), filter: Filter::remote() });

    // Warm up for a second, then measure.
    for (phase, dur) in [("warm-up", 1), ("measure", secs)] {
        if phase == "measure" {
            hist.lock().expect("histogram").reset();
        }
        let total = rate * dur;
        let started = Instant::now();
        let mut sent = 0u64;
        while sent < total {
            let due = ((started.elapsed().as_secs_f64() * rate as f64) as u64).min(total);
            while sent < due {
                a.bus.do_send(Publish::ws(event(sent)));
                sent += 1;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
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
