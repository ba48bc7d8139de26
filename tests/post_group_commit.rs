//! Group commit of posts (src/store/post_batch.rs): many posters in one channel at once get every
//! post created once, acknowledged only when committed, with distinct clocks in an order that
//! keeps each poster's own order, and the channel's counters right; several posts do share a
//! transaction; a post that fails inside a shared transaction fails alone.

mod common;
use common::*;

use futures_util::StreamExt;
use serde_json::{json, Value};
use starling::store::{NewPost, PostMentions};
use std::collections::{HashMap, HashSet};

const POSTERS: usize = 8;
const EACH: usize = 40;

#[actix_web::test]
async fn concurrent_posts_in_one_channel_share_commits_and_lose_nothing() {
    let server = TestServer::start().await;
    let anon = server.client();
    let (author, _) = anon.new_user("author").await;
    let team = author.create_team(true).await;
    let channel = author.create_channel(&team, false).await;
    let mut posters = vec![author.clone()];
    for i in 1..POSTERS {
        let (c, id) = anon.new_user(&format!("p{i}")).await;
        author.post(&format!("/teams/{team}/members"), json!({"user_id": id})).await.expect(201);
        author.post(&format!("/channels/{channel}/members"), json!({"user_id": id})).await.expect(201);
        posters.push(c);
    }
    let before = server.node.state.store.group_commit_stats();

    // Each poster sends its posts one after the other; the posters run at once.
    let runs = posters.iter().enumerate().map(|(p, c)| {
        let channel = channel.clone();
        async move {
            let mut made = Vec::new();
            for i in 0..EACH {
                let r =
                    c.post("/posts", json!({"channel_id": channel, "message": format!("poster {p} post {i}")})).await;
                made.push(r.expect(201).body);
            }
            made
        }
    });
    let made: Vec<Vec<Value>> = futures_util::stream::iter(runs).buffer_unordered(POSTERS).collect().await;

    let after = server.node.state.store.group_commit_stats();
    assert!(after.transactions > before.transactions, "no two posts ever shared a commit: {after:?}");
    assert!(after.posts >= after.transactions * 2);

    // Every post once, each with its own clock, each poster's in its order.
    let mut clocks = HashSet::new();
    for posts in &made {
        assert_eq!(posts.len(), EACH);
        let times: Vec<i64> = posts.iter().map(|p| p["create_at"].as_i64().expect("create_at")).collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]), "a poster's posts out of order: {times:?}");
        clocks.extend(times);
    }
    assert_eq!(clocks.len(), POSTERS * EACH, "two posts share a clock");
    let mut listed: HashMap<String, i64> = HashMap::new();
    let mut page = 0;
    loop {
        let r = author.get(&format!("/channels/{channel}/posts?page={page}&per_page=200")).await.expect(200).body;
        let order = r["order"].as_array().expect("order").clone();
        for id in &order {
            let p = &r["posts"][id.as_str().expect("id")];
            if p["type"] == "" {
                listed.insert(p["message"].as_str().expect("message").to_owned(), p["create_at"].as_i64().unwrap());
            }
        }
        if order.len() < 200 {
            break;
        }
        page += 1;
    }
    assert_eq!(listed.len(), POSTERS * EACH, "every acknowledged post is in the channel once");
    let ch = author.get(&format!("/channels/{channel}")).await.expect(200).body;
    let total = ch["total_msg_count"].as_i64().expect("total_msg_count");
    assert!(total >= (POSTERS * EACH) as i64, "the channel counted {total}");
    let db_total: i64 = count(&server, &format!("SELECT count(*) FROM posts WHERE channel_id = '{channel}'")).await;
    assert_eq!(total, db_total, "the channel's counter is its posts");
}

#[actix_web::test]
async fn a_post_that_fails_in_a_shared_commit_fails_alone() {
    let server = TestServer::start().await;
    let anon = server.client();
    let (author, author_id) = anon.new_user("author").await;
    let team = author.create_team(true).await;
    let channel = author.create_channel(&team, false).await;
    let store = &server.node.state.store;
    let post = |message: String, post_type: &str| NewPost {
        user_id: author_id.clone(),
        channel_id: channel.clone(),
        root_id: String::new(),
        message,
        post_type: post_type.to_owned(),
        props: json!({}),
        file_ids: vec![],
        pending_post_id: String::new(),
        hashtags: String::new(),
        mentions: PostMentions::default(),
        auto_follow: true,
    };
    // Enough at once that most go in shared transactions; every fourth has a type longer than
    // its column, which the database refuses.
    let results = futures_util::future::join_all((0..32).map(|i| {
        let bad = i % 4 == 3;
        store.create_post(post(format!("m{i}"), "").repeat_type(bad))
    }))
    .await;
    let ok: Vec<String> = results.iter().filter_map(|r| r.as_ref().ok()).map(|(p, _, _)| p.message.clone()).collect();
    let failed = results.iter().filter(|r| r.is_err()).count();
    assert_eq!(failed, 8, "exactly the bad ones fail");
    assert_eq!(ok.len(), 24);
    assert!(ok.iter().all(|m| m.trim_start_matches('m').parse::<usize>().unwrap() % 4 != 3));
    assert!(store.group_commit_stats().transactions > 0, "nothing was committed together");
    let in_db: i64 =
        count(&server, &format!("SELECT count(*) FROM posts WHERE channel_id = '{channel}' AND type = ''")).await;
    assert_eq!(in_db, 24, "the failed posts left nothing, the others are all there");
}

trait RepeatType {
    fn repeat_type(self, bad: bool) -> Self;
}

impl RepeatType for NewPost {
    /// A type of 100 characters, where the column takes 26.
    fn repeat_type(mut self, bad: bool) -> Self {
        if bad {
            self.post_type = "x".repeat(100);
        }
        self
    }
}
