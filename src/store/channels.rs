//! Channels and channel members.

use super::{now_ms, Store, StoreResult};
use deadpool_postgres::GenericClient;
use serde::Serialize;
use serde_json::Value;
use starling_protocol::new_id;
use tokio_postgres::Row;

#[derive(Debug, Clone, Serialize)]
pub struct Channel {
    pub id: String,
    pub create_at: i64,
    pub update_at: i64,
    pub delete_at: i64,
    pub team_id: String,
    #[serde(rename = "type")]
    pub channel_type: String,
    pub display_name: String,
    pub name: String,
    pub header: String,
    pub purpose: String,
    pub last_post_at: i64,
    pub total_msg_count: i64,
    pub extra_update_at: i64,
    pub creator_id: String,
    pub scheme_id: Option<String>,
    pub props: Option<Value>,
    pub group_constrained: Option<bool>,
    pub shared: Option<bool>,
    pub total_msg_count_root: i64,
    pub policy_id: Option<String>,
    pub last_root_post_at: i64,
}

pub(super) const CHANNEL_COLS: &str =
    "id, create_at, update_at, delete_at, team_id, type, display_name, name, header, purpose, \
    last_post_at, total_msg_count, extra_update_at, creator_id, total_msg_count_root, last_root_post_at";

/// A channel with the roles of one user's membership (NULL when not a member): `$1` the channel,
/// `$2` the user.
static CHANNEL_WITH_MEMBERSHIP: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {}, m.user_id IS NOT NULL AS is_member, m.roles AS m_roles, m.scheme_guest AS m_guest, \
         m.scheme_user AS m_user, m.scheme_admin AS m_admin FROM channels c LEFT JOIN channelmembers m \
         ON m.channel_id = c.id AND m.user_id = $2::varchar WHERE c.id = $1::varchar",
        qualified_cols("c")
    )
});

/// [`CHANNEL_COLS`] qualified by a table alias.
pub(super) fn qualified_cols(alias: &str) -> String {
    CHANNEL_COLS.split(", ").map(|c| format!("{alias}.{}", c.trim())).collect::<Vec<_>>().join(", ")
}

impl Channel {
    pub(super) fn from_row(r: &Row) -> Self {
        Self {
            id: r.get("id"),
            create_at: r.get("create_at"),
            update_at: r.get("update_at"),
            delete_at: r.get("delete_at"),
            team_id: r.get("team_id"),
            channel_type: r.get("type"),
            display_name: r.get("display_name"),
            name: r.get("name"),
            header: r.get("header"),
            purpose: r.get("purpose"),
            last_post_at: r.get("last_post_at"),
            total_msg_count: r.get("total_msg_count"),
            extra_update_at: r.get("extra_update_at"),
            creator_id: r.get("creator_id"),
            scheme_id: None,
            props: None,
            group_constrained: None,
            shared: None,
            total_msg_count_root: r.get("total_msg_count_root"),
            policy_id: None,
            last_root_post_at: r.get("last_root_post_at"),
        }
    }

    pub fn is_open(&self) -> bool {
        self.channel_type == "O"
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ChannelMember {
    pub channel_id: String,
    pub user_id: String,
    pub roles: String,
    pub last_viewed_at: i64,
    pub msg_count: i64,
    pub mention_count: i64,
    pub mention_count_root: i64,
    pub urgent_mention_count: i64,
    pub msg_count_root: i64,
    pub notify_props: Value,
    pub last_update_at: i64,
    pub scheme_guest: bool,
    pub scheme_user: bool,
    pub scheme_admin: bool,
    pub explicit_roles: String,
}

impl ChannelMember {
    pub(super) fn from_row(r: &Row) -> Self {
        Self {
            channel_id: r.get("channel_id"),
            user_id: r.get("user_id"),
            roles: super::teams::scheme_roles(r, "channel"),
            last_viewed_at: r.get("last_viewed_at"),
            msg_count: r.get("msg_count"),
            mention_count: r.get("mention_count"),
            mention_count_root: r.get("mention_count_root"),
            urgent_mention_count: 0,
            msg_count_root: r.get("msg_count_root"),
            notify_props: r.get("notify_props"),
            last_update_at: r.get("last_update_at"),
            scheme_guest: r.get("scheme_guest"),
            scheme_user: r.get("scheme_user"),
            scheme_admin: r.get("scheme_admin"),
            explicit_roles: String::new(),
        }
    }
}

pub struct NewChannel {
    pub team_id: String,
    pub name: String,
    pub display_name: String,
    pub channel_type: String,
    pub header: String,
    pub purpose: String,
    pub creator_id: String,
}

fn default_member_notify_props() -> Value {
    serde_json::json!({"desktop": "default", "email": "default", "ignore_channel_mentions": "default", "mark_unread": "all", "push": "default"})
}

pub(super) async fn create_channel_tx(c: &impl GenericClient, ch: &NewChannel) -> StoreResult<Channel> {
    let now = now_ms();
    let row = c
        .query_one(
            &format!(
                "INSERT INTO channels (id, create_at, update_at, team_id, type, display_name, name, header, purpose, creator_id) \
                 VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {CHANNEL_COLS}"
            ),
            &[&new_id(), &now, &ch.team_id, &ch.channel_type, &ch.display_name, &ch.name, &ch.header, &ch.purpose, &ch.creator_id],
        )
        .await?;
    Ok(Channel::from_row(&row))
}

/// Add a member (a no-op returning the current row if they already are one).
pub(super) async fn add_channel_member_tx(
    c: &impl GenericClient,
    channel_id: &str,
    user_id: &str,
    admin: bool,
) -> StoreResult<ChannelMember> {
    let now = now_ms();
    let inserted = c
        .query_opt(
            "INSERT INTO channelmembers (channel_id, user_id, scheme_admin, notify_props, last_update_at, last_viewed_at, msg_count, msg_count_root) \
             SELECT $1::varchar, $2::varchar, $3::boolean, $4::jsonb, $5::bigint, $5::bigint, c.total_msg_count, c.total_msg_count_root \
             FROM channels c WHERE c.id = $1::varchar \
             ON CONFLICT (channel_id, user_id) DO NOTHING RETURNING *",
            &[&channel_id, &user_id, &admin, &default_member_notify_props(), &now],
        )
        .await?;
    match inserted {
        Some(r) => Ok(ChannelMember::from_row(&r)),
        None => {
            let r = c
                .query_one(
                    "SELECT * FROM channelmembers WHERE channel_id = $1 AND user_id = $2",
                    &[&channel_id, &user_id],
                )
                .await?;
            Ok(ChannelMember::from_row(&r))
        }
    }
}

impl Store {
    /// Create a channel; its creator (if any) becomes its first member and admin.
    pub async fn create_channel(&self, ch: &NewChannel) -> StoreResult<Channel> {
        let mut c = self.master.get().await?;
        let tx = c.transaction().await?;
        let channel = create_channel_tx(&tx, ch).await?;
        if !ch.creator_id.is_empty() {
            add_channel_member_tx(&tx, &channel.id, &ch.creator_id, true).await?;
        }
        tx.commit().await?;
        Ok(channel)
    }

    pub async fn channel(&self, id: &str) -> StoreResult<Option<Channel>> {
        self.read(async |c| {
            let row = c.query_opt(&format!("SELECT {CHANNEL_COLS} FROM channels WHERE id = $1"), &[&id]).await?;
            Ok(row.as_ref().map(Channel::from_row))
        })
        .await
    }

    /// A channel and, if `user_id` is one of its members, their roles in it, in one query (the post
    /// path's permission check).
    pub async fn channel_with_membership(
        &self,
        id: &str,
        user_id: &str,
    ) -> StoreResult<Option<(Channel, Option<String>)>> {
        self.read(async |c| {
            let stmt = c.prepare_cached(&CHANNEL_WITH_MEMBERSHIP).await?;
            let row = c.query_opt(&stmt, &[&id, &user_id]).await?;
            Ok(row.as_ref().map(|r| {
                let roles = r.get::<_, bool>("is_member").then(|| {
                    super::teams::member_roles(
                        &r.get::<_, String>("m_roles"),
                        r.get("m_guest"),
                        r.get("m_user"),
                        r.get("m_admin"),
                        "channel",
                    )
                });
                (Channel::from_row(r), roles)
            }))
        })
        .await
    }

    pub async fn channel_by_name(&self, team_id: &str, name: &str) -> StoreResult<Option<Channel>> {
        self.read(async |c| {
            let row = c
                .query_opt(
                    &format!("SELECT {CHANNEL_COLS} FROM channels WHERE team_id = $1 AND name = $2"),
                    &[&team_id, &name],
                )
                .await?;
            Ok(row.as_ref().map(Channel::from_row))
        })
        .await
    }

    pub async fn count_team_channels(&self, team_id: &str) -> StoreResult<i64> {
        let c = self.master.get().await?;
        Ok(c.query_one("SELECT count(*) FROM channels WHERE team_id = $1 AND delete_at = 0", &[&team_id]).await?.get(0))
    }

    /// The channels of a team that a user belongs to.
    pub async fn channels_for_user(&self, team_id: &str, user_id: &str) -> StoreResult<Vec<Channel>> {
        self.read(async |c| {
            let cols = qualified_cols("c");
            let rows = c
                .query(
                    &format!(
                        "SELECT {cols} FROM channels c JOIN channelmembers m ON m.channel_id = c.id \
                         WHERE m.user_id = $2 AND (c.team_id = $1 OR c.team_id = '') AND c.delete_at = 0 ORDER BY c.display_name, c.id"
                    ),
                    &[&team_id, &user_id],
                )
                .await?;
            Ok(rows.iter().map(Channel::from_row).collect())
        })
        .await
    }

    /// The open channels of a team.
    pub async fn public_channels(&self, team_id: &str, page: i64, per_page: i64) -> StoreResult<Vec<Channel>> {
        self.read(async |c| {
            let rows = c
                .query(
                    &format!(
                        "SELECT {CHANNEL_COLS} FROM channels WHERE team_id = $1 AND type = 'O' AND delete_at = 0 \
                         ORDER BY display_name, id LIMIT $2 OFFSET $3"
                    ),
                    &[&team_id, &per_page, &(page * per_page)],
                )
                .await?;
            Ok(rows.iter().map(Channel::from_row).collect())
        })
        .await
    }

    pub async fn add_channel_member(&self, channel_id: &str, user_id: &str) -> StoreResult<ChannelMember> {
        let c = self.master.get().await?;
        add_channel_member_tx(&c, channel_id, user_id, false).await
    }

    pub async fn channel_member(&self, channel_id: &str, user_id: &str) -> StoreResult<Option<ChannelMember>> {
        self.read(async |c| {
            let row = c
                .query_opt(
                    "SELECT * FROM channelmembers WHERE channel_id = $1 AND user_id = $2",
                    &[&channel_id, &user_id],
                )
                .await?;
            Ok(row.as_ref().map(ChannelMember::from_row))
        })
        .await
    }

    pub async fn channel_members(&self, channel_id: &str, page: i64, per_page: i64) -> StoreResult<Vec<ChannelMember>> {
        self.read(async |c| {
            let rows = c
                .query(
                    "SELECT * FROM channelmembers WHERE channel_id = $1 ORDER BY user_id LIMIT $2 OFFSET $3",
                    &[&channel_id, &per_page, &(page * per_page)],
                )
                .await?;
            Ok(rows.iter().map(ChannelMember::from_row).collect())
        })
        .await
    }

    /// The ids of every member of a channel (for event fan-out).
    pub async fn channel_member_ids(&self, channel_id: &str) -> StoreResult<Vec<String>> {
        let c = self.master.get().await?;
        let rows = c.query("SELECT user_id FROM channelmembers WHERE channel_id = $1", &[&channel_id]).await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    pub async fn remove_channel_member(&self, channel_id: &str, user_id: &str) -> StoreResult<bool> {
        let c = self.master.get().await?;
        let n = c
            .execute("DELETE FROM channelmembers WHERE channel_id = $1 AND user_id = $2", &[&channel_id, &user_id])
            .await?;
        Ok(n > 0)
    }
}
