//! One layer of a chart: the fixed layout every layer shares, and drawing a
//! layer on a fresh SVG backend of its own.
//!
//! Every layer is built by [`Geom::build`] with the same margins, the same
//! fixed label-area sizes and the same ranges, so every layer gets the same
//! coordinate mapping ("How layers are produced" in the chart module docs).

use plotters::coord::types::{RangedCoordf64, RangedCoordi64};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::markup::svg_body;
use super::spec::ChartError;

// Fixed layout, shared by every layer so that all get the same mapping.
const MARGIN_TOP: u32 = 22;
const MARGIN_RIGHT: u32 = 16;
const MARGIN_LEFT: u32 = 4;
const X_LABEL_AREA: u32 = 28;
const Y_LABEL_AREA: u32 = 60;

type Coord =
    Cartesian2d<plotters::coord::combinators::WithKeyPoints<RangedCoordi64>, RangedCoordf64>;
pub(super) type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Coord>;

/// First and last pixel of one axis of the plotting area.
pub(super) type PixelRange = (i32, i32);

/// The width in pixels of the plotting area of a chart `width` wide.
pub(super) fn plot_width(width: u32) -> f64 {
    f64::from(width - Y_LABEL_AREA - MARGIN_LEFT - MARGIN_RIGHT)
}

/// Geometry shared by all layers of one chart.
pub(super) struct Geom {
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) from: i64,
    pub(super) to: i64,
    pub(super) y_max: f64,
    pub(super) x_ticks: Vec<i64>,
}

impl Geom {
    pub(super) fn build<'a, 'b>(
        &self,
        root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    ) -> Result<Chart<'a, 'b>, ChartError> {
        let x = (self.from..self.to).with_key_points(self.x_ticks.clone());
        Ok(ChartBuilder::on(root)
            .margin_top(MARGIN_TOP)
            .margin_right(MARGIN_RIGHT)
            .margin_left(MARGIN_LEFT)
            .margin_bottom(0)
            .x_label_area_size(X_LABEL_AREA)
            .y_label_area_size(Y_LABEL_AREA)
            .build_cartesian_2d(x, 0f64..self.y_max)?)
    }

    /// Draws one layer with its own backend and returns the SVG body without
    /// the outer `<svg>` element.
    pub(super) fn layer<F>(&self, draw: F) -> Result<String, ChartError>
    where
        F: for<'a, 'b> FnOnce(&mut Chart<'a, 'b>) -> Result<(), ChartError>,
    {
        self.layer_on(false, draw)
    }

    /// The plotting area's pixel ranges, x then y, as plotters maps them.
    pub(super) fn pixel_area(&self) -> Result<(PixelRange, PixelRange), ChartError> {
        let mut buf = String::new();
        let root = SVGBackend::with_string(&mut buf, (self.width, self.height)).into_drawing_area();
        let chart = self.build(&root)?;
        let (xr, yr) = chart.plotting_area().get_pixel_range();
        Ok(((xr.start, xr.end), (yr.start, yr.end)))
    }

    /// [`Geom::layer`], optionally filling the whole canvas white first.
    pub(super) fn layer_on<F>(&self, background: bool, draw: F) -> Result<String, ChartError>
    where
        F: for<'a, 'b> FnOnce(&mut Chart<'a, 'b>) -> Result<(), ChartError>,
    {
        let mut buf = String::new();
        {
            let root =
                SVGBackend::with_string(&mut buf, (self.width, self.height)).into_drawing_area();
            if background {
                root.fill(&WHITE)?;
            }
            let mut chart = self.build(&root)?;
            draw(&mut chart)?;
            root.present()?;
        }
        Ok(svg_body(&buf).to_owned())
    }
}
