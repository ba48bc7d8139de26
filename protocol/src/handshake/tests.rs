use super::*;
use crate::envelope::{Opener, Sealer};
use crate::frame::{parse_header, MAGIC, MAX_PROTOCOL_VERSION, MIN_PROTOCOL_VERSION};
use proptest::prelude::*;
use rand::RngCore;

const KEY: [u8; 32] = [0x42; 32];
const CLUSTER: &str = "prod";

fn hello(node: &str, random: u8) -> Hello {
    Hello {
        node_id: node.into(),
        cluster_name: CLUSTER.into(),
        // Literal versions: the golden frames below are protocol 1's handshake, which later
        // versions keep byte for byte.
        min_version: 1,
        max_version: 1,
        app_version: "10.5.0".into(),
        schema_version: 7,
        config_hash: "cfg".into(),
        gossip_addr: "10.0.0.1:8074".into(),
        hostname: "node1".into(),
        random: [random; 32],
    }
}

fn receive(key: &[u8; 32], cluster: &str, frame: &[u8]) -> Result<HandshakeFrame, ProtocolError> {
    match parse_header(frame)? {
        Some((header, total)) if total == frame.len() => open_handshake(key, cluster, &header, frame),
        _ => Err(ProtocolError::Decode("incomplete frame".into())),
    }
}

#[test]
fn golden_handshake_frames() {
    let nonce = [9u8; NONCE_LEN];
    let h = hello("n1", 1);
    let cases = [
        (
            seal(&KEY, CLUSTER, FrameKind::Hello, &postcard::to_allocvec(&h).unwrap(), nonce),
            HandshakeFrame::Hello(h.clone()),
            "5354524c010102000000006609090909090909090909090934d342be8613ba0e87802cc8417371b692f73cc9bf6a9748ee0a8db1bee1a1354551e19d96b05e001dd0c8aadf0c836401c9067580109a26dd7010c24f88ad512029c72dff03988424f276d526d898dcd2be747453cf3478e9f9",
        ),
        (
            seal(
                &KEY,
                CLUSTER,
                FrameKind::Welcome,
                &postcard::to_allocvec(&Welcome { hello: h.clone(), version: 1 }).unwrap(),
                nonce,
            ),
            HandshakeFrame::Welcome(Welcome { hello: h, version: 1 }),
            "5354524c010202000000006709090909090909090909090934d342be8613ba0e87802cc8417371b692f73cc9bf6a9748ee0a8db1bee1a1354551e19d96b05e001dd0c8aadf0c836401c9067580109a26dd7010c24f88ad512029c72dff03988424f211dd7b5983ae2497852a65aa7bc7b93f96",
        ),
        (
            seal(
                &KEY,
                CLUSTER,
                FrameKind::Refuse,
                &postcard::to_allocvec(&RefuseBody { reason: "config mismatch".into() }).unwrap(),
                nonce,
            ),
            HandshakeFrame::Refuse("config mismatch".into()),
            "5354524c010302000000002c09090909090909090909090939de1cd49008b24aebe85994102927f01ee4084fc00b60311aafdccfc6ed6d61",
        ),
    ];
    for (frame, want, hex) in cases {
        assert_eq!(hex::encode(&frame), hex, "{want:?}");
        assert_eq!(receive(&KEY, CLUSTER, &frame), Ok(want));
    }
}

#[test]
fn golden_hello_body() {
    // The postcard body inside a Hello, field by field.
    let body = postcard::to_allocvec(&hello("n1", 1)).unwrap();
    assert_eq!(hex::encode(&body), "026e310470726f6401010631302e352e300e036366670d31302e302e302e313a38303734056e6f6465310101010101010101010101010101010101010101010101010101010101010101");
}

#[test]
fn seal_and_open_each_kind() {
    let h = hello("n1", 1);
    let w = Welcome { hello: hello("n2", 2), version: 1 };
    assert_eq!(receive(&KEY, CLUSTER, &seal_hello(&KEY, CLUSTER, &h)), Ok(HandshakeFrame::Hello(h.clone())));
    assert_eq!(receive(&KEY, CLUSTER, &seal_welcome(&KEY, CLUSTER, &w)), Ok(HandshakeFrame::Welcome(w)));
    assert_eq!(
        receive(&KEY, CLUSTER, &seal_refuse(&KEY, CLUSTER, "version mismatch")),
        Ok(HandshakeFrame::Refuse("version mismatch".into()))
    );
    // Random nonces: the same Hello never gives the same bytes twice.
    assert_ne!(seal_hello(&KEY, CLUSTER, &h), seal_hello(&KEY, CLUSTER, &h));
    let (header, _) = parse_header(&seal_hello(&KEY, CLUSTER, &h)).unwrap().unwrap();
    assert_eq!(header.kind, FrameKind::Hello);
    assert_eq!(header.flags, FLAG_ENCRYPTED);
}

#[test]
fn hello_is_not_in_the_clear() {
    let frame = seal_hello(&KEY, CLUSTER, &hello("a-very-recognisable-node-id", 1));
    assert!(!frame.windows(8).any(|w| w == b"a-very-r"));
    assert!(!frame.windows(6).any(|w| w == b"10.5.0"));
}

#[test]
fn wrong_key_or_cluster_is_auth() {
    let frame = seal_hello(&KEY, CLUSTER, &hello("n1", 1));
    assert_eq!(receive(&[0x43; 32], CLUSTER, &frame), Err(ProtocolError::Auth));
    assert_eq!(receive(&KEY, "staging", &frame), Err(ProtocolError::Auth));
    assert_eq!(receive(&KEY, "", &frame), Err(ProtocolError::Auth));
    let refuse = seal_refuse(&[1; 32], CLUSTER, "go away");
    assert_eq!(receive(&KEY, CLUSTER, &refuse), Err(ProtocolError::Auth));
}

#[test]
fn flipping_any_byte_is_refused() {
    let frame = seal_welcome(&KEY, CLUSTER, &Welcome { hello: hello("n2", 2), version: 1 });
    for i in 0..frame.len() {
        let mut bad = frame.clone();
        bad[i] ^= 0x10;
        let got = receive(&KEY, CLUSTER, &bad);
        match i {
            0..=5 | 8..=11 => assert!(got.is_err(), "byte {i}: {got:?}"),
            _ => assert_eq!(got, Err(ProtocolError::Auth), "byte {i}"),
        }
    }
}

#[test]
fn a_data_frame_is_not_a_handshake() {
    let (k, _) = session_keys(&KEY, &[1; 32], &[2; 32]);
    let frame = Sealer::new(k, CLUSTER, true, false).seal(b"x");
    assert!(matches!(receive(&KEY, CLUSTER, &frame), Err(ProtocolError::Handshake(_))));
    // Too short to hold a nonce and a tag.
    let h = FrameHeader { version: PROTOCOL_VERSION, kind: FrameKind::Hello, flags: 2, len: 27 };
    let mut f = h.encode().to_vec();
    f.extend_from_slice(&[0; 27]);
    assert!(matches!(receive(&KEY, CLUSTER, &f), Err(ProtocolError::Decode(_))));
    // Authentic but not a Hello inside.
    let f = seal(&KEY, CLUSTER, FrameKind::Hello, b"\x05ab", [0; NONCE_LEN]);
    assert!(matches!(receive(&KEY, CLUSTER, &f), Err(ProtocolError::Decode(_))));
}

#[test]
fn negotiate_picks_the_highest_common_version() {
    assert_eq!(negotiate((1, 1), (1, 1)), Ok(1));
    assert_eq!(negotiate((1, 3), (2, 5)), Ok(3));
    assert_eq!(negotiate((2, 5), (1, 3)), Ok(3));
    assert_eq!(negotiate((1, 9), (4, 4)), Ok(4));
    assert_eq!(negotiate((MIN_PROTOCOL_VERSION, MAX_PROTOCOL_VERSION), (1, 1)), Ok(1));
}

#[test]
fn negotiate_mismatch_names_both_ranges() {
    let err = negotiate((1, 2), (3, 4)).unwrap_err();
    assert_eq!(
        err,
        ProtocolError::Handshake("no common protocol version: we speak 1..=2, the peer speaks 3..=4".into())
    );
    assert_eq!(err.to_string(), "handshake failed: no common protocol version: we speak 1..=2, the peer speaks 3..=4");
    assert_eq!(err.reason(), "handshake");
    assert!(negotiate((5, 6), (1, 4)).is_err());
    // An empty (inverted) range has nothing in common with anything.
    assert!(negotiate((1, 5), (3, 2)).is_err());
}

#[test]
fn golden_session_keys() {
    let (d2a, a2d) = session_keys(&KEY, &[1; 32], &[2; 32]);
    assert_eq!(hex::encode(d2a.0), "8471d8625ba982333ce55b6afd0904cb5caccdce176e9a701b8df1d9f35b8f15");
    assert_eq!(hex::encode(a2d.0), "0116e8d2b93b328ec4c61a752f0d136f76ef1f532302f0014afd61a99db86e10");
    // Independent of the implementation: SHA-256 of the documented concatenation.
    let mut input = KEY.to_vec();
    input.extend_from_slice(b"starling/1 session");
    input.extend_from_slice(&[1; 32]);
    input.extend_from_slice(&[2; 32]);
    input.push(0);
    assert_eq!(d2a.0, <[u8; 32]>::from(Sha256::digest(&input)));
    // Fresh randoms give fresh keys; swapped roles give different keys.
    let (other, _) = session_keys(&KEY, &[2; 32], &[1; 32]);
    assert_ne!(other, d2a);
    assert_ne!(d2a, a2d);
}

#[test]
fn a_whole_handshake_then_data_both_ways() {
    // Dialer.
    let dialer = hello("n1", 0);
    let mut dialer_hello = dialer.clone();
    rand::thread_rng().fill_bytes(&mut dialer_hello.random);
    let wire = seal_hello(&KEY, CLUSTER, &dialer_hello);
    // Acceptor.
    let HandshakeFrame::Hello(got) = receive(&KEY, CLUSTER, &wire).unwrap() else { panic!() };
    let version = negotiate((MIN_PROTOCOL_VERSION, MAX_PROTOCOL_VERSION), (got.min_version, got.max_version)).unwrap();
    let mut me = hello("n2", 0);
    rand::thread_rng().fill_bytes(&mut me.random);
    let wire = seal_welcome(&KEY, CLUSTER, &Welcome { hello: me.clone(), version });
    let (a_in, a_out) = session_keys(&KEY, &got.random, &me.random);
    // Dialer again.
    let HandshakeFrame::Welcome(w) = receive(&KEY, CLUSTER, &wire).unwrap() else { panic!() };
    assert_eq!(w.version, 1);
    let (d_out, d_in) = session_keys(&KEY, &dialer_hello.random, &w.hello.random);
    let mut d_sealer = Sealer::new(d_out, CLUSTER, true, true);
    let mut a_opener = Opener::new(a_in, CLUSTER);
    let mut a_sealer = Sealer::new(a_out, CLUSTER, true, true);
    let mut d_opener = Opener::new(d_in, CLUSTER);
    for i in 0..3u8 {
        let f = d_sealer.seal(&[i; 10]);
        let (h, _) = parse_header(&f).unwrap().unwrap();
        assert_eq!(a_opener.open(&h, &f), Ok(vec![i; 10]));
        let f = a_sealer.seal(&[i; 1000]);
        let (h, _) = parse_header(&f).unwrap().unwrap();
        assert_eq!(d_opener.open(&h, &f), Ok(vec![i; 1000]));
    }
    // A frame reflected back to its sender does not open: each direction has its own key.
    let f = d_sealer.seal(b"x");
    let (h, _) = parse_header(&f).unwrap().unwrap();
    assert_eq!(d_opener.open(&h, &f), Err(ProtocolError::Auth));
}

proptest! {
    #[test]
    fn hello_round_trips(
        node_id in ".{0,40}", app_version in ".{0,20}", schema_version in any::<i32>(),
        min_version in any::<u16>(), max_version in any::<u16>(), random in any::<[u8; 32]>(),
        cluster in ".{0,20}", key in any::<[u8; 32]>(), version in any::<u16>(),
    ) {
        let h = Hello {
            node_id: node_id.into(), cluster_name: cluster.clone(), min_version, max_version, app_version,
            schema_version, config_hash: "x".into(), gossip_addr: "h:1".into(), hostname: "h".into(), random,
        };
        prop_assert_eq!(receive(&key, &cluster, &seal_hello(&key, &cluster, &h)), Ok(HandshakeFrame::Hello(h.clone())));
        let w = Welcome { hello: h, version };
        prop_assert_eq!(receive(&key, &cluster, &seal_welcome(&key, &cluster, &w)), Ok(HandshakeFrame::Welcome(w)));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400), kind in 1u8..=4, flags in any::<u8>()) {
        let _ = receive(&KEY, CLUSTER, &bytes);
        let mut f = MAGIC.to_vec();
        f.extend_from_slice(&[PROTOCOL_VERSION, kind, flags, 0]);
        f.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        f.extend_from_slice(&bytes);
        prop_assert!(receive(&KEY, CLUSTER, &f).is_err());
    }

    #[test]
    fn negotiate_agrees_with_brute_force(a in any::<(u16, u16)>(), b in any::<(u16, u16)>()) {
        let small = |r: (u16, u16)| (r.0 % 8, r.1 % 8);
        let (a, b) = (small(a), small(b));
        let best = (0u16..8).filter(|v| (a.0..=a.1).contains(v) && (b.0..=b.1).contains(v)).max();
        prop_assert_eq!(negotiate(a, b).ok(), best);
    }
}
