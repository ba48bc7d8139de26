//! Plugins across a cluster of node processes with the config in the database: the sample plugin
//! (examples/plugins/sample, Python) uploaded on one node runs on every node, answers its command
//! and serves its route everywhere, changes and refuses posts made on any node, shares one
//! key-value counter; a node started later syncs it; a plugin process killed with SIGKILL is
//! restarted (its status says so meanwhile); disabling and removing reach every node; hostile
//! bundles are refused. Once on a shared local directory, once (shorter) on S3.

mod common;
use common::cluster::NodeProc;
use common::s3::S3Server;
use common::ws::Ws;
use common::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

const ID: &str = "com.starling.sample";

/// The sample plugin as a bundle: one top-level directory, as Mattermost's starter template makes.
fn sample_bundle() -> Vec<u8> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/plugins/sample");
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default()));
    b.append_dir_all(ID, &src).unwrap();
    b.into_inner().unwrap().finish().unwrap()
}

/// A bundle with one raw entry after a good manifest (paths the tar builder would refuse).
fn hostile_bundle(path: &str, kind: tar::EntryType, link: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    let manifest = br#"{"id":"evil.plugin","server":{"executable":"run.py"}}"#;
    let mut h = tar::Header::new_gnu();
    h.set_path("plugin.json").unwrap();
    h.set_size(manifest.len() as u64);
    h.set_cksum();
    b.append(&h, &manifest[..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.as_gnu_mut().unwrap().name[..path.len()].copy_from_slice(path.as_bytes());
    h.set_entry_type(kind);
    h.set_size(if kind == tar::EntryType::Regular { 4 } else { 0 });
    if !link.is_empty() {
        h.set_link_name(link).unwrap();
    }
    h.set_cksum();
    b.append(&h, &b"evil"[..if kind == tar::EntryType::Regular { 4 } else { 0 }]).unwrap();
    b.into_inner().unwrap().finish().unwrap()
}

async fn upload(c: &Client, bundle: Vec<u8>, force: bool) -> Resp {
    let mut form = reqwest::multipart::Form::new()
        .part("plugin", reqwest::multipart::Part::bytes(bundle).file_name("plugin.tar.gz"));
    if force {
        form = form.text("force", "true");
    }
    let mut rb = c.http.post(format!("{}/api/v4/plugins", c.base)).multipart(form);
    if let Some(t) = &c.token {
        rb = rb.bearer_auth(t);
    }
    Client::finish(rb.send().await.expect("upload reaches the node")).await
}

/// The sample plugin's state on each node, by node id.
async fn states(c: &Client) -> BTreeMap<String, (i64, String)> {
    let r = c.get("/plugins/statuses").await.expect(200);
    r.body
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|s| s["plugin_id"] == ID)
        .map(|s| {
            (
                s["cluster_id"].as_str().unwrap_or("").to_owned(),
                (s["state"].as_i64().unwrap_or(-1), s["error"].as_str().unwrap_or("").to_owned()),
            )
        })
        .collect()
}

/// Wait until the statuses show `state` for the plugin on exactly `nodes` nodes.
async fn wait_states(c: &Client, nodes: usize, state: i64, what: &str) {
    let ok = wait_until(Duration::from_secs(30), || async {
        let s = states(c).await;
        s.len() == nodes && s.values().all(|(st, _)| *st == state)
    })
    .await;
    assert!(ok, "{what}: {:?}", states(c).await);
}

async fn command(c: &Client, channel: &str, text: &str) -> Resp {
    c.post("/commands/execute", json!({"channel_id": channel, "command": text})).await
}

/// The node id in a `/sample` answer: "... (node <id>)".
fn node_in(text: &str) -> String {
    text.rsplit("(node ").next().unwrap_or("").trim_end_matches(')').to_owned()
}

fn plugins_env(dir: &Path) -> Vec<(String, String)> {
    vec![
        ("MM_PLUGINSETTINGS_ENABLEUPLOADS".into(), "true".into()),
        ("MM_PLUGINSETTINGS_DIRECTORY".into(), dir.to_string_lossy().into_owned()),
    ]
}

struct Cluster {
    db: TestDb,
    name: String,
    files: PathBuf,
    extra: Vec<(String, String)>,
    nodes: Vec<NodeProc>,
    plugin_dirs: Vec<PathBuf>,
}

impl Cluster {
    /// A cluster whose config lives in the database (`starling config migrate`), as plugins in
    /// HA need: enabling a plugin is a config change every node follows.
    async fn new(extra: Vec<(String, String)>, read_only: bool) -> Cluster {
        let db = TestDb::new().await;
        common::migrate_config_into(&db, read_only);
        Cluster {
            name: format!("p{}", &starling_protocol::new_id()[..8]),
            files: temp_dir("plugins-files"),
            db,
            extra,
            nodes: Vec::new(),
            plugin_dirs: Vec::new(),
        }
    }

    async fn add_node(&mut self) -> Client {
        let i = self.nodes.len() + 1;
        let dir = temp_dir(&format!("plugins-dir-n{i}"));
        let mut env = plugins_env(&dir);
        env.push(("MM_CONFIG".into(), self.db.url.clone()));
        env.extend(self.extra.iter().cloned());
        let env_ref: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let n = NodeProc::spawn(&self.db, &format!("n{i}"), &self.name, &self.files, &env_ref);
        n.ready().await;
        let c = Client::new(&n.url());
        self.nodes.push(n);
        self.plugin_dirs.push(dir);
        c
    }
}

#[actix_web::test]
async fn the_sample_plugin_runs_on_every_node_and_is_supervised() {
    // Read-only config (the default): enabling a plugin is the node's own change, allowed anyway.
    let mut cl = Cluster::new(Vec::new(), true).await;
    let mut anon = Vec::new();
    for _ in 0..3 {
        anon.push(cl.add_node().await);
    }
    let (admin, admin_id) = anon[0].new_user("admin").await;
    let token = admin.token.clone().unwrap();
    let on: Vec<Client> = cl.nodes.iter().map(|n| Client::new(&n.url()).with_token(&token)).collect();
    let (user, _) = anon[1].new_user("user").await;
    let team = admin.create_team(true).await;
    let channel = admin.create_channel(&team, false).await;

    // Only system admins manage plugins; hostile bundles are refused with a clear reason.
    let r = upload(&user, sample_bundle(), false).await.expect(403);
    assert_error_shape(&r.body, 403);
    let hostile = [
        (hostile_bundle("../../escaped", tar::EntryType::Regular, ""), "outside the plugin's directory"),
        (hostile_bundle("/tmp/evil", tar::EntryType::Regular, ""), "outside the plugin's directory"),
        (hostile_bundle("run.py", tar::EntryType::Symlink, "/etc/passwd"), "links are not allowed"),
        (hostile_bundle("run.py", tar::EntryType::Link, "/etc/passwd"), "links are not allowed"),
        (b"not a bundle".to_vec(), "not a valid .tar.gz"),
    ];
    for (bundle, why) in hostile {
        let r = upload(&on[0], bundle, false).await.expect(400);
        assert_error_shape(&r.body, 400);
        assert!(r.body["message"].as_str().unwrap_or("").contains(why), "{why}: {}", r.body);
    }
    assert!(!cl.plugin_dirs[0].join("evil.plugin").exists());
    assert!(states(&on[0]).await.is_empty());

    // The admin hears status changes over the websocket.
    let mut ws = Ws::connect(&cl.nodes[2].url(), &token).await;

    // Upload on node 1: installed everywhere, not running until enabled.
    let manifest = upload(&on[0], sample_bundle(), false).await.expect(201).body;
    assert_eq!(manifest["id"], ID);
    assert_eq!(manifest["version"], "1.0.0");
    assert!(cl.files.join("plugins").join(format!("{ID}.tar.gz")).is_file(), "the bundle is in the file store");
    wait_states(&on[1], 3, 0, "installed on every node, not running").await;
    let again = upload(&on[0], sample_bundle(), false).await.expect(400);
    assert_eq!(again.body["id"], "app.plugin.install_id.app_error");
    let listed = on[0].get("/plugins").await.expect(200).body;
    assert_eq!(listed["inactive"][0]["id"], ID, "{listed}");

    // Enable through node 2 (a config change): running on all three.
    on[1].post(&format!("/plugins/{ID}/enable"), json!({})).await.expect(200);
    wait_states(&on[2], 3, 2, "running on every node").await;
    let (changed, _) = ws.until_event("plugin_statuses_changed").await;
    assert!(changed["data"]["plugin_statuses"].is_array(), "{changed}");
    assert_eq!(on[0].get("/plugins").await.expect(200).body["active"][0]["id"], ID);

    // Its command answers on every node, from that node.
    let mut node_ids = Vec::new();
    for c in &on {
        let r = command(c, &channel, "/sample").await.expect(200);
        let text = r.body["text"].as_str().unwrap_or("").to_owned();
        assert!(text.starts_with("Hello from the sample plugin"), "{text}");
        node_ids.push(node_in(&text));
    }
    assert_eq!(node_ids.iter().collect::<BTreeSet<_>>().len(), 3, "three nodes answered: {node_ids:?}");
    // One counter in the shared key-value store, updated atomically from every node.
    for (i, c) in on.iter().enumerate() {
        let r = command(c, &channel, "/sample count").await.expect(200);
        assert_eq!(r.body["text"], format!("count is {} (node {})", i + 1, node_ids[i]));
    }
    // The plugin posts through the API's write path (and its own hook sees the post).
    command(&on[2], &channel, "/sample echo #shout from a command").await.expect(200);
    let posts = on[0].get(&format!("/channels/{channel}/posts")).await.expect(200).body;
    let echoed: Vec<&Value> =
        posts["posts"].as_object().unwrap().values().filter(|p| p["message"] == "FROM A COMMAND").collect();
    assert_eq!(echoed.len(), 1, "{posts}");
    // A plugin's websocket event reaches the user on another node.
    command(&on[0], &channel, "/sample ping").await.expect(200);
    let (ping, _) = ws.until_event(&format!("custom_{ID}_ping")).await;
    assert_eq!(ping["data"]["node"], node_ids[0].as_str());

    // Its MessageWillBePosted changes and refuses posts made on any node.
    for (i, c) in on.iter().enumerate() {
        let p = c.post("/posts", json!({"channel_id": channel, "message": "hello #shout"})).await.expect(201).body;
        assert_eq!(p["message"], "HELLO");
        assert_eq!(p["props"]["shouted_by"], node_ids[i].as_str(), "the hook ran on the node that took the post");
        let r = c.post("/posts", json!({"channel_id": channel, "message": "please #reject-me"})).await.expect(400);
        assert_eq!(r.body["id"], "api.post.rejected_by_plugin.app_error");
        assert!(r.body["message"].as_str().unwrap().contains("the sample plugin refuses"), "{}", r.body);
        let plain = c.post("/posts", json!({"channel_id": channel, "message": "plain"})).await.expect(201).body;
        assert_eq!(plain["message"], "plain");
    }

    // Its HTTP route, with the caller's identity set by the node (a forged one is dropped).
    let hello = reqwest::Client::new()
        .get(format!("{}/plugins/{ID}/hello", cl.nodes[1].url()))
        .bearer_auth(&token)
        .header("Mattermost-User-Id", "forged")
        .send()
        .await
        .unwrap();
    assert_eq!(hello.status(), 200);
    let hello: Value = hello.json().await.unwrap();
    assert_eq!(
        (hello["user_id"].as_str(), hello["node"].as_str()),
        (Some(admin_id.as_str()), Some(node_ids[1].as_str()))
    );
    let anon_hello: Value = reqwest::Client::new()
        .get(format!("{}/plugins/{ID}/hello", cl.nodes[1].url()))
        .header("Mattermost-User-Id", "forged")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(anon_hello["user_id"], "", "unauthenticated requests reach the plugin without a user");
    let missing = reqwest::get(format!("{}/plugins/no.such.plugin/hello", cl.nodes[1].url())).await.unwrap();
    assert_eq!(missing.status(), 404);

    // A fourth node started now syncs the bundle from the file store and runs it.
    let fourth = cl.add_node().await.with_token(&token);
    wait_states(&on[0], 4, 2, "the fourth node runs it too").await;
    let r = command(&fourth, &channel, "/sample count").await.expect(200);
    assert!(r.body["text"].as_str().unwrap().starts_with("count is 4 "), "{}", r.body);

    // SIGKILL the plugin on node 2: its status says so, and it is back within the restart delay.
    let path = cl.plugin_dirs[1].join(ID).join("server/plugin.py");
    let pid = String::from_utf8(
        std::process::Command::new("pgrep").arg("-f").arg(path.to_str().unwrap()).output().unwrap().stdout,
    )
    .unwrap();
    let pids: Vec<&str> = pid.split_whitespace().collect();
    assert_eq!(pids.len(), 1, "one plugin process on node 2: {pid:?}");
    assert!(std::process::Command::new("kill").args(["-9", pids[0]]).status().unwrap().success());
    let noticed = wait_until(Duration::from_secs(10), || async {
        states(&on[0]).await.get(&node_ids[1]).is_some_and(|(st, err)| *st == 0 && err.contains("signal 9"))
    })
    .await;
    assert!(noticed, "node 2's status shows the crash: {:?}", states(&on[0]).await);
    let err = states(&on[0]).await[&node_ids[1]].1.clone();
    assert!(err.contains("restarting in 15 s"), "{err}");
    command(&on[1], &channel, "/sample").await.expect(404); // its command is gone meanwhile
    wait_states(&on[0], 4, 2, "restarted on node 2").await;
    let r = command(&on[1], &channel, "/sample").await.expect(200);
    assert_eq!(node_in(r.body["text"].as_str().unwrap()), node_ids[1]);

    // Disable through node 3: stopped everywhere, its command gone, posts untouched.
    on[2].post(&format!("/plugins/{ID}/disable"), json!({})).await.expect(200);
    wait_states(&on[0], 4, 0, "stopped everywhere").await;
    command(&fourth, &channel, "/sample").await.expect(404);
    let p = on[0].post("/posts", json!({"channel_id": channel, "message": "quiet #shout"})).await.expect(201).body;
    assert_eq!(p["message"], "quiet #shout");
    assert_eq!(
        String::from_utf8(
            std::process::Command::new("pgrep").arg("-f").arg(path.to_str().unwrap()).output().unwrap().stdout
        )
        .unwrap(),
        "",
        "no plugin process is left"
    );

    // Remove through node 4: gone from every node and from the file store.
    fourth.delete(&format!("/plugins/{ID}")).await.expect(200);
    let gone = wait_until(Duration::from_secs(30), || async { states(&on[1]).await.is_empty() }).await;
    assert!(gone, "removed everywhere: {:?}", states(&on[1]).await);
    assert!(!cl.files.join("plugins").join(format!("{ID}.tar.gz")).exists());
    for d in &cl.plugin_dirs {
        let left = wait_until(Duration::from_secs(10), || async { !d.join(ID).exists() }).await;
        assert!(left, "{} is removed", d.display());
    }
    fourth.delete(&format!("/plugins/{ID}")).await.expect(404);
    ws.close().await;
}

#[actix_web::test]
async fn plugins_propagate_through_s3_too() {
    let s3 = S3Server::start_new().await;
    let mut cl = Cluster::new(s3.env("p"), false).await;
    let a = cl.add_node().await;
    let b = cl.add_node().await;
    let (admin, _) = a.new_user("admin").await;
    let token = admin.token.clone().unwrap();
    let b = b.with_token(&token);
    let team = admin.create_team(true).await;
    let channel = admin.create_channel(&team, false).await;

    upload(&admin, sample_bundle(), false).await.expect(201);
    assert!(s3.keys().await.iter().any(|k| k.ends_with(&format!("plugins/{ID}.tar.gz"))), "{:?}", s3.keys().await);
    b.post(&format!("/plugins/{ID}/enable"), json!({})).await.expect(200);
    wait_states(&admin, 2, 2, "running on both").await;
    let r = command(&b, &channel, "/sample count").await.expect(200);
    assert!(r.body["text"].as_str().unwrap().starts_with("count is 1 "), "{}", r.body);
    // Its own settings (PluginSettings.Plugins) reach the running plugin on every node.
    let settings = json!({"PluginSettings": {"Plugins": {ID: {"Greeting": "Hi there"}}}});
    admin.put("/config/patch", settings).await.expect(200);
    let greeted = wait_until(Duration::from_secs(30), || async {
        command(&b, &channel, "/sample").await.body["text"].as_str().unwrap_or("").starts_with("Hi there")
    })
    .await;
    assert!(greeted, "{}", command(&b, &channel, "/sample").await.body);
    // A node started later syncs from S3.
    let c = cl.add_node().await.with_token(&token);
    wait_states(&admin, 3, 2, "the late node runs it").await;
    let r = command(&c, &channel, "/sample count").await.expect(200);
    assert!(r.body["text"].as_str().unwrap().starts_with("count is 2 "), "{}", r.body);
    c.delete(&format!("/plugins/{ID}")).await.expect(200);
    let gone = wait_until(Duration::from_secs(30), || async { states(&admin).await.is_empty() }).await;
    assert!(gone, "{:?}", states(&admin).await);
    assert!(!s3.keys().await.iter().any(|k| k.contains("plugins/")), "{:?}", s3.keys().await);
}

#[actix_web::test]
async fn uploads_are_off_unless_enabled_and_plugin_calls_check_permissions() {
    let server = TestServer::start().await;
    let anon = server.client();
    let (admin, _) = anon.new_user("admin").await;
    let (user, _) = anon.new_user("user").await;
    // EnableUploads defaults to off: 501, as Mattermost answers.
    let r = upload(&admin, sample_bundle(), false).await.expect(501);
    assert_eq!(r.body["id"], "app.plugin.upload_disabled.app_error");
    // And the API cannot turn it on (file or environment only).
    admin.put("/config/patch", json!({"PluginSettings": {"EnableUploads": true}})).await.expect(200);
    assert_eq!(admin.get("/config").await.expect(200).body["PluginSettings"]["EnableUploads"], false);
    for path in ["/plugins", "/plugins/statuses"] {
        user.get(path).await.expect(403);
        admin.get(path).await.expect(200);
    }
    user.post(&format!("/plugins/{ID}/enable"), json!({})).await.expect(403);
    admin.post(&format!("/plugins/{ID}/enable"), json!({})).await.expect(404);
    admin.delete("/plugins/no.such.plugin").await.expect(404);
    anon.get("/plugins/webapp").await.expect(200);
    // With plugins off altogether, management answers 501.
    admin.put("/config/patch", json!({"PluginSettings": {"Enable": false}})).await.expect(200);
    admin.get("/plugins/statuses").await.expect(501);
}
