//! Slash commands: `POST /commands/execute` for the commands extensions and plugins register, and
//! the autocomplete list (`GET /teams/{team_id}/commands/autocomplete`).

use super::posts::{write_post, NewDraft};
use super::{member_team, ok, postable_channel, read_json, Auth, State};
use crate::commands::{parse, CommandArgs, CommandError};
use crate::error::{ApiResult, AppError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/commands/execute", web::post().to(execute))
        .route("/teams/{team_id}/commands/autocomplete", web::get().to(autocomplete));
}

#[derive(Deserialize)]
struct Execute {
    command: Option<String>,
    channel_id: Option<String>,
    #[serde(default)]
    root_id: String,
    #[serde(default)]
    parent_id: String,
}

async fn execute(state: State, auth: Auth, body: web::Payload) -> ApiResult<HttpResponse> {
    let input: Execute = read_json(&state, body).await?;
    let command = input.command.filter(|c| !c.trim().is_empty()).ok_or_else(|| AppError::invalid_param("command"))?;
    let channel_id = input.channel_id.ok_or_else(|| AppError::invalid_param("channel_id"))?;
    let channel = postable_channel(&state, &auth, &channel_id).await?;
    let (trigger, args) = parse(&command).ok_or_else(|| AppError::invalid_param("command"))?;
    let root_id = if input.root_id.is_empty() { input.parent_id } else { input.root_id };
    if !root_id.is_empty() {
        super::id_param("root_id", &root_id)?;
    }
    let call = CommandArgs {
        command: command.clone(),
        trigger: trigger.clone(),
        args,
        user_id: auth.user_id().to_owned(),
        channel_id: channel.id.clone(),
        team_id: channel.team_id.clone(),
        root_id: root_id.clone(),
    };
    let response = match state.commands.execute(call).await {
        Ok(r) => r,
        Err(CommandError::NotFound) => {
            return Err(AppError::new(
                StatusCode::NOT_FOUND,
                "api.command.execute_command.not_found.app_error",
                format!("Command with a trigger of '/{trigger}' not found."),
            ))
        }
        Err(CommandError::Failed(why)) => {
            return Err(AppError::internal(why).with_message(format!("Command with a trigger of '/{trigger}' failed.")))
        }
    };
    if !response.text.is_empty() {
        if response.is_in_channel() {
            let draft = NewDraft {
                user_id: auth.user_id().to_owned(),
                channel,
                root_id,
                message: response.text.clone(),
                props: json!({}),
                file_ids: vec![],
                post_type: String::new(),
                pending_post_id: String::new(),
            };
            write_post(&state, draft).await?;
        } else {
            state.events.ephemeral_message(auth.user_id(), &channel.id, &root_id, &response.text);
        }
    }
    Ok(ok(&response))
}

/// The registered commands, as Mattermost's Command objects (what the web app's autocomplete
/// lists).
async fn autocomplete(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let team = member_team(&state, &auth, &path).await?;
    let list: Vec<_> = state
        .commands
        .list()
        .into_iter()
        .map(|c| {
            json!({
                "id": "", "token": "", "create_at": 0, "update_at": 0, "delete_at": 0, "creator_id": "",
                "team_id": team.id, "trigger": c.trigger, "method": "P", "username": "", "icon_url": "",
                "auto_complete": true, "auto_complete_desc": c.description, "auto_complete_hint": c.hint,
                "display_name": c.trigger, "description": c.description, "url": "",
            })
        })
        .collect();
    Ok(ok(&list))
}
