//! Outbound HTTP to URLs users configure (custom slash commands, outgoing webhooks). Every such
//! call goes through [`Outbound`], which holds the rules:
//! - a timeout per call (`ServiceSettings.OutgoingIntegrationRequestsTimeout`, seconds) and a
//!   connect timeout ([`CONNECT_TIMEOUT`]);
//! - a bounded answer ([`MAX_RESPONSE_BYTES`]; past it the call fails, nothing is read further);
//! - bounded concurrency ([`MAX_IN_FLIGHT`] calls per node; one more fails at once with
//!   [`OutboundError::Busy`] rather than waiting);
//! - `ServiceSettings.AllowedUntrustedInternalConnections` as Mattermost reads it: loopback,
//!   private, link-local, shared (CGNAT), unique-local, multicast and unspecified addresses are
//!   refused unless the host name, the address or a CIDR holding it is listed (space or comma
//!   separated). The check is made on the addresses DNS answers (the connection goes only to the
//!   addresses that passed, so a name cannot be re-resolved elsewhere between check and connect),
//!   on address literals, and again on every redirect (at most [`MAX_REDIRECTS`]). No proxy from
//!   the environment is used: a proxy would make the connection instead of us.

use crate::config::Config;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::Semaphore;

/// The longest an answer may be (Mattermost reads at most this much of an integration's reply).
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// Calls to user-configured URLs one node makes at once.
pub const MAX_IN_FLIGHT: usize = 64;
/// How long connecting may take, within the call's own timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Redirects followed before the call fails.
pub const MAX_REDIRECTS: usize = 10;

/// Why a call failed. The texts name the URL's host at most, never a token or the body sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    #[error("the URL is not a valid http or https URL")]
    BadUrl,
    #[error("address forbidden: {0} is an internal address not listed in AllowedUntrustedInternalConnections")]
    Forbidden(String),
    #[error("the request timed out")]
    Timeout,
    #[error("the response is larger than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge,
    #[error("too many outgoing requests are in flight on this node")]
    Busy,
    #[error("the request failed: {0}")]
    Failed(String),
}

/// A request to a user-configured URL.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    pub method: reqwest::Method,
    pub url: String,
    /// Sent as the `Content-Type` with `body` (ignored without one).
    pub content_type: String,
    pub body: Option<Vec<u8>>,
    /// Query pairs appended to the URL.
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
}

impl OutboundRequest {
    pub fn new(method: reqwest::Method, url: &str) -> Self {
        Self { method, url: url.to_owned(), content_type: String::new(), body: None, query: vec![], headers: vec![] }
    }
}

/// What came back.
#[derive(Debug, Clone)]
pub struct OutboundReply {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

/// The node's one way to call user-configured URLs (cheap to clone).
#[derive(Clone)]
pub struct Outbound {
    client: reqwest::Client,
    config: Arc<RwLock<Config>>,
    permits: Arc<Semaphore>,
}

/// An address refused by the rules, carried through reqwest's error chain.
#[derive(Debug, thiserror::Error)]
#[error("address forbidden: {0}")]
struct ForbiddenTarget(String);

/// What `AllowedUntrustedInternalConnections` lists.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Allowlist {
    hosts: Vec<String>,
    nets: Vec<(IpAddr, u8)>,
}

impl Allowlist {
    /// Parse Mattermost's space- or comma-separated list of host names, addresses and CIDRs.
    /// What is neither an address nor a CIDR is a host name.
    pub fn parse(list: &str) -> Self {
        let mut out = Self::default();
        for item in list.split(|c: char| c.is_whitespace() || c == ',').filter(|s| !s.is_empty()) {
            if let Some((addr, bits)) = item.split_once('/') {
                if let (Ok(ip), Ok(bits)) = (addr.parse::<IpAddr>(), bits.parse::<u8>()) {
                    if bits <= if ip.is_ipv4() { 32 } else { 128 } {
                        out.nets.push((ip, bits));
                    }
                }
                continue;
            }
            match item.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
                Ok(ip) => out.nets.push((ip, if ip.is_ipv4() { 32 } else { 128 })),
                Err(_) => out.hosts.push(item.to_ascii_lowercase()),
            }
        }
        out
    }

    pub fn allows_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.hosts.iter().any(|h| h.trim_end_matches('.') == host)
    }

    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets.iter().any(|(net, bits)| in_net(ip, canonical(*net), *bits))
    }

    /// Whether a connection to `ip` (reached by the name `host`) is allowed.
    pub fn permits(&self, host: &str, ip: IpAddr) -> bool {
        !is_internal(ip) || self.allows_host(host) || self.allows_ip(ip)
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - u32::from(bits)) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - u32::from(bits)) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Whether `ip` is inside the installation rather than on the internet: loopback, private,
/// link-local, shared address space, unique-local, multicast, broadcast, unspecified, and the
/// IPv4 forms hidden in IPv6 (mapped, NAT64).
pub fn is_internal(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => is_internal_v6(v6),
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || o[0] == 0
        || (o[0] == 100 && (64..128).contains(&o[1])) // shared address space (CGNAT)
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] == 18 || o[1] == 19)) // benchmarking
        || o[0] >= 240 // reserved
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link local
        || (s[0] & 0xffc0) == 0xfec0 // site local (deprecated)
        || (s[0] == 0x64 && s[1] == 0xff9b && is_internal_v4(Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8)))
}

/// DNS through the rules: only the addresses allowed for the name are returned, and a name with
/// none fails with [`ForbiddenTarget`].
struct GuardedResolver {
    config: Arc<RwLock<Config>>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = allowlist(&self.config);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found.iter().copied().filter(|a| allow.permits(&host, a.ip())).collect();
            if allowed.is_empty() && !found.is_empty() {
                return Err(Box::new(ForbiddenTarget(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

fn allowlist(config: &RwLock<Config>) -> Allowlist {
    config
        .read()
        .map(|c| Allowlist::parse(&c.service_settings.allowed_untrusted_internal_connections))
        .unwrap_or_default()
}

/// An address literal in `url` that the rules refuse, if it has one.
fn forbidden_literal(url: &reqwest::Url, allow: &Allowlist) -> Option<String> {
    let ip: IpAddr = url.host_str()?.trim_start_matches('[').trim_end_matches(']').parse().ok()?;
    (!allow.permits(&ip.to_string(), ip)).then(|| ip.to_string())
}

fn check_url(url: &reqwest::Url, allow: &Allowlist) -> Result<(), OutboundError> {
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(OutboundError::BadUrl);
    }
    match forbidden_literal(url, allow) {
        Some(ip) => Err(OutboundError::Forbidden(ip)),
        None => Ok(()),
    }
}

/// Whether `url` could be called at all (scheme and host), for checking a hook or command when it
/// is saved. The address rules are applied when it is called.
pub fn valid_url(url: &str) -> bool {
    url.len() <= 1024
        && reqwest::Url::parse(url)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty()))
}

impl Outbound {
    pub fn new(config: Arc<RwLock<Config>>) -> Result<Self, OutboundError> {
        let redirect_config = config.clone();
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                return attempt.error("too many redirects");
            }
            match check_url(attempt.url(), &allowlist(&redirect_config)) {
                Ok(()) => attempt.follow(),
                Err(OutboundError::Forbidden(ip)) => attempt.error(ForbiddenTarget(ip)),
                Err(e) => attempt.error(e),
            }
        });
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(redirects)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("Starling/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(GuardedResolver { config: config.clone() }))
            .build()
            .map_err(|e| OutboundError::Failed(e.to_string()))?;
        Ok(Self { client, config, permits: Arc::new(Semaphore::new(MAX_IN_FLIGHT)) })
    }

    fn timeout(&self) -> Duration {
        let secs = self.config.read().map(|c| c.service_settings.outgoing_integration_requests_timeout).unwrap_or(30);
        Duration::from_secs(secs.clamp(1, 3600) as u64)
    }

    /// Make one call under the rules.
    pub async fn send(&self, req: OutboundRequest) -> Result<OutboundReply, OutboundError> {
        let mut url = reqwest::Url::parse(&req.url).map_err(|_| OutboundError::BadUrl)?;
        check_url(&url, &allowlist(&self.config))?;
        if !req.query.is_empty() {
            url.query_pairs_mut().extend_pairs(req.query.iter());
        }
        let _permit = self.permits.clone().try_acquire_owned().map_err(|_| OutboundError::Busy)?;
        let timeout = self.timeout();
        let mut builder = self.client.request(req.method, url).timeout(timeout);
        for (k, v) in &req.headers {
            builder = builder.header(k, v);
        }
        if let Some(body) = req.body {
            if !req.content_type.is_empty() {
                builder = builder.header(reqwest::header::CONTENT_TYPE, req.content_type);
            }
            builder = builder.body(body);
        }
        // One deadline for the whole exchange, body included.
        tokio::time::timeout(timeout, async move {
            let mut resp = builder.send().await.map_err(classify)?;
            if resp.content_length().is_some_and(|n| n > MAX_RESPONSE_BYTES as u64) {
                return Err(OutboundError::TooLarge);
            }
            let status = resp.status().as_u16();
            let content_type = resp
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(classify)? {
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(OutboundError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(OutboundReply { status, content_type, body })
        })
        .await
        .map_err(|_| OutboundError::Timeout)?
    }
}

/// What a reqwest error means for the caller, without its URL (which may carry a token).
fn classify(e: reqwest::Error) -> OutboundError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if let Some(f) = s.downcast_ref::<ForbiddenTarget>() {
            return OutboundError::Forbidden(f.0.clone());
        }
        if let Some(o) = s.downcast_ref::<OutboundError>() {
            return o.clone();
        }
        source = s.source();
    }
    if e.is_timeout() {
        return OutboundError::Timeout;
    }
    let kind = if e.is_connect() {
        "could not connect"
    } else if e.is_redirect() {
        "too many redirects"
    } else if e.is_body() || e.is_decode() {
        "the response could not be read"
    } else {
        "the exchange failed"
    };
    OutboundError::Failed(kind.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_recognised() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "224.0.0.1",
        ] {
            assert!(is_internal(ip(internal)), "{internal}");
        }
        for public in ["8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(!is_internal(ip(public)), "{public}");
        }
    }

    #[test]
    fn the_allow_list_takes_hosts_addresses_and_cidrs() {
        let a = Allowlist::parse("hooks.internal  127.0.0.1,10.0.16.0/28 [::1] junk/99");
        assert!(a.permits("hooks.internal", ip("10.9.9.9")), "a listed name may be anywhere");
        assert!(a.permits("HOOKS.internal.", ip("10.9.9.9")));
        assert!(a.permits("x", ip("127.0.0.1")));
        assert!(a.permits("x", ip("::ffff:127.0.0.1")), "a mapped address is its IPv4 address");
        assert!(a.permits("x", ip("10.0.16.15")));
        assert!(!a.permits("x", ip("10.0.16.16")));
        assert!(a.permits("x", ip("::1")));
        assert!(!a.permits("x", ip("127.0.0.2")));
        assert!(a.permits("x", ip("8.8.8.8")), "public addresses need no listing");
        assert!(!Allowlist::parse("").permits("localhost", ip("127.0.0.1")));
    }

    #[test]
    fn urls_must_be_http_with_a_host() {
        assert!(valid_url("http://example.com/x?y=1"));
        assert!(valid_url("https://127.0.0.1:8080/"));
        for bad in ["ftp://example.com", "example.com", "http://", "file:///etc/passwd", ""] {
            assert!(!valid_url(bad), "{bad}");
        }
    }
}
