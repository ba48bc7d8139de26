//! The fan-out ceiling: a bare tokio + tokio-tungstenite websocket broadcast server inside the
//! harness. Each connection gets a `hello` (seq 0), then every broadcast frame with its own
//! per-connection `seq` appended, as a Mattermost server renders events. No auth, no filtering,
//! no persistence: what a websocket fan-out costs on this machine, to compare Starling with.

use crate::report;
use anyhow::Result;
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;

/// Frames a slow connection may lag behind before it starts losing them.
const CAPACITY: usize = 1024;

pub struct BroadcastServer {
    pub addr: SocketAddr,
    tx: broadcast::Sender<Arc<str>>,
    pub connections: Arc<AtomicU64>,
    pub lagged: Arc<AtomicU64>,
    accept: tokio::task::JoinHandle<()>,
}

impl BroadcastServer {
    pub async fn start() -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, _) = broadcast::channel::<Arc<str>>(CAPACITY);
        let connections = Arc::new(AtomicU64::new(0));
        let lagged = Arc::new(AtomicU64::new(0));
        let (tx2, conns, lag) = (tx.clone(), connections.clone(), lagged.clone());
        let accept = tokio::spawn(async move {
            let mut next_id: u64 = 0;
            loop {
                let (stream, _) = match listener.accept().await {
                    Ok(s) => s,
                    Err(e) => {
                        report::note(format!("baseline server: accept: {e}"));
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                next_id += 1;
                let (rx, conns, lag) = (tx2.subscribe(), conns.clone(), lag.clone());
                tokio::spawn(serve(stream, rx, conns, lag, next_id));
            }
        });
        Ok(Self { addr, tx, connections, lagged, accept })
    }

    /// `http://` base URL (the harness derives the websocket URL from it).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Send to every connection. `prefix` is an event's JSON up to `"seq":`.
    pub fn broadcast(&self, prefix: String) -> usize {
        self.tx.send(prefix.into()).unwrap_or(0)
    }
}

impl Drop for BroadcastServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn serve(
    stream: tokio::net::TcpStream,
    mut rx: broadcast::Receiver<Arc<str>>,
    conns: Arc<AtomicU64>,
    lagged: Arc<AtomicU64>,
    id: u64,
) {
    if stream.set_nodelay(true).is_err() {
        return;
    }
    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else { return };
    let hello = format!(
        r#"{{"event":"hello","data":{{"server_version":"baseline","node_id":"baseline","connection_id":"c{id}"}},"broadcast":{{"omit_users":null,"user_id":"","channel_id":"","team_id":"","connection_id":"","omit_connection_id":""}},"seq":0}}"#
    );
    if ws.send(Message::Text(hello.into())).await.is_err() {
        return;
    }
    conns.fetch_add(1, Ordering::Relaxed);
    let mut seq: i64 = 1;
    loop {
        tokio::select! {
            frame = rx.recv() => match frame {
                Ok(prefix) => {
                    let text = format!("{prefix}{seq}}}");
                    seq += 1;
                    if ws.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    lagged.fetch_add(n, Ordering::Relaxed);
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            msg = ws.next() => match msg {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    conns.fetch_sub(1, Ordering::Relaxed);
}

/// A `posted` event's JSON up to `"seq":`, shaped and sized like Starling's, around `message`.
pub fn posted_prefix(message: &str, channel_id: &str) -> String {
    let now = crate::ws::unix_us(std::time::SystemTime::now()) / 1000;
    let post = serde_json::json!({
        "id": "baselinepost00000000000000",
        "create_at": now,
        "update_at": now,
        "edit_at": 0,
        "delete_at": 0,
        "is_pinned": false,
        "user_id": "baselineuser00000000000000",
        "channel_id": channel_id,
        "root_id": "",
        "original_id": "",
        "message": message,
        "type": "",
        "props": {},
        "hashtags": "",
        "file_ids": [],
        "pending_post_id": "",
        "reply_count": 0,
        "last_reply_at": 0,
        "metadata": {},
    })
    .to_string();
    let data = serde_json::json!({
        "channel_display_name": "fanout",
        "channel_name": "fanout",
        "channel_type": "O",
        "post": post,
        "sender_name": "@benchadmin",
        "set_online": true,
        "team_id": "baselineteam00000000000000",
    });
    format!(
        r#"{{"event":"posted","data":{data},"broadcast":{{"omit_users":null,"user_id":"","channel_id":"{channel_id}","team_id":"","connection_id":"","omit_connection_id":""}},"seq":"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posted_prefix_renders_a_posted_frame() {
        let frame = format!("{}{}}}", posted_prefix("hello there", "chan"), 7);
        assert_eq!(crate::ws::posted_message(&frame).as_deref(), Some("hello there"));
        let v: serde_json::Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(v["seq"], 7);
    }

    #[tokio::test]
    async fn broadcasts_to_a_client() {
        let server = BroadcastServer::start().await.unwrap();
        let url = crate::ws::ws_url(&server.url()).unwrap();
        let dest = crate::ws::resolve(&url).await.unwrap();
        let mut ws = crate::ws::open(dest, None, &url, "token").await.unwrap();
        for _ in 0..100 {
            if server.connections.load(Ordering::Relaxed) == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(server.broadcast(posted_prefix("m1", "c")), 1);
        match ws.next().await {
            Some(Ok(Message::Text(t))) => assert_eq!(crate::ws::posted_message(t.as_str()).as_deref(), Some("m1")),
            other => panic!("{other:?}"),
        }
    }
}
