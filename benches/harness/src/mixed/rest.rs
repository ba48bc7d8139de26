//! The REST calls a simulated user makes, each timed into its endpoint's histogram and counted by
//! outcome (2xx, 4xx, 5xx, timeout, transport error).

use super::engine::Ctx;
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::time::Instant;

/// Endpoint labels (also the keys of the per-endpoint table).
pub const FETCH: &str = "GET /channels/{id}/posts";
pub const SCROLL: &str = "GET /channels/{id}/posts?before";
pub const CATCH_UP: &str = "GET /channels/{id}/posts?since";
pub const CREATE_POST: &str = "POST /posts";
pub const UPLOAD: &str = "POST /files";
pub const MY_CHANNELS: &str = "GET /users/me/teams/{id}/channels";
pub const THREAD: &str = "GET /posts/{id}/thread";
pub const STATUSES: &str = "POST /users/status/ids";
pub const PROFILES: &str = "POST /users/ids";
pub const VIEW: &str = "POST /channels/members/me/view";
pub const MY_MEMBERS: &str = "GET /users/me/teams/{id}/channels/members";
pub const DIRECT: &str = "POST /channels/direct";
pub const REACT: &str = "POST /reactions";
pub const UNREACT: &str = "DELETE /users/me/posts/{id}/reactions/{emoji}";
pub const THREADS: &str = "GET /users/me/teams/{id}/threads";
pub const THREAD_READ: &str = "PUT /users/me/teams/{id}/threads/{id}/read/{t}";

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Http4xx,
    Http5xx,
    Timeout,
    Transport,
}

pub enum Body {
    None,
    Json(Value),
    Form(reqwest::multipart::Form),
}

/// The JSON body of a 2xx answer, or `None` (the failure is already counted).
pub async fn call(
    ctx: &Ctx,
    url: usize,
    token: &str,
    method: Method,
    path: &str,
    body: Body,
    endpoint: &'static str,
) -> Option<Value> {
    let base = &ctx.targets[url].api;
    let mut req = ctx.http.request(method, format!("{base}{path}")).bearer_auth(token);
    req = match body {
        Body::None => req,
        Body::Json(v) => req.json(&v),
        Body::Form(f) => req.multipart(f),
    };
    let t0 = Instant::now();
    let result = async {
        let resp = req.send().await?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        Ok::<_, reqwest::Error>((status, bytes))
    }
    .await;
    let us = t0.elapsed().as_micros() as i64;
    let (outcome, json, error) = match result {
        Ok((status, bytes)) if status.is_success() => {
            (Outcome::Ok, Some(serde_json::from_slice(&bytes).unwrap_or(Value::Null)), None)
        }
        Ok((status, bytes)) => {
            let outcome = if status.is_server_error() { Outcome::Http5xx } else { Outcome::Http4xx };
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(160)]).into_owned();
            (outcome, None, Some(format!("{endpoint}: HTTP {} {text}", status.as_u16())))
        }
        Err(e) if e.is_timeout() => (Outcome::Timeout, None, Some(format!("{endpoint}: timed out"))),
        Err(e) => (Outcome::Transport, None, Some(format!("{endpoint}: {}", short_error(&e)))),
    };
    ctx.stats().request(endpoint, us, outcome, error);
    json
}

fn short_error(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s = format!("{s}: {inner}");
        src = inner.source();
    }
    s.chars().take(200).collect()
}

/// A Mattermost PostList, as much as the harness reads.
#[derive(Debug, Default, Deserialize)]
pub struct PostList {
    #[serde(default)]
    pub order: Vec<String>,
    #[serde(default)]
    pub posts: HashMap<String, ListedPost>,
    #[serde(default)]
    pub has_next: bool,
}

#[derive(Debug, Deserialize)]
pub struct ListedPost {
    pub id: String,
    pub channel_id: String,
    #[serde(default)]
    pub root_id: String,
    #[serde(default)]
    pub user_id: String,
    #[serde(default)]
    pub update_at: i64,
    #[serde(default)]
    pub message: String,
}

pub fn post_list(v: Value) -> PostList {
    serde_json::from_value(v).unwrap_or_default()
}
