//! Roles: the ids of the built-in roles, and role changes of users, team members and channel
//! members (the scheme flags and explicit roles Mattermost keeps on member rows).

use super::channels::ChannelMember;
use super::teams::TeamMember;
use super::users::{User, USER_COLS};
use super::{now_ms, Store, StoreResult};
use starling_protocol::new_id;
use std::collections::HashMap;

/// A member's scheme flags and explicit roles, as `PUT .../roles` and `.../schemeRoles` set them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberRoles {
    pub scheme_guest: bool,
    pub scheme_user: bool,
    pub scheme_admin: bool,
    /// Space-separated roles outside the scheme (`team_post_all`, ...).
    pub explicit: String,
}

impl Store {
    /// The id and creation time of each role named, giving ids to the ones without (the first
    /// node to ask wins; every node then reads the same ids).
    pub async fn role_ids(&self, names: &[&str]) -> StoreResult<HashMap<String, (String, i64)>> {
        let c = self.master.get().await?;
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let ids: Vec<String> = names.iter().map(|_| new_id()).collect();
        c.execute(
            "INSERT INTO roles (name, id, create_at) SELECT n, i, $3 FROM unnest($1::varchar[], $2::varchar[]) AS t(n, i) \
             ON CONFLICT (name) DO NOTHING",
            &[&names, &ids, &now_ms()],
        )
        .await?;
        let rows = c.query("SELECT name, id, create_at FROM roles WHERE name = ANY($1)", &[&names]).await?;
        Ok(rows.iter().map(|r| (r.get(0), (r.get(1), r.get(2)))).collect())
    }

    /// Set a user's system roles, on the user and on every session of theirs. `None` if there is
    /// no such user.
    pub async fn set_user_roles(&self, user_id: &str, roles: &str) -> StoreResult<Option<User>> {
        let mut c = self.master.get().await?;
        let tx = c.transaction().await?;
        let row = tx
            .query_opt(
                &format!("UPDATE users SET roles = $2, update_at = $3 WHERE id = $1 RETURNING {USER_COLS}"),
                &[&user_id, &roles, &now_ms()],
            )
            .await?;
        tx.execute("UPDATE sessions SET roles = $2 WHERE user_id = $1", &[&user_id, &roles]).await?;
        tx.commit().await?;
        Ok(row.as_ref().map(User::from_row))
    }

    /// Set a current team member's roles. `None` if they are not a member.
    pub async fn set_team_member_roles(
        &self,
        team_id: &str,
        user_id: &str,
        r: &MemberRoles,
    ) -> StoreResult<Option<TeamMember>> {
        let c = self.master.get().await?;
        let row = c
            .query_opt(
                "UPDATE teammembers SET scheme_guest = $3, scheme_user = $4, scheme_admin = $5, roles = $6 \
                 WHERE team_id = $1 AND user_id = $2 AND delete_at = 0 RETURNING *",
                &[&team_id, &user_id, &r.scheme_guest, &r.scheme_user, &r.scheme_admin, &r.explicit],
            )
            .await?;
        Ok(row.as_ref().map(TeamMember::from_row))
    }

    /// Set a channel member's roles. `None` if they are not a member.
    pub async fn set_channel_member_roles(
        &self,
        channel_id: &str,
        user_id: &str,
        r: &MemberRoles,
    ) -> StoreResult<Option<ChannelMember>> {
        let c = self.master.get().await?;
        let row = c
            .query_opt(
                "UPDATE channelmembers SET scheme_guest = $3, scheme_user = $4, scheme_admin = $5, roles = $6, \
                 last_update_at = $7 WHERE channel_id = $1 AND user_id = $2 RETURNING *",
                &[&channel_id, &user_id, &r.scheme_guest, &r.scheme_user, &r.scheme_admin, &r.explicit, &now_ms()],
            )
            .await?;
        Ok(row.as_ref().map(ChannelMember::from_row))
    }
}
