//! Pinned and saved posts: pin and unpin (announced as `post_edited`), a channel's pinned posts,
//! and a user's saved posts, which are the preferences of category `flagged_post`.

use super::posts::PostList;
use super::Query;
use super::{id_param, member_team, ok, readable_channel, self_or_admin, Auth, Paging, State};
use crate::error::{ApiResult, AppError};
use actix_web::{web, HttpResponse};
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/posts/{post_id}/pin", web::post().to(pin))
        .route("/posts/{post_id}/unpin", web::post().to(unpin))
        .route("/channels/{channel_id}/pinned", web::get().to(pinned))
        .route("/users/{user_id}/posts/flagged", web::get().to(flagged));
}

/// Pin or unpin a live post: the caller needs `read_channel` in its channel (its members do).
async fn set_pinned(state: &State, auth: &Auth, post_id: &str, pinned: bool) -> ApiResult<HttpResponse> {
    id_param("post_id", post_id)?;
    let post =
        state.store.post(post_id).await?.filter(|p| p.delete_at == 0).ok_or_else(|| AppError::not_found("post"))?;
    let channel = super::channel_with_permission(state, auth, &post.channel_id, "read_channel").await?;
    if channel.delete_at != 0 {
        return Err(AppError::bad_request(
            "api.post.patch_post.can_not_update_post_in_deleted.error",
            "Can not update a post in a deleted channel.",
        ));
    }
    let post =
        state.store.patch_post(post_id, None, None, Some(pinned)).await?.ok_or_else(|| AppError::not_found("post"))?;
    state.events.post_edited(&post);
    Ok(super::status_ok())
}

async fn pin(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    set_pinned(&state, &auth, &path, true).await
}

async fn unpin(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    set_pinned(&state, &auth, &path, false).await
}

async fn pinned(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let channel = readable_channel(&state, &auth, &path).await?;
    let posts = state.store.pinned_posts(&channel.id).await?;
    Ok(ok(&PostList::new(posts, vec![])))
}

#[derive(Deserialize)]
struct FlaggedQuery {
    team_id: Option<String>,
    channel_id: Option<String>,
    #[serde(default)]
    page: i64,
    #[serde(default = "super::default_per_page")]
    per_page: i64,
}

/// `GET /users/{user_id}/posts/flagged`: the user's saved posts in channels they are a member of,
/// newest first; of one channel, or one team (with their direct and group messages), or all.
async fn flagged(state: State, auth: Auth, path: web::Path<String>, q: Query<FlaggedQuery>) -> ApiResult<HttpResponse> {
    let user_id = self_or_admin(&auth, &path)?.to_owned();
    let (page, per_page) = Paging { page: q.page, per_page: q.per_page }.checked()?;
    let channel_id = q.channel_id.as_deref().filter(|c| !c.is_empty());
    let team_id = q.team_id.as_deref().filter(|t| !t.is_empty());
    if let Some(c) = channel_id {
        readable_channel(&state, &auth, c).await?;
    }
    if let Some(t) = team_id {
        member_team(&state, &auth, t).await?;
    }
    let posts = state.store.flagged_posts(&user_id, team_id, channel_id, page, per_page).await?;
    Ok(ok(&PostList::new(posts, vec![])))
}
