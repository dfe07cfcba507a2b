//! Incidents across services: `GET /api/v1/incidents` and
//! `GET /api/v1/incidents/{id}`; and the attribution every event carries in
//! the events API ([`AttributionView`]).
//!
//! The monitor runs the incident pass each minute and stores what it found
//! (`store::write_incident_pass`); these handlers only read it.

use super::ApiError;
use super::AppState;
use crate::domain::rfc3339;
use crate::incident::AttributionKind;
use crate::store::{self, AttributionRecord, ChangeRecord, IncidentRecord};
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Most incidents one list answer holds.
const MAX_LIMIT: usize = 200;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentQuery {
    status: Option<String>,
    limit: Option<usize>,
}

/// An outage named by its event and its service.
#[derive(Serialize)]
pub struct OutageRef {
    pub event_id: i64,
    pub service: Option<String>,
}

/// How an event relates to its cause, as the incident pass judged it last.
#[derive(Serialize)]
pub struct AttributionView {
    pub kind: AttributionKind,
    /// The outage that explains this one (itself for an epicentre or an
    /// independent outage).
    pub cause: OutageRef,
    /// How sure the pass is, 0 to 1.
    pub confidence: f64,
    /// The evidence in words.
    pub evidence: String,
}

impl AttributionView {
    pub fn of(a: &AttributionRecord) -> Self {
        AttributionView {
            kind: a.kind,
            cause: OutageRef {
                event_id: a.cause_event_id,
                service: a.cause_service.clone(),
            },
            confidence: (a.confidence * 100.0).round() / 100.0,
            evidence: a.evidence.clone(),
        }
    }
}

#[derive(Serialize)]
struct IncidentView {
    id: i64,
    /// `open`, `resolved`, or `withdrawn` (the grouping no longer held).
    status: store::StoredIncidentStatus,
    /// The epicentre's outage: the likely cause.
    cause: OutageRef,
    /// The cause's first abnormal minute.
    began_at: String,
    /// When the pass first formed the incident.
    opened_at: String,
    resolved_at: Option<String>,
    /// How many outages it holds.
    outage_count: i64,
    /// The incident's page on the dashboard.
    url: String,
}

impl IncidentView {
    fn of(i: IncidentRecord) -> Self {
        IncidentView {
            id: i.id,
            status: i.status,
            cause: OutageRef {
                event_id: i.cause_event_id,
                service: i.cause_service,
            },
            began_at: rfc3339(i.began_at),
            opened_at: rfc3339(i.opened_at),
            resolved_at: i.resolved_at.map(rfc3339),
            outage_count: i.outages,
            url: format!("/i/{}", i.id),
        }
    }
}

#[derive(Serialize)]
struct IncidentList {
    incidents: Vec<IncidentView>,
}

/// One outage of an incident.
#[derive(Serialize)]
struct MemberView {
    event_id: i64,
    service: String,
    started_at: String,
    #[serde(flatten)]
    attribution: AttributionView,
}

/// One entry of an incident's history.
#[derive(Serialize)]
struct ChangeView {
    at: String,
    change: String,
    /// The outage the change concerns, if any.
    event_id: Option<i64>,
    service: Option<String>,
    /// The rest: `from` and `to` of a cause change or an attribution.
    #[serde(skip_serializing_if = "Value::is_null")]
    from: Value,
    #[serde(skip_serializing_if = "Value::is_null")]
    to: Value,
}

impl ChangeView {
    fn of(c: ChangeRecord) -> Self {
        ChangeView {
            at: rfc3339(c.at),
            change: c.change,
            event_id: c.event_id,
            service: c.service,
            from: c.detail.get("from").cloned().unwrap_or(Value::Null),
            to: c.detail.get("to").cloned().unwrap_or(Value::Null),
        }
    }
}

#[derive(Serialize)]
struct IncidentDetail {
    #[serde(flatten)]
    incident: IncidentView,
    /// The outages it holds now, in the order they began.
    outages: Vec<MemberView>,
    /// Every change the pass recorded for it, oldest first.
    history: Vec<ChangeView>,
}

pub async fn list(
    query: web::Query<IncidentQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let status = match &q.status {
        Some(word) => Some(word.parse::<store::StoredIncidentStatus>().map_err(|_| {
            ApiError::unprocessable(
                "invalid_status",
                "status must be open, resolved or withdrawn",
            )
        })?),
        None => None,
    };
    let limit = q.limit.unwrap_or(50).clamp(1, MAX_LIMIT);
    let incidents = state
        .read(move |conn| store::list_incidents(conn, status, limit))
        .await?
        .into_iter()
        .map(IncidentView::of)
        .collect();
    Ok(HttpResponse::Ok().json(IncidentList { incidents }))
}

pub async fn get(
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let found = state
        .read(move |conn| {
            let Some(incident) = store::get_incident(conn, id)? else {
                return Ok(None);
            };
            let members = store::incident_outages(conn, id)?;
            let history = store::incident_changes(conn, id)?;
            Ok(Some((incident, members, history)))
        })
        .await?;
    let (incident, members, history) = found.ok_or_else(|| {
        ApiError::not_found("unknown_incident", format!("there is no incident {id}"))
    })?;
    Ok(HttpResponse::Ok().json(IncidentDetail {
        incident: IncidentView::of(incident),
        outages: members
            .iter()
            .map(|a| MemberView {
                event_id: a.event_id,
                service: a.service.clone(),
                started_at: rfc3339(a.started_at),
                attribution: AttributionView::of(a),
            })
            .collect(),
        history: history.into_iter().map(ChangeView::of).collect(),
    }))
}
