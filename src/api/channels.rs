//! `/channels`: channels and their members.

use super::permissions::{self, has_channel_permission, has_team_permission, manage_members_permission};
use super::Query;
use super::{
    channel_with_permission, created, id_param, ok, read_json, resolve_user_id, status_ok, Auth, Paging, State,
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
        .route("/channels/{channel_id}/members/{user_id}/notify_props", web::put().to(update_notify_props))
        .route("/teams/{team_id}/channels", web::get().to(public_channels))
        .route("/channels/{channel_id}/stats", web::get().to(stats))
        .route("/teams/{team_id}/channels/deleted", web::get().to(archived_channels))
        .route("/teams/{team_id}/channels/search", web::post().to(search_channels))
        .route("/teams/{team_id}/channels/name/{name}", web::get().to(channel_by_name))
        .route("/teams/name/{team_name}/channels/name/{name}", web::get().to(channel_by_team_name));
}

pub fn valid_channel_name(n: &str) -> bool {
    (1..=64).contains(&n.len())
        && n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && n.chars().any(|c| c.is_ascii_alphanumeric())
        && !n.contains("__")
}

/// Mattermost's rules for the fields of an open or private channel (`None`: not being set).
pub fn check_channel_fields(
    name: Option<&str>,
    display_name: Option<&str>,
    header: Option<&str>,
    purpose: Option<&str>,
) -> ApiResult<()> {
    if name.is_some_and(|n| !valid_channel_name(n)) {
        return Err(AppError::bad_request(
            "model.channel.is_valid.name.app_error",
            "Name must be 1 to 64 lowercase alphanumeric characters, '-' or '_'.",
        ));
    }
    if display_name.is_some_and(|d| !(1..=64).contains(&d.chars().count())) {
        return Err(AppError::bad_request(
            "model.channel.is_valid.display_name.app_error",
            "Invalid display name: 1 to 64 characters.",
        ));
    }
    if header.is_some_and(|h| h.chars().count() > 1024) {
        return Err(AppError::bad_request(
            "model.channel.is_valid.header.app_error",
            "Invalid header: at most 1024 characters.",
        ));
    }
    if purpose.is_some_and(|p| p.chars().count() > 250) {
        return Err(AppError::bad_request(
            "model.channel.is_valid.purpose.app_error",
            "Invalid purpose: at most 250 characters.",
        ));
    }
    Ok(())
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
    if channel_type != "O" && channel_type != "P" {
        return Err(AppError::bad_request(
            "model.channel.is_valid.type.app_error",
            "Invalid type: must be \"O\" or \"P\".",
        ));
    }
    let header = input.header.unwrap_or_default();
    let purpose = input.purpose.unwrap_or_default();
    check_channel_fields(Some(&name), Some(&display_name), Some(&header), Some(&purpose))?;
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

#[derive(Deserialize)]
struct ByNameQuery {
    include_deleted: Option<bool>,
}

/// An archived channel is found by name only with `include_deleted=true`.
fn unless_archived(ch: Option<Channel>, q: &ByNameQuery) -> ApiResult<Channel> {
    ch.filter(|c| c.delete_at == 0 || q.include_deleted.unwrap_or(false)).ok_or_else(|| AppError::not_found("channel"))
}

async fn channel_by_name(
    state: State,
    auth: Auth,
    path: web::Path<(String, String)>,
    q: Query<ByNameQuery>,
) -> ApiResult<HttpResponse> {
    let (team_id, name) = path.into_inner();
    id_param("team_id", &team_id)?;
    super::name_param(super::PathName::Channel, &name)?;
    let ch = unless_archived(state.store.channel_by_name(&team_id, &name).await?, &q)?;
    visible_channel(&state, &auth, ch).await
}

/// `GET /teams/name/{team}/channels/name/{channel}`: how the web app finds the channel of a URL
/// (`/{team}/channels/town-square`).
async fn channel_by_team_name(
    state: State,
    auth: Auth,
    path: web::Path<(String, String)>,
    q: Query<ByNameQuery>,
) -> ApiResult<HttpResponse> {
    let (team_name, name) = path.into_inner();
    super::name_param(super::PathName::Team, &team_name)?;
    super::name_param(super::PathName::Channel, &name)?;
    let ch = unless_archived(state.store.channel_by_team_name(&team_name, &name).await?, &q)?;
    visible_channel(&state, &auth, ch).await
}

#[derive(Deserialize)]
struct StatsQuery {
    exclude_files_count: Option<bool>,
}

/// `GET /channels/{id}/stats`: member, guest, pinned post and file counts.
async fn stats(state: State, auth: Auth, path: web::Path<String>, q: Query<StatsQuery>) -> ApiResult<HttpResponse> {
    let ch = channel_with_permission(&state, &auth, &path, "read_channel").await?;
    let with_files = !q.exclude_files_count.unwrap_or(false);
    Ok(ok(&state.store.channel_stats(&ch.id, with_files).await?))
}

/// The team, if the caller may list its channels.
async fn listable_team(state: &State, auth: &Auth, team_id: &str) -> ApiResult<crate::store::Team> {
    super::team_with(state, auth, team_id, "list_team_channels").await
}

/// `GET /teams/{id}/channels/deleted`: archived open channels, and archived private ones the
/// caller is in.
async fn archived_channels(
    state: State,
    auth: Auth,
    path: web::Path<String>,
    q: Query<Paging>,
) -> ApiResult<HttpResponse> {
    let team = listable_team(&state, &auth, &path).await?;
    let (page, per_page) = q.checked()?;
    Ok(ok(&state.store.archived_channels(&team.id, auth.user_id(), page, per_page).await?))
}

#[derive(Deserialize)]
struct SearchChannels {
    term: Option<String>,
}

/// The most channels one search returns.
const CHANNEL_SEARCH_LIMIT: i64 = 100;

/// `POST /teams/{id}/channels/search`: open channels by name or display name (always an array).
async fn search_channels(
    state: State,
    auth: Auth,
    path: web::Path<String>,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    let input: SearchChannels = read_json(&state, body).await?;
    let team = listable_team(&state, &auth, &path).await?;
    let term = input.term.ok_or_else(|| AppError::invalid_param("term"))?;
    if term.chars().count() > 64 {
        return Err(AppError::invalid_param("term"));
    }
    Ok(ok(&state.store.search_team_channels(&team.id, term.trim(), CHANNEL_SEARCH_LIMIT).await?))
}

async fn public_channels(
    state: State,
    auth: Auth,
    path: web::Path<String>,
    q: Query<Paging>,
) -> ApiResult<HttpResponse> {
    let team = listable_team(&state, &auth, &path).await?;
    let (page, per_page) = q.checked()?;
    Ok(ok(&state.store.public_channels(&team.id, page, per_page).await?))
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
    Ok(created(&add_to_channel(&state, &auth, &ch, &user_id).await?))
}

/// Add `user_id` to `ch` as the caller (the API's and `/join`'s and `/invite`'s rules).
pub(super) async fn add_to_channel(
    state: &State,
    auth: &Auth,
    ch: &Channel,
    user_id: &str,
) -> ApiResult<crate::store::ChannelMember> {
    if ch.team_id.is_empty() {
        return Err(AppError::bad_request(
            "api.channel.add_user_to_channel.type.app_error",
            "Nobody can be added to a direct or group message.",
        ));
    }
    // Joining an open channel oneself takes `join_public_channels` in its team; adding anyone
    // else (or to a private channel) takes the channel's manage-members permission.
    let allowed = (ch.is_open()
        && user_id == auth.user_id()
        && has_team_permission(state, auth, &ch.team_id, "join_public_channels").await?)
        || has_channel_permission(state, auth, ch, manage_members_permission(ch)).await?;
    permissions::require(allowed)?;
    if ch.delete_at != 0 {
        return Err(AppError::bad_request(
            "api.channel.add_user.to.channel.failed.deleted.app_error",
            "The channel has been archived.",
        ));
    }
    state.store.user(user_id).await?.ok_or_else(|| AppError::not_found("user"))?;
    if state.store.active_team_member(&ch.team_id, user_id).await?.is_none() {
        return Err(AppError::bad_request(
            "api.channel.add_members.user_denied",
            "The user is not a member of the channel's team.",
        ));
    }
    let m = state.store.add_channel_member(&ch.id, user_id).await?;
    state.events.user_added(ch, user_id);
    Ok(m)
}

async fn members(state: State, auth: Auth, path: web::Path<String>, q: Query<Paging>) -> ApiResult<HttpResponse> {
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
    remove_from_channel(&state, &auth, &ch, &user_id).await?;
    Ok(status_ok())
}

/// Remove `user_id` from `ch` as the caller (the API's and `/leave`'s and `/kick`'s rules).
pub(super) async fn remove_from_channel(state: &State, auth: &Auth, ch: &Channel, user_id: &str) -> ApiResult<()> {
    if ch.name == "town-square" {
        return Err(AppError::bad_request(
            "api.channel.remove.default.app_error",
            "Nobody can leave the default channel.",
        ));
    }
    if ch.channel_type == "D" {
        return Err(AppError::bad_request(
            "api.channel.remove_user_from_channel.direct.app_error",
            "Nobody can leave a direct message.",
        ));
    }
    if ch.channel_type == "G" && user_id != auth.user_id() {
        return Err(AppError::bad_request(
            "api.channel.remove_user_from_channel.group.app_error",
            "Nobody can be removed from a group message; members may leave it.",
        ));
    }
    if user_id != auth.user_id() {
        permissions::require(has_channel_permission(state, auth, ch, manage_members_permission(ch)).await?)?;
    }
    if !state.store.remove_channel_member(&ch.id, user_id).await? {
        return Err(AppError::not_found("channel member"));
    }
    state.events.user_removed(&ch.id, user_id, auth.user_id());
    Ok(())
}

/// The channel notify props a member may set, and the values each takes.
const NOTIFY_PROPS: &[(&str, &[&str])] = &[
    ("desktop", &["default", "all", "mention", "none"]),
    ("email", &["default", "all", "mention", "none", "true", "false"]),
    ("push", &["default", "all", "mention", "none"]),
    ("mark_unread", &["all", "mention"]),
    ("ignore_channel_mentions", &["default", "off", "on"]),
    ("desktop_threads", &["default", "all", "mention", "none"]),
    ("push_threads", &["default", "all", "mention", "none"]),
    ("email_threads", &["default", "all", "mention", "none"]),
    ("channel_auto_follow_threads", &["off", "on"]),
    ("desktop_sound", &["default", "on", "off", "true", "false"]),
    ("desktop_notification_sound", &[]),
];

/// `PUT /channels/{id}/members/{user_id}/notify_props`: a member's notification settings for the
/// channel (`mark_unread: mention` mutes it), merged key by key.
async fn update_notify_props(
    state: State,
    auth: Auth,
    path: web::Path<(String, String)>,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    let (channel_id, user_id) = path.into_inner();
    let input: serde_json::Map<String, serde_json::Value> = read_json(&state, body).await?;
    let user_id = super::self_or_admin(&auth, &user_id)?.to_owned();
    let ch = channel_with_permission(&state, &auth, &channel_id, "read_channel").await?;
    let mut props = serde_json::Map::new();
    for (k, v) in input {
        if k == "channel_id" || k == "user_id" {
            continue;
        }
        let Some((_, allowed)) = NOTIFY_PROPS.iter().find(|(name, _)| *name == k) else { continue };
        let value = v.as_str().filter(|s| s.len() <= 64).ok_or_else(|| AppError::invalid_param(&k))?;
        if !allowed.is_empty() && !allowed.contains(&value) {
            return Err(AppError::invalid_param(&k));
        }
        props.insert(k, serde_json::Value::String(value.to_owned()));
    }
    let m = state
        .store
        .merge_member_notify_props(&ch.id, &user_id, &serde_json::Value::Object(props))
        .await?
        .ok_or_else(|| AppError::not_found("channel member"))?;
    state.events.channel_member_updated(&m);
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
