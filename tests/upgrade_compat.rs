//! Migrations stay compatible with the previous release: a node of the release pinned in
//! .ci/previous-release (a real older build, from this repository's history: scripts/test builds
//! it once with scripts/build-previous-release and passes it as STARLING_PREVIOUS_BIN) creates the
//! database, this build's node joins it and migrates it past what the older one knows, and then
//! the older node keeps serving every everyday operation on the newer schema, in one cluster with
//! the new one (events both ways), and starts again on that schema (as an old node restarted
//! mid-upgrade does). Also: the migrations added since that release only add, never drop, rename
//! or retype, which is what keeps the older code's queries valid.

mod common;
use common::cluster::NodeProc;
use common::ws::Ws;
use common::*;

use serde_json::json;
use starling::store::{MIGRATIONS, SCHEMA_VERSION};
use std::path::PathBuf;
use std::time::Duration;

/// The pinned release: (commit, its schema version).
fn pinned() -> (String, i32) {
    let text = include_str!("../.ci/previous-release");
    let line = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')).expect("a pinned commit");
    let (rev, schema) = line.split_once(' ').expect("<commit> <schema>");
    (rev.to_owned(), schema.trim().parse().expect("a schema version"))
}

fn previous_bin() -> PathBuf {
    let p = std::env::var_os("STARLING_PREVIOUS_BIN").map(PathBuf::from).unwrap_or_else(|| {
        panic!(
            "STARLING_PREVIOUS_BIN is not set: `scripts/build-previous-release` builds the release of \
             .ci/previous-release and prints its path (scripts/test does both)"
        )
    });
    assert!(p.is_file(), "STARLING_PREVIOUS_BIN={} is not a file", p.display());
    p
}

async fn schema_of(db: &TestDb) -> i32 {
    db.client().await.query_one("SELECT max(version) FROM schema_migrations", &[]).await.expect("schema").get(0)
}

/// How many nodes `/cluster/status` shows linked: green, or red only for "config mismatch". The
/// pinned release hashes every config key, this build only those away from their defaults (so
/// that a key added later does not flag every rolling upgrade), so across these two the hashes
/// differ once; a node that cannot be reached is red "down: ...".
async fn nodes_seen(c: &Client) -> usize {
    let status = c.get("/cluster/status").await.body;
    let linked = |n: &&serde_json::Value| n["status"] == "green" || n["reason"] == "config mismatch";
    status.as_array().map_or(0, |nodes| nodes.iter().filter(linked).count())
}

/// What would break an older node's queries: a column or table gone, renamed or retyped, a column
/// made required. Migrations after the pinned release may only add.
const NOT_ADDITIVE: &[&str] =
    &["DROP TABLE", "DROP COLUMN", "RENAME ", "ALTER COLUMN", "SET NOT NULL", "DROP VIEW", "DROP INDEX"];

/// Why `sql` could break an older node, if it could.
fn not_additive(sql: &str) -> Option<String> {
    let sql: String =
        sql.lines().map(|l| l.split("--").next().unwrap_or("")).collect::<Vec<_>>().join("\n").to_uppercase();
    if let Some(bad) = NOT_ADDITIVE.iter().find(|bad| sql.contains(*bad)) {
        return Some(format!("it has {bad:?}"));
    }
    // A new required column would fail the older node's INSERTs, which do not name it.
    sql.split(';')
        .find(|stmt| stmt.contains("ADD COLUMN") && stmt.contains("NOT NULL") && !stmt.contains("DEFAULT"))
        .map(|stmt| format!("a NOT NULL column without a default: {}", stmt.trim()))
}

#[test]
fn migrations_since_the_previous_release_only_add() {
    let (_, previous) = pinned();
    assert!(previous <= SCHEMA_VERSION, "the pinned release is newer than this tree");
    for m in MIGRATIONS.iter().filter(|m| m.version > previous) {
        if let Some(why) = not_additive(m.sql) {
            panic!("migration {} ({}) could break a node of the previous release: {why}", m.version, m.name);
        }
    }
    // The check itself.
    assert_eq!(not_additive("CREATE TABLE t (content_type text NOT NULL); -- DROP TABLE x"), None);
    assert_eq!(not_additive("ALTER TABLE t ADD COLUMN c int NOT NULL DEFAULT 0;"), None);
    assert!(not_additive("ALTER TABLE posts DROP COLUMN props;").is_some());
    assert!(not_additive("alter table posts rename column a to b;").is_some());
    assert!(not_additive("ALTER TABLE posts ALTER COLUMN message TYPE bytea;").is_some());
    assert!(not_additive("ALTER TABLE posts ADD COLUMN c int NOT NULL;").is_some());
}

#[actix_web::test]
async fn a_node_of_the_previous_release_keeps_working_on_the_schema_this_build_migrates_to() {
    let (rev, previous_schema) = pinned();
    let old_bin = previous_bin();
    let db = TestDb::new().await;
    let files = temp_dir("compat-files");

    // The cluster before the upgrade: one node of the previous release, its schema.
    let mut old = NodeProc::spawn_bin(&old_bin, &db.url, "old", "compat", &files, &[]);
    old.ready().await;
    assert_eq!(schema_of(&db).await, previous_schema, "the release {rev} made its own schema");
    let anon_old = Client::new(&old.url());
    let (admin, _) = anon_old.new_user("admin").await;
    let (bob_id, bob_name) = anon_old.create_user("bob").await;
    let team = admin.create_team(true).await;
    admin.post(&format!("/teams/{team}/members"), json!({"user_id": bob_id})).await.expect(201);
    let channel = admin.create_channel(&team, false).await;
    admin.post(&format!("/channels/{channel}/members"), json!({"user_id": bob_id})).await.expect(201);
    let before = admin.create_post(&channel, "written before the upgrade").await;

    // This build joins and migrates the database past what the older node knows.
    let new = NodeProc::spawn(&db, "new", "compat", &files, &[]);
    new.ready().await;
    assert_eq!(schema_of(&db).await, SCHEMA_VERSION);
    let linked = wait_until(Duration::from_secs(30), || async {
        nodes_seen(&admin.clone_to(&old.url())).await == 2 && nodes_seen(&admin.clone_to(&new.url())).await == 2
    })
    .await;
    assert!(
        linked,
        "the old and new nodes did not form one cluster:\nold: {}\nnew: {}",
        admin.clone_to(&old.url()).get("/cluster/status").await.body,
        admin.clone_to(&new.url()).get("/cluster/status").await.body
    );

    let bob_old = Client::new(&old.url()).login(&bob_name).await;
    let bob_new = bob_old.clone_to(&new.url());
    let admin_new = admin.clone_to(&new.url());
    // Every everyday write on each node, read and heard on the other.
    for (writer, reader, other_reader, tag) in
        [(&bob_old, &admin_new, &admin, "old node"), (&bob_new, &admin, &admin_new, "new node")]
    {
        let mut ws = Ws::connect(&reader.base, reader.token.as_deref().expect("token")).await;
        ws.until_event("hello").await;
        let post = writer.create_post(&channel, &format!("from the {tag}")).await;
        let post_id = post["id"].as_str().expect("id").to_owned();
        let (event, _) = ws.until_event("posted").await;
        assert!(event["data"]["post"].as_str().unwrap_or("").contains(&post_id), "{tag}: {event}");
        let reply: Resp = writer
            .post(
                "/posts",
                json!({"channel_id": channel, "message": format!("reply on the {tag}"), "root_id": post_id}),
            )
            .await
            .expect(201);
        writer
            .post("/reactions", json!({"user_id": bob_id, "post_id": post_id, "emoji_name": "tada"}))
            .await
            .expect(200);
        writer
            .put(&format!("/posts/{post_id}/patch"), json!({"message": format!("edited on the {tag}")}))
            .await
            .expect(200);
        writer.post(&format!("/posts/{post_id}/pin"), json!({})).await.expect(200);
        let file = upload_files(writer, &channel, &[("notes.txt", format!("file of the {tag}").as_bytes())]).await;
        let file_id = check(file, 201, "upload").body["file_infos"][0]["id"].as_str().expect("file id").to_owned();
        writer
            .post("/posts", json!({"channel_id": channel, "message": "a file", "file_ids": [file_id]}))
            .await
            .expect(201);
        writer.post(&format!("/channels/members/{bob_id}/view"), json!({"channel_id": channel})).await.expect(200);
        for r in [reader, other_reader] {
            let thread = r.get(&format!("/posts/{post_id}/thread")).await.expect(200).body;
            let p = &thread["posts"][&post_id];
            assert_eq!(p["message"], json!(format!("edited on the {tag}")), "{tag}: {thread}");
            assert_eq!(p["is_pinned"], json!(true), "{tag}");
            assert_eq!(p["metadata"]["reactions"][0]["emoji_name"], json!("tada"), "{tag}: {p}");
            assert!(thread["posts"].get(reply.id().as_str()).is_some(), "{tag}: the reply is in the thread");
            let got = check(r.get(&format!("/files/{file_id}")).await, 200, "download");
            assert_eq!(got.bytes, format!("file of the {tag}").into_bytes());
        }
        ws.close().await;
    }
    let search = admin.post(&format!("/teams/{team}/posts/search"), json!({"terms": "upgrade"})).await.expect(200);
    assert!(search.body["order"].as_array().expect("order").iter().any(|id| id == &before["id"]));

    // The older node restarted mid-upgrade starts on the newer schema and serves what is there.
    old.terminate();
    old.start();
    old.ready().await;
    assert_eq!(schema_of(&db).await, SCHEMA_VERSION, "the older node did not touch the newer schema");
    let again = Client::new(&old.url()).login(&bob_name).await;
    let posts = again.get(&format!("/channels/{channel}/posts")).await.expect(200).body;
    assert!(posts["order"].as_array().expect("order").len() >= 7, "{posts}");
}
