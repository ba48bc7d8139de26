//! Collapsed reply threads: the `threads` rows that replies keep (in the statement that creates
//! each reply, see [`super::posts`]) and each user's `threadmemberships`: following or not, read up
//! to when, and unread mentions. Unread replies are always counted from the posts themselves, so
//! they are exact however many nodes wrote replies at once.

use super::posts::{Post, POST_SELECT};
use super::read_state::UnreadPost;
use super::{now_ms, Store, StoreResult};
use std::collections::HashMap;
use tokio_postgres::Row;

/// A thread as one user sees it (a thread they have no membership of reads as not followed and
/// never viewed).
#[derive(Debug, Clone)]
pub struct UserThreadRow {
    pub id: String,
    pub channel_id: String,
    pub reply_count: i64,
    pub last_reply_at: i64,
    /// Ids of the users who replied, in the order of their first reply.
    pub participants: Vec<String>,
    pub delete_at: i64,
    pub user_id: String,
    pub following: bool,
    pub last_viewed_at: i64,
    pub unread_replies: i64,
    pub unread_mentions: i64,
}

/// A user's thread counts in a team (Mattermost's `total`, `total_unread_threads`,
/// `total_unread_mentions`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ThreadTotals {
    pub total: i64,
    pub unread_threads: i64,
    pub unread_mentions: i64,
}

/// Which of a user's followed threads to list, newest reply first.
#[derive(Debug, Clone, Default)]
pub struct ThreadQuery {
    /// Only threads with a reply or a membership change after this time (ms).
    pub since: i64,
    /// Threads older than this thread.
    pub before: Option<String>,
    /// Threads newer than this thread.
    pub after: Option<String>,
    pub per_page: i64,
    /// Threads whose root is deleted too.
    pub deleted: bool,
    /// Only threads with unread replies.
    pub unread: bool,
}

/// The thread columns for user `$1`, from `threads t` left-joined with their membership `m`.
const THREAD_COLS: &str = "t.post_id, t.channel_id, t.reply_count, t.last_reply_at, t.participants, \
    t.thread_delete_at, COALESCE(m.following, false) AS following, COALESCE(m.last_viewed, 0) AS last_viewed, \
    COALESCE(m.unread_mentions, 0) AS unread_mentions, \
    (SELECT count(*) FROM posts r WHERE r.root_id = t.post_id AND r.delete_at = 0 \
        AND r.create_at > COALESCE(m.last_viewed, 0)) AS unread_replies";

/// The followed threads of user `$1` in team `$2` (and in their direct and group messages).
const FOLLOWED_IN_TEAM: &str = "FROM threadmemberships m JOIN threads t ON t.post_id = m.post_id \
    JOIN channels c ON c.id = t.channel_id \
    WHERE m.user_id = $1 AND m.following AND (c.team_id = $2 OR c.team_id = '')";

impl UserThreadRow {
    fn from_row(user_id: &str, r: &Row) -> Self {
        let participants: serde_json::Value = r.get("participants");
        Self {
            id: r.get("post_id"),
            channel_id: r.get("channel_id"),
            reply_count: r.get("reply_count"),
            last_reply_at: r.get("last_reply_at"),
            participants: serde_json::from_value(participants).unwrap_or_default(),
            delete_at: r.get("thread_delete_at"),
            user_id: user_id.to_owned(),
            following: r.get("following"),
            last_viewed_at: r.get("last_viewed"),
            unread_replies: r.get("unread_replies"),
            unread_mentions: r.get("unread_mentions"),
        }
    }
}

/// How the API counts a user's mentions among replies (the same rules as a channel's).
pub type ThreadMentionCounter<'a> = &'a (dyn Fn(&[UnreadPost]) -> i64 + Sync);

impl Store {
    /// A page of the threads a user follows in a team, newest reply first.
    pub async fn user_threads(&self, user_id: &str, team_id: &str, q: &ThreadQuery) -> StoreResult<Vec<UserThreadRow>> {
        self.read(async |c| {
            let anchor_id = q.before.as_deref().or(q.after.as_deref()).unwrap_or("");
            let anchor: Option<i64> = if anchor_id.is_empty() {
                None
            } else {
                let row = c.query_opt("SELECT last_reply_at FROM threads WHERE post_id = $1", &[&anchor_id]).await?;
                match row {
                    Some(r) => Some(r.get(0)),
                    None => return Ok(vec![]),
                }
            };
            // 0: the newest; 1: older than the anchor; 2: newer than it (read oldest first).
            let mode: i32 = match (anchor, q.before.is_some()) {
                (None, _) => 0,
                (Some(_), true) => 1,
                (Some(_), false) => 2,
            };
            let dir = if mode == 2 { "ASC" } else { "DESC" };
            let sql = format!(
                "SELECT {THREAD_COLS} {FOLLOWED_IN_TEAM} \
                 AND ($3::bigint <= 0 OR t.last_reply_at > $3 OR m.last_updated > $3) \
                 AND ($6::boolean OR t.thread_delete_at = 0) \
                 AND ($9::int = 0 OR ($9 = 1 AND (t.last_reply_at, t.post_id) < ($4::bigint, $5::varchar)) \
                     OR ($9 = 2 AND (t.last_reply_at, t.post_id) > ($4::bigint, $5::varchar))) \
                 AND (NOT $7::boolean OR t.last_reply_at > m.last_viewed) \
                 ORDER BY t.last_reply_at {dir}, t.post_id {dir} LIMIT $8"
            );
            let (at, id) = (anchor.unwrap_or(0), anchor_id.to_owned());
            let rows = c
                .query(&sql, &[&user_id, &team_id, &q.since, &at, &id, &q.deleted, &q.unread, &q.per_page, &mode])
                .await?;
            let mut threads: Vec<UserThreadRow> = rows.iter().map(|r| UserThreadRow::from_row(user_id, r)).collect();
            if dir == "ASC" {
                threads.reverse();
            }
            Ok(threads)
        })
        .await
    }

    /// A user's thread totals in a team.
    pub async fn thread_totals(&self, user_id: &str, team_id: &str, deleted: bool) -> StoreResult<ThreadTotals> {
        self.read(async |c| {
            let r = c
                .query_one(
                    &format!(
                        "SELECT count(*), count(*) FILTER (WHERE t.last_reply_at > m.last_viewed), \
                         COALESCE(sum(m.unread_mentions), 0)::bigint {FOLLOWED_IN_TEAM} \
                         AND ($3::boolean OR t.thread_delete_at = 0)"
                    ),
                    &[&user_id, &team_id, &deleted],
                )
                .await?;
            Ok(ThreadTotals { total: r.get(0), unread_threads: r.get(1), unread_mentions: r.get(2) })
        })
        .await
    }

    /// One thread as `user_id` sees it. `None` if the post has no thread (no reply, never followed).
    pub async fn user_thread(&self, user_id: &str, thread_id: &str) -> StoreResult<Option<UserThreadRow>> {
        let c = self.master.get().await?;
        let row = c
            .query_opt(
                &format!(
                    "SELECT {THREAD_COLS} FROM threads t LEFT JOIN threadmemberships m \
                     ON m.post_id = t.post_id AND m.user_id = $1 WHERE t.post_id = $2"
                ),
                &[&user_id, &thread_id],
            )
            .await?;
        Ok(row.map(|r| UserThreadRow::from_row(user_id, &r)))
    }

    /// The thread as each of its followers sees it (for `thread_updated`).
    pub async fn thread_followers(&self, thread_id: &str) -> StoreResult<Vec<UserThreadRow>> {
        let c = self.master.get().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT m.user_id, {THREAD_COLS} FROM threads t JOIN threadmemberships m ON m.post_id = t.post_id \
                     WHERE t.post_id = $1 AND m.following ORDER BY m.user_id"
                ),
                &[&thread_id],
            )
            .await?;
        Ok(rows.iter().map(|r| UserThreadRow::from_row(r.get("user_id"), r)).collect())
    }

    /// Follow or unfollow a thread. Following a root without replies starts its thread. `None` if
    /// `thread_id` is not a live root post.
    pub async fn set_thread_following(
        &self,
        user_id: &str,
        thread_id: &str,
        following: bool,
    ) -> StoreResult<Option<UserThreadRow>> {
        let c = self.master.get().await?;
        let started = c
            .execute(
                "INSERT INTO threads (post_id, channel_id, reply_count, last_reply_at, participants, thread_delete_at) \
                 SELECT p.id, p.channel_id, 0, 0, '[]'::jsonb, p.delete_at FROM posts p \
                 WHERE p.id = $1 AND p.root_id = '' AND p.delete_at = 0 ON CONFLICT (post_id) DO NOTHING",
                &[&thread_id],
            )
            .await?;
        if started == 0 && c.query_opt("SELECT 1 FROM threads WHERE post_id = $1", &[&thread_id]).await?.is_none() {
            return Ok(None);
        }
        c.execute(
            "INSERT INTO threadmemberships (post_id, user_id, following, last_viewed, last_updated, unread_mentions) \
             VALUES ($1, $2, $3, 0, $4, 0) ON CONFLICT (post_id, user_id) DO UPDATE SET following = $3, last_updated = $4",
            &[&thread_id, &user_id, &following, &now_ms()],
        )
        .await?;
        drop(c);
        self.user_thread(user_id, thread_id).await
    }

    /// Mark a thread read up to `timestamp` for a user (earlier than before: unread again from
    /// there): the replies after it are unread and the mentions among them, counted by
    /// `count_mentions` over the others' live replies, are its unread mentions. Returns the thread
    /// before and after, or `None` if there is no such thread.
    pub async fn set_thread_read(
        &self,
        user_id: &str,
        thread_id: &str,
        timestamp: i64,
        count_mentions: ThreadMentionCounter<'_>,
    ) -> StoreResult<Option<(UserThreadRow, UserThreadRow)>> {
        let Some(before) = self.user_thread(user_id, thread_id).await? else {
            return Ok(None);
        };
        let c = self.master.get().await?;
        let rows = c
            .query(
                "SELECT user_id, root_id, message FROM posts WHERE root_id = $1 AND create_at > $2 \
                 AND delete_at = 0 AND user_id <> $3 ORDER BY create_at",
                &[&thread_id, &timestamp, &user_id],
            )
            .await?;
        let replies: Vec<UnreadPost> =
            rows.iter().map(|r| UnreadPost { user_id: r.get(0), root_id: r.get(1), message: r.get(2) }).collect();
        let mentions = count_mentions(&replies);
        c.execute(
            "INSERT INTO threadmemberships (post_id, user_id, following, last_viewed, last_updated, unread_mentions) \
             VALUES ($1, $2, false, $3, $4, $5) ON CONFLICT (post_id, user_id) DO UPDATE SET \
             last_viewed = $3, last_updated = $4, unread_mentions = $5",
            &[&thread_id, &user_id, &timestamp, &now_ms(), &mentions],
        )
        .await?;
        drop(c);
        Ok(self.user_thread(user_id, thread_id).await?.map(|after| (before, after)))
    }

    /// Mark every followed thread of a team (and of the user's direct and group messages) read
    /// at `timestamp`.
    pub async fn mark_threads_read(&self, user_id: &str, team_id: &str, timestamp: i64) -> StoreResult<u64> {
        let c = self.master.get().await?;
        Ok(c.execute(
            "UPDATE threadmemberships m SET last_viewed = GREATEST(m.last_viewed, $3), unread_mentions = 0, \
             last_updated = $4 FROM threads t JOIN channels c ON c.id = t.channel_id \
             WHERE t.post_id = m.post_id AND m.user_id = $1 AND m.following AND (c.team_id = $2 OR c.team_id = '')",
            &[&user_id, &team_id, &timestamp, &now_ms()],
        )
        .await?)
    }

    /// For root posts in a collapsed-threads list: each one's participants (ids) and whether
    /// `user_id` follows it.
    pub async fn thread_marks(
        &self,
        user_id: &str,
        root_ids: &[String],
    ) -> StoreResult<HashMap<String, (Vec<String>, bool)>> {
        if root_ids.is_empty() {
            return Ok(HashMap::new());
        }
        self.read(async |c| {
            let rows = c
                .query(
                    "SELECT t.post_id, t.participants, COALESCE(m.following, false) FROM threads t \
                     LEFT JOIN threadmemberships m ON m.post_id = t.post_id AND m.user_id = $1 WHERE t.post_id = ANY($2)",
                    &[&user_id, &root_ids],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| {
                    let p: serde_json::Value = r.get(1);
                    (r.get(0), (serde_json::from_value(p).unwrap_or_default(), r.get(2)))
                })
                .collect())
        })
        .await
    }

    /// Root posts by id, deleted ones too, with their metadata.
    pub async fn root_posts(&self, ids: &[String]) -> StoreResult<Vec<Post>> {
        self.read(async |c| {
            let rows = c.query(&format!("{POST_SELECT} WHERE p.id = ANY($1)"), &[&ids]).await?;
            let mut posts: Vec<Post> = rows.iter().map(Post::from_row).collect();
            self.fill_metadata(&mut posts).await?;
            Ok(posts)
        })
        .await
    }
}
