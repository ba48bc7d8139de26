//! The built-in slash commands ([`crate::commands::BUILT_IN`]), answered as Mattermost answers
//! them: `/me`, `/shrug` and `/echo` post in the channel; the others act as the caller through the
//! same helpers the API uses (so the same permissions hold) and answer with an ephemeral text or
//! a place to go. What the caller may not do, or names wrongly, is an ephemeral reply, not an
//! HTTP error.

use super::posts::{write_post, NewDraft};
use super::{Auth, State};
use crate::commands::CommandResponse;
use crate::error::{ApiResult, AppError};
use crate::store::{Channel, ChannelPatch, User};
use serde_json::json;
use starling_actors::presence::SetStatus;
use starling_protocol::UserId;
use std::time::Duration;
use tokio::sync::Semaphore;

/// The longest `/echo` delay Mattermost accepts, in seconds.
const ECHO_DELAY_MAX: u64 = 10_000;
/// Delayed `/echo`s one node holds at once; past this one is refused with an ephemeral reply.
const ECHO_DELAYED_MAX: usize = 20;
static ECHO_DELAYED: Semaphore = Semaphore::const_new(ECHO_DELAYED_MAX);

/// Where a command was typed.
pub(super) struct Place<'a> {
    pub channel: &'a Channel,
    /// The channel's team, or the team the client was in (for a direct message).
    pub team_id: &'a str,
    pub root_id: &'a str,
}

/// Run built-in `trigger` with `args`. A refusal the caller can act on (a 4xx) is an ephemeral
/// reply; a failure of the server stays an error.
pub(super) async fn run(
    state: &State,
    auth: &Auth,
    at: &Place<'_>,
    trigger: &str,
    args: &str,
) -> ApiResult<CommandResponse> {
    let result = match trigger {
        "me" => Ok(me(args)),
        "shrug" => Ok(shrug(args)),
        "echo" => echo(state, auth, at, args).await,
        "join" => join(state, auth, at, args).await,
        "leave" => leave(state, auth, at).await,
        "msg" => msg(state, auth, at, args).await,
        "header" | "purpose" => edit_channel(state, auth, at, trigger, args).await,
        "away" | "online" | "offline" | "dnd" => set_status(state, auth, trigger).await,
        "invite" => invite(state, auth, at, args).await,
        "kick" | "remove" => kick(state, auth, at, args).await,
        "mute" => mute(state, auth, at, args).await,
        "logout" => logout(state, auth).await,
        _ => Err(AppError::internal(format!("no built-in command {trigger}"))),
    };
    match result {
        Err(e) if e.status.is_client_error() => Ok(CommandResponse::ephemeral(e.message)),
        other => other,
    }
}

/// A refusal shown to the caller.
fn refuse(message: impl Into<String>) -> AppError {
    AppError::bad_request("api.command.execute_command.app_error", message)
}

fn me(args: &str) -> CommandResponse {
    let mut r = CommandResponse::in_channel(format!("*{args}*"));
    r.post_type = "me".into();
    r.props.insert("message".into(), json!(args));
    r
}

fn shrug(args: &str) -> CommandResponse {
    // Escaped for Markdown, so it renders as ¯\_(ツ)_/¯.
    let shrug = r"¯\\\_(ツ)\_/¯";
    CommandResponse::in_channel(if args.is_empty() { shrug.to_owned() } else { format!("{args} {shrug}") })
}

/// `/echo "message" [delay]` or `/echo message [delay]`: the message and the delay in seconds.
fn echo_parts(args: &str) -> (String, u64) {
    if let Some(end) = args.rfind('"').filter(|&e| args.starts_with('"') && e > 1) {
        let delay = args[end + 1..].trim().parse().unwrap_or(0);
        return (args[1..end].to_owned(), delay);
    }
    if let Some((message, last)) = args.rsplit_once(' ') {
        if let Ok(delay) = last.trim().parse() {
            return (message.trim_end().to_owned(), delay);
        }
    }
    (args.to_owned(), 0)
}

async fn echo(state: &State, auth: &Auth, at: &Place<'_>, args: &str) -> ApiResult<CommandResponse> {
    if args.is_empty() {
        return Err(refuse("A message must be provided with the /echo command."));
    }
    let (message, delay) = echo_parts(args);
    if delay > ECHO_DELAY_MAX {
        return Err(refuse(format!("Delays must be under {ECHO_DELAY_MAX} seconds.")));
    }
    if delay == 0 {
        return Ok(CommandResponse::in_channel(message));
    }
    let Ok(permit) = ECHO_DELAYED.try_acquire() else {
        return Err(refuse("Too many delayed echoes are waiting on this server; try again later."));
    };
    let (state, user_id, channel, root_id) =
        (state.clone(), auth.user_id().to_owned(), at.channel.clone(), at.root_id.to_owned());
    actix_web::rt::spawn(async move {
        // Held until the echo is posted (or the task is dropped).
        let _permit = permit;
        tokio::time::sleep(Duration::from_secs(delay)).await;
        let draft = NewDraft {
            user_id: user_id.clone(),
            channel,
            root_id,
            message,
            props: json!({}),
            file_ids: vec![],
            post_type: String::new(),
            pending_post_id: String::new(),
        };
        if let Err(e) = write_post(&state, draft).await {
            slog::warn!(state.log, "delayed echo not posted"; "user_id" => user_id, "error" => %e);
        }
    });
    Ok(CommandResponse::default())
}

/// The first word of `args` without `prefix` (`@` or `~`), lower-cased, and the rest.
fn first_word(args: &str, prefix: char) -> (String, String) {
    let (word, rest) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
    (word.trim_start_matches(prefix).to_lowercase(), rest.trim().to_owned())
}

async fn user_named(state: &State, name: &str) -> ApiResult<User> {
    let not_found = || refuse(format!("We couldn't find the user @{name}."));
    if name.is_empty() || name.len() > 64 {
        return Err(not_found());
    }
    state.store.user_by_username(name).await?.filter(|u| u.delete_at == 0).ok_or_else(not_found)
}

/// The channel `~name` of the team, if the caller may see it (open, or a member).
async fn channel_named(state: &State, auth: &Auth, team_id: &str, name: &str) -> ApiResult<Channel> {
    let not_found = || refuse(format!("We couldn't find the channel ~{name}."));
    if name.is_empty() || name.len() > 64 || team_id.is_empty() {
        return Err(not_found());
    }
    let ch = state.store.channel_by_name(team_id, name).await?.filter(|c| c.delete_at == 0).ok_or_else(not_found)?;
    if !ch.is_open() && state.store.channel_member(&ch.id, auth.user_id()).await?.is_none() && !auth.is_admin() {
        return Err(not_found());
    }
    Ok(ch)
}

/// `{SiteURL}/{team}` (relative without a SiteURL), where `goto_location` points.
async fn team_url(state: &State, team_id: &str) -> ApiResult<String> {
    let team = state.store.team(team_id).await?.ok_or_else(|| AppError::not_found("team"))?;
    let site = state.config().service_settings.site_url;
    Ok(format!("{}/{}", site.trim_end_matches('/'), team.name))
}

async fn join(state: &State, auth: &Auth, at: &Place<'_>, args: &str) -> ApiResult<CommandResponse> {
    let (name, _) = first_word(args, '~');
    let ch = channel_named(state, auth, at.team_id, &name).await?;
    if state.store.channel_member(&ch.id, auth.user_id()).await?.is_none() {
        super::channels::add_to_channel(state, auth, &ch, auth.user_id()).await?;
    }
    Ok(CommandResponse::goto(format!("{}/channels/{}", team_url(state, &ch.team_id).await?, ch.name)))
}

async fn leave(state: &State, auth: &Auth, at: &Place<'_>) -> ApiResult<CommandResponse> {
    super::channels::remove_from_channel(state, auth, at.channel, auth.user_id()).await?;
    if at.team_id.is_empty() {
        return Ok(CommandResponse::default());
    }
    Ok(CommandResponse::goto(format!("{}/channels/town-square", team_url(state, at.team_id).await?)))
}

async fn msg(state: &State, auth: &Auth, at: &Place<'_>, args: &str) -> ApiResult<CommandResponse> {
    let (name, message) = first_word(args, '@');
    if name.is_empty() {
        return Err(refuse("A user must be given: /msg @username [message]."));
    }
    let user = user_named(state, &name).await?;
    super::permissions::require(auth.has_permission("create_direct_channel"))?;
    let (channel, is_new) = state.store.direct_channel(auth.user_id(), &user.id).await?;
    if is_new {
        state.events.direct_added(&channel, auth.user_id(), &user.id);
    }
    if !message.is_empty() {
        let draft = NewDraft {
            user_id: auth.user_id().to_owned(),
            channel,
            root_id: String::new(),
            message,
            props: json!({}),
            file_ids: vec![],
            post_type: String::new(),
            pending_post_id: String::new(),
        };
        write_post(state, draft).await?;
    }
    if at.team_id.is_empty() {
        return Ok(CommandResponse::default());
    }
    Ok(CommandResponse::goto(format!("{}/messages/@{}", team_url(state, at.team_id).await?, user.username)))
}

async fn edit_channel(
    state: &State,
    auth: &Auth,
    at: &Place<'_>,
    field: &str,
    args: &str,
) -> ApiResult<CommandResponse> {
    if args.is_empty() {
        return Err(refuse(format!("Text must be provided with the /{field} command.")));
    }
    let mut patch = ChannelPatch { name: None, display_name: None, header: None, purpose: None };
    if field == "header" {
        patch.header = Some(args.to_owned());
    } else {
        patch.purpose = Some(args.to_owned());
    }
    super::channel_edits::patch(state, auth, at.channel.clone(), patch).await?;
    Ok(CommandResponse::default())
}

async fn set_status(state: &State, auth: &Auth, status: &str) -> ApiResult<CommandResponse> {
    state
        .presence
        .send(SetStatus { user_id: UserId::from(auth.user_id().to_owned()), status: status.to_owned(), manual: true })
        .await
        .map_err(AppError::internal)?
        .map_err(AppError::internal)?;
    Ok(CommandResponse::ephemeral(match status {
        "away" => "You are now away.",
        "online" => "You are now online.",
        "offline" => "You are now offline.",
        _ => "Do Not Disturb is on: you get no desktop or push notifications until you turn it off.",
    }))
}

async fn invite(state: &State, auth: &Auth, at: &Place<'_>, args: &str) -> ApiResult<CommandResponse> {
    let (name, rest) = first_word(args, '@');
    if name.is_empty() {
        return Err(refuse("A user must be given: /invite @username [~channel]."));
    }
    let user = user_named(state, &name).await?;
    let (channel_name, _) = first_word(&rest, '~');
    let ch = if channel_name.is_empty() {
        at.channel.clone()
    } else {
        channel_named(state, auth, at.team_id, &channel_name).await?
    };
    if state.store.channel_member(&ch.id, &user.id).await?.is_some() {
        return Err(refuse(format!("@{} is already in ~{}.", user.username, ch.name)));
    }
    super::channels::add_to_channel(state, auth, &ch, &user.id).await?;
    Ok(CommandResponse::ephemeral(format!("@{} added to ~{}.", user.username, ch.name)))
}

async fn kick(state: &State, auth: &Auth, at: &Place<'_>, args: &str) -> ApiResult<CommandResponse> {
    let (name, _) = first_word(args, '@');
    if name.is_empty() {
        return Err(refuse("A user must be given: /kick @username."));
    }
    let user = user_named(state, &name).await?;
    if state.store.channel_member(&at.channel.id, &user.id).await?.is_none() {
        return Err(refuse(format!("@{} is not a member of this channel.", user.username)));
    }
    super::channels::remove_from_channel(state, auth, at.channel, &user.id).await?;
    Ok(CommandResponse::default())
}

async fn mute(state: &State, auth: &Auth, at: &Place<'_>, args: &str) -> ApiResult<CommandResponse> {
    let (channel_name, _) = first_word(args, '~');
    let ch = if channel_name.is_empty() {
        at.channel.clone()
    } else {
        channel_named(state, auth, at.team_id, &channel_name).await?
    };
    let member = state
        .store
        .channel_member(&ch.id, auth.user_id())
        .await?
        .ok_or_else(|| refuse(format!("You are not a member of ~{}.", ch.name)))?;
    let muted = member.notify_props.get("mark_unread").and_then(|v| v.as_str()) == Some("mention");
    let props = json!({"mark_unread": if muted { "all" } else { "mention" }});
    let m = state
        .store
        .merge_member_notify_props(&ch.id, auth.user_id(), &props)
        .await?
        .ok_or_else(|| AppError::not_found("channel member"))?;
    state.events.channel_member_updated(&m);
    let shown = if ch.display_name.is_empty() { ch.name.clone() } else { ch.display_name.clone() };
    Ok(CommandResponse::ephemeral(if muted {
        format!("{shown} is no longer muted.")
    } else {
        format!("You muted {shown}: no desktop, email or push notifications for it unless you are mentioned.")
    }))
}

async fn logout(state: &State, auth: &Auth) -> ApiResult<CommandResponse> {
    let session_id = auth.session.id.as_str().to_owned();
    let delete = async { state.store.delete_session(&session_id).await.map_err(AppError::from) };
    super::sessions::revoke_tokens_with(state, vec![auth.session.token.clone()], delete).await?;
    Ok(CommandResponse::goto("/login"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_reads_quotes_and_a_delay() {
        assert_eq!(echo_parts("\"hello there\" 5"), ("hello there".into(), 5));
        assert_eq!(echo_parts("hello there 5"), ("hello there".into(), 5));
        assert_eq!(echo_parts("hello there"), ("hello there".into(), 0));
        assert_eq!(echo_parts("\"\""), ("\"\"".into(), 0));
    }

    #[test]
    fn me_and_shrug_answer_in_the_channel() {
        let r = me("waves");
        assert_eq!((r.text.as_str(), r.post_type.as_str(), r.is_in_channel()), ("*waves*", "me", true));
        assert_eq!(r.props["message"], "waves");
        assert_eq!(shrug("ok").text, r"ok ¯\\\_(ツ)\_/¯");
    }
}
