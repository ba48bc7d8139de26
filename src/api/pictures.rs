//! Profile pictures and team icons: `GET/POST/DELETE /users/{id}/image`, `GET
//! /users/{id}/image/default`, `GET/POST/DELETE /teams/{id}/image`. Pictures live in the file
//! store (`users/{id}/profile.png`, `teams/{id}/teamIcon.png`, Mattermost's paths), so every node
//! serves them; `last_picture_update` / `last_team_icon_update` change with them and are the
//! ETag, so a client that passes them as `?_=` never sees a stale picture. A user without one gets
//! a generated initial avatar. Uploads are refused from their header (type, pixel count) before
//! anything is decoded; decoding runs on the blocking pool under the node's decoder limit.

use super::{member_team, resolve_user_id, self_or_admin, status_ok, Auth, State};
use crate::error::{ApiResult, AppError};
use crate::filestore::{read_all, write_all, FileStoreError};
use crate::images::{self, PictureError};
use crate::store::now_ms;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/users/{user_id}/image", web::get().to(user_image))
        .route("/users/{user_id}/image", web::post().to(set_user_image))
        .route("/users/{user_id}/image", web::delete().to(reset_user_image))
        .route("/users/{user_id}/image/default", web::get().to(default_user_image))
        .route("/teams/{team_id}/image", web::get().to(team_icon))
        .route("/teams/{team_id}/image", web::post().to(set_team_icon))
        .route("/teams/{team_id}/image", web::delete().to(remove_team_icon));
}

/// The largest picture upload: FileSettings.MaxFileSize, and never more than this, since the
/// whole upload is held in memory to be decoded (a phone photo is a few MB).
const MAX_UPLOAD_BYTES: u64 = 32 << 20;
/// What the multipart framing may add to the image.
const FORM_OVERHEAD_BYTES: u64 = 16 * 1024;
/// A stored picture is a 128x128 PNG: far below this bound on reading it back.
const MAX_STORED_BYTES: u64 = 1 << 20;
/// The most bytes a form field other than `image` may hold.
const MAX_OTHER_FIELD_BYTES: usize = 1024;
/// Mattermost's cache lifetimes: a day for a picture, five minutes for a stand-in served
/// because the stored one could not be read.
const CACHE_PICTURE: &str = "max-age=86400, private";
const CACHE_STAND_IN: &str = "max-age=300, private";

fn user_picture_path(user_id: &str) -> String {
    format!("users/{user_id}/profile.png")
}

fn team_icon_path(team_id: &str) -> String {
    format!("teams/{team_id}/teamIcon.png")
}

/// Mattermost's error ids for one kind of picture upload.
struct UploadIds {
    too_large: &'static str,
    parse: &'static str,
    no_file: &'static str,
    array: &'static str,
    not_image: &'static str,
    over_limit: &'static str,
    decode: &'static str,
    store: &'static str,
}

const USER_IDS: UploadIds = UploadIds {
    too_large: "api.user.upload_profile_user.too_large.app_error",
    parse: "api.user.upload_profile_user.parse.app_error",
    no_file: "api.user.upload_profile_user.no_file.app_error",
    array: "api.user.upload_profile_user.array.app_error",
    not_image: "api.user.upload_profile_user.decode_config.app_error",
    over_limit: "api.user.upload_profile_user.check_image_limits.app_error",
    decode: "api.user.upload_profile_user.decode.app_error",
    store: "api.user.upload_profile_user.upload_profile.app_error",
};

const TEAM_IDS: UploadIds = UploadIds {
    too_large: "api.team.set_team_icon.too_large.app_error",
    parse: "api.team.set_team_icon.parse.app_error",
    no_file: "api.team.set_team_icon.no_file.app_error",
    array: "api.team.set_team_icon.array.app_error",
    not_image: "api.team.set_team_icon.decode_config.app_error",
    over_limit: "api.team.set_team_icon.check_image_limits.app_error",
    decode: "api.team.set_team_icon.decode.app_error",
    store: "api.team.set_team_icon.write_file.app_error",
};

/// The `image` field of a multipart upload, bounded, then checked from its header and made a
/// 128x128 PNG.
async fn receive_picture(
    state: &State,
    req: &HttpRequest,
    payload: web::Payload,
    ids: &UploadIds,
) -> ApiResult<Vec<u8>> {
    let cfg = state.config();
    let max = (cfg.file_settings.max_file_size as u64).min(MAX_UPLOAD_BYTES);
    let too_large = || {
        AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ids.too_large,
            format!("Unable to upload the image. It is larger than {max} bytes."),
        )
    };
    let length = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if length.is_some_and(|l| l > max + FORM_OVERHEAD_BYTES) {
        return Err(too_large());
    }
    let parse_error = |e: &dyn std::fmt::Display| {
        AppError::bad_request(ids.parse, "Could not parse the multipart form.").detail(e.to_string())
    };
    let mut image: Option<Vec<u8>> = None;
    let mut form = super::multipart_form(req, payload)?;
    while let Some(field) = form.next().await {
        let mut field = field.map_err(|e| parse_error(&e))?;
        let is_image = field.content_disposition().and_then(|c| c.get_name()) == Some("image");
        if is_image && image.is_some() {
            return Err(AppError::bad_request(ids.array, "Only one image may be uploaded."));
        }
        let limit = if is_image { max as usize } else { MAX_OTHER_FIELD_BYTES };
        let mut buf = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|e| parse_error(&e))?;
            if buf.len() + chunk.len() > limit {
                return Err(if is_image { too_large() } else { AppError::invalid_param("form") });
            }
            buf.extend_from_slice(&chunk);
        }
        if is_image {
            image = Some(buf);
        }
    }
    let image = image
        .filter(|i| !i.is_empty())
        .ok_or_else(|| AppError::bad_request(ids.no_file, "No file under 'image' in request."))?;
    let max_pixels = cfg.file_settings.max_image_resolution as u64;
    images::check(&image, max_pixels).map_err(|e| picture_error(e, ids))?;
    let decoding = images::decoding(cfg.file_settings.max_image_decoder_concurrency);
    let _permit = decoding.acquire().await.map_err(AppError::internal)?;
    web::block(move || images::profile_png(&image, max_pixels))
        .await
        .map_err(AppError::internal)?
        .map_err(|e| picture_error(e, ids))
}

/// [`receive_picture`], then store it at `stored_at`.
async fn receive_and_store(
    state: &State,
    req: &HttpRequest,
    payload: web::Payload,
    ids: &UploadIds,
    stored_at: &str,
) -> ApiResult<()> {
    let png = receive_picture(state, req, payload, ids).await?;
    write_all(state.files.as_ref(), stored_at, png).await.map_err(|e| {
        AppError::new(StatusCode::INTERNAL_SERVER_ERROR, ids.store, "Unable to store the picture.")
            .detail(e.to_string())
    })?;
    Ok(())
}

fn picture_error(e: PictureError, ids: &UploadIds) -> AppError {
    match e {
        PictureError::NotAnImage => {
            AppError::bad_request(ids.not_image, "Unable to read the image. It must be a PNG, JPEG, GIF or WebP image.")
        }
        PictureError::TooLarge { width, height, max } => AppError::bad_request(
            ids.over_limit,
            format!("Unable to upload the image. It is {width}x{height} pixels, over the limit of {max} pixels."),
        ),
        PictureError::Decode(d) => AppError::bad_request(ids.decode, "Unable to decode the image.").detail(d),
        PictureError::Encode(d) => AppError::internal(d),
    }
}

/// Whether the request's `If-None-Match` already names `etag`.
fn not_modified(req: &HttpRequest, etag: &str) -> bool {
    req.headers().get_all(header::IF_NONE_MATCH).filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|t| {
        let t = t.trim();
        let t = t.strip_prefix("W/").unwrap_or(t);
        t.trim_matches('"') == etag || t == "*"
    })
}

fn png_response(bytes: Vec<u8>, cache: &str, etag: Option<&str>) -> HttpResponse {
    let mut res = HttpResponse::Ok();
    res.insert_header((header::CONTENT_TYPE, "image/png")).insert_header((header::CACHE_CONTROL, cache));
    if let Some(tag) = etag {
        res.insert_header((header::ETAG, format!("\"{tag}\"")));
    }
    res.body(bytes)
}

fn unmodified(etag: &str, cache: &str) -> HttpResponse {
    HttpResponse::NotModified()
        .insert_header((header::ETAG, format!("\"{etag}\"")))
        .insert_header((header::CACHE_CONTROL, cache))
        .finish()
}

async fn initial_avatar(user: &crate::store::User) -> ApiResult<Vec<u8>> {
    let (id, name) = (user.id.clone(), user.username.clone());
    web::block(move || images::initial_avatar(&id, &name))
        .await
        .map_err(AppError::internal)?
        .map_err(AppError::internal)
}

async fn existing_user(state: &State, id: &str) -> ApiResult<crate::store::User> {
    state.store.user(id).await?.ok_or_else(|| AppError::not_found("user"))
}

/// `GET /users/{id}/image`: the uploaded picture, or the generated one.
async fn user_image(state: State, auth: Auth, req: HttpRequest, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let user = existing_user(&state, resolve_user_id(&auth, &path)?).await?;
    let etag = user.last_picture_update.to_string();
    if not_modified(&req, &etag) {
        return Ok(unmodified(&etag, CACHE_PICTURE));
    }
    if user.last_picture_update > 0 {
        match read_all(state.files.as_ref(), &user_picture_path(&user.id), MAX_STORED_BYTES).await {
            Ok(bytes) => return Ok(png_response(bytes, CACHE_PICTURE, Some(&etag))),
            Err(e) => {
                slog::warn!(state.log, "cannot read profile picture"; "user_id" => &user.id, "error" => %e);
                return Ok(png_response(initial_avatar(&user).await?, CACHE_STAND_IN, None));
            }
        }
    }
    Ok(png_response(initial_avatar(&user).await?, CACHE_PICTURE, Some(&etag)))
}

/// `GET /users/{id}/image/default`: the generated picture, whatever was uploaded.
async fn default_user_image(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let user = existing_user(&state, resolve_user_id(&auth, &path)?).await?;
    Ok(png_response(initial_avatar(&user).await?, CACHE_PICTURE, None))
}

/// `POST /users/{id}/image` (multipart `image`): the user themself, or with `edit_other_users`.
async fn set_user_image(
    state: State,
    auth: Auth,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let id = self_or_admin(&auth, &path)?.to_owned();
    existing_user(&state, &id).await?;
    receive_and_store(&state, &req, payload, &USER_IDS, &user_picture_path(&id)).await?;
    let user = state.store.set_last_picture_update(&id, now_ms()).await?.ok_or_else(|| AppError::not_found("user"))?;
    slog::info!(state.log, "profile picture set"; "user_id" => &id);
    state.events.user_updated(&user);
    Ok(status_ok())
}

/// `DELETE /users/{id}/image`: back to the generated picture. `last_picture_update` becomes the
/// negated time, so clients' URLs change and the uploaded picture leaves their caches.
async fn reset_user_image(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = self_or_admin(&auth, &path)?.to_owned();
    existing_user(&state, &id).await?;
    match state.files.remove(&user_picture_path(&id)).await {
        Ok(()) | Err(FileStoreError::NotFound) => {}
        Err(e) => return Err(AppError::internal(e)),
    }
    let user = state.store.set_last_picture_update(&id, -now_ms()).await?.ok_or_else(|| AppError::not_found("user"))?;
    state.events.user_updated(&user);
    Ok(status_ok())
}

/// The team, if the caller may see its icon: an open team, or one they may view.
async fn visible_team(state: &State, auth: &Auth, team_id: &str) -> ApiResult<crate::store::Team> {
    super::id_param("team_id", team_id)?;
    let team = state.store.team(team_id).await?.ok_or_else(|| AppError::not_found("team"))?;
    if team.team_type == "O" && team.allow_open_invite {
        return Ok(team);
    }
    member_team(state, auth, team_id).await
}

/// `GET /teams/{id}/image`: 404 while the team has no icon.
async fn team_icon(state: State, auth: Auth, req: HttpRequest, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let team = visible_team(&state, &auth, &path).await?;
    let no_icon = || {
        AppError::new(
            StatusCode::NOT_FOUND,
            "api.team.get_team_icon.read_file.app_error",
            "Unable to find the team icon.",
        )
    };
    if team.last_team_icon_update == 0 {
        return Err(no_icon());
    }
    let etag = team.last_team_icon_update.to_string();
    if not_modified(&req, &etag) {
        return Ok(unmodified(&etag, CACHE_PICTURE));
    }
    match read_all(state.files.as_ref(), &team_icon_path(&team.id), MAX_STORED_BYTES).await {
        Ok(bytes) => Ok(png_response(bytes, CACHE_PICTURE, Some(&etag))),
        Err(FileStoreError::NotFound) => Err(no_icon()),
        Err(e) => Err(AppError::internal(e)),
    }
}

async fn managed_team(state: &State, auth: &Auth, team_id: &str) -> ApiResult<crate::store::Team> {
    super::team_with(state, auth, team_id, "manage_team").await
}

/// `POST /teams/{id}/image` (multipart `image`), with `manage_team`.
async fn set_team_icon(
    state: State,
    auth: Auth,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let team = managed_team(&state, &auth, &path).await?;
    receive_and_store(&state, &req, payload, &TEAM_IDS, &team_icon_path(&team.id)).await?;
    let team =
        state.store.set_team_icon_update(&team.id, now_ms()).await?.ok_or_else(|| AppError::not_found("team"))?;
    state.events.team_updated(&team);
    Ok(status_ok())
}

/// `DELETE /teams/{id}/image`, with `manage_team`.
async fn remove_team_icon(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let team = managed_team(&state, &auth, &path).await?;
    match state.files.remove(&team_icon_path(&team.id)).await {
        Ok(()) | Err(FileStoreError::NotFound) => {}
        Err(e) => return Err(AppError::internal(e)),
    }
    let team = state.store.set_team_icon_update(&team.id, 0).await?.ok_or_else(|| AppError::not_found("team"))?;
    state.events.team_updated(&team);
    Ok(status_ok())
}
