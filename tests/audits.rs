//! The audit trail on a real node and database: the audited actions appear in `GET /audits` and
//! in the node's JSON-lines audit file with who, what, when, from where and on which node, and
//! never with a secret; who may read which audits; paging read Mattermost's way.

mod common;
use common::*;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

/// The address a proxy in front of the node reports for the client.
const CLIENT_IP: &str = "203.0.113.7";
const NEW_PASSWORD: &str = "new-password-2";

struct Setup {
    server: TestServer,
    admin: Client,
    admin_id: String,
    audit_file: PathBuf,
}

async fn setup() -> Setup {
    let audit_file = temp_dir("audit").join("audit.log");
    let file = audit_file.to_string_lossy().into_owned();
    let server = TestServer::start_with(move |c| {
        c.experimental_audit_settings.file_enabled = true;
        c.experimental_audit_settings.file_name = file;
        c.service_settings.trusted_proxy_ip_header = vec!["X-Forwarded-For".into()];
        c.service_settings.maximum_login_attempts = 3;
    })
    .await;
    // The first user is the system admin.
    let (admin, admin_id) = server.client().new_user("admin").await;
    Setup { server, admin, admin_id, audit_file }
}

/// `POST /users/login` from behind the proxy: the response and, on success, a client.
async fn login_via_proxy(s: &Setup, login_id: &str, password: &str) -> (u16, Option<Client>) {
    let r = s
        .admin
        .http
        .post(format!("{}/api/v4/users/login", s.server.url()))
        .header("X-Forwarded-For", format!("10.0.0.1, {CLIENT_IP}"))
        .json(&json!({"login_id": login_id, "password": password}))
        .send()
        .await
        .expect("request reaches the node");
    let status = r.status().as_u16();
    let token = r.headers().get("Token").and_then(|v| v.to_str().ok()).map(str::to_owned);
    (status, token.map(|t| s.server.client().with_token(&t)))
}

async fn audits(c: &Client, path: &str) -> Vec<Value> {
    c.get(path).await.expect(200).body.as_array().cloned().unwrap_or_default()
}

fn file_lines(path: &PathBuf) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("every audit line is JSON"))
        .collect()
}

fn find<'a>(list: &'a [Value], action: &str, user_id: &str, status: &str) -> Option<&'a Value> {
    list.iter().find(|a| {
        let extra: Value = serde_json::from_str(a["extra_info"].as_str().unwrap_or("")).unwrap_or(Value::Null);
        a["action"] == action && a["user_id"] == user_id && extra["status"].as_str().unwrap_or("success") == status
    })
}

#[actix_web::test]
async fn audited_actions_are_served_and_written_to_the_file_without_secrets() {
    let s = setup().await;
    let anon = s.server.client();
    let (bob_id, bob) = anon.create_user("bob").await;
    let (carol_id, carol) = anon.create_user("carol").await;

    // Logins: a wrong password, then a good one, from behind the proxy.
    assert_eq!(login_via_proxy(&s, &bob, "wrong-password").await.0, 401);
    let (status, bob_client) = login_via_proxy(&s, &bob, "password-1").await;
    assert_eq!(status, 200);
    let bob_client = bob_client.expect("a token");
    // A lockout: MaximumLoginAttempts is 3.
    for _ in 0..3 {
        login_via_proxy(&s, &carol, "wrong-password").await;
    }
    assert_eq!(login_via_proxy(&s, &carol, "password-1").await.0, 401, "locked");

    // Bob changes his password; the admin changes roles, the config, the pools and Bob's account.
    bob_client
        .put("/users/me/password", json!({"current_password": "password-1", "new_password": NEW_PASSWORD}))
        .await
        .expect(200);
    s.admin.put(&format!("/users/{bob_id}/roles"), json!({"roles": "system_user system_admin"})).await.expect(200);
    s.admin.put("/config/patch", json!({"ServiceSettings": {"MaximumLoginAttempts": 4}})).await.expect(200);
    s.admin.post("/config/reload", json!({})).await.expect(200);
    s.admin.post("/database/recycle", json!({})).await.expect(200);
    let sessions = s.admin.get(&format!("/users/{bob_id}/sessions")).await.expect(200).body;
    let bob_session = sessions[0]["id"].as_str().expect("bob has a session").to_owned();
    s.admin.post(&format!("/users/{bob_id}/sessions/revoke"), json!({"session_id": bob_session})).await.expect(200);
    s.admin.put(&format!("/users/{bob_id}/active"), json!({"active": false})).await.expect(200);
    s.admin.put(&format!("/users/{bob_id}/active"), json!({"active": true})).await.expect(200);
    s.admin.post(&format!("/users/{bob_id}/sessions/revoke/all"), json!({})).await.expect(200);
    let (_, bob_again) = login_via_proxy(&s, &bob, NEW_PASSWORD).await;
    bob_again.clone().expect("the new password works").post("/users/logout", json!({})).await.expect(200);

    let expected: Vec<(&str, &str, &str)> = vec![
        ("login", bob_id.as_str(), "fail"),
        ("login", bob_id.as_str(), "success"),
        ("login", carol_id.as_str(), "fail"),
        ("updatePassword", bob_id.as_str(), "success"),
        ("updateUserRoles", s.admin_id.as_str(), "success"),
        ("patchConfig", s.admin_id.as_str(), "success"),
        ("reloadConfig", s.admin_id.as_str(), "success"),
        ("recycleDatabaseConnection", s.admin_id.as_str(), "success"),
        ("revokeSession", s.admin_id.as_str(), "success"),
        ("updateUserActive", s.admin_id.as_str(), "success"),
        ("revokeAllSessionsForUser", s.admin_id.as_str(), "success"),
        ("logout", bob_id.as_str(), "success"),
    ];
    let all = || async { audits(&s.admin, "/audits?per_page=200").await };
    let complete = wait_until(Duration::from_secs(20), || async {
        let list = all().await;
        expected.iter().all(|(a, u, st)| find(&list, a, u, st).is_some())
    })
    .await;
    let list = all().await;
    assert!(complete, "missing audits; got {}", Value::Array(list.clone()));

    // Mattermost's Audit fields, the client's address through the trusted proxy, and the session.
    let good_login = find(&list, "login", &bob_id, "success").unwrap();
    for key in ["id", "create_at", "user_id", "action", "extra_info", "ip_address", "session_id"] {
        assert!(good_login.get(key).is_some(), "{key} in {good_login}");
    }
    assert_eq!(good_login["id"].as_str().unwrap().len(), 26);
    assert!(good_login["create_at"].as_i64().unwrap() > 0);
    assert_eq!(good_login["ip_address"], CLIENT_IP);
    assert_eq!(good_login["session_id"].as_str().unwrap().len(), 26, "the new session");
    let failed = find(&list, "login", &bob_id, "fail").unwrap();
    assert_eq!(failed["ip_address"], CLIENT_IP);
    assert_eq!(failed["session_id"], "");
    let locked = list
        .iter()
        .filter(|a| a["user_id"] == carol_id.as_str())
        .filter(|a| a["extra_info"].as_str().unwrap().contains("too_many"))
        .count();
    assert!(locked >= 1, "the lockout is recorded: {}", Value::Array(list.clone()));
    let roles = find(&list, "updateUserRoles", &s.admin_id, "success").unwrap();
    assert!(roles["extra_info"].as_str().unwrap().contains(&bob_id), "{roles}");
    assert_eq!(roles["ip_address"], "127.0.0.1", "a direct request: the peer's address");
    // Newest first.
    let times: Vec<i64> = list.iter().map(|a| a["create_at"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");

    // The file: one JSON line per record, with the node that saw it.
    let node_id = s.server.node.node_id.clone();
    let written = wait_until(Duration::from_secs(20), || async {
        let lines = file_lines(&s.audit_file);
        expected.iter().all(|(a, u, st)| {
            lines.iter().any(|l| l["event_name"] == *a && l["actor"]["user_id"] == *u && l["status"] == *st)
        })
    })
    .await;
    let lines = file_lines(&s.audit_file);
    assert!(written, "missing file lines: {lines:?}");
    // The same record as the table's row.
    let line = lines.iter().find(|l| l["meta"]["audit_id"] == good_login["id"]).expect("the login's line");
    assert_eq!((&line["event_name"], &line["status"]), (&json!("login"), &json!("success")));
    assert_eq!(line["actor"]["user_id"], bob_id.as_str());
    assert_eq!(line["actor"]["session_id"], good_login["session_id"]);
    assert_eq!(line["actor"]["ip_address"], CLIENT_IP);
    assert_eq!(line["meta"]["node_id"], node_id.as_str());
    assert!(line["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(line["event"]["login_id"], bob.as_str());

    // Nothing secret anywhere: passwords, tokens, the data source.
    let served = Value::Array(list).to_string();
    let file_text = std::fs::read_to_string(&s.audit_file).unwrap();
    let tokens = [s.admin.token.clone().unwrap(), bob_client.token.clone().unwrap(), bob_again.unwrap().token.unwrap()];
    let mut secrets = vec!["password-1".to_owned(), NEW_PASSWORD.to_owned(), "wrong-password".to_owned()];
    secrets.extend(tokens);
    secrets.push(s.server.config.sql_settings.data_source.clone());
    for secret in &secrets {
        assert!(!served.contains(secret.as_str()), "GET /audits holds a secret");
        assert!(!file_text.contains(secret.as_str()), "the audit file holds a secret");
    }
}

#[actix_web::test]
async fn users_read_their_own_audits_and_admins_everyones() {
    let s = setup().await;
    let anon = s.server.client();
    let (bob, bob_id) = anon.new_user("bob").await;
    let (carol, carol_id) = anon.new_user("carol").await;
    let mine = wait_until(Duration::from_secs(20), || async {
        !audits(&bob, "/users/me/audits").await.is_empty() && !audits(&carol, "/users/me/audits").await.is_empty()
    })
    .await;
    assert!(mine, "each login is recorded");

    let own = audits(&bob, &format!("/users/{bob_id}/audits")).await;
    assert!(own.iter().all(|a| a["user_id"] == bob_id.as_str()), "only Bob's: {own:?}");
    assert_eq!(own, audits(&bob, "/users/me/audits").await);
    check(bob.get(&format!("/users/{carol_id}/audits")).await, 403, "another user's audits");
    check(bob.get(&format!("/users/{}/audits", s.admin_id)).await, 403, "the admin's audits");
    check(bob.get("/audits").await, 403, "everyone's audits, not an admin");
    check(anon.get("/audits").await, 401, "everyone's audits, no session");
    check(anon.get(&format!("/users/{bob_id}/audits")).await, 401, "a user's audits, no session");
    let by_admin = audits(&s.admin, &format!("/users/{carol_id}/audits")).await;
    assert!(!by_admin.is_empty() && by_admin.iter().all(|a| a["user_id"] == carol_id.as_str()));
    let everyone = audits(&s.admin, "/audits").await;
    for id in [&bob_id, &carol_id, &s.admin_id] {
        assert!(everyone.iter().any(|a| a["user_id"] == id.as_str()), "{id} in GET /audits");
    }
}

#[actix_web::test]
async fn audit_paging_is_read_the_way_mattermost_reads_it() {
    let s = setup().await;
    for _ in 0..3 {
        s.admin.post("/config/reload", json!({})).await.expect(200);
    }
    let enough = wait_until(Duration::from_secs(20), || async { audits(&s.admin, "/audits").await.len() >= 4 }).await;
    assert!(enough, "the login and three reloads are recorded");
    let all = audits(&s.admin, "/audits").await;

    let first = audits(&s.admin, "/audits?page=0&per_page=1").await;
    let second = audits(&s.admin, "/audits?page=1&per_page=1").await;
    assert_eq!(first, all[..1].to_vec());
    assert_eq!(second, all[1..2].to_vec());
    assert!(audits(&s.admin, "/audits?page=1000&per_page=50").await.is_empty(), "past the end");
    // Mattermost falls back rather than refusing: a page that is not a number is the first, a
    // negative or unreadable per_page the default (60), a huge one the maximum (200).
    assert_eq!(audits(&s.admin, "/audits?page=abc&per_page=1").await, first);
    assert_eq!(audits(&s.admin, "/audits?page=-5&per_page=1").await, first);
    assert_eq!(audits(&s.admin, "/audits?per_page=-1").await, all);
    assert_eq!(audits(&s.admin, "/audits?per_page=x").await, all);
    assert_eq!(audits(&s.admin, "/audits?per_page=100000").await, all);
    let user = format!("/users/{}/audits", s.admin_id);
    assert_eq!(audits(&s.admin, &format!("{user}?page=zz&per_page=2")).await, all[..2].to_vec());
    // A path that names no user is refused as Mattermost refuses it.
    let r = check(s.admin.get("/users/not-an-id/audits").await, 400, "a malformed user id");
    assert_eq!(r.body["id"], "api.context.invalid_url_param.app_error");
}

/// Integration changes are audited too, and a token's secret never is.
#[actix_web::test]
async fn personal_access_tokens_bots_and_webhooks_are_audited_without_their_secrets() {
    let audit_file = temp_dir("audit").join("audit.log");
    let file = audit_file.to_string_lossy().into_owned();
    let server = TestServer::start_with(move |c| {
        c.experimental_audit_settings.file_enabled = true;
        c.experimental_audit_settings.file_name = file;
        c.service_settings.enable_user_access_tokens = true;
        c.service_settings.enable_bot_account_creation = true;
    })
    .await;
    let (admin, admin_id) = server.client().new_user("admin").await;
    let team = admin.create_team(true).await;
    let channel = admin.create_channel(&team, true).await;
    let token = admin.post(&format!("/users/{admin_id}/tokens"), json!({"description": "ci"})).await.expect(200).body;
    let secret = token["token"].as_str().expect("the token, shown once").to_owned();
    admin.post("/users/tokens/revoke", json!({"token_id": token["id"]})).await.expect(200);
    let bot = admin.post("/bots", json!({"username": "deploybot"})).await.expect(201).body;
    let bot_id = bot["user_id"].as_str().unwrap().to_owned();
    admin.post(&format!("/bots/{bot_id}/disable"), json!({})).await.expect(200);
    let hook = admin.post("/hooks/incoming", json!({"channel_id": channel})).await.expect(201).body;
    admin.delete(&format!("/hooks/incoming/{}", hook["id"].as_str().unwrap())).await.expect(200);

    let want = [
        "createUserAccessToken",
        "revokeUserAccessToken",
        "createBot",
        "disableBot",
        "createIncomingHook",
        "deleteIncomingHook",
    ];
    let done = wait_until(Duration::from_secs(20), || async {
        let list = audits(&admin, "/audits?per_page=200").await;
        want.iter().all(|a| find(&list, a, &admin_id, "success").is_some())
    })
    .await;
    let list = audits(&admin, "/audits?per_page=200").await;
    assert!(done, "missing integration audits: {list:?}");
    let revoked = find(&list, "revokeUserAccessToken", &admin_id, "success").unwrap();
    assert!(revoked["extra_info"].as_str().unwrap().contains(token["id"].as_str().unwrap()), "{revoked}");
    assert!(find(&list, "disableBot", &admin_id, "success").unwrap()["extra_info"].as_str().unwrap().contains(&bot_id));
    assert!(!Value::Array(list).to_string().contains(&secret), "GET /audits holds a token");
    let written = wait_until(Duration::from_secs(20), || async {
        std::fs::read_to_string(&audit_file).unwrap_or_default().contains("deleteIncomingHook")
    })
    .await;
    assert!(written);
    assert!(!std::fs::read_to_string(&audit_file).unwrap().contains(&secret), "the audit file holds a token");
}
