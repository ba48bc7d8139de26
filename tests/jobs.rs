//! Leader election and the job server: one leader among three node processes and a fast takeover
//! after SIGKILL, jobs run exactly once across nodes while one is killed, two forced leaders
//! creating no duplicate job per period, cancel, the jobs API, data retention and the cleanup jobs.
//!
//! Node processes run with fast job settings (see [`FAST`]) and `STARLING_TEST_JOBS=1`, which adds
//! the `test_sleep` job type.

mod common;
use common::cluster::NodeProc;
use common::*;
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

/// Job settings that make a test take seconds, not minutes.
const FAST: &[(&str, &str)] = &[
    ("MM_JOBSETTINGS_WORKERPOLLMILLISECONDS", "200"),
    ("MM_JOBSETTINGS_SCHEDULERPOLLMILLISECONDS", "200"),
    ("MM_JOBSETTINGS_HEARTBEATMILLISECONDS", "250"),
    ("MM_JOBSETTINGS_STALEJOBMILLISECONDS", "2500"),
    ("MM_JOBSETTINGS_CLEANUPINTERVALSECONDS", "1"),
    ("STARLING_TEST_JOBS", "1"),
];

const NOW_MS: &str = "SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint";

struct Cluster {
    db: TestDb,
    nodes: Vec<NodeProc>,
    /// A system admin's client on each node.
    admins: Vec<Client>,
}

async fn cluster(n: usize, extra: &[(&str, &str)]) -> Cluster {
    let db = TestDb::new().await;
    let files = temp_dir("shared-files");
    let name = format!("c{}", &starling_protocol::new_id()[..8]);
    let env: Vec<(&str, &str)> = FAST.iter().chain(extra.iter()).copied().collect();
    let nodes: Vec<NodeProc> =
        (0..n).map(|i| NodeProc::spawn(&db, &format!("n{}", i + 1), &name, &files, &env)).collect();
    for node in &nodes {
        node.ready().await;
    }
    let (admin, _) = Client::new(&nodes[0].url()).new_user("admin").await;
    let token = admin.token.clone().expect("token");
    let admins = nodes.iter().map(|n| Client::new(&n.url()).with_token(&token)).collect();
    Cluster { db, nodes, admins }
}

async fn status(admin: &Client) -> Vec<Value> {
    admin.get("/cluster/status").await.body.as_array().cloned().unwrap_or_default()
}

/// Wait until `admin`'s node sees `expect` nodes, all green.
async fn all_green(admin: &Client, expect: usize) -> bool {
    wait_until(Duration::from_secs(30), || async {
        let s = status(admin).await;
        s.len() == expect && s.iter().all(|n| n["status"] == "green")
    })
    .await
}

/// This node's id (its own row comes first).
async fn own_id(admin: &Client) -> String {
    status(admin).await[0]["id"].as_str().expect("id").to_owned()
}

/// The ids `admin`'s node reports as leader.
async fn leaders_seen(admin: &Client) -> Vec<String> {
    status(admin)
        .await
        .iter()
        .filter(|r| r["is_leader"] == json!(true))
        .map(|r| r["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Every node in `admins` sees exactly one leader, the same one. Returns it.
async fn agreed_leader(admins: &[&Client]) -> Option<String> {
    let mut agreed: Option<String> = None;
    for a in admins {
        let seen = leaders_seen(a).await;
        if seen.len() != 1 || agreed.as_ref().is_some_and(|l| *l != seen[0]) {
            return None;
        }
        agreed = Some(seen[0].clone());
    }
    agreed
}

/// The one bigint a query returns (a count).
async fn count(db: &tokio_postgres::Client, q: &str, params: &[&(dyn tokio_postgres::types::ToSql + Sync)]) -> i64 {
    db.query_one(q, params).await.unwrap_or_else(|e| panic!("{q}: {e}")).get(0)
}

async fn db_now(db: &tokio_postgres::Client) -> i64 {
    db.query_one(NOW_MS, &[]).await.expect("now").get(0)
}

async fn create_job(admin: &Client, job_type: &str, data: Value) -> String {
    admin.post("/jobs", json!({"type": job_type, "data": data})).await.expect(201).id()
}

async fn job(admin: &Client, id: &str) -> Value {
    admin.get(&format!("/jobs/{id}")).await.expect(200).body
}

/// Poll `f` until it yields something or `timeout` passes.
async fn poll_for<T, F, Fut>(timeout: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_status(admin: &Client, id: &str, want: &str, timeout: Duration) -> Value {
    let found = poll_for(timeout, || async {
        let j = job(admin, id).await;
        (j["status"] == want).then_some(j)
    })
    .await;
    match found {
        Some(j) => j,
        None => panic!("job {id} did not reach {want}; last seen {}", job(admin, id).await),
    }
}

#[actix_web::test]
async fn three_nodes_have_one_leader_and_the_next_takes_over_after_sigkill() {
    let mut c = cluster(3, &[]).await;
    for a in &c.admins {
        assert!(all_green(a, 3).await, "every node sees three green nodes: {:?}", status(a).await);
    }
    let mut ids = Vec::new();
    for a in &c.admins {
        ids.push(own_id(a).await);
    }
    let all: Vec<&Client> = c.admins.iter().collect();
    let agreed = wait_until(Duration::from_secs(20), || async { agreed_leader(&all).await.is_some() }).await;
    assert!(
        agreed,
        "the nodes agree on one leader: {:?}",
        futures_util::future::join_all(all.iter().map(|a| leaders_seen(a))).await
    );
    let leader = agreed_leader(&all).await.expect("a leader");
    assert_eq!(&leader, ids.iter().min().expect("ids"), "the lowest node id leads (bully rule)");
    let leader_ix = ids.iter().position(|id| *id == leader).expect("the leader is one of ours");
    // The leader says so in its own row (the first).
    assert_eq!(status(&c.admins[leader_ix]).await[0]["is_leader"], json!(true));

    let db = c.db.client().await;
    // The leader schedules: the cleanup jobs of each one-second period appear, made by it alone.
    let agreed_at = db_now(&db).await;
    let scheduled = wait_until(Duration::from_secs(10), || async {
        let n = count(
            &db,
            "SELECT count(DISTINCT schedule_key) FROM jobs WHERE created_by = $1 AND create_at > $2",
            &[&leader, &agreed_at],
        )
        .await;
        n >= 2
    })
    .await;
    assert!(scheduled, "the leader schedules recurring jobs");
    let others_scheduled =
        count(&db, "SELECT count(*) FROM jobs WHERE created_by <> $1 AND create_at > $2", &[&leader, &agreed_at]).await;
    assert_eq!(others_scheduled, 0, "followers schedule nothing");

    c.nodes[leader_ix].kill9();
    let killed = Instant::now();
    let killed_db_ms = db_now(&db).await;
    let survivors: Vec<usize> = (0..3).filter(|i| *i != leader_ix).collect();
    let next = survivors.iter().map(|i| ids[*i].clone()).min().expect("survivors");
    let next_ix = ids.iter().position(|id| *id == next).expect("next");
    let leads = wait_until(Duration::from_secs(20), || async {
        status(&c.admins[next_ix]).await.first().is_some_and(|r| r["is_leader"] == json!(true))
    })
    .await;
    let is_leader_after = killed.elapsed();
    assert!(leads, "the next-lowest id leads after the kill: {:?}", status(&c.admins[next_ix]).await);
    let first_job_create_at: Option<i64> = poll_for(Duration::from_secs(20), || async {
        db.query_opt(
            "SELECT create_at FROM jobs WHERE created_by = $1 AND create_at >= $2 ORDER BY create_at LIMIT 1",
            &[&next, &killed_db_ms],
        )
        .await
        .expect("query")
        .map(|r| r.get(0))
    })
    .await;
    let scheduled_after = killed.elapsed();
    let first_job_create_at = first_job_create_at.expect("the new leader schedules jobs");
    println!(
        "leader takeover after SIGKILL of {leader}: {next} reports is_leader after {} ms; its first scheduled job \
         was created {} ms after the kill (database clock; observed after {} ms)",
        is_leader_after.as_millis(),
        first_job_create_at - killed_db_ms,
        scheduled_after.as_millis()
    );
    let rest: Vec<&Client> = survivors.iter().map(|i| &c.admins[*i]).collect();
    let agreed =
        wait_until(Duration::from_secs(20), || async { agreed_leader(&rest).await == Some(next.clone()) }).await;
    assert!(agreed, "both survivors agree on the new leader");
    // The jobs it schedules get run.
    let ran = wait_until(Duration::from_secs(20), || async {
        let n = count(&db, "SELECT count(*) FROM jobs WHERE created_by = $1 AND status = 'success'", &[&next]).await;
        n > 0
    })
    .await;
    assert!(ran, "the new leader's jobs run");
}

#[actix_web::test]
async fn every_job_runs_exactly_once_across_three_nodes_with_one_killed_midway() {
    let mut c = cluster(3, &[]).await;
    for a in &c.admins {
        assert!(all_green(a, 3).await);
    }
    let mut ids = Vec::new();
    for a in &c.admins {
        ids.push(own_id(a).await);
    }
    const JOBS: usize = 30;
    let mut job_ids = Vec::new();
    for i in 0..JOBS {
        job_ids.push(create_job(&c.admins[i % 3], "test_sleep", json!({"millis": "600"})).await);
    }
    let db = c.db.client().await;
    // Mid-way: some done (one of them by node 2), and node 2 running one.
    let victim = ids[1].clone();
    let midway = wait_until(Duration::from_secs(30), || async {
        let done = count(&db, "SELECT count(*) FROM jobs WHERE type = 'test_sleep' AND status = 'success'", &[]).await;
        let victim_done = count(
            &db,
            "SELECT count(*) FROM jobs WHERE type = 'test_sleep' AND status = 'success' AND node_id = $1",
            &[&victim],
        )
        .await;
        let victim_running = count(
            &db,
            "SELECT count(*) FROM jobs WHERE type = 'test_sleep' AND status = 'in_progress' AND node_id = $1",
            &[&victim],
        )
        .await;
        done >= 5 && victim_done >= 1 && victim_running == 1
    })
    .await;
    assert!(midway, "jobs are under way on every node");
    c.nodes[1].kill9();
    let killed = Instant::now();
    // What the dead node held at the moment it died (its running job may have just finished).
    let held_at_kill = count(
        &db,
        "SELECT count(*) FROM jobs WHERE type = 'test_sleep' AND status = 'in_progress' AND node_id = $1",
        &[&victim],
    )
    .await;

    let all_done = wait_until(Duration::from_secs(60), || async {
        let left = count(&db, "SELECT count(*) FROM jobs WHERE type = 'test_sleep' AND status <> 'success'", &[]).await;
        left == 0
    })
    .await;
    let rows = db.query("SELECT id, status, node_id FROM jobs WHERE type = 'test_sleep'", &[]).await.expect("jobs");
    assert!(
        all_done,
        "every job succeeded: {:?}",
        rows.iter().map(|r| (r.get::<_, String>(0), r.get::<_, String>(1))).collect::<Vec<_>>()
    );
    println!("all {JOBS} jobs done {} ms after the kill", killed.elapsed().as_millis());
    let stuck = count(
        &db,
        "SELECT count(*) FROM jobs WHERE status IN ('pending', 'in_progress', 'cancel_requested') \
         AND type = 'test_sleep'",
        &[],
    )
    .await;
    assert_eq!(stuck, 0, "no job is stuck");

    // The audit: exactly one successful run per job; the killed node's unfinished run abandoned.
    let runs = db
        .query(
            "SELECT r.job_id, r.attempt, r.node_id, r.outcome FROM jobruns r JOIN jobs j ON j.id = r.job_id \
             WHERE j.type = 'test_sleep' ORDER BY r.job_id, r.attempt",
            &[],
        )
        .await
        .expect("runs");
    let mut successes: BTreeMap<String, usize> = BTreeMap::new();
    let mut abandoned = Vec::new();
    let mut nodes_that_ran = HashSet::new();
    for r in &runs {
        let (job_id, attempt, node, outcome): (String, i32, String, String) = (r.get(0), r.get(1), r.get(2), r.get(3));
        match outcome.as_str() {
            "success" => {
                *successes.entry(job_id).or_default() += 1;
                nodes_that_ran.insert(node);
            }
            "abandoned" => abandoned.push((job_id, attempt, node)),
            other => panic!("unexpected run outcome {other} for {job_id} attempt {attempt}"),
        }
    }
    for id in &job_ids {
        assert_eq!(successes.get(id), Some(&1), "job {id} ran to success exactly once");
    }
    assert_eq!(successes.len(), JOBS);
    if held_at_kill > 0 {
        assert!(!abandoned.is_empty(), "the killed node's running job was taken back");
    }
    for (job_id, _, node) in &abandoned {
        assert_eq!(node, &victim, "only the killed node abandoned work");
        let final_node: String =
            db.query_one("SELECT node_id FROM jobs WHERE id = $1", &[job_id]).await.expect("job").get(0);
        assert_ne!(&final_node, &victim, "a live node finished the abandoned job");
    }
    assert_eq!(nodes_that_ran.len(), 3, "all three nodes ran jobs: {nodes_that_ran:?}");
    println!("{} run(s) abandoned by the killed node and re-queued", abandoned.len());
}

#[actix_web::test]
async fn two_nodes_forced_to_lead_create_no_duplicate_job_per_period() {
    let c =
        cluster(2, &[("STARLING_TEST_FORCE_LEADER", "1"), ("MM_JOBSETTINGS_SCHEDULERPOLLMILLISECONDS", "50")]).await;
    for a in &c.admins {
        assert!(all_green(a, 2).await);
        assert_eq!(status(a).await[0]["is_leader"], json!(true), "each node believes it leads");
    }
    let db = c.db.client().await;
    // Several one-second periods pass with both schedulers racing.
    let periods = wait_until(Duration::from_secs(30), || async {
        let n = count(
            &db,
            "SELECT count(DISTINCT schedule_key) FROM jobs WHERE type = 'cleanup_expired_sessions' \
             AND schedule_key IS NOT NULL",
            &[],
        )
        .await;
        n >= 5
    })
    .await;
    assert!(periods, "both leaders keep scheduling");
    let dups = db
        .query(
            "SELECT type, schedule_key, count(*) FROM jobs WHERE schedule_key IS NOT NULL \
             GROUP BY type, schedule_key HAVING count(*) > 1",
            &[],
        )
        .await
        .expect("dups");
    assert!(
        dups.is_empty(),
        "no period has two jobs of a type: {:?}",
        dups.iter().map(|r| r.get::<_, String>(1)).collect::<Vec<_>>()
    );
    // The guard is the database's: a second row for a scheduled period is refused outright.
    let dup = db
        .execute(
            "INSERT INTO jobs (id, type, create_at, status, schedule_key) \
             SELECT $1, type, create_at, 'pending', schedule_key FROM jobs WHERE schedule_key IS NOT NULL LIMIT 1",
            &[&starling_protocol::new_id()],
        )
        .await
        .expect_err("a duplicate period is refused");
    assert_eq!(dup.code(), Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION));
    // Both really tried: each made scheduling passes.
    for n in &c.nodes {
        let m = n.metrics().await;
        let passes: u64 = m
            .lines()
            .find_map(|l| l.strip_prefix("starling_job_scheduler_passes_total "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        assert!(passes > 3, "node {} scheduled as a leader ({passes} passes)", n.name);
    }
    let by_node = db
        .query("SELECT created_by, count(*) FROM jobs WHERE schedule_key IS NOT NULL GROUP BY created_by", &[])
        .await
        .expect("by node");
    println!(
        "jobs created per forced leader: {:?}",
        by_node.iter().map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1))).collect::<Vec<_>>()
    );
}

#[actix_web::test]
async fn cancel_a_running_and_a_pending_job() {
    let c = cluster(1, &[]).await;
    let admin = &c.admins[0];
    let running = create_job(admin, "test_sleep", json!({"millis": "60000"})).await;
    wait_status(admin, &running, "in_progress", Duration::from_secs(10)).await;
    let active = wait_until(Duration::from_secs(5), || async {
        c.nodes[0].metrics().await.contains("mattermost_jobs_active{type=\"test_sleep\"} 1")
    })
    .await;
    assert!(active, "mattermost_jobs_active counts the running job");
    // One job of a type at a time on a node: the second waits.
    let waiting = create_job(admin, "test_sleep", json!({"millis": "100"})).await;
    assert_eq!(job(admin, &waiting).await["status"], "pending");
    admin.post(&format!("/jobs/{waiting}/cancel"), json!({})).await.expect(200);
    assert_eq!(job(admin, &waiting).await["status"], "canceled", "a pending job is canceled at once");

    let before = job(admin, &running).await;
    let r = admin.post(&format!("/jobs/{running}/cancel"), json!({})).await.expect(200);
    assert_eq!(r.body, json!({"status": "OK"}));
    let asked = Instant::now();
    let after = job(admin, &running).await;
    assert!(["cancel_requested", "canceled"].contains(&after["status"].as_str().unwrap_or("")), "{after}");
    let done = wait_status(admin, &running, "canceled", Duration::from_secs(10)).await;
    println!("running job canceled {} ms after the request", asked.elapsed().as_millis());
    assert!(done["progress"].as_i64().unwrap_or(-1) >= before["progress"].as_i64().unwrap_or(0));
    let db = c.db.client().await;
    let outcome: String =
        db.query_one("SELECT outcome FROM jobruns WHERE job_id = $1", &[&running]).await.expect("run").get(0);
    assert_eq!(outcome, "canceled");
    let idle = wait_until(Duration::from_secs(5), || async {
        c.nodes[0].metrics().await.contains("mattermost_jobs_active{type=\"test_sleep\"} 0")
    })
    .await;
    assert!(idle);

    // Finished jobs cannot be canceled; unknown ones are 404.
    admin.post(&format!("/jobs/{running}/cancel"), json!({})).await.expect(400);
    admin.post(&format!("/jobs/{}/cancel", starling_protocol::new_id()), json!({})).await.expect(404);

    // A failing job ends in error with Mattermost's progress -1 and the message in data.error.
    let failing = create_job(admin, "test_sleep", json!({"millis": "50", "fail": "true"})).await;
    let j = wait_status(admin, &failing, "error", Duration::from_secs(10)).await;
    assert_eq!(j["progress"], json!(-1));
    assert_eq!(j["data"]["error"], "failed on request");
    assert_eq!(j["data"]["fail"], "true", "the job's own data is kept");
}

#[actix_web::test]
async fn jobs_api_speaks_mattermost_shapes_for_system_admins_only() {
    let server = TestServer::start().await;
    let anon = server.client();
    let (admin, _) = anon.new_user("admin").await;
    let (bob, _) = anon.new_user("bob").await;

    let created = admin.post("/jobs", json!({"type": "cleanup_expired_sessions"})).await.expect(201).body;
    for k in ["id", "type", "priority", "create_at", "start_at", "last_activity_at", "status", "progress", "data"] {
        assert!(created.get(k).is_some(), "job has {k}: {created}");
    }
    assert_eq!(created["type"], "cleanup_expired_sessions");
    assert_eq!(created["status"], "pending");
    assert_eq!(created["data"], json!({}));
    assert_eq!(created.as_object().map(|o| o.len()), Some(9), "no extra fields: {created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let done = wait_status(&admin, &id, "success", Duration::from_secs(20)).await;
    assert_eq!(done["progress"], json!(100));
    assert!(done["start_at"].as_i64().unwrap() >= done["create_at"].as_i64().unwrap());
    assert!(done["last_activity_at"].as_i64().unwrap() >= done["start_at"].as_i64().unwrap());
    assert_eq!(done["data"]["deleted"], "0");

    let second = admin
        .post("/jobs", json!({"type": "cleanup_expired_sessions", "data": {"note": "second"}}))
        .await
        .expect(201)
        .body;
    assert_eq!(second["data"], json!({"note": "second"}));
    let list = admin.get("/jobs?per_page=200").await.expect(200).body;
    let ids: Vec<&str> = list.as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap()).collect();
    let (a, b) = (ids.iter().position(|x| *x == id).unwrap(), ids.iter().position(|x| *x == second["id"]).unwrap());
    assert!(b < a, "newest first");
    let by_type = admin.get("/jobs/type/cleanup_expired_sessions").await.expect(200).body;
    assert!(by_type.as_array().unwrap().iter().all(|j| j["type"] == "cleanup_expired_sessions"));
    assert!(by_type.as_array().unwrap().iter().any(|j| j["id"] == id.as_str()));
    let filtered = admin.get("/jobs?job_type=cleanup_expired_sessions&status=success").await.expect(200).body;
    assert!(filtered.as_array().unwrap().iter().all(|j| j["status"] == "success"));
    assert!(filtered.as_array().unwrap().iter().any(|j| j["id"] == id.as_str()));
    let page = admin.get("/jobs?page=0&per_page=1").await.expect(200).body;
    assert_eq!(page.as_array().unwrap().len(), 1);

    admin.get("/jobs?status=bogus").await.expect(400);
    admin.get("/jobs?job_type=bogus").await.expect(400);
    admin.get("/jobs/type/bogus").await.expect(400);
    assert_eq!(
        admin.post("/jobs", json!({"type": "bogus"})).await.expect(400).body["id"],
        "model.job.is_valid.type.app_error"
    );
    admin.post("/jobs", json!({"type": "cleanup_jobs", "data": {"n": 1}})).await.expect(400);
    admin.post("/jobs", json!({"type": "test_sleep"})).await.expect(400); // only with the test hook
    admin.get("/jobs/not-an-id").await.expect(400);
    admin.get(&format!("/jobs/{}", starling_protocol::new_id())).await.expect(404);

    bob.get("/jobs").await.expect(403);
    bob.get(&format!("/jobs/{id}")).await.expect(403);
    bob.get("/jobs/type/cleanup_expired_sessions").await.expect(403);
    bob.post("/jobs", json!({"type": "cleanup_expired_sessions"})).await.expect(403);
    bob.post(&format!("/jobs/{id}/cancel"), json!({})).await.expect(403);
    anon.get("/jobs").await.expect(401);

    // Standalone (clustering off), the node leads itself and the scheduler made today's cleanup.
    let db = server.db.client().await;
    let scheduled = count(
        &db,
        "SELECT count(*) FROM jobs WHERE type = 'cleanup_expired_sessions' AND schedule_key IS NOT NULL",
        &[],
    )
    .await;
    assert_eq!(scheduled, 1, "one scheduled cleanup for the current period");
}

#[actix_web::test]
async fn cleanup_jobs_remove_expired_sessions_stale_discovery_rows_and_old_jobs() {
    let server = TestServer::start_with(|c| c.job_settings.cleanup_jobs_threshold_days = 7).await;
    let anon = server.client();
    let (admin, admin_id) = anon.new_user("admin").await;
    let db = server.db.client().await;
    let now = db_now(&db).await;
    let day = 86_400_000i64;
    for (id, expires) in [("expired", now - 1000), ("live", now + day), ("forever", 0)] {
        let sid = format!("{id:y<26}");
        db.execute(
            "INSERT INTO sessions (id, token, create_at, expires_at, last_activity_at, user_id, roles) \
             VALUES ($1, $1, $2, $3, $2, $4, 'system_user')",
            &[&sid, &now, &expires, &admin_id],
        )
        .await
        .expect("session");
    }
    for (id, ping) in [("stalenode", now - 31 * 60_000), ("freshnode", now - 60_000)] {
        db.execute(
            "INSERT INTO clusterdiscovery (id, type, clustername, hostname, gossipport, port, createat, lastpingat) \
             VALUES ($1, 'starling_app', 'x', 'h', 1, 2, $2, $2)",
            &[&format!("{id:y<26}"), &ping],
        )
        .await
        .expect("discovery");
    }
    for (id, age, st) in [("oldok", 8 * day, "success"), ("oldpending", 8 * day, "pending"), ("newok", day, "success")]
    {
        db.execute(
            "INSERT INTO jobs (id, type, create_at, status) VALUES ($1, 'ancient_type', $2, $3)",
            &[&format!("{id:y<26}"), &(now - age), &st],
        )
        .await
        .expect("job");
    }
    for t in ["cleanup_expired_sessions", "cleanup_cluster_discovery", "cleanup_jobs"] {
        let id = create_job(&admin, t, json!({})).await;
        wait_status(&admin, &id, "success", Duration::from_secs(20)).await;
    }
    let left = |table: &'static str, col: &'static str| {
        let db = &db;
        async move {
            let rows = db.query(&format!("SELECT {col} FROM {table} WHERE {col} LIKE '%yyyy'"), &[]).await.expect("q");
            let mut v: Vec<String> =
                rows.iter().map(|r| r.get::<_, String>(0).trim_end_matches('y').to_owned()).collect();
            v.sort();
            v
        }
    };
    assert_eq!(left("sessions", "id").await, vec!["forever", "live"]);
    assert_eq!(left("clusterdiscovery", "id").await, vec!["freshnode"]);
    assert_eq!(left("jobs", "id").await, vec!["newok", "oldpending"]);
    admin.get("/users/me").await.expect(200);
}

/// (users, teams, channels): what data retention must not touch.
async fn counts(db: &tokio_postgres::Client) -> (i64, i64, i64) {
    let mut v = Vec::new();
    for t in ["users", "teams", "channels"] {
        v.push(count(db, &format!("SELECT count(*) FROM {t}"), &[]).await);
    }
    (v[0], v[1], v[2])
}

async fn upload(c: &Client, channel: &str, name: &str, bytes: &[u8]) -> (String, String) {
    let form = Form::new()
        .text("channel_id", channel.to_owned())
        .part("files", Part::bytes(bytes.to_vec()).file_name(name.to_owned()));
    let r = c
        .http
        .post(format!("{}/api/v4/files", c.base))
        .bearer_auth(c.token.as_deref().unwrap())
        .multipart(form)
        .send()
        .await
        .expect("upload");
    let r = Client::finish(r).await.expect(201);
    let id = r.body["file_infos"][0]["id"].as_str().expect("file id").to_owned();
    (id, name.to_owned())
}

#[actix_web::test]
async fn data_retention_removes_exactly_the_expired_posts_and_files() {
    let server = TestServer::start_with(|c| {
        let d = &mut c.data_retention_settings;
        d.enable_message_deletion = true;
        d.enable_file_deletion = true;
        d.message_retention_days = 1;
        d.file_retention_days = 1;
        d.batch_size = 2; // several batches
        d.time_between_batches_milliseconds = 0;
    })
    .await;
    let anon = server.client();
    let (admin, _) = anon.new_user("admin").await;
    let team = admin.create_team(true).await;
    let channel = admin.create_channel(&team, false).await;
    let other_channel = admin.create_channel(&team, false).await;
    let db = server.db.client().await;

    let post = |message: &str, root: Option<&str>, files: Vec<String>, ch: &str| {
        let admin = admin.clone();
        let body = json!({"channel_id": ch, "message": message, "root_id": root.unwrap_or(""), "file_ids": files});
        async move { admin.post("/posts", body).await.expect(201).id() }
    };
    let (fa, _) = upload(&admin, &channel, "a.txt", b"old root's file").await;
    let (fa1, _) = upload(&admin, &channel, "a1.txt", b"young reply to an old root").await;
    let (fc, _) = upload(&admin, &channel, "c.txt", b"young root's file").await;
    let (fe_old, _) = upload(&admin, &channel, "e-old.txt", b"an old file on a young post").await;
    let (fe_new, _) = upload(&admin, &channel, "e-new.txt", b"a young file on a young post").await;
    let a = post("old root", None, vec![fa.clone()], &channel).await;
    let a1 = post("young reply to the old root", Some(&a), vec![fa1.clone()], &channel).await;
    let c = post("young root", None, vec![fc.clone()], &channel).await;
    let c1 = post("young reply", Some(&c), vec![], &channel).await;
    let c2 = post("old reply to a young root", Some(&c), vec![], &channel).await;
    let d = post("old post elsewhere", None, vec![], &other_channel).await;
    let e = post("young post, one old file", None, vec![fe_old.clone(), fe_new.clone()], &channel).await;

    let now = db_now(&db).await;
    let old = now - 3 * 86_400_000;
    for id in [&a, &c2, &d] {
        db.execute("UPDATE posts SET create_at = $2 WHERE id = $1", &[id, &old]).await.expect("age post");
    }
    db.execute("UPDATE fileinfo SET create_at = $2 WHERE id = $1", &[&fe_old, &old]).await.expect("age file");
    let paths: BTreeMap<String, std::path::PathBuf> = {
        let rows = db.query("SELECT id, path FROM fileinfo", &[]).await.expect("paths");
        rows.iter()
            .map(|r| {
                (r.get(0), std::path::Path::new(&server.config.file_settings.directory).join(r.get::<_, String>(1)))
            })
            .collect()
    };
    for p in paths.values() {
        assert!(p.exists(), "{} stored", p.display());
    }
    let before = counts(&db).await;

    let job_id = create_job(&admin, "data_retention", json!({})).await;
    let done = wait_status(&admin, &job_id, "success", Duration::from_secs(30)).await;
    assert_eq!(done["data"]["posts_deleted"], "4", "{done}");
    assert_eq!(done["data"]["files_deleted"], "3", "{done}");
    assert_eq!(done["progress"], json!(100));

    let posts: HashSet<String> =
        db.query("SELECT id FROM posts", &[]).await.expect("posts").iter().map(|r| r.get(0)).collect();
    for gone in [&a, &a1, &c2, &d] {
        assert!(!posts.contains(gone), "post {gone} deleted");
        admin.get(&format!("/posts/{gone}")).await.expect(404);
    }
    for kept in [&c, &c1, &e] {
        assert!(posts.contains(kept), "post {kept} kept");
    }
    let files: HashSet<String> =
        db.query("SELECT id FROM fileinfo", &[]).await.expect("files").iter().map(|r| r.get(0)).collect();
    for gone in [&fa, &fa1, &fe_old] {
        assert!(!files.contains(gone), "file row {gone} deleted");
        assert!(!paths[gone].exists(), "file {} removed from the store", paths[gone].display());
    }
    for kept in [&fc, &fe_new] {
        assert!(files.contains(kept), "file row {kept} kept");
        assert!(paths[kept].exists(), "file {} kept in the store", paths[kept].display());
    }
    assert_eq!(counts(&db).await, before, "users, channels and teams untouched");
    admin.get(&format!("/posts/{c}/thread")).await.expect(200);
}
