//! Sidebar categories as the web app and mobile use them: defaults per user and team, channels
//! filed automatically, favouriting by moving a channel, custom categories, order, delete, and the
//! events the user's other sessions get.

mod common;
use common::ws::Ws;
use common::*;
use serde_json::{json, Value};

fn cat<'a>(all: &'a Value, kind: &str) -> &'a Value {
    all["categories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind}: {all}"))
}

fn channel_ids(c: &Value) -> Vec<String> {
    c["channel_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
}

#[actix_web::test]
async fn categories_from_defaults_to_custom_and_back() {
    let s = TestServer::start().await;
    let c = s.client();
    let (_admin, _) = c.new_user("admin").await;
    let (alice, alice_id) = c.new_user("alice").await;
    let (bob, bob_id) = c.new_user("bob").await;
    let team = alice.create_team(true).await;
    let town = alice.get(&format!("/teams/{team}/channels/name/town-square")).await.expect(200).id();
    let off = alice.get(&format!("/teams/{team}/channels/name/off-topic")).await.expect(200).id();
    let base = format!("/users/me/teams/{team}/channels/categories");

    // Defaults, made on first read; `me` and the id name the same user.
    let all = alice.get(&base).await.expect(200).body;
    let kinds: Vec<&str> = all["categories"].as_array().unwrap().iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["favorites", "channels", "direct_messages"]);
    let order: Vec<String> = all["order"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    assert_eq!(order[0], format!("favorites_{alice_id}_{team}"));
    let mut chans = channel_ids(cat(&all, "channels"));
    chans.sort();
    let mut want = vec![town.clone(), off.clone()];
    want.sort();
    assert_eq!(chans, want);
    for k in [
        "id",
        "user_id",
        "team_id",
        "sort_order",
        "sorting",
        "type",
        "display_name",
        "muted",
        "collapsed",
        "channel_ids",
    ] {
        assert!(cat(&all, "favorites").get(k).is_some(), "category has {k}");
    }
    assert_eq!(alice.get(&format!("/users/{alice_id}/teams/{team}/channels/categories")).await.expect(200).body, all);

    // A new channel is filed automatically.
    let ch = alice.create_channel(&team, false).await;
    let all = alice.get(&base).await.expect(200).body;
    assert!(channel_ids(cat(&all, "channels")).contains(&ch));

    // Favouriting is moving the channel into favorites; another session hears it.
    let mut ws = Ws::connect(&s.url(), alice.token.as_deref().unwrap()).await;
    assert_eq!(ws.event().await["event"], "hello");
    let mut fav = cat(&all, "favorites").clone();
    fav["channel_ids"] = json!([town]);
    let updated = alice.put(&base, json!([fav])).await.expect(200).body;
    assert_eq!(channel_ids(&updated[0]), vec![town.clone()]);
    let (ev, _) = ws.until_event("sidebar_category_updated").await;
    assert_eq!(ev["broadcast"]["team_id"], team.as_str());
    let sent: Value = serde_json::from_str(ev["data"]["updatedCategories"].as_str().expect("a JSON string")).unwrap();
    assert_eq!(channel_ids(&sent[0]), vec![town.clone()]);
    let all = alice.get(&base).await.expect(200).body;
    assert!(!channel_ids(cat(&all, "channels")).contains(&town), "a channel is in one category");

    // A custom category, at the top, with a channel moved in.
    let custom = alice.post(&base, json!({"display_name": "Projects", "channel_ids": [ch]})).await.expect(200).body;
    assert_eq!(custom["type"], "custom");
    assert_eq!(channel_ids(&custom), vec![ch.clone()]);
    let (ev, _) = ws.until_event("sidebar_category_created").await;
    assert_eq!(ev["data"]["category_id"], custom["id"]);
    let custom_id = custom["id"].as_str().unwrap().to_owned();
    let all = alice.get(&base).await.expect(200).body;
    assert_eq!(all["order"][0], custom_id.as_str());
    assert!(!channel_ids(cat(&all, "channels")).contains(&ch));
    let one = alice.get(&format!("{base}/{custom_id}")).await.expect(200).body;
    assert_eq!(one["display_name"], "Projects");
    let renamed = alice
        .put(
            &format!("{base}/{custom_id}"),
            json!({"id": custom_id, "display_name": "Work", "sorting": "alpha", "collapsed": true}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(
        (renamed["display_name"].as_str(), renamed["sorting"].as_str(), renamed["collapsed"].as_bool()),
        (Some("Work"), Some("alpha"), Some(true))
    );

    // Order.
    let mut order: Vec<String> = alice
        .get(&format!("{base}/order"))
        .await
        .expect(200)
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    order.reverse();
    alice.put(&format!("{base}/order"), json!(order)).await.expect(200);
    let (ev, _) = ws.until_event("sidebar_category_order_updated").await;
    assert_eq!(ev["data"]["order"], json!(order), "order is a plain array");
    assert_eq!(alice.get(&format!("{base}/order")).await.expect(200).body, json!(order));
    check(alice.put(&format!("{base}/order"), json!(order[1..])).await, 400, "an order missing one");

    // Deleting a custom category sends its channels home; defaults stay.
    check(alice.delete(&format!("{base}/favorites_{alice_id}_{team}")).await, 400, "a default category");
    alice.delete(&format!("{base}/{custom_id}")).await.expect(200);
    let (ev, _) = ws.until_event("sidebar_category_deleted").await;
    assert_eq!(ev["data"]["category_id"], custom_id.as_str());
    let all = alice.get(&base).await.expect(200).body;
    assert!(channel_ids(cat(&all, "channels")).contains(&ch));
    check(alice.get(&format!("{base}/{custom_id}")).await, 404, "deleted");

    // Leaving or archiving a channel takes it out of the sidebar.
    alice.delete(&format!("/channels/{ch}")).await.expect(200);
    let all = alice.get(&base).await.expect(200).body;
    assert!(!channel_ids(cat(&all, "channels")).contains(&ch));
    alice.delete(&format!("/channels/{off}/members/me")).await.expect(200);
    assert!(!channel_ids(cat(&alice.get(&base).await.expect(200).body, "channels")).contains(&off));

    // Bad input and other people's sidebars.
    let fav_id = format!("favorites_{alice_id}_{team}");
    let private = bob.create_team(false).await;
    let bobs = bob.create_channel(&private, true).await;
    for (body, status, what) in [
        (json!([{"id": "nosuchcategory"}]), 404, "unknown category"),
        (json!([{"id": fav_id, "channel_ids": [bobs]}]), 400, "a channel not joined"),
        (json!([{"id": fav_id, "channel_ids": ["bad"]}]), 400, "a malformed channel id"),
        (json!([{"id": fav_id, "display_name": "Mine"}]), 400, "renaming a default"),
        (json!([{"id": fav_id, "sorting": "random"}]), 400, "an unknown sorting"),
        (json!([{"id": fav_id}, {"id": fav_id}]), 400, "the same category twice"),
        (json!([]), 400, "nothing"),
        (json!({"id": fav_id}), 400, "not a list"),
    ] {
        check(alice.put(&base, body).await, status, what);
    }
    check(alice.post(&base, json!({"display_name": "  "})).await, 400, "no name");
    check(bob.get(&format!("/users/{alice_id}/teams/{team}/channels/categories")).await, 403, "another user's");
    check(bob.get(&format!("/users/me/teams/{team}/channels/categories")).await, 403, "a team not joined");
    check(
        alice.get(&format!("/users/me/teams/{}/channels/categories", starling_protocol::new_id())).await,
        404,
        "unknown team",
    );
    check(alice.get(&format!("{base}/bad%20id")).await, 400, "a malformed category id");
    let _ = bob_id;
}
