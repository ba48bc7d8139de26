//! The mixed run's channels: many small, a few large (each user joins `per_user` channels drawn
//! with a skew towards the first ones), created or reused by name, memberships added only where
//! missing. And which node is behind each URL.

use crate::api::Api;
use crate::report;
use crate::setup::Fixture;
use crate::ws;
use anyhow::{bail, Context, Result};
use futures_util::{stream, StreamExt};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};

/// The layout depends only on the counts, so a second run with the same counts reuses it.
const LAYOUT_SEED: u64 = 0x5eed_c4a2;
/// Membership draws: index = floor(C * u^SKEW). With 3 channels per user, the first channel
/// holds about a quarter of all users when C = users / 8.
const SKEW: f64 = 2.0;

/// Channel names, and each user's channel indices.
pub struct Layout {
    pub names: Vec<String>,
    pub members: Vec<Vec<usize>>,
}

pub fn layout(prefix: &str, users: usize, channels: usize, per_user: usize) -> Layout {
    let channels = channels.max(1);
    let per_user = per_user.clamp(1, channels);
    let names = (0..channels).map(|i| format!("{prefix}-c{:04}", i + 1)).collect();
    let mut rng = StdRng::seed_from_u64(LAYOUT_SEED);
    let members = (0..users)
        .map(|_| {
            let mut mine: Vec<usize> = Vec::with_capacity(per_user);
            // Bounded: distinct draws, then fill from the front if the skew keeps repeating.
            for _ in 0..per_user * 20 {
                if mine.len() == per_user {
                    break;
                }
                let u: f64 = rng.gen();
                let i = ((channels as f64) * u.powf(SKEW)) as usize;
                let i = i.min(channels - 1);
                if !mine.contains(&i) {
                    mine.push(i);
                }
            }
            let mut next = 0;
            while mine.len() < per_user {
                if !mine.contains(&next) {
                    mine.push(next);
                }
                next += 1;
            }
            mine
        })
        .collect();
    Layout { names, members }
}

/// Create the channels and add missing memberships. Returns the channel ids, by index.
pub async fn ensure(api: &Api, f: &Fixture, layout: &Layout, concurrency: usize) -> Result<Vec<String>> {
    let t0 = Instant::now();
    let admin = &f.admin.token;
    let bar = report::bar(layout.names.len() as u64, "setup: channels");
    let ids: Vec<Result<String>> = stream::iter(layout.names.iter())
        .map(|name| {
            let bar = &bar;
            async move {
                let id = api.ensure_channel(admin, &f.team_id, name).await;
                bar.inc(1);
                id
            }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await;
    bar.finish_and_clear();
    let ids: Vec<String> = ids.into_iter().collect::<Result<_>>()?;

    let mut wanted: Vec<Vec<usize>> = vec![Vec::new(); ids.len()];
    for (u, chans) in layout.members.iter().enumerate() {
        for &c in chans {
            wanted[c].push(u);
        }
    }
    let mut missing: Vec<(usize, usize)> = Vec::new();
    let bar = report::bar(ids.len() as u64, "setup: reading channel members");
    let present: Vec<Result<std::collections::HashSet<String>>> = stream::iter(ids.iter())
        .map(|id| {
            let bar = &bar;
            async move {
                let m = api.channel_member_ids(admin, id).await;
                bar.inc(1);
                m
            }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await;
    bar.finish_and_clear();
    for (c, members) in present.into_iter().enumerate() {
        let members = members?;
        for &u in &wanted[c] {
            if !members.contains(&f.users[u].user_id) {
                missing.push((c, u));
            }
        }
    }
    let bar = report::bar(missing.len() as u64, "setup: channel memberships");
    let added: Vec<Result<()>> = stream::iter(missing.iter())
        .map(|&(c, u)| {
            let (bar, ids) = (&bar, &ids);
            async move {
                let r = api.add_channel_member(admin, &ids[c], &f.users[u].user_id).await;
                bar.inc(1);
                r
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    bar.finish_and_clear();
    added.into_iter().collect::<Result<Vec<()>>>()?;
    let sizes: Vec<usize> = wanted.iter().map(Vec::len).collect();
    report::note(format!(
        "setup: {} channels (largest {} members, median {}), {} memberships added, in {:.1}s",
        ids.len(),
        sizes.iter().max().copied().unwrap_or(0),
        median(&sizes),
        missing.len(),
        t0.elapsed().as_secs_f64()
    ));
    Ok(ids)
}

fn median(v: &[usize]) -> usize {
    let mut s = v.to_vec();
    s.sort_unstable();
    s.get(s.len() / 2).copied().unwrap_or(0)
}

/// The node behind each URL: the `hello`'s node_id, when three connections agree (a balancer
/// spreads them, and then the node is unknown: `None`).
pub async fn node_map(urls: &[String], token: &str) -> Result<Vec<Option<String>>> {
    let mut out = Vec::new();
    for u in urls {
        let ws_url = ws::ws_url(u)?;
        let dest = ws::resolve(&ws_url).await?;
        let mut seen = Vec::new();
        for _ in 0..3 {
            let got = tokio::time::timeout(Duration::from_secs(10), async {
                let mut sock = ws::upgrade(dest, None, &ws_url, token).await?;
                let info = ws::read_hello(&mut sock).await?;
                drop(tokio::time::timeout(Duration::from_secs(1), sock.close(None)).await);
                Ok::<_, anyhow::Error>(info.node_id)
            })
            .await
            .with_context(|| format!("{u}: websocket hello timed out"))?
            .with_context(|| format!("{u}: websocket"))?;
            seen.push(got);
        }
        if seen.iter().any(String::is_empty) {
            bail!("{u}: hello carries no node_id");
        }
        let same = seen.windows(2).all(|w| w[0] == w[1]);
        out.push(same.then(|| seen[0].clone()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_skewed_distinct_and_stable() {
        let l = layout("b", 800, 100, 3);
        assert_eq!(l.names[0], "b-c0001");
        assert!(l.members.iter().all(|m| m.len() == 3 && m[0] != m[1] && m[1] != m[2] && m[0] != m[2]));
        let mut sizes = vec![0usize; 100];
        for m in &l.members {
            for &c in m {
                sizes[c] += 1;
            }
        }
        assert!(sizes[0] > 100, "a large first channel: {}", sizes[0]);
        assert!(median(&sizes) < 30, "most channels small: {}", median(&sizes));
        assert_eq!(layout("b", 800, 100, 3).members, l.members);
        let tiny = layout("b", 5, 2, 5);
        assert!(tiny.members.iter().all(|m| m.len() == 2));
    }
}
