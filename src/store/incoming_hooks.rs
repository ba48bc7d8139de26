//! Incoming webhooks: a secret id that posts into a channel as the user who made it.

use super::{now_ms, Param, Store, StoreResult};
use serde::Serialize;
use starling_protocol::new_id;
use tokio_postgres::Row;

/// Mattermost's IncomingWebhook JSON.
#[derive(Debug, Clone, Serialize)]
pub struct IncomingHook {
    pub id: String,
    pub create_at: i64,
    pub update_at: i64,
    pub delete_at: i64,
    pub user_id: String,
    pub channel_id: String,
    pub team_id: String,
    pub display_name: String,
    pub description: String,
    pub username: String,
    pub icon_url: String,
    pub channel_locked: bool,
}

/// The fields a hook is made with or updated to.
#[derive(Debug, Clone, Default)]
pub struct IncomingHookPatch {
    pub channel_id: String,
    pub team_id: String,
    pub display_name: String,
    pub description: String,
    pub username: String,
    pub icon_url: String,
    pub channel_locked: bool,
}

impl IncomingHookPatch {
    /// The fields as statement parameters, in the order the insert and the update name them
    /// (channel_id, team_id, display_name, description, username, icon_url, channel_locked).
    fn params(&self) -> [Param<'_>; 7] {
        [
            &self.channel_id,
            &self.team_id,
            &self.display_name,
            &self.description,
            &self.username,
            &self.icon_url,
            &self.channel_locked,
        ]
    }
}

const HOOK_COLS: &str =
    "id, create_at, update_at, delete_at, user_id, channel_id, team_id, display_name, description, \
    username, icon_url, channel_locked";

impl IncomingHook {
    fn from_row(r: &Row) -> Self {
        Self {
            id: r.get("id"),
            create_at: r.get("create_at"),
            update_at: r.get("update_at"),
            delete_at: r.get("delete_at"),
            user_id: r.get("user_id"),
            channel_id: r.get("channel_id"),
            team_id: r.get("team_id"),
            display_name: r.get("display_name"),
            description: r.get("description"),
            username: r.get("username"),
            icon_url: r.get("icon_url"),
            channel_locked: r.get("channel_locked"),
        }
    }
}

impl Store {
    pub async fn create_incoming_hook(&self, user_id: &str, h: &IncomingHookPatch) -> StoreResult<IncomingHook> {
        let c = self.master.get().await?;
        let row = c
            .query_one(
                &format!(
                    "INSERT INTO incoming_webhooks (id, create_at, update_at, user_id, channel_id, team_id, display_name, \
                     description, username, icon_url, channel_locked) VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                     RETURNING {HOOK_COLS}"
                ),
                &[[&new_id() as Param, &now_ms(), &user_id].as_slice(), &h.params()].concat(),
            )
            .await?;
        Ok(IncomingHook::from_row(&row))
    }

    /// A live (not deleted) hook.
    pub async fn incoming_hook(&self, id: &str) -> StoreResult<Option<IncomingHook>> {
        let c = self.master.get().await?;
        let row = c
            .query_opt(&format!("SELECT {HOOK_COLS} FROM incoming_webhooks WHERE id = $1 AND delete_at = 0"), &[&id])
            .await?;
        Ok(row.as_ref().map(IncomingHook::from_row))
    }

    /// A page of live hooks, optionally of one team and of one creator, oldest first.
    pub async fn incoming_hooks(
        &self,
        team_id: Option<&str>,
        user_id: Option<&str>,
        page: i64,
        per_page: i64,
    ) -> StoreResult<Vec<IncomingHook>> {
        let c = self.master.get().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {HOOK_COLS} FROM incoming_webhooks WHERE delete_at = 0 \
                     AND ($1::text IS NULL OR team_id = $1) AND ($2::text IS NULL OR user_id = $2) \
                     ORDER BY create_at, id LIMIT $3 OFFSET $4"
                ),
                &[&team_id, &user_id, &per_page, &(page * per_page)],
            )
            .await?;
        Ok(rows.iter().map(IncomingHook::from_row).collect())
    }

    pub async fn update_incoming_hook(&self, id: &str, h: &IncomingHookPatch) -> StoreResult<Option<IncomingHook>> {
        let c = self.master.get().await?;
        let row = c
            .query_opt(
                &format!(
                    "UPDATE incoming_webhooks SET update_at = $2, channel_id = $3, team_id = $4, display_name = $5, \
                     description = $6, username = $7, icon_url = $8, channel_locked = $9 \
                     WHERE id = $1 AND delete_at = 0 RETURNING {HOOK_COLS}"
                ),
                &[[&id as Param, &now_ms()].as_slice(), &h.params()].concat(),
            )
            .await?;
        Ok(row.as_ref().map(IncomingHook::from_row))
    }

    /// Delete a hook (kept with delete_at, as Mattermost does); false if there was no live one.
    pub async fn delete_incoming_hook(&self, id: &str) -> StoreResult<bool> {
        let c = self.master.get().await?;
        let n = c
            .execute(
                "UPDATE incoming_webhooks SET delete_at = $2, update_at = $2 WHERE id = $1 AND delete_at = 0",
                &[&id, &now_ms()],
            )
            .await?;
        Ok(n == 1)
    }
}
