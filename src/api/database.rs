//! Database and config operations for system admins: `POST /database/recycle` rebuilds the pools
//! (a new SqlSettings.DataSource takes effect here) and `POST /config/reload` re-reads the config
//! file. Together they are the manual failover: point DataSource at the new primary, reload, recycle.

use super::{status_ok, Auth, State};
use crate::error::{ApiResult, AppError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use slog::info;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/database/recycle", web::post().to(recycle)).route("/config/reload", web::post().to(reload));
}

/// Build new pools from the current SqlSettings and swap them in. Requests in flight finish on the
/// old pools, whose connections close as they are returned.
async fn recycle(state: State, auth: Auth) -> ApiResult<HttpResponse> {
    auth.require_admin()?;
    let sql = state.config().sql_settings;
    state.store.recycle(&sql).map_err(|e| {
        AppError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api.database.recycle.app_error",
            "Could not recycle the database connections.",
        )
        .detail(e.to_string())
    })?;
    Ok(status_ok())
}

/// Re-read the config file (with the environment's overrides) and make it the node's config.
/// Settings read per request apply at once; SqlSettings apply at the next recycle; listen
/// addresses, logging and cluster settings need a restart.
async fn reload(state: State, auth: Auth) -> ApiResult<HttpResponse> {
    auth.require_admin()?;
    let path = state.config_path.clone();
    if !path.is_file() {
        return Err(AppError::new(
            StatusCode::BAD_REQUEST,
            "api.config.reload_config.app_error",
            "There is no config file to reload.",
        )
        .detail(path.display().to_string()));
    }
    let loaded = web::block(move || crate::config::load(&path)).await.map_err(AppError::internal)?.map_err(|e| {
        AppError::new(StatusCode::BAD_REQUEST, "api.config.reload_config.app_error", "The config file is not valid.")
            .detail(e.to_string())
    })?;
    match state.config.write() {
        Ok(mut c) => *c = loaded.config,
        Err(p) => *p.into_inner() = loaded.config,
    }
    info!(state.log, "config reloaded"; "config" => %state.config_path.display(), "env_overrides" => loaded.env_overrides.len());
    Ok(status_ok())
}
