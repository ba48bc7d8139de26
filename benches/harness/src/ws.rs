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
    let socket = if dest.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0)).with_context(|| format!("bind {ip}"))?;
    }
    let stream = socket.connect(dest).await.context("connect")?;
    stream.set_nodelay(true)?;
    let mut req = url.into_client_request()?;
    req.headers_mut().insert("Authorization", HeaderValue::from_str(&format!("Bearer {token}"))?);
    let (mut ws, _) =
        tokio_tungstenite::client_async_with_config(req, stream, Some(config())).await.context("upgrade")?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                let hello: Hello = serde_json::from_str(t.as_str()).context("first frame")?;
                if hello.event != "hello" || hello.seq != 0 {
                    bail!("first event {} seq {}, not hello seq 0", hello.event, hello.seq);
                }
                return Ok(ws);
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
struct Frame {
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
    let f: Frame = serde_json::from_str(frame).ok()?;
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
    fn ws_url_from_http() {
        assert_eq!(ws_url("http://127.0.0.1:8065").unwrap(), "ws://127.0.0.1:8065/api/v4/websocket");
        assert_eq!(ws_url("http://localhost/").unwrap(), "ws://localhost:80/api/v4/websocket");
        assert!(ws_url("https://x").is_err());
    }
}
