//! Users and sessions.

use super::{now_ms, Store, StoreResult};
use futures_util::future::BoxFuture;
use serde::Serialize;
use serde_json::Value;
use starling_actors::session_cache::{Session as CachedSession, SessionStore};
use starling_protocol::{new_id, SessionId, UserId};
use tokio_postgres::Row;

/// A user as the API shows it. The password hash is never part of it.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: String,
    pub create_at: i64,
    pub update_at: i64,
    pub delete_at: i64,
    pub username: String,
    pub auth_data: String,
    pub auth_service: String,
    pub email: String,
    pub email_verified: bool,
    pub nickname: String,
    pub first_name: String,
    pub last_name: String,
    pub position: String,
    pub roles: String,
    pub locale: String,
    pub notify_props: Value,
    pub props: Value,
    pub last_password_update: i64,
    pub last_picture_update: i64,
    pub failed_attempts: i64,
    pub mfa_active: bool,
    pub timezone: Value,
    pub is_bot: bool,
    /// A bot's description (only where the query read it from `bots`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub bot_description: String,
}

pub(super) const USER_COLS: &str = "id, create_at, update_at, delete_at, username, email, email_verified, nickname, \
    first_name, last_name, position, roles, locale, notify_props, props, last_password_update, timezone, \
    last_picture_update, is_bot";

impl User {
    pub(super) fn from_row(r: &Row) -> Self {
        Self {
            id: r.get("id"),
            create_at: r.get("create_at"),
            update_at: r.get("update_at"),
            delete_at: r.get("delete_at"),
            username: r.get("username"),
            auth_data: String::new(),
            auth_service: String::new(),
            email: r.get("email"),
            email_verified: r.get("email_verified"),
            nickname: r.get("nickname"),
            first_name: r.get("first_name"),
            last_name: r.get("last_name"),
            position: r.get("position"),
            roles: r.get("roles"),
            locale: r.get("locale"),
            notify_props: r.get("notify_props"),
            props: r.get("props"),
            last_password_update: r.get("last_password_update"),
            last_picture_update: r.get("last_picture_update"),
            failed_attempts: 0,
            mfa_active: false,
            timezone: r.get("timezone"),
            is_bot: r.get("is_bot"),
            bot_description: r.try_get("bot_description").unwrap_or_default(),
        }
    }

    pub fn is_system_admin(&self) -> bool {
        self.roles.split_whitespace().any(|r| r == "system_admin")
    }

    /// The user as others may see them (Mattermost's `SanitizeProfile`): without the fields that
    /// are the user's own business (notification settings, password and login state).
    pub fn sanitized_profile(&self) -> User {
        User {
            notify_props: serde_json::json!({}),
            email_verified: false,
            last_password_update: 0,
            failed_attempts: 0,
            ..self.clone()
        }
    }
}

/// The profile fields `PUT /users/{id}/patch` may change; `None` keeps a field as it is.
#[derive(Debug, Default)]
pub struct UserPatch {
    pub username: Option<String>,
    pub nickname: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub position: Option<String>,
    pub locale: Option<String>,
    pub props: Option<Value>,
    pub notify_props: Option<Value>,
    pub timezone: Option<Value>,
}

pub struct NewUser {
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub nickname: String,
    pub first_name: String,
    pub last_name: String,
    pub position: String,
    pub locale: String,
    pub props: Value,
    pub notify_props: Value,
}

pub struct NewSession {
    pub user_id: String,
    pub roles: String,
    pub expires_at: i64,
    pub device_id: String,
}

pub type Session = CachedSession;

fn default_notify_props(username: &str) -> Value {
    serde_json::json!({
        "channel": "true", "comments": "never", "desktop": "mention", "desktop_sound": "true",
        "email": "true", "first_name": "false", "mention_keys": format!("{username},@{username}"),
        "push": "mention", "push_status": "away"
    })
}

/// Serialises user creation so that exactly one user can be the first (and so the system admin).
const USER_CREATE_LOCK: i64 = 0x5354_4152_4c4e_4702;

impl Store {
    /// Create a user; the first user of the system becomes system admin.
    pub async fn create_user(&self, u: NewUser) -> StoreResult<User> {
        let mut c = self.master.get().await?;
        let tx = c.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&USER_CREATE_LOCK]).await?;
        let first = tx.query_one("SELECT NOT EXISTS (SELECT 1 FROM users)", &[]).await?.get::<_, bool>(0);
        let roles = if first { "system_admin system_user" } else { "system_user" };
        let now = now_ms();
        let notify = if u.notify_props.as_object().is_some_and(|m| !m.is_empty()) {
            u.notify_props
        } else {
            default_notify_props(&u.username)
        };
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO users (id, create_at, update_at, username, password, email, nickname, first_name, \
                     last_name, position, roles, locale, last_password_update, props, notify_props, timezone) \
                     VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $2, $12, $13, $14) RETURNING {USER_COLS}"
                ),
                &[
                    &new_id(),
                    &now,
                    &u.username,
                    &u.password_hash,
                    &u.email,
                    &u.nickname,
                    &u.first_name,
                    &u.last_name,
                    &u.position,
                    &roles,
                    &u.locale,
                    &u.props,
                    &notify,
                    &serde_json::json!({"automaticTimezone": "", "manualTimezone": "", "useAutomaticTimezone": "true"}),
                ],
            )
            .await?;
        tx.commit().await?;
        Ok(User::from_row(&row))
    }

    /// A user, with their bot description if they are a bot.
    pub async fn user(&self, id: &str) -> StoreResult<Option<User>> {
        self.read(async |c| {
            let cols = USER_COLS.split(", ").map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", ");
            let sql = format!(
                "SELECT {cols}, b.description AS bot_description FROM users u LEFT JOIN bots b ON b.user_id = u.id \
                 WHERE u.id = $1"
            );
            let row = c.query_opt(&sql, &[&id]).await?;
            Ok(row.as_ref().map(User::from_row))
        })
        .await
    }

    pub async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        self.read(async |c| {
            let row = c.query_opt(&format!("SELECT {USER_COLS} FROM users WHERE username = $1"), &[&username]).await?;
            Ok(row.as_ref().map(User::from_row))
        })
        .await
    }

    /// A user by email, case-insensitively (emails are stored lowercase).
    pub async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let email = email.to_lowercase();
        self.read(async |c| {
            let row = c.query_opt(&format!("SELECT {USER_COLS} FROM users WHERE email = $1"), &[&email]).await?;
            Ok(row.as_ref().map(User::from_row))
        })
        .await
    }

    pub async fn users_by_ids(&self, ids: &[String]) -> StoreResult<Vec<User>> {
        self.read(async |c| {
            let rows = c
                .query(&format!("SELECT {USER_COLS} FROM users WHERE id = ANY($1) ORDER BY username"), &[&ids])
                .await?;
            Ok(rows.iter().map(User::from_row).collect())
        })
        .await
    }

    pub async fn users_by_usernames(&self, names: &[String]) -> StoreResult<Vec<User>> {
        self.read(async |c| {
            let rows = c
                .query(&format!("SELECT {USER_COLS} FROM users WHERE username = ANY($1) ORDER BY username"), &[&names])
                .await?;
            Ok(rows.iter().map(User::from_row).collect())
        })
        .await
    }

    /// A page of users, optionally only those in a team or a channel.
    pub async fn list_users(
        &self,
        in_team: Option<&str>,
        in_channel: Option<&str>,
        page: i64,
        per_page: i64,
    ) -> StoreResult<Vec<User>> {
        self.read(async |c| {
            let cols = USER_COLS.split(", ").map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", ");
            let rows = c
                .query(
                    &format!(
                        "SELECT {cols} FROM users u \
                         WHERE ($1::text IS NULL OR EXISTS (SELECT 1 FROM teammembers tm WHERE tm.user_id = u.id AND tm.team_id = $1 AND tm.delete_at = 0)) \
                         AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM channelmembers cm WHERE cm.user_id = u.id AND cm.channel_id = $2)) \
                         ORDER BY u.username LIMIT $3 OFFSET $4"
                    ),
                    &[&in_team, &in_channel, &per_page, &(page * per_page)],
                )
                .await?;
            Ok(rows.iter().map(User::from_row).collect())
        })
        .await
    }

    /// The user and password hash for a login id (username or email, case-insensitive).
    pub async fn user_for_login(&self, login_id: &str) -> StoreResult<Option<(User, String)>> {
        let c = self.master.get().await?;
        let row = c
            .query_opt(
                &format!(
                    "SELECT {USER_COLS}, password FROM users WHERE lower(username) = lower($1) OR lower(email) = lower($1) \
                     ORDER BY (lower(username) = lower($1)) DESC LIMIT 1"
                ),
                &[&login_id],
            )
            .await?;
        Ok(row.map(|r| (User::from_row(&r), r.get("password"))))
    }

    pub async fn create_session(&self, s: NewSession) -> StoreResult<Session> {
        let c = self.master.get().await?;
        let now = now_ms();
        let row = c
            .query_one(
                "INSERT INTO sessions (id, token, create_at, expires_at, last_activity_at, user_id, device_id, roles) \
                 VALUES ($1, $2, $3, $4, $3, $5, $6, $7) RETURNING *",
                &[&new_id(), &new_id(), &now, &s.expires_at, &s.user_id, &s.device_id, &s.roles],
            )
            .await?;
        Ok(session_from_row(&row))
    }

    pub async fn session_by_token(&self, token: &str) -> StoreResult<Option<Session>> {
        let c = self.master.get().await?;
        let row = c.query_opt("SELECT * FROM sessions WHERE token = $1", &[&token]).await?;
        Ok(row.as_ref().map(session_from_row))
    }

    pub async fn delete_session(&self, id: &str) -> StoreResult<()> {
        let c = self.master.get().await?;
        c.execute("DELETE FROM sessions WHERE id = $1", &[&id]).await?;
        Ok(())
    }
}

fn session_from_row(r: &Row) -> Session {
    Session {
        id: SessionId(r.get("id")),
        token: r.get("token"),
        user_id: UserId(r.get("user_id")),
        roles: r.get("roles"),
        create_at: r.get("create_at"),
        expires_at: r.get("expires_at"),
        last_activity_at: r.get("last_activity_at"),
        device_id: r.get("device_id"),
    }
}

impl SessionStore for Store {
    fn session_by_token(&self, token: String) -> BoxFuture<'static, starling_actors::StoreResult<Option<Session>>> {
        let store = self.clone();
        Box::pin(
            async move { Store::session_by_token(&store, &token).await.map_err(starling_actors::StoreError::from) },
        )
    }
}

impl Store {
    /// Whether any user exists yet.
    pub async fn user_count_positive(&self) -> StoreResult<bool> {
        let c = self.master.get().await?;
        Ok(c.query_one("SELECT EXISTS (SELECT 1 FROM users)", &[]).await?.get(0))
    }
}

impl Store {
    pub async fn sessions_for_user(&self, user_id: &str) -> StoreResult<Vec<Session>> {
        let c = self.master.get().await?;
        let rows = c.query("SELECT * FROM sessions WHERE user_id = $1 ORDER BY create_at DESC", &[&user_id]).await?;
        Ok(rows.iter().map(session_from_row).collect())
    }

    /// Delete one session of a user; returns its token if it existed.
    pub async fn delete_user_session(&self, user_id: &str, session_id: &str) -> StoreResult<Option<String>> {
        let c = self.master.get().await?;
        let row = c
            .query_opt("DELETE FROM sessions WHERE id = $1 AND user_id = $2 RETURNING token", &[&session_id, &user_id])
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Delete every session of a user; returns their tokens.
    pub async fn delete_sessions_for_user(&self, user_id: &str) -> StoreResult<Vec<String>> {
        let c = self.master.get().await?;
        let rows = c.query("DELETE FROM sessions WHERE user_id = $1 RETURNING token", &[&user_id]).await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Apply a profile patch; the user as it now is, or None if unknown.
    pub async fn patch_user(&self, user_id: &str, p: &UserPatch) -> StoreResult<Option<User>> {
        let c = self.master.get().await?;
        let row = c
            .query_opt(
                &format!(
                    "UPDATE users SET username = COALESCE($11, username), nickname = COALESCE($2, nickname), first_name = COALESCE($3, first_name), \
                     last_name = COALESCE($4, last_name), position = COALESCE($5, position), \
                     locale = COALESCE($6, locale), props = COALESCE($7, props), \
                     notify_props = COALESCE($8, notify_props), timezone = COALESCE($9, timezone), update_at = $10 \
                     WHERE id = $1 RETURNING {USER_COLS}"
                ),
                &[
                    &user_id,
                    &p.nickname,
                    &p.first_name,
                    &p.last_name,
                    &p.position,
                    &p.locale,
                    &p.props,
                    &p.notify_props,
                    &p.timezone,
                    &now_ms(),
                    &p.username,
                ],
            )
            .await?;
        Ok(row.as_ref().map(User::from_row))
    }

    /// Record that a user's picture changed at `at` (negative: reset to the generated one).
    pub async fn set_last_picture_update(&self, user_id: &str, at: i64) -> StoreResult<Option<User>> {
        let c = self.master.get().await?;
        let row = c
            .query_opt(
                &format!(
                    "UPDATE users SET last_picture_update = $2, update_at = $3 WHERE id = $1 RETURNING {USER_COLS}"
                ),
                &[&user_id, &at, &now_ms()],
            )
            .await?;
        Ok(row.as_ref().map(User::from_row))
    }

    /// Deactivate (delete_at = now) or reactivate a user. Returns the user, or None if unknown.
    pub async fn set_user_active(&self, user_id: &str, active: bool) -> StoreResult<Option<User>> {
        let c = self.master.get().await?;
        let now = now_ms();
        let delete_at = if active { 0 } else { now };
        let row = c
            .query_opt(
                &format!("UPDATE users SET delete_at = $2, update_at = $3 WHERE id = $1 RETURNING {USER_COLS}"),
                &[&user_id, &delete_at, &now],
            )
            .await?;
        Ok(row.as_ref().map(User::from_row))
    }

    /// Count one login attempt before its password is checked, unless `max` attempts have failed
    /// already: false means the account is locked. The count is one row for every node, and
    /// claiming before checking keeps concurrent guesses from slipping past the limit.
    pub async fn claim_login_attempt(&self, user_id: &str, max: i64) -> StoreResult<bool> {
        let c = self.master.get().await?;
        let max = i32::try_from(max).unwrap_or(i32::MAX);
        let n = c
            .execute(
                "UPDATE users SET failed_attempts = failed_attempts + 1 WHERE id = $1 AND failed_attempts < $2",
                &[&user_id, &max],
            )
            .await?;
        Ok(n == 1)
    }

    /// A good password: the failed attempts start again from 0.
    pub async fn reset_failed_attempts(&self, user_id: &str) -> StoreResult<()> {
        let c = self.master.get().await?;
        c.execute("UPDATE users SET failed_attempts = 0 WHERE id = $1 AND failed_attempts <> 0", &[&user_id]).await?;
        Ok(())
    }

    /// The user's password hash, if the user exists.
    pub async fn password_hash(&self, user_id: &str) -> StoreResult<Option<String>> {
        let c = self.master.get().await?;
        Ok(c.query_opt("SELECT password FROM users WHERE id = $1", &[&user_id]).await?.map(|r| r.get(0)))
    }

    /// Set a new password hash; as in Mattermost this also unlocks the account (failed attempts
    /// back to 0). False if there is no such user.
    pub async fn update_password(&self, user_id: &str, password_hash: &str) -> StoreResult<bool> {
        let c = self.master.get().await?;
        let now = now_ms();
        let n = c
            .execute(
                "UPDATE users SET password = $2, last_password_update = $3, update_at = $3, failed_attempts = 0 WHERE id = $1",
                &[&user_id, &password_hash, &now],
            )
            .await?;
        Ok(n == 1)
    }
}
