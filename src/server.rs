//! Assembling a node: database, migrations, file store, actors, the API and metrics servers, and
//! one ordered shutdown.

use crate::api::{self, AppState};
use crate::config::{parse_listen_address, LoadedConfig};
use crate::filestore;
use crate::metrics::Metrics;
use crate::store::{self, Store};
use actix::Actor;
use actix_web::dev::{ServerHandle, Service};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use slog::{info, o, Logger};
use starling_actors::cluster::{ClusterBroadcast, LocalParts};
use starling_actors::event_bus::SetCluster;
use starling_actors::presence::SetPresenceCluster;
use starling_actors::{
    CloseWebsockets, DbSupervisor, EventBus, Hub, HubSet, Presence, SessionCache, SessionTarget, StopDbSupervisor,
    WsContext,
};
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// A running node.
pub struct Node {
    pub node_id: String,
    pub http_addr: SocketAddr,
    pub metrics_addr: Option<SocketAddr>,
    pub state: web::Data<AppState>,
    http: ServerHandle,
    metrics: Option<ServerHandle>,
    tasks: Vec<actix_web::rt::task::JoinHandle<std::io::Result<()>>>,
    pub cluster: Option<crate::cluster::ClusterHandle>,
    db_supervisor: actix::Addr<DbSupervisor>,
    log: Logger,
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into())
}

/// Start a node from its config. Returns once it is serving.
pub async fn start(loaded: LoadedConfig, log: Logger) -> anyhow::Result<Node> {
    let cfg = loaded.config.clone();
    let node_id = starling_protocol::new_id();
    let log = log.new(o!("node_id" => node_id.clone()));
    info!(log, "starting node"; "version" => crate::VERSION, "config" => loaded.source.describe(), "env_overrides" => loaded.env_overrides.len());

    let store = Store::with_logger(&cfg.sql_settings, log.clone()).context("SqlSettings.DataSource")?;
    store
        .wait_until_reachable(&cfg.sql_settings, &log)
        .await
        .context("cannot reach the database at SqlSettings.DataSource")?;
    let version = store.migrate(&node_id, &log).await.context("schema migration failed")?;
    store::log_ready(&log, version);

    let files = filestore::from_settings(&cfg.file_settings).context("FileSettings")?;
    files.check().await.with_context(|| format!("the file store ({}) is not usable", files.describe()))?;

    let db_supervisor = DbSupervisor::new(
        Arc::new(store.clone()),
        Duration::from_secs(cfg.sql_settings.replica_monitor_interval_seconds.max(1) as u64),
    )
    .start();
    let ttl = Duration::from_secs(cfg.service_settings.session_cache_in_minutes.max(0) as u64 * 60);
    let sessions = SessionCache::new(Arc::new(store.clone()), ttl, 100_000).start();
    let metrics = Metrics::new();

    // Realtime: presence needs the bus, the bus needs the hubs, the hubs report to presence.
    let presence_ctx = actix::Context::<Presence>::new();
    let presence = actix::AsyncContext::address(&presence_ctx);
    let hub_count = match cfg.service_settings.websocket_hubs {
        0 => worker_count(),
        n => n as usize,
    };
    let hubs = {
        let store = Arc::new(store.clone());
        let presence = presence.clone().recipient();
        let log = log.clone();
        HubSet::start(hub_count, move || Hub::new(store.clone(), Some(presence.clone()), log.clone()))
    };
    let bus = EventBus::new(hubs.clone()).start();
    presence_ctx.run(Presence::new(Arc::new(store.clone()), bus.clone(), log.clone()));

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
            local: LocalParts {
                bus: bus.clone(),
                sessions: sessions.clone(),
                hubs: hubs.clone(),
                presence: presence.clone(),
                session_wrote: Some({
                    let ryw = read_your_writes.clone();
                    Arc::new(move |session| ryw.mark_remote(session))
                }),
            },
            log: log.clone(),
        })
        .await?;
        let c = handle.cluster.clone();
        read_your_writes.set_announcer(move |session| c.do_send(ClusterBroadcast::SessionWrote { session }));
        bus.do_send(SetCluster { cluster: handle.cluster.clone().recipient() });
        presence.do_send(SetPresenceCluster { cluster: handle.cluster.clone() });
        Some(handle)
    } else {
        None
    };
    let shared_config = Arc::new(RwLock::new(cfg.clone()));
    let jobs = crate::jobs::start(crate::jobs::Start {
        node_id: &node_id,
        config: shared_config.clone(),
        store: &store,
        files: &files,
        cluster: cluster.as_ref().map(|c| &c.cluster),
        hooks: crate::jobs::TestHooks::from_env(),
        log: log.clone(),
    });
    let config_source = loaded.source.clone();
    let config_service = crate::config::service::ConfigService::new(
        loaded,
        shared_config.clone(),
        cluster.as_ref().map(|c| c.me.config_hash.clone()),
        cluster.as_ref().map(|c| c.cluster.clone()),
        log.clone(),
    )
    .start();
    let ws = Arc::new(WsContext {
        sessions: sessions.clone(),
        hubs,
        bus: bus.clone(),
        presence: presence.clone(),
        cluster: cluster.as_ref().map(|c| c.cluster.clone()),
        node_id: node_id.clone(),
        version: crate::api::version_id(),
        hostname: hostname(),
        log: log.clone(),
    });

    let state = web::Data::new(AppState {
        store: store.clone(),
        config: shared_config,
        config_service,
        config_source,
        files,
        sessions,
        events: crate::events::Events::new(bus),
        presence,
        ws,
        cluster: cluster.as_ref().map(|c| crate::api::ClusterInfo {
            cluster: c.cluster.clone(),
            me: c.me.clone(),
            counters: c.counters.clone(),
        }),
        jobs,
        schema_version: version,
        metrics: metrics.clone(),
        node_id: node_id.clone(),
        hostname: hostname(),
        log: log.clone(),
        chat: Default::default(),
    });

    let app_state = state.clone();
    let request_metrics = metrics.clone();
    let request_log = log.new(o!("component" => "http"));
    let server = HttpServer::new(move || {
        let m = request_metrics.clone();
        let ryw = read_your_writes.clone();
        let log = request_log.clone();
        App::new()
            .app_data(app_state.clone())
            .wrap_fn(move |req, srv| {
                let started = Instant::now();
                let method = req.method().to_string();
                // Input no handler should see (a NUL in the URL) is answered here.
                let refused = api::url_input_error(req.uri().path(), req.query_string());
                // Which source this request's plain reads use (store::routing has the rules).
                let is_read = store::routing::is_read_request(req.method().as_str(), req.path());
                let route = ryw.route(is_read, api::request_token(req.request()).as_deref());
                let fut = match refused {
                    Some(e) => {
                        let (req, _) = req.into_parts();
                        let res = actix_web::ResponseError::error_response(&e);
                        futures_util::future::Either::Left(std::future::ready(Ok(
                            actix_web::dev::ServiceResponse::new(req, res),
                        )))
                    }
                    None => {
                        futures_util::future::Either::Right(store::routing::sync_read_route(route, || srv.call(req)))
                    }
                };
                let m = m.clone();
                let log = log.clone();
                async move {
                    let mut res = store::routing::with_read_route(route, fut).await?;
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
            // The web client's pages for browser GETs; JSON 404 for everything else.
            .default_service(web::to(api::webapp::fallback))
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
        node_id,
        http_addr,
        metrics_addr,
        state,
        http,
        metrics: metrics_handle,
        tasks,
        cluster,
        db_supervisor,
        log,
    })
}

/// How long shutdown waits for running jobs to stop before handing them back anyway.
const JOB_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

fn worker_count() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).clamp(1, 16)
}

impl Node {
    /// Ordered shutdown: stop accepting HTTP (finishing requests in flight), then close the pool.
    /// Safe to call more than once.
    pub async fn stop(&mut self) {
        info!(self.log, "node stopping");
        // Websockets first, with a close frame, so their clients reconnect to another node.
        self.state.events.bus().do_send(CloseWebsockets { target: SessionTarget::All });
        self.http.stop(true).await;
        // A leaving node schedules nothing more; its running jobs go back to pending for the others.
        self.state.jobs.stop_scheduler().await;
        if let Some(c) = self.cluster.as_mut() {
            c.leave().await;
        }
        self.state.jobs.drain(JOB_DRAIN_TIMEOUT).await;
        if let Some(m) = &self.metrics {
            m.stop(true).await;
        }
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
        self.db_supervisor.do_send(StopDbSupervisor {});
        self.state.store.close();
        info!(self.log, "node stopped");
    }
}

/// Run a node until SIGTERM or SIGINT, then shut it down in order.
pub async fn run(loaded: LoadedConfig, log: Logger) -> anyhow::Result<()> {
    let mut node = start(loaded, log.clone()).await?;
    wait_for_signal().await;
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
