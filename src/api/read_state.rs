//! Reading and marking read: the posts around a member's unread mark (the first call when the web
//! app opens a channel), posts by id, viewing channels (also with an empty `channel_id`, which the
//! web app sends when its window loses focus), marking channels or a team read, and marking a
//! channel unread from a post.

use super::mentions;
use super::posts::PostList;
use super::Query;
use super::{
    channel_with_permission, id_param, ok, read_json, readable_channel, resolve_user_id, self_or_admin, AppState, Auth,
    State,
};
use crate::error::{ApiResult, AppError};
use crate::store::{Channel, PostQuery, UnreadPost};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use starling_protocol::id::is_valid_id;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/users/{user_id}/channels/{channel_id}/posts/unread", web::get().to(posts_unread))
        .route("/posts/ids", web::post().to(posts_by_ids))
        .route("/channels/members/{user_id}/view", web::post().to(view))
        .route("/channels/members/{user_id}/mark_read", web::post().to(mark_read))
        .route("/users/{user_id}/teams/{team_id}/read", web::put().to(team_read))
        .route("/users/{user_id}/posts/{post_id}/set_unread", web::post().to(set_unread));
}

/// Mattermost's limit on either side of the unread mark.
const MAX_AROUND: i64 = 200;
/// The most ids one `POST /posts/ids` takes.
const MAX_POST_IDS: usize = 1000;
/// The most channels one `mark_read` takes.
const MAX_MARK_READ: usize = 1000;

#[derive(Deserialize)]
struct UnreadQuery {
    limit_before: Option<i64>,
    limit_after: Option<i64>,
    #[serde(rename = "collapsedThreads")]
    collapsed_threads: Option<bool>,
    #[serde(rename = "collapsedThreadsExtended")]
    collapsed_threads_extended: Option<bool>,
}

/// `GET /users/{id}/channels/{channel_id}/posts/unread`: the first unread post, up to
/// `limit_after - 1` newer and `limit_before` older ones; `next_post_id` and `prev_post_id` name
/// the posts just outside the list (`""` at either end). With nothing unread: the newest
/// `limit_before` posts.
async fn posts_unread(
    state: State,
    auth: Auth,
    path: web::Path<(String, String)>,
    q: Query<UnreadQuery>,
) -> ApiResult<HttpResponse> {
    let (user_id, channel_id) = path.into_inner();
    let user_id = self_or_admin(&auth, &user_id)?.to_owned();
    let before = q.limit_before.unwrap_or(60);
    let after = q.limit_after.unwrap_or(60);
    if !(0..=MAX_AROUND).contains(&before) {
        return Err(AppError::invalid_param("limit_before"));
    }
    if !(1..=MAX_AROUND).contains(&after) {
        return Err(AppError::invalid_param("limit_after"));
    }
    let channel = channel_with_permission(&state, &auth, &channel_id, "read_channel_content").await?;
    let member = state
        .store
        .channel_member(&channel.id, &user_id)
        .await?
        .ok_or_else(|| AppError::not_found("channel member"))?;
    let collapsed = q.collapsed_threads.unwrap_or(false);
    let around = state.store.posts_around_unread(&channel.id, member.last_viewed_at, before, after, collapsed).await?;
    let mut page = match around {
        Some(page) => page,
        None => {
            let newest = PostQuery::Page { page: 0, per_page: before.max(1) };
            state.store.channel_posts(&channel.id, &newest, collapsed).await?
        }
    };
    if collapsed {
        let extended = q.collapsed_threads_extended.unwrap_or(false);
        super::threads::mark_roots(&state, &user_id, &mut page.order, extended).await?;
    }
    Ok(ok(&PostList::from_page(page)))
}

/// `POST /posts/ids`: the live posts among the ids that the caller may read (others are left out).
async fn posts_by_ids(state: State, auth: Auth, body: web::Payload) -> ApiResult<HttpResponse> {
    let ids: Vec<String> = read_json(&state, body).await?;
    if ids.is_empty() || ids.len() > MAX_POST_IDS {
        return Err(AppError::invalid_param("post_ids"));
    }
    for id in &ids {
        id_param("post_id", id)?;
    }
    let posts = state.store.posts_by_ids(&ids).await?;
    let mut allowed: Vec<String> = Vec::new();
    let mut refused: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for p in posts {
        if refused.contains(&p.channel_id) {
            continue;
        }
        if !allowed.contains(&p.channel_id) {
            match readable_channel(&state, &auth, &p.channel_id).await {
                Ok(_) => allowed.push(p.channel_id.clone()),
                Err(e) if e.status.is_client_error() => {
                    refused.push(p.channel_id.clone());
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        out.push(p);
    }
    Ok(ok(&out))
}

#[derive(Deserialize)]
struct ChannelView {
    channel_id: Option<String>,
    prev_channel_id: Option<String>,
    #[allow(dead_code)] // accepted: without threads every client is handled alike
    collapsed_threads_supported: Option<bool>,
}

/// Mark `channel_ids` viewed for the user, announce it, and answer Mattermost's
/// `ChannelViewResponse`.
async fn viewed(state: &State, user_id: &str, channel_ids: Vec<String>) -> ApiResult<HttpResponse> {
    let times = state.store.mark_viewed(user_id, &channel_ids).await?;
    if !times.is_empty() && state.config().service_settings.enable_channel_viewed_messages {
        state.events.channels_viewed(user_id, &times);
    }
    let map: serde_json::Map<String, serde_json::Value> = times.into_iter().map(|(c, t)| (c, json!(t))).collect();
    Ok(ok(&json!({"status": "OK", "last_viewed_at_times": map})))
}

/// `POST /channels/members/{user_id}/view`: the channel the user now looks at and the one they
/// left are read. Either may be empty (the web app sends `channel_id: ""` on blur); channels the
/// user is not in are left alone.
async fn view(state: State, auth: Auth, path: web::Path<String>, body: web::Payload) -> ApiResult<HttpResponse> {
    let user_id = self_or_admin(&auth, &path)?.to_owned();
    let input: ChannelView = read_json(&state, body).await?;
    let mut ids = Vec::new();
    for (name, id) in [("channel_id", input.channel_id), ("prev_channel_id", input.prev_channel_id)] {
        if let Some(id) = id.filter(|i| !i.is_empty()) {
            if !is_valid_id(&id) {
                return Err(AppError::invalid_param(name));
            }
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    viewed(&state, &user_id, ids).await
}

/// `POST /channels/members/{user_id}/mark_read`: mark several channels read (body: their ids).
async fn mark_read(state: State, auth: Auth, path: web::Path<String>, body: web::Payload) -> ApiResult<HttpResponse> {
    let user_id = self_or_admin(&auth, &path)?.to_owned();
    let mut ids: Vec<String> = read_json(&state, body).await?;
    if ids.is_empty() || ids.len() > MAX_MARK_READ {
        return Err(AppError::invalid_param("channel_ids"));
    }
    for id in &ids {
        id_param("channel_id", id)?;
    }
    ids.sort();
    ids.dedup();
    viewed(&state, &user_id, ids).await
}

/// `PUT /users/{id}/teams/{team_id}/read`: every channel of the team read.
async fn team_read(state: State, auth: Auth, path: web::Path<(String, String)>) -> ApiResult<HttpResponse> {
    let (user_id, team_id) = path.into_inner();
    let user_id = self_or_admin(&auth, &user_id)?.to_owned();
    super::member_team(&state, &auth, &team_id).await?;
    let ids = state.store.user_team_channel_ids(&user_id, &team_id).await?;
    viewed(&state, &user_id, ids).await
}

/// `POST /users/{id}/posts/{post_id}/set_unread`: the channel is unread from this post on, with
/// the mentions among the unread posts counted again; `post_unread` tells the user's sessions.
async fn set_unread(state: State, auth: Auth, path: web::Path<(String, String)>) -> ApiResult<HttpResponse> {
    let (user_id, post_id) = path.into_inner();
    let user_id = resolve_user_id(&auth, &user_id)?.to_owned();
    super::permissions::require(super::acts_for(&auth, &user_id))?;
    id_param("post_id", &post_id)?;
    let post =
        state.store.post(&post_id).await?.filter(|p| p.delete_at == 0).ok_or_else(|| AppError::not_found("post"))?;
    let channel = channel_with_permission(&state, &auth, &post.channel_id, "read_channel_content").await?;
    let member = state
        .store
        .channel_member(&channel.id, &user_id)
        .await?
        .ok_or_else(|| AppError::not_found("channel member"))?;
    let mentions = mention_rule(&state, &channel, &user_id, Some(&member.notify_props)).await?;
    let counter = move |posts: &[UnreadPost]| {
        let mut counts = (0, 0);
        for p in posts.iter().filter(|p| mentions(&p.message)) {
            counts.0 += 1;
            if p.root_id.is_empty() {
                counts.1 += 1;
            }
        }
        counts
    };
    let unread = state
        .store
        .set_unread_from(&user_id, &post, &counter)
        .await?
        .ok_or_else(|| AppError::not_found("channel member"))?;
    state.events.post_unread(&unread, &post.id);
    Ok(ok(&unread))
}

/// Whether another member's post in `channel` mentions `user_id`, by the rules the mention counts
/// follow: every post in a direct or group message; `@username`; `@channel`, `@all` and `@here`
/// unless the member ignores channel mentions (their channel notify prop `ignore_channel_mentions`,
/// or by `default` their user notify prop `channel`). `member_props`: the membership's notify
/// props, if they are a member.
pub(super) async fn mention_rule(
    state: &AppState,
    channel: &Channel,
    user_id: &str,
    member_props: Option<&serde_json::Value>,
) -> ApiResult<impl Fn(&str) -> bool + Send + Sync + 'static> {
    let user = state.store.user(user_id).await?.ok_or_else(|| AppError::not_found("user"))?;
    let every_post = channel.channel_type == "D" || channel.channel_type == "G";
    let ignore = member_props.and_then(|p| p["ignore_channel_mentions"].as_str()).unwrap_or("default");
    let ignore_channel_mentions = match ignore {
        "on" => true,
        "off" => false,
        _ => user.notify_props["channel"].as_str() == Some("false"),
    };
    let username = user.username;
    Ok(move |message: &str| {
        every_post || {
            let m = mentions::parse(message);
            m.usernames.contains(&username) || ((m.channel || m.here) && !ignore_channel_mentions)
        }
    })
}
