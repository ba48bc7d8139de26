//! The web client as every node serves it: pages for browser GETs (deep links survive a
//! reload), hashed assets cached for good and gzipped, and the API's and integrations' paths
//! left alone.

mod common;
use common::*;

async fn get(url: &str, gzip: bool) -> reqwest::Response {
    let client = reqwest::Client::builder().no_gzip().build().unwrap();
    let mut req = client.get(url);
    if gzip {
        req = req.header("Accept-Encoding", "gzip");
    }
    req.send().await.unwrap()
}

#[actix_web::test]
async fn deep_links_get_the_client_and_api_paths_stay_json_404s() {
    let s = TestServer::start().await;
    for path in [
        "/",
        "/login",
        "/team-a/channels/town-square",
        "/team-a/messages/@bob",
        "/admin_console/environment/high_availability",
    ] {
        let r = get(&format!("{}{path}", s.url()), false).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8", "{path}");
        assert_eq!(r.headers()["cache-control"], "no-cache, max-age=0", "{path}: index.html is never kept");
        assert!(r.text().await.unwrap().contains("<div id=\"root\">"), "{path}");
    }
    for path in ["/api/v4/no/such/route", "/api/v5/users", "/hooks/abc", "/plugins/com.example/x", "/static/missing.js"]
    {
        let r = get(&format!("{}{path}", s.url()), false).await;
        assert_eq!(r.status(), 404, "{path}");
        assert_eq!(r.headers()["content-type"], "application/json", "{path}");
    }
    // Writes to a page path are not pages.
    let r = reqwest::Client::new().post(format!("{}/login", s.url())).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

#[actix_web::test]
async fn hashed_assets_are_cached_for_a_year_and_sent_gzipped_when_accepted() {
    let s = TestServer::start().await;
    let index = get(&s.url(), false).await.text().await.unwrap();
    let script = index.split("src=\"").nth(1).and_then(|r| r.split('"').next()).expect("index.html loads a script");
    assert!(script.starts_with("/static/"), "{script}");
    let plain = get(&format!("{}{script}", s.url()), false).await;
    assert_eq!(plain.status(), 200);
    assert_eq!(plain.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert_eq!(plain.headers()["content-type"], "text/javascript; charset=utf-8");
    assert!(plain.headers().get("content-encoding").is_none());
    let plain_len = plain.bytes().await.unwrap().len();
    let gz = get(&format!("{}{script}", s.url()), true).await;
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    assert_eq!(gz.headers()["vary"], "Accept-Encoding");
    let gz_len = gz.bytes().await.unwrap().len();
    assert!(gz_len * 2 < plain_len, "gzipped {gz_len} bytes against {plain_len}");
}
