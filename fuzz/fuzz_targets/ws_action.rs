//! Any text frame a client sends into the websocket action decoder (`ws_action::decode`). Nothing
//! may panic, and what it accepts must hold what the connection relies on: tokens within their
//! bound, ids that are ids.
#![no_main]

use libfuzzer_sys::fuzz_target;
use starling_actors::ws_action::{decode, Action, MAX_TOKEN_LEN};
use starling_protocol::id::is_valid_id;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(req) = decode(text) else { return };
    match req.action {
        Action::AuthenticationChallenge { token: Some(t) } => assert!(!t.is_empty() && t.len() <= MAX_TOKEN_LEN),
        Action::UserTyping(Some(t)) => {
            assert!(is_valid_id(&t.channel_id));
            assert!(t.parent_id.is_empty() || is_valid_id(&t.parent_id));
        }
        Action::GetStatusesByIds(Some(ids)) => {
            assert!(!ids.is_empty());
            assert!(ids.iter().all(|i| is_valid_id(&i.0)));
        }
        _ => {}
    }
});
