//! `/files`: multipart upload, download and info; image files' thumbnails and previews; public
//! links. Bytes are stored before any row is written, and a failed upload removes whatever it
//! stored: no row without a file, no partial file. An image file gets its thumbnail
//! (`<name>_thumb.jpg`) and preview (`<name>_preview.jpg`) made once, at upload, stored beside
//! it, so every node serves them; a picture that cannot be made leaves the file without them.

use super::upload_form::{self, clean_name, FormError, Part, MAX_FILES_PER_UPLOAD};
use super::{created, id_param, ok, readable_channel, writable_channel, Auth, State};
use crate::error::{ApiResult, AppError};
use crate::filestore::FileWriter;
use crate::store::{now_ms, FileInfo};
use actix_web::http::header::{self, Charset, ContentDisposition, DispositionParam, DispositionType, ExtendedValue};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Serialize;
use starling_protocol::new_id;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/files", web::post().to(upload))
        .route("/files/{file_id}", web::get().to(download))
        .route("/files/{file_id}/info", web::get().to(info))
        .route("/files/{file_id}/thumbnail", web::get().to(thumbnail))
        .route("/files/{file_id}/preview", web::get().to(preview))
        .route("/files/{file_id}/link", web::get().to(public_link))
        .route("/files/{file_id}/public", web::get().to(public_file));
}

/// The public route outside `/api/v4`, where the links `GET /files/{id}/link` hands out point.
pub fn configure_public(cfg: &mut web::ServiceConfig) {
    cfg.route("/files/{file_id}/public", web::get().to(public_file));
}

#[derive(Serialize)]
struct UploadResponse {
    file_infos: Vec<FileInfo>,
    client_ids: Vec<String>,
}

/// Mattermost's answer for a form that cannot be read.
fn form_error(e: FormError) -> AppError {
    let bad = |message: &str| AppError::bad_request("api.file.upload_file.read_form.app_error", message.to_owned());
    match e {
        FormError::Parse(detail) => bad("Could not parse the multipart form.").detail(detail),
        FormError::Read(detail) => bad("Could not read the upload.").detail(detail),
        FormError::TooLong => bad("A form field is too long."),
        FormError::NotUtf8 => bad("A form field is not UTF-8."),
    }
}

async fn read_text(field: &mut actix_multipart::Field) -> ApiResult<String> {
    upload_form::read_text(field).await.map_err(form_error)
}

/// Files stored so far by one request, removed again if the request fails.
struct Stored {
    infos: Vec<FileInfo>,
}

impl Stored {
    async fn undo(&self, state: &State) {
        for f in &self.infos {
            for path in [&f.path, &f.thumbnail_path, &f.preview_path].into_iter().filter(|p| !p.is_empty()) {
                if let Err(e) = state.files.remove(path).await {
                    slog::warn!(state.log, "cannot remove file of a failed upload"; "file_id" => &f.id, "error" => %e);
                }
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
    let mut multipart = super::multipart_form(req, payload)?;
    while let Some(field) = upload_form::next_field(&mut multipart).await {
        let mut field = field.map_err(form_error)?;
        match upload_form::classify(&field) {
            Part::ChannelId => channel_id = Some(read_text(&mut field).await?),
            Part::ClientId => {
                client_ids.push(read_text(&mut field).await?);
                if client_ids.len() > MAX_FILES_PER_UPLOAD {
                    return Err(AppError::invalid_param("client_ids"));
                }
            }
            Part::File { filename } => {
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
            Part::Other => {
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
    // An image's bytes are kept (up to a bound) to make its pictures from.
    let mime_type = mime_guess::from_path(&name).first_or_octet_stream().essence_str().to_owned();
    let mut picture_source = PICTURE_TYPES.contains(&mime_type.as_str()).then(Vec::new);
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
        if let Some(buf) = picture_source.as_mut() {
            if buf.len() + chunk.len() > MAX_PICTURE_SOURCE_BYTES {
                picture_source = None;
            } else {
                buf.extend_from_slice(&chunk);
            }
        }
        if let Err(e) = writer.write(chunk).await {
            writer.abort().await;
            return Err(store_err(e));
        }
    }
    writer.finish().await.map_err(store_err)?;
    let extension = std::path::Path::new(&name).extension().and_then(|e| e.to_str()).unwrap_or("").to_lowercase();
    let mut info = FileInfo {
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
        thumbnail_path: String::new(),
        preview_path: String::new(),
        mini_preview: None,
        remote_id: String::new(),
        archived: false,
    };
    if let Some(bytes) = picture_source {
        add_pictures(state, &mut info, bytes).await;
    }
    Ok(info)
}

/// The types whose pictures are made (what the decoders read).
const PICTURE_TYPES: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];
/// The largest image file whose pictures are made: the whole file is decoded from memory. Photos
/// of up to FileSettings.MaxImageResolution at ordinary compression are well below it.
const MAX_PICTURE_SOURCE_BYTES: usize = 32 << 20;

/// `dir/name.ext` -> `dir/name<suffix>` (Mattermost's `_thumb.jpg` and `_preview.jpg`); also the
/// name a picture is downloaded as.
fn beside(path: &str, suffix: &str) -> String {
    let (dir, file) = path.rsplit_once('/').unwrap_or(("", path));
    let stem = file.rsplit_once('.').map(|(s, _)| s).filter(|s| !s.is_empty()).unwrap_or(file);
    if dir.is_empty() {
        format!("{stem}{suffix}")
    } else {
        format!("{dir}/{stem}{suffix}")
    }
}

/// Size, thumbnail, preview and mini preview of an uploaded image. The size comes from the header
/// even when the image is too large to decode; failures are logged and leave the file without
/// pictures (the upload itself stands).
async fn add_pictures(state: &State, info: &mut FileInfo, bytes: Vec<u8>) {
    let cfg = state.config();
    let max_pixels = cfg.file_settings.max_image_resolution as u64;
    if let Some(header) = crate::emoji::sniff_image(&bytes) {
        info.width = i32::try_from(header.width).unwrap_or(i32::MAX);
        info.height = i32::try_from(header.height).unwrap_or(i32::MAX);
    }
    if let Err(e) = crate::images::check(&bytes, max_pixels) {
        slog::info!(state.log, "image file stored without previews"; "file_id" => &info.id, "error" => %e);
        return;
    }
    let made = async {
        let decoding = crate::images::decoding(cfg.file_settings.max_image_decoder_concurrency);
        let _permit = decoding.acquire().await.map_err(|e| e.to_string())?;
        web::block(move || crate::images::file_pictures(&bytes, max_pixels))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    };
    let pictures = match made.await {
        Ok(p) => p,
        Err(e) => {
            slog::info!(state.log, "image file stored without previews"; "file_id" => &info.id, "error" => e);
            return;
        }
    };
    let (thumb, preview) = (beside(&info.path, "_thumb.jpg"), beside(&info.path, "_preview.jpg"));
    let files = state.files.as_ref();
    let written = async {
        crate::filestore::write_all(files, &thumb, pictures.thumbnail).await?;
        crate::filestore::write_all(files, &preview, pictures.preview).await
    };
    if let Err(e) = written.await {
        slog::warn!(state.log, "cannot store image previews"; "file_id" => &info.id, "error" => %e);
        for p in [&thumb, &preview] {
            match files.remove(p).await {
                Ok(()) | Err(crate::filestore::FileStoreError::NotFound) => {}
                Err(e) => slog::warn!(state.log, "cannot remove image preview"; "file_id" => &info.id, "error" => %e),
            }
        }
        return;
    }
    info.width = i32::try_from(pictures.width).unwrap_or(i32::MAX);
    info.height = i32::try_from(pictures.height).unwrap_or(i32::MAX);
    info.thumbnail_path = thumb;
    info.preview_path = preview;
    info.has_preview_image = true;
    info.mini_preview = Some(pictures.mini_preview);
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
    let date = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).map_or(time::Date::MIN, |t| t.date());
    format!("{:04}{:02}{:02}", date.year(), u8::from(date.month()), date.day())
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

async fn download(state: State, auth: Auth, req: HttpRequest, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let info = readable_file(&state, &auth, &path).await?;
    stream_file(&state, &req, &info.path, &info.mime_type, &info.name, None).await
}

/// Stream a stored file as an attachment named `name`, cacheable for `cache` if given. A `Range`
/// header of one byte range is answered 206 with that part (as Mattermost's downloads are, so that
/// videos seek and downloads resume), one that misses the file 416.
async fn stream_file(
    state: &State,
    req: &HttpRequest,
    stored_at: &str,
    mime_type: &str,
    name: &str,
    cache: Option<&str>,
) -> ApiResult<HttpResponse> {
    use crate::filestore::FileStoreError;
    let range = req.headers().get(header::RANGE).and_then(|v| v.to_str().ok());
    let slice = match state.files.slice(stored_at, range).await {
        Ok(slice) => slice,
        Err(FileStoreError::NotFound) => return Err(AppError::not_found("file")),
        Err(FileStoreError::RangeNotSatisfiable(size)) => {
            let error = AppError::new(
                actix_web::http::StatusCode::RANGE_NOT_SATISFIABLE,
                "api.file.get_file.range.app_error",
                "The requested range is not within the file.",
            );
            let mut res = actix_web::ResponseError::error_response(&error);
            res.headers_mut().insert(
                header::CONTENT_RANGE,
                header::HeaderValue::from_str(&format!("bytes */{size}")).map_err(AppError::internal)?,
            );
            return Ok(res);
        }
        Err(other) => return Err(AppError::internal(other)),
    };
    let disposition =
        ContentDisposition { disposition: DispositionType::Attachment, parameters: disposition_params(name) };
    let (mut res, length) = match &slice.range {
        None => (HttpResponse::Ok(), slice.size),
        Some(r) => {
            let mut res = HttpResponse::PartialContent();
            res.insert_header((header::CONTENT_RANGE, format!("bytes {}-{}/{}", r.start(), r.end(), slice.size)));
            (res, r.end() - r.start() + 1)
        }
    };
    res.content_type(mime_type)
        .insert_header((header::CONTENT_DISPOSITION, disposition))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if let Some(c) = cache {
        res.insert_header((header::CACHE_CONTROL, c));
    }
    Ok(res.no_chunking(length).streaming(slice.body))
}

/// Mattermost's cache lifetime of thumbnails and previews (they never change): 30 days.
const CACHE_PICTURES: &str = "max-age=2592000, private";

/// An image file's stored pictures.
#[derive(Clone, Copy)]
enum Picture {
    Thumbnail,
    Preview,
}

/// `GET /files/{id}/thumbnail` and `/preview`: 400 for a file without one (not an image), as
/// Mattermost answers.
async fn picture(
    state: &State,
    auth: &Auth,
    req: &HttpRequest,
    file_id: &str,
    which: Picture,
) -> ApiResult<HttpResponse> {
    let info = readable_file(state, auth, file_id).await?;
    let (stored_at, suffix, error) = match which {
        Picture::Thumbnail => {
            (&info.thumbnail_path, "_thumb.jpg", "api.file.get_file_thumbnail.no_thumbnail.app_error")
        }
        Picture::Preview => (&info.preview_path, "_preview.jpg", "api.file.get_file_preview.no_preview.app_error"),
    };
    if stored_at.is_empty() {
        return Err(AppError::bad_request(error, "The file has no such picture: it is not an image."));
    }
    stream_file(state, req, stored_at, "image/jpeg", &beside(&info.name, suffix), Some(CACHE_PICTURES)).await
}

async fn thumbnail(state: State, auth: Auth, req: HttpRequest, path: web::Path<String>) -> ApiResult<HttpResponse> {
    picture(&state, &auth, &req, &path, Picture::Thumbnail).await
}

async fn preview(state: State, auth: Auth, req: HttpRequest, path: web::Path<String>) -> ApiResult<HttpResponse> {
    picture(&state, &auth, &req, &path, Picture::Preview).await
}

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The key of public links: FileSettings.PublicLinkSalt, or (when that is empty) one the cluster
/// made once and keeps in the Systems table, so that every node makes and accepts the same links.
async fn public_link_key(state: &State) -> ApiResult<String> {
    let configured = state.config().file_settings.public_link_salt;
    if !configured.is_empty() {
        return Ok(configured);
    }
    let fresh = format!("{}{}", new_id(), new_id());
    Ok(state.store.system_value_insert_once("PublicLinkSalt", &fresh).await?)
}

fn link_mac(key: &str, file_id: &str) -> ApiResult<HmacSha256> {
    use hmac::Mac;
    let mut mac = HmacSha256::new_from_slice(key.as_bytes()).map_err(AppError::internal)?;
    mac.update(file_id.as_bytes());
    Ok(mac)
}

/// The `h` of a file's public link: HMAC-SHA256 of the file id under the key, base64url.
fn link_hash(key: &str, file_id: &str) -> ApiResult<String> {
    use base64::Engine;
    use hmac::Mac;
    let tag = link_mac(key, file_id)?.finalize().into_bytes();
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag))
}

/// Whether `h` is the file's link hash (compared in constant time).
fn link_hash_matches(key: &str, file_id: &str, h: &str) -> bool {
    use base64::Engine;
    use hmac::Mac;
    let Ok(tag) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(h) else { return false };
    link_mac(key, file_id).is_ok_and(|m| m.verify_slice(&tag).is_ok())
}

/// `GET /files/{id}/link`: `{link}` that downloads the file without logging in, while
/// FileSettings.EnablePublicLink is on (403 while it is off, as Mattermost answers). Only files
/// attached to a post the caller may read.
async fn public_link(state: State, auth: Auth, req: HttpRequest, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let cfg = state.config();
    if !cfg.file_settings.enable_public_link {
        return Err(AppError::new(
            actix_web::http::StatusCode::FORBIDDEN,
            "api.file.get_public_link.disabled.app_error",
            "Public links have been disabled.",
        ));
    }
    let info = readable_file(&state, &auth, &path).await?;
    if info.post_id.is_empty() {
        return Err(AppError::bad_request(
            "api.file.get_public_link.no_post.app_error",
            "Unable to get a public link for the file: it must be attached to a post.",
        ));
    }
    let hash = link_hash(&public_link_key(&state).await?, &info.id)?;
    let site = super::site_url(&state, &req);
    Ok(ok(&serde_json::json!({ "link": format!("{site}/files/{}/public?h={hash}", info.id) })))
}

#[derive(serde::Deserialize)]
struct PublicQuery {
    #[serde(default)]
    h: String,
}

/// `GET /files/{id}/public?h=`: no login; a malformed id is 400 first, then 501 while public
/// links are off (as Mattermost orders them), 400 for a wrong hash.
async fn public_file(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    q: super::Query<PublicQuery>,
) -> ApiResult<HttpResponse> {
    id_param("file_id", path.as_str())?;
    if !state.config().file_settings.enable_public_link {
        return Err(AppError::new(
            actix_web::http::StatusCode::NOT_IMPLEMENTED,
            "api.file.get_public_link.disabled.app_error",
            "Public links have been disabled.",
        ));
    }
    let info = state
        .store
        .file_info(path.as_str())
        .await?
        .filter(|f| f.delete_at == 0 && !f.post_id.is_empty())
        .ok_or_else(|| AppError::not_found("file"))?;
    let invalid = || {
        AppError::bad_request(
            "api.file.get_file.public_invalid.app_error",
            "The public link does not appear to be valid.",
        )
    };
    if q.h.is_empty() || q.h.len() > 128 || !link_hash_matches(&public_link_key(&state).await?, &info.id, &q.h) {
        return Err(invalid());
    }
    stream_file(&state, &req, &info.path, &info.mime_type, &info.name, None).await
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
    fn pictures_are_named_beside_their_file() {
        assert_eq!(super::beside("d/teams/x/f1/cat.png", "_thumb.jpg"), "d/teams/x/f1/cat_thumb.jpg");
        assert_eq!(super::beside("d/f1/archive.tar.gz", "_preview.jpg"), "d/f1/archive.tar_preview.jpg");
        assert_eq!(super::beside("d/f1/noext", "_thumb.jpg"), "d/f1/noext_thumb.jpg");
        assert_eq!(super::beside(".png", "_thumb.jpg"), ".png_thumb.jpg");
    }

    #[test]
    fn public_link_hashes_are_keyed_and_checked() {
        let h = super::link_hash("k".repeat(32).as_str(), "file1").unwrap();
        assert!(super::link_hash_matches(&"k".repeat(32), "file1", &h));
        assert!(!super::link_hash_matches(&"k".repeat(32), "file2", &h), "another file");
        assert!(!super::link_hash_matches(&"j".repeat(32), "file1", &h), "another key");
        assert!(!super::link_hash_matches(&"k".repeat(32), "file1", "not base64!"));
    }

    #[test]
    fn days() {
        assert_eq!(super::chrono_day(0), "19700101");
        assert_eq!(super::chrono_day(1_700_000_000_000), "20231114");
        assert_eq!(super::chrono_day(951_782_400_000), "20000229");
    }
}
