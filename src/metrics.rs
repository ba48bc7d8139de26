//! Prometheus metrics, served as text on MetricsSettings.ListenAddress at `/metrics`.

use crate::store::Store;
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_requests_total: IntCounter,
    pub http_duration: HistogramVec,
    /// 5xx answers by route: each is also logged at error level with its request id.
    pub http_server_errors: IntCounterVec,
    /// Requests refused with 429 by RateLimitSettings.
    pub http_rate_limited: IntCounter,
    pub db_master_connections: IntGauge,
    pub db_master_idle: IntGauge,
    pub db_read_replica_connections: IntGauge,
    pub db_search_replica_connections: IntGauge,
    pub db_replica_lag_abs: GaugeVec,
    pub db_replica_lag_time: GaugeVec,
    pub jobs_active: IntGaugeVec,
    /// Posts whose outgoing webhook calls were dropped because the queue was full.
    pub outgoing_webhooks_dropped: IntCounter,
    /// Outgoing webhook calls by result (`posted`, `answered` with nothing to post, `failed`).
    pub outgoing_webhook_calls: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new("starling_http_requests_total", "HTTP requests by route, method and status."),
            &["route", "method", "status"],
        )
        .expect("static metric definition");
        let http_requests_total =
            IntCounter::new("mattermost_http_requests_total", "The total number of HTTP requests.")
                .expect("static metric definition");
        let http_duration = HistogramVec::new(
            HistogramOpts::new("starling_http_request_duration_seconds", "HTTP request latency by route and method.")
                .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]),
            &["route", "method"],
        )
        .expect("static metric definition");
        let http_server_errors = IntCounterVec::new(
            Opts::new("starling_http_server_errors_total", "HTTP answers with a 5xx status, by route and status."),
            &["route", "status"],
        )
        .expect("static metric definition");
        let http_rate_limited =
            IntCounter::new("starling_http_rate_limited_total", "HTTP requests refused by the rate limit (429).")
                .expect("static metric definition");
        let db_master_connections =
            IntGauge::new("mattermost_db_master_connections_total", "Open connections to the master database.")
                .expect("static metric definition");
        let db_master_idle =
            IntGauge::new("starling_db_master_idle_connections", "Idle connections to the master database.")
                .expect("static metric definition");
        let db_read_replica_connections =
            IntGauge::new("mattermost_db_read_replica_connections_total", "Open connections to the read replicas.")
                .expect("static metric definition");
        let db_search_replica_connections =
            IntGauge::new("mattermost_db_search_replica_connections_total", "Open connections to the search replicas.")
                .expect("static metric definition");
        let db_replica_lag_abs = GaugeVec::new(
            Opts::new(
                "mattermost_db_replica_lag_abs",
                "Replica lag from ReplicaLagSettings.QueryAbsoluteLag, by node.",
            ),
            &["node"],
        )
        .expect("static metric definition");
        let db_replica_lag_time = GaugeVec::new(
            Opts::new("mattermost_db_replica_lag_time", "Replica lag from ReplicaLagSettings.QueryTimeLag, by node."),
            &["node"],
        )
        .expect("static metric definition");
        let jobs_active =
            IntGaugeVec::new(Opts::new("mattermost_jobs_active", "Jobs running on this node, by type."), &["type"])
                .expect("static metric definition");
        let outgoing_webhooks_dropped = IntCounter::new(
            "starling_outgoing_webhook_dropped_total",
            "Posts whose outgoing webhook calls were dropped: the node's queue was full.",
        )
        .expect("static metric definition");
        let outgoing_webhook_calls = IntCounterVec::new(
            Opts::new("starling_outgoing_webhook_calls_total", "Outgoing webhook calls made by this node, by result."),
            &["result"],
        )
        .expect("static metric definition");
        for c in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_requests_total.clone()),
            Box::new(http_duration.clone()),
            Box::new(http_server_errors.clone()),
            Box::new(http_rate_limited.clone()),
            Box::new(db_master_connections.clone()),
            Box::new(db_master_idle.clone()),
            Box::new(db_read_replica_connections.clone()),
            Box::new(db_search_replica_connections.clone()),
            Box::new(db_replica_lag_abs.clone()),
            Box::new(db_replica_lag_time.clone()),
            Box::new(jobs_active.clone()),
            Box::new(outgoing_webhooks_dropped.clone()),
            Box::new(outgoing_webhook_calls.clone()),
        ] {
            registry.register(c).expect("metrics are registered once");
        }
        // process_resident_memory_bytes, process_cpu_seconds_total, process_open_fds,
        // process_max_fds, process_threads, ...: read from /proc at each scrape.
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))
            .expect("metrics are registered once");
        Self {
            registry,
            http_requests,
            http_requests_total,
            http_duration,
            http_server_errors,
            http_rate_limited,
            db_master_connections,
            db_master_idle,
            db_read_replica_connections,
            db_search_replica_connections,
            db_replica_lag_abs,
            db_replica_lag_time,
            jobs_active,
            outgoing_webhooks_dropped,
            outgoing_webhook_calls,
        }
    }

    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.http_requests.with_label_values(&[route, method, &status.to_string()]).inc();
        self.http_requests_total.inc();
        self.http_duration.with_label_values(&[route, method]).observe(seconds);
        if status >= 500 {
            self.http_server_errors.with_label_values(&[route, &status.to_string()]).inc();
        }
    }

    /// The text exposition, with pool gauges read now.
    pub fn render(&self, store: &Store) -> String {
        let pools = store.pool_stats();
        self.db_master_connections.set(pools.master_open as i64);
        self.db_master_idle.set(pools.master_idle as i64);
        self.db_read_replica_connections.set(pools.replica_open as i64);
        self.db_search_replica_connections.set(pools.search_open as i64);
        self.db_replica_lag_abs.reset();
        self.db_replica_lag_time.reset();
        for sample in store.replica_lag() {
            let gauge = match sample.kind {
                crate::store::routing::LagKind::Absolute => &self.db_replica_lag_abs,
                crate::store::routing::LagKind::Time => &self.db_replica_lag_time,
            };
            gauge.with_label_values(&[sample.node.as_str()]).set(sample.value);
        }
        let mut buf = Vec::new();
        if TextEncoder::new().encode(&self.registry.gather(), &mut buf).is_err() {
            return String::new();
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// `GET /metrics`: the registry, plus gauges read now from the pool, the hubs and the cluster.
pub async fn serve(state: actix_web::web::Data<crate::api::AppState>) -> actix_web::HttpResponse {
    use std::fmt::Write;
    use std::sync::atomic::Ordering;
    let active = state.jobs.active().await;
    for t in &state.jobs.types {
        state.metrics.jobs_active.with_label_values(&[t.as_str()]).set(active.get(t).copied().unwrap_or(0) as i64);
    }
    let mut body = state.metrics.render(&state.store);
    let sc = &state.jobs.scheduler_counters;
    let _ = writeln!(body, "# HELP starling_job_scheduler_passes_total Scheduling passes made while leading.");
    let _ = writeln!(body, "# TYPE starling_job_scheduler_passes_total counter");
    let _ = writeln!(body, "starling_job_scheduler_passes_total {}", sc.passes.load(Ordering::Relaxed));
    let _ = writeln!(body, "# HELP starling_jobs_scheduled_total Recurring jobs this node created.");
    let _ = writeln!(body, "# TYPE starling_jobs_scheduled_total counter");
    let _ = writeln!(body, "starling_jobs_scheduled_total {}", sc.created.load(Ordering::Relaxed));
    let websockets = state.ws.hubs.stats().await.active_connections;
    let _ = writeln!(body, "# HELP mattermost_http_websockets_total Open websocket connections on this node.");
    let _ = writeln!(body, "# TYPE mattermost_http_websockets_total gauge");
    let _ = writeln!(body, "mattermost_http_websockets_total {websockets}");
    let _ = writeln!(body, "# HELP starling_db_master_up Whether the master answered the last health check.");
    let _ = writeln!(body, "# TYPE starling_db_master_up gauge");
    let _ = writeln!(body, "starling_db_master_up {}", u8::from(state.store.master_healthy()));
    let _ = writeln!(body, "# HELP starling_actor_restarts_total Actors restarted by the supervisor, by actor.");
    let _ = writeln!(body, "# TYPE starling_actor_restarts_total counter");
    for (actor, n) in state.supervisor.restarts() {
        let _ = writeln!(body, "starling_actor_restarts_total{{actor=\"{actor}\"}} {n}");
    }
    let _ =
        writeln!(body, "# HELP starling_bus_unclaimed_extension_total Peers' extension messages no actor here took.");
    let _ = writeln!(body, "# TYPE starling_bus_unclaimed_extension_total counter");
    let unclaimed = state.bus_counters.unclaimed_extension.load(Ordering::Relaxed);
    let _ = writeln!(body, "starling_bus_unclaimed_extension_total {unclaimed}");
    if let Some(c) = &state.cluster {
        let peers = c.cluster.send(starling_actors::cluster::GetPeerStatuses).await.unwrap_or_default();
        let unhealthy = peers.iter().filter(|p| p.state != starling_actors::cluster::PeerState::Up).count();
        let k = &c.counters;
        let _ = writeln!(body, "# HELP mattermost_cluster_cluster_health_score Peers not up (0 is healthy).");
        let _ = writeln!(body, "# TYPE mattermost_cluster_cluster_health_score gauge");
        let _ = writeln!(body, "mattermost_cluster_cluster_health_score {unhealthy}");
        let _ = writeln!(
            body,
            "# HELP mattermost_cluster_cluster_requests_total Cluster requests and acknowledged broadcasts."
        );
        let _ = writeln!(body, "# TYPE mattermost_cluster_cluster_requests_total counter");
        let _ = writeln!(body, "mattermost_cluster_cluster_requests_total {}", k.requests.load(Ordering::Relaxed));
        let _ =
            writeln!(body, "# HELP mattermost_cluster_cluster_request_duration_seconds Time cluster requests took.");
        let _ = writeln!(body, "# TYPE mattermost_cluster_cluster_request_duration_seconds summary");
        let _ = writeln!(
            body,
            "mattermost_cluster_cluster_request_duration_seconds_sum {}",
            k.request_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(
            body,
            "mattermost_cluster_cluster_request_duration_seconds_count {}",
            k.requests.load(Ordering::Relaxed)
        );
        let _ = writeln!(body, "# HELP mattermost_cluster_event_type_totals Cluster messages by type.");
        let _ = writeln!(body, "# TYPE mattermost_cluster_event_type_totals counter");
        if let Ok(m) = k.event_types.lock() {
            for (name, n) in m.iter() {
                let _ = writeln!(body, "mattermost_cluster_event_type_totals{{name=\"{name}\"}} {n}");
            }
        }
        let _ =
            writeln!(body, "# HELP starling_cluster_frames_rejected_total Gossip frames or links rejected, by reason.");
        let _ = writeln!(body, "# TYPE starling_cluster_frames_rejected_total counter");
        if let Ok(m) = k.rejected.lock() {
            for (reason, n) in m.iter() {
                let _ = writeln!(body, "starling_cluster_frames_rejected_total{{reason=\"{reason}\"}} {n}");
            }
        }
        let _ = writeln!(
            body,
            "# HELP starling_cluster_peer_transitions_total Peer state changes seen by this node, by the state entered."
        );
        let _ = writeln!(body, "# TYPE starling_cluster_peer_transitions_total counter");
        if let Ok(m) = k.peer_transitions.lock() {
            for state in ["connecting", "up", "suspect", "down"] {
                let n = m.get(state).copied().unwrap_or(0);
                let _ = writeln!(body, "starling_cluster_peer_transitions_total{{state=\"{state}\"}} {n}");
            }
        }
        let _ = writeln!(
            body,
            "# HELP starling_cluster_best_effort_dropped_total Best-effort messages dropped for a full link queue."
        );
        let _ = writeln!(body, "# TYPE starling_cluster_best_effort_dropped_total counter");
        let dropped = k.best_effort_dropped.load(Ordering::Relaxed);
        let _ = writeln!(body, "starling_cluster_best_effort_dropped_total {dropped}");
        let _ = writeln!(body, "# TYPE starling_cluster_frames_total counter");
        let _ = writeln!(
            body,
            "starling_cluster_frames_total{{direction=\"sent\"}} {}",
            k.frames_sent.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            body,
            "starling_cluster_frames_total{{direction=\"received\"}} {}",
            k.frames_received.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            body,
            "# HELP starling_cluster_peer_clock_skew_seconds How far a peer's clock is ahead of this node's (negative: behind)."
        );
        let _ = writeln!(body, "# TYPE starling_cluster_peer_clock_skew_seconds gauge");
        for p in &peers {
            if let Some(skew) = p.clock_skew_ms {
                let peer = &p.gossip_addr;
                let _ = writeln!(
                    body,
                    "starling_cluster_peer_clock_skew_seconds{{peer=\"{peer}\"}} {}",
                    skew as f64 / 1000.0
                );
            }
        }
    }
    actix_web::HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(body)
}
