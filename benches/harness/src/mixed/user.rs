//! One simulated user: a connection task that owns its websocket (hello, resume with
//! `connection_id` and `sequence_number`, REST catch-up after a fresh `hello`, failover to another
//! node when its own is gone) and an action task that loops over the action mix with idle pauses.

use super::book::{Book, Verdict};
use super::engine::{Ctx, Placement};
use super::plan::{Action, CreatedPost, SimUser};
use super::rest::{self, Body};
use crate::ws::{self, Frame, Ws};
use futures_util::{SinkExt, StreamExt};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::json;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// Known thread roots kept per channel, and users seen.
const KEEP: usize = 20;
/// Pages of one REST catch-up at most (the server answers up to 1000 posts per page).
const CATCH_UP_PAGES: usize = 20;
/// Tries of one catch-up request.
const CATCH_UP_ATTEMPTS: u32 = 5;
/// The emoji a simulated user reacts with (system emoji, so no custom emoji setup is needed).
const REACTIONS: [&str; 5] = ["+1", "smile", "heart", "tada", "eyes"];
/// The longest wait between two connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Consecutive failed attempts on one node before trying the next.
const FAILOVER_AFTER: u32 = 2;

/// Commands to the connection task.
#[derive(Debug)]
enum ConnCmd {
    Typing {
        channel_id: String,
        parent_id: String,
    },
    /// Close the socket and reconnect with resume (the 1 % reconnect action).
    Reconnect,
    /// Close for good.
    Close,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Counters {
    pub reconnect_actions: u64,
    pub resumed: u64,
    pub fresh_after_loss: u64,
    pub connect_failures: u64,
    pub failovers: u64,
}

struct State {
    book: Book,
    /// Index into the plan's URLs of the node it talks to now.
    url: usize,
    node: Option<String>,
    conn_id: Option<String>,
    last_seq: i64,
    roots: HashMap<String, VecDeque<String>>,
    oldest: HashMap<String, String>,
    seen_users: VecDeque<String>,
    actions: HashMap<Action, u64>,
    counters: Counters,
}

pub struct UserShared {
    pub index: usize,
    pub user_id: String,
    token: String,
    channels: Vec<String>,
    state: Mutex<State>,
    cmd: mpsc::Sender<ConnCmd>,
    stop: watch::Sender<bool>,
}

impl UserShared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn stop_acting(&self) {
        self.stop.send_replace(true);
    }

    /// Ramp down: stop acting now; keep reading for `drain`, then close. Posts confirmed after
    /// `now_us` are not expected of this client.
    pub fn stop_at(self: &Arc<Self>, now_us: i64, drain: Duration) {
        if self.state().book.cutoff_us.is_some() {
            return; // stopped already
        }
        self.stop_acting();
        self.state().book.cutoff_us = Some(now_us);
        let me = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(drain).await;
            me.close();
        });
    }

    pub fn close(&self) {
        // The connection task may already be gone (closed, or never connected): nothing to do then.
        drop(self.cmd.try_send(ConnCmd::Close));
    }

    pub fn verdict(&self, by_channel: &HashMap<&str, Vec<&CreatedPost>>) -> Verdict {
        self.state().book.verdict(&self.channels, by_channel)
    }

    pub fn duplicated(&self) -> u64 {
        self.state().book.duplicated
    }

    pub fn unconfirmed_run_posts(&self, confirmed: &HashSet<&str>) -> Vec<String> {
        self.state().book.unconfirmed(confirmed).cloned().collect()
    }

    pub fn action_counts(&self) -> Vec<(Action, u64)> {
        self.state().actions.iter().map(|(a, n)| (*a, *n)).collect()
    }

    pub fn counters(&self) -> Counters {
        self.state().counters
    }
}

/// Start a user's tasks. The receiver says how its first connection went (us to `hello`).
pub fn spawn(ctx: Arc<Ctx>, u: SimUser) -> (Arc<UserShared>, oneshot::Receiver<Result<i64, String>>, JoinHandle<()>) {
    let (cmd_tx, cmd_rx) = mpsc::channel(64);
    let (stop_tx, stop_rx) = watch::channel(false);
    let shared = Arc::new(UserShared {
        index: u.index,
        user_id: u.user_id,
        token: u.token,
        channels: u.channels,
        state: Mutex::new(State {
            book: Book::default(),
            url: u.url.min(ctx.targets.len().saturating_sub(1)),
            node: None,
            conn_id: None,
            last_seq: -1,
            roots: HashMap::new(),
            oldest: HashMap::new(),
            seen_users: VecDeque::new(),
            actions: HashMap::new(),
            counters: Counters::default(),
        }),
        cmd: cmd_tx,
        stop: stop_tx,
    });
    let (first_tx, first_rx) = oneshot::channel();
    let seed = ctx.plan.seed ^ (u.index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let start = Start { first: first_tx, stop: stop_rx, act_rng: StdRng::seed_from_u64(seed.rotate_left(17)) };
    let conn = tokio::spawn(connection(ctx, shared.clone(), cmd_rx, start, StdRng::seed_from_u64(seed)));
    (shared, first_rx, conn)
}

/// What the connection task needs once the first connection is up: whom to tell, and what the
/// action task (started only then) needs.
struct Start {
    first: oneshot::Sender<Result<i64, String>>,
    stop: watch::Receiver<bool>,
    act_rng: StdRng,
}

fn now_us() -> i64 {
    ws::unix_us(SystemTime::now())
}

/// Why a connected socket ended.
enum Ended {
    Lost,
    Reconnect,
    Close,
}

/// The connection task: connect, read, reconnect, until told to close.
async fn connection(
    ctx: Arc<Ctx>,
    u: Arc<UserShared>,
    mut cmds: mpsc::Receiver<ConnCmd>,
    start: Start,
    mut rng: StdRng,
) {
    let mut first = Some(start);
    // Set while the socket is down: when, and whether the client asked for it.
    let mut down: Option<(Instant, i64, bool)> = None;
    let mut failures: u32 = 0;
    let connect_timeout = Duration::from_millis(ctx.plan.connect_timeout_ms);
    loop {
        let (url, resume) = {
            let s = u.state();
            (s.url, s.conn_id.clone().map(|c| (c, s.last_seq + 1)))
        };
        let target = &ctx.targets[url];
        let ws_url = match &resume {
            Some((c, seq)) => ws::resume_url(&target.ws, c, *seq),
            None => target.ws.clone(),
        };
        let t0 = Instant::now();
        let permit = if first.is_some() { ctx.connecting.acquire().await.ok() } else { None };
        let attempt = tokio::time::timeout(connect_timeout, async {
            let mut sock = ws::upgrade(target.dest, ctx.source, &ws_url, &u.token).await?;
            let fresh = handshake(&ctx, &u, &mut sock, resume.is_some(), url).await?;
            Ok::<_, anyhow::Error>((sock, fresh))
        })
        .await;
        drop(permit);
        let result = match attempt {
            Ok(Ok(ok)) => Ok(ok),
            Ok(Err(e)) => Err((format!("{e:#}"), refused(&e))),
            Err(_) => Err(("connect timed out".to_owned(), false)),
        };
        let (mut sock, fresh) = match result {
            Ok(ok) => ok,
            Err((e, refused)) => {
                {
                    let mut s = u.state();
                    s.counters.connect_failures += 1;
                    failures += 1;
                    // Nobody listens there: that node is gone, as a client behind a balancer
                    // would find out; otherwise give it a second chance first.
                    if (refused || failures >= FAILOVER_AFTER) && ctx.targets.len() > 1 && first.is_none() {
                        s.url = (s.url + 1) % ctx.targets.len();
                        s.counters.failovers += 1;
                        failures = 0;
                    }
                }
                if let Some(f) = first.take() {
                    // Nobody may be waiting any more (the run gave up on this phase).
                    drop(f.first.send(Err(e)));
                    return;
                }
                ctx.stats().error_sample(format!("websocket: {e}"));
                let backoff = backoff(&mut rng, ctx.plan.reconnect_jitter_ms, failures);
                if wait_or_close(&mut cmds, backoff).await {
                    return;
                }
                continue;
            }
        };
        failures = 0;
        ctx.connected.fetch_add(1, Ordering::Relaxed);
        if let Some(f) = first.take() {
            drop(f.first.send(Ok(t0.elapsed().as_micros() as i64)));
            tokio::spawn(act_loop(ctx.clone(), u.clone(), f.stop, f.act_rng));
        }
        if let Some((lost_at, lost_wall_us, planned)) = down.take() {
            ctx.stats().reconnected((!planned).then(|| lost_at.elapsed().as_micros() as i64));
            if fresh {
                u.state().counters.fresh_after_loss += 1;
                let since_ms = (lost_wall_us / 1000 - ctx.plan.catchup_margin_ms as i64).max(ctx.plan.run_start_ms);
                let (ctx, u) = (ctx.clone(), u.clone());
                tokio::spawn(async move {
                    catch_up(&ctx, &u, since_ms).await;
                    if !planned {
                        ctx.stats().recovered(lost_at.elapsed().as_micros() as i64);
                    }
                });
            } else {
                u.state().counters.resumed += 1;
                if !planned {
                    ctx.stats().recovered(lost_at.elapsed().as_micros() as i64);
                }
            }
        }
        let ended = read_loop(&ctx, &u, &mut sock, &mut cmds).await;
        ctx.connected.fetch_sub(1, Ordering::Relaxed);
        match ended {
            Ended::Close => {
                let closing = tokio::time::timeout(Duration::from_secs(2), sock.close(None)).await;
                drop(closing);
                return;
            }
            Ended::Reconnect => {
                let closing = tokio::time::timeout(Duration::from_secs(2), sock.close(None)).await;
                drop(closing);
                down = Some((Instant::now(), now_us(), true));
                if wait_or_close(&mut cmds, Duration::from_millis(rng.gen_range(50..250))).await {
                    return;
                }
            }
            Ended::Lost => {
                ctx.stats().socket_lost();
                down = Some((Instant::now(), now_us(), false));
                let jitter = Duration::from_millis(rng.gen_range(0..=ctx.plan.reconnect_jitter_ms));
                if wait_or_close(&mut cmds, jitter).await {
                    return;
                }
            }
        }
    }
}

/// Whether a connect failed because nothing listens at the address.
fn refused(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
    })
}

/// The wait before the next attempt: none right after a failover, then doubling from 100 ms.
fn backoff(rng: &mut StdRng, jitter_ms: u64, failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let base = Duration::from_millis(100).saturating_mul(1 << (failures - 1).min(6));
    (base + Duration::from_millis(rng.gen_range(0..=jitter_ms))).min(MAX_BACKOFF)
}

/// Sleep, unless told to close meanwhile (then true). Other commands are dropped: there is no
/// socket to type on, and a reconnect is under way anyway.
async fn wait_or_close(cmds: &mut mpsc::Receiver<ConnCmd>, d: Duration) -> bool {
    let sleep = tokio::time::sleep(d);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            _ = &mut sleep => return false,
            c = cmds.recv() => match c {
                Some(ConnCmd::Close) | None => return true,
                Some(_) => {}
            },
        }
    }
}

/// The first frames of a connection. Without resume: `hello`. With resume: a `ping` action, whose
/// answer comes after any replayed events; a `hello` before it means the server could not resume.
/// Returns true when the connection is fresh (new connection id).
async fn handshake(ctx: &Ctx, u: &UserShared, sock: &mut Ws, resume: bool, url: usize) -> anyhow::Result<bool> {
    if !resume {
        let info = ws::read_hello(sock).await?;
        let mut s = u.state();
        s.conn_id = Some(info.connection_id).filter(|c| !c.is_empty());
        s.node = Some(info.node_id).filter(|n| !n.is_empty()).or_else(|| ctx.plan.nodes[url].clone());
        s.last_seq = 0;
        s.url = url;
        if s.book.first_hello_us.is_none() {
            s.book.first_hello_us = Some(now_us());
        }
        return Ok(true);
    }
    const PING_SEQ: i64 = 1;
    let ping = json!({"seq": PING_SEQ, "action": "ping", "data": {}}).to_string();
    sock.send(Message::Text(ping.into())).await?;
    let mut fresh = false;
    loop {
        let Some(msg) = sock.next().await else { anyhow::bail!("closed during resume") };
        let text = match msg? {
            Message::Text(t) => t,
            Message::Close(c) => anyhow::bail!("closed during resume: {c:?}"),
            _ => continue,
        };
        match ws::classify(text.as_str()) {
            Frame::Hello { seq, info } => {
                fresh = true;
                let mut s = u.state();
                s.conn_id = Some(info.connection_id).filter(|c| !c.is_empty());
                s.node = Some(info.node_id).filter(|n| !n.is_empty());
                s.last_seq = seq;
            }
            Frame::Reply { seq_reply: PING_SEQ, node_id, .. } => {
                let mut s = u.state();
                if let Some(n) = node_id {
                    s.node = Some(n);
                }
                s.url = url;
                return Ok(fresh);
            }
            Frame::Reply { .. } => {}
            Frame::Posted { seq, post } => on_posted(ctx, u, seq, post, !fresh),
            Frame::Event { seq } => u.state().last_seq = seq,
            Frame::Unknown => {}
        }
    }
}

async fn read_loop(ctx: &Ctx, u: &UserShared, sock: &mut Ws, cmds: &mut mpsc::Receiver<ConnCmd>) -> Ended {
    // Action seqs: the resume handshake used 1.
    let mut action_seq: i64 = 2;
    loop {
        tokio::select! {
            msg = sock.next() => match msg {
                Some(Ok(Message::Text(t))) => match ws::classify(t.as_str()) {
                    Frame::Posted { seq, post } => on_posted(ctx, u, seq, post, false),
                    Frame::Event { seq } | Frame::Hello { seq, .. } => u.state().last_seq = seq,
                    Frame::Reply { .. } | Frame::Unknown => {}
                },
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return Ended::Lost,
                Some(Ok(_)) => {}
            },
            c = cmds.recv() => match c {
                Some(ConnCmd::Typing { channel_id, parent_id }) => {
                    let frame = json!({
                        "seq": action_seq,
                        "action": "user_typing",
                        "data": {"channel_id": channel_id, "parent_id": parent_id},
                    });
                    action_seq += 1;
                    if sock.send(Message::Text(frame.to_string().into())).await.is_err() {
                        return Ended::Lost;
                    }
                    ctx.stats().totals.typing_sent += 1;
                }
                Some(ConnCmd::Reconnect) => return Ended::Reconnect,
                Some(ConnCmd::Close) | None => return Ended::Close,
            },
        }
    }
}

/// A `posted` event: account for it, time it if it is one of this run's posts.
fn on_posted(ctx: &Ctx, u: &UserShared, seq: i64, post: ws::PostedPost, replayed: bool) {
    let now = now_us();
    let stamp = ws::parse_stamp(&post.message, &ctx.plan.run_id);
    let mut s = u.state();
    if seq >= 0 {
        s.last_seq = seq;
    }
    remember(&mut s, &post.channel_id, &post.id, &post.root_id, &post.user_id);
    let Some((_, sent_us)) = stamp else { return };
    if ctx.drop_one.load(Ordering::Relaxed) && ctx.drop_one.swap(false, Ordering::Relaxed) {
        s.book.drop_next = true;
    }
    if !s.book.live(&post.id) {
        return;
    }
    let placement = if replayed {
        Placement::Replayed
    } else {
        match (ws::stamp_node(&post.message), s.node.as_deref()) {
            (Some(from), Some(to)) if from == to => Placement::SameNode,
            (Some(_), Some(_)) => Placement::CrossNode,
            _ => Placement::Unknown,
        }
    };
    drop(s);
    ctx.stats().delivery(now - sent_us, placement);
}

fn remember(s: &mut State, channel_id: &str, post_id: &str, root_id: &str, user_id: &str) {
    if root_id.is_empty() {
        let roots = s.roots.entry(channel_id.to_owned()).or_default();
        if !roots.iter().any(|r| r == post_id) {
            if roots.len() == KEEP {
                roots.pop_front();
            }
            roots.push_back(post_id.to_owned());
        }
    }
    if !user_id.is_empty() && !s.seen_users.iter().any(|x| x == user_id) {
        if s.seen_users.len() == KEEP {
            s.seen_users.pop_front();
        }
        s.seen_users.push_back(user_id.to_owned());
    }
}

/// After a fresh `hello` that followed a lost socket: every post of the user's channels since
/// `since_ms`, over REST.
async fn catch_up(ctx: &Ctx, u: &UserShared, since_ms: i64) {
    for ch in &u.channels {
        let mut since = since_ms;
        for _page in 0..CATCH_UP_PAGES {
            let path = format!("/channels/{ch}/posts?since={since}");
            let mut got = None;
            // A client retries its catch-up (bounded): a failed one would otherwise read as loss.
            for attempt in 0..CATCH_UP_ATTEMPTS {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
                }
                let url = u.state().url;
                ctx.stats().totals.catchup_requests += 1;
                got = rest::call(ctx, url, &u.token, Method::GET, &path, Body::None, rest::CATCH_UP).await;
                if got.is_some() {
                    break;
                }
            }
            let Some(v) = got else {
                ctx.stats().error_sample(format!("catch-up of channel {ch} failed {CATCH_UP_ATTEMPTS} times"));
                break;
            };
            let list = rest::post_list(v);
            let mut newest = since;
            let mut added = 0;
            {
                let mut s = u.state();
                for p in list.posts.values() {
                    newest = newest.max(p.update_at);
                    if p.channel_id == *ch
                        && ws::parse_stamp(&p.message, &ctx.plan.run_id).is_some()
                        && s.book.rest(&p.id)
                    {
                        added += 1;
                    }
                }
            }
            ctx.stats().totals.caught_up_posts += added;
            if !list.has_next || newest <= since {
                break;
            }
            since = newest;
        }
    }
}

/// The action loop: a staggered start, then actions separated by idle pauses, until stopped.
async fn act_loop(ctx: Arc<Ctx>, u: Arc<UserShared>, mut stop: watch::Receiver<bool>, mut rng: StdRng) {
    let mut go = ctx.go.clone();
    tokio::select! {
        r = go.wait_for(|g| *g) => if r.is_err() { return },
        _ = stop.wait_for(|s| *s) => return,
    }
    ctx.acting.fetch_add(1, Ordering::Relaxed);
    let stagger = Duration::from_millis(rng.gen_range(0..=ctx.plan.pause_mean_ms.max(1)));
    let mut pause = stagger;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        if *stop.borrow() {
            break;
        }
        let action = ctx.plan.mix.pick(rng.gen());
        *u.state().actions.entry(action).or_default() += 1;
        act(&ctx, &u, action, &mut rng).await;
        pause = idle_pause(&mut rng, ctx.plan.pause_min_ms, ctx.plan.pause_mean_ms);
    }
    ctx.acting.fetch_sub(1, Ordering::Relaxed);
}

/// The minimum plus an exponential draw, so the mean is `mean_ms`.
fn idle_pause(rng: &mut StdRng, min_ms: u64, mean_ms: u64) -> Duration {
    let extra = mean_ms.saturating_sub(min_ms) as f64;
    let u: f64 = rng.gen_range(f64::MIN_POSITIVE..1.0);
    let ms = min_ms as f64 + (-u.ln() * extra).min(extra * 20.0);
    Duration::from_micros((ms * 1000.0) as u64)
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> Option<&'a T> {
    (!items.is_empty()).then(|| &items[rng.gen_range(0..items.len())])
}

async fn act(ctx: &Ctx, u: &UserShared, action: Action, rng: &mut StdRng) {
    let Some(channel) = pick(rng, &u.channels).cloned() else { return };
    let url = u.state().url;
    match action {
        Action::Fetch => {
            fetch(ctx, u, url, &channel, None).await;
            view(ctx, u, url, &channel).await;
        }
        Action::Scroll => {
            let before = u.state().oldest.get(&channel).cloned();
            fetch(ctx, u, url, &channel, Some(before)).await
        }
        Action::Post => create_post(ctx, u, url, &channel, rng).await,
        Action::Unread => {
            let path = format!("/users/me/teams/{}/channels", ctx.plan.team_id);
            rest::call(ctx, url, &u.token, Method::GET, &path, Body::None, rest::MY_CHANNELS).await;
            let path = format!("/users/me/teams/{}/channels/members", ctx.plan.team_id);
            rest::call(ctx, url, &u.token, Method::GET, &path, Body::None, rest::MY_MEMBERS).await;
        }
        Action::Dm => {
            let other = {
                let s = u.state();
                let others: Vec<&String> = s.seen_users.iter().filter(|x| **x != u.user_id).collect();
                pick(rng, &others).map(|x| (*x).clone())
            };
            let Some(other) = other else { return fetch(ctx, u, url, &channel, None).await };
            let body = Body::Json(json!([u.user_id, other]));
            let dm = rest::call(ctx, url, &u.token, Method::POST, "/channels/direct", body, rest::DIRECT).await;
            // The DM is not one of the user's tracked channels: read it, do not remember its posts.
            if let Some(id) = dm.as_ref().and_then(|v| v["id"].as_str()) {
                let path = format!("/channels/{id}/posts?page=0&per_page=30");
                rest::call(ctx, url, &u.token, Method::GET, &path, Body::None, rest::FETCH).await;
                view(ctx, u, url, id).await;
            }
        }
        Action::Thread => {
            let root = {
                let s = u.state();
                let roots: Vec<&String> = s.roots.values().flatten().collect();
                pick(rng, &roots).map(|r| (*r).clone())
            };
            match root {
                Some(root) => {
                    let path = format!("/posts/{root}/thread");
                    rest::call(ctx, url, &u.token, Method::GET, &path, Body::None, rest::THREAD).await;
                }
                None => fetch(ctx, u, url, &channel, None).await,
            }
        }
        Action::React => {
            let post = {
                let s = u.state();
                let roots: Vec<&String> = s.roots.get(&channel).map(|r| r.iter().collect()).unwrap_or_default();
                pick(rng, &roots).map(|r| (*r).clone())
            };
            let Some(post) = post else { return fetch(ctx, u, url, &channel, None).await };
            let emoji = *pick(rng, &REACTIONS).unwrap_or(&"+1");
            if rng.gen_bool(0.25) {
                let path = format!("/users/me/posts/{post}/reactions/{emoji}");
                rest::call(ctx, url, &u.token, Method::DELETE, &path, Body::None, rest::UNREACT).await;
            } else {
                let body = Body::Json(json!({"user_id": u.user_id, "post_id": post, "emoji_name": emoji}));
                rest::call(ctx, url, &u.token, Method::POST, "/reactions", body, rest::REACT).await;
            }
        }
        Action::ThreadRead => {
            let team = &ctx.plan.team_id;
            let path = format!("/users/me/teams/{team}/threads?per_page=25&extended=false");
            let Some(list) = rest::call(ctx, url, &u.token, Method::GET, &path, Body::None, rest::THREADS).await else {
                return;
            };
            let unread: Vec<&str> = list["threads"]
                .as_array()
                .map(|ts| {
                    ts.iter()
                        .filter(|t| t["unread_replies"].as_i64().unwrap_or(0) > 0)
                        .filter_map(|t| t["id"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            if let Some(thread) = pick(rng, &unread) {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64);
                let path = format!("/users/me/teams/{team}/threads/{thread}/read/{now}");
                rest::call(ctx, url, &u.token, Method::PUT, &path, Body::None, rest::THREAD_READ).await;
            }
        }
        Action::Reconnect => {
            u.state().counters.reconnect_actions += 1;
            // A full queue means the connection task is busy reconnecting already.
            drop(u.cmd.try_send(ConnCmd::Reconnect));
        }
        Action::Status | Action::Profiles => {
            let ids: Vec<String> = {
                let s = u.state();
                let mut ids: Vec<String> = s.seen_users.iter().rev().take(5).cloned().collect();
                if ids.is_empty() {
                    ids.push(u.user_id.clone());
                }
                ids
            };
            let (path, endpoint) = if action == Action::Status {
                ("/users/status/ids", rest::STATUSES)
            } else {
                ("/users/ids", rest::PROFILES)
            };
            rest::call(ctx, url, &u.token, Method::POST, path, Body::Json(json!(ids)), endpoint).await;
        }
    }
}

/// Mark a channel viewed, as the apps do on every channel switch.
async fn view(ctx: &Ctx, u: &UserShared, url: usize, channel: &str) {
    let body = Body::Json(json!({"channel_id": channel, "collapsed_threads_supported": true}));
    rest::call(ctx, url, &u.token, Method::POST, "/channels/members/me/view", body, rest::VIEW).await;
}

/// Newest page of a channel, or (scroll) the page before `before`.
async fn fetch(ctx: &Ctx, u: &UserShared, url: usize, channel: &str, before: Option<Option<String>>) {
    let (path, endpoint) = match &before {
        None => (format!("/channels/{channel}/posts?page=0&per_page=30"), rest::FETCH),
        Some(Some(b)) => (format!("/channels/{channel}/posts?before={b}&per_page=30"), rest::SCROLL),
        Some(None) => (format!("/channels/{channel}/posts?page=1&per_page=30"), rest::SCROLL),
    };
    let Some(v) = rest::call(ctx, url, &u.token, Method::GET, &path, Body::None, endpoint).await else { return };
    let list = rest::post_list(v);
    let mut s = u.state();
    if let Some(oldest) = list.order.last() {
        s.oldest.insert(channel.to_owned(), oldest.clone());
    }
    for id in list.order.iter().take(KEEP) {
        if let Some(p) = list.posts.get(id) {
            remember(&mut s, &p.channel_id, &p.id, &p.root_id, &p.user_id);
        }
    }
}

async fn create_post(ctx: &Ctx, u: &UserShared, url: usize, channel: &str, rng: &mut StdRng) {
    let root = if rng.gen_bool(ctx.plan.reply_share.clamp(0.0, 1.0)) {
        let s = u.state();
        let roots: Vec<&String> = s.roots.get(channel).map(|r| r.iter().collect()).unwrap_or_default();
        pick(rng, &roots).map(|r| (*r).clone())
    } else {
        None
    };
    let mut file_ids = Vec::new();
    if rng.gen_bool(ctx.plan.file_share.clamp(0.0, 1.0)) {
        let bytes: Vec<u8> = (0..ctx.plan.file_size).map(|_| rng.gen()).collect();
        let part = reqwest::multipart::Part::bytes(bytes).file_name("bench.bin");
        let form = reqwest::multipart::Form::new().text("channel_id", channel.to_owned()).part("files", part);
        let path = format!("/files?channel_id={channel}");
        if let Some(v) = rest::call(ctx, url, &u.token, Method::POST, &path, Body::Form(form), rest::UPLOAD).await {
            if let Some(id) = v["file_infos"][0]["id"].as_str() {
                file_ids.push(id.to_owned());
                ctx.stats().totals.files += 1;
            }
        }
    }
    let typing = ConnCmd::Typing { channel_id: channel.to_owned(), parent_id: root.clone().unwrap_or_default() };
    // No socket right now (reconnecting): the post goes out without a typing event, as a client's would.
    drop(u.cmd.try_send(typing));
    let started_us = now_us();
    let node = ctx.plan.nodes.get(url).cloned().flatten();
    let message = ws::stamp_with_node(&ctx.plan.run_id, ctx.next_post_seq(), started_us, node.as_deref());
    let body = json!({
        "channel_id": channel,
        "message": message,
        "root_id": root.clone().unwrap_or_default(),
        "file_ids": file_ids,
    });
    let created = rest::call(ctx, url, &u.token, Method::POST, "/posts", Body::Json(body), rest::CREATE_POST).await;
    let completed_us = now_us();
    let id = created.as_ref().and_then(|v| v["id"].as_str()).map(str::to_owned);
    let Some(id) = id else {
        ctx.stats().totals.posts_failed += 1;
        return;
    };
    {
        let mut s = u.state();
        remember(&mut s, channel, &id, root.as_deref().unwrap_or(""), &u.user_id);
    }
    let mut st = ctx.stats();
    if root.is_some() {
        st.totals.replies += 1;
    }
    st.post_created(CreatedPost { id, channel_id: channel.to_owned(), started_us, completed_us });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_have_the_asked_mean_and_minimum() {
        let mut rng = StdRng::seed_from_u64(7);
        let n = 20_000;
        let v: Vec<f64> = (0..n).map(|_| idle_pause(&mut rng, 1_000, 20_000).as_secs_f64()).collect();
        let mean = v.iter().sum::<f64>() / n as f64;
        assert!(v.iter().all(|&x| x >= 1.0));
        assert!((mean - 20.0).abs() < 1.0, "mean {mean}");
    }

    #[test]
    fn backoff_is_bounded() {
        let mut rng = StdRng::seed_from_u64(1);
        for f in 0..40 {
            assert!(backoff(&mut rng, 500, f) <= MAX_BACKOFF);
        }
    }
}
