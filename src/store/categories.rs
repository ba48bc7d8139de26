//! Sidebar categories (Mattermost's `SidebarCategories` and `SidebarChannels`): per user and team,
//! the three defaults (favorites, channels, direct messages) made on first read, custom ones, and
//! the channels filed in each. A channel filed nowhere shows in the channels category (open and
//! private channels) or the direct messages one (direct and group messages), so a new channel or
//! DM is filed automatically; channels the user has left or that are archived are not shown.

use super::{Store, StoreResult};
use deadpool_postgres::GenericClient;
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;

pub const FAVORITES: &str = "favorites";
pub const CHANNELS: &str = "channels";
pub const DIRECT_MESSAGES: &str = "direct_messages";
pub const CUSTOM: &str = "custom";

/// A category with its channels, as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Category {
    pub id: String,
    pub user_id: String,
    pub team_id: String,
    pub sort_order: i64,
    pub sorting: String,
    #[serde(rename = "type")]
    pub category_type: String,
    pub display_name: String,
    pub muted: bool,
    pub collapsed: bool,
    pub channel_ids: Vec<String>,
}

/// `{categories, order}`.
#[derive(Debug, Clone, Serialize)]
pub struct OrderedCategories {
    pub categories: Vec<Category>,
    pub order: Vec<String>,
}

/// A category's new state, as a client sends it.
#[derive(Debug, Clone)]
pub struct CategoryUpdate {
    pub id: String,
    pub display_name: Option<String>,
    pub sorting: Option<String>,
    pub muted: Option<bool>,
    pub collapsed: Option<bool>,
    pub channel_ids: Option<Vec<String>>,
}

/// What refused a category write.
#[derive(Debug, thiserror::Error)]
pub enum CategoryError {
    #[error("no category {0} for this user and team")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] super::StoreError),
}

impl From<tokio_postgres::Error> for CategoryError {
    fn from(e: tokio_postgres::Error) -> Self {
        CategoryError::Store(e.into())
    }
}

impl From<deadpool_postgres::PoolError> for CategoryError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        CategoryError::Store(e.into())
    }
}

/// The id Mattermost gives a default category.
pub fn default_category_id(kind: &str, user_id: &str, team_id: &str) -> String {
    format!("{kind}_{user_id}_{team_id}")
}

const SPACING: i64 = 10;

fn category_from_row(r: &Row) -> Category {
    Category {
        id: r.get("id"),
        user_id: r.get("user_id"),
        team_id: r.get("team_id"),
        sort_order: r.get("sort_order"),
        sorting: r.get("sorting"),
        category_type: r.get("type"),
        display_name: r.get("display_name"),
        muted: r.get("muted"),
        collapsed: r.get("collapsed"),
        channel_ids: Vec::new(),
    }
}

/// Make the defaults if the user has no category in the team yet.
async fn ensure_defaults(c: &impl GenericClient, user_id: &str, team_id: &str) -> StoreResult<()> {
    let defaults =
        [(FAVORITES, "Favorites", ""), (CHANNELS, "Channels", ""), (DIRECT_MESSAGES, "Direct Messages", "recent")];
    for (n, (kind, name, sorting)) in defaults.iter().enumerate() {
        c.execute(
            "INSERT INTO sidebarcategories (id, user_id, team_id, type, display_name, sorting, sort_order) \
             SELECT $1::varchar, $2::varchar, $3::varchar, $4::varchar, $5::varchar, $6::varchar, $7::bigint \
             WHERE NOT EXISTS (SELECT 1 FROM sidebarcategories WHERE user_id = $2 AND team_id = $3 AND type = $4) \
             ON CONFLICT (id) DO NOTHING",
            &[
                &default_category_id(kind, user_id, team_id),
                &user_id,
                &team_id,
                kind,
                name,
                sorting,
                &(n as i64 * SPACING),
            ],
        )
        .await?;
    }
    Ok(())
}

/// Every category of a user in a team, ordered, with the channels they show.
async fn load(c: &impl GenericClient, user_id: &str, team_id: &str) -> StoreResult<Vec<Category>> {
    let rows = c
        .query(
            "SELECT * FROM sidebarcategories WHERE user_id = $1 AND team_id = $2 ORDER BY sort_order, id",
            &[&user_id, &team_id],
        )
        .await?;
    let mut cats: Vec<Category> = rows.iter().map(category_from_row).collect();
    // Filed channels the user is still in (and that are live), in their order.
    let filed = c
        .query(
            "SELECT s.category_id, s.channel_id FROM sidebarchannels s \
             JOIN channelmembers m ON m.channel_id = s.channel_id AND m.user_id = s.user_id \
             JOIN channels ch ON ch.id = s.channel_id AND ch.delete_at = 0 \
             WHERE s.user_id = $1 AND s.team_id = $2 ORDER BY s.sort_order, s.channel_id",
            &[&user_id, &team_id],
        )
        .await?;
    for r in &filed {
        let cat: String = r.get(0);
        if let Some(cat) = cats.iter_mut().find(|c| c.id == cat) {
            cat.channel_ids.push(r.get(1));
        }
    }
    // The rest: the team's channels and every direct or group message filed nowhere here.
    let unfiled = c
        .query(
            "SELECT ch.id, ch.type FROM channelmembers m JOIN channels ch ON ch.id = m.channel_id \
             WHERE m.user_id = $1 AND ch.delete_at = 0 AND (ch.team_id = $2 OR ch.team_id = '') \
             AND NOT EXISTS (SELECT 1 FROM sidebarchannels s WHERE s.user_id = $1 AND s.team_id = $2 \
                 AND s.channel_id = ch.id) \
             ORDER BY ch.display_name, ch.name, ch.id",
            &[&user_id, &team_id],
        )
        .await?;
    for r in &unfiled {
        let (id, kind): (String, String) = (r.get(0), r.get(1));
        let target = if kind == "D" || kind == "G" { DIRECT_MESSAGES } else { CHANNELS };
        if let Some(cat) = cats.iter_mut().find(|c| c.category_type == target) {
            cat.channel_ids.push(id);
        }
    }
    Ok(cats)
}

/// File `channels` (in this order) in category `category_id`, taking them out of any other.
async fn file_channels(
    c: &impl GenericClient,
    user_id: &str,
    team_id: &str,
    category_id: &str,
    channels: &[String],
) -> StoreResult<()> {
    c.execute(
        "DELETE FROM sidebarchannels WHERE user_id = $1 AND team_id = $2 AND (category_id = $3 OR channel_id = ANY($4))",
        &[&user_id, &team_id, &category_id, &channels],
    )
    .await?;
    let orders: Vec<i64> = (0..channels.len() as i64).map(|n| n * SPACING).collect();
    c.execute(
        "INSERT INTO sidebarchannels (category_id, channel_id, user_id, team_id, sort_order) \
         SELECT $3, ch, $1, $2, o FROM unnest($4::varchar[], $5::bigint[]) AS t(ch, o)",
        &[&user_id, &team_id, &category_id, &channels, &orders],
    )
    .await?;
    Ok(())
}

/// Check that every channel may go in a category of `kind`: the user is in it, it belongs to the
/// team (or is a DM or GM), and a default category takes only its own kind.
async fn check_channels(
    c: &impl GenericClient,
    user_id: &str,
    team_id: &str,
    kind: &str,
    channels: &[String],
) -> Result<(), CategoryError> {
    let rows = c
        .query(
            "SELECT ch.id, ch.type FROM channels ch JOIN channelmembers m ON m.channel_id = ch.id AND m.user_id = $1 \
             WHERE ch.id = ANY($3) AND (ch.team_id = $2 OR ch.team_id = '')",
            &[&user_id, &team_id, &channels],
        )
        .await?;
    for id in channels {
        let Some(r) = rows.iter().find(|r| r.get::<_, String>(0) == *id) else {
            return Err(CategoryError::Invalid(format!("channel {id} is not one of the user's channels in this team")));
        };
        let direct = matches!(r.get::<_, String>(1).as_str(), "D" | "G");
        if (kind == CHANNELS && direct) || (kind == DIRECT_MESSAGES && !direct) {
            return Err(CategoryError::Invalid(format!("channel {id} does not belong in the {kind} category")));
        }
    }
    Ok(())
}

impl Store {
    /// A user's categories in a team (the defaults made if there are none yet).
    pub async fn categories(&self, user_id: &str, team_id: &str) -> StoreResult<OrderedCategories> {
        let mut c = self.master.get().await?;
        let tx = c.transaction().await?;
        ensure_defaults(&tx, user_id, team_id).await?;
        let categories = load(&tx, user_id, team_id).await?;
        tx.commit().await?;
        let order = categories.iter().map(|c| c.id.clone()).collect();
        Ok(OrderedCategories { categories, order })
    }

    /// Apply updates to categories of the user in the team, in one transaction under a lock on
    /// their categories. Returns the updated categories.
    pub async fn update_categories(
        &self,
        user_id: &str,
        team_id: &str,
        updates: &[CategoryUpdate],
    ) -> Result<Vec<Category>, CategoryError> {
        let mut c = self.master.get().await?;
        let tx = c.transaction().await?;
        ensure_defaults(&tx, user_id, team_id).await?;
        let rows = tx
            .query(
                "SELECT * FROM sidebarcategories WHERE user_id = $1 AND team_id = $2 ORDER BY id FOR UPDATE",
                &[&user_id, &team_id],
            )
            .await?;
        let existing: Vec<Category> = rows.iter().map(category_from_row).collect();
        let mut seen_channels: Vec<&String> = Vec::new();
        for u in updates {
            let Some(cat) = existing.iter().find(|c| c.id == u.id) else {
                return Err(CategoryError::NotFound(u.id.clone()));
            };
            if let Some(channels) = &u.channel_ids {
                for ch in channels {
                    if seen_channels.contains(&ch) {
                        return Err(CategoryError::Invalid(format!("channel {ch} is in two categories")));
                    }
                    seen_channels.push(ch);
                }
                check_channels(&tx, user_id, team_id, &cat.category_type, channels).await?;
            }
            if u.display_name.is_some() && cat.category_type != CUSTOM {
                return Err(CategoryError::Invalid("only custom categories can be renamed".into()));
            }
        }
        for u in updates {
            tx.execute(
                "UPDATE sidebarcategories SET display_name = COALESCE($2, display_name), sorting = COALESCE($3, sorting), \
                 muted = COALESCE($4, muted), collapsed = COALESCE($5, collapsed) WHERE id = $1",
                &[&u.id, &u.display_name, &u.sorting, &u.muted, &u.collapsed],
            )
            .await?;
            if let Some(channels) = &u.channel_ids {
                file_channels(&tx, user_id, team_id, &u.id, channels).await?;
            }
        }
        let all = load(&tx, user_id, team_id).await?;
        tx.commit().await?;
        Ok(all.into_iter().filter(|c| updates.iter().any(|u| u.id == c.id)).collect())
    }

    /// Create a custom category at the top of the user's list, with these channels moved into it.
    pub async fn create_category(
        &self,
        user_id: &str,
        team_id: &str,
        id: &str,
        display_name: &str,
        channels: &[String],
    ) -> Result<Category, CategoryError> {
        let mut c = self.master.get().await?;
        let tx = c.transaction().await?;
        ensure_defaults(&tx, user_id, team_id).await?;
        tx.execute(
            "SELECT 1 FROM sidebarcategories WHERE user_id = $1 AND team_id = $2 FOR UPDATE",
            &[&user_id, &team_id],
        )
        .await?;
        check_channels(&tx, user_id, team_id, CUSTOM, channels).await?;
        tx.execute(
            "INSERT INTO sidebarcategories (id, user_id, team_id, type, display_name, sort_order) \
             SELECT $1::varchar, $2::varchar, $3::varchar, 'custom', $4::varchar, COALESCE(MIN(sort_order), 0) - $5::bigint \
             FROM sidebarcategories WHERE user_id = $2 AND team_id = $3",
            &[&id, &user_id, &team_id, &display_name, &SPACING],
        )
        .await?;
        file_channels(&tx, user_id, team_id, id, channels).await?;
        let all = load(&tx, user_id, team_id).await?;
        tx.commit().await?;
        all.into_iter().find(|c| c.id == id).ok_or_else(|| CategoryError::NotFound(id.to_owned()))
    }

    /// Delete a custom category; its channels go back to the default categories.
    pub async fn delete_category(&self, user_id: &str, team_id: &str, id: &str) -> Result<(), CategoryError> {
        let c = self.master.get().await?;
        let row = c
            .query_opt(
                "SELECT type FROM sidebarcategories WHERE id = $1 AND user_id = $2 AND team_id = $3",
                &[&id, &user_id, &team_id],
            )
            .await?;
        match row.map(|r| r.get::<_, String>(0)) {
            None => Err(CategoryError::NotFound(id.to_owned())),
            Some(t) if t != CUSTOM => Err(CategoryError::Invalid("only custom categories can be deleted".into())),
            Some(_) => {
                c.execute("DELETE FROM sidebarcategories WHERE id = $1", &[&id]).await?;
                Ok(())
            }
        }
    }

    /// Set the order of the user's categories in the team: `order` must name each exactly once.
    pub async fn set_category_order(
        &self,
        user_id: &str,
        team_id: &str,
        order: &[String],
    ) -> Result<(), CategoryError> {
        let mut c = self.master.get().await?;
        let tx = c.transaction().await?;
        ensure_defaults(&tx, user_id, team_id).await?;
        let rows = tx
            .query(
                "SELECT id FROM sidebarcategories WHERE user_id = $1 AND team_id = $2 FOR UPDATE",
                &[&user_id, &team_id],
            )
            .await?;
        let mut have: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        let mut want = order.to_vec();
        have.sort();
        want.sort();
        if have != want {
            return Err(CategoryError::Invalid("the order must name each of the user's categories once".into()));
        }
        let orders: Vec<i64> = (0..order.len() as i64).map(|n| n * SPACING).collect();
        tx.execute(
            "UPDATE sidebarcategories c SET sort_order = t.o FROM unnest($1::varchar[], $2::bigint[]) AS t(id, o) \
             WHERE c.id = t.id",
            &[&order, &orders],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
