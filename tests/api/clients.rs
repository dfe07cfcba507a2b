//! Who a client is: the address behind the trusted proxies, its networks, and
//! what one address may do to the counts.

use crate::helpers::*;
use downwave::config::ForwardedHeader;
use serde_json::json;

fn login() -> serde_json::Value {
    json!({"service": "claude", "category": "login"})
}

/// Posts a report with each `(name, value)` header line, in order.
async fn report_with(app: &TestApp, headers: &[(&str, &str)]) -> u16 {
    let mut req = app.client.post(app.url("/api/v1/reports")).json(&login());
    for (name, value) in headers {
        // reqwest appends: a repeated name is sent as several lines.
        req = req.header(*name, *value);
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn forwarded_headers_count_only_from_trusted_proxies() {
    // Loopback is not trusted here: the header is the client's own claim.
    let app = spawn_app_with(|s| s.trusted_proxies = vec![]).await;
    assert_eq!(app.report_status_from("192.0.2.1", login()).await, 202);
    let forged = app.report_from("192.0.2.2", login()).await;
    assert_eq!(forged.status().as_u16(), 200, "same peer, same reporter");

    // Trusted: each forwarded client is its own reporter.
    let app = spawn_app().await;
    assert_eq!(app.report_status_from("192.0.2.1", login()).await, 202);
    assert_eq!(app.report_status_from("192.0.2.2", login()).await, 202);
}

/// The proxy adds its own `X-Forwarded-For` line after the one the client
/// wrote: the client's line must not be the one believed.
#[tokio::test]
async fn every_x_forwarded_for_line_is_read_and_the_last_is_nearest() {
    let app = spawn_app().await;
    for client in ["198.51.100.1", "198.51.100.2"] {
        let status = report_with(
            &app,
            &[("x-forwarded-for", "6.6.6.6"), ("x-forwarded-for", client)],
        )
        .await;
        assert_eq!(status, 202, "{client} is its own reporter");
    }
}

/// Only the header the operator names is read: behind a proxy that writes
/// `Forwarded`, a client's own `X-Forwarded-For` passes through untouched and
/// must be ignored, and the other way round.
#[tokio::test]
async fn only_the_named_forwarding_header_is_believed() {
    let app = spawn_app_with(|s| s.forwarded_header = ForwardedHeader::Forwarded).await;
    for client in ["198.51.100.1", "198.51.100.2"] {
        let status = report_with(
            &app,
            &[
                ("x-forwarded-for", "6.6.6.6"),
                ("forwarded", &format!("for={client};proto=https")),
            ],
        )
        .await;
        assert_eq!(status, 202, "{client} is its own reporter");
    }
    // The default, X-Forwarded-For: a Forwarded header is the client's.
    let app = spawn_app().await;
    assert_eq!(
        report_with(&app, &[("forwarded", "for=192.0.2.3")]).await,
        202
    );
    assert_eq!(
        report_with(&app, &[("forwarded", "for=192.0.2.4")]).await,
        200,
        "both are the proxy's own address, one reporter"
    );
}

/// `for=unknown` and obfuscated hops end the walk: the client-written value to
/// their left is not believed, so two such requests are one reporter (the
/// proxy that could not name them).
#[tokio::test]
async fn an_unknown_hop_ends_the_walk() {
    let app = spawn_app_with(|s| s.forwarded_header = ForwardedHeader::Forwarded).await;
    let first = report_with(&app, &[("forwarded", "for=198.51.100.1, for=unknown")]).await;
    assert_eq!(first, 202);
    let second = report_with(&app, &[("forwarded", "for=198.51.100.2, for=\"_hidden\"")]).await;
    assert_eq!(
        second, 200,
        "both are the proxy's own address, one reporter"
    );
}

/// Listening on `[::]`, an IPv4 peer arrives as `::ffff:127.0.0.1`; it is
/// still the trusted proxy `127.0.0.1/32`, so its clients count apart.
#[tokio::test]
async fn ipv4_peers_of_an_ipv6_socket_are_matched_as_ipv4() {
    let app = spawn_app_with(|s| s.listen = "[::]:0".parse().unwrap()).await;
    assert_eq!(app.report_status_from("198.51.100.1", login()).await, 202);
    assert_eq!(app.report_status_from("198.51.100.2", login()).await, 202);
    // A mapped address in the header is the same client as its IPv4 one.
    assert_eq!(
        app.report_status_from("::ffff:198.51.100.2", login()).await,
        200
    );
}

/// An IPv6 client is limited per /64, and its /48 has a limit of its own: a
/// /48 holds 65,536 /64s, which must not mean 65,536 times the rate.
#[tokio::test]
async fn an_ipv6_slash_48_has_its_own_rate_limit() {
    let app = spawn_app_with(|s| {
        s.rate_limit_per_minute = 2;
        s.rate_limit_burst = 2;
        s.rate_limit_ipv6_48_per_minute = 4;
        s.rate_limit_ipv6_48_burst = 4;
    })
    .await;
    for i in 1..=4 {
        let from = format!("2001:db8:1:{i}::1");
        assert_eq!(app.report_status_from(&from, login()).await, 202, "{from}");
    }
    assert_error(
        app.report_from("2001:db8:1:5::1", login()).await,
        429,
        "rate_limited",
    )
    .await;
    // Another /48 has its own.
    assert_eq!(
        app.report_status_from("2001:db8:2:1::1", login()).await,
        202
    );
    // And a /64 is one client, whatever address it picks inside.
    assert_eq!(
        app.report_status_from("2001:db8:2:1::2", login()).await,
        200
    );
    assert_error(
        app.report_from("2001:db8:2:1::3", login()).await,
        429,
        "rate_limited",
    )
    .await;
}

/// Posts a report from `from` with the client token `token`.
async fn report_with_token(app: &TestApp, from: &str, token: &str) -> (u16, serde_json::Value) {
    let r = app
        .client
        .post(app.url("/api/v1/reports"))
        .header("x-forwarded-for", from)
        .header("x-downwave-client", token)
        .json(&login())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// A new client token on every request must not make one address a crowd:
/// tokens tell people behind one address apart, up to the address's share
/// (`dedup_max_per_address`, 3) per service and window; the rest is stored,
/// not counted.
#[tokio::test]
async fn one_address_counts_at_most_its_share_whatever_its_tokens() {
    let app = spawn_app().await;
    let from = "192.0.2.77";
    let mut counted = 0;
    for i in 0..10 {
        let (status, body) = report_with_token(&app, from, &format!("token-{i}")).await;
        if i < 3 {
            assert_eq!(status, 202, "token {i}: {body}");
            counted += 1;
        } else {
            assert_eq!(status, 200, "token {i}: {body}");
            assert_eq!(body["counted"], false);
            assert_eq!(body["reason"], "address_limit");
        }
    }
    // A repeat of a counted token is a duplicate, as before.
    let (_, body) = report_with_token(&app, from, "token-0").await;
    assert_eq!(body["reason"], "duplicate");
    // Another address, and another service, have their own share.
    assert_eq!(
        report_with_token(&app, "192.0.2.78", "token-0").await.0,
        202
    );
    app.create_service("aws", "AWS", &[]).await;
    let other = app
        .client
        .post(app.url("/api/v1/reports"))
        .header("x-forwarded-for", from)
        .header("x-downwave-client", "token-9")
        .json(&json!({"service": "aws", "category": "login"}))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status().as_u16(), 202);
    assert_eq!(app.counted_in_minutes("claude"), counted + 1);
    let stored: i64 = app
        .db()
        .query_row("SELECT count(*) FROM reports", downwave::params![], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(stored, 13, "every report is stored");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("downwave_reports_address_limited_total 7"),
        "{metrics}"
    );
    // The window slides: 15 minutes on, the address has its share again.
    app.clock.advance(chrono::Duration::minutes(15));
    assert_eq!(report_with_token(&app, from, "token-10").await.0, 202);
}

/// The share is kept across a restart, like de-duplication: a restart does
/// not give every address a fresh share.
#[tokio::test]
async fn an_addresss_share_survives_a_restart() {
    let app = spawn_app().await;
    for i in 0..3 {
        assert_eq!(
            report_with_token(&app, "192.0.2.90", &format!("t{i}"))
                .await
                .0,
            202
        );
    }
    let (settings, dir, clock) = app.stop().await;
    let app = spawn_on(settings, dir, clock).await;
    let (status, body) = report_with_token(&app, "192.0.2.90", "t3").await;
    assert_eq!((status, &body["reason"]), (200, &json!("address_limit")));
    // A mapped spelling of the address is the same address.
    let (_, body) = report_with_token(&app, "::ffff:192.0.2.90", "t4").await;
    assert_eq!(body["reason"], "address_limit");
}
