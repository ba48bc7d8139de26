//! What the HA guide leaves to the operator, on node processes: clock skew and process limits
//! flagged, app versions too far apart refused, a node drained under client load with nothing
//! lost, and a three-node cluster behind NGINX rolled from one version to the next while clients
//! post and listen.

mod common;
use common::admin::admin;
use common::cluster::{ClusterProcs, NodeProc};
use common::nginx::Nginx;
use common::ws::{Got, Ws};
use common::{temp_dir, wait_until, Client};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

async fn status(c: &Client) -> Vec<Value> {
    c.get("/cluster/status").await.body.as_array().cloned().unwrap_or_default()
}

fn row<'a>(rows: &'a [Value], node: &NodeProc) -> Option<&'a Value> {
    rows.iter().find(|r| r["ipaddress"] == json!(node.gossip_addr()))
}

/// An admin (the first user), Bob, and a channel both are in.
struct World {
    admin: Client,
    bob_token: String,
    channel: String,
}

async fn world(base: &str) -> World {
    let anon = Client::new(base);
    let (admin, _) = anon.new_user("admin").await;
    let (bob_id, bob_name) = anon.create_user("bob").await;
    let team = admin.create_team(true).await;
    admin.post(&format!("/teams/{team}/members"), json!({"team_id": team, "user_id": bob_id})).await.expect(201);
    let channel = admin.create_channel(&team, false).await;
    admin.post(&format!("/channels/{channel}/members"), json!({"user_id": bob_id})).await.expect(201);
    let bob = anon.login(&bob_name).await;
    World { admin, bob_token: bob.token.unwrap(), channel }
}

#[actix_web::test]
async fn clock_skew_and_low_process_limits_are_flagged_in_status_metrics_and_logs() {
    let mut c = ClusterProcs::start(1, &[]).await;
    // The second node's clock runs 5 s ahead, and its limits are below the guide's.
    let skewed = NodeProc::spawn(
        &c.db,
        "n2",
        &c.name,
        &c.files,
        &[
            ("STARLING_TEST_CLOCK_OFFSET_MS", "5000"),
            ("STARLING_TEST_OPEN_FILES_LIMIT", "1024"),
            ("STARLING_TEST_PROCESSES_LIMIT", "512"),
        ],
    );
    skewed.ready().await;
    c.nodes.push(skewed);
    let w = world(&c.nodes[0].url()).await;
    let on2 = w.admin.clone_to(&c.nodes[1].url());
    let flagged = wait_until(Duration::from_secs(20), || async {
        let rows = status(&w.admin).await;
        row(&rows, &c.nodes[1]).is_some_and(|r| {
            r["status"] == "red"
                && r["reason"].as_str().is_some_and(|s| s.contains("clock skew") && s.contains("ahead of"))
        })
    })
    .await;
    assert!(flagged, "node 1 flags node 2's clock: {:?}", status(&w.admin).await);
    let rows = status(&on2).await;
    let theirs = row(&rows, &c.nodes[0]).expect("node 2 lists node 1");
    assert!(theirs["reason"].as_str().unwrap().contains("behind"), "node 2 sees node 1 behind: {theirs}");
    // Its own row says what it found at start; still green.
    let own = &rows[0];
    assert_eq!(own["ipaddress"], json!(c.nodes[1].gossip_addr()), "{rows:?}");
    assert_eq!(own["status"], "green");
    for want in ["open-file limit 1024 is below 65536", "process limit 512 is below 8192"] {
        assert!(own["reason"].as_str().unwrap().contains(want), "{own}");
    }
    let ping = on2.get("/system/ping?get_server_status=true").await.expect(200).body;
    assert_eq!(ping["warnings"].as_array().map(Vec::len), Some(2), "{ping}");
    let ping1 = w.admin.get("/system/ping?get_server_status=true").await.expect(200).body;
    // Node 1 runs with the machine's own limits: node 2's forced ones are not its.
    assert!(!ping1.to_string().contains("limit 1024") && !ping1.to_string().contains("limit 512"), "{ping1}");

    // The metric, in seconds, and the process metrics beside it.
    let metrics = c.nodes[0].metrics().await;
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with(&format!("starling_cluster_peer_clock_skew_seconds{{peer=\"{}\"}}", c.nodes[1].gossip_addr()))
        })
        .unwrap_or_else(|| panic!("no skew metric for node 2:\n{metrics}"));
    let secs: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!((4.8..=5.2).contains(&secs), "{line}");
    for m in ["process_resident_memory_bytes ", "process_cpu_seconds_total ", "process_open_fds ", "process_threads "] {
        assert!(metrics.lines().any(|l| l.starts_with(m)), "{m} in /metrics");
    }
    // And the logs say so.
    let log1 = std::fs::read_to_string(c.nodes[0].dir.join("starling.log")).unwrap();
    assert!(log1.contains("peer clock skew over the limit"), "node 1's log");
    let log2 = std::fs::read_to_string(c.nodes[1].dir.join("starling.log")).unwrap();
    assert_eq!(log2.matches("process limit below what the HA guide asks").count(), 2, "node 2's log");
}

#[actix_web::test]
async fn a_node_two_minor_versions_apart_is_refused_and_shown_red_on_both_sides() {
    let mut c = ClusterProcs::start(1, &[]).await;
    let far = NodeProc::spawn(&c.db, "n2", &c.name, &c.files, &[("STARLING_TEST_APP_VERSION", "0.3.0")]);
    far.ready().await;
    c.nodes.push(far);
    let w = world(&c.nodes[0].url()).await;
    let on2 = w.admin.clone_to(&c.nodes[1].url());
    let says = |rows: Vec<Value>, of: &NodeProc| {
        row(&rows, of).is_some_and(|r| {
            r["status"] == "red" && r["reason"].as_str().is_some_and(|s| s.contains("at most one minor version apart"))
        })
    };
    let both = wait_until(Duration::from_secs(20), || async {
        says(status(&w.admin).await, &c.nodes[1]) && says(status(&on2).await, &c.nodes[0])
    })
    .await;
    assert!(both, "{:?}\n{:?}", status(&w.admin).await, status(&on2).await);
    // An event on one never reaches the other.
    let mut ws = Ws::connect(&c.nodes[1].url(), &w.bob_token).await;
    assert_eq!(ws.event().await["event"], "hello");
    w.admin.create_post(&w.channel, "not across versions").await;
    while let Got::Json(ev) = ws.next(Duration::from_secs(2)).await {
        assert_ne!(ev["event"], "posted", "{ev}");
    }
}

/// What a listening client saw: every `posted` post id with how often, new hellos after the first
/// (a resume that failed), and gaps in `seq`.
#[derive(Default, Debug)]
struct Seen {
    posts: HashMap<String, usize>,
    fresh_hellos: usize,
    gaps: usize,
    reconnects: usize,
}

/// Count one event: a `seq` that does not follow `last` is a gap; a `posted` post is seen once more.
fn take(ev: &Value, last: &mut i64, seen: &Mutex<Seen>) {
    let seq = ev["seq"].as_i64().unwrap_or(-1);
    let mut s = seen.lock().unwrap();
    if seq != *last + 1 {
        s.gaps += 1;
    }
    *last = seq;
    if ev["event"] == "posted" {
        let post: Value = serde_json::from_str(ev["data"]["post"].as_str().unwrap()).unwrap();
        *s.posts.entry(post["id"].as_str().unwrap().to_owned()).or_default() += 1;
    }
}

/// A websocket client as Mattermost's apps are: first on `first`, and whenever its socket closes,
/// back through the load balancer `lb` with its connection id and next sequence number.
fn listen(first: String, lb: String, token: String, stop: Arc<AtomicBool>) -> Arc<Mutex<Seen>> {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let out = seen.clone();
    actix_web::rt::spawn(async move {
        let mut ws = Ws::connect(&first, &token).await;
        let hello = ws.event().await;
        assert_eq!(hello["event"], "hello");
        let mut conn = hello["data"]["connection_id"].as_str().unwrap().to_owned();
        let mut last = hello["seq"].as_i64().unwrap();
        while !stop.load(Ordering::Relaxed) {
            match ws.next(Duration::from_millis(200)).await {
                Got::Timeout => {}
                Got::Json(ev) if ev.get("event").is_none() => {}
                Got::Json(ev) => take(&ev, &mut last, &seen),
                Got::Closed(_) => {
                    // Reconnect through the load balancer (bounded: 30 s of attempts).
                    let q = format!("?connection_id={conn}&sequence_number={}", last + 1);
                    let auth = [("Authorization", format!("Bearer {token}"))];
                    let mut next = None;
                    for _ in 0..300 {
                        if let Ok(w) = Ws::connect_with(&lb, &q, &auth).await {
                            next = Some(w);
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    ws = next.expect("the client gets back in through the load balancer");
                    seen.lock().unwrap().reconnects += 1;
                    // A resumed connection goes on with the events it missed; a new one says hello.
                    match ws.next(Duration::from_millis(500)).await {
                        Got::Json(ev) if ev["event"] == "hello" => {
                            seen.lock().unwrap().fresh_hellos += 1;
                            conn = ev["data"]["connection_id"].as_str().unwrap().to_owned();
                            last = ev["seq"].as_i64().unwrap();
                        }
                        Got::Json(ev) if ev.get("event").is_some() => take(&ev, &mut last, &seen),
                        _ => {}
                    }
                }
            }
        }
    });
    out
}

/// Post `n` messages through `base`, one every `every`, each retried with its pending_post_id
/// until it is acknowledged (bounded); the acknowledged post ids and messages.
fn poster(
    base: String,
    token: String,
    channel: String,
    n: usize,
    every: Duration,
) -> actix_web::rt::task::JoinHandle<Vec<(String, String)>> {
    actix_web::rt::spawn(async move {
        let http = reqwest::Client::new();
        let mut done = Vec::new();
        for i in 0..n {
            let message = format!("message {i} {}", &starling_protocol::new_id()[..6]);
            let pending = format!("{}:{}", starling_protocol::new_id(), i);
            let mut id = None;
            let mut last = String::new();
            for _ in 0..100 {
                let r = http
                    .post(format!("{base}/api/v4/posts"))
                    .bearer_auth(&token)
                    .json(&json!({"channel_id": channel, "message": message, "pending_post_id": pending}))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().as_u16() == 201 => {
                        let body: Value = r.json().await.unwrap_or(Value::Null);
                        id = body["id"].as_str().map(str::to_owned);
                        break;
                    }
                    Ok(r) => last = format!("{}: {}", r.status(), r.text().await.unwrap_or_default()),
                    Err(e) => last = e.to_string(),
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            done.push((id.unwrap_or_else(|| panic!("post {i} never acknowledged: {last}")), message));
            tokio::time::sleep(every).await;
        }
        done
    })
}

/// Every acknowledged post reached every listener exactly once, every reconnect resumed, and the
/// channel holds each message once (a retried send is not doubled).
async fn nothing_lost(admin: &Client, channel: &str, posted: &[(String, String)], listeners: &[Arc<Mutex<Seen>>]) {
    let all = wait_until(Duration::from_secs(20), || async {
        listeners.iter().all(|l| {
            let s = l.lock().unwrap();
            posted.iter().all(|(id, _)| s.posts.contains_key(id))
        })
    })
    .await;
    if !all {
        let short = listeners.iter().filter(|l| posted.iter().any(|(id, _)| !l.lock().unwrap().posts.contains_key(id)));
        let (n, fresh) = short.fold((0, 0), |(n, f), l| (n + 1, f + l.lock().unwrap().fresh_hellos));
        panic!("{n} of {} listeners missed posts ({fresh} of them resumed with a new hello)", listeners.len());
    }
    for (i, l) in listeners.iter().enumerate() {
        let s = l.lock().unwrap();
        let missing: Vec<&String> = posted.iter().map(|(id, _)| id).filter(|id| !s.posts.contains_key(*id)).collect();
        assert!(all && missing.is_empty(), "listener {i} missed {} of {} posts ({s:?})", missing.len(), posted.len());
        assert!(s.posts.values().all(|n| *n == 1), "listener {i} got a post twice");
        assert_eq!((s.fresh_hellos, s.gaps), (0, 0), "listener {i} resumed every time: {s:?}");
    }
    let mut messages: Vec<String> = Vec::new();
    for page in 0.. {
        let list = admin.get(&format!("/channels/{channel}/posts?per_page=200&page={page}")).await.expect(200).body;
        let posts = list["posts"].as_object().cloned().unwrap_or_default();
        if posts.is_empty() || page > 20 {
            break;
        }
        messages.extend(posts.values().filter_map(|p| p["message"].as_str().map(str::to_owned)));
    }
    for (_, m) in posted {
        assert_eq!(messages.iter().filter(|x| *x == m).count(), 1, "{m} is in the channel once");
    }
}

#[actix_web::test]
async fn a_drained_node_moves_its_clients_to_the_others_and_leaves_losing_nothing() {
    // STARLING_DRAIN_CLIENTS=5000 measures benchmarks.md's target 12 (see benches/RESULTS.md).
    let listeners_n: usize = std::env::var("STARLING_DRAIN_CLIENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
    let listeners_n = listeners_n.min(6000); // bounded: each is a socket in this process
    let mut c = ClusterProcs::start(2, &[]).await;
    let nginx = Nginx::start(&[c.nodes[0].http_port, c.nodes[1].http_port]);
    let w = world(&c.nodes[0].url()).await;
    let stop = Arc::new(AtomicBool::new(false));
    // Every listener starts on node 1, the one to drain.
    let listeners: Vec<_> =
        (0..listeners_n).map(|_| listen(c.nodes[0].url(), nginx.url(), w.bob_token.clone(), stop.clone())).collect();
    let ws_on_1 = || async {
        let m = c.nodes[0].metrics().await;
        m.lines().any(|l| l == format!("mattermost_http_websockets_total {listeners_n}"))
    };
    assert!(wait_until(Duration::from_secs(10), ws_on_1).await, "the listeners are on node 1");
    let token = w.admin.token.clone().unwrap();
    let posting = poster(c.nodes[1].url(), token.clone(), w.channel.clone(), 120, Duration::from_millis(50));
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The operator drains node 1 with the admin CLI, logged in to that node.
    let creds = temp_dir("drain").join("admin.json");
    let tok = temp_dir("drain").join("token");
    std::fs::write(&tok, &token).unwrap();
    let tok_path = tok.display().to_string();
    admin(&creds, &["auth", "login", &c.nodes[0].url(), "--name", "n1", "--access-token-file", &tok_path]).await.ok();
    let r = admin(&creds, &["node", "drain"]).await.ok();
    assert!(r.out.contains("is draining"), "{}", r.out);
    // Its health check fails at once, so the load balancer sends it nothing new.
    let ping = Client::new(&c.nodes[0].url()).get("/system/ping").await;
    assert_eq!(ping.status.as_u16(), 503, "{}", ping.body);
    assert_eq!(ping.body["draining"], json!(true));

    let code = c.nodes[0].wait_exit(Duration::from_secs(30)).await;
    assert_eq!(code, Some(0), "node 1 exits cleanly:\n{}", c.nodes[0].log_tail());
    let posted = posting.await.expect("poster");
    nothing_lost(&w.admin.clone_to(&c.nodes[1].url()), &w.channel, &posted, &listeners).await;
    stop.store(true, Ordering::Relaxed);
    for l in &listeners {
        assert!(l.lock().unwrap().reconnects >= 1, "every listener moved");
    }
    let log = std::fs::read_to_string(c.nodes[0].dir.join("starling.log")).unwrap();
    let drained: Value = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["msg"] == "drained")
        .unwrap_or_else(|| panic!("no drained line:\n{log}"));
    assert_eq!(
        (drained["websockets"].as_u64(), drained["queues_left_behind"].as_u64()),
        (Some(listeners_n as u64), Some(0)),
        "{drained}"
    );
    println!("drain of {listeners_n} websockets took {} ms", drained["took_ms"]);
    // It left the cluster: node 2 no longer lists it.
    let on2 = w.admin.clone_to(&c.nodes[1].url());
    assert!(wait_until(Duration::from_secs(10), || async { status(&on2).await.len() == 1 }).await);
}

#[actix_web::test]
async fn a_three_node_cluster_behind_nginx_rolls_to_the_next_version_while_clients_post() {
    // The previous release: another minor version, speaking protocol 1 only.
    const OLD: [(&str, &str); 2] = [("STARLING_TEST_APP_VERSION", "0.0.0"), ("STARLING_TEST_PROTOCOL", "1-1")];
    let mut c = ClusterProcs::start(3, &OLD).await;
    let ports: Vec<u16> = c.nodes.iter().map(|n| n.http_port).collect();
    let nginx = Nginx::start(&ports);
    let w = world(&c.nodes[0].url()).await;
    let lb_admin = w.admin.clone_to(&nginx.url());
    let all_green = |c: &Client| {
        let c = c.clone();
        async move {
            let rows = status(&c).await;
            rows.len() == 3 && rows.iter().all(|r| r["status"] == "green")
        }
    };
    assert!(wait_until(Duration::from_secs(20), || all_green(&w.admin)).await, "{:?}", status(&w.admin).await);
    let rows = status(&w.admin).await;
    assert!(rows.iter().all(|r| r["version"] == "0.0.0"), "{rows:?}");

    let stop = Arc::new(AtomicBool::new(false));
    // One listener on each node; all come back through NGINX.
    let listeners: Vec<_> =
        c.nodes.iter().map(|n| listen(n.url(), nginx.url(), w.bob_token.clone(), stop.clone())).collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let token = w.admin.token.clone().unwrap();
    let posting = poster(nginx.url(), token, w.channel.clone(), 400, Duration::from_millis(50));

    for i in 0..3 {
        // As the runbook says: stop the node (it drains), upgrade it, start it again.
        let code = c.nodes[i].drain_and_wait(Duration::from_secs(30)).await;
        assert_eq!(code, Some(0), "node {} stops cleanly:\n{}", i + 1, c.nodes[i].log_tail());
        for (k, _) in OLD {
            c.nodes[i].set_env(k, None);
        }
        c.nodes[i].start();
        c.nodes[i].ready().await;
        let new = w.admin.clone_to(&c.nodes[i].url());
        // As the runbook says: before the next node, this one is linked to the others and NGINX
        // sends it requests again (it marked the node failed while it drained).
        let id = new.get("/system/ping").await.expect(200).body["node_id"].clone();
        let linked = wait_until(Duration::from_secs(20), || async {
            let rows = status(&new).await;
            rows.len() == 3 && rows.iter().all(|r| !r["reason"].as_str().unwrap_or_default().starts_with("down"))
        })
        .await;
        assert!(linked, "node {} links with the others: {:?}", i + 1, status(&new).await);
        let routed =
            wait_until(Duration::from_secs(20), || async { lb_admin.get("/system/ping").await.body["node_id"] == id })
                .await;
        assert!(routed, "NGINX sends requests to node {} again", i + 1);
        let version = env!("CARGO_PKG_VERSION");
        if i < 2 {
            // Mixed: the new node links with the old ones and shows the mismatch until the roll ends.
            let shown = wait_until(Duration::from_secs(20), || async {
                let rows = status(&new).await;
                rows.len() == 3
                    && rows[0]["version"] == json!(version)
                    && rows.iter().skip(1).filter(|r| r["version"] == "0.0.0").all(|r| {
                        r["status"] == "red" && r["reason"].as_str().is_some_and(|s| s.contains("version mismatch"))
                    })
                    && rows.iter().filter(|r| r["version"] == "0.0.0").count() == 2 - i
            })
            .await;
            assert!(shown, "after node {}: {:?}", i + 1, status(&new).await);
        }
    }
    let posted = posting.await.expect("poster");
    assert!(wait_until(Duration::from_secs(20), || all_green(&lb_admin)).await, "{:?}", status(&lb_admin).await);
    for n in &c.nodes {
        let rows = status(&w.admin.clone_to(&n.url())).await;
        assert!(
            rows.iter().all(|r| r["version"] == json!(env!("CARGO_PKG_VERSION")) && r["status"] == "green"),
            "{rows:?}"
        );
    }
    nothing_lost(&lb_admin, &w.channel, &posted, &listeners).await;
    // No client is stuck: each listener hears a post made now.
    let last = lb_admin.create_post(&w.channel, "after the roll").await["id"].as_str().unwrap().to_owned();
    let heard = wait_until(Duration::from_secs(10), || async {
        listeners.iter().all(|l| l.lock().unwrap().posts.contains_key(&last))
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    assert!(heard, "every listener hears a post made after the roll");
}
