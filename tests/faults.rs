//! Fault scenarios, each against real parts: a file store that fills up or turns read-only (a
//! small tmpfs), a node partitioned from its peers (TCP proxies on the gossip links), and the
//! PostgreSQL primary lost under load with the operator's failover (a real synchronous standby,
//! promoted). In each, no acknowledged write is lost. Hostile clients are in `hostile_clients.rs`.

mod common;
use common::cluster::{free_port, NodeProc};
use common::proxy::Proxy;
use common::replica::{query_i64, PgPair};
use common::ws::{Got, Ws};
use common::*;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// 1. The file store full or read-only.

/// A tmpfs of its own, mounted at a temp directory (the tests run as root, where a chmod would
/// not stop a write), unmounted and removed on drop.
struct SmallDisk {
    dir: PathBuf,
}

fn run(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(out.status.success(), "{cmd} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = temp_dir("small-disk");
        let d = dir.to_string_lossy().into_owned();
        run("mount", &["-t", "tmpfs", "-o", &format!("size={size},mode=0755"), "starling-test", &d]);
        SmallDisk { dir }
    }

    /// `ro` or `rw`.
    fn remount(&self, mode: &str) {
        run("mount", &["-o", &format!("remount,{mode}"), &self.dir.to_string_lossy()]);
    }

    /// Take every byte left with a file of our own; returns its path.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.dir.join("filler");
        let mut f = std::fs::File::create(&path).expect("filler");
        let block = vec![7u8; 4096];
        while f.write_all(&block).is_ok() {}
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

/// A failed upload answers Mattermost's shape and id, and nothing of the OS's words.
fn assert_clean_store_error(r: &Resp, what: &str) {
    assert_eq!(r.body["id"], json!("api.file.upload_file.storage.app_error"), "{what}: {}", r.body);
    assert_eq!(r.body["detailed_error"], json!(""), "{what}: no internal detail: {}", r.body);
    let text = r.body.to_string().to_lowercase();
    for leak in ["os error", "no space", "read-only", "errno", "/tmp/", ".part-"] {
        assert!(!text.contains(leak), "{what}: the answer says {leak:?}: {}", r.body);
    }
}

async fn fileinfo_rows(db: &TestDb) -> i64 {
    db.client().await.query_one("SELECT count(*) FROM fileinfo", &[]).await.expect("count").get(0)
}

async fn ping_status(base: &str) -> (u16, Value) {
    let r = reqwest::get(format!("{base}/api/v4/system/ping?get_server_status=true")).await.expect("ping");
    let status = r.status().as_u16();
    (status, r.json().await.expect("ping body"))
}

/// The stored files but the test's own filler.
fn stored(dir: &Path) -> Vec<String> {
    files_under(dir).into_iter().filter(|f| f != "filler").collect()
}

#[actix_web::test]
async fn a_full_or_read_only_file_store_fails_uploads_cleanly_and_they_work_again_after() {
    let disk = SmallDisk::mount("1m");
    let server = TestServer::start_with(|c| c.file_settings.directory = disk.dir.to_string_lossy().into_owned()).await;
    let (author, _) = server.client().new_user("author").await;
    let team = author.create_team(true).await;
    let channel = author.create_channel(&team, false).await;
    let kept_bytes = pattern(20_000, 1);
    let kept = check(upload_files(&author, &channel, &[("kept.bin", &kept_bytes)]).await, 201, "first upload");
    let kept_id = kept.body["file_infos"][0]["id"].as_str().expect("file id").to_owned();
    let baseline = stored(&disk.dir);
    assert_eq!(baseline.len(), 1, "{baseline:?}");

    // A file bigger than the whole disk; then a request whose first file fits and second does not.
    let big = pattern(3_000_000, 2);
    let small = pattern(10_000, 3);
    let requests: [Vec<(&str, &[u8])>; 2] = [vec![("big.bin", &big)], vec![("fits.bin", &small), ("big.bin", &big)]];
    for files in &requests {
        let r = check(upload_files(&author, &channel, files).await, 500, "upload past the space left");
        assert_clean_store_error(&r, "disk full mid-upload");
        assert_eq!(fileinfo_rows(&server.db).await, 1, "no FileInfo row for a file not stored");
        assert_eq!(stored(&disk.dir), baseline, "no partial file left behind");
    }

    // The disk filled by something else: even a small file fails, and ping says why in our words.
    let filler = disk.fill();
    let r = check(upload_files(&author, &channel, &[("tiny.txt", b"tiny")]).await, 500, "upload to a full disk");
    assert_clean_store_error(&r, "disk full");
    assert_eq!(fileinfo_rows(&server.db).await, 1);
    assert_eq!(stored(&disk.dir), baseline);
    let (status, body) = ping_status(&server.url()).await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["filestore_status"], json!("UNHEALTHY"), "{body}");
    assert_eq!(body["database_status"], json!("OK"), "{body}");
    let why = body["filestore_error"].as_str().unwrap_or_default();
    assert!(why.contains("no space left") && !why.contains("os error"), "{body}");
    // Chat without files goes on, and the stored file still downloads.
    author.create_post(&channel, "the disk is full, chat is not").await;
    let d = author.get(&format!("/files/{kept_id}")).await;
    assert_eq!((d.status.as_u16(), d.bytes == kept_bytes), (200, true), "download while full");

    // Space again: uploads work.
    std::fs::remove_file(&filler).expect("remove filler");
    check(
        upload_files(&author, &channel, &[("after-full.txt", b"after full")]).await,
        201,
        "upload after space returns",
    );
    assert_eq!(fileinfo_rows(&server.db).await, 2);
    let baseline = stored(&disk.dir);

    // Read-only: the same clean failure, nothing recorded, reads still served.
    disk.remount("ro");
    for files in &requests[1..] {
        let r = check(upload_files(&author, &channel, files).await, 500, "upload to a read-only store");
        assert_clean_store_error(&r, "read-only");
    }
    let r = check(upload_files(&author, &channel, &[("tiny.txt", b"tiny")]).await, 500, "small upload, read-only");
    assert_clean_store_error(&r, "read-only");
    assert_eq!(fileinfo_rows(&server.db).await, 2);
    assert_eq!(stored(&disk.dir), baseline);
    let (status, body) = ping_status(&server.url()).await;
    assert_eq!(status, 500, "{body}");
    let why = body["filestore_error"].as_str().unwrap_or_default();
    assert!(why.contains("read-only") && !why.contains("os error"), "{body}");
    let d = author.get(&format!("/files/{kept_id}")).await;
    assert_eq!((d.status.as_u16(), d.bytes == kept_bytes), (200, true), "download while read-only");

    disk.remount("rw");
    let r = check(upload_files(&author, &channel, &[("after-ro.bin", &small)]).await, 201, "upload when writable");
    let id = r.body["file_infos"][0]["id"].as_str().expect("file id").to_owned();
    let d = author.get(&format!("/files/{id}")).await;
    assert_eq!((d.status.as_u16(), d.bytes == small), (200, true));
    assert_eq!(ping_status(&server.url()).await.0, 200);
    assert_eq!(fileinfo_rows(&server.db).await, 3);
    assert!(!files_under(&disk.dir).iter().any(|f| f.contains(".part-")), "no temporary file left");
}

// ---------------------------------------------------------------------------------------------
// 2. A node partitioned from its peers.

/// Job settings that make the scenario take seconds (as tests/jobs.rs has them).
const FAST_JOBS: &[(&str, &str)] = &[
    ("MM_JOBSETTINGS_WORKERPOLLMILLISECONDS", "200"),
    ("MM_JOBSETTINGS_SCHEDULERPOLLMILLISECONDS", "200"),
    ("MM_JOBSETTINGS_HEARTBEATMILLISECONDS", "250"),
    ("MM_JOBSETTINGS_STALEJOBMILLISECONDS", "2500"),
    ("MM_JOBSETTINGS_CLEANUPINTERVALSECONDS", "1"),
    ("STARLING_TEST_JOBS", "1"),
];

/// How long the partition lasts: "minutes", scaled down.
const PARTITION_HOLD: Duration = Duration::from_secs(15);

async fn status(admin: &Client) -> Vec<Value> {
    admin.get("/cluster/status").await.body.as_array().cloned().unwrap_or_default()
}

/// The post ids of the `posted` events read from `ws` until `want` are all seen (or 40 s pass).
async fn read_posts_until(ws: &mut Ws, seen: &mut HashSet<String>, want: &HashSet<String>) {
    let deadline = Instant::now() + Duration::from_secs(40);
    while !want.is_subset(seen) && Instant::now() < deadline {
        match ws.next(Duration::from_millis(500)).await {
            Got::Json(ev) if ev["event"] == "posted" => {
                let p: Value = serde_json::from_str(ev["data"]["post"].as_str().unwrap_or("{}")).unwrap_or_default();
                seen.insert(p["id"].as_str().unwrap_or_default().to_owned());
            }
            Got::Json(_) | Got::Timeout => {}
            Got::Closed(code) => panic!("the websocket stays open through the partition: closed {code:?}"),
        }
    }
}

/// The post ids of a channel as a node lists them.
async fn channel_post_ids(c: &Client, channel: &str) -> HashSet<String> {
    let r = c.get(&format!("/channels/{channel}/posts?per_page=200")).await.expect(200);
    r.body["order"].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned)).collect()
}

async fn create_job(admin: &Client, millis: u64) -> String {
    admin.post("/jobs", json!({"type": "test_sleep", "data": {"millis": millis.to_string()}})).await.expect(201).id()
}

#[actix_web::test]
async fn a_partitioned_node_refuses_a_revoked_session_runs_no_job_twice_and_converges_after() {
    let db = TestDb::new().await;
    let files = temp_dir("shared-files");
    let name = format!("c{}", &starling_protocol::new_id()[..8]);
    // Node i advertises 127.0.0.(i+2):G and listens on 127.0.0.1:G; a proxy joins the two, so
    // every link to node i runs through proxy i.
    let mut nodes = Vec::new();
    let mut proxies = Vec::new();
    for i in 0..3 {
        let g = free_port();
        let host = format!("127.0.0.{}", i + 2);
        proxies.push(Proxy::start(&format!("{host}:{g}"), &format!("127.0.0.1:{g}")).await);
        let own = [("MM_CLUSTERSETTINGS_GOSSIPPORT", g.to_string()), ("MM_CLUSTERSETTINGS_OVERRIDEHOSTNAME", host)];
        let extra: Vec<(&str, &str)> =
            FAST_JOBS.iter().copied().chain(own.iter().map(|(k, v)| (*k, v.as_str()))).collect();
        let mut n = NodeProc::spawn(&db, &format!("p{i}"), &name, &files, &extra);
        n.gossip_port = g;
        nodes.push(n);
    }
    for n in &nodes {
        n.ready().await;
    }
    let on = |i: usize| Client::new(&nodes[i].url());
    let (admin, _) = on(0).new_user("admin").await;
    let admin_token = admin.token.clone().expect("token");
    let admins: Vec<Client> = (0..3).map(|i| on(i).with_token(&admin_token)).collect();
    let team = admin.create_team(true).await;
    let channel = admin.create_channel(&team, false).await;
    let member = |prefix: &'static str, node: usize| {
        let (admin, team, channel, c) = (admin.clone(), team.clone(), channel.clone(), on(node));
        async move {
            let (id, uname) = c.create_user(prefix).await;
            admin.post(&format!("/teams/{team}/members"), json!({"team_id": team, "user_id": id})).await.expect(201);
            admin.post(&format!("/channels/{channel}/members"), json!({"user_id": id})).await.expect(201);
            c.login(&uname).await
        }
    };
    let alice = member("alice", 0).await; // the majority side
    let carol = member("carol", 2).await; // the partitioned node
    let dave_on_0 = member("dave", 0).await;
    let dave_on_2 = dave_on_0.clone_to(&nodes[2].url());
    dave_on_2.get("/users/me").await.expect(200); // now in node 2's session cache
    for a in &admins {
        let green = wait_until(Duration::from_secs(30), || async {
            let s = status(a).await;
            s.len() == 3 && s.iter().all(|n| n["status"] == "green")
        })
        .await;
        assert!(green, "all green before the partition: {:?}", status(a).await);
    }
    let mut alice_ws = Ws::connect(&nodes[0].url(), alice.token.as_deref().expect("token")).await;
    let mut carol_ws = Ws::connect(&nodes[2].url(), carol.token.as_deref().expect("token")).await;
    for ws in [&mut alice_ws, &mut carol_ws] {
        assert_eq!(ws.event().await["event"], "hello");
    }
    let job_db = db.client().await;
    let ids_of = |rows: Vec<tokio_postgres::Row>| -> Vec<String> { rows.iter().map(|r| r.get(0)).collect() };

    // The partition: nothing reaches node 2 (its proxy is frozen) and nothing it dialled gets
    // through (its links through the other proxies are cut); nodes 0 and 1 still talk.
    let pid = nodes[2].pid().expect("node 2 runs");
    proxies[2].freeze(true);
    proxies[0].cut_dialer(pid);
    proxies[1].cut_dialer(pid);
    let cut_at = Instant::now();

    // Dave logs out on the majority side straight away, before anyone has noticed the partition.
    // Once that returns, the partitioned node must refuse his token (it cannot have heard).
    check(dave_on_0.post("/users/logout", json!({})).await, 200, "logout on node 0");
    println!("logout returned {} ms into the partition", cut_at.elapsed().as_millis());
    check(dave_on_2.get("/users/me").await, 401, "the revoked session on the partitioned node");

    // Both sides see the split.
    let split = wait_until(Duration::from_secs(20), || async {
        let lone = status(&admins[2]).await;
        let major = status(&admins[0]).await;
        lone.len() == 3
            && lone.iter().skip(1).all(|n| n["status"] == "red")
            && major.iter().filter(|n| n["status"] == "red").count() == 1
            && major.iter().filter(|n| n["status"] == "green").count() == 2
    })
    .await;
    assert!(split, "each side marks the other down: {:?} / {:?}", status(&admins[0]).await, status(&admins[2]).await);
    check(dave_on_2.get("/users/me").await, 401, "still refused once the split is known");
    check(dave_on_0.get("/users/me").await, 401, "and on the majority side");
    // Each side has a leader: the lone node leads itself, the majority agrees on one of theirs.
    let lone_id = status(&admins[2]).await[0]["id"].as_str().unwrap_or_default().to_owned();
    let leaders = wait_until(Duration::from_secs(20), || async {
        let lone = status(&admins[2]).await;
        let (a, b) = (status(&admins[0]).await, status(&admins[1]).await);
        let leader_of = |s: &[Value]| -> Vec<String> {
            s.iter()
                .filter(|n| n["is_leader"] == json!(true))
                .filter_map(|n| n["id"].as_str().map(str::to_owned))
                .collect()
        };
        lone[0]["is_leader"] == json!(true)
            && leader_of(&a).len() == 1
            && leader_of(&a) == leader_of(&b)
            && leader_of(&a)[0] != lone_id
    })
    .await;
    assert!(leaders, "two leaders, one per side: {:?} / {:?}", status(&admins[0]).await, status(&admins[2]).await);
    let keys_before: i64 =
        job_db.query_one("SELECT count(*) FROM jobs WHERE schedule_key IS NOT NULL", &[]).await.expect("jobs").get(0);

    // Work on both sides while the partition lasts: posts, and jobs created on each side.
    let mut jobs = Vec::new();
    for i in 0..6 {
        jobs.push(create_job(&admins[if i % 2 == 0 { 0 } else { 2 }], 300).await);
    }
    let mut posted = HashSet::new();
    let mut i = 0;
    while cut_at.elapsed() < PARTITION_HOLD || i < 6 {
        let (who, side) = if i % 2 == 0 { (&alice, "majority") } else { (&carol, "partitioned") };
        let p = who.create_post(&channel, &format!("{side} side, post {i}")).await;
        posted.insert(p["id"].as_str().expect("post id").to_owned());
        i += 1;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let all_done = wait_until(Duration::from_secs(30), || async {
        let n: i64 = job_db
            .query_one("SELECT count(*) FROM jobs WHERE type = 'test_sleep' AND status = 'success'", &[])
            .await
            .expect("jobs")
            .get(0);
        n == jobs.len() as i64
    })
    .await;
    assert!(all_done, "every job created during the partition ran");
    let keys_during: i64 =
        job_db.query_one("SELECT count(*) FROM jobs WHERE schedule_key IS NOT NULL", &[]).await.expect("jobs").get(0);
    assert!(keys_during > keys_before, "the leaders kept scheduling during the partition");

    for p in &proxies {
        p.heal();
    }
    for a in &admins {
        let green = wait_until(Duration::from_secs(40), || async {
            let s = status(a).await;
            s.len() == 3 && s.iter().all(|n| n["status"] == "green")
        })
        .await;
        assert!(green, "all green after the heal: {:?}", status(a).await);
    }
    println!("partition healed {} ms after it began", cut_at.elapsed().as_millis());

    // No job ran twice, and no recurring period got two jobs from the two leaders.
    let twice = ids_of(
        job_db
            .query("SELECT job_id FROM jobruns WHERE outcome = 'success' GROUP BY job_id HAVING count(*) > 1", &[])
            .await
            .expect("runs"),
    );
    assert!(twice.is_empty(), "jobs that ran to success twice: {twice:?}");
    for j in &jobs {
        let runs: i64 = job_db
            .query_one("SELECT count(*) FROM jobruns WHERE job_id = $1 AND outcome = 'success'", &[j])
            .await
            .expect("runs")
            .get(0);
        assert_eq!(runs, 1, "job {j} ran once");
    }
    let dup_periods = ids_of(
        job_db
            .query(
                "SELECT type || ' ' || schedule_key FROM jobs WHERE schedule_key IS NOT NULL \
                 GROUP BY type, schedule_key HAVING count(*) > 1",
                &[],
            )
            .await
            .expect("periods"),
    );
    assert!(dup_periods.is_empty(), "periods scheduled twice: {dup_periods:?}");

    // The clients of both sides converge: every post, on each websocket and in each node's list.
    let mut alice_seen = HashSet::new();
    let mut carol_seen = HashSet::new();
    read_posts_until(&mut alice_ws, &mut alice_seen, &posted).await;
    read_posts_until(&mut carol_ws, &mut carol_seen, &posted).await;
    let missing = |seen: &HashSet<String>| posted.difference(seen).count();
    assert_eq!(missing(&alice_seen), 0, "alice's websocket (majority side) got every post");
    assert_eq!(missing(&carol_seen), 0, "carol's websocket (partitioned node) got every post");
    for a in &admins {
        let listed = channel_post_ids(a, &channel).await;
        assert_eq!(missing(&listed), 0, "node {} lists every post", a.base);
    }
    for c in [&dave_on_0, &dave_on_2] {
        check(c.get("/users/me").await, 401, "the revoked session stays refused after the heal");
    }
    alice.create_post(&channel, "after the heal").await;
    let (ev, _) = carol_ws.until_event("posted").await;
    let p: Value = serde_json::from_str(ev["data"]["post"].as_str().unwrap_or("{}")).unwrap_or_default();
    assert_eq!(p["message"], json!("after the heal"), "live delivery across the healed link");
}

// ---------------------------------------------------------------------------------------------
// 4. The PostgreSQL primary lost under load, and the operator's failover.

/// Posters post at most this many times each (the loop is bounded whatever happens).
const MAX_POSTS_PER_POSTER: usize = 3000;
const POSTERS: usize = 4;

/// What one poster saw.
#[derive(Default)]
struct PosterLog {
    /// Posts answered 201: id, when the request was sent, and when the answer came.
    acked: Vec<(String, Instant, Instant)>,
    /// Failed attempts: status, and when.
    failed: Vec<(u16, Instant)>,
}

#[actix_web::test]
async fn the_primary_lost_under_load_and_failed_over_loses_no_acknowledged_post() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    let pair = PgPair::start_synchronous().await;
    let db = pair.create_db().await;
    let mut config = common::test_config_on(&pair.primary_url(&db));
    let path = temp_dir("config").join("config.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&config).expect("config json")).expect("write config");
    let loaded = starling::config::load(&path).expect("config loads");
    let node = starling::server::start(loaded, test_logger()).await.expect("node starts");
    let anon = Client::new(&format!("http://{}", node.http_addr));
    let (admin, _) = anon.new_user("admin").await;
    let team = admin.create_team(true).await;
    let channel = admin.create_channel(&team, false).await;

    let stop = Arc::new(AtomicBool::new(false));
    let acked_total = Arc::new(AtomicUsize::new(0));
    let mut posters = Vec::new();
    for w in 0..POSTERS {
        let (c, ch, stop, acked_total) = (admin.clone(), channel.clone(), stop.clone(), acked_total.clone());
        posters.push(actix_web::rt::spawn(async move {
            let mut log = PosterLog::default();
            for i in 0..MAX_POSTS_PER_POSTER {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let sent = Instant::now();
                let r = c.post("/posts", json!({"channel_id": ch, "message": format!("poster {w} post {i}")})).await;
                if r.status.as_u16() == 201 {
                    log.acked.push((r.id(), sent, Instant::now()));
                    acked_total.fetch_add(1, Ordering::Relaxed);
                } else {
                    // Failures say so in Mattermost's shape.
                    assert_error_shape(&r.body, r.status.as_u16());
                    log.failed.push((r.status.as_u16(), Instant::now()));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            log
        }));
    }
    let at_least = |n: usize| {
        let acked_total = acked_total.clone();
        async move {
            wait_until(Duration::from_secs(30), || {
                let acked_total = acked_total.clone();
                async move { acked_total.load(Ordering::Relaxed) >= n }
            })
            .await
        }
    };
    assert!(at_least(100).await, "posts flow before the failure");

    // The primary dies; the operator promotes the standby, points DataSource at it, reloads the
    // config and recycles the connections. The posters go on throughout.
    let acked_at_crash = acked_total.load(Ordering::Relaxed);
    pair.crash_primary();
    let crashed = Instant::now();
    pair.promote().await;
    let promoted = crashed.elapsed();
    config.sql_settings.data_source = pair.replica_url(&db);
    std::fs::write(&path, serde_json::to_vec_pretty(&config).expect("config json")).expect("write config");
    check(admin.post("/config/reload", json!({})).await, 200, "config reload after the failover");
    assert_eq!(node.state.config().sql_settings.data_source, pair.replica_url(&db));
    check(admin.post("/database/recycle", json!({})).await, 200, "database recycle after the failover");
    let recycled = crashed.elapsed();
    assert!(at_least(acked_at_crash + 200).await, "posts flow again after the failover");
    stop.store(true, Ordering::Relaxed);
    let mut logs = Vec::new();
    for p in posters {
        logs.push(p.await.expect("poster"));
    }

    // Loss accounting: every post that got a 201 is on the new primary.
    let acked: Vec<&(String, Instant, Instant)> = logs.iter().flat_map(|l| l.acked.iter()).collect();
    let failed: Vec<&(u16, Instant)> = logs.iter().flat_map(|l| l.failed.iter()).collect();
    let (client, conn) =
        tokio_postgres::connect(&pair.replica_url(&db), tokio_postgres::NoTls).await.expect("new primary");
    actix_web::rt::spawn(conn);
    let rows = client.query("SELECT id FROM posts WHERE channel_id = $1", &[&channel]).await.expect("posts");
    let on_new_primary: HashSet<String> = rows.iter().map(|r| r.get(0)).collect();
    let lost: Vec<&String> = acked.iter().map(|(id, _, _)| id).filter(|id| !on_new_primary.contains(*id)).collect();
    assert!(lost.is_empty(), "{} of {} acknowledged posts lost: {:?}", lost.len(), acked.len(), lost);
    let extra = on_new_primary.len() - acked.len().min(on_new_primary.len());
    assert!(!failed.is_empty(), "the failure was felt (some posts failed)");
    assert!(
        failed.iter().all(|(s, _)| *s == 500 || *s == 503),
        "failures are 500 or 503: {:?}",
        failed.iter().map(|(s, _)| *s).collect::<HashSet<_>>()
    );
    // The outage: from the crash to the first 201 of a post sent after it (a post sent before
    // may have been committed before the crash and answered after it).
    let after = acked.iter().filter(|(_, sent, _)| *sent >= crashed).map(|(_, _, answered)| *answered).min();
    let after = after.expect("a post sent after the crash was acknowledged");
    println!(
        "db failover: write outage {} ms (the crash to the first 201 of a post sent after it; promoted at {} ms, \
         recycled at {} ms); {} posts acknowledged, {} failed, {} written without an answer, 0 lost",
        after.duration_since(crashed).as_millis(),
        promoted.as_millis(),
        recycled.as_millis(),
        acked.len(),
        failed.len(),
        extra
    );
    assert_eq!(
        query_i64(&pair.replica_url(&db), "SELECT CASE WHEN pg_is_in_recovery() THEN 1 ELSE 0 END::bigint").await,
        Some(0),
        "the promoted server is the primary"
    );
}
