//! API v4 files: multipart upload (channel_id as a field before the files, or in the query),
//! byte-exact download and byte ranges, info, attaching to posts, permissions, MaxFileSize, and that a failed
//! upload leaves neither a fileinfo row nor a file behind.

mod common;
use common::*;

use rand::RngCore;
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};
use starling_protocol::new_id;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MALFORMED_ID: &str = "not-an-id";

fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut v);
    v
}

/// Every regular file under `dir`, recursively.
fn regular_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let ft = e.file_type().expect("file type");
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                out.push(e.path());
            }
        }
    }
    out
}

fn stored_files(server: &TestServer) -> Vec<PathBuf> {
    regular_files(Path::new(&server.config.file_settings.directory))
}

async fn fileinfo_rows(server: &TestServer) -> i64 {
    server.db.client().await.query_one("SELECT count(*) FROM fileinfo", &[]).await.expect("count").get(0)
}

/// A multipart form: `channel_id` first (when given), then one `files` part per file.
fn form(channel_id: Option<&str>, files: &[(&str, &[u8])]) -> Form {
    let mut f = Form::new();
    if let Some(c) = channel_id {
        f = f.text("channel_id", c.to_owned());
    }
    for (name, bytes) in files {
        f = f.part("files", Part::bytes(bytes.to_vec()).file_name(name.to_string()));
    }
    f
}

async fn upload(c: &Client, query: &str, form: Form) -> Resp {
    let mut rb = c.http.post(format!("{}/api/v4/files{query}", c.base)).multipart(form);
    if let Some(t) = &c.token {
        rb = rb.bearer_auth(t);
    }
    Client::finish(rb.send().await.expect("request reaches the node")).await
}

async fn upload_one(c: &Client, channel: &str, name: &str, bytes: &[u8]) -> Value {
    let r = check(upload(c, "", form(Some(channel), &[(name, bytes)])).await, 201, "upload");
    r.body["file_infos"][0].clone()
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_owned()
}

fn header(r: &Resp, name: &str) -> String {
    r.headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap_or_else(|_| panic!("{name} header is not visible ASCII: {:?}", r.headers.get(name)))
        .to_owned()
}

/// The system admin (in no team), a team with a channel holding `author` and `member`,
/// `teammate` in the team only, and `outsider` in no team.
struct World {
    server: TestServer,
    admin: Client,
    author: Client,
    author_id: String,
    member: Client,
    teammate: Client,
    outsider: Client,
    team: String,
    channel: String,
}

async fn world_on(server: TestServer) -> World {
    let anon = server.client();
    let (admin, _) = anon.new_user("admin").await;
    let (author, author_id) = anon.new_user("author").await;
    let (member, member_id) = anon.new_user("member").await;
    let (teammate, teammate_id) = anon.new_user("mate").await;
    let (outsider, _) = anon.new_user("out").await;
    let team = author.create_team(true).await;
    for id in [&member_id, &teammate_id] {
        author.post(&format!("/teams/{team}/members"), json!({"user_id": id})).await.expect(201);
    }
    // Private: team members who have not joined an open channel may read it, as in Mattermost.
    let channel = author.create_channel(&team, true).await;
    author.post(&format!("/channels/{channel}/members"), json!({"user_id": member_id})).await.expect(201);
    World { server, admin, author, author_id, member, teammate, outsider, team, channel }
}

async fn world() -> World {
    world_on(TestServer::start().await).await
}

#[actix_web::test]
async fn upload_and_download_a_megabyte_byte_exact() {
    let w = world().await;
    assert!(stored_files(&w.server).is_empty(), "the health check leaves no file");
    let data = random_bytes(1_048_576 + 123);
    let f = form(Some(&w.channel), &[("data.bin", &data)]).text("client_ids", "cid-1");
    let r = check(upload(&w.author, "", f).await, 201, "upload");
    assert_eq!(r.body["client_ids"], json!(["cid-1"]));
    let infos = r.body["file_infos"].as_array().expect("file_infos");
    assert_eq!(infos.len(), 1);
    let info = &infos[0];
    let id = id_of(info);
    assert_eq!(id.len(), 26);
    assert_eq!(info["name"], json!("data.bin"));
    assert_eq!(info["extension"], json!("bin"));
    assert_eq!(info["size"], json!(data.len()));
    assert_eq!(info["mime_type"], json!("application/octet-stream"));
    assert_eq!(info["channel_id"], json!(w.channel));
    assert_eq!(info["post_id"], json!(""));
    assert_eq!(info["user_id"], json!(w.author_id));
    assert_eq!(info["delete_at"], json!(0));
    assert!(info.get("path").is_none(), "the storage path is never shown: {info}");

    // One row and one file, the file holding exactly the bytes.
    assert_eq!(fileinfo_rows(&w.server).await, 1);
    let files = stored_files(&w.server);
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(std::fs::read(&files[0]).unwrap(), data);

    let d = w.author.get(&format!("/files/{id}")).await;
    let d = check(d, 200, "download");
    assert_eq!(d.bytes.len(), data.len());
    assert!(d.bytes == data, "downloaded bytes differ from the upload");
    assert_eq!(header(&d, "content-type"), "application/octet-stream");
    assert_eq!(header(&d, "content-disposition"), "attachment; filename=\"data.bin\"");
    assert_eq!(header(&d, "content-length"), data.len().to_string());
    assert_eq!(header(&d, "x-content-type-options"), "nosniff");

    let got = w.author.get(&format!("/files/{id}/info")).await.expect(200).body;
    assert_eq!(&got, info);

    // A text file gets its own MIME type.
    let t = upload_one(&w.author, &w.channel, "notes.txt", b"hello, world\n").await;
    assert_eq!(t["mime_type"], json!("text/plain"));
    let d = check(w.author.get(&format!("/files/{}", id_of(&t))).await, 200, "text download");
    assert_eq!(d.bytes, b"hello, world\n");
    assert_eq!(header(&d, "content-type"), "text/plain");
    assert_eq!(header(&d, "content-disposition"), "attachment; filename=\"notes.txt\"");
}

/// Byte ranges of a download (videos seek, downloads resume), from the local driver; S3's are in
/// tests/s3_garage.rs. Only readers of the file get any part of it.
#[actix_web::test]
async fn downloads_serve_byte_ranges() {
    let w = world().await;
    let data = random_bytes(300_000);
    let id = id_of(&upload_one(&w.author, &w.channel, "clip.mp4", &data).await);
    w.author.post("/posts", json!({"channel_id": w.channel, "message": "a clip", "file_ids": [id]})).await.expect(201);
    assert_ranges_served(&w.member, &id, &data, 65_536).await;
    let r = get_range(&w.outsider, &format!("/files/{id}"), "bytes=0-9").await;
    assert_eq!(r.status, 403, "a range of a file the user may not read");
    assert_error_shape(&r.body, 403);
}

#[actix_web::test]
async fn upload_with_channel_id_in_the_query_and_several_files() {
    let w = world().await;
    let a = random_bytes(1000);
    let b = random_bytes(2000);
    let f = form(None, &[("a.png", &a), ("b.pdf", &b)]).text("client_ids", "x").text("client_ids", "y");
    let r = check(upload(&w.author, &format!("?channel_id={}", w.channel), f).await, 201, "query channel_id");
    let infos = r.body["file_infos"].as_array().unwrap().clone();
    assert_eq!(infos.len(), 2);
    assert_eq!(r.body["client_ids"], json!(["x", "y"]));
    assert_eq!(infos[0]["name"], json!("a.png"));
    assert_eq!(infos[0]["mime_type"], json!("image/png"));
    assert_eq!(infos[1]["name"], json!("b.pdf"));
    assert_eq!(infos[1]["mime_type"], json!("application/pdf"));
    assert_ne!(infos[0]["id"], infos[1]["id"]);
    for (info, bytes) in infos.iter().zip([&a, &b]) {
        assert_eq!(info["channel_id"], json!(w.channel));
        let d = check(w.author.get(&format!("/files/{}", id_of(info))).await, 200, "download");
        assert!(&d.bytes == bytes);
        assert_eq!(header(&d, "content-type"), info["mime_type"].as_str().unwrap());
    }
    assert_eq!(fileinfo_rows(&w.server).await, 2);
    assert_eq!(stored_files(&w.server).len(), 2);
}

#[actix_web::test]
async fn bad_uploads_are_refused_and_leave_nothing() {
    let w = world().await;
    let ch = w.channel.as_str();
    let data = random_bytes(100);
    let one: &[(&str, &[u8])] = &[("f.bin", &data)];

    check(upload(&w.author, "", form(None, one)).await, 400, "no channel_id");
    // channel_id after the files is too late: the files have nowhere to go.
    let late =
        Form::new().part("files", Part::bytes(data.clone()).file_name("f.bin")).text("channel_id", ch.to_owned());
    check(upload(&w.author, "", late).await, 400, "channel_id after the files");
    check(upload(&w.author, "", form(Some(MALFORMED_ID), one)).await, 400, "malformed channel_id");
    check(upload(&w.author, &format!("?channel_id={MALFORMED_ID}"), form(None, one)).await, 400, "malformed query id");
    check(upload(&w.author, "", form(Some(&new_id()), one)).await, 404, "unknown channel");
    check(upload(&w.teammate, "", form(Some(ch), one)).await, 403, "team member outside the channel");
    check(upload(&w.outsider, "", form(Some(ch), one)).await, 403, "outsider");
    // (A system admin holds upload_file everywhere, as in Mattermost.)
    check(upload(&w.author, "", form(Some(ch), &[])).await, 400, "no files");
    check(upload(&w.author, "", form(Some(ch), &[("..", &data)])).await, 400, "a name that cleans to nothing");
    check(upload(&w.author, "", form(Some(ch), &[("", &data)])).await, 400, "an empty name");
    let too_many: Vec<(String, Vec<u8>)> = (0..11).map(|n| (format!("f{n}.bin"), random_bytes(10))).collect();
    let refs: Vec<(&str, &[u8])> = too_many.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    check(upload(&w.author, "", form(Some(ch), &refs)).await, 400, "11 files");
    let long_field = form(Some(ch), one).text("client_ids", "c".repeat(2000));
    check(upload(&w.author, "", long_field).await, 400, "an overlong form field");
    // A `files` part without a file name is not a file.
    let nameless = Form::new().text("channel_id", ch.to_owned()).text("files", "just text");
    check(upload(&w.author, "", nameless).await, 400, "files part without a file name");
    check(upload(&w.server.client(), "", form(Some(ch), one)).await, 401, "no token");
    check(upload(&w.author.with_token(&new_id()), "", form(Some(ch), one)).await, 401, "bogus token");

    // Not multipart at all.
    let r = w.author.post("/files", json!({"channel_id": ch})).await;
    check(r, 400, "a JSON body");
    let r = w
        .author
        .raw(reqwest::Method::POST, "/files", Some(b"garbage".to_vec()), "multipart/form-data; boundary=zzz")
        .await;
    check(r, 400, "a body that is not the multipart it claims");
    let r = w.author.raw(reqwest::Method::POST, "/files", Some(data.clone()), "multipart/form-data").await;
    check(r, 400, "multipart without a boundary");

    assert_eq!(fileinfo_rows(&w.server).await, 0, "no rows from refused uploads");
    assert_eq!(stored_files(&w.server), Vec::<PathBuf>::new(), "no files from refused uploads");
}

#[actix_web::test]
async fn uploads_over_max_file_size_get_413_and_leave_nothing() {
    let server = TestServer::start_with(|c| c.file_settings.max_file_size = 1000).await;
    let w = world_on(server).await;
    let ch = w.channel.as_str();

    // Exactly the limit is fine.
    let at_limit = random_bytes(1000);
    let ok = upload_one(&w.author, ch, "limit.bin", &at_limit).await;
    assert_eq!(ok["size"], json!(1000));
    assert_eq!(fileinfo_rows(&w.server).await, 1);
    assert_eq!(stored_files(&w.server).len(), 1);

    let over = random_bytes(1001);
    let r = check(upload(&w.author, "", form(Some(ch), &[("over.bin", &over)])).await, 413, "one byte over");
    assert_eq!(r.body["id"], json!("api.context.request_body_too_large.app_error"));
    assert_eq!(fileinfo_rows(&w.server).await, 1, "no row for the refused file");
    assert_eq!(stored_files(&w.server).len(), 1, "no file for the refused file");

    // Several files where a later one is too large: the earlier ones are removed too.
    let small = random_bytes(500);
    let big = random_bytes(5000);
    let f = form(Some(ch), &[("small.bin", &small), ("small2.bin", &small), ("big.bin", &big)]);
    check(upload(&w.author, "", f).await, 413, "third file too large");
    assert_eq!(fileinfo_rows(&w.server).await, 1);
    let left = stored_files(&w.server);
    assert_eq!(left.len(), 1, "only the first upload's file remains: {left:?}");
    assert_eq!(std::fs::read(&left[0]).unwrap(), at_limit);

    // A large file far over the limit.
    let huge = random_bytes(3 * 1024 * 1024);
    check(upload(&w.author, "", form(Some(ch), &[("huge.bin", &huge)])).await, 413, "3 MB over a 1000-byte limit");
    assert_eq!(fileinfo_rows(&w.server).await, 1);
    assert_eq!(stored_files(&w.server).len(), 1);

    // The node still serves after refusing uploads.
    let d = check(w.author.get(&format!("/files/{}", id_of(&ok))).await, 200, "download");
    assert!(d.bytes == at_limit);
}

#[actix_web::test]
async fn a_failed_row_insert_removes_the_stored_files() {
    let w = world().await;
    let db = w.server.db.client().await;
    // Fault injection: every fileinfo insert now fails, after the bytes are stored.
    db.batch_execute("ALTER TABLE fileinfo ADD CONSTRAINT refuse_all CHECK (false) NOT VALID").await.unwrap();
    let a = random_bytes(20_000);
    let f = form(Some(&w.channel), &[("a.bin", &a), ("b.bin", &a)]);
    let r = upload(&w.author, "", f).await;
    check(r, 500, "the row insert fails");
    assert_eq!(fileinfo_rows(&w.server).await, 0);
    assert_eq!(stored_files(&w.server), Vec::<PathBuf>::new(), "stored files are removed again");

    db.batch_execute("ALTER TABLE fileinfo DROP CONSTRAINT refuse_all").await.unwrap();
    upload_one(&w.author, &w.channel, "a.bin", &a).await;
    assert_eq!(fileinfo_rows(&w.server).await, 1);
    assert_eq!(stored_files(&w.server).len(), 1);
}

/// Start a multipart upload by hand on a raw connection, so that it can be cut off midway.
async fn start_raw_upload(w: &World, parts: &[u8], claimed_extra: usize) -> tokio::net::TcpStream {
    let token = w.author.token.clone().unwrap();
    let head = format!(
        "POST /api/v4/files HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary=BOUNDARY\r\nContent-Length: {}\r\n\r\n",
        w.server.node.http_addr,
        parts.len() + claimed_extra
    );
    let mut s = tokio::net::TcpStream::connect(w.server.node.http_addr).await.expect("connect");
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(parts).await.unwrap();
    s.flush().await.unwrap();
    s
}

fn part_head(name: &str, filename: Option<&str>) -> Vec<u8> {
    let mut h = format!("--BOUNDARY\r\nContent-Disposition: form-data; name=\"{name}\"");
    if let Some(f) = filename {
        h.push_str(&format!("; filename=\"{f}\"\r\nContent-Type: application/octet-stream"));
    }
    h.push_str("\r\n\r\n");
    h.into_bytes()
}

fn is_partial(p: &Path) -> bool {
    p.to_string_lossy().contains(".part-")
}

#[actix_web::test]
async fn an_upload_cut_off_midway_leaves_nothing() {
    let w = world().await;
    // A complete first file, then the second file's first bytes; the rest never comes.
    let mut body = part_head("channel_id", None);
    body.extend_from_slice(w.channel.as_bytes());
    body.extend_from_slice(b"\r\n");
    body.extend(part_head("files", Some("one.bin")));
    body.extend(random_bytes(10_000));
    body.extend_from_slice(b"\r\n");
    body.extend(part_head("files", Some("two.bin")));
    body.extend(random_bytes(5_000));
    let stream = start_raw_upload(&w, &body, 100_000).await;

    // Wait until the first file is stored whole and the second is being written ...
    let both = wait_until(Duration::from_secs(10), || async {
        let files = stored_files(&w.server);
        files.iter().filter(|p| !is_partial(p)).count() == 1 && files.iter().filter(|p| is_partial(p)).count() == 1
    })
    .await;
    assert!(both, "the node stores the first file and starts the second: {:?}", stored_files(&w.server));
    // ... then the client goes away.
    drop(stream);
    let clean = wait_until(Duration::from_secs(10), || async { stored_files(&w.server).is_empty() }).await;
    assert!(clean, "files left after the cut-off upload: {:?}", stored_files(&w.server));
    assert_eq!(fileinfo_rows(&w.server).await, 0);

    // Cut off inside the only file, with the connection still open but the body ending short:
    // the client half-closes, so the node sees the end of a body that claimed more.
    let mut body = part_head("channel_id", None);
    body.extend_from_slice(w.channel.as_bytes());
    body.extend_from_slice(b"\r\n");
    body.extend(part_head("files", Some("three.bin")));
    body.extend(random_bytes(3_000));
    let mut stream = start_raw_upload(&w, &body, 50_000).await;
    let started = wait_until(Duration::from_secs(10), || async { !stored_files(&w.server).is_empty() }).await;
    assert!(started, "the node starts writing the file");
    stream.shutdown().await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "a body cut short is a bad request: {answer}");
    let clean = wait_until(Duration::from_secs(10), || async { stored_files(&w.server).is_empty() }).await;
    assert!(clean, "partial file left: {:?}", stored_files(&w.server));
    assert_eq!(fileinfo_rows(&w.server).await, 0);

    // The node is fine afterwards.
    upload_one(&w.author, &w.channel, "ok.bin", b"fine").await;
    assert_eq!(stored_files(&w.server).len(), 1);
}

#[actix_web::test]
async fn file_names_are_cleaned_and_stay_inside_the_directory() {
    let w = world().await;
    let info = upload_one(&w.author, &w.channel, "../../../escape.txt", b"x").await;
    assert_eq!(info["name"], json!("escape.txt"));
    let info2 = upload_one(&w.author, &w.channel, "C:\\Users\\me\\win.txt", b"y").await;
    assert_eq!(info2["name"], json!("win.txt"));
    let dir = std::fs::canonicalize(&w.server.config.file_settings.directory).unwrap();
    let files = stored_files(&w.server);
    assert_eq!(files.len(), 2);
    for f in &files {
        assert!(std::fs::canonicalize(f).unwrap().starts_with(&dir), "{f:?} is outside {dir:?}");
    }
    assert!(!dir.parent().unwrap().join("escape.txt").exists());

    // Quotes in a name cannot break the Content-Disposition header.
    let q = upload_one(&w.author, &w.channel, "say \"hi\".txt", b"z").await;
    let d = check(w.author.get(&format!("/files/{}", id_of(&q))).await, 200, "download");
    assert_eq!(header(&d, "content-disposition"), "attachment; filename=\"say \\\"hi\\\".txt\"");

    // A non-ASCII name is sent the RFC 6266 way, and the header stays ASCII.
    let u = upload_one(&w.author, &w.channel, "résumé.txt", b"cv").await;
    assert_eq!(u["name"], json!("résumé.txt"));
    let d = check(w.author.get(&format!("/files/{}", id_of(&u))).await, 200, "download");
    let cd = header(&d, "content-disposition");
    assert!(cd.starts_with("attachment"), "{cd}");
    assert_eq!(cd, "attachment; filename=\"r_sum_.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9.txt");
}

#[actix_web::test]
async fn attach_files_to_a_post() {
    let w = world().await;
    let ch = w.channel.as_str();
    let a = random_bytes(4096);
    let b = b"plain text".to_vec();
    let fa = upload_one(&w.author, ch, "a.bin", &a).await;
    let fb = upload_one(&w.author, ch, "b.txt", &b).await;
    let (ida, idb) = (id_of(&fa), id_of(&fb));

    // Before it is posted, a file is its uploader's (and the admin's) only.
    check(w.member.get(&format!("/files/{ida}")).await, 403, "member before posting");
    check(w.member.get(&format!("/files/{ida}/info")).await, 403, "member info before posting");
    check(w.admin.get(&format!("/files/{ida}/info")).await, 200, "admin before posting");

    // A file uploaded elsewhere, or by someone else, or unknown, is not attached.
    let other_channel = w.author.create_channel(&w.team, false).await;
    let elsewhere = upload_one(&w.author, &other_channel, "e.bin", b"e").await;
    let by_member = upload_one(&w.member, ch, "m.bin", b"m").await;
    let p = w
        .author
        .post(
            "/posts",
            json!({"channel_id": ch, "message": "", "file_ids": [ida, idb, id_of(&elsewhere), id_of(&by_member), new_id()]}),
        )
        .await
        .expect(201)
        .body;
    let post_id = id_of(&p);
    assert_eq!(p["file_ids"], json!([ida, idb]));
    let meta = p["metadata"]["files"].as_array().unwrap_or_else(|| panic!("metadata.files: {p}"));
    let mut meta_ids: Vec<String> = meta.iter().map(id_of).collect();
    meta_ids.sort();
    let mut want = vec![ida.clone(), idb.clone()];
    want.sort();
    assert_eq!(meta_ids, want);
    for m in meta {
        assert_eq!(m["post_id"], json!(post_id));
        assert_eq!(m["channel_id"], json!(ch));
        assert!(m.get("path").is_none());
    }
    assert_eq!(meta.iter().find(|m| m["id"] == json!(ida)).unwrap()["size"], json!(4096));

    // The post as read back, in the channel's list, and its files endpoint agree.
    let got = w.member.get(&format!("/posts/{post_id}")).await.expect(200).body;
    assert_eq!(got["file_ids"], p["file_ids"]);
    assert_eq!(got["metadata"], p["metadata"]);
    let list = w.member.get(&format!("/channels/{ch}/posts")).await.expect(200).body;
    assert_eq!(list["posts"][&post_id]["metadata"], p["metadata"]);
    let infos = w.member.get(&format!("/posts/{post_id}/files/info")).await.expect(200).body;
    let mut got_ids: Vec<String> = infos.as_array().unwrap().iter().map(id_of).collect();
    got_ids.sort();
    assert_eq!(got_ids, want);
    check(w.teammate.get(&format!("/posts/{post_id}/files/info")).await, 403, "files info, not a member");
    check(w.member.get(&format!("/posts/{}/files/info", new_id())).await, 404, "files info, unknown post");
    check(w.member.get(&format!("/posts/{MALFORMED_ID}/files/info")).await, 400, "files info, malformed");
    check(w.server.client().get(&format!("/posts/{post_id}/files/info")).await, 401, "files info, no token");

    // Now every channel member may download; others may not.
    let d = check(w.member.get(&format!("/files/{ida}")).await, 200, "member download");
    assert!(d.bytes == a);
    let info = w.member.get(&format!("/files/{idb}/info")).await.expect(200).body;
    assert_eq!(info["post_id"], json!(post_id));
    check(w.teammate.get(&format!("/files/{ida}")).await, 403, "team member outside the channel");
    check(w.teammate.get(&format!("/files/{ida}/info")).await, 403, "info, team member outside");
    check(w.outsider.get(&format!("/files/{ida}")).await, 403, "outsider");
    check(w.admin.get(&format!("/files/{ida}")).await, 200, "admin");

    // The leftovers are still unattached, and a file cannot be attached twice.
    let e = w.author.get(&format!("/files/{}/info", id_of(&elsewhere))).await.expect(200).body;
    assert_eq!(e["post_id"], json!(""));
    let again = w
        .author
        .post("/posts", json!({"channel_id": ch, "message": "again", "file_ids": [ida]}))
        .await
        .expect(201)
        .body;
    assert_eq!(again["file_ids"], json!([]));
    assert_eq!(w.member.get(&format!("/files/{ida}/info")).await.expect(200).body["post_id"], json!(post_id));

    // Deleting the post deletes its files.
    w.author.delete(&format!("/posts/{post_id}")).await.expect(200);
    check(w.author.get(&format!("/files/{ida}")).await, 404, "download after the post is deleted");
    check(w.author.get(&format!("/files/{idb}/info")).await, 404, "info after the post is deleted");
    check(w.author.get(&format!("/posts/{post_id}/files/info")).await, 404, "files of a deleted post");
}

#[actix_web::test]
async fn a_file_attached_by_concurrent_posts_goes_to_exactly_one() {
    let w = world().await;
    let f = upload_one(&w.author, &w.channel, "a.txt", b"abc").await;
    let id = id_of(&f);
    let body = json!({"channel_id": w.channel, "message": "m", "file_ids": [id]});
    let posts = futures_util::future::join_all((0..6).map(|_| w.author.post("/posts", body.clone()))).await;
    let mut owners = Vec::new();
    for p in &posts {
        assert_eq!(p.status.as_u16(), 201, "{}", p.body);
        if p.body["file_ids"] == json!([id]) {
            assert_eq!(p.body["metadata"]["files"][0]["id"], json!(id));
            owners.push(p.id());
        } else {
            assert_eq!(p.body["file_ids"], json!([]));
        }
    }
    assert_eq!(owners.len(), 1, "exactly one post got the file");
    let info = w.author.get(&format!("/files/{id}/info")).await.expect(200).body;
    assert_eq!(info["post_id"], json!(owners[0]));
}

#[actix_web::test]
async fn leaving_the_channel_ends_file_access() {
    let w = world().await;
    let fa = upload_one(&w.author, &w.channel, "a.txt", b"abc").await;
    let id = id_of(&fa);
    w.author.post("/posts", json!({"channel_id": w.channel, "message": "f", "file_ids": [id]})).await.expect(201);
    check(w.member.get(&format!("/files/{id}")).await, 200, "member");
    w.member.delete(&format!("/channels/{}/members/me", w.channel)).await.expect(200);
    check(w.member.get(&format!("/files/{id}")).await, 403, "after leaving");
    check(w.member.get(&format!("/files/{id}/info")).await, 403, "info after leaving");
}

#[actix_web::test]
async fn file_ids_and_tokens_are_checked() {
    let w = world().await;
    let f = upload_one(&w.author, &w.channel, "a.txt", b"abc").await;
    let id = id_of(&f);
    for suffix in ["", "/info"] {
        check(w.author.get(&format!("/files/{}{suffix}", new_id())).await, 404, "unknown file");
        check(w.author.get(&format!("/files/{MALFORMED_ID}{suffix}")).await, 400, "malformed file id");
        check(w.server.client().get(&format!("/files/{id}{suffix}")).await, 401, "no token");
        check(w.author.with_token(&new_id()).get(&format!("/files/{id}{suffix}")).await, 401, "bogus token");
    }
    // A row whose bytes are gone: 404, not a crash.
    for p in stored_files(&w.server) {
        std::fs::remove_file(p).unwrap();
    }
    check(w.author.get(&format!("/files/{id}")).await, 404, "bytes missing");
    w.author.get(&format!("/files/{id}/info")).await.expect(200);
}

#[actix_web::test]
async fn uploads_can_be_disabled() {
    let server = TestServer::start_with(|c| c.file_settings.enable_file_attachments = false).await;
    let w = world_on(server).await;
    check(upload(&w.author, "", form(Some(&w.channel), &[("a.bin", b"x")])).await, 501, "attachments disabled");
    assert_eq!(fileinfo_rows(&w.server).await, 0);
    assert!(stored_files(&w.server).is_empty());
}
