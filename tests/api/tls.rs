//! TLS to PostgreSQL, through the real binary (on the suite's PostgreSQL
//! pass): with `sslmode=verify-full` and the authority that signed the
//! server's certificate every connection is encrypted; a certificate the
//! given authority (or the public roots) did not sign is refused.

use crate::process::{run_ok, watch};
use serde_json::json;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_downwave");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_connections_are_encrypted_and_verified_when_the_url_asks() {
    if !crate::backend::postgres() {
        eprintln!("skipped on SQLite: TLS is to a PostgreSQL server");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tls.db");
    let url = crate::backend::database_arg(&path);
    let ca = crate::backend::certificate_authority();
    let tls = format!("{url}?sslmode=verify-full&sslrootcert={}", ca.display());
    run_ok(Command::new(BIN).args([
        "--database",
        &tls,
        "service",
        "add",
        "claude",
        "--name",
        "Claude",
    ]));
    let (mut child, port, _) = watch(Command::new(BIN).args([
        "--database",
        &tls,
        "--trusted-proxies",
        "127.0.0.1/32",
        "serve",
        "--listen",
        "127.0.0.1:0",
    ]));
    let r = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v1/reports"))
        .json(&json!({"service": "claude", "category": "login"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202, "{}", r.text().await.unwrap());

    // The server's connections (writer, monitor, dispatcher, readers), seen
    // from a plain one of the test's own.
    let db = crate::backend::open(&path);
    let (all, encrypted): (i64, i64) = db
        .query_row(
            "SELECT count(*), count(*) FILTER (WHERE s.ssl) FROM pg_stat_activity a \
             JOIN pg_stat_ssl s ON s.pid = a.pid \
             WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()",
            downwave::params![],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(all >= 3, "{all} connections");
    assert_eq!(
        encrypted, all,
        "every connection of the server is encrypted"
    );
    child.kill().unwrap();
    child.wait().unwrap();

    // Another authority, or none (the public roots): the server is not
    // trusted, and nothing is sent to it.
    let other = crate::backend::other_authority();
    for url in [
        format!("{url}?sslmode=require&sslrootcert={}", other.display()),
        format!("{url}?sslmode=verify-full"),
    ] {
        let out = Command::new(BIN)
            .args([
                "--database",
                &url,
                "service",
                "add",
                "gemini",
                "--name",
                "Gemini",
            ])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("certificate"), "{err}");
    }
    let out = Command::new(BIN)
        .args([
            "--database",
            &format!("{url}?sslmode=verify"),
            "service",
            "add",
            "x",
            "--name",
            "X",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sslmode=verify is not one of"), "{err}");
}
