//! The config actor: it owns the node's running config, reloads it from its source, saves what a
//! system admin sends, and keeps the cluster's nodes on one config.
//!
//! A save or a reload that changes this node's config hash is announced to every peer (a reliable
//! cluster message, so a peer that is down hears it when it returns). A node that hears a hash
//! different from its own reloads from its source: with the config in the database every node then
//! runs the saved config and shows the same hash in cluster status. Nodes reading the database also
//! check the active row every [`POLL_INTERVAL`], in case an announcement never came (a node that
//! saved and died before telling anyone). Announcements stop by themselves: a node only announces
//! when its own hash changes.

use super::source;
use super::{Config, ConfigError, LoadedConfig};
use actix::prelude::*;
use serde_json::Value;
use starling_actors::cluster::{AnnounceConfig, Cluster, ConfigHash, RemoteConfigChanged, SubscribeConfig};
use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How often a node reading its config from the database checks the active row.
pub const POLL_INTERVAL: Duration = Duration::from_secs(15);

pub struct ConfigService {
    inner: Arc<Inner>,
}

struct Inner {
    /// What handlers and jobs read.
    shared: Arc<RwLock<Config>>,
    /// The loaded config, behind an async lock so reloads and saves take turns.
    current: tokio::sync::Mutex<LoadedConfig>,
    hash: Option<ConfigHash>,
    cluster: Option<Addr<Cluster>>,
    /// Whether this service asked the cluster for peers' config changes (once, across restarts).
    subscribed: std::sync::atomic::AtomicBool,
    /// The active row's SHA at the last poll.
    seen_sha: std::sync::Mutex<Option<String>>,
    /// Counts the running config's changes, for parts that follow it (the plugin host).
    changes: tokio::sync::watch::Sender<u64>,
    log: slog::Logger,
}

/// Why a save failed.
#[derive(Debug)]
pub enum UpdateError {
    /// The sent config is not valid (names the key).
    Invalid(ConfigError),
    /// The source could not be read or written.
    Storage(ConfigError),
    /// ClusterSettings.Enable and ClusterSettings.ReadOnlyConfig are both on.
    ReadOnly,
}

/// Re-read the source. Answers the config hash it runs now.
#[derive(Message)]
#[rtype(result = "Result<String, ConfigError>")]
pub struct Reload;

/// Save a config a system admin sent: a whole config (`PUT /config`) or, with `patch`, settings
/// merged into the current one (`PUT /config/patch`). Answers the config now running.
#[derive(Message)]
#[rtype(result = "Result<Config, UpdateError>")]
pub struct Update {
    pub body: Value,
    pub patch: bool,
    /// The node's own change (a plugin enabled or disabled), not an admin's edit: allowed even
    /// with ClusterSettings.ReadOnlyConfig, as in Mattermost.
    pub internal: bool,
}

/// Which settings the environment decides (`Section.Key`).
#[derive(Message)]
#[rtype(result = "BTreeSet<String>")]
pub struct GetEnvOverrides;

impl ConfigService {
    pub fn new(
        loaded: LoadedConfig,
        shared: Arc<RwLock<Config>>,
        hash: Option<ConfigHash>,
        cluster: Option<Addr<Cluster>>,
        changes: tokio::sync::watch::Sender<u64>,
        log: slog::Logger,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                shared,
                current: tokio::sync::Mutex::new(loaded),
                hash,
                cluster,
                subscribed: Default::default(),
                seen_sha: Default::default(),
                changes,
                log,
            }),
        }
    }
}

impl actix::Supervised for ConfigService {
    // Its state lives in `Inner`, behind an Arc: a restart keeps the running config.
}

impl actix::Handler<starling_actors::Restart> for ConfigService {
    type Result = ();
    fn handle(&mut self, _msg: starling_actors::Restart, ctx: &mut Self::Context) {
        starling_actors::supervisor::restart(ctx);
    }
}

impl Actor for ConfigService {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if let Some(c) = &self.inner.cluster {
            if !self.inner.subscribed.swap(true, std::sync::atomic::Ordering::SeqCst) {
                c.do_send(SubscribeConfig { subscriber: ctx.address().recipient() });
            }
        }
        let is_db = self.inner.current.try_lock().map(|c| c.source.is_database()).unwrap_or(false);
        if is_db {
            ctx.run_interval(POLL_INTERVAL, |act, ctx| {
                let inner = act.inner.clone();
                ctx.spawn(fut::wrap_future(async move { inner.poll().await }));
            });
        }
    }
}

impl Inner {
    /// Make `loaded` the running config; announce a new hash to the cluster.
    fn apply(&self, current: &mut LoadedConfig, loaded: LoadedConfig) -> String {
        let hash = loaded.config.hash();
        match self.shared.write() {
            Ok(mut c) => *c = loaded.config.clone(),
            Err(p) => *p.into_inner() = loaded.config.clone(),
        }
        *current = loaded;
        self.changes.send_modify(|n| *n += 1);
        if let Some(h) = &self.hash {
            if h.set(&hash) {
                slog::info!(self.log, "config changed"; "config_hash" => &hash, "config" => current.source.describe());
                if let Some(c) = &self.cluster {
                    c.do_send(AnnounceConfig { config_hash: hash.clone() });
                }
            }
        }
        hash
    }

    async fn reload(&self) -> Result<String, ConfigError> {
        let mut current = self.current.lock().await;
        let loaded = source::load(&current.source, std::env::vars()).await?;
        Ok(self.apply(&mut current, loaded))
    }

    async fn update(&self, body: Value, patch: bool, internal: bool) -> Result<Config, UpdateError> {
        let mut current = self.current.lock().await;
        // A shared config may have been saved by another node a moment ago and not reached this
        // one yet: start from what the database holds, so a patch does not undo that save.
        if current.source.is_database() {
            let fresh = source::load(&current.source, std::env::vars()).await.map_err(UpdateError::Storage)?;
            if fresh.stored != current.stored {
                self.apply(&mut current, fresh);
            }
        }
        let cs = &current.config.cluster_settings;
        if cs.enable && cs.read_only_config && !internal {
            return Err(UpdateError::ReadOnly);
        }
        let body = if patch {
            if !body.is_object() {
                return Err(UpdateError::Invalid(super::invalid("config", "the patch must be a JSON object")));
            }
            let mut full = serde_json::to_value(&current.config).unwrap_or(Value::Null);
            super::merge_patch(&mut full, body);
            full
        } else {
            body
        };
        let (config, env_overrides, stored) =
            super::prepare_update(body, &current, std::env::vars()).map_err(UpdateError::Invalid)?;
        current.source.write(&stored).await.map_err(UpdateError::Storage)?;
        let source = current.source.clone();
        self.apply(&mut current, LoadedConfig { config: config.clone(), env_overrides, stored, source });
        Ok(config)
    }

    /// A database source: reload when the active row changed since the last look.
    async fn poll(&self) {
        let source = self.current.lock().await.source.clone();
        match source.active_sha().await {
            Ok(Some(sha)) => {
                let seen = self.seen_sha.lock().map(|s| s.clone()).unwrap_or_default();
                if seen.as_deref() == Some(sha.as_str()) {
                    return;
                }
                match self.reload_if_stored_changed().await {
                    Ok(()) => {
                        if let Ok(mut s) = self.seen_sha.lock() {
                            *s = Some(sha);
                        }
                    }
                    // An invalid row never takes the node down: it keeps the last good config.
                    Err(e) => slog::error!(self.log, "stored config not applied, keeping the running one";
                        "config_sha" => &sha, "error" => %e),
                }
            }
            Ok(None) => {}
            Err(e) => slog::warn!(self.log, "config check failed"; "error" => %e),
        }
    }

    async fn reload_if_stored_changed(&self) -> Result<(), ConfigError> {
        let mut current = self.current.lock().await;
        let loaded = source::load(&current.source, std::env::vars()).await?;
        if loaded.stored != current.stored {
            self.apply(&mut current, loaded);
        }
        Ok(())
    }
}

impl Handler<Reload> for ConfigService {
    type Result = ResponseFuture<Result<String, ConfigError>>;
    fn handle(&mut self, _msg: Reload, _ctx: &mut Self::Context) -> Self::Result {
        let inner = self.inner.clone();
        Box::pin(async move { inner.reload().await })
    }
}

impl Handler<Update> for ConfigService {
    type Result = ResponseFuture<Result<Config, UpdateError>>;
    fn handle(&mut self, msg: Update, _ctx: &mut Self::Context) -> Self::Result {
        let inner = self.inner.clone();
        Box::pin(async move { inner.update(msg.body, msg.patch, msg.internal).await })
    }
}

impl Handler<GetEnvOverrides> for ConfigService {
    type Result = ResponseFuture<BTreeSet<String>>;
    fn handle(&mut self, _msg: GetEnvOverrides, _ctx: &mut Self::Context) -> Self::Result {
        let inner = self.inner.clone();
        Box::pin(async move { inner.current.lock().await.env_overrides.clone() })
    }
}

impl Handler<RemoteConfigChanged> for ConfigService {
    type Result = ();
    fn handle(&mut self, msg: RemoteConfigChanged, ctx: &mut Self::Context) {
        let mine = self.inner.hash.as_ref().map(|h| h.get());
        if mine.as_deref() == Some(msg.config_hash.as_str()) {
            return;
        }
        let inner = self.inner.clone();
        ctx.spawn(fut::wrap_future(async move {
            match inner.reload().await {
                Ok(hash) if hash == msg.config_hash => {
                    slog::info!(inner.log, "config reloaded after a peer's change"; "peer_id" => msg.node_id.as_str(), "config_hash" => &hash)
                }
                Ok(hash) => slog::warn!(inner.log, "config differs from a peer's after reload";
                    "peer_id" => msg.node_id.as_str(), "peer_config_hash" => &msg.config_hash, "config_hash" => &hash),
                Err(e) => slog::error!(inner.log, "config reload after a peer's change failed, keeping the running one"; "error" => %e),
            }
        }));
    }
}
