use super::*;
use crate::frame::parse_header;
use proptest::prelude::*;

const CLUSTER: &str = "prod";

fn key(b: u8) -> SessionKey {
    SessionKey([b; 32])
}

/// What a reader does with bytes off the socket: parse the header, then open the whole frame.
fn receive(opener: &mut Opener, frame: &[u8]) -> Result<Vec<u8>, ProtocolError> {
    match parse_header(frame)? {
        Some((header, total)) if total == frame.len() => opener.open(&header, frame),
        Some(_) | None => Err(ProtocolError::Decode("incomplete or oversized frame".into())),
    }
}

impl Sealer {
    /// A frame whose payload is `raw` as given, with `flags` added: for frames the Sealer would
    /// never make (bad compressed data, a lying size prefix).
    fn seal_raw(&mut self, raw: &[u8], flags: u8) -> Vec<u8> {
        let mut frame = vec![0u8; HEADER_LEN];
        frame.extend_from_slice(&self.counter.to_be_bytes());
        frame.extend_from_slice(raw);
        self.finish(frame, flags)
    }
}

fn noise(n: usize) -> Vec<u8> {
    use rand::{RngCore, SeedableRng};
    let mut v = vec![0u8; n];
    rand::rngs::StdRng::seed_from_u64(n as u64).fill_bytes(&mut v);
    v
}

/// Checks the exact bytes of a frame, then that `o` opens it back to `payload`.
#[track_caller]
fn golden(o: &mut Opener, payload: &[u8], frame: Vec<u8>, hex: &str) {
    assert_eq!(hex::encode(&frame), hex);
    assert_eq!(receive(o, &frame), Ok(payload.to_vec()));
}

fn json_events(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        out.extend_from_slice(
            format!(
                r#"{{"event":"posted","data":{{"post":"{{\"id\":\"p{i:024}\",\"message\":\"hello number {i}\"}}"}},"broadcast":{{"channel_id":"c{i}"}}}}"#
            )
            .as_bytes(),
        );
    }
    out
}

#[test]
fn golden_data_frames() {
    // Authenticated only: the payload "hello" is in the clear, the tag covers it.
    let mut s = Sealer::new(key(7), CLUSTER, false, false);
    let mut o = Opener::new(key(7), CLUSTER);
    golden(
        &mut o,
        b"hello",
        s.seal(b"hello"),
        "5354524c010400000000001d000000000000000068656c6c6f74d1e92d9b7de3541208935250b76f7a",
    );
    // The second frame carries counter 1.
    golden(
        &mut o,
        b"hello",
        s.seal(b"hello"),
        "5354524c010400000000001d000000000000000168656c6c6fec29704a75096e9968787e63a991c11b",
    );
    // Encrypted.
    let mut s = Sealer::new(key(7), CLUSTER, true, false);
    let mut o = Opener::new(key(7), CLUSTER);
    golden(
        &mut o,
        b"hello",
        s.seal(b"hello"),
        "5354524c010402000000001d00000000000000005fe145600f153fbf8f218fb3c470ccf3b8327ccac9",
    );
    // Compressed and encrypted: 300 bytes of 'a' shrink to 13.
    let mut s = Sealer::new(key(7), CLUSTER, true, true);
    let mut o = Opener::new(key(7), CLUSTER);
    golden(
        &mut o,
        &[b'a'; 300],
        s.seal(&[b'a'; 300]),
        "5354524c010403000000002900000000000000001b85290c7f0a05fd3f616461a8008207d79b661c04a5de3a79136fe52ddf0981d5",
    );
}

#[test]
fn round_trip_every_mode() {
    let payloads: Vec<Vec<u8>> =
        vec![vec![], b"x".to_vec(), vec![b'a'; 255], vec![b'a'; 256], json_events(64), noise(2000)];
    for encrypt in [false, true] {
        for compress in [false, true] {
            let mut s = Sealer::new(key(1), CLUSTER, encrypt, compress);
            let mut o = Opener::new(key(1), CLUSTER);
            for (n, p) in payloads.iter().enumerate() {
                let frame = s.seal(p);
                let (h, total) = parse_header(&frame).unwrap().unwrap();
                assert_eq!(total, frame.len());
                assert_eq!(h.flags & FLAG_ENCRYPTED != 0, encrypt);
                assert_eq!(o.open(&h, &frame).as_ref(), Ok(p), "{encrypt} {compress} {n}");
            }
            assert_eq!(s.next_counter(), payloads.len() as u64);
            assert_eq!(o.expected_counter(), payloads.len() as u64);
        }
    }
}

#[test]
fn compression_only_when_it_helps() {
    let mut s = Sealer::new(key(1), CLUSTER, true, true);
    let batch = json_events(64);
    let frame = s.seal(&batch);
    let (h, _) = parse_header(&frame).unwrap().unwrap();
    assert_ne!(h.flags & FLAG_COMPRESSED, 0);
    assert!(frame.len() < batch.len() / 3, "{} of {}", frame.len(), batch.len());
    // Under the threshold: never compressed.
    let (h, _) = parse_header(&s.seal(&[b'a'; 255])).unwrap().unwrap();
    assert_eq!(h.flags & FLAG_COMPRESSED, 0);
    // Incompressible: sent as it is.
    let noise = noise(1000);
    let (h, _) = parse_header(&s.seal(&noise)).unwrap().unwrap();
    assert_eq!(h.flags & FLAG_COMPRESSED, 0);
    // Off: never compressed.
    let mut s = Sealer::new(key(1), CLUSTER, true, false);
    let (h, _) = parse_header(&s.seal(&batch)).unwrap().unwrap();
    assert_eq!(h.flags & FLAG_COMPRESSED, 0);
}

#[test]
fn encrypted_payload_is_not_in_the_clear() {
    let secret = b"the launch code is 0000, tell nobody";
    let mut s = Sealer::new(key(1), CLUSTER, true, false);
    let frame = s.seal(secret);
    assert!(!frame.windows(8).any(|w| secret.windows(8).any(|x| x == w)));
    let mut s = Sealer::new(key(1), CLUSTER, false, false);
    let frame = s.seal(secret);
    assert!(frame.windows(secret.len()).any(|w| w == secret));
}

#[test]
fn flipping_any_byte_is_refused() {
    for (encrypt, compress) in [(false, false), (true, false), (true, true), (false, true)] {
        let mut s = Sealer::new(key(3), CLUSTER, encrypt, compress);
        let frame = s.seal(&json_events(4));
        for i in 0..frame.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = frame.clone();
                bad[i] ^= bit;
                let mut o = Opener::new(key(3), CLUSTER);
                let got = receive(&mut o, &bad);
                match i {
                    // Magic, version, kind, length: refused by the header checks (or the frame
                    // no longer matches its length).
                    0..=5 | 8..=11 => assert!(got.is_err(), "byte {i}: {got:?}"),
                    // Flags, reserved, counter, payload, tag: the tag catches it.
                    _ => assert_eq!(got, Err(ProtocolError::Auth), "byte {i} bit {bit:#x}"),
                }
            }
        }
        // Untouched, it opens.
        assert!(receive(&mut Opener::new(key(3), CLUSTER), &frame).is_ok());
    }
}

#[test]
fn replayed_and_reordered_frames_are_refused() {
    let mut s = Sealer::new(key(4), CLUSTER, true, false);
    let mut o = Opener::new(key(4), CLUSTER);
    let f0 = s.seal(b"zero");
    let f1 = s.seal(b"one");
    let f2 = s.seal(b"two");
    assert_eq!(receive(&mut o, &f0), Ok(b"zero".to_vec()));
    assert_eq!(receive(&mut o, &f0), Err(ProtocolError::Replay { expected: 1, got: 0 }));
    assert_eq!(receive(&mut o, &f2), Err(ProtocolError::Replay { expected: 1, got: 2 }));
    assert_eq!(receive(&mut o, &f1), Ok(b"one".to_vec()));
    assert_eq!(receive(&mut o, &f1), Err(ProtocolError::Replay { expected: 2, got: 1 }));
    assert_eq!(receive(&mut o, &f2), Ok(b"two".to_vec()));
    assert_eq!(o.expected_counter(), 3);
}

#[test]
fn wrong_key_or_cluster_is_auth() {
    for encrypt in [false, true] {
        let frame = Sealer::new(key(5), CLUSTER, encrypt, false).seal(b"hi");
        assert_eq!(receive(&mut Opener::new(key(6), CLUSTER), &frame), Err(ProtocolError::Auth));
        assert_eq!(receive(&mut Opener::new(key(5), "staging"), &frame), Err(ProtocolError::Auth));
        assert_eq!(receive(&mut Opener::new(key(5), "pro"), &frame), Err(ProtocolError::Auth));
        assert_eq!(receive(&mut Opener::new(key(5), ""), &frame), Err(ProtocolError::Auth));
        assert!(receive(&mut Opener::new(key(5), CLUSTER), &frame).is_ok());
    }
}

#[test]
fn decompression_bombs_and_garbage_are_refused() {
    // A size prefix over MAX_BODY: refused before anything is allocated.
    let mut s = Sealer::new(key(8), CLUSTER, true, true);
    let mut o = Opener::new(key(8), CLUSTER);
    let mut raw = (MAX_BODY + 1).to_le_bytes().to_vec();
    raw.extend_from_slice(&[0x1f, b'a', 0x01, 0x00, 0xff, 0xff]);
    let f = s.seal_raw(&raw, FLAG_COMPRESSED);
    assert_eq!(receive(&mut o, &f), Err(ProtocolError::Decompress));
    // u32::MAX claimed.
    let f = s.seal_raw(&[0xff, 0xff, 0xff, 0xff, 0x00], FLAG_COMPRESSED);
    assert_eq!(receive(&mut o, &f), Err(ProtocolError::Decompress));
    // Shorter than the size prefix.
    let f = s.seal_raw(&[1, 0], FLAG_COMPRESSED);
    assert_eq!(receive(&mut o, &f), Err(ProtocolError::Decompress));
    // A prefix that lies about the size (says 10, holds 3).
    let mut raw = 10u32.to_le_bytes().to_vec();
    raw.extend_from_slice(&lz4_flex::block::compress(b"abc"));
    let f = s.seal_raw(&raw, FLAG_COMPRESSED);
    assert_eq!(receive(&mut o, &f), Err(ProtocolError::Decompress));
    // Not LZ4 at all.
    let f = s.seal_raw(&[3, 0, 0, 0, 0xff, 0xff, 0xff], FLAG_COMPRESSED);
    assert_eq!(receive(&mut o, &f), Err(ProtocolError::Decompress));
    // The counter still moved on for each authentic frame; a good one opens.
    let f = s.seal(&json_events(8));
    assert_eq!(receive(&mut o, &f), Ok(json_events(8)));
}

#[test]
fn wrong_kind_and_short_bodies_are_refused() {
    let mut o = Opener::new(key(1), CLUSTER);
    let mut f = Sealer::new(key(1), CLUSTER, false, false).seal(b"x");
    f[5] = FrameKind::Hello as u8;
    assert!(matches!(receive(&mut o, &f), Err(ProtocolError::Decode(_))));
    let h = FrameHeader { version: PROTOCOL_VERSION, kind: FrameKind::Data, flags: 0, len: 23 };
    let mut f = h.encode().to_vec();
    f.extend_from_slice(&[0u8; 23]);
    assert!(matches!(receive(&mut o, &f), Err(ProtocolError::Decode(_))));
    // A header that does not describe the frame handed over.
    let f = Sealer::new(key(1), CLUSTER, false, false).seal(b"x");
    let (h, _) = parse_header(&f).unwrap().unwrap();
    assert!(matches!(o.open(&h, &f[..f.len() - 1]), Err(ProtocolError::Decode(_))));
    let other = FrameHeader { flags: FLAG_ENCRYPTED, ..h };
    assert!(matches!(o.open(&other, &f), Err(ProtocolError::Decode(_))));
}

#[test]
fn session_key_debug_hides_the_key() {
    assert_eq!(format!("{:?}", key(0xab)), "SessionKey(..)");
}

proptest! {
    #[test]
    fn seal_open_round_trip(
        payloads in proptest::collection::vec(
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..2048),
                (any::<u8>(), 0usize..5000).prop_map(|(b, n)| vec![b; n]),
                (0usize..40).prop_map(json_events),
            ],
            1..6,
        ),
        encrypt in any::<bool>(),
        compress in any::<bool>(),
        k in any::<[u8; 32]>(),
        cluster in ".{0,20}",
    ) {
        let mut s = Sealer::new(SessionKey(k), &cluster, encrypt, compress);
        let mut o = Opener::new(SessionKey(k), &cluster);
        for p in &payloads {
            let frame = s.seal(p);
            prop_assert_eq!(receive(&mut o, &frame), Ok(p.clone()));
        }
    }

    #[test]
    fn arbitrary_frames_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut o = Opener::new(key(1), CLUSTER);
        let _ = receive(&mut o, &bytes);
        // With a valid header in front, so the opener itself sees the junk.
        if bytes.len() <= MAX_BODY as usize {
            let h = FrameHeader {
                version: PROTOCOL_VERSION,
                kind: FrameKind::Data,
                flags: bytes.first().copied().unwrap_or(0) & 3,
                len: bytes.len() as u32,
            };
            let mut f = h.encode().to_vec();
            f.extend_from_slice(&bytes);
            prop_assert!(o.open(&h, &f).is_err());
        }
    }

    #[test]
    fn mutated_frames_never_open(
        payload in proptest::collection::vec(any::<u8>(), 0..600),
        encrypt in any::<bool>(),
        at in any::<proptest::sample::Index>(),
        bit in 0u8..8,
    ) {
        let frame = Sealer::new(key(2), CLUSTER, encrypt, true).seal(&payload);
        let mut bad = frame.clone();
        let i = at.index(bad.len());
        bad[i] ^= 1 << bit;
        prop_assert!(receive(&mut Opener::new(key(2), CLUSTER), &bad).is_err());
    }
}

#[test]
fn tag_follows_the_documented_layout() {
    // Rebuild the auth-only frame by hand from the module docs, with the AEAD crate directly.
    use chacha20poly1305::aead::Aead;
    use chacha20poly1305::aead::Payload;
    let frame = Sealer::new(key(7), CLUSTER, false, false).seal(b"hello");
    let header = &frame[..HEADER_LEN];
    let mut aad = header.to_vec();
    aad.extend_from_slice(&0u64.to_be_bytes());
    aad.extend_from_slice(&(CLUSTER.len() as u32).to_be_bytes());
    aad.extend_from_slice(CLUSTER.as_bytes());
    aad.extend_from_slice(b"hello");
    let tag = cipher(&[7; 32]).encrypt(&Nonce::from([0u8; 12]), Payload { msg: b"", aad: &aad }).unwrap();
    assert_eq!(&frame[frame.len() - TAG_LEN..], &tag[..]);
    // And the encrypted one: same AAD without the payload, ciphertext || tag after the counter.
    let frame = Sealer::new(key(7), CLUSTER, true, false).seal(b"hello");
    let mut aad = frame[..HEADER_LEN].to_vec();
    aad.extend_from_slice(&0u64.to_be_bytes());
    aad.extend_from_slice(&(CLUSTER.len() as u32).to_be_bytes());
    aad.extend_from_slice(CLUSTER.as_bytes());
    let sealed = cipher(&[7; 32]).encrypt(&Nonce::from([0u8; 12]), Payload { msg: b"hello", aad: &aad }).unwrap();
    assert_eq!(&frame[HEADER_LEN + COUNTER_LEN..], &sealed[..]);
}

#[test]
fn big_batches_round_trip_and_scratch_is_released() {
    // 3 MB of JSON events, well past the scratch buffers a Sealer or Opener may keep.
    let big: Vec<u8> = json_events(500).into_iter().cycle().take(3 << 20).collect();
    for encrypt in [false, true] {
        let mut s = Sealer::new(key(9), CLUSTER, encrypt, true);
        let mut o = Opener::new(key(9), CLUSTER);
        assert_eq!(receive(&mut o, &s.seal(&big)), Ok(big.clone()));
        assert_eq!(receive(&mut o, &s.seal(b"small")), Ok(b"small".to_vec()));
        assert_eq!(s.scratch.capacity(), 0);
        assert!(s.aad.capacity() <= SCRATCH_KEEP);
        assert!(o.aad.capacity() <= SCRATCH_KEEP);
    }
}

#[test]
fn the_largest_payload_fits_and_one_more_byte_is_refused() {
    let mut s = Sealer::new(key(9), CLUSTER, false, false);
    let mut o = Opener::new(key(9), CLUSTER);
    let max = vec![0x5au8; MAX_PAYLOAD];
    let frame = s.seal(&max);
    assert_eq!(frame.len(), HEADER_LEN + MAX_BODY as usize);
    assert_eq!(receive(&mut o, &frame).map(|p| p.len()), Ok(MAX_PAYLOAD));
    let frame = s.seal(&vec![0x5au8; MAX_PAYLOAD + 1]);
    assert_eq!(parse_header(&frame[..HEADER_LEN]), Err(ProtocolError::TooLong(MAX_BODY + 1)));
}
