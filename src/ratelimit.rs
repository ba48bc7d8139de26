//! Mattermost's request rate limit (`RateLimitSettings`): the generic cell rate algorithm its
//! `throttled` library runs, one cell per client key, in this node's memory.
//!
//! A key may make `MaxBurst + 1` requests at once and then `PerSec` a second. Each answer
//! carries `X-Ratelimit-Limit`, `X-Ratelimit-Remaining` and `X-Ratelimit-Reset` (seconds until
//! the key's allowance is whole again); a refused one is 429 with `Retry-After` too.
//!
//! The key is made of the client address (`VaryByRemoteAddr`), the request's token
//! (`VaryByUser`: each session has its own allowance) and a header's value (`VaryByHeader`); a
//! key longer than 128 bytes is kept as its SHA-256.
//! The client address is the TCP peer's, unless the peer is a loopback or private-network
//! address (a proxy in front of the node) and a header named in `ServiceSettings.TrustedProxyIPHeader`
//! is present: then it is that header's address (for `X-Forwarded-For`, the last one, the
//! address the proxy itself saw).
//!
//! Memory is bounded by `MemoryStoreSize` keys. When a new key finds the store full, keys whose
//! allowance is whole again are dropped first (they carry no state); if that frees nothing,
//! the least recently seen sixteenth of the keys is dropped. A dropped key starts again with a
//! full allowance, as it does when Mattermost's LRU store forgets it.

use crate::config::RateLimitSettings;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What the limit decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// `X-Ratelimit-Limit`: requests a key may make at once.
    pub limit: u64,
    /// `X-Ratelimit-Remaining`.
    pub remaining: u64,
    /// `X-Ratelimit-Reset`: whole seconds until the allowance is full again.
    pub reset_secs: u64,
    /// `Retry-After` on a refusal: whole seconds until one more request is allowed.
    pub retry_after_secs: Option<u64>,
}

struct Cell {
    /// The theoretical arrival time, in nanoseconds since the limiter's start.
    tat: u128,
    /// When the key was last seen (same clock), for eviction.
    seen: u128,
}

/// The node's rate limit cells.
pub struct RateLimiter {
    start: Instant,
    cells: Mutex<HashMap<String, Cell>>,
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl RateLimiter {
    pub fn new() -> Self {
        Self { start: Instant::now(), cells: Mutex::new(HashMap::new()) }
    }

    /// Count one request of `key` now.
    pub fn check(&self, key: &str, settings: &RateLimitSettings) -> Decision {
        self.check_at(key, settings, self.start.elapsed())
    }

    /// Count one request of `key` at `now` (time since the limiter's start).
    pub fn check_at(&self, key: &str, settings: &RateLimitSettings, now: Duration) -> Decision {
        let now = now.as_nanos();
        let per_sec = settings.per_sec.max(1) as u128;
        let burst = settings.max_burst.max(0) as u128;
        let capacity = settings.memory_store_size.max(1) as usize;
        // At least 1 ns, so a PerSec above a billion cannot divide by zero below.
        let emission = (1_000_000_000u128 / per_sec).max(1);
        // The delay variation tolerance: how far ahead of now the arrival time may run.
        let tolerance = emission * (burst + 1);
        let limit = (burst + 1) as u64;

        let mut cells = self.cells.lock().unwrap_or_else(|p| p.into_inner());
        if !cells.contains_key(key) && cells.len() >= capacity {
            evict(&mut cells, capacity, now);
        }
        let cell = cells.entry(key.to_owned()).or_insert(Cell { tat: now, seen: now });
        cell.seen = now;
        let tat = cell.tat.max(now);
        let new_tat = tat + emission;
        let allow_at = new_tat.saturating_sub(tolerance);
        let (allowed, ttl, retry_after) = if now < allow_at {
            (false, tat - now, Some(allow_at - now))
        } else {
            cell.tat = new_tat;
            (true, new_tat - now, None)
        };
        let remaining = tolerance.saturating_sub(ttl) / emission;
        let secs = |n: u128| n.div_ceil(1_000_000_000) as u64;
        Decision {
            allowed,
            limit,
            remaining: remaining as u64,
            reset_secs: secs(ttl),
            retry_after_secs: retry_after.map(secs),
        }
    }

    /// Keys remembered now.
    pub fn len(&self) -> usize {
        self.cells.lock().map(|c| c.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Make room for one more key (see the module docs).
fn evict(cells: &mut HashMap<String, Cell>, capacity: usize, now: u128) {
    cells.retain(|_, c| c.tat > now);
    if cells.len() < capacity {
        return;
    }
    let drop = (capacity / 16).max(1).min(cells.len());
    let mut seen: Vec<u128> = cells.values().map(|c| c.seen).collect();
    let (_, cut, _) = seen.select_nth_unstable(drop - 1);
    let cut = *cut;
    let mut left = drop;
    cells.retain(|_, c| {
        if left > 0 && c.seen <= cut {
            left -= 1;
            false
        } else {
            true
        }
    });
}

/// Whether a peer may speak for its clients through a TrustedProxyIPHeader header.
fn is_proxy_peer(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || (v6.segments()[0] & 0xfe00) == 0xfc00 // unique local
                || v6.to_ipv4_mapped().is_some_and(|v4| is_proxy_peer(IpAddr::V4(v4)))
        }
    }
}

/// The client's address: the peer's, or, from a proxy peer, the first `trusted_headers` header
/// present (see the module docs).
pub fn client_addr(
    peer: Option<IpAddr>,
    headers: &actix_web::http::header::HeaderMap,
    trusted_headers: &[String],
) -> Option<IpAddr> {
    let peer = peer?;
    if !is_proxy_peer(peer) {
        return Some(peer);
    }
    for name in trusted_headers {
        let Some(value) = headers.get(name.as_str()).and_then(|v| v.to_str().ok()) else { continue };
        let last = value.rsplit(',').map(str::trim).find(|s| !s.is_empty());
        if let Some(ip) = last.and_then(|s| s.parse::<IpAddr>().ok()) {
            return Some(ip);
        }
    }
    Some(peer)
}

/// The limit's key for a request (see the module docs).
pub fn key(settings: &RateLimitSettings, client: Option<IpAddr>, token: Option<&str>, header: Option<&str>) -> String {
    let mut key = String::new();
    if settings.vary_by_remote_addr {
        if let Some(ip) = client {
            key.push_str(&ip.to_string());
        }
    }
    if settings.vary_by_user {
        key.push('|');
        key.push_str(token.unwrap_or(""));
    }
    if !settings.vary_by_header.is_empty() {
        key.push('|');
        key.push_str(header.unwrap_or(""));
    }
    // A client chooses its token and headers: a long key is kept as its digest, so the store's
    // memory is bounded by MemoryStoreSize times a small size.
    if key.len() > KEY_MAX {
        use sha2::Digest;
        key = hex::encode(sha2::Sha256::digest(key.as_bytes()));
    }
    key
}

/// The longest key kept as it is.
const KEY_MAX: usize = 128;

/// Count a request against the limit, if `RateLimitSettings.Enable` (read per request, so a
/// saved config applies at once). `None` when the limit is off.
pub fn check_request(
    limiter: &RateLimiter,
    config: &std::sync::RwLock<crate::config::Config>,
    req: &actix_web::dev::ServiceRequest,
) -> Option<Decision> {
    let (settings, trusted) = {
        let c = config.read().unwrap_or_else(|p| p.into_inner());
        if !c.rate_limit_settings.enable {
            return None;
        }
        (c.rate_limit_settings.clone(), c.service_settings.trusted_proxy_ip_header.clone())
    };
    let client = client_addr(req.peer_addr().map(|a| a.ip()), req.headers(), &trusted);
    let token = if settings.vary_by_user { crate::api::request_token(req.request()) } else { None };
    let header = (!settings.vary_by_header.is_empty())
        .then(|| req.headers().get(settings.vary_by_header.as_str()).and_then(|v| v.to_str().ok()))
        .flatten();
    Some(limiter.check(&key(&settings, client, token.as_deref(), header), &settings))
}

/// The 429 answer of a refused request (Mattermost's says `limit exceeded`).
pub fn refusal() -> crate::error::AppError {
    crate::error::AppError::new(
        actix_web::http::StatusCode::TOO_MANY_REQUESTS,
        "api.context.rate_limit_exceeded.app_error",
        "limit exceeded",
    )
}

/// Add the limit's headers to an answer.
pub fn add_headers(headers: &mut actix_web::http::header::HeaderMap, d: &Decision) {
    use actix_web::http::header::{HeaderName, HeaderValue};
    let mut set = |name: &'static str, v: u64| {
        headers.insert(HeaderName::from_static(name), HeaderValue::from(v));
    };
    set("x-ratelimit-limit", d.limit);
    set("x-ratelimit-remaining", d.remaining);
    set("x-ratelimit-reset", d.reset_secs);
    if let Some(r) = d.retry_after_secs {
        set("retry-after", r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(per_sec: i64, burst: i64, size: i64) -> RateLimitSettings {
        RateLimitSettings { enable: true, per_sec, max_burst: burst, memory_store_size: size, ..Default::default() }
    }

    #[test]
    fn a_burst_then_the_rate() {
        let rl = RateLimiter::new();
        let s = settings(10, 2, 100);
        let t0 = Duration::from_secs(5);
        let got: Vec<_> = (0..4).map(|_| rl.check_at("k", &s, t0)).collect();
        assert_eq!(got.iter().map(|d| d.allowed).collect::<Vec<_>>(), [true, true, true, false]);
        assert_eq!(got.iter().map(|d| d.remaining).collect::<Vec<_>>(), [2, 1, 0, 0]);
        assert_eq!(got[0].limit, 3);
        assert_eq!(got[3].retry_after_secs, Some(1), "100 ms, rounded up");
        assert_eq!(got[2].reset_secs, 1);
        // 100 ms later one more is allowed, and only one.
        let later = t0 + Duration::from_millis(100);
        assert!(rl.check_at("k", &s, later).allowed);
        assert!(!rl.check_at("k", &s, later).allowed);
        // Another key has its own allowance.
        assert!(rl.check_at("other", &s, later).allowed);
        // After a quiet second the allowance is whole again.
        assert_eq!(rl.check_at("k", &s, later + Duration::from_secs(1)).remaining, 2);
    }

    #[test]
    fn any_valid_rate_is_safe() {
        let rl = RateLimiter::new();
        let s = settings(i64::MAX, i64::MAX, i64::MAX);
        assert!(rl.check_at("k", &s, Duration::from_secs(1)).allowed);
    }

    #[test]
    fn the_store_keeps_at_most_memory_store_size_keys() {
        let rl = RateLimiter::new();
        let s = settings(1, 5, 32);
        let now = Duration::from_secs(1);
        for i in 0..1000 {
            rl.check_at(&format!("k{i}"), &s, now + Duration::from_nanos(i));
        }
        assert!(rl.len() <= 32, "{}", rl.len());
        // The newest keys are kept: the last one is still limited by its state.
        let last = rl.check_at("k999", &s, now + Duration::from_nanos(1000));
        assert_eq!(last.remaining, 4, "k999 keeps its state");
    }

    #[test]
    fn forwarded_addresses_count_only_from_a_proxy() {
        use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
        let mut h = HeaderMap::new();
        h.insert(HeaderName::from_static("x-forwarded-for"), HeaderValue::from_static("6.6.6.6, 203.0.113.9"));
        let trusted = vec!["X-Forwarded-For".to_owned()];
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let outsider: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(client_addr(Some(proxy), &h, &trusted), Some("203.0.113.9".parse().unwrap()));
        assert_eq!(client_addr(Some(outsider), &h, &trusted), Some(outsider), "not a proxy: its own address");
        assert_eq!(client_addr(Some(proxy), &h, &[]), Some(proxy), "no trusted header configured");
    }

    #[test]
    fn keys_are_small_whatever_the_client_sends() {
        let s = RateLimitSettings { vary_by_user: true, vary_by_header: "X-Client".into(), ..Default::default() };
        let ip = Some("192.0.2.1".parse().unwrap());
        assert_eq!(key(&s, ip, Some("tok"), Some("h")), "192.0.2.1|tok|h");
        let long = "t".repeat(10_000);
        let k = key(&s, ip, Some(&long), None);
        assert_eq!(k.len(), 64);
        assert_ne!(k, key(&s, ip, Some(&"u".repeat(10_000)), None), "different clients, different keys");
    }
}
