//! Mailbox bounds, and sending with back-pressure.
//!
//! actix's `do_send` ignores a mailbox's capacity, so on a path that a remote party or a client can
//! fill, messages go through a [`Forwarder`] (from an actor) or [`forward_async`] (from a task): they
//! enqueue while the receiver has room, and otherwise make the sender wait until it has, so a
//! fast producer slows to the receiver's pace and nothing is dropped or reordered. Where a path is
//! bounded some other way (one message per HTTP request in flight, one per connection), `do_send`
//! is fine and the place says so.

use actix::dev::ToEnvelope;
use actix::prelude::*;
use futures_util::future::LocalBoxFuture;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

/// The event bus's mailbox: events from this node's API and from every peer link.
pub const BUS_MAILBOX: usize = 8192;
/// Each hub's mailbox: deliveries from the bus, registrations from connections.
pub const HUB_MAILBOX: usize = 8192;
/// The cluster coordinator's mailbox: what the bus forwards to peers, requests, status pushes.
pub const CLUSTER_MAILBOX: usize = 8192;
/// Each peer's mailbox: envelopes from the coordinator.
pub const PEER_MAILBOX: usize = 8192;
/// Mailboxes of actors that only this node feeds (config, leader, jobs, presence, sessions).
pub const LOCAL_MAILBOX: usize = 1024;

/// The sends of one actor that had to wait, in the order they were made. An actor that forwards
/// on a bounded path owns one and sends through it: a send goes straight into the receiver's
/// mailbox while there is room and nothing waits before it; otherwise it joins this queue, and the
/// actor handles nothing else until the queue has drained into the receivers, one at a time.
/// (One `ctx.wait` per send would not do: actix runs several waits of one handler last first.)
#[derive(Default)]
pub struct Forwarder {
    queue: Rc<RefCell<VecDeque<LocalBoxFuture<'static, ()>>>>,
    draining: Rc<Cell<bool>>,
}

impl Forwarder {
    /// Send `msg` to a recipient, as described above. A receiver that is gone drops it.
    pub fn forward<A, M>(&self, ctx: &mut Context<A>, to: &Recipient<M>, msg: M)
    where
        A: Actor<Context = Context<A>>,
        M: Message + Send + 'static,
        M::Result: Send,
    {
        if !self.draining.get() {
            match to.try_send(msg) {
                Ok(()) | Err(SendError::Closed(_)) => {}
                Err(SendError::Full(msg)) => self.wait(ctx, send_later(to.clone(), msg)),
            }
        } else {
            self.wait(ctx, send_later(to.clone(), msg));
        }
    }

    /// [`Forwarder::forward`] to an address.
    pub fn forward_to<A, B, M>(&self, ctx: &mut Context<A>, to: &Addr<B>, msg: M)
    where
        A: Actor<Context = Context<A>>,
        B: Actor + Handler<M>,
        B::Context: ToEnvelope<B, M>,
        M: Message + Send + 'static,
        M::Result: Send,
    {
        self.forward(ctx, &to.clone().recipient(), msg);
    }

    fn wait<A: Actor<Context = Context<A>>>(&self, ctx: &mut Context<A>, send: LocalBoxFuture<'static, ()>) {
        self.queue.borrow_mut().push_back(send);
        if !self.draining.replace(true) {
            self.drain(ctx);
        }
        // else: the drain under way takes it, after the ones before it
    }

    /// After the owner restarted (its waits were dropped with its old context): drain what is
    /// still queued, in order, before anything new.
    pub fn restarted<A: Actor<Context = Context<A>>>(&self, ctx: &mut Context<A>) {
        let pending = !self.queue.borrow().is_empty();
        self.draining.set(pending);
        if pending {
            self.drain(ctx);
        }
    }

    fn drain<A: Actor<Context = Context<A>>>(&self, ctx: &mut Context<A>) {
        let (queue, draining) = (self.queue.clone(), self.draining.clone());
        ctx.wait(actix::fut::wrap_future::<_, A>(async move {
            loop {
                let next = queue.borrow_mut().pop_front();
                match next {
                    Some(send) => send.await,
                    None => break,
                }
            }
            draining.set(false);
        }));
    }
}

/// A send made only when polled, so sends queued behind it keep their order. Its result (or the
/// receiver being gone) is dropped.
fn send_later<M>(to: Recipient<M>, msg: M) -> LocalBoxFuture<'static, ()>
where
    M: Message + Send + 'static,
    M::Result: Send,
{
    Box::pin(async move { drop(to.send(msg).await) })
}

/// Send `msg` from a task, waiting while `to`'s mailbox is full. False if `to` is gone.
pub async fn forward_async<B, M>(to: &Addr<B>, msg: M) -> bool
where
    B: Actor + Handler<M>,
    B::Context: ToEnvelope<B, M>,
    M: Message + Send + 'static,
    M::Result: Send,
{
    match to.try_send(msg) {
        Ok(()) => true,
        Err(SendError::Closed(_)) => false,
        Err(SendError::Full(msg)) => to.send(msg).await.is_ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    struct Slow {
        seen: Arc<Mutex<Vec<u32>>>,
    }
    impl Actor for Slow {
        type Context = Context<Self>;
        fn started(&mut self, ctx: &mut Self::Context) {
            ctx.set_mailbox_capacity(2);
        }
    }
    #[derive(Message)]
    #[rtype(result = "()")]
    struct Item(u32);
    impl Handler<Item> for Slow {
        type Result = ();
        fn handle(&mut self, msg: Item, _ctx: &mut Self::Context) {
            self.seen.lock().unwrap().push(msg.0);
        }
    }

    struct Producer {
        to: Recipient<Item>,
        out: Forwarder,
    }
    impl Actor for Producer {
        type Context = Context<Self>;
    }
    #[derive(Message)]
    #[rtype(result = "()")]
    struct Burst(u32);
    impl Handler<Burst> for Producer {
        type Result = ();
        fn handle(&mut self, msg: Burst, ctx: &mut Self::Context) {
            for i in 0..msg.0 {
                self.out.forward(ctx, &self.to, Item(i));
            }
        }
    }

    #[actix::test]
    async fn a_full_mailbox_slows_the_sender_and_loses_nothing() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let slow = Slow { seen: seen.clone() }.start();
        let producer = Producer { to: slow.clone().recipient(), out: Forwarder::default() }.start();
        producer.send(Burst(50)).await.unwrap();
        producer.send(Burst(50)).await.unwrap();
        // Everything sent before this is ahead of it in the mailbox.
        for _ in 0..100 {
            if seen.lock().unwrap().len() == 100 {
                break;
            }
            tokio::task::yield_now().await;
        }
        let got = seen.lock().unwrap().clone();
        let want: Vec<u32> = (0..50).chain(0..50).collect();
        assert_eq!(got, want, "all of them, in order");
        assert!(forward_async(&slow, Item(7)).await);
    }
}
