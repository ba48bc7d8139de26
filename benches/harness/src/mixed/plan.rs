//! What the parent tells the workers about a mixed run (the plan, the users), and what they
//! report back (per-second windows, created posts, the loss accounting). Everything here crosses
//! the process boundary as JSON.

use crate::workers::protocol::Buckets;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// The actions of a simulated user, in Mattermost's load-test mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Switch channel: the newest page of its posts, then view it (`members/me/view`).
    Fetch,
    /// Scroll up: the page before the oldest post seen.
    Scroll,
    /// `user_typing` on the websocket, then create a post (some replies, some with a file).
    Post,
    /// The user's channels of the team and their memberships (unread and mention counts).
    Unread,
    /// A thread.
    Thread,
    /// Close the websocket and reconnect with `connection_id` and `sequence_number`.
    Reconnect,
    /// Open a DM with a user seen (`POST /channels/direct`), read it and view it.
    Dm,
    /// Statuses of users seen.
    Status,
    /// Profiles of users seen.
    Profiles,
    /// React to a post seen in the channel (`POST /reactions`), or, one time in four, take the
    /// reaction back (`DELETE /users/me/posts/{id}/reactions/{emoji}`).
    React,
    /// Collapsed reply threads: the user's threads in the team with their unread counts
    /// (`GET /users/me/teams/{id}/threads`), then one with unread replies marked read
    /// (`PUT .../threads/{id}/read/{timestamp}`), as the Threads view does.
    ThreadRead,
}

impl Action {
    pub const ALL: [Action; 11] = [
        Action::Fetch,
        Action::Scroll,
        Action::Post,
        Action::Unread,
        Action::Thread,
        Action::Reconnect,
        Action::Dm,
        Action::Status,
        Action::Profiles,
        Action::React,
        Action::ThreadRead,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Action::Fetch => "fetch",
            Action::Scroll => "scroll",
            Action::Post => "post",
            Action::Unread => "unread",
            Action::Thread => "thread",
            Action::Reconnect => "reconnect",
            Action::Dm => "dm",
            Action::Status => "status",
            Action::Profiles => "profiles",
            Action::React => "react",
            Action::ThreadRead => "thread_read",
        }
    }

    /// client-compat.md: fetch ~48 %, scroll ~15 %, post ~7 %, unread ~7 %, threads ~2 %,
    /// reconnect ~1 %, opening a DM 2 %, reacting 2 % and reading collapsed threads 2 % (both
    /// taken from the statuses and profiles); the rest are the smaller reads a client makes.
    fn default_weight(self) -> u32 {
        match self {
            Action::Fetch => 48,
            Action::Scroll => 15,
            Action::Post => 7,
            Action::Unread => 7,
            Action::Thread => 2,
            Action::Reconnect => 1,
            Action::Dm => 2,
            Action::Status => 7,
            Action::Profiles => 7,
            Action::React => 2,
            Action::ThreadRead => 2,
        }
    }
}

/// Action weights (any scale).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Mix {
    pub weights: Vec<(Action, u32)>,
}

impl Mix {
    /// The default mix with `spec` (`name=weight,...`) applied over it.
    pub fn parse(spec: Option<&str>) -> Result<Self> {
        let mut weights: Vec<(Action, u32)> = Action::ALL.iter().map(|&a| (a, a.default_weight())).collect();
        for part in spec.unwrap_or("").split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((name, w)) = part.split_once('=') else { bail!("--mix: {part:?} is not name=weight") };
            let Some(slot) = weights.iter_mut().find(|(a, _)| a.name() == name.trim()) else {
                bail!("--mix: unknown action {name:?} (known: fetch, scroll, post, unread, thread, reconnect, dm, status, profiles, react, thread_read)")
            };
            slot.1 = w.trim().parse().map_err(|_| anyhow::anyhow!("--mix: weight of {name} is not a whole number"))?;
        }
        if weights.iter().all(|(_, w)| *w == 0) {
            bail!("--mix: every weight is 0");
        }
        Ok(Self { weights })
    }

    /// The action for a uniform draw `u` in [0, 1).
    pub fn pick(&self, u: f64) -> Action {
        let total: u32 = self.weights.iter().map(|(_, w)| w).sum();
        let mut target = (u * total as f64) as u32;
        for &(a, w) in &self.weights {
            if target < w {
                return a;
            }
            target -= w;
        }
        self.weights.iter().rev().find(|(_, w)| *w > 0).map_or(Action::Fetch, |(a, _)| *a)
    }

    pub fn describe(&self) -> String {
        self.weights.iter().map(|(a, w)| format!("{}={w}", a.name())).collect::<Vec<_>>().join(",")
    }
}

/// Everything a worker needs to run users, sent once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub run_id: String,
    /// Node base URLs (http://host:port).
    pub urls: Vec<String>,
    /// The node behind each URL, from `hello`'s node_id; `None` for a balancer.
    pub nodes: Vec<Option<String>>,
    pub team_id: String,
    pub mix: Mix,
    pub pause_min_ms: u64,
    pub pause_mean_ms: u64,
    pub reply_share: f64,
    pub file_share: f64,
    pub file_size: usize,
    pub request_timeout_ms: u64,
    pub connect_timeout_ms: u64,
    pub reconnect_jitter_ms: u64,
    pub catchup_margin_ms: u64,
    /// REST catch-up never reaches further back than this (the run's start, Unix ms).
    pub run_start_ms: i64,
    pub seed: u64,
    /// Test only: the first `posted` event one client of this worker receives is dropped.
    pub drop_one_event: bool,
}

/// One simulated user, as handed to a worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimUser {
    pub index: usize,
    pub user_id: String,
    pub token: String,
    /// Index into `Plan::urls` of its node (it moves to another when that one is gone).
    pub url: usize,
    pub channels: Vec<String>,
}

/// A post the harness created (201), with the wall-clock times its request started and ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreatedPost {
    pub id: String,
    pub channel_id: String,
    pub started_us: i64,
    pub completed_us: i64,
}

/// One second of one worker (or, merged, of the run).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Window {
    pub requests: u64,
    /// 5xx, timeouts and transport errors: what the gates count.
    pub failures: u64,
    /// 4xx answers (a harness or server bug, never expected).
    pub client_errors: u64,
    pub request_us_sum: u64,
    pub request_us: Buckets,
    pub posts_created: u64,
    /// `posted` events received live (each delivery to each client).
    pub deliveries: u64,
    pub same_node_us: Buckets,
    pub cross_node_us: Buckets,
    /// Sockets that dropped without the client asking.
    pub socket_losses: u64,
    pub reconnects: u64,
    /// Users acting, users connected right now.
    pub acting: u64,
    pub connected: u64,
}

impl Window {
    pub fn merge(&mut self, o: &Window) {
        self.requests += o.requests;
        self.failures += o.failures;
        self.client_errors += o.client_errors;
        self.request_us_sum += o.request_us_sum;
        self.request_us.extend_from_slice(&o.request_us);
        self.posts_created += o.posts_created;
        self.deliveries += o.deliveries;
        self.same_node_us.extend_from_slice(&o.same_node_us);
        self.cross_node_us.extend_from_slice(&o.cross_node_us);
        self.socket_losses += o.socket_losses;
        self.reconnects += o.reconnects;
        self.acting += o.acting;
        self.connected += o.connected;
    }
}

/// Totals of one worker over the whole run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Totals {
    pub requests: u64,
    pub http_5xx: u64,
    pub http_4xx: u64,
    pub timeouts: u64,
    pub transport_errors: u64,
    pub posts_created: u64,
    pub posts_failed: u64,
    pub replies: u64,
    pub files: u64,
    pub typing_sent: u64,
    pub deliveries: u64,
    pub reconnect_actions: u64,
    pub resumed: u64,
    pub fresh_hellos_after_loss: u64,
    pub socket_losses: u64,
    pub connect_failures: u64,
    pub catchup_requests: u64,
    pub caught_up_posts: u64,
    pub failovers: u64,
    pub actions: Vec<(Action, u64)>,
    /// A few distinct error messages.
    pub error_samples: Vec<String>,
}

impl Totals {
    pub fn merge(&mut self, o: &Totals) {
        self.requests += o.requests;
        self.http_5xx += o.http_5xx;
        self.http_4xx += o.http_4xx;
        self.timeouts += o.timeouts;
        self.transport_errors += o.transport_errors;
        self.posts_created += o.posts_created;
        self.posts_failed += o.posts_failed;
        self.replies += o.replies;
        self.files += o.files;
        self.typing_sent += o.typing_sent;
        self.deliveries += o.deliveries;
        self.reconnect_actions += o.reconnect_actions;
        self.resumed += o.resumed;
        self.fresh_hellos_after_loss += o.fresh_hellos_after_loss;
        self.socket_losses += o.socket_losses;
        self.connect_failures += o.connect_failures;
        self.catchup_requests += o.catchup_requests;
        self.caught_up_posts += o.caught_up_posts;
        self.failovers += o.failovers;
        for (a, n) in &o.actions {
            match self.actions.iter_mut().find(|(x, _)| x == a) {
                Some(slot) => slot.1 += n,
                None => self.actions.push((*a, *n)),
            }
        }
        for e in &o.error_samples {
            if self.error_samples.len() < 10 && !self.error_samples.contains(e) {
                self.error_samples.push(e.clone());
            }
        }
    }

    /// Every failed request: what `errors` in the report counts.
    pub fn errors(&self) -> u64 {
        self.http_5xx + self.http_4xx + self.timeouts + self.transport_errors
    }
}

/// What a worker reports when its users have stopped acting.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Finished {
    pub totals: Totals,
    pub posts: Vec<CreatedPost>,
    /// Per endpoint, request latency in us.
    pub endpoints: Vec<(String, Buckets)>,
    pub same_node_us: Buckets,
    pub cross_node_us: Buckets,
    /// Deliveries where the poster's or the receiver's node was unknown (a balancer URL).
    pub unknown_node_us: Buckets,
    /// Events replayed on a resumed socket (their latency includes the time without a socket).
    pub replayed_us: Buckets,
    /// Unplanned socket loss -> reconnected and caught up (resumed, or REST after a fresh hello).
    pub recovery_us: Buckets,
    /// Unplanned socket loss -> a new socket with `hello` or a resumed one (before any catch-up).
    pub reconnect_us: Buckets,
}

/// The loss accounting of one worker's clients.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Reconciled {
    pub clients: u64,
    pub expected: u64,
    pub held: u64,
    pub lost: u64,
    pub duplicated: u64,
    /// Expected posts held only thanks to REST catch-up.
    pub via_rest: u64,
    /// Posts of this run received but never confirmed by a 201 (the request failed or timed out).
    pub unconfirmed_seen: u64,
    /// A few `user post channel` triples of lost events.
    pub lost_samples: Vec<String>,
    /// Seconds the drain took.
    pub drain_s: f64,
}

impl Reconciled {
    pub fn merge(&mut self, o: &Reconciled) {
        self.clients += o.clients;
        self.expected += o.expected;
        self.held += o.held;
        self.lost += o.lost;
        self.duplicated += o.duplicated;
        self.via_rest += o.via_rest;
        self.unconfirmed_seen += o.unconfirmed_seen;
        self.drain_s = self.drain_s.max(o.drain_s);
        for s in &o.lost_samples {
            if self.lost_samples.len() < 10 {
                self.lost_samples.push(s.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_mix_and_overrides() {
        let m = Mix::parse(None).unwrap();
        assert_eq!(m.weights.iter().map(|(_, w)| w).sum::<u32>(), 100);
        assert_eq!(m.pick(0.0), Action::Fetch);
        assert_eq!(m.pick(0.479), Action::Fetch);
        assert_eq!(m.pick(0.48), Action::Scroll);
        assert_eq!(m.pick(0.959), Action::Profiles);
        assert_eq!(m.pick(0.97), Action::React);
        assert_eq!(m.pick(0.999), Action::ThreadRead);
        let m = Mix::parse(Some("post=100, fetch=0")).unwrap();
        assert_eq!(m.weights.iter().find(|(a, _)| *a == Action::Post).unwrap().1, 100);
        assert!(Mix::parse(Some("nope=1")).is_err());
        assert!(Mix::parse(Some("post")).is_err());
        let only = Mix::parse(Some(
            "fetch=0,scroll=0,post=1,unread=0,thread=0,reconnect=0,dm=0,status=0,profiles=0,react=0,thread_read=0",
        ))
        .unwrap();
        for u in [0.0, 0.5, 0.9999] {
            assert_eq!(only.pick(u), Action::Post);
        }
    }
}
