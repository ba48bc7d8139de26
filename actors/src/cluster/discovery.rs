//! `Discovery`: this node's row in ClusterDiscovery, and the list of nodes sharing its ClusterName.
//! On start it removes rows older than [`STALE_AFTER`] and its own address's old row, inserts
//! itself, refreshes `LastPingAt` every [`HEARTBEAT`], reads the table every [`POLL`] and deletes
//! its row when it stops cleanly.

use super::SetPeers;
use crate::error::StoreResult;
use actix::prelude::*;
use futures_util::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;

/// Mattermost's refresh of LastPingAt.
pub const HEARTBEAT: Duration = Duration::from_secs(60);
/// How often the table is read for new or departed nodes.
pub const POLL: Duration = Duration::from_secs(2);
/// Rows not refreshed for this long are removed at start (Mattermost: 30 minutes).
pub const STALE_AFTER: Duration = Duration::from_secs(30 * 60);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryRow {
    pub id: String,
    pub kind: String,
    pub cluster_name: String,
    pub hostname: String,
    pub gossip_port: i32,
    pub port: i32,
    pub create_at: i64,
    pub last_ping_at: i64,
}

impl DiscoveryRow {
    pub fn gossip_addr(&self) -> String {
        if self.hostname.contains(':') {
            format!("[{}]:{}", self.hostname, self.gossip_port)
        } else {
            format!("{}:{}", self.hostname, self.gossip_port)
        }
    }
}

/// What discovery needs from the database.
pub trait DiscoveryStore: Send + Sync + 'static {
    /// Remove stale rows and this address's old row, then insert `row`.
    fn register(&self, row: DiscoveryRow, stale_before: i64) -> BoxFuture<'static, StoreResult<()>>;
    fn heartbeat(&self, id: String, now: i64) -> BoxFuture<'static, StoreResult<()>>;
    fn list(&self, kind: String, cluster_name: String) -> BoxFuture<'static, StoreResult<Vec<DiscoveryRow>>>;
    fn unregister(&self, id: String) -> BoxFuture<'static, StoreResult<()>>;
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Unregister;

pub struct Discovery {
    store: Arc<dyn DiscoveryStore>,
    row: DiscoveryRow,
    cluster: Recipient<SetPeers>,
    registered: bool,
    log: slog::Logger,
}

impl Discovery {
    pub fn new(
        store: Arc<dyn DiscoveryStore>,
        row: DiscoveryRow,
        cluster: Recipient<SetPeers>,
        log: slog::Logger,
    ) -> Self {
        Self { store, row, cluster, registered: false, log }
    }

    fn register(&mut self, ctx: &mut Context<Self>) {
        let now = starling_protocol::now_ms();
        let mut row = self.row.clone();
        row.last_ping_at = now;
        let fut = self.store.register(row, now - STALE_AFTER.as_millis() as i64);
        fut.into_actor(self)
            .then(|res, act, ctx| {
                match res {
                    Ok(()) => {
                        act.registered = true;
                        slog::info!(act.log, "registered in cluster discovery");
                        act.poll(ctx);
                    }
                    Err(e) => {
                        slog::warn!(act.log, "cannot register in cluster discovery, retrying"; "error" => %e);
                        ctx.run_later(Duration::from_secs(1), |act, ctx| act.register(ctx));
                    }
                }
                fut::ready(())
            })
            .spawn(ctx);
    }

    fn poll(&mut self, ctx: &mut Context<Self>) {
        let fut = self.store.list(self.row.kind.clone(), self.row.cluster_name.clone());
        fut.into_actor(self)
            .then(|res, act, _| {
                match res {
                    Ok(rows) => {
                        let addrs = rows.iter().filter(|r| r.id != act.row.id).map(|r| r.gossip_addr()).collect();
                        act.cluster.do_send(SetPeers { gossip_addrs: addrs });
                    }
                    Err(e) => slog::warn!(act.log, "cannot read cluster discovery"; "error" => %e),
                }
                fut::ready(())
            })
            .spawn(ctx);
    }
}

impl Actor for Discovery {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.register(ctx);
        ctx.run_interval(POLL, |act, ctx| {
            if act.registered {
                act.poll(ctx);
            }
        });
        ctx.run_interval(HEARTBEAT, |act, ctx| {
            let fut = act.store.heartbeat(act.row.id.clone(), starling_protocol::now_ms());
            fut.into_actor(act)
                .then(|res, act, _| {
                    if let Err(e) = res {
                        slog::warn!(act.log, "cannot refresh cluster discovery row"; "error" => %e);
                    }
                    fut::ready(())
                })
                .spawn(ctx);
        });
    }
}

impl actix::Supervised for Discovery {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        self.registered = false; // `started` registers again
    }
}

crate::restartable!(Discovery);

impl Handler<Unregister> for Discovery {
    type Result = ResponseFuture<()>;
    fn handle(&mut self, _msg: Unregister, ctx: &mut Self::Context) -> Self::Result {
        self.registered = false;
        ctx.stop();
        let fut = self.store.unregister(self.row.id.clone());
        let log = self.log.clone();
        Box::pin(async move {
            if let Err(e) = fut.await {
                slog::warn!(log, "cannot remove cluster discovery row"; "error" => %e);
            }
        })
    }
}
