//! Sessions: list, revoke one, revoke all, and deactivating a user. Every revocation goes through
//! [`revoke`], which removes the sessions from the database, then from the session cache, then
//! closes their websockets.

use super::{ok, read_json, resolve_user_id, self_or_admin, status_ok, Auth, State};
use crate::error::{ApiResult, AppError};
use crate::store::Session;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use starling_actors::cluster::BroadcastAndWait;
use starling_actors::{CloseWebsockets, InvalidateUserSessions, RevokeSession, SessionTarget};
use starling_protocol::message::ClusterMessage;
use starling_protocol::UserId;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/users/{user_id}/sessions", web::get().to(list))
        .route("/users/{user_id}/sessions/revoke", web::post().to(revoke_one))
        .route("/users/{user_id}/sessions/revoke/all", web::post().to(revoke_all))
        .route("/users/{user_id}/active", web::put().to(set_active))
        .route("/users/{user_id}", web::delete().to(deactivate));
}

/// What a revocation covers.
pub enum Revoked {
    /// These tokens (one user's sessions, or one session).
    Tokens(Vec<String>),
    /// Every session of a user.
    User(String),
}

/// Drop sessions everywhere this node can reach: cache entries and websockets.
///
/// Revoked tokens are refused here at once and on every reachable node before this returns (a
/// node out of contact with us does not trust its cache until contact is back). A revoked token
/// is refused even while its row still exists, so callers may delete the rows concurrently
/// ([`revoke_tokens_with`]). A user's sessions (`Revoked::User`) are forgotten by user, so their
/// rows must be gone first, or a lookup could bring them back.
pub async fn revoke(state: &State, what: Revoked) -> ApiResult<()> {
    // This node first: it refuses the tokens before anyone is told.
    match &what {
        Revoked::Tokens(tokens) => {
            for token in tokens {
                state.sessions.send(RevokeSession { token: token.clone() }).await.map_err(AppError::internal)?;
            }
        }
        Revoked::User(user_id) => {
            let user_id = UserId::from(user_id.clone());
            state.sessions.send(InvalidateUserSessions { user_id }).await.map_err(AppError::internal)?;
        }
    }
    if let Some(c) = &state.cluster {
        let messages: Vec<ClusterMessage> = match &what {
            Revoked::Tokens(tokens) => {
                tokens.iter().map(|t| ClusterMessage::ClearSession { token: t.clone() }).collect()
            }
            Revoked::User(u) => vec![ClusterMessage::ClearUserSessions { user_id: UserId::from(u.as_str()) }],
        };
        let waits = messages.into_iter().map(|m| c.cluster.send(BroadcastAndWait { message: m }));
        for r in futures_util::future::join_all(waits).await {
            r.map_err(AppError::internal)?;
        }
    }
    match what {
        Revoked::Tokens(tokens) => {
            for token in tokens {
                state.events.bus().do_send(CloseWebsockets { target: SessionTarget::Token(token) });
            }
        }
        Revoked::User(user_id) => {
            state.events.bus().do_send(CloseWebsockets { target: SessionTarget::User(UserId::from(user_id)) });
        }
    }
    Ok(())
}

/// A user's sessions changed in the database (their roles): forget the cached copies here and on
/// every reachable node before returning, without closing any websocket. Peers clear their whole
/// session cache (the cluster's InvalidateAllCaches), which costs one lookup per active session.
pub async fn refresh_user_sessions(state: &State, user_id: &str) -> ApiResult<()> {
    let user_id = UserId::from(user_id.to_owned());
    state.sessions.send(InvalidateUserSessions { user_id }).await.map_err(AppError::internal)?;
    if let Some(c) = &state.cluster {
        c.cluster
            .send(BroadcastAndWait { message: ClusterMessage::InvalidateAllCaches })
            .await
            .map_err(AppError::internal)?;
    }
    Ok(())
}

/// Revoke `tokens` everywhere while `delete` removes their rows: the revocation does not wait for
/// the database (a revoked token is refused even while its row exists). Both must succeed.
pub async fn revoke_tokens_with<F>(state: &State, tokens: Vec<String>, delete: F) -> ApiResult<()>
where
    F: std::future::Future<Output = ApiResult<()>>,
{
    let (deleted, revoked) = futures_util::join!(delete, revoke(state, Revoked::Tokens(tokens)));
    deleted.and(revoked)
}

/// A session as the API shows it: never its token.
#[derive(Serialize)]
struct SessionView<'a> {
    id: &'a str,
    token: &'a str,
    create_at: i64,
    expires_at: i64,
    last_activity_at: i64,
    user_id: &'a str,
    device_id: &'a str,
    roles: &'a str,
    is_oauth: bool,
    props: serde_json::Value,
}

fn view(s: &Session) -> SessionView<'_> {
    SessionView {
        id: s.id.as_str(),
        token: "",
        create_at: s.create_at,
        expires_at: s.expires_at,
        last_activity_at: s.last_activity_at,
        user_id: s.user_id.as_str(),
        device_id: &s.device_id,
        roles: &s.roles,
        is_oauth: false,
        props: serde_json::json!({}),
    }
}

async fn list(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = self_or_admin(&auth, &path)?;
    let sessions = state.store.sessions_for_user(id).await?;
    Ok(ok(&sessions.iter().map(view).collect::<Vec<_>>()))
}

#[derive(serde::Deserialize)]
struct RevokeOne {
    session_id: Option<String>,
}

async fn revoke_one(state: State, auth: Auth, path: web::Path<String>, body: web::Payload) -> ApiResult<HttpResponse> {
    let id = self_or_admin(&auth, &path)?.to_owned();
    let input: RevokeOne = read_json(&state, body).await?;
    let session_id = input.session_id.ok_or_else(|| AppError::invalid_param("session_id"))?;
    super::id_param("session_id", &session_id)?;
    let token = state.store.delete_user_session(&id, &session_id).await?.ok_or_else(|| {
        AppError::bad_request(
            "api.user.revoke_session.user_mismatch.app_error",
            "That session is not one of this user's.",
        )
    })?;
    revoke(&state, Revoked::Tokens(vec![token])).await?;
    slog::info!(state.log, "session revoked"; "user_id" => &id);
    crate::audit::record(&state, &auth, "revokeSession", serde_json::json!({"user_id": id, "session_id": session_id}));
    Ok(status_ok())
}

async fn revoke_all(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = self_or_admin(&auth, &path)?.to_owned();
    state.store.delete_sessions_for_user(&id).await?;
    revoke(&state, Revoked::User(id.clone())).await?;
    slog::info!(state.log, "all sessions revoked"; "user_id" => &id);
    crate::audit::record(&state, &auth, "revokeAllSessionsForUser", serde_json::json!({"user_id": id}));
    Ok(status_ok())
}

async fn change_active(state: &State, auth: &Auth, id: &str, active: bool) -> ApiResult<HttpResponse> {
    // Anyone may deactivate themselves; everything else is for system admins.
    if !(auth.is_admin() || (!active && id == auth.user_id())) {
        return Err(AppError::forbidden("You do not have the appropriate permissions."));
    }
    state.store.set_user_active(id, active).await?.ok_or_else(|| AppError::not_found("user"))?;
    crate::audit::record(state, auth, "updateUserActive", serde_json::json!({"user_id": id, "active": active}));
    if !active {
        state.store.delete_sessions_for_user(id).await?;
        revoke(state, Revoked::User(id.to_owned())).await?;
        slog::info!(state.log, "user deactivated"; "user_id" => id);
    }
    Ok(status_ok())
}

#[derive(serde::Deserialize)]
struct Active {
    active: Option<bool>,
}

async fn set_active(state: State, auth: Auth, path: web::Path<String>, body: web::Payload) -> ApiResult<HttpResponse> {
    let id = resolve_user_id(&auth, &path)?.to_owned();
    let input: Active = read_json(&state, body).await?;
    let active = input.active.ok_or_else(|| AppError::invalid_param("active"))?;
    change_active(&state, &auth, &id, active).await
}

async fn deactivate(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = resolve_user_id(&auth, &path)?.to_owned();
    change_active(&state, &auth, &id, false).await
}
