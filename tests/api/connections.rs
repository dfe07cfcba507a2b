//! Slow and many clients: read deadlines and the connection limit, seen
//! from a raw TCP socket the way a misbehaving client sends.

use crate::helpers::*;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn connect(app: &TestApp) -> TcpStream {
    let addr = app.address.trim_start_matches("http://");
    TcpStream::connect(addr).await.unwrap()
}

/// Reads until the server closes the connection (or `limit` passes);
/// returns what it sent and how long it took.
async fn read_until_closed(conn: &mut TcpStream, limit: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(Ok(n)) = tokio::time::timeout_at(
        tokio::time::Instant::from_std(started + limit),
        conn.read(&mut buf),
    )
    .await
    {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    (
        String::from_utf8_lossy(&out).into_owned(),
        started.elapsed(),
    )
}

fn report_head(length: usize) -> String {
    format!(
        "POST /api/v1/reports HTTP/1.1\r\nhost: downwave\r\ncontent-type: application/json\r\n\
         content-length: {length}\r\n\r\n"
    )
}

/// A client that declares a body and sends only part of it is answered 408
/// once the body deadline passes, and its connection is closed.
#[tokio::test]
async fn a_half_sent_body_is_cut_off_at_its_deadline() {
    let app = spawn_app_with(|s| s.body_read_timeout = Duration::from_secs(1)).await;
    let mut conn = connect(&app).await;
    conn.write_all(report_head(100).as_bytes()).await.unwrap();
    conn.write_all(br#"{"service":"cla"#).await.unwrap();
    let (answer, took) = read_until_closed(&mut conn, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(answer.contains("\"body_timeout\""), "{answer:?}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "closed after {took:?}"
    );
    // Nothing was stored.
    let rows: i64 = app
        .db()
        .query_row("SELECT count(*) FROM reports", downwave::params![], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(rows, 0);
}

/// A body that arrives in pieces, each in time, is read as usual.
#[tokio::test]
async fn a_body_sent_in_pieces_within_the_deadline_is_accepted() {
    let app = spawn_app_with(|s| s.body_read_timeout = Duration::from_secs(2)).await;
    let body = br#"{"service":"claude","category":"login"}"#;
    let mut conn = connect(&app).await;
    conn.write_all(report_head(body.len()).as_bytes())
        .await
        .unwrap();
    conn.write_all(&body[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    conn.write_all(&body[10..]).await.unwrap();
    let mut buf = [0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer:?}");
}

/// A history import may take longer than a report: it has its own deadline.
#[tokio::test]
async fn an_import_has_its_own_longer_deadline() {
    let app = spawn_app_with(|s| {
        s.body_read_timeout = Duration::from_secs(1);
        s.import_read_timeout = Duration::from_secs(30);
    })
    .await;
    let line = "{\"service\":\"claude\",\"category\":\"login\",\"at\":\"2026-03-02T11:40:00Z\"}\n";
    let mut conn = connect(&app).await;
    let head = format!(
        "POST /api/v1/admin/import HTTP/1.1\r\nhost: downwave\r\n\
         authorization: Bearer {ADMIN_TOKEN}\r\ncontent-type: application/x-ndjson\r\n\
         content-length: {}\r\n\r\n",
        line.len() * 2
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(line.as_bytes()).await.unwrap();
    // Longer than a report's deadline.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    conn.write_all(line.as_bytes()).await.unwrap();
    let mut buf = [0u8; 2048];
    let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    assert!(answer.contains("\"imported\":2"), "{answer:?}");
}

/// A client that never finishes its request head is answered 408 and
/// closed once the head deadline passes.
#[tokio::test]
async fn a_half_sent_head_is_cut_off_at_its_deadline() {
    let app = spawn_app_with(|s| s.header_read_timeout = Duration::from_secs(1)).await;
    let mut conn = connect(&app).await;
    conn.write_all(b"GET /healthz HTTP/1.1\r\nhost: downwave\r\n")
        .await
        .unwrap();
    let (answer, took) = read_until_closed(&mut conn, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(took < Duration::from_secs(4), "closed after {took:?}");
}

/// Past `max_connections`, a new connection waits (in the listen backlog)
/// until a slot frees; here the head deadline ends the two slow clients
/// that hold the slots, and the waiting connection is then served.
#[tokio::test]
async fn connections_past_the_limit_wait_for_a_free_slot() {
    let app = spawn_app_with(|s| {
        s.max_connections = 2;
        s.workers = 2;
        s.header_read_timeout = Duration::from_secs(2);
    })
    .await;
    // Two clients hold a connection each, in the middle of a request head.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut conn = connect(&app).await;
        conn.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
        held.push(conn);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let mut third = connect(&app).await;
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: downwave\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let early = tokio::time::timeout(Duration::from_secs(1), third.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "the third connection was served past the limit"
    );
    let (answer, _) = read_until_closed(&mut third, Duration::from_secs(6)).await;
    let took = started.elapsed();
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "{answer:?} after {took:?}"
    );
    assert!(took >= Duration::from_millis(1500), "served after {took:?}");
    drop(held);
}

/// On a kept-alive connection, the head of a later request has a deadline
/// too: answering one request quickly and then sending the next head a
/// byte at a time does not hold the connection.
#[tokio::test]
async fn a_half_sent_head_after_a_first_request_is_cut_off() {
    let app = spawn_app_with(|s| {
        s.keep_alive = Duration::from_secs(1);
        s.header_read_timeout = Duration::from_secs(1);
    })
    .await;
    let mut conn = connect(&app).await;
    conn.write_all(b"GET /healthz HTTP/1.1\r\nhost: downwave\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = conn.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    conn.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    let started = Instant::now();
    let mut trickled = 0;
    // A byte every half second: never idle long enough for keep-alive.
    let closed = loop {
        if started.elapsed() > Duration::from_secs(8) {
            break false;
        }
        match tokio::time::timeout(Duration::from_millis(500), conn.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(_)) => continue,
            Err(_) => {
                if conn.write_all(b"x").await.is_err() {
                    break true;
                }
                trickled += 1;
            }
        }
    };
    assert!(closed, "still open after {trickled} trickled bytes");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "closed after {took:?}");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("downwave_http_connections_timed_out_total 1"),
        "{metrics}"
    );
}

/// A kept-alive connection whose requests come in time is never cut, however
/// long it lives.
#[tokio::test]
async fn a_kept_alive_connection_used_in_time_stays_open() {
    let app = spawn_app_with(|s| {
        s.keep_alive = Duration::from_secs(1);
        s.header_read_timeout = Duration::from_secs(1);
    })
    .await;
    let mut conn = connect(&app).await;
    let mut buf = [0u8; 64 * 1024];
    for i in 0..10 {
        conn.write_all(b"GET /s/claude HTTP/1.1\r\nhost: downwave\r\n\r\n")
            .await
            .unwrap();
        // Read the whole page (its length is in the head) before the next.
        let mut got = Vec::new();
        let total = loop {
            let n = conn.read(&mut buf).await.unwrap();
            assert!(n > 0, "request {i}: the connection was closed");
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got);
            if let Some((head, _)) = text.split_once("\r\n\r\n") {
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .and_then(|v| v.trim().parse().ok())
                    .expect("a content-length");
                break head.len() + 4 + length;
            }
        };
        while got.len() < total {
            let n = conn.read(&mut buf).await.unwrap();
            assert!(n > 0, "request {i}: closed mid-answer");
            got.extend_from_slice(&buf[..n]);
        }
        assert!(got.starts_with(b"HTTP/1.1 200"), "request {i}");
        // Under the keep-alive time (actix-web reads its clock every half
        // second, so 1 s may be as short as 0.5 s), over 3 s in all.
        tokio::time::sleep(Duration::from_millis(350)).await;
    }
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("downwave_http_connections_timed_out_total 0"),
        "{metrics}"
    );
}

/// Started, as many shells and service managers start programs, with a soft
/// limit on open descriptors far below the hard one, the real binary raises
/// its soft limit to the hard one (a crowd of ten thousand open pages needs
/// ten thousand descriptors) and says so.
#[test]
fn the_server_raises_its_soft_descriptor_limit_to_the_hard_one() {
    let max_open_files = |pid: &str| -> (u64, u64) {
        let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
        let line = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .unwrap();
        let mut n = line.split_whitespace().skip(3).map(|v| v.parse().unwrap());
        (n.next().unwrap(), n.next().unwrap())
    };
    let (_, hard) = max_open_files("self");
    let low = (hard / 2).min(1024);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("d.db");
    let mut cmd = std::process::Command::new("bash");
    cmd.arg("-c")
        .arg(format!("ulimit -Sn {low} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_downwave"))
        .arg("--database")
        .arg(&db)
        .env("RUST_LOG", "info");
    let (mut child, _port, log) = crate::process::start_logged(&mut cmd);
    let (soft, child_hard) = max_open_files(&child.id().to_string());
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(child_hard, hard);
    assert_eq!(soft, hard, "the soft limit stayed at {low}");
    let log = log.lock().unwrap().join("\n");
    assert!(
        log.contains("raised the soft limit on open descriptors")
            && log.contains(&format!("from={low}")),
        "{log}"
    );
}
