//! Search: `POST /teams/{team_id}/posts/search` and `POST /users/search`. Both are reads: they run
//! on the search replicas, then the read replicas, then the master (store::routing).

use super::{id_param, member_team, ok, read_json, readable_channel, Auth, State};
use crate::error::{ApiResult, AppError};
use crate::store::PostSearch;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Map, Value};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/teams/{team_id}/posts/search", web::post().to(search_posts))
        .route("/users/search", web::post().to(search_users));
}

#[derive(Deserialize)]
struct PostSearchBody {
    #[serde(default)]
    terms: String,
    #[serde(default)]
    is_or_search: bool,
    #[serde(default)]
    page: i64,
    #[serde(default = "default_search_per_page")]
    per_page: i64,
    /// The searcher's clock, seconds ahead of UTC, for `on:`, `after:` and `before:`.
    #[serde(default)]
    time_zone_offset: i64,
}

/// The most terms one post search may have (each is a parameter of its statement).
const SEARCH_TERMS_MAX: usize = 100;

fn default_search_per_page() -> i64 {
    60
}

/// Posts in the channels of the team (and direct channels) the user belongs to, newest first,
/// as Mattermost's PostSearchResults: `order`, `posts`, `matches` and paging fields.
async fn search_posts(
    state: State,
    auth: Auth,
    path: web::Path<String>,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    let team_id = path.into_inner();
    id_param("team_id", &team_id)?;
    member_team(&state, &auth, &team_id).await?;
    let b: PostSearchBody = read_json(&state, body).await?;
    let (page, per_page) = super::Paging { page: b.page, per_page: b.per_page }.checked()?;
    let mut q = PostSearch::parse(&b.terms, b.is_or_search);
    if q.term_count() > SEARCH_TERMS_MAX {
        return Err(AppError::invalid_param("terms").detail(format!("at most {SEARCH_TERMS_MAX} search terms")));
    }
    // Time zones are at most 14 hours from UTC.
    q.tz_offset_s = b.time_zone_offset.clamp(-14 * 3600, 14 * 3600);
    let found = state.store.search_posts(auth.user_id(), &team_id, &q, page, per_page).await?;
    let order: Vec<&str> = found.posts.iter().map(|p| p.id.as_str()).collect();
    let mut posts = Map::new();
    for p in &found.posts {
        posts.insert(p.id.clone(), serde_json::to_value(p).unwrap_or(Value::Null));
    }
    Ok(ok(&json!({
        "order": order,
        "posts": posts,
        "matches": Value::Null,
        "next_post_id": "",
        "prev_post_id": "",
        "has_next": found.has_next,
        "first_inaccessible_post_time": 0,
    })))
}

#[derive(Deserialize)]
struct UserSearchBody {
    #[serde(default)]
    term: String,
    #[serde(default)]
    team_id: Option<String>,
    #[serde(default)]
    in_channel_id: Option<String>,
    #[serde(default)]
    allow_inactive: bool,
    #[serde(default = "default_user_limit")]
    limit: i64,
}

fn default_user_limit() -> i64 {
    100
}

/// Users whose username, first or last name, nickname or email start with `term`; within a team
/// or channel the caller can see when `team_id` / `in_channel_id` is given.
async fn search_users(state: State, auth: Auth, body: web::Payload) -> ApiResult<HttpResponse> {
    let b: UserSearchBody = read_json(&state, body).await?;
    if b.term.trim().is_empty() {
        return Err(AppError::invalid_param("term"));
    }
    let team = b.team_id.filter(|t| !t.is_empty());
    let channel = b.in_channel_id.filter(|c| !c.is_empty());
    if let Some(t) = team.as_deref() {
        member_team(&state, &auth, t).await?;
    }
    if let Some(c) = channel.as_deref() {
        readable_channel(&state, &auth, c).await?;
    }
    let limit = b.limit.clamp(1, 1000);
    let users = state.store.search_users(&b.term, team.as_deref(), channel.as_deref(), b.allow_inactive, limit).await?;
    Ok(ok(&users))
}
