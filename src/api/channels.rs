//! `/channels`: channels and their members.

use super::permissions::{self, has_channel_permission, has_team_permission, manage_members_permission};
use super::{
    channel_with_permission, created, id_param, ok, read_json, resolve_user_id, self_or_admin, status_ok, Auth, Paging,
    State,
};
use crate::error::{ApiResult, AppError};
use crate::store::{Channel, NewChannel};
use actix_web::{web, HttpResponse};
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/channels", web::post().to(create_channel))
        .route("/channels/{channel_id}", web::get().to(get_channel))
        .route("/channels/{channel_id}/members", web::post().to(add_member))
        .route("/channels/{channel_id}/members", web::get().to(members))
        .route("/channels/{channel_id}/members/{user_id}", web::get().to(member))
        .route("/channels/{channel_id}/members/{user_id}", web::delete().to(remove_member))
        .route("/teams/{team_id}/channels", web::get().to(public_channels))
        .route("/teams/{team_id}/channels/name/{name}", web::get().to(channel_by_name))
        .route("/users/{user_id}/teams/{team_id}/channels", web::get().to(my_channels));
}

pub fn valid_channel_name(n: &str) -> bool {
    (1..=64).contains(&n.len())
        && n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && n.chars().any(|c| c.is_ascii_alphanumeric())
        && !n.contains("__")
}

#[derive(Deserialize)]
struct CreateChannel {
    team_id: Option<String>,
    name: Option<String>,
    display_name: Option<String>,
    #[serde(rename = "type")]
    channel_type: Option<String>,
    header: Option<String>,
    purpose: Option<String>,
}

async fn create_channel(state: State, auth: Auth, body: web::Payload) -> ApiResult<HttpResponse> {
    let input: CreateChannel = read_json(&state, body).await?;
    let team_id = input.team_id.ok_or_else(|| AppError::invalid_param("team_id"))?;
    id_param("team_id", &team_id)?;
    let team = state.store.team(&team_id).await?.ok_or_else(|| AppError::not_found("team"))?;
    let name = input.name.unwrap_or_default();
    let display_name = input.display_name.unwrap_or_default().trim().to_owned();
    let channel_type = input.channel_type.unwrap_or_else(|| "O".into());
    let permission = if channel_type == "P" { "create_private_channel" } else { "create_public_channel" };
    permissions::require(has_team_permission(&state, &auth, &team.id, permission).await?)?;
    if !valid_channel_name(&name) {
        return Err(AppError::bad_request(
            "model.channel.is_valid.name.app_error",
            "Name must be 1 to 64 lowercase alphanumeric characters, '-' or '_'.",
        ));
    }
    let dn = display_name.chars().count();
    if dn == 0 || dn > 64 {
        return Err(AppError::bad_request(
            "model.channel.is_valid.display_name.app_error",
            "Invalid display name: 1 to 64 characters.",
        ));
    }
    if channel_type != "O" && channel_type != "P" {
        return Err(AppError::bad_request(
            "model.channel.is_valid.type.app_error",
            "Invalid type: must be \"O\" or \"P\".",
        ));
    }
    let header = input.header.unwrap_or_default();
    let purpose = input.purpose.unwrap_or_default();
    if header.chars().count() > 1024 {
        return Err(AppError::bad_request(
            "model.channel.is_valid.header.app_error",
            "Invalid header: at most 1024 characters.",
        ));
    }
    if purpose.chars().count() > 250 {
        return Err(AppError::bad_request(
            "model.channel.is_valid.purpose.app_error",
            "Invalid purpose: at most 250 characters.",
        ));
    }
    let max = state.config().team_settings.max_channels_per_team;
    if max > 0 && state.store.count_team_channels(&team.id).await? >= max {
        return Err(AppError::bad_request(
            "api.channel.create_channel.max_channel_limit.app_error",
            "This team has reached its channel limit.",
        ));
    }
    let new = NewChannel {
        team_id: team.id,
        name,
        display_name,
        channel_type,
        header,
        purpose,
        creator_id: auth.user_id().to_owned(),
    };
    match state.store.create_channel(&new).await {
        Ok(ch) => {
            state.events.channel_created(&ch, auth.user_id());
            Ok(created(&ch))
        }
        Err(e) if e.unique_violation().is_some() => Err(AppError::bad_request(
            "store.sql_channel.save_channel.exists.app_error",
            "A channel with that name already exists on the same team.",
        )),
        Err(e) => Err(e.into()),
    }
}

/// A channel's details (Mattermost's `getChannel`): `read_channel` by the caller's roles, or for an
/// open channel `read_public_channel` in its team.
async fn visible_channel(state: &State, auth: &Auth, ch: Channel) -> ApiResult<HttpResponse> {
    if has_channel_permission(state, auth, &ch, "read_channel").await? {
        return Ok(ok(&ch));
    }
    if ch.is_open() && has_team_permission(state, auth, &ch.team_id, "read_public_channel").await? {
        return Ok(ok(&ch));
    }
    Err(permissions::forbidden())
}

async fn get_channel(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    id_param("channel_id", &path)?;
    let ch = state.store.channel(&path).await?.ok_or_else(|| AppError::not_found("channel"))?;
    visible_channel(&state, &auth, ch).await
}

async fn channel_by_name(state: State, auth: Auth, path: web::Path<(String, String)>) -> ApiResult<HttpResponse> {
    let (team_id, name) = path.into_inner();
    id_param("team_id", &team_id)?;
    if name.len() > 64 {
        return Err(AppError::invalid_param("channel_name"));
    }
    let ch = state.store.channel_by_name(&team_id, &name).await?.ok_or_else(|| AppError::not_found("channel"))?;
    visible_channel(&state, &auth, ch).await
}

async fn public_channels(
    state: State,
    auth: Auth,
    path: web::Path<String>,
    q: web::Query<Paging>,
) -> ApiResult<HttpResponse> {
    id_param("team_id", &path)?;
    let team = state.store.team(&path).await?.ok_or_else(|| AppError::not_found("team"))?;
    permissions::require(has_team_permission(&state, &auth, &team.id, "list_team_channels").await?)?;
    let (page, per_page) = q.checked()?;
    Ok(ok(&state.store.public_channels(&team.id, page, per_page).await?))
}

async fn my_channels(state: State, auth: Auth, path: web::Path<(String, String)>) -> ApiResult<HttpResponse> {
    let (user_id, team_id) = path.into_inner();
    let user_id = self_or_admin(&auth, &user_id)?;
    id_param("team_id", &team_id)?;
    Ok(ok(&state.store.channels_for_user(&team_id, user_id).await?))
}

#[derive(Deserialize)]
struct AddMember {
    user_id: Option<String>,
    channel_id: Option<String>,
}

async fn add_member(state: State, auth: Auth, path: web::Path<String>, body: web::Payload) -> ApiResult<HttpResponse> {
    let channel_id = path.into_inner();
    id_param("channel_id", &channel_id)?;
    let input: AddMember = read_json(&state, body).await?;
    if input.channel_id.as_deref().is_some_and(|c| !c.is_empty() && c != channel_id) {
        return Err(AppError::invalid_param("channel_id"));
    }
    let user_id = input.user_id.ok_or_else(|| AppError::invalid_param("user_id"))?;
    id_param("user_id", &user_id)?;
    let ch = state.store.channel(&channel_id).await?.ok_or_else(|| AppError::not_found("channel"))?;
    // Joining an open channel oneself takes `join_public_channels` in its team; adding anyone
    // else (or to a private channel) takes the channel's manage-members permission.
    let allowed = (ch.is_open()
        && user_id == auth.user_id()
        && has_team_permission(&state, &auth, &ch.team_id, "join_public_channels").await?)
        || (!ch.team_id.is_empty()
            && has_channel_permission(&state, &auth, &ch, manage_members_permission(&ch)).await?);
    permissions::require(allowed)?;
    if ch.delete_at != 0 {
        return Err(AppError::bad_request(
            "api.channel.add_user.to.channel.failed.deleted.app_error",
            "The channel has been archived.",
        ));
    }
    state.store.user(&user_id).await?.ok_or_else(|| AppError::not_found("user"))?;
    if state.store.active_team_member(&ch.team_id, &user_id).await?.is_none() {
        return Err(AppError::bad_request(
            "api.channel.add_members.user_denied",
            "The user is not a member of the channel's team.",
        ));
    }
    let m = state.store.add_channel_member(&ch.id, &user_id).await?;
    state.events.user_added(&ch, &user_id);
    Ok(created(&m))
}

async fn members(state: State, auth: Auth, path: web::Path<String>, q: web::Query<Paging>) -> ApiResult<HttpResponse> {
    let ch = channel_with_permission(&state, &auth, &path, "read_channel_content").await?;
    let (page, per_page) = q.checked()?;
    Ok(ok(&state.store.channel_members(&ch.id, page, per_page).await?))
}

async fn member(state: State, auth: Auth, path: web::Path<(String, String)>) -> ApiResult<HttpResponse> {
    let (channel_id, user_id) = path.into_inner();
    let ch = channel_with_permission(&state, &auth, &channel_id, "read_channel_content").await?;
    let user_id = resolve_user_id(&auth, &user_id)?;
    let m = state.store.channel_member(&ch.id, user_id).await?.ok_or_else(|| AppError::not_found("channel member"))?;
    Ok(ok(&m))
}

async fn remove_member(state: State, auth: Auth, path: web::Path<(String, String)>) -> ApiResult<HttpResponse> {
    let (channel_id, user_id) = path.into_inner();
    let ch = channel_with_permission(&state, &auth, &channel_id, "read_channel").await?;
    let user_id = resolve_user_id(&auth, &user_id)?.to_owned();
    if ch.name == "town-square" {
        return Err(AppError::bad_request(
            "api.channel.remove.default.app_error",
            "Nobody can leave the default channel.",
        ));
    }
    if user_id != auth.user_id() {
        permissions::require(has_channel_permission(&state, &auth, &ch, manage_members_permission(&ch)).await?)?;
    }
    if !state.store.remove_channel_member(&ch.id, &user_id).await? {
        return Err(AppError::not_found("channel member"));
    }
    state.events.user_removed(&ch.id, &user_id, auth.user_id());
    Ok(status_ok())
}

#[cfg(test)]
mod tests {
    #[test]
    fn channel_names() {
        for good in ["a", "town-square", "off_topic", "c1"] {
            assert!(super::valid_channel_name(good), "{good}");
        }
        for bad in ["", "Town", "a b", "a__b", "---", &"x".repeat(65)] {
            assert!(!super::valid_channel_name(bad), "{bad}");
        }
    }
}
