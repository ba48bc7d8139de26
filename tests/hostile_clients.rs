//! Hostile clients against a node process: a flood of connections (HTTP and websocket), sockets
//! sending garbage, binary and oversize frames, and slow readers that never read. The node stays
//! up, closes what it must with the right close code, keeps its memory bounded, and other users
//! go on being served.

mod common;
use common::cluster::ClusterProcs;
use common::ws::{Got, Ws};
use common::*;
use futures_util::SinkExt;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// One kB figure (`VmRSS`, `VmHWM`) from a process's /proc status.
fn proc_kb(pid: u32, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the node process is alive");
    s.lines()
        .find_map(|l| l.strip_prefix(key)?.trim_start_matches(':').trim().strip_suffix("kB")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{key} in /proc/{pid}/status"))
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
        .unwrap_or(false)
}

/// A team and a channel that `members` are all in; returns the channel id.
async fn channel_with(admin: &Client, members: &[&str]) -> String {
    let team = admin.create_team(true).await;
    let channel = admin.create_channel(&team, false).await;
    for id in members {
        admin.post(&format!("/teams/{team}/members"), json!({"team_id": team, "user_id": id})).await.expect(201);
        admin.post(&format!("/channels/{channel}/members"), json!({"user_id": id})).await.expect(201);
    }
    channel
}

fn post_id(ev: &Value) -> Option<String> {
    if ev["event"] != "posted" {
        return None;
    }
    let p: Value = serde_json::from_str(ev["data"]["post"].as_str()?).ok()?;
    p["id"].as_str().map(str::to_owned)
}

/// Read `ws` until the post `id` arrives (bounded).
async fn hear(ws: &mut Ws, id: &str) {
    loop {
        match ws.next(Duration::from_secs(15)).await {
            Got::Json(ev) if post_id(&ev).as_deref() == Some(id) => return,
            Got::Json(_) => {}
            other => panic!("waiting for post {id}: {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The flood.

/// Connections the flood opens in all, and at most at once.
const FLOOD: usize = 2000;
const FLOOD_AT_ONCE: usize = 200;

#[derive(Debug, Default)]
struct FloodCount {
    http_answered: usize,
    dropped_at_once: usize,
    half_requests: usize,
    websockets_held: usize,
    refused: usize,
}

/// One hostile connection of kind `i % 4`: a whole HTTP request on a fresh connection, a
/// connection dropped at once, half a request left hanging then dropped, or an authenticated
/// websocket kept open until the flood ends.
async fn hostile_one(i: usize, addr: String, token: String) -> (usize, Option<Ws>) {
    match i % 4 {
        0 => {
            let Ok(mut s) = TcpStream::connect(&addr).await else { return (4, None) };
            let req = format!("GET /api/v4/users/me HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
            if s.write_all(req.as_bytes()).await.is_err() {
                return (4, None);
            }
            let mut buf = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
            (if buf.starts_with(b"HTTP/1.1 401") { 0 } else { 4 }, None)
        }
        1 => match TcpStream::connect(&addr).await {
            Ok(s) => {
                drop(s);
                (1, None)
            }
            Err(_) => (4, None),
        },
        2 => {
            let Ok(mut s) = TcpStream::connect(&addr).await else { return (4, None) };
            let _ = s.write_all(b"POST /api/v4/posts HTTP/1.1\r\nHost: x\r\nContent-Le").await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            (2, None)
        }
        _ => {
            let base = format!("http://{addr}");
            match Ws::connect_with(&base, "", &[("Authorization", format!("Bearer {token}"))]).await {
                Ok(ws) => (3, Some(ws)),
                Err(_) => (4, None),
            }
        }
    }
}

/// One node; Alice's channel with Bob (and with the third user when `third_joins`); Bob's
/// websocket past its hello; the third user is the hostile or slow one.
struct Scene {
    c: ClusterProcs,
    pid: u32,
    anon: Client,
    alice: Client,
    bob_ws: Ws,
    third: Client,
    channel: String,
}

async fn scene(third: &str, third_joins: bool) -> Scene {
    let c = ClusterProcs::start(1, &[]).await;
    let pid = c.nodes[0].pid().expect("node runs");
    let anon = c.client(0);
    let (alice, _) = anon.new_user("alice").await;
    let (bob, bob_id) = anon.new_user("bob").await;
    let (third, third_id) = anon.new_user(third).await;
    let members: Vec<&str> = if third_joins { vec![&bob_id, &third_id] } else { vec![&bob_id] };
    let channel = channel_with(&alice, &members).await;
    let mut bob_ws = Ws::connect(&c.nodes[0].url(), bob.token.as_deref().expect("token")).await;
    assert_eq!(bob_ws.event().await["event"], "hello");
    Scene { c, pid, anon, alice, bob_ws, third, channel }
}

#[actix_web::test]
async fn a_connection_flood_leaves_the_node_up_and_other_users_served() {
    let Scene { c, pid, anon, alice, mut bob_ws, third: mallory, channel } = scene("mallory", false).await;
    let node = &c.nodes[0];

    let addr = format!("127.0.0.1:{}", node.http_port);
    let token = mallory.token.clone().expect("token");
    let flood = actix_web::rt::spawn(async move {
        let gate = Arc::new(tokio::sync::Semaphore::new(FLOOD_AT_ONCE));
        let mut tasks = Vec::with_capacity(FLOOD);
        for i in 0..FLOOD {
            let permit = gate.clone().acquire_owned().await.expect("semaphore");
            let (addr, token) = (addr.clone(), token.clone());
            tasks.push(actix_web::rt::spawn(async move {
                let out = hostile_one(i, addr, token).await;
                drop(permit);
                out
            }));
        }
        let mut count = FloodCount::default();
        let mut held = Vec::new();
        for t in tasks {
            let (kind, ws) = t.await.expect("flood task");
            match kind {
                0 => count.http_answered += 1,
                1 => count.dropped_at_once += 1,
                2 => count.half_requests += 1,
                3 => count.websockets_held += 1,
                _ => count.refused += 1,
            }
            held.extend(ws);
        }
        (count, held)
    });

    // Meanwhile another user posts, and a third hears each post on the websocket.
    let mut during = 0;
    for i in 0..10 {
        let p = alice.create_post(&channel, &format!("during the flood {i}")).await;
        hear(&mut bob_ws, p["id"].as_str().expect("post id")).await;
        if !flood.is_finished() {
            during += 1;
        }
    }
    let (count, held) = flood.await.expect("flood");
    println!("flood: {count:?}; {during} of 10 posts made and heard while it ran");
    assert!(alive(pid), "the node is up after the flood; log:\n{}", node.log_tail());
    assert_eq!(count.refused, 0, "the node answered every hostile connection: {count:?}");
    assert_eq!(count.http_answered, FLOOD / 4, "{count:?}");
    assert_eq!(count.websockets_held, FLOOD / 4, "{count:?}");
    // Every held socket is a live websocket, and the node still serves everyone once they go.
    drop(held);
    anon.get("/system/ping").await.expect(200);
    let p = alice.create_post(&channel, "after the flood").await;
    hear(&mut bob_ws, p["id"].as_str().expect("post id")).await;
    let fresh = Ws::connect(&node.url(), mallory.token.as_deref().expect("token")).await;
    fresh.close().await;
}

// ---------------------------------------------------------------------------------------------
// Garbage frames.

/// A websocket opened by hand, so the test can send frames no client library would.
struct RawWs {
    s: TcpStream,
    buf: Vec<u8>,
}

impl RawWs {
    async fn open(addr: &str, token: &str) -> RawWs {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        let req = format!(
            "GET /api/v4/websocket HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Authorization: Bearer {token}\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.expect("upgrade request");
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut chunk))
                .await
                .expect("upgrade answer in time")
                .expect("read");
            assert!(n > 0, "the node closed the upgrade");
            buf.extend_from_slice(&chunk[..n]);
        };
        assert!(buf.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&buf));
        RawWs { s, buf: buf.split_off(end) }
    }

    /// A client frame: FIN set, `first` (opcode and reserved bits), masked unless told otherwise.
    fn frame(first: u8, payload: &[u8], masked: bool) -> Vec<u8> {
        let mut f = vec![0x80 | first];
        let mask_bit = if masked { 0x80 } else { 0 };
        match payload.len() {
            n if n < 126 => f.push(mask_bit | n as u8),
            n if n <= 0xffff => {
                f.push(mask_bit | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(mask_bit | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let key = [0x37, 0xfa, 0x21, 0x3d];
        if masked {
            f.extend_from_slice(&key);
        }
        f.extend(payload.iter().enumerate().map(|(i, b)| if masked { b ^ key[i % 4] } else { *b }));
        f
    }

    async fn send(&mut self, bytes: &[u8]) {
        let _ = self.s.write_all(bytes).await;
    }

    async fn fill(&mut self, want: usize) -> bool {
        let mut chunk = [0u8; 16384];
        while self.buf.len() < want {
            match tokio::time::timeout(Duration::from_secs(10), self.s.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => self.buf.extend_from_slice(&chunk[..n]),
                _ => return false,
            }
        }
        true
    }

    /// Server frames until a close: its code (None if the stream just ended).
    async fn close_code(&mut self) -> Option<u16> {
        loop {
            if !self.fill(2).await {
                return None;
            }
            let opcode = self.buf[0] & 0x0f;
            let (len, head) = match self.buf[1] & 0x7f {
                126 => {
                    if !self.fill(4).await {
                        return None;
                    }
                    (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
                }
                127 => {
                    if !self.fill(10).await {
                        return None;
                    }
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&self.buf[2..10]);
                    (u64::from_be_bytes(b) as usize, 10)
                }
                n => (n as usize, 2),
            };
            if !self.fill(head + len).await {
                return None;
            }
            let payload: Vec<u8> = self.buf.drain(..head + len).skip(head).collect();
            if opcode == 0x8 {
                return (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
            }
        }
    }
}

#[actix_web::test]
async fn garbage_binary_and_oversize_frames_close_with_the_right_codes_and_the_node_stays_up() {
    let Scene { c, pid, alice, mut bob_ws, third: mallory, channel, .. } = scene("mallory", false).await;
    let node = &c.nodes[0];
    let token = mallory.token.clone().expect("token");
    let addr = format!("127.0.0.1:{}", node.http_port);

    // Text that is not JSON gets an error reply; the socket stays usable.
    let mut ws = Ws::connect(&node.url(), &token).await;
    assert_eq!(ws.event().await["event"], "hello");
    for junk in ["{\"seq\": 1, \"action\": ", "\u{0}\u{1}garbage", "[]", "null", "{\"seq\": \"x\"}"] {
        ws.stream.send(Message::Text(junk.into())).await.expect("send");
        let reply = loop {
            match ws.next(Duration::from_secs(10)).await {
                Got::Json(v) if v.get("seq_reply").is_some() => break v,
                Got::Json(_) => {}
                other => panic!("after {junk:?}: {other:?}"),
            }
        };
        assert_eq!(reply["status"], "FAIL", "{junk:?}: {reply}");
        assert_eq!(reply["error"]["id"], "api.web_socket_router.bad_json.app_error", "{junk:?}: {reply}");
    }
    let seq = ws.action("ping", json!({})).await;
    assert_eq!(ws.reply(seq).await.0["data"]["text"], "pong", "the socket still works after garbage");
    ws.close().await;

    // Frames that end the connection, each with its close code (RFC 6455 section 7.4.1).
    let big_text = json!({"seq": 1, "action": "ping", "data": {"x": "y".repeat(20_000)}}).to_string();
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("a binary frame", RawWs::frame(0x2, &[1, 2, 3], true), 1003),
        ("a text frame past the 8 KiB limit", RawWs::frame(0x1, big_text.as_bytes(), true), 1009),
        ("a text frame that is not UTF-8", RawWs::frame(0x1, &[b'{', 0xff, 0xfe, b'}'], true), 1007),
        ("an unmasked frame", RawWs::frame(0x1, b"{}", false), 1002),
        ("a reserved opcode", RawWs::frame(0x3, b"x", true), 1002),
        ("reserved bits set", RawWs::frame(0x40 | 0x1, b"{}", true), 1002),
        ("a continuation with nothing to continue", RawWs::frame(0x0, b"x", true), 1002),
        (
            "a declared length of 2^40 bytes",
            {
                let mut f = vec![0x81, 0x80 | 127];
                f.extend_from_slice(&(1u64 << 40).to_be_bytes());
                f.extend_from_slice(&[1, 2, 3, 4]);
                f
            },
            1009,
        ),
        (
            "pieces adding up past the limit",
            {
                let mut f = Vec::new();
                let piece = vec![b'a'; 3000];
                f.extend(RawWs::frame(0x1, &piece, true));
                f[0] &= 0x7f; // not the last fragment
                for _ in 0..4 {
                    let mut cont = RawWs::frame(0x0, &piece, true);
                    cont[0] &= 0x7f;
                    f.extend(cont);
                }
                f
            },
            1009,
        ),
    ];
    for (what, bytes, want) in cases {
        let mut raw = RawWs::open(&addr, &token).await;
        raw.send(&bytes).await;
        assert_eq!(raw.close_code().await, Some(want), "{what}");
    }
    // Plain garbage instead of frames: the connection ends, whatever it says first.
    let mut raw = RawWs::open(&addr, &token).await;
    raw.send(&[0xff; 64]).await;
    let _ = raw.close_code().await;

    // The node is up, and another user's post still reaches a websocket.
    assert!(alive(pid), "the node is up; log:\n{}", node.log_tail());
    let p = alice.create_post(&channel, "after the garbage").await;
    hear(&mut bob_ws, p["id"].as_str().expect("post id")).await;
}

// ---------------------------------------------------------------------------------------------
// Slow readers.

/// Sockets that never read, the posts published to them, and each post's size (Mattermost's
/// largest message). Unbounded queues would hold SLOW x POSTS x ~16 KiB (~230 MiB) in the node.
const SLOW: usize = 12;
const POSTS: usize = 1200;
const MESSAGE: usize = 16_000;
/// How much more the node's peak memory may grow than before the posts (a generous bound: the
/// bounded send queues hold at most SLOW x 256 frames, about 50 MiB).
const PEAK_GROWTH_KB: u64 = 150 * 1024;

#[actix_web::test]
async fn slow_readers_are_dropped_with_memory_bounded_while_others_get_every_post() {
    let Scene { c, pid, alice, mut bob_ws, third: slowpoke, channel, .. } = scene("slowpoke", true).await;
    let node = &c.nodes[0];
    let mut slow = Vec::new();
    for _ in 0..SLOW {
        let mut ws = Ws::connect_with_recv_buffer(&node.url(), slowpoke.token.as_deref().expect("token"), 4096).await;
        assert_eq!(ws.event().await["event"], "hello");
        slow.push(ws); // never read again until the end
    }
    let rss_before = proc_kb(pid, "VmRSS");

    // Bob reads everything as it comes, while four posters publish POSTS big posts.
    let reader = actix_web::rt::spawn(async move {
        let mut got = Vec::new();
        while got.len() < POSTS {
            match bob_ws.next(Duration::from_secs(20)).await {
                Got::Json(ev) => got.extend(post_id(&ev)),
                other => panic!("bob's socket after {} posts: {other:?}", got.len()),
            }
        }
        got
    });
    let body = "x".repeat(MESSAGE);
    let mut posters = Vec::new();
    for w in 0..4 {
        let (c, ch, body) = (alice.clone(), channel.clone(), body.clone());
        posters.push(actix_web::rt::spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..POSTS / 4 {
                let r = c.post("/posts", json!({"channel_id": ch, "message": format!("{w}{body}")})).await;
                assert_eq!(r.status.as_u16(), 201, "a post while slow readers back up: {}", r.body);
                ids.push(r.id());
            }
            ids
        }));
    }
    let mut posted = HashSet::new();
    for p in posters {
        posted.extend(p.await.expect("poster"));
    }
    let heard = reader.await.expect("bob's reader");
    let heard_set: HashSet<String> = heard.iter().cloned().collect();
    assert_eq!(heard.len(), heard_set.len(), "no post twice on bob's socket");
    assert_eq!(heard_set, posted, "bob got every post");

    let peak = proc_kb(pid, "VmHWM");
    println!(
        "slow readers: RSS {} MiB before, peak {} MiB, now {} MiB",
        rss_before / 1024,
        peak / 1024,
        proc_kb(pid, "VmRSS") / 1024
    );
    assert!(
        peak.saturating_sub(rss_before) < PEAK_GROWTH_KB,
        "the node's memory stays bounded: {rss_before} kB before, peak {peak} kB"
    );
    // Every slow socket was dropped: reading it now ends before all the posts arrive.
    for (i, ws) in slow.iter_mut().enumerate() {
        let mut got = 0;
        loop {
            match ws.next(Duration::from_secs(10)).await {
                Got::Json(ev) => got += usize::from(post_id(&ev).is_some()),
                Got::Closed(_) => break,
                Got::Timeout => panic!("slow socket {i} is still open after {got} posts"),
            }
        }
        assert!(got < POSTS, "slow socket {i} was dropped, not fed everything ({got} posts)");
    }
    assert!(alive(pid), "the node is up");
}
