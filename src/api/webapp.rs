//! The web client (`webapp/`), embedded at build time by `build.rs` from the committed bundle in
//! `webapp/dist/`, so every node serves it and NGINX may send a browser to any of them.
//!
//! - `/static/...`: the bundle's files. Their names carry a hash of their content, so they are
//!   cached for a year (`immutable`); sent gzipped to browsers that accept it.
//! - Any other GET or HEAD outside the reserved prefixes (`/`, `/login`, `/{team}/channels/{channel}`,
//!   `/admin_console/...`): `index.html`, never cached, so a reload of a deep link works and a new
//!   deployment is picked up at once. The client's router reads the path.
//! - `/api/...`, `/hooks/...`, `/plugins/...`, `/static/...` that match nothing, and every other
//!   method: Mattermost's JSON 404.

use super::not_found;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};

mod assets {
    include!(concat!(env!("OUT_DIR"), "/webapp_assets.rs"));
}

/// One embedded file: its path under webapp/dist, bytes, gzipped bytes (empty when not worth
/// it), content type.
type Asset = (&'static str, &'static [u8], &'static [u8], &'static str);

/// How long a browser may keep a hashed asset.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// index.html names the current hashed assets: always ask the server.
const NO_CACHE: &str = "no-cache, max-age=0";

/// Path prefixes the client never answers for: they belong to the API and to integrations.
const RESERVED: &[&str] = &["/api/", "/hooks/", "/plugins/", "/static/"];

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/static/{file:.*}", web::get().to(static_file)).route("/static/{file:.*}", web::head().to(static_file));
}

fn asset(path: &str) -> Option<&'static Asset> {
    assets::ASSETS.iter().find(|(p, ..)| *p == path)
}

fn accepts_gzip(req: &HttpRequest) -> bool {
    req.headers().get_all(header::ACCEPT_ENCODING).filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |enc| {
            let mut parts = enc.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|q| q.trim().replace(' ', "") == "q=0");
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        },
    )
}

fn respond(req: &HttpRequest, file: &'static Asset, cache: &'static str) -> HttpResponse {
    let (_, bytes, gz, content_type) = *file;
    let mut res = HttpResponse::Ok();
    res.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(content_type)))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static(cache)))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")));
    if !gz.is_empty() {
        res.insert_header((header::VARY, HeaderValue::from_static("Accept-Encoding")));
        if accepts_gzip(req) {
            // Already compressed: keep actix from compressing it again.
            res.insert_header((header::CONTENT_ENCODING, HeaderValue::from_static("gzip")));
            return res.body(gz);
        }
    }
    res.body(bytes)
}

async fn static_file(req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let name = format!("static/{}", path.into_inner());
    match asset(&name) {
        Some(file) => respond(&req, file, IMMUTABLE),
        None => not_found().await,
    }
}

/// Whether a path is one the client's router may show (not under a reserved prefix).
pub fn is_client_path(path: &str) -> bool {
    !RESERVED.iter().any(|p| path.starts_with(p) || path == p.trim_end_matches('/'))
}

/// What a node answers for any request no route matched.
pub async fn fallback(req: HttpRequest) -> HttpResponse {
    let browser_get = req.method() == Method::GET || req.method() == Method::HEAD;
    if browser_get && is_client_path(req.path()) {
        if let Some(index) = asset("index.html") {
            return respond(&req, index, NO_CACHE);
        }
    }
    not_found().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_hooks_plugins_and_static_paths_are_not_the_clients() {
        for p in ["/api/v4/nope", "/api", "/api/", "/hooks/abc", "/plugins/x/y", "/static/missing.js"] {
            assert!(!is_client_path(p), "{p}");
        }
        for p in [
            "/",
            "/login",
            "/team-a/channels/town-square",
            "/team-a/messages/@bob",
            "/admin_console/environment/high_availability",
            "/apis",
        ] {
            assert!(is_client_path(p), "{p}");
        }
    }

    #[test]
    fn the_bundle_is_embedded_with_an_index_and_hashed_assets() {
        let index = asset("index.html").expect("webapp/dist/index.html is embedded");
        let html = std::str::from_utf8(index.1).expect("utf-8");
        let scripts: Vec<&str> = html.split("src=\"/").skip(1).filter_map(|s| s.split('"').next()).collect();
        assert!(!scripts.is_empty(), "index.html loads a script: {html}");
        for s in scripts {
            assert!(asset(s).is_some(), "{s} is embedded");
            assert!(s.starts_with("static/"), "{s} has a hashed name under static/");
        }
    }

    #[test]
    fn gzip_is_sent_only_when_accepted() {
        let req = actix_web::test::TestRequest::default()
            .insert_header((header::ACCEPT_ENCODING, "gzip, br"))
            .to_http_request();
        assert!(accepts_gzip(&req));
        let req = actix_web::test::TestRequest::default()
            .insert_header((header::ACCEPT_ENCODING, "br, gzip;q=0"))
            .to_http_request();
        assert!(!accepts_gzip(&req));
        let req = actix_web::test::TestRequest::default().to_http_request();
        assert!(!accepts_gzip(&req));
    }
}
