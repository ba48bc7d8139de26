//! Node-level behaviour: migrations under a lock, health checks, metrics, config errors.

mod common;
use common::*;
use serde_json::json;

#[actix_web::test]
async fn nodes_starting_together_migrate_once() {
    let db = TestDb::new().await;
    let configs: Vec<_> = (0..3).map(|_| test_config(&db)).collect();
    let nodes = futures_util::future::join_all(configs.into_iter().map(start_node)).await;
    assert_eq!(nodes.len(), 3);
    let rows = db
        .client()
        .await
        .query("SELECT version, applied_by FROM schema_migrations ORDER BY version", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), starling::store::MIGRATIONS.len());
    let versions: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    let expected: Vec<i32> = starling::store::MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(versions, expected);
    let appliers: std::collections::HashSet<String> = rows.iter().map(|r| r.get(1)).collect();
    assert_eq!(appliers.len(), 1, "one node ran every migration");
    for n in &nodes {
        let c = Client::new(&format!("http://{}", n.http_addr));
        c.get("/system/ping").await.expect(200);
        assert_eq!(n.state.store.schema_version().await.unwrap(), starling::store::SCHEMA_VERSION);
    }
}

#[actix_web::test]
async fn ping_checks_database_and_file_store() {
    let s = TestServer::start().await;
    let c = s.client();
    let r = c.get("/system/ping").await.expect(200);
    assert_eq!(r.body["status"], "OK");
    assert!(r.body.get("database_status").is_none());
    let r = c.get("/system/ping?get_server_status=true&use_rest_semantics=true").await.expect(200);
    assert_eq!(r.body["database_status"], "OK");
    assert_eq!(r.body["filestore_status"], "OK");
    // Break the file store: its directory becomes a plain file.
    let dir = std::path::PathBuf::from(&s.config.file_settings.directory);
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::write(&dir, b"not a directory").unwrap();
    let r = c.get("/system/ping?get_server_status=true&use_rest_semantics=true").await;
    assert_eq!(r.status, 500);
    assert_eq!(r.body["filestore_status"], "UNHEALTHY");
    assert_eq!(r.body["database_status"], "OK");
    assert_eq!(r.body["status"], "UNHEALTHY");
}

#[actix_web::test]
async fn metrics_are_served_when_enabled() {
    let s = TestServer::start_with(|c| {
        c.metrics_settings.enable = true;
        c.metrics_settings.listen_address = "127.0.0.1:0".into();
    })
    .await;
    let (me, _) = s.client().new_user("u").await;
    me.get("/users/me").await.expect(200);
    let addr = s.node.metrics_addr.expect("metrics listen");
    let text = reqwest::get(format!("http://{addr}/metrics")).await.unwrap().text().await.unwrap();
    assert!(
        text.contains(
            "starling_http_requests_total{method=\"GET\",route=\"/api/v4/users/{user_id}\",status=\"200\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains("starling_http_request_duration_seconds_bucket"));
    assert!(text.contains("mattermost_db_master_connections_total"));
}

#[actix_web::test]
async fn unreachable_database_fails_start_with_a_clear_error() {
    let db = TestDb::new().await;
    let mut c = test_config(&db);
    c.sql_settings.data_source = "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=1".into();
    c.sql_settings.connect_attempts = 2;
    c.sql_settings.connect_retry_seconds = 0;
    let loaded =
        starling::config::LoadedConfig::from_config(c, starling::config::source::ConfigSource::File("x".into()));
    let err = starling::server::start(loaded, test_logger()).await.err().expect("start fails");
    assert!(format!("{err:#}").contains("SqlSettings.DataSource"), "{err:#}");
}

#[test]
fn binary_refuses_an_invalid_setting_naming_the_key() {
    let dir = temp_dir("cfg");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_starling"))
        .args(["serve", "--config"])
        .arg(dir.join("config.json"))
        .env("MM_SERVICESETTINGS_SESSIONLENGTHWEBINHOURS", "soon")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ServiceSettings.SessionLengthWebInHours"), "{err}");
    // The missing file was created from defaults, without the environment's value.
    let written: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(written["ServiceSettings"]["SessionLengthWebInHours"], json!(720));
}

#[actix_web::test]
async fn a_stopped_actor_comes_back_under_supervision_and_the_node_keeps_serving() {
    use common::ws::Ws;
    let s = TestServer::start_with(|c| {
        c.metrics_settings.enable = true;
        c.metrics_settings.listen_address = "127.0.0.1:0".into();
    })
    .await;
    let (me, my_id) = s.client().new_user("u").await;
    me.get("/users/me").await.expect(200);
    let team = me.create_team(true).await;
    let channel = me.create_channel(&team, false).await;
    let mut ws = Ws::connect(&s.url(), me.token.as_deref().unwrap()).await;
    assert_eq!(ws.event().await["event"], "hello");
    // Stop the session cache and the event bus (as a failure would): the supervisor restarts them.
    let state = &s.node.state;
    state.sessions.send(starling_actors::Restart).await.expect("the session cache answers");
    state.events.bus().send(starling_actors::Restart).await.expect("the bus answers");
    // The same addresses work: sessions are read again, events still reach the websocket.
    me.get("/users/me").await.expect(200);
    let post = me.create_post(&channel, "after the restart").await;
    let (ev, _) = ws.until_event("posted").await;
    let got: serde_json::Value = serde_json::from_str(ev["data"]["post"].as_str().unwrap()).unwrap();
    assert_eq!(got["id"], post["id"]);
    assert_eq!(got["user_id"], serde_json::json!(my_id));
    let addr = s.node.metrics_addr.expect("metrics listen");
    let text = reqwest::get(format!("http://{addr}/metrics")).await.unwrap().text().await.unwrap();
    for actor in ["session_cache", "event_bus"] {
        assert!(text.contains(&format!("starling_actor_restarts_total{{actor=\"{actor}\"}} 1")), "{actor}: {text}");
    }
    assert!(text.contains("starling_db_master_up 1"), "{text}");
}
