//! Webhook subscriptions and their delivery: managing them, refusing bad
//! and internal targets, retries, restarts, and receivers that fail or hang.

use crate::helpers::*;
use crate::receiver::{eventually, Receiver, Reply};
use downwave::alert::signing::verify;
use serde_json::{json, Value};
use std::time::Duration;

pub(crate) async fn webhook_app() -> TestApp {
    spawn_app_with(|s| {
        s.webhook_allow_private = true;
        s.webhook_timeout = Duration::from_secs(1);
        s.public_url = "https://downwave.example".into();
    })
    .await
}

impl TestApp {
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, self.url(path))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Creates a subscription; returns (id, secret).
    pub async fn subscribe(&self, body: Value) -> (i64, String) {
        let (status, w) = self
            .admin(reqwest::Method::POST, "/api/v1/webhooks", Some(body))
            .await;
        assert_eq!(status, 201, "{w}");
        (
            w["id"].as_i64().unwrap(),
            w["secret"].as_str().unwrap().to_owned(),
        )
    }

    pub async fn deliveries(&self, id: i64) -> Vec<Value> {
        let (status, body) = self
            .admin(
                reqwest::Method::GET,
                &format!("/api/v1/webhooks/{id}/deliveries"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["deliveries"].as_array().unwrap().clone()
    }

    /// Waits (real time, bounded) until the newest delivery of a subscription
    /// has had `attempts` attempts recorded; returns the log.
    pub async fn recorded_attempts(&self, id: i64, attempts: i64) -> Vec<Value> {
        for _ in 0..200 {
            let log = self.deliveries(id).await;
            if log
                .first()
                .is_some_and(|d| d["attempts"].as_i64() >= Some(attempts))
            {
                return log;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("delivery of webhook {id} never reached {attempts} attempts");
    }

    /// Asks for a `ping` to subscription `id`; returns the answer.
    pub async fn ping(&self, id: i64) -> (u16, Value) {
        self.admin(
            reqwest::Method::POST,
            &format!("/api/v1/webhooks/{id}/test"),
            None,
        )
        .await
    }

    /// Moves the clock and lets the dispatcher look at once.
    pub fn advance(&self, d: chrono::Duration) {
        self.clock.advance(d);
    }
}

pub(crate) fn signed_by(r: &crate::receiver::Received, secret: &str) -> bool {
    verify(secret, &r.signature, &r.id, r.timestamp, &r.raw)
}

#[tokio::test]
async fn subscriptions_are_managed_and_secrets_shown_once() {
    let app = webhook_app().await;
    let rx = Receiver::start().await;
    let (id, secret) = app
        .subscribe(json!({"url": format!("{}/hook", rx.url), "format": "generic"}))
        .await;
    assert!(secret.starts_with("whsec_"));
    let (status, one) = app
        .admin(
            reqwest::Method::GET,
            &format!("/api/v1/webhooks/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        one.get("secret").is_none(),
        "secret shown only on creation: {one}"
    );
    assert_eq!(one["min_severity"], "minor");
    let (_, list) = app
        .admin(reqwest::Method::GET, "/api/v1/webhooks", None)
        .await;
    assert_eq!(list["webhooks"].as_array().unwrap().len(), 1);
    let (status, patched) = app
        .admin(
            reqwest::Method::PATCH,
            &format!("/api/v1/webhooks/{id}"),
            Some(json!({"min_severity": "major", "services": ["claude"]})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["services"], json!(["claude"]));
    let (status, rotated) = app
        .admin(
            reqwest::Method::POST,
            &format!("/api/v1/webhooks/{id}/rotate-secret"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    assert!(rotated["rotating_until"].is_string());
    // During rotation a ping carries both signatures.
    app.ping(id).await;
    eventually("the ping arrives", || !rx.received().is_empty()).await;
    let ping = &rx.received()[0];
    assert_eq!(ping.body["type"], "ping");
    assert!(signed_by(ping, &secret) && signed_by(ping, &new_secret));
    let (status, _) = app
        .admin(
            reqwest::Method::DELETE,
            &format!("/api/v1/webhooks/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = app
        .admin(
            reqwest::Method::GET,
            &format!("/api/v1/webhooks/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn bad_subscriptions_and_private_targets_are_refused() {
    let app = spawn_app().await; // private targets not allowed
    let bad = [
        (
            json!({"url": "http://127.0.0.1:9/x", "format": "generic"}),
            422,
            "invalid_target",
        ),
        (
            json!({"url": "http://169.254.169.254/latest", "format": "generic"}),
            422,
            "invalid_target",
        ),
        (
            json!({"url": "ftp://example.com/x", "format": "generic"}),
            422,
            "invalid_target",
        ),
        (
            json!({"url": "https://example.com/x", "format": "telegram"}),
            422,
            "invalid_format",
        ),
        (
            json!({"url": "https://example.com/x", "format": "pagerduty"}),
            422,
            "missing_routing_key",
        ),
        (
            json!({"url": "https://example.com/x", "format": "generic", "min_severity": "huge"}),
            422,
            "invalid_severity",
        ),
        (
            json!({"url": "https://example.com/x", "format": "generic", "services": ["nope"]}),
            422,
            "unknown_service",
        ),
    ];
    for (body, status, code) in bad {
        let (s, b) = app
            .admin(
                reqwest::Method::POST,
                "/api/v1/webhooks",
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}"
        );
    }
    let anonymous = app
        .client
        .get(app.url("/api/v1/webhooks"))
        .send()
        .await
        .unwrap();
    assert_error(anonymous, 401, "missing_token").await;
}

#[tokio::test]
async fn a_receiver_failing_twice_gets_the_message_once_with_one_id() {
    let app = webhook_app().await;
    let rx = Receiver::start().await;
    rx.script(&[Reply::Status(500), Reply::Status(503)]);
    let (id, secret) = app
        .subscribe(json!({"url": format!("{}/hook", rx.url), "format": "generic"}))
        .await;
    app.ping(id).await;
    eventually("first attempt", || rx.received().len() == 1).await;
    let log = app.recorded_attempts(id, 1).await;
    assert_eq!(log[0]["status"], "pending");
    assert_eq!(log[0]["last_status_code"], 500);
    // Retries follow the schedule by the clock: 5 s, then 5 min.
    app.advance(chrono::Duration::seconds(6));
    eventually("second attempt", || rx.received().len() == 2).await;
    app.recorded_attempts(id, 2).await;
    app.advance(chrono::Duration::minutes(6));
    eventually("third attempt", || rx.received().len() == 3).await;
    let got = rx.received();
    assert!(
        got.iter().all(|r| r.id == got[0].id),
        "one webhook-id on every try"
    );
    assert!(got.iter().all(|r| signed_by(r, &secret)));
    let log = app.recorded_attempts(id, 3).await;
    assert_eq!(log[0]["status"], "delivered", "{log:?}");
    assert_eq!(log[0]["attempts"], 3);
    // Nothing more is sent once delivered.
    app.advance(chrono::Duration::hours(11));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(rx.received().len(), 3);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(
            "downwave_webhook_deliveries_total{format=\"generic\",outcome=\"delivered\"} 1"
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_receiver_that_times_out_is_retried() {
    let app = webhook_app().await;
    let rx = Receiver::start().await;
    rx.script(&[Reply::Slow(Duration::from_secs(3))]);
    let (id, _) = app
        .subscribe(json!({"url": format!("{}/slow", rx.url), "format": "generic"}))
        .await;
    app.ping(id).await;
    let log = app.recorded_attempts(id, 1).await;
    assert_eq!(log[0]["status"], "pending", "{log:?}");
    assert!(
        log[0]["last_error"].as_str().unwrap().contains("timed out"),
        "{log:?}"
    );
    assert!(log[0]["next_attempt_at"].is_string());
    app.advance(chrono::Duration::seconds(6));
    eventually("the retry arrives", || rx.received().len() == 2).await;
}

#[tokio::test]
async fn gone_disables_the_subscription() {
    let app = webhook_app().await;
    let rx = Receiver::start().await;
    rx.script(&[Reply::Status(410)]);
    let (id, _) = app
        .subscribe(json!({"url": format!("{}/gone", rx.url), "format": "generic"}))
        .await;
    app.ping(id).await;
    eventually("the attempt", || rx.received().len() == 1).await;
    let mut w = Value::Null;
    for _ in 0..100 {
        w = app
            .admin(
                reqwest::Method::GET,
                &format!("/api/v1/webhooks/{id}"),
                None,
            )
            .await
            .1;
        if w["enabled"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(w["enabled"], false, "{w}");
    assert!(w["disabled_reason"].as_str().unwrap().contains("410"));
    let (status, body) = app.ping(id).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("webhook_disabled"))
    );
}

/// Only the messages of one event wait for each other. A ping that failed
/// and waits for its retry (5 s, then 5 min, 30 min...) holds up no later
/// ping: an operator who fixed a receiver and presses "test" again sees it
/// arrive at once. (Found by `downwave soak`: pings have no event, and the
/// outbox query took "no event" for one event, so each waited for every
/// earlier pending ping of its subscription, for hours.)
#[tokio::test]
async fn a_failed_ping_waiting_for_its_retry_holds_up_no_later_ping() {
    let app = webhook_app().await;
    let rx = Receiver::start().await;
    rx.script(&[Reply::Status(503)]);
    let (id, _) = app
        .subscribe(json!({"url": format!("{}/hook", rx.url), "format": "generic"}))
        .await;
    app.ping(id).await;
    eventually("the failed attempt", || rx.received().len() == 1).await;
    app.recorded_attempts(id, 1).await;
    // The clock stands still: the first ping's retry is not due.
    app.ping(id).await;
    eventually("the second ping, before the first one's retry", || {
        rx.received().len() == 2
    })
    .await;
    let got = rx.received();
    assert_ne!(got[0].id, got[1].id, "a new message, not the retry");
    app.advance(chrono::Duration::seconds(6));
    eventually("the first ping's retry", || rx.received().len() == 3).await;
    assert_eq!(rx.received()[2].id, got[0].id);
}

#[tokio::test]
async fn a_pending_delivery_survives_a_restart_and_is_not_sent_twice() {
    let app = webhook_app().await;
    let rx = Receiver::start().await;
    rx.script(&[Reply::Status(500)]);
    let (id, secret) = app
        .subscribe(json!({"url": format!("{}/hook", rx.url), "format": "generic"}))
        .await;
    app.ping(id).await;
    eventually("the failed attempt", || rx.received().len() == 1).await;
    app.recorded_attempts(id, 1).await;
    let (settings, dir, clock) = app.stop().await;

    let app = spawn_on(settings, dir, clock).await;
    app.advance(chrono::Duration::seconds(6));
    eventually("delivered after the restart", || rx.received().len() == 2).await;
    let got = rx.received();
    assert_eq!(got[0].id, got[1].id);
    assert!(signed_by(&got[1], &secret));
    app.recorded_attempts(id, 2).await;
    let (settings, dir, clock) = app.stop().await;
    let app = spawn_on(settings, dir, clock).await;
    app.advance(chrono::Duration::hours(12));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(rx.received().len(), 2, "nothing sent twice after success");
    assert_eq!(app.deliveries(id).await[0]["status"], "delivered");
}

/// Every form of an internal address the guard must see through, as a
/// subscription's literal target: refused with the block it falls in.
#[tokio::test]
async fn targets_in_special_purpose_blocks_are_refused() {
    let app = spawn_app().await; // private targets not allowed
    for (host, block) in [
        ("[::7f00:1]", "::/96"),
        ("[::127.0.0.1]", "::/96"),
        ("[64:ff9b::7f00:1]", "127.0.0.0/8"),
        ("[2002:7f00:1::1]", "2002::/16"),
        ("[::ffff:0:7f00:1]", "::ffff:0:0:0/96"),
        ("[::ffff:169.254.169.254]", "169.254.0.0/16"),
        ("192.0.2.2", "192.0.2.0/24"),
        ("198.18.0.1", "198.18.0.0/15"),
        ("240.0.0.1", "240.0.0.0/4"),
        ("2130706433", "127.0.0.0/8"),
    ] {
        let (status, body) = app
            .admin(
                reqwest::Method::POST,
                "/api/v1/webhooks",
                Some(json!({"url": format!("http://{host}:8080/hook"), "format": "generic"})),
            )
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (422, Some("invalid_target")),
            "{host}: {body}"
        );
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("in {block} (")),
            "{host}: {message}"
        );
    }
}

/// A subscription whose name now resolves inside (DNS changed after it was
/// made) is refused at delivery: the client's resolver checks every address
/// it would connect to, and nothing reaches the listener there.
#[tokio::test]
async fn a_name_that_now_resolves_inside_is_refused_at_delivery() {
    let app = spawn_app().await; // private targets not allowed
    let rx = Receiver::start().await;
    let (id, _) = app
        .subscribe(json!({"url": "http://[2606:4700::1111]/hook", "format": "generic"}))
        .await;
    let port = rx.url.rsplit(':').next().unwrap().to_owned();
    app.db()
        .execute(
            "UPDATE webhooks SET url = ?1 WHERE id = ?2",
            downwave::params![format!("http://localhost:{port}/hook"), id],
        )
        .unwrap();
    app.ping(id).await;
    let log = app.recorded_attempts(id, 1).await;
    let error = log[0]["last_error"].as_str().unwrap();
    assert!(
        error.contains("localhost resolves to") && error.contains("loopback"),
        "{error}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(rx.received().is_empty(), "nothing reached the listener");
}

/// A server whose attempts wait 15 s for an answer, as in production.
async fn patient_webhook_app(tweak: impl FnOnce(&mut downwave::config::Settings)) -> TestApp {
    spawn_app_with(|s| {
        s.webhook_allow_private = true;
        s.webhook_timeout = Duration::from_secs(15);
        tweak(s);
    })
    .await
}

/// Waits (real time) until `rx` got a request; panics past `limit`.
async fn within(limit: Duration, rx: &Receiver) -> Duration {
    let sent = std::time::Instant::now();
    while rx.received().is_empty() {
        assert!(sent.elapsed() < limit, "nothing arrived within {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sent.elapsed()
}

/// A receiver that hangs until the timeout holds up no one else: a ping to a
/// healthy receiver queued half a second after one to a hanging receiver
/// arrives within a second, and its outcome is recorded at once.
#[tokio::test]
async fn a_hanging_receiver_does_not_delay_a_healthy_one() {
    let app = patient_webhook_app(|_| {}).await;
    let hanging = Receiver::start().await;
    hanging.script(&[Reply::Slow(Duration::from_secs(14))]);
    let healthy = Receiver::start().await;
    let (slow, _) = app
        .subscribe(json!({"url": format!("{}/hang", hanging.url), "format": "generic"}))
        .await;
    let (fine, _) = app
        .subscribe(json!({"url": format!("{}/ok", healthy.url), "format": "generic"}))
        .await;
    app.ping(slow).await;
    eventually("the hanging attempt", || hanging.received().len() == 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.ping(fine).await;
    within(Duration::from_secs(1), &healthy).await;
    let log = app.recorded_attempts(fine, 1).await;
    assert_eq!(log[0]["status"], "delivered", "{log:?}");
    let hung = app.deliveries(slow).await;
    assert_eq!(
        (hung[0]["status"].as_str(), hung[0]["attempts"].as_i64()),
        (Some("pending"), Some(0)),
        "still under way: {hung:?}"
    );
}

/// A hanging receiver with a backlog takes at most its share of the
/// attempts under way (`webhook_max_in_flight_per_subscription`), so other
/// subscriptions still get theirs at once.
#[tokio::test]
async fn a_hanging_receiver_with_a_backlog_takes_only_its_share() {
    let app = patient_webhook_app(|s| {
        s.webhook_max_in_flight = 4;
        s.webhook_max_in_flight_per_subscription = 2;
    })
    .await;
    let hanging = Receiver::start().await;
    hanging.script(&[Reply::Slow(Duration::from_secs(14)); 6]);
    let healthy = Receiver::start().await;
    let (slow, _) = app
        .subscribe(json!({"url": format!("{}/hang", hanging.url), "format": "generic"}))
        .await;
    let (fine, _) = app
        .subscribe(json!({"url": format!("{}/ok", healthy.url), "format": "generic"}))
        .await;
    // Six announcements of six events, all due: none waits for another.
    let db = app.db();
    for event in 1..=6 {
        db.execute(
            "INSERT INTO deliveries (webhook_id, event_id, kind, message_id, payload, status, \
             attempts, next_attempt_ms, created_ms) \
             VALUES (?1, ?2, 'outage.opened', ?3, '{}', 'pending', 0, 0, 0)",
            downwave::params![slow, event, format!("backlog-{event}")],
        )
        .unwrap();
    }
    eventually("the hanging receiver's share", || {
        hanging.received().len() == 2
    })
    .await;
    app.ping(fine).await;
    within(Duration::from_secs(1), &healthy).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hanging.received().len(), 2, "no more than its share");
}
