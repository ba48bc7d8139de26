//! A custom slash command's `response_url`: `POST /hooks/commands/{token}` (outside `/api/v4`, no
//! session: the token is the secret). Each run of a command gets one (Mattermost's
//! CommandWebhook: `{SiteURL}/hooks/commands/{id}`), kept in the database so any node answers it,
//! usable [`COMMAND_WEBHOOK_MAX_USES`] times within
//! [`crate::store::COMMAND_WEBHOOK_LIFETIME_MS`] of the run.
//! The body is a command response (JSON, or plain text), shown as the command's immediate answer
//! would be: `in_channel` posted in the command's channel (or thread) as the user who ran it, with
//! the command's name and icon; `ephemeral` (the default) to that user alone.

use super::commands::{respond, Answerer, Caller};
use super::State;
use crate::commands::CommandResponse;
use crate::error::{ApiResult, AppError};
use crate::store::{CommandWebhookRefusal, COMMAND_WEBHOOK_MAX_USES};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

/// `POST /hooks/commands/{token}`, outside `/api/v4`.
pub fn configure_public(cfg: &mut web::ServiceConfig) {
    cfg.route("/hooks/commands/{token}", web::post().to(execute));
}

/// The response URL of one run.
pub fn response_url(site_url: &str, id: &str) -> String {
    format!("{}/hooks/commands/{id}", site_url.trim_end_matches('/'))
}

fn missing() -> AppError {
    AppError::new(StatusCode::NOT_FOUND, "app.command_webhook.get.missing", "The response URL is unknown or expired.")
}

fn parse_error(detail: impl Into<String>) -> AppError {
    AppError::bad_request("web.command_webhook.parse.app_error", "Unable to parse incoming data.").detail(detail)
}

/// `POST /hooks/commands/{token}`: `ok` (text/plain) once the answer is shown.
async fn execute(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    if !state.config().service_settings.enable_commands {
        return Err(super::custom_commands::disabled());
    }
    let body = super::incoming_hooks::read_body(&state, body).await?;
    if !starling_protocol::id::is_valid_id(&path) {
        return Err(missing());
    }
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if super::json_has_nul(&body) {
        return Err(parse_error("the body contains a NUL character"));
    }
    let mut response = CommandResponse::from_http_body(content_type, &body).map_err(parse_error)?;
    let hook = match state.store.use_command_webhook(&path).await? {
        Ok(h) => h,
        Err(CommandWebhookRefusal::Missing) => return Err(missing()),
        Err(CommandWebhookRefusal::UsedUp) => {
            return Err(AppError::bad_request(
                "app.command_webhook.try_use.invalid",
                format!("The response URL was used {COMMAND_WEBHOOK_MAX_USES} times already."),
            ))
        }
    };
    let cmd = state.store.command(&hook.command_id).await?.ok_or_else(missing)?;
    let channel = state.store.channel(&hook.channel_id).await?.filter(|c| c.delete_at == 0).ok_or_else(missing)?;
    let user = state.store.user(&hook.user_id).await?.filter(|u| u.delete_at == 0).ok_or_else(missing)?;
    if !cmd.username.is_empty() {
        response.username = cmd.username.clone();
    }
    if !cmd.icon_url.is_empty() {
        response.icon_url = cmd.icon_url.clone();
    }
    respond(&state, Caller::User(&user.id), &channel, &hook.root_id, &response, Answerer::Integration).await?;
    Ok(HttpResponse::Ok().content_type("text/plain").body("ok"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn response_urls_are_under_the_site() {
        assert_eq!(
            super::response_url("https://chat.example.com/", "abc"),
            "https://chat.example.com/hooks/commands/abc"
        );
    }
}
