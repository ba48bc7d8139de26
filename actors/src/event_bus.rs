//! `EventBus`: where every websocket event of this node is published. It renders the event once,
//! hands it to the hub that owns the target user (or to every hub), and tells its subscribers, so
//! an extra actor can watch a node's events by sending [`Subscribe`].

use crate::cluster::ClusterBroadcast;
use crate::hub::{
    ApplyMembership, CloseSessions, Deliver, Hub, MembershipChange, PreparedEvent, SessionTarget, TakeQueue,
};
use actix::prelude::*;
use starling_protocol::message::ConnectionQueue;
use starling_protocol::{UserId, WsEvent};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// This node's hubs; a user's connections all live in one of them.
#[derive(Clone)]
pub struct HubSet {
    hubs: Arc<Vec<Addr<Hub>>>,
}

impl HubSet {
    /// Start `count` hubs, each on an arbiter (thread) of its own.
    pub fn start(count: usize, make: impl Fn() -> Hub) -> Self {
        let hubs = (0..count.max(1))
            .map(|_| {
                let hub = make();
                Hub::start_in_arbiter(&Arbiter::new().handle(), move |_| hub)
            })
            .collect();
        Self { hubs: Arc::new(hubs) }
    }

    pub fn hub_for(&self, user_id: &UserId) -> &Addr<Hub> {
        let mut h = DefaultHasher::new();
        user_id.hash(&mut h);
        &self.hubs[(h.finish() % self.hubs.len() as u64) as usize]
    }

    pub fn all(&self) -> &[Addr<Hub>] {
        &self.hubs
    }
}

/// Publish a websocket event to this node's connections.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct PublishEvent {
    pub event: WsEvent,
}

/// A user's memberships changed; published through the bus so it is ordered with events.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct PublishMembership {
    pub user_id: UserId,
    pub change: MembershipChange,
}

/// An event a peer published: for this node's connections only.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct DeliverRemoteEvent {
    pub event: WsEvent,
}

/// A membership change a peer published: for this node's hubs only.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct ApplyRemoteMembership {
    pub user_id: UserId,
    pub change: MembershipChange,
}

/// Forward what this node publishes to the cluster from now on.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetCluster {
    pub cluster: Recipient<ClusterBroadcast>,
}

/// Close (and forget) the websockets of a session, a user, or everyone.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct CloseWebsockets {
    pub target: SessionTarget,
}

/// Told to subscribers after each event was handed to the hubs.
#[derive(Debug, Message, Clone)]
#[rtype(result = "()")]
pub struct EventPublished {
    pub event: Arc<PreparedEvent>,
}

/// Receive every event this node publishes.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Subscribe {
    pub subscriber: Recipient<EventPublished>,
}

pub struct EventBus {
    hubs: HubSet,
    subscribers: Vec<Recipient<EventPublished>>,
    cluster: Option<Recipient<ClusterBroadcast>>,
}

impl EventBus {
    pub fn new(hubs: HubSet) -> Self {
        Self { hubs, subscribers: Vec::new(), cluster: None }
    }

    fn deliver(&mut self, event: WsEvent) -> Arc<PreparedEvent> {
        let event = PreparedEvent::new(event);
        let b = &event.event.broadcast;
        if b.user_id.is_empty() {
            for hub in self.hubs.all() {
                hub.do_send(Deliver { event: event.clone() });
            }
        } else {
            self.hubs.hub_for(&UserId::from(b.user_id.as_str())).do_send(Deliver { event: event.clone() });
        }
        self.subscribers.retain(|s| s.connected());
        for s in &self.subscribers {
            s.do_send(EventPublished { event: event.clone() });
        }
        event
    }
}

impl Actor for EventBus {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(usize::MAX >> 4);
    }
}

impl Handler<PublishEvent> for EventBus {
    type Result = ();
    fn handle(&mut self, msg: PublishEvent, _ctx: &mut Self::Context) {
        let event = self.deliver(msg.event);
        if let Some(c) = &self.cluster {
            c.do_send(ClusterBroadcast::Event(event.event.clone()));
        }
    }
}

impl Handler<DeliverRemoteEvent> for EventBus {
    type Result = ();
    fn handle(&mut self, msg: DeliverRemoteEvent, _ctx: &mut Self::Context) {
        self.deliver(msg.event);
    }
}

impl Handler<ApplyRemoteMembership> for EventBus {
    type Result = ();
    fn handle(&mut self, msg: ApplyRemoteMembership, _ctx: &mut Self::Context) {
        self.hubs.hub_for(&msg.user_id).do_send(ApplyMembership { user_id: msg.user_id, change: msg.change });
    }
}

impl Handler<SetCluster> for EventBus {
    type Result = ();
    fn handle(&mut self, msg: SetCluster, _ctx: &mut Self::Context) {
        self.cluster = Some(msg.cluster);
    }
}

impl Handler<PublishMembership> for EventBus {
    type Result = ();
    fn handle(&mut self, msg: PublishMembership, _ctx: &mut Self::Context) {
        if let Some(c) = &self.cluster {
            c.do_send(ClusterBroadcast::Membership {
                user_id: msg.user_id.as_str().to_owned(),
                change: msg.change.clone(),
            });
        }
        self.hubs.hub_for(&msg.user_id).do_send(ApplyMembership { user_id: msg.user_id, change: msg.change });
    }
}

impl Handler<CloseWebsockets> for EventBus {
    type Result = ();
    fn handle(&mut self, msg: CloseWebsockets, _ctx: &mut Self::Context) {
        match &msg.target {
            SessionTarget::User(u) => self.hubs.hub_for(u).do_send(CloseSessions { target: msg.target.clone() }),
            _ => {
                for hub in self.hubs.all() {
                    hub.do_send(CloseSessions { target: msg.target.clone() });
                }
            }
        }
    }
}

/// Take a connection's queue for a peer (cross-node resume) through the bus: the hub gets the
/// request after every event the bus handed it before, so those are all in the queue taken.
#[derive(Debug, Message)]
#[rtype(result = "Option<ConnectionQueue>")]
pub struct TakeQueueInOrder(pub TakeQueue);

impl Handler<TakeQueueInOrder> for EventBus {
    type Result = ResponseFuture<Option<ConnectionQueue>>;
    fn handle(&mut self, msg: TakeQueueInOrder, _ctx: &mut Self::Context) -> Self::Result {
        // Queued on the hub now, behind the deliveries already sent to it.
        let answer = self.hubs.hub_for(&msg.0.user_id).send(msg.0);
        Box::pin(async move { answer.await.ok().flatten() })
    }
}

impl Handler<Subscribe> for EventBus {
    type Result = ();
    fn handle(&mut self, msg: Subscribe, _ctx: &mut Self::Context) {
        self.subscribers.push(msg.subscriber);
    }
}
