//! Slash commands. `POST /api/v4/commands/execute` runs, in this order (Mattermost's): a built-in
//! command ([`BUILT_IN`], answered by the API itself), a command an extension or plugin registered
//! here (its owner is asked within [`COMMAND_DEADLINE`]), or a team's custom command (its URL is
//! called through [`crate::outbound`]). The answer is posted in the channel (`in_channel`) or
//! shown to the caller alone (`ephemeral`, the `ephemeral_message` event to that user's sessions
//! on every node).

use actix::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::RwLock;
use std::time::Duration;

/// How long a command's owner may take to answer.
pub const COMMAND_DEADLINE: Duration = Duration::from_secs(3);

/// A command as its owner describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandSpec {
    /// Without the slash, lower case.
    pub trigger: String,
    #[serde(default)]
    pub description: String,
    /// Shown after the trigger in autocomplete, e.g. `[text]`.
    #[serde(default)]
    pub hint: String,
}

/// What a command is called with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandArgs {
    /// The whole text, slash included.
    pub command: String,
    pub trigger: String,
    /// What follows the trigger.
    pub args: String,
    pub user_id: String,
    pub channel_id: String,
    pub team_id: String,
    pub root_id: String,
}

/// Built-in commands: trigger, description, hint. The API answers them
/// (`api::command_builtins`); nobody may register these triggers.
pub const BUILT_IN: &[(&str, &str, &str)] = &[
    ("away", "Set your status away", ""),
    ("dnd", "Do not disturb: no desktop or push notifications", ""),
    ("echo", "Echo back text from your account", "'message'"),
    ("header", "Edit the channel header", "[text]"),
    ("invite", "Invite a user to a channel", "@[username] ~[channel]"),
    ("join", "Join the open channel", "~[channel]"),
    ("kick", "Remove a member from the channel", "@[username]"),
    ("leave", "Leave the current channel", ""),
    ("logout", "Log out", ""),
    ("me", "Do an action", "[message]"),
    ("msg", "Send a direct message to a user", "@[username] [message]"),
    ("mute", "Turn off desktop, email and push notifications for the current channel or the one given", "~[channel]"),
    ("offline", "Set your status offline", ""),
    ("online", "Set your status online", ""),
    ("purpose", "Edit the channel purpose", "[text]"),
    ("remove", "Remove a member from the channel", "@[username]"),
    ("shrug", "Adds ¯\\_(ツ)_/¯ to your message", "[message]"),
];

/// Whether `trigger` names a built-in command.
pub fn is_built_in(trigger: &str) -> bool {
    BUILT_IN.iter().any(|(t, _, _)| *t == trigger)
}

/// Mattermost's CommandResponse, as commands answer it (JSON, snake_case).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CommandResponse {
    /// `ephemeral` (the default) or `in_channel`.
    #[serde(default)]
    pub response_type: String,
    #[serde(default)]
    pub text: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub channel_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub icon_url: String,
    /// The post's type (`me` for /me).
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub post_type: String,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub props: serde_json::Map<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub goto_location: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub trigger_id: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_slack_parsing: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_responses: Vec<CommandResponse>,
}

impl CommandResponse {
    pub fn ephemeral(text: impl Into<String>) -> Self {
        Self { response_type: "ephemeral".into(), text: text.into(), ..Default::default() }
    }
    pub fn in_channel(text: impl Into<String>) -> Self {
        Self { response_type: "in_channel".into(), text: text.into(), ..Default::default() }
    }
    /// Only a move to another place (`/join`, `/logout`).
    pub fn goto(location: impl Into<String>) -> Self {
        Self { goto_location: location.into(), ..Default::default() }
    }
    /// An integration's HTTP answer: a CommandResponse when it is JSON, else the body as the
    /// text of an ephemeral answer (as Mattermost reads it).
    pub fn from_http_body(content_type: &str, body: &[u8]) -> Result<Self, String> {
        let essence = content_type.split(';').next().unwrap_or("").trim();
        if essence.eq_ignore_ascii_case("application/json") {
            return serde_json::from_slice(body)
                .map_err(|e| format!("its answer is not a valid command response ({e})"));
        }
        let text = std::str::from_utf8(body).map_err(|_| "its answer is not UTF-8 text".to_owned())?;
        Ok(Self { text: text.to_owned(), ..Default::default() })
    }
    pub fn is_in_channel(&self) -> bool {
        self.response_type == "in_channel"
    }
}

/// Run a command; the owner answers with what to show.
#[derive(Debug, Message)]
#[rtype(result = "Result<CommandResponse, String>")]
pub struct ExecuteCommand {
    pub args: CommandArgs,
}

#[derive(Clone)]
struct Entry {
    owner: String,
    spec: CommandSpec,
    target: Recipient<ExecuteCommand>,
}

/// The node's registered commands, by trigger.
#[derive(Default)]
pub struct Commands {
    by_trigger: RwLock<BTreeMap<String, Entry>>,
}

/// Why a command could not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    NotFound,
    /// The owner failed, or did not answer in time.
    Failed(String),
}

/// A trigger: letters, digits, `-`, `_`, `.`, 1 to 128 characters (Mattermost's rule).
pub fn valid_trigger(t: &str) -> bool {
    (1..=128).contains(&t.len()) && t.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

impl Commands {
    /// Register `spec` for `owner`; false (and nothing changes) if another owner has the trigger,
    /// it is built in, or it is not valid.
    pub fn register(&self, owner: &str, spec: CommandSpec, target: Recipient<ExecuteCommand>) -> bool {
        let trigger = spec.trigger.trim_start_matches('/').to_lowercase();
        if !valid_trigger(&trigger) || is_built_in(&trigger) {
            return false;
        }
        let mut map = self.by_trigger.write().unwrap_or_else(|p| p.into_inner());
        if map.get(&trigger).is_some_and(|e| e.owner != owner) {
            return false;
        }
        map.insert(trigger.clone(), Entry { owner: owner.to_owned(), spec: CommandSpec { trigger, ..spec }, target });
        true
    }

    /// Drop every command of `owner`.
    pub fn unregister_owner(&self, owner: &str) {
        self.by_trigger.write().unwrap_or_else(|p| p.into_inner()).retain(|_, e| e.owner != owner);
    }

    /// Registered commands, by trigger.
    pub fn list(&self) -> Vec<CommandSpec> {
        self.by_trigger.read().map(|m| m.values().map(|e| e.spec.clone()).collect()).unwrap_or_default()
    }

    /// Run the command `args.trigger` names.
    pub async fn execute(&self, args: CommandArgs) -> Result<CommandResponse, CommandError> {
        let entry = self.by_trigger.read().ok().and_then(|m| m.get(&args.trigger).cloned());
        let Some(entry) = entry else { return Err(CommandError::NotFound) };
        match tokio::time::timeout(COMMAND_DEADLINE, entry.target.send(ExecuteCommand { args })).await {
            Ok(Ok(Ok(r))) => Ok(r),
            Ok(Ok(Err(e))) => Err(CommandError::Failed(e)),
            Ok(Err(_)) => Err(CommandError::Failed(format!("{} is not running", entry.owner))),
            Err(_) => Err(CommandError::Failed(format!("{} did not answer in time", entry.owner))),
        }
    }
}

/// Split `/trigger rest` into the lower-cased trigger and the rest.
pub fn parse(command: &str) -> Option<(String, String)> {
    let body = command.trim_start().strip_prefix('/')?;
    let (trigger, rest) = match body.split_once(char::is_whitespace) {
        Some((t, r)) => (t, r.trim()),
        None => (body.trim_end(), ""),
    };
    let trigger = trigger.to_lowercase();
    valid_trigger(&trigger).then(|| (trigger, rest.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_parsed_as_mattermost_splits_them() {
        assert_eq!(parse("/Echo  hello world "), Some(("echo".into(), "hello world".into())));
        assert_eq!(parse("/shrug"), Some(("shrug".into(), String::new())));
        assert_eq!(parse("no slash"), None);
        assert_eq!(parse("/"), None);
        assert_eq!(parse("/bad/trigger x"), None);
    }
}
