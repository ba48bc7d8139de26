//! Hostile input: a NUL character (U+0000) anywhere in a body, a path or a query is a clean 4xx in
//! Mattermost's error shape, never a 5xx, and no answer carries the database's own words.

mod common;
use common::*;

use reqwest::Method;
use serde_json::json;

/// Text PostgreSQL would have said about a NUL, or about anything else.
fn assert_no_internal_text(r: &Resp, what: &str) {
    let text = String::from_utf8_lossy(&r.bytes).to_lowercase();
    for leak in [
        "0x00",
        "utf8",
        "sqlstate",
        "database error",
        "postgres",
        "invalid byte sequence",
        "relation",
        "does not exist",
    ] {
        assert!(!text.contains(leak), "{what}: the answer leaks {leak:?}: {text}");
    }
}

fn refused(r: Resp, status: u16, what: &str) {
    assert_no_internal_text(&r, what);
    check(r, status, what);
}

#[actix_web::test]
async fn a_nul_in_any_input_is_a_clean_client_error() {
    let server = TestServer::start().await;
    let anon = server.client();
    let (admin, _) = anon.new_user("admin").await; // the first user is the system admin
    let team = admin.create_team(true).await;
    let channel = admin.create_channel(&team, false).await;
    let post = admin.create_post(&channel, "hello").await;
    let post_id = post["id"].as_str().expect("post id").to_owned();
    let nul = "a\u{0}b";

    // Bodies: the escaped form (what JSON encoders write) and a raw NUL byte.
    let bodies = [
        (Method::POST, "/posts".to_owned(), json!({"channel_id": channel, "message": nul})),
        (Method::PUT, format!("/posts/{post_id}/patch"), json!({"message": nul})),
        (Method::PUT, format!("/posts/{post_id}"), json!({"id": post_id, "message": nul})),
        (
            Method::POST,
            "/channels".to_owned(),
            json!({"team_id": team, "name": "cnul", "display_name": nul, "type": "O"}),
        ),
        (Method::POST, "/teams".to_owned(), json!({"name": "tnul", "display_name": nul, "type": "O"})),
        (Method::POST, "/users".to_owned(), json!({"email": "n@example.com", "username": "nul", "password": nul})),
        (Method::POST, format!("/teams/{team}/posts/search"), json!({"terms": nul})),
        (Method::POST, "/users/search".to_owned(), json!({"term": nul})),
        (Method::POST, "/users/usernames".to_owned(), json!([nul])),
    ];
    for (method, path, body) in bodies {
        let r = send_raw(&admin, method.clone(), &path, &body.to_string()).await;
        refused(r, 400, &format!("{method} {path} with an escaped NUL"));
        let raw = body.to_string().replace("\\u0000", "\u{0}");
        let r = send_raw(&admin, method.clone(), &path, &raw).await;
        assert!(r.status.is_client_error(), "{method} {path} with a raw NUL: {}", r.status);
        assert_no_internal_text(&r, &format!("{method} {path} with a raw NUL"));
    }
    // Login needs no session, and must not leak either.
    let r = send_raw(&anon, Method::POST, "/users/login", &json!({"login_id": nul, "password": "x"}).to_string()).await;
    refused(r, 400, "login with a NUL");

    // Names in paths: nothing has a NUL in its name, so 404, as Mattermost answers.
    for path in [
        "/users/username/ab%00cd".to_owned(),
        "/teams/name/ab%00cd".to_owned(),
        format!("/teams/{team}/channels/name/ab%00cd"),
    ] {
        refused(admin.get(&path).await, 404, &format!("GET {path}"));
    }
    // Query parameters.
    refused(admin.get(&format!("/channels/{channel}/posts?page=0%00")).await, 400, "a NUL in the query");

    // Nothing was written, and the channel still reads.
    let list = admin.get(&format!("/channels/{channel}/posts")).await.expect(200).body;
    assert_eq!(list["order"].as_array().map(Vec::len), Some(1), "only the first post: {list}");
    assert_eq!(count(&server, "SELECT count(*) FROM teams").await, 1);
}

#[actix_web::test]
async fn a_server_error_shows_no_internal_text() {
    // A database that goes away under a running node: its answers are 5xx without the reason.
    let server = TestServer::start().await;
    let (admin, _) = server.client().new_user("admin").await;
    let team = admin.create_team(true).await;
    let channel = admin.create_channel(&team, false).await;
    server
        .db
        .client()
        .await
        .batch_execute("ALTER TABLE posts RENAME TO posts_gone")
        .await
        .expect("rename the posts table");
    let r = admin.post("/posts", json!({"channel_id": channel, "message": "hi"})).await;
    assert!(r.status.is_server_error(), "a missing table is the server's fault: {}", r.status);
    assert_eq!(r.body["detailed_error"], json!(""), "no internal detail: {}", r.body);
    assert_no_internal_text(&r, "a 500");
}

/// A multipart boundary shorter than 4 bytes made actix-multipart panic on a short line (found by
/// the `upload_form` fuzz target): every multipart endpoint refuses it with a 400 first.
#[actix_web::test]
async fn a_too_short_multipart_boundary_is_refused_on_every_upload() {
    let server = TestServer::start_with(|c| {
        c.service_settings.enable_custom_emoji = true;
        c.plugin_settings.enable = true;
        c.plugin_settings.enable_uploads = true;
    })
    .await;
    let (alice, alice_id) = server.client().new_user("alice").await;
    let body = b"\x00.0\n--0\r\n".to_vec();
    for path in ["/files", "/emoji", &format!("/users/{alice_id}/image"), "/plugins"] {
        for boundary in ["0", "ab", "\"abc\""] {
            let ct = format!("multipart/form-data; boundary={boundary}");
            let r = alice.raw(Method::POST, path, Some(body.clone()), &ct).await;
            assert_eq!(
                r.status.as_u16(),
                400,
                "{path} with boundary {boundary}: {:?}",
                String::from_utf8_lossy(&r.bytes)
            );
        }
    }
    // The node is still up, and a real upload with a normal boundary works.
    let form = reqwest::multipart::Form::new().text("x", "y");
    let ok = alice
        .http
        .post(format!("{}/api/v4/users/{alice_id}/image", alice.base))
        .bearer_auth(alice.token.as_deref().unwrap())
        .multipart(form)
        .send()
        .await
        .expect("the node answers");
    assert_eq!(ok.status(), 400, "no image in the form, but parsed");
}
