//! Through NGINX: a killed node's websocket clients reconnect to the survivors and, by resume or
//! REST catch-up, miss no post and see none twice.

mod common;
use common::cluster::NodeProc;
use common::nginx::Nginx;
use common::ws::{Got, Ws};
use common::*;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// A client that behaves like Mattermost's: on a drop it reconnects with its connection id and
/// next sequence number; given a fresh `hello` instead, it catches up over REST with `since`.
struct Resilient {
    base: String,
    token: String,
    channel: String,
    conn_id: String,
    next_seq: i64,
    live: Vec<String>,
    caught_up: HashSet<String>,
    last_update_at: i64,
    reconnects: usize,
    fresh: usize,
    nodes_seen: HashSet<String>,
}

impl Resilient {
    fn all(&self) -> HashSet<String> {
        self.live.iter().cloned().chain(self.caught_up.iter().cloned()).collect()
    }

    async fn catch_up(&mut self) {
        let c = Client::new(&self.base).with_token(&self.token);
        let r = c.get(&format!("/channels/{}/posts?since={}", self.channel, self.last_update_at)).await;
        if r.status == 200 {
            for (id, p) in r.body["posts"].as_object().into_iter().flatten() {
                self.caught_up.insert(id.clone());
                self.last_update_at = self.last_update_at.max(p["update_at"].as_i64().unwrap_or(0));
            }
        }
    }

    async fn run(&mut self, expected: Rc<RefCell<Option<HashSet<String>>>>, deadline: Instant) {
        let mut ws: Option<Ws> = None;
        while Instant::now() < deadline {
            if let Some(exp) = expected.borrow().as_ref() {
                if exp.is_subset(&self.all()) {
                    return;
                }
            }
            let Some(sock) = ws.as_mut() else {
                let attempt = if self.conn_id.is_empty() {
                    Ws::connect_with(&self.base, "", &[("Authorization", format!("Bearer {}", self.token))]).await
                } else {
                    let q = format!("?connection_id={}&sequence_number={}", self.conn_id, self.next_seq);
                    Ws::connect_with(&self.base, &q, &[("Authorization", format!("Bearer {}", self.token))]).await
                };
                match attempt {
                    Ok(s) => ws = Some(s),
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
                continue;
            };
            match sock.next(Duration::from_millis(200)).await {
                Got::Json(ev) => {
                    if let Some(seq) = ev["seq"].as_i64() {
                        self.next_seq = seq + 1;
                    }
                    match ev["event"].as_str() {
                        Some("hello") => {
                            let id = ev["data"]["connection_id"].as_str().unwrap_or("").to_owned();
                            self.nodes_seen.insert(ev["data"]["node_id"].as_str().unwrap_or("").to_owned());
                            if !self.conn_id.is_empty() {
                                // Could not resume: start over and fetch what was missed.
                                self.fresh += 1;
                                self.conn_id = id;
                                self.catch_up().await;
                            } else {
                                self.conn_id = id;
                            }
                        }
                        Some("posted") => {
                            let p: Value = serde_json::from_str(ev["data"]["post"].as_str().unwrap_or("{}")).unwrap();
                            self.live.push(p["id"].as_str().unwrap_or("").to_owned());
                            self.last_update_at = self.last_update_at.max(p["update_at"].as_i64().unwrap_or(0));
                        }
                        _ => {}
                    }
                }
                Got::Closed(_) => {
                    ws = None;
                    self.reconnects += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Got::Timeout => {}
            }
        }
    }
}

#[actix_web::test]
async fn clients_of_a_killed_node_reconnect_through_nginx_and_miss_nothing() {
    let db = TestDb::new().await;
    let files = temp_dir("shared-files");
    let name = format!("c{}", &starling_protocol::new_id()[..8]);
    let mut nodes: Vec<NodeProc> =
        (0..3).map(|i| NodeProc::spawn(&db, &format!("n{}", i + 1), &name, &files, &[])).collect();
    for n in &nodes {
        n.ready().await;
    }
    let nginx = Nginx::start(&nodes.iter().map(|n| n.http_port).collect::<Vec<_>>());
    let ping = format!("{}/api/v4/system/ping", nginx.url());
    let up = wait_until(Duration::from_secs(10), || async {
        reqwest::get(&ping).await.map(|r| r.status().is_success()).unwrap_or(false)
    })
    .await;
    assert!(up, "nginx answers: {}", std::fs::read_to_string(nginx.dir.join("error.log")).unwrap_or_default());
    let direct = Client::new(&nodes[0].url());
    let (admin, _) = direct.new_user("admin").await;
    let team = admin.create_team(true).await;
    let channel = admin.create_channel(&team, false).await;
    // Six users, each with a websocket through NGINX (spread over the three nodes).
    let mut clients = Vec::new();
    for i in 0..6 {
        let (id, uname) = direct.create_user(&format!("u{i}")).await;
        admin.post(&format!("/teams/{team}/members"), json!({"team_id": team, "user_id": id})).await.expect(201);
        admin.post(&format!("/channels/{channel}/members"), json!({"user_id": id})).await.expect(201);
        let token = direct.login(&uname).await.token.unwrap();
        clients.push(Resilient {
            base: nginx.url(),
            token,
            channel: channel.clone(),
            conn_id: String::new(),
            next_seq: 0,
            live: vec![],
            caught_up: HashSet::new(),
            last_update_at: 0,
            reconnects: 0,
            fresh: 0,
            nodes_seen: HashSet::new(),
        });
    }
    let expected: Rc<RefCell<Option<HashSet<String>>>> = Rc::new(RefCell::new(None));
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut tasks = Vec::new();
    for mut c in clients {
        let exp = expected.clone();
        tasks.push(actix_web::rt::spawn(async move {
            c.run(exp, deadline).await;
            c
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await; // every client has its hello
    let mut posted = HashSet::new();
    for i in 0..30 {
        if i == 10 {
            nodes[1].kill9();
        }
        let p = admin.create_post(&channel, &format!("post {i}")).await;
        posted.insert(p["id"].as_str().unwrap().to_owned());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    *expected.borrow_mut() = Some(posted.clone());
    let mut on_killed = 0;
    for t in tasks {
        let c = t.await.unwrap();
        let all = c.all();
        let missing: Vec<_> = posted.difference(&all).collect();
        assert!(
            missing.is_empty(),
            "client lost {} posts (reconnects {}, fresh {})",
            missing.len(),
            c.reconnects,
            c.fresh
        );
        let mut counts: HashMap<&String, usize> = HashMap::new();
        for id in &c.live {
            *counts.entry(id).or_default() += 1;
        }
        let dupes = counts.values().filter(|n| **n > 1).count();
        assert_eq!(dupes, 0, "no post delivered twice over the websocket");
        if c.reconnects > 0 {
            on_killed += 1;
        }
    }
    assert!(on_killed > 0, "some clients were on the killed node and reconnected");
}
