//! The mobile app's startup sequence (client-surface.md §1.4 and §2b), as raw HTTP, end to end
//! against a three-node cluster behind NGINX: add the server, log in, open the websocket with the
//! header and an authentication_challenge, load the entry data of the first team, open a channel
//! and a DM, the deferred calls, a channel switch; nothing answers 401 or 5xx, and what the app
//! refuses a server for (a version below 9.11.0, no DiagnosticId) is right.

mod common;
use common::cluster::ClusterProcs;
use common::nginx::Nginx;
use common::ws::Ws;
use common::*;
use reqwest::Method;
use serde_json::{json, Value};

/// One call of the sequence: never a 401 or a 5xx; returns the response.
async fn call(c: &Client, method: Method, path: &str, body: Option<Value>) -> Resp {
    let r = c.raw(method.clone(), path, body.map(|b| b.to_string().into_bytes()), "application/json").await;
    let s = r.status.as_u16();
    assert!(s != 401 && s < 500, "{method} {path}: {s} {}", r.body);
    r
}

async fn ok(c: &Client, method: Method, path: &str, body: Option<Value>) -> Value {
    let r = call(c, method.clone(), path, body).await;
    assert!(r.status.is_success(), "{method} {path}: {} {}", r.status, r.body);
    r.body
}

fn version_of(r: &Resp) -> (u32, u32, u32) {
    let v = r.headers.get("x-version-id").and_then(|v| v.to_str().ok()).expect("X-Version-Id");
    let p: Vec<u32> = v.split('.').take(3).map(|x| x.parse().unwrap()).collect();
    (p[0], p[1], p[2])
}

#[actix_web::test]
async fn the_mobile_startup_sequence_succeeds_through_nginx_on_three_nodes() {
    let c = ClusterProcs::start(3, &[]).await;
    let ports: Vec<u16> = c.nodes.iter().map(|n| n.http_port).collect();
    let nginx = Nginx::start(&ports);
    let front = Client::new(&nginx.url());
    assert!(
        wait_until(std::time::Duration::from_secs(10), || async {
            reqwest::get(format!("{}/api/v4/system/ping", nginx.url())).await.is_ok_and(|r| r.status().is_success())
        })
        .await
    );
    // Someone to talk to, with a team, a channel and a DM.
    let (admin, _) = c.client(0).new_user("admin").await;
    assert!(c.all_green(&admin).await);
    let (alice, alice_id) = c.client(1).new_user("alice").await;
    let (me_id, me_name) = c.client(2).create_user("mobile").await;
    let team = alice.create_team(true).await;
    alice.post(&format!("/teams/{team}/members"), json!({"user_id": me_id})).await.expect(201);
    let dm = alice.post("/channels/direct", json!([alice_id, me_id])).await.expect(201).id();
    alice.create_post(&dm, "are you there?").await;

    // Add server: HEAD, ping, config, license.
    let head = reqwest::Client::new().head(nginx.url()).send().await.unwrap();
    assert!(head.status().as_u16() < 500);
    let r = call(&front, Method::GET, "/system/ping?time=1&device_id=apple_rn-v2:xyz", None).await;
    assert_eq!(r.body["status"], "OK");
    assert!(version_of(&r) >= (9, 11, 0), "below 9.11.0 the app logs its user out");
    let config = ok(&front, Method::GET, "/config/client?format=old", None).await;
    assert!(!config["DiagnosticId"].as_str().unwrap_or("").is_empty(), "the app refuses a server without one");
    let v: Vec<u32> = config["Version"].as_str().unwrap().split('.').map(|x| x.parse().unwrap()).collect();
    assert!((v[0], v[1]) >= (10, 11), "below 10.11.0 the app warns admins the server is unsupported");
    ok(&front, Method::GET, "/license/client?format=old", None).await;

    // Login, as the app sends it; the session comes in the Token header.
    let login = json!({"device_id": "apple_rn-v2:xyz", "voip_device_id": "", "login_id": me_name, "password": "password-1", "token": ""});
    let r = call(&front, Method::POST, "/users/login", Some(login)).await;
    assert_eq!(r.status, 200);
    let token = r.headers.get("Token").and_then(|v| v.to_str().ok()).expect("Token header").to_owned();
    let me = front.with_token(&token);

    // Websocket: the header on the upgrade and an authentication_challenge; hello comes first.
    let mut ws = Ws::connect(&nginx.url(), &token).await;
    let seq = ws.action("authentication_challenge", json!({"token": token})).await;
    let hello = ws.json().await;
    assert_eq!(hello["event"], "hello", "{hello}");
    let (reply, _) = ws.reply(seq).await;
    assert_eq!(reply["status"], "OK");

    // First connect.
    ok(&me, Method::PUT, "/users/sessions/device", Some(json!({"device_id": "apple_rn-v2:xyz"}))).await;
    ok(&me, Method::GET, "/config/client?format=old", None).await;
    ok(&me, Method::GET, "/license/client?format=old", None).await;
    ok(&me, Method::GET, "/users/me/preferences", None).await;
    let teams = ok(&me, Method::GET, "/users/me/teams", None).await;
    assert_eq!(teams[0]["id"], team.as_str());
    let members = ok(&me, Method::GET, "/users/me/teams/members", None).await;
    assert!(members[0]["roles"].is_string());
    let user = ok(&me, Method::GET, "/users/me", None).await;
    assert!(user["roles"].is_string());
    let status = ok(&me, Method::GET, "/users/me/status", None).await;
    assert!(status["status"].is_string());
    let channels =
        ok(&me, Method::GET, &format!("/users/me/teams/{team}/channels?include_deleted=false&last_delete_at=0"), None)
            .await;
    assert!(
        channels.as_array().unwrap().iter().any(|c| c["id"] == dm.as_str()),
        "the DM comes with the team's channels"
    );
    let town = channels.as_array().unwrap().iter().find(|c| c["name"] == "town-square").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let my_members = ok(&me, Method::GET, &format!("/users/me/teams/{team}/channels/members"), None).await;
    assert_eq!(my_members.as_array().unwrap().len(), channels.as_array().unwrap().len());
    let cats = ok(&me, Method::GET, &format!("/users/me/teams/{team}/channels/categories"), None).await;
    assert_eq!(cats["order"].as_array().unwrap().len(), 3);

    // The visible channel.
    let posts = ok(
        &me,
        Method::GET,
        &format!("/channels/{town}/posts?page=0&per_page=60&collapsedThreads=false&collapsedThreadsExtended=false"),
        None,
    )
    .await;
    assert!(posts["order"].is_array());
    ok(&me, Method::POST, "/users/ids", Some(json!([alice_id]))).await;
    ok(&me, Method::POST, "/users/usernames", Some(json!([me_name]))).await;
    let view = json!({"channel_id": town, "prev_channel_id": "", "collapsed_threads_supported": true});
    ok(&me, Method::POST, "/channels/members/me/view", Some(view)).await;

    // Deferred work: DM names, profiles, joinable teams, roles, unread DMs first.
    let in_dm = ok(&me, Method::GET, &format!("/users?in_channel={dm}&page=0&per_page=60"), None).await;
    assert_eq!(in_dm.as_array().unwrap().len(), 2);
    ok(&me, Method::POST, "/users/ids?since=0", Some(json!([alice_id]))).await;
    ok(&me, Method::GET, "/teams?page=0&per_page=60", None).await;
    let mut names: Vec<String> = user["roles"].as_str().unwrap().split(' ').map(str::to_owned).collect();
    names.extend(members[0]["roles"].as_str().unwrap().split(' ').map(str::to_owned));
    names.extend(my_members[0]["roles"].as_str().unwrap().split(' ').map(str::to_owned));
    let roles = ok(&me, Method::POST, "/roles/names", Some(json!(names))).await;
    assert!(roles
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["permissions"].as_array().unwrap().contains(&json!("create_post"))));
    let dm_member = my_members.as_array().unwrap().iter().find(|m| m["channel_id"] == dm.as_str()).unwrap();
    assert_eq!(dm_member["mention_count"], 1, "the DM shows its badge");
    let dm_posts = ok(&me, Method::GET, &format!("/channels/{dm}/posts?page=0&per_page=60"), None).await;
    assert_eq!(dm_posts["order"].as_array().unwrap().len(), 1);
    call(&me, Method::GET, "/agents/status", None).await; // a JSON 404 is harmless

    // Channel switch to the DM.
    let view = json!({"channel_id": dm, "prev_channel_id": town, "collapsed_threads_supported": true});
    ok(&me, Method::POST, "/channels/members/me/view", Some(view)).await;
    let stats = ok(&me, Method::GET, &format!("/channels/{dm}/stats"), None).await;
    assert_eq!(stats["member_count"], 2);
    ok(&me, Method::POST, "/users/status/ids", Some(json!([alice_id, me_id]))).await;

    // And the socket hears a reply made through another node.
    let p = alice.create_post(&dm, "yes?").await;
    loop {
        let ev = ws.event().await;
        if ev["event"] == "posted" && ev["data"]["post"].as_str().unwrap().contains(p["id"].as_str().unwrap()) {
            break;
        }
    }
}
