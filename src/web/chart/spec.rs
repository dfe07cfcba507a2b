//! What a caller asks a chart to draw ([`ChartSpec`] and the points, spans
//! and marks in it), why drawing can fail ([`ChartError`]), and the checks
//! that keep a spec's times and sizes within what the drawing can handle.

use std::fmt;

use plotters::drawing::DrawingAreaErrorKind;

/// One bucket of the series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChartPoint {
    /// Bucket start, unix seconds. The bucket covers `[t, t + step_secs)`.
    pub t: i64,
    /// Reports received in the bucket.
    pub count: u64,
    /// Expected ("normal") count for the bucket, if the baseline is known.
    pub baseline: Option<f64>,
    /// Upper edge of the normal band for the bucket, if known.
    pub upper: Option<f64>,
}

/// A shaded interval, typically an outage event.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartSpan {
    /// Start, unix seconds (inclusive).
    pub start: i64,
    /// End, unix seconds (exclusive).
    pub end: i64,
    /// Text shown as the span's tooltip, e.g. `"Outage #12, major"`.
    pub label: String,
}

/// A marked point, typically the peak of a wave.
///
/// Marks are drawn with their `short` label (`W1`, `W2`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct ChartMark {
    /// Time of the peak, unix seconds.
    pub t: i64,
    /// Value at the peak, reports per bucket.
    pub value: f64,
    /// Text shown as the mark's tooltip, e.g. `"Wave 2 peak: 312 reports/min"`.
    pub label: String,
    /// Drawn beside the marker, e.g. `"W2"`.
    pub short: String,
}

/// Everything `render_chart` needs to draw one chart.
#[derive(Debug, Clone)]
pub struct ChartSpec<'a> {
    /// Short title, e.g. `"Claude: reports per minute, last 24 hours"`.
    /// Becomes the SVG `<title>` (the accessible name).
    pub title: &'a str,
    /// One sentence summarising the chart for screen readers (`<desc>`).
    pub description: &'a str,
    /// Bucket length in seconds (60, 300 or 3600; any positive value works).
    pub step_secs: i64,
    /// Start of the x range, unix seconds (inclusive).
    pub from: i64,
    /// End of the x range, unix seconds (exclusive). Must be `> from`.
    pub to: i64,
    /// The buckets, ascending by `t`, ideally one per step (zero-filled).
    /// Points outside `[from, to)` are ignored.
    pub points: &'a [ChartPoint],
    /// Shaded intervals (events), clipped to the x range.
    pub spans: &'a [ChartSpan],
    /// Maintenance windows, shaded apart from the events (below them),
    /// clipped to the x range.
    pub windows: &'a [ChartSpan],
    /// Marked points (wave peaks). Marks outside the x range or with a
    /// non-finite value are skipped.
    pub marks: &'a [ChartMark],
    /// Viewer's UTC offset in seconds: axis labels are in this local time,
    /// tooltips give local and UTC time.
    pub utc_offset_secs: i32,
    /// Minimum width in pixels of one tooltip hover target. `0.0` gives
    /// exactly one target per point; a positive value merges consecutive
    /// buckets until each target is at least this wide (useful for 7-day
    /// charts at one-minute steps, where a bucket is a fraction of a pixel).
    pub tip_min_px: f64,
    /// Width of the SVG in pixels (at least 200).
    pub width: u32,
    /// Height of the SVG in pixels (at least 100).
    pub height: u32,
}

impl ChartSpec<'_> {
    /// Refuses a size too small (or absurdly large) to lay out, an empty
    /// range, a step that is not positive, and times so far out that the
    /// time arithmetic of the drawing could overflow.
    pub(super) fn check(&self) -> Result<(), ChartError> {
        check_frame(
            self.width,
            self.height,
            (self.from, self.to),
            self.step_secs,
        )
    }
}

/// The checks of [`ChartSpec::check`], for any chart drawn on the shared
/// layout: a size that can be laid out, a non-empty range of times far
/// enough from the ends of `i64` that no time arithmetic overflows, and a
/// positive step.
pub(super) fn check_frame(
    width: u32,
    height: u32,
    (from, to): (i64, i64),
    step_secs: i64,
) -> Result<(), ChartError> {
    if width < 200 || height < 100 || width > 20_000 || height > 20_000 {
        return Err(ChartError::InvalidSize { width, height });
    }
    // Bounded so that no time arithmetic in the drawing can overflow.
    const MAX_ABS_T: i64 = 1 << 40; // about year 36,800
    if from >= to || from < -MAX_ABS_T || to > MAX_ABS_T || step_secs <= 0 || step_secs > MAX_ABS_T
    {
        return Err(ChartError::InvalidRange);
    }
    Ok(())
}

/// A baseline or band value as the charts read it: a non-finite one counts
/// as unknown.
pub(super) fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

/// Why a chart could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChartError {
    /// Width or height is too small to lay out the chart.
    InvalidSize {
        /// Requested width.
        width: u32,
        /// Requested height.
        height: u32,
    },
    /// `from >= to`, `step_secs <= 0`, or a time beyond about ±2^40 s.
    InvalidRange,
    /// Plotters reported an error while drawing.
    Plot(String),
}

impl fmt::Display for ChartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChartError::InvalidSize { width, height } => {
                write!(f, "chart size {width}x{height} is too small")
            }
            ChartError::InvalidRange => f.write_str("chart range is empty or step is not positive"),
            ChartError::Plot(e) => write!(f, "chart drawing failed: {e}"),
        }
    }
}

impl std::error::Error for ChartError {}

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for ChartError {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        ChartError::Plot(e.to_string())
    }
}
