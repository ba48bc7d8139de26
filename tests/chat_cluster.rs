//! Everyday chat across a two-node cluster: what a user does on node 1 is seen on node 2 at once,
//! and its events reach the other user's (and the same user's) websockets there: posts and
//! mentions, a new DM and its first post, a new channel membership, views and unread marks,
//! preferences, categories, channel edits and role changes (a system role takes effect on the
//! other node's cached session at once).

mod common;
use common::cluster::ClusterProcs;
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
async fn chat_on_one_node_is_seen_and_heard_on_the_other() {
    let c = ClusterProcs::start(2, &[]).await;
    let (n1, n2) = (c.client(0), c.client(1));
    let (admin, _) = n1.new_user("admin").await;
    let (alice, alice_id) = n1.new_user("alice").await;
    let (bob_id, bob_name) = n1.create_user("bob").await;
    let bob2 = n2.login(&bob_name).await; // bob works on node 2
    let bob1 = bob2.clone_to(&c.nodes[0].url()); // the same session, through node 1
    assert!(c.all_green(&admin).await, "the nodes see each other");
    let team = alice.create_team(true).await;
    alice.post(&format!("/teams/{team}/members"), json!({"user_id": bob_id})).await.expect(201);
    let town = alice.get(&format!("/teams/{team}/channels/name/town-square")).await.expect(200).id();
    let token = bob2.token.clone().unwrap();
    let mut bob_ws2 = Ws::connect(&c.nodes[1].url(), &token).await;
    assert_eq!(bob_ws2.event().await["event"], "hello");
    let mut bob_ws1 = Ws::connect(&c.nodes[0].url(), &token).await;
    assert_eq!(bob_ws1.event().await["event"], "hello");

    // A mention on node 1: node 2 has the count, bob's socket there the event with `mentions`.
    let p = alice.create_post(&town, &format!("hi @{bob_name}")).await;
    let ev = until_post(&mut bob_ws2, p["id"].as_str().unwrap()).await;
    assert!(ev["data"]["mentions"].as_str().unwrap().contains(&bob_id));
    let m = bob2.get(&format!("/channels/{town}/members/me")).await.expect(200).body;
    assert_eq!(m["mention_count"], 1);
    let unread = bob2.get("/users/me/teams/unread").await.expect(200).body;
    assert_eq!(unread[0]["mention_count"], 1);

    // Viewing on node 2 reaches bob's socket on node 1.
    bob2.post("/channels/members/me/view", json!({"channel_id": town})).await.expect(200);
    let (ev, _) = bob_ws1.until_event("multiple_channels_viewed").await;
    assert!(ev["data"]["channel_times"].get(&town).is_some());
    assert_eq!(bob1.get(&format!("/channels/{town}/members/me")).await.expect(200).body["mention_count"], 0);

    // Marking unread on node 1 reaches node 2.
    bob1.post(&format!("/users/me/posts/{}/set_unread", p["id"].as_str().unwrap()), json!({})).await.expect(200);
    let (ev, _) = bob_ws2.until_event("post_unread").await;
    assert_eq!(ev["data"]["mention_count"], 1);

    // A DM made on node 1: bob hears direct_added on node 2, and its first post right after.
    let dm = alice.post("/channels/direct", json!([alice_id, bob_id])).await.expect(201).id();
    let (ev, _) = bob_ws2.until_event("direct_added").await;
    assert_eq!(ev["broadcast"]["channel_id"], dm.as_str());
    let p = alice.create_post(&dm, "psst").await;
    until_post(&mut bob_ws2, p["id"].as_str().unwrap()).await;
    assert_eq!(bob2.get(&format!("/channels/{dm}/members/me")).await.expect(200).body["mention_count"], 1);

    // Added to a channel on node 1: its posts reach bob on node 2.
    let ch = alice.create_channel(&team, true).await;
    alice.post(&format!("/channels/{ch}/members"), json!({"user_id": bob_id})).await.expect(201);
    let p = alice.create_post(&ch, "welcome").await;
    until_post(&mut bob_ws2, p["id"].as_str().unwrap()).await;

    // A channel edit on node 1.
    alice.put(&format!("/channels/{ch}/patch"), json!({"purpose": "cluster"})).await.expect(200);
    let (ev, _) = bob_ws2.until_event("channel_updated").await;
    assert!(ev["data"]["channel"].as_str().unwrap().contains("cluster"));
    assert_eq!(bob2.get(&format!("/channels/{ch}")).await.expect(200).body["purpose"], "cluster");

    // Preferences saved on node 2 reach bob's socket on node 1.
    let prefs = json!([{"user_id": bob_id, "category": "direct_channel_show", "name": alice_id, "value": "true"}]);
    bob2.put("/users/me/preferences", prefs).await.expect(200);
    let (ev, _) = bob_ws1.until_event("preferences_changed").await;
    assert!(ev["data"]["preferences"].as_str().unwrap().contains("direct_channel_show"));
    assert_eq!(bob1.get("/users/me/preferences").await.expect(200).body.as_array().unwrap().len(), 1);

    // Favouriting on node 1 reaches node 2.
    let base = format!("/users/me/teams/{team}/channels/categories");
    let cats = bob1.get(&base).await.expect(200).body;
    let mut fav = cats["categories"][0].clone();
    assert_eq!(fav["type"], "favorites");
    fav["channel_ids"] = json!([ch]);
    bob1.put(&base, json!([fav])).await.expect(200);
    let (ev, _) = bob_ws2.until_event("sidebar_category_updated").await;
    assert!(ev["data"]["updatedCategories"].as_str().unwrap().contains(&ch));
    assert_eq!(bob2.get(&base).await.expect(200).body["categories"][0]["channel_ids"], json!([ch]));

    // A channel role change on node 1.
    alice
        .put(&format!("/channels/{ch}/members/{bob_id}/roles"), json!({"roles": "channel_user channel_admin"}))
        .await
        .expect(200);
    let (ev, _) = bob_ws2.until_event("channel_member_updated").await;
    assert!(ev["data"]["channelMember"].as_str().unwrap().contains("channel_admin"));

    // A system role change on node 1 holds at once for bob's session cached on node 2.
    check(bob2.get("/config").await, 403, "not an admin yet");
    admin.put(&format!("/users/{bob_id}/roles"), json!({"roles": "system_user system_admin"})).await.expect(200);
    bob2.get("/config").await.expect(200);
    let (ev, _) = bob_ws2.until_event("user_role_updated").await;
    assert_eq!(ev["data"]["roles"], "system_user system_admin");
    admin.put(&format!("/users/{bob_id}/roles"), json!({"roles": "system_user"})).await.expect(200);
    check(bob2.get("/config").await, 403, "demoted on every node at once");
}
