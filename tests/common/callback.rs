//! A small HTTP server on loopback that integrations call back: it records every request and
//! answers what the test's handler says (a reply, a redirect, garbage, or nothing at all).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Received {
    /// The form fields of an `application/x-www-form-urlencoded` body, or of the query.
    pub fn form(&self) -> HashMap<String, String> {
        let raw = if self.body.is_empty() {
            self.target.split_once('?').map(|(_, q)| q.as_bytes().to_vec()).unwrap_or_default()
        } else {
            self.body.clone()
        };
        serde_urlencoded::from_bytes(&raw).unwrap_or_default()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// What to answer.
pub enum Answer {
    /// Status, content type, body.
    Reply(u16, &'static str, Vec<u8>),
    /// 302 to this location.
    Redirect(String),
    /// Never answer (the connection stays open until the caller gives up).
    Hang,
}

impl Answer {
    pub fn json(v: serde_json::Value) -> Answer {
        Answer::Reply(200, "application/json", v.to_string().into_bytes())
    }
}

type Handler = Arc<dyn Fn(&Received) -> Answer + Send + Sync>;

pub struct Callback {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Callback {
    pub async fn start(handler: impl Fn(&Received) -> Answer + Send + Sync + 'static) -> Callback {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind callback server");
        let port = listener.local_addr().expect("local addr").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::new(AtomicUsize::new(0));
        let handler: Handler = Arc::new(handler);
        let (r, a) = (received.clone(), accepted.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (r, a, handler) = (r.clone(), a.clone(), handler.clone());
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut read = BufReader::new(read);
                    loop {
                        let Some(req) = read_request(&mut read).await else { return };
                        a.fetch_add(1, Ordering::SeqCst);
                        r.lock().unwrap().push(req.clone());
                        let bytes = match handler(&req) {
                            Answer::Reply(status, ct, body) => {
                                let mut head = format!(
                                    "HTTP/1.1 {status} X\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n",
                                    body.len()
                                )
                                .into_bytes();
                                head.extend(body);
                                head
                            }
                            Answer::Redirect(to) => {
                                format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\n\r\n")
                                    .into_bytes()
                            }
                            Answer::Hang => {
                                // Hold the connection until the peer closes it.
                                let mut sink = [0u8; 64];
                                while read.read(&mut sink).await.is_ok_and(|n| n > 0) {}
                                return;
                            }
                        };
                        if write.write_all(&bytes).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Callback { port, received, accepted, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Requests read so far (including ones never answered).
    pub fn count(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Callback {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read_request<R: tokio::io::AsyncBufRead + Unpin>(read: &mut R) -> Option<Received> {
    let mut line = String::new();
    if read.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        read.read_line(&mut h).await.ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let len: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; len];
    read.read_exact(&mut body).await.ok()?;
    Some(Received { method, target, headers, body })
}
