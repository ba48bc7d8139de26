//! `GET /api/v4/websocket`: the upgrade. Each socket becomes a `WsConnection` actor.

use super::Query;
use super::{authenticate, request_token, State};
use crate::error::{ApiResult, AppError};
use actix_web::{web, HttpRequest, HttpResponse};
use starling_actors::hub::Resume;
use starling_actors::ws_connection::{FrameTooLarge, MAX_CLIENT_FRAME};
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
    if state.drain.is_draining() {
        // The client tries again, through the load balancer, and lands on another node.
        return Err(AppError::unavailable(
            "api.web_socket.connect.draining.app_error",
            "This server is shutting down; connect again to reach another one.",
        ));
    }
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
    let body = frame_limited(&req, body).await?;
    let (response, ws, stream) = actix_ws::handle(&req, body).map_err(|e| {
        AppError::bad_request("api.web_socket.connect.upgrade.app_error", "Failed to upgrade the websocket connection.")
            .detail(e.to_string())
    })?;
    let stream =
        stream.max_frame_size(MAX_CLIENT_FRAME).aggregate_continuations().max_continuation_size(MAX_CLIENT_FRAME);
    WsConnection::start(state.ws.clone(), ws, stream, session, resume);
    Ok(response)
}

/// The upgrade's byte stream, failed at the first client frame whose header declares more than
/// [`MAX_CLIENT_FRAME`] (actix-ws checks a frame's size only once it has buffered all of it).
async fn frame_limited(req: &HttpRequest, body: web::Payload) -> ApiResult<web::Payload> {
    use actix_web::FromRequest;
    let limited = FrameLimit { inner: body, headers: FrameHeaders::new(MAX_CLIENT_FRAME as u64) };
    type Boxed =
        std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<bytes::Bytes, actix_web::error::PayloadError>>>>;
    let mut payload = actix_web::dev::Payload::from(Box::pin(limited) as Boxed);
    web::Payload::from_request(req, &mut payload).await.map_err(AppError::internal)
}

struct FrameLimit {
    inner: web::Payload,
    headers: FrameHeaders,
}

/// Frame headers read as the client's bytes pass (RFC 6455 section 5.2): at most 14 bytes of a
/// header kept, then the payload's length counted down.
struct FrameHeaders {
    max: u64,
    header: [u8; 14],
    have: usize,
    remaining: u64,
}

impl FrameHeaders {
    fn new(max: u64) -> Self {
        Self { max, header: [0; 14], have: 0, remaining: 0 }
    }

    /// Follow `data` through the frames; false at a header declaring more than `max`.
    fn scan(&mut self, mut data: &[u8]) -> bool {
        while !data.is_empty() {
            if self.remaining > 0 {
                let n = self.remaining.min(data.len() as u64) as usize;
                self.remaining -= n as u64;
                data = &data[n..];
                continue;
            }
            self.header[self.have] = data[0];
            self.have += 1;
            data = &data[1..];
            if self.have < 2 {
                continue;
            }
            let h = &self.header;
            let short = h[1] & 0x7f;
            let extended = match short {
                126 => 2,
                127 => 8,
                _ => 0,
            };
            let mask = if h[1] & 0x80 != 0 { 4 } else { 0 };
            if self.have < 2 + extended + mask {
                continue;
            }
            let len = match short {
                126 => u64::from(u16::from_be_bytes([h[2], h[3]])),
                127 => u64::from_be_bytes([h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9]]),
                n => u64::from(n),
            };
            if len > self.max {
                return false;
            }
            self.remaining = len;
            self.have = 0;
        }
        true
    }
}

impl futures_util::Stream for FrameLimit {
    type Item = Result<bytes::Bytes, actix_web::error::PayloadError>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        let this = self.get_mut();
        match std::pin::Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) if !this.headers.scan(&chunk) => {
                let e = std::io::Error::new(std::io::ErrorKind::InvalidData, FrameTooLarge);
                Poll::Ready(Some(Err(actix_web::error::PayloadError::Io(e))))
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FrameHeaders;

    fn header(len: u64) -> Vec<u8> {
        let mut h = vec![0x81];
        match len {
            n if n < 126 => h.push(0x80 | n as u8),
            n if n <= 0xffff => {
                h.push(0x80 | 126);
                h.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                h.push(0x80 | 127);
                h.extend_from_slice(&n.to_be_bytes());
            }
        }
        h.extend_from_slice(&[1, 2, 3, 4]);
        h
    }

    /// Frames within the limit pass, split anywhere; the first one over it is caught at its header.
    #[test]
    fn frames_are_followed_across_chunks_and_an_oversize_header_is_caught() {
        let mut f = FrameHeaders::new(8192);
        let mut bytes = Vec::new();
        for len in [0u64, 5, 125, 126, 8192] {
            bytes.extend(header(len));
            bytes.extend(std::iter::repeat_n(b'x', len as usize));
        }
        for piece in bytes.chunks(7) {
            assert!(f.scan(piece));
        }
        assert!(!f.scan(&header(8193)), "16-bit length over the limit");
        let mut f = FrameHeaders::new(8192);
        let big = header(1 << 40);
        assert!(f.scan(&big[..5]), "not known yet");
        assert!(!f.scan(&big[5..]), "64-bit length over the limit");
    }
}
