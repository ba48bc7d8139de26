//! Users, login, logout and authentication against a real node and PostgreSQL.

mod common;
use common::*;
use reqwest::Method;
use serde_json::json;

#[actix_web::test]
async fn first_user_is_admin_and_passwords_never_leave() {
    let s = TestServer::start().await;
    let c = s.client();
    let r = c
        .post("/users", json!({"email": "Boss@Example.com", "username": "Boss", "password": "password-1"}))
        .await
        .expect(201);
    assert_eq!(r.body["roles"], "system_admin system_user");
    assert_eq!(r.body["username"], "boss", "usernames are lowercased");
    assert_eq!(r.body["email"], "boss@example.com");
    assert_eq!(r.body["id"].as_str().unwrap().len(), 26);
    assert!(r.body["create_at"].as_i64().unwrap() > 1_600_000_000_000, "milliseconds");
    assert!(r.body.get("password").is_none());
    let r = c
        .post("/users", json!({"email": "b@example.com", "username": "second", "password": "password-1"}))
        .await
        .expect(201);
    assert_eq!(r.body["roles"], "system_user");
    assert!(!r.bytes.windows(10).any(|w| w == b"password-1"));
    // The stored password is a hash.
    let db = s.db.client().await;
    let stored: String =
        db.query_one("SELECT password FROM users WHERE username = 'second'", &[]).await.unwrap().get(0);
    assert!(stored.starts_with("$argon2"), "{stored}");
}

#[actix_web::test]
async fn signup_rules() {
    let s = TestServer::start_with(|c| c.team_settings.enable_open_server = false).await;
    let c = s.client();
    let (_, admin) = c.create_user("admin").await;
    // Open server off: strangers cannot sign up, an admin can create users.
    c.post("/users", json!({"email": "x@example.com", "username": "stranger", "password": "password-1"}))
        .await
        .expect(403);
    let admin = c.login(&admin).await;
    admin
        .post("/users", json!({"email": "x@example.com", "username": "invited", "password": "password-1"}))
        .await
        .expect(201);
    let bad = [
        json!({"email": "y@example.com", "username": "invited", "password": "password-1"}),
        json!({"email": "x@example.com", "username": "other", "password": "password-1"}),
        json!({"email": "z@example.com", "username": "1abc", "password": "password-1"}),
        json!({"email": "z@example.com", "username": "ab", "password": "password-1"}),
        json!({"email": "z@example.com", "username": "all", "password": "password-1"}),
        json!({"email": "not-an-email", "username": "valid1", "password": "password-1"}),
        json!({"email": "z@example.com", "username": "valid1", "password": "short"}),
        json!({"email": "z@example.com", "username": "valid1", "password": "x".repeat(73)}),
        json!({"email": "z@example.com", "username": "valid1"}),
        json!({"email": "z@example.com", "username": 5, "password": "password-1"}),
        json!({"email": "z@example.com", "username": "valid1", "password": "password-1", "nickname": "n".repeat(65)}),
        json!([1, 2]),
    ];
    for body in bad {
        admin.post("/users", body.clone()).await.expect(400);
    }
    let count: i64 = s.db.client().await.query_one("SELECT count(*) FROM users", &[]).await.unwrap().get(0);
    assert_eq!(count, 2, "no bad request wrote a user");
}

#[actix_web::test]
async fn login_answers_exactly_200_with_token_and_ignores_unknown_fields() {
    let s = TestServer::start().await;
    let c = s.client();
    let (id, name) = c.create_user("u").await;
    let r = c
        .post(
            "/users/login",
            json!({"login_id": name, "password": "password-1", "token": null, "deviceId": "", "ldap_only": false}),
        )
        .await
        .expect(200);
    assert_eq!(r.id(), id);
    let token = r.headers.get("Token").unwrap().to_str().unwrap().to_owned();
    assert_eq!(token.len(), 26);
    assert!(r.headers.get_all("set-cookie").iter().any(|v| v.to_str().unwrap().starts_with("MMAUTHTOKEN=")));
    // Login by email works too, case-insensitively.
    c.post(
        "/users/login",
        json!({"login_id": format!("{}@EXAMPLE.com", name.to_uppercase()), "password": "password-1"}),
    )
    .await
    .expect(200);
    c.post("/users/login", json!({"login_id": name, "password": "wrong-password"})).await.expect(401);
    c.post("/users/login", json!({"login_id": "nobody-here", "password": "password-1"})).await.expect(401);
    c.post("/users/login", json!({"login_id": name})).await.expect(400);
    c.post("/users/login", json!({"password": "password-1"})).await.expect(400);
    c.raw(Method::POST, "/users/login", Some(b"{not json".to_vec()), "application/json").await.expect(400);
    c.post("/users/login", json!({"login_id": ["x"], "password": "password-1"})).await.expect(400);
}

#[actix_web::test]
async fn every_way_of_carrying_the_token_works() {
    let s = TestServer::start().await;
    let c = s.client();
    let (me, id) = c.new_user("u").await;
    let token = me.token.clone().unwrap();
    let url = format!("{}/api/v4/users/me", s.url());
    let http = reqwest::Client::new();
    for (name, value) in [
        ("Authorization", format!("Bearer {token}")),
        ("Authorization", format!("BEARER {token}")),
        ("Authorization", format!("bearer {token}")),
        ("Authorization", format!("Token {token}")),
        ("Token", token.clone()),
        ("Cookie", format!("MMAUTHTOKEN={token}")),
    ] {
        let r = Client::finish(http.get(&url).header(name, value.clone()).send().await.unwrap()).await;
        assert_eq!(r.status, 200, "{name}: {value}");
        assert_eq!(r.id(), id);
    }
    let r = Client::finish(http.get(format!("{url}?access_token={token}")).send().await.unwrap()).await;
    assert_eq!(r.status, 200);
    // No token, a bogus one, an over-long one, a wrong scheme.
    c.get("/users/me").await.expect(401);
    c.with_token("nosuchtokennosuchtokenxxxx").get("/users/me").await.expect(401);
    c.with_token(&"x".repeat(5000)).get("/users/me").await.expect(401);
    let r =
        Client::finish(http.get(&url).header("Authorization", format!("Basic {token}")).send().await.unwrap()).await;
    assert_eq!(r.status, 401);
}

#[actix_web::test]
async fn logout_kills_the_token() {
    let s = TestServer::start().await;
    let (me, _) = s.client().new_user("u").await;
    me.get("/users/me").await.expect(200); // now cached
    let r = me.post("/users/logout", json!({})).await.expect(200);
    assert_eq!(r.body, json!({"status": "OK"}));
    me.get("/users/me").await.expect(401);
    let sessions: i64 = s.db.client().await.query_one("SELECT count(*) FROM sessions", &[]).await.unwrap().get(0);
    assert_eq!(sessions, 0);
    // Logging out again (or without a token) still answers 200 with a JSON body.
    me.post("/users/logout", json!({})).await.expect(200);
}

#[actix_web::test]
async fn expired_session_is_refused() {
    let s = TestServer::start().await;
    let (me, _) = s.client().new_user("u").await;
    s.db.client().await.execute("UPDATE sessions SET expires_at = 1", &[]).await.unwrap();
    me.get("/users/me").await.expect(401);
}

#[actix_web::test]
async fn user_lookups() {
    let s = TestServer::start().await;
    let c = s.client();
    let (me, my_id) = c.new_user("u").await;
    let (other_id, other_name) = c.create_user("o").await;
    assert_eq!(me.get("/users/me").await.expect(200).id(), my_id);
    assert_eq!(me.get(&format!("/users/{other_id}")).await.expect(200).body["username"], other_name);
    assert_eq!(me.get(&format!("/users/username/{other_name}")).await.expect(200).id(), other_id);
    me.get("/users/username/nosuchuser").await.expect(404);
    me.get(&format!("/users/{}", starling_protocol::new_id())).await.expect(404);
    me.get("/users/not-an-id").await.expect(400);
    let r = me.post("/users/ids", json!([my_id, other_id, starling_protocol::new_id()])).await.expect(200);
    assert_eq!(r.body.as_array().unwrap().len(), 2);
    me.post("/users/ids", json!([])).await.expect(400);
    me.post("/users/ids", json!(["bad"])).await.expect(400);
    me.post("/users/ids", json!({"ids": []})).await.expect(400);
    let r = me.post("/users/usernames", json!([other_name])).await.expect(200);
    assert_eq!(r.body[0]["id"], other_id);
    let r = me.get("/users?per_page=1").await.expect(200);
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    // Bad paging falls back to the defaults, as Mattermost reads it.
    assert_eq!(me.get("/users?page=-1").await.expect(200).body.as_array().map(Vec::len), Some(2));
    assert_eq!(me.get("/users?per_page=abc").await.expect(200).body.as_array().map(Vec::len), Some(2));
    // GET requests with a `{}` body (mattermostdriver sends one) are fine.
    me.raw(Method::GET, "/users/me", Some(b"{}".to_vec()), "application/json").await.expect(200);
    s.client().get(&format!("/users/{other_id}")).await.expect(401);
}

#[actix_web::test]
async fn oversize_body_is_413_and_unknown_route_is_404() {
    let s = TestServer::start().await;
    let (me, _) = s.client().new_user("u").await;
    let big = json!({"login_id": "x".repeat(400_000), "password": "p"});
    s.client().post("/users/login", big).await.expect(413);
    me.get("/no/such/route").await.expect(404);
    me.raw(Method::PATCH, "/users/me", Some(b"{}".to_vec()), "application/json").await.expect(404);
}

#[actix_web::test]
async fn revoking_sessions_kills_tokens_and_sockets() {
    let s = TestServer::start().await;
    let c = s.client();
    let (admin, _) = c.new_user("admin").await;
    let (id, name) = c.create_user("u").await;
    let a = c.login(&name).await;
    let b = c.login(&name).await;
    a.get("/users/me").await.expect(200);
    b.get("/users/me").await.expect(200);
    let mut ws = common::ws::Ws::connect(&s.url(), a.token.as_deref().unwrap()).await;
    assert_eq!(ws.event().await["event"], "hello");
    let sessions = a.get(&format!("/users/{id}/sessions")).await.expect(200).body;
    assert_eq!(sessions.as_array().unwrap().len(), 2);
    assert!(sessions.as_array().unwrap().iter().all(|s| s["token"] == ""), "tokens are never shown");
    // Revoke a's session through b.
    let a_session =
        s.db.client()
            .await
            .query_one("SELECT id FROM sessions WHERE token = $1", &[&a.token.clone().unwrap()])
            .await
            .unwrap();
    let a_session: String = a_session.get(0);
    b.post(&format!("/users/{id}/sessions/revoke"), json!({"session_id": a_session})).await.expect(200);
    a.get("/users/me").await.expect(401);
    b.get("/users/me").await.expect(200);
    loop {
        match ws.next(std::time::Duration::from_secs(5)).await {
            common::ws::Got::Json(_) => continue,
            common::ws::Got::Closed(_) => break,
            common::ws::Got::Timeout => panic!("revoked session's socket is still open"),
        }
    }
    b.post(&format!("/users/{id}/sessions/revoke"), json!({"session_id": a_session})).await.expect(400);
    b.post(&format!("/users/{id}/sessions/revoke"), json!({})).await.expect(400);
    // Others' sessions are not yours to revoke; an admin's are.
    let (other, other_id) = c.new_user("o").await;
    b.post(&format!("/users/{other_id}/sessions/revoke/all"), json!({})).await.expect(403);
    b.get(&format!("/users/{other_id}/sessions")).await.expect(403);
    admin.post(&format!("/users/{other_id}/sessions/revoke/all"), json!({})).await.expect(200);
    other.get("/users/me").await.expect(401);
    b.post(&format!("/users/{id}/sessions/revoke/all"), json!({})).await.expect(200);
    b.get("/users/me").await.expect(401);
}

#[actix_web::test]
async fn deactivated_users_lose_sessions_and_cannot_log_in() {
    let s = TestServer::start().await;
    let c = s.client();
    let (admin, _) = c.new_user("admin").await;
    let (id, name) = c.create_user("u").await;
    let u = c.login(&name).await;
    u.get("/users/me").await.expect(200);
    u.put(&format!("/users/{id}/active"), json!({"active": true})).await.expect(403);
    admin.delete(&format!("/users/{id}")).await.expect(200);
    u.get("/users/me").await.expect(401);
    c.post("/users/login", json!({"login_id": name, "password": "password-1"})).await.expect(401);
    assert!(admin.get(&format!("/users/{id}")).await.expect(200).body["delete_at"].as_i64().unwrap() > 0);
    admin.put(&format!("/users/{id}/active"), json!({"active": "yes"})).await.expect(400);
    admin.put(&format!("/users/{id}/active"), json!({"active": true})).await.expect(200);
    c.login(&name).await.get("/users/me").await.expect(200);
    admin.delete(&format!("/users/{}", starling_protocol::new_id())).await.expect(404);
}
