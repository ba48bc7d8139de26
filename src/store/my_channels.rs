//! A user's channels and memberships across teams, team unread counts, channel stats, and the
//! channel edits the apps make (patch, archive, restore).

use super::channels::{qualified_cols, Channel, ChannelMember, CHANNEL_COLS};
use super::{now_ms, Store, StoreResult};
use serde::Serialize;

/// A membership with its team's names, as `GET /users/{id}/channel_members` returns it (team
/// fields empty for direct and group messages).
#[derive(Debug, Clone, Serialize)]
pub struct MemberWithTeam {
    #[serde(flatten)]
    pub member: ChannelMember,
    pub team_display_name: String,
    pub team_name: String,
    pub team_update_at: i64,
}

/// A team's unread counts for one user. `msg_count` is the number of unread posts.
#[derive(Debug, Clone, Serialize)]
pub struct TeamUnread {
    pub team_id: String,
    pub msg_count: i64,
    pub mention_count: i64,
    pub msg_count_root: i64,
    pub mention_count_root: i64,
    pub urgent_mention_count: i64,
    pub thread_count: i64,
    pub thread_mention_count: i64,
    pub thread_urgent_mention_count: i64,
}

/// `GET /channels/{id}/stats`.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelStats {
    pub channel_id: String,
    pub member_count: i64,
    pub guest_count: i64,
    pub pinnedpost_count: i64,
    /// -1 when not asked for (`exclude_files_count=true`), as in Mattermost.
    pub files_count: i64,
}

/// Which channels of a user to list.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChannelFilter<'a> {
    /// One team's channels (and the user's direct and group messages), or every channel.
    pub team_id: Option<&'a str>,
    pub include_deleted: bool,
    /// With deleted ones excluded: still list channels archived after this time (ms).
    pub last_delete_at: i64,
}

/// The new values of a channel's editable fields (`None`: unchanged).
#[derive(Debug, Clone, Default)]
pub struct ChannelPatch {
    pub name: Option<String>,
    pub display_name: Option<String>,
    pub header: Option<String>,
    pub purpose: Option<String>,
}

/// Unread posts of a channel for a member: none in channels whose notify prop `mark_unread` is
/// `mention` (muted), as Mattermost counts a team's unreads.
const UNREAD_MSGS: &str = "CASE WHEN m.notify_props->>'mark_unread' = 'mention' THEN 0 \
    ELSE GREATEST(c.total_msg_count - m.msg_count, 0) END";
const UNREAD_ROOT_MSGS: &str = "CASE WHEN m.notify_props->>'mark_unread' = 'mention' THEN 0 \
    ELSE GREATEST(c.total_msg_count_root - m.msg_count_root, 0) END";

impl Store {
    /// The channels a user is a member of, by display name.
    pub async fn user_channels(&self, user_id: &str, f: ChannelFilter<'_>) -> StoreResult<Vec<Channel>> {
        self.read(async |c| {
            let rows = c
                .query(
                    &format!(
                        "SELECT {} FROM channels c JOIN channelmembers m ON m.channel_id = c.id \
                         WHERE m.user_id = $1 AND ($2::varchar IS NULL OR c.team_id = $2 OR c.team_id = '') \
                         AND ($3::boolean OR c.delete_at = 0 OR ($4::bigint > 0 AND c.delete_at >= $4::bigint)) \
                         ORDER BY c.display_name, c.id",
                        qualified_cols("c")
                    ),
                    &[&user_id, &f.team_id, &f.include_deleted, &f.last_delete_at],
                )
                .await?;
            Ok(rows.iter().map(Channel::from_row).collect())
        })
        .await
    }

    /// Every membership of a user with its team's names (`limit`: a page of `(offset, count)`).
    pub async fn user_channel_members(
        &self,
        user_id: &str,
        limit: Option<(i64, i64)>,
    ) -> StoreResult<Vec<MemberWithTeam>> {
        let (offset, count) = limit.unwrap_or((0, i64::MAX));
        self.read(async |c| {
            let rows = c
                .query(
                    "SELECT m.*, COALESCE(t.display_name, '') AS team_display_name, COALESCE(t.name, '') AS team_name, \
                     COALESCE(t.update_at, 0) AS team_update_at FROM channelmembers m \
                     JOIN channels c ON c.id = m.channel_id LEFT JOIN teams t ON t.id = c.team_id AND c.team_id <> '' \
                     WHERE m.user_id = $1 ORDER BY m.channel_id LIMIT $2 OFFSET $3",
                    &[&user_id, &count, &offset],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| MemberWithTeam {
                    member: ChannelMember::from_row(r),
                    team_display_name: r.get("team_display_name"),
                    team_name: r.get("team_name"),
                    team_update_at: r.get("team_update_at"),
                })
                .collect())
        })
        .await
    }

    /// A user's memberships of one team's channels and of their direct and group messages.
    pub async fn user_team_channel_members(&self, user_id: &str, team_id: &str) -> StoreResult<Vec<ChannelMember>> {
        self.read(async |c| {
            let rows = c
                .query(
                    "SELECT m.* FROM channelmembers m JOIN channels c ON c.id = m.channel_id \
                     WHERE m.user_id = $1 AND (c.team_id = $2 OR c.team_id = '') ORDER BY m.channel_id",
                    &[&user_id, &team_id],
                )
                .await?;
            Ok(rows.iter().map(ChannelMember::from_row).collect())
        })
        .await
    }

    /// Unread and mention counts per team of a user (their live channels of current teams;
    /// direct and group messages count for no team), with the followed threads of the team that
    /// have unread replies and their unread mentions. `team_id` restricts to one team, `exclude`
    /// leaves one out.
    pub async fn team_unreads(
        &self,
        user_id: &str,
        team_id: Option<&str>,
        exclude: Option<&str>,
    ) -> StoreResult<Vec<TeamUnread>> {
        self.read(async |c| {
            let rows = c
                .query(
                    &format!(
                        "SELECT tm.team_id, COALESCE(u.msg_count, 0)::bigint AS msg_count, \
                         COALESCE(u.mention_count, 0)::bigint AS mention_count, \
                         COALESCE(u.msg_count_root, 0)::bigint AS msg_count_root, \
                         COALESCE(u.mention_count_root, 0)::bigint AS mention_count_root, \
                         th.thread_count, th.thread_mention_count \
                         FROM teammembers tm LEFT JOIN LATERAL ( \
                             SELECT SUM({UNREAD_MSGS}) AS msg_count, SUM(m.mention_count) AS mention_count, \
                             SUM({UNREAD_ROOT_MSGS}) AS msg_count_root, SUM(m.mention_count_root) AS mention_count_root \
                             FROM channelmembers m JOIN channels c ON c.id = m.channel_id \
                             WHERE m.user_id = tm.user_id AND c.team_id = tm.team_id AND c.delete_at = 0) u ON true \
                         CROSS JOIN LATERAL ( \
                             SELECT count(*) FILTER (WHERE t.last_reply_at > tm2.last_viewed) AS thread_count, \
                             COALESCE(sum(tm2.unread_mentions), 0)::bigint AS thread_mention_count \
                             FROM threadmemberships tm2 JOIN threads t ON t.post_id = tm2.post_id \
                             JOIN channels c ON c.id = t.channel_id \
                             WHERE tm2.user_id = tm.user_id AND tm2.following AND c.team_id = tm.team_id \
                             AND c.delete_at = 0 AND t.thread_delete_at = 0) th \
                         WHERE tm.user_id = $1 AND tm.delete_at = 0 AND ($2::varchar IS NULL OR tm.team_id = $2) \
                         AND ($3::varchar IS NULL OR tm.team_id <> $3) ORDER BY tm.team_id"
                    ),
                    &[&user_id, &team_id, &exclude],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| TeamUnread {
                    team_id: r.get("team_id"),
                    msg_count: r.get("msg_count"),
                    mention_count: r.get("mention_count"),
                    msg_count_root: r.get("msg_count_root"),
                    mention_count_root: r.get("mention_count_root"),
                    urgent_mention_count: 0,
                    thread_count: r.get("thread_count"),
                    thread_mention_count: r.get("thread_mention_count"),
                    thread_urgent_mention_count: 0,
                })
                .collect())
        })
        .await
    }

    pub async fn channel_stats(&self, channel_id: &str, with_files: bool) -> StoreResult<ChannelStats> {
        self.read(async |c| {
            let r = c
                .query_one(
                    "SELECT (SELECT count(*) FROM channelmembers m JOIN users u ON u.id = m.user_id \
                         WHERE m.channel_id = $1 AND u.delete_at = 0) AS members, \
                     (SELECT count(*) FROM channelmembers m JOIN users u ON u.id = m.user_id \
                         WHERE m.channel_id = $1 AND u.delete_at = 0 AND m.scheme_guest) AS guests, \
                     (SELECT count(*) FROM posts WHERE channel_id = $1 AND is_pinned AND delete_at = 0) AS pinned, \
                     (CASE WHEN $2::boolean THEN (SELECT count(*) FROM fileinfo WHERE channel_id = $1 AND delete_at = 0 \
                         AND post_id <> '') ELSE -1::bigint END) AS files",
                    &[&channel_id, &with_files],
                )
                .await?;
            Ok(ChannelStats {
                channel_id: channel_id.to_owned(),
                member_count: r.get("members"),
                guest_count: r.get("guests"),
                pinnedpost_count: r.get("pinned"),
                files_count: r.get("files"),
            })
        })
        .await
    }

    /// A channel by its team's name and its own.
    pub async fn channel_by_team_name(&self, team_name: &str, name: &str) -> StoreResult<Option<Channel>> {
        self.read(async |c| {
            let row = c
                .query_opt(
                    &format!(
                        "SELECT {} FROM channels c JOIN teams t ON t.id = c.team_id WHERE t.name = $1 AND c.name = $2",
                        qualified_cols("c")
                    ),
                    &[&team_name, &name],
                )
                .await?;
            Ok(row.as_ref().map(Channel::from_row))
        })
        .await
    }

    /// A team's archived channels: the open ones, and the private ones `user_id` is a member of.
    pub async fn archived_channels(
        &self,
        team_id: &str,
        user_id: &str,
        page: i64,
        per_page: i64,
    ) -> StoreResult<Vec<Channel>> {
        self.read(async |c| {
            let rows = c
                .query(
                    &format!(
                        "SELECT {CHANNEL_COLS} FROM channels c WHERE c.team_id = $1 AND c.delete_at <> 0 \
                         AND (c.type = 'O' OR (c.type = 'P' AND EXISTS (SELECT 1 FROM channelmembers m \
                         WHERE m.channel_id = c.id AND m.user_id = $2))) \
                         ORDER BY c.display_name, c.id LIMIT $3 OFFSET $4"
                    ),
                    &[&team_id, &user_id, &per_page, &(page * per_page)],
                )
                .await?;
            Ok(rows.iter().map(Channel::from_row).collect())
        })
        .await
    }

    /// A team's live open channels whose name or display name contains `term` (case-insensitive).
    pub async fn search_team_channels(&self, team_id: &str, term: &str, limit: i64) -> StoreResult<Vec<Channel>> {
        let pattern =
            format!("%{}%", term.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        self.read(async |c| {
            let rows = c
                .query(
                    &format!(
                        "SELECT {CHANNEL_COLS} FROM channels WHERE team_id = $1 AND type = 'O' AND delete_at = 0 \
                         AND (lower(name) LIKE $2 OR lower(display_name) LIKE $2) ORDER BY display_name, id LIMIT $3"
                    ),
                    &[&team_id, &pattern, &limit],
                )
                .await?;
            Ok(rows.iter().map(Channel::from_row).collect())
        })
        .await
    }

    /// Change a channel's editable fields. `None` if there is no such channel.
    pub async fn patch_channel(&self, id: &str, p: &ChannelPatch) -> StoreResult<Option<Channel>> {
        let c = self.master.get().await?;
        let row = c
            .query_opt(
                &format!(
                    "UPDATE channels SET name = COALESCE($2, name), display_name = COALESCE($3, display_name), \
                     header = COALESCE($4, header), purpose = COALESCE($5, purpose), update_at = $6 \
                     WHERE id = $1 RETURNING {CHANNEL_COLS}"
                ),
                &[&id, &p.name, &p.display_name, &p.header, &p.purpose, &now_ms()],
            )
            .await?;
        Ok(row.as_ref().map(Channel::from_row))
    }

    /// Archive (`archived`) or restore a channel: `None` if it was not in the other state.
    pub async fn set_channel_archived(&self, id: &str, archived: bool) -> StoreResult<Option<Channel>> {
        let c = self.master.get().await?;
        let now = now_ms();
        let row = c
            .query_opt(
                &format!(
                    "UPDATE channels SET delete_at = (CASE WHEN $2::boolean THEN $3::bigint ELSE 0 END), update_at = $3::bigint \
                     WHERE id = $1 AND (delete_at <> 0) <> $2::boolean RETURNING {CHANNEL_COLS}"
                ),
                &[&id, &archived, &now],
            )
            .await?;
        Ok(row.as_ref().map(Channel::from_row))
    }

    /// Merge notify props into a membership's. `None` if there is no such member.
    pub async fn merge_member_notify_props(
        &self,
        channel_id: &str,
        user_id: &str,
        props: &serde_json::Value,
    ) -> StoreResult<Option<ChannelMember>> {
        let c = self.master.get().await?;
        let row = c
            .query_opt(
                "UPDATE channelmembers SET notify_props = notify_props || $3::jsonb, last_update_at = $4 \
                 WHERE channel_id = $1 AND user_id = $2 RETURNING *",
                &[&channel_id, &user_id, props, &now_ms()],
            )
            .await?;
        Ok(row.as_ref().map(ChannelMember::from_row))
    }
}
