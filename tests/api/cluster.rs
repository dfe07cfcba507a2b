//! Several nodes on one PostgreSQL database, through the real binary: run
//! by the suite's PostgreSQL pass (`DOWNWAVE_TEST_BACKEND=postgres`), skipped
//! on SQLite, which one node has to itself.

use crate::process::{downwave, run_ok, start_logged};
use serde_json::json;
use std::process::Child;

/// A node, killed when the test ends however it ends.
struct Node {
    child: Child,
    port: u16,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_node(db: &std::path::Path) -> Node {
    let (child, port, _) = start_logged(downwave(db).args([
        "--trusted-proxies",
        "127.0.0.1/32",
        "--rate-limit-per-minute",
        "100000",
        "--rate-limit-burst",
        "100000",
    ]));
    Node { child, port }
}

/// Sends a report for `claude` as the client at `from` through `node`; the
/// status (202 counted, 200 not).
async fn report(client: &reqwest::Client, node: u16, from: &str) -> u16 {
    client
        .post(format!("http://127.0.0.1:{node}/api/v1/reports"))
        .header("x-forwarded-for", from)
        .json(&json!({"service": "claude", "category": "login"}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Every client reports through both nodes at the same moment, twice over:
/// each counts once, whichever node its reports reach, and every report is
/// stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reporter_counts_once_whichever_node_it_reaches() {
    if !crate::backend::postgres() {
        eprintln!("skipped on SQLite: one node has the database to itself");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cluster.db");
    run_ok(downwave(&db).args(["service", "add", "claude", "--name", "Claude"]));
    let (a, b) = (start_node(&db), start_node(&db));
    let client = reqwest::Client::new();
    const CLIENTS: usize = 300;
    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        let client = client.clone();
        let (pa, pb) = (a.port, b.port);
        tasks.push(tokio::spawn(async move {
            let from = format!("10.{}.{}.7", i / 256, i % 256);
            // Both at once, then both again: the claim race, then the
            // window on both nodes.
            let (x, y) = tokio::join!(report(&client, pa, &from), report(&client, pb, &from));
            let (z, w) = tokio::join!(report(&client, pb, &from), report(&client, pa, &from));
            [x, y, z, w]
        }));
    }
    let mut counted = 0;
    for t in tasks {
        let statuses = t.await.unwrap();
        assert!(
            statuses.iter().all(|s| *s == 200 || *s == 202),
            "{statuses:?}"
        );
        let n = statuses.iter().filter(|s| **s == 202).count();
        assert_eq!(n, 1, "one report of four counted: {statuses:?}");
        counted += n;
    }
    assert_eq!(counted, CLIENTS);
    let opts = downwave::store::OpenOptions::default();
    let conn = downwave::store::open_writer(crate::backend::location(&db), &opts).unwrap();
    let (stored, stored_counted): (i64, i64) = conn
        .query_row(
            "SELECT count(*), CAST(COALESCE(SUM(counted), 0) AS BIGINT) FROM reports",
            downwave::params![],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (stored, stored_counted),
        (4 * CLIENTS as i64, CLIENTS as i64)
    );
    let in_minutes: i64 = conn
        .query_row(
            "SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT) FROM report_minutes",
            downwave::params![],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        in_minutes, CLIENTS as i64,
        "the counts add up to the counted rows"
    );
}
