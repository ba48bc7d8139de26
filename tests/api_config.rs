//! The config API on one node with a file config: who may use it, secrets hidden and kept, bad
//! input refused with nothing written, patches, reloads.

mod common;
use common::*;
use serde_json::{json, Value};
use starling::config::FAKE_SETTING;

fn file_of(server: &TestServer) -> std::path::PathBuf {
    match &server.node.state.config_source {
        starling::config::source::ConfigSource::File(p) => p.clone(),
        other => panic!("a file source, not {other:?}"),
    }
}

fn read_file(path: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("config file")).expect("json")
}

#[actix_web::test]
async fn only_system_admins_use_the_config_api() {
    let server = TestServer::start().await;
    let anon = server.client();
    let (admin, _) = anon.new_user("admin").await;
    let (user, _) = anon.new_user("user").await;
    for r in [
        user.get("/config").await,
        user.put("/config", json!({})).await,
        user.put("/config/patch", json!({})).await,
        user.post("/config/reload", json!({})).await,
        user.get("/config/environment").await,
    ] {
        r.expect(403);
    }
    anon.get("/config").await.expect(401);
    admin.get("/config").await.expect(200);
}

#[actix_web::test]
async fn secrets_are_hidden_and_kept_and_bad_configs_change_nothing() {
    let server = TestServer::start_with(|c| {
        c.sql_settings.data_source_replicas = vec![c.sql_settings.data_source.clone()];
        c.file_settings.amazon_s3_secret_access_key = "s3-secret".into();
    })
    .await;
    let (admin, _) = server.client().new_user("admin").await;
    let path = file_of(&server);

    let cfg = admin.get("/config").await.expect(200).body;
    assert_eq!(cfg["SqlSettings"]["DataSource"], json!(FAKE_SETTING));
    assert_eq!(cfg["SqlSettings"]["DataSourceReplicas"], json!([FAKE_SETTING]));
    assert_eq!(cfg["FileSettings"]["AmazonS3SecretAccessKey"], json!(FAKE_SETTING));
    assert!(!cfg.to_string().contains("s3-secret") && !cfg.to_string().contains("postgres://"));

    // Saved back with one change: the secrets keep their values.
    let mut changed = cfg.clone();
    changed["TeamSettings"]["EnableOpenServer"] = json!(false);
    let saved = admin.put("/config", changed).await.expect(200).body;
    assert_eq!(saved["SqlSettings"]["DataSource"], json!(FAKE_SETTING));
    let on_disk = read_file(&path);
    assert_eq!(on_disk["TeamSettings"]["EnableOpenServer"], json!(false));
    assert_eq!(on_disk["SqlSettings"]["DataSource"], json!(server.config.sql_settings.data_source));
    assert_eq!(on_disk["SqlSettings"]["DataSourceReplicas"], json!([server.config.sql_settings.data_source]));
    assert_eq!(on_disk["FileSettings"]["AmazonS3SecretAccessKey"], json!("s3-secret"));
    assert!(!server.node.state.config().team_settings.enable_open_server, "the node runs it at once");
    // It applies: open sign-up is now refused.
    let r = server
        .client()
        .post("/users", json!({"email": "x@example.com", "username": "xuser", "password": "password-1"}))
        .await;
    r.expect(403);

    // Bad input: a wrong type, an invalid value, not an object, not JSON. Nothing is written.
    let before = std::fs::read(&path).unwrap();
    let mut wrong_type = cfg.clone();
    wrong_type["ServiceSettings"]["ListenAddress"] = json!(8065);
    let r = admin.put("/config", wrong_type).await.expect(400);
    assert!(
        r.body["detailed_error"].as_str().unwrap_or_default().contains("ServiceSettings.ListenAddress"),
        "{}",
        r.body
    );
    let r = admin.put("/config/patch", json!({"PasswordSettings": {"MinimumLength": 2}})).await.expect(400);
    assert!(
        r.body["detailed_error"].as_str().unwrap_or_default().contains("PasswordSettings.MinimumLength"),
        "{}",
        r.body
    );
    admin.put("/config", json!([1, 2])).await.expect(400);
    admin.put("/config/patch", json!("x")).await.expect(400);
    send_raw(&admin, reqwest::Method::PUT, "/config", "{not json").await.expect(400);
    assert_eq!(std::fs::read(&path).unwrap(), before, "the file is unchanged");
    assert_eq!(server.node.state.config().password_settings.minimum_length, 8);

    // A patch changes only what it names.
    let patched = admin.put("/config/patch", json!({"PasswordSettings": {"MinimumLength": 11}})).await.expect(200).body;
    assert_eq!(patched["PasswordSettings"]["MinimumLength"], json!(11));
    assert_eq!(patched["TeamSettings"]["EnableOpenServer"], json!(false));
    assert_eq!(read_file(&path)["PasswordSettings"]["MinimumLength"], json!(11));

    // An edit on disk takes effect at reload.
    let mut edited = read_file(&path);
    edited["PasswordSettings"]["MinimumLength"] = json!(14);
    std::fs::write(&path, serde_json::to_vec_pretty(&edited).unwrap()).unwrap();
    admin.post("/config/reload", json!({})).await.expect(200);
    assert_eq!(server.node.state.config().password_settings.minimum_length, 14);
    std::fs::write(&path, b"{broken").unwrap();
    admin.post("/config/reload", json!({})).await.expect(400);
    assert_eq!(server.node.state.config().password_settings.minimum_length, 14, "a broken file changes nothing");
    assert_eq!(admin.get("/config/environment").await.expect(200).body, json!({}));
}

#[actix_web::test]
async fn client_config_and_license_need_the_old_format_and_hide_secrets() {
    let server = TestServer::start_with(|c| {
        c.password_settings.minimum_length = 9;
        c.team_settings.enable_open_server = false;
        c.service_settings.enable_user_access_tokens = true;
        c.service_settings.enable_commands = false;
        c.service_settings.enable_outgoing_webhooks = false;
    })
    .await;
    let anon = server.client();
    let cfg = anon.get("/config/client?format=old").await.expect(200).body;
    assert_eq!(cfg["PasswordMinimumLength"], json!("9"), "{cfg}");
    // The integrations' switches are the running config's.
    assert_eq!((&cfg["EnableUserAccessTokens"], &cfg["EnableCommands"]), (&json!("true"), &json!("false")), "{cfg}");
    assert_eq!((&cfg["EnableIncomingWebhooks"], &cfg["EnableBotAccountCreation"]), (&json!("true"), &json!("false")));
    assert_eq!(cfg["EnableOutgoingWebhooks"], json!("false"), "the running config's, off here");
    assert_eq!(cfg["EnableOpenServer"], json!("false"));
    assert!(cfg.as_object().unwrap().values().all(Value::is_string), "every value a string: {cfg}");
    assert!(!cfg.to_string().contains("postgres://"));
    anon.get("/config/client").await.expect(501);
    assert_eq!(anon.get("/license/client?format=old").await.expect(200).body, json!({"IsLicensed": "false"}));
    anon.get("/license/client").await.expect(501);
    anon.get("/license/client?format=new").await.expect(400);
}
