use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// A store held in memory, counting lookups, standing in for PostgreSQL in these unit tests of
/// the cache's own logic (the node's integration tests use the real database).
#[derive(Default)]
struct MemStore {
    sessions: Mutex<HashMap<String, Session>>,
    lookups: AtomicUsize,
}

impl SessionStore for MemStore {
    fn session_by_token(&self, token: String) -> BoxFuture<'static, crate::error::StoreResult<Option<Session>>> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let s = self.sessions.lock().unwrap().get(&token).cloned();
        Box::pin(async move { Ok(s) })
    }
}

fn session(token: &str, user: &str) -> Session {
    Session {
        id: SessionId::new(),
        token: token.into(),
        user_id: UserId::from(user),
        roles: "system_user".into(),
        create_at: 0,
        expires_at: now_ms() + 60_000,
        last_activity_at: 0,
        device_id: String::new(),
    }
}

fn setup() -> (Arc<MemStore>, Addr<SessionCache>) {
    let store = Arc::new(MemStore::default());
    store.sessions.lock().unwrap().insert("t1".into(), session("t1", "u1"));
    store.sessions.lock().unwrap().insert("t2".into(), session("t2", "u1"));
    store.sessions.lock().unwrap().insert("t3".into(), session("t3", "u2"));
    let addr = SessionCache::new(store.clone(), Duration::from_secs(600), 1000).start();
    (store, addr)
}

#[actix::test]
async fn second_lookup_is_served_from_cache() {
    let (store, addr) = setup();
    let a = addr.send(GetSession { token: "t1".into() }).await.unwrap().unwrap().unwrap();
    let b = addr.send(GetSession { token: "t1".into() }).await.unwrap().unwrap().unwrap();
    assert_eq!(a, b);
    assert_eq!(store.lookups.load(Ordering::SeqCst), 1);
    assert!(addr.send(GetSession { token: "nope".into() }).await.unwrap().unwrap().is_none());
}

#[actix::test]
async fn invalidated_session_is_read_again() {
    let (store, addr) = setup();
    addr.send(GetSession { token: "t1".into() }).await.unwrap().unwrap();
    store.sessions.lock().unwrap().remove("t1");
    addr.send(InvalidateSession { token: "t1".into() }).await.unwrap();
    assert!(addr.send(GetSession { token: "t1".into() }).await.unwrap().unwrap().is_none());
}

#[actix::test]
async fn a_revoked_token_is_refused_even_while_its_row_still_exists() {
    let (store, addr) = setup();
    addr.send(GetSession { token: "t1".into() }).await.unwrap().unwrap();
    // The row is still in the store (its delete runs concurrently with the announcement).
    addr.send(RevokeSession { token: "t1".into() }).await.unwrap();
    assert!(addr.send(GetSession { token: "t1".into() }).await.unwrap().unwrap().is_none());
    assert_eq!(store.lookups.load(Ordering::SeqCst), 1, "refused without asking the store");
    assert!(addr.send(GetSession { token: "t2".into() }).await.unwrap().unwrap().is_some(), "others unaffected");
}

#[actix::test]
async fn user_invalidation_drops_only_that_users_sessions() {
    let (store, addr) = setup();
    for t in ["t1", "t2", "t3"] {
        addr.send(GetSession { token: t.into() }).await.unwrap().unwrap();
    }
    assert_eq!(store.lookups.load(Ordering::SeqCst), 3);
    addr.send(InvalidateUserSessions { user_id: UserId::from("u1") }).await.unwrap();
    for t in ["t1", "t2", "t3"] {
        addr.send(GetSession { token: t.into() }).await.unwrap().unwrap();
    }
    assert_eq!(store.lookups.load(Ordering::SeqCst), 5, "t1 and t2 re-read, t3 cached");
}

#[actix::test]
async fn zero_ttl_disables_caching_and_capacity_bounds_entries() {
    let store = Arc::new(MemStore::default());
    for i in 0..50 {
        store.sessions.lock().unwrap().insert(format!("t{i}"), session(&format!("t{i}"), "u"));
    }
    let addr = SessionCache::new(store.clone(), Duration::ZERO, 10).start();
    addr.send(GetSession { token: "t1".into() }).await.unwrap().unwrap();
    addr.send(GetSession { token: "t1".into() }).await.unwrap().unwrap();
    assert_eq!(store.lookups.load(Ordering::SeqCst), 2);

    let mut cache = SessionCache::new(store.clone(), Duration::from_secs(60), 10);
    for i in 0..50 {
        cache.insert(session(&format!("t{i}"), "u"));
        assert!(cache.len() <= 10);
    }
}

#[actix::test]
async fn a_suspect_peer_is_enough_to_read_sessions_from_the_store() {
    use crate::cluster::ClusterViewChanged;
    let (store, addr) = setup();
    addr.send(GetSession { token: "t1".into() }).await.unwrap().unwrap();
    // A peer went quiet (suspect, not yet down): the row deleted by a revocation it may have sent
    // is what counts, not the cached copy.
    addr.send(ClusterViewChanged { up: vec!["p".into()], all_up: true, all_answering: false }).await.unwrap();
    assert!(!addr.send(GetCacheTrusted).await.unwrap());
    store.sessions.lock().unwrap().remove("t1");
    assert!(addr.send(GetSession { token: "t1".into() }).await.unwrap().unwrap().is_none());
    // Every peer answering again: trusted, starting empty.
    store.sessions.lock().unwrap().insert("t1".into(), session("t1", "u1"));
    addr.send(ClusterViewChanged { up: vec!["p".into()], all_up: true, all_answering: true }).await.unwrap();
    assert!(addr.send(GetCacheTrusted).await.unwrap());
    let before = store.lookups.load(Ordering::SeqCst);
    addr.send(GetSession { token: "t1".into() }).await.unwrap().unwrap();
    addr.send(GetSession { token: "t1".into() }).await.unwrap().unwrap();
    assert_eq!(store.lookups.load(Ordering::SeqCst), before + 1, "cached again once trusted");
}
