//! A websocket test client speaking Mattermost's protocol over tokio-tungstenite.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub struct Ws {
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_seq: i64,
}

/// What reading the socket gave.
#[derive(Debug)]
pub enum Got {
    Json(Value),
    Closed(Option<u16>),
    Timeout,
}

impl Ws {
    /// Connect to `base` (http://host:port) with optional headers and query.
    pub async fn connect_with(base: &str, query: &str, headers: &[(&str, String)]) -> Result<Ws, String> {
        let url = format!("{}/api/v4/websocket{}", base.replacen("http", "ws", 1), query);
        let mut req = url.into_client_request().map_err(|e| e.to_string())?;
        for (k, v) in headers {
            req.headers_mut().insert(
                tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let (stream, _) = tokio_tungstenite::connect_async(req).await.map_err(|e| e.to_string())?;
        Ok(Ws { stream, next_seq: 1 })
    }

    /// Connect authenticated by the Authorization header.
    pub async fn connect(base: &str, token: &str) -> Ws {
        Self::connect_with(base, "", &[("Authorization", format!("Bearer {token}"))]).await.expect("websocket connects")
    }

    /// [`Ws::connect`] over a socket whose kernel receive buffer is `bytes` (so a client that
    /// stops reading backs up into the server quickly, not into megabytes of kernel buffers).
    pub async fn connect_with_recv_buffer(base: &str, token: &str, bytes: u32) -> Ws {
        let addr = base.trim_start_matches("http://").to_owned();
        let addr: std::net::SocketAddr = addr.parse().expect("a host:port base");
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(bytes).expect("receive buffer");
        let tcp = socket.connect(addr).await.expect("connect");
        let url = format!("ws://{addr}/api/v4/websocket");
        let mut req = url.into_client_request().expect("request");
        req.headers_mut().insert("Authorization", format!("Bearer {token}").parse().expect("header"));
        let (stream, _) =
            tokio_tungstenite::client_async(req, MaybeTlsStream::Plain(tcp)).await.expect("websocket connects");
        Ws { stream, next_seq: 1 }
    }

    pub async fn resume(base: &str, token: &str, connection_id: &str, seq: i64) -> Ws {
        let q = format!("?connection_id={connection_id}&sequence_number={seq}");
        Self::connect_with(base, &q, &[("Authorization", format!("Bearer {token}"))]).await.expect("websocket connects")
    }

    /// The next JSON frame, a close, or a timeout. Ping/pong frames are skipped.
    pub async fn next(&mut self, timeout: Duration) -> Got {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return Got::Timeout,
                Ok(None) => return Got::Closed(None),
                Ok(Some(Err(_))) => return Got::Closed(None),
                Ok(Some(Ok(Message::Text(t)))) => {
                    return Got::Json(serde_json::from_str(t.as_str()).expect("server frames are JSON"))
                }
                Ok(Some(Ok(Message::Close(f)))) => return Got::Closed(f.map(|f| u16::from(f.code))),
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// The next JSON frame; panics on close or after 10 s.
    pub async fn json(&mut self) -> Value {
        match self.next(Duration::from_secs(10)).await {
            Got::Json(v) => v,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    /// The next event (a frame with `event`), skipping action replies.
    pub async fn event(&mut self) -> Value {
        loop {
            let v = self.json().await;
            if v.get("event").is_some() {
                return v;
            }
        }
    }

    /// Events until one named `name` arrives; returns it and everything before it.
    pub async fn until_event(&mut self, name: &str) -> (Value, Vec<Value>) {
        let mut before = Vec::new();
        loop {
            let v = self.event().await;
            if v["event"] == name {
                return (v, before);
            }
            before.push(v);
        }
    }

    pub async fn send_json(&mut self, v: Value) {
        self.stream.send(Message::Text(v.to_string().into())).await.expect("send");
    }

    /// Send an action with the next seq; returns that seq.
    pub async fn action(&mut self, action: &str, data: Value) -> i64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.send_json(json!({"seq": seq, "action": action, "data": data})).await;
        seq
    }

    /// The reply to `seq`, skipping events (returned in order).
    pub async fn reply(&mut self, seq: i64) -> (Value, Vec<Value>) {
        let mut events = Vec::new();
        loop {
            let v = self.json().await;
            if v["seq_reply"] == json!(seq) {
                return (v, events);
            }
            events.push(v);
        }
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}
