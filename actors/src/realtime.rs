//! The realtime core of a node, assembled in one place: the session cache, the event bus, the
//! hubs and presence, all supervised; then, for a cluster, the coordinator and the gossip
//! listener. The node (`src/server.rs`), the benches and the in-process cluster tests build their
//! nodes through this, so the wiring exists once.

use crate::cluster::{self, Answerers, AskPeers, JoinSettings, Joined, Listener, LocalParts};
use crate::event_bus::{BusCounters, EventBus, Filter, Origin, Subscribe};
use crate::hub::{Hub, HubSet, MembershipStore};
use crate::presence::{Presence, SetPresenceCluster, StatusStore};
use crate::session_cache::{SessionCache, SessionStore};
use crate::supervisor::Supervisor;
use crate::ws_connection::WsContext;
use actix::prelude::*;
use starling_protocol::{BusEvent, NodeId};
use std::sync::Arc;
use std::time::Duration;

/// What the realtime core reads from the database.
#[derive(Clone)]
pub struct RealtimeStores {
    pub sessions: Arc<dyn SessionStore>,
    pub memberships: Arc<dyn MembershipStore>,
    pub statuses: Arc<dyn StatusStore>,
}

#[derive(Debug, Clone)]
pub struct RealtimeSettings {
    /// How many hubs (ServiceSettings.WebsocketHubs; at least one).
    pub hubs: usize,
    /// Each hub on a thread of its own (production); false keeps them on the current arbiter, so
    /// a test's paused clock holds for them too.
    pub hubs_on_own_threads: bool,
    /// How long a cached session is trusted (ServiceSettings.SessionCacheInMinutes).
    pub session_ttl: Duration,
    /// Sessions cached at most.
    pub session_capacity: usize,
}

impl Default for RealtimeSettings {
    fn default() -> Self {
        Self { hubs: 1, hubs_on_own_threads: false, session_ttl: Duration::from_secs(600), session_capacity: 100_000 }
    }
}

/// A node's realtime core.
#[derive(Clone)]
pub struct Realtime {
    pub bus: Addr<EventBus>,
    pub hubs: HubSet,
    pub sessions: Addr<SessionCache>,
    pub presence: Addr<Presence>,
    pub bus_counters: Arc<BusCounters>,
    /// Who answers peers' questions for extensions.
    pub answerers: Answerers,
}

impl Realtime {
    /// Start the session cache, bus, hubs and presence under `sup`.
    pub fn start(sup: &Supervisor, stores: RealtimeStores, settings: &RealtimeSettings, log: &slog::Logger) -> Self {
        let sessions = {
            let (store, ttl, cap) = (stores.sessions, settings.session_ttl, settings.session_capacity);
            sup.start("session_cache", move |_| SessionCache::new(store, ttl, cap))
        };
        // Presence needs the bus, the bus needs the hubs, the hubs report to presence: presence's
        // address first, its actor once the bus exists.
        let presence_ctx = Context::<Presence>::new();
        let presence = presence_ctx.address();
        let hubs: Vec<Addr<Hub>> = (0..settings.hubs.max(1))
            .map(|_| {
                let (store, presence, log) = (stores.memberships.clone(), presence.clone().recipient(), log.clone());
                let make = move |_: &mut Context<Hub>| Hub::new(store, Some(presence), log);
                if settings.hubs_on_own_threads {
                    sup.start_in_arbiter(&Arbiter::new().handle(), "hub", make)
                } else {
                    sup.start("hub", make)
                }
            })
            .collect();
        let hubs = HubSet::new(hubs);
        let bus_counters = Arc::new(BusCounters::default());
        let bus = {
            let (hubs, counters) = (hubs.clone(), bus_counters.clone());
            sup.start("event_bus", move |_| EventBus::new(hubs, counters))
        };
        sup.run("presence", presence_ctx, Presence::new(stores.statuses, bus.clone().recipient(), log.clone()));
        // Statuses decided on other nodes.
        bus.do_send(Subscribe {
            subscriber: presence.clone().recipient(),
            filter: Filter::new(|e, o| matches!(e, BusEvent::Status(_)) && *o != Origin::Local),
        });
        Self { bus, hubs, sessions, presence, bus_counters, answerers: Answerers::default() }
    }

    /// What peers' messages are applied to.
    pub fn local_parts(&self) -> LocalParts {
        LocalParts {
            bus: self.bus.clone(),
            sessions: self.sessions.clone(),
            hubs: self.hubs.clone(),
            answerers: self.answerers.clone(),
        }
    }

    /// Join a cluster: the coordinator (a bus subscriber) and the gossip listener; presence asks
    /// peers before it calls a user offline.
    pub fn join_cluster(&self, sup: &Supervisor, settings: JoinSettings, listener: impl Listener) -> Joined {
        let joined = cluster::join(sup, settings, listener, self.local_parts());
        let peers: Recipient<AskPeers> = joined.cluster.clone().recipient();
        self.presence.do_send(SetPresenceCluster { peers });
        joined
    }

    /// What every websocket of the node shares.
    pub fn ws_context(
        &self,
        cluster: Option<&Joined>,
        node_id: &NodeId,
        version: &str,
        hostname: &str,
        log: &slog::Logger,
    ) -> WsContext {
        WsContext {
            sessions: self.sessions.clone(),
            hubs: self.hubs.clone(),
            bus: self.bus.clone(),
            presence: self.presence.clone(),
            cluster: cluster.map(|c| c.cluster.clone().recipient()),
            node_id: node_id.as_str().to_owned(),
            version: version.to_owned(),
            hostname: hostname.to_owned(),
            log: log.clone(),
        }
    }
}
