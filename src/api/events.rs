//! Outage events: `GET /api/v1/events` and `GET /api/v1/events/{id}`.

use super::AppState;
use crate::domain::Minute;
use crate::error::ApiError;
use crate::store::{self, EventFilter, EventRecord, TopItem};
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Most events one list answer holds.
const MAX_LIMIT: usize = 500;
/// How many categories and error codes an event lists.
const TOP_N: usize = 5;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    service: Option<String>,
    status: Option<String>,
    since: Option<DateTime<Utc>>,
    limit: Option<usize>,
}

#[derive(Serialize)]
pub struct WaveView {
    pub started_at: Minute,
    pub peak_at: Minute,
    /// Reports per minute at the wave's peak.
    pub peak: f64,
    pub ended_at: Minute,
    pub reports: u64,
}

/// An event as the API shows it: times in RFC 3339, its waves, and what
/// people reported during it.
#[derive(Serialize)]
pub struct EventView {
    pub id: i64,
    pub service: String,
    pub status: String,
    pub severity: String,
    pub started_at: Minute,
    pub detected_at: Minute,
    pub peak_at: Minute,
    /// Reports per minute at the peak.
    pub peak: f64,
    /// End of the last abnormal minute (so far, while open).
    pub ended_at: Minute,
    pub resolved_at: Option<Minute>,
    pub duration_minutes: i64,
    /// Counted reports from the start to the end of the event.
    pub total: i64,
    /// Reports above the baseline over the event.
    pub excess: f64,
    pub opened_by: String,
    pub waves: Vec<WaveView>,
    pub top_categories: Vec<TopItem>,
    pub top_error_codes: Vec<TopItem>,
    /// The event's page on the dashboard.
    pub url: String,
}

impl EventView {
    /// Builds the view; reads what was reported during the event.
    pub fn load(conn: &rusqlite::Connection, e: EventRecord) -> Result<Self, store::StoreError> {
        let last_minute = e.ended_at - 60;
        let share = |facet: &str| -> Result<Vec<TopItem>, store::StoreError> {
            let counts = store::facet_counts(conn, e.service_id, facet, e.started_at, last_minute)?;
            let total = counts.iter().map(|(_, n)| n).sum();
            Ok(store::top_items(counts, total, TOP_N))
        };
        let top_categories = share("category")?;
        let top_error_codes = share("error_code")?;
        Ok(EventView {
            id: e.id,
            url: format!("/e/{}", e.id),
            duration_minutes: (e.resolved_at.unwrap_or(e.ended_at) - e.started_at) / 60,
            service: e.service,
            status: e.status,
            severity: e.severity,
            started_at: Minute::from_unix(e.started_at),
            detected_at: Minute::from_unix(e.detected_at),
            peak_at: Minute::from_unix(e.peak_at),
            peak: round2(e.peak),
            ended_at: Minute::from_unix(e.ended_at),
            resolved_at: e.resolved_at.map(Minute::from_unix),
            total: e.total,
            excess: round2(e.excess),
            opened_by: e.opened_by,
            waves: e
                .waves
                .iter()
                .map(|w| WaveView {
                    started_at: Minute::from_unix(w.started_at),
                    peak_at: Minute::from_unix(w.peak_at),
                    peak: round2(w.peak),
                    ended_at: Minute::from_unix(w.ended_at),
                    reports: w.reports,
                })
                .collect(),
            top_categories,
            top_error_codes,
        })
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[derive(Serialize)]
struct EventList {
    events: Vec<EventView>,
}

pub async fn list(
    query: web::Query<EventQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let service_id = match &q.service {
        Some(slug) => Some(state.service(slug).await?.id),
        None => None,
    };
    if let Some(s) = &q.status {
        if s != "open" && s != "resolved" {
            return Err(ApiError::unprocessable(
                "invalid_status",
                "status must be open or resolved",
            ));
        }
    }
    let filter = EventFilter {
        service_id,
        status: q.status,
        since: q.since.map(|t| t.timestamp()),
        limit: q.limit.unwrap_or(50).clamp(1, MAX_LIMIT),
    };
    let events = state
        .read(move |conn| {
            store::list_events(conn, &filter)?
                .into_iter()
                .map(|e| EventView::load(conn, e))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    Ok(HttpResponse::Ok().json(EventList { events }))
}

pub async fn get(
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let event = state
        .read(move |conn| {
            store::get_event(conn, id)?
                .map(|e| EventView::load(conn, e))
                .transpose()
        })
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_event", format!("there is no event {id}")))?;
    Ok(HttpResponse::Ok().json(event))
}
