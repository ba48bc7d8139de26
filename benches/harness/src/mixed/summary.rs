//! The end of a mixed run: the summary tables, the JSON report and the SVG latency plot.

use super::plan::{Action, Mix, Totals, Window};
use super::ramp::Gates;
use super::{Outcome, Second};
use crate::baseline::pg::InsertRate;
use crate::cli::RunArgs;
use crate::procs::Sampler;
use crate::report::{self, fmt, Machine};
use crate::stats;
use crate::svg::{self, Chart, Series, COLORS};
use anyhow::Result;
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub struct Run<'a> {
    pub args: &'a RunArgs,
    pub machine: &'a Machine,
    pub timeline: &'a [Second],
    pub sampler: &'a Sampler,
    pub nodes: &'a [Option<String>],
    pub mix: &'a Mix,
    pub gates: Gates,
    pub workers: usize,
}

/// Percentiles in ms as JSON; every key is present (null without samples).
fn lat(h: &Histogram<u64>) -> Value {
    let q = |x: f64| (!h.is_empty()).then(|| h.value_at_quantile(x) as f64 / 1000.0);
    json!({
        "count": h.len(),
        "p50": q(0.50),
        "p90": q(0.90),
        "p99": q(0.99),
        "p999": q(0.999),
        "max": (!h.is_empty()).then(|| h.max() as f64 / 1000.0),
        "mean": (!h.is_empty()).then(|| h.mean() / 1000.0),
    })
}

fn hist(buckets: impl IntoIterator<Item = Vec<(u64, u64)>>) -> Histogram<u64> {
    let mut h = stats::histogram();
    for b in buckets {
        stats::merge(&mut h, &b);
    }
    h
}

fn row(name: &str, h: &Histogram<u64>) -> Vec<String> {
    let q = |x: f64| (!h.is_empty()).then(|| h.value_at_quantile(x) as f64 / 1000.0);
    vec![
        name.to_owned(),
        h.len().to_string(),
        fmt(q(0.50), 2),
        fmt(q(0.99), 2),
        fmt(q(0.999), 2),
        fmt((!h.is_empty()).then(|| h.max() as f64 / 1000.0), 2),
    ]
}

pub fn report(r: Run<'_>, o: Outcome, pg: Option<InsertRate>) -> Result<()> {
    let a = r.args;
    let mut totals = Totals::default();
    for f in &o.finished {
        totals.merge(&f.totals);
    }
    let mut endpoints: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    for f in &o.finished {
        for (name, b) in &f.endpoints {
            stats::merge(endpoints.entry(name.clone()).or_insert_with(stats::histogram), b);
        }
    }
    let requests = hist(endpoints.values().map(stats::to_buckets));
    let same = hist(o.finished.iter().map(|f| f.same_node_us.clone()));
    let cross = hist(o.finished.iter().map(|f| f.cross_node_us.clone()));
    let unknown = hist(o.finished.iter().map(|f| f.unknown_node_us.clone()));
    let replayed = hist(o.finished.iter().map(|f| f.replayed_us.clone()));
    let recovery = hist(o.finished.iter().map(|f| f.recovery_us.clone()));
    let reconnect = hist(o.finished.iter().map(|f| f.reconnect_us.clone()));
    let secs = o.action_seconds.max(1e-9);
    let mut whole = Window::default();
    for s in r.timeline {
        whole.merge(&s.window);
    }
    // The gates judge what the users did: every request of the action phase.
    whole.request_us = stats::to_buckets(&requests);
    whole.requests = requests.len();
    whole.request_us_sum = (requests.mean() * requests.len() as f64) as u64;
    whole.failures = totals.http_5xx + totals.timeouts + totals.transport_errors;
    let check = r.gates.check(&whole);
    let rec = &o.reconciled;
    let errors = totals.errors();
    let peak_users = r.timeline.iter().map(|s| s.acting).max().unwrap_or(0);

    // Tables.
    let mut rows: Vec<Vec<String>> = endpoints.iter().map(|(n, h)| row(n, h)).collect();
    rows.push(row("all requests", &requests));
    report::print_table("requests by endpoint (ms)", &["endpoint", "count", "p50", "p99", "p99.9", "max"], &rows);
    report::print_table(
        "post -> `posted` event (ms, wall clock from the send stamp)",
        &["receiver vs poster", "count", "p50", "p99", "p99.9", "max"],
        &[
            row("same node", &same),
            row("cross node", &cross),
            row("node unknown (balancer URL)", &unknown),
            row("replayed on resume", &replayed),
        ],
    );
    let rate = |n: u64| fmt(Some(n as f64 / secs), 1);
    report::print_table(
        &format!("events over {:.0} s of actions, {} users at most", secs, peak_users),
        &[
            "posts created",
            "posts/s",
            "deliveries/s",
            "expected",
            "held",
            "LOST",
            "DUPLICATED",
            "via REST",
            "unconfirmed seen",
        ],
        &[vec![
            totals.posts_created.to_string(),
            rate(totals.posts_created),
            rate(totals.deliveries),
            rec.expected.to_string(),
            rec.held.to_string(),
            rec.lost.to_string(),
            rec.duplicated.to_string(),
            rec.via_rest.to_string(),
            rec.unconfirmed_seen.to_string(),
        ]],
    );
    let q = |h: &Histogram<u64>, x: f64| (!h.is_empty()).then(|| h.value_at_quantile(x) as f64 / 1000.0);
    report::print_table(
        "connections",
        &[
            "reconnect actions",
            "resumed",
            "fresh hello after loss",
            "socket losses",
            "connect failures",
            "failovers",
            "socket back p50/p99 ms",
            "caught up p50 ms",
            "caught up p99 ms",
        ],
        &[vec![
            totals.reconnect_actions.to_string(),
            totals.resumed.to_string(),
            totals.fresh_hellos_after_loss.to_string(),
            totals.socket_losses.to_string(),
            totals.connect_failures.to_string(),
            totals.failovers.to_string(),
            format!("{}/{}", fmt(q(&reconnect, 0.5), 1), fmt(q(&reconnect, 0.99), 1)),
            fmt(q(&recovery, 0.5), 1),
            fmt(q(&recovery, 0.99), 1),
        ]],
    );
    let verdict = |ok: bool| if ok { "pass" } else { "FAIL" }.to_owned();
    report::print_table(
        "gates over the whole run",
        &["gate", "limit", "measured", ""],
        &[
            vec![
                "request p99 ms".into(),
                fmt(Some(r.gates.p99_ms), 1),
                fmt(check.p99_ms, 2),
                verdict(!check.failed.contains(&"p99")),
            ],
            vec![
                "request mean ms".into(),
                fmt(Some(r.gates.mean_ms), 1),
                fmt(check.mean_ms, 2),
                verdict(!check.failed.contains(&"mean")),
            ],
            vec![
                "5xx+timeouts+transport".into(),
                format!("{}", r.gates.error_rate),
                format!("{:.5} ({} of {})", check.error_rate, whole.failures, check.requests),
                verdict(!check.failed.contains(&"errors")),
            ],
        ],
    );
    let procs = r.sampler.summary();
    if !procs.is_empty() {
        let mib = |b: Option<u64>| fmt(b.map(|b| b as f64 / 1048576.0), 1);
        report::print_table(
            "node processes",
            &["pid", "RSS first MiB", "RSS max MiB", "RSS last MiB", "CPU mean %", "CPU max %", "exited"],
            &procs
                .iter()
                .map(|p| {
                    vec![
                        p.pid.to_string(),
                        mib(p.rss_first_bytes),
                        mib(p.rss_max_bytes),
                        mib(p.rss_last_bytes),
                        fmt(p.cpu_mean_pct, 0),
                        fmt(p.cpu_max_pct, 0),
                        p.exited.to_string(),
                    ]
                })
                .collect::<Vec<_>>(),
        );
    }
    if let Some(c) = &o.chaos {
        report::print_table(
            "chaos: node killed with SIGKILL",
            &[
                "pid",
                "node",
                "killed at s",
                "red everywhere ms",
                "per survivor ms",
                "recovery p50 ms",
                "recovery p99 ms",
                "green again s",
            ],
            &[vec![
                c.pid.to_string(),
                c.victim.as_ref().map(|v| v.id.clone()).unwrap_or_default(),
                fmt(c.killed_at_s, 1),
                fmt(c.detected_everywhere_ms, 0),
                c.detected_ms.iter().map(|d| fmt(*d, 0)).collect::<Vec<_>>().join(" "),
                fmt(q(&recovery, 0.5), 1),
                fmt(q(&recovery, 0.99), 1),
                fmt(c.green_again_s, 1),
            ]],
        );
        for n in &c.notes {
            println!("  chaos: {n}");
        }
    }
    if let Some(rp) = &o.ramp {
        report::print_table(
            "ramp windows",
            &["t s", "users", "requests", "p99 ms", "mean ms", "failure rate", "verdict", "change"],
            &rp.windows
                .iter()
                .map(|w| {
                    vec![
                        fmt(Some(w.at_s), 0),
                        w.users.to_string(),
                        w.check.requests.to_string(),
                        fmt(w.check.p99_ms, 1),
                        fmt(w.check.mean_ms, 2),
                        format!("{:.5}", w.check.error_rate),
                        verdict(w.check.pass),
                        format!("{:+}", w.change),
                    ]
                })
                .collect::<Vec<_>>(),
        );
        println!(
            "ramp: supported users {} (highest passing {}, {} direction changes{}); {} per vCPU over {} cores",
            rp.supported()
                .map_or(format!("none (the gates failed at {} users, the smallest count tried)", rp.floor), |n| n
                    .to_string()),
            rp.highest_passing().map_or("-".into(), |n| n.to_string()),
            rp.flips,
            if rp.pool_exhausted { ", the user pool ran out: raise --users" } else { "" },
            fmt(rp.supported().map(|n| n as f64 / r.machine.nproc as f64), 0),
            r.machine.nproc
        );
    }
    if let Some(p) = &pg {
        println!(
            "raw INSERT baseline: {:.0} rows/s ({} connections); this run's posts used {:.2} % of it",
            p.rows_per_s,
            p.concurrency,
            totals.posts_created as f64 / secs / p.rows_per_s.max(1e-9) * 100.0
        );
    }
    for s in rec.lost_samples.iter().take(5) {
        println!("  lost: {s}");
    }
    for e in totals.error_samples.iter().take(5) {
        println!("  error: {e}");
    }
    for e in o.connect_errors.iter().take(5) {
        println!("  connect error: {e}");
    }
    println!(
        "\nposts_created={} events_expected={} events_lost={} events_duplicated={} errors={}{}",
        totals.posts_created,
        rec.expected,
        rec.lost,
        rec.duplicated,
        errors,
        if o.reports_missing > 0 {
            format!(" (INCOMPLETE: {} worker reports missing)", o.reports_missing)
        } else {
            String::new()
        }
    );

    let actions: BTreeMap<&str, u64> = totals.actions.iter().map(|(a, n)| (Action::name(*a), *n)).collect();
    let mut figures = json!({
        "urls": a.common.urls,
        "nodes": r.nodes,
        "users": a.common.users,
        "peak_acting_users": peak_users,
        "workers": r.workers,
        "channels": a.channels.unwrap_or(a.common.users / 8).max(1),
        "channels_per_user": a.channels_per_user,
        "duration_s": a.duration,
        "action_seconds": o.action_seconds,
        "mix": r.mix.describe(),
        "pause_min_ms": a.pause_min_ms,
        "pause_mean_ms": a.pause_mean_ms,
        "complete": o.reports_missing == 0,
        "posts_created": totals.posts_created,
        "posts_failed": totals.posts_failed,
        "replies": totals.replies,
        "files": totals.files,
        "typing_sent": totals.typing_sent,
        "events_expected": rec.expected,
        "events_held": rec.held,
        "events_lost": rec.lost,
        "events_duplicated": rec.duplicated,
        "events_via_rest": rec.via_rest,
        "events_unconfirmed_seen": rec.unconfirmed_seen,
        "lost_samples": rec.lost_samples,
        "drain_s": rec.drain_s,
        "errors": errors,
        "errors_by_kind": {
            "http_4xx": totals.http_4xx,
            "http_5xx": totals.http_5xx,
            "timeouts": totals.timeouts,
            "transport": totals.transport_errors,
        },
        "error_samples": totals.error_samples,
        "connect_failed": o.connect_failed,
        "connect_errors": o.connect_errors,
        "requests": totals.requests,
        "requests_per_s": totals.requests as f64 / secs,
        "posts_per_s": totals.posts_created as f64 / secs,
        "deliveries": totals.deliveries,
        "deliveries_per_s": totals.deliveries as f64 / secs,
        "actions": actions,
        "latency_ms": {
            "same_node": lat(&same),
            "cross_node": lat(&cross),
            "unknown_node": lat(&unknown),
            "replayed": lat(&replayed),
            "requests": lat(&requests),
        },
        "endpoints": endpoints.iter().map(|(k, h)| (k.clone(), lat(h))).collect::<serde_json::Map<_, _>>(),
        "reconnects": {
            "actions": totals.reconnect_actions,
            "resumed": totals.resumed,
            "fresh_hello_after_loss": totals.fresh_hellos_after_loss,
            "socket_losses": totals.socket_losses,
            "connect_failures": totals.connect_failures,
            "failovers": totals.failovers,
            "catchup_requests": totals.catchup_requests,
            "caught_up_posts": totals.caught_up_posts,
        },
        "recovery_ms": lat(&recovery),
        "reconnect_ms": lat(&reconnect),
        "gates": { "limits": r.gates, "whole_run": check },
        "ramp": o.ramp.as_ref().map(|rp| json!({
            "supported_users": rp.supported(),
            "highest_passing_users": rp.highest_passing(),
            "supported_users_per_vcpu": rp.supported().map(|n| n as f64 / r.machine.nproc as f64),
            "flat": rp.is_flat(),
            "pool_exhausted": rp.pool_exhausted,
            "detail": rp,
        })),
        "chaos": o.chaos,
        "node_processes": procs,
        "pg_baseline": pg.as_ref().map(|p| json!({
            "raw_inserts": p,
            "posts_per_s_over_raw_inserts_per_s": totals.posts_created as f64 / secs / p.rows_per_s.max(1e-9),
        })),
        "timeline": r.timeline,
    });
    let svg_path = a.svg.clone().or_else(|| a.common.json.as_ref().map(|p| p.with_extension("svg")));
    if let Some(p) = &svg_path {
        let doc = plot(r.timeline, &same, &cross, &requests, &recovery);
        std::fs::write(p, doc)?;
        report::note(format!("latency plot written to {}", p.display()));
        figures["svg"] = json!(p.display().to_string());
    }
    println!("\nmachine: {}", r.machine.describe());
    println!("command: {}", report::command_line());
    if let Some(path) = &a.common.json {
        report::write_json(path, &report::flat_envelope("run", r.machine, figures))?;
    }
    Ok(())
}

fn plot(
    timeline: &[Second],
    same: &Histogram<u64>,
    cross: &Histogram<u64>,
    requests: &Histogram<u64>,
    recovery: &Histogram<u64>,
) -> String {
    let mut dist = vec![
        Series { name: "cross node".into(), color: COLORS[1], points: svg::percentile_curve(cross) },
        Series { name: "same node".into(), color: COLORS[0], points: svg::percentile_curve(same) },
        Series { name: "REST requests".into(), color: COLORS[2], points: svg::percentile_curve(requests) },
    ];
    if !recovery.is_empty() {
        dist.push(Series { name: "recovery".into(), color: COLORS[4], points: svg::percentile_curve(recovery) });
    }
    let over_time = |f: fn(&Second) -> Option<f64>| -> Vec<(f64, f64)> {
        timeline.iter().filter_map(|s| f(s).map(|v| (s.t as f64, v))).collect()
    };
    let rates =
        |f: fn(&Second) -> u64| -> Vec<(f64, f64)> { timeline.iter().map(|s| (s.t as f64, f(s) as f64)).collect() };
    let charts = [
        Chart {
            title: "post -> posted latency and REST latency by percentile".into(),
            x_label: "percentile".into(),
            y_label: "ms (log)".into(),
            series: dist,
            x_ticks: svg::percentile_ticks(),
            log_y: true,
        },
        Chart {
            title: "p99 per second".into(),
            x_label: "seconds into the action phase".into(),
            y_label: "ms (log)".into(),
            series: vec![
                Series { name: "cross node".into(), color: COLORS[1], points: over_time(|s| s.cross_node_p99_ms) },
                Series { name: "same node".into(), color: COLORS[0], points: over_time(|s| s.same_node_p99_ms) },
                Series { name: "REST requests".into(), color: COLORS[2], points: over_time(|s| s.p99_ms) },
            ],
            x_ticks: vec![],
            log_y: true,
        },
        Chart {
            title: "throughput per second".into(),
            x_label: "seconds into the action phase".into(),
            y_label: "per second".into(),
            series: vec![
                Series { name: "deliveries".into(), color: COLORS[3], points: rates(|s| s.deliveries) },
                Series { name: "requests".into(), color: COLORS[2], points: rates(|s| s.requests) },
                Series { name: "posts".into(), color: COLORS[5], points: rates(|s| s.posts) },
                Series { name: "users acting".into(), color: COLORS[4], points: rates(|s| s.acting) },
            ],
            x_ticks: vec![],
            log_y: false,
        },
    ];
    svg::document(&charts, &format!("starling-bench run: {}", report::command_line()))
}
