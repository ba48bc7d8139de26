//! User preferences (Mattermost's `Preferences`): `(category, name) -> value` per user.

use super::{Store, StoreResult};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Preference {
    pub user_id: String,
    pub category: String,
    pub name: String,
    #[serde(default)]
    pub value: String,
}

impl Store {
    /// A user's preferences, all or those of one category (and name).
    pub async fn preferences(
        &self,
        user_id: &str,
        category: Option<&str>,
        name: Option<&str>,
    ) -> StoreResult<Vec<Preference>> {
        self.read(async |c| {
            let rows = c
                .query(
                    "SELECT user_id, category, name, value FROM preferences WHERE user_id = $1 \
                     AND ($2::varchar IS NULL OR category = $2) AND ($3::varchar IS NULL OR name = $3) \
                     ORDER BY category, name",
                    &[&user_id, &category, &name],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| Preference { user_id: r.get(0), category: r.get(1), name: r.get(2), value: r.get(3) })
                .collect())
        })
        .await
    }

    /// Save preferences (insert or replace), in one statement.
    pub async fn save_preferences(&self, prefs: &[Preference]) -> StoreResult<()> {
        let c = self.master.get().await?;
        let col = |f: fn(&Preference) -> &str| prefs.iter().map(f).collect::<Vec<&str>>();
        c.execute(
            "INSERT INTO preferences (user_id, category, name, value) \
             SELECT * FROM unnest($1::varchar[], $2::varchar[], $3::varchar[], $4::text[]) \
             ON CONFLICT (user_id, category, name) DO UPDATE SET value = EXCLUDED.value",
            &[&col(|p| &p.user_id), &col(|p| &p.category), &col(|p| &p.name), &col(|p| &p.value)],
        )
        .await?;
        Ok(())
    }

    /// Delete preferences by `(user_id, category, name)`.
    pub async fn delete_preferences(&self, prefs: &[Preference]) -> StoreResult<()> {
        let c = self.master.get().await?;
        let col = |f: fn(&Preference) -> &str| prefs.iter().map(f).collect::<Vec<&str>>();
        c.execute(
            "DELETE FROM preferences p USING unnest($1::varchar[], $2::varchar[], $3::varchar[]) AS t(u, c, n) \
             WHERE p.user_id = t.u AND p.category = t.c AND p.name = t.n",
            &[&col(|p| &p.user_id), &col(|p| &p.category), &col(|p| &p.name)],
        )
        .await?;
        Ok(())
    }
}
