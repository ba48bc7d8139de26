//! Outgoing webhooks on one node: managing them (who may, what is refused, 501 when off), and
//! posts that call them through a callback server on loopback (Mattermost's fields as a form and
//! as JSON, answers posted in the channel or the thread, nothing for an empty answer, and no
//! second call for the hook's own reply).

mod common;
use common::callback::{Answer, Callback, Received};
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

struct Setup {
    server: TestServer,
    /// System admin.
    alice: Client,
    alice_id: String,
    /// A plain team member.
    bob: Client,
    bob_id: String,
    bob_name: String,
    team: String,
    team_name: String,
    /// An open channel both are in.
    channel: String,
}

async fn setup() -> Setup {
    let server = TestServer::start_with(|c| {
        c.service_settings.allowed_untrusted_internal_connections = "127.0.0.1".into();
        c.service_settings.outgoing_integration_requests_timeout = 2;
        c.service_settings.enable_post_username_override = true;
    })
    .await;
    let anon = server.client();
    let (alice, alice_id) = anon.new_user("alice").await;
    let (bob_id, bob_name) = anon.create_user("bob").await;
    let bob = anon.login(&bob_name).await;
    let team = alice.create_team(true).await;
    let team_name = alice.get(&format!("/teams/{team}")).await.expect(200).body["name"].as_str().unwrap().to_owned();
    alice.post(&format!("/teams/{team}/members"), json!({"team_id": team, "user_id": bob_id})).await.expect(201);
    let channel = alice.create_channel(&team, false).await;
    alice.post(&format!("/channels/{channel}/members"), json!({"user_id": bob_id})).await.expect(201);
    Setup { server, alice, alice_id, bob, bob_id, bob_name, team, team_name, channel }
}

fn hook(team: &str, channel: &str, words: &[&str], urls: &[&str]) -> Value {
    json!({"team_id": team, "channel_id": channel, "trigger_words": words, "callback_urls": urls,
        "display_name": "Hook", "description": "a test hook"})
}

/// The channel's posts, newest first.
async fn posts(c: &Client, channel: &str) -> Vec<Value> {
    let list = c.get(&format!("/channels/{channel}/posts")).await.expect(200).body;
    list["order"].as_array().unwrap().iter().map(|id| list["posts"][id.as_str().unwrap()].clone()).collect()
}

/// Wait for a post with this message in the channel.
async fn wait_for_post(c: &Client, channel: &str, message: &str) -> Value {
    let found = || async { posts(c, channel).await.into_iter().find(|p| p["message"] == message) };
    assert!(wait_until(Duration::from_secs(10), || async { found().await.is_some() }).await, "no post {message:?}");
    found().await.unwrap()
}

async fn wait_for_calls(server: &Callback, n: usize) {
    assert!(wait_until(Duration::from_secs(10), || async { server.count() >= n }).await, "expected {n} calls");
}

fn calls(s: &Setup, result: &str) -> u64 {
    s.server.node.state.metrics.outgoing_webhook_calls.with_label_values(&[result]).get()
}

#[actix_web::test]
async fn hooks_are_managed_by_those_allowed() {
    let s = setup().await;
    let url = "http://127.0.0.1:9/hook";
    let anon = s.server.client();
    let cfg = anon.get("/config/client?format=old").await.expect(200).body;
    assert_eq!(cfg["EnableOutgoingWebhooks"], "true");

    let h = s.alice.post("/hooks/outgoing", hook(&s.team, &s.channel, &[], &[url])).await.expect(201).body;
    assert_eq!(h["creator_id"], s.alice_id.as_str());
    assert_eq!((h["team_id"].as_str(), h["channel_id"].as_str()), (Some(s.team.as_str()), Some(s.channel.as_str())));
    assert_eq!(h["token"].as_str().unwrap().len(), 26);
    assert_eq!(h["content_type"], "application/x-www-form-urlencoded");
    assert_eq!((h["trigger_when"].as_i64(), h["delete_at"].as_i64()), (Some(0), Some(0)));
    assert_eq!(h["trigger_words"], json!([]));
    let id = h["id"].as_str().unwrap().to_owned();

    let private = s.alice.create_channel(&s.team, true).await;
    let other_team = s.alice.create_team(true).await;
    let elsewhere = s.alice.create_channel(&other_team, false).await;
    let mut bad_when = hook(&s.team, "", &["go"], &[url]);
    bad_when["trigger_when"] = json!(2);
    let mut long_name = hook(&s.team, "", &["go"], &[url]);
    long_name["display_name"] = json!("n".repeat(65));
    for (body, status, what) in [
        (hook(&s.team, &private, &[], &[url]), 403, "a private channel"),
        (hook(&s.team, &elsewhere, &[], &[url]), 403, "another team's channel"),
        (hook(&s.team, "", &[], &[url]), 400, "neither channel nor words"),
        (hook(&s.team, "", &["go"], &[]), 400, "no callback"),
        (hook(&s.team, "", &["go"], &["ftp://example.com"]), 400, "not http"),
        (hook(&s.team, "", &[""], &[url]), 400, "an empty word"),
        (hook(&s.team, &s.channel, &[], &[url]), 201, "the same channel and URL without words (Mattermost allows it)"),
        (hook("", "", &["go"], &[url]), 400, "no team"),
        (bad_when, 400, "trigger_when"),
        (long_name, 400, "display_name"),
    ] {
        check(s.alice.post("/hooks/outgoing", body).await, status, what);
    }
    let words = s.alice.post("/hooks/outgoing", hook(&s.team, &s.channel, &["go"], &[url])).await.expect(201);
    let same = check(s.alice.post("/hooks/outgoing", hook(&s.team, &s.channel, &["go", "x"], &[url])).await, 400, "");
    assert_eq!(same.id(), "api.webhook.create_outgoing.intersect.app_error");
    check(s.bob.post("/hooks/outgoing", hook(&s.team, "", &["mine"], &[url])).await, 403, "plain member");
    check(s.bob.get(&format!("/hooks/outgoing?team_id={}", s.team)).await, 403, "plain member lists");
    check(s.bob.get(&format!("/hooks/outgoing/{id}")).await, 403, "plain member reads");

    let listed = s.alice.get(&format!("/hooks/outgoing?team_id={}", s.team)).await.expect(200).body;
    assert_eq!(listed.as_array().unwrap().len(), 3);
    let by_channel = s.alice.get(&format!("/hooks/outgoing?channel_id={}&per_page=2", s.channel)).await.expect(200);
    assert_eq!(by_channel.body.as_array().unwrap().len(), 2, "paged");
    assert_eq!(s.alice.get(&format!("/hooks/outgoing/{id}")).await.expect(200).body, h);

    // For someone else (manage_others_outgoing_webhooks).
    let mut for_bob = hook(&s.team, "", &["bobs"], &[url]);
    for_bob["creator_id"] = json!(s.bob_id);
    let theirs = s.alice.post("/hooks/outgoing", for_bob).await.expect(201).body;
    assert_eq!(theirs["creator_id"], s.bob_id.as_str());

    // The whole hook is sent back; its id must match and its team stays.
    let mut changed = h.clone();
    changed["trigger_words"] = json!(["ship"]);
    changed["trigger_when"] = json!(1);
    changed["content_type"] = json!("application/json");
    changed["callback_urls"] = json!(["http://127.0.0.1:9/other"]);
    let u = s.alice.put(&format!("/hooks/outgoing/{id}"), changed.clone()).await.expect(200).body;
    assert_eq!((u["trigger_words"].clone(), u["trigger_when"].as_i64()), (json!(["ship"]), Some(1)));
    assert_eq!((u["token"].clone(), u["content_type"].as_str()), (h["token"].clone(), Some("application/json")));
    let mut wrong_id = changed.clone();
    wrong_id["id"] = json!(theirs["id"]);
    check(s.alice.put(&format!("/hooks/outgoing/{id}"), wrong_id).await, 400, "id mismatch");
    let mut wrong_team = changed.clone();
    wrong_team["team_id"] = json!(other_team);
    check(s.alice.put(&format!("/hooks/outgoing/{id}"), wrong_team).await, 400, "team mismatch");
    check(s.bob.put(&format!("/hooks/outgoing/{id}"), changed).await, 403, "plain member updates");

    let r = s.alice.post(&format!("/hooks/outgoing/{id}/regen_token"), json!({})).await.expect(200).body;
    assert_ne!(r["token"], h["token"]);
    assert_eq!(r["id"], id.as_str());
    assert_eq!(s.alice.get(&format!("/hooks/outgoing/{id}")).await.expect(200).body["token"], r["token"]);

    assert_eq!(s.alice.delete(&format!("/hooks/outgoing/{id}")).await.expect(200).body, json!({"status": "OK"}));
    check(s.alice.get(&format!("/hooks/outgoing/{id}")).await, 404, "deleted");
    check(s.alice.delete(&format!("/hooks/outgoing/{id}")).await, 404, "deleted twice");
    check(s.alice.get("/hooks/outgoing/not-an-id").await, 400, "malformed id");
    let words_id = words.id();
    let sql = format!("SELECT count(*) FROM outgoing_webhooks WHERE id = '{id}' AND delete_at > 0");
    assert_eq!(count(&s.server, &sql).await, 1, "kept, marked deleted");

    // Off: every route answers 501, and the client config says so.
    let mut cfg = s.alice.get("/config").await.expect(200).body;
    cfg["ServiceSettings"]["EnableOutgoingWebhooks"] = json!(false);
    s.alice.put("/config", cfg).await.expect(200);
    let off = check(s.alice.post("/hooks/outgoing", hook(&s.team, "", &["z"], &[url])).await, 501, "disabled");
    assert_eq!(off.id(), "api.outgoing_webhook.disabled.app_error");
    check(s.alice.get(&format!("/hooks/outgoing?team_id={}", s.team)).await, 501, "disabled list");
    check(s.alice.get(&format!("/hooks/outgoing/{words_id}")).await, 501, "disabled get");
    assert_eq!(anon.get("/config/client?format=old").await.expect(200).body["EnableOutgoingWebhooks"], "false");
}

#[actix_web::test]
async fn matching_posts_call_the_hooks_and_their_answers_are_posted() {
    let s = setup().await;
    let server = Callback::start(|r: &Received| match r.target.as_str() {
        // An answer that would trigger the hook again if a webhook's post could.
        "/form" => Answer::json(json!({"text": "deploy done", "username": "deploybot", "props": {"build": 7}})),
        "/json" => Answer::json(json!({"text": "shipped", "response_type": "comment"})),
        "/quiet" => Answer::json(json!({"text": ""})),
        _ => Answer::Reply(404, "text/plain", b"no".to_vec()),
    })
    .await;
    let form = s.alice.post("/hooks/outgoing", hook(&s.team, "", &["deploy"], &[&server.url("/form")])).await;
    let form = form.expect(201).body;
    let mut json_hook = hook(&s.team, &s.channel, &["ship"], &[&server.url("/json")]);
    json_hook["trigger_when"] = json!(1);
    json_hook["content_type"] = json!("application/json");
    let json_hook = s.alice.post("/hooks/outgoing", json_hook).await.expect(201).body;

    // Not the first word, and a private channel: no call (the later call shows they were seen).
    let private = s.alice.create_channel(&s.team, true).await;
    s.alice.create_post(&private, "deploy secretly").await;
    s.bob.create_post(&s.channel, "please deploy").await;
    let p = s.bob.create_post(&s.channel, "deploy  prod now").await;
    wait_for_calls(&server, 1).await;
    let got = &server.received()[0];
    assert_eq!((got.method.as_str(), got.target.as_str()), ("POST", "/form"));
    assert_eq!(got.headers["content-type"], "application/x-www-form-urlencoded");
    let f = got.form();
    assert_eq!(f["token"], form["token"].as_str().unwrap());
    assert_eq!((f["team_id"].as_str(), f["team_domain"].as_str()), (s.team.as_str(), s.team_name.as_str()));
    assert_eq!(f["channel_id"], s.channel);
    let channel_name = s.alice.get(&format!("/channels/{}", s.channel)).await.expect(200).body["name"].clone();
    assert_eq!(f["channel_name"], channel_name.as_str().unwrap());
    assert_eq!(f["timestamp"], (p["create_at"].as_i64().unwrap() / 1000).to_string(), "seconds in a form");
    assert_eq!((f["user_id"].as_str(), f["user_name"].as_str()), (s.bob_id.as_str(), s.bob_name.as_str()));
    assert_eq!(f["post_id"], p["id"].as_str().unwrap());
    assert_eq!((f["text"].as_str(), f["trigger_word"].as_str()), ("deploy  prod now", "deploy"));
    assert_eq!(f["file_ids"], "");

    // The answer, as the hook's creator, from a webhook, with the name it asked for.
    let answer = wait_for_post(&s.bob, &s.channel, "deploy done").await;
    assert_eq!(answer["user_id"], s.alice_id.as_str());
    assert_eq!(answer["root_id"], "");
    assert_eq!(answer["props"]["from_webhook"], "true");
    assert_eq!(answer["props"]["override_username"], "deploybot");
    assert_eq!(answer["props"]["webhook_display_name"], "Hook");
    assert_eq!(answer["props"]["build"], 7);

    // JSON, trigger word as a prefix, answered in the thread; a reply's answer joins its thread.
    let q = s.bob.create_post(&s.channel, "shipit today").await;
    let q_id = q["id"].as_str().unwrap();
    let comment = wait_for_post(&s.bob, &s.channel, "shipped").await;
    assert_eq!(comment["root_id"], q_id, "response_type comment replies to the post");
    let got = server.received().into_iter().find(|r| r.target == "/json").unwrap();
    assert_eq!(got.headers["content-type"], "application/json");
    let j = got.json();
    assert_eq!(j["token"], json_hook["token"]);
    assert_eq!(j["timestamp"], q["create_at"], "milliseconds in JSON");
    assert_eq!((j["trigger_word"].as_str(), j["text"].as_str()), (Some("ship"), Some("shipit today")));
    assert_eq!((j["user_name"].as_str(), j["post_id"].as_str()), (Some(s.bob_name.as_str()), Some(q_id)));
    s.bob.post("/posts", json!({"channel_id": s.channel, "message": "ship more", "root_id": q_id})).await.expect(201);
    assert!(
        wait_until(Duration::from_secs(10), || async {
            let thread = s.bob.get(&format!("/posts/{q_id}/thread")).await.expect(200).body;
            thread["order"].as_array().unwrap().len() == 4
        })
        .await,
        "the second answer is in the same thread"
    );

    // A channel hook without words calls for every post there; an empty answer posts nothing.
    let quiet_channel = s.alice.create_channel(&s.team, false).await;
    s.alice.post("/hooks/outgoing", hook(&s.team, &quiet_channel, &[], &[&server.url("/quiet")])).await.expect(201);
    s.alice.create_post(&quiet_channel, "anything at all").await;
    assert!(wait_until(Duration::from_secs(10), || async { calls(&s, "answered") == 1 }).await);
    let quiet_call = server.received().into_iter().find(|r| r.target == "/quiet").unwrap();
    assert_eq!(quiet_call.form()["trigger_word"], "");
    assert_eq!(posts(&s.alice, &quiet_channel).await.len(), 1, "only the post itself");

    // Every call was made once: the hooks' answers ("deploy done", "shipped") never triggered them.
    let deploy = s.bob.create_post(&s.channel, "deploy again").await;
    assert!(wait_until(Duration::from_secs(10), || async { calls(&s, "posted") == 4 }).await);
    // Posts are handled in order: once a later post's call is claimed, every earlier one is.
    s.alice.create_post(&quiet_channel, "a later post").await;
    assert!(wait_until(Duration::from_secs(10), || async { calls(&s, "answered") == 2 }).await);
    let claims = count(&s.server, "SELECT count(*) FROM outgoing_webhook_calls").await;
    assert_eq!(claims, 6, "one claim per hook and post, none for the answers");
    assert_eq!(server.count(), 6);
    let form_calls: Vec<Received> = server.received().into_iter().filter(|r| r.target == "/form").collect();
    assert_eq!(form_calls.len(), 2, "the first post and the last, not the answer to the first");
    assert_eq!(form_calls[1].form()["post_id"], deploy["id"].as_str().unwrap());
}

#[actix_web::test]
async fn failing_callbacks_post_nothing() {
    let s = setup().await;
    let server = Callback::start(|r: &Received| match r.target.as_str() {
        "/hang" => Answer::Hang,
        "/garbage" => Answer::Reply(200, "application/json", b"{not json".to_vec()),
        _ => Answer::Reply(503, "application/json", br#"{"text":"not posted"}"#.to_vec()),
    })
    .await;
    let forbidden = format!("http://127.0.0.2:{}/x", server.port);
    for (word, url) in [
        ("hang", server.url("/hang")),
        ("garbage", server.url("/garbage")),
        ("status", server.url("/s")),
        ("no", forbidden),
    ] {
        s.alice.post("/hooks/outgoing", hook(&s.team, "", &[word], &[&url])).await.expect(201);
        s.bob.create_post(&s.channel, &format!("{word} please")).await;
    }
    assert!(
        wait_until(Duration::from_secs(10), || async { calls(&s, "failed") == 3 }).await,
        "hang, status, forbidden"
    );
    assert_eq!(calls(&s, "answered"), 1, "garbage");
    assert_eq!(server.count(), 3, "the forbidden address was never called");
    assert_eq!(posts(&s.alice, &s.channel).await.len(), 4, "only the four posts");
}

#[actix_web::test]
async fn at_most_16_calls_are_in_flight_and_a_full_queue_drops_posts() {
    use starling::config::source::ConfigSource;
    use starling::config::LoadedConfig;
    let db = TestDb::new().await;
    let mut config = test_config(&db);
    config.service_settings.allowed_untrusted_internal_connections = "127.0.0.1".into();
    config.service_settings.outgoing_integration_requests_timeout = 3600; // the calls hang for the whole test
    let path = temp_dir("config").join("config.json");
    std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
    let loaded = LoadedConfig::from_config(config, ConfigSource::File(path));
    let node = starling::server::NodeBuilder::new(loaded, test_logger()).outgoing_hook_queue(2).start().await.unwrap();
    let (alice, _) = Client::new(&format!("http://{}", node.http_addr)).new_user("alice").await;
    let team = alice.create_team(true).await;
    let channel = alice.create_channel(&team, false).await;
    let server = Callback::start(|_: &Received| Answer::Hang).await;
    alice.post("/hooks/outgoing", hook(&team, &channel, &[], &[&server.url("/hang")])).await.expect(201);
    let claims = || async { count_in(&db, "SELECT count(*) FROM outgoing_webhook_calls").await };
    let dropped = || node.state.metrics.outgoing_webhooks_dropped.get();

    // Sixteen calls hang, one post at a time so none waits in the queue.
    for i in 1..=16 {
        alice.create_post(&channel, &format!("post {i}")).await;
        assert!(wait_until(Duration::from_secs(10), || async { server.count() == i }).await, "call {i}");
    }
    // The 17th is claimed and waits for a free slot; two more fill the queue; the rest are dropped.
    alice.create_post(&channel, "post 17").await;
    assert!(wait_until(Duration::from_secs(10), || async { claims().await == 17 }).await);
    for i in 18..=24 {
        alice.create_post(&channel, &format!("post {i}")).await;
    }
    assert!(wait_until(Duration::from_secs(10), || async { dropped() == 5 }).await, "posts 20 to 24 dropped");
    assert_eq!(server.count(), 16, "no 17th call while 16 are in flight");
    assert_eq!(claims().await, 17, "the queued posts are not claimed yet, the dropped never");
}

async fn count_in(db: &TestDb, sql: &str) -> i64 {
    db.client().await.query_one(sql, &[]).await.expect(sql).get(0)
}
