//! `killdetect`: SIGKILL one node and time until every other node's `/cluster/status` shows it
//! red, polled every 10 ms (benchmarks.md target 6: <= 3 s p99). With `--repeat`, the node is
//! started again between kills and the harness waits for every node to be green.

use crate::chaos::{self, Relaunch};
use crate::cli::KilldetectArgs;
use crate::report::{self, fmt, Machine};
use crate::stats::Spread;
use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use serde_json::json;
use std::time::{Duration, Instant};

const GREEN_TIMEOUT: Duration = Duration::from_secs(120);
/// benchmarks.md target 6.
const TARGET_MS: f64 = 3_000.0;

#[derive(Debug, Serialize)]
struct Kill {
    pid: u32,
    node_id: String,
    /// Per survivor, ms (null: not red within the timeout).
    survivors_ms: Vec<Option<f64>>,
    everywhere_ms: Option<f64>,
    restarted_pid: Option<u32>,
    green_again_s: Option<f64>,
}

pub async fn run(a: KilldetectArgs) -> Result<()> {
    let c = &a.cluster;
    if c.urls.len() < 2 {
        bail!("killdetect needs the URLs of at least two nodes");
    }
    if a.repeat > 1 && a.restart_cmd.is_none() && !a.restart_same {
        bail!("--repeat needs --restart-same or --restart-cmd to bring the node back between kills");
    }
    let machine = Machine::probe();
    report::note(format!("machine: {}", machine.describe()));
    let (_, f) = super::fixture(c, 1, None).await?;
    let token = f.admin.token.clone();
    let http = chaos::status_client()?;
    let mut kills = Vec::new();
    for round in 0..a.repeat.max(1) {
        // A restarted node comes back with a new id: ask again every round.
        let infos = chaos::nodes(&http, &c.urls, &token).await?;
        let pid = match (&a.pid_file, a.pid) {
            (Some(p), _) => chaos::read_pid_file(p)?,
            (None, Some(pid)) => pid,
            (None, None) => bail!("give --pid or --pid-file"),
        };
        let relaunch = Relaunch::read(pid).with_context(|| format!("pid {pid}"))?;
        let listen =
            relaunch.listen_address().ok_or_else(|| anyhow!("pid {pid}: no MM_SERVICESETTINGS_LISTENADDRESS"))?;
        let at = chaos::url_of(&listen, &c.urls)
            .ok_or_else(|| anyhow!("pid {pid} listens on {listen}, not one of the URLs"))?;
        let victim = infos[at].clone();
        let survivors: Vec<String> =
            c.urls.iter().enumerate().filter(|(i, _)| *i != at).map(|(_, u)| u.clone()).collect();
        if chaos::wait_green(&http, &c.urls, c.urls.len(), &token, GREEN_TIMEOUT).await.is_none() {
            bail!("the nodes are not all green before kill {}", round + 1);
        }
        if !chaos::alive(pid) {
            bail!("pid {pid} is not running");
        }
        chaos::sigkill(pid)?;
        let killed = Instant::now();
        let found = chaos::wait_red(&http, &survivors, &victim, &token, killed, Duration::from_secs(a.timeout)).await;
        let survivors_ms: Vec<Option<f64>> = found.iter().map(|w| w.after_ms).collect();
        for w in found.iter().filter(|w| w.after.is_none()) {
            report::note(format!(
                "{} never showed it red: {} polls, {} failed; last: {}",
                w.url, w.polls, w.failed_polls, w.last
            ));
        }
        let everywhere_ms = if survivors_ms.iter().all(Option::is_some) {
            survivors_ms.iter().flatten().copied().reduce(f64::max)
        } else {
            None
        };
        report::note(format!(
            "kill {}: node {} (pid {pid}) red on every survivor after {} ms ({})",
            round + 1,
            victim.id,
            fmt(everywhere_ms, 0),
            survivors_ms.iter().map(|d| fmt(*d, 0)).collect::<Vec<_>>().join(", ")
        ));
        let mut k = Kill {
            pid,
            node_id: victim.id.clone(),
            survivors_ms,
            everywhere_ms,
            restarted_pid: None,
            green_again_s: None,
        };
        if a.restart_cmd.is_some() || a.restart_same {
            let new = chaos::restart(a.restart_cmd.as_deref(), a.restart_same.then_some(&relaunch))?;
            if let Some(new) = new {
                chaos::write_pid_file(a.pid_file.as_deref(), new)?;
            }
            k.restarted_pid = new;
            let t = Instant::now();
            k.green_again_s = chaos::wait_green(&http, &c.urls, c.urls.len(), &token, GREEN_TIMEOUT)
                .await
                .map(|_| t.elapsed().as_secs_f64());
            report::note(format!(
                "restarted (pid {}); all green after {} s",
                fmt(new.map(f64::from), 0),
                fmt(k.green_again_s, 1)
            ));
        }
        kills.push(k);
    }
    let detected: Vec<f64> = kills.iter().filter_map(|k| k.everywhere_ms).collect();
    let spread = Spread::of(&detected);
    report::print_table(
        "killed node (SIGKILL) -> every survivor reports it red",
        &["kill", "pid", "node", "per survivor ms", "everywhere ms", "green again s"],
        &kills
            .iter()
            .enumerate()
            .map(|(i, k)| {
                vec![
                    (i + 1).to_string(),
                    k.pid.to_string(),
                    k.node_id.clone(),
                    k.survivors_ms.iter().map(|d| fmt(*d, 0)).collect::<Vec<_>>().join(" "),
                    fmt(k.everywhere_ms, 0),
                    fmt(k.green_again_s, 1),
                ]
            })
            .collect::<Vec<_>>(),
    );
    println!(
        "\ndetection over {} kills: p50 {} ms, p99 {} ms, max {} ms; not detected: {} (benchmarks.md target 6: <= 3 s p99)",
        kills.len(),
        fmt(spread.map(|s| s.p50), 0),
        fmt(spread.map(|s| s.p99), 0),
        fmt(spread.map(|s| s.max), 0),
        kills.len() - detected.len()
    );
    let figures = json!({
        "urls": c.urls,
        "poll_ms": chaos::POLL.as_millis() as u64,
        "kills": kills,
        "detected_everywhere_ms": spread,
        "not_detected": kills.len() - detected.len(),
        "target_ms": TARGET_MS,
    });
    super::finish(c, "killdetect", &machine, figures)
}
