//! The home page (`/`): every service, outages first, each with its status,
//! its reports in the last hour and a 24-hour sparkline; a filter box that
//! works without JavaScript.

use super::layout::Layout;
use super::status::status_of;
use crate::api::AppState;
use crate::detect::Status;
use crate::domain::Minute;
use crate::store::{self, EventFilter};
use crate::web::chart;
use crate::web::view::{self, count, Viewer};
use crate::web::{html, PageError, Representation};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::{Deserialize, Serialize};

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
