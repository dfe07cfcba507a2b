//! The home page (`/`): every service, outages first, each with its status,
//! its reports in the last hour and a 24-hour sparkline; a filter box that
//! works without JavaScript.

use super::incident::IncidentLead;
use super::layout::Layout;
use super::status::status_of;
use crate::api::AppState;
use crate::detect::{EventStatus, Status};
use crate::domain::Minute;
use crate::store::{self, EventFilter};
use crate::web::chart;
use crate::web::view::{self, count, Viewer};
use crate::web::{cached, PageError, Representation};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::sync::Arc;

/// Width and height of a sparkline on the home page.
const SPARK_SIZE: (u32, u32) = (160, 32);
/// The home page's sparklines cover a day in 10-minute buckets.
const SPARK_STEP: i64 = 600;

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

/// Open incidents listed on the home page.
const OPEN_INCIDENTS: usize = 5;

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    layout: Layout,
    incidents: Vec<IncidentLead>,
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
    let version = state.monitor.board.version();
    let now = Minute::containing(state.clock.now()).unix();
    let etag = match view::conditional(
        &req,
        Representation::Page,
        (version, now, services.len(), query.q.as_deref()),
    ) {
        Ok(tag) => tag,
        Err(not_modified) => return Ok(not_modified.response()),
    };
    let filter = query.q.clone().unwrap_or_default();
    // A free-text filter is not kept: anyone could make a copy per word.
    let variant = filter.is_empty().then_some("");
    let viewer = Viewer::from_request(&req);
    let tag = etag.clone();
    cached(&req, Representation::Page, &tag, variant, || async move {
        let total = services.len();
        let shown = matching(services, &filter);
        // Only a service in outage has an open event to link to.
        let statuses: Vec<Status> = shown.iter().map(|s| status_of(&state, s)).collect();
        let ids: Vec<(i64, bool)> = shown
            .iter()
            .zip(&statuses)
            .map(|(s, &status)| (s.id, status == Status::Outage))
            .collect();
        let lead_state = state.clone();
        let (days, incidents) = state
            .read(move |conn| {
                let days = ids
                    .iter()
                    .map(|&(id, in_outage)| ServiceDay::read(conn, id, in_outage, now))
                    .collect::<Result<Vec<_>, store::StoreError>>()?;
                let open = store::StoredIncidentStatus::Open;
                let mut incidents = Vec::new();
                for i in store::list_incidents(conn, Some(open), OPEN_INCIDENTS)? {
                    incidents.extend(IncidentLead::read(conn, &i, &lead_state)?);
                }
                Ok((days, incidents))
            })
            .await?;
        let mut rows = shown
            .iter()
            .zip(statuses)
            .zip(days)
            .map(|((service, status), day)| HomeRow::new(service, status, day))
            .collect::<Result<Vec<_>, PageError>>()?;
        rows.sort_by(outages_first);
        let page = HomePage {
            layout: Layout::new(&viewer, etag),
            incidents,
            outages: rows.iter().filter(|r| r.status == Status::Outage).count(),
            shown: rows.len(),
            total,
            rows,
            filter,
        };
        Ok(page.render()?)
    })
    .await
}

/// The services whose name or slug holds `filter` (any case), or all when
/// it is blank.
fn matching(services: Vec<Arc<store::Service>>, filter: &str) -> Vec<Arc<store::Service>> {
    let needle = filter.trim().to_lowercase();
    services
        .into_iter()
        .filter(|s| {
            needle.is_empty()
                || s.name.to_lowercase().contains(&needle)
                || s.slug.as_str().contains(&needle)
        })
        .collect()
}

/// What the home page reads for one service.
struct ServiceDay {
    /// The last 24 hours in 10-minute buckets, up to the running one.
    day: Vec<store::Point>,
    /// Reports in the 60 minutes up to and including the running one.
    last_hour: u64,
    /// The open event to link to, for a service in outage.
    open_event: Option<i64>,
}

impl ServiceDay {
    fn read(
        conn: &crate::store::Db,
        id: i64,
        in_outage: bool,
        now: i64,
    ) -> Result<Self, store::StoreError> {
        let to = now - now.rem_euclid(SPARK_STEP) + SPARK_STEP;
        let from = to - 86_400;
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
                    status: Some(EventStatus::Open),
                    since: None,
                    limit: 1,
                },
            )?
        } else {
            Vec::new()
        };
        Ok(ServiceDay {
            day,
            last_hour: hour.first().map_or(0, |p| p.count),
            open_event: open.first().map(|e| e.id),
        })
    }
}

impl HomeRow {
    /// A service's row, with its sparkline drawn.
    fn new(service: &store::Service, status: Status, read: ServiceDay) -> Result<Self, PageError> {
        let ServiceDay {
            day,
            last_hour,
            open_event,
        } = read;
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
        Ok(HomeRow {
            slug: service.slug.as_str().to_owned(),
            name: service.name.clone(),
            status,
            status_label: status.label(),
            last_hour: count(last_hour),
            last_hour_n: last_hour,
            sparkline,
            open_event,
        })
    }
}

/// The home page's order: outages, then elevated, then the rest; within
/// each, the most reports in the last hour first, then by name.
fn outages_first(a: &HomeRow, b: &HomeRow) -> Ordering {
    a.status
        .rank()
        .cmp(&b.status.rank())
        .then(b.last_hour_n.cmp(&a.last_hour_n))
        .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
}
