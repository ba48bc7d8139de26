//! The @-mention and ~channel autocompletes the apps query on every keystroke after `@` or `~`,
//! the channel switcher's search, and the group-message search (client-surface.md §3.12). All are
//! reads on the search replicas (store::search).
//!
//! Registered before `users` and `channels`: `GET /users/autocomplete` would otherwise be taken
//! for `GET /users/{user_id}`.

use super::{member_team, ok, read_json, readable_channel, team_with, Auth, Query, State};
use crate::error::{ApiResult, AppError};
use crate::store::UserScope;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/users/autocomplete", web::get().to(autocomplete_users))
        .route(
            "/teams/{team_id}/channels/autocomplete",
            web::get().to(|s, a, p, q| autocomplete_channels(s, a, p, q, false)),
        )
        .route(
            "/teams/{team_id}/channels/search_autocomplete",
            web::get().to(|s, a, p, q| autocomplete_channels(s, a, p, q, true)),
        )
        .route("/channels/group/search", web::post().to(search_group_channels));
}

/// Users when the client asks for no `limit` (Mattermost's default; the apps ask for 25).
const USER_LIMIT: i64 = 100;
const USER_LIMIT_MAX: i64 = 1000;
/// Mattermost's channel search limit.
const CHANNEL_LIMIT: i64 = 50;
/// The longest term looked for (Mattermost's channel and user names are shorter).
const TERM_MAX: usize = 64;

#[derive(Deserialize)]
struct UsersQuery {
    #[serde(default)]
    name: String,
    #[serde(default)]
    in_team: String,
    #[serde(default)]
    in_channel: String,
    /// Kept as text: a bad or non-positive limit means the default, as in Mattermost.
    #[serde(default)]
    limit: String,
}

fn term(t: &str) -> ApiResult<&str> {
    if t.chars().count() > TERM_MAX {
        return Err(AppError::invalid_param("name"));
    }
    Ok(t.trim())
}

/// `GET /users/autocomplete?in_team=&in_channel=&name=&limit=`: `{users, out_of_channel}` for a
/// channel (its members, then the team's other members, or everyone's when no team is given),
/// `{users}` for a team or for everyone. `users` is always there: the web app fails without it.
async fn autocomplete_users(state: State, auth: Auth, q: Query<UsersQuery>) -> ApiResult<HttpResponse> {
    let name = term(&q.name)?;
    let limit = q.limit.trim().parse::<i64>().ok().filter(|l| *l > 0).map_or(USER_LIMIT, |l| l.min(USER_LIMIT_MAX));
    let team = Some(q.in_team.as_str()).filter(|t| !t.is_empty());
    let channel = Some(q.in_channel.as_str()).filter(|c| !c.is_empty());
    if let Some(t) = team {
        member_team(&state, &auth, t).await?;
    }
    let store = &state.store;
    match channel {
        Some(c) => {
            readable_channel(&state, &auth, c).await?;
            let inside = UserScope { team: None, in_channel: Some(c), not_in_channel: None };
            let outside = UserScope { team, in_channel: None, not_in_channel: Some(c) };
            let users = store.autocomplete_users(name, inside, limit).await?;
            let out_of_channel = store.autocomplete_users(name, outside, limit).await?;
            Ok(ok(&json!({"users": users, "out_of_channel": out_of_channel})))
        }
        None => {
            let scope = UserScope { team, in_channel: None, not_in_channel: None };
            Ok(ok(&json!({"users": store.autocomplete_users(name, scope, limit).await?})))
        }
    }
}

#[derive(Deserialize)]
struct ChannelsQuery {
    #[serde(default)]
    name: String,
}

/// `GET /teams/{team_id}/channels/autocomplete?name=` (the ~channel autocomplete) and
/// `.../search_autocomplete?name=` (the channel switcher's search, the caller's own channels
/// only): arrays, for whoever may list the team's channels.
async fn autocomplete_channels(
    state: State,
    auth: Auth,
    path: web::Path<String>,
    q: Query<ChannelsQuery>,
    mine_only: bool,
) -> ApiResult<HttpResponse> {
    team_with(&state, &auth, &path, "list_team_channels").await?;
    let (name, me) = (term(&q.name)?, auth.user_id());
    let channels = if mine_only {
        state.store.autocomplete_my_channels(me, &path, name, CHANNEL_LIMIT).await?
    } else {
        state.store.autocomplete_team_channels(me, &path, name, CHANNEL_LIMIT).await?
    };
    Ok(ok(&channels))
}

#[derive(Deserialize)]
struct GroupSearch {
    term: Option<String>,
}

/// `POST /channels/group/search {term}`: the caller's group messages with someone matching.
async fn search_group_channels(state: State, auth: Auth, body: web::Payload) -> ApiResult<HttpResponse> {
    let b: GroupSearch = read_json(&state, body).await?;
    let t = b.term.ok_or_else(|| AppError::invalid_param("term"))?;
    let t = term(&t).map_err(|_| AppError::invalid_param("term"))?;
    Ok(ok(&state.store.search_group_channels(auth.user_id(), t, CHANNEL_LIMIT).await?))
}
