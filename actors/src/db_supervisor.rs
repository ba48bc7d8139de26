//! DbSupervisor: runs the database's replica health and lag round every
//! SqlSettings.ReplicaMonitorIntervalSeconds, through a [`ReplicaMonitor`] the node's store
//! implements. One round at a time: a tick that finds the previous round still running skips.

use actix::{Actor, ActorFutureExt, AsyncContext, Context, Handler, Message, WrapFuture};
use futures_util::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;

/// What the supervisor needs from the database layer.
pub trait ReplicaMonitor: Send + Sync + 'static {
    /// Check every replica once (marking each healthy or not) and measure replica lag, each
    /// step bounded by `limit`.
    fn check_replicas(&self, limit: Duration) -> BoxFuture<'static, ()>;
}

pub struct DbSupervisor {
    monitor: Arc<dyn ReplicaMonitor>,
    interval: Duration,
    checking: bool,
}

impl DbSupervisor {
    pub fn new(monitor: Arc<dyn ReplicaMonitor>, interval: Duration) -> Self {
        Self { monitor, interval: interval.max(Duration::from_secs(1)), checking: false }
    }
}

impl actix::Supervised for DbSupervisor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.checking = false; // the round in flight went with the old context
    }
}

crate::restartable!(DbSupervisor);

impl Actor for DbSupervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.interval, |act, ctx| {
            if act.checking {
                return;
            }
            act.checking = true;
            let round = act.monitor.check_replicas(act.interval);
            ctx.spawn(round.into_actor(act).map(|(), act, _| act.checking = false));
        });
    }
}

/// Stop checking (node shutdown). Safe to send twice.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct StopDbSupervisor {}

impl Handler<StopDbSupervisor> for DbSupervisor {
    type Result = ();

    fn handle(&mut self, _: StopDbSupervisor, ctx: &mut Context<Self>) {
        actix::ActorContext::stop(ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting(Arc<AtomicUsize>);

    impl ReplicaMonitor for Counting {
        fn check_replicas(&self, _: Duration) -> BoxFuture<'static, ()> {
            let n = self.0.clone();
            Box::pin(async move {
                n.fetch_add(1, Ordering::Relaxed);
            })
        }
    }

    #[actix::test]
    async fn checks_on_every_interval_until_stopped() {
        tokio::time::pause(); // timers advance as soon as every task waits
        let n = Arc::new(AtomicUsize::new(0));
        let mut sup = DbSupervisor::new(Arc::new(Counting(n.clone())), Duration::from_secs(1));
        sup.interval = Duration::from_millis(20);
        let addr = sup.start();
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(n.load(Ordering::Relaxed) >= 3, "rounds: {}", n.load(Ordering::Relaxed));
        addr.send(StopDbSupervisor {}).await.expect("supervisor answers");
        let after = n.load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(n.load(Ordering::Relaxed), after, "no round after stop");
        addr.do_send(StopDbSupervisor {});
    }
}
