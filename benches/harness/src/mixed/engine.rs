//! The worker side of a mixed run: the simulated users of one worker process, their shared
//! statistics, the per-second `Tick`, and the end of the run (stop acting, report the posts made,
//! then judge every client against all the run's posts).

use super::book;
use super::plan::{CreatedPost, Finished, Plan, Reconciled, SimUser, Totals, Window};
use super::rest::Outcome;
use super::user::{self, UserShared};
use crate::stats;
use crate::workers::protocol::Event;
use crate::ws;
use anyhow::Result;
use hdrhistogram::Histogram;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;

/// Where one of the plan's URLs is.
pub struct Target {
    pub dest: SocketAddr,
    /// `ws://host:port/api/v4/websocket`
    pub ws: String,
    /// `http://host:port/api/v4`
    pub api: String,
}

/// The current second of one worker.
struct WindowAcc {
    requests: u64,
    failures: u64,
    client_errors: u64,
    request_us_sum: u64,
    request_us: Histogram<u64>,
    posts_created: u64,
    deliveries: u64,
    same: Histogram<u64>,
    cross: Histogram<u64>,
    socket_losses: u64,
    reconnects: u64,
}

impl WindowAcc {
    fn new() -> Self {
        Self {
            requests: 0,
            failures: 0,
            client_errors: 0,
            request_us_sum: 0,
            request_us: stats::histogram(),
            posts_created: 0,
            deliveries: 0,
            same: stats::histogram(),
            cross: stats::histogram(),
            socket_losses: 0,
            reconnects: 0,
        }
    }
}

/// Where a delivery's latency goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    SameNode,
    CrossNode,
    Unknown,
    Replayed,
}

pub struct Stats {
    window: WindowAcc,
    pub totals: Totals,
    endpoints: HashMap<&'static str, Histogram<u64>>,
    same: Histogram<u64>,
    cross: Histogram<u64>,
    unknown: Histogram<u64>,
    replayed: Histogram<u64>,
    recovery: Histogram<u64>,
    reconnect: Histogram<u64>,
    pub posts: Vec<CreatedPost>,
}

impl Stats {
    fn new() -> Self {
        Self {
            window: WindowAcc::new(),
            totals: Totals::default(),
            endpoints: HashMap::new(),
            same: stats::histogram(),
            cross: stats::histogram(),
            unknown: stats::histogram(),
            replayed: stats::histogram(),
            recovery: stats::histogram(),
            reconnect: stats::histogram(),
            posts: Vec::new(),
        }
    }

    pub fn request(&mut self, endpoint: &'static str, us: i64, outcome: Outcome, error: Option<String>) {
        let t = &mut self.totals;
        t.requests += 1;
        match outcome {
            Outcome::Ok => {}
            Outcome::Http4xx => t.http_4xx += 1,
            Outcome::Http5xx => t.http_5xx += 1,
            Outcome::Timeout => t.timeouts += 1,
            Outcome::Transport => t.transport_errors += 1,
        }
        if let Some(e) = error {
            if t.error_samples.len() < 5 && !t.error_samples.contains(&e) {
                t.error_samples.push(e);
            }
        }
        let w = &mut self.window;
        w.requests += 1;
        match outcome {
            Outcome::Ok => {}
            Outcome::Http4xx => w.client_errors += 1,
            _ => w.failures += 1,
        }
        w.request_us_sum += us.max(0) as u64;
        stats::record(&mut w.request_us, us);
        stats::record(self.endpoints.entry(endpoint).or_insert_with(stats::histogram), us);
    }

    pub fn delivery(&mut self, us: i64, placement: Placement) {
        let live = placement != Placement::Replayed;
        if live {
            self.totals.deliveries += 1;
            self.window.deliveries += 1;
        }
        let h = match placement {
            Placement::SameNode => {
                stats::record(&mut self.window.same, us);
                &mut self.same
            }
            Placement::CrossNode => {
                stats::record(&mut self.window.cross, us);
                &mut self.cross
            }
            Placement::Unknown => &mut self.unknown,
            Placement::Replayed => &mut self.replayed,
        };
        stats::record(h, us);
    }

    pub fn post_created(&mut self, p: CreatedPost) {
        self.totals.posts_created += 1;
        self.window.posts_created += 1;
        self.posts.push(p);
    }

    pub fn socket_lost(&mut self) {
        self.totals.socket_losses += 1;
        self.window.socket_losses += 1;
    }

    /// A socket is back after an unplanned loss, `us` after the loss (None: a planned reconnect).
    pub fn reconnected(&mut self, us: Option<i64>) {
        self.window.reconnects += 1;
        if let Some(us) = us {
            stats::record(&mut self.reconnect, us);
        }
    }

    pub fn recovered(&mut self, us: i64) {
        stats::record(&mut self.recovery, us);
    }

    pub fn error_sample(&mut self, e: String) {
        if self.totals.error_samples.len() < 5 && !self.totals.error_samples.contains(&e) {
            self.totals.error_samples.push(e);
        }
    }

    fn take_window(&mut self, acting: u64, connected: u64) -> Window {
        let w = std::mem::replace(&mut self.window, WindowAcc::new());
        Window {
            requests: w.requests,
            failures: w.failures,
            client_errors: w.client_errors,
            request_us_sum: w.request_us_sum,
            request_us: stats::to_buckets(&w.request_us),
            posts_created: w.posts_created,
            deliveries: w.deliveries,
            same_node_us: stats::to_buckets(&w.same),
            cross_node_us: stats::to_buckets(&w.cross),
            socket_losses: w.socket_losses,
            reconnects: w.reconnects,
            acting,
            connected,
        }
    }
}

/// What every user of a worker shares.
pub struct Ctx {
    pub plan: Plan,
    pub worker: usize,
    pub http: reqwest::Client,
    pub targets: Vec<Target>,
    pub source: Option<IpAddr>,
    stats: Mutex<Stats>,
    pub go: watch::Receiver<bool>,
    pub acting: AtomicU64,
    pub connected: AtomicU64,
    post_seq: AtomicU64,
    /// Test only: set until one client of this worker has dropped one `posted` event.
    pub drop_one: AtomicBool,
    /// Initial connects in flight.
    pub connecting: Semaphore,
}

impl Ctx {
    pub fn stats(&self) -> MutexGuard<'_, Stats> {
        // A poisoned lock only means a task panicked mid-update; the counts stay usable.
        self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A run-unique sequence number for a post's stamp.
    pub fn next_post_seq(&self) -> u64 {
        (self.worker as u64) << 40 | self.post_seq.fetch_add(1, Ordering::Relaxed)
    }
}

pub struct Engine {
    pub ctx: Arc<Ctx>,
    go_tx: watch::Sender<bool>,
    users: Mutex<Vec<Arc<UserShared>>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    out: mpsc::Sender<Event>,
}

/// Extra time over the request timeout for the last actions to finish.
const FINISH_GRACE: Duration = Duration::from_secs(5);
/// How long a stopped user keeps reading before it closes its socket.
const STOP_DRAIN: Duration = Duration::from_secs(2);

impl Engine {
    pub async fn new(
        plan: Plan,
        worker: usize,
        source: Option<IpAddr>,
        connect_concurrency: usize,
        out: mpsc::Sender<Event>,
    ) -> Result<Arc<Self>> {
        let mut targets = Vec::new();
        for u in &plan.urls {
            let ws_url = ws::ws_url(u)?;
            targets.push(Target {
                dest: ws::resolve(&ws_url).await?,
                ws: ws_url,
                api: format!("{}/api/v4", u.trim_end_matches('/')),
            });
        }
        let mut http = reqwest::Client::builder()
            .timeout(Duration::from_millis(plan.request_timeout_ms))
            .connect_timeout(Duration::from_millis(plan.connect_timeout_ms))
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true);
        if let Some(ip) = source {
            http = http.local_address(ip);
        }
        let (go_tx, go) = watch::channel(false);
        let drop_one = plan.drop_one_event;
        let ctx = Arc::new(Ctx {
            plan,
            worker,
            http: http.build()?,
            targets,
            source,
            stats: Mutex::new(Stats::new()),
            go,
            acting: AtomicU64::new(0),
            connected: AtomicU64::new(0),
            post_seq: AtomicU64::new(1),
            drop_one: AtomicBool::new(drop_one),
            connecting: Semaphore::new(connect_concurrency.max(1)),
        });
        let engine = Arc::new(Self { ctx, go_tx, users: Mutex::new(Vec::new()), tasks: Mutex::new(Vec::new()), out });
        engine.clone().start_ticker();
        Ok(engine)
    }

    fn users(&self) -> MutexGuard<'_, Vec<Arc<UserShared>>> {
        self.users.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn start_ticker(self: Arc<Self>) {
        let weak = Arc::downgrade(&self);
        drop(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(e) = weak.upgrade() else { return };
                let window = {
                    let acting = e.ctx.acting.load(Ordering::Relaxed);
                    let connected = e.ctx.connected.load(Ordering::Relaxed);
                    e.ctx.stats().take_window(acting, connected)
                };
                if e.out.send(Event::Tick { window }).await.is_err() {
                    return;
                }
            }
        });
    }

    /// Connect these users (at most `connect_concurrency` at a time); they act after `go`.
    /// Answers once every one of them got its first `hello` or failed.
    pub async fn start_users(&self, users: Vec<SimUser>) -> Event {
        let mut firsts = Vec::new();
        for u in users {
            let (shared, first, task) = user::spawn(self.ctx.clone(), u);
            self.users().push(shared);
            self.tasks.lock().unwrap_or_else(|p| p.into_inner()).push(task);
            firsts.push(first);
        }
        let (mut ok, mut failed) = (0u64, 0u64);
        let mut errors = Vec::new();
        let mut connect_us = stats::histogram();
        for f in firsts {
            match f.await {
                Ok(Ok(us)) => {
                    ok += 1;
                    stats::record(&mut connect_us, us);
                }
                Ok(Err(e)) => {
                    failed += 1;
                    if errors.len() < 5 && !errors.contains(&e) {
                        errors.push(e);
                    }
                }
                Err(_) => failed += 1,
            }
        }
        Event::Connected {
            ok,
            failed,
            open: self.ctx.connected.load(Ordering::Relaxed),
            connect_us: stats::to_buckets(&connect_us),
            errors,
        }
    }

    /// Every user (and every user started later) begins acting.
    pub fn go(&self) {
        self.go_tx.send_replace(true);
    }

    /// Ramp down: these users stop acting, read for a moment more, and close.
    pub fn stop_users(&self, indices: &[usize]) {
        let wanted: HashSet<usize> = indices.iter().copied().collect();
        let now = ws::unix_us(SystemTime::now());
        for u in self.users().iter().filter(|u| wanted.contains(&u.index)) {
            u.stop_at(now, STOP_DRAIN);
        }
    }

    /// Stop every user's actions, wait for those under way, and report.
    pub async fn finish(&self) -> Finished {
        let users: Vec<Arc<UserShared>> = self.users().clone();
        for u in &users {
            u.stop_acting();
        }
        let deadline = Instant::now() + Duration::from_millis(self.ctx.plan.request_timeout_ms) + FINISH_GRACE;
        while self.ctx.acting.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut s = self.ctx.stats();
        let mut totals = s.totals.clone();
        totals.actions = users
            .iter()
            .fold(HashMap::new(), |mut m: HashMap<_, u64>, u| {
                for (a, n) in u.action_counts() {
                    *m.entry(a).or_default() += n;
                }
                m
            })
            .into_iter()
            .collect();
        for u in &users {
            let c = u.counters();
            totals.reconnect_actions += c.reconnect_actions;
            totals.resumed += c.resumed;
            totals.fresh_hellos_after_loss += c.fresh_after_loss;
            totals.connect_failures += c.connect_failures;
            totals.failovers += c.failovers;
        }
        Finished {
            totals,
            posts: std::mem::take(&mut s.posts),
            endpoints: s.endpoints.iter().map(|(k, h)| ((*k).to_owned(), stats::to_buckets(h))).collect(),
            same_node_us: stats::to_buckets(&s.same),
            cross_node_us: stats::to_buckets(&s.cross),
            unknown_node_us: stats::to_buckets(&s.unknown),
            replayed_us: stats::to_buckets(&s.replayed),
            recovery_us: stats::to_buckets(&s.recovery),
            reconnect_us: stats::to_buckets(&s.reconnect),
        }
    }

    /// Wait (at most `timeout`) until every client holds every post it should, then count.
    pub async fn reconcile(&self, posts: Vec<CreatedPost>, timeout: Duration) -> Reconciled {
        let t0 = Instant::now();
        let users: Vec<Arc<UserShared>> = self.users().clone();
        let idx = book::by_channel(&posts);
        let missing = || users.iter().any(|u| !u.verdict(&idx).lost.is_empty());
        while missing() && t0.elapsed() < timeout {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let confirmed: HashSet<&str> = posts.iter().map(|p| p.id.as_str()).collect();
        let mut r = Reconciled { drain_s: t0.elapsed().as_secs_f64(), ..Default::default() };
        let mut unconfirmed: HashSet<String> = HashSet::new();
        for u in &users {
            let v = u.verdict(&idx);
            r.clients += 1;
            r.expected += v.expected;
            r.held += v.held;
            r.via_rest += v.via_rest;
            r.lost += v.lost.len() as u64;
            r.duplicated += u.duplicated();
            for id in v.lost.iter().take(3) {
                if r.lost_samples.len() < 10 {
                    r.lost_samples.push(format!("user {} post {id}", u.user_id));
                }
            }
            unconfirmed.extend(u.unconfirmed_run_posts(&confirmed));
        }
        r.unconfirmed_seen = unconfirmed.len() as u64;
        r
    }

    /// Close every socket (at the very end).
    pub async fn shutdown(&self) {
        let users: Vec<Arc<UserShared>> = self.users().clone();
        for u in &users {
            u.close();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.ctx.connected.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for t in self.tasks.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            t.abort();
        }
    }
}
