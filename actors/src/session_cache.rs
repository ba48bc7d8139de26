//! `SessionCache`: token -> session, so authenticating a request costs no database round trip.
//!
//! Entries live at most `ttl` (ServiceSettings.SessionCacheInMinutes) and never past the session's
//! own expiry. Invalidation (logout, revoke, deactivation) removes entries at once; a lookup that
//! was reading the database while an invalidation arrived does not put its result back in the cache.

use crate::error::{StoreError, StoreResult};
use crate::mailbox::LOCAL_MAILBOX;
use actix::prelude::*;
use futures_util::future::BoxFuture;
use starling_protocol::now_ms;
use starling_protocol::{SessionId, UserId};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// A login session as the node keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub token: String,
    pub user_id: UserId,
    pub roles: String,
    pub create_at: i64,
    pub expires_at: i64,
    pub last_activity_at: i64,
    pub device_id: String,
}

impl Session {
    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.expires_at != 0 && self.expires_at <= now_ms
    }
    pub fn is_system_admin(&self) -> bool {
        self.roles.split_whitespace().any(|r| r == "system_admin")
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SessionCacheError {
    #[error("session store: {0}")]
    Store(#[from] StoreError),
}

/// What the cache needs from the database.
pub trait SessionStore: Send + Sync + 'static {
    fn session_by_token(&self, token: String) -> BoxFuture<'static, StoreResult<Option<Session>>>;
}

/// Look a token up (cache first, then the store).
#[derive(Debug, Message)]
#[rtype(result = "Result<Option<Session>, SessionCacheError>")]
pub struct GetSession {
    pub token: String,
}

/// Forget one session (logout, revoke).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct InvalidateSession {
    pub token: String,
}

/// A session was revoked (logout, revoke): forget it, and refuse its token for [`REVOKED_TTL`]
/// even if the database still holds the row. So a revocation can be announced to every node at
/// the same time as the row is deleted, and no lookup in between can bring the session back.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct RevokeSession {
    pub token: String,
}

/// How long a revoked token is refused without asking the database (the row is gone long before).
pub const REVOKED_TTL: Duration = Duration::from_secs(120);
/// Revoked tokens remembered at most (expired ones are pruned first).
const REVOKED_MAX: usize = 100_000;

/// Forget every session of a user (password change, deactivation, revoke all).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct InvalidateUserSessions {
    pub user_id: UserId,
}

/// Forget everything.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct ClearSessions;

struct Entry {
    session: Session,
    valid_until: Instant,
}

pub struct SessionCache {
    store: Arc<dyn SessionStore>,
    ttl: Duration,
    capacity: usize,
    entries: HashMap<String, Entry>,
    by_user: HashMap<UserId, HashSet<String>>,
    /// Bumped by every invalidation; a lookup started under an older generation is not cached.
    generation: u64,
    /// Revoked tokens, refused until the instant given.
    revoked: HashMap<String, Instant>,
    /// False while a peer is not answering (suspect or down): a revocation it sent may not reach
    /// us, so every lookup goes to the database until contact is back (then the cache starts empty).
    trusted: bool,
}

impl SessionCache {
    pub fn new(store: Arc<dyn SessionStore>, ttl: Duration, capacity: usize) -> Self {
        Self {
            store,
            ttl,
            capacity: capacity.max(1),
            entries: HashMap::new(),
            by_user: HashMap::new(),
            generation: 0,
            revoked: HashMap::new(),
            trusted: true,
        }
    }

    fn insert(&mut self, session: Session) {
        if self.ttl.is_zero() {
            return;
        }
        if self.entries.len() >= self.capacity {
            self.evict();
        }
        let now_ms = now_ms();
        let left_ms = if session.expires_at == 0 { u64::MAX } else { (session.expires_at - now_ms).max(0) as u64 };
        let valid_for = self.ttl.min(Duration::from_millis(left_ms));
        self.by_user.entry(session.user_id.clone()).or_default().insert(session.token.clone());
        self.entries.insert(session.token.clone(), Entry { session, valid_until: Instant::now() + valid_for });
    }

    fn remove(&mut self, token: &str) {
        if let Some(e) = self.entries.remove(token) {
            if let Some(set) = self.by_user.get_mut(&e.session.user_id) {
                set.remove(token);
                if set.is_empty() {
                    self.by_user.remove(&e.session.user_id);
                }
            }
        }
    }

    /// Drop expired entries; if that frees nothing, drop an arbitrary half.
    fn evict(&mut self) {
        let now = Instant::now();
        let expired: Vec<String> =
            self.entries.iter().filter(|(_, e)| e.valid_until <= now).map(|(t, _)| t.clone()).collect();
        let victims = if expired.is_empty() {
            self.entries.keys().take(self.entries.len() / 2 + 1).cloned().collect()
        } else {
            expired
        };
        for t in victims {
            self.remove(&t);
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Actor for SessionCache {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(LOCAL_MAILBOX);
    }
}

impl actix::Supervised for SessionCache {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        // A cache can always start empty (lookups go to the store); revocations stay refused.
        self.generation += 1;
        self.entries.clear();
        self.by_user.clear();
    }
}

crate::restartable!(SessionCache);

impl Handler<GetSession> for SessionCache {
    type Result = ResponseActFuture<Self, Result<Option<Session>, SessionCacheError>>;

    fn handle(&mut self, msg: GetSession, _ctx: &mut Self::Context) -> Self::Result {
        if let Some(until) = self.revoked.get(&msg.token) {
            if *until > Instant::now() {
                return Box::pin(fut::ready(Ok(None)));
            }
            self.revoked.remove(&msg.token);
        }
        if !self.trusted {
            let lookup = self.store.session_by_token(msg.token);
            return Box::pin(lookup.into_actor(self).map(|res, _, _| res.map_err(SessionCacheError::Store)));
        }
        match self.entries.get(&msg.token) {
            Some(e) if e.valid_until > Instant::now() => {
                let s = e.session.clone();
                return Box::pin(fut::ready(Ok(Some(s))));
            }
            Some(_) => self.remove(&msg.token),
            None => {}
        }
        let generation = self.generation;
        let lookup = self.store.session_by_token(msg.token);
        Box::pin(lookup.into_actor(self).map(move |res, act, _ctx| match res {
            Ok(Some(session)) => {
                if act.generation == generation {
                    act.insert(session.clone());
                }
                Ok(Some(session))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(SessionCacheError::Store(e)),
        }))
    }
}

impl Handler<InvalidateSession> for SessionCache {
    type Result = ();
    fn handle(&mut self, msg: InvalidateSession, _ctx: &mut Self::Context) {
        self.generation += 1;
        self.remove(&msg.token);
    }
}

impl Handler<RevokeSession> for SessionCache {
    type Result = ();
    fn handle(&mut self, msg: RevokeSession, _ctx: &mut Self::Context) {
        self.generation += 1;
        self.remove(&msg.token);
        let now = Instant::now();
        if self.revoked.len() >= REVOKED_MAX {
            self.revoked.retain(|_, until| *until > now);
            if self.revoked.len() >= REVOKED_MAX {
                // Only under a flood of revocations; by now their rows are long gone.
                self.revoked.clear();
            }
        }
        self.revoked.insert(msg.token, now + REVOKED_TTL);
    }
}

impl Handler<InvalidateUserSessions> for SessionCache {
    type Result = ();
    fn handle(&mut self, msg: InvalidateUserSessions, _ctx: &mut Self::Context) {
        self.generation += 1;
        if let Some(tokens) = self.by_user.remove(&msg.user_id) {
            for t in tokens {
                self.entries.remove(&t);
            }
        }
    }
}

impl Handler<ClearSessions> for SessionCache {
    type Result = ();
    fn handle(&mut self, _msg: ClearSessions, _ctx: &mut Self::Context) {
        self.generation += 1;
        self.entries.clear();
        self.by_user.clear();
    }
}

impl Handler<crate::cluster::ClusterViewChanged> for SessionCache {
    type Result = ();
    fn handle(&mut self, msg: crate::cluster::ClusterViewChanged, _ctx: &mut Self::Context) {
        // A peer merely suspect is enough to stop trusting: it is the first sign of a partition,
        // and it comes before the other side gives up on a revocation it sent us (see
        // `cluster::TRUST_MARGINS_HOLD`).
        if msg.all_answering && !self.trusted {
            // Back in contact: whatever was missed meanwhile is forgotten with the cache.
            self.generation += 1;
            self.entries.clear();
            self.by_user.clear();
        }
        self.trusted = msg.all_answering;
    }
}

/// Whether the cache is in use (false while out of contact with a peer).
#[derive(Debug, Message)]
#[rtype(result = "bool")]
pub struct GetCacheTrusted;

impl Handler<GetCacheTrusted> for SessionCache {
    type Result = bool;
    fn handle(&mut self, _msg: GetCacheTrusted, _ctx: &mut Self::Context) -> bool {
        self.trusted
    }
}

#[cfg(test)]
mod tests;
