//! Read replicas: routing, health, read-your-writes and failover against a real streaming replica.

mod common;

use common::replica::{query_i64, PgPair};
use common::Client;
use serde_json::Value;
use starling::config::Config;
use starling::server::Node;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Reads go to the master for this long after a session writes (the node's test hook).
const RYW_MS: u64 = 1500;

fn set_test_window() {
    // Every test in this binary sets the same value, so parallel tests agree.
    std::env::set_var("STARLING_TEST_READ_YOUR_WRITES_MS", RYW_MS.to_string());
}

/// A node config whose master is the pair's primary and whose read replica is the pair's replica.
fn pair_config(pair: &PgPair, db: &str) -> Config {
    let mut c = Config::default();
    c.service_settings.listen_address = "127.0.0.1:0".into();
    c.sql_settings.data_source = pair.primary_url(db);
    c.sql_settings.data_source_replicas = vec![pair.replica_url(db)];
    c.sql_settings.max_open_conns = 20;
    c.sql_settings.connect_attempts = 3;
    c.sql_settings.connect_retry_seconds = 1;
    c.sql_settings.replica_monitor_interval_seconds = 1;
    c.sql_settings.replica_lag_settings = vec![starling::config::ReplicaLagSetting {
        data_source: pair.primary_url(db),
        query_absolute_lag: "SELECT application_name, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) \
                             FROM pg_stat_replication"
            .into(),
        query_time_lag: "SELECT application_name, \
                         extract(epoch FROM coalesce(replay_lag, interval '0')) * 1000 FROM pg_stat_replication"
            .into(),
    }];
    c.file_settings.directory = common::temp_dir("files").to_string_lossy().into_owned();
    c.log_settings.enable_console = false;
    c.log_settings.enable_file = false;
    c.team_settings.enable_open_server = true;
    c
}

struct Setup {
    pair: PgPair,
    db: String,
    node: Node,
    /// The author: wrote the post.
    author: Client,
    /// A reader: a channel member who has not written lately.
    reader: Client,
    channel_id: String,
}

async fn setup() -> Setup {
    set_test_window();
    let pair = PgPair::start().await;
    let db = pair.create_db().await;
    let node = common::start_node(pair_config(&pair, &db)).await;
    let anon = Client::new(&format!("http://{}", node.http_addr));
    let (author, _) = anon.new_user("author").await;
    let (reader, reader_id) = anon.new_user("reader").await;
    let team_id = author.create_team(true).await;
    let channel_id = author.create_channel(&team_id, false).await;
    author
        .post(&format!("/teams/{team_id}/members"), serde_json::json!({"team_id": team_id, "user_id": reader_id}))
        .await
        .expect(201);
    author
        .post(&format!("/channels/{channel_id}/members"), serde_json::json!({"user_id": reader_id}))
        .await
        .expect(201);
    author.create_post(&channel_id, "first").await;
    pair.wait_caught_up().await;
    Setup { pair, db, node, author, reader, channel_id }
}

fn messages(body: &Value) -> Vec<String> {
    body["posts"]
        .as_object()
        .map(|m| m.values().filter_map(|p| p["message"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

async fn sleep_past_window() {
    tokio::time::sleep(Duration::from_millis(RYW_MS + 200)).await;
}

#[actix_web::test]
async fn reads_land_on_the_replica_and_writes_on_the_primary() {
    let s = setup().await;
    sleep_past_window().await;
    let before = s.node.state.store.pool_stats();
    for _ in 0..5 {
        let r = s.reader.get(&format!("/channels/{}/posts", s.channel_id)).await.expect(200);
        assert_eq!(messages(&r.body), vec!["first".to_owned()]);
    }
    let after = s.node.state.store.pool_stats();
    assert!(after.replica_reads >= before.replica_reads + 5, "reads served by the replica: {before:?} -> {after:?}");
    assert!(after.replica_open > 0);
    // The replica's own view: this node holds connections to the test database there.
    let on_replica = query_i64(
        &s.pair.replica_url("postgres"),
        &format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND backend_type = 'client backend'",
            s.db
        ),
    )
    .await;
    assert!(on_replica.unwrap_or(0) > 0, "no node connection on the replica");
    // Writes went to the primary (a hot standby refuses writes): the post is there.
    let n = query_i64(&s.pair.primary_url(&s.db), "SELECT count(*) FROM posts WHERE message = 'first'").await;
    assert_eq!(n, Some(1));
    // A write request and its reads use the master.
    s.author.create_post(&s.channel_id, "second").await;
    let stats = s.node.state.store.pool_stats();
    assert_eq!(stats.replica_failures, 0);
    let body = common::replica::metrics_text(&s.node).await;
    assert!(body.contains("mattermost_db_read_replica_connections_total"), "{body}");
    assert!(body.contains("mattermost_db_master_connections_total"));
    // ReplicaLagSettings: the monitor runs both queries against the primary, one gauge per node.
    let node = &s.node;
    let lag_seen = common::wait_until(Duration::from_secs(10), || async move {
        let body = common::replica::metrics_text(node).await;
        body.contains("mattermost_db_replica_lag_abs{node=\"walreceiver\"}")
            && body.contains("mattermost_db_replica_lag_time{node=\"walreceiver\"}")
    })
    .await;
    assert!(lag_seen, "{}", common::replica::metrics_text(&s.node).await);
}

#[actix_web::test]
async fn replica_stopped_mid_traffic_fails_no_request_and_is_used_again() {
    let s = setup().await;
    sleep_past_window().await;
    let failed = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let traffic = {
        let (reader, channel, failed, done, stop) =
            (s.reader.clone(), s.channel_id.clone(), failed.clone(), done.clone(), stop.clone());
        actix_web::rt::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let r = reader.get(&format!("/channels/{channel}/posts")).await;
                if r.status.as_u16() != 200 {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let reached = |n: u64| {
        let done = done.clone();
        move || {
            let done = done.clone();
            async move { done.load(Ordering::Relaxed) >= n }
        }
    };
    assert!(common::wait_until(Duration::from_secs(20), reached(20)).await);
    s.pair.stop_replica();
    let at_stop = done.load(Ordering::Relaxed);
    assert!(common::wait_until(Duration::from_secs(30), reached(at_stop + 50)).await);
    assert!(s.node.state.store.pool_stats().healthy_replicas == 0, "the stopped replica is skipped");
    s.pair.start_replica();
    let store = s.node.state.store.clone();
    let base = store.pool_stats().replica_reads;
    let used_again = common::wait_until(Duration::from_secs(30), || {
        let store = store.clone();
        async move { store.pool_stats().replica_reads > base + 10 }
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let _ = traffic.await;
    assert_eq!(failed.load(Ordering::Relaxed), 0, "failed requests of {}", done.load(Ordering::Relaxed));
    assert!(used_again, "the restarted replica serves reads again: {:?}", store.pool_stats());
}

#[actix_web::test]
async fn replay_paused_author_still_reads_own_post() {
    let s = setup().await;
    s.pair.pause_replay().await;
    s.author.create_post(&s.channel_id, "while paused").await;
    // The author wrote just now: their reads go to the master.
    let r = s.author.get(&format!("/channels/{}/posts", s.channel_id)).await.expect(200);
    assert!(messages(&r.body).contains(&"while paused".to_owned()), "{}", r.body);
    // Someone who has not written reads the lagging replica (proof that it lags).
    sleep_past_window().await;
    let r = s.reader.get(&format!("/channels/{}/posts", s.channel_id)).await.expect(200);
    assert!(!messages(&r.body).contains(&"while paused".to_owned()), "{}", r.body);
    s.pair.resume_replay().await;
    s.pair.wait_caught_up().await;
    let r = s.reader.get(&format!("/channels/{}/posts", s.channel_id)).await.expect(200);
    assert!(messages(&r.body).contains(&"while paused".to_owned()), "{}", r.body);
}

/// Behind a load balancer a session's next request may land on another node: the node where it
/// wrote tells its peers, so the session's reads there use the master too.
#[actix_web::test]
async fn a_session_that_wrote_on_one_node_reads_its_write_on_another() {
    use common::cluster::NodeProc;
    let pair = PgPair::start().await;
    let db = pair.create_db().await;
    let files = common::temp_dir("files");
    let name = format!("c{}", &starling_protocol::new_id()[..8]);
    let replica = pair.replica_url(&db);
    let extra = [("MM_SQLSETTINGS_DATASOURCEREPLICAS", replica.as_str())];
    let nodes: Vec<NodeProc> =
        (1..=2).map(|i| NodeProc::spawn_on(&pair.primary_url(&db), &format!("n{i}"), &name, &files, &extra)).collect();
    for n in &nodes {
        n.ready().await;
    }
    let anon = Client::new(&nodes[0].url());
    let (author1, _) = anon.new_user("author").await;
    let (reader, reader_id) = anon.new_user("reader").await;
    let author2 = author1.clone_to(&nodes[1].url());
    let reader2 = reader.clone_to(&nodes[1].url());
    let linked = common::wait_until(Duration::from_secs(20), || async {
        let s = author2.get("/cluster/status").await.body;
        s.as_array().is_some_and(|a| a.len() == 2 && a.iter().all(|n| n["status"] == "green"))
    })
    .await;
    assert!(linked, "the two nodes see each other");
    let team_id = author1.create_team(true).await;
    let channel_id = author1.create_channel(&team_id, false).await;
    author1
        .post(&format!("/teams/{team_id}/members"), serde_json::json!({"team_id": team_id, "user_id": reader_id}))
        .await
        .expect(201);
    author1
        .post(&format!("/channels/{channel_id}/members"), serde_json::json!({"user_id": reader_id}))
        .await
        .expect(201);
    pair.wait_caught_up().await;

    pair.pause_replay().await;
    author1.create_post(&channel_id, "written on node 1").await;
    let path = format!("/channels/{channel_id}/posts");
    let r = author2.get(&path).await.expect(200);
    assert!(messages(&r.body).contains(&"written on node 1".to_owned()), "the author reads it on node 2: {}", r.body);
    // Someone who has not written reads node 2's lagging replica (proof that it lags).
    let r = reader2.get(&path).await.expect(200);
    assert!(!messages(&r.body).contains(&"written on node 1".to_owned()), "{}", r.body);
    pair.resume_replay().await;
    pair.wait_caught_up().await;
    let r = reader2.get(&path).await.expect(200);
    assert!(messages(&r.body).contains(&"written on node 1".to_owned()), "{}", r.body);
}

/// Write `config` to a file and start a node that reloads from it.
async fn start_node_with_file(config: &Config) -> (Node, std::path::PathBuf) {
    let path = common::temp_dir("config").join("config.json");
    std::fs::write(&path, serde_json::to_vec_pretty(config).expect("config json")).expect("write config");
    let loaded = starling::config::load(&path).expect("config loads");
    let node = starling::server::start(loaded, common::test_logger()).await.expect("node starts");
    (node, path)
}

#[actix_web::test]
async fn recycle_under_traffic_fails_no_request() {
    set_test_window();
    let pair = PgPair::start().await;
    let db = pair.create_db().await;
    let node = common::start_node(pair_config(&pair, &db)).await;
    let anon = Client::new(&format!("http://{}", node.http_addr));
    let (admin, _) = anon.new_user("admin").await;
    let (user, _) = anon.new_user("user").await;
    user.post("/database/recycle", serde_json::json!({})).await.expect(403);
    let team_id = admin.create_team(true).await;
    let channel_id = admin.create_channel(&team_id, false).await;
    let failed = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = vec![];
    for w in 0..3 {
        let (c, ch, failed, done, stop) =
            (admin.clone(), channel_id.clone(), failed.clone(), done.clone(), stop.clone());
        workers.push(actix_web::rt::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let r = if w == 0 {
                    c.post("/posts", serde_json::json!({"channel_id": ch, "message": format!("m{i}")})).await
                } else {
                    c.get(&format!("/channels/{ch}/posts")).await
                };
                if !r.status.is_success() {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                done.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        }));
    }
    for _ in 0..5 {
        admin.post("/database/recycle", serde_json::json!({})).await.expect(200);
        let n = done.load(Ordering::Relaxed);
        let d = done.clone();
        assert!(
            common::wait_until(Duration::from_secs(20), || {
                let d = d.clone();
                async move { d.load(Ordering::Relaxed) >= n + 20 }
            })
            .await
        );
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }
    assert_eq!(failed.load(Ordering::Relaxed), 0, "failed of {}", done.load(Ordering::Relaxed));
}

#[actix_web::test]
async fn failover_promote_reload_recycle_without_restart() {
    set_test_window();
    let pair = PgPair::start().await;
    let db = pair.create_db().await;
    let mut config = pair_config(&pair, &db);
    let (node, path) = start_node_with_file(&config).await;
    let anon = Client::new(&format!("http://{}", node.http_addr));
    let (admin, _) = anon.new_user("admin").await;
    let team_id = admin.create_team(true).await;
    let channel_id = admin.create_channel(&team_id, false).await;
    admin.create_post(&channel_id, "before failover").await;
    pair.wait_caught_up().await;

    // The primary fails; the replica is promoted; DataSource now names it.
    pair.stop_primary();
    pair.promote().await;
    config.sql_settings.data_source = pair.replica_url(&db);
    config.sql_settings.data_source_replicas = vec![];
    std::fs::write(&path, serde_json::to_vec_pretty(&config).expect("config json")).expect("write config");
    admin.post("/config/reload", serde_json::json!({})).await.expect(200);
    assert_eq!(node.state.config().sql_settings.data_source, pair.replica_url(&db));
    admin.post("/database/recycle", serde_json::json!({})).await.expect(200);

    admin.create_post(&channel_id, "after failover").await;
    let r = admin.get(&format!("/channels/{channel_id}/posts")).await.expect(200);
    let got = messages(&r.body);
    assert!(got.contains(&"before failover".to_owned()) && got.contains(&"after failover".to_owned()), "{got:?}");
    let n = query_i64(&pair.replica_url(&db), "SELECT count(*) FROM posts WHERE message = 'after failover'").await;
    assert_eq!(n, Some(1), "the write reached the promoted server");
}

fn order_messages(body: &Value) -> Vec<String> {
    body["order"]
        .as_array()
        .map(|o| {
            o.iter()
                .filter_map(|id| body["posts"][id.as_str().unwrap_or_default()]["message"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[actix_web::test]
async fn search_runs_on_the_search_replica_and_respects_membership() {
    set_test_window();
    let pair = PgPair::start().await;
    let db = pair.create_db().await;
    let mut config = pair_config(&pair, &db);
    config.sql_settings.data_source_search_replicas = vec![pair.replica_url(&db)];
    let node = common::start_node(config).await;
    let anon = Client::new(&format!("http://{}", node.http_addr));
    let (alice, _) = anon.new_user("alice").await;
    let (bob, bob_id) = anon.new_user("bob").await;
    let alice_name = alice.get("/users/me").await.expect(200).body["username"].as_str().unwrap_or_default().to_owned();
    let team_id = alice.create_team(true).await;
    let shared = alice.create_channel(&team_id, false).await;
    let secret = alice.create_channel(&team_id, true).await;
    alice
        .post(&format!("/teams/{team_id}/members"), serde_json::json!({"team_id": team_id, "user_id": bob_id}))
        .await
        .expect(201);
    alice.post(&format!("/channels/{shared}/members"), serde_json::json!({"user_id": bob_id})).await.expect(201);
    alice.create_post(&shared, "the quick brown foxes jumped").await;
    alice.create_post(&shared, "brown bread for lunch").await;
    alice.create_post(&secret, "secret brown plans").await;
    bob.create_post(&shared, "quick reply from bob").await;
    pair.wait_caught_up().await;
    sleep_past_window().await;

    let search = |c: &Client, terms: &str, or: bool| {
        let c = c.clone();
        let body = serde_json::json!({"terms": terms, "is_or_search": or, "page": 0, "per_page": 60});
        let path = format!("/teams/{team_id}/posts/search");
        async move { order_messages(&c.post(&path, body).await.expect(200).body) }
    };
    let before = node.state.store.pool_stats().search_reads;
    // Stemming: "fox" finds "foxes". Bob does not see the private channel he is not in.
    assert_eq!(search(&bob, "fox", false).await, vec!["the quick brown foxes jumped"]);
    assert_eq!(search(&bob, "brown", false).await, vec!["brown bread for lunch", "the quick brown foxes jumped"]);
    assert_eq!(search(&alice, "brown", false).await.len(), 3, "alice is in both channels");
    assert_eq!(search(&bob, "\"brown bread\"", false).await, vec!["brown bread for lunch"]);
    assert_eq!(search(&bob, "\"bread brown\"", false).await, Vec::<String>::new());
    assert_eq!(search(&bob, "quick brown", false).await, vec!["the quick brown foxes jumped"]);
    assert_eq!(search(&bob, "lunch reply", true).await, vec!["quick reply from bob", "brown bread for lunch"]);
    assert_eq!(search(&bob, &format!("quick from:{alice_name}"), false).await, vec!["the quick brown foxes jumped"]);
    let shared_name = alice.get(&format!("/channels/{shared}")).await.expect(200).body["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(search(&alice, &format!("brown in:{shared_name}"), false).await.len(), 2);
    let after = node.state.store.pool_stats().search_reads;
    assert!(after >= before + 9, "searches served by the search replica: {before} -> {after}");
    // Outsiders of the team cannot search it.
    let (carol, _) = anon.new_user("carol").await;
    carol.post(&format!("/teams/{team_id}/posts/search"), serde_json::json!({"terms": "brown"})).await.expect(403);

    // The search replica lags while replay is paused: a post written now is not found by others yet.
    pair.pause_replay().await;
    alice.create_post(&shared, "brown shoes").await;
    sleep_past_window().await;
    assert_eq!(search(&bob, "shoes", false).await, Vec::<String>::new());
    pair.resume_replay().await;
    pair.wait_caught_up().await;
    assert_eq!(search(&bob, "shoes", false).await, vec!["brown shoes"]);

    // Users: prefix of the username, case-insensitive, within a team.
    let found = bob
        .post("/users/search", serde_json::json!({"term": alice_name.to_uppercase(), "team_id": team_id}))
        .await
        .expect(200)
        .body;
    let names: Vec<&str> =
        found.as_array().map(|a| a.iter().filter_map(|u| u["username"].as_str()).collect()).unwrap_or_default();
    assert_eq!(names, vec![alice_name.as_str()]);
    carol.post("/users/search", serde_json::json!({"term": "alice", "team_id": team_id})).await.expect(403);
}

#[actix_web::test]
async fn idle_connections_are_trimmed_to_max_idle_conns() {
    use starling_actors::ReplicaMonitor;
    let db = common::TestDb::new().await;
    let mut sql = common::test_config(&db).sql_settings;
    sql.max_idle_conns = 2;
    let store = starling::store::Store::new(&sql).expect("store");
    let pings = (0..6).map(|_| store.ping());
    for r in futures_util::future::join_all(pings).await {
        r.expect("ping");
    }
    assert!(store.pool_stats().master_open > 2, "{:?}", store.pool_stats());
    store.check_replicas(Duration::from_secs(5)).await;
    let stats = store.pool_stats();
    assert_eq!(stats.master_open, 2, "{stats:?}");
    store.ping().await.expect("a kept connection still works");
    store.close();
}
