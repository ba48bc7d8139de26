//! `run`: the mixed workload of Mattermost's load test against one or more nodes.
//!
//! The parent builds the fixture (users, a team, channels of skewed sizes), learns which node is
//! behind each URL, and hands the users to worker processes (`engine`, `user`), which log them
//! onto websockets and loop over the action mix. Each second every worker sends a `Tick`; the
//! parent merges them into the timeline, shows progress, drives the ramp and the chaos kill.
//! At the end the workers stop acting, report the posts they made, and judge every client
//! against all of them (`book`): lost and duplicated events.

pub mod book;
pub mod engine;
pub mod fixture;
pub mod plan;
pub mod ramp;
pub mod rest;
mod summary;
pub mod user;

use crate::api::Api;
use crate::chaos::{self, NodeInfo, Relaunch};
use crate::cli::RunArgs;
use crate::procs::{Reading, Sampler};
use crate::report::{self, Machine};
use crate::setup;
use crate::workers::protocol::{Command, Event};
use crate::workers::{Pool, PoolConfig, Received};
use crate::ws;
use anyhow::{bail, Context, Result};
use plan::{CreatedPost, Finished, Mix, Plan, Reconciled, SimUser, Window};
use ramp::{Gates, Ramp};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long workers may take to get ready for a plan.
const PLAN_TIMEOUT: Duration = Duration::from_secs(30);

/// One second of the run, merged over the workers.
#[derive(Debug, Clone, Serialize)]
pub struct Second {
    pub t: u64,
    pub acting: u64,
    pub connected: u64,
    #[serde(skip)]
    pub window: Window,
    pub requests: u64,
    pub failures: u64,
    pub client_errors: u64,
    pub p99_ms: Option<f64>,
    pub mean_ms: Option<f64>,
    pub posts: u64,
    pub deliveries: u64,
    pub same_node_p99_ms: Option<f64>,
    pub cross_node_p99_ms: Option<f64>,
    pub socket_losses: u64,
    pub reconnects: u64,
    pub procs: Vec<Reading>,
}

/// What the chaos task saw.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChaosReport {
    pub pid: u32,
    pub victim: Option<NodeInfo>,
    pub survivors: Vec<String>,
    pub killed_at_s: Option<f64>,
    /// Per survivor: ms from SIGKILL to the first red reading (null: not within the timeout).
    pub detected_ms: Vec<Option<f64>>,
    /// The slowest survivor (the node is "down everywhere" then).
    pub detected_everywhere_ms: Option<f64>,
    pub restarted_pid: Option<u32>,
    pub green_again_s: Option<f64>,
    pub notes: Vec<String>,
    pub watches: Vec<chaos::Watch>,
}

enum ChaosEvent {
    Restarted { old: u32, new: u32 },
    Done(Box<ChaosReport>),
}

struct Driver {
    pool: Pool,
    workers: usize,
    /// Worker of each user.
    home: HashMap<usize, usize>,
    /// Users started (connected), in start order.
    started: Vec<usize>,
    gauges: Vec<(u64, u64)>,
    exited: BTreeSet<usize>,
    timeline: Vec<Second>,
    sampler: Sampler,
    /// The current second's merged ticks.
    acc: Window,
    connect_errors: Vec<String>,
    connect_failed: u64,
}

impl Driver {
    fn handle(&mut self, w: usize, ev: Event) {
        match ev {
            Event::Tick { window } => {
                self.gauges[w] = (window.acting, window.connected);
                self.acc.merge(&window);
            }
            Event::Connected { failed, errors, .. } => {
                self.connect_failed += failed;
                for e in errors {
                    if self.connect_errors.len() < 10 && !self.connect_errors.contains(&e) {
                        report::note(format!("connect error: {e}"));
                        self.connect_errors.push(e);
                    }
                }
            }
            Event::Error { message } => report::note(format!("worker {w}: {message}")),
            _ => {}
        }
    }

    fn exited(&mut self, w: usize) {
        if self.exited.insert(w) {
            report::note(format!("worker {w} exited early: its users' figures are missing"));
        }
    }

    /// Hand users to workers (round robin by index) and wait until each got its first hello.
    async fn start_users(&mut self, users: &[SimUser], timeout: Duration, label: &str) -> Result<()> {
        let mut batches: Vec<Vec<SimUser>> = vec![Vec::new(); self.workers];
        for u in users {
            let w = u.index % self.workers;
            self.home.insert(u.index, w);
            self.started.push(u.index);
            batches[w].push(u.clone());
        }
        let mut waiting = BTreeSet::new();
        for (w, b) in batches.into_iter().enumerate() {
            if !b.is_empty() && !self.exited.contains(&w) {
                self.pool.send(w, &Command::StartUsers { users: b }).await?;
                waiting.insert(w);
            }
        }
        let spin = report::spinner(label);
        let deadline = Instant::now() + timeout;
        let failed_before = self.connect_failed;
        while !waiting.is_empty() {
            match self.pool.recv(deadline).await {
                Received::Event(w, ev @ Event::Connected { .. }) => {
                    waiting.remove(&w);
                    self.handle(w, ev);
                }
                Received::Event(w, ev) => self.handle(w, ev),
                Received::Exited(w) => {
                    waiting.remove(&w);
                    self.exited(w);
                }
                Received::Timeout => {
                    spin.finish_and_clear();
                    bail!("{label}: workers {waiting:?} did not finish connecting within {timeout:?}");
                }
            }
        }
        spin.finish_and_clear();
        let failed = self.connect_failed - failed_before;
        report::note(format!("{label}: {} users connected, {failed} failed", users.len() as u64 - failed));
        Ok(())
    }

    /// Close the current second.
    fn close_second(&mut self, t: u64) -> &Second {
        let window = std::mem::take(&mut self.acc);
        let mut h = crate::stats::histogram();
        crate::stats::merge(&mut h, &window.request_us);
        let p99 = |b: &[(u64, u64)]| {
            let mut h = crate::stats::histogram();
            crate::stats::merge(&mut h, b);
            (!h.is_empty()).then(|| h.value_at_quantile(0.99) as f64 / 1000.0)
        };
        let (acting, connected) = self.gauges.iter().fold((0, 0), |(a, c), (wa, wc)| (a + wa, c + wc));
        let s = Second {
            t,
            acting,
            connected,
            requests: window.requests,
            failures: window.failures,
            client_errors: window.client_errors,
            p99_ms: (!h.is_empty()).then(|| h.value_at_quantile(0.99) as f64 / 1000.0),
            mean_ms: (window.requests > 0).then(|| window.request_us_sum as f64 / window.requests as f64 / 1000.0),
            posts: window.posts_created,
            deliveries: window.deliveries,
            same_node_p99_ms: p99(&window.same_node_us),
            cross_node_p99_ms: p99(&window.cross_node_us),
            socket_losses: window.socket_losses,
            reconnects: window.reconnects,
            procs: self.sampler.sample(),
            window,
        };
        self.timeline.push(s);
        self.timeline.last().expect("just pushed")
    }

    /// Send `cmd` to every live worker and collect one answer each (`pick` recognises it).
    async fn gather<T>(
        &mut self,
        cmd: &Command,
        timeout: Duration,
        mut pick: impl FnMut(Event) -> Result<T, Box<Event>>,
    ) -> Vec<T> {
        let mut waiting: BTreeSet<usize> = (0..self.workers).filter(|w| !self.exited.contains(w)).collect();
        for w in waiting.clone() {
            if let Err(e) = self.pool.send(w, cmd).await {
                report::note(format!("worker {w}: {e:#}"));
                waiting.remove(&w);
            }
        }
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        while !waiting.is_empty() {
            match self.pool.recv(deadline).await {
                Received::Event(w, ev) => match pick(ev) {
                    Ok(t) => {
                        waiting.remove(&w);
                        out.push(t);
                    }
                    Err(other) => self.handle(w, *other),
                },
                Received::Exited(w) => {
                    waiting.remove(&w);
                    self.exited(w);
                }
                Received::Timeout => {
                    report::note(format!("workers {waiting:?} did not answer within {timeout:?}"));
                    break;
                }
            }
        }
        out
    }
}

use starling_protocol::now_ms;

pub async fn run(a: RunArgs) -> Result<()> {
    let c = &a.common;
    if c.urls.is_empty() {
        bail!("give at least one --url");
    }
    if a.duration == 0 {
        bail!("--duration must be at least 1 second");
    }
    if a.pause_mean_ms < a.pause_min_ms {
        bail!("--pause-mean-ms must be at least --pause-min-ms");
    }
    let mix = Mix::parse(a.mix.as_deref())?;
    let gates = Gates { p99_ms: a.gate_p99_ms, mean_ms: a.gate_mean_ms, error_rate: a.gate_error_rate };
    for pid in &a.pids {
        report::rss(*pid).with_context(|| format!("--pid {pid}"))?;
    }
    let machine = Machine::probe();
    report::note(format!("machine: {}", machine.describe()));
    let run_start_ms = now_ms();

    // Fixture: users, team, channels.
    let api = Api::new(c.url(), c.setup_concurrency.max(1))?;
    let fixture = setup::prepare(&api, c, None).await?;
    report::note(format!(
        "setup: {} users ({} new, {} saved logins reused) in {:.1}s",
        fixture.users.len(),
        fixture.created_users,
        fixture.reused_logins,
        fixture.elapsed.as_secs_f64()
    ));
    let n_channels = a.channels.unwrap_or(c.users / 8).max(1);
    let layout = fixture::layout(&c.prefix, c.users, n_channels, a.channels_per_user);
    let channel_ids = fixture::ensure(&api, &fixture, &layout, c.setup_concurrency).await?;
    let nodes = fixture::node_map(&c.urls, &fixture.users[0].token).await?;
    for (u, n) in c.urls.iter().zip(&nodes) {
        report::note(format!(
            "{u}: {}",
            n.as_deref().map_or("a balancer (node varies)".to_owned(), |n| format!("node {n}"))
        ));
    }

    // Chaos: who is the victim, who reports on it.
    let chaos_setup = match a.chaos_kill_pid {
        Some(pid) => Some(prepare_chaos(&a, pid, &nodes, &fixture.admin.token).await?),
        None => None,
    };

    let run_id = format!("{:x}{:x}", std::process::id(), run_start_ms);
    let plan = Plan {
        run_id: run_id.clone(),
        urls: c.urls.clone(),
        nodes: nodes.clone(),
        team_id: fixture.team_id.clone(),
        mix: mix.clone(),
        pause_min_ms: a.pause_min_ms,
        pause_mean_ms: a.pause_mean_ms,
        reply_share: a.reply_share,
        file_share: a.file_share,
        file_size: a.file_size,
        request_timeout_ms: a.request_timeout * 1000,
        connect_timeout_ms: c.connect_timeout * 1000,
        reconnect_jitter_ms: a.reconnect_jitter_ms,
        catchup_margin_ms: a.catchup_margin_ms,
        run_start_ms,
        seed: a.seed,
        drop_one_event: false,
    };
    let sim_users: Vec<SimUser> = (0..c.users)
        .map(|i| SimUser {
            index: i,
            user_id: fixture.users[i].user_id.clone(),
            token: fixture.users[i].token.clone(),
            url: i % c.urls.len(),
            channels: layout.members[i].iter().map(|&ch| channel_ids[ch].clone()).collect(),
        })
        .collect();

    let workers = c.users.div_ceil(c.per_worker as usize).max(2).min(c.users);
    let ws_url = ws::ws_url(c.url())?;
    let dest = ws::resolve(&ws_url).await?;
    let bind_sources = !c.no_source_bind && dest.is_ipv4() && dest.ip().is_loopback();
    let pool = Pool::spawn(PoolConfig {
        workers,
        ws_url: &ws_url,
        bind_sources,
        run_id: &run_id,
        max_duration: c.max_duration,
    })
    .await?;
    report::note(format!(
        "{workers} worker processes{}; mix {}; pauses {}..~{} ms",
        if bind_sources { ", sources 127.0.0.2.." } else { "" },
        mix.describe(),
        a.pause_min_ms,
        a.pause_mean_ms
    ));
    let mut d = Driver {
        pool,
        workers,
        home: HashMap::new(),
        started: Vec::new(),
        gauges: vec![(0, 0); workers],
        exited: BTreeSet::new(),
        timeline: Vec::new(),
        sampler: Sampler::new(&a.pids),
        acc: Window::default(),
        connect_errors: Vec::new(),
        connect_failed: 0,
    };
    let outcome = drive(&mut d, &a, plan, &sim_users, gates, chaos_setup).await;
    let Driver { pool, timeline, sampler, .. } = d;
    pool.shutdown().await;
    let outcome = outcome?;

    let pg = match &a.pg {
        Some(url) => {
            let secs = a.duration.clamp(3, 10);
            report::note(format!("baseline: raw INSERTs of post rows for {secs}s"));
            match crate::baseline::pg::insert_rate(url, 16, Duration::from_secs(secs), 110).await {
                Ok(r) => Some(r),
                Err(e) => {
                    report::note(format!("baseline: {e:#}"));
                    None
                }
            }
        }
        None => None,
    };
    let run = summary::Run {
        args: &a,
        machine: &machine,
        timeline: &timeline,
        sampler: &sampler,
        nodes: &nodes,
        mix: &mix,
        gates,
        workers,
    };
    summary::report(run, outcome, pg)
}

/// What the end of a run gathered.
pub struct Outcome {
    pub finished: Vec<Finished>,
    pub reconciled: Reconciled,
    pub reports_missing: usize,
    pub action_seconds: f64,
    pub ramp: Option<Ramp>,
    pub chaos: Option<ChaosReport>,
    pub connect_failed: u64,
    pub connect_errors: Vec<String>,
}

struct ChaosSetup {
    pid: u32,
    victim: NodeInfo,
    survivors: Vec<String>,
    relaunch: Option<Relaunch>,
    http: reqwest::Client,
    token: String,
}

async fn prepare_chaos(a: &RunArgs, pid: u32, nodes: &[Option<String>], token: &str) -> Result<ChaosSetup> {
    let node_urls: Vec<String> = if a.node_urls.is_empty() {
        a.common.urls.iter().zip(nodes).filter(|(_, n)| n.is_some()).map(|(u, _)| u.clone()).collect()
    } else {
        a.node_urls.clone()
    };
    let http = chaos::status_client()?;
    let infos = chaos::nodes(&http, &node_urls, token).await?;
    let relaunch = Relaunch::read(pid).with_context(|| format!("--chaos-kill-pid {pid}"))?;
    let listen = relaunch
        .listen_address()
        .ok_or_else(|| anyhow::anyhow!("pid {pid} has no MM_SERVICESETTINGS_LISTENADDRESS: which node is it?"))?;
    let at = chaos::url_of(&listen, &node_urls)
        .ok_or_else(|| anyhow::anyhow!("pid {pid} listens on {listen}, none of the node URLs {node_urls:?}"))?;
    let victim = infos[at].clone();
    let survivors: Vec<String> =
        node_urls.iter().enumerate().filter(|(i, _)| *i != at).map(|(_, u)| u.clone()).collect();
    if survivors.is_empty() {
        bail!("no survivor to report the killed node: give the other nodes' URLs (--node-url)");
    }
    report::note(format!("chaos: pid {pid} is node {} ({}); survivors {survivors:?}", victim.id, victim.url));
    Ok(ChaosSetup {
        pid,
        victim,
        survivors,
        relaunch: a.chaos_restart_same.then_some(relaunch),
        http,
        token: token.to_owned(),
    })
}

async fn chaos_task(a: RunArgs, s: ChaosSetup, t0: Instant, tx: mpsc::Sender<ChaosEvent>) {
    let mut r = ChaosReport {
        pid: s.pid,
        victim: Some(s.victim.clone()),
        survivors: s.survivors.clone(),
        ..Default::default()
    };
    tokio::time::sleep_until((t0 + Duration::from_secs(a.chaos_at)).into()).await;
    if let Err(e) = chaos::sigkill(s.pid) {
        r.notes.push(format!("{e:#}"));
        drop(tx.send(ChaosEvent::Done(Box::new(r))).await);
        return;
    }
    let killed = Instant::now();
    r.killed_at_s = Some(killed.duration_since(t0).as_secs_f64());
    report::note(format!("chaos: SIGKILL pid {} (node {})", s.pid, s.victim.id));
    let found = chaos::wait_red(&s.http, &s.survivors, &s.victim, &s.token, killed, Duration::from_secs(60)).await;
    r.detected_ms = found.iter().map(|w| w.after_ms).collect();
    r.detected_everywhere_ms = if found.iter().all(|w| w.after.is_some()) {
        found.iter().filter_map(|w| w.after_ms).reduce(f64::max)
    } else {
        None
    };
    for w in found.iter().filter(|w| w.after.is_none()) {
        r.notes.push(format!(
            "{} never showed it red: {} polls, {} failed; last: {}",
            w.url, w.polls, w.failed_polls, w.last
        ));
    }
    r.watches = found;
    report::note(format!(
        "chaos: every survivor reports the node red after {} ms",
        report::fmt(r.detected_everywhere_ms, 0)
    ));
    if a.chaos_restart_cmd.is_some() || s.relaunch.is_some() {
        tokio::time::sleep_until((killed + Duration::from_secs(a.chaos_restart_after)).into()).await;
        match chaos::restart(a.chaos_restart_cmd.as_deref(), s.relaunch.as_ref()) {
            Ok(new) => {
                r.restarted_pid = new;
                if let Some(new) = new {
                    if let Err(e) = chaos::write_pid_file(a.chaos_pid_file.as_deref(), new) {
                        r.notes.push(format!("{e:#}"));
                    }
                    drop(tx.send(ChaosEvent::Restarted { old: s.pid, new }).await);
                }
                let restarted = Instant::now();
                let mut all = s.survivors.clone();
                all.push(s.victim.url.clone());
                let green = chaos::wait_green(&s.http, &all, all.len(), &s.token, Duration::from_secs(60)).await;
                r.green_again_s = green.map(|_| restarted.elapsed().as_secs_f64());
                report::note(format!("chaos: restarted; all green again after {} s", report::fmt(r.green_again_s, 1)));
            }
            Err(e) => r.notes.push(format!("restart: {e:#}")),
        }
    }
    drop(tx.send(ChaosEvent::Done(Box::new(r))).await);
}

async fn drive(
    d: &mut Driver,
    a: &RunArgs,
    plan: Plan,
    users: &[SimUser],
    gates: Gates,
    chaos_setup: Option<ChaosSetup>,
) -> Result<Outcome> {
    let c = &a.common;
    // The plan, to every worker; only worker 0 drops an event when the test asks for it.
    for w in 0..d.workers {
        let mut p = plan.clone();
        p.drop_one_event = a.drop_one_event_for_test && w == 0;
        d.pool.send(w, &Command::Plan { plan: Box::new(p), connect_concurrency: c.connect_concurrency }).await?;
    }
    let mut ready = 0;
    let deadline = Instant::now() + PLAN_TIMEOUT;
    while ready < d.workers {
        match d.pool.recv(deadline).await {
            Received::Event(_, Event::PlanReady) => ready += 1,
            Received::Event(w, Event::Error { message }) => bail!("worker {w}: {message}"),
            Received::Event(w, ev) => d.handle(w, ev),
            Received::Exited(w) => bail!("worker {w} exited"),
            Received::Timeout => bail!("workers not ready within {PLAN_TIMEOUT:?}"),
        }
    }

    let phase = Duration::from_secs(c.phase_timeout);
    let mut ramp = a.ramp.then(|| Ramp::new(a.ramp_start, a.ramp_step, users.len(), a.ramp_flips));
    let first = ramp.as_ref().map_or(users.len(), |r| r.users);
    d.start_users(&users[..first], phase, "connect users").await?;
    d.pool.broadcast(&Command::Go).await;
    let t0 = Instant::now();
    let (chaos_tx, mut chaos_rx) = mpsc::channel(4);
    let chaos_handle = chaos_setup.map(|s| tokio::spawn(chaos_task(a.clone(), s, t0, chaos_tx)));
    let mut chaos_report = None;

    let end = t0 + Duration::from_secs(a.duration);
    let bar = report::bar(a.duration, "action phase (s)");
    let mut next = t0 + Duration::from_secs(1);
    let mut ramp_acc = Window::default();
    let mut ramp_next = t0 + Duration::from_secs(a.ramp_interval.max(1));
    loop {
        match d.pool.recv(next.min(end)).await {
            Received::Event(w, ev) => d.handle(w, ev),
            Received::Exited(w) => d.exited(w),
            Received::Timeout => {}
        }
        let now = Instant::now();
        if now < next && now < end {
            continue;
        }
        let t = now.duration_since(t0).as_secs();
        next += Duration::from_secs(1);
        let s = d.close_second(t);
        ramp_acc.merge(&s.window);
        let line = format!(
            "t={t}s users {}/{} | {} req/s p99 {} ms mean {} ms fail {} | {} posts/s {} deliveries/s | x-node p99 {} ms",
            s.acting,
            s.connected,
            s.requests,
            report::fmt(s.p99_ms, 1),
            report::fmt(s.mean_ms, 1),
            s.failures + s.client_errors,
            s.posts,
            s.deliveries,
            report::fmt(s.cross_node_p99_ms, 1),
        );
        bar.set_position(t.min(a.duration));
        bar.set_message(format!("{} req/s, {} deliveries/s", s.requests, s.deliveries));
        if t.is_multiple_of(10) || bar.is_hidden() && t.is_multiple_of(5) {
            report::note(&line);
        }
        while let Ok(ev) = chaos_rx.try_recv() {
            match ev {
                ChaosEvent::Restarted { old, new } => d.sampler.replace(old, new),
                ChaosEvent::Done(r) => chaos_report = Some(*r),
            }
        }
        if let Some(r) = ramp.as_mut() {
            if now >= ramp_next {
                ramp_next += Duration::from_secs(a.ramp_interval.max(1));
                let check = gates.check(&std::mem::take(&mut ramp_acc));
                let before = r.users;
                let after = r.after_window(t as f64, check.clone());
                report::note(format!(
                    "ramp: {before} users: p99 {} ms, mean {} ms, failures {:.4} -> {} -> {after} users",
                    report::fmt(check.p99_ms, 1),
                    report::fmt(check.mean_ms, 1),
                    check.error_rate,
                    if check.pass { "pass" } else { "FAIL" },
                ));
                if after > before {
                    let next_users: Vec<SimUser> =
                        users.iter().filter(|u| !d.started.contains(&u.index)).take(after - before).cloned().collect();
                    if !next_users.is_empty() {
                        d.start_users(&next_users, phase, "ramp: connect").await?;
                    }
                } else if after < before {
                    let stop: Vec<usize> = d.started.iter().rev().take(before - after).copied().collect();
                    d.started.truncate(d.started.len() - stop.len());
                    let mut by_worker: HashMap<usize, Vec<usize>> = HashMap::new();
                    for i in stop {
                        by_worker.entry(d.home[&i]).or_default().push(i);
                    }
                    for (w, indices) in by_worker {
                        if !d.exited.contains(&w) {
                            d.pool.send(w, &Command::StopUsers { indices }).await?;
                        }
                    }
                }
                if r.is_flat() {
                    report::note("ramp: the user count is flat");
                    break;
                }
            }
        }
        if now >= end {
            break;
        }
    }
    bar.finish_and_clear();
    let action_seconds = t0.elapsed().as_secs_f64();

    if let Some(h) = chaos_handle {
        if chaos_report.is_none() {
            report::note("waiting for the chaos scenario to finish (at most 3 min)");
            match tokio::time::timeout(Duration::from_secs(180), async {
                while let Some(ev) = chaos_rx.recv().await {
                    match ev {
                        ChaosEvent::Restarted { old, new } => d.sampler.replace(old, new),
                        ChaosEvent::Done(r) => return Some(*r),
                    }
                }
                None
            })
            .await
            {
                Ok(r) => chaos_report = r,
                Err(_) => h.abort(),
            }
        }
    }

    report::note("stopping the users' actions");
    let finish_timeout = Duration::from_secs(a.request_timeout + 30);
    let finished = d
        .gather(&Command::Finish, finish_timeout, |e| match e {
            Event::Finished(f) => Ok(*f),
            other => Err(Box::new(other)),
        })
        .await;
    let posts: Vec<CreatedPost> = finished.iter().flat_map(|f| f.posts.iter().cloned()).collect();
    report::note(format!("{} posts created; checking every client holds every post of its channels", posts.len()));
    let drain = Duration::from_secs(a.drain_timeout);
    let reconciled: Vec<Reconciled> = d
        .gather(
            &Command::Reconcile { posts, timeout_ms: drain.as_millis() as u64 },
            drain + Duration::from_secs(30),
            |e| match e {
                Event::Reconciled(r) => Ok(r),
                other => Err(Box::new(other)),
            },
        )
        .await;
    let reports_missing = (d.workers - finished.len()) + (d.workers - reconciled.len());
    let mut total = Reconciled::default();
    for r in &reconciled {
        total.merge(r);
    }
    Ok(Outcome {
        finished,
        reconciled: total,
        reports_missing,
        action_seconds,
        ramp,
        chaos: chaos_report,
        connect_failed: d.connect_failed,
        connect_errors: d.connect_errors.clone(),
    })
}
