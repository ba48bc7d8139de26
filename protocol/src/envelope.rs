//! Authentication, encryption and compression of frames: ChaCha20-Poly1305 with the cluster name as
//! associated data, LZ4 on whole batches.
//!
//! A Data frame's body is `counter (u64 BE) || payload || tag (16)`. The nonce is
//! `[0; 4] || counter (BE)`; the associated data is
//! `header (12) || counter (8) || cluster name length (u32 BE) || cluster name`, followed by the
//! payload itself when the payload is not encrypted. So every frame is authenticated, whether or not
//! its payload is encrypted, and a frame made for one cluster never opens in another.
//!
//! Each direction of each connection has its own [`SessionKey`] (see
//! [`crate::handshake::session_keys`]) and its own counter, so a nonce is never used twice with the
//! same key.

use std::fmt;

use chacha20poly1305::aead::inout::InOutBuf;
use chacha20poly1305::{AeadInOut, ChaCha20Poly1305, Key, KeyInit, Nonce, Tag};

use crate::error::ProtocolError;
use crate::frame::{
    split_frame, FrameHeader, FrameKind, FLAG_COMPRESSED, FLAG_ENCRYPTED, HEADER_LEN, MAX_BODY, PROTOCOL_VERSION,
};

/// Bytes of a Poly1305 tag.
pub const TAG_LEN: usize = 16;
/// Bytes of the frame counter at the start of a Data body.
pub const COUNTER_LEN: usize = 8;
/// Payloads shorter than this are never compressed: LZ4 rarely wins on a single small event.
pub const COMPRESS_MIN: usize = 256;
/// The largest payload [`Sealer::seal`] can put in a frame the peer accepts. Callers split batches
/// to stay under it (a larger payload yields a frame the peer refuses with `TooLong`).
pub const MAX_PAYLOAD: usize = MAX_BODY as usize - COUNTER_LEN - TAG_LEN;

/// A 32-byte key for one direction of one connection. Its `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionKey(pub [u8; 32]);

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

pub(crate) fn cipher(key: &[u8; 32]) -> ChaCha20Poly1305 {
    ChaCha20Poly1305::new(&Key::from(*key))
}

/// `header || extra || cluster length (u32 BE) || cluster` into `aad`, replacing its contents.
pub(crate) fn build_aad(aad: &mut Vec<u8>, header: &[u8], extra: &[u8], cluster: &[u8]) {
    aad.clear();
    aad.extend_from_slice(header);
    aad.extend_from_slice(extra);
    // A cluster name is configuration, far below 4 GiB; saturating keeps this total.
    aad.extend_from_slice(&u32::try_from(cluster.len()).unwrap_or(u32::MAX).to_be_bytes());
    aad.extend_from_slice(cluster);
}

fn counter_nonce(counter: u64) -> Nonce {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&counter.to_be_bytes());
    Nonce::from(n)
}

/// Seals Data frames for one direction of one connection. Every frame is authenticated
/// (ChaCha20-Poly1305 tag over header + counter + cluster name + payload); with `encrypt` the payload
/// is also encrypted. Nonce = 4 zero bytes || 8-byte counter; the counter starts at 0 and increments
/// per frame. With `compress`, payloads of at least [`COMPRESS_MIN`] bytes are LZ4-compressed
/// (lz4_flex block with its size prepended) and `FLAG_COMPRESSED` set, only when that shrinks them.
/// Body layout: counter u64 BE || payload (ciphertext or plaintext) || 16-byte tag.
pub struct Sealer {
    cipher: ChaCha20Poly1305,
    cluster: Vec<u8>,
    counter: u64,
    encrypt: bool,
    compress: bool,
    aad: Vec<u8>,
    /// Compression output, kept between frames (up to [`SCRATCH_KEEP`]) to save an allocation.
    scratch: Vec<u8>,
    table: lz4_flex::block::CompressTable,
}

/// The largest scratch buffer (compression output, associated data) kept between frames: a rare
/// huge batch must not leave megabytes behind on every connection.
const SCRATCH_KEEP: usize = 1 << 20;

fn shrink(buf: &mut Vec<u8>) {
    if buf.capacity() > SCRATCH_KEEP {
        *buf = Vec::new();
    }
}

impl Sealer {
    /// A sealer for one direction of a link, keyed by its [`SessionKey`]; `encrypt` hides payloads
    /// (they are always authenticated), `compress` LZ4-compresses those worth it.
    pub fn new(key: SessionKey, cluster: &str, encrypt: bool, compress: bool) -> Self {
        Self {
            cipher: cipher(&key.0),
            cluster: cluster.as_bytes().to_vec(),
            counter: 0,
            encrypt,
            compress,
            aad: Vec::new(),
            scratch: Vec::new(),
            table: lz4_flex::block::CompressTable::default(),
        }
    }

    /// The counter the next frame will carry.
    pub fn next_counter(&self) -> u64 {
        self.counter
    }

    /// The whole Data frame (header included) carrying `payload`, at most [`MAX_PAYLOAD`] bytes.
    pub fn seal(&mut self, payload: &[u8]) -> Vec<u8> {
        let start = HEADER_LEN + COUNTER_LEN;
        let compressed = if self.compress && payload.len() >= COMPRESS_MIN { self.compress(payload) } else { None };
        let body = compressed.map_or(payload.len(), |n| 4 + n);
        let mut frame = Vec::with_capacity(start + body + TAG_LEN);
        frame.extend_from_slice(&[0u8; HEADER_LEN]);
        frame.extend_from_slice(&self.counter.to_be_bytes());
        let flags = match compressed {
            Some(n) => {
                frame.extend_from_slice(&u32::try_from(payload.len()).unwrap_or(u32::MAX).to_le_bytes());
                frame.extend_from_slice(&self.scratch[..n]);
                FLAG_COMPRESSED
            }
            None => {
                frame.extend_from_slice(payload);
                0
            }
        };
        shrink(&mut self.scratch);
        self.finish(frame, flags)
    }

    /// LZ4-compresses `payload` into the scratch buffer; the compressed length if that saves bytes
    /// (counting the 4-byte size prefix).
    fn compress(&mut self, payload: &[u8]) -> Option<usize> {
        let max = lz4_flex::block::get_maximum_output_size(payload.len());
        if self.scratch.len() < max {
            self.scratch.resize(max, 0);
        }
        match lz4_flex::block::compress_into_with_table(payload, &mut self.scratch[..max], &mut self.table) {
            Ok(n) if 4 + n < payload.len() => Some(n),
            // Incompressible (or, impossibly, out of room): sent as it is.
            _ => None,
        }
    }

    /// Fills in the header of `frame` (header room, counter, then the payload as it goes on the
    /// wire), seals it and appends the tag.
    fn finish(&mut self, mut frame: Vec<u8>, mut flags: u8) -> Vec<u8> {
        let counter = self.counter;
        let start = HEADER_LEN + COUNTER_LEN;
        if self.encrypt {
            flags |= FLAG_ENCRYPTED;
        }
        let header = FrameHeader {
            version: PROTOCOL_VERSION,
            kind: FrameKind::Data,
            flags,
            // Over u32 (a payload far past MAX_PAYLOAD) the peer refuses the frame as too long.
            len: u32::try_from(frame.len() - HEADER_LEN + TAG_LEN).unwrap_or(u32::MAX),
        };
        let header = header.encode();
        frame[..HEADER_LEN].copy_from_slice(&header);
        build_aad(&mut self.aad, &header, &counter.to_be_bytes(), &self.cluster);
        let nonce = counter_nonce(counter);
        let sealed = if self.encrypt {
            self.cipher.encrypt_inout_detached(&nonce, &self.aad, InOutBuf::from(&mut frame[start..]))
        } else {
            self.aad.extend_from_slice(&frame[start..]);
            self.cipher.encrypt_inout_detached(&nonce, &self.aad, InOutBuf::from(&mut [][..]))
        };
        // ChaCha20-Poly1305 refuses only messages past 256 GiB, which no Vec here can reach.
        #[allow(clippy::expect_used)] // provably safe: see above
        let tag = sealed.expect("chacha20poly1305 seals anything under 256 GiB");
        frame.extend_from_slice(&tag);
        shrink(&mut self.aad);
        // A u64 counter cannot wrap: 2^64 frames is centuries at any rate a link can carry.
        self.counter += 1;
        frame
    }
}

/// Opens Data frames; rejects any counter other than exactly the next one (replayed or reordered
/// frames) with [`ProtocolError::Replay`], bad tags with [`ProtocolError::Auth`], and a decompressed
/// size over `MAX_BODY` with [`ProtocolError::Decompress`] (the prepended size is checked before
/// anything is allocated). The tag is checked before the counter, so `Replay` always means an
/// authentic frame that came twice or out of order.
pub struct Opener {
    cipher: ChaCha20Poly1305,
    cluster: Vec<u8>,
    expected: u64,
    aad: Vec<u8>,
}

impl Opener {
    /// An opener for what the other side's [`Sealer`] with the same key sends.
    pub fn new(key: SessionKey, cluster: &str) -> Self {
        Self { cipher: cipher(&key.0), cluster: cluster.as_bytes().to_vec(), expected: 0, aad: Vec::new() }
    }

    /// The counter the next frame must carry.
    pub fn expected_counter(&self) -> u64 {
        self.expected
    }

    /// The payload of a whole Data frame (header included) whose header `parse_header` returned.
    pub fn open(&mut self, header: &FrameHeader, frame: &[u8]) -> Result<Vec<u8>, ProtocolError> {
        if header.kind != FrameKind::Data {
            return Err(ProtocolError::Decode(format!("expected a data frame, got {}", header.kind.name())));
        }
        let (head, body) = split_frame(header, frame)?;
        if body.len() < COUNTER_LEN + TAG_LEN {
            return Err(ProtocolError::Decode("data frame body too short".into()));
        }
        let (counter_bytes, rest) = body.split_at(COUNTER_LEN);
        let (sealed, tag) = rest.split_at(rest.len() - TAG_LEN);
        let mut c = [0u8; COUNTER_LEN];
        c.copy_from_slice(counter_bytes);
        let counter = u64::from_be_bytes(c);
        let nonce = counter_nonce(counter);
        let tag = Tag::try_from(tag).map_err(|_| ProtocolError::Auth)?;
        build_aad(&mut self.aad, head, counter_bytes, &self.cluster);
        let payload = if header.flags & FLAG_ENCRYPTED != 0 {
            let mut out = vec![0u8; sealed.len()];
            let buf = InOutBuf::new(sealed, &mut out).map_err(|_| ProtocolError::Auth)?;
            self.cipher.decrypt_inout_detached(&nonce, &self.aad, buf, &tag).map_err(|_| ProtocolError::Auth)?;
            out
        } else {
            self.aad.extend_from_slice(sealed);
            let verified = self.cipher.decrypt_inout_detached(&nonce, &self.aad, InOutBuf::from(&mut [][..]), &tag);
            shrink(&mut self.aad);
            verified.map_err(|_| ProtocolError::Auth)?;
            sealed.to_vec()
        };
        if counter != self.expected {
            return Err(ProtocolError::Replay { expected: self.expected, got: counter });
        }
        self.expected += 1;
        if header.flags & FLAG_COMPRESSED != 0 {
            decompress(&payload)
        } else {
            Ok(payload)
        }
    }
}

/// An LZ4 block with its uncompressed size prepended (u32 LE), refusing sizes over `MAX_BODY`
/// before allocating.
fn decompress(input: &[u8]) -> Result<Vec<u8>, ProtocolError> {
    if input.len() < 4 {
        return Err(ProtocolError::Decompress);
    }
    let size = u32::from_le_bytes([input[0], input[1], input[2], input[3]]);
    if size > MAX_BODY {
        return Err(ProtocolError::Decompress);
    }
    let mut out = vec![0u8; size as usize];
    match lz4_flex::block::decompress_into(&input[4..], &mut out) {
        Ok(n) if n == out.len() => Ok(out),
        _ => Err(ProtocolError::Decompress),
    }
}

#[cfg(test)]
mod tests;
