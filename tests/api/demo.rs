//! `downwave serve --demo` as a newcomer runs it: the real binary on an
//! empty database shows Claude's March-2 outage and the aws-outage's
//! incident once the monitor has caught up, and a second start on the same
//! database seeds nothing again. At the hour when the two outages would
//! meet, the provider's is moved before Claude's, and the pass keeps them
//! apart.

use crate::helpers::{spawn_on, test_settings};
use crate::process::{downwave, watch};
use chrono::{TimeZone, Utc};
use downwave::clock::ManualClock;
use downwave::sim::demo::seed_demo_at;
use downwave::sim::scenario::MARCH2_OUTAGE;
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A server started by the test, killed when dropped, so a failed
/// assertion leaves no process behind.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Server {
    /// Stops it with SIGTERM, as an operator would, and waits for it.
    fn stop(mut self) {
        let killed = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = self.0.wait().unwrap();
        assert!(status.success(), "exit status {status}");
    }
}

async fn get_json(port: u16, path: &str) -> Value {
    reqwest::get(format!("http://127.0.0.1:{port}{path}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn get_text(port: u16, path: &str) -> String {
    reqwest::get(format!("http://127.0.0.1:{port}{path}"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The open incident caused by aws, once the monitor has formed it.
async fn aws_incident(port: u16, deadline: Instant) -> Value {
    loop {
        let list = get_json(port, "/api/v1/incidents").await;
        let found = list["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["cause"]["service"] == "aws")
            .cloned();
        if let Some(incident) = found {
            return incident;
        }
        assert!(
            Instant::now() < deadline,
            "no incident caused by aws: {list}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every event of a service (the newest first).
async fn events_of(port: u16, slug: &str) -> Vec<Value> {
    get_json(port, &format!("/api/v1/events?service={slug}&limit=500")).await["events"]
        .as_array()
        .unwrap()
        .clone()
}

fn count(db: &Path, table: &str) -> i64 {
    crate::backend::open(db)
        .query_row(
            &format!("SELECT count(*) FROM {table}"),
            downwave::params![],
            |r| r.get(0),
        )
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_shows_both_outages_and_is_seeded_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let started = Instant::now();
    let (child, port, log) =
        watch(downwave(&db).args(["serve", "--demo", "--listen", "127.0.0.1:0"]));
    let server = Server(child);
    let listening = started.elapsed();
    let incident = aws_incident(port, Instant::now() + Duration::from_secs(60)).await;
    eprintln!(
        "demo: listening after {listening:?}, the aws incident after {:?}",
        started.elapsed()
    );
    assert!(
        log.lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("demo: created")),
        "the demo said what it seeded"
    );

    // The provider's outage began one to three hours ago: the incident has
    // formed, holds the provider and its dependents, and is still open.
    assert_eq!(incident["status"], "open", "{incident}");
    let outages = incident["outage_count"].as_u64().unwrap();
    assert!(outages >= 30, "{incident}");
    let began = chrono::DateTime::parse_from_rfc3339(incident["began_at"].as_str().unwrap())
        .unwrap()
        .timestamp();
    let now = chrono::Utc::now().timestamp();
    assert!(
        (3600..3 * 3600 + 120).contains(&(now - began)),
        "{incident}"
    );
    let id = incident["id"].as_i64().unwrap();
    let detail = get_json(port, &format!("/api/v1/incidents/{id}")).await;
    let members = detail["outages"].as_array().unwrap();
    let kind_of = |slug: &str| {
        members
            .iter()
            .find(|o| o["service"] == slug)
            .map(|o| o["kind"].as_str().unwrap().to_owned())
    };
    // dep-01 declares aws, dep-02 does not; solo and claude are not in it.
    assert_eq!(kind_of("aws").as_deref(), Some("epicentre"), "{detail}");
    assert_eq!(kind_of("dep-01").as_deref(), Some("upstream"), "{detail}");
    assert_eq!(kind_of("dep-02").as_deref(), Some("epicentre"), "{detail}");
    assert_eq!(kind_of("solo"), None);
    assert_eq!(kind_of("claude"), None);
    let solo = events_of(port, "solo").await;
    assert_eq!(solo[0]["attribution"]["kind"], "independent", "{solo:?}");

    // The home page leads with it; a dependent's page names the cause.
    let aws_event = incident["cause"]["event_id"].as_i64().unwrap();
    let link = format!("<a href=\"/e/{aws_event}\">");
    let home = get_text(port, "/").await;
    let heading = format!(
        "<a href=\"/i/{id}\">AWS outage: {} other services affected</a>",
        outages - 1
    );
    let lead = home.find("class=\"incident\"").map_or("", |at| &home[at..]);
    assert!(lead.contains(&heading), "{}", &lead[..lead.len().min(600)]);
    assert!(lead.contains(&format!("Likely cause: the {link}AWS outage</a>")));
    check_dependent_pages(port, members, &link).await;
    check_claude(port, id, now).await;

    // A second start on the same database seeds nothing.
    server.stop();
    let (services, reports) = (count(&db, "services"), count(&db, "reports"));
    assert_eq!(services, 48, "claude and the aws-outage's 47");
    let (child, port, log) =
        watch(downwave(&db).args(["serve", "--demo", "--listen", "127.0.0.1:0"]));
    let server = Server(child);
    let again = aws_incident(port, Instant::now() + Duration::from_secs(60)).await;
    assert_eq!(again["id"], id, "{again}");
    assert!(!log.lock().unwrap().iter().any(|l| l.contains("demo:")));
    server.stop();
    assert_eq!(
        (count(&db, "services"), count(&db, "reports")),
        (services, reports)
    );
}

/// Every dependent whose outage is still open names the cause on its page
/// (`link`, the cause's outage).
async fn check_dependent_pages(port: u16, members: &[Value], link: &str) {
    let mut named = 0;
    for o in members
        .iter()
        .filter(|o| o["service"].as_str().unwrap().starts_with("dep-"))
    {
        let event = get_json(port, &format!("/api/v1/events/{}", o["event_id"])).await;
        if event["status"] != "open" {
            continue;
        }
        let slug = o["service"].as_str().unwrap();
        let page = get_text(port, &format!("/s/{slug}")).await;
        assert!(
            page.contains(&format!("are likely caused by the {link}AWS outage</a>")),
            "{slug}: {page}"
        );
        named += 1;
    }
    assert!(named > 0, "an open dependent's page names the cause");
}

/// Claude's outage was moved to begin at 11:49 UTC within the last day;
/// once it has had a few minutes, the detector has opened it, outside the
/// incident `incident`.
async fn check_claude(port: u16, incident: i64, now: i64) {
    let claude_began = MARCH2_OUTAGE + (now - MARCH2_OUTAGE).div_euclid(86_400) * 86_400;
    if now - claude_began < 5 * 60 {
        eprintln!("claude's outage began under five minutes ago: not looked for");
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let claude = events_of(port, "claude").await;
        let found = claude.iter().find(|e| {
            chrono::DateTime::parse_from_rfc3339(e["started_at"].as_str().unwrap())
                .unwrap()
                .timestamp()
                == claude_began
        });
        if let Some(e) = found {
            assert_ne!(e["incident"], incident, "{e}");
            return;
        }
        assert!(Instant::now() < deadline, "no claude outage: {claude:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Started 40 minutes into Claude's outage, where AWS's would begin 20
/// minutes before it: AWS's begins 66 minutes before Claude's instead (30
/// after `solo`'s), the incident still forms and is open, and Claude's
/// outage stays its own.
#[tokio::test]
async fn the_demo_keeps_a_new_claude_outage_out_of_the_incident() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let settings = test_settings(&dir);
    let now = Utc::now().timestamp();
    let claude_began = MARCH2_OUTAGE + (now - MARCH2_OUTAGE).div_euclid(86_400) * 86_400;
    let start = claude_began + 40 * 60;
    assert!(seed_demo_at(&settings, start).unwrap());
    let clock = Arc::new(ManualClock::new(Utc.timestamp_opt(start, 0).unwrap()));
    let app = spawn_on(settings, dir, clock).await;
    app.monitor.catch_up().await.unwrap();

    let (_, list) = app.get_json("/api/v1/incidents").await;
    let incidents = list["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{list}");
    let incident = &incidents[0];
    assert_eq!(incident["cause"]["service"], "aws", "{incident}");
    assert_eq!(incident["status"], "open", "{incident}");
    assert!(
        incident["outage_count"].as_u64().unwrap() >= 30,
        "{incident}"
    );
    let began = Utc.timestamp_opt(claude_began - 66 * 60, 0).unwrap();
    assert_eq!(
        incident["began_at"],
        began.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );

    let (_, claude) = app.get_json("/api/v1/events?service=claude").await;
    let claude = &claude["events"][0];
    let began = Utc.timestamp_opt(claude_began, 0).unwrap();
    assert_eq!(
        claude["started_at"],
        began.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "{claude}"
    );
    assert_eq!(claude["status"], "open");
    assert_eq!(claude["attribution"]["kind"], "independent", "{claude}");
    assert_ne!(claude["incident"], incident["id"]);
    app.stop().await;
}
