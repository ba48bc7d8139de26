//! Config validation: what a node refuses to load, save, patch or reload, with Mattermost's
//! error id for each key it shares with Mattermost.

use super::{invalid, parse_listen_address, Config, ConfigError};

/// Mattermost's `SiteNameMaxLength`.
const SITE_NAME_MAX: usize = 30;

/// The values of ServiceSettings.CollapsedThreads, as Mattermost names them.
pub const COLLAPSED_THREADS: &[&str] = &["disabled", "default_off", "default_on", "always_on"];

const LOG_LEVELS: &[&str] = &["DEBUG", "INFO", "WARN", "ERROR", "CRITICAL", "TRACE"];

impl Config {
    /// Check every value a node cannot run with, as strictly as Mattermost's `Config.IsValid` for
    /// the keys Starling has; the error names the key, and [`ConfigError::error_id`] gives
    /// Mattermost's id for it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let s = &self.service_settings;
        if !s.site_url.is_empty() && !is_http_url(&s.site_url) {
            return Err(invalid("ServiceSettings.SiteURL", "must be empty or an http:// or https:// URL"));
        }
        parse_listen_address(&s.listen_address).map_err(|p| invalid("ServiceSettings.ListenAddress", p))?;
        if s.read_timeout == 0 {
            return Err(invalid("ServiceSettings.ReadTimeout", "must be greater than 0"));
        }
        if s.write_timeout == 0 {
            return Err(invalid("ServiceSettings.WriteTimeout", "must be greater than 0"));
        }
        if s.maximum_login_attempts <= 0 {
            return Err(invalid("ServiceSettings.MaximumLoginAttempts", "must be greater than 0"));
        }
        if let Some(h) = s.trusted_proxy_ip_header.iter().find(|h| !is_header_name(h)) {
            return Err(invalid("ServiceSettings.TrustedProxyIPHeader", format!("{h:?} is not a header name")));
        }
        if s.session_length_web_in_hours <= 0 {
            return Err(invalid("ServiceSettings.SessionLengthWebInHours", "must be greater than 0"));
        }
        if s.session_cache_in_minutes < 0 {
            return Err(invalid("ServiceSettings.SessionCacheInMinutes", "must not be negative"));
        }
        if !(0..=256).contains(&s.websocket_hubs) {
            return Err(invalid("ServiceSettings.WebsocketHubs", "must be between 0 (one per CPU) and 256"));
        }
        if s.maximum_payload_size_bytes <= 0 {
            return Err(invalid("ServiceSettings.MaximumPayloadSizeBytes", "must be greater than 0"));
        }
        if !COLLAPSED_THREADS.contains(&s.collapsed_threads.as_str()) {
            return Err(invalid("ServiceSettings.CollapsedThreads", format!("must be one of {COLLAPSED_THREADS:?}")));
        }
        if !(0..=500).contains(&s.unique_emoji_reaction_limit_per_post) {
            return Err(invalid("ServiceSettings.UniqueEmojiReactionLimitPerPost", "must be between 0 and 500"));
        }
        for (key, port) in [("WebsocketPort", s.websocket_port), ("WebsocketSecurePort", s.websocket_secure_port)] {
            if !(1..=65535).contains(&port) {
                return Err(invalid(&format!("ServiceSettings.{key}"), "must be a port between 1 and 65535"));
            }
        }
        let t = &self.team_settings;
        if t.site_name.chars().count() > SITE_NAME_MAX {
            return Err(invalid("TeamSettings.SiteName", format!("must be at most {SITE_NAME_MAX} characters")));
        }
        if t.max_users_per_team <= 0 {
            return Err(invalid("TeamSettings.MaxUsersPerTeam", "must be greater than 0"));
        }
        if t.max_channels_per_team <= 0 {
            return Err(invalid("TeamSettings.MaxChannelsPerTeam", "must be greater than 0"));
        }
        let q = &self.sql_settings;
        if q.driver_name != "postgres" {
            return Err(invalid(
                "SqlSettings.DriverName",
                format!("{:?} is not supported; use \"postgres\"", q.driver_name),
            ));
        }
        check_dsn("SqlSettings.DataSource", &q.data_source)?;
        for r in &q.data_source_replicas {
            check_dsn("SqlSettings.DataSourceReplicas", r)?;
        }
        for r in &q.data_source_search_replicas {
            check_dsn("SqlSettings.DataSourceSearchReplicas", r)?;
        }
        if q.max_idle_conns <= 0 {
            return Err(invalid("SqlSettings.MaxIdleConns", "must be greater than 0"));
        }
        if q.max_open_conns <= 0 {
            return Err(invalid("SqlSettings.MaxOpenConns", "must be greater than 0"));
        }
        if q.conn_max_lifetime_milliseconds < 0 {
            return Err(invalid("SqlSettings.ConnMaxLifetimeMilliseconds", "must not be negative"));
        }
        if q.conn_max_idle_time_milliseconds < 0 {
            return Err(invalid("SqlSettings.ConnMaxIdleTimeMilliseconds", "must not be negative"));
        }
        if q.query_timeout < 1 {
            return Err(invalid("SqlSettings.QueryTimeout", "must be at least 1 second"));
        }
        if q.connect_attempts < 1 {
            return Err(invalid("SqlSettings.ConnectAttempts", "must be at least 1"));
        }
        if q.connect_retry_seconds < 0 {
            return Err(invalid("SqlSettings.ConnectRetrySeconds", "must not be negative"));
        }
        if self.password_settings.minimum_length < 5 || self.password_settings.minimum_length > 72 {
            return Err(invalid("PasswordSettings.MinimumLength", "must be between 5 and 72"));
        }
        let f = &self.file_settings;
        match f.driver_name.as_str() {
            "local" => {
                if f.directory.is_empty() {
                    return Err(invalid("FileSettings.Directory", "must not be empty with the local driver"));
                }
            }
            "amazons3" => {
                if f.amazon_s3_bucket.is_empty() {
                    return Err(invalid("FileSettings.AmazonS3Bucket", "must be set with the amazons3 driver"));
                }
                if f.amazon_s3_access_key_id.is_empty() != f.amazon_s3_secret_access_key.is_empty() {
                    return Err(invalid(
                        "FileSettings.AmazonS3SecretAccessKey",
                        "must be set together with FileSettings.AmazonS3AccessKeyId",
                    ));
                }
                let part = f.amazon_s3_upload_part_size_bytes;
                let (min, max) = (crate::filestore::S3_PART_SIZE as i64, crate::filestore::S3_MAX_PART_SIZE as i64);
                if !(min..=max).contains(&part) {
                    return Err(invalid(
                        "FileSettings.AmazonS3UploadPartSizeBytes",
                        format!("must be between {min} (5 MiB) and {max} (5 GiB), S3's limits for a part"),
                    ));
                }
            }
            other => {
                return Err(invalid(
                    "FileSettings.DriverName",
                    format!("{other:?} is not one of \"local\", \"amazons3\""),
                ))
            }
        }
        if f.max_file_size <= 0 {
            return Err(invalid("FileSettings.MaxFileSize", "must be greater than 0"));
        }
        if !f.public_link_salt.is_empty() && f.public_link_salt.chars().count() < 32 {
            return Err(invalid("FileSettings.PublicLinkSalt", "must be 32 characters or more"));
        }
        if f.max_image_resolution <= 0 {
            return Err(invalid("FileSettings.MaxImageResolution", "must be greater than 0"));
        }
        if f.max_image_decoder_concurrency == 0 || f.max_image_decoder_concurrency < -1 {
            return Err(invalid(
                "FileSettings.MaxImageDecoderConcurrency",
                "must be -1 (one per CPU) or greater than 0",
            ));
        }
        let c = &self.cluster_settings;
        if !(1..=65535).contains(&c.gossip_port) {
            return Err(invalid("ClusterSettings.GossipPort", "must be a port between 1 and 65535"));
        }
        let l = &self.log_settings;
        for (key, level) in [("LogSettings.ConsoleLevel", &l.console_level), ("LogSettings.FileLevel", &l.file_level)] {
            if !LOG_LEVELS.contains(&level.to_ascii_uppercase().as_str()) {
                return Err(invalid(key, format!("{level:?} is not one of {}", LOG_LEVELS.join(", "))));
            }
        }
        if self.metrics_settings.enable {
            parse_listen_address(&self.metrics_settings.listen_address)
                .map_err(|p| invalid("MetricsSettings.ListenAddress", p))?;
        }
        self.validate_jobs()?;
        let r = &self.rate_limit_settings;
        if r.memory_store_size <= 0 {
            return Err(invalid("RateLimitSettings.MemoryStoreSize", "must be greater than 0"));
        }
        if r.per_sec <= 0 {
            return Err(invalid("RateLimitSettings.PerSec", "must be greater than 0"));
        }
        if r.max_burst <= 0 {
            return Err(invalid("RateLimitSettings.MaxBurst", "must be greater than 0"));
        }
        if !r.vary_by_header.is_empty() && !is_header_name(&r.vary_by_header) {
            return Err(invalid("RateLimitSettings.VaryByHeader", "must be empty or a header name"));
        }
        let p = &self.plugin_settings;
        if p.directory.trim().is_empty() {
            return Err(invalid("PluginSettings.Directory", "must not be empty"));
        }
        if p.require_plugin_signature {
            return Err(invalid(
                "PluginSettings.RequirePluginSignature",
                "signed plugins are not supported; set false",
            ));
        }
        if let Some(id) = p.plugin_states.keys().find(|id| !crate::extensions::valid_id(id)) {
            return Err(invalid("PluginSettings.PluginStates", format!("{id:?} is not a plugin id")));
        }
        Ok(())
    }

    fn validate_jobs(&self) -> Result<(), ConfigError> {
        let j = &self.job_settings;
        for (key, v) in [
            ("JobSettings.WorkerPollMilliseconds", j.worker_poll_milliseconds),
            ("JobSettings.SchedulerPollMilliseconds", j.scheduler_poll_milliseconds),
            ("JobSettings.HeartbeatMilliseconds", j.heartbeat_milliseconds),
        ] {
            if !(10..=3_600_000).contains(&v) {
                return Err(invalid(key, "must be between 10 and 3600000"));
            }
        }
        if j.stale_job_milliseconds < 3 * j.heartbeat_milliseconds {
            return Err(invalid("JobSettings.StaleJobMilliseconds", "must be at least three HeartbeatMilliseconds"));
        }
        if j.cleanup_interval_seconds < 1 {
            return Err(invalid("JobSettings.CleanupIntervalSeconds", "must be at least 1"));
        }
        let d = &self.data_retention_settings;
        if d.message_retention_days <= 0 {
            return Err(invalid("DataRetentionSettings.MessageRetentionDays", "must be greater than 0"));
        }
        if d.file_retention_days <= 0 {
            return Err(invalid("DataRetentionSettings.FileRetentionDays", "must be greater than 0"));
        }
        if d.start_time().is_none() {
            return Err(invalid(
                "DataRetentionSettings.DeletionJobStartTime",
                format!("{:?} is not a time of day as HH:MM", d.deletion_job_start_time),
            ));
        }
        if d.batch_size < 1 {
            return Err(invalid("DataRetentionSettings.BatchSize", "must be at least 1"));
        }
        if d.time_between_batches_milliseconds < 0 {
            return Err(invalid("DataRetentionSettings.TimeBetweenBatchesMilliseconds", "must not be negative"));
        }
        Ok(())
    }
}

fn check_dsn(key: &str, dsn: &str) -> Result<(), ConfigError> {
    if !(dsn.starts_with("postgres://") || dsn.starts_with("postgresql://")) {
        return Err(invalid(key, "must be a postgres:// URL"));
    }
    dsn.parse::<tokio_postgres::Config>().map_err(|e| invalid(key, format!("not a valid PostgreSQL URL: {e}")))?;
    Ok(())
}

/// An absolute `http://` or `https://` URL with a host (what Mattermost accepts as SiteURL).
fn is_http_url(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("http://").or_else(|| s.strip_prefix("https://")) else {
        return false;
    };
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = match host_port.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':')),
            None => return false,
        },
        None => match host_port.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        },
    };
    !host.is_empty() && port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0))
}

/// An HTTP header name (RFC 9110 token characters).
fn is_header_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl ConfigError {
    /// Mattermost's error id for an invalid config (`model.config.is_valid.<what>.app_error`); keys
    /// only Starling has share the generic one, and the key is in the error's text.
    pub fn error_id(&self) -> &'static str {
        let ConfigError::Invalid { key, .. } = self else { return "model.config.is_valid.app_error" };
        match key.as_str() {
            "ServiceSettings.SiteURL" => "model.config.is_valid.site_url.app_error",
            "ServiceSettings.ListenAddress" => "model.config.is_valid.listen_address.app_error",
            "ServiceSettings.ReadTimeout" => "model.config.is_valid.read_timeout.app_error",
            "ServiceSettings.WriteTimeout" => "model.config.is_valid.write_timeout.app_error",
            "ServiceSettings.MaximumLoginAttempts" => "model.config.is_valid.login_attempts.app_error",
            "ServiceSettings.MaximumPayloadSizeBytes" => "model.config.is_valid.max_payload_size.app_error",
            "ServiceSettings.CollapsedThreads" => "model.config.is_valid.collapsed_threads.app_error",
            "TeamSettings.SiteName" => "model.config.is_valid.sitename_length.app_error",
            "TeamSettings.MaxUsersPerTeam" => "model.config.is_valid.max_users.app_error",
            "TeamSettings.MaxChannelsPerTeam" => "model.config.is_valid.max_channels.app_error",
            "SqlSettings.DriverName" => "model.config.is_valid.sql_driver.app_error",
            "SqlSettings.DataSource" | "SqlSettings.DataSourceReplicas" | "SqlSettings.DataSourceSearchReplicas" => {
                "model.config.is_valid.sql_data_src.app_error"
            }
            "SqlSettings.MaxIdleConns" => "model.config.is_valid.sql_idle.app_error",
            "SqlSettings.MaxOpenConns" => "model.config.is_valid.sql_max_conn.app_error",
            "SqlSettings.QueryTimeout" => "model.config.is_valid.sql_query_timeout.app_error",
            "SqlSettings.ConnMaxLifetimeMilliseconds" => {
                "model.config.is_valid.sql_conn_max_lifetime_milliseconds.app_error"
            }
            "SqlSettings.ConnMaxIdleTimeMilliseconds" => {
                "model.config.is_valid.sql_conn_max_idle_time_milliseconds.app_error"
            }
            "PasswordSettings.MinimumLength" => "model.config.is_valid.password_length.app_error",
            "FileSettings.DriverName" => "model.config.is_valid.file_driver.app_error",
            "FileSettings.Directory" => "model.config.is_valid.directory.app_error",
            "RateLimitSettings.MemoryStoreSize" => "model.config.is_valid.rate_mem.app_error",
            "RateLimitSettings.PerSec" => "model.config.is_valid.rate_sec.app_error",
            "RateLimitSettings.MaxBurst" => "model.config.is_valid.max_burst.app_error",
            "DataRetentionSettings.MessageRetentionDays" => {
                "model.config.is_valid.message_retention_days_too_low.app_error"
            }
            "DataRetentionSettings.FileRetentionDays" => "model.config.is_valid.file_retention_days_too_low.app_error",
            "DataRetentionSettings.DeletionJobStartTime" => {
                "model.config.is_valid.data_retention.deletion_job_start_time.app_error"
            }
            _ => "model.config.is_valid.app_error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_urls_are_http_urls_with_a_host() {
        for ok in ["http://chat.example.com", "https://chat.example.com:8443/sub", "http://[::1]:8065", "http://a"] {
            assert!(is_http_url(ok), "{ok}");
        }
        for bad in
            ["chat.example.com", "ftp://x", "http://", "https://:80", "http://x:99999", "http://a b", "http://x:0"]
        {
            assert!(!is_http_url(bad), "{bad}");
        }
    }

    #[test]
    fn each_rule_names_its_key_and_mattermosts_id() {
        type Change = fn(&mut Config);
        let cases: &[(Change, &str)] = &[
            (|c| c.service_settings.site_url = "example.com".into(), "model.config.is_valid.site_url.app_error"),
            (|c| c.team_settings.max_users_per_team = 0, "model.config.is_valid.max_users.app_error"),
            (|c| c.sql_settings.max_idle_conns = 0, "model.config.is_valid.sql_idle.app_error"),
            (|c| c.sql_settings.max_open_conns = -1, "model.config.is_valid.sql_max_conn.app_error"),
            (|c| c.service_settings.listen_address = ":70000".into(), "model.config.is_valid.listen_address.app_error"),
            (|c| c.service_settings.maximum_login_attempts = 0, "model.config.is_valid.login_attempts.app_error"),
            (|c| c.rate_limit_settings.per_sec = 0, "model.config.is_valid.rate_sec.app_error"),
            (|c| c.rate_limit_settings.max_burst = 0, "model.config.is_valid.max_burst.app_error"),
            (|c| c.rate_limit_settings.memory_store_size = 0, "model.config.is_valid.rate_mem.app_error"),
            (|c| c.service_settings.trusted_proxy_ip_header = vec!["X Bad".into()], "model.config.is_valid.app_error"),
        ];
        assert!(Config::default().validate().is_ok(), "the defaults are valid");
        for (change, id) in cases {
            let mut c = Config::default();
            change(&mut c);
            let e = c.validate().expect_err(id);
            assert_eq!(e.error_id(), *id, "{e}");
        }
    }
}
