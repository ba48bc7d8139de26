//! Direct and group messages: `POST /channels/direct`, `POST /channels/group`, and
//! `POST /users/group_channels` (who is in each group message).

use super::permissions;
use super::{created, id_param, ok, read_json, Auth, State};
use crate::error::{ApiResult, AppError};
use actix_web::{web, HttpResponse};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/channels/direct", web::post().to(create_direct))
        .route("/channels/group", web::post().to(create_group))
        .route("/users/group_channels", web::post().to(group_channel_members));
}

/// Mattermost's bounds on a group message's members (the creator included).
const GROUP_MIN: usize = 3;
const GROUP_MAX: usize = 8;

/// `POST /channels/direct` (body: the two user ids, one of them the caller's unless a system
/// admin): the direct message between them, created once (`direct_added` to both), 201 always.
async fn create_direct(state: State, auth: Auth, body: web::Payload) -> ApiResult<HttpResponse> {
    let ids: Vec<String> = read_json(&state, body).await?;
    if ids.len() != 2 {
        return Err(AppError::invalid_param("user_ids"));
    }
    for id in &ids {
        id_param("user_id", id)?;
    }
    permissions::require(auth.has_permission("create_direct_channel"))?;
    let me = auth.user_id();
    let (creator, other) = if ids[0] == me {
        (ids[0].clone(), ids[1].clone())
    } else if ids[1] == me {
        (ids[1].clone(), ids[0].clone())
    } else if auth.has_permission("manage_system") {
        (ids[0].clone(), ids[1].clone())
    } else {
        return Err(permissions::forbidden());
    };
    let mut wanted = vec![creator.clone(), other.clone()];
    wanted.dedup();
    if state.store.users_by_ids(&wanted).await?.len() != wanted.len() {
        return Err(AppError::bad_request(
            "api.channel.create_direct_channel.invalid_user.app_error",
            "Invalid user ID for direct channel creation.",
        ));
    }
    let (channel, is_new) = state.store.direct_channel(&creator, &other).await?;
    if is_new {
        state.events.direct_added(&channel, &creator, &other);
    }
    Ok(created(&channel))
}

/// `POST /channels/group` (body: user ids; the caller is added if missing): the group message of
/// 3 to 8 users, created once (`group_added` to all), 201 always.
async fn create_group(state: State, auth: Auth, body: web::Payload) -> ApiResult<HttpResponse> {
    let mut ids: Vec<String> = read_json(&state, body).await?;
    for id in &ids {
        id_param("user_id", id)?;
    }
    permissions::require(auth.has_permission("create_group_channel"))?;
    if !ids.iter().any(|i| i == auth.user_id()) {
        ids.push(auth.user_id().to_owned());
    }
    ids.sort();
    ids.dedup();
    if !(GROUP_MIN..=GROUP_MAX).contains(&ids.len()) {
        return Err(AppError::bad_request(
            "api.channel.create_group.bad_size.app_error",
            format!("Group messages must have between {GROUP_MIN} and {GROUP_MAX} members."),
        ));
    }
    let users = state.store.users_by_ids(&ids).await?;
    if users.len() != ids.len() {
        return Err(AppError::bad_request("api.channel.create_group.bad_user.app_error", "Invalid user ids."));
    }
    let (channel, is_new) = state.store.group_channel(auth.user_id(), &users).await?;
    if is_new {
        state.events.group_added(&channel, &ids);
    }
    Ok(created(&channel))
}

/// `POST /users/group_channels` (body: channel ids): `{channel_id: [users]}` for group messages
/// the caller is in.
async fn group_channel_members(state: State, auth: Auth, body: web::Payload) -> ApiResult<HttpResponse> {
    let ids: Vec<String> = read_json(&state, body).await?;
    if ids.is_empty() || ids.len() > 100 {
        return Err(AppError::invalid_param("channel_ids"));
    }
    for id in &ids {
        id_param("channel_id", id)?;
        let ch = state.store.channel(id).await?.ok_or_else(|| AppError::not_found("channel"))?;
        if !permissions::has_channel_permission(&state, &auth, &ch, "read_channel").await? {
            return Err(permissions::forbidden());
        }
    }
    Ok(ok(&state.store.users_in_channels(&ids).await?))
}
