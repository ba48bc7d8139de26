//! The "amazons3" file store against a second real S3 server, Garage (tests/common/garage.rs),
//! beside s3s-fs (tests/s3.rs): multipart uploads over 5 MiB with FileSettings'
//! AmazonS3UploadPartSizeBytes, under Mattermost's full key paths (path prefix, date, team,
//! channel, user, file id, a long non-ASCII name); byte ranges read from S3 as ranges; an aborted
//! or abandoned multipart upload leaves no parts behind.

mod common;
use common::garage::Garage;
use common::*;

use bytes::Bytes;
use rand::RngCore;
use serde_json::json;
use starling::filestore::{FileBackend, S3Backend, S3_PART_SIZE};
use std::time::Duration;

fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut v);
    v
}

const PREFIX: &str = "mattermost/prod-files";
const PART: usize = 6 * 1024 * 1024;

#[actix_web::test]
async fn multipart_uploads_with_mattermosts_full_key_paths_and_ranges_on_garage() {
    let garage = Garage::start_new().await;
    let server = TestServer::start_with(|c| {
        garage.configure(&mut c.file_settings);
        c.file_settings.amazon_s3_path_prefix = format!("/{PREFIX}/");
        c.file_settings.amazon_s3_upload_part_size_bytes = PART as i64;
    })
    .await;
    assert_eq!(garage.objects().await, vec![], "the start-up health check leaves nothing");
    let anon = server.client();
    let (author, author_id) = anon.new_user("author").await;
    let (reader, reader_id) = anon.new_user("reader").await;
    let team = author.create_team(true).await;
    author.post(&format!("/teams/{team}/members"), json!({"user_id": reader_id})).await.expect(201);
    let channel = author.create_channel(&team, false).await;
    author.post(&format!("/channels/{channel}/members"), json!({"user_id": reader_id})).await.expect(201);

    // Two full parts of the configured size and a short last one; a small file is one PUT.
    let big = random_bytes(2 * PART + 1_234_567);
    let small = random_bytes(100_000);
    let long_name = format!("Überprüfung – Planung für das Quartal, endgültige Fassung {} (v7).mp4", "ü".repeat(30));
    let r = check(upload_files(&author, &channel, &[(&long_name, &big), ("notes.bin", &small)]).await, 201, "upload");
    let infos = r.body["file_infos"].as_array().expect("file_infos").clone();
    assert_eq!(infos[0]["name"], json!(long_name));
    let ids: Vec<String> = infos.iter().map(|i| i["id"].as_str().expect("id").to_owned()).collect();
    author.post("/posts", json!({"channel_id": channel, "message": "the files", "file_ids": ids})).await.expect(201);

    let db = server.db.client().await;
    let objects = garage.objects().await;
    assert_eq!(objects.len(), 2, "{objects:?}");
    for ((id, bytes), parts) in ids.iter().zip([&big, &small]).zip([Some(3), None]) {
        let path: String = db.query_one("SELECT path FROM fileinfo WHERE id = $1", &[id]).await.expect("row").get(0);
        // Mattermost's layout: YYYYMMDD/teams/noteam/channels/C/users/U/FILEID/NAME.
        let segments: Vec<&str> = path.split('/').collect();
        assert_eq!(segments.len(), 9, "{path}");
        assert!(segments[0].len() == 8 && segments[0].bytes().all(|b| b.is_ascii_digit()), "{path}");
        assert_eq!(&segments[1..8], &["teams", "noteam", "channels", &channel, "users", &author_id, id], "{path}");
        let key = format!("{PREFIX}/{path}");
        let (_, size, etag) = objects.iter().find(|(k, _, _)| *k == key).unwrap_or_else(|| panic!("{key} not stored"));
        assert_eq!(*size, bytes.len() as u64);
        // S3's ETag of a multipart object ends in "-<parts>": three parts of AmazonS3UploadPartSizeBytes.
        match parts {
            Some(n) => assert!(etag.ends_with(&format!("-{n}")), "{key}: ETag {etag} is not of {n} parts"),
            None => assert!(!etag.contains('-'), "{key}: ETag {etag}: the small file was not one PUT"),
        }
    }
    assert!(objects.iter().any(|(k, _, _)| k.len() > 200), "a full key path of over 200 bytes: {objects:?}");
    assert_eq!(garage.pending_uploads().await, Vec::<String>::new(), "no multipart upload left open");

    // Another member reads them whole and in ranges, one crossing the first part boundary.
    let d = check(reader.get(&format!("/files/{}", ids[0])).await, 200, "download");
    assert!(d.bytes == big, "downloaded bytes differ from the upload");
    assert_ranges_served(&reader, &ids[0], &big, PART).await;
    assert_ranges_served(&reader, &ids[1], &small, 50_000).await;
}

#[actix_web::test]
async fn an_aborted_or_abandoned_multipart_upload_leaves_no_parts_on_garage() {
    let garage = Garage::start_new().await;
    let mut settings = starling::config::FileSettings::default();
    garage.configure(&mut settings);
    let backend = S3Backend::new(&settings).expect("backend");
    backend.check().await.expect("Garage passes the node's health check");

    // Aborted: two parts sent, then the upload is abandoned on purpose.
    let mut w = backend.writer("a/aborted.bin").await.expect("writer");
    w.write(Bytes::from(random_bytes(2 * S3_PART_SIZE + 10))).await.expect("write");
    assert_eq!(garage.pending_uploads().await, vec!["a/aborted.bin".to_owned()], "parts went out as they filled");
    w.abort().await;
    assert_eq!(garage.pending_uploads().await, Vec::<String>::new());

    // Dropped unfinished (the request went away): aborted in the background.
    let mut w = backend.writer("a/dropped.bin").await.expect("writer");
    w.write(Bytes::from(random_bytes(S3_PART_SIZE + 10))).await.expect("write");
    drop(w);
    let cleaned = wait_until(Duration::from_secs(10), || async { garage.pending_uploads().await.is_empty() }).await;
    assert!(cleaned, "the dropped upload's parts linger: {:?}", garage.pending_uploads().await);
    assert_eq!(garage.objects().await, vec![], "nothing became visible");

    // A part size under S3's minimum is refused before any upload starts.
    settings.amazon_s3_upload_part_size_bytes = S3_PART_SIZE as i64 - 1;
    let refused = S3Backend::new(&settings).err().expect("refused").to_string();
    assert!(refused.contains("AmazonS3UploadPartSizeBytes"), "{refused}");
}
