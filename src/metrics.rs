//! Prometheus metrics, served as text on MetricsSettings.ListenAddress at `/metrics`.

use crate::store::Store;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_requests_total: IntCounter,
    pub http_duration: HistogramVec,
    pub db_master_connections: IntGauge,
    pub db_master_idle: IntGauge,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "starling_http_requests_total",
                "HTTP requests by route, method and status.",
            ),
            &["route", "method", "status"],
        )
        .expect("static metric definition");
        let http_requests_total = IntCounter::new(
            "mattermost_http_requests_total",
            "The total number of HTTP requests.",
        )
        .expect("static metric definition");
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "starling_http_request_duration_seconds",
                "HTTP request latency by route and method.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["route", "method"],
        )
        .expect("static metric definition");
        let db_master_connections = IntGauge::new(
            "mattermost_db_master_connections_total",
            "Open connections to the master database.",
        )
        .expect("static metric definition");
        let db_master_idle = IntGauge::new(
            "starling_db_master_idle_connections",
            "Idle connections to the master database.",
        )
        .expect("static metric definition");
        for c in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_requests_total.clone()),
            Box::new(http_duration.clone()),
            Box::new(db_master_connections.clone()),
            Box::new(db_master_idle.clone()),
        ] {
            registry.register(c).expect("metrics are registered once");
        }
        Self {
            registry,
            http_requests,
            http_requests_total,
            http_duration,
            db_master_connections,
            db_master_idle,
        }
    }

    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.http_requests
            .with_label_values(&[route, method, &status.to_string()])
            .inc();
        self.http_requests_total.inc();
        self.http_duration
            .with_label_values(&[route, method])
            .observe(seconds);
    }

    /// The text exposition, with pool gauges read now.
    pub fn render(&self, store: &Store) -> String {
        let (size, available) = store.pool_status();
        self.db_master_connections.set(size as i64);
        self.db_master_idle.set(available as i64);
        let mut buf = Vec::new();
        if TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .is_err()
        {
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
