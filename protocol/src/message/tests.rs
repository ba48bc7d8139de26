use super::*;
use crate::event::Broadcast;
use proptest::prelude::*;

/// Encodes `message` alone in a batch, checks the exact bytes, and decodes them back.
#[track_caller]
fn golden(id: u64, message: ClusterMessage, hex: &str) {
    let envelope = Envelope { id, message };
    let bytes = encode_batch(std::slice::from_ref(&envelope));
    assert_eq!(hex::encode(&bytes), hex, "{envelope:?}");
    assert_eq!(decode_batch(&bytes), Ok(vec![Decoded::Message(envelope)]));
}

fn event() -> WsEvent {
    WsEvent {
        event: "posted".into(),
        data: r#"{"a":1}"#.into(),
        broadcast: Broadcast { omit_users: vec!["u1".into()], channel_id: "c1".into(), ..Default::default() },
    }
}

#[test]
fn golden_publish() {
    golden(
        1,
        ClusterMessage::Bus(BusEvent::Ws(event())),
        "010100011a06706f73746564077b2261223a317d0102753100026331000000",
    );
}

#[test]
fn golden_membership() {
    let m = |change| ClusterMessage::Bus(BusEvent::Membership { user_id: "u1".into(), change });
    golden(2, m(MembershipChange::JoinedChannel("c1".into())), "010200020702753101026331");
    golden(2, m(MembershipChange::LeftChannel("c1".into())), "010200020702753102026331");
    golden(2, m(MembershipChange::JoinedTeam("t1".into())), "010200020702753103027431");
    golden(2, m(MembershipChange::LeftTeam("t1".into())), "010200020702753104027431");
}

#[test]
fn golden_clear_session() {
    golden(3, ClusterMessage::ClearSession { token: "tok".into() }, "010300030403746f6b");
}

#[test]
fn golden_clear_user_sessions() {
    golden(4, ClusterMessage::ClearUserSessions { user_id: "u1".into() }, "0104000403027531");
}

#[test]
fn golden_invalidate_all_caches() {
    golden(5, ClusterMessage::InvalidateAllCaches, "0105000500");
}

#[test]
fn golden_config_changed() {
    golden(6, ClusterMessage::ConfigChanged { config_hash: "h1".into() }, "0106000603026831");
}

#[test]
fn golden_ping_pong() {
    golden(0, ClusterMessage::Ping { nonce: 300, sent_ms: -1 }, "0100000703ac0201");
    // Protocol 1's pong (no clock) stays byte for byte what it was; protocol 2 appends the clock.
    golden(
        0,
        ClusterMessage::Pong { nonce: 1, sent_ms: 1_700_000_000_000, answered_ms: None },
        "01000008070180a0abfef962",
    );
    golden(
        0,
        ClusterMessage::Pong { nonce: 1, sent_ms: 1_700_000_000_000, answered_ms: Some(1_700_000_000_001) },
        "010000080d0180a0abfef96282a0abfef962",
    );
}

#[test]
fn golden_ack() {
    golden(0, ClusterMessage::Ack { up_to: 128 }, "01000009028001");
}

#[test]
fn golden_requests() {
    let r = |request| ClusterMessage::Request { req_id: 7, request };
    golden(10, r(Request::GetStats), "010a000a020701");
    golden(10, r(Request::GetUserConnectionCount { user_id: "u1".into() }), "010a000a050702027531");
    golden(
        10,
        r(Request::TakeConnectionQueue { connection_id: "k1".into(), user_id: "u1".into(), sequence_number: 42 }),
        "010a000a090703026b3102753154",
    );
    golden(10, r(Request::Probe { target_node_id: "n2".into() }), "010a000a050704026e32");
    golden(10, r(Request::Extension { extension: "pl".into(), payload: vec![7] }), "010a000a07070502706c0107");
}

#[test]
fn golden_responses() {
    let r = |response| ClusterMessage::Response { req_id: 7, response };
    golden(
        11,
        r(Response::Stats(NodeStats { node_id: "n1".into(), websockets: 3, users: 2, tasks: 200 })),
        "010b000b090701026e310302c801",
    );
    golden(11, r(Response::ConnectionCount(5)), "010b000b03070205");
    golden(11, r(Response::ConnectionQueue(None)), "010b000b03070300");
    golden(
        11,
        r(Response::ConnectionQueue(Some(ConnectionQueue {
            user_id: "u1".into(),
            next_seq: 9,
            events: vec![QueuedEvent { seq: 8, event: event() }],
        }))),
        "010b000b2307030102753112011006706f73746564077b2261223a317d0102753100026331000000",
    );
    golden(11, r(Response::Probe { alive: true }), "010b000b03070401");
    golden(11, r(Response::Error("no".into())), "010b000b050705026e6f");
    golden(11, r(Response::Extension(vec![1, 2])), "010b000b050706020102");
}

#[test]
fn golden_status_update() {
    golden(
        0,
        ClusterMessage::Bus(BusEvent::Status(UserStatus {
            user_id: "u1".into(),
            status: "away".into(),
            manual: true,
            last_activity_at: 1_700_000_000_000,
        })),
        "0100000c0f02753104617761790180a0abfef962",
    );
}

#[test]
fn golden_session_wrote() {
    golden(0, ClusterMessage::Bus(BusEvent::SessionWrote { session: 300 }), "0100000d02ac02");
}

#[test]
fn golden_extension() {
    let x = ExtensionMessage { extension: "digest".into(), version: 2, payload: vec![1, 2, 3] };
    golden(5, ClusterMessage::Bus(BusEvent::Extension(x)), "0105000e0c066469676573740203010203");
}

#[test]
fn a_batch_keeps_order_and_ids() {
    let batch = vec![
        Envelope { id: 1, message: ClusterMessage::Bus(BusEvent::Ws(event())) },
        Envelope { id: 0, message: ClusterMessage::Ack { up_to: 9 } },
        Envelope { id: 2, message: ClusterMessage::InvalidateAllCaches },
    ];
    let decoded = decode_batch(&encode_batch(&batch)).unwrap();
    let want: Vec<Decoded> = batch.into_iter().map(Decoded::Message).collect();
    assert_eq!(decoded, want);
    assert_eq!(decode_batch(&encode_batch(&[])), Ok(vec![]));
    assert_eq!(hex::encode(encode_batch(&[])), "00");
}

#[test]
fn unknown_types_and_kinds_are_skipped_by_length() {
    // count 4: type 99 with a 3-byte body, then an Ack, then a request of kind 99, then a
    // membership change of kind 9.
    let payload = hex::decode(concat!(
        "04",
        "05",
        "0063",
        "03",
        "aabbcc",
        "00",
        "0009",
        "01",
        "07",
        "06",
        "000a",
        "03",
        "076300",
        "07",
        "0002",
        "07",
        "0275310902",
        "6331",
    ))
    .unwrap();
    assert_eq!(
        decode_batch(&payload),
        Ok(vec![
            Decoded::Unknown { id: 5, type_id: 99 },
            Decoded::Message(Envelope { id: 0, message: ClusterMessage::Ack { up_to: 7 } }),
            Decoded::Unknown { id: 6, type_id: TYPE_REQUEST },
            Decoded::Unknown { id: 7, type_id: TYPE_MEMBERSHIP },
        ])
    );
    // Type id 0 was never given out: unknown too.
    assert_eq!(decode_batch(&hex::decode("0100000000").unwrap()), Ok(vec![Decoded::Unknown { id: 0, type_id: 0 }]));
}

#[test]
fn fields_a_newer_peer_appends_are_ignored() {
    // Ack { up_to: 7 } followed by two bytes of a field this build does not know.
    let payload = hex::decode("010000090307aaaa").unwrap();
    assert_eq!(
        decode_batch(&payload),
        Ok(vec![Decoded::Message(Envelope { id: 0, message: ClusterMessage::Ack { up_to: 7 } })])
    );
}

#[test]
fn malformed_batches_are_decode_errors() {
    let bad = [
        "",                             // no count
        "80",                           // count varint cut short
        "02000009010700",               // count 2, one envelope and a stray byte
        "ff7f",                         // a huge count that cannot fit: refused before allocating
        "ffffffffffffffffff01",         // u64::MAX envelopes in 0 bytes
        "01000009",                     // envelope cut before its body length
        "0100000905",                   // body length past the end
        "010000090207",                 // body shorter than the length says... 1 byte missing
        "01000009010780",               // trailing byte after the last envelope
        "01000009008080",               // empty Ack body, then junk
        "01000009ff7f07",               // body length 16383 > remaining
        "0180000009010700",             // non-minimal id varint (0x80 0x00)
        "01ffffffffffffffffff02000901", // id overflows u64
        "01000001010a",                 // Publish body cut short
        "01000002040275310a",           // Membership body cut short
    ];
    for hex in bad {
        let bytes = hex::decode(hex).unwrap();
        assert!(matches!(decode_batch(&bytes), Err(ProtocolError::Decode(_))), "{hex}: {:?}", decode_batch(&bytes));
    }
}

#[test]
fn metadata_per_type() {
    let all = [
        (ClusterMessage::Bus(BusEvent::Ws(event())), 1, "publish", true),
        (
            ClusterMessage::Bus(BusEvent::Membership {
                user_id: "u".into(),
                change: MembershipChange::LeftTeam("t".into()),
            }),
            2,
            "membership",
            true,
        ),
        (ClusterMessage::ClearSession { token: "t".into() }, 3, "clear_session", true),
        (ClusterMessage::ClearUserSessions { user_id: "u".into() }, 4, "clear_user_sessions", true),
        (ClusterMessage::InvalidateAllCaches, 5, "inv_all_caches", true),
        (ClusterMessage::ConfigChanged { config_hash: "h".into() }, 6, "config_changed", true),
        (ClusterMessage::Ping { nonce: 1, sent_ms: 2 }, 7, "ping", false),
        (ClusterMessage::Pong { nonce: 1, sent_ms: 2, answered_ms: None }, 8, "pong", false),
        (ClusterMessage::Ack { up_to: 1 }, 9, "ack", false),
        (ClusterMessage::Request { req_id: 1, request: Request::GetStats }, 10, "request", true),
        (ClusterMessage::Response { req_id: 1, response: Response::ConnectionCount(1) }, 11, "response", true),
        (
            ClusterMessage::Bus(BusEvent::Status(UserStatus {
                user_id: "u".into(),
                status: "online".into(),
                manual: false,
                last_activity_at: 0,
            })),
            12,
            "update_status",
            true,
        ),
        (ClusterMessage::Bus(BusEvent::SessionWrote { session: 1 }), 13, "session_wrote", false),
        (
            ClusterMessage::Bus(BusEvent::Extension(ExtensionMessage {
                extension: "x".into(),
                version: 1,
                payload: vec![],
            })),
            14,
            "extension",
            true,
        ),
    ];
    for (m, id, name, reliable) in all {
        assert_eq!(m.type_id(), id, "{m:?}");
        assert_eq!(m.name(), name, "{m:?}");
        assert_eq!(m.is_reliable(), reliable, "{m:?}");
    }
}

#[test]
fn body_length_varint_of_every_width() {
    // Bodies under 128 bytes (1-byte length), under 16 KiB (2 bytes) and over (3 bytes).
    for size in [0usize, 1, 100, 125, 126, 127, 128, 200, 16_000, 16_380, 16_384, 100_000] {
        let e = WsEvent { event: "x".into(), data: "d".repeat(size), broadcast: Broadcast::default() };
        let batch = vec![
            Envelope { id: 1, message: ClusterMessage::Bus(BusEvent::Ws(e)) },
            Envelope { id: 0, message: ClusterMessage::Ack { up_to: 1 } },
        ];
        let bytes = encode_batch(&batch);
        let want: Vec<Decoded> = batch.into_iter().map(Decoded::Message).collect();
        assert_eq!(decode_batch(&bytes).unwrap(), want, "size {size}");
    }
}

#[test]
fn varints_match_postcard() {
    for v in [0u64, 1, 127, 128, 300, 16_383, 16_384, u32::MAX as u64, u64::MAX] {
        let mut ours = Vec::new();
        put_varint(&mut ours, v);
        assert_eq!(ours, postcard::to_allocvec(&v).unwrap(), "{v}");
        assert_eq!(ours.len(), varint_len(v));
        let mut r = Reader { buf: &ours };
        assert_eq!(r.varint("v"), Ok(v));
    }
}

// ---- property tests ----

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z0-9]{26}",
        any::<String>(),
        proptest::collection::vec(any::<char>(), 0..300).prop_map(|c| c.into_iter().collect()),
    ]
}

fn ws_event() -> impl Strategy<Value = WsEvent> {
    (text(), text(), proptest::collection::vec(text(), 0..4), (text(), text(), text(), text(), text())).prop_map(
        |(event, data, omit_users, (user_id, channel_id, team_id, connection_id, omit_connection_id))| WsEvent {
            event,
            data,
            broadcast: Broadcast { omit_users, user_id, channel_id, team_id, connection_id, omit_connection_id },
        },
    )
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        Just(Request::GetStats),
        text().prop_map(|user_id| Request::GetUserConnectionCount { user_id: UserId(user_id) }),
        (text(), text(), any::<i64>()).prop_map(|(connection_id, user_id, sequence_number)| {
            Request::TakeConnectionQueue {
                connection_id: ConnectionId(connection_id),
                user_id: UserId(user_id),
                sequence_number,
            }
        }),
        text().prop_map(|target_node_id| Request::Probe { target_node_id: NodeId(target_node_id) }),
        (text(), proptest::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(extension, payload)| Request::Extension { extension, payload }),
    ]
}

fn response() -> impl Strategy<Value = Response> {
    let queue = (text(), any::<i64>(), proptest::collection::vec((any::<i64>(), ws_event()), 0..4)).prop_map(
        |(user_id, next_seq, events)| ConnectionQueue {
            user_id: UserId(user_id),
            next_seq,
            events: events.into_iter().map(|(seq, event)| QueuedEvent { seq, event }).collect(),
        },
    );
    prop_oneof![
        (text(), any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(node_id, websockets, users, tasks)| {
            Response::Stats(NodeStats { node_id: NodeId(node_id), websockets, users, tasks })
        }),
        any::<u64>().prop_map(Response::ConnectionCount),
        proptest::option::of(queue).prop_map(Response::ConnectionQueue),
        any::<bool>().prop_map(|alive| Response::Probe { alive }),
        text().prop_map(Response::Error),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(Response::Extension),
    ]
}

fn membership_change() -> impl Strategy<Value = MembershipChange> {
    prop_oneof![
        text().prop_map(|c| MembershipChange::JoinedChannel(ChannelId(c))),
        text().prop_map(|c| MembershipChange::LeftChannel(ChannelId(c))),
        text().prop_map(|t| MembershipChange::JoinedTeam(TeamId(t))),
        text().prop_map(|t| MembershipChange::LeftTeam(TeamId(t))),
    ]
}

pub(crate) fn cluster_message() -> impl Strategy<Value = ClusterMessage> {
    prop_oneof![
        ws_event().prop_map(|event| ClusterMessage::Bus(BusEvent::Ws(event))),
        (text(), membership_change()).prop_map(|(user_id, change)| ClusterMessage::Bus(BusEvent::Membership {
            user_id: UserId(user_id),
            change
        })),
        text().prop_map(|token| ClusterMessage::ClearSession { token }),
        text().prop_map(|user_id| ClusterMessage::ClearUserSessions { user_id: UserId(user_id) }),
        Just(ClusterMessage::InvalidateAllCaches),
        text().prop_map(|config_hash| ClusterMessage::ConfigChanged { config_hash }),
        (any::<u64>(), any::<i64>()).prop_map(|(nonce, sent_ms)| ClusterMessage::Ping { nonce, sent_ms }),
        (any::<u64>(), any::<i64>(), any::<Option<i64>>())
            .prop_map(|(nonce, sent_ms, answered_ms)| ClusterMessage::Pong { nonce, sent_ms, answered_ms }),
        any::<u64>().prop_map(|up_to| ClusterMessage::Ack { up_to }),
        (any::<u64>(), request()).prop_map(|(req_id, request)| ClusterMessage::Request { req_id, request }),
        (any::<u64>(), response()).prop_map(|(req_id, response)| ClusterMessage::Response { req_id, response }),
        (text(), text(), any::<bool>(), any::<i64>()).prop_map(|(user_id, status, manual, last_activity_at)| {
            ClusterMessage::Bus(BusEvent::Status(UserStatus {
                user_id: UserId(user_id),
                status,
                manual,
                last_activity_at,
            }))
        }),
        any::<u64>().prop_map(|session| ClusterMessage::Bus(BusEvent::SessionWrote { session })),
        (text(), any::<u16>(), proptest::collection::vec(any::<u8>(), 0..64)).prop_map(
            |(extension, version, payload)| ClusterMessage::Bus(BusEvent::Extension(ExtensionMessage {
                extension,
                version,
                payload
            }))
        ),
    ]
}

pub(crate) fn envelopes() -> impl Strategy<Value = Vec<Envelope>> {
    proptest::collection::vec(
        (any::<u64>(), cluster_message()).prop_map(|(id, message)| Envelope { id, message }),
        0..12,
    )
}

proptest! {
    #[test]
    fn batches_round_trip(batch in envelopes()) {
        let bytes = encode_batch(&batch);
        let want: Vec<Decoded> = batch.into_iter().map(Decoded::Message).collect();
        prop_assert_eq!(decode_batch(&bytes), Ok(want));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_batch(&bytes);
    }

    #[test]
    fn mutated_batches_never_panic(
        batch in envelopes(),
        flips in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<proptest::sample::Index>(),
    ) {
        let mut bytes = encode_batch(&batch);
        if bytes.is_empty() { return Ok(()); }
        for (at, v) in flips {
            let i = at.index(bytes.len());
            bytes[i] = v;
        }
        let _ = decode_batch(&bytes);
        let _ = decode_batch(&bytes[..cut.index(bytes.len())]);
    }
}
