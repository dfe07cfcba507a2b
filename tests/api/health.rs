use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn healthz_and_readyz_answer_ok() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/healthz").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["checks"]["database_writable"], true);
}

#[tokio::test]
async fn unknown_routes_get_a_json_404() {
    let app = spawn_app().await;
    assert_error(app.get("/api/v1/nothing").await, 404, "not_found").await;
}

#[tokio::test]
async fn metrics_count_reports_by_outcome_and_route_latency() {
    let app = spawn_app().await;
    let ok = json!({"service": "claude", "category": "login"});
    app.report_from("192.0.2.1", ok.clone()).await;
    app.report_from("192.0.2.1", ok).await;
    app.report(json!({"service": "claude", "category": "nope"}))
        .await;
    let text = app.get("/metrics").await.text().await.unwrap();
    for line in [
        "downwave_reports_accepted_total 1",
        "downwave_reports_duplicate_total 1",
        "downwave_reports_rejected_total{reason=\"unknown_category\"} 1",
        "downwave_ingest_queue_depth 0",
        "downwave_ingest_batch_size_count",
        "downwave_ingest_commit_seconds_count",
        "downwave_http_request_duration_seconds_count{method=\"POST\",route=\"/api/v1/reports\"} 3",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
}

/// Metric labels come from closed sets: invented methods and unmatched paths
/// add no series, however many a client sends.
#[tokio::test]
async fn invented_methods_and_paths_do_not_grow_the_metrics() {
    let app = spawn_app().await;
    for i in 0..50 {
        let method = reqwest::Method::from_bytes(format!("INVENT{i}").as_bytes()).unwrap();
        let r = app
            .client
            .request(method, app.url(&format!("/no/such/path/{i}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 404);
    }
    // A known route with an invented method keeps its route, not its method.
    let method = reqwest::Method::from_bytes(b"BREW").unwrap();
    app.client
        .request(method, app.url("/api/v1/reports"))
        .send()
        .await
        .unwrap();
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        !text.contains("INVENT"),
        "an invented method became a label"
    );
    assert!(!text.contains("BREW"), "an invented method became a label");
    assert!(!text.contains("/no/such/path"), "a path became a label");
    for line in [
        "downwave_http_request_duration_seconds_count{method=\"other\",route=\"unmatched\"} 50",
        "downwave_http_request_duration_seconds_count{method=\"other\",route=\"/api/v1/reports\"} 1",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
}
