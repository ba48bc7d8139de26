//! Reading and marking read: posts around the unread mark, posts by id, viewing channels (also
//! with an empty channel id), mark_read, a team read, and mark unread from a post, with the
//! events the user's other sessions get.

mod common;
use common::ws::Ws;
use common::*;
use serde_json::{json, Value};

struct World {
    s: TestServer,
    alice: Client,
    bob: Client,
    bob_id: String,
    bob_name: String,
    carol: Client,
    team: String,
    ch: String,
}

async fn world() -> World {
    let s = TestServer::start().await;
    let c = s.client();
    let (_admin, _) = c.new_user("admin").await;
    let (alice, _) = c.new_user("alice").await;
    let (bob_id, bob_name) = c.create_user("bob").await;
    let bob = c.login(&bob_name).await;
    let (carol, carol_id) = c.new_user("carol").await;
    let team = alice.create_team(true).await;
    for id in [&bob_id, &carol_id] {
        alice.post(&format!("/teams/{team}/members"), json!({"user_id": id})).await.expect(201);
    }
    let ch = alice.create_channel(&team, true).await;
    alice.post(&format!("/channels/{ch}/members"), json!({"user_id": bob_id})).await.expect(201);
    World { s, alice, bob, bob_id, bob_name, carol, team, ch }
}

fn order(list: &Value) -> Vec<String> {
    list["order"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
}

async fn counts(c: &Client, ch: &str) -> (i64, i64) {
    let total = c.get(&format!("/channels/{ch}")).await.expect(200).body["total_msg_count"].as_i64().unwrap();
    let m = c.get(&format!("/channels/{ch}/members/me")).await.expect(200).body;
    (total - m["msg_count"].as_i64().unwrap(), m["mention_count"].as_i64().unwrap())
}

async fn view(c: &Client, ch: &str) -> Value {
    c.post("/channels/members/me/view", json!({"channel_id": ch, "collapsed_threads_supported": true}))
        .await
        .expect(200)
        .body
}

#[actix_web::test]
async fn posts_around_the_unread_mark_with_both_ends() {
    let w = world().await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(w.alice.create_post(&w.ch, &format!("p{n}")).await["id"].as_str().unwrap().to_owned());
    }
    view(&w.bob, &w.ch).await;
    for n in 5..10 {
        ids.push(w.alice.create_post(&w.ch, &format!("p{n}")).await["id"].as_str().unwrap().to_owned());
    }
    let path = format!("/users/me/channels/{}/posts/unread", w.ch);
    let list = w.bob.get(&format!("{path}?limit_before=2&limit_after=3&skipFetchThreads=false")).await.expect(200).body;
    assert_eq!(order(&list), vec![ids[7].clone(), ids[6].clone(), ids[5].clone(), ids[4].clone(), ids[3].clone()]);
    assert_eq!(list["next_post_id"], ids[8].as_str(), "the post just after the list");
    assert_eq!(list["prev_post_id"], ids[2].as_str(), "the post just before the list");
    for k in ["posts", "first_inaccessible_post_time", "has_next"] {
        assert!(list.get(k).is_some(), "a PostList has {k}");
    }
    // Both ends reached: empty strings.
    let list = w.bob.get(&format!("{path}?limit_before=30&limit_after=30")).await.expect(200).body;
    assert_eq!(order(&list).len(), 10);
    assert_eq!((list["next_post_id"].as_str(), list["prev_post_id"].as_str()), (Some(""), Some("")));
    // Nothing unread: the newest limit_before posts.
    view(&w.bob, &w.ch).await;
    let list = w.bob.get(&format!("{path}?limit_before=4&limit_after=30")).await.expect(200).body;
    assert_eq!(order(&list), ids[6..].iter().rev().cloned().collect::<Vec<_>>());
    assert_eq!(list["next_post_id"], "");
    // Replies bring their roots along.
    w.alice.post("/posts", json!({"channel_id": w.ch, "root_id": ids[0], "message": "late reply"})).await.expect(201);
    let list = w.bob.get(&format!("{path}?limit_before=0&limit_after=5")).await.expect(200).body;
    assert_eq!(order(&list).len(), 1);
    assert!(list["posts"].get(&ids[0]).is_some(), "the root of the reply is in posts");
    // Bad input.
    check(w.bob.get(&format!("{path}?limit_after=0")).await, 400, "limit_after 0");
    check(w.bob.get(&format!("{path}?limit_before=-1")).await, 400, "negative limit_before");
    check(w.bob.get(&format!("{path}?limit_after=201")).await, 400, "over 200");
    check(w.carol.get(&format!("/users/me/channels/{}/posts/unread", w.ch)).await, 403, "not a member");
    check(w.carol.get(&format!("/users/{}/channels/{}/posts/unread", w.bob_id, w.ch)).await, 403, "someone else's");
    check(
        w.bob.get(&format!("/users/me/channels/{}/posts/unread", starling_protocol::new_id())).await,
        404,
        "unknown channel",
    );
}

#[actix_web::test]
async fn posts_by_ids_leave_out_what_the_caller_cannot_read() {
    let w = world().await;
    let mine = w.alice.create_post(&w.ch, "in the private channel").await;
    let town = w.alice.get(&format!("/teams/{}/channels/name/town-square", w.team)).await.expect(200).id();
    let open = w.alice.create_post(&town, "in town").await;
    let ids = json!([mine["id"], open["id"], starling_protocol::new_id()]);
    let got = w.bob.post("/posts/ids", ids.clone()).await.expect(200).body;
    assert_eq!(got.as_array().unwrap().len(), 2);
    let got = w.carol.post("/posts/ids", ids).await.expect(200).body;
    assert_eq!(got.as_array().unwrap().iter().map(|p| p["id"].clone()).collect::<Vec<_>>(), vec![open["id"].clone()]);
    check(w.bob.post("/posts/ids", json!([])).await, 400, "no ids");
    check(w.bob.post("/posts/ids", json!(["bad"])).await, 400, "a malformed id");
    check(w.bob.post("/posts/ids", json!({"ids": []})).await, 400, "not a list");
}

#[actix_web::test]
async fn viewing_marks_read_and_tells_the_other_sessions() {
    let w = world().await;
    let mut other = Ws::connect(&w.s.url(), w.bob.token.as_deref().unwrap()).await;
    assert_eq!(other.event().await["event"], "hello");
    w.alice.create_post(&w.ch, &format!("hi @{}", w.bob_name)).await;
    w.alice.create_post(&w.ch, "second").await;
    assert_eq!(counts(&w.bob, &w.ch).await, (2, 1));
    let r = view(&w.bob, &w.ch).await;
    assert_eq!(r["status"], "OK");
    let at = r["last_viewed_at_times"][&w.ch].as_i64().expect("the channel's time");
    assert_eq!(counts(&w.bob, &w.ch).await, (0, 0));
    let m = w.bob.get(&format!("/channels/{}/members/me", w.ch)).await.expect(200).body;
    assert_eq!(m["last_viewed_at"], at);
    assert_eq!(m["mention_count_root"], 0);
    let (ev, _) = other.until_event("multiple_channels_viewed").await;
    assert_eq!(ev["data"]["channel_times"][&w.ch], at, "channel_times is a plain object");
    assert_eq!(ev["broadcast"]["user_id"], w.bob_id.as_str());
    let (ev, _) = other.until_event("channel_viewed").await;
    assert_eq!(ev["data"]["channel_id"], w.ch.as_str());
    // On blur the web app sends an empty channel id: fine, nothing changes.
    let r = w.bob.post("/channels/members/me/view", json!({"channel_id": ""})).await.expect(200).body;
    assert_eq!(r, json!({"status": "OK", "last_viewed_at_times": {}}));
    // The channel left is marked read too (mobile sends prev_channel_id).
    w.alice.create_post(&w.ch, "third").await;
    w.bob.post("/channels/members/me/view", json!({"channel_id": "", "prev_channel_id": w.ch})).await.expect(200);
    assert_eq!(counts(&w.bob, &w.ch).await, (0, 0));
    // Channels one is not in are left alone.
    let r = w.carol.post("/channels/members/me/view", json!({"channel_id": w.ch})).await.expect(200).body;
    assert_eq!(r["last_viewed_at_times"], json!({}));
    check(w.bob.post("/channels/members/me/view", json!({"channel_id": "bad"})).await, 400, "a malformed id");
    check(w.bob.post("/channels/members/me/view", json!([1])).await, 400, "not an object");
    check(
        w.carol.post(&format!("/channels/members/{}/view", w.bob_id), json!({"channel_id": w.ch})).await,
        403,
        "someone else's",
    );
}

#[actix_web::test]
async fn mark_read_and_team_read() {
    let w = world().await;
    let town = w.alice.get(&format!("/teams/{}/channels/name/town-square", w.team)).await.expect(200).id();
    for ch in [&w.ch, &town] {
        w.alice.create_post(ch, &format!("@{} look", w.bob_name)).await;
    }
    let r = w.bob.post("/channels/members/me/mark_read", json!([w.ch, town])).await.expect(200).body;
    assert_eq!(r["last_viewed_at_times"].as_object().unwrap().len(), 2);
    assert_eq!(counts(&w.bob, &w.ch).await, (0, 0));
    assert_eq!(counts(&w.bob, &town).await, (0, 0));
    for ch in [&w.ch, &town] {
        w.alice.create_post(ch, &format!("@{} again", w.bob_name)).await;
    }
    let unread = w.bob.get(&format!("/users/me/teams/{}/unread", w.team)).await.expect(200).body;
    assert_eq!((unread["msg_count"].as_i64(), unread["mention_count"].as_i64()), (Some(2), Some(2)));
    w.bob.put(&format!("/users/me/teams/{}/read", w.team), json!({})).await.expect(200);
    let unread = w.bob.get(&format!("/users/me/teams/{}/unread", w.team)).await.expect(200).body;
    assert_eq!((unread["msg_count"].as_i64(), unread["mention_count"].as_i64()), (Some(0), Some(0)));
    check(w.bob.post("/channels/members/me/mark_read", json!([])).await, 400, "no channels");
    check(w.bob.post("/channels/members/me/mark_read", json!(["x"])).await, 400, "a malformed id");
    let outsider = w.s.client().new_user("out").await.0;
    check(outsider.put(&format!("/users/me/teams/{}/read", w.team), json!({})).await, 403, "not in the team");
}

#[actix_web::test]
async fn mark_unread_from_a_post_recounts_and_tells_the_other_sessions() {
    let w = world().await;
    let mut ids = Vec::new();
    for n in 0..6 {
        let msg = if n == 4 { format!("@{} here's one", w.bob_name) } else { format!("p{n}") };
        ids.push(w.alice.create_post(&w.ch, &msg).await["id"].as_str().unwrap().to_owned());
    }
    w.bob.create_post(&w.ch, "my own, not a mention").await;
    view(&w.bob, &w.ch).await;
    let mut other = Ws::connect(&w.s.url(), w.bob.token.as_deref().unwrap()).await;
    assert_eq!(other.event().await["event"], "hello");
    let r = w
        .bob
        .post(&format!("/users/me/posts/{}/set_unread", ids[3]), json!({"collapsed_threads_supported": true}))
        .await
        .expect(200)
        .body;
    for k in [
        "team_id",
        "channel_id",
        "msg_count",
        "msg_count_root",
        "mention_count",
        "mention_count_root",
        "urgent_mention_count",
        "last_viewed_at",
    ] {
        assert!(r.get(k).is_some(), "ChannelUnreadAt has {k}: {r}");
    }
    assert_eq!(r["mention_count"], 1);
    assert_eq!(counts(&w.bob, &w.ch).await, (4, 1), "p3, p4, p5 and bob's own are after the mark");
    let (ev, _) = other.until_event("post_unread").await;
    assert_eq!(ev["broadcast"]["channel_id"], w.ch.as_str());
    assert_eq!(ev["data"]["mention_count"], 1);
    assert_eq!(ev["data"]["post_id"], ids[3].as_str());
    let list = w
        .bob
        .get(&format!("/users/me/channels/{}/posts/unread?limit_before=0&limit_after=1", w.ch))
        .await
        .expect(200)
        .body;
    assert_eq!(order(&list), vec![ids[3].clone()], "the unread mark is just before the post");
    // Bad input.
    check(
        w.bob.post(&format!("/users/me/posts/{}/set_unread", starling_protocol::new_id()), json!({})).await,
        404,
        "unknown post",
    );
    check(w.bob.post("/users/me/posts/bad/set_unread", json!({})).await, 400, "malformed post id");
    check(w.carol.post(&format!("/users/me/posts/{}/set_unread", ids[3]), json!({})).await, 403, "not a member");
    check(
        w.carol.post(&format!("/users/{}/posts/{}/set_unread", w.bob_id, ids[3]), json!({})).await,
        403,
        "someone else's",
    );
}
