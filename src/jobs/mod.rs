//! The node's side of the job server: the job types, the recurring schedule from the config, and
//! starting the [`Leader`], [`JobScheduler`] and [`JobWorker`] actors (their logic lives in
//! `starling-actors`; the database side in `store/jobs.rs`).
//!
//! Job types:
//! - `data_retention` (DataRetentionSettings): deletes posts older than MessageRetentionDays with
//!   their replies and their files, and files older than FileRetentionDays; daily at
//!   DeletionJobStartTime (UTC) while either deletion is enabled.
//! - `cleanup_expired_sessions`, `cleanup_cluster_discovery`, `cleanup_jobs`
//!   (JobSettings.CleanupJobsThresholdDays >= 0): every JobSettings.CleanupIntervalSeconds.
//!
//! A job left running by a node that died is re-queued, then failed after
//! [`MAX_ATTEMPTS`](starling_actors::jobs::MAX_ATTEMPTS) attempts (see `starling_actors::jobs`);
//! every type here is safe to run again after a partial run.

mod cleanup;
mod data_retention;

use crate::config::Config;
use crate::filestore::FileStore;
use crate::store::Store;
use actix::Addr;
use futures_util::future::LocalBoxFuture;
use starling_actors::cluster::{Cluster, SubscribeView};
use starling_actors::jobs::{
    DrainJobs, GetActiveJobs, Job, JobControl, JobRunner, JobScheduler, JobWorker, PollNow, Recurrence, RecurringJob,
    SchedulerCounters, StopScheduler, WorkerSettings, MAX_ATTEMPTS, STOPPED,
};
use starling_actors::leader::{self, GetLeader, Leader, LeaderState, Mode};
use starling_actors::Supervisor;
use starling_protocol::NodeId;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

pub const DATA_RETENTION: &str = "data_retention";
pub const CLEANUP_EXPIRED_SESSIONS: &str = "cleanup_expired_sessions";
pub const CLEANUP_CLUSTER_DISCOVERY: &str = "cleanup_cluster_discovery";
pub const CLEANUP_JOBS: &str = "cleanup_jobs";
/// Test-only: sleeps `data.millis` in ten steps; fails if `data.fail` is "true". Registered by
/// tests through the NodeBuilder, or (for node processes) by `STARLING_TEST_JOBS=1`.
pub const TEST_SLEEP: &str = "test_sleep";

/// Switches for tests of node processes, read from the environment by `starling serve` only:
/// `STARLING_TEST_FORCE_LEADER=1` makes the node lead whatever the cluster says (to test two
/// leaders at once); `STARLING_TEST_JOBS=1` adds the `test_sleep` job type. In-process tests set
/// the same through the NodeBuilder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TestHooks {
    pub force_leader: bool,
    pub test_jobs: bool,
}

impl TestHooks {
    pub fn from_env() -> Self {
        let on = |k: &str| std::env::var(k).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
        Self { force_leader: on("STARLING_TEST_FORCE_LEADER"), test_jobs: on("STARLING_TEST_JOBS") }
    }
}

/// What a job runs with.
pub struct JobContext {
    pub store: Store,
    pub files: FileStore,
    /// The config as it is when the run starts.
    pub config: Config,
    pub log: slog::Logger,
}

/// Result of a run: `Ok(data)` (merged into the job's data) or the failure's message.
pub type JobOutcome = Result<BTreeMap<String, String>, String>;

/// A kind of job this node runs. The built-in types and those a binary adds register with the
/// [`NodeBuilder`](crate::server::NodeBuilder); the job API accepts exactly the registered names.
pub trait JobType: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    /// When the leader creates one by itself under this config (None: only on request).
    fn recurrence(&self, _config: &Config) -> Option<Recurrence> {
        None
    }
    /// Run one job; check `control` between steps (see [`JobControl`]).
    fn run(&self, cx: JobContext, job: Job, control: Arc<JobControl>) -> LocalBoxFuture<'static, JobOutcome>;
}

fn cleanup_every(config: &Config) -> Recurrence {
    Recurrence::Every(Duration::from_secs(config.job_settings.cleanup_interval_seconds.max(1) as u64))
}

struct CleanupExpiredSessions;
impl JobType for CleanupExpiredSessions {
    fn name(&self) -> &'static str {
        CLEANUP_EXPIRED_SESSIONS
    }
    fn recurrence(&self, config: &Config) -> Option<Recurrence> {
        Some(cleanup_every(config))
    }
    fn run(&self, cx: JobContext, _job: Job, control: Arc<JobControl>) -> LocalBoxFuture<'static, JobOutcome> {
        Box::pin(async move { cleanup::expired_sessions(&cx.store, &control).await })
    }
}

struct CleanupClusterDiscovery;
impl JobType for CleanupClusterDiscovery {
    fn name(&self) -> &'static str {
        CLEANUP_CLUSTER_DISCOVERY
    }
    fn recurrence(&self, config: &Config) -> Option<Recurrence> {
        config.cluster_settings.enable.then(|| cleanup_every(config))
    }
    fn run(&self, cx: JobContext, _job: Job, _control: Arc<JobControl>) -> LocalBoxFuture<'static, JobOutcome> {
        Box::pin(async move { cleanup::cluster_discovery(&cx.store).await })
    }
}

struct CleanupJobs;
impl JobType for CleanupJobs {
    fn name(&self) -> &'static str {
        CLEANUP_JOBS
    }
    fn recurrence(&self, config: &Config) -> Option<Recurrence> {
        (config.job_settings.cleanup_jobs_threshold_days >= 0).then(|| cleanup_every(config))
    }
    fn run(&self, cx: JobContext, _job: Job, control: Arc<JobControl>) -> LocalBoxFuture<'static, JobOutcome> {
        let days = cx.config.job_settings.cleanup_jobs_threshold_days;
        Box::pin(async move { cleanup::jobs(&cx.store, days, &control).await })
    }
}

struct DataRetention;
impl JobType for DataRetention {
    fn name(&self) -> &'static str {
        DATA_RETENTION
    }
    fn recurrence(&self, config: &Config) -> Option<Recurrence> {
        let d = &config.data_retention_settings;
        (d.enable_message_deletion || d.enable_file_deletion).then(|| {
            // Validated at load; 02:00 (the default) if it somehow is not.
            let (hour, minute) = d.start_time().unwrap_or((2, 0));
            Recurrence::DailyAt { hour, minute }
        })
    }
    fn run(&self, cx: JobContext, _job: Job, control: Arc<JobControl>) -> LocalBoxFuture<'static, JobOutcome> {
        Box::pin(async move {
            data_retention::run(&cx.store, &cx.files, &cx.config.data_retention_settings, &control, &cx.log).await
        })
    }
}

/// See [`TEST_SLEEP`].
pub struct TestSleep;
impl JobType for TestSleep {
    fn name(&self) -> &'static str {
        TEST_SLEEP
    }
    fn run(&self, _cx: JobContext, job: Job, control: Arc<JobControl>) -> LocalBoxFuture<'static, JobOutcome> {
        Box::pin(async move { test_sleep(&job, &control).await })
    }
}

/// The job types every node runs, in schedule order.
pub fn builtin_types() -> Vec<Arc<dyn JobType>> {
    vec![
        Arc::new(CleanupExpiredSessions),
        Arc::new(CleanupClusterDiscovery),
        Arc::new(CleanupJobs),
        Arc::new(DataRetention),
    ]
}

/// The recurring jobs the config asks for, in registration order.
pub fn recurring(config: &Config, types: &[Arc<dyn JobType>]) -> Vec<RecurringJob> {
    types
        .iter()
        .filter_map(|t| t.recurrence(config).map(|recurrence| RecurringJob { job_type: t.name().into(), recurrence }))
        .collect()
}

/// Runs this node's job types.
struct Runner {
    store: Store,
    files: FileStore,
    config: Arc<RwLock<Config>>,
    types: BTreeMap<&'static str, Arc<dyn JobType>>,
    log: slog::Logger,
}

impl JobRunner for Runner {
    fn job_types(&self) -> Vec<String> {
        self.types.keys().map(|t| (*t).to_owned()).collect()
    }

    fn run(&self, job: Job, control: Arc<JobControl>) -> LocalBoxFuture<'static, JobOutcome> {
        let Some(kind) = self.types.get(job.job_type.as_str()).cloned() else {
            let message = format!("no worker for job type {:?}", job.job_type);
            return Box::pin(async move { Err(message) });
        };
        let cx = JobContext {
            store: self.store.clone(),
            files: self.files.clone(),
            config: self.config.read().map(|c| c.clone()).unwrap_or_default(),
            log: self.log.new(slog::o!("job_id" => job.id.to_string(), "job_type" => job.job_type.clone())),
        };
        kind.run(cx, job, control)
    }
}

async fn test_sleep(job: &Job, control: &JobControl) -> JobOutcome {
    let millis: u64 = job.data.get("millis").and_then(|v| v.parse().ok()).unwrap_or(1000);
    for step in 1..=10 {
        if !control.sleep(Duration::from_millis(millis / 10)).await {
            return Err(STOPPED.into());
        }
        control.set_progress(step * 10);
    }
    if job.data.get("fail").is_some_and(|v| v == "true") {
        return Err("failed on request".into());
    }
    Ok(BTreeMap::from([("slept_ms".to_owned(), millis.to_string())]))
}

/// The job server's actors, for the API, metrics and shutdown.
#[derive(Clone)]
pub struct JobsHandle {
    pub leader: Addr<Leader>,
    pub scheduler: Option<Addr<JobScheduler>>,
    pub worker: Option<Addr<JobWorker>>,
    pub scheduler_counters: Arc<SchedulerCounters>,
    /// The job types this node knows (the API accepts these).
    pub types: Vec<String>,
}

pub struct Start<'a> {
    pub node_id: &'a NodeId,
    pub config: Arc<RwLock<Config>>,
    pub store: &'a Store,
    pub files: &'a FileStore,
    /// The cluster's view, for the election (None: this node leads alone).
    pub cluster: Option<&'a Addr<Cluster>>,
    pub types: Vec<Arc<dyn JobType>>,
    /// Lead whatever the cluster says (tests of two leaders at once).
    pub force_leader: bool,
    pub supervisor: &'a Supervisor,
    pub log: slog::Logger,
}

/// Start the leader election, and the worker and scheduler as JobSettings asks, supervised.
pub fn start(s: Start<'_>) -> JobsHandle {
    let cfg = s.config.read().map(|c| c.clone()).unwrap_or_default();
    let node_id = s.node_id.clone();
    let mode = match (s.force_leader, s.cluster) {
        (true, _) => Mode::Forced,
        (false, Some(_)) => Mode::Clustered,
        (false, None) => Mode::Standalone,
    };
    if mode == Mode::Forced {
        slog::warn!(s.log, "leadership forced for a test");
    }
    let leader = {
        let (id, log) = (node_id.clone(), s.log.clone());
        s.supervisor.start("leader", move |_| Leader::new(id, mode, log))
    };
    if let (Mode::Clustered, Some(cluster)) = (mode, s.cluster) {
        cluster.do_send(SubscribeView { subscriber: leader.clone().recipient() });
    }
    let names: Vec<String> = s.types.iter().map(|t| t.name().to_owned()).collect();
    let js = &cfg.job_settings;
    let ms = |v: i64| Duration::from_millis(v.max(1) as u64);
    let worker = js.run_jobs.then(|| {
        let runner = Runner {
            store: s.store.clone(),
            files: s.files.clone(),
            config: s.config.clone(),
            types: s.types.iter().map(|t| (t.name(), t.clone())).collect(),
            log: s.log.clone(),
        };
        let settings = WorkerSettings {
            poll: ms(js.worker_poll_milliseconds),
            heartbeat: ms(js.heartbeat_milliseconds),
            stale_after: ms(js.stale_job_milliseconds),
            max_attempts: MAX_ATTEMPTS,
        };
        let (id, store, log) = (node_id.clone(), Arc::new(s.store.clone()), s.log.clone());
        s.supervisor.start("job_worker", move |_| JobWorker::new(id, store, Arc::new(runner), settings, log))
    });
    let scheduler_counters = Arc::new(SchedulerCounters::default());
    let scheduler = js.run_scheduler.then(|| {
        let jobs = recurring(&cfg, &s.types);
        let poll = ms(js.scheduler_poll_milliseconds);
        let nudge = worker.as_ref().map(|w| w.clone().recipient());
        let (id, store, counters, log) =
            (node_id.clone(), Arc::new(s.store.clone()), scheduler_counters.clone(), s.log.clone());
        let scheduler = s
            .supervisor
            .start("job_scheduler", move |_| JobScheduler::new(id, store, jobs, poll, nudge, counters, log));
        leader.do_send(leader::Subscribe { subscriber: scheduler.clone().recipient() });
        scheduler
    });
    JobsHandle { leader, scheduler, worker, scheduler_counters, types: names }
}

impl JobsHandle {
    /// Who leads, as this node sees it.
    pub async fn leader_state(&self) -> LeaderState {
        self.leader.send(GetLeader).await.unwrap_or(LeaderState { leader: None, is_leader: false })
    }

    /// Tell this node's worker to look for pending jobs now.
    pub fn poll_now(&self) {
        if let Some(w) = &self.worker {
            w.do_send(PollNow);
        }
    }

    /// Jobs running on this node, by type.
    pub async fn active(&self) -> BTreeMap<String, usize> {
        match &self.worker {
            Some(w) => w.send(GetActiveJobs).await.unwrap_or_default(),
            None => BTreeMap::new(),
        }
    }

    /// Stop scheduling (shutdown). Safe to call twice.
    pub async fn stop_scheduler(&self) {
        if let Some(s) = &self.scheduler {
            let _ = s.send(StopScheduler).await; // already stopped: nothing to do
        }
    }

    /// Stop claiming and hand running jobs back (shutdown). Safe to call twice.
    pub async fn drain(&self, timeout: Duration) {
        if let Some(w) = &self.worker {
            let _ = w.send(DrainJobs { timeout }).await; // already stopped: nothing to do
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_follows_the_config() {
        let mut c = Config::default();
        let all = builtin_types();
        let types = |c: &Config| recurring(c, &all).into_iter().map(|r| r.job_type).collect::<Vec<_>>();
        assert_eq!(types(&c), vec![CLEANUP_EXPIRED_SESSIONS]);
        c.cluster_settings.enable = true;
        c.job_settings.cleanup_jobs_threshold_days = 30;
        c.data_retention_settings.enable_file_deletion = true;
        c.data_retention_settings.deletion_job_start_time = "3:05".into();
        assert_eq!(types(&c), vec![CLEANUP_EXPIRED_SESSIONS, CLEANUP_CLUSTER_DISCOVERY, CLEANUP_JOBS, DATA_RETENTION]);
        assert_eq!(recurring(&c, &all)[3].recurrence, Recurrence::DailyAt { hour: 3, minute: 5 });
        assert_eq!(recurring(&c, &all)[0].recurrence, Recurrence::Every(Duration::from_secs(86_400)));
    }

    #[test]
    fn the_test_type_is_not_built_in() {
        assert!(!builtin_types().iter().any(|t| t.name() == TEST_SLEEP));
        assert!(recurring(&Config::default(), &[Arc::new(TestSleep)]).is_empty(), "only on request");
    }

    #[test]
    fn data_retention_settings_are_checked_like_mattermost() {
        let ok = Config::default();
        assert!(ok.validate().is_ok());
        for (start, good) in [
            ("02:00", true),
            ("2:00", true),
            ("23:59", true),
            ("24:00", false),
            ("2:0", false),
            ("", false),
            ("ab:cd", false),
        ] {
            let mut c = Config::default();
            c.data_retention_settings.deletion_job_start_time = start.into();
            assert_eq!(c.validate().is_ok(), good, "{start:?}");
        }
        let mut c = Config::default();
        c.data_retention_settings.message_retention_days = 0;
        assert!(c.validate().unwrap_err().to_string().contains("DataRetentionSettings.MessageRetentionDays"));
        let mut c = Config::default();
        c.data_retention_settings.file_retention_days = -1;
        assert!(c.validate().unwrap_err().to_string().contains("DataRetentionSettings.FileRetentionDays"));
        let mut c = Config::default();
        c.job_settings.heartbeat_milliseconds = 1000;
        c.job_settings.stale_job_milliseconds = 2000;
        assert!(c.validate().unwrap_err().to_string().contains("JobSettings.StaleJobMilliseconds"));
    }
}
