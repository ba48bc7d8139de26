//! Where the stored config lives: a `config.json` file, or the database (`--config postgres://...`
//! or `MM_CONFIG`), so that every node of a cluster shares one config.
//!
//! In the database the config is a row of the `configurations` table (Mattermost's table and
//! column names): every save inserts a new row and makes it the only active one, with the SHA-256
//! of its value; older rows stay as history. The table is created, and filled with the defaults
//! (SqlSettings.DataSource set to the config's own database), by the first node that finds it
//! missing or empty, under an advisory lock so nodes starting together agree.

use super::{from_stored, invalid, Config, ConfigError, LoadedConfig};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The advisory lock key for creating and initialising the configurations table.
const INIT_LOCK: i64 = 0x5354_4c47_4346_4731; // "STLGCFG1"

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    File(PathBuf),
    Database { dsn: String },
}

impl ConfigSource {
    /// `postgres://...` or `postgresql://...` is a database; anything else a file path.
    pub fn parse(arg: &str) -> Self {
        if arg.starts_with("postgres://") || arg.starts_with("postgresql://") {
            ConfigSource::Database { dsn: arg.to_owned() }
        } else {
            ConfigSource::File(PathBuf::from(arg))
        }
    }

    pub fn is_database(&self) -> bool {
        matches!(self, ConfigSource::Database { .. })
    }

    /// For logs and errors: the path, or the database URL without its password.
    pub fn describe(&self) -> String {
        match self {
            ConfigSource::File(p) => p.display().to_string(),
            ConfigSource::Database { dsn } => redact(dsn),
        }
    }

    /// The stored config (without environment overrides). A missing file or an empty table is
    /// created from the defaults.
    pub async fn read(&self) -> Result<Value, ConfigError> {
        match self {
            ConfigSource::File(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || read_file(&path))
                    .await
                    .map_err(|e| invalid("config", e.to_string()))?
            }
            ConfigSource::Database { dsn } => db_read(dsn).await.map_err(|e| db_error(dsn, e)),
        }
    }

    /// Store `stored` as the config (a new active row, or the file replaced atomically).
    pub async fn write(&self, stored: &Value) -> Result<(), ConfigError> {
        let text = serde_json::to_string_pretty(stored).map_err(|e| invalid("config", e.to_string()))?;
        match self {
            ConfigSource::File(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || write_file(&path, &text))
                    .await
                    .map_err(|e| invalid("config", e.to_string()))?
            }
            ConfigSource::Database { dsn } => db_write(dsn, &text).await.map_err(|e| db_error(dsn, e)),
        }
    }

    /// The SHA-256 of the active row (database sources): a cheap check for a change.
    pub async fn active_sha(&self) -> Result<Option<String>, ConfigError> {
        match self {
            ConfigSource::File(_) => Ok(None),
            ConfigSource::Database { dsn } => {
                let client = connect(dsn).await.map_err(|e| db_error(dsn, e))?;
                let row = client
                    .query_opt("SELECT sha FROM configurations WHERE active", &[])
                    .await
                    .map_err(|e| db_error(dsn, e))?;
                Ok(row.map(|r| r.get::<_, String>(0).trim().to_owned()))
            }
        }
    }
}

/// Read the stored config and apply `env`: the config a node runs.
pub async fn load(
    source: &ConfigSource,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<LoadedConfig, ConfigError> {
    let stored = source.read().await?;
    let (config, env_overrides, stored) = from_stored(stored, env)?;
    Ok(LoadedConfig { config, env_overrides, stored, source: source.clone() })
}

/// [`load`], retrying a config database that is not reachable yet (a node started with its
/// database) for up to about 30 s. Invalid configs fail at once.
pub async fn load_at_start(source: &ConfigSource) -> Result<LoadedConfig, ConfigError> {
    let mut attempt = 0;
    loop {
        match load(source, std::env::vars()).await {
            Err(ConfigError::Database { .. }) if attempt < 10 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            other => return other,
        }
    }
}

pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A file's JSON; a missing file is written with the defaults first.
pub(super) fn read_file(path: &Path) -> Result<Value, ConfigError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice::<Value>(&bytes)
            .map_err(|source| ConfigError::Parse { path: path.to_owned(), source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let defaults = serde_json::to_string_pretty(&Config::default()).unwrap_or_default();
            write_file(path, &defaults)?;
            Ok(serde_json::to_value(Config::default()).unwrap_or(Value::Null))
        }
        Err(source) => Err(ConfigError::Read { path: path.to_owned(), source }),
    }
}

/// Write through a temporary file and rename: readers see the old file or the new one.
fn write_file(path: &Path, text: &str) -> Result<(), ConfigError> {
    let err = |source| ConfigError::Write { path: path.to_owned(), source };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, text).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err(e)
    })
}

fn redact(dsn: &str) -> String {
    let Some((scheme, rest)) = dsn.split_once("://") else { return "(not a database URL)".to_owned() };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let pw = if userinfo.contains(':') { ":xxxxx" } else { "" };
            // Passwords also travel as `password=` parameters.
            let tail = redact_param(tail);
            format!("{scheme}://{user}{pw}@{host}{tail}")
        }
        None => format!("{scheme}://{authority}{}", redact_param(tail)),
    }
}

fn redact_param(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else { return tail.to_owned() };
    let params: Vec<String> =
        query
            .split('&')
            .map(|p| {
                if p.to_ascii_lowercase().starts_with("password=") {
                    "password=xxxxx".to_owned()
                } else {
                    p.to_owned()
                }
            })
            .collect();
    format!("{path}?{}", params.join("&"))
}

fn db_error(dsn: &str, e: impl std::fmt::Display) -> ConfigError {
    ConfigError::Database { dsn: redact(dsn), problem: e.to_string() }
}

async fn connect(dsn: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let mut cfg: tokio_postgres::Config = dsn.parse()?;
    cfg.connect_timeout(Duration::from_secs(5));
    let (client, conn) = cfg.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

async fn db_read(dsn: &str) -> Result<Value, String> {
    let mut client = connect(dsn).await.map_err(|e| e.to_string())?;
    // The common case: the table exists and has an active row.
    if let Ok(Some(row)) = client.query_opt("SELECT value FROM configurations WHERE active", &[]).await {
        return parse_row(&row.get::<_, String>(0));
    }
    let tx = client.transaction().await.map_err(|e| e.to_string())?;
    lock_and_create(&tx).await?;
    let value = match tx.query_opt("SELECT value FROM configurations WHERE active", &[]).await {
        Ok(Some(row)) => parse_row(&row.get::<_, String>(0))?,
        Ok(None) => {
            let mut defaults = Config::default();
            defaults.sql_settings.data_source = dsn.to_owned();
            let text = serde_json::to_string_pretty(&defaults).map_err(|e| e.to_string())?;
            insert_active(&tx, &text).await?;
            serde_json::to_value(&defaults).map_err(|e| e.to_string())?
        }
        Err(e) => return Err(e.to_string()),
    };
    tx.commit().await.map_err(|e| e.to_string())?;
    Ok(value)
}

fn parse_row(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("the active configuration row is not valid JSON: {e}"))
}

/// Take the config lock (saves and first starts take turns) and make sure the table exists.
async fn lock_and_create(tx: &tokio_postgres::Transaction<'_>) -> Result<(), String> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&INIT_LOCK]).await.map_err(|e| e.to_string())?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS configurations (
            id varchar(26) PRIMARY KEY,
            value text NOT NULL,
            createat bigint NOT NULL,
            active boolean UNIQUE,
            sha char(64) NOT NULL DEFAULT ''
        )",
    )
    .await
    .map_err(|e| e.to_string())
}

async fn db_write(dsn: &str, text: &str) -> Result<(), String> {
    let mut client = connect(dsn).await.map_err(|e| e.to_string())?;
    let tx = client.transaction().await.map_err(|e| e.to_string())?;
    // Saves from several nodes at once take turns; the last one wins, whole.
    lock_and_create(&tx).await?;
    let current: Option<String> = tx
        .query_opt("SELECT sha FROM configurations WHERE active", &[])
        .await
        .map_err(|e| e.to_string())?
        .map(|r| r.get::<_, String>(0).trim().to_owned());
    if current.as_deref() == Some(sha256_hex(text).as_str()) {
        return Ok(()); // unchanged
    }
    tx.execute("UPDATE configurations SET active = NULL WHERE active", &[]).await.map_err(|e| e.to_string())?;
    insert_active(&tx, text).await?;
    tx.commit().await.map_err(|e| e.to_string())
}

async fn insert_active(tx: &tokio_postgres::Transaction<'_>, text: &str) -> Result<(), String> {
    let id = starling_protocol::new_id();
    let now = crate::store::now_ms();
    tx.execute(
        "INSERT INTO configurations (id, value, createat, active, sha) VALUES ($1, $2, $3, true, $4)",
        &[&id, &text, &now, &sha256_hex(text)],
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_and_redaction() {
        assert!(ConfigSource::parse("postgres://u:secret@h:5432/db").is_database());
        assert!(ConfigSource::parse("postgresql://h/db").is_database());
        assert_eq!(ConfigSource::parse("config.json"), ConfigSource::File("config.json".into()));
        let d = ConfigSource::parse("postgres://u:secret@h:5432/db?sslmode=disable&password=other").describe();
        assert_eq!(d, "postgres://u:xxxxx@h:5432/db?sslmode=disable&password=xxxxx");
        assert!(!d.contains("secret") && !d.contains("other"));
        assert_eq!(ConfigSource::parse("postgres://u@h/db").describe(), "postgres://u@h/db");
    }
}
