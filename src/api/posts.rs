//! `/posts`: create, edit, delete, read posts, threads and channel history.

use super::permissions;
use super::Query;
use super::{created, id_param, ok, postable_channel, read_json, readable_channel, status_ok, AppState, Auth, State};
use crate::error::{ApiResult, AppError};
use crate::store::{Channel, NewPost, Post, PostMentions, PostPage, PostQuery};
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use starling_protocol::id::is_valid_id;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/posts", web::post().to(create_post))
        .route("/posts/{post_id}", web::get().to(get_post))
        .route("/posts/{post_id}", web::put().to(update_post))
        .route("/posts/{post_id}", web::delete().to(delete_post))
        .route("/posts/{post_id}/patch", web::put().to(patch_post))
        .route("/posts/{post_id}/thread", web::get().to(thread))
        .route("/posts/{post_id}/files/info", web::get().to(post_files))
        .route("/channels/{channel_id}/posts", web::get().to(channel_posts));
}

/// Mattermost's limit on a message, in characters.
pub const POST_MESSAGE_MAX_RUNES: usize = 16383;
/// The most files one post carries.
pub const POST_MAX_FILES: usize = 10;
/// Mattermost's limit on the serialised props of a post.
const POST_PROPS_MAX_BYTES: usize = 800_000;

/// Mattermost's PostList: `order` newest first, `posts` by id (with thread roots for context).
#[derive(Serialize)]
pub struct PostList {
    order: Vec<String>,
    posts: Map<String, Value>,
    next_post_id: String,
    prev_post_id: String,
    has_next: bool,
    first_inaccessible_post_time: i64,
}

impl PostList {
    pub fn new(order: Vec<Post>, extra: Vec<Post>) -> Self {
        let mut posts = Map::new();
        let ids = order.iter().map(|p| p.id.clone()).collect();
        for p in order.into_iter().chain(extra) {
            posts.insert(p.id.clone(), serde_json::to_value(&p).unwrap_or(Value::Null));
        }
        Self {
            order: ids,
            posts,
            next_post_id: String::new(),
            prev_post_id: String::new(),
            has_next: false,
            first_inaccessible_post_time: 0,
        }
    }

    pub fn from_page(page: PostPage) -> Self {
        let mut list = Self::new(page.order, page.roots);
        list.has_next = page.has_next;
        list.prev_post_id = page.prev_post_id;
        list.next_post_id = page.next_post_id;
        list
    }
}

fn check_message(message: &str) -> ApiResult<()> {
    if message.chars().count() > POST_MESSAGE_MAX_RUNES {
        return Err(AppError::bad_request(
            "model.post.is_valid.message_length.app_error",
            format!("Message is too long: at most {POST_MESSAGE_MAX_RUNES} characters."),
        ));
    }
    Ok(())
}

fn check_props(props: &Value) -> ApiResult<()> {
    if !props.is_object() {
        return Err(AppError::invalid_param("props"));
    }
    if serde_json::to_vec(props).map(|v| v.len()).unwrap_or(usize::MAX) > POST_PROPS_MAX_BYTES {
        return Err(AppError::bad_request("model.post.is_valid.props.app_error", "Post props are too large."));
    }
    Ok(())
}

/// `#words` of a message, as Mattermost indexes them.
fn hashtags(message: &str) -> String {
    let mut tags: Vec<&str> = Vec::new();
    for word in message.split(|c: char| c.is_whitespace()) {
        let w = word.trim_end_matches(|c: char| ".,!?:;)".contains(c));
        if w.len() > 3
            && w.starts_with('#')
            && w[1..].chars().next().is_some_and(char::is_alphabetic)
            && !tags.contains(&w)
        {
            tags.push(w);
        }
    }
    let mut out = tags.join(" ");
    out.truncate(out.char_indices().take_while(|(i, _)| *i < 1000).map(|(i, c)| i + c.len_utf8()).last().unwrap_or(0));
    out
}

#[derive(Deserialize)]
struct CreatePost {
    channel_id: Option<String>,
    message: Option<String>,
    root_id: Option<String>,
    file_ids: Option<Vec<String>>,
    props: Option<Value>,
    pending_post_id: Option<String>,
    #[serde(rename = "type")]
    post_type: Option<String>,
}

async fn create_post(state: State, auth: Auth, body: web::Payload) -> ApiResult<HttpResponse> {
    let input: CreatePost = read_json(&state, body).await?;
    let channel_id = input.channel_id.ok_or_else(|| AppError::invalid_param("channel_id"))?;
    let channel = postable_channel(&state, &auth, &channel_id).await?;
    let message = input.message.unwrap_or_default();
    check_message(&message)?;
    let file_ids = input.file_ids.unwrap_or_default();
    if file_ids.len() > POST_MAX_FILES || !file_ids.iter().all(|f| is_valid_id(f)) {
        return Err(AppError::invalid_param("file_ids"));
    }
    if message.trim().is_empty() && file_ids.is_empty() {
        return Err(AppError::bad_request(
            "api.post.create_post.message_empty.app_error",
            "Cannot post an empty message.",
        ));
    }
    let props = input.props.filter(|p| !p.is_null()).unwrap_or_else(|| serde_json::json!({}));
    check_props(&props)?;
    let post_type = input.post_type.unwrap_or_default();
    if !post_type.is_empty() && !post_type.starts_with("custom_") {
        return Err(AppError::invalid_param("type"));
    }
    let pending_post_id = input.pending_post_id.unwrap_or_default();
    if pending_post_id.len() > 64 {
        return Err(AppError::invalid_param("pending_post_id"));
    }
    let root_id = input.root_id.unwrap_or_default();
    if !root_id.is_empty() {
        id_param("root_id", &root_id)?;
        let root = state.store.reply_target(&root_id).await?;
        let ok = root.is_some_and(|(root_channel, delete_at, root_of_root)| {
            root_channel == channel.id && delete_at == 0 && root_of_root.is_empty()
        });
        if !ok {
            return Err(AppError::bad_request("api.post.create_post.root_id.app_error", "Invalid RootId parameter."));
        }
    }
    let post = write_post(
        &state,
        NewDraft {
            user_id: auth.user_id().to_owned(),
            channel,
            root_id,
            message,
            props,
            file_ids,
            post_type,
            pending_post_id,
        },
    )
    .await?;
    Ok(created(&post))
}

/// A new post, checked except for what the hooks may still change.
pub(crate) struct NewDraft {
    pub user_id: String,
    pub channel: Channel,
    pub root_id: String,
    pub message: String,
    pub props: Value,
    pub file_ids: Vec<String>,
    pub post_type: String,
    pub pending_post_id: String,
}

/// The 400 for a post a hook refused, as Mattermost words it.
fn rejected(r: crate::hooks::Rejected) -> AppError {
    AppError::bad_request("api.post.rejected_by_plugin.app_error", format!("Post rejected by plugin. {}", r.reason))
        .detail(format!("refused by {}", r.by))
}

/// Write a new post: the `MessageWillBePosted` hooks first (they may change or refuse it), then
/// the post with its counters, then `posted` to every node. Every way a post is created (the API,
/// a command's answer, a plugin) comes through here.
pub(crate) async fn write_post(state: &AppState, d: NewDraft) -> ApiResult<Post> {
    let draft = crate::hooks::DraftPost {
        id: String::new(),
        user_id: d.user_id,
        channel_id: d.channel.id.clone(),
        root_id: d.root_id,
        message: d.message,
        props: d.props,
        file_ids: d.file_ids,
        post_type: d.post_type,
    };
    let draft = state.hooks.message_will_be_posted(draft).await.map_err(rejected)?;
    // What a hook changed is held to the same rules.
    check_message(&draft.message)?;
    check_props(&draft.props)?;
    if draft.file_ids.len() > POST_MAX_FILES || !draft.file_ids.iter().all(|f| is_valid_id(f)) {
        return Err(AppError::invalid_param("file_ids"));
    }
    let channel = d.channel;
    let parsed = super::mentions::parse(&draft.message);
    let mentions = PostMentions {
        usernames: parsed.usernames,
        // Channel-wide mentions need use_channel_mentions (every channel role has it).
        channel: parsed.channel,
        here: parsed.here,
        // Every message in a direct or group message counts as a mention of the others.
        everyone: channel.channel_type == "D" || channel.channel_type == "G",
    };
    let (post, sender, mentioned) = state
        .store
        .create_post(NewPost {
            user_id: draft.user_id,
            channel_id: channel.id.clone(),
            root_id: draft.root_id,
            hashtags: hashtags(&draft.message),
            message: draft.message,
            post_type: draft.post_type,
            props: draft.props,
            file_ids: draft.file_ids,
            pending_post_id: d.pending_post_id,
            mentions,
            auto_follow: state.config().service_settings.thread_auto_follow,
        })
        .await?;
    state.events.posted(&post, &channel, &sender, &mentioned);
    if !post.root_id.is_empty() {
        super::threads::reply_posted(state, &channel.team_id, &post, &mentioned).await;
    }
    Ok(post)
}

/// A live post the caller may read.
async fn readable_post(state: &State, auth: &Auth, post_id: &str) -> ApiResult<Post> {
    id_param("post_id", post_id)?;
    let post =
        state.store.post(post_id).await?.filter(|p| p.delete_at == 0).ok_or_else(|| AppError::not_found("post"))?;
    readable_channel(state, auth, &post.channel_id).await?;
    Ok(post)
}

/// A live post the caller may change: their own with `own` (`edit_post`, `delete_post`) in its
/// channel, anyone's with `others` (`edit_others_posts`, `delete_others_posts`).
async fn own_post(state: &State, auth: &Auth, post_id: &str, own: &str, others: &str) -> ApiResult<Post> {
    let post = readable_post(state, auth, post_id).await?;
    let channel = state.store.channel(&post.channel_id).await?.ok_or_else(|| AppError::not_found("channel"))?;
    let permission = if post.user_id == auth.user_id() { own } else { others };
    permissions::require(permissions::has_channel_permission(state, auth, &channel, permission).await?)?;
    Ok(post)
}

async fn get_post(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    Ok(ok(&readable_post(&state, &auth, &path).await?))
}

#[derive(Deserialize)]
struct PatchPost {
    id: Option<String>,
    message: Option<String>,
    is_pinned: Option<bool>,
    props: Option<Value>,
}

async fn apply_patch(state: &State, auth: &Auth, post_id: &str, input: PatchPost) -> ApiResult<HttpResponse> {
    let old = own_post(state, auth, post_id, "edit_post", "edit_others_posts").await?;
    if let Some(m) = &input.message {
        check_message(m)?;
    }
    if let Some(p) = &input.props {
        check_props(p)?;
    }
    let (mut message, mut props) = (input.message, input.props);
    if message.is_some() || props.is_some() {
        // An edit goes through the MessageWillBeUpdated hooks, which may change or refuse it.
        let before = draft_of(&old);
        let after = crate::hooks::DraftPost {
            message: message.clone().unwrap_or_else(|| old.message.clone()),
            props: props.clone().unwrap_or_else(|| old.props.clone()),
            ..before.clone()
        };
        let hooked = state.hooks.message_will_be_updated(after, &before).await.map_err(rejected)?;
        check_message(&hooked.message)?;
        check_props(&hooked.props)?;
        message = Some(hooked.message).filter(|m| message.is_some() || *m != old.message);
        props = Some(hooked.props).filter(|p| props.is_some() || *p != old.props);
    }
    let post = state
        .store
        .patch_post(post_id, message.as_deref(), props.as_ref(), input.is_pinned)
        .await?
        .ok_or_else(|| AppError::not_found("post"))?;
    state.events.post_edited(&post);
    Ok(ok(&post))
}

/// A stored post as hooks see it.
fn draft_of(p: &Post) -> crate::hooks::DraftPost {
    crate::hooks::DraftPost {
        id: p.id.clone(),
        user_id: p.user_id.clone(),
        channel_id: p.channel_id.clone(),
        root_id: p.root_id.clone(),
        message: p.message.clone(),
        props: p.props.clone(),
        file_ids: p.file_ids.clone(),
        post_type: p.post_type.clone(),
    }
}

async fn patch_post(state: State, auth: Auth, path: web::Path<String>, body: web::Payload) -> ApiResult<HttpResponse> {
    let input: PatchPost = read_json(&state, body).await?;
    apply_patch(&state, &auth, &path, input).await
}

async fn update_post(state: State, auth: Auth, path: web::Path<String>, body: web::Payload) -> ApiResult<HttpResponse> {
    let input: PatchPost = read_json(&state, body).await?;
    if input.id.as_deref().is_some_and(|id| id != path.as_str()) {
        return Err(AppError::invalid_param("id"));
    }
    apply_patch(&state, &auth, &path, input).await
}

async fn delete_post(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    own_post(&state, &auth, &path, "delete_post", "delete_others_posts").await?;
    let post = state.store.delete_post(&path).await?.ok_or_else(|| AppError::not_found("post"))?;
    state.events.post_deleted(&post, auth.user_id());
    if !post.root_id.is_empty() {
        let team_id = state.store.channel(&post.channel_id).await?.map(|c| c.team_id).unwrap_or_default();
        super::threads::reply_deleted(&state, &team_id, &post).await;
    }
    Ok(status_ok())
}

async fn thread(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let post = readable_post(&state, &auth, &path).await?;
    let root = if post.root_id.is_empty() { post.id.clone() } else { post.root_id.clone() };
    let mut posts = state.store.thread(&root).await?;
    posts.reverse(); // newest first, like every PostList order
    Ok(ok(&PostList::new(posts, vec![])))
}

async fn post_files(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let post = readable_post(&state, &auth, &path).await?;
    Ok(ok(&state.store.file_infos_for_post(&post.id).await?))
}

#[derive(Deserialize)]
struct ChannelPostsQuery {
    page: Option<i64>,
    per_page: Option<i64>,
    since: Option<i64>,
    before: Option<String>,
    after: Option<String>,
    /// Root posts only, each with its thread's participants and `is_following`.
    #[serde(rename = "collapsedThreads")]
    collapsed_threads: Option<bool>,
    /// With `collapsedThreads`: participants as user objects.
    #[serde(rename = "collapsedThreadsExtended")]
    collapsed_threads_extended: Option<bool>,
}

async fn channel_posts(
    state: State,
    auth: Auth,
    path: web::Path<String>,
    q: Query<ChannelPostsQuery>,
) -> ApiResult<HttpResponse> {
    let channel = readable_channel(&state, &auth, &path).await?;
    let (page, per_page) =
        super::Paging { page: q.page.unwrap_or(0), per_page: q.per_page.unwrap_or(super::default_per_page()) }
            .checked()?;
    let before = q.before.clone().filter(|s| !s.is_empty());
    let after = q.after.clone().filter(|s| !s.is_empty());
    // Like Mattermost, `since` of 0 or less means no `since`: a client's first sync sends 0.
    let since = q.since.filter(|s| *s > 0);
    let query = match (since, before, after) {
        (Some(since), _, _) => PostQuery::Since { since },
        (None, Some(_), Some(_)) => return Err(AppError::invalid_param("before")),
        (None, Some(b), None) => {
            id_param("before", &b)?;
            PostQuery::Before { post_id: b, page, per_page }
        }
        (None, None, Some(a)) => {
            id_param("after", &a)?;
            PostQuery::After { post_id: a, page, per_page }
        }
        (None, None, None) => PostQuery::Page { page, per_page },
    };
    let collapsed = q.collapsed_threads.unwrap_or(false);
    let mut result = state.store.channel_posts(&channel.id, &query, collapsed).await?;
    if collapsed {
        let extended = q.collapsed_threads_extended.unwrap_or(false);
        super::threads::mark_roots(&state, auth.user_id(), &mut result.order, extended).await?;
    }
    Ok(ok(&PostList::from_page(result)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn hashtags_are_found() {
        assert_eq!(super::hashtags("hello #world and #rust, #1no #ab"), "#world #rust");
        assert_eq!(super::hashtags("no tags"), "");
    }
}
