//! Custom emoji (Mattermost's `Emoji`). The images live in the file store; these are their rows.

use super::posts::tick;
use super::{now_ms, Store, StoreResult};
use serde::Serialize;
use tokio_postgres::Row;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Emoji {
    pub id: String,
    pub create_at: i64,
    pub update_at: i64,
    pub delete_at: i64,
    pub creator_id: String,
    pub name: String,
}

const EMOJI_COLS: &str = "id, create_at, update_at, delete_at, creator_id, name";

impl Emoji {
    fn from_row(r: &Row) -> Self {
        Self {
            id: r.get("id"),
            create_at: r.get("create_at"),
            update_at: r.get("update_at"),
            delete_at: r.get("delete_at"),
            creator_id: r.get("creator_id"),
            name: r.get("name"),
        }
    }
}

/// How to order a page of emoji.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmojiSort {
    /// Oldest first (Mattermost's default).
    Created,
    Name,
}

impl Store {
    /// Save a new emoji; `None` if a live emoji has that name already.
    pub async fn create_emoji(&self, id: &str, creator_id: &str, name: &str) -> StoreResult<Option<Emoji>> {
        let c = self.master.get().await?;
        let now = now_ms();
        let row = c
            .query_opt(
                &format!(
                    "INSERT INTO emoji (id, create_at, update_at, creator_id, name) VALUES ($1, $2, $2, $3, $4) \
                     ON CONFLICT (name) WHERE delete_at = 0 DO NOTHING RETURNING {EMOJI_COLS}"
                ),
                &[&id, &now, &creator_id, &name],
            )
            .await?;
        Ok(row.as_ref().map(Emoji::from_row))
    }

    /// A live emoji by id.
    pub async fn emoji(&self, id: &str) -> StoreResult<Option<Emoji>> {
        self.read(async |c| {
            let row =
                c.query_opt(&format!("SELECT {EMOJI_COLS} FROM emoji WHERE id = $1 AND delete_at = 0"), &[&id]).await?;
            Ok(row.as_ref().map(Emoji::from_row))
        })
        .await
    }

    /// The live emoji with these names (unknown names are skipped), by name.
    pub async fn emoji_by_names(&self, names: &[String]) -> StoreResult<Vec<Emoji>> {
        if names.is_empty() {
            return Ok(vec![]);
        }
        self.read(async |c| emoji_named(c, names).await).await
    }

    /// A page of live emoji.
    pub async fn list_emoji(&self, page: i64, per_page: i64, sort: EmojiSort) -> StoreResult<Vec<Emoji>> {
        let order = match sort {
            EmojiSort::Created => "create_at, id",
            EmojiSort::Name => "name",
        };
        self.read(async |c| {
            let rows = c
                .query(
                    &format!("SELECT {EMOJI_COLS} FROM emoji WHERE delete_at = 0 ORDER BY {order} LIMIT $1 OFFSET $2"),
                    &[&per_page, &(page * per_page)],
                )
                .await?;
            Ok(rows.iter().map(Emoji::from_row).collect())
        })
        .await
    }

    /// Live emoji whose name starts with `term` (or, unless `prefix_only`, contains it), by name.
    pub async fn search_emoji(&self, term: &str, prefix_only: bool, limit: i64) -> StoreResult<Vec<Emoji>> {
        let escaped = term.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        let pattern = if prefix_only { format!("{escaped}%") } else { format!("%{escaped}%") };
        self.search(async |c| {
            let rows = c
                .query(
                    &format!(
                        "SELECT {EMOJI_COLS} FROM emoji WHERE delete_at = 0 AND name ILIKE $1 \
                         ORDER BY name LIMIT $2"
                    ),
                    &[&pattern, &limit],
                )
                .await?;
            Ok(rows.iter().map(Emoji::from_row).collect())
        })
        .await
    }

    /// Delete a live emoji and every reaction made with its name (their posts take their
    /// channels' next clock tick, so clients syncing `since` see the change). Returns the emoji as
    /// deleted, or `None` if there was no such live emoji.
    pub async fn delete_emoji(&self, id: &str) -> StoreResult<Option<Emoji>> {
        let mut c = self.master.get().await?;
        let tx = c.transaction().await?;
        let now = now_ms();
        let Some(row) = tx
            .query_opt(
                &format!(
                    "UPDATE emoji SET delete_at = $2, update_at = $2 WHERE id = $1 AND delete_at = 0 \
                     RETURNING {EMOJI_COLS}"
                ),
                &[&id, &now],
            )
            .await?
        else {
            return Ok(None);
        };
        let emoji = Emoji::from_row(&row);
        let channels: Vec<String> = tx
            .query(
                "SELECT DISTINCT channel_id FROM reactions WHERE emoji_name = $1 ORDER BY channel_id",
                &[&emoji.name],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        // Channels locked in id order, so two such deletes cannot deadlock.
        for channel_id in &channels {
            let ts = tick(&tx, channel_id).await?;
            tx.execute(
                "WITH gone AS (DELETE FROM reactions WHERE emoji_name = $1 AND channel_id = $2 RETURNING post_id) \
                 UPDATE posts p SET update_at = $3, has_reactions = EXISTS (SELECT 1 FROM reactions r \
                     WHERE r.post_id = p.id AND r.emoji_name <> $1) \
                 WHERE p.id IN (SELECT post_id FROM gone)",
                &[&emoji.name, channel_id, &ts],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Some(emoji))
    }
}

pub(super) async fn emoji_named(c: &deadpool_postgres::Client, names: &[String]) -> StoreResult<Vec<Emoji>> {
    let rows = c
        .query(
            &format!("SELECT {EMOJI_COLS} FROM emoji WHERE name = ANY($1) AND delete_at = 0 ORDER BY name"),
            &[&names],
        )
        .await?;
    Ok(rows.iter().map(Emoji::from_row).collect())
}
