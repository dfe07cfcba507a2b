use crate::helpers::*;
use serde_json::json;

fn login() -> serde_json::Value {
    json!({"service": "claude", "category": "login"})
}

#[tokio::test]
async fn a_full_report_is_accepted_and_counted() {
    let app = spawn_app().await;
    let r = app
        .report(json!({
            "service": "claude", "category": "login", "error_code": 529,
            "region": "gb", "platform": "web", "comment": "login spins forever"
        }))
        .await;
    assert_eq!(r.status().as_u16(), 202);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["counted"], true);
    assert_eq!(body["minute"], "2026-03-02T11:49:00Z");
    let id = body["id"].as_i64().unwrap();
    let (region, code, counted): (String, i64, bool) = app
        .db()
        .query_row(
            "SELECT region, error_code, counted FROM reports WHERE id = ?1",
            downwave::params![id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((region.as_str(), code, counted), ("GB", 529, true));
    assert_eq!(app.counted_in_minutes("claude"), 1);
}

#[tokio::test]
async fn raw_addresses_are_never_stored() {
    let app = spawn_app().await;
    app.report_from("203.0.113.77", login()).await;
    let dump: Vec<Vec<u8>> = app
        .db()
        .query_map("SELECT reporter FROM reports", downwave::params![], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(dump.len(), 1);
    assert_eq!(dump[0].len(), 16);
    if crate::backend::skip_on_postgres("the file check reads SQLite's file") {
        return;
    }
    let raw = std::fs::read(&app.db_path).unwrap();
    let needle = b"203.0.113.77";
    assert!(!raw.windows(needle.len()).any(|w| w == needle));
}

#[tokio::test]
async fn every_kind_of_bad_input_gets_its_status_and_code() {
    let app = spawn_app_with(|s| s.max_body_bytes = 1500).await;
    assert_error(
        app.post_raw("application/json", "{\"service\":").await,
        400,
        "malformed_json",
    )
    .await;
    assert_error(
        app.post_raw("text/plain", login().to_string()).await,
        415,
        "unsupported_media_type",
    )
    .await;
    let huge = json!({"service": "claude", "category": "login", "comment": "x".repeat(2000)});
    assert_error(
        app.post_raw("application/json", huge.to_string()).await,
        413,
        "payload_too_large",
    )
    .await;
    let cases = [
        (
            json!({"service": "nope", "category": "login"}),
            404,
            "unknown_service",
        ),
        (
            json!({"service": "claude", "category": "billing"}),
            422,
            "unknown_category",
        ),
        (
            json!({"service": "claude", "category": "login", "error_code": 99}),
            422,
            "invalid_error_code",
        ),
        (
            json!({"service": "claude", "category": "login", "error_code": 600}),
            422,
            "invalid_error_code",
        ),
        (
            json!({"service": "claude", "category": "login", "region": "UK"}),
            422,
            "invalid_region",
        ),
        (
            json!({"service": "claude", "category": "login", "platform": "<b>"}),
            422,
            "invalid_platform",
        ),
        (
            json!({"service": "claude", "category": "login", "comment": "é".repeat(501)}),
            422,
            "comment_too_long",
        ),
        (
            json!({"service": "claude", "category": "login", "user": "me"}),
            422,
            "unknown_field",
        ),
        (
            json!({"service": "claude", "category": "login", "comment": "a\u{0}b"}),
            422,
            "invalid_comment",
        ),
        (
            json!({"service": "claude", "category": "login", "comment": "\u{1b}[31mred"}),
            422,
            "invalid_comment",
        ),
        (
            json!({"service": "claude", "category": "login", "comment": "abc\u{202e}gnp.exe"}),
            422,
            "invalid_comment",
        ),
        (
            json!({"service": "claude", "category": "login", "comment": "\u{2066}x"}),
            422,
            "invalid_comment",
        ),
        (json!({"service": "claude"}), 422, "missing_field"),
        (
            json!({"service": "claude", "category": "login", "error_code": "500"}),
            422,
            "invalid_field",
        ),
    ];
    for (body, status, code) in cases {
        assert_error(app.report(body).await, status, code).await;
    }
    // 500 characters exactly is fine, even multi-byte ones.
    let r = app
        .report(json!({"service": "claude", "category": "login", "comment": "é".repeat(500)}))
        .await;
    assert_eq!(r.status().as_u16(), 202);
    // Nothing refused left a trace.
    let rows: i64 = app
        .db()
        .query_row("SELECT COUNT(*) FROM reports", downwave::params![], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(rows, 1);
}

#[tokio::test]
async fn a_comment_in_two_lines_and_any_script_is_kept() {
    let app = spawn_app().await;
    let comment = "login spins\r\nשגיאה 529\tagain";
    let r = app
        .report(json!({"service": "claude", "category": "login", "comment": comment}))
        .await;
    assert_eq!(r.status().as_u16(), 202);
    let stored: String = app
        .db()
        .query_row("SELECT comment FROM reports", downwave::params![], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(stored, comment);
}

/// Refused reports use up the client's rate too: otherwise a client could
/// send malformed reports (each a parse, some a catalog read) without end.
#[tokio::test]
async fn invalid_reports_count_against_the_rate_limit() {
    let app = spawn_app_with(|s| {
        s.rate_limit_per_minute = 3;
        s.rate_limit_burst = 3;
    })
    .await;
    let from = "192.0.2.60";
    for bad in [
        json!({"service": "claude", "category": "billing"}),
        json!({"service": "nope", "category": "login"}),
        json!({"service": "claude"}),
    ] {
        let status = app.report_status_from(from, bad).await;
        assert!((400..500).contains(&status) && status != 429, "{status}");
    }
    assert_error(app.report_from(from, login()).await, 429, "rate_limited").await;
    assert_error(
        app.report_from(from, json!({"service": "claude", "category": "billing"}))
            .await,
        429,
        "rate_limited",
    )
    .await;
}

#[tokio::test]
async fn a_repeat_inside_the_window_is_stored_but_not_counted() {
    let app = spawn_app().await;
    let first = app.report(login()).await;
    assert_eq!(
        first.status().as_u16(),
        202,
        "{}",
        first.text().await.unwrap()
    );
    let again = app.report(login()).await;
    let status = again.status().as_u16();
    let body: serde_json::Value = again.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["counted"], false);
    assert_eq!(body["reason"], "duplicate");
    // Another service is another count.
    app.create_service("aws", "AWS", &[]).await;
    let other = app
        .report(json!({"service": "aws", "category": "login"}))
        .await;
    assert_eq!(other.status().as_u16(), 202);
    // 14 minutes later: still a repeat. 15 minutes after the first: counts again.
    app.clock.advance(chrono::Duration::minutes(14));
    assert_eq!(app.report(login()).await.status().as_u16(), 200);
    app.clock.advance(chrono::Duration::minutes(1));
    assert_eq!(app.report(login()).await.status().as_u16(), 202);
    assert_eq!(app.counted_in_minutes("claude"), 2);
    let stored: i64 = app
        .db()
        .query_row(
            "SELECT COUNT(*) FROM reports WHERE counted = 0",
            downwave::params![],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stored, 2);
}

#[tokio::test]
async fn client_tokens_tell_people_behind_one_address_apart() {
    let app = spawn_app().await;
    for token in ["phone-a", "phone-b"] {
        let r = app
            .client
            .post(app.url("/api/v1/reports"))
            .header("x-forwarded-for", "192.0.2.9")
            .header("x-downwave-client", token)
            .json(&login())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 202, "{token}");
    }
}

#[tokio::test]
async fn clients_over_the_rate_limit_get_429_with_retry_after() {
    let app = spawn_app_with(|s| {
        s.rate_limit_per_minute = 6;
        s.rate_limit_burst = 3;
    })
    .await;
    for i in 0..3 {
        let cat = ["login", "app", "website"][i];
        let body = json!({"service": "claude", "category": cat});
        let status = app.report_status_from("192.0.2.50", body).await;
        assert!(status == 202 || status == 200);
    }
    let limited = app.report_from("192.0.2.50", login()).await;
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&retry), "retry-after {retry}");
    assert_error(limited, 429, "rate_limited").await;
    // Someone else is not limited.
    assert_eq!(app.report_status_from("192.0.2.51", login()).await, 202);
}

#[tokio::test]
async fn thirty_two_concurrent_clients_are_counted_exactly() {
    let app = std::sync::Arc::new(spawn_app().await);
    let mut tasks = Vec::new();
    for client in 0..32u32 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let (mut counted, mut duplicate) = (0i64, 0i64);
            for i in 0..25u32 {
                // Every fifth report repeats the client's previous address.
                let who = if i % 5 == 4 { i - 1 } else { i };
                let from = format!("198.18.{}.{}", client, who);
                let cat = ["login", "website", "app"][(i % 3) as usize];
                let r = app
                    .report_from(&from, json!({"service": "claude", "category": cat}))
                    .await;
                match r.status().as_u16() {
                    202 => counted += 1,
                    200 => duplicate += 1,
                    s => panic!("unexpected status {s}"),
                }
            }
            (counted, duplicate)
        }));
    }
    let (mut counted, mut duplicate) = (0, 0);
    for t in tasks {
        let (c, d) = t.await.unwrap();
        counted += c;
        duplicate += d;
    }
    assert_eq!(counted, 32 * 20);
    assert_eq!(duplicate, 32 * 5);
    assert_eq!(app.counted_in_minutes("claude"), counted);
    let (_, series) = app.get_json("/api/v1/services/claude/series").await;
    let total: i64 = series["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["count"].as_i64().unwrap())
        .sum();
    assert_eq!(total, counted);
}

/// A full de-duplicator still counts every new reporter, never refuses one,
/// keeps to its bound, and says so in the metrics.
#[tokio::test]
async fn a_full_deduplicator_counts_new_reporters_and_stays_bounded() {
    let app = spawn_app_with(|s| s.dedup_max_reporters = 64).await;
    for i in 0..300u32 {
        let from = format!("198.18.{}.{}", i / 256, i % 256);
        assert_eq!(
            app.report_status_from(&from, login()).await,
            202,
            "report {i}"
        );
    }
    assert_eq!(app.counted_in_minutes("claude"), 300);
    // The writer remembers a batch's reporters (and counts them in the
    // metrics) just after it has answered them: wait for the last one.
    let started = std::time::Instant::now();
    let (held, unremembered) = loop {
        let metrics = app.get("/metrics").await.text().await.unwrap();
        let value = |name: &str| -> f64 {
            metrics
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
                .unwrap_or_else(|| panic!("{name} in {metrics}"))
        };
        let seen = (
            value("downwave_dedup_reporters"),
            value("downwave_dedup_unremembered_total"),
        );
        if seen.0 + seen.1 >= 300.0 || started.elapsed() > std::time::Duration::from_secs(5) {
            break seen;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(held <= 64.0, "{held}");
    assert!(unremembered > 0.0);
    assert_eq!(held + unremembered, 300.0);
}
