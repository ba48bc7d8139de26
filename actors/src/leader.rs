//! `Leader`: which node of the cluster leads, by the bully rule: the live node with the lowest id.
//!
//! "Live" is the membership view the [`Cluster`](crate::cluster::Cluster) coordinator publishes
//! ([`ClusterViewChanged`]): this node plus every peer that is up or suspect. A peer killed outright
//! is marked down within milliseconds (its links drop and redials are refused), so the next node
//! takes over as soon as the death is known; nothing here waits for a timer.
//!
//! A starting node has not heard its peers yet, so it does not claim leadership until it has
//! reached every peer discovery lists (the view says `all_up`) or [`STARTUP_SETTLE`] has passed.
//! Without that grace every node would lead for a moment at start.
//!
//! Two nodes on the two sides of a partition both lead. That is expected: whatever a leader does
//! must stay correct when it happens twice (the job scheduler relies on a unique key in the
//! database, not on leadership being exclusive).
//!
//! Subscribers ([`Subscribe`]) get a [`LeaderChanged`] at once with the current state (once there is
//! one), then on every change.

use crate::cluster::ClusterViewChanged;
use actix::prelude::*;
use starling_protocol::NodeId;
use std::time::Duration;

/// How long a starting clustered node waits to reach its peers before it may lead anyway.
pub const STARTUP_SETTLE: Duration = Duration::from_secs(3);

/// The leader changed (or this is the first decision).
#[derive(Debug, Clone, PartialEq, Eq, Message)]
#[rtype(result = "()")]
pub struct LeaderChanged {
    /// The leading node.
    pub leader: NodeId,
    /// Whether that is this node.
    pub is_leader: bool,
}

/// Tell `subscriber` the current leader now and every change from now on.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Subscribe {
    pub subscriber: Recipient<LeaderChanged>,
}

/// Who leads, as this node sees it now.
#[derive(Debug, Message)]
#[rtype(result = "LeaderState")]
pub struct GetLeader;

#[derive(Debug, Clone, PartialEq, Eq, MessageResponse)]
pub struct LeaderState {
    /// None while a starting node is still settling.
    pub leader: Option<NodeId>,
    pub is_leader: bool,
}

/// How this node takes part in elections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Clustering is off: the node leads itself.
    Standalone,
    /// Elect from the cluster's membership view.
    Clustered,
    /// Always lead, whatever the view says. Only for tests that need two leaders at once.
    Forced,
}

/// The bully rule: the lowest id among this node and the live peers.
pub fn elect<'a>(me: &'a NodeId, up: &'a [NodeId]) -> &'a NodeId {
    up.iter().fold(me, |best, id| if id < best { id } else { best })
}

pub struct Leader {
    me: NodeId,
    mode: Mode,
    /// The live peers from the last view.
    up: Vec<NodeId>,
    /// Whether a clustered node may decide yet (see [`STARTUP_SETTLE`]).
    settled: bool,
    settle_after: Duration,
    current: Option<NodeId>,
    subscribers: Vec<Recipient<LeaderChanged>>,
    log: slog::Logger,
}

impl Leader {
    pub fn new(me: NodeId, mode: Mode, log: slog::Logger) -> Self {
        Self {
            me,
            mode,
            up: Vec::new(),
            settled: mode != Mode::Clustered,
            settle_after: STARTUP_SETTLE,
            current: None,
            subscribers: Vec::new(),
            log,
        }
    }

    /// Settle after `d` instead of [`STARTUP_SETTLE`].
    pub fn with_settle(mut self, d: Duration) -> Self {
        self.settle_after = d;
        self
    }

    fn state(&self) -> LeaderState {
        LeaderState { leader: self.current.clone(), is_leader: self.current.as_ref() == Some(&self.me) }
    }

    fn decide(&mut self) {
        if !self.settled {
            return;
        }
        let leader = match self.mode {
            Mode::Standalone | Mode::Forced => self.me.clone(),
            Mode::Clustered => elect(&self.me, &self.up).clone(),
        };
        if self.current.as_ref() == Some(&leader) {
            return;
        }
        let is_leader = leader == self.me;
        slog::info!(self.log, "leader changed"; "leader_id" => %leader, "is_leader" => is_leader,
            "previous_leader_id" => self.current.as_ref().map(|l| l.to_string()).unwrap_or_default());
        self.current = Some(leader.clone());
        self.subscribers.retain(|s| s.connected());
        for s in &self.subscribers {
            s.do_send(LeaderChanged { leader: leader.clone(), is_leader });
        }
    }
}

impl Actor for Leader {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if self.mode == Mode::Clustered {
            ctx.run_later(self.settle_after, |act, _| {
                if !act.settled {
                    slog::info!(act.log, "leader election settled by timeout"; "live_peers" => act.up.len());
                    act.settled = true;
                    act.decide();
                }
            });
        }
        self.decide();
    }
}

impl actix::Supervised for Leader {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        // Decide again from the next view (subscribers are told only if the leader differs).
        self.settled = self.mode != Mode::Clustered;
    }
}

crate::restartable!(Leader);

impl Handler<ClusterViewChanged> for Leader {
    type Result = ();
    fn handle(&mut self, msg: ClusterViewChanged, _ctx: &mut Self::Context) {
        self.up = msg.up.into_iter().filter(|id| !id.as_str().is_empty()).collect();
        if msg.all_up {
            self.settled = true;
        }
        self.decide();
    }
}

impl Handler<Subscribe> for Leader {
    type Result = ();
    fn handle(&mut self, msg: Subscribe, _ctx: &mut Self::Context) {
        if let Some(leader) = &self.current {
            msg.subscriber.do_send(LeaderChanged { leader: leader.clone(), is_leader: *leader == self.me });
        }
        self.subscribers.push(msg.subscriber);
    }
}

impl Handler<GetLeader> for Leader {
    type Result = LeaderState;
    fn handle(&mut self, _msg: GetLeader, _ctx: &mut Self::Context) -> LeaderState {
        self.state()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn id(s: &str) -> NodeId {
        NodeId::from(s)
    }

    #[test]
    fn the_lowest_live_id_leads() {
        assert_eq!(elect(&id("m"), &[]), &id("m"));
        assert_eq!(elect(&id("m"), &[id("z"), id("c"), id("q")]), &id("c"));
        assert_eq!(elect(&id("a"), &[id("z"), id("c")]), &id("a"));
    }

    /// Records what a subscriber was told.
    struct Probe(Arc<Mutex<Vec<LeaderChanged>>>);
    impl Actor for Probe {
        type Context = Context<Self>;
    }
    impl Handler<LeaderChanged> for Probe {
        type Result = ();
        fn handle(&mut self, msg: LeaderChanged, _ctx: &mut Self::Context) {
            self.0.lock().unwrap().push(msg);
        }
    }

    fn log() -> slog::Logger {
        slog::Logger::root(slog::Discard, slog::o!())
    }

    async fn settle() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    #[actix::test]
    async fn clustered_node_waits_for_its_peers_then_follows_the_view() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let probe = Probe(seen.clone()).start();
        let leader = Leader::new(id("m"), Mode::Clustered, log()).start();
        leader.send(Subscribe { subscriber: probe.recipient() }).await.unwrap();
        // Peers known but not reached yet: no decision.
        leader.send(ClusterViewChanged { up: vec![], all_up: false, all_answering: false }).await.unwrap();
        assert_eq!(leader.send(GetLeader).await.unwrap(), LeaderState { leader: None, is_leader: false });
        // Every peer reached: the lowest id leads.
        leader
            .send(ClusterViewChanged { up: vec!["c".into(), "z".into()], all_up: true, all_answering: true })
            .await
            .unwrap();
        assert_eq!(leader.send(GetLeader).await.unwrap(), LeaderState { leader: Some(id("c")), is_leader: false });
        // The leader dies: this node is next.
        leader.send(ClusterViewChanged { up: vec!["z".into()], all_up: false, all_answering: false }).await.unwrap();
        assert_eq!(leader.send(GetLeader).await.unwrap(), LeaderState { leader: Some(id("m")), is_leader: true });
        // The same view again changes nothing.
        leader.send(ClusterViewChanged { up: vec!["z".into()], all_up: false, all_answering: false }).await.unwrap();
        settle().await;
        assert_eq!(
            *seen.lock().unwrap(),
            vec![
                LeaderChanged { leader: id("c"), is_leader: false },
                LeaderChanged { leader: id("m"), is_leader: true }
            ]
        );
    }

    #[actix::test]
    async fn a_late_subscriber_hears_the_current_leader_at_once() {
        let leader = Leader::new(id("m"), Mode::Standalone, log()).start();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let probe = Probe(seen.clone()).start();
        leader.send(Subscribe { subscriber: probe.recipient() }).await.unwrap();
        settle().await;
        assert_eq!(*seen.lock().unwrap(), vec![LeaderChanged { leader: id("m"), is_leader: true }]);
    }

    #[actix::test]
    async fn a_forced_node_leads_whatever_the_view() {
        let leader = Leader::new(id("m"), Mode::Forced, log()).start();
        leader.send(ClusterViewChanged { up: vec!["a".into()], all_up: true, all_answering: true }).await.unwrap();
        assert_eq!(leader.send(GetLeader).await.unwrap(), LeaderState { leader: Some(id("m")), is_leader: true });
    }

    #[actix::test]
    async fn settling_times_out() {
        tokio::time::pause(); // timers advance as soon as every task waits
        let leader = Leader::new(id("m"), Mode::Clustered, log()).with_settle(Duration::from_millis(50)).start();
        leader.send(ClusterViewChanged { up: vec![], all_up: false, all_answering: false }).await.unwrap();
        assert_eq!(leader.send(GetLeader).await.unwrap().leader, None);
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(leader.send(GetLeader).await.unwrap(), LeaderState { leader: Some(id("m")), is_leader: true });
    }
}
