//! Liveness and readiness for load balancers and orchestrators.

use super::AppState;
use actix_web::{web, HttpResponse};
use serde_json::json;

/// The process is up and serving HTTP.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}

/// The service can take reports now: the database is writable (the writer's
/// last commit or probe succeeded), readable, and the queue has room.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let writable = state.ingest.healthy();
    let queue_ok = !state.ingest.queue_full();
    let readable = state
        .read(|conn| {
            conn.query_row("SELECT 1", crate::store::params![], |_| Ok(()))
                .map_err(|source| crate::store::StoreError::Database {
                    context: "probing a read connection",
                    source,
                })
        })
        .await
        .is_ok();
    let ok = writable && queue_ok && readable;
    let body = json!({
        "status": if ok { "ready" } else { "unavailable" },
        "checks": {
            "database_writable": writable,
            "database_readable": readable,
            "queue_has_room": queue_ok,
            "queue_depth": state.ingest.queue_depth(),
        }
    });
    if ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
