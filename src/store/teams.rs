//! Teams and team members.

use super::channels::{add_channel_member_tx, create_channel_tx, NewChannel};
use super::{now_ms, Store, StoreResult};
use deadpool_postgres::GenericClient;
use serde::Serialize;
use starling_protocol::new_id;
use tokio_postgres::Row;

#[derive(Debug, Clone, Serialize)]
pub struct Team {
    pub id: String,
    pub create_at: i64,
    pub update_at: i64,
    pub delete_at: i64,
    pub display_name: String,
    pub name: String,
    pub description: String,
    pub email: String,
    #[serde(rename = "type")]
    pub team_type: String,
    pub company_name: String,
    pub allowed_domains: String,
    pub invite_id: String,
    pub allow_open_invite: bool,
    pub last_team_icon_update: i64,
    pub scheme_id: Option<String>,
    pub group_constrained: Option<bool>,
    pub policy_id: Option<String>,
}

impl Team {
    pub(super) fn from_row(r: &Row) -> Self {
        Self {
            id: r.get("id"),
            create_at: r.get("create_at"),
            update_at: r.get("update_at"),
            delete_at: r.get("delete_at"),
            display_name: r.get("display_name"),
            name: r.get("name"),
            description: r.get("description"),
            email: r.get("email"),
            team_type: r.get("type"),
            company_name: r.get("company_name"),
            allowed_domains: r.get("allowed_domains"),
            invite_id: r.get("invite_id"),
            allow_open_invite: r.get("allow_open_invite"),
            last_team_icon_update: r.get("last_team_icon_update"),
            scheme_id: None,
            group_constrained: None,
            policy_id: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TeamMember {
    pub team_id: String,
    pub user_id: String,
    pub roles: String,
    pub delete_at: i64,
    pub scheme_guest: bool,
    pub scheme_user: bool,
    pub scheme_admin: bool,
    pub explicit_roles: String,
    pub create_at: i64,
}

impl TeamMember {
    pub(super) fn from_row(r: &Row) -> Self {
        Self {
            team_id: r.get("team_id"),
            user_id: r.get("user_id"),
            roles: scheme_roles(r, "team"),
            delete_at: r.get("delete_at"),
            scheme_guest: r.get("scheme_guest"),
            scheme_user: r.get("scheme_user"),
            scheme_admin: r.get("scheme_admin"),
            explicit_roles: String::new(),
            create_at: r.get("create_at"),
        }
    }

    pub fn is_team_admin(&self) -> bool {
        self.scheme_admin || self.roles.split_whitespace().any(|r| r == "team_admin")
    }
}

/// A member row's roles as Mattermost reports them: the roles its scheme flags imply (guest, user,
/// admin), then the explicit ones of its `roles` column.
pub(super) fn scheme_roles(r: &Row, scope: &str) -> String {
    member_roles(
        &r.get::<_, String>("roles"),
        r.get("scheme_guest"),
        r.get("scheme_user"),
        r.get("scheme_admin"),
        scope,
    )
}

/// [`scheme_roles`] from the column values.
pub(super) fn member_roles(explicit: &str, guest: bool, user: bool, admin: bool, scope: &str) -> String {
    let mut roles = Vec::new();
    for (flag, role) in [(guest, "guest"), (user, "user"), (admin, "admin")] {
        if flag {
            roles.push(format!("{scope}_{role}"));
        }
    }
    for e in explicit.split_whitespace() {
        if !roles.iter().any(|r| r == e) {
            roles.push(e.to_owned());
        }
    }
    roles.join(" ")
}

/// The channels every team starts with, and every new member joins.
pub const DEFAULT_CHANNELS: &[(&str, &str)] = &[("town-square", "Town Square"), ("off-topic", "Off-Topic")];

/// What adding a team member came to.
#[derive(Debug)]
pub enum TeamJoin {
    Member(TeamMember),
    /// The team already has TeamSettings.MaxUsersPerTeam members.
    TeamFull,
}

impl Store {
    /// Create a team with its default channels; the creator becomes its admin.
    pub async fn create_team(
        &self,
        creator_id: &str,
        name: &str,
        display_name: &str,
        team_type: &str,
        description: &str,
        allow_open_invite: bool,
    ) -> StoreResult<Team> {
        let mut c = self.master.get().await?;
        let tx = c.transaction().await?;
        let now = now_ms();
        let row = tx
            .query_one(
                "INSERT INTO teams (id, create_at, update_at, display_name, name, description, type, invite_id, allow_open_invite) \
                 VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8) RETURNING *",
                &[&new_id(), &now, &display_name, &name, &description, &team_type, &new_id(), &allow_open_invite],
            )
            .await?;
        let team = Team::from_row(&row);
        tx.execute(
            "INSERT INTO teammembers (team_id, user_id, roles, scheme_user, scheme_admin, create_at) VALUES ($1, $2, '', true, true, $3)",
            &[&team.id, &creator_id, &now],
        )
        .await?;
        for (cname, cdisplay) in DEFAULT_CHANNELS {
            let ch = create_channel_tx(
                &tx,
                &NewChannel {
                    team_id: team.id.clone(),
                    name: (*cname).into(),
                    display_name: (*cdisplay).into(),
                    channel_type: "O".into(),
                    header: String::new(),
                    purpose: String::new(),
                    creator_id: String::new(),
                },
            )
            .await?;
            add_channel_member_tx(&tx, &ch.id, creator_id, false).await?;
        }
        tx.commit().await?;
        Ok(team)
    }

    pub async fn team(&self, id: &str) -> StoreResult<Option<Team>> {
        self.read(async |c| {
            Ok(c.query_opt("SELECT * FROM teams WHERE id = $1", &[&id]).await?.as_ref().map(Team::from_row))
        })
        .await
    }

    /// Archive a team (Mattermost's soft delete); `None` when there is no such live team.
    pub async fn archive_team(&self, team_id: &str) -> StoreResult<Option<Team>> {
        let c = self.master.get().await?;
        let now = super::now_ms();
        let row = c
            .query_opt(
                "UPDATE teams SET delete_at = $2, update_at = $2 WHERE id = $1 AND delete_at = 0 RETURNING *",
                &[&team_id, &now],
            )
            .await?;
        Ok(row.as_ref().map(Team::from_row))
    }

    /// Record that a team's icon changed at `at` (0: removed); the team as it now is.
    pub async fn set_team_icon_update(&self, team_id: &str, at: i64) -> StoreResult<Option<Team>> {
        let c = self.master.get().await?;
        let row = c
            .query_opt(
                "UPDATE teams SET last_team_icon_update = $2, update_at = $3 WHERE id = $1 RETURNING *",
                &[&team_id, &at, &super::now_ms()],
            )
            .await?;
        Ok(row.as_ref().map(Team::from_row))
    }

    pub async fn team_by_name(&self, name: &str) -> StoreResult<Option<Team>> {
        self.read(async |c| {
            Ok(c.query_opt("SELECT * FROM teams WHERE name = $1", &[&name]).await?.as_ref().map(Team::from_row))
        })
        .await
    }

    pub async fn teams_for_user(&self, user_id: &str) -> StoreResult<Vec<Team>> {
        self.read(async |c| {
            let rows = c
                .query(
                    "SELECT t.* FROM teams t JOIN teammembers m ON m.team_id = t.id \
                     WHERE m.user_id = $1 AND m.delete_at = 0 AND t.delete_at = 0 ORDER BY t.display_name, t.id",
                    &[&user_id],
                )
                .await?;
            Ok(rows.iter().map(Team::from_row).collect())
        })
        .await
    }

    pub async fn list_teams(&self, include_private: bool, page: i64, per_page: i64) -> StoreResult<Vec<Team>> {
        self.read(async |c| {
            let rows = c
                .query(
                    "SELECT * FROM teams WHERE delete_at = 0 AND ($1 OR allow_open_invite OR type = 'O') \
                     ORDER BY display_name, id LIMIT $2 OFFSET $3",
                    &[&include_private, &per_page, &(page * per_page)],
                )
                .await?;
            Ok(rows.iter().map(Team::from_row).collect())
        })
        .await
    }

    /// Add (or restore) a member and put them in the team's default channels. Adding a current
    /// member again changes nothing.
    pub async fn add_team_member(&self, team_id: &str, user_id: &str, max_users: i64) -> StoreResult<TeamJoin> {
        let mut c = self.master.get().await?;
        let tx = c.transaction().await?;
        // Lock the team row so the member count check and the insert are one step.
        tx.execute("SELECT 1 FROM teams WHERE id = $1 FOR UPDATE", &[&team_id]).await?;
        if let Some(existing) = member_tx(&tx, team_id, user_id).await? {
            if existing.delete_at == 0 {
                tx.commit().await?;
                return Ok(TeamJoin::Member(existing));
            }
        }
        let count: i64 = tx
            .query_one("SELECT count(*) FROM teammembers WHERE team_id = $1 AND delete_at = 0", &[&team_id])
            .await?
            .get(0);
        if max_users > 0 && count >= max_users {
            return Ok(TeamJoin::TeamFull);
        }
        let row = tx
            .query_one(
                "INSERT INTO teammembers (team_id, user_id, create_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (team_id, user_id) DO UPDATE SET delete_at = 0 RETURNING *",
                &[&team_id, &user_id, &now_ms()],
            )
            .await?;
        let names: Vec<String> = DEFAULT_CHANNELS.iter().map(|(n, _)| (*n).to_owned()).collect();
        let defaults = tx
            .query(
                "SELECT id FROM channels WHERE team_id = $1 AND name = ANY($2) AND delete_at = 0",
                &[&team_id, &names],
            )
            .await?;
        for d in defaults {
            let ch: String = d.get(0);
            add_channel_member_tx(&tx, &ch, user_id, false).await?;
        }
        tx.commit().await?;
        Ok(TeamJoin::Member(TeamMember::from_row(&row)))
    }

    pub async fn team_member(&self, team_id: &str, user_id: &str) -> StoreResult<Option<TeamMember>> {
        self.read(async |c| member_tx(c, team_id, user_id).await).await
    }

    /// The member row only if it is current (not left).
    pub async fn active_team_member(&self, team_id: &str, user_id: &str) -> StoreResult<Option<TeamMember>> {
        Ok(self.team_member(team_id, user_id).await?.filter(|m| m.delete_at == 0))
    }

    pub async fn team_members(&self, team_id: &str, page: i64, per_page: i64) -> StoreResult<Vec<TeamMember>> {
        self.read(async |c| {
            let rows = c
                .query(
                    "SELECT * FROM teammembers WHERE team_id = $1 AND delete_at = 0 ORDER BY user_id LIMIT $2 OFFSET $3",
                    &[&team_id, &per_page, &(page * per_page)],
                )
                .await?;
            Ok(rows.iter().map(TeamMember::from_row).collect())
        })
        .await
    }

    pub async fn team_members_for_user(&self, user_id: &str) -> StoreResult<Vec<TeamMember>> {
        self.read(async |c| {
            let rows = c
                .query("SELECT * FROM teammembers WHERE user_id = $1 AND delete_at = 0 ORDER BY team_id", &[&user_id])
                .await?;
            Ok(rows.iter().map(TeamMember::from_row).collect())
        })
        .await
    }

    /// Mark a member as left and remove them from the team's channels. Returns whether they were a member.
    pub async fn remove_team_member(&self, team_id: &str, user_id: &str) -> StoreResult<bool> {
        let mut c = self.master.get().await?;
        let tx = c.transaction().await?;
        let n = tx
            .execute(
                "UPDATE teammembers SET delete_at = $3 WHERE team_id = $1 AND user_id = $2 AND delete_at = 0",
                &[&team_id, &user_id, &now_ms()],
            )
            .await?;
        tx.execute(
            "DELETE FROM channelmembers WHERE user_id = $2 AND channel_id IN (SELECT id FROM channels WHERE team_id = $1)",
            &[&team_id, &user_id],
        )
        .await?;
        tx.commit().await?;
        Ok(n > 0)
    }
}

async fn member_tx(c: &impl GenericClient, team_id: &str, user_id: &str) -> StoreResult<Option<TeamMember>> {
    Ok(c.query_opt("SELECT * FROM teammembers WHERE team_id = $1 AND user_id = $2", &[&team_id, &user_id])
        .await?
        .as_ref()
        .map(TeamMember::from_row))
}
