//! The fixed 12-byte frame header every cluster frame starts with.
//!
//! ```text
//!  0       4         5      6       7          8                12
//!  | STRL  | version | kind | flags | reserved | body length BE |  body ...
//! ```
//!
//! `reserved` is written as 0 and ignored by readers; like the rest of the header it is covered by
//! the frame's authentication tag, so nobody can change it in transit.

use crate::error::ProtocolError;

/// The first four bytes of every frame.
pub const MAGIC: [u8; 4] = *b"STRL";
/// Bytes in a frame header.
pub const HEADER_LEN: usize = 12;
/// The version byte this build writes: the frame format's (unchanged since protocol 1).
pub const PROTOCOL_VERSION: u8 = 1;
/// The lowest protocol version this build speaks (offered in the handshake).
pub const MIN_PROTOCOL_VERSION: u16 = 1;
/// The highest protocol version this build speaks (offered in the handshake). The handshake picks
/// the highest version both sides speak, and each link then speaks that version's messages:
/// - 1: the first release;
/// - 2: a Pong carries the answering node's clock (`answered_ms`), for clock-skew checks.
///
/// A build keeps speaking the previous version, so that a cluster can be upgraded node by node.
pub const MAX_PROTOCOL_VERSION: u16 = 2;
/// The largest body a frame may announce, and the largest payload a compressed body may expand to.
pub const MAX_BODY: u32 = 16 * 1024 * 1024;
/// The payload is an LZ4 block with its uncompressed size prepended (u32 little-endian).
pub const FLAG_COMPRESSED: u8 = 0b01;
/// The payload is encrypted (it is authenticated either way).
pub const FLAG_ENCRYPTED: u8 = 0b10;

/// What a frame carries.
///
/// ONLY APPEND. Explicit ids, never reused.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// The dialer's [`crate::handshake::Hello`], sealed with the cluster key.
    Hello = 1,
    /// The acceptor's [`crate::handshake::Welcome`], sealed with the cluster key.
    Welcome = 2,
    /// Either side's reason for refusing the other, sealed with the cluster key.
    Refuse = 3,
    /// A batch of [`crate::message::Envelope`]s, sealed with a session key.
    Data = 4,
}

impl FrameKind {
    /// The kind with this id, if this build knows it.
    pub fn from_u8(id: u8) -> Option<FrameKind> {
        match id {
            1 => Some(FrameKind::Hello),
            2 => Some(FrameKind::Welcome),
            3 => Some(FrameKind::Refuse),
            4 => Some(FrameKind::Data),
            _ => None,
        }
    }

    /// A short constant label for logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            FrameKind::Hello => "hello",
            FrameKind::Welcome => "welcome",
            FrameKind::Refuse => "refuse",
            FrameKind::Data => "data",
        }
    }
}

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The frame format's version ([`PROTOCOL_VERSION`]).
    pub version: u8,
    /// What the body is.
    pub kind: FrameKind,
    /// [`FLAG_COMPRESSED`], [`FLAG_ENCRYPTED`].
    pub flags: u8,
    /// Body length, without the header.
    pub len: u32,
}

impl FrameHeader {
    /// The header's 12 bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[..4].copy_from_slice(&MAGIC);
        out[4] = self.version;
        out[5] = self.kind as u8;
        out[6] = self.flags;
        out[7] = 0;
        out[8..].copy_from_slice(&self.len.to_be_bytes());
        out
    }

    /// Header + body.
    pub fn frame_len(&self) -> usize {
        HEADER_LEN + self.len as usize
    }
}

/// Reads a frame header from the start of `buf`.
///
/// `Ok(None)` means more bytes are needed. Checks magic, version, kind and `len <= MAX_BODY`
/// before anything is allocated; a wrong magic is refused from the first differing byte. Returns the
/// header and the total frame length (header + body), which may be more than `buf` holds yet.
pub fn parse_header(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
    let seen = buf.len().min(MAGIC.len());
    if buf[..seen] != MAGIC[..seen] {
        return Err(ProtocolError::BadMagic);
    }
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let version = buf[4];
    // The frame format's version: every protocol version so far frames alike.
    if version != PROTOCOL_VERSION {
        return Err(ProtocolError::UnsupportedVersion(version));
    }
    let kind = FrameKind::from_u8(buf[5]).ok_or(ProtocolError::UnknownFrameKind(buf[5]))?;
    let flags = buf[6];
    let len = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
    if len > MAX_BODY {
        return Err(ProtocolError::TooLong(len));
    }
    let header = FrameHeader { version, kind, flags, len };
    Ok(Some((header, header.frame_len())))
}

/// Splits a whole frame into its raw header bytes and body, checking it is exactly the frame that
/// `header` describes.
pub(crate) fn split_frame<'a>(header: &FrameHeader, frame: &'a [u8]) -> Result<(&'a [u8], &'a [u8]), ProtocolError> {
    match parse_header(frame)? {
        Some((parsed, total)) if parsed == *header && total == frame.len() => Ok(frame.split_at(HEADER_LEN)),
        _ => Err(ProtocolError::Decode("frame does not match its header".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: FrameKind, flags: u8, len: u32) -> FrameHeader {
        FrameHeader { version: PROTOCOL_VERSION, kind, flags, len }
    }

    #[test]
    fn golden_headers_per_kind() {
        let cases = [
            (header(FrameKind::Hello, FLAG_ENCRYPTED, 5), "5354524c0101020000000005"),
            (header(FrameKind::Welcome, FLAG_ENCRYPTED, 0x0102), "5354524c0102020000000102"),
            (header(FrameKind::Refuse, FLAG_ENCRYPTED, 40), "5354524c0103020000000028"),
            (header(FrameKind::Data, FLAG_COMPRESSED | FLAG_ENCRYPTED, MAX_BODY), "5354524c0104030001000000"),
        ];
        for (h, hex) in cases {
            assert_eq!(hex::encode(h.encode()), hex, "{h:?}");
            let bytes = hex::decode(hex).unwrap();
            assert_eq!(parse_header(&bytes), Ok(Some((h, h.frame_len()))));
        }
    }

    #[test]
    fn need_more_bytes_is_none() {
        let full = header(FrameKind::Data, 0, 3).encode();
        for n in 0..HEADER_LEN {
            assert_eq!(parse_header(&full[..n]), Ok(None), "{n} bytes");
        }
        assert_eq!(parse_header(&full), Ok(Some((header(FrameKind::Data, 0, 3), 15))));
    }

    #[test]
    fn bad_magic_from_first_byte() {
        assert_eq!(parse_header(b"G"), Err(ProtocolError::BadMagic));
        assert_eq!(parse_header(b"GET / HTTP/1.1\r\n"), Err(ProtocolError::BadMagic));
        assert_eq!(parse_header(b"STRX"), Err(ProtocolError::BadMagic));
    }

    #[test]
    fn version_kind_and_length_refused_from_header_alone() {
        let mut b = header(FrameKind::Data, 0, 1).encode();
        b[4] = 2;
        assert_eq!(parse_header(&b), Err(ProtocolError::UnsupportedVersion(2)));
        b[4] = 0;
        assert_eq!(parse_header(&b), Err(ProtocolError::UnsupportedVersion(0)));
        let mut b = header(FrameKind::Data, 0, 1).encode();
        b[5] = 0;
        assert_eq!(parse_header(&b), Err(ProtocolError::UnknownFrameKind(0)));
        b[5] = 200;
        assert_eq!(parse_header(&b), Err(ProtocolError::UnknownFrameKind(200)));
        // Over the maximum: refused from the 12 header bytes, with no body present.
        let b = header(FrameKind::Data, 0, MAX_BODY + 1).encode();
        assert_eq!(parse_header(&b), Err(ProtocolError::TooLong(MAX_BODY + 1)));
        let b = header(FrameKind::Hello, 0, u32::MAX).encode();
        assert_eq!(parse_header(&b), Err(ProtocolError::TooLong(u32::MAX)));
    }

    #[test]
    fn reserved_byte_is_ignored_by_the_parser() {
        let mut b = header(FrameKind::Data, 0, 0).encode();
        b[7] = 9;
        assert!(matches!(parse_header(&b), Ok(Some(_))));
    }

    #[test]
    fn split_frame_checks_the_frame_matches() {
        let h = header(FrameKind::Data, 0, 2);
        let mut f = h.encode().to_vec();
        f.extend_from_slice(b"ab");
        assert_eq!(split_frame(&h, &f).unwrap().1, b"ab");
        assert!(split_frame(&h, &f[..13]).is_err());
        f.push(0);
        assert!(split_frame(&h, &f).is_err());
        assert!(split_frame(&header(FrameKind::Data, 1, 2), &f[..14]).is_err());
    }
}
