//! The audit trail: who did what security-relevant thing, when, from where and on which node.
//!
//! # Recording an action
//!
//! ```ignore
//! // In a handler that has an `Auth` (the caller's user id, session id and address):
//! crate::audit::record(&state, &auth, "updateUserRoles", json!({"user_id": id, "roles": roles}));
//! // Before anyone is authenticated (a login), from the request:
//! crate::audit::record(&state, Who::from_request(&state, &req).user(&user.id), "login", json!({"status": "fail"}));
//! ```
//!
//! `action` is Mattermost's audit event name (`login`, `logout`, `updateConfig`, ...); `extra` is
//! a JSON object of what else matters. By convention `extra.status` is `success` (the default
//! when absent) or `fail`, as in Mattermost's audit records. [`record`] never blocks, never fails
//! and never slows the request: it puts the entry on the node's bounded audit queue and returns.
//!
//! # Where a record goes
//!
//! The node's auditor (a task that owns the queue's receiving end, one per node) takes entries in
//! order and writes each to:
//! - the `audits` table (Mattermost's Audits), which `GET /api/v4/audits` and
//!   `GET /api/v4/users/{user_id}/audits` serve in Mattermost's Audit JSON (`extra_info` is the
//!   compact JSON of `extra`, cut to Mattermost's 1024 characters);
//! - with `ExperimentalAuditSettings.FileEnabled`, one JSON line in this node's audit file
//!   ([`file`]: rotated by size, old files pruned by count and age).
//!
//! # What is never in it
//!
//! Secrets: before an entry is queued, every value under a key that names a secret (passwords,
//! tokens, secrets, salts, data sources, private or access keys, at any depth) is replaced by
//! [`REDACTED`]. Callers should not pass them anyway; this is the safety net.
//!
//! # When the queue is full
//!
//! The queue holds `ExperimentalAuditSettings.FileMaxQueueSize` entries (read at start). An entry
//! that finds it full is dropped: the drop is counted ([`Audit::dropped`]) and logged (the first,
//! then every [`DROP_LOG_EVERY`]th), and the request goes on. A record the database refuses is
//! logged and counted ([`Audit::failed`]); the file line is still written.

pub mod file;

use crate::api::{AppState, Auth};
use crate::config::Config;
use crate::store::Store;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use slog::{warn, Logger};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use tokio::sync::mpsc;

/// What a secret's value becomes in an audit record.
pub const REDACTED: &str = "********";
/// A full queue is logged on its first drop and then once per this many.
pub const DROP_LOG_EVERY: u64 = 1000;
/// Mattermost's `AuditExtraInfoMaxLength`.
pub const EXTRA_INFO_MAX: usize = 1024;

/// Mattermost's `ExperimentalAuditSettings`: the audit file of each node.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "PascalCase")]
pub struct ExperimentalAuditSettings {
    pub file_enabled: bool,
    /// The audit file ("" means `audit.log` in LogSettings.FileLocation, or `./logs`). Per node.
    pub file_name: String,
    /// The file is rotated before it grows past this many MiB.
    #[serde(rename = "FileMaxSizeMB")]
    pub file_max_size_mb: i64,
    /// Rotated files older than this are removed (0: kept whatever their age).
    pub file_max_age_days: i64,
    /// At most this many rotated files are kept (0: all).
    pub file_max_backups: i64,
    /// Gzip rotated files.
    pub file_compress: bool,
    /// The node's audit queue (read at start; see the module docs for a full queue).
    pub file_max_queue_size: i64,
    /// Mattermost's advanced audit logging targets; accepted and not used.
    #[serde(rename = "AdvancedLoggingJSON")]
    pub advanced_logging_json: Value,
}

impl Default for ExperimentalAuditSettings {
    fn default() -> Self {
        Self {
            file_enabled: false,
            file_name: String::new(),
            file_max_size_mb: 100,
            file_max_age_days: 0,
            file_max_backups: 0,
            file_compress: false,
            file_max_queue_size: 1000,
            advanced_logging_json: Value::Object(Default::default()),
        }
    }
}

/// Who acted: a user and session (either may be empty) and the client's address.
#[derive(Debug, Clone, Default)]
pub struct Who {
    pub user_id: String,
    pub session_id: String,
    pub ip_address: String,
}

impl From<&Auth> for Who {
    fn from(auth: &Auth) -> Self {
        Who {
            user_id: auth.user_id().to_owned(),
            session_id: auth.session.id.as_str().to_owned(),
            ip_address: auth.client_ip.map(|ip| ip.to_string()).unwrap_or_default(),
        }
    }
}

impl Who {
    /// Nobody yet, from this request's address.
    pub fn from_request(state: &AppState, req: &actix_web::HttpRequest) -> Who {
        let ip = client_ip(&state.config, req).map(|ip| ip.to_string()).unwrap_or_default();
        Who { ip_address: ip, ..Default::default() }
    }

    /// The same, as `user_id`.
    pub fn user(self, user_id: &str) -> Who {
        Who { user_id: user_id.to_owned(), ..self }
    }

    /// The same, in `session_id`.
    pub fn session(self, session_id: &str) -> Who {
        Who { session_id: session_id.to_owned(), ..self }
    }
}

/// The client's address as this node sees it, by the rate limiter's rule: the peer's, or from a
/// proxy peer the `ServiceSettings.TrustedProxyIPHeader` header's.
pub fn client_ip(config: &RwLock<Config>, req: &actix_web::HttpRequest) -> Option<IpAddr> {
    let peer = req.peer_addr().map(|a| a.ip());
    let trusted = config.read().map(|c| c.service_settings.trusted_proxy_ip_header.clone()).unwrap_or_default();
    crate::ratelimit::client_addr(peer, req.headers(), &trusted)
}

/// Record `action` by `who` with `extra` (see the module docs). Never blocks, never fails.
pub fn record(state: &AppState, who: impl Into<Who>, action: &str, extra: Value) {
    state.audit.record(entry(who.into(), action, extra, &state.node_id));
}

/// A refused login of a known user: `reason` is `password`, `deactivated`, or the error id (a
/// lockout's is `api.user.check_user_login_attempts.too_many.app_error`).
pub fn login_refused(state: &AppState, who: &Who, user_id: &str, login_id: &str, reason: &str) {
    let extra = serde_json::json!({"status": "fail", "login_id": login_id, "reason": reason});
    record(state, who.clone().user(user_id), "login", extra);
}

/// One audit record, as queued.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: String,
    pub create_at: i64,
    pub user_id: String,
    pub session_id: String,
    pub ip_address: String,
    pub action: String,
    /// A JSON object, secrets redacted.
    pub extra: Value,
    pub node_id: String,
}

impl Entry {
    /// `extra` as the Audits table's ExtraInfo holds it: compact JSON, at most
    /// [`EXTRA_INFO_MAX`] characters.
    pub fn extra_info(&self) -> String {
        let s = self.extra.to_string();
        match s.char_indices().nth(EXTRA_INFO_MAX) {
            Some((cut, _)) => s[..cut].to_owned(),
            None => s,
        }
    }

    /// `extra.status`, or `success`.
    pub fn status(&self) -> &str {
        self.extra.get("status").and_then(Value::as_str).unwrap_or("success")
    }
}

/// Build an entry: a new id, now, and `extra` made an object with its secrets redacted.
pub fn entry(who: Who, action: &str, extra: Value, node_id: &str) -> Entry {
    let mut extra = match extra {
        Value::Object(_) => extra,
        Value::Null => Value::Object(Default::default()),
        other => serde_json::json!({ "value": other }),
    };
    redact(&mut extra);
    Entry {
        id: starling_protocol::new_id(),
        create_at: crate::store::now_ms(),
        user_id: who.user_id,
        session_id: who.session_id,
        ip_address: who.ip_address,
        action: action.to_owned(),
        extra,
        node_id: node_id.to_owned(),
    }
}

/// Whether a key names something that must never be recorded.
fn is_secret_key(key: &str) -> bool {
    let k: String = key.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase();
    ["password", "token", "secret", "salt", "datasource", "privatekey", "accesskey", "passwd"]
        .iter()
        .any(|s| k.contains(s))
}

/// Replace the value of every secret-named key, at any depth, by [`REDACTED`].
pub fn redact(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if is_secret_key(k) {
                    *val = Value::String(REDACTED.to_owned());
                } else {
                    redact(val);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// The node's end of the audit queue (kept in [`AppState`]).
pub struct Audit {
    tx: mpsc::Sender<Entry>,
    counters: Arc<Counters>,
    log: Logger,
}

#[derive(Default)]
struct Counters {
    dropped: AtomicU64,
    failed: AtomicU64,
}

impl Audit {
    /// Queue an entry; a full queue drops it (counted and logged).
    pub fn record(&self, entry: Entry) {
        if let Err(e) = self.tx.try_send(entry) {
            let n = self.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n == 1 || n.is_multiple_of(DROP_LOG_EVERY) {
                let why = match e {
                    mpsc::error::TrySendError::Full(_) => "full",
                    mpsc::error::TrySendError::Closed(_) => "closed",
                };
                warn!(self.log, "audit queue refused a record"; "reason" => why, "dropped" => n);
            }
        }
    }

    /// Records dropped because the queue was full (or the auditor gone) since the node started.
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    /// Records the database refused since the node started.
    pub fn failed(&self) -> u64 {
        self.counters.failed.load(Ordering::Relaxed)
    }
}

/// Start the node's auditor on the current (actix) runtime. It ends when every [`Audit`] sender
/// is gone, after writing what was queued.
pub fn start(config: Arc<RwLock<Config>>, store: Store, log: Logger) -> Audit {
    let capacity = config.read().map(|c| c.experimental_audit_settings.file_max_queue_size).unwrap_or(1000);
    let (tx, rx) = mpsc::channel(capacity.clamp(1, 1_000_000) as usize);
    let counters = Arc::new(Counters::default());
    let auditor = Auditor { config, store, log: log.clone(), counters: counters.clone(), file: None };
    actix::spawn(auditor.run(rx));
    Audit { tx, counters, log }
}

/// Takes entries off the queue in order and writes them out.
struct Auditor {
    config: Arc<RwLock<Config>>,
    store: Store,
    log: Logger,
    counters: Arc<Counters>,
    /// Open while FileEnabled (reopened when its settings change).
    file: Option<file::AuditFile>,
}

impl Auditor {
    async fn run(mut self, mut rx: mpsc::Receiver<Entry>) {
        while let Some(entry) = rx.recv().await {
            if let Err(e) = self.store.insert_audit(&entry).await {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                warn!(self.log, "audit record not stored"; "action" => &entry.action, "error" => %e);
            }
            self.write_file(&entry).await;
        }
    }

    async fn write_file(&mut self, entry: &Entry) {
        let (settings, log_dir) = match self.config.read() {
            Ok(c) => (c.experimental_audit_settings.clone(), c.log_settings.file_location.clone()),
            Err(_) => return,
        };
        if !settings.file_enabled {
            self.file = None;
            return;
        }
        let want = file::FileSettings::from_config(&settings, &log_dir);
        let mut f = match self.file.take() {
            Some(f) if f.settings() == &want => f,
            _ => file::AuditFile::new(want),
        };
        let line = file::line(entry);
        let result = tokio::task::spawn_blocking(move || {
            let r = f.write_line(&line);
            (f, r)
        })
        .await;
        match result {
            Ok((f, r)) => {
                if let Err(e) = r {
                    warn!(self.log, "audit file not written"; "path" => %f.settings().path.display(), "error" => %e);
                }
                self.file = Some(f);
            }
            Err(e) => warn!(self.log, "audit file writer failed"; "error" => %e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_redacted_at_any_depth() {
        let who = Who { user_id: "u".into(), ..Default::default() };
        let e = entry(
            who,
            "updateConfig",
            json!({"password": "p", "x": {"Token": "t", "SqlSettings": {"DataSource": "postgres://u:p@h"}},
                   "list": [{"new_password": "n"}], "AmazonS3SecretAccessKey": "k", "login_id": "alice"}),
            "node-1",
        );
        let text = e.extra.to_string();
        for secret in ["\"p\"", "\"t\"", "postgres://", "\"n\"", "\"k\""] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert_eq!(e.extra["login_id"], "alice");
        assert_eq!(e.extra["x"]["Token"], REDACTED);
    }

    #[test]
    fn a_full_queue_drops_and_counts_and_never_blocks() {
        let (tx, mut rx) = mpsc::channel(2);
        let audit = Audit { tx, counters: Default::default(), log: Logger::root(slog::Discard, slog::o!()) };
        for i in 0..5 {
            audit.record(entry(Who::default(), &format!("a{i}"), Value::Null, "n"));
        }
        assert_eq!(audit.dropped(), 3);
        assert_eq!(rx.try_recv().map(|e| e.action), Ok("a0".to_owned()), "the first ones are kept");
        drop(rx);
        audit.record(entry(Who::default(), "late", Value::Null, "n"));
        assert_eq!(audit.dropped(), 4, "a closed queue counts as a drop too");
    }

    #[test]
    fn extra_info_is_compact_json_cut_at_the_limit() {
        let e = entry(Who::default(), "a", json!({"status": "fail"}), "n");
        assert_eq!(e.extra_info(), r#"{"status":"fail"}"#);
        assert_eq!(e.status(), "fail");
        let long = entry(Who::default(), "a", json!({"m": "é".repeat(3000)}), "n");
        assert_eq!(long.extra_info().chars().count(), EXTRA_INFO_MAX);
        assert_eq!(entry(Who::default(), "a", Value::Null, "n").status(), "success");
    }
}
