//! `/live`: one broadcast per change reaches every open stream, the number
//! of streams is capped, and open streams do not hold a shutdown.

use crate::helpers::*;
use serde_json::Value;
use std::time::{Duration, Instant};

/// The next `event: change` message's data on `stream`, within `limit`.
async fn next_change(
    stream: &mut reqwest::Response,
    buffer: &mut String,
    limit: Duration,
) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let message: String = buffer.drain(..end + 2).collect();
            if let Some(data) = message
                .lines()
                .skip_while(|l| *l != "event: change")
                .find_map(|l| l.strip_prefix("data: "))
            {
                return serde_json::from_str(data).unwrap();
            }
            continue;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, stream.chunk())
            .await
            .expect("a change message in time")
            .unwrap()
            .expect("the stream stays open");
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

#[tokio::test]
async fn every_open_stream_hears_of_a_change_at_once() {
    let app = spawn_app().await;
    let mut streams = Vec::new();
    for _ in 0..3 {
        let r = app.get("/live").await;
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        assert_eq!(r.headers()["cache-control"].to_str().unwrap(), "no-store");
        // The connection ends with the stream (it gives back its deadline's
        // descriptor, so no later request may use it).
        assert_eq!(r.headers()["connection"].to_str().unwrap(), "close");
        streams.push((r, String::new()));
    }
    // Each stream starts with the generation now.
    let mut first = Vec::new();
    for (r, buffer) in &mut streams {
        first.push(
            next_change(r, buffer, Duration::from_secs(2)).await["generation"]
                .as_u64()
                .unwrap(),
        );
    }
    assert!(first.windows(2).all(|w| w[0] == w[1]), "{first:?}");
    // A minute closes: every stream is told, with a later generation.
    app.clock.advance(chrono::Duration::minutes(2));
    app.monitor.catch_up().await.unwrap();
    for (r, buffer) in &mut streams {
        let change = next_change(r, buffer, Duration::from_secs(5)).await;
        assert!(
            change["generation"].as_u64().unwrap() > first[0],
            "{change}"
        );
        assert!(change["at_ms"].as_i64().unwrap() > 0, "{change}");
    }
}

#[tokio::test]
async fn streams_past_the_limit_are_refused_and_the_page_polls_instead() {
    let app = spawn_app_with(|s| {
        s.live_max_connections = 2;
        s.live_heartbeat = Duration::from_secs(1);
    })
    .await;
    let a = app.get("/live").await;
    let b = app.get("/live").await;
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    let refused = app.get("/live").await;
    assert_eq!(refused.headers()["retry-after"].to_str().unwrap(), "60");
    assert_error(refused, 503, "live_full").await;
    // A place is given back when a stream ends (found at its next heartbeat).
    drop(a);
    let mut again = None;
    for _ in 0..100 {
        let r = app.get("/live").await;
        if r.status() == 200 {
            again = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        again.is_some(),
        "the closed stream's place was not given back"
    );
}

#[tokio::test]
async fn open_streams_do_not_hold_a_graceful_stop() {
    let app = spawn_app_with(|s| s.shutdown_timeout = Duration::from_secs(30)).await;
    let mut stream = app.get("/live").await;
    let mut buffer = String::new();
    next_change(&mut stream, &mut buffer, Duration::from_secs(2)).await;
    let started = Instant::now();
    app.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopping took {:?}",
        started.elapsed()
    );
    // The stream ended with the server.
    let rest = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await;
    assert!(rest.is_ok(), "the stream stayed open");
}
