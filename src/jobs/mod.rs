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
use actix::{Actor, Addr};
use futures_util::future::LocalBoxFuture;
use starling_actors::cluster::{Cluster, SubscribeView};
use starling_actors::jobs::{
    DrainJobs, GetActiveJobs, Job, JobControl, JobRunner, JobScheduler, JobWorker, PollNow, Recurrence, RecurringJob,
    SchedulerCounters, StopScheduler, WorkerSettings, MAX_ATTEMPTS, STOPPED,
};
use starling_actors::leader::{self, GetLeader, Leader, LeaderState, Mode};
use starling_protocol::NodeId;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

pub const DATA_RETENTION: &str = "data_retention";
pub const CLEANUP_EXPIRED_SESSIONS: &str = "cleanup_expired_sessions";
pub const CLEANUP_CLUSTER_DISCOVERY: &str = "cleanup_cluster_discovery";
pub const CLEANUP_JOBS: &str = "cleanup_jobs";
/// Test-only (with `STARLING_TEST_JOBS=1`): sleeps `data.millis` in ten steps; fails if
/// `data.fail` is "true".
pub const TEST_SLEEP: &str = "test_sleep";

/// Switches for tests, read from the environment only (never from config.json):
/// `STARLING_TEST_FORCE_LEADER=1` makes the node lead whatever the cluster says (to test two
/// leaders at once); `STARLING_TEST_JOBS=1` adds the `test_sleep` job type.
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

/// The job types this node knows.
pub fn job_types(hooks: TestHooks) -> Vec<String> {
    let mut v = vec![DATA_RETENTION, CLEANUP_EXPIRED_SESSIONS, CLEANUP_CLUSTER_DISCOVERY, CLEANUP_JOBS];
    if hooks.test_jobs {
        v.push(TEST_SLEEP);
    }
    v.into_iter().map(str::to_owned).collect()
}

/// The recurring jobs the config asks for.
pub fn recurring(config: &Config) -> Vec<RecurringJob> {
    let every = Recurrence::Every(Duration::from_secs(config.job_settings.cleanup_interval_seconds.max(1) as u64));
    let mut v = vec![RecurringJob { job_type: CLEANUP_EXPIRED_SESSIONS.into(), recurrence: every }];
    if config.cluster_settings.enable {
        v.push(RecurringJob { job_type: CLEANUP_CLUSTER_DISCOVERY.into(), recurrence: every });
    }
    if config.job_settings.cleanup_jobs_threshold_days >= 0 {
        v.push(RecurringJob { job_type: CLEANUP_JOBS.into(), recurrence: every });
    }
    let d = &config.data_retention_settings;
    if d.enable_message_deletion || d.enable_file_deletion {
        // Validated at load; 02:00 (the default) if it somehow is not.
        let (hour, minute) = d.start_time().unwrap_or((2, 0));
        v.push(RecurringJob { job_type: DATA_RETENTION.into(), recurrence: Recurrence::DailyAt { hour, minute } });
    }
    v
}

/// Runs this node's job types.
struct Runner {
    store: Store,
    files: FileStore,
    config: Arc<RwLock<Config>>,
    types: Vec<String>,
    log: slog::Logger,
}

impl JobRunner for Runner {
    fn job_types(&self) -> Vec<String> {
        self.types.clone()
    }

    fn run(
        &self,
        job: Job,
        control: Arc<JobControl>,
    ) -> LocalBoxFuture<'static, Result<BTreeMap<String, String>, String>> {
        let store = self.store.clone();
        let files = self.files.clone();
        let config = self.config.read().map(|c| c.clone()).unwrap_or_default();
        let log = self.log.new(slog::o!("job_id" => job.id.to_string(), "job_type" => job.job_type.clone()));
        Box::pin(async move {
            match job.job_type.as_str() {
                DATA_RETENTION => {
                    data_retention::run(&store, &files, &config.data_retention_settings, &control, &log).await
                }
                CLEANUP_EXPIRED_SESSIONS => cleanup::expired_sessions(&store, &control).await,
                CLEANUP_CLUSTER_DISCOVERY => cleanup::cluster_discovery(&store).await,
                CLEANUP_JOBS => cleanup::jobs(&store, config.job_settings.cleanup_jobs_threshold_days, &control).await,
                TEST_SLEEP => test_sleep(&job, &control).await,
                other => Err(format!("no worker for job type {other:?}")),
            }
        })
    }
}

async fn test_sleep(job: &Job, control: &JobControl) -> Result<BTreeMap<String, String>, String> {
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
    pub node_id: &'a str,
    pub config: Arc<RwLock<Config>>,
    pub store: &'a Store,
    pub files: &'a FileStore,
    pub cluster: Option<&'a Addr<Cluster>>,
    pub hooks: TestHooks,
    pub log: slog::Logger,
}

/// Start the leader election, and the worker and scheduler as JobSettings asks.
pub fn start(s: Start<'_>) -> JobsHandle {
    let cfg = s.config.read().map(|c| c.clone()).unwrap_or_default();
    let node_id = NodeId::from(s.node_id);
    let mode = match (s.hooks.force_leader, s.cluster) {
        (true, _) => Mode::Forced,
        (false, Some(_)) => Mode::Clustered,
        (false, None) => Mode::Standalone,
    };
    if mode == Mode::Forced {
        slog::warn!(s.log, "leadership forced by STARLING_TEST_FORCE_LEADER; for tests only");
    }
    let leader = Leader::new(node_id.clone(), mode, s.log.clone()).start();
    if let (Mode::Clustered, Some(cluster)) = (mode, s.cluster) {
        cluster.do_send(SubscribeView { subscriber: leader.clone().recipient() });
    }
    let types = job_types(s.hooks);
    let js = &cfg.job_settings;
    let ms = |v: i64| Duration::from_millis(v.max(1) as u64);
    let worker = js.run_jobs.then(|| {
        let runner = Runner {
            store: s.store.clone(),
            files: s.files.clone(),
            config: s.config.clone(),
            types: types.clone(),
            log: s.log.clone(),
        };
        let settings = WorkerSettings {
            poll: ms(js.worker_poll_milliseconds),
            heartbeat: ms(js.heartbeat_milliseconds),
            stale_after: ms(js.stale_job_milliseconds),
            max_attempts: MAX_ATTEMPTS,
        };
        JobWorker::new(node_id.clone(), Arc::new(s.store.clone()), Arc::new(runner), settings, s.log.clone()).start()
    });
    let scheduler_counters = Arc::new(SchedulerCounters::default());
    let scheduler = js.run_scheduler.then(|| {
        let scheduler = JobScheduler::new(
            node_id.clone(),
            Arc::new(s.store.clone()),
            recurring(&cfg),
            ms(js.scheduler_poll_milliseconds),
            worker.as_ref().map(|w| w.clone().recipient()),
            scheduler_counters.clone(),
            s.log.clone(),
        )
        .start();
        leader.do_send(leader::Subscribe { subscriber: scheduler.clone().recipient() });
        scheduler
    });
    JobsHandle { leader, scheduler, worker, scheduler_counters, types }
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
        let types = |c: &Config| recurring(c).into_iter().map(|r| r.job_type).collect::<Vec<_>>();
        assert_eq!(types(&c), vec![CLEANUP_EXPIRED_SESSIONS]);
        c.cluster_settings.enable = true;
        c.job_settings.cleanup_jobs_threshold_days = 30;
        c.data_retention_settings.enable_file_deletion = true;
        c.data_retention_settings.deletion_job_start_time = "3:05".into();
        assert_eq!(types(&c), vec![CLEANUP_EXPIRED_SESSIONS, CLEANUP_CLUSTER_DISCOVERY, CLEANUP_JOBS, DATA_RETENTION]);
        assert_eq!(recurring(&c)[3].recurrence, Recurrence::DailyAt { hour: 3, minute: 5 });
        assert_eq!(recurring(&c)[0].recurrence, Recurrence::Every(Duration::from_secs(86_400)));
    }

    #[test]
    fn test_types_only_with_the_hook() {
        assert!(!job_types(TestHooks::default()).contains(&TEST_SLEEP.to_owned()));
        assert!(job_types(TestHooks { test_jobs: true, force_leader: false }).contains(&TEST_SLEEP.to_owned()));
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
