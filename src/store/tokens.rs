//! Personal access tokens (Mattermost's UserAccessTokens). Only a token's SHA-256 is kept: the
//! token itself is shown once, when it is made. A live token is a session that never expires,
//! for a user (or bot) who is active.

use super::{now_ms, Session, Store, StoreResult};
use crate::config::Config;
use futures_util::future::BoxFuture;
use serde::Serialize;
use sha2::Digest;
use starling_actors::session_cache::SessionStore;
use starling_protocol::{new_id, SessionId, UserId};
use std::sync::{Arc, RwLock};
use tokio_postgres::Row;

/// Mattermost's UserAccessToken JSON; `token` only in the answer that made it.
#[derive(Debug, Clone, Serialize)]
pub struct UserAccessToken {
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub token: String,
    pub user_id: String,
    pub description: String,
    pub is_active: bool,
}

impl UserAccessToken {
    fn from_row(r: &Row) -> Self {
        Self {
            id: r.get("id"),
            token: String::new(),
            user_id: r.get("user_id"),
            description: r.get("description"),
            is_active: r.get("is_active"),
        }
    }
}

const TOKEN_COLS: &str = "t.id, t.user_id, t.description, t.is_active";

/// What is stored of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// Whether a session stands for a personal access token: the only sessions that never expire
/// (Mattermost makes them with `ExpiresAt` 0).
pub fn is_access_token_session(s: &Session) -> bool {
    s.expires_at == 0
}

impl Store {
    /// Make a token for a user; the answer carries the token, which is not kept.
    pub async fn create_access_token(&self, user_id: &str, description: &str) -> StoreResult<UserAccessToken> {
        let c = self.master.get().await?;
        let (id, token) = (new_id(), new_id());
        c.execute(
            "INSERT INTO user_access_tokens (id, token_hash, user_id, description, is_active, create_at) \
             VALUES ($1, $2, $3, $4, true, $5)",
            &[&id, &token_hash(&token), &user_id, &description, &now_ms()],
        )
        .await?;
        Ok(UserAccessToken {
            id,
            token,
            user_id: user_id.to_owned(),
            description: description.to_owned(),
            is_active: true,
        })
    }

    pub async fn access_token(&self, id: &str) -> StoreResult<Option<UserAccessToken>> {
        let c = self.master.get().await?;
        let row =
            c.query_opt(&format!("SELECT {TOKEN_COLS} FROM user_access_tokens t WHERE t.id = $1"), &[&id]).await?;
        Ok(row.as_ref().map(UserAccessToken::from_row))
    }

    /// A page of tokens, of one user or of everyone, oldest first.
    pub async fn access_tokens(
        &self,
        user_id: Option<&str>,
        page: i64,
        per_page: i64,
    ) -> StoreResult<Vec<UserAccessToken>> {
        let c = self.master.get().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {TOKEN_COLS} FROM user_access_tokens t WHERE ($1::text IS NULL OR t.user_id = $1) \
                     ORDER BY t.create_at, t.id LIMIT $2 OFFSET $3"
                ),
                &[&user_id, &per_page, &(page * per_page)],
            )
            .await?;
        Ok(rows.iter().map(UserAccessToken::from_row).collect())
    }

    /// Tokens whose id, user id or user's username starts with `term` (Mattermost's search), at most 100.
    pub async fn search_access_tokens(&self, term: &str) -> StoreResult<Vec<UserAccessToken>> {
        let c = self.master.get().await?;
        let pattern = format!("{}%", term.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        let rows = c
            .query(
                &format!(
                    "SELECT {TOKEN_COLS} FROM user_access_tokens t JOIN users u ON u.id = t.user_id \
                     WHERE t.id LIKE $1 OR t.user_id LIKE $1 OR u.username LIKE $1 \
                     ORDER BY t.create_at, t.id LIMIT 100"
                ),
                &[&pattern],
            )
            .await?;
        Ok(rows.iter().map(UserAccessToken::from_row).collect())
    }

    /// Delete a token; false if there was none.
    pub async fn delete_access_token(&self, id: &str) -> StoreResult<bool> {
        let c = self.master.get().await?;
        Ok(c.execute("DELETE FROM user_access_tokens WHERE id = $1", &[&id]).await? == 1)
    }

    /// Enable or disable a token; false if there was none.
    pub async fn set_access_token_active(&self, id: &str, active: bool) -> StoreResult<bool> {
        let c = self.master.get().await?;
        Ok(c.execute("UPDATE user_access_tokens SET is_active = $2 WHERE id = $1", &[&id, &active]).await? == 1)
    }

    /// The session a token stands for: an active token of a user who is active (and, for a bot,
    /// whose bot is not disabled).
    pub async fn access_token_session(&self, token: &str) -> StoreResult<Option<Session>> {
        let c = self.master.get().await?;
        let row = c
            .query_opt(
                "SELECT t.id, t.user_id, t.create_at, u.roles FROM user_access_tokens t JOIN users u ON u.id = t.user_id \
                 LEFT JOIN bots b ON b.user_id = u.id \
                 WHERE t.token_hash = $1 AND t.is_active AND u.delete_at = 0 AND COALESCE(b.delete_at, 0) = 0",
                &[&token_hash(token)],
            )
            .await?;
        Ok(row.map(|r| Session {
            id: SessionId(r.get("id")),
            token: token.to_owned(),
            user_id: UserId(r.get("user_id")),
            roles: r.get("roles"),
            create_at: r.get("create_at"),
            expires_at: 0,
            last_activity_at: now_ms(),
            device_id: String::new(),
        }))
    }
}

/// The session cache's store: login sessions, then personal access tokens while
/// ServiceSettings.EnableUserAccessTokens is on.
pub struct SessionsAndTokens {
    pub store: Store,
    pub config: Arc<RwLock<Config>>,
}

impl SessionStore for SessionsAndTokens {
    fn session_by_token(&self, token: String) -> BoxFuture<'static, starling_actors::StoreResult<Option<Session>>> {
        let store = self.store.clone();
        let tokens_on = self.config.read().map(|c| c.service_settings.enable_user_access_tokens).unwrap_or(false);
        Box::pin(async move {
            if let Some(s) = store.session_by_token(&token).await? {
                return Ok(Some(s));
            }
            if !tokens_on {
                return Ok(None);
            }
            Ok(store.access_token_session(&token).await?)
        })
    }
}
