//! `ClusterPeer`: this node's link to one remote node, reached at its gossip address.
//!
//! Reliable messages get increasing ids and stay queued until the peer acknowledges them; after a
//! reconnect to the same node process they are sent again (the receiver skips ids it has applied).
//! A peer process that restarted (new node id) starts with an empty queue: it loaded its state
//! fresh. Best-effort messages (pings, status updates) are dropped while the link is down.

use super::{
    now_ms, Cluster, ClusterCounters, HeardTable, IndirectProbe, LocalParts, NodeInfo, PeerStateChanged, PeerStatus,
    TransportSettings, DOWN_AFTER, PING_INTERVAL, RETRY_INTERVAL, SUSPECT_AFTER,
};
use actix::prelude::*;
use starling_protocol::envelope::{Opener, Sealer, MAX_PAYLOAD};
use starling_protocol::frame::{parse_header, FrameKind, HEADER_LEN};
use starling_protocol::handshake::{open_handshake, seal_hello, session_keys, HandshakeFrame, Hello, Welcome};
use starling_protocol::message::{decode_batch, encode_batch, ClusterMessage, Decoded, Envelope, Request, Response};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

/// Reliable messages kept for a peer at most; past that the oldest are dropped and the peer is
/// told to drop its caches when the link returns.
pub const MAX_UNACKED: usize = 100_000;
/// Envelopes per frame at most.
const BATCH_MAX: usize = 512;
/// Frames waiting for the socket at most.
const WRITE_QUEUE: usize = 128;
/// Handshake frames are small; refuse big ones before reading them.
pub const MAX_HANDSHAKE: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerState {
    Connecting,
    Up,
    Suspect,
    Down,
}

impl PeerState {
    pub fn as_str(&self) -> &'static str {
        match self {
            PeerState::Connecting => "connecting",
            PeerState::Up => "up",
            PeerState::Suspect => "suspect",
            PeerState::Down => "down",
        }
    }
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Enqueue {
    pub message: ClusterMessage,
    pub ack: Option<oneshot::Sender<()>>,
}

/// Send a request; the answer (with the peer's node id), or None on timeout or a down link.
#[derive(Message)]
#[rtype(result = "Option<(String, Response)>")]
pub struct Ask {
    pub request: Request,
    pub timeout: Duration,
}

#[derive(Message)]
#[rtype(result = "PeerStatus")]
pub struct GetStatus;

#[derive(Message)]
#[rtype(result = "()")]
pub struct RedialNow;

/// The peer announced a new config hash (it reloaded its config).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetRemoteConfigHash {
    pub config_hash: String,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct StopPeer;

#[derive(Message)]
#[rtype(result = "()")]
struct LinkUp {
    generation: u64,
    writer: mpsc::Sender<Vec<u8>>,
    sealer: Sealer,
    welcome: Welcome,
}

#[derive(Message)]
#[rtype(result = "()")]
struct LinkFailed {
    generation: u64,
    error: String,
}

#[derive(Message)]
#[rtype(result = "()")]
struct Incoming {
    generation: u64,
    items: Vec<Decoded>,
}

#[derive(Message)]
#[rtype(result = "()")]
struct Flush;

struct Link {
    writer: mpsc::Sender<Vec<u8>>,
    sealer: Sealer,
}

struct Pending {
    id: u64,
    message: ClusterMessage,
    ack: Option<oneshot::Sender<()>>,
}

pub struct ClusterPeer {
    addr: String,
    me: NodeInfo,
    transport: TransportSettings,
    cluster: Addr<Cluster>,
    _local: LocalParts,
    counters: Arc<ClusterCounters>,
    heard: HeardTable,
    log: slog::Logger,

    state: PeerState,
    reason: String,
    remote: Option<Hello>,
    generation: u64,
    link: Option<Link>,
    dialing: bool,
    next_id: u64,
    unacked: VecDeque<Pending>,
    sent_upto: u64,
    best_effort: Vec<ClusterMessage>,
    resync: bool,
    last_heard: Instant,
    vouched_at: Option<Instant>,
    probing: bool,
    next_req: u64,
    asks: HashMap<u64, oneshot::Sender<Response>>,
    flush_scheduled: bool,
    last_redial: Option<Instant>,
    stopping: bool,
}

impl ClusterPeer {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        addr: String,
        me: NodeInfo,
        transport: TransportSettings,
        cluster: Addr<Cluster>,
        local: LocalParts,
        counters: Arc<ClusterCounters>,
        heard: HeardTable,
        log: slog::Logger,
    ) -> Self {
        let log = log.new(slog::o!("peer_addr" => addr.clone()));
        Self {
            addr,
            me,
            transport,
            cluster,
            _local: local,
            counters,
            heard,
            log,
            state: PeerState::Connecting,
            reason: String::new(),
            remote: None,
            generation: 0,
            link: None,
            dialing: false,
            next_id: 1,
            unacked: VecDeque::new(),
            sent_upto: 0,
            best_effort: Vec::new(),
            resync: false,
            last_heard: Instant::now(),
            vouched_at: None,
            probing: false,
            next_req: 1,
            asks: HashMap::new(),
            flush_scheduled: false,
            last_redial: None,
            stopping: false,
        }
    }

    fn set_state(&mut self, state: PeerState, reason: &str) {
        if self.state == state && self.reason == reason {
            return;
        }
        let was = self.state;
        self.state = state;
        self.reason = reason.to_owned();
        if was != state {
            self.counters.peer_entered(state.as_str());
        }
        match state {
            PeerState::Down => slog::error!(self.log, "peer down"; "reason" => reason, "was" => was.as_str()),
            PeerState::Up if was != PeerState::Up => slog::info!(self.log, "peer up"),
            PeerState::Suspect => slog::warn!(self.log, "peer suspect"; "reason" => reason),
            _ => {}
        }
        self.cluster.do_send(PeerStateChanged { gossip_addr: self.addr.clone() });
    }

    fn dial(&mut self, ctx: &mut Context<Self>) {
        if self.dialing || self.stopping {
            return;
        }
        self.dialing = true;
        self.last_redial = Some(Instant::now());
        self.generation += 1;
        let generation = self.generation;
        let addr = self.addr.clone();
        let me = self.me.clone();
        let transport = self.transport.clone();
        let me_addr = ctx.address();
        let counters = self.counters.clone();
        actix::spawn(async move {
            match tokio::time::timeout(Duration::from_secs(3), connect(&addr, &me, &transport)).await {
                Ok(Ok((reader, writer, sealer, opener, welcome))) => {
                    let (tx, rx) = mpsc::channel(WRITE_QUEUE);
                    actix::spawn(write_frames(writer, rx));
                    actix::spawn(read_frames(reader, opener, generation, me_addr.clone(), counters));
                    me_addr.do_send(LinkUp { generation, writer: tx, sealer, welcome });
                }
                Ok(Err(error)) => me_addr.do_send(LinkFailed { generation, error }),
                Err(_) => me_addr.do_send(LinkFailed { generation, error: "connect timed out".into() }),
            }
        });
    }

    fn schedule_flush(&mut self, ctx: &mut Context<Self>) {
        if !self.flush_scheduled && self.link.is_some() {
            self.flush_scheduled = true;
            ctx.notify(Flush);
        }
    }

    fn flush(&mut self, ctx: &mut Context<Self>) {
        self.flush_scheduled = false;
        let Some(link) = self.link.as_mut() else { return };
        loop {
            let mut batch: Vec<Envelope> = self.best_effort.drain(..).map(|m| Envelope { id: 0, message: m }).collect();
            for p in self.unacked.iter().filter(|p| p.id > self.sent_upto) {
                if batch.len() >= BATCH_MAX {
                    break;
                }
                batch.push(Envelope { id: p.id, message: p.message.clone() });
            }
            if batch.is_empty() {
                return;
            }
            // Keep each frame under the payload limit: halve the batch until it fits.
            let mut n = batch.len();
            let mut payload = encode_batch(&batch[..n]);
            while payload.len() > MAX_PAYLOAD && n > 1 {
                n /= 2;
                payload = encode_batch(&batch[..n]);
            }
            // Best-effort envelopes come first; whatever did not fit of them is dropped.
            let upto = batch[..n].iter().map(|e| e.id).max().unwrap_or(0).max(self.sent_upto);
            if payload.len() > MAX_PAYLOAD {
                // One message larger than a frame can never be sent: drop it rather than wedge the link.
                slog::error!(self.log, "message too large for a frame, dropped"; "msg_type" => batch[0].message.name());
                self.sent_upto = upto;
                if batch[0].id != 0 {
                    self.unacked.retain(|p| p.id != batch[0].id);
                }
                continue;
            }
            let frame = link.sealer.seal(&payload);
            match link.writer.try_send(frame) {
                Ok(()) => {
                    self.sent_upto = upto;
                    self.counters.frames_sent.fetch_add(1, Ordering::Relaxed);
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    // The socket is behind: try again shortly (this batch's best-effort messages are dropped).
                    self.flush_scheduled = true;
                    ctx.notify_later(Flush, Duration::from_millis(2));
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            }
        }
    }

    fn link_lost(&mut self, error: &str, ctx: &mut Context<Self>) {
        self.link = None;
        self.generation += 1; // ignore the old reader
        for (_, tx) in self.asks.drain() {
            drop(tx);
        }
        if self.stopping {
            return;
        }
        match self.state {
            // A live link broke: redial at once; failing that, the peer is down.
            PeerState::Up | PeerState::Suspect => {
                slog::warn!(self.log, "peer link lost, redialling"; "error" => error);
                self.set_state(PeerState::Connecting, error);
                self.dial(ctx);
            }
            _ => {
                self.set_state(PeerState::Down, error);
            }
        }
    }

    fn status(&self) -> PeerStatus {
        let r = self.remote.as_ref();
        PeerStatus {
            gossip_addr: self.addr.clone(),
            node_id: r.map(|h| h.node_id.clone()).unwrap_or_default(),
            hostname: r.map(|h| h.hostname.clone()).unwrap_or_default(),
            app_version: r.map(|h| h.app_version.clone()).unwrap_or_default(),
            schema_version: r.map(|h| h.schema_version).unwrap_or_default(),
            config_hash: r.map(|h| h.config_hash.clone()).unwrap_or_default(),
            state: self.state,
            reason: self.reason.clone(),
            last_heard_ms: now_ms() - self.last_heard.elapsed().as_millis() as i64,
        }
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        match self.state {
            PeerState::Up | PeerState::Suspect => {
                self.best_effort.push(ClusterMessage::Ping { nonce: self.generation, sent_ms: now_ms() });
                self.schedule_flush(ctx);
                let silent = self.last_heard.elapsed();
                if silent > SUSPECT_AFTER && self.state == PeerState::Up {
                    self.set_state(PeerState::Suspect, "no answer to pings");
                }
                if self.state == PeerState::Suspect && !self.probing {
                    self.probing = true;
                    let node_id = self.remote.as_ref().map(|r| r.node_id.clone()).unwrap_or_default();
                    self.cluster
                        .send(IndirectProbe { node_id })
                        .into_actor(self)
                        .then(|res, act, _| {
                            act.probing = false;
                            if res.unwrap_or(false) {
                                act.vouched_at = Some(Instant::now());
                            }
                            fut::ready(())
                        })
                        .spawn(ctx);
                }
                let vouched = self.vouched_at.is_some_and(|t| t.elapsed() < DOWN_AFTER);
                if self.state == PeerState::Suspect && silent > DOWN_AFTER && !vouched {
                    self.link = None;
                    self.generation += 1;
                    self.set_state(PeerState::Down, "no answer to pings or indirect probes");
                }
            }
            PeerState::Down => {
                if self.last_redial.is_none_or(|t| t.elapsed() >= RETRY_INTERVAL) {
                    self.dial(ctx);
                }
            }
            PeerState::Connecting => {}
        }
    }
}

impl Actor for ClusterPeer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(usize::MAX >> 4);
        self.dial(ctx);
        ctx.run_interval(PING_INTERVAL, |act, ctx| act.tick(ctx));
    }
}

impl Handler<LinkUp> for ClusterPeer {
    type Result = ();
    fn handle(&mut self, msg: LinkUp, ctx: &mut Self::Context) {
        self.dialing = false;
        if msg.generation != self.generation || self.stopping {
            return;
        }
        let restarted = self.remote.as_ref().is_some_and(|r| r.node_id != msg.welcome.hello.node_id);
        if restarted {
            // A new process: what was queued for the old one is moot (it starts from the database).
            slog::info!(self.log, "peer restarted"; "node_id" => &msg.welcome.hello.node_id);
            self.unacked.clear();
        }
        self.remote = Some(msg.welcome.hello);
        self.link = Some(Link { writer: msg.writer, sealer: msg.sealer });
        self.sent_upto = 0; // everything still unacknowledged goes again
        self.last_heard = Instant::now();
        self.vouched_at = None;
        if let Some(r) = &self.remote {
            if let Ok(mut h) = self.heard.lock() {
                h.insert(r.node_id.clone(), Instant::now());
            }
        }
        if std::mem::take(&mut self.resync) {
            // Messages were dropped while it was away: have it drop its caches.
            let id = self.next_id;
            self.next_id += 1;
            self.unacked.push_back(Pending { id, message: ClusterMessage::InvalidateAllCaches, ack: None });
        }
        self.set_state(PeerState::Up, "");
        self.schedule_flush(ctx);
    }
}

impl Handler<LinkFailed> for ClusterPeer {
    type Result = ();
    fn handle(&mut self, msg: LinkFailed, ctx: &mut Self::Context) {
        if msg.generation != self.generation {
            return;
        }
        self.dialing = false;
        self.link_lost(&msg.error, ctx);
    }
}

impl Handler<Incoming> for ClusterPeer {
    type Result = ();
    fn handle(&mut self, msg: Incoming, _ctx: &mut Self::Context) {
        if msg.generation != self.generation {
            return;
        }
        self.last_heard = Instant::now();
        if self.state == PeerState::Suspect {
            self.set_state(PeerState::Up, "");
        }
        if let Some(r) = &self.remote {
            if let Ok(mut h) = self.heard.lock() {
                h.insert(r.node_id.clone(), Instant::now());
            }
        }
        for item in msg.items {
            match item {
                Decoded::Message(Envelope { message: ClusterMessage::Ack { up_to }, .. }) => {
                    while self.unacked.front().is_some_and(|p| p.id <= up_to) {
                        if let Some(p) = self.unacked.pop_front() {
                            if let Some(tx) = p.ack {
                                let _ = tx.send(()); // the waiter may have given up
                            }
                        }
                    }
                }
                Decoded::Message(Envelope { message: ClusterMessage::Response { req_id, response }, .. }) => {
                    if let Some(tx) = self.asks.remove(&req_id) {
                        let _ = tx.send(response); // the asker may have timed out
                    }
                }
                Decoded::Message(Envelope { message: ClusterMessage::Pong { .. }, .. }) => {}
                Decoded::Message(other) => {
                    slog::debug!(self.log, "unexpected message on outbound link"; "msg_type" => other.message.name());
                }
                Decoded::Unknown { type_id, .. } => {
                    slog::warn!(self.log, "unknown message type dropped"; "msg_type" => type_id);
                }
            }
        }
    }
}

impl Handler<Flush> for ClusterPeer {
    type Result = ();
    fn handle(&mut self, _msg: Flush, ctx: &mut Self::Context) {
        self.flush(ctx);
    }
}

impl Handler<Enqueue> for ClusterPeer {
    type Result = ();
    fn handle(&mut self, msg: Enqueue, ctx: &mut Self::Context) {
        if msg.message.is_reliable() {
            if self.unacked.len() >= MAX_UNACKED {
                self.unacked.pop_front();
                if !self.resync {
                    slog::warn!(self.log, "peer queue full, dropping oldest; caches will be reset");
                }
                self.resync = true;
            }
            let id = self.next_id;
            self.next_id += 1;
            self.unacked.push_back(Pending { id, message: msg.message, ack: msg.ack });
        } else if self.link.is_some() {
            self.best_effort.push(msg.message);
        }
        self.schedule_flush(ctx);
    }
}

impl Handler<Ask> for ClusterPeer {
    type Result = ResponseFuture<Option<(String, Response)>>;
    fn handle(&mut self, msg: Ask, ctx: &mut Self::Context) -> Self::Result {
        let node_id = self.remote.as_ref().map(|r| r.node_id.clone()).unwrap_or_default();
        if self.link.is_none() || !matches!(self.state, PeerState::Up | PeerState::Suspect) {
            return Box::pin(async { None });
        }
        let req_id = self.next_req;
        self.next_req += 1;
        let (tx, rx) = oneshot::channel();
        self.asks.insert(req_id, tx);
        self.best_effort.push(ClusterMessage::Request { req_id, request: msg.request });
        self.schedule_flush(ctx);
        let timeout = msg.timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(r)) => Some((node_id, r)),
                _ => None,
            }
        })
    }
}

impl Handler<GetStatus> for ClusterPeer {
    type Result = MessageResult<GetStatus>;
    fn handle(&mut self, _msg: GetStatus, _ctx: &mut Self::Context) -> Self::Result {
        MessageResult(self.status())
    }
}

impl Handler<SetRemoteConfigHash> for ClusterPeer {
    type Result = ();
    fn handle(&mut self, msg: SetRemoteConfigHash, _ctx: &mut Self::Context) {
        if let Some(r) = self.remote.as_mut() {
            r.config_hash = msg.config_hash;
        }
    }
}

impl Handler<RedialNow> for ClusterPeer {
    type Result = ();
    fn handle(&mut self, _msg: RedialNow, ctx: &mut Self::Context) {
        if self.link.is_none() {
            self.dial(ctx);
        }
    }
}

impl Handler<StopPeer> for ClusterPeer {
    type Result = ();
    fn handle(&mut self, _msg: StopPeer, ctx: &mut Self::Context) {
        self.stopping = true;
        self.link = None;
        ctx.stop();
    }
}

type Connected = (OwnedReadHalf, OwnedWriteHalf, Sealer, Opener, Welcome);

/// Dial, say hello, and derive the session keys.
async fn connect(addr: &str, me: &NodeInfo, t: &TransportSettings) -> Result<Connected, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let hello = me.hello();
    let random = hello.random;
    writer.write_all(&seal_hello(&t.key, &me.cluster_name, &hello)).await.map_err(|e| format!("send hello: {e}"))?;
    let (header, frame) = read_frame(&mut reader, MAX_HANDSHAKE).await.map_err(|e| format!("read welcome: {e}"))?;
    match open_handshake(&t.key, &me.cluster_name, &header, &frame).map_err(|e| format!("handshake: {e}"))? {
        HandshakeFrame::Welcome(w) => {
            let (out_key, in_key) = session_keys(&t.key, &random, &w.hello.random);
            let sealer = Sealer::new(out_key, &me.cluster_name, t.encrypt, t.compress);
            let opener = Opener::new(in_key, &me.cluster_name);
            Ok((reader, writer, sealer, opener, w))
        }
        HandshakeFrame::Refuse(reason) => Err(format!("refused: {reason}")),
        HandshakeFrame::Hello(_) => Err("handshake: unexpected hello".into()),
    }
}

pub(crate) fn rand_fill(buf: &mut [u8]) {
    use rand::RngCore;
    rand::rngs::OsRng.fill_bytes(buf);
}

/// Read one whole frame (header included), refusing bodies over `max` before reading them.
pub(crate) async fn read_frame(
    reader: &mut (impl AsyncReadExt + Unpin),
    max: usize,
) -> Result<(starling_protocol::frame::FrameHeader, Vec<u8>), String> {
    let mut head = [0u8; HEADER_LEN];
    reader.read_exact(&mut head).await.map_err(|e| e.to_string())?;
    let (header, total) = match parse_header(&head) {
        Ok(Some(h)) => h,
        Ok(None) => return Err("short header".into()),
        Err(e) => return Err(format!("{}: {e}", e.reason())),
    };
    if total > max + HEADER_LEN {
        return Err(format!("too_long: frame of {total} bytes"));
    }
    let mut frame = vec![0u8; total];
    frame[..HEADER_LEN].copy_from_slice(&head);
    reader.read_exact(&mut frame[HEADER_LEN..]).await.map_err(|e| e.to_string())?;
    Ok((header, frame))
}

async fn write_frames(mut writer: OwnedWriteHalf, mut rx: mpsc::Receiver<Vec<u8>>) {
    while let Some(frame) = rx.recv().await {
        if writer.write_all(&frame).await.is_err() {
            return;
        }
    }
    let _ = writer.shutdown().await;
}

async fn read_frames(
    mut reader: OwnedReadHalf,
    mut opener: Opener,
    generation: u64,
    peer: Addr<ClusterPeer>,
    counters: Arc<ClusterCounters>,
) {
    loop {
        let (header, frame) = match read_frame(&mut reader, starling_protocol::frame::MAX_BODY as usize).await {
            Ok(f) => f,
            Err(error) => {
                peer.do_send(LinkFailed { generation, error });
                return;
            }
        };
        if header.kind != FrameKind::Data {
            peer.do_send(LinkFailed { generation, error: "unexpected frame kind".into() });
            return;
        }
        let items = match opener.open(&header, &frame).and_then(|p| decode_batch(&p)) {
            Ok(items) => items,
            Err(e) => {
                counters.reject(e.reason());
                peer.do_send(LinkFailed { generation, error: format!("{}: {e}", e.reason()) });
                return;
            }
        };
        counters.frames_received.fetch_add(1, Ordering::Relaxed);
        peer.do_send(Incoming { generation, items });
    }
}
