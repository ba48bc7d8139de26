//! Why a frame or a message from a peer was refused.

/// Every way bytes from a peer can be refused. None of them panics; the caller logs the error,
/// counts it under [`ProtocolError::reason`] and, for anything but [`ProtocolError::Handshake`]
/// refusals it sends itself, drops the connection.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum ProtocolError {
    /// The first bytes are not `STRL`: not a Starling peer.
    #[error("bad magic: not a starling cluster frame")]
    BadMagic,
    /// A frame version outside the range this build speaks.
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u8),
    /// A frame kind this build does not know.
    #[error("unknown frame kind {0}")]
    UnknownFrameKind(u8),
    /// A body length over [`crate::frame::MAX_BODY`], refused from the header alone.
    #[error("frame body of {0} bytes is over the maximum")]
    TooLong(u32),
    /// The authentication tag does not match: a wrong key, a wrong cluster name, or tampered bytes.
    #[error("authentication failed: wrong key or cluster name, or tampered frame")]
    Auth,
    /// An authentic frame whose counter is not the next one: replayed, reordered or dropped.
    #[error("frame counter {got} where {expected} was expected (replayed or reordered)")]
    Replay {
        /// The counter the next frame must carry.
        expected: u64,
        /// The counter it carried.
        got: u64,
    },
    /// A compressed payload that does not decompress, or would be larger than the maximum.
    #[error("payload does not decompress")]
    Decompress,
    /// Authentic bytes that do not decode: a malformed frame, batch or message body.
    #[error("malformed message: {0}")]
    Decode(String),
    /// The handshake failed: no common version, or an unexpected frame.
    #[error("handshake failed: {0}")]
    Handshake(String),
}

impl ProtocolError {
    /// A short, constant label for metrics (`frames rejected by reason`) and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            ProtocolError::BadMagic => "bad_magic",
            ProtocolError::UnsupportedVersion(_) => "version",
            ProtocolError::UnknownFrameKind(_) => "kind",
            ProtocolError::TooLong(_) => "too_long",
            ProtocolError::Auth => "auth",
            ProtocolError::Replay { .. } => "replay",
            ProtocolError::Decompress => "decompress",
            ProtocolError::Decode(_) => "decode",
            ProtocolError::Handshake(_) => "handshake",
        }
    }
}
