//! `/files`: multipart upload, download and info. Bytes are stored before any row is written, and
//! a failed upload removes whatever it stored: no row without a file, no partial file.

use super::{created, id_param, ok, readable_channel, writable_channel, Auth, State};
use crate::error::{ApiResult, AppError};
use crate::filestore::FileWriter;
use crate::store::{now_ms, FileInfo};
use actix_multipart::Multipart;
use actix_web::http::header::{self, Charset, ContentDisposition, DispositionParam, DispositionType, ExtendedValue};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Serialize;
use starling_protocol::new_id;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/files", web::post().to(upload))
        .route("/files/{file_id}", web::get().to(download))
        .route("/files/{file_id}/info", web::get().to(info));
}

/// The most files one upload request carries.
const MAX_FILES_PER_UPLOAD: usize = 10;
/// The most bytes a plain (non-file) form field may hold.
const MAX_FIELD_BYTES: usize = 1024;

#[derive(Serialize)]
struct UploadResponse {
    file_infos: Vec<FileInfo>,
    client_ids: Vec<String>,
}

/// The file name a client sent, reduced to a safe base name.
fn clean_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base.chars().filter(|c| !c.is_control()).collect();
    let trimmed = cleaned.trim().trim_start_matches('.');
    trimmed.chars().take(255).collect()
}

async fn read_text(field: &mut actix_multipart::Field) -> ApiResult<String> {
    let mut buf = Vec::new();
    while let Some(chunk) = field.next().await {
        let chunk = chunk.map_err(|e| {
            AppError::bad_request("api.file.upload_file.read_form.app_error", "Could not read the upload.")
                .detail(e.to_string())
        })?;
        if buf.len() + chunk.len() > MAX_FIELD_BYTES {
            return Err(AppError::bad_request("api.file.upload_file.read_form.app_error", "A form field is too long."));
        }
        buf.extend_from_slice(&chunk);
    }
    String::from_utf8(buf)
        .map_err(|_| AppError::bad_request("api.file.upload_file.read_form.app_error", "A form field is not UTF-8."))
}

/// Files stored so far by one request, removed again if the request fails.
struct Stored {
    infos: Vec<FileInfo>,
}

impl Stored {
    async fn undo(&self, state: &State) {
        for f in &self.infos {
            if let Err(e) = state.files.remove(&f.path).await {
                slog::warn!(state.log, "cannot remove file of a failed upload"; "file_id" => &f.id, "error" => %e);
            }
        }
    }
}

async fn upload(state: State, auth: Auth, req: HttpRequest, payload: web::Payload) -> ApiResult<HttpResponse> {
    let cfg = state.config();
    if !cfg.file_settings.enable_file_attachments {
        return Err(AppError::new(
            actix_web::http::StatusCode::NOT_IMPLEMENTED,
            "api.file.attachments.disabled.app_error",
            "File attachments have been disabled on this server.",
        ));
    }
    let mut stored = Stored { infos: Vec::new() };
    let result = receive(&state, &auth, &req, payload, cfg.file_settings.max_file_size as u64, &mut stored).await;
    let client_ids = match result {
        Ok(ids) => ids,
        Err(e) => {
            stored.undo(&state).await;
            return Err(e);
        }
    };
    if stored.infos.is_empty() {
        return Err(AppError::bad_request("api.file.upload_file.no_files.app_error", "No files were in the request."));
    }
    if let Err(e) = state.store.insert_file_infos(&stored.infos).await {
        stored.undo(&state).await;
        return Err(e.into());
    }
    Ok(created(&UploadResponse { file_infos: stored.infos, client_ids }))
}

async fn receive(
    state: &State,
    auth: &Auth,
    req: &HttpRequest,
    payload: web::Payload,
    max_size: u64,
    stored: &mut Stored,
) -> ApiResult<Vec<String>> {
    let query: std::collections::HashMap<String, String> = super::query::parse(req.query_string())?;
    let mut channel_id: Option<String> = query.get("channel_id").filter(|c| !c.is_empty()).cloned();
    let mut checked_channel = false;
    let mut client_ids = Vec::new();
    let mut multipart = Multipart::new(req.headers(), payload.into_inner());
    while let Some(field) = multipart.next().await {
        let mut field = field.map_err(|e| {
            AppError::bad_request("api.file.upload_file.read_form.app_error", "Could not parse the multipart form.")
                .detail(e.to_string())
        })?;
        let cd = field.content_disposition().cloned();
        let name = cd.as_ref().and_then(|c| c.get_name()).unwrap_or("").to_owned();
        let filename = cd.as_ref().and_then(|c| c.get_filename()).map(str::to_owned);
        match (name.as_str(), filename) {
            ("channel_id", None) => channel_id = Some(read_text(&mut field).await?),
            ("client_ids", None) => {
                client_ids.push(read_text(&mut field).await?);
                if client_ids.len() > MAX_FILES_PER_UPLOAD {
                    return Err(AppError::invalid_param("client_ids"));
                }
            }
            ("files", Some(filename)) => {
                let cid = channel_id.clone().ok_or_else(|| AppError::invalid_param("channel_id"))?;
                if !checked_channel {
                    writable_channel(state, auth, &cid, "upload_file").await?;
                    checked_channel = true;
                }
                if stored.infos.len() >= MAX_FILES_PER_UPLOAD {
                    return Err(AppError::bad_request(
                        "api.file.upload_file.too_many.app_error",
                        format!("At most {MAX_FILES_PER_UPLOAD} files per upload."),
                    ));
                }
                let info = store_one(state, auth, &cid, &filename, &mut field, max_size).await?;
                stored.infos.push(info);
            }
            _ => {
                // Drain fields we do not know, bounded like text fields.
                read_text(&mut field).await?;
            }
        }
    }
    Ok(client_ids)
}

async fn store_one(
    state: &State,
    auth: &Auth,
    channel_id: &str,
    raw_name: &str,
    field: &mut actix_multipart::Field,
    max_size: u64,
) -> ApiResult<FileInfo> {
    let name = clean_name(raw_name);
    if name.is_empty() {
        return Err(AppError::bad_request("api.file.upload_file.bad_name.app_error", "The file needs a name."));
    }
    let id = new_id();
    let now = now_ms();
    let day = chrono_day(now);
    let path = format!("{day}/teams/noteam/channels/{channel_id}/users/{}/{id}/{name}", auth.user_id());
    let mut writer: Box<dyn FileWriter> = state.files.writer(&path).await.map_err(store_err)?;
    let mut size: u64 = 0;
    while let Some(chunk) = field.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                writer.abort().await;
                return Err(AppError::bad_request(
                    "api.file.upload_file.read_form.app_error",
                    "The upload was cut short.",
                )
                .detail(e.to_string()));
            }
        };
        size += chunk.len() as u64;
        if size > max_size {
            writer.abort().await;
            return Err(AppError::too_large(format!(
                "Unable to upload file. File is too large: the limit is {max_size} bytes."
            )));
        }
        if let Err(e) = writer.write(chunk).await {
            writer.abort().await;
            return Err(store_err(e));
        }
    }
    writer.finish().await.map_err(store_err)?;
    let extension = std::path::Path::new(&name).extension().and_then(|e| e.to_str()).unwrap_or("").to_lowercase();
    let mime_type = mime_guess::from_path(&name).first_or_octet_stream().essence_str().to_owned();
    Ok(FileInfo {
        id,
        creator_id: auth.user_id().to_owned(),
        post_id: String::new(),
        channel_id: channel_id.to_owned(),
        create_at: now,
        update_at: now,
        delete_at: 0,
        path,
        name,
        extension: extension.chars().take(64).collect(),
        size: size as i64,
        mime_type,
        width: 0,
        height: 0,
        has_preview_image: false,
        mini_preview: None,
        remote_id: String::new(),
        archived: false,
    })
}

fn store_err(e: crate::filestore::FileStoreError) -> AppError {
    AppError::new(
        actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
        "api.file.upload_file.storage.app_error",
        "Unable to store the file.",
    )
    .detail(e.to_string())
}

/// `YYYYMMDD` (UTC) of a millisecond timestamp, as Mattermost names its file folders.
fn chrono_day(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}")
}

/// A live file the caller may read: through its post's channel, or its uploader's before it is posted.
async fn readable_file(state: &State, auth: &Auth, file_id: &str) -> ApiResult<FileInfo> {
    id_param("file_id", file_id)?;
    let info = state
        .store
        .file_info(file_id)
        .await?
        .filter(|f| f.delete_at == 0)
        .ok_or_else(|| AppError::not_found("file"))?;
    if info.post_id.is_empty() {
        if info.creator_id != auth.user_id() && !auth.is_admin() {
            return Err(AppError::forbidden("You do not have the appropriate permissions."));
        }
    } else {
        readable_channel(state, auth, &info.channel_id).await?;
    }
    Ok(info)
}

async fn download(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let info = readable_file(&state, &auth, &path).await?;
    let (stream, size) = state.files.reader(&info.path).await.map_err(|e| match e {
        crate::filestore::FileStoreError::NotFound => AppError::not_found("file"),
        other => AppError::internal(other),
    })?;
    let disposition =
        ContentDisposition { disposition: DispositionType::Attachment, parameters: disposition_params(&info.name) };
    Ok(HttpResponse::Ok()
        .content_type(info.mime_type.as_str())
        .insert_header((header::CONTENT_DISPOSITION, disposition))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .no_chunking(size)
        .streaming(stream))
}

/// `filename` for a name in ASCII; a non-ASCII name goes in `filename*` (RFC 6266), with an ASCII
/// stand-in as `filename`, so that the header stays visible ASCII.
fn disposition_params(name: &str) -> Vec<DispositionParam> {
    if name.is_ascii() {
        return vec![DispositionParam::Filename(name.to_owned())];
    }
    let fallback = name.chars().map(|c| if c.is_ascii() { c } else { '_' }).collect();
    vec![
        DispositionParam::Filename(fallback),
        DispositionParam::FilenameExt(ExtendedValue {
            charset: Charset::Ext("UTF-8".into()),
            language_tag: None,
            value: name.as_bytes().to_vec(),
        }),
    ]
}

async fn info(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    Ok(ok(&readable_file(&state, &auth, &path).await?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_cleaned() {
        assert_eq!(super::clean_name("../../etc/passwd"), "passwd");
        assert_eq!(super::clean_name("C:\\x\\a.txt"), "a.txt");
        assert_eq!(super::clean_name(".hidden"), "hidden");
        assert_eq!(super::clean_name("a\u{0}b.txt"), "ab.txt");
        assert_eq!(super::clean_name(".."), "");
    }

    #[test]
    fn days() {
        assert_eq!(super::chrono_day(0), "19700101");
        assert_eq!(super::chrono_day(1_700_000_000_000), "20231114");
        assert_eq!(super::chrono_day(951_782_400_000), "20000229");
    }
}
