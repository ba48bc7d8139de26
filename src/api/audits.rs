//! The audit trail as Mattermost serves it: `GET /audits` (system admins) and
//! `GET /users/{user_id}/audits` (the user, or whoever may edit other users), newest first, paged
//! by `page` and `per_page` the lenient way every list is ([`super::query`]).

use super::{ok, self_or_admin, Auth, Paging, Query, State};
use crate::error::ApiResult;
use actix_web::{web, HttpResponse};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/audits", web::get().to(all)).route("/users/{user_id}/audits", web::get().to(for_user));
}

async fn all(state: State, auth: Auth, q: Query<Paging>) -> ApiResult<HttpResponse> {
    auth.require_admin()?;
    let (page, per_page) = q.checked()?;
    Ok(ok(&state.store.audits(None, page, per_page).await?))
}

async fn for_user(state: State, auth: Auth, path: web::Path<String>, q: Query<Paging>) -> ApiResult<HttpResponse> {
    let user_id = self_or_admin(&auth, &path)?;
    let (page, per_page) = q.checked()?;
    Ok(ok(&state.store.audits(Some(user_id), page, per_page).await?))
}
