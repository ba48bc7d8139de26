//! The few Mattermost API v4 calls the harness makes, over one pooled HTTP client.

use anyhow::{anyhow, bail, Context, Result};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

/// A logged-in user: the token goes in `Authorization: Bearer` (REST and websocket upgrade).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Session {
    pub user_id: String,
    pub token: String,
}

pub struct Api {
    http: reqwest::Client,
    base: String,
}

/// A non-2xx answer, with Mattermost's error id when the body carries one.
#[derive(Debug)]
pub struct Rejected {
    pub status: StatusCode,
    pub id: String,
    pub message: String,
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {} {}: {}", self.status.as_u16(), self.id, self.message)
    }
}

impl std::error::Error for Rejected {}

/// How often a request is tried when the transport fails or the server answers 5xx.
const ATTEMPTS: usize = 3;

impl Api {
    pub fn new(base: &str, pool: usize) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(pool)
            .build()?;
        Ok(Self { http, base: format!("{}/api/v4", base.trim_end_matches('/')) })
    }

    /// One request; `retry` re-sends on transport errors and 5xx (never for posts, which must
    /// not be duplicated). Returns the status, the `Token` header, and the JSON body.
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        retry: bool,
    ) -> Result<(StatusCode, Option<String>, Value)> {
        let url = format!("{}{}", self.base, path);
        let attempts = if retry { ATTEMPTS } else { 1 };
        let mut last = None;
        for attempt in 0..attempts {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
            let mut req = self.http.request(method.clone(), &url);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let session = resp.headers().get("Token").and_then(|v| v.to_str().ok()).map(str::to_owned);
                    let bytes = resp.bytes().await.context("read body")?;
                    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    if status.is_server_error() && attempt + 1 < attempts {
                        last = Some(anyhow!("{method} {path}: HTTP {status}"));
                        continue;
                    }
                    return Ok((status, session, json));
                }
                Err(e) => last = Some(anyhow!(e).context(format!("{method} {path}"))),
            }
        }
        Err(last.unwrap_or_else(|| anyhow!("{method} {path}: no attempt made")))
    }

    /// The body of a 2xx answer, or a `Rejected` error.
    async fn expect_ok(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        retry: bool,
    ) -> Result<Value> {
        let (status, _, json) = self.call(method, path, token, body, retry).await?;
        if status.is_success() {
            Ok(json)
        } else {
            Err(rejected(status, &json).into())
        }
    }

    /// Sign a user up; `Ok(false)` when the name or email is already taken.
    pub async fn create_user(&self, token: Option<&str>, username: &str, password: &str) -> Result<bool> {
        let body = json!({
            "username": username,
            "email": format!("{username}@bench.example.com"),
            "password": password,
        });
        let (status, _, json) = self.call(Method::POST, "/users", token, Some(&body), true).await?;
        if status.is_success() {
            return Ok(true);
        }
        let r = rejected(status, &json);
        if r.id.contains("exists") {
            Ok(false)
        } else {
            Err(r.into())
        }
    }

    pub async fn login(&self, login_id: &str, password: &str) -> Result<Session> {
        let body = json!({ "login_id": login_id, "password": password });
        let (status, token, json) = self.call(Method::POST, "/users/login", None, Some(&body), true).await?;
        if !status.is_success() {
            return Err(rejected(status, &json)).with_context(|| format!("login {login_id}"));
        }
        let token = token.ok_or_else(|| anyhow!("login {login_id}: no Token header"))?;
        let user_id = str_field(&json, "id")?;
        Ok(Session { user_id, token })
    }

    /// The user id a token belongs to, or `None` when the node no longer accepts it.
    pub async fn me(&self, token: &str) -> Result<Option<String>> {
        let (status, _, json) = self.call(Method::GET, "/users/me", Some(token), None, true).await?;
        match status {
            s if s.is_success() => Ok(Some(str_field(&json, "id")?)),
            StatusCode::UNAUTHORIZED => Ok(None),
            s => Err(rejected(s, &json).into()),
        }
    }

    /// GET a named object; `Ok(None)` on 404.
    async fn find(&self, token: &str, path: &str) -> Result<Option<Value>> {
        let (status, _, json) = self.call(Method::GET, path, Some(token), None, true).await?;
        match status {
            s if s.is_success() => Ok(Some(json)),
            StatusCode::NOT_FOUND => Ok(None),
            s => Err(rejected(s, &json).into()),
        }
    }

    /// The team named `name`, created (open) when missing. Returns its id.
    pub async fn ensure_team(&self, token: &str, name: &str) -> Result<String> {
        if let Some(t) = self.find(token, &format!("/teams/name/{name}")).await? {
            return str_field(&t, "id");
        }
        let body = json!({ "name": name, "display_name": name, "type": "O" });
        let t = self.expect_ok(Method::POST, "/teams", Some(token), Some(&body), true).await.context("create team")?;
        str_field(&t, "id")
    }

    /// The open channel `name` of a team, created when missing. Returns its id.
    pub async fn ensure_channel(&self, token: &str, team_id: &str, name: &str) -> Result<String> {
        let path = format!("/teams/{team_id}/channels/name/{name}");
        if let Some(c) = self.find(token, &path).await? {
            return str_field(&c, "id");
        }
        let body = json!({ "team_id": team_id, "name": name, "display_name": name, "type": "O" });
        let c = self
            .expect_ok(Method::POST, "/channels", Some(token), Some(&body), true)
            .await
            .context("create channel")?;
        str_field(&c, "id")
    }

    /// Idempotent: adding a member again succeeds.
    pub async fn add_team_member(&self, token: &str, team_id: &str, user_id: &str) -> Result<()> {
        let body = json!({ "team_id": team_id, "user_id": user_id });
        self.expect_ok(Method::POST, &format!("/teams/{team_id}/members"), Some(token), Some(&body), true)
            .await
            .context("add team member")?;
        Ok(())
    }

    pub async fn add_channel_member(&self, token: &str, channel_id: &str, user_id: &str) -> Result<()> {
        let body = json!({ "user_id": user_id });
        self.expect_ok(Method::POST, &format!("/channels/{channel_id}/members"), Some(token), Some(&body), true)
            .await
            .context("add channel member")?;
        Ok(())
    }

    /// The user ids of a channel's members (paged, 200 at a time, at most 1000 pages).
    pub async fn channel_member_ids(&self, token: &str, channel_id: &str) -> Result<std::collections::HashSet<String>> {
        const PER_PAGE: usize = 200;
        let mut ids = std::collections::HashSet::new();
        for page in 0..1000 {
            let path = format!("/channels/{channel_id}/members?page={page}&per_page={PER_PAGE}");
            let v = self.expect_ok(Method::GET, &path, Some(token), None, true).await.context("channel members")?;
            let rows = v.as_array().map(Vec::as_slice).unwrap_or(&[]);
            ids.extend(rows.iter().filter_map(|m| m.get("user_id").and_then(Value::as_str)).map(str::to_owned));
            if rows.len() < PER_PAGE {
                break;
            }
        }
        Ok(ids)
    }

    /// Create a post (sent once: no retry).
    pub async fn create_post(&self, token: &str, channel_id: &str, message: &str) -> Result<Value> {
        let body = json!({ "channel_id": channel_id, "message": message });
        self.expect_ok(Method::POST, "/posts", Some(token), Some(&body), false).await.context("create post")
    }
}

fn rejected(status: StatusCode, json: &Value) -> Rejected {
    let field = |k: &str| json.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    Rejected { status, id: field("id"), message: field("message") }
}

fn str_field(json: &Value, key: &str) -> Result<String> {
    match json.get(key).and_then(Value::as_str) {
        Some(s) if !s.is_empty() => Ok(s.to_owned()),
        _ => bail!("answer has no {key}: {json}"),
    }
}
