//! Custom slash commands (Mattermost's `Command`).

use super::{now_ms, Param, Store, StoreResult};
use serde::Serialize;
use tokio_postgres::Row;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Command {
    pub id: String,
    pub token: String,
    pub create_at: i64,
    pub update_at: i64,
    pub delete_at: i64,
    pub creator_id: String,
    pub team_id: String,
    pub trigger: String,
    /// `P` (a form POST) or `G` (a GET with the fields in the query).
    pub method: String,
    pub username: String,
    pub icon_url: String,
    pub auto_complete: bool,
    pub auto_complete_desc: String,
    pub auto_complete_hint: String,
    pub display_name: String,
    pub description: String,
    pub url: String,
}

/// What a command's creator or manager sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandFields {
    pub trigger: String,
    pub method: String,
    pub username: String,
    pub icon_url: String,
    pub auto_complete: bool,
    pub auto_complete_desc: String,
    pub auto_complete_hint: String,
    pub display_name: String,
    pub description: String,
    pub url: String,
}

impl CommandFields {
    /// The fields as statement parameters, in the order the insert and the update name them
    /// (trigger, method, username, icon_url, auto_complete, auto_complete_desc,
    /// auto_complete_hint, display_name, description, url).
    fn params(&self) -> [Param<'_>; 10] {
        [
            &self.trigger,
            &self.method,
            &self.username,
            &self.icon_url,
            &self.auto_complete,
            &self.auto_complete_desc,
            &self.auto_complete_hint,
            &self.display_name,
            &self.description,
            &self.url,
        ]
    }
}

const COMMAND_COLS: &str = "id, token, create_at, update_at, delete_at, creator_id, team_id, trigger, method, \
    username, icon_url, auto_complete, auto_complete_desc, auto_complete_hint, display_name, description, url";

impl Command {
    fn from_row(r: &Row) -> Self {
        Self {
            id: r.get("id"),
            token: r.get("token"),
            create_at: r.get("create_at"),
            update_at: r.get("update_at"),
            delete_at: r.get("delete_at"),
            creator_id: r.get("creator_id"),
            team_id: r.get("team_id"),
            trigger: r.get("trigger"),
            method: r.get("method"),
            username: r.get("username"),
            icon_url: r.get("icon_url"),
            auto_complete: r.get("auto_complete"),
            auto_complete_desc: r.get("auto_complete_desc"),
            auto_complete_hint: r.get("auto_complete_hint"),
            display_name: r.get("display_name"),
            description: r.get("description"),
            url: r.get("url"),
        }
    }
}

impl Store {
    /// Save a new command; `None` if the team has a live command with that trigger.
    pub async fn create_command(
        &self,
        creator_id: &str,
        team_id: &str,
        f: &CommandFields,
    ) -> StoreResult<Option<Command>> {
        let c = self.master.get().await?;
        let (id, token, now) = (starling_protocol::new_id(), starling_protocol::new_id(), now_ms());
        let row = c
            .query_opt(
                &format!(
                    "INSERT INTO commands (id, token, create_at, update_at, creator_id, team_id, trigger, method, \
                     username, icon_url, auto_complete, auto_complete_desc, auto_complete_hint, display_name, \
                     description, url) VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
                     ON CONFLICT (team_id, trigger) WHERE delete_at = 0 DO NOTHING RETURNING {COMMAND_COLS}"
                ),
                &[[&id as Param, &token, &now, &creator_id, &team_id].as_slice(), &f.params()].concat(),
            )
            .await?;
        Ok(row.as_ref().map(Command::from_row))
    }

    /// A live command by id.
    pub async fn command(&self, id: &str) -> StoreResult<Option<Command>> {
        let c = self.master.get().await?;
        let row = c
            .query_opt(&format!("SELECT {COMMAND_COLS} FROM commands WHERE id = $1 AND delete_at = 0"), &[&id])
            .await?;
        Ok(row.as_ref().map(Command::from_row))
    }

    /// The live command of a team with this trigger.
    pub async fn command_by_trigger(&self, team_id: &str, trigger: &str) -> StoreResult<Option<Command>> {
        self.read(async |c| {
            let row = c
                .query_opt(
                    &format!(
                        "SELECT {COMMAND_COLS} FROM commands WHERE team_id = $1 AND trigger = $2 AND delete_at = 0"
                    ),
                    &[&team_id, &trigger],
                )
                .await?;
            Ok(row.as_ref().map(Command::from_row))
        })
        .await
    }

    /// A team's live commands, by trigger.
    pub async fn team_commands(&self, team_id: &str) -> StoreResult<Vec<Command>> {
        self.read(async |c| {
            let rows = c
                .query(
                    &format!(
                        "SELECT {COMMAND_COLS} FROM commands WHERE team_id = $1 AND delete_at = 0 ORDER BY trigger"
                    ),
                    &[&team_id],
                )
                .await?;
            Ok(rows.iter().map(Command::from_row).collect())
        })
        .await
    }

    /// Change a live command's fields; `Ok(None)` if it is gone, `Err` with a unique violation if
    /// the trigger is taken in its team.
    pub async fn update_command(&self, id: &str, f: &CommandFields) -> StoreResult<Option<Command>> {
        let c = self.master.get().await?;
        let row = c
            .query_opt(
                &format!(
                    "UPDATE commands SET update_at = $2, trigger = $3, method = $4, username = $5, icon_url = $6, \
                     auto_complete = $7, auto_complete_desc = $8, auto_complete_hint = $9, display_name = $10, \
                     description = $11, url = $12 WHERE id = $1 AND delete_at = 0 RETURNING {COMMAND_COLS}"
                ),
                &[[&id as Param, &now_ms()].as_slice(), &f.params()].concat(),
            )
            .await?;
        Ok(row.as_ref().map(Command::from_row))
    }

    /// Give a live command a new token.
    pub async fn regen_command_token(&self, id: &str) -> StoreResult<Option<Command>> {
        let c = self.master.get().await?;
        let row = c
            .query_opt(
                &format!(
                    "UPDATE commands SET token = $2, update_at = $3 WHERE id = $1 AND delete_at = 0 \
                     RETURNING {COMMAND_COLS}"
                ),
                &[&id, &starling_protocol::new_id(), &now_ms()],
            )
            .await?;
        Ok(row.as_ref().map(Command::from_row))
    }

    /// Move a live command to another team; `Err` with a unique violation if the trigger is taken
    /// there.
    pub async fn move_command(&self, id: &str, team_id: &str) -> StoreResult<Option<Command>> {
        let c = self.master.get().await?;
        let row = c
            .query_opt(
                &format!(
                    "UPDATE commands SET team_id = $2, update_at = $3 WHERE id = $1 AND delete_at = 0 \
                     RETURNING {COMMAND_COLS}"
                ),
                &[&id, &team_id, &now_ms()],
            )
            .await?;
        Ok(row.as_ref().map(Command::from_row))
    }

    /// Delete a live command (the row stays, marked); false if it was not live.
    pub async fn delete_command(&self, id: &str) -> StoreResult<bool> {
        let c = self.master.get().await?;
        let now = now_ms();
        let n = c
            .execute("UPDATE commands SET delete_at = $2, update_at = $2 WHERE id = $1 AND delete_at = 0", &[&id, &now])
            .await?;
        Ok(n == 1)
    }
}
