//! ClusterDiscovery rows and the cluster's shared encryption key.

use super::{Store, StoreResult};
use futures_util::future::BoxFuture;
use starling_actors::cluster::discovery::{DiscoveryRow, DiscoveryStore};
use tokio_postgres::Row;

/// The Systems row holding the cluster key (base64 of 32 bytes).
pub const CLUSTER_KEY_ROW: &str = "ClusterEncryptionKey";

fn row(r: &Row) -> DiscoveryRow {
    DiscoveryRow {
        id: r.get("id"),
        kind: r.get("type"),
        cluster_name: r.get("clustername"),
        hostname: r.get("hostname"),
        gossip_port: r.get("gossipport"),
        port: r.get("port"),
        create_at: r.get("createat"),
        last_ping_at: r.get("lastpingat"),
    }
}

impl Store {
    pub async fn discovery_register(&self, d: &DiscoveryRow, stale_before: i64) -> StoreResult<()> {
        let mut c = self.master.get().await?;
        let tx = c.transaction().await?;
        tx.execute("DELETE FROM clusterdiscovery WHERE lastpingat < $1", &[&stale_before]).await?;
        tx.execute(
            "DELETE FROM clusterdiscovery WHERE type = $1 AND clustername = $2 AND hostname = $3 AND gossipport = $4",
            &[&d.kind, &d.cluster_name, &d.hostname, &d.gossip_port],
        )
        .await?;
        tx.execute(
            "INSERT INTO clusterdiscovery (id, type, clustername, hostname, gossipport, port, createat, lastpingat) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[&d.id, &d.kind, &d.cluster_name, &d.hostname, &d.gossip_port, &d.port, &d.create_at, &d.last_ping_at],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn discovery_list(&self, kind: &str, cluster_name: &str) -> StoreResult<Vec<DiscoveryRow>> {
        let c = self.master.get().await?;
        let rows = c
            .query(
                "SELECT * FROM clusterdiscovery WHERE type = $1 AND clustername = $2 ORDER BY id",
                &[&kind, &cluster_name],
            )
            .await?;
        Ok(rows.iter().map(row).collect())
    }

    /// The cluster key: the first one written wins, every node then reads that one.
    pub async fn cluster_key(&self, candidate: &str) -> StoreResult<String> {
        self.system_value_insert_once(CLUSTER_KEY_ROW, candidate).await
    }
}

impl Store {
    async fn discovery_heartbeat(&self, id: &str, now: i64) -> StoreResult<()> {
        let c = self.master.get().await?;
        c.execute("UPDATE clusterdiscovery SET lastpingat = $2 WHERE id = $1", &[&id, &now]).await?;
        Ok(())
    }

    async fn discovery_unregister(&self, id: &str) -> StoreResult<()> {
        let c = self.master.get().await?;
        c.execute("DELETE FROM clusterdiscovery WHERE id = $1", &[&id]).await?;
        Ok(())
    }
}

type ActorResult<T> = BoxFuture<'static, starling_actors::StoreResult<T>>;

impl DiscoveryStore for Store {
    fn register(&self, d: DiscoveryRow, stale_before: i64) -> ActorResult<()> {
        let s = self.clone();
        Box::pin(async move { Ok(s.discovery_register(&d, stale_before).await?) })
    }

    fn heartbeat(&self, id: String, now: i64) -> ActorResult<()> {
        let s = self.clone();
        Box::pin(async move { Ok(s.discovery_heartbeat(&id, now).await?) })
    }

    fn list(&self, kind: String, cluster_name: String) -> ActorResult<Vec<DiscoveryRow>> {
        let s = self.clone();
        Box::pin(async move { Ok(s.discovery_list(&kind, &cluster_name).await?) })
    }

    fn unregister(&self, id: String) -> ActorResult<()> {
        let s = self.clone();
        Box::pin(async move { Ok(s.discovery_unregister(&id).await?) })
    }
}
