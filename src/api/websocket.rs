//! `GET /api/v4/websocket`: the upgrade. Each socket becomes a `WsConnection` actor.

use super::Query;
use super::{authenticate, request_token, State};
use crate::error::{ApiResult, AppError};
use actix_web::{web, HttpRequest, HttpResponse};
use starling_actors::hub::Resume;
use starling_actors::ws_connection::MAX_CLIENT_FRAME;
use starling_actors::WsConnection;
use starling_protocol::id::is_valid_id;
use starling_protocol::ConnectionId;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/websocket", web::get().to(upgrade));
}

#[derive(serde::Deserialize)]
struct ResumeQuery {
    connection_id: Option<String>,
    sequence_number: Option<i64>,
}

async fn upgrade(state: State, req: HttpRequest, body: web::Payload, q: Query<ResumeQuery>) -> ApiResult<HttpResponse> {
    // Authenticated at the upgrade (header or cookie), or later by authentication_challenge.
    let session = match request_token(&req) {
        Some(token) => Some(authenticate(&state, token).await?),
        None => None,
    };
    let resume = match (&q.connection_id, q.sequence_number) {
        (Some(id), Some(seq)) if is_valid_id(id) && seq >= 0 => {
            Some(Resume { connection_id: ConnectionId::from(id.as_str()), sequence_number: seq })
        }
        _ => None,
    };
    let (response, ws, stream) = actix_ws::handle(&req, body).map_err(|e| {
        AppError::bad_request("api.web_socket.connect.upgrade.app_error", "Failed to upgrade the websocket connection.")
            .detail(e.to_string())
    })?;
    let stream =
        stream.max_frame_size(MAX_CLIENT_FRAME).aggregate_continuations().max_continuation_size(MAX_CLIENT_FRAME);
    WsConnection::start(state.ws.clone(), ws, stream, session, resume);
    Ok(response)
}
