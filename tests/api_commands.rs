//! Built-in slash commands through `POST /commands/execute`, and the autocomplete list and
//! suggestions: what each posts or changes, and that refusals are ephemeral replies.

mod common;
use common::ws::Ws;
use common::*;
use serde_json::{json, Value};

struct Setup {
    server: TestServer,
    alice: Client,
    alice_id: String,
    bob: Client,
    bob_id: String,
    bob_name: String,
    team: String,
    channel: String,
}

async fn setup() -> Setup {
    let server = TestServer::start().await;
    let anon = server.client();
    let (alice, alice_id) = anon.new_user("alice").await;
    let (bob_id, bob_name) = anon.create_user("bob").await;
    let bob = anon.login(&bob_name).await;
    let team = alice.create_team(true).await;
    alice.post(&format!("/teams/{team}/members"), json!({"team_id": team, "user_id": bob_id})).await.expect(201);
    let channel = alice.create_channel(&team, false).await;
    Setup { server, alice, alice_id, bob, bob_id, bob_name, team, channel }
}

async fn run(c: &Client, channel: &str, command: &str) -> Resp {
    c.post("/commands/execute", json!({"channel_id": channel, "command": command})).await
}

async fn last_post(c: &Client, channel: &str) -> Value {
    let list = c.get(&format!("/channels/{channel}/posts")).await.expect(200).body;
    let id = list["order"][0].as_str().expect("a post").to_owned();
    list["posts"][&id].clone()
}

fn ephemeral_text(ev: &Value) -> String {
    let post: Value = serde_json::from_str(ev["data"]["post"].as_str().expect("post string")).unwrap();
    post["message"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn me_shrug_and_echo_post_in_the_channel() {
    let s = setup().await;
    run(&s.alice, &s.channel, "/me waves").await.expect(200);
    let p = last_post(&s.alice, &s.channel).await;
    assert_eq!((p["message"].as_str(), p["type"].as_str()), (Some("*waves*"), Some("me")));
    assert_eq!(p["props"]["message"], "waves");
    assert_eq!(p["user_id"], s.alice_id.as_str());

    run(&s.alice, &s.channel, "/shrug fine").await.expect(200);
    assert_eq!(last_post(&s.alice, &s.channel).await["message"], r"fine ¯\\\_(ツ)\_/¯");

    run(&s.alice, &s.channel, "/echo \"said twice\"").await.expect(200);
    assert_eq!(last_post(&s.alice, &s.channel).await["message"], "said twice");

    // Refusals are ephemeral: nothing is posted.
    let mut ws = Ws::connect(&s.server.url(), s.alice.token.as_deref().unwrap()).await;
    let r = run(&s.alice, &s.channel, "/echo").await.expect(200).body;
    assert_eq!(r["response_type"], "ephemeral");
    let (ev, _) = ws.until_event("ephemeral_message").await;
    assert!(ephemeral_text(&ev).contains("message must be provided"), "{ev}");
    run(&s.alice, &s.channel, "/echo \"late\" 10001").await.expect(200);
    let (ev, _) = ws.until_event("ephemeral_message").await;
    assert!(ephemeral_text(&ev).contains("10000"), "{ev}");
    assert_eq!(last_post(&s.alice, &s.channel).await["message"], "said twice");
}

#[actix_web::test]
async fn join_leave_invite_kick_follow_channel_permissions() {
    let s = setup().await;
    let name =
        s.alice.get(&format!("/channels/{}", s.channel)).await.expect(200).body["name"].as_str().unwrap().to_owned();
    let town = s.bob.get(&format!("/teams/{}/channels/name/town-square", s.team)).await.expect(200).id();

    let r = run(&s.bob, &town, &format!("/join ~{name}")).await.expect(200).body;
    assert!(r["goto_location"].as_str().unwrap().ends_with(&format!("/channels/{name}")), "{r}");
    s.bob.get(&format!("/channels/{}/members/{}", s.channel, s.bob_id)).await.expect(200);

    let r = run(&s.bob, &s.channel, "/leave").await.expect(200).body;
    assert!(r["goto_location"].as_str().unwrap().ends_with("/channels/town-square"), "{r}");
    s.alice.get(&format!("/channels/{}/members/{}", s.channel, s.bob_id)).await.expect(404);
    let r = run(&s.bob, &town, "/leave").await.expect(200).body;
    assert_eq!(r["response_type"], "ephemeral", "nobody leaves town-square: {r}");

    let r = run(&s.alice, &s.channel, &format!("/invite @{}", s.bob_name)).await.expect(200).body;
    assert_eq!(r["text"], format!("@{} added to ~{name}.", s.bob_name));
    s.alice.get(&format!("/channels/{}/members/{}", s.channel, s.bob_id)).await.expect(200);
    let r = run(&s.alice, &s.channel, &format!("/invite @{}", s.bob_name)).await.expect(200).body;
    assert!(r["text"].as_str().unwrap().contains("already"), "{r}");
    let r = run(&s.alice, &s.channel, "/invite @nobody-such").await.expect(200).body;
    assert!(r["text"].as_str().unwrap().contains("couldn't find the user"), "{r}");

    // A private channel: bob is not told it exists, and may not kick from it without the role.
    let private = s.alice.create_channel(&s.team, true).await;
    let pname =
        s.alice.get(&format!("/channels/{private}")).await.expect(200).body["name"].as_str().unwrap().to_owned();
    let r = run(&s.bob, &town, &format!("/join ~{pname}")).await.expect(200).body;
    assert!(r["text"].as_str().unwrap().contains("couldn't find the channel"), "{r}");
    s.alice.post(&format!("/channels/{private}/members"), json!({"user_id": s.bob_id})).await.expect(201);
    let r = run(&s.bob, &private, "/kick @alice-no-such").await.expect(200).body;
    assert_eq!(r["response_type"], "ephemeral");

    let r = run(&s.alice, &s.channel, &format!("/kick @{}", s.bob_name)).await.expect(200).body;
    assert_eq!(r["text"], "", "{r}");
    s.alice.get(&format!("/channels/{}/members/{}", s.channel, s.bob_id)).await.expect(404);
    let r = run(&s.alice, &s.channel, &format!("/remove @{}", s.bob_name)).await.expect(200).body;
    assert!(r["text"].as_str().unwrap().contains("not a member"), "{r}");
}

#[actix_web::test]
async fn msg_header_purpose_mute_and_status() {
    let s = setup().await;
    let r = run(&s.alice, &s.channel, &format!("/msg @{} hello there", s.bob_name)).await.expect(200).body;
    assert!(r["goto_location"].as_str().unwrap().ends_with(&format!("/messages/@{}", s.bob_name)), "{r}");
    let dm = s.alice.post("/channels/direct", json!([s.alice_id, s.bob_id])).await.expect(201).id();
    assert_eq!(last_post(&s.bob, &dm).await["message"], "hello there");

    run(&s.alice, &s.channel, "/header the new header").await.expect(200);
    run(&s.alice, &s.channel, "/purpose why we are here").await.expect(200);
    let ch = s.alice.get(&format!("/channels/{}", s.channel)).await.expect(200).body;
    assert_eq!((ch["header"].as_str(), ch["purpose"].as_str()), (Some("the new header"), Some("why we are here")));
    let r = run(&s.alice, &s.channel, "/header").await.expect(200).body;
    assert_eq!(r["response_type"], "ephemeral");

    run(&s.alice, &s.channel, "/mute").await.expect(200);
    let m = s.alice.get(&format!("/channels/{}/members/me", s.channel)).await.expect(200).body;
    assert_eq!(m["notify_props"]["mark_unread"], "mention");
    let r = run(&s.alice, &s.channel, "/mute").await.expect(200).body;
    assert!(r["text"].as_str().unwrap().contains("no longer muted"), "{r}");
    let m = s.alice.get(&format!("/channels/{}/members/me", s.channel)).await.expect(200).body;
    assert_eq!(m["notify_props"]["mark_unread"], "all");

    for (cmd, status) in [("/away", "away"), ("/dnd", "dnd"), ("/offline", "offline"), ("/online", "online")] {
        run(&s.alice, &s.channel, cmd).await.expect(200);
        let st = s.alice.get(&format!("/users/{}/status", s.alice_id)).await.expect(200).body;
        assert_eq!(st["status"], status, "{cmd}");
    }
}

#[actix_web::test]
async fn logout_ends_the_session() {
    let s = setup().await;
    let r = run(&s.bob, &s.bob.get(&format!("/teams/{}/channels/name/town-square", s.team)).await.id(), "/logout")
        .await
        .expect(200)
        .body;
    assert_eq!(r["goto_location"], "/login");
    s.bob.get("/users/me").await.expect(401);
}

#[actix_web::test]
async fn autocomplete_lists_the_built_ins_and_suggests_by_prefix() {
    let s = setup().await;
    let list = s.alice.get(&format!("/teams/{}/commands/autocomplete", s.team)).await.expect(200).body;
    let triggers: Vec<&str> = list.as_array().unwrap().iter().map(|c| c["trigger"].as_str().unwrap()).collect();
    for t in [
        "me", "shrug", "echo", "join", "leave", "msg", "header", "purpose", "away", "online", "dnd", "offline",
        "invite", "kick", "remove", "mute", "logout",
    ] {
        assert!(triggers.contains(&t), "{t} in {triggers:?}");
    }
    let sug = s
        .alice
        .get(&format!("/teams/{}/commands/autocomplete_suggestions?user_input=%2Fe", s.team))
        .await
        .expect(200)
        .body;
    assert_eq!(
        sug,
        json!([{"Complete": "echo", "Suggestion": "/echo", "Hint": "'message'",
        "Description": "Echo back text from your account", "IconData": ""}])
    );
    let none = s.alice.get(&format!("/teams/{}/commands/autocomplete_suggestions?user_input=/echo%20x", s.team)).await;
    assert_eq!(none.expect(200).body, json!([]));
    s.alice.get(&format!("/teams/{}/commands/autocomplete_suggestions", s.team)).await.expect(400);
    // Not a member of the team: 403.
    let (carol, _) = s.server.client().new_user("carol").await;
    carol.get(&format!("/teams/{}/commands/autocomplete", s.team)).await.expect(403);
    // An unknown trigger is 404, as Mattermost answers.
    run(&s.alice, &s.channel, "/nosuchcommand").await.expect(404);
}
