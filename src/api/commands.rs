//! Slash commands: `POST /commands/execute` (built-in, registered and custom commands, in that
//! order), the autocomplete list (`GET /teams/{team_id}/commands/autocomplete`) and the
//! suggestions the clients ask for on each keystroke after `/`.

use super::command_builtins::{self, Place};
use super::posts::{write_post, NewDraft};
use super::{member_team, ok, postable_channel, read_json, Auth, State};
use crate::commands::{is_built_in, parse, CommandArgs, CommandError, CommandResponse, BUILT_IN};
use crate::error::{ApiResult, AppError};
use crate::store::Channel;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/commands/execute", web::post().to(execute))
        .route("/teams/{team_id}/commands/autocomplete", web::get().to(autocomplete))
        .route("/teams/{team_id}/commands/autocomplete_suggestions", web::get().to(suggestions));
}

#[derive(Deserialize)]
struct Execute {
    command: Option<String>,
    channel_id: Option<String>,
    #[serde(default)]
    team_id: String,
    #[serde(default)]
    root_id: String,
    #[serde(default)]
    parent_id: String,
}

/// Who answers a command, and so how its answer is posted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Answerer {
    /// A built-in, an extension or a plugin: its posts are the caller's own.
    Node,
    /// A custom command: its posts carry `from_webhook` and may override name and icon.
    Integration,
}

async fn execute(state: State, auth: Auth, req: HttpRequest, body: web::Payload) -> ApiResult<HttpResponse> {
    let input: Execute = read_json(&state, body).await?;
    let command = input.command.filter(|c| !c.trim().is_empty()).ok_or_else(|| AppError::invalid_param("command"))?;
    let channel_id = input.channel_id.ok_or_else(|| AppError::invalid_param("channel_id"))?;
    let channel = postable_channel(&state, &auth, &channel_id).await?;
    let (trigger, args) = parse(&command).ok_or_else(|| AppError::invalid_param("command"))?;
    let root_id = if input.root_id.is_empty() { input.parent_id } else { input.root_id };
    if !root_id.is_empty() {
        super::id_param("root_id", &root_id)?;
    }
    // A direct message has no team: the one the client is in is where `goto_location` points.
    let team_id = if channel.team_id.is_empty() { input.team_id } else { channel.team_id.clone() };
    if !team_id.is_empty() {
        super::id_param("team_id", &team_id)?;
    }
    if is_built_in(&trigger) {
        let at = Place { channel: &channel, team_id: &team_id, root_id: &root_id };
        let response = command_builtins::run(&state, &auth, &at, &trigger, &args).await?;
        respond(&state, Caller::Session(&auth), &channel, &root_id, &response, Answerer::Node).await?;
        return Ok(ok(&response));
    }
    let call = CommandArgs {
        command: command.clone(),
        trigger: trigger.clone(),
        args,
        user_id: auth.user_id().to_owned(),
        channel_id: channel.id.clone(),
        team_id: team_id.clone(),
        root_id: root_id.clone(),
    };
    let site = super::site_url(&state, &req);
    let (response, answerer) = match state.commands.execute(call.clone()).await {
        Ok(r) => (r, Answerer::Node),
        Err(CommandError::NotFound) => {
            match super::custom_commands::execute(&state, &auth, &channel, &call, &site).await? {
                Some(r) => (r, Answerer::Integration),
                None => {
                    return Err(AppError::new(
                        StatusCode::NOT_FOUND,
                        "api.command.execute_command.not_found.app_error",
                        format!("Command with a trigger of '/{trigger}' not found."),
                    ))
                }
            }
        }
        Err(CommandError::Failed(why)) => {
            return Err(AppError::internal(why).with_message(format!("Command with a trigger of '/{trigger}' failed.")))
        }
    };
    respond(&state, Caller::Session(&auth), &channel, &root_id, &response, answerer).await?;
    Ok(ok(&response))
}

/// Who ran a command: the request's session, or (for a `response_url`, answered later without
/// one) the user alone.
#[derive(Clone, Copy)]
pub(super) enum Caller<'a> {
    Session(&'a Auth),
    User(&'a str),
}

impl Caller<'_> {
    fn user_id(&self) -> &str {
        match self {
            Caller::Session(auth) => auth.user_id(),
            Caller::User(id) => id,
        }
    }

    /// Another channel an answer names, if the caller may post there.
    async fn postable(&self, state: &State, channel_id: &str) -> ApiResult<Channel> {
        match self {
            Caller::Session(auth) => postable_channel(state, auth, channel_id).await,
            Caller::User(user_id) => {
                super::id_param("channel_id", channel_id)?;
                let (channel, roles) = state
                    .store
                    .channel_with_membership(channel_id, user_id)
                    .await?
                    .ok_or_else(|| AppError::not_found("channel"))?;
                let may = roles.as_deref().is_some_and(|r| super::permissions::roles_grant(r, "create_post"));
                super::permissions::require(may && channel.delete_at == 0)?;
                Ok(channel)
            }
        }
    }
}

/// Show a command's answer, and each of its `extra_responses`: posted in the channel
/// (`in_channel`, or a channel of the answer's `channel_id` the caller may post in) or sent to
/// the caller alone (`ephemeral`, the default).
pub(super) async fn respond(
    state: &State,
    caller: Caller<'_>,
    channel: &Channel,
    root_id: &str,
    response: &CommandResponse,
    answerer: Answerer,
) -> ApiResult<()> {
    for r in std::iter::once(response).chain(response.extra_responses.iter()) {
        if r.text.is_empty() && r.attachments.is_empty() {
            continue;
        }
        let target = if r.channel_id.is_empty() || r.channel_id == channel.id {
            channel.clone()
        } else {
            caller.postable(state, &r.channel_id).await?
        };
        let root_id = if target.id == channel.id { root_id } else { "" };
        if !r.is_in_channel() {
            state.events.ephemeral_message(caller.user_id(), &target.id, root_id, &r.text);
            continue;
        }
        let draft = NewDraft {
            user_id: caller.user_id().to_owned(),
            props: Value::Object(answer_props(state, r, answerer)),
            channel: target,
            root_id: root_id.to_owned(),
            message: r.text.clone(),
            file_ids: vec![],
            post_type: r.post_type.clone(),
            pending_post_id: String::new(),
        };
        write_post(state, draft).await?;
    }
    Ok(())
}

/// The props of a post made from an answer: its own props and attachments, and for an
/// integration `from_webhook` and the name and icon overrides the config allows.
fn answer_props(state: &State, r: &CommandResponse, answerer: Answerer) -> serde_json::Map<String, Value> {
    let mut props = r.props.clone();
    if !r.attachments.is_empty() {
        props.insert("attachments".into(), Value::Array(r.attachments.clone()));
    }
    if answerer == Answerer::Integration {
        let s = state.config().service_settings;
        props.insert("from_webhook".into(), json!("true"));
        if s.enable_post_username_override && !r.username.is_empty() {
            props.insert("override_username".into(), json!(r.username));
        }
        if s.enable_post_icon_override && !r.icon_url.is_empty() {
            props.insert("override_icon_url".into(), json!(r.icon_url));
        }
    }
    props
}

/// One entry of the autocomplete list, as Mattermost's Command object.
pub(super) fn listed(team_id: &str, trigger: &str, description: &str, hint: &str) -> Value {
    json!({
        "id": "", "token": "", "create_at": 0, "update_at": 0, "delete_at": 0, "creator_id": "",
        "team_id": team_id, "trigger": trigger, "method": "P", "username": "", "icon_url": "",
        "auto_complete": true, "auto_complete_desc": description, "auto_complete_hint": hint,
        "display_name": trigger, "description": description, "url": "",
    })
}

/// What autocomplete offers in a team: (trigger, description, hint), by trigger.
async fn offered(state: &State, team_id: &str) -> ApiResult<Vec<(String, String, String)>> {
    let mut all: Vec<(String, String, String)> =
        BUILT_IN.iter().map(|(t, d, h)| (t.to_string(), d.to_string(), h.to_string())).collect();
    all.extend(state.commands.list().into_iter().map(|c| (c.trigger, c.description, c.hint)));
    for c in state.store.team_commands(team_id).await? {
        if c.auto_complete {
            all.push((c.trigger, c.auto_complete_desc, c.auto_complete_hint));
        }
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all.dedup_by(|a, b| a.0 == b.0);
    Ok(all)
}

/// The commands the team's autocomplete lists, as Mattermost's Command objects.
async fn autocomplete(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let team = member_team(&state, &auth, &path).await?;
    let list: Vec<Value> = offered(&state, &team.id).await?.iter().map(|(t, d, h)| listed(&team.id, t, d, h)).collect();
    Ok(ok(&list))
}

#[derive(Deserialize)]
struct SuggestionsQuery {
    user_input: Option<String>,
}

/// `GET /teams/{team_id}/commands/autocomplete_suggestions?user_input=/ec`: the commands whose
/// trigger starts with what was typed (Mattermost's AutocompleteSuggestion, capitalised keys).
/// Past the trigger (a space typed) there is nothing to suggest: no command here describes its
/// arguments.
async fn suggestions(
    state: State,
    auth: Auth,
    path: web::Path<String>,
    q: super::Query<SuggestionsQuery>,
) -> ApiResult<HttpResponse> {
    let team = member_team(&state, &auth, &path).await?;
    let input = q.user_input.clone().filter(|s| !s.is_empty()).ok_or_else(|| AppError::invalid_param("user_input"))?;
    let typed = input.strip_prefix('/').unwrap_or(&input).to_lowercase();
    if typed.contains(char::is_whitespace) || input.len() > 1024 {
        return Ok(ok(&Vec::<Value>::new()));
    }
    let list: Vec<Value> = offered(&state, &team.id)
        .await?
        .into_iter()
        .filter(|(t, _, _)| t.starts_with(&typed))
        .map(|(t, d, h)| json!({"Complete": t, "Suggestion": format!("/{t}"), "Hint": h, "Description": d, "IconData": ""}))
        .collect();
    Ok(ok(&list))
}
