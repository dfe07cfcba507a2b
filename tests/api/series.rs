use crate::helpers::*;
use chrono::Duration;
use serde_json::json;

async fn report_at(app: &TestApp, n: u32, who: &str, category: &str) {
    let r = app
        .report_from(
            &format!("192.0.2.{n}"),
            json!({"service": "claude", "category": category, "error_code": 500, "region": who}),
        )
        .await;
    let status = r.status().as_u16();
    assert_eq!(status, 202, "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn series_are_zero_filled_per_minute_with_categories() {
    let app = spawn_app().await;
    // 11:49: two login, one app. 11:51: one website.
    report_at(&app, 1, "GB", "login").await;
    report_at(&app, 2, "GB", "login").await;
    report_at(&app, 3, "US", "app").await;
    app.clock.advance(Duration::minutes(2));
    report_at(&app, 4, "US", "website").await;

    let (status, s) = app
        .get_json(
            "/api/v1/services/claude/series?from=2026-03-02T11:48:00Z&to=2026-03-02T11:53:00Z",
        )
        .await;
    assert_eq!(status, 200, "{s}");
    let points = s["points"].as_array().unwrap();
    let counts: Vec<i64> = points
        .iter()
        .map(|p| p["count"].as_i64().unwrap())
        .collect();
    assert_eq!(counts, [0, 3, 0, 1, 0]);
    assert_eq!(points[1]["t"], "2026-03-02T11:49:00Z");
    assert_eq!(points[1]["categories"], json!({"login": 2, "app": 1}));

    // Hourly buckets sum the minutes; the default range is the last 24 h.
    let (_, hourly) = app
        .get_json("/api/v1/services/claude/series?step=3600")
        .await;
    let pts = hourly["points"].as_array().unwrap();
    assert_eq!(pts.len(), 24);
    assert_eq!(pts.last().unwrap()["t"], "2026-03-02T11:00:00Z");
    assert_eq!(pts.last().unwrap()["count"], 4);
    let (_, default) = app.get_json("/api/v1/services/claude/series").await;
    assert_eq!(default["points"].as_array().unwrap().len(), 1440);
    assert_eq!(default["step"], 60);
}

#[tokio::test]
async fn series_limits_are_enforced() {
    let app = spawn_app().await;
    let (status, body) = app
        .get_json(
            "/api/v1/services/claude/series?from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z",
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("span_too_large"))
    );
    // The same span is fine at a coarser step.
    let (status, _) = app
        .get_json("/api/v1/services/claude/series?from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z&step=3600")
        .await;
    assert_eq!(status, 200);
    assert_error(
        app.get("/api/v1/services/claude/series?step=61").await,
        422,
        "invalid_step",
    )
    .await;
    assert_error(
        app.get("/api/v1/services/claude/series?from=2026-03-02T12:00:00Z&to=2026-03-02T11:00:00Z")
            .await,
        422,
        "invalid_range",
    )
    .await;
    assert_error(
        app.get("/api/v1/services/claude/series?from=yesterday")
            .await,
        400,
        "invalid_query",
    )
    .await;
    assert_error(
        app.get("/api/v1/services/nope/series").await,
        404,
        "unknown_service",
    )
    .await;
}

#[tokio::test]
async fn summary_reports_windows_and_top_values() {
    let app = spawn_app().await;
    report_at(&app, 1, "GB", "login").await;
    app.clock.advance(Duration::minutes(30));
    report_at(&app, 2, "GB", "login").await;
    app.clock.advance(Duration::minutes(20));
    report_at(&app, 3, "US", "app").await;
    report_at(&app, 4, "GB", "login").await;
    let (status, s) = app.get_json("/api/v1/services/claude/summary").await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(s["last_15m"], 2);
    assert_eq!(s["last_hour"], 4);
    assert_eq!(s["last_day"], 4);
    assert_eq!(
        s["categories"][0],
        json!({"value": "login", "count": 3, "percent": 75.0})
    );
    assert_eq!(
        s["regions"][0],
        json!({"value": "GB", "count": 3, "percent": 75.0})
    );
    assert_eq!(s["error_codes"][0]["value"], "500");
    // An hour and a day later, the windows empty in turn.
    app.clock.advance(Duration::minutes(61));
    let (_, s) = app.get_json("/api/v1/services/claude/summary").await;
    assert_eq!(
        (
            s["last_15m"].as_i64(),
            s["last_hour"].as_i64(),
            s["last_day"].as_i64()
        ),
        (Some(0), Some(0), Some(4))
    );
}

/// Raw reports older than `report_retention_days` are deleted (at start, as
/// every ten minutes after); the counts they made stay, and so do newer
/// reports.
#[tokio::test]
async fn old_reports_age_out_and_their_counts_stay() {
    // Kept for good at first, so that nothing is deleted before it is seen.
    let app = spawn_app_with(|s| s.report_retention_days = 0).await;
    let old = start_time() - Duration::days(3);
    let lines: String = (0..5)
        .map(|i| {
            let at = (old + Duration::minutes(i)).to_rfc3339();
            format!(
                "{}\n",
                json!({"service": "claude", "category": "login", "at": at})
            )
        })
        .collect();
    assert_eq!(app.import(lines).await.status().as_u16(), 200);
    report_at(&app, 1, "GB", "login").await;
    let stored = |app: &TestApp| -> i64 {
        app.db()
            .query_row("SELECT count(*) FROM reports", downwave::params![], |r| {
                r.get(0)
            })
            .unwrap()
    };
    assert_eq!(stored(&app), 6);

    let (mut settings, dir, clock) = app.stop().await;
    settings.report_retention_days = 2;
    let app = spawn_on(settings, dir, clock).await;
    for _ in 0..100 {
        if stored(&app) == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(stored(&app), 1, "the report of today stays");
    assert_eq!(
        app.minute_counts("claude", old, 5).await,
        [1, 1, 1, 1, 1],
        "the counts stay"
    );
    app.wait_for_metrics(&["downwave_reports_pruned_total 5"])
        .await;
}

/// Detector minutes (the charts' expected band, one row per service and
/// minute) go after `detector_minute_retention_days`, but never within the
/// reach of a replay (`import_max_age_days` and a day): with 1 day asked
/// for and imports reaching 2 days back, 3 days are kept.
#[tokio::test]
async fn old_detector_minutes_age_out_but_never_within_a_replay() {
    let app = spawn_app().await;
    let old = start_time() - Duration::days(5);
    let line = json!({"service": "claude", "category": "login", "at": old.to_rfc3339()});
    assert_eq!(app.import(format!("{line}\n")).await.status().as_u16(), 200);
    let minutes = |app: &TestApp| -> (i64, i64) {
        app.db()
            .query_row(
                "SELECT count(*), MIN(minute) FROM detector_minutes",
                downwave::params![],
                |r| Ok((r.get(0)?, r.get::<Option<i64>>(1)?.unwrap_or(0))),
            )
            .unwrap()
    };
    let (before, first) = minutes(&app);
    assert!(
        first <= old.timestamp(),
        "the replay's minutes from {first}"
    );
    assert!(before > 4 * 1440, "{before} minutes");

    let (mut settings, dir, clock) = app.stop().await;
    settings.detector_minute_retention_days = 1;
    settings.import_max_age = std::time::Duration::from_secs(2 * 86_400);
    let app = spawn_on(settings, dir, clock).await;
    let cutoff = (start_time() - Duration::days(3)).timestamp();
    crate::receiver::eventually("minutes past 3 days deleted", || minutes(&app).1 >= cutoff).await;
    let (after, first) = minutes(&app);
    assert!(first < cutoff + 60, "kept from {first}, not later");
    app.wait_for_metrics(&[&format!(
        "downwave_detector_minutes_pruned_total {}",
        before - after
    )])
    .await;
    assert_eq!(
        app.minute_counts("claude", old, 1).await,
        [1],
        "the counts stay"
    );
}
