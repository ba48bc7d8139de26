//! Outgoing webhooks (`ServiceSettings.EnableOutgoingWebhooks`), managed under
//! `/api/v4/hooks/outgoing`: create, list, read, change, delete, and renew their tokens. What calls
//! them when a post matches is [`crate::outgoing_hooks`].
//!
//! Permissions, as Mattermost: `manage_own_outgoing_webhooks` in the hook's team for one's own
//! hooks, and `manage_others_outgoing_webhooks` too for anyone else's. A hook watches one open
//! channel of its team (every post there, or those starting with its trigger words), or, without
//! a channel, every open channel of the team for its trigger words.

use super::permissions::{self, has_channel_permission, has_team_permission};
use super::{created, id_param, ok, read_json, status_ok, Auth, Paging, Query, State};
use crate::error::{ApiResult, AppError};
use crate::outbound::valid_url;
use crate::store::{OutgoingHook, OutgoingHookFields, OutgoingHookFilter};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

/// The management routes, under `/api/v4`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/hooks/outgoing", web::post().to(create))
        .route("/hooks/outgoing", web::get().to(list))
        .route("/hooks/outgoing/{hook_id}", web::get().to(get_one))
        .route("/hooks/outgoing/{hook_id}", web::put().to(update))
        .route("/hooks/outgoing/{hook_id}", web::delete().to(delete))
        .route("/hooks/outgoing/{hook_id}/regen_token", web::post().to(regen_token));
}

/// The content type a hook's calls use when it names none.
pub const DEFAULT_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// Mattermost's limits on a hook's fields.
const DISPLAY_NAME_MAX: usize = 64;
const DESCRIPTION_MAX: usize = 500;
const TRIGGER_WORDS_MAX: usize = 1024;
const CALLBACK_URLS_MAX: usize = 1024;
const CONTENT_TYPE_MAX: usize = 128;
const USERNAME_MAX: usize = 64;
const ICON_URL_MAX: usize = 1024;

fn disabled() -> AppError {
    AppError::new(
        StatusCode::NOT_IMPLEMENTED,
        "api.outgoing_webhook.disabled.app_error",
        "Outgoing webhooks have been disabled by the system admin.",
    )
}

fn require_enabled(state: &State) -> ApiResult<()> {
    if state.config().service_settings.enable_outgoing_webhooks {
        Ok(())
    } else {
        Err(disabled())
    }
}

fn not_found() -> AppError {
    AppError::not_found("webhook")
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct HookInput {
    id: Option<String>,
    team_id: Option<String>,
    channel_id: Option<String>,
    creator_id: Option<String>,
    trigger_words: Option<Vec<String>>,
    trigger_when: i64,
    callback_urls: Option<Vec<String>>,
    display_name: String,
    description: String,
    content_type: String,
    username: String,
    icon_url: String,
}

fn invalid(id: &'static str, what: &str) -> AppError {
    AppError::bad_request(id, format!("Invalid {what} for the outgoing webhook."))
}

/// The fields as saved, each within Mattermost's bounds (`OutgoingWebhook.IsValid`).
fn checked_fields(i: HookInput) -> ApiResult<OutgoingHookFields> {
    let trigger_words = i.trigger_words.unwrap_or_default();
    if trigger_words.iter().any(|w| w.trim().is_empty()) {
        return Err(invalid("model.outgoing_hook.is_valid.trigger_words.app_error", "trigger_words"));
    }
    if trigger_words.join(",").len() > TRIGGER_WORDS_MAX {
        return Err(invalid("model.outgoing_hook.is_valid.words.app_error", "trigger_words"));
    }
    let callback_urls = i.callback_urls.unwrap_or_default();
    if callback_urls.is_empty() || callback_urls.join(" ").len() + 2 > CALLBACK_URLS_MAX {
        return Err(invalid("model.outgoing_hook.is_valid.callback.app_error", "callback_urls"));
    }
    if !callback_urls.iter().all(|u| valid_url(u)) {
        return Err(invalid("model.outgoing_hook.is_valid.url.app_error", "callback_urls"));
    }
    if !(0..=1).contains(&i.trigger_when) {
        return Err(invalid("model.outgoing_hook.is_valid.trigger_when.app_error", "trigger_when"));
    }
    let bounds = [
        ("model.outgoing_hook.is_valid.display_name.app_error", "display_name", &i.display_name, DISPLAY_NAME_MAX),
        ("model.outgoing_hook.is_valid.description.app_error", "description", &i.description, DESCRIPTION_MAX),
        ("model.outgoing_hook.is_valid.content_type.app_error", "content_type", &i.content_type, CONTENT_TYPE_MAX),
        ("model.outgoing_hook.username.app_error", "username", &i.username, USERNAME_MAX),
        ("model.outgoing_hook.icon_url.app_error", "icon_url", &i.icon_url, ICON_URL_MAX),
    ];
    for (id, what, value, max) in bounds {
        if value.chars().count() > max {
            return Err(invalid(id, what));
        }
    }
    Ok(OutgoingHookFields {
        channel_id: i.channel_id.unwrap_or_default(),
        trigger_words,
        trigger_when: i.trigger_when as i32,
        callback_urls,
        display_name: i.display_name,
        description: i.description,
        content_type: if i.content_type.is_empty() { DEFAULT_CONTENT_TYPE.to_owned() } else { i.content_type },
        username: i.username,
        icon_url: i.icon_url,
    })
}

/// Mattermost's rules on where a hook watches: a channel must be an open channel of the hook's
/// team; without one the hook needs trigger words; and no other hook of the team may watch the
/// same channel for the same word at the same URL.
async fn check_placement(state: &State, team_id: &str, f: &OutgoingHookFields, except: Option<&str>) -> ApiResult<()> {
    if !f.channel_id.is_empty() {
        id_param("channel_id", &f.channel_id)?;
        let channel = state.store.channel(&f.channel_id).await?.ok_or_else(|| AppError::not_found("channel"))?;
        if !channel.is_open() {
            return Err(AppError::new(
                StatusCode::FORBIDDEN,
                "api.webhook.create_outgoing.not_open.app_error",
                "Outgoing webhooks can only be created for public channels.",
            ));
        }
        if channel.team_id != team_id {
            return Err(AppError::new(
                StatusCode::FORBIDDEN,
                "api.webhook.create_outgoing.permissions.app_error",
                "The channel is not in the webhook's team.",
            ));
        }
    } else if f.trigger_words.is_empty() {
        return Err(AppError::bad_request(
            "api.webhook.create_outgoing.triggers.app_error",
            "Either trigger_words or channel_id must be set.",
        ));
    }
    for other in state.store.team_outgoing_hooks(team_id).await? {
        if Some(other.id.as_str()) == except || other.channel_id != f.channel_id {
            continue;
        }
        let shares_url = other.callback_urls.iter().any(|u| f.callback_urls.contains(u));
        let shares_word = other.trigger_words.iter().any(|w| f.trigger_words.contains(w));
        if shares_url && shares_word {
            return Err(AppError::bad_request(
                "api.webhook.create_outgoing.intersect.app_error",
                "Outgoing webhooks from the same channel cannot have the same trigger words/callback URLs.",
            ));
        }
    }
    Ok(())
}

/// `POST /hooks/outgoing`: 201 with the hook. `creator_id` makes it for someone else
/// (`manage_others_outgoing_webhooks`).
async fn create(state: State, auth: Auth, body: web::Payload) -> ApiResult<HttpResponse> {
    require_enabled(&state)?;
    let input: HookInput = read_json(&state, body).await?;
    let team_id = input.team_id.clone().unwrap_or_default();
    id_param("team_id", &team_id)?;
    permissions::require(has_team_permission(&state, &auth, &team_id, "manage_own_outgoing_webhooks").await?)?;
    state.store.team(&team_id).await?.ok_or_else(|| AppError::not_found("team"))?;
    let creator = match input.creator_id.as_deref().filter(|u| !u.is_empty() && *u != auth.user_id()) {
        Some(other) => {
            id_param("creator_id", other)?;
            permissions::require(
                has_team_permission(&state, &auth, &team_id, "manage_others_outgoing_webhooks").await?,
            )?;
            let user = state.store.user(other).await?.filter(|u| u.delete_at == 0);
            user.ok_or_else(|| AppError::not_found("user"))?.id
        }
        None => auth.user_id().to_owned(),
    };
    let fields = checked_fields(input)?;
    check_placement(&state, &team_id, &fields, None).await?;
    let hook = state.store.create_outgoing_hook(&creator, &team_id, &fields).await?;
    slog::info!(state.log, "outgoing webhook created"; "user_id" => auth.user_id(), "team_id" => &hook.team_id);
    crate::audit::record(&state, &auth, "createOutgoingHook", json!({"id": hook.id, "team_id": hook.team_id}));
    Ok(created(&hook))
}

#[derive(Deserialize)]
struct ListQuery {
    team_id: Option<String>,
    channel_id: Option<String>,
    #[serde(default)]
    page: i64,
    #[serde(default = "super::default_per_page")]
    per_page: i64,
}

/// `GET /hooks/outgoing?channel_id=&team_id=&page=&per_page=`: a channel's hooks, a team's, or
/// every team's; only the caller's own without `manage_others_outgoing_webhooks` there.
async fn list(state: State, auth: Auth, q: Query<ListQuery>) -> ApiResult<HttpResponse> {
    require_enabled(&state)?;
    let (page, per_page) = Paging { page: q.page, per_page: q.per_page }.checked()?;
    let channel_id = q.channel_id.as_deref().filter(|c| !c.is_empty());
    let team_id = q.team_id.as_deref().filter(|t| !t.is_empty());
    let (own, others) = if let Some(channel_id) = channel_id {
        id_param("channel_id", channel_id)?;
        let channel = state.store.channel(channel_id).await?.ok_or_else(|| AppError::not_found("channel"))?;
        (
            has_channel_permission(&state, &auth, &channel, "manage_own_outgoing_webhooks").await?,
            has_channel_permission(&state, &auth, &channel, "manage_others_outgoing_webhooks").await?,
        )
    } else if let Some(team_id) = team_id {
        id_param("team_id", team_id)?;
        (
            has_team_permission(&state, &auth, team_id, "manage_own_outgoing_webhooks").await?,
            has_team_permission(&state, &auth, team_id, "manage_others_outgoing_webhooks").await?,
        )
    } else {
        (auth.has_permission("manage_own_outgoing_webhooks"), auth.has_permission("manage_others_outgoing_webhooks"))
    };
    permissions::require(own)?;
    let filter = OutgoingHookFilter {
        team_id: if channel_id.is_some() { None } else { team_id },
        channel_id,
        creator_id: if others { None } else { Some(auth.user_id()) },
    };
    Ok(ok(&state.store.outgoing_hooks(filter, page, per_page).await?))
}

/// The hook, if the caller may manage it: `manage_own_outgoing_webhooks` in its team, and for
/// someone else's `manage_others_outgoing_webhooks` too.
async fn managed_hook(state: &State, auth: &Auth, hook_id: &str) -> ApiResult<OutgoingHook> {
    id_param("hook_id", hook_id)?;
    let hook = state.store.outgoing_hook(hook_id).await?.ok_or_else(not_found)?;
    permissions::require(has_team_permission(state, auth, &hook.team_id, "manage_own_outgoing_webhooks").await?)?;
    if hook.creator_id != auth.user_id() {
        permissions::require(
            has_team_permission(state, auth, &hook.team_id, "manage_others_outgoing_webhooks").await?,
        )?;
    }
    Ok(hook)
}

async fn get_one(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    require_enabled(&state)?;
    Ok(ok(&managed_hook(&state, &auth, &path).await?))
}

/// `PUT /hooks/outgoing/{hook_id}` (the whole hook; its `id` must match). The team and the
/// creator stay.
async fn update(state: State, auth: Auth, path: web::Path<String>, body: web::Payload) -> ApiResult<HttpResponse> {
    require_enabled(&state)?;
    let input: HookInput = read_json(&state, body).await?;
    if input.id.as_deref() != Some(path.as_str()) {
        return Err(AppError::invalid_param("hook_id"));
    }
    let hook = managed_hook(&state, &auth, &path).await?;
    if input.team_id.as_deref().is_some_and(|t| !t.is_empty() && t != hook.team_id) {
        return Err(AppError::bad_request(
            "api.webhook.team_mismatch.app_error",
            "Unable to update the webhook across teams.",
        ));
    }
    let fields = checked_fields(input)?;
    check_placement(&state, &hook.team_id, &fields, Some(&hook.id)).await?;
    let updated = state.store.update_outgoing_hook(&hook.id, &fields).await?.ok_or_else(not_found)?;
    crate::audit::record(&state, &auth, "updateOutgoingHook", json!({"id": hook.id, "team_id": hook.team_id}));
    Ok(ok(&updated))
}

async fn delete(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    require_enabled(&state)?;
    let hook = managed_hook(&state, &auth, &path).await?;
    if !state.store.delete_outgoing_hook(&hook.id).await? {
        return Err(not_found());
    }
    slog::info!(state.log, "outgoing webhook deleted"; "user_id" => auth.user_id(), "team_id" => &hook.team_id);
    crate::audit::record(&state, &auth, "deleteOutgoingHook", json!({"id": hook.id, "team_id": hook.team_id}));
    Ok(status_ok())
}

/// `POST /hooks/outgoing/{hook_id}/regen_token`: the hook with its new token (what Mattermost's
/// server and `Client4.regenOutgoingHookToken` return).
async fn regen_token(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    require_enabled(&state)?;
    let hook = managed_hook(&state, &auth, &path).await?;
    let hook = state.store.regen_outgoing_hook_token(&hook.id).await?.ok_or_else(not_found)?;
    crate::audit::record(&state, &auth, "regenOutgoingHookToken", json!({"id": hook.id}));
    Ok(ok(&hook))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(words: &[&str], urls: &[&str]) -> HookInput {
        HookInput {
            trigger_words: Some(words.iter().map(|s| s.to_string()).collect()),
            callback_urls: Some(urls.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        }
    }

    #[test]
    fn fields_are_held_to_mattermosts_bounds() {
        let f = checked_fields(input(&["deploy"], &["http://example.com/x"])).unwrap();
        assert_eq!(f.content_type, DEFAULT_CONTENT_TYPE, "the default content type");
        let refused = |i: HookInput| checked_fields(i).map_err(|e| e.id);
        assert_eq!(refused(input(&["a"], &[])), Err("model.outgoing_hook.is_valid.callback.app_error"));
        assert_eq!(refused(input(&["a"], &["ftp://x"])), Err("model.outgoing_hook.is_valid.url.app_error"));
        assert_eq!(refused(input(&[" "], &["http://x"])), Err("model.outgoing_hook.is_valid.trigger_words.app_error"));
        let long = "w".repeat(1025);
        assert_eq!(refused(input(&[&long], &["http://x"])), Err("model.outgoing_hook.is_valid.words.app_error"));
        let mut i = input(&["a"], &["http://x"]);
        i.trigger_when = 2;
        assert_eq!(refused(i), Err("model.outgoing_hook.is_valid.trigger_when.app_error"));
        let mut i = input(&["a"], &["http://x"]);
        i.display_name = "d".repeat(65);
        assert_eq!(refused(i), Err("model.outgoing_hook.is_valid.display_name.app_error"));
    }
}
