use crate::helpers::*;
use chrono::{TimeZone, Utc};
use downwave::sim::{replay, scenario};
use serde_json::{json, Value};

impl TestApp {
    pub async fn import(&self, lines: String) -> reqwest::Response {
        self.client
            .post(self.url("/api/v1/admin/import"))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", "application/x-ndjson")
            .body(lines)
            .send()
            .await
            .unwrap()
    }

    pub async fn events(&self, query: &str) -> Vec<Value> {
        let (status, body) = self.get_json(&format!("/api/v1/events{query}")).await;
        assert_eq!(status, 200, "{body}");
        body["events"].as_array().unwrap().clone()
    }

    pub async fn status_of(&self, slug: &str) -> String {
        let (_, list) = self.get_json("/api/v1/services").await;
        list["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["slug"] == slug)
            .map(|s| s["status"].as_str().unwrap().to_owned())
            .unwrap()
    }
}

/// The march-2 import lines with `from <= at < to` (Unix seconds).
pub fn march2_between(from: i64, to: i64) -> String {
    let s = scenario::march2(0);
    let mut out = String::new();
    for line in replay::import_jsonl(&s).lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let at = chrono::DateTime::parse_from_rfc3339(v["at"].as_str().unwrap()).unwrap();
        if (from..to).contains(&at.timestamp()) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The march-2 import lines, split at `cut` (Unix seconds).
fn march2_lines(cut: i64) -> (String, String, scenario::Scenario) {
    (
        march2_between(i64::MIN, cut),
        march2_between(cut, i64::MAX),
        scenario::march2(0),
    )
}

#[tokio::test]
async fn march_2_through_the_api_one_event_three_waves_live_statuses() {
    let app = spawn_app().await;
    app.create_service("aws", "AWS", &[]).await;
    // Live, mid-outage: the first wave is under way at 12:30.
    let noon_thirty = Utc.with_ymd_and_hms(2026, 3, 2, 12, 30, 0).unwrap();
    app.clock.set(noon_thirty);
    let (before, after, s) = march2_lines(noon_thirty.timestamp());
    let r = app.import(before).await;
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["services"], json!(["claude"]));

    assert_eq!(app.status_of("claude").await, "outage");
    assert_eq!(app.status_of("aws").await, "ok");
    let open = app.events("?status=open&service=claude").await;
    assert_eq!(open.len(), 1, "{open:?}");
    let id = open[0]["id"].as_i64().unwrap();
    assert_eq!(open[0]["started_at"], "2026-03-02T11:49:00Z");
    let detected =
        chrono::DateTime::parse_from_rfc3339(open[0]["detected_at"].as_str().unwrap()).unwrap();
    let first = s.truth.first_abnormal_minute;
    assert!(
        detected.timestamp() - first <= 180,
        "detected within 3 minutes"
    );

    // The rest of the day arrives; the outage runs its course.
    app.clock
        .set(Utc.with_ymd_and_hms(2026, 3, 3, 0, 0, 0).unwrap());
    assert_eq!(app.import(after).await.status().as_u16(), 200);
    let events = app.events("?service=claude").await;
    assert_eq!(events.len(), 1, "still one event: {events:?}");
    let e = &events[0];
    assert_eq!(e["id"].as_i64(), Some(id), "the same event, updated");
    assert_eq!(e["status"], "resolved");
    assert_eq!(e["waves"].as_array().unwrap().len(), 3);
    let excess = e["excess"].as_f64().unwrap();
    let injected = s.truth.injected_reports as f64;
    assert!(
        (excess - injected).abs() / injected < 0.05,
        "excess {excess} vs {injected}"
    );
    assert_eq!(e["top_categories"][0]["value"], "login");
    let codes: Vec<&str> = e["top_error_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["value"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"500") && codes.contains(&"529"));
    assert_eq!(app.status_of("claude").await, "ok");

    let (status, one) = app.get_json(&format!("/api/v1/events/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(one["waves"], e["waves"]);
    assert_error(app.get("/api/v1/events/999").await, 404, "unknown_event").await;

    // The series carries the detector's baseline, band and score.
    let (_, series) = app
        .get_json(
            "/api/v1/services/claude/series?from=2026-03-02T11:40:00Z&to=2026-03-02T12:10:00Z",
        )
        .await;
    let points = series["points"].as_array().unwrap();
    let quiet = &points[0];
    let peak = points.iter().max_by_key(|p| p["count"].as_i64()).unwrap();
    assert!(quiet["baseline"].as_f64().unwrap() > 0.0);
    assert!(peak["count"].as_f64().unwrap() > peak["upper"].as_f64().unwrap());
    assert!(peak["score"].as_f64().unwrap() > quiet["score"].as_f64().unwrap());
}

#[tokio::test]
async fn a_restart_mid_outage_keeps_the_one_open_event() {
    let app = spawn_app().await;
    let noon_thirty = Utc.with_ymd_and_hms(2026, 3, 2, 12, 30, 0).unwrap();
    app.clock.set(noon_thirty);
    let (before, after, _) = march2_lines(noon_thirty.timestamp());
    app.import(before).await;
    let open = app.events("?status=open").await;
    assert_eq!(open.len(), 1);
    let (settings, dir, clock) = app.stop().await;

    let app = spawn_on(settings, dir, clock).await;
    app.monitor.catch_up().await.unwrap();
    assert_eq!(app.status_of("claude").await, "outage");
    assert_eq!(app.events("").await.len(), 1);
    app.clock
        .set(Utc.with_ymd_and_hms(2026, 3, 3, 0, 0, 0).unwrap());
    app.import(after).await;
    let events = app.events("").await;
    assert_eq!(events.len(), 1, "no second event for the same outage");
    assert_eq!(events[0]["id"], open[0]["id"]);
    assert_eq!(events[0]["status"], "resolved");
}

#[tokio::test]
async fn imports_are_checked_whole_before_anything_is_written() {
    let app = spawn_app_with(|s| s.import_max_bytes = 2000).await;
    app.clock
        .set(Utc.with_ymd_and_hms(2026, 3, 3, 0, 0, 0).unwrap());
    let good = r#"{"service":"claude","category":"login","at":"2026-03-02T11:50:00Z"}"#;
    let lines = format!("{good}\n{good}\n{{\"service\":\"claude\",\"category\":\"nope\",\"at\":\"2026-03-02T11:51:00Z\"}}\n");
    let body = assert_error(app.import(lines).await, 422, "unknown_category").await;
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("line 3:"));
    let future = r#"{"service":"claude","category":"login","at":"2026-04-01T00:00:00Z"}"#;
    assert_error(app.import(future.into()).await, 422, "future_timestamp").await;
    // A leap second is stored as the next minute's first second, and judged
    // so: one at the end of the minute after now is in the future.
    let leap = r#"{"service":"claude","category":"login","at":"2026-03-03T00:00:60.5Z"}"#;
    assert_error(app.import(leap.into()).await, 422, "future_timestamp").await;
    assert_error(
        app.import(format!("{good}\nnot json\n")).await,
        422,
        "malformed_json",
    )
    .await;
    assert_error(
        app.import(format!("{good}\n").repeat(40)).await,
        413,
        "payload_too_large",
    )
    .await;
    let plain = app
        .client
        .post(app.url("/api/v1/admin/import"))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body(good)
        .send()
        .await
        .unwrap();
    assert_error(plain, 415, "unsupported_media_type").await;
    let anonymous = app
        .client
        .post(app.url("/api/v1/admin/import"))
        .header("content-type", "application/x-ndjson")
        .body(good)
        .send()
        .await
        .unwrap();
    assert_error(anonymous, 401, "missing_token").await;
    let rows: i64 = app
        .db()
        .query_row("SELECT COUNT(*) FROM reports", downwave::params![], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(rows, 0, "nothing from a refused import");
    // A good import lands whole, the last line without a newline too.
    let r = app.import(format!("{good}\n\n{good}")).await;
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["imported"], 2);
    assert_eq!(app.counted_in_minutes("claude"), 2);
}

/// A report older than `import_max_age_days` is refused with the line that
/// holds it, the import whole; a year-old line or one from year 1 would have
/// the detector replay every minute since.
#[tokio::test]
async fn imported_reports_older_than_the_limit_are_refused() {
    let app = spawn_app_with(|s| {
        s.import_max_age = std::time::Duration::from_secs(30 * 86_400);
    })
    .await;
    // The clock is at 2026-03-02T11:49:00Z.
    let line = |at: &str| format!(r#"{{"service":"claude","category":"login","at":"{at}"}}"#);
    let recent = line("2026-01-31T11:50:00Z");
    for old in [
        "2026-01-31T11:48:59Z",
        "2025-03-02T11:49:00Z",
        "0001-01-01T00:00:00Z",
    ] {
        let r = app
            .import(format!(
                "{recent}
{}
",
                line(old)
            ))
            .await;
        let body = assert_error(r, 422, "timestamp_too_old").await;
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with("line 2:") && message.contains("30 days"),
            "{message}"
        );
    }
    let rows: i64 = app
        .db()
        .query_row("SELECT COUNT(*) FROM reports", downwave::params![], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(rows, 0, "nothing from a refused import");
    let r = app.import(recent).await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(app.counted_in_minutes("claude"), 1);
}

/// Each service's last closed minute as the detector saw it (None before
/// its first), from `/api/v1/services`.
async fn detector_minutes_of(app: &TestApp) -> std::collections::HashMap<String, Option<String>> {
    let (_, list) = app.get_json("/api/v1/services").await;
    list["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let minute = s["last_minute"]["minute"].as_str().map(str::to_owned);
            (s["slug"].as_str().unwrap().to_owned(), minute)
        })
        .collect()
}

/// While the detector replays months of imported history for one service,
/// another service's minutes are judged as they close: the replay goes a day
/// at a time, with the live minutes between.
#[tokio::test]
async fn live_minutes_are_judged_while_a_long_replay_runs() {
    let app = std::sync::Arc::new(spawn_app().await);
    app.create_service("aws", "AWS", &[]).await;
    app.monitor.catch_up().await.unwrap();
    // 85 days of history for claude, older than its detector's position: it
    // relearns them all, about 122,000 minutes.
    let now = start_time();
    let lines: String = (0..85 * 4)
        .map(|i| {
            let at = (now - chrono::Duration::hours(85 * 24) + chrono::Duration::hours(6 * i))
                .to_rfc3339();
            format!("{{\"service\":\"claude\",\"category\":\"login\",\"at\":\"{at}\"}}\n")
        })
        .collect();
    let importing = {
        let app = app.clone();
        tokio::spawn(async move { app.import(lines).await.status().as_u16() })
    };
    let day_ago =
        (now - chrono::Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let replaying = |m: &std::collections::HashMap<String, Option<String>>| {
        m["claude"].as_deref().is_some_and(|c| c < day_ago.as_str())
    };
    loop {
        assert!(
            !importing.is_finished(),
            "the replay ended before it was seen"
        );
        if replaying(&detector_minutes_of(&app).await) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // A report for aws, and its minute closes while claude replays.
    let aws = json!({"service": "aws", "category": "login"});
    assert_eq!(app.report_status_from("192.0.2.1", aws).await, 202);
    app.clock.advance(chrono::Duration::seconds(63));
    let judged = "2026-03-02T11:49:00Z";
    loop {
        let minutes = detector_minutes_of(&app).await;
        if minutes["aws"].as_deref() == Some(judged) {
            assert!(
                replaying(&minutes),
                "aws's minute was judged only once claude's replay was over: {minutes:?}"
            );
            break;
        }
        assert!(
            !importing.is_finished(),
            "the replay ended before aws's minute was judged"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(importing.await.unwrap(), 200);
    let minutes = detector_minutes_of(&app).await;
    assert_eq!(
        minutes["claude"].as_deref(),
        Some(judged),
        "claude caught up"
    );
}

/// A relearning detector replays at most `import_max_age_days`: older
/// history stays stored, and an outage in it stays as it was, neither
/// dropped nor taken back.
#[tokio::test]
async fn a_replay_walks_at_most_the_import_age_and_keeps_older_events() {
    let app = spawn_app_with(|s| {
        s.import_max_age = std::time::Duration::from_secs(10 * 86_400);
    })
    .await;
    let after_outage = Utc.with_ymd_and_hms(2026, 3, 2, 16, 30, 0).unwrap();
    app.clock.set(after_outage);
    let r = app
        .import(march2_between(i64::MIN, after_outage.timestamp()))
        .await;
    assert_eq!(r.status().as_u16(), 200);
    let before = app.events("?service=claude").await;
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!(before[0]["status"], "resolved");

    // Eleven days on, the outage is older than a replay reaches.
    let later = Utc.with_ymd_and_hms(2026, 3, 13, 12, 0, 0).unwrap();
    app.clock.set(later);
    app.monitor.catch_up().await.unwrap();
    // A late report from the morning, behind the detector: it relearns.
    let late = r#"{"service":"claude","category":"login","at":"2026-03-13T09:00:00Z"}"#;
    let r = app.import(late.into()).await;
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());

    let first_judged: i64 = app
        .db()
        .query_row(
            "SELECT MIN(m.minute) FROM detector_minutes m \
             JOIN services s ON s.id = m.service_id WHERE s.slug = 'claude'",
            downwave::params![],
            |r| r.get(0),
        )
        .unwrap();
    // The last closed minute (11:58) less ten days, not 23 February.
    let reach = Utc.with_ymd_and_hms(2026, 3, 3, 11, 58, 0).unwrap();
    assert_eq!(first_judged, reach.timestamp());
    let after = app.events("?service=claude").await;
    assert_eq!(after, before, "the outage is kept as it was");
}
