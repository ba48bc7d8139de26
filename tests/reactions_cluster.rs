//! Reactions, pins and custom emoji across a two-node cluster: what a user does on node 1 reaches
//! the other user's websocket on node 2, and node 2 reads it (reactions in metadata, the emoji
//! image from the shared file store) at once.

mod common;
use common::cluster::ClusterProcs;
use common::ws::Ws;
use common::*;
use serde_json::{json, Value};

#[actix_web::test]
async fn reactions_pins_and_emoji_made_on_one_node_reach_the_other() {
    let c = ClusterProcs::start(2, &[("MM_SERVICESETTINGS_ENABLECUSTOMEMOJI", "true")]).await;
    let (n1, n2) = (c.client(0), c.client(1));
    let (alice, alice_id) = n1.new_user("alice").await;
    let (bob_id, bob_name) = n1.create_user("bob").await;
    let bob2 = n2.login(&bob_name).await;
    assert!(c.all_green(&alice).await, "the nodes see each other");
    let team = alice.create_team(true).await;
    alice.post(&format!("/teams/{team}/members"), json!({"user_id": bob_id})).await.expect(201);
    let town = alice.get(&format!("/teams/{team}/channels/name/town-square")).await.expect(200).id();
    let mut ws = Ws::connect(&c.nodes[1].url(), bob2.token.as_deref().unwrap()).await;
    assert_eq!(ws.event().await["event"], "hello");
    let pid = alice.create_post(&town, "cluster").await["id"].as_str().unwrap().to_owned();

    // A custom emoji uploaded on node 1: announced on node 2, its image served there.
    let image = png_header(32, 32);
    let emoji = upload_emoji(&alice, json!({"name": "starling", "creator_id": alice_id}), Some(image.clone()))
        .await
        .expect(200)
        .body;
    let (ev, _) = ws.until_event("emoji_added").await;
    let sent: Value = serde_json::from_str(ev["data"]["emoji"].as_str().unwrap()).unwrap();
    assert_eq!(sent["id"], emoji["id"]);
    let img = bob2.get(&format!("/emoji/{}/image", emoji["id"].as_str().unwrap())).await.expect(200);
    assert_eq!(img.bytes, image);

    // A reaction with it on node 1 reaches bob's socket on node 2; node 2's post has it.
    let reaction = json!({"user_id": alice_id, "post_id": pid, "emoji_name": "starling"});
    alice.post("/reactions", reaction).await.expect(200);
    let (ev, _) = ws.until_event("reaction_added").await;
    assert_eq!(ev["broadcast"]["channel_id"], town.as_str());
    let sent: Value = serde_json::from_str(ev["data"]["reaction"].as_str().unwrap()).unwrap();
    assert_eq!(sent["emoji_name"], "starling");
    let post = bob2.get(&format!("/posts/{pid}")).await.expect(200).body;
    assert_eq!(post["metadata"]["reactions"][0]["user_id"], alice_id.as_str());
    assert_eq!(post["metadata"]["emojis"][0]["name"], "starling");

    // Bob reacts on node 2; alice reads both on node 1.
    bob2.post("/reactions", json!({"user_id": bob_id, "post_id": pid, "emoji_name": "+1"})).await.expect(200);
    let list = alice.get(&format!("/posts/{pid}/reactions")).await.expect(200).body;
    assert_eq!(list.as_array().unwrap().len(), 2);

    // Removed on node 1: reaction_removed on node 2.
    alice.delete(&format!("/users/me/posts/{pid}/reactions/starling")).await.expect(200);
    let (ev, _) = ws.until_event("reaction_removed").await;
    assert!(ev["data"]["reaction"].as_str().unwrap().contains("starling"));

    // Pinned on node 1: post_edited on node 2, and node 2 lists it.
    alice.post(&format!("/posts/{pid}/pin"), json!({})).await.expect(200);
    let (ev, _) = ws.until_event("post_edited").await;
    let edited: Value = serde_json::from_str(ev["data"]["post"].as_str().unwrap()).unwrap();
    assert_eq!(edited["is_pinned"], true);
    assert_eq!(edited["metadata"]["reactions"][0]["emoji_name"], "+1", "post_edited carries the metadata");
    let pinned = bob2.get(&format!("/channels/{town}/pinned")).await.expect(200).body;
    assert_eq!(pinned["order"], json!([pid]));
}
