//! Outage events: `GET /api/v1/events` and `GET /api/v1/events/{id}`.

use super::incidents::AttributionView;
use super::ApiError;
use super::AppState;
use crate::detect::EventStatus;
use crate::store::{self, EventFilter, EventRecord, StoreError};
use crate::wire::EventView;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Most events one list answer holds.
const MAX_LIMIT: usize = 500;

#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    service: Option<String>,
    status: Option<String>,
    since: Option<DateTime<Utc>>,
    limit: Option<usize>,
}

/// An event as the events API shows it: the event as webhooks carry it,
/// with its incident and its attribution (`null` until the incident pass
/// has judged it; `incident` is `null` for an outage of its own).
#[derive(Serialize)]
struct EventAnswer {
    #[serde(flatten)]
    event: EventView,
    incident: Option<i64>,
    attribution: Option<AttributionView>,
}

impl EventAnswer {
    fn load(conn: &crate::store::Db, e: EventRecord) -> Result<Self, StoreError> {
        let attribution = store::event_attribution(conn, e.id)?;
        Ok(EventAnswer {
            event: EventView::load(conn, e)?,
            incident: attribution.as_ref().and_then(|a| a.incident_id),
            attribution: attribution.as_ref().map(AttributionView::of),
        })
    }
}

#[derive(Serialize)]
struct EventList {
    events: Vec<EventAnswer>,
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
    let status = match q.status.as_deref() {
        Some(s) => Some(s.parse::<EventStatus>().map_err(|_| {
            ApiError::unprocessable("invalid_status", "status must be open or resolved")
        })?),
        None => None,
    };
    let filter = EventFilter {
        service_id,
        status,
        since: q.since.map(|t| t.timestamp()),
        limit: q.limit.unwrap_or(50).clamp(1, MAX_LIMIT),
    };
    let events = state
        .read(move |conn| {
            store::list_events(conn, &filter)?
                .into_iter()
                .map(|e| EventAnswer::load(conn, e))
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
                .map(|e| EventAnswer::load(conn, e))
                .transpose()
        })
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_event", format!("there is no event {id}")))?;
    Ok(HttpResponse::Ok().json(event))
}
