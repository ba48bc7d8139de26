//! The PostgreSQL ceiling for post creation: raw single-row INSERTs of post rows (the columns
//! Starling writes, of the same sizes) into a scratch copy of the `posts` table in the same
//! database, from `concurrency` connections for `duration`. The table is dropped afterwards.

use crate::report;
use crate::stats::{self, LatencyMs};
use anyhow::{Context, Result};
use rand::Rng;
use serde::Serialize;
use std::time::{Duration, Instant};
use tokio_postgres::NoTls;

#[derive(Debug, Clone, Serialize)]
pub struct InsertRate {
    pub table_like_posts: bool,
    pub concurrency: usize,
    pub seconds: f64,
    pub rows: u64,
    pub rows_per_s: f64,
    pub insert_ms: Option<LatencyMs>,
}

const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

fn id() -> String {
    let mut r = rand::thread_rng();
    (0..26).map(|_| ALNUM[r.gen_range(0..ALNUM.len())] as char).collect()
}

use starling_protocol::now_ms;

async fn connect(url: &str) -> Result<tokio_postgres::Client> {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.with_context(|| format!("connect to {url}"))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            report::note(format!("postgres connection: {e}"));
        }
    });
    Ok(client)
}

/// Insert post rows as fast as `concurrency` connections can for `duration`.
pub async fn insert_rate(url: &str, concurrency: usize, duration: Duration, message_len: usize) -> Result<InsertRate> {
    let admin = connect(url).await?;
    let table = format!("starling_bench_posts_{}", std::process::id());
    let like = admin
        .batch_execute(&format!("CREATE TABLE {table} (LIKE posts INCLUDING DEFAULTS INCLUDING INDEXES)"))
        .await
        .is_ok();
    if !like {
        admin
            .batch_execute(&format!(
                "CREATE TABLE {table} (id varchar(26) PRIMARY KEY, create_at bigint NOT NULL, update_at bigint NOT NULL, \
                 edit_at bigint NOT NULL DEFAULT 0, delete_at bigint NOT NULL DEFAULT 0, is_pinned boolean NOT NULL DEFAULT false, \
                 user_id varchar(26) NOT NULL, channel_id varchar(26) NOT NULL, root_id varchar(26) NOT NULL DEFAULT '', \
                 original_id varchar(26) NOT NULL DEFAULT '', message text NOT NULL, type varchar(26) NOT NULL DEFAULT '', \
                 props jsonb NOT NULL DEFAULT '{{}}', hashtags varchar(1000) NOT NULL DEFAULT '', file_ids jsonb NOT NULL DEFAULT '[]', \
                 pending_post_id varchar(26) NOT NULL DEFAULT '', last_reply_at bigint NOT NULL DEFAULT 0); \
                 CREATE INDEX ON {table} (channel_id, update_at, id); CREATE INDEX ON {table} (channel_id, create_at, id);"
            ))
            .await
            .context("create the scratch table")?;
    }
    let result = run(url, &table, concurrency, duration, message_len).await;
    if let Err(e) = admin.batch_execute(&format!("DROP TABLE IF EXISTS {table}")).await {
        report::note(format!("could not drop {table}: {e}"));
    }
    let (rows, hist, seconds) = result?;
    Ok(InsertRate {
        table_like_posts: like,
        concurrency,
        seconds,
        rows,
        rows_per_s: rows as f64 / seconds.max(1e-9),
        insert_ms: LatencyMs::of(&hist),
    })
}

async fn run(
    url: &str,
    table: &str,
    concurrency: usize,
    duration: Duration,
    message_len: usize,
) -> Result<(u64, hdrhistogram::Histogram<u64>, f64)> {
    let sql = format!(
        "INSERT INTO {table} (id, create_at, update_at, user_id, channel_id, root_id, message, type, props, hashtags, file_ids, pending_post_id) \
         VALUES ($1, $2, $2, $3, $4, '', $5, '', $6, '', $7, '')"
    );
    let mut clients = Vec::new();
    for _ in 0..concurrency.max(1) {
        clients.push(connect(url).await?);
    }
    let channels: Vec<String> = (0..16).map(|_| id()).collect();
    let user = id();
    let message: String = "starling-bench raw insert baseline ".chars().cycle().take(message_len.max(1)).collect();
    let t0 = Instant::now();
    let deadline = t0 + duration;
    let tasks = clients.into_iter().map(|c| {
        let (sql, channels, user, message) = (sql.clone(), channels.clone(), user.clone(), message.clone());
        tokio::spawn(async move {
            let stmt = c.prepare(&sql).await?;
            let props = serde_json::json!({});
            let files = serde_json::json!([]);
            let mut h = stats::histogram();
            let mut n = 0u64;
            while Instant::now() < deadline {
                let ch = &channels[n as usize % channels.len()];
                let t = Instant::now();
                c.execute(&stmt, &[&id(), &now_ms(), &user, ch, &message, &props, &files]).await?;
                stats::record(&mut h, t.elapsed().as_micros() as i64);
                n += 1;
            }
            Ok::<_, anyhow::Error>((n, h))
        })
    });
    let mut rows = 0;
    let mut hist = stats::histogram();
    for t in futures_util::future::join_all(tasks).await {
        let (n, h) = t.context("insert task")??;
        rows += n;
        if let Err(e) = hist.add(&h) {
            report::note(format!("insert histograms did not merge: {e}"));
        }
    }
    Ok((rows, hist, t0.elapsed().as_secs_f64()))
}
