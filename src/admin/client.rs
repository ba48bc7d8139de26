//! The admin CLI's connection to a node: HTTP with a token (a login session or a personal access
//! token), or local mode's Unix socket with none. Every answer that is not a success becomes an
//! [`CliError::Api`] with Mattermost's error fields.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// How long one request may take (a plugin upload or a database recycle included).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The server answered with an error.
    #[error("{message} (status {status}, {id})")]
    Api { status: u16, id: String, message: String, detail: String },
    /// The server could not be reached, or answered something that is not HTTP/JSON.
    #[error("{0}")]
    Transport(String),
    /// What the user asked for cannot be done (a bad argument, no such user, no credentials).
    #[error("{0}")]
    Usage(String),
}

impl CliError {
    pub fn usage(s: impl Into<String>) -> Self {
        CliError::Usage(s.into())
    }
    pub fn status(&self) -> Option<u16> {
        match self {
            CliError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

pub type CliResult<T> = Result<T, CliError>;

/// A request body.
pub enum Body {
    Empty,
    Json(Value),
    /// A multipart form with one file field.
    File {
        field: &'static str,
        name: String,
        bytes: Vec<u8>,
    },
}

/// An answer: status, headers we use, and the JSON body (Null when empty).
pub struct Answer {
    pub status: u16,
    pub version: Option<String>,
    pub body: Value,
}

pub enum Client {
    Http { base: String, token: String, http: reqwest::Client },
    Local { socket: PathBuf },
}

impl Client {
    pub fn http(base: &str, token: &str) -> CliResult<Client> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| CliError::Transport(format!("cannot make an HTTP client: {e}")))?;
        Ok(Client::Http { base: base.trim_end_matches('/').to_owned(), token: token.to_owned(), http })
    }

    pub fn local(socket: PathBuf) -> Client {
        Client::Local { socket }
    }

    /// Where requests go, for messages.
    pub fn describe(&self) -> String {
        match self {
            Client::Http { base, .. } => base.clone(),
            Client::Local { socket } => format!("local mode at {}", socket.display()),
        }
    }

    pub async fn get(&self, path: &str) -> CliResult<Value> {
        Ok(self.send("GET", path, Body::Empty).await?.body)
    }
    pub async fn post(&self, path: &str, body: Value) -> CliResult<Value> {
        Ok(self.send("POST", path, Body::Json(body)).await?.body)
    }
    pub async fn put(&self, path: &str, body: Value) -> CliResult<Value> {
        Ok(self.send("PUT", path, Body::Json(body)).await?.body)
    }
    pub async fn delete(&self, path: &str) -> CliResult<Value> {
        Ok(self.send("DELETE", path, Body::Empty).await?.body)
    }

    /// One request to `/api/v4{path}`; an error status is an error.
    pub async fn send(&self, method: &str, path: &str, body: Body) -> CliResult<Answer> {
        let answer = self.send_raw(method, path, body).await?;
        if answer.status >= 400 {
            return Err(api_error(answer.status, &answer.body));
        }
        Ok(answer)
    }

    /// One request, whatever its status.
    pub async fn send_raw(&self, method: &str, path: &str, body: Body) -> CliResult<Answer> {
        let path = format!("/api/v4{path}");
        let (status, version, bytes) = match self {
            Client::Http { base, token, http } => {
                let method =
                    reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| CliError::usage(e.to_string()))?;
                let mut req = http.request(method, format!("{base}{path}"));
                if !token.is_empty() {
                    req = req.bearer_auth(token);
                }
                req = match body {
                    Body::Empty => req,
                    Body::Json(v) => req.json(&v),
                    Body::File { field, name, bytes } => {
                        let part = reqwest::multipart::Part::bytes(bytes).file_name(name);
                        req.multipart(reqwest::multipart::Form::new().part(field, part))
                    }
                };
                let res = req.send().await.map_err(|e| CliError::Transport(format!("cannot reach {base}: {e}")))?;
                let status = res.status().as_u16();
                let version = header(res.headers().get("X-Version-Id"));
                let bytes = res.bytes().await.map_err(|e| CliError::Transport(format!("{base}: {e}")))?;
                (status, version, bytes)
            }
            Client::Local { socket } => {
                tokio::time::timeout(REQUEST_TIMEOUT, local_request(socket, method, &path, body))
                    .await
                    .map_err(|_| CliError::Transport(format!("{}: no answer in time", socket.display())))??
            }
        };
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(|_| {
                CliError::Transport(format!(
                    "{} answered {status} with something that is not JSON ({} bytes)",
                    self.describe(),
                    bytes.len()
                ))
            })?
        };
        Ok(Answer { status, version, body })
    }
}

fn header(v: Option<&reqwest::header::HeaderValue>) -> Option<String> {
    v.and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// Mattermost's error body as an error.
pub fn api_error(status: u16, body: &Value) -> CliError {
    let s = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let message = match s("message") {
        m if m.is_empty() => format!("the server answered {status}"),
        m => m,
    };
    CliError::Api { status, id: s("id"), message, detail: s("detailed_error") }
}

/// HTTP/1.1 over the local-mode socket.
async fn local_request(
    socket: &std::path::Path,
    method: &str,
    path: &str,
    body: Body,
) -> CliResult<(u16, Option<String>, Bytes)> {
    let where_ = || socket.display().to_string();
    let stream = tokio::net::UnixStream::connect(socket).await.map_err(|e| {
        CliError::Transport(format!(
            "cannot open {}: {e} (is ServiceSettings.EnableLocalMode on, and is this the node's user?)",
            where_()
        ))
    })?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .map_err(|e| CliError::Transport(format!("{}: {e}", where_())))?;
    tokio::spawn(async move {
        let _ = conn.await; // ends with the request
    });
    let (content_type, bytes) = match body {
        Body::Empty => (None, Vec::new()),
        Body::Json(v) => (Some("application/json".to_owned()), serde_json::to_vec(&v).unwrap_or_default()),
        Body::File { field, name, bytes } => {
            let boundary = format!("starling-admin-{}", starling_protocol::new_id());
            let mut out = format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{}\"\r\nContent-Type: application/octet-stream\r\n\r\n",
                name.replace(['"', '\r', '\n'], "_")
            )
            .into_bytes();
            out.extend_from_slice(&bytes);
            out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
            (Some(format!("multipart/form-data; boundary={boundary}")), out)
        }
    };
    let mut req = hyper::Request::builder().method(method).uri(path).header("Host", "localhost");
    if let Some(ct) = content_type {
        req = req.header("Content-Type", ct);
    }
    let req = req.body(Full::new(Bytes::from(bytes))).map_err(|e| CliError::usage(e.to_string()))?;
    let res = sender.send_request(req).await.map_err(|e| CliError::Transport(format!("{}: {e}", where_())))?;
    let status = res.status().as_u16();
    let version = res.headers().get("X-Version-Id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body =
        res.into_body().collect().await.map_err(|e| CliError::Transport(format!("{}: {e}", where_())))?.to_bytes();
    Ok((status, version, body))
}
