//! What operators install from deploy/, and the README's runbook, checked against the real
//! programs: the NGINX example passes `nginx -t` and proxies as the tests' template does, the
//! systemd unit has the HA guide's limits (and passes `systemd-analyze verify` where that exists),
//! every metric the Grafana dashboard queries is on a running node's /metrics, and every
//! `starling admin` line of the runbook exits 0 against a three-node cluster behind the example.

mod common;
use common::admin::Run;
use common::callback::{Answer, Callback, Received};
use common::cluster::{free_port, ClusterProcs, NodeProc};
use common::nginx::Nginx;
use common::{temp_dir, wait_until, Client, TestDb};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn repo_file(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn nginx_binary() -> &'static str {
    ["/usr/sbin/nginx", "/usr/bin/nginx"].into_iter().find(|p| Path::new(p).exists()).unwrap_or("nginx")
}

// ------------------------------------------------------------------ NGINX

/// `text` with `from` replaced, which must be there (so a reshaped example fails here, loudly).
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the NGINX example no longer has {from:?}");
    text.replace(from, to)
}

/// The example made runnable in `dir`: listening on `listen`, its upstream on `ports`, its cache
/// and logs in `dir`, included from a main nginx.conf whose pid and temp files are there too.
/// The main config's path.
fn example_nginx_in(dir: &Path, listen: u16, ports: &[u16]) -> PathBuf {
    std::fs::create_dir_all(dir.join("tmp")).expect("nginx temp dir");
    let d = dir.to_string_lossy();
    let mut site = repo_file("deploy/nginx/starling.example.conf");
    site = replace_once(&site, "listen 80;", &format!("listen 127.0.0.1:{listen};"));
    site = replace_once(&site, "/var/cache/nginx/starling", &format!("{d}/cache"));
    site = replace_once(&site, "/var/log/nginx/", &format!("{d}/"));
    let servers: String =
        ports.iter().map(|p| format!("server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;\n")).collect();
    let mut upstream_done = false;
    let lines: Vec<String> = site
        .lines()
        .filter_map(|l| {
            if !l.trim_start().starts_with("server 10.10.10.") {
                return Some(l.to_owned());
            }
            // The example's nodes give way to the test's, in the first one's place.
            (!std::mem::replace(&mut upstream_done, true)).then(|| servers.clone())
        })
        .collect();
    assert!(upstream_done, "the NGINX example's upstream lists no `server 10.10.10.x` node");
    std::fs::write(dir.join("starling.conf"), lines.join("\n")).expect("site file");
    let main = format!(
        "worker_processes 1;\nerror_log {d}/error.log warn;\npid {d}/nginx.pid;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n    access_log off;\n    client_body_temp_path {d}/tmp/body;\n    proxy_temp_path {d}/tmp/proxy;\n    \
         fastcgi_temp_path {d}/tmp/fastcgi;\n    uwsgi_temp_path {d}/tmp/uwsgi;\n    scgi_temp_path {d}/tmp/scgi;\n    \
         include {d}/starling.conf;\n}}\n"
    );
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, main).expect("nginx.conf");
    conf
}

/// NGINX running the example in front of some nodes, once it passes ping to them.
async fn example_nginx(http_ports: &[u16]) -> Nginx {
    let dir = temp_dir("nginx-example");
    let port = free_port();
    let conf = example_nginx_in(&dir, port, http_ports);
    let n = Nginx::run(dir, port, &conf);
    let url = format!("{}/api/v4/system/ping", n.url());
    let up = wait_until(Duration::from_secs(10), || async {
        reqwest::get(&url).await.map(|r| r.status().is_success()).unwrap_or(false)
    })
    .await;
    let log = std::fs::read_to_string(n.dir.join("error.log")).unwrap_or_default();
    assert!(up, "NGINX with the example does not pass ping to the nodes; error.log:\n{log}");
    n
}

#[test]
fn the_nginx_example_passes_nginx_t() {
    let dir = temp_dir("nginx-t");
    let conf = example_nginx_in(&dir, free_port(), &[free_port(), free_port()]);
    let out = Command::new(nginx_binary())
        .arg("-t")
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(&conf)
        .output()
        .expect("nginx is installed (scripts/test installs it)");
    assert!(out.status.success(), "nginx -t refuses the example:\n{}", String::from_utf8_lossy(&out.stderr));

    // What the guide asks of the proxy.
    let site = repo_file("deploy/nginx/starling.example.conf");
    let live: Vec<&str> = site.lines().map(|l| l.split('#').next().unwrap_or("").trim()).collect();
    let has = |s: &str| live.iter().any(|l| l.contains(s));
    for want in [
        "upstream starling",
        "keepalive",
        "location ~ /api/v[0-9]+/(users/)?websocket$",
        "proxy_set_header Upgrade $http_upgrade",
        "proxy_set_header Connection \"upgrade\"",
        "proxy_buffers",
        "proxy_buffer_size",
        "client_max_body_size 100M",
        "max_fails=",
        "fail_timeout=",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for",
        "proxy_cache mattermost_cache",
    ] {
        assert!(has(want), "the NGINX example lacks {want:?}");
    }
    assert!(site.contains("/api/v4/system/ping"), "the example names the health check URL");
}

/// Each `location` of an NGINX file: its pattern and its directives (comments dropped).
fn locations(conf: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    let mut current: Option<(String, BTreeSet<String>)> = None;
    for line in conf.lines() {
        let l = line.split('#').next().unwrap_or("").trim();
        if let Some(rest) = l.strip_prefix("location ") {
            current = Some((rest.trim_end_matches('{').trim().to_owned(), BTreeSet::new()));
        } else if l == "}" {
            if let Some((k, v)) = current.take() {
                out.insert(k, v);
            }
        } else if let Some((_, v)) = current.as_mut() {
            if !l.is_empty() {
                v.insert(l.to_owned());
            }
        }
    }
    out
}

/// The example may add to the template's proxying, never differ from it: what the tests and
/// scripts/dev-up run is what operators get.
#[test]
fn the_nginx_example_proxies_as_the_template_does() {
    let template = locations(&repo_file("deploy/nginx/starling.conf.template"));
    let example = locations(&repo_file("deploy/nginx/starling.example.conf"));
    assert!(template.len() >= 2, "{template:?}");
    for (pattern, directives) in &template {
        let Some(mine) = example.get(pattern) else { panic!("the example has no `location {pattern}`") };
        let missing: Vec<&String> = directives.difference(mine).collect();
        assert!(missing.is_empty(), "`location {pattern}` of the example lacks the template's {missing:?}");
    }
    // And the template still has its placeholders (scripts/dev-up, tests/common/nginx.rs).
    let t = repo_file("deploy/nginx/starling.conf.template");
    for p in ["@@PREFIX@@", "@@LISTEN@@", "@@UPSTREAMS@@"] {
        assert!(t.contains(p), "the template lost {p}");
    }
}

// ------------------------------------------------------------------ systemd

/// The unit's `Key=value` lines by section (a key given twice keeps every value, in order).
fn unit_entries(text: &str) -> BTreeMap<(String, String), Vec<String>> {
    let mut out: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut section = String::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            section = line[1..line.len() - 1].to_owned();
            continue;
        }
        let (k, v) = line.split_once('=').unwrap_or_else(|| panic!("not Key=value in the unit: {line}"));
        out.entry((section.clone(), k.trim().to_owned())).or_default().push(v.trim().to_owned());
    }
    out
}

/// A systemd time span in seconds ("60", "60s", "1min 30s", "2min").
fn seconds(span: &str) -> u64 {
    span.split_whitespace()
        .map(|part| {
            let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
            let n: u64 = digits.parse().unwrap_or_else(|_| panic!("not a time span: {span}"));
            match &part[digits.len()..] {
                "" | "s" | "sec" => n,
                "m" | "min" => n * 60,
                "h" | "hr" => n * 3600,
                other => panic!("unit {other:?} in {span}"),
            }
        })
        .sum()
}

#[test]
fn the_systemd_unit_has_the_guides_limits_and_runs_serve() {
    let text = repo_file("deploy/systemd/starling.service");
    let unit = unit_entries(&text);
    let one = |key: &str| -> String {
        let v = unit.get(&("Service".to_owned(), key.to_owned()));
        let v = v.unwrap_or_else(|| panic!("[Service] has no {key}="));
        v.last().cloned().unwrap_or_default()
    };
    let limit = |key: &str| -> u64 {
        let v = one(key);
        if v == "infinity" {
            u64::MAX
        } else {
            v.split(':').next().unwrap_or("").parse().unwrap_or_else(|_| panic!("{key}={v}"))
        }
    };
    // What the node warns below at start, and the guide asks for.
    assert!(limit("LimitNOFILE") >= 65_536, "LimitNOFILE={}", one("LimitNOFILE"));
    assert!(limit("LimitNPROC") >= 8_192, "LimitNPROC={}", one("LimitNPROC"));

    let exec = one("ExecStart");
    let words: Vec<&str> = exec.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"/opt/starling/bin/starling"), "ExecStart={exec}");
    assert_eq!(words.get(1), Some(&"serve"), "ExecStart runs `starling serve`: {exec}");
    assert!(words.contains(&"--config"), "ExecStart names the config: {exec}");
    assert_eq!(one("User"), "starling");
    assert_eq!(one("Restart"), "on-failure");
    assert_eq!(one("KillSignal"), "SIGTERM");
    // A drain moves the websockets over ~10 s and gives jobs 10 s more: room for both.
    assert!(seconds(&one("TimeoutStopSec")) >= 30, "TimeoutStopSec={}", one("TimeoutStopSec"));
    assert_eq!(one("EnvironmentFile"), "-/etc/starling/starling.env");
    assert_eq!(one("NoNewPrivileges"), "yes");
    assert!(["strict", "full"].contains(&one("ProtectSystem").as_str()), "ProtectSystem={}", one("ProtectSystem"));
    let rw = one("ReadWritePaths");
    for p in ["/opt/starling/data", "/opt/starling/logs", "/var/tmp"] {
        assert!(rw.split_whitespace().any(|w| w.trim_start_matches('-') == p), "ReadWritePaths lacks {p}: {rw}");
    }
    assert!(unit.contains_key(&("Install".to_owned(), "WantedBy".to_owned())), "no [Install] WantedBy=");

    // systemd's own check, where systemd is installed: with the binary it would run put in the
    // place of /opt/starling/bin/starling (verify checks that the command exists).
    let Some(analyze) = which("systemd-analyze") else {
        eprintln!("packaging: systemd-analyze is not installed here; `systemd-analyze verify` was not run");
        return;
    };
    let dir = temp_dir("systemd-unit");
    let unit_path = dir.join("starling.service");
    std::fs::write(&unit_path, text.replace("/opt/starling/bin/starling", env!("CARGO_BIN_EXE_starling")))
        .expect("unit copy");
    let out = Command::new(analyze).arg("verify").arg(&unit_path).output().expect("systemd-analyze runs");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "systemd-analyze verify refuses the unit:\n{said}");
    assert!(!said.contains("starling.service:"), "systemd-analyze verify warns about the unit:\n{said}");
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").iter().flat_map(std::env::split_paths).map(|d| d.join(name)).find(|p| p.is_file())
}

// ------------------------------------------------------------------ Grafana

/// Every query of the dashboard: the panels' `expr` and the template variables' queries.
fn dashboard_queries(dash: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("expr" | "definition", Value::String(s)) => out.push(s.clone()),
                        ("query", Value::String(s)) => out.push(s.clone()),
                        _ => walk(v, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(dash, &mut out);
    out
}

/// The metric names in a PromQL expression: identifiers outside quotes with one of the node's
/// prefixes (functions, labels and `$variables` have none).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut after_dollar = false;
    for c in expr.chars().chain(std::iter::once(' ')) {
        if quoted {
            quoted = c != '"';
            continue;
        }
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
            continue;
        }
        let w = std::mem::take(&mut word);
        if !after_dollar && ["starling_", "mattermost_", "process_"].iter().any(|p| w.starts_with(p)) {
            out.insert(w);
        }
        after_dollar = c == '$';
        quoted = c == '"';
    }
    out
}

fn dashboard() -> Value {
    serde_json::from_str(&repo_file("deploy/grafana/starling-dashboard.json")).expect("the dashboard is JSON")
}

fn dashboard_metrics() -> BTreeSet<String> {
    dashboard_queries(&dashboard()).iter().flat_map(|q| metric_names(q)).collect()
}

#[test]
fn the_dashboard_imports_with_a_prometheus_input_and_charts_what_operators_watch() {
    let d = dashboard();
    assert!(d["schemaVersion"].as_i64().unwrap_or(0) >= 36, "schemaVersion {}", d["schemaVersion"]);
    assert_eq!(d["uid"], "starling-cluster");
    let input = &d["__inputs"][0];
    assert_eq!((input["name"].as_str(), input["pluginId"].as_str()), (Some("DS_PROMETHEUS"), Some("prometheus")));
    let panels = d["panels"].as_array().expect("panels");
    let mut ids = BTreeSet::new();
    for p in panels {
        assert!(ids.insert(p["id"].as_i64().expect("panel id")), "panel id {} twice", p["id"]);
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${DS_PROMETHEUS}", "panel {}", p["title"]);
        let targets = p["targets"].as_array().filter(|t| !t.is_empty());
        for t in targets.unwrap_or_else(|| panic!("panel {} has no query", p["title"])) {
            assert!(t["expr"].as_str().is_some_and(|e| !e.is_empty()), "panel {}: {t}", p["title"]);
        }
    }
    let names = dashboard_metrics();
    for want in [
        "starling_http_requests_total",
        "starling_http_request_duration_seconds_bucket",
        "starling_http_server_errors_total",
        "starling_http_rate_limited_total",
        "mattermost_http_websockets_total",
        "mattermost_cluster_cluster_health_score",
        "starling_cluster_peer_clock_skew_seconds",
        "mattermost_db_master_connections_total",
        "mattermost_db_replica_lag_abs",
        "mattermost_db_replica_lag_time",
        "mattermost_jobs_active",
        "starling_outgoing_webhook_calls_total",
        "starling_outgoing_webhook_dropped_total",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_threads",
    ] {
        assert!(names.contains(want), "the dashboard does not chart {want}");
    }
    assert_eq!(
        metric_names(r#"sum by (le) (rate(a_b{x="starling_no"}[$__rate_interval])) / starling_x_total"#),
        BTreeSet::from(["starling_x_total".to_owned()])
    );
}

/// Whether `/metrics` text has the metric: a sample of that name, or its `# TYPE` line (a family
/// written by hand with no sample yet, or a histogram's `_bucket`/`_sum`/`_count`).
fn exposes(text: &str, name: &str) -> bool {
    let base = ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(name);
    text.lines().any(|l| {
        l.strip_prefix(name).is_some_and(|r| r.starts_with('{') || r.starts_with(' '))
            || l.strip_prefix("# TYPE ")
                .and_then(|r| r.split_whitespace().next())
                .is_some_and(|n| n == name || n == base)
    })
}

/// Two nodes (the cluster's metrics need a peer), with what makes the rarer metrics appear: a
/// replica lag query, an outgoing webhook call, a 5xx.
#[actix_web::test]
async fn every_metric_the_dashboard_queries_is_on_a_nodes_metrics() {
    let wanted = dashboard_metrics();
    let callback = Callback::start(|_r: &Received| Answer::json(json!({"text": "seen"}))).await;
    let probe = TestDb::new().await; // the lag queries' database: any that answers
    let lag = json!([{
        "DataSource": probe.url,
        "QueryAbsoluteLag": "SELECT 'standby-1', 0",
        "QueryTimeLag": "SELECT 'standby-1', 0",
    }])
    .to_string();
    let c = ClusterProcs::start(
        2,
        &[
            ("MM_SERVICESETTINGS_ALLOWEDUNTRUSTEDINTERNALCONNECTIONS", "127.0.0.1"),
            ("MM_SQLSETTINGS_REPLICALAGSETTINGS", lag.as_str()),
            ("MM_SQLSETTINGS_REPLICAMONITORINTERVALSECONDS", "1"),
        ],
    )
    .await;
    let (admin, _) = c.client(0).new_user("admin").await;
    assert!(c.all_green(&admin).await, "the nodes see each other");

    // An outgoing webhook call, and a post's HTTP traffic.
    let team = admin.create_team(true).await;
    let channel = admin.create_channel(&team, false).await;
    let hook = json!({"team_id": team, "channel_id": channel, "callback_urls": [callback.url("/hook")], "display_name": "probe"});
    admin.post("/hooks/outgoing", hook).await.expect(201);
    admin.create_post(&channel, "hello hooks").await;
    // A 5xx: the shared file store replaced by a file, so the deep health check fails.
    std::fs::remove_dir_all(&c.files).expect("file store");
    std::fs::write(&c.files, b"not a directory").expect("a file in its place");
    let r = admin.get("/system/ping?get_server_status=true").await;
    assert_eq!(r.status.as_u16(), 500, "a broken file store is unhealthy: {}", r.body);
    std::fs::remove_file(&c.files).expect("the file");
    std::fs::create_dir_all(&c.files).expect("the file store again");

    let missing = |texts: &[String]| -> Vec<String> {
        wanted.iter().filter(|n| !texts.iter().any(|t| exposes(t, n))).cloned().collect()
    };
    let scrape = || async { vec![c.nodes[0].metrics().await, c.nodes[1].metrics().await] };
    let settled = wait_until(Duration::from_secs(20), || async { missing(&scrape().await).is_empty() }).await;
    let texts = scrape().await;
    let wrong = missing(&texts);
    assert!(
        settled && wrong.is_empty(),
        "the dashboard queries metrics no node exposes: {wrong:?}\nnode 1's /metrics:\n{}",
        texts[0]
    );
    drop(probe);
}

// ------------------------------------------------------------------ the runbook

/// The README's runbook: every line of its code blocks that starts with `starling admin`.
fn runbook_commands() -> Vec<String> {
    let readme = repo_file("README.md");
    let start = readme.find("\n## Operating a cluster (runbook)\n").expect("README has the runbook section");
    let rest = &readme[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    let mut in_code = false;
    let mut out = Vec::new();
    for line in rest[..end].lines() {
        let l = line.trim();
        if l.starts_with("```") {
            in_code = !in_code;
        } else if in_code && l.starts_with("starling admin") {
            out.push(l.to_owned());
        }
    }
    assert!(!in_code, "a code block of the runbook is not closed");
    out
}

/// One runbook line through bash, as an operator types it: in `cwd`, with `starling` on the
/// PATH, the test's credentials file and local mode socket.
async fn run_line(line: &str, cwd: &Path, creds: &Path, socket: &Path) -> Run {
    let bin = Path::new(env!("CARGO_BIN_EXE_starling"));
    let path = format!("{}:{}", bin.parent().expect("bin dir").display(), std::env::var("PATH").unwrap_or_default());
    let out = tokio::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", line])
        .current_dir(cwd)
        .env("PATH", path)
        .env("STARLING_ADMIN_CONFIG", creds)
        .env("MMCTL_LOCAL_SOCKET_PATH", socket)
        .output()
        .await
        .expect("bash runs");
    Run::of(out)
}

#[actix_web::test]
async fn every_admin_command_of_the_runbook_runs_against_a_cluster() {
    let lines = runbook_commands();
    for want in [
        "starling admin auth login",
        "starling admin cluster status",
        "starling admin system status",
        "starling admin system version",
        "starling admin system ping",
        "starling admin config show",
        "starling admin config get",
        "starling admin config set",
        "starling admin config reload",
        "starling admin db recycle",
        "starling admin --local node drain",
        "starling admin --local db recycle",
    ] {
        assert!(lines.iter().any(|l| l.starts_with(want)), "the runbook has no `{want}` line: {lines:?}");
    }

    // The runbook's layout: the config in the database, ReadOnlyConfig off, local mode on. One
    // machine has one socket path for the three nodes (the path is part of the config hash, which
    // must agree): each node replaces a stale socket, so the last one started answers on it.
    let db = TestDb::new().await;
    common::migrate_config_into(&db, false);
    let work = temp_dir("runbook");
    let socket = work.join("mattermost_local.socket");
    let socket_s = socket.to_string_lossy().into_owned();
    let files = temp_dir("shared-files");
    let cluster = format!("c{}", &starling_protocol::new_id()[..8]);
    let extra = [
        ("MM_CONFIG", db.url.as_str()),
        ("MM_SERVICESETTINGS_ENABLELOCALMODE", "true"),
        ("MM_SERVICESETTINGS_LOCALMODESOCKETLOCATION", socket_s.as_str()),
    ];
    let mut nodes: Vec<NodeProc> = Vec::new();
    for i in 1..=3 {
        let n = NodeProc::spawn(&db, &format!("node-{i}"), &cluster, &files, &extra);
        n.ready().await;
        nodes.push(n);
    }
    let nginx = example_nginx(&nodes.iter().map(|n| n.http_port).collect::<Vec<_>>()).await;
    // The first user is the system admin the runbook logs in as.
    let anon = Client::new(&nodes[0].url());
    anon.post("/users", json!({"email": "admin@example.com", "username": "admin", "password": "password-1"}))
        .await
        .expect(201);
    let api = anon.login("admin").await;
    let green = wait_until(Duration::from_secs(20), || async {
        let rows = api.get("/cluster/status").await.body;
        rows.as_array().is_some_and(|a| a.len() == 3 && a.iter().all(|r| r["status"] == "green"))
    })
    .await;
    assert!(green, "three green nodes: {}", api.get("/cluster/status").await.body);
    // The example's websocket location upgrades: a client gets its hello through it.
    let mut ws = common::ws::Ws::connect(&nginx.url(), api.token.as_deref().expect("token")).await;
    let (hello, _) = ws.until_event("hello").await;
    assert!(hello["data"]["server_version"].is_string(), "{hello}");
    ws.close().await;
    std::fs::write(work.join("pw.txt"), "password-1\n").expect("password file");
    let creds = work.join("admin.json");

    // The guide's addresses, as the test's.
    let subst = [
        ("https://chat.example.com", nginx.url()),
        ("http://10.10.10.2:8065", nodes[0].url()),
        ("http://10.10.10.4:8065", nodes[1].url()),
        ("http://10.10.10.6:8065", nodes[2].url()),
    ];
    let mut checked_only = Vec::new();
    for line in &lines {
        let mut cmd = line.clone();
        for (from, to) in &subst {
            cmd = cmd.replace(from, to);
        }
        if cmd.contains(" node drain") {
            // It would take a node from the lines after it: here only that the command exists;
            // tests/operations.rs drains a node with it for real, under load.
            let r = run_line("starling admin node drain --help", &work, &creds, &socket).await;
            assert_eq!(r.code, 0, "`starling admin node drain --help`: {}", r.err);
            checked_only.push(line.clone());
            continue;
        }
        let r = run_line(&cmd, &work, &creds, &socket).await;
        assert_eq!(r.code, 0, "runbook line `{line}` (run as `{cmd}`) exits {}:\n{}\n{}", r.code, r.out, r.err);
    }
    eprintln!(
        "packaging: ran {} runbook lines; checked with --help only: {checked_only:?}",
        lines.len() - checked_only.len()
    );

    // What the lines did: the backup is the config, the change reached every node.
    let backup: Value =
        serde_json::from_str(&std::fs::read_to_string(work.join("config-backup.json")).expect("config-backup.json"))
            .expect("the backup is JSON");
    assert!(backup["SqlSettings"].is_object(), "{backup}");
    for n in &nodes {
        let on = api.clone_to(&n.url());
        let seen = wait_until(Duration::from_secs(20), || async {
            on.get("/config").await.body["TeamSettings"]["MaxUsersPerTeam"] == json!(100)
        })
        .await;
        assert!(seen, "{} runs the runbook's config change", n.name);
    }
    drop(nginx);
    drop(nodes);
}
