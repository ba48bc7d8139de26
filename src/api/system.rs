//! `/system`: the health check load balancers and clients use, and draining a node.

use super::Query;
use super::{Auth, State};
use crate::error::ApiResult;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/system/ping", web::get().to(ping));
    cfg.route("/system/drain", web::post().to(drain));
}

/// `POST /system/drain` (Starling's; system admins and local mode): the node that answers drains
/// ([`crate::drain`]: its clients move to other nodes), leaves the cluster and exits, as on
/// SIGTERM. 202 at once; the drain takes some seconds (`starling admin node drain --wait` waits).
async fn drain(state: State, auth: Auth) -> ApiResult<HttpResponse> {
    auth.require_admin()?;
    slog::info!(state.log, "drain requested through the API"; "user_id" => auth.user_id());
    crate::audit::record(&state, &auth, "drainNode", json!({}));
    state.drain.request();
    Ok(HttpResponse::Accepted().json(json!({"status": "OK", "node_id": state.node_id, "hostname": state.hostname})))
}

#[derive(Deserialize)]
struct PingQuery {
    #[serde(default)]
    get_server_status: Option<String>,
}

/// `{"status":"OK"}`; with `get_server_status=true` also a real database write and file store round
/// trip. Anything unhealthy answers 500 with the failing part marked (and `filestore_error` saying why
/// the file store failed).
async fn ping(state: State, q: Query<PingQuery>) -> HttpResponse {
    // Which node answered: its id and hostname (behind a load balancer the operator cannot tell).
    let mut body = json!({"status": "OK", "version": crate::VERSION, "node_id": state.node_id,
                          "hostname": state.cluster.as_ref().map(|c| c.me.hostname.clone()).unwrap_or_else(crate::server::hostname)});
    let mut healthy = true;
    if q.get_server_status.as_deref() == Some("true") {
        let db = state.store.check_writable(&state.node_id).await;
        let fs = state.files.check().await;
        for (key, result) in
            [("database_status", db.map_err(|e| e.to_string())), ("filestore_status", fs.map_err(|e| e.to_string()))]
        {
            match result {
                Ok(()) => body[key] = json!("OK"),
                Err(e) => {
                    slog::warn!(state.log, "health check failed"; "part" => key, "error" => &e);
                    if key == "filestore_status" {
                        // Why, in the operator's terms (unreachable, bucket missing, credentials refused).
                        body["filestore_error"] = json!(e);
                    }
                    body[key] = json!("UNHEALTHY");
                    healthy = false;
                }
            }
        }
        // Not unhealthy, but what the operator should fix (limits below the HA guide's).
        let warnings = state.limits.warnings();
        if !warnings.is_empty() {
            body["warnings"] = json!(warnings);
        }
    }
    if state.drain.is_draining() {
        // A load balancer's health check fails first, so it sends nothing new here.
        body["status"] = json!("UNHEALTHY");
        body["draining"] = json!(true);
        return HttpResponse::ServiceUnavailable().json(body);
    }
    if healthy {
        HttpResponse::Ok().json(body)
    } else {
        body["status"] = json!("UNHEALTHY");
        HttpResponse::InternalServerError().json(body)
    }
}
