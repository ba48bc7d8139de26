//! Draining a node before it leaves (SIGTERM, or `starling admin node drain` through
//! `POST /api/v4/system/drain`): it stops taking new work, moves its websocket clients to other
//! nodes a few at a time, waits for their new nodes to take the queues over (cross-node resume),
//! and only then stops, leaves the cluster and exits.
//!
//! 1. Draining starts: `GET /api/v4/system/ping` answers 503 (a load balancer's health check
//!    fails) and websocket upgrades are refused with 503, so clients go elsewhere; the rest of the
//!    API keeps answering until the HTTP server stops.
//! 2. The websockets are closed with 1001 (going away) spread over [`SPREAD`], so that the other
//!    nodes see a steady stream of reconnections rather than all of them at once. Each keeps its
//!    queue; the client reconnects through the load balancer with its `connection_id` and
//!    `sequence_number`, and the node it lands on takes the queue from this one.
//! 3. The node waits until every queue was taken (or [`HANDOVER_GRACE`] has passed since the last
//!    close: a client that does not come back resumes as Mattermost's do, by reloading).
//! 4. Then the ordinary stop: HTTP server, scheduler, cluster leave, jobs handed back.

use starling_actors::hub::{HubSet, MoveConnections};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Over how long the websockets are moved (benchmarks.md target 12: 5,000 moved within 10 s).
pub const SPREAD: Duration = Duration::from_secs(5);
/// How often a share of them is closed.
const TICK: Duration = Duration::from_millis(100);
/// How long the queues of moved connections wait for their clients' new nodes to take them.
pub const HANDOVER_GRACE: Duration = Duration::from_secs(5);

/// Whether the node drains, and a way to ask it to.
#[derive(Default)]
pub struct Drain {
    draining: AtomicBool,
    requested: Notify,
}

impl Drain {
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Ask the node's run loop to drain and stop (as SIGTERM does).
    pub fn request(&self) {
        self.requested.notify_one();
    }

    /// Wait until [`Drain::request`] is called (a request made before the wait counts).
    pub async fn requested(&self) {
        self.requested.notified().await;
    }

    fn begin(&self) -> bool {
        !self.draining.swap(true, Ordering::Relaxed)
    }
}

/// Steps 1 to 3 (see the module's documentation); a second call returns at once.
pub async fn drain(drain: &Drain, hubs: &HubSet, log: &slog::Logger) {
    let started = Instant::now();
    if !drain.begin() {
        return;
    }
    // Queues of clients that had left before: not this drain's to wait for.
    let before = hubs.stats().await;
    let (total, already_inactive) = (before.active_connections, before.inactive_connections);
    slog::info!(log, "draining: moving websockets to other nodes"; "websockets" => total, "spread_ms" => SPREAD.as_millis() as u64);
    let ticks = (SPREAD.as_millis() / TICK.as_millis()).max(1) as usize;
    let per_tick = total.div_ceil(ticks).max(1);
    let hub_count = hubs.all().len().max(1);
    let per_hub = per_tick.div_ceil(hub_count);
    let deadline = started + SPREAD + Duration::from_secs(1);
    let mut next = Instant::now();
    loop {
        let mut active = 0;
        for h in hubs.all() {
            active += h.send(MoveConnections { max: per_hub }).await.unwrap_or(0);
        }
        if active == 0 || Instant::now() >= deadline {
            break;
        }
        next += TICK;
        tokio::time::sleep_until(next).await;
    }
    // Late ones (a connection that arrived meanwhile) all at once.
    for h in hubs.all() {
        let _ = h.send(MoveConnections { max: usize::MAX }).await;
    }
    let closed = Instant::now();
    let mut left_behind = 0;
    while closed.elapsed() < HANDOVER_GRACE {
        left_behind = hubs.stats().await.inactive_connections.saturating_sub(already_inactive);
        if left_behind == 0 {
            break;
        }
        tokio::time::sleep(TICK).await;
    }
    slog::info!(log, "drained"; "websockets" => total, "queues_left_behind" => left_behind,
        "took_ms" => started.elapsed().as_millis() as u64);
}
