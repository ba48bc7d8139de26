//! The load harness (`starling-bench`, benches/harness) end to end: a short mixed run against two
//! real node processes holds every post on every client (no loss, no duplicate), and its loss
//! accounting catches one event dropped on purpose (`--drop-one-event-for-test`).

mod common;
use common::cluster::NodeProc;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The harness is another package of the workspace, so Cargo gives this test no path to it:
/// build it with the same profile as the node under test, next to it.
fn harness_binary() -> PathBuf {
    let node = PathBuf::from(env!("CARGO_BIN_EXE_starling"));
    let release = node.parent().and_then(Path::file_name).is_some_and(|d| d == "release");
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["build", "-p", "starling-bench", "--bin", "starling-bench"]).current_dir(env!("CARGO_MANIFEST_DIR"));
    if release {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("cargo runs");
    assert!(status.success(), "building starling-bench failed");
    let bin = node.with_file_name("starling-bench");
    assert!(bin.exists(), "{} was built", bin.display());
    bin
}

/// Run the harness (bounded) and return its JSON report.
fn run_harness(bin: &Path, args: &[String], json: &Path) -> Value {
    let mut child = Command::new(bin)
        .args(args)
        .arg("--json")
        .arg(json)
        .stdin(Stdio::null())
        .spawn()
        .expect("starling-bench starts");
    let deadline = Instant::now() + Duration::from_secs(300);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("starling-bench did not finish within 5 minutes");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(status.success(), "starling-bench {args:?} failed: {status}");
    let text = std::fs::read_to_string(json).expect("JSON report written");
    serde_json::from_str(&text).expect("JSON report parses")
}

#[actix_web::test]
async fn mixed_run_loses_nothing_and_the_accounting_catches_a_dropped_event() {
    let bin = harness_binary();
    let db = TestDb::new().await;
    let files = temp_dir("bench-files");
    let cluster = format!("c{}", &starling_protocol::new_id()[..8]);
    let nodes: Vec<NodeProc> =
        (0..2).map(|i| NodeProc::spawn(&db, &format!("n{}", i + 1), &cluster, &files, &[])).collect();
    for n in &nodes {
        n.ready().await;
    }
    let dir = temp_dir("bench-run");
    let mut args: Vec<String> = vec!["run".into()];
    for n in &nodes {
        args.push("--url".into());
        args.push(n.url());
    }
    for a in [
        "--users",
        "24",
        "--duration",
        "6",
        "--channels",
        "4",
        "--channels-per-user",
        "2",
        "--pause-min-ms",
        "50",
        "--pause-mean-ms",
        "400",
        "--drain-timeout",
        "15",
        "--setup-concurrency",
        "8",
        "--prefix",
        "ci",
    ] {
        args.push(a.into());
    }
    args.push("--sessions".into());
    args.push(dir.join("sessions.json").to_string_lossy().into_owned());

    let r = run_harness(&bin, &args, &dir.join("run.json"));
    let show = |r: &Value| {
        format!(
            "lost samples {}, errors {}, connect errors {}",
            r["lost_samples"], r["error_samples"], r["connect_errors"]
        )
    };
    assert_eq!(r["complete"], true, "every worker reported: {}", show(&r));
    assert!(r["posts_created"].as_u64().unwrap() > 0, "posts were made: {r}");
    assert!(r["events_expected"].as_u64().unwrap() > r["posts_created"].as_u64().unwrap(), "posts fan out");
    assert_eq!(r["events_lost"], 0, "no event lost: {}", show(&r));
    assert_eq!(r["events_duplicated"], 0, "no event duplicated: {}", show(&r));
    assert_eq!(r["errors"], 0, "no request failed: {}", show(&r));
    for k in ["same_node", "cross_node"] {
        for q in ["p50", "p99", "p999"] {
            assert!(r["latency_ms"][k][q].is_number(), "latency_ms.{k}.{q} measured: {}", r["latency_ms"]);
        }
    }
    assert!(dir.join("run.svg").exists(), "the latency plot is written next to the JSON");

    args.push("--drop-one-event-for-test".into());
    let r = run_harness(&bin, &args, &dir.join("drop.json"));
    assert!(r["posts_created"].as_u64().unwrap() > 0, "posts were made: {r}");
    assert_eq!(r["events_lost"], 1, "the dropped event is counted lost: {}", show(&r));
    assert_eq!(r["events_duplicated"], 0, "{}", show(&r));
}
