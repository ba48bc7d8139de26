//! The scheduler's and worker's own logic against a store held in memory that keeps the same
//! rules as the SQL one (conditional claim, attempt fences, stale reaping). The node's integration
//! tests run the real thing on PostgreSQL with several node processes.

use super::*;
use crate::leader::LeaderChanged;
use actix::prelude::*;
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
struct MemStore {
    jobs: Mutex<HashMap<JobId, Job>>,
    keys: Mutex<HashMap<(String, String), JobId>>,
    /// (job, attempt, node) of every claim.
    claims: Mutex<Vec<(JobId, i32, String)>>,
    /// The period key `schedule` uses (the test moves it on).
    period: Mutex<u64>,
    next: Mutex<u64>,
}

impl MemStore {
    fn add(&self, job_type: &str) -> JobId {
        let mut n = self.next.lock().unwrap();
        *n += 1;
        let id = JobId(format!("job{n:023}"));
        self.jobs.lock().unwrap().insert(
            id.clone(),
            Job {
                id: id.clone(),
                job_type: job_type.into(),
                priority: 0,
                create_at: *n as i64,
                start_at: 0,
                last_activity_at: 0,
                status: JobStatus::Pending,
                progress: 0,
                data: BTreeMap::new(),
                attempt: 0,
            },
        );
        id
    }

    fn get(&self, id: &JobId) -> Job {
        self.jobs.lock().unwrap()[id].clone()
    }

    fn set_status(&self, id: &JobId, status: JobStatus) {
        self.jobs.lock().unwrap().get_mut(id).unwrap().status = status;
    }
}

fn ready<T: Send + 'static>(v: T) -> BoxFuture<'static, T> {
    Box::pin(async move { v })
}

impl JobStore for Arc<MemStore> {
    fn schedule(
        &self,
        job: RecurringJob,
        node_id: NodeId,
    ) -> BoxFuture<'static, crate::error::StoreResult<Option<Job>>> {
        let key = (job.job_type.clone(), self.period.lock().unwrap().to_string());
        if self.keys.lock().unwrap().contains_key(&key) {
            return ready(Ok(None));
        }
        let id = self.add(&job.job_type);
        self.jobs.lock().unwrap().get_mut(&id).unwrap().data.insert("created_by".into(), node_id.0);
        self.keys.lock().unwrap().insert(key, id.clone());
        ready(Ok(Some(self.get(&id))))
    }

    fn pending(&self, types: Vec<String>, limit: i64) -> BoxFuture<'static, crate::error::StoreResult<Vec<Job>>> {
        let mut v: Vec<Job> = self
            .jobs
            .lock()
            .unwrap()
            .values()
            .filter(|j| j.status == JobStatus::Pending && types.contains(&j.job_type))
            .cloned()
            .collect();
        v.sort_by_key(|j| j.create_at);
        v.truncate(limit as usize);
        ready(Ok(v))
    }

    fn claim(&self, id: JobId, node_id: NodeId) -> BoxFuture<'static, crate::error::StoreResult<Option<Job>>> {
        let mut jobs = self.jobs.lock().unwrap();
        let j = jobs.get_mut(&id).unwrap();
        if j.status != JobStatus::Pending {
            return ready(Ok(None));
        }
        j.status = JobStatus::InProgress;
        j.attempt += 1;
        self.claims.lock().unwrap().push((id, j.attempt, node_id.0));
        ready(Ok(Some(j.clone())))
    }

    fn heartbeat(
        &self,
        id: JobId,
        attempt: i32,
        progress: i64,
    ) -> BoxFuture<'static, crate::error::StoreResult<Heartbeat>> {
        let mut jobs = self.jobs.lock().unwrap();
        let j = jobs.get_mut(&id).unwrap();
        let ours = j.attempt == attempt && matches!(j.status, JobStatus::InProgress | JobStatus::CancelRequested);
        if !ours {
            return ready(Ok(Heartbeat::Lost));
        }
        j.progress = progress;
        j.last_activity_at += 1;
        ready(Ok(if j.status == JobStatus::CancelRequested { Heartbeat::CancelRequested } else { Heartbeat::Running }))
    }

    fn finish(&self, id: JobId, attempt: i32, outcome: Outcome) -> BoxFuture<'static, crate::error::StoreResult<bool>> {
        let mut jobs = self.jobs.lock().unwrap();
        let j = jobs.get_mut(&id).unwrap();
        let ours = j.attempt == attempt && matches!(j.status, JobStatus::InProgress | JobStatus::CancelRequested);
        if !ours {
            return ready(Ok(false));
        }
        j.status = match outcome {
            Outcome::Success(data) => {
                j.data.extend(data);
                j.progress = 100;
                JobStatus::Success
            }
            Outcome::Error(e) => {
                j.data.insert("error".into(), e);
                JobStatus::Error
            }
            Outcome::Canceled => JobStatus::Canceled,
            Outcome::Released => JobStatus::Pending,
        };
        ready(Ok(true))
    }

    fn reap_stale(&self, _stale: Duration, _max: i32) -> BoxFuture<'static, crate::error::StoreResult<Vec<Reaped>>> {
        ready(Ok(vec![]))
    }
}

/// Runs `sleep` jobs: sleeps data["ms"] milliseconds in steps, reporting progress; `fail` jobs fail.
struct TestRunner {
    concurrent: Mutex<HashMap<String, usize>>,
    max_concurrent: Mutex<HashMap<String, usize>>,
}

impl JobRunner for Arc<TestRunner> {
    fn job_types(&self) -> Vec<String> {
        vec!["sleep".into(), "other".into(), "fail".into()]
    }

    fn run(
        &self,
        job: Job,
        control: Arc<JobControl>,
    ) -> LocalBoxFuture<'static, Result<BTreeMap<String, String>, String>> {
        let me = self.clone();
        Box::pin(async move {
            {
                let mut c = me.concurrent.lock().unwrap();
                let n = c.entry(job.job_type.clone()).or_default();
                *n += 1;
                let mut m = me.max_concurrent.lock().unwrap();
                let mx = m.entry(job.job_type.clone()).or_default();
                *mx = (*mx).max(*n);
            }
            let ms: u64 = job.data.get("ms").and_then(|v| v.parse().ok()).unwrap_or(30);
            let result = if job.job_type == "fail" {
                Err("it broke".to_owned())
            } else {
                let mut out = Ok(BTreeMap::from([("slept".to_owned(), ms.to_string())]));
                for step in 1..=10 {
                    if !control.sleep(Duration::from_millis(ms / 10)).await {
                        out = Err(STOPPED.to_owned());
                        break;
                    }
                    control.set_progress(step * 10);
                }
                out
            };
            *me.concurrent.lock().unwrap().get_mut(&job.job_type).unwrap() -= 1;
            result
        })
    }
}

fn log() -> slog::Logger {
    slog::Logger::root(slog::Discard, slog::o!())
}

fn settings() -> WorkerSettings {
    WorkerSettings {
        poll: Duration::from_millis(20),
        heartbeat: Duration::from_millis(10),
        stale_after: Duration::from_secs(60),
        max_attempts: MAX_ATTEMPTS,
    }
}

fn runner() -> Arc<TestRunner> {
    Arc::new(TestRunner { concurrent: Default::default(), max_concurrent: Default::default() })
}

fn worker(store: &Arc<MemStore>, runner: &Arc<TestRunner>) -> Addr<JobWorker> {
    JobWorker::new(NodeId::from("node1"), Arc::new(store.clone()), Arc::new(runner.clone()), settings(), log()).start()
}

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..300 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

#[actix::test]
async fn jobs_run_once_each_one_per_type_at_a_time() {
    let store = Arc::new(MemStore::default());
    let runner = runner();
    let ids: Vec<JobId> = (0..4).map(|_| store.add("sleep")).chain((0..2).map(|_| store.add("other"))).collect();
    let failing = store.add("fail");
    let w = worker(&store, &runner);
    wait_for("every job done", || {
        ids.iter().all(|id| store.get(id).status == JobStatus::Success)
            && store.get(&failing).status == JobStatus::Error
    })
    .await;
    for id in &ids {
        let j = store.get(id);
        assert_eq!(j.progress, 100);
        assert_eq!(j.data["slept"], "30");
    }
    assert_eq!(store.get(&failing).data["error"], "it broke");
    assert_eq!(store.claims.lock().unwrap().len(), 7, "each job claimed once");
    let max = runner.max_concurrent.lock().unwrap().clone();
    assert_eq!(max["sleep"], 1, "one sleep job at a time on a node");
    assert_eq!(max["other"], 1);
    assert!(w.send(GetActiveJobs).await.unwrap().is_empty());
}

/// A worker running a five-second job.
async fn running_long_job() -> (Arc<MemStore>, JobId, Addr<JobWorker>) {
    let store = Arc::new(MemStore::default());
    let id = store.add("sleep");
    store.jobs.lock().unwrap().get_mut(&id).unwrap().data.insert("ms".into(), "5000".into());
    let w = worker(&store, &runner());
    wait_for("running", || store.get(&id).status == JobStatus::InProgress).await;
    (store, id, w)
}

#[actix::test]
async fn a_requested_cancel_stops_the_job_and_ends_canceled() {
    let (store, id, w) = running_long_job().await;
    assert_eq!(w.send(GetActiveJobs).await.unwrap().get("sleep"), Some(&1));
    store.set_status(&id, JobStatus::CancelRequested);
    wait_for("canceled", || store.get(&id).status == JobStatus::Canceled).await;
}

#[actix::test]
async fn a_job_taken_away_is_not_finished_by_its_old_runner() {
    tokio::time::pause(); // timers advance as soon as every task waits
    let (store, id, w) = running_long_job().await;
    // As a stale reap and another node's claim would: a new attempt, owned elsewhere.
    store.jobs.lock().unwrap().get_mut(&id).unwrap().attempt += 1;
    for _ in 0..100 {
        if w.send(GetActiveJobs).await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(w.send(GetActiveJobs).await.unwrap().is_empty(), "the lost job stopped");
    assert_eq!(store.get(&id).status, JobStatus::InProgress, "the new owner's row is untouched");
}

#[actix::test]
async fn draining_hands_running_jobs_back() {
    tokio::time::pause(); // timers advance as soon as every task waits
    let (store, id, w) = running_long_job().await;
    w.send(DrainJobs { timeout: Duration::from_secs(2) }).await.unwrap();
    assert_eq!(store.get(&id).status, JobStatus::Pending, "back in the queue for another node");
    // A drained worker claims nothing more.
    w.send(PollNow).await.unwrap();
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(store.get(&id).status, JobStatus::Pending);
    w.send(DrainJobs { timeout: Duration::from_secs(1) }).await.unwrap();
}

#[actix::test]
async fn the_scheduler_works_only_while_leading() {
    tokio::time::pause(); // timers advance as soon as every task waits
    let store = Arc::new(MemStore::default());
    let counters = Arc::new(SchedulerCounters::default());
    let s = JobScheduler::new(
        NodeId::from("node1"),
        Arc::new(store.clone()),
        vec![RecurringJob { job_type: "sleep".into(), recurrence: Recurrence::Every(Duration::from_secs(1)) }],
        Duration::from_millis(10),
        None,
        counters.clone(),
        log(),
    )
    .start();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(store.jobs.lock().unwrap().len(), 0, "not leading: nothing scheduled");
    s.send(LeaderChanged { leader: NodeId::from("node1"), is_leader: true }).await.unwrap();
    wait_for("first job", || store.jobs.lock().unwrap().len() == 1).await;
    // The same period again: nothing new.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(store.jobs.lock().unwrap().len(), 1);
    assert!(counters.passes.load(std::sync::atomic::Ordering::Relaxed) > 1);
    *store.period.lock().unwrap() += 1;
    wait_for("the next period's job", || store.jobs.lock().unwrap().len() == 2).await;
    s.send(LeaderChanged { leader: NodeId::from("node0"), is_leader: false }).await.unwrap();
    *store.period.lock().unwrap() += 1;
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(store.jobs.lock().unwrap().len(), 2, "a follower schedules nothing");
    assert_eq!(counters.created.load(std::sync::atomic::Ordering::Relaxed), 2);
}

#[test]
fn statuses_read_and_print_as_mattermost_spells_them() {
    for s in JobStatus::ALL {
        assert_eq!(JobStatus::parse(s.as_str()), Some(s));
        assert_eq!(serde_json::to_value(s).unwrap(), serde_json::Value::String(s.as_str().into()));
    }
    assert_eq!(JobStatus::parse("running"), None);
}

#[actix::test]
async fn control_sleep_wakes_on_stop() {
    tokio::time::pause(); // timers advance as soon as every task waits
    let c = JobControl::new();
    let c2 = c.clone();
    let started = std::time::Instant::now();
    actix::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        c2.stop(StopReason::Cancel);
        c2.stop(StopReason::Shutdown); // the first reason wins
    });
    assert!(!c.sleep(Duration::from_secs(10)).await);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(c.stop_reason(), Some(StopReason::Cancel));
    assert!(!c.sleep(Duration::from_secs(10)).await, "a stopped control does not sleep");
}
