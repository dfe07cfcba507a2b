//! The dashboard in a real browser: Debian's headless Chromium driven
//! through chromedriver (WebDriver) against the real server, with march-2
//! imported as it happens. Screenshots land in `target/screenshots/`.
//!
//! Needs `chromium` and `chromedriver` (Debian: `apt-get install chromium
//! chromium-driver`; `.ci/run` installs them). `DOWNWAVE_CHROMIUM` and
//! `DOWNWAVE_CHROMEDRIVER` point at other binaries.

use crate::events::march2_between;
use crate::helpers::*;
use chrono::{TimeZone, Utc};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::future::Future;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The viewer's zone in the browser: times must follow it.
const VIEWER_TZ: &str = "Asia/Kolkata";
const VIEWER_ZONE_LABEL: &str = "Times in UTC+05:30";

/// A headless Chromium session behind its own chromedriver.
struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Browser {
        let chromium = std::env::var("DOWNWAVE_CHROMIUM").unwrap_or("/usr/bin/chromium".into());
        let chromedriver = std::env::var("DOWNWAVE_CHROMEDRIVER").unwrap_or("chromedriver".into());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .env("TZ", VIEWER_TZ)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {chromedriver} ({e}): the browser tests need Chromium and \
                     ChromeDriver (Debian: apt-get install chromium chromium-driver; .ci/run \
                     installs them)"
                )
            });
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                    "--window-size=1280,1800",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        });
        let caps = caps.as_object().unwrap().clone();
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => break c,
                Err(e) if started.elapsed() < Duration::from_secs(20) => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("chromedriver at {url} did not start a session: {e}"),
            }
        };
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    /// The text of the first element matching `css`, read in one script
    /// call so a live update between finding and reading cannot race it.
    /// SVG `<title>`s are not rendered, so they give their text content.
    async fn text(&self, css: &str) -> String {
        let script = "const e = document.querySelector(arguments[0]); \
                      if (!e) return null; \
                      return (e instanceof HTMLElement ? e.innerText : e.textContent).trim();";
        match self.client.execute(script, vec![json!(css)]).await.unwrap() {
            serde_json::Value::String(s) => s,
            _ => {
                let page = self
                    .client
                    .execute(
                        "return document.title + ': ' + document.body.innerText.slice(0, 300);",
                        vec![],
                    )
                    .await
                    .unwrap_or_default();
                panic!("no {css} on {}; the page says {page}", self.url().await)
            }
        }
    }

    async fn count(&self, css: &str) -> usize {
        let script = "return document.querySelectorAll(arguments[0]).length;";
        let n = self.client.execute(script, vec![json!(css)]).await.unwrap();
        n.as_u64().unwrap() as usize
    }

    async fn url(&self) -> String {
        self.client.current_url().await.unwrap().to_string()
    }

    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Polls `check` every 100 ms until it holds or `limit` passes; returns how
/// long it took.
async fn within<F, Fut>(limit: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if check().await {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "{what}: not seen within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_headless_chromium() {
    let app = spawn_app_with(|s| {
        s.rate_limit_per_minute = 1;
        s.rate_limit_burst = 3;
        // The browser talks to the server directly: no proxy to trust.
        s.trusted_proxies = vec![];
    })
    .await;
    let at = |h, m| Utc.with_ymd_and_hms(2026, 3, 2, h, m, 30).unwrap();

    // Before the outage: history up to 11:48.
    app.clock.set(at(11, 48));
    let r = app
        .import(march2_between(i64::MIN, at(11, 48).timestamp() - 30))
        .await;
    assert_eq!(r.status(), 200);
    // A service whose name, and a report whose comment, try to inject markup.
    let evil_name = "<script>document.title='owned'</script><b>Evil</b>";
    let evil_comment = "<img src=x onerror=alert(1)><script>alert('comment')</script>";
    app.create_service("evil", evil_name, &[]).await;
    let r = app
        .report(json!({"service": "evil", "category": "login", "comment": evil_comment}))
        .await;
    assert_eq!(r.status(), 202);

    let b = Browser::start().await;
    b.client.goto(&app.url("/s/claude")).await.unwrap();
    assert_eq!(b.text("#status .pill").await, "No problems");
    // Our script tells the server the viewer's zone; times follow it.
    within(
        Duration::from_secs(5),
        "times in the viewer's zone",
        || async { b.text("#zone").await == VIEWER_ZONE_LABEL },
    )
    .await;

    // The outage begins: the open page shows it within 5 seconds of the
    // detector opening the event (the import returns once it has).
    app.clock.set(at(11, 53));
    let r = app
        .import(march2_between(
            at(11, 48).timestamp() - 30,
            at(11, 53).timestamp() - 30,
        ))
        .await;
    assert_eq!(r.status(), 200);
    let took = within(
        Duration::from_secs(5),
        "the outage on the open page",
        || async { b.text("#status .pill").await == "Outage" },
    )
    .await;
    eprintln!("the open page showed the new event after {took:?}");

    // Three waves later, still open: the chart follows without a reload.
    app.clock.set(at(14, 50));
    let r = app
        .import(march2_between(
            at(11, 53).timestamp() - 30,
            at(14, 50).timestamp() - 30,
        ))
        .await;
    assert_eq!(r.status(), 200);
    within(
        Duration::from_secs(5),
        "three wave peaks on the chart",
        || async { b.count("#chart svg .chart-peaks > g").await == 3 },
    )
    .await;
    assert_eq!(
        b.count("#chart svg .chart-events > g").await,
        1,
        "one event shaded"
    );
    assert!(
        b.count("#chart svg .chart-band *").await > 0,
        "the baseline band"
    );
    assert!(
        b.count("#chart svg .chart-baseline *").await > 0,
        "the baseline"
    );
    assert!(
        b.count("#chart svg .chart-tips rect").await >= 1000,
        "per-point tooltips"
    );
    let title = b.text("#chart svg > title").await;
    assert!(title.contains("Claude"), "{title}");
    assert_eq!(b.count("#events tbody tr").await, 1);
    b.screenshot("service").await;

    // Home: Claude first, in outage; the filter box narrows the list.
    b.client.goto(&app.url("/")).await.unwrap();
    assert_eq!(
        b.text("#service-list li:first-child .service-name").await,
        "Claude"
    );
    assert_eq!(b.text("#service-list li:first-child .pill").await, "Outage");
    assert_eq!(b.count("#service-list li .spark svg").await, 2);
    b.screenshot("home").await;
    b.client
        .find(Locator::Id("filter"))
        .await
        .unwrap()
        .send_keys("clau")
        .await
        .unwrap();
    within(
        Duration::from_secs(2),
        "the filter hides other services",
        || async { b.count("#service-list li:not([hidden])").await == 1 },
    )
    .await;

    // The report button: counted, then a duplicate, then the rate limit,
    // each answered in plain words.
    b.client.goto(&app.url("/s/claude")).await.unwrap();
    b.client
        .find(Locator::Css("input[name=category][value=website]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.client
        .find(Locator::Id("error-code"))
        .await
        .unwrap()
        .send_keys("503")
        .await
        .unwrap();
    // The burst of 3 per address: the report for `evil` above took one.
    let expectations = [
        "your report is counted",
        "we already have your report about Claude",
        "You have sent several reports in a short time",
    ];
    for (i, expected) in expectations.iter().enumerate() {
        b.client
            .find(Locator::Id("report-button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let started = Instant::now();
        loop {
            let shown = b.text("#report-result").await;
            if shown.contains(expected) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "report {}: expected \"{expected}\", the page says \"{shown}\"",
                i + 1
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if i == 0 {
            b.screenshot("service-reported").await;
        }
    }
    let counted: i64 = app
        .db()
        .query_row(
            "SELECT count(*) FROM reports r JOIN services s ON s.id = r.service_id \
             WHERE s.slug = 'claude' AND r.category = 'website' AND r.error_code = 503 \
             AND r.received_ms >= ?1",
            [at(14, 50).timestamp_millis() - 30_000],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(counted, 2, "counted once, stored once more as a duplicate");

    // The event page: its waves in a table.
    b.client
        .find(Locator::Css("#events tbody a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    within(Duration::from_secs(5), "the event page", || async {
        b.url().await.contains("/e/")
    })
    .await;
    assert_eq!(b.count("#waves tbody tr").await, 3);
    assert!(b.text("h1").await.contains("Claude: outage #"));
    let hover = b
        .client
        .find(Locator::Css("#event-head time"))
        .await
        .unwrap()
        .attr("title")
        .await
        .unwrap()
        .unwrap();
    assert!(hover.ends_with("UTC"), "UTC on hover: {hover}");
    b.screenshot("event").await;

    // What people typed is shown as text, never run.
    b.client.goto(&app.url("/s/evil")).await.unwrap();
    assert_eq!(b.text("h1").await, evil_name);
    assert_eq!(b.text(".comment-text").await, evil_comment);
    assert_eq!(b.count("main script, main img, h1 b").await, 0);
    assert_ne!(b.client.title().await.unwrap(), "owned");
    b.client.goto(&app.url("/")).await.unwrap();
    within(Duration::from_secs(2), "the evil name as text", || async {
        b.text("#service-list li:last-child .service-name").await == evil_name
    })
    .await;
    b.screenshot("escaping").await;
    b.close().await;
}
