//! Collapsed reply threads: a user's followed threads in a team (with their totals), one thread,
//! reading and marking unread, following and unfollowing; the `thread_updated` a reply sends to
//! each follower; and the thread fields of root posts in collapsed-threads post lists.

use super::read_state::mention_rule;
use super::{id_param, member_team, ok, readable_channel, self_or_admin, status_ok, AppState, Auth, Query, State};
use crate::error::{ApiResult, AppError};
use crate::events::ThreadReadChange;
use crate::store::{Post, ThreadQuery, UnreadPost, User, UserThreadRow};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use slog::warn;
use std::collections::HashMap;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/users/{user_id}/teams/{team_id}/threads", web::get().to(list))
        .route("/users/{user_id}/teams/{team_id}/threads/read", web::put().to(read_all))
        .route("/users/{user_id}/teams/{team_id}/threads/read/{timestamp}", web::put().to(read_all_at))
        .route("/users/{user_id}/teams/{team_id}/threads/{thread_id}", web::get().to(get_thread))
        .route("/users/{user_id}/teams/{team_id}/threads/{thread_id}/read/{timestamp}", web::put().to(read))
        // Mattermost's router takes POST; its OpenAPI document says PUT.
        .route("/users/{user_id}/teams/{team_id}/threads/{thread_id}/set_unread/{post_id}", web::post().to(set_unread))
        .route("/users/{user_id}/teams/{team_id}/threads/{thread_id}/set_unread/{post_id}", web::put().to(set_unread))
        .route("/users/{user_id}/teams/{team_id}/threads/{thread_id}/following", web::put().to(follow))
        .route("/users/{user_id}/teams/{team_id}/threads/{thread_id}/following", web::delete().to(unfollow));
}

/// Mattermost's default and largest page of threads.
const DEFAULT_PER_PAGE: i64 = 25;
const MAX_PER_PAGE: i64 = 200;

#[derive(Deserialize)]
struct ListQuery {
    since: Option<i64>,
    before: Option<String>,
    after: Option<String>,
    per_page: Option<i64>,
    #[serde(rename = "pageSize")]
    page_size: Option<i64>,
    extended: Option<bool>,
    deleted: Option<bool>,
    unread: Option<bool>,
    #[serde(rename = "threadsOnly")]
    threads_only: Option<bool>,
    #[serde(rename = "totalsOnly")]
    totals_only: Option<bool>,
}

#[derive(Deserialize)]
struct ExtendedQuery {
    extended: Option<bool>,
}

/// Participants as the API shows them: user objects when `extended`, otherwise objects with only
/// the `id` (what the clients read of them).
fn participants_json(ids: &[String], users: &HashMap<String, User>, extended: bool) -> Value {
    Value::Array(
        ids.iter()
            .map(|id| match users.get(id) {
                Some(u) if extended => serde_json::to_value(u).unwrap_or_else(|_| json!({ "id": id })),
                _ => json!({ "id": id }),
            })
            .collect(),
    )
}

async fn users_of(state: &AppState, ids: Vec<String>, extended: bool) -> ApiResult<HashMap<String, User>> {
    if !extended || ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut ids = ids;
    ids.sort();
    ids.dedup();
    Ok(state.store.users_by_ids(&ids).await?.into_iter().map(|u| (u.id.clone(), u)).collect())
}

/// Mattermost's `UserThread` for each row, with its root post.
async fn render(state: &AppState, rows: &[UserThreadRow], extended: bool) -> ApiResult<Vec<Value>> {
    let ids: Vec<String> = rows.iter().map(|t| t.id.clone()).collect();
    let posts: HashMap<String, Post> = if ids.is_empty() {
        HashMap::new()
    } else {
        state.store.root_posts(&ids).await?.into_iter().map(|p| (p.id.clone(), p)).collect()
    };
    let users = users_of(state, rows.iter().flat_map(|t| t.participants.clone()).collect(), extended).await?;
    Ok(rows
        .iter()
        .map(|t| {
            json!({
                "id": t.id,
                "reply_count": t.reply_count,
                "last_reply_at": t.last_reply_at,
                "last_viewed_at": t.last_viewed_at,
                "participants": participants_json(&t.participants, &users, extended),
                "post": posts.get(&t.id).map(|p| serde_json::to_value(p).unwrap_or(Value::Null)).unwrap_or(Value::Null),
                "unread_replies": t.unread_replies,
                "unread_mentions": t.unread_mentions,
                "is_following": t.following,
                "is_urgent": false,
                "delete_at": t.delete_at,
            })
        })
        .collect())
}

/// `GET /users/{id}/teams/{team_id}/threads`: the followed threads, newest reply first, and the
/// totals (`totalsOnly`: only those; `threadsOnly`: the totals left at 0).
async fn list(
    state: State,
    auth: Auth,
    path: web::Path<(String, String)>,
    q: Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    let (user_id, team_id) = path.into_inner();
    let user_id = self_or_admin(&auth, &user_id)?.to_owned();
    member_team(&state, &auth, &team_id).await?;
    let per_page = q.per_page.or(q.page_size).unwrap_or(DEFAULT_PER_PAGE);
    if !(0..=MAX_PER_PAGE).contains(&per_page) {
        return Err(AppError::invalid_param("per_page"));
    }
    let (before, after) = (q.before.clone().filter(|s| !s.is_empty()), q.after.clone().filter(|s| !s.is_empty()));
    for (name, id) in [("before", &before), ("after", &after)] {
        if let Some(id) = id {
            id_param(name, id)?;
        }
    }
    if before.is_some() && after.is_some() {
        return Err(AppError::invalid_param("before"));
    }
    let deleted = q.deleted.unwrap_or(false);
    let extended = q.extended.unwrap_or(false);
    let totals = if q.threads_only.unwrap_or(false) {
        Default::default()
    } else {
        state.store.thread_totals(&user_id, &team_id, deleted).await?
    };
    let threads = if q.totals_only.unwrap_or(false) {
        vec![]
    } else {
        let query = ThreadQuery {
            since: q.since.unwrap_or(0),
            before,
            after,
            per_page: if per_page == 0 { DEFAULT_PER_PAGE } else { per_page },
            deleted,
            unread: q.unread.unwrap_or(false),
        };
        let rows = state.store.user_threads(&user_id, &team_id, &query).await?;
        render(&state, &rows, extended).await?
    };
    Ok(ok(&json!({
        "total": totals.total,
        "total_unread_threads": totals.unread_threads,
        "total_unread_mentions": totals.unread_mentions,
        "total_unread_urgent_mentions": 0,
        "threads": threads,
    })))
}

/// The thread `thread_id` as `user_id` sees it, if the caller may read its channel.
async fn readable_thread(state: &State, auth: &Auth, user_id: &str, thread_id: &str) -> ApiResult<UserThreadRow> {
    id_param("thread_id", thread_id)?;
    let thread = state.store.user_thread(user_id, thread_id).await?.ok_or_else(|| AppError::not_found("thread"))?;
    readable_channel(state, auth, &thread.channel_id).await?;
    Ok(thread)
}

/// The path's user (checked) and team (the caller must be able to view it).
async fn user_and_team(state: &State, auth: &Auth, user_id: &str, team_id: &str) -> ApiResult<String> {
    let user_id = self_or_admin(auth, user_id)?.to_owned();
    member_team(state, auth, team_id).await?;
    Ok(user_id)
}

async fn get_thread(
    state: State,
    auth: Auth,
    path: web::Path<(String, String, String)>,
    q: Query<ExtendedQuery>,
) -> ApiResult<HttpResponse> {
    let (user_id, team_id, thread_id) = path.into_inner();
    let user_id = user_and_team(&state, &auth, &user_id, &team_id).await?;
    let thread = readable_thread(&state, &auth, &user_id, &thread_id).await?;
    let mut out = render(&state, std::slice::from_ref(&thread), q.extended.unwrap_or(false)).await?;
    Ok(ok(&out.pop().unwrap_or(Value::Null)))
}

/// Read a thread up to `timestamp` (or unread from just after it), announce it, answer the thread.
async fn mark(
    state: &State,
    auth: &Auth,
    user_id: &str,
    team_id: &str,
    thread_id: &str,
    timestamp: i64,
) -> ApiResult<HttpResponse> {
    let thread = readable_thread(state, auth, user_id, thread_id).await?;
    let channel = state.store.channel(&thread.channel_id).await?.ok_or_else(|| AppError::not_found("channel"))?;
    let member = state.store.channel_member(&channel.id, user_id).await?;
    let mentions = mention_rule(state, &channel, user_id, member.as_ref().map(|m| &m.notify_props)).await?;
    let counter = move |posts: &[UnreadPost]| posts.iter().filter(|p| mentions(&p.message)).count() as i64;
    let (before, after) = state
        .store
        .set_thread_read(user_id, thread_id, timestamp, &counter)
        .await?
        .ok_or_else(|| AppError::not_found("thread"))?;
    state.events.thread_read_changed(
        user_id,
        team_id,
        timestamp,
        Some(ThreadReadChange {
            thread_id: after.id.clone(),
            channel_id: after.channel_id.clone(),
            unread_replies: after.unread_replies,
            unread_mentions: after.unread_mentions,
            previous_unread_replies: before.unread_replies,
            previous_unread_mentions: before.unread_mentions,
        }),
    );
    let mut out = render(state, std::slice::from_ref(&after), false).await?;
    Ok(ok(&out.pop().unwrap_or(Value::Null)))
}

/// `PUT …/threads/{thread_id}/read/{timestamp}`.
async fn read(state: State, auth: Auth, path: web::Path<(String, String, String, String)>) -> ApiResult<HttpResponse> {
    let (user_id, team_id, thread_id, timestamp) = path.into_inner();
    let user_id = user_and_team(&state, &auth, &user_id, &team_id).await?;
    let timestamp: i64 = timestamp.parse().map_err(|_| AppError::invalid_param("timestamp"))?;
    mark(&state, &auth, &user_id, &team_id, &thread_id, timestamp).await
}

/// `POST …/threads/{thread_id}/set_unread/{post_id}`: unread from that reply on.
async fn set_unread(
    state: State,
    auth: Auth,
    path: web::Path<(String, String, String, String)>,
) -> ApiResult<HttpResponse> {
    let (user_id, team_id, thread_id, post_id) = path.into_inner();
    let user_id = user_and_team(&state, &auth, &user_id, &team_id).await?;
    id_param("post_id", &post_id)?;
    let post =
        state.store.post(&post_id).await?.filter(|p| p.delete_at == 0).ok_or_else(|| AppError::not_found("post"))?;
    if post.id != thread_id && post.root_id != thread_id {
        return Err(AppError::invalid_param("post_id"));
    }
    mark(&state, &auth, &user_id, &team_id, &thread_id, post.create_at - 1).await
}

/// Every followed thread of the team read at `timestamp`.
async fn mark_all(state: &State, user_id: &str, team_id: &str, timestamp: i64) -> ApiResult<HttpResponse> {
    state.store.mark_threads_read(user_id, team_id, timestamp).await?;
    state.events.thread_read_changed(user_id, team_id, timestamp, None);
    Ok(status_ok())
}

/// `PUT …/threads/read`: every followed thread read now.
async fn read_all(state: State, auth: Auth, path: web::Path<(String, String)>) -> ApiResult<HttpResponse> {
    let (user_id, team_id) = path.into_inner();
    let user_id = user_and_team(&state, &auth, &user_id, &team_id).await?;
    mark_all(&state, &user_id, &team_id, crate::store::now_ms()).await
}

/// `PUT …/threads/read/{timestamp}`: every followed thread read up to `timestamp`.
async fn read_all_at(state: State, auth: Auth, path: web::Path<(String, String, String)>) -> ApiResult<HttpResponse> {
    let (user_id, team_id, timestamp) = path.into_inner();
    let user_id = user_and_team(&state, &auth, &user_id, &team_id).await?;
    let timestamp: i64 = timestamp.parse().map_err(|_| AppError::invalid_param("timestamp"))?;
    mark_all(&state, &user_id, &team_id, timestamp).await
}

async fn set_following(
    state: State,
    auth: Auth,
    path: (String, String, String),
    following: bool,
) -> ApiResult<HttpResponse> {
    let (user_id, team_id, thread_id) = path;
    let user_id = user_and_team(&state, &auth, &user_id, &team_id).await?;
    id_param("thread_id", &thread_id)?;
    let root = state.store.post(&thread_id).await?.filter(|p| p.delete_at == 0 && p.root_id.is_empty());
    let root = root.ok_or_else(|| AppError::not_found("thread"))?;
    readable_channel(&state, &auth, &root.channel_id).await?;
    let thread = state
        .store
        .set_thread_following(&user_id, &thread_id, following)
        .await?
        .ok_or_else(|| AppError::not_found("thread"))?;
    state.events.thread_follow_changed(&user_id, &team_id, &thread_id, following, thread.reply_count);
    Ok(status_ok())
}

async fn follow(state: State, auth: Auth, path: web::Path<(String, String, String)>) -> ApiResult<HttpResponse> {
    set_following(state, auth, path.into_inner(), true).await
}

async fn unfollow(state: State, auth: Auth, path: web::Path<(String, String, String)>) -> ApiResult<HttpResponse> {
    set_following(state, auth, path.into_inner(), false).await
}

/// After a reply: `thread_updated` to each follower of its thread, with the thread as they see it;
/// `mentioned` (whose mention counts the reply raised) gives their previous unread mentions.
pub(crate) async fn reply_posted(state: &AppState, team_id: &str, reply: &Post, mentioned: &[String]) {
    let previous = |f: &UserThreadRow| {
        if f.user_id == reply.user_id {
            (f.unread_replies, f.unread_mentions)
        } else {
            let was_mentioned = i64::from(mentioned.contains(&f.user_id));
            ((f.unread_replies - 1).max(0), (f.unread_mentions - was_mentioned).max(0))
        }
    };
    if let Err(e) = announce(state, team_id, &reply.root_id, previous).await {
        warn!(state.log, "thread update not announced"; "post_id" => &reply.id, "error" => %e);
    }
}

/// After a reply was deleted: `thread_updated` to each follower, one reply fewer (and one unread
/// fewer for those who had not read it).
pub(crate) async fn reply_deleted(state: &AppState, team_id: &str, reply: &Post) {
    let previous =
        |f: &UserThreadRow| (f.unread_replies + i64::from(reply.create_at > f.last_viewed_at), f.unread_mentions);
    if let Err(e) = announce(state, team_id, &reply.root_id, previous).await {
        warn!(state.log, "thread update not announced"; "post_id" => &reply.id, "error" => %e);
    }
}

/// `thread_updated` to each follower of `thread_id`; `previous` gives a follower's unread replies
/// and mentions before the change.
async fn announce(
    state: &AppState,
    team_id: &str,
    thread_id: &str,
    previous: impl Fn(&UserThreadRow) -> (i64, i64),
) -> ApiResult<()> {
    let followers = state.store.thread_followers(thread_id).await?;
    let Some(first) = followers.first() else {
        return Ok(());
    };
    // One rendering of the thread; each follower's own fields are set on a copy.
    let shared = render(state, std::slice::from_ref(first), true).await?.pop().unwrap_or(Value::Null);
    for f in &followers {
        let mut thread = shared.clone();
        thread["last_viewed_at"] = json!(f.last_viewed_at);
        thread["unread_replies"] = json!(f.unread_replies);
        thread["unread_mentions"] = json!(f.unread_mentions);
        thread["is_following"] = json!(f.following);
        state.events.thread_updated(&f.user_id, team_id, &thread, previous(f));
    }
    Ok(())
}

/// Root posts of a collapsed-threads list carry their thread's `participants` (users when
/// `extended`, otherwise ids) and whether `user_id` follows it (`is_following`).
pub(crate) async fn mark_roots(state: &AppState, user_id: &str, posts: &mut [Post], extended: bool) -> ApiResult<()> {
    let ids: Vec<String> = posts.iter().filter(|p| p.root_id.is_empty()).map(|p| p.id.clone()).collect();
    let marks = state.store.thread_marks(user_id, &ids).await?;
    let users = users_of(state, marks.values().flat_map(|(p, _)| p.clone()).collect(), extended).await?;
    for p in posts.iter_mut().filter(|p| p.root_id.is_empty()) {
        let (participants, following) = marks.get(&p.id).cloned().unwrap_or_default();
        p.participants = Some(participants_json(&participants, &users, extended));
        p.is_following = Some(following);
    }
    Ok(())
}
