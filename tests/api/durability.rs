use crate::helpers::*;
use serde_json::json;
use std::sync::Arc;

fn login() -> serde_json::Value {
    json!({"service": "claude", "category": "login"})
}

#[tokio::test]
async fn data_and_duplicates_survive_a_restart_on_the_same_file() {
    let app = spawn_app().await;
    app.create_service("aws", "AWS", &["s3", "ec2"]).await;
    assert_eq!(app.report_status_from("192.0.2.1", login()).await, 202);
    assert_eq!(app.report_status_from("192.0.2.2", login()).await, 202);
    let (settings, dir, clock) = app.stop().await;

    let app = spawn_on(settings, dir, clock).await;
    assert_eq!(app.counted_in_minutes("claude"), 2);
    let (_, aws) = app.get_json("/api/v1/services/aws").await;
    assert_eq!(aws["categories"], json!(["s3", "ec2"]));
    // The de-duplication window carries over the restart.
    assert_eq!(app.report_status_from("192.0.2.1", login()).await, 200);
    assert_eq!(app.report_status_from("192.0.2.3", login()).await, 202);
    let (_, summary) = app.get_json("/api/v1/services/claude/summary").await;
    assert_eq!(summary["last_15m"], 3);
}

#[tokio::test]
async fn graceful_shutdown_loses_nothing_acknowledged() {
    let app = Arc::new(spawn_app().await);
    let mut tasks = Vec::new();
    for client in 0..16u32 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..200u32 {
                let r = app
                    .client
                    .post(app.url("/api/v1/reports"))
                    .header("x-forwarded-for", format!("198.18.{client}.{}", i % 250))
                    .json(&json!({"service": "claude", "category": "app"}))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().is_success() => {
                        let body: serde_json::Value = r.json().await.unwrap();
                        acked.push(body["id"].as_i64().unwrap());
                    }
                    // Refused or cut off by the shutdown: not acknowledged.
                    _ => break,
                }
            }
            acked
        }));
    }
    // Let the load get going, then stop while it is in flight.
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    app.handle.stop(true).await;
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    assert!(!acked.is_empty(), "the load ran before the stop");
    let conn = app.db();
    for id in &acked {
        let found: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM reports WHERE id = ?1",
                downwave::params![id],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(found, 1, "acknowledged report {id} is missing");
    }
    let counted: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM reports WHERE counted = 1",
            downwave::params![],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(app.counted_in_minutes("claude"), counted);
}

/// Takes the lock every report commit needs, as another process could,
/// until `ROLLBACK`.
fn hold_write_lock(db: &downwave::store::Db) {
    db.execute_batch(match db.dialect() {
        downwave::store::Dialect::Sqlite => "BEGIN EXCLUSIVE",
        downwave::store::Dialect::Postgres => "BEGIN; LOCK TABLE reports IN ACCESS EXCLUSIVE MODE",
    })
    .unwrap();
}

#[tokio::test]
async fn a_database_fault_answers_503_and_clears() {
    let app = spawn_app_with(|s| s.busy_timeout = std::time::Duration::from_millis(100)).await;
    // Another process holds the write lock: every commit fails as busy.
    let blocker = app.db();
    hold_write_lock(&blocker);
    let r = app.report_from("192.0.2.1", login()).await;
    assert!(r.headers().contains_key("retry-after"));
    assert_error(r, 503, "storage_unavailable").await;
    let (status, ready) = app.get_json("/readyz").await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["checks"]["database_writable"], false);
    // The lock goes away; the same report is taken and readiness returns.
    blocker.execute_batch("ROLLBACK").unwrap();
    assert_eq!(app.report_status_from("192.0.2.1", login()).await, 202);
    assert_eq!(app.get_json("/readyz").await.0, 200);
    assert_eq!(app.counted_in_minutes("claude"), 1);
}

#[tokio::test]
async fn a_full_queue_answers_503_with_retry_after_and_drops_nothing() {
    let app = Arc::new(
        spawn_app_with(|s| {
            s.ingest_queue_capacity = 2;
            s.busy_timeout = std::time::Duration::from_millis(1500);
        })
        .await,
    );
    // Hold the write lock so the writer stalls and the queue fills.
    let blocker = app.db();
    hold_write_lock(&blocker);
    let mut tasks = Vec::new();
    for i in 0..12u32 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let r = app.report_from(&format!("192.0.2.{i}"), login()).await;
            let status = r.status().as_u16();
            let retry = r.headers().get("retry-after").is_some();
            let body: serde_json::Value = r.json().await.unwrap();
            (status, retry, body)
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    blocker.execute_batch("ROLLBACK").unwrap();
    let mut full = 0;
    for t in tasks {
        let (status, retry, body) = t.await.unwrap();
        if body["error"]["code"] == "queue_full" {
            assert_eq!(status, 503);
            assert!(retry);
            full += 1;
        } else {
            assert!(status == 202 || status == 503, "{status} {body}");
        }
    }
    assert!(full > 0, "some reports met a full queue");
    // Whatever was acknowledged is there; nothing half-written.
    let counted: i64 = app
        .db()
        .query_row(
            "SELECT COUNT(*) FROM reports WHERE counted = 1",
            downwave::params![],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(app.counted_in_minutes("claude"), counted);
}

/// The database holds webhook secrets and the reporter key: the server
/// creates it, and SQLite its WAL and shared-memory files, for the owner only,
/// whatever the umask (the test process has the usual 022).
#[cfg(unix)]
#[tokio::test]
async fn the_database_and_its_wal_are_created_for_the_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    if crate::backend::skip_on_postgres("PostgreSQL keeps its own files") {
        return;
    }
    let app = spawn_app().await;
    assert_eq!(app.report_status_from("192.0.2.1", login()).await, 202);
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", app.db_path.display());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{path} has mode {mode:o}");
    }
}
