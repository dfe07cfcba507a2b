//! What the chart marks on the series: outage events as shaded spans and
//! wave peaks as markers with a short label, each in a group whose `<title>`
//! is its tooltip.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::markup::push_titled;
use super::palette::{EVENT, MARK_FONT, PEAK};
use super::plot::Plot;
use super::spec::ChartError;

/// Draws the `chart-events` group: each span on its own backend, so that it
/// can be wrapped with its `<title>`.
pub(super) fn draw_events(plot: &Plot, body: &mut String) -> Result<(), ChartError> {
    let (from, to, y_max) = (plot.from, plot.to, plot.geom.y_max);
    body.push_str("<g class=\"chart-events\">\n");
    for s in &plot.spans {
        let (a, b) = (s.start.max(from), s.end.min(to - 1));
        let svg = plot.geom.layer(|chart| {
            chart.draw_series(std::iter::once(Rectangle::new(
                [(a, y_max), (b, 0.0)],
                EVENT.mix(0.12).filled(),
            )))?;
            Ok(())
        })?;
        push_titled(body, "chart-event", &s.label, &svg);
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
