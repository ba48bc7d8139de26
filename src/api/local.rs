//! Local mode (Mattermost's `ServiceSettings.EnableLocalMode`): the API on a Unix socket
//! (`LocalModeSocketLocation`) for an operator on the node's machine, with no session. Whoever can
//! open the socket (its file is the node user's, mode 0600) acts as a system administrator, as
//! Mattermost's local mode does; `starling admin --local` speaks it.
//!
//! Only the administration routes answer there (config, system, cluster, users, team and channel
//! membership and archiving, jobs, database, plugins, audits); everything else is 403, because a
//! request without a user cannot post, react or create things a user would own.

use crate::error::AppError;
use actix_web::http::{Method, StatusCode};
use starling_actors::Session;
use starling_protocol::{SessionId, UserId};

/// Marks the app behind the local socket (its requests are the local administrator's).
#[derive(Debug, Clone, Copy)]
pub struct LocalMode;

/// The user id audit records and logs show for local-mode requests.
pub const LOCAL_USER: &str = "";

/// The session every local-mode request runs as.
pub fn local_session() -> Session {
    Session {
        id: SessionId::from("local"),
        token: String::new(),
        user_id: UserId::from(LOCAL_USER),
        roles: "system_admin system_user".into(),
        create_at: 0,
        expires_at: 0,
        last_activity_at: 0,
        device_id: String::new(),
    }
}

/// Whether local mode serves `method path`; see the module's doc.
pub fn allows(method: &Method, path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/api/v4/") else { return false };
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    let get = method == Method::GET;
    match parts.as_slice() {
        ["config", ..] | ["jobs", ..] | ["plugins", ..] => true,
        ["system", "ping"] | ["cluster", "status"] | ["audits"] => get,
        ["database", "recycle"] | ["system", "drain"] => method == Method::POST,
        ["users"] => get || method == Method::POST,
        ["users", "search"] | ["users", "ids"] | ["users", "usernames"] => method == Method::POST,
        ["users", _] | ["users", "username", _] | ["users", "email", _] => get,
        ["users", _, "active"] | ["users", _, "roles"] => method == Method::PUT,
        ["teams"] | ["teams", _] | ["teams", "name", _] | ["teams", _, "channels"] => get,
        ["teams", "name", _, "channels", "name", _] => get,
        ["teams", _, "members"] => get || method == Method::POST,
        ["teams", _, "members", _] => method == Method::DELETE,
        ["channels", _] => get || method == Method::DELETE,
        ["channels", _, "members"] => get || method == Method::POST,
        ["channels", _, "members", _] => method == Method::DELETE,
        _ => false,
    }
}

/// The answer to a route local mode does not serve.
pub fn refusal() -> AppError {
    AppError::new(
        StatusCode::FORBIDDEN,
        "api.context.local_origin_required.app_error",
        "This endpoint is not available in local mode; use a user's token.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn administration_is_served_and_chat_is_not() {
        assert!(allows(&Method::GET, "/api/v4/config"));
        assert!(allows(&Method::PUT, "/api/v4/config/patch"));
        assert!(allows(&Method::PUT, "/api/v4/users/abc/active"));
        assert!(allows(&Method::DELETE, "/api/v4/channels/abc"));
        assert!(allows(&Method::POST, "/api/v4/teams/t/members"));
        assert!(!allows(&Method::POST, "/api/v4/posts"));
        assert!(!allows(&Method::POST, "/api/v4/teams"));
        assert!(!allows(&Method::GET, "/api/v4/users/me/teams"));
        assert!(!allows(&Method::GET, "/"));
        assert!(!allows(&Method::POST, "/hooks/abc"));
    }
}
