//! Personal access tokens and bot accounts on one node: every endpoint, its permissions and its
//! errors, and a token used as a session (API and websocket).

mod common;
use common::ws::Ws;
use common::*;
use serde_json::{json, Value};

async fn server() -> TestServer {
    TestServer::start_with(|c| {
        c.service_settings.enable_user_access_tokens = true;
        c.service_settings.enable_bot_account_creation = true;
    })
    .await
}

/// A logged-in system admin (the first user) and the server.
async fn first_admin(s: &TestServer) -> (Client, String) {
    s.client().new_user("admin").await
}

#[actix_web::test]
async fn tokens_are_refused_while_the_feature_is_off() {
    let s = TestServer::start().await;
    let (admin, _) = first_admin(&s).await;
    let r = admin.post("/users/me/tokens", json!({"description": "ci"})).await.expect(501);
    assert_eq!(r.body["id"], "app.user_access_token.disabled");
    // A token made while the feature was on is refused while it is off.
    s.db.client()
        .await
        .execute(
            "INSERT INTO user_access_tokens (id, token_hash, user_id, description, is_active, create_at) \
             SELECT $1, $2, id, 'x', true, 0 FROM users LIMIT 1",
            &[&starling_protocol::new_id(), &starling::store::token_hash("abcdefghijklmnopqrstuvwxyz")],
        )
        .await
        .unwrap();
    s.client().with_token("abcdefghijklmnopqrstuvwxyz").get("/users/me").await.expect(401);
}

#[actix_web::test]
async fn a_token_is_shown_once_used_like_a_session_and_refused_once_disabled_or_revoked() {
    let s = server().await;
    let (admin, admin_id) = first_admin(&s).await;
    let made = admin.post("/users/me/tokens", json!({"description": "deploys"})).await.expect(200).body;
    let token = made["token"].as_str().expect("the token, once").to_owned();
    let token_id = made["id"].as_str().unwrap().to_owned();
    assert_eq!((made["user_id"].as_str(), made["description"].as_str()), (Some(admin_id.as_str()), Some("deploys")));
    assert_eq!(made["is_active"], true);

    // Only its hash is kept.
    let plain = count(&s, &format!("SELECT count(*) FROM user_access_tokens WHERE token_hash = '{token}'")).await;
    assert_eq!(plain, 0, "the token itself is not stored");

    // Used as a bearer token, and on the websocket.
    let bot = s.client().with_token(&token);
    assert_eq!(bot.get("/users/me").await.expect(200).body["id"], admin_id.as_str());
    let mut ws = Ws::connect(&s.url(), &token).await;
    assert_eq!(ws.event().await["event"], "hello");

    // Listed without the secret, by user and by id, and found by search.
    let list = admin.get("/users/me/tokens").await.expect(200).body;
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert!(list[0].get("token").is_none(), "no secret in a listing: {list}");
    let one = admin.get(&format!("/users/tokens/{token_id}")).await.expect(200).body;
    assert!(one.get("token").is_none());
    assert_eq!(admin.get("/users/tokens").await.expect(200).body.as_array().map(Vec::len), Some(1));
    let username = admin.get("/users/me").await.expect(200).body["username"].as_str().unwrap().to_owned();
    let found = admin.post("/users/tokens/search", json!({"term": &username[..4]})).await.expect(200).body;
    assert_eq!(found[0]["id"], token_id.as_str());
    let none = admin.post("/users/tokens/search", json!({"term": "zzzz_no_one"})).await.expect(200).body;
    assert_eq!(none, json!([]));

    // Disabled: refused at once; enabled again: accepted.
    admin.post("/users/tokens/disable", json!({"token_id": token_id})).await.expect(200);
    bot.get("/users/me").await.expect(401);
    assert_eq!(admin.get(&format!("/users/tokens/{token_id}")).await.expect(200).body["is_active"], false);
    admin.post("/users/tokens/enable", json!({"token_id": token_id})).await.expect(200);
    bot.get("/users/me").await.expect(200);

    // Revoked: refused, and gone.
    admin.post("/users/tokens/revoke", json!({"token_id": token_id})).await.expect(200);
    bot.get("/users/me").await.expect(401);
    admin.get(&format!("/users/tokens/{token_id}")).await.expect(404);
    admin.post("/users/tokens/revoke", json!({"token_id": token_id})).await.expect(404);
    // The admin's own login session is untouched.
    admin.get("/users/me").await.expect(200);
}

#[actix_web::test]
async fn token_permissions_follow_mattermost_roles() {
    let s = server().await;
    let (admin, admin_id) = first_admin(&s).await;
    let (user, user_id) = s.client().new_user("plain").await;
    // A plain user holds none of the token permissions.
    user.post("/users/me/tokens", json!({"description": "x"})).await.expect(403);
    user.get("/users/me/tokens").await.expect(403);
    user.get("/users/tokens").await.expect(403);
    user.post("/users/tokens/search", json!({"term": "a"})).await.expect(403);

    // With system_user_access_token they manage their own tokens, and no one else's.
    admin
        .put(&format!("/users/{user_id}/roles"), json!({"roles": "system_user system_user_access_token"}))
        .await
        .expect(200);
    let mine = user.post("/users/me/tokens", json!({"description": "mine"})).await.expect(200).body;
    assert_eq!(user.get(&format!("/users/{user_id}/tokens")).await.expect(200).body.as_array().map(Vec::len), Some(1));
    user.post(&format!("/users/{admin_id}/tokens"), json!({"description": "theirs"})).await.expect(403);
    user.get(&format!("/users/{admin_id}/tokens")).await.expect(403);
    user.get("/users/tokens").await.expect(403);
    let admins = admin.post("/users/me/tokens", json!({"description": "admin"})).await.expect(200).body;
    user.get(&format!("/users/tokens/{}", admins["id"].as_str().unwrap())).await.expect(403);
    user.post("/users/tokens/revoke", json!({"token_id": admins["id"]})).await.expect(403);

    // A system admin may make and revoke anyone's.
    let theirs = admin.post(&format!("/users/{user_id}/tokens"), json!({"description": "by admin"})).await.expect(200);
    assert_eq!(theirs.body["user_id"], user_id.as_str());
    admin.post("/users/tokens/revoke", json!({"token_id": mine["id"]})).await.expect(200);

    // A deactivated user's tokens stop working.
    let t = theirs.body["token"].as_str().unwrap().to_owned();
    s.client().with_token(&t).get("/users/me").await.expect(200);
    admin.delete(&format!("/users/{user_id}")).await.expect(200);
    s.client().with_token(&t).get("/users/me").await.expect(401);
    admin.post(&format!("/users/{user_id}/tokens"), json!({"description": "late"})).await.expect(400);
}

#[actix_web::test]
async fn bad_token_requests_are_400_or_404() {
    let s = server().await;
    let (admin, _) = first_admin(&s).await;
    for body in [json!({}), json!({"description": ""}), json!({"description": "x".repeat(256)})] {
        admin.post("/users/me/tokens", body).await.expect(400);
    }
    send_raw(&admin, reqwest::Method::POST, "/users/me/tokens", "{not json").await.expect(400);
    admin.post("/users/tokens/revoke", json!({})).await.expect(400);
    admin.post("/users/tokens/disable", json!({"token_id": "short"})).await.expect(400);
    admin.get("/users/tokens/short").await.expect(400);
    admin.get(&format!("/users/tokens/{}", starling_protocol::new_id())).await.expect(404);
    admin
        .post(&format!("/users/{}/tokens", starling_protocol::new_id()), json!({"description": "x"}))
        .await
        .expect(404);
    admin.post("/users/tokens/search", json!({"term": ""})).await.expect(400);
    s.client().with_token(&"x".repeat(26)).get("/users/me").await.expect(401);
}

async fn make_bot(admin: &Client, username: &str) -> Value {
    admin
        .post("/bots", json!({"username": username, "display_name": "Build Bot", "description": "builds"}))
        .await
        .expect(201)
        .body
}

#[actix_web::test]
async fn bot_creation_needs_the_setting_and_create_bot() {
    let s = TestServer::start().await;
    let (admin, _) = first_admin(&s).await;
    let r = admin.post("/bots", json!({"username": "nobot"})).await.expect(403);
    assert_eq!(r.body["id"], "api.bot.create_disabled");

    let s = server().await;
    let (admin, _) = first_admin(&s).await;
    let (user, _) = s.client().new_user("plain").await;
    user.post("/bots", json!({"username": "userbot"})).await.expect(403);
    user.get("/bots").await.expect(403);
    for bad in [json!({}), json!({"username": "a"}), json!({"username": "all"}), json!({"username": 5})] {
        admin.post("/bots", bad).await.expect(400);
    }
    admin.post("/bots", json!({"username": "descbot", "description": "d".repeat(1025)})).await.expect(400);
    make_bot(&admin, "twicebot").await;
    let r = admin.post("/bots", json!({"username": "twicebot"})).await.expect(400);
    assert_eq!(r.body["id"], "app.user.save.username_exists.app_error");
}

#[actix_web::test]
async fn a_bot_is_a_user_that_posts_with_its_token_until_disabled() {
    let s = server().await;
    let (admin, admin_id) = first_admin(&s).await;
    let bot = make_bot(&admin, "buildbot").await;
    let bot_id = bot["user_id"].as_str().unwrap().to_owned();
    assert_eq!((bot["username"].as_str(), bot["display_name"].as_str()), (Some("buildbot"), Some("Build Bot")));
    assert_eq!((bot["owner_id"].as_str(), bot["delete_at"].as_i64()), (Some(admin_id.as_str()), Some(0)));

    // The user behind it.
    let user = admin.get(&format!("/users/{bot_id}")).await.expect(200).body;
    assert_eq!((user["is_bot"].as_bool(), user["bot_description"].as_str()), (Some(true), Some("builds")));
    // No password: it cannot log in.
    s.client().post("/users/login", json!({"login_id": "buildbot", "password": ""})).await.expect(400);
    s.client().post("/users/login", json!({"login_id": "buildbot", "password": "x"})).await.expect(401);

    // Read and patched.
    assert_eq!(admin.get(&format!("/bots/{bot_id}")).await.expect(200).body["user_id"], bot_id.as_str());
    assert_eq!(admin.get("/bots").await.expect(200).body.as_array().map(Vec::len), Some(1));
    let patched = admin.put(&format!("/bots/{bot_id}"), json!({"description": "ships"})).await.expect(200).body;
    assert_eq!((patched["description"].as_str(), patched["username"].as_str()), (Some("ships"), Some("buildbot")));

    // It takes a token and posts with it.
    let token = admin.post(&format!("/users/{bot_id}/tokens"), json!({"description": "ci"})).await.expect(200).body;
    let bot_client = s.client().with_token(token["token"].as_str().unwrap());
    let team = admin.create_team(true).await;
    admin.post(&format!("/teams/{team}/members"), json!({"user_id": bot_id})).await.expect(201);
    let town = admin.get(&format!("/teams/{team}/channels/name/town-square")).await.expect(200).id();
    let post = bot_client.create_post(&town, "build green").await;
    assert_eq!(post["user_id"], bot_id.as_str());

    // Disabled: its token is refused at once, and it leaves the default listing.
    let disabled = admin.post(&format!("/bots/{bot_id}/disable"), json!({})).await.expect(200).body;
    assert!(disabled["delete_at"].as_i64().unwrap() > 0);
    bot_client.get("/users/me").await.expect(401);
    assert_eq!(admin.get("/bots").await.expect(200).body, json!([]));
    assert_eq!(admin.get("/bots?include_deleted=true").await.expect(200).body.as_array().map(Vec::len), Some(1));
    admin.get(&format!("/bots/{bot_id}")).await.expect(404);
    admin.get(&format!("/bots/{bot_id}?include_deleted=true")).await.expect(200);

    // Enabled: the same token works again.
    admin.post(&format!("/bots/{bot_id}/enable"), json!({})).await.expect(200);
    bot_client.get("/users/me").await.expect(200);
}

#[actix_web::test]
async fn bots_change_owner_and_become_orphans() {
    let s = server().await;
    let (admin, _) = first_admin(&s).await;
    let (_, user_id) = s.client().new_user("owner").await;
    let bot = make_bot(&admin, "ownedbot").await;
    let other = make_bot(&admin, "otherbot").await;
    let bot_id = bot["user_id"].as_str().unwrap();
    let assigned = admin.post(&format!("/bots/{bot_id}/assign/{user_id}"), json!({})).await.expect(200).body;
    assert_eq!(assigned["owner_id"], user_id.as_str());
    let to_bot = admin.post(&format!("/bots/{bot_id}/assign/{}", other["user_id"].as_str().unwrap()), json!({})).await;
    to_bot.expect(400);
    admin.post(&format!("/bots/{bot_id}/assign/{}", starling_protocol::new_id()), json!({})).await.expect(404);

    assert_eq!(admin.get("/bots?only_orphaned=true").await.expect(200).body, json!([]));
    admin.delete(&format!("/users/{user_id}")).await.expect(200);
    let orphans = admin.get("/bots?only_orphaned=true").await.expect(200).body;
    assert_eq!(orphans.as_array().map(Vec::len), Some(1));
    assert_eq!(orphans[0]["user_id"], bot_id);

    // Errors: malformed and unknown ids.
    admin.get("/bots/short").await.expect(400);
    admin.get(&format!("/bots/{}", starling_protocol::new_id())).await.expect(404);
    admin.post(&format!("/bots/{}/disable", starling_protocol::new_id()), json!({})).await.expect(404);
    admin.put(&format!("/bots/{bot_id}"), json!({"username": "Bad Name"})).await.expect(400);
    admin.put(&format!("/bots/{bot_id}"), json!({"username": "otherbot"})).await.expect(400);
}
