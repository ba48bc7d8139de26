//! The "amazons3" file store against a real S3 server (s3s-fs, which checks SigV4 signatures; see
//! tests/common/s3.rs): upload, download, info and delete through the API, multipart uploads of
//! several MB, both drivers behaving the same through [`FileBackend`], every node serving every
//! file (S3 and a shared local directory), custom emoji images, profile pictures and image
//! thumbnails and previews on S3, an S3 outage, and wrong credentials.

mod common;
use common::cluster::{free_port, NodeProc};
use common::s3::{S3Server, ACCESS_KEY};
use common::*;

use bytes::Bytes;
use futures_util::StreamExt;
use rand::RngCore;
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};
use starling::config::{Config, FileSettings};
use starling::filestore::{FileBackend, FileStoreError, LocalBackend, S3Backend, S3_PART_SIZE};
use std::path::Path;
use std::time::Duration;

fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut v);
    v
}

async fn upload(c: &Client, channel: &str, files: &[(&str, &[u8])]) -> Resp {
    let mut form = Form::new().text("channel_id", channel.to_owned());
    for (name, bytes) in files {
        form = form.part("files", Part::bytes(bytes.to_vec()).file_name(name.to_string()));
    }
    let mut rb = c.http.post(format!("{}/api/v4/files", c.base)).multipart(form);
    if let Some(t) = &c.token {
        rb = rb.bearer_auth(t);
    }
    Client::finish(rb.send().await.expect("request reaches the node")).await
}

async fn upload_one(c: &Client, channel: &str, name: &str, bytes: &[u8]) -> Value {
    check(upload(c, channel, &[(name, bytes)]).await, 201, "upload").body["file_infos"][0].clone()
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_owned()
}

/// A user with a team and a channel on the node behind `anon`: (client, channel id).
async fn author_with_channel(anon: &Client) -> (Client, String) {
    let (author, _) = anon.new_user("author").await;
    let team = author.create_team(true).await;
    let channel = author.create_channel(&team, false).await;
    (author, channel)
}

async fn fileinfo_rows(db: &TestDb) -> i64 {
    db.client().await.query_one("SELECT count(*) FROM fileinfo", &[]).await.expect("count").get(0)
}

async fn stored_path(db: &TestDb, file_id: &str) -> String {
    db.client().await.query_one("SELECT path FROM fileinfo WHERE id = $1", &[&file_id]).await.expect("row").get(0)
}

async fn ping(base: &str) -> (u16, Value) {
    let r = reqwest::get(format!("{base}/api/v4/system/ping?get_server_status=true")).await.expect("ping");
    let status = r.status().as_u16();
    (status, r.json().await.expect("ping body"))
}

async fn read_all(b: &dyn FileBackend, path: &str) -> Result<(Vec<u8>, u64), FileStoreError> {
    let (mut stream, size) = b.reader(path).await?;
    let mut got = Vec::new();
    while let Some(chunk) = stream.next().await {
        got.extend_from_slice(&chunk.map_err(|e| FileStoreError::Io(e.to_string()))?);
    }
    Ok((got, size))
}

/// Write `data` in 64 KiB chunks, as the upload handler does.
async fn write_all(b: &dyn FileBackend, path: &str, data: &[u8]) -> u64 {
    let mut w = b.writer(path).await.expect("writer");
    for chunk in data.chunks(64 * 1024) {
        w.write(Bytes::copy_from_slice(chunk)).await.expect("write");
    }
    w.finish().await.expect("finish")
}

#[actix_web::test]
async fn upload_download_info_and_delete_through_the_api() {
    let s3 = S3Server::start_new().await;
    let server = TestServer::start_with(|c| {
        s3.configure(&mut c.file_settings);
        c.file_settings.amazon_s3_path_prefix = "/p/".into();
    })
    .await;
    assert_eq!(s3.keys().await, Vec::<String>::new(), "the start-up health check leaves nothing");
    let (author, channel) = author_with_channel(&server.client()).await;

    // Three parts: two full ones and a short last one.
    let big = random_bytes(2 * S3_PART_SIZE + 1_234_567);
    let small = b"hello, s3\n".to_vec();
    let r = check(upload(&author, &channel, &[("big.bin", &big), ("résumé notes.txt", &small)]).await, 201, "upload");
    let infos = r.body["file_infos"].as_array().expect("file_infos").clone();
    assert_eq!(infos.len(), 2);
    assert_eq!(infos[0]["size"], json!(big.len()));
    assert_eq!(infos[1]["name"], json!("résumé notes.txt"));
    assert_eq!(infos[1]["mime_type"], json!("text/plain"));
    assert_eq!(fileinfo_rows(&server.db).await, 2);

    // Exactly two objects, both under the prefix, and no multipart upload left open.
    let keys = s3.keys().await;
    assert_eq!(keys.len(), 2, "{keys:?}");
    for (info, key_end) in infos.iter().zip(["/big.bin", "/résumé notes.txt"]) {
        let path = stored_path(&server.db, &id_of(info)).await;
        let key = format!("p/{path}");
        assert!(keys.contains(&key), "{key} not in {keys:?}");
        assert!(key.ends_with(key_end));
    }
    assert_eq!(s3.pending_uploads(), Vec::<String>::new());

    // Byte-exact downloads, with the headers the local driver gives.
    for (info, bytes) in infos.iter().zip([&big, &small]) {
        let id = id_of(info);
        let d = check(author.get(&format!("/files/{id}")).await, 200, "download");
        assert_eq!(d.bytes.len(), bytes.len());
        assert!(&d.bytes == bytes, "downloaded bytes differ from the upload");
        assert_eq!(d.headers["content-length"].to_str().unwrap(), bytes.len().to_string());
        let got = author.get(&format!("/files/{id}/info")).await.expect(200).body;
        assert_eq!(&got, info);
    }

    // Byte ranges, read from S3 as ranges (one crosses the first part boundary).
    assert_ranges_served(&author, &id_of(&infos[0]), &big, S3_PART_SIZE).await;

    // Delete (as data retention does, through the file store): the object goes, the row's
    // download answers 404, and deleting again is fine.
    let big_id = id_of(&infos[0]);
    let path = stored_path(&server.db, &big_id).await;
    let files = &server.node.state.files;
    assert_eq!(files.driver_name(), "amazons3");
    files.remove(&path).await.expect("remove");
    files.remove(&path).await.expect("removing a missing file is not an error");
    assert_eq!(s3.keys().await.len(), 1);
    check(author.get(&format!("/files/{big_id}")).await, 404, "download after delete");
    author.get(&format!("/files/{big_id}/info")).await.expect(200);

    // ping checks the bucket for real.
    let (status, body) = ping(&server.url()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["filestore_status"], json!("OK"));
    assert_eq!(s3.keys().await.len(), 1, "the health check cleans up after itself");
}

#[actix_web::test]
async fn uploads_over_max_file_size_leave_no_object_and_no_open_upload() {
    let s3 = S3Server::start_new().await;
    let limit = S3_PART_SIZE + 100_000;
    let server = TestServer::start_with(|c| {
        s3.configure(&mut c.file_settings);
        c.file_settings.max_file_size = limit as i64;
    })
    .await;
    let (author, channel) = author_with_channel(&server.client()).await;
    // Refused after the first part went out: the multipart upload is aborted.
    let over = random_bytes(limit + 1);
    let r = check(upload(&author, &channel, &[("over.bin", &over)]).await, 413, "over MaxFileSize");
    assert_eq!(r.body["id"], json!("api.context.request_body_too_large.app_error"));
    assert_eq!(fileinfo_rows(&server.db).await, 0);
    assert_eq!(s3.keys().await, Vec::<String>::new());
    assert_eq!(s3.pending_uploads(), Vec::<String>::new(), "the multipart upload is aborted");
    // Exactly the limit is fine.
    let at = random_bytes(limit);
    let info = upload_one(&author, &channel, "at.bin", &at).await;
    let d = check(author.get(&format!("/files/{}", id_of(&info))).await, 200, "download");
    assert!(d.bytes == at);
}

/// The same checks against any driver: what the rest of the node may rely on.
async fn backend_contract(b: &dyn FileBackend, leftovers: impl Fn() -> Vec<String>) {
    b.check().await.expect("health check");
    assert_eq!(leftovers(), Vec::<String>::new(), "the health check leaves nothing");

    // Nothing is visible until finish; abort and an unfinished drop leave nothing.
    let mut w = b.writer("a/aborted").await.expect("writer");
    w.write(Bytes::from(random_bytes(S3_PART_SIZE + 10))).await.expect("write");
    w.write(Bytes::from(random_bytes(1000))).await.expect("write");
    assert!(matches!(b.reader("a/aborted").await, Err(FileStoreError::NotFound)), "visible before finish");
    w.abort().await;
    assert!(matches!(b.reader("a/aborted").await, Err(FileStoreError::NotFound)));
    let mut w = b.writer("a/dropped").await.expect("writer");
    w.write(Bytes::from(random_bytes(S3_PART_SIZE + 10))).await.expect("write");
    drop(w);
    let clean = wait_until(Duration::from_secs(10), || async { leftovers().is_empty() }).await;
    assert!(clean, "partial writes left behind: {:?}", leftovers());
    assert!(matches!(b.reader("a/dropped").await, Err(FileStoreError::NotFound)));

    // Several parts' worth, written in small chunks; an empty file; a one-byte file.
    let data = random_bytes(2 * S3_PART_SIZE + 777);
    assert_eq!(write_all(b, "a/b/big.bin", &data).await, data.len() as u64);
    let (got, size) = read_all(b, "a/b/big.bin").await.expect("read");
    assert_eq!(size, data.len() as u64);
    assert!(got == data, "read back different bytes");
    assert_eq!(write_all(b, "a/empty", &[]).await, 0);
    assert_eq!(read_all(b, "a/empty").await.expect("read empty"), (vec![], 0));
    assert_eq!(write_all(b, "a/one", b"x").await, 1);
    assert_eq!(read_all(b, "a/one").await.expect("read one"), (b"x".to_vec(), 1));

    // Missing files, bad paths.
    assert!(matches!(read_all(b, "a/missing").await, Err(FileStoreError::NotFound)));
    for bad in ["", "/abs", "a/../b", "a//b"] {
        assert!(b.writer(bad).await.is_err(), "writer accepted {bad:?}");
        assert!(b.reader(bad).await.is_err(), "reader accepted {bad:?}");
    }

    // Overwrite replaces; remove removes; removing again is fine.
    assert_eq!(write_all(b, "a/one", b"yz").await, 2);
    assert_eq!(read_all(b, "a/one").await.expect("read").0, b"yz");
    for p in ["a/b/big.bin", "a/empty", "a/one"] {
        b.remove(p).await.expect("remove");
        b.remove(p).await.expect("remove again");
        assert!(matches!(read_all(b, p).await, Err(FileStoreError::NotFound)));
    }
    assert_eq!(leftovers(), Vec::<String>::new());
}

/// Regular files under `dir` (relative paths), recursively.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let ft = e.file_type().expect("file type");
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                out.push(e.path().strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

#[actix_web::test]
async fn both_drivers_keep_the_same_contract() {
    let dir = temp_dir("contract-local");
    let local = LocalBackend::new(dir.to_str().unwrap()).expect("local backend");
    backend_contract(&local, || files_under(&dir)).await;

    let s3 = S3Server::start_new().await;
    let mut settings = FileSettings::default();
    s3.configure(&mut settings);
    settings.amazon_s3_path_prefix = "p".into();
    let backend = S3Backend::new(&settings).expect("s3 backend");
    assert!(backend.describe().contains(&s3.endpoint()), "{}", backend.describe());
    let bucket_dir = s3.root.join(&s3.bucket);
    backend_contract(&backend, || {
        let mut left = files_under(&bucket_dir);
        left.extend(s3.pending_uploads());
        left
    })
    .await;
}

/// Two node processes on one database, node i with `dirs[i]` as its local file directory; `extra`
/// is their environment on top.
async fn two_nodes(db: &TestDb, dirs: [&Path; 2], extra: &[(String, String)]) -> Vec<NodeProc> {
    let name = format!("s3test-{}", &starling_protocol::new_id()[..8]);
    let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let nodes: Vec<NodeProc> =
        dirs.iter().enumerate().map(|(i, d)| NodeProc::spawn(db, &format!("n{}", i + 1), &name, d, &extra)).collect();
    for n in &nodes {
        n.ready().await;
    }
    nodes
}

/// Files uploaded through either node download byte-exact through the other.
async fn every_node_serves_every_file(nodes: &[NodeProc]) {
    let anon1 = Client::new(&nodes[0].url());
    let (author1, channel) = author_with_channel(&anon1).await;
    let author2 = Client { base: nodes[1].url(), ..author1.clone() };
    let a = random_bytes(S3_PART_SIZE + 300_000);
    let b = random_bytes(50_000);
    let fa = upload_one(&author1, &channel, "one.bin", &a).await;
    let fb = upload_one(&author2, &channel, "two.bin", &b).await;
    for (info, bytes, reader) in [(&fa, &a, &author2), (&fb, &b, &author1)] {
        let id = id_of(info);
        let d = check(reader.get(&format!("/files/{id}")).await, 200, "download on the other node");
        assert!(&d.bytes == bytes, "bytes differ on the other node");
        assert_eq!(&reader.get(&format!("/files/{id}/info")).await.expect(200).body, info);
    }
    for n in nodes {
        let (status, body) = ping(&n.url()).await;
        assert_eq!(status, 200, "node {}: {body}", n.name);
        assert_eq!(body["filestore_status"], json!("OK"));
    }
}

#[actix_web::test]
async fn a_file_uploaded_on_one_node_downloads_on_another_with_s3() {
    let s3 = S3Server::start_new().await;
    let db = TestDb::new().await;
    // Each node gets a local directory of its own, so only S3 can carry the bytes across.
    let (own1, own2) = (temp_dir("own-1"), temp_dir("own-2"));
    let nodes = two_nodes(&db, [&own1, &own2], &s3.env("n")).await;
    every_node_serves_every_file(&nodes).await;
    let keys = s3.keys().await;
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys.iter().all(|k| k.starts_with("n/")), "{keys:?}");
    assert_eq!(files_under(&own1), Vec::<String>::new(), "nothing in the local directories");
    assert_eq!(files_under(&own2), Vec::<String>::new());
}

#[actix_web::test]
async fn a_file_uploaded_on_one_node_downloads_on_another_with_a_shared_directory() {
    let db = TestDb::new().await;
    let shared = temp_dir("shared-files");
    let nodes = two_nodes(&db, [&shared, &shared], &[]).await;
    every_node_serves_every_file(&nodes).await;
    assert_eq!(files_under(&shared).len(), 2, "{:?}", files_under(&shared));
}

#[actix_web::test]
async fn an_s3_outage_fails_uploads_cleanly_and_they_work_again_after() {
    let mut s3 = S3Server::start_new().await;
    let server = TestServer::start_with(|c| s3.configure(&mut c.file_settings)).await;
    let (author, channel) = author_with_channel(&server.client()).await;
    let before = random_bytes(300_000);
    let kept = upload_one(&author, &channel, "before.bin", &before).await;

    s3.stop();
    // Uploads fail with Mattermost's error shape and say why; nothing is recorded.
    for files in [vec![("a.bin", random_bytes(100_000))], vec![("b.txt", b"b".to_vec()), ("c.txt", b"c".to_vec())]] {
        let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (*n, b.as_slice())).collect();
        let r = check(upload(&author, &channel, &refs).await, 500, "upload while S3 is down");
        assert_eq!(r.body["id"], json!("api.file.upload_file.storage.app_error"));
        // Why is for the node's log, not for the client.
        assert_eq!(r.body["detailed_error"], json!(""), "no internal detail: {}", r.body);
    }
    assert_eq!(fileinfo_rows(&server.db).await, 1, "no fileinfo row for a file that was not stored");
    // Posts without files keep working, and so does the rest of the API.
    let p = author.create_post(&channel, "S3 is down, chat is not").await;
    assert_eq!(p["message"], json!("S3 is down, chat is not"));
    author.get(&format!("/channels/{channel}/posts")).await.expect(200);
    // A download fails with an error, not a hang or a crash.
    let d = author.get(&format!("/files/{}", id_of(&kept))).await;
    assert!(d.status.is_server_error(), "download while S3 is down: {} {}", d.status, d.body);
    assert_error_shape(&d.body, d.status.as_u16());
    // ping says the file store is the problem, and why.
    let (status, body) = ping(&server.url()).await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["filestore_status"], json!("UNHEALTHY"));
    assert_eq!(body["database_status"], json!("OK"));
    assert!(body["filestore_error"].as_str().unwrap_or_default().contains("unreachable"), "{body}");

    // Back again: no restart of the node needed.
    s3.start().await;
    let after = random_bytes(S3_PART_SIZE + 1);
    let info = upload_one(&author, &channel, "after.bin", &after).await;
    for (info, bytes) in [(&kept, &before), (&info, &after)] {
        let d = check(author.get(&format!("/files/{}", id_of(info))).await, 200, "download after the outage");
        assert!(&d.bytes == bytes);
    }
    assert_eq!(fileinfo_rows(&server.db).await, 2);
    // Nothing orphaned: one object per row, no open multipart upload.
    let keys = s3.keys().await;
    assert_eq!(keys.len(), 2, "{keys:?}");
    for info in [&kept, &info] {
        let key = stored_path(&server.db, &id_of(info)).await;
        assert!(keys.contains(&key), "{key} not in {keys:?}");
    }
    assert_eq!(s3.pending_uploads(), Vec::<String>::new());
    let (status, body) = ping(&server.url()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["filestore_status"], json!("OK"));
    assert!(body.get("filestore_error").is_none(), "{body}");
}

/// The error a node start fails with, in full.
async fn start_error(db: &TestDb, change: impl FnOnce(&mut Config)) -> String {
    let mut config = test_config(db);
    change(&mut config);
    let loaded = starling::config::LoadedConfig::from_config(
        config,
        starling::config::source::ConfigSource::File("test-config.json".into()),
    );
    match starling::server::start(loaded, test_logger()).await {
        Ok(_) => panic!("the node started"),
        Err(e) => format!("{e:#}"),
    }
}

#[actix_web::test]
async fn start_up_says_what_is_wrong_with_s3() {
    let s3 = S3Server::start_new().await;
    let db = TestDb::new().await;
    let e = start_error(&db, |c| {
        s3.configure(&mut c.file_settings);
        c.file_settings.amazon_s3_secret_access_key = "not-the-secret".into();
    })
    .await;
    assert!(e.contains("S3 refused the credentials (SignatureDoesNotMatch)"), "{e}");
    assert!(e.contains("FileSettings.AmazonS3SecretAccessKey"), "{e}");
    assert!(e.contains(&format!("bucket \"{}\" at http://{}", s3.bucket, s3.endpoint())), "{e}");

    let e = start_error(&db, |c| {
        s3.configure(&mut c.file_settings);
        c.file_settings.amazon_s3_access_key_id = "nobody".into();
    })
    .await;
    assert!(e.contains("S3 refused the credentials"), "{e}");
    assert!(e.contains("FileSettings.AmazonS3AccessKeyId"), "{e}");

    let e = start_error(&db, |c| {
        s3.configure(&mut c.file_settings);
        c.file_settings.amazon_s3_bucket = "no-such-bucket".into();
    })
    .await;
    assert!(e.contains("S3 bucket \"no-such-bucket\" does not exist"), "{e}");

    let e = start_error(&db, |c| {
        s3.configure(&mut c.file_settings);
        c.file_settings.amazon_s3_endpoint = format!("127.0.0.1:{}", free_port());
    })
    .await;
    assert!(e.contains("S3 endpoint is unreachable"), "{e}");
    assert_eq!(s3.keys().await, Vec::<String>::new());
}

#[actix_web::test]
async fn a_wrong_secret_key_stops_the_process_and_shows_in_ping() {
    let mut s3 = S3Server::start_new().await;
    let db = TestDb::new().await;

    // A node process with the wrong secret exits non-zero, naming the credentials.
    let dir = temp_dir("bad-secret");
    let mut env = s3.env("");
    env.retain(|(k, _)| k != "MM_FILESETTINGS_AMAZONS3SECRETACCESSKEY");
    env.push(("MM_FILESETTINGS_AMAZONS3SECRETACCESSKEY".into(), "wrong-secret".into()));
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_starling"))
        .args(["serve", "--config"])
        .arg(dir.join("config.json"))
        .env("MM_SQLSETTINGS_DATASOURCE", &db.url)
        .env("MM_SERVICESETTINGS_LISTENADDRESS", format!("127.0.0.1:{}", free_port()))
        .env("MM_LOGSETTINGS_ENABLECONSOLE", "false")
        .env("MM_LOGSETTINGS_FILELOCATION", &dir)
        .envs(env)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the node gives up within a minute")
        .expect("starling runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the node must not start: {stderr}");
    assert!(stderr.contains("S3 refused the credentials (SignatureDoesNotMatch)"), "stderr: {stderr}");
    assert!(stderr.contains("FileSettings.AmazonS3SecretAccessKey"), "stderr: {stderr}");
    assert!(!stderr.contains("wrong-secret"), "the secret is never printed: {stderr}");

    // A running node whose secret stops matching: ping and uploads say so.
    let server = TestServer::start_with(|c| s3.configure(&mut c.file_settings)).await;
    let (author, channel) = author_with_channel(&server.client()).await;
    let good_secret = s3.secret_key.clone();
    s3.restart_with_secret("a-rotated-secret").await;
    let (status, body) = ping(&server.url()).await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["status"], json!("UNHEALTHY"));
    assert_eq!(body["filestore_status"], json!("UNHEALTHY"));
    let why = body["filestore_error"].as_str().unwrap_or_default();
    assert!(why.contains("S3 refused the credentials (SignatureDoesNotMatch)"), "{body}");
    assert!(!why.contains(&good_secret) && !why.contains(ACCESS_KEY), "no keys in ping: {body}");
    let r = check(upload(&author, &channel, &[("x.bin", b"x")]).await, 500, "upload with refused credentials");
    assert_eq!(r.body["id"], json!("api.file.upload_file.storage.app_error"), "{}", r.body);
    assert_eq!(r.body["detailed_error"], json!(""), "the reason is logged, not answered: {}", r.body);
    assert_eq!(fileinfo_rows(&server.db).await, 0);

    s3.restart_with_secret(&good_secret).await;
    let (status, body) = ping(&server.url()).await;
    assert_eq!(status, 200, "{body}");
    upload_one(&author, &channel, "x.bin", b"x").await;
}

#[actix_web::test]
async fn a_custom_emoji_uploaded_on_one_node_is_served_by_another_from_s3() {
    let s3 = S3Server::start_new().await;
    let db = TestDb::new().await;
    let (own1, own2) = (temp_dir("own-1"), temp_dir("own-2"));
    let mut env = s3.env("e");
    env.push(("MM_SERVICESETTINGS_ENABLECUSTOMEMOJI".into(), "true".into()));
    let nodes = two_nodes(&db, [&own1, &own2], &env).await;
    let (author1, author_id) = Client::new(&nodes[0].url()).new_user("emoji").await;
    let author2 = author1.clone_to(&nodes[1].url());
    let image = png_header(20, 20);
    let emoji = upload_emoji(&author1, json!({"name": "s3_parrot", "creator_id": author_id}), Some(image.clone()))
        .await
        .expect(200)
        .body;
    let id = id_of(&emoji);
    let keys = s3.keys().await;
    assert_eq!(keys, vec![format!("e/emoji/{id}/image")], "the image is in the bucket, under the prefix");
    let got = author2.get(&format!("/emoji/{id}/image")).await.expect(200);
    assert!(got.bytes == image, "the other node serves the same bytes");
    assert_eq!(files_under(&own2), Vec::<String>::new(), "nothing in the local directories");
    author2.delete(&format!("/emoji/{id}")).await.expect(200);
    assert_eq!(s3.keys().await, Vec::<String>::new(), "deleting the emoji removes its image");
    check(author1.get(&format!("/emoji/{id}/image")).await, 404, "image of a deleted emoji");
}

/// A real PNG of `w` by `h` pixels.
fn png_image(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img).write_to(&mut out, image::ImageFormat::Png).expect("encode");
    out.into_inner()
}

#[actix_web::test]
async fn pictures_thumbnails_and_previews_land_in_the_bucket_and_every_node_serves_them() {
    let s3 = S3Server::start_new().await;
    let db = TestDb::new().await;
    let (own1, own2) = (temp_dir("own-1"), temp_dir("own-2"));
    let nodes = two_nodes(&db, [&own1, &own2], &s3.env("p")).await;
    let anon1 = Client::new(&nodes[0].url());
    let (author1, channel) = author_with_channel(&anon1).await;
    let author2 = author1.clone_to(&nodes[1].url());
    let me = author1.get("/users/me").await.expect(200).body;
    let user_id = id_of(&me);

    let form = Form::new().part("image", Part::bytes(png_image(300, 300)).file_name("me.png"));
    let mut rb = author1.http.post(format!("{}/api/v4/users/me/image", author1.base)).multipart(form);
    rb = rb.bearer_auth(author1.token.as_deref().unwrap());
    check(Client::finish(rb.send().await.unwrap()).await, 200, "picture upload");
    let info = upload_one(&author1, &channel, "pic.png", &png_image(400, 300)).await;
    assert_eq!(info["has_preview_image"], true, "{info}");
    let id = id_of(&info);

    let keys = s3.keys().await;
    assert!(keys.contains(&format!("p/users/{user_id}/profile.png")), "{keys:?}");
    for suffix in ["pic.png", "pic_thumb.jpg", "pic_preview.jpg"] {
        assert!(
            keys.iter().any(|k| k.starts_with("p/") && k.ends_with(&format!("/{id}/{suffix}"))),
            "{suffix}: {keys:?}"
        );
    }
    let pic1 = author1.get("/users/me/image").await.expect(200).bytes;
    let pic2 = author2.get("/users/me/image").await.expect(200).bytes;
    assert!(pic1 == pic2, "node 2 serves the picture from the bucket");
    let t1 = author1.get(&format!("/files/{id}/thumbnail")).await.expect(200).bytes;
    let t2 = author2.get(&format!("/files/{id}/thumbnail")).await.expect(200).bytes;
    assert!(t1 == t2 && !t1.is_empty(), "node 2 serves the thumbnail");
    author2.get(&format!("/files/{id}/preview")).await.expect(200);
    assert_eq!(files_under(&own1), Vec::<String>::new(), "nothing in the local directories");
    assert_eq!(files_under(&own2), Vec::<String>::new());
}
