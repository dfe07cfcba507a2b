//! The bottom layer: white background, horizontal grid lines, both axes,
//! the x labels in the viewer's local time and the y labels with the unit.

use plotters::prelude::*;

use super::markup::push_group;
use super::palette::{AXIS, GRID, LABEL_FONT, TEXT};
use super::plot::Plot;
use super::scale::{fmt_num, fmt_x, y_unit};
use super::spec::ChartError;

/// Draws the `chart-axes` group.
pub(super) fn draw_axes(plot: &Plot, body: &mut String) -> Result<(), ChartError> {
    let unit = y_unit(plot.step);
    let (off, xfmt) = (plot.off, plot.xfmt);
    let y_labels = ((plot.spec.height as usize).saturating_sub(60) / 40).clamp(2, 10);
    let axes = plot.geom.layer_on(true, |chart| {
        let xl = |t: &i64| fmt_x(*t, off, xfmt);
        let yl = |v: &f64| fmt_num(*v);
        chart
            .configure_mesh()
            .x_label_formatter(&xl)
            .y_label_formatter(&yl)
            .y_labels(y_labels)
            .y_desc(unit.as_str())
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
