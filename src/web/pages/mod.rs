//! The dashboard's pages: home (`/`), a service (`/s/{slug}`) with its chart
//! alone (`/s/{slug}/chart.svg`), an event (`/e/{id}`) and an incident
//! across services (`/i/{id}`). Each handler
//! reads what it shows in one blocking read, then renders an askama template
//! (which escapes everything by default).
//!
//! # Layout
//!
//! - `home`, `service`, `event`, `incident`: one page each, with its
//!   template's types.
//! - `series_chart`: a stored series and its events drawn as a chart.
//! - `layout`: what every page's frame needs; `range`: the chart ranges.
//! - `status`: where a service stands now, as the pages show it.

mod event;
mod home;
mod incident;
mod layout;
mod range;
mod series_chart;
mod service;
mod status;

use crate::api::AppState;
use crate::domain::Minute;
use crate::web::{view, Representation};
use actix_web::HttpRequest;

pub use event::event;
pub use home::{home, HomeQuery};
pub use incident::incident;
pub use layout::Layout;
pub use range::Range;
pub use service::{chart_svg, service, ChartQuery, ServiceQuery};
pub use status::status_of;

/// The minute now and the tag of a page about one record (`id`: an event,
/// an incident), which changes with the board and the minute; or, for a
/// request that already has it, [`view::NotModified`].
fn record_page_tag(
    req: &HttpRequest,
    state: &AppState,
    id: i64,
) -> Result<(i64, String), view::NotModified> {
    let now = Minute::containing(state.clock.now()).unix();
    let parts = (state.monitor.board.version(), now, id);
    view::conditional(req, Representation::Page, parts).map(|tag| (now, tag))
}
