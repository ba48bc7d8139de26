//! The job server: jobs as Mattermost keeps them, the leader's [`JobScheduler`] and every node's
//! [`JobWorker`].
//!
//! A job is a row in the Jobs table. The scheduler (on the leader only) creates the recurring
//! ones; the API creates others. Workers on every node poll for pending jobs and claim one with a
//! conditional update, so exactly one node runs it.
//!
//! Exactly once, in the database (design note):
//! - **One job per period.** A recurring job carries the key of its period (`every:<ms>:<n>` or
//!   `daily:<HH:MM>:<date>`, computed by the database's clock) and `(type, key)` is unique. Two
//!   nodes that both believe they lead race on the insert; one row wins, the other insert does
//!   nothing.
//! - **One runner per job.** Claiming is `UPDATE ... WHERE id = $1 AND status = 'pending'`, which
//!   also bumps `attempt`. Every later write by the runner (heartbeat, final status) names that
//!   attempt, so a worker that lost its job (below) can neither touch it nor finish it.
//! - **Dead runners.** A running job refreshes LastActivityAt every heartbeat. A job left
//!   in_progress whose LastActivityAt is older than the stale limit was abandoned by a node that
//!   died (or hung): any worker's poll **re-queues** it (back to pending, for another claim) while
//!   it has been tried fewer than [`MAX_ATTEMPTS`] times, and otherwise **fails** it (status error,
//!   `data.error` names the node). A job whose cancel had been requested becomes canceled. Every
//!   job type therefore must be safe to run again after a partial run (the built-in ones delete by
//!   a cutoff, so they are).
//! - **Audit.** Each claim adds a JobRuns row (job, attempt, node); the final status and that row's
//!   outcome are written in one statement, so "the job succeeded" and "this attempt succeeded" never
//!   disagree.

pub mod scheduler;
pub mod worker;

pub use scheduler::{JobScheduler, SchedulerCounters, StopScheduler};
pub use worker::{DrainJobs, GetActiveJobs, JobWorker, PollNow, WorkerSettings};

use crate::error::StoreResult;
use futures_util::future::{BoxFuture, LocalBoxFuture};
use serde::{Deserialize, Serialize};
use starling_protocol::NodeId;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// How many times a job abandoned by dead nodes is re-queued before it is failed.
pub const MAX_ATTEMPTS: i32 = 3;

/// A job's id (26 characters, like every Mattermost id).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct JobId(pub String);

impl JobId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for JobId {
    fn from(s: String) -> Self {
        Self(s)
    }
}

/// Mattermost's job statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Pending,
    InProgress,
    Success,
    Error,
    CancelRequested,
    Canceled,
    Warning,
}

impl JobStatus {
    pub const ALL: [JobStatus; 7] = [
        JobStatus::Pending,
        JobStatus::InProgress,
        JobStatus::Success,
        JobStatus::Error,
        JobStatus::CancelRequested,
        JobStatus::Canceled,
        JobStatus::Warning,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::InProgress => "in_progress",
            JobStatus::Success => "success",
            JobStatus::Error => "error",
            JobStatus::CancelRequested => "cancel_requested",
            JobStatus::Canceled => "canceled",
            JobStatus::Warning => "warning",
        }
    }

    pub fn parse(s: &str) -> Option<JobStatus> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job, serialised exactly as Mattermost's API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Job {
    pub id: JobId,
    #[serde(rename = "type")]
    pub job_type: String,
    pub priority: i64,
    pub create_at: i64,
    pub start_at: i64,
    pub last_activity_at: i64,
    pub status: JobStatus,
    pub progress: i64,
    pub data: BTreeMap<String, String>,
    /// How many times it has been claimed (the fence for the runner's writes); not shown.
    #[serde(skip)]
    pub attempt: i32,
}

/// When a recurring job is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recurrence {
    /// Once per `Duration` (periods are aligned to the epoch).
    Every(Duration),
    /// Once a day at HH:MM UTC (Mattermost's DeletionJobStartTime). The period is the day of the
    /// latest such time, so a leader that starts (or takes over) later that day still runs it.
    DailyAt { hour: u8, minute: u8 },
}

/// A job type the scheduler creates on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecurringJob {
    pub job_type: String,
    pub recurrence: Recurrence,
}

/// What a heartbeat learned about the running job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heartbeat {
    Running,
    CancelRequested,
    /// The row is no longer ours (re-queued as stale and perhaps claimed elsewhere).
    Lost,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Status success; `data` is merged into the job's data.
    Success(BTreeMap<String, String>),
    /// Status error; the message goes to `data.error`.
    Error(String),
    Canceled,
    /// Handed back (pending) because this node is shutting down.
    Released,
}

/// A stale job a poll re-queued or failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaped {
    pub id: JobId,
    pub job_type: String,
    /// The node that had abandoned it.
    pub node_id: String,
    pub attempt: i32,
    pub status: JobStatus,
}

/// What the scheduler and the workers need from the database.
pub trait JobStore: Send + Sync + 'static {
    /// Create this period's job of `job`'s type unless it exists or one of the type is pending.
    fn schedule(&self, job: RecurringJob, node_id: NodeId) -> BoxFuture<'static, StoreResult<Option<Job>>>;
    /// Pending jobs of these types, highest priority and oldest first.
    fn pending(&self, types: Vec<String>, limit: i64) -> BoxFuture<'static, StoreResult<Vec<Job>>>;
    /// Pending -> in_progress for this node, or None if someone else was first.
    fn claim(&self, id: JobId, node_id: NodeId) -> BoxFuture<'static, StoreResult<Option<Job>>>;
    /// Refresh LastActivityAt and progress of a claimed job.
    fn heartbeat(&self, id: JobId, attempt: i32, progress: i64) -> BoxFuture<'static, StoreResult<Heartbeat>>;
    /// Write the final status (and the audit row's outcome). False if the job was no longer ours.
    fn finish(&self, id: JobId, attempt: i32, outcome: Outcome) -> BoxFuture<'static, StoreResult<bool>>;
    /// Re-queue (or fail, past `max_attempts`) jobs whose runner fell silent for `stale_after`.
    fn reap_stale(&self, stale_after: Duration, max_attempts: i32) -> BoxFuture<'static, StoreResult<Vec<Reaped>>>;
}

/// Why a running job is asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum StopReason {
    /// A user asked to cancel it.
    Cancel = 1,
    /// This node is shutting down; the job goes back to pending.
    Shutdown = 2,
    /// The job is no longer ours.
    Lost = 3,
}

/// Shared between a running job and its worker: progress one way, stop requests the other.
#[derive(Debug, Default)]
pub struct JobControl {
    progress: AtomicI64,
    stop: AtomicU8,
    wake: Notify,
}

impl JobControl {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Report progress, 0..=100.
    pub fn set_progress(&self, percent: i64) {
        self.progress.store(percent.clamp(0, 100), Ordering::Relaxed);
    }

    pub fn progress(&self) -> i64 {
        self.progress.load(Ordering::Relaxed)
    }

    /// Ask the job to stop (the first reason wins).
    pub fn stop(&self, why: StopReason) {
        if self.stop.compare_exchange(0, why as u8, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
            self.wake.notify_waiters();
        }
    }

    /// Why the job should stop, if it should. Jobs check this between batches.
    pub fn stop_reason(&self) -> Option<StopReason> {
        match self.stop.load(Ordering::SeqCst) {
            1 => Some(StopReason::Cancel),
            2 => Some(StopReason::Shutdown),
            3 => Some(StopReason::Lost),
            _ => None,
        }
    }

    pub fn should_stop(&self) -> bool {
        self.stop_reason().is_some()
    }

    /// Sleep for `d` unless asked to stop first. True if the whole time passed.
    pub async fn sleep(&self, d: Duration) -> bool {
        let woken = self.wake.notified();
        if self.should_stop() {
            return false;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => !self.should_stop(),
            _ = woken => false,
        }
    }
}

/// The error a job returns when it stopped because it was asked to.
pub const STOPPED: &str = "stopped on request";

/// What runs jobs: the node implements it with the real job types.
pub trait JobRunner: Send + Sync + 'static {
    /// The types this node can run.
    fn job_types(&self) -> Vec<String>;
    /// Run one job. `Ok(data)` is success (merged into the job's data); `Err(message)` is a
    /// failure, or, when the control says stop, the end of a stopped run.
    fn run(
        &self,
        job: Job,
        control: Arc<JobControl>,
    ) -> LocalBoxFuture<'static, Result<BTreeMap<String, String>, String>>;
}

#[cfg(test)]
mod tests;
