//! Hub fan-out inside one node: an event published on the `EventBus` reaching N registered
//! connections' outboxes (the frames the socket writers would send), with 1 and 2 hubs.
//! The memberships come from an in-memory `MembershipStore`; no sockets, no database.
//!
//! Run: `cargo bench -p starling-bench --bench hub_fanout -- --warm-up-time 1 --measurement-time 3`
//! Throughput is reported in deliveries (elements) per second.

use actix::prelude::*;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures_util::future::BoxFuture;
use starling_actors::event_bus::{EventBus, Publish};
use starling_actors::hub::{
    CloseConnection, Hub, HubSet, MembershipStore, Memberships, Outgoing, Register, SEND_QUEUE,
};
use starling_actors::StoreResult;
use starling_protocol::{Broadcast, ChannelId, UserId, WsEvent};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const CHANNEL: &str = "benchchannel00000000000000";

/// Every user is a member of the one channel.
struct OneChannel;

impl MembershipStore for OneChannel {
    fn memberships(&self, _user_id: &UserId) -> BoxFuture<'static, StoreResult<Memberships>> {
        Box::pin(async {
            Ok(Memberships { channels: HashSet::from([ChannelId::from(CHANNEL)]), teams: HashSet::new() })
        })
    }
}

/// Stands in for the connection actor: the hub only tells it to close.
struct Control;

impl Actor for Control {
    type Context = Context<Self>;
}

impl Handler<CloseConnection> for Control {
    type Result = ();
    fn handle(&mut self, _msg: CloseConnection, _ctx: &mut Self::Context) {}
}

fn posted() -> WsEvent {
    let post = serde_json::json!({
        "id": "benchpost0000000000000000", "channel_id": CHANNEL, "user_id": "benchuser0000000000000000",
        "message": "the build is green again after the deploy, starling-bench hub fan-out", "create_at": 1,
    })
    .to_string();
    let data = serde_json::json!({"post": post, "channel_name": "bench", "channel_type": "O", "sender_name": "@bench"});
    WsEvent::new("posted", data.to_string(), Broadcast { channel_id: CHANNEL.to_owned(), ..Default::default() })
}

struct Setup {
    bus: Addr<EventBus>,
    outboxes: Vec<mpsc::Receiver<Outgoing>>,
}

async fn next_text(rx: &mut mpsc::Receiver<Outgoing>) {
    // Bounded: a missing frame fails the bench instead of hanging it.
    match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
        Ok(Some(Outgoing::Text(_))) => {}
        other => panic!("expected a frame, got {other:?}"),
    }
}

async fn setup(connections: usize, hubs: usize) -> Setup {
    let log = slog::Logger::root(slog::Discard, slog::o!());
    let store: Arc<dyn MembershipStore> = Arc::new(OneChannel);
    let set = HubSet::new(
        (0..hubs)
            .map(|_| {
                let (store, log) = (store.clone(), log.clone());
                Hub::start_in_arbiter(&Arbiter::new().handle(), move |_| Hub::new(store, None, log))
            })
            .collect(),
    );
    let bus = EventBus::new(set.clone(), Default::default()).start();
    let control = Control.start();
    let mut outboxes = Vec::with_capacity(connections);
    for i in 0..connections {
        let user = UserId::from(format!("benchuser{i:017}"));
        let (tx, rx) = mpsc::channel(SEND_QUEUE);
        let reg = Register {
            user_id: user.clone(),
            session_token: format!("token{i}"),
            resume: None,
            outbox: tx,
            control: control.clone().recipient(),
            hello: serde_json::Map::new(),
            imported: None,
            reply_to: None,
        };
        set.hub_for(&user).send(reg).await.expect("hub answers");
        outboxes.push(rx);
    }
    for rx in &mut outboxes {
        next_text(rx).await; // hello
    }
    // One event through, so every user's memberships are loaded.
    bus.do_send(Publish::ws(posted()));
    for rx in &mut outboxes {
        next_text(rx).await;
    }
    Setup { bus, outboxes }
}

fn fanout(c: &mut Criterion) {
    let sys = System::new();
    let mut group = c.benchmark_group("hub_fanout");
    for &hubs in &[1usize, 2] {
        for &n in &[100usize, 1_000, 10_000] {
            let mut s = sys.block_on(setup(n, hubs));
            group.throughput(Throughput::Elements(n as u64));
            group.bench_with_input(BenchmarkId::new(format!("{hubs}_hubs"), n), &n, |b, _| {
                b.iter_custom(|iters| {
                    sys.block_on(async {
                        let t0 = Instant::now();
                        for _ in 0..iters {
                            s.bus.do_send(Publish::ws(posted()));
                            for rx in &mut s.outboxes {
                                next_text(rx).await;
                            }
                        }
                        t0.elapsed()
                    })
                })
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = fanout
}
criterion_main!(benches);
