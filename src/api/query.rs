//! The query-string extractor every handler uses, as lenient as Mattermost's parameter parsing:
//! the first of duplicate keys wins, an empty value is as if the key were absent (`in_team=`,
//! `since=`), and a `page` or `per_page` that is not a number or is negative falls back to its
//! default (`per_page` is capped at [`PER_PAGE_MAX`]). Anything else that does not fit the
//! handler's type is a 400 (`api.context.invalid_url_param.app_error`).

use crate::error::AppError;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use std::future::{ready, Ready};

/// Mattermost's `PerPageMaximum`.
pub const PER_PAGE_MAX: i64 = 200;

/// A handler's query parameters, read leniently (see the module docs).
pub struct Query<T>(pub T);

impl<T> std::ops::Deref for Query<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> Query<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(parse(req.query_string()).map(Query))
    }
}

/// Decode a raw query string into `T` after [`lenient`] cleaned it.
pub fn parse<T: DeserializeOwned>(raw: &str) -> Result<T, AppError> {
    let bad = |e: String| {
        AppError::bad_request("api.context.invalid_url_param.app_error", "Invalid query parameter.").detail(e)
    };
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw).map_err(|e| bad(e.to_string()))?;
    let clean = serde_urlencoded::to_string(lenient(pairs)).map_err(|e| bad(e.to_string()))?;
    serde_urlencoded::from_str(&clean).map_err(|e| bad(e.to_string()))
}

/// Mattermost's reading of query pairs: the first value per key (an empty one means absent), `page` and
/// `per_page` forced into range. `page=-1` is kept: one route reads it as "everything".
pub fn lenient(pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(pairs.len());
    let mut seen: Vec<String> = Vec::with_capacity(pairs.len());
    for (k, v) in pairs {
        // Only the first value of a key counts, even when it is empty or unusable.
        if seen.contains(&k) {
            continue;
        }
        seen.push(k.clone());
        if v.is_empty() {
            continue;
        }
        let v = match k.as_str() {
            "page" => match v.trim().parse::<i64>() {
                Ok(p) if p >= 0 || p == -1 => p.to_string(),
                _ => continue,
            },
            "per_page" => match v.trim().parse::<i64>() {
                Ok(n) if n >= 0 => n.min(PER_PAGE_MAX).to_string(),
                _ => continue,
            },
            _ => v,
        };
        out.push((k, v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Q {
        #[serde(default)]
        page: i64,
        #[serde(default = "crate::api::default_per_page")]
        per_page: i64,
        in_team: Option<String>,
        since: Option<i64>,
    }

    fn q(raw: &str) -> Q {
        parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"))
    }

    #[test]
    fn bad_pages_fall_back_and_per_page_is_capped() {
        assert_eq!((q("page=abc&per_page=-5").page, q("page=abc&per_page=-5").per_page), (0, 60));
        assert_eq!(q("page=-7").page, 0);
        assert_eq!(q("page=-1").page, -1, "kept for the route that reads it as all");
        assert_eq!(q("per_page=100000").per_page, 200);
        assert_eq!(q("per_page=99999999999999999999999").per_page, 60);
        assert_eq!(q("page=3&per_page=7"), Q { page: 3, per_page: 7, in_team: None, since: None });
    }

    #[test]
    fn the_first_of_duplicates_wins_and_empty_values_are_absent() {
        let v = q("per_page=5&per_page=9&in_team=a&in_team=b");
        assert_eq!((v.per_page, v.in_team.as_deref()), (5, Some("a")));
        let v = q("in_team=&since=&page=");
        assert_eq!(v, Q { page: 0, per_page: 60, in_team: None, since: None });
        assert_eq!(q("since=&since=12").since, None, "the first value counts, and it is empty");
        assert_eq!(q("page=abc&page=2").page, 0, "the first value counts, and it is not a number");
    }

    #[test]
    fn other_bad_values_are_still_refused() {
        assert_eq!(parse::<Q>("since=yesterday").map(|_| ()).map_err(|e| e.status.as_u16()), Err(400));
    }
}
