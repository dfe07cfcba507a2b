//! The dispatcher: delivers the outbox. Woken as soon as the detector
//! commits an event change (and every second regardless), it starts an
//! attempt for each due message, signed, with a timeout and no redirects.
//! Attempts run side by side, each recording its own outcome the moment it
//! completes, so a receiver that hangs until the timeout delays no one else:
//! at most `max_in_flight` attempts run at once, and at most
//! `max_in_flight_per_subscription` of them for one subscription, so one
//! slow target cannot take every slot. Failures are retried on the Standard
//! Webhooks schedule with jitter; the same `webhook-id` goes out on every
//! attempt. Messages of one event to one subscription go out in order (the
//! outbox query holds back a message while an earlier one is pending, and a
//! message stays pending while its attempt runs). Everything lives in SQLite,
//! so pending deliveries survive a restart.

use super::guard::{check_target, check_url, origin, GuardedResolver};
use super::render::{render, Message};
use super::signing::signature_header;
use crate::clock::Clock;
use crate::metrics::{DeliveryLabels, Metrics};
use crate::store::Db;
use crate::store::{self, AttemptRecord, Delivery, StoreError, Webhook};
use anyhow::Context as _;
use rand::Rng;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::{Id, JoinSet};

/// Delay before each retry, after the first attempt (which is immediate):
/// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h; about 28 hours in all. After the
/// last retry fails the delivery is marked failed.
pub const RETRY_SCHEDULE: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];
/// Longest wait a receiver's `Retry-After` can ask for.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10 * 3600);

#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    /// Per-attempt timeout.
    pub timeout: Duration,
    /// Allow targets on private networks (tests, closed networks).
    pub allow_private: bool,
    /// The proxy deliveries go through, if the operator named one; without
    /// it the environment's proxy variables are ignored.
    pub proxy: Option<String>,
    /// Most attempts running at once.
    pub max_in_flight: usize,
    /// Most attempts running at once to one subscription.
    pub max_in_flight_per_subscription: usize,
}

impl From<&crate::config::Settings> for DispatcherConfig {
    fn from(s: &crate::config::Settings) -> Self {
        DispatcherConfig {
            timeout: s.webhook_timeout,
            allow_private: s.webhook_allow_private,
            proxy: s.webhook_proxy.clone(),
            max_in_flight: s.webhook_max_in_flight,
            max_in_flight_per_subscription: s.webhook_max_in_flight_per_subscription,
        }
    }
}

pub struct Dispatcher {
    /// What every attempt needs; each attempt's task holds a reference.
    courier: Arc<Courier>,
    /// Rung by the detector after it commits an event change.
    wake: Arc<Notify>,
}

/// Makes attempts and records them: the client, the dispatcher's own write
/// connection, the clock.
struct Courier {
    conn: Arc<Mutex<Db>>,
    client: reqwest::Client,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    config: DispatcherConfig,
}

/// The attempts under way: which delivery each task is sending, to which
/// subscription.
#[derive(Default)]
struct InFlight {
    tasks: JoinSet<()>,
    /// Task id to (delivery, subscription).
    running: HashMap<Id, (i64, i64)>,
}

impl InFlight {
    fn per_subscription(&self) -> HashMap<i64, usize> {
        let mut counts = HashMap::new();
        for &(_, webhook) in self.running.values() {
            *counts.entry(webhook).or_insert(0) += 1;
        }
        counts
    }

    /// Forgets the attempts that have ended (recorded, or panicked and left
    /// pending, to be tried again).
    fn reap(&mut self, ended: Result<(Id, ()), tokio::task::JoinError>) {
        let id = match ended {
            Ok((id, ())) => id,
            Err(e) => {
                tracing::error!(error = %e, "a webhook attempt ended abnormally");
                e.id()
            }
        };
        self.running.remove(&id);
    }
}

/// How one attempt went.
enum Outcome {
    Delivered(u16),
    /// Try again after the schedule's delay (or the receiver's Retry-After).
    Retry {
        status: Option<u16>,
        error: String,
        retry_after: Option<Duration>,
    },
    /// Do not try again.
    Refused {
        status: Option<u16>,
        error: String,
    },
    /// 410 Gone: the subscription is disabled.
    Gone,
}

impl Dispatcher {
    pub fn new(
        conn: Db,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        wake: Arc<Notify>,
        config: DispatcherConfig,
    ) -> anyhow::Result<Self> {
        let builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(GuardedResolver {
                allow_private: config.allow_private,
                proxy_host: config
                    .proxy
                    .as_deref()
                    .and_then(|p| reqwest::Url::parse(p).ok())
                    .and_then(|u| u.host_str().map(str::to_owned)),
            }))
            .user_agent(concat!("downwave/", env!("CARGO_PKG_VERSION")));
        // A proxy from the environment would receive every request and
        // resolve every target itself, out of the guard's sight: only one
        // the operator names in the settings is used.
        let builder = match &config.proxy {
            Some(proxy) => builder.proxy(
                reqwest::Proxy::all(proxy)
                    .with_context(|| format!("the webhook proxy {}", origin(proxy)))?,
            ),
            None => builder.no_proxy(),
        };
        let client = builder.build()?;
        Ok(Dispatcher {
            courier: Arc::new(Courier {
                conn: Arc::new(Mutex::new(conn)),
                client,
                clock,
                metrics,
                config,
            }),
            wake,
        })
    }

    /// Runs until the task is aborted; aborting it aborts the attempts under
    /// way, whose messages stay pending and go out again after a restart.
    pub async fn run(self) {
        let mut in_flight = InFlight::default();
        loop {
            if let Err(e) = self.start_due(&mut in_flight).await {
                tracing::error!(error = %crate::error::chain(&e), "webhook dispatch failed");
            }
            // Wait for an attempt to end (a slot frees, and the next message
            // of its event may be due), for the detector, or a second at
            // most (retries fall due with the clock).
            tokio::select! {
                Some(ended) = in_flight.tasks.join_next_with_id() => in_flight.reap(ended),
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            while let Some(ended) = in_flight.tasks.try_join_next_with_id() {
                in_flight.reap(ended);
            }
        }
    }

    /// Starts an attempt for every due message there is room for.
    async fn start_due(&self, in_flight: &mut InFlight) -> Result<(), StoreError> {
        let courier = &self.courier;
        let config = &courier.config;
        let now_ms = courier.clock.now().timestamp_millis();
        let oldest = courier.db(store::oldest_pending_ms).await?;
        courier
            .metrics
            .delivery_queue_age
            .set(oldest.map_or(0, |t| (now_ms - t).max(0) / 1000));
        loop {
            let free = config.max_in_flight.saturating_sub(in_flight.running.len());
            if free == 0 {
                return Ok(());
            }
            let mut counts = in_flight.per_subscription();
            let busy: Vec<i64> = in_flight.running.values().map(|&(d, _)| d).collect();
            let full: Vec<i64> = counts
                .iter()
                .filter(|&(_, &n)| n >= config.max_in_flight_per_subscription)
                .map(|(&w, _)| w)
                .collect();
            // Held by this node for as long as an attempt can take, and then
            // some: a node that dies mid-attempt leaves its messages to
            // the others once the lease runs out.
            let lease_until = now_ms + 2 * config.timeout.as_millis() as i64 + LEASE_MARGIN_MS;
            let due = courier
                .db(move |c| store::due_deliveries(c, now_ms, free, &busy, &full, lease_until))
                .await?;
            let found = due.len();
            let mut held_back = Vec::new();
            for (d, w) in due {
                let n = counts.entry(w.id).or_insert(0);
                if *n >= config.max_in_flight_per_subscription {
                    held_back.push(d.id);
                    continue;
                }
                *n += 1;
                let (delivery, webhook) = (d.id, w.id);
                let courier = self.courier.clone();
                let task = in_flight.tasks.spawn(async move {
                    let outcome = courier.attempt(&d, &w).await;
                    if let Err(e) = courier.record(&d, &w, outcome).await {
                        // The delivery stays pending and is tried again.
                        tracing::error!(
                            delivery = d.id,
                            error = %crate::error::chain(&e),
                            "recording a webhook attempt failed"
                        );
                    }
                });
                in_flight.running.insert(task.id(), (delivery, webhook));
            }
            // Rows of a subscription that filled up took places in this
            // answer; ask again without it, so that other subscriptions'
            // messages behind them start now, not at the next wake.
            let asked_again = !held_back.is_empty() && found >= free;
            if !held_back.is_empty() {
                // Claimed but not started: free at once, not when the
                // lease runs out.
                courier
                    .db(move |c| store::release_deliveries(c, &held_back))
                    .await?;
            }
            if !asked_again {
                return Ok(());
            }
        }
    }
}

/// What a claim's lease adds to twice the attempt timeout (PostgreSQL).
const LEASE_MARGIN_MS: i64 = 30_000;

impl Courier {
    async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Db) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let guard = conn
                .lock()
                .map_err(|_| StoreError::Poisoned("dispatcher's database connection"))?;
            f(&guard)
        })
        .await
        .map_err(|e| StoreError::TaskFailed {
            what: "dispatcher database",
            message: e.to_string(),
        })?
    }

    async fn attempt(&self, d: &Delivery, w: &Webhook) -> Outcome {
        let now = self.clock.now();
        if d.attempts == 0 {
            self.metrics
                .delivery_first_attempt_seconds
                .observe(((now.timestamp_millis() - d.created_ms).max(0) as f64) / 1000.0);
        }
        self.metrics.delivery_attempts.inc();
        // The target is checked again at every attempt: settings change.
        // Without a proxy the client's resolver checks the name's addresses
        // as it connects; through a proxy, which resolves the name itself,
        // they are checked here first.
        let checked = match self.config.proxy {
            None => check_url(&w.url, self.config.allow_private),
            Some(_) => check_target(&w.url, self.config.allow_private).await,
        };
        if let Err(e) = checked {
            return Outcome::Refused {
                status: None,
                error: e.to_string(),
            };
        }
        let data: serde_json::Value = serde_json::from_str(&d.payload).unwrap_or_default();
        let timestamp = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let body = render(
            w.format,
            &Message {
                kind: d.kind,
                data: &data,
                timestamp: &timestamp,
                routing_key: w.routing_key.as_deref(),
            },
        )
        .to_string();
        let unix = now.timestamp();
        let signature = signature_header(
            &w.signing_secrets(unix),
            &d.message_id,
            unix,
            body.as_bytes(),
        );
        let sent = self
            .client
            .post(&w.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &d.message_id)
            .header("webhook-timestamp", unix.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        match sent {
            // reqwest's errors carry the whole URL, whose path is the secret
            // of a Slack or Discord webhook: only the origin is kept.
            Err(e) => Outcome::Retry {
                status: None,
                error: format!(
                    "{}: {}",
                    origin(&w.url),
                    crate::error::chain(&e.without_url())
                ),
                retry_after: None,
            },
            Ok(resp) => {
                let status = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                match status {
                    200..=299 => Outcome::Delivered(status),
                    410 => Outcome::Gone,
                    408 | 429 | 500..=599 => Outcome::Retry {
                        status: Some(status),
                        error: format!("the receiver answered {status}"),
                        retry_after: retry_after.filter(|_| status == 429 || status == 503),
                    },
                    300..=399 => Outcome::Refused {
                        status: Some(status),
                        error: "the receiver redirected; redirects are not followed".into(),
                    },
                    _ => Outcome::Refused {
                        status: Some(status),
                        error: format!("the receiver refused the message with {status}"),
                    },
                }
            }
        }
    }

    async fn record(&self, d: &Delivery, w: &Webhook, outcome: Outcome) -> Result<(), StoreError> {
        let now_ms = self.clock.now().timestamp_millis();
        // (metric outcome, row status, next attempt, last status code, last error)
        let (counted, status, next_attempt_ms, last_status, last_error) = match outcome {
            Outcome::Delivered(code) => ("delivered", "delivered", None, Some(code), None),
            Outcome::Gone => (
                "gone",
                "failed",
                None,
                Some(410),
                Some("410 Gone: subscription disabled".to_owned()),
            ),
            Outcome::Refused { status, error } => ("failed", "failed", None, status, Some(error)),
            Outcome::Retry {
                status,
                error,
                retry_after,
            } => match next_delay(d.attempts as usize, retry_after) {
                Some(delay) => (
                    "retry",
                    "pending",
                    Some(now_ms + delay.as_millis() as i64),
                    status,
                    Some(error),
                ),
                None => (
                    "failed",
                    "failed",
                    None,
                    status,
                    Some(format!("gave up after every retry: {error}")),
                ),
            },
        };
        self.metrics
            .deliveries
            .get_or_create(&DeliveryLabels {
                format: w.format.as_str().to_owned(),
                outcome: counted,
            })
            .inc();
        let disable = counted == "gone";
        let record = AttemptRecord {
            status,
            next_attempt_ms,
            last_status: last_status.map(i64::from),
            last_error,
            delivered_ms: (status == "delivered").then_some(now_ms),
        };
        if record.status != "delivered" {
            tracing::warn!(
                delivery = d.id,
                webhook = w.id,
                target = %origin(&w.url),
                status = record.status,
                error = record.last_error.as_deref().unwrap_or(""),
                "webhook delivery attempt did not succeed"
            );
        }
        let (id, webhook_id) = (d.id, w.id);
        self.db(move |c| {
            store::record_attempt(c, id, &record)?;
            if disable {
                store::disable_webhook(c, webhook_id, "the receiver answered 410 Gone")?;
            }
            Ok(())
        })
        .await
    }
}

/// The wait before the next attempt, after `attempts_before` earlier failed
/// attempts and this one; `None` when the schedule is used up. Jitter of up to
/// ±10% spreads retries of many messages; a receiver's Retry-After is a
/// floor (capped at 10 hours).
pub fn next_delay(attempts_before: usize, retry_after: Option<Duration>) -> Option<Duration> {
    let base = *RETRY_SCHEDULE.get(attempts_before)?;
    let jitter = rand::thread_rng().gen_range(0.9..1.1);
    let delay = base.mul_f64(jitter);
    Some(match retry_after {
        Some(ra) => delay.max(ra.min(MAX_RETRY_AFTER)),
        None => delay,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_spans_about_a_day_and_then_gives_up() {
        let total: Duration = RETRY_SCHEDULE.iter().sum();
        assert!(total > Duration::from_secs(24 * 3600) && total < Duration::from_secs(30 * 3600));
        let first = next_delay(0, None).unwrap();
        assert!(first >= Duration::from_millis(4500) && first <= Duration::from_millis(5500));
        assert!(next_delay(RETRY_SCHEDULE.len(), None).is_none());
    }

    #[test]
    fn retry_after_is_a_floor_with_a_cap() {
        let d = next_delay(0, Some(Duration::from_secs(120))).unwrap();
        assert_eq!(d, Duration::from_secs(120));
        let capped = next_delay(0, Some(Duration::from_secs(10 * 86_400))).unwrap();
        assert_eq!(capped, MAX_RETRY_AFTER);
    }
}
