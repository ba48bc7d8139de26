//! `EventBus`: where every fact this node must spread is published, from its own API and actors
//! ([`Origin::Local`]) or from a peer ([`Origin::Peer`]). For each [`BusEvent`] it:
//! 1. applies it here: websocket events (and `status_change` for a status) to the hub that owns
//!    the target user, or to every hub; membership changes to the user's hub, in order with the
//!    events around them;
//! 2. tells each subscriber whose [`Filter`] matches, in order. The cluster coordinator is one
//!    (events of local origin go to every peer); presence hears peers' statuses; extensions hear
//!    what they ask for.
//!
//! Bounds: the mailbox holds [`BUS_MAILBOX`] messages; peers' links
//! wait while it is full, and the bus itself waits while a hub or a subscriber is full.

use crate::hub::{ApplyMembership, CloseSessions, Deliver, HubSet, PreparedEvent, SessionTarget, TakeQueue};
use crate::mailbox::{Forwarder, BUS_MAILBOX};
use actix::prelude::*;
use starling_protocol::message::ConnectionQueue;
use starling_protocol::{Broadcast, BusEvent, NodeId, UserStatus, WsEvent};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Where a published event comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// This node (its API or one of its actors).
    Local,
    /// A peer published it on its bus.
    Peer(NodeId),
}

/// Publish an event on this node's bus.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Publish {
    pub event: BusEvent,
    pub origin: Origin,
}

impl Publish {
    /// An event of this node's own.
    pub fn local(event: BusEvent) -> Self {
        Self { event, origin: Origin::Local }
    }

    /// A websocket event of this node's own.
    pub fn ws(event: WsEvent) -> Self {
        Self::local(BusEvent::Ws(event))
    }
}

/// Told to subscribers after the event was applied here.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Published {
    pub event: Arc<BusEvent>,
    pub origin: Origin,
}

type Matcher = dyn Fn(&BusEvent, &Origin) -> bool + Send + Sync;

/// Which published events a subscriber hears.
#[derive(Clone)]
pub struct Filter(Arc<Matcher>);

impl Filter {
    pub fn new(f: impl Fn(&BusEvent, &Origin) -> bool + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }
    /// Everything.
    pub fn all() -> Self {
        Self::new(|_, _| true)
    }
    /// What this node publishes itself (the cluster forwards these).
    pub fn local() -> Self {
        Self::new(|_, o| *o == Origin::Local)
    }
    /// What peers publish.
    pub fn remote() -> Self {
        Self::new(|_, o| *o != Origin::Local)
    }
    /// One extension's messages, from anywhere.
    pub fn extension(name: &str) -> Self {
        let name = name.to_owned();
        Self::new(move |e, _| matches!(e, BusEvent::Extension(x) if x.extension == name))
    }
    fn matches(&self, e: &BusEvent, o: &Origin) -> bool {
        (self.0)(e, o)
    }
}

/// Hear the published events `filter` matches.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Subscribe {
    pub subscriber: Recipient<Published>,
    pub filter: Filter,
}

/// Close (and forget) the websockets of a session, a user, or everyone.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct CloseWebsockets {
    pub target: SessionTarget,
}

/// Take a connection's queue for a peer (cross-node resume) through the bus: the hub gets the
/// request after every event the bus handed it before, so those are all in the queue taken.
#[derive(Debug, Message)]
#[rtype(result = "Option<ConnectionQueue>")]
pub struct TakeQueueInOrder {
    pub take: TakeQueue,
}

/// What the bus counts for metrics.
#[derive(Debug, Default)]
pub struct BusCounters {
    /// Extension messages from peers that no subscriber here wanted.
    pub unclaimed_extension: AtomicU64,
}

pub struct EventBus {
    hubs: HubSet,
    subscribers: Vec<(Recipient<Published>, Filter)>,
    counters: Arc<BusCounters>,
    out: Forwarder,
}

impl EventBus {
    pub fn new(hubs: HubSet, counters: Arc<BusCounters>) -> Self {
        Self { hubs, subscribers: Vec::new(), counters, out: Forwarder::default() }
    }

    fn deliver(&self, event: Arc<PreparedEvent>, ctx: &mut Context<Self>) {
        let b = &event.event.broadcast;
        if b.user_id.is_empty() {
            for hub in self.hubs.all() {
                self.out.forward_to(ctx, hub, Deliver { event: event.clone() });
            }
        } else {
            let hub = self.hubs.hub_for_str(&b.user_id).clone();
            self.out.forward_to(ctx, &hub, Deliver { event });
        }
    }

    /// Step 1: what this node's connections see of the event.
    fn apply(&self, event: &BusEvent, ctx: &mut Context<Self>) {
        match event {
            BusEvent::Ws(e) => self.deliver(PreparedEvent::new(e.clone()), ctx),
            BusEvent::Membership { user_id, change } => {
                let hub = self.hubs.hub_for(user_id).clone();
                self.out.forward_to(ctx, &hub, ApplyMembership { user_id: user_id.clone(), change: change.clone() });
            }
            BusEvent::Status(s) => self.deliver(PreparedEvent::new(status_change(s)), ctx),
            BusEvent::SessionWrote { .. } | BusEvent::Extension(_) => {}
        }
    }
}

/// The `status_change` event every node shows for a status.
pub fn status_change(s: &UserStatus) -> WsEvent {
    let data = serde_json::json!({"status": s.status, "user_id": s.user_id}).to_string();
    WsEvent::new("status_change", data, Broadcast { user_id: s.user_id.as_str().to_owned(), ..Default::default() })
}

impl Actor for EventBus {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(BUS_MAILBOX);
    }
}

impl actix::Supervised for EventBus {
    fn restarting(&mut self, ctx: &mut Self::Context) {
        // Its hubs and subscribers stay; sends that were waiting go first.
        self.out.restarted(ctx);
    }
}

crate::restartable!(EventBus);

impl Handler<Publish> for EventBus {
    type Result = ();
    fn handle(&mut self, msg: Publish, ctx: &mut Self::Context) {
        self.apply(&msg.event, ctx);
        let event = Arc::new(msg.event);
        self.subscribers.retain(|(s, _)| s.connected());
        let mut claimed = false;
        let subscribers: Vec<Recipient<Published>> =
            self.subscribers.iter().filter(|(_, f)| f.matches(&event, &msg.origin)).map(|(s, _)| s.clone()).collect();
        for s in subscribers {
            claimed = true;
            self.out.forward(ctx, &s, Published { event: event.clone(), origin: msg.origin.clone() });
        }
        if !claimed && msg.origin != Origin::Local && matches!(*event, BusEvent::Extension(_)) {
            self.counters.unclaimed_extension.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Handler<Subscribe> for EventBus {
    type Result = ();
    fn handle(&mut self, msg: Subscribe, _ctx: &mut Self::Context) {
        self.subscribers.push((msg.subscriber, msg.filter));
    }
}

impl Handler<CloseWebsockets> for EventBus {
    type Result = ();
    fn handle(&mut self, msg: CloseWebsockets, ctx: &mut Self::Context) {
        match &msg.target {
            SessionTarget::User(u) => {
                let hub = self.hubs.hub_for(u).clone();
                self.out.forward_to(ctx, &hub, CloseSessions { target: msg.target.clone() });
            }
            _ => {
                for hub in self.hubs.all() {
                    self.out.forward_to(ctx, hub, CloseSessions { target: msg.target.clone() });
                }
            }
        }
    }
}

impl Handler<TakeQueueInOrder> for EventBus {
    type Result = ResponseFuture<Option<ConnectionQueue>>;
    fn handle(&mut self, msg: TakeQueueInOrder, _ctx: &mut Self::Context) -> Self::Result {
        // Queued on the hub now, behind the deliveries already sent to it.
        let answer = self.hubs.hub_for(&msg.take.user_id).send(msg.take);
        Box::pin(async move { answer.await.ok().flatten() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::StoreResult;
    use crate::hub::{CloseConnection, Hub, MembershipStore, Memberships, Outgoing, Register, SEND_QUEUE};
    use futures_util::future::BoxFuture;
    use starling_protocol::{ChannelId, MembershipChange, UserId};
    use std::sync::Mutex;
    use tokio::sync::mpsc;

    /// Nobody is a member of anything until a membership change says so.
    struct NoMemberships;
    impl MembershipStore for NoMemberships {
        fn memberships(&self, _user_id: &UserId) -> BoxFuture<'static, StoreResult<Memberships>> {
            Box::pin(async { Ok(Memberships::default()) })
        }
    }

    struct Sink;
    impl Actor for Sink {
        type Context = Context<Self>;
    }
    impl Handler<CloseConnection> for Sink {
        type Result = ();
        fn handle(&mut self, _msg: CloseConnection, _ctx: &mut Self::Context) {}
    }

    struct Recorder(Arc<Mutex<Vec<(String, Origin)>>>);
    impl Actor for Recorder {
        type Context = Context<Self>;
    }
    impl Handler<Published> for Recorder {
        type Result = ();
        fn handle(&mut self, msg: Published, _ctx: &mut Self::Context) {
            self.0.lock().unwrap().push((msg.event.name().to_owned(), msg.origin));
        }
    }

    fn quiet() -> slog::Logger {
        slog::Logger::root(slog::Discard, slog::o!())
    }

    fn recorder(bus: &Addr<EventBus>, filter: Filter) -> Arc<Mutex<Vec<(String, Origin)>>> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        bus.do_send(Subscribe { subscriber: Recorder(seen.clone()).start().recipient(), filter });
        seen
    }

    async fn frame(rx: &mut mpsc::Receiver<Outgoing>) -> serde_json::Value {
        match tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv()).await {
            Ok(Some(Outgoing::Text(t))) => serde_json::from_str(&t).unwrap(),
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    #[actix::test]
    async fn events_reach_hubs_in_order_with_membership_changes_and_subscribers_by_filter() {
        let hub = Hub::new(Arc::new(NoMemberships), None, quiet()).start();
        let bus = EventBus::new(HubSet::new(vec![hub.clone()]), Arc::default()).start();
        let local = recorder(&bus, Filter::local());
        let remote = recorder(&bus, Filter::remote());
        let (tx, mut rx) = mpsc::channel(SEND_QUEUE);
        let reg = Register {
            user_id: "u1".into(),
            session_token: "t".into(),
            resume: None,
            outbox: tx,
            control: Sink.start().recipient(),
            hello: serde_json::Map::new(),
            imported: None,
            reply_to: None,
        };
        hub.send(reg).await.unwrap();
        assert_eq!(frame(&mut rx).await["event"], "hello");
        let channel = "c".repeat(26);
        let posted = |n: u64| {
            WsEvent::new(
                "posted",
                serde_json::json!({ "n": n }).to_string(),
                Broadcast { channel_id: channel.clone(), ..Default::default() },
            )
        };
        // Not yet a member: not delivered. The membership change is ordered with the events.
        bus.do_send(Publish::ws(posted(1)));
        bus.do_send(Publish::local(BusEvent::Membership {
            user_id: "u1".into(),
            change: MembershipChange::JoinedChannel(ChannelId(channel.clone())),
        }));
        bus.do_send(Publish { event: BusEvent::Ws(posted(2)), origin: Origin::Peer("n2".into()) });
        let status = UserStatus { user_id: "u1".into(), status: "away".into(), manual: false, last_activity_at: 1 };
        bus.do_send(Publish { event: BusEvent::Status(status), origin: Origin::Peer("n2".into()) });
        let f = frame(&mut rx).await;
        assert_eq!(
            (f["event"].as_str(), f["data"]["n"].as_u64(), f["seq"].as_i64()),
            (Some("posted"), Some(2), Some(1))
        );
        let f = frame(&mut rx).await;
        assert_eq!((f["event"].as_str(), f["data"]["status"].as_str()), (Some("status_change"), Some("away")));
        bus.send(CloseWebsockets { target: SessionTarget::Token("none".into()) }).await.unwrap();
        let names =
            |v: &Mutex<Vec<(String, Origin)>>| v.lock().unwrap().iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        assert_eq!(names(&local), ["publish", "membership"], "what this node published");
        assert_eq!(names(&remote), ["publish", "update_status"], "what peers published");
    }
}
