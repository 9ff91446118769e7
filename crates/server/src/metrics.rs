//! Prometheus metrics: HTTP requests by method, route template and status with latency;
//! sign-in outcomes; the credential cache's hits and misses; the password-hashing pool; the
//! outbox; the process (CPU, memory, open files, start time, from `/proc/self`) and the build.
//! The registry belongs to the application state (no global recorder), so tests can run many
//! applications in one process. Every family has HELP and TYPE, and the plain text format
//! (what `promtool check metrics` reads) is served beside OpenMetrics.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use accounts::Accounts;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
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

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: &'static str,
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
    accounts: Arc<Accounts>,
    /// Outbox messages by status, read from the store at each scrape.
    outbox: Family<StatusLabels, Gauge>,
    outbox_oldest_age: Gauge<f64, AtomicU64>,
}

/// Reads the core's own counters and the process's figures at scrape time.
#[derive(Debug)]
struct CoreCollector {
    accounts: Arc<Accounts>,
}

/// Encodes one unlabelled sample with its HELP and TYPE.
fn encode_one(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    metric: &impl EncodeMetric,
) -> Result<(), std::fmt::Error> {
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for CoreCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let e = &mut encoder;
        let stats = self.accounts.cache_stats();
        encode_one(
            e,
            "gatehouse_token_cache_hits",
            "Credential checks answered from the in-memory cache",
            &ConstCounter::new(stats.hits),
        )?;
        encode_one(
            e,
            "gatehouse_token_cache_misses",
            "Credential checks that went to the database",
            &ConstCounter::new(stats.misses),
        )?;
        encode_one(
            e,
            "gatehouse_password_verifications",
            "Password verifications run (argon2 or bcrypt), dummy ones for unknown logins included",
            &ConstCounter::new(self.accounts.password_verifications()),
        )?;
        encode_one(
            e,
            "gatehouse_password_hash_queue_length",
            "Password hashes waiting for a free hashing thread",
            &ConstGauge::new(self.accounts.password_queue_len()),
        )?;
        let (busy, threads) = self.accounts.password_hashing();
        encode_one(
            e,
            "gatehouse_password_hash_busy_threads",
            "Hashing threads computing a password hash right now",
            &ConstGauge::new(busy),
        )?;
        encode_one(
            e,
            "gatehouse_password_hash_threads",
            "Hashing threads (password_hash_workers)",
            &ConstGauge::new(threads as i64),
        )?;

        let sign_ins = self.accounts.sign_in_stats();
        let mut family = e.encode_descriptor(
            "gatehouse_sign_ins",
            "Password sign-ins and second steps by outcome, on every surface (HTTP basic \
             included)",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (outcome, n) in [
            ("success", sign_ins.succeeded),
            ("second_factor_asked", sign_ins.second_factor_asked),
            ("failure", sign_ins.failed),
            ("throttled", sign_ins.throttled),
        ] {
            let labels = [("outcome", outcome)];
            ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
        }
        encode_one(
            e,
            "gatehouse_mail_delivery_failures",
            "Mail delivery attempts that failed (retried later or given up) since start",
            &ConstCounter::new(self.accounts.mail_attempts_failed()),
        )?;

        encode_one(
            e,
            "gatehouse_build_info",
            "The running build's version and commit, as labels (the value is always 1)",
            &BuildInfo,
        )?;

        if let Some(process) = ProcessStats::read() {
            encode_one(
                e,
                "process_cpu_seconds",
                "User and system CPU time spent, in seconds",
                &ConstCounter::new(process.cpu_seconds),
            )?;
            encode_one(
                e,
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                &ConstGauge::new(process.resident_bytes),
            )?;
            encode_one(
                e,
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                &ConstGauge::new(process.virtual_bytes),
            )?;
            encode_one(
                e,
                "process_open_fds",
                "Open file descriptors (connections, database, files)",
                &ConstGauge::new(process.open_fds),
            )?;
            if let Some(max) = process.max_fds {
                encode_one(
                    e,
                    "process_max_fds",
                    "The limit on open file descriptors",
                    &ConstGauge::new(max),
                )?;
            }
            encode_one(
                e,
                "process_start_time_seconds",
                "When the process started, in seconds since the Unix epoch",
                &ConstGauge::new(process.start_time_seconds),
            )?;
        }
        Ok(())
    }
}

/// `gatehouse_build_info{version, commit} 1`.
#[derive(Debug)]
struct BuildInfo;

impl EncodeMetric for BuildInfo {
    fn encode(
        &self,
        encoder: prometheus_client::encoding::MetricEncoder,
    ) -> Result<(), std::fmt::Error> {
        let labels = [
            ("version", env!("CARGO_PKG_VERSION")),
            ("commit", env!("BUILD_GIT_COMMIT")),
        ];
        let mut encoder = encoder;
        encoder.encode_family(&labels)?.encode_gauge(&1_i64)
    }

    fn metric_type(&self) -> prometheus_client::metrics::MetricType {
        prometheus_client::metrics::MetricType::Gauge
    }
}

/// What `/proc/self` says about this process (Linux); `None` elsewhere.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessStats {
    pub cpu_seconds: f64,
    pub resident_bytes: i64,
    pub virtual_bytes: i64,
    pub open_fds: i64,
    pub max_fds: Option<i64>,
    pub start_time_seconds: i64,
}

/// Clock ticks per second in `/proc/*/stat` (USER_HZ): 100 on every Linux architecture
/// Gatehouse builds for; reading it properly needs `sysconf`, an unsafe call.
const TICKS_PER_SECOND: f64 = 100.0;

impl ProcessStats {
    pub fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // The command name (field 2) is in parentheses and may hold spaces: split after it.
        let after_name = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        // Fields 14 and 15 (utime, stime) and 22 (starttime), counted from 3 here.
        let ticks = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
        let cpu_seconds = (ticks(14)? + ticks(15)?) as f64 / TICKS_PER_SECOND;
        let started_after_boot = ticks(22)? as f64 / TICKS_PER_SECOND;
        let boot_time: i64 = std::fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok())?;
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let kib = |key: &str| -> Option<i64> {
            let line = status.lines().find(|l| l.starts_with(key))?;
            Some(
                line[key.len()..]
                    .split_whitespace()
                    .next()?
                    .parse::<i64>()
                    .ok()?
                    * 1024,
            )
        };
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as i64;
        let max_fds = std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|limits| {
                let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
                line["Max open files".len()..]
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            });
        Some(Self {
            cpu_seconds,
            resident_bytes: kib("VmRSS:")?,
            virtual_bytes: kib("VmSize:")?,
            open_fds,
            max_fds,
            start_time_seconds: boot_time + started_after_boot as i64,
        })
    }
}

impl Metrics {
    pub fn new(accounts: Arc<Accounts>) -> Arc<Self> {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, matched route template and status",
            requests.clone(),
        );
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by method and matched route template",
            latency.clone(),
        );
        let outbox = Family::<StatusLabels, Gauge>::default();
        registry.register(
            "gatehouse_outbox_messages",
            "Outbox messages by status (queued: waiting or retrying; failed: given up)",
            outbox.clone(),
        );
        let outbox_oldest_age = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "gatehouse_outbox_oldest_queued_age_seconds",
            "Age of the oldest message still queued (0 when none is)",
            outbox_oldest_age.clone(),
        );
        registry.register_collector(Box::new(CoreCollector {
            accounts: Arc::clone(&accounts),
        }));
        Arc::new(Self {
            registry,
            requests,
            latency,
            accounts,
            outbox,
            outbox_oldest_age,
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

    /// Reads what lives in the store (the outbox); when the store does not answer, the
    /// previous figures stay and the failure is logged.
    async fn refresh(&self) {
        match self.accounts.mail_counts().await {
            Ok(counts) => {
                for (status, n) in [
                    ("queued", counts.queued),
                    ("sent", counts.sent),
                    ("failed", counts.failed),
                ] {
                    self.outbox
                        .get_or_create(&StatusLabels { status })
                        .set(i64::try_from(n).unwrap_or(i64::MAX));
                }
                let age = counts.oldest_queued_at.map_or(0.0, |at| {
                    (self.accounts.now() - at).num_milliseconds().max(0) as f64 / 1000.0
                });
                self.outbox_oldest_age.set(age);
            }
            Err(e) => tracing::warn!(error = %e, "metrics: cannot read the outbox counts"),
        }
    }

    /// The OpenMetrics text exposition.
    pub async fn render(&self) -> String {
        self.refresh().await;
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    /// The Prometheus text format (0.0.4), for scrapers that do not ask for OpenMetrics
    /// (`promtool check metrics`, older agents).
    pub async fn render_text(&self) -> String {
        openmetrics_to_text(&self.render().await)
    }
}

/// OpenMetrics names a counter family without its `_total` suffix, which the older text
/// format's readers take for a different, undescribed family: the HELP and TYPE lines of
/// counters get the suffix, and the `# EOF` and `# UNIT` lines go.
pub fn openmetrics_to_text(open: &str) -> String {
    let counters: Vec<&str> = open
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(open.len());
    for line in open.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let described = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        out.push_str(described.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_described_under_their_sample_names_in_the_text_format() {
        let open = "# HELP http_requests HTTP requests.\n# TYPE http_requests counter\n\
                    http_requests_total{a=\"b\"} 3\n# HELP up Up.\n# TYPE up gauge\nup 1\n# EOF\n";
        assert_eq!(
            openmetrics_to_text(open),
            "# HELP http_requests_total HTTP requests.\n# TYPE http_requests_total counter\n\
             http_requests_total{a=\"b\"} 3\n# HELP up Up.\n# TYPE up gauge\nup 1\n"
        );
    }

    #[test]
    fn this_process_is_read_from_proc() {
        let stats = ProcessStats::read();
        if !cfg!(target_os = "linux") {
            assert_eq!(stats, None, "only Linux has /proc/self");
            return;
        }
        let stats = stats.expect("Linux has /proc/self");
        assert!(stats.resident_bytes > 1024 * 1024, "{stats:?}");
        assert!(stats.open_fds >= 3, "{stats:?}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!(
            (now - 24 * 3600..=now + 1).contains(&stats.start_time_seconds),
            "{stats:?} now {now}"
        );
    }
}
