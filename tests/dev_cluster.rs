//! scripts/dev-up and scripts/dev-down as a developer uses them: three nodes and NGINX come up;
//! one node dies; running dev-up again brings back that node only (the others and NGINX keep
//! their processes) and it rejoins the cluster; dev-down stops everything. Real node processes
//! (this build, through STARLING_DEV_BIN), real NGINX, real PostgreSQL; ports and the state
//! directory of the test's own, so that it runs beside the other tests.

mod common;
use common::*;

use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Node 1's HTTP port, such that every port dev-up uses for three nodes is free: HTTP, gossip
/// (+9) and metrics (+2) for each node, 100 apart. Below the range `free_port` hands out.
fn free_port_base() -> u16 {
    for attempt in 0..400u32 {
        let base = 12_000 + ((std::process::id() * 7 + attempt * 13) % 7_500) as u16;
        let ports: Vec<u16> = (0..3).flat_map(|n| [0, 9, 2].map(|d| base + n * 100 + d)).collect();
        let held: Vec<TcpListener> = ports.iter().filter_map(|p| TcpListener::bind(("127.0.0.1", *p)).ok()).collect();
        if held.len() == ports.len() {
            return base;
        }
    }
    panic!("no free range of ports for three dev nodes");
}

struct Dev {
    dir: PathBuf,
    env: Vec<(String, String)>,
}

struct Ran {
    ok: bool,
    out: String,
}

impl Dev {
    fn run(&self, script: &str) -> Ran {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = Command::new(root.join("scripts").join(script))
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .unwrap_or_else(|e| panic!("{script} runs: {e}"));
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        Ran { ok: out.status.success(), out: text }
    }

    fn pid(&self, what: &str) -> i32 {
        let file = self.dir.join(what);
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        text.trim().parse().unwrap_or_else(|_| panic!("{} holds {text:?}", file.display()))
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        // Whatever happened, leave no process behind.
        let _stopped = self.run("dev-down");
    }
}

/// Whether the process runs: it has a /proc entry and is not a zombie (dead, not yet reaped).
fn alive(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit(") ").next().and_then(|s| s.chars().next());
    !matches!(state, None | Some('Z') | Some('X'))
}

async fn ping(base: &str) -> bool {
    let c = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().expect("client");
    matches!(c.get(format!("{base}/api/v4/system/ping")).send().await, Ok(r) if r.status() == 200)
}

/// The cluster as a node sees it: how many nodes `/cluster/status` shows up and linked (a node
/// that went away stays listed, red, as in Mattermost).
async fn cluster_size(c: &Client) -> usize {
    let status = c.get("/cluster/status").await.body;
    status.as_array().map_or(0, |nodes| nodes.iter().filter(|n| n["status"] == "green").count())
}

#[actix_web::test]
async fn dev_up_brings_back_a_stopped_node_and_leaves_the_rest_running() {
    let db = TestDb::new().await;
    let dir = temp_dir("devup");
    let base = free_port_base();
    let lb = common::cluster::free_port();
    let pg = pg_base();
    let dev = Dev {
        dir: dir.clone(),
        env: vec![
            ("STARLING_DEV_BIN".into(), env!("CARGO_BIN_EXE_starling").into()),
            ("STARLING_DEV_DIR".into(), dir.display().to_string()),
            ("STARLING_DEV_HTTP_PORT".into(), base.to_string()),
            ("STARLING_DEV_PORT".into(), lb.to_string()),
            ("STARLING_DEV_PG".into(), pg),
            ("STARLING_DEV_DB".into(), db.name.clone()),
        ],
    };
    let nodes: Vec<String> = (0..3).map(|n| format!("http://127.0.0.1:{}", base + n * 100)).collect();
    let lb_url = format!("http://127.0.0.1:{lb}");

    let up = dev.run("dev-up");
    assert!(up.ok, "dev-up failed:\n{}", up.out);
    assert!(up.out.contains(&format!("Starling is up: {lb_url}")), "{}", up.out);
    for n in &nodes {
        assert!(ping(n).await, "{n} does not answer after dev-up:\n{}", up.out);
    }
    // The first user to sign up is the admin; through NGINX, as the README says.
    let anon = Client::new(&lb_url);
    let (admin, admin_id) = anon.new_user("devadmin").await;
    let on = |n: usize| admin.clone_to(&nodes[n]);
    let joined = wait_until(Duration::from_secs(30), || async { cluster_size(&on(0)).await == 3 }).await;
    assert!(joined, "three nodes never formed a cluster: {}", on(0).get("/cluster/status").await.body);

    let (nginx, one, two, three) = (
        dev.pid("nginx/nginx.pid"),
        dev.pid("n1/starling.pid"),
        dev.pid("n2/starling.pid"),
        dev.pid("n3/starling.pid"),
    );
    let killed = Command::new("kill").args(["-KILL", &two.to_string()]).status().expect("kill runs");
    assert!(killed.success());
    let gone = wait_until(Duration::from_secs(10), || async { !ping(&nodes[1]).await }).await;
    assert!(gone, "node 2 still answers after SIGKILL");
    let noticed = wait_until(Duration::from_secs(20), || async { cluster_size(&on(0)).await == 2 }).await;
    assert!(noticed, "node 1 still shows the killed node up: {}", on(0).get("/cluster/status").await.body);

    let again = dev.run("dev-up");
    assert!(again.ok, "dev-up with node 2 down failed:\n{}", again.out);
    for said in ["node 1 already running", "node 3 already running", "starting node 2", "NGINX already running"] {
        assert!(again.out.contains(said), "dev-up did not say {said:?}:\n{}", again.out);
    }
    assert!(!again.out.contains("starting node 1") && !again.out.contains("starting node 3"), "{}", again.out);
    assert_eq!(
        (dev.pid("nginx/nginx.pid"), dev.pid("n1/starling.pid"), dev.pid("n3/starling.pid")),
        (nginx, one, three),
        "dev-up restarted what was running"
    );
    let new_two = dev.pid("n2/starling.pid");
    assert_ne!(new_two, two);
    assert!(alive(new_two) && alive(one) && alive(three) && alive(nginx));
    assert!(ping(&nodes[1]).await, "node 2 is not back");
    let rejoined = wait_until(Duration::from_secs(30), || async {
        cluster_size(&on(1)).await == 3 && cluster_size(&on(0)).await == 3
    })
    .await;
    assert!(rejoined, "node 2 did not rejoin: {}", on(1).get("/cluster/status").await.body);
    // Node 2 serves the same data: the admin's session made before it died works there.
    let me = on(1).get("/users/me").await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.body["id"], json!(admin_id));
    assert_eq!(admin.get("/system/ping").await.body["status"], Value::from("OK"), "NGINX routes again");

    let down = dev.run("dev-down");
    assert!(down.ok, "dev-down failed:\n{}", down.out);
    for pid in [nginx, one, new_two, three] {
        let dead = wait_until(Duration::from_secs(10), || async move { !alive(pid) }).await;
        assert!(dead, "pid {pid} still runs after dev-down:\n{}", down.out);
    }
    for n in &nodes {
        assert!(!ping(n).await, "{n} still answers after dev-down");
    }
}
