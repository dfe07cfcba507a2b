//! The three pages: home (`/`), a service (`/s/{slug}`) and an event
//! (`/e/{id}`). Each handler reads what it shows in one blocking read, then
//! renders an askama template (which escapes everything by default).

use super::chart::{self, ChartMark, ChartPoint, ChartSpan, ChartSpec};
use super::view::{self, count, duration, TimeView, Viewer};
use super::{assets, html, PageError, Representation};
use crate::api::AppState;
use crate::detect::Status;
use crate::domain::Minute;
use crate::store::{self, Comment, EventAlert, EventFilter, EventRecord, TopItem};
use crate::wire::EventView;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Width and height of the main chart, in SVG user units (it scales).
const CHART_SIZE: (u32, u32) = (960, 320);
/// Width and height of a sparkline on the home page.
const SPARK_SIZE: (u32, u32) = (160, 32);
/// The home page's sparklines cover a day in 10-minute buckets.
const SPARK_STEP: i64 = 600;
/// Events listed on a service page.
const RECENT_EVENTS: usize = 10;
/// Comments shown on a service page (from the last day).
const RECENT_COMMENTS: usize = 10;
/// Alerts listed on an event page.
const EVENT_ALERTS: usize = 200;

/// What every page's frame needs.
pub struct Layout {
    pub zone: String,
    pub etag: String,
    pub asset_version: &'static str,
}

impl Layout {
    fn new(viewer: &Viewer, etag: String) -> Self {
        Layout {
            zone: viewer.zone_label(),
            etag,
            asset_version: assets::version(),
        }
    }

    /// For error pages: nothing live, times in UTC.
    pub fn plain() -> Self {
        Layout::new(&Viewer { offset_secs: 0 }, String::new())
    }
}

/// The chart ranges a service page offers; every one at 1-minute steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    Hours6,
    Hours24,
    Days7,
}

impl Range {
    pub const ALL: [Range; 3] = [Range::Hours6, Range::Hours24, Range::Days7];

    pub fn parse(s: Option<&str>) -> Result<Self, PageError> {
        match s {
            None | Some("24h") => Ok(Range::Hours24),
            Some("6h") => Ok(Range::Hours6),
            Some("7d") => Ok(Range::Days7),
            Some(_) => Err(PageError::bad_request(
                "invalid_range",
                "range must be 6h, 24h or 7d",
            )),
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Range::Hours6 => "6h",
            Range::Hours24 => "24h",
            Range::Days7 => "7d",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Range::Hours6 => "6 hours",
            Range::Hours24 => "24 hours",
            Range::Days7 => "7 days",
        }
    }

    pub fn seconds(self) -> i64 {
        match self {
            Range::Hours6 => 6 * 3600,
            Range::Hours24 => 86_400,
            Range::Days7 => 7 * 86_400,
        }
    }
}

#[derive(Debug, PartialEq, Deserialize, Serialize)]
pub struct HomeQuery {
    /// Filter text (the filter box without JavaScript).
    q: Option<String>,
}

struct HomeRow {
    slug: String,
    name: String,
    status: Status,
    status_label: &'static str,
    last_hour: String,
    last_hour_n: u64,
    sparkline: String,
    open_event: Option<i64>,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    layout: Layout,
    rows: Vec<HomeRow>,
    filter: String,
    shown: usize,
    total: usize,
    outages: usize,
}

/// `GET /`: every service, outages first, with a 24-hour sparkline.
pub async fn home(
    req: HttpRequest,
    query: web::Query<HomeQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let services = state.catalog.all();
    let generation = state.monitor.board.generation();
    let now = Minute::containing(state.clock.now()).unix();
    let etag = match view::conditional(
        &req,
        Representation::Page,
        (generation, now, services.len()),
    ) {
        Ok(tag) => tag,
        Err(not_modified) => return Ok(not_modified.response()),
    };
    let viewer = Viewer::from_request(&req);
    let filter = query.q.clone().unwrap_or_default();
    let needle = filter.trim().to_lowercase();
    let total = services.len();
    let shown: Vec<_> = services
        .into_iter()
        .filter(|s| {
            needle.is_empty()
                || s.name.to_lowercase().contains(&needle)
                || s.slug.as_str().contains(&needle)
        })
        .collect();
    let to = now - now.rem_euclid(SPARK_STEP) + SPARK_STEP;
    let from = to - 86_400;
    // Only a service in outage has an open event to link to.
    let statuses: Vec<Status> = shown.iter().map(|s| status_of(&state, s)).collect();
    let ids: Vec<(i64, bool)> = shown
        .iter()
        .zip(&statuses)
        .map(|(s, &status)| (s.id, status == Status::Outage))
        .collect();
    let series = state
        .read(move |conn| {
            ids.iter()
                .map(|&(id, in_outage)| {
                    let day = store::totals(
                        conn,
                        id,
                        Minute::from_unix(from),
                        Minute::from_unix(to),
                        SPARK_STEP,
                    )?;
                    // The last hour as the service page's summary counts it:
                    // the 60 minutes up to and including the running one.
                    let hour = store::totals(
                        conn,
                        id,
                        Minute::from_unix(now - 59 * 60),
                        Minute::from_unix(now + 60),
                        3600,
                    )?;
                    let open = if in_outage {
                        store::list_events(
                            conn,
                            &EventFilter {
                                service_id: Some(id),
                                status: Some(crate::detect::EventStatus::Open),
                                since: None,
                                limit: 1,
                            },
                        )?
                    } else {
                        Vec::new()
                    };
                    Ok((
                        day,
                        hour.first().map_or(0, |p| p.count),
                        open.first().map(|e| e.id),
                    ))
                })
                .collect::<Result<Vec<_>, store::StoreError>>()
        })
        .await?;
    let mut rows = Vec::with_capacity(shown.len());
    for ((service, status), (day, last_hour, open_event)) in shown.iter().zip(statuses).zip(series)
    {
        let counts: Vec<u64> = day.iter().map(|p| p.count).collect();
        let baseline: Vec<Option<f64>> = day.iter().map(|p| p.baseline).collect();
        let sparkline = chart::render_sparkline(
            &counts,
            &baseline,
            SPARK_SIZE.0,
            SPARK_SIZE.1,
            &format!(
                "{}: reports over the last 24 hours, {} in the last hour",
                service.name,
                count(last_hour)
            ),
        )?;
        rows.push(HomeRow {
            slug: service.slug.as_str().to_owned(),
            name: service.name.clone(),
            status,
            status_label: status.label(),
            last_hour: count(last_hour),
            last_hour_n: last_hour,
            sparkline,
            open_event,
        });
    }
    rows.sort_by(|a, b| {
        a.status
            .rank()
            .cmp(&b.status.rank())
            .then(b.last_hour_n.cmp(&a.last_hour_n))
            .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
    });
    let page = HomePage {
        layout: Layout::new(&viewer, etag),
        outages: rows.iter().filter(|r| r.status == Status::Outage).count(),
        shown: rows.len(),
        total,
        rows,
        filter,
    };
    html(&page, &page.layout.etag)
}

#[derive(Debug, PartialEq, Deserialize, Serialize)]
pub struct ServiceQuery {
    /// `6h`, `24h` or `7d` ([`Range::parse`]).
    pub range: Option<String>,
}

struct RangeLink {
    key: &'static str,
    label: &'static str,
    current: bool,
}

/// An event as a table row.
struct EventRow {
    id: i64,
    started: TimeView,
    duration: String,
    peak: String,
    total: String,
    severity: crate::detect::Severity,
    open: bool,
    waves: usize,
    networks: String,
    concentrated: bool,
}

impl EventRow {
    fn new(e: &EventRecord, viewer: &Viewer, now: i64) -> Self {
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
        }
    }
}

/// How many networks an event's reports came from, as a table shows it;
/// a dash for an event from before they were recorded.
fn networks_text(e: &EventRecord) -> String {
    e.networks
        .map_or_else(|| "–".to_owned(), |n| count(n.max(0) as u64))
}

struct CommentRow {
    at: TimeView,
    category: String,
    error_code: Option<i64>,
    text: String,
}

#[derive(Template)]
#[template(path = "service.html")]
struct ServicePage {
    layout: Layout,
    slug: String,
    name: String,
    status: Status,
    status_label: &'static str,
    /// Its open event came from too few networks to be called an outage.
    concentrated: bool,
    range: &'static str,
    range_label: &'static str,
    ranges: Vec<RangeLink>,
    chart: String,
    last_15m: String,
    last_hour: String,
    last_day: String,
    categories: Vec<TopItem>,
    error_codes: Vec<TopItem>,
    regions: Vec<TopItem>,
    events: Vec<EventRow>,
    comments: Vec<CommentRow>,
    show_comments: bool,
    form_categories: Vec<String>,
    dedup_minutes: u64,
}

/// What a service chart draws: a minute per point, the events shaded.
struct ChartData {
    points: Vec<store::Point>,
    events: Vec<EventRecord>,
}

impl ChartData {
    fn read(
        conn: &rusqlite::Connection,
        id: i64,
        from: i64,
        to: i64,
    ) -> Result<Self, store::StoreError> {
        Ok(ChartData {
            points: store::totals(conn, id, Minute::from_unix(from), Minute::from_unix(to), 60)?,
            events: store::events_overlapping(conn, id, from, to)?,
        })
    }
}

/// Everything the service page reads, in one go.
struct ServiceData {
    chart: ChartData,
    recent: Vec<EventRecord>,
    summary: store::Summary,
    comments: Vec<Comment>,
}

impl ServiceData {
    /// Reads the chart's range, the summary up to minute `now`, recent
    /// events, and comments since `comments_since_ms` (none if `None`).
    fn read(
        conn: &rusqlite::Connection,
        id: i64,
        (from, to): (i64, i64),
        now: Minute,
        comments_since_ms: Option<i64>,
    ) -> Result<Self, store::StoreError> {
        Ok(ServiceData {
            chart: ChartData::read(conn, id, from, to)?,
            recent: store::list_events(
                conn,
                &EventFilter {
                    service_id: Some(id),
                    status: None,
                    since: None,
                    limit: RECENT_EVENTS,
                },
            )?,
            summary: store::summary(conn, id, now)?,
            comments: match comments_since_ms {
                Some(since) => store::recent_comments(conn, id, since, RECENT_COMMENTS)?,
                None => Vec::new(),
            },
        })
    }
}

/// How the service page and its chart begin: which service and range, and
/// whether the client already has this version.
struct ServiceRequest {
    service: Arc<store::Service>,
    range: Range,
    etag: String,
    viewer: Viewer,
    now: chrono::DateTime<chrono::Utc>,
    /// The chart's span: the last `range` of closed minutes.
    from: i64,
    to: i64,
}

impl ServiceRequest {
    async fn new(
        req: &HttpRequest,
        slug: &str,
        range: Option<&str>,
        kind: Representation,
        state: &AppState,
    ) -> Result<Result<Self, view::NotModified>, PageError> {
        let service = state.service(slug).await?;
        let range = Range::parse(range)?;
        let now = state.clock.now();
        let to = Minute::containing(now).unix();
        let generation = state.monitor.board.generation();
        let etag = match view::conditional(req, kind, (generation, to, service.id)) {
            Ok(tag) => tag,
            Err(not_modified) => return Ok(Err(not_modified)),
        };
        Ok(Ok(ServiceRequest {
            service,
            range,
            etag,
            viewer: Viewer::from_request(req),
            now,
            from: to - range.seconds(),
            to,
        }))
    }
}

/// `GET /s/{slug}`: the report curve against its baseline, what people
/// report, recent events, and the report button.
pub async fn service(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<ServiceQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let range = query.range.as_deref();
    let r = match ServiceRequest::new(&req, &path, range, Representation::Page, &state).await? {
        Ok(r) => r,
        Err(not_modified) => return Ok(not_modified.response()),
    };
    let ServiceRequest {
        service,
        range,
        etag,
        viewer,
        now,
        from,
        to,
    } = r;
    let comments_since_ms = state
        .settings
        .public_comments
        .then(|| now.timestamp_millis() - 86_400_000);
    let id = service.id;
    let data = state
        .read(move |conn| {
            ServiceData::read(
                conn,
                id,
                (from, to),
                Minute::containing(now),
                comments_since_ms,
            )
        })
        .await?;
    let status = status_of(&state, &service);
    let chart = service_chart(&service, range, &viewer, from, to, &data.chart)?;
    let page = ServicePage {
        layout: Layout::new(&viewer, etag),
        slug: service.slug.as_str().to_owned(),
        name: service.name.clone(),
        status,
        status_label: status.label(),
        concentrated: concentrated_now(&state, &service),
        range: range.key(),
        range_label: range.label(),
        ranges: Range::ALL
            .iter()
            .map(|r| RangeLink {
                key: r.key(),
                label: r.label(),
                current: *r == range,
            })
            .collect(),
        chart,
        last_15m: count(data.summary.last_15m),
        last_hour: count(data.summary.last_hour),
        last_day: count(data.summary.last_day),
        categories: data.summary.categories,
        error_codes: data.summary.error_codes,
        regions: data.summary.regions,
        events: data
            .recent
            .iter()
            .map(|e| EventRow::new(e, &viewer, to))
            .collect(),
        comments: data
            .comments
            .into_iter()
            .map(|c| CommentRow {
                at: viewer.time(c.received_ms.div_euclid(1000)),
                category: c.category,
                error_code: c.error_code,
                text: c.text,
            })
            .collect(),
        show_comments: state.settings.public_comments,
        form_categories: service.categories.iter().map(|c| c.to_string()).collect(),
        dedup_minutes: state.settings.dedup_window.as_secs().div_ceil(60),
    };
    html(&page, &page.layout.etag)
}

/// The service chart for a range: counts, band, events shaded, wave peaks.
fn service_chart(
    service: &store::Service,
    range: Range,
    viewer: &Viewer,
    from: i64,
    to: i64,
    data: &ChartData,
) -> Result<String, PageError> {
    let events = &data.events;
    let description = if events.is_empty() {
        format!(
            "Reports per minute for {} over the last {}, with the normal range; no outage in this period.",
            service.name,
            range.label()
        )
    } else {
        let waves: usize = events.iter().map(|e| e.waves.len()).sum();
        format!(
            "Reports per minute for {} over the last {}, with the normal range; {} outage event{} shaded, {} wave peak{} marked.",
            service.name,
            range.label(),
            events.len(),
            if events.len() == 1 { "" } else { "s" },
            waves,
            if waves == 1 { "" } else { "s" },
        )
    };
    draw_series_chart(
        &format!(
            "{}: reports per minute, last {}",
            service.name,
            range.label()
        ),
        &description,
        viewer,
        (from, to),
        60,
        &data.points,
        events,
    )
}

/// Draws a chart of `points` (one per `step` seconds from `from`) with
/// `events` shaded and their wave peaks marked.
fn draw_series_chart(
    title: &str,
    description: &str,
    viewer: &Viewer,
    (from, to): (i64, i64),
    step: i64,
    points: &[store::Point],
    events: &[EventRecord],
) -> Result<String, PageError> {
    let chart_points: Vec<ChartPoint> = points
        .iter()
        .map(|p| ChartPoint {
            t: p.t.unix(),
            count: p.count,
            baseline: p.baseline,
            upper: p.upper,
        })
        .collect();
    let spans: Vec<ChartSpan> = events
        .iter()
        .map(|e| ChartSpan {
            start: e.started_at,
            end: e.end(to),
            label: format!(
                "Outage #{} ({}), from {}",
                e.id,
                e.severity,
                viewer.time(e.started_at).text
            ),
        })
        .collect();
    let marks: Vec<ChartMark> = events
        .iter()
        .flat_map(|e| {
            e.waves.iter().enumerate().map(|(i, w)| ChartMark {
                t: w.peak_at,
                // On the curve: the bucket holding the peak minute (on a
                // 5-minute chart it holds more than the minute's peak).
                value: usize::try_from((w.peak_at - from).div_euclid(step))
                    .ok()
                    .and_then(|k| points.get(k))
                    .map_or(w.peak, |p| p.count as f64),
                label: format!(
                    "Wave {} peak: {:.0} reports/min at {}",
                    i + 1,
                    w.peak,
                    viewer.time(w.peak_at).short
                ),
                short: format!("W{}", i + 1),
            })
        })
        .collect();
    Ok(chart::render_chart(&ChartSpec {
        title,
        description,
        step_secs: step,
        from,
        to,
        points: &chart_points,
        spans: &spans,
        marks: &marks,
        utc_offset_secs: viewer.offset_secs,
        // A week of minutes is a twelfth of a pixel each: merge hover
        // targets to 2 px there (one per point on the shorter ranges).
        tip_min_px: if (to - from) / step > 2 * CHART_SIZE.0 as i64 {
            2.0
        } else {
            0.0
        },
        width: CHART_SIZE.0,
        height: CHART_SIZE.1,
    })?)
}

#[derive(Debug, PartialEq, Deserialize, Serialize)]
pub struct ChartQuery {
    /// `6h`, `24h` or `7d` ([`Range::parse`]).
    pub range: Option<String>,
}

/// `GET /s/{slug}/chart.svg?range=6h|24h|7d`: the service chart alone, to
/// embed elsewhere.
pub async fn chart_svg(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<ChartQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let range = query.range.as_deref();
    let r = match ServiceRequest::new(&req, &path, range, Representation::Chart, &state).await? {
        Ok(r) => r,
        Err(not_modified) => return Ok(not_modified.response()),
    };
    let (id, from, to) = (r.service.id, r.from, r.to);
    let data = state
        .read(move |conn| ChartData::read(conn, id, from, to))
        .await?;
    let svg = service_chart(&r.service, r.range, &r.viewer, from, to, &data)?;
    Ok(Representation::Chart.ok(&r.etag, svg))
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
    format: crate::domain::WebhookFormat,
    kind: crate::domain::MessageKind,
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
    severity: crate::detect::Severity,
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
}

/// `GET /e/{id}`: one event, its curve and waves, and the alerts sent.
pub async fn event(
    req: HttpRequest,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let id = path.into_inner();
    let now = Minute::containing(state.clock.now()).unix();
    let etag = match view::conditional(
        &req,
        Representation::Page,
        (state.monitor.board.generation(), now, id),
    ) {
        Ok(tag) => tag,
        Err(not_modified) => return Ok(not_modified.response()),
    };
    let viewer = Viewer::from_request(&req);
    let found = state
        .read(move |conn| {
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
            Ok(Some((record, view, points, alerts, from, to, step)))
        })
        .await?;
    let Some((record, view, points, alerts, from, to, step)) = found else {
        return Err(PageError::not_found(format!("There is no event {id}.")));
    };
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
        std::slice::from_ref(&record),
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
        waves: record
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
            .collect(),
        categories: view.top_categories,
        error_codes: view.top_error_codes,
        alerts: alerts
            .into_iter()
            .map(|a: EventAlert| AlertRow {
                webhook_id: a.webhook_id,
                format: a.format,
                kind: a.kind,
                status: a.status,
                attempts: a.attempts,
                queued: viewer.time(a.created_ms.div_euclid(1000)),
                delivered: a.delivered_ms.map(|ms| viewer.time(ms.div_euclid(1000))),
            })
            .collect(),
    };
    html(&page, &page.layout.etag)
}

/// Where a service stands now: `ok`, `elevated` or `outage` (an open event
/// from too few networks is `elevated`).
pub fn status_of(state: &AppState, service: &Arc<store::Service>) -> Status {
    state
        .monitor
        .board
        .get(service.id)
        .map_or(Status::Ok, |s| s.shown())
}

/// Whether a service's open event came from too few networks.
fn concentrated_now(state: &AppState, service: &Arc<store::Service>) -> bool {
    state
        .monitor
        .board
        .get(service.id)
        .is_some_and(|s| s.status == Status::Outage && s.concentrated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::Wave;

    #[test]
    fn a_five_minute_chart_says_so_and_marks_peaks_on_its_curve() {
        let from = 1_772_409_600; // 2026-03-02 00:00 UTC
        let step = 300;
        let points: Vec<store::Point> = (0..12)
            .map(|i| store::Point {
                t: Minute::from_unix(from + i * step),
                count: if i == 5 { 40 } else { 5 },
                baseline: Some(5.0),
                upper: Some(9.0),
            })
            .collect();
        let event = EventRecord {
            id: 7,
            service_id: 1,
            service: "claude".into(),
            status: crate::detect::EventStatus::Resolved,
            started_at: from + 4 * step,
            detected_at: from + 5 * step,
            opened_by: crate::detect::OpenReason::Extreme,
            peak_at: from + 5 * step + 120,
            peak: 12.0,
            ended_at: from + 7 * step,
            resolved_at: Some(from + 8 * step),
            total: 60,
            excess: 40.0,
            expected: 20.0,
            severity: crate::detect::Severity::Minor,
            waves: vec![Wave {
                started_at: from + 4 * step,
                peak_at: from + 5 * step + 120,
                peak: 12.0,
                ended_at: from + 7 * step,
                reports: 60,
            }],
            networks: Some(12),
            top_network_share: Some(0.2),
            concentrated: false,
        };
        let svg = draw_series_chart(
            "t",
            "d",
            &Viewer { offset_secs: 0 },
            (from, from + 12 * step),
            step,
            &points,
            std::slice::from_ref(&event),
        )
        .unwrap();
        // The axis counts per 5 minutes; the wave's label keeps its peak
        // per minute.
        assert!(svg.contains("reports/5 min"), "{svg}");
        assert!(svg.contains("Wave 1 peak: 12 reports/min"));
    }
}
