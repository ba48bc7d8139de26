//! Custom slash commands: managing them (who may, what is refused) and running them against a
//! callback server on loopback (the fields sent, the answers posted or shown, and callbacks that
//! hang, answer garbage or sit at a forbidden address).

mod common;
use common::callback::{Answer, Callback, Received};
use common::ws::Ws;
use common::*;
use serde_json::{json, Value};

struct Setup {
    server: TestServer,
    /// System admin.
    alice: Client,
    alice_id: String,
    /// A plain team member.
    bob: Client,
    team: String,
    team_name: String,
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
    let (bob, bob_id) = anon.new_user("bob").await;
    let team = alice.create_team(true).await;
    let team_name = alice.get(&format!("/teams/{team}")).await.expect(200).body["name"].as_str().unwrap().to_owned();
    alice.post(&format!("/teams/{team}/members"), json!({"team_id": team, "user_id": bob_id})).await.expect(201);
    let channel = alice.create_channel(&team, false).await;
    alice.post(&format!("/channels/{channel}/members"), json!({"user_id": bob_id})).await.expect(201);
    Setup { server, alice, alice_id, bob, team, team_name, channel }
}

fn command(team: &str, trigger: &str, url: &str, method: &str) -> Value {
    json!({"team_id": team, "trigger": trigger, "url": url, "method": method, "display_name": "Test",
        "auto_complete": true, "auto_complete_desc": "does a test", "auto_complete_hint": "[x]"})
}

async fn run(c: &Client, channel: &str, command: &str) -> Resp {
    c.post("/commands/execute", json!({"channel_id": channel, "command": command})).await
}

async fn post_count(s: &Setup) -> i64 {
    count(&s.server, &format!("SELECT count(*) FROM posts WHERE channel_id = '{}'", s.channel)).await
}

#[actix_web::test]
async fn commands_are_managed_by_those_allowed() {
    let s = setup().await;
    let url = "http://127.0.0.1:9/cmd";
    let c = s.alice.post("/commands", command(&s.team, "/Deploy", url, "P")).await.expect(201).body;
    assert_eq!(c["trigger"], "deploy");
    assert_eq!(c["creator_id"], s.alice_id.as_str());
    assert_eq!(c["token"].as_str().unwrap().len(), 26);
    let id = c["id"].as_str().unwrap().to_owned();

    // Refused: a taken or built-in trigger, a bad URL or method, no team, a plain member.
    for (body, what) in [
        (command(&s.team, "deploy", url, "P"), "taken"),
        (command(&s.team, "echo", url, "P"), "built in"),
        (command(&s.team, "x", "ftp://example.com", "P"), "url"),
        (command(&s.team, "x", url, "X"), "method"),
        (command(&s.team, "two words", url, "P"), "trigger"),
        (command("", "x", url, "P"), "team"),
    ] {
        check(s.alice.post("/commands", body).await, 400, what);
    }
    check(s.bob.post("/commands", command(&s.team, "mine", url, "P")).await, 403, "plain member");
    check(s.bob.get(&format!("/commands?team_id={}&custom_only=true", s.team)).await, 403, "plain member lists");
    check(s.bob.get(&format!("/commands/{id}")).await, 404, "plain member reads");

    let list = s.alice.get(&format!("/commands?team_id={}&custom_only=true", s.team)).await.expect(200).body;
    assert_eq!(list.as_array().unwrap().len(), 1);
    // Everything a member may run: built-ins and the custom command, without its token.
    let all = s.bob.get(&format!("/commands?team_id={}", s.team)).await.expect(200).body;
    let custom = all.as_array().unwrap().iter().find(|c| c["trigger"] == "deploy").expect("listed");
    assert_eq!(custom["token"], "");
    assert!(all.as_array().unwrap().iter().any(|c| c["trigger"] == "shrug"));
    let sug = s.bob.get(&format!("/teams/{}/commands/autocomplete_suggestions?user_input=/dep", s.team)).await;
    assert_eq!(sug.expect(200).body[0]["Complete"], "deploy");

    let mut changed = command(&s.team, "ship", url, "G");
    changed["id"] = json!(id);
    let u = s.alice.put(&format!("/commands/{id}"), changed.clone()).await.expect(200).body;
    assert_eq!((u["trigger"].as_str(), u["method"].as_str()), (Some("ship"), Some("G")));
    check(s.bob.put(&format!("/commands/{id}"), changed).await, 404, "plain member updates");

    let t = s.alice.put(&format!("/commands/{id}/regen_token"), json!({})).await.expect(200).body;
    assert_ne!(t["token"], c["token"]);
    assert_eq!(s.alice.get(&format!("/commands/{id}")).await.expect(200).body["token"], t["token"]);

    let other = s.alice.create_team(true).await;
    s.alice.post(&format!("/commands/{id}/move"), json!({"team_id": other})).await.expect(200);
    assert_eq!(s.alice.get(&format!("/commands/{id}")).await.expect(200).body["team_id"], other.as_str());
    check(s.alice.post(&format!("/commands/{id}/move"), json!({"team_id": "nope"})).await, 400, "bad team");

    s.alice.delete(&format!("/commands/{id}")).await.expect(200);
    check(s.alice.get(&format!("/commands/{id}")).await, 404, "deleted");
    check(s.alice.get("/commands/not-an-id").await, 400, "malformed id");
}

#[actix_web::test]
async fn a_command_calls_its_url_and_its_answer_is_posted_or_shown() {
    let s = setup().await;
    let server = Callback::start(|r: &Received| {
        let form = r.form();
        match form.get("text").map(String::as_str) {
            Some("quiet") => Answer::json(json!({"text": "only you see this"})),
            Some("plain") => Answer::Reply(200, "text/plain", b"plain text answer".to_vec()),
            _ => Answer::json(json!({"response_type": "in_channel", "text": format!("deployed {}", form["text"]),
                "username": "deploybot", "props": {"build": 7},
                "extra_responses": [{"response_type": "in_channel", "text": "second"}]})),
        }
    })
    .await;
    let c = s.alice.post("/commands", command(&s.team, "deploy", &server.url("/cmd?x=1"), "P")).await.expect(201).body;

    let r = run(&s.bob, &s.channel, "/deploy prod now").await.expect(200).body;
    assert_eq!(r["text"], "deployed prod now");
    let got = server.received();
    assert_eq!(got.len(), 1);
    let (req, form) = (&got[0], got[0].form());
    assert_eq!(req.method, "POST");
    assert_eq!(req.headers["authorization"], format!("Token {}", c["token"].as_str().unwrap()));
    assert_eq!(form["token"], c["token"].as_str().unwrap());
    assert_eq!(form["team_id"], s.team);
    assert_eq!(form["team_domain"], s.team_name);
    assert_eq!(form["channel_id"], s.channel);
    assert_eq!(form["command"], "/deploy");
    assert_eq!(form["text"], "prod now");
    assert!(form.contains_key("user_name") && form.contains_key("trigger_id") && form.contains_key("response_url"));

    let list = s.bob.get(&format!("/channels/{}/posts", s.channel)).await.expect(200).body;
    let posts: Vec<&Value> =
        list["order"].as_array().unwrap().iter().map(|id| &list["posts"][id.as_str().unwrap()]).collect();
    assert_eq!(posts[0]["message"], "second");
    let p = posts[1];
    assert_eq!(p["message"], "deployed prod now");
    assert_eq!(p["props"]["from_webhook"], "true");
    assert_eq!(p["props"]["override_username"], "deploybot");
    assert_eq!(p["props"]["build"], 7);

    // Ephemeral (the default) and plain-text answers reach only the caller; nothing is posted.
    let before = post_count(&s).await;
    let mut ws = Ws::connect(&s.server.url(), s.bob.token.as_deref().unwrap()).await;
    run(&s.bob, &s.channel, "/deploy quiet").await.expect(200);
    let (ev, _) = ws.until_event("ephemeral_message").await;
    assert!(ev["data"]["post"].as_str().unwrap().contains("only you see this"));
    run(&s.bob, &s.channel, "/deploy plain").await.expect(200);
    let (ev, _) = ws.until_event("ephemeral_message").await;
    assert!(ev["data"]["post"].as_str().unwrap().contains("plain text answer"));
    assert_eq!(post_count(&s).await, before);

    // A GET command sends the fields in the query.
    let g = s.alice.post("/commands", command(&s.team, "look", &server.url("/get"), "G")).await.expect(201);
    run(&s.bob, &s.channel, "/look quiet").await.expect(200);
    let last = server.received().pop().unwrap();
    assert_eq!(last.method, "GET");
    assert!(last.body.is_empty());
    assert_eq!(last.form()["token"], g.body["token"].as_str().unwrap());

    // Commands off: custom ones are not found, and cannot be managed.
    let mut cfg = s.alice.get("/config").await.expect(200).body;
    cfg["ServiceSettings"]["EnableCommands"] = json!(false);
    s.alice.put("/config", cfg).await.expect(200);
    run(&s.bob, &s.channel, "/deploy x").await.expect(404);
    check(s.alice.post("/commands", command(&s.team, "other", &server.url("/"), "P")).await, 501, "disabled");
}

#[actix_web::test]
async fn failing_callbacks_are_clear_errors_and_post_nothing() {
    let s = setup().await;
    let server = Callback::start(|r: &Received| match r.target.as_str() {
        "/hang" => Answer::Hang,
        "/garbage" => Answer::Reply(200, "application/json", b"{not json".to_vec()),
        "/status" => Answer::Reply(503, "text/plain", b"down".to_vec()),
        _ => Answer::json(json!({})),
    })
    .await;
    let forbidden = format!("http://127.0.0.2:{}/x", server.port);
    for (trigger, url, says) in [
        ("hang", server.url("/hang"), "timed out"),
        ("garbage", server.url("/garbage"), "not a valid command response"),
        ("status", server.url("/status"), "status 503"),
        ("forbidden", forbidden, "address forbidden"),
    ] {
        s.alice.post("/commands", command(&s.team, trigger, &url, "P")).await.expect(201);
        let before = post_count(&s).await;
        let r = check(run(&s.bob, &s.channel, &format!("/{trigger}")).await, 500, trigger).body;
        assert_eq!(r["id"], "api.command.execute_command.failed.app_error");
        assert!(r["message"].as_str().unwrap().contains(says), "{trigger}: {r}");
        assert_eq!(post_count(&s).await, before, "{trigger}: nothing posted");
    }
    assert_eq!(server.count(), 3, "the forbidden address was never called");
}

#[actix_web::test]
async fn a_response_url_posts_later_a_few_times_and_refuses_bad_tokens() {
    let s = setup().await;
    let server = Callback::start(|_: &Received| Answer::json(json!({"text": "working on it"}))).await;
    s.alice.post("/commands", command(&s.team, "later", &server.url("/later"), "P")).await.expect(201);
    run(&s.bob, &s.channel, "/later build").await.expect(200);
    let url = server.received()[0].form()["response_url"].clone();
    assert!(url.starts_with(&format!("{}/hooks/commands/", s.server.url())), "{url}");
    let http = reqwest::Client::new();
    let send = |url: String, body: Value| {
        let http = http.clone();
        async move { Client::finish(http.post(url).json(&body).send().await.unwrap()).await }
    };

    // In the channel, as the user who ran it, from an integration.
    let r = send(url.clone(), json!({"response_type": "in_channel", "text": "built later", "username": "ci"})).await;
    assert_eq!((r.status.as_u16(), r.bytes.as_slice()), (200, &b"ok"[..]));
    let list = s.bob.get(&format!("/channels/{}/posts", s.channel)).await.expect(200).body;
    let newest = &list["posts"][list["order"][0].as_str().unwrap()];
    assert_eq!(newest["message"], "built later");
    let bob_id = s.bob.get("/users/me").await.expect(200).body["id"].clone();
    assert_eq!(newest["user_id"], bob_id, "the runner's post, not the command creator's");
    assert_eq!(newest["props"]["from_webhook"], "true");
    assert_eq!(newest["props"]["override_username"], "ci");

    // Ephemeral (the default): to the runner alone.
    let before = post_count(&s).await;
    let mut ws = Ws::connect(&s.server.url(), s.bob.token.as_deref().unwrap()).await;
    send(url.clone(), json!({"text": "only for you"})).await;
    let (ev, _) = ws.until_event("ephemeral_message").await;
    assert!(ev["data"]["post"].as_str().unwrap().contains("only for you"));
    assert_eq!(post_count(&s).await, before);

    // Five uses in all; then, and for unknown tokens, a JSON error.
    for _ in 0..3 {
        assert_eq!(send(url.clone(), json!({"text": "again"})).await.status.as_u16(), 200);
    }
    let used_up = send(url.clone(), json!({"text": "one too many"})).await;
    assert_eq!(used_up.status.as_u16(), 400);
    assert_error_shape(&used_up.body, 400);
    let base = s.server.url();
    for bad in [format!("{base}/hooks/commands/{}", starling_protocol::new_id()), format!("{base}/hooks/commands/x")] {
        let r = send(bad, json!({"text": "nope"})).await;
        assert_eq!(r.status.as_u16(), 404);
        assert_error_shape(&r.body, 404);
    }
}
