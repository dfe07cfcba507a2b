//! The HTTP API: one file per resource, each with its handlers and its
//! request and response types. Handlers parse input into domain types, call
//! `ingest` or `store` (on a blocking thread), and map failures to
//! [`ApiError`].

mod admin;
mod body;
pub mod conn_watch;
pub mod deadline;
pub mod error;
mod events;
mod health;
mod import;
mod incidents;
mod maintenance;
mod metrics;
mod reports;
mod series;
mod services;
mod webhooks;

pub use admin::Admin;
pub use error::ApiError;
// The parsers the handlers run on what a client sends, public so that the
// fuzz targets in `fuzz/` drive the same code.
pub use body::parse_json;
pub use events::EventQuery;
pub use import::{ImportLimits, ImportLine};
pub use reports::{CheckedReport, ReportRequest};
pub use series::SeriesQuery;

use crate::clock::Clock;
use crate::config::Settings;
use crate::ingest::{IngestHandle, ReportLimiter, ReporterKey};
use crate::metrics::Metrics;
use crate::monitor::MonitorHandle;
use crate::store::{Catalog, ReadPool, StoreError};
use actix_web::web;
use std::sync::Arc;

/// Everything a handler needs, shared by all workers.
pub struct AppState {
    pub settings: Settings,
    /// Services in memory, for validating reports without a read.
    pub catalog: Catalog,
    /// The way into the group-commit writer.
    pub ingest: IngestHandle,
    /// Per-client report rate limiter.
    pub limiter: ReportLimiter,
    /// Turns client addresses into reporter ids.
    pub reporter_key: ReporterKey,
    /// Read connections for every query.
    pub reads: ReadPool,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    /// The live detector: service statuses, catch-up after imports.
    pub monitor: MonitorHandle,
    /// Wakes the webhook dispatcher (after a test message or a redelivery).
    pub wake: Arc<tokio::sync::Notify>,
    /// The pages' mark (`store::mark_pages_changed`) as this node last took
    /// in what it stands for: its catalog and pages show every change up to
    /// it. See [`follow_shared_changes`].
    pub pages_seen: std::sync::Mutex<Option<Vec<u8>>>,
}

impl AppState {
    /// Runs a read on a blocking thread with a pooled connection.
    pub async fn read<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&crate::store::Db) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = self.reads.clone();
        web::block(move || pool.with(f))
            .await
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("blocking pool: {e}")))?
            .map_err(ApiError::from)
    }

    /// Runs a rare write (catalog, subscriptions) on a blocking thread with
    /// its own short-lived write connection, rather than queueing it behind
    /// reports in the group-commit writer.
    pub async fn write<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&crate::store::Db) -> Result<T, StoreError> + Send + 'static,
    {
        let path = self.settings.database.clone();
        let opts = self.settings.open_options();
        web::block(move || {
            let conn = crate::store::open_writer(&path, &opts)?;
            f(&conn)
        })
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("blocking pool: {e}")))?
        .map_err(ApiError::from)
    }

    /// A write whose result every node's pages show (services, providers,
    /// maintenance windows), in one transaction with the mark the store
    /// leaves for every node's [`follow_shared_changes`]. The caller shows
    /// the change itself (reloads the catalog, touches the board); when the
    /// mark before it is the one this node last took in, the new mark is
    /// taken in too, so the watcher does not redraw for it again.
    pub async fn write_for_pages<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&crate::store::Db) -> Result<T, StoreError> + Send + 'static,
    {
        use crate::store::Context as _;
        let (done, before, after) = self
            .write(move |conn| {
                let tx = conn.transaction().context("starting a write")?;
                let before = crate::store::pages_version_held(&tx)?;
                let done = f(&tx)?;
                let after = crate::store::pages_version(&tx)?;
                tx.commit().context("committing a write")?;
                Ok((done, before, after))
            })
            .await?;
        if let Ok(mut seen) = self.pages_seen.lock() {
            if *seen == before {
                *seen = after;
            }
        }
        Ok(done)
    }

    /// The service named in a request, reloading the catalog once on a miss.
    pub async fn service(&self, slug: &str) -> Result<Arc<crate::store::Service>, ApiError> {
        if let Some(s) = self.catalog.get(slug) {
            return Ok(s);
        }
        if self.catalog.claim_reload() {
            let services = self.read(crate::store::list_services).await?;
            self.catalog.replace(services);
            if let Some(s) = self.catalog.get(slug) {
                return Ok(s);
            }
        }
        Err(ApiError::not_found(
            "unknown_service",
            format!("there is no service '{}'", truncate(slug, 64)),
        ))
    }
}

/// Cuts what a client sent before echoing it back in a message.
fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

/// The history import's route pattern (mounted below), which gets a longer
/// body deadline.
pub const IMPORT_ROUTE: &str = "/api/v1/admin/import";

/// Mounts every route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(metrics::metrics))
        .service(
            web::scope("/api/v1")
                .route("/reports", web::post().to(reports::create))
                .route("/services", web::get().to(services::list))
                .route("/services", web::post().to(services::create))
                .route("/services/{slug}", web::get().to(services::get))
                .route("/services/{slug}", web::patch().to(services::update))
                .route(
                    "/services/{slug}/maintenance",
                    web::get().to(maintenance::list),
                )
                .route(
                    "/services/{slug}/maintenance",
                    web::post().to(maintenance::create),
                )
                .route(
                    "/services/{slug}/maintenance/{id}",
                    web::delete().to(maintenance::end),
                )
                .route("/services/{slug}/series", web::get().to(series::series))
                .route("/services/{slug}/summary", web::get().to(series::summary))
                .route("/events", web::get().to(events::list))
                .route("/events/{id}", web::get().to(events::get))
                .route("/incidents", web::get().to(incidents::list))
                .route("/incidents/{id}", web::get().to(incidents::get))
                .route("/admin/import", web::post().to(import::import))
                .route("/webhooks", web::post().to(webhooks::create))
                .route("/webhooks", web::get().to(webhooks::list))
                .route("/webhooks/{id}", web::get().to(webhooks::get))
                .route("/webhooks/{id}", web::patch().to(webhooks::patch))
                .route("/webhooks/{id}", web::delete().to(webhooks::delete))
                .route(
                    "/webhooks/{id}/rotate-secret",
                    web::post().to(webhooks::rotate),
                )
                .route("/webhooks/{id}/test", web::post().to(webhooks::test))
                .route(
                    "/webhooks/{id}/deliveries",
                    web::get().to(webhooks::deliveries),
                )
                .route(
                    "/webhooks/{id}/deliveries/{delivery}/redeliver",
                    web::post().to(webhooks::redeliver),
                ),
        );
}

/// JSON 404 for every path no route matches.
pub async fn not_found() -> actix_web::HttpResponse {
    use actix_web::ResponseError;
    ApiError::not_found("not_found", "no such endpoint").error_response()
}

/// Query strings that do not parse are a 400 with a JSON body.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|e, _| ApiError::bad_request("invalid_query", e.to_string()).into())
}

/// Path segments that do not parse are a 404 with a JSON body.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default()
        .error_handler(|e, _| ApiError::not_found("not_found", e.to_string()).into())
}

/// How often a node looks for changes to what pages show made elsewhere
/// (another node, the command line).
const SHARED_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// Each [`SHARED_POLL`], reads the mark the store leaves with every change
/// pages show (`store::mark_pages_changed`); when it is not the one this
/// node last took in ([`AppState::pages_seen`]), reloads the catalog (a
/// service added, its providers) and redraws the pages (a maintenance
/// window). So every node on a shared database, and a server whose
/// database the command line changed, shows the change within about a
/// second. Runs until dropped.
pub async fn follow_shared_changes(state: web::Data<AppState>) {
    let mut failing = false;
    let mut tick = tokio::time::interval(SHARED_POLL);
    loop {
        tick.tick().await;
        // Said once when the database stops answering, not every second.
        match look_for_shared_changes(&state).await {
            Ok(()) if failing => {
                tracing::info!("looking for changes made elsewhere works again");
                failing = false;
            }
            Ok(()) => {}
            Err(e) if !failing => {
                tracing::warn!(error = %e, "looking for changes made elsewhere failed; trying each second");
                failing = true;
            }
            Err(_) => {}
        }
    }
}

/// One look at the pages' mark.
async fn look_for_shared_changes(state: &AppState) -> Result<(), ApiError> {
    let version = state.read(crate::store::pages_version).await?;
    if state.pages_seen.lock().is_ok_and(|seen| *seen == version) {
        return Ok(());
    }
    state
        .catalog
        .replace(state.read(crate::store::list_services).await?);
    state.monitor.board.touch();
    if let Ok(mut seen) = state.pages_seen.lock() {
        *seen = version;
    }
    Ok(())
}
