//! `config.json` with Mattermost's sections, keys and defaults, plus `MM_<SECTION>_<KEY>` environment
//! overrides. Env values win over the stored config and are never written back to it.
//!
//! The stored config lives in a file or in the database ([`source::ConfigSource`]); the node's
//! [`service::ConfigService`] actor reloads and saves it and keeps the cluster's nodes in step.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write default config file {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("config file {path} is not valid JSON: {source}")]
    Parse { path: PathBuf, source: serde_json::Error },
    #[error("{key}: {problem}")]
    Invalid { key: String, problem: String },
    #[error("config database {dsn}: {problem}")]
    Database { dsn: String, problem: String },
}

pub(crate) fn invalid(key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key: key.to_owned(), problem: problem.into() }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default, rename_all = "PascalCase")]
pub struct Config {
    pub service_settings: ServiceSettings,
    pub team_settings: TeamSettings,
    pub sql_settings: SqlSettings,
    pub password_settings: PasswordSettings,
    pub file_settings: FileSettings,
    pub cluster_settings: ClusterSettings,
    pub log_settings: LogSettings,
    pub metrics_settings: MetricsSettings,
    pub job_settings: JobSettings,
    pub data_retention_settings: DataRetentionSettings,
    pub plugin_settings: PluginSettings,
    pub rate_limit_settings: RateLimitSettings,
    pub experimental_audit_settings: crate::audit::ExperimentalAuditSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "PascalCase")]
pub struct ServiceSettings {
    #[serde(rename = "SiteURL")]
    pub site_url: String,
    pub listen_address: String,
    pub read_timeout: u64,
    pub write_timeout: u64,
    pub idle_timeout: u64,
    pub session_length_web_in_hours: i64,
    pub session_cache_in_minutes: i64,
    pub maximum_payload_size_bytes: i64,
    pub enable_developer: bool,
    /// How many hub actors group this node's websockets (0: one per CPU).
    pub websocket_hubs: i64,
    /// Where browsers open the websocket; empty means the page's own origin.
    #[serde(rename = "WebsocketURL")]
    pub websocket_url: String,
    /// The port the web app adds to a `ws://` origin without one.
    pub websocket_port: i64,
    /// The port the web app adds to a `wss://` origin without one.
    pub websocket_secure_port: i64,
    /// Collapsed reply threads: `disabled`, `default_off`, `default_on` or `always_on`. Starling
    /// defaults to `default_on` (Mattermost's newer default is `always_on`).
    pub collapsed_threads: String,
    /// Whether replying, being mentioned in a reply, or having one's post replied to follows the
    /// thread.
    pub thread_auto_follow: bool,
    /// Whether viewing a channel is announced to the user's other sessions.
    pub enable_channel_viewed_messages: bool,
    /// Refuse cookie-authenticated writes that carry only `X-Requested-With: XMLHttpRequest` and no
    /// `X-CSRF-Token`.
    #[serde(rename = "ExperimentalStrictCSRFEnforcement")]
    pub experimental_strict_csrf_enforcement: bool,
    /// Whether users may upload and use custom emoji.
    pub enable_custom_emoji: bool,
    /// The most different emoji one post may be reacted with (Mattermost's default 50, at most 500).
    pub unique_emoji_reaction_limit_per_post: i64,
    /// Failed logins after which an account is locked until an admin sets its password
    /// (counted in the database, so every node sees the same count).
    pub maximum_login_attempts: i64,
    /// Headers (e.g. `X-Forwarded-For`, `X-Real-IP`) that carry the client's address. Read only
    /// when the connection comes from a loopback or private-network address (the proxy).
    #[serde(rename = "TrustedProxyIPHeader")]
    pub trusted_proxy_ip_header: Vec<String>,
    /// Whether personal access tokens may be made and used (Mattermost's default: off).
    pub enable_user_access_tokens: bool,
    /// Whether bot accounts may be created (Mattermost's default: off).
    pub enable_bot_account_creation: bool,
    /// Whether incoming webhooks may be made and posted to (Mattermost's default: on).
    pub enable_incoming_webhooks: bool,
    /// Whether users may create custom slash commands (built-in and plugin commands run anyway).
    pub enable_commands: bool,
    /// Whether outgoing webhooks are called.
    pub enable_outgoing_webhooks: bool,
    /// Whether an integration's answer may set the post's `override_username`.
    pub enable_post_username_override: bool,
    /// Whether an integration's answer may set the post's `override_icon_url`.
    pub enable_post_icon_override: bool,
    /// Host names, addresses and CIDRs (space or comma separated) integrations may call although
    /// they are internal (loopback, private, link-local); see [`crate::outbound`].
    pub allowed_untrusted_internal_connections: String,
    /// Seconds a call to a custom slash command or outgoing webhook may take.
    pub outgoing_integration_requests_timeout: i64,
    /// Serve the administration API without a session on a Unix socket (see [`crate::api::local`]).
    pub enable_local_mode: bool,
    /// Where that socket is made.
    pub local_mode_socket_location: String,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        Self {
            site_url: String::new(),
            listen_address: ":8065".into(),
            read_timeout: 300,
            write_timeout: 300,
            idle_timeout: 60,
            session_length_web_in_hours: 720,
            session_cache_in_minutes: 10,
            maximum_payload_size_bytes: 300_000,
            enable_developer: false,
            websocket_hubs: 0,
            websocket_url: String::new(),
            websocket_port: 80,
            websocket_secure_port: 443,
            collapsed_threads: "default_on".into(),
            thread_auto_follow: true,
            enable_channel_viewed_messages: true,
            experimental_strict_csrf_enforcement: false,
            enable_custom_emoji: false,
            unique_emoji_reaction_limit_per_post: 50,
            maximum_login_attempts: 10,
            trusted_proxy_ip_header: vec![],
            enable_user_access_tokens: false,
            enable_bot_account_creation: false,
            enable_incoming_webhooks: true,
            enable_commands: true,
            enable_outgoing_webhooks: true,
            enable_post_username_override: false,
            enable_post_icon_override: false,
            allowed_untrusted_internal_connections: String::new(),
            outgoing_integration_requests_timeout: 30,
            enable_local_mode: false,
            local_mode_socket_location: "/var/tmp/mattermost_local.socket".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "PascalCase")]
pub struct TeamSettings {
    pub site_name: String,
    pub enable_user_creation: bool,
    pub enable_open_server: bool,
    pub max_users_per_team: i64,
    pub max_channels_per_team: i64,
}

impl Default for TeamSettings {
    fn default() -> Self {
        Self {
            site_name: "Starling".into(),
            enable_user_creation: true,
            enable_open_server: false,
            max_users_per_team: 50,
            max_channels_per_team: 2000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default, rename_all = "PascalCase")]
pub struct ReplicaLagSetting {
    pub data_source: String,
    pub query_absolute_lag: String,
    pub query_time_lag: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "PascalCase")]
pub struct SqlSettings {
    pub driver_name: String,
    pub data_source: String,
    pub data_source_replicas: Vec<String>,
    pub data_source_search_replicas: Vec<String>,
    pub max_idle_conns: i64,
    pub max_open_conns: i64,
    pub conn_max_lifetime_milliseconds: i64,
    pub conn_max_idle_time_milliseconds: i64,
    pub query_timeout: i64,
    pub replica_lag_settings: Vec<ReplicaLagSetting>,
    pub replica_monitor_interval_seconds: i64,
    /// How many times the node tries to reach each database at start (Mattermost: 18).
    pub connect_attempts: i64,
    /// Seconds between those tries (Mattermost: 10).
    pub connect_retry_seconds: i64,
}

impl Default for SqlSettings {
    fn default() -> Self {
        Self {
            driver_name: "postgres".into(),
            data_source: "postgres://mmuser:mostest@localhost/mattermost_test?sslmode=disable&connect_timeout=10"
                .into(),
            data_source_replicas: vec![],
            data_source_search_replicas: vec![],
            max_idle_conns: 20,
            max_open_conns: 300,
            conn_max_lifetime_milliseconds: 3_600_000,
            conn_max_idle_time_milliseconds: 300_000,
            query_timeout: 30,
            replica_lag_settings: vec![],
            replica_monitor_interval_seconds: 5,
            connect_attempts: 18,
            connect_retry_seconds: 10,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "PascalCase")]
pub struct PasswordSettings {
    pub minimum_length: usize,
    pub lowercase: bool,
    pub number: bool,
    pub uppercase: bool,
    pub symbol: bool,
}

impl Default for PasswordSettings {
    fn default() -> Self {
        Self { minimum_length: 8, lowercase: false, number: false, uppercase: false, symbol: false }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "PascalCase")]
pub struct FileSettings {
    pub enable_file_attachments: bool,
    pub max_file_size: i64,
    pub driver_name: String,
    pub directory: String,
    pub amazon_s3_access_key_id: String,
    pub amazon_s3_secret_access_key: String,
    pub amazon_s3_bucket: String,
    pub amazon_s3_path_prefix: String,
    pub amazon_s3_region: String,
    pub amazon_s3_endpoint: String,
    #[serde(rename = "AmazonS3SSL")]
    pub amazon_s3_ssl: bool,
    /// The size of each part of a multipart upload (all but the last); a file up to this size is
    /// one PUT. Each upload in progress holds one part in memory.
    pub amazon_s3_upload_part_size_bytes: i64,
    /// Whether `GET /files/{id}/link` hands out links that work without logging in.
    pub enable_public_link: bool,
    /// The key of public links' hashes (at least 32 characters). Empty: the cluster makes one
    /// once and keeps it in the database (`Systems.PublicLinkSalt`), so every node agrees.
    pub public_link_salt: String,
    /// The most pixels (width times height) an image may have to be decoded: a larger avatar or
    /// team icon is refused, a larger attachment is stored without thumbnail or preview.
    pub max_image_resolution: i64,
    /// How many images a node decodes at once; -1: one per CPU.
    pub max_image_decoder_concurrency: i64,
}

impl Default for FileSettings {
    fn default() -> Self {
        Self {
            enable_file_attachments: true,
            max_file_size: 104_857_600,
            driver_name: "local".into(),
            directory: "./data/".into(),
            amazon_s3_access_key_id: String::new(),
            amazon_s3_secret_access_key: String::new(),
            amazon_s3_bucket: String::new(),
            amazon_s3_path_prefix: String::new(),
            amazon_s3_region: String::new(),
            amazon_s3_endpoint: "s3.amazonaws.com".into(),
            amazon_s3_ssl: true,
            amazon_s3_upload_part_size_bytes: 5_242_880,
            enable_public_link: false,
            public_link_salt: String::new(),
            max_image_resolution: 33_177_600,
            max_image_decoder_concurrency: -1,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "PascalCase")]
pub struct ClusterSettings {
    pub enable: bool,
    pub cluster_name: String,
    pub override_hostname: String,
    pub network_interface: String,
    pub bind_address: String,
    pub advertise_address: String,
    #[serde(rename = "UseIPAddress")]
    pub use_ip_address: bool,
    pub enable_gossip_compression: bool,
    pub enable_experimental_gossip_encryption: bool,
    pub read_only_config: bool,
    pub gossip_port: i64,
    /// Accepted for compatibility with older config files; unused.
    pub streaming_port: i64,
    pub max_idle_conns: i64,
    pub max_idle_conns_per_host: i64,
    pub idle_conn_timeout_milliseconds: i64,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        Self {
            enable: false,
            cluster_name: String::new(),
            override_hostname: String::new(),
            network_interface: String::new(),
            bind_address: String::new(),
            advertise_address: String::new(),
            use_ip_address: true,
            enable_gossip_compression: true,
            enable_experimental_gossip_encryption: false,
            read_only_config: true,
            gossip_port: 8074,
            streaming_port: 8075,
            max_idle_conns: 100,
            max_idle_conns_per_host: 128,
            idle_conn_timeout_milliseconds: 90_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "PascalCase")]
pub struct LogSettings {
    pub enable_console: bool,
    pub console_level: String,
    pub console_json: bool,
    pub enable_file: bool,
    pub file_level: String,
    pub file_json: bool,
    /// A directory; the log is `starling.log` inside it ("" means `./logs`).
    pub file_location: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            enable_console: true,
            console_level: "DEBUG".into(),
            console_json: false,
            enable_file: true,
            file_level: "INFO".into(),
            file_json: true,
            file_location: String::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "PascalCase")]
pub struct MetricsSettings {
    pub enable: bool,
    pub listen_address: String,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self { enable: false, listen_address: ":8067".into() }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "PascalCase")]
pub struct JobSettings {
    pub run_jobs: bool,
    pub run_scheduler: bool,
    /// Finished jobs older than this many days are deleted by the cleanup_jobs job (-1: never).
    pub cleanup_jobs_threshold_days: i64,
    /// Starling: how often a worker looks for pending jobs (Mattermost polls every 15 s).
    pub worker_poll_milliseconds: i64,
    /// Starling: how often the leader checks whether a recurring job is due.
    pub scheduler_poll_milliseconds: i64,
    /// Starling: how often a running job refreshes LastActivityAt and checks for a cancel request.
    pub heartbeat_milliseconds: i64,
    /// Starling: a running job silent this long was abandoned by its node: it is re-queued (or
    /// failed after 3 attempts). At least three heartbeats.
    pub stale_job_milliseconds: i64,
    /// Starling: how often the leader schedules the cleanup jobs (expired sessions, cluster
    /// discovery rows, old jobs). Mattermost runs these every 24 hours.
    pub cleanup_interval_seconds: i64,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            run_jobs: true,
            run_scheduler: true,
            cleanup_jobs_threshold_days: -1,
            worker_poll_milliseconds: 15_000,
            scheduler_poll_milliseconds: 15_000,
            heartbeat_milliseconds: 5_000,
            stale_job_milliseconds: 60_000,
            cleanup_interval_seconds: 86_400,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "PascalCase")]
pub struct DataRetentionSettings {
    pub enable_message_deletion: bool,
    pub enable_file_deletion: bool,
    pub message_retention_days: i64,
    pub file_retention_days: i64,
    /// "HH:MM", UTC: when the daily data_retention job is scheduled.
    pub deletion_job_start_time: String,
    /// Posts or files deleted per batch.
    pub batch_size: i64,
    pub time_between_batches_milliseconds: i64,
}

impl Default for DataRetentionSettings {
    fn default() -> Self {
        Self {
            enable_message_deletion: false,
            enable_file_deletion: false,
            message_retention_days: 365,
            file_retention_days: 365,
            deletion_job_start_time: "02:00".into(),
            batch_size: 3000,
            time_between_batches_milliseconds: 100,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "PascalCase")]
pub struct PluginSettings {
    pub enable: bool,
    /// Whether system admins may upload bundles (`POST /api/v4/plugins`). Set in the file or the
    /// environment only: the config API keeps its value, as Mattermost's does.
    pub enable_uploads: bool,
    /// Ping each running plugin every 30 s; restart one that does not answer.
    pub enable_health_check: bool,
    /// Where this node unpacks plugins (its own, not shared).
    pub directory: String,
    pub client_directory: String,
    /// Mattermost requires a signature only for marketplace installs; Starling accepts none
    /// (false is the only value it runs with).
    pub require_plugin_signature: bool,
    /// Per-plugin settings, handed to the plugin when it starts.
    pub plugins: std::collections::BTreeMap<String, Value>,
    /// Which plugins are enabled: `{"<id>": {"Enable": true}}`.
    pub plugin_states: std::collections::BTreeMap<String, PluginState>,
}

/// Mattermost's request rate limit (a GCRA per client key, see `crate::ratelimit`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "PascalCase")]
pub struct RateLimitSettings {
    pub enable: bool,
    /// Requests per second each key may make on average.
    pub per_sec: i64,
    /// Requests a key may make at once beyond the rate.
    pub max_burst: i64,
    /// How many keys are remembered; past that the least recently seen is forgotten.
    pub memory_store_size: i64,
    pub vary_by_remote_addr: bool,
    pub vary_by_user: bool,
    /// A request header whose value is part of the key ("" for none).
    pub vary_by_header: String,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            enable: false,
            per_sec: 10,
            max_burst: 100,
            memory_store_size: 10_000,
            vary_by_remote_addr: true,
            vary_by_user: false,
            vary_by_header: String::new(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "PascalCase")]
pub struct PluginState {
    pub enable: bool,
}

impl Default for PluginSettings {
    fn default() -> Self {
        Self {
            enable: true,
            enable_uploads: false,
            enable_health_check: true,
            directory: "./plugins".into(),
            client_directory: "./client/plugins".into(),
            require_plugin_signature: false,
            plugins: Default::default(),
            plugin_states: Default::default(),
        }
    }
}

impl PluginSettings {
    /// Whether the plugin `id` is enabled.
    pub fn is_enabled(&self, id: &str) -> bool {
        self.enable && self.plugin_states.get(id).is_some_and(|s| s.enable)
    }
}

impl DataRetentionSettings {
    /// DeletionJobStartTime as (hour, minute), if it is a valid "HH:MM" (Go's "15:04").
    pub fn start_time(&self) -> Option<(u8, u8)> {
        let (h, m) = self.deletion_job_start_time.split_once(':')?;
        if h.is_empty() || h.len() > 2 || m.len() != 2 || !(h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit())) {
            return None;
        }
        let (h, m): (u8, u8) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60).then_some((h, m))
    }
}

/// A config as the node runs it: the stored values with the environment's on top.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    /// `Section.Key` of every setting an environment variable decided.
    pub env_overrides: BTreeSet<String>,
    /// What the source holds (every section and key, without the environment's overrides).
    pub stored: Value,
    pub source: source::ConfigSource,
}

impl LoadedConfig {
    /// A config built in code (tests, embedding), as if `source` held exactly it.
    pub fn from_config(config: Config, source: source::ConfigSource) -> Self {
        let stored = serde_json::to_value(&config).unwrap_or(Value::Null);
        Self { config, env_overrides: BTreeSet::new(), stored, source }
    }
}

/// What the API shows instead of a secret; a client that sends it back keeps the secret unchanged.
pub const FAKE_SETTING: &str = "********************************";

/// Settings the API never shows: `(section, key, field inside list items)`.
const SECRETS: &[(&str, &str, Option<&str>)] = &[
    ("SqlSettings", "DataSource", None),
    ("SqlSettings", "DataSourceReplicas", None),
    ("SqlSettings", "DataSourceSearchReplicas", None),
    ("SqlSettings", "ReplicaLagSettings", Some("DataSource")),
    ("FileSettings", "AmazonS3SecretAccessKey", None),
    ("FileSettings", "PublicLinkSalt", None),
];

/// The config as system admins read it through the API: every secret replaced by [`FAKE_SETTING`].
pub fn sanitized(config: &Config) -> Value {
    let mut v = serde_json::to_value(config).unwrap_or(Value::Null);
    for (section, key, field) in SECRETS {
        let Some(slot) = v.get_mut(*section).and_then(|s| s.get_mut(*key)) else { continue };
        match (slot, field) {
            (Value::String(s), None) if !s.is_empty() => *s = FAKE_SETTING.to_owned(),
            (Value::Array(items), None) => items.iter_mut().for_each(|i| *i = Value::from(FAKE_SETTING)),
            (Value::Array(items), Some(f)) => {
                for item in items {
                    if let Some(Value::String(s)) = item.get_mut(*f) {
                        if !s.is_empty() {
                            *s = FAKE_SETTING.to_owned();
                        }
                    }
                }
            }
            _ => {}
        }
    }
    v
}

/// Put back every secret a client sent as [`FAKE_SETTING`], taking it from `current`.
fn desanitize(new: &mut Value, current: &Value) {
    let is_fake = |v: &Value| v.as_str() == Some(FAKE_SETTING);
    for (section, key, field) in SECRETS {
        let old = current.get(*section).and_then(|s| s.get(*key));
        let Some(slot) = new.get_mut(*section).and_then(|s| s.get_mut(*key)) else { continue };
        match (slot, field) {
            (slot, None) if is_fake(slot) => *slot = old.cloned().unwrap_or(Value::Null),
            (Value::Array(items), f) => {
                for (i, item) in items.iter_mut().enumerate() {
                    let old_item = old.and_then(|o| o.get(i));
                    match f {
                        None if is_fake(item) => *item = old_item.cloned().unwrap_or_default(),
                        Some(f) => {
                            if let Some(slot) = item.get_mut(*f).filter(|v| is_fake(v)) {
                                *slot = old_item.and_then(|o| o.get(*f)).cloned().unwrap_or_default();
                            }
                        }
                        None => {}
                    }
                }
            }
            _ => {}
        }
    }
}

/// Merge a partial config into `base` (objects key by key; anything else replaced).
pub fn merge_patch(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                match b.get_mut(&k) {
                    Some(slot) => merge_patch(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// Decode what a source holds, apply the environment and validate: the config a node runs.
pub fn from_stored(
    stored: Value,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(Config, BTreeSet<String>, Value), ConfigError> {
    // Normalise: decode (type errors name the section and key), then work on the full value.
    let stored = serde_json::to_value(decode(stored)?).unwrap_or(Value::Null);
    let mut value = stored.clone();
    let env_overrides = apply_env(&mut value, env)?;
    let config = decode(value)?;
    config.validate()?;
    Ok((config, env_overrides, stored))
}

/// A config a system admin sent (`PUT /config`, or the current one with a patch merged): secrets
/// sent back as [`FAKE_SETTING`] keep their values, settings the environment decides keep their
/// stored values (the environment wins and is never stored), and the result must be valid.
/// Returns the config to run, the keys the environment set, and the value to store.
pub fn prepare_update(
    mut body: Value,
    current: &LoadedConfig,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(Config, BTreeSet<String>, Value), ConfigError> {
    if !body.is_object() {
        return Err(invalid("config", "the top level must be a JSON object"));
    }
    desanitize(&mut body, &serde_json::to_value(&current.config).unwrap_or(Value::Null));
    let mut stored = serde_json::to_value(decode(body)?).unwrap_or(Value::Null);
    for full in &current.env_overrides {
        let Some((section, key)) = full.split_once('.') else { continue };
        let old = current.stored.get(section).and_then(|s| s.get(key)).cloned();
        if let (Some(old), Some(Value::Object(sec))) = (old, stored.get_mut(section)) {
            sec.insert(key.to_owned(), old);
        }
    }
    from_stored(stored, env)
}

/// Turn a Mattermost listen address (`:8065`, `127.0.0.1:8065`, `localhost:8065`) into a socket address.
pub fn parse_listen_address(s: &str) -> Result<SocketAddr, String> {
    let full = if s.starts_with(':') { format!("0.0.0.0{s}") } else { s.to_owned() };
    full.to_socket_addrs()
        .map_err(|e| format!("invalid address {s:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("address {s:?} resolves to nothing"))
}

impl Config {
    /// A hash of the settings every node of a cluster must share. Per-node settings (addresses
    /// and ports to listen on or advertise, log location, hub count) are left out, and so is every
    /// setting at its default: a key added by a newer version, left at its default, does not make
    /// the nodes of a rolling upgrade disagree (set to something else, it does, rightly).
    pub fn hash(&self) -> String {
        let mut shared = self.clone();
        shared.service_settings.listen_address.clear();
        shared.service_settings.websocket_hubs = 0;
        shared.plugin_settings.directory.clear();
        shared.plugin_settings.client_directory.clear();
        shared.metrics_settings.listen_address.clear();
        shared.log_settings.file_location.clear();
        shared.experimental_audit_settings.file_name.clear();
        let cs = &mut shared.cluster_settings;
        cs.override_hostname.clear();
        cs.network_interface.clear();
        cs.bind_address.clear();
        cs.advertise_address.clear();
        cs.gossip_port = 0;
        cs.streaming_port = 0;
        let mut value = serde_json::to_value(&shared).unwrap_or(Value::Null);
        let defaults = serde_json::to_value(Config::default()).unwrap_or(Value::Null);
        prune_defaults(&mut value, &defaults);
        let bytes = serde_json::to_vec(&value).unwrap_or_default();
        hex::encode(&Sha256::digest(&bytes)[..16])
    }
}

/// Remove from `value` every key whose value equals the one in `defaults` (objects key by key).
fn prune_defaults(value: &mut Value, defaults: &Value) {
    let (Value::Object(map), Value::Object(base)) = (value, defaults) else { return };
    map.retain(|key, v| match base.get(key) {
        Some(d) if d == v => false,
        Some(d) => {
            prune_defaults(v, d);
            !matches!(v, Value::Object(m) if m.is_empty())
        }
        None => true,
    });
}

/// Read `path` (creating it from defaults if it is missing), apply the environment, validate.
pub fn load(path: &Path) -> Result<LoadedConfig, ConfigError> {
    load_with_env(path, std::env::vars())
}

pub fn load_with_env(
    path: &Path,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<LoadedConfig, ConfigError> {
    let file_value = source::read_file(path)?;
    let (config, env_overrides, stored) = from_stored(file_value, env)?;
    Ok(LoadedConfig { config, env_overrides, stored, source: source::ConfigSource::File(path.to_owned()) })
}

fn decode(value: Value) -> Result<Config, ConfigError> {
    // Decode section by section so a type error can name the section and key.
    let Value::Object(map) = value else {
        return Err(invalid("config", "the top level must be a JSON object"));
    };
    let mut full = serde_json::to_value(Config::default()).unwrap_or(Value::Null);
    if let Value::Object(defaults) = &mut full {
        for (section, v) in map {
            let Some(Value::Object(target)) = defaults.get_mut(&section) else {
                continue;
            };
            let Value::Object(keys) = v else {
                return Err(invalid(&section, "must be a JSON object"));
            };
            for (key, kv) in keys {
                if target.contains_key(&key) {
                    check_type(&format!("{section}.{key}"), &target[&key], &kv)?;
                    target.insert(key, kv);
                }
            }
        }
    }
    serde_json::from_value(full).map_err(|e| invalid("config", e.to_string()))
}

fn check_type(key: &str, default: &Value, v: &Value) -> Result<(), ConfigError> {
    let ok = match default {
        Value::Bool(_) => v.is_boolean(),
        Value::Number(n) if n.is_u64() || n.is_i64() => v.is_i64() || v.is_u64(),
        Value::Number(_) => v.is_number(),
        Value::String(_) => v.is_string(),
        Value::Array(_) => v.is_array() || v.is_null(),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(invalid(key, format!("expected {}, got {v}", type_name(default))))
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Bool(_) => "true or false",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
        Value::Null => "null",
    }
}

/// Apply `MM_<SECTION>_<KEY>` variables (matched case-insensitively) and return the keys they set.
fn apply_env(
    value: &mut Value,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<BTreeSet<String>, ConfigError> {
    let mut set = BTreeSet::new();
    let Value::Object(sections) = value else {
        return Ok(set);
    };
    for (name, raw) in env {
        let upper = name.to_ascii_uppercase();
        let Some(rest) = upper.strip_prefix("MM_") else {
            continue;
        };
        let Some((sec, key)) = rest.split_once('_') else {
            continue;
        };
        let Some((sec_name, Value::Object(keys))) = sections.iter_mut().find(|(s, _)| s.eq_ignore_ascii_case(sec))
        else {
            continue;
        };
        let Some((key_name, current)) = keys.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(key)) else {
            continue;
        };
        let full = format!("{sec_name}.{key_name}");
        *current = env_value(&full, &name, current, &raw)?;
        set.insert(full);
    }
    Ok(set)
}

fn env_value(key: &str, var: &str, current: &Value, raw: &str) -> Result<Value, ConfigError> {
    let bad = |what: &str| invalid(key, format!("environment variable {var}: expected {what}, got {raw:?}"));
    Ok(match current {
        Value::Bool(_) => match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Value::Bool(true),
            "false" | "0" => Value::Bool(false),
            _ => return Err(bad("true or false")),
        },
        Value::Number(n) if n.is_f64() => raw
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| bad("a number"))?,
        Value::Number(_) => Value::from(raw.trim().parse::<i64>().map_err(|_| bad("a whole number"))?),
        Value::String(_) => Value::String(raw.to_owned()),
        Value::Array(items) => {
            if raw.trim_start().starts_with('[') || items.first().is_some_and(|v| v.is_object()) {
                serde_json::from_str(raw).map_err(|_| bad("a JSON list"))?
            } else {
                Value::Array(raw.split_whitespace().map(|s| Value::String(s.to_owned())).collect())
            }
        }
        _ => serde_json::from_str(raw).map_err(|_| bad("JSON"))?,
    })
}

pub mod service;
pub mod source;
mod validate;
pub use validate::COLLAPSED_THREADS;

#[cfg(test)]
mod tests;
