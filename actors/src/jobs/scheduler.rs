//! `JobScheduler` (JobSettings.RunScheduler): creates the recurring jobs, on the leader only.
//!
//! It follows [`LeaderChanged`]: on becoming leader it schedules at once (so a new leader takes
//! over without waiting a tick), then every `tick`; on losing leadership it stops. Each pass asks
//! the store to create the current period's job of every recurring type; the store's unique
//! `(type, period)` key makes a pass idempotent and keeps two simultaneous leaders from creating a
//! period's job twice.

use super::{JobStore, PollNow, RecurringJob};
use crate::leader::LeaderChanged;
use actix::prelude::*;
use starling_protocol::NodeId;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Counters the node exports as metrics.
#[derive(Debug, Default)]
pub struct SchedulerCounters {
    /// Scheduling passes made while leading.
    pub passes: AtomicU64,
    /// Jobs this node created.
    pub created: AtomicU64,
}

/// Stop scheduling for good (node shutdown). Safe to send twice.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct StopScheduler;

pub struct JobScheduler {
    node_id: NodeId,
    store: Arc<dyn JobStore>,
    jobs: Vec<RecurringJob>,
    tick: Duration,
    /// Nudged when a job was created, so this node's worker starts it without waiting its poll.
    worker: Option<Recipient<PollNow>>,
    counters: Arc<SchedulerCounters>,
    leading: bool,
    /// The last word of the leader election, applied again after a restart.
    last_leader: Option<LeaderChanged>,
    ticker: Option<SpawnHandle>,
    in_flight: bool,
    log: slog::Logger,
}

impl JobScheduler {
    pub fn new(
        node_id: NodeId,
        store: Arc<dyn JobStore>,
        jobs: Vec<RecurringJob>,
        tick: Duration,
        worker: Option<Recipient<PollNow>>,
        counters: Arc<SchedulerCounters>,
        log: slog::Logger,
    ) -> Self {
        Self {
            node_id,
            store,
            jobs,
            tick,
            worker,
            counters,
            leading: false,
            last_leader: None,
            ticker: None,
            in_flight: false,
            log,
        }
    }

    fn schedule_now(&mut self, ctx: &mut Context<Self>) {
        if !self.leading || self.in_flight || self.jobs.is_empty() {
            return;
        }
        self.in_flight = true;
        self.counters.passes.fetch_add(1, Ordering::Relaxed);
        let store = self.store.clone();
        let jobs = self.jobs.clone();
        let node_id = self.node_id.clone();
        async move {
            let mut results = Vec::with_capacity(jobs.len());
            for job in jobs {
                let job_type = job.job_type.clone();
                results.push((job_type, store.schedule(job, node_id.clone()).await));
            }
            results
        }
        .into_actor(self)
        .then(|results, act, _| {
            act.in_flight = false;
            let mut created = 0;
            for (job_type, res) in results {
                match res {
                    Ok(Some(job)) => {
                        created += 1;
                        act.counters.created.fetch_add(1, Ordering::Relaxed);
                        slog::info!(act.log, "job scheduled"; "job_id" => %job.id, "job_type" => &job.job_type);
                    }
                    Ok(None) => {}
                    Err(e) => slog::warn!(act.log, "cannot schedule job"; "job_type" => job_type, "error" => %e),
                }
            }
            if created > 0 {
                if let Some(w) = &act.worker {
                    w.do_send(PollNow);
                }
            }
            fut::ready(())
        })
        .spawn(ctx);
    }
}

impl Actor for JobScheduler {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(crate::mailbox::LOCAL_MAILBOX);
    }
}

impl actix::Supervised for JobScheduler {
    fn restarting(&mut self, ctx: &mut Self::Context) {
        // The ticker went with the old context: lead again as the election last said.
        self.leading = false;
        self.ticker = None;
        self.in_flight = false;
        if let Some(last) = self.last_leader.clone() {
            ctx.notify(last);
        }
    }
}

crate::restartable!(JobScheduler);

impl Handler<LeaderChanged> for JobScheduler {
    type Result = ();
    fn handle(&mut self, msg: LeaderChanged, ctx: &mut Self::Context) {
        self.last_leader = Some(msg.clone());
        if msg.is_leader && !self.leading {
            self.leading = true;
            slog::info!(self.log, "job scheduler active"; "recurring_jobs" => self.jobs.len());
            self.schedule_now(ctx);
            self.ticker = Some(ctx.run_interval(self.tick, |act, ctx| act.schedule_now(ctx)));
        } else if !msg.is_leader && self.leading {
            self.leading = false;
            if let Some(t) = self.ticker.take() {
                ctx.cancel_future(t);
            }
            slog::info!(self.log, "job scheduler idle"; "leader_id" => %msg.leader);
        }
    }
}

impl Handler<StopScheduler> for JobScheduler {
    type Result = ();
    fn handle(&mut self, _msg: StopScheduler, ctx: &mut Self::Context) {
        self.leading = false;
        ctx.stop();
    }
}
