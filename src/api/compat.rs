//! Answers for the calls the web and mobile apps make unconditionally at startup or reconnect, for
//! features Starling does not have: each says "nothing here" in the shape the client expects, so
//! no client logs its user out or reports an error (client-surface.md §1.5).

use super::Query;
use super::{member_team, ok, read_json, status_ok, Auth, State};
use crate::error::{ApiResult, AppError};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/limits/server", web::get().to(server_limits))
        .route("/posts/scheduled/team/{team_id}", web::get().to(scheduled_posts))
        .route("/custom_profile_attributes/fields", web::get().to(empty_list))
        .route("/users/sessions/device", web::put().to(attach_device));
}

/// No user limits: Starling is not licensed by seat.
async fn server_limits(_auth: Auth) -> HttpResponse {
    ok(&json!({
        "activeUserCount": 0,
        "maxUsersLimit": 0,
        "maxUsersHardLimit": 0,
        "lastAccessiblePostTime": 0,
        "postHistoryLimit": 0,
    }))
}

#[derive(Deserialize)]
struct ScheduledQuery {
    #[serde(rename = "includeDirectChannels")]
    include_direct_channels: Option<bool>,
}

/// Scheduled posts by team: none (the web app keys them by team id and `directChannels`).
async fn scheduled_posts(
    state: State,
    auth: Auth,
    path: web::Path<String>,
    q: Query<ScheduledQuery>,
) -> ApiResult<HttpResponse> {
    let team = member_team(&state, &auth, &path).await?;
    let mut out = serde_json::Map::new();
    out.insert(team.id, json!([]));
    if q.include_direct_channels.unwrap_or(false) {
        out.insert("directChannels".into(), json!([]));
    }
    Ok(ok(&out))
}

async fn empty_list(_auth: Auth) -> HttpResponse {
    ok(&json!([]))
}

#[derive(Deserialize)]
struct Device {
    device_id: Option<String>,
}

/// The mobile app registers its push token: kept on the session (Starling sends no pushes yet).
async fn attach_device(state: State, auth: Auth, body: web::Payload) -> ApiResult<HttpResponse> {
    let input: Device = read_json(&state, body).await?;
    let device_id = input.device_id.unwrap_or_default();
    if device_id.is_empty() || device_id.len() > 512 {
        return Err(AppError::invalid_param("device_id"));
    }
    state.store.set_session_device(auth.session.id.as_str(), &device_id).await?;
    Ok(status_ok())
}
