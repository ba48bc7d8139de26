//! Cluster transport codec: the full pipeline (batch encoding, LZ4, ChaCha20-Poly1305 framing) as a
//! ratio to raw ChaCha20-Poly1305 over the same bytes (benchmarks.md target 4: >= 0.7).
//!
//! Every case works on the same 64 `posted` events of about 1 KB of JSON each, and reports
//! throughput in terms of those JSON bytes, so the figures compare directly:
//!
//! - `raw_chacha20poly1305_seal`: one AEAD seal of the 64 events' JSON, concatenated.
//! - `pipeline_compress_encrypt`: `encode_batch` + `Sealer::seal` with compression and encryption.
//! - `pipeline_compress_only`: the same, authenticated but not encrypted.
//! - `pipeline_encrypt_only`: the same, encrypted but not compressed.
//! - `part_*`: the pipeline's parts alone; `raw_chacha20poly1305_seal_of_batch`: the raw seal over
//!   the encoded batch instead of the JSON.
//! - `open_decode_compress_encrypt`: the receiving side, `parse_header` + `Opener::open` +
//!   `decode_batch`.
//!
//! Run: `cargo bench -p starling-protocol --bench codec -- --warm-up-time 1 --measurement-time 3`
//! and report (a)/(b) = raw time / pipeline time.

use std::hint::black_box;
use std::time::Instant;

use chacha20poly1305::aead::Aead;
use chacha20poly1305::{ChaCha20Poly1305, Key, KeyInit, Nonce};
use criterion::{criterion_group, Criterion, Throughput};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use starling_protocol::{
    decode_batch, encode_batch, parse_header, Broadcast, ClusterMessage, Envelope, Opener, Sealer, SessionKey, WsEvent,
};

const WORDS: &[&str] = &[
    "deploy",
    "release",
    "the",
    "build",
    "is",
    "green",
    "again",
    "after",
    "we",
    "rolled",
    "back",
    "database",
    "migration",
    "on",
    "staging",
    "please",
    "review",
    "my",
    "pull",
    "request",
    "before",
    "lunch",
    "cluster",
    "node",
    "latency",
    "looks",
    "fine",
    "but",
    "memory",
    "grew",
    "overnight",
    "investigating",
    "customer",
    "reported",
    "login",
    "issue",
    "fixed",
    "tomorrow",
    "meeting",
    "moved",
    "to",
    "thursday",
    "afternoon",
    "coffee",
    "anyone",
];

fn id(rng: &mut StdRng) -> String {
    const ALPHABET: &[u8] = b"ybndrfg8ejkmcpqxot1uwisza345h769";
    (0..26).map(|_| ALPHABET[rng.gen_range(0..32)] as char).collect()
}

/// 64 `posted` events shaped like Mattermost's, each about 1 KB once rendered.
fn events() -> Vec<WsEvent> {
    let mut rng = StdRng::seed_from_u64(64);
    (0..64)
        .map(|i| {
            let (user_id, channel_id, team_id) = (id(&mut rng), id(&mut rng), id(&mut rng));
            let words = rng.gen_range(45..75);
            let message: Vec<&str> = (0..words).map(|_| WORDS[rng.gen_range(0..WORDS.len())]).collect();
            let now = 1_700_000_000_000i64 + i * 1375;
            let post = serde_json::json!({
                "id": id(&mut rng), "create_at": now, "update_at": now, "edit_at": 0, "delete_at": 0,
                "is_pinned": false, "user_id": user_id, "channel_id": channel_id, "root_id": "",
                "original_id": "", "message": message.join(" "), "type": "", "props": {},
                "hashtags": "", "pending_post_id": format!("{user_id}:{now}"), "reply_count": 0,
                "metadata": {},
            });
            let data = serde_json::json!({
                "channel_display_name": "Town Square", "channel_name": "town-square", "channel_type": "O",
                "post": post.to_string(), "sender_name": "@alice", "set_online": true, "team_id": team_id,
            });
            WsEvent::new("posted", data.to_string(), Broadcast { channel_id: channel_id.clone(), ..Default::default() })
        })
        .collect()
}

fn codec(c: &mut Criterion) {
    let events = events();
    let raw: Vec<u8> = events
        .iter()
        .flat_map(|e| starling_protocol::event::frame_with_seq(&e.render_prefix(), 1).into_bytes())
        .collect();
    let batch: Vec<Envelope> = events
        .into_iter()
        .enumerate()
        .map(|(i, event)| Envelope {
            id: i as u64 + 1,
            message: ClusterMessage::Bus(starling_protocol::BusEvent::Ws(event)),
        })
        .collect();
    let encoded = encode_batch(&batch);
    let key = [0x5a; 32];
    let cluster = "bench-cluster";
    let sealed_size = |encrypt, compress| Sealer::new(SessionKey(key), cluster, encrypt, compress).seal(&encoded).len();
    eprintln!(
        "codec inputs: 64 events, {} bytes of JSON ({} per event), batch {} bytes; frame {} bytes compressed+encrypted, {} encrypted only",
        raw.len(),
        raw.len() / 64,
        encoded.len(),
        sealed_size(true, true),
        sealed_size(true, false),
    );

    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Bytes(raw.len() as u64));

    let aead = ChaCha20Poly1305::new(&Key::from(key));
    let nonce = Nonce::from([0u8; 12]);
    g.bench_function("raw_chacha20poly1305_seal", |b| {
        b.iter(|| aead.encrypt(&nonce, black_box(raw.as_slice())).expect("seal"))
    });

    for (name, encrypt, compress) in [
        ("pipeline_compress_encrypt", true, true),
        ("pipeline_compress_only", false, true),
        ("pipeline_encrypt_only", true, false),
    ] {
        let mut sealer = Sealer::new(SessionKey(key), cluster, encrypt, compress);
        g.bench_function(name, |b| b.iter(|| sealer.seal(&encode_batch(black_box(&batch)))));
    }

    // The pipeline's parts, for tuning.
    g.bench_function("part_encode_batch", |b| b.iter(|| encode_batch(black_box(&batch))));
    g.bench_function("part_lz4_compress", |b| b.iter(|| lz4_flex::block::compress(black_box(&encoded))));
    g.bench_function("raw_chacha20poly1305_seal_of_batch", |b| {
        b.iter(|| aead.encrypt(&nonce, black_box(encoded.as_slice())).expect("seal"))
    });

    // Receiving: frames made ahead, each opened in order by one Opener.
    let mut opener = Opener::new(SessionKey(key), cluster);
    let mut resealer = Sealer::new(SessionKey(key), cluster, true, true);
    g.bench_function("open_decode_compress_encrypt", |b| {
        b.iter_batched(
            || resealer.seal(&encoded),
            |frame| {
                let (header, _) = parse_header(&frame).expect("header").expect("whole frame");
                decode_batch(&opener.open(&header, &frame).expect("open")).expect("decode")
            },
            criterion::BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// The headline ratio, measured interleaved: rounds alternate between the raw seal and the full
/// pipeline, so load that comes and goes on a shared machine hits both alike. Prints the median
/// per-round ratio raw time / pipeline time (higher is better, target >= 0.7).
fn interleaved_ratio() {
    let events = events();
    let raw: Vec<u8> = events
        .iter()
        .flat_map(|e| starling_protocol::event::frame_with_seq(&e.render_prefix(), 1).into_bytes())
        .collect();
    let batch: Vec<Envelope> = events
        .into_iter()
        .enumerate()
        .map(|(i, event)| Envelope {
            id: i as u64 + 1,
            message: ClusterMessage::Bus(starling_protocol::BusEvent::Ws(event)),
        })
        .collect();
    let key = [0x5a; 32];
    let aead = ChaCha20Poly1305::new(&Key::from(key));
    let nonce = Nonce::from([0u8; 12]);
    let mut pipelines = [
        ("compress+encrypt", Sealer::new(SessionKey(key), "bench-cluster", true, true)),
        ("compress only", Sealer::new(SessionKey(key), "bench-cluster", false, true)),
        ("encrypt only", Sealer::new(SessionKey(key), "bench-cluster", true, false)),
    ];
    const ROUNDS: usize = 300;
    const ITERS: u32 = 10;
    let mut ratios = vec![Vec::with_capacity(ROUNDS); pipelines.len()];
    let mut raw_times = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        for _ in 0..ITERS {
            black_box(aead.encrypt(&nonce, black_box(raw.as_slice())).expect("seal"));
        }
        let raw_time = t.elapsed();
        raw_times.push(raw_time);
        for (i, (_, sealer)) in pipelines.iter_mut().enumerate() {
            let t = Instant::now();
            for _ in 0..ITERS {
                black_box(sealer.seal(&encode_batch(black_box(&batch))));
            }
            ratios[i].push(raw_time.as_secs_f64() / t.elapsed().as_secs_f64());
        }
    }
    raw_times.sort();
    let raw_median = raw_times[ROUNDS / 2] / ITERS;
    eprintln!(
        "interleaved ({ROUNDS} rounds x {ITERS}): raw seal median {:.1} us ({:.0} MiB/s)",
        raw_median.as_secs_f64() * 1e6,
        raw.len() as f64 / raw_median.as_secs_f64() / 1048576.0
    );
    for ((name, _), mut r) in pipelines.iter().zip(ratios) {
        r.sort_by(f64::total_cmp);
        eprintln!(
            "  ratio raw/pipeline {name}: median {:.2} (p25 {:.2}, p75 {:.2})",
            r[ROUNDS / 2],
            r[ROUNDS / 4],
            r[ROUNDS * 3 / 4]
        );
    }
}

criterion_group!(benches, codec);

fn main() {
    benches();
    // Only under `cargo bench` (which passes `--bench`); `cargo test --benches` runs each bench once
    // in test mode and should skip the long measurement, as criterion does.
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--list") {
        interleaved_ratio();
    }
    Criterion::default().configure_from_args().final_summary();
}
