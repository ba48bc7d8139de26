//! `/bots`: bot accounts. A bot is a user with `is_bot` that signs in only with personal access
//! tokens; disabling one deactivates its user and refuses its tokens on every node at once.

use super::permissions::{self, forbidden};
use super::users::valid_username;
use super::{created, id_param, ok, read_json, Auth, Paging, Query, State};
use crate::error::{ApiResult, AppError};
use crate::store::{Bot, BotFilter, BotPatch};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/bots", web::post().to(create))
        .route("/bots", web::get().to(list))
        .route("/bots/{bot_user_id}", web::get().to(get_one))
        .route("/bots/{bot_user_id}", web::put().to(patch))
        .route("/bots/{bot_user_id}/disable", web::post().to(disable))
        .route("/bots/{bot_user_id}/enable", web::post().to(enable))
        .route("/bots/{bot_user_id}/assign/{user_id}", web::post().to(assign));
}

/// Mattermost's limits on a bot's fields.
const DISPLAY_NAME_MAX: usize = 64;
const DESCRIPTION_MAX: usize = 1024;

#[derive(Deserialize)]
struct BotInput {
    username: Option<String>,
    display_name: Option<String>,
    description: Option<String>,
}

fn check_fields(b: &BotInput) -> ApiResult<()> {
    if b.username.as_deref().is_some_and(|u| !valid_username(u)) {
        return Err(AppError::bad_request("model.bot.is_valid.username.app_error", "Invalid username."));
    }
    if b.display_name.as_ref().is_some_and(|d| d.chars().count() > DISPLAY_NAME_MAX) {
        return Err(AppError::bad_request("model.bot.is_valid.username.app_error", "Invalid display name."));
    }
    if b.description.as_ref().is_some_and(|d| d.chars().count() > DESCRIPTION_MAX) {
        return Err(AppError::bad_request("model.bot.is_valid.description.app_error", "Invalid description."));
    }
    Ok(())
}

fn bot_not_found() -> AppError {
    AppError::new(StatusCode::NOT_FOUND, "store.sql_bot.get.missing.app_error", "Unable to find the bot.")
}

fn username_taken(e: &crate::store::StoreError) -> Option<AppError> {
    e.unique_violation().map(|_| {
        AppError::bad_request(
            "app.user.save.username_exists.app_error",
            "An account with that username already exists.",
        )
    })
}

/// `POST /bots`: 201 with the bot; its owner is the caller.
async fn create(state: State, auth: Auth, body: web::Payload) -> ApiResult<HttpResponse> {
    if !state.config().service_settings.enable_bot_account_creation {
        return Err(AppError::new(StatusCode::FORBIDDEN, "api.bot.create_disabled", "Bot creation has been disabled."));
    }
    permissions::require(auth.has_permission("create_bot"))?;
    let mut input: BotInput = read_json(&state, body).await?;
    input.username = input.username.map(|u| u.trim().to_lowercase());
    if input.username.as_deref().is_none_or(str::is_empty) {
        return Err(AppError::bad_request("model.bot.is_valid.username.app_error", "Invalid username."));
    }
    check_fields(&input)?;
    let username = input.username.unwrap_or_default();
    let bot = state
        .store
        .create_bot(
            &username,
            input.display_name.as_deref().unwrap_or(""),
            input.description.as_deref().unwrap_or(""),
            auth.user_id(),
        )
        .await
        .map_err(|e| username_taken(&e).unwrap_or_else(|| e.into()))?;
    slog::info!(state.log, "bot created"; "user_id" => &bot.user_id);
    crate::audit::record(&state, &auth, "createBot", serde_json::json!({"user_id": bot.user_id}));
    Ok(created(&bot))
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    page: i64,
    #[serde(default = "super::default_per_page")]
    per_page: i64,
    #[serde(default)]
    include_deleted: bool,
    #[serde(default)]
    only_orphaned: bool,
}

/// Whose bots the caller may read: everyone's (`read_others_bots`), their own (`read_bots`), or none.
fn readable_owner(auth: &Auth) -> ApiResult<Option<&str>> {
    if auth.has_permission("read_others_bots") {
        Ok(None)
    } else if auth.has_permission("read_bots") {
        Ok(Some(auth.user_id()))
    } else {
        Err(forbidden())
    }
}

/// `GET /bots?include_deleted=&only_orphaned=&page=&per_page=`.
async fn list(state: State, auth: Auth, q: Query<ListQuery>) -> ApiResult<HttpResponse> {
    let owner_id = readable_owner(&auth)?;
    let (page, per_page) = Paging { page: q.page, per_page: q.per_page }.checked()?;
    let filter = BotFilter { owner_id, include_deleted: q.include_deleted, only_orphaned: q.only_orphaned };
    Ok(ok(&state.store.bots(&filter, page, per_page).await?))
}

/// The bot, if the caller may read it: 404 when there is none they can see.
async fn readable_bot(state: &State, auth: &Auth, bot_user_id: &str, include_deleted: bool) -> ApiResult<Bot> {
    id_param("bot_user_id", bot_user_id)?;
    let owner = readable_owner(auth)?;
    let not_found = bot_not_found;
    let bot = state.store.bot(bot_user_id).await?.ok_or_else(not_found)?;
    if owner.is_some_and(|o| o != bot.owner_id) || (!include_deleted && bot.delete_at != 0) {
        return Err(not_found());
    }
    Ok(bot)
}

/// The bot, if the caller may manage it (Mattermost's `SessionHasPermissionToManageBot`): its
/// owner with `manage_bots`, anyone with `manage_others_bots`. 404 if they cannot even see it.
async fn managed_bot(state: &State, auth: &Auth, bot_user_id: &str) -> ApiResult<Bot> {
    id_param("bot_user_id", bot_user_id)?;
    let bot = state.store.bot(bot_user_id).await?.ok_or_else(bot_not_found)?;
    let permission = if bot.owner_id == auth.user_id() { "manage_bots" } else { "manage_others_bots" };
    if auth.has_permission(permission) {
        return Ok(bot);
    }
    readable_bot(state, auth, bot_user_id, true).await?;
    Err(forbidden())
}

#[derive(Deserialize)]
struct GetQuery {
    #[serde(default)]
    include_deleted: bool,
}

async fn get_one(state: State, auth: Auth, path: web::Path<String>, q: Query<GetQuery>) -> ApiResult<HttpResponse> {
    Ok(ok(&readable_bot(&state, &auth, &path, q.include_deleted).await?))
}

/// `PUT /bots/{bot_user_id}` (a BotPatch: username, display_name, description).
async fn patch(state: State, auth: Auth, path: web::Path<String>, body: web::Payload) -> ApiResult<HttpResponse> {
    let bot = managed_bot(&state, &auth, &path).await?;
    let mut input: BotInput = read_json(&state, body).await?;
    input.username = input.username.map(|u| u.trim().to_lowercase());
    check_fields(&input)?;
    let p = BotPatch { username: input.username, display_name: input.display_name, description: input.description };
    let bot = state
        .store
        .patch_bot(&bot.user_id, &p)
        .await
        .map_err(|e| username_taken(&e).unwrap_or_else(|| e.into()))?
        .ok_or_else(|| AppError::not_found("bot"))?;
    Ok(ok(&bot))
}

/// `POST /bots/{id}/disable`: the bot's user is deactivated and its tokens refused on every node
/// before the answer.
async fn disable(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let bot = managed_bot(&state, &auth, &path).await?;
    let bot = state.store.set_bot_active(&bot.user_id, false).await?.ok_or_else(|| AppError::not_found("bot"))?;
    state.store.delete_sessions_for_user(&bot.user_id).await?;
    super::sessions::revoke(&state, super::sessions::Revoked::User(bot.user_id.clone())).await?;
    slog::info!(state.log, "bot disabled"; "user_id" => &bot.user_id);
    crate::audit::record(&state, &auth, "disableBot", serde_json::json!({"user_id": bot.user_id}));
    Ok(ok(&bot))
}

async fn enable(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let bot = managed_bot(&state, &auth, &path).await?;
    let bot = state.store.set_bot_active(&bot.user_id, true).await?.ok_or_else(|| AppError::not_found("bot"))?;
    crate::audit::record(&state, &auth, "enableBot", serde_json::json!({"user_id": bot.user_id}));
    Ok(ok(&bot))
}

/// `POST /bots/{bot_user_id}/assign/{user_id}`: a new owner (not a bot); giving a bot to someone
/// else takes `assign_bot`.
async fn assign(state: State, auth: Auth, path: web::Path<(String, String)>) -> ApiResult<HttpResponse> {
    let (bot_user_id, user_id) = path.into_inner();
    let bot = managed_bot(&state, &auth, &bot_user_id).await?;
    id_param("user_id", &user_id)?;
    if user_id != auth.user_id() {
        permissions::require(auth.has_permission("assign_bot"))?;
    }
    let owner = state.store.user(&user_id).await?.ok_or_else(|| AppError::not_found("user"))?;
    if owner.is_bot {
        return Err(AppError::bad_request("api.bot.assign_bot.bot_owner.app_error", "A bot cannot own a bot."));
    }
    let bot = state.store.assign_bot(&bot.user_id, &owner.id).await?.ok_or_else(|| AppError::not_found("bot"))?;
    crate::audit::record(&state, &auth, "assignBot", serde_json::json!({"user_id": bot.user_id, "owner_id": owner.id}));
    Ok(ok(&bot))
}
