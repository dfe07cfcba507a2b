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

pub use event::event;
pub use home::{home, HomeQuery};
pub use incident::incident;
pub use layout::Layout;
pub use range::Range;
pub use service::{chart_svg, service, ChartQuery, ServiceQuery};
pub use status::status_of;
