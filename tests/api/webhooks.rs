use crate::events::march2_between;
use crate::helpers::*;
use crate::receiver::{eventually, Receiver, Reply};
use chrono::{DateTime, TimeZone, Utc};
use downwave::alert::signing::verify;
use serde_json::{json, Value};
use std::time::Duration;

async fn webhook_app() -> TestApp {
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

fn signed_by(r: &crate::receiver::Received, secret: &str) -> bool {
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

/// The message types a receiver path got, in arrival order.
fn kinds_at(rx: &Receiver, path: &str) -> Vec<String> {
    rx.received_at(path)
        .iter()
        .map(|r| r.body["type"].as_str().unwrap().to_owned())
        .collect()
}

/// Plays march-2 into the server as reports would arrive live: the history up
/// to 11:00 (before the outage) at once, then minute by minute until 16:30,
/// each minute's reports imported before the clock passes that minute.
/// (Moving the clock an hour ahead before importing that hour let the live
/// detector, which ticks every second, now and then close those minutes empty
/// first and resolve the event before its waves.)
async fn play_march_2(app: &TestApp) {
    play_march_2_until(app, 16 * 60 + 30).await;
}

/// [`play_march_2`] up to `end_minute` (minutes after midnight, from 11:00).
async fn play_march_2_until(app: &TestApp, end_minute: i64) {
    let day = Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap();
    let first = (day + chrono::Duration::minutes(11 * 60)).timestamp();
    let end = (day + chrono::Duration::minutes(end_minute)).timestamp();
    app.clock.set(Utc.timestamp_opt(first, 0).unwrap());
    let r = app.import(march2_between(i64::MIN, first)).await;
    assert_eq!(r.status().as_u16(), 200);
    let mut by_minute: std::collections::BTreeMap<i64, String> = Default::default();
    for line in march2_between(first, end).lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let at = chrono::DateTime::parse_from_rfc3339(v["at"].as_str().unwrap()).unwrap();
        let lines = by_minute
            .entry(at.timestamp().div_euclid(60) * 60)
            .or_default();
        lines.push_str(line);
        lines.push('\n');
    }
    let mut minute = first;
    while minute < end {
        // The clock is at `minute`: its reports are not from the future.
        if let Some(lines) = by_minute.remove(&minute) {
            let r = app.import(lines).await;
            assert_eq!(r.status().as_u16(), 200);
        }
        minute += 60;
        app.clock.set(Utc.timestamp_opt(minute, 0).unwrap());
    }
}

#[tokio::test]
async fn march_2_is_announced_in_order_to_matching_subscriptions_in_every_format() {
    let app = webhook_app().await;
    app.create_service("aws", "AWS", &[]).await;
    let rx = Receiver::start().await;
    let mut secrets = Vec::new();
    for format in ["generic", "slack", "discord", "pagerduty", "alertmanager"] {
        let mut body = json!({"url": format!("{}/{format}", rx.url), "format": format});
        if format == "pagerduty" {
            body["routing_key"] = json!("R0UT1NG");
        }
        secrets.push((format, app.subscribe(body).await.1));
    }
    let (_, critical_secret) = app
        .subscribe(json!({"url": format!("{}/critical", rx.url), "format": "generic", "min_severity": "critical"}))
        .await;
    app.subscribe(
        json!({"url": format!("{}/aws-only", rx.url), "format": "generic", "services": ["aws"]}),
    )
    .await;
    app.subscribe(json!({"url": format!("{}/off", rx.url), "format": "generic", "enabled": false}))
        .await;

    play_march_2(&app).await;
    eventually("every message of the event", || {
        rx.received_at("/generic").len() >= 4
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let kinds = kinds_at(&rx, "/generic");
    assert_eq!(
        kinds,
        [
            "outage.opened",
            "outage.wave",
            "outage.wave",
            "outage.resolved"
        ],
        "opened, a wave per new wave, resolved"
    );
    let generic = rx.received_at("/generic");
    let event_id = generic[0].body["data"]["id"].clone();
    assert!(
        generic.iter().all(|r| r.body["data"]["id"] == event_id),
        "one event id ties them"
    );
    assert!(
        generic.iter().all(|r| r.body["data"]["withdrawn"] == false),
        "an outage that ended is not a withdrawn one"
    );
    assert!(generic[0].body["data"]["url"]
        .as_str()
        .unwrap()
        .starts_with("https://downwave.example/e/"));
    for (format, secret) in &secrets {
        let got = rx.received_at(&format!("/{format}"));
        assert_eq!(got.len(), 4, "{format}");
        assert!(
            got.iter().all(|r| signed_by(r, secret)),
            "{format} signatures"
        );
    }
    let slack = &rx.received_at("/slack")[0].body;
    assert!(slack["text"].is_string() && slack["blocks"].is_array());
    let discord = &rx.received_at("/discord")[0].body;
    assert_eq!(discord["allowed_mentions"]["parse"], json!([]));
    assert!(discord["embeds"][0]["title"].is_string());
    let pd = rx.received_at("/pagerduty");
    let actions: Vec<&str> = pd
        .iter()
        .map(|r| r.body["event_action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["trigger", "trigger", "trigger", "resolve"]);
    assert!(pd
        .iter()
        .all(|r| r.body["dedup_key"] == pd[0].body["dedup_key"]));
    assert_eq!(pd[0].body["routing_key"], "R0UT1NG");
    let am = rx.received_at("/alertmanager");
    assert_eq!(am[0].body["version"], "4");
    assert_eq!(am[0].body["status"], "firing");
    assert_eq!(am[3].body["status"], "resolved");
    assert_eq!(
        am[0].body["alerts"][0]["fingerprint"],
        am[3].body["alerts"][0]["fingerprint"]
    );

    // The critical-only subscription hears of the event once it is critical,
    // still opened first and resolved last.
    let critical = rx.received_at("/critical");
    assert!(!critical.is_empty());
    assert_eq!(critical[0].body["type"], "outage.opened");
    assert_eq!(critical.last().unwrap().body["type"], "outage.resolved");
    assert!(critical.iter().all(|r| signed_by(r, &critical_secret)));
    assert!(
        rx.received_at("/aws-only").is_empty(),
        "filtered by service"
    );
    assert!(rx.received_at("/off").is_empty(), "disabled");
}

/// A server with a generic subscription, march-2 played up to 12:30 and its
/// opening received: the live outage the replay tests start from.
async fn live_march_2_outage() -> (TestApp, Receiver) {
    let app = webhook_app().await;
    let rx = Receiver::start().await;
    app.subscribe(json!({"url": format!("{}/generic", rx.url), "format": "generic"}))
        .await;
    play_march_2_until(&app, 12 * 60 + 30).await;
    eventually("the opening", || !rx.received_at("/generic").is_empty()).await;
    (app, rx)
}

/// Import lines of one `login` report of claude at each time.
fn login_reports_at(times: impl IntoIterator<Item = DateTime<Utc>>) -> String {
    times
        .into_iter()
        .map(|at| {
            let at = at.to_rfc3339();
            format!("{{\"service\":\"claude\",\"category\":\"login\",\"at\":\"{at}\"}}\n")
        })
        .collect()
}

/// History imported behind the detector makes it replay from the start; the
/// outage it finds again keeps its id, and no one is told of it twice.
#[tokio::test]
async fn a_replay_after_a_late_import_does_not_announce_the_outage_again() {
    let (app, rx) = live_march_2_outage().await;
    let before = app.events("?service=claude").await;
    assert_eq!(before.len(), 1, "{before:?}");
    // An event of another service with a higher id, so that a re-created
    // event could not get its old id back by chance.
    app.create_service("aws", "AWS", &[]).await;
    app.db()
        .execute(
            "INSERT INTO events (id, service_id, seq, status, started_at, detected_at, opened_by, \
             peak_at, peak, ended_at, resolved_at, total, excess, expected, severity, waves) \
             SELECT 1000, id, 1, 'resolved', 0, 60, 'bucket', 60, 9, 120, 180, 9, 8, 1, 'minor', '[]' \
             FROM services WHERE slug = 'aws'",
            [],
        )
        .unwrap();

    // Late reports from the morning before the outage: behind the detector.
    let day = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
    let late = login_reports_at((0..5).map(|i| day + chrono::Duration::minutes(i)));
    let r = app.import(late).await;
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());

    let after = app.events("?service=claude").await;
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(
        after[0]["id"], before[0]["id"],
        "the same event, updated in place"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let kinds = kinds_at(&rx, "/generic");
    assert_eq!(kinds, ["outage.opened"], "told once");
}

/// A replay that no longer finds an event its subscribers were told of
/// closes it for them: their incident (a PagerDuty page, an Alertmanager
/// alert) would otherwise stay open for good.
#[tokio::test]
async fn an_announced_event_a_replay_drops_is_resolved_for_its_subscribers() {
    let (app, rx) = live_march_2_outage().await;
    // A second event of claude that subscribers were told opened, which the
    // replay below will not find (the march-2 outage is one event).
    let db = app.db();
    db.execute(
        "INSERT INTO events (id, service_id, seq, status, started_at, detected_at, opened_by, \
         peak_at, peak, ended_at, resolved_at, total, excess, expected, severity, waves) \
         SELECT 500, service_id, seq + 1, 'open', started_at + 3600, detected_at + 3600, \
         opened_by, peak_at + 3600, peak, ended_at + 3600, NULL, total, excess, expected, \
         severity, waves FROM events",
        [],
    )
    .unwrap();
    db.execute(
        "INSERT INTO deliveries (webhook_id, event_id, kind, message_id, dedup_key, payload, \
         status, attempts, created_ms) SELECT id, 500, 'outage.opened', 'seen-500', \
         id || ':500:outage.opened:0', '{}', 'delivered', 1, 0 FROM webhooks",
        [],
    )
    .unwrap();

    // Late reports from the morning rewind the detector; its replay finds
    // event 1 again and not event 2.
    let day = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
    let late = login_reports_at([day]);
    let r = app.import(late).await;
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());

    let events = app.events("?service=claude").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_ne!(events[0]["id"], 500);
    eventually("the dropped event's resolution", || {
        rx.received_at("/generic")
            .iter()
            .any(|r| r.body["type"] == "outage.resolved" && r.body["data"]["id"] == 500)
    })
    .await;
    let resolved = rx
        .received_at("/generic")
        .into_iter()
        .find(|r| r.body["data"]["id"] == 500)
        .unwrap();
    assert_eq!(resolved.body["data"]["status"], "resolved");
    // Taken back, not ended: the payload says so.
    assert_eq!(resolved.body["data"]["withdrawn"], true);
    // Event 1 was not touched: told of its opening once, nothing else.
    assert_eq!(
        kinds_at(&rx, "/generic"),
        ["outage.opened", "outage.resolved"]
    );
}

/// An operator imports older history after going live, and it holds an
/// earlier outage: the replay numbers that one first, and the live outage
/// second. The live outage must keep its id, so that its subscribers are not
/// told again that it opened (nor left with an incident that never closes).
#[tokio::test]
async fn history_imported_after_going_live_does_not_renumber_the_live_outage() {
    let (app, rx) = live_march_2_outage().await;
    let live = app.events("?service=claude").await;
    assert_eq!(live.len(), 1, "{live:?}");

    // An outage the day before: 300 reports a minute for 20 minutes.
    let start = Utc.with_ymd_and_hms(2026, 3, 1, 14, 0, 0).unwrap();
    let earlier = login_reports_at(
        (0..20 * 300).map(|i| start + chrono::Duration::seconds(i / 300 * 60 + i % 60)),
    );
    let r = app.import(earlier).await;
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());

    let events = app.events("?service=claude").await;
    assert_eq!(events.len(), 2, "{events:?}");
    let live_now = events
        .iter()
        .find(|e| e["started_at"] == live[0]["started_at"])
        .unwrap_or_else(|| panic!("the live outage is still there: {events:?}"));
    assert_eq!(live_now["id"], live[0]["id"], "the live outage kept its id");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // The earlier outage is older than alert_max_age: not announced.
    assert_eq!(kinds_at(&rx, "/generic"), ["outage.opened"], "told once");
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
            rusqlite::params![format!("http://localhost:{port}/hook"), id],
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
             VALUES (?1, ?2, 'outage.opened', 'backlog-' || ?2, '{}', 'pending', 0, 0, 0)",
            rusqlite::params![slow, event],
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
