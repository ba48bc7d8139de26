//! The test harness: each test gets its own PostgreSQL database and starts real nodes in-process
//! on free loopback ports. Set STARLING_TEST_PG to point at another server
//! (default `postgres://postgres@127.0.0.1:5432`).

#![allow(dead_code)]

pub mod admin;
pub mod callback;
pub mod cluster;
pub mod garage;
pub mod nginx;
pub mod proxy;
pub mod replica;
pub mod s3;
pub mod ws;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use starling::config::source::ConfigSource;
use starling::config::{Config, LoadedConfig};
use starling::server::Node;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub fn pg_base() -> String {
    std::env::var("STARLING_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A database of the test's own, dropped when the test ends.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let name = format!("starling_test_{}", starling_protocol::new_id());
        let (client, conn) = tokio_postgres::connect(&format!("{}/postgres", pg_base()), tokio_postgres::NoTls)
            .await
            .expect("PostgreSQL must be running for integration tests (see README)");
        actix_web::rt::spawn(conn);
        client.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create test database");
        let url = format!("{}/{name}?sslmode=disable", pg_base());
        TestDb { name, url }
    }

    /// A connection to this test's database, for checking what the node wrote.
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls).await.expect("connect");
        actix_web::rt::spawn(conn);
        client
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop from a thread of its own: the test's runtime may be shutting down.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async move {
                if let Ok((client, conn)) =
                    tokio_postgres::connect(&format!("{}/postgres", pg_base()), tokio_postgres::NoTls).await
                {
                    tokio::spawn(conn);
                    let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                }
            });
        })
        .join();
    }
}

pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("starling-{tag}-{}", starling_protocol::new_id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Put a default config (with `read_only_config`) into `db`'s configurations table the way an
/// operator does, with `starling config migrate`; what the command printed.
pub fn migrate_config_into(db: &TestDb, read_only_config: bool) -> String {
    let Some(bin) = option_env!("CARGO_BIN_EXE_starling") else {
        panic!("only the starling package's tests have its binary")
    };
    let mut start = Config::default();
    start.cluster_settings.read_only_config = read_only_config;
    start.sql_settings.data_source = db.url.clone();
    let file = temp_dir("migrate").join("config.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&start).expect("config as JSON")).expect("config file");
    let out = std::process::Command::new(bin)
        .args(["config", "migrate"])
        .arg(&file)
        .arg(&db.url)
        .output()
        .expect("starling config migrate runs");
    assert!(out.status.success(), "migrate: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A config for a test node on `db`: free port, its own file directory, quiet logs.
pub fn test_config(db: &TestDb) -> Config {
    test_config_on(&db.url)
}

/// [`test_config`] with the master at `dsn` (a replica promoted, say).
pub fn test_config_on(dsn: &str) -> Config {
    let mut c = Config::default();
    c.service_settings.listen_address = "127.0.0.1:0".into();
    c.sql_settings.data_source = dsn.to_owned();
    c.sql_settings.max_open_conns = 20;
    c.sql_settings.connect_attempts = 3;
    c.sql_settings.connect_retry_seconds = 1;
    c.file_settings.directory = temp_dir("files").to_string_lossy().into_owned();
    c.plugin_settings.directory = temp_dir("plugins").to_string_lossy().into_owned();
    c.log_settings.enable_console = false;
    c.log_settings.enable_file = false;
    c.team_settings.enable_open_server = true;
    c
}

pub fn test_logger() -> slog::Logger {
    if std::env::var("STARLING_TEST_LOG").is_ok() {
        use slog::Drain;
        let d = slog_term::FullFormat::new(slog_term::PlainSyncDecorator::new(std::io::stderr())).build().fuse();
        slog::Logger::root(d, slog::o!())
    } else {
        slog::Logger::root(slog::Discard, slog::o!())
    }
}

pub async fn start_node(config: Config) -> Node {
    // A real file, so `POST /config/reload` and `PUT /config` have something to work on.
    let path = temp_dir("config").join("config.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&config).expect("config json")).expect("write config");
    let loaded = LoadedConfig::from_config(config, ConfigSource::File(path));
    starling::server::start(loaded, test_logger()).await.expect("node starts")
}

/// One database and one node on it.
pub struct TestServer {
    pub db: TestDb,
    pub node: Node,
    pub config: Config,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(change: impl FnOnce(&mut Config)) -> TestServer {
        let db = TestDb::new().await;
        let mut config = test_config(&db);
        change(&mut config);
        let node = start_node(config.clone()).await;
        TestServer { db, node, config }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.node.http_addr)
    }

    pub fn client(&self) -> Client {
        Client::new(&self.url())
    }
}

/// A small API v4 client that returns status and JSON body, never hiding either.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub token: Option<String>,
    pub http: reqwest::Client,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub bytes: Vec<u8>,
}

impl Resp {
    /// Assert the status, and for errors the Mattermost error shape.
    pub fn expect(self, status: u16) -> Resp {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.body);
        if status >= 400 {
            assert_error_shape(&self.body, status);
        }
        self
    }
    pub fn id(&self) -> String {
        self.body["id"].as_str().unwrap_or_default().to_owned()
    }
}

pub fn assert_error_shape(body: &Value, status: u16) {
    for k in ["id", "message", "detailed_error", "request_id"] {
        assert!(body.get(k).is_some_and(Value::is_string), "error body lacks {k}: {body}");
    }
    assert_eq!(body["status_code"], json!(status), "status_code in body: {body}");
}

impl Client {
    pub fn new(base: &str) -> Client {
        Client { base: base.to_owned(), token: None, http: reqwest::Client::new() }
    }

    pub fn with_token(&self, token: &str) -> Client {
        Client { token: Some(token.to_owned()), ..self.clone() }
    }

    /// The same session against another node.
    pub fn clone_to(&self, base: &str) -> Client {
        Client { base: base.to_owned(), ..self.clone() }
    }

    pub async fn raw(&self, method: Method, path: &str, body: Option<Vec<u8>>, content_type: &str) -> Resp {
        let mut rb = self.http.request(method, format!("{}/api/v4{}", self.base, path));
        if let Some(t) = &self.token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.header("Content-Type", content_type).body(b);
        }
        let r = rb.send().await.expect("request reaches the node");
        Self::finish(r).await
    }

    pub async fn finish(r: reqwest::Response) -> Resp {
        let status = r.status();
        let headers = r.headers().clone();
        let bytes = r.bytes().await.expect("body").to_vec();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if body.is_object() || body.is_array() {
            let ct = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
            assert_eq!(ct, "application/json", "JSON answers are exactly application/json");
        }
        Resp { status, headers, body, bytes }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.raw(Method::GET, path, None, "").await
    }
    pub async fn delete(&self, path: &str) -> Resp {
        self.raw(Method::DELETE, path, None, "").await
    }
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.raw(Method::POST, path, Some(body.to_string().into_bytes()), "application/json").await
    }
    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.raw(Method::PUT, path, Some(body.to_string().into_bytes()), "application/json").await
    }

    /// Create a user with a unique name; returns (user id, username).
    pub async fn create_user(&self, prefix: &str) -> (String, String) {
        let suffix = &starling_protocol::new_id()[..8];
        let username = format!("{prefix}{suffix}");
        let r = self
            .post(
                "/users",
                json!({"email": format!("{username}@example.com"), "username": username, "password": "password-1"}),
            )
            .await
            .expect(201);
        (r.id(), username)
    }

    /// Log in and return a client that carries the token.
    pub async fn login(&self, username: &str) -> Client {
        let r = self.post("/users/login", json!({"login_id": username, "password": "password-1"})).await.expect(200);
        let token = r.headers.get("Token").and_then(|v| v.to_str().ok()).expect("Token header").to_owned();
        self.with_token(&token)
    }

    /// A new user, logged in: (client, user id).
    pub async fn new_user(&self, prefix: &str) -> (Client, String) {
        let (id, name) = self.create_user(prefix).await;
        (self.login(&name).await, id)
    }

    pub async fn create_team(&self, open: bool) -> String {
        let name = format!("t{}", &starling_protocol::new_id()[..10]);
        self.post("/teams", json!({"name": name, "display_name": "Team", "type": if open {"O"} else {"I"}}))
            .await
            .expect(201)
            .id()
    }

    pub async fn create_channel(&self, team_id: &str, private: bool) -> String {
        let name = format!("c{}", &starling_protocol::new_id()[..10]);
        self.post(
            "/channels",
            json!({"team_id": team_id, "name": name, "display_name": "Channel", "type": if private {"P"} else {"O"}}),
        )
        .await
        .expect(201)
        .id()
    }

    pub async fn create_post(&self, channel_id: &str, message: &str) -> Value {
        self.post("/posts", json!({"channel_id": channel_id, "message": message})).await.expect(201).body
    }
}

/// Poll `cond` until it holds or `timeout` passes; never a blind sleep.
pub async fn wait_until<F, Fut>(timeout: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if cond().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Assert a status (and for errors Mattermost's error shape), naming what was being checked.
pub fn check(r: Resp, status: u16, what: &str) -> Resp {
    assert_eq!(r.status.as_u16(), status, "{what}: unexpected status; body: {}", r.body);
    if status >= 400 {
        assert_error_shape(&r.body, status);
    }
    r
}

/// Send a body as is (malformed JSON, wrong types) with a JSON content type.
pub async fn send_raw(c: &Client, method: Method, path: &str, body: &str) -> Resp {
    c.raw(method, path, Some(body.as_bytes().to_vec()), "application/json").await
}

/// One number from the test's database.
pub async fn count(server: &TestServer, sql: &str) -> i64 {
    server.db.client().await.query_one(sql, &[]).await.expect(sql).get(0)
}

/// A valid PNG header of `w` by `h` pixels (the server reads only an image's header).
pub fn png_header(w: u32, h: u32) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    b.extend_from_slice(&w.to_be_bytes());
    b.extend_from_slice(&h.to_be_bytes());
    b.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
    b
}

/// `POST /emoji`: an `emoji` JSON field and, when given, an `image` file.
pub async fn upload_emoji(c: &Client, emoji: Value, image: Option<Vec<u8>>) -> Resp {
    use reqwest::multipart::{Form, Part};
    let mut form = Form::new().text("emoji", emoji.to_string());
    if let Some(bytes) = image {
        form = form.part("image", Part::bytes(bytes).file_name("e.png").mime_str("image/png").expect("mime"));
    }
    let mut rb = c.http.post(format!("{}/api/v4/emoji", c.base)).multipart(form);
    if let Some(t) = &c.token {
        rb = rb.bearer_auth(t);
    }
    Client::finish(rb.send().await.expect("request reaches the node")).await
}

/// `POST /files`: a multipart form with `channel_id` and one `files` part per (name, bytes).
pub async fn upload_files(c: &Client, channel: &str, files: &[(&str, &[u8])]) -> Resp {
    use reqwest::multipart::{Form, Part};
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

/// Every regular file under `dir`, relative to it, sorted.
pub fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                out.push(e.path().strip_prefix(dir).unwrap_or(&e.path()).to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// `GET path` with a `Range` header.
pub async fn get_range(c: &Client, path: &str, range: &str) -> Resp {
    let mut rb = c.http.get(format!("{}/api/v4{path}", c.base)).header("Range", range);
    if let Some(t) = &c.token {
        rb = rb.bearer_auth(t);
    }
    Client::finish(rb.send().await.expect("request reaches the node")).await
}

/// A stored file's download answers byte ranges as HTTP (and Mattermost) does: 206 with
/// Content-Range for one range (a closed one, one crossing `boundary`, an open end, a suffix), the
/// whole file for several, 416 with `bytes */size` past the end. `bytes` is what was uploaded.
pub async fn assert_ranges_served(c: &Client, file_id: &str, bytes: &[u8], boundary: usize) {
    let path = format!("/files/{file_id}");
    let size = bytes.len();
    assert!(size > boundary + 1000 && boundary > 1000, "the file must reach past the boundary");
    let whole = check(c.get(&path).await, 200, "whole download");
    assert_eq!(whole.headers["accept-ranges"], "bytes");
    let cases = [
        ("bytes=0-99".to_owned(), 0, 99),
        (format!("bytes={}-{}", boundary - 10, boundary + 9), boundary - 10, boundary + 9),
        (format!("bytes={}-", size - 1000), size - 1000, size - 1),
        ("bytes=-777".to_owned(), size - 777, size - 1),
        (format!("bytes={}-{}", size - 5, size + 100), size - 5, size - 1),
    ];
    for (range, start, end) in cases {
        let r = check(get_range(c, &path, &range).await, 206, &range);
        assert_eq!(r.headers["content-range"].to_str().unwrap(), format!("bytes {start}-{end}/{size}"), "{range}");
        assert_eq!(r.headers["content-length"].to_str().unwrap(), (end - start + 1).to_string(), "{range}");
        assert!(r.bytes == bytes[start..=end], "{range}: other bytes than the file's {start}..={end}");
    }
    let several = get_range(c, &path, "bytes=0-1,10-11").await;
    assert_eq!(several.status, 200, "several ranges: the whole file");
    assert!(several.bytes == bytes);
    let past = get_range(c, &path, &format!("bytes={size}-")).await;
    assert_eq!(past.status, 416);
    assert_error_shape(&past.body, 416);
    assert_eq!(past.headers["content-range"].to_str().unwrap(), format!("bytes */{size}"));
    let garbage = get_range(c, &path, "bytes=oops").await;
    assert_eq!(garbage.status, 200, "a Range header that does not parse is ignored");
}

/// A server binary the tests run: the path in `var` if set, else `cached` under the user's cache
/// directory, where `installer` (a script of scripts/) puts it. Panics, saying how to get it,
/// when it is not there: a test that needs it fails, never skips.
pub fn installed_binary(var: &str, cached: &str, what: &str, installer: &str) -> std::path::PathBuf {
    use std::path::PathBuf;
    if let Some(p) = std::env::var_os(var) {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "{var}={} is not a file; run scripts/{installer}", p.display());
        return p;
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_default();
    let p = cache.join(cached);
    assert!(
        p.is_file(),
        "{what} is missing: set {var} to its binary (`scripts/{installer}` installs it and prints its \
         path; scripts/test does both)"
    );
    p
}
