//! Reactions, pinned and saved posts, and custom emoji on one node: every endpoint, who may use
//! it, what bad input gets, and what the posts returned everywhere carry in `metadata`.

mod common;
use common::ws::Ws;
use common::*;
use reqwest::Method;
use serde_json::{json, Value};

struct Setup {
    server: TestServer,
    /// The first user, so a system admin.
    alice: Client,
    alice_id: String,
    bob: Client,
    bob_id: String,
    /// A team member who is not in `channel` (a private channel).
    carol: Client,
    team: String,
    channel: String,
}

async fn setup(change: impl FnOnce(&mut starling::config::Config)) -> Setup {
    let server = TestServer::start_with(change).await;
    let anon = server.client();
    let (alice, alice_id) = anon.new_user("alice").await;
    let (bob, bob_id) = anon.new_user("bob").await;
    let (carol, carol_id) = anon.new_user("carol").await;
    let team = alice.create_team(true).await;
    for u in [&bob_id, &carol_id] {
        alice.post(&format!("/teams/{team}/members"), json!({"user_id": u})).await.expect(201);
    }
    let channel = alice.create_channel(&team, true).await;
    alice.post(&format!("/channels/{channel}/members"), json!({"user_id": bob_id})).await.expect(201);
    Setup { server, alice, alice_id, bob, bob_id, carol, team, channel }
}

fn reaction(user_id: &str, post_id: &str, name: &str) -> Value {
    json!({"user_id": user_id, "post_id": post_id, "emoji_name": name})
}

#[actix_web::test]
async fn reactions_are_added_listed_and_removed_by_members_only() {
    let s = setup(|_| {}).await;
    let post = s.alice.create_post(&s.channel, "react to me").await;
    let pid = post["id"].as_str().unwrap().to_owned();
    let mut ws = Ws::connect(&s.server.url(), s.alice.token.as_deref().unwrap()).await;
    assert_eq!(ws.event().await["event"], "hello");

    let r = s.bob.post("/reactions", reaction(&s.bob_id, &pid, "+1")).await.expect(200).body;
    assert_eq!(r["emoji_name"], "+1");
    assert_eq!(r["post_id"], pid.as_str());
    assert_eq!(r["channel_id"], s.channel.as_str());
    assert!(r["create_at"].as_i64().unwrap() > 0);
    let (ev, _) = ws.until_event("reaction_added").await;
    assert_eq!(ev["broadcast"]["channel_id"], s.channel.as_str());
    let sent: Value =
        serde_json::from_str(ev["data"]["reaction"].as_str().expect("reaction is a JSON string")).unwrap();
    assert_eq!(sent["user_id"], s.bob_id.as_str());
    s.alice.post("/reactions", reaction(&s.alice_id, &pid, "tada")).await.expect(200);
    // Reacting twice with the same emoji keeps one reaction.
    s.alice.post("/reactions", reaction(&s.alice_id, &pid, "tada")).await.expect(200);

    let list = s.alice.get(&format!("/posts/{pid}/reactions")).await.expect(200).body;
    assert_eq!(list.as_array().unwrap().len(), 2);
    // mattermostdriver asks for `/posts/{id}//reactions`: redirected (301) to the clean path.
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = no_redirects.get(format!("{}/api/v4/posts/{pid}//reactions?x=1", s.server.url())).send().await.unwrap();
    assert_eq!(r.status(), 301);
    assert_eq!(r.headers()["location"], format!("/api/v4/posts/{pid}/reactions?x=1").as_str());
    let followed = s.alice.get(&format!("/posts/{pid}//reactions")).await.expect(200).body;
    assert_eq!(followed, list);

    // The post carries them: get, channel list, thread, since, search, posts/ids.
    let p = s.alice.get(&format!("/posts/{pid}")).await.expect(200).body;
    assert_eq!(p["has_reactions"], true);
    assert_eq!(p["metadata"]["reactions"].as_array().unwrap().len(), 2);
    assert!(p["metadata"].get("files").is_none(), "empty parts are left out");
    assert!(p["metadata"].get("emojis").is_none(), "system emoji are not custom emoji");
    assert!(p["update_at"].as_i64().unwrap() > post["update_at"].as_i64().unwrap(), "a reaction bumps update_at");
    let list = s.alice.get(&format!("/channels/{}/posts", s.channel)).await.expect(200).body;
    assert_eq!(list["posts"][&pid]["metadata"]["reactions"].as_array().unwrap().len(), 2);
    let since = post["update_at"].as_i64().unwrap();
    let list = s.alice.get(&format!("/channels/{}/posts?since={since}", s.channel)).await.expect(200).body;
    assert!(list["posts"].get(&pid).is_some(), "a client syncing since sees the reacted post");
    let thread = s.alice.get(&format!("/posts/{pid}/thread")).await.expect(200).body;
    assert_eq!(thread["posts"][&pid]["metadata"]["reactions"].as_array().unwrap().len(), 2);
    let found = s.alice.post(&format!("/teams/{}/posts/search", s.team), json!({"terms": "react"})).await.expect(200);
    assert_eq!(found.body["posts"][&pid]["metadata"]["reactions"].as_array().unwrap().len(), 2);
    let by_ids = s.alice.post("/posts/ids", json!([pid])).await.expect(200).body;
    let first = by_ids.as_array().map(|a| a[0].clone()).unwrap_or_else(|| by_ids["posts"][&pid].clone());
    assert_eq!(first["metadata"]["reactions"].as_array().unwrap().len(), 2);
    let unread = s.alice.get(&format!("/users/me/channels/{}/posts/unread", s.channel)).await.expect(200).body;
    assert_eq!(unread["posts"][&pid]["metadata"]["reactions"].as_array().unwrap().len(), 2);

    // Bulk: every id asked about is in the answer.
    let other = s.alice.create_post(&s.channel, "no reactions").await["id"].as_str().unwrap().to_owned();
    let bulk = s.bob.post("/posts/ids/reactions", json!([pid, other])).await.expect(200).body;
    assert_eq!(bulk[&pid].as_array().unwrap().len(), 2);
    assert_eq!(bulk[&other], json!([]));

    // Not a member of the private channel: no reacting, no reading.
    check(s.carol.post("/reactions", reaction(&carol_id(&s).await, &pid, "+1")).await, 403, "non-member reacts");
    check(s.carol.get(&format!("/posts/{pid}/reactions")).await, 403, "non-member lists");
    check(s.carol.post("/posts/ids/reactions", json!([pid])).await, 403, "non-member bulk");
    // An open channel carol may read but has not joined: still no reacting.
    let open = s.alice.create_channel(&s.team, false).await;
    let open_post = s.alice.create_post(&open, "open").await["id"].as_str().unwrap().to_owned();
    s.carol.get(&format!("/posts/{open_post}/reactions")).await.expect(200);
    check(s.carol.post("/reactions", reaction(&carol_id(&s).await, &open_post, "+1")).await, 403, "non-member reacts");
    // For someone else.
    check(s.bob.post("/reactions", reaction(&s.alice_id, &pid, "+1")).await, 403, "reacting as another user");
    check(s.bob.delete(&format!("/users/{}/posts/{pid}/reactions/tada", s.alice_id)).await, 403, "removing another's");

    // Bad input.
    check(s.bob.post("/reactions", reaction(&s.bob_id, &pid, "")).await, 400, "empty name");
    check(s.bob.post("/reactions", reaction(&s.bob_id, &pid, "no spaces")).await, 400, "bad name");
    check(s.bob.post("/reactions", reaction(&s.bob_id, &pid, &"a".repeat(65))).await, 400, "long name");
    check(s.bob.post("/reactions", reaction(&s.bob_id, "short", "+1")).await, 400, "bad post id");
    check(s.bob.post("/reactions", reaction(&s.bob_id, &starling_protocol::new_id(), "+1")).await, 404, "no post");
    check(send_raw(&s.bob, Method::POST, "/reactions", "{").await, 400, "malformed");
    check(s.bob.post("/posts/ids/reactions", json!(["nope"])).await, 400, "bad bulk id");
    check(s.bob.get("/posts/nope/reactions").await, 400, "bad id in path");
    check(s.bob.delete(&format!("/users/me/posts/{pid}/reactions/a%20b")).await, 400, "bad name in path");

    // Removing: bob's own, through `me`; the event reaches the channel.
    s.bob.delete(&format!("/users/me/posts/{pid}/reactions/+1")).await.expect(200);
    let (ev, _) = ws.until_event("reaction_removed").await;
    assert!(ev["data"]["reaction"].as_str().unwrap().contains("\"+1\""));
    s.alice.delete(&format!("/users/{}/posts/{pid}/reactions/tada", s.alice_id)).await.expect(200);
    let p = s.alice.get(&format!("/posts/{pid}")).await.expect(200).body;
    assert!(p.get("has_reactions").is_none(), "has_reactions is left out once false: {p}");
    assert!(p["metadata"].get("reactions").is_none());

    // An archived channel takes no reactions.
    s.alice.delete(&format!("/channels/{}", s.channel)).await.expect(200);
    check(s.alice.post("/reactions", reaction(&s.alice_id, &pid, "+1")).await, 403, "archived channel");
}

async fn carol_id(s: &Setup) -> String {
    s.carol.get("/users/me").await.expect(200).id()
}

#[actix_web::test]
async fn a_post_takes_at_most_the_configured_number_of_different_emoji() {
    let s = setup(|c| c.service_settings.unique_emoji_reaction_limit_per_post = 2).await;
    let pid = s.alice.create_post(&s.channel, "limit").await["id"].as_str().unwrap().to_owned();
    s.alice.post("/reactions", reaction(&s.alice_id, &pid, "one")).await.expect(200);
    s.bob.post("/reactions", reaction(&s.bob_id, &pid, "two")).await.expect(200);
    let r = check(s.bob.post("/reactions", reaction(&s.bob_id, &pid, "three")).await, 400, "a third emoji");
    assert_eq!(r.body["id"], "app.reaction.save.unique_emoji_limit.app_error");
    // An emoji already on the post is still fine.
    s.bob.post("/reactions", reaction(&s.bob_id, &pid, "one")).await.expect(200);
}

#[actix_web::test]
async fn posts_are_pinned_unpinned_and_listed_and_saved_posts_come_from_preferences() {
    let s = setup(|_| {}).await;
    let p1 = s.alice.create_post(&s.channel, "first").await["id"].as_str().unwrap().to_owned();
    let p2 = s.alice.create_post(&s.channel, "second").await["id"].as_str().unwrap().to_owned();
    let mut ws = Ws::connect(&s.server.url(), s.bob.token.as_deref().unwrap()).await;
    assert_eq!(ws.event().await["event"], "hello");

    s.bob.post(&format!("/posts/{p1}/pin"), json!({})).await.expect(200);
    let (ev, _) = ws.until_event("post_edited").await;
    let edited: Value = serde_json::from_str(ev["data"]["post"].as_str().unwrap()).unwrap();
    assert_eq!(edited["id"], p1.as_str());
    assert_eq!(edited["is_pinned"], true);
    assert_eq!(edited["edit_at"], 0, "a pin is not an edit of the message");
    s.alice.post(&format!("/posts/{p2}/pin"), json!({})).await.expect(200);
    let pinned = s.bob.get(&format!("/channels/{}/pinned", s.channel)).await.expect(200).body;
    assert_eq!(pinned["order"], json!([p2, p1]));
    assert_eq!(pinned["posts"][&p1]["is_pinned"], true);
    let stats = s.bob.get(&format!("/channels/{}/stats", s.channel)).await.expect(200).body;
    assert_eq!(stats["pinnedpost_count"], 2);

    s.bob.post(&format!("/posts/{p2}/unpin"), json!({})).await.expect(200);
    let pinned = s.bob.get(&format!("/channels/{}/pinned", s.channel)).await.expect(200).body;
    assert_eq!(pinned["order"], json!([p1]));
    assert_eq!(s.bob.get(&format!("/channels/{}/stats", s.channel)).await.expect(200).body["pinnedpost_count"], 1);

    // Not a member: no pinning, no list.
    check(s.carol.post(&format!("/posts/{p1}/unpin"), json!({})).await, 403, "non-member unpins");
    check(s.carol.get(&format!("/channels/{}/pinned", s.channel)).await, 403, "non-member lists pins");
    check(s.bob.post("/posts/nope/pin", json!({})).await, 400, "bad id");
    check(s.bob.post(&format!("/posts/{}/pin", starling_protocol::new_id()), json!({})).await, 404, "no post");

    // Saved posts: the flagged_post preferences, only in channels the user is in.
    let town = s.alice.get(&format!("/teams/{}/channels/name/town-square", s.team)).await.expect(200).id();
    let p3 = s.alice.create_post(&town, "in town").await["id"].as_str().unwrap().to_owned();
    let prefs: Vec<Value> = [&p1, &p2, &p3]
        .iter()
        .map(|p| json!({"user_id": s.bob_id, "category": "flagged_post", "name": p, "value": "true"}))
        .collect();
    s.bob.put("/users/me/preferences", json!(prefs)).await.expect(200);
    let saved = s.bob.get("/users/me/posts/flagged").await.expect(200).body;
    assert_eq!(saved["order"], json!([p3, p2, p1]));
    let saved = s.bob.get(&format!("/users/{}/posts/flagged?channel_id={}", s.bob_id, s.channel)).await.expect(200);
    assert_eq!(saved.body["order"], json!([p2, p1]));
    let saved = s.bob.get(&format!("/users/me/posts/flagged?team_id={}&per_page=1&page=1", s.team)).await.expect(200);
    assert_eq!(saved.body["order"], json!([p2]));
    // Unsaving deletes the preference.
    s.bob
        .post("/users/me/preferences/delete", json!([{"user_id": s.bob_id, "category": "flagged_post", "name": p3}]))
        .await
        .expect(200);
    assert_eq!(s.bob.get("/users/me/posts/flagged").await.expect(200).body["order"], json!([p2, p1]));
    // Removed from the channel: its saved posts are no longer listed.
    s.alice.delete(&format!("/channels/{}/members/{}", s.channel, s.bob_id)).await.expect(200);
    assert_eq!(s.bob.get("/users/me/posts/flagged").await.expect(200).body["order"], json!([]));

    check(s.carol.get(&format!("/users/{}/posts/flagged", s.bob_id)).await, 403, "another user's saved posts");
    check(s.bob.get("/users/me/posts/flagged?page=-1").await, 200, "a bad page is the first");
    check(s.bob.get("/users/me/posts/flagged?channel_id=nope").await, 400, "bad channel id");
    check(s.carol.get(&format!("/users/me/posts/flagged?channel_id={}", s.channel)).await, 403, "unreadable channel");
}

#[actix_web::test]
async fn custom_emoji_are_off_by_default() {
    let s = setup(|_| {}).await;
    let r = check(
        upload_emoji(&s.alice, json!({"name": "x", "creator_id": s.alice_id}), Some(png_header(8, 8))).await,
        501,
        "off",
    );
    assert_eq!(r.body["id"], "api.emoji.disabled.app_error");
    check(s.alice.get("/emoji").await, 501, "list while off");
    check(s.alice.get("/emoji/name/parrot").await, 501, "by name while off");
    check(s.alice.post("/emoji/names", json!(["parrot"])).await, 501, "names while off");
    let cfg = s.alice.get("/config/client?format=old").await.expect(200).body;
    assert_eq!(cfg["EnableCustomEmoji"], "false");
}

#[actix_web::test]
async fn custom_emoji_are_uploaded_found_used_in_reactions_and_deleted() {
    let s = setup(|c| c.service_settings.enable_custom_emoji = true).await;
    let cfg = s.alice.get("/config/client?format=old").await.expect(200).body;
    assert_eq!(cfg["EnableCustomEmoji"], "true");
    let mut ws = Ws::connect(&s.server.url(), s.bob.token.as_deref().unwrap()).await;
    assert_eq!(ws.event().await["event"], "hello");

    let image = png_header(64, 48);
    let e = upload_emoji(&s.alice, json!({"name": "party_parrot", "creator_id": s.alice_id}), Some(image.clone()))
        .await
        .expect(200)
        .body;
    let eid = e["id"].as_str().unwrap().to_owned();
    assert_eq!(e["name"], "party_parrot");
    assert_eq!(e["creator_id"], s.alice_id.as_str());
    assert_eq!(e["delete_at"], 0);
    let (ev, _) = ws.until_event("emoji_added").await;
    assert!(ev["data"]["emoji"].as_str().expect("emoji is a JSON string").contains("party_parrot"));
    upload_emoji(&s.bob, json!({"name": "blob-wave", "creator_id": s.bob_id}), Some(png_header(16, 16)))
        .await
        .expect(200);

    // Bad uploads.
    let up = |name: &str, image: Option<Vec<u8>>| {
        upload_emoji(&s.alice, json!({"name": name, "creator_id": s.alice_id}), image)
    };
    check(up("party_parrot", Some(png_header(8, 8))).await, 400, "duplicate name");
    check(up("smile", Some(png_header(8, 8))).await, 400, "a system emoji's name");
    check(up("bad name", Some(png_header(8, 8))).await, 400, "invalid name");
    check(up(&"a".repeat(65), Some(png_header(8, 8))).await, 400, "long name");
    check(up("noimage", None).await, 400, "no image");
    check(up("notimage", Some(b"plain text, not a picture".to_vec())).await, 400, "not an image");
    check(up("huge", Some(png_header(2000, 10))).await, 400, "too many pixels");
    let mut big = png_header(10, 10);
    big.resize(600 * 1024, 0);
    check(up("heavy", Some(big)).await, 413, "over 512 KiB");
    let r = upload_emoji(&s.alice, json!({"name": "theirs", "creator_id": s.bob_id}), Some(png_header(8, 8))).await;
    check(r, 403, "created for someone else");
    let r = upload_emoji(&s.alice, json!("not an object"), Some(png_header(8, 8))).await;
    check(r, 400, "emoji field not JSON of an emoji");
    let r = s.alice.raw(Method::POST, "/emoji", Some(b"{}".to_vec()), "application/json").await;
    check(r, 400, "not multipart");

    // Reading.
    assert_eq!(s.bob.get(&format!("/emoji/{eid}")).await.expect(200).body["name"], "party_parrot");
    assert_eq!(s.bob.get("/emoji/name/party_parrot").await.expect(200).id(), eid);
    check(s.bob.get("/emoji/name/nothere").await, 404, "unknown name");
    check(s.bob.get("/emoji/name/bad%20name").await, 400, "bad name");
    check(s.bob.get(&format!("/emoji/{}", starling_protocol::new_id())).await, 404, "unknown id");
    check(s.bob.get("/emoji/nope").await, 400, "bad id");
    let all = s.bob.get("/emoji?sort=name").await.expect(200).body;
    let names: Vec<&str> = all.as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["blob-wave", "party_parrot"]);
    let page = s.bob.get("/emoji?page=1&per_page=1").await.expect(200).body;
    assert_eq!(page[0]["name"], "blob-wave", "oldest first without a sort");
    check(s.bob.get("/emoji?sort=size").await, 400, "unknown sort");
    let by_names = s.bob.post("/emoji/names", json!(["party_parrot", "smile", "nothere"])).await.expect(200).body;
    assert_eq!(by_names.as_array().unwrap().len(), 1);
    check(s.bob.post("/emoji/names", json!([])).await, 400, "no names");
    let many: Vec<String> = (0..201).map(|i| format!("e{i}")).collect();
    check(s.bob.post("/emoji/names", json!(many)).await, 400, "too many names");
    let found = s.bob.post("/emoji/search", json!({"term": "parrot"})).await.expect(200).body;
    assert_eq!(found.as_array().unwrap().len(), 1);
    let found = s.bob.post("/emoji/search", json!({"term": "parrot", "prefix_only": true})).await.expect(200).body;
    assert_eq!(found, json!([]));
    check(s.bob.post("/emoji/search", json!({"term": ""})).await, 400, "empty term");
    let found = s.bob.post("/emoji/search", json!({"term": "%"})).await.expect(200).body;
    assert_eq!(found, json!([]), "wildcards are literal");
    let auto = s.bob.get("/emoji/autocomplete?name=par").await.expect(200).body;
    assert_eq!(auto[0]["id"], eid.as_str());
    check(s.bob.get("/emoji/autocomplete").await, 400, "no name");

    // The image, as stored, with its type.
    let img = s.bob.get(&format!("/emoji/{eid}/image")).await.expect(200);
    assert_eq!(img.bytes, image);
    assert_eq!(img.headers["content-type"], "image/png");
    assert!(img.headers["cache-control"].to_str().unwrap().contains("max-age"));

    // Used in a reaction and in text: counted in metadata.emojis, everywhere posts come from.
    let post = s.bob.create_post(&s.channel, "look :party_parrot: and :smile:").await;
    let pid = post["id"].as_str().unwrap().to_owned();
    assert_eq!(post["metadata"]["emojis"][0]["name"], "party_parrot", "on create: {post}");
    s.bob.post("/reactions", reaction(&s.bob_id, &pid, "blob-wave")).await.expect(200);
    let p = s.alice.get(&format!("/posts/{pid}")).await.expect(200).body;
    let mut names: Vec<&str> =
        p["metadata"]["emojis"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["blob-wave", "party_parrot"]);

    // Deleting: not someone else's; the reactions made with it go too.
    check(s.carol.delete(&format!("/emoji/{}", by_name(&s.bob, "blob-wave").await)).await, 403, "another's emoji");
    s.bob.delete(&format!("/emoji/{}", by_name(&s.bob, "blob-wave").await)).await.expect(200);
    let p = s.alice.get(&format!("/posts/{pid}")).await.expect(200).body;
    assert!(p["metadata"].get("reactions").is_none(), "its reactions are gone: {p}");
    assert!(p.get("has_reactions").is_none());
    s.alice.delete(&format!("/emoji/{eid}")).await.expect(200);
    check(s.bob.get(&format!("/emoji/{eid}")).await, 404, "deleted");
    check(s.bob.get(&format!("/emoji/{eid}/image")).await, 404, "deleted image");
    // The name is free again.
    up("party_parrot", Some(png_header(8, 8))).await.expect(200);
}

async fn by_name(c: &Client, name: &str) -> String {
    c.get(&format!("/emoji/name/{name}")).await.expect(200).id()
}

/// A real PNG of `w` by `h` pixels.
fn png_image(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbaImage::from_pixel(w, h, image::Rgba([30, 140, 220, 255]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[actix_web::test]
async fn a_large_emoji_is_scaled_down_and_custom_emoji_leave_metadata_while_off() {
    let s = setup(|c| c.service_settings.enable_custom_emoji = true).await;
    // Larger than 128 px: scaled down to fit, proportions kept; a small one is kept as sent.
    let big = upload_emoji(&s.alice, json!({"name": "wide_one", "creator_id": s.alice_id}), Some(png_image(300, 150)))
        .await
        .expect(200)
        .id();
    let stored = s.bob.get(&format!("/emoji/{big}/image")).await.expect(200);
    assert_eq!(stored.headers["content-type"], "image/png");
    let img = image::load_from_memory(&stored.bytes).expect("a PNG");
    assert_eq!((img.width(), img.height()), (128, 64));
    let small = png_image(20, 30);
    let sid = upload_emoji(&s.alice, json!({"name": "small_one", "creator_id": s.alice_id}), Some(small.clone()))
        .await
        .expect(200)
        .id();
    assert_eq!(s.bob.get(&format!("/emoji/{sid}/image")).await.expect(200).bytes, small);
    // A header that promises more than 128 px but holds no picture cannot be scaled: refused.
    let r =
        upload_emoji(&s.alice, json!({"name": "hollow", "creator_id": s.alice_id}), Some(png_header(500, 500))).await;
    check(r, 400, "an undecodable large image");

    let post = s.bob.create_post(&s.channel, "so :wide_one:").await;
    let pid = post["id"].as_str().unwrap().to_owned();
    s.bob.post("/reactions", reaction(&s.bob_id, &pid, "small_one")).await.expect(200);
    let p = s.alice.get(&format!("/posts/{pid}")).await.expect(200).body;
    assert_eq!(p["metadata"]["emojis"].as_array().map(Vec::len), Some(2), "{p}");

    // Custom emoji turned off: posts name none in their metadata; the reactions stay.
    s.alice.put("/config/patch", json!({"ServiceSettings": {"EnableCustomEmoji": false}})).await.expect(200);
    let p = s.alice.get(&format!("/posts/{pid}")).await.expect(200).body;
    assert!(p["metadata"].get("emojis").is_none(), "{p}");
    assert_eq!(p["metadata"]["reactions"].as_array().map(Vec::len), Some(1), "{p}");
    let list = s.alice.get(&format!("/channels/{}/posts", s.channel)).await.expect(200).body;
    assert!(list["posts"][&pid]["metadata"].get("emojis").is_none(), "{list}");
    s.alice.put("/config/patch", json!({"ServiceSettings": {"EnableCustomEmoji": true}})).await.expect(200);
    let p = s.alice.get(&format!("/posts/{pid}")).await.expect(200).body;
    assert_eq!(p["metadata"]["emojis"].as_array().map(Vec::len), Some(2), "back on: {p}");
}
