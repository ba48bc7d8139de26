//! Issue 17: lenient queries and 404 for impossible names, 5xx logged and counted, secrets
//! masked everywhere, config validation on save, patch and reload (an invalid stored config
//! never takes a node down), the rate limit, the login lockout across nodes, password rules.

mod common;
use common::*;

use serde_json::{json, Value};
use starling::config::source::ConfigSource;
use starling::config::{Config, FAKE_SETTING};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Every log line a node writes (level, message and keys), for checking what it said.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<String>>>);

impl Logs {
    fn logger(&self) -> slog::Logger {
        slog::Logger::root(Capture(self.clone()), slog::o!())
    }
    fn lines(&self) -> Vec<String> {
        self.0.lock().map(|l| l.clone()).unwrap_or_default()
    }
    fn find(&self, needle: &str) -> Option<String> {
        self.lines().into_iter().find(|l| l.contains(needle))
    }
}

struct Capture(Logs);

impl slog::Drain for Capture {
    type Ok = ();
    type Err = slog::Never;
    fn log(&self, r: &slog::Record, kv: &slog::OwnedKVList) -> Result<(), slog::Never> {
        let mut line = format!("{} {}", r.level().as_str(), r.msg());
        let mut ser = Line(&mut line);
        let _ = slog::KV::serialize(&r.kv(), r, &mut ser);
        let _ = slog::KV::serialize(kv, r, &mut ser);
        if let Ok(mut lines) = (self.0).0.lock() {
            lines.push(line);
        }
        Ok(())
    }
}

struct Line<'a>(&'a mut String);

impl slog::Serializer for Line<'_> {
    fn emit_arguments(&mut self, key: slog::Key, val: &std::fmt::Arguments) -> slog::Result {
        use std::fmt::Write;
        let _ = write!(self.0, " {key}={val}");
        Ok(())
    }
}

/// A node on `config` (kept in a file) that logs into `logs`.
async fn start_logged(config: Config, logs: &Logs) -> starling::server::Node {
    let path = temp_dir("config").join("config.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&config).expect("json")).expect("write config");
    let loaded = starling::config::LoadedConfig::from_config(config, ConfigSource::File(path));
    starling::server::start(loaded, logs.logger()).await.expect("node starts")
}

/// The test database's URL with a password in it (trust auth ignores it): a secret to look for.
const DB_PASSWORD: &str = "hardening-db-secret";
fn with_password(url: &str) -> String {
    url.replacen("postgres://postgres@", &format!("postgres://postgres:{DB_PASSWORD}@"), 1)
}

#[actix_web::test]
async fn queries_are_lenient_and_impossible_names_are_404() {
    let server = TestServer::start().await;
    let (admin, _) = server.client().new_user("admin").await;
    let team = admin.create_team(true).await;
    let channel = admin.create_channel(&team, false).await;
    for m in ["one", "two", "three"] {
        admin.create_post(&channel, m).await;
    }
    let count = |r: Resp| r.expect(200).body["order"].as_array().map(Vec::len).unwrap_or(usize::MAX);
    let posts = format!("/channels/{channel}/posts");
    assert_eq!(count(admin.get(&format!("{posts}?page=-3&per_page=abc")).await), 3, "bad paging: the defaults");
    assert_eq!(count(admin.get(&format!("{posts}?per_page=-1")).await), 3, "a negative size: the default");
    assert_eq!(count(admin.get(&format!("{posts}?per_page=1&per_page=50")).await), 1, "the first value wins");
    assert_eq!(count(admin.get(&format!("{posts}?per_page=2&page=lots")).await), 2);
    assert_eq!(count(admin.get(&format!("{posts}?since=&before=&after=")).await), 3, "empty filters are ignored");
    assert_eq!(count(admin.get(&format!("{posts}?per_page=100000")).await), 3);
    let users = admin.get("/users?in_team=&in_channel=&page=x&per_page=-9").await.expect(200);
    assert_eq!(users.body.as_array().map(Vec::len), Some(1), "{}", users.body);
    admin.get(&format!("/teams/{team}/members?page=-1&per_page=-1")).await.expect(200);
    // A filter that is there but wrong is still the client's error.
    admin.get(&format!("{posts}?since=yesterday")).await.expect(400);
    assert!(users.headers.get("x-ratelimit-limit").is_none(), "no rate limit headers while it is off");

    // Names no router pattern matches: 404, as Mattermost's router answers.
    let long = "x".repeat(65);
    for path in [
        "/users/username/bad%20name".to_owned(),
        "/users/username/a$b".to_owned(),
        format!("/users/username/{long}"),
        "/teams/name/a.b".to_owned(),
        format!("/teams/name/{long}"),
        format!("/teams/{team}/channels/name/c%20d"),
        format!("/teams/{team}/channels/name/{long}"),
        "/teams/name/a.b/channels/name/town-square".to_owned(),
        "/teams/name/good/channels/name/x!y".to_owned(),
    ] {
        let r = check(admin.get(&path).await, 404, &format!("GET {path}"));
        assert_eq!(r.id(), "api.context.404.app_error", "GET {path}: {}", r.body);
    }
    // A possible name that does not exist is still found missing by the lookup.
    check(admin.get("/users/username/nobody.here").await, 404, "unknown user");
}

#[actix_web::test]
async fn a_server_error_is_logged_with_its_request_id_and_counted() {
    let logs = Logs::default();
    let db = TestDb::new().await;
    let mut node = start_logged(test_config(&db), &logs).await;
    let anon = Client::new(&format!("http://{}", node.http_addr));
    let (admin, _) = anon.new_user("admin").await;
    let team = admin.create_team(true).await;
    let channel = admin.create_channel(&team, false).await;
    db.client().await.batch_execute("ALTER TABLE posts RENAME TO posts_gone").await.expect("rename");
    let r = admin.post("/posts", json!({"channel_id": channel, "message": "hi"})).await.expect(500);
    let request_id = r.body["request_id"].as_str().expect("request id").to_owned();
    assert_eq!(r.body["detailed_error"], json!(""));

    let line = logs.find(&format!("request_id={request_id}")).expect("the 5xx is logged with its request id");
    assert!(line.starts_with("ERROR request failed"), "{line}");
    assert!(line.contains("route=/api/v4/posts"), "{line}");
    assert!(
        line.contains("error_id=app.internal_error.app_error"),
        "the log keeps what the client was not told: {line}"
    );
    let text = node.state.metrics.render(&node.state.store);
    let counted = text
        .lines()
        .find(|l| l.starts_with("starling_http_server_errors_total{") && l.contains("route=\"/api/v4/posts\""))
        .unwrap_or_else(|| panic!("no 5xx counter for the route:\n{text}"));
    assert!(counted.ends_with(" 1"), "{counted}");
    node.stop().await;
}

#[actix_web::test]
async fn check_config_prints_the_effective_config_with_secrets_masked() {
    let mut c = Config::default();
    c.sql_settings.data_source = "postgres://mm:db-pass-123@db.example.com/mm?sslmode=disable".into();
    c.sql_settings.data_source_replicas = vec!["postgres://mm:replica-pass-456@r1/mm".into()];
    c.file_settings.amazon_s3_secret_access_key = "s3-secret-789".into();
    let path = temp_dir("check-config").join("config.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&c).unwrap()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_starling"))
        .arg("check-config")
        .arg("--config")
        .arg(&path)
        .env("MM_TEAMSETTINGS_SITENAME", "FromEnv")
        .output()
        .expect("starling check-config runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    for secret in ["db-pass-123", "replica-pass-456", "s3-secret-789", "db.example.com"] {
        assert!(!stdout.contains(secret), "check-config prints {secret}: {stdout}");
    }
    let shown: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(shown["SqlSettings"]["DataSource"], json!(FAKE_SETTING));
    assert_eq!(shown["SqlSettings"]["DataSourceReplicas"], json!([FAKE_SETTING]));
    assert_eq!(shown["FileSettings"]["AmazonS3SecretAccessKey"], json!(FAKE_SETTING));
    assert_eq!(shown["TeamSettings"]["SiteName"], json!("FromEnv"), "the effective config, environment applied");
    assert_eq!(
        shown,
        starling::config::sanitized(&{
            let mut e = c.clone();
            e.team_settings.site_name = "FromEnv".into();
            e
        }),
        "the same masking as GET /config"
    );

    // An invalid file is refused with the key.
    c.team_settings.max_users_per_team = 0;
    std::fs::write(&path, serde_json::to_vec_pretty(&c).unwrap()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_starling"))
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("TeamSettings.MaxUsersPerTeam"));

    // A check only checks: a missing file is an error, and neither it nor its folder is created.
    let missing = temp_dir("check-config-missing").join("nowhere").join("config.json");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_starling"))
        .args(["check-config", "--config"])
        .arg(&missing)
        .output()
        .expect("runs");
    assert!(!out.status.success(), "a missing file is not a valid config");
    assert!(String::from_utf8_lossy(&out.stderr).contains("config.json"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!missing.parent().unwrap().exists(), "check-config created {}", missing.display());
}

#[actix_web::test]
async fn invalid_configs_are_refused_on_save_and_patch_with_mattermosts_ids() {
    let server = TestServer::start().await;
    let (admin, _) = server.client().new_user("admin").await;
    let path = match &server.node.state.config_source {
        ConfigSource::File(p) => p.clone(),
        other => panic!("a file source, not {other:?}"),
    };
    let before = std::fs::read(&path).unwrap();
    let cfg = admin.get("/config").await.expect(200).body;
    let mut bad_url = cfg.clone();
    bad_url["ServiceSettings"]["SiteURL"] = json!("chat.example.com");
    let r = admin.put("/config", bad_url).await.expect(400);
    assert_eq!(r.id(), "model.config.is_valid.site_url.app_error", "{}", r.body);
    assert!(r.body["detailed_error"].as_str().unwrap_or_default().contains("ServiceSettings.SiteURL"));
    for (patch, id) in [
        (json!({"TeamSettings": {"MaxUsersPerTeam": 0}}), "model.config.is_valid.max_users.app_error"),
        (json!({"SqlSettings": {"MaxIdleConns": 0}}), "model.config.is_valid.sql_idle.app_error"),
        (json!({"SqlSettings": {"MaxOpenConns": -1}}), "model.config.is_valid.sql_max_conn.app_error"),
        (json!({"ServiceSettings": {"ListenAddress": ":99999"}}), "model.config.is_valid.listen_address.app_error"),
        (json!({"ServiceSettings": {"SiteURL": "ftp://x"}}), "model.config.is_valid.site_url.app_error"),
        (json!({"ServiceSettings": {"MaximumLoginAttempts": 0}}), "model.config.is_valid.login_attempts.app_error"),
        (json!({"RateLimitSettings": {"PerSec": 0}}), "model.config.is_valid.rate_sec.app_error"),
        (json!({"RateLimitSettings": {"MemoryStoreSize": 0}}), "model.config.is_valid.rate_mem.app_error"),
    ] {
        let r = admin.put("/config/patch", patch.clone()).await;
        let r = check(r, 400, &patch.to_string());
        assert_eq!(r.id(), id, "{patch}: {}", r.body);
    }
    assert_eq!(std::fs::read(&path).unwrap(), before, "nothing was written");
    // Valid values pass.
    let ok = admin
        .put(
            "/config/patch",
            json!({"ServiceSettings": {"SiteURL": "https://chat.example.com"}, "TeamSettings": {"MaxUsersPerTeam": 7}}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(ok["ServiceSettings"]["SiteURL"], json!("https://chat.example.com"));
    assert_eq!(server.node.state.config().team_settings.max_users_per_team, 7);
    // A file edited into an invalid config is refused at reload, and the node keeps its config.
    let mut edited: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edited["SqlSettings"]["MaxIdleConns"] = json!(0);
    std::fs::write(&path, serde_json::to_vec_pretty(&edited).unwrap()).unwrap();
    let r = admin.post("/config/reload", json!({})).await.expect(400);
    assert_eq!(r.id(), "model.config.is_valid.sql_idle.app_error");
    assert_eq!(server.node.state.config().sql_settings.max_idle_conns, 20);
}

#[actix_web::test]
async fn an_invalid_config_in_the_database_never_takes_the_node_down_and_secrets_stay_out() {
    let db = TestDb::new().await;
    let dsn = with_password(&db.url);
    let source = ConfigSource::Database { dsn: dsn.clone() };
    let mut config = test_config(&db);
    config.sql_settings.data_source = dsn.clone();
    config.file_settings.amazon_s3_secret_access_key = "s3-key-in-db".into();
    config.file_settings.amazon_s3_access_key_id = "id".into();
    config.metrics_settings.enable = true;
    config.metrics_settings.listen_address = "127.0.0.1:0".into();
    source.write(&serde_json::to_value(&config).unwrap()).await.expect("store the config");
    let loaded = starling::config::source::load(&source, std::iter::empty()).await.expect("load");
    let logs = Logs::default();
    let mut node = starling::server::start(loaded, logs.logger()).await.expect("node starts");
    let anon = Client::new(&format!("http://{}", node.http_addr));
    let (admin, _) = anon.new_user("admin").await;

    // Someone stores an invalid config (another node, an operator with psql).
    let mut bad = serde_json::to_value(&config).unwrap();
    bad["TeamSettings"]["MaxUsersPerTeam"] = json!(-5);
    source.write(&bad).await.expect("store the invalid config");
    let r = admin.post("/config/reload", json!({})).await.expect(400);
    assert_eq!(r.id(), "model.config.is_valid.max_users.app_error", "{}", r.body);
    // The node's own poll finds it too, logs why, and keeps running the last good config.
    let noticed = wait_until(Duration::from_secs(40), || async {
        logs.find("stored config not applied, keeping the running one").is_some()
    })
    .await;
    assert!(noticed, "the poll logs the invalid row: {:#?}", logs.lines());
    let line = logs.find("stored config not applied").unwrap_or_default();
    assert!(line.starts_with("ERROR") && line.contains("TeamSettings.MaxUsersPerTeam"), "{line}");
    assert_eq!(node.state.config().team_settings.max_users_per_team, 50);
    anon.get("/system/ping").await.expect(200);
    admin.create_team(true).await;

    // Secrets appear in no output: logs, the config API, cluster status, metrics.
    let metrics_addr = node.metrics_addr.expect("metrics listen");
    let metrics = reqwest::get(format!("http://{metrics_addr}/metrics")).await.unwrap().text().await.unwrap();
    let outputs = [
        logs.lines().join("\n"),
        admin.get("/config").await.expect(200).body.to_string(),
        String::from_utf8_lossy(&admin.get("/cluster/status").await.bytes).into_owned(),
        metrics,
    ];
    for (i, out) in outputs.iter().enumerate() {
        for secret in [DB_PASSWORD, "s3-key-in-db"] {
            assert!(!out.contains(secret), "output {i} carries {secret}");
        }
    }
    assert!(outputs[0].contains("database ready"), "the logs were captured");
    node.stop().await;
}

#[actix_web::test]
async fn the_rate_limit_answers_429_with_mattermosts_headers() {
    let server = TestServer::start_with(|c| {
        c.rate_limit_settings.enable = true;
        c.rate_limit_settings.per_sec = 1;
        c.rate_limit_settings.max_burst = 2;
        c.service_settings.trusted_proxy_ip_header = vec!["X-Forwarded-For".into()];
    })
    .await;
    let anon = server.client();
    let header = |r: &Resp, name: &str| -> Option<u64> { r.headers.get(name)?.to_str().ok()?.parse().ok() };
    let first = anon.get("/system/ping").await.expect(200);
    assert_eq!(header(&first, "x-ratelimit-limit"), Some(3), "MaxBurst + 1");
    assert_eq!(header(&first, "x-ratelimit-remaining"), Some(2));
    assert_eq!(header(&first, "x-ratelimit-reset"), Some(1));
    let mut refused = None;
    for _ in 0..6 {
        let r = anon.get("/system/ping").await;
        if r.status.as_u16() == 429 {
            refused = Some(r);
            break;
        }
    }
    let refused = refused.expect("a burst past the allowance is refused").expect(429);
    assert_eq!(header(&refused, "x-ratelimit-limit"), Some(3));
    assert_eq!(header(&refused, "x-ratelimit-remaining"), Some(0));
    assert!(header(&refused, "retry-after").is_some_and(|s| s >= 1), "{:?}", refused.headers);
    assert!(header(&refused, "x-ratelimit-reset").is_some_and(|s| s >= 1));

    // Behind a proxy on loopback, each forwarded client has its own allowance.
    let forwarded = anon
        .http
        .get(format!("{}/api/v4/system/ping", anon.base))
        .header("X-Forwarded-For", "198.51.100.7, 203.0.113.5")
        .send()
        .await
        .unwrap();
    assert_eq!(forwarded.status().as_u16(), 200, "another client behind the proxy");
    assert!(server.node.state.metrics.http_rate_limited.get() >= 1);

    // The allowance comes back at PerSec.
    let back =
        wait_until(Duration::from_secs(5), || async { anon.get("/system/ping").await.status.as_u16() == 200 }).await;
    assert!(back, "one request a second is allowed again");
}

#[actix_web::test]
async fn failed_logins_spread_over_two_nodes_lock_the_account_until_an_admin_resets_it() {
    let db = TestDb::new().await;
    let mut config = test_config(&db);
    config.service_settings.maximum_login_attempts = 4;
    let mut a = start_node(config.clone()).await;
    let mut b = start_node(config).await;
    let (ca, cb) = (Client::new(&format!("http://{}", a.http_addr)), Client::new(&format!("http://{}", b.http_addr)));
    let (admin, _) = ca.new_user("admin").await;
    let (user_id, name) = ca.create_user("victim").await;
    let login = |c: &Client, pw: &str| {
        let (c, pw, name) = (c.clone(), pw.to_owned(), name.clone());
        async move { c.post("/users/login", json!({"login_id": name, "password": pw})).await }
    };
    let failed = || async {
        let c = db.client().await;
        let n: i32 = c.query_one("SELECT failed_attempts FROM users WHERE id = $1", &[&user_id]).await.unwrap().get(0);
        n
    };

    // A good login resets the count.
    login(&ca, "wrong-1").await.expect(401);
    login(&cb, "wrong-2").await.expect(401);
    assert_eq!(failed().await, 2);
    login(&cb, "password-1").await.expect(200);
    assert_eq!(failed().await, 0);

    // Four failures, alternating nodes: the limit holds for both.
    for (i, c) in [&ca, &cb, &ca, &cb].into_iter().enumerate() {
        let r = login(c, &format!("wrong-{i}")).await.expect(401);
        assert_eq!(r.id(), "api.user.login.invalid_credentials_email_username");
    }
    assert_eq!(failed().await, 4);
    for c in [&ca, &cb] {
        let r = login(c, "password-1").await.expect(401);
        assert_eq!(r.id(), "api.user.check_user_login_attempts.too_many.app_error", "the right password too");
    }
    assert_eq!(failed().await, 4, "refused attempts are not counted past the limit");

    // The admin sets a new password on node A; the user logs in on node B.
    admin.put(&format!("/users/{user_id}/password"), json!({"new_password": "brand-new-pw"})).await.expect(200);
    assert_eq!(failed().await, 0);
    login(&cb, "brand-new-pw").await.expect(200);
    login(&ca, "password-1").await.expect(401);
    a.stop().await;
    b.stop().await;
}

#[actix_web::test]
async fn password_rules_apply_on_sign_up_and_on_change() {
    let server = TestServer::start_with(|c| {
        c.password_settings.minimum_length = 10;
        c.password_settings.uppercase = true;
        c.password_settings.number = true;
        c.password_settings.symbol = true;
    })
    .await;
    let anon = server.client();
    let sign_up = |name: &str, pw: &str| {
        let (anon, name, pw) = (anon.clone(), name.to_owned(), pw.to_owned());
        async move {
            anon.post("/users", json!({"email": format!("{name}@example.com"), "username": name, "password": pw})).await
        }
    };
    for (pw, id) in [
        ("Sh0rt!", "model.user.is_valid.pwd_min_length.app_error"),
        ("longenoughpassword", "model.user.is_valid.pwd_uppercase_number_symbol.app_error"),
        ("Longenoughpassword", "model.user.is_valid.pwd_number_symbol.app_error"),
        ("Longenough1password", "model.user.is_valid.pwd_symbol.app_error"),
    ] {
        let r = check(sign_up("rules", pw).await, 400, pw);
        assert_eq!(r.id(), id, "{pw}: {}", r.body);
    }
    let admin_id = sign_up("admin", "Good-pass-1").await.expect(201).id();
    let user_id = sign_up("someone", "Good-pass-2").await.expect(201).id();
    let token = |name: &str, pw: &str| {
        let (anon, name, pw) = (anon.clone(), name.to_owned(), pw.to_owned());
        async move {
            let r = anon.post("/users/login", json!({"login_id": name, "password": pw})).await.expect(200);
            anon.with_token(r.headers.get("Token").and_then(|v| v.to_str().ok()).expect("token"))
        }
    };
    let user = token("someone", "Good-pass-2").await;
    let own = format!("/users/{user_id}/password");
    user.put(&own, json!({"new_password": "Newer-pass-3"})).await.expect(400); // no current password
    let r = user.put(&own, json!({"current_password": "nope", "new_password": "Newer-pass-3"})).await.expect(400);
    assert_eq!(r.id(), "api.user.update_password.incorrect.app_error");
    let r = user.put(&own, json!({"current_password": "Good-pass-2", "new_password": "Newer-pass-"})).await.expect(400);
    assert_eq!(r.id(), "model.user.is_valid.pwd_number.app_error");
    user.put("/users/me/password", json!({"current_password": "Good-pass-2", "new_password": "Newer-pass-3"}))
        .await
        .expect(200);
    token("someone", "Newer-pass-3").await;
    // Someone else's password: only a system admin, and the rules still hold.
    user.put(&format!("/users/{admin_id}/password"), json!({"new_password": "Hijack-pass-9"})).await.expect(403);
    let admin = token("admin", "Good-pass-1").await;
    let r = admin.put(&own, json!({"new_password": "weak"})).await.expect(400);
    assert_eq!(r.id(), "model.user.is_valid.pwd_min_length.app_error");
    admin.put(&own, json!({"new_password": "Reset-by-admin-4"})).await.expect(200);
    token("someone", "Reset-by-admin-4").await;
}
