//! Pictures: generated and uploaded profile pictures (resized, type- and size-checked, reset),
//! their ETag and cache headers, profile patches, team icons; image files' thumbnails, previews
//! and mini previews; public file links on and off. Then across a two-node cluster: a patch made
//! on one node reaches a websocket on the other as `user_updated`, and a picture uploaded on one
//! node is served by the other.

mod common;
use common::cluster::ClusterProcs;
use common::ws::Ws;
use common::*;

use base64::Engine;
use image::{DynamicImage, ImageFormat, RgbImage};
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// A real image of `w` by `h` pixels (a gradient) encoded as `format`.
fn picture(w: u32, h: u32, format: ImageFormat) -> Vec<u8> {
    let img = RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
    let mut out = std::io::Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(img).write_to(&mut out, format).expect("encode");
    out.into_inner()
}

fn decoded(bytes: &[u8], format: ImageFormat) -> DynamicImage {
    image::load_from_memory_with_format(bytes, format).expect("a decodable image")
}

async fn send_form(c: &Client, path: &str, form: Form) -> Resp {
    let mut rb = c.http.post(format!("{}/api/v4{path}", c.base)).multipart(form);
    if let Some(t) = &c.token {
        rb = rb.bearer_auth(t);
    }
    Client::finish(rb.send().await.expect("request reaches the node")).await
}

/// `POST {path}` with one multipart `image` part.
async fn upload_image(c: &Client, path: &str, bytes: Vec<u8>, name: &str) -> Resp {
    send_form(c, path, Form::new().part("image", Part::bytes(bytes).file_name(name.to_owned()))).await
}

/// `POST /files` with one file in `channel`; its FileInfo.
async fn upload_file(c: &Client, channel: &str, name: &str, bytes: Vec<u8>) -> Value {
    let form =
        Form::new().text("channel_id", channel.to_owned()).part("files", Part::bytes(bytes).file_name(name.to_owned()));
    check(send_form(c, "/files", form).await, 201, "upload").body["file_infos"][0].clone()
}

fn header<'a>(r: &'a Resp, name: &str) -> &'a str {
    r.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// Every regular file under `dir`, recursively, relative to it.
fn stored_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p: PathBuf = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

#[actix_web::test]
async fn a_user_without_a_picture_gets_a_generated_png_that_caches() {
    let server = TestServer::start().await;
    let (alice, alice_id) = server.client().new_user("alice").await;
    let r = check(alice.get(&format!("/users/{alice_id}/image?_=0")).await, 200, "generated picture");
    assert_eq!(header(&r, "content-type"), "image/png");
    assert_eq!(header(&r, "cache-control"), "max-age=86400, private");
    assert_eq!(header(&r, "etag"), "\"0\"", "the ETag is last_picture_update");
    let img = decoded(&r.bytes, ImageFormat::Png);
    assert_eq!((img.width(), img.height()), (128, 128));
    let default = check(alice.get("/users/me/image/default").await, 200, "default picture");
    assert_eq!(default.bytes, r.bytes, "with no upload, the picture is the default one");

    // A client holding the ETag gets 304 and no body.
    let again = alice
        .http
        .get(format!("{}/api/v4/users/{alice_id}/image", alice.base))
        .bearer_auth(alice.token.as_deref().unwrap())
        .header("If-None-Match", "\"0\"")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 304);

    // Another user's picture is another picture; an unknown user is 404; no login is 401.
    let (bob_id, _) = server.client().create_user("bob").await;
    let bob_pic = check(alice.get(&format!("/users/{bob_id}/image")).await, 200, "bob's picture");
    assert_ne!(bob_pic.bytes, r.bytes);
    check(alice.get(&format!("/users/{}/image", starling_protocol::new_id())).await, 404, "unknown user");
    check(server.client().get(&format!("/users/{alice_id}/image")).await, 401, "no session");
}

#[actix_web::test]
async fn an_uploaded_picture_is_resized_served_and_reset() {
    let server = TestServer::start().await;
    let (alice, alice_id) = server.client().new_user("alice").await;
    let generated = alice.get("/users/me/image").await.bytes;

    check(upload_image(&alice, "/users/me/image", picture(300, 200, ImageFormat::Jpeg), "me.jpg").await, 200, "upload");
    let me = alice.get("/users/me").await.expect(200).body;
    let updated = me["last_picture_update"].as_i64().unwrap();
    assert!(updated > 0, "last_picture_update is bumped: {me}");
    let r = check(alice.get(&format!("/users/{alice_id}/image?_={updated}")).await, 200, "uploaded picture");
    assert_eq!(header(&r, "etag"), format!("\"{updated}\""));
    assert_ne!(r.bytes, generated);
    let img = decoded(&r.bytes, ImageFormat::Png);
    assert_eq!((img.width(), img.height()), (128, 128), "filled to 128x128");
    let stored = stored_files(Path::new(&server.config.file_settings.directory));
    assert_eq!(stored, vec![format!("users/{alice_id}/profile.png")], "the picture lives in the file store");

    // Small and other formats too: a GIF and a WebP are accepted.
    check(upload_image(&alice, "/users/me/image", picture(40, 20, ImageFormat::Gif), "a.gif").await, 200, "gif");
    check(upload_image(&alice, "/users/me/image", picture(40, 20, ImageFormat::WebP), "a.webp").await, 200, "webp");

    // Back to the generated picture: a negative last_picture_update, a new URL for clients.
    check(alice.delete("/users/me/image").await, 200, "reset");
    let me = alice.get("/users/me").await.expect(200).body;
    assert!(me["last_picture_update"].as_i64().unwrap() < 0, "{me}");
    assert_eq!(alice.get("/users/me/image").await.expect(200).bytes, generated);
    assert_eq!(stored_files(Path::new(&server.config.file_settings.directory)), Vec::<String>::new());
}

#[actix_web::test]
async fn pictures_that_are_not_images_or_too_large_are_refused_cleanly() {
    let server = TestServer::start().await;
    let (alice, _) = server.client().new_user("alice").await;
    let r = check(
        upload_image(&alice, "/users/me/image", b"just some text, not an image".to_vec(), "a.png").await,
        400,
        "a text file",
    );
    assert_eq!(r.body["id"], "api.user.upload_profile_user.decode_config.app_error");

    // 100000x100000 pixels in the header: refused before anything is decoded.
    let r = check(upload_image(&alice, "/users/me/image", png_header(100_000, 100_000), "huge.png").await, 400, "huge");
    assert_eq!(r.body["id"], "api.user.upload_profile_user.check_image_limits.app_error");

    // A header within the limits over a body that is not an image: a 400, not a 500.
    let mut lying = png_header(64, 64);
    lying.extend_from_slice(&[0xde; 200]);
    let r = check(upload_image(&alice, "/users/me/image", lying, "lying.png").await, 400, "corrupt");
    assert_eq!(r.body["id"], "api.user.upload_profile_user.decode.app_error");

    let r = check(send_form(&alice, "/users/me/image", Form::new().text("other", "x")).await, 400, "no image field");
    assert_eq!(r.body["id"], "api.user.upload_profile_user.no_file.app_error");
    let me = alice.get("/users/me").await.expect(200).body;
    assert_eq!(me["last_picture_update"], 0, "nothing changed");

    // MaxImageResolution is the limit: a small one refuses a 300x200 image.
    let strict = TestServer::start_with(|c| c.file_settings.max_image_resolution = 10_000).await;
    let (carol, _) = strict.client().new_user("carol").await;
    let r = check(
        upload_image(&carol, "/users/me/image", picture(300, 200, ImageFormat::Png), "p.png").await,
        400,
        "limit",
    );
    assert_eq!(r.body["id"], "api.user.upload_profile_user.check_image_limits.app_error");
}

#[actix_web::test]
async fn only_the_user_or_an_admin_changes_a_picture_or_profile() {
    let server = TestServer::start().await;
    let (admin, _) = server.client().new_user("admin").await;
    let (alice, alice_id) = server.client().new_user("alice").await;
    let (bob, _) = server.client().new_user("bob").await;
    let png = picture(64, 64, ImageFormat::Png);
    check(upload_image(&bob, &format!("/users/{alice_id}/image"), png.clone(), "p.png").await, 403, "bob for alice");
    check(bob.delete(&format!("/users/{alice_id}/image")).await, 403, "bob resets alice");
    check(bob.put(&format!("/users/{alice_id}/patch"), json!({"nickname": "x"})).await, 403, "bob patches alice");
    check(upload_image(&admin, &format!("/users/{alice_id}/image"), png, "p.png").await, 200, "admin for alice");
    let patched = admin.put(&format!("/users/{alice_id}/patch"), json!({"position": "chief"})).await.expect(200).body;
    assert_eq!(patched["position"], "chief");
    let seen = alice.get("/users/me").await.expect(200).body;
    assert!(seen["last_picture_update"].as_i64().unwrap() > 0);
    assert_eq!(seen["position"], "chief");
}

#[actix_web::test]
async fn a_patch_changes_only_the_fields_sent() {
    let server = TestServer::start().await;
    let (alice, _) = server.client().new_user("alice").await;
    let before = alice.get("/users/me").await.expect(200).body;
    let status = json!({"emoji": "calendar", "text": "In a meeting"}).to_string();
    let body = json!({
        "first_name": "Alice", "last_name": "Liddell", "nickname": "al", "position": "explorer", "locale": "fr",
        "timezone": {"useAutomaticTimezone": "false", "manualTimezone": "Europe/Paris", "automaticTimezone": ""},
        "props": {"customStatus": status},
    });
    let after = alice.put("/users/me/patch", body).await.expect(200).body;
    assert_eq!(after["first_name"], "Alice");
    assert_eq!(after["last_name"], "Liddell");
    assert_eq!(after["nickname"], "al");
    assert_eq!(after["position"], "explorer");
    assert_eq!(after["locale"], "fr");
    assert_eq!(after["timezone"]["manualTimezone"], "Europe/Paris");
    assert_eq!(after["props"]["customStatus"], status.as_str());
    assert_eq!(after["email"], before["email"], "what was not sent stays");
    assert_eq!(after["notify_props"], before["notify_props"]);
    assert!(after["update_at"].as_i64() > before["update_at"].as_i64());
    let read = alice.get("/users/me").await.expect(200).body;
    assert_eq!(read["props"]["customStatus"], status.as_str(), "stored");

    let notify = alice.put("/users/me/patch", json!({"notify_props": {"desktop": "all"}})).await.expect(200).body;
    assert_eq!(notify["notify_props"], json!({"desktop": "all"}), "a map is replaced whole, as Mattermost does");
    assert_eq!(notify["first_name"], "Alice");

    // A new username, checked as at sign-up and unique.
    let (_, bob_name) = server.client().create_user("bob").await;
    let renamed = alice.put("/users/me/patch", json!({"username": "Alice.New"})).await.expect(200).body;
    assert_eq!(renamed["username"], "alice.new");
    let r = check(alice.put("/users/me/patch", json!({"username": bob_name})).await, 400, "a taken username");
    assert_eq!(r.body["id"], "app.user.save.username_exists.app_error");
    check(alice.put("/users/me/patch", json!({"username": "1bad"})).await, 400, "an invalid username");
    assert_eq!(alice.get("/users/me").await.expect(200).body["username"], "alice.new");

    check(alice.put("/users/me/patch", json!({"props": {"n": 1}})).await, 400, "props must be strings");
    check(alice.put("/users/me/patch", json!({"nickname": "n".repeat(65)})).await, 400, "nickname too long");
    check(alice.put("/users/me/patch", json!({"locale": "much-too-long"})).await, 400, "locale");
    check(send_raw(&alice, reqwest::Method::PUT, "/users/me/patch", "{not json").await, 400, "malformed");
    // The status route takes `me` too (mobile asks for it).
    let status = alice.get("/users/me/status").await.expect(200).body;
    assert_eq!(status["user_id"], read["id"]);
}

#[actix_web::test]
async fn team_icons_are_set_served_and_removed_by_team_admins() {
    let server = TestServer::start().await;
    let (admin, _) = server.client().new_user("admin").await;
    let (owner, _) = server.client().new_user("owner").await;
    let (member, member_id) = server.client().new_user("member").await;
    let (outsider, _) = server.client().new_user("outsider").await;
    let team = owner.create_team(false).await;
    owner.post(&format!("/teams/{team}/members"), json!({"team_id": team, "user_id": member_id})).await.expect(201);
    let r = check(owner.get(&format!("/teams/{team}/image")).await, 404, "no icon yet");
    assert_eq!(r.body["id"], "api.team.get_team_icon.read_file.app_error");

    let png = picture(256, 256, ImageFormat::Png);
    check(upload_image(&member, &format!("/teams/{team}/image"), png.clone(), "i.png").await, 403, "a member");
    check(upload_image(&owner, &format!("/teams/{team}/image"), b"nope".to_vec(), "i.png").await, 400, "not an image");
    check(upload_image(&owner, &format!("/teams/{team}/image"), png, "i.png").await, 200, "the team admin");
    let t = owner.get(&format!("/teams/{team}")).await.expect(200).body;
    let updated = t["last_team_icon_update"].as_i64().unwrap();
    assert!(updated > 0, "{t}");
    let icon = check(member.get(&format!("/teams/{team}/image?_={updated}")).await, 200, "a member sees it");
    assert_eq!(header(&icon, "content-type"), "image/png");
    let img = decoded(&icon.bytes, ImageFormat::Png);
    assert_eq!((img.width(), img.height()), (128, 128));
    check(outsider.get(&format!("/teams/{team}/image")).await, 403, "an invite-only team's outsider");
    let r = check(admin.get(&format!("/teams/{team}/image")).await, 200, "a system admin");
    assert_eq!(r.bytes, icon.bytes);

    check(member.delete(&format!("/teams/{team}/image")).await, 403, "a member removes");
    check(owner.delete(&format!("/teams/{team}/image")).await, 200, "removed");
    check(owner.get(&format!("/teams/{team}/image")).await, 404, "gone");
    let t = owner.get(&format!("/teams/{team}")).await.expect(200).body;
    assert_eq!(t["last_team_icon_update"], 0);
}

#[actix_web::test]
async fn image_files_get_thumbnails_previews_and_a_mini_preview_at_upload() {
    let server = TestServer::start().await;
    let (alice, alice_id) = server.client().new_user("alice").await;
    let team = alice.create_team(true).await;
    let channel = alice.create_channel(&team, false).await;
    let info = upload_file(&alice, &channel, "wide.png", picture(2400, 600, ImageFormat::Png)).await;
    assert_eq!(info["has_preview_image"], true, "{info}");
    assert_eq!((info["width"].as_i64(), info["height"].as_i64()), (Some(2400), Some(600)));
    let mini = base64::engine::general_purpose::STANDARD.decode(info["mini_preview"].as_str().unwrap()).unwrap();
    let mini = decoded(&mini, ImageFormat::Jpeg);
    assert_eq!((mini.width(), mini.height()), (16, 16), "a tiny JPEG");
    let id = info["id"].as_str().unwrap().to_owned();

    let thumb = check(alice.get(&format!("/files/{id}/thumbnail")).await, 200, "thumbnail");
    assert_eq!(header(&thumb, "content-type"), "image/jpeg");
    let t = decoded(&thumb.bytes, ImageFormat::Jpeg);
    assert_eq!((t.width(), t.height()), (120, 30), "fit in 120x100");
    let preview = check(alice.get(&format!("/files/{id}/preview")).await, 200, "preview");
    let p = decoded(&preview.bytes, ImageFormat::Jpeg);
    assert_eq!((p.width(), p.height()), (1920, 480), "at most 1920 wide");

    // Stored beside the file, with Mattermost's names.
    let day_dir_files = stored_files(Path::new(&server.config.file_settings.directory));
    let base = format!("/teams/noteam/channels/{channel}/users/{alice_id}/{id}/");
    for name in ["wide.png", "wide_thumb.jpg", "wide_preview.jpg"] {
        assert!(day_dir_files.iter().any(|f| f.ends_with(&format!("{base}{name}"))), "{name} in {day_dir_files:?}");
    }
    // The info read back says the same.
    let again = alice.get(&format!("/files/{id}/info")).await.expect(200).body;
    assert_eq!(again["mini_preview"], info["mini_preview"]);
    assert_eq!(again["has_preview_image"], true);

    // A small JPEG keeps its size; a text file has no pictures.
    let small = upload_file(&alice, &channel, "small.jpg", picture(50, 40, ImageFormat::Jpeg)).await;
    assert_eq!((small["width"].as_i64(), small["height"].as_i64()), (Some(50), Some(40)));
    let sid = small["id"].as_str().unwrap();
    let t = decoded(&alice.get(&format!("/files/{sid}/thumbnail")).await.expect(200).bytes, ImageFormat::Jpeg);
    assert_eq!((t.width(), t.height()), (50, 40), "not enlarged");
    let text = upload_file(&alice, &channel, "notes.txt", b"hello".to_vec()).await;
    assert_eq!(text["has_preview_image"], false);
    assert_eq!(text["mini_preview"], Value::Null);
    assert_eq!((text["width"].as_i64(), text["height"].as_i64()), (Some(0), Some(0)));
    let tid = text["id"].as_str().unwrap();
    let r = check(alice.get(&format!("/files/{tid}/thumbnail")).await, 400, "no thumbnail");
    assert_eq!(r.body["id"], "api.file.get_file_thumbnail.no_thumbnail.app_error");
    check(alice.get(&format!("/files/{tid}/preview")).await, 400, "no preview");

    // An image named .png that is not one is stored, without pictures.
    let fake = upload_file(&alice, &channel, "fake.png", b"not really a png".to_vec()).await;
    assert_eq!(fake["has_preview_image"], false);
    // Another user outside the channel may not read the thumbnail.
    let (bob, _) = server.client().new_user("bob").await;
    check(bob.get(&format!("/files/{id}/thumbnail")).await, 403, "bob");
}

/// A raw GET outside `/api/v4` (the public file route), with no session.
async fn get_root(base: &str, path_and_query: &str) -> Resp {
    Client::finish(reqwest::get(format!("{base}{path_and_query}")).await.expect("reaches the node")).await
}

#[actix_web::test]
async fn public_links_work_only_while_enabled() {
    let off = TestServer::start().await;
    let (alice, _) = off.client().new_user("alice").await;
    let team = alice.create_team(true).await;
    let channel = alice.create_channel(&team, false).await;
    let info = upload_file(&alice, &channel, "a.txt", b"public bytes".to_vec()).await;
    let id = info["id"].as_str().unwrap().to_owned();
    alice.post("/posts", json!({"channel_id": channel, "message": "file", "file_ids": [id]})).await.expect(201);
    let r = check(alice.get(&format!("/files/{id}/link")).await, 403, "link while disabled");
    assert_eq!(r.body["id"], "api.file.get_public_link.disabled.app_error");
    check(get_root(&off.url(), &format!("/files/{id}/public?h=abc")).await, 501, "public file while disabled");

    let on = TestServer::start_with(|c| c.file_settings.enable_public_link = true).await;
    let (alice, _) = on.client().new_user("alice").await;
    let team = alice.create_team(true).await;
    let channel = alice.create_channel(&team, false).await;
    let info = upload_file(&alice, &channel, "a.txt", b"public bytes".to_vec()).await;
    let id = info["id"].as_str().unwrap().to_owned();
    let r = check(alice.get(&format!("/files/{id}/link")).await, 400, "a file not attached to a post");
    assert_eq!(r.body["id"], "api.file.get_public_link.no_post.app_error");
    alice.post("/posts", json!({"channel_id": channel, "message": "file", "file_ids": [id]})).await.expect(201);
    let link = alice.get(&format!("/files/{id}/link")).await.expect(200).body["link"].as_str().unwrap().to_owned();
    let prefix = format!("{}/files/{id}/public?h=", on.url());
    assert!(link.starts_with(&prefix), "{link}");
    let got = reqwest::get(&link).await.unwrap();
    assert_eq!(got.status().as_u16(), 200, "no login needed");
    assert_eq!(got.bytes().await.unwrap().as_ref(), b"public bytes");
    let via_api = check(
        get_root(&on.url(), &format!("/api/v4/files/{id}/public?h={}", &link[prefix.len()..])).await,
        200,
        "the API path",
    );
    assert_eq!(via_api.bytes, b"public bytes");
    let again = alice.get(&format!("/files/{id}/link")).await.expect(200).body;
    assert_eq!(again["link"], link.as_str(), "the link is stable");

    let r = check(get_root(&on.url(), &format!("/files/{id}/public?h=AAAA")).await, 400, "a wrong hash");
    assert_eq!(r.body["id"], "api.file.get_file.public_invalid.app_error");
    check(get_root(&on.url(), &format!("/files/{id}/public")).await, 400, "no hash");
    let other = upload_file(&alice, &channel, "b.txt", b"other".to_vec()).await;
    alice.post("/posts", json!({"channel_id": channel, "message": "b", "file_ids": [other["id"]]})).await.expect(201);
    let oid = other["id"].as_str().unwrap();
    check(
        get_root(&on.url(), &format!("/files/{oid}/public?h={}", &link[prefix.len()..])).await,
        400,
        "another file's hash",
    );
    let (bob, _) = on.client().new_user("bob").await;
    check(bob.get(&format!("/files/{id}/link")).await, 403, "a user who cannot read the file");
}

#[actix_web::test]
async fn patches_and_pictures_made_on_one_node_reach_the_other() {
    let c = ClusterProcs::start(2, &[]).await;
    let (n1, n2) = (c.client(0), c.client(1));
    let (alice, alice_id) = n1.new_user("alice").await;
    let (_, bob_name) = n1.create_user("bob").await;
    let bob2 = n2.login(&bob_name).await;
    assert!(c.all_green(&alice).await, "the nodes see each other");
    let mut ws = Ws::connect(&c.nodes[1].url(), bob2.token.as_deref().unwrap()).await;
    assert_eq!(ws.event().await["event"], "hello");

    alice.put("/users/me/patch", json!({"nickname": "wonder"})).await.expect(200);
    let (ev, _) = ws.until_event("user_updated").await;
    let user = &ev["data"]["user"];
    assert!(user.is_object(), "user is an object, not a string: {ev}");
    assert_eq!(user["id"], alice_id.as_str());
    assert_eq!(user["nickname"], "wonder");
    assert_eq!(user["notify_props"], json!({}), "sanitized: others do not see notify props");
    assert!(user.get("password").is_none());

    let pic = picture(200, 200, ImageFormat::Png);
    check(upload_image(&alice, "/users/me/image", pic, "p.png").await, 200, "upload on node 1");
    let (ev, _) = ws.until_event("user_updated").await;
    let updated = ev["data"]["user"]["last_picture_update"].as_i64().unwrap();
    assert!(updated > 0, "{ev}");
    let on1 = alice.get(&format!("/users/{alice_id}/image?_={updated}")).await.expect(200);
    let on2 = bob2.get(&format!("/users/{alice_id}/image?_={updated}")).await.expect(200);
    assert_eq!(on1.bytes, on2.bytes, "node 2 serves the picture node 1 stored");
    assert_eq!(header(&on2, "etag"), format!("\"{updated}\""));
    let default = bob2.get(&format!("/users/{alice_id}/image/default")).await.expect(200);
    assert_ne!(default.bytes, on2.bytes);
}
