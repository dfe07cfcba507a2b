//! What the chart marks on the series: outage events as shaded spans and
//! wave peaks as markers with a short label, each in a group whose `<title>`
//! is its tooltip.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::markup::push_titled;
use super::palette::{EVENT, MAINTENANCE, MARK_FONT, PEAK};
use super::plot::Plot;
use super::spec::{ChartError, ChartSpan};

/// Draws the `chart-events` group: each span on its own backend, so that it
/// can be wrapped with its `<title>`.
pub(super) fn draw_events(plot: &Plot, body: &mut String) -> Result<(), ChartError> {
    draw_spans(
        plot,
        &plot.spans,
        ("chart-events", "chart-event"),
        EVENT,
        body,
    )
}

/// Draws the `chart-maintenance` group: a maintenance window per span, in
/// its own colour, below the events.
pub(super) fn draw_windows(plot: &Plot, body: &mut String) -> Result<(), ChartError> {
    let classes = ("chart-maintenance", "chart-window");
    draw_spans(plot, &plot.windows, classes, MAINTENANCE, body)
}

/// Shades each span the plot's full height in `colour`, in a group of
/// class `classes.0` with a `<g class="classes.1">` and `<title>` per span.
fn draw_spans(
    plot: &Plot,
    spans: &[&ChartSpan],
    classes: (&str, &str),
    colour: RGBColor,
    body: &mut String,
) -> Result<(), ChartError> {
    let (from, to, y_max) = (plot.from, plot.to, plot.geom.y_max);
    body.push_str(&format!("<g class=\"{}\">\n", classes.0));
    for s in spans {
        let (a, b) = (s.start.max(from), s.end.min(to - 1));
        let svg = plot.geom.layer(|chart| {
            chart.draw_series(std::iter::once(Rectangle::new(
                [(a, y_max), (b, 0.0)],
                colour.mix(0.12).filled(),
            )))?;
            Ok(())
        })?;
        push_titled(body, classes.1, &s.label, &svg);
    }
    body.push_str("</g>\n");
    Ok(())
}

/// Draws the `chart-peaks` group: a marker and a short label per mark, each
/// with its `<title>`.
pub(super) fn draw_peaks(plot: &Plot, body: &mut String) -> Result<(), ChartError> {
    let (from, to, y_max) = (plot.from, plot.to, plot.geom.y_max);
    body.push_str("<g class=\"chart-peaks\">\n");
    for m in &plot.marks {
        let v = m.value.clamp(0.0, y_max);
        let svg = plot.geom.layer(|chart| {
            let font = ("sans-serif", MARK_FONT)
                .into_font()
                .color(&PEAK)
                .pos(Pos::new(HPos::Center, VPos::Bottom));
            chart.draw_series(std::iter::once(
                EmptyElement::at((m.t.clamp(from, to - 1), v))
                    + Circle::new((0, 0), 4, PEAK.filled())
                    + Circle::new((0, 0), 6, WHITE.stroke_width(1))
                    + Text::new(m.short.clone(), (0, -8), font),
            ))?;
            Ok(())
        })?;
        push_titled(body, "chart-peak", &m.label, &svg);
    }
    body.push_str("</g>\n");
    Ok(())
}
