//! Several node processes on one PostgreSQL acting as one cluster.

mod common;
use common::cluster::NodeProc;
use common::ws::{Got, Ws};
use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

struct Cluster {
    db: TestDb,
    files: std::path::PathBuf,
    nodes: Vec<NodeProc>,
    name: String,
}

async fn cluster(n: usize) -> Cluster {
    cluster_with(n, &[]).await
}

async fn cluster_with(n: usize, extra: &[(&str, &str)]) -> Cluster {
    let db = TestDb::new().await;
    let files = temp_dir("shared-files");
    let name = format!("c{}", &starling_protocol::new_id()[..8]);
    let nodes: Vec<NodeProc> =
        (0..n).map(|i| NodeProc::spawn(&db, &format!("n{}", i + 1), &name, &files, extra)).collect();
    for node in &nodes {
        node.ready().await;
    }
    Cluster { db, files, nodes, name }
}

fn client(node: &NodeProc) -> Client {
    Client::new(&node.url())
}

async fn status(admin: &Client) -> Vec<Value> {
    let r = admin.get("/cluster/status").await;
    r.body.as_array().cloned().unwrap_or_default()
}

/// Wait until `admin`'s node sees `expect` nodes, all green.
async fn all_green(admin: &Client, expect: usize) -> bool {
    wait_until(Duration::from_secs(20), || async {
        let s = status(admin).await;
        s.len() == expect && s.iter().all(|n| n["status"] == "green")
    })
    .await
}

fn post_of(event: &Value) -> Value {
    serde_json::from_str(event["data"]["post"].as_str().unwrap()).unwrap()
}

/// An admin on each node, a second user, a team and channel both are in.
struct World {
    admins: Vec<Client>,
    bob_on: Vec<Client>,
    bob_name: String,
    channel: String,
}

async fn world(c: &Cluster) -> World {
    let c1 = client(&c.nodes[0]);
    let (admin, _) = c1.new_user("admin").await;
    let (bob_id, bob_name) = c1.create_user("bob").await;
    let team = admin.create_team(true).await;
    admin.post(&format!("/teams/{team}/members"), json!({"team_id": team, "user_id": bob_id})).await.expect(201);
    let channel = admin.create_channel(&team, false).await;
    admin.post(&format!("/channels/{channel}/members"), json!({"user_id": bob_id})).await.expect(201);
    let token = admin.token.clone().unwrap();
    let admins = c.nodes.iter().map(|n| client(n).with_token(&token)).collect();
    let bob = c1.login(&bob_name).await;
    let bob_token = bob.token.clone().unwrap();
    let bob_on = c.nodes.iter().map(|n| client(n).with_token(&bob_token)).collect();
    World { admins, bob_on, bob_name, channel }
}

#[actix_web::test]
async fn three_nodes_act_as_one() {
    let c = cluster(3).await;
    let w = world(&c).await;
    for a in &w.admins {
        assert!(all_green(a, 3).await, "every node sees three green nodes: {:?}", status(a).await);
    }
    let rows = status(&w.admins[0]).await;
    let first = &rows[0];
    for k in [
        "id",
        "version",
        "schema_version",
        "config_hash",
        "ipaddress",
        "hostname",
        "status",
        "last_ping_at",
        "is_leader",
    ] {
        assert!(first.get(k).is_some(), "cluster status row has {k}: {first}");
    }
    let addrs: Vec<&str> = rows.iter().map(|r| r["ipaddress"].as_str().unwrap()).collect();
    for n in &c.nodes {
        assert!(addrs.contains(&n.gossip_addr().as_str()), "{addrs:?} lists {}", n.gossip_addr());
    }
    // Non-admins may not see the cluster.
    w.bob_on[0].get("/cluster/status").await.expect(403);

    // A post made on node 1 reaches a websocket on node 3.
    let mut ws = Ws::connect(&c.nodes[2].url(), w.bob_on[2].token.as_deref().unwrap()).await;
    assert_eq!(ws.event().await["event"], "hello");
    let post = w.admins[0].create_post(&w.channel, "across the cluster").await;
    let (ev, _) = ws.until_event("posted").await;
    assert_eq!(post_of(&ev)["id"], post["id"]);

    // Logout on node 2: nodes 1 and 3 (which had the session cached) refuse the token at once.
    let other = client(&c.nodes[0]).login(&w.bob_name).await;
    let token = other.token.clone().unwrap();
    for n in &c.nodes {
        client(n).with_token(&token).get("/users/me").await.expect(200);
    }
    client(&c.nodes[1]).with_token(&token).post("/users/logout", json!({})).await.expect(200);
    for n in [&c.nodes[0], &c.nodes[2]] {
        client(n).with_token(&token).get("/users/me").await.expect(401);
    }
    // The logged-out session's websocket on node 3 is closed too; bob's other session is fine.
    w.bob_on[0].get("/users/me").await.expect(200);

    // Each JSON log line names its node once (jq and log shippers refuse duplicate keys); a peer
    // a line is about is `peer_id`.
    let mut peer_lines = 0;
    for n in &c.nodes {
        let log = std::fs::read_to_string(n.dir.join("starling.log")).expect("the node's JSON log");
        for line in log.lines() {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            assert!(line.matches("\"node_id\":").count() <= 1, "node_id more than once: {line}");
            peer_lines += usize::from(v["peer_id"].is_string());
        }
    }
    assert!(peer_lines > 0, "the peer link lines carry peer_id");
}

#[actix_web::test]
async fn killed_node_is_marked_down_and_returns_green() {
    let mut c = cluster(3).await;
    let w = world(&c).await;
    assert!(all_green(&w.admins[0], 3).await);
    let victim = c.nodes[1].gossip_addr();
    c.nodes[1].kill9();
    let killed_at = Instant::now();
    for a in [&w.admins[0], &w.admins[2]] {
        let down = wait_until(Duration::from_secs(20), || async {
            status(a).await.iter().any(|n| n["ipaddress"] == victim.as_str() && n["status"] == "red")
        })
        .await;
        assert!(down, "survivor marks the killed node red: {:?}", status(a).await);
    }
    eprintln!("killed node reported down by both survivors after {:?}", killed_at.elapsed());
    // The survivors still work together.
    let mut ws = Ws::connect(&c.nodes[2].url(), w.bob_on[2].token.as_deref().unwrap()).await;
    assert_eq!(ws.event().await["event"], "hello");
    w.admins[0].create_post(&w.channel, "still here").await;
    let (ev, _) = ws.until_event("posted").await;
    assert_eq!(post_of(&ev)["message"], "still here");
    // Restarted on the same address, it turns green everywhere.
    c.nodes[1].start();
    c.nodes[1].ready().await;
    for a in &w.admins {
        assert!(all_green(a, 3).await, "green again: {:?}", status(a).await);
    }
    let m = c.nodes[0].metrics().await;
    assert!(m.contains("mattermost_cluster_cluster_health_score 0"), "{m}");
    assert!(m.contains("mattermost_cluster_event_type_totals{name=\"publish\"}"), "{m}");
    let downs: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("starling_cluster_peer_transitions_total{state=\"down\"} "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the peer transitions counter");
    assert!(downs >= 1, "the kill counted as a peer going down: {m}");
}

#[actix_web::test]
async fn resume_on_another_node_misses_nothing() {
    let c = cluster(2).await;
    let w = world(&c).await;
    assert!(all_green(&w.admins[0], 2).await);
    let token = w.bob_on[0].token.clone().unwrap();
    let mut ws = Ws::connect(&c.nodes[0].url(), &token).await;
    let hello = ws.event().await;
    let conn = hello["data"]["connection_id"].as_str().unwrap().to_owned();
    w.admins[0].create_post(&w.channel, "seen").await;
    let mut last;
    loop {
        let ev = ws.event().await;
        last = ev["seq"].as_i64().unwrap();
        if ev["event"] == "posted" {
            break;
        }
    }
    ws.close().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(w.admins[1].create_post(&w.channel, &format!("missed {i}")).await["id"].as_str().unwrap().to_owned());
    }
    // Give node 1 time to have delivered them into the old connection's queue.
    let mut ws = Ws::resume(&c.nodes[1].url(), &token, &conn, last + 1).await;
    let mut got = Vec::new();
    while got.len() < 5 {
        let ev = ws.event().await;
        assert_ne!(ev["event"], "hello", "resumed without a new hello: {ev}");
        assert_eq!(ev["seq"], json!(last + 1), "seq continues: {ev}");
        last += 1;
        if ev["event"] == "posted" {
            got.push(post_of(&ev)["id"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(got, ids, "every missed post, once, in order");
}

/// A client hopping between nodes (as behind NGINX) while posts keep arriving from both nodes:
/// every hop resumes without a new hello, and across all hops every post arrives exactly once.
#[actix_web::test]
async fn resume_hopping_between_nodes_under_constant_posting_misses_and_repeats_nothing() {
    const PER_POSTER: usize = 120;
    const HOPS: usize = 8;
    let c = cluster(2).await;
    let w = world(&c).await;
    assert!(all_green(&w.admins[0], 2).await);
    let token = w.bob_on[0].token.clone().unwrap();
    let mut ws = Ws::connect(&c.nodes[0].url(), &token).await;
    let hello = ws.event().await;
    let conn = hello["data"]["connection_id"].as_str().unwrap().to_owned();
    let mut last = hello["seq"].as_i64().unwrap();
    // One poster on each node, steadily (bounded).
    let posters: Vec<_> = (0..2)
        .map(|n| {
            let (admin, channel) = (w.admins[n].clone(), w.channel.clone());
            actix_web::rt::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..PER_POSTER {
                    ids.push(
                        admin.create_post(&channel, &format!("n{n} {i}")).await["id"].as_str().unwrap().to_owned(),
                    );
                    tokio::time::sleep(Duration::from_millis(3)).await;
                }
                ids
            })
        })
        .collect();
    let mut seen: Vec<String> = Vec::new();
    let take = |ev: &Value, last: &mut i64, seen: &mut Vec<String>| {
        assert_ne!(ev["event"], "hello", "a hop resumed without a new hello: {ev}");
        assert_eq!(ev["seq"], json!(*last + 1), "seq continues across hops: {ev}");
        *last += 1;
        if ev["event"] == "posted" {
            seen.push(post_of(ev)["id"].as_str().unwrap().to_owned());
        }
    };
    for hop in 0..HOPS {
        // Read a few posts here, then hop to the other node mid-stream.
        let target = seen.len() + 10;
        while seen.len() < target {
            let ev = ws.event().await;
            take(&ev, &mut last, &mut seen);
        }
        ws.close().await;
        ws = Ws::resume(&c.nodes[(hop + 1) % 2].url(), &token, &conn, last + 1).await;
    }
    let mut expected = Vec::new();
    for p in posters {
        expected.extend(p.await.expect("poster finished"));
    }
    while seen.len() < expected.len() {
        match ws.next(Duration::from_secs(10)).await {
            common::ws::Got::Json(ev) if ev.get("event").is_some() => take(&ev, &mut last, &mut seen),
            common::ws::Got::Json(_) => {}
            other => panic!("stream ended after {} of {} posts: {other:?}", seen.len(), expected.len()),
        }
    }
    let unique: std::collections::HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no post twice");
    let missing: Vec<&String> = expected.iter().filter(|id| !unique.contains(id)).collect();
    assert!(missing.is_empty(), "missed {} posts: {missing:?}", missing.len());
}

/// A partition between two live nodes (the link goes silent, nobody is killed): each marks the
/// other down; a post made during it reaches the other node's clients once the link is back,
/// exactly once.
#[actix_web::test]
async fn a_post_made_during_a_partition_arrives_after_it_heals() {
    use common::proxy::Proxy;
    let db = TestDb::new().await;
    let files = temp_dir("shared-files");
    let name = format!("c{}", &starling_protocol::new_id()[..8]);
    // Each node advertises 127.0.0.N:G and listens on 127.0.0.1:G; a proxy joins the two.
    let mut nodes = Vec::new();
    let mut proxies = Vec::new();
    for i in 0..2 {
        let g = common::cluster::free_port();
        let host = format!("127.0.0.{}", i + 2);
        proxies.push(Proxy::start(&format!("{host}:{g}"), &format!("127.0.0.1:{g}")).await);
        let extra =
            [("MM_CLUSTERSETTINGS_GOSSIPPORT", g.to_string()), ("MM_CLUSTERSETTINGS_OVERRIDEHOSTNAME", host.clone())];
        let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut n = NodeProc::spawn(&db, &format!("p{i}"), &name, &files, &extra);
        n.gossip_port = g;
        nodes.push(n);
    }
    for n in &nodes {
        n.ready().await;
    }
    let c = Cluster { db, files, nodes, name };
    let w = world(&c).await;
    assert!(all_green(&w.admins[0], 2).await, "{:?}", status(&w.admins[0]).await);
    assert!(all_green(&w.admins[1], 2).await);
    let mut ws = Ws::connect(&c.nodes[1].url(), w.bob_on[1].token.as_deref().unwrap()).await;
    assert_eq!(ws.event().await["event"], "hello");

    for p in &proxies {
        p.freeze(true);
    }
    let id = w.admins[0].create_post(&w.channel, "during the partition").await["id"].as_str().unwrap().to_owned();
    for a in &w.admins {
        let red = wait_until(Duration::from_secs(20), || async {
            status(a).await.iter().skip(1).any(|n| n["status"] == "red")
        })
        .await;
        assert!(red, "each side marks the other down: {:?}", status(a).await);
    }
    // Bob's own status events are local; no post crosses.
    loop {
        match ws.next(Duration::from_millis(500)).await {
            common::ws::Got::Timeout => break,
            common::ws::Got::Json(ev) => assert_ne!(ev["event"], "posted", "nothing crosses the partition: {ev}"),
            other => panic!("the socket stays open: {other:?}"),
        }
    }

    for p in &proxies {
        p.freeze(false);
    }
    let (ev, _) = ws.until_event("posted").await; // bounded: 10 s per frame
    assert_eq!(post_of(&ev)["id"], json!(id), "the post made during the partition arrives");
    assert!(all_green(&w.admins[0], 2).await && all_green(&w.admins[1], 2).await, "green again");
    w.admins[0].create_post(&w.channel, "after").await;
    let (ev, _) = ws.until_event("posted").await;
    assert_eq!(post_of(&ev)["message"], "after", "and only once: the next post comes next");
}

#[actix_web::test]
async fn other_cluster_names_stay_apart_and_config_drift_is_flagged() {
    let c = cluster(2).await;
    let w = world(&c).await;
    assert!(all_green(&w.admins[0], 2).await);
    let stranger = NodeProc::spawn(&c.db, "stranger", "another-cluster", &c.files, &[]);
    let drifted = NodeProc::spawn(&c.db, "drifted", &c.name, &c.files, &[("MM_TEAMSETTINGS_MAXUSERSPERTEAM", "77")]);
    stranger.ready().await;
    drifted.ready().await;
    let flagged = wait_until(Duration::from_secs(20), || async {
        let s = status(&w.admins[0]).await;
        s.len() == 3
            && s.iter().any(|n| {
                n["ipaddress"] == drifted.gossip_addr().as_str()
                    && n["status"] == "red"
                    && n["reason"] == "config mismatch"
            })
    })
    .await;
    assert!(flagged, "{:?}", status(&w.admins[0]).await);
    let s = status(&w.admins[0]).await;
    assert!(
        s.iter().all(|n| n["ipaddress"] != stranger.gossip_addr().as_str()),
        "the other cluster is not listed: {s:?}"
    );
    let theirs = status(&client(&stranger).with_token(w.admins[0].token.as_deref().unwrap())).await;
    assert_eq!(theirs.len(), 1, "the stranger sees only itself: {theirs:?}");
}

#[actix_web::test]
async fn gossip_port_rejects_garbage_and_wrong_keys() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let c = cluster(1).await;
    let node = &c.nodes[0];
    // Garbage.
    let mut s = tokio::net::TcpStream::connect(node.gossip_addr()).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await.expect("closed promptly").unwrap_or(0);
    assert_eq!(n, 0, "garbage gets no answer, the link is closed");
    // A well-formed hello sealed with the wrong key.
    let hello = starling_protocol::handshake::Hello {
        node_id: starling_protocol::NodeId::new(),
        cluster_name: c.name.clone(),
        min_version: 1,
        max_version: 1,
        app_version: starling::VERSION.into(),
        schema_version: 1,
        config_hash: String::new(),
        gossip_addr: "127.0.0.1:1".into(),
        hostname: "intruder".into(),
        random: [7; 32],
    };
    let frame = starling_protocol::handshake::seal_hello(&[9u8; 32], &c.name, &hello);
    let mut s = tokio::net::TcpStream::connect(node.gossip_addr()).await.unwrap();
    s.write_all(&frame).await.unwrap();
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await.expect("closed promptly").unwrap_or(0);
    assert_eq!(n, 0, "no welcome for the wrong key");
    // A huge declared length is refused from the header alone.
    let mut s = tokio::net::TcpStream::connect(node.gossip_addr()).await.unwrap();
    let mut head = b"STRL".to_vec();
    head.extend_from_slice(&[1, 1, 0, 0, 0xff, 0xff, 0xff, 0xff]);
    s.write_all(&head).await.unwrap();
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await.expect("closed promptly").unwrap_or(0);
    assert_eq!(n, 0);
    let m = node.metrics().await;
    assert!(m.contains("starling_cluster_frames_rejected_total{reason=\"auth\"} 1"), "{m}");
    assert!(m.contains("starling_cluster_frames_rejected_total{reason=\"bad_magic\"} 1"), "{m}");
    assert!(m.contains("starling_cluster_frames_rejected_total{reason=\"too_long\"} 1"), "{m}");
    client(node).get("/system/ping").await.expect(200);
}

/// Capture the gossip traffic between two nodes with tcpdump while a post crosses.
async fn capture_post(extra: &[(&str, &str)], secret: &str) -> Vec<u8> {
    let c = cluster_with(2, extra).await;
    let w = world(&c).await;
    assert!(all_green(&w.admins[0], 2).await);
    let file = c.nodes[0].dir.join("gossip.pcap");
    let filter = format!("tcp port {} or tcp port {}", c.nodes[0].gossip_port, c.nodes[1].gossip_port);
    let errfile = c.nodes[0].dir.join("tcpdump.err");
    let mut dump = std::process::Command::new("tcpdump")
        .args(["-i", "lo", "-U", "--immediate-mode", "-s", "0", "-w"])
        .arg(&file)
        .arg(&filter)
        .stderr(std::fs::File::create(&errfile).unwrap())
        .spawn()
        .expect("tcpdump is installed (scripts/test installs it)");
    // tcpdump says when it is listening; only then does traffic count.
    let listening = wait_until(Duration::from_secs(10), || async {
        std::fs::read_to_string(&errfile).map(|s| s.contains("listening on")).unwrap_or(false)
    })
    .await;
    assert!(listening, "tcpdump started");
    let mut ws = Ws::connect(&c.nodes[1].url(), w.bob_on[1].token.as_deref().unwrap()).await;
    assert_eq!(ws.event().await["event"], "hello");
    w.admins[0].create_post(&w.channel, secret).await;
    let (ev, _) = ws.until_event("posted").await;
    assert_eq!(post_of(&ev)["message"], secret);
    // Let tcpdump write what it received (bounded), then stop it.
    wait_until(Duration::from_secs(5), || async { std::fs::metadata(&file).map(|m| m.len() > 2000).unwrap_or(false) })
        .await;
    let _ = std::process::Command::new("kill").arg("-INT").arg(dump.id().to_string()).status();
    let _ = dump.wait();
    std::fs::read(&file).unwrap()
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[actix_web::test]
async fn encrypted_gossip_shows_no_message_text() {
    let secret = format!("attack at dawn {}", starling_protocol::new_id());
    let clear = capture_post(
        &[
            ("MM_CLUSTERSETTINGS_ENABLEEXPERIMENTALGOSSIPENCRYPTION", "false"),
            ("MM_CLUSTERSETTINGS_ENABLEGOSSIPCOMPRESSION", "false"),
        ],
        &secret,
    )
    .await;
    assert!(
        contains(&clear, &secret),
        "control: without encryption the capture shows the text ({} bytes, has 'posted': {})",
        clear.len(),
        contains(&clear, "posted")
    );
    let sealed = capture_post(&[("MM_CLUSTERSETTINGS_ENABLEEXPERIMENTALGOSSIPENCRYPTION", "true")], &secret).await;
    assert!(sealed.len() > 500, "the capture saw traffic");
    assert!(!contains(&sealed, &secret), "with encryption the text never crosses in the clear");
    assert!(!contains(&sealed, "attack at dawn"));
}

#[actix_web::test]
async fn sigterm_leaves_the_cluster() {
    let mut c = cluster(2).await;
    let w = world(&c).await;
    assert!(all_green(&w.admins[0], 2).await);
    c.nodes[1].terminate();
    let gone = wait_until(Duration::from_secs(10), || async { status(&w.admins[0]).await.len() == 1 }).await;
    assert!(gone, "a node that stopped cleanly is no longer listed: {:?}", status(&w.admins[0]).await);
    let rows = c.db.client().await.query("SELECT id FROM clusterdiscovery", &[]).await.unwrap();
    assert_eq!(rows.len(), 1);
    let _ = Got::Timeout;
}

/// The HA page rendered by headless Chromium (Debian's `chromium`), as its DOM after the scripts ran.
fn render_ha_page(url: &str, profile: &std::path::Path) -> String {
    let out = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=4000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(url)
        .output()
        .expect("chromium is installed (scripts/test installs it)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[actix_web::test]
async fn ha_page_shows_green_nodes_then_the_killed_one_red() {
    let mut c = cluster(3).await;
    let w = world(&c).await;
    assert!(all_green(&w.admins[0], 3).await);
    let token = w.admins[0].token.clone().unwrap();
    let url = format!("{}/admin_console/environment/high_availability#token={token}", c.nodes[0].url());
    let profile = temp_dir("chromium");
    let dom = render_ha_page(&url, &profile);
    assert_eq!(dom.matches("data-status=\"green\"").count(), 3, "three green rows:\n{dom}");
    assert!(dom.contains(&c.nodes[2].gossip_addr()));
    // Without a token the page asks for a login instead of showing anything.
    let anon = render_ha_page(
        &format!("{}/admin_console/environment/high_availability", c.nodes[0].url()),
        &temp_dir("chromium"),
    );
    assert!(!anon.contains("data-status"), "{anon}");
    assert!(anon.contains("Log in as a system admin"), "{anon}");
    c.nodes[1].kill9();
    let victim = c.nodes[1].gossip_addr();
    let red = wait_until(Duration::from_secs(20), || async {
        let dom = render_ha_page(&url, &profile);
        dom.matches("data-status=\"red\"").count() == 1
            && dom.matches("data-status=\"green\"").count() == 2
            && dom.contains(&victim)
    })
    .await;
    assert!(red, "the killed node shows red: {}", render_ha_page(&url, &profile));
}

#[actix_web::test]
async fn a_config_saved_on_one_node_reaches_clients_on_another_as_config_changed() {
    let c = cluster_with(2, &[("MM_CLUSTERSETTINGS_READONLYCONFIG", "false")]).await;
    let w = world(&c).await;
    assert!(all_green(&w.admins[0], 2).await);
    let mut ws = Ws::connect(&c.nodes[1].url(), w.bob_on[1].token.as_deref().unwrap()).await;
    assert_eq!(ws.event().await["event"], "hello");
    w.admins[0].put("/config/patch", json!({"TeamSettings": {"SiteName": "Renamed"}})).await.expect(200);
    let (ev, _) = ws.until_event("config_changed").await;
    assert_eq!(ev["data"]["config"]["SiteName"], "Renamed", "{ev}");
    assert!(ev["data"]["config"].get("SqlSettings").is_none(), "the client config only: {ev}");
}
