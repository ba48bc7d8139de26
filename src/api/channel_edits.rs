//! Changing a channel: patch and update its fields, archive and restore it.

use super::channels::check_channel_fields;
use super::permissions::{self, has_channel_permission, has_team_permission};
use super::{id_param, ok, read_json, Auth, State};
use crate::error::{ApiResult, AppError};
use crate::store::{Channel, ChannelPatch};
use actix_web::{web, HttpResponse};
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/channels/{channel_id}/patch", web::put().to(patch_channel))
        .route("/channels/{channel_id}/restore", web::post().to(restore_channel))
        .route("/channels/{channel_id}", web::put().to(update_channel))
        .route("/channels/{channel_id}", web::delete().to(archive_channel));
}

/// The name of the channel every team member is in; it keeps its name and cannot be archived.
const DEFAULT_CHANNEL: &str = "town-square";

#[derive(Deserialize)]
struct Patch {
    id: Option<String>,
    name: Option<String>,
    display_name: Option<String>,
    header: Option<String>,
    purpose: Option<String>,
    #[serde(rename = "type")]
    channel_type: Option<String>,
}

async fn channel(state: &State, channel_id: &str) -> ApiResult<Channel> {
    id_param("channel_id", channel_id)?;
    state.store.channel(channel_id).await?.ok_or_else(|| AppError::not_found("channel"))
}

/// Whether the caller may change the channel's properties: the properties permission of an open
/// or private channel; membership of a direct or group message (only its header and purpose).
async fn may_edit(state: &State, auth: &Auth, ch: &Channel) -> ApiResult<bool> {
    let permission = match ch.channel_type.as_str() {
        "O" => "manage_public_channel_properties",
        "P" => "manage_private_channel_properties",
        _ => return Ok(state.store.channel_member(&ch.id, auth.user_id()).await?.is_some() || auth.is_admin()),
    };
    has_channel_permission(state, auth, ch, permission).await
}

async fn apply(state: &State, auth: &Auth, ch: Channel, p: ChannelPatch) -> ApiResult<HttpResponse> {
    Ok(ok(&patch(state, auth, ch, p).await?))
}

/// Change a channel as the caller (the API's and `/header`'s and `/purpose`'s rules).
pub(super) async fn patch(state: &State, auth: &Auth, ch: Channel, p: ChannelPatch) -> ApiResult<Channel> {
    permissions::require(may_edit(state, auth, &ch).await?)?;
    if ch.delete_at != 0 {
        return Err(AppError::bad_request(
            "api.channel.update_channel.deleted.app_error",
            "The channel has been archived or deleted.",
        ));
    }
    let direct = ch.channel_type == "D" || ch.channel_type == "G";
    if direct && (p.name.is_some() || p.display_name.is_some()) {
        return Err(AppError::bad_request(
            "api.channel.update_channel.typechange.app_error",
            "A direct or group message has no name or display name to change.",
        ));
    }
    if ch.name == DEFAULT_CHANNEL && p.name.as_deref().is_some_and(|n| n != DEFAULT_CHANNEL) {
        return Err(AppError::bad_request(
            "api.channel.update_channel.tried.app_error",
            "The default channel keeps its name.",
        ));
    }
    check_channel_fields(p.name.as_deref(), p.display_name.as_deref(), p.header.as_deref(), p.purpose.as_deref())?;
    match state.store.patch_channel(&ch.id, &p).await {
        Ok(Some(updated)) => {
            state.events.channel_updated(&updated);
            Ok(updated)
        }
        Ok(None) => Err(AppError::not_found("channel")),
        Err(e) if e.unique_violation().is_some() => Err(AppError::bad_request(
            "store.sql_channel.update.exists.app_error",
            "A channel with that name already exists on the same team.",
        )),
        Err(e) => Err(e.into()),
    }
}

/// `PUT /channels/{id}/patch`: only the fields sent change.
async fn patch_channel(
    state: State,
    auth: Auth,
    path: web::Path<String>,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    let input: Patch = read_json(&state, body).await?;
    let ch = channel(&state, &path).await?;
    let display_name = input.display_name.map(|d| d.trim().to_owned());
    let patch = ChannelPatch { name: input.name, display_name, header: input.header, purpose: input.purpose };
    apply(&state, &auth, ch, patch).await
}

/// `PUT /channels/{id}`: the header and purpose as sent (empty when left out), the name and
/// display name when not empty. The type changes only through the privacy route.
async fn update_channel(
    state: State,
    auth: Auth,
    path: web::Path<String>,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    let input: Patch = read_json(&state, body).await?;
    if input.id.as_deref() != Some(path.as_str()) {
        return Err(AppError::invalid_param("id"));
    }
    let ch = channel(&state, &path).await?;
    if input.channel_type.as_deref().is_some_and(|t| !t.is_empty() && t != ch.channel_type) {
        return Err(AppError::bad_request(
            "api.channel.update_channel.typechange.app_error",
            "The type of a channel changes through PUT /channels/{id}/privacy.",
        ));
    }
    let direct = ch.channel_type == "D" || ch.channel_type == "G";
    let patch = ChannelPatch {
        name: input.name.filter(|n| !n.is_empty() && !direct),
        display_name: input.display_name.map(|d| d.trim().to_owned()).filter(|d| !d.is_empty() && !direct),
        header: Some(input.header.unwrap_or_default()),
        purpose: Some(input.purpose.unwrap_or_default()),
    };
    apply(&state, &auth, ch, patch).await
}

/// `DELETE /channels/{id}`: archive the channel (its members and posts stay; nobody posts).
async fn archive_channel(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let ch = channel(&state, &path).await?;
    let permission = match ch.channel_type.as_str() {
        "O" => "delete_public_channel",
        "P" => "delete_private_channel",
        _ => {
            return Err(AppError::bad_request(
                "api.channel.delete_channel.type.invalid",
                "Direct and group messages cannot be archived.",
            ))
        }
    };
    permissions::require(has_channel_permission(&state, &auth, &ch, permission).await?)?;
    if ch.name == DEFAULT_CHANNEL {
        return Err(AppError::bad_request(
            "api.channel.delete_channel.cannot.app_error",
            "The default channel cannot be archived.",
        ));
    }
    let archived = state.store.set_channel_archived(&ch.id, true).await?.ok_or_else(|| {
        AppError::bad_request("api.channel.delete_channel.deleted.app_error", "The channel is already archived.")
    })?;
    state.events.channel_deleted(&archived);
    slog::info!(state.log, "channel archived"; "channel_id" => &ch.id, "user_id" => auth.user_id());
    Ok(super::status_ok())
}

/// `POST /channels/{id}/restore`: unarchive (team admins: `manage_team`).
async fn restore_channel(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let ch = channel(&state, &path).await?;
    permissions::require(has_team_permission(&state, &auth, &ch.team_id, "manage_team").await?)?;
    let restored = state.store.set_channel_archived(&ch.id, false).await?.ok_or_else(|| {
        AppError::bad_request("api.channel.restore_channel.restored.app_error", "The channel is not archived.")
    })?;
    state.events.channel_restored(&restored);
    Ok(ok(&restored))
}
