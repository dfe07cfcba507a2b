//! Maintenance windows: made, listed, ended and refused through the API, and
//! what subscribers hear of an outage that opens during one.

use crate::announcements::{kinds_at, play_march_2_until};
use crate::helpers::*;
use crate::receiver::{eventually, Receiver};
use crate::webhooks::webhook_app;
use chrono::{TimeZone, Utc};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

const WINDOWS: &str = "/api/v1/services/claude/maintenance";

/// 2 March 2026 at `h:m` UTC, in RFC 3339.
fn march_2(h: u32, m: u32) -> String {
    Utc.with_ymd_and_hms(2026, 3, 2, h, m, 0)
        .unwrap()
        .to_rfc3339()
}

/// The page at `path` once it says `text` (pages follow a change within the
/// monitor's tick); fails after 5 s.
async fn page_saying(app: &TestApp, path: &str, text: &str) -> String {
    for _ in 0..100 {
        let body = app.get(path).await.text().await.unwrap();
        if body.contains(text) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{path} never said {text:?}");
}

#[tokio::test]
async fn windows_are_made_listed_ended_and_cancelled() {
    let app = spawn_app_with(|s| s.maintenance_max_windows = 2).await;
    app.clock
        .set(Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap());
    let post = |body: Value| app.admin(Method::POST, WINDOWS, Some(body));

    // The page as it was before any window (rendered and kept).
    let before = app.get("/s/claude").await.text().await.unwrap();
    assert!(!before.contains("class=\"notice\""));
    // Started now, for an hour.
    let (status, now) = post(json!({"minutes": 60, "reason": "database upgrade"})).await;
    assert_eq!(status, 201, "{now}");
    assert_eq!(now["starts_at"], "2026-03-02T10:00:00Z");
    assert_eq!(now["ends_at"], "2026-03-02T11:00:00Z");
    assert_eq!(now["state"], "in_progress");
    assert_eq!(now["reason"], "database upgrade");
    // The service page says so (a new version of it, not the cached one).
    let page = page_saying(&app, "/s/claude", "<strong>Maintenance</strong> until").await;
    assert!(page.contains("database upgrade"));
    // Scheduled ahead.
    let (status, later) =
        post(json!({"starts_at": march_2(20, 0), "ends_at": march_2(22, 0)})).await;
    assert_eq!(status, 201, "{later}");
    assert_eq!(later["state"], "scheduled");
    // A third not yet over is one too many.
    let (status, body) = post(json!({"minutes": 5})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("too_many_windows"))
    );

    let (status, list) = app.get_json(WINDOWS).await;
    assert_eq!(status, 200);
    let ids: Vec<&Value> = list["maintenance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| &w["id"])
        .collect();
    assert_eq!(ids, [&now["id"], &later["id"]]);

    // Ending the open one ends it now; ending the scheduled one cancels it.
    app.clock
        .set(Utc.with_ymd_and_hms(2026, 3, 2, 10, 30, 0).unwrap());
    let path = |w: &Value| format!("{WINDOWS}/{}", w["id"]);
    let (status, ended) = app.admin(Method::DELETE, &path(&now), None).await;
    assert_eq!(status, 200);
    assert_eq!(ended["ends_at"], "2026-03-02T10:30:00Z");
    assert_eq!(ended["state"], "over");
    let (status, body) = app.admin(Method::DELETE, &path(&now), None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("maintenance_over"))
    );
    // The feed tells of both, the one that changed last (ended) first.
    let feed = app
        .get("/events.atom?service=claude")
        .await
        .text()
        .await
        .unwrap();
    let open = feed
        .find("<title>Claude: maintenance over</title>")
        .unwrap_or_else(|| panic!("{feed}"));
    let scheduled = feed
        .find("<title>Claude: maintenance scheduled</title>")
        .expect("scheduled window in the feed");
    assert!(open < scheduled, "{feed}");
    assert!(
        feed.contains("from 2026-03-02T10:00:00Z to 2026-03-02T10:30:00Z UTC: database upgrade.")
    );
    // With the open one over, the page tells of the one scheduled.
    page_saying(
        &app,
        "/s/claude",
        "<strong>Maintenance scheduled</strong> from",
    )
    .await;
    let (status, _) = app.admin(Method::DELETE, &path(&later), None).await;
    assert_eq!(status, 204);
    // And with none left, of none (the notice goes at the next version).
    for _ in 0..100 {
        let page = app.get("/s/claude").await.text().await.unwrap();
        if !page.contains("class=\"notice\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let page = app.get("/s/claude").await.text().await.unwrap();
    assert!(
        !page.contains("class=\"notice\""),
        "no window left to tell of"
    );
    let (status, body) = app.admin(Method::DELETE, &path(&later), None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("unknown_maintenance"))
    );
    let (_, list) = app.get_json(WINDOWS).await;
    let states: Vec<&Value> = list["maintenance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| &w["state"])
        .collect();
    assert_eq!(
        states,
        ["over"],
        "the ended one stays listed, the cancelled one is gone"
    );
}

#[tokio::test]
async fn bad_windows_are_refused() {
    let app = spawn_app_with(|s| s.maintenance_max_hours = 2).await;
    app.clock
        .set(Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap());
    let cases = [
        (
            json!({"starts_at": march_2(9, 0), "minutes": 30}),
            "starts_in_past",
        ),
        (json!({"reason": "no end"}), "invalid_window"),
        (
            json!({"ends_at": march_2(11, 0), "minutes": 30}),
            "invalid_window",
        ),
        (
            json!({"starts_at": march_2(12, 0), "ends_at": march_2(11, 0)}),
            "invalid_window",
        ),
        (json!({"minutes": 121}), "maintenance_too_long"),
        (
            json!({"minutes": 30, "reason": "a\u{202E}b"}),
            "invalid_reason",
        ),
        (json!({"ends_at": "tomorrow"}), "invalid_field"),
        (json!({"minutes": 30, "by": "me"}), "unknown_field"),
    ];
    for (body, code) in cases {
        let (status, answer) = app.admin(Method::POST, WINDOWS, Some(body.clone())).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (422, Some(code)),
            "{body}"
        );
    }
    let (status, body) = app
        .admin(
            Method::POST,
            "/api/v1/services/nope/maintenance",
            Some(json!({"minutes": 5})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("unknown_service"))
    );
    let r = app
        .client
        .post(app.url(WINDOWS))
        .json(&json!({"minutes": 5}))
        .send()
        .await
        .unwrap();
    assert_error(r, 401, "missing_token").await;
    let (_, list) = app.get_json(WINDOWS).await;
    assert_eq!(list["maintenance"], json!([]), "nothing was made");
}

/// A server with two subscriptions: `/muted` (the default) and `/told`
/// (`during_maintenance`), and a window on claude from 11:00 to `until`.
async fn subscribed_with_window(until: String) -> (TestApp, Receiver) {
    let app = webhook_app().await;
    let rx = Receiver::start().await;
    app.subscribe(json!({"url": format!("{}/muted", rx.url), "format": "generic"}))
        .await;
    let (id, _) = app
        .subscribe(json!({"url": format!("{}/told", rx.url), "format": "generic", "during_maintenance": true}))
        .await;
    let (_, w) = app
        .admin(Method::GET, &format!("/api/v1/webhooks/{id}"), None)
        .await;
    assert_eq!(w["during_maintenance"], true);
    app.clock
        .set(Utc.with_ymd_and_hms(2026, 3, 2, 11, 0, 0).unwrap());
    let window = json!({"ends_at": until, "reason": "planned failover"});
    let (status, body) = app.admin(Method::POST, WINDOWS, Some(window)).await;
    assert_eq!(status, 201, "{body}");
    (app, rx)
}

/// The march-2 outage (11:49 to about 15:00, waves from 11:49, 12:57 and
/// 14:08) inside a window from 11:00 to 17:00: recorded as ever, and only the
/// subscription that asked hears of it.
#[tokio::test]
async fn an_outage_in_a_window_pages_only_who_asked() {
    let (app, rx) = subscribed_with_window(march_2(17, 0)).await;
    play_march_2_until(&app, 16 * 60 + 30).await;
    eventually("the whole outage at /told", || {
        rx.received_at("/told").len() >= 4
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        kinds_at(&rx, "/told"),
        [
            "outage.opened",
            "outage.wave",
            "outage.wave",
            "outage.resolved"
        ]
    );
    assert!(
        rx.received_at("/muted").is_empty(),
        "{:?}",
        kinds_at(&rx, "/muted")
    );
    let events = app.events("?service=claude").await;
    assert_eq!(events.len(), 1, "the outage is recorded");
    assert_eq!(events[0]["waves"].as_array().unwrap().len(), 3);
    // The page shows the window open, and the outage as one in maintenance.
    let page = page_saying(&app, "/s/claude", "planned failover").await;
    assert!(page.contains("<strong>Maintenance</strong> until"));
    assert!(page.contains("pill-maintenance\">maintenance</span>"));
    // And its chart shades the window apart from the outage.
    let chart = app.get("/s/claude/chart.svg").await.text().await.unwrap();
    assert!(
        chart.contains("<g class=\"chart-window\"><title>Maintenance from"),
        "{chart}"
    );
    assert!(chart.contains(": planned failover</title>"));
}

/// A window that ends at 12:50, in the dip after the first wave: the next
/// wave pages as usual, and the muted subscription hears of the outage then
/// (opened, as it stands with two waves), and of everything after.
#[tokio::test]
async fn a_window_that_ends_mid_outage_lets_the_next_wave_page() {
    let (app, rx) = subscribed_with_window(march_2(12, 50)).await;
    play_march_2_until(&app, 16 * 60 + 30).await;
    eventually("the whole outage at /muted", || {
        kinds_at(&rx, "/muted")
            .last()
            .is_some_and(|k| k == "outage.resolved")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        kinds_at(&rx, "/told"),
        [
            "outage.opened",
            "outage.wave",
            "outage.wave",
            "outage.resolved"
        ]
    );
    assert_eq!(
        kinds_at(&rx, "/muted"),
        [
            "outage.opened",
            "outage.wave",
            "outage.wave",
            "outage.resolved"
        ]
    );
    let opened = |path: &str| {
        rx.received_at(path)[0].body["data"]["waves"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(opened("/told"), 1, "told as it opened");
    assert_eq!(
        opened("/muted"),
        2,
        "told at the first wave after the window"
    );
    let _ = app;
}

/// The same through the command line, on the database file.
#[test]
fn the_maintenance_command_adds_lists_and_ends_windows() {
    use crate::process::{downwave, run_ok};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("d.db");
    run_ok(downwave(&db).args(["service", "add", "claude", "--name", "Claude"]));
    let added = run_ok(downwave(&db).args([
        "maintenance",
        "add",
        "claude",
        "--minutes",
        "90",
        "--reason",
        "database upgrade",
    ]));
    assert!(
        added.starts_with("added 1\t") && added.contains("\tin_progress\tdatabase upgrade"),
        "{added}"
    );
    let later = run_ok(downwave(&db).args([
        "maintenance",
        "add",
        "claude",
        "--starts-at",
        "2099-01-01T02:00:00Z",
        "--ends-at",
        "2099-01-01T04:00:00Z",
    ]));
    assert!(
        later.contains("2\t2099-01-01T02:00:00Z\t2099-01-01T04:00:00Z\tscheduled"),
        "{later}"
    );
    let list = run_ok(downwave(&db).args(["maintenance", "list", "claude"]));
    assert_eq!(list.lines().count(), 2, "{list}");
    // Ended within the second it began, a window is cancelled instead.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert!(run_ok(downwave(&db).args(["maintenance", "end", "claude", "1"])).contains("\tover\t"));
    assert!(
        run_ok(downwave(&db).args(["maintenance", "end", "claude", "2"])).contains("cancelled 2")
    );
    for (args, says) in [
        (vec!["maintenance", "end", "claude", "1"], "already over"),
        (
            vec!["maintenance", "end", "claude", "2"],
            "no maintenance window 2",
        ),
        (vec!["maintenance", "add", "claude"], "one of the two"),
        (
            vec!["maintenance", "list", "nope"],
            "there is no service 'nope'",
        ),
    ] {
        let out = downwave(&db).args(&args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
