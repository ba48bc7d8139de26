//! Reactions, and the post lists they and pins feed: a channel's pinned posts and a user's saved
//! (flagged) posts. A reaction write takes its channel's next clock tick like every post write and
//! gives it to the post's `update_at`, so a client syncing `since` sees `has_reactions` change.

use super::posts::{post_by_id, tick, POST_SELECT};
use super::{now_ms, Post, Store, StoreResult};
use serde::Serialize;
use tokio_postgres::Row;

/// Mattermost's Reaction. `delete_at` is always 0: a removed reaction is gone.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Reaction {
    pub user_id: String,
    pub post_id: String,
    pub emoji_name: String,
    pub create_at: i64,
    pub update_at: i64,
    pub delete_at: i64,
    pub remote_id: String,
    pub channel_id: String,
}

pub(super) const REACTION_COLS: &str = "user_id, post_id, emoji_name, create_at, update_at, channel_id";

impl Reaction {
    pub(super) fn from_row(r: &Row) -> Self {
        Self {
            user_id: r.get("user_id"),
            post_id: r.get("post_id"),
            emoji_name: r.get("emoji_name"),
            create_at: r.get("create_at"),
            update_at: r.get("update_at"),
            delete_at: 0,
            remote_id: String::new(),
            channel_id: r.get("channel_id"),
        }
    }
}

/// What saving a reaction did.
#[derive(Debug)]
pub enum SaveReaction {
    Saved(Reaction),
    /// No such live post.
    NoPost,
    /// The post already has the most different emoji it may have.
    TooManyEmoji,
}

impl Store {
    /// Add (or refresh) `user_id`'s reaction `emoji_name` on a live post, unless the post already
    /// carries `limit` different emoji and this is a new one.
    pub async fn save_reaction(
        &self,
        user_id: &str,
        post_id: &str,
        emoji_name: &str,
        limit: i64,
    ) -> StoreResult<SaveReaction> {
        let mut c = self.master.get().await?;
        let tx = c.transaction().await?;
        let Some(post) = post_by_id(&tx, post_id).await?.filter(|p| p.delete_at == 0) else {
            return Ok(SaveReaction::NoPost);
        };
        // The channel's lock (taken by the tick) orders reactions of one post, so the count holds.
        let ts = tick(&tx, &post.channel_id).await?;
        let row = tx
            .query_one(
                "SELECT count(DISTINCT emoji_name) AS names, bool_or(emoji_name = $2) AS has FROM reactions \
                 WHERE post_id = $1",
                &[&post_id, &emoji_name],
            )
            .await?;
        let (names, has): (i64, Option<bool>) = (row.get("names"), row.get("has"));
        if !has.unwrap_or(false) && names >= limit {
            return Ok(SaveReaction::TooManyEmoji);
        }
        let now = now_ms();
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO reactions (post_id, user_id, emoji_name, channel_id, create_at, update_at) \
                     VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (post_id, user_id, emoji_name) \
                     DO UPDATE SET update_at = EXCLUDED.update_at RETURNING {REACTION_COLS}"
                ),
                &[&post_id, &user_id, &emoji_name, &post.channel_id, &now],
            )
            .await?;
        tx.execute("UPDATE posts SET has_reactions = true, update_at = $2 WHERE id = $1", &[&post_id, &ts]).await?;
        tx.commit().await?;
        Ok(SaveReaction::Saved(Reaction::from_row(&row)))
    }

    /// Remove a reaction; `None` if there was none (or no such live post).
    pub async fn delete_reaction(
        &self,
        user_id: &str,
        post_id: &str,
        emoji_name: &str,
    ) -> StoreResult<Option<Reaction>> {
        let mut c = self.master.get().await?;
        let tx = c.transaction().await?;
        let Some(post) = post_by_id(&tx, post_id).await?.filter(|p| p.delete_at == 0) else {
            return Ok(None);
        };
        let ts = tick(&tx, &post.channel_id).await?;
        let row = tx
            .query_opt(
                &format!(
                    "DELETE FROM reactions WHERE post_id = $1 AND user_id = $2 AND emoji_name = $3 \
                     RETURNING {REACTION_COLS}"
                ),
                &[&post_id, &user_id, &emoji_name],
            )
            .await?;
        let Some(row) = row else {
            return Ok(None); // nothing changed: the transaction rolls back, the tick with it
        };
        tx.execute(
            "UPDATE posts SET has_reactions = EXISTS (SELECT 1 FROM reactions WHERE post_id = $1), update_at = $2 \
             WHERE id = $1",
            &[&post_id, &ts],
        )
        .await?;
        tx.commit().await?;
        Ok(Some(Reaction::from_row(&row)))
    }

    /// The reactions of these posts, oldest first.
    pub async fn reactions_for_posts(&self, post_ids: &[String]) -> StoreResult<Vec<Reaction>> {
        if post_ids.is_empty() {
            return Ok(vec![]);
        }
        self.read(async |c| reactions_of(c, post_ids).await).await
    }

    /// The channel of each of these posts that exists (deleted or not): `(post id, channel id)`.
    pub async fn post_channels(&self, post_ids: &[String]) -> StoreResult<Vec<(String, String)>> {
        self.read(async |c| {
            let rows = c.query("SELECT id, channel_id FROM posts WHERE id = ANY($1)", &[&post_ids]).await?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
        .await
    }

    /// A channel's live pinned posts, newest first.
    pub async fn pinned_posts(&self, channel_id: &str) -> StoreResult<Vec<Post>> {
        self.read(async |c| {
            let rows = c
                .query(
                    &format!(
                        "{POST_SELECT} WHERE p.channel_id = $1 AND p.is_pinned AND p.delete_at = 0 \
                         ORDER BY p.create_at DESC, p.id DESC LIMIT 1000"
                    ),
                    &[&channel_id],
                )
                .await?;
            let mut posts: Vec<Post> = rows.iter().map(Post::from_row).collect();
            self.fill_metadata(&mut posts).await?;
            Ok(posts)
        })
        .await
    }

    /// A page of the live posts a user saved (preference `flagged_post`, value `true`), newest
    /// first, in channels they are a member of: of one channel, or of one team's channels and
    /// their direct and group messages, or everywhere.
    pub async fn flagged_posts(
        &self,
        user_id: &str,
        team_id: Option<&str>,
        channel_id: Option<&str>,
        page: i64,
        per_page: i64,
    ) -> StoreResult<Vec<Post>> {
        self.read(async |c| {
            let rows = c
                .query(
                    &format!(
                        "{POST_SELECT} JOIN channels ch ON ch.id = p.channel_id \
                         JOIN channelmembers m ON m.channel_id = p.channel_id AND m.user_id = $1 \
                         WHERE p.id IN (SELECT name FROM preferences WHERE user_id = $1 AND category = 'flagged_post' \
                             AND value = 'true') \
                         AND p.delete_at = 0 AND ($2::varchar IS NULL OR ch.team_id = $2 OR ch.team_id = '') \
                         AND ($3::varchar IS NULL OR p.channel_id = $3) \
                         ORDER BY p.create_at DESC, p.id DESC LIMIT $4 OFFSET $5"
                    ),
                    &[&user_id, &team_id, &channel_id, &per_page, &(page * per_page)],
                )
                .await?;
            let mut posts: Vec<Post> = rows.iter().map(Post::from_row).collect();
            self.fill_metadata(&mut posts).await?;
            Ok(posts)
        })
        .await
    }
}

pub(super) async fn reactions_of(c: &deadpool_postgres::Client, post_ids: &[String]) -> StoreResult<Vec<Reaction>> {
    let rows = c
        .query(
            &format!(
                "SELECT {REACTION_COLS} FROM reactions WHERE post_id = ANY($1) ORDER BY create_at, user_id, emoji_name"
            ),
            &[&post_ids],
        )
        .await?;
    Ok(rows.iter().map(Reaction::from_row).collect())
}
