//! `Presence`: online / away / offline per user, from websocket activity, kept in memory and
//! written through to the database. A change is published on the bus as a
//! [`BusEvent::Status`]: every node (this one included) shows it as `status_change` to the user,
//! and every node's `Presence` takes it into what it knows.

use crate::error::{StoreError, StoreResult};
use crate::event_bus::{Origin, Publish, Published};
use crate::hub::UserPresenceChanged;
use crate::mailbox::LOCAL_MAILBOX;
use actix::prelude::*;
use futures_util::future::BoxFuture;
use starling_protocol::message::{Request, Response};
use starling_protocol::{now_ms, BusEvent, UserId};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub use starling_protocol::UserStatus as Status;

pub const ONLINE: &str = "online";
pub const AWAY: &str = "away";
pub const OFFLINE: &str = "offline";
pub const DND: &str = "dnd";

/// Online users with no activity for this long become away (Mattermost: 5 minutes).
pub const AWAY_AFTER: Duration = Duration::from_secs(300);
/// How often idle users are checked.
const IDLE_CHECK: Duration = Duration::from_secs(30);
/// How often changed statuses are written, as one batch.
const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// How long peers are asked whether a user still has connections there.
const ASK_TIMEOUT: Duration = Duration::from_millis(500);
/// The most statuses one lookup returns.
pub const MAX_STATUS_LOOKUP: usize = 1000;

/// A status nobody set: offline.
pub fn offline(user_id: &UserId) -> Status {
    Status { user_id: user_id.clone(), status: OFFLINE.into(), manual: false, last_activity_at: 0 }
}

/// Where statuses are kept between restarts.
pub trait StatusStore: Send + Sync + 'static {
    fn load_statuses(&self, user_ids: Vec<UserId>) -> BoxFuture<'static, StoreResult<Vec<Status>>>;
    /// Write these statuses (one batch).
    fn save_statuses(&self, statuses: Vec<Status>) -> BoxFuture<'static, StoreResult<()>>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PresenceError {
    #[error("unknown status {0:?}")]
    UnknownStatus(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Statuses of these users (unknown users are offline).
#[derive(Debug, Message)]
#[rtype(result = "Result<Vec<Status>, PresenceError>")]
pub struct GetStatuses {
    pub user_ids: Vec<UserId>,
}

/// Activity reported by a client (`user_update_active_status`) or a manual choice.
#[derive(Debug, Message)]
#[rtype(result = "Result<Status, PresenceError>")]
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

/// From now on, ask peers before declaring a user offline.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetPresenceCluster {
    pub peers: Recipient<crate::cluster::AskPeers>,
}

pub struct Presence {
    store: Arc<dyn StatusStore>,
    bus: Recipient<Publish>,
    known: HashMap<UserId, Status>,
    /// Statuses changed since the last write: written together, one batch at a time, so a burst
    /// of connections cannot open a database connection each.
    dirty: HashMap<UserId, Status>,
    saving: bool,
    peers: Option<Recipient<crate::cluster::AskPeers>>,
    log: slog::Logger,
}

impl Presence {
    pub fn new(store: Arc<dyn StatusStore>, bus: Recipient<Publish>, log: slog::Logger) -> Self {
        Self { store, bus, known: HashMap::new(), dirty: HashMap::new(), saving: false, peers: None, log }
    }

    fn set(&mut self, status: Status) {
        let changed = self.known.get(&status.user_id).map(|s| &s.status) != Some(&status.status);
        self.known.insert(status.user_id.clone(), status.clone());
        self.dirty.insert(status.user_id.clone(), status.clone());
        if changed {
            // One per status change, which websocket activity bounds.
            self.bus.do_send(Publish::local(BusEvent::Status(status)));
        }
    }

    fn current(&self, user_id: &UserId) -> Status {
        self.known.get(user_id).cloned().unwrap_or_else(|| offline(user_id))
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
                    slog::warn!(act.log, "cannot save statuses"; "error" => %e);
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

    fn apply_presence(&mut self, msg: UserPresenceChanged) {
        let mut s = self.current(&msg.user_id);
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

impl Actor for Presence {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(LOCAL_MAILBOX);
        ctx.run_interval(IDLE_CHECK, |p, _| p.mark_idle_away());
        ctx.run_interval(FLUSH_INTERVAL, |p, ctx| p.flush(ctx));
    }
}

impl actix::Supervised for Presence {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        // What it knew is reloaded from the database as asked; what it had not written yet is
        // written at the next flush.
        self.known.clear();
        self.saving = false;
    }
}

crate::restartable!(Presence);

impl Handler<UserPresenceChanged> for Presence {
    type Result = ();
    fn handle(&mut self, msg: UserPresenceChanged, ctx: &mut Self::Context) {
        // Offline here may still be online on another node: ask before saying so.
        if let (false, Some(peers)) = (msg.online, self.peers.clone()) {
            let ask = crate::cluster::AskPeers {
                request: Request::GetUserConnectionCount { user_id: msg.user_id.clone() },
                timeout: ASK_TIMEOUT,
            };
            peers
                .send(ask)
                .into_actor(self)
                .then(move |res, act, _| {
                    let elsewhere = res
                        .unwrap_or_default()
                        .iter()
                        .any(|(_, r)| matches!(r, Response::ConnectionCount(n) if *n > 0));
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

/// Statuses other nodes decided: taken as they are (the bus showed them to this node's users).
impl Handler<Published> for Presence {
    type Result = ();
    fn handle(&mut self, msg: Published, _ctx: &mut Self::Context) {
        if let (BusEvent::Status(s), Origin::Peer(_)) = (&*msg.event, &msg.origin) {
            self.known.insert(s.user_id.clone(), s.clone());
        }
    }
}

impl Handler<SetPresenceCluster> for Presence {
    type Result = ();
    fn handle(&mut self, msg: SetPresenceCluster, _ctx: &mut Self::Context) {
        self.peers = Some(msg.peers);
    }
}

impl Handler<UserActive> for Presence {
    type Result = ();
    fn handle(&mut self, msg: UserActive, _ctx: &mut Self::Context) {
        let mut s = self.current(&msg.user_id);
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
    type Result = Result<Status, PresenceError>;
    fn handle(&mut self, msg: SetStatus, _ctx: &mut Self::Context) -> Self::Result {
        if ![ONLINE, AWAY, OFFLINE, DND].contains(&msg.status.as_str()) {
            return Err(PresenceError::UnknownStatus(msg.status));
        }
        let mut s = self.current(&msg.user_id);
        s.status = msg.status;
        s.manual = msg.manual;
        s.last_activity_at = now_ms();
        self.set(s.clone());
        Ok(s)
    }
}

impl Handler<GetStatuses> for Presence {
    type Result = ResponseActFuture<Self, Result<Vec<Status>, PresenceError>>;
    fn handle(&mut self, msg: GetStatuses, _ctx: &mut Self::Context) -> Self::Result {
        let ids: Vec<UserId> = msg.user_ids.into_iter().take(MAX_STATUS_LOOKUP).collect();
        let missing: Vec<UserId> = ids.iter().filter(|u| !self.known.contains_key(*u)).cloned().collect();
        let load = self.store.load_statuses(missing);
        Box::pin(load.into_actor(self).map(move |res, p, _| {
            for s in res? {
                p.known.entry(s.user_id.clone()).or_insert(s);
            }
            Ok(ids.iter().map(|u| p.current(u)).collect())
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct MemStatuses {
        saved: Mutex<HashMap<UserId, Status>>,
    }

    impl StatusStore for MemStatuses {
        fn load_statuses(&self, user_ids: Vec<UserId>) -> BoxFuture<'static, StoreResult<Vec<Status>>> {
            let saved = self.saved.lock().unwrap();
            let found: Vec<Status> = user_ids.iter().filter_map(|u| saved.get(u).cloned()).collect();
            Box::pin(async move { Ok(found) })
        }
        fn save_statuses(&self, statuses: Vec<Status>) -> BoxFuture<'static, StoreResult<()>> {
            let mut saved = self.saved.lock().unwrap();
            for s in statuses {
                saved.insert(s.user_id.clone(), s);
            }
            Box::pin(async { Ok(()) })
        }
    }

    /// Stands in for the bus: records what presence published.
    struct Bus(Arc<Mutex<Vec<BusEvent>>>);
    impl Actor for Bus {
        type Context = Context<Self>;
    }
    impl Handler<Publish> for Bus {
        type Result = ();
        fn handle(&mut self, msg: Publish, _ctx: &mut Self::Context) {
            assert_eq!(msg.origin, Origin::Local);
            self.0.lock().unwrap().push(msg.event);
        }
    }

    fn quiet() -> slog::Logger {
        slog::Logger::root(slog::Discard, slog::o!())
    }

    fn published_statuses(bus: &Mutex<Vec<BusEvent>>) -> Vec<String> {
        bus.lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                BusEvent::Status(s) => Some(s.status.clone()),
                _ => None,
            })
            .collect()
    }

    #[actix::test]
    async fn a_change_is_published_once_and_written_through() {
        tokio::time::pause();
        let store = Arc::new(MemStatuses::default());
        let events = Arc::new(Mutex::new(Vec::new()));
        let bus = Bus(events.clone()).start();
        let p = Presence::new(store.clone(), bus.recipient(), quiet()).start();
        let u = UserId::from("u1");
        p.send(UserPresenceChanged { user_id: u.clone(), online: true }).await.unwrap();
        p.send(UserActive { user_id: u.clone(), manual: false }).await.unwrap();
        let got = p.send(GetStatuses { user_ids: vec![u.clone(), "u2".into()] }).await.unwrap().unwrap();
        assert_eq!(got.iter().map(|s| s.status.as_str()).collect::<Vec<_>>(), [ONLINE, OFFLINE]);
        tokio::time::sleep(FLUSH_INTERVAL * 2).await;
        assert_eq!(store.saved.lock().unwrap().get(&u).map(|s| s.status.clone()), Some(ONLINE.to_owned()));
        assert_eq!(published_statuses(&events), [ONLINE], "activity without a change publishes nothing");
        // A user idle since long ago (as a peer saw them) becomes away at the next check.
        let idle = Status { user_id: "u3".into(), status: ONLINE.into(), manual: false, last_activity_at: 1 };
        p.send(Published { event: Arc::new(BusEvent::Status(idle)), origin: Origin::Peer("n2".into()) }).await.unwrap();
        tokio::time::sleep(IDLE_CHECK * 2).await;
        // The last socket going: offline.
        p.send(UserPresenceChanged { user_id: u.clone(), online: false }).await.unwrap();
        assert_eq!(published_statuses(&events), [ONLINE, AWAY, OFFLINE]);
        assert!(p.send(SetStatus { user_id: u, status: "busy".into(), manual: true }).await.unwrap().is_err());
    }

    #[actix::test]
    async fn a_peers_status_is_taken_without_publishing_it_again() {
        let events = Arc::new(Mutex::new(Vec::new()));
        let bus = Bus(events.clone()).start();
        let p = Presence::new(Arc::new(MemStatuses::default()), bus.recipient(), quiet()).start();
        let s = Status { user_id: "u9".into(), status: DND.into(), manual: true, last_activity_at: 5 };
        p.send(Published { event: Arc::new(BusEvent::Status(s.clone())), origin: Origin::Peer("n2".into()) })
            .await
            .unwrap();
        let got = p.send(GetStatuses { user_ids: vec!["u9".into()] }).await.unwrap().unwrap();
        assert_eq!(got, vec![s]);
        assert!(events.lock().unwrap().is_empty());
    }
}
