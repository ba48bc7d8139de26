//! The websocket client: connect from a chosen source address, authenticate on the upgrade,
//! wait for `hello`; and the stamp the harness puts in the posts it measures.

use anyhow::{anyhow, bail, Context, Result};
use futures_util::StreamExt;
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

pub type Ws = WebSocketStream<TcpStream>;

/// `ws://host:port/api/v4/websocket` for a node's `http://host:port`.
pub fn ws_url(http_url: &str) -> Result<String> {
    let u = reqwest::Url::parse(http_url).with_context(|| format!("bad --url {http_url}"))?;
    let scheme = match u.scheme() {
        "http" => "ws",
        "https" => bail!("the websocket clients speak plain ws only; give the node's http:// URL"),
        s => bail!("unsupported scheme {s} in --url"),
    };
    let host = u.host_str().ok_or_else(|| anyhow!("--url has no host"))?;
    let port = u.port_or_known_default().unwrap_or(80);
    let base = u.path().trim_end_matches('/');
    Ok(format!("{scheme}://{host}:{port}{base}/api/v4/websocket"))
}

/// The socket address a `ws://` URL points at (first resolved address).
pub async fn resolve(ws_url: &str) -> Result<SocketAddr> {
    let u = reqwest::Url::parse(ws_url)?;
    let host = u.host_str().ok_or_else(|| anyhow!("no host in {ws_url}"))?;
    let port = u.port_or_known_default().unwrap_or(80);
    let found = tokio::net::lookup_host((host, port)).await?.next();
    found.ok_or_else(|| anyhow!("{host} does not resolve"))
}

/// Small buffers: thousands of idle clients live in one worker.
fn config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4 * 1024).write_buffer_size(0)
}

/// Connect (from `source` when given), upgrade with `Authorization: Bearer`, and wait for the
/// first frame, which must be `hello` with seq 0.
pub async fn open(dest: SocketAddr, source: Option<IpAddr>, url: &str, token: &str) -> Result<Ws> {
    let mut ws = upgrade(dest, source, url, token).await?;
    read_hello(&mut ws).await?;
    Ok(ws)
}

/// Connect and upgrade only: the caller reads the first frames (a resumed connection gets no
/// `hello`).
pub async fn upgrade(dest: SocketAddr, source: Option<IpAddr>, url: &str, token: &str) -> Result<Ws> {
    let socket = if dest.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0)).with_context(|| format!("bind {ip}"))?;
    }
    let stream = socket.connect(dest).await.context("connect")?;
    stream.set_nodelay(true)?;
    let mut req = url.into_client_request()?;
    req.headers_mut().insert("Authorization", HeaderValue::from_str(&format!("Bearer {token}"))?);
    let (ws, _) = tokio_tungstenite::client_async_with_config(req, stream, Some(config())).await.context("upgrade")?;
    Ok(ws)
}

/// Read the first frame, which must be `hello` with seq 0, and return what it says.
pub async fn read_hello(ws: &mut Ws) -> Result<HelloInfo> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                let hello: Hello = serde_json::from_str(t.as_str()).context("first frame")?;
                if hello.event != "hello" || hello.seq != 0 {
                    bail!("first event {} seq {}, not hello seq 0", hello.event, hello.seq);
                }
                return Ok(hello.data);
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Close(c))) => bail!("closed before hello: {c:?}"),
            Some(Ok(other)) => bail!("unexpected first frame {other:?}"),
            Some(Err(e)) => return Err(e).context("read hello"),
            None => bail!("closed before hello"),
        }
    }
}

#[derive(Deserialize)]
struct Hello {
    event: String,
    seq: i64,
    #[serde(default)]
    data: HelloInfo,
}

/// The `hello` event's data: which node the socket landed on, and its connection id for resume.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct HelloInfo {
    #[serde(default)]
    pub node_id: String,
    #[serde(default)]
    pub connection_id: String,
}

/// One server frame, as much as the mixed workload needs of it.
#[derive(Debug)]
pub enum Frame {
    Hello {
        seq: i64,
        info: HelloInfo,
    },
    Posted {
        seq: i64,
        post: PostedPost,
    },
    /// Any other event.
    Event {
        seq: i64,
    },
    /// The answer to a client action (`seq_reply`); `node_id` comes with a `ping`'s answer.
    Reply {
        seq_reply: i64,
        node_id: Option<String>,
    },
    Unknown,
}

#[derive(Deserialize)]
struct Head {
    event: Option<String>,
    seq: Option<i64>,
    seq_reply: Option<i64>,
}

#[derive(Deserialize)]
struct WithData<T> {
    data: Option<T>,
}

#[derive(Deserialize)]
struct ReplyData {
    node_id: Option<String>,
}

/// The post inside a `posted` event.
#[derive(Debug, Clone, Deserialize)]
pub struct PostedPost {
    pub id: String,
    pub channel_id: String,
    #[serde(default)]
    pub root_id: String,
    #[serde(default)]
    pub user_id: String,
    #[serde(default)]
    pub message: String,
}

/// Classify a server text frame.
pub fn classify(text: &str) -> Frame {
    let Ok(head) = serde_json::from_str::<Head>(text) else { return Frame::Unknown };
    if let Some(seq_reply) = head.seq_reply {
        let node_id =
            serde_json::from_str::<WithData<ReplyData>>(text).ok().and_then(|d| d.data).and_then(|d| d.node_id);
        return Frame::Reply { seq_reply, node_id };
    }
    let seq = head.seq.unwrap_or(-1);
    match head.event.as_deref() {
        Some("hello") => {
            let info = serde_json::from_str::<WithData<HelloInfo>>(text).ok().and_then(|d| d.data).unwrap_or_default();
            Frame::Hello { seq, info }
        }
        Some("posted") => {
            let post = serde_json::from_str::<WithData<PostedData>>(text)
                .ok()
                .and_then(|d| d.data)
                .and_then(|d| d.post)
                .and_then(|p| serde_json::from_str::<PostedPost>(&p).ok());
            match post {
                Some(post) => Frame::Posted { seq, post },
                None => Frame::Event { seq },
            }
        }
        Some(_) => Frame::Event { seq },
        None => Frame::Unknown,
    }
}

/// The websocket URL with resume parameters.
pub fn resume_url(ws_url: &str, connection_id: &str, sequence_number: i64) -> String {
    format!("{ws_url}?connection_id={connection_id}&sequence_number={sequence_number}")
}

/// Microseconds since the Unix epoch.
pub fn unix_us(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

/// The message of a measured post: the run, its sequence number, and the wall-clock send time
/// in milliseconds with microseconds (`sent_ms=1732250000123.456`).
pub fn stamp(run_id: &str, seq: u64, sent_us: i64) -> String {
    format!("starling-bench run={run_id} seq={seq} sent_ms={}.{:03}", sent_us / 1000, sent_us % 1000)
}

/// The message of a post the mixed workload makes: the stamp, the node the poster sent it to
/// (`-` when unknown), and filler to a realistic length (Mattermost's messages are ~100 chars).
pub fn stamp_with_node(run_id: &str, seq: u64, sent_us: i64, node: Option<&str>) -> String {
    format!("{} node={} the build is green again after the deploy", stamp(run_id, seq, sent_us), node.unwrap_or("-"))
}

/// The poster's node of a stamped message, when it was known.
pub fn stamp_node(message: &str) -> Option<&str> {
    message.split_whitespace().find_map(|w| w.strip_prefix("node=")).filter(|n| *n != "-")
}

/// The (seq, sent_us) of a stamped message of run `run_id`.
pub fn parse_stamp(message: &str, run_id: &str) -> Option<(u64, i64)> {
    let mut run = None;
    let mut seq = None;
    let mut sent = None;
    for word in message.split_whitespace() {
        if let Some(v) = word.strip_prefix("run=") {
            run = Some(v);
        } else if let Some(v) = word.strip_prefix("seq=") {
            seq = v.parse::<u64>().ok();
        } else if let Some(v) = word.strip_prefix("sent_ms=") {
            let (ms, us) = v.split_once('.')?;
            sent = Some(ms.parse::<i64>().ok()? * 1000 + us.parse::<i64>().ok()?);
        }
    }
    (run? == run_id).then_some(())?;
    Some((seq?, sent?))
}

#[derive(Deserialize)]
struct PostedFrame {
    event: Option<String>,
    data: Option<PostedData>,
}

#[derive(Deserialize)]
struct PostedData {
    /// Mattermost sends the post as a JSON string inside the event.
    post: Option<String>,
}

#[derive(Deserialize)]
struct PostBody {
    message: String,
}

/// The message of a `posted` event frame, or None for any other frame.
pub fn posted_message(frame: &str) -> Option<String> {
    // Cheap filter first: most frames of an idle client are not posts.
    if !frame.contains("\"posted\"") {
        return None;
    }
    let f: PostedFrame = serde_json::from_str(frame).ok()?;
    if f.event.as_deref() != Some("posted") {
        return None;
    }
    let post: PostBody = serde_json::from_str(&f.data?.post?).ok()?;
    Some(post.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_round_trips() {
        let s = stamp("r1", 7, 1_732_250_000_123_456);
        assert_eq!(s, "starling-bench run=r1 seq=7 sent_ms=1732250000123.456");
        assert_eq!(parse_stamp(&s, "r1"), Some((7, 1_732_250_000_123_456)));
        assert_eq!(parse_stamp(&s, "r2"), None);
        assert_eq!(parse_stamp(&stamp("r1", 1, 1_000_007), "r1"), Some((1, 1_000_007)));
    }

    #[test]
    fn posted_frames_yield_their_message() {
        let post = serde_json::json!({"id": "p", "message": "hi there"}).to_string();
        let frame = serde_json::json!({"event": "posted", "data": {"post": post}, "seq": 3});
        assert_eq!(posted_message(&frame.to_string()).as_deref(), Some("hi there"));
        let typing = serde_json::json!({"event": "typing", "data": {}, "seq": 4});
        assert_eq!(posted_message(&typing.to_string()), None);
    }

    #[test]
    fn frames_are_classified() {
        let post = serde_json::json!({"id": "p1", "channel_id": "c1", "root_id": "", "message": "m"}).to_string();
        let f = serde_json::json!({"event": "posted", "data": {"post": post}, "seq": 3}).to_string();
        match classify(&f) {
            Frame::Posted { seq: 3, post } => assert_eq!((post.id.as_str(), post.channel_id.as_str()), ("p1", "c1")),
            other => panic!("{other:?}"),
        }
        let h = r#"{"event":"hello","data":{"node_id":"n1","connection_id":"c9"},"seq":0}"#;
        match classify(h) {
            Frame::Hello { seq: 0, info } => {
                assert_eq!((info.node_id.as_str(), info.connection_id.as_str()), ("n1", "c9"))
            }
            other => panic!("{other:?}"),
        }
        let r = r#"{"status":"OK","seq_reply":4,"data":{"text":"pong","node_id":"n2"}}"#;
        match classify(r) {
            Frame::Reply { seq_reply: 4, node_id } => assert_eq!(node_id.as_deref(), Some("n2")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(classify(r#"{"event":"typing","data":{},"seq":5}"#), Frame::Event { seq: 5 }));
        assert!(matches!(classify("nonsense"), Frame::Unknown));
    }

    #[test]
    fn stamps_carry_the_node() {
        let s = stamp_with_node("r1", 9, 1_000_123, Some("abc"));
        assert_eq!(parse_stamp(&s, "r1"), Some((9, 1_000_123)));
        assert_eq!(stamp_node(&s), Some("abc"));
        assert_eq!(stamp_node(&stamp_with_node("r1", 9, 1, None)), None);
    }

    #[test]
    fn ws_url_from_http() {
        assert_eq!(ws_url("http://127.0.0.1:8065").unwrap(), "ws://127.0.0.1:8065/api/v4/websocket");
        assert_eq!(ws_url("http://localhost/").unwrap(), "ws://localhost:80/api/v4/websocket");
        assert!(ws_url("https://x").is_err());
    }
}
