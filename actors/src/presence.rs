//! `Presence`: online / away / offline per user, from websocket activity, kept in memory and
//! written through to the database. A change is published as a `status_change` event to the user.

use crate::event_bus::{EventBus, PublishEvent};
use crate::hub::UserPresenceChanged;
use actix::prelude::*;
use futures_util::future::BoxFuture;
use serde::Serialize;
use starling_protocol::{Broadcast, UserId, WsEvent};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub const ONLINE: &str = "online";
pub const AWAY: &str = "away";
pub const OFFLINE: &str = "offline";
pub const DND: &str = "dnd";

/// Online users with no activity for this long become away (Mattermost: 5 minutes).
pub const AWAY_AFTER: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    pub user_id: String,
    pub status: String,
    pub manual: bool,
    pub last_activity_at: i64,
}

impl Status {
    pub fn offline(user_id: &str) -> Self {
        Self { user_id: user_id.to_owned(), status: OFFLINE.into(), manual: false, last_activity_at: 0 }
    }
}

/// Where statuses are kept between restarts.
pub trait StatusStore: Send + Sync + 'static {
    fn load_statuses(&self, user_ids: Vec<String>) -> BoxFuture<'static, Result<Vec<Status>, String>>;
    /// Write these statuses (one batch).
    fn save_statuses(&self, statuses: Vec<Status>) -> BoxFuture<'static, Result<(), String>>;
}

/// Statuses of these users (unknown users are offline).
#[derive(Debug, Message)]
#[rtype(result = "Result<Vec<Status>, String>")]
pub struct GetStatuses {
    pub user_ids: Vec<String>,
}

/// Activity reported by a client (`user_update_active_status`) or a manual choice.
#[derive(Debug, Message)]
#[rtype(result = "Result<Status, String>")]
pub struct SetStatus {
    pub user_id: UserId,
    pub status: String,
    pub manual: bool,
}

/// The user did something (sent a frame, posted): refresh their activity time.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct UserActive {
    pub user_id: UserId,
    pub manual: bool,
}

/// A status a peer decided: take it as is, without telling the cluster again.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct ApplyRemoteStatus {
    pub status: Status,
}

/// From now on, tell peers about status changes and ask them before declaring a user offline.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetPresenceCluster {
    pub cluster: Addr<crate::cluster::Cluster>,
}

/// The most statuses one lookup returns.
pub const MAX_STATUS_LOOKUP: usize = 1000;

pub struct Presence {
    store: Arc<dyn StatusStore>,
    bus: Addr<EventBus>,
    known: HashMap<String, Status>,
    /// Statuses changed since the last write: written together, one batch at a time, so a burst
    /// of connections cannot open a database connection each.
    dirty: HashMap<String, Status>,
    saving: bool,
    cluster: Option<Addr<crate::cluster::Cluster>>,
    log: slog::Logger,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl Presence {
    pub fn new(store: Arc<dyn StatusStore>, bus: Addr<EventBus>, log: slog::Logger) -> Self {
        Self { store, bus, known: HashMap::new(), dirty: HashMap::new(), saving: false, cluster: None, log }
    }

    fn set(&mut self, status: Status) {
        let changed = self.known.get(&status.user_id).map(|s| &s.status) != Some(&status.status);
        self.known.insert(status.user_id.clone(), status.clone());
        self.dirty.insert(status.user_id.clone(), status.clone());
        if changed {
            if let Some(c) = &self.cluster {
                c.do_send(crate::cluster::ClusterBroadcast::StatusUpdate {
                    user_id: status.user_id.clone(),
                    status: status.status.clone(),
                    manual: status.manual,
                    last_activity_at: status.last_activity_at,
                });
            }
            let data = serde_json::json!({"status": status.status, "user_id": status.user_id}).to_string();
            self.bus.do_send(PublishEvent {
                event: WsEvent::new(
                    "status_change",
                    data,
                    Broadcast { user_id: status.user_id.clone(), ..Default::default() },
                ),
            });
        }
    }

    fn current(&self, user_id: &str) -> Status {
        self.known.get(user_id).cloned().unwrap_or_else(|| Status::offline(user_id))
    }

    fn flush(&mut self, ctx: &mut Context<Self>) {
        if self.saving || self.dirty.is_empty() {
            return;
        }
        self.saving = true;
        let batch: Vec<Status> = self.dirty.drain().map(|(_, s)| s).collect();
        self.store
            .save_statuses(batch)
            .into_actor(self)
            .then(|res, act, _| {
                act.saving = false;
                if let Err(e) = res {
                    slog::warn!(act.log, "cannot save statuses"; "error" => e);
                }
                fut::ready(())
            })
            .spawn(ctx);
    }

    fn mark_idle_away(&mut self) {
        let cutoff = now_ms() - AWAY_AFTER.as_millis() as i64;
        let idle: Vec<Status> = self
            .known
            .values()
            .filter(|s| s.status == ONLINE && !s.manual && s.last_activity_at < cutoff)
            .cloned()
            .collect();
        for mut s in idle {
            s.status = AWAY.into();
            self.set(s);
        }
    }
}

impl Actor for Presence {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(Duration::from_secs(30), |p, _| p.mark_idle_away());
        ctx.run_interval(Duration::from_secs(1), |p, ctx| p.flush(ctx));
    }
}

impl Handler<UserPresenceChanged> for Presence {
    type Result = ();
    fn handle(&mut self, msg: UserPresenceChanged, ctx: &mut Self::Context) {
        // Offline here may still be online on another node: ask before saying so.
        if let (false, Some(cluster)) = (msg.online, self.cluster.clone()) {
            let ask = crate::cluster::AskPeers {
                request: starling_protocol::message::Request::GetUserConnectionCount {
                    user_id: msg.user_id.as_str().to_owned(),
                },
                timeout: Duration::from_millis(500),
            };
            cluster
                .send(ask)
                .into_actor(self)
                .then(move |res, act, _| {
                    let elsewhere = res
                        .unwrap_or_default()
                        .iter()
                        .any(|(_, r)| matches!(r, starling_protocol::message::Response::ConnectionCount(n) if *n > 0));
                    if !elsewhere {
                        act.apply_presence(msg);
                    }
                    fut::ready(())
                })
                .spawn(ctx);
            return;
        }
        self.apply_presence(msg);
    }
}

impl Handler<ApplyRemoteStatus> for Presence {
    type Result = ();
    fn handle(&mut self, msg: ApplyRemoteStatus, _ctx: &mut Self::Context) {
        self.known.insert(msg.status.user_id.clone(), msg.status);
    }
}

impl Handler<SetPresenceCluster> for Presence {
    type Result = ();
    fn handle(&mut self, msg: SetPresenceCluster, _ctx: &mut Self::Context) {
        self.cluster = Some(msg.cluster);
    }
}

impl Presence {
    fn apply_presence(&mut self, msg: UserPresenceChanged) {
        let mut s = self.current(msg.user_id.as_str());
        if msg.online {
            s.last_activity_at = now_ms();
            if !s.manual || s.status == OFFLINE {
                s.status = ONLINE.into();
                s.manual = false;
            }
        } else if !s.manual || s.status != DND {
            s.status = OFFLINE.into();
            s.manual = false;
        }
        self.set(s);
    }
}

impl Handler<UserActive> for Presence {
    type Result = ();
    fn handle(&mut self, msg: UserActive, _ctx: &mut Self::Context) {
        let mut s = self.current(msg.user_id.as_str());
        s.last_activity_at = now_ms();
        if s.status == AWAY && !s.manual {
            s.status = ONLINE.into();
            self.set(s);
        } else {
            self.known.insert(s.user_id.clone(), s);
        }
    }
}

impl Handler<SetStatus> for Presence {
    type Result = Result<Status, String>;
    fn handle(&mut self, msg: SetStatus, _ctx: &mut Self::Context) -> Self::Result {
        if ![ONLINE, AWAY, OFFLINE, DND].contains(&msg.status.as_str()) {
            return Err(format!("unknown status {:?}", msg.status));
        }
        let mut s = self.current(msg.user_id.as_str());
        s.status = msg.status;
        s.manual = msg.manual;
        s.last_activity_at = now_ms();
        self.set(s.clone());
        Ok(s)
    }
}

impl Handler<GetStatuses> for Presence {
    type Result = ResponseActFuture<Self, Result<Vec<Status>, String>>;
    fn handle(&mut self, msg: GetStatuses, _ctx: &mut Self::Context) -> Self::Result {
        let ids: Vec<String> = msg.user_ids.into_iter().take(MAX_STATUS_LOOKUP).collect();
        let missing: Vec<String> = ids.iter().filter(|u| !self.known.contains_key(*u)).cloned().collect();
        let load = self.store.load_statuses(missing);
        Box::pin(load.into_actor(self).map(move |res, p, _| {
            for s in res? {
                p.known.entry(s.user_id.clone()).or_insert(s);
            }
            Ok(ids.iter().map(|u| p.current(u)).collect())
        }))
    }
}
