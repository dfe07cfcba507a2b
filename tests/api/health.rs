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
