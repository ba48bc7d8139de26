//! Identity and browser auth as the Mattermost web and mobile apps need them: the version they
//! read, the installation's DiagnosticId, the websocket settings, the MMCSRF cookie and
//! Mattermost's CSRF rule for cookie-authenticated writes, JSON 404s for unknown routes, and the
//! harmless answers to the calls the apps make unconditionally.

mod common;
use common::ws::Ws;
use common::*;
use reqwest::Method;
use serde_json::{json, Value};

fn version_id(r: &Resp) -> String {
    r.headers.get("x-version-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

#[actix_web::test]
async fn every_api_answer_carries_a_mattermost_version_without_cache_control() {
    let s = TestServer::start().await;
    let c = s.client();
    let (me, _) = c.new_user("u").await;
    for r in [
        c.get("/system/ping").await,
        me.get("/users/me").await,
        c.get("/users/me").await, // 401
        c.get("/no/such/route").await,
        c.get("/config/client?format=old").await,
    ] {
        let v = version_id(&r);
        let parts: Vec<&str> = v.split('.').collect();
        assert!(parts.len() >= 4, "X-Version-Id has Mattermost's dotted shape: {v:?}");
        let (major, minor): (u32, u32) = (parts[0].parse().unwrap(), parts[1].parse().unwrap());
        assert!((major, minor) >= (10, 11), "at least 10.11.0 (the mobile app's full-support floor): {v}");
        assert!(
            r.headers.get("cache-control").is_none(),
            "Client4 and mobile ignore the version on responses with Cache-Control"
        );
    }
}

#[actix_web::test]
async fn client_config_names_version_build_diagnostic_id_and_websocket() {
    let s = TestServer::start().await;
    let c = s.client();
    let cfg = c.get("/config/client?format=old").await.expect(200).body;
    assert_eq!(cfg["Version"], "10.11.0");
    assert_eq!(cfg["BuildNumber"], env!("CARGO_PKG_VERSION"), "Starling's own version stays visible");
    let id = cfg["DiagnosticId"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 26, "the mobile app refuses a server without a DiagnosticId: {cfg}");
    assert_eq!(cfg["WebsocketURL"], "");
    assert_eq!(cfg["WebsocketPort"], "80");
    assert_eq!(cfg["WebsocketSecurePort"], "443");
    assert_eq!(cfg["CollapsedThreads"], "default_on");
    assert_eq!(cfg["ThreadAutoFollow"], "true");
    for (k, v) in cfg.as_object().unwrap() {
        assert!(v.is_string(), "client config values are strings, as Mattermost sends them: {k} = {v}");
    }
    // Stable: the same on a second node of the same database, and after a restart.
    let mut config = s.config.clone();
    config.service_settings.websocket_port = 8080;
    config.service_settings.collapsed_threads = "always_on".into();
    let mut second = start_node(config).await;
    let other = Client::new(&format!("http://{}", second.http_addr));
    let cfg2 = other.get("/config/client?format=old").await.expect(200).body;
    assert_eq!(cfg2["DiagnosticId"], id.as_str());
    assert_eq!(cfg2["WebsocketPort"], "8080", "the setting is honoured");
    assert_eq!(cfg2["CollapsedThreads"], "always_on", "the setting is honoured");
    second.stop().await;
    let stored = count(&s, "SELECT count(*) FROM systems WHERE name = 'DiagnosticId'").await;
    assert_eq!(stored, 1);
}

#[actix_web::test]
async fn an_invalid_collapsed_threads_value_is_refused() {
    let mut config = starling::config::Config::default();
    config.service_settings.collapsed_threads = "sometimes".into();
    let e = config.validate().unwrap_err().to_string();
    assert!(e.contains("ServiceSettings.CollapsedThreads"), "{e}");
}

/// Log in as a browser does and return (token, csrf, user id), checking the cookies.
async fn browser_login(s: &TestServer, username: &str) -> (String, String, String) {
    let r = s.client().post("/users/login", json!({"login_id": username, "password": "password-1"})).await.expect(200);
    let cookies: Vec<String> = r.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    let find = |name: &str| {
        cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} cookie in {cookies:?}"))
            .clone()
    };
    let value = |c: &str| c.split(';').next().unwrap().split_once('=').unwrap().1.to_owned();
    let auth = find("MMAUTHTOKEN");
    let csrf = find("MMCSRF");
    let user = find("MMUSERID");
    assert!(auth.to_lowercase().contains("httponly"), "the token cookie is HttpOnly: {auth}");
    assert!(!csrf.to_lowercase().contains("httponly"), "the web app reads MMCSRF from document.cookie: {csrf}");
    assert!(!user.to_lowercase().contains("httponly"), "the web app reads MMUSERID from document.cookie: {user}");
    assert!(!value(&csrf).is_empty());
    assert_ne!(value(&csrf), value(&auth));
    (value(&auth), value(&csrf), value(&user))
}

async fn send(s: &TestServer, method: Method, path: &str, headers: &[(&str, String)], body: Option<Value>) -> Resp {
    let mut rb = reqwest::Client::new().request(method, format!("{}/api/v4{path}", s.url()));
    for (k, v) in headers {
        rb = rb.header(*k, v);
    }
    if let Some(b) = body {
        rb = rb.header("Content-Type", "application/json").body(b.to_string());
    }
    Client::finish(rb.send().await.unwrap()).await
}

#[actix_web::test]
async fn cookie_writes_need_the_csrf_token_or_xhr_as_mattermost_checks_them() {
    let s = TestServer::start().await;
    let c = s.client();
    let (admin, _) = c.new_user("admin").await;
    let (_, name) = c.create_user("web").await;
    let team = admin.create_team(true).await;
    let (token, csrf, user_id) = browser_login(&s, &name).await;
    admin.post(&format!("/teams/{team}/members"), json!({"team_id": team, "user_id": user_id})).await.expect(201);
    let cookie = ("Cookie", format!("MMAUTHTOKEN={token}; MMUSERID={user_id}; MMCSRF={csrf}"));
    let status = json!({"user_id": user_id, "status": "away"});
    let path = format!("/users/{user_id}/status");

    // Reads need nothing more than the cookie.
    check(send(&s, Method::GET, "/users/me", std::slice::from_ref(&cookie), None).await, 200, "cookie GET");
    // A write with the cookie alone, or a wrong token, is refused as an expired session.
    let r =
        check(send(&s, Method::PUT, &path, std::slice::from_ref(&cookie), Some(status.clone())).await, 401, "no CSRF");
    assert_eq!(r.body["id"], "api.context.session_expired.app_error");
    let wrong = ("X-CSRF-Token", "x".repeat(26));
    check(send(&s, Method::PUT, &path, &[cookie.clone(), wrong], Some(status.clone())).await, 401, "wrong CSRF");
    // The token from MMCSRF passes; so does X-Requested-With: XMLHttpRequest (Mattermost's
    // transition rule, unless ExperimentalStrictCSRFEnforcement).
    let right = ("X-CSRF-Token", csrf.clone());
    check(send(&s, Method::PUT, &path, &[cookie.clone(), right.clone()], Some(status.clone())).await, 200, "CSRF");
    let xhr = ("X-Requested-With", "XMLHttpRequest".to_owned());
    check(send(&s, Method::PUT, &path, &[cookie.clone(), xhr.clone()], Some(status.clone())).await, 200, "XHR");
    // Header auth never needs it.
    let bearer = ("Authorization", format!("Bearer {token}"));
    check(send(&s, Method::PUT, &path, &[bearer], Some(status.clone())).await, 200, "bearer");
    // Another session's CSRF token does not fit this one.
    let (_, other_csrf, _) = browser_login(&s, &name).await;
    let other = ("X-CSRF-Token", other_csrf);
    check(send(&s, Method::PUT, &path, &[cookie.clone(), other], Some(status.clone())).await, 401, "foreign CSRF");
    // Logout by cookie follows the same rule and leaves the session alone when refused.
    check(send(&s, Method::POST, "/users/logout", std::slice::from_ref(&cookie), Some(json!({}))).await, 401, "logout");
    check(send(&s, Method::GET, "/users/me", std::slice::from_ref(&cookie), None).await, 200, "still logged in");
    let r = send(&s, Method::POST, "/users/logout", &[cookie.clone(), right], Some(json!({}))).await;
    check(r, 200, "logout with CSRF");
    check(send(&s, Method::GET, "/users/me", &[cookie], None).await, 401, "logged out");
}

#[actix_web::test]
async fn strict_csrf_enforcement_refuses_xhr_alone() {
    let s = TestServer::start_with(|c| c.service_settings.experimental_strict_csrf_enforcement = true).await;
    let (_, name) = s.client().create_user("web").await;
    let (token, csrf, user_id) = browser_login(&s, &name).await;
    let cookie = ("Cookie", format!("MMAUTHTOKEN={token}"));
    let xhr = ("X-Requested-With", "XMLHttpRequest".to_owned());
    let path = format!("/users/{user_id}/status");
    let body = json!({"user_id": user_id, "status": "online"});
    check(send(&s, Method::PUT, &path, &[cookie.clone(), xhr.clone()], Some(body.clone())).await, 401, "XHR only");
    let right = ("X-CSRF-Token", csrf);
    check(send(&s, Method::PUT, &path, &[cookie, xhr, right], Some(body)).await, 200, "with CSRF");
}

#[actix_web::test]
async fn the_websocket_accepts_the_cookie_alone_and_says_the_mattermost_version() {
    let s = TestServer::start().await;
    let (_, name) = s.client().create_user("web").await;
    let (token, _, _) = browser_login(&s, &name).await;
    let mut ws = Ws::connect_with(
        &s.url(),
        "?connection_id=&sequence_number=0&posted_ack=true",
        &[("Cookie", format!("MMAUTHTOKEN={token}"))],
    )
    .await
    .expect("the upgrade with the cookie alone is accepted");
    let hello = ws.event().await;
    assert_eq!(hello["event"], "hello");
    let v = hello["data"]["server_version"].as_str().unwrap();
    let header = version_id(&s.client().get("/system/ping").await);
    assert_eq!(v, header, "hello and X-Version-Id agree");
}

#[actix_web::test]
async fn unknown_routes_are_json_404_never_401() {
    let s = TestServer::start().await;
    let c = s.client();
    let (me, _) = c.new_user("u").await;
    let stale = c.with_token("nosuchtokennosuchtokenxxxx");
    for client in [&c, &me, &stale] {
        for (method, path) in [
            (Method::GET, "/no/such/route"),
            (Method::GET, "/agents/status"),
            (Method::POST, "/users/me/nothing"),
            (Method::GET, "/teams/x/y/z/w"),
        ] {
            let r = client.raw(method.clone(), path, Some(b"{}".to_vec()), "application/json").await;
            let r = check(r, 404, &format!("{method} {path}"));
            assert_eq!(r.body["id"], "api.context.404.app_error");
        }
    }
    // A known path with a method it does not have is not a 401 either.
    let r = stale.raw(Method::PATCH, "/users/me", None, "").await;
    assert!(r.status == 404 || r.status == 405, "{} {}", r.status, r.body);
}

#[actix_web::test]
async fn the_calls_the_apps_make_unconditionally_get_harmless_answers() {
    let s = TestServer::start().await;
    let (me, _) = s.client().new_user("u").await;
    let team = me.create_team(true).await;
    let limits = me.get("/limits/server").await.expect(200).body;
    assert_eq!(limits["maxUsersLimit"], 0);
    let scheduled = me.get(&format!("/posts/scheduled/team/{team}?includeDirectChannels=true")).await.expect(200).body;
    assert_eq!(scheduled, json!({team.clone(): [], "directChannels": []}));
    let stranger = s.client().new_user("x").await.0;
    check(stranger.get(&format!("/posts/scheduled/team/{team}")).await, 403, "another team's");
    assert_eq!(me.get("/custom_profile_attributes/fields").await.expect(200).body, json!([]));
    assert_eq!(me.get("/plugins/webapp").await.expect(200).body, json!([]));
    me.put("/users/sessions/device", json!({"device_id": "apple_rn-v2:abc"})).await.expect(200);
    check(me.put("/users/sessions/device", json!({})).await, 400, "no device id");
    let device = count(&s, "SELECT count(*) FROM sessions WHERE device_id = 'apple_rn-v2:abc'").await;
    assert_eq!(device, 1);
}
