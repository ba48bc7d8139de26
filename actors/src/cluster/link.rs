//! A link: one byte stream between two nodes, after the handshake, carrying sealed batches of
//! envelopes. Written once for both directions: [`dial`] (a [`super::peer::ClusterPeer`] reaching
//! its node) and [`accept`] (the gossip listener) both end in an [`Established`] link whose
//! [`LinkReader`] yields decoded batches and whose [`LinkWriter`] seals and queues them.
//!
//! Streams come from a [`Transport`]: TCP in production, [`super::memory::MemoryNetwork`] in tests
//! (the same handshake, framing, compression and sealing over in-memory pipes, with faults).

use super::node::{NodeInfo, TransportSettings};
use futures_util::future::BoxFuture;
use starling_protocol::envelope::{Opener, Sealer};
use starling_protocol::frame::{parse_header, FrameHeader, FrameKind, HEADER_LEN, MAX_BODY};
use starling_protocol::handshake::{
    negotiate, open_handshake, seal_hello, seal_refuse, seal_welcome, session_keys, HandshakeFrame, Hello, Welcome,
};
use starling_protocol::message::{decode_batch, encode_batch, Decoded, Envelope};
use starling_protocol::ProtocolError;
use std::io;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::mpsc;

/// Handshake frames are small; bigger ones are refused before they are read.
pub const MAX_HANDSHAKE: usize = 64 * 1024;
/// How long either side waits for the other's half of the handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);
/// Sealed frames waiting for the socket, per link.
pub const WRITE_QUEUE: usize = 128;

/// A byte stream a link runs over.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}
pub type BoxStream = Box<dyn Stream>;

/// How this node reaches a peer's gossip address.
pub trait Transport: Send + Sync + 'static {
    fn dial(&self, addr: &str) -> BoxFuture<'static, io::Result<BoxStream>>;
}

/// Where the gossip listener takes peers' streams from.
pub trait Listener: Send + 'static {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<BoxStream>>;
}

/// Links over TCP, with Nagle off (small frames back to back).
pub struct Tcp;

impl Transport for Tcp {
    fn dial(&self, addr: &str) -> BoxFuture<'static, io::Result<BoxStream>> {
        let addr = addr.to_owned();
        Box::pin(async move {
            let stream = tokio::net::TcpStream::connect(addr).await?;
            let _ = stream.set_nodelay(true); // a slower link, not a broken one
            Ok(Box::new(stream) as BoxStream)
        })
    }
}

impl Listener for tokio::net::TcpListener {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<BoxStream>> {
        Box::pin(async move {
            let (stream, _) = tokio::net::TcpListener::accept(self).await?;
            let _ = stream.set_nodelay(true);
            Ok(Box::new(stream) as BoxStream)
        })
    }
}

/// Why a link could not be made or ended.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("connect: {0}")]
    Connect(io::Error),
    /// The stream ended (the peer closed it, or its process died).
    #[error("closed: {0}")]
    Closed(io::Error),
    /// The peer's bytes were refused.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The peer refused us, and said why.
    #[error("refused by the peer: {0}")]
    Refused(String),
    /// We refused the peer (after telling it why).
    #[error("peer refused: {0}")]
    RefusedPeer(String),
    #[error("{0} timed out")]
    Timeout(&'static str),
    /// A frame that is not a Data frame after the handshake, or not a handshake frame before.
    #[error("unexpected {0} frame")]
    UnexpectedFrame(&'static str),
}

impl LinkError {
    /// A constant label for the `rejected` counter; `None` for an ordinary close.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            LinkError::Protocol(e) => Some(e.reason()),
            LinkError::RefusedPeer(_) => Some("handshake"),
            LinkError::Timeout(_) => Some("handshake"),
            LinkError::UnexpectedFrame(_) => Some("kind"),
            LinkError::Connect(_) | LinkError::Closed(_) | LinkError::Refused(_) => None,
        }
    }
}

/// Read one whole frame (header included), refusing bodies over `max` before reading them.
async fn read_frame(reader: &mut (impl AsyncRead + Unpin), max: usize) -> Result<(FrameHeader, Vec<u8>), LinkError> {
    let mut head = [0u8; HEADER_LEN];
    reader.read_exact(&mut head).await.map_err(LinkError::Closed)?;
    let (header, total) = match parse_header(&head)? {
        Some(h) => h,
        None => return Err(ProtocolError::Decode("short header".into()).into()),
    };
    if total > max + HEADER_LEN {
        return Err(ProtocolError::TooLong((total - HEADER_LEN) as u32).into());
    }
    let mut frame = vec![0u8; total];
    frame[..HEADER_LEN].copy_from_slice(&head);
    reader.read_exact(&mut frame[HEADER_LEN..]).await.map_err(LinkError::Closed)?;
    Ok((header, frame))
}

/// The receiving half of a link.
pub struct LinkReader {
    reader: ReadHalf<BoxStream>,
    opener: Opener,
}

impl LinkReader {
    /// The next batch the peer sent, decoded. Any error ends the link.
    pub async fn read_batch(&mut self) -> Result<Vec<Decoded>, LinkError> {
        let (header, frame) = read_frame(&mut self.reader, MAX_BODY as usize).await?;
        if header.kind != FrameKind::Data {
            return Err(LinkError::UnexpectedFrame(header.kind.name()));
        }
        let payload = self.opener.open(&header, &frame)?;
        Ok(decode_batch(&payload)?)
    }
}

/// Why a batch was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotSent {
    /// [`WRITE_QUEUE`] frames are waiting for the socket: try again later.
    Full,
    /// The link is gone.
    Closed,
}

/// The sending half of a link: seals batches and queues them for a writer task.
pub struct LinkWriter {
    frames: mpsc::Sender<Vec<u8>>,
    sealer: Sealer,
}

impl LinkWriter {
    /// Seal `batch` into one frame and queue it. A frame is sealed only once there is room for it,
    /// so a full queue never skips a frame counter.
    pub fn try_send(&mut self, batch: &[Envelope]) -> Result<(), NotSent> {
        let permit = self.frames.try_reserve().map_err(|e| match e {
            mpsc::error::TrySendError::Full(()) => NotSent::Full,
            mpsc::error::TrySendError::Closed(()) => NotSent::Closed,
        })?;
        permit.send(self.sealer.seal(&encode_batch(batch)));
        Ok(())
    }

    pub fn is_closed(&self) -> bool {
        self.frames.is_closed()
    }
}

/// A link after a successful handshake.
pub struct Established {
    pub reader: LinkReader,
    pub writer: LinkWriter,
    /// The other node, as it described itself.
    pub remote: Hello,
    /// The protocol version both sides speak on it.
    pub version: u16,
}

fn establish(stream: BoxStream, opener: Opener, sealer: Sealer, remote: Hello, version: u16) -> Established {
    let (reader, writer) = tokio::io::split(stream);
    let (tx, rx) = mpsc::channel(WRITE_QUEUE);
    tokio::spawn(write_frames(writer, rx));
    Established { reader: LinkReader { reader, opener }, writer: LinkWriter { frames: tx, sealer }, remote, version }
}

async fn write_frames(mut writer: WriteHalf<BoxStream>, mut frames: mpsc::Receiver<Vec<u8>>) {
    while let Some(frame) = frames.recv().await {
        if writer.write_all(&frame).await.is_err() {
            return;
        }
    }
    let _ = writer.shutdown().await; // the peer may be gone already
}

/// Dial `addr`, say hello, check the welcome (its version must be one both sides speak).
pub async fn dial(
    transport: &dyn Transport,
    addr: &str,
    me: &NodeInfo,
    settings: &TransportSettings,
) -> Result<Established, LinkError> {
    let mut stream = transport.dial(addr).await.map_err(LinkError::Connect)?;
    let hello = me.hello();
    let random = hello.random;
    stream.write_all(&seal_hello(&settings.key, &me.cluster_name, &hello)).await.map_err(LinkError::Closed)?;
    let (header, frame) = tokio::time::timeout(HANDSHAKE_TIMEOUT, read_frame(&mut stream, MAX_HANDSHAKE))
        .await
        .map_err(|_| LinkError::Timeout("handshake"))??;
    match open_handshake(&settings.key, &me.cluster_name, &header, &frame)? {
        HandshakeFrame::Welcome(w) => {
            // An acceptor of an older build may not check app versions: this side does as well.
            if let Some(reason) = super::node::version_refusal(&me.app_version, &w.hello.app_version) {
                return Err(LinkError::RefusedPeer(reason));
            }
            // The acceptor chose; a version we do not speak (or it does not) is a broken peer.
            let ours = negotiate(me.protocol, (w.hello.min_version, w.hello.max_version))?;
            if w.version != ours {
                return Err(ProtocolError::Handshake(format!(
                    "the peer chose protocol version {}, but the highest both speak is {ours}",
                    w.version
                ))
                .into());
            }
            let (out_key, in_key) = session_keys(&settings.key, &random, &w.hello.random);
            let sealer = Sealer::new(out_key, &me.cluster_name, settings.encrypt, settings.compress);
            let opener = Opener::new(in_key, &me.cluster_name);
            Ok(establish(stream, opener, sealer, w.hello, w.version))
        }
        HandshakeFrame::Refuse(reason) => Err(LinkError::Refused(reason)),
        HandshakeFrame::Hello(_) => Err(LinkError::UnexpectedFrame("hello")),
    }
}

/// Take a peer's hello on an accepted stream, and welcome it or refuse it (saying why).
pub async fn accept(
    mut stream: BoxStream,
    me: &NodeInfo,
    settings: &TransportSettings,
) -> Result<Established, LinkError> {
    let (header, frame) = tokio::time::timeout(HANDSHAKE_TIMEOUT, read_frame(&mut stream, MAX_HANDSHAKE))
        .await
        .map_err(|_| LinkError::Timeout("handshake"))??;
    // A wrong key or another cluster's name fails here: such a peer could not read a refusal.
    let hello = match open_handshake(&settings.key, &me.cluster_name, &header, &frame)? {
        HandshakeFrame::Hello(h) => h,
        HandshakeFrame::Welcome(_) => return Err(LinkError::UnexpectedFrame("welcome")),
        HandshakeFrame::Refuse(_) => return Err(LinkError::UnexpectedFrame("refuse")),
    };
    let chosen = negotiate(me.protocol, (hello.min_version, hello.max_version));
    let refusal = if hello.cluster_name != me.cluster_name {
        Some(format!("cluster name {:?} is not {:?}", hello.cluster_name, me.cluster_name))
    } else if hello.node_id == me.node_id {
        Some("that is this node".to_owned())
    } else if let Some(reason) = super::node::version_refusal(&me.app_version, &hello.app_version) {
        Some(reason)
    } else {
        chosen.as_ref().err().map(ToString::to_string)
    };
    if let Some(reason) = refusal {
        let _ = stream.write_all(&seal_refuse(&settings.key, &me.cluster_name, &reason)).await; // best effort
        return Err(LinkError::RefusedPeer(reason));
    }
    let version = chosen?;
    let mine = me.hello();
    let random = mine.random;
    let welcome = Welcome { hello: mine, version };
    stream.write_all(&seal_welcome(&settings.key, &me.cluster_name, &welcome)).await.map_err(LinkError::Closed)?;
    let (in_key, out_key) = session_keys(&settings.key, &hello.random, &random);
    let opener = Opener::new(in_key, &me.cluster_name);
    let sealer = Sealer::new(out_key, &me.cluster_name, settings.encrypt, settings.compress);
    Ok(establish(stream, opener, sealer, hello, version))
}
