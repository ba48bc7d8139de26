//! Posts. Every post write takes the next tick of its channel's `post_clock` under that row's lock,
//! so `update_at` is strictly increasing per channel and commits in that order: a client asking for
//! posts `since` the newest `update_at` it saw misses nothing, even within one millisecond.

use super::files::{FileInfo, FILE_COLS};
use super::{now_ms, Store, StoreResult};
use deadpool_postgres::GenericClient;
use serde::Serialize;
use serde_json::Value;
use starling_protocol::new_id;
use std::collections::HashSet;
use tokio_postgres::Row;

#[derive(Debug, Clone, Serialize)]
pub struct Post {
    pub id: String,
    pub create_at: i64,
    pub update_at: i64,
    pub edit_at: i64,
    pub delete_at: i64,
    pub is_pinned: bool,
    pub user_id: String,
    pub channel_id: String,
    pub root_id: String,
    pub original_id: String,
    pub message: String,
    #[serde(rename = "type")]
    pub post_type: String,
    pub props: Value,
    pub hashtags: String,
    pub file_ids: Vec<String>,
    pub pending_post_id: String,
    pub reply_count: i64,
    pub last_reply_at: i64,
    pub participants: Option<Value>,
    /// Whether the asking user follows this thread; only in collapsed-threads lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_following: Option<bool>,
    /// Mattermost omits it when false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub has_reactions: bool,
    pub metadata: Value,
}

/// Columns of a post, with the reply count of its thread.
pub(super) const POST_SELECT: &str = "SELECT p.*, (SELECT count(*) FROM posts r WHERE r.root_id <> '' AND r.root_id = \
    (CASE WHEN p.root_id = '' THEN p.id ELSE p.root_id END) AND r.delete_at = 0) AS reply_count FROM posts p";

impl Post {
    pub(super) fn from_row(r: &Row) -> Self {
        let file_ids: Value = r.get("file_ids");
        Self {
            id: r.get("id"),
            create_at: r.get("create_at"),
            update_at: r.get("update_at"),
            edit_at: r.get("edit_at"),
            delete_at: r.get("delete_at"),
            is_pinned: r.get("is_pinned"),
            user_id: r.get("user_id"),
            channel_id: r.get("channel_id"),
            root_id: r.get("root_id"),
            original_id: r.get("original_id"),
            message: r.get("message"),
            post_type: r.get("type"),
            props: r.get("props"),
            hashtags: r.get("hashtags"),
            file_ids: serde_json::from_value(file_ids).unwrap_or_default(),
            pending_post_id: r.get("pending_post_id"),
            reply_count: r.try_get("reply_count").unwrap_or(0),
            last_reply_at: r.get("last_reply_at"),
            participants: None,
            is_following: None,
            has_reactions: r.try_get("has_reactions").unwrap_or(false),
            metadata: serde_json::json!({}),
        }
    }
}

pub struct NewPost {
    pub user_id: String,
    pub channel_id: String,
    pub root_id: String,
    pub message: String,
    pub post_type: String,
    pub props: Value,
    pub file_ids: Vec<String>,
    pub pending_post_id: String,
    pub hashtags: String,
    pub mentions: PostMentions,
    /// ThreadAutoFollow: a reply makes its author, the root's author and the mentioned follow it.
    pub auto_follow: bool,
}

/// Whose mention counts a new post raises (never its author's).
#[derive(Debug, Clone, Default)]
pub struct PostMentions {
    /// Members with these usernames.
    pub usernames: Vec<String>,
    /// `@channel` / `@all`: members who do not ignore channel mentions.
    pub channel: bool,
    /// `@here`: online members who do not ignore channel mentions.
    pub here: bool,
    /// Every member (direct and group messages).
    pub everyone: bool,
}

impl PostMentions {
    fn any(&self) -> bool {
        self.everyone || self.channel || self.here || !self.usernames.is_empty()
    }
}

/// Which posts of a channel to list.
#[derive(Debug, Clone)]
pub enum PostQuery {
    /// Newest first, `per_page` at a time.
    Page { page: i64, per_page: i64 },
    /// Every post (deleted ones too) whose `update_at` is greater than `since`.
    Since { since: i64 },
    /// Posts older than `post_id`, newest first.
    Before { post_id: String, page: i64, per_page: i64 },
    /// Posts newer than `post_id`.
    After { post_id: String, page: i64, per_page: i64 },
}

/// A page of posts, newest first, plus thread roots they refer to.
pub struct PostPage {
    pub order: Vec<Post>,
    pub roots: Vec<Post>,
    pub has_next: bool,
    pub prev_post_id: String,
    pub next_post_id: String,
}

/// The most posts one `since` request returns.
pub const SINCE_LIMIT: i64 = 1000;

/// Create a post in one statement, under the channel row's lock like every post write: take the
/// channel's next clock tick (the post's `create_at` and `update_at`) and bump its counters, attach
/// the author's unattached files of that channel (keeping the requested order), insert the post,
/// bump the thread root, and mark the channel read for the author with the new counts. Returns the
/// post's columns with `reply_count` 0 (a reply's is counted afterwards) and the author's
/// `sender` username.
///
/// `$1` channel, `$2` now (ms), `$3` root id ('' for a root post), `$4` new post id, `$5` user,
/// `$6` message, `$7` type, `$8` props, `$9` hashtags, `$10` requested file ids, `$11` pending id,
/// then the mentions ([`PostMentions`]): `$12` whether there are any (so a post without mentions
/// touches no other membership), `$13` every member, `$14` usernames, `$15` `@channel`/`@all`,
/// `$16` `@here`; `$17` whether thread members follow automatically.
///
/// Mentions are counted in the same statement, under the same channel lock: each mentioned member
/// (never the author) gets `mention_count + 1`, and `mention_count_root + 1` for a root post. A
/// channel-wide mention skips members whose channel notify prop `ignore_channel_mentions` is `on`,
/// or `default` while their user notify prop `channel` is `false` (Mattermost's rule); `@here`
/// counts only members whose status is online.
///
/// A reply also keeps its thread ([`super::threads`]) in the same statement: the thread row is
/// created by the first reply and then counts every reply atomically (`reply_count + 1` under the
/// row's lock, so replies on several nodes at once are all counted), with its last reply and its
/// participants. With `$17` (ThreadAutoFollow) the replier, the root's author and the mentioned
/// members follow it: the replier has read it up to their reply, a mentioned follower has one more
/// unread mention, and someone who unfollowed the thread is followed again only by replying or
/// being mentioned. Without `$17` only existing memberships change.
///
/// The channel row is locked first (every other CTE reads `ch`), then the files, the new post, the
/// root and the membership: the order the transaction this replaces took them in. PostgreSQL
/// re-evaluates `ch`'s SET against the newest row version after waiting for the lock, so the clock
/// stays strictly increasing per channel.
pub(super) const CREATE_POST: &str = "WITH ch AS ( \
        UPDATE channels SET post_clock = GREATEST(post_clock + 1, $2::bigint), \
            last_post_at = GREATEST(post_clock + 1, $2::bigint), \
            total_msg_count = total_msg_count + 1, \
            total_msg_count_root = total_msg_count_root + (CASE WHEN $3::varchar = '' THEN 1 ELSE 0 END), \
            last_root_post_at = (CASE WHEN $3::varchar = '' THEN GREATEST(post_clock + 1, $2::bigint) ELSE last_root_post_at END) \
        WHERE id = $1::varchar RETURNING post_clock, total_msg_count, total_msg_count_root), \
    files AS ( \
        UPDATE fileinfo f SET post_id = $4::varchar, update_at = ch.post_clock FROM ch \
        WHERE cardinality($10::varchar[]) > 0 AND f.id = ANY($10::varchar[]) AND f.creator_id = $5::varchar \
            AND f.channel_id = $1::varchar AND f.post_id = '' AND f.delete_at = 0 RETURNING f.id), \
    ins AS ( \
        INSERT INTO posts (id, create_at, update_at, user_id, channel_id, root_id, message, type, props, hashtags, file_ids, pending_post_id) \
        SELECT $4::varchar, ch.post_clock, ch.post_clock, $5::varchar, $1::varchar, $3::varchar, $6::text, $7::varchar, \
            $8::jsonb, $9::varchar, \
            (SELECT COALESCE(jsonb_agg(r.id ORDER BY r.n), '[]'::jsonb) FROM unnest($10::varchar[]) WITH ORDINALITY AS r(id, n) \
             WHERE r.id IN (SELECT id FROM files)), \
            $11::varchar \
        FROM ch RETURNING *), \
    root AS ( \
        UPDATE posts SET update_at = ch.post_clock, last_reply_at = ch.post_clock FROM ch \
        WHERE $3::varchar <> '' AND posts.id = $3::varchar RETURNING 1), \
    member AS ( \
        UPDATE channelmembers m SET last_viewed_at = ch.post_clock, last_update_at = ch.post_clock, \
            msg_count = ch.total_msg_count, msg_count_root = ch.total_msg_count_root \
        FROM ch WHERE m.channel_id = $1::varchar AND m.user_id = $5::varchar RETURNING 1), \
    mentioned AS ( \
        UPDATE channelmembers m SET mention_count = m.mention_count + 1, \
            mention_count_root = m.mention_count_root + (CASE WHEN $3::varchar = '' THEN 1 ELSE 0 END) \
        FROM ch WHERE $12::boolean AND m.channel_id = $1::varchar AND m.user_id <> $5::varchar AND ( \
            $13::boolean \
            OR m.user_id IN (SELECT u.id FROM users u WHERE u.username = ANY($14::varchar[]) AND u.delete_at = 0) \
            OR (($15::boolean OR ($16::boolean AND EXISTS (SELECT 1 FROM status s WHERE s.user_id = m.user_id \
                    AND s.status = 'online'))) \
                AND COALESCE(m.notify_props->>'ignore_channel_mentions', 'default') <> 'on' \
                AND NOT (COALESCE(m.notify_props->>'ignore_channel_mentions', 'default') = 'default' \
                    AND EXISTS (SELECT 1 FROM users u WHERE u.id = m.user_id AND u.notify_props->>'channel' = 'false')))) \
        RETURNING m.user_id), \
    thread AS ( \
        INSERT INTO threads (post_id, channel_id, reply_count, last_reply_at, participants) \
        SELECT $3::varchar, $1::varchar, 1, ins.create_at, jsonb_build_array($5::varchar) FROM ins WHERE $3::varchar <> '' \
        ON CONFLICT (post_id) DO UPDATE SET reply_count = threads.reply_count + 1, \
            last_reply_at = GREATEST(threads.last_reply_at, excluded.last_reply_at), \
            participants = (CASE WHEN threads.participants ? $5::varchar THEN threads.participants \
                ELSE threads.participants || excluded.participants END) \
        RETURNING 1), \
    follow AS ( \
        INSERT INTO threadmemberships (post_id, user_id, following, last_viewed, last_updated, unread_mentions) \
        SELECT $3::varchar, f.user_id, $17::boolean, (CASE WHEN f.user_id = $5::varchar THEN ch.post_clock ELSE 0 END), \
            ch.post_clock, (CASE WHEN f.mentioned THEN 1 ELSE 0 END) \
        FROM ch, (SELECT x.user_id, bool_or(x.mentioned) AS mentioned FROM ( \
                SELECT $5::varchar AS user_id, false AS mentioned \
                UNION ALL SELECT r.user_id, false FROM posts r WHERE r.id = $3::varchar \
                UNION ALL SELECT mentioned.user_id, true FROM mentioned) x GROUP BY x.user_id) f \
        WHERE $3::varchar <> '' AND ($17::boolean OR EXISTS (SELECT 1 FROM threadmemberships o \
            WHERE o.post_id = $3::varchar AND o.user_id = f.user_id)) \
        ON CONFLICT (post_id, user_id) DO UPDATE SET \
            following = threadmemberships.following OR ($17::boolean \
                AND (excluded.user_id = $5::varchar OR excluded.unread_mentions > 0)), \
            last_viewed = (CASE WHEN excluded.user_id = $5::varchar THEN excluded.last_viewed \
                ELSE threadmemberships.last_viewed END), \
            unread_mentions = (CASE WHEN excluded.user_id = $5::varchar THEN 0 \
                ELSE threadmemberships.unread_mentions + excluded.unread_mentions END), \
            last_updated = excluded.last_updated \
        RETURNING 1) \
    SELECT ins.*, 0::bigint AS reply_count, (SELECT username FROM users WHERE id = $5::varchar) AS sender, \
        (SELECT COALESCE(array_agg(user_id ORDER BY user_id), '{}'::varchar[]) FROM mentioned) AS mentioned FROM ins";

/// Live replies of thread `$1` created at or before `$2` and not deleted by then.
const REPLIES_UP_TO: &str = "SELECT count(*) FROM posts WHERE root_id <> '' AND root_id = $1::varchar \
    AND create_at <= $2::bigint AND (delete_at = 0 OR delete_at > $2::bigint)";

pub(super) async fn tick(c: &impl GenericClient, channel_id: &str) -> StoreResult<i64> {
    let row = c
        .query_one(
            "UPDATE channels SET post_clock = GREATEST(post_clock + 1, $2) WHERE id = $1 RETURNING post_clock",
            &[&channel_id, &now_ms()],
        )
        .await?;
    Ok(row.get(0))
}

/// Insert `p` (the channel's clock, counters, thread and followers with it): the post without
/// its metadata, its sender's username and the users it mentioned.
pub(super) async fn insert_post(c: &impl GenericClient, p: &NewPost) -> StoreResult<super::post_batch::Created> {
    let stmt = c.prepare_cached(CREATE_POST).await?;
    let mut created = insert_row(c, &stmt, p).await?;
    count_replies(c, &mut created.0).await?;
    Ok(created)
}

/// The statement of [`insert_post`], its thread's reply count not yet filled in.
pub(super) async fn insert_row(
    c: &impl GenericClient,
    stmt: &tokio_postgres::Statement,
    p: &NewPost,
) -> StoreResult<super::post_batch::Created> {
    let id = new_id();
    let row = c
        .query_one(
            stmt,
            &[
                &p.channel_id,
                &now_ms(),
                &p.root_id,
                &id,
                &p.user_id,
                &p.message,
                &p.post_type,
                &p.props,
                &p.hashtags,
                &p.file_ids,
                &p.pending_post_id,
                &p.mentions.any(),
                &p.mentions.everyone,
                &p.mentions.usernames,
                &p.mentions.channel,
                &p.mentions.here,
                &p.auto_follow,
            ],
        )
        .await?;
    let post = Post::from_row(&row);
    let sender: Option<String> = row.get("sender");
    let mentioned: Vec<String> = row.get("mentioned");
    Ok((post, sender.unwrap_or_default(), mentioned))
}

/// A new reply's `reply_count`. The insert's snapshot predates the channel lock it waited for,
/// so the thread is counted after it: replies of one root share its channel and therefore its
/// clock, so the live replies up to this one are exactly those created at or before it and not
/// deleted before it (later replies of the same transaction do not count either).
pub(super) async fn count_replies(c: &impl GenericClient, post: &mut Post) -> StoreResult<()> {
    if !post.root_id.is_empty() {
        let stmt = c.prepare_cached(REPLIES_UP_TO).await?;
        post.reply_count = c.query_one(&stmt, &[&post.root_id, &post.create_at]).await?.get(0);
    }
    Ok(())
}

pub(super) async fn post_by_id(c: &impl GenericClient, id: &str) -> StoreResult<Option<Post>> {
    Ok(c.query_opt(&format!("{POST_SELECT} WHERE p.id = $1"), &[&id]).await?.as_ref().map(Post::from_row))
}

impl Store {
    /// Create a post (a reply when `root_id` is set), attach the files its author uploaded to that
    /// channel, bump the channel, the thread root and the author's membership, and count the
    /// mentions. Returns the post, its author's username (empty if the user is gone) and the ids of
    /// the members it mentioned.
    ///
    /// One prepared statement ([`CREATE_POST`]), committed on its own: one round trip instead of a
    /// transaction of five or six.
    /// One post alone, committed with its statement (no transaction of its own).
    pub(super) async fn create_one_post(&self, p: NewPost) -> StoreResult<super::post_batch::Created> {
        let c = self.master.get().await?;
        let inserted = insert_post(&c, &p).await?;
        drop(c);
        self.finish_created(inserted).await
    }

    /// A created post with its metadata, as callers get it.
    pub(super) async fn finish_created(
        &self,
        (mut post, sender, mentioned): super::post_batch::Created,
    ) -> StoreResult<super::post_batch::Created> {
        self.fill_metadata(std::slice::from_mut(&mut post)).await?;
        Ok((post, sender, mentioned))
    }

    /// What a reply needs to know about the post it answers: its channel, whether it is deleted,
    /// and its own root (a reply cannot be a root). `None` if there is no such post.
    pub async fn reply_target(&self, id: &str) -> StoreResult<Option<(String, i64, String)>> {
        self.read(async |c| {
            let stmt =
                c.prepare_cached("SELECT channel_id, delete_at, root_id FROM posts WHERE id = $1::varchar").await?;
            Ok(c.query_opt(&stmt, &[&id]).await?.map(|r| (r.get(0), r.get(1), r.get(2))))
        })
        .await
    }

    /// A post by id, deleted or not.
    pub async fn post(&self, id: &str) -> StoreResult<Option<Post>> {
        self.read(async |c| {
            let mut post = post_by_id(c, id).await?;
            if let Some(p) = post.as_mut() {
                self.fill_metadata(std::slice::from_mut(p)).await?;
            }
            Ok(post)
        })
        .await
    }

    /// Change a post's message, props or pin; `None` leaves a field as it is. Returns the new post,
    /// or `None` if there is no such live post.
    pub async fn patch_post(
        &self,
        id: &str,
        message: Option<&str>,
        props: Option<&Value>,
        is_pinned: Option<bool>,
    ) -> StoreResult<Option<Post>> {
        let mut c = self.master.get().await?;
        let tx = c.transaction().await?;
        let Some(current) = post_by_id(&tx, id).await?.filter(|p| p.delete_at == 0) else {
            return Ok(None);
        };
        let ts = tick(&tx, &current.channel_id).await?;
        tx.execute(
            "UPDATE posts SET message = COALESCE($2, message), props = COALESCE($3, props), \
             is_pinned = COALESCE($4, is_pinned), edit_at = (CASE WHEN $2::text IS NULL THEN edit_at ELSE $5 END), \
             update_at = $5 WHERE id = $1",
            &[&id, &message, &props, &is_pinned, &ts],
        )
        .await?;
        let post = post_by_id(&tx, id).await?;
        tx.commit().await?;
        let Some(mut post) = post else {
            return Ok(None);
        };
        self.fill_metadata(std::slice::from_mut(&mut post)).await?;
        Ok(Some(post))
    }

    /// Delete a post, its replies if it is a thread root, and their files. Returns the deleted post.
    pub async fn delete_post(&self, id: &str) -> StoreResult<Option<Post>> {
        let mut c = self.master.get().await?;
        let tx = c.transaction().await?;
        let Some(current) = post_by_id(&tx, id).await?.filter(|p| p.delete_at == 0) else {
            return Ok(None);
        };
        let ts = tick(&tx, &current.channel_id).await?;
        tx.execute(
            "UPDATE posts SET delete_at = $2, update_at = $2 WHERE (id = $1 OR root_id = $1) AND delete_at = 0",
            &[&id, &ts],
        )
        .await?;
        tx.execute(
            "UPDATE fileinfo SET delete_at = $2, update_at = $2 WHERE delete_at = 0 AND post_id IN \
             (SELECT id FROM posts WHERE id = $1 OR root_id = $1)",
            &[&id, &ts],
        )
        .await?;
        if !current.root_id.is_empty() {
            tx.execute("UPDATE posts SET update_at = $2 WHERE id = $1", &[&current.root_id, &ts]).await?;
            tx.execute(
                "UPDATE threads SET reply_count = GREATEST(reply_count - 1, 0) WHERE post_id = $1",
                &[&current.root_id],
            )
            .await?;
        } else {
            tx.execute("UPDATE threads SET thread_delete_at = $2 WHERE post_id = $1", &[&id, &ts]).await?;
        }
        let post = post_by_id(&tx, id).await?;
        tx.commit().await?;
        Ok(post)
    }

    /// A thread: its root and live replies, oldest first.
    pub async fn thread(&self, root_id: &str) -> StoreResult<Vec<Post>> {
        self.read(async |c| {
            let rows = c
                .query(
                    &format!(
                        "{POST_SELECT} WHERE (p.id = $1 OR p.root_id = $1) AND p.delete_at = 0 ORDER BY p.create_at, p.id"
                    ),
                    &[&root_id],
                )
                .await?;
            let mut posts: Vec<Post> = rows.iter().map(Post::from_row).collect();
            self.fill_metadata(&mut posts).await?;
            Ok(posts)
        })
        .await
    }

    /// A channel's posts; with `root_only` (collapsed threads) only its thread roots and other root
    /// posts, with `reply_count` and `last_reply_at` as ever.
    pub async fn channel_posts(&self, channel_id: &str, q: &PostQuery, root_only: bool) -> StoreResult<PostPage> {
        let roots_only = if root_only { " AND p.root_id = ''" } else { "" };
        self.read(async |c| {
            let (mut order, has_next) = match q {
                PostQuery::Page { page, per_page } => {
                    let rows = c
                        .query(
                            &format!(
                                "{POST_SELECT} WHERE p.channel_id = $1 AND p.delete_at = 0{roots_only} \
                                 ORDER BY p.create_at DESC, p.id DESC LIMIT $2 OFFSET $3"
                            ),
                            &[&channel_id, &(per_page + 1), &(page * per_page)],
                        )
                        .await?;
                    trimmed(rows, *per_page)
                }
                PostQuery::Since { since } => {
                    let rows = c
                        .query(
                            &format!("{POST_SELECT} WHERE p.channel_id = $1 AND p.update_at > $2{roots_only} ORDER BY p.update_at, p.id LIMIT $3"),
                            &[&channel_id, since, &(SINCE_LIMIT + 1)],
                        )
                        .await?;
                    let (mut posts, more) = trimmed(rows, SINCE_LIMIT);
                    posts.sort_by(|a, b| (b.create_at, &b.id).cmp(&(a.create_at, &a.id)));
                    (posts, more)
                }
                PostQuery::Before { post_id, page, per_page } | PostQuery::After { post_id, page, per_page } => {
                    let Some(anchor) = post_by_id(c, post_id).await? else {
                        return Ok(PostPage {
                            order: vec![],
                            roots: vec![],
                            has_next: false,
                            prev_post_id: String::new(),
                            next_post_id: String::new(),
                        });
                    };
                    let before = matches!(q, PostQuery::Before { .. });
                    let (cmp, dir) = if before { ("<", "DESC") } else { (">", "ASC") };
                    let rows = c
                        .query(
                            &format!(
                                "{POST_SELECT} WHERE p.channel_id = $1 AND p.delete_at = 0{roots_only} AND (p.create_at, p.id) {cmp} ($2, $3) \
                                 ORDER BY p.create_at {dir}, p.id {dir} LIMIT $4 OFFSET $5"
                            ),
                            &[&channel_id, &anchor.create_at, &anchor.id, &(per_page + 1), &(page * per_page)],
                        )
                        .await?;
                    let (mut posts, more) = trimmed(rows, *per_page);
                    if !before {
                        posts.reverse();
                    }
                    (posts, more)
                }
            };
            // Thread roots that replies on this page refer to, for context (not part of `order`).
            let have: HashSet<&str> = order.iter().map(|p| p.id.as_str()).collect();
            let missing: Vec<String> = order
                .iter()
                .filter(|p| !p.root_id.is_empty() && !have.contains(p.root_id.as_str()))
                .map(|p| p.root_id.clone())
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            let mut roots: Vec<Post> = if missing.is_empty() {
                vec![]
            } else {
                c.query(&format!("{POST_SELECT} WHERE p.id = ANY($1)"), &[&missing])
                    .await?
                    .iter()
                    .map(Post::from_row)
                    .collect()
            };
            self.fill_metadata(&mut order).await?;
            self.fill_metadata(&mut roots).await?;
            let (prev_post_id, next_post_id) = match q {
                PostQuery::Page { .. } | PostQuery::Before { .. } if has_next => {
                    (order.last().map(|p| p.id.clone()).unwrap_or_default(), String::new())
                }
                PostQuery::After { .. } if has_next => {
                    (String::new(), order.first().map(|p| p.id.clone()).unwrap_or_default())
                }
                _ => (String::new(), String::new()),
            };
            Ok(PostPage { order, roots, has_next, prev_post_id, next_post_id })
        })
        .await
    }

    /// Fill each post's `metadata` as Mattermost does: `files` (its file infos), `reactions`, and
    /// `emojis` (the custom emoji its reactions and its text use, none while custom emoji are
    /// off); each is left out when empty.
    /// At most three queries for a whole page, and none for posts without files, reactions or
    /// `:name:` in their text.
    pub(super) async fn fill_metadata(&self, posts: &mut [Post]) -> StoreResult<()> {
        let with_files: Vec<String> = posts.iter().filter(|p| !p.file_ids.is_empty()).map(|p| p.id.clone()).collect();
        let with_reactions: Vec<String> = posts.iter().filter(|p| p.has_reactions).map(|p| p.id.clone()).collect();
        let custom_emoji = self.custom_emoji();
        let text_names: Vec<String> =
            if custom_emoji { posts.iter().flat_map(|p| emoji_names_in(&p.message)).collect() } else { vec![] };
        if with_files.is_empty() && with_reactions.is_empty() && text_names.is_empty() {
            return Ok(());
        }
        let (infos, reactions, emojis) = self
            .read(async |c| {
                let infos: Vec<FileInfo> = if with_files.is_empty() {
                    vec![]
                } else {
                    let sql =
                        format!("SELECT {FILE_COLS} FROM fileinfo WHERE post_id = ANY($1) ORDER BY create_at, id");
                    c.query(&sql, &[&with_files]).await?.iter().map(FileInfo::from_row).collect()
                };
                let reactions = if with_reactions.is_empty() {
                    vec![]
                } else {
                    super::reactions::reactions_of(c, &with_reactions).await?
                };
                let mut names = text_names.clone();
                names.extend(reactions.iter().map(|r| r.emoji_name.clone()));
                names.retain(|n| custom_emoji && !crate::emoji::is_system_emoji(n));
                names.sort();
                names.dedup();
                let emojis = if names.is_empty() { vec![] } else { super::emoji::emoji_named(c, &names).await? };
                Ok((infos, reactions, emojis))
            })
            .await?;
        for p in posts.iter_mut() {
            let mut meta = serde_json::Map::new();
            let files: Vec<&FileInfo> = infos.iter().filter(|f| f.post_id == p.id).collect();
            if !files.is_empty() {
                meta.insert("files".into(), serde_json::json!(files));
            }
            let mine: Vec<&super::Reaction> = reactions.iter().filter(|r| r.post_id == p.id).collect();
            let used: Vec<String> =
                emoji_names_in(&p.message).chain(mine.iter().map(|r| r.emoji_name.clone())).collect();
            let emoji: Vec<&super::Emoji> = emojis.iter().filter(|e| used.contains(&e.name)).collect();
            if !emoji.is_empty() {
                meta.insert("emojis".into(), serde_json::json!(emoji));
            }
            if !mine.is_empty() {
                meta.insert("reactions".into(), serde_json::json!(mine));
            }
            if !meta.is_empty() {
                p.metadata = Value::Object(meta);
            }
        }
        Ok(())
    }
}

/// The `:name:` emoji a message's text names, found left to right without overlaps as
/// Mattermost's emoji pattern finds them.
pub fn emoji_names_in(message: &str) -> impl Iterator<Item = String> + '_ {
    let mut rest = message;
    std::iter::from_fn(move || loop {
        let start = rest.find(':')?;
        let after = &rest[start + 1..];
        let len = after.find(|c: char| !crate::emoji::is_name_char(c)).unwrap_or(after.len());
        if len > 0 && after[len..].starts_with(':') {
            rest = &after[len + 1..];
            if len <= crate::emoji::NAME_MAX_LEN {
                return Some(after[..len].to_owned());
            }
        } else {
            rest = after;
        }
    })
}

fn trimmed(rows: Vec<Row>, limit: i64) -> (Vec<Post>, bool) {
    let more = rows.len() as i64 > limit;
    (rows.iter().take(limit.max(0) as usize).map(Post::from_row).collect(), more)
}
