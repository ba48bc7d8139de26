//! `POST /database/recycle` for system admins rebuilds the pools (a new SqlSettings.DataSource takes
//! effect here). With `POST /config/reload` (api::config) it is the manual failover: point
//! DataSource at the new primary, reload, recycle.

use super::{status_ok, Auth, State};
use crate::error::{ApiResult, AppError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/database/recycle", web::post().to(recycle));
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
    crate::audit::record(&state, &auth, "recycleDatabaseConnection", serde_json::json!({}));
    Ok(status_ok())
}
