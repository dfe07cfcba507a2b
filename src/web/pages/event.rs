//! How an outage event reads on a page: as a row of a service page's table
//! ([`EventRow`]), and as its own page (`/e/{id}`) with its curve, its waves
//! and the alerts sent.

use super::incident::IncidentLead;
use super::layout::Layout;
use super::series_chart::{draw_series_chart, Shaded};
use crate::api::AppState;
use crate::detect::Severity;
use crate::domain::{MessageKind, Minute, WebhookFormat};
use crate::store::{self, EventAlert, EventRecord, TopItem};
use crate::web::view::{count, duration, TimeView, Viewer};
use crate::web::{cached, PageError, Representation};
use crate::wire::EventView;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

/// Alerts listed on an event page.
const EVENT_ALERTS: usize = 200;

/// An event as a table row.
pub(super) struct EventRow {
    pub(super) id: i64,
    pub(super) started: TimeView,
    pub(super) duration: String,
    pub(super) peak: String,
    pub(super) total: String,
    pub(super) severity: Severity,
    pub(super) open: bool,
    pub(super) waves: usize,
    pub(super) networks: String,
    pub(super) concentrated: bool,
    /// It began in a maintenance window of its service.
    pub(super) maintenance: bool,
}

impl EventRow {
    pub(super) fn new(e: &EventRecord, viewer: &Viewer, now: i64) -> Self {
        EventRow {
            id: e.id,
            started: viewer.time(e.started_at),
            duration: duration((e.end(now) - e.started_at) / 60),
            peak: format!("{:.0}", e.peak),
            total: count(e.total.max(0) as u64),
            severity: e.severity,
            open: e.is_open(),
            waves: e.waves.len(),
            networks: networks_text(e),
            concentrated: e.concentrated,
            maintenance: false,
        }
    }
}

/// How many networks an event's reports came from, as a table shows it;
/// a dash for an event from before they were recorded.
fn networks_text(e: &EventRecord) -> String {
    e.networks
        .map_or_else(|| "–".to_owned(), |n| count(n.max(0) as u64))
}

struct WaveRow {
    number: usize,
    started: TimeView,
    peak_at: TimeView,
    peak: String,
    ended: TimeView,
    reports: String,
    duration: String,
}

struct AlertRow {
    webhook_id: i64,
    format: WebhookFormat,
    kind: MessageKind,
    status: String,
    attempts: i64,
    queued: TimeView,
    delivered: Option<TimeView>,
}

#[derive(Template)]
#[template(path = "event.html")]
struct EventPage {
    layout: Layout,
    id: i64,
    slug: String,
    name: String,
    open: bool,
    severity: Severity,
    started: TimeView,
    detected: TimeView,
    detected_after: String,
    peak_at: TimeView,
    peak: String,
    resolved: Option<TimeView>,
    duration: String,
    total: String,
    excess: String,
    networks: Option<String>,
    top_share: Option<String>,
    concentrated: bool,
    chart: String,
    waves: Vec<WaveRow>,
    categories: Vec<TopItem>,
    error_codes: Vec<TopItem>,
    alerts: Vec<AlertRow>,
    /// The incident across services this outage belongs to, if any.
    incident: Option<IncidentLead>,
}

/// Everything the event page reads, in one go.
struct EventData {
    record: EventRecord,
    view: EventView,
    /// The curve from an hour before the event to an hour after (or now),
    /// `step` seconds a point over `[from, to)`.
    points: Vec<store::Point>,
    from: i64,
    to: i64,
    step: i64,
    alerts: Vec<EventAlert>,
    /// The incident the pass placed it in, if any.
    incident: Option<IncidentLead>,
}

impl EventData {
    /// Reads event `id` as of minute `now`; `None` if there is no such event.
    fn read(
        conn: &crate::store::Db,
        id: i64,
        now: i64,
        state: &AppState,
    ) -> Result<Option<Self>, store::StoreError> {
        let Some(record) = store::get_event(conn, id)? else {
            return Ok(None);
        };
        // The curve from an hour before to an hour after (or now).
        let from = record.started_at - 3600;
        let to = (record.end(now) + 3600)
            .min(now)
            .max(record.started_at + 60);
        let step = if to - from > 2 * 86_400 { 300 } else { 60 };
        let from = from - from.rem_euclid(step);
        let to = to + (step - to.rem_euclid(step)) % step;
        let points = store::totals(
            conn,
            record.service_id,
            Minute::from_unix(from),
            Minute::from_unix(to),
            step,
        )?;
        let alerts = store::event_alerts(conn, id, EVENT_ALERTS)?;
        let view = EventView::load(conn, record.clone())?;
        let incident = match store::event_attribution(conn, id)?.and_then(|a| a.incident_id) {
            Some(incident) => match store::get_incident(conn, incident)? {
                Some(incident) => IncidentLead::read(conn, &incident, state)?,
                None => None,
            },
            None => None,
        };
        Ok(Some(EventData {
            record,
            view,
            points,
            from,
            to,
            step,
            alerts,
            incident,
        }))
    }
}

/// `GET /e/{id}`: one event, its curve and waves, and the alerts sent.
pub async fn event(
    req: HttpRequest,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let id = path.into_inner();
    let (now, etag) = match super::record_page_tag(&req, &state, id) {
        Ok(tagged) => tagged,
        Err(not_modified) => return Ok(not_modified.response()),
    };
    let viewer = Viewer::from_request(&req);
    let tag = etag.clone();
    cached(&req, Representation::Page, &tag, Some(""), || async move {
        let reader = state.clone();
        let found = state
            .read(move |conn| EventData::read(conn, id, now, &reader))
            .await?;
        let Some(data) = found else {
            return Err(PageError::not_found(format!("There is no event {id}.")));
        };
        let EventData {
            record,
            view,
            points,
            from,
            to,
            step,
            alerts,
            incident,
        } = data;
        let service = state.service(&record.service).await?;
        let open = record.is_open();
        let chart = draw_series_chart(
            &format!("{}: outage #{id}", service.name),
            &format!(
                "Reports per {} for {} around outage #{id}, with the normal range; the event is shaded and its {} wave peak{} marked.",
                if step == 60 { "minute" } else { "5 minutes" },
                service.name,
                record.waves.len(),
                if record.waves.len() == 1 { "" } else { "s" }
            ),
            &viewer,
            (from, to),
            step,
            &points,
            Shaded {
                events: std::slice::from_ref(&record),
                windows: &[],
            },
        )?;
        let page = EventPage {
            layout: Layout::new(&viewer, etag),
            id,
            slug: service.slug.as_str().to_owned(),
            name: service.name.clone(),
            open,
            severity: record.severity,
            started: viewer.time(record.started_at),
            detected: viewer.time(record.detected_at),
            detected_after: duration((record.detected_at - record.started_at) / 60),
            peak_at: viewer.time(record.peak_at),
            peak: format!("{:.0}", record.peak),
            resolved: record.resolved_at.map(|t| viewer.time(t)),
            duration: duration((record.end(now) - record.started_at) / 60),
            total: count(record.total.max(0) as u64),
            excess: count(record.excess.max(0.0).round() as u64),
            networks: record.networks.map(|_| networks_text(&record)),
            top_share: record
                .top_network_share
                .map(|s| format!("{:.0}%", (s * 100.0).clamp(0.0, 100.0))),
            concentrated: record.concentrated,
            chart,
            waves: wave_rows(&record, &viewer),
            categories: view.top_categories,
            error_codes: view.top_error_codes,
            alerts: alerts
                .into_iter()
                .map(|a| AlertRow {
                    webhook_id: a.webhook_id,
                    format: a.format,
                    kind: a.kind,
                    status: a.status,
                    attempts: a.attempts,
                    queued: viewer.time(a.created_ms.div_euclid(1000)),
                    delivered: a.delivered_ms.map(|ms| viewer.time(ms.div_euclid(1000))),
                })
                .collect(),
            incident,
        };
        Ok(page.render()?)
    })
    .await
}

/// The event's waves as the page's table rows, numbered from 1.
fn wave_rows(record: &EventRecord, viewer: &Viewer) -> Vec<WaveRow> {
    record
        .waves
        .iter()
        .enumerate()
        .map(|(i, w)| WaveRow {
            number: i + 1,
            started: viewer.time(w.started_at),
            peak_at: viewer.time(w.peak_at),
            peak: format!("{:.0}", w.peak),
            ended: viewer.time(w.ended_at),
            reports: count(w.reports),
            duration: duration((w.ended_at - w.started_at) / 60),
        })
        .collect()
}
