//! `/roles`: the built-in roles the apps load to decide what to show (the post box needs
//! `create_post`), and role changes of users, team members and channel members.

use super::permissions::{self, built_in, forbidden, has_channel_permission, has_team_permission, BuiltInRole};
use super::{id_param, ok, read_json, resolve_user_id, Auth, State};
use crate::error::{ApiResult, AppError};
use crate::store::MemberRoles;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/roles", web::get().to(all_roles))
        .route("/roles/names", web::post().to(roles_by_names))
        .route("/roles/name/{role_name}", web::get().to(role_by_name))
        .route("/roles/{role_id}", web::get().to(role_by_id))
        .route("/users/{user_id}/roles", web::put().to(update_user_roles))
        .route("/teams/{team_id}/members/{user_id}/roles", web::put().to(update_team_member_roles))
        .route("/teams/{team_id}/members/{user_id}/schemeRoles", web::put().to(update_team_member_scheme_roles))
        .route("/channels/{channel_id}/members/{user_id}/roles", web::put().to(update_channel_member_roles))
        .route(
            "/channels/{channel_id}/members/{user_id}/schemeRoles",
            web::put().to(update_channel_member_scheme_roles),
        );
}

/// A role as Mattermost's API shows it.
#[derive(Serialize)]
struct RoleView {
    id: String,
    name: &'static str,
    display_name: &'static str,
    description: &'static str,
    create_at: i64,
    update_at: i64,
    delete_at: i64,
    permissions: &'static [&'static str],
    scheme_managed: bool,
    built_in: bool,
}

async fn view(state: &State, role: &'static BuiltInRole) -> ApiResult<RoleView> {
    let ids = state.role_ids().await?;
    let (id, create_at) = ids.get(role.name).cloned().ok_or_else(|| AppError::not_found("role"))?;
    Ok(RoleView {
        id,
        name: role.name,
        display_name: role.display_name,
        description: role.description,
        create_at,
        update_at: create_at,
        delete_at: 0,
        permissions: role.permissions,
        scheme_managed: role.scheme_managed,
        built_in: true,
    })
}

/// Mattermost's rule for a role name: 1 to 64 characters of `a-z`, `0-9` and `_`.
fn valid_role_name(n: &str) -> bool {
    (1..=64).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

async fn all_roles(state: State, auth: Auth) -> ApiResult<HttpResponse> {
    permissions::require(auth.has_permission("manage_system"))?;
    let mut out = Vec::new();
    for r in permissions::BUILT_IN_ROLES {
        out.push(view(&state, r).await?);
    }
    Ok(ok(&out))
}

/// The most names one `POST /roles/names` takes.
const MAX_ROLE_NAMES: usize = 100;

async fn roles_by_names(state: State, _auth: Auth, body: web::Payload) -> ApiResult<HttpResponse> {
    let names: Vec<String> = read_json(&state, body).await?;
    let names: Vec<&str> = names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()).collect();
    if names.is_empty() || names.len() > MAX_ROLE_NAMES || !names.iter().all(|n| valid_role_name(n)) {
        return Err(AppError::invalid_param("rolenames"));
    }
    let mut out = Vec::new();
    for name in names {
        if let Some(r) = built_in(name) {
            if !out.iter().any(|v: &RoleView| v.name == r.name) {
                out.push(view(&state, r).await?);
            }
        }
    }
    Ok(ok(&out))
}

async fn role_by_name(state: State, _auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    if !valid_role_name(&path) {
        return Err(AppError::invalid_param("role_name"));
    }
    let role = built_in(&path).ok_or_else(|| AppError::not_found("role"))?;
    Ok(ok(&view(&state, role).await?))
}

async fn role_by_id(state: State, _auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    id_param("role_id", &path)?;
    let ids = state.role_ids().await?;
    let name = ids.iter().find(|(_, (id, _))| *id == *path).map(|(n, _)| n.clone());
    let role = name.as_deref().and_then(built_in).ok_or_else(|| AppError::not_found("role"))?;
    Ok(ok(&view(&state, role).await?))
}

#[derive(Deserialize)]
struct NewRoles {
    roles: Option<String>,
}

/// Split a roles string into scheme flags and explicit roles for `scope` (`team` or `channel`):
/// the scope's guest/user/admin roles set the flags, other built-in roles of the scope that are not
/// scheme-managed become explicit roles, anything else is a 400.
fn parse_member_roles(roles: &str, scope: &str) -> ApiResult<MemberRoles> {
    let mut out = MemberRoles::default();
    let mut explicit = Vec::new();
    for name in roles.split_whitespace() {
        let Some(role) = built_in(name).filter(|r| r.name.starts_with(&format!("{scope}_"))) else {
            return Err(AppError::bad_request(
                "api.roles.update_member_roles.unknown_role.app_error",
                format!("{name:?} is not a {scope} role."),
            ));
        };
        match role.name.strip_prefix(&format!("{scope}_")) {
            Some("guest") => out.scheme_guest = true,
            Some("user") => out.scheme_user = true,
            Some("admin") => out.scheme_admin = true,
            _ if !role.scheme_managed => explicit.push(role.name),
            _ => {
                return Err(AppError::bad_request(
                    "api.roles.update_member_roles.scheme_role.app_error",
                    format!("{name:?} is managed by the permission scheme."),
                ))
            }
        }
    }
    if out.scheme_guest && (out.scheme_user || out.scheme_admin) {
        return Err(AppError::bad_request(
            "api.roles.update_member_roles.guest_and_user.app_error",
            "A member cannot be a guest and a user or admin at once.",
        ));
    }
    out.explicit = explicit.join(" ");
    Ok(out)
}

/// Valid system roles: built-in `system_*` roles with exactly one of `system_user` and
/// `system_guest`.
fn check_system_roles(roles: &str) -> ApiResult<String> {
    let names: Vec<&str> = roles.split_whitespace().collect();
    let bad = || AppError::bad_request("api.user.update_user_roles.invalid.app_error", "Invalid system roles.");
    if !names.iter().all(|n| n.starts_with("system_") && built_in(n).is_some()) {
        return Err(bad());
    }
    let user = names.contains(&"system_user");
    let guest = names.contains(&"system_guest");
    if user == guest {
        return Err(bad());
    }
    let mut unique: Vec<&str> = Vec::new();
    for n in names {
        if !unique.contains(&n) {
            unique.push(n);
        }
    }
    Ok(unique.join(" "))
}

/// `PUT /users/{user_id}/roles`: system roles (needs `manage_roles`). The user's sessions take the
/// new roles on every node at once; their websockets stay open.
async fn update_user_roles(
    state: State,
    auth: Auth,
    path: web::Path<String>,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    let user_id = resolve_user_id(&auth, &path)?.to_owned();
    let input: NewRoles = read_json(&state, body).await?;
    permissions::require(auth.has_permission("manage_roles"))?;
    let roles = check_system_roles(&input.roles.ok_or_else(|| AppError::invalid_param("roles"))?)?;
    let user = state.store.set_user_roles(&user_id, &roles).await?.ok_or_else(|| AppError::not_found("user"))?;
    super::sessions::refresh_user_sessions(&state, &user_id).await?;
    state.events.user_role_updated(&user.id, &user.roles);
    slog::info!(state.log, "user roles updated"; "user_id" => &user_id, "by" => auth.user_id());
    crate::audit::record(&state, &auth, "updateUserRoles", serde_json::json!({"user_id": user_id, "roles": roles}));
    Ok(super::status_ok())
}

#[derive(Deserialize)]
struct SchemeRoles {
    scheme_admin: Option<bool>,
    scheme_user: Option<bool>,
    scheme_guest: Option<bool>,
}

impl SchemeRoles {
    fn flags(&self) -> ApiResult<(bool, bool, bool)> {
        let (Some(admin), Some(user)) = (self.scheme_admin, self.scheme_user) else {
            return Err(AppError::invalid_param("scheme_roles"));
        };
        let guest = self.scheme_guest.unwrap_or(false);
        if guest && (user || admin) {
            return Err(AppError::bad_request(
                "api.roles.update_member_roles.guest_and_user.app_error",
                "A member cannot be a guest and a user or admin at once.",
            ));
        }
        Ok((guest, user, admin))
    }
}

async fn team_roles_target(state: &State, auth: &Auth, team_id: &str, user_id: &str) -> ApiResult<String> {
    id_param("team_id", team_id)?;
    let user_id = resolve_user_id(auth, user_id)?.to_owned();
    state.store.team(team_id).await?.ok_or_else(|| AppError::not_found("team"))?;
    if !has_team_permission(state, auth, team_id, "manage_team_roles").await? {
        return Err(forbidden());
    }
    Ok(user_id)
}

async fn set_team_roles(
    state: &State,
    auth: &Auth,
    team_id: &str,
    user_id: &str,
    roles: MemberRoles,
) -> ApiResult<HttpResponse> {
    let m = state
        .store
        .set_team_member_roles(team_id, user_id, &roles)
        .await?
        .ok_or_else(|| AppError::not_found("team member"))?;
    state.events.team_member_role_updated(&m);
    crate::audit::record(
        state,
        auth,
        "updateTeamMemberRoles",
        serde_json::json!({"team_id": team_id, "user_id": user_id, "roles": m.roles}),
    );
    Ok(super::status_ok())
}

async fn update_team_member_roles(
    state: State,
    auth: Auth,
    path: web::Path<(String, String)>,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    let (team_id, user_id) = path.into_inner();
    let input: NewRoles = read_json(&state, body).await?;
    let user_id = team_roles_target(&state, &auth, &team_id, &user_id).await?;
    let roles = parse_member_roles(&input.roles.ok_or_else(|| AppError::invalid_param("roles"))?, "team")?;
    set_team_roles(&state, &auth, &team_id, &user_id, roles).await
}

async fn update_team_member_scheme_roles(
    state: State,
    auth: Auth,
    path: web::Path<(String, String)>,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    let (team_id, user_id) = path.into_inner();
    let input: SchemeRoles = read_json(&state, body).await?;
    let (guest, user, admin) = input.flags()?;
    let user_id = team_roles_target(&state, &auth, &team_id, &user_id).await?;
    let current =
        state.store.active_team_member(&team_id, &user_id).await?.ok_or_else(|| AppError::not_found("team member"))?;
    let explicit = explicit_of(&current.roles, "team");
    let roles = MemberRoles { scheme_guest: guest, scheme_user: user, scheme_admin: admin, explicit };
    set_team_roles(&state, &auth, &team_id, &user_id, roles).await
}

/// The explicit (non-scheme) roles of a member's roles string.
fn explicit_of(roles: &str, scope: &str) -> String {
    let scheme = [format!("{scope}_guest"), format!("{scope}_user"), format!("{scope}_admin")];
    roles.split_whitespace().filter(|r| !scheme.iter().any(|s| s == r)).collect::<Vec<_>>().join(" ")
}

async fn channel_roles_target(
    state: &State,
    auth: &Auth,
    channel_id: &str,
    user_id: &str,
) -> ApiResult<(crate::store::Channel, String)> {
    id_param("channel_id", channel_id)?;
    let user_id = resolve_user_id(auth, user_id)?.to_owned();
    let channel = state.store.channel(channel_id).await?.ok_or_else(|| AppError::not_found("channel"))?;
    if !has_channel_permission(state, auth, &channel, "manage_channel_roles").await? {
        return Err(forbidden());
    }
    Ok((channel, user_id))
}

async fn set_channel_roles(
    state: &State,
    auth: &Auth,
    channel_id: &str,
    user_id: &str,
    roles: MemberRoles,
) -> ApiResult<HttpResponse> {
    let m = state
        .store
        .set_channel_member_roles(channel_id, user_id, &roles)
        .await?
        .ok_or_else(|| AppError::not_found("channel member"))?;
    state.events.channel_member_updated(&m);
    crate::audit::record(
        state,
        auth,
        "updateChannelMemberRoles",
        serde_json::json!({"channel_id": channel_id, "user_id": user_id, "roles": m.roles}),
    );
    Ok(super::status_ok())
}

async fn update_channel_member_roles(
    state: State,
    auth: Auth,
    path: web::Path<(String, String)>,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    let (channel_id, user_id) = path.into_inner();
    let input: NewRoles = read_json(&state, body).await?;
    let (channel, user_id) = channel_roles_target(&state, &auth, &channel_id, &user_id).await?;
    let roles = parse_member_roles(&input.roles.ok_or_else(|| AppError::invalid_param("roles"))?, "channel")?;
    set_channel_roles(&state, &auth, &channel.id, &user_id, roles).await
}

async fn update_channel_member_scheme_roles(
    state: State,
    auth: Auth,
    path: web::Path<(String, String)>,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    let (channel_id, user_id) = path.into_inner();
    let input: SchemeRoles = read_json(&state, body).await?;
    let (guest, user, admin) = input.flags()?;
    let (channel, user_id) = channel_roles_target(&state, &auth, &channel_id, &user_id).await?;
    let current = state
        .store
        .channel_member(&channel.id, &user_id)
        .await?
        .ok_or_else(|| AppError::not_found("channel member"))?;
    let explicit = explicit_of(&current.roles, "channel");
    let roles = MemberRoles { scheme_guest: guest, scheme_user: user, scheme_admin: admin, explicit };
    set_channel_roles(&state, &auth, &channel.id, &user_id, roles).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_roles_split_into_scheme_flags_and_explicit_roles() {
        let r = parse_member_roles("team_user team_admin team_post_all", "team").unwrap();
        assert!(r.scheme_user && r.scheme_admin && !r.scheme_guest);
        assert_eq!(r.explicit, "team_post_all");
        assert!(parse_member_roles("channel_user", "team").is_err(), "another scope's role");
        assert!(parse_member_roles("team_guest team_user", "team").is_err());
        assert!(parse_member_roles("nonsense", "channel").is_err());
        assert_eq!(parse_member_roles("", "channel").unwrap(), MemberRoles::default());
    }

    #[test]
    fn system_roles_need_exactly_one_of_user_and_guest() {
        assert_eq!(check_system_roles("system_user system_admin").unwrap(), "system_user system_admin");
        assert_eq!(check_system_roles("system_user system_user").unwrap(), "system_user");
        assert!(check_system_roles("system_admin").is_err());
        assert!(check_system_roles("system_user system_guest").is_err());
        assert!(check_system_roles("system_user team_admin").is_err());
    }

    #[test]
    fn role_names() {
        assert!(valid_role_name("channel_user"));
        assert!(!valid_role_name("Channel"));
        assert!(!valid_role_name(""));
        assert!(!valid_role_name(&"a".repeat(65)));
    }
}
