//! An incident across services as the pages show it: as its own page
//! (`/i/{id}`), with its cause, the report curves of its services together
//! on one time axis and every outage it holds; and as the lead of the home
//! page and the event page of each of its outages ([`IncidentLead`]).

use super::layout::Layout;
use crate::api::AppState;
use crate::domain::Minute;
use crate::incident::AttributionKind;
use crate::store::{self, AttributionRecord, EventRecord, IncidentRecord, StoredIncidentStatus};
use crate::web::chart::{self, RelativeCurve, RelativeSpec};
use crate::web::view::{duration, TimeView, Viewer};
use crate::web::{cached, PageError, Representation};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

/// Curves drawn on an incident's chart: the cause's, then those of the
/// outages that drew the most reports above their normal. More lines than
/// this cannot be told apart (six colours, each solid and dashed); the
/// table lists every outage.
const MAX_CURVES: usize = 12;
/// The chart begins this long before the cause's first abnormal minute,
/// so that every curve shows its normal before it rose...
const LEAD_IN_SECS: i64 = 30 * 60;
/// ...and ends this long after the incident resolved (or now, if sooner),
/// so that the last recoveries show.
const TAIL_SECS: i64 = 30 * 60;
/// Width and height of the chart, in SVG user units (it scales).
const CHART_SIZE: (u32, u32) = (960, 360);

/// How an incident is named wherever it is shown: the cause's service and
/// how many others it affects ("AWS outage: 37 other services affected").
fn headline(cause_name: &str, others: usize) -> String {
    let services = if others == 1 { "service" } else { "services" };
    format!("{cause_name} outage: {others} other {services} affected")
}

/// An incident as a link to its page: the home page leads with each open
/// one, and an outage's page names the incident it belongs to.
pub(super) struct IncidentLead {
    /// Its page.
    pub(super) url: String,
    pub(super) cause_name: String,
    /// The cause's outage.
    pub(super) cause_url: String,
    /// The services affected besides the cause, in the order they began.
    pub(super) affected: Vec<(String, String)>,
}

impl IncidentLead {
    /// The lead of `incident`, or `None` if its cause's outage is gone.
    pub(super) fn read(
        conn: &crate::store::Db,
        incident: &IncidentRecord,
        state: &AppState,
    ) -> Result<Option<Self>, store::StoreError> {
        let Some(cause) = incident.cause_service.as_deref() else {
            return Ok(None);
        };
        let outages = store::incident_outages(conn, incident.id)?;
        let affected = others(cause, outages.iter().map(|o| o.service.as_str()))
            .into_iter()
            .map(|slug| (slug.to_owned(), service_name(state, slug)))
            .collect();
        Ok(Some(IncidentLead {
            url: format!("/i/{}", incident.id),
            cause_name: service_name(state, cause),
            cause_url: format!("/e/{}", incident.cause_event_id),
            affected,
        }))
    }

    /// "AWS outage: 37 other services affected".
    pub(super) fn headline(&self) -> String {
        headline(&self.cause_name, self.affected.len())
    }
}

/// The services of `slugs` other than the cause's, once each, in order:
/// a service may have had two outages in one incident.
fn others<'a>(cause: &str, slugs: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for slug in slugs {
        if slug != cause && !out.contains(&slug) {
            out.push(slug);
        }
    }
    out
}

/// A service's name by its slug (the slug itself if it is gone).
fn service_name(state: &AppState, slug: &str) -> String {
    state
        .catalog
        .get(slug)
        .map_or_else(|| slug.to_owned(), |s| s.name.clone())
}

/// One outage of the incident, as the pass attributed it.
struct Outage {
    attribution: AttributionRecord,
    event: EventRecord,
}

/// Everything the incident page reads, in one go.
struct IncidentData {
    incident: IncidentRecord,
    /// The outages it holds now, in the order they began.
    outages: Vec<Outage>,
    /// The cause's outage (among `outages` too, unless it was withdrawn).
    cause: Option<EventRecord>,
    /// The curves drawn, the cause's first: each outage's service's
    /// buckets over the chart's span.
    curves: Vec<(EventRecord, Vec<store::Point>)>,
    /// When it ended ([`end`]).
    end: i64,
    /// The chart's span `[from, to)` and its bucket, in seconds.
    from: i64,
    to: i64,
    step: i64,
}

impl IncidentData {
    /// Reads incident `id` as of minute `now`; `None` if there is no such
    /// incident.
    fn read(conn: &crate::store::Db, id: i64, now: i64) -> Result<Option<Self>, store::StoreError> {
        let Some(incident) = store::get_incident(conn, id)? else {
            return Ok(None);
        };
        let mut outages = Vec::new();
        for attribution in store::incident_outages(conn, id)? {
            if let Some(event) = store::get_event(conn, attribution.event_id)? {
                outages.push(Outage { attribution, event });
            }
        }
        let cause = store::get_event(conn, incident.cause_event_id)?;
        let drawn = drawn(cause.as_ref(), &outages);
        let end = end(&incident, &drawn, now);
        let (from, to, step) = span(&incident, end, now);
        let mut curves = Vec::with_capacity(drawn.len());
        for event in drawn {
            let (a, b) = (Minute::from_unix(from), Minute::from_unix(to));
            let points = store::totals(conn, event.service_id, a, b, step)?;
            curves.push((event.clone(), points));
        }
        Ok(Some(IncidentData {
            incident,
            outages,
            cause,
            curves,
            end,
            from,
            to,
            step,
        }))
    }
}

/// The outages whose curves are drawn: the cause's, then the others by the
/// reports they drew above their normal, most first, [`MAX_CURVES`] in all.
fn drawn<'a>(cause: Option<&'a EventRecord>, outages: &'a [Outage]) -> Vec<&'a EventRecord> {
    let mut others: Vec<&EventRecord> = outages
        .iter()
        .map(|o| &o.event)
        .filter(|e| cause.is_none_or(|c| c.id != e.id))
        .collect();
    others.sort_by(|a, b| b.excess.total_cmp(&a.excess).then(a.id.cmp(&b.id)));
    cause.into_iter().chain(others).take(MAX_CURVES).collect()
}

/// When the incident ended: now while open, at its resolution, and when
/// its last drawn outage did once withdrawn.
fn end(incident: &IncidentRecord, drawn: &[&EventRecord], now: i64) -> i64 {
    match incident.status {
        StoredIncidentStatus::Open => now,
        StoredIncidentStatus::Resolved => incident.resolved_at.unwrap_or(now),
        StoredIncidentStatus::Withdrawn => drawn
            .iter()
            .map(|e| e.end(now))
            .max()
            .unwrap_or(incident.began_at),
    }
}

/// The chart's span and bucket: from [`LEAD_IN_SECS`] before the incident
/// began to [`TAIL_SECS`] after it ended ([`end`]; or now, if sooner), in
/// minutes up to 12 hours, 5 minutes up to 3 days and hours beyond,
/// aligned to them.
fn span(incident: &IncidentRecord, end: i64, now: i64) -> (i64, i64, i64) {
    let from = incident.began_at - LEAD_IN_SECS;
    let to = (end + TAIL_SECS).min(now).max(incident.began_at + 60);
    let step = match to - from {
        s if s <= 12 * 3600 => 60,
        s if s <= 3 * 86_400 => 300,
        _ => 3600,
    };
    let from = from - from.rem_euclid(step);
    let to = to + (step - to.rem_euclid(step)) % step;
    (from, to, step)
}

/// Each bucket's reports as a multiple of the detector's normal for it,
/// the normal floored at `floor` reports a minute (the incident pass's
/// `rise_floor`: a nearly silent service does not rise a thousandfold on a
/// dozen reports); `None` where the detector had not judged the minute.
fn relative(points: &[store::Point], floor: f64, step: i64) -> Vec<(i64, Option<f64>)> {
    let floor = floor * step as f64 / 60.0;
    points
        .iter()
        .map(|p| {
            let ratio = p.baseline.map(|b| p.count as f64 / b.max(floor));
            (p.t.unix(), ratio.filter(|r| r.is_finite()))
        })
        .collect()
}

/// A curve to draw: a service's name, and its buckets as multiples of
/// its normal ([`relative`]).
type NamedCurve = (String, Vec<(i64, Option<f64>)>);

/// A curve drawn, as the legend names it.
struct LegendItem {
    swatch: String,
    name: String,
    /// Its highest multiple of normal on the chart.
    top: String,
}

/// One outage of the incident as the table lists it.
struct OutageRow {
    slug: String,
    name: String,
    event_id: i64,
    /// Its curve's swatch, if drawn.
    swatch: Option<String>,
    kind: &'static str,
    confidence: String,
    evidence: String,
    started: TimeView,
    open: bool,
}

/// How an attribution reads in the table: the API's word, and what it
/// means for this outage.
fn kind_label(a: &AttributionRecord) -> &'static str {
    match a.kind {
        AttributionKind::Epicentre if a.cause_event_id == a.event_id => "epicentre (the cause)",
        AttributionKind::Epicentre => "epicentre (followed it)",
        AttributionKind::Upstream => "upstream (declared provider)",
        AttributionKind::Spillover => "spillover",
        AttributionKind::Independent => "independent",
    }
}

/// The cause's outage, linked.
struct CauseLink {
    name: String,
    url: String,
    id: i64,
    started: TimeView,
}

#[derive(Template)]
#[template(path = "incident.html")]
struct IncidentPage {
    layout: Layout,
    id: i64,
    headline: String,
    status: StoredIncidentStatus,
    cause: Option<CauseLink>,
    began: TimeView,
    opened: TimeView,
    resolved: Option<TimeView>,
    duration: String,
    /// Still open: its duration is so far.
    open: bool,
    chart: String,
    /// "minute" or "5 minutes" or "hour": the chart's bucket.
    bucket: &'static str,
    legend: Vec<LegendItem>,
    rows: Vec<OutageRow>,
}

/// `GET /i/{id}`: one incident, its services' curves together, its outages.
pub async fn incident(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    // Parsed here, not by the extractor, so that any address that names no
    // incident gets the page that says so.
    let Ok(id) = path.parse::<i64>() else {
        return Err(PageError::not_found("There is no such incident."));
    };
    let (now, etag) = match super::record_page_tag(&req, &state, id) {
        Ok(tagged) => tagged,
        Err(not_modified) => return Ok(not_modified.response()),
    };
    let viewer = Viewer::from_request(&req);
    let tag = etag.clone();
    cached(&req, Representation::Page, &tag, Some(""), || async move {
        let found = state
            .read(move |conn| IncidentData::read(conn, id, now))
            .await?;
        let Some(data) = found else {
            return Err(PageError::not_found(format!("There is no incident {id}.")));
        };
        let layout = Layout::new(&viewer, etag);
        Ok(IncidentPage::new(data, &state, layout, &viewer)?.render()?)
    })
    .await
}

impl IncidentPage {
    fn new(
        data: IncidentData,
        state: &AppState,
        layout: Layout,
        viewer: &Viewer,
    ) -> Result<Self, PageError> {
        let IncidentData {
            incident,
            outages,
            cause,
            curves,
            end,
            from,
            to,
            step,
        } = data;
        let cause_slug = incident.cause_service.as_deref().unwrap_or_default();
        let affected = others(
            cause_slug,
            outages.iter().map(|o| o.attribution.service.as_str()),
        );
        // The cause's outage is gone only if its row is: no name to give.
        let headline = match &incident.cause_service {
            Some(slug) => headline(&service_name(state, slug), affected.len()),
            None => format!(
                "Incident #{}: {} services affected",
                incident.id,
                affected.len()
            ),
        };
        let bucket = match step {
            60 => "minute",
            300 => "5 minutes",
            _ => "hour",
        };
        let floor = state.settings.incident_rise_floor;
        let named: Vec<NamedCurve> = curves
            .iter()
            .map(|(e, points)| {
                (
                    service_name(state, &e.service),
                    relative(points, floor, step),
                )
            })
            .collect();
        let (chart, legend) = draw(&named, viewer, (from, to, step), bucket)?;
        let swatch = |event: i64| {
            let drawn = curves.iter().position(|(e, _)| e.id == event);
            drawn.map(chart::curve_swatch)
        };
        Ok(IncidentPage {
            layout,
            id: incident.id,
            headline,
            status: incident.status,
            cause: cause.map(|e| CauseLink {
                name: service_name(state, &e.service),
                url: format!("/e/{}", e.id),
                id: e.id,
                started: viewer.time(e.started_at),
            }),
            began: viewer.time(incident.began_at),
            opened: viewer.time(incident.opened_at),
            resolved: incident.resolved_at.map(|t| viewer.time(t)),
            duration: duration((end - incident.began_at) / 60),
            open: incident.status == StoredIncidentStatus::Open,
            chart,
            bucket,
            legend,
            rows: outages
                .iter()
                .map(|o| OutageRow {
                    slug: o.attribution.service.clone(),
                    name: service_name(state, &o.attribution.service),
                    event_id: o.event.id,
                    swatch: swatch(o.event.id),
                    kind: kind_label(&o.attribution),
                    confidence: format!(
                        "{:.0}%",
                        (o.attribution.confidence * 100.0).clamp(0.0, 100.0)
                    ),
                    evidence: o.attribution.evidence.clone(),
                    started: viewer.time(o.event.started_at),
                    open: o.event.is_open(),
                })
                .collect(),
        })
    }
}

/// The chart of the drawn curves (each a service's name and its buckets
/// as multiples of normal, the cause's first) and its legend.
fn draw(
    curves: &[NamedCurve],
    viewer: &Viewer,
    (from, to, step): (i64, i64, i64),
    bucket: &str,
) -> Result<(String, Vec<LegendItem>), PageError> {
    let legend: Vec<LegendItem> = curves
        .iter()
        .enumerate()
        .map(|(i, (name, ratios))| LegendItem {
            swatch: chart::curve_swatch(i),
            name: name.clone(),
            top: ratios
                .iter()
                .filter_map(|p| p.1)
                .reduce(f64::max)
                .map_or_else(
                    || "normal not known yet".to_owned(),
                    |top| format!("up to {} normal", chart::times_normal(top)),
                ),
        })
        .collect();
    let drawn: Vec<RelativeCurve> = curves
        .iter()
        .map(|(label, points)| RelativeCurve { label, points })
        .collect();
    let description = format!(
        "Reports per {bucket} of {} relative to each one's normal, on a log scale, from {} before the incident began: {}.",
        if curves.len() == 1 { "1 service".to_owned() } else { format!("{} services", curves.len()) },
        duration(LEAD_IN_SECS / 60),
        legend
            .iter()
            .map(|l| format!("{} {}", l.name, l.top))
            .collect::<Vec<_>>()
            .join("; "),
    );
    let svg = chart::render_relative_chart(&RelativeSpec {
        title: "Reports relative to each service's normal",
        description: &description,
        step_secs: step,
        from,
        to,
        curves: &drawn,
        utc_offset_secs: viewer.offset_secs,
        width: CHART_SIZE.0,
        height: CHART_SIZE.1,
    })?;
    Ok((svg, legend))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::{EventStatus, OpenReason, Severity};

    const BEGAN: i64 = 1_760_942_940; // 2025-10-20 06:49 UTC

    fn event(id: i64, service: &str, started_at: i64, excess: f64) -> EventRecord {
        EventRecord {
            id,
            service_id: id,
            service: service.into(),
            status: EventStatus::Open,
            started_at,
            detected_at: started_at + 120,
            opened_by: OpenReason::Extreme,
            peak_at: started_at + 600,
            peak: excess / 10.0,
            ended_at: started_at + 1200,
            resolved_at: None,
            total: excess as i64 + 100,
            excess,
            expected: 100.0,
            severity: Severity::Major,
            waves: Vec::new(),
            networks: Some(40),
            top_network_share: Some(0.1),
            concentrated: false,
        }
    }

    fn incident(status: StoredIncidentStatus, resolved_at: Option<i64>) -> IncidentRecord {
        IncidentRecord {
            id: 3,
            status,
            cause_event_id: 1,
            cause_service: Some("aws".into()),
            began_at: BEGAN,
            opened_at: BEGAN + 180,
            resolved_at,
            outages: 3,
        }
    }

    fn outage(e: EventRecord, kind: AttributionKind, evidence: &str) -> Outage {
        Outage {
            attribution: AttributionRecord {
                event_id: e.id,
                service: e.service.clone(),
                incident_id: Some(3),
                kind,
                cause_event_id: 1,
                cause_service: Some("aws".into()),
                confidence: 0.947,
                evidence: evidence.into(),
                started_at: e.started_at,
            },
            event: e,
        }
    }

    #[test]
    fn the_headline_counts_the_other_services() {
        assert_eq!(
            headline("AWS", 37),
            "AWS outage: 37 other services affected"
        );
        assert_eq!(headline("AWS", 1), "AWS outage: 1 other service affected");
        let slugs = ["aws", "slack", "zoom", "slack", "aws"];
        assert_eq!(others("aws", slugs.into_iter()), ["slack", "zoom"]);
    }

    #[test]
    fn the_cause_is_drawn_first_then_the_largest_up_to_the_cap() {
        let cause = event(1, "aws", BEGAN, 90_000.0);
        let outages: Vec<Outage> = (1..=20)
            .map(|id| {
                let e = event(id, &format!("dep-{id:02}"), BEGAN + 120, id as f64 * 10.0);
                outage(e, AttributionKind::Upstream, "")
            })
            .collect();
        let ids: Vec<i64> = drawn(Some(&cause), &outages).iter().map(|e| e.id).collect();
        assert_eq!(ids.len(), MAX_CURVES);
        assert_eq!(
            ids[0], 1,
            "the cause first, though it is among the outages too"
        );
        assert_eq!(&ids[1..4], [20, 19, 18], "then by excess, most first");
        assert!(!ids[1..].contains(&1), "the cause once");
        // A withdrawn incident may hold none of its outages now.
        let alone: Vec<i64> = drawn(Some(&cause), &[]).iter().map(|e| e.id).collect();
        assert_eq!(alone, [1]);
    }

    #[test]
    fn the_span_leads_in_follows_the_end_and_widens_its_buckets() {
        let cause = event(1, "aws", BEGAN, 1000.0);
        let now = BEGAN + 50 * 60;
        let open = incident(StoredIncidentStatus::Open, None);
        assert_eq!(end(&open, &[&cause], now), now);
        assert_eq!(span(&open, now, now), (BEGAN - 1800, now, 60));
        // Resolved an hour ago: its tail, not now.
        let ended = BEGAN + 3 * 3600;
        let resolved = incident(StoredIncidentStatus::Resolved, Some(ended));
        assert_eq!(end(&resolved, &[&cause], ended + 3600), ended);
        let (from, to, step) = span(&resolved, ended, ended + 3600);
        assert_eq!((from, to, step), (BEGAN - 1800, ended + 1800, 60));
        // Two days long: 5-minute buckets, aligned.
        let long = incident(StoredIncidentStatus::Resolved, Some(BEGAN + 2 * 86_400));
        let (from, to, step) = span(&long, BEGAN + 2 * 86_400, BEGAN + 10 * 86_400);
        assert_eq!(step, 300);
        assert_eq!((from % 300, to % 300), (0, 0));
        assert!(from <= BEGAN - 1800 && to >= BEGAN + 2 * 86_400 + 1800);
        // Withdrawn: it ends when its last outage did.
        let mut over = cause.clone();
        over.status = EventStatus::Resolved;
        over.resolved_at = Some(BEGAN + 600);
        let withdrawn = incident(StoredIncidentStatus::Withdrawn, None);
        assert_eq!(end(&withdrawn, &[&over], BEGAN + 86_400), BEGAN + 600);
        assert_eq!(end(&withdrawn, &[], BEGAN + 86_400), BEGAN, "nothing drawn");
    }

    #[test]
    fn reports_are_measured_against_a_floored_normal() {
        let t = Minute::from_unix(BEGAN);
        let point = |count, baseline| store::Point {
            t,
            count,
            baseline,
            upper: None,
        };
        let points = [
            point(300, Some(10.0)),
            point(12, Some(0.01)),
            point(5, None),
        ];
        let ratios: Vec<Option<f64>> = relative(&points, 1.0, 60).iter().map(|p| p.1).collect();
        assert_eq!(ratios, [Some(30.0), Some(12.0), None]);
        // Over 5-minute buckets the floor is 5 reports.
        assert_eq!(relative(&points[1..2], 1.0, 300)[0].1, Some(2.4));
    }

    /// The page as it renders for AWS and two dependents, one drawn.
    fn page(rows: Vec<OutageRow>, legend_len: usize) -> String {
        let minutes: Vec<(i64, Option<f64>)> = (0..80)
            .map(|i| {
                (
                    BEGAN - 1800 + i * 60,
                    Some(if i < 30 { 1.0 } else { 400.0 }),
                )
            })
            .collect();
        let curves: Vec<NamedCurve> = (0..legend_len)
            .map(|i| (["AWS", "Slack"][i].to_owned(), minutes.clone()))
            .collect();
        let viewer = Viewer { offset_secs: 0 };
        let span = (BEGAN - 1800, BEGAN + 50 * 60, 60);
        let (chart, legend) = draw(&curves, &viewer, span, "minute").unwrap();
        IncidentPage {
            layout: Layout::plain(),
            id: 3,
            headline: headline("AWS", 2),
            status: StoredIncidentStatus::Open,
            cause: Some(CauseLink {
                name: "AWS".into(),
                url: "/e/1".into(),
                id: 1,
                started: viewer.time(BEGAN),
            }),
            began: viewer.time(BEGAN),
            opened: viewer.time(BEGAN + 180),
            resolved: None,
            duration: duration(50),
            open: true,
            chart,
            bucket: "minute",
            legend,
            rows,
        }
        .render()
        .unwrap()
    }

    fn row(slug: &str, swatch: Option<usize>, evidence: &str) -> OutageRow {
        OutageRow {
            slug: slug.into(),
            name: slug.to_uppercase(),
            event_id: 7,
            swatch: swatch.map(chart::curve_swatch),
            kind: "upstream (declared provider)",
            confidence: "95%".into(),
            evidence: evidence.into(),
            started: Viewer { offset_secs: 0 }.time(BEGAN + 240),
            open: true,
        }
    }

    #[test]
    fn the_page_names_the_cause_draws_the_curves_and_lists_every_outage() {
        let rows = vec![
            row("aws", Some(0), "3 outages followed it"),
            row("slack", Some(1), "began 4 minutes after <AWS>"),
            row("zoom", None, "began 5 minutes after AWS"),
        ];
        let html = page(rows, 2);
        assert!(html.contains("<h1>AWS outage: 2 other services affected</h1>"));
        assert!(html.contains("Likely cause: the <a href=\"/e/1\">AWS outage #1</a>"));
        assert!(html.contains("pill-outage\">Ongoing"));
        assert_eq!(html.matches("<g class=\"chart-curve\"").count(), 2);
        assert!(html.contains("times normal (log scale)"));
        assert!(html.contains("AWS <span class=\"muted\">up to 400× normal</span>"));
        assert!(html.contains("The 2 largest of the 3 outages are drawn"));
        assert!(html.contains("The 3 outages of incident #3 in the order they began"));
        assert_eq!(html.matches("<tr class=\"open\">").count(), 3);
        // Each drawn row carries its curve's swatch: the legend's two, the table's two.
        assert_eq!(html.matches("class=\"swatch\"").count(), 4);
        assert!(html.contains("<a href=\"/s/zoom\">ZOOM</a>"));
        assert!(
            html.contains("began 4 minutes after &#60;AWS&#62;"),
            "escaped"
        );
        assert!(
            !html.contains("style="),
            "no inline style under the page's policy"
        );
    }

    #[test]
    fn an_incident_without_outages_says_so() {
        let html = page(Vec::new(), 1);
        assert!(html.contains("No outage belongs to this incident now."));
        assert!(!html.contains("<table"));
        assert!(!html.contains("largest of the"));
    }
}
