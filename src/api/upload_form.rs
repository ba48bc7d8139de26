//! The pure part of reading a `multipart/form-data` file upload: which field is which, the text
//! fields' bounds, and the file names kept. No state, store or error type of the server, so the
//! fuzz target `fuzz/fuzz_targets/upload_form.rs` compiles this file alone (by `#[path]`) and runs
//! it over actix-multipart's parser; [`super::files`] maps [`FormError`] to Mattermost's errors.

use actix_multipart::{Field, Multipart};
use futures_util::StreamExt;

/// The most files one upload request carries.
pub const MAX_FILES_PER_UPLOAD: usize = 10;
/// The most bytes a plain (non-file) form field may hold.
pub const MAX_FIELD_BYTES: usize = 1024;
/// The longest file name kept, in characters.
pub const MAX_NAME_CHARS: usize = 255;

/// Why a form could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormError {
    /// The body is not a multipart form (or its framing broke), in the parser's words.
    Parse(String),
    /// A field's bytes could not be read.
    Read(String),
    /// A text field is longer than [`MAX_FIELD_BYTES`].
    TooLong,
    /// A text field is not UTF-8.
    NotUtf8,
}

/// What a form field is, by its `Content-Disposition`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// `channel_id`, a text field.
    ChannelId,
    /// One of the `client_ids`, a text field.
    ClientId,
    /// One of the `files`, with the file name the client sent (not yet cleaned).
    File { filename: String },
    /// Anything else: read as a bounded text field and ignored.
    Other,
}

/// The next field of the form, or `None` at its end.
pub async fn next_field(form: &mut Multipart) -> Option<Result<Field, FormError>> {
    let field = form.next().await?;
    Some(field.map_err(|e| FormError::Parse(e.to_string())))
}

/// What `field` is.
pub fn classify(field: &Field) -> Part {
    let cd = field.content_disposition();
    let name = cd.and_then(|c| c.get_name()).unwrap_or("");
    match (name, cd.and_then(|c| c.get_filename())) {
        ("channel_id", None) => Part::ChannelId,
        ("client_ids", None) => Part::ClientId,
        ("files", Some(filename)) => Part::File { filename: filename.to_owned() },
        _ => Part::Other,
    }
}

/// A text field's value: at most [`MAX_FIELD_BYTES`], UTF-8.
pub async fn read_text(field: &mut Field) -> Result<String, FormError> {
    let mut buf = Vec::new();
    while let Some(chunk) = field.next().await {
        let chunk = chunk.map_err(|e| FormError::Read(e.to_string()))?;
        if buf.len() + chunk.len() > MAX_FIELD_BYTES {
            return Err(FormError::TooLong);
        }
        buf.extend_from_slice(&chunk);
    }
    String::from_utf8(buf).map_err(|_| FormError::NotUtf8)
}

/// The file name a client sent, reduced to a safe base name: no directories, no control
/// characters, no leading dots, at most [`MAX_NAME_CHARS`] characters (empty when nothing is left).
pub fn clean_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base.chars().filter(|c| !c.is_control()).collect();
    let trimmed = cleaned.trim().trim_start_matches('.');
    trimmed.chars().take(MAX_NAME_CHARS).collect()
}

/// The shortest multipart boundary accepted. RFC 2046 allows 1 to 70 characters, but
/// actix-multipart 0.7 panics on a line shorter than its `--` framing when the boundary is under
/// 4 bytes (found by the `upload_form` fuzz target), and no real client sends one that short.
pub const MIN_BOUNDARY_BYTES: usize = 4;

/// Whether the request's `multipart/*` boundary (if it has one) is safe to parse: at least
/// [`MIN_BOUNDARY_BYTES`] long. A request without a boundary is left to the parser to refuse.
pub fn boundary_ok(headers: &actix_web::http::header::HeaderMap) -> bool {
    let Some(ct) = headers.get(actix_web::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let Ok(mime) = ct.parse::<actix_web::mime::Mime>() else { return true };
    match mime.get_param(actix_web::mime::BOUNDARY) {
        Some(b) => b.as_str().len() >= MIN_BOUNDARY_BYTES,
        None => true,
    }
}
