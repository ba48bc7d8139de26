//! A user's channels and memberships across teams, and their unread counts per team: what both
//! apps load at startup (client-surface.md §3.1).

use super::permissions::{self, has_team_permission};
use super::Query;
use super::{id_param, ok, self_or_admin, Auth, State};
use crate::error::{ApiResult, AppError};
use crate::store::ChannelFilter;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/users/{user_id}/channels", web::get().to(all_channels))
        .route("/users/{user_id}/channel_members", web::get().to(all_members))
        .route("/users/{user_id}/teams/unread", web::get().to(team_unreads))
        .route("/users/{user_id}/teams/{team_id}/unread", web::get().to(team_unread))
        .route("/users/{user_id}/teams/{team_id}/channels", web::get().to(team_channels))
        .route("/users/{user_id}/teams/{team_id}/channels/members", web::get().to(team_members));
}

#[derive(Deserialize)]
struct ChannelsQuery {
    include_deleted: Option<bool>,
    last_delete_at: Option<i64>,
}

impl ChannelsQuery {
    fn filter<'a>(&self, team_id: Option<&'a str>) -> ApiResult<ChannelFilter<'a>> {
        let last_delete_at = self.last_delete_at.unwrap_or(0);
        if last_delete_at < 0 {
            return Err(AppError::invalid_param("last_delete_at"));
        }
        Ok(ChannelFilter { team_id, include_deleted: self.include_deleted.unwrap_or(false), last_delete_at })
    }
}

/// `GET /users/{id}/channels`: every channel of the user, direct and group messages included.
async fn all_channels(
    state: State,
    auth: Auth,
    path: web::Path<String>,
    q: Query<ChannelsQuery>,
) -> ApiResult<HttpResponse> {
    let user_id = self_or_admin(&auth, &path)?;
    Ok(ok(&state.store.user_channels(user_id, q.filter(None)?).await?))
}

/// The team, if the caller may view it and act for the user.
async fn team_for(state: &State, auth: &Auth, team_id: &str) -> ApiResult<()> {
    id_param("team_id", team_id)?;
    state.store.team(team_id).await?.ok_or_else(|| AppError::not_found("team"))?;
    permissions::require(has_team_permission(state, auth, team_id, "view_team").await?)
}

/// `GET /users/{id}/teams/{team_id}/channels`: the user's channels of a team, with their direct
/// and group messages.
async fn team_channels(
    state: State,
    auth: Auth,
    path: web::Path<(String, String)>,
    q: Query<ChannelsQuery>,
) -> ApiResult<HttpResponse> {
    let (user_id, team_id) = path.into_inner();
    let user_id = self_or_admin(&auth, &user_id)?;
    team_for(&state, &auth, &team_id).await?;
    Ok(ok(&state.store.user_channels(user_id, q.filter(Some(&team_id))?).await?))
}

async fn team_members(state: State, auth: Auth, path: web::Path<(String, String)>) -> ApiResult<HttpResponse> {
    let (user_id, team_id) = path.into_inner();
    let user_id = self_or_admin(&auth, &user_id)?;
    team_for(&state, &auth, &team_id).await?;
    Ok(ok(&state.store.user_team_channel_members(user_id, &team_id).await?))
}

#[derive(Deserialize)]
struct MembersQuery {
    page: Option<i64>,
    per_page: Option<i64>,
}

/// `GET /users/{id}/channel_members`: every membership with its team's names; `page=-1` is all of
/// them at once (what the web app asks for).
async fn all_members(
    state: State,
    auth: Auth,
    path: web::Path<String>,
    q: Query<MembersQuery>,
) -> ApiResult<HttpResponse> {
    let user_id = self_or_admin(&auth, &path)?;
    let page = q.page.unwrap_or(0);
    let per_page = q.per_page.unwrap_or(super::default_per_page());
    let limit = match page {
        -1 => None,
        page => {
            let (page, per_page) = super::Paging { page, per_page }.checked()?;
            Some((page * per_page, per_page))
        }
    };
    Ok(ok(&state.store.user_channel_members(user_id, limit).await?))
}

#[derive(Deserialize)]
struct UnreadQuery {
    exclude_team: Option<String>,
    #[allow(dead_code)] // accepted: the thread counts are always given
    include_collapsed_threads: Option<bool>,
}

/// `GET /users/{id}/teams/unread`: unread posts and mentions per team (direct and group messages
/// belong to no team).
async fn team_unreads(
    state: State,
    auth: Auth,
    path: web::Path<String>,
    q: Query<UnreadQuery>,
) -> ApiResult<HttpResponse> {
    let user_id = self_or_admin(&auth, &path)?;
    let exclude = q.exclude_team.as_deref().filter(|t| !t.is_empty());
    if let Some(t) = exclude {
        id_param("exclude_team", t)?;
    }
    Ok(ok(&state.store.team_unreads(user_id, None, exclude).await?))
}

async fn team_unread(state: State, auth: Auth, path: web::Path<(String, String)>) -> ApiResult<HttpResponse> {
    let (user_id, team_id) = path.into_inner();
    let user_id = self_or_admin(&auth, &user_id)?;
    team_for(&state, &auth, &team_id).await?;
    let unread = state.store.team_unreads(user_id, Some(&team_id), None).await?.pop();
    Ok(ok(&unread.ok_or_else(|| AppError::not_found("team member"))?))
}
