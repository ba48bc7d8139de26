//! `PluginHost`: the node's plugins. It installs bundles (from an upload, a peer's announcement
//! or the startup sync), runs the enabled ones as [`PluginProcess`]es and supervises them:
//! - a process that exits on its own is restarted after [`RESTART_DELAY`]; its status says
//!   `NotRunning` with the reason meanwhile; after [`MAX_CRASHES`] exits within [`CRASH_WINDOW`]
//!   it stays stopped, `FailedToStayRunning`, until it is disabled and enabled again (or the node
//!   restarts);
//! - with `PluginSettings.EnableHealthCheck`, each running plugin is pinged every
//!   [`HEALTH_INTERVAL`]; after [`HEALTH_TRIES`] unanswered pings in a row its process is killed,
//!   which counts as a crash;
//! - a config change starts the plugins now enabled and stops the ones now disabled.
//!
//! Work that changes what is installed runs one piece at a time (`ctx.wait`), so an install, a
//! removal and a config change never interleave. What the API reads (statuses, manifests, the
//! running processes) is kept in [`Shared`], so reading never waits behind an install.

use super::bundle::{self, Manifest};
use super::process::{Call, Launch, PluginProcess, ProcessExited, Shutdown, ACTIVATE_TIMEOUT};
use super::{state, PluginStatus, Shared, CLUSTER_NAME, STORE_FOLDER};
use crate::api::AppState;
use crate::commands::CommandSpec;
use actix::prelude::*;
use actix_web::web;
use serde_json::{json, Value};
use starling_actors::cluster::{Answerers, ExtensionQuestion};
use starling_actors::{BusEvent, Filter, Origin, Publish, Published, Subscribe};
use starling_protocol::ExtensionMessage;
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a crashed plugin waits before it is started again.
pub const RESTART_DELAY: Duration = Duration::from_secs(15);
/// Crashes within [`CRASH_WINDOW`] after which a plugin is left stopped.
pub const MAX_CRASHES: usize = 3;
pub const CRASH_WINDOW: Duration = Duration::from_secs(60 * 60);
/// How often running plugins are pinged (with `EnableHealthCheck`).
pub const HEALTH_INTERVAL: Duration = Duration::from_secs(30);
/// Unanswered pings in a row after which a plugin is restarted.
pub const HEALTH_TRIES: u32 = 3;
const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);
/// How often expired key-value entries are purged.
const KV_PURGE_INTERVAL: Duration = Duration::from_secs(600);
/// The file marking a plugin directory as managed: synced from the file store, and removed by a
/// sync (Mattermost's `.filestore`).
const MANAGED_MARKER: &str = ".filestore";
/// Admins told about status changes at most (the rest see them on their next status request).
const MAX_ADMINS_TOLD: i64 = 200;

/// Why a plugin operation failed, as the API answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginError {
    /// 400, with Mattermost's error id and a message for the admin.
    BadRequest(&'static str, String),
    /// 404.
    NotFound,
    /// 500 (the detail is logged, not shown).
    Internal(String),
}

struct Installed {
    manifest: Manifest,
    /// The plugin's root (where its manifest is).
    root: PathBuf,
    /// The directory made for it (`Directory/<id>`).
    dir: PathBuf,
    process: Option<Addr<PluginProcess>>,
    /// The start the running process belongs to.
    generation: u64,
    /// This host stopped it on purpose: its exit is not a crash.
    stopping: bool,
    crashes: VecDeque<Instant>,
    /// Left stopped after too many crashes.
    failed_for_good: bool,
    restart: Option<SpawnHandle>,
    missed_pings: u32,
    /// `PluginSettings.Plugins[id]` as the running process last heard it.
    configuration: Value,
}

pub struct PluginHost {
    state: web::Data<AppState>,
    shared: Shared,
    api: Arc<dyn super::process::HostApi>,
    installed: BTreeMap<String, Installed>,
    generation: u64,
    node_id: String,
    /// A statuses-changed notice is scheduled.
    notice_pending: bool,
    log: slog::Logger,
}

/// Install an uploaded bundle on every node. Answers its manifest.
#[derive(Message)]
#[rtype(result = "Result<Manifest, PluginError>")]
pub struct Upload {
    pub bundle: Vec<u8>,
    /// Replace a plugin with the same id.
    pub force: bool,
}

/// Remove a plugin from every node (the API disables it first).
#[derive(Message)]
#[rtype(result = "Result<(), PluginError>")]
pub struct Remove {
    pub id: String,
}

/// Start what is enabled, stop what is not (after a config change).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ApplyStates;

/// Stop every plugin (the node is stopping).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopAll;

#[derive(Message)]
#[rtype(result = "()")]
struct RestartCrashed {
    id: String,
    generation: u64,
}

#[derive(Message)]
#[rtype(result = "()")]
struct Synced;

/// What nodes tell each other (the payload of a `plugins` extension message).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum ClusterOp {
    Install { id: String },
    Remove { id: String },
}

/// Start the host: it syncs from the file store, then follows the config.
pub struct Start<'a> {
    pub state: web::Data<AppState>,
    pub ctx: Context<PluginHost>,
    pub shared: Shared,
    pub answerers: &'a Answerers,
    pub supervisor: &'a starling_actors::Supervisor,
    pub config_changes: tokio::sync::watch::Receiver<u64>,
}

pub fn start(s: Start<'_>) -> Addr<PluginHost> {
    let log = s.state.log.new(slog::o!("component" => "plugins"));
    let api: Arc<dyn super::process::HostApi> = Arc::new(super::api::NodeApi { state: s.state.clone() });
    let host = PluginHost {
        node_id: s.state.node_id.clone(),
        state: s.state,
        shared: s.shared,
        api,
        installed: BTreeMap::new(),
        generation: 0,
        notice_pending: false,
        log,
    };
    let addr = s.ctx.address();
    s.answerers.register(CLUSTER_NAME, addr.clone().recipient());
    let mut changes = s.config_changes;
    let a = addr.clone();
    actix::spawn(async move {
        while changes.changed().await.is_ok() {
            a.do_send(ApplyStates);
        }
    });
    s.supervisor.run("plugin_host", s.ctx, host)
}

fn status_of(node_id: &str, m: &Manifest, root: &Path, state: i32, error: &str) -> PluginStatus {
    PluginStatus {
        plugin_id: m.id.clone(),
        cluster_id: node_id.to_owned(),
        plugin_path: root.to_string_lossy().into_owned(),
        state,
        error: error.to_owned(),
        name: m.name.clone(),
        description: m.description.clone(),
        version: m.version.clone(),
    }
}

/// The plugins directory, absolute (so plugin paths are the same whatever the working directory).
fn plugins_dir(state: &AppState) -> PathBuf {
    let d = state.config.read().map(|c| c.plugin_settings.directory.clone()).unwrap_or_default();
    let d = PathBuf::from(if d.is_empty() { "./plugins".to_owned() } else { d });
    std::path::absolute(&d).unwrap_or(d)
}

fn bundle_path(id: &str) -> String {
    format!("{STORE_FOLDER}/{id}.tar.gz")
}

/// Unpack `bytes` into a fresh directory under `dir`, off the actor's thread.
async fn unpack(dir: PathBuf, bytes: Arc<Vec<u8>>) -> Result<(Manifest, PathBuf, PathBuf), PluginError> {
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir).map_err(|e| PluginError::Internal(format!("plugins directory: {e}")))?;
        let incoming = dir.join(format!(".incoming-{}", starling_protocol::new_id()));
        match bundle::unpack(&bytes, &incoming) {
            Ok((m, root)) => Ok((m, root, incoming)),
            Err(e) => Err(PluginError::BadRequest("app.plugin.extract.app_error", e.0)),
        }
    })
    .await
    .unwrap_or_else(|e| Err(PluginError::Internal(format!("unpack: {e}"))))
}

/// Move an unpacked bundle into `Directory/<id>` (replacing what was there), marked managed. A
/// bundle in one top-level directory is moved up: `Directory/<id>/plugin.json`, as in Mattermost.
async fn place(dir: PathBuf, id: String, incoming: PathBuf, root: PathBuf) -> Result<(PathBuf, PathBuf), PluginError> {
    tokio::task::spawn_blocking(move || {
        let target = dir.join(&id);
        if target.exists() {
            std::fs::remove_dir_all(&target).map_err(|e| PluginError::Internal(format!("remove old copy: {e}")))?;
        }
        let moved = std::fs::rename(&root, &target);
        if root != incoming {
            let _ = std::fs::remove_dir_all(&incoming);
        }
        moved.map_err(|e| PluginError::Internal(format!("place plugin: {e}")))?;
        let _ = std::fs::write(target.join(MANAGED_MARKER), b"");
        Ok((target.clone(), target))
    })
    .await
    .unwrap_or_else(|e| Err(PluginError::Internal(format!("place: {e}"))))
}

impl PluginHost {
    fn enabled(&self, id: &str) -> bool {
        self.state.config.read().map(|c| c.plugin_settings.is_enabled(id)).unwrap_or(false)
    }

    /// `PluginSettings.Plugins[id]`, the plugin's own settings.
    fn settings_of(&self, id: &str) -> Value {
        self.state
            .config
            .read()
            .ok()
            .and_then(|c| c.plugin_settings.plugins.get(id).cloned())
            .unwrap_or_else(|| json!({}))
    }

    fn health_checks(&self) -> bool {
        self.state.config.read().map(|c| c.plugin_settings.enable_health_check).unwrap_or(false)
    }

    fn set_status(&mut self, id: &str, st: i32, error: &str, ctx: &mut Context<Self>) {
        let Some(p) = self.installed.get(id) else { return };
        let status = status_of(&self.node_id, &p.manifest, &p.root, st, error);
        let changed = {
            let mut all = self.shared.statuses.write().unwrap_or_else(|e| e.into_inner());
            let changed = all.get(id) != Some(&status);
            all.insert(id.to_owned(), status);
            changed
        };
        if changed {
            slog::info!(self.log, "plugin status"; "plugin_id" => id, "state" => st, "error" => error);
            self.statuses_changed(ctx);
        }
    }

    fn forget(&mut self, id: &str, ctx: &mut Context<Self>) {
        self.installed.remove(id);
        self.shared.statuses.write().unwrap_or_else(|e| e.into_inner()).remove(id);
        self.shared.manifests.write().unwrap_or_else(|e| e.into_inner()).remove(id);
        self.shared.running.write().unwrap_or_else(|e| e.into_inner()).remove(id);
        self.statuses_changed(ctx);
    }

    /// Tell the system admins the cluster's statuses, at most every half second.
    fn statuses_changed(&mut self, ctx: &mut Context<Self>) {
        if self.notice_pending {
            return;
        }
        self.notice_pending = true;
        ctx.run_later(Duration::from_millis(500), |act, ctx| {
            act.notice_pending = false;
            let state = act.state.clone();
            ctx.spawn(fut::wrap_future(async move {
                let statuses = cluster_statuses(&state).await;
                if let Ok(admins) = state.store.system_admin_ids(MAX_ADMINS_TOLD).await {
                    state.events.plugin_statuses_changed(&admins, &json!(statuses));
                }
            }));
        });
    }

    /// Start `id`'s process and activate it; registers its hooks and commands when it answers.
    fn activate(&mut self, id: &str, ctx: &mut Context<Self>) {
        let settings = self.settings_of(id);
        let Some(p) = self.installed.get_mut(id) else { return };
        if p.process.is_some() || p.failed_for_good {
            return;
        }
        if let Some(h) = p.restart.take() {
            ctx.cancel_future(h);
        }
        let exe = match p.manifest.executable() {
            Ok(Some(exe)) => exe,
            Ok(None) => {
                // A webapp-only plugin has nothing to run on the server.
                self.set_status(id, state::RUNNING, "", ctx);
                return;
            }
            Err(e) => {
                self.set_status(id, state::FAILED_TO_START, &e.0, ctx);
                return;
            }
        };
        self.generation += 1;
        let generation = self.generation;
        let launched = PluginProcess::launch(Launch {
            plugin_id: id.to_owned(),
            generation,
            root: p.root.clone(),
            executable: exe,
            api: self.api.clone(),
            exited: ctx.address().recipient(),
            log: self.log.clone(),
        });
        let process = match launched {
            Ok(a) => a,
            Err(e) => {
                self.set_status(id, state::FAILED_TO_START, &e, ctx);
                return;
            }
        };
        p.process = Some(process.clone());
        p.generation = generation;
        p.stopping = false;
        p.missed_pings = 0;
        p.configuration = settings.clone();
        let params = json!({
            "plugin_id": id,
            "node_id": self.node_id,
            "server_version": crate::api::version_id(),
            "configuration": settings,
        });
        let call = process.send(Call { method: "activate".into(), params, timeout: ACTIVATE_TIMEOUT });
        let id = id.to_owned();
        ctx.wait(fut::wrap_future(call).map(move |answer, act: &mut Self, ctx| {
            let answer = match answer {
                Ok(a) => a.map_err(|e| e.message),
                Err(_) => Err("the plugin stopped while it was activated".to_owned()),
            };
            let Some(p) = act.installed.get_mut(&id) else { return };
            if p.generation != generation || p.process.is_none() {
                return; // stopped (or replaced) meanwhile
            }
            match answer {
                Ok(registration) => act.activated(&id, process, registration, ctx),
                Err(why) => {
                    p.stopping = true;
                    p.process = None;
                    process.do_send(Shutdown);
                    slog::warn!(act.log, "plugin failed to activate"; "plugin_id" => &id, "error" => &why);
                    act.set_status(&id, state::FAILED_TO_START, &why, ctx);
                }
            }
        }));
    }

    /// The plugin answered `activate`: `{"hooks": [...], "commands": [...]}`.
    fn activated(&mut self, id: &str, process: Addr<PluginProcess>, registration: Value, ctx: &mut Context<Self>) {
        let hooks: Vec<String> = registration
            .get("hooks")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|h| h.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        let has = |h: &str| hooks.iter().any(|x| x == h);
        self.state.hooks.register(
            id,
            has("message_will_be_posted").then(|| process.clone().recipient()),
            has("message_will_be_updated").then(|| process.clone().recipient()),
        );
        if has("message_has_been_posted") {
            self.state.events.bus().do_send(Subscribe {
                subscriber: process.clone().recipient::<Published>(),
                filter: crate::extensions::local_posts(),
            });
        }
        let commands: Vec<CommandSpec> =
            registration.get("commands").and_then(|c| serde_json::from_value(c.clone()).ok()).unwrap_or_default();
        self.state.commands.unregister_owner(id);
        let mut refused = Vec::new();
        for spec in commands {
            let trigger = spec.trigger.clone();
            if !self.state.commands.register(id, spec, process.clone().recipient()) {
                refused.push(trigger);
            }
        }
        if !refused.is_empty() {
            slog::warn!(self.log, "plugin commands not registered: taken or invalid"; "plugin_id" => id, "triggers" => refused.join(","));
        }
        self.shared.running.write().unwrap_or_else(|e| e.into_inner()).insert(id.to_owned(), process);
        self.set_status(id, state::RUNNING, "", ctx);
    }

    /// Stop `id` on purpose (disabled, replaced, removed, node stopping).
    fn deactivate(&mut self, id: &str, ctx: &mut Context<Self>) {
        self.state.hooks.unregister(id);
        self.state.commands.unregister_owner(id);
        self.shared.running.write().unwrap_or_else(|e| e.into_inner()).remove(id);
        let Some(p) = self.installed.get_mut(id) else { return };
        if let Some(h) = p.restart.take() {
            ctx.cancel_future(h);
        }
        if let Some(process) = p.process.take() {
            p.stopping = true;
            // Wait (bounded by the deactivate timeout) so a replacement starts after the old one.
            ctx.wait(fut::wrap_future(process.send(Shutdown)).map(|_, _, _| ()));
        }
        self.set_status(id, state::NOT_RUNNING, "", ctx);
    }

    fn apply_states(&mut self, ctx: &mut Context<Self>) {
        let ids: Vec<String> = self.installed.keys().cloned().collect();
        for id in ids {
            let enabled = self.enabled(&id);
            let Some(p) = self.installed.get_mut(&id) else { continue };
            if enabled {
                if p.process.is_none() && p.restart.is_none() && !p.failed_for_good {
                    self.activate(&id, ctx);
                } else if let Some(process) = p.process.clone() {
                    let settings = self.settings_of(&id);
                    let Some(p) = self.installed.get_mut(&id) else { continue };
                    if p.configuration != settings {
                        p.configuration = settings.clone();
                        process.do_send(super::process::Notify {
                            method: "configuration_change".into(),
                            params: json!({ "configuration": settings }),
                        });
                    }
                }
            } else {
                p.failed_for_good = false;
                p.crashes.clear();
                let running = p.process.is_some() || p.restart.is_some();
                let st = self.shared.statuses.read().ok().and_then(|s| s.get(&id).map(|s| s.state));
                if running || st != Some(state::NOT_RUNNING) {
                    self.deactivate(&id, ctx);
                }
            }
        }
    }

    /// Install an unpacked bundle here: replace any copy, then start it if it is enabled.
    fn install_local(&mut self, manifest: Manifest, root: PathBuf, dir: PathBuf, ctx: &mut Context<Self>) {
        let id = manifest.id.clone();
        let crashes = self.installed.get(&id).map(|p| p.crashes.clone()).unwrap_or_default();
        self.installed.insert(
            id.clone(),
            Installed {
                manifest: manifest.clone(),
                root: root.clone(),
                dir,
                process: None,
                generation: 0,
                stopping: false,
                crashes,
                failed_for_good: false,
                restart: None,
                missed_pings: 0,
                configuration: Value::Null,
            },
        );
        self.shared.manifests.write().unwrap_or_else(|e| e.into_inner()).insert(id.clone(), manifest);
        self.set_status(&id, state::NOT_RUNNING, "", ctx);
        if self.enabled(&id) {
            self.activate(&id, ctx);
        }
        slog::info!(self.log, "plugin installed"; "plugin_id" => &id, "path" => root.to_string_lossy().into_owned());
    }

    /// Remove `id` here: stop it and delete its directory.
    fn remove_local(&mut self, id: &str, ctx: &mut Context<Self>) {
        if !self.installed.contains_key(id) {
            return;
        }
        self.deactivate(id, ctx);
        if let Some(p) = self.installed.get(id) {
            let dir = p.dir.clone();
            let log = self.log.clone();
            ctx.wait(fut::wrap_future(async move {
                let gone = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(&dir)).await;
                if let Ok(Err(e)) = gone {
                    slog::warn!(log, "plugin directory could not be removed"; "error" => %e);
                }
            }));
        }
        self.forget(id, ctx);
        slog::info!(self.log, "plugin removed"; "plugin_id" => id);
    }

    /// Read `id`'s bundle from the file store and install it (a peer announced it, or a sync).
    fn install_from_store(&mut self, id: String, ctx: &mut Context<Self>) {
        let (files, dir, log) = (self.state.files.clone(), plugins_dir(&self.state), self.log.clone());
        let work = async move {
            let bytes =
                crate::filestore::read_all(files.as_ref(), &bundle_path(&id), bundle::MAX_BUNDLE_BYTES as u64).await;
            let bytes = bytes.map_err(|e| PluginError::Internal(format!("read bundle {id}: {e}")))?;
            let (m, root, incoming) = unpack(dir.clone(), Arc::new(bytes)).await?;
            if m.id != id {
                let _ = std::fs::remove_dir_all(&incoming);
                return Err(PluginError::Internal(format!("the bundle stored for {id} is plugin {}", m.id)));
            }
            let (root, target) = place(dir, m.id.clone(), incoming, root).await?;
            Ok((m, root, target))
        };
        ctx.wait(fut::wrap_future(work).map(move |r, act: &mut Self, ctx| match r {
            Ok((m, root, target)) => {
                if act.installed.contains_key(&m.id) {
                    act.deactivate(&m.id, ctx);
                }
                act.install_local(m, root, target, ctx)
            }
            Err(e) => slog::warn!(log, "plugin could not be installed from the file store"; "error" => ?e),
        }));
    }

    fn announce(&self, op: ClusterOp) {
        let payload = serde_json::to_vec(&op).unwrap_or_default();
        let msg = ExtensionMessage { extension: CLUSTER_NAME.into(), version: 1, payload };
        self.state.events.bus().do_send(Publish::local(BusEvent::Extension(msg)));
    }

    /// Startup: drop the managed copies, then install every bundle in the file store.
    fn sync(&mut self, ctx: &mut Context<Self>) {
        let (files, dir, log) = (self.state.files.clone(), plugins_dir(&self.state), self.log.clone());
        let listing = async move {
            let d = dir.clone();
            let _ = tokio::task::spawn_blocking(move || {
                let Ok(entries) = std::fs::read_dir(&d) else { return };
                for e in entries.flatten() {
                    let p = e.path();
                    let name = e.file_name().to_string_lossy().into_owned();
                    if name.starts_with(".incoming-") || p.join(MANAGED_MARKER).exists() {
                        let _ = std::fs::remove_dir_all(&p);
                    }
                }
            })
            .await;
            match files.list(STORE_FOLDER).await {
                Ok(names) => names
                    .into_iter()
                    .filter_map(|n| n.strip_suffix(".tar.gz").map(str::to_owned))
                    .filter(|id| crate::extensions::valid_id(id))
                    .collect(),
                Err(e) => {
                    slog::warn!(log, "plugins could not be listed in the file store"; "error" => %e);
                    Vec::new()
                }
            }
        };
        ctx.wait(fut::wrap_future(listing).map(|ids: Vec<String>, act: &mut Self, ctx| {
            slog::info!(act.log, "plugins in the file store"; "count" => ids.len());
            for id in ids {
                act.install_from_store(id, ctx);
            }
            ctx.notify(Synced);
        }));
    }

    fn health_check(&mut self, ctx: &mut Context<Self>) {
        if !self.health_checks() {
            return;
        }
        for (id, p) in &self.installed {
            let Some(process) = p.process.clone() else { continue };
            let (id, generation) = (id.clone(), p.generation);
            let ping = process.send(Call { method: "health".into(), params: json!({}), timeout: HEALTH_TIMEOUT });
            ctx.spawn(fut::wrap_future(ping).map(move |answer, act: &mut Self, _ctx| {
                let Some(p) = act.installed.get_mut(&id) else { return };
                if p.generation != generation {
                    return;
                }
                if matches!(answer, Ok(Ok(_))) {
                    p.missed_pings = 0;
                    return;
                }
                p.missed_pings += 1;
                slog::warn!(act.log, "plugin did not answer its health check"; "plugin_id" => &id, "missed" => p.missed_pings);
                if p.missed_pings >= HEALTH_TRIES {
                    // Killed, not stopped: its exit counts as a crash.
                    if let Some(process) = &p.process {
                        process.do_send(Shutdown);
                    }
                }
            }));
        }
    }
}

impl Actor for PluginHost {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        self.state.events.bus().do_send(Subscribe {
            subscriber: ctx.address().recipient(),
            filter: Filter::new(|e, o| {
                *o != Origin::Local && matches!(e, BusEvent::Extension(x) if x.extension == CLUSTER_NAME)
            }),
        });
        if self.installed.is_empty() {
            self.sync(ctx);
        }
        ctx.run_interval(HEALTH_INTERVAL, |act, ctx| act.health_check(ctx));
        ctx.run_interval(KV_PURGE_INTERVAL, |act, ctx| {
            let store = act.state.store.clone();
            ctx.spawn(fut::wrap_future(async move {
                let _ = store.plugin_kv_purge_expired().await;
            }));
        });
    }
}

impl actix::Supervised for PluginHost {}
starling_actors::restartable!(PluginHost);

impl Handler<Synced> for PluginHost {
    type Result = ();
    fn handle(&mut self, _: Synced, ctx: &mut Self::Context) {
        slog::info!(self.log, "plugins synced"; "installed" => self.installed.len());
        self.apply_states(ctx);
    }
}

impl Handler<Upload> for PluginHost {
    type Result = ResponseActFuture<Self, Result<Manifest, PluginError>>;
    fn handle(&mut self, msg: Upload, _ctx: &mut Self::Context) -> Self::Result {
        let (files, dir) = (self.state.files.clone(), plugins_dir(&self.state));
        let bytes = Arc::new(msg.bundle);
        let installed: Vec<String> = self.installed.keys().cloned().collect();
        let force = msg.force;
        let work = async move {
            let (m, root, incoming) = unpack(dir.clone(), bytes.clone()).await?;
            if installed.contains(&m.id) && !force {
                let _ = std::fs::remove_dir_all(&incoming);
                return Err(PluginError::BadRequest(
                    "app.plugin.install_id.app_error",
                    "Unable to install plugin. A plugin with the same ID is already installed.".into(),
                ));
            }
            // The shared copy first: a node that cannot store it installs nothing.
            let stored = crate::filestore::write_all(files.as_ref(), &bundle_path(&m.id), bytes.to_vec()).await;
            if let Err(e) = stored {
                let _ = std::fs::remove_dir_all(&incoming);
                return Err(PluginError::Internal(format!("store bundle: {e}")));
            }
            let (root, target) = place(dir, m.id.clone(), incoming, root).await?;
            Ok((m, root, target))
        };
        Box::pin(fut::wrap_future(work).map(|r, act: &mut Self, ctx| {
            let (m, root, target) = r?;
            if act.installed.contains_key(&m.id) {
                act.deactivate(&m.id, ctx);
            }
            act.install_local(m.clone(), root, target, ctx);
            act.announce(ClusterOp::Install { id: m.id.clone() });
            Ok(m)
        }))
    }
}

impl Handler<Remove> for PluginHost {
    type Result = ResponseActFuture<Self, Result<(), PluginError>>;
    fn handle(&mut self, msg: Remove, ctx: &mut Self::Context) -> Self::Result {
        let id = msg.id;
        let files = self.state.files.clone();
        let known_here = self.installed.contains_key(&id);
        self.remove_local(&id, ctx);
        let path = bundle_path(&id);
        Box::pin(
            fut::wrap_future(async move {
                let in_store = files.list(STORE_FOLDER).await.map(|l| l.contains(&format!("{id}.tar.gz")));
                match in_store {
                    Ok(true) => files.remove(&path).await.map_err(|e| PluginError::Internal(format!("{e}")))?,
                    Ok(false) if !known_here => return Err(PluginError::NotFound),
                    Ok(false) => {}
                    Err(e) => return Err(PluginError::Internal(format!("{e}"))),
                }
                Ok(id)
            })
            .map(|r: Result<String, PluginError>, act: &mut Self, _ctx| {
                let id = r?;
                act.announce(ClusterOp::Remove { id });
                Ok(())
            }),
        )
    }
}

impl Handler<ApplyStates> for PluginHost {
    type Result = ();
    fn handle(&mut self, _: ApplyStates, ctx: &mut Self::Context) {
        self.apply_states(ctx);
    }
}

impl Handler<StopAll> for PluginHost {
    type Result = ();
    fn handle(&mut self, _: StopAll, ctx: &mut Self::Context) {
        let ids: Vec<String> = self.installed.keys().cloned().collect();
        for id in ids {
            self.deactivate(&id, ctx);
        }
    }
}

impl Handler<ProcessExited> for PluginHost {
    type Result = ();
    fn handle(&mut self, msg: ProcessExited, ctx: &mut Self::Context) {
        let id = msg.plugin_id;
        let Some(p) = self.installed.get_mut(&id) else { return };
        if p.generation != msg.generation {
            return; // an older process of it
        }
        let expected = p.stopping;
        p.process = None;
        p.stopping = false;
        if expected {
            return;
        }
        self.state.hooks.unregister(&id);
        self.state.commands.unregister_owner(&id);
        self.shared.running.write().unwrap_or_else(|e| e.into_inner()).remove(&id);
        let now = Instant::now();
        p.crashes.push_back(now);
        while p.crashes.front().is_some_and(|t| now.duration_since(*t) > CRASH_WINDOW) {
            p.crashes.pop_front();
        }
        slog::warn!(self.log, "plugin crashed"; "plugin_id" => &id, "how" => &msg.how, "crashes_in_window" => p.crashes.len());
        if p.crashes.len() >= MAX_CRASHES {
            p.failed_for_good = true;
            let why = format!("{}; it crashed {} times within an hour and is left stopped", msg.how, p.crashes.len());
            self.set_status(&id, state::FAILED_TO_STAY_RUNNING, &why, ctx);
            return;
        }
        let generation = msg.generation;
        let rid = id.clone();
        p.restart = Some(ctx.notify_later(RestartCrashed { id: rid, generation }, RESTART_DELAY));
        let why = format!("{}; restarting in {} s", msg.how, RESTART_DELAY.as_secs());
        self.set_status(&id, state::NOT_RUNNING, &why, ctx);
    }
}

impl Handler<RestartCrashed> for PluginHost {
    type Result = ();
    fn handle(&mut self, msg: RestartCrashed, ctx: &mut Self::Context) {
        let enabled = self.enabled(&msg.id);
        let Some(p) = self.installed.get_mut(&msg.id) else { return };
        if p.generation != msg.generation || p.process.is_some() {
            return;
        }
        p.restart = None;
        if enabled {
            slog::info!(self.log, "restarting crashed plugin"; "plugin_id" => &msg.id);
            self.activate(&msg.id, ctx);
        }
    }
}

/// Peers' install and remove announcements.
impl Handler<Published> for PluginHost {
    type Result = ();
    fn handle(&mut self, msg: Published, ctx: &mut Self::Context) {
        let BusEvent::Extension(x) = &*msg.event else { return };
        match serde_json::from_slice::<ClusterOp>(&x.payload) {
            Ok(ClusterOp::Install { id }) if crate::extensions::valid_id(&id) => self.install_from_store(id, ctx),
            Ok(ClusterOp::Remove { id }) => self.remove_local(&id, ctx),
            other => slog::warn!(self.log, "unknown plugin cluster message"; "message" => ?other),
        }
    }
}

/// A peer asks for this node's statuses.
impl Handler<ExtensionQuestion> for PluginHost {
    type Result = Result<Vec<u8>, String>;
    fn handle(&mut self, _msg: ExtensionQuestion, _ctx: &mut Self::Context) -> Self::Result {
        serde_json::to_vec(&self.shared.statuses()).map_err(|e| e.to_string())
    }
}

/// Every node's statuses: this node's, and each live peer's (asked through the cluster).
pub async fn cluster_statuses(state: &AppState) -> Vec<PluginStatus> {
    let mut all = state.plugins.shared.statuses();
    if let Some(c) = &state.cluster {
        use starling_actors::cluster::AskPeers;
        use starling_protocol::message::{Request, Response};
        let ask = AskPeers {
            request: Request::Extension { extension: CLUSTER_NAME.into(), payload: b"statuses".to_vec() },
            timeout: Duration::from_secs(3),
        };
        if let Ok(answers) = c.cluster.send(ask).await {
            for (_, answer) in answers {
                if let Response::Extension(bytes) = answer {
                    if let Ok(list) = serde_json::from_slice::<Vec<PluginStatus>>(&bytes) {
                        all.extend(list);
                    }
                }
            }
        }
    }
    all.sort_by(|a, b| (&a.plugin_id, &a.cluster_id).cmp(&(&b.plugin_id, &b.cluster_id)));
    all
}
