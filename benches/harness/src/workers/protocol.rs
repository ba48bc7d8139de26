//! What the parent and its worker processes say to each other: one JSON object per line,
//! commands on the worker's stdin, events on its stdout.

use crate::mixed::plan::{CreatedPost, Finished, Plan, Reconciled, SimUser, Window};
use serde::{Deserialize, Serialize};

/// Parent -> worker.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Command {
    /// Open one more connection per token (tokens may repeat: several connections per user).
    Connect { tokens: Vec<String>, concurrency: usize, timeout_ms: u64 },
    /// Reply with a `Status`.
    GetStatus,
    /// Reply with the deliveries seen so far of post `seq` (complete or not).
    GetDeliveries { seq: u64 },
    /// Close every connection with a close frame, then exit.
    Shutdown,
    /// Mixed run: the plan every user of this worker follows; answered by `PlanReady`.
    Plan { plan: Box<Plan>, connect_concurrency: usize },
    /// Mixed run: connect these users (answered by `Connected`); they act after `Go`.
    StartUsers { users: Vec<SimUser> },
    /// Mixed run: every user, present and future, starts acting.
    Go,
    /// Mixed run (ramp down): these users stop acting and close.
    StopUsers { indices: Vec<usize> },
    /// Mixed run: stop acting; answered by `Finished`.
    Finish,
    /// Mixed run: judge every client against all the run's posts; answered by `Reconciled`.
    Reconcile { posts: Vec<CreatedPost>, timeout_ms: u64 },
}

/// Worker -> parent.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Ready {
        index: usize,
        pid: u32,
    },
    /// Running totals while a `Connect` is under way.
    Progress {
        ok: u64,
        failed: u64,
    },
    /// A `Connect` finished: how many of its connections got `hello`, and how long each took.
    Connected {
        ok: u64,
        failed: u64,
        open: u64,
        connect_us: Buckets,
        errors: Vec<String>,
    },
    Status {
        open: u64,
        closed: u64,
    },
    /// Deliveries of post `seq`: pushed unasked once every open connection has it, or as the
    /// answer to `GetDeliveries`.
    Deliveries {
        seq: u64,
        count: u64,
        open: u64,
        complete: bool,
        first_us: Option<i64>,
        last_us: Option<i64>,
        latency_us: Buckets,
    },
    Error {
        message: String,
    },
    PlanReady,
    /// Mixed run: the last second of this worker.
    Tick {
        window: Window,
    },
    Finished(Box<Finished>),
    Reconciled(Reconciled),
}

/// A histogram's recorded values as (value, count) pairs, to merge in the parent.
pub type Buckets = Vec<(u64, u64)>;
