//! The dashboard over plain HTTP: status codes, security headers, escaping,
//! conditional requests, the embeddable chart and badge, the Atom feed.

use crate::events::march2_between;
use crate::helpers::*;
use chrono::{TimeZone, Utc};
use serde_json::json;

/// Whether `body` holds `text` escaped, with named or numeric entities
/// (askama writes numeric ones, plotters' SVG named ones).
fn holds_escaped(body: &str, text: &str) -> bool {
    let escape = |named: bool, apos: &str| {
        let mut out = String::new();
        for c in text.chars() {
            match (c, named) {
                ('&', true) => out.push_str("&amp;"),
                ('<', true) => out.push_str("&lt;"),
                ('>', true) => out.push_str("&gt;"),
                ('"', true) => out.push_str("&quot;"),
                ('\'', true) => out.push_str(apos),
                ('&' | '<' | '>' | '"' | '\'', false) => out.push_str(&format!("&#{};", c as u32)),
                _ => out.push(c),
            }
        }
        out
    };
    [
        escape(false, ""),
        escape(true, "&#39;"),
        escape(true, "&apos;"),
    ]
    .iter()
    .any(|e| body.contains(e.as_str()))
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// A server mid-outage: march-2 imported up to 14:50, three waves, open.
async fn mid_outage() -> TestApp {
    let app = spawn_app().await;
    let now = Utc.with_ymd_and_hms(2026, 3, 2, 14, 50, 30).unwrap();
    app.clock.set(now);
    let r = app
        .import(march2_between(i64::MIN, now.timestamp() - 30))
        .await;
    assert_eq!(r.status(), 200);
    app
}

#[tokio::test]
async fn pages_carry_a_strict_policy_and_may_not_be_framed() {
    let app = spawn_app().await;
    for path in ["/", "/s/claude", "/s/claude?range=6h", "/s/claude?range=7d"] {
        let r = app.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        assert!(
            header(&r, "content-type").starts_with("text/html"),
            "{path}"
        );
        let csp = header(&r, "content-security-policy");
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(header(&r, "x-content-type-options"), "nosniff");
        assert_eq!(header(&r, "x-frame-options"), "DENY");
        let body = r.text().await.unwrap();
        // No inline script or style anywhere (the policy would block them).
        assert!(
            !body.contains("<script>") && !body.contains("style="),
            "{path}"
        );
        assert!(body.contains("<script src=\"/static/app.js?v="), "{path}");
    }
    // The chart and the badge may be embedded anywhere; nothing active runs.
    for path in ["/s/claude/chart.svg", "/badge/claude.svg"] {
        let r = app.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        assert!(header(&r, "content-type").starts_with("image/svg+xml"));
        let csp = header(&r, "content-security-policy");
        assert!(csp.contains("frame-ancestors *") && csp.contains("default-src 'none'"));
        assert_eq!(header(&r, "x-frame-options"), "");
    }
    // The API keeps its own, framing-proof defaults.
    let r = app.get("/api/v1/services").await;
    assert_eq!(header(&r, "x-content-type-options"), "nosniff");
    assert!(header(&r, "content-security-policy").contains("frame-ancestors 'none'"));
}

#[tokio::test]
async fn what_people_typed_is_escaped_everywhere() {
    let app = spawn_app().await;
    let name = "<script>alert('n')</script>&co";
    app.create_service("evil", name, &[]).await;
    let comment = "\"><img src=x onerror=alert(1)>";
    let r = app
        .report(json!({"service": "evil", "category": "app", "comment": comment}))
        .await;
    assert_eq!(r.status(), 202);
    for path in [
        "/",
        "/s/evil",
        "/badge/evil.svg",
        "/s/evil/chart.svg",
        "/events.atom?service=evil",
    ] {
        let body = app.get(path).await.text().await.unwrap();
        assert!(!body.contains("<script>alert"), "{path}");
        assert!(!body.contains("<img src=x"), "{path}");
        assert!(
            holds_escaped(&body, name),
            "{path}: the name is shown: {body}"
        );
    }
    let page = app.get("/s/evil").await.text().await.unwrap();
    assert!(holds_escaped(&page, comment), "the comment is shown");
}

#[tokio::test]
async fn bad_addresses_get_html_errors_and_the_api_keeps_json() {
    let app = spawn_app().await;
    let r = app.get("/s/nope").await;
    assert_eq!(r.status(), 404);
    assert!(header(&r, "content-type").starts_with("text/html"));
    assert!(r.text().await.unwrap().contains("there is no service"));
    let r = app.get("/s/claude?range=1y").await;
    assert_eq!(r.status(), 400);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("range must be 6h, 24h or 7d"));
    assert_eq!(app.get("/e/999").await.status(), 404);
    assert_eq!(app.get("/e/abc").await.status(), 404);
    assert_eq!(app.get("/badge/nope.svg").await.status(), 404);
    assert_eq!(app.get("/events.atom?service=nope").await.status(), 404);
    assert_eq!(app.get("/static/nope.js").await.status(), 404);
    let r = app.get("/no/such/page").await;
    assert_eq!(r.status(), 404);
    assert!(header(&r, "content-type").starts_with("text/html"));
    assert_error(app.get("/api/v1/nope").await, 404, "not_found").await;
}

#[tokio::test]
async fn live_pages_answer_304_until_the_detector_moves() {
    let app = spawn_app().await;
    let get = |headers: &[(&'static str, String)]| {
        let mut r = app.client.get(app.url("/s/claude"));
        for (name, value) in headers {
            r = r.header(*name, value);
        }
        r.send()
    };
    let etag = header(&get(&[]).await.unwrap(), "etag");
    assert!(!etag.is_empty());
    let again = get(&[("if-none-match", etag.clone())]).await.unwrap();
    assert_eq!(again.status(), 304);
    // A minute closes: the detector processes it and the page changes.
    app.clock.advance(chrono::Duration::minutes(2));
    app.monitor.catch_up().await.unwrap();
    let after = get(&[("if-none-match", etag.clone())]).await.unwrap();
    assert_eq!(after.status(), 200);
    assert_ne!(header(&after, "etag"), etag);
    // The viewer's zone is part of the page.
    let zoned = get(&[
        ("cookie", "dw_tz=120".into()),
        ("if-none-match", header(&after, "etag")),
    ])
    .await
    .unwrap();
    assert_eq!(zoned.status(), 200);
    assert!(zoned.text().await.unwrap().contains("Times in UTC+02:00"));
}

/// Generations count from 0 in each process: a tag a viewer kept from
/// before a restart (or got from another node) must not be answered `304`
/// for what may be another page.
#[tokio::test]
async fn a_tag_from_before_a_restart_is_not_answered_304() {
    let app = spawn_app().await;
    let paths = [
        "/",
        "/s/claude",
        "/events.atom",
        "/events.atom?service=claude",
    ];
    let mut tags = Vec::new();
    for path in paths {
        let r = app.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        tags.push(header(&r, "etag"));
    }
    let (settings, dir, clock) = app.stop().await;
    let app = spawn_on(settings, dir, clock).await;
    for (path, tag) in paths.iter().zip(&tags) {
        let r = app
            .client
            .get(app.url(path))
            .header("if-none-match", tag)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}: a tag of the last process");
        let fresh = header(&r, "etag");
        let again = app
            .client
            .get(app.url(path))
            .header("if-none-match", &fresh)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path}: its own tag");
    }
}

/// The headers a browser or a cache keeps from a `200` and updates from
/// each `304`; `Vary` as its set of names (several lines mean one list).
pub(crate) fn kept_headers(r: &reqwest::Response) -> Vec<(&'static str, String)> {
    let names = [
        "etag",
        "cache-control",
        "content-security-policy",
        "x-frame-options",
        "x-content-type-options",
        "referrer-policy",
        "access-control-allow-origin",
    ];
    let mut kept: Vec<_> = names.iter().map(|n| (*n, header(r, n))).collect();
    let mut vary: Vec<String> = r
        .headers()
        .get_all("vary")
        .iter()
        .flat_map(|v| v.to_str().unwrap().split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .collect();
    vary.sort();
    vary.dedup();
    kept.push(("vary", vary.join(", ")));
    kept
}

#[tokio::test]
async fn a_304_carries_the_headers_of_the_200_it_stands_for() {
    let app = mid_outage().await;
    let id = app.events("?service=claude").await[0]["id"]
        .as_i64()
        .unwrap();
    let event = format!("/e/{id}");
    let paths = [
        "/",
        "/?q=cla",
        "/s/claude",
        "/s/claude?range=7d",
        event.as_str(),
        "/s/claude/chart.svg",
        "/badge/claude.svg",
        "/events.atom",
        "/events.atom?service=claude",
    ];
    for path in paths {
        let get = |etag: Option<&str>| {
            let mut r = app
                .client
                .get(app.url(path))
                .header("accept-encoding", "gzip")
                .header("cookie", "dw_tz=60");
            if let Some(etag) = etag {
                r = r.header("if-none-match", etag);
            }
            r.send()
        };
        let full = get(None).await.unwrap();
        assert_eq!(full.status(), 200, "{path}");
        let etag = header(&full, "etag");
        assert!(!etag.is_empty(), "{path}: an ETag");
        let again = get(Some(&etag)).await.unwrap();
        assert_eq!(again.status(), 304, "{path}");
        assert_eq!(kept_headers(&again), kept_headers(&full), "{path}");
        assert!(
            header(&again, "vary")
                .to_ascii_lowercase()
                .contains("accept-encoding"),
            "{path}: the 304 says what the answer varies on"
        );
    }
    // Pages keep their own policy on the 304: the stylesheet and script may load.
    let page = app.get("/s/claude").await;
    let etag = header(&page, "etag");
    let again = app
        .client
        .get(app.url("/s/claude"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert!(header(&again, "content-security-policy").contains("style-src 'self'"));
    // The badge and the feed are the same in every zone; pages and the chart are not.
    for (path, follows) in [
        ("/badge/claude.svg", false),
        ("/events.atom", false),
        ("/s/claude/chart.svg", true),
        ("/", true),
    ] {
        let tag = |zone: &'static str| {
            let r = app
                .client
                .get(app.url(path))
                .header("cookie", format!("dw_tz={zone}"))
                .send();
            async move { header(&r.await.unwrap(), "etag") }
        };
        assert_eq!(tag("60").await != tag("-300").await, follows, "{path}");
    }
}

#[tokio::test]
async fn an_outage_shows_on_every_page_the_badge_and_the_feed() {
    let app = mid_outage().await;
    let home = app.get("/").await.text().await.unwrap();
    let claude = home.find("/s/claude").unwrap();
    assert!(
        home[claude..].contains("pill-outage"),
        "claude is in outage"
    );

    let page = app.get("/s/claude").await.text().await.unwrap();
    assert!(page.contains("class=\"chart-events\""));
    assert_eq!(page.matches("Wave 1 peak").count(), 1);
    assert!(page.contains("Wave 3 peak"));
    assert!(page.contains("Most reported problems"));
    assert!(page.contains(">login</th>") && page.contains(">529</th>"));

    let events = app.events("?service=claude").await;
    assert_eq!(events.len(), 1);
    let id = events[0]["id"].as_i64().unwrap();
    let event = app.get(&format!("/e/{id}")).await.text().await.unwrap();
    let waves = &event[event.find("id=\"waves\"").unwrap()..];
    let waves = &waves[..waves.find("</table>").unwrap()];
    assert_eq!(
        waves.matches("<th scope=\"row\">").count(),
        3,
        "three waves"
    );
    assert!(event.contains("Ongoing"));
    assert!(event.contains("Alerts sent"));
    // Imported history has no address: it adds no network and is an outage.
    assert_eq!(events[0]["networks"], 0);
    assert_eq!(events[0]["concentrated"], false);
    assert!(event.contains("none with an address (imported history)"));
    assert!(!event.contains(">Concentrated</span>"));

    let badge = app.get("/badge/claude.svg").await.text().await.unwrap();
    assert!(badge.contains(">outage</text>") && badge.contains("#b3261e"));

    let r = app.get("/events.atom").await;
    assert!(header(&r, "content-type").starts_with("application/atom+xml"));
    let feed = r.text().await.unwrap();
    assert!(
        feed.starts_with("<?xml") && feed.contains("<feed xmlns=\"http://www.w3.org/2005/Atom\">")
    );
    assert_eq!(feed.matches("<entry>").count(), 1);
    assert!(feed.contains("Claude: outage (") && feed.contains("ongoing"));
    assert!(feed.contains(&format!("/e/{id}</id>")));

    // Seven days at one-minute steps: every minute has its tooltip target
    // merged to 2 px, and the week's event is there.
    let r = app.get("/s/claude/chart.svg?range=7d").await;
    assert_eq!(r.status(), 200);
    let svg = r.text().await.unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("chart-tips"));
    assert!(svg.contains("last 7 days"));
}

#[tokio::test]
async fn comments_can_be_kept_off_the_pages() {
    let app = spawn_app_with(|s| s.public_comments = false).await;
    let r = app
        .report(json!({"service": "claude", "category": "app", "comment": "secret words"}))
        .await;
    assert_eq!(r.status(), 202);
    let page = app.get("/s/claude").await.text().await.unwrap();
    assert!(!page.contains("secret words") && !page.contains("What people say"));
}

#[tokio::test]
async fn the_event_page_lists_the_alerts_sent_without_their_urls() {
    let app = spawn_app_with(|s| {
        s.webhook_allow_private = true;
        // Announce the whole imported day, so the event's changes are sent.
        s.alert_max_age = std::time::Duration::from_secs(86_400);
    })
    .await;
    let secret_url = "http://127.0.0.1:9/hooks/T000/B000/secret-token";
    let (_, _) = app
        .subscribe(json!({"url": secret_url, "format": "slack"}))
        .await;
    let now = Utc.with_ymd_and_hms(2026, 3, 2, 14, 50, 30).unwrap();
    app.clock.set(now);
    let r = app
        .import(march2_between(i64::MIN, now.timestamp() - 30))
        .await;
    assert_eq!(r.status(), 200);
    let id = app.events("?service=claude").await[0]["id"]
        .as_i64()
        .unwrap();
    let page = app.get(&format!("/e/{id}")).await.text().await.unwrap();
    let alerts = &page[page.find("id=\"alerts\"").unwrap()..];
    // Opened, then a message for each of waves 2 and 3.
    assert_eq!(alerts.matches("<td>slack</td>").count(), 3, "{alerts}");
    assert_eq!(alerts.matches("<td>outage.opened</td>").count(), 1);
    assert_eq!(alerts.matches("<td>outage.wave</td>").count(), 2);
    assert!(!page.contains("secret-token") && !page.contains("127.0.0.1:9"));
}

/// The zone cookie is the client's: any integer, however large, is either a
/// real offset (−14 h … +14 h) or ignored, never a crash.
#[tokio::test]
async fn any_zone_cookie_gives_a_page() {
    let app = spawn_app().await;
    for (cookie, zone) in [
        ("-2147483648", "Times in UTC"),
        ("2147483647", "Times in UTC"),
        ("-841", "Times in UTC"),
        ("841", "Times in UTC"),
        ("-840", "Times in UTC-14:00"),
        ("840", "Times in UTC+14:00"),
        ("-99999999999", "Times in UTC"),
        ("x", "Times in UTC"),
    ] {
        let r = app
            .client
            .get(app.url("/s/claude"))
            .header("cookie", format!("dw_tz={cookie}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "dw_tz={cookie}");
        let page = r.text().await.unwrap();
        assert!(page.contains(zone), "dw_tz={cookie} should give {zone}");
    }
}

/// The body of `path` fetched with `Accept-Encoding: accept`, decoded; and
/// its `Content-Encoding`.
async fn fetch_encoded(app: &TestApp, path: &str, accept: &str) -> (String, String, String) {
    use std::io::Read as _;
    let r = app
        .client
        .get(app.url(path))
        .header("accept-encoding", accept)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    let encoding = header(&r, "content-encoding");
    let etag = header(&r, "etag");
    let raw = r.bytes().await.unwrap();
    let mut body = String::new();
    match encoding.as_str() {
        "br" => brotli::Decompressor::new(&raw[..], 4096)
            .read_to_string(&mut body)
            .map(|_| ()),
        "gzip" => flate2::read::GzDecoder::new(&raw[..])
            .read_to_string(&mut body)
            .map(|_| ()),
        _ => {
            body = String::from_utf8(raw.to_vec()).unwrap();
            Ok(())
        }
    }
    .unwrap();
    (body, encoding, etag)
}

/// The value of a counter in `/metrics`.
async fn metric(app: &TestApp, name: &str) -> f64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in /metrics"))
}

#[tokio::test]
async fn each_version_is_rendered_once_and_sent_precompressed() {
    let app = mid_outage().await;
    for path in [
        "/s/claude",
        "/s/claude?range=7d",
        "/s/claude/chart.svg",
        "/",
        "/badge/claude.svg",
        "/events.atom",
        "/e/1",
    ] {
        let renders = metric(&app, "downwave_page_renders_total").await;
        let (plain, none, tag) = fetch_encoded(&app, path, "identity").await;
        assert_eq!(none, "", "{path}");
        let (brotli, br, tag_br) = fetch_encoded(&app, path, "gzip, deflate, br").await;
        let (gzip, gz, tag_gz) = fetch_encoded(&app, path, "gzip").await;
        assert_eq!((br.as_str(), gz.as_str()), ("br", "gzip"), "{path}");
        // One version: the same body and tag in every encoding, rendered once.
        assert_eq!(brotli, plain, "{path}");
        assert_eq!(gzip, plain, "{path}");
        assert_eq!((&tag_br, &tag_gz), (&tag, &tag), "{path}");
        let rendered = metric(&app, "downwave_page_renders_total").await - renders;
        assert_eq!(rendered, 1.0, "{path} rendered {rendered} times");
    }
    assert!(metric(&app, "downwave_page_cache_hits_total").await >= 14.0);
    // The next minute is a new version.
    let (before, _, tag) = fetch_encoded(&app, "/s/claude", "br").await;
    app.clock.advance(chrono::Duration::minutes(1));
    app.monitor.catch_up().await.unwrap();
    let (after, _, new_tag) = fetch_encoded(&app, "/s/claude", "br").await;
    assert_ne!(tag, new_tag);
    assert_ne!(before, after);
}

#[tokio::test]
async fn invented_query_parameters_and_filters_share_or_skip_the_cache() {
    let app = mid_outage().await;
    let renders = metric(&app, "downwave_page_renders_total").await;
    for n in 0..5 {
        fetch_encoded(&app, &format!("/s/claude?utm_source={n}"), "br").await;
    }
    // One version of the page, whatever else the query says.
    assert_eq!(
        metric(&app, "downwave_page_renders_total").await - renders,
        1.0
    );
    // A free-text filter of the home page is rendered each time, never kept.
    let renders = metric(&app, "downwave_page_renders_total").await;
    for word in ["cla", "claud", "xyz"] {
        let (body, encoding, _) = fetch_encoded(&app, &format!("/?q={word}"), "identity").await;
        assert_eq!(encoding, "");
        assert!(body.contains(&format!("value=\"{word}\"")), "{body}");
    }
    assert_eq!(metric(&app, "downwave_page_renders_total").await, renders);
}

#[tokio::test]
async fn the_service_page_stays_under_60_kb_in_an_outage() {
    let app = mid_outage().await;
    for path in ["/s/claude", "/s/claude?range=6h", "/s/claude?range=7d"] {
        let (body, _, _) = fetch_encoded(&app, path, "identity").await;
        assert!(body.len() < 60_000, "{path}: {} bytes", body.len());
        // The chart still tells each stretch of time on hover, without script.
        let targets = body.matches("<rect x=").count();
        assert!(targets >= 60, "{path}: {targets} hover targets");
        assert!(body.contains("reports, normal \u{2248}"), "{path}");
    }
}
