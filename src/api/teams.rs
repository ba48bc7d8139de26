//! `/teams`: teams and their members.

use super::permissions::{self, has_team_permission};
use super::Query;
use super::{
    created, id_param, member_team, ok, read_json, resolve_user_id, self_or_admin, status_ok, Auth, Paging, State,
};
use crate::error::{ApiResult, AppError};
use crate::store::TeamJoin;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/teams", web::post().to(create_team))
        .route("/teams", web::get().to(list_teams))
        .route("/teams/name/{name}", web::get().to(team_by_name))
        .route("/teams/{team_id}", web::get().to(get_team))
        .route("/teams/{team_id}", web::delete().to(archive_team))
        .route("/teams/{team_id}/members", web::post().to(add_member))
        .route("/teams/{team_id}/members", web::get().to(members))
        .route("/teams/{team_id}/members/{user_id}", web::get().to(member))
        .route("/teams/{team_id}/members/{user_id}", web::delete().to(remove_member))
        .route("/users/{user_id}/teams", web::get().to(user_teams))
        .route("/users/{user_id}/teams/members", web::get().to(user_team_members));
}

/// Names that would clash with the web app's own paths.
const RESERVED_TEAM_NAMES: &[&str] = &[
    "admin",
    "api",
    "channel",
    "claim",
    "error",
    "files",
    "help",
    "landing",
    "login",
    "mfa",
    "oauth",
    "plug",
    "plugins",
    "post",
    "signup",
    "static",
    "boards",
    "playbooks",
];

pub fn valid_team_name(n: &str) -> bool {
    (2..=64).contains(&n.len())
        && n.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !n.ends_with('-')
        && !RESERVED_TEAM_NAMES.contains(&n)
}

#[derive(Deserialize)]
struct CreateTeam {
    name: Option<String>,
    display_name: Option<String>,
    #[serde(rename = "type")]
    team_type: Option<String>,
    description: Option<String>,
    allow_open_invite: Option<bool>,
}

async fn create_team(state: State, auth: Auth, body: web::Payload) -> ApiResult<HttpResponse> {
    let input: CreateTeam = read_json(&state, body).await?;
    permissions::require(auth.has_permission("create_team"))?;
    let name = input.name.unwrap_or_default();
    let display_name = input.display_name.unwrap_or_default();
    let team_type = input.team_type.unwrap_or_else(|| "O".into());
    let description = input.description.unwrap_or_default();
    if !valid_team_name(&name) {
        return Err(AppError::bad_request(
            "model.team.is_valid.name.app_error",
            "Name must be 2 or more lowercase alphanumeric characters, start with a letter and not be reserved.",
        ));
    }
    let dn = display_name.trim().chars().count();
    if dn == 0 || dn > 64 {
        return Err(AppError::bad_request(
            "model.team.is_valid.name.app_error",
            "Invalid display name: 1 to 64 characters.",
        ));
    }
    if team_type != "O" && team_type != "I" {
        return Err(AppError::bad_request(
            "model.team.is_valid.type.app_error",
            "Invalid type: must be \"O\" or \"I\".",
        ));
    }
    if description.chars().count() > 255 {
        return Err(AppError::bad_request("model.team.is_valid.description.app_error", "Invalid description."));
    }
    let open = input.allow_open_invite.unwrap_or(team_type == "O");
    match state.store.create_team(auth.user_id(), &name, display_name.trim(), &team_type, &description, open).await {
        Ok(team) => {
            let channels = state.store.user_channel_ids_in_team(auth.user_id(), &team.id).await?;
            state.events.added_to_team(&team.id, auth.user_id(), &channels);
            Ok(created(&team))
        }
        Err(e) if e.unique_violation().is_some() => {
            Err(AppError::bad_request("app.team.save.existing.app_error", "A team with that name already exists."))
        }
        Err(e) => Err(e.into()),
    }
}

async fn list_teams(state: State, auth: Auth, q: Query<Paging>) -> ApiResult<HttpResponse> {
    let (page, per_page) = q.checked()?;
    Ok(ok(&state.store.list_teams(auth.has_permission("list_private_teams"), page, per_page).await?))
}

/// A team's details: for anyone when the team is open to join, else with `view_team` (its members
/// and system admins).
async fn visible_team(state: &State, auth: &Auth, team: crate::store::Team) -> ApiResult<HttpResponse> {
    if team.allow_open_invite || has_team_permission(state, auth, &team.id, "view_team").await? {
        Ok(ok(&team))
    } else {
        Err(permissions::forbidden())
    }
}

async fn get_team(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    id_param("team_id", &path)?;
    let team = state.store.team(&path).await?.ok_or_else(|| AppError::not_found("team"))?;
    visible_team(&state, &auth, team).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ArchiveQuery {
    permanent: Option<String>,
}

/// `DELETE /teams/{id}`: archive the team (`manage_team`); its channels and posts are kept.
/// `?permanent=true` needs `ServiceSettings.EnableAPITeamDeletion`, which Starling does not offer.
async fn archive_team(
    state: State,
    auth: Auth,
    path: web::Path<String>,
    q: Query<ArchiveQuery>,
) -> ApiResult<HttpResponse> {
    id_param("team_id", &path)?;
    let team = state.store.team(&path).await?.ok_or_else(|| AppError::not_found("team"))?;
    permissions::require(has_team_permission(&state, &auth, &team.id, "manage_team").await?)?;
    if q.permanent.as_deref() == Some("true") {
        return Err(AppError::new(
            actix_web::http::StatusCode::UNAUTHORIZED,
            "api.user.delete_team.not_enabled.app_error",
            "Permanent team deletion is not enabled (ServiceSettings.EnableAPITeamDeletion).",
        ));
    }
    let archived = state.store.archive_team(&team.id).await?.ok_or_else(|| {
        AppError::bad_request("api.team.delete_team.deleted.app_error", "The team is already archived.")
    })?;
    state.events.team_deleted(&archived);
    slog::info!(state.log, "team archived"; "team_id" => &team.id, "user_id" => auth.user_id());
    crate::audit::record(&state, &auth, "deleteTeam", serde_json::json!({"team_id": team.id}));
    Ok(super::status_ok())
}

async fn team_by_name(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    super::name_param(super::PathName::Team, &path)?;
    let team = state.store.team_by_name(&path).await?.ok_or_else(|| AppError::not_found("team"))?;
    visible_team(&state, &auth, team).await
}

#[derive(Deserialize)]
struct AddMember {
    team_id: Option<String>,
    user_id: Option<String>,
}

async fn add_member(state: State, auth: Auth, path: web::Path<String>, body: web::Payload) -> ApiResult<HttpResponse> {
    let team_id = path.into_inner();
    id_param("team_id", &team_id)?;
    let input: AddMember = read_json(&state, body).await?;
    if input.team_id.as_deref().is_some_and(|t| t != team_id) {
        return Err(AppError::invalid_param("team_id"));
    }
    let user_id = input.user_id.ok_or_else(|| AppError::invalid_param("user_id"))?;
    id_param("user_id", &user_id)?;
    let team = state.store.team(&team_id).await?.ok_or_else(|| AppError::not_found("team"))?;
    // Joining an open team oneself takes `join_public_teams`; adding anyone else takes
    // `add_user_to_team` in the team (every member has it by default).
    let self_join = user_id == auth.user_id()
        && if team.allow_open_invite {
            auth.has_permission("join_public_teams")
        } else {
            auth.has_permission("join_private_teams")
        };
    permissions::require(self_join || has_team_permission(&state, &auth, &team_id, "add_user_to_team").await?)?;
    if team.delete_at != 0 {
        return Err(AppError::bad_request(
            "app.team.join_user_to_team.deleted.app_error",
            "The team has been deleted.",
        ));
    }
    state.store.user(&user_id).await?.ok_or_else(|| AppError::not_found("user"))?;
    let max = state.config().team_settings.max_users_per_team;
    match state.store.add_team_member(&team_id, &user_id, max).await? {
        TeamJoin::Member(m) => {
            let channels = state.store.user_channel_ids_in_team(&user_id, &team_id).await?;
            state.events.added_to_team(&team_id, &user_id, &channels);
            Ok(created(&m))
        }
        TeamJoin::TeamFull => Err(AppError::bad_request(
            "app.team.join_user_to_team.max_accounts.app_error",
            "This team has reached the maximum number of allowed accounts.",
        )),
    }
}

async fn members(state: State, auth: Auth, path: web::Path<String>, q: Query<Paging>) -> ApiResult<HttpResponse> {
    let team = member_team(&state, &auth, &path).await?;
    let (page, per_page) = q.checked()?;
    Ok(ok(&state.store.team_members(&team.id, page, per_page).await?))
}

async fn member(state: State, auth: Auth, path: web::Path<(String, String)>) -> ApiResult<HttpResponse> {
    let (team_id, user_id) = path.into_inner();
    let team = member_team(&state, &auth, &team_id).await?;
    let user_id = resolve_user_id(&auth, &user_id)?;
    let m =
        state.store.active_team_member(&team.id, user_id).await?.ok_or_else(|| AppError::not_found("team member"))?;
    Ok(ok(&m))
}

async fn remove_member(state: State, auth: Auth, path: web::Path<(String, String)>) -> ApiResult<HttpResponse> {
    let (team_id, user_id) = path.into_inner();
    let team = member_team(&state, &auth, &team_id).await?;
    let user_id = resolve_user_id(&auth, &user_id)?.to_owned();
    if user_id != auth.user_id() {
        permissions::require(has_team_permission(&state, &auth, &team.id, "remove_user_from_team").await?)?;
    }
    let channels = state.store.user_channel_ids_in_team(&user_id, &team.id).await?;
    if !state.store.remove_team_member(&team.id, &user_id).await? {
        return Err(AppError::not_found("team member"));
    }
    state.events.left_team(&team.id, &user_id, &channels);
    Ok(status_ok())
}

async fn user_teams(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = self_or_admin(&auth, &path)?;
    Ok(ok(&state.store.teams_for_user(id).await?))
}

async fn user_team_members(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = self_or_admin(&auth, &path)?;
    Ok(ok(&state.store.team_members_for_user(id).await?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn team_names() {
        for good in ["ab", "team-1", "a1"] {
            assert!(super::valid_team_name(good), "{good}");
        }
        for bad in ["a", "1team", "Team", "team_1", "team-", "api", "x y"] {
            assert!(!super::valid_team_name(bad), "{bad}");
        }
    }
}
