//! API v4 posts: create, reply, get, patch, update, delete, threads and channel history with
//! page/per_page, `since`, before/after; bad input, permissions, and `since` missing nothing
//! under concurrent writes.

mod common;
use common::*;

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};
use starling_protocol::new_id;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_owned()
}

fn i(v: &Value, key: &str) -> i64 {
    v[key].as_i64().unwrap_or_else(|| panic!("no integer {key} in {v}"))
}

fn order(list: &Value) -> Vec<String> {
    list["order"]
        .as_array()
        .unwrap_or_else(|| panic!("no order in {list}"))
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect()
}

/// Check a PostList's shape: every id in `order` is in `posts`, keyed by its own id.
fn assert_post_list(list: &Value) {
    for k in ["order", "posts", "next_post_id", "prev_post_id", "has_next"] {
        assert!(list.get(k).is_some(), "PostList lacks {k}: {list}");
    }
    let posts = list["posts"].as_object().expect("posts is a map");
    for id in order(list) {
        assert_eq!(posts.get(&id).map(|p| p["id"].clone()), Some(json!(id)), "order id {id} not in posts");
    }
    for (k, p) in posts {
        assert_eq!(&p["id"], k, "posts map keyed by id");
    }
}

const MALFORMED_ID: &str = "not-an-id";

/// A world: the system admin (not in the team), a team with a channel where `author` and
/// `member` post, `teammate` in the team but not the channel, and `outsider` in no team.
struct World {
    server: TestServer,
    admin: Client,
    author: Client,
    author_id: String,
    member: Client,
    teammate: Client,
    outsider: Client,
    team: String,
    channel: String,
}

async fn world() -> World {
    world_on(TestServer::start().await).await
}

async fn world_on(server: TestServer) -> World {
    let anon = server.client();
    let (admin, _) = anon.new_user("admin").await;
    let (author, author_id) = anon.new_user("author").await;
    let (member, member_id) = anon.new_user("member").await;
    let (teammate, teammate_id) = anon.new_user("mate").await;
    let (outsider, _) = anon.new_user("out").await;
    let team = author.create_team(true).await;
    for id in [&member_id, &teammate_id] {
        author.post(&format!("/teams/{team}/members"), json!({"user_id": id})).await.expect(201);
    }
    // Private: in an open channel, team members who have not joined may read (as in Mattermost).
    let channel = author.create_channel(&team, true).await;
    author.post(&format!("/channels/{channel}/members"), json!({"user_id": member_id})).await.expect(201);
    World { server, admin, author, author_id, member, teammate, outsider, team, channel }
}

async fn posts_page(c: &Client, channel: &str, query: &str) -> Value {
    let list = c.get(&format!("/channels/{channel}/posts{query}")).await.expect(200).body;
    assert_post_list(&list);
    list
}

#[actix_web::test]
async fn create_and_get_a_post() {
    let w = world().await;
    let p = w
        .author
        .post(
            "/posts",
            json!({"channel_id": w.channel, "message": "hello #world", "props": {"k": "v"}, "pending_post_id": "abc"}),
        )
        .await
        .expect(201)
        .body;
    let id = id_of(&p);
    assert_eq!(id.len(), 26);
    assert_eq!(p["channel_id"], json!(w.channel));
    assert_eq!(p["user_id"], json!(w.author_id));
    assert_eq!(p["message"], json!("hello #world"));
    assert_eq!(p["root_id"], json!(""));
    assert_eq!(p["type"], json!(""));
    assert_eq!(p["props"], json!({"k": "v"}));
    assert_eq!(p["file_ids"], json!([]));
    assert_eq!(p["hashtags"], json!("#world"));
    assert_eq!(p["pending_post_id"], json!("abc"));
    assert_eq!(p["reply_count"], json!(0));
    assert_eq!(p["edit_at"], json!(0));
    assert_eq!(p["delete_at"], json!(0));
    assert!(p["metadata"].is_object());
    assert!(i(&p, "create_at") > 1_600_000_000_000);
    assert_eq!(p["create_at"], p["update_at"]);

    // Every channel member reads it; the admin may read any channel.
    assert_eq!(w.author.get(&format!("/posts/{id}")).await.expect(200).body, p);
    assert_eq!(w.member.get(&format!("/posts/{id}")).await.expect(200).body, p);
    w.admin.get(&format!("/posts/{id}")).await.expect(200);
    check(w.teammate.get(&format!("/posts/{id}")).await, 403, "team member outside the channel");
    check(w.outsider.get(&format!("/posts/{id}")).await, 403, "outsider");
    check(w.author.get(&format!("/posts/{}", new_id())).await, 404, "unknown post");
    check(w.author.get(&format!("/posts/{MALFORMED_ID}")).await, 400, "malformed post id");
    check(w.server.client().get(&format!("/posts/{id}")).await, 401, "no token");
    check(w.author.with_token(&new_id()).get(&format!("/posts/{id}")).await, 401, "bogus token");

    // The channel counts the post.
    let ch = w.author.get(&format!("/channels/{}", w.channel)).await.expect(200).body;
    assert_eq!(ch["total_msg_count"], json!(1));
    assert_eq!(ch["last_post_at"], p["create_at"]);

    // Null optional fields are accepted.
    w.member
        .post(
            "/posts",
            json!({"channel_id": w.channel, "message": "x", "root_id": null, "file_ids": null, "props": null}),
        )
        .await
        .expect(201);
}

#[actix_web::test]
async fn create_post_rejects_bad_input_and_writes_nothing() {
    let w = world().await;
    let ch = &w.channel;
    let root = w.author.create_post(ch, "root").await;
    let reply = w
        .author
        .post("/posts", json!({"channel_id": ch, "message": "r", "root_id": id_of(&root)}))
        .await
        .expect(201)
        .body;
    let other_channel = w.author.create_channel(&w.team, false).await;
    let elsewhere = w.author.create_post(&other_channel, "elsewhere").await;
    let before = count(&w.server, "SELECT count(*) FROM posts").await;

    let cases: Vec<(String, &str)> = vec![
        ("{\"channel_id\": ".into(), "truncated JSON"),
        ("hello".into(), "not JSON"),
        ("".into(), "empty body"),
        ("null".into(), "null body"),
        ("[1,2]".into(), "array body"),
        (json!({"message": "m"}).to_string(), "missing channel_id"),
        (json!({"channel_id": 5, "message": "m"}).to_string(), "channel_id is a number"),
        (json!({"channel_id": MALFORMED_ID, "message": "m"}).to_string(), "malformed channel_id"),
        (json!({"channel_id": ch, "message": 5}).to_string(), "message is a number"),
        (json!({"channel_id": ch, "message": ["m"]}).to_string(), "message is an array"),
        (json!({"channel_id": ch}).to_string(), "missing message"),
        (json!({"channel_id": ch, "message": ""}).to_string(), "empty message"),
        (json!({"channel_id": ch, "message": " \n\t "}).to_string(), "blank message"),
        (json!({"channel_id": ch, "message": "x".repeat(16384)}).to_string(), "message of 16384 characters"),
        (json!({"channel_id": ch, "message": "é".repeat(16384)}).to_string(), "16384 two-byte characters"),
        (json!({"channel_id": ch, "message": "m", "props": "p"}).to_string(), "props is a string"),
        (json!({"channel_id": ch, "message": "m", "props": [1]}).to_string(), "props is an array"),
        (json!({"channel_id": ch, "message": "m", "type": "system_join_channel"}).to_string(), "system post type"),
        (json!({"channel_id": ch, "message": "m", "type": 3}).to_string(), "type is a number"),
        (json!({"channel_id": ch, "message": "m", "file_ids": "abc"}).to_string(), "file_ids is a string"),
        (json!({"channel_id": ch, "message": "m", "file_ids": [MALFORMED_ID]}).to_string(), "malformed file id"),
        (
            json!({"channel_id": ch, "message": "m", "file_ids": (0..11).map(|_| new_id()).collect::<Vec<_>>()})
                .to_string(),
            "11 files",
        ),
        (json!({"channel_id": ch, "message": "m", "root_id": MALFORMED_ID}).to_string(), "malformed root_id"),
        (json!({"channel_id": ch, "message": "m", "root_id": 1}).to_string(), "root_id is a number"),
        (json!({"channel_id": ch, "message": "m", "root_id": new_id()}).to_string(), "unknown root"),
        (json!({"channel_id": ch, "message": "m", "root_id": id_of(&reply)}).to_string(), "root is a reply"),
        (
            json!({"channel_id": ch, "message": "m", "root_id": id_of(&elsewhere)}).to_string(),
            "root in another channel",
        ),
        (json!({"channel_id": ch, "message": "m", "pending_post_id": "p".repeat(65)}).to_string(), "long pending id"),
    ];
    for (body, what) in &cases {
        check(send_raw(&w.author, Method::POST, "/posts", body).await, 400, what);
    }
    let body = json!({"channel_id": ch, "message": "m"});
    check(w.author.post("/posts", json!({"channel_id": new_id(), "message": "m"})).await, 404, "unknown channel");
    check(w.teammate.post("/posts", body.clone()).await, 403, "team member outside the channel");
    check(w.outsider.post("/posts", body.clone()).await, 403, "outsider");
    // (A system admin holds create_post everywhere, as in Mattermost.)
    // Permissions come before validation, as in Mattermost.
    let empty = json!({"channel_id": ch, "message": " "});
    check(w.teammate.post("/posts", empty).await, 403, "empty message outside the channel");
    let unknown_empty = json!({"channel_id": new_id(), "message": ""});
    check(w.author.post("/posts", unknown_empty).await, 404, "empty message to an unknown channel");
    let reply_out = json!({"channel_id": ch, "message": "m", "root_id": new_id()});
    check(w.teammate.post("/posts", reply_out).await, 403, "reply to an unknown root outside the channel");
    check(w.server.client().post("/posts", body.clone()).await, 401, "no token");
    check(w.author.with_token(&new_id()).post("/posts", body.clone()).await, 401, "bogus token");
    let huge = json!({"channel_id": ch, "message": "m", "props": {"pad": "x".repeat(300_001)}}).to_string();
    check(send_raw(&w.author, Method::POST, "/posts", &huge).await, 413, "oversize body");
    let huge = json!({"channel_id": ch, "message": "x".repeat(400_000)}).to_string();
    check(send_raw(&w.author, Method::POST, "/posts", &huge).await, 413, "oversize message");

    assert_eq!(count(&w.server, "SELECT count(*) FROM posts").await, before, "refused posts wrote nothing");
    let chan = w.author.get(&format!("/channels/{ch}")).await.expect(200).body;
    assert_eq!(chan["total_msg_count"], json!(2), "refused posts are not counted");

    let r = w.author.post("/posts", json!({"channel_id": ch, "message": "x".repeat(16384)})).await;
    assert_eq!(check(r, 400, "too long").body["id"], json!("model.post.is_valid.message_length.app_error"));
    let huge = json!({"channel_id": ch, "message": "x".repeat(300_001)}).to_string();
    let r = send_raw(&w.author, Method::POST, "/posts", &huge).await;
    assert_eq!(check(r, 413, "too large").body["id"], json!("api.context.request_body_too_large.app_error"));
    assert_eq!(count(&w.server, "SELECT count(*) FROM posts").await, before);

    // The limit itself is fine, in characters not bytes.
    let p = w.author.post("/posts", json!({"channel_id": ch, "message": "x".repeat(16383)})).await.expect(201).body;
    assert_eq!(p["message"].as_str().unwrap().len(), 16383);
    let p = w.author.post("/posts", json!({"channel_id": ch, "message": "é".repeat(16383)})).await.expect(201).body;
    assert_eq!(p["message"].as_str().unwrap().chars().count(), 16383);
    w.author.post("/posts", json!({"channel_id": ch, "message": "m", "type": "custom_x"})).await.expect(201);
}

#[actix_web::test]
async fn replies_bump_the_root_and_threads_list_newest_first() {
    let w = world().await;
    let ch = &w.channel;
    let root = w.author.create_post(ch, "root").await;
    let root_id = id_of(&root);
    let r1 =
        w.member.post("/posts", json!({"channel_id": ch, "message": "r1", "root_id": root_id})).await.expect(201).body;
    assert_eq!(r1["root_id"], json!(root_id));
    assert_eq!(r1["reply_count"], json!(1));
    let r2 =
        w.author.post("/posts", json!({"channel_id": ch, "message": "r2", "root_id": root_id})).await.expect(201).body;
    assert_eq!(r2["reply_count"], json!(2));
    assert!(i(&r1, "create_at") > i(&root, "create_at") && i(&r2, "create_at") > i(&r1, "create_at"));

    let root_now = w.member.get(&format!("/posts/{root_id}")).await.expect(200).body;
    assert_eq!(root_now["reply_count"], json!(2));
    assert_eq!(root_now["update_at"], r2["update_at"], "a reply bumps its root's update_at");
    assert_eq!(root_now["last_reply_at"], r2["create_at"]);
    assert_eq!(root_now["create_at"], root["create_at"]);
    assert_eq!(root_now["edit_at"], json!(0), "a reply is not an edit");

    let want = vec![id_of(&r2), id_of(&r1), root_id.clone()];
    for from in [&root_id, &id_of(&r1)] {
        let t = w.member.get(&format!("/posts/{from}/thread")).await.expect(200).body;
        assert_post_list(&t);
        assert_eq!(order(&t), want, "thread from {from}: newest first");
        let posts = t["posts"].as_object().unwrap();
        assert_eq!(posts.len(), 3);
        assert_eq!(posts[&id_of(&r1)]["message"], json!("r1"));
        assert_eq!(posts[&id_of(&r1)]["root_id"], json!(root_id));
        assert!(posts.values().all(|p| p["reply_count"] == json!(2)));
    }
    // A root without replies is a thread of one.
    let lone = w.author.create_post(ch, "lone").await;
    let t = w.author.get(&format!("/posts/{}/thread", id_of(&lone))).await.expect(200).body;
    assert_eq!(order(&t), vec![id_of(&lone)]);

    w.admin.get(&format!("/posts/{root_id}/thread")).await.expect(200);
    check(w.teammate.get(&format!("/posts/{root_id}/thread")).await, 403, "not in the channel");
    check(w.outsider.get(&format!("/posts/{root_id}/thread")).await, 403, "outsider");
    check(w.member.get(&format!("/posts/{}/thread", new_id())).await, 404, "unknown");
    check(w.member.get(&format!("/posts/{MALFORMED_ID}/thread")).await, 400, "malformed");
    check(w.server.client().get(&format!("/posts/{root_id}/thread")).await, 401, "no token");

    // A deleted reply leaves the thread and the count; a deleted root cannot be replied to.
    w.member.delete(&format!("/posts/{}", id_of(&r1))).await.expect(200);
    let t = w.author.get(&format!("/posts/{root_id}/thread")).await.expect(200).body;
    assert_eq!(order(&t), vec![id_of(&r2), root_id.clone()]);
    let root_after = w.author.get(&format!("/posts/{root_id}")).await.expect(200).body;
    assert_eq!(root_after["reply_count"], json!(1));
    assert!(i(&root_after, "update_at") > i(&root_now, "update_at"), "deleting a reply bumps its root");
    w.author.delete(&format!("/posts/{root_id}")).await.expect(200);
    let r = w.author.post("/posts", json!({"channel_id": ch, "message": "late", "root_id": root_id})).await;
    check(r, 400, "reply to a deleted root");
}

#[actix_web::test]
async fn patch_and_update_by_author_and_others() {
    let w = world().await;
    let p = w.author.create_post(&w.channel, "original").await;
    let id = id_of(&p);
    let path = format!("/posts/{id}/patch");

    check(w.member.put(&path, json!({"message": "hijack"})).await, 403, "another member patches");
    check(
        w.member.put(&format!("/posts/{id}"), json!({"id": id, "message": "hijack"})).await,
        403,
        "another member updates",
    );
    check(w.teammate.put(&path, json!({"message": "hijack"})).await, 403, "non-member patches");
    check(w.server.client().put(&path, json!({"message": "x"})).await, 401, "no token");
    assert_eq!(w.author.get(&format!("/posts/{id}")).await.expect(200).body["message"], json!("original"));

    let e = w.author.put(&path, json!({"message": "edited"})).await.expect(200).body;
    assert_eq!(e["id"], json!(id));
    assert_eq!(e["message"], json!("edited"));
    assert!(i(&e, "edit_at") > 0);
    assert_eq!(e["edit_at"], e["update_at"]);
    assert!(i(&e, "update_at") > i(&p, "update_at"));
    assert_eq!(e["create_at"], p["create_at"]);
    assert_eq!(w.member.get(&format!("/posts/{id}")).await.expect(200).body["message"], json!("edited"));

    // Pinning and props are not message edits.
    let pinned = w.author.put(&path, json!({"is_pinned": true, "props": {"a": 1}})).await.expect(200).body;
    assert_eq!(pinned["is_pinned"], json!(true));
    assert_eq!(pinned["props"], json!({"a": 1}));
    assert_eq!(pinned["message"], json!("edited"));
    assert_eq!(pinned["edit_at"], e["edit_at"]);
    assert!(i(&pinned, "update_at") > i(&e, "update_at"));

    // PUT /posts/{id}: same rules, and the body's id must match.
    let u = w.author.put(&format!("/posts/{id}"), json!({"id": id, "message": "updated"})).await.expect(200).body;
    assert_eq!(u["message"], json!("updated"));
    check(w.author.put(&format!("/posts/{id}"), json!({"id": new_id(), "message": "x"})).await, 400, "id mismatch");

    for (body, what) in [
        ("{\"message\":".to_owned(), "truncated JSON"),
        (json!({"message": 1}).to_string(), "message is a number"),
        (json!({"message": "x".repeat(16384)}).to_string(), "message too long"),
        (json!({"props": "p"}).to_string(), "props is a string"),
        (json!({"is_pinned": "yes"}).to_string(), "is_pinned is a string"),
    ] {
        check(send_raw(&w.author, Method::PUT, &path, &body).await, 400, what);
        check(send_raw(&w.author, Method::PUT, &format!("/posts/{id}"), &body).await, 400, what);
    }
    let huge = json!({"message": "x", "props": {"pad": "x".repeat(300_001)}}).to_string();
    check(send_raw(&w.author, Method::PUT, &path, &huge).await, 413, "oversize patch");
    check(w.author.put(&format!("/posts/{}/patch", new_id()), json!({"message": "x"})).await, 404, "unknown post");
    check(w.author.put(&format!("/posts/{MALFORMED_ID}/patch"), json!({"message": "x"})).await, 400, "malformed id");
    check(w.author.put(&format!("/posts/{}", new_id()), json!({"message": "x"})).await, 404, "update unknown");
    assert_eq!(w.author.get(&format!("/posts/{id}")).await.expect(200).body["message"], json!("updated"));

    // A system admin may edit anyone's post.
    let a = w.admin.put(&path, json!({"message": "moderated"})).await.expect(200).body;
    assert_eq!(a["message"], json!("moderated"));
    assert_eq!(a["user_id"], json!(w.author_id), "the author stays the author");
}

#[actix_web::test]
async fn delete_by_author_and_others() {
    let w = world().await;
    let ch = &w.channel;
    let p = w.author.create_post(ch, "doomed").await;
    let id = id_of(&p);

    check(w.member.delete(&format!("/posts/{id}")).await, 403, "another member deletes");
    check(w.teammate.delete(&format!("/posts/{id}")).await, 403, "non-member deletes");
    check(w.server.client().delete(&format!("/posts/{id}")).await, 401, "no token");
    check(w.author.delete(&format!("/posts/{MALFORMED_ID}")).await, 400, "malformed");
    check(w.author.delete(&format!("/posts/{}", new_id())).await, 404, "unknown");
    w.member.get(&format!("/posts/{id}")).await.expect(200);

    let r = w.author.delete(&format!("/posts/{id}")).await.expect(200);
    assert_eq!(r.body, json!({"status": "OK"}));
    check(w.author.get(&format!("/posts/{id}")).await, 404, "get deleted");
    check(w.admin.get(&format!("/posts/{id}")).await, 404, "admin gets deleted");
    check(w.author.delete(&format!("/posts/{id}")).await, 404, "delete twice");
    check(w.author.put(&format!("/posts/{id}/patch"), json!({"message": "zombie"})).await, 404, "patch deleted");
    check(w.author.put(&format!("/posts/{id}"), json!({"message": "zombie"})).await, 404, "update deleted");
    check(w.author.get(&format!("/posts/{id}/thread")).await, 404, "thread of deleted");
    assert!(!order(&posts_page(&w.author, ch, "").await).contains(&id));
    let row = w.server.db.client().await;
    let row = row.query_one("SELECT delete_at, message FROM posts WHERE id = $1", &[&id]).await.unwrap();
    assert!(row.get::<_, i64>(0) > 0, "a soft delete");
    assert_eq!(row.get::<_, String>(1), "doomed", "the zombie patch changed nothing");

    // Deleting a root deletes its replies; a system admin may delete anyone's post.
    let root = w.member.create_post(ch, "root").await;
    let reply = w
        .author
        .post("/posts", json!({"channel_id": ch, "message": "r", "root_id": id_of(&root)}))
        .await
        .expect(201)
        .body;
    w.admin.delete(&format!("/posts/{}", id_of(&root))).await.expect(200);
    check(w.author.get(&format!("/posts/{}", id_of(&reply))).await, 404, "reply of a deleted root");
    assert!(order(&posts_page(&w.author, ch, "").await).is_empty());
}

#[actix_web::test]
async fn channel_posts_paging_and_permissions() {
    let w = world().await;
    let ch = &w.channel;
    let mut made = Vec::new();
    for n in 0..5 {
        made.push(id_of(&w.author.create_post(ch, &format!("p{n}")).await));
    }
    let newest_first: Vec<String> = made.iter().rev().cloned().collect();

    let all = posts_page(&w.member, ch, "").await;
    assert_eq!(order(&all), newest_first);
    assert_eq!(all["has_next"], json!(false));
    assert_eq!(all["posts"].as_object().unwrap().len(), 5);
    let p0 = posts_page(&w.member, ch, "?page=0&per_page=2").await;
    assert_eq!(order(&p0), newest_first[0..2].to_vec());
    assert_eq!(p0["has_next"], json!(true));
    assert_eq!(p0["posts"].as_object().unwrap().len(), 2);
    let p1 = posts_page(&w.member, ch, "?page=1&per_page=2").await;
    assert_eq!(order(&p1), newest_first[2..4].to_vec());
    assert_eq!(p1["has_next"], json!(true));
    let p2 = posts_page(&w.member, ch, "?page=2&per_page=2").await;
    assert_eq!(order(&p2), newest_first[4..5].to_vec());
    assert_eq!(p2["has_next"], json!(false));
    assert!(order(&posts_page(&w.member, ch, "?page=9&per_page=2").await).is_empty());

    // A reply's root comes along in `posts` for context, without being in `order`.
    let reply =
        w.member.post("/posts", json!({"channel_id": ch, "message": "re", "root_id": made[0]})).await.expect(201).body;
    let top = posts_page(&w.member, ch, "?per_page=1").await;
    assert_eq!(order(&top), vec![id_of(&reply)]);
    assert!(top["posts"].get(&made[0]).is_some(), "root of the reply is included: {top}");

    // `since=0` is no `since` at all (a client's first sync), as in Mattermost.
    let first_sync = posts_page(&w.member, ch, "?since=0&per_page=2").await;
    assert_eq!(order(&first_sync), order(&posts_page(&w.member, ch, "?per_page=2").await));
    assert_eq!(order(&first_sync).len(), 2);
    // Bad paging falls back to the defaults, as Mattermost reads it; a bad `since` is refused.
    let all = order(&posts_page(&w.member, ch, "").await);
    for q in ["?page=-1", "?per_page=-5", "?page=abc", "?per_page=1e3", "?since="] {
        assert_eq!(order(&posts_page(&w.member, ch, q).await), all, "{q}");
    }
    for q in ["?since=abc", "?since=9999999999999999999999"] {
        check(w.member.get(&format!("/channels/{ch}/posts{q}")).await, 400, q);
    }
    check(w.teammate.get(&format!("/channels/{ch}/posts")).await, 403, "team member outside the channel");
    check(w.outsider.get(&format!("/channels/{ch}/posts")).await, 403, "outsider");
    check(w.member.get(&format!("/channels/{}/posts", new_id())).await, 404, "unknown channel");
    check(w.member.get(&format!("/channels/{MALFORMED_ID}/posts")).await, 400, "malformed channel");
    check(w.server.client().get(&format!("/channels/{ch}/posts")).await, 401, "no token");
    check(w.member.with_token(&new_id()).get(&format!("/channels/{ch}/posts")).await, 401, "bogus token");
    // mattermostdriver sends `{}` with its GETs: ignored.
    let with_body = send_raw(&w.member, Method::GET, &format!("/channels/{ch}/posts?per_page=1"), "{}").await;
    assert_eq!(order(&check(with_body, 200, "GET with a {} body").body), vec![id_of(&reply)]);
    let with_body = send_raw(&w.member, Method::GET, &format!("/posts/{}/thread", made[0]), "{}").await;
    assert_eq!(order(&check(with_body, 200, "thread GET with a {} body").body).len(), 2);
    // The system admin reads any channel.
    assert_eq!(order(&posts_page(&w.admin, ch, "?per_page=1").await), vec![id_of(&reply)]);

    // Private channels: members and admins only.
    let private = w.author.create_channel(&w.team, true).await;
    let secret = w.author.create_post(&private, "secret").await;
    check(w.member.get(&format!("/channels/{private}/posts")).await, 403, "private, not a member");
    check(w.member.get(&format!("/posts/{}", id_of(&secret))).await, 403, "private post, not a member");
    check(w.member.post("/posts", json!({"channel_id": private, "message": "m"})).await, 403, "post in private");
    assert_eq!(order(&posts_page(&w.admin, &private, "").await), vec![id_of(&secret)]);
}

#[actix_web::test]
async fn channel_posts_before_and_after() {
    let w = world().await;
    let ch = &w.channel;
    let mut p = Vec::new();
    for n in 0..6 {
        p.push(id_of(&w.author.create_post(ch, &format!("p{n}")).await));
    }
    let before = posts_page(&w.member, ch, &format!("?before={}", p[3])).await;
    assert_eq!(order(&before), vec![p[2].clone(), p[1].clone(), p[0].clone()]);
    assert_eq!(before["has_next"], json!(false));
    let before = posts_page(&w.member, ch, &format!("?before={}&per_page=2", p[3])).await;
    assert_eq!(order(&before), vec![p[2].clone(), p[1].clone()]);
    assert_eq!(before["has_next"], json!(true));
    let before = posts_page(&w.member, ch, &format!("?before={}&per_page=2&page=1", p[3])).await;
    assert_eq!(order(&before), vec![p[0].clone()]);
    assert!(order(&posts_page(&w.member, ch, &format!("?before={}", p[0])).await).is_empty());

    let after = posts_page(&w.member, ch, &format!("?after={}", p[2])).await;
    assert_eq!(order(&after), vec![p[5].clone(), p[4].clone(), p[3].clone()], "newest first");
    assert_eq!(after["has_next"], json!(false));
    let after = posts_page(&w.member, ch, &format!("?after={}&per_page=2", p[2])).await;
    assert_eq!(order(&after), vec![p[4].clone(), p[3].clone()], "the two right after, newest first");
    assert_eq!(after["has_next"], json!(true));
    assert!(order(&posts_page(&w.member, ch, &format!("?after={}", p[5])).await).is_empty());

    // Deleted posts are skipped; an unknown anchor gives an empty list.
    w.author.delete(&format!("/posts/{}", p[1])).await.expect(200);
    let before = posts_page(&w.member, ch, &format!("?before={}", p[3])).await;
    assert_eq!(order(&before), vec![p[2].clone(), p[0].clone()]);
    assert!(order(&posts_page(&w.member, ch, &format!("?before={}", new_id())).await).is_empty());
    assert!(order(&posts_page(&w.member, ch, &format!("?after={}", new_id())).await).is_empty());

    check(w.member.get(&format!("/channels/{ch}/posts?before={MALFORMED_ID}")).await, 400, "malformed before");
    check(w.member.get(&format!("/channels/{ch}/posts?after={MALFORMED_ID}")).await, 400, "malformed after");
    check(w.member.get(&format!("/channels/{ch}/posts?before={}&after={}", p[3], p[1])).await, 400, "both");
    check(w.teammate.get(&format!("/channels/{ch}/posts?before={}", p[3])).await, 403, "not a member");
}

#[actix_web::test]
async fn since_is_exclusive_and_includes_edits_deletes_and_bumped_roots() {
    let w = world().await;
    let ch = &w.channel;
    let a = w.author.create_post(ch, "a").await;
    let b = w.author.create_post(ch, "b").await;
    let c = w.member.create_post(ch, "c").await;
    let since = |t: i64| format!("?since={t}");

    // Exclusive: nothing is newer than the newest post; `since` its predecessor gives just it.
    assert!(order(&posts_page(&w.member, ch, &since(i(&c, "update_at"))).await).is_empty());
    let got = posts_page(&w.member, ch, &since(i(&b, "update_at"))).await;
    assert_eq!(order(&got), vec![id_of(&c)]);
    let got = posts_page(&w.member, ch, &since(i(&a, "update_at") - 1)).await;
    assert_eq!(order(&got), vec![id_of(&c), id_of(&b), id_of(&a)], "ordered newest first");

    let t = i(&c, "update_at");
    // After t: a is edited, b is deleted, c gets a reply (which bumps c), and a new post.
    let edited = w.author.put(&format!("/posts/{}/patch", id_of(&a)), json!({"message": "a2"})).await.expect(200).body;
    w.author.delete(&format!("/posts/{}", id_of(&b))).await.expect(200);
    let reply = w
        .author
        .post("/posts", json!({"channel_id": ch, "message": "re", "root_id": id_of(&c)}))
        .await
        .expect(201)
        .body;
    let fresh = w.member.create_post(ch, "fresh").await;

    let got = posts_page(&w.member, ch, &since(t)).await;
    let set: BTreeSet<String> = order(&got).into_iter().collect();
    let want: BTreeSet<String> = [&a, &b, &c, &reply, &fresh].iter().map(|p| id_of(p)).collect();
    assert_eq!(set, want);
    let posts = &got["posts"];
    assert_eq!(posts[id_of(&a)]["message"], json!("a2"));
    assert_eq!(posts[id_of(&a)]["update_at"], edited["update_at"]);
    assert!(i(&posts[id_of(&b)], "delete_at") > 0, "deleted posts come with delete_at set");
    assert!(i(&posts[id_of(&c)], "update_at") > t, "the root was bumped by its reply");
    assert_eq!(posts[id_of(&c)]["reply_count"], json!(1));
    for p in posts.as_object().unwrap().values() {
        assert!(i(p, "update_at") > t, "every post is newer than since: {p}");
    }
    // Newest first by create_at.
    let creates: Vec<i64> = order(&got).iter().map(|id| i(&posts[id], "create_at")).collect();
    assert!(creates.windows(2).all(|w| w[0] >= w[1]), "newest first: {creates:?}");

    // Only the latest change after the fresh post.
    let got = posts_page(&w.member, ch, &since(i(&fresh, "update_at"))).await;
    assert!(order(&got).is_empty());
    check(w.teammate.get(&format!("/channels/{ch}/posts?since={t}")).await, 403, "not a member");
    check(w.member.get(&format!("/channels/{ch}/posts?since=1.5")).await, 400, "fractional since");
}

#[actix_web::test]
async fn since_misses_nothing_when_posts_are_written_concurrently() {
    let w = world().await;
    let ch = w.channel.clone();
    let base = w.author.create_post(&ch, "base").await;
    let base_at = i(&base, "update_at");
    let root = w.member.create_post(&ch, "root").await;
    let root_id = id_of(&root);
    let cursor_start = i(&root, "update_at");

    // A client syncing with `since` while others write: every post it is told about must be
    // newer than its cursor, and at the end it must have seen every write.
    let done = Cell::new(false);
    let seen: RefCell<BTreeMap<String, i64>> = RefCell::new(BTreeMap::new());
    let poller = async {
        let mut cursor = cursor_start;
        loop {
            let finished = done.get();
            let list = posts_page(&w.member, &ch, &format!("?since={cursor}")).await;
            let mut next = cursor;
            for id in order(&list) {
                let at = i(&list["posts"][&id], "update_at");
                assert!(at > cursor, "since={cursor} returned {id} at {at}");
                next = next.max(at);
                seen.borrow_mut().insert(id, at);
            }
            cursor = next;
            if finished {
                break;
            }
            // Let the writers run between polls.
            actix_web::rt::task::yield_now().await;
        }
    };
    let writers = async {
        let mut futs = Vec::new();
        for n in 0..30 {
            let c = if n % 2 == 0 { w.author.clone() } else { w.member.clone() };
            let ch = ch.clone();
            let root_id = root_id.clone();
            futs.push(async move {
                let body = if n % 5 == 0 {
                    json!({"channel_id": ch, "message": format!("reply {n}"), "root_id": root_id})
                } else {
                    json!({"channel_id": ch, "message": format!("post {n}")})
                };
                c.post("/posts", body).await.expect(201).body
            });
        }
        let made = join_all(futs).await;
        done.set(true);
        made
    };
    let (made, ()) = futures_util::future::join(writers, poller).await;

    // Every write has its own update_at: no two share a millisecond tick.
    let ats: BTreeSet<i64> = made.iter().map(|p| i(p, "update_at")).collect();
    assert_eq!(ats.len(), made.len(), "update_at is unique per channel");
    let made_ids: BTreeSet<String> = made.iter().map(id_of).collect();
    let seen = seen.into_inner();
    for id in &made_ids {
        assert!(seen.contains_key(id), "the syncing client missed post {id}");
    }
    assert!(seen.contains_key(&root_id), "the root was bumped by replies and seen again");

    // `since` any update_at seen earlier returns exactly the posts written after it.
    let final_list = posts_page(&w.member, &ch, &format!("?since={base_at}")).await;
    let mut current: BTreeMap<String, i64> = BTreeMap::new();
    for id in order(&final_list) {
        current.insert(id.clone(), i(&final_list["posts"][&id], "update_at"));
    }
    let mut want: BTreeSet<String> = made_ids.clone();
    want.insert(root_id.clone());
    assert_eq!(current.keys().cloned().collect::<BTreeSet<_>>(), want);
    for p in &made {
        let t = i(p, "update_at");
        let got: BTreeSet<String> =
            order(&posts_page(&w.member, &ch, &format!("?since={t}")).await).into_iter().collect();
        let expected: BTreeSet<String> = current.iter().filter(|(_, at)| **at > t).map(|(id, _)| id.clone()).collect();
        assert_eq!(got, expected, "since={t}");
    }
    // The root's reply count is right after concurrent replies.
    let root_now = w.member.get(&format!("/posts/{root_id}")).await.expect(200).body;
    assert_eq!(root_now["reply_count"], json!(6));
    let ch_now = w.member.get(&format!("/channels/{ch}")).await.expect(200).body;
    assert_eq!(ch_now["total_msg_count"], json!(32));
}

#[actix_web::test]
async fn concurrent_edits_and_deletes_are_all_seen_by_since() {
    let w = world().await;
    let ch = w.channel.clone();
    let mut posts = Vec::new();
    for n in 0..12 {
        posts.push(w.author.create_post(&ch, &format!("p{n}")).await);
    }
    let t = i(posts.last().unwrap(), "update_at");
    let futs = posts.iter().enumerate().map(|(n, p)| {
        let c = w.author.clone();
        let id = id_of(p);
        async move {
            if n % 3 == 0 {
                c.delete(&format!("/posts/{id}")).await.expect(200);
            } else {
                c.put(&format!("/posts/{id}/patch"), json!({"message": format!("e{n}")})).await.expect(200);
            }
        }
    });
    join_all(futs).await;
    let got = posts_page(&w.member, &ch, &format!("?since={t}")).await;
    assert_eq!(order(&got).len(), 12, "every edit and delete is newer than t: {got}");
    let ats: BTreeSet<i64> = order(&got).iter().map(|id| i(&got["posts"][id], "update_at")).collect();
    assert_eq!(ats.len(), 12, "distinct update_at");
    for (n, p) in posts.iter().enumerate() {
        let q = &got["posts"][id_of(p)];
        if n % 3 == 0 {
            assert!(i(q, "delete_at") > 0);
        } else {
            assert_eq!(q["message"], json!(format!("e{n}")));
        }
    }
}

#[actix_web::test]
async fn posting_in_town_square_after_joining_a_team() {
    let w = world().await;
    let town = w.author.get(&format!("/teams/{}/channels/name/town-square", w.team)).await.expect(200).body;
    let town = id_of(&town);
    let (joiner, joiner_id) = w.server.client().new_user("joiner").await;
    check(joiner.post("/posts", json!({"channel_id": town, "message": "hi"})).await, 403, "before joining");
    joiner.post(&format!("/teams/{}/members", w.team), json!({"user_id": joiner_id})).await.expect(201);
    let p = joiner.create_post(&town, "hi").await;
    assert_eq!(order(&posts_page(&w.member, &town, "").await), vec![id_of(&p)]);
    // Leaving the channel ends reading and posting there.
    w.member.delete(&format!("/channels/{}/members/me", w.channel)).await.expect(200);
    check(w.member.get(&format!("/channels/{}/posts", w.channel)).await, 403, "after leaving");
    check(w.member.post("/posts", json!({"channel_id": w.channel, "message": "m"})).await, 403, "post after leaving");
}

#[actix_web::test]
async fn team_members_read_open_channels_they_have_not_joined_but_do_not_post_there() {
    let w = world().await;
    let open = w.author.create_channel(&w.team, false).await;
    let p = w.author.create_post(&open, "in the open").await;
    // read_public_channel (team_user) lets a team member read; create_post is a channel permission.
    assert_eq!(order(&posts_page(&w.teammate, &open, "").await), vec![id_of(&p)]);
    w.teammate.get(&format!("/posts/{}", id_of(&p))).await.expect(200);
    w.teammate.get(&format!("/channels/{open}")).await.expect(200);
    check(w.teammate.post("/posts", json!({"channel_id": open, "message": "m"})).await, 403, "not joined");
    check(w.outsider.get(&format!("/channels/{open}/posts")).await, 403, "not in the team");
    check(w.outsider.get(&format!("/posts/{}", id_of(&p))).await, 403, "not in the team");
    // A system admin may post anywhere (every permission).
    w.admin.post("/posts", json!({"channel_id": open, "message": "admin"})).await.expect(201);
}

#[actix_web::test]
async fn the_web_apps_pending_post_id_is_echoed() {
    let w = world().await;
    // The web app sends `<user id>:<ms>`, 40 characters.
    let pending = format!("{}:{}", w.author_id, 1_700_000_000_000i64);
    let p = w
        .author
        .post("/posts", json!({"channel_id": w.channel, "message": "m", "pending_post_id": pending}))
        .await
        .expect(201);
    assert_eq!(p.body["pending_post_id"], pending.as_str());
    check(
        w.author
            .post("/posts", json!({"channel_id": w.channel, "message": "m", "pending_post_id": "x".repeat(65)}))
            .await,
        400,
        "too long",
    );
}
