//! The hub's own logic against an in-memory `MembershipStore`: sequence numbers, the membership
//! filter, local and cross-node resume (import, dedupe), slow consumers, loading, restarts.

use super::*;
use crate::supervisor::{Restart, Supervisor};
use std::sync::Mutex;
use tokio::sync::Notify;

const CHANNEL: &str = "channel0000000000000000001";
const OTHER: &str = "channel0000000000000000002";

/// Memberships held in memory; `gate` (when set) holds every lookup until notified.
#[derive(Default)]
struct MemMemberships {
    by_user: Mutex<HashMap<UserId, Memberships>>,
    gate: Mutex<Option<Arc<Notify>>>,
}

impl MemMemberships {
    fn with(user: &str, channels: &[&str]) -> Arc<Self> {
        let s = Self::default();
        s.set(user, channels);
        Arc::new(s)
    }
    fn set(&self, user: &str, channels: &[&str]) {
        let m = Memberships { channels: channels.iter().map(|c| ChannelId::from(*c)).collect(), teams: HashSet::new() };
        self.by_user.lock().unwrap().insert(UserId::from(user), m);
    }
}

impl MembershipStore for MemMemberships {
    fn memberships(&self, user_id: &UserId) -> BoxFuture<'static, StoreResult<Memberships>> {
        let m = self.by_user.lock().unwrap().get(user_id).cloned().unwrap_or_default();
        let gate = self.gate.lock().unwrap().clone();
        Box::pin(async move {
            if let Some(g) = gate {
                g.notified().await;
            }
            Ok(m)
        })
    }
}

/// Stands in for a connection actor: records what the hub told it.
#[derive(Default)]
struct Control {
    closed: Arc<Mutex<Vec<u16>>>,
}
impl Actor for Control {
    type Context = Context<Self>;
}
impl Handler<CloseConnection> for Control {
    type Result = ();
    fn handle(&mut self, msg: CloseConnection, _ctx: &mut Self::Context) {
        self.closed.lock().unwrap().push(msg.code);
    }
}

fn quiet() -> slog::Logger {
    slog::Logger::root(slog::Discard, slog::o!())
}

fn to_channel(event: &str, channel: &str, n: i64) -> Arc<PreparedEvent> {
    PreparedEvent::new(WsEvent::new(
        event,
        serde_json::json!({ "n": n }).to_string(),
        Broadcast { channel_id: channel.into(), ..Default::default() },
    ))
}

/// A socket's receiving end: the frames the hub wrote, parsed.
struct Sock {
    rx: mpsc::Receiver<Outgoing>,
    closed: Arc<Mutex<Vec<u16>>>,
}

impl Sock {
    async fn frame(&mut self) -> serde_json::Value {
        match tokio::time::timeout(Duration::from_secs(5), self.rx.recv()).await {
            Ok(Some(Outgoing::Text(t))) => serde_json::from_str(&t).expect("a JSON frame"),
            other => panic!("expected a frame, got {other:?}"),
        }
    }
    fn nothing_more(&mut self) {
        assert!(matches!(self.rx.try_recv(), Err(mpsc::error::TryRecvError::Empty)), "no more frames");
    }
}

async fn register(
    hub: &Addr<Hub>,
    user: &str,
    resume: Option<Resume>,
    imported: Option<Imported>,
    capacity: usize,
) -> (Registered, Sock, Outbox) {
    let (tx, rx) = mpsc::channel(capacity);
    let control = Control::default();
    let closed = control.closed.clone();
    let reg = Register {
        user_id: UserId::from(user),
        session_token: format!("token-{user}"),
        resume,
        outbox: tx.clone(),
        control: control.start().recipient(),
        hello: serde_json::Map::new(),
        imported,
        reply_to: None,
    };
    let r = hub.send(reg).await.expect("hub answers");
    (r, Sock { rx, closed }, tx)
}

fn start_hub(store: Arc<MemMemberships>) -> Addr<Hub> {
    Hub::new(store, None, quiet()).start()
}

#[actix::test]
async fn a_connection_gets_hello_then_contiguous_seqs_of_its_channels_only() {
    let hub = start_hub(MemMemberships::with("u1", &[CHANNEL]));
    let (r, mut sock, _) = register(&hub, "u1", None, None, SEND_QUEUE).await;
    assert!(!r.resumed);
    let hello = sock.frame().await;
    assert_eq!((hello["event"].as_str(), hello["seq"].as_i64()), (Some("hello"), Some(0)));
    assert_eq!(hello["data"]["connection_id"], r.connection_id.as_str());
    for n in 1..=3 {
        hub.do_send(Deliver { event: to_channel("posted", CHANNEL, n) });
        hub.do_send(Deliver { event: to_channel("posted", OTHER, n) }); // not a member
    }
    for n in 1..=3 {
        let f = sock.frame().await;
        assert_eq!((f["seq"].as_i64(), f["data"]["n"].as_i64()), (Some(n), Some(n)));
    }
    hub.send(GetHubStats).await.unwrap();
    sock.nothing_more();
    // Joining the other channel lets its events through, in order with the rest.
    hub.do_send(ApplyMembership { user_id: "u1".into(), change: MembershipChange::JoinedChannel(OTHER.into()) });
    hub.do_send(Deliver { event: to_channel("posted", OTHER, 9) });
    let f = sock.frame().await;
    assert_eq!((f["seq"].as_i64(), f["data"]["n"].as_i64()), (Some(4), Some(9)));
}

#[actix::test]
async fn events_that_arrive_while_memberships_load_are_judged_as_they_arrived() {
    let store = MemMemberships::with("u1", &[CHANNEL]);
    let gate = Arc::new(Notify::new());
    *store.gate.lock().unwrap() = Some(gate.clone());
    let hub = start_hub(store);
    let (_, mut sock, _) = register(&hub, "u1", None, None, SEND_QUEUE).await;
    hub.do_send(Deliver { event: to_channel("posted", OTHER, 1) }); // not yet a member: dropped
    hub.do_send(ApplyMembership { user_id: "u1".into(), change: MembershipChange::JoinedChannel(OTHER.into()) });
    hub.do_send(Deliver { event: to_channel("posted", OTHER, 2) });
    hub.do_send(Deliver { event: to_channel("posted", CHANNEL, 3) });
    hub.send(GetHubStats).await.unwrap();
    gate.notify_one();
    let got: Vec<i64> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(sock.frame().await["data"]["n"].as_i64().unwrap_or(0));
        }
        v
    };
    assert_eq!(got, [0, 2, 3], "hello (no n), then 2 and 3");
}

#[actix::test]
async fn a_client_resumes_on_the_same_hub_without_loss_or_repeats() {
    let hub = start_hub(MemMemberships::with("u1", &[CHANNEL]));
    let (r, mut sock, tx) = register(&hub, "u1", None, None, SEND_QUEUE).await;
    sock.frame().await; // hello, seq 0
    hub.do_send(Deliver { event: to_channel("posted", CHANNEL, 1) });
    assert_eq!(sock.frame().await["seq"], 1);
    // The socket drops; events keep arriving into the connection's queue.
    hub.do_send(Unregister { connection_id: r.connection_id.clone(), outbox: tx });
    for n in 2..=4 {
        hub.do_send(Deliver { event: to_channel("posted", CHANNEL, n) });
    }
    let resume = Resume { connection_id: r.connection_id.clone(), sequence_number: 2 };
    let (again, mut sock2, _) = register(&hub, "u1", Some(resume), None, SEND_QUEUE).await;
    assert_eq!(again, Registered { connection_id: r.connection_id.clone(), resumed: true });
    for seq in 2..=4 {
        assert_eq!(sock2.frame().await["seq"], seq, "replayed from where the client was, no hello");
    }
    hub.do_send(Deliver { event: to_channel("posted", CHANNEL, 5) });
    assert_eq!(sock2.frame().await["seq"], 5);
    // A sequence the queue no longer holds cannot be resumed: a fresh connection and hello.
    let stale = Resume { connection_id: r.connection_id.clone(), sequence_number: 99 };
    let (fresh, mut sock3, _) = register(&hub, "u1", Some(stale), None, SEND_QUEUE).await;
    assert!(!fresh.resumed);
    assert_ne!(fresh.connection_id, r.connection_id);
    assert_eq!(sock3.frame().await["event"], "hello");
}

#[actix::test]
async fn a_queue_handed_over_by_another_node_continues_without_loss_or_repeats() {
    // Hub A is the old node's, hub B the new one's.
    let a = start_hub(MemMemberships::with("u1", &[CHANNEL]));
    let b = start_hub(MemMemberships::with("u1", &[CHANNEL]));
    let (r, mut sock, _) = register(&a, "u1", None, None, SEND_QUEUE).await;
    sock.frame().await;
    for n in 1..=3 {
        a.do_send(Deliver { event: to_channel("posted", CHANNEL, n) });
    }
    for seq in 1..=3 {
        assert_eq!(sock.frame().await["seq"], seq);
    }
    // The client saw up to 2 and reconnects to B. B holds its place first.
    let cid = r.connection_id.clone();
    assert!(b
        .send(BeginImport { connection_id: cid.clone(), user_id: "u1".into(), session_token: "t".into() })
        .await
        .unwrap());
    // During the handover, event 4 reaches both nodes; event 5 only B.
    let four = to_channel("posted", CHANNEL, 4);
    a.do_send(Deliver { event: four.clone() });
    b.do_send(Deliver { event: PreparedEvent::new(four.event.clone()) });
    b.do_send(Deliver { event: to_channel("posted", CHANNEL, 5) });
    let queue = a
        .send(TakeQueue { connection_id: cid.clone(), user_id: "u1".into(), sequence_number: 3 })
        .await
        .unwrap()
        .expect("A hands its queue over");
    assert!(a.send(GetHubStats).await.unwrap().users == 0, "A forgot the connection");
    let resume = Resume { connection_id: cid.clone(), sequence_number: 3 };
    let imported = Imported { connection_id: cid.clone(), queue };
    let (again, mut sock2, _) = register(&b, "u1", Some(resume), Some(imported), SEND_QUEUE).await;
    assert_eq!(again, Registered { connection_id: cid, resumed: true });
    let got: Vec<(i64, i64)> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            let f = sock2.frame().await;
            v.push((f["seq"].as_i64().unwrap(), f["data"]["n"].as_i64().unwrap()));
        }
        v
    };
    assert_eq!(got, [(3, 3), (4, 4), (5, 5)], "3 replayed, 4 once though it reached both nodes, then 5");
    b.send(GetHubStats).await.unwrap();
    sock2.nothing_more();
}

#[actix::test]
async fn a_client_that_cannot_keep_up_is_disconnected_not_buffered() {
    let hub = start_hub(MemMemberships::with("u1", &[CHANNEL]));
    let (_, sock, _) = register(&hub, "u1", None, None, 2).await; // room for two frames
    for n in 1..=5 {
        hub.do_send(Deliver { event: to_channel("posted", CHANNEL, n) });
    }
    let stats = hub.send(GetHubStats).await.unwrap();
    assert_eq!((stats.active_connections, stats.inactive_connections), (0, 1), "kept for resume, socket dropped");
    tokio::task::yield_now().await;
    assert_eq!(*sock.closed.lock().unwrap(), [1008]);
}

#[actix::test]
async fn a_restarted_hub_closes_its_sockets_and_starts_empty() {
    let sup = Supervisor::new(quiet());
    let store = MemMemberships::with("u1", &[CHANNEL]);
    let hub = sup.start("hub", move |_| Hub::new(store, None, quiet()));
    let (_, sock, _) = register(&hub, "u1", None, None, SEND_QUEUE).await;
    hub.send(Restart).await.unwrap();
    let stats = hub.send(GetHubStats).await.expect("the same address answers after the restart");
    assert_eq!(stats, HubStats::default());
    tokio::task::yield_now().await;
    assert_eq!(*sock.closed.lock().unwrap(), [1000], "its client reconnects");
    assert_eq!(sup.restarts().get("hub"), Some(&1));
}

#[test]
fn the_channel_index_follows_memberships_and_users_going() {
    let mut ix = ChannelIndex::default();
    let (u1, u2) = (UserId::from("u1"), UserId::from("u2"));
    ix.loading.insert(u1.clone());
    assert_eq!(ix.concerned(CHANNEL), vec![u1.clone()], "a loading user may be in any channel");
    let m = Memberships { channels: [ChannelId::from(CHANNEL)].into_iter().collect(), teams: HashSet::new() };
    ix.ready(&u1, &m);
    ix.ready(&u2, &Memberships::default());
    assert_eq!(ix.concerned(CHANNEL), vec![u1.clone()]);
    assert!(ix.concerned(OTHER).is_empty(), "nobody in the other channel");
    ix.apply(&u2, &MembershipChange::JoinedChannel(OTHER.into()));
    assert_eq!(ix.concerned(OTHER), vec![u2.clone()]);
    ix.apply(&u1, &MembershipChange::LeftChannel(CHANNEL.into()));
    assert!(ix.concerned(CHANNEL).is_empty());
    assert!(!ix.members.contains_key(CHANNEL), "an empty channel is forgotten");
    let m2 = Memberships { channels: [ChannelId::from(OTHER)].into_iter().collect(), teams: HashSet::new() };
    ix.forget(&u2, &MembershipState::Ready(m2));
    assert!(ix.members.is_empty() && ix.loading.is_empty(), "nothing left of users gone");
}

#[actix::test]
async fn a_user_who_left_a_channel_gets_no_more_of_its_events() {
    let hub = start_hub(MemMemberships::with("u1", &[CHANNEL, OTHER]));
    let (_, mut sock, _) = register(&hub, "u1", None, None, SEND_QUEUE).await;
    assert_eq!(sock.frame().await["event"], "hello");
    hub.do_send(Deliver { event: to_channel("posted", CHANNEL, 1) });
    assert_eq!(sock.frame().await["data"]["n"], 1);
    hub.do_send(ApplyMembership { user_id: "u1".into(), change: MembershipChange::LeftChannel(CHANNEL.into()) });
    hub.do_send(Deliver { event: to_channel("posted", CHANNEL, 2) });
    hub.do_send(Deliver { event: to_channel("posted", OTHER, 3) });
    assert_eq!(sock.frame().await["data"]["n"], 3, "the event of the channel left was not sent");
    hub.send(GetHubStats).await.unwrap();
    sock.nothing_more();
}
