//! Websocket clients live in worker processes (the open-file limit is per process): the parent
//! re-executes itself as `starling-bench worker`, one per `--per-worker` clients, each bound to
//! its own loopback source address (127.0.0.2, 127.0.0.3, ...) so ephemeral ports don't run out.
//! They talk over stdin/stdout, one JSON object per line (`protocol`).

pub mod child;
pub mod protocol;

use crate::report;
use crate::stats;
use anyhow::{anyhow, bail, Context, Result};
use hdrhistogram::Histogram;
use protocol::{Command, Event};
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin};
use tokio::sync::mpsc;

/// How long a new worker may take to say `ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a worker may take to close its connections and exit at the end.
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct PoolConfig<'a> {
    pub workers: usize,
    pub ws_url: &'a str,
    /// Bind worker `i`'s sockets to 127.0.0.(i+2).
    pub bind_sources: bool,
    pub run_id: &'a str,
    pub max_duration: u64,
}

struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
    alive: bool,
}

/// What `Pool::recv` hands back.
pub enum Received {
    Event(usize, Event),
    /// The worker's stdout closed: it exited or crashed.
    Exited(usize),
    Timeout,
}

pub struct Pool {
    workers: Vec<Worker>,
    events: mpsc::Receiver<(usize, Option<Event>)>,
    pub sources: Vec<Option<IpAddr>>,
}

pub struct Status {
    pub open: u64,
    /// Connections that closed without the worker asking (the server closed them, or errors).
    pub closed: u64,
    pub open_by_worker: Vec<u64>,
}

/// The sum of one connect phase over all workers.
pub struct ConnectOutcome {
    pub ok: u64,
    pub failed: u64,
    /// Connections still unresolved when the phase timed out.
    pub unfinished: u64,
    pub connect_us: Histogram<u64>,
    pub errors: Vec<String>,
    pub elapsed: Duration,
}

impl Pool {
    pub async fn spawn(cfg: PoolConfig<'_>) -> Result<Self> {
        if cfg.bind_sources && cfg.workers > 250 {
            bail!("at most 250 workers (one loopback source address each)");
        }
        let exe = std::env::current_exe().context("find own executable")?;
        let (tx, rx) = mpsc::channel(4096);
        let mut workers = Vec::with_capacity(cfg.workers);
        let mut sources = Vec::with_capacity(cfg.workers);
        for w in 0..cfg.workers {
            let source = cfg.bind_sources.then(|| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + w as u8)));
            let mut cmd = tokio::process::Command::new(&exe);
            cmd.arg("worker")
                .args(["--index", &w.to_string()])
                .args(["--ws-url", cfg.ws_url])
                .args(["--run-id", cfg.run_id])
                .args(["--max-duration", &cfg.max_duration.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .kill_on_drop(true);
            if let Some(ip) = source {
                cmd.args(["--source", &ip.to_string()]);
            }
            let mut child = cmd.spawn().context("start a worker process")?;
            let stdout = child.stdout.take().ok_or_else(|| anyhow!("worker without stdout"))?;
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let ev = serde_json::from_str::<Event>(&line)
                        .unwrap_or_else(|e| Event::Error { message: format!("unreadable line from worker: {e}") });
                    if tx.send((w, Some(ev))).await.is_err() {
                        return;
                    }
                }
                // At exit the pool may already be gone; then nobody needs to know.
                drop(tx.send((w, None)).await);
            });
            let stdin = child.stdin.take();
            workers.push(Worker { child, stdin, alive: true });
            sources.push(source);
        }
        let mut pool = Self { workers, events: rx, sources };
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut ready = HashSet::new();
        while ready.len() < pool.workers.len() {
            match pool.recv(deadline).await {
                Received::Event(w, Event::Ready { .. }) => {
                    ready.insert(w);
                }
                Received::Event(w, Event::Error { message }) => bail!("worker {w}: {message}"),
                Received::Event(..) => {}
                Received::Exited(w) => bail!("worker {w} exited at start"),
                Received::Timeout => bail!("workers not ready within {READY_TIMEOUT:?}"),
            }
        }
        Ok(pool)
    }

    pub fn len(&self) -> usize {
        self.workers.len()
    }

    pub async fn send(&mut self, w: usize, cmd: &Command) -> Result<()> {
        let worker = &mut self.workers[w];
        let stdin = worker.stdin.as_mut().ok_or_else(|| anyhow!("worker {w} has no stdin"))?;
        let mut line = serde_json::to_vec(cmd)?;
        line.push(b'\n');
        stdin.write_all(&line).await.with_context(|| format!("send to worker {w}"))?;
        stdin.flush().await?;
        Ok(())
    }

    /// Send to every live worker; returns those it reached.
    pub async fn broadcast(&mut self, cmd: &Command) -> HashSet<usize> {
        let mut reached = HashSet::new();
        for w in 0..self.workers.len() {
            if self.workers[w].alive {
                match self.send(w, cmd).await {
                    Ok(()) => {
                        reached.insert(w);
                    }
                    Err(e) => report::note(format!("worker {w}: {e:#}")),
                }
            }
        }
        reached
    }

    /// The next event from any worker, or `Timeout` at `deadline`.
    pub async fn recv(&mut self, deadline: Instant) -> Received {
        match tokio::time::timeout_at(deadline.into(), self.events.recv()).await {
            Ok(Some((w, Some(ev)))) => Received::Event(w, ev),
            Ok(Some((w, None))) => {
                self.workers[w].alive = false;
                Received::Exited(w)
            }
            // Every reader is gone: nothing more will come.
            Ok(None) | Err(_) => Received::Timeout,
        }
    }

    /// Open `batches[w].len()` connections in worker `w` (one per token), with a progress bar,
    /// within `phase`.
    pub async fn connect(
        &mut self,
        batches: Vec<Vec<String>>,
        concurrency: usize,
        per_conn: Duration,
        phase: Duration,
        label: &str,
    ) -> Result<ConnectOutcome> {
        let started = Instant::now();
        let sizes: Vec<u64> = batches.iter().map(|b| b.len() as u64).collect();
        let total: u64 = sizes.iter().sum();
        let bar = report::bar(total, label);
        let mut pending = HashSet::new();
        for (w, tokens) in batches.into_iter().enumerate() {
            if tokens.is_empty() {
                continue;
            }
            let cmd = Command::Connect { tokens, concurrency, timeout_ms: per_conn.as_millis() as u64 };
            self.send(w, &cmd).await?;
            pending.insert(w);
        }
        let deadline = started + phase;
        let mut progress = vec![(0u64, 0u64); self.workers.len()];
        let mut out = ConnectOutcome {
            ok: 0,
            failed: 0,
            unfinished: 0,
            connect_us: stats::histogram(),
            errors: Vec::new(),
            elapsed: Duration::ZERO,
        };
        while !pending.is_empty() {
            match self.recv(deadline).await {
                Received::Event(w, Event::Progress { ok, failed }) if pending.contains(&w) => {
                    progress[w] = (ok, failed);
                    bar.set_position(progress.iter().map(|(o, f)| o + f).sum());
                }
                Received::Event(w, Event::Connected { ok, failed, connect_us, errors, .. }) => {
                    pending.remove(&w);
                    progress[w] = (ok, failed);
                    bar.set_position(progress.iter().map(|(o, f)| o + f).sum());
                    out.ok += ok;
                    out.failed += failed;
                    stats::merge(&mut out.connect_us, &connect_us);
                    for e in errors {
                        if out.errors.len() < 10 && !out.errors.contains(&e) {
                            out.errors.push(e);
                        }
                    }
                }
                Received::Event(w, Event::Error { message }) => report::note(format!("worker {w}: {message}")),
                Received::Event(..) => {}
                Received::Exited(w) => {
                    if pending.remove(&w) {
                        report::note(format!("worker {w} exited while connecting"));
                        out.unfinished += sizes[w];
                    }
                }
                Received::Timeout => {
                    report::note(format!("connect phase timed out after {phase:?}"));
                    for w in pending.drain() {
                        out.ok += progress[w].0;
                        out.failed += progress[w].1;
                        out.unfinished += sizes[w].saturating_sub(progress[w].0 + progress[w].1);
                    }
                }
            }
        }
        bar.finish_and_clear();
        out.elapsed = started.elapsed();
        Ok(out)
    }

    /// Open connections now, and connections that closed without being asked, over all workers.
    pub async fn status(&mut self, timeout: Duration) -> Result<Status> {
        let mut waiting = self.broadcast(&Command::GetStatus).await;
        let deadline = Instant::now() + timeout;
        let mut st = Status { open: 0, closed: 0, open_by_worker: vec![0; self.workers.len()] };
        while !waiting.is_empty() {
            match self.recv(deadline).await {
                Received::Event(w, Event::Status { open, closed }) if waiting.remove(&w) => {
                    st.open += open;
                    st.closed += closed;
                    st.open_by_worker[w] = open;
                }
                Received::Event(..) => {}
                Received::Exited(w) => {
                    waiting.remove(&w);
                }
                Received::Timeout => bail!("workers {waiting:?} did not report their status"),
            }
        }
        Ok(st)
    }

    /// Ask every worker to close its connections and exit; kill those that don't in time.
    pub async fn shutdown(mut self) {
        self.broadcast(&Command::Shutdown).await;
        for (w, worker) in self.workers.iter_mut().enumerate() {
            drop(worker.stdin.take());
            match tokio::time::timeout(EXIT_TIMEOUT, worker.child.wait()).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => report::note(format!("worker {w}: {e}")),
                Err(_) => {
                    report::note(format!("worker {w} did not exit; killing it"));
                    if let Err(e) = worker.child.kill().await {
                        report::note(format!("worker {w}: kill: {e}"));
                    }
                }
            }
        }
    }
}

/// Worker `i % workers` gets connection `i`: every phase spreads evenly over the workers.
/// Connection `i` uses user `i % users`.
pub fn spread(range: std::ops::Range<usize>, workers: usize, tokens: &[String]) -> Vec<Vec<String>> {
    let mut batches = vec![Vec::new(); workers];
    for i in range {
        batches[i % workers].push(tokens[i % tokens.len()].clone());
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_is_even_and_round_robin_over_users() {
        let tokens: Vec<String> = (0..3).map(|i| format!("t{i}")).collect();
        let b = spread(0..10, 4, &tokens);
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 2, 2]);
        assert_eq!(b[0], ["t0", "t1", "t2"]); // connections 0, 4, 8
        let b = spread(10..12, 4, &tokens);
        assert_eq!(b[2], ["t1"]); // connection 10
        assert_eq!(b[3], ["t2"]); // connection 11
    }
}
