//! Direct and group messages (names as Mattermost forms them, the events that tell their members,
//! counting every message as a mention, nothing for non-members) and preferences (with their
//! events to every session of the user).

mod common;
use common::ws::Ws;
use common::*;
use serde_json::{json, Value};

async fn until_post(ws: &mut Ws, id: &str) -> Value {
    loop {
        let (ev, _) = ws.until_event("posted").await;
        let post: Value = serde_json::from_str(ev["data"]["post"].as_str().unwrap()).unwrap();
        if post["id"] == id {
            return ev;
        }
    }
}

#[actix_web::test]
async fn direct_messages_between_two_people() {
    let s = TestServer::start().await;
    let c = s.client();
    let (_admin, _) = c.new_user("admin").await;
    let (alice, alice_id) = c.new_user("alice").await;
    let (bob, bob_id) = c.new_user("bob").await;
    let (carol, _) = c.new_user("carol").await;
    let team = alice.create_team(true).await;
    bob.post(&format!("/teams/{team}/members"), json!({"user_id": bob_id})).await.expect(201);
    let mut bob_ws = Ws::connect(&s.url(), bob.token.as_deref().unwrap()).await;
    assert_eq!(bob_ws.event().await["event"], "hello");

    let dm = alice.post("/channels/direct", json!([alice_id, bob_id])).await.expect(201).body;
    let (a, b) = if alice_id < bob_id { (&alice_id, &bob_id) } else { (&bob_id, &alice_id) };
    assert_eq!(dm["name"], format!("{a}__{b}"));
    assert_eq!(
        (dm["type"].as_str(), dm["team_id"].as_str(), dm["display_name"].as_str()),
        (Some("D"), Some(""), Some(""))
    );
    let dm_id = dm["id"].as_str().unwrap().to_owned();
    let (ev, _) = bob_ws.until_event("direct_added").await;
    assert_eq!(ev["broadcast"]["channel_id"], dm_id.as_str());
    assert_eq!(
        (ev["data"]["teammate_id"].as_str(), ev["data"]["creator_id"].as_str()),
        (Some(bob_id.as_str()), Some(alice_id.as_str()))
    );
    // Idempotent, from either side.
    assert_eq!(bob.post("/channels/direct", json!([bob_id, alice_id])).await.expect(201).id(), dm_id);
    // The new member hears its posts at once; every DM post is a mention.
    let p = alice.create_post(&dm_id, "hi bob").await;
    let ev = until_post(&mut bob_ws, p["id"].as_str().unwrap()).await;
    assert_eq!(ev["data"]["channel_type"], "D");
    let mentions: Vec<String> = serde_json::from_str(ev["data"]["mentions"].as_str().unwrap()).unwrap();
    assert_eq!(mentions, vec![bob_id.clone()]);
    let m = bob.get(&format!("/channels/{dm_id}/members/me")).await.expect(200).body;
    assert_eq!(m["mention_count"], 1);
    // DMs are listed with the user's channels and in every team's direct messages category.
    assert!(bob
        .get("/users/me/channels")
        .await
        .expect(200)
        .body
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == dm_id.as_str()));
    let cats = bob.get(&format!("/users/me/teams/{team}/channels/categories")).await.expect(200).body;
    let dms = cats["categories"].as_array().unwrap().iter().find(|c| c["type"] == "direct_messages").unwrap();
    assert_eq!(dms["channel_ids"], json!([dm_id]));
    let team_members = bob.get(&format!("/users/me/teams/{team}/channels/members")).await.expect(200).body;
    assert!(
        team_members.as_array().unwrap().iter().any(|m| m["channel_id"] == dm_id.as_str()),
        "mobile's per-team call lists DMs"
    );
    // A DM cannot go in the channels category.
    let chans = cats["categories"].as_array().unwrap().iter().find(|c| c["type"] == "channels").unwrap().clone();
    let mut bad = chans.clone();
    bad["channel_ids"] = json!([dm_id]);
    check(bob.put(&format!("/users/me/teams/{team}/channels/categories"), json!([bad])).await, 400, "DM into channels");
    // A non-member reads nothing of it.
    check(carol.get(&format!("/channels/{dm_id}")).await, 403, "the channel");
    check(carol.get(&format!("/channels/{dm_id}/posts")).await, 403, "its posts");
    check(carol.get(&format!("/posts/{}", p["id"].as_str().unwrap())).await, 403, "a post");
    check(carol.get(&format!("/posts/{}/thread", p["id"].as_str().unwrap())).await, 403, "a thread");
    check(carol.get(&format!("/channels/{dm_id}/members")).await, 403, "its members");
    check(carol.get(&format!("/channels/{dm_id}/stats")).await, 403, "its stats");
    check(carol.post("/posts", json!({"channel_id": dm_id, "message": "x"})).await, 403, "posting");
    assert_eq!(carol.post("/posts/ids", json!([p["id"]])).await.expect(200).body, json!([]));
    check(carol.get(&format!("/users/me/channels/{dm_id}/posts/unread")).await, 403, "unread");
    check(
        carol.post(&format!("/channels/{dm_id}/members"), json!({"user_id": carol.get("/users/me").await.id()})).await,
        400,
        "joining a DM",
    );
    check(bob.delete(&format!("/channels/{dm_id}/members/me")).await, 400, "leaving a DM");
    check(bob.delete(&format!("/channels/{dm_id}")).await, 400, "archiving a DM");
    check(bob.put(&format!("/channels/{dm_id}/patch"), json!({"display_name": "x"})).await, 400, "naming a DM");
    bob.put(&format!("/channels/{dm_id}/patch"), json!({"header": "our DM"})).await.expect(200);
    check(carol.put(&format!("/channels/{dm_id}/patch"), json!({"header": "x"})).await, 403, "a non-member's header");
    // A note to self.
    let me = carol
        .post("/channels/direct", json!([carol.get("/users/me").await.id(), carol.get("/users/me").await.id()]))
        .await
        .expect(201)
        .body;
    assert_eq!(
        carol
            .get(&format!("/channels/{}/members", me["id"].as_str().unwrap()))
            .await
            .expect(200)
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Bad input.
    for (body, status, what) in [
        (json!([alice_id]), 400, "one id"),
        (json!([alice_id, bob_id, alice_id]), 400, "three ids"),
        (json!([alice_id, "bad"]), 400, "a malformed id"),
        (json!([alice_id, starling_protocol::new_id()]), 400, "an unknown user"),
        (json!({"a": 1}), 400, "not a list"),
    ] {
        check(alice.post("/channels/direct", body).await, status, what);
    }
    check(carol.post("/channels/direct", json!([alice_id, bob_id])).await, 403, "someone else's DM");
}

#[actix_web::test]
async fn group_messages_of_three_to_eight() {
    let s = TestServer::start().await;
    let c = s.client();
    let (_admin, _) = c.new_user("admin").await;
    let (alice, alice_id) = c.new_user("alice").await;
    let (bob_id, bob_name) = c.create_user("bob").await;
    let bob = c.login(&bob_name).await;
    let (carol, carol_id) = c.new_user("carol").await;
    let (dave, _) = c.new_user("dave").await;
    let mut carol_ws = Ws::connect(&s.url(), carol.token.as_deref().unwrap()).await;
    assert_eq!(carol_ws.event().await["event"], "hello");

    // The caller is added when missing.
    let gm = alice.post("/channels/group", json!([bob_id, carol_id])).await.expect(201).body;
    assert_eq!(gm["type"], "G");
    assert_eq!(gm["name"].as_str().unwrap().len(), 40, "a SHA-1 in hex");
    let mut names: Vec<String> = Vec::new();
    for id in [&alice_id, &bob_id, &carol_id] {
        names.push(alice.get(&format!("/users/{id}")).await.expect(200).body["username"].as_str().unwrap().to_owned());
    }
    names.sort();
    assert_eq!(gm["display_name"], names.join(", "));
    let gm_id = gm["id"].as_str().unwrap().to_owned();
    let (ev, _) = carol_ws.until_event("group_added").await;
    assert_eq!(ev["broadcast"]["channel_id"], gm_id.as_str());
    let mut ids: Vec<String> =
        serde_json::from_str(ev["data"]["teammate_ids"].as_str().expect("a JSON string")).unwrap();
    ids.sort();
    let mut want = vec![alice_id.clone(), bob_id.clone(), carol_id.clone()];
    want.sort();
    assert_eq!(ids, want);
    assert_eq!(
        bob.post("/channels/group", json!([alice_id, carol_id, bob_id])).await.expect(201).id(),
        gm_id,
        "same members, same channel"
    );
    let p = alice.create_post(&gm_id, "hello group").await;
    until_post(&mut carol_ws, p["id"].as_str().unwrap()).await;
    for u in [&bob, &carol] {
        assert_eq!(u.get(&format!("/channels/{gm_id}/members/me")).await.expect(200).body["mention_count"], 1);
    }
    let members = bob.post("/users/group_channels", json!([gm_id])).await.expect(200).body;
    assert_eq!(members[&gm_id].as_array().unwrap().len(), 3);
    assert!(members[&gm_id][0].get("password").is_none());
    check(dave.post("/users/group_channels", json!([gm_id])).await, 403, "not a member");
    check(dave.get(&format!("/channels/{gm_id}/posts")).await, 403, "reading it");
    check(alice.post("/channels/group", json!([bob_id])).await, 400, "two people");
    let many: Vec<String> = (0..8).map(|_| starling_protocol::new_id()).collect();
    check(alice.post("/channels/group", json!(many)).await, 400, "nine people");
    check(alice.post("/channels/group", json!([bob_id, starling_protocol::new_id()])).await, 400, "an unknown user");
    check(bob.delete(&format!("/channels/{gm_id}/members/{carol_id}")).await, 400, "removing someone else from a GM");
    bob.delete(&format!("/channels/{gm_id}/members/me")).await.expect(200);
    check(bob.get(&format!("/channels/{gm_id}/posts")).await, 403, "after leaving");
    let _ = bob_name;
}

#[actix_web::test]
async fn preferences_with_events_to_every_session() {
    let s = TestServer::start().await;
    let c = s.client();
    let (_admin, _) = c.new_user("admin").await;
    let (alice, alice_id) = c.new_user("alice").await;
    let (bob, bob_id) = c.new_user("bob").await;
    let second = c.login(alice.get("/users/me").await.body["username"].as_str().unwrap()).await;
    let mut ws = Ws::connect(&s.url(), second.token.as_deref().unwrap()).await;
    assert_eq!(ws.event().await["event"], "hello");

    assert_eq!(alice.get("/users/me/preferences").await.expect(200).body, json!([]));
    let prefs = json!([
        {"user_id": alice_id, "category": "direct_channel_show", "name": bob_id, "value": "true"},
        {"user_id": alice_id, "category": "display_settings", "name": "use_military_time", "value": "false"},
    ]);
    alice.put(&format!("/users/{alice_id}/preferences"), prefs.clone()).await.expect(200);
    let (ev, _) = ws.until_event("preferences_changed").await;
    let sent: Value = serde_json::from_str(ev["data"]["preferences"].as_str().expect("a JSON string")).unwrap();
    assert_eq!(sent, prefs);
    assert_eq!(second.get("/users/me/preferences").await.expect(200).body.as_array().unwrap().len(), 2);
    let cat = alice.get("/users/me/preferences/direct_channel_show").await.expect(200).body;
    assert_eq!(cat[0]["value"], "true");
    let one = alice.get(&format!("/users/me/preferences/direct_channel_show/name/{bob_id}")).await.expect(200).body;
    assert_eq!(one["name"], bob_id.as_str());
    // Saving again replaces the value.
    alice
        .put(
            "/users/me/preferences",
            json!([{"user_id": alice_id, "category": "direct_channel_show", "name": bob_id, "value": "false"}]),
        )
        .await
        .expect(200);
    assert_eq!(
        alice.get(&format!("/users/me/preferences/direct_channel_show/name/{bob_id}")).await.expect(200).body["value"],
        "false"
    );
    // Delete.
    alice
        .post(
            "/users/me/preferences/delete",
            json!([{"user_id": alice_id, "category": "direct_channel_show", "name": bob_id}]),
        )
        .await
        .expect(200);
    let (ev, _) = ws.until_event("preferences_deleted").await;
    assert!(ev["data"]["preferences"].as_str().unwrap().contains("direct_channel_show"));
    check(alice.get(&format!("/users/me/preferences/direct_channel_show/name/{bob_id}")).await, 404, "deleted");
    check(alice.get("/users/me/preferences/direct_channel_show").await, 404, "an empty category");
    // Nobody else's, and bad input.
    check(bob.get(&format!("/users/{alice_id}/preferences")).await, 403, "reading another's");
    check(bob.put(&format!("/users/{alice_id}/preferences"), prefs.clone()).await, 403, "saving another's");
    check(bob.put("/users/me/preferences", prefs.clone()).await, 403, "someone else's user_id in the body");
    let long = "c".repeat(33);
    for (body, what) in [
        (json!([{"user_id": bob_id, "category": long, "name": "n", "value": "v"}]), "a long category"),
        (json!([{"user_id": bob_id, "category": "", "name": "n", "value": "v"}]), "no category"),
        (json!([{"user_id": bob_id, "category": "c", "name": "n".repeat(33), "value": "v"}]), "a long name"),
        (json!([{"user_id": bob_id, "category": "c", "name": "n", "value": "v".repeat(2001)}]), "a long value"),
        (
            json!([{"user_id": bob_id, "category": "theme", "name": "", "value": "not json"}]),
            "a theme that is not JSON",
        ),
        (json!([]), "nothing"),
        (json!({"user_id": bob_id}), "not a list"),
    ] {
        check(bob.put("/users/me/preferences", body).await, 400, what);
    }
}
