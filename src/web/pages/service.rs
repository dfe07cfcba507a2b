//! A service's page (`/s/{slug}`): the report curve against its baseline,
//! what people report, recent events, comments and the report button; and
//! its chart alone (`/s/{slug}/chart.svg`), to embed elsewhere.

use super::event::EventRow;
use super::layout::Layout;
use super::range::Range;
use super::series_chart::{service_chart, ChartData};
use super::status::{concentrated_now, status_of};
use crate::api::AppState;
use crate::detect::Status;
use crate::domain::Minute;
use crate::store::{self, Comment, EventFilter, EventRecord, TopItem};
use crate::web::view::{self, count, TimeView, Viewer};
use crate::web::{cached, PageError, Representation};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Events listed on a service page.
const RECENT_EVENTS: usize = 10;
/// Comments shown on a service page (from the last day).
const RECENT_COMMENTS: usize = 10;

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

/// A maintenance window as the page tells it.
struct WindowNotice {
    start: TimeView,
    end: TimeView,
    reason: String,
}

impl WindowNotice {
    fn new(w: &store::Maintenance, viewer: &Viewer) -> Self {
        WindowNotice {
            start: viewer.time(w.starts_at),
            end: viewer.time(w.ends_at),
            reason: w.reason.clone(),
        }
    }
}

/// Another service's outage that likely explains this one's, as the
/// incident pass attributed the open outage (upstream or spillover).
struct CauseNotice {
    /// The cause's service, by name.
    name: String,
    /// Its outage's page.
    url: String,
    /// How long before this outage it began, in words.
    earlier: String,
    /// A rise of people who cannot reach the cause, not a failure here.
    spillover: bool,
    /// The incident's page, which shows every service the cause affects.
    incident_url: Option<String>,
}

impl CauseNotice {
    /// From the open outage's attribution and the cause's outage.
    fn new(
        attribution: &store::AttributionRecord,
        cause: &EventRecord,
        state: &AppState,
    ) -> Option<Self> {
        use crate::incident::AttributionKind;
        // An epicentre's follower (no declared provider, began right after
        // it) is caused by it too; the epicentre itself is its own cause.
        let spillover = match attribution.kind {
            AttributionKind::Upstream | AttributionKind::Epicentre => false,
            AttributionKind::Spillover => true,
            AttributionKind::Independent => return None,
        };
        if cause.service == attribution.service {
            return None;
        }
        let minutes = (attribution.started_at - cause.started_at).max(0) / 60;
        Some(CauseNotice {
            name: state
                .catalog
                .get(&cause.service)
                .map_or_else(|| cause.service.clone(), |s| s.name.clone()),
            url: format!("/e/{}", cause.id),
            earlier: match minutes {
                0 => "within the same minute".to_owned(),
                1 => "1 minute earlier".to_owned(),
                n => format!("{n} minutes earlier"),
            },
            spillover,
            incident_url: attribution.incident_id.map(|i| format!("/i/{i}")),
        })
    }
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
    /// The outage elsewhere that likely causes the open one here.
    cause: Option<CauseNotice>,
    /// The maintenance window open now, or else the next one scheduled.
    maintenance_now: Option<WindowNotice>,
    maintenance_next: Option<WindowNotice>,
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

/// Everything the service page reads, in one go.
struct ServiceData {
    chart: ChartData,
    recent: Vec<EventRecord>,
    summary: store::Summary,
    comments: Vec<Comment>,
    /// Its maintenance windows that end after the chart's start or the
    /// oldest recent event's, earliest first.
    maintenance: Vec<store::Maintenance>,
    /// The open outage's attribution by the incident pass, and the cause's
    /// outage, when the pass has judged it.
    attribution: Option<(store::AttributionRecord, EventRecord)>,
}

impl ServiceData {
    /// Reads the chart's range, the summary up to minute `now`, recent
    /// events, and comments since `comments_since_ms` (none if `None`).
    fn read(
        conn: &crate::store::Db,
        id: i64,
        (from, to): (i64, i64),
        now: Minute,
        comments_since_ms: Option<i64>,
    ) -> Result<Self, store::StoreError> {
        let recent = store::list_events(
            conn,
            &EventFilter {
                service_id: Some(id),
                status: None,
                since: None,
                limit: RECENT_EVENTS,
            },
        )?;
        let windows_since = recent.iter().map(|e| e.started_at).fold(from, i64::min);
        let attribution = match recent.iter().find(|e| e.is_open()) {
            Some(open) => match store::event_attribution(conn, open.id)? {
                Some(a) => store::get_event(conn, a.cause_event_id)?.map(|cause| (a, cause)),
                None => None,
            },
            None => None,
        };
        Ok(ServiceData {
            chart: ChartData::read(conn, id, from, to)?,
            maintenance: store::list_maintenance(conn, id, windows_since)?,
            attribution,
            recent,
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
        let parts = (state.monitor.board.version(), to, service.id, range.key());
        let etag = match view::conditional(req, kind, parts) {
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
    let variant = range.key();
    let tag = etag.clone();
    cached(
        &req,
        Representation::Page,
        &tag,
        Some(variant),
        || async move {
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
                cause: data
                    .attribution
                    .as_ref()
                    .and_then(|(a, cause)| CauseNotice::new(a, cause, &state)),
                maintenance_now: data
                    .maintenance
                    .iter()
                    .filter(|w| w.covers(now.timestamp()))
                    .max_by_key(|w| w.ends_at)
                    .map(|w| WindowNotice::new(w, &viewer)),
                maintenance_next: data
                    .maintenance
                    .iter()
                    .find(|w| w.starts_at > now.timestamp())
                    .map(|w| WindowNotice::new(w, &viewer)),
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
                    .map(|e| {
                        let mut row = EventRow::new(e, &viewer, to);
                        row.maintenance = data.maintenance.iter().any(|w| w.covers(e.started_at));
                        row
                    })
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
            Ok(page.render()?)
        },
    )
    .await
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
    let kind = Representation::Chart;
    cached(&req, kind, &r.etag, Some(r.range.key()), || async move {
        let data = state
            .read(move |conn| ChartData::read(conn, id, from, to))
            .await?;
        service_chart(&r.service, r.range, &r.viewer, from, to, &data)
    })
    .await
}
