//! The config API for system admins: read it (secrets hidden), save it, patch it, reload it, and
//! see which settings the environment decides. Saving is refused while
//! ClusterSettings.Enable and ClusterSettings.ReadOnlyConfig are both on (Mattermost's rule for a
//! cluster); with the config in the database a save reaches every node (see config::service).

use super::{ok, read_json, status_ok, Auth, State};
use crate::config::service::{GetEnvOverrides, Reload, Update, UpdateError};
use crate::config::{sanitized, ConfigError};
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
        .route("/config/environment", web::get().to(environment));
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
    let body: Value = read_json(&state, body).await?;
    let saved = state.config_service.send(Update { body, patch }).await.map_err(AppError::internal)?;
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
    Ok(ok(&sanitized(&config)))
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
    info!(state.log, "config reloaded"; "config_hash" => hash);
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

fn invalid_config(id: &'static str, e: ConfigError) -> AppError {
    let status = match e {
        ConfigError::Invalid { .. } | ConfigError::Parse { .. } => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    AppError::new(status, id, "The configuration is not valid.").detail(e.to_string())
}
