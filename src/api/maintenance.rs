//! Maintenance windows of a service: `GET|POST
//! /api/v1/services/{slug}/maintenance`, `DELETE
//! /api/v1/services/{slug}/maintenance/{id}`.
//!
//! While a window is open, the service's outages are recorded and shown as
//! expected, and an opening or a wave pages only the subscriptions that
//! asked to hear of outages during maintenance (`during_maintenance`).

use super::body::read_json;
use super::ApiError;
use super::{Admin, AppState};
use crate::domain::{rfc3339, MaintenanceWindow, WindowLimits, WindowRequest, WindowState};
use crate::store::{self, EndedMaintenance, Maintenance, StoreError};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWindow {
    /// When it begins; now if not given.
    #[serde(default)]
    starts_at: Option<DateTime<Utc>>,
    /// When it ends; or give `minutes`.
    #[serde(default)]
    ends_at: Option<DateTime<Utc>>,
    /// How long it lasts; or give `ends_at`.
    #[serde(default)]
    minutes: Option<u64>,
    #[serde(default)]
    reason: String,
}

#[derive(Serialize)]
struct WindowView<'a> {
    id: i64,
    service: &'a str,
    starts_at: String,
    ends_at: String,
    reason: &'a str,
    state: WindowState,
}

impl<'a> WindowView<'a> {
    fn of(w: &'a Maintenance, service: &'a str, now: i64) -> Self {
        WindowView {
            id: w.id,
            service,
            starts_at: rfc3339(w.starts_at),
            ends_at: rfc3339(w.ends_at),
            reason: &w.reason,
            state: w.state(now),
        }
    }
}

pub async fn create(
    _admin: Admin,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let service = state.service(&path).await?;
    let body: NewWindow = read_json(&req, payload, state.settings.max_body_bytes).await?;
    let now = state.clock.now().timestamp();
    let window = MaintenanceWindow::parse(
        &WindowRequest {
            starts_at: body.starts_at.map(|t| t.timestamp()),
            ends_at: body.ends_at.map(|t| t.timestamp()),
            minutes: body.minutes,
            reason: &body.reason,
        },
        now,
        WindowLimits {
            max_hours: state.settings.maintenance_max_hours,
            max_reason_chars: state.settings.max_comment_chars,
        },
    )?;
    let max_windows = state.settings.maintenance_max_windows;
    let id = service.id;
    let created = state
        .write_for_pages(move |conn| store::insert_maintenance(conn, id, &window, max_windows, now))
        .await?
        .ok_or_else(|| {
            ApiError::unprocessable(
                "too_many_windows",
                format!(
                    "a service has at most {max_windows} maintenance windows not yet over \
                     (maintenance_max_windows); end or cancel one first"
                ),
            )
        })?;
    state.monitor.board.touch();
    Ok(HttpResponse::Created().json(WindowView::of(&created, service.slug.as_str(), now)))
}

pub async fn list(
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let service = state.service(&path).await?;
    let now = state.clock.now().timestamp();
    let id = service.id;
    let windows = state
        .read(move |conn| store::listed_maintenance(conn, id, now))
        .await?;
    let views: Vec<WindowView> = windows
        .iter()
        .map(|w| WindowView::of(w, service.slug.as_str(), now))
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "maintenance": views })))
}

/// Ends a window: one not yet begun is cancelled (`204`), an open one ends
/// now (`200` with the window).
pub async fn end(
    _admin: Admin,
    path: web::Path<(String, i64)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (slug, window_id) = path.into_inner();
    let service = state.service(&slug).await?;
    let now = state.clock.now().timestamp();
    let id = service.id;
    let ended = state
        .write_for_pages(move |conn| -> Result<EndedMaintenance, StoreError> {
            store::end_maintenance(conn, id, window_id, now)
        })
        .await?;
    if matches!(
        ended,
        EndedMaintenance::Cancelled | EndedMaintenance::EndedNow(_)
    ) {
        state.monitor.board.touch();
    }
    match ended {
        EndedMaintenance::Cancelled => Ok(HttpResponse::NoContent().finish()),
        EndedMaintenance::EndedNow(w) => {
            Ok(HttpResponse::Ok().json(WindowView::of(&w, service.slug.as_str(), now)))
        }
        EndedMaintenance::AlreadyOver => Err(ApiError::conflict(
            "maintenance_over",
            format!("maintenance window {window_id} is already over"),
        )),
        EndedMaintenance::Unknown => Err(ApiError::not_found(
            "unknown_maintenance",
            format!("{slug} has no maintenance window {window_id}"),
        )),
    }
}
