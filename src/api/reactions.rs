//! `/reactions`: add, remove and list reactions, one post or many; `reaction_added` and
//! `reaction_removed` to the post's channel on every node. Only members react: `add_reaction` and
//! `remove_reaction` are channel-role permissions (system admins hold them everywhere).

use super::{id_param, ok, read_json, readable_channel, resolve_user_id, status_ok, AppState, Auth, State};
use crate::error::{ApiResult, AppError};
use crate::store::{Channel, Reaction, SaveReaction};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/reactions", web::post().to(save_reaction))
        .route("/users/{user_id}/posts/{post_id}/reactions/{emoji_name}", web::delete().to(delete_reaction))
        .route("/posts/ids/reactions", web::post().to(bulk_reactions))
        .route("/posts/{post_id}/reactions", web::get().to(post_reactions));
}

/// The most posts one bulk request asks about.
const BULK_MAX_POSTS: usize = 1000;

/// The channel of a live post, if the caller holds `permission` there as a member (or by their
/// system roles): 404 without the post, 403 without the permission or in an archived channel.
/// Two small queries: this is on the path of every reaction.
async fn post_in_channel(
    state: &AppState,
    auth: &Auth,
    post_id: &str,
    permission: &str,
    archived_id: &'static str,
) -> ApiResult<Channel> {
    id_param("post_id", post_id)?;
    let (channel_id, delete_at, _) =
        state.store.reply_target(post_id).await?.ok_or_else(|| AppError::not_found("post"))?;
    if delete_at != 0 {
        return Err(AppError::not_found("post"));
    }
    let (channel, member_roles) = state
        .store
        .channel_with_membership(&channel_id, auth.user_id())
        .await?
        .ok_or_else(|| AppError::not_found("channel"))?;
    let granted = member_roles.as_deref().is_some_and(|r| super::permissions::roles_grant(r, permission))
        || auth.has_permission(permission);
    super::permissions::require(granted)?;
    if channel.delete_at != 0 {
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            archived_id,
            "Unable to react to or change the reactions of a post in an archived channel.",
        ));
    }
    Ok(channel)
}

fn check_emoji_name(name: &str) -> ApiResult<()> {
    if crate::emoji::is_valid_name(name) {
        Ok(())
    } else {
        Err(AppError::bad_request("model.reaction.emoji_name.app_error", "Invalid emoji name."))
    }
}

#[derive(Deserialize)]
struct NewReaction {
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    post_id: String,
    #[serde(default)]
    emoji_name: String,
}

async fn save_reaction(state: State, auth: Auth, body: web::Payload) -> ApiResult<HttpResponse> {
    let input: NewReaction = read_json(&state, body).await?;
    if !starling_protocol::id::is_valid_id(&input.user_id)
        || !starling_protocol::id::is_valid_id(&input.post_id)
        || input.emoji_name.is_empty()
        || input.emoji_name.len() > crate::emoji::NAME_MAX_LEN
    {
        return Err(AppError::bad_request(
            "api.reaction.save_reaction.invalid.app_error",
            "The reaction is not valid.",
        ));
    }
    if input.user_id != auth.user_id() {
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            "api.reaction.save_reaction.user_id.app_error",
            "You cannot save a reaction for another user.",
        ));
    }
    check_emoji_name(&input.emoji_name)?;
    post_in_channel(&state, &auth, &input.post_id, "add_reaction", "api.reaction.save.archived_channel.app_error")
        .await?;
    let limit = state.config().service_settings.unique_emoji_reaction_limit_per_post;
    match state.store.save_reaction(auth.user_id(), &input.post_id, &input.emoji_name, limit).await? {
        SaveReaction::Saved(reaction) => {
            state.events.reaction_added(&reaction);
            // 200, as Mattermost answers (its spec says 201).
            Ok(ok(&reaction))
        }
        SaveReaction::NoPost => Err(AppError::not_found("post")),
        SaveReaction::TooManyEmoji => Err(AppError::bad_request(
            "app.reaction.save.unique_emoji_limit.app_error",
            format!("The post already has reactions with {limit} different emoji."),
        )),
    }
}

async fn delete_reaction(
    state: State,
    auth: Auth,
    path: web::Path<(String, String, String)>,
) -> ApiResult<HttpResponse> {
    let (user_id, post_id, emoji_name) = path.into_inner();
    let user_id = resolve_user_id(&auth, &user_id)?.to_owned();
    id_param("post_id", &post_id)?;
    if !crate::emoji::is_valid_name(&emoji_name) {
        return Err(AppError::bad_request(
            "api.context.invalid_url_param.app_error",
            "Invalid or missing emoji_name in request URL.",
        ));
    }
    post_in_channel(&state, &auth, &post_id, "remove_reaction", "api.reaction.delete.archived_channel.app_error")
        .await?;
    if user_id != auth.user_id() && !auth.has_permission("remove_others_reactions") {
        return Err(super::permissions::forbidden());
    }
    if let Some(reaction) = state.store.delete_reaction(&user_id, &post_id, &emoji_name).await? {
        state.events.reaction_removed(&reaction);
    }
    Ok(status_ok())
}

async fn post_reactions(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    id_param("post_id", &path)?;
    let post =
        state.store.post(&path).await?.filter(|p| p.delete_at == 0).ok_or_else(|| AppError::not_found("post"))?;
    readable_channel(&state, &auth, &post.channel_id).await?;
    Ok(ok(&state.store.reactions_for_posts(std::slice::from_ref(&post.id)).await?))
}

/// `POST /posts/ids/reactions`: the reactions of each post asked about (an empty list for a post
/// without any, or unknown), if the caller may read every one of their channels.
async fn bulk_reactions(state: State, auth: Auth, body: web::Payload) -> ApiResult<HttpResponse> {
    let ids: Vec<String> = read_json(&state, body).await?;
    if ids.len() > BULK_MAX_POSTS || !ids.iter().all(|id| starling_protocol::id::is_valid_id(id)) {
        return Err(AppError::invalid_param("post_ids"));
    }
    let ids: Vec<String> = ids.into_iter().collect::<HashSet<_>>().into_iter().collect();
    let channels: HashSet<String> = state.store.post_channels(&ids).await?.into_iter().map(|(_, c)| c).collect();
    for channel_id in &channels {
        readable_channel(&state, &auth, channel_id).await?;
    }
    let mut out: BTreeMap<String, Vec<Reaction>> = ids.iter().map(|id| (id.clone(), vec![])).collect();
    for r in state.store.reactions_for_posts(&ids).await? {
        out.entry(r.post_id.clone()).or_default().push(r);
    }
    Ok(ok(&out))
}
