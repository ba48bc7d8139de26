//! Outgoing webhooks (Mattermost's OutgoingWebhook), the claims that make each of their calls
//! happen at most once in the cluster, and slash commands' response URLs (CommandWebhook).

use super::{now_ms, Param, Store, StoreResult};
use serde::Serialize;
use starling_protocol::new_id;
use tokio_postgres::Row;

/// Mattermost's OutgoingWebhook JSON.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OutgoingHook {
    pub id: String,
    pub token: String,
    pub create_at: i64,
    pub update_at: i64,
    pub delete_at: i64,
    pub creator_id: String,
    pub channel_id: String,
    pub team_id: String,
    pub trigger_words: Vec<String>,
    /// 0: the first word is a trigger word; 1: the first word starts with one.
    pub trigger_when: i32,
    pub callback_urls: Vec<String>,
    pub display_name: String,
    pub description: String,
    pub content_type: String,
    pub username: String,
    pub icon_url: String,
}

/// What a hook's creator or manager sets (the team and creator are fixed at creation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutgoingHookFields {
    pub channel_id: String,
    pub trigger_words: Vec<String>,
    pub trigger_when: i32,
    pub callback_urls: Vec<String>,
    pub display_name: String,
    pub description: String,
    pub content_type: String,
    pub username: String,
    pub icon_url: String,
}

impl OutgoingHookFields {
    /// The fields as statement parameters, in the order the insert and the update name them
    /// (channel_id, trigger_words, trigger_when, callback_urls, display_name, description,
    /// content_type, username, icon_url).
    fn params(&self) -> [Param<'_>; 9] {
        [
            &self.channel_id,
            &self.trigger_words,
            &self.trigger_when,
            &self.callback_urls,
            &self.display_name,
            &self.description,
            &self.content_type,
            &self.username,
            &self.icon_url,
        ]
    }
}

const HOOK_COLS: &str = "id, token, create_at, update_at, delete_at, creator_id, channel_id, team_id, trigger_words, \
    trigger_when, callback_urls, display_name, description, content_type, username, icon_url";

impl OutgoingHook {
    fn from_row(r: &Row) -> Self {
        Self {
            id: r.get("id"),
            token: r.get("token"),
            create_at: r.get("create_at"),
            update_at: r.get("update_at"),
            delete_at: r.get("delete_at"),
            creator_id: r.get("creator_id"),
            channel_id: r.get("channel_id"),
            team_id: r.get("team_id"),
            trigger_words: r.get("trigger_words"),
            trigger_when: r.get("trigger_when"),
            callback_urls: r.get("callback_urls"),
            display_name: r.get("display_name"),
            description: r.get("description"),
            content_type: r.get("content_type"),
            username: r.get("username"),
            icon_url: r.get("icon_url"),
        }
    }
}

/// Which hooks a listing shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct OutgoingHookFilter<'a> {
    pub team_id: Option<&'a str>,
    pub channel_id: Option<&'a str>,
    pub creator_id: Option<&'a str>,
}

/// A slash command's response URL: where its integration may answer later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandWebhook {
    pub id: String,
    pub create_at: i64,
    pub command_id: String,
    pub user_id: String,
    pub channel_id: String,
    pub root_id: String,
    pub use_count: i32,
}

/// How often a response URL may be used (5, as in Mattermost).
pub const COMMAND_WEBHOOK_MAX_USES: i32 = 5;
/// How long a response URL works after the command ran (30 minutes, as in Mattermost).
pub const COMMAND_WEBHOOK_LIFETIME_MS: i64 = 30 * 60 * 1000;

/// Why a response URL was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandWebhookRefusal {
    /// No such URL, or it expired.
    Missing,
    /// Used [`COMMAND_WEBHOOK_MAX_USES`] times already.
    UsedUp,
}

impl Store {
    pub async fn create_outgoing_hook(
        &self,
        creator_id: &str,
        team_id: &str,
        f: &OutgoingHookFields,
    ) -> StoreResult<OutgoingHook> {
        let c = self.master.get().await?;
        let row = c
            .query_one(
                &format!(
                    "INSERT INTO outgoing_webhooks (id, token, create_at, update_at, creator_id, team_id, channel_id, \
                     trigger_words, trigger_when, callback_urls, display_name, description, content_type, username, \
                     icon_url) VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
                     RETURNING {HOOK_COLS}"
                ),
                &[[&new_id() as Param, &new_id(), &now_ms(), &creator_id, &team_id].as_slice(), &f.params()].concat(),
            )
            .await?;
        Ok(OutgoingHook::from_row(&row))
    }

    /// A live (not deleted) hook.
    pub async fn outgoing_hook(&self, id: &str) -> StoreResult<Option<OutgoingHook>> {
        let c = self.master.get().await?;
        let row = c
            .query_opt(&format!("SELECT {HOOK_COLS} FROM outgoing_webhooks WHERE id = $1 AND delete_at = 0"), &[&id])
            .await?;
        Ok(row.as_ref().map(OutgoingHook::from_row))
    }

    /// A page of live hooks, oldest first.
    pub async fn outgoing_hooks(
        &self,
        filter: OutgoingHookFilter<'_>,
        page: i64,
        per_page: i64,
    ) -> StoreResult<Vec<OutgoingHook>> {
        let c = self.master.get().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {HOOK_COLS} FROM outgoing_webhooks WHERE delete_at = 0 \
                     AND ($1::text IS NULL OR team_id = $1) AND ($2::text IS NULL OR channel_id = $2) \
                     AND ($3::text IS NULL OR creator_id = $3) ORDER BY create_at, id LIMIT $4 OFFSET $5"
                ),
                &[&filter.team_id, &filter.channel_id, &filter.creator_id, &per_page, &(page * per_page)],
            )
            .await?;
        Ok(rows.iter().map(OutgoingHook::from_row).collect())
    }

    /// Every live hook of a team (what a new post in one of its open channels is matched against).
    pub async fn team_outgoing_hooks(&self, team_id: &str) -> StoreResult<Vec<OutgoingHook>> {
        let c = self.master.get().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {HOOK_COLS} FROM outgoing_webhooks WHERE team_id = $1 AND delete_at = 0 \
                     ORDER BY create_at, id"
                ),
                &[&team_id],
            )
            .await?;
        Ok(rows.iter().map(OutgoingHook::from_row).collect())
    }

    pub async fn update_outgoing_hook(&self, id: &str, f: &OutgoingHookFields) -> StoreResult<Option<OutgoingHook>> {
        let c = self.master.get().await?;
        let row = c
            .query_opt(
                &format!(
                    "UPDATE outgoing_webhooks SET update_at = $2, channel_id = $3, trigger_words = $4, \
                     trigger_when = $5, callback_urls = $6, display_name = $7, description = $8, content_type = $9, \
                     username = $10, icon_url = $11 WHERE id = $1 AND delete_at = 0 RETURNING {HOOK_COLS}"
                ),
                &[[&id as Param, &now_ms()].as_slice(), &f.params()].concat(),
            )
            .await?;
        Ok(row.as_ref().map(OutgoingHook::from_row))
    }

    /// Give a live hook a new token.
    pub async fn regen_outgoing_hook_token(&self, id: &str) -> StoreResult<Option<OutgoingHook>> {
        let c = self.master.get().await?;
        let row = c
            .query_opt(
                &format!(
                    "UPDATE outgoing_webhooks SET token = $2, update_at = $3 WHERE id = $1 AND delete_at = 0 \
                     RETURNING {HOOK_COLS}"
                ),
                &[&id, &new_id(), &now_ms()],
            )
            .await?;
        Ok(row.as_ref().map(OutgoingHook::from_row))
    }

    /// Delete a hook (kept with delete_at, as Mattermost does); false if there was no live one.
    pub async fn delete_outgoing_hook(&self, id: &str) -> StoreResult<bool> {
        let c = self.master.get().await?;
        let n = c
            .execute(
                "UPDATE outgoing_webhooks SET delete_at = $2, update_at = $2 WHERE id = $1 AND delete_at = 0",
                &[&id, &now_ms()],
            )
            .await?;
        Ok(n == 1)
    }

    /// Claim the call of hook `hook_id` for post `post_id` for node `node_id`: true for the one
    /// claim that wins in the cluster, false when the call was claimed before (by any node).
    pub async fn claim_outgoing_call(&self, hook_id: &str, post_id: &str, node_id: &str) -> StoreResult<bool> {
        let c = self.master.get().await?;
        let n = c
            .execute(
                "INSERT INTO outgoing_webhook_calls (hook_id, post_id, node_id, claimed_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (hook_id, post_id) DO NOTHING",
                &[&hook_id, &post_id, &node_id, &now_ms()],
            )
            .await?;
        Ok(n == 1)
    }

    /// Forget claims made before `before_ms` (their posts are long past any call); how many.
    pub async fn prune_outgoing_calls(&self, before_ms: i64) -> StoreResult<u64> {
        let c = self.master.get().await?;
        Ok(c.execute("DELETE FROM outgoing_webhook_calls WHERE claimed_at < $1", &[&before_ms]).await?)
    }

    /// A new response URL for one run of a command (expired ones are removed on the way).
    pub async fn create_command_webhook(
        &self,
        command_id: &str,
        user_id: &str,
        channel_id: &str,
        root_id: &str,
    ) -> StoreResult<CommandWebhook> {
        let c = self.master.get().await?;
        let now = now_ms();
        c.execute("DELETE FROM command_webhooks WHERE create_at < $1", &[&(now - COMMAND_WEBHOOK_LIFETIME_MS)]).await?;
        let hook = CommandWebhook {
            id: new_id(),
            create_at: now,
            command_id: command_id.to_owned(),
            user_id: user_id.to_owned(),
            channel_id: channel_id.to_owned(),
            root_id: root_id.to_owned(),
            use_count: 0,
        };
        c.execute(
            "INSERT INTO command_webhooks (id, create_at, command_id, user_id, channel_id, root_id) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[&hook.id, &hook.create_at, &hook.command_id, &hook.user_id, &hook.channel_id, &hook.root_id],
        )
        .await?;
        Ok(hook)
    }

    /// Use a live response URL once: the URL after the use, or why it may not be used.
    pub async fn use_command_webhook(&self, id: &str) -> StoreResult<Result<CommandWebhook, CommandWebhookRefusal>> {
        let c = self.master.get().await?;
        let oldest = now_ms() - COMMAND_WEBHOOK_LIFETIME_MS;
        let row = c
            .query_opt(
                "UPDATE command_webhooks SET use_count = use_count + 1 \
                 WHERE id = $1 AND create_at >= $2 AND use_count < $3 \
                 RETURNING id, create_at, command_id, user_id, channel_id, root_id, use_count",
                &[&id, &oldest, &COMMAND_WEBHOOK_MAX_USES],
            )
            .await?;
        if let Some(r) = row {
            return Ok(Ok(CommandWebhook {
                id: r.get("id"),
                create_at: r.get("create_at"),
                command_id: r.get("command_id"),
                user_id: r.get("user_id"),
                channel_id: r.get("channel_id"),
                root_id: r.get("root_id"),
                use_count: r.get("use_count"),
            }));
        }
        let live = c
            .query_opt("SELECT 1 FROM command_webhooks WHERE id = $1 AND create_at >= $2", &[&id, &oldest])
            .await?
            .is_some();
        Ok(Err(if live { CommandWebhookRefusal::UsedUp } else { CommandWebhookRefusal::Missing }))
    }
}
