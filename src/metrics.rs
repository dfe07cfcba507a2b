//! Prometheus metrics: what the operator scrapes from `/metrics`.
//!
//! One [`Metrics`] lives for the whole process and is shared by the HTTP
//! workers and the writer thread; every update is an atomic add.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    pub format: String,
    pub outcome: &'static str,
}

/// Labels of the request latency histogram. Both come from closed sets, so
/// the number of series cannot grow with what clients send: the method is one
/// of [`method_label`]'s, the route the pattern a request matched (or
/// [`UNMATCHED_ROUTE`]), never its path.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: &'static str,
    pub route: String,
}

/// The route label of a request that matched no route.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The method label: the methods of RFC 9110 and PATCH by name, anything
/// else `other`. HTTP lets a client invent any method token, and each new
/// label value would be a new histogram kept for the life of the process.
pub fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ];
    KNOWN
        .into_iter()
        .find(|known| *known == method)
        .unwrap_or("other")
}

pub struct Metrics {
    registry: Registry,
    /// Reports stored and counted.
    pub reports_counted: Counter,
    /// Reports stored but not counted: a repeat inside the de-duplication window.
    pub reports_duplicate: Counter,
    /// Reports stored but not counted: their address had counted its share
    /// (`dedup_max_per_address`) within the window.
    pub reports_address_limited: Counter,
    /// Reports refused, by the stable error code sent back.
    pub reports_rejected: Family<ReasonLabel, Counter>,
    /// Reporters the de-duplicator holds right now.
    pub dedup_reporters: Gauge,
    /// Counted reports whose reporter was not remembered: the de-duplicator was full.
    pub dedup_unremembered: Counter,
    /// Reports waiting for the writer right now.
    pub queue_depth: Gauge<i64, std::sync::atomic::AtomicI64>,
    /// Reports per committed batch.
    pub batch_size: Histogram,
    /// Time to write and commit one batch, in seconds.
    pub commit_seconds: Histogram,
    /// Batches that failed to commit (their reports were answered 503).
    pub commit_failures: Counter,
    /// Open client connections, at the last sweep.
    pub http_connections: Gauge<i64, std::sync::atomic::AtomicI64>,
    /// Connections shut down for sending a request head too slowly.
    pub connections_timed_out: Counter,
    /// Keys held by the rate limiter after the last prune.
    pub rate_limiter_keys: Gauge<i64, std::sync::atomic::AtomicI64>,
    /// Request latency by route pattern, in seconds.
    pub http_seconds: Family<RouteLabels, Histogram>,
    /// Webhook delivery attempts by format and outcome (delivered, retry,
    /// failed, gone).
    pub deliveries: Family<DeliveryLabels, Counter>,
    /// Every webhook delivery attempt.
    pub delivery_attempts: Counter,
    /// Age of the oldest pending delivery, in seconds.
    pub delivery_queue_age: Gauge<i64, std::sync::atomic::AtomicI64>,
    /// From an event change being committed to its first delivery attempt.
    pub delivery_first_attempt_seconds: Histogram,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("downwave");
        let reports_counted = Counter::<u64, AtomicU64>::default();
        let reports_duplicate = Counter::<u64, AtomicU64>::default();
        let reports_address_limited = Counter::<u64, AtomicU64>::default();
        let reports_rejected = Family::<ReasonLabel, Counter>::default();
        let dedup_reporters = Gauge::default();
        let dedup_unremembered = Counter::default();
        let queue_depth = Gauge::default();
        let batch_size = Histogram::new(exponential_buckets(1.0, 2.0, 14));
        let commit_seconds = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        let commit_failures = Counter::default();
        let rate_limiter_keys = Gauge::default();
        let http_connections = Gauge::default();
        let connections_timed_out = Counter::default();
        registry.register(
            "http_connections",
            "Open client connections",
            http_connections.clone(),
        );
        registry.register(
            "http_connections_timed_out",
            "Connections shut down for sending a request head too slowly",
            connections_timed_out.clone(),
        );
        let http_seconds = Family::<RouteLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.0001, 2.0, 18))) as fn() -> Histogram,
        );
        registry.register(
            "reports_accepted",
            "Reports stored and counted",
            reports_counted.clone(),
        );
        registry.register(
            "reports_duplicate",
            "Reports stored but not counted (same reporter within the de-duplication window)",
            reports_duplicate.clone(),
        );
        registry.register(
            "reports_address_limited",
            "Reports stored but not counted (their address had counted its share within the window)",
            reports_address_limited.clone(),
        );
        registry.register(
            "reports_rejected",
            "Reports refused, by error code",
            reports_rejected.clone(),
        );
        registry.register(
            "dedup_reporters",
            "Reporters the de-duplicator remembers",
            dedup_reporters.clone(),
        );
        registry.register(
            "dedup_unremembered",
            "Counted reports whose reporter could not be remembered (dedup_max_reporters reached)",
            dedup_unremembered.clone(),
        );
        registry.register(
            "ingest_queue_depth",
            "Reports waiting for the writer",
            queue_depth.clone(),
        );
        registry.register(
            "ingest_batch_size",
            "Reports per committed batch",
            batch_size.clone(),
        );
        registry.register(
            "ingest_commit_seconds",
            "Time to write and commit one batch",
            commit_seconds.clone(),
        );
        registry.register(
            "ingest_commit_failures",
            "Batches that failed to commit",
            commit_failures.clone(),
        );
        registry.register(
            "rate_limiter_keys",
            "Client keys held by the rate limiter after the last prune",
            rate_limiter_keys.clone(),
        );
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        let delivery_attempts = Counter::default();
        let delivery_queue_age = Gauge::default();
        let delivery_first_attempt_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        registry.register(
            "webhook_deliveries",
            "Webhook delivery attempts by format and outcome",
            deliveries.clone(),
        );
        registry.register(
            "webhook_attempts",
            "Webhook delivery attempts",
            delivery_attempts.clone(),
        );
        registry.register(
            "webhook_queue_age_seconds",
            "Age of the oldest pending webhook delivery",
            delivery_queue_age.clone(),
        );
        registry.register(
            "webhook_first_attempt_seconds",
            "From an event change being committed to the first delivery attempt",
            delivery_first_attempt_seconds.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            http_seconds.clone(),
        );
        Metrics {
            registry,
            reports_counted,
            reports_duplicate,
            reports_address_limited,
            reports_rejected,
            dedup_reporters,
            dedup_unremembered,
            queue_depth,
            batch_size,
            commit_seconds,
            commit_failures,
            rate_limiter_keys,
            http_connections,
            connections_timed_out,
            http_seconds,
            deliveries,
            delivery_attempts,
            delivery_queue_age,
            delivery_first_attempt_seconds,
        }
    }

    pub fn reject(&self, reason: &'static str) {
        self.reports_rejected
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    /// The whole registry in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_known_set_share_one_label() {
        assert_eq!(method_label("GET"), "GET");
        assert_eq!(method_label("PATCH"), "PATCH");
        // Methods are case-sensitive: `get` is another (unknown) method.
        assert_eq!(method_label("get"), "other");
        assert_eq!(method_label("FOO1"), "other");
        assert_eq!(method_label(""), "other");
    }
}
