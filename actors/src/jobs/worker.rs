//! `JobWorker` (JobSettings.RunJobs): runs pending jobs on this node.
//!
//! Every `poll` (and when nudged with [`PollNow`]) it first re-queues or fails stale jobs (see the
//! module notes in [`super`]), then lists pending jobs and claims them with the store's conditional
//! update, at most one job of each type at a time on this node (Mattermost runs one worker per
//! type). A claimed job runs on this actor's arbiter; a heartbeat every `heartbeat` writes its
//! progress and LastActivityAt and learns whether a cancel was requested (then the job is told to
//! stop, and ends canceled) or whether the job was taken from us (then it is told to stop and
//! nothing more is written).
//!
//! [`DrainJobs`] (node shutdown) stops claiming, asks running jobs to stop and waits for them; a
//! job stopped that way, or still running when the wait ends, goes back to pending for another node.

use super::{Heartbeat, Job, JobControl, JobId, JobRunner, JobStore, Outcome, StopReason};
use actix::prelude::*;
use starling_protocol::NodeId;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How many pending jobs one poll looks at.
const POLL_BATCH: i64 = 20;
/// How many times a run's outcome is written before giving up.
const FINISH_ATTEMPTS: usize = 3;

#[derive(Debug, Clone, Copy)]
pub struct WorkerSettings {
    /// How often to look for pending jobs (Mattermost: 15 s).
    pub poll: Duration,
    /// How often a running job refreshes LastActivityAt and checks for a cancel request.
    pub heartbeat: Duration,
    /// A running job silent this long was abandoned.
    pub stale_after: Duration,
    pub max_attempts: i32,
}

/// Look for pending jobs now.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct PollNow;

/// Jobs running on this node, by type (for `mattermost_jobs_active`).
#[derive(Debug, Message)]
#[rtype(result = "BTreeMap<String, usize>")]
pub struct GetActiveJobs;

/// Stop claiming, stop running jobs and wait (at most `timeout`) for them. The worker then stays
/// idle. Safe to send twice.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct DrainJobs {
    pub timeout: Duration,
}

struct Running {
    job_type: String,
    attempt: i32,
    control: Arc<JobControl>,
    heartbeat: SpawnHandle,
    started: Instant,
}

pub struct JobWorker {
    node_id: NodeId,
    store: Arc<dyn JobStore>,
    runner: Arc<dyn JobRunner>,
    settings: WorkerSettings,
    running: HashMap<JobId, Running>,
    polling: bool,
    /// A poll was asked for while one was in flight: poll again when it ends.
    poll_again: bool,
    draining: bool,
    drained: Vec<oneshot::Sender<()>>,
    log: slog::Logger,
}

impl JobWorker {
    pub fn new(
        node_id: NodeId,
        store: Arc<dyn JobStore>,
        runner: Arc<dyn JobRunner>,
        settings: WorkerSettings,
        log: slog::Logger,
    ) -> Self {
        Self {
            node_id,
            store,
            runner,
            settings,
            running: HashMap::new(),
            polling: false,
            poll_again: false,
            draining: false,
            drained: Vec::new(),
            log,
        }
    }

    fn poll(&mut self, ctx: &mut Context<Self>) {
        if self.draining {
            return;
        }
        if self.polling {
            self.poll_again = true;
            return;
        }
        self.polling = true;
        let busy: HashSet<String> = self.running.values().map(|r| r.job_type.clone()).collect();
        let types: Vec<String> = self.runner.job_types().into_iter().filter(|t| !busy.contains(t)).collect();
        let store = self.store.clone();
        let node_id = self.node_id.clone();
        let (stale_after, max_attempts) = (self.settings.stale_after, self.settings.max_attempts);
        async move {
            let reaped = store.reap_stale(stale_after, max_attempts).await;
            let mut claimed = Vec::new();
            if types.is_empty() {
                return (reaped, Ok(claimed));
            }
            let pending = match store.pending(types, POLL_BATCH).await {
                Ok(p) => p,
                Err(e) => return (reaped, Err(e)),
            };
            let mut taken = HashSet::new();
            for job in pending {
                if taken.contains(&job.job_type) {
                    continue;
                }
                match store.claim(job.id, node_id.clone()).await {
                    Ok(Some(job)) => {
                        taken.insert(job.job_type.clone());
                        claimed.push(job);
                    }
                    Ok(None) => {} // another node was first
                    Err(e) => return (reaped, Err(e)),
                }
            }
            (reaped, Ok(claimed))
        }
        .into_actor(self)
        .then(|(reaped, claimed), act, ctx| {
            act.polling = false;
            match reaped {
                Ok(reaped) => {
                    for r in reaped {
                        slog::warn!(act.log, "stale job taken back"; "job_id" => %r.id, "job_type" => &r.job_type,
                            "abandoned_by" => &r.node_id, "attempt" => r.attempt, "status" => %r.status);
                    }
                }
                Err(e) => slog::warn!(act.log, "cannot check for stale jobs"; "error" => %e),
            }
            match claimed {
                Ok(jobs) => {
                    for job in jobs {
                        act.start_job(job, ctx);
                    }
                }
                Err(e) => slog::warn!(act.log, "cannot look for pending jobs"; "error" => %e),
            }
            if std::mem::take(&mut act.poll_again) {
                act.poll(ctx);
            }
            fut::ready(())
        })
        .spawn(ctx);
    }

    fn start_job(&mut self, job: Job, ctx: &mut Context<Self>) {
        let id = job.id.clone();
        let attempt = job.attempt;
        if self.draining {
            // Claimed while the drain began: hand it straight back.
            self.release(id, attempt, ctx);
            return;
        }
        slog::info!(self.log, "job started"; "job_id" => %id, "job_type" => &job.job_type, "attempt" => attempt);
        let control = JobControl::new();
        let hb_id = id.clone();
        let heartbeat = ctx.run_interval(self.settings.heartbeat, move |act, ctx| act.heartbeat(hb_id.clone(), ctx));
        self.running.insert(
            id.clone(),
            Running {
                job_type: job.job_type.clone(),
                attempt,
                control: control.clone(),
                heartbeat,
                started: Instant::now(),
            },
        );
        self.runner
            .run(job, control)
            .into_actor(self)
            .then(move |result, act, ctx| act.job_ended(id, result, ctx))
            .spawn(ctx);
    }

    fn heartbeat(&mut self, id: JobId, ctx: &mut Context<Self>) {
        let Some(r) = self.running.get(&id) else { return };
        let control = r.control.clone();
        self.store
            .heartbeat(id.clone(), r.attempt, control.progress())
            .into_actor(self)
            .then(move |res, act, _| {
                match res {
                    Ok(Heartbeat::Running) => {}
                    Ok(Heartbeat::CancelRequested) => {
                        if !control.should_stop() {
                            slog::info!(act.log, "job cancel requested"; "job_id" => %id);
                        }
                        control.stop(StopReason::Cancel);
                    }
                    Ok(Heartbeat::Lost) => {
                        if !control.should_stop() {
                            slog::warn!(act.log, "job taken from this node"; "job_id" => %id);
                        }
                        control.stop(StopReason::Lost);
                    }
                    Err(e) => slog::warn!(act.log, "cannot refresh running job"; "job_id" => %id, "error" => %e),
                }
                fut::ready(())
            })
            .spawn(ctx);
    }

    fn job_ended(
        &mut self,
        id: JobId,
        result: Result<BTreeMap<String, String>, String>,
        ctx: &mut Context<Self>,
    ) -> fut::Ready<()> {
        let Some(r) = self.running.get(&id) else { return fut::ready(()) };
        ctx.cancel_future(r.heartbeat);
        let attempt = r.attempt;
        let elapsed_ms = r.started.elapsed().as_millis() as u64;
        let outcome = match (result, r.control.stop_reason()) {
            (Ok(data), _) => Some(Outcome::Success(data)),
            (Err(_), Some(StopReason::Lost)) => None,
            (Err(_), Some(StopReason::Cancel)) => Some(Outcome::Canceled),
            (Err(_), Some(StopReason::Shutdown)) => Some(Outcome::Released),
            (Err(e), None) => Some(Outcome::Error(e)),
        };
        let Some(outcome) = outcome else {
            slog::warn!(self.log, "job abandoned, no longer ours"; "job_id" => %id, "elapsed_ms" => elapsed_ms);
            self.forget(&id, ctx);
            return fut::ready(());
        };
        let what = match &outcome {
            Outcome::Success(_) => "success",
            Outcome::Error(_) => "error",
            Outcome::Canceled => "canceled",
            Outcome::Released => "released",
        };
        if let Outcome::Error(e) = &outcome {
            slog::warn!(self.log, "job failed"; "job_id" => %id, "error" => %e, "elapsed_ms" => elapsed_ms);
        }
        finish_with_retries(self.store.clone(), id.clone(), attempt, outcome, self.settings.heartbeat)
            .into_actor(self)
            .then(move |res, act, ctx| {
                match res {
                    Ok(true) => slog::info!(act.log, "job finished";
                        "job_id" => %id, "outcome" => what, "elapsed_ms" => elapsed_ms),
                    Ok(false) => slog::warn!(act.log, "job finished but was no longer ours";
                        "job_id" => %id, "outcome" => what),
                    Err(e) => slog::warn!(act.log, "cannot record job outcome";
                        "job_id" => %id, "outcome" => what, "error" => %e),
                }
                act.forget(&id, ctx);
                // There may be more of this type waiting.
                act.poll(ctx);
                fut::ready(())
            })
            .spawn(ctx);
        fut::ready(())
    }

    fn forget(&mut self, id: &JobId, _ctx: &mut Context<Self>) {
        self.running.remove(id);
        if self.running.is_empty() {
            for tx in self.drained.drain(..) {
                let _ = tx.send(()); // the drain may have timed out already
            }
        }
    }

    fn release(&mut self, id: JobId, attempt: i32, ctx: &mut Context<Self>) {
        self.store
            .finish(id.clone(), attempt, Outcome::Released)
            .into_actor(self)
            .then(move |res, act, _| {
                match res {
                    Ok(_) => slog::info!(act.log, "job handed back"; "job_id" => %id),
                    Err(e) => slog::warn!(act.log, "cannot hand job back"; "job_id" => %id, "error" => %e),
                }
                fut::ready(())
            })
            .spawn(ctx);
    }
}

/// Record a run's outcome, retrying a failed write a few times: an outcome never written leaves
/// the job in_progress until it goes stale and runs again.
async fn finish_with_retries(
    store: Arc<dyn JobStore>,
    id: JobId,
    attempt: i32,
    outcome: Outcome,
    pause: Duration,
) -> crate::error::StoreResult<bool> {
    let mut result = store.finish(id.clone(), attempt, outcome.clone()).await;
    for _ in 1..FINISH_ATTEMPTS {
        if result.is_ok() {
            break;
        }
        tokio::time::sleep(pause).await;
        result = store.finish(id.clone(), attempt, outcome.clone()).await;
    }
    result
}

impl actix::Supervised for JobWorker {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        // The runs went with the old context: their rows stay in_progress until the stale-job
        // reaper re-queues them (every job type is safe to run again after a partial run).
        for (_, r) in self.running.drain() {
            r.control.stop(StopReason::Lost);
        }
        self.polling = false;
        self.poll_again = false;
    }
}

crate::restartable!(JobWorker);

impl Actor for JobWorker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(crate::mailbox::LOCAL_MAILBOX);
        slog::info!(self.log, "job worker started"; "job_types" => self.runner.job_types().join(","),
            "poll_ms" => self.settings.poll.as_millis() as u64);
        self.poll(ctx);
        ctx.run_interval(self.settings.poll, |act, ctx| act.poll(ctx));
    }
}

impl Handler<PollNow> for JobWorker {
    type Result = ();
    fn handle(&mut self, _msg: PollNow, ctx: &mut Self::Context) {
        self.poll(ctx);
    }
}

impl Handler<GetActiveJobs> for JobWorker {
    type Result = MessageResult<GetActiveJobs>;
    fn handle(&mut self, _msg: GetActiveJobs, _ctx: &mut Self::Context) -> Self::Result {
        let mut by_type = BTreeMap::new();
        for r in self.running.values() {
            *by_type.entry(r.job_type.clone()).or_insert(0) += 1;
        }
        MessageResult(by_type)
    }
}

impl Handler<DrainJobs> for JobWorker {
    type Result = ResponseActFuture<Self, ()>;
    fn handle(&mut self, msg: DrainJobs, _ctx: &mut Self::Context) -> Self::Result {
        self.draining = true;
        if self.running.is_empty() {
            return Box::pin(fut::ready(()));
        }
        slog::info!(self.log, "draining jobs"; "running" => self.running.len());
        for r in self.running.values() {
            r.control.stop(StopReason::Shutdown);
        }
        let (tx, rx) = oneshot::channel();
        self.drained.push(tx);
        Box::pin(
            async move {
                let _ = tokio::time::timeout(msg.timeout, rx).await; // both endings are handled below
            }
            .into_actor(self)
            .then(|_, act, _| {
                // Whatever did not stop in time goes back to pending; its late finish will not match.
                let left: Vec<(JobId, i32)> = act.running.iter().map(|(id, r)| (id.clone(), r.attempt)).collect();
                let store = act.store.clone();
                let log = act.log.clone();
                async move {
                    for (id, attempt) in left {
                        if let Err(e) = store.finish(id.clone(), attempt, Outcome::Released).await {
                            slog::warn!(log, "cannot hand job back"; "job_id" => %id, "error" => %e);
                        }
                    }
                }
                .into_actor(act)
            }),
        )
    }
}
