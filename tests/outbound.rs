//! The outbound HTTP guard against a callback server on loopback: internal addresses are refused
//! unless listed (literals, DNS answers, redirects), answers are bounded in size and time, and
//! calls in flight are bounded.

mod common;
use common::callback::{Answer, Callback};
use reqwest::Method;
use starling::config::Config;
use starling::outbound::{Outbound, OutboundError, OutboundRequest, MAX_IN_FLIGHT, MAX_RESPONSE_BYTES};
use std::sync::{Arc, RwLock};
use std::time::Duration;

fn guard(allowed: &str, timeout_secs: i64) -> (Outbound, Arc<RwLock<Config>>) {
    let mut c = Config::default();
    c.service_settings.allowed_untrusted_internal_connections = allowed.into();
    c.service_settings.outgoing_integration_requests_timeout = timeout_secs;
    let config = Arc::new(RwLock::new(c));
    (Outbound::new(config.clone()).expect("client"), config)
}

fn get(url: &str) -> OutboundRequest {
    OutboundRequest::new(Method::GET, url)
}

#[actix_web::test]
async fn internal_targets_are_refused_unless_listed() {
    let server = Callback::start(|_| Answer::json(serde_json::json!({"text": "hi"}))).await;
    let port = server.port;

    let (closed, config) = guard("", 5);
    let r = closed.send(get(&server.url("/a"))).await;
    assert_eq!(r.unwrap_err(), OutboundError::Forbidden("127.0.0.1".into()));
    // A name that resolves to loopback is refused after resolution.
    let r = closed.send(get(&format!("http://localhost:{port}/b"))).await;
    assert_eq!(r.unwrap_err(), OutboundError::Forbidden("localhost".into()));
    let r = closed.send(get(&format!("http://[::ffff:127.0.0.1]:{port}/c"))).await;
    assert!(matches!(r, Err(OutboundError::Forbidden(_))), "{r:?}");
    assert_eq!(server.count(), 0, "nothing reached the server");

    // Listing the address (or a CIDR, or the name) opens it; the setting is read per call.
    config.write().unwrap().service_settings.allowed_untrusted_internal_connections = "127.0.0.0/8".into();
    let reply = closed.send(get(&server.url("/d"))).await.expect("allowed by CIDR");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.content_type, "application/json");
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&reply.body).unwrap()["text"], "hi");
    let (by_name, _) = guard("localhost", 5);
    by_name.send(get(&format!("http://localhost:{port}/e"))).await.expect("allowed by name");
    assert_eq!(server.count(), 2);

    // Not http, or no host: refused before anything is sent.
    assert_eq!(closed.send(get("ftp://example.com/")).await.unwrap_err(), OutboundError::BadUrl);
    assert_eq!(closed.send(get("not a url")).await.unwrap_err(), OutboundError::BadUrl);
}

#[actix_web::test]
async fn a_redirect_to_an_unlisted_internal_address_is_refused() {
    let target = Callback::start(|_| Answer::json(serde_json::json!({}))).await;
    let to_literal = format!("http://127.0.0.2:{}/x", target.port);
    let to_name = format!("http://localhost:{}/y", target.port);
    let redirector = Callback::start(move |r| {
        if r.target.starts_with("/name") {
            Answer::Redirect(to_name.clone())
        } else {
            Answer::Redirect(to_literal.clone())
        }
    })
    .await;
    let (out, _) = guard("127.0.0.1", 5);
    let r = out.send(get(&redirector.url("/literal"))).await;
    assert_eq!(r.unwrap_err(), OutboundError::Forbidden("127.0.0.2".into()));
    // localhost resolves to 127.0.0.1 (listed) and maybe ::1 (not): only the listed one is used.
    let r = out.send(get(&redirector.url("/name"))).await.expect("redirect to a listed address");
    assert_eq!(r.status, 200);
    assert_eq!(redirector.count(), 2);
    assert_eq!(target.count(), 1, "only the allowed redirect reached the target");
}

#[actix_web::test]
async fn answers_are_bounded_in_size_and_time() {
    let server = Callback::start(|r| match r.target.as_str() {
        "/big" => Answer::Reply(200, "text/plain", vec![b'x'; MAX_RESPONSE_BYTES + 1]),
        "/edge" => Answer::Reply(200, "text/plain", vec![b'x'; MAX_RESPONSE_BYTES]),
        _ => Answer::Hang,
    })
    .await;
    let (out, _) = guard("127.0.0.1", 1);
    assert_eq!(out.send(get(&server.url("/big"))).await.unwrap_err(), OutboundError::TooLarge);
    assert_eq!(out.send(get(&server.url("/edge"))).await.expect("at the limit").body.len(), MAX_RESPONSE_BYTES);
    assert_eq!(out.send(get(&server.url("/hang"))).await.unwrap_err(), OutboundError::Timeout);
}

#[actix_web::test]
async fn calls_past_the_bound_fail_at_once_and_the_bound_frees_up() {
    let server =
        Callback::start(|r| if r.target == "/ok" { Answer::json(serde_json::json!({})) } else { Answer::Hang }).await;
    let (out, _) = guard("127.0.0.1", 30);
    let mut hanging = Vec::new();
    for _ in 0..MAX_IN_FLIGHT {
        let (out, url) = (out.clone(), server.url("/hang"));
        hanging.push(tokio::spawn(async move { out.send(get(&url)).await }));
    }
    assert!(common::wait_until(Duration::from_secs(20), || async { server.count() == MAX_IN_FLIGHT }).await);
    assert_eq!(out.send(get(&server.url("/ok"))).await.unwrap_err(), OutboundError::Busy);
    assert_eq!(server.count(), MAX_IN_FLIGHT, "the refused call was never sent");
    for h in hanging {
        h.abort();
    }
    assert!(
        common::wait_until(Duration::from_secs(10), || async { out.send(get(&server.url("/ok"))).await.is_ok() }).await,
        "aborted calls give their permits back"
    );
}
