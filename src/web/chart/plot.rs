//! What one chart draws, worked out once from its spec before any layer is
//! drawn: the points, spans and marks inside the range, the y scale and the
//! x ticks, the pixel area, the chart's id, and how a time maps to a pixel.

use chrono::FixedOffset;

use super::layer::{plot_width, Geom, PixelRange};
use super::markup::fnv;
use super::scale::{nice_ceil, offset, x_ticks, XFormat};
use super::spec::{finite, ChartError, ChartMark, ChartPoint, ChartSpan, ChartSpec};

/// A checked spec and everything its layers share.
pub(super) struct Plot<'s> {
    pub(super) spec: &'s ChartSpec<'s>,
    /// Start of the x range, unix seconds (inclusive).
    pub(super) from: i64,
    /// End of the x range, unix seconds (exclusive).
    pub(super) to: i64,
    /// Bucket length in seconds.
    pub(super) step: i64,
    /// The viewer's zone, for labels and tooltips.
    pub(super) off: FixedOffset,
    /// Points inside the range, sorted by time, one per time.
    pub(super) points: Vec<ChartPoint>,
    /// Spans that overlap the range and are not empty.
    pub(super) spans: Vec<&'s ChartSpan>,
    /// Maintenance windows, as `spans`.
    pub(super) windows: Vec<&'s ChartSpan>,
    /// Marks inside the range with a finite value.
    pub(super) marks: Vec<&'s ChartMark>,
    /// The layout and ranges every layer is drawn on.
    pub(super) geom: Geom,
    /// How the x labels are written.
    pub(super) xfmt: XFormat,
    /// The plotting area's pixels, x then y.
    pub(super) pixels: (PixelRange, PixelRange),
    /// Prefix of the ids of the root's `<title>` and `<desc>`.
    pub(super) id: String,
}

impl<'s> Plot<'s> {
    /// Checks `spec` ([`ChartSpec::check`]) and works out what its layers share.
    pub(super) fn new(spec: &'s ChartSpec<'s>) -> Result<Self, ChartError> {
        spec.check()?;
        let (from, to) = (spec.from, spec.to);
        let points = points_in_range(spec.points, from, to);
        let marks: Vec<&ChartMark> = spec
            .marks
            .iter()
            .filter(|m| m.t >= from && m.t < to && m.value.is_finite())
            .collect();
        let visible = |s: &&ChartSpan| s.end > from && s.start < to && s.end > s.start;
        let spans: Vec<&ChartSpan> = spec.spans.iter().filter(visible).collect();
        let windows: Vec<&ChartSpan> = spec.windows.iter().filter(visible).collect();
        let (ticks, xfmt) = x_ticks(from, to, plot_width(spec.width), spec.utc_offset_secs);
        let geom = Geom {
            width: spec.width,
            height: spec.height,
            from,
            to,
            y_max: y_max(&points, &marks),
            x_ticks: ticks,
        };
        let pixels = geom.pixel_area()?;
        Ok(Plot {
            spec,
            from,
            to,
            step: spec.step_secs,
            off: offset(spec.utc_offset_secs),
            points,
            spans,
            windows,
            marks,
            geom,
            xfmt,
            pixels,
            id: chart_id(spec),
        })
    }

    /// Curve x: the bucket centre, clamped into the range.
    pub(super) fn centre(&self, t: i64) -> i64 {
        (t.saturating_add(self.step / 2)).clamp(self.from, self.to - 1)
    }

    /// Pixel x of a time as plotters maps it (linear over the plotting area),
    /// kept in f64 for the hover targets.
    pub(super) fn x_pixel(&self, t: i64) -> f64 {
        let (px0, px1) = self.pixels.0;
        let t = t.clamp(self.from, self.to);
        f64::from(px0)
            + f64::from(px1 - px0) * ((t - self.from) as f64 / (self.to - self.from) as f64)
    }

    /// The pixel column of a time, by which long series are decimated.
    pub(super) fn column(&self, t: i64) -> i64 {
        self.x_pixel(t).floor() as i64
    }
}

/// The points inside `[from, to)`, sorted by time (the first of each time
/// kept when they came unsorted).
fn points_in_range(points: &[ChartPoint], from: i64, to: i64) -> Vec<ChartPoint> {
    let mut points: Vec<ChartPoint> = points
        .iter()
        .copied()
        .filter(|p| p.t >= from && p.t < to)
        .collect();
    if !points.windows(2).all(|w| w[0].t < w[1].t) {
        points.sort_by_key(|p| p.t);
        points.dedup_by_key(|p| p.t);
    }
    points
}

/// Y range: 0 to a nice value with headroom above counts, band and marks.
fn y_max(points: &[ChartPoint], marks: &[&ChartMark]) -> f64 {
    let mut top = 0f64;
    for p in points {
        top = top.max(p.count as f64);
        for v in [finite(p.baseline), finite(p.upper)].into_iter().flatten() {
            top = top.max(v);
        }
    }
    for m in marks {
        top = top.max(m.value);
    }
    nice_ceil((top * 1.12).max(1.0))
}

/// An id stable for the same chart and different between charts, so that
/// two charts on one page do not share the ids their root points at.
fn chart_id(spec: &ChartSpec) -> String {
    format!(
        "dwc{:012x}",
        fnv(&[
            spec.title.as_bytes(),
            spec.description.as_bytes(),
            &spec.from.to_le_bytes(),
            &spec.to.to_le_bytes(),
            &spec.step_secs.to_le_bytes(),
            &spec.width.to_le_bytes(),
        ]) & 0xffff_ffff_ffff
    )
}
