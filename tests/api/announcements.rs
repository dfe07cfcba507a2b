//! What subscribers are told of an outage: the march-2 outage announced in
//! order in every format, and the announcements kept honest when history
//! is imported or replayed after going live.

use crate::events::march2_between;
use crate::helpers::*;
use crate::receiver::{eventually, Receiver};
use crate::webhooks::{signed_by, webhook_app};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use std::time::Duration;

/// The message types a receiver path got, in arrival order.
pub(crate) fn kinds_at(rx: &Receiver, path: &str) -> Vec<String> {
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
pub(crate) async fn play_march_2_until(app: &TestApp, end_minute: i64) {
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
            downwave::params![],
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
        downwave::params![],
    )
    .unwrap();
    db.execute(
        "INSERT INTO deliveries (webhook_id, event_id, kind, message_id, dedup_key, payload, \
         status, attempts, created_ms) SELECT id, 500, 'outage.opened', 'seen-500', \
         id || ':500:outage.opened:0', '{}', 'delivered', 1, 0 FROM webhooks",
        downwave::params![],
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
