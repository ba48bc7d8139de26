//! The config API for system admins: read it (secrets hidden), save it, patch it, reload it, and
//! see which settings the environment decides. Saving is refused while
//! ClusterSettings.Enable and ClusterSettings.ReadOnlyConfig are both on (Mattermost's rule for a
//! cluster); with the config in the database a save reaches every node (see config::service).

use super::Query;
use super::{ok, read_json, status_ok, AppState, Auth, State};
use crate::config::service::{GetEnvOverrides, Reload, Update, UpdateError};
use crate::config::{sanitized, Config, ConfigError};
use crate::error::{ApiResult, AppError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::{Map, Value};
use slog::info;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/config", web::get().to(get_config))
        .route("/config", web::put().to(update_config))
        .route("/config/patch", web::put().to(patch_config))
        .route("/config/reload", web::post().to(reload))
        .route("/config/environment", web::get().to(environment))
        .route("/config/client", web::get().to(client_config))
        .route("/license/client", web::get().to(client_license));
}

#[derive(serde::Deserialize)]
struct FormatQuery {
    format: Option<String>,
}

/// Mattermost's rule: `format=old` is served, no format is a 501, any other format a 400.
fn old_format_only(q: &FormatQuery) -> ApiResult<()> {
    match q.format.as_deref() {
        Some("old") => return Ok(()),
        Some(_) => return Err(AppError::invalid_param("format")),
        None => {}
    }
    Err(AppError::new(
        StatusCode::NOT_IMPLEMENTED,
        "api.config.client.old_format.app_error",
        "New format for the client configuration is not supported yet. Please specify format=old in the query string.",
    ))
}

/// `GET /config/client?format=old`: what clients read before logging in (sign-up and password
/// rules, limits, names), every value a string as Mattermost sends it. Nothing secret.
async fn client_config(state: State, q: Query<FormatQuery>) -> ApiResult<HttpResponse> {
    old_format_only(&q)?;
    Ok(ok(&current_client_config(&state).await?))
}

/// The running client config, as `GET /config/client?format=old` and `config_changed` carry it.
pub async fn current_client_config(state: &AppState) -> ApiResult<Value> {
    let diagnostic_id = state.diagnostic_id().await?;
    Ok(client_config_map(&state.config(), &diagnostic_id))
}

/// The client config of `c`.
pub fn client_config_map(c: &Config, diagnostic_id: &str) -> Value {
    let b = |v: bool| Value::String(v.to_string());
    let s = |v: &str| Value::String(v.to_owned());
    let svc = &c.service_settings;
    let mut m = Map::new();
    for (k, v) in [
        ("Version", s(crate::MATTERMOST_VERSION)),
        ("BuildNumber", s(crate::VERSION)),
        ("BuildDate", Value::String(String::new())),
        ("BuildHash", Value::String(String::new())),
        ("BuildEnterpriseReady", b(false)),
        ("SiteURL", Value::String(c.service_settings.site_url.clone())),
        ("SiteName", Value::String(c.team_settings.site_name.clone())),
        ("EnableUserCreation", b(c.team_settings.enable_user_creation)),
        ("EnableOpenServer", b(c.team_settings.enable_open_server)),
        ("EnableSignUpWithEmail", b(true)),
        ("EnableSignInWithEmail", b(true)),
        ("EnableSignInWithUsername", b(true)),
        ("PasswordMinimumLength", Value::String(c.password_settings.minimum_length.to_string())),
        ("PasswordRequireLowercase", b(c.password_settings.lowercase)),
        ("PasswordRequireUppercase", b(c.password_settings.uppercase)),
        ("PasswordRequireNumber", b(c.password_settings.number)),
        ("PasswordRequireSymbol", b(c.password_settings.symbol)),
        ("EnableFileAttachments", b(c.file_settings.enable_file_attachments)),
        ("MaxFileSize", Value::String(c.file_settings.max_file_size.to_string())),
        ("EnablePublicLink", b(c.file_settings.enable_public_link)),
        ("MaxPostSize", Value::String("16383".into())),
        ("EnableCluster", b(c.cluster_settings.enable)),
        ("DiagnosticsEnabled", b(false)),
        ("DiagnosticId", s(diagnostic_id)),
        ("TelemetryId", s("")),
        ("WebsocketURL", s(&svc.websocket_url)),
        ("WebsocketPort", Value::String(svc.websocket_port.to_string())),
        ("WebsocketSecurePort", Value::String(svc.websocket_secure_port.to_string())),
        ("CollapsedThreads", s(&svc.collapsed_threads)),
        ("ThreadAutoFollow", b(svc.thread_auto_follow)),
        ("EnableChannelViewedMessages", b(svc.enable_channel_viewed_messages)),
        ("ExperimentalStrictCSRFEnforcement", b(svc.experimental_strict_csrf_enforcement)),
        ("EnableCustomEmoji", b(svc.enable_custom_emoji)),
        ("EnableUserAccessTokens", b(svc.enable_user_access_tokens)),
        ("EnableBotAccountCreation", b(svc.enable_bot_account_creation)),
        ("EnableIncomingWebhooks", b(svc.enable_incoming_webhooks)),
        ("EnableCommands", b(svc.enable_commands)),
        ("EnableOutgoingWebhooks", b(svc.enable_outgoing_webhooks)),
        ("EnablePostUsernameOverride", b(svc.enable_post_username_override)),
        ("EnablePostIconOverride", b(svc.enable_post_icon_override)),
        ("EnablePublicLink", b(c.file_settings.enable_public_link)),
        // Features Starling does not have yet: off, so the clients never call their routes.
        ("EnableLinkPreviews", b(false)),
        ("ExperimentalTimezone", b(false)),
        ("ExperimentalGroupUnreadChannels", s("disabled")),
        ("FeatureFlagChannelBookmarks", b(false)),
        ("EnableGuestAccounts", b(false)),
        ("EnableMobileFileDownload", b(true)),
        ("EnableMobileFileUpload", b(true)),
        ("TeammateNameDisplay", s("username")),
        ("LockTeammateNameDisplay", b(false)),
        ("RestrictDirectMessage", s("any")),
        ("ShowEmailAddress", b(true)),
        ("ShowFullName", b(true)),
        ("EnablePreviewFeatures", b(false)),
    ] {
        m.insert(k.to_owned(), v);
    }
    Value::Object(m)
}

/// `GET /license/client?format=old`: Starling carries no Mattermost license.
async fn client_license(q: Query<FormatQuery>) -> ApiResult<HttpResponse> {
    old_format_only(&q)?;
    Ok(ok(&serde_json::json!({"IsLicensed": "false"})))
}

async fn get_config(state: State, auth: Auth) -> ApiResult<HttpResponse> {
    auth.require_admin()?;
    Ok(ok(&sanitized(&state.config())))
}

async fn update_config(state: State, auth: Auth, body: web::Payload) -> ApiResult<HttpResponse> {
    save(state, auth, body, false).await
}

async fn patch_config(state: State, auth: Auth, body: web::Payload) -> ApiResult<HttpResponse> {
    save(state, auth, body, true).await
}

async fn save(state: State, auth: Auth, body: web::Payload, patch: bool) -> ApiResult<HttpResponse> {
    auth.require_admin()?;
    let mut body: Value = read_json(&state, body).await?;
    let sections: Vec<String> = body.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
    keep_enable_uploads(&mut body, patch, state.config().plugin_settings.enable_uploads);
    let saved = state.config_service.send(Update { body, patch, internal: false }).await.map_err(AppError::internal)?;
    let config = saved.map_err(|e| match e {
        UpdateError::Invalid(e) => invalid_config("api.config.update_config.app_error", e),
        UpdateError::ReadOnly => AppError::new(
            StatusCode::FORBIDDEN,
            "ent.cluster.save_config.error",
            "The configuration is read-only in a cluster unless ClusterSettings.ReadOnlyConfig is false.",
        ),
        UpdateError::Storage(e) => AppError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api.config.update_config.save.app_error",
            "The configuration could not be saved.",
        )
        .detail(e.to_string()),
    })?;
    info!(state.log, "config saved"; "user_id" => auth.user_id(), "config_hash" => config.hash());
    let action = if patch { "patchConfig" } else { "updateConfig" };
    crate::audit::record(
        &state,
        &auth,
        action,
        serde_json::json!({"sections": sections, "config_hash": config.hash()}),
    );
    if let Ok(client) = current_client_config(&state).await {
        state.events.config_changed(client);
    }
    Ok(ok(&sanitized(&config)))
}

/// PluginSettings.EnableUploads is set in the file or the environment only: a save through the
/// API keeps the running value, as Mattermost's does.
fn keep_enable_uploads(body: &mut Value, patch: bool, current: bool) {
    let Some(obj) = body.as_object_mut() else { return };
    if patch {
        if let Some(ps) = obj.get_mut("PluginSettings").and_then(Value::as_object_mut) {
            ps.remove("EnableUploads");
        }
        return;
    }
    let ps = obj.entry("PluginSettings").or_insert_with(|| Value::Object(Map::new()));
    if let Some(ps) = ps.as_object_mut() {
        ps.insert("EnableUploads".into(), Value::Bool(current));
    }
}

/// Re-read the config from its source (file or database) with the environment's overrides.
/// Settings read per request apply at once; SqlSettings apply at the next recycle; listen
/// addresses, logging and cluster settings need a restart.
async fn reload(state: State, auth: Auth) -> ApiResult<HttpResponse> {
    auth.require_admin()?;
    let hash = state
        .config_service
        .send(Reload)
        .await
        .map_err(AppError::internal)?
        .map_err(|e| invalid_config("api.config.reload_config.app_error", e))?;
    info!(state.log, "config reloaded"; "config_hash" => &hash);
    crate::audit::record(&state, &auth, "reloadConfig", serde_json::json!({"config_hash": hash}));
    if let Ok(client) = current_client_config(&state).await {
        state.events.config_changed(client);
    }
    Ok(status_ok())
}

/// `{"Section": {"Key": true}}` for every setting an environment variable decides.
async fn environment(state: State, auth: Auth) -> ApiResult<HttpResponse> {
    auth.require_admin()?;
    let keys = state.config_service.send(GetEnvOverrides).await.map_err(AppError::internal)?;
    let mut out = Map::new();
    for full in keys {
        if let Some((section, key)) = full.split_once('.') {
            if let Value::Object(m) = out.entry(section).or_insert_with(|| Value::Object(Map::new())) {
                m.insert(key.to_owned(), Value::Bool(true));
            }
        }
    }
    Ok(ok(&Value::Object(out)))
}

/// A config that cannot be run: 400 with Mattermost's `model.config.is_valid.*` id for the key
/// (the key and the reason in `detailed_error`); a source that cannot be read is the server's.
fn invalid_config(id: &'static str, e: ConfigError) -> AppError {
    let (status, id) = match e {
        ConfigError::Invalid { .. } => (StatusCode::BAD_REQUEST, e.error_id()),
        ConfigError::Parse { .. } => (StatusCode::BAD_REQUEST, id),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, id),
    };
    AppError::new(status, id, "The configuration is not valid.").detail(e.to_string())
}
