//! `/emoji`: custom emoji, gated by ServiceSettings.EnableCustomEmoji (501 while it is off, as
//! Mattermost answers). Images go to the file store at `emoji/{id}/image`, so every node serves
//! them; an upload is checked from its header (PNG, GIF, JPEG or WebP, at most 1028 px a side)
//! and bounded at 512 KiB before anything is stored; one larger than 128 px is scaled down to fit
//! (GIFs are kept whole, so they stay animated). `emoji_added` reaches everyone.

use super::Query;
use super::{id_param, ok, read_json, status_ok, Auth, Paging, State};
use crate::emoji::{is_system_emoji, is_valid_name, sniff_image, MAX_IMAGE_BYTES, MAX_IMAGE_SIDE};
use crate::error::{ApiResult, AppError};
use crate::store::{Emoji, EmojiSort};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/emoji", web::post().to(create_emoji))
        .route("/emoji", web::get().to(list_emoji))
        .route("/emoji/names", web::post().to(emoji_by_names))
        .route("/emoji/search", web::post().to(search_emoji))
        .route("/emoji/autocomplete", web::get().to(autocomplete_emoji))
        .route("/emoji/name/{emoji_name}", web::get().to(emoji_by_name))
        .route("/emoji/{emoji_id}", web::get().to(get_emoji))
        .route("/emoji/{emoji_id}", web::delete().to(delete_emoji))
        .route("/emoji/{emoji_id}/image", web::get().to(emoji_image));
}

/// Mattermost's `GetEmojisByNamesMax`.
const BY_NAMES_MAX: usize = 200;
/// The most results of a search (Mattermost's `PerPageMaximum`) and of an autocomplete.
const SEARCH_MAX: i64 = 200;
const AUTOCOMPLETE_MAX: i64 = 100;
/// The most bytes the `emoji` form field may hold.
const MAX_EMOJI_FIELD_BYTES: usize = 4096;
/// What the multipart framing may add to an image of the largest size.
const FORM_OVERHEAD_BYTES: usize = 16 * 1024;

fn enabled(state: &State) -> ApiResult<()> {
    if state.config().service_settings.enable_custom_emoji {
        Ok(())
    } else {
        Err(AppError::new(
            StatusCode::NOT_IMPLEMENTED,
            "api.emoji.disabled.app_error",
            "Custom emoji have been disabled by the system admin.",
        ))
    }
}

fn image_path(id: &str) -> String {
    format!("emoji/{id}/image")
}

fn too_large() -> AppError {
    AppError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "api.emoji.create.too_large.app_error",
        format!("Unable to create emoji. Image must be less than {} KiB in size.", MAX_IMAGE_BYTES / 1024),
    )
}

fn form_error(e: impl std::fmt::Display) -> AppError {
    AppError::bad_request("api.emoji.create.parse.app_error", "Unable to create emoji. Could not understand request.")
        .detail(e.to_string())
}

/// A form field's bytes, refused past `max`.
async fn read_field(field: &mut actix_multipart::Field, max: usize, over: fn() -> AppError) -> ApiResult<Vec<u8>> {
    let mut buf = Vec::new();
    while let Some(chunk) = field.next().await {
        let chunk = chunk.map_err(form_error)?;
        if buf.len() + chunk.len() > max {
            return Err(over());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

#[derive(Deserialize)]
struct EmojiInput {
    #[serde(default)]
    name: String,
    #[serde(default)]
    creator_id: String,
}

/// Check a new emoji's name as Mattermost's `IsValidEmojiName` does.
fn check_new_name(name: &str) -> ApiResult<()> {
    if !is_valid_name(name) {
        return Err(AppError::bad_request("model.emoji.name.app_error", "The emoji name is not valid."));
    }
    if is_system_emoji(name) {
        return Err(AppError::bad_request(
            "model.emoji.system_emoji_name.app_error",
            "That name belongs to a system emoji.",
        ));
    }
    Ok(())
}

/// `POST /emoji`: multipart with `image` (the file) and `emoji` (`{name, creator_id}` as JSON).
async fn create_emoji(state: State, auth: Auth, req: HttpRequest, payload: web::Payload) -> ApiResult<HttpResponse> {
    enabled(&state)?;
    let length = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if length.is_some_and(|l| l > MAX_IMAGE_BYTES + FORM_OVERHEAD_BYTES) {
        return Err(too_large());
    }
    super::permissions::require(auth.has_permission("create_emojis"))?;
    let (mut input, mut image) = (None, None);
    let mut form = super::multipart_form(&req, payload)?;
    while let Some(field) = form.next().await {
        let mut field = field.map_err(form_error)?;
        let name = field.content_disposition().and_then(|c| c.get_name()).unwrap_or("").to_owned();
        match name.as_str() {
            "emoji" => {
                let over = || AppError::invalid_param("emoji");
                input = Some(read_field(&mut field, MAX_EMOJI_FIELD_BYTES, over).await?);
            }
            "image" => image = Some(read_field(&mut field, MAX_IMAGE_BYTES, too_large).await?),
            // Anything else is read and dropped, within the same bound.
            _ => drop(read_field(&mut field, MAX_EMOJI_FIELD_BYTES, || AppError::invalid_param("form")).await?),
        }
    }
    let input = input.ok_or_else(|| AppError::invalid_param("emoji"))?;
    let input: EmojiInput =
        serde_json::from_slice(&input).map_err(|e| AppError::invalid_param("emoji").detail(e.to_string()))?;
    check_new_name(&input.name)?;
    if input.creator_id != auth.user_id() {
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            "api.emoji.create.other_user.app_error",
            "Invalid user id: an emoji is created by the user who uploads it.",
        ));
    }
    let duplicate = || {
        AppError::bad_request(
            "api.emoji.create.duplicate.app_error",
            "Unable to create emoji. Another emoji with the same name already exists.",
        )
    };
    if !state.store.emoji_by_names(std::slice::from_ref(&input.name)).await?.is_empty() {
        return Err(duplicate());
    }
    let image = image.filter(|i| !i.is_empty()).ok_or_else(|| {
        AppError::bad_request("api.context.invalid_body_param.app_error", "Invalid or missing image in request body.")
    })?;
    let info = sniff_image(&image).ok_or_else(|| {
        AppError::bad_request(
            "api.emoji.upload.image.app_error",
            "Unable to create the emoji. The file must be a PNG, JPEG, GIF or WebP image.",
        )
    })?;
    if info.width > MAX_IMAGE_SIDE || info.height > MAX_IMAGE_SIDE || info.width == 0 || info.height == 0 {
        return Err(AppError::bad_request(
            "api.emoji.upload.large_image.too_large.app_error",
            format!("Unable to create emoji. Image must be at most {MAX_IMAGE_SIDE} by {MAX_IMAGE_SIDE} pixels."),
        ));
    }
    let max_pixels = state.config().file_settings.max_image_resolution as u64;
    let decoding = crate::images::decoding(state.config().file_settings.max_image_decoder_concurrency);
    // Only an image that must be scaled is decoded, under the node's decoder limit.
    let image = if crate::images::emoji_kept_as_is(&info) {
        image
    } else {
        let _permit = decoding.acquire().await.map_err(AppError::internal)?;
        web::block(move || crate::images::emoji_image(image, max_pixels)).await.map_err(AppError::internal)?.map_err(
            |e| {
                AppError::bad_request(
                    "api.emoji.upload.image.app_error",
                    "Unable to create the emoji. The image cannot be read.",
                )
                .detail(e.to_string())
            },
        )?
    };
    let id = starling_protocol::new_id();
    crate::filestore::write_all(state.files.as_ref(), &image_path(&id), image)
        .await
        .map_err(|e| AppError::internal(e).with_message("Unable to store the emoji image."))?;
    let saved = match state.store.create_emoji(&id, auth.user_id(), &input.name).await {
        Ok(Some(e)) => e,
        result => {
            if let Err(e) = state.files.remove(&image_path(&id)).await {
                slog::warn!(state.log, "cannot remove image of a refused emoji"; "emoji_id" => &id, "error" => %e);
            }
            result?;
            return Err(duplicate());
        }
    };
    state.events.emoji_added(&saved);
    // 200, as Mattermost answers (its spec says 201).
    Ok(ok(&saved))
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    page: i64,
    #[serde(default = "super::default_per_page")]
    per_page: i64,
    #[serde(default)]
    sort: String,
}

async fn list_emoji(state: State, _auth: Auth, q: Query<ListQuery>) -> ApiResult<HttpResponse> {
    enabled(&state)?;
    let sort = match q.sort.as_str() {
        "" => EmojiSort::Created,
        "name" => EmojiSort::Name,
        _ => {
            return Err(AppError::bad_request(
                "api.context.invalid_url_param.app_error",
                "Invalid or missing sort in request URL.",
            ))
        }
    };
    let (page, per_page) = Paging { page: q.page, per_page: q.per_page }.checked()?;
    Ok(ok(&state.store.list_emoji(page, per_page, sort).await?))
}

async fn live_emoji(state: &State, id: &str) -> ApiResult<Emoji> {
    id_param("emoji_id", id)?;
    state
        .store
        .emoji(id)
        .await?
        .ok_or_else(|| AppError::new(StatusCode::NOT_FOUND, "app.emoji.get.no_result", "Unable to find the emoji."))
}

async fn get_emoji(state: State, _auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    enabled(&state)?;
    Ok(ok(&live_emoji(&state, &path).await?))
}

async fn emoji_by_name(state: State, _auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    if !is_valid_name(&path) {
        return Err(AppError::bad_request(
            "api.context.invalid_url_param.app_error",
            "Invalid or missing emoji_name in request URL.",
        ));
    }
    enabled(&state)?;
    let found = state.store.emoji_by_names(std::slice::from_ref(&path.into_inner())).await?;
    let emoji = found.into_iter().next().ok_or_else(|| {
        AppError::new(StatusCode::NOT_FOUND, "app.emoji.get_by_name.no_result", "Unable to find the emoji.")
    })?;
    Ok(ok(&emoji))
}

/// `POST /emoji/names`: the custom emoji with these names; unknown and system names are skipped.
async fn emoji_by_names(state: State, _auth: Auth, body: web::Payload) -> ApiResult<HttpResponse> {
    let names: Vec<String> = read_json(&state, body).await?;
    if names.is_empty() {
        return Err(AppError::invalid_param("names"));
    }
    enabled(&state)?;
    if names.len() > BY_NAMES_MAX {
        return Err(AppError::bad_request(
            "api.emoji.get_multiple_by_name_too_many.request_error",
            format!("Unable to get that many emoji by name. Only {BY_NAMES_MAX} emoji may be requested at once."),
        ));
    }
    let names: Vec<String> = names.into_iter().filter(|n| is_valid_name(n) && !is_system_emoji(n)).collect();
    Ok(ok(&state.store.emoji_by_names(&names).await?))
}

#[derive(Deserialize)]
struct SearchInput {
    #[serde(default)]
    term: String,
    #[serde(default)]
    prefix_only: bool,
}

async fn search_emoji(state: State, _auth: Auth, body: web::Payload) -> ApiResult<HttpResponse> {
    let input: SearchInput = read_json(&state, body).await?;
    if input.term.is_empty() {
        return Err(AppError::invalid_param("term"));
    }
    enabled(&state)?;
    Ok(ok(&state.store.search_emoji(&input.term, input.prefix_only, SEARCH_MAX).await?))
}

#[derive(Deserialize)]
struct AutocompleteQuery {
    #[serde(default)]
    name: String,
}

async fn autocomplete_emoji(state: State, _auth: Auth, q: Query<AutocompleteQuery>) -> ApiResult<HttpResponse> {
    if q.name.is_empty() {
        return Err(AppError::bad_request(
            "api.context.invalid_url_param.app_error",
            "Invalid or missing name in request URL.",
        ));
    }
    enabled(&state)?;
    Ok(ok(&state.store.search_emoji(&q.name, true, AUTOCOMPLETE_MAX).await?))
}

/// `DELETE /emoji/{id}`: the creator with `delete_emojis`, anyone else with `delete_others_emojis`.
/// The reactions made with it go too.
async fn delete_emoji(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    enabled(&state)?;
    let emoji = live_emoji(&state, &path).await?;
    super::permissions::require(auth.has_permission("delete_emojis"))?;
    if emoji.creator_id != auth.user_id() {
        super::permissions::require(auth.has_permission("delete_others_emojis"))?;
    }
    if state.store.delete_emoji(&emoji.id).await?.is_none() {
        return Err(AppError::new(StatusCode::NOT_FOUND, "app.emoji.delete.no_results", "Unable to find the emoji."));
    }
    if let Err(e) = state.files.remove(&image_path(&emoji.id)).await {
        slog::warn!(state.log, "cannot remove image of a deleted emoji"; "emoji_id" => &emoji.id, "error" => %e);
    }
    Ok(status_ok())
}

async fn emoji_image(state: State, _auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    enabled(&state)?;
    let emoji = live_emoji(&state, &path).await?;
    let bytes = crate::filestore::read_all(state.files.as_ref(), &image_path(&emoji.id), MAX_IMAGE_BYTES as u64)
        .await
        .map_err(|e| match e {
            crate::filestore::FileStoreError::NotFound => AppError::new(
                StatusCode::NOT_FOUND,
                "api.emoji.get_image.read.app_error",
                "Unable to read the image file of the emoji.",
            ),
            other => AppError::internal(other),
        })?;
    let mime = sniff_image(&bytes).map(|i| i.mime).unwrap_or("application/octet-stream");
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, mime))
        .insert_header((header::CACHE_CONTROL, "max-age=2592000, private"))
        .body(bytes))
}
