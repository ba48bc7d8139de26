//! Incoming webhooks: managed under `/api/v4/hooks/incoming`, and posted to at `POST /hooks/{id}`
//! (outside the API, no session: the hook's id is its secret). A hook's post goes through the
//! same writing path as the API's (hooks, counters, `posted` to every node) as the hook's creator,
//! with `props.from_webhook`.

use super::permissions::{self, forbidden};
use super::{created, id_param, ok, read_json, status_ok, Auth, Paging, Query, State};
use crate::error::{ApiResult, AppError};
use crate::store::{Channel, IncomingHook, IncomingHookPatch};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Map, Value};

/// The management routes, under `/api/v4`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/hooks/incoming", web::post().to(create))
        .route("/hooks/incoming", web::get().to(list))
        .route("/hooks/incoming/{hook_id}", web::get().to(get_one))
        .route("/hooks/incoming/{hook_id}", web::put().to(update))
        .route("/hooks/incoming/{hook_id}", web::delete().to(delete));
}

/// `POST /hooks/{id}`, outside `/api/v4`.
pub fn configure_public(cfg: &mut web::ServiceConfig) {
    cfg.route("/hooks/{hook_id}", web::post().to(execute));
}

/// Mattermost's limits on a hook's fields.
const DISPLAY_NAME_MAX: usize = 64;
const DESCRIPTION_MAX: usize = 500;
const USERNAME_MAX: usize = 255;
const ICON_URL_MAX: usize = 1024;

fn disabled() -> AppError {
    AppError::new(
        StatusCode::NOT_IMPLEMENTED,
        "api.incoming_webhook.disabled.app_error",
        "Incoming webhooks have been disabled by the system admin.",
    )
}

fn require_enabled(state: &State) -> ApiResult<()> {
    if state.config().service_settings.enable_incoming_webhooks {
        Ok(())
    } else {
        Err(disabled())
    }
}

#[derive(Deserialize)]
struct HookInput {
    channel_id: Option<String>,
    user_id: Option<String>,
    display_name: Option<String>,
    description: Option<String>,
    username: Option<String>,
    icon_url: Option<String>,
    channel_locked: Option<bool>,
    id: Option<String>,
}

fn too_long(id: &'static str, field: &str, v: &str, max: usize) -> ApiResult<()> {
    if v.chars().count() > max {
        return Err(AppError::bad_request(id, format!("Invalid {field}: at most {max} characters.")));
    }
    Ok(())
}

impl HookInput {
    fn checked(self, channel: &Channel) -> ApiResult<IncomingHookPatch> {
        let p = IncomingHookPatch {
            channel_id: channel.id.clone(),
            team_id: channel.team_id.clone(),
            display_name: self.display_name.unwrap_or_default(),
            description: self.description.unwrap_or_default(),
            username: self.username.unwrap_or_default(),
            icon_url: self.icon_url.unwrap_or_default(),
            channel_locked: self.channel_locked.unwrap_or(false),
        };
        too_long("model.incoming_hook.display_name.app_error", "display_name", &p.display_name, DISPLAY_NAME_MAX)?;
        too_long("model.incoming_hook.description.app_error", "description", &p.description, DESCRIPTION_MAX)?;
        too_long("model.incoming_hook.username.app_error", "username", &p.username, USERNAME_MAX)?;
        too_long("model.incoming_hook.icon_url.app_error", "icon_url", &p.icon_url, ICON_URL_MAX)?;
        Ok(p)
    }
}

/// The channel a hook posts to, if the caller may make hooks there (`manage_own_incoming_webhooks`
/// in it) and read it. Direct and group messages take no hooks.
async fn hook_channel(state: &State, auth: &Auth, channel_id: Option<&str>) -> ApiResult<Channel> {
    let channel_id = channel_id.filter(|c| !c.is_empty()).ok_or_else(|| AppError::invalid_param("channel_id"))?;
    id_param("channel_id", channel_id)?;
    let channel = state.store.channel(channel_id).await?.ok_or_else(|| AppError::not_found("channel"))?;
    if channel.team_id.is_empty() {
        return Err(AppError::bad_request(
            "api.incoming_webhook.invalid_channel.app_error",
            "Incoming webhooks post to a team's channels only.",
        ));
    }
    let may = permissions::has_channel_permission(state, auth, &channel, "manage_own_incoming_webhooks").await?;
    permissions::require(may)?;
    if !channel.is_open() && !permissions::has_channel_permission(state, auth, &channel, "read_channel").await? {
        return Err(forbidden());
    }
    Ok(channel)
}

/// `POST /hooks/incoming`: 201 with the hook. `user_id` makes it for someone else
/// (`manage_others_incoming_webhooks`).
async fn create(state: State, auth: Auth, body: web::Payload) -> ApiResult<HttpResponse> {
    require_enabled(&state)?;
    let input: HookInput = read_json(&state, body).await?;
    let channel = hook_channel(&state, &auth, input.channel_id.as_deref()).await?;
    let owner = match input.user_id.as_deref().filter(|u| !u.is_empty() && *u != auth.user_id()) {
        Some(other) => {
            id_param("user_id", other)?;
            let may =
                permissions::has_team_permission(&state, &auth, &channel.team_id, "manage_others_incoming_webhooks")
                    .await?;
            permissions::require(may)?;
            let user = state.store.user(other).await?.filter(|u| u.delete_at == 0);
            user.ok_or_else(|| AppError::not_found("user"))?.id
        }
        None => auth.user_id().to_owned(),
    };
    let hook = state.store.create_incoming_hook(&owner, &input.checked(&channel)?).await?;
    slog::info!(state.log, "incoming webhook created"; "user_id" => auth.user_id(), "channel_id" => &hook.channel_id);
    crate::audit::record(
        &state,
        &auth,
        "createIncomingHook",
        serde_json::json!({"id": hook.id, "channel_id": hook.channel_id}),
    );
    Ok(created(&hook))
}

#[derive(Deserialize)]
struct ListQuery {
    team_id: Option<String>,
    #[serde(default)]
    page: i64,
    #[serde(default = "super::default_per_page")]
    per_page: i64,
}

/// `GET /hooks/incoming?team_id=&page=&per_page=`: the team's hooks (or every team's), only the
/// caller's own without `manage_others_incoming_webhooks`.
async fn list(state: State, auth: Auth, q: Query<ListQuery>) -> ApiResult<HttpResponse> {
    require_enabled(&state)?;
    let (page, per_page) = Paging { page: q.page, per_page: q.per_page }.checked()?;
    let (own, others) = match q.team_id.as_deref() {
        Some(team_id) => {
            id_param("team_id", team_id)?;
            (
                permissions::has_team_permission(&state, &auth, team_id, "manage_own_incoming_webhooks").await?,
                permissions::has_team_permission(&state, &auth, team_id, "manage_others_incoming_webhooks").await?,
            )
        }
        None => (
            auth.has_permission("manage_own_incoming_webhooks"),
            auth.has_permission("manage_others_incoming_webhooks"),
        ),
    };
    permissions::require(own)?;
    let user = if others { None } else { Some(auth.user_id()) };
    Ok(ok(&state.store.incoming_hooks(q.team_id.as_deref(), user, page, per_page).await?))
}

/// The hook, if the caller may manage it: `manage_own_incoming_webhooks` in its channel, and for
/// someone else's `manage_others_incoming_webhooks` in its team.
async fn managed_hook(state: &State, auth: &Auth, hook_id: &str) -> ApiResult<IncomingHook> {
    id_param("hook_id", hook_id)?;
    let hook = state.store.incoming_hook(hook_id).await?.ok_or_else(|| AppError::not_found("webhook"))?;
    let channel = state.store.channel(&hook.channel_id).await?.ok_or_else(|| AppError::not_found("channel"))?;
    permissions::require(
        permissions::has_channel_permission(state, auth, &channel, "manage_own_incoming_webhooks").await?,
    )?;
    if hook.user_id != auth.user_id() {
        let may =
            permissions::has_team_permission(state, auth, &hook.team_id, "manage_others_incoming_webhooks").await?;
        permissions::require(may)?;
    }
    Ok(hook)
}

async fn get_one(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    require_enabled(&state)?;
    Ok(ok(&managed_hook(&state, &auth, &path).await?))
}

/// `PUT /hooks/incoming/{hook_id}` (the whole hook; its `id` must match). The channel may change
/// within the hook's team.
async fn update(state: State, auth: Auth, path: web::Path<String>, body: web::Payload) -> ApiResult<HttpResponse> {
    require_enabled(&state)?;
    let hook = managed_hook(&state, &auth, &path).await?;
    let input: HookInput = read_json(&state, body).await?;
    if input.id.as_deref() != Some(hook.id.as_str()) {
        return Err(AppError::invalid_param("hook_id"));
    }
    let channel_id = input.channel_id.clone().filter(|c| !c.is_empty()).unwrap_or_else(|| hook.channel_id.clone());
    let channel = hook_channel(&state, &auth, Some(&channel_id)).await?;
    if channel.team_id != hook.team_id {
        return Err(AppError::bad_request(
            "api.webhook.team_mismatch.app_error",
            "Unable to update the webhook across teams.",
        ));
    }
    let updated = state
        .store
        .update_incoming_hook(&hook.id, &input.checked(&channel)?)
        .await?
        .ok_or_else(|| AppError::not_found("webhook"))?;
    Ok(ok(&updated))
}

async fn delete(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    require_enabled(&state)?;
    let hook = managed_hook(&state, &auth, &path).await?;
    state.store.delete_incoming_hook(&hook.id).await?;
    slog::info!(state.log, "incoming webhook deleted"; "user_id" => auth.user_id(), "channel_id" => &hook.channel_id);
    crate::audit::record(
        &state,
        &auth,
        "deleteIncomingHook",
        serde_json::json!({"id": hook.id, "channel_id": hook.channel_id}),
    );
    Ok(status_ok())
}

fn invalid_hook() -> AppError {
    AppError::bad_request("web.incoming_webhook.invalid.app_error", "Invalid webhook.")
}

fn parse_error(detail: impl Into<String>) -> AppError {
    AppError::bad_request("web.incoming_webhook.parse.app_error", "Unable to parse incoming data.").detail(detail)
}

/// What a webhook's sender may set.
#[derive(Debug, Default, PartialEq)]
struct Payload {
    text: String,
    channel: String,
    username: String,
    icon_url: String,
    attachments: Option<Value>,
    props: Map<String, Value>,
    post_type: String,
}

/// Read a payload from a JSON object. Strings must be strings; `attachments` an array.
fn payload_from_json(body: &[u8]) -> ApiResult<Payload> {
    if super::json_has_nul(body) {
        return Err(parse_error("the payload contains a NUL character"));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| parse_error(e.to_string()))?;
    let Value::Object(m) = v else {
        return Err(parse_error("the payload is not a JSON object"));
    };
    let text = |k: &str| -> ApiResult<String> {
        match m.get(k) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(parse_error(format!("{k} is not a string"))),
        }
    };
    let attachments = match m.get("attachments") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) if a.is_empty() => None,
        Some(a @ Value::Array(_)) => Some(a.clone()),
        Some(_) => return Err(parse_error("attachments is not an array")),
    };
    let props = match m.get("props") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p.clone(),
        Some(_) => return Err(parse_error("props is not an object")),
    };
    Ok(Payload {
        text: text("text")?,
        channel: text("channel")?,
        username: text("username")?,
        icon_url: text("icon_url")?,
        attachments,
        props,
        post_type: text("type")?,
    })
}

/// The payload of a request: a form's `payload=` field, or the JSON body.
fn read_payload(req: &HttpRequest, body: &[u8]) -> ApiResult<Payload> {
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match media.as_str() {
        "application/x-www-form-urlencoded" => {
            let pairs: Vec<(String, String)> =
                serde_urlencoded::from_bytes(body).map_err(|e| parse_error(e.to_string()))?;
            let payload = pairs.into_iter().find(|(k, _)| k == "payload").map(|(_, v)| v).unwrap_or_default();
            payload_from_json(payload.as_bytes())
        }
        "multipart/form-data" => Err(parse_error("multipart payloads are not supported; send JSON or payload=")),
        _ => payload_from_json(body),
    }
}

/// Read the body, at most ServiceSettings.MaximumPayloadSizeBytes (413 past it).
pub(super) async fn read_body(state: &State, mut payload: web::Payload) -> ApiResult<web::BytesMut> {
    let limit = state.config().service_settings.maximum_payload_size_bytes.max(0) as usize;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| parse_error(e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(AppError::too_large(format!("The request body is larger than {limit} bytes.")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The channel a payload names (`town-square`, or `@username` for a direct message with the
/// hook's creator), else the hook's own. A locked hook posts only to its own channel.
async fn target_channel(state: &State, hook: &IncomingHook, name: &str) -> ApiResult<Channel> {
    let own = || async {
        state.store.channel(&hook.channel_id).await?.ok_or_else(|| {
            AppError::new(StatusCode::NOT_FOUND, "web.incoming_webhook.channel.app_error", "Couldn't find the channel.")
        })
    };
    if name.is_empty() {
        return own().await;
    }
    let channel = if let Some(username) = name.strip_prefix('@') {
        let user =
            state.store.user_by_username(username).await?.filter(|u| u.delete_at == 0).ok_or_else(|| {
                AppError::bad_request("web.incoming_webhook.user.app_error", "Couldn't find the user.")
            })?;
        let (channel, is_new) = state.store.direct_channel(&hook.user_id, &user.id).await?;
        if is_new {
            state.events.direct_added(&channel, &hook.user_id, &user.id);
        }
        channel
    } else {
        super::name_param(super::PathName::Channel, name).map_err(|_| {
            AppError::new(StatusCode::NOT_FOUND, "web.incoming_webhook.channel.app_error", "Couldn't find the channel.")
        })?;
        state.store.channel_by_name(&hook.team_id, name).await?.ok_or_else(|| {
            AppError::new(StatusCode::NOT_FOUND, "web.incoming_webhook.channel.app_error", "Couldn't find the channel.")
        })?
    };
    if hook.channel_locked && channel.id != hook.channel_id {
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            "web.incoming_webhook.channel_locked.app_error",
            "This webhook is not permitted to post to the requested channel.",
        ));
    }
    Ok(channel)
}

/// `POST /hooks/{hook_id}`: `ok` (text/plain) once the post is written.
async fn execute(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    if !state.config().service_settings.enable_incoming_webhooks {
        return Err(AppError::new(
            StatusCode::NOT_IMPLEMENTED,
            "web.incoming_webhook.disabled.app_error",
            "Incoming webhooks have been disabled by the system admin.",
        ));
    }
    let body = read_body(&state, body).await?;
    if !starling_protocol::id::is_valid_id(&path) {
        return Err(invalid_hook());
    }
    let hook = state.store.incoming_hook(&path).await?.ok_or_else(invalid_hook)?;
    let payload = read_payload(&req, &body)?;
    if payload.text.trim().is_empty() && payload.attachments.is_none() {
        return Err(AppError::bad_request("web.incoming_webhook.text.app_error", "No text specified."));
    }
    if payload.post_type.starts_with("system_") {
        return Err(AppError::invalid_param("type"));
    }
    let creator = state.store.user(&hook.user_id).await?.filter(|u| u.delete_at == 0);
    let creator = creator.ok_or_else(|| {
        AppError::new(
            StatusCode::FORBIDDEN,
            "web.incoming_webhook.user.app_error",
            "The webhook's creator is deactivated.",
        )
    })?;
    let channel = target_channel(&state, &hook, &payload.channel).await?;
    if channel.delete_at != 0 {
        return Err(AppError::bad_request(
            "api.post.create_post.can_not_post_to_deleted.error",
            "Can not post to deleted channel.",
        ));
    }
    if !channel.is_open() {
        let (_, member) = state
            .store
            .channel_with_membership(&channel.id, &creator.id)
            .await?
            .ok_or_else(|| AppError::not_found("channel"))?;
        if member.is_none() {
            return Err(AppError::new(
                StatusCode::FORBIDDEN,
                "web.incoming_webhook.permissions.app_error",
                "The webhook's creator may not post in this channel.",
            ));
        }
    }
    let props = webhook_props(&state, &hook, payload.props, &payload.username, &payload.icon_url, payload.attachments);
    let draft = super::posts::NewDraft {
        user_id: creator.id.clone(),
        channel,
        root_id: String::new(),
        message: payload.text,
        props: Value::Object(props),
        file_ids: vec![],
        post_type: payload.post_type,
        pending_post_id: String::new(),
    };
    super::posts::write_post(&state, draft).await?;
    Ok(HttpResponse::Ok().content_type("text/plain").body("ok"))
}

/// The post's props: the sender's, then `from_webhook`, the overrides the config allows (the
/// payload's, else the hook's), and the attachments.
fn webhook_props(
    state: &State,
    hook: &IncomingHook,
    mut props: Map<String, Value>,
    username: &str,
    icon_url: &str,
    attachments: Option<Value>,
) -> Map<String, Value> {
    let s = state.config().service_settings;
    props.insert("from_webhook".into(), Value::from("true"));
    props.insert("webhook_display_name".into(), Value::from(hook.display_name.clone()));
    let pick = |sent: &str, configured: &str| if sent.is_empty() { configured.to_owned() } else { sent.to_owned() };
    let username = pick(username, &hook.username);
    if s.enable_post_username_override && !username.is_empty() {
        props.insert("override_username".into(), Value::from(username));
    }
    let icon_url = pick(icon_url, &hook.icon_url);
    if s.enable_post_icon_override && !icon_url.is_empty() {
        props.insert("override_icon_url".into(), Value::from(icon_url));
    }
    if let Some(a) = attachments {
        props.insert("attachments".into(), a);
    }
    props
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_take_strings_arrays_and_objects_only() {
        let p = payload_from_json(br#"{"text":"hi","channel":"@bob","attachments":[{"text":"a"}],"props":{"k":1}}"#)
            .unwrap();
        assert_eq!((p.text.as_str(), p.channel.as_str()), ("hi", "@bob"));
        assert!(p.attachments.is_some());
        assert_eq!(p.props.get("k"), Some(&Value::from(1)));
        assert!(payload_from_json(br#"{"text":"hi","attachments":[]}"#).unwrap().attachments.is_none());
        for bad in [
            &br#"{"text":5}"#[..],
            br#"{"attachments":{}}"#,
            br#"{"props":[]}"#,
            b"[1]",
            b"not json",
            b"{\"text\":\"\\u0000\"}",
        ] {
            assert_eq!(payload_from_json(bad).map_err(|e| e.id), Err("web.incoming_webhook.parse.app_error"));
        }
    }
}
