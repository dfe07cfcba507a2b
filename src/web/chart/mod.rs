//! Server-side SVG charts for the dashboard: the report-count chart of one
//! service (counts, seasonal baseline band, outage events, wave peaks) and a
//! tiny sparkline for lists.
//!
//! All drawing (curves, areas, axes, shading, markers, labels) is done by
//! [`plotters`] through its SVG backend. This module only adds non-visual
//! metadata around that output: the root `<svg>` with `role="img"`,
//! `<title>`/`<desc>`, `<g class=...>` wrappers around each layer, `<title>`
//! children for events and peaks, and transparent hover targets carrying
//! per-point tooltips.
//!
//! The output contains no `style="..."` attribute and no `<script>`, so it can
//! be served under a strict Content-Security-Policy.
//!
//! # How layers are produced
//!
//! Plotters writes one flat list of elements into its output, and its SVG
//! backend cannot be wrapped by a custom backend without depending on the
//! `plotters-backend` crate directly. So each layer (and each event span and
//! each peak) is drawn by its own `SVGBackend` of the same size, on a chart
//! built by the same function with the same margins, the same fixed label-area
//! sizes and the same ranges. Plotters' layout is a pure function of those
//! inputs (no text measurement is involved when there is no caption), so every
//! layer gets the identical coordinate mapping; a unit test checks it. The
//! outer `<svg>` of each layer is stripped and the bodies are concatenated in
//! z-order inside `<g class="...">` groups.
//!
//! # Layout
//!
//! - `spec`: what a caller asks for, and why drawing can fail.
//! - `plot`: what every layer of one chart shares, worked out once.
//! - `layer`: the fixed layout, and one backend per layer.
//! - `scale`: the y top, x ticks, labels and how numbers and times read.
//! - `axes`, `marks`, `curve`, `tips`: the layers, bottom to top.
//! - `markup`: the SVG text around plotters' output: groups, escaping, ids.
//! - `palette`: colours and font sizes.
//! - `relative`: several curves on one time axis, each relative to its
//!   own normal, on a log scale (an incident's services).
//! - `sparkline`: the tiny chart for lists.

mod axes;
mod curve;
mod layer;
mod marks;
mod markup;
mod palette;
mod plot;
mod relative;
mod scale;
mod sparkline;
mod spec;
mod tips;

#[cfg(test)]
mod tests;

use std::fmt::Write as _;

pub use relative::{
    curve_swatch, render_relative_chart, times_normal, RelativeCurve, RelativeSpec,
};
pub use sparkline::render_sparkline;
pub use spec::{ChartError, ChartMark, ChartPoint, ChartSpan, ChartSpec};

use markup::{esc, strip_style_attrs};
use plot::Plot;

/// Renders the report-count chart as a complete `<svg>` document.
///
/// Layers, bottom to top: `chart-axes` (background, grid, axes, labels),
/// `chart-maintenance` (one `<g>` with a `<title>` per window),
/// `chart-events` (one `<g>` with a `<title>` per span), `chart-band`,
/// `chart-baseline`, `chart-counts`, `chart-peaks` (one `<g>` with a
/// `<title>` per mark) and `chart-tips` (transparent hover targets whose
/// `<title>` is the tooltip). Empty or all-zero input renders an empty chart
/// with a 0..1 y axis.
pub fn render_chart(spec: &ChartSpec) -> Result<String, ChartError> {
    let plot = Plot::new(spec)?;
    let mut body = String::new();
    axes::draw_axes(&plot, &mut body)?;
    marks::draw_windows(&plot, &mut body)?;
    marks::draw_events(&plot, &mut body)?;
    curve::draw_band(&plot, &mut body)?;
    curve::draw_baseline(&plot, &mut body)?;
    curve::draw_counts(&plot, &mut body)?;
    marks::draw_peaks(&plot, &mut body)?;
    tips::draw_tips(&plot, &mut body);
    let size = (spec.width, spec.height);
    Ok(document(
        (spec.title, spec.description),
        &plot.id,
        size,
        &body,
    ))
}

/// The root `<svg>` around the layers, named by a title and a description
/// (`aria-labelledby` points at both).
fn document(
    (title, description): (&str, &str),
    id: &str,
    (w, h): (u32, u32),
    body: &str,
) -> String {
    let mut out = String::with_capacity(body.len() + 512);
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-labelledby=\"{id}-t {id}-d\">\n<title id=\"{id}-t\">{}</title>\n<desc id=\"{id}-d\">{}</desc>\n",
        esc(title),
        esc(description),
    );
    out.push_str(&strip_style_attrs(body));
    out.push_str("</svg>\n");
    out
}
