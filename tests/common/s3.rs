//! A real S3-compatible server for tests: s3s-fs (it verifies SigV4 signatures and keeps objects
//! as files), started on a free loopback port with a data directory of the test's own, with one
//! bucket. `scripts/install-s3-server` installs it and `scripts/test` exports its path as
//! STARLING_S3_SERVER; a test that needs it fails (never skips) when it is missing.
//!
//! Fault injection: [`S3Server::stop`] and [`S3Server::start`] (same port, same data) for an
//! outage, [`S3Server::restart_with_secret`] for credentials that no longer match.

use super::cluster::free_port;
use super::wait_until;
use ::s3::creds::Credentials;
use ::s3::{Bucket, Region};
use starling::config::FileSettings;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The region the tests sign with. s3s-fs accepts any; "us-east-1" is what a node assumes when
/// AmazonS3Region is empty.
pub const REGION: &str = "us-east-1";
pub const ACCESS_KEY: &str = "starling-test-access";

/// The longest object key s3s-fs can take in a multipart upload: it keeps an upload's metadata in
/// one file named `.bucket-<b64 bucket>.object-<b64 key>.upload-<uuid>.metadata.json`, which must
/// fit in 255 bytes. A Mattermost file path is 118 bytes plus the file name, so tests keep file
/// names and path prefixes short on S3. (A limit of this test server, not of S3 or the driver.)
pub const MAX_KEY_BYTES: usize = 130;

/// The s3s-fs binary: STARLING_S3_SERVER, else where scripts/install-s3-server puts it.
pub fn binary() -> PathBuf {
    super::installed_binary(
        "STARLING_S3_SERVER",
        "starling/s3s-fs/bin/s3s-fs",
        "the S3 server for the tests (s3s-fs)",
        "install-s3-server",
    )
}

pub struct S3Server {
    pub port: u16,
    /// s3s-fs's data directory: one folder per bucket, pending multipart uploads at the top.
    pub root: PathBuf,
    pub bucket: String,
    pub secret_key: String,
    log: PathBuf,
    child: Option<Child>,
}

impl S3Server {
    /// Start a server with one empty bucket and answer once it serves.
    pub async fn start_new() -> S3Server {
        let dir = super::temp_dir("s3");
        let root = dir.join("data");
        std::fs::create_dir_all(&root).expect("s3 data dir");
        let mut s = S3Server {
            port: free_port(),
            root,
            // Short: s3s-fs names a metadata file after base64(bucket) + base64(key), and a file
            // name longer than 255 bytes fails (see [`MAX_KEY_BYTES`]).
            bucket: "files".into(),
            secret_key: format!("secret-{}", starling_protocol::new_id()),
            log: dir.join("s3s-fs.log"),
            child: None,
        };
        s.start().await;
        s.bucket_handle().create_with_path_style_bucket().await;
        s
    }

    /// (Re)start on the same port and data directory; returns once it answers.
    pub async fn start(&mut self) {
        assert!(self.child.is_none(), "the S3 server is already running");
        let out = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("s3 log");
        let err = out.try_clone().expect("s3 log");
        let child = Command::new(binary())
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", &self.secret_key])
            .arg(&self.root)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("s3s-fs starts");
        self.child = Some(child);
        let addr = format!("127.0.0.1:{}", self.port);
        let up =
            wait_until(Duration::from_secs(20), || async { tokio::net::TcpStream::connect(&addr).await.is_ok() }).await;
        assert!(up, "s3s-fs did not answer on {addr}; log:\n{}", self.log_tail());
    }

    /// Stop the server (SIGKILL): every request fails with "connection refused" until [`start`].
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("kill s3s-fs");
            c.wait().expect("wait for s3s-fs");
        }
    }

    /// Restart with another secret key: the nodes' signatures stop matching.
    pub async fn restart_with_secret(&mut self, secret: &str) {
        self.stop();
        self.secret_key = secret.to_owned();
        self.start().await;
    }

    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Point FileSettings at this server, with the right keys.
    pub fn configure(&self, f: &mut FileSettings) {
        f.driver_name = "amazons3".into();
        f.amazon_s3_bucket = self.bucket.clone();
        f.amazon_s3_endpoint = self.endpoint();
        f.amazon_s3_region = REGION.into();
        f.amazon_s3_ssl = false;
        f.amazon_s3_access_key_id = ACCESS_KEY.into();
        f.amazon_s3_secret_access_key = self.secret_key.clone();
    }

    /// The same as `MM_FILESETTINGS_*` variables, for node processes.
    pub fn env(&self, prefix: &str) -> Vec<(String, String)> {
        [
            ("MM_FILESETTINGS_DRIVERNAME", "amazons3".to_owned()),
            ("MM_FILESETTINGS_AMAZONS3BUCKET", self.bucket.clone()),
            ("MM_FILESETTINGS_AMAZONS3ENDPOINT", self.endpoint()),
            ("MM_FILESETTINGS_AMAZONS3REGION", REGION.to_owned()),
            ("MM_FILESETTINGS_AMAZONS3SSL", "false".to_owned()),
            ("MM_FILESETTINGS_AMAZONS3ACCESSKEYID", ACCESS_KEY.to_owned()),
            ("MM_FILESETTINGS_AMAZONS3SECRETACCESSKEY", self.secret_key.clone()),
            ("MM_FILESETTINGS_AMAZONS3PATHPREFIX", prefix.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// A client for the bucket with the server's current keys, for looking at what the nodes stored.
    pub fn bucket_handle(&self) -> TestBucket {
        let region = Region::Custom { region: REGION.into(), endpoint: format!("http://{}", self.endpoint()) };
        let creds = Credentials::new(Some(ACCESS_KEY), Some(&self.secret_key), None, None, None).expect("credentials");
        TestBucket(Bucket::new(&self.bucket, region, creds).expect("bucket").with_path_style())
    }

    /// Every object key in the bucket.
    pub async fn keys(&self) -> Vec<String> {
        self.bucket_handle().keys().await
    }

    /// Multipart uploads started and neither completed nor aborted (s3s-fs keeps one
    /// `.upload-<id>.json` per upload, and its parts as `.upload_id-<id>.part-<n>`).
    pub fn pending_uploads(&self) -> Vec<String> {
        pending_in(&self.root)
    }

    pub fn log_tail(&self) -> String {
        let s = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

fn pending_in(root: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(root)
        .expect("s3 data dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".upload-") || n.starts_with(".upload_id-"))
        .collect();
    out.sort();
    out
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub struct TestBucket(pub Box<Bucket>);

impl TestBucket {
    async fn create_with_path_style_bucket(&self) {
        let b = &self.0;
        let creds = b.credentials().await.expect("credentials");
        Bucket::create_with_path_style(&b.name(), b.region(), creds, ::s3::BucketConfiguration::default())
            .await
            .expect("create the test bucket");
    }

    pub async fn keys(&self) -> Vec<String> {
        let pages = self.0.list(String::new(), None).await.expect("list the bucket");
        let mut keys: Vec<String> = pages.into_iter().flat_map(|p| p.contents).map(|o| o.key).collect();
        keys.sort();
        keys
    }
}
