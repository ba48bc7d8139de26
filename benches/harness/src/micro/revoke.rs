//! `revoke`: for each of N sessions cached on nodes A and B, log out on A while a poller asks B
//! for `/users/me`; report the time from the logout's start until B rejects the token, and count
//! stale accepts: requests that B (or A) answered 200 although they were sent after the logout
//! returned (benchmarks.md target 7: p99 <= 5 ms, zero stale accepts).

use super::{api_url, raw_client};
use crate::cli::RevokeArgs;
use crate::report::{self, fmt, Machine};
use crate::stats::{self, LatencyMs};
use anyhow::{bail, Result};
use futures_util::{stream, StreamExt};
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

/// The poller gives up after this long (the token is then counted as never rejected).
const POLL_LIMIT: Duration = Duration::from_secs(5);
/// Requests after the logout returned, per node and session.
const CHECKS_AFTER: usize = 3;

async fn me(http: &reqwest::Client, base: &str, token: &str) -> Result<StatusCode> {
    Ok(http.get(api_url(base, "/users/me")).bearer_auth(token).send().await?.status())
}

pub async fn run(a: RevokeArgs) -> Result<()> {
    let c = &a.cluster;
    if c.urls.len() < 2 {
        bail!("revoke needs two nodes: --url A --url B");
    }
    let (node_a, node_b) = (c.urls[0].clone(), c.urls[1].clone());
    let machine = Machine::probe();
    report::note(format!("machine: {}", machine.describe()));
    let (api, f) = super::fixture(c, 1, None).await?;
    let name = crate::setup::username(&c.prefix, 0);
    let bar = report::bar(a.sessions as u64, "log in (one session each)");
    let logins: Vec<Result<crate::api::Session>> = stream::iter(0..a.sessions)
        .map(|_| {
            let (api, name, bar) = (&api, &name, &bar);
            async move {
                let s = api.login(name, &c.password).await;
                bar.inc(1);
                s
            }
        })
        .buffer_unordered(a.login_concurrency.max(1))
        .collect()
        .await;
    bar.finish_and_clear();
    let tokens: Vec<String> = logins.into_iter().map(|s| s.map(|s| s.token)).collect::<Result<_>>()?;
    let _ = f;
    let http = raw_client(4)?;
    // Cache every session on both nodes.
    for t in &tokens {
        for node in [&node_a, &node_b] {
            let s = me(&http, node, t).await?;
            if s != StatusCode::OK {
                bail!("{node} does not accept a fresh session: HTTP {s}");
            }
        }
    }
    report::note(format!("{} sessions cached on {node_a} and {node_b}; revoking one at a time", tokens.len()));
    let mut reject = stats::histogram();
    let mut logout = stats::histogram();
    let (mut stale_b, mut stale_a, mut never, mut failed_logouts, mut polls) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let bar = report::bar(tokens.len() as u64, "logout on A, /users/me on B");
    for t in &tokens {
        let t0 = Instant::now();
        let poller = {
            let (http, node_b, t) = (http.clone(), node_b.clone(), t.clone());
            tokio::spawn(async move {
                let mut n = 0u64;
                while t0.elapsed() < POLL_LIMIT {
                    n += 1;
                    if let Ok(StatusCode::UNAUTHORIZED) = me(&http, &node_b, &t).await {
                        return (Some(t0.elapsed()), n);
                    }
                }
                (None, n)
            })
        };
        let out = http.post(api_url(&node_a, "/users/logout")).bearer_auth(t).json(&json!({})).send().await;
        let returned = t0.elapsed();
        if !matches!(&out, Ok(r) if r.status().is_success()) {
            failed_logouts += 1;
        }
        stats::record(&mut logout, returned.as_micros() as i64);
        let mut first_after: Option<Duration> = None;
        for _ in 0..CHECKS_AFTER {
            match me(&http, &node_b, t).await? {
                StatusCode::OK => stale_b += 1,
                _ => {
                    first_after.get_or_insert(t0.elapsed());
                }
            }
            if me(&http, &node_a, t).await? == StatusCode::OK {
                stale_a += 1;
            }
        }
        let (polled, n) = poller.await?;
        polls += n;
        match polled.into_iter().chain(first_after).min() {
            Some(d) => stats::record(&mut reject, d.as_micros() as i64),
            None => never += 1,
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let r = LatencyMs::of(&reject);
    let l = LatencyMs::of(&logout);
    report::print_table(
        &format!("token revocation, {} sessions: logout on {node_a}, /users/me on {node_b}", tokens.len()),
        &["", "count", "p50 ms", "p99 ms", "p99.9 ms", "max ms"],
        &[
            vec![
                "logout start -> B rejects".into(),
                reject.len().to_string(),
                fmt(r.map(|x| x.p50), 2),
                fmt(r.map(|x| x.p99), 2),
                fmt(r.map(|x| x.p999), 2),
                fmt(r.map(|x| x.max), 2),
            ],
            vec![
                "logout round trip".into(),
                logout.len().to_string(),
                fmt(l.map(|x| x.p50), 2),
                fmt(l.map(|x| x.p99), 2),
                fmt(l.map(|x| x.p999), 2),
                fmt(l.map(|x| x.max), 2),
            ],
        ],
    );
    println!(
        "\nstale accepts after the logout returned: {stale_b} on B, {stale_a} on A ({} checks each); \
         never rejected: {never}; failed logouts: {failed_logouts} (benchmarks.md target 7: p99 <= 5 ms, zero stale accepts)",
        tokens.len() * CHECKS_AFTER
    );
    let figures = json!({
        "node_a": node_a,
        "node_b": node_b,
        "sessions": tokens.len(),
        "reject_ms": r,
        "logout_ms": l,
        "stale_accepts": stale_b + stale_a,
        "stale_accepts_b": stale_b,
        "stale_accepts_a": stale_a,
        "checks_after_return_per_node": tokens.len() * CHECKS_AFTER,
        "never_rejected": never,
        "failed_logouts": failed_logouts,
        "poller_requests": polls,
        "target": {"p99_ms": 5.0, "stale_accepts": 0},
    });
    super::finish(c, "revoke", &machine, figures)
}
