//! Passwords: `PasswordSettings`' rules (checked at sign-up and at every password change),
//! `ServiceSettings.MaximumLoginAttempts`' lockout (shared by login and the current-password
//! check), and `PUT /users/{user_id}/password`.

use super::users::{hash_password, hashing, verify_password, DUMMY_HASH};
use super::{read_json, status_ok, Auth, State};
use crate::config::PasswordSettings;
use crate::error::{ApiResult, AppError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

/// Mattermost's `PasswordMaximumLength`, in bytes.
pub const PASSWORD_MAX: usize = 72;

/// The characters PasswordSettings.Symbol asks for (Mattermost's list).
const SYMBOLS: &str = " !\"\\#$%&'()*+,-./:;<=>?@[]^_`|~";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/users/{user_id}/password", web::put().to(update_password));
}

/// Mattermost's id for the classes a password lacks, in its order: lowercase, uppercase,
/// number, symbol (`model.user.is_valid.pwd_uppercase_number.app_error`, ...).
fn missing_classes_id(lower: bool, upper: bool, number: bool, symbol: bool) -> &'static str {
    match (lower, upper, number, symbol) {
        (true, false, false, false) => "model.user.is_valid.pwd_lowercase.app_error",
        (false, true, false, false) => "model.user.is_valid.pwd_uppercase.app_error",
        (false, false, true, false) => "model.user.is_valid.pwd_number.app_error",
        (false, false, false, true) => "model.user.is_valid.pwd_symbol.app_error",
        (true, true, false, false) => "model.user.is_valid.pwd_lowercase_uppercase.app_error",
        (true, false, true, false) => "model.user.is_valid.pwd_lowercase_number.app_error",
        (true, false, false, true) => "model.user.is_valid.pwd_lowercase_symbol.app_error",
        (false, true, true, false) => "model.user.is_valid.pwd_uppercase_number.app_error",
        (false, true, false, true) => "model.user.is_valid.pwd_uppercase_symbol.app_error",
        (false, false, true, true) => "model.user.is_valid.pwd_number_symbol.app_error",
        (true, true, true, false) => "model.user.is_valid.pwd_lowercase_uppercase_number.app_error",
        (true, true, false, true) => "model.user.is_valid.pwd_lowercase_uppercase_symbol.app_error",
        (true, false, true, true) => "model.user.is_valid.pwd_lowercase_number_symbol.app_error",
        (false, true, true, true) => "model.user.is_valid.pwd_uppercase_number_symbol.app_error",
        (true, true, true, true) => "model.user.is_valid.pwd_lowercase_uppercase_number_symbol.app_error",
        (false, false, false, false) => "model.user.is_valid.pwd.app_error",
    }
}

/// Check a new password against PasswordSettings, with Mattermost's error ids: too short (in
/// characters) `pwd_min_length`, too long (in bytes) `pwd_max_length`, then one id naming every
/// required class it lacks.
pub fn check_password(settings: &PasswordSettings, password: &str) -> ApiResult<()> {
    let min = settings.minimum_length;
    let requirement = || {
        let mut parts = vec![format!("at least {min} characters")];
        for (on, what) in [
            (settings.lowercase, "a lowercase letter"),
            (settings.uppercase, "an uppercase letter"),
            (settings.number, "a number"),
            (settings.symbol, "a symbol"),
        ] {
            if on {
                parts.push(what.to_owned());
            }
        }
        format!("Your password must contain {}.", parts.join(", "))
    };
    if password.chars().count() < min {
        return Err(AppError::bad_request("model.user.is_valid.pwd_min_length.app_error", requirement()));
    }
    if password.len() > PASSWORD_MAX {
        return Err(AppError::bad_request(
            "model.user.is_valid.pwd_max_length.app_error",
            format!("Your password must be at most {PASSWORD_MAX} bytes long."),
        ));
    }
    let lacks = |on: bool, class: &dyn Fn(char) -> bool| on && !password.chars().any(class);
    let lower = lacks(settings.lowercase, &|c| c.is_ascii_lowercase());
    let upper = lacks(settings.uppercase, &|c| c.is_ascii_uppercase());
    let number = lacks(settings.number, &|c| c.is_ascii_digit());
    let symbol = lacks(settings.symbol, &|c| SYMBOLS.contains(c));
    if lower || upper || number || symbol {
        return Err(AppError::bad_request(missing_classes_id(lower, upper, number, symbol), requirement()));
    }
    Ok(())
}

/// The answer for an account locked by failed attempts (401, as Mattermost answers).
pub fn locked() -> AppError {
    AppError::new(
        StatusCode::UNAUTHORIZED,
        "api.user.check_user_login_attempts.too_many.app_error",
        "Your account is locked because of too many failed password attempts. Please ask an administrator to reset your password.",
    )
}

/// Check `password` against the user's `hash`, counting the attempt in the database first
/// (MaximumLoginAttempts): `Err(locked())` once the limit is reached, even for the right
/// password; `Ok(true)` resets the count.
pub async fn attempt_password(state: &State, user_id: &str, password: String, hash: String) -> ApiResult<bool> {
    let max = state.config().service_settings.maximum_login_attempts;
    if !state.store.claim_login_attempt(user_id, max).await? {
        // Spend the time of a check anyway, so a locked account looks like any other.
        let _ = hashing(move || verify_password(&password, DUMMY_HASH)).await;
        return Err(locked());
    }
    let good = hashing(move || verify_password(&password, &hash)).await?;
    if good {
        state.store.reset_failed_attempts(user_id).await?;
    }
    Ok(good)
}

#[derive(Deserialize)]
struct UpdatePassword {
    current_password: Option<String>,
    new_password: Option<String>,
}

/// `PUT /users/{user_id}/password`: a user changes their own (with the current one, which counts
/// as a login attempt); a system admin sets anyone else's without it, which also unlocks an
/// account locked by failed attempts, as in Mattermost.
async fn update_password(
    state: State,
    auth: Auth,
    path: web::Path<String>,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    let user_id = super::resolve_user_id(&auth, &path)?.to_owned();
    let input: UpdatePassword = read_json(&state, body).await?;
    let own = user_id == auth.user_id();
    if !own && !auth.is_admin() {
        return Err(super::permissions::forbidden());
    }
    let new_password = input.new_password.unwrap_or_default();
    let hash = state.store.password_hash(&user_id).await?.ok_or_else(|| AppError::not_found("user"))?;
    if own {
        let current = input
            .current_password
            .filter(|p| !p.is_empty())
            .ok_or_else(|| AppError::invalid_param("current_password"))?;
        if !attempt_password(&state, &user_id, current, hash).await? {
            return Err(AppError::bad_request(
                "api.user.update_password.incorrect.app_error",
                "The \"Current Password\" you entered is incorrect. Please check that Caps Lock is off and try again.",
            ));
        }
    }
    check_password(&state.config().password_settings, &new_password)?;
    let new_hash = hashing(move || hash_password(&new_password)).await??;
    if !state.store.update_password(&user_id, &new_hash).await? {
        return Err(AppError::not_found("user"));
    }
    slog::info!(state.log, "password updated"; "user_id" => &user_id, "by" => auth.user_id());
    crate::audit::record(&state, &auth, "updatePassword", serde_json::json!({"user_id": user_id}));
    Ok(status_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(lowercase: bool, uppercase: bool, number: bool, symbol: bool) -> PasswordSettings {
        PasswordSettings { minimum_length: 8, lowercase, uppercase, number, symbol }
    }

    fn id(s: &PasswordSettings, p: &str) -> Option<&'static str> {
        check_password(s, p).err().map(|e| e.id)
    }

    #[test]
    fn ids_name_what_is_missing_as_mattermost_names_it() {
        let all = rules(true, true, true, true);
        assert_eq!(id(&all, "asdASDasd!@#123"), None);
        assert_eq!(id(&all, "asdasdasdasdasd"), Some("model.user.is_valid.pwd_uppercase_number_symbol.app_error"));
        assert_eq!(id(&all, "ASDASDASD123!@#"), Some("model.user.is_valid.pwd_lowercase.app_error"));
        assert_eq!(
            id(&rules(false, false, true, false), "no-digits-here"),
            Some("model.user.is_valid.pwd_number.app_error")
        );
        assert_eq!(
            id(&rules(false, false, false, true), "asdASD123"),
            Some("model.user.is_valid.pwd_symbol.app_error")
        );
        assert_eq!(id(&all, "aA1!"), Some("model.user.is_valid.pwd_min_length.app_error"));
        assert_eq!(
            id(&rules(false, false, false, false), &"x".repeat(73)),
            Some("model.user.is_valid.pwd_max_length.app_error")
        );
        assert_eq!(id(&rules(false, false, false, false), &"x".repeat(72)), None);
        // 24 four-byte characters: long enough in characters, too long in bytes.
        assert_eq!(
            id(&rules(false, false, false, false), &"\u{1F600}".repeat(24)),
            Some("model.user.is_valid.pwd_max_length.app_error")
        );
    }
}
