//! Tokens and bots across a three-node cluster: a token revoked, and a bot disabled, on node 1 is
//! refused on nodes 2 and 3 in the very next request, though they had it in their session caches.

mod common;
use common::cluster::ClusterProcs;
use serde_json::json;

#[actix_web::test]
async fn a_token_revoked_and_a_bot_disabled_on_one_node_are_refused_on_the_other_at_once() {
    let c = ClusterProcs::start(
        3,
        &[
            ("MM_SERVICESETTINGS_ENABLEUSERACCESSTOKENS", "true"),
            ("MM_SERVICESETTINGS_ENABLEBOTACCOUNTCREATION", "true"),
        ],
    )
    .await;
    let (n1, n2, n3) = (c.client(0), c.client(1), c.client(2));
    let (admin, _) = n1.new_user("admin").await;
    assert!(c.all_green(&admin).await, "the nodes see each other");

    // A user's token, used on node 2 (so node 2 caches its session), revoked on node 1.
    let made = admin.post("/users/me/tokens", json!({"description": "ci"})).await.expect(200).body;
    let on_n2 = n2.with_token(made["token"].as_str().unwrap());
    let on_n3 = n3.with_token(made["token"].as_str().unwrap());
    on_n2.get("/users/me").await.expect(200);
    on_n2.get("/users/me").await.expect(200);
    on_n3.get("/users/me").await.expect(200);
    admin.post("/users/tokens/revoke", json!({"token_id": made["id"]})).await.expect(200);
    on_n2.get("/users/me").await.expect(401);
    on_n3.get("/users/me").await.expect(401);

    // Disabled on node 1 works the same way.
    let made = admin.post("/users/me/tokens", json!({"description": "ci2"})).await.expect(200).body;
    let on_n2 = n2.with_token(made["token"].as_str().unwrap());
    on_n2.get("/users/me").await.expect(200);
    admin.post("/users/tokens/disable", json!({"token_id": made["id"]})).await.expect(200);
    on_n2.get("/users/me").await.expect(401);

    // A bot's token, used on node 2, refused there once the bot is disabled on node 1.
    let bot = admin.post("/bots", json!({"username": "clusterbot"})).await.expect(201).body;
    let bot_id = bot["user_id"].as_str().unwrap();
    let token = admin.post(&format!("/users/{bot_id}/tokens"), json!({"description": "bot"})).await.expect(200).body;
    let bot_n2 = n2.with_token(token["token"].as_str().unwrap());
    let bot_n3 = n3.with_token(token["token"].as_str().unwrap());
    assert_eq!(bot_n2.get("/users/me").await.expect(200).body["is_bot"], true);
    bot_n3.get("/users/me").await.expect(200);
    admin.post(&format!("/bots/{bot_id}/disable"), json!({})).await.expect(200);
    bot_n2.get("/users/me").await.expect(401);
    bot_n3.get("/users/me").await.expect(401);
    // Enabled on node 1: node 2 takes the token again.
    admin.post(&format!("/bots/{bot_id}/enable"), json!({})).await.expect(200);
    bot_n2.get("/users/me").await.expect(200);
}
