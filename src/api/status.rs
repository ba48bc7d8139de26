//! User statuses: `GET /users/{id}/status`, `POST /users/status/ids`, `PUT /users/{id}/status`.

use super::{id_param, ok, read_json, resolve_user_id, Auth, State};
use crate::error::{ApiResult, AppError};
use actix_web::{web, HttpResponse};
use starling_actors::presence::{GetStatuses, SetStatus, MAX_STATUS_LOOKUP};
use starling_protocol::UserId;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/users/status/ids", web::post().to(statuses_by_ids))
        .route("/users/{user_id}/status", web::get().to(get_status))
        .route("/users/{user_id}/status", web::put().to(set_status));
}

async fn lookup(state: &State, ids: Vec<String>) -> ApiResult<Vec<starling_actors::Status>> {
    state
        .presence
        .send(GetStatuses { user_ids: ids })
        .await
        .map_err(AppError::internal)?
        .map_err(|e| AppError::unavailable("api.status.get.app_error", "Statuses are unavailable.").detail(e))
}

async fn get_status(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = resolve_user_id(&auth, &path)?.to_owned();
    state.store.user(&id).await?.ok_or_else(|| AppError::not_found("user"))?;
    let mut list = lookup(&state, vec![id]).await?;
    Ok(ok(&list.pop()))
}

async fn statuses_by_ids(state: State, _auth: Auth, body: web::Payload) -> ApiResult<HttpResponse> {
    let ids: Vec<String> = read_json(&state, body).await?;
    if ids.is_empty() || ids.len() > MAX_STATUS_LOOKUP {
        return Err(AppError::invalid_param("user_ids"));
    }
    for id in &ids {
        id_param("user_id", id)?;
    }
    Ok(ok(&lookup(&state, ids).await?))
}

#[derive(serde::Deserialize)]
struct NewStatus {
    user_id: Option<String>,
    status: Option<String>,
}

async fn set_status(state: State, auth: Auth, path: web::Path<String>, body: web::Payload) -> ApiResult<HttpResponse> {
    let id = resolve_user_id(&auth, &path)?.to_owned();
    super::permissions::require(super::acts_for(&auth, &id))?;
    let input: NewStatus = read_json(&state, body).await?;
    if input.user_id.as_deref().is_some_and(|u| u != id) {
        return Err(AppError::invalid_param("user_id"));
    }
    let status = input.status.ok_or_else(|| AppError::invalid_param("status"))?;
    let s = state
        .presence
        .send(SetStatus { user_id: UserId::from(id), status, manual: true })
        .await
        .map_err(AppError::internal)?
        .map_err(|e| AppError::invalid_param("status").detail(e))?;
    Ok(ok(&s))
}
