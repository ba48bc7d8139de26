//! What a client's websocket text frame asks for: `{"seq": n, "action": "...", "data": {...}}`
//! decoded and its data checked, with no I/O, so [`crate::ws_connection`] only acts on it and a
//! fuzz target (`fuzz/fuzz_targets/ws_action.rs`) can call it alone.

use serde::Deserialize;
use serde_json::Value;
use starling_protocol::id::is_valid_id;
use starling_protocol::UserId;

/// The longest session token a challenge may carry.
pub const MAX_TOKEN_LEN: usize = 64;

/// A decoded client request: its `seq` (0 when absent) and what it asks.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientAction {
    pub seq: i64,
    pub action: Action,
}

/// The actions a client may send, their data checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// `authentication_challenge`: the token, unless it is missing, empty or too long.
    AuthenticationChallenge {
        token: Option<String>,
    },
    Ping,
    /// `user_typing`: `None` when `channel_id` is not an id or `parent_id` is neither empty nor one.
    UserTyping(Option<Typing>),
    GetStatuses,
    /// `get_statuses_by_ids`: `None` unless `user_ids` is a non-empty list of ids.
    GetStatusesByIds(Option<Vec<UserId>>),
    /// `user_update_active_status`: `active` is `None` when `user_is_active` is not a boolean.
    UpdateActiveStatus {
        active: Option<bool>,
        manual: bool,
    },
    Presence,
    /// Any other action name (an empty one too).
    Unknown(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Typing {
    pub channel_id: String,
    /// Empty, or a valid id.
    pub parent_id: String,
}

/// A frame that is not a request: the `seq` to answer with (0 when it has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadJson {
    pub seq: i64,
}

#[derive(Deserialize)]
struct ClientRequest {
    seq: Option<i64>,
    action: Option<String>,
    #[serde(default)]
    data: Value,
}

/// Decode one text frame.
pub fn decode(text: &str) -> Result<ClientAction, BadJson> {
    let req: ClientRequest = serde_json::from_str(text).map_err(|_| BadJson {
        seq: serde_json::from_str::<Value>(text).ok().and_then(|v| v["seq"].as_i64()).unwrap_or(0),
    })?;
    let data = &req.data;
    let action = match req.action.unwrap_or_default().as_str() {
        "authentication_challenge" => Action::AuthenticationChallenge {
            token: data
                .get("token")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty() && t.len() <= MAX_TOKEN_LEN)
                .map(str::to_owned),
        },
        "ping" => Action::Ping,
        "user_typing" => {
            let channel_id = data.get("channel_id").and_then(Value::as_str).unwrap_or("").to_owned();
            let parent_id = data.get("parent_id").and_then(Value::as_str).unwrap_or("").to_owned();
            let ok = is_valid_id(&channel_id) && (parent_id.is_empty() || is_valid_id(&parent_id));
            Action::UserTyping(ok.then_some(Typing { channel_id, parent_id }))
        }
        "get_statuses" => Action::GetStatuses,
        "get_statuses_by_ids" => {
            let ids: Option<Vec<String>> = data.get("user_ids").and_then(|v| serde_json::from_value(v.clone()).ok());
            Action::GetStatusesByIds(
                ids.filter(|ids| !ids.is_empty() && ids.iter().all(|i| is_valid_id(i)))
                    .map(|ids| ids.into_iter().map(UserId).collect()),
            )
        }
        "user_update_active_status" => Action::UpdateActiveStatus {
            active: data.get("user_is_active").and_then(Value::as_bool),
            manual: data.get("manual").and_then(Value::as_bool).unwrap_or(false),
        },
        "presence" => Action::Presence,
        other => Action::Unknown(other.to_owned()),
    };
    Ok(ClientAction { seq: req.seq.unwrap_or(0), action })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "abcdefghijklmnopqrstuvwxyz";

    #[test]
    fn requests_decode_with_their_data_checked() {
        let a = decode(r#"{"seq":3,"action":"authentication_challenge","data":{"token":"t"}}"#).unwrap();
        assert_eq!(a, ClientAction { seq: 3, action: Action::AuthenticationChallenge { token: Some("t".into()) } });
        let long = format!(r#"{{"action":"authentication_challenge","data":{{"token":"{}"}}}}"#, "x".repeat(65));
        assert_eq!(decode(&long).unwrap().action, Action::AuthenticationChallenge { token: None });
        let typing = format!(r#"{{"seq":1,"action":"user_typing","data":{{"channel_id":"{ID}"}}}}"#);
        assert_eq!(
            decode(&typing).unwrap().action,
            Action::UserTyping(Some(Typing { channel_id: ID.into(), parent_id: String::new() }))
        );
        let bad_parent = format!(r#"{{"action":"user_typing","data":{{"channel_id":"{ID}","parent_id":"x"}}}}"#);
        assert_eq!(decode(&bad_parent).unwrap().action, Action::UserTyping(None));
        assert_eq!(
            decode(r#"{"action":"get_statuses_by_ids","data":{"user_ids":[]}}"#).unwrap().action,
            Action::GetStatusesByIds(None)
        );
        assert_eq!(
            decode(r#"{"action":"user_update_active_status","data":{"user_is_active":"yes"}}"#).unwrap().action,
            Action::UpdateActiveStatus { active: None, manual: false }
        );
        assert_eq!(decode(r#"{"seq":2}"#).unwrap().action, Action::Unknown(String::new()));
    }

    #[test]
    fn a_frame_that_is_not_a_request_keeps_its_seq_if_it_has_one() {
        assert_eq!(decode("not json"), Err(BadJson { seq: 0 }));
        assert_eq!(decode(r#"{"seq":7,"action":5}"#), Err(BadJson { seq: 7 }));
        assert_eq!(decode(r#"{"seq":"7"}"#), Err(BadJson { seq: 0 }));
        assert_eq!(decode("[1,2]"), Err(BadJson { seq: 0 }));
    }
}
