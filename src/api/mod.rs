//! Mattermost's API v4, one file per resource. Handlers check permissions themselves, through the
//! helpers here, and answer every failure with [`AppError`]'s JSON shape.

mod audits;
mod autocomplete;
mod bots;
mod categories;
mod channel_edits;
mod channels;
pub mod cluster;
mod command_builtins;
mod command_webhooks;
mod commands;
mod compat;
mod config;
mod custom_commands;
mod database;
mod direct;
mod emoji;
mod files;
mod incoming_hooks;
mod jobs;
pub mod local;
mod mentions;
mod my_channels;
pub(crate) mod outgoing_hooks;
mod passwords;
pub mod permissions;
mod pictures;
mod pins;
pub mod plugins;
pub(crate) mod posts;
mod preferences;
pub mod query;
mod reactions;
mod read_state;
mod roles;
mod search;
pub mod sessions;
mod status;
mod system;
mod teams;
mod threads;
mod tokens;
pub mod upload_form;
mod users;
pub mod webapp;
mod websocket;

use crate::config::Config;
use crate::error::{ApiResult, AppError};
use crate::filestore::FileStore;
use crate::metrics::Metrics;
use crate::store::{Channel, Store, Team};
use actix::Addr;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use starling_actors::{GetSession, Session, SessionCache};
use starling_protocol::id::is_valid_id;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

pub use query::Query;

/// The cluster, for status and for broadcasts that must reach every node.
pub struct ClusterInfo {
    pub cluster: Addr<starling_actors::cluster::Cluster>,
    pub me: starling_actors::cluster::NodeInfo,
    pub counters: Arc<starling_actors::cluster::ClusterCounters>,
}

/// What every handler can reach.
pub struct AppState {
    pub store: Store,
    pub config: Arc<RwLock<Config>>,
    /// Reloads and saves the config, and keeps it in step across the cluster.
    pub config_service: Addr<crate::config::service::ConfigService>,
    /// Where the config is kept (a file or the database).
    pub config_source: crate::config::source::ConfigSource,
    pub files: FileStore,
    pub sessions: Addr<SessionCache>,
    pub events: crate::events::Events,
    pub presence: Addr<starling_actors::Presence>,
    pub ws: Arc<starling_actors::WsContext>,
    pub cluster: Option<ClusterInfo>,
    /// The leader election and the job server's actors.
    pub jobs: crate::jobs::JobsHandle,
    pub schema_version: i32,
    pub metrics: Metrics,
    /// Hooks that may change or refuse posts (extensions, plugins).
    pub hooks: Arc<crate::hooks::Hooks>,
    /// Slash commands extensions and plugins answer.
    pub commands: Arc<crate::commands::Commands>,
    /// Calls to user-configured URLs (custom commands, outgoing webhooks).
    pub outbound: crate::outbound::Outbound,
    /// Restarts the node's actors; its counts are exported as metrics.
    pub supervisor: starling_actors::Supervisor,
    pub bus_counters: Arc<starling_actors::event_bus::BusCounters>,
    pub node_id: String,
    pub hostname: String,
    /// Whether the node drains (before it leaves), and how to ask it to.
    pub drain: Arc<crate::drain::Drain>,
    /// The process limits found at start (warned about when below the HA guide's).
    pub limits: crate::limits::ProcessLimits,
    pub log: slog::Logger,
    /// What the chat API computes once per node (the installation's DiagnosticId, role ids).
    pub chat: ChatState,
    /// The node's plugins (their host actor, and what the API reads of them).
    pub plugins: crate::plugins::Plugins,
    /// The audit queue ([`crate::audit::record`]).
    pub audit: crate::audit::Audit,
}

/// Values the chat API reads from the database once and then keeps for the node's lifetime.
#[derive(Default)]
pub struct ChatState {
    diagnostic_id: tokio::sync::OnceCell<String>,
    role_ids: tokio::sync::OnceCell<std::collections::HashMap<String, (String, i64)>>,
}

impl AppState {
    /// The installation's stable id (`Systems.DiagnosticId`, made by the first node that asks).
    pub async fn diagnostic_id(&self) -> ApiResult<String> {
        let id = self
            .chat
            .diagnostic_id
            .get_or_try_init(|| async {
                self.store.system_value_insert_once("DiagnosticId", &starling_protocol::new_id()).await
            })
            .await?;
        Ok(id.clone())
    }

    /// The installation's id and creation time of every built-in role, by name.
    pub async fn role_ids(&self) -> ApiResult<&std::collections::HashMap<String, (String, i64)>> {
        let names: Vec<&str> = permissions::BUILT_IN_ROLES.iter().map(|r| r.name).collect();
        Ok(self.chat.role_ids.get_or_try_init(|| async { self.store.role_ids(&names).await }).await?)
    }

    /// A snapshot of the config (cheap to clone: the node reads it per request).
    pub fn config(&self) -> Config {
        self.config.read().map(|c| c.clone()).unwrap_or_default()
    }
}

pub type State = web::Data<AppState>;

/// Register every route under `/api/v4`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::QueryConfig::default().error_handler(|e, _| {
        AppError::bad_request("api.context.invalid_url_param.app_error", "Invalid query parameter.")
            .detail(e.to_string())
            .into()
    }))
    .app_data(web::PathConfig::default().error_handler(|e, _| {
        AppError::bad_request("api.context.invalid_url_param.app_error", "Invalid URL parameter.")
            .detail(e.to_string())
            .into()
    }))
    .service(
        web::scope("/api/v4")
            .wrap_fn(|req, srv| {
                use actix_web::dev::Service;
                let fut = srv.call(req);
                async move {
                    let mut res = fut.await?;
                    if let Ok(v) = header::HeaderValue::from_str(&version_id()) {
                        res.headers_mut().insert(header::HeaderName::from_static("x-version-id"), v);
                    }
                    Ok(res)
                }
            })
            .configure(status::configure)
            .configure(compat::configure)
            .configure(autocomplete::configure)
            .configure(roles::configure)
            .configure(direct::configure)
            .configure(preferences::configure)
            .configure(read_state::configure)
            .configure(audits::configure)
            .configure(sessions::configure)
            .configure(passwords::configure)
            .configure(tokens::configure)
            .configure(users::configure)
            .configure(pictures::configure)
            .configure(teams::configure)
            .configure(channels::configure)
            .configure(channel_edits::configure)
            .configure(my_channels::configure)
            .configure(categories::configure)
            .configure(cluster::configure)
            .configure(reactions::configure)
            .configure(pins::configure)
            .configure(threads::configure)
            .configure(posts::configure)
            .configure(emoji::configure)
            .configure(commands::configure)
            .configure(bots::configure)
            .configure(incoming_hooks::configure)
            .configure(outgoing_hooks::configure)
            .configure(custom_commands::configure)
            .configure(plugins::configure)
            .configure(search::configure)
            .configure(files::configure)
            .configure(jobs::configure)
            .configure(system::configure)
            .configure(database::configure)
            .configure(config::configure)
            .configure(websocket::configure)
            .default_service(web::to(unmatched)),
    )
    .configure(files::configure_public)
    .configure(command_webhooks::configure_public)
    .configure(incoming_hooks::configure_public)
    .configure(webapp::configure);
}

/// An API path no route matched. One with empty segments (`/posts/{id}//reactions`, as
/// mattermostdriver builds some) is redirected to its clean form with 301, as Mattermost's router
/// does; anything else is a JSON 404.
async fn unmatched(req: HttpRequest) -> HttpResponse {
    let path = req.path();
    if path.contains("//") {
        let mut clean = String::with_capacity(path.len());
        for c in path.chars() {
            if !(c == '/' && clean.ends_with('/')) {
                clean.push(c);
            }
        }
        if !req.query_string().is_empty() {
            clean = format!("{clean}?{}", req.query_string());
        }
        return HttpResponse::MovedPermanently().insert_header((header::LOCATION, clean)).finish();
    }
    not_found().await
}

pub async fn not_found() -> HttpResponse {
    use actix_web::ResponseError;
    no_such_route().error_response()
}

/// What Mattermost's router answers when no route matches.
pub fn no_such_route() -> AppError {
    AppError::new(
        actix_web::http::StatusCode::NOT_FOUND,
        "api.context.404.app_error",
        "Sorry, we could not find the page.",
    )
}

/// The names a path may carry, with the characters Mattermost's router accepts for each.
#[derive(Debug, Clone, Copy)]
pub enum PathName {
    /// `{username:[A-Za-z0-9\_\-\.]+}`
    Username,
    /// `{team_name:[A-Za-z0-9_-]+}`
    Team,
    /// `{channel_name:[A-Za-z0-9_-]+}`
    Channel,
}

/// The longest name of any kind (the database's column width).
const PATH_NAME_MAX: usize = 64;

/// A name from the path: 404 (as Mattermost's router answers) when it cannot name anything,
/// because it has a character the kind's pattern excludes or is longer than any stored name.
pub fn name_param(kind: PathName, value: &str) -> ApiResult<()> {
    let allowed =
        |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-' || (matches!(kind, PathName::Username) && c == '.');
    if value.is_empty() || value.len() > PATH_NAME_MAX || !value.chars().all(allowed) {
        return Err(no_such_route());
    }
    Ok(())
}

/// What `X-Version-Id` and the websocket `hello` report: Mattermost's format
/// `<version>.<build>.<config hash>.<licensed>`, with Starling's own version as the build. The same
/// string on every node, so the web app never thinks the server changed under it.
pub fn version_id() -> String {
    format!("{}.{}.0.false", crate::MATTERMOST_VERSION, crate::VERSION)
}

/// Where clients reach the node, without a trailing slash: `ServiceSettings.SiteURL`, or without
/// one the scheme and host the request came to (as Mattermost's `GetSiteURLHeader`).
pub fn site_url(state: &AppState, req: &HttpRequest) -> String {
    let site = state.config.read().map(|c| c.service_settings.site_url.clone()).unwrap_or_default();
    let site = site.trim_end_matches('/');
    if site.is_empty() {
        let conn = req.connection_info();
        format!("{}://{}", conn.scheme(), conn.host())
    } else {
        site.to_owned()
    }
}

/// Where a request's token came from: cookie-authenticated writes need a CSRF token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenLocation {
    Header,
    Cookie,
    Query,
}

/// The token a request carries: `Authorization: Bearer|Token <t>` (any case), a `Token` header,
/// the `MMAUTHTOKEN` cookie, or an `access_token` query parameter.
pub fn request_token(req: &HttpRequest) -> Option<String> {
    request_token_at(req).map(|(t, _)| t)
}

/// [`request_token`] and where it was found (Mattermost's order: header, cookie, query).
pub fn request_token_at(req: &HttpRequest) -> Option<(String, TokenLocation)> {
    if let Some(v) = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        if let Some((scheme, rest)) = v.split_once(' ') {
            if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token") {
                let t = rest.trim();
                if !t.is_empty() {
                    return Some((t.to_owned(), TokenLocation::Header));
                }
            }
        }
    }
    if let Some(t) = req.headers().get("Token").and_then(|v| v.to_str().ok()) {
        if !t.trim().is_empty() {
            return Some((t.trim().to_owned(), TokenLocation::Header));
        }
    }
    if let Some(c) = req.cookie("MMAUTHTOKEN") {
        if !c.value().is_empty() {
            return Some((c.value().to_owned(), TokenLocation::Cookie));
        }
    }
    req.query_string()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "access_token")
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
        .map(|t| (t, TokenLocation::Query))
}

/// The session's CSRF token, sent as the `MMCSRF` cookie at login and expected back in
/// `X-CSRF-Token`. Mattermost keeps a random one in the session's props; deriving it one-way from
/// the session token gives the same guarantee (a page that cannot read the cookies cannot know
/// it) without a lookup, and holding the session token already grants everything.
pub fn csrf_token(session_token: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("MMCSRF:{session_token}").as_bytes());
    hex::encode(&digest[..13])
}

/// Mattermost's CSRF rule: a request authenticated by the cookie alone that is not a GET must
/// carry the session's `X-CSRF-Token`, or (unless ServiceSettings.ExperimentalStrictCSRFEnforcement)
/// `X-Requested-With: XMLHttpRequest`. Otherwise it is refused as an expired session (401).
pub fn check_csrf(state: &AppState, req: &HttpRequest, token: &str, at: TokenLocation) -> ApiResult<()> {
    if at != TokenLocation::Cookie || req.method() == actix_web::http::Method::GET {
        return Ok(());
    }
    let sent = req.headers().get("X-CSRF-Token").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !sent.is_empty() && sent == csrf_token(token) {
        return Ok(());
    }
    let xhr = req.headers().get("X-Requested-With").and_then(|v| v.to_str().ok()) == Some("XMLHttpRequest");
    let strict = state.config.read().map(|c| c.service_settings.experimental_strict_csrf_enforcement).unwrap_or(false);
    if xhr && !strict {
        return Ok(());
    }
    Err(AppError::unauthorized().detail("Appears to be a CSRF attempt"))
}

/// An authenticated request: extracting it answers 401 when the token is missing, unknown or expired.
pub struct Auth {
    pub session: Session,
    /// The client's address as the node sees it (for the audit trail).
    pub client_ip: Option<std::net::IpAddr>,
}

impl Auth {
    pub fn user_id(&self) -> &str {
        self.session.user_id.as_str()
    }
    /// Whether the caller may manage the system (system admins, by their role's permissions).
    pub fn is_admin(&self) -> bool {
        self.has_permission("manage_system")
    }
    pub fn require_admin(&self) -> ApiResult<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(AppError::forbidden("You do not have the appropriate permissions."))
        }
    }
}

impl FromRequest for Auth {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        if req.app_data::<local::LocalMode>().is_some() {
            return Box::pin(std::future::ready(Ok(Auth { session: local::local_session(), client_ip: None })));
        }
        let token = request_token_at(req);
        let state = req.app_data::<State>().cloned();
        let csrf = match (&token, &state) {
            (Some((t, at)), Some(s)) => check_csrf(s, req, t, *at),
            _ => Ok(()),
        };
        let client_ip = state.as_ref().and_then(|s| crate::audit::client_ip(&s.config, req));
        Box::pin(async move {
            let (token, _) = token.ok_or_else(AppError::unauthorized)?;
            let state = state.ok_or_else(|| AppError::internal("no state"))?;
            let session = authenticate(&state, token).await?;
            csrf?;
            Ok(Auth { session, client_ip })
        })
    }
}

/// Resolve a token to a live session.
pub async fn authenticate(state: &AppState, token: String) -> ApiResult<Session> {
    if token.len() > 64 {
        return Err(AppError::unauthorized());
    }
    let session = state
        .sessions
        .send(GetSession { token })
        .await
        .map_err(AppError::internal)?
        .map_err(|e| {
            AppError::unavailable("app.session.unavailable.app_error", "Sessions cannot be checked right now.")
                .detail(e.to_string())
        })?
        .ok_or_else(AppError::unauthorized)?;
    if session.is_expired(crate::store::now_ms()) {
        return Err(AppError::unauthorized());
    }
    Ok(session)
}

/// Read a JSON body of at most ServiceSettings.MaximumPayloadSizeBytes: 413 past that, 400 when
/// it is not the JSON asked for. Unknown fields and `null`s for optional fields are accepted.
pub async fn read_json<T: DeserializeOwned>(state: &AppState, mut payload: web::Payload) -> ApiResult<T> {
    let limit = state.config.read().map(|c| c.service_settings.maximum_payload_size_bytes).unwrap_or(300_000) as usize;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            AppError::bad_request("api.context.invalid_body_param.app_error", "Could not read the request body.")
                .detail(e.to_string())
        })?;
        if body.len() + chunk.len() > limit {
            return Err(AppError::too_large(format!("The request body is larger than {limit} bytes.")));
        }
        body.extend_from_slice(&chunk);
    }
    if json_has_nul(&body) {
        return Err(AppError::bad_request(
            "api.context.invalid_body_param.app_error",
            "Invalid or missing data in request body.",
        )
        .detail("the body contains a NUL character (U+0000)"));
    }
    serde_json::from_slice(&body).map_err(|e| {
        AppError::bad_request("api.context.invalid_body_param.app_error", "Invalid or missing data in request body.")
            .detail(e.to_string())
    })
}

/// Whether JSON text holds a NUL character, raw or escaped as `\u0000` (PostgreSQL cannot store
/// one in text). Escapes are read pairwise, so an escaped backslash followed by `u0000` is text.
pub fn json_has_nul(body: &[u8]) -> bool {
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            0 => return true,
            b'\\' => {
                if body.get(i + 1) == Some(&b'u') && body.get(i + 2..i + 6) == Some(b"0000") {
                    return true;
                }
                i += 2;
            }
            _ => i += 1,
        }
    }
    false
}

/// What the URL of a request must not carry before any handler sees it: a NUL (`%00`). In the
/// path it names nothing (404, as Mattermost answers for a user, team or channel name with one);
/// in the query it is an invalid parameter (400).
pub fn url_input_error(raw_path: &str, raw_query: &str) -> Option<AppError> {
    if raw_path.contains("%00") {
        return Some(no_such_route());
    }
    if raw_query.contains("%00") {
        return Some(
            AppError::bad_request("api.context.invalid_url_param.app_error", "Invalid query parameter.")
                .detail("a query parameter contains a NUL character (U+0000)"),
        );
    }
    None
}

pub fn ok<T: Serialize>(v: &T) -> HttpResponse {
    HttpResponse::Ok().json(v)
}

pub fn created<T: Serialize>(v: &T) -> HttpResponse {
    HttpResponse::Created().json(v)
}

pub fn status_ok() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "OK"}))
}

/// A path id: 400 unless it has the shape of an id.
pub fn id_param(name: &str, value: &str) -> ApiResult<()> {
    if is_valid_id(value) {
        Ok(())
    } else {
        Err(AppError::bad_request(
            "api.context.invalid_url_param.app_error",
            format!("Invalid or missing {name} in request URL."),
        ))
    }
}

/// Paging as Mattermost reads it: `page` from 0, `per_page` defaulting to 60 and capped at 200.
#[derive(serde::Deserialize)]
pub struct Paging {
    #[serde(default)]
    pub page: i64,
    #[serde(default = "default_per_page")]
    pub per_page: i64,
}

pub fn default_per_page() -> i64 {
    60
}

impl Paging {
    /// The page and page size to use: a negative page is the first, a negative size the default
    /// (Mattermost falls back rather than refusing), the size capped at 200.
    pub fn checked(&self) -> ApiResult<(i64, i64)> {
        let page = self.page.clamp(0, 100_000);
        let per_page = if self.per_page < 0 { default_per_page() } else { self.per_page.clamp(1, query::PER_PAGE_MAX) };
        Ok((page, per_page))
    }
}

/// The channel, if the user may read its content (Mattermost's `HasPermissionToReadChannel`):
/// `read_channel_content` by their roles, or, in an open channel, `read_public_channel` in its
/// team (team members may read open channels they have not joined). 404 if there is no such
/// channel, 403 if they may not.
pub async fn readable_channel(state: &AppState, auth: &Auth, channel_id: &str) -> ApiResult<Channel> {
    id_param("channel_id", channel_id)?;
    let channel = state.store.channel(channel_id).await?.ok_or_else(|| AppError::not_found("channel"))?;
    if permissions::has_channel_permission(state, auth, &channel, "read_channel_content").await? {
        return Ok(channel);
    }
    if channel.is_open()
        && permissions::has_team_permission(state, auth, &channel.team_id, "read_public_channel").await?
    {
        return Ok(channel);
    }
    Err(permissions::forbidden())
}

/// The channel, if the caller holds `permission` in it by their channel, team or system roles
/// (membership listings need `read_channel_content`: a team member who has not joined an open
/// channel may read its posts but not its members, as in Mattermost).
pub async fn channel_with_permission(
    state: &AppState,
    auth: &Auth,
    channel_id: &str,
    permission: &str,
) -> ApiResult<Channel> {
    id_param("channel_id", channel_id)?;
    let channel = state.store.channel(channel_id).await?.ok_or_else(|| AppError::not_found("channel"))?;
    permissions::require(permissions::has_channel_permission(state, auth, &channel, permission).await?)?;
    Ok(channel)
}

/// The channel, if the user may post in it (`create_post` by their channel, system or team
/// roles): 404 if there is no such channel, 403 without the permission, 400 in an archived
/// channel. One query for a member.
pub async fn postable_channel(state: &AppState, auth: &Auth, channel_id: &str) -> ApiResult<Channel> {
    writable_channel(state, auth, channel_id, "create_post").await
}

/// [`postable_channel`] for another channel permission (`upload_file`, ...).
pub async fn writable_channel(state: &AppState, auth: &Auth, channel_id: &str, permission: &str) -> ApiResult<Channel> {
    id_param("channel_id", channel_id)?;
    let (channel, member_roles) = state
        .store
        .channel_with_membership(channel_id, auth.user_id())
        .await?
        .ok_or_else(|| AppError::not_found("channel"))?;
    let granted = member_roles.as_deref().is_some_and(|r| permissions::roles_grant(r, permission))
        || auth.has_permission(permission)
        || permissions::has_team_permission(state, auth, &channel.team_id, permission).await?;
    permissions::require(granted)?;
    if channel.delete_at != 0 {
        return Err(AppError::bad_request(
            "api.post.create_post.can_not_post_to_deleted.error",
            "Can not post to deleted channel.",
        ));
    }
    Ok(channel)
}

/// Create a post as `user_id` in `channel_id` the way the API does (hooks, counters, `posted` to
/// every node): for extensions and plugins. The user must be a member of the live channel.
pub async fn create_post_as(
    state: &AppState,
    user_id: &str,
    channel_id: &str,
    root_id: &str,
    message: &str,
    props: serde_json::Value,
) -> ApiResult<crate::store::Post> {
    id_param("channel_id", channel_id)?;
    id_param("user_id", user_id)?;
    let (channel, is_member) = state
        .store
        .channel_with_membership(channel_id, user_id)
        .await?
        .ok_or_else(|| AppError::not_found("channel"))?;
    if is_member.is_none() || channel.delete_at != 0 {
        return Err(AppError::forbidden("The user cannot post in that channel."));
    }
    if !root_id.is_empty() {
        id_param("root_id", root_id)?;
        let root = state.store.reply_target(root_id).await?;
        if !root.is_some_and(|(c, deleted, root_of_root)| c == channel.id && deleted == 0 && root_of_root.is_empty()) {
            return Err(AppError::bad_request("api.post.create_post.root_id.app_error", "Invalid RootId parameter."));
        }
    }
    let draft = posts::NewDraft {
        user_id: user_id.to_owned(),
        channel,
        root_id: root_id.to_owned(),
        message: message.to_owned(),
        props: if props.is_object() { props } else { serde_json::json!({}) },
        file_ids: vec![],
        post_type: String::new(),
        pending_post_id: String::new(),
    };
    posts::write_post(state, draft).await
}

/// The team, if the user may view it (`view_team`: its members, and system admins).
pub async fn member_team(state: &AppState, auth: &Auth, team_id: &str) -> ApiResult<Team> {
    team_with(state, auth, team_id, "view_team").await
}

/// The team, if the caller holds `permission` in it: 400 for a malformed id, 404 if there is no
/// such team, 403 without the permission.
pub async fn team_with(state: &AppState, auth: &Auth, team_id: &str, permission: &str) -> ApiResult<Team> {
    id_param("team_id", team_id)?;
    let team = state.store.team(team_id).await?.ok_or_else(|| AppError::not_found("team"))?;
    permissions::require(permissions::has_team_permission(state, auth, &team.id, permission).await?)?;
    Ok(team)
}

/// Whether the caller may act for user `user_id`: themself, or with `edit_other_users`
/// (Mattermost's `SessionHasPermissionToUser`).
pub fn acts_for(auth: &Auth, user_id: &str) -> bool {
    user_id == auth.user_id() || auth.has_permission("edit_other_users")
}

/// The user a `{user_id}` path names (`me` is the caller), if the caller may act for them.
pub fn self_or_admin<'a>(auth: &'a Auth, id: &'a str) -> ApiResult<&'a str> {
    let id = resolve_user_id(auth, id)?;
    permissions::require(acts_for(auth, id))?;
    Ok(id)
}

/// `me` in a path means the caller.
pub fn resolve_user_id<'a>(auth: &'a Auth, id: &'a str) -> ApiResult<&'a str> {
    if id == "me" {
        Ok(auth.user_id())
    } else {
        id_param("user_id", id)?;
        Ok(id)
    }
}

/// A multipart form of the request, refused (400) when its boundary is one the parser cannot
/// take safely (see [`upload_form::boundary_ok`]). Every multipart endpoint reads through it.
pub(crate) fn multipart_form(req: &HttpRequest, payload: web::Payload) -> ApiResult<actix_multipart::Multipart> {
    if !upload_form::boundary_ok(req.headers()) {
        return Err(AppError::bad_request(
            "api.context.invalid_body_param.app_error",
            "Invalid multipart boundary: it must be at least 4 characters long.",
        ));
    }
    Ok(actix_multipart::Multipart::new(req.headers(), payload.into_inner()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_found_raw_and_escaped_but_not_in_an_escaped_backslash() {
        assert!(json_has_nul(b"{\"m\":\"a\\u0000b\"}"));
        assert!(json_has_nul(b"{\"m\":\"\0\"}"));
        assert!(!json_has_nul(b"{\"m\":\"a\\\\u0000b\"}"), "an escaped backslash, then text");
        assert!(json_has_nul(b"{\"m\":\"\\\\\\u0000\"}"), "an escaped backslash, then a NUL");
        assert!(!json_has_nul(b"{\"m\":\"\\u0001 \\n\"}"));
        assert!(!json_has_nul(b"{\"m\":\"trailing\\"));
    }

    #[test]
    fn path_names_follow_the_router_patterns() {
        assert!(name_param(PathName::Username, "alice.b-c_9").is_ok());
        assert!(name_param(PathName::Team, "team-1_x").is_ok());
        for (kind, bad) in [
            (PathName::Team, "a.b"),
            (PathName::Channel, "a b"),
            (PathName::Username, "ünï"),
            (PathName::Username, ""),
            (PathName::Channel, &*"x".repeat(65)),
        ] {
            assert_eq!(name_param(kind, bad).map_err(|e| e.status.as_u16()), Err(404), "{kind:?} {bad:?}");
        }
    }

    #[test]
    fn a_nul_in_the_url_is_404_in_the_path_and_400_in_the_query() {
        assert_eq!(url_input_error("/api/v4/users/username/a%00b", "").map(|e| e.status.as_u16()), Some(404));
        assert_eq!(url_input_error("/api/v4/users", "term=a%00").map(|e| e.status.as_u16()), Some(400));
        assert!(url_input_error("/api/v4/users/username/a%20b", "term=%2000").is_none());
    }
}
