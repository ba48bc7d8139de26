//! Assembling a node: database, migrations, file store, the actors (through [`Realtime`] and
//! the cluster), the API and metrics servers, and one ordered shutdown. Everything a node is made
//! of goes through [`NodeBuilder`]: `starling serve` uses it as it is, tests and other binaries
//! add job types, HTTP route groups and parts of their own before starting it.

use crate::api::{self, AppState};
use crate::config::{parse_listen_address, Config, LoadedConfig};
use crate::filestore::{self, FileStore};
use crate::jobs::JobType;
use crate::metrics::Metrics;
use crate::store::{self, Store};
use actix::Recipient;
use actix_web::dev::{ServerHandle, Service};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use futures_util::future::LocalBoxFuture;
use slog::{info, o, Logger};
use starling_actors::cluster::{Answerers, AskPeers};
use starling_actors::leader;
use starling_actors::{
    CloseWebsockets, DbSupervisor, Publish, Realtime, RealtimeSettings, RealtimeStores, SessionTarget, Subscribe,
    Supervisor,
};
use starling_protocol::NodeId;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// A group of HTTP routes a binary adds (registered at the root, after the API's own).
pub type RouteGroup = Arc<dyn Fn(&mut web::ServiceConfig) + Send + Sync>;

/// What a part added to a node is given: the store, the node's event bus (publish, subscribe),
/// the leader election, the supervisor to start its actors under, and a logger.
#[derive(Clone)]
pub struct NodeParts {
    pub node_id: NodeId,
    /// The node's HTTP API state (what handlers see), for parts that act as the API does.
    pub api: web::Data<AppState>,
    pub store: Store,
    pub files: FileStore,
    pub config: Arc<RwLock<Config>>,
    pub publish: Recipient<Publish>,
    pub subscribe: Recipient<Subscribe>,
    pub leader: Recipient<leader::Subscribe>,
    /// Register here what answers peers' questions for an extension ([`Answerers::register`]).
    pub answerers: Answerers,
    /// Ask every live peer a question (none when the node runs alone).
    pub peers: Option<Recipient<AskPeers>>,
    pub supervisor: Supervisor,
    pub log: Logger,
}

/// Something added to a node. The node stops its parts, last added first, after HTTP and before
/// the jobs drain; a part's actors (started under `NodeParts::supervisor`) stop for good then.
pub trait NodePart {
    fn stop(&mut self) -> LocalBoxFuture<'_, ()>;
}

type MakePart = Box<dyn FnOnce(&NodeParts) -> Box<dyn NodePart>>;

/// An extension's stop, as one of the node's parts.
struct ExtensionPart {
    stop: Recipient<crate::extensions::StopExtension>,
}

impl NodePart for ExtensionPart {
    fn stop(&mut self) -> LocalBoxFuture<'_, ()> {
        let stop = self.stop.send(crate::extensions::StopExtension);
        Box::pin(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), stop).await; // gone already: stopped
        })
    }
}

/// The plugins, as one of the node's parts: stopped (each deactivated) with the others.
struct PluginsPart {
    host: actix::Addr<crate::plugins::host::PluginHost>,
}

impl NodePart for PluginsPart {
    fn stop(&mut self) -> LocalBoxFuture<'_, ()> {
        let stop = self.host.send(crate::plugins::host::StopAll);
        Box::pin(async move {
            let _ = tokio::time::timeout(Duration::from_secs(10), stop).await;
        })
    }
}

/// Builds a node.
pub struct NodeBuilder {
    loaded: LoadedConfig,
    log: Logger,
    job_types: Vec<Arc<dyn JobType>>,
    routes: Vec<RouteGroup>,
    parts: Vec<MakePart>,
    extensions: Vec<Box<dyn crate::extensions::Extension>>,
    force_leader: bool,
    outgoing_hook_queue: usize,
}

impl NodeBuilder {
    /// A node with the built-in job types and routes.
    pub fn new(loaded: LoadedConfig, log: Logger) -> Self {
        Self {
            loaded,
            log,
            job_types: crate::jobs::builtin_types(),
            routes: Vec::new(),
            parts: Vec::new(),
            extensions: Vec::new(),
            force_leader: false,
            outgoing_hook_queue: crate::outgoing_hooks::QUEUE_CAPACITY,
        }
    }

    /// Add an extension (see [`crate::extensions`]): started with the node, in the order added.
    pub fn extension(mut self, e: impl crate::extensions::Extension) -> Self {
        self.extensions.push(Box::new(e));
        self
    }

    /// Run jobs of this type too (and schedule them, if it recurs).
    pub fn job_type(mut self, t: impl JobType) -> Self {
        self.job_types.push(Arc::new(t));
        self
    }

    /// Serve these routes too.
    pub fn routes(mut self, group: impl Fn(&mut web::ServiceConfig) + Send + Sync + 'static) -> Self {
        self.routes.push(Arc::new(group));
        self
    }

    /// Add a part, made once the node's actors run.
    pub fn part(mut self, make: impl FnOnce(&NodeParts) -> Box<dyn NodePart> + 'static) -> Self {
        self.parts.push(Box::new(make));
        self
    }

    /// Test-only: lead whatever the cluster says (to test two leaders at once).
    pub fn force_leader(mut self, on: bool) -> Self {
        self.force_leader = on;
        self
    }

    /// Test-only: how many posts wait for outgoing webhooks (to fill the queue with a few).
    pub fn outgoing_hook_queue(mut self, capacity: usize) -> Self {
        self.outgoing_hook_queue = capacity.max(1);
        self
    }

    /// The switches `starling serve` reads from the environment for tests of node processes.
    pub fn test_hooks(mut self, hooks: crate::jobs::TestHooks) -> Self {
        if hooks.test_jobs {
            self = self.job_type(crate::jobs::TestSleep);
        }
        self.force_leader(hooks.force_leader)
    }

    /// Start the node. Returns once it is serving.
    pub async fn start(self) -> anyhow::Result<Node> {
        start_built(self).await
    }
}

/// A running node.
pub struct Node {
    pub node_id: String,
    pub http_addr: SocketAddr,
    pub metrics_addr: Option<SocketAddr>,
    pub state: web::Data<AppState>,
    pub supervisor: Supervisor,
    http: ServerHandle,
    metrics: Option<ServerHandle>,
    /// Local mode's server and its socket's path (removed at stop).
    local: Option<(ServerHandle, std::path::PathBuf)>,
    tasks: Vec<actix_web::rt::task::JoinHandle<std::io::Result<()>>>,
    pub cluster: Option<crate::cluster::ClusterHandle>,
    parts: Vec<Box<dyn NodePart>>,
    db_supervisor: actix::Addr<DbSupervisor>,
    log: Logger,
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into())
}

/// Start a node with the built-in parts only. Returns once it is serving.
pub async fn start(loaded: LoadedConfig, log: Logger) -> anyhow::Result<Node> {
    NodeBuilder::new(loaded, log).start().await
}

async fn start_built(b: NodeBuilder) -> anyhow::Result<Node> {
    let NodeBuilder {
        loaded,
        log,
        job_types,
        mut routes,
        parts: parts_to_make,
        extensions,
        force_leader,
        outgoing_hook_queue,
    } = b;
    let cfg = loaded.config.clone();
    let node_id = NodeId::new();
    let log = log.new(o!("node_id" => node_id.as_str().to_owned()));
    info!(log, "starting node"; "version" => crate::VERSION, "config" => loaded.source.describe(), "env_overrides" => loaded.env_overrides.len());
    let supervisor = Supervisor::new(log.new(o!("component" => "supervisor")));

    let store = Store::with_logger(&cfg.sql_settings, log.clone()).context("SqlSettings.DataSource")?;
    store
        .wait_until_reachable(&cfg.sql_settings, &log)
        .await
        .context("cannot reach the database at SqlSettings.DataSource")?;
    let version = store.migrate(node_id.as_str(), &log).await.context("schema migration failed")?;
    store::log_ready(&log, version);
    store.set_custom_emoji(cfg.service_settings.enable_custom_emoji);

    let files = filestore::from_settings(&cfg.file_settings).context("FileSettings")?;
    files.check().await.with_context(|| format!("the file store ({}) is not usable", files.describe()))?;

    let db_supervisor = {
        let (monitor, every) = (
            Arc::new(store.clone()),
            Duration::from_secs(cfg.sql_settings.replica_monitor_interval_seconds.max(1) as u64),
        );
        supervisor.start("db_supervisor", move |_| DbSupervisor::new(monitor, every))
    };
    let metrics = Metrics::new();

    let shared_config = Arc::new(RwLock::new(cfg.clone()));
    let realtime = Realtime::start(
        &supervisor,
        RealtimeStores {
            sessions: Arc::new(store::SessionsAndTokens { store: store.clone(), config: shared_config.clone() }),
            memberships: Arc::new(store.clone()),
            statuses: Arc::new(store.clone()),
        },
        &RealtimeSettings {
            hubs: match cfg.service_settings.websocket_hubs {
                0 => worker_count(),
                n => n as usize,
            },
            hubs_on_own_threads: true,
            session_ttl: Duration::from_secs(cfg.service_settings.session_cache_in_minutes.max(0) as u64 * 60),
            session_capacity: 100_000,
        },
        &log,
    );

    let listen = parse_listen_address(&cfg.service_settings.listen_address)
        .map_err(|e| anyhow::anyhow!("ServiceSettings.ListenAddress: {e}"))?;
    // Take the ports first: a node that cannot listen fails before it joins the cluster.
    let http_listener = std::net::TcpListener::bind(listen)
        .with_context(|| format!("ServiceSettings.ListenAddress: cannot listen on {listen}"))?;
    let metrics_listener = if cfg.metrics_settings.enable {
        let addr = parse_listen_address(&cfg.metrics_settings.listen_address)
            .map_err(|e| anyhow::anyhow!("MetricsSettings.ListenAddress: {e}"))?;
        Some(
            std::net::TcpListener::bind(addr)
                .with_context(|| format!("MetricsSettings.ListenAddress: cannot listen on {addr}"))?,
        )
    } else {
        None
    };
    // Which sessions wrote lately (reads go to the master for them), shared with the cluster.
    let read_your_writes = Arc::new(store::routing::ReadYourWrites::default());
    let cluster = if cfg.cluster_settings.enable {
        let handle = crate::cluster::start(crate::cluster::Start {
            config: &cfg,
            store: &store,
            node_id: &node_id,
            schema_version: version,
            http_port: listen.port(),
            realtime: &realtime,
            supervisor: &supervisor,
            log: log.clone(),
        })
        .await?;
        let bus = realtime.bus.clone();
        read_your_writes.set_announcer(move |session| {
            // Best effort, at most once a second per session: bounded by requests.
            bus.do_send(Publish::local(starling_actors::BusEvent::SessionWrote { session }))
        });
        let ryw = read_your_writes.clone();
        crate::cluster::RemoteWrites { mark: Arc::new(move |session| ryw.mark_remote(session)) }
            .subscribe(&realtime.bus);
        Some(handle)
    } else {
        None
    };
    let jobs = crate::jobs::start(crate::jobs::Start {
        node_id: &node_id,
        config: shared_config.clone(),
        store: &store,
        files: &files,
        cluster: cluster.as_ref().map(|c| &c.cluster),
        types: job_types,
        force_leader,
        supervisor: &supervisor,
        log: log.clone(),
    });
    let config_source = loaded.source.clone();
    let (config_changes, config_watch) = tokio::sync::watch::channel(0u64);
    let config_service = {
        let (shared, hash, peers, log) = (
            shared_config.clone(),
            cluster.as_ref().map(|c| c.me.config_hash.clone()),
            cluster.as_ref().map(|c| c.cluster.clone()),
            log.clone(),
        );
        supervisor.start("config_service", move |_| {
            crate::config::service::ConfigService::new(loaded, shared, hash, peers, config_changes, log)
        })
    };
    let ws = Arc::new(realtime.ws_context(
        cluster.as_ref().map(|c| c.joined()),
        &node_id,
        &crate::api::version_id(),
        &hostname(),
        &log,
    ));

    // The plugin host's address first: the API state holds it, and the host acts through the state.
    let plugin_host_ctx = actix::Context::<crate::plugins::host::PluginHost>::new();
    use actix::AsyncContext;
    let plugins = crate::plugins::Plugins { host: plugin_host_ctx.address(), shared: Default::default() };
    let outbound = crate::outbound::Outbound::new(shared_config.clone())?;
    let limits = crate::limits::ProcessLimits::read();
    limits.log(&log);
    let state = web::Data::new(AppState {
        drain: Arc::default(),
        limits,
        store: store.clone(),
        config: shared_config.clone(),
        config_service,
        config_source,
        files,
        sessions: realtime.sessions.clone(),
        events: crate::events::Events::new(realtime.bus.clone()),
        presence: realtime.presence.clone(),
        ws,
        cluster: cluster.as_ref().map(|c| crate::api::ClusterInfo {
            cluster: c.cluster.clone(),
            me: c.me.clone(),
            counters: c.counters.clone(),
        }),
        jobs,
        schema_version: version,
        metrics: metrics.clone(),
        hooks: crate::hooks::Hooks::new(log.new(o!("component" => "hooks"))),
        commands: Arc::default(),
        outbound,
        supervisor: supervisor.clone(),
        bus_counters: realtime.bus_counters.clone(),
        node_id: node_id.as_str().to_owned(),
        hostname: hostname(),
        log: log.clone(),
        chat: Default::default(),
        plugins: plugins.clone(),
        audit: crate::audit::start(shared_config.clone(), store.clone(), log.new(o!("component" => "audit"))),
    });
    crate::outgoing_hooks::start(&state, &supervisor, outgoing_hook_queue);
    crate::plugins::host::start(crate::plugins::host::Start {
        state: state.clone(),
        ctx: plugin_host_ctx,
        shared: plugins.shared.clone(),
        answerers: &realtime.answerers,
        supervisor: &supervisor,
        config_changes: config_watch.clone(),
    });
    {
        // The store follows the one setting it reads.
        let (store, shared, mut changes) = (store.clone(), state.config.clone(), config_watch);
        actix::spawn(async move {
            while changes.changed().await.is_ok() {
                let on = shared.read().map(|c| c.service_settings.enable_custom_emoji).unwrap_or(false);
                store.set_custom_emoji(on);
            }
        });
    }

    // Parts and extensions a binary added, now that the actors they use run.
    let node_parts = NodeParts {
        node_id: node_id.clone(),
        api: state.clone(),
        store: store.clone(),
        files: state.files.clone(),
        config: state.config.clone(),
        publish: realtime.bus.clone().recipient(),
        subscribe: realtime.bus.clone().recipient(),
        leader: state.jobs.leader.clone().recipient(),
        answerers: realtime.answerers.clone(),
        peers: cluster.as_ref().map(|c| c.cluster.clone().recipient()),
        supervisor: supervisor.clone(),
        log: log.clone(),
    };
    // Plugins stop after the parts added later (the last added stops first).
    let mut parts: Vec<Box<dyn NodePart>> = vec![Box::new(PluginsPart { host: plugins.host.clone() })];
    parts.extend(parts_to_make.into_iter().map(|make| make(&node_parts)));
    for ext in extensions {
        let id = ext.id();
        let reg = ext.start(&node_parts);
        state.hooks.register(id, reg.message_will_be_posted, reg.message_will_be_updated);
        for (spec, target) in reg.commands {
            let trigger = spec.trigger.clone();
            if !state.commands.register(id, spec, target) {
                slog::warn!(log, "extension command not registered: the trigger is taken or invalid"; "extension" => id, "trigger" => trigger);
            }
        }
        if let Some(group) = reg.routes {
            let scope = format!("/plugins/{id}");
            routes.push(Arc::new(move |cfg: &mut web::ServiceConfig| {
                let group = group.clone();
                cfg.service(web::scope(&scope).configure(move |c| group(c)));
            }));
        }
        if let Some(stop) = reg.stop {
            parts.push(Box::new(ExtensionPart { stop }));
        }
        info!(log, "extension started"; "extension" => id);
    }

    let app_state = state.clone();
    let limiter = Arc::new(crate::ratelimit::RateLimiter::new());
    let request_metrics = metrics.clone();
    let request_log = log.new(o!("component" => "http"));
    // One app for the TCP listener and, in local mode, one for the Unix socket (`local`: every
    // request is the local administrator's, on the administration routes only).
    let make_app = move |local: bool| {
        let m = request_metrics.clone();
        let ryw = read_your_writes.clone();
        let log = request_log.clone();
        let limiter = limiter.clone();
        let limit_config = app_state.config.clone();
        let app = App::new().app_data(app_state.clone());
        let app = if local { app.app_data(api::local::LocalMode) } else { app };
        app.wrap_fn(move |req, srv| {
            let started = Instant::now();
            let method = req.method().to_string();
            // Over RateLimitSettings' allowance: 429 before anything else runs.
            let rate = if local { None } else { crate::ratelimit::check_request(&limiter, &limit_config, &req) };
            let refused = if rate.is_some_and(|d| !d.allowed) {
                m.http_rate_limited.inc();
                Some(crate::ratelimit::refusal())
            } else if local && !api::local::allows(req.method(), req.path()) {
                Some(api::local::refusal())
            } else {
                // Input no handler should see (a NUL in the URL) is answered here.
                api::url_input_error(req.uri().path(), req.query_string())
            };
            // Which source this request's plain reads use (store::routing has the rules).
            let is_read = store::routing::is_read_request(req.method().as_str(), req.path());
            let route = ryw.route(is_read, api::request_token(req.request()).as_deref());
            let fut = match refused {
                Some(e) => {
                    let (req, _) = req.into_parts();
                    let res = actix_web::ResponseError::error_response(&e);
                    futures_util::future::Either::Left(std::future::ready(Ok(actix_web::dev::ServiceResponse::new(
                        req, res,
                    ))))
                }
                None => futures_util::future::Either::Right(store::routing::sync_read_route(route, || srv.call(req))),
            };
            let m = m.clone();
            let log = log.clone();
            async move {
                let mut res = store::routing::with_read_route(route, fut).await?;
                if let Some(d) = &rate {
                    crate::ratelimit::add_headers(res.headers_mut(), d);
                }
                let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".into());
                let status = res.status().as_u16();
                m.observe(&route, &method, status, started.elapsed().as_secs_f64());
                let rid = HeaderName::from_static("x-request-id");
                if !res.headers().contains_key(&rid) {
                    if let Ok(v) = HeaderValue::from_str(&starling_protocol::new_id()) {
                        res.headers_mut().insert(rid.clone(), v);
                    }
                }
                if res.status().is_server_error() {
                    let request_id = res.headers().get(&rid).and_then(|v| v.to_str().ok()).unwrap_or("");
                    let hidden = res.response().extensions().get::<crate::error::HiddenError>().cloned();
                    let (error_id, error) = hidden.map(|h| (h.id, h.detail)).unwrap_or_default();
                    slog::error!(log, "request failed";
                            "request_id" => request_id, "route" => &route, "method" => &method, "status" => status,
                            "error_id" => error_id, "error" => error);
                }
                Ok(res)
            }
        })
        .configure(api::configure)
        .configure(|cfg| {
            for group in &routes {
                group(cfg);
            }
        })
        // After the extensions' routes, so theirs win: every other /plugins/{id}/... goes to a plugin.
        .configure(api::plugins::configure_proxy)
        // The web client's pages for browser GETs; JSON 404 for everything else.
        .default_service(web::to(api::webapp::fallback))
    };
    let server = HttpServer::new({
        let make_app = make_app.clone();
        move || make_app(false)
    })
    .workers(worker_count())
    // Websocket events go out as small frames, often back to back: without TCP_NODELAY, Nagle
    // holds the second until the client's delayed ACK (up to 40 ms). Go's net package (and so
    // Mattermost) disables Nagle by default too.
    .tcp_nodelay(true)
    .disable_signals()
    .client_request_timeout(Duration::from_secs(cfg.service_settings.read_timeout.max(1)))
    .keep_alive(Duration::from_secs(cfg.service_settings.idle_timeout.max(1)))
    .shutdown_timeout(10)
    .listen(http_listener)
    .with_context(|| format!("ServiceSettings.ListenAddress: cannot listen on {listen}"))?;
    let http_addr = server.addrs().first().copied().context("no listening address")?;
    let server = server.run();
    let http = server.handle();
    let mut tasks = vec![actix_web::rt::spawn(server)];

    let local = if cfg.service_settings.enable_local_mode {
        let path = std::path::PathBuf::from(&cfg.service_settings.local_mode_socket_location);
        let what = || format!("ServiceSettings.LocalModeSocketLocation: cannot listen on {}", path.display());
        clear_local_socket(&path).with_context(what)?;
        let server =
            HttpServer::new(move || make_app(true)).workers(1).disable_signals().bind_uds(&path).with_context(what)?;
        // Only the node's own user may open it (whoever can is an administrator).
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).with_context(what)?;
        let server = server.run();
        info!(log, "local mode: the administration API answers on a Unix socket"; "socket" => %path.display());
        let handle = server.handle();
        tasks.push(actix_web::rt::spawn(server));
        Some((handle, path))
    } else {
        None
    };

    let (metrics_handle, metrics_addr) = if let Some(metrics_listener) = metrics_listener {
        let metrics_state = state.clone();
        let server = HttpServer::new(move || {
            App::new().app_data(metrics_state.clone()).route("/metrics", web::get().to(crate::metrics::serve))
        })
        .workers(1)
        .disable_signals()
        .listen(metrics_listener)
        .context("MetricsSettings.ListenAddress")?;
        let bound = server.addrs().first().copied();
        let server = server.run();
        let handle = server.handle();
        tasks.push(actix_web::rt::spawn(server));
        (Some(handle), bound)
    } else {
        (None, None)
    };

    info!(log, "node serving"; "http_addr" => %http_addr, "metrics_addr" => ?metrics_addr, "schema_version" => version);
    Ok(Node {
        node_id: node_id.as_str().to_owned(),
        http_addr,
        metrics_addr,
        state,
        supervisor,
        http,
        metrics: metrics_handle,
        local,
        tasks,
        cluster,
        parts,
        db_supervisor,
        log,
    })
}

/// Make way for local mode's socket at `path`: a socket file left by a node that died is
/// removed; anything else there is an error.
fn clear_local_socket(path: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => std::fs::remove_file(path).context("cannot remove the old socket"),
        Ok(_) => anyhow::bail!("the path exists and is not a socket"),
        Err(_) => Ok(()),
    }
}

/// How long shutdown waits for running jobs to stop before handing them back anyway.
const JOB_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

fn worker_count() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).clamp(1, 16)
}

impl Node {
    /// Ordered shutdown: no more restarts; websockets closed (with a close frame, so their clients
    /// reconnect to another node); HTTP stopped, finishing requests in flight; added parts
    /// stopped; no more scheduling; the cluster left; running jobs handed back; pools closed.
    /// Safe to call more than once.
    /// Move this node's clients to the other nodes before it stops ([`crate::drain`]): what
    /// SIGTERM and `POST /system/drain` do before [`Node::stop`].
    pub async fn drain(&self) {
        crate::drain::drain(&self.state.drain, &self.state.ws.hubs, &self.log).await
    }

    pub async fn stop(&mut self) {
        info!(self.log, "node stopping");
        self.supervisor.shut_down();
        self.state.events.bus().do_send(CloseWebsockets { target: SessionTarget::All });
        self.http.stop(true).await;
        while let Some(mut part) = self.parts.pop() {
            part.stop().await;
        }
        // A leaving node schedules nothing more; its running jobs go back to pending for the others.
        self.state.jobs.stop_scheduler().await;
        if let Some(c) = self.cluster.as_mut() {
            c.leave().await;
        }
        self.state.jobs.drain(JOB_DRAIN_TIMEOUT).await;
        if let Some(m) = &self.metrics {
            m.stop(true).await;
        }
        if let Some((server, path)) = self.local.take() {
            server.stop(true).await;
            let _ = std::fs::remove_file(path); // gone already: fine
        }
        for t in self.tasks.drain(..) {
            let _ = t.await; // a server task that failed has logged why
        }
        let _ = self.db_supervisor.send(starling_actors::db_supervisor::StopDbSupervisor {}).await; // gone already: fine
        self.state.store.close();
        info!(self.log, "node stopped");
    }
}

/// Run a node until SIGTERM or SIGINT, then shut it down in order.
pub async fn run(builder: NodeBuilder) -> anyhow::Result<()> {
    let mut node = builder.start().await?;
    let drain = node.state.drain.clone();
    tokio::select! {
        _ = wait_for_signal() => {}
        _ = drain.requested() => {}
    }
    node.drain().await;
    node.stop().await;
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// What `starling serve` does, for any binary built on Starling: load the config from `source`
/// (with the environment's overrides), build the logger, let `customize` add to the node (the
/// extensions of that binary, say), run until SIGTERM or SIGINT, and stop in order. The exit code
/// is 0 after a clean stop, 1 when the node failed, 2 for a config that is not valid.
pub fn serve_process(
    source: crate::config::source::ConfigSource,
    customize: impl FnOnce(NodeBuilder) -> NodeBuilder,
) -> std::process::ExitCode {
    use std::process::ExitCode;
    actix_web::rt::System::new().block_on(async move {
        let loaded = match crate::config::source::load_at_start(&source).await {
            Ok(l) => l,
            Err(e) => return config_error_exit(e),
        };
        let (log, guard) = match crate::logging::build(&loaded.config.log_settings) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("starling: cannot open the log file: {e}");
                return ExitCode::from(2);
            }
        };
        let builder = customize(NodeBuilder::new(loaded, log.clone()).test_hooks(crate::jobs::TestHooks::from_env()));
        match run(builder).await {
            Ok(()) => {
                drop(log);
                drop(guard);
                ExitCode::SUCCESS
            }
            Err(e) => {
                slog::crit!(log, "node failed"; "error" => format!("{e:#}"));
                eprintln!("starling: {e:#}");
                drop(log);
                drop(guard); // flushes the log
                             // Leave now: tearing the runtime down under half-started actors helps nobody.
                std::process::exit(1)
            }
        }
    })
}

/// Print why a config is refused; the exit code for it (1 for an unreachable config database,
/// which is not a config mistake; 2 otherwise).
pub fn config_error_exit(e: crate::config::ConfigError) -> std::process::ExitCode {
    eprintln!("starling: invalid config: {e}");
    std::process::ExitCode::from(if matches!(e, crate::config::ConfigError::Database { .. }) { 1 } else { 2 })
}
