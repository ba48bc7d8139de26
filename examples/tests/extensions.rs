//! The example extensions on a three-node cluster of `starling-examples` processes: the word filter
//! refuses and rewrites posts on every node, answers its command and serves its route everywhere;
//! the digest runs on the leader only, once per period, and moves to the new leader when the
//! leader is killed.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::cluster::NodeProc;
use common::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_starling-examples");
const FILTER: [(&str, &str); 2] = [("STARLING_EXAMPLES_REFUSE", "banana,kiwi"), ("STARLING_EXAMPLES_MASK", "darn")];

fn spawn(db: &TestDb, name: &str, cluster: &str, files: &Path, extra: &[(&str, &str)]) -> NodeProc {
    let mut env: Vec<(&str, &str)> = FILTER.to_vec();
    env.extend_from_slice(extra);
    NodeProc::spawn_bin(Path::new(BIN), &db.url, name, cluster, files, &env)
}

/// The digest posts in the channel: (period, node that posted it).
async fn digests(c: &Client, channel: &str) -> Vec<(i64, String)> {
    let list = c.get(&format!("/channels/{channel}/posts?per_page=200")).await.expect(200).body;
    let mut out: Vec<(i64, String)> = list["posts"]
        .as_object()
        .map(|m| m.values().cloned().collect::<Vec<Value>>())
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p["props"]["from_digest"] == "true")
        .map(|p| {
            (
                p["props"]["digest_period"].as_i64().unwrap_or(-1),
                p["props"]["digest_node"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

async fn leader_id(c: &Client) -> Option<String> {
    let rows = c.get("/cluster/status").await.body;
    rows.as_array()?.iter().find(|r| r["is_leader"] == true).and_then(|r| r["id"].as_str()).map(str::to_owned)
}

#[actix_web::test]
async fn extensions_act_on_every_node_and_the_leader_only_job_moves_with_the_leader() {
    let db = TestDb::new().await;
    let files = temp_dir("ext-files");
    let cluster = format!("x{}", &starling_protocol::new_id()[..8]);
    // A first node to make the digest's author and channel, then the cluster that runs it.
    let (admin_id, token, channel) = {
        let first = spawn(&db, "setup", &cluster, &files, &[]);
        first.ready().await;
        let c = Client::new(&first.url());
        let (admin, admin_id) = c.new_user("admin").await;
        let team = admin.create_team(true).await;
        let channel = admin.create_channel(&team, false).await;
        let mut first = first;
        first.terminate(); // leaves the cluster cleanly
        (admin_id, admin.token.clone().unwrap(), channel)
    };
    let digest = [
        ("STARLING_EXAMPLES_DIGEST_CHANNEL", channel.as_str()),
        ("STARLING_EXAMPLES_DIGEST_USER", admin_id.as_str()),
        ("STARLING_EXAMPLES_DIGEST_SECONDS", "2"),
    ];
    let mut nodes: Vec<NodeProc> =
        ["n1", "n2", "n3"].iter().map(|n| spawn(&db, n, &cluster, &files, &digest)).collect();
    for n in &nodes {
        n.ready().await;
    }
    let on: Vec<Client> = nodes.iter().map(|n| Client::new(&n.url()).with_token(&token)).collect();

    // The word filter, on every node.
    for (i, c) in on.iter().enumerate() {
        let r = c.post("/posts", json!({"channel_id": channel, "message": "I like Banana bread"})).await;
        let r = check(r, 400, "a refused word");
        assert!(r.body["message"].as_str().unwrap_or("").starts_with("Post rejected by plugin."), "{}", r.body);
        let p = c.create_post(&channel, &format!("darn, node {i} works")).await;
        assert_eq!(p["message"], json!(format!("****, node {i} works")), "masked on node {i}");
        let edited = c
            .put(&format!("/posts/{}/patch", p["id"].as_str().unwrap()), json!({"message": "darn again"}))
            .await
            .expect(200);
        assert_eq!(edited.body["message"], "**** again", "edits are filtered too");
        let r = c.post("/commands/execute", json!({"command": "/wordfilter", "channel_id": channel})).await.expect(200);
        assert!(r.body["text"].as_str().unwrap_or("").contains("banana, kiwi"), "{}", r.body);
        let words = reqwest::get(format!("{}/plugins/wordfilter/words", nodes[i].url())).await.unwrap();
        let words: Value = words.json().await.unwrap();
        assert_eq!(words["refuse"], json!(["banana", "kiwi"]));
    }

    // A command's ephemeral answer reaches the caller's sessions on other nodes too.
    let mut ws = common::ws::Ws::connect(&nodes[1].url(), &token).await;
    assert_eq!(ws.event().await["event"], "hello");
    on[0].post("/commands/execute", json!({"command": "/wordfilter", "channel_id": channel})).await.expect(200);
    let (ev, _) = ws.until_event("ephemeral_message").await;
    let post: Value = serde_json::from_str(ev["data"]["post"].as_str().unwrap()).unwrap();
    assert_eq!(
        (post["channel_id"].as_str(), post["type"].as_str()),
        (Some(channel.as_str()), Some("system_ephemeral"))
    );
    assert!(post["message"].as_str().unwrap_or("").contains("Masked: darn"), "{post}");

    // The digest: only the leader posts, once per period.
    assert!(wait_until(Duration::from_secs(30), || async { leader_id(&on[0]).await.is_some() }).await);
    let leader = leader_id(&on[0]).await.unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || async { digests(&on[0], &channel).await.len() >= 2 }).await,
        "digests appear"
    );
    let before = digests(&on[0], &channel).await;
    assert!(before.iter().all(|(_, node)| *node == leader), "only the leader posted: {before:?} (leader {leader})");

    // Kill the leader: the digest moves to the new one.
    let rows = on[0].get("/cluster/status").await.body;
    let leader_addr = rows
        .as_array()
        .and_then(|r| r.iter().find(|r| r["id"] == json!(leader)))
        .and_then(|r| r["ipaddress"].as_str())
        .unwrap()
        .to_owned();
    let idx = nodes.iter().position(|n| n.gossip_addr() == leader_addr).expect("the leader is one of the nodes");
    nodes[idx].kill9();
    let survivor = &on[(idx + 1) % 3];
    let moved = || async {
        let d = digests(survivor, &channel).await;
        d.iter().any(|(_, node)| *node != leader)
    };
    assert!(wait_until(Duration::from_secs(40), moved).await, "a new leader posts digests");
    let after = digests(survivor, &channel).await;
    let mut per_period: BTreeMap<i64, usize> = BTreeMap::new();
    for (period, _) in &after {
        *per_period.entry(*period).or_default() += 1;
    }
    assert!(per_period.values().all(|n| *n == 1), "no period twice: {after:?}");
    let new_leader = leader_id(survivor).await.unwrap_or_default();
    let last = after.last().map(|(_, n)| n.clone()).unwrap_or_default();
    assert_eq!(last, new_leader, "the newest digest comes from the new leader");
}
