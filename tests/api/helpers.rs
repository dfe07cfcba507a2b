//! Test harness: starts the real server on port 0 with a fresh temporary
//! database and a clock the test controls, and offers one helper per endpoint.

use chrono::{DateTime, TimeZone, Utc};
use downwave::app::Application;
use downwave::clock::ManualClock;
use downwave::config::Settings;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;

pub const ADMIN_TOKEN: &str = "test-admin-token";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub db_path: PathBuf,
    pub settings: Settings,
    pub handle: downwave::app::StopHandle,
    pub monitor: downwave::monitor::MonitorHandle,
    pub server: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// Keeps the temporary directory (and the database) alive.
    pub dir: Arc<tempfile::TempDir>,
}

pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 11, 49, 0).unwrap()
}

/// Settings for tests: a fresh database, the admin token set, loopback trusted
/// as a proxy (so tests can play many clients with X-Forwarded-For) and rate
/// limits high enough not to get in the way unless a test lowers them.
pub fn test_settings(dir: &tempfile::TempDir) -> Settings {
    let mut s = Settings::with_database(crate::backend::location(&dir.path().join("downwave.db")));
    s.listen = "127.0.0.1:0".parse().unwrap();
    s.admin_token = Some(ADMIN_TOKEN.into());
    s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    s.rate_limit_per_minute = 1_000_000;
    s.rate_limit_burst = 1_000_000;
    s.workers = 2;
    s.shutdown_timeout = std::time::Duration::from_secs(5);
    s
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut settings = test_settings(&dir);
    tweak(&mut settings);
    let app = spawn_on(settings, dir, Arc::new(ManualClock::new(start_time()))).await;
    app.create_service("claude", "Claude", &[]).await;
    app
}

/// Starts a server on `settings` (a restart reuses the directory and clock).
pub async fn spawn_on(
    settings: Settings,
    dir: Arc<tempfile::TempDir>,
    clock: Arc<ManualClock>,
) -> TestApp {
    // The server's warnings and errors, shown with a failing test's output.
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_ansi(false)
        .with_env_filter("warn")
        .try_init();
    let app = Application::build(settings.clone(), clock.clone()).expect("server builds");
    let port = app.port();
    let handle = app.handle();
    let monitor = app.monitor();
    let server = tokio::spawn(app.run());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::new(),
        clock,
        db_path: dir.path().join("downwave.db"),
        settings,
        handle,
        monitor,
        server,
        dir,
    }
}

impl TestApp {
    /// Stops gracefully and waits until every queued report is committed.
    pub async fn stop(self) -> (Settings, Arc<tempfile::TempDir>, Arc<ManualClock>) {
        self.handle.stop(true).await;
        self.server.await.unwrap().unwrap();
        (self.settings, self.dir, self.clock)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// Waits (up to 5 s) for `/metrics` to hold every one of `lines`: a
    /// background task counts its work just after it commits.
    pub async fn wait_for_metrics(&self, lines: &[&str]) {
        let mut metrics = String::new();
        for _ in 0..100 {
            metrics = self.get("/metrics").await.text().await.unwrap();
            if lines.iter().all(|line| metrics.contains(line)) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("{lines:?} in {metrics}");
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let r = self.get(path).await;
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// The counts of `service`'s series for the `minutes` minutes from
    /// `from` (the start of a minute), from the API.
    pub async fn minute_counts(
        &self,
        service: &str,
        from: DateTime<Utc>,
        minutes: i64,
    ) -> Vec<i64> {
        let to = from + chrono::Duration::minutes(minutes);
        let (status, s) = self
            .get_json(&format!(
                "/api/v1/services/{service}/series?from={}&to={}",
                from.format("%Y-%m-%dT%H:%M:00Z"),
                to.format("%Y-%m-%dT%H:%M:00Z")
            ))
            .await;
        assert_eq!(status, 200, "{s}");
        s["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["count"].as_i64().unwrap())
            .collect()
    }

    pub async fn create_service(&self, slug: &str, name: &str, categories: &[&str]) -> Value {
        let r = self
            .client
            .post(self.url("/api/v1/services"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"slug": slug, "name": name, "categories": categories}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201, "creating {slug}");
        r.json().await.unwrap()
    }

    /// Posts a report as the client at `from` (through the trusted proxy).
    pub async fn report_from(&self, from: &str, body: Value) -> reqwest::Response {
        self.client
            .post(self.url("/api/v1/reports"))
            .header("x-forwarded-for", from)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// The status of a report sent as if from `from`.
    pub async fn report_status_from(&self, from: &str, body: Value) -> u16 {
        self.report_from(from, body).await.status().as_u16()
    }

    pub async fn report(&self, body: Value) -> reqwest::Response {
        self.report_from("198.51.100.1", body).await
    }

    pub async fn post_raw(
        &self,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.client
            .post(self.url("/api/v1/reports"))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Opens the database directly, as an operator would.
    pub fn db(&self) -> downwave::store::Db {
        let opts = downwave::store::OpenOptions::default();
        downwave::store::open_writer(&self.settings.database, &opts).unwrap()
    }

    /// Total count in `report_minutes` for a service.
    pub fn counted_in_minutes(&self, slug: &str) -> i64 {
        self.db()
            .query_row(
                "SELECT CAST(COALESCE(SUM(m.count), 0) AS BIGINT) FROM report_minutes m \
                 JOIN services s ON s.id = m.service_id WHERE s.slug = ?1",
                downwave::params![slug],
                |r| r.get(0),
            )
            .unwrap()
    }
}

/// Asserts an error response's status and stable code; returns the body.
pub async fn assert_error(resp: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(resp.status().as_u16(), status, "status for {code}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "body: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "a message: {body}"
    );
    body
}
