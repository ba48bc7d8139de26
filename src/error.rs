//! The one error type of the HTTP API, rendered in Mattermost's shape:
//! `{id, message, detailed_error, request_id, status_code}` with the matching status.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone)]
pub struct AppError {
    pub id: &'static str,
    pub message: String,
    pub detailed_error: String,
    pub status: StatusCode,
}

#[derive(Serialize)]
struct Body<'a> {
    id: &'a str,
    message: &'a str,
    detailed_error: &'a str,
    request_id: &'a str,
    status_code: u16,
}

impl AppError {
    pub fn new(status: StatusCode, id: &'static str, message: impl Into<String>) -> Self {
        Self { id, message: message.into(), detailed_error: String::new(), status }
    }
    /// The same error, told to the client in other words.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detailed_error = detail.into();
        self
    }
    pub fn bad_request(id: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, id, message)
    }
    /// A request parameter or body field that is missing or invalid.
    pub fn invalid_param(name: &str) -> Self {
        Self::bad_request(
            "api.context.invalid_param.app_error",
            format!("Invalid or missing {name} in request body or URL."),
        )
    }
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "api.context.session_expired.app_error",
            "Invalid or expired session, please login again.",
        )
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "api.context.permissions.app_error", message)
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "app.not_found.app_error", format!("Unable to find the {what}."))
    }
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "api.context.request_body_too_large.app_error", message)
    }
    pub fn internal(detail: impl fmt::Display) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "app.internal_error.app_error", "An internal error occurred.")
            .detail(detail.to_string())
    }
    pub fn unavailable(id: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, id, message)
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.status.as_u16(), self.id, self.message)
    }
}

/// What a 5xx answer keeps from its client: the error's id and detail, for the node's log (the
/// request middleware logs it with the request id and route). Internal text never reaches a client.
#[derive(Debug, Clone)]
pub struct HiddenError {
    pub id: &'static str,
    pub detail: String,
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        let request_id = starling_protocol::new_id();
        let hidden = self.status.is_server_error();
        let body = Body {
            id: self.id,
            message: &self.message,
            detailed_error: if hidden { "" } else { &self.detailed_error },
            request_id: &request_id,
            status_code: self.status.as_u16(),
        };
        let mut res = HttpResponse::build(self.status).insert_header(("X-Request-ID", request_id.as_str())).json(body);
        if hidden {
            res.extensions_mut().insert(HiddenError { id: self.id, detail: self.detailed_error.clone() });
        }
        res
    }
}

impl From<crate::store::StoreError> for AppError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Unavailable(d) => {
                AppError::unavailable("app.store.unavailable.app_error", "The database is unavailable.").detail(d)
            }
            // Text PostgreSQL cannot store (a NUL that got past validation): the input's fault.
            ref other if other.is_unstorable_text() => AppError::bad_request(
                "api.context.invalid_body_param.app_error",
                "The request contains characters that cannot be stored.",
            ),
            other => AppError::internal(other),
        }
    }
}

pub type ApiResult<T> = Result<T, AppError>;
