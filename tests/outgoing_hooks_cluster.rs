//! Integrations that call out, across a three-node cluster of processes: an outgoing webhook's
//! answer and a custom slash command's reply reach the other nodes (their posts and a websocket
//! there) once, and a webhook call cut off by its node's SIGKILL is never made again (by the
//! restarted node or another), so its answer is never posted.

mod common;
use common::callback::{Answer, Callback, Received};
use common::cluster::ClusterProcs;
use common::ws::Ws;
use common::*;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

async fn messages(c: &Client, channel: &str) -> Vec<String> {
    let list = c.get(&format!("/channels/{channel}/posts")).await.expect(200).body;
    list["order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| list["posts"][id.as_str().unwrap()]["message"].as_str().unwrap_or("").to_owned())
        .collect()
}

async fn wait_for_message(c: &Client, channel: &str, message: &str) {
    let ok = wait_until(Duration::from_secs(15), || async { messages(c, channel).await.iter().any(|m| m == message) });
    assert!(ok.await, "no post {message:?} on {}", c.base);
}

#[actix_web::test]
async fn answers_reach_every_node_once_and_a_call_cut_by_a_crash_is_never_made_again() {
    let slow_calls = Arc::new(AtomicUsize::new(0));
    let seen = slow_calls.clone();
    let server = Callback::start(move |r: &Received| match r.target.as_str() {
        "/reply" => Answer::json(json!({"text": format!("reply to {}", r.form()["post_id"])})),
        "/command" => {
            Answer::json(json!({"response_type": "in_channel", "text": format!("build of {}", r.form()["text"])}))
        }
        // The first call hangs until its node dies; any later one would be answered.
        _ if seen.fetch_add(1, Ordering::SeqCst) == 0 => Answer::Hang,
        _ => Answer::json(json!({"text": "late reply"})),
    })
    .await;
    let mut c =
        ClusterProcs::start(3, &[("MM_SERVICESETTINGS_ALLOWEDUNTRUSTEDINTERNALCONNECTIONS", "127.0.0.1")]).await;
    let n1 = c.client(0);
    let (admin, _) = n1.new_user("admin").await;
    assert!(c.all_green(&admin).await, "the nodes see each other");
    let on_n2 = admin.clone_to(&c.nodes[1].url());
    let on_n3 = admin.clone_to(&c.nodes[2].url());
    let team = admin.create_team(true).await;
    let channel = admin.create_channel(&team, false).await;
    let hook = |word: &str, path: &str| json!({"team_id": team, "trigger_words": [word], "callback_urls": [server.url(path)], "display_name": word});
    admin.post("/hooks/outgoing", hook("deploy", "/reply")).await.expect(201);
    let slow = admin.post("/hooks/outgoing", hook("slow", "/slow")).await.expect(201).id();

    // Posted on node 1, called by node 1 alone, answered on node 2's websocket and API.
    let mut ws = Ws::connect(&c.nodes[1].url(), admin.token.as_deref().unwrap()).await;
    let p = admin.create_post(&channel, "deploy now").await;
    let reply = format!("reply to {}", p["id"].as_str().unwrap());
    let mut posted: Vec<Value> = Vec::new();
    while !posted.iter().any(|e| e["data"]["post"].as_str().unwrap_or("").contains(&reply)) {
        posted.push(ws.until_event("posted").await.0);
    }
    let answer: Value = serde_json::from_str(posted.last().unwrap()["data"]["post"].as_str().unwrap()).unwrap();
    assert_eq!(answer["props"]["from_webhook"], "true");
    wait_for_message(&on_n2, &channel, &reply).await;
    assert_eq!(messages(&on_n2, &channel).await.iter().filter(|m| **m == reply).count(), 1, "posted once");
    wait_for_message(&on_n3, &channel, &reply).await;
    assert_eq!(messages(&on_n3, &channel).await.iter().filter(|m| **m == reply).count(), 1, "once on node 3");
    assert_eq!(server.count(), 1, "one call in the cluster");

    // A custom slash command run on node 1: its in_channel reply is on nodes 2 and 3, once.
    let command = json!({"team_id": team, "trigger": "build", "url": server.url("/command"), "method": "P",
                         "display_name": "Build"});
    admin.post("/commands", command).await.expect(201);
    admin.post("/commands/execute", json!({"channel_id": channel, "command": "/build main"})).await.expect(200);
    for node in [&on_n2, &on_n3] {
        wait_for_message(node, &channel, "build of main").await;
        assert_eq!(messages(node, &channel).await.iter().filter(|m| *m == "build of main").count(), 1);
    }
    assert_eq!(server.count(), 2, "one call for the command");

    // A call in flight when its node is SIGKILLed.
    admin.create_post(&channel, "slow job").await;
    assert!(wait_until(Duration::from_secs(10), || async { slow_calls.load(Ordering::SeqCst) == 1 }).await);
    c.nodes[0].kill9();
    let db = c.db.client().await;
    let claims = |hook_id: String| {
        let db = &db;
        async move {
            let sql = "SELECT count(*) FROM outgoing_webhook_calls WHERE hook_id = $1";
            db.query_one(sql, &[&hook_id]).await.unwrap().get::<_, i64>(0)
        }
    };
    assert_eq!(claims(slow.clone()).await, 1, "the call was claimed before it was made");

    // The other node goes on; then the killed node comes back and goes on too.
    let q = on_n2.create_post(&channel, "deploy while n1 is down").await;
    wait_for_message(&on_n2, &channel, &format!("reply to {}", q["id"].as_str().unwrap())).await;
    c.nodes[0].start();
    c.nodes[0].ready().await;
    let r = admin.create_post(&channel, "deploy after the restart").await;
    wait_for_message(&admin, &channel, &format!("reply to {}", r["id"].as_str().unwrap())).await;
    // Later posts of the restarted node are handled after anything it could have retried.
    admin.create_post(&channel, "slow second job").await;
    wait_for_message(&on_n2, &channel, "late reply").await;

    let all = messages(&on_n2, &channel).await;
    assert_eq!(all.iter().filter(|m| *m == "late reply").count(), 1, "only the second slow job's answer");
    assert_eq!(slow_calls.load(Ordering::SeqCst), 2, "the cut call was not made again");
    assert_eq!(claims(slow).await, 2, "one claim per slow post");
}
