//! Numbered schema migrations. ONLY APPEND: a released migration is never edited, so a node of the
//! previous version keeps working against the newer schema during a rolling upgrade.

use super::{now_ms, StoreError, StoreResult};
use slog::{info, Logger};

/// Arbitrary constant key of the advisory lock that serialises migrations across nodes.
const MIGRATION_LOCK_KEY: i64 = 0x5354_4152_4c4e_4701; // "STARLNG\x01"

pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "core tables", sql: include_str!("sql/0001_core.sql") },
    Migration { version: 2, name: "user status", sql: include_str!("sql/0002_status.sql") },
    Migration { version: 3, name: "cluster discovery", sql: include_str!("sql/0003_cluster.sql") },
    Migration { version: 4, name: "jobs", sql: include_str!("sql/0004_jobs.sql") },
    Migration { version: 5, name: "post search index", sql: include_str!("sql/0005_search.sql") },
    Migration { version: 6, name: "roles", sql: include_str!("sql/0006_roles.sql") },
    Migration { version: 7, name: "sidebar categories", sql: include_str!("sql/0007_sidebar.sql") },
    Migration { version: 8, name: "preferences", sql: include_str!("sql/0008_preferences.sql") },
    Migration { version: 9, name: "longer pending post ids", sql: include_str!("sql/0009_pending_post_id.sql") },
    Migration { version: 10, name: "plugin key-value store", sql: include_str!("sql/0010_plugin_kv.sql") },
    Migration { version: 11, name: "reactions and custom emoji", sql: include_str!("sql/0011_reactions_emoji.sql") },
    Migration { version: 12, name: "pictures and previews", sql: include_str!("sql/0012_pictures.sql") },
    Migration { version: 13, name: "failed login attempts", sql: include_str!("sql/0013_failed_attempts.sql") },
    Migration { version: 14, name: "collapsed reply threads", sql: include_str!("sql/0014_threads.sql") },
    Migration {
        version: 15,
        name: "bots, access tokens, incoming webhooks",
        sql: include_str!("sql/0015_integrations.sql"),
    },
    Migration { version: 16, name: "custom slash commands", sql: include_str!("sql/0016_commands.sql") },
    Migration { version: 17, name: "audits", sql: include_str!("sql/0017_audits.sql") },
    Migration {
        version: 18,
        name: "outgoing webhooks, their calls, command response urls",
        sql: include_str!("sql/0018_outgoing_webhooks.sql"),
    },
];

/// The newest schema this build knows.
pub const SCHEMA_VERSION: i32 = 18;

pub(super) async fn run(c: &mut deadpool_postgres::Object, node_id: &str, log: &Logger) -> StoreResult<i32> {
    c.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK_KEY]).await?;
    let result = apply_pending(c, node_id, log).await;
    // Unlock even when a migration failed; the session closing would release it too.
    let unlock = c.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK_KEY]).await;
    let version = result?;
    unlock?;
    Ok(version)
}

async fn apply_pending(c: &mut deadpool_postgres::Object, node_id: &str, log: &Logger) -> StoreResult<i32> {
    c.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version integer PRIMARY KEY,
            name text NOT NULL,
            applied_at bigint NOT NULL,
            applied_by text NOT NULL
        )",
    )
    .await?;
    let applied: Vec<i32> =
        c.query("SELECT version FROM schema_migrations", &[]).await?.iter().map(|r| r.get(0)).collect();
    for m in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        let tx = c.transaction().await?;
        tx.batch_execute(m.sql)
            .await
            .map_err(|e| StoreError::Migration { version: m.version, error: e.to_string() })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at, applied_by) VALUES ($1, $2, $3, $4)",
            &[&m.version, &m.name, &now_ms(), &node_id],
        )
        .await?;
        tx.commit().await?;
        info!(log, "migration applied"; "version" => m.version, "name" => m.name);
    }
    let row = c.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[]).await?;
    Ok(row.get(0))
}
