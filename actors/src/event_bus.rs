//! `EventBus`: where every fact this node must spread is published, from its own API and actors
//! ([`Origin::Local`]) or from a peer ([`Origin::Peer`]). For each [`BusEvent`] it:
//! 1. applies it here: websocket events (and `status_change` for a status) to the hub that owns
//!    the target user, or to every hub; membership changes to the user's hub, in order with the
//!    events around them;
//! 2. tells each subscriber whose [`Filter`] matches, in order. The cluster coordinator is one
//!    (events of local origin go to every peer); presence hears peers' statuses; extensions hear
//!    what they ask for.
//!
//! Bounds: the mailbox holds [`BUS_MAILBOX`](crate::mailbox::BUS_MAILBOX) messages; peers' links
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
    // Nothing to reset: the bus keeps no state but its hubs and subscribers.
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
