//! `/users/{user_id}/teams/{team_id}/channels/categories`: the sidebar the web app renders its
//! channels through (`me` and the user id both work in the path).

use super::permissions::{self, has_team_permission};
use super::{id_param, ok, read_json, self_or_admin, status_ok, Auth, State};
use crate::error::{ApiResult, AppError};
use crate::store::{Category, CategoryError, CategoryUpdate};
use actix_web::{web, HttpResponse};
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let base = "/users/{user_id}/teams/{team_id}/channels/categories";
    cfg.route(base, web::get().to(list))
        .route(base, web::post().to(create))
        .route(base, web::put().to(update_many))
        .route(&format!("{base}/order"), web::get().to(get_order))
        .route(&format!("{base}/order"), web::put().to(set_order))
        .route(&format!("{base}/{{category_id}}"), web::get().to(get_one))
        .route(&format!("{base}/{{category_id}}"), web::put().to(update_one))
        .route(&format!("{base}/{{category_id}}"), web::delete().to(delete_one));
}

const SORTINGS: &[&str] = &["", "alpha", "recent", "manual"];
/// The most channels one category takes in a write.
const MAX_CHANNELS: usize = 5000;

/// The user (self, or with `edit_other_users`) and a team they belong to.
async fn owner(state: &State, auth: &Auth, user_id: &str, team_id: &str) -> ApiResult<(String, String)> {
    let user_id = self_or_admin(auth, user_id)?.to_owned();
    id_param("team_id", team_id)?;
    state.store.team(team_id).await?.ok_or_else(|| AppError::not_found("team"))?;
    permissions::require(has_team_permission(state, auth, team_id, "view_team").await?)?;
    if state.store.active_team_member(team_id, &user_id).await?.is_none() {
        return Err(AppError::not_found("team member"));
    }
    Ok((user_id, team_id.to_owned()))
}

fn category_id_param(id: &str) -> ApiResult<()> {
    if (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        Ok(())
    } else {
        Err(AppError::invalid_param("category_id"))
    }
}

fn store_error(e: CategoryError) -> AppError {
    match e {
        CategoryError::NotFound(_) => AppError::not_found("category"),
        CategoryError::Invalid(why) => {
            AppError::bad_request("api.sidebar_category.update.invalid.app_error", "Invalid category.").detail(why)
        }
        CategoryError::Store(e) => e.into(),
    }
}

async fn list(state: State, auth: Auth, path: web::Path<(String, String)>) -> ApiResult<HttpResponse> {
    let (user_id, team_id) = owner(&state, &auth, &path.0, &path.1).await?;
    Ok(ok(&state.store.categories(&user_id, &team_id).await?))
}

async fn get_one(state: State, auth: Auth, path: web::Path<(String, String, String)>) -> ApiResult<HttpResponse> {
    let (user_id, team_id, category_id) = path.into_inner();
    let (user_id, team_id) = owner(&state, &auth, &user_id, &team_id).await?;
    category_id_param(&category_id)?;
    let all = state.store.categories(&user_id, &team_id).await?;
    let cat =
        all.categories.into_iter().find(|c| c.id == category_id).ok_or_else(|| AppError::not_found("category"))?;
    Ok(ok(&cat))
}

/// A category as a client sends it; only what it carries changes.
#[derive(Deserialize)]
struct CategoryInput {
    id: Option<String>,
    display_name: Option<String>,
    sorting: Option<String>,
    muted: Option<bool>,
    collapsed: Option<bool>,
    channel_ids: Option<Vec<String>>,
}

impl CategoryInput {
    fn check(&self) -> ApiResult<()> {
        if let Some(d) = &self.display_name {
            if !(1..=64).contains(&d.trim().chars().count()) {
                return Err(AppError::invalid_param("display_name"));
            }
        }
        if self.sorting.as_deref().is_some_and(|s| !SORTINGS.contains(&s)) {
            return Err(AppError::invalid_param("sorting"));
        }
        if let Some(ids) = &self.channel_ids {
            if ids.len() > MAX_CHANNELS {
                return Err(AppError::invalid_param("channel_ids"));
            }
            for id in ids {
                id_param("channel_id", id)?;
            }
        }
        Ok(())
    }

    /// The update, for a category whose current display name is `current` (clients send every
    /// field back: a display name equal to the current one is no rename).
    fn into_update(self, id: String, current: Option<&Category>) -> CategoryUpdate {
        let display_name =
            self.display_name.map(|d| d.trim().to_owned()).filter(|d| current.is_none_or(|c| c.display_name != *d));
        CategoryUpdate {
            id,
            display_name,
            sorting: self.sorting,
            muted: self.muted,
            collapsed: self.collapsed,
            channel_ids: self.channel_ids,
        }
    }
}

async fn apply(
    state: &State,
    user_id: &str,
    team_id: &str,
    inputs: Vec<(String, CategoryInput)>,
) -> ApiResult<Vec<Category>> {
    let current = state.store.categories(user_id, team_id).await?.categories;
    let updates: Vec<CategoryUpdate> = inputs
        .into_iter()
        .map(|(id, input)| {
            let cur = current.iter().find(|c| c.id == id);
            input.into_update(id, cur)
        })
        .collect();
    let updated = state.store.update_categories(user_id, team_id, &updates).await.map_err(store_error)?;
    state.events.sidebar_categories_updated(user_id, team_id, &updated);
    Ok(updated)
}

/// `PUT .../categories`: several categories at once (how the web app favourites a channel: it
/// moves it into the favorites category).
async fn update_many(
    state: State,
    auth: Auth,
    path: web::Path<(String, String)>,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    let inputs: Vec<CategoryInput> = read_json(&state, body).await?;
    let (user_id, team_id) = owner(&state, &auth, &path.0, &path.1).await?;
    if inputs.is_empty() || inputs.len() > 100 {
        return Err(AppError::invalid_param("categories"));
    }
    let mut with_ids = Vec::new();
    for input in inputs {
        input.check()?;
        let id = input.id.clone().ok_or_else(|| AppError::invalid_param("id"))?;
        category_id_param(&id)?;
        if with_ids.iter().any(|(i, _)| *i == id) {
            return Err(AppError::invalid_param("id"));
        }
        with_ids.push((id, input));
    }
    Ok(ok(&apply(&state, &user_id, &team_id, with_ids).await?))
}

async fn update_one(
    state: State,
    auth: Auth,
    path: web::Path<(String, String, String)>,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    let (user_id, team_id, category_id) = path.into_inner();
    let input: CategoryInput = read_json(&state, body).await?;
    let (user_id, team_id) = owner(&state, &auth, &user_id, &team_id).await?;
    category_id_param(&category_id)?;
    if input.id.as_deref().is_some_and(|i| i != category_id) {
        return Err(AppError::invalid_param("id"));
    }
    input.check()?;
    let mut updated = apply(&state, &user_id, &team_id, vec![(category_id, input)]).await?;
    Ok(ok(&updated.pop().ok_or_else(|| AppError::not_found("category"))?))
}

/// `POST .../categories`: a custom category, at the top, with the channels it names moved in.
async fn create(
    state: State,
    auth: Auth,
    path: web::Path<(String, String)>,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    let input: CategoryInput = read_json(&state, body).await?;
    let (user_id, team_id) = owner(&state, &auth, &path.0, &path.1).await?;
    input.check()?;
    let name = input.display_name.as_deref().map(str::trim).filter(|n| !n.is_empty());
    let name = name.ok_or_else(|| AppError::invalid_param("display_name"))?.to_owned();
    let channels = input.channel_ids.unwrap_or_default();
    let id = starling_protocol::new_id();
    let cat = state.store.create_category(&user_id, &team_id, &id, &name, &channels).await.map_err(store_error)?;
    state.events.sidebar_category_created(&user_id, &team_id, &cat.id);
    Ok(ok(&cat))
}

async fn delete_one(state: State, auth: Auth, path: web::Path<(String, String, String)>) -> ApiResult<HttpResponse> {
    let (user_id, team_id, category_id) = path.into_inner();
    let (user_id, team_id) = owner(&state, &auth, &user_id, &team_id).await?;
    category_id_param(&category_id)?;
    state.store.delete_category(&user_id, &team_id, &category_id).await.map_err(store_error)?;
    state.events.sidebar_category_deleted(&user_id, &team_id, &category_id);
    Ok(status_ok())
}

async fn get_order(state: State, auth: Auth, path: web::Path<(String, String)>) -> ApiResult<HttpResponse> {
    let (user_id, team_id) = owner(&state, &auth, &path.0, &path.1).await?;
    Ok(ok(&state.store.categories(&user_id, &team_id).await?.order))
}

async fn set_order(
    state: State,
    auth: Auth,
    path: web::Path<(String, String)>,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    let order: Vec<String> = read_json(&state, body).await?;
    let (user_id, team_id) = owner(&state, &auth, &path.0, &path.1).await?;
    for id in &order {
        category_id_param(id)?;
    }
    state.store.set_category_order(&user_id, &team_id, &order).await.map_err(store_error)?;
    state.events.sidebar_category_order_updated(&user_id, &team_id, &order);
    Ok(ok(&order))
}
