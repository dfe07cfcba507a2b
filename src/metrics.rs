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
use prometheus_client::registry::{Metric, Registry};

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
    /// Raw reports deleted for being older than `report_retention_days`.
    pub reports_pruned: Counter,
    /// Day partitions of raw reports dropped by retention (PostgreSQL).
    pub report_partitions_dropped: Counter,
    /// Detector minutes deleted by retention.
    pub detector_minutes_pruned: Counter,
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
    /// Dashboard answers rendered (a version's first request).
    pub page_renders: Counter,
    /// Dashboard answers served from the render cache.
    pub page_cache_hits: Counter,
    /// Bytes the render cache holds.
    pub page_cache_bytes: Gauge<i64, std::sync::atomic::AtomicI64>,
    /// Live streams open.
    pub live_streams: Gauge<i64, std::sync::atomic::AtomicI64>,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("downwave");
        let r = &mut registry;
        let latency = || Histogram::new(exponential_buckets(0.0001, 2.0, 18));
        Metrics {
            http_connections: registered(r, "http_connections", "Open client connections"),
            connections_timed_out: registered(
                r,
                "http_connections_timed_out",
                "Connections shut down for sending a request head too slowly",
            ),
            reports_counted: registered(r, "reports_accepted", "Reports stored and counted"),
            reports_duplicate: registered(
                r,
                "reports_duplicate",
                "Reports stored but not counted (same reporter within the de-duplication window)",
            ),
            reports_address_limited: registered(
                r,
                "reports_address_limited",
                "Reports stored but not counted (their address had counted its share within the window)",
            ),
            reports_rejected: registered(r, "reports_rejected", "Reports refused, by error code"),
            dedup_reporters: registered(
                r,
                "dedup_reporters",
                "Reporters the de-duplicator remembers",
            ),
            dedup_unremembered: registered(
                r,
                "dedup_unremembered",
                "Counted reports whose reporter could not be remembered (dedup_max_reporters reached)",
            ),
            queue_depth: registered(r, "ingest_queue_depth", "Reports waiting for the writer"),
            batch_size: register(
                r,
                "ingest_batch_size",
                "Reports per committed batch",
                Histogram::new(exponential_buckets(1.0, 2.0, 14)),
            ),
            commit_seconds: register(
                r,
                "ingest_commit_seconds",
                "Time to write and commit one batch",
                Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
            ),
            commit_failures: registered(
                r,
                "ingest_commit_failures",
                "Batches that failed to commit",
            ),
            reports_pruned: registered(
                r,
                "reports_pruned",
                "Raw reports deleted for being older than report_retention_days",
            ),
            report_partitions_dropped: registered(
                r,
                "report_partitions_dropped",
                "Day partitions of raw reports dropped for being older than \
                 report_retention_days (PostgreSQL)",
            ),
            detector_minutes_pruned: registered(
                r,
                "detector_minutes_pruned",
                "Detector minutes deleted for being older than \
                 detector_minute_retention_days",
            ),
            rate_limiter_keys: registered(
                r,
                "rate_limiter_keys",
                "Client keys held by the rate limiter after the last prune",
            ),
            deliveries: registered(
                r,
                "webhook_deliveries",
                "Webhook delivery attempts by format and outcome",
            ),
            delivery_attempts: registered(r, "webhook_attempts", "Webhook delivery attempts"),
            delivery_queue_age: registered(
                r,
                "webhook_queue_age_seconds",
                "Age of the oldest pending webhook delivery",
            ),
            delivery_first_attempt_seconds: register(
                r,
                "webhook_first_attempt_seconds",
                "From an event change being committed to the first delivery attempt",
                Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            ),
            http_seconds: register(
                r,
                "http_request_duration_seconds",
                "HTTP request latency by route",
                Family::new_with_constructor(latency as fn() -> Histogram),
            ),
            page_renders: registered(
                r,
                "page_renders",
                "Dashboard answers rendered (the first request of each version)",
            ),
            page_cache_hits: registered(
                r,
                "page_cache_hits",
                "Dashboard answers served from the render cache",
            ),
            page_cache_bytes: registered(
                r,
                "page_cache_bytes",
                "Bytes the render cache holds (every form of every version kept)",
            ),
            live_streams: registered(r, "live_streams", "Live update streams open"),
            // Last: the fields above register into it first.
            registry,
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

/// `metric`, registered under `name` with its `help` text.
fn register<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M {
    registry.register(name, help, metric.clone());
    metric
}

/// A new metric of its type's default, registered under `name`.
fn registered<M: Metric + Clone + Default>(registry: &mut Registry, name: &str, help: &str) -> M {
    register(registry, name, help, M::default())
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
