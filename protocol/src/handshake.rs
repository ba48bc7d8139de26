//! The handshake: the dialer sends [`Hello`], the acceptor answers [`Welcome`] or a refusal, and both
//! derive per-direction [`SessionKey`]s for the Data frames that follow.
//!
//! Handshake frames are sealed with the static 32-byte cluster key (ChaCha20-Poly1305): the body is
//! `random nonce (12) || ciphertext || tag (16)` and the associated data is
//! `header (12) || cluster name length (u32 BE) || cluster name`. A node without the key can neither
//! produce nor read them, and a node of another cluster fails to open them (`Auth`).
//!
//! The acceptor checks the Hello (cluster name, [`negotiate`] on the version ranges, app version,
//! config hash as its policy says) and answers with a Welcome carrying the chosen version, or with
//! [`seal_refuse`] and a reason the dialer logs.

use chacha20poly1305::aead::inout::InOutBuf;
use chacha20poly1305::{AeadInOut, Nonce, Tag};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::envelope::{build_aad, cipher, SessionKey, TAG_LEN};
use crate::error::ProtocolError;
use crate::frame::{split_frame, FrameHeader, FrameKind, FLAG_ENCRYPTED, HEADER_LEN, PROTOCOL_VERSION};

/// Bytes of the random nonce at the start of a handshake body.
pub const NONCE_LEN: usize = 12;

/// What a node says about itself when it dials a peer (and, inside [`Welcome`], when it accepts).
///
/// On the wire as postcard in field order: fields are only ever appended (readers ignore trailing
/// bytes they do not know).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The node process (a restarted node has a new id).
    pub node_id: crate::id::NodeId,
    /// ClusterSettings.ClusterName: only nodes of one cluster link.
    pub cluster_name: String,
    /// Lowest protocol version this node speaks.
    pub min_version: u16,
    /// Highest protocol version this node speaks.
    pub max_version: u16,
    /// The build's version, shown in cluster status.
    pub app_version: String,
    /// The database schema version it migrated to.
    pub schema_version: i32,
    /// The hash of the config it runs.
    pub config_hash: String,
    /// `host:port` of this node's gossip listener, as peers should reach it.
    pub gossip_addr: String,
    /// The machine's hostname, shown in cluster status.
    pub hostname: String,
    /// Fresh random bytes per connection, mixed into the session keys.
    pub random: [u8; 32],
}

/// The acceptor's answer to a [`Hello`] it accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// The acceptor's own details.
    pub hello: Hello,
    /// The protocol version chosen by [`negotiate`].
    pub version: u16,
}

/// An opened handshake frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeFrame {
    /// The dialer's opening.
    Hello(Hello),
    /// The acceptor took the hello.
    Welcome(Welcome),
    /// The peer refused us, and says why.
    Refuse(String),
}

#[derive(Serialize, Deserialize)]
struct RefuseBody {
    reason: String,
}

/// Picks the highest version both ranges (inclusive) contain, or a `Handshake` error that says both
/// ranges.
pub fn negotiate(ours: (u16, u16), theirs: (u16, u16)) -> Result<u16, ProtocolError> {
    let low = ours.0.max(theirs.0);
    let high = ours.1.min(theirs.1);
    if low <= high {
        Ok(high)
    } else {
        Err(ProtocolError::Handshake(format!(
            "no common protocol version: we speak {}..={}, the peer speaks {}..={}",
            ours.0, ours.1, theirs.0, theirs.1
        )))
    }
}

/// The whole Hello frame, sealed with the cluster key.
pub fn seal_hello(key: &[u8; 32], cluster: &str, hello: &Hello) -> Vec<u8> {
    seal(key, cluster, FrameKind::Hello, &to_body(hello), random_nonce())
}

/// The whole Welcome frame, sealed with the cluster key.
pub fn seal_welcome(key: &[u8; 32], cluster: &str, w: &Welcome) -> Vec<u8> {
    seal(key, cluster, FrameKind::Welcome, &to_body(w), random_nonce())
}

/// The whole Refuse frame, sealed with the cluster key.
pub fn seal_refuse(key: &[u8; 32], cluster: &str, reason: &str) -> Vec<u8> {
    let body = to_body(&RefuseBody { reason: reason.to_owned() });
    seal(key, cluster, FrameKind::Refuse, &body, random_nonce())
}

fn to_body<T: Serialize>(value: &T) -> Vec<u8> {
    // Postcard into a Vec fails only for types without a known length, which these are not.
    #[allow(clippy::expect_used)] // provably safe: see above
    postcard::to_allocvec(value).expect("handshake structs always serialize")
}

fn random_nonce() -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    rand::thread_rng().fill_bytes(&mut nonce);
    nonce
}

pub(crate) fn seal(
    key: &[u8; 32],
    cluster: &str,
    kind: FrameKind,
    plaintext: &[u8],
    nonce: [u8; NONCE_LEN],
) -> Vec<u8> {
    let header = FrameHeader {
        version: PROTOCOL_VERSION,
        kind,
        flags: FLAG_ENCRYPTED,
        // Handshake structs are small; past u32 the peer would refuse the frame as too long.
        len: u32::try_from(NONCE_LEN + plaintext.len() + TAG_LEN).unwrap_or(u32::MAX),
    }
    .encode();
    let mut aad = Vec::new();
    build_aad(&mut aad, &header, &[], cluster.as_bytes());
    let mut frame = Vec::with_capacity(HEADER_LEN + NONCE_LEN + plaintext.len() + TAG_LEN);
    frame.extend_from_slice(&header);
    frame.extend_from_slice(&nonce);
    frame.extend_from_slice(plaintext);
    let start = HEADER_LEN + NONCE_LEN;
    #[allow(clippy::expect_used)] // provably safe: see below
    let tag = cipher(key)
        .encrypt_inout_detached(&Nonce::from(nonce), &aad, InOutBuf::from(&mut frame[start..]))
        // ChaCha20-Poly1305 refuses only messages past 256 GiB.
        .expect("chacha20poly1305 seals anything under 256 GiB");
    frame.extend_from_slice(&tag);
    frame
}

/// Opens a handshake frame (the whole frame, header included) sealed with the cluster key.
pub fn open_handshake(
    key: &[u8; 32],
    cluster: &str,
    header: &FrameHeader,
    frame: &[u8],
) -> Result<HandshakeFrame, ProtocolError> {
    if header.kind == FrameKind::Data {
        return Err(ProtocolError::Handshake("a data frame before the handshake finished".into()));
    }
    let (head, body) = split_frame(header, frame)?;
    if body.len() < NONCE_LEN + TAG_LEN {
        return Err(ProtocolError::Decode("handshake frame body too short".into()));
    }
    let (nonce, rest) = body.split_at(NONCE_LEN);
    let (sealed, tag) = rest.split_at(rest.len() - TAG_LEN);
    let nonce = Nonce::try_from(nonce).map_err(|_| ProtocolError::Auth)?;
    let tag = Tag::try_from(tag).map_err(|_| ProtocolError::Auth)?;
    let mut aad = Vec::new();
    build_aad(&mut aad, head, &[], cluster.as_bytes());
    let mut plain = vec![0u8; sealed.len()];
    let buf = InOutBuf::new(sealed, &mut plain).map_err(|_| ProtocolError::Auth)?;
    cipher(key).decrypt_inout_detached(&nonce, &aad, buf, &tag).map_err(|_| ProtocolError::Auth)?;
    let decode_err = |e: postcard::Error| ProtocolError::Decode(format!("handshake body: {e}"));
    match header.kind {
        FrameKind::Hello => Ok(HandshakeFrame::Hello(postcard::take_from_bytes(&plain).map_err(decode_err)?.0)),
        FrameKind::Welcome => Ok(HandshakeFrame::Welcome(postcard::take_from_bytes(&plain).map_err(decode_err)?.0)),
        FrameKind::Refuse => {
            let (body, _): (RefuseBody, _) = postcard::take_from_bytes(&plain).map_err(decode_err)?;
            Ok(HandshakeFrame::Refuse(body.reason))
        }
        FrameKind::Data => Err(ProtocolError::Handshake("a data frame before the handshake finished".into())),
    }
}

/// Per-direction session keys:
/// `SHA-256(key || "starling/1 session" || dialer_random || acceptor_random || [direction])`,
/// direction 0 = dialer -> acceptor, 1 = acceptor -> dialer.
pub fn session_keys(key: &[u8; 32], dialer_random: &[u8; 32], acceptor_random: &[u8; 32]) -> (SessionKey, SessionKey) {
    let derive = |direction: u8| {
        let mut h = Sha256::new();
        h.update(key);
        h.update(b"starling/1 session");
        h.update(dialer_random);
        h.update(acceptor_random);
        h.update([direction]);
        SessionKey(h.finalize().into())
    };
    (derive(0), derive(1))
}

#[cfg(test)]
mod tests;
