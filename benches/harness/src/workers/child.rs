//! The worker process: holds up to `MAX_PER_WORKER` websocket clients on one source address,
//! obeys commands from stdin, and reports on stdout. It exits when stdin closes (the parent is
//! gone or done), on `Shutdown`, or after `--max-duration` seconds.

use super::protocol::{Command, Event};
use crate::cli::WorkerArgs;
use crate::mixed::engine::Engine;
use crate::stats;
use crate::ws::{self, Ws};
use anyhow::Result;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

/// Distinct connect errors reported back (the first few are enough to see what went wrong).
const MAX_ERRORS: usize = 5;
/// How long closing every connection may take at the end.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

pub fn main(args: WorkerArgs) -> Result<()> {
    // One thread: several workers share the machine with the node under test.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(run(args))
}

/// Deliveries of one measured post to this worker's connections.
struct PostDeliveries {
    count: u64,
    first_us: Option<i64>,
    last_us: Option<i64>,
    latency: Histogram<u64>,
    pushed: bool,
}

struct Shared {
    run_id: String,
    /// Connections that received `hello` and have not closed.
    open: AtomicU64,
    /// Connections that closed before the worker asked them to.
    closed: AtomicU64,
    posts: Mutex<HashMap<u64, PostDeliveries>>,
    out: mpsc::Sender<Event>,
}

impl Shared {
    fn posts(&self) -> MutexGuard<'_, HashMap<u64, PostDeliveries>> {
        // A poisoned lock only means another task panicked mid-update; the counts stay usable.
        self.posts.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn emit(&self, ev: Event) {
        // The parent reading our stdout is the only consumer; if it is gone there is no one to tell.
        if self.out.send(ev).await.is_err() {
            eprintln!("starling-bench worker: parent stopped listening");
        }
    }

    /// Record one delivery; push `Deliveries` the moment every open connection has the post.
    async fn delivered(&self, seq: u64, latency_us: i64) {
        let push = {
            let mut posts = self.posts();
            let p = posts.entry(seq).or_insert_with(|| PostDeliveries {
                count: 0,
                first_us: None,
                last_us: None,
                latency: stats::histogram(),
                pushed: false,
            });
            p.count += 1;
            p.first_us = Some(p.first_us.map_or(latency_us, |f| f.min(latency_us)));
            p.last_us = Some(p.last_us.map_or(latency_us, |l| l.max(latency_us)));
            stats::record(&mut p.latency, latency_us);
            let open = self.open.load(Ordering::Relaxed);
            if !p.pushed && p.count >= open {
                p.pushed = true;
                Some(snapshot(seq, p, open))
            } else {
                None
            }
        };
        if let Some(ev) = push {
            self.emit(ev).await;
        }
    }

    fn deliveries(&self, seq: u64) -> Event {
        let open = self.open.load(Ordering::Relaxed);
        match self.posts().get(&seq) {
            Some(p) => snapshot(seq, p, open),
            None => Event::Deliveries {
                seq,
                count: 0,
                open,
                complete: open == 0,
                first_us: None,
                last_us: None,
                latency_us: Vec::new(),
            },
        }
    }
}

fn snapshot(seq: u64, p: &PostDeliveries, open: u64) -> Event {
    Event::Deliveries {
        seq,
        count: p.count,
        open,
        complete: p.count >= open,
        first_us: p.first_us,
        last_us: p.last_us,
        latency_us: stats::to_buckets(&p.latency),
    }
}

/// Where and how this worker's clients connect.
#[derive(Clone)]
struct Target {
    dest: SocketAddr,
    source: Option<IpAddr>,
    url: Arc<str>,
}

async fn run(args: WorkerArgs) -> Result<()> {
    let (out_tx, out_rx) = mpsc::channel::<Event>(1024);
    let writer = tokio::spawn(write_events(out_rx));
    let target =
        Target { dest: ws::resolve(&args.ws_url).await?, source: args.source, url: args.ws_url.as_str().into() };
    let shared = Arc::new(Shared {
        run_id: args.run_id.clone(),
        open: AtomicU64::new(0),
        closed: AtomicU64::new(0),
        posts: Mutex::new(HashMap::new()),
        out: out_tx,
    });
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    shared.emit(Event::Ready { index: args.index, pid: std::process::id() }).await;

    let mut engine: Option<Arc<Engine>> = None;
    let deadline = tokio::time::sleep(Duration::from_secs(args.max_duration));
    tokio::pin!(deadline);
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        let line = tokio::select! {
            _ = &mut deadline => break,
            line = lines.next_line() => line,
        };
        let line = match line {
            Ok(Some(l)) => l,
            // EOF or a broken pipe: the parent is done or gone.
            Ok(None) | Err(_) => break,
        };
        match serde_json::from_str::<Command>(&line) {
            Ok(Command::Connect { tokens, concurrency, timeout_ms }) => {
                let (shared, target, rx) = (shared.clone(), target.clone(), shutdown_rx.clone());
                tokio::spawn(async move {
                    let ev = connect_batch(
                        &shared,
                        &target,
                        tokens,
                        concurrency.max(1),
                        Duration::from_millis(timeout_ms),
                        rx,
                    )
                    .await;
                    shared.emit(ev).await;
                });
            }
            Ok(Command::GetStatus) => {
                shared
                    .emit(Event::Status {
                        open: shared.open.load(Ordering::Relaxed),
                        closed: shared.closed.load(Ordering::Relaxed),
                    })
                    .await
            }
            Ok(Command::GetDeliveries { seq }) => shared.emit(shared.deliveries(seq)).await,
            Ok(Command::Shutdown) => break,
            Ok(Command::Plan { plan, connect_concurrency }) => {
                match Engine::new(*plan, args.index, args.source, connect_concurrency, shared.out.clone()).await {
                    Ok(e) => {
                        engine = Some(e);
                        shared.emit(Event::PlanReady).await;
                    }
                    Err(e) => shared.emit(Event::Error { message: format!("plan: {e:#}") }).await,
                }
            }
            Ok(cmd) => match (&engine, cmd) {
                (Some(e), Command::StartUsers { users }) => {
                    let (e, shared) = (e.clone(), shared.clone());
                    tokio::spawn(async move { shared.emit(e.start_users(users).await).await });
                }
                (Some(e), Command::Go) => e.go(),
                (Some(e), Command::StopUsers { indices }) => e.stop_users(&indices),
                (Some(e), Command::Finish) => {
                    let (e, shared) = (e.clone(), shared.clone());
                    tokio::spawn(async move { shared.emit(Event::Finished(Box::new(e.finish().await))).await });
                }
                (Some(e), Command::Reconcile { posts, timeout_ms }) => {
                    let (e, shared) = (e.clone(), shared.clone());
                    tokio::spawn(async move {
                        let r = e.reconcile(posts, Duration::from_millis(timeout_ms)).await;
                        shared.emit(Event::Reconciled(r)).await
                    });
                }
                (None, _) => shared.emit(Event::Error { message: "a mixed-run command before the plan".into() }).await,
                (Some(_), _) => shared.emit(Event::Error { message: "unexpected command".into() }).await,
            },
            Err(e) => shared.emit(Event::Error { message: format!("bad command: {e}") }).await,
        }
    }
    if let Some(e) = engine.take() {
        e.shutdown().await;
    }

    // Close every connection with a close frame, within a bound.
    if shutdown_tx.send(true).is_err() {
        // No connection task holds a receiver: nothing to close.
    }
    let until = Instant::now() + CLOSE_GRACE;
    while shared.open.load(Ordering::Relaxed) > 0 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(shared);
    // The writer ends when the last sender (held by `shared` and tasks) is gone; don't wait on
    // stragglers for long.
    if tokio::time::timeout(Duration::from_secs(1), writer).await.is_err() {
        eprintln!("starling-bench worker: output not drained at exit");
    }
    Ok(())
}

async fn write_events(mut rx: mpsc::Receiver<Event>) {
    let mut out = tokio::io::stdout();
    while let Some(ev) = rx.recv().await {
        let Ok(mut line) = serde_json::to_vec(&ev) else {
            continue;
        };
        line.push(b'\n');
        if out.write_all(&line).await.is_err() || out.flush().await.is_err() {
            break;
        }
    }
}

/// Open one connection per token, `concurrency` at a time, each within `per_conn` (two tries).
async fn connect_batch(
    shared: &Arc<Shared>,
    target: &Target,
    tokens: Vec<String>,
    concurrency: usize,
    per_conn: Duration,
    shutdown: watch::Receiver<bool>,
) -> Event {
    let ok = AtomicU64::new(0);
    let failed = AtomicU64::new(0);
    let hist = Mutex::new(stats::histogram());
    let errors = Mutex::new(Vec::<String>::new());
    let work = futures_util::stream::iter(tokens).for_each_concurrent(concurrency, |token| {
        let (ok, failed, hist, errors, shutdown) = (&ok, &failed, &hist, &errors, &shutdown);
        async move {
            let t0 = Instant::now();
            let mut last_err = String::new();
            for _attempt in 0..2 {
                let left = per_conn.saturating_sub(t0.elapsed());
                if left.is_zero() {
                    break;
                }
                match tokio::time::timeout(left, ws::open(target.dest, target.source, &target.url, &token)).await {
                    Ok(Ok(ws)) => {
                        let us = t0.elapsed().as_micros() as i64;
                        stats::record(&mut hist.lock().unwrap_or_else(|p| p.into_inner()), us);
                        ok.fetch_add(1, Ordering::Relaxed);
                        shared.open.fetch_add(1, Ordering::Relaxed);
                        tokio::spawn(hold(ws, shared.clone(), shutdown.clone()));
                        return;
                    }
                    Ok(Err(e)) => last_err = format!("{e:#}"),
                    Err(_) => last_err = "timed out".into(),
                }
            }
            failed.fetch_add(1, Ordering::Relaxed);
            let mut errs = errors.lock().unwrap_or_else(|p| p.into_inner());
            if errs.len() < MAX_ERRORS && !errs.contains(&last_err) {
                errs.push(last_err);
            }
        }
    });
    tokio::pin!(work);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            _ = &mut work => break,
            _ = tick.tick() => {
                shared.emit(Event::Progress {
                    ok: ok.load(Ordering::Relaxed),
                    failed: failed.load(Ordering::Relaxed),
                }).await;
            }
        }
    }
    let connect_us = stats::to_buckets(&hist.lock().unwrap_or_else(|p| p.into_inner()));
    let errors = std::mem::take(&mut *errors.lock().unwrap_or_else(|p| p.into_inner()));
    Event::Connected {
        ok: ok.load(Ordering::Relaxed),
        failed: failed.load(Ordering::Relaxed),
        open: shared.open.load(Ordering::Relaxed),
        connect_us,
        errors,
    }
}

/// Keep one connection: read every frame (which also answers the server's pings), time the
/// measured posts, and close with a close frame when the worker shuts down.
async fn hold(mut ws: Ws, shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let mut asked_to_close = false;
    loop {
        tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    let now = ws::unix_us(SystemTime::now());
                    if let Some(m) = ws::posted_message(t.as_str()) {
                        if let Some((seq, sent_us)) = ws::parse_stamp(&m, &shared.run_id) {
                            shared.delivered(seq, now - sent_us).await;
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            _ = shutdown.changed() => {
                asked_to_close = true;
                // Best effort, so a failure is not reported: the worker exits right after and
                // the kernel closes the socket anyway.
                let closing = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
                drop(closing);
                break;
            }
        }
    }
    shared.open.fetch_sub(1, Ordering::Relaxed);
    if !asked_to_close {
        shared.closed.fetch_add(1, Ordering::Relaxed);
    }
}
