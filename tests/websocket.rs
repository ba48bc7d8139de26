//! The websocket: auth, hello, seq, actions, events and their filtering, resume, slow consumers.

mod common;
use common::ws::{Got, Ws};
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

/// A server with a team and channel; `alice` (admin) and `bob` are members.
struct Room {
    s: TestServer,
    alice: Client,
    alice_id: String,
    bob: Client,
    bob_id: String,
    team: String,
    channel: String,
}

async fn room() -> Room {
    let s = TestServer::start().await;
    let (alice, alice_id) = s.client().new_user("alice").await;
    let (bob, bob_id) = s.client().new_user("bob").await;
    let team = alice.create_team(true).await;
    alice.post(&format!("/teams/{team}/members"), json!({"team_id": team, "user_id": bob_id})).await.expect(201);
    let channel = alice.create_channel(&team, false).await;
    alice.post(&format!("/channels/{channel}/members"), json!({"user_id": bob_id})).await.expect(201);
    Room { s, alice, alice_id, bob, bob_id, team, channel }
}

fn token(c: &Client) -> String {
    c.token.clone().unwrap()
}

fn post_of(event: &Value) -> Value {
    serde_json::from_str(event["data"]["post"].as_str().expect("data.post is a JSON string")).unwrap()
}

async fn hello(ws: &mut Ws) -> Value {
    let h = ws.event().await;
    assert_eq!(h["event"], "hello", "{h}");
    assert_eq!(h["seq"], 0);
    h
}

#[actix_web::test]
async fn header_auth_gets_hello_first_with_seq_zero() {
    let r = room().await;
    let mut ws = Ws::connect(&r.s.url(), &token(&r.bob)).await;
    let h = ws.json().await;
    assert_eq!(h["event"], "hello");
    assert_eq!(h["seq"], 0);
    assert_eq!(h["data"]["connection_id"].as_str().unwrap().len(), 26);
    assert!(h["data"]["server_hostname"].is_string());
    assert_eq!(h["broadcast"]["user_id"], r.bob_id);
}

#[actix_web::test]
async fn cookie_auth_works_and_bad_token_is_refused() {
    let r = room().await;
    let mut ws =
        Ws::connect_with(&r.s.url(), "", &[("Cookie", format!("MMAUTHTOKEN={}", token(&r.bob)))]).await.unwrap();
    hello(&mut ws).await;
    let err = Ws::connect_with(&r.s.url(), "", &[("Authorization", "Bearer nosuchtokennosuchtokenxxxx".into())]).await;
    assert!(err.err().unwrap().contains("401"));
}

#[actix_web::test]
async fn challenge_auth_then_hello() {
    let r = room().await;
    let mut ws = Ws::connect_with(&r.s.url(), "", &[]).await.unwrap();
    // Before authenticating, actions are refused.
    let seq = ws.action("ping", json!({})).await;
    let (reply, _) = ws.reply(seq).await;
    assert_eq!(reply["status"], "FAIL");
    let seq = ws.action("authentication_challenge", json!({"token": "bogusbogusbogusbogusbogusb"})).await;
    assert_eq!(ws.reply(seq).await.0["status"], "FAIL");
    let seq = ws.action("authentication_challenge", json!({"token": token(&r.bob)})).await;
    // As in Mattermost: the hello first, then the challenge's OK (mattermostdriver waits for the
    // hello and counts anything else first as a failed authentication).
    let first = ws.json().await;
    assert_eq!(first["event"], "hello", "hello comes before the OK: {first}");
    assert_eq!(first["seq"], 0);
    assert!(first["data"]["server_version"].as_str().is_some_and(|v| v.starts_with("10.11.0.")), "{first}");
    let (reply, before) = ws.reply(seq).await;
    assert!(before.is_empty(), "nothing between the hello and the OK: {before:?}");
    assert_eq!(reply, json!({"status": "OK", "seq_reply": seq}));
}

#[actix_web::test]
async fn unauthenticated_socket_is_closed_after_five_seconds() {
    let r = room().await;
    let mut ws = Ws::connect_with(&r.s.url(), "", &[]).await.unwrap();
    let started = std::time::Instant::now();
    match ws.next(Duration::from_secs(10)).await {
        Got::Closed(code) => assert_eq!(code, Some(1008)),
        other => panic!("expected a close, got {other:?}"),
    }
    assert!(started.elapsed() >= Duration::from_secs(4), "not closed before the grace period");
}

#[actix_web::test]
async fn actions_get_replies_and_unknown_ones_an_error() {
    let r = room().await;
    let mut ws = Ws::connect(&r.s.url(), &token(&r.bob)).await;
    hello(&mut ws).await;
    let seq = ws.action("ping", json!({})).await;
    let (reply, _) = ws.reply(seq).await;
    assert_eq!(reply["status"], "OK");
    assert_eq!(reply["data"]["text"], "pong");
    assert!(reply["data"]["server_time"].as_i64().unwrap() > 0);
    assert!(reply["data"]["version"].is_string());
    assert_eq!(reply["data"]["node_id"], r.s.node.node_id);
    for (action, data) in [
        ("get_statuses", json!({})),
        ("get_statuses_by_ids", json!({"user_ids": [r.alice_id, r.bob_id]})),
        ("user_update_active_status", json!({"user_is_active": true, "manual": false})),
        ("presence", json!({"channelID": r.channel})),
    ] {
        let seq = ws.action(action, data).await;
        let (reply, _) = ws.reply(seq).await;
        assert_eq!(reply["status"], "OK", "{action}: {reply}");
    }
    let seq = ws.action("get_statuses_by_ids", json!({"user_ids": [r.bob_id]})).await;
    assert_eq!(ws.reply(seq).await.0["data"][&r.bob_id], "online");
    let seq = ws.action("get_statuses_by_ids", json!({"user_ids": "nope"})).await;
    assert_eq!(ws.reply(seq).await.0["status"], "FAIL");
    let seq = ws.action("fly_to_the_moon", json!({})).await;
    let (reply, _) = ws.reply(seq).await;
    assert_eq!(reply["status"], "FAIL");
    assert!(reply["error"]["id"].is_string());
    // Malformed JSON gets an error, and the socket stays up.
    ws.send_json(json!("just a string")).await;
    ws.stream.send(tokio_tungstenite::tungstenite::Message::Text("{nope".into())).await.unwrap();
    assert_eq!(ws.json().await["status"], "FAIL");
    assert_eq!(ws.json().await["status"], "FAIL");
    let seq = ws.action("ping", json!({})).await;
    assert_eq!(ws.reply(seq).await.0["status"], "OK");
}

use futures_util::SinkExt;

#[actix_web::test]
async fn binary_and_oversize_frames_close_the_socket() {
    let r = room().await;
    let mut ws = Ws::connect(&r.s.url(), &token(&r.bob)).await;
    hello(&mut ws).await;
    ws.stream.send(tokio_tungstenite::tungstenite::Message::Binary(vec![1, 2, 3].into())).await.unwrap();
    assert!(matches!(ws.next(Duration::from_secs(5)).await, Got::Closed(Some(1003))));

    let mut ws = Ws::connect(&r.s.url(), &token(&r.bob)).await;
    hello(&mut ws).await;
    let big = json!({"seq": 1, "action": "ping", "data": {"x": "y".repeat(20_000)}}).to_string();
    let _ = ws.stream.send(tokio_tungstenite::tungstenite::Message::Text(big.into())).await;
    // Events already on their way (a status change) may come first; then the close.
    let mut closed = false;
    for _ in 0..10 {
        match ws.next(Duration::from_secs(5)).await {
            Got::Json(_) => continue,
            Got::Closed(_) => {
                closed = true;
                break;
            }
            Got::Timeout => break,
        }
    }
    assert!(closed, "an oversize frame closes the socket");
    // The node is fine.
    r.bob.get("/users/me").await.expect(200);
}

#[actix_web::test]
async fn posted_event_has_mattermost_shape() {
    let r = room().await;
    let mut ws = Ws::connect(&r.s.url(), &token(&r.bob)).await;
    hello(&mut ws).await;
    let post = r.alice.create_post(&r.channel, "hello bob").await;
    let (ev, _) = ws.until_event("posted").await;
    assert_eq!(ev["broadcast"]["channel_id"], r.channel);
    assert_eq!(ev["data"]["channel_type"], "O");
    assert!(ev["data"]["channel_name"].is_string());
    assert!(ev["data"]["channel_display_name"].is_string());
    assert!(ev["data"]["sender_name"].as_str().unwrap().starts_with("@alice"));
    assert_eq!(ev["data"]["team_id"], r.team);
    let p = post_of(&ev);
    assert_eq!(p["id"], post["id"]);
    assert_eq!(p["message"], "hello bob");

    let pid = post["id"].as_str().unwrap();
    r.alice.put(&format!("/posts/{pid}/patch"), json!({"message": "edited"})).await.expect(200);
    let (ev, _) = ws.until_event("post_edited").await;
    assert_eq!(post_of(&ev)["message"], "edited");
    r.alice.delete(&format!("/posts/{pid}")).await.expect(200);
    let (ev, _) = ws.until_event("post_deleted").await;
    assert_eq!(post_of(&ev)["id"], pid);
}

#[actix_web::test]
async fn events_reach_only_members() {
    let r = room().await;
    let (carol, carol_id) = r.s.client().new_user("carol").await;
    r.alice
        .post(&format!("/teams/{}/members", r.team), json!({"team_id": r.team, "user_id": carol_id}))
        .await
        .expect(201);
    let secret = r.alice.create_channel(&r.team, true).await;
    let mut ws = Ws::connect(&r.s.url(), &token(&carol)).await;
    hello(&mut ws).await;
    r.alice.create_post(&secret, "not for carol").await;
    // A marker in town-square, which carol is in: everything before it arrived first.
    let ts = r.alice.get(&format!("/teams/{}/channels/name/town-square", r.team)).await.expect(200).id();
    r.alice.create_post(&ts, "marker").await;
    let (marker, before) = ws.until_event("posted").await;
    assert_eq!(post_of(&marker)["message"], "marker");
    assert!(before.iter().all(|e| e["event"] != "posted"), "{before:?}");
    // Added to the channel: carol hears user_added, then its posts.
    r.alice.post(&format!("/channels/{secret}/members"), json!({"user_id": carol_id})).await.expect(201);
    let (added, _) = ws.until_event("user_added").await;
    assert_eq!(added["data"]["user_id"], carol_id);
    r.alice.create_post(&secret, "now for carol").await;
    let (ev, _) = ws.until_event("posted").await;
    assert_eq!(post_of(&ev)["message"], "now for carol");
    // Removed: carol hears user_removed, and no more posts.
    r.alice.delete(&format!("/channels/{secret}/members/{carol_id}")).await.expect(200);
    // First as a member (who left), then as the one removed.
    let (removed, _) = ws.until_event("user_removed").await;
    assert_eq!(removed["data"]["user_id"], carol_id);
    let (removed, _) = ws.until_event("user_removed").await;
    assert_eq!(removed["data"]["channel_id"], secret);
    r.alice.create_post(&secret, "gone again").await;
    r.alice.create_post(&ts, "marker 2").await;
    let (marker, _) = ws.until_event("posted").await;
    assert_eq!(post_of(&marker)["message"], "marker 2");
}

#[actix_web::test]
async fn membership_events_reach_the_right_users() {
    let r = room().await;
    let (dave, dave_id) = r.s.client().new_user("dave").await;
    let mut dave_ws = Ws::connect(&r.s.url(), &token(&dave)).await;
    hello(&mut dave_ws).await;
    let mut alice_ws = Ws::connect(&r.s.url(), &token(&r.alice)).await;
    hello(&mut alice_ws).await;
    r.alice
        .post(&format!("/teams/{}/members", r.team), json!({"team_id": r.team, "user_id": dave_id}))
        .await
        .expect(201);
    let (ev, _) = dave_ws.until_event("added_to_team").await;
    assert_eq!(ev["data"]["team_id"], r.team);
    let ch = r.alice.create_channel(&r.team, false).await;
    let (ev, _) = alice_ws.until_event("channel_created").await;
    assert_eq!(ev["data"]["channel_id"], ch);
    // Dave joined town-square with the team: its posts reach him.
    let ts = r.alice.get(&format!("/teams/{}/channels/name/town-square", r.team)).await.expect(200).id();
    r.alice.create_post(&ts, "welcome dave").await;
    let (ev, _) = dave_ws.until_event("posted").await;
    assert_eq!(post_of(&ev)["message"], "welcome dave");
}

#[actix_web::test]
async fn typing_reaches_other_members_only() {
    let r = room().await;
    let mut alice_ws = Ws::connect(&r.s.url(), &token(&r.alice)).await;
    hello(&mut alice_ws).await;
    let mut bob_ws = Ws::connect(&r.s.url(), &token(&r.bob)).await;
    hello(&mut bob_ws).await;
    let seq = alice_ws.action("user_typing", json!({"channel_id": r.channel, "parent_id": ""})).await;
    assert_eq!(alice_ws.reply(seq).await.0["status"], "OK");
    let (ev, _) = bob_ws.until_event("typing").await;
    assert_eq!(ev["data"]["user_id"], r.alice_id);
    assert_eq!(ev["broadcast"]["channel_id"], r.channel);
    // Alice does not get her own typing event: a later post arrives with nothing before it.
    r.bob.create_post(&r.channel, "after typing").await;
    let (_, before) = alice_ws.until_event("posted").await;
    assert!(before.iter().all(|e| e["event"] != "typing"), "{before:?}");
    // Typing into a channel one is not in is refused.
    let (eve, _) = r.s.client().new_user("eve").await;
    let mut eve_ws = Ws::connect(&r.s.url(), &token(&eve)).await;
    hello(&mut eve_ws).await;
    let seq = eve_ws.action("user_typing", json!({"channel_id": r.channel})).await;
    assert_eq!(eve_ws.reply(seq).await.0["status"], "FAIL");
}

#[actix_web::test]
async fn seq_is_contiguous_under_concurrent_posters() {
    let r = room().await;
    let mut ws = Ws::connect(&r.s.url(), &token(&r.bob)).await;
    hello(&mut ws).await;
    let mut posters = Vec::new();
    for i in 0..4 {
        let c = if i % 2 == 0 { r.alice.clone() } else { r.bob.clone() };
        let channel = r.channel.clone();
        posters.push(async move {
            for j in 0..15 {
                c.create_post(&channel, &format!("p{i}-{j}")).await;
            }
        });
    }
    futures_util::future::join_all(posters).await;
    let mut seen = std::collections::HashSet::new();
    let mut expected_seq = 1;
    while seen.len() < 60 {
        let ev = ws.event().await;
        assert_eq!(ev["seq"], json!(expected_seq), "{ev}");
        expected_seq += 1;
        if ev["event"] == "posted" {
            assert!(seen.insert(post_of(&ev)["message"].as_str().unwrap().to_owned()), "duplicate {ev}");
        }
    }
}

/// Read events until the post with `message` arrived; returns the connection id from hello and
/// that post's seq.
async fn read_through(ws: &mut Ws, message: &str) -> (String, i64) {
    let h = hello(ws).await;
    let mut last = 0;
    loop {
        let ev = ws.event().await;
        assert_eq!(ev["seq"], json!(last + 1), "contiguous: {ev}");
        last += 1;
        if ev["event"] == "posted" && post_of(&ev)["message"] == message {
            return (h["data"]["connection_id"].as_str().unwrap().to_owned(), last);
        }
    }
}

/// The next `posted` event, checking that seq stays contiguous from `*last` (other events, such as
/// status changes, may come between).
async fn next_post(ws: &mut Ws, last: &mut i64) -> Value {
    loop {
        let ev = ws.event().await;
        assert_ne!(ev["event"], "hello", "no hello: {ev}");
        assert_eq!(ev["seq"], json!(*last + 1), "contiguous: {ev}");
        *last += 1;
        if ev["event"] == "posted" {
            return ev;
        }
    }
}

#[actix_web::test]
async fn resume_replays_missed_events_without_hello() {
    let r = room().await;
    let t = token(&r.bob);
    let mut ws = Ws::connect(&r.s.url(), &t).await;
    for i in 0..3 {
        r.alice.create_post(&r.channel, &format!("before {i}")).await;
    }
    let (conn, mut last) = read_through(&mut ws, "before 2").await;
    ws.close().await;
    // Missed while away.
    for i in 0..5 {
        r.alice.create_post(&r.channel, &format!("missed {i}")).await;
    }
    let mut ws = Ws::resume(&r.s.url(), &t, &conn, last + 1).await;
    for i in 0..5 {
        let ev = next_post(&mut ws, &mut last).await;
        assert_eq!(post_of(&ev)["message"], format!("missed {i}"));
    }
    // Live events continue the same sequence.
    r.alice.create_post(&r.channel, "live").await;
    let ev = next_post(&mut ws, &mut last).await;
    assert_eq!(post_of(&ev)["message"], "live");
}

#[actix_web::test]
async fn resume_with_nothing_missed_sends_nothing() {
    let r = room().await;
    let t = token(&r.bob);
    let mut ws = Ws::connect(&r.s.url(), &t).await;
    r.alice.create_post(&r.channel, "one").await;
    let (conn, mut last) = read_through(&mut ws, "one").await;
    // Resume while the old socket is still open: it is replaced; nothing was missed.
    let mut ws2 = Ws::resume(&r.s.url(), &t, &conn, last + 1).await;
    assert!(matches!(ws2.next(Duration::from_millis(500)).await, Got::Timeout), "nothing to replay");
    assert!(matches!(ws.next(Duration::from_secs(5)).await, Got::Closed(_)), "the replaced socket is closed");
    r.alice.create_post(&r.channel, "two").await;
    let ev = next_post(&mut ws2, &mut last).await;
    assert_eq!(post_of(&ev)["message"], "two");
}

#[actix_web::test]
async fn resume_from_too_old_or_unknown_starts_afresh() {
    let r = room().await;
    let t = token(&r.bob);
    let mut ws = Ws::connect(&r.s.url(), &t).await;
    let conn = hello(&mut ws).await["data"]["connection_id"].as_str().unwrap().to_owned();
    ws.close().await;
    // Another socket of bob's lives on the same hub: once it has the marker post, the hub has
    // queued everything published before it for the closed connection too.
    let mut watcher = Ws::connect(&r.s.url(), &t).await;
    hello(&mut watcher).await;
    // More than the dead queue holds.
    let events = starling_actors::hub::DEAD_QUEUE + 10;
    for i in 0..events {
        r.s.node.state.events.bus().do_send(starling_actors::PublishEvent {
            event: starling_protocol::WsEvent::new(
                "custom_test",
                json!({"i": i}).to_string(),
                starling_protocol::Broadcast { user_id: r.bob_id.clone(), ..Default::default() },
            ),
        });
    }
    r.alice.create_post(&r.channel, "sync").await; // orders after the custom events on the bus
    loop {
        let (ev, _) = watcher.until_event("posted").await;
        if post_of(&ev)["message"] == "sync" {
            break;
        }
    }
    let mut ws = Ws::resume(&r.s.url(), &t, &conn, 1).await;
    let h = ws.event().await;
    assert_eq!(h["event"], "hello", "{h}");
    assert_eq!(h["seq"], 0);
    assert_ne!(h["data"]["connection_id"], conn.as_str());
    let mut ws2 = Ws::resume(&r.s.url(), &t, "yyyyyyyyyyyyyyyyyyyyyyyyyy", 5).await;
    let h = ws2.event().await;
    assert_eq!(h["event"], "hello");
    assert_eq!(h["seq"], 0);
    // Another user's connection id cannot be taken over.
    let mut alice_ws = Ws::resume(&r.s.url(), &token(&r.alice), h["data"]["connection_id"].as_str().unwrap(), 1).await;
    let ah = alice_ws.event().await;
    assert_eq!(ah["event"], "hello");
    assert_ne!(ah["data"]["connection_id"], h["data"]["connection_id"]);
}

#[actix_web::test]
async fn slow_consumer_is_disconnected_while_others_keep_receiving() {
    let r = room().await;
    let t = token(&r.bob);
    let mut slow = Ws::connect(&r.s.url(), &t).await;
    let mut fast = Ws::connect(&r.s.url(), &t).await;
    hello(&mut fast).await;
    let big = "x".repeat(30_000);
    let total = 1500;
    let publisher = r.s.node.state.events.bus().clone();
    let bob = r.bob_id.clone();
    let mut got = 0;
    // Publish in batches while the fast client reads; the slow one never reads.
    for batch in 0..(total / 100) {
        for i in 0..100 {
            publisher.do_send(starling_actors::PublishEvent {
                event: starling_protocol::WsEvent::new(
                    "custom_load",
                    json!({"i": batch * 100 + i, "pad": big}).to_string(),
                    starling_protocol::Broadcast { user_id: bob.clone(), ..Default::default() },
                ),
            });
        }
        while got < (batch + 1) * 100 {
            let ev = fast.event().await;
            if ev["event"] == "custom_load" {
                assert_eq!(ev["data"]["i"], json!(got));
                got += 1;
            }
        }
    }
    assert_eq!(got, total);
    // The slow socket was cut off: reading it now ends before all events arrive.
    let mut slow_got = 0;
    loop {
        match slow.next(Duration::from_secs(5)).await {
            Got::Json(_) => slow_got += 1,
            Got::Closed(_) => break,
            Got::Timeout => panic!("the slow socket is still open after {slow_got} frames"),
        }
    }
    assert!(slow_got < total + 1, "slow consumer got {slow_got}");
}

#[actix_web::test]
async fn logout_closes_that_sessions_sockets() {
    let r = room().await;
    let mut ws = Ws::connect(&r.s.url(), &token(&r.bob)).await;
    hello(&mut ws).await;
    let name = r.bob.get("/users/me").await.body["username"].as_str().unwrap().to_owned();
    let other = r.s.client().login(&name).await;
    let mut other_ws = Ws::connect(&r.s.url(), &token(&other)).await;
    hello(&mut other_ws).await;
    r.bob.post("/users/logout", json!({})).await.expect(200);
    loop {
        match ws.next(Duration::from_secs(5)).await {
            Got::Json(_) => continue,
            Got::Closed(_) => break,
            Got::Timeout => panic!("socket of the revoked session stays open"),
        }
    }
    // The other session's socket is untouched.
    let seq = other_ws.action("ping", json!({})).await;
    assert_eq!(other_ws.reply(seq).await.0["status"], "OK");
}

#[actix_web::test]
async fn status_follows_websocket_presence() {
    let r = room().await;
    let path = format!("/users/{}/status", r.bob_id);
    assert_eq!(r.alice.get(&path).await.expect(200).body["status"], "offline");
    let mut ws = Ws::connect(&r.s.url(), &token(&r.bob)).await;
    hello(&mut ws).await;
    let (ev, _) = ws.until_event("status_change").await;
    assert_eq!(ev["data"]["status"], "online");
    assert!(wait_until(Duration::from_secs(5), || async { r.alice.get(&path).await.body["status"] == "online" }).await);
    let list = r.alice.post("/users/status/ids", json!([r.bob_id, r.alice_id])).await.expect(200);
    assert_eq!(list.body.as_array().unwrap().len(), 2);
    r.alice.post("/users/status/ids", json!(["bad"])).await.expect(400);
    r.bob.put(&path, json!({"user_id": r.bob_id, "status": "dnd"})).await.expect(200);
    r.alice.put(&path, json!({"user_id": r.bob_id, "status": "online"})).await.expect(200); // admin may
    r.bob.put(&format!("/users/{}/status", r.alice_id), json!({"status": "away"})).await.expect(403);
    r.bob.put(&path, json!({"status": "sleepy"})).await.expect(400);
    ws.close().await;
    assert!(
        wait_until(Duration::from_secs(5), || async { r.alice.get(&path).await.body["status"] == "offline" }).await
    );
}
