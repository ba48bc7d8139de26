//! Incoming webhooks on one node: the management API with its permissions and errors, and
//! `POST /hooks/{id}` (JSON and form payloads, channel overrides, the config's overrides, the
//! `posted` event, every refusal).

mod common;
use common::ws::Ws;
use common::*;
use serde_json::{json, Value};

/// `POST /hooks/{id}` with a body and content type (no session).
async fn send_hook(base: &str, hook_id: &str, body: Vec<u8>, content_type: &str) -> Resp {
    let r = reqwest::Client::new()
        .post(format!("{base}/hooks/{hook_id}"))
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .expect("request reaches the node");
    Client::finish(r).await
}

async fn send_json(base: &str, hook_id: &str, payload: Value) -> Resp {
    send_hook(base, hook_id, payload.to_string().into_bytes(), "application/json").await
}

/// The newest post of a channel.
async fn last_post(c: &Client, channel_id: &str) -> Value {
    let list = c.get(&format!("/channels/{channel_id}/posts")).await.expect(200).body;
    let id = list["order"][0].as_str().expect("a post").to_owned();
    list["posts"][&id].clone()
}

struct Setup {
    s: TestServer,
    admin: Client,
    team: String,
    town: String,
}

async fn setup(change: impl FnOnce(&mut starling::config::Config)) -> Setup {
    let s = TestServer::start_with(change).await;
    let (admin, _) = s.client().new_user("admin").await;
    let team = admin.create_team(true).await;
    let town = admin.get(&format!("/teams/{team}/channels/name/town-square")).await.expect(200).id();
    Setup { s, admin, team, town }
}

#[actix_web::test]
async fn hooks_are_made_listed_updated_and_deleted_by_those_allowed() {
    let Setup { s, admin, team, town } = setup(|_| {}).await;
    let made = admin
        .post(
            "/hooks/incoming",
            json!({"channel_id": town, "display_name": "CI", "description": "builds", "username": "ci"}),
        )
        .await
        .expect(201)
        .body;
    let hook_id = made["id"].as_str().unwrap().to_owned();
    assert_eq!((made["team_id"].as_str(), made["channel_locked"].as_bool()), (Some(team.as_str()), Some(false)));
    assert_eq!(admin.get(&format!("/hooks/incoming?team_id={team}")).await.expect(200).body[0]["id"], hook_id.as_str());
    assert_eq!(admin.get("/hooks/incoming").await.expect(200).body.as_array().map(Vec::len), Some(1));
    assert_eq!(admin.get(&format!("/hooks/incoming/{hook_id}")).await.expect(200).body["display_name"], "CI");

    let mut changed = made.clone();
    changed["display_name"] = json!("CD");
    changed["channel_locked"] = json!(true);
    let updated = admin.put(&format!("/hooks/incoming/{hook_id}"), changed).await.expect(200).body;
    assert_eq!((updated["display_name"].as_str(), updated["channel_locked"].as_bool()), (Some("CD"), Some(true)));
    admin.put(&format!("/hooks/incoming/{hook_id}"), json!({"id": starling_protocol::new_id()})).await.expect(400);

    // A team member who is not a team admin holds no webhook permission.
    let (user, user_id) = s.client().new_user("member").await;
    admin.post(&format!("/teams/{team}/members"), json!({"user_id": user_id})).await.expect(201);
    user.post("/hooks/incoming", json!({"channel_id": town})).await.expect(403);
    user.get(&format!("/hooks/incoming?team_id={team}")).await.expect(403);
    user.get(&format!("/hooks/incoming/{hook_id}")).await.expect(403);
    user.delete(&format!("/hooks/incoming/{hook_id}")).await.expect(403);

    // Bad input.
    admin.post("/hooks/incoming", json!({})).await.expect(400);
    admin.post("/hooks/incoming", json!({"channel_id": "short"})).await.expect(400);
    admin.post("/hooks/incoming", json!({"channel_id": starling_protocol::new_id()})).await.expect(404);
    admin.post("/hooks/incoming", json!({"channel_id": town, "display_name": "x".repeat(65)})).await.expect(400);
    send_raw(&admin, reqwest::Method::POST, "/hooks/incoming", "{oops").await.expect(400);
    admin.get("/hooks/incoming/short").await.expect(400);
    admin.get(&format!("/hooks/incoming/{}", starling_protocol::new_id())).await.expect(404);

    admin.delete(&format!("/hooks/incoming/{hook_id}")).await.expect(200);
    admin.get(&format!("/hooks/incoming/{hook_id}")).await.expect(404);
    let gone = send_json(&s.url(), &hook_id, json!({"text": "after delete"})).await.expect(400);
    assert_eq!(gone.body["id"], "web.incoming_webhook.invalid.app_error");
}

#[actix_web::test]
async fn a_hook_posts_as_its_creator_with_from_webhook_and_the_posted_event() {
    let Setup { s, admin, team: _, town } = setup(|_| {}).await;
    let hook = admin.post("/hooks/incoming", json!({"channel_id": town, "username": "ci"})).await.expect(201).id();
    let token = admin.token.clone().unwrap();
    let mut ws = Ws::connect(&s.url(), &token).await;
    assert_eq!(ws.event().await["event"], "hello");

    let r = send_json(&s.url(), &hook, json!({"text": "deployed", "props": {"build": 7}})).await;
    assert_eq!((r.status.as_u16(), r.bytes.as_slice()), (200, &b"ok"[..]));
    assert!(r.headers["content-type"].to_str().unwrap().starts_with("text/plain"));
    let post = last_post(&admin, &town).await;
    assert_eq!((post["message"].as_str(), post["props"]["from_webhook"].as_str()), (Some("deployed"), Some("true")));
    assert_eq!(post["props"]["build"], 7);
    assert!(post["props"].get("override_username").is_none(), "overrides are off by default");
    let (ev, _) = ws.until_event("posted").await;
    let sent: Value = serde_json::from_str(ev["data"]["post"].as_str().unwrap()).unwrap();
    assert_eq!(sent["message"], "deployed");

    // A form with payload=, and attachments without text.
    let form = serde_urlencoded::to_string([("payload", json!({"text": "from a form"}).to_string())]).unwrap();
    send_hook(&s.url(), &hook, form.into_bytes(), "application/x-www-form-urlencoded").await;
    assert_eq!(last_post(&admin, &town).await["message"], "from a form");
    send_json(&s.url(), &hook, json!({"attachments": [{"text": "a card"}]})).await;
    assert_eq!(last_post(&admin, &town).await["props"]["attachments"][0]["text"], "a card");
}

#[actix_web::test]
async fn the_payload_may_pick_a_channel_or_a_direct_message_unless_locked() {
    let Setup { s, admin, team, town } = setup(|_| {}).await;
    let other = admin.create_channel(&team, false).await;
    let other_name =
        admin.get(&format!("/channels/{other}")).await.expect(200).body["name"].as_str().unwrap().to_owned();
    let (bob, bob_id) = s.client().new_user("bob").await;
    let bob_name = bob.get("/users/me").await.expect(200).body["username"].as_str().unwrap().to_owned();
    let hook = admin.post("/hooks/incoming", json!({"channel_id": town})).await.expect(201).body;
    let id = hook["id"].as_str().unwrap().to_owned();

    send_json(&s.url(), &id, json!({"text": "to other", "channel": other_name})).await.expect(200);
    assert_eq!(last_post(&admin, &other).await["message"], "to other");
    send_json(&s.url(), &id, json!({"text": "psst", "channel": format!("@{bob_name}")})).await.expect(200);
    let admin_id = admin.get("/users/me").await.expect(200).body["id"].as_str().unwrap().to_owned();
    let direct = admin.post("/channels/direct", json!([admin_id, bob_id])).await.expect(201).id();
    assert_eq!(last_post(&bob, &direct).await["message"], "psst");

    let r = send_json(&s.url(), &id, json!({"text": "x", "channel": "no-such-channel"})).await.expect(404);
    assert_eq!(r.body["id"], "web.incoming_webhook.channel.app_error");
    send_json(&s.url(), &id, json!({"text": "x", "channel": "@nobody_here"})).await.expect(400);

    let mut locked = hook.clone();
    locked["channel_locked"] = json!(true);
    admin.put(&format!("/hooks/incoming/{id}"), locked).await.expect(200);
    let r = send_json(&s.url(), &id, json!({"text": "x", "channel": other_name})).await.expect(403);
    assert_eq!(r.body["id"], "web.incoming_webhook.channel_locked.app_error");
    send_json(&s.url(), &id, json!({"text": "own channel"})).await.expect(200);
}

#[actix_web::test]
async fn overrides_follow_the_config() {
    let Setup { s, admin, team: _, town } = setup(|c| {
        c.service_settings.enable_post_username_override = true;
        c.service_settings.enable_post_icon_override = true;
    })
    .await;
    let hook =
        admin.post("/hooks/incoming", json!({"channel_id": town, "username": "hookname"})).await.expect(201).id();
    send_json(&s.url(), &hook, json!({"text": "a", "icon_url": "https://example.com/i.png"})).await.expect(200);
    let props = last_post(&admin, &town).await["props"].clone();
    assert_eq!(props["override_username"], "hookname", "the hook's username when the payload has none");
    assert_eq!(props["override_icon_url"], "https://example.com/i.png");
    send_json(&s.url(), &hook, json!({"text": "b", "username": "sender"})).await.expect(200);
    assert_eq!(last_post(&admin, &town).await["props"]["override_username"], "sender");
}

#[actix_web::test]
async fn bad_payloads_unknown_hooks_and_big_bodies_are_refused() {
    let Setup { s, admin, team: _, town } = setup(|c| c.service_settings.maximum_payload_size_bytes = 2_000).await;
    let hook = admin.post("/hooks/incoming", json!({"channel_id": town})).await.expect(201).id();
    let url = s.url();
    let r = send_json(&url, &hook, json!({"text": "  "})).await.expect(400);
    assert_eq!(r.body["id"], "web.incoming_webhook.text.app_error");
    send_json(&url, &hook, json!({"channel": "town-square"})).await.expect(400);
    for bad in [&b"{not json"[..], b"[]", br#"{"text": 5}"#, br#"{"text":"a","attachments":"x"}"#] {
        let r = send_hook(&url, &hook, bad.to_vec(), "application/json").await.expect(400);
        assert_eq!(r.body["id"], "web.incoming_webhook.parse.app_error", "{}", String::from_utf8_lossy(bad));
    }
    send_json(&url, &hook, json!({"text": "x", "type": "system_join_channel"})).await.expect(400);
    send_hook(&url, &hook, b"payload=%7Bnot".to_vec(), "application/x-www-form-urlencoded").await.expect(400);
    send_json(&url, &hook, json!({"text": "x".repeat(3_000)})).await.expect(413);
    let r = send_json(&url, &starling_protocol::new_id(), json!({"text": "x"})).await.expect(400);
    assert_eq!(r.body["id"], "web.incoming_webhook.invalid.app_error");
    send_json(&url, "not-an-id", json!({"text": "x"})).await.expect(400);
    // Nothing was posted by any of these.
    let list = admin.get(&format!("/channels/{town}/posts")).await.expect(200).body;
    let from_hooks =
        list["posts"].as_object().unwrap().values().filter(|p| p["props"]["from_webhook"] == "true").count();
    assert_eq!(from_hooks, 0);
}

#[actix_web::test]
async fn hooks_are_refused_while_the_feature_is_off() {
    let Setup { s, admin, team: _, town } = setup(|c| c.service_settings.enable_incoming_webhooks = false).await;
    admin.post("/hooks/incoming", json!({"channel_id": town})).await.expect(501);
    admin.get("/hooks/incoming").await.expect(501);
    let r = send_json(&s.url(), &starling_protocol::new_id(), json!({"text": "x"})).await.expect(501);
    assert_eq!(r.body["id"], "web.incoming_webhook.disabled.app_error");
}
