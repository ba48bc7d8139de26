//! Websocket events as Mattermost clients receive them:
//! `{"event", "data", "broadcast": {omit_users, user_id, channel_id, team_id, ...}, "seq"}`.
//!
//! An event is rendered to JSON once; each connection only appends its own `seq`.

use serde::{Deserialize, Serialize};

/// Who an event is for. Empty fields do not filter.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Broadcast {
    /// Users who must not receive it (typically the actor of a `typing` event).
    pub omit_users: Vec<String>,
    /// Only this user's connections.
    pub user_id: String,
    /// Only members of this channel.
    pub channel_id: String,
    /// Only members of this team.
    pub team_id: String,
    /// Only this connection.
    pub connection_id: String,
    /// Not this connection.
    pub omit_connection_id: String,
}

/// A websocket event. `data` is a JSON object, kept as text so the event can cross the cluster
/// (postcard has no dynamic JSON type) and be rendered without parsing it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WsEvent {
    /// The event's name (`posted`, `typing`, ...), as Mattermost names it.
    pub event: String,
    /// The JSON object text of its `data`.
    pub data: String,
    /// Who receives it.
    pub broadcast: Broadcast,
}

#[derive(Serialize)]
struct BroadcastJson<'a> {
    omit_users: Option<std::collections::BTreeMap<&'a str, bool>>,
    user_id: &'a str,
    channel_id: &'a str,
    team_id: &'a str,
    connection_id: &'a str,
    omit_connection_id: &'a str,
}

impl WsEvent {
    /// `data` must be the text of a JSON object; anything else is replaced by `{}`.
    pub fn new(event: impl Into<String>, data: String, broadcast: Broadcast) -> Self {
        let data = if data.trim_start().starts_with('{') { data } else { "{}".to_owned() };
        Self { event: event.into(), data, broadcast }
    }

    /// The event's JSON without its closing brace, ending in `"seq":`; append the seq and `}`.
    pub fn render_prefix(&self) -> String {
        let b = &self.broadcast;
        let omit = if b.omit_users.is_empty() {
            None
        } else {
            Some(b.omit_users.iter().map(|u| (u.as_str(), true)).collect())
        };
        let broadcast = BroadcastJson {
            omit_users: omit,
            user_id: &b.user_id,
            channel_id: &b.channel_id,
            team_id: &b.team_id,
            connection_id: &b.connection_id,
            omit_connection_id: &b.omit_connection_id,
        };
        let event = serde_json_escape(&self.event);
        let broadcast = serde_json::to_string(&broadcast).unwrap_or_else(|_| "{}".into());
        format!("{{\"event\":{event},\"data\":{},\"broadcast\":{broadcast},\"seq\":", self.data)
    }
}

/// Render a whole frame from a prefix made by [`WsEvent::render_prefix`].
pub fn frame_with_seq(prefix: &str, seq: i64) -> String {
    let mut s = String::with_capacity(prefix.len() + 21);
    s.push_str(prefix);
    s.push_str(&seq.to_string());
    s.push('}');
    s
}

fn serde_json_escape(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_mattermost_shape() {
        let e = WsEvent::new(
            "typing",
            r#"{"parent_id":"","user_id":"u1"}"#.into(),
            Broadcast { omit_users: vec!["u1".into()], channel_id: "c1".into(), ..Default::default() },
        );
        let frame = frame_with_seq(&e.render_prefix(), 7);
        let v: serde_json::Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(v["event"], "typing");
        assert_eq!(v["data"]["user_id"], "u1");
        assert_eq!(v["broadcast"]["omit_users"]["u1"], true);
        assert_eq!(v["broadcast"]["channel_id"], "c1");
        assert_eq!(v["seq"], 7);
        let plain = WsEvent::new("hello", "not json".into(), Broadcast::default());
        let v: serde_json::Value = serde_json::from_str(&frame_with_seq(&plain.render_prefix(), 0)).unwrap();
        assert_eq!(v["data"], serde_json::json!({}));
        assert!(v["broadcast"]["omit_users"].is_null());
    }
}
