//! Mentions and search (issue 14 item 6): the @-mention and ~channel autocompletes, the channel
//! switcher's search, group-message search, and post search with Mattermost's terms.

mod common;
use common::*;
use serde_json::{json, Value};

/// A user with names, logged in: (client, id, username).
async fn person(anon: &Client, username: &str, first: &str, last: &str, nickname: &str) -> (Client, String, String) {
    let r = anon
        .post(
            "/users",
            json!({"email": format!("{username}@example.com"), "username": username, "password": "password-1",
                   "first_name": first, "last_name": last, "nickname": nickname}),
        )
        .await
        .expect(201);
    (anon.login(username).await, r.id(), username.to_owned())
}

fn usernames(v: &Value) -> Vec<String> {
    v.as_array().expect("an array").iter().map(|u| u["username"].as_str().unwrap().to_owned()).collect()
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array().expect("an array").iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect()
}

struct Setup {
    _server: TestServer,
    /// System admin, in the team and the channel.
    admin: Client,
    zed: Client,
    zed_id: String,
    zelda_id: String,
    amy: Client,
    amy_id: String,
    team: String,
    /// An open channel with admin and zed.
    channel: String,
}

async fn setup() -> Setup {
    let server = TestServer::start().await;
    let anon = server.client();
    let (admin, admin_id, _) = person(&anon, "admin1", "Ada", "Min", "").await;
    let (zed, zed_id, _) = person(&anon, "zed", "Zachary", "Quinn", "zq").await;
    let (_zelda, zelda_id, _) = person(&anon, "zelda", "Princess", "Hyrule", "").await;
    let (amy, amy_id, _) = person(&anon, "amy", "Amy", "Zimmer", "").await;
    let (_outsider, _, _) = person(&anon, "zoe", "Zoe", "Outside", "").await;
    let team = admin.create_team(true).await;
    for u in [&zed_id, &zelda_id, &amy_id] {
        admin.post(&format!("/teams/{team}/members"), json!({"user_id": u})).await.expect(201);
    }
    let channel = admin
        .post(
            "/channels",
            json!({"team_id": team, "name": "release-notes", "display_name": "Release Notes", "type": "O"}),
        )
        .await
        .expect(201)
        .id();
    admin.post(&format!("/channels/{channel}/members"), json!({"user_id": zed_id})).await.expect(201);
    let _ = admin_id;
    Setup { _server: server, admin, zed, zed_id, zelda_id, amy, amy_id, team, channel }
}

#[actix_web::test]
async fn users_autocomplete_in_channel_team_and_everywhere() {
    let s = setup().await;
    // In a channel: its members in `users`, the team's other members in `out_of_channel`.
    let r = s.admin.get(&format!("/users/autocomplete?in_team={}&in_channel={}&name=z", s.team, s.channel)).await;
    let r = r.expect(200).body;
    assert_eq!(usernames(&r["users"]), vec!["zed"]);
    assert_eq!(
        usernames(&r["out_of_channel"]),
        vec!["amy", "zelda"],
        "amy by her last name Zimmer; zoe is not in the team"
    );
    // First name, full name and nickname match too; case does not matter.
    let r = s.admin.get(&format!("/users/autocomplete?in_team={}&name=Zachary%20Q", s.team)).await.expect(200).body;
    assert_eq!(usernames(&r["users"]), vec!["zed"]);
    assert!(r.get("out_of_channel").is_none(), "team-only mode answers {{users}}: {r}");
    let r = s.admin.get(&format!("/users/autocomplete?in_team={}&name=ZQ", s.team)).await.expect(200).body;
    assert_eq!(usernames(&r["users"]), vec!["zed"]);
    let r = s.admin.get("/users/autocomplete?name=z").await.expect(200).body;
    assert_eq!(usernames(&r["users"]), vec!["amy", "zed", "zelda", "zoe"]);
    // `@` is not part of the name; an empty name lists everyone; a bad limit means the default.
    let r = s.admin.get(&format!("/users/autocomplete?in_team={}&name=@zel&limit=x", s.team)).await.expect(200).body;
    assert_eq!(usernames(&r["users"]), vec!["zelda"]);
    let r = s.admin.get(&format!("/users/autocomplete?in_team={}&limit=2", s.team)).await.expect(200).body;
    assert_eq!(r["users"].as_array().unwrap().len(), 2);
    // Deactivated users are not offered.
    s.admin.delete(&format!("/users/{}", s.zelda_id)).await.expect(200);
    let r = s.admin.get(&format!("/users/autocomplete?in_team={}&name=zel", s.team)).await.expect(200).body;
    assert_eq!(usernames(&r["users"]), Vec::<String>::new());
    assert!(r["users"].is_array(), "users is always there: {r}");

    // Only people who may see the team or read the channel ask about them.
    let anon_team = s.admin.create_team(false).await;
    let r = s.amy.get(&format!("/users/autocomplete?in_team={anon_team}&name=z")).await;
    assert_error_shape(&r.expect(403).body, 403);
    let private = s.admin.create_channel(&s.team, true).await;
    let r = s.amy.get(&format!("/users/autocomplete?in_team={}&in_channel={private}&name=z", s.team)).await;
    assert_error_shape(&r.expect(403).body, 403);
    let r = s.amy.get("/users/autocomplete?in_channel=nope&name=z").await;
    assert_error_shape(&r.expect(400).body, 400);
    let long = "z".repeat(65);
    s.amy.get(&format!("/users/autocomplete?name={long}")).await.expect(400);
}

#[actix_web::test]
async fn channel_autocompletes_and_group_search() {
    let s = setup().await;
    let t = &s.team;
    // A private channel zed is in, one he is not, an archived one.
    let mine = s
        .admin
        .post("/channels", json!({"team_id": t, "name": "rel-private", "display_name": "Secret Releases", "type": "P"}))
        .await
        .expect(201)
        .id();
    s.admin.post(&format!("/channels/{mine}/members"), json!({"user_id": s.zed_id})).await.expect(201);
    let theirs = s
        .admin
        .post("/channels", json!({"team_id": t, "name": "rel-admins", "display_name": "Admin Releases", "type": "P"}))
        .await
        .expect(201)
        .id();
    let other_open = s
        .admin
        .post("/channels", json!({"team_id": t, "name": "relax", "display_name": "Relax", "type": "O"}))
        .await
        .expect(201)
        .id();
    let archived = s
        .admin
        .post("/channels", json!({"team_id": t, "name": "rel-old", "display_name": "Old", "type": "O"}))
        .await
        .expect(201)
        .id();
    s.admin.delete(&format!("/channels/{archived}")).await.expect(200);

    // ~rel: open channels and zed's own private one, by name, display name or a word of it.
    let r = s.zed.get(&format!("/teams/{t}/channels/autocomplete?name=rel")).await.expect(200).body;
    let mut got = ids(&r);
    got.sort();
    let mut want = vec![s.channel.clone(), mine.clone(), other_open.clone()];
    want.sort();
    assert_eq!(got, want, "not {theirs} (private, not a member) nor {archived} (archived)");
    let r = s.zed.get(&format!("/teams/{t}/channels/autocomplete?name=releases")).await.expect(200).body;
    assert_eq!(ids(&r), vec![mine.clone()], "a later word of the display name");

    // The switcher: only zed's channels, and his direct and group messages by the other's username.
    let dm = s.zed.post("/channels/direct", json!([s.zed_id, s.amy_id])).await.expect(201).id();
    let gm = s.zed.post("/channels/group", json!([s.zed_id, s.amy_id, s.zelda_id])).await.expect(201).id();
    let r = s.zed.get(&format!("/teams/{t}/channels/search_autocomplete?name=rel")).await.expect(200).body;
    let mut got = ids(&r);
    got.sort();
    let mut want = vec![s.channel.clone(), mine.clone()];
    want.sort();
    assert_eq!(got, want, "relax is open but zed is not in it");
    let r = s.zed.get(&format!("/teams/{t}/channels/search_autocomplete?name=am")).await.expect(200).body;
    let got = ids(&r);
    assert!(got.contains(&dm) && got.contains(&gm) && got.len() == 2, "{r}");
    let r = s.admin.get(&format!("/teams/{t}/channels/search_autocomplete?name=am")).await.expect(200).body;
    assert_eq!(ids(&r), Vec::<String>::new(), "someone else's direct messages stay theirs");

    // Group messages by a member's name.
    let r = s.zed.post("/channels/group/search", json!({"term": "prin"})).await.expect(200).body;
    assert_eq!(ids(&r), vec![gm.clone()], "zelda's first name");
    let r = s.amy.post("/channels/group/search", json!({"term": "zed"})).await.expect(200).body;
    assert_eq!(ids(&r), vec![gm]);
    let r = s.admin.post("/channels/group/search", json!({"term": "zed"})).await.expect(200).body;
    assert_eq!(ids(&r), Vec::<String>::new());
    assert_error_shape(&s.zed.post("/channels/group/search", json!({})).await.expect(400).body, 400);

    // Who may list a team's channels.
    let closed = s.admin.create_team(false).await;
    let r = s.zed.get(&format!("/teams/{closed}/channels/autocomplete?name=a")).await;
    assert_error_shape(&r.expect(403).body, 403);
    let r = s.zed.get(&format!("/teams/{closed}/channels/search_autocomplete?name=a")).await;
    assert_error_shape(&r.expect(403).body, 403);
    s.zed.get("/teams/nope/channels/autocomplete?name=a").await.expect(400);
    let r = s.zed.get(&format!("/teams/{}/channels/autocomplete?name=a", starling_protocol::new_id())).await;
    assert_error_shape(&r.expect(404).body, 404);
}

async fn search(c: &Client, team: &str, terms: &str) -> Vec<String> {
    let r = c.post(&format!("/teams/{team}/posts/search"), json!({"terms": terms})).await.expect(200).body;
    r["order"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
}

#[actix_web::test]
async fn post_search_terms() {
    let s = setup().await;
    let (t, ch) = (&s.team, &s.channel);
    let tagged = s.admin.create_post(ch, "shipping #Release 2.0 today").await["id"].as_str().unwrap().to_owned();
    let wip = s.zed.create_post(ch, "the #release is #wip still").await["id"].as_str().unwrap().to_owned();
    let deploy = s.zed.create_post(ch, "deployment finished without trouble").await["id"].as_str().unwrap().to_owned();
    let other = s.admin.create_post(ch, "deploying again, trouble ahead").await["id"].as_str().unwrap().to_owned();
    let dm = s.zed.post("/channels/direct", json!([s.zed_id, s.amy_id])).await.expect(201).id();
    let private = s.zed.create_post(&dm, "deploy the secret thing").await["id"].as_str().unwrap().to_owned();

    // Hashtags, case-insensitive, and their exclusion.
    assert_eq!(search(&s.zed, t, "#release").await, vec![wip.clone(), tagged.clone()]);
    assert_eq!(search(&s.zed, t, "#release -#wip").await, vec![tagged.clone()]);
    // A prefix, excluded words and phrases.
    assert_eq!(search(&s.zed, t, "deploy*").await, vec![private.clone(), other.clone(), deploy.clone()]);
    assert_eq!(search(&s.zed, t, "deploy* -trouble").await, vec![private.clone()]);
    assert_eq!(search(&s.zed, t, r#"deploy* -"trouble ahead""#).await, vec![private.clone(), deploy.clone()]);
    // from:, -from:, in: a channel, in:@user for the direct channel, -in:.
    assert_eq!(search(&s.zed, t, "deploy* from:zed").await, vec![private.clone(), deploy.clone()]);
    assert_eq!(search(&s.zed, t, "deploy* -from:zed").await, vec![other.clone()]);
    assert_eq!(search(&s.zed, t, "deploy* in:@amy").await, vec![private.clone()]);
    assert_eq!(search(&s.zed, t, "deploy* in:release-notes").await, vec![other.clone(), deploy.clone()]);
    assert_eq!(search(&s.zed, t, "deploy* -in:@amy").await, vec![other.clone(), deploy.clone()]);
    // Someone else's direct channel is not searchable.
    assert_eq!(search(&s.admin, t, "secret").await, Vec::<String>::new());
    assert_eq!(search(&s.amy, t, "secret in:@zed").await, vec![private.clone()]);

    // Dates: the posts' day (UTC) finds them all; before it and after it find none.
    let at = s.zed.get(&format!("/posts/{private}")).await.expect(200).body["create_at"].as_i64().unwrap();
    let today = day_of(at, 0);
    let on = search(&s.zed, t, &format!("from:zed on:{today}")).await;
    assert_eq!(on, vec![private.clone(), deploy.clone(), wip.clone()]);
    assert_eq!(search(&s.zed, t, &format!("from:zed before:{today}")).await, Vec::<String>::new());
    assert_eq!(search(&s.zed, t, &format!("from:zed after:{today}")).await, Vec::<String>::new());
    assert_eq!(search(&s.zed, t, &format!("from:zed after:{}", day_of(at, -1))).await.len(), 3);
    // A searcher 14 hours ahead of UTC names the day by their own calendar.
    let ahead = 14 * 3600;
    let their_today = day_of(at + ahead * 1000, 0);
    let r = s
        .zed
        .post(
            &format!("/teams/{t}/posts/search"),
            json!({"terms": format!("from:zed on:{their_today}"), "time_zone_offset": ahead}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(r["order"].as_array().unwrap().len(), 3, "{r}");
    // Exclusions alone find nothing; a bad date is ignored, not an error.
    assert_eq!(search(&s.zed, t, "-trouble").await, Vec::<String>::new());
    assert_eq!(search(&s.zed, t, "finished on:2026-02-30").await, vec![deploy]);
}

/// The UTC day of a millisecond timestamp, `days` later, as `YYYY-MM-DD`.
fn day_of(ms: i64, days: i64) -> String {
    let d = time::OffsetDateTime::from_unix_timestamp(ms / 1000).unwrap().date() + time::Duration::days(days);
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

#[actix_web::test]
async fn post_search_with_very_many_terms_is_bounded() {
    let s = setup().await;
    // 20,000 words fit in the payload limit but not in one statement's parameters.
    let many = (0..20_000).map(|i| format!("w{i}")).collect::<Vec<_>>().join(" ");
    let r = s.zed.post(&format!("/teams/{}/posts/search", s.team), json!({"terms": many})).await;
    assert_error_shape(&r.expect(400).body, 400);
    // A hundred terms are still a search.
    let hundred = (0..100).map(|i| format!("w{i}")).collect::<Vec<_>>().join(" ");
    s.zed
        .post(&format!("/teams/{}/posts/search", s.team), json!({"terms": hundred, "is_or_search": true}))
        .await
        .expect(200);
}
