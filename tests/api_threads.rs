//! Collapsed reply threads: the user-threads API (lists with totals, one thread, read, unread,
//! follow, unfollow, mark all read), who follows a thread automatically, root-only channel post
//! lists, the thread events, and on a two-node cluster `thread_updated` across nodes and replies
//! written on both nodes at once all counted.

mod common;
use common::cluster::ClusterProcs;
use common::ws::Ws;
use common::*;
use serde_json::{json, Value};

struct Setup {
    server: TestServer,
    alice: Client,
    alice_id: String,
    bob: Client,
    bob_id: String,
    carol: Client,
    carol_id: String,
    carol_name: String,
    /// In the channel, never mentioned, never replying.
    dave: Client,
    team: String,
    channel: String,
}

async fn setup() -> Setup {
    let server = TestServer::start().await;
    let anon = server.client();
    let (alice, alice_id) = anon.new_user("alice").await;
    let (bob, bob_id) = anon.new_user("bob").await;
    let (carol_id, carol_name) = anon.create_user("carol").await;
    let carol = anon.login(&carol_name).await;
    let (dave, dave_id) = anon.new_user("dave").await;
    let team = alice.create_team(true).await;
    let channel = alice.create_channel(&team, false).await;
    for u in [&bob_id, &carol_id, &dave_id] {
        alice.post(&format!("/teams/{team}/members"), json!({"user_id": u})).await.expect(201);
        alice.post(&format!("/channels/{channel}/members"), json!({"user_id": u})).await.expect(201);
    }
    Setup { server, alice, alice_id, bob, bob_id, carol, carol_id, carol_name, dave, team, channel }
}

async fn reply(c: &Client, channel: &str, root: &str, message: &str) -> Value {
    c.post("/posts", json!({"channel_id": channel, "root_id": root, "message": message})).await.expect(201).body
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

async fn threads(c: &Client, team: &str, query: &str) -> Value {
    c.get(&format!("/users/me/teams/{team}/threads{query}")).await.expect(200).body
}

async fn thread(c: &Client, team: &str, thread_id: &str) -> Value {
    c.get(&format!("/users/me/teams/{team}/threads/{thread_id}")).await.expect(200).body
}

#[actix_web::test]
async fn threads_are_listed_with_totals_and_the_right_people_follow_them() {
    let s = setup().await;
    let root = id(&s.alice.create_post(&s.channel, "a question").await);
    let other_root = id(&s.alice.create_post(&s.channel, "nobody answers this").await);
    let r1 = reply(&s.bob, &s.channel, &root, "first answer").await;
    reply(&s.bob, &s.channel, &root, &format!("second, @{} what do you think?", s.carol_name)).await;
    assert_eq!(r1["reply_count"], 1);

    // The root's author follows it, with both replies unread and no mention.
    let list = threads(&s.alice, &s.team, "").await;
    assert_eq!(list["total"], 1, "{list}");
    // As mattermost-redux's fetchThreads asks (every parameter, empty anchors).
    let q = "?before=&after=&per_page=25&extended=false&deleted=false&unread=false&since=0&totalsOnly=false&threadsOnly=false";
    let redux = threads(&s.alice, &s.team, q).await;
    assert_eq!((redux["total"].as_i64(), redux["threads"].as_array().map(Vec::len)), (Some(1), Some(1)), "{redux}");
    assert_eq!(list["total_unread_threads"], 1);
    assert_eq!(list["total_unread_mentions"], 0);
    assert_eq!(list["total_unread_urgent_mentions"], 0);
    let t = &list["threads"][0];
    assert_eq!(t["id"], root.as_str());
    assert_eq!(t["reply_count"], 2);
    assert_eq!(t["unread_replies"], 2);
    assert_eq!(t["unread_mentions"], 0);
    assert_eq!(t["is_following"], true);
    assert_eq!(t["last_viewed_at"], 0);
    assert!(t["last_reply_at"].as_i64().unwrap() > t["post"]["create_at"].as_i64().unwrap());
    assert_eq!(t["post"]["id"], root.as_str());
    assert_eq!(t["post"]["message"], "a question");
    assert_eq!(t["participants"], json!([{"id": s.bob_id}]), "ids only when not extended");

    // The replier follows it and has read it up to their reply.
    let bob_list = threads(&s.bob, &s.team, "").await;
    assert_eq!(bob_list["total"], 1);
    assert_eq!(bob_list["total_unread_threads"], 0);
    assert_eq!(bob_list["threads"][0]["unread_replies"], 0);
    assert!(bob_list["threads"][0]["last_viewed_at"].as_i64().unwrap() > 0);

    // The mentioned user follows it with one unread mention; someone else in the channel does not.
    let carol_list = threads(&s.carol, &s.team, "").await;
    assert_eq!(carol_list["total"], 1);
    assert_eq!(carol_list["total_unread_mentions"], 1);
    assert_eq!(carol_list["threads"][0]["unread_mentions"], 1);
    assert_eq!(carol_list["threads"][0]["unread_replies"], 2);
    // The team's unread counts carry the followed threads with unread replies and their mentions.
    let unreads = s.carol.get("/users/me/teams/unread?include_collapsed_threads=true").await.expect(200).body;
    assert_eq!(unreads[0]["team_id"], s.team.as_str());
    assert_eq!(unreads[0]["thread_count"], 1);
    assert_eq!(unreads[0]["thread_mention_count"], 1);
    let dave_list = threads(&s.dave, &s.team, "").await;
    assert_eq!(dave_list["total"], 0);
    assert_eq!(dave_list["threads"], json!([]));
    let dave_view = thread(&s.dave, &s.team, &root).await;
    assert_eq!(dave_view["is_following"], false, "a thread one does not follow reads as not followed");

    // Extended: participants are users.
    let ext = threads(&s.alice, &s.team, "?extended=true").await;
    assert_eq!(ext["threads"][0]["participants"][0]["id"], s.bob_id.as_str());
    assert!(ext["threads"][0]["participants"][0]["username"].as_str().unwrap().starts_with("bob"));
    let one = s.alice.get(&format!("/users/me/teams/{}/threads/{root}?extended=true", s.team)).await.expect(200).body;
    assert_eq!(one["id"], root.as_str());
    assert_eq!(one["unread_replies"], 2);
    assert!(one["participants"][0]["username"].is_string());

    // totalsOnly and threadsOnly.
    let totals = threads(&s.alice, &s.team, "?totalsOnly=true").await;
    assert_eq!(totals["threads"], json!([]));
    assert_eq!(totals["total"], 1);
    let only = threads(&s.alice, &s.team, "?threadsOnly=true").await;
    assert_eq!(only["threads"].as_array().unwrap().len(), 1);
    assert_eq!(only["total"], 0);

    // A root without replies has no thread; another team's user may not look.
    s.alice.get(&format!("/users/me/teams/{}/threads/{other_root}", s.team)).await.expect(404);
    s.bob.get(&format!("/users/{}/teams/{}/threads", s.alice_id, s.team)).await.expect(403);

    // Pagination: a second thread, newest reply first; `before` and `after` page through.
    reply(&s.bob, &s.channel, &other_root, "late answer").await;
    let both = threads(&s.alice, &s.team, "").await;
    let order: Vec<&str> = both["threads"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(order, vec![other_root.as_str(), root.as_str()]);
    let page = threads(&s.alice, &s.team, "?per_page=1").await;
    assert_eq!(page["threads"].as_array().unwrap().len(), 1);
    assert_eq!(page["total"], 2);
    let older = threads(&s.alice, &s.team, &format!("?before={other_root}")).await;
    assert_eq!(older["threads"].as_array().unwrap().len(), 1);
    assert_eq!(older["threads"][0]["id"], root.as_str());
    let newer = threads(&s.alice, &s.team, &format!("?after={root}")).await;
    assert_eq!(newer["threads"][0]["id"], other_root.as_str());
    assert_eq!(newer["threads"].as_array().unwrap().len(), 1);
    // `since`: only threads changed after it.
    let since = both["threads"][1]["last_reply_at"].as_i64().unwrap();
    let changed = threads(&s.alice, &s.team, &format!("?since={since}")).await;
    assert_eq!(changed["threads"].as_array().unwrap().len(), 1);
    assert_eq!(changed["threads"][0]["id"], other_root.as_str());

    // Deleting the root takes the thread out of the lists, unless `deleted` is asked for.
    s.alice.delete(&format!("/posts/{other_root}")).await.expect(200);
    assert_eq!(threads(&s.alice, &s.team, "").await["total"], 1);
    let with_deleted = threads(&s.alice, &s.team, "?deleted=true").await;
    assert_eq!(with_deleted["total"], 2);
    drop(s.server);
}

#[actix_web::test]
async fn threads_are_read_marked_unread_followed_and_unfollowed() {
    let s = setup().await;
    let root = id(&s.alice.create_post(&s.channel, "root").await);
    let r1 = reply(&s.bob, &s.channel, &root, &format!("hey @{}", s.carol_name)).await;
    let r2 = reply(&s.bob, &s.channel, &root, "more").await;
    let mut ws = Ws::connect(&s.server.url(), s.carol.token.as_deref().unwrap()).await;
    assert_eq!(ws.event().await["event"], "hello");

    // Read up to the last reply: nothing unread, `thread_read_changed` with before and after.
    let last = r2["create_at"].as_i64().unwrap();
    let t = s.carol.put(&format!("/users/me/teams/{}/threads/{root}/read/{last}", s.team), json!({})).await.expect(200);
    assert_eq!(t.body["unread_replies"], 0);
    assert_eq!(t.body["unread_mentions"], 0);
    assert_eq!(t.body["last_viewed_at"], last);
    let (ev, _) = ws.until_event("thread_read_changed").await;
    assert_eq!(ev["broadcast"]["user_id"], s.carol_id.as_str());
    assert_eq!(ev["broadcast"]["team_id"], s.team.as_str());
    assert_eq!(ev["data"]["thread_id"], root.as_str());
    assert_eq!(ev["data"]["channel_id"], s.channel.as_str());
    assert_eq!(ev["data"]["timestamp"], last);
    assert_eq!(ev["data"]["unread_replies"], 0);
    assert_eq!(ev["data"]["unread_mentions"], 0);
    assert_eq!(ev["data"]["previous_unread_replies"], 2);
    assert_eq!(ev["data"]["previous_unread_mentions"], 1);
    let list = threads(&s.carol, &s.team, "").await;
    assert_eq!(list["total_unread_threads"], 0);
    assert_eq!(list["total_unread_mentions"], 0);
    assert_eq!(threads(&s.carol, &s.team, "?unread=true").await["threads"], json!([]));

    // Unread from the first reply: both replies unread, and its mention counted again.
    let path = format!("/users/me/teams/{}/threads/{root}/set_unread/{}", s.team, id(&r1));
    let t = s.carol.post(&path, json!({})).await.expect(200).body;
    assert_eq!(t["unread_replies"], 2);
    assert_eq!(t["unread_mentions"], 1);
    let (ev, _) = ws.until_event("thread_read_changed").await;
    assert_eq!(ev["data"]["unread_replies"], 2);
    assert_eq!(ev["data"]["previous_unread_replies"], 0);
    assert_eq!(threads(&s.carol, &s.team, "?unread=true").await["threads"][0]["id"], root.as_str());
    // From the second: one unread, no mention.
    let path = format!("/users/me/teams/{}/threads/{root}/set_unread/{}", s.team, id(&r2));
    let t = s.carol.post(&path, json!({})).await.expect(200).body;
    assert_eq!(t["unread_replies"], 1);
    assert_eq!(t["unread_mentions"], 0);

    // Unfollow: out of the list, `thread_follow_changed`; a reply does not follow it again.
    s.carol.delete(&format!("/users/me/teams/{}/threads/{root}/following", s.team)).await.expect(200);
    let (ev, _) = ws.until_event("thread_follow_changed").await;
    assert_eq!(ev["data"]["thread_id"], root.as_str());
    assert_eq!(ev["data"]["state"], false);
    assert_eq!(ev["data"]["reply_count"], 2);
    assert_eq!(threads(&s.carol, &s.team, "").await["total"], 0);
    reply(&s.bob, &s.channel, &root, "a third").await;
    assert_eq!(threads(&s.carol, &s.team, "").await["total"], 0, "a reply does not re-follow");
    assert_eq!(thread(&s.carol, &s.team, &root).await["is_following"], false);
    // ... but being mentioned does.
    reply(&s.bob, &s.channel, &root, &format!("@{} again", s.carol_name)).await;
    let t = thread(&s.carol, &s.team, &root).await;
    assert_eq!(t["is_following"], true);
    assert_eq!(t["reply_count"], 4);
    // Follow and unfollow explicitly.
    s.carol.delete(&format!("/users/me/teams/{}/threads/{root}/following", s.team)).await.expect(200);
    s.carol.put(&format!("/users/me/teams/{}/threads/{root}/following", s.team), json!({})).await.expect(200);
    let (ev, _) = ws.until_event("thread_follow_changed").await;
    assert_eq!(ev["data"]["state"], false);
    let (ev, _) = ws.until_event("thread_follow_changed").await;
    assert_eq!(ev["data"]["state"], true);
    assert_eq!(ev["data"]["reply_count"], 4);
    assert_eq!(threads(&s.carol, &s.team, "").await["total"], 1);

    // Following a root without replies starts its thread; dave follows it and sees it listed.
    let lonely = id(&s.alice.create_post(&s.channel, "lonely").await);
    s.dave.put(&format!("/users/me/teams/{}/threads/{lonely}/following", s.team), json!({})).await.expect(200);
    let dl = threads(&s.dave, &s.team, "").await;
    assert_eq!(dl["total"], 1);
    assert_eq!(dl["threads"][0]["reply_count"], 0);
    // A reply is not a thread root.
    s.dave.put(&format!("/users/me/teams/{}/threads/{}/following", s.team, id(&r1)), json!({})).await.expect(404);

    // A reply deleted: one fewer, announced with `thread_updated`.
    let gone = reply(&s.bob, &s.channel, &root, "soon gone").await;
    let (ev, _) = ws.until_event("thread_updated").await;
    let t: Value = serde_json::from_str(ev["data"]["thread"].as_str().unwrap()).unwrap();
    assert_eq!(t["reply_count"], 5);
    let unread_before = t["unread_replies"].as_i64().unwrap();
    s.bob.delete(&format!("/posts/{}", id(&gone))).await.expect(200);
    let (ev, _) = ws.until_event("thread_updated").await;
    let t: Value = serde_json::from_str(ev["data"]["thread"].as_str().unwrap()).unwrap();
    assert_eq!(t["reply_count"], 4);
    assert_eq!(t["unread_replies"], unread_before - 1);
    assert_eq!(ev["data"]["previous_unread_replies"], unread_before);
    assert_eq!(thread(&s.carol, &s.team, &root).await["reply_count"], 4);

    // Mark all read: every followed thread of the team.
    let second = id(&s.alice.create_post(&s.channel, "second root").await);
    reply(&s.bob, &s.channel, &second, &format!("@{} here too", s.carol_name)).await;
    let before = threads(&s.carol, &s.team, "").await;
    assert_eq!(before["total_unread_threads"], 2, "{before}");
    assert_eq!(before["total_unread_mentions"], 2);
    s.carol.put(&format!("/users/me/teams/{}/threads/read", s.team), json!({})).await.expect(200);
    let (ev, _) = ws.until_event("thread_read_changed").await;
    assert!(ev["data"]["timestamp"].as_i64().unwrap() > 0);
    assert!(ev["data"].get("thread_id").is_none());
    let after = threads(&s.carol, &s.team, "").await;
    assert_eq!(after["total_unread_threads"], 0);
    assert_eq!(after["total_unread_mentions"], 0);
    assert_eq!(after["total"], 2);
}

#[actix_web::test]
async fn collapsed_threads_lists_hold_root_posts_with_their_thread() {
    let s = setup().await;
    let root = id(&s.alice.create_post(&s.channel, "root").await);
    let plain = id(&s.dave.create_post(&s.channel, "no replies").await);
    let r1 = id(&reply(&s.bob, &s.channel, &root, "reply one").await);
    let r2 = id(&reply(&s.carol, &s.channel, &root, "reply two").await);

    let all = s.alice.get(&format!("/channels/{}/posts", s.channel)).await.expect(200).body;
    assert_eq!(all["order"], json!([r2, r1, plain, root]), "without collapsed threads replies are listed");

    let path = format!("/channels/{}/posts?collapsedThreads=true", s.channel);
    let list = s.alice.get(&path).await.expect(200).body;
    assert_eq!(list["order"], json!([plain, root]));
    assert!(list["posts"].get(&r1).is_none(), "no replies, not even for context");
    let p = &list["posts"][&root];
    assert_eq!(p["reply_count"], 2);
    assert!(p["last_reply_at"].as_i64().unwrap() > p["create_at"].as_i64().unwrap());
    assert_eq!(p["is_following"], true);
    assert_eq!(p["participants"], json!([{"id": s.bob_id}, {"id": s.carol_id}]));
    assert_eq!(list["posts"][&plain]["is_following"], false);
    assert_eq!(list["posts"][&plain]["participants"], json!([]));
    // Dave does not follow the thread.
    let dl = s.dave.get(&path).await.expect(200).body;
    assert_eq!(dl["posts"][&root]["is_following"], false);

    let ext = s
        .alice
        .get(&format!("/channels/{}/posts?collapsedThreads=true&collapsedThreadsExtended=true", s.channel))
        .await
        .expect(200)
        .body;
    assert!(ext["posts"][&root]["participants"][0]["username"].as_str().unwrap().starts_with("bob"));

    // `since` and the unread view are root-only too.
    let since = s.alice.get(&format!("{path}&since=1")).await.expect(200).body;
    let mut ids: Vec<&str> = since["order"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    ids.sort();
    let mut want = vec![plain.as_str(), root.as_str()];
    want.sort();
    assert_eq!(ids, want);
    let unread = s
        .dave
        .get(&format!(
            "/users/me/channels/{}/posts/unread?limit_before=10&limit_after=10&collapsedThreads=true",
            s.channel
        ))
        .await
        .expect(200)
        .body;
    assert_eq!(unread["order"], json!([plain, root]));

    // The root counters of the memberships and the channel count root posts only.
    let member = s.dave.get(&format!("/channels/{}/members/me", s.channel)).await.expect(200).body;
    let channel = s.dave.get(&format!("/channels/{}", s.channel)).await.expect(200).body;
    assert_eq!(channel["total_msg_count_root"], 2);
    assert_eq!(channel["total_msg_count"], 4);
    // Dave read both roots when he posted his; the replies since leave him no unread root post.
    assert_eq!(member["msg_count"], 2);
    assert_eq!(member["msg_count_root"], 2);

    // The client config offers collapsed threads, on by default, and automatic following.
    let cfg = s.server.client().get("/config/client?format=old").await.expect(200).body;
    assert_eq!(cfg["CollapsedThreads"], "default_on");
    assert_eq!(cfg["ThreadAutoFollow"], "true");
}

#[actix_web::test]
async fn a_reply_on_one_node_updates_the_follower_on_the_other_and_concurrent_replies_all_count() {
    let c = ClusterProcs::start(2, &[]).await;
    let (n1, n2) = (c.client(0), c.client(1));
    let (alice, _alice_id) = n1.new_user("alice").await;
    let (bob_id, bob_name) = n1.create_user("bob").await;
    let (carol_id, carol_name) = n1.create_user("carol").await;
    let (dave_id, dave_name) = n1.create_user("dave").await;
    let bob = n1.login(&bob_name).await;
    let carol2 = n2.login(&carol_name).await;
    let dave2 = n2.login(&dave_name).await;
    assert!(c.all_green(&alice).await, "the nodes see each other");
    let team = alice.create_team(true).await;
    for u in [&bob_id, &carol_id, &dave_id] {
        alice.post(&format!("/teams/{team}/members"), json!({"user_id": u})).await.expect(201);
    }
    let town = alice.get(&format!("/teams/{team}/channels/name/town-square")).await.expect(200).id();

    // Dave, on node 2, follows alice's thread; bob replies on node 1.
    let root = id(&alice.create_post(&town, "cluster thread").await);
    dave2.put(&format!("/users/me/teams/{team}/threads/{root}/following"), json!({})).await.expect(200);
    let mut ws = Ws::connect(&c.nodes[1].url(), dave2.token.as_deref().unwrap()).await;
    assert_eq!(ws.event().await["event"], "hello");
    reply(&bob, &town, &root, "from node 1").await;
    let (ev, _) = ws.until_event("thread_updated").await;
    assert_eq!(ev["broadcast"]["user_id"], dave_id.as_str());
    assert_eq!(ev["broadcast"]["team_id"], team.as_str());
    let t: Value = serde_json::from_str(ev["data"]["thread"].as_str().expect("thread is a JSON string")).unwrap();
    assert_eq!(t["id"], root.as_str());
    assert_eq!(t["reply_count"], 1);
    assert_eq!(t["unread_replies"], 1);
    assert_eq!(t["is_following"], true);
    assert_eq!(t["post"]["id"], root.as_str());
    assert_eq!(t["participants"][0]["id"], bob_id.as_str());
    assert_eq!(ev["data"]["previous_unread_replies"], 0);
    assert_eq!(ev["data"]["previous_unread_mentions"], 0);

    // Replies written on both nodes at once: every one counted, and all unread for dave.
    const PER_NODE: usize = 12;
    let mut writes = Vec::new();
    for i in 0..PER_NODE {
        for (who, client) in [("bob", &bob), ("carol", &carol2)] {
            let (client, town, root) = (client.clone(), town.clone(), root.clone());
            writes.push(tokio::spawn(async move {
                let body = json!({"channel_id": town, "root_id": root, "message": format!("{who} {i}")});
                client.post("/posts", body).await.status.as_u16()
            }));
        }
    }
    for w in writes {
        assert_eq!(w.await.unwrap(), 201);
    }
    let total = 1 + 2 * PER_NODE as i64;
    for node in [&dave2, &dave2.clone_to(&c.nodes[0].url())] {
        let t = thread(node, &team, &root).await;
        assert_eq!(t["reply_count"], total, "{t}");
        assert_eq!(t["unread_replies"], total);
        let mut participants: Vec<&str> =
            t["participants"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
        participants.sort();
        let mut want = vec![bob_id.as_str(), carol_id.as_str()];
        want.sort();
        assert_eq!(participants, want, "each replier once");
    }
    let post = alice.get(&format!("/posts/{root}")).await.expect(200).body;
    assert_eq!(post["reply_count"], total);
    let list = threads(&dave2, &team, "").await;
    assert_eq!(list["threads"][0]["reply_count"], total);
    assert_eq!(list["total_unread_threads"], 1);
    // Some thread_updated dave heard counts every reply (the one after the last commit does).
    let mut seen = 0;
    for _ in 0..2 * PER_NODE {
        let (ev, _) = ws.until_event("thread_updated").await;
        let t: Value = serde_json::from_str(ev["data"]["thread"].as_str().unwrap()).unwrap();
        seen = seen.max(t["reply_count"].as_i64().unwrap());
        if seen == total {
            break;
        }
    }
    assert_eq!(seen, total, "a thread_updated with every reply counted");
}

#[actix_web::test]
async fn without_thread_auto_follow_only_explicit_followers_follow() {
    let server = TestServer::start_with(|c| c.service_settings.thread_auto_follow = false).await;
    let anon = server.client();
    let (alice, _) = anon.new_user("alice").await;
    let (bob, bob_id) = anon.new_user("bob").await;
    let (bob_name, team) =
        (bob.get("/users/me").await.expect(200).body["username"].clone(), alice.create_team(true).await);
    alice.post(&format!("/teams/{team}/members"), json!({"user_id": bob_id})).await.expect(201);
    let town = alice.get(&format!("/teams/{team}/channels/name/town-square")).await.expect(200).id();
    let cfg = anon.get("/config/client?format=old").await.expect(200).body;
    assert_eq!(cfg["ThreadAutoFollow"], "false");

    let root = id(&alice.create_post(&town, "root").await);
    reply(&bob, &town, &root, "a reply").await;
    assert_eq!(threads(&alice, &team, "").await["total"], 0, "the root's author does not follow");
    assert_eq!(threads(&bob, &team, "").await["total"], 0, "the replier does not follow");
    alice.put(&format!("/users/me/teams/{team}/threads/{root}/following"), json!({})).await.expect(200);
    reply(&alice, &town, &root, &format!("@{} see", bob_name.as_str().unwrap())).await;
    assert_eq!(threads(&bob, &team, "").await["total"], 0, "the mentioned does not follow");
    let t = thread(&alice, &team, &root).await;
    assert_eq!(t["is_following"], true);
    assert_eq!(t["reply_count"], 2);
    assert_eq!(t["unread_replies"], 0, "her own reply marks her follow read");
}
