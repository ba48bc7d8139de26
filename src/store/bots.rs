//! Bot accounts: a user with `is_bot`, and a row naming its owner and description.

use super::{now_ms, Store, StoreResult};
use serde::Serialize;
use starling_protocol::new_id;
use tokio_postgres::Row;

/// Mattermost's Bot JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Bot {
    pub user_id: String,
    pub username: String,
    pub display_name: String,
    pub description: String,
    pub owner_id: String,
    pub create_at: i64,
    pub update_at: i64,
    pub delete_at: i64,
}

/// What `PUT /bots/{id}` may change; `None` keeps a field.
#[derive(Debug, Default)]
pub struct BotPatch {
    pub username: Option<String>,
    pub display_name: Option<String>,
    pub description: Option<String>,
}

const BOT_SELECT: &str = "SELECT b.user_id, u.username, u.first_name AS display_name, b.description, b.owner_id, \
    b.create_at, b.update_at, b.delete_at FROM bots b JOIN users u ON u.id = b.user_id";

impl Bot {
    fn from_row(r: &Row) -> Self {
        Self {
            user_id: r.get("user_id"),
            username: r.get("username"),
            display_name: r.get("display_name"),
            description: r.get("description"),
            owner_id: r.get("owner_id"),
            create_at: r.get("create_at"),
            update_at: r.get("update_at"),
            delete_at: r.get("delete_at"),
        }
    }
}

/// Which bots a listing shows.
pub struct BotFilter<'a> {
    /// Only the bots this user owns.
    pub owner_id: Option<&'a str>,
    pub include_deleted: bool,
    /// Only bots whose owner is gone or deactivated.
    pub only_orphaned: bool,
}

impl Store {
    /// Make a bot and its user (no password: a bot signs in with tokens only). The user and the
    /// bot row are written together.
    pub async fn create_bot(
        &self,
        username: &str,
        display_name: &str,
        description: &str,
        owner_id: &str,
    ) -> StoreResult<Bot> {
        let mut c = self.master.get().await?;
        let tx = c.transaction().await?;
        let (id, now) = (new_id(), now_ms());
        tx.execute(
            "INSERT INTO users (id, create_at, update_at, username, password, email, first_name, roles, \
             last_password_update, notify_props, is_bot) \
             VALUES ($1, $2, $2, $3, '', $4, $5, 'system_user', $2, $6, true)",
            &[
                &id,
                &now,
                &username,
                &format!("{username}@localhost"),
                &display_name,
                &serde_json::json!({"channel": "true", "comments": "never", "desktop": "mention", "email": "true",
                    "mention_keys": format!("{username},@{username}"), "push": "mention"}),
            ],
        )
        .await?;
        tx.execute(
            "INSERT INTO bots (user_id, description, owner_id, create_at, update_at) VALUES ($1, $2, $3, $4, $4)",
            &[&id, &description, &owner_id, &now],
        )
        .await?;
        tx.commit().await?;
        Ok(Bot {
            user_id: id,
            username: username.to_owned(),
            display_name: display_name.to_owned(),
            description: description.to_owned(),
            owner_id: owner_id.to_owned(),
            create_at: now,
            update_at: now,
            delete_at: 0,
        })
    }

    /// A bot, disabled or not.
    pub async fn bot(&self, user_id: &str) -> StoreResult<Option<Bot>> {
        let c = self.master.get().await?;
        let row = c.query_opt(&format!("{BOT_SELECT} WHERE b.user_id = $1"), &[&user_id]).await?;
        Ok(row.as_ref().map(Bot::from_row))
    }

    pub async fn bots(&self, f: &BotFilter<'_>, page: i64, per_page: i64) -> StoreResult<Vec<Bot>> {
        let c = self.master.get().await?;
        let rows = c
            .query(
                &format!(
                    "{BOT_SELECT} WHERE ($1::text IS NULL OR b.owner_id = $1) AND ($2 OR b.delete_at = 0) \
                     AND (NOT $3 OR NOT EXISTS (SELECT 1 FROM users o WHERE o.id = b.owner_id AND o.delete_at = 0)) \
                     ORDER BY u.username LIMIT $4 OFFSET $5"
                ),
                &[&f.owner_id, &f.include_deleted, &f.only_orphaned, &per_page, &(page * per_page)],
            )
            .await?;
        Ok(rows.iter().map(Bot::from_row).collect())
    }

    /// Apply a patch to a bot and its user; the bot as it now is, or None if unknown.
    pub async fn patch_bot(&self, user_id: &str, p: &BotPatch) -> StoreResult<Option<Bot>> {
        let mut c = self.master.get().await?;
        let tx = c.transaction().await?;
        let now = now_ms();
        let n = tx
            .execute(
                "UPDATE users SET username = COALESCE($2, username), first_name = COALESCE($3, first_name), \
                 update_at = $4 WHERE id = $1 AND is_bot",
                &[&user_id, &p.username, &p.display_name, &now],
            )
            .await?;
        if n == 0 {
            return Ok(None);
        }
        tx.execute(
            "UPDATE bots SET description = COALESCE($2, description), update_at = $3 WHERE user_id = $1",
            &[&user_id, &p.description, &now],
        )
        .await?;
        let row = tx.query_opt(&format!("{BOT_SELECT} WHERE b.user_id = $1"), &[&user_id]).await?;
        tx.commit().await?;
        Ok(row.as_ref().map(Bot::from_row))
    }

    /// Disable (delete_at = now, the bot's user deactivated too) or enable a bot.
    pub async fn set_bot_active(&self, user_id: &str, active: bool) -> StoreResult<Option<Bot>> {
        let mut c = self.master.get().await?;
        let tx = c.transaction().await?;
        let now = now_ms();
        let delete_at = if active { 0 } else { now };
        tx.execute("UPDATE bots SET delete_at = $2, update_at = $3 WHERE user_id = $1", &[&user_id, &delete_at, &now])
            .await?;
        tx.execute(
            "UPDATE users SET delete_at = $2, update_at = $3 WHERE id = $1 AND is_bot",
            &[&user_id, &delete_at, &now],
        )
        .await?;
        let row = tx.query_opt(&format!("{BOT_SELECT} WHERE b.user_id = $1"), &[&user_id]).await?;
        tx.commit().await?;
        Ok(row.as_ref().map(Bot::from_row))
    }

    /// Give a bot a new owner.
    pub async fn assign_bot(&self, user_id: &str, owner_id: &str) -> StoreResult<Option<Bot>> {
        let c = self.master.get().await?;
        c.execute(
            "UPDATE bots SET owner_id = $2, update_at = $3 WHERE user_id = $1",
            &[&user_id, &owner_id, &now_ms()],
        )
        .await?;
        let row = c.query_opt(&format!("{BOT_SELECT} WHERE b.user_id = $1"), &[&user_id]).await?;
        Ok(row.as_ref().map(Bot::from_row))
    }
}
