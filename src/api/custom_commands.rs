//! Custom slash commands (`ServiceSettings.EnableCommands`): `/commands` to create, list, read,
//! change, delete, move them and renew their tokens, and [`execute`], which calls a command's URL
//! through [`crate::outbound`] with Mattermost's fields (its `response_url` is answered by
//! `command_webhooks`).
//!
//! Permissions, as Mattermost: `manage_own_slash_commands` (or the older `manage_slash_commands`)
//! in the command's team for one's own commands, and `manage_others_slash_commands` too for
//! anyone else's. A command the caller may not manage is 404 (its existence is not told).

use super::permissions::{self, has_team_permission};
use super::{created, id_param, ok, read_json, status_ok, Auth, State};
use crate::commands::{is_built_in, valid_trigger, CommandArgs, CommandResponse};
use crate::error::{ApiResult, AppError};
use crate::outbound::{valid_url, OutboundRequest};
use crate::store::{Channel, Command, CommandFields};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/commands", web::post().to(create_command))
        .route("/commands", web::get().to(list_commands))
        .route("/commands/{command_id}", web::get().to(get_command))
        .route("/commands/{command_id}", web::put().to(update_command))
        .route("/commands/{command_id}", web::delete().to(delete_command))
        .route("/commands/{command_id}/regen_token", web::put().to(regen_token))
        .route("/commands/{command_id}/move", web::post().to(move_command));
}

pub(super) fn disabled() -> AppError {
    AppError::new(
        StatusCode::NOT_IMPLEMENTED,
        "api.command.disabled.app_error",
        "Commands have been disabled by the system admin.",
    )
}

fn enabled(state: &State) -> ApiResult<()> {
    if state.config().service_settings.enable_commands {
        Ok(())
    } else {
        Err(disabled())
    }
}

fn not_found() -> AppError {
    AppError::new(StatusCode::NOT_FOUND, "api.command.command_not_found.app_error", "The command was not found.")
}

async fn may_manage_own(state: &State, auth: &Auth, team_id: &str) -> ApiResult<bool> {
    Ok(has_team_permission(state, auth, team_id, "manage_own_slash_commands").await?
        || has_team_permission(state, auth, team_id, "manage_slash_commands").await?)
}

/// The live command `id`, if the caller may manage it.
async fn managed(state: &State, auth: &Auth, id: &str) -> ApiResult<Command> {
    id_param("command_id", id)?;
    let cmd = state.store.command(id).await?.ok_or_else(not_found)?;
    if !may_manage_own(state, auth, &cmd.team_id).await? {
        return Err(not_found());
    }
    if cmd.creator_id != auth.user_id()
        && !has_team_permission(state, auth, &cmd.team_id, "manage_others_slash_commands").await?
    {
        return Err(permissions::forbidden());
    }
    Ok(cmd)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CommandInput {
    id: Option<String>,
    team_id: Option<String>,
    trigger: String,
    method: String,
    username: String,
    icon_url: String,
    auto_complete: bool,
    auto_complete_desc: String,
    auto_complete_hint: String,
    display_name: String,
    description: String,
    url: String,
}

fn invalid(field: &str) -> AppError {
    AppError::bad_request("model.command.is_valid.app_error", format!("Invalid {field} for the command."))
}

/// The fields as saved: the trigger lower-cased without its slash, each field within
/// Mattermost's bounds.
fn checked_fields(i: CommandInput) -> ApiResult<CommandFields> {
    let trigger = i.trigger.trim().trim_start_matches('/').to_lowercase();
    if !valid_trigger(&trigger) {
        return Err(invalid("trigger"));
    }
    if is_built_in(&trigger) {
        return Err(AppError::bad_request(
            "api.command.duplicate_trigger.app_error",
            "This trigger word is already in use. Please choose another word.",
        ));
    }
    let method = i.method.to_uppercase();
    if method != "P" && method != "G" {
        return Err(invalid("method"));
    }
    if !valid_url(&i.url) {
        return Err(invalid("url"));
    }
    let bounds = [
        ("username", &i.username, 64),
        ("icon_url", &i.icon_url, 1024),
        ("auto_complete_desc", &i.auto_complete_desc, 1024),
        ("auto_complete_hint", &i.auto_complete_hint, 1024),
        ("display_name", &i.display_name, 64),
        ("description", &i.description, 128),
    ];
    for (name, value, max) in bounds {
        if value.chars().count() > max || value.contains('\0') {
            return Err(invalid(name));
        }
    }
    Ok(CommandFields {
        trigger,
        method,
        username: i.username,
        icon_url: i.icon_url,
        auto_complete: i.auto_complete,
        auto_complete_desc: i.auto_complete_desc,
        auto_complete_hint: i.auto_complete_hint,
        display_name: i.display_name,
        description: i.description,
        url: i.url,
    })
}

fn taken() -> AppError {
    AppError::bad_request(
        "api.command.duplicate_trigger.app_error",
        "This trigger word is already in use. Please choose another word.",
    )
}

async fn create_command(state: State, auth: Auth, body: web::Payload) -> ApiResult<HttpResponse> {
    enabled(&state)?;
    let input: CommandInput = read_json(&state, body).await?;
    let team_id = input.team_id.clone().unwrap_or_default();
    id_param("team_id", &team_id)?;
    permissions::require(may_manage_own(&state, &auth, &team_id).await?)?;
    state.store.team(&team_id).await?.ok_or_else(|| AppError::not_found("team"))?;
    let fields = checked_fields(input)?;
    let cmd = state.store.create_command(auth.user_id(), &team_id, &fields).await?.ok_or_else(taken)?;
    slog::info!(state.log, "slash command created"; "command_id" => &cmd.id, "team_id" => &cmd.team_id, "user_id" => auth.user_id());
    crate::audit::record(&state, &auth, "createCommand", json!({"id": cmd.id, "team_id": cmd.team_id}));
    Ok(created(&cmd))
}

#[derive(Deserialize)]
struct ListQuery {
    team_id: Option<String>,
    #[serde(default)]
    custom_only: bool,
}

/// `GET /commands?team_id=&custom_only=`: the team's custom commands (to their managers, tokens
/// of others' commands only with `manage_others_slash_commands`), or with `custom_only=false`
/// everything its members may run (built-in, registered, custom; no tokens).
async fn list_commands(state: State, auth: Auth, q: super::Query<ListQuery>) -> ApiResult<HttpResponse> {
    let team_id = q.team_id.clone().unwrap_or_default();
    id_param("team_id", &team_id)?;
    if !q.custom_only {
        let team = super::member_team(&state, &auth, &team_id).await?;
        let mut all: Vec<serde_json::Value> = crate::commands::BUILT_IN
            .iter()
            .map(|(t, d, h)| super::commands::listed(&team.id, t, d, h))
            .chain(
                state
                    .commands
                    .list()
                    .iter()
                    .map(|c| super::commands::listed(&team.id, &c.trigger, &c.description, &c.hint)),
            )
            .collect();
        if state.config().service_settings.enable_commands {
            for mut c in state.store.team_commands(&team.id).await? {
                c.token.clear();
                all.push(serde_json::to_value(&c).map_err(AppError::internal)?);
            }
        }
        return Ok(ok(&all));
    }
    enabled(&state)?;
    permissions::require(may_manage_own(&state, &auth, &team_id).await?)?;
    let others = has_team_permission(&state, &auth, &team_id, "manage_others_slash_commands").await?;
    let mut list = state.store.team_commands(&team_id).await?;
    for c in list.iter_mut().filter(|c| c.creator_id != auth.user_id() && !others) {
        c.token.clear();
    }
    Ok(ok(&list))
}

async fn get_command(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    enabled(&state)?;
    match managed(&state, &auth, &path).await {
        // Someone else's command without the permission to manage it: not told it exists.
        Err(e) if e.status == StatusCode::FORBIDDEN => Err(not_found()),
        other => Ok(ok(&other?)),
    }
}

async fn update_command(
    state: State,
    auth: Auth,
    path: web::Path<String>,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    enabled(&state)?;
    let input: CommandInput = read_json(&state, body).await?;
    if input.id.as_deref().is_some_and(|id| id != path.as_str()) {
        return Err(AppError::invalid_param("id"));
    }
    let cmd = managed(&state, &auth, &path).await?;
    if input.team_id.as_deref().is_some_and(|t| !t.is_empty() && t != cmd.team_id) {
        return Err(AppError::bad_request(
            "api.command.team_mismatch.app_error",
            "A command moves to another team through POST /commands/{id}/move.",
        ));
    }
    let fields = checked_fields(input)?;
    match state.store.update_command(&cmd.id, &fields).await {
        Ok(Some(c)) => Ok(ok(&c)),
        Ok(None) => Err(not_found()),
        Err(e) if e.unique_violation().is_some() => Err(taken()),
        Err(e) => Err(e.into()),
    }
}

async fn delete_command(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    enabled(&state)?;
    let cmd = managed(&state, &auth, &path).await?;
    if !state.store.delete_command(&cmd.id).await? {
        return Err(not_found());
    }
    slog::info!(state.log, "slash command deleted"; "command_id" => &cmd.id, "user_id" => auth.user_id());
    crate::audit::record(&state, &auth, "deleteCommand", json!({"id": cmd.id, "team_id": cmd.team_id}));
    Ok(status_ok())
}

async fn regen_token(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    enabled(&state)?;
    let cmd = managed(&state, &auth, &path).await?;
    let cmd = state.store.regen_command_token(&cmd.id).await?.ok_or_else(not_found)?;
    crate::audit::record(&state, &auth, "regenCommandToken", json!({"id": cmd.id}));
    Ok(ok(&json!({"token": cmd.token})))
}

#[derive(Deserialize)]
struct MoveInput {
    team_id: Option<String>,
}

async fn move_command(
    state: State,
    auth: Auth,
    path: web::Path<String>,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    enabled(&state)?;
    let input: MoveInput = read_json(&state, body).await?;
    let team_id = input.team_id.unwrap_or_default();
    id_param("team_id", &team_id)?;
    state.store.team(&team_id).await?.ok_or_else(|| AppError::not_found("team"))?;
    permissions::require(may_manage_own(&state, &auth, &team_id).await?)?;
    let cmd = managed(&state, &auth, &path).await?;
    match state.store.move_command(&cmd.id, &team_id).await {
        Ok(Some(_)) => Ok(status_ok()),
        Ok(None) => Err(not_found()),
        Err(e) if e.unique_violation().is_some() => Err(taken()),
        Err(e) => Err(e.into()),
    }
}

/// Why a command's call failed, as the caller sees it (the reason names no secret).
fn call_failed(trigger: &str, why: impl std::fmt::Display) -> AppError {
    AppError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "api.command.execute_command.failed.app_error",
        format!("Command with a trigger of '/{trigger}' failed: {why}."),
    )
}

/// Run the team's custom command `args.trigger`, if it has one (and custom commands are on):
/// call its URL with Mattermost's fields and read its answer. Its username and icon, when set,
/// win over the answer's.
/// `site_url` is where the node is reached (the command's `response_url` is under it).
pub(super) async fn execute(
    state: &State,
    auth: &Auth,
    channel: &Channel,
    args: &CommandArgs,
    site_url: &str,
) -> ApiResult<Option<CommandResponse>> {
    if !state.config().service_settings.enable_commands || args.team_id.is_empty() {
        return Ok(None);
    }
    let Some(cmd) = state.store.command_by_trigger(&args.team_id, &args.trigger).await? else { return Ok(None) };
    let team = state.store.team(&cmd.team_id).await?.ok_or_else(|| AppError::not_found("team"))?;
    let user = state.store.user(auth.user_id()).await?.ok_or_else(|| AppError::not_found("user"))?;
    // Where the integration may answer later (a few times, for a while): see command_webhooks.
    let later = state.store.create_command_webhook(&cmd.id, &user.id, &channel.id, &args.root_id).await?;
    let response_url = super::command_webhooks::response_url(site_url, &later.id);
    let fields: Vec<(String, String)> = [
        ("token", cmd.token.as_str()),
        ("team_id", team.id.as_str()),
        ("team_domain", team.name.as_str()),
        ("channel_id", channel.id.as_str()),
        ("channel_name", channel.name.as_str()),
        ("user_id", user.id.as_str()),
        ("user_name", user.username.as_str()),
        ("command", &format!("/{}", args.trigger)),
        ("text", args.args.as_str()),
        ("trigger_id", &starling_protocol::new_id()),
        ("response_url", response_url.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let mut req = if cmd.method == "G" {
        let mut r = OutboundRequest::new(reqwest::Method::GET, &cmd.url);
        r.query = fields;
        r
    } else {
        let mut r = OutboundRequest::new(reqwest::Method::POST, &cmd.url);
        r.content_type = "application/x-www-form-urlencoded".into();
        r.body = Some(serde_urlencoded::to_string(&fields).map_err(AppError::internal)?.into_bytes());
        r
    };
    req.headers =
        vec![("Authorization".into(), format!("Token {}", cmd.token)), ("Accept".into(), "application/json".into())];
    let reply = state.outbound.send(req).await.map_err(|e| {
        slog::info!(state.log, "slash command call failed"; "command_id" => &cmd.id, "error" => %e);
        call_failed(&args.trigger, e)
    })?;
    if reply.status != 200 {
        return Err(call_failed(&args.trigger, format!("its URL answered with status {}", reply.status)));
    }
    let mut response = CommandResponse::from_http_body(&reply.content_type, &reply.body)
        .map_err(|why| call_failed(&args.trigger, why))?;
    if !cmd.username.is_empty() {
        response.username = cmd.username.clone();
    }
    if !cmd.icon_url.is_empty() {
        response.icon_url = cmd.icon_url.clone();
    }
    Ok(Some(response))
}
