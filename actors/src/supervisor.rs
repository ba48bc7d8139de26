//! `Supervisor`: restarts a node's actors when they stop or panic, until the node shuts down.
//!
//! actix's own `Supervisor` restarts an actor whenever it stops, so an actor could never stop for
//! good while anyone holds its address, and a panic in a handler ends the supervisor's task with
//! the actor. This one wraps the actor's context future the same way, and:
//! - catches a panic in a handler (or in a future the actor spawned), logs it, and restarts;
//! - restarts an actor that stopped itself (`ctx.stop()`, or [`Restart`]);
//! - after [`Supervisor::shut_down`], lets actors stop for good (the node's ordered stop).
//!
//! A restart keeps the actor's address and mailbox (messages sent meanwhile wait), drops the
//! futures it had spawned, and calls `actix::Supervised::restarting`, where each actor resets the
//! state a failure may have left half-done. Restarts are counted per actor for metrics.

use actix::dev::ContextFut;
use actix::prelude::*;
use std::collections::BTreeMap;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};

/// actix's default mailbox capacity (not exported); each actor sets its own in `started`.
const ACTIX_DEFAULT_CAPACITY: usize = 16;

/// Ask an actor to drop its state and start again (it stops; its supervisor restarts it).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Restart;

#[derive(Default)]
struct Inner {
    shutting_down: AtomicBool,
    restarts: Mutex<BTreeMap<&'static str, u64>>,
}

/// The root of one node's supervision tree. Cheap to clone.
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
    log: slog::Logger,
}

impl Supervisor {
    pub fn new(log: slog::Logger) -> Self {
        Self { inner: Arc::default(), log }
    }

    /// Start `make`'s actor on the current arbiter, under supervision.
    pub fn start<A, F>(&self, name: &'static str, make: F) -> Addr<A>
    where
        A: Actor<Context = Context<A>> + actix::Supervised,
        F: FnOnce(&mut Context<A>) -> A,
    {
        let mut ctx = Context::new();
        let actor = make(&mut ctx);
        let addr = ctx.address();
        actix::spawn(Supervised { fut: ctx.into_future(actor), name, sup: self.clone() });
        addr
    }

    /// Run `actor` in a context made beforehand (so others could be given its address first).
    pub fn run<A>(&self, name: &'static str, ctx: Context<A>, actor: A) -> Addr<A>
    where
        A: Actor<Context = Context<A>> + actix::Supervised,
    {
        let addr = ctx.address();
        actix::spawn(Supervised { fut: ctx.into_future(actor), name, sup: self.clone() });
        addr
    }

    /// Start `make`'s actor on `arbiter` (a thread of its own), under supervision.
    pub fn start_in_arbiter<A, F>(&self, arbiter: &actix::ArbiterHandle, name: &'static str, make: F) -> Addr<A>
    where
        A: Actor<Context = Context<A>> + actix::Supervised,
        F: FnOnce(&mut Context<A>) -> A + Send + 'static,
    {
        let (tx, rx) = actix::dev::channel::channel(ACTIX_DEFAULT_CAPACITY);
        let sup = self.clone();
        arbiter.spawn_fn(move || {
            let mut ctx = Context::with_receiver(rx);
            let actor = make(&mut ctx);
            actix::spawn(Supervised { fut: ctx.into_future(actor), name, sup });
        });
        Addr::new(tx)
    }

    /// From now on a stopped actor stays stopped (the node is shutting down). Safe to call twice.
    pub fn shut_down(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::SeqCst)
    }

    /// How often each actor was restarted, by name.
    pub fn restarts(&self) -> BTreeMap<&'static str, u64> {
        self.inner.restarts.lock().map(|m| m.clone()).unwrap_or_default()
    }

    fn restarted(&self, name: &'static str, why: &str) {
        if let Ok(mut m) = self.inner.restarts.lock() {
            *m.entry(name).or_default() += 1;
        }
        slog::error!(self.log, "actor restarted"; "actor" => name, "reason" => why);
    }
}

struct Supervised<A: Actor<Context = Context<A>>> {
    fut: ContextFut<A, Context<A>>,
    name: &'static str,
    sup: Supervisor,
}

impl<A> Future for Supervised<A>
where
    A: Actor<Context = Context<A>> + actix::Supervised,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        // ContextFut is Unpin (it holds its actor and boxed futures), so this is a plain borrow.
        let this = self.get_mut();
        loop {
            let why = match catch_unwind(AssertUnwindSafe(|| Pin::new(&mut this.fut).poll(cx))) {
                Ok(Poll::Pending) => return Poll::Pending,
                Ok(Poll::Ready(())) => "stopped".to_owned(),
                Err(panic) => format!("panicked: {}", panic_text(&panic)),
            };
            if this.sup.is_shutting_down() || !this.fut.restart() {
                return Poll::Ready(());
            }
            this.sup.restarted(this.name, &why);
        }
    }
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_owned()
    }
}

/// Handle [`Restart`] by stopping: the supervisor starts the actor again.
pub fn restart<A: Actor<Context = Context<A>>>(ctx: &mut Context<A>) {
    ctx.stop();
}

/// `impl Handler<Restart>` for supervised actors whose restart needs nothing else.
#[macro_export]
macro_rules! restartable {
    ($($actor:ty),* $(,)?) => {$(
        impl actix::Handler<$crate::supervisor::Restart> for $actor {
            type Result = ();
            fn handle(&mut self, _msg: $crate::supervisor::Restart, ctx: &mut Self::Context) {
                $crate::supervisor::restart(ctx);
            }
        }
    )*};
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts messages; panics on request; `started` runs again after each restart.
    struct Fragile {
        seen: u32,
        starts: Arc<std::sync::atomic::AtomicU32>,
    }

    impl Actor for Fragile {
        type Context = Context<Self>;
        fn started(&mut self, _ctx: &mut Self::Context) {
            self.starts.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl actix::Supervised for Fragile {
        fn restarting(&mut self, _ctx: &mut Self::Context) {
            self.seen = 0;
        }
    }

    #[derive(Message)]
    #[rtype(result = "u32")]
    struct Poke {
        panic: bool,
    }

    impl Handler<Poke> for Fragile {
        type Result = u32;
        fn handle(&mut self, msg: Poke, _ctx: &mut Self::Context) -> u32 {
            self.seen += 1;
            assert!(!msg.panic, "poked to panic");
            self.seen
        }
    }

    restartable!(Fragile);

    fn quiet() -> slog::Logger {
        slog::Logger::root(slog::Discard, slog::o!())
    }

    #[actix::test]
    async fn a_panicking_actor_is_restarted_with_fresh_state_and_keeps_its_address() {
        let sup = Supervisor::new(quiet());
        let starts = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let s = starts.clone();
        let addr = sup.start("fragile", move |_| Fragile { seen: 0, starts: s });
        assert_eq!(addr.send(Poke { panic: false }).await.ok(), Some(1));
        assert_eq!(addr.send(Poke { panic: false }).await.ok(), Some(2));
        // The panicking message gets no answer; the actor comes back with its state reset.
        assert!(addr.send(Poke { panic: true }).await.is_err());
        assert_eq!(addr.send(Poke { panic: false }).await.ok(), Some(1), "state reset by restarting()");
        assert_eq!(starts.load(Ordering::SeqCst), 2);
        assert_eq!(sup.restarts().get("fragile"), Some(&1));
        // A stop restarts it too.
        addr.send(Restart).await.expect("restart answered");
        assert_eq!(addr.send(Poke { panic: false }).await.ok(), Some(1));
        assert_eq!(sup.restarts().get("fragile"), Some(&2));
    }

    #[actix::test]
    async fn after_shut_down_a_stopped_actor_stays_stopped() {
        let sup = Supervisor::new(quiet());
        let starts = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let s = starts.clone();
        let addr = sup.start("fragile", move |_| Fragile { seen: 0, starts: s });
        sup.shut_down();
        addr.send(Restart).await.expect("restart answered");
        assert!(addr.send(Poke { panic: false }).await.is_err(), "gone for good");
        assert_eq!(starts.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn an_actor_on_another_arbiter_is_supervised_too() {
        let sys = actix::System::new();
        sys.block_on(async {
            let sup = Supervisor::new(quiet());
            let starts = Arc::new(std::sync::atomic::AtomicU32::new(0));
            let s = starts.clone();
            let arbiter = actix::Arbiter::new();
            let addr = sup.start_in_arbiter(&arbiter.handle(), "fragile", move |_| Fragile { seen: 0, starts: s });
            assert!(addr.send(Poke { panic: true }).await.is_err());
            assert_eq!(addr.send(Poke { panic: false }).await.ok(), Some(1));
            assert_eq!(sup.restarts().get("fragile"), Some(&1));
            arbiter.stop();
        });
    }
}
