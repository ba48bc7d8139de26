//! `/users`: sign-up, login, logout and lookups.

use super::Query;
use super::{
    authenticate, created, id_param, ok, read_json, resolve_user_id, self_or_admin, status_ok, Auth, Paging, State,
};
use crate::audit;
use crate::error::{ApiResult, AppError};
use crate::store::{now_ms, NewSession, NewUser, UserPatch};
use actix_web::cookie::{time::Duration as CookieDuration, Cookie};
use actix_web::{web, HttpRequest, HttpResponse};
use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::Deserialize;
use serde_json::{json, Value};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/users", web::post().to(create_user))
        .route("/users", web::get().to(list_users))
        .route("/users/login", web::post().to(login))
        .route("/users/logout", web::post().to(logout))
        .route("/users/ids", web::post().to(users_by_ids))
        .route("/users/usernames", web::post().to(users_by_usernames))
        .route("/users/username/{username}", web::get().to(user_by_username))
        .route("/users/email/{email}", web::get().to(user_by_email))
        .route("/users/{user_id}", web::get().to(get_user))
        .route("/users/{user_id}/patch", web::put().to(patch_user));
}

/// Names no user may take (they mean something in messages).
const RESERVED_USERNAMES: &[&str] = &["all", "channel", "here", "matterbot", "system", "me"];
const USERNAME_MAX: usize = 22;

/// The profile fields that sign-up and patches both take.
#[derive(Deserialize)]
struct Profile {
    nickname: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    position: Option<String>,
    locale: Option<String>,
    props: Option<Value>,
    notify_props: Option<Value>,
}

impl Profile {
    /// The column limits of the text fields.
    fn check_lengths(&self) -> ApiResult<()> {
        too_long("nickname", &self.nickname, 64)?;
        too_long("first_name", &self.first_name, 64)?;
        too_long("last_name", &self.last_name, 64)?;
        too_long("position", &self.position, 128)
    }
}

#[derive(Deserialize)]
struct CreateUser {
    email: Option<String>,
    username: Option<String>,
    password: Option<String>,
    #[serde(flatten)]
    profile: Profile,
}

pub fn valid_username(u: &str) -> bool {
    let first_ok = u.chars().next().is_some_and(|c| c.is_ascii_lowercase());
    (3..=USERNAME_MAX).contains(&u.len())
        && first_ok
        && u.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_".contains(c))
        && !RESERVED_USERNAMES.contains(&u)
}

pub fn valid_email(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else {
        return false;
    };
    e.len() <= 128
        && !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && !e.chars().any(|c| c.is_whitespace() || c.is_control() || "<>(),;:\"[]\\".contains(c))
}

fn invalid_username() -> AppError {
    AppError::bad_request(
        "model.user.is_valid.username.app_error",
        format!("Username must begin with a letter and contain between 3 and {USERNAME_MAX} lowercase characters made up of numbers, letters, and the symbols \".\", \"-\", and \"_\"."),
    )
}

fn username_taken() -> AppError {
    AppError::bad_request("app.user.save.username_exists.app_error", "An account with that username already exists.")
}

fn too_long(field: &str, v: &Option<String>, max: usize) -> ApiResult<()> {
    if v.as_ref().is_some_and(|s| s.chars().count() > max) {
        return Err(AppError::bad_request(
            "model.user.is_valid.app_error",
            format!("Invalid {field}: at most {max} characters."),
        ));
    }
    Ok(())
}

/// Password hashing takes ~19 MiB and a core for tens of milliseconds: at most one per CPU at a
/// time, so a flood of logins queues instead of taking the node's memory.
static HASHING: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
    tokio::sync::Semaphore::new(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2))
});

/// Run a hashing job on the blocking pool under the [`HASHING`] limit.
pub(super) async fn hashing<T: Send + 'static>(job: impl FnOnce() -> T + Send + 'static) -> Result<T, AppError> {
    let _permit = HASHING.acquire().await.map_err(AppError::internal)?;
    web::block(job).await.map_err(AppError::internal)
}

pub(super) fn hash_password(password: &str) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(AppError::internal)
}

pub(super) fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

async fn create_user(state: State, req: HttpRequest, body: web::Payload) -> ApiResult<HttpResponse> {
    let input: CreateUser = read_json(&state, body).await?;
    let cfg = state.config();
    let caller_is_admin = match super::request_token_at(&req) {
        Some((t, at)) => match authenticate(&state, t.clone()).await {
            Ok(s) => {
                super::check_csrf(&state, &req, &t, at)?;
                s.is_system_admin()
            }
            Err(_) => false,
        },
        None => false,
    };
    let username = input.username.as_deref().unwrap_or("").trim().to_lowercase();
    let email = input.email.as_deref().unwrap_or("").trim().to_lowercase();
    let password = input.password.unwrap_or_default();
    if !valid_username(&username) {
        return Err(invalid_username());
    }
    if !valid_email(&email) {
        return Err(AppError::bad_request("model.user.is_valid.email.app_error", "Invalid email."));
    }
    super::passwords::check_password(&cfg.password_settings, &password)?;
    input.profile.check_lengths()?;
    if !caller_is_admin {
        if !cfg.team_settings.enable_user_creation {
            return Err(AppError::forbidden("User sign-up is disabled."));
        }
        if !cfg.team_settings.enable_open_server && state.store.user_count_positive().await? {
            return Err(AppError::forbidden("This server does not allow open signups. Please speak with your Administrator to receive an invitation."));
        }
    }
    let password_hash = hashing(move || hash_password(&password)).await??;
    let profile = input.profile;
    let new = NewUser {
        username,
        email,
        password_hash,
        nickname: profile.nickname.unwrap_or_default(),
        first_name: profile.first_name.unwrap_or_default(),
        last_name: profile.last_name.unwrap_or_default(),
        position: profile.position.unwrap_or_default(),
        locale: profile.locale.filter(|l| !l.is_empty() && l.len() <= 5).unwrap_or_else(|| "en".into()),
        props: profile.props.filter(Value::is_object).unwrap_or_else(|| serde_json::json!({})),
        notify_props: profile.notify_props.filter(Value::is_object).unwrap_or_else(|| serde_json::json!({})),
    };
    match state.store.create_user(new).await {
        Ok(user) => {
            slog::info!(state.log, "user created"; "user_id" => &user.id);
            Ok(created(&user))
        }
        Err(e) => match e.unique_violation() {
            Some("users_email_key") => Err(AppError::bad_request(
                "app.user.save.email_exists.app_error",
                "An account with that email already exists.",
            )),
            Some(_) => Err(username_taken()),
            None => Err(e.into()),
        },
    }
}

#[derive(Deserialize)]
struct Login {
    login_id: Option<String>,
    password: Option<String>,
    device_id: Option<String>,
}

async fn login(state: State, req: HttpRequest, body: web::Payload) -> ApiResult<HttpResponse> {
    let who = audit::Who::from_request(&state, &req);
    let input: Login = read_json(&state, body).await?;
    let login_id = input.login_id.unwrap_or_default();
    let password = input.password.unwrap_or_default();
    if login_id.is_empty() || login_id.len() > 128 {
        return Err(AppError::bad_request("api.user.login.blank_login_id.app_error", "Login id is required."));
    }
    if password.is_empty() {
        return Err(AppError::bad_request("api.user.login.blank_pwd.app_error", "Password field must not be blank."));
    }
    let invalid = || {
        AppError::new(
            actix_web::http::StatusCode::UNAUTHORIZED,
            "api.user.login.invalid_credentials_email_username",
            "Enter a valid email or username and/or password.",
        )
    };
    let found = state.store.user_for_login(&login_id).await?;
    let Some((user, hash)) = found else {
        // Spend the same time as a real check so timing does not reveal which names exist.
        let _ = hashing(move || verify_password(&password, DUMMY_HASH)).await;
        audit::record(&state, who, "login", json!({"status": "fail", "login_id": login_id, "reason": "unknown"}));
        return Err(invalid());
    };
    // Counted in the database before the check: MaximumLoginAttempts holds across nodes.
    let attempt = super::passwords::attempt_password(&state, &user.id, password, hash).await;
    let good = attempt.inspect_err(|e| audit::login_refused(&state, &who, &user.id, &login_id, e.id))?;
    if !good || user.delete_at != 0 {
        let reason = if good { "deactivated" } else { "password" };
        audit::login_refused(&state, &who, &user.id, &login_id, reason);
        return Err(invalid());
    }
    let hours = state.config().service_settings.session_length_web_in_hours;
    let session = state
        .store
        .create_session(NewSession {
            user_id: user.id.clone(),
            roles: user.roles.clone(),
            expires_at: now_ms() + hours * 3_600_000,
            device_id: input.device_id.unwrap_or_default().chars().take(512).collect(),
        })
        .await?;
    slog::info!(state.log, "user logged in"; "user_id" => &user.id);
    audit::record(
        &state,
        who.user(&user.id).session(session.id.as_str()),
        "login",
        json!({"status": "success", "login_id": login_id}),
    );
    let max_age = CookieDuration::hours(hours);
    Ok(HttpResponse::Ok()
        .insert_header(("Token", session.token.as_str()))
        .cookie(Cookie::build("MMAUTHTOKEN", session.token.clone()).path("/").http_only(true).max_age(max_age).finish())
        .cookie(Cookie::build("MMUSERID", user.id.clone()).path("/").max_age(max_age).finish())
        .cookie(Cookie::build("MMCSRF", super::csrf_token(&session.token)).path("/").max_age(max_age).finish())
        .json(&user))
}

/// A valid argon2 hash of a random string, for constant-time failed logins.
pub(super) const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c3RhcmxpbmdkdW1teXNhbHQ$0b3QbAVkS6eLqcPZ0dTyaqxzV0Mb9a9rW5kdqgr5Ahs";

async fn logout(state: State, req: HttpRequest) -> ApiResult<HttpResponse> {
    if let Some((token, at)) = super::request_token_at(&req) {
        if let Ok(session) = authenticate(&state, token.clone()).await {
            super::check_csrf(&state, &req, &token, at)?;
            // Every node refuses the token while the row is deleted, not after.
            let delete = async { state.store.delete_session(session.id.as_str()).await.map_err(AppError::from) };
            super::sessions::revoke_tokens_with(&state, vec![token], delete).await?;
            slog::info!(state.log, "user logged out"; "user_id" => session.user_id.as_str());
            let who =
                audit::Who::from_request(&state, &req).user(session.user_id.as_str()).session(session.id.as_str());
            audit::record(&state, who, "logout", json!({}));
        }
    }
    let mut resp = status_ok();
    for name in ["MMAUTHTOKEN", "MMUSERID", "MMCSRF"] {
        let mut c = Cookie::build(name, "").path("/").finish();
        c.make_removal();
        resp.add_cookie(&c).map_err(AppError::internal)?;
    }
    Ok(resp)
}

async fn get_user(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = resolve_user_id(&auth, &path)?;
    let user = state.store.user(id).await?.ok_or_else(|| AppError::not_found("user"))?;
    Ok(ok(&user))
}

#[derive(Deserialize)]
struct PatchInput {
    username: Option<String>,
    timezone: Option<Value>,
    #[serde(flatten)]
    profile: Profile,
}

/// Mattermost's `StringMap` fields (props, notify props, timezone): an object of strings. A patch
/// replaces the whole map, as Mattermost's does.
fn string_map(field: &str, v: Option<Value>) -> ApiResult<Option<Value>> {
    match v {
        None => Ok(None),
        Some(Value::Object(m)) if m.values().all(Value::is_string) => Ok(Some(Value::Object(m))),
        Some(_) => Err(AppError::bad_request(
            "api.context.invalid_body_param.app_error",
            format!("Invalid {field}: an object whose values are strings."),
        )),
    }
}

/// `PUT /users/{id}/patch` (and `/users/me/patch`): only the fields sent change (a username is
/// checked as at sign-up; an email is not changed here); the user
/// themself, or with `edit_other_users`. Everyone hears `user_updated`.
async fn patch_user(state: State, auth: Auth, path: web::Path<String>, body: web::Payload) -> ApiResult<HttpResponse> {
    let id = self_or_admin(&auth, &path)?.to_owned();
    let input: PatchInput = read_json(&state, body).await?;
    let username = input.username.map(|u| u.trim().to_lowercase());
    if username.as_deref().is_some_and(|u| !valid_username(u)) {
        return Err(invalid_username());
    }
    input.profile.check_lengths()?;
    let profile = input.profile;
    if profile.locale.as_ref().is_some_and(|l| l.is_empty() || l.len() > 5) {
        return Err(AppError::bad_request("model.user.is_valid.locale.app_error", "Invalid locale."));
    }
    let patch = UserPatch {
        username,
        nickname: profile.nickname,
        first_name: profile.first_name,
        last_name: profile.last_name,
        position: profile.position,
        locale: profile.locale,
        props: string_map("props", profile.props)?,
        notify_props: string_map("notify_props", profile.notify_props)?,
        timezone: string_map("timezone", input.timezone)?,
    };
    let user = match state.store.patch_user(&id, &patch).await {
        Ok(u) => u.ok_or_else(|| AppError::not_found("user"))?,
        Err(e) if e.unique_violation().is_some() => return Err(username_taken()),
        Err(e) => return Err(e.into()),
    };
    slog::info!(state.log, "user patched"; "user_id" => &id);
    state.events.user_updated(&user);
    Ok(ok(&user))
}

async fn user_by_username(state: State, _auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    super::name_param(super::PathName::Username, &path)?;
    let name = path.into_inner().to_lowercase();
    let user = state.store.user_by_username(&name).await?.ok_or_else(|| AppError::not_found("user"))?;
    Ok(ok(&user))
}

/// `GET /users/email/{email}`: for system admins and for the user themself (Starling keeps
/// emails private, as Mattermost does with PrivacySettings.ShowEmailAddress off).
async fn user_by_email(state: State, auth: Auth, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let email = path.into_inner();
    if email.is_empty() || email.len() > 128 || !email.contains('@') {
        return Err(AppError::invalid_param("email"));
    }
    let user = state.store.user_by_email(&email).await?.ok_or_else(|| AppError::not_found("user"))?;
    if user.id != auth.user_id() && !auth.is_admin() {
        return Err(AppError::not_found("user"));
    }
    Ok(ok(&user))
}

/// The most ids one lookup takes.
const MAX_LOOKUP: usize = 1000;

async fn users_by_ids(state: State, _auth: Auth, body: web::Payload) -> ApiResult<HttpResponse> {
    let ids: Vec<String> = read_json(&state, body).await?;
    if ids.is_empty() || ids.len() > MAX_LOOKUP {
        return Err(AppError::invalid_param("user_ids"));
    }
    for id in &ids {
        id_param("user_id", id)?;
    }
    Ok(ok(&state.store.users_by_ids(&ids).await?))
}

async fn users_by_usernames(state: State, _auth: Auth, body: web::Payload) -> ApiResult<HttpResponse> {
    let names: Vec<String> = read_json(&state, body).await?;
    if names.is_empty() || names.len() > MAX_LOOKUP {
        return Err(AppError::invalid_param("usernames"));
    }
    let names: Vec<String> = names.into_iter().map(|n| n.to_lowercase()).collect();
    Ok(ok(&state.store.users_by_usernames(&names).await?))
}

#[derive(Deserialize)]
struct ListUsers {
    in_team: Option<String>,
    in_channel: Option<String>,
    #[serde(default)]
    page: i64,
    #[serde(default = "super::default_per_page")]
    per_page: i64,
}

async fn list_users(state: State, auth: Auth, q: Query<ListUsers>) -> ApiResult<HttpResponse> {
    let (page, per_page) = Paging { page: q.page, per_page: q.per_page }.checked()?;
    if let Some(team) = q.in_team.as_deref() {
        super::member_team(&state, &auth, team).await?;
    }
    if let Some(channel) = q.in_channel.as_deref() {
        super::readable_channel(&state, &auth, channel).await?;
    }
    let users = state.store.list_users(q.in_team.as_deref(), q.in_channel.as_deref(), page, per_page).await?;
    Ok(ok(&users))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for good in ["abc", "a.b-c_d", "user1", "a2345678901234567890bc"] {
            assert!(valid_username(good), "{good}");
        }
        for bad in ["ab", "1abc", "Abc", "a b", "all", "a23456789012345678901bcd", "ab@c", ""] {
            assert!(!valid_username(bad), "{bad}");
        }
    }

    #[test]
    fn emails() {
        assert!(valid_email("a@b.c"));
        for bad in ["", "a", "@b", "a@", "a b@c", "a@b@c"] {
            assert!(!valid_email(bad), "{bad}");
        }
    }

    #[test]
    fn password_hashes_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("x", "not a hash"));
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }
}
