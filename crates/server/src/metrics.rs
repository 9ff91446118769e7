//! Prometheus metrics: HTTP requests by route and status with latency, token-cache hits and
//! misses, and the password-hash queue. The registry belongs to the application state (no
//! global recorder), so tests can run many applications in one process.

use std::sync::Arc;
use std::time::Duration;

use accounts::Accounts;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms to ~8 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// The metrics registry and the handles the HTTP layer records into.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
}

/// Reads the core's own counters at scrape time.
#[derive(Debug)]
struct CoreCollector {
    accounts: Arc<Accounts>,
}

impl Collector for CoreCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stats = self.accounts.cache_stats();
        let hits = ConstCounter::new(stats.hits);
        hits.encode(encoder.encode_descriptor(
            "gatehouse_token_cache_hits",
            "Credential checks answered from the in-memory cache",
            None,
            hits.metric_type(),
        )?)?;
        let misses = ConstCounter::new(stats.misses);
        misses.encode(encoder.encode_descriptor(
            "gatehouse_token_cache_misses",
            "Credential checks that went to the database",
            None,
            misses.metric_type(),
        )?)?;
        let verifications = ConstCounter::new(self.accounts.password_verifications());
        verifications.encode(encoder.encode_descriptor(
            "gatehouse_password_verifications",
            "Password verifications run (argon2 or bcrypt), dummy ones for unknown logins included",
            None,
            verifications.metric_type(),
        )?)?;
        let queue = ConstGauge::new(self.accounts.password_queue_len());
        queue.encode(encoder.encode_descriptor(
            "gatehouse_password_hash_queue_length",
            "Password hashes waiting for a free hashing slot",
            None,
            queue.metric_type(),
        )?)?;
        Ok(())
    }
}

impl Metrics {
    pub fn new(accounts: Arc<Accounts>) -> Arc<Self> {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, matched route and status",
            requests.clone(),
        );
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by method and matched route",
            latency.clone(),
        );
        registry.register_collector(Box::new(CoreCollector { accounts }));
        Arc::new(Self {
            registry,
            requests,
            latency,
        })
    }

    pub fn record(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
