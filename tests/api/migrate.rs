//! `downwave migrate`: a deployment moved from its SQLite file to
//! PostgreSQL, through the real binary (on the suite's PostgreSQL pass).

use crate::process::{import_into, run_ok, watch, Log};
use serde_json::{json, Value};
use std::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_downwave");

/// `downwave --database AT` on the simulated clock `clock`, with the admin
/// token `t` and webhooks to loopback allowed.
fn downwave_at(at: &str, clock: &str) -> Command {
    let mut c = Command::new(BIN);
    c.args([
        "--database",
        at,
        "--simulated-clock",
        clock,
        "--admin-token",
        "t",
        "--webhook-allow-private",
        "true",
    ])
    .env("RUST_LOG", "info");
    c
}

/// Serves on port 0; the child, its port and log.
fn serve(at: &str, clock: &str) -> (Child, u16, Log) {
    watch(downwave_at(at, clock).args(["serve", "--listen", "127.0.0.1:0"]))
}

/// Stops a server with SIGTERM (it saves the detector's memory) and waits.
fn stop(mut child: Child) {
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(child.wait().unwrap().success());
}

/// What the API says about the deployment: services, claude's events, a
/// stretch of its series, and the subscriptions.
async fn snapshot(port: u16) -> Value {
    let client = reqwest::Client::new();
    let get = |path: &str| {
        let req = client
            .get(format!("http://127.0.0.1:{port}{path}"))
            .bearer_auth("t");
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    json!({
        "services": get("/api/v1/services").await,
        "events": get("/api/v1/events?service=claude").await,
        "series": get("/api/v1/services/claude/series?from=2026-03-02T11:00:00Z&to=2026-03-02T12:30:00Z").await,
        "webhooks": get("/api/v1/webhooks").await,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_deployment_moves_to_postgresql_whole() {
    if !crate::backend::postgres() {
        eprintln!("skipped on SQLite: the move is to PostgreSQL");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("old.db").display().to_string();
    let url = crate::backend::database_arg(&dir.path().join("new.db"));
    // Five seconds past 12:30, so minute 12:29 has closed (2 s of grace)
    // before the import, whose answer waits for the detector: the first
    // snapshot never races the detector closing it.
    let clock = format!(
        "2026-03-02T12:30:05Z,{},1",
        chrono::Utc::now().timestamp_millis()
    );
    run_ok(downwave_at(&file, &clock).args(["service", "add", "claude", "--name", "Claude"]));
    let (child, port, _) = serve(&file, &clock);
    let client = reqwest::Client::new();
    let lines = crate::events::march2_between(i64::MIN, 1_772_454_600);
    import_into(&client, &format!("http://127.0.0.1:{port}"), lines).await;
    let r = client
        .post(format!("http://127.0.0.1:{port}/api/v1/webhooks"))
        .bearer_auth("t")
        .json(&json!({"url": "http://127.0.0.1:9/hook", "format": "generic"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().await.unwrap());
    let before = snapshot(port).await;
    assert_eq!(before["events"]["events"][0]["status"], "open", "{before}");
    stop(child);

    let out = run_ok(Command::new(BIN).args(["migrate", "--from", &file, "--to", &url]));
    let reports = out
        .lines()
        .find_map(|l| l.strip_prefix("reports\t"))
        .expect("the reports line");
    assert!(reports.parse::<u64>().unwrap() > 10_000, "{out}");
    // Each day's reports in their day's partition, none in the default.
    let moved = crate::backend::open(&dir.path().join("new.db"));
    let in_table = |table: &str| -> i64 {
        moved
            .query_row(
                &format!("SELECT count(*) FROM {table}"),
                downwave::params![],
                |r| r.get(0),
            )
            .unwrap()
    };
    assert_eq!(in_table("reports").to_string(), reports);
    assert!(in_table("reports_20260302") > 0);
    assert_eq!(in_table("reports_default"), 0);

    // The same deployment on PostgreSQL: the same services, the same open
    // outage, the same series and subscriptions.
    let (child, port, _) = serve(&url, &clock);
    let after = snapshot(port).await;
    assert_eq!(after["events"], before["events"]);
    assert_eq!(after["series"], before["series"]);
    assert_eq!(after["webhooks"], before["webhooks"]);
    // The board fills at the detector's first step after the start; until
    // then a page would show the service as fine (docs/scale.md, "Pages on every
    // node").
    let mut status = after["services"]["services"][0]["status"].clone();
    for _ in 0..100 {
        if status == "outage" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        status = snapshot(port).await["services"]["services"][0]["status"].clone();
    }
    assert_eq!(status, "outage");
    // New rows get new ids past the copied ones.
    let r = client
        .post(format!("http://127.0.0.1:{port}/api/v1/services"))
        .bearer_auth("t")
        .json(&json!({"slug": "aws", "name": "AWS", "categories": ["login"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().await.unwrap());
    stop(child);

    // Into a database that already holds a deployment: refused.
    let again = Command::new(BIN)
        .args(["migrate", "--from", &file, "--to", &url])
        .output()
        .unwrap();
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("already holds 2 services"), "{err}");
}
