//! The JSON downwave sends about an outage: an event as the events API lists
//! it, and as every webhook carries it (the outbox stores it as the payload,
//! the renderers shape it for each on-call tool); and an incident across
//! services as its messages carry it.
//!
//! Its own module, above `store` (it reads what people reported during the
//! event) and below both `api` and `alert`, which send it: inside either, the
//! other would have to import it back.

use crate::detect::{EventStatus, OpenReason, Severity};
use crate::domain::Minute;
use crate::incident::AttributionKind;
use crate::store::Db;
use crate::store::{
    facet_counts, get_event, incident_outages, incident_revision, top_items, EventRecord,
    IncidentRecord, StoreError, StoredIncidentStatus, TopItem,
};
use serde::Serialize;

/// How many categories and error codes an event lists.
const TOP_N: usize = 5;

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
    pub status: EventStatus,
    pub severity: Severity,
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
    pub opened_by: OpenReason,
    pub waves: Vec<WaveView>,
    pub top_categories: Vec<TopItem>,
    pub top_error_codes: Vec<TopItem>,
    /// The event's page on the dashboard.
    pub url: String,
    /// Distinct networks (IPv4 /24, IPv6 /48) the event's reports came from,
    /// at least; imported history has no address and adds none. `null` for
    /// an event from before networks were recorded.
    pub networks: Option<i64>,
    /// The largest share (0 to 1) of the excess that one provider block
    /// (IPv4 /16, IPv6 /32) may have sent, at most.
    pub top_network_share: Option<f64>,
    /// The excess came from fewer networks than `outage_min_networks`, or
    /// more than `outage_max_network_share` of it from one block: shown, and
    /// announced to no one unless it stops being so while open.
    pub concentrated: bool,
}

impl EventView {
    /// Builds the view; reads what was reported during the event.
    pub fn load(conn: &Db, e: EventRecord) -> Result<Self, StoreError> {
        let last_minute = e.ended_at - 60;
        let share = |facet: &str| -> Result<Vec<TopItem>, StoreError> {
            let counts = facet_counts(conn, e.service_id, facet, e.started_at, last_minute)?;
            let total = counts.iter().map(|(_, n)| n).sum();
            Ok(top_items(counts, total, TOP_N))
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
            networks: e.networks,
            top_network_share: e.top_network_share.map(round2),
            concentrated: e.concentrated,
        })
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// One affected service of an incident, as its messages list it.
#[derive(Serialize)]
pub struct IncidentServiceView {
    /// The service's slug.
    pub service: String,
    pub name: String,
    pub event_id: i64,
    /// How its outage relates to the cause.
    pub kind: AttributionKind,
    pub status: EventStatus,
    pub severity: Severity,
    pub started_at: Minute,
    /// The outage's page on the dashboard.
    pub url: String,
    /// Its service's id (for the subscription filters; not sent).
    #[serde(skip)]
    pub service_id: i64,
    /// Too few networks to page anyone (not sent: such an outage concerns
    /// no subscription).
    #[serde(skip)]
    pub concentrated: bool,
}

/// An incident as the `incident.*` messages carry it: the cause, the
/// affected services (the cause first, then in the order they began), and
/// the revision that tells one update from the next.
#[derive(Serialize)]
pub struct IncidentView {
    pub id: i64,
    pub status: StoredIncidentStatus,
    /// The grouping no longer held (a replay of imported history found the
    /// outages apart, or not at all): the resolution takes it back.
    pub withdrawn: bool,
    /// The likely cause: the epicentre's outage.
    pub cause: IncidentServiceView,
    /// The cause's first abnormal minute.
    pub began_at: Minute,
    /// When the incident pass formed the incident.
    pub opened_at: Minute,
    pub resolved_at: Option<Minute>,
    /// From the cause's first abnormal minute to the end, once ended.
    pub duration_minutes: Option<i64>,
    /// The highest severity among the affected services.
    pub severity: Severity,
    /// How many outages it holds, the cause's included.
    pub outage_count: usize,
    /// Changes of its outages or cause so far.
    pub revision: i64,
    /// The other affected services.
    pub services: Vec<IncidentServiceView>,
    /// The incident's page on the dashboard.
    pub url: String,
}

impl IncidentView {
    /// Builds the view of a stored incident; `None` if its cause's event is
    /// gone (dropped by a replay: the incident is withdrawn, with nothing
    /// left to say).
    pub fn load(conn: &Db, i: &IncidentRecord) -> Result<Option<Self>, StoreError> {
        let names: std::collections::HashMap<i64, String> = crate::store::list_services(conn)?
            .into_iter()
            .map(|s| (s.id, s.name))
            .collect();
        let member = |event_id: i64, kind: AttributionKind| -> Result<_, StoreError> {
            Ok(get_event(conn, event_id)?.map(|e| IncidentServiceView {
                name: names.get(&e.service_id).cloned().unwrap_or_default(),
                service: e.service,
                event_id,
                kind,
                status: e.status,
                severity: e.severity,
                started_at: Minute::from_unix(e.started_at),
                url: format!("/e/{event_id}"),
                service_id: e.service_id,
                concentrated: e.concentrated,
            }))
        };
        let Some(cause) = member(i.cause_event_id, AttributionKind::Epicentre)? else {
            return Ok(None);
        };
        let mut services = Vec::new();
        for a in incident_outages(conn, i.id)? {
            if a.event_id != i.cause_event_id {
                services.extend(member(a.event_id, a.kind)?);
            }
        }
        let severity = services
            .iter()
            .map(|s| s.severity)
            .fold(cause.severity, Severity::max);
        Ok(Some(IncidentView {
            id: i.id,
            status: i.status,
            withdrawn: i.status == StoredIncidentStatus::Withdrawn,
            began_at: Minute::from_unix(i.began_at),
            opened_at: Minute::from_unix(i.opened_at),
            resolved_at: i.resolved_at.map(Minute::from_unix),
            duration_minutes: i.resolved_at.map(|end| (end - i.began_at) / 60),
            severity,
            outage_count: services.len() + 1,
            revision: incident_revision(conn, i.id)?,
            url: format!("/i/{}", i.id),
            cause,
            services,
        }))
    }

    /// The cause and the other affected services.
    pub fn members(&self) -> impl Iterator<Item = &IncidentServiceView> {
        std::iter::once(&self.cause).chain(&self.services)
    }
}
