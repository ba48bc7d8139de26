//! `starling admin`, run as an operator runs it, against a three-node cluster whose config is in
//! the database: every command, its table and its `--json`, its errors and exit codes, and that a
//! change made through one node is what the other nodes run. Then local mode on a node's socket.

mod common;
use common::admin::admin;
use common::cluster::NodeProc;
use common::{temp_dir, wait_until, Client, TestDb};
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

/// Three nodes on one database, their config in it (ReadOnlyConfig off, so the API may save).
async fn three_nodes(db: &TestDb) -> Vec<NodeProc> {
    let files = temp_dir("shared-files");
    let name = format!("c{}", &starling_protocol::new_id()[..8]);
    common::migrate_config_into(db, false);
    let extra = [("MM_CONFIG", db.url.as_str()), ("MM_SERVICESETTINGS_ENABLEUSERACCESSTOKENS", "true")];
    let nodes: Vec<NodeProc> =
        (1..=3).map(|i| NodeProc::spawn(db, &format!("node-{i}"), &name, &files, &extra)).collect();
    for n in &nodes {
        n.ready().await;
    }
    nodes
}

fn lines_with(text: &str, needle: &str) -> usize {
    text.lines().filter(|l| l.contains(needle)).count()
}

#[actix_web::test]
async fn the_admin_cli_runs_the_cluster_through_the_api() {
    let db = TestDb::new().await;
    let nodes = three_nodes(&db).await;
    let (n1, n2, n3) = (nodes[0].url(), nodes[1].url(), nodes[2].url());
    let anon = Client::new(&n1);
    let (api, _) = anon.new_user("admin").await; // the first user: a system admin
    let me = api.get("/users/me").await.expect(200).body;
    let admin_name = me["username"].as_str().unwrap().to_owned();
    let on3 = api.clone_to(&n3);
    let creds = temp_dir("admin-cli").join("conf/admin.json");

    // Not logged in: a usage error (2), saying what to do.
    let r = admin(&creds, &["system", "ping"]).await;
    assert_eq!(r.code, 2, "{}", r.err);
    assert!(r.err.contains("auth login"), "{}", r.err);

    // A wrong password: the server's refusal, exit 1.
    let r = admin(&creds, &["auth", "login", &n1, "--username", &admin_name, "--password", "nope"]).await;
    assert_eq!(r.code, 1, "{}", r.err);
    assert!(r.err.contains("api.user.login.invalid_credentials"), "{}", r.err);
    // Nobody listening: exit 3.
    let closed = format!("http://127.0.0.1:{}", common::cluster::free_port());
    let r = admin(&creds, &["auth", "login", &closed, "--username", "x", "--password", "y"]).await;
    assert_eq!(r.code, 3, "{}", r.err);

    // Log in with a password on node 1, and with a personal access token (from a file) on node 2.
    let pw = temp_dir("admin-pw").join("pw");
    std::fs::write(&pw, "password-1\n").unwrap();
    let r = admin(&creds, &["auth", "login", &n1, "--name", "one", "--username", &admin_name, "--password-file"]).await;
    assert_eq!(r.code, 2, "--password-file needs a value: {}", r.err);
    admin(
        &creds,
        &["auth", "login", &n1, "--name", "one", "--username", &admin_name, "--password-file", pw.to_str().unwrap()],
    )
    .await
    .ok();
    let pat = api.post("/users/me/tokens", json!({"description": "cli"})).await.expect(200).body;
    let tok = temp_dir("admin-tok").join("t");
    std::fs::write(&tok, pat["token"].as_str().unwrap()).unwrap();
    admin(&creds, &["auth", "login", &n2, "--name", "two", "--access-token-file", tok.to_str().unwrap()]).await.ok();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&creds).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the credentials file is the owner's only");
    let saved = std::fs::read_to_string(&creds).unwrap();
    assert!(!saved.contains("password-1"), "no password is kept");
    let list = admin(&creds, &["auth", "list"]).await.ok().out;
    assert_eq!(lines_with(&list, &admin_name), 2, "{list}");
    assert!(list.lines().any(|l| l.starts_with('*') && l.contains("two")), "the last login is current: {list}");
    let cur = admin(&creds, &["--json", "auth", "current"]).await.ok().json();
    assert_eq!(cur["name"], "two");
    assert_eq!(cur["url"], json!(n2));
    admin(&creds, &["auth", "switch", "one"]).await.ok();
    assert_eq!(admin(&creds, &["auth", "switch", "three"]).await.code, 2);

    // system: which node answered, its health, its version.
    let ping = admin(&creds, &["--json", "system", "ping"]).await.ok().json();
    assert_eq!(ping["status"], "OK");
    let node_id = ping["node_id"].as_str().expect("node_id").to_owned();
    let row = api
        .get("/cluster/status")
        .await
        .expect(200)
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == json!(node_id))
        .cloned();
    assert_eq!(ping["hostname"], row.expect("the node is in cluster status")["hostname"], "the node's hostname");
    let status = admin(&creds, &["system", "status"]).await.ok().out;
    assert!(status.contains("DATABASE") && lines_with(&status, "OK") == 1, "{status}");
    let v = admin(&creds, &["system", "version"]).await.ok().out;
    assert!(v.contains(starling::VERSION), "{v}");

    // cluster status: a row per node, one leader, all green.
    let ok_cluster = wait_until(Duration::from_secs(20), || async {
        let r = admin(&creds, &["--json", "cluster", "status"]).await;
        let rows = r.json();
        rows.as_array().is_some_and(|a| a.len() == 3 && a.iter().all(|n| n["status"] == "green"))
    })
    .await;
    assert!(ok_cluster, "three green nodes");
    let rows = admin(&creds, &["--json", "cluster", "status"]).await.ok().json();
    assert_eq!(rows.as_array().unwrap().iter().filter(|n| n["is_leader"] == true).count(), 1, "{rows}");
    let table = admin(&creds, &["cluster", "status"]).await.ok().out;
    assert!(table.starts_with("NODE"), "{table}");
    assert_eq!(lines_with(&table, "green"), 3, "{table}");
    assert_eq!(lines_with(&table, "yes"), 1, "one leader: {table}");

    // config: get, set (typed), patch, show, reload; node 3 runs what node 1 saved.
    let r = admin(&creds, &["config", "get", "PasswordSettings.MinimumLength"]).await.ok();
    assert_eq!(r.out.trim(), "8");
    admin(&creds, &["config", "set", "PasswordSettings.MinimumLength", "12"]).await.ok();
    let seen = wait_until(Duration::from_secs(20), || async {
        on3.get("/config").await.body["PasswordSettings"]["MinimumLength"] == json!(12)
    })
    .await;
    assert!(seen, "node 3 runs the new setting");
    let r = admin(&creds, &["config", "set", "PasswordSettings.MinimumLength", "twelve"]).await;
    assert_eq!(r.code, 2, "{}", r.err);
    assert!(r.err.contains("whole number"), "{}", r.err);
    let r = admin(&creds, &["config", "set", "TeamSettings.MaxUsersPerTeam", "0"]).await;
    assert_eq!(r.code, 1, "the server refuses it: {}", r.err);
    assert!(r.err.contains("model.config.is_valid"), "{}", r.err);
    let r = admin(&creds, &["config", "get", "NoSuch.Setting"]).await;
    assert_eq!(r.code, 2);
    let patch = temp_dir("admin-patch").join("p.json");
    std::fs::write(&patch, r#"{"TeamSettings": {"MaxChannelsPerTeam": 321}}"#).unwrap();
    admin(&creds, &["config", "patch", patch.to_str().unwrap()]).await.ok();
    let seen = wait_until(Duration::from_secs(20), || async {
        api.clone_to(&n2).get("/config").await.body["TeamSettings"]["MaxChannelsPerTeam"] == json!(321)
    })
    .await;
    assert!(seen, "node 2 runs the patch");
    let shown = admin(&creds, &["config", "show"]).await.ok().json();
    assert_eq!(shown["SqlSettings"]["DataSource"], json!(starling::config::FAKE_SETTING), "secrets masked");
    assert_eq!(shown["PasswordSettings"]["MinimumLength"], json!(12));
    admin(&creds, &["config", "reload"]).await.ok();

    // users
    let made = admin(
        &creds,
        &[
            "--json",
            "user",
            "create",
            "--email",
            "carol@example.com",
            "--username",
            "carol",
            "--password",
            "Password-123456",
        ],
    )
    .await
    .ok()
    .json();
    let carol_id = made[0]["id"].as_str().unwrap().to_owned();
    let r =
        admin(&creds, &["user", "create", "--email", "x@example.com", "--username", "xx", "--password", "short"]).await;
    assert_eq!(r.code, 1, "password rules: {}", r.err);
    let listed = admin(&creds, &["--json", "user", "list", "--all", "--per-page", "1"]).await.ok().json();
    assert!(listed.as_array().unwrap().iter().any(|u| u["username"] == "carol"), "{listed}");
    let r = admin(&creds, &["user", "search", "carol", "carol@example.com", "nobody-here"]).await;
    assert_eq!(r.code, 1, "one not found");
    assert_eq!(lines_with(&r.out, "carol@example.com"), 2, "{}", r.out);
    assert!(r.err.contains("nobody-here"), "{}", r.err);
    admin(&creds, &["user", "deactivate", "carol"]).await.ok();
    assert!(on3.get(&format!("/users/{carol_id}")).await.expect(200).body["delete_at"].as_i64().unwrap() > 0);
    let table = admin(&creds, &["user", "search", "carol"]).await.ok().out;
    assert!(table.contains("deactivated"), "{table}");
    admin(&creds, &["user", "activate", &carol_id]).await.ok();
    assert_eq!(on3.get(&format!("/users/{carol_id}")).await.expect(200).body["delete_at"], json!(0));
    admin(&creds, &["user", "role", "carol", "system_admin"]).await.ok();
    assert!(on3.get(&format!("/users/{carol_id}")).await.body["roles"].as_str().unwrap().contains("system_admin"));
    admin(&creds, &["user", "role", "carol", "member"]).await.ok();
    assert_eq!(on3.get(&format!("/users/{carol_id}")).await.body["roles"], "system_user");
    assert_eq!(admin(&creds, &["user", "role", "carol", "king"]).await.code, 2);

    // teams, channels, posts
    let t = admin(&creds, &["--json", "team", "create", "--name", "ops", "--display-name", "Ops"]).await.ok().json();
    let team_id = t[0]["id"].as_str().unwrap().to_owned();
    let r = admin(&creds, &["team", "create", "--name", "ops", "--display-name", "Ops again"]).await;
    assert_eq!(r.code, 1, "a taken name: {}", r.err);
    assert!(admin(&creds, &["team", "list"]).await.ok().out.contains("ops"));
    admin(&creds, &["team", "users", "add", "ops", "carol"]).await.ok();
    on3.get(&format!("/teams/{team_id}/members/{carol_id}")).await.expect(200);
    admin(&creds, &["channel", "create", "--team", "ops", "--name", "alerts", "--display-name", "Alerts"]).await.ok();
    assert!(admin(&creds, &["channel", "list", "ops"]).await.ok().out.contains("alerts"));
    admin(&creds, &["channel", "users", "add", "ops:alerts", "carol"]).await.ok();
    let ch = on3.get(&format!("/teams/{team_id}/channels/name/alerts")).await.expect(200).body;
    let channel_id = ch["id"].as_str().unwrap().to_owned();
    on3.get(&format!("/channels/{channel_id}/members/{carol_id}")).await.expect(200);
    admin(&creds, &["post", "create", "ops:alerts", "--message", "deploy done"]).await.ok();
    let posts = admin(&creds, &["post", "list", "ops:alerts"]).await.ok().out;
    assert!(posts.contains("deploy done") && posts.contains(&admin_name), "{posts}");
    let on_3 = on3.get(&format!("/channels/{channel_id}/posts")).await.expect(200).body;
    assert!(on_3["posts"].as_object().unwrap().values().any(|p| p["message"] == "deploy done"));
    let r = admin(&creds, &["post", "create", "ops:nope", "--message", "x"]).await;
    assert_eq!(r.code, 2, "{}", r.err);
    assert!(r.err.contains("no channel"), "{}", r.err);
    admin(&creds, &["channel", "users", "remove", "ops:alerts", "carol"]).await.ok();
    on3.get(&format!("/channels/{channel_id}/members/{carol_id}")).await.expect(404);
    admin(&creds, &["channel", "archive", "ops:alerts"]).await.ok();
    assert!(on3.get(&format!("/channels/{channel_id}")).await.expect(200).body["delete_at"].as_i64().unwrap() > 0);
    admin(&creds, &["team", "users", "remove", "ops", "carol"]).await.ok();
    admin(&creds, &["team", "archive", "ops"]).await.ok();
    assert!(on3.get(&format!("/teams/{team_id}")).await.expect(200).body["delete_at"].as_i64().unwrap() > 0);
    let r = admin(&creds, &["team", "archive", &team_id]).await;
    assert_eq!(r.code, 1, "already archived: {}", r.err);

    // jobs, database, plugins
    let job = admin(&creds, &["--json", "job", "create", "cleanup_jobs"]).await.ok().json();
    let jobs = admin(&creds, &["--json", "job", "list", "--type", "cleanup_jobs"]).await.ok().json();
    assert!(jobs.as_array().unwrap().iter().any(|j| j["id"] == job["id"]), "{jobs}");
    assert!(admin(&creds, &["job", "list"]).await.ok().out.starts_with("ID"));
    assert_eq!(admin(&creds, &["job", "create", "no_such_job"]).await.code, 1);
    admin(&creds, &["db", "recycle"]).await.ok();
    assert!(admin(&creds, &["plugin", "list"]).await.ok().out.starts_with("ID"));

    // The token login works the same (on node 2), and a revoked token is refused with exit 1.
    admin(&creds, &["auth", "switch", "two"]).await.ok();
    let ping2 = admin(&creds, &["--json", "system", "ping"]).await.ok().json();
    assert_ne!(ping2["node_id"], ping["node_id"], "node 2 answered");
    api.post("/users/tokens/revoke", json!({"token_id": pat["id"]})).await.expect(200);
    let r = admin(&creds, &["cluster", "status"]).await;
    assert_eq!(r.code, 1, "{}", r.err);
    assert!(r.err.contains("401"), "{}", r.err);
    admin(&creds, &["auth", "delete", "two"]).await.ok();
    assert_eq!(admin(&creds, &["auth", "current"]).await.code, 2, "no current login");
    drop(nodes);
}

#[actix_web::test]
async fn local_mode_answers_the_administration_api_on_the_nodes_socket_only() {
    let dir = temp_dir("local-mode");
    let socket: PathBuf = dir.join("starling_local.socket");
    let sock = socket.clone();
    let server = common::TestServer::start_with(move |c| {
        c.service_settings.enable_local_mode = true;
        c.service_settings.local_mode_socket_location = sock.to_string_lossy().into_owned();
    })
    .await;
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777, 0o600);
    let creds = dir.join("none.json");
    let local = |args: &[&str]| {
        let mut all = vec!["--local", "--local-socket-path", socket.to_str().unwrap()];
        all.extend_from_slice(args);
        all.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| {
        let creds = creds.clone();
        async move { admin(&creds, &args.iter().map(String::as_str).collect::<Vec<_>>()).await }
    };
    // No login: the socket is the credential.
    let made = run(local(&[
        "--json",
        "user",
        "create",
        "--email",
        "ops@example.com",
        "--username",
        "ops",
        "--password",
        "password-1",
        "--system-admin",
    ]))
    .await
    .ok()
    .json();
    assert!(made[0]["roles"].as_str().unwrap().contains("system_admin"), "{made}");
    let anon = server.client();
    let api = anon.login("ops").await;
    assert!(api.get("/users/me").await.expect(200).body["roles"].as_str().unwrap().contains("system_admin"));
    let r = run(local(&["config", "get", "ServiceSettings.EnableLocalMode"])).await.ok();
    assert_eq!(r.out.trim(), "true");
    run(local(&["config", "set", "TeamSettings.MaxChannelsPerTeam", "777"])).await.ok();
    assert_eq!(api.get("/config").await.expect(200).body["TeamSettings"]["MaxChannelsPerTeam"], json!(777));
    let r = run(local(&["cluster", "status"])).await.ok();
    assert!(r.out.contains("Clustering is off"), "{}", r.out);
    run(local(&["user", "deactivate", "ops"])).await.ok();
    api.get("/users/me").await.expect(401); // deactivation ends the user's sessions
    run(local(&["user", "activate", "ops"])).await.ok();
    let api = anon.login("ops").await;
    // What needs a user is refused there, with Mattermost's error.
    let team = api.create_team(true).await;
    let channel = api.create_channel(&team, false).await;
    let r = run(local(&["post", "create", &channel, "--message", "from the socket"])).await;
    assert_eq!(r.code, 1, "{}", r.err);
    assert!(r.err.contains("local mode") && r.err.contains("403"), "{}", r.err);
    // Over TCP nothing changed: no token, no access.
    anon.get("/config").await.expect(401);
    drop(server);
}
