//! `downwave crowd`'s live viewers against the real server: each opens
//! `/live` and loads its page, and when the test closes a minute every one
//! hears of it and fetches the new page; past the server's cap on streams
//! the refusals are counted.

use crate::helpers::*;
use downwave::sim::crowd::{ViewerCrowd, ViewerOptions};
use std::time::Duration;

fn viewers(app: &TestApp, viewers: usize) -> ViewerOptions {
    ViewerOptions {
        addr: app.address.trim_start_matches("http://").to_owned(),
        slug: "claude".into(),
        viewers,
        open_per_sec: 200.0,
        spread: Duration::from_millis(200),
        // Fewer than the viewers: some wait for a place.
        max_fetches: 4,
    }
}

#[tokio::test]
async fn every_live_viewer_hears_of_a_change_and_fetches_the_new_page() {
    let app = spawn_app().await;
    let crowd = ViewerCrowd::open(&viewers(&app, 20)).unwrap();
    let open = crowd.wait_open(Duration::from_secs(20)).await;
    assert_eq!(
        (open.settled, open.with_page, open.streams),
        (20, 20, 20),
        "{open:?}"
    );

    let before = app.monitor.board.generation();
    app.clock.advance(chrono::Duration::minutes(2));
    app.monitor.catch_up().await.unwrap();
    let after = app.monitor.board.generation();
    assert!(after > before, "closing minutes moved nothing");

    let report = crowd.finish(after, Duration::from_secs(20)).await.unwrap();
    let change = report
        .change(after)
        .unwrap_or_else(|| panic!("no viewer had generation {after}: {report:?}"));
    assert_eq!(change.expected, 20, "{change:?}");
    assert_eq!(change.heard, 20, "{change:?}");
    assert_eq!(change.delivered, 20, "{change:?}");
    assert_eq!(change.new_page, 20, "every page came new: {change:?}");
    assert!(change.complete());
    // Timed from the server's clock to the page: after the change, and
    // within the spread and a few seconds of a loaded machine.
    assert!(change.page_ms.p50 > 0.0, "{change:?}");
    assert!(change.page_ms.max < 10_000.0, "{change:?}");
    assert!(change.heard_ms.max <= change.page_ms.max, "{change:?}");
    assert_eq!((report.opened, report.with_page), (20, 20));
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.refused_503, 0);
    assert!(report.peak_fetches <= 4, "{}", report.peak_fetches);
    // Only whole pages: the first load and one per change heard.
    assert_eq!(report.page_statuses.keys().collect::<Vec<_>>(), [&200]);
    assert!(
        report.page_statuses[&200] >= 40,
        "{:?}",
        report.page_statuses
    );
}

#[tokio::test]
async fn viewers_past_the_servers_cap_are_counted_as_refused() {
    let app = spawn_app_with(|s| s.live_max_connections = 5).await;
    let crowd = ViewerCrowd::open(&viewers(&app, 8)).unwrap();
    let open = crowd.wait_open(Duration::from_secs(20)).await;
    assert_eq!(
        (open.settled, open.streams, open.with_page),
        (8, 5, 5),
        "{open:?}"
    );
    let now = app.monitor.board.generation();
    let report = crowd.finish(now, Duration::from_secs(5)).await.unwrap();
    assert_eq!((report.opened, report.with_page), (5, 5));
    assert!(report.refused_503 >= 3, "{report:?}");
    assert!(report.changes.is_empty(), "{:?}", report.changes);
}
