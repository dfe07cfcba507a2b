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
use crate::domain::{rfc3339, Comment};
use crate::store::{self, EndedMaintenance, Maintenance, StoreError};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How far back a window may start: a window "from now" sent a little
/// late still starts now.
const START_SLACK_SECS: i64 = 60;

/// How long ended windows stay in the list.
const LISTED_AFTER_END_SECS: i64 = 7 * 24 * 3600;

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

/// Where a window stands at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowState {
    Scheduled,
    InProgress,
    Over,
}

impl WindowState {
    pub fn of(w: &Maintenance, now: i64) -> Self {
        if now < w.starts_at {
            WindowState::Scheduled
        } else if now < w.ends_at {
            WindowState::InProgress
        } else {
            WindowState::Over
        }
    }
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
            state: WindowState::of(w, now),
        }
    }
}

/// The window asked for, checked: `(starts_at, ends_at, reason)`.
fn check(body: NewWindow, now: i64, state: &AppState) -> Result<(i64, i64, String), ApiError> {
    let starts_at = body.starts_at.map_or(now, |t| t.timestamp());
    if starts_at < now - START_SLACK_SECS {
        return Err(ApiError::unprocessable(
            "starts_in_past",
            "a maintenance window starts now or later; leave starts_at out to start it now",
        ));
    }
    let starts_at = starts_at.max(now);
    let ends_at = match (body.ends_at, body.minutes) {
        (Some(end), None) => end.timestamp(),
        (None, Some(minutes)) => starts_at.saturating_add(
            i64::try_from(minutes)
                .unwrap_or(i64::MAX)
                .saturating_mul(60),
        ),
        _ => {
            return Err(ApiError::unprocessable(
                "invalid_window",
                "give the window's end as ends_at or its length as minutes, one of the two",
            ))
        }
    };
    if ends_at <= starts_at {
        return Err(ApiError::unprocessable(
            "invalid_window",
            "a maintenance window ends after it starts",
        ));
    }
    let max_hours = state.settings.maintenance_max_hours;
    if ends_at - starts_at > i64::try_from(max_hours).unwrap_or(i64::MAX / 3600) * 3600 {
        return Err(ApiError::unprocessable(
            "maintenance_too_long",
            format!("a maintenance window lasts at most {max_hours} hours (maintenance_max_hours)"),
        ));
    }
    let reason = Comment::parse(&body.reason, state.settings.max_comment_chars)
        .map_err(|e| ApiError::unprocessable("invalid_reason", e.message))?
        .map(|c| c.as_str().to_owned())
        .unwrap_or_default();
    Ok((starts_at, ends_at, reason))
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
    let (starts_at, ends_at, reason) = check(body, now, &state)?;
    let max_windows = state.settings.maintenance_max_windows;
    let id = service.id;
    let created = state
        .write(move |conn| {
            if store::list_maintenance(conn, id, now)?.len() >= max_windows {
                return Ok(None);
            }
            store::insert_maintenance(conn, id, starts_at, ends_at, &reason, now).map(Some)
        })
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
        .read(move |conn| store::list_maintenance(conn, id, now - LISTED_AFTER_END_SECS))
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
        .write(move |conn| -> Result<EndedMaintenance, StoreError> {
            store::end_maintenance(conn, id, window_id, now)
        })
        .await?;
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
