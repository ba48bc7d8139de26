//! `/plugins`: Mattermost's plugin management (system admins only) and `/plugins/{id}/...`, the
//! requests a plugin serves itself.
//!
//! - `POST /plugins` (multipart `plugin`, optional `force=true`): 501 unless
//!   `PluginSettings.Enable` and `EnableUploads`; at most 50 MiB; 201 with the manifest.
//! - `GET /plugins`: `{active, inactive}` manifests on this node; `GET /plugins/statuses`: every
//!   node's statuses; `GET /plugins/webapp`: client manifests of running plugins with a webapp
//!   (no session needed).
//! - `POST /plugins/{id}/enable|disable`: `PluginSettings.PluginStates` in the config (so the
//!   change reaches every node); `DELETE /plugins/{id}`: disable, then remove everywhere.
//!
//! Plugin management answers 501 when `PluginSettings.Enable` is off.

use super::{ok, request_token_at, status_ok, Auth, State};
use crate::config::service::{Update, UpdateError};
use crate::error::{ApiResult, AppError};
use crate::plugins::bundle::MAX_BUNDLE_BYTES;
use crate::plugins::host::{cluster_statuses, PluginError, Remove, Upload};
use crate::plugins::process::Call;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use futures_util::StreamExt;
use serde_json::{json, Map, Value};
use std::time::Duration;

/// How long a plugin may take to answer an HTTP request.
const SERVE_HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request body passed to a plugin.
const MAX_PLUGIN_REQUEST_BYTES: usize = 4 << 20;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/plugins", web::post().to(upload))
        .route("/plugins", web::get().to(list))
        .route("/plugins/statuses", web::get().to(statuses))
        .route("/plugins/webapp", web::get().to(webapp))
        .route("/plugins/{plugin_id}", web::delete().to(remove))
        .route("/plugins/{plugin_id}/enable", web::post().to(enable))
        .route("/plugins/{plugin_id}/disable", web::post().to(disable));
}

/// `/plugins/{plugin_id}/...` outside `/api/v4`: served by the plugin.
pub fn configure_proxy(cfg: &mut web::ServiceConfig) {
    cfg.route("/plugins/{plugin_id}/{rest:.*}", web::route().to(serve_http));
}

fn plugins_disabled() -> AppError {
    AppError::new(
        StatusCode::NOT_IMPLEMENTED,
        "app.plugin.disabled.app_error",
        "Plugins have been disabled. Please check your logs for details.",
    )
}

fn require_enabled(state: &State) -> ApiResult<()> {
    if state.config().plugin_settings.enable {
        Ok(())
    } else {
        Err(plugins_disabled())
    }
}

fn not_installed() -> AppError {
    AppError::new(StatusCode::NOT_FOUND, "app.plugin.not_installed.app_error", "Plugin is not installed.")
}

fn plugin_error(e: PluginError) -> AppError {
    match e {
        PluginError::BadRequest(id, message) => AppError::bad_request(id, message),
        PluginError::NotFound => not_installed(),
        PluginError::Internal(detail) => AppError::internal(detail),
    }
}

fn plugin_id_param(id: &str) -> ApiResult<String> {
    let id = id.to_lowercase();
    if crate::extensions::valid_id(&id) {
        Ok(id)
    } else {
        Err(AppError::invalid_param("plugin_id"))
    }
}

async fn upload(state: State, auth: Auth, req: HttpRequest, payload: web::Payload) -> ApiResult<HttpResponse> {
    let ps = state.config().plugin_settings;
    if !ps.enable || !ps.enable_uploads || ps.require_plugin_signature {
        return Err(AppError::new(
            StatusCode::NOT_IMPLEMENTED,
            "app.plugin.upload_disabled.app_error",
            "Plugins and/or plugin uploads have been disabled.",
        ));
    }
    auth.require_admin()?;
    let mut bundle: Option<Vec<u8>> = None;
    let mut force = false;
    let mut form = super::multipart_form(&req, payload)?;
    while let Some(field) = form.next().await {
        let mut field = field.map_err(|e| {
            AppError::bad_request("api.plugin.upload.file.app_error", "Could not parse the multipart form.")
                .detail(e.to_string())
        })?;
        let name = field.content_disposition().and_then(|c| c.get_name()).unwrap_or("").to_owned();
        let limit = if name == "plugin" { MAX_BUNDLE_BYTES } else { 1024 };
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk
                .map_err(|_| AppError::bad_request("api.plugin.upload.file.app_error", "The upload was cut short."))?;
            if bytes.len() + chunk.len() > limit {
                return Err(AppError::too_large(format!(
                    "Unable to upload plugin. The bundle is over {} MiB.",
                    MAX_BUNDLE_BYTES >> 20
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        match name.as_str() {
            "plugin" => bundle = Some(bytes),
            "force" => force = String::from_utf8_lossy(&bytes).trim() == "true",
            _ => {}
        }
    }
    let bundle = bundle.ok_or_else(|| {
        AppError::bad_request("api.plugin.upload.array.app_error", "File array is empty in the request.")
    })?;
    let manifest =
        state.plugins.host.send(Upload { bundle, force }).await.map_err(AppError::internal)?.map_err(plugin_error)?;
    slog::info!(state.log, "plugin uploaded"; "plugin_id" => &manifest.id, "version" => &manifest.version, "user_id" => auth.user_id());
    crate::audit::record(
        &state,
        &auth,
        "uploadPlugin",
        json!({"plugin_id": manifest.id, "version": manifest.version, "force": force}),
    );
    Ok(HttpResponse::Created().json(manifest))
}

async fn list(state: State, auth: Auth) -> ApiResult<HttpResponse> {
    require_enabled(&state)?;
    auth.require_admin()?;
    let shared = &state.plugins.shared;
    let (mut active, mut inactive) = (Vec::new(), Vec::new());
    for m in shared.manifests() {
        if shared.is_running(&m.id) {
            active.push(m);
        } else {
            inactive.push(m);
        }
    }
    Ok(ok(&json!({ "active": active, "inactive": inactive })))
}

async fn statuses(state: State, auth: Auth) -> ApiResult<HttpResponse> {
    require_enabled(&state)?;
    auth.require_admin()?;
    Ok(ok(&cluster_statuses(&state).await))
}

/// Running plugins with a webapp part. Starling's own client does not load plugin webapps, and no
/// bundle's webapp is served, so this lists what other clients could know about.
async fn webapp(state: State) -> ApiResult<HttpResponse> {
    require_enabled(&state)?;
    let shared = &state.plugins.shared;
    let list: Vec<Value> = shared
        .manifests()
        .iter()
        .filter(|m| m.webapp.is_some() && shared.is_running(&m.id))
        .map(|m| m.client())
        .collect();
    Ok(ok(&list))
}

/// Set `PluginStates[id].Enable` in the config; every node follows the config.
async fn set_enabled(state: &State, id: &str, enable: bool) -> ApiResult<()> {
    let mut states = Map::new();
    states.insert(id.to_owned(), json!({ "Enable": enable }));
    let body = json!({ "PluginSettings": { "PluginStates": states } });
    let saved =
        state.config_service.send(Update { body, patch: true, internal: true }).await.map_err(AppError::internal)?;
    saved.map_err(|e| match e {
        UpdateError::Invalid(e) => {
            AppError::bad_request("app.plugin.config.app_error", "The plugin state is not valid.").detail(e.to_string())
        }
        UpdateError::Storage(e) => AppError::internal(e),
        UpdateError::ReadOnly => AppError::internal("read-only config"),
    })?;
    Ok(())
}

async fn enable(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    toggle(state, auth, path, true).await
}

async fn disable(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    toggle(state, auth, path, false).await
}

async fn toggle(state: State, auth: Auth, path: web::Path<String>, enable: bool) -> ApiResult<HttpResponse> {
    require_enabled(&state)?;
    auth.require_admin()?;
    let id = plugin_id_param(&path)?;
    // Installed here, or stored and on its way here (uploaded through another node a moment ago).
    if state.plugins.shared.manifest(&id).is_none() {
        let stored = state.files.list(crate::plugins::STORE_FOLDER).await.map_err(AppError::internal)?;
        if !stored.contains(&format!("{id}.tar.gz")) {
            return Err(not_installed());
        }
    }
    set_enabled(&state, &id, enable).await?;
    slog::info!(state.log, "plugin state set"; "plugin_id" => &id, "enable" => enable, "user_id" => auth.user_id());
    crate::audit::record(
        &state,
        &auth,
        if enable { "enablePlugin" } else { "disablePlugin" },
        json!({"plugin_id": id}),
    );
    Ok(status_ok())
}

async fn remove(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    require_enabled(&state)?;
    auth.require_admin()?;
    let id = plugin_id_param(&path)?;
    // Disabled first, so installing it again later leaves it off (as Mattermost does).
    if state.config().plugin_settings.plugin_states.get(&id).is_some_and(|s| s.enable) {
        set_enabled(&state, &id, false).await?;
    }
    state.plugins.host.send(Remove { id: id.clone() }).await.map_err(AppError::internal)?.map_err(plugin_error)?;
    slog::info!(state.log, "plugin removed"; "plugin_id" => &id, "user_id" => auth.user_id());
    crate::audit::record(&state, &auth, "removePlugin", json!({"plugin_id": id}));
    Ok(status_ok())
}

/// Headers a client may not send to a plugin (the node sets who the caller is).
const STRIPPED: [&str; 4] = ["mattermost-user-id", "mattermost-plugin-id", "cookie", "authorization"];

/// A request to `/plugins/{id}/...`: passed to the plugin's `serve_http` with the caller's user
/// id when the request carries a valid session (otherwise unauthenticated, as in Mattermost).
async fn serve_http(
    state: State,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    mut body: web::Payload,
) -> ApiResult<HttpResponse> {
    let (id, rest) = path.into_inner();
    let id = id.to_lowercase();
    let Some(process) = state.plugins.shared.process(&id) else {
        return Err(AppError::new(StatusCode::NOT_FOUND, "app.plugin.not_found.app_error", "Plugin is not running."));
    };
    let mut user_id = String::new();
    if let Some((token, at)) = request_token_at(&req) {
        if super::check_csrf(&state, &req, &token, at).is_ok() {
            if let Ok(session) = super::authenticate(&state, token).await {
                user_id = session.user_id.as_str().to_owned();
            }
        }
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk =
            chunk.map_err(|_| AppError::bad_request("api.plugin.request.app_error", "The request was cut short."))?;
        if bytes.len() + chunk.len() > MAX_PLUGIN_REQUEST_BYTES {
            return Err(AppError::too_large("The request is too large for the plugin."));
        }
        bytes.extend_from_slice(&chunk);
    }
    let mut headers = Map::new();
    for (name, value) in req.headers() {
        let name = name.as_str().to_lowercase();
        if STRIPPED.contains(&name.as_str()) {
            continue;
        }
        if let Ok(v) = value.to_str() {
            headers.insert(name, Value::String(v.to_owned()));
        }
    }
    // The access_token query parameter is a credential: not passed on.
    let query: Vec<(String, String)> = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k != "access_token")
        .collect();
    let params = json!({
        "method": req.method().as_str(),
        "path": format!("/{rest}"),
        "query": query.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
        "headers": headers,
        "body": base64::engine::general_purpose::STANDARD.encode(&bytes),
        "user_id": user_id,
    });
    let answer = process
        .send(Call { method: "serve_http".into(), params, timeout: SERVE_HTTP_TIMEOUT })
        .await
        .map_err(|_| AppError::unavailable("app.plugin.unavailable.app_error", "The plugin is not running."))?;
    let answer = answer.map_err(|e| {
        AppError::new(StatusCode::BAD_GATEWAY, "app.plugin.serve_http.app_error", "The plugin could not answer.")
            .detail(e.to_string())
    })?;
    let status = answer.get("status").and_then(Value::as_u64).and_then(|s| StatusCode::from_u16(s as u16).ok());
    let mut res = HttpResponse::build(status.unwrap_or(StatusCode::OK));
    if let Some(h) = answer.get("headers").and_then(Value::as_object) {
        for (k, v) in h {
            let lower = k.to_lowercase();
            if lower == "set-cookie" || lower == "content-length" || lower == "transfer-encoding" {
                continue;
            }
            use actix_web::http::header::{HeaderName, HeaderValue};
            let pair = v
                .as_str()
                .and_then(|v| Some((HeaderName::from_bytes(k.as_bytes()).ok()?, HeaderValue::from_str(v).ok()?)));
            if let Some(pair) = pair {
                res.insert_header(pair);
            }
        }
    }
    let body = answer
        .get("body")
        .and_then(Value::as_str)
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .unwrap_or_default();
    Ok(res.body(body))
}
