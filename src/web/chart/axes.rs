//! The bottom layer: white background, horizontal grid lines, both axes,
//! the x labels in the viewer's local time and the y labels with the unit.

use chrono::FixedOffset;
use plotters::prelude::*;

use super::layer::Geom;
use super::markup::push_group;
use super::palette::{AXIS, GRID, LABEL_FONT, TEXT};
use super::plot::Plot;
use super::scale::{fmt_num, fmt_x, y_unit, XFormat};
use super::spec::ChartError;

/// What the y axis of a chart says: how many labels, how each reads, and
/// what the axis measures.
pub(super) struct YAxis<'a> {
    pub(super) labels: usize,
    pub(super) label: &'a dyn Fn(&f64) -> String,
    pub(super) description: &'a str,
}

/// Draws the `chart-axes` group of the report chart: counts per bucket.
pub(super) fn draw_axes(plot: &Plot, body: &mut String) -> Result<(), ChartError> {
    let unit = y_unit(plot.step);
    let y_axis = YAxis {
        labels: ((plot.spec.height as usize).saturating_sub(60) / 40).clamp(2, 10),
        label: &|v: &f64| fmt_num(*v),
        description: &unit,
    };
    draw_frame(&plot.geom, (plot.off, plot.xfmt), &y_axis, body)
}

/// Draws the `chart-axes` group of any chart on the shared layout: x labels
/// in the zone `off` as `xfmt` writes them, the y axis as `y_axis` says.
pub(super) fn draw_frame(
    geom: &Geom,
    (off, xfmt): (FixedOffset, XFormat),
    y_axis: &YAxis<'_>,
    body: &mut String,
) -> Result<(), ChartError> {
    let axes = geom.layer_on(true, |chart| {
        let xl = |t: &i64| fmt_x(*t, off, xfmt);
        chart
            .configure_mesh()
            .x_label_formatter(&xl)
            .y_label_formatter(y_axis.label)
            .y_labels(y_axis.labels)
            .y_desc(y_axis.description)
            .label_style(("sans-serif", LABEL_FONT).into_font().color(&TEXT))
            .axis_desc_style(("sans-serif", LABEL_FONT).into_font().color(&TEXT))
            .axis_style(AXIS)
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .disable_x_mesh()
            .draw()?;
        Ok(())
    })?;
    push_group(body, "chart-axes", &axes);
    Ok(())
}
