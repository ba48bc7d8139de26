//! `MemoryNetwork`: links between nodes of one process over in-memory pipes, for tests and
//! simulations (as chitchat's `ChannelTransport` and TiKV's `SimulateTransport` do). Every byte
//! still goes through the real handshake, framing, compression and sealing; between the two
//! ends a relay reads whole frames (with the real frame parser) and applies the faults set for
//! that direction: a partition (frames vanish, the link goes silent, new dials hang), dropped
//! frames, delay, reordering, or a killed node (its links close, dials are refused).
//!
//! With `tokio::time::pause()` these scenarios run in milliseconds.

use super::link::{BoxStream, Listener, Transport};
use futures_util::future::BoxFuture;
use starling_protocol::frame::{parse_header, HEADER_LEN};
use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::{mpsc, watch};

/// Bytes buffered in each direction of a pipe (like a socket buffer).
const PIPE_BUFFER: usize = 256 * 1024;
/// Streams a listener holds before its node accepts them.
const BACKLOG: usize = 64;

/// What happens to frames going one way between two addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fault {
    /// Frames vanish and new dials hang: a partition, or a hung host.
    pub silent: bool,
    /// Drop one frame in this many (0: none). A sealed link notices the gap and is re-made.
    pub drop_one_in: u32,
    /// Hold every frame this long (in order).
    pub delay: Duration,
    /// Swap each pair of frames. A sealed link notices and is re-made.
    pub reorder: bool,
}

#[derive(Default)]
struct Inner {
    listeners: HashMap<String, mpsc::Sender<BoxStream>>,
    /// By (from, to).
    faults: HashMap<(String, String), Fault>,
    killed: HashSet<String>,
    /// Open pipes: their two ends' addresses and the switch that closes them.
    pipes: Vec<(String, String, watch::Sender<bool>)>,
}

/// An in-memory network. Cheap to clone; clones share the network.
#[derive(Clone, Default)]
pub struct MemoryNetwork {
    inner: Arc<Mutex<Inner>>,
}

/// A node's side of the network: its gossip address.
pub struct MemoryTransport {
    net: MemoryNetwork,
    from: String,
}

/// The streams dialled to one address.
pub struct MemoryListener {
    streams: mpsc::Receiver<BoxStream>,
}

impl MemoryNetwork {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Listen on `addr` (a name; nothing is bound). Replaces an earlier listener there.
    pub fn listen(&self, addr: &str) -> MemoryListener {
        let (tx, rx) = mpsc::channel(BACKLOG);
        let mut inner = self.lock();
        inner.listeners.insert(addr.to_owned(), tx);
        inner.killed.remove(addr);
        MemoryListener { streams: rx }
    }

    /// How the node at `from` dials the others.
    pub fn transport(&self, from: &str) -> Arc<dyn Transport> {
        Arc::new(MemoryTransport { net: self.clone(), from: from.to_owned() })
    }

    /// Set what happens to frames from `from` to `to` (one direction).
    pub fn set_fault(&self, from: &str, to: &str, fault: Fault) {
        self.lock().faults.insert((from.to_owned(), to.to_owned()), fault);
    }

    /// Cut `a` and `b` apart, both ways: their links go silent and new dials hang.
    pub fn partition(&self, a: &str, b: &str) {
        let silent = Fault { silent: true, ..Fault::default() };
        self.set_fault(a, b, silent.clone());
        self.set_fault(b, a, silent);
    }

    /// Remove every fault between `a` and `b`.
    pub fn heal(&self, a: &str, b: &str) {
        let mut inner = self.lock();
        inner.faults.remove(&(a.to_owned(), b.to_owned()));
        inner.faults.remove(&(b.to_owned(), a.to_owned()));
    }

    /// The node at `addr` died: its links close at once and dials to it are refused, until it
    /// listens again.
    pub fn kill(&self, addr: &str) {
        let mut inner = self.lock();
        inner.killed.insert(addr.to_owned());
        inner.listeners.remove(addr);
        inner.pipes.retain(|(a, b, close)| {
            let hit = a == addr || b == addr;
            if hit {
                let _ = close.send(true); // the relay may have ended already
            }
            !hit
        });
    }

    fn fault(&self, from: &str, to: &str) -> Fault {
        self.lock().faults.get(&(from.to_owned(), to.to_owned())).cloned().unwrap_or_default()
    }

    fn dial(&self, from: String, to: String) -> BoxFuture<'static, io::Result<BoxStream>> {
        let net = self.clone();
        Box::pin(async move {
            if net.fault(&from, &to).silent {
                // No answer at all: the dialler's own timeout ends this.
                std::future::pending::<()>().await;
            }
            let listener = {
                let inner = net.lock();
                if inner.killed.contains(&to) || inner.killed.contains(&from) {
                    None
                } else {
                    inner.listeners.get(&to).cloned()
                }
            };
            let Some(listener) = listener else {
                return Err(io::Error::from(io::ErrorKind::ConnectionRefused));
            };
            let (dialler_end, relay_near) = tokio::io::duplex(PIPE_BUFFER);
            let (relay_far, acceptor_end) = tokio::io::duplex(PIPE_BUFFER);
            let (close, closed) = watch::channel(false);
            net.lock().pipes.push((from.clone(), to.clone(), close));
            let (near_read, near_write) = tokio::io::split(relay_near);
            let (far_read, far_write) = tokio::io::split(relay_far);
            tokio::spawn(relay(net.clone(), from.clone(), to.clone(), near_read, far_write, closed.clone()));
            tokio::spawn(relay(net.clone(), to, from, far_read, near_write, closed));
            listener
                .send(Box::new(acceptor_end))
                .await
                .map_err(|_| io::Error::from(io::ErrorKind::ConnectionRefused))?;
            Ok(Box::new(dialler_end) as BoxStream)
        })
    }
}

impl Transport for MemoryTransport {
    fn dial(&self, addr: &str) -> BoxFuture<'static, io::Result<BoxStream>> {
        self.net.dial(self.from.clone(), addr.to_owned())
    }
}

impl Listener for MemoryListener {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<BoxStream>> {
        Box::pin(async move {
            match self.streams.recv().await {
                Some(s) => Ok(s),
                // The node was killed (or listens elsewhere now): it accepts nothing more.
                None => std::future::pending().await,
            }
        })
    }
}

/// Read one whole frame, or None at the end of the stream.
async fn read_frame(r: &mut tokio::io::ReadHalf<DuplexStream>) -> Option<Vec<u8>> {
    let mut head = [0u8; HEADER_LEN];
    r.read_exact(&mut head).await.ok()?;
    let total = match parse_header(&head) {
        Ok(Some((_, total))) => total,
        // Not a frame: pass the bytes on and let the receiver refuse them.
        _ => return Some(head.to_vec()),
    };
    let mut frame = vec![0u8; total];
    frame[..HEADER_LEN].copy_from_slice(&head);
    r.read_exact(&mut frame[HEADER_LEN..]).await.ok()?;
    Some(frame)
}

/// Carry frames from `from` to `to`, applying the fault set for that direction at each frame.
async fn relay(
    net: MemoryNetwork,
    from: String,
    to: String,
    mut r: tokio::io::ReadHalf<DuplexStream>,
    mut w: tokio::io::WriteHalf<DuplexStream>,
    mut closed: watch::Receiver<bool>,
) {
    let mut count: u64 = 0;
    let mut held: Option<Vec<u8>> = None;
    loop {
        let frame = tokio::select! {
            f = read_frame(&mut r) => f,
            _ = closed.changed() => None,
        };
        let Some(frame) = frame else { break };
        count += 1;
        let fault = net.fault(&from, &to);
        if fault.silent || (fault.drop_one_in > 0 && count.is_multiple_of(u64::from(fault.drop_one_in))) {
            continue;
        }
        if !fault.delay.is_zero() {
            tokio::time::sleep(fault.delay).await;
        }
        let out = if fault.reorder {
            match held.take() {
                None => {
                    held = Some(frame);
                    continue;
                }
                Some(first) => [frame, first].concat(),
            }
        } else {
            frame
        };
        if w.write_all(&out).await.is_err() {
            break;
        }
    }
    let _ = w.shutdown().await; // the other end may be gone already
                                // Forget pipes whose relays have both ended.
    net.lock().pipes.retain(|(_, _, close)| !close.is_closed());
}
