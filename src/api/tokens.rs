//! Personal access tokens: `/users/{user_id}/tokens` and `/users/tokens/...`. A token is a
//! session that never expires (see [`crate::store::SessionsAndTokens`]); revoking or disabling one
//! forgets its user's cached sessions on every node before the answer, as logout does.

use super::permissions::{self, forbidden};
use super::{id_param, ok, read_json, resolve_user_id, status_ok, Auth, Paging, Query, State};
use crate::error::{ApiResult, AppError};
use crate::store::UserAccessToken;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

/// Literal `/users/tokens...` paths: registered before `/users/{user_id}`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/users/tokens", web::get().to(list_all))
        .route("/users/tokens/revoke", web::post().to(revoke))
        .route("/users/tokens/disable", web::post().to(disable))
        .route("/users/tokens/enable", web::post().to(enable))
        .route("/users/tokens/search", web::post().to(search))
        .route("/users/tokens/{token_id}", web::get().to(get_one))
        .route("/users/{user_id}/tokens", web::post().to(create))
        .route("/users/{user_id}/tokens", web::get().to(list_for_user));
}

/// Mattermost's limit on a token's description.
const DESCRIPTION_MAX: usize = 255;

fn disabled() -> AppError {
    AppError::new(
        StatusCode::NOT_IMPLEMENTED,
        "app.user_access_token.disabled",
        "Personal access tokens are disabled on this server. Please contact your system administrator for details.",
    )
}

fn require_enabled(state: &State) -> ApiResult<()> {
    if state.config().service_settings.enable_user_access_tokens {
        Ok(())
    } else {
        Err(disabled())
    }
}

/// Whether the caller may act for `user_id`, a user or a bot (Mattermost's
/// `SessionHasPermissionToUserOrBot`): themself, with `edit_other_users`, or a bot they own
/// (`manage_bots`) or any bot (`manage_others_bots`).
pub(super) async fn acts_for_user_or_bot(state: &State, auth: &Auth, user_id: &str) -> ApiResult<bool> {
    if super::acts_for(auth, user_id) {
        return Ok(true);
    }
    Ok(match state.store.bot(user_id).await? {
        Some(bot) if bot.owner_id == auth.user_id() => auth.has_permission("manage_bots"),
        Some(_) => auth.has_permission("manage_others_bots"),
        None => false,
    })
}

#[derive(Deserialize)]
struct NewToken {
    description: Option<String>,
}

/// `POST /users/{user_id}/tokens`: 200 with the token, the only time it is shown.
async fn create(state: State, auth: Auth, path: web::Path<String>, body: web::Payload) -> ApiResult<HttpResponse> {
    require_enabled(&state)?;
    let user_id = resolve_user_id(&auth, &path)?.to_owned();
    let input: NewToken = read_json(&state, body).await?;
    permissions::require(auth.has_permission("create_user_access_token"))?;
    permissions::require(acts_for_user_or_bot(&state, &auth, &user_id).await?)?;
    let description = input.description.unwrap_or_default();
    if description.trim().is_empty() || description.chars().count() > DESCRIPTION_MAX {
        return Err(AppError::bad_request(
            "model.user_access_token.is_valid.description.app_error",
            format!("Invalid description, must be between 1 and {DESCRIPTION_MAX} characters."),
        ));
    }
    let user = state.store.user(&user_id).await?.ok_or_else(|| AppError::not_found("user"))?;
    if user.delete_at != 0 {
        return Err(AppError::bad_request(
            "app.user_access_token.inactive_user",
            "The user is deactivated: it cannot take a token.",
        ));
    }
    let token = state.store.create_access_token(&user_id, &description).await?;
    slog::info!(state.log, "user access token created"; "user_id" => &user_id, "token_id" => &token.id);
    crate::audit::record(
        &state,
        &auth,
        "createUserAccessToken",
        serde_json::json!({"user_id": user_id, "id": token.id}),
    );
    Ok(ok(&token))
}

/// `GET /users/{user_id}/tokens`: the user's tokens, without their secrets.
async fn list_for_user(state: State, auth: Auth, path: web::Path<String>, q: Query<Paging>) -> ApiResult<HttpResponse> {
    let user_id = resolve_user_id(&auth, &path)?.to_owned();
    permissions::require(auth.has_permission("read_user_access_token"))?;
    permissions::require(acts_for_user_or_bot(&state, &auth, &user_id).await?)?;
    let (page, per_page) = q.checked()?;
    Ok(ok(&state.store.access_tokens(Some(&user_id), page, per_page).await?))
}

/// `GET /users/tokens`: every token (system admins).
async fn list_all(state: State, auth: Auth, q: Query<Paging>) -> ApiResult<HttpResponse> {
    permissions::require(auth.has_permission("manage_system"))?;
    let (page, per_page) = q.checked()?;
    Ok(ok(&state.store.access_tokens(None, page, per_page).await?))
}

/// The token `token_id` names, if the caller holds `permission` and may act for its user: 403
/// without the permission, 404 for an unknown token, 403 for another user's.
async fn token_for(state: &State, auth: &Auth, token_id: &str, permission: &str) -> ApiResult<UserAccessToken> {
    id_param("token_id", token_id)?;
    permissions::require(auth.has_permission(permission))?;
    let token = state.store.access_token(token_id).await?.ok_or_else(|| AppError::not_found("token"))?;
    if !acts_for_user_or_bot(state, auth, &token.user_id).await? {
        return Err(forbidden());
    }
    Ok(token)
}

async fn get_one(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    Ok(ok(&token_for(&state, &auth, &path, "read_user_access_token").await?))
}

#[derive(Deserialize)]
struct TokenId {
    token_id: Option<String>,
}

async fn token_id_from(state: &State, body: web::Payload) -> ApiResult<String> {
    let input: TokenId = read_json(state, body).await?;
    input.token_id.filter(|t| !t.is_empty()).ok_or_else(|| AppError::invalid_param("token_id"))
}

/// A token's user may no longer use it: their cached sessions are forgotten here and on every
/// reachable node, and their websockets closed, before this returns (the token's row changed
/// first, so the next lookup refuses it).
async fn refuse_everywhere(state: &State, user_id: &str) -> ApiResult<()> {
    super::sessions::revoke(state, super::sessions::Revoked::User(user_id.to_owned())).await
}

/// `POST /users/tokens/revoke {token_id}`: delete it.
async fn revoke(state: State, auth: Auth, body: web::Payload) -> ApiResult<HttpResponse> {
    let token_id = token_id_from(&state, body).await?;
    let token = token_for(&state, &auth, &token_id, "revoke_user_access_token").await?;
    state.store.delete_access_token(&token.id).await?;
    refuse_everywhere(&state, &token.user_id).await?;
    slog::info!(state.log, "user access token revoked"; "user_id" => &token.user_id, "token_id" => &token.id);
    crate::audit::record(
        &state,
        &auth,
        "revokeUserAccessToken",
        serde_json::json!({"user_id": token.user_id, "id": token.id}),
    );
    Ok(status_ok())
}

/// `POST /users/tokens/disable {token_id}`: keep it, but refuse it until enabled.
async fn disable(state: State, auth: Auth, body: web::Payload) -> ApiResult<HttpResponse> {
    let token_id = token_id_from(&state, body).await?;
    let token = token_for(&state, &auth, &token_id, "revoke_user_access_token").await?;
    state.store.set_access_token_active(&token.id, false).await?;
    refuse_everywhere(&state, &token.user_id).await?;
    slog::info!(state.log, "user access token disabled"; "user_id" => &token.user_id, "token_id" => &token.id);
    crate::audit::record(
        &state,
        &auth,
        "disableUserAccessToken",
        serde_json::json!({"user_id": token.user_id, "id": token.id}),
    );
    Ok(status_ok())
}

/// `POST /users/tokens/enable {token_id}`.
async fn enable(state: State, auth: Auth, body: web::Payload) -> ApiResult<HttpResponse> {
    require_enabled(&state)?;
    let token_id = token_id_from(&state, body).await?;
    let token = token_for(&state, &auth, &token_id, "create_user_access_token").await?;
    state.store.set_access_token_active(&token.id, true).await?;
    crate::audit::record(
        &state,
        &auth,
        "enableUserAccessToken",
        serde_json::json!({"user_id": token.user_id, "id": token.id}),
    );
    Ok(status_ok())
}

#[derive(Deserialize)]
struct Search {
    term: Option<String>,
}

/// `POST /users/tokens/search {term}`: tokens whose id, user id or username starts with the
/// term (system admins).
async fn search(state: State, auth: Auth, body: web::Payload) -> ApiResult<HttpResponse> {
    permissions::require(auth.has_permission("manage_system"))?;
    let input: Search = read_json(&state, body).await?;
    let term = input.term.unwrap_or_default();
    if term.is_empty() || term.len() > 64 {
        return Err(AppError::invalid_param("term"));
    }
    Ok(ok(&state.store.search_access_tokens(&term).await?))
}
