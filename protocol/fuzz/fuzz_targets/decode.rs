//! Everything a peer can send, into everything that reads it: `parse_header`, `open_handshake`,
//! `Opener::open` (with its decompressor) and `decode_batch`. Nothing may panic, and nothing may
//! allocate more than the header or the size prefix allows.
//!
//! The first input byte picks what the rest is:
//! - 0: raw bytes off the socket (header, then whole frames, as a connection reads them);
//! - 1: a batch payload, straight into `decode_batch`;
//! - 2: a Data frame payload that is authenticated with the test key by hand (following the layout
//!   documented in `envelope.rs`), with flags from the next byte, so the opener's decompressor and
//!   the batch decoder see arbitrary authentic bytes.
#![no_main]

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, KeyInit, Nonce};
use libfuzzer_sys::fuzz_target;
use starling_protocol::frame::{FrameHeader, FrameKind, FLAG_COMPRESSED, FLAG_ENCRYPTED, HEADER_LEN, PROTOCOL_VERSION};
use starling_protocol::{decode_batch, open_handshake, parse_header, Opener, SessionKey};

const KEY: [u8; 32] = [7; 32];
const CLUSTER: &str = "fuzz";

fn read_frames(mut buf: &[u8]) {
    let mut opener = Opener::new(SessionKey(KEY), CLUSTER);
    while let Ok(Some((header, total))) = parse_header(buf) {
        assert!(total == HEADER_LEN + header.len as usize);
        if buf.len() < total {
            return;
        }
        let (frame, rest) = buf.split_at(total);
        match header.kind {
            FrameKind::Data => {
                if let Ok(payload) = opener.open(&header, frame) {
                    let _ = decode_batch(&payload);
                }
            }
            _ => {
                let _ = open_handshake(&KEY, CLUSTER, &header, frame);
            }
        }
        buf = rest;
    }
}

fn authentic_frame(flags: u8, payload: &[u8]) {
    let flags = flags & (FLAG_COMPRESSED | FLAG_ENCRYPTED);
    let header = FrameHeader {
        version: PROTOCOL_VERSION,
        kind: FrameKind::Data,
        flags,
        len: (8 + payload.len() + 16) as u32,
    }
    .encode();
    let mut aad = header.to_vec();
    aad.extend_from_slice(&0u64.to_be_bytes());
    aad.extend_from_slice(&(CLUSTER.len() as u32).to_be_bytes());
    aad.extend_from_slice(CLUSTER.as_bytes());
    let cipher = ChaCha20Poly1305::new(&Key::from(KEY));
    let nonce = Nonce::from([0u8; 12]);
    let mut frame = header.to_vec();
    frame.extend_from_slice(&0u64.to_be_bytes());
    if flags & FLAG_ENCRYPTED != 0 {
        let sealed = cipher.encrypt(&nonce, Payload { msg: payload, aad: &aad }).expect("seal");
        frame.extend_from_slice(&sealed);
    } else {
        aad.extend_from_slice(payload);
        let tag = cipher.encrypt(&nonce, Payload { msg: b"", aad: &aad }).expect("seal");
        frame.extend_from_slice(payload);
        frame.extend_from_slice(&tag);
    }
    let (header, total) = parse_header(&frame).expect("valid header").expect("whole header");
    assert_eq!(total, frame.len());
    let mut opener = Opener::new(SessionKey(KEY), CLUSTER);
    match opener.open(&header, &frame) {
        Ok(plain) => {
            if flags & FLAG_COMPRESSED == 0 {
                assert_eq!(plain, payload, "an authentic uncompressed frame opens to its payload");
            }
            let _ = decode_batch(&plain);
        }
        Err(e) => assert!(flags & FLAG_COMPRESSED != 0, "only decompression may fail: {e:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    match mode % 3 {
        0 => read_frames(rest),
        1 => {
            let _ = decode_batch(rest);
        }
        _ => {
            let Some((&flags, payload)) = rest.split_first() else { return };
            authentic_frame(flags, payload);
        }
    }
});
