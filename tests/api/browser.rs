//! The dashboard in a real browser: Debian's headless Chromium driven
//! through chromedriver (WebDriver) against the real server, with march-2
//! imported as it happens. Screenshots land in `target/screenshots/`.
//!
//! Needs `chromium` and `chromedriver` (Debian: `apt-get install chromium
//! chromium-driver`; `.ci/run` installs them). `DOWNWAVE_CHROMIUM` and
//! `DOWNWAVE_CHROMEDRIVER` point at other binaries.

mod axe;
/// The incident pages, on the server the live incidents test plays.
pub(crate) mod incident;

use crate::events::march2_between;
use crate::helpers::*;
use axe::axe_violations;
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

/// Whether the browser tests must run (`DOWNWAVE_BROWSER_TESTS=required`, as
/// CI sets it): then a missing browser or axe-core fails them. Otherwise they
/// are skipped, saying so, on a machine without them.
fn browser_required() -> bool {
    std::env::var("DOWNWAVE_BROWSER_TESTS").is_ok_and(|v| v == "required")
}

/// `what` is missing: skip (`None`) with a line on stderr, or fail when required.
fn missing<T>(what: &str) -> Option<T> {
    assert!(
        !browser_required(),
        "{what}, and DOWNWAVE_BROWSER_TESTS=required (Debian: apt-get install chromium \
         chromium-driver; npm install --prefix target/npm axe-core@4.14.1; .ci/run installs them)"
    );
    // Straight to stderr, past the test harness's capture, so a skip is seen.
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "skipped: {what} (the browser tests need Chromium, ChromeDriver and axe-core; \
         .ci/run installs them and sets DOWNWAVE_BROWSER_TESTS=required)"
    );
    None
}

/// Whether `program` can be run: a path that exists, or a name on `PATH`.
fn runnable(program: &str) -> bool {
    let path = std::path::Path::new(program);
    if path.components().count() > 1 {
        return path.is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|dirs| std::env::split_paths(&dirs).any(|d| d.join(program).is_file()))
}

impl Browser {
    /// A headless Chromium session, or `None` (the test is skipped) where
    /// Chromium or ChromeDriver is not installed and not required.
    async fn start() -> Option<Browser> {
        Browser::start_with(&[]).await
    }

    /// A session with more Chromium flags.
    async fn start_with(extra_args: &[&str]) -> Option<Browser> {
        // The pages read the same store on both databases: Chromium checks
        // them on the SQLite pass, and the PostgreSQL pass saves its time.
        if crate::backend::skip_on_postgres("the browser tests run on the SQLite pass") {
            return None;
        }
        let chromium = std::env::var("DOWNWAVE_CHROMIUM").unwrap_or("/usr/bin/chromium".into());
        let chromedriver = std::env::var("DOWNWAVE_CHROMEDRIVER").unwrap_or("chromedriver".into());
        if !runnable(&chromium) || !runnable(&chromedriver) {
            return missing(&format!("no {chromium} or no {chromedriver}"));
        }
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
        let mut args = vec![
            "--headless".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--no-first-run".into(),
            "--window-size=1280,1800".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        args.extend(extra_args.iter().map(|a| a.to_string()));
        let caps = json!({
            "goog:chromeOptions": { "binary": chromium, "args": args }
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
        Some(Browser {
            client,
            driver,
            _profile: profile,
        })
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

    /// Clicks the first element matching `css`, found and clicked in one
    /// script call so a live update in between cannot leave it stale.
    async fn click(&self, css: &str) {
        let script = "const e = document.querySelector(arguments[0]); \
                      if (!e) return false; e.click(); return true;";
        let clicked = self.client.execute(script, vec![json!(css)]).await.unwrap();
        assert_eq!(
            clicked,
            json!(true),
            "no {css} to click on {}",
            self.url().await
        );
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
        s.rate_limit_burst = 4;
        s.dedup_max_per_address = 1;
        // The browser talks to the server directly: no proxy to trust.
        s.trusted_proxies = vec![];
    })
    .await;

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

    let Some(b) = Browser::start().await else {
        return;
    };
    follow_the_outage_on_an_open_page(&app, &b).await;
    home_lists_and_filters(&app, &b).await;
    report_button_answers_in_plain_words(&app, &b).await;
    event_page_lists_the_waves(&b).await;
    markup_is_shown_as_text(&app, &b, evil_name, evil_comment).await;
    b.close().await;
}

fn at(h: u32, m: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, h, m, 30).unwrap()
}

/// The service page, open from before the outage: its status, the chart
/// and the events table follow the detector without a reload.
async fn follow_the_outage_on_an_open_page(app: &TestApp, b: &Browser) {
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
    // The page listens to the live stream rather than polling.
    within(Duration::from_secs(5), "the live stream open", || async {
        b.client
            .execute(
                "return document.documentElement.getAttribute('data-live')",
                vec![],
            )
            .await
            .unwrap()
            == "stream"
    })
    .await;
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
        b.count("#chart svg .chart-tips rect").await >= 60,
        "hover targets across the chart"
    );
    let title = b.text("#chart svg > title").await;
    assert!(title.contains("Claude"), "{title}");
    assert_eq!(b.count("#events tbody tr").await, 1);
    b.screenshot("service").await;
}

/// Home: Claude first, in outage; the filter box narrows the list.
async fn home_lists_and_filters(app: &TestApp, b: &Browser) {
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
}

/// The report button: counted, then a duplicate, then (as another person
/// on the same address: a new client token) over the address's share,
/// then the rate limit, each answered in plain words.
async fn report_button_answers_in_plain_words(app: &TestApp, b: &Browser) {
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
    // The burst of 4 per address: the report for `evil` above took one. One
    // report per address counts for claude.
    let expectations = [
        "your report is counted",
        "we already have your report about Claude",
        "have already come from your network",
        "You have sent several reports in a short time",
    ];
    for (i, expected) in expectations.iter().enumerate() {
        if i == 2 {
            b.client
                .execute("localStorage.removeItem('dw_client')", vec![])
                .await
                .unwrap();
        }
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
            downwave::params![at(14, 50).timestamp_millis() - 30_000],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        counted, 3,
        "counted once, stored again as a duplicate and as over the address's share"
    );
}

/// The event page: its waves in a table, its times in UTC on hover.
async fn event_page_lists_the_waves(b: &Browser) {
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
}

/// What people typed is shown as text, never run.
async fn markup_is_shown_as_text(app: &TestApp, b: &Browser, evil_name: &str, evil_comment: &str) {
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
}

/// A server mid-outage (march-2 imported up to 14:50, three waves, open),
/// with the event's page address.
async fn mid_outage_for_a_browser() -> (TestApp, String) {
    let app = spawn_app_with(|s| s.trusted_proxies = vec![]).await;
    let now = Utc.with_ymd_and_hms(2026, 3, 2, 14, 50, 30).unwrap();
    app.clock.set(now);
    let r = app
        .import(march2_between(i64::MIN, now.timestamp() - 30))
        .await;
    assert_eq!(r.status(), 200);
    let id = app.events("?service=claude").await[0]["id"]
        .as_i64()
        .unwrap();
    (app, format!("/e/{id}"))
}

/// How the page in the browser came to be: styled by our stylesheet, our
/// script run, and whether its body came from the browser's cache after a
/// `304` (transferred bytes below the body's size) or over the wire.
#[derive(Debug, PartialEq, Eq)]
struct LoadedPage {
    styled: bool,
    script_ran: bool,
    revalidated: bool,
}

impl Browser {
    async fn loaded_page(&self) -> LoadedPage {
        let script = "const nav = performance.getEntriesByType('navigation')[0]; \
             const top = getComputedStyle(document.querySelector('header.top')); \
             return [top.backgroundColor === 'rgb(31, 58, 95)' && top.display === 'flex', \
                     document.documentElement.dataset.script === 'ready', \
                     nav.transferSize < nav.encodedBodySize];";
        let v = self.client.execute(script, vec![]).await.unwrap();
        let flag = |i: usize| v[i].as_bool().unwrap();
        LoadedPage {
            styled: flag(0),
            script_ran: flag(1),
            revalidated: flag(2),
        }
    }

    /// Sets the viewport (not the window) to `width` × `height`.
    async fn viewport(&self, width: u32, height: u32) {
        self.client.set_window_size(width, height).await.unwrap();
        let inner = self
            .client
            .execute("return [innerWidth, innerHeight];", vec![])
            .await
            .unwrap();
        let (w, h) = (inner[0].as_u64().unwrap(), inner[1].as_u64().unwrap());
        self.client
            .set_window_size(width + (width - w as u32), height + (height - h as u32))
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returning_visitor_gets_the_page_styled_and_live() {
    let (app, event) = mid_outage_for_a_browser().await;
    let pages = ["/", "/s/claude", "/s/claude?range=6h", event.as_str()];
    let Some(b) = Browser::start().await else {
        return;
    };
    // The first page the script runs on sets the viewer's zone cookie,
    // which every page after it is drawn for.
    b.client.goto(&app.url("/")).await.unwrap();
    within(Duration::from_secs(5), "the zone cookie", || async {
        b.text("#zone").await == VIEWER_ZONE_LABEL
    })
    .await;
    let first = LoadedPage {
        styled: true,
        script_ran: true,
        revalidated: false,
    };
    let again = LoadedPage {
        revalidated: true,
        ..first
    };
    for path in pages {
        b.client.goto(&app.url(path)).await.unwrap();
        assert_eq!(b.loaded_page().await, first, "{path}, first visit");
        // Back again: the browser revalidates its copy and gets a 304.
        b.client.goto(&app.url("/static/app.css")).await.unwrap();
        b.client.goto(&app.url(path)).await.unwrap();
        assert_eq!(b.loaded_page().await, again, "{path}, second visit");
    }
    // The report button is live on the returning visit, the sentence gone.
    b.client.goto(&app.url("/s/claude")).await.unwrap();
    let button = b.client.find(Locator::Id("report-button")).await.unwrap();
    assert!(button.is_enabled().await.unwrap());
    let sentence = b.client.find(Locator::Id("report-needs-script")).await;
    assert!(!sentence.unwrap().is_displayed().await.unwrap());

    // The detector's minute moves: every page is new, and still whole.
    app.clock.advance(chrono::Duration::minutes(2));
    app.monitor.catch_up().await.unwrap();
    for path in pages {
        b.client.goto(&app.url(path)).await.unwrap();
        assert_eq!(b.loaded_page().await, first, "{path}, after a minute");
    }
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_its_script_the_report_form_explains_and_stays_inert() {
    let (app, _) = mid_outage_for_a_browser().await;
    let Some(b) = Browser::start_with(&["--blink-settings=scriptEnabled=false"]).await else {
        return;
    };
    b.client.goto(&app.url("/s/claude")).await.unwrap();
    assert_eq!(
        b.loaded_page().await,
        LoadedPage {
            styled: true,
            script_ran: false,
            revalidated: false
        }
    );
    // What the page shows needs no script: the status, the chart with its
    // waves and a tip on each stretch, the outage in the table.
    assert_eq!(b.text("#status .pill").await, "Outage");
    assert_eq!(b.count("#chart svg .chart-peaks > g").await, 3);
    assert!(b.count("#chart svg .chart-tips rect > title").await >= 60);
    assert_eq!(b.count("#events tbody tr").await, 1);
    let sentence = b.text("#report-needs-script").await;
    assert!(sentence.contains("needs this page's script"), "{sentence}");
    let button = b.client.find(Locator::Id("report-button")).await.unwrap();
    assert!(!button.is_enabled().await.unwrap());
    // Enter in a field cannot send the form either.
    b.client
        .find(Locator::Id("error-code"))
        .await
        .unwrap()
        .send_keys("503\u{E007}")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(b.url().await.ends_with("/s/claude"), "{}", b.url().await);
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axe_finds_no_violation_on_a_phone_or_a_desktop() {
    let (app, event) = mid_outage_for_a_browser().await;
    let found = axe_violations(&app, &["/", "/s/claude", event.as_str()]).await;
    assert!(found.is_empty(), "accessibility:\n{}", found.join("\n"));
}

/// The pages of an event from too few networks: its marks and the extra
/// column of the service page's outages.
#[tokio::test]
async fn axe_finds_no_violation_on_a_concentrated_event() {
    let (app, _rx) = crate::networks::gated_app().await;
    crate::networks::quiet_history(&app).await;
    crate::networks::play(&app, &[150; 3], crate::networks::one_slash_16).await;
    let events = app.events("?service=claude").await;
    assert_eq!(events[0]["concentrated"], true);
    let event = format!("/e/{}", events[0]["id"]);
    let found = axe_violations(&app, &["/", "/s/claude", event.as_str()]).await;
    assert!(found.is_empty(), "accessibility:\n{}", found.join("\n"));
}
