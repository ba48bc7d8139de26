//! `soak`: watch a cluster in which no node is killed, for a long time, and count the verdicts
//! that a peer is down (benchmarks.md target 11: zero false "down" verdicts in a 1 h soak with
//! 5 % packet loss and one node CPU-starved; `scripts/soak` builds that cluster in a network
//! namespace and runs this inside it).
//!
//! Two sources, so nothing brief is missed: every node's `/metrics`
//! (`starling_cluster_peer_transitions_total{state}` at the start and the end: every transition,
//! however short) and every node's `/cluster/status`, polled every `--interval-ms` (how long
//! peers were shown red).

use crate::chaos;
use crate::cli::SoakArgs;
use crate::report::{self, fmt, Machine};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// benchmarks.md target 11.
const TARGET_FALSE_DOWN: u64 = 0;

#[derive(Debug, Default, Serialize, Clone)]
struct NodeWatch {
    url: String,
    polls: u64,
    failed_polls: u64,
    /// Polls in which this node showed some peer red.
    red_polls: u64,
    /// Peers turning red in this node's status, as polled (green -> red).
    red_episodes: u64,
    /// Peers shown suspect (green, slow to answer), as polled.
    suspect_polls: u64,
    /// From the node's metrics: transitions during the soak, by the state entered.
    transitions: BTreeMap<String, u64>,
}

pub async fn run(a: SoakArgs) -> Result<()> {
    let c = &a.cluster;
    if c.urls.len() < 2 {
        bail!("soak needs the URLs of at least two nodes");
    }
    if !a.metrics.is_empty() && a.metrics.len() != c.urls.len() {
        bail!("give one --metrics URL per --url (same order), or none");
    }
    let machine = Machine::probe();
    report::note(format!("machine: {}", machine.describe()));
    let (_, f) = super::fixture(c, 1, None).await?;
    let token = f.admin.token.clone();
    let http = chaos::status_client()?;
    if chaos::wait_green(&http, &c.urls, c.urls.len(), &token, Duration::from_secs(120)).await.is_none() {
        bail!("the nodes are not all green before the soak");
    }
    let before = transitions(&http, &a.metrics).await?;
    let mut watch: Vec<NodeWatch> = c.urls.iter().map(|u| NodeWatch { url: u.clone(), ..Default::default() }).collect();
    let mut red_now: Vec<BTreeMap<String, bool>> = vec![BTreeMap::new(); c.urls.len()];
    let started = Instant::now();
    let total = Duration::from_secs(a.duration);
    let bar = report::bar(a.duration, "soak (s)");
    let mut tick = tokio::time::interval(Duration::from_millis(a.interval_ms.max(20)));
    while started.elapsed() < total {
        tick.tick().await;
        let polls =
            futures_util::future::join_all(c.urls.iter().map(|u| chaos::cluster_status(&http, u, &token))).await;
        for (i, rows) in polls.into_iter().enumerate() {
            let w = &mut watch[i];
            w.polls += 1;
            let Ok(rows) = rows else {
                w.failed_polls += 1;
                continue;
            };
            let mut any_red = false;
            for r in rows.iter().skip(1) {
                let peer = r["ipaddress"].as_str().unwrap_or_default().to_owned();
                let red = r["status"] != "green";
                if r["reason"].as_str().is_some_and(|s| s.starts_with("suspect")) {
                    w.suspect_polls += 1;
                }
                let was = red_now[i].insert(peer.clone(), red).unwrap_or(false);
                if red && !was {
                    w.red_episodes += 1;
                    report::note(format!("{}: peer {peer} red: {}", w.url, r["reason"]));
                }
                any_red |= red;
            }
            if any_red {
                w.red_polls += 1;
            }
        }
        bar.set_position(started.elapsed().as_secs().min(a.duration));
    }
    bar.finish_and_clear();
    let after = transitions(&http, &a.metrics).await?;
    for (i, w) in watch.iter_mut().enumerate() {
        if let (Some(b), Some(e)) = (before.get(i), after.get(i)) {
            for (state, n) in e {
                w.transitions.insert(state.clone(), n.saturating_sub(b.get(state).copied().unwrap_or(0)));
            }
        }
    }
    let downs: u64 = watch.iter().map(|w| w.transitions.get("down").copied().unwrap_or(0)).sum();
    let reconnects: u64 = watch.iter().map(|w| w.transitions.get("connecting").copied().unwrap_or(0)).sum();
    let suspects: u64 = watch.iter().map(|w| w.transitions.get("suspect").copied().unwrap_or(0)).sum();
    let episodes: u64 = watch.iter().map(|w| w.red_episodes).sum();
    // Without metrics, the polled red episodes are the verdicts.
    let false_down = if a.metrics.is_empty() { episodes } else { downs };
    report::print_table(
        "soak: peers shown down while no node was killed",
        &["node", "polls", "failed", "red polls", "red episodes", "down", "reconnecting", "suspect"],
        &watch
            .iter()
            .map(|w| {
                let t = |k: &str| w.transitions.get(k).map_or("-".to_owned(), u64::to_string);
                vec![
                    w.url.clone(),
                    w.polls.to_string(),
                    w.failed_polls.to_string(),
                    w.red_polls.to_string(),
                    w.red_episodes.to_string(),
                    t("down"),
                    t("connecting"),
                    t("suspect"),
                ]
            })
            .collect::<Vec<_>>(),
    );
    println!(
        "\n{} s: false down verdicts {false_down} (target 11: {TARGET_FALSE_DOWN}); links re-dialled {reconnects}; \
         suspect {suspects}; red episodes polled {episodes}",
        fmt(Some(started.elapsed().as_secs_f64()), 0)
    );
    if let Some(note) = &a.conditions {
        println!("conditions: {note}");
    }
    let figures = json!({
        "duration_s": started.elapsed().as_secs_f64(),
        "interval_ms": a.interval_ms,
        "conditions": a.conditions,
        "false_down_verdicts": false_down,
        "reconnects": reconnects,
        "suspect_transitions": suspects,
        "red_episodes_polled": episodes,
        "target_false_down": TARGET_FALSE_DOWN,
        "met": false_down == TARGET_FALSE_DOWN,
        "nodes": watch,
    });
    super::finish(c, "soak", &machine, figures)
}

/// Each node's `starling_cluster_peer_transitions_total` by state (empty without metrics URLs).
async fn transitions(http: &reqwest::Client, metrics: &[String]) -> Result<Vec<BTreeMap<String, u64>>> {
    let mut out = Vec::new();
    for m in metrics {
        let text = http
            .get(m)
            .send()
            .await
            .with_context(|| format!("metrics at {m}"))?
            .text()
            .await
            .with_context(|| format!("metrics at {m}"))?;
        let mut by_state = BTreeMap::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("starling_cluster_peer_transitions_total{state=\"") {
                if let Some((state, n)) = rest.split_once("\"} ") {
                    by_state.insert(state.to_owned(), n.trim().parse().unwrap_or(0));
                }
            }
        }
        if by_state.is_empty() {
            bail!("{m}: no starling_cluster_peer_transitions_total (an older node, or not a metrics URL)");
        }
        out.push(by_state);
    }
    Ok(out)
}
