//! Roles: the built-in roles the apps load (`POST /roles/names` decides whether the web app shows a
//! post box), permission checks through them, and role changes of users, team members and
//! channel members with their events.

mod common;
use common::ws::Ws;
use common::*;
use serde_json::{json, Value};

fn names(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_owned()).collect()
}

fn perms(role: &Value) -> Vec<String> {
    role["permissions"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_owned()).collect()
}

#[actix_web::test]
async fn the_apps_load_their_roles_by_name_and_id() {
    let s = TestServer::start().await;
    let (admin, _) = s.client().new_user("admin").await;
    let (user, _) = s.client().new_user("u").await;
    let me = user.get("/users/me").await.expect(200).body;
    let mut wanted: Vec<String> = me["roles"].as_str().unwrap().split(' ').map(str::to_owned).collect();
    wanted.extend(["team_user", "team_admin", "channel_user", "channel_admin", "no_such_role"].map(String::from));
    let roles = user.post("/roles/names", json!(wanted)).await.expect(200).body;
    let got = names(&roles);
    assert_eq!(
        got,
        vec!["system_user", "team_user", "team_admin", "channel_user", "channel_admin"],
        "unknown names are left out"
    );
    for r in roles.as_array().unwrap() {
        for k in ["id", "name", "display_name", "description", "create_at", "update_at", "delete_at"] {
            assert!(r.get(k).is_some(), "role has {k}: {r}");
        }
        assert_eq!(r["built_in"], true);
        assert_eq!(r["id"].as_str().unwrap().len(), 26);
    }
    let channel_user = &roles[3];
    assert!(perms(channel_user).contains(&"create_post".to_owned()), "the web app's post box needs create_post");
    assert_eq!(channel_user["scheme_managed"], true);
    assert!(!perms(&roles[1]).contains(&"create_post".to_owned()), "team_user does not post by itself");
    // By name and by id give the same role; ids are the installation's.
    let by_name = user.get("/roles/name/channel_user").await.expect(200).body;
    assert_eq!(by_name, *channel_user);
    let by_id = user.get(&format!("/roles/{}", channel_user["id"].as_str().unwrap())).await.expect(200).body;
    assert_eq!(by_id, *channel_user);
    let admin_role = admin.get("/roles/name/system_admin").await.expect(200).body;
    assert!(perms(&admin_role).contains(&"manage_system".to_owned()));
    let all = admin.get("/roles").await.expect(200).body;
    assert!(names(&all).contains(&"channel_guest".to_owned()));
    // Bad input.
    check(user.get("/roles").await, 403, "listing every role needs manage_system");
    check(user.post("/roles/names", json!([])).await, 400, "no names");
    check(user.post("/roles/names", json!(["Bad Name"])).await, 400, "invalid name");
    check(user.post("/roles/names", json!({"a": 1})).await, 400, "not a list");
    check(user.get("/roles/name/nosuchrole").await, 404, "unknown name");
    check(user.get("/roles/name/BAD-NAME").await, 400, "invalid name");
    check(user.get(&format!("/roles/{}", starling_protocol::new_id())).await, 404, "unknown id");
    check(user.get("/roles/xyz").await, 400, "malformed id");
    check(s.client().post("/roles/names", json!(["system_user"])).await, 401, "no session");

    // A second node of the same database reports the same ids.
    let mut second = start_node(s.config.clone()).await;
    let other = user.clone_to(&format!("http://{}", second.http_addr));
    let again = other.post("/roles/names", json!(["channel_user"])).await.expect(200).body;
    assert_eq!(again[0]["id"], channel_user["id"]);
    second.stop().await;
}

#[actix_web::test]
async fn team_member_roles_change_and_the_member_hears_it() {
    let s = TestServer::start().await;
    let c = s.client();
    let (_admin, _) = c.new_user("admin").await;
    let (owner, _) = c.new_user("owner").await;
    let (a, a_id) = c.new_user("a").await;
    let (_b, b_id) = c.new_user("b").await;
    let team = owner.create_team(true).await;
    for id in [&a_id, &b_id] {
        owner.post(&format!("/teams/{team}/members"), json!({"user_id": id})).await.expect(201);
    }
    let mut ws = Ws::connect(&s.url(), a.token.as_deref().unwrap()).await;
    assert_eq!(ws.event().await["event"], "hello");
    // A plain member may not remove others nor change roles.
    check(a.delete(&format!("/teams/{team}/members/{b_id}")).await, 403, "plain member removes");
    let path = format!("/teams/{team}/members/{a_id}/roles");
    check(a.put(&path, json!({"roles": "team_user team_admin"})).await, 403, "promote oneself");
    // The team admin promotes them.
    owner.put(&path, json!({"roles": "team_user team_admin"})).await.expect(200);
    let (ev, _) = ws.until_event("memberrole_updated").await;
    let member: Value = serde_json::from_str(ev["data"]["member"].as_str().expect("member is a JSON string")).unwrap();
    assert_eq!(member["user_id"], a_id.as_str());
    assert_eq!(member["roles"], "team_user team_admin");
    assert_eq!(member["scheme_admin"], true);
    // Now they can remove a member.
    a.delete(&format!("/teams/{team}/members/{b_id}")).await.expect(200);
    let got = a.get(&format!("/teams/{team}/members/me")).await.expect(200).body;
    assert_eq!(got["roles"], "team_user team_admin");
    // Scheme roles: back to a plain user.
    owner
        .put(&format!("/teams/{team}/members/{a_id}/schemeRoles"), json!({"scheme_admin": false, "scheme_user": true}))
        .await
        .expect(200);
    assert_eq!(a.get(&format!("/teams/{team}/members/me")).await.expect(200).body["roles"], "team_user");
    // Explicit (non-scheme) roles are kept beside the scheme flags.
    owner.put(&path, json!({"roles": "team_user team_post_all"})).await.expect(200);
    assert_eq!(a.get(&format!("/teams/{team}/members/me")).await.expect(200).body["roles"], "team_user team_post_all");
    // Bad input.
    for (body, what) in [
        (json!({"roles": "team_user channel_admin"}), "another scope's role"),
        (json!({"roles": "team_user no_such"}), "unknown role"),
        (json!({"roles": "team_guest team_user"}), "guest and user"),
        (json!({}), "no roles"),
        (json!({"roles": 5}), "not a string"),
    ] {
        check(owner.put(&path, body).await, 400, what);
    }
    let scheme = format!("/teams/{team}/members/{a_id}/schemeRoles");
    check(owner.put(&scheme, json!({"scheme_user": true})).await, 400, "scheme_admin missing");
    check(
        owner.put(&scheme, json!({"scheme_admin": true, "scheme_user": true, "scheme_guest": true})).await,
        400,
        "guest too",
    );
    let gone = format!("/teams/{team}/members/{b_id}/roles");
    check(owner.put(&gone, json!({"roles": "team_user"})).await, 404, "not a member");
    check(
        owner
            .put(&format!("/teams/{}/members/{a_id}/roles", starling_protocol::new_id()), json!({"roles": "team_user"}))
            .await,
        404,
        "unknown team",
    );
    check(owner.put("/teams/bad/members/me/roles", json!({"roles": "team_user"})).await, 400, "malformed team id");
}

#[actix_web::test]
async fn channel_member_roles_change_and_the_member_hears_it() {
    let s = TestServer::start().await;
    let c = s.client();
    let (_admin, _) = c.new_user("admin").await;
    let (owner, _) = c.new_user("owner").await;
    let (a, a_id) = c.new_user("a").await;
    let (b_client, b_id) = c.new_user("b").await;
    let team = owner.create_team(true).await;
    for id in [&a_id, &b_id] {
        owner.post(&format!("/teams/{team}/members"), json!({"user_id": id})).await.expect(201);
    }
    let ch = owner.create_channel(&team, false).await;
    for id in [&a_id, &b_id] {
        owner.post(&format!("/channels/{ch}/members"), json!({"user_id": id})).await.expect(201);
    }
    let mut ws = Ws::connect(&s.url(), a.token.as_deref().unwrap()).await;
    assert_eq!(ws.event().await["event"], "hello");
    let path = format!("/channels/{ch}/members/{a_id}/roles");
    check(a.put(&path, json!({"roles": "channel_user channel_admin"})).await, 403, "promote oneself");
    owner.put(&path, json!({"roles": "channel_user channel_admin"})).await.expect(200);
    let (ev, _) = ws.until_event("channel_member_updated").await;
    let member: Value = serde_json::from_str(ev["data"]["channelMember"].as_str().expect("a JSON string")).unwrap();
    assert_eq!(member["roles"], "channel_user channel_admin");
    assert_eq!(member["channel_id"], ch.as_str());
    // A channel admin manages the channel's roles.
    a.put(&format!("/channels/{ch}/members/{b_id}/roles"), json!({"roles": "channel_user channel_admin"}))
        .await
        .expect(200);
    a.put(&format!("/channels/{ch}/members/{b_id}/schemeRoles"), json!({"scheme_admin": false, "scheme_user": true}))
        .await
        .expect(200);
    let b = a.get(&format!("/channels/{ch}/members/{b_id}")).await.expect(200).body;
    assert_eq!(b["roles"], "channel_user");
    check(a.put(&path, json!({"roles": "team_admin"})).await, 400, "another scope's role");
    check(a.put(&path, json!({"roles": "channel_guest channel_admin"})).await, 400, "guest and admin");
    check(
        a.put(
            &format!("/channels/{}/members/{a_id}/roles", starling_protocol::new_id()),
            json!({"roles": "channel_user"}),
        )
        .await,
        404,
        "unknown channel",
    );
    // A member without channel_user cannot post (permissions go through the roles).
    owner
        .put(
            &format!("/channels/{ch}/members/{b_id}/schemeRoles"),
            json!({"scheme_admin": false, "scheme_user": false}),
        )
        .await
        .expect(200);
    check(b_client.post("/posts", json!({"channel_id": ch, "message": "m"})).await, 403, "no channel role");
}

#[actix_web::test]
async fn system_roles_change_at_once_for_the_users_sessions() {
    let s = TestServer::start().await;
    let c = s.client();
    let (admin, _) = c.new_user("admin").await;
    let (u, u_id) = c.new_user("u").await;
    let mut ws = Ws::connect(&s.url(), u.token.as_deref().unwrap()).await;
    assert_eq!(ws.event().await["event"], "hello");
    check(u.get("/config").await, 403, "not an admin yet"); // the session is now cached
    let path = format!("/users/{u_id}/roles");
    check(u.put(&path, json!({"roles": "system_user system_admin"})).await, 403, "promote oneself");
    admin.put(&path, json!({"roles": "system_user system_admin"})).await.expect(200);
    let (ev, _) = ws.until_event("user_role_updated").await;
    assert_eq!(ev["data"], json!({"user_id": u_id, "roles": "system_user system_admin"}));
    u.get("/config").await.expect(200);
    assert_eq!(u.get("/users/me").await.expect(200).body["roles"], "system_user system_admin");
    let sessions =
        count(&s, &format!("SELECT count(*) FROM sessions WHERE user_id = '{u_id}' AND roles LIKE '%system_admin%'"))
            .await;
    assert_eq!(sessions, 1);
    // The websocket stayed open.
    let seq = ws.action("ping", json!({})).await;
    assert_eq!(ws.reply(seq).await.0["status"], "OK");
    admin.put(&path, json!({"roles": "system_user"})).await.expect(200);
    check(u.get("/config").await, 403, "demoted");
    for (body, what) in [
        (json!({"roles": "system_admin"}), "neither user nor guest"),
        (json!({"roles": "system_user team_admin"}), "another scope's role"),
        (json!({"roles": "system_user system_guest"}), "user and guest"),
        (json!({}), "no roles"),
    ] {
        check(admin.put(&path, body).await, 400, what);
    }
    check(
        admin.put(&format!("/users/{}/roles", starling_protocol::new_id()), json!({"roles": "system_user"})).await,
        404,
        "unknown user",
    );
}
