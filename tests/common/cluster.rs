//! Nodes as real processes (so they can be killed with SIGKILL), on free loopback ports.

use super::TestDb;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A port a node can bind later. Taken below the kernel's ephemeral range (32768-60999): a port
/// from that range, free now, can become the source port of some outbound connection before the
/// node binds it. Each test process walks its own stretch of 20000-31999.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = (std::process::id() % 12) * 1000;
    for _ in 0..12_000 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 20_000 + ((start + n) % 12_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

pub struct NodeProc {
    pub name: String,
    pub http_port: u16,
    pub gossip_port: u16,
    pub metrics_port: u16,
    pub dir: PathBuf,
    /// The node binary (`starling`, or a binary built on it).
    pub bin: PathBuf,
    env: Vec<(String, String)>,
    child: Option<Child>,
}

impl NodeProc {
    /// Start a clustered node on `db` named `name` in cluster `cluster`, sharing `files`.
    pub fn spawn(db: &TestDb, name: &str, cluster: &str, files: &std::path::Path, extra: &[(&str, &str)]) -> NodeProc {
        Self::spawn_on(&db.url, name, cluster, files, extra)
    }

    /// [`NodeProc::spawn`] with the master at `dsn`.
    pub fn spawn_on(dsn: &str, name: &str, cluster: &str, files: &std::path::Path, extra: &[(&str, &str)]) -> NodeProc {
        let Some(bin) = option_env!("CARGO_BIN_EXE_starling") else {
            panic!("only the starling package's tests have its binary: use spawn_bin")
        };
        Self::spawn_bin(std::path::Path::new(bin), dsn, name, cluster, files, extra)
    }

    /// [`NodeProc::spawn_on`] running `bin` (a binary built on Starling) instead of `starling`.
    pub fn spawn_bin(
        bin: &std::path::Path,
        dsn: &str,
        name: &str,
        cluster: &str,
        files: &std::path::Path,
        extra: &[(&str, &str)],
    ) -> NodeProc {
        let dir = super::temp_dir(&format!("node-{name}"));
        let (http_port, gossip_port, metrics_port) = (free_port(), free_port(), free_port());
        let mut env: Vec<(String, String)> = vec![
            ("MM_SQLSETTINGS_DATASOURCE", dsn.to_owned()),
            ("MM_SQLSETTINGS_MAXOPENCONNS", "20".into()),
            ("MM_SERVICESETTINGS_LISTENADDRESS", format!("127.0.0.1:{http_port}")),
            ("MM_METRICSSETTINGS_ENABLE", "true".into()),
            ("MM_METRICSSETTINGS_LISTENADDRESS", format!("127.0.0.1:{metrics_port}")),
            ("MM_CLUSTERSETTINGS_ENABLE", "true".into()),
            ("MM_CLUSTERSETTINGS_CLUSTERNAME", cluster.into()),
            ("MM_CLUSTERSETTINGS_GOSSIPPORT", gossip_port.to_string()),
            ("MM_CLUSTERSETTINGS_OVERRIDEHOSTNAME", "127.0.0.1".into()),
            ("MM_CLUSTERSETTINGS_BINDADDRESS", "127.0.0.1".into()),
            ("MM_FILESETTINGS_DIRECTORY", files.to_string_lossy().into_owned()),
            ("MM_PLUGINSETTINGS_DIRECTORY", dir.join("plugins").to_string_lossy().into_owned()),
            ("MM_LOGSETTINGS_ENABLECONSOLE", "true".into()),
            ("MM_LOGSETTINGS_CONSOLELEVEL", "INFO".into()),
            ("MM_LOGSETTINGS_FILELOCATION", dir.to_string_lossy().into_owned()),
            ("MM_TEAMSETTINGS_ENABLEOPENSERVER", "true".into()),
            ("MM_SERVICESETTINGS_WEBSOCKETHUBS", "1".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        for (k, v) in extra {
            env.retain(|(ek, _)| ek != k);
            env.push(((*k).to_owned(), (*v).to_owned()));
        }
        let mut n = NodeProc {
            name: name.into(),
            http_port,
            gossip_port,
            metrics_port,
            dir,
            bin: bin.to_owned(),
            env,
            child: None,
        };
        n.start();
        n
    }

    pub fn start(&mut self) {
        let out =
            std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("console.log")).expect("log file");
        let err = out.try_clone().expect("log file");
        let mut cmd = Command::new(&self.bin);
        cmd.arg("serve");
        // MM_CONFIG (a database URL, say) names the config; otherwise a file of the node's own.
        if !self.env.iter().any(|(k, _)| k == "MM_CONFIG") {
            cmd.arg("--config").arg(self.dir.join("config.json"));
        }
        let child = cmd
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("starling starts");
        self.child = Some(child);
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// Set (or with None remove) an environment variable for the next [`NodeProc::start`].
    pub fn set_env(&mut self, key: &str, value: Option<&str>) {
        self.env.retain(|(k, _)| k != key);
        if let Some(v) = value {
            self.env.push((key.to_owned(), v.to_owned()));
        }
    }

    /// Wait (bounded) for the process to exit by itself, without blocking the test's runtime
    /// (its clients keep running meanwhile); its exit code (None: still running after `timeout`,
    /// killed by a signal, or not running).
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            let c = self.child.as_mut()?;
            if let Ok(Some(status)) = c.try_wait() {
                self.child = None;
                return status.code();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// SIGTERM (the node drains and leaves), then [`NodeProc::wait_exit`].
    pub async fn drain_and_wait(&mut self, timeout: Duration) -> Option<i32> {
        unsafe_kill(self.pid()?, 15);
        self.wait_exit(timeout).await
    }

    pub fn gossip_addr(&self) -> String {
        format!("127.0.0.1:{}", self.gossip_port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Wait until the node answers ping (bounded).
    pub async fn ready(&self) {
        let url = format!("{}/api/v4/system/ping", self.url());
        let ok = super::wait_until(Duration::from_secs(30), || async {
            reqwest::get(&url).await.map(|r| r.status().is_success()).unwrap_or(false)
        })
        .await;
        assert!(ok, "node {} did not come up; log:\n{}", self.name, self.log_tail());
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill(); // SIGKILL
            let _ = c.wait();
        }
    }

    /// SIGTERM (the node drains, which takes up to ~11 s with websockets open), then wait for the
    /// process to leave (bounded: 30 s, then SIGKILL).
    pub fn terminate(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe_kill(c.id(), 15);
            for _ in 0..600 {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log_tail(&self) -> String {
        let s = std::fs::read_to_string(self.dir.join("console.log")).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    pub async fn metrics(&self) -> String {
        let url = format!("http://127.0.0.1:{}/metrics", self.metrics_port);
        match reqwest::get(&url).await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }
}

fn unsafe_kill(pid: u32, sig: i32) {
    let _ = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status();
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Node processes of one cluster on one database, all answering ping.
pub struct ClusterProcs {
    pub db: TestDb,
    pub files: PathBuf,
    pub nodes: Vec<NodeProc>,
    pub name: String,
}

impl ClusterProcs {
    /// Start `n` clustered nodes with extra environment settings and wait until each answers.
    pub async fn start(n: usize, extra: &[(&str, &str)]) -> ClusterProcs {
        let db = TestDb::new().await;
        let files = super::temp_dir("shared-files");
        let name = format!("c{}", &starling_protocol::new_id()[..8]);
        let nodes: Vec<NodeProc> =
            (0..n).map(|i| NodeProc::spawn(&db, &format!("n{}", i + 1), &name, &files, extra)).collect();
        for node in &nodes {
            node.ready().await;
        }
        ClusterProcs { db, files, nodes, name }
    }

    pub fn client(&self, i: usize) -> super::Client {
        super::Client::new(&self.nodes[i].url())
    }

    /// Wait until `admin`'s node sees every node of the cluster green.
    pub async fn all_green(&self, admin: &super::Client) -> bool {
        let want = self.nodes.len();
        super::wait_until(Duration::from_secs(20), || async {
            let s = admin.get("/cluster/status").await.body.as_array().cloned().unwrap_or_default();
            s.len() == want && s.iter().all(|n| n["status"] == "green")
        })
        .await
    }
}
