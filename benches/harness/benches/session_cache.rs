//! The session cache: a token lookup answered from the cache, one that reads through the
//! (in-memory) store, and an invalidation followed by a lookup, each a round trip to the
//! `SessionCache` actor as a request handler makes it.
//!
//! Run: `cargo bench -p starling-bench --bench session_cache -- --warm-up-time 1 --measurement-time 3`

use actix::prelude::*;
use criterion::{criterion_group, criterion_main, Criterion};
use futures_util::future::BoxFuture;
use starling_actors::session_cache::{GetSession, InvalidateSession, Session, SessionCache, SessionStore};
use starling_protocol::{SessionId, UserId};
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SESSIONS: usize = 10_000;

struct MemStore {
    sessions: HashMap<String, Session>,
}

impl SessionStore for MemStore {
    fn session_by_token(&self, token: String) -> BoxFuture<'static, starling_actors::StoreResult<Option<Session>>> {
        let s = self.sessions.get(&token).cloned();
        Box::pin(async move { Ok(s) })
    }
}

fn token(i: usize) -> String {
    format!("benchtoken{i:016}")
}

fn store() -> Arc<dyn SessionStore> {
    let sessions = (0..SESSIONS)
        .map(|i| {
            let s = Session {
                id: SessionId::from(format!("benchsession{i:014}")),
                token: token(i),
                user_id: UserId::from(format!("benchuser{i:017}")),
                roles: "system_user".into(),
                create_at: 1,
                expires_at: 0,
                last_activity_at: 1,
                device_id: String::new(),
            };
            (s.token.clone(), s)
        })
        .collect();
    Arc::new(MemStore { sessions })
}

fn lookups(c: &mut Criterion) {
    let sys = System::new();
    let store = store();
    let (cached, uncached) = sys.block_on(async {
        let cached = SessionCache::new(store.clone(), Duration::from_secs(600), SESSIONS * 2).start();
        // A zero TTL keeps nothing: every lookup reads the store.
        let uncached = SessionCache::new(store.clone(), Duration::ZERO, SESSIONS).start();
        for i in 0..SESSIONS {
            cached.send(GetSession { token: token(i) }).await.expect("cache answers").expect("found");
        }
        (cached, uncached)
    });
    let mut group = c.benchmark_group("session_cache");
    group.bench_function("hit_10k_entries", |b| b.iter_custom(|n| measure(&sys, &cached, false, n)));
    group.bench_function("read_through_store", |b| b.iter_custom(|n| measure(&sys, &uncached, false, n)));
    group.bench_function("invalidate_then_lookup", |b| b.iter_custom(|n| measure(&sys, &cached, true, n)));
    group.finish();
}

/// `iters` lookups (after an invalidation of the same token when `invalidate`).
fn measure(sys: &SystemRunner, addr: &Addr<SessionCache>, invalidate: bool, iters: u64) -> Duration {
    sys.block_on(async {
        let t0 = Instant::now();
        for i in 0..iters as usize {
            let t = token(i % SESSIONS);
            if invalidate {
                addr.do_send(InvalidateSession { token: t.clone() });
            }
            black_box(addr.send(GetSession { token: t }).await.expect("cache answers").expect("found"));
        }
        t0.elapsed()
    })
}

criterion_group!(benches, lookups);
criterion_main!(benches);
