//! What the realtime actors read and write: a user's memberships (for hub filtering) and statuses.

use super::{Store, StoreResult};
use futures_util::future::BoxFuture;
use starling_actors::{MembershipStore, Memberships, Status, StatusStore};
use starling_protocol::{ChannelId, TeamId, UserId};

impl Store {
    pub async fn user_memberships(&self, user_id: &str) -> StoreResult<Memberships> {
        let c = self.master.get().await?;
        let channels = c.query("SELECT channel_id FROM channelmembers WHERE user_id = $1", &[&user_id]).await?;
        let teams =
            c.query("SELECT team_id FROM teammembers WHERE user_id = $1 AND delete_at = 0", &[&user_id]).await?;
        Ok(Memberships {
            channels: channels.iter().map(|r| ChannelId(r.get(0))).collect(),
            teams: teams.iter().map(|r| TeamId(r.get(0))).collect(),
        })
    }

    /// The live channels of a team that a user is in.
    pub async fn user_channel_ids_in_team(&self, user_id: &str, team_id: &str) -> StoreResult<Vec<String>> {
        let c = self.master.get().await?;
        let rows = c
            .query(
                "SELECT m.channel_id FROM channelmembers m JOIN channels c ON c.id = m.channel_id \
                 WHERE m.user_id = $1 AND c.team_id = $2",
                &[&user_id, &team_id],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    pub async fn statuses(&self, user_ids: &[UserId]) -> StoreResult<Vec<Status>> {
        let user_ids: Vec<&str> = user_ids.iter().map(UserId::as_str).collect();
        let c = self.master.get().await?;
        let rows = c
            .query("SELECT user_id, status, manual, last_activity_at FROM status WHERE user_id = ANY($1)", &[&user_ids])
            .await?;
        Ok(rows
            .iter()
            .map(|r| Status {
                user_id: UserId(r.get(0)),
                status: r.get(1),
                manual: r.get(2),
                last_activity_at: r.get(3),
            })
            .collect())
    }

    /// Upsert a batch of statuses in one statement.
    pub async fn save_statuses(&self, batch: &[Status]) -> StoreResult<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = batch.iter().map(|s| s.user_id.as_str()).collect();
        let statuses: Vec<&str> = batch.iter().map(|s| s.status.as_str()).collect();
        let manual: Vec<bool> = batch.iter().map(|s| s.manual).collect();
        let activity: Vec<i64> = batch.iter().map(|s| s.last_activity_at).collect();
        let c = self.master.get().await?;
        c.execute(
            "INSERT INTO status (user_id, status, manual, last_activity_at) \
             SELECT * FROM unnest($1::varchar[], $2::varchar[], $3::bool[], $4::bigint[]) \
             ON CONFLICT (user_id) DO UPDATE SET status = EXCLUDED.status, manual = EXCLUDED.manual, \
             last_activity_at = EXCLUDED.last_activity_at",
            &[&ids, &statuses, &manual, &activity],
        )
        .await?;
        Ok(())
    }
}

impl MembershipStore for Store {
    fn memberships(&self, user_id: &UserId) -> BoxFuture<'static, starling_actors::StoreResult<Memberships>> {
        let (store, user_id) = (self.clone(), user_id.clone());
        Box::pin(async move { Ok(store.user_memberships(user_id.as_str()).await?) })
    }
}

impl StatusStore for Store {
    fn load_statuses(&self, user_ids: Vec<UserId>) -> BoxFuture<'static, starling_actors::StoreResult<Vec<Status>>> {
        let store = self.clone();
        Box::pin(async move {
            if user_ids.is_empty() {
                return Ok(vec![]);
            }
            Ok(store.statuses(&user_ids).await?)
        })
    }

    fn save_statuses(&self, statuses: Vec<Status>) -> BoxFuture<'static, starling_actors::StoreResult<()>> {
        let store = self.clone();
        Box::pin(async move { Ok(Store::save_statuses(&store, &statuses).await?) })
    }
}
