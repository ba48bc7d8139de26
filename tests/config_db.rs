//! The config kept in the database (`MM_CONFIG=postgres://...`): two node processes share it; a
//! save through the API on one reaches the other, with the same config hash on both.

mod common;
use common::cluster::NodeProc;
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

async fn status(admin: &Client) -> Vec<Value> {
    admin.get("/cluster/status").await.body.as_array().cloned().unwrap_or_default()
}

/// Wait until `admin`'s node sees `n` green nodes that all show one config hash; return it.
async fn one_hash(admin: &Client, n: usize, not: &str) -> Option<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        let s = status(admin).await;
        let hashes: std::collections::BTreeSet<&str> = s.iter().filter_map(|r| r["config_hash"].as_str()).collect();
        if s.len() == n && s.iter().all(|r| r["status"] == "green") && hashes.len() == 1 && !hashes.contains(not) {
            return hashes.first().map(|h| h.to_string());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

async fn active_rows(db: &TestDb) -> Vec<Value> {
    let c = db.client().await;
    c.query("SELECT value FROM configurations WHERE active", &[])
        .await
        .expect("configurations table")
        .iter()
        .map(|r| serde_json::from_str(&r.get::<_, String>(0)).expect("json"))
        .collect()
}

#[actix_web::test]
async fn config_saved_on_one_node_reaches_the_other_with_the_same_hash() {
    let db = TestDb::new().await;
    let files = temp_dir("shared-files");
    let name = format!("c{}", &starling_protocol::new_id()[..8]);

    // The operator moves a file config into the database first (`starling config migrate`).
    let printed = common::migrate_config_into(&db, false);
    assert!(printed.contains("config copied"), "{printed}");

    let extra = [("MM_CONFIG", db.url.as_str())];
    let nodes: Vec<NodeProc> = (1..=2).map(|i| NodeProc::spawn(&db, &format!("n{i}"), &name, &files, &extra)).collect();
    for n in &nodes {
        n.ready().await;
    }
    let anon1 = Client::new(&nodes[0].url());
    let (admin1, _) = anon1.new_user("admin").await;
    let admin2 = admin1.clone_to(&nodes[1].url());
    let before = one_hash(&admin1, 2, "").await.expect("both nodes green with one hash");

    // What an admin reads: secrets hidden, the environment's keys listed.
    let cfg = admin1.get("/config").await.expect(200).body;
    assert_eq!(cfg["SqlSettings"]["DataSource"], json!(starling::config::FAKE_SETTING));
    assert_eq!(cfg["PasswordSettings"]["MinimumLength"], json!(8));
    let env = admin1.get("/config/environment").await.expect(200).body;
    assert_eq!(env["ServiceSettings"]["ListenAddress"], json!(true), "{env}");
    assert!(env.get("PasswordSettings").is_none(), "{env}");

    // Save on node 1 what was read (secrets still hidden), with one change.
    let mut changed = cfg.clone();
    changed["PasswordSettings"]["MinimumLength"] = json!(12);
    let saved = admin1.put("/config", changed).await.expect(200).body;
    assert_eq!(saved["PasswordSettings"]["MinimumLength"], json!(12));

    // Node 2 runs it, and both show one new hash.
    let after = one_hash(&admin2, 2, &before).await;
    assert!(after.is_some(), "node 2 sees both nodes on one new hash: {:?}", status(&admin2).await);
    assert_eq!(one_hash(&admin1, 2, &before).await, after, "node 1 agrees");
    assert_eq!(admin2.get("/config").await.expect(200).body["PasswordSettings"]["MinimumLength"], json!(12));
    let r = Client::new(&nodes[1].url())
        .post("/users", json!({"email": "short@example.com", "username": "shortpw", "password": "password-1"}))
        .await
        .expect(400);
    assert!(r.body["message"].as_str().unwrap_or_default().contains("12"), "{}", r.body);

    // One active row; it holds the real secret and no environment value.
    let rows = active_rows(&db).await;
    assert_eq!(rows.len(), 1);
    let stored = &rows[0];
    assert_eq!(stored["PasswordSettings"]["MinimumLength"], json!(12));
    assert_eq!(stored["SqlSettings"]["DataSource"], json!(db.url), "the hidden secret kept its value");
    assert_eq!(stored["ServiceSettings"]["ListenAddress"], json!(":8065"), "env overrides are never stored");
    assert_eq!(stored["ClusterSettings"]["GossipPort"], json!(8074));
    let history: i64 = db.client().await.query_one("SELECT count(*) FROM configurations", &[]).await.unwrap().get(0);
    assert_eq!(history, 2, "the migrated row stays as history");

    // A patch through node 2 that makes the config read-only reaches node 1: saving is refused there.
    admin2.put("/config/patch", json!({"ClusterSettings": {"ReadOnlyConfig": true}})).await.expect(200);
    // Node 1 checks the shared config before saving, even before the announcement arrives.
    admin1.put("/config/patch", json!({"PasswordSettings": {"MinimumLength": 9}})).await.expect(403);
    let ro = wait_until(Duration::from_secs(30), || async {
        admin1.get("/config").await.body["ClusterSettings"]["ReadOnlyConfig"] == json!(true)
    })
    .await;
    assert!(ro, "node 1 runs the read-only config");
    assert_eq!(active_rows(&db).await[0]["PasswordSettings"]["MinimumLength"], json!(12), "nothing saved");
}
