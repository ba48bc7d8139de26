//! Any upload body, with any boundary and split into chunks anywhere, through actix-multipart's
//! parser and the server's form reading (`src/api/upload_form.rs`, compiled here alone). Nothing
//! may panic, text fields stay within their bound, and kept file names are safe base names.
//!
//! Input: byte 0 is the boundary's length (1..=70, taken from the following bytes), byte 1 the
//! chunk size (1..=256); the rest is the body.
#![no_main]

#[path = "../../src/api/upload_form.rs"]
#[allow(dead_code)]
mod upload_form;

use actix_web::http::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use bytes::Bytes;
use futures_util::StreamExt;
use libfuzzer_sys::fuzz_target;
use upload_form::{classify, clean_name, next_field, read_text, Part, MAX_FIELD_BYTES, MAX_NAME_CHARS};

/// The most bytes of one file field read before moving on (the server streams them to storage).
const FILE_READ_MAX: usize = 64 << 10;

async fn walk(headers: HeaderMap, chunks: Vec<Bytes>) {
    let stream = futures_util::stream::iter(chunks.into_iter().map(Ok::<_, actix_web::error::PayloadError>));
    if !upload_form::boundary_ok(&headers) {
        return; // the server answers 400 before parsing
    }
    let mut form = actix_multipart::Multipart::new(&headers, stream);
    let mut fields = 0;
    while let Some(field) = next_field(&mut form).await {
        let Ok(mut field) = field else { return };
        fields += 1;
        if fields > 64 {
            return;
        }
        match classify(&field) {
            Part::File { filename } => {
                let name = clean_name(&filename);
                assert!(name.chars().count() <= MAX_NAME_CHARS);
                assert!(!name.contains(['/', '\\']) && !name.chars().any(char::is_control), "{name:?}");
                assert!(!name.starts_with('.'), "{name:?}");
                let mut read = 0;
                while let Some(chunk) = field.next().await {
                    let Ok(chunk) = chunk else { return };
                    read += chunk.len();
                    if read > FILE_READ_MAX {
                        break;
                    }
                }
            }
            _ => match read_text(&mut field).await {
                Ok(text) => assert!(text.len() <= MAX_FIELD_BYTES),
                Err(_) => return,
            },
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [blen, csize, rest @ ..] = data else { return };
    let blen = (*blen as usize % 70) + 1;
    if rest.len() < blen {
        return;
    }
    let (boundary, body) = rest.split_at(blen);
    let Ok(boundary) = std::str::from_utf8(boundary) else { return };
    let Ok(ct) = HeaderValue::from_str(&format!("multipart/form-data; boundary={boundary}")) else { return };
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, ct);
    let size = (*csize as usize % 256) + 1;
    let chunks: Vec<Bytes> = body.chunks(size).map(Bytes::copy_from_slice).collect();
    futures_executor::block_on(walk(headers, chunks));
});
