//! API v4 teams and channels: every route of src/api/teams.rs and src/api/channels.rs, with bad
//! input, permissions, and checks that a refused request wrote nothing.

mod common;
use common::*;

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};
use starling_protocol::new_id;

/// Assert a status (and for errors Mattermost's error shape), saying which case failed.
fn unique(prefix: &str) -> String {
    format!("{prefix}{}", &new_id()[..10])
}

/// The ids of a JSON array of objects.
fn ids(v: &Value, key: &str) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected an array, got {v}"))
        .iter()
        .map(|x| x[key].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The system admin (first user), then a plain user.
async fn admin_and_user(server: &TestServer) -> (Client, String, Client, String) {
    let anon = server.client();
    let (admin, admin_id) = anon.new_user("admin").await;
    let (user, user_id) = anon.new_user("user").await;
    (admin, admin_id, user, user_id)
}

async fn channel_by_name(c: &Client, team_id: &str, name: &str) -> Value {
    c.get(&format!("/teams/{team_id}/channels/name/{name}")).await.expect(200).body
}

const MALFORMED_ID: &str = "not-an-id";

// ---------------------------------------------------------------------------------------------
// Teams
// ---------------------------------------------------------------------------------------------

#[actix_web::test]
async fn first_user_is_system_admin_and_later_users_are_not() {
    let server = TestServer::start().await;
    let (admin, admin_id, user, user_id) = admin_and_user(&server).await;
    let me = admin.get("/users/me").await.expect(200).body;
    assert_eq!(me["id"], json!(admin_id));
    let roles = me["roles"].as_str().unwrap_or_default();
    assert!(roles.split_whitespace().any(|r| r == "system_admin"), "first user's roles: {roles}");
    let me = user.get("/users/me").await.expect(200).body;
    assert_eq!(me["id"], json!(user_id));
    let roles = me["roles"].as_str().unwrap_or_default();
    assert!(!roles.contains("system_admin"), "second user's roles: {roles}");
}

#[actix_web::test]
async fn create_team_returns_team_and_makes_default_channels() {
    let server = TestServer::start().await;
    let (_admin, _, user, user_id) = admin_and_user(&server).await;
    let name = unique("team");
    let r = user
        .post("/teams", json!({"name": name, "display_name": "  My Team  ", "type": "O", "description": "d"}))
        .await
        .expect(201);
    let team = r.body;
    let team_id = team["id"].as_str().expect("id").to_owned();
    assert_eq!(team_id.len(), 26);
    assert_eq!(team["name"], json!(name));
    assert_eq!(team["display_name"], json!("My Team"), "display name is trimmed");
    assert_eq!(team["type"], json!("O"));
    assert_eq!(team["description"], json!("d"));
    assert_eq!(team["delete_at"], json!(0));
    assert_eq!(team["allow_open_invite"], json!(true));
    assert!(team["create_at"].as_i64().unwrap() > 1_600_000_000_000, "ms timestamps: {team}");
    assert_eq!(team["create_at"], team["update_at"]);

    // The creator is the team's admin and in both default channels.
    let m = user.get(&format!("/teams/{team_id}/members/me")).await.expect(200).body;
    assert_eq!(m["user_id"], json!(user_id));
    assert_eq!(m["team_id"], json!(team_id));
    assert_eq!(m["scheme_admin"], json!(true));
    assert_eq!(m["scheme_user"], json!(true));
    assert_eq!(m["delete_at"], json!(0));
    let mine = user.get(&format!("/users/me/teams/{team_id}/channels")).await.expect(200).body;
    let mut names = ids(&mine, "name");
    names.sort();
    assert_eq!(names, vec!["off-topic", "town-square"]);
    for ch in mine.as_array().unwrap() {
        assert_eq!(ch["team_id"], json!(team_id));
        assert_eq!(ch["type"], json!("O"));
    }
    let town = channel_by_name(&user, &team_id, "town-square").await;
    assert_eq!(town["display_name"], json!("Town Square"));
    let off = channel_by_name(&user, &team_id, "off-topic").await;
    assert_eq!(off["display_name"], json!("Off-Topic"));
    user.get(&format!("/channels/{}/members/me", town["id"].as_str().unwrap())).await.expect(200);
    user.get(&format!("/channels/{}/members/me", off["id"].as_str().unwrap())).await.expect(200);

    // An invite-only team is not open to join unless asked.
    let r = user.post("/teams", json!({"name": unique("inv"), "display_name": "I", "type": "I"})).await.expect(201);
    assert_eq!(r.body["type"], json!("I"));
    assert_eq!(r.body["allow_open_invite"], json!(false));
    // Type defaults to open; unknown and null fields are ignored.
    let r = user
        .post(
            "/teams",
            json!({"name": unique("def"), "display_name": "D", "type": null, "company_name": "x", "bogus": 1}),
        )
        .await
        .expect(201);
    assert_eq!(r.body["type"], json!("O"));
    assert_eq!(count(&server, "SELECT count(*) FROM teams").await, 3);
    assert_eq!(count(&server, "SELECT count(*) FROM channels").await, 6);
}

#[actix_web::test]
async fn create_team_rejects_bad_input_and_writes_nothing() {
    let server = TestServer::start().await;
    let (_admin, _, user, _) = admin_and_user(&server).await;
    let ok_name = unique("team");

    let bodies: Vec<(String, &str)> = vec![
        ("{\"name\": ".into(), "truncated JSON"),
        ("not json".into(), "not JSON"),
        ("".into(), "empty body"),
        ("null".into(), "null body"),
        ("[]".into(), "array body"),
        (json!({"name": 5, "display_name": "T"}).to_string(), "name is a number"),
        (json!({"name": ok_name, "display_name": ["T"]}).to_string(), "display_name is an array"),
        (json!({"name": ok_name, "display_name": "T", "type": 1}).to_string(), "type is a number"),
        (json!({"name": ok_name, "display_name": "T", "allow_open_invite": "yes"}).to_string(), "bool as string"),
        (json!({"display_name": "T"}).to_string(), "missing name"),
        (json!({"name": ok_name}).to_string(), "missing display_name"),
        (json!({"name": ok_name, "display_name": "   "}).to_string(), "blank display_name"),
        (json!({"name": ok_name, "display_name": "x".repeat(65)}).to_string(), "display_name too long"),
        (json!({"name": ok_name, "display_name": "T", "type": "P"}).to_string(), "type P"),
        (json!({"name": ok_name, "display_name": "T", "description": "d".repeat(256)}).to_string(), "long description"),
    ];
    for (body, what) in &bodies {
        let r = send_raw(&user, Method::POST, "/teams", body).await;
        check(r, 400, what);
    }
    for bad in ["a", "1team", "Team", "team_1", "team-", "api", "admin", "x y", "tëam", "", &"t".repeat(65)] {
        let r = user.post("/teams", json!({"name": bad, "display_name": "T"})).await;
        check(r, 400, &format!("team name {bad:?}"));
    }
    // Longest valid name works.
    let long = format!("t{}", "a".repeat(63));
    user.post("/teams", json!({"name": long, "display_name": "T"})).await.expect(201);

    let huge = json!({"name": ok_name, "display_name": "T", "description": "d".repeat(300_001)}).to_string();
    check(send_raw(&user, Method::POST, "/teams", &huge).await, 413, "oversize body");

    let body = json!({"name": ok_name, "display_name": "T"});
    check(server.client().post("/teams", body.clone()).await, 401, "no token");
    check(user.with_token(&new_id()).post("/teams", body.clone()).await, 401, "bogus token");
    check(user.with_token(&"x".repeat(200)).post("/teams", body).await, 401, "very long token");

    assert_eq!(count(&server, "SELECT count(*) FROM teams").await, 1, "only the valid team was written");
    assert_eq!(count(&server, "SELECT count(*) FROM teammembers").await, 1);
    assert_eq!(count(&server, "SELECT count(*) FROM channels").await, 2);
}

#[actix_web::test]
async fn duplicate_team_name_is_refused_without_side_effects() {
    let server = TestServer::start().await;
    let (admin, _, user, _) = admin_and_user(&server).await;
    let name = unique("dup");
    user.post("/teams", json!({"name": name, "display_name": "First"})).await.expect(201);
    let r = admin.post("/teams", json!({"name": name, "display_name": "Second", "type": "I"})).await.expect(400);
    assert_eq!(r.body["id"], json!("app.team.save.existing.app_error"));
    assert_eq!(count(&server, "SELECT count(*) FROM teams").await, 1);
    assert_eq!(count(&server, "SELECT count(*) FROM teammembers").await, 1);
    assert_eq!(count(&server, "SELECT count(*) FROM channels").await, 2, "no default channels for the refused team");
    let t = admin.get(&format!("/teams/name/{name}")).await.expect(200).body;
    assert_eq!(t["display_name"], json!("First"));
}

#[actix_web::test]
async fn get_team_by_id_and_name() {
    let server = TestServer::start().await;
    let (admin, _, owner, _) = admin_and_user(&server).await;
    let (stranger, _) = server.client().new_user("stranger").await;
    let open = owner.create_team(true).await;
    let invite = owner.create_team(false).await;

    let t = owner.get(&format!("/teams/{open}")).await.expect(200).body;
    assert_eq!(t["id"], json!(open));
    let name = t["name"].as_str().unwrap().to_owned();
    let by_name = owner.get(&format!("/teams/name/{name}")).await.expect(200).body;
    assert_eq!(by_name, t);

    // Open teams are visible to anyone signed in; invite-only ones to members and admins.
    stranger.get(&format!("/teams/{open}")).await.expect(200);
    stranger.get(&format!("/teams/name/{name}")).await.expect(200);
    stranger.get(&format!("/teams/{invite}")).await.expect(403);
    let inv_name = owner.get(&format!("/teams/{invite}")).await.expect(200).body["name"].as_str().unwrap().to_owned();
    stranger.get(&format!("/teams/name/{inv_name}")).await.expect(403);
    admin.get(&format!("/teams/{invite}")).await.expect(200);
    admin.get(&format!("/teams/name/{inv_name}")).await.expect(200);

    owner.get(&format!("/teams/{}", new_id())).await.expect(404);
    owner.get(&format!("/teams/{MALFORMED_ID}")).await.expect(400);
    owner.get(&format!("/teams/{}", "a".repeat(27))).await.expect(400);
    owner.get("/teams/name/nosuchteam").await.expect(404);
    owner.get(&format!("/teams/name/{}", "a".repeat(65))).await.expect(404);
    server.client().get(&format!("/teams/{open}")).await.expect(401);
    server.client().get(&format!("/teams/name/{name}")).await.expect(401);
    owner.with_token(&new_id()).get(&format!("/teams/{open}")).await.expect(401);
}

#[actix_web::test]
async fn list_teams_shows_open_teams_and_admins_see_all() {
    let server = TestServer::start().await;
    let (admin, _, owner, _) = admin_and_user(&server).await;
    let (stranger, _) = server.client().new_user("stranger").await;
    let open1 = owner.create_team(true).await;
    let open2 = owner.create_team(true).await;
    let invite = owner.create_team(false).await;

    let mut seen = ids(&stranger.get("/teams").await.expect(200).body, "id");
    seen.sort();
    let mut want = vec![open1.clone(), open2.clone()];
    want.sort();
    assert_eq!(seen, want, "a user sees the open teams only");
    let all = ids(&admin.get("/teams").await.expect(200).body, "id");
    assert_eq!(all.len(), 3);
    assert!(all.contains(&invite));

    let p0 = ids(&admin.get("/teams?page=0&per_page=2").await.expect(200).body, "id");
    let p1 = ids(&admin.get("/teams?page=1&per_page=2").await.expect(200).body, "id");
    assert_eq!(p0.len(), 2);
    assert_eq!(p1.len(), 1);
    assert!(!p0.contains(&p1[0]), "pages do not overlap");
    assert!(ids(&admin.get("/teams?page=5&per_page=2").await.expect(200).body, "id").is_empty());

    // Bad paging falls back to the defaults (page 0, 60 per page), as Mattermost reads it.
    let first = ids(&admin.get("/teams").await.expect(200).body, "id");
    for q in ["?page=-1", "?per_page=-1", "?page=abc", "?per_page=1.5", "?page=&per_page="] {
        assert_eq!(ids(&admin.get(&format!("/teams{q}")).await.expect(200).body, "id"), first, "{q}");
    }
    server.client().get("/teams").await.expect(401);
}

#[actix_web::test]
async fn joining_a_team_joins_its_default_channels() {
    let server = TestServer::start().await;
    let (_admin, _, owner, _) = admin_and_user(&server).await;
    let (joiner, joiner_id) = server.client().new_user("joiner").await;
    let team = owner.create_team(true).await;
    let town = channel_by_name(&owner, &team, "town-square").await["id"].as_str().unwrap().to_owned();
    let off = channel_by_name(&owner, &team, "off-topic").await["id"].as_str().unwrap().to_owned();
    // Another channel the joiner must not be put into.
    let other = owner.create_channel(&team, false).await;

    joiner.get(&format!("/channels/{town}/posts")).await.expect(403);
    let m = joiner
        .post(&format!("/teams/{team}/members"), json!({"team_id": team, "user_id": joiner_id}))
        .await
        .expect(201)
        .body;
    assert_eq!(m["team_id"], json!(team));
    assert_eq!(m["user_id"], json!(joiner_id));
    assert_eq!(m["delete_at"], json!(0));
    assert_eq!(m["scheme_user"], json!(true));
    assert_eq!(m["scheme_admin"], json!(false));
    assert!(m["roles"].is_string());

    joiner.get(&format!("/channels/{town}/members/me")).await.expect(200);
    joiner.get(&format!("/channels/{town}/posts")).await.expect(200);
    joiner.get(&format!("/channels/{off}/members/me")).await.expect(200);
    joiner.get(&format!("/channels/{other}/members/me")).await.expect(403);
    let mut mine = ids(&joiner.get(&format!("/users/me/teams/{team}/channels")).await.expect(200).body, "id");
    mine.sort();
    let mut want = vec![town.clone(), off.clone()];
    want.sort();
    assert_eq!(mine, want);

    // Joining again changes nothing.
    joiner.post(&format!("/teams/{team}/members"), json!({"user_id": joiner_id})).await.expect(201);
    assert_eq!(count(&server, &format!("SELECT count(*) FROM teammembers WHERE team_id = '{team}'")).await, 2);
    assert_eq!(count(&server, &format!("SELECT count(*) FROM channelmembers WHERE user_id = '{joiner_id}'")).await, 2);
}

#[actix_web::test]
async fn add_team_member_permissions_and_bad_input() {
    let server = TestServer::start().await;
    let (admin, _, owner, owner_id) = admin_and_user(&server).await;
    let (a, a_id) = server.client().new_user("a").await;
    let (b, b_id) = server.client().new_user("b").await;
    let invite = owner.create_team(false).await;
    let path = format!("/teams/{invite}/members");

    // Self-join an invite-only team: refused. Adding someone else to a team one is not in: refused.
    a.post(&path, json!({"user_id": a_id})).await.expect(403);
    a.post(&path, json!({"user_id": b_id})).await.expect(403);
    // A member may add people; so may a system admin who is not in the team.
    owner.post(&path, json!({"user_id": a_id})).await.expect(201);
    admin.post(&path, json!({"user_id": b_id})).await.expect(201);
    b.get(&format!("/teams/{invite}")).await.expect(200);

    check(owner.post(&path, json!({"user_id": new_id()})).await, 404, "unknown user");
    check(owner.post(&path, json!({"user_id": MALFORMED_ID})).await, 400, "malformed user id");
    check(owner.post(&path, json!({})).await, 400, "missing user_id");
    check(owner.post(&path, json!({"user_id": 12})).await, 400, "user_id is a number");
    check(owner.post(&path, json!({"user_id": a_id, "team_id": new_id()})).await, 400, "team_id differs from path");
    check(send_raw(&owner, Method::POST, &path, "{\"user_id\":").await, 400, "truncated JSON");
    check(owner.post(&format!("/teams/{}/members", new_id()), json!({"user_id": owner_id})).await, 404, "unknown team");
    check(
        owner.post(&format!("/teams/{MALFORMED_ID}/members"), json!({"user_id": owner_id})).await,
        400,
        "bad team id",
    );
    let huge = json!({"user_id": a_id, "pad": "x".repeat(300_001)}).to_string();
    check(send_raw(&owner, Method::POST, &path, &huge).await, 413, "oversize body");
    check(server.client().post(&path, json!({"user_id": a_id})).await, 401, "no token");
    assert_eq!(count(&server, "SELECT count(*) FROM teammembers").await, 3);
}

#[actix_web::test]
async fn max_users_per_team_is_enforced() {
    let server = TestServer::start_with(|c| c.team_settings.max_users_per_team = 2).await;
    let (_admin, _, owner, _) = admin_and_user(&server).await;
    let (_, a_id) = server.client().new_user("a").await;
    let (_, b_id) = server.client().new_user("b").await;
    let team = owner.create_team(true).await;
    owner.post(&format!("/teams/{team}/members"), json!({"user_id": a_id})).await.expect(201);
    let r = owner.post(&format!("/teams/{team}/members"), json!({"user_id": b_id})).await.expect(400);
    assert_eq!(r.body["id"], json!("app.team.join_user_to_team.max_accounts.app_error"));
    assert_eq!(count(&server, &format!("SELECT count(*) FROM teammembers WHERE team_id = '{team}'")).await, 2);
    assert_eq!(
        count(&server, &format!("SELECT count(*) FROM channelmembers WHERE user_id = '{b_id}'")).await,
        0,
        "a refused join leaves no channel memberships"
    );
    // A current member joining again is not refused by the limit.
    owner.post(&format!("/teams/{team}/members"), json!({"user_id": a_id})).await.expect(201);
}

#[actix_web::test]
async fn concurrent_joins_never_exceed_max_users_per_team() {
    let server = TestServer::start_with(|c| c.team_settings.max_users_per_team = 3).await;
    let (_admin, _, owner, _) = admin_and_user(&server).await;
    let team = owner.create_team(true).await;
    let path = format!("/teams/{team}/members");
    let mut joiners = Vec::new();
    for n in 0..5 {
        joiners.push(server.client().new_user(&format!("j{n}")).await);
    }
    let results = join_all(joiners.iter().map(|(c, id)| c.post(&path, json!({"user_id": id})))).await;
    let mut created = 0;
    for r in results {
        match r.status.as_u16() {
            201 => created += 1,
            400 => assert_error_shape(&r.body, 400),
            s => panic!("unexpected status {s}: {}", r.body),
        }
    }
    assert_eq!(created, 2, "the creator plus two joiners fill the team");
    assert_eq!(count(&server, &format!("SELECT count(*) FROM teammembers WHERE team_id = '{team}'")).await, 3);
    assert_eq!(count(&server, "SELECT count(*) FROM channelmembers").await, 6, "two default channels each");
}

#[actix_web::test]
async fn concurrent_duplicates_make_exactly_one() {
    let server = TestServer::start().await;
    let (_admin, _, owner, owner_id) = admin_and_user(&server).await;
    let (other, other_id) = server.client().new_user("other").await;

    let name = unique("race");
    let body = json!({"name": name, "display_name": "Race"});
    let clients: Vec<&Client> = (0..6).map(|n| if n % 2 == 0 { &owner } else { &other }).collect();
    let results = join_all(clients.iter().map(|c| c.post("/teams", body.clone()))).await;
    let statuses: Vec<u16> = results.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 400).count(), 5, "{statuses:?}");
    for r in results.iter().filter(|r| r.status.as_u16() == 400) {
        assert_eq!(r.body["id"], json!("app.team.save.existing.app_error"));
    }
    assert_eq!(count(&server, "SELECT count(*) FROM teams").await, 1);
    assert_eq!(count(&server, "SELECT count(*) FROM teammembers").await, 1);
    assert_eq!(count(&server, "SELECT count(*) FROM channels").await, 2);
    assert_eq!(count(&server, "SELECT count(*) FROM channelmembers").await, 2);

    let team = owner.create_team(true).await;
    other.post(&format!("/teams/{team}/members"), json!({"user_id": other_id})).await.expect(201);
    let cname = unique("race");
    let body = json!({"team_id": team, "name": cname, "display_name": "Race", "type": "P"});
    let results = join_all(clients.iter().map(|c| c.post("/channels", body.clone()))).await;
    let statuses: Vec<u16> = results.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 400).count(), 5, "{statuses:?}");
    let winner = results.iter().position(|r| r.status.as_u16() == 201).unwrap();
    let ch = results[winner].id();
    // The creator (whichever won) adds the other user.
    let (creator, joiner_id) = if winner % 2 == 0 { (&owner, &other_id) } else { (&other, &owner_id) };
    assert_eq!(count(&server, &format!("SELECT count(*) FROM channels WHERE team_id = '{team}'")).await, 3);
    assert_eq!(count(&server, &format!("SELECT count(*) FROM channelmembers WHERE channel_id = '{ch}'")).await, 1);

    // The same member added many times at once: one membership.
    let path = format!("/channels/{ch}/members");
    let results = join_all((0..6).map(|_| creator.post(&path, json!({"user_id": joiner_id})))).await;
    for r in results {
        assert_eq!(r.status.as_u16(), 201, "{}", r.body);
        assert_eq!(r.body["user_id"], json!(joiner_id));
    }
    assert_eq!(count(&server, &format!("SELECT count(*) FROM channelmembers WHERE channel_id = '{ch}'")).await, 2);
}

#[actix_web::test]
async fn team_member_listing_endpoints() {
    let server = TestServer::start().await;
    let (admin, _, owner, owner_id) = admin_and_user(&server).await;
    let (member, member_id) = server.client().new_user("member").await;
    let (stranger, stranger_id) = server.client().new_user("stranger").await;
    let team = owner.create_team(true).await;
    let team2 = owner.create_team(false).await;
    member.post(&format!("/teams/{team}/members"), json!({"user_id": member_id})).await.expect(201);

    let mut got = ids(&member.get(&format!("/teams/{team}/members")).await.expect(200).body, "user_id");
    got.sort();
    let mut want = vec![owner_id.clone(), member_id.clone()];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(
        ids(&member.get(&format!("/teams/{team}/members?per_page=1")).await.expect(200).body, "user_id").len(),
        1
    );
    let p1 = ids(&member.get(&format!("/teams/{team}/members?page=1&per_page=1")).await.expect(200).body, "user_id");
    assert_eq!(p1, vec![want[1].clone()]);
    member.get(&format!("/teams/{team}/members?page=-2")).await.expect(200);
    stranger.get(&format!("/teams/{team}/members")).await.expect(403);
    admin.get(&format!("/teams/{team}/members")).await.expect(200);
    member.get(&format!("/teams/{}/members", new_id())).await.expect(404);
    member.get(&format!("/teams/{MALFORMED_ID}/members")).await.expect(400);
    server.client().get(&format!("/teams/{team}/members")).await.expect(401);

    let m = member.get(&format!("/teams/{team}/members/{owner_id}")).await.expect(200).body;
    assert_eq!(m["user_id"], json!(owner_id));
    assert_eq!(m["scheme_admin"], json!(true));
    member.get(&format!("/teams/{team}/members/{stranger_id}")).await.expect(404);
    member.get(&format!("/teams/{team}/members/{}", new_id())).await.expect(404);
    member.get(&format!("/teams/{team}/members/{MALFORMED_ID}")).await.expect(400);
    stranger.get(&format!("/teams/{team}/members/me")).await.expect(403);

    // A user's own teams and memberships; another user's only for admins.
    let mut mine = ids(&owner.get("/users/me/teams").await.expect(200).body, "id");
    mine.sort();
    let mut want = vec![team.clone(), team2.clone()];
    want.sort();
    assert_eq!(mine, want);
    assert_eq!(ids(&member.get(&format!("/users/{member_id}/teams")).await.expect(200).body, "id"), vec![team.clone()]);
    assert!(ids(&stranger.get("/users/me/teams").await.expect(200).body, "id").is_empty());
    member.get(&format!("/users/{owner_id}/teams")).await.expect(403);
    assert_eq!(ids(&admin.get(&format!("/users/{owner_id}/teams")).await.expect(200).body, "id").len(), 2);
    member.get(&format!("/users/{MALFORMED_ID}/teams")).await.expect(400);
    server.client().get("/users/me/teams").await.expect(401);

    let tm = owner.get("/users/me/teams/members").await.expect(200).body;
    let mut got = ids(&tm, "team_id");
    got.sort();
    assert_eq!(got, want);
    assert!(tm.as_array().unwrap().iter().all(|m| m["user_id"] == json!(owner_id)));
    member.get(&format!("/users/{owner_id}/teams/members")).await.expect(403);
    admin.get(&format!("/users/{owner_id}/teams/members")).await.expect(200);
    server.client().get("/users/me/teams/members").await.expect(401);
}

#[actix_web::test]
async fn leaving_and_removing_team_members() {
    let server = TestServer::start().await;
    let (admin, _, owner, owner_id) = admin_and_user(&server).await;
    let (a, a_id) = server.client().new_user("a").await;
    let (b, b_id) = server.client().new_user("b").await;
    let (_c, c_id) = server.client().new_user("c").await;
    let team = owner.create_team(true).await;
    for id in [&a_id, &b_id, &c_id] {
        owner.post(&format!("/teams/{team}/members"), json!({"user_id": id})).await.expect(201);
    }
    // Private: team members may read open channels they are not in.
    let ch = owner.create_channel(&team, true).await;
    owner.post(&format!("/channels/{ch}/members"), json!({"user_id": a_id})).await.expect(201);

    // A plain member cannot remove another member; the team admin and a system admin can.
    a.delete(&format!("/teams/{team}/members/{b_id}")).await.expect(403);
    b.get(&format!("/teams/{team}/members/me")).await.expect(200);
    let r = owner.delete(&format!("/teams/{team}/members/{b_id}")).await.expect(200);
    assert_eq!(r.body, json!({"status": "OK"}));
    b.get(&format!("/teams/{team}/members/me")).await.expect(403);
    admin.delete(&format!("/teams/{team}/members/{c_id}")).await.expect(200);

    // Leaving takes the user out of the team's channels.
    assert_eq!(count(&server, &format!("SELECT count(*) FROM channelmembers WHERE user_id = '{a_id}'")).await, 3);
    a.delete(&format!("/teams/{team}/members/me")).await.expect(200);
    assert_eq!(count(&server, &format!("SELECT count(*) FROM channelmembers WHERE user_id = '{a_id}'")).await, 0);
    a.get(&format!("/channels/{ch}/posts")).await.expect(403);
    assert!(ids(&a.get("/users/me/teams").await.expect(200).body, "id").is_empty());
    let members = ids(&owner.get(&format!("/teams/{team}/members")).await.expect(200).body, "user_id");
    assert_eq!(members, vec![owner_id.clone()]);

    // Removing someone who is not a member.
    owner.delete(&format!("/teams/{team}/members/{a_id}")).await.expect(404);
    owner.delete(&format!("/teams/{team}/members/{}", new_id())).await.expect(404);
    owner.delete(&format!("/teams/{team}/members/{MALFORMED_ID}")).await.expect(400);
    owner.delete(&format!("/teams/{}/members/{a_id}", new_id())).await.expect(404);
    server.client().delete(&format!("/teams/{team}/members/{owner_id}")).await.expect(401);

    // Rejoining restores the membership and the default channels.
    a.post(&format!("/teams/{team}/members"), json!({"user_id": a_id})).await.expect(201);
    let town = channel_by_name(&a, &team, "town-square").await["id"].as_str().unwrap().to_owned();
    a.get(&format!("/channels/{town}/posts")).await.expect(200);
    a.get(&format!("/channels/{ch}/posts")).await.expect(403);
}

// ---------------------------------------------------------------------------------------------
// Channels
// ---------------------------------------------------------------------------------------------

#[actix_web::test]
async fn create_channel_returns_channel_and_creator_membership() {
    let server = TestServer::start().await;
    let (_admin, _, owner, owner_id) = admin_and_user(&server).await;
    let team = owner.create_team(true).await;
    let name = unique("chan");
    let ch = owner
        .post(
            "/channels",
            json!({"team_id": team, "name": name, "display_name": " Chan ", "type": "P", "header": "h", "purpose": "p"}),
        )
        .await
        .expect(201)
        .body;
    let id = ch["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 26);
    assert_eq!(ch["team_id"], json!(team));
    assert_eq!(ch["name"], json!(name));
    assert_eq!(ch["display_name"], json!("Chan"));
    assert_eq!(ch["type"], json!("P"));
    assert_eq!(ch["header"], json!("h"));
    assert_eq!(ch["purpose"], json!("p"));
    assert_eq!(ch["creator_id"], json!(owner_id));
    assert_eq!(ch["delete_at"], json!(0));
    assert_eq!(ch["total_msg_count"], json!(0));
    assert!(ch["create_at"].as_i64().unwrap() > 1_600_000_000_000);

    let m = owner.get(&format!("/channels/{id}/members/me")).await.expect(200).body;
    assert_eq!(m["channel_id"], json!(id));
    assert_eq!(m["user_id"], json!(owner_id));
    assert_eq!(m["scheme_admin"], json!(true));
    assert!(m["notify_props"].is_object());
    for k in ["roles", "last_viewed_at", "msg_count", "mention_count"] {
        assert!(m.get(k).is_some(), "member lacks {k}: {m}");
    }
    let got = owner.get(&format!("/channels/{id}")).await.expect(200).body;
    assert_eq!(got, ch);

    // Defaults: type open. The same name is fine in another team.
    let r =
        owner.post("/channels", json!({"team_id": team, "name": unique("o"), "display_name": "O"})).await.expect(201);
    assert_eq!(r.body["type"], json!("O"));
    let team2 = owner.create_team(true).await;
    owner.post("/channels", json!({"team_id": team2, "name": name, "display_name": "Again"})).await.expect(201);
}

#[actix_web::test]
async fn create_channel_rejects_bad_input_and_writes_nothing() {
    let server = TestServer::start().await;
    let (_admin, _, owner, _) = admin_and_user(&server).await;
    let (stranger, _) = server.client().new_user("stranger").await;
    let team = owner.create_team(true).await;
    let before = count(&server, "SELECT count(*) FROM channels").await;
    let name = unique("c");

    let bodies: Vec<(String, &str)> = vec![
        ("{\"team_id\": ".into(), "truncated JSON"),
        ("nope".into(), "not JSON"),
        ("".into(), "empty body"),
        ("\"str\"".into(), "string body"),
        (json!({"name": name, "display_name": "C"}).to_string(), "missing team_id"),
        (json!({"team_id": MALFORMED_ID, "name": name, "display_name": "C"}).to_string(), "malformed team_id"),
        (json!({"team_id": 7, "name": name, "display_name": "C"}).to_string(), "team_id is a number"),
        (json!({"team_id": team, "name": {"a": 1}, "display_name": "C"}).to_string(), "name is an object"),
        (json!({"team_id": team, "name": name, "display_name": "C", "type": true}).to_string(), "type is a bool"),
        (json!({"team_id": team, "display_name": "C"}).to_string(), "missing name"),
        (json!({"team_id": team, "name": name}).to_string(), "missing display_name"),
        (json!({"team_id": team, "name": name, "display_name": ""}).to_string(), "empty display_name"),
        (json!({"team_id": team, "name": name, "display_name": "d".repeat(65)}).to_string(), "long display_name"),
        (json!({"team_id": team, "name": name, "display_name": "C", "type": "D"}).to_string(), "type D"),
        (
            json!({"team_id": team, "name": name, "display_name": "C", "header": "h".repeat(1025)}).to_string(),
            "long header",
        ),
        (
            json!({"team_id": team, "name": name, "display_name": "C", "purpose": "p".repeat(251)}).to_string(),
            "long purpose",
        ),
    ];
    for (body, what) in &bodies {
        check(send_raw(&owner, Method::POST, "/channels", body).await, 400, what);
    }
    for bad in ["", "Upper", "a b", "a__b", "---", "_", "ü", "a/b", &"x".repeat(65)] {
        let r = owner.post("/channels", json!({"team_id": team, "name": bad, "display_name": "C"})).await;
        check(r, 400, &format!("channel name {bad:?}"));
    }
    check(
        owner.post("/channels", json!({"team_id": new_id(), "name": name, "display_name": "C"})).await,
        404,
        "unknown team",
    );
    check(
        stranger.post("/channels", json!({"team_id": team, "name": name, "display_name": "C"})).await,
        403,
        "not a team member",
    );
    // (A system admin holds create_public_channel in every team, as in Mattermost.)
    let huge = json!({"team_id": team, "name": name, "display_name": "C", "purpose": "p".repeat(300_001)}).to_string();
    check(send_raw(&owner, Method::POST, "/channels", &huge).await, 413, "oversize body");
    let body = json!({"team_id": team, "name": name, "display_name": "C"});
    check(server.client().post("/channels", body.clone()).await, 401, "no token");
    check(owner.with_token(&new_id()).post("/channels", body).await, 401, "bogus token");

    assert_eq!(count(&server, "SELECT count(*) FROM channels").await, before, "nothing was written");
    assert_eq!(count(&server, "SELECT count(*) FROM channelmembers").await, 2);
}

#[actix_web::test]
async fn duplicate_channel_name_in_a_team_is_refused() {
    let server = TestServer::start().await;
    let (_admin, _, owner, _) = admin_and_user(&server).await;
    let team = owner.create_team(true).await;
    let name = unique("dup");
    owner.post("/channels", json!({"team_id": team, "name": name, "display_name": "One"})).await.expect(201);
    let r = owner.post("/channels", json!({"team_id": team, "name": name, "display_name": "Two", "type": "P"})).await;
    let r = check(r, 400, "duplicate channel name");
    assert_eq!(r.body["id"], json!("store.sql_channel.save_channel.exists.app_error"));
    // Clashing with a default channel too.
    check(
        owner.post("/channels", json!({"team_id": team, "name": "town-square", "display_name": "T"})).await,
        400,
        "town-square again",
    );
    assert_eq!(count(&server, "SELECT count(*) FROM channels").await, 3);
    assert_eq!(channel_by_name(&owner, &team, &name).await["display_name"], json!("One"));
}

#[actix_web::test]
async fn max_channels_per_team_is_enforced() {
    let server = TestServer::start_with(|c| c.team_settings.max_channels_per_team = 3).await;
    let (_admin, _, owner, _) = admin_and_user(&server).await;
    let team = owner.create_team(true).await;
    owner.create_channel(&team, false).await;
    let r = owner.post("/channels", json!({"team_id": team, "name": unique("c"), "display_name": "C"})).await;
    check(r, 400, "over the channel limit");
    assert_eq!(count(&server, "SELECT count(*) FROM channels").await, 3);
}

#[actix_web::test]
async fn channel_visibility_by_id_and_name() {
    let server = TestServer::start().await;
    let (admin, _, owner, _) = admin_and_user(&server).await;
    let (teammate, teammate_id) = server.client().new_user("mate").await;
    let (outsider, _) = server.client().new_user("out").await;
    let team = owner.create_team(true).await;
    teammate.post(&format!("/teams/{team}/members"), json!({"user_id": teammate_id})).await.expect(201);
    let open = owner.create_channel(&team, false).await;
    let private = owner.create_channel(&team, true).await;
    let open_name = owner.get(&format!("/channels/{open}")).await.expect(200).body["name"].as_str().unwrap().to_owned();
    let private_name =
        owner.get(&format!("/channels/{private}")).await.expect(200).body["name"].as_str().unwrap().to_owned();

    // Open channel: its team's members may see it; others may not.
    teammate.get(&format!("/channels/{open}")).await.expect(200);
    let by_name = teammate.get(&format!("/teams/{team}/channels/name/{open_name}")).await.expect(200).body;
    assert_eq!(by_name["id"], json!(open));
    outsider.get(&format!("/channels/{open}")).await.expect(403);
    outsider.get(&format!("/teams/{team}/channels/name/{open_name}")).await.expect(403);

    // Private channel: members and system admins only.
    teammate.get(&format!("/channels/{private}")).await.expect(403);
    teammate.get(&format!("/teams/{team}/channels/name/{private_name}")).await.expect(403);
    outsider.get(&format!("/channels/{private}")).await.expect(403);
    admin.get(&format!("/channels/{private}")).await.expect(200);
    admin.get(&format!("/teams/{team}/channels/name/{private_name}")).await.expect(200);
    owner.get(&format!("/teams/{team}/channels/name/{private_name}")).await.expect(200);

    owner.get(&format!("/channels/{}", new_id())).await.expect(404);
    owner.get(&format!("/channels/{MALFORMED_ID}")).await.expect(400);
    owner.get(&format!("/teams/{team}/channels/name/nosuchchannel")).await.expect(404);
    owner.get(&format!("/teams/{}/channels/name/{open_name}", new_id())).await.expect(404);
    owner.get(&format!("/teams/{MALFORMED_ID}/channels/name/{open_name}")).await.expect(400);
    owner.get(&format!("/teams/{team}/channels/name/{}", "a".repeat(65))).await.expect(404);
    server.client().get(&format!("/channels/{open}")).await.expect(401);
    server.client().get(&format!("/teams/{team}/channels/name/{open_name}")).await.expect(401);
}

#[actix_web::test]
async fn public_channels_of_a_team() {
    let server = TestServer::start().await;
    let (admin, _, owner, _) = admin_and_user(&server).await;
    let (outsider, _) = server.client().new_user("out").await;
    let team = owner.create_team(true).await;
    let open = owner.create_channel(&team, false).await;
    let private = owner.create_channel(&team, true).await;
    let other_team = owner.create_team(true).await;
    let elsewhere = owner.create_channel(&other_team, false).await;

    let list = owner.get(&format!("/teams/{team}/channels")).await.expect(200).body;
    let got = ids(&list, "id");
    assert_eq!(got.len(), 3, "town-square, off-topic and the open channel: {list}");
    assert!(got.contains(&open));
    assert!(!got.contains(&private), "private channels are not listed");
    assert!(!got.contains(&elsewhere));
    let mut names = ids(&list, "name");
    names.retain(|n| n == "town-square" || n == "off-topic");
    assert_eq!(names.len(), 2);

    let p0 = ids(&owner.get(&format!("/teams/{team}/channels?per_page=2")).await.expect(200).body, "id");
    let p1 = ids(&owner.get(&format!("/teams/{team}/channels?page=1&per_page=2")).await.expect(200).body, "id");
    assert_eq!((p0.len(), p1.len()), (2, 1));
    assert!(!p0.contains(&p1[0]));
    // A page that is not a number is the first, as Mattermost reads it.
    let first = ids(&owner.get(&format!("/teams/{team}/channels")).await.expect(200).body, "id");
    assert_eq!(ids(&owner.get(&format!("/teams/{team}/channels?page=x")).await.expect(200).body, "id"), first);
    outsider.get(&format!("/teams/{team}/channels")).await.expect(403);
    admin.get(&format!("/teams/{team}/channels")).await.expect(200);
    owner.get(&format!("/teams/{}/channels", new_id())).await.expect(404);
    owner.get(&format!("/teams/{MALFORMED_ID}/channels")).await.expect(400);
    server.client().get(&format!("/teams/{team}/channels")).await.expect(401);
}

#[actix_web::test]
async fn my_channels_in_a_team() {
    let server = TestServer::start().await;
    let (admin, _, owner, owner_id) = admin_and_user(&server).await;
    let (mate, mate_id) = server.client().new_user("mate").await;
    let team = owner.create_team(true).await;
    mate.post(&format!("/teams/{team}/members"), json!({"user_id": mate_id})).await.expect(201);
    let private = owner.create_channel(&team, true).await;
    let open = owner.create_channel(&team, false).await;

    let mine = ids(&owner.get(&format!("/users/me/teams/{team}/channels")).await.expect(200).body, "id");
    assert_eq!(mine.len(), 4);
    assert!(mine.contains(&private) && mine.contains(&open));
    let theirs = ids(&mate.get(&format!("/users/{mate_id}/teams/{team}/channels")).await.expect(200).body, "id");
    assert_eq!(theirs.len(), 2, "only the default channels");
    assert!(!theirs.contains(&private));

    mate.get(&format!("/users/{owner_id}/teams/{team}/channels")).await.expect(403);
    let seen = ids(&admin.get(&format!("/users/{owner_id}/teams/{team}/channels")).await.expect(200).body, "id");
    assert_eq!(seen.len(), 4);
    owner.get(&format!("/users/{MALFORMED_ID}/teams/{team}/channels")).await.expect(400);
    owner.get(&format!("/users/me/teams/{MALFORMED_ID}/channels")).await.expect(400);
    owner.get(&format!("/users/me/teams/{}/channels", new_id())).await.expect(404);
    server.client().get(&format!("/users/me/teams/{team}/channels")).await.expect(401);
}

#[actix_web::test]
async fn add_channel_members() {
    let server = TestServer::start().await;
    let (admin, _, owner, owner_id) = admin_and_user(&server).await;
    let (a, a_id) = server.client().new_user("a").await;
    let (b, b_id) = server.client().new_user("b").await;
    let (_outsider, out_id) = server.client().new_user("out").await;
    let team = owner.create_team(true).await;
    for id in [&a_id, &b_id] {
        owner.post(&format!("/teams/{team}/members"), json!({"user_id": id})).await.expect(201);
    }
    let open = owner.create_channel(&team, false).await;
    let private = owner.create_channel(&team, true).await;

    // Team members may join open channels themselves, not private ones.
    let m = a.post(&format!("/channels/{open}/members"), json!({"user_id": a_id})).await.expect(201).body;
    assert_eq!(m["channel_id"], json!(open));
    assert_eq!(m["user_id"], json!(a_id));
    assert_eq!(m["scheme_admin"], json!(false));
    for k in ["roles", "last_viewed_at", "msg_count", "mention_count", "notify_props"] {
        assert!(m.get(k).is_some(), "member lacks {k}: {m}");
    }
    a.post(&format!("/channels/{private}/members"), json!({"user_id": a_id})).await.expect(403);
    // A non-member cannot add others, even to an open channel.
    b.post(&format!("/channels/{open}/members"), json!({"user_id": a_id})).await.expect(403);
    b.post(&format!("/channels/{private}/members"), json!({"user_id": b_id, "channel_id": private})).await.expect(403);
    // Members add others; the client's extra fields are accepted.
    owner
        .post(
            &format!("/channels/{private}/members"),
            json!({"user_id": a_id, "channel_id": private, "post_root_id": ""}),
        )
        .await
        .expect(201);
    a.get(&format!("/channels/{private}")).await.expect(200);
    a.get(&format!("/channels/{private}/posts")).await.expect(200);
    // A system admin may add anyone in the team.
    admin.post(&format!("/channels/{private}/members"), json!({"user_id": b_id})).await.expect(201);
    // Adding again: the same membership.
    let again = owner.post(&format!("/channels/{private}/members"), json!({"user_id": a_id})).await.expect(201).body;
    assert_eq!(again["user_id"], json!(a_id));
    assert_eq!(count(&server, &format!("SELECT count(*) FROM channelmembers WHERE channel_id = '{private}'")).await, 3);

    let path = format!("/channels/{private}/members");
    check(owner.post(&path, json!({"user_id": out_id})).await, 400, "user outside the team");
    check(owner.post(&path, json!({"user_id": new_id()})).await, 404, "unknown user");
    check(owner.post(&path, json!({"user_id": MALFORMED_ID})).await, 400, "malformed user id");
    check(owner.post(&path, json!({})).await, 400, "missing user_id");
    check(owner.post(&path, json!({"user_id": true})).await, 400, "user_id is a bool");
    check(owner.post(&path, json!({"user_id": owner_id, "channel_id": open})).await, 400, "channel_id differs");
    check(send_raw(&owner, Method::POST, &path, "{{").await, 400, "malformed JSON");
    check(
        owner.post(&format!("/channels/{}/members", new_id()), json!({"user_id": a_id})).await,
        404,
        "unknown channel",
    );
    check(
        owner.post(&format!("/channels/{MALFORMED_ID}/members"), json!({"user_id": a_id})).await,
        400,
        "bad channel id",
    );
    let huge = json!({"user_id": a_id, "pad": "x".repeat(300_001)}).to_string();
    check(send_raw(&owner, Method::POST, &path, &huge).await, 413, "oversize body");
    check(server.client().post(&path, json!({"user_id": a_id})).await, 401, "no token");
    assert_eq!(count(&server, &format!("SELECT count(*) FROM channelmembers WHERE user_id = '{out_id}'")).await, 0);
}

#[actix_web::test]
async fn channel_member_listing_and_removal() {
    let server = TestServer::start().await;
    let (admin, _, owner, owner_id) = admin_and_user(&server).await;
    let (a, a_id) = server.client().new_user("a").await;
    let (b, b_id) = server.client().new_user("b").await;
    let team = owner.create_team(true).await;
    for id in [&a_id, &b_id] {
        owner.post(&format!("/teams/{team}/members"), json!({"user_id": id})).await.expect(201);
    }
    let ch = owner.create_channel(&team, true).await;
    for id in [&a_id, &b_id] {
        owner.post(&format!("/channels/{ch}/members"), json!({"user_id": id})).await.expect(201);
    }

    let mut got = ids(&a.get(&format!("/channels/{ch}/members")).await.expect(200).body, "user_id");
    got.sort();
    let mut want = vec![owner_id.clone(), a_id.clone(), b_id.clone()];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(ids(&a.get(&format!("/channels/{ch}/members?per_page=2")).await.expect(200).body, "user_id").len(), 2);
    let last = ids(&a.get(&format!("/channels/{ch}/members?page=1&per_page=2")).await.expect(200).body, "user_id");
    assert_eq!(last, vec![want[2].clone()]);
    assert_eq!(
        ids(&a.get(&format!("/channels/{ch}/members?per_page=-1")).await.expect(200).body, "user_id").len(),
        3,
        "the default page size"
    );
    admin.get(&format!("/channels/{ch}/members")).await.expect(200);
    let m = a.get(&format!("/channels/{ch}/members/{b_id}")).await.expect(200).body;
    assert_eq!((m["channel_id"].clone(), m["user_id"].clone()), (json!(ch), json!(b_id)));
    a.get(&format!("/channels/{ch}/members/{}", new_id())).await.expect(404);
    a.get(&format!("/channels/{ch}/members/{MALFORMED_ID}")).await.expect(400);
    a.get(&format!("/channels/{}/members", new_id())).await.expect(404);
    a.get(&format!("/channels/{MALFORMED_ID}/members")).await.expect(400);
    server.client().get(&format!("/channels/{ch}/members")).await.expect(401);

    // In Mattermost's default scheme every member manages a private channel's members
    // (channel_user has manage_private_channel_members); a team member outside it does not.
    let (c, c_id) = server.client().new_user("c").await;
    owner.post(&format!("/teams/{team}/members"), json!({"user_id": c_id})).await.expect(201);
    c.delete(&format!("/channels/{ch}/members/{b_id}")).await.expect(403);
    a.delete(&format!("/channels/{ch}/members/{b_id}")).await.expect(200);
    a.post(&format!("/channels/{ch}/members"), json!({"user_id": b_id})).await.expect(201);
    // Leaving oneself is fine.
    let r = a.delete(&format!("/channels/{ch}/members/me")).await.expect(200);
    assert_eq!(r.body, json!({"status": "OK"}));
    a.get(&format!("/channels/{ch}")).await.expect(403);
    a.get(&format!("/channels/{ch}/members")).await.expect(403);
    a.get(&format!("/channels/{ch}/members/me")).await.expect(403);
    a.delete(&format!("/channels/{ch}/members/me")).await.expect(403);
    // The channel admin (its creator) removes others.
    owner.delete(&format!("/channels/{ch}/members/{b_id}")).await.expect(200);
    b.get(&format!("/channels/{ch}/posts")).await.expect(403);
    owner.delete(&format!("/channels/{ch}/members/{b_id}")).await.expect(404);
    owner.delete(&format!("/channels/{ch}/members/{MALFORMED_ID}")).await.expect(400);
    // A system admin removes anyone.
    admin.delete(&format!("/channels/{ch}/members/{owner_id}")).await.expect(200);
    assert_eq!(count(&server, &format!("SELECT count(*) FROM channelmembers WHERE channel_id = '{ch}'")).await, 0);
    server.client().delete(&format!("/channels/{ch}/members/{owner_id}")).await.expect(401);

    // Nobody leaves town-square.
    let town = channel_by_name(&owner, &team, "town-square").await["id"].as_str().unwrap().to_owned();
    a.delete(&format!("/channels/{town}/members/me")).await.expect(400);
    a.get(&format!("/channels/{town}/members/me")).await.expect(200);
}
