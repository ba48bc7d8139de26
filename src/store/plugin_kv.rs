//! Each plugin's key-value store (`plugin_kv`), shared by every node: Mattermost's
//! `PluginKeyValueStore`. Keys are scoped to the plugin; expired rows are invisible and purged
//! by [`Store::plugin_kv_purge_expired`]. Every call goes to the master, so a value written on one
//! node is read back on any other at once.

use super::{now_ms, Store, StoreResult};

/// The longest key (Mattermost's limit, in characters).
pub const MAX_KEY_CHARS: usize = 150;
/// The largest value stored.
pub const MAX_VALUE_BYTES: usize = 1 << 20;

/// `expire_at` for a value kept `seconds` (0: forever).
fn expiry(seconds: i64) -> i64 {
    if seconds > 0 {
        now_ms().saturating_add(seconds.saturating_mul(1000))
    } else {
        0
    }
}

const LIVE: &str = "(expire_at = 0 OR expire_at > $3)";

impl Store {
    /// Set `key` (replacing any value), kept `expire_in_seconds` (0: forever).
    pub async fn plugin_kv_set(
        &self,
        plugin: &str,
        key: &str,
        value: &[u8],
        expire_in_seconds: i64,
    ) -> StoreResult<()> {
        let c = self.master.get().await?;
        c.execute(
            "INSERT INTO plugin_kv (plugin_id, pkey, pvalue, expire_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (plugin_id, pkey) DO UPDATE SET pvalue = EXCLUDED.pvalue, expire_at = EXCLUDED.expire_at",
            &[&plugin, &key, &value, &expiry(expire_in_seconds)],
        )
        .await?;
        Ok(())
    }

    pub async fn plugin_kv_get(&self, plugin: &str, key: &str) -> StoreResult<Option<Vec<u8>>> {
        let c = self.master.get().await?;
        let sql = format!("SELECT pvalue FROM plugin_kv WHERE plugin_id = $1 AND pkey = $2 AND {LIVE}");
        Ok(c.query_opt(&sql, &[&plugin, &key, &now_ms()]).await?.map(|r| r.get(0)))
    }

    /// Whether a (live) value was deleted.
    pub async fn plugin_kv_delete(&self, plugin: &str, key: &str) -> StoreResult<bool> {
        let c = self.master.get().await?;
        let sql = format!("DELETE FROM plugin_kv WHERE plugin_id = $1 AND pkey = $2 AND {LIVE}");
        Ok(c.execute(&sql, &[&plugin, &key, &now_ms()]).await? > 0)
    }

    /// Every key of the plugin.
    pub async fn plugin_kv_delete_all(&self, plugin: &str) -> StoreResult<u64> {
        let c = self.master.get().await?;
        Ok(c.execute("DELETE FROM plugin_kv WHERE plugin_id = $1", &[&plugin]).await?)
    }

    /// Set `key` to `new` only if its value is `old` now (`None`: there is no live value); a
    /// `new` of `None` deletes. Whether it was set: the one atomic step nodes can coordinate with.
    pub async fn plugin_kv_compare_and_set(
        &self,
        plugin: &str,
        key: &str,
        old: Option<&[u8]>,
        new: Option<&[u8]>,
        expire_in_seconds: i64,
    ) -> StoreResult<bool> {
        let c = self.master.get().await?;
        let now = now_ms();
        match (old, new) {
            (None, None) => {
                let sql = format!("SELECT 1 FROM plugin_kv WHERE plugin_id = $1 AND pkey = $2 AND {LIVE}");
                Ok(c.query_opt(&sql, &[&plugin, &key, &now]).await?.is_none())
            }
            (None, Some(new)) => {
                // An expired row is as good as none: replace it; a live one stays.
                let n = c
                    .execute(
                        "INSERT INTO plugin_kv (plugin_id, pkey, pvalue, expire_at) VALUES ($1, $2, $4, $5)
                         ON CONFLICT (plugin_id, pkey) DO UPDATE SET pvalue = EXCLUDED.pvalue, expire_at = EXCLUDED.expire_at
                         WHERE plugin_kv.expire_at <> 0 AND plugin_kv.expire_at <= $3",
                        &[&plugin, &key, &now, &new, &expiry(expire_in_seconds)],
                    )
                    .await?;
                Ok(n > 0)
            }
            (Some(old), Some(new)) => {
                let sql = format!(
                    "UPDATE plugin_kv SET pvalue = $5, expire_at = $6
                     WHERE plugin_id = $1 AND pkey = $2 AND {LIVE} AND pvalue = $4"
                );
                let n = c.execute(&sql, &[&plugin, &key, &now, &old, &new, &expiry(expire_in_seconds)]).await?;
                Ok(n > 0)
            }
            (Some(old), None) => {
                let sql =
                    format!("DELETE FROM plugin_kv WHERE plugin_id = $1 AND pkey = $2 AND {LIVE} AND pvalue = $4");
                Ok(c.execute(&sql, &[&plugin, &key, &now, &old]).await? > 0)
            }
        }
    }

    /// Live keys, in order, a page at a time.
    pub async fn plugin_kv_list(&self, plugin: &str, page: i64, per_page: i64) -> StoreResult<Vec<String>> {
        let c = self.master.get().await?;
        let per_page = per_page.clamp(1, 1000);
        let offset = page.max(0).saturating_mul(per_page);
        let rows = c
            .query(
                "SELECT pkey FROM plugin_kv WHERE plugin_id = $1 AND (expire_at = 0 OR expire_at > $2)
                 ORDER BY pkey LIMIT $3 OFFSET $4",
                &[&plugin, &now_ms(), &per_page, &offset],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Drop expired values (of every plugin); how many.
    pub async fn plugin_kv_purge_expired(&self) -> StoreResult<u64> {
        let c = self.master.get().await?;
        Ok(c.execute("DELETE FROM plugin_kv WHERE expire_at > 0 AND expire_at <= $1", &[&now_ms()]).await?)
    }

    /// The ids of live system admins (at most `limit`), for events only they may see.
    pub async fn system_admin_ids(&self, limit: i64) -> StoreResult<Vec<String>> {
        let c = self.master.get().await?;
        let rows = c
            .query(
                "SELECT id FROM users WHERE delete_at = 0 AND ' ' || roles || ' ' LIKE '% system_admin %'
                 ORDER BY id LIMIT $1",
                &[&limit],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}
