//! Teams and channels as the Mattermost apps use them at startup and every day: my channels and
//! memberships across teams, team unreads, stats, channels by team name, unread and mention
//! counts kept in the database as posts arrive (also under concurrency), and patch, update,
//! archive, restore, leave and browse with their events.

mod common;
use common::ws::Ws;
use common::*;
use futures_util::future::join_all;
use serde_json::{json, Value};
use std::time::Duration;

struct World {
    s: TestServer,
    alice: Client,
    alice_id: String,
    bob: Client,
    bob_id: String,
    bob_name: String,
    carol: Client,
    carol_id: String,
    team: String,
    town: String,
}

async fn world() -> World {
    let s = TestServer::start().await;
    let c = s.client();
    let (_admin, _) = c.new_user("admin").await;
    let (alice, alice_id) = c.new_user("alice").await;
    let (bob_id, bob_name) = c.create_user("bob").await;
    let bob = c.login(&bob_name).await;
    let (carol, carol_id) = c.new_user("carol").await;
    let team = alice.create_team(true).await;
    for id in [&bob_id, &carol_id] {
        alice.post(&format!("/teams/{team}/members"), json!({"user_id": id})).await.expect(201);
    }
    let town = alice.get(&format!("/teams/{team}/channels/name/town-square")).await.expect(200).id();
    World { s, alice, alice_id, bob, bob_id, bob_name, carol, carol_id, team, town }
}

fn ids(v: &Value, key: &str) -> Vec<String> {
    let mut out: Vec<String> = v.as_array().unwrap().iter().map(|x| x[key].as_str().unwrap().to_owned()).collect();
    out.sort();
    out
}

async fn member(c: &Client, channel: &str) -> Value {
    c.get(&format!("/channels/{channel}/members/me")).await.expect(200).body
}

async fn channel(c: &Client, channel: &str) -> Value {
    c.get(&format!("/channels/{channel}")).await.expect(200).body
}

/// (unread messages, mentions, mentions in root posts) of a member, as the web app computes them.
async fn unread(c: &Client, ch: &str) -> (i64, i64, i64) {
    let total = channel(c, ch).await["total_msg_count"].as_i64().unwrap();
    let m = member(c, ch).await;
    (
        total - m["msg_count"].as_i64().unwrap(),
        m["mention_count"].as_i64().unwrap(),
        m["mention_count_root"].as_i64().unwrap(),
    )
}

#[actix_web::test]
async fn startup_listings_across_teams() {
    let w = world().await;
    let private = w.alice.create_channel(&w.team, true).await;
    w.alice.post(&format!("/channels/{private}/members"), json!({"user_id": w.bob_id})).await.expect(201);
    let other_team = w.alice.create_team(false).await;
    w.alice.post(&format!("/teams/{other_team}/members"), json!({"user_id": w.bob_id})).await.expect(201);

    let mine = w.bob.get("/users/me/channels").await.expect(200).body;
    assert_eq!(mine.as_array().unwrap().len(), 5, "two teams' defaults and the private channel: {mine}");
    for ch in mine.as_array().unwrap() {
        for k in ["total_msg_count", "total_msg_count_root", "last_post_at", "last_root_post_at", "team_id", "type"] {
            assert!(ch.get(k).is_some(), "channel has {k}: {ch}");
        }
    }
    let members = w.bob.get(&format!("/users/{}/channel_members?page=-1&per_page=60", w.bob_id)).await.expect(200).body;
    assert_eq!(ids(&members, "channel_id"), ids(&mine, "id"));
    let m = &members[0];
    for k in [
        "roles",
        "msg_count",
        "mention_count",
        "mention_count_root",
        "msg_count_root",
        "urgent_mention_count",
        "last_viewed_at",
        "notify_props",
        "team_name",
        "team_display_name",
        "team_update_at",
    ] {
        assert!(m.get(k).is_some(), "member has {k}: {m}");
    }
    assert_eq!(m["notify_props"]["mark_unread"], "all");
    let page = w.bob.get(&format!("/users/{}/channel_members?page=1&per_page=2", w.bob_id)).await.expect(200).body;
    assert_eq!(page.as_array().unwrap().len(), 2);
    // One team's channels and memberships.
    let team_channels = w.bob.get(&format!("/users/me/teams/{}/channels", w.team)).await.expect(200).body;
    assert_eq!(team_channels.as_array().unwrap().len(), 3);
    let team_members = w.bob.get(&format!("/users/me/teams/{}/channels/members", w.team)).await.expect(200).body;
    assert_eq!(ids(&team_members, "channel_id"), ids(&team_channels, "id"));
    // The web app lands in town-square through the team's name.
    let team_name =
        w.bob.get(&format!("/teams/{}", w.team)).await.expect(200).body["name"].as_str().unwrap().to_owned();
    let town = w.bob.get(&format!("/teams/name/{team_name}/channels/name/town-square")).await.expect(200).body;
    assert_eq!(town["id"], w.town.as_str());
    check(w.bob.get(&format!("/teams/name/{team_name}/channels/name/nope")).await, 404, "unknown channel");
    check(w.bob.get("/teams/name/noteam/channels/name/town-square").await, 404, "unknown team");
    assert_eq!(member(&w.bob, &w.town).await["user_id"], w.bob_id.as_str());
    // Team unreads: one row per team, DMs in none.
    let unreads = w.bob.get("/users/me/teams/unread?include_collapsed_threads=false").await.expect(200).body;
    assert_eq!(ids(&unreads, "team_id"), {
        let mut t = vec![w.team.clone(), other_team.clone()];
        t.sort();
        t
    });
    for k in
        ["msg_count", "mention_count", "msg_count_root", "mention_count_root", "thread_count", "thread_mention_count"]
    {
        assert!(unreads[0].get(k).is_some(), "team unread has {k}");
    }
    let one = w.bob.get(&format!("/users/me/teams/unread?exclude_team={other_team}")).await.expect(200).body;
    assert_eq!(ids(&one, "team_id"), vec![w.team.clone()]);
    // Nobody else's.
    check(w.carol.get(&format!("/users/{}/channels", w.bob_id)).await, 403, "another user's channels");
    check(w.carol.get(&format!("/users/{}/channel_members?page=-1", w.bob_id)).await, 403, "another user's members");
    check(w.carol.get(&format!("/users/{}/teams/unread", w.bob_id)).await, 403, "another user's unreads");
    check(w.carol.get(&format!("/users/me/teams/{other_team}/channels")).await, 403, "a team not joined");
    check(w.carol.get(&format!("/channels/{private}/members/me")).await, 403, "a private channel not joined");
    check(w.bob.get("/users/me/channel_members?page=-2").await, 200, "a negative page is the first");
    check(w.bob.get("/users/me/channels?last_delete_at=-1").await, 400, "negative last_delete_at");
    check(w.bob.get("/users/me/teams/unread?exclude_team=bad").await, 400, "malformed team id");
    check(w.s.client().get("/users/me/channels").await, 401, "no session");
}

#[actix_web::test]
async fn unread_and_mention_counts_follow_posts() {
    let w = world().await;
    let mut bob_ws = Ws::connect(&w.s.url(), w.bob.token.as_deref().unwrap()).await;
    assert_eq!(bob_ws.event().await["event"], "hello");
    // Plain posts: unread for the others, read for the author.
    for n in 0..3 {
        w.alice.create_post(&w.town, &format!("hello {n}")).await;
    }
    assert_eq!(unread(&w.bob, &w.town).await, (3, 0, 0));
    assert_eq!(unread(&w.alice, &w.town).await, (0, 0, 0), "the author has read their own posts");
    // An @mention: a mention for bob (root), none for carol; `posted` names who was mentioned.
    let root = w.alice.create_post(&w.town, &format!("hey @{} look", w.bob_name)).await;
    let ev = until_post(&mut bob_ws, root["id"].as_str().unwrap()).await.expect("posted");
    let mentions: Vec<String> =
        serde_json::from_str(ev["data"]["mentions"].as_str().expect("mentions is a JSON string")).unwrap();
    assert_eq!(mentions, vec![w.bob_id.clone()]);
    assert_eq!(unread(&w.bob, &w.town).await, (4, 1, 1));
    assert_eq!(unread(&w.carol, &w.town).await, (4, 0, 0));
    // A reply mentioning bob counts, but not as a root mention.
    w.alice
        .post("/posts", json!({"channel_id": w.town, "root_id": root["id"], "message": format!("@{}.", w.bob_name)}))
        .await
        .expect(201);
    assert_eq!(unread(&w.bob, &w.town).await, (5, 2, 1));
    let total_root = channel(&w.bob, &w.town).await["total_msg_count_root"].as_i64().unwrap();
    assert_eq!(total_root, 4, "replies are not root posts");
    // @channel reaches everyone but the author, unless they ignore channel mentions.
    w.carol
        .put(&format!("/channels/{}/members/me/notify_props", w.town), json!({"ignore_channel_mentions": "on"}))
        .await
        .expect(200);
    w.alice.create_post(&w.town, "@channel meeting").await;
    assert_eq!(unread(&w.bob, &w.town).await.1, 3);
    assert_eq!(unread(&w.carol, &w.town).await.1, 0, "carol ignores channel mentions");
    assert_eq!(unread(&w.alice, &w.town).await.1, 0, "never one's own");
    // @all is @channel; mentions in code are not mentions.
    w.alice.create_post(&w.town, &format!("`@{}` and\n```\n@all\n```", w.bob_name)).await;
    assert_eq!(unread(&w.bob, &w.town).await.1, 3);
    // @here: only the online (bob has a websocket; carol's status is offline).
    let db = w.s.db.client().await;
    let online = wait_until(Duration::from_secs(10), || async {
        db.query_opt("SELECT 1 FROM status WHERE user_id = $1 AND status = 'online'", &[&w.bob_id])
            .await
            .unwrap()
            .is_some()
    })
    .await;
    assert!(online, "bob's online status reaches the database");
    w.carol
        .put(&format!("/channels/{}/members/me/notify_props", w.town), json!({"ignore_channel_mentions": "off"}))
        .await
        .expect(200);
    w.alice.create_post(&w.town, "@here quick one").await;
    assert_eq!(unread(&w.bob, &w.town).await.1, 4);
    assert_eq!(unread(&w.carol, &w.town).await.1, 0, "carol is offline");
    // A user notify prop channel=false with the channel default also ignores channel mentions.
    db.execute(
        "UPDATE users SET notify_props = notify_props || '{\"channel\": \"false\"}' WHERE id = $1",
        &[&w.carol_id],
    )
    .await
    .unwrap();
    w.carol
        .put(&format!("/channels/{}/members/me/notify_props", w.town), json!({"ignore_channel_mentions": "default"}))
        .await
        .expect(200);
    w.alice.create_post(&w.town, "@all again").await;
    assert_eq!(unread(&w.carol, &w.town).await.1, 0);
    assert_eq!(unread(&w.bob, &w.town).await.1, 5);
    // Team unreads sum the team's channels.
    let team = w.bob.get(&format!("/users/me/teams/{}/unread", w.team)).await.expect(200).body;
    let (msgs, mentions, _) = unread(&w.bob, &w.town).await;
    assert_eq!(team["msg_count"], msgs);
    assert_eq!(team["mention_count"], mentions);
    // A muted channel (mark_unread: mention) adds no unread messages to its team, only mentions.
    w.bob
        .put(&format!("/channels/{}/members/me/notify_props", w.town), json!({"mark_unread": "mention"}))
        .await
        .expect(200);
    let team = w.bob.get(&format!("/users/me/teams/{}/unread", w.team)).await.expect(200).body;
    assert_eq!(team["msg_count"], 0);
    assert_eq!(team["mention_count"], mentions);
    // Bad notify props.
    let path = format!("/channels/{}/members/me/notify_props", w.town);
    check(w.bob.put(&path, json!({"mark_unread": "sometimes"})).await, 400, "bad value");
    check(w.bob.put(&path, json!({"desktop": 5})).await, 400, "not a string");
    check(
        w.bob
            .put(&format!("/channels/{}/members/{}/notify_props", w.town, w.carol_id), json!({"desktop": "all"}))
            .await,
        403,
        "another member's",
    );
}

/// The `posted` event of post `id` (skipping others); None if the socket closes.
async fn until_post(ws: &mut Ws, id: &str) -> Option<Value> {
    loop {
        let (ev, _) = ws.until_event("posted").await;
        let post: Value = serde_json::from_str(ev["data"]["post"].as_str()?).ok()?;
        if post["id"] == id {
            return Some(ev);
        }
    }
}

#[actix_web::test]
async fn counts_stay_right_when_many_post_at_once() {
    let w = world().await;
    let posters = [w.alice.clone(), w.carol.clone()];
    let per = 15;
    let jobs = (0..per * 2).map(|n| {
        let c = posters[n % 2].clone();
        let town = w.town.clone();
        let message = if n % 3 == 0 { format!("ping @{}", w.bob_name) } else { format!("plain {n}") };
        async move { c.post("/posts", json!({"channel_id": town, "message": message})).await.status.as_u16() }
    });
    let statuses = join_all(jobs).await;
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    let mentions = (0..per * 2).filter(|n| n % 3 == 0).count() as i64;
    assert_eq!(unread(&w.bob, &w.town).await, (per as i64 * 2, mentions, mentions));
    let total = channel(&w.bob, &w.town).await["total_msg_count"].as_i64().unwrap();
    assert_eq!(total, per as i64 * 2, "every post counted once");
    // Each poster's own posts are read; what the other posted after their last post is not.
    for c in &posters {
        let (unread_msgs, m, _) = unread(c, &w.town).await;
        assert!(unread_msgs < per as i64 * 2 && m == 0, "{unread_msgs} {m}");
    }
}

#[actix_web::test]
async fn stats_patch_update_archive_restore_leave_and_browse() {
    let w = world().await;
    let ch = w.alice.create_channel(&w.team, false).await;
    for id in [&w.bob_id] {
        w.alice.post(&format!("/channels/{ch}/members"), json!({"user_id": id})).await.expect(201);
    }
    let mut bob_ws = Ws::connect(&w.s.url(), w.bob.token.as_deref().unwrap()).await;
    assert_eq!(bob_ws.event().await["event"], "hello");
    let mut carol_ws = Ws::connect(&w.s.url(), w.carol.token.as_deref().unwrap()).await;
    assert_eq!(carol_ws.event().await["event"], "hello");
    // Stats.
    let p = w.alice.create_post(&ch, "pin me").await;
    w.alice.put(&format!("/posts/{}/patch", p["id"].as_str().unwrap()), json!({"is_pinned": true})).await.expect(200);
    let stats = w.bob.get(&format!("/channels/{ch}/stats?exclude_files_count=true")).await.expect(200).body;
    assert_eq!(
        stats,
        json!({"channel_id": ch, "member_count": 2, "guest_count": 0, "pinnedpost_count": 1, "files_count": -1})
    );
    assert_eq!(w.bob.get(&format!("/channels/{ch}/stats")).await.expect(200).body["files_count"], 0);
    check(w.carol.get(&format!("/channels/{ch}/stats")).await, 403, "stats of a channel not joined");
    // Patch by a member (channel_user manages properties), heard by the other member.
    let patched = w.bob.put(&format!("/channels/{ch}/patch"), json!({"header": "new header"})).await.expect(200).body;
    assert_eq!(patched["header"], "new header");
    assert!(patched["update_at"].as_i64() > Some(0));
    let (ev, _) = bob_ws.until_event("channel_updated").await;
    let sent: Value = serde_json::from_str(ev["data"]["channel"].as_str().expect("channel is a JSON string")).unwrap();
    assert_eq!(sent["header"], "new header");
    let renamed = w
        .alice
        .put(&format!("/channels/{ch}/patch"), json!({"display_name": " Renamed ", "name": "renamed-ch"}))
        .await
        .expect(200)
        .body;
    assert_eq!((renamed["display_name"].as_str(), renamed["name"].as_str()), (Some("Renamed"), Some("renamed-ch")));
    check(w.carol.put(&format!("/channels/{ch}/patch"), json!({"header": "x"})).await, 403, "not a member");
    check(w.alice.put(&format!("/channels/{ch}/patch"), json!({"name": "town-square"})).await, 400, "a taken name");
    check(w.alice.put(&format!("/channels/{ch}/patch"), json!({"name": "Bad Name"})).await, 400, "a bad name");
    check(w.alice.put(&format!("/channels/{ch}/patch"), json!({"header": "h".repeat(1025)})).await, 400, "long header");
    check(
        w.alice.put(&format!("/channels/{}/patch", w.town), json!({"name": "main"})).await,
        400,
        "renaming town-square",
    );
    check(w.alice.put(&format!("/channels/{}/patch", starling_protocol::new_id()), json!({})).await, 404, "unknown");
    // Update: header and purpose as sent.
    let updated = w.alice.put(&format!("/channels/{ch}"), json!({"id": ch, "purpose": "why"})).await.expect(200).body;
    assert_eq!((updated["header"].as_str(), updated["purpose"].as_str()), (Some(""), Some("why")));
    check(w.alice.put(&format!("/channels/{ch}"), json!({"id": w.town})).await, 400, "another id");
    check(w.alice.put(&format!("/channels/{ch}"), json!({"id": ch, "type": "P"})).await, 400, "a type change");
    // Archive: the team hears it (carol is not a member), posting stops, browsing moves it.
    check(w.carol.delete(&format!("/channels/{ch}")).await, 403, "not a member");
    check(w.alice.delete(&format!("/channels/{}", w.town)).await, 400, "town-square");
    w.bob.delete(&format!("/channels/{ch}")).await.expect(200);
    let (ev, _) = carol_ws.until_event("channel_deleted").await;
    assert_eq!(ev["data"]["channel_id"], ch.as_str());
    assert!(ev["data"]["delete_at"].as_i64() > Some(0));
    check(w.bob.delete(&format!("/channels/{ch}")).await, 400, "already archived");
    check(w.bob.post("/posts", json!({"channel_id": ch, "message": "m"})).await, 400, "posting to an archived channel");
    let open = w.carol.get(&format!("/teams/{}/channels", w.team)).await.expect(200).body;
    assert!(!ids(&open, "id").contains(&ch));
    let archived = w.carol.get(&format!("/teams/{}/channels/deleted", w.team)).await.expect(200).body;
    assert_eq!(ids(&archived, "id"), vec![ch.clone()]);
    check(w.bob.get("/teams/name/x/channels/name/renamed-ch").await, 404, "no such team");
    let tn = w.bob.get(&format!("/teams/{}", w.team)).await.expect(200).body["name"].as_str().unwrap().to_owned();
    check(w.bob.get(&format!("/teams/name/{tn}/channels/name/renamed-ch")).await, 404, "archived, not asked for");
    w.bob.get(&format!("/teams/name/{tn}/channels/name/renamed-ch?include_deleted=true")).await.expect(200);
    let with_deleted = w.bob.get("/users/me/channels?include_deleted=true").await.expect(200).body;
    assert!(ids(&with_deleted, "id").contains(&ch));
    assert!(!ids(&w.bob.get("/users/me/channels").await.expect(200).body, "id").contains(&ch));
    // Restore: team admins only (manage_team).
    check(w.bob.post(&format!("/channels/{ch}/restore"), json!({})).await, 403, "a plain member");
    let restored = w.alice.post(&format!("/channels/{ch}/restore"), json!({})).await.expect(200).body;
    assert_eq!(restored["delete_at"], 0);
    let (ev, _) = carol_ws.until_event("channel_restored").await;
    assert_eq!(ev["data"]["channel_id"], ch.as_str());
    check(w.alice.post(&format!("/channels/{ch}/restore"), json!({})).await, 400, "not archived");
    // Search and browse open channels.
    let found =
        w.carol.post(&format!("/teams/{}/channels/search", w.team), json!({"term": "renam"})).await.expect(200).body;
    assert_eq!(ids(&found, "id"), vec![ch.clone()]);
    let none =
        w.carol.post(&format!("/teams/{}/channels/search", w.team), json!({"term": "zzz%"})).await.expect(200).body;
    assert_eq!(none, json!([]));
    check(w.carol.post(&format!("/teams/{}/channels/search", w.team), json!({})).await, 400, "no term");
    // Leave: the others hear it; town-square cannot be left.
    w.bob.delete(&format!("/channels/{ch}/members/me")).await.expect(200);
    let members = w.alice.get(&format!("/channels/{ch}/members")).await.expect(200).body;
    assert_eq!(ids(&members, "user_id"), vec![w.alice_id.clone()]);
    check(w.bob.delete(&format!("/channels/{}/members/me", w.town)).await, 400, "town-square");
}
