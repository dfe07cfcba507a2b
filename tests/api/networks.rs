//! Nobody may fake an outage from a few networks: reports are counted per
//! service and minute by the networks they came from, and an event whose
//! excess came from too few of them, or mostly from one provider block, is
//! shown as concentrated and pages no one.

use crate::helpers::*;
use crate::receiver::{eventually, Receiver};
use serde_json::{json, Value};
use std::time::Duration;

/// A server that delivers webhooks to a local receiver, and lets one address
/// count up to 10 reports per service and window instead of 3: the reports
/// below come from 300 addresses, about 7 each, and every one of them must
/// count, so that only the network gate stands between them and a page (with
/// the default share of 3, 900 of the 2,000 would count, still an outage on a
/// quiet service).
pub async fn gated_app() -> (TestApp, Receiver) {
    let app = spawn_app_with(|s| {
        s.webhook_allow_private = true;
        s.webhook_timeout = Duration::from_secs(1);
        s.dedup_max_per_address = 10;
    })
    .await;
    let rx = Receiver::start().await;
    app.subscribe(json!({"url": format!("{}/hook", rx.url), "format": "generic"}))
        .await;
    (app, rx)
}

/// Two quiet days of history for claude (a report every 6 minutes, imported,
/// so without addresses), up to the test's start.
pub async fn quiet_history(app: &TestApp) {
    let start = start_time();
    let lines: String = (1..=2 * 24 * 10)
        .map(|i| {
            let at = (start - chrono::Duration::minutes(6 * i)).to_rfc3339();
            format!("{{\"service\":\"claude\",\"category\":\"login\",\"at\":\"{at}\"}}\n")
        })
        .collect();
    let r = app.import(lines).await;
    assert_eq!(r.status().as_u16(), 200);
}

/// Sends one report per `(address, token)` (the token makes each its own
/// reporter), 16 at a time; every one must be counted.
async fn send(app: &TestApp, reports: Vec<(String, String)>) {
    let mut pending = tokio::task::JoinSet::new();
    for (from, token) in reports {
        while pending.len() >= 16 {
            let status: u16 = pending.join_next().await.unwrap().unwrap();
            assert_eq!(status, 202);
        }
        let req = app
            .client
            .post(app.url("/api/v1/reports"))
            .header("x-forwarded-for", from)
            .header("x-downwave-client", token)
            .json(&json!({"service": "claude", "category": "login"}));
        pending.spawn(async move { req.send().await.unwrap().status().as_u16() });
    }
    while let Some(status) = pending.join_next().await {
        assert_eq!(status.unwrap(), 202);
    }
}

/// Plays `per_minute[k]` reports in minute k after the start, from
/// `address(n)` for the n-th report overall, each minute judged once it has
/// closed. Returns the number of reports sent.
pub async fn play(app: &TestApp, per_minute: &[usize], address: impl Fn(usize) -> String) -> usize {
    let start = start_time();
    let mut n = 0;
    for (k, &count) in per_minute.iter().enumerate() {
        app.clock
            .set(start + chrono::Duration::minutes(k as i64) + chrono::Duration::seconds(10));
        let reports = (n..n + count)
            .map(|i| (address(i), format!("client-{i}")))
            .collect();
        send(app, reports).await;
        n += count;
        app.clock
            .set(start + chrono::Duration::minutes(k as i64 + 1) + chrono::Duration::seconds(10));
        app.monitor.catch_up().await.unwrap();
    }
    n
}

/// 300 addresses inside one /16 (10.20.0.0/16), two in each of 150 /24s.
pub fn one_slash_16(n: usize) -> String {
    let a = n % 300;
    format!("10.20.{}.{}", a / 2, 1 + a % 2)
}

/// 300 addresses, each in a /16 (and a /24) of its own.
fn three_hundred_networks(n: usize) -> String {
    let a = n % 300;
    format!("{}.{}.1.1", 20 + a / 250, a % 250)
}

/// Ten minutes of 200 reports: 2,000 in all.
const TEN_MINUTES: [usize; 10] = [200; 10];

async fn claude_events(app: &TestApp) -> Vec<Value> {
    app.events("?service=claude").await
}

async fn deliveries_of_all(app: &TestApp) -> Vec<Value> {
    let (_, list) = app
        .admin(reqwest::Method::GET, "/api/v1/webhooks", None)
        .await;
    let mut out = Vec::new();
    for w in list["webhooks"].as_array().unwrap() {
        out.extend(app.deliveries(w["id"].as_i64().unwrap()).await);
    }
    out
}

#[tokio::test]
async fn two_thousand_reports_from_one_slash_16_page_no_one() {
    let (app, rx) = gated_app().await;
    quiet_history(&app).await;
    let sent = play(&app, &TEN_MINUTES, one_slash_16).await;
    assert_eq!(sent, 2000);
    assert_eq!(app.counted_in_minutes("claude") as usize, 2000 + 480);

    let events = claude_events(&app).await;
    assert!(!events.is_empty(), "the detector opened an event");
    for e in &events {
        assert_eq!(e["concentrated"], true, "{e}");
        // 150 /24s, every report from one /16.
        assert_eq!(e["networks"], 150, "{e}");
        assert_eq!(e["top_network_share"], 1.0, "{e}");
    }
    assert_eq!(
        app.status_of("claude").await,
        "elevated",
        "possible problems, not an outage"
    );
    // The dashboard shows it for what it is.
    let id = events[0]["id"].as_i64().unwrap();
    let page = app.get(&format!("/e/{id}")).await.text().await.unwrap();
    assert!(page.contains(">Concentrated</span>"), "{page}");
    assert!(page.contains("150 reporting"), "{page}");
    assert!(page.contains("at most 100% of the excess"), "{page}");
    let service = app.get("/s/claude").await.text().await.unwrap();
    assert!(service.contains("but from few networks"), "{service}");
    assert!(service.contains(">concentrated</span>"), "{service}");
    let home = app.get("/").await.text().await.unwrap();
    assert!(
        home.contains("Possible problems") && !home.contains(">Outage<"),
        "{home}"
    );
    let feed = app.get("/events.atom").await.text().await.unwrap();
    assert!(
        feed.contains("Claude: reports from few networks, ongoing"),
        "{feed}"
    );
    // Nothing was queued for anyone: the outbox commits with the event.
    assert!(deliveries_of_all(&app).await.is_empty());
    // Nor when it ends.
    app.clock.set(start_time() + chrono::Duration::minutes(60));
    app.monitor.catch_up().await.unwrap();
    let ended = claude_events(&app).await;
    assert!(ended.iter().all(|e| e["status"] == "resolved"), "{ended:?}");
    assert!(ended.iter().all(|e| e["concentrated"] == true));
    assert!(deliveries_of_all(&app).await.is_empty());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(rx.received().is_empty());

    // What is stored: keyed hashes of each report's /24 and /16, never an
    // address, and the per-minute counts.
    let db = app.db();
    let (sites, providers, without): (i64, i64, i64) = db
        .query_row(
            "SELECT COUNT(DISTINCT network), COUNT(DISTINCT provider), \
             COUNT(*) FILTER (WHERE network IS NULL AND source IS NOT NULL) FROM reports",
            downwave::params![],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((sites, providers, without), (150, 1, 0));
    let (reports, first_minute_sites): (i64, i64) = db
        .query_row(
            "SELECT CAST(SUM(reports) AS BIGINT), (SELECT networks FROM report_minute_networks \
             ORDER BY minute LIMIT 1) FROM report_minute_networks",
            downwave::params![],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    // The first minute's 200 reports came from 100 /24s.
    assert_eq!((reports, first_minute_sites), (2000, 100));
}

#[tokio::test]
async fn the_same_volume_from_three_hundred_networks_pages() {
    let (app, rx) = gated_app().await;
    quiet_history(&app).await;
    play(&app, &TEN_MINUTES, three_hundred_networks).await;

    let events = claude_events(&app).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e["concentrated"], false, "{e}");
    assert_eq!(e["networks"], 300, "{e}");
    assert!(e["top_network_share"].as_f64().unwrap() < 0.05, "{e}");
    assert_eq!(app.status_of("claude").await, "outage");
    eventually("the opening is delivered", || {
        rx.received()
            .iter()
            .any(|r| r.body["type"] == "outage.opened")
    })
    .await;
    let opened = rx
        .received()
        .into_iter()
        .find(|r| r.body["type"] == "outage.opened")
        .unwrap();
    let data = &opened.body["data"];
    assert_eq!(data["id"], e["id"]);
    assert_eq!(data["concentrated"], false);
    // Announced at its first minute: the networks of that minute.
    assert!(data["networks"].as_i64().unwrap() >= 10, "{data}");
}

/// Three sites in three /16s: no block has half of the excess, but three
/// networks are not a crowd (`outage_min_networks`, 10).
#[tokio::test]
async fn reports_from_three_networks_page_no_one() {
    let (app, _rx) = gated_app().await;
    quiet_history(&app).await;
    // 60 addresses, 20 in each of 10.1.1.0/24, 10.2.1.0/24 and 10.3.1.0/24.
    let three = |n: usize| format!("10.{}.1.{}", 1 + n % 3, 1 + (n / 3) % 20);
    play(&app, &[60; 8], three).await;
    let events = claude_events(&app).await;
    assert!(!events.is_empty());
    for e in &events {
        assert_eq!(e["networks"], 3, "{e}");
        assert!(e["top_network_share"].as_f64().unwrap() <= 0.5, "{e}");
        assert_eq!(e["concentrated"], true, "{e}");
    }
    assert!(deliveries_of_all(&app).await.is_empty());
}

/// An event that opened concentrated becomes an outage when the crowd
/// comes, and is announced then, once, as the same event.
#[tokio::test]
async fn a_concentrated_event_pages_once_the_crowd_comes() {
    let (app, rx) = gated_app().await;
    quiet_history(&app).await;
    // Three minutes of 150 reports from one /16, then five of 200 from 300
    // networks.
    let attack = 3 * 150;
    let mixed = move |n: usize| {
        if n < attack {
            one_slash_16(n)
        } else {
            three_hundred_networks(n - attack)
        }
    };
    let start = start_time();
    play(&app, &[150, 150, 150], mixed).await;
    let before = claude_events(&app).await;
    assert_eq!(before.len(), 1);
    assert_eq!(before[0]["concentrated"], true, "{}", before[0]);
    assert!(deliveries_of_all(&app).await.is_empty());

    // The same reports go on from the crowd (`play` starts its minutes at
    // the test's start: shift the clock's start by three minutes).
    let crowd_start = start + chrono::Duration::minutes(3);
    let mut n = attack;
    for k in 0..5 {
        app.clock
            .set(crowd_start + chrono::Duration::minutes(k) + chrono::Duration::seconds(10));
        let reports = (n..n + 200)
            .map(|i| (mixed(i), format!("client-{i}")))
            .collect();
        send(&app, reports).await;
        n += 200;
        app.clock
            .set(crowd_start + chrono::Duration::minutes(k + 1) + chrono::Duration::seconds(10));
        app.monitor.catch_up().await.unwrap();
    }
    let after = claude_events(&app).await;
    assert_eq!(after.len(), 1, "{after:?}");
    let e = &after[0];
    assert_eq!(e["id"], before[0]["id"], "the same event");
    assert_eq!(e["concentrated"], false, "{e}");
    assert!(e["networks"].as_i64().unwrap() >= 300, "{e}");
    assert!(e["top_network_share"].as_f64().unwrap() <= 0.5, "{e}");
    eventually("the opening is delivered", || !rx.received().is_empty()).await;
    let got = rx.received();
    assert_eq!(got[0].body["type"], "outage.opened");
    assert_eq!(got[0].body["data"]["id"], e["id"]);
    assert_eq!(got[0].body["data"]["concentrated"], false);
    let opened = deliveries_of_all(&app)
        .await
        .into_iter()
        .filter(|d| d["type"] == "outage.opened")
        .count();
    assert_eq!(opened, 1, "announced once");
}

/// A minute's reports split by a restart: each network is counted once in
/// the minute, and the restarted writer does not count as new a network
/// that it had already.
#[tokio::test]
async fn a_restart_mid_minute_counts_each_network_once() {
    let app = spawn_app().await;
    app.clock.set(start_time() + chrono::Duration::seconds(10));
    let first: Vec<_> = (0..20)
        .map(|i| (format!("10.{}.{}.1", i % 4, i % 10), format!("a{i}")))
        .collect();
    send(&app, first).await;
    let (settings, dir, clock) = app.stop().await;
    let app = spawn_on(settings, dir, clock).await;
    // 10 of the same sites again, and 10 new ones.
    let second: Vec<_> = (0..20)
        .map(|i| (format!("10.{}.{}.2", i % 4, i % 15), format!("b{i}")))
        .collect();
    send(&app, second).await;
    let row: (i64, i64, i64) = app
        .db()
        .query_row(
            "SELECT reports, networks, new_networks FROM report_minute_networks",
            downwave::params![],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    // Sites (i % 4, i % 10), then (i % 4, i % 15): 30 distinct pairs.
    assert_eq!(row, (40, 30, 30));
}

/// IPv6: a site is a /48 and a provider block a /32, so the 65,536 /64s of
/// one /48 are one network however many clients they hold.
#[tokio::test]
async fn the_slash_64s_of_one_slash_48_are_one_network() {
    let app = spawn_app().await;
    app.clock.set(start_time() + chrono::Duration::seconds(10));
    let one_site: Vec<_> = (1..=20)
        .map(|i| (format!("2001:db8:1:{i:x}::1"), format!("a{i}")))
        .collect();
    send(&app, one_site).await;
    let twenty_sites: Vec<_> = (1..=20)
        .map(|i| (format!("2001:db8:{:x}::1", 0x100 + i), format!("b{i}")))
        .collect();
    send(&app, twenty_sites).await;
    let row: (i64, i64, i64) = app
        .db()
        .query_row(
            "SELECT reports, networks, top_provider FROM report_minute_networks",
            downwave::params![],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(row, (40, 21, 40), "21 /48s, all in 2001:db8::/32");
}
