//! A second real S3 server for tests: Garage (an S3-compatible object store written for
//! self-hosting; it checks SigV4 signatures, enforces S3's multipart rules and serves ranges),
//! one node on free loopback ports with a data directory of the test's own, one bucket and one key.
//! `scripts/install-s3-server-2` installs it and `scripts/test` exports its path as
//! STARLING_GARAGE; a test that needs it fails (never skips) when it is missing.

use super::cluster::free_port;
use super::wait_until;
use ::s3::creds::Credentials;
use ::s3::{Bucket, Region};
use starling::config::FileSettings;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The region Garage is configured with; requests must be signed for it.
pub const REGION: &str = "garage";

/// The Garage binary: STARLING_GARAGE, else where scripts/install-s3-server-2 puts it.
pub fn binary() -> PathBuf {
    super::installed_binary(
        "STARLING_GARAGE",
        "starling/garage/bin/garage",
        "Garage, the second S3 server of the tests",
        "install-s3-server-2",
    )
}

pub struct Garage {
    pub s3_port: u16,
    pub bucket: String,
    pub key_id: String,
    pub secret_key: String,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

/// `bytes` random bytes in hex (Garage's secrets and key ids are hex).
fn hex(bytes: usize) -> String {
    let random: String = (0..bytes / 16 + 1).map(|_| starling_protocol::new_id()).collect();
    random.bytes().take(bytes).map(|x| format!("{x:02x}")).collect()
}

impl Garage {
    /// Start a one-node Garage with a layout, a bucket and a key allowed on it; returns once the
    /// bucket answers S3 requests.
    pub async fn start_new() -> Garage {
        let dir = super::temp_dir("garage");
        let (rpc, s3_port, admin) = (free_port(), free_port(), free_port());
        let config = dir.join("garage.toml");
        std::fs::write(
            &config,
            format!(
                "metadata_dir = \"{meta}\"\n\
                 data_dir = \"{data}\"\n\
                 db_engine = \"lmdb\"\n\
                 replication_factor = 1\n\
                 rpc_bind_addr = \"127.0.0.1:{rpc}\"\n\
                 rpc_public_addr = \"127.0.0.1:{rpc}\"\n\
                 rpc_secret = \"{secret}\"\n\
                 [s3_api]\n\
                 s3_region = \"{REGION}\"\n\
                 api_bind_addr = \"127.0.0.1:{s3_port}\"\n\
                 [admin]\n\
                 api_bind_addr = \"127.0.0.1:{admin}\"\n\
                 admin_token = \"{token}\"\n",
                meta = dir.join("meta").display(),
                data = dir.join("data").display(),
                secret = hex(32),
                token = hex(16),
            ),
        )
        .expect("garage config");
        let mut g = Garage {
            s3_port,
            bucket: "mattermost-files".into(),
            key_id: format!("GK{}", hex(12)),
            secret_key: hex(32),
            config,
            log: dir.join("garage.log"),
            child: None,
        };
        g.spawn();
        // The CLI talks to the node over RPC: wait until it does, then give the node a role.
        let up = wait_until(Duration::from_secs(30), || async { g.cli_quiet(&["status"]).is_some() }).await;
        assert!(up, "Garage did not come up; log:\n{}", g.log_tail());
        let node_id = g.cli(&["node", "id", "-q"]);
        let node_id = node_id.trim().split('@').next().expect("node id").to_owned();
        g.cli(&["layout", "assign", "-z", "dc1", "-c", "1G", &node_id]);
        g.cli(&["layout", "apply", "--version", "1"]);
        g.cli(&["bucket", "create", &g.bucket.clone()]);
        g.cli(&["key", "import", "--yes", "-n", "starling", &g.key_id.clone(), &g.secret_key.clone()]);
        g.cli(&["bucket", "allow", "--read", "--write", "--owner", &g.bucket.clone(), "--key", "starling"]);
        let bucket = g.bucket_handle();
        let ready = wait_until(Duration::from_secs(30), || async {
            bucket.list_page(String::new(), None, None, None, Some(1)).await.is_ok()
        })
        .await;
        assert!(ready, "Garage's bucket does not answer; log:\n{}", g.log_tail());
        g
    }

    fn spawn(&mut self) {
        let out = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("garage log");
        let err = out.try_clone().expect("garage log");
        let child = Command::new(binary())
            .arg("-c")
            .arg(&self.config)
            .arg("server")
            .env("RUST_LOG", "garage=warn")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("garage starts");
        self.child = Some(child);
    }

    fn cli_quiet(&self, args: &[&str]) -> Option<String> {
        let out = Command::new(binary()).arg("-c").arg(&self.config).args(args).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Run `garage ARGS` against the node; panics with its output when it fails.
    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(binary()).arg("-c").arg(&self.config).args(args).output().expect("garage cli runs");
        assert!(
            out.status.success(),
            "garage {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.s3_port)
    }

    /// Point FileSettings at this server, with its key.
    pub fn configure(&self, f: &mut FileSettings) {
        f.driver_name = "amazons3".into();
        f.amazon_s3_bucket = self.bucket.clone();
        f.amazon_s3_endpoint = self.endpoint();
        f.amazon_s3_region = REGION.into();
        f.amazon_s3_ssl = false;
        f.amazon_s3_access_key_id = self.key_id.clone();
        f.amazon_s3_secret_access_key = self.secret_key.clone();
    }

    /// A client for the bucket, for looking at what the nodes stored.
    pub fn bucket_handle(&self) -> Box<Bucket> {
        let region = Region::Custom { region: REGION.into(), endpoint: format!("http://{}", self.endpoint()) };
        let creds = Credentials::new(Some(&self.key_id), Some(&self.secret_key), None, None, None).expect("creds");
        Bucket::new(&self.bucket, region, creds).expect("bucket").with_path_style()
    }

    /// Every object key in the bucket, with its size and ETag.
    pub async fn objects(&self) -> Vec<(String, u64, String)> {
        let pages = self.bucket_handle().list(String::new(), None).await.expect("list the bucket");
        let mut out: Vec<(String, u64, String)> = pages
            .into_iter()
            .flat_map(|p| p.contents)
            .map(|o| (o.key, o.size, o.e_tag.unwrap_or_default().trim_matches('"').to_owned()))
            .collect();
        out.sort();
        out
    }

    /// Multipart uploads started and neither completed nor aborted, by key.
    pub async fn pending_uploads(&self) -> Vec<String> {
        let pages = self.bucket_handle().list_multiparts_uploads(None, None).await.expect("list uploads");
        let mut keys: Vec<String> = pages.into_iter().flat_map(|p| p.uploads).map(|u| u.key).collect();
        keys.sort();
        keys
    }

    pub fn log_tail(&self) -> String {
        let s = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
