//! `/users/{user_id}/preferences`: get, save and delete a user's preferences; every session of
//! the user hears the change (`preferences_changed`, `preferences_deleted`).

use super::{ok, read_json, self_or_admin, status_ok, Auth, State};
use crate::error::{ApiResult, AppError};
use crate::store::Preference;
use actix_web::{web, HttpResponse};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/users/{user_id}/preferences", web::get().to(all))
        .route("/users/{user_id}/preferences", web::put().to(save))
        .route("/users/{user_id}/preferences/delete", web::post().to(delete))
        .route("/users/{user_id}/preferences/{category}", web::get().to(by_category))
        .route("/users/{user_id}/preferences/{category}/name/{name}", web::get().to(by_name));
}

/// Mattermost's limits on a preference.
const CATEGORY_MAX: usize = 32;
const NAME_MAX: usize = 32;
const VALUE_MAX_CHARS: usize = 2000;
/// The most preferences one request saves or deletes.
const MAX_PER_REQUEST: usize = 100;

fn check_key(category: &str, name: &str) -> ApiResult<()> {
    if category.is_empty() || category.len() > CATEGORY_MAX {
        return Err(AppError::bad_request("model.preference.is_valid.category.app_error", "Invalid category."));
    }
    if name.len() > NAME_MAX {
        return Err(AppError::bad_request("model.preference.is_valid.name.app_error", "Invalid name."));
    }
    Ok(())
}

/// The preferences of a body, all of `user_id` (another user's is a 403, as in Mattermost).
fn checked(user_id: &str, prefs: &[Preference], with_values: bool) -> ApiResult<()> {
    if prefs.is_empty() || prefs.len() > MAX_PER_REQUEST {
        return Err(AppError::invalid_param("preferences"));
    }
    for p in prefs {
        if p.user_id != user_id {
            return Err(super::permissions::forbidden());
        }
        check_key(&p.category, &p.name)?;
        if with_values {
            if p.value.chars().count() > VALUE_MAX_CHARS {
                return Err(AppError::bad_request("model.preference.is_valid.value.app_error", "Value is too long."));
            }
            if p.category == "theme"
                && serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&p.value).is_err()
            {
                return Err(AppError::bad_request("model.preference.is_valid.theme.app_error", "Invalid theme."));
            }
        }
    }
    Ok(())
}

async fn all(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let user_id = self_or_admin(&auth, &path)?;
    Ok(ok(&state.store.preferences(user_id, None, None).await?))
}

async fn by_category(state: State, auth: Auth, path: web::Path<(String, String)>) -> ApiResult<HttpResponse> {
    let (user_id, category) = path.into_inner();
    let user_id = self_or_admin(&auth, &user_id)?;
    check_key(&category, "")?;
    let prefs = state.store.preferences(user_id, Some(&category), None).await?;
    if prefs.is_empty() {
        return Err(AppError::not_found("preferences"));
    }
    Ok(ok(&prefs))
}

async fn by_name(state: State, auth: Auth, path: web::Path<(String, String, String)>) -> ApiResult<HttpResponse> {
    let (user_id, category, name) = path.into_inner();
    let user_id = self_or_admin(&auth, &user_id)?;
    check_key(&category, &name)?;
    let mut prefs = state.store.preferences(user_id, Some(&category), Some(&name)).await?;
    Ok(ok(&prefs.pop().ok_or_else(|| AppError::not_found("preference"))?))
}

async fn save(state: State, auth: Auth, path: web::Path<String>, body: web::Payload) -> ApiResult<HttpResponse> {
    let prefs: Vec<Preference> = read_json(&state, body).await?;
    let user_id = self_or_admin(&auth, &path)?.to_owned();
    checked(&user_id, &prefs, true)?;
    state.store.save_preferences(&prefs).await?;
    state.events.preferences_changed(&user_id, &prefs);
    Ok(status_ok())
}

async fn delete(state: State, auth: Auth, path: web::Path<String>, body: web::Payload) -> ApiResult<HttpResponse> {
    let prefs: Vec<Preference> = read_json(&state, body).await?;
    let user_id = self_or_admin(&auth, &path)?.to_owned();
    checked(&user_id, &prefs, false)?;
    state.store.delete_preferences(&prefs).await?;
    state.events.preferences_deleted(&user_id, &prefs);
    Ok(status_ok())
}
