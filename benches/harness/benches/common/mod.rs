//! What the cross-node benches share: a node's actor stack assembled as a real node's is (no
//! database behind it), an actor that records how long each event took to reach a node's bus,
//! and the `posted` events they send, stamped with the time they were made.

#![allow(dead_code)] // each bench uses its own part

use actix::prelude::*;
use futures_util::future::BoxFuture;
use hdrhistogram::Histogram;
use starling_actors::cluster::{
    Cluster, ConfigHash, GetPeerStatuses, JoinSettings, Joined, NodeInfo, PeerState, Tcp, TransportSettings,
};
use starling_actors::session_cache::{Session, SessionStore};
use starling_actors::{
    EventBus, Filter, MembershipStore, Memberships, Publish, Published, Realtime, RealtimeSettings, RealtimeStores,
    Status, StatusStore, StoreResult, Subscribe, Supervisor,
};
use starling_protocol::{Broadcast, BusEvent, UserId, WsEvent};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds on this process's one clock.
pub fn now_ns() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Stores with nothing in them: no sessions, memberships or statuses.
pub struct Nothing;

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

/// A latency histogram shared by recorders, in nanoseconds.
pub type Latencies = Arc<Mutex<Histogram<u64>>>;

pub fn latencies() -> Latencies {
    Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram")))
}

/// Subscribed to a node's bus for what came from elsewhere: records how long each stamped event
/// took to get here, and counts them.
pub struct Recorder {
    pub hist: Latencies,
    pub count: Arc<AtomicU64>,
}

impl Actor for Recorder {
    type Context = Context<Self>;
}

impl Handler<Published> for Recorder {
    type Result = ();
    fn handle(&mut self, msg: Published, _ctx: &mut Self::Context) {
        let BusEvent::Ws(event) = &*msg.event else { return };
        let sent = event
            .data
            .strip_prefix("{\"sent_ns\":")
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(sent) = sent {
            self.count.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut h) = self.hist.lock() {
                let _ = h.record(now_ns().saturating_sub(sent).max(1));
            }
        }
    }
}

/// Record, into `hist`, what reaches `bus` from elsewhere; the count of it is returned.
pub fn record_remote(bus: &Addr<EventBus>, hist: &Latencies) -> Arc<AtomicU64> {
    let count = Arc::new(AtomicU64::new(0));
    let rec = Recorder { hist: hist.clone(), count: count.clone() }.start();
    bus.do_send(Subscribe { subscriber: rec.recipient(), filter: Filter::remote() });
    count
}

fn quiet() -> slog::Logger {
    slog::Logger::root(slog::Discard, slog::o!())
}

/// A node's session cache, bus, hubs and presence, as a real node starts them.
pub fn realtime(sup: &Supervisor) -> Realtime {
    let stores =
        RealtimeStores { sessions: Arc::new(Nothing), memberships: Arc::new(Nothing), statuses: Arc::new(Nothing) };
    let settings = RealtimeSettings { hubs_on_own_threads: true, ..RealtimeSettings::default() };
    Realtime::start(sup, stores, &settings, &quiet())
}

/// A node in a cluster: its actor stack joined over TCP on loopback with the real handshake,
/// framing, LZ4 and (if `encrypt`) ChaCha20-Poly1305.
pub struct ClusterNode {
    pub realtime: Realtime,
    pub gossip: String,
    pub joined: Joined,
}

pub async fn cluster_node(name: &str, key: [u8; 32], encrypt: bool) -> ClusterNode {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a gossip port");
    let gossip = listener.local_addr().expect("bound").to_string();
    let sup = Supervisor::new(quiet());
    let realtime = realtime(&sup);
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
    let joined =
        realtime.join_cluster(&sup, JoinSettings { me, transport, network: Arc::new(Tcp), log: quiet() }, listener);
    ClusterNode { realtime, gossip, joined }
}

pub const CHANNEL: &str = "benchchannel00000000000000";

/// A typical `posted` event (~700 bytes of data), stamped first with the time it was made.
pub fn posted(seq: u64) -> WsEvent {
    let post = serde_json::json!({
        "id": format!("benchpost{seq:017}"), "channel_id": CHANNEL,
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
    WsEvent::new("posted", data, Broadcast { channel_id: CHANNEL.into(), ..Default::default() })
}

/// Hand `events` stamped `posted` events to `bus` at `rate` per second, evenly.
pub async fn send_paced(bus: &Addr<EventBus>, rate: u64, events: u64) {
    let started = Instant::now();
    let mut sent = 0u64;
    while sent < events {
        let due = ((started.elapsed().as_secs_f64() * rate as f64) as u64).min(events);
        while sent < due {
            bus.do_send(Publish::ws(posted(sent)));
            sent += 1;
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

/// Whether `cluster` sees `peers` peers, all up, within ten seconds.
pub async fn linked(cluster: Addr<Cluster>, peers: usize) -> bool {
    for _ in 0..400 {
        let s = cluster.send(GetPeerStatuses).await.unwrap_or_default();
        if s.len() == peers && s.iter().all(|p| p.state == PeerState::Up) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}
