//! Whole clusters in one process over the in-memory network, on a paused clock: the real actors,
//! handshake, framing and sealing; partitions, kills, dropped and reordered frames, version skew.
//! Each scenario takes milliseconds of real time.

use super::memory::{Fault, MemoryNetwork};
use super::*;
use crate::event_bus::{Origin, Publish, Published};
use crate::realtime::{Realtime, RealtimeSettings, RealtimeStores};
use crate::session_cache::{GetSession, Session, SessionStore};
use crate::supervisor::Supervisor;
use crate::{MembershipStore, Memberships, Status, StatusStore, StoreResult};
use actix::prelude::*;
use futures_util::future::BoxFuture;
use starling_protocol::message::ClusterMessage;
use starling_protocol::{Broadcast, BusEvent, ExtensionMessage, SessionId, UserId, WsEvent};
use std::collections::HashMap;
use std::sync::Mutex;

/// The database, as far as these tests need one: one session, no memberships, no statuses.
#[derive(Default)]
struct Db {
    sessions: Mutex<HashMap<String, Session>>,
}

impl SessionStore for Db {
    fn session_by_token(&self, token: String) -> BoxFuture<'static, StoreResult<Option<Session>>> {
        let s = self.sessions.lock().unwrap().get(&token).cloned();
        Box::pin(async move { Ok(s) })
    }
}
impl MembershipStore for Db {
    fn memberships(&self, _user_id: &UserId) -> BoxFuture<'static, StoreResult<Memberships>> {
        Box::pin(async { Ok(Memberships::default()) })
    }
}
impl StatusStore for Db {
    fn load_statuses(&self, _user_ids: Vec<UserId>) -> BoxFuture<'static, StoreResult<Vec<Status>>> {
        Box::pin(async { Ok(vec![]) })
    }
    fn save_statuses(&self, _statuses: Vec<Status>) -> BoxFuture<'static, StoreResult<()>> {
        Box::pin(async { Ok(()) })
    }
}

/// Records what a node's bus published, as a subscriber.
struct Recorder(Arc<Mutex<Vec<(BusEvent, Origin)>>>);
impl Actor for Recorder {
    type Context = Context<Self>;
}
impl Handler<Published> for Recorder {
    type Result = ();
    fn handle(&mut self, msg: Published, _ctx: &mut Self::Context) {
        self.0.lock().unwrap().push(((*msg.event).clone(), msg.origin));
    }
}

struct TestNode {
    addr: String,
    realtime: Realtime,
    joined: Joined,
    heard: Arc<Mutex<Vec<(BusEvent, Origin)>>>,
    db: Arc<Db>,
}

impl TestNode {
    fn id(&self) -> NodeId {
        self.joined.me.node_id.clone()
    }
    async fn peers(&self) -> Vec<PeerStatus> {
        self.joined.cluster.send(GetPeerStatuses).await.unwrap_or_default()
    }
    async fn peer_state(&self, of: &TestNode) -> Option<PeerState> {
        self.peers().await.into_iter().find(|p| p.gossip_addr == of.addr).map(|p| p.state)
    }
    fn publish(&self, n: u64) {
        self.realtime.bus.do_send(Publish::ws(posted(n)));
    }
    /// The numbers of the `posted` events this node heard from peers, in order.
    fn heard_from_peers(&self) -> Vec<u64> {
        self.heard
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, o)| *o != Origin::Local)
            .filter_map(|(e, _)| match e {
                BusEvent::Ws(w) if w.event == "posted" => serde_json::from_str::<serde_json::Value>(&w.data).ok(),
                _ => None,
            })
            .filter_map(|v| v["n"].as_u64())
            .collect()
    }
}

fn posted(n: u64) -> WsEvent {
    WsEvent::new(
        "posted",
        serde_json::json!({ "n": n }).to_string(),
        Broadcast { channel_id: "c".repeat(26), ..Default::default() },
    )
}

fn quiet() -> slog::Logger {
    slog::Logger::root(slog::Discard, slog::o!())
}

const PROTOCOL: (u16, u16) = (starling_protocol::MIN_PROTOCOL_VERSION, starling_protocol::MAX_PROTOCOL_VERSION);

fn start_node(net: &MemoryNetwork, name: &str, protocol: (u16, u16)) -> TestNode {
    start_node_with(net, name, protocol, true)
}

/// A node; `record`: a subscriber keeps everything its bus publishes (see `heard`).
fn start_node_with(net: &MemoryNetwork, name: &str, protocol: (u16, u16), record: bool) -> TestNode {
    start_node_as(net, name, record, |me| me.protocol = protocol)
}

/// A node described as `tweak` says (app version, protocol range, clock).
fn start_node_as(net: &MemoryNetwork, name: &str, record: bool, tweak: impl FnOnce(&mut NodeInfo)) -> TestNode {
    let sup = Supervisor::new(quiet());
    let db = Arc::new(Db::default());
    let stores = RealtimeStores { sessions: db.clone(), memberships: db.clone(), statuses: db.clone() };
    let realtime = Realtime::start(&sup, stores, &RealtimeSettings::default(), &quiet());
    let heard = Arc::new(Mutex::new(Vec::new()));
    if record {
        realtime.bus.do_send(crate::Subscribe {
            subscriber: Recorder(heard.clone()).start().recipient(),
            filter: crate::Filter::all(),
        });
    }
    let mut me = NodeInfo {
        node_id: NodeId::new(),
        cluster_name: "test".into(),
        app_version: "test".into(),
        schema_version: 1,
        config_hash: ConfigHash::new("h"),
        gossip_addr: name.into(),
        hostname: name.into(),
        protocol: PROTOCOL,
        clock_offset_ms: 0,
    };
    tweak(&mut me);
    let transport = TransportSettings { key: [3; 32], encrypt: true, compress: true };
    let settings = JoinSettings { me, transport, network: net.transport(name), log: quiet() };
    let joined = realtime.join_cluster(&sup, settings, net.listen(name));
    TestNode { addr: name.into(), realtime, joined, heard, db }
}

/// Tell every node about every other, as discovery would.
fn introduce(nodes: &[&TestNode]) {
    let all: Vec<String> = nodes.iter().map(|n| n.addr.clone()).collect();
    for n in nodes {
        n.joined.cluster.do_send(SetPeers { gossip_addrs: all.clone() });
    }
}

/// Wait on the paused clock (bounded: `limit` of virtual time) until `cond` holds.
async fn eventually<F, Fut>(limit: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cond().await
}

async fn all_up(a: &TestNode, b: &TestNode) -> bool {
    a.peer_state(b).await == Some(PeerState::Up) && b.peer_state(a).await == Some(PeerState::Up)
}

#[actix::test]
async fn an_event_published_on_one_node_reaches_the_other_as_the_same_value() {
    tokio::time::pause();
    let net = MemoryNetwork::new();
    let (a, b) = (start_node(&net, "a", PROTOCOL), start_node(&net, "b", PROTOCOL));
    introduce(&[&a, &b]);
    assert!(eventually(Duration::from_secs(5), || all_up(&a, &b)).await, "the nodes link up");
    for n in 0..50 {
        a.publish(n);
    }
    assert!(eventually(Duration::from_secs(5), || async { b.heard_from_peers().len() == 50 }).await);
    assert_eq!(b.heard_from_peers(), (0..50).collect::<Vec<_>>(), "all of them, once, in order");
    let origins: Vec<Origin> = b.heard.lock().unwrap().iter().map(|(_, o)| o.clone()).collect();
    assert!(origins.iter().all(|o| *o == Origin::Peer(a.id())), "from a, as a: {origins:?}");
    assert!(a.heard_from_peers().is_empty(), "a's own events do not come back to it");
    // Peers push their status: both show each other's node id and the protocol version.
    let p = a.peers().await;
    assert_eq!((p[0].node_id.clone(), p[0].protocol_version), (b.id(), PROTOCOL.1));
}

#[actix::test]
async fn a_partition_marks_both_sides_down_and_the_queue_arrives_once_after_it_heals() {
    tokio::time::pause();
    let net = MemoryNetwork::new();
    let (a, b) = (start_node(&net, "a", PROTOCOL), start_node(&net, "b", PROTOCOL));
    introduce(&[&a, &b]);
    assert!(eventually(Duration::from_secs(5), || all_up(&a, &b)).await);
    a.publish(0);
    assert!(eventually(Duration::from_secs(5), || async { b.heard_from_peers() == [0] }).await);
    net.partition("a", "b");
    let started = Instant::now();
    for n in 1..=20 {
        a.publish(n);
    }
    let both_down =
        || async { a.peer_state(&b).await == Some(PeerState::Down) && b.peer_state(&a).await == Some(PeerState::Down) };
    assert!(eventually(DOWN_AFTER * 4, both_down).await, "a silent link is a down peer on both sides");
    assert!(started.elapsed() >= SUSPECT_AFTER, "not before it was suspect");
    assert_eq!(b.heard_from_peers(), [0], "nothing crossed the partition");
    net.heal("a", "b");
    // Down peers are redialled every RETRY_INTERVAL: the queue goes then.
    assert!(eventually(RETRY_INTERVAL * 3, || all_up(&a, &b)).await, "they find each other again");
    assert!(eventually(Duration::from_secs(5), || async { b.heard_from_peers().len() == 21 }).await);
    assert_eq!(b.heard_from_peers(), (0..=20).collect::<Vec<_>>(), "every event once, in order");
    let down = a.joined.counters.peer_transitions.lock().unwrap().get("down").copied();
    assert_eq!(down, Some(1));
}

#[actix::test]
async fn a_killed_node_is_down_at_once_and_its_restart_starts_clean() {
    tokio::time::pause();
    let net = MemoryNetwork::new();
    let (a, b) = (start_node(&net, "a", PROTOCOL), start_node(&net, "b", PROTOCOL));
    introduce(&[&a, &b]);
    assert!(eventually(Duration::from_secs(5), || all_up(&a, &b)).await);
    let killed_at = Instant::now();
    net.kill("b");
    assert!(eventually(Duration::from_secs(5), || async { a.peer_state(&b).await == Some(PeerState::Down) }).await);
    assert!(killed_at.elapsed() < SUSPECT_AFTER, "a closed link and a refused redial: no waiting for silence");
    a.publish(1); // queued for the dead process
                  // b comes back as a new process at the same address.
    let b2 = start_node(&net, "b", PROTOCOL);
    introduce(&[&a, &b2]);
    assert!(eventually(RETRY_INTERVAL * 2, || all_up(&a, &b2)).await);
    a.publish(2);
    assert!(eventually(Duration::from_secs(5), || async { b2.heard_from_peers() == [2] }).await);
    assert_eq!(b2.heard_from_peers(), [2], "what was queued for the old process is not replayed to the new one");
}

#[actix::test]
async fn dropped_and_reordered_frames_break_the_link_and_lose_nothing() {
    tokio::time::pause();
    for fault in [
        Fault { drop_one_in: 4, ..Fault::default() },
        Fault { reorder: true, ..Fault::default() },
        Fault { delay: Duration::from_millis(30), ..Fault::default() },
    ] {
        let net = MemoryNetwork::new();
        let (a, b) = (start_node(&net, "a", PROTOCOL), start_node(&net, "b", PROTOCOL));
        introduce(&[&a, &b]);
        assert!(eventually(Duration::from_secs(5), || all_up(&a, &b)).await);
        net.set_fault("a", "b", fault.clone());
        for n in 0..40 {
            a.publish(n);
            tokio::time::sleep(Duration::from_millis(5)).await; // one frame each
        }
        net.heal("a", "b");
        let done = || async { b.heard_from_peers().len() >= 40 };
        assert!(eventually(RETRY_INTERVAL * 3, done).await, "{fault:?}: got {:?}", b.heard_from_peers());
        assert_eq!(b.heard_from_peers(), (0..40).collect::<Vec<_>>(), "{fault:?}: once each, in order");
    }
}

#[actix::test]
async fn nodes_with_no_common_protocol_version_refuse_each_other_and_say_why() {
    tokio::time::pause();
    let net = MemoryNetwork::new();
    let old = start_node(&net, "old", (1, 1));
    let new = start_node(&net, "new", (2, 3));
    introduce(&[&old, &new]);
    let refused = || async {
        let (o, n) = (old.peers().await, new.peers().await);
        o.first().is_some_and(|p| p.reason.contains("no common protocol version"))
            && n.first().is_some_and(|p| p.reason.contains("no common protocol version"))
    };
    assert!(eventually(Duration::from_secs(10), refused).await, "{:?} / {:?}", old.peers().await, new.peers().await);
    assert!(!old.peer_state(&new).await.is_some_and(|s| s.is_live()));
    // A one-version overlap is fine: both speak 2.
    let mid = start_node(&net, "mid", (1, 2));
    introduce(&[&mid, &new]);
    assert!(eventually(Duration::from_secs(5), || all_up(&mid, &new)).await);
    assert_eq!(mid.peers().await.iter().find(|p| p.gossip_addr == "new").map(|p| p.protocol_version), Some(2));
}

#[actix::test]
async fn app_versions_one_minor_apart_link_and_further_apart_are_refused_on_both_sides() {
    tokio::time::pause();
    let net = MemoryNetwork::new();
    let v = |version: &'static str| move |me: &mut NodeInfo| me.app_version = version.into();
    let (old, new) = (start_node_as(&net, "old", true, v("10.4.2")), start_node_as(&net, "new", true, v("10.5.0")));
    introduce(&[&old, &new]);
    assert!(eventually(Duration::from_secs(5), || all_up(&old, &new)).await, "one minor apart: they link");
    let far = start_node_as(&net, "far", true, v("10.7.0"));
    introduce(&[&old, &new, &far]);
    let refused = || async {
        let theirs = far.peers().await;
        let ours = new.peers().await;
        let says = |p: &PeerStatus| !p.state.is_live() && p.reason.contains("at most one minor version apart");
        theirs.len() == 2 && theirs.iter().all(says) && ours.iter().find(|p| p.gossip_addr == "far").is_some_and(says)
    };
    assert!(eventually(Duration::from_secs(10), refused).await, "{:?} / {:?}", far.peers().await, new.peers().await);
    assert!(all_up(&old, &new).await, "the others keep working");
}

#[actix::test]
async fn protocol_2_links_measure_clock_skew_and_protocol_1_links_carry_no_clock() {
    tokio::time::pause();
    let net = MemoryNetwork::new();
    let ahead = |me: &mut NodeInfo| me.clock_offset_ms = 5_000;
    let (a, b) = (start_node(&net, "a", PROTOCOL), start_node_as(&net, "b", true, ahead));
    introduce(&[&a, &b]);
    async fn skew(n: &TestNode, peer: &str) -> Option<i64> {
        n.peers().await.into_iter().find(|p| p.gossip_addr == peer).and_then(|p| p.clock_skew_ms)
    }
    let measured = || async {
        skew(&a, "b").await.is_some_and(|s| (4_900..=5_100).contains(&s))
            && skew(&b, "a").await.is_some_and(|s| (-5_100..=-4_900).contains(&s))
    };
    assert!(
        eventually(Duration::from_secs(5), measured).await,
        "{:?} / {:?}",
        skew(&a, "b").await,
        skew(&b, "a").await
    );
    // An older node (protocol 1 only) links at 1; its pongs carry no clock, so nothing is measured.
    let old = start_node_as(&net, "old", true, |me| {
        me.protocol = (1, 1);
        me.clock_offset_ms = 5_000;
    });
    introduce(&[&a, &b, &old]);
    assert!(eventually(Duration::from_secs(5), || all_up(&a, &old)).await);
    tokio::time::sleep(Duration::from_secs(2)).await; // pings and pongs meanwhile
    let p = a.peers().await.into_iter().find(|p| p.gossip_addr == "old").unwrap();
    assert_eq!((p.protocol_version, p.clock_skew_ms), (1, None));
}

#[actix::test]
async fn extension_messages_reach_the_extension_that_asked_for_them() {
    tokio::time::pause();
    let net = MemoryNetwork::new();
    let (a, b) = (start_node(&net, "a", PROTOCOL), start_node_with(&net, "b", PROTOCOL, false));
    let digest = Arc::new(Mutex::new(Vec::new()));
    b.realtime.bus.do_send(crate::Subscribe {
        subscriber: Recorder(digest.clone()).start().recipient(),
        filter: crate::Filter::extension("digest"),
    });
    introduce(&[&a, &b]);
    assert!(eventually(Duration::from_secs(5), || all_up(&a, &b)).await);
    for name in ["digest", "nobody-here"] {
        let x = ExtensionMessage { extension: name.into(), version: 1, payload: vec![1, 2] };
        a.realtime.bus.do_send(Publish::local(BusEvent::Extension(x)));
    }
    let unclaimed = || b.realtime.bus_counters.unclaimed_extension.load(std::sync::atomic::Ordering::Relaxed);
    assert!(eventually(Duration::from_secs(5), || async { unclaimed() == 1 }).await, "nobody on b wants the other");
    let got = digest.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "the digest extension hears only its own");
    assert!(matches!(&got[0], (BusEvent::Extension(x), Origin::Peer(from))
        if x.extension == "digest" && x.payload == [1, 2] && *from == a.id()));
}

#[actix::test]
async fn a_revocation_is_applied_on_every_reachable_peer_before_it_returns() {
    tokio::time::pause();
    let net = MemoryNetwork::new();
    let nodes: Vec<TestNode> = ["a", "b", "c"].iter().map(|n| start_node(&net, n, PROTOCOL)).collect();
    introduce(&nodes.iter().collect::<Vec<_>>());
    let ready = || async {
        for n in &nodes {
            let p = n.peers().await;
            if p.len() != 2 || p.iter().any(|s| s.state != PeerState::Up) {
                return false;
            }
        }
        true
    };
    assert!(eventually(Duration::from_secs(5), ready).await);
    let session = Session {
        id: SessionId::new(),
        token: "tok".into(),
        user_id: "u".into(),
        roles: String::new(),
        create_at: 0,
        expires_at: 0,
        last_activity_at: 0,
        device_id: String::new(),
    };
    for n in &nodes[1..] {
        n.db.sessions.lock().unwrap().insert("tok".into(), session.clone());
        let s = n.realtime.sessions.send(GetSession { token: "tok".into() }).await.unwrap().unwrap();
        assert!(s.is_some(), "cached on {}", n.addr);
    }
    let confirmed = nodes[0]
        .joined
        .cluster
        .send(BroadcastAndWait { message: ClusterMessage::ClearSession { token: "tok".into() } })
        .await
        .unwrap();
    assert_eq!(confirmed, 2);
    for n in &nodes[1..] {
        // The row still exists (its delete runs alongside): the revocation alone refuses it.
        let s = n.realtime.sessions.send(GetSession { token: "tok".into() }).await.unwrap().unwrap();
        assert!(s.is_none(), "refused on {}", n.addr);
    }
}
