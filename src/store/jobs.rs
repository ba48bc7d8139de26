//! Jobs and their runs: what the API reads and writes, and the [`JobStore`] the scheduler and
//! workers use. Every time stored here comes from the database's clock, so nodes whose clocks
//! disagree still agree on periods and on which jobs are stale.

use super::{Store, StoreResult};
use futures_util::future::BoxFuture;
use starling_actors::jobs::{Heartbeat, Job, JobId, JobStatus, JobStore, Outcome, Reaped, Recurrence, RecurringJob};
use starling_protocol::NodeId;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio_postgres::Row;

/// Milliseconds since the epoch by the database's clock.
const NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

const JOB_COLS: &str = "id, type, priority, create_at, start_at, last_activity_at, status, progress, data, attempt";

/// An audit row: one attempt at a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRun {
    pub job_id: String,
    pub attempt: i32,
    pub node_id: String,
    pub start_at: i64,
    pub end_at: i64,
    pub outcome: String,
    pub detail: String,
}

/// What a cancel request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelResult {
    /// It was pending: now canceled.
    Canceled,
    /// It was running: now cancel_requested (its worker stops it within a heartbeat).
    Requested,
    /// It had already finished (or its cancel was already requested).
    NotCancelable(JobStatus),
    NotFound,
}

fn job_from_row(r: &Row) -> Job {
    let data: serde_json::Value = r.get("data");
    let data = match data {
        serde_json::Value::Object(m) => m
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, v)
            })
            .collect(),
        _ => BTreeMap::new(),
    };
    let status: String = r.get("status");
    Job {
        id: JobId(r.get("id")),
        job_type: r.get("type"),
        priority: r.get("priority"),
        create_at: r.get("create_at"),
        start_at: r.get("start_at"),
        last_activity_at: r.get("last_activity_at"),
        // Only this module writes statuses, all from JobStatus; an unknown one reads as error.
        status: JobStatus::parse(&status).unwrap_or(JobStatus::Error),
        progress: r.get("progress"),
        data,
        attempt: r.get("attempt"),
    }
}

fn data_json(data: &BTreeMap<String, String>) -> serde_json::Value {
    serde_json::Value::Object(data.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect())
}

/// The SQL expression of a recurrence's current period key.
fn period_key_sql(r: Recurrence) -> String {
    match r {
        Recurrence::Every(d) => {
            let ms = d.as_millis().max(1) as i64;
            format!("'every:{ms}:' || ({NOW_MS} / {ms})")
        }
        Recurrence::DailyAt { hour, minute } => {
            let (h, m) = (hour.min(23), minute.min(59));
            // The day of the latest HH:MM (UTC) that has passed.
            format!(
                "'daily:{h:02}:{m:02}:' || to_char((clock_timestamp() AT TIME ZONE 'UTC') \
                 - interval '{h} hours {m} minutes', 'YYYY-MM-DD')"
            )
        }
    }
}

impl Store {
    /// A new pending job (from the API).
    pub async fn create_job(&self, job_type: &str, data: &BTreeMap<String, String>, node_id: &str) -> StoreResult<Job> {
        let c = self.master.get().await?;
        let row = c
            .query_one(
                &format!(
                    "INSERT INTO jobs (id, type, create_at, status, data, created_by) \
                     VALUES ($1, $2, {NOW_MS}, 'pending', $3, $4) RETURNING {JOB_COLS}"
                ),
                &[&starling_protocol::new_id(), &job_type, &data_json(data), &node_id],
            )
            .await?;
        Ok(job_from_row(&row))
    }

    pub async fn job(&self, id: &str) -> StoreResult<Option<Job>> {
        let c = self.master.get().await?;
        let row = c.query_opt(&format!("SELECT {JOB_COLS} FROM jobs WHERE id = $1"), &[&id]).await?;
        Ok(row.as_ref().map(job_from_row))
    }

    /// Jobs newest first, of the given types (all when None) and status (any when None).
    pub async fn jobs_page(
        &self,
        types: Option<&[String]>,
        status: Option<JobStatus>,
        offset: i64,
        limit: i64,
    ) -> StoreResult<Vec<Job>> {
        let c = self.master.get().await?;
        let status = status.map(|s| s.as_str());
        let rows = c
            .query(
                &format!(
                    "SELECT {JOB_COLS} FROM jobs WHERE ($1::text[] IS NULL OR type = ANY($1)) \
                     AND ($2::text IS NULL OR status = $2) ORDER BY create_at DESC, id DESC OFFSET $3 LIMIT $4"
                ),
                &[&types, &status, &offset, &limit],
            )
            .await?;
        Ok(rows.iter().map(job_from_row).collect())
    }

    /// Mattermost's cancel: pending -> canceled, in_progress -> cancel_requested.
    pub async fn request_job_cancel(&self, id: &str) -> StoreResult<CancelResult> {
        let c = self.master.get().await?;
        let row = c
            .query_opt(
                &format!(
                    "UPDATE jobs SET status = CASE status WHEN 'pending' THEN 'canceled' ELSE 'cancel_requested' END, \
                     last_activity_at = {NOW_MS} WHERE id = $1 AND status IN ('pending', 'in_progress') \
                     RETURNING status"
                ),
                &[&id],
            )
            .await?;
        if let Some(row) = row {
            let status: String = row.get(0);
            return Ok(if status == "canceled" { CancelResult::Canceled } else { CancelResult::Requested });
        }
        Ok(match self.job(id).await? {
            Some(j) => CancelResult::NotCancelable(j.status),
            None => CancelResult::NotFound,
        })
    }

    /// Every attempt at a job, oldest first.
    pub async fn job_runs(&self, job_id: &str) -> StoreResult<Vec<JobRun>> {
        let c = self.master.get().await?;
        let rows = c
            .query(
                "SELECT job_id, attempt, node_id, start_at, end_at, outcome, detail FROM jobruns \
                 WHERE job_id = $1 ORDER BY attempt",
                &[&job_id],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| JobRun {
                job_id: r.get(0),
                attempt: r.get(1),
                node_id: r.get(2),
                start_at: r.get(3),
                end_at: r.get(4),
                outcome: r.get(5),
                detail: r.get(6),
            })
            .collect())
    }

    /// Remove finished jobs created before `before` (JobSettings.CleanupJobsThresholdDays), at most
    /// `limit` of them. Returns how many went.
    pub async fn delete_finished_jobs(&self, before: i64, limit: i64) -> StoreResult<u64> {
        let c = self.master.get().await?;
        Ok(c.execute(
            "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE create_at < $1 \
             AND status IN ('success', 'error', 'canceled', 'warning') LIMIT $2)",
            &[&before, &limit],
        )
        .await?)
    }

    async fn schedule_job(&self, job: &RecurringJob, node_id: &str) -> StoreResult<Option<Job>> {
        let c = self.master.get().await?;
        let key = period_key_sql(job.recurrence);
        // Like Mattermost's schedulers, skip a type that still has a job waiting.
        let row = c
            .query_opt(
                &format!(
                    "INSERT INTO jobs (id, type, create_at, status, data, schedule_key, created_by) \
                     SELECT $1::text, $2::text, {NOW_MS}, 'pending', '{{}}', {key}, $3::text \
                     WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE type = $2::text AND status = 'pending') \
                     ON CONFLICT (type, schedule_key) DO NOTHING RETURNING {JOB_COLS}"
                ),
                &[&starling_protocol::new_id(), &job.job_type, &node_id],
            )
            .await?;
        Ok(row.as_ref().map(job_from_row))
    }

    async fn pending_jobs(&self, types: &[String], limit: i64) -> StoreResult<Vec<Job>> {
        let c = self.master.get().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {JOB_COLS} FROM jobs WHERE status = 'pending' AND type = ANY($1) \
                     ORDER BY priority DESC, create_at, id LIMIT $2"
                ),
                &[&types, &limit],
            )
            .await?;
        Ok(rows.iter().map(job_from_row).collect())
    }

    async fn claim_job(&self, id: &str, node_id: &str) -> StoreResult<Option<Job>> {
        let c = self.master.get().await?;
        let row = c
            .query_opt(
                &format!(
                    "WITH claimed AS ( \
                       UPDATE jobs SET status = 'in_progress', start_at = {NOW_MS}, last_activity_at = {NOW_MS}, \
                         progress = 0, node_id = $2, attempt = attempt + 1 \
                       WHERE id = $1 AND status = 'pending' RETURNING *), \
                     audit AS ( \
                       INSERT INTO jobruns (job_id, attempt, node_id, start_at) \
                       SELECT id, attempt, node_id, start_at FROM claimed) \
                     SELECT {JOB_COLS} FROM claimed"
                ),
                &[&id, &node_id],
            )
            .await?;
        Ok(row.as_ref().map(job_from_row))
    }

    async fn job_heartbeat(&self, id: &str, attempt: i32, progress: i64) -> StoreResult<Heartbeat> {
        let c = self.master.get().await?;
        let row = c
            .query_opt(
                &format!(
                    "UPDATE jobs SET last_activity_at = {NOW_MS}, progress = $3 \
                     WHERE id = $1 AND attempt = $2 AND status IN ('in_progress', 'cancel_requested') RETURNING status"
                ),
                &[&id, &attempt, &progress],
            )
            .await?;
        Ok(match row {
            None => Heartbeat::Lost,
            Some(r) if r.get::<_, String>(0) == "cancel_requested" => Heartbeat::CancelRequested,
            Some(_) => Heartbeat::Running,
        })
    }

    async fn finish_job(&self, id: &str, attempt: i32, outcome: &Outcome) -> StoreResult<bool> {
        // (status, progress: None keeps it, extra data, audit outcome, audit detail)
        let (status, progress, data, run_outcome, detail): (&str, Option<i64>, BTreeMap<String, String>, &str, String) =
            match outcome {
                Outcome::Success(d) => ("success", Some(100), d.clone(), "success", String::new()),
                // Mattermost marks a failed job's progress -1.
                Outcome::Error(e) => {
                    ("error", Some(-1), BTreeMap::from([("error".to_owned(), e.clone())]), "error", e.clone())
                }
                Outcome::Canceled => ("canceled", None, BTreeMap::new(), "canceled", String::new()),
                Outcome::Released => ("pending", Some(0), BTreeMap::new(), "released", String::new()),
            };
        let c = self.master.get().await?;
        let row = c
            .query_opt(
                &format!(
                    "WITH done AS ( \
                       UPDATE jobs SET status = $3, progress = COALESCE($4, progress), data = data || $5, \
                         last_activity_at = {NOW_MS} \
                       WHERE id = $1 AND attempt = $2 AND status IN ('in_progress', 'cancel_requested') \
                       RETURNING id, attempt), \
                     audit AS ( \
                       UPDATE jobruns r SET end_at = {NOW_MS}, outcome = $6, detail = $7 FROM done \
                       WHERE r.job_id = done.id AND r.attempt = done.attempt) \
                     SELECT id FROM done"
                ),
                &[&id, &attempt, &status, &progress, &data_json(&data), &run_outcome, &detail],
            )
            .await?;
        Ok(row.is_some())
    }

    async fn reap_stale_jobs(&self, stale_after: Duration, max_attempts: i32) -> StoreResult<Vec<Reaped>> {
        let stale_ms = stale_after.as_millis() as i64;
        let c = self.master.get().await?;
        let rows = c
            .query(
                &format!(
                    "WITH stale AS ( \
                       SELECT id, status AS was FROM jobs \
                       WHERE status IN ('in_progress', 'cancel_requested') \
                         AND last_activity_at < {NOW_MS} - $1::bigint \
                       FOR UPDATE SKIP LOCKED), \
                     taken AS ( \
                       UPDATE jobs j SET \
                         status = CASE WHEN s.was = 'cancel_requested' THEN 'canceled' \
                                       WHEN j.attempt >= $2 THEN 'error' ELSE 'pending' END, \
                         progress = CASE WHEN s.was <> 'cancel_requested' AND j.attempt >= $2 THEN -1 \
                                         WHEN s.was = 'cancel_requested' THEN j.progress ELSE 0 END, \
                         data = CASE WHEN s.was <> 'cancel_requested' AND j.attempt >= $2 \
                                     THEN j.data || jsonb_build_object('error', \
                                       'abandoned by node ' || j.node_id || ' after ' || j.attempt || ' attempts') \
                                     ELSE j.data END, \
                         last_activity_at = {NOW_MS} \
                       FROM stale s WHERE j.id = s.id \
                       RETURNING j.id, j.type, j.node_id, j.attempt, j.status), \
                     audit AS ( \
                       UPDATE jobruns r SET end_at = {NOW_MS}, outcome = 'abandoned', \
                         detail = 'no heartbeat for ' || $1::bigint || ' ms' \
                       FROM taken WHERE r.job_id = taken.id AND r.attempt = taken.attempt) \
                     SELECT id, type, node_id, attempt, status FROM taken"
                ),
                &[&stale_ms, &max_attempts],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| Reaped {
                id: JobId(r.get(0)),
                job_type: r.get(1),
                node_id: r.get(2),
                attempt: r.get(3),
                status: JobStatus::parse(r.get::<_, &str>(4)).unwrap_or(JobStatus::Error),
            })
            .collect())
    }
}

/// A stored file due for deletion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileToDelete {
    pub id: String,
    pub path: String,
}

/// What the job types delete from other tables (data retention, session and discovery cleanup).
impl Store {
    /// The database's clock, in milliseconds.
    pub async fn db_now_ms(&self) -> StoreResult<i64> {
        let c = self.master.get().await?;
        Ok(c.query_one(&format!("SELECT {NOW_MS}"), &[]).await?.get(0))
    }

    /// How many posts were created before `before`.
    pub async fn count_posts_before(&self, before: i64) -> StoreResult<i64> {
        let c = self.master.get().await?;
        Ok(c.query_one("SELECT count(*) FROM posts WHERE create_at < $1", &[&before]).await?.get(0))
    }

    /// How many files were created before `before`.
    pub async fn count_files_before(&self, before: i64) -> StoreResult<i64> {
        let c = self.master.get().await?;
        Ok(c.query_one("SELECT count(*) FROM fileinfo WHERE create_at < $1", &[&before]).await?.get(0))
    }

    /// Up to `limit` posts created before `before`, oldest first, with the replies of those that
    /// are thread roots (a thread goes with its root, as in Mattermost).
    pub async fn expired_posts(&self, before: i64, limit: i64) -> StoreResult<Vec<String>> {
        let c = self.master.get().await?;
        let rows = c
            .query(
                "WITH old AS (SELECT id FROM posts WHERE create_at < $1 ORDER BY create_at, id LIMIT $2) \
                 SELECT id FROM old UNION SELECT p.id FROM posts p JOIN old ON p.root_id = old.id",
                &[&before, &limit],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Up to `limit` replies whose thread root no longer exists (left by a retention run that a
    /// reply raced with), as Mattermost's orphaned-rows cleanup finds them.
    pub async fn orphaned_replies(&self, limit: i64) -> StoreResult<Vec<String>> {
        let c = self.master.get().await?;
        let rows = c
            .query(
                "SELECT p.id FROM posts p WHERE p.root_id <> '' \
                 AND NOT EXISTS (SELECT 1 FROM posts r WHERE r.id = p.root_id) LIMIT $1",
                &[&limit],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// The files attached to these posts.
    pub async fn files_of_posts(&self, post_ids: &[String]) -> StoreResult<Vec<FileToDelete>> {
        let c = self.master.get().await?;
        let rows = c.query("SELECT id, path FROM fileinfo WHERE post_id = ANY($1)", &[&post_ids]).await?;
        Ok(rows.iter().map(|r| FileToDelete { id: r.get(0), path: r.get(1) }).collect())
    }

    /// Up to `limit` files created before `before`, oldest first.
    pub async fn expired_files(&self, before: i64, limit: i64) -> StoreResult<Vec<FileToDelete>> {
        let c = self.master.get().await?;
        let rows = c
            .query(
                "SELECT id, path FROM fileinfo WHERE create_at < $1 ORDER BY create_at, id LIMIT $2",
                &[&before, &limit],
            )
            .await?;
        Ok(rows.iter().map(|r| FileToDelete { id: r.get(0), path: r.get(1) }).collect())
    }

    /// Permanently delete these posts and these file rows, together. Returns (posts, files) deleted.
    pub async fn delete_posts_and_files(&self, post_ids: &[String], file_ids: &[String]) -> StoreResult<(u64, u64)> {
        let mut c = self.master.get().await?;
        let tx = c.transaction().await?;
        let files = tx.execute("DELETE FROM fileinfo WHERE id = ANY($1)", &[&file_ids]).await?;
        let posts = tx.execute("DELETE FROM posts WHERE id = ANY($1)", &[&post_ids]).await?;
        tx.commit().await?;
        Ok((posts, files))
    }

    /// Delete up to `limit` sessions that expired before now. Returns how many went.
    pub async fn delete_expired_sessions(&self, limit: i64) -> StoreResult<u64> {
        let c = self.master.get().await?;
        Ok(c.execute(
            &format!(
                "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions \
                 WHERE expires_at <> 0 AND expires_at < {NOW_MS} LIMIT $1)"
            ),
            &[&limit],
        )
        .await?)
    }

    /// Delete ClusterDiscovery rows whose node has not pinged since `before`.
    pub async fn delete_stale_discovery(&self, before: i64) -> StoreResult<u64> {
        let c = self.master.get().await?;
        Ok(c.execute("DELETE FROM clusterdiscovery WHERE lastpingat < $1", &[&before]).await?)
    }
}

impl JobStore for Store {
    fn schedule(
        &self,
        job: RecurringJob,
        node_id: NodeId,
    ) -> BoxFuture<'static, starling_actors::StoreResult<Option<Job>>> {
        let s = self.clone();
        Box::pin(async move { s.schedule_job(&job, node_id.as_str()).await.map_err(starling_actors::StoreError::from) })
    }

    fn pending(&self, types: Vec<String>, limit: i64) -> BoxFuture<'static, starling_actors::StoreResult<Vec<Job>>> {
        let s = self.clone();
        Box::pin(async move { s.pending_jobs(&types, limit).await.map_err(starling_actors::StoreError::from) })
    }

    fn claim(&self, id: JobId, node_id: NodeId) -> BoxFuture<'static, starling_actors::StoreResult<Option<Job>>> {
        let s = self.clone();
        Box::pin(
            async move { s.claim_job(id.as_str(), node_id.as_str()).await.map_err(starling_actors::StoreError::from) },
        )
    }

    fn heartbeat(
        &self,
        id: JobId,
        attempt: i32,
        progress: i64,
    ) -> BoxFuture<'static, starling_actors::StoreResult<Heartbeat>> {
        let s = self.clone();
        Box::pin(async move {
            s.job_heartbeat(id.as_str(), attempt, progress).await.map_err(starling_actors::StoreError::from)
        })
    }

    fn finish(
        &self,
        id: JobId,
        attempt: i32,
        outcome: Outcome,
    ) -> BoxFuture<'static, starling_actors::StoreResult<bool>> {
        let s = self.clone();
        Box::pin(async move {
            s.finish_job(id.as_str(), attempt, &outcome).await.map_err(starling_actors::StoreError::from)
        })
    }

    fn reap_stale(
        &self,
        stale_after: Duration,
        max_attempts: i32,
    ) -> BoxFuture<'static, starling_actors::StoreResult<Vec<Reaped>>> {
        let s = self.clone();
        Box::pin(async move {
            s.reap_stale_jobs(stale_after, max_attempts).await.map_err(starling_actors::StoreError::from)
        })
    }
}
