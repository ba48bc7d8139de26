//! Read state: posts around a member's last-read mark, marking channels viewed, marking a channel
//! unread from a post, and posts by id. Every write locks the channel rows it reads (FOR SHARE) the
//! way post creation locks them (FOR UPDATE), so a view and a concurrent post are ordered: the
//! counts a view copies are those of every post it saw, and nothing else.

use super::posts::{Post, PostPage, POST_SELECT};
use super::{now_ms, Store, StoreResult};
use serde::Serialize;
use std::collections::HashSet;

/// A membership's read state after `set_unread` (Mattermost's `ChannelUnreadAt`).
#[derive(Debug, Clone, Serialize)]
pub struct ChannelUnreadAt {
    pub team_id: String,
    pub user_id: String,
    pub channel_id: String,
    pub msg_count: i64,
    pub mention_count: i64,
    pub mention_count_root: i64,
    pub urgent_mention_count: i64,
    pub msg_count_root: i64,
    pub last_viewed_at: i64,
}

/// A post that may raise a mention count, for recounting after `set_unread`.
pub struct UnreadPost {
    pub user_id: String,
    pub root_id: String,
    pub message: String,
}

/// How the API recounts mentions: given the posts from the unread mark on (others' live posts),
/// `(mentions, mentions in root posts)`.
pub type MentionCounter<'a> = &'a (dyn Fn(&[UnreadPost]) -> (i64, i64) + Sync);

impl Store {
    /// Posts of a channel around the first post after `last_viewed_at`: that post and up to
    /// `after - 1` newer ones, and up to `before` older ones (with `root_only`, root posts only).
    /// `None` when no post is unread.
    pub async fn posts_around_unread(
        &self,
        channel_id: &str,
        last_viewed_at: i64,
        before: i64,
        after: i64,
        root_only: bool,
    ) -> StoreResult<Option<PostPage>> {
        let roots_only = if root_only { " AND p.root_id = ''" } else { "" };
        self.read(async |c| {
            let newer = c
                .query(
                    &format!(
                        "{POST_SELECT} WHERE p.channel_id = $1 AND p.delete_at = 0{roots_only} AND p.create_at > $2 \
                         ORDER BY p.create_at, p.id LIMIT $3"
                    ),
                    &[&channel_id, &last_viewed_at, &(after + 1)],
                )
                .await?;
            if newer.is_empty() {
                return Ok(None);
            }
            let first = Post::from_row(&newer[0]);
            let older = c
                .query(
                    &format!(
                        "{POST_SELECT} WHERE p.channel_id = $1 AND p.delete_at = 0{roots_only} AND (p.create_at, p.id) < ($2, $3) \
                         ORDER BY p.create_at DESC, p.id DESC LIMIT $4"
                    ),
                    &[&channel_id, &first.create_at, &first.id, &(before + 1)],
                )
                .await?;
            let mut newer: Vec<Post> = newer.iter().map(Post::from_row).collect();
            let next_post_id =
                if newer.len() as i64 > after { newer.pop().map(|p| p.id).unwrap_or_default() } else { String::new() };
            let mut older: Vec<Post> = older.iter().map(Post::from_row).collect();
            let prev_post_id =
                if older.len() as i64 > before { older.pop().map(|p| p.id).unwrap_or_default() } else { String::new() };
            // Newest first, like every PostList order.
            newer.reverse();
            let mut order = newer;
            order.extend(older);
            let roots = context_roots(c, &order).await?;
            let mut page = PostPage { order, roots, has_next: !next_post_id.is_empty(), prev_post_id, next_post_id };
            self.fill_metadata(&mut page.order).await?;
            self.fill_metadata(&mut page.roots).await?;
            Ok(Some(page))
        })
        .await
    }

    /// Mark channels viewed for a user (those they are a member of): unread and mention counts to
    /// zero, `last_viewed_at` to the channel's last post (at least its current value). Returns
    /// each updated channel's `last_viewed_at`.
    pub async fn mark_viewed(&self, user_id: &str, channel_ids: &[String]) -> StoreResult<Vec<(String, i64)>> {
        if channel_ids.is_empty() {
            return Ok(vec![]);
        }
        let c = self.master.get().await?;
        let rows = c
            .query(
                "WITH ch AS (SELECT id, total_msg_count, total_msg_count_root, last_post_at FROM channels \
                     WHERE id = ANY($2) ORDER BY id FOR SHARE) \
                 UPDATE channelmembers m SET msg_count = ch.total_msg_count, msg_count_root = ch.total_msg_count_root, \
                     mention_count = 0, mention_count_root = 0, \
                     last_viewed_at = GREATEST(m.last_viewed_at, ch.last_post_at), last_update_at = $3 \
                 FROM ch WHERE m.channel_id = ch.id AND m.user_id = $1 RETURNING m.channel_id, m.last_viewed_at",
                &[&user_id, &channel_ids, &now_ms()],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// The live channels of a team (and none of the direct messages) a user is a member of.
    pub async fn user_team_channel_ids(&self, user_id: &str, team_id: &str) -> StoreResult<Vec<String>> {
        let c = self.master.get().await?;
        let rows = c
            .query(
                "SELECT m.channel_id FROM channelmembers m JOIN channels c ON c.id = m.channel_id \
                 WHERE m.user_id = $1 AND c.team_id = $2 AND c.delete_at = 0",
                &[&user_id, &team_id],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Mark a channel unread from `post` on for a member: `last_viewed_at` just before it, the
    /// posts from it on unread, and the mentions among them (counted by `count_mentions` over the
    /// other members' live posts) as mentions. `None` if the user is not a member.
    pub async fn set_unread_from(
        &self,
        user_id: &str,
        post: &Post,
        count_mentions: MentionCounter<'_>,
    ) -> StoreResult<Option<ChannelUnreadAt>> {
        let mut c = self.master.get().await?;
        let tx = c.transaction().await?;
        let Some(ch) = tx
            .query_opt(
                "SELECT team_id, total_msg_count, total_msg_count_root FROM channels WHERE id = $1 FOR SHARE",
                &[&post.channel_id],
            )
            .await?
        else {
            return Ok(None);
        };
        let counts = tx
            .query_one(
                "SELECT count(*), count(*) FILTER (WHERE root_id = '') FROM posts WHERE channel_id = $1 AND create_at >= $2",
                &[&post.channel_id, &post.create_at],
            )
            .await?;
        let rows = tx
            .query(
                "SELECT user_id, root_id, message FROM posts WHERE channel_id = $1 AND create_at >= $2 \
                 AND delete_at = 0 AND user_id <> $3 ORDER BY create_at",
                &[&post.channel_id, &post.create_at, &user_id],
            )
            .await?;
        let unread: Vec<UnreadPost> =
            rows.iter().map(|r| UnreadPost { user_id: r.get(0), root_id: r.get(1), message: r.get(2) }).collect();
        let (mentions, mentions_root) = count_mentions(&unread);
        let (total, total_root): (i64, i64) = (ch.get(1), ch.get(2));
        let (after, after_root): (i64, i64) = (counts.get(0), counts.get(1));
        let row = tx
            .query_opt(
                "UPDATE channelmembers SET last_viewed_at = $3, msg_count = $4, msg_count_root = $5, \
                 mention_count = $6, mention_count_root = $7, last_update_at = $8 \
                 WHERE channel_id = $1 AND user_id = $2 RETURNING last_viewed_at, msg_count, msg_count_root, \
                 mention_count, mention_count_root",
                &[
                    &post.channel_id,
                    &user_id,
                    &(post.create_at - 1),
                    &(total - after).max(0),
                    &(total_root - after_root).max(0),
                    &mentions,
                    &mentions_root,
                    &now_ms(),
                ],
            )
            .await?;
        tx.commit().await?;
        Ok(row.map(|r| ChannelUnreadAt {
            team_id: ch.get(0),
            user_id: user_id.to_owned(),
            channel_id: post.channel_id.clone(),
            last_viewed_at: r.get(0),
            msg_count: r.get(1),
            msg_count_root: r.get(2),
            mention_count: r.get(3),
            mention_count_root: r.get(4),
            urgent_mention_count: 0,
        }))
    }

    /// Live posts by id (any channel; the caller filters by permission), with their metadata.
    pub async fn posts_by_ids(&self, ids: &[String]) -> StoreResult<Vec<Post>> {
        self.read(async |c| {
            let rows = c
                .query(
                    &format!("{POST_SELECT} WHERE p.id = ANY($1) AND p.delete_at = 0 ORDER BY p.create_at, p.id"),
                    &[&ids],
                )
                .await?;
            let mut posts: Vec<Post> = rows.iter().map(Post::from_row).collect();
            self.fill_metadata(&mut posts).await?;
            Ok(posts)
        })
        .await
    }
}

/// The thread roots that replies in `posts` refer to and `posts` lacks.
async fn context_roots(c: &deadpool_postgres::Client, posts: &[Post]) -> StoreResult<Vec<Post>> {
    let have: HashSet<&str> = posts.iter().map(|p| p.id.as_str()).collect();
    let missing: Vec<String> = posts
        .iter()
        .filter(|p| !p.root_id.is_empty() && !have.contains(p.root_id.as_str()))
        .map(|p| p.root_id.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    if missing.is_empty() {
        return Ok(vec![]);
    }
    let rows = c.query(&format!("{POST_SELECT} WHERE p.id = ANY($1)"), &[&missing]).await?;
    Ok(rows.iter().map(Post::from_row).collect())
}
