//! `/jobs`: list, create, get, list by type, cancel. System admins only (Mattermost checks a
//! permission per job type; every type here is an admin's).

use super::Query;
use super::{created, id_param, ok, read_json, status_ok, Auth, Paging, State};
use crate::error::{ApiResult, AppError};
use crate::store::CancelResult;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use starling_actors::jobs::JobStatus;
use std::collections::BTreeMap;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/jobs", web::get().to(list))
        .route("/jobs", web::post().to(create))
        .route("/jobs/type/{job_type}", web::get().to(by_type))
        .route("/jobs/{job_id}", web::get().to(get))
        .route("/jobs/{job_id}/cancel", web::post().to(cancel));
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    page: i64,
    #[serde(default = "super::default_per_page")]
    per_page: i64,
    #[serde(default)]
    job_type: String,
    #[serde(default)]
    status: String,
}

#[derive(Deserialize)]
struct NewJob {
    #[serde(rename = "type", default)]
    job_type: String,
    #[serde(default)]
    data: Option<BTreeMap<String, String>>,
}

fn job_not_found() -> AppError {
    AppError::new(StatusCode::NOT_FOUND, "app.job.get.app_error", "Unable to get the job.")
}

fn known_type(state: &State, job_type: &str) -> bool {
    state.jobs.types.iter().any(|t| t == job_type)
}

/// `GET /jobs?page&per_page[&job_type][&status]`: newest first.
async fn list(state: State, auth: Auth, q: Query<ListQuery>) -> ApiResult<HttpResponse> {
    auth.require_admin()?;
    let (page, per_page) = Paging { page: q.page, per_page: q.per_page }.checked()?;
    let types = if q.job_type.is_empty() {
        None
    } else if known_type(&state, &q.job_type) {
        Some(vec![q.job_type.clone()])
    } else {
        return Err(AppError::bad_request("api.context.invalid_url_param.app_error", "Invalid job_type in URL."));
    };
    let status = if q.status.is_empty() {
        None
    } else {
        Some(
            JobStatus::parse(&q.status)
                .ok_or_else(|| AppError::bad_request("api.job.status.invalid", "Invalid job status."))?,
        )
    };
    let jobs = state.store.jobs_page(types.as_deref(), status, page * per_page, per_page).await?;
    Ok(ok(&jobs))
}

/// `POST /jobs` `{type, data}`: a pending job, which a worker picks up.
async fn create(state: State, auth: Auth, body: web::Payload) -> ApiResult<HttpResponse> {
    auth.require_admin()?;
    let new: NewJob = read_json(&state, body).await?;
    if !known_type(&state, &new.job_type) {
        return Err(AppError::bad_request("model.job.is_valid.type.app_error", "Invalid job type."));
    }
    let job = state.store.create_job(&new.job_type, &new.data.unwrap_or_default(), &state.node_id).await?;
    slog::info!(state.log, "job created";
        "job_id" => %job.id, "job_type" => &job.job_type, "user_id" => auth.user_id());
    state.jobs.poll_now();
    Ok(created(&job))
}

async fn get(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    auth.require_admin()?;
    id_param("job_id", &path)?;
    let job = state.store.job(&path).await?.ok_or_else(job_not_found)?;
    Ok(ok(&job))
}

/// `GET /jobs/type/{type}?page&per_page`: newest first.
async fn by_type(state: State, auth: Auth, path: web::Path<String>, q: Query<Paging>) -> ApiResult<HttpResponse> {
    auth.require_admin()?;
    if !known_type(&state, &path) {
        // Mattermost: a type without a read permission is a bad request.
        return Err(AppError::bad_request("api.job.retrieve.nopermissions", "Invalid job type."));
    }
    let (page, per_page) = q.checked()?;
    let jobs = state.store.jobs_page(Some(std::slice::from_ref(&*path)), None, page * per_page, per_page).await?;
    Ok(ok(&jobs))
}

/// `POST /jobs/{id}/cancel`: pending -> canceled; in_progress -> cancel_requested, which the running
/// worker notices at its next heartbeat (JobSettings.HeartbeatMilliseconds) and ends canceled.
async fn cancel(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    auth.require_admin()?;
    id_param("job_id", &path)?;
    match state.store.request_job_cancel(&path).await? {
        CancelResult::Canceled | CancelResult::Requested => {
            slog::info!(state.log, "job cancel requested"; "job_id" => path.as_str(), "user_id" => auth.user_id());
            Ok(status_ok())
        }
        // Mattermost answers 500 here; a finished job is the caller's mistake, so 400.
        CancelResult::NotCancelable(status) => Err(AppError::bad_request(
            "jobs.request_cancellation.status.error",
            "Could not request cancellation for a job that is not in a cancelable state.",
        )
        .detail(format!("status={status}"))),
        CancelResult::NotFound => Err(job_not_found()),
    }
}
