//! The Systems table: named values the cluster shares.

use super::{Store, StoreResult};

impl Store {
    pub async fn system_value(&self, name: &str) -> StoreResult<Option<String>> {
        let c = self.master.get().await?;
        Ok(c.query_opt("SELECT value FROM systems WHERE name = $1", &[&name]).await?.map(|r| r.get(0)))
    }

    /// Set a value unless it is already set; returns the value that is stored (the first one wins).
    pub async fn system_value_insert_once(&self, name: &str, value: &str) -> StoreResult<String> {
        let c = self.master.get().await?;
        c.execute("INSERT INTO systems (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", &[&name, &value])
            .await?;
        Ok(c.query_one("SELECT value FROM systems WHERE name = $1", &[&name]).await?.get(0))
    }

    /// The health check Mattermost's ping does: write a row and delete it again.
    pub async fn check_writable(&self, node_id: &str) -> StoreResult<()> {
        let mut c = self.master.get().await?;
        let tx = c.transaction().await?;
        let name = format!("health_check_{}", &node_id[..node_id.len().min(40)]);
        tx.execute(
            "INSERT INTO systems (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
            &[&name, &super::now_ms().to_string()],
        )
        .await?;
        tx.execute("DELETE FROM systems WHERE name = $1", &[&name]).await?;
        tx.commit().await?;
        Ok(())
    }
}
