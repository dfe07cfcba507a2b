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

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use chrono::{DateTime, FixedOffset, Offset, Timelike, Utc};
use plotters::coord::types::{RangedCoordf64, RangedCoordi64};
use plotters::coord::Shift;
use plotters::prelude::*;

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

/// Everything [`render_chart`] needs.
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

// ---------------------------------------------------------------------------
// Palette. Contrast against white (checked by a unit test):
// text 12.6:1, axis 7.0:1, counts 6.7:1, baseline 7.6:1, peaks 6.5:1.

const TEXT: RGBColor = RGBColor(0x33, 0x33, 0x33);
const AXIS: RGBColor = RGBColor(0x59, 0x59, 0x59);
const GRID: RGBColor = RGBColor(0xE5, 0xE7, 0xEB);
const COUNTS: RGBColor = RGBColor(0x1D, 0x4E, 0xD8);
const BASELINE: RGBColor = RGBColor(0x47, 0x55, 0x69);
const BAND: RGBColor = RGBColor(0x94, 0xA3, 0xB8);
const EVENT: RGBColor = RGBColor(0xDC, 0x26, 0x26);
const PEAK: RGBColor = RGBColor(0xB9, 0x1C, 0x1C);

/// Plotters' SVG backend writes `font-size = size / 1.24`; these give 12 px
/// and 11 px text in the output.
const LABEL_FONT: f64 = 12.0 * 1.24;
const MARK_FONT: f64 = 11.0 * 1.24;

// Fixed layout, shared by every layer so that all get the same mapping.
const MARGIN_TOP: u32 = 22;
const MARGIN_RIGHT: u32 = 16;
const MARGIN_LEFT: u32 = 4;
const X_LABEL_AREA: u32 = 28;
const Y_LABEL_AREA: u32 = 60;

type Coord =
    Cartesian2d<plotters::coord::combinators::WithKeyPoints<RangedCoordi64>, RangedCoordf64>;
type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Coord>;

/// Geometry shared by all layers of one chart.
struct Geom {
    width: u32,
    height: u32,
    from: i64,
    to: i64,
    y_max: f64,
    x_ticks: Vec<i64>,
}

impl Geom {
    fn build<'a, 'b>(
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
    fn layer<F>(&self, draw: F) -> Result<String, ChartError>
    where
        F: for<'a, 'b> FnOnce(&mut Chart<'a, 'b>) -> Result<(), ChartError>,
    {
        self.layer_on(false, draw)
    }

    /// The plotting area's pixel ranges, x then y, as plotters maps them.
    fn pixel_area(&self) -> Result<(PixelRange, PixelRange), ChartError> {
        let mut buf = String::new();
        let root = SVGBackend::with_string(&mut buf, (self.width, self.height)).into_drawing_area();
        let chart = self.build(&root)?;
        let (xr, yr) = chart.plotting_area().get_pixel_range();
        Ok(((xr.start, xr.end), (yr.start, yr.end)))
    }

    /// [`Geom::layer`], optionally filling the whole canvas white first.
    fn layer_on<F>(&self, background: bool, draw: F) -> Result<String, ChartError>
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

/// Strips the outer `<svg ...>` and `</svg>` that `SVGBackend` writes.
fn svg_body(svg: &str) -> &str {
    let start = svg
        .find("<svg")
        .and_then(|i| svg[i..].find('>').map(|j| i + j + 1))
        .unwrap_or(0);
    let end = svg.rfind("</svg>").unwrap_or(svg.len());
    svg[start..end].trim_matches('\n')
}

/// Removes any `style="..."` attribute (plotters-svg 0.3.7 writes none; this
/// guards against a future version doing so, since the page's CSP forbids
/// inline styles). Text content is escaped by plotters, so a literal
/// `style="` can only be an attribute.
fn strip_style_attrs(s: &str) -> Cow<'_, str> {
    if !s.contains(" style=\"") {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(" style=\"") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 8..];
        rest = match after.find('"') {
            Some(j) => &after[j + 1..],
            None => "",
        };
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// First and last pixel of one axis of the plotting area.
type PixelRange = (i32, i32);

/// Escapes text for XML content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters not allowed in XML 1.0.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            '\u{FFFE}' | '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// FNV-1a, stable across Rust versions, for element ids.
fn fnv(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.iter().chain(&[0xff]) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

/// Rounds to one decimal for output (and turns -0.0 into 0).
fn r1(v: f64) -> f64 {
    let r = (v * 10.0).round() / 10.0;
    if r == 0.0 {
        0.0
    } else {
        r
    }
}

/// A "nice" upper bound (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^k) at or
/// above `v`.
fn nice_ceil(v: f64) -> f64 {
    if !(v.is_finite() && v > 0.0) {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0] {
        if m * mag >= v * (1.0 - 1e-9) {
            return m * mag;
        }
    }
    10.0 * mag
}

fn offset(secs: i32) -> FixedOffset {
    FixedOffset::east_opt(secs).unwrap_or(Utc.fix())
}

fn local(t: i64, off: FixedOffset) -> DateTime<FixedOffset> {
    DateTime::<Utc>::from_timestamp(t, 0)
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
        .with_timezone(&off)
}

/// How x labels look for a given range and tick interval.
#[derive(Clone, Copy, PartialEq, Debug)]
enum XFormat {
    /// `14:00`
    Time,
    /// `Mon 14:00`
    DayTime,
    /// `Mon 2 Mar`
    Date,
}

fn fmt_x(t: i64, off: FixedOffset, f: XFormat) -> String {
    let d = local(t, off);
    match f {
        XFormat::Time => d.format("%H:%M").to_string(),
        XFormat::DayTime => d.format("%a %H:%M").to_string(),
        XFormat::Date => d.format("%a %-d %b").to_string(),
    }
}

/// Picks aligned (in local time) tick positions so labels don't overlap.
fn x_ticks(from: i64, to: i64, plot_px: f64, off_secs: i32) -> (Vec<i64>, XFormat) {
    const DAY: i64 = 86_400;
    const STEPS: [i64; 16] = [
        60,
        120,
        300,
        600,
        900,
        1800,
        3600,
        7200,
        10800,
        14400,
        21600,
        43200,
        DAY,
        2 * DAY,
        7 * DAY,
        28 * DAY,
    ];
    let span = (to - from).max(1);
    let fmt_for = |step: i64| {
        if span <= 36 * 3600 {
            XFormat::Time
        } else if step >= DAY {
            XFormat::Date
        } else {
            XFormat::DayTime
        }
    };
    // Rendered at 12 px sans-serif: about 7 px per character, plus a gap.
    let label_px = |f: XFormat| match f {
        XFormat::Time => 5.0 * 7.0 + 24.0,
        XFormat::DayTime => 9.0 * 7.0 + 24.0,
        XFormat::Date => 10.0 * 7.0 + 24.0,
    };
    let off = i64::from(off_secs);
    for &step in STEPS.iter() {
        let f = fmt_for(step);
        let n = span as f64 / step as f64;
        if n * label_px(f) <= plot_px || step == STEPS[STEPS.len() - 1] {
            // First local-aligned multiple of `step` at or after `from`.
            let first = (from + off).div_euclid(step) * step - off;
            let first = if first < from { first + step } else { first };
            let ticks = (0..)
                .map(|i| first + i * step)
                .take_while(|&t| t < to)
                .take(64)
                .collect();
            return (ticks, f);
        }
    }
    (Vec::new(), XFormat::Time)
}

fn y_unit(step: i64) -> String {
    match step {
        60 => "reports/min".into(),
        3600 => "reports/hour".into(),
        86_400 => "reports/day".into(),
        s if s % 3600 == 0 => format!("reports/{} h", s / 3600),
        s if s % 60 == 0 => format!("reports/{} min", s / 60),
        s => format!("reports/{s} s"),
    }
}

fn fmt_num(v: f64) -> String {
    if v >= 10.0 || v == v.round() {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.1}")
    }
}

/// Tooltip time: `Mon 2 Mar 11:49 (10:49 UTC)`, or `Mon 2 Mar 11:49 UTC`.
fn fmt_tip_time(t: i64, t_end: Option<i64>, off: FixedOffset) -> String {
    let d = local(t, off);
    let mut s = d.format("%a %-d %b %H:%M").to_string();
    if let Some(e) = t_end {
        let e = local(e, off);
        let _ = write!(s, "\u{2013}{:02}:{:02}", e.hour(), e.minute());
    }
    if off.local_minus_utc() == 0 {
        s.push_str(" UTC");
    } else {
        let u = local(t, offset(0));
        let _ = write!(s, " ({:02}:{:02}", u.hour(), u.minute());
        if let Some(e) = t_end {
            let e = local(e, offset(0));
            let _ = write!(s, "\u{2013}{:02}:{:02}", e.hour(), e.minute());
        }
        s.push_str(" UTC)");
    }
    s
}

fn tip_text(p: &ChartPoint, t_end: Option<i64>, merged: bool, off: FixedOffset) -> String {
    let mut s = fmt_tip_time(p.t, t_end, off);
    s.push_str(": ");
    if merged {
        s.push_str("up to ");
    }
    let _ = write!(
        s,
        "{} report{}",
        p.count,
        if p.count == 1 { "" } else { "s" }
    );
    if let Some(b) = finite(p.baseline) {
        let _ = write!(s, ", normal \u{2248} {}", fmt_num(b.max(0.0)));
        if let Some(u) = finite(p.upper) {
            let _ = write!(s, " (up to {})", fmt_num(u.max(0.0)));
        }
    }
    s
}

/// Reduces a series to at most four points per pixel column (first, min, max,
/// last), which is lossless at the integer pixel resolution plotters' SVG
/// backend writes, and keeps the output small for long ranges.
fn decimate(pts: &[(i64, f64)], col: impl Fn(i64) -> i64) -> Vec<(i64, f64)> {
    if pts.len() < 8 {
        return pts.to_vec();
    }
    let mut out = Vec::with_capacity(pts.len().min(4096));
    let mut i = 0;
    while i < pts.len() {
        let c = col(pts[i].0);
        let mut j = i;
        let (mut lo, mut hi) = (i, i);
        while j < pts.len() && col(pts[j].0) == c {
            if pts[j].1 < pts[lo].1 {
                lo = j;
            }
            if pts[j].1 > pts[hi].1 {
                hi = j;
            }
            j += 1;
        }
        let last = j - 1;
        let mut idx = [i, lo, hi, last];
        idx.sort_unstable();
        let mut prev = usize::MAX;
        for k in idx {
            if k != prev {
                out.push(pts[k]);
                prev = k;
            }
        }
        i = j;
    }
    out
}

/// Splits `(x, value)` pairs into runs of known values, for the baseline band
/// and line (which are not drawn where the baseline is unknown).
fn runs<T>(values: impl IntoIterator<Item = (i64, Option<T>)>) -> Vec<Vec<(i64, T)>> {
    let mut out: Vec<Vec<(i64, T)>> = Vec::new();
    let mut cur = Vec::new();
    for (x, v) in values {
        match v {
            Some(v) => cur.push((x, v)),
            None if !cur.is_empty() => out.push(std::mem::take(&mut cur)),
            None => {}
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Renders the report-count chart as a complete `<svg>` document.
///
/// Layers, bottom to top: `chart-axes` (background, grid, axes, labels),
/// `chart-events` (one `<g>` with a `<title>` per span), `chart-band`,
/// `chart-baseline`, `chart-counts`, `chart-peaks` (one `<g>` with a
/// `<title>` per mark) and `chart-tips` (transparent hover targets whose
/// `<title>` is the tooltip). Empty or all-zero input renders an empty chart
/// with a 0..1 y axis.
pub fn render_chart(spec: &ChartSpec) -> Result<String, ChartError> {
    if spec.width < 200 || spec.height < 100 || spec.width > 20_000 || spec.height > 20_000 {
        return Err(ChartError::InvalidSize {
            width: spec.width,
            height: spec.height,
        });
    }
    // Bounded so that no time arithmetic below can overflow.
    const MAX_ABS_T: i64 = 1 << 40; // about year 36,800
    if spec.from >= spec.to
        || spec.from < -MAX_ABS_T
        || spec.to > MAX_ABS_T
        || spec.step_secs <= 0
        || spec.step_secs > MAX_ABS_T
    {
        return Err(ChartError::InvalidRange);
    }
    let (from, to, step) = (spec.from, spec.to, spec.step_secs);
    let off = offset(spec.utc_offset_secs);
    let half = step / 2;

    // Points inside the range, sorted by time.
    let mut points: Vec<ChartPoint> = spec
        .points
        .iter()
        .copied()
        .filter(|p| p.t >= from && p.t < to)
        .collect();
    if !points.windows(2).all(|w| w[0].t < w[1].t) {
        points.sort_by_key(|p| p.t);
        points.dedup_by_key(|p| p.t);
    }
    // Curve x: the bucket centre, clamped into the range.
    let cx = |t: i64| (t.saturating_add(half)).clamp(from, to - 1);

    let marks: Vec<&ChartMark> = spec
        .marks
        .iter()
        .filter(|m| m.t >= from && m.t < to && m.value.is_finite())
        .collect();
    let spans: Vec<&ChartSpan> = spec
        .spans
        .iter()
        .filter(|s| s.end > from && s.start < to && s.end > s.start)
        .collect();

    // Y range: 0 to a nice value with headroom above counts, band and marks.
    let mut top = 0f64;
    for p in &points {
        top = top.max(p.count as f64);
        for v in [finite(p.baseline), finite(p.upper)].into_iter().flatten() {
            top = top.max(v);
        }
    }
    for m in &marks {
        top = top.max(m.value);
    }
    let y_max = nice_ceil((top * 1.12).max(1.0));

    let plot_px = f64::from(spec.width - Y_LABEL_AREA - MARGIN_LEFT - MARGIN_RIGHT);
    let (ticks, xfmt) = x_ticks(from, to, plot_px, spec.utc_offset_secs);
    let geom = Geom {
        width: spec.width,
        height: spec.height,
        from,
        to,
        y_max,
        x_ticks: ticks,
    };

    let mut body = String::new();
    let id = format!(
        "dwc{:012x}",
        fnv(&[
            spec.title.as_bytes(),
            spec.description.as_bytes(),
            &from.to_le_bytes(),
            &to.to_le_bytes(),
            &step.to_le_bytes(),
            &spec.width.to_le_bytes(),
        ]) & 0xffff_ffff_ffff
    );

    // Axes, grid and background.
    let unit = y_unit(step);
    let axes = geom.layer_on(true, |chart| {
        let xl = |t: &i64| fmt_x(*t, off, xfmt);
        let yl = |v: &f64| fmt_num(*v);
        chart
            .configure_mesh()
            .x_label_formatter(&xl)
            .y_label_formatter(&yl)
            .y_labels(((spec.height as usize).saturating_sub(60) / 40).clamp(2, 10))
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
    push_group(&mut body, "chart-axes", &axes);

    // Event spans, each its own backend so it can be wrapped with a <title>.
    body.push_str("<g class=\"chart-events\">\n");
    for s in &spans {
        let (a, b) = (s.start.max(from), s.end.min(to - 1));
        let svg = geom.layer(|chart| {
            chart.draw_series(std::iter::once(Rectangle::new(
                [(a, y_max), (b, 0.0)],
                EVENT.mix(0.12).filled(),
            )))?;
            Ok(())
        })?;
        push_titled(&mut body, "chart-event", &s.label, &svg);
    }
    body.push_str("</g>\n");

    // Pixel x of a time as plotters maps it (linear over the plotting area),
    // kept in f64 for the hover targets; its column decimates long series.
    let ((px0, px1), (py0, py1)) = geom.pixel_area()?;
    let xpx = |t: i64| {
        let t = t.clamp(from, to);
        f64::from(px0) + f64::from(px1 - px0) * ((t - from) as f64 / (to - from) as f64)
    };
    let col = |t: i64| xpx(t).floor() as i64;

    // Normal band: one polygon per run where both baseline and upper are known.
    let band_runs = runs(points.iter().map(|p| {
        let known = match (finite(p.baseline), finite(p.upper)) {
            (Some(b), Some(u)) => Some((b.clamp(0.0, y_max), u.clamp(0.0, y_max))),
            _ => None,
        };
        (p.t, known)
    }));
    let band = geom.layer(|chart| {
        for run in &band_runs {
            let up: Vec<(i64, f64)> = run.iter().map(|&(t, (_, u))| (cx(t), u)).collect();
            let lo: Vec<(i64, f64)> = run.iter().map(|&(t, (b, _))| (cx(t), b)).collect();
            let mut poly = decimate(&up, col);
            let mut lo = decimate(&lo, col);
            lo.reverse();
            poly.extend(lo);
            chart.draw_series(std::iter::once(Polygon::new(poly, BAND.mix(0.35).filled())))?;
        }
        Ok(())
    })?;
    push_group(&mut body, "chart-band", &band);

    // Baseline line, dashed.
    let base_runs = runs(
        points
            .iter()
            .map(|p| (p.t, finite(p.baseline).map(|b| b.clamp(0.0, y_max)))),
    );
    let baseline = geom.layer(|chart| {
        for run in &base_runs {
            let pts = decimate(
                &run.iter().map(|&(t, b)| (cx(t), b)).collect::<Vec<_>>(),
                col,
            );
            if pts.len() == 1 {
                chart.draw_series(std::iter::once(Circle::new(pts[0], 1, BASELINE.filled())))?;
            } else {
                chart.draw_series(DashedLineSeries::new(pts, 5, 3, BASELINE.stroke_width(1)))?;
            }
        }
        Ok(())
    })?;
    push_group(&mut body, "chart-baseline", &baseline);

    // Report counts: light area plus a strong line.
    let count_pts = decimate(
        &points
            .iter()
            .map(|p| (cx(p.t), (p.count as f64).min(y_max)))
            .collect::<Vec<_>>(),
        col,
    );
    let counts = geom.layer(|chart| {
        if count_pts.len() == 1 {
            chart.draw_series(std::iter::once(Circle::new(
                count_pts[0],
                2,
                COUNTS.filled(),
            )))?;
        } else if !count_pts.is_empty() {
            chart.draw_series(
                AreaSeries::new(count_pts.iter().copied(), 0.0, COUNTS.mix(0.10).filled())
                    .border_style(COUNTS.stroke_width(2)),
            )?;
        }
        Ok(())
    })?;
    push_group(&mut body, "chart-counts", &counts);

    // Peaks: a marker and a short label, each with a <title>.
    body.push_str("<g class=\"chart-peaks\">\n");
    for m in &marks {
        let v = m.value.clamp(0.0, y_max);
        let svg = geom.layer(|chart| {
            let font = ("sans-serif", MARK_FONT).into_font().color(&PEAK).pos(
                plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Center,
                    plotters::style::text_anchor::VPos::Bottom,
                ),
            );
            chart.draw_series(std::iter::once(
                EmptyElement::at((m.t.clamp(from, to - 1), v))
                    + Circle::new((0, 0), 4, PEAK.filled())
                    + Circle::new((0, 0), 6, WHITE.stroke_width(1))
                    + Text::new(m.short.clone(), (0, -8), font),
            ))?;
            Ok(())
        })?;
        push_titled(&mut body, "chart-peak", &m.label, &svg);
    }
    body.push_str("</g>\n");

    // Tooltip hover targets, their edges rounded to 0.1 px.
    // Fill and pointer-events are inherited from the group to keep targets lean.
    body.push_str("<g class=\"chart-tips\" fill=\"transparent\" pointer-events=\"all\">\n");
    let mut i = 0;
    while i < points.len() {
        // Merge buckets until the target is at least `tip_min_px` wide.
        let start = points[i].t;
        let mut j = i;
        let mut peak = i;
        while j + 1 < points.len()
            && spec.tip_min_px > 0.0
            && xpx(points[j].t + step) - xpx(start) < spec.tip_min_px
        {
            j += 1;
            if points[j].count > points[peak].count {
                peak = j;
            }
        }
        let end = points[j].t.saturating_add(step);
        // Round the edges, not the width, so that targets tile without drift.
        let (x0, x1) = (r1(xpx(start)), r1(xpx(end)));
        let merged = j > i;
        let mut p = points[peak];
        p.t = start;
        let text = tip_text(&p, merged.then_some(end), merged, off);
        let _ = writeln!(
            body,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"><title>{}</title></rect>",
            x0,
            py0,
            r1((x1 - x0).max(0.0)),
            py1 - py0,
            esc(&text)
        );
        i = j + 1;
    }
    body.push_str("</g>\n");

    let mut out = String::with_capacity(body.len() + 512);
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-labelledby=\"{id}-t {id}-d\">\n<title id=\"{id}-t\">{}</title>\n<desc id=\"{id}-d\">{}</desc>\n",
        esc(spec.title),
        esc(spec.description),
        w = spec.width,
        h = spec.height,
    );
    out.push_str(&strip_style_attrs(&body));
    out.push_str("</svg>\n");
    Ok(out)
}

fn push_group(out: &mut String, class: &str, inner: &str) {
    let _ = write!(out, "<g class=\"{class}\">\n{inner}\n</g>\n");
}

/// Like [`push_group`], with a `<title>` (escaped) as the group's first child.
fn push_titled(out: &mut String, class: &str, title: &str, inner: &str) {
    let _ = write!(
        out,
        "<g class=\"{class}\"><title>{}</title>\n{inner}\n</g>\n",
        esc(title)
    );
}

/// Renders a tiny chart without axes or text (about 120x28 px) for a list:
/// the count line and, where given, a dashed baseline line. `baseline[i]`
/// belongs to `counts[i]`; missing or non-finite entries are skipped. The
/// root has `role="img"` and a `<title>` with `label`.
pub fn render_sparkline(
    counts: &[u64],
    baseline: &[Option<f64>],
    width: u32,
    height: u32,
    label: &str,
) -> Result<String, ChartError> {
    if !(8..=4000).contains(&width) || !(4..=4000).contains(&height) {
        return Err(ChartError::InvalidSize { width, height });
    }
    let n = counts.len() as i64;
    let base: Vec<Option<f64>> = (0..counts.len())
        .map(|i| finite(baseline.get(i).copied().flatten()))
        .collect();
    let top = counts
        .iter()
        .map(|&c| c as f64)
        .chain(base.iter().flatten().copied())
        .fold(0f64, f64::max);
    let y_max = (top * 1.08).max(1.0);

    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (width, height)).into_drawing_area();
        let mut chart = ChartBuilder::on(&root)
            .margin(2)
            .build_cartesian_2d(0i64..(n - 1).max(1), 0f64..y_max)?;
        let col = |i: i64| i * i64::from(width) / n.max(1);
        let brs = runs(
            base.iter()
                .enumerate()
                .map(|(i, b)| (i as i64, b.map(|v| v.max(0.0)))),
        );
        for run in brs {
            let pts = decimate(&run, col);
            if pts.len() > 1 {
                chart.draw_series(DashedLineSeries::new(pts, 3, 2, BASELINE.stroke_width(1)))?;
            }
        }
        let pts = decimate(
            &counts
                .iter()
                .enumerate()
                .map(|(i, &c)| (i as i64, c as f64))
                .collect::<Vec<_>>(),
            col,
        );
        if pts.len() == 1 {
            chart.draw_series(std::iter::once(Circle::new(pts[0], 1, COUNTS.filled())))?;
        } else if pts.len() > 1 {
            chart.draw_series(LineSeries::new(pts, COUNTS.stroke_width(1)))?;
        }
        root.present()?;
    }
    let id = format!(
        "dws{:012x}",
        fnv(&[label.as_bytes(), buf.as_bytes()]) & 0xffff_ffff_ffff
    );
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-labelledby=\"{id}-t\">\n<title id=\"{id}-t\">{}</title>\n{}\n</svg>\n",
        esc(label),
        strip_style_attrs(svg_body(&buf)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TO: i64 = 1_772_452_800; // Mon 2 Mar 2026 12:00 UTC

    fn pts(n: usize, step: i64) -> Vec<ChartPoint> {
        (0..n)
            .map(|i| ChartPoint {
                t: TO - (n - i) as i64 * step,
                count: (i % 17) as u64 + if i == n / 2 { 300 } else { 0 },
                baseline: (i > 3).then_some(6.0),
                upper: (i > 3).then_some(14.0),
            })
            .collect()
    }

    fn spec<'a>(
        points: &'a [ChartPoint],
        spans: &'a [ChartSpan],
        marks: &'a [ChartMark],
        step: i64,
        n: usize,
    ) -> ChartSpec<'a> {
        ChartSpec {
            title: "Claude: reports per minute, last 24 hours",
            description: "A spike of three waves.",
            step_secs: step,
            from: TO - n as i64 * step,
            to: TO,
            points,
            spans,
            marks,
            utc_offset_secs: 3600,
            tip_min_px: 0.0,
            width: 900,
            height: 320,
        }
    }

    /// Checks tags are balanced with a single root `<svg>` and returns the
    /// number of elements. Handles `<tag .../>`, `</tag>` and text.
    fn check_xml(s: &str) -> usize {
        let mut stack: Vec<&str> = Vec::new();
        let mut roots = 0;
        let mut elements = 0;
        let mut rest = s.trim();
        assert!(rest.starts_with("<svg"), "must start with <svg");
        while let Some(i) = rest.find('<') {
            let text = &rest[..i];
            assert!(!text.contains('>'), "stray '>' in text: {text:?}");
            let j = rest[i..].find('>').expect("unterminated tag") + i;
            let tag = &rest[i + 1..j];
            assert!(!tag.contains('<'), "'<' inside tag: {tag:?}");
            // Attribute values must be quoted with balanced quotes.
            assert_eq!(
                tag.matches('"').count() % 2,
                0,
                "unbalanced quotes: {tag:?}"
            );
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop(), Some(name.trim()), "mismatched close tag");
            } else {
                let name = tag
                    .split(|c: char| c.is_whitespace() || c == '/')
                    .next()
                    .unwrap();
                assert!(
                    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()),
                    "bad tag {tag:?}"
                );
                elements += 1;
                if stack.is_empty() {
                    roots += 1;
                }
                if !tag.ends_with('/') {
                    stack.push(name);
                }
            }
            rest = &rest[j + 1..];
        }
        assert!(rest.trim().is_empty(), "text after root");
        assert!(stack.is_empty(), "unclosed: {stack:?}");
        assert_eq!(roots, 1, "exactly one root");
        // Every entity is one of the five XML ones or numeric.
        for (k, _) in s.match_indices('&') {
            let e = &s[k..s[k..].find(';').map(|x| k + x + 1).unwrap_or(s.len())];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].contains(&e) || e.starts_with("&#"),
                "bad entity {e:?}"
            );
        }
        elements
    }

    fn check_clean(s: &str) {
        assert!(!s.contains("style="), "inline style found");
        assert!(!s.to_ascii_lowercase().contains("<script"), "script found");
        assert!(
            !s.contains("NaN") && !s.contains("inf"),
            "non-finite number found"
        );
        check_xml(s);
    }

    fn group<'s>(s: &'s str, class: &str) -> &'s str {
        let open = format!("<g class=\"{class}\"");
        let i = s
            .find(&open)
            .unwrap_or_else(|| panic!("missing group {class}"));
        // Top-level groups are not nested in each other; find the matching close.
        let mut depth = 0;
        let mut k = i;
        loop {
            let next_open = s[k + 1..].find("<g").map(|x| x + k + 1);
            let next_close = s[k + 1..]
                .find("</g>")
                .map(|x| x + k + 1)
                .expect("unclosed group");
            match next_open {
                Some(o) if o < next_close => {
                    depth += 1;
                    k = o;
                }
                _ => {
                    if depth == 0 {
                        return &s[i..next_close + 4];
                    }
                    depth -= 1;
                    k = next_close;
                }
            }
        }
    }

    fn sample() -> (Vec<ChartPoint>, Vec<ChartSpan>, Vec<ChartMark>) {
        let p = pts(1440, 60);
        let spans = vec![
            ChartSpan {
                start: TO - 5 * 3600,
                end: TO - 3 * 3600,
                label: "Outage #12, major".into(),
            },
            ChartSpan {
                start: TO - 30 * 3600,
                end: TO - 23 * 3600,
                label: "Outage #11, minor".into(),
            },
        ];
        let marks = vec![
            ChartMark {
                t: TO - 4 * 3600,
                value: 312.0,
                label: "Wave 1 peak: 312 reports/min".into(),
                short: "W1".to_string(),
            },
            ChartMark {
                t: TO - 3 * 3600 - 600,
                value: 180.0,
                label: "Wave 2 peak: 180 reports/min".into(),
                short: "W2".to_string(),
            },
            ChartMark {
                t: TO + 10,
                value: 5.0,
                label: "outside".into(),
                short: "W3".to_string(),
            },
        ];
        (p, spans, marks)
    }

    #[test]
    fn renders_complete_accessible_document() {
        let (p, spans, marks) = sample();
        let svg = render_chart(&spec(&p, &spans, &marks, 60, 1440)).unwrap();
        check_clean(&svg);
        let root_end = svg.find('>').unwrap();
        let root = &svg[..root_end];
        assert!(root.starts_with("<svg") && root.contains("role=\"img\""));
        // aria-labelledby points at the <title> and <desc> that come first.
        let ids: Vec<&str> = root
            .split("aria-labelledby=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .split(' ')
            .collect();
        assert_eq!(ids.len(), 2);
        let after = svg[root_end + 1..].trim_start();
        assert!(after.starts_with(&format!(
            "<title id=\"{}\">Claude: reports per minute, last 24 hours</title>\n<desc id=\"{}\">A spike of three waves.</desc>",
            ids[0], ids[1]
        )));
        for class in [
            "chart-axes",
            "chart-band",
            "chart-baseline",
            "chart-counts",
            "chart-events",
            "chart-peaks",
            "chart-tips",
        ] {
            check_xml(&format!("<svg>{}</svg>", group(&svg, class)));
        }
        // Z-order: events behind band behind baseline behind counts, tips last.
        let pos = |c: &str| svg.find(&format!("<g class=\"{c}\"")).unwrap();
        assert!(pos("chart-axes") < pos("chart-events"));
        assert!(pos("chart-events") < pos("chart-band"));
        assert!(pos("chart-band") < pos("chart-baseline"));
        assert!(pos("chart-baseline") < pos("chart-counts"));
        assert!(pos("chart-counts") < pos("chart-peaks"));
        assert!(pos("chart-peaks") < pos("chart-tips"));

        let tips = group(&svg, "chart-tips");
        assert_eq!(tips.matches("<rect ").count(), 1440);
        assert_eq!(tips.matches("<title>").count(), 1440);
        // One span is inside the range, the other overlaps its start.
        let events = group(&svg, "chart-events");
        assert_eq!(
            events.matches("<g class=\"chart-event\"><title>").count(),
            2
        );
        assert!(events.contains("<title>Outage #12, major</title>"));
        assert_eq!(events.matches("<rect ").count(), 2);
        let peaks = group(&svg, "chart-peaks");
        assert_eq!(peaks.matches("<g class=\"chart-peak\"><title>").count(), 2);
        assert!(peaks.contains("W1") && peaks.contains("W2") && !peaks.contains("W3"));
        assert!(group(&svg, "chart-counts").contains("<polyline"));
        assert!(group(&svg, "chart-band").contains("<polygon"));
        // Axis labels in local time (UTC+1): the range starts at 13:00 local.
        let axes = group(&svg, "chart-axes");
        assert!(
            axes.contains("14:00") && axes.contains("reports/min"),
            "{axes}"
        );
    }

    #[test]
    fn tooltip_text_has_local_and_utc_time() {
        let p = [ChartPoint {
            t: TO - 11 * 60,
            count: 312,
            baseline: Some(6.2),
            upper: Some(14.0),
        }];
        let mut s = spec(&p, &[], &[], 60, 1440);
        let svg = render_chart(&s).unwrap();
        assert!(
            svg.contains("<title>Mon 2 Mar 12:49 (11:49 UTC): 312 reports, normal \u{2248} 6.2 (up to 14)</title>"),
            "{}",
            group(&svg, "chart-tips")
        );
        s.utc_offset_secs = 0;
        let svg = render_chart(&s).unwrap();
        assert!(svg.contains(
            "<title>Mon 2 Mar 11:49 UTC: 312 reports, normal \u{2248} 6.2 (up to 14)</title>"
        ));
        let p = [ChartPoint {
            t: TO - 60,
            count: 1,
            baseline: None,
            upper: None,
        }];
        let svg = render_chart(&spec(&p, &[], &[], 60, 60)).unwrap();
        assert!(svg.contains("(11:59 UTC): 1 report</title>"));
    }

    #[test]
    fn escapes_every_inserted_text() {
        let evil = "<script>alert('x')</script> & \"q\"";
        let p = pts(10, 60);
        let spans = [ChartSpan {
            start: TO - 300,
            end: TO - 60,
            label: evil.into(),
        }];
        let marks = [ChartMark {
            t: TO - 120,
            value: 3.0,
            label: evil.into(),
            short: "W1".to_string(),
        }];
        let mut s = spec(&p, &spans, &marks, 60, 10);
        s.title = evil;
        s.description = evil;
        let svg = render_chart(&s).unwrap();
        check_clean(&svg);
        let escaped = "&lt;script&gt;alert(&apos;x&apos;)&lt;/script&gt; &amp; &quot;q&quot;";
        assert_eq!(svg.matches(escaped).count(), 4);
        let spark = render_sparkline(&[1, 2], &[], 120, 28, evil).unwrap();
        check_clean(&spark);
        assert!(spark.contains(escaped));
        assert_eq!(esc("a\u{1}b\u{FFFF}"), "ab");
    }

    #[test]
    fn empty_and_degenerate_input_render() {
        // No points at all.
        let svg = render_chart(&spec(&[], &[], &[], 60, 1440)).unwrap();
        check_clean(&svg);
        assert_eq!(group(&svg, "chart-tips").matches("<rect").count(), 0);
        // All zeros, no baseline.
        let zeros: Vec<ChartPoint> = (0..1440)
            .map(|i| ChartPoint {
                t: TO - 86_400 + i * 60,
                count: 0,
                baseline: None,
                upper: None,
            })
            .collect();
        let svg = render_chart(&spec(&zeros, &[], &[], 60, 1440)).unwrap();
        check_clean(&svg);
        assert!(!group(&svg, "chart-band").contains("<polygon"));
        // Non-finite baseline values, a single point, unsorted duplicates,
        // points outside the range, an inverted span, a NaN mark, huge counts.
        let weird = [
            ChartPoint {
                t: TO - 60,
                count: u64::MAX,
                baseline: Some(f64::NAN),
                upper: Some(f64::INFINITY),
            },
            ChartPoint {
                t: TO - 120,
                count: 3,
                baseline: Some(-5.0),
                upper: Some(f64::NEG_INFINITY),
            },
            ChartPoint {
                t: TO - 120,
                count: 4,
                baseline: Some(1.0),
                upper: Some(2.0),
            },
            ChartPoint {
                t: TO + 60,
                count: 9,
                baseline: None,
                upper: None,
            },
        ];
        let spans = [ChartSpan {
            start: TO - 60,
            end: TO - 600,
            label: "inverted".into(),
        }];
        let marks = [ChartMark {
            t: TO - 60,
            value: f64::NAN,
            label: "nan".into(),
            short: "W1".to_string(),
        }];
        let svg = render_chart(&spec(&weird, &spans, &marks, 60, 1440)).unwrap();
        check_clean(&svg);
        assert_eq!(group(&svg, "chart-tips").matches("<rect").count(), 2);
        assert_eq!(group(&svg, "chart-events").matches("<rect").count(), 0);
        assert_eq!(group(&svg, "chart-peaks").matches("<circle").count(), 0);
        let one = [ChartPoint {
            t: TO - 60,
            count: 5,
            baseline: Some(2.0),
            upper: Some(3.0),
        }];
        check_clean(&render_chart(&spec(&one, &[], &[], 60, 1440)).unwrap());
        // Extreme but valid offsets and tiny ranges.
        let mut s = spec(&one, &[], &[], 60, 1);
        s.utc_offset_secs = 14 * 3600;
        check_clean(&render_chart(&s).unwrap());
        s.utc_offset_secs = i32::MAX; // invalid offset falls back to UTC
        check_clean(&render_chart(&s).unwrap());
    }

    #[test]
    fn rejects_invalid_size_and_range() {
        let mut s = spec(&[], &[], &[], 60, 10);
        s.width = 10;
        assert!(matches!(
            render_chart(&s),
            Err(ChartError::InvalidSize { .. })
        ));
        let mut s = spec(&[], &[], &[], 60, 10);
        s.from = s.to;
        assert_eq!(render_chart(&s), Err(ChartError::InvalidRange));
        s.from = i64::MIN;
        assert_eq!(render_chart(&s), Err(ChartError::InvalidRange));
        let mut s = spec(&[], &[], &[], 60, 10);
        s.step_secs = 0;
        assert_eq!(render_chart(&s), Err(ChartError::InvalidRange));
        assert!(render_sparkline(&[], &[], 0, 0, "x").is_err());
        assert!(!ChartError::InvalidRange.to_string().is_empty());
    }

    /// Every layer is built on its own backend; they must share one mapping,
    /// and the tooltip targets must line up with plotters' own coordinates.
    #[test]
    fn layers_share_the_coordinate_mapping() {
        let (from, to) = (TO - 86_400, TO);
        let geom = Geom {
            width: 900,
            height: 320,
            from,
            to,
            y_max: 400.0,
            x_ticks: vec![from + 3600],
        };
        let probe = |g: &Geom| {
            let mut buf = String::new();
            let root = SVGBackend::with_string(&mut buf, (g.width, g.height)).into_drawing_area();
            let chart = g.build(&root).unwrap();
            let r = chart.plotting_area().get_pixel_range();
            let c: Vec<(i32, i32)> = (0..=24)
                .map(|h| chart.backend_coord(&(from + h * 3600, h as f64 * 16.0)))
                .collect();
            (r, c)
        };
        let a = probe(&geom);
        let b = probe(&Geom {
            x_ticks: vec![from, from + 7200, from + 9000],
            y_max: 400.0,
            ..geom
        });
        assert_eq!(a, b);
        // The same formula as the tooltips: plot pixel range, linear in time.
        let ((xr, _), coords) = a;
        for (h, c) in coords.iter().enumerate().take(24) {
            let t = from + h as i64 * 3600;
            let x = f64::from(xr.start)
                + f64::from(xr.end - xr.start) * ((t - from) as f64 / (to - from) as f64);
            assert!((x.floor() as i32 - c.0).abs() <= 1, "{x} vs {}", c.0);
        }
        // And in a rendered chart the tip of a point starts where the layer's
        // own coordinates put it.
        let p = [ChartPoint {
            t: from + 6 * 3600,
            count: 1,
            baseline: None,
            upper: None,
        }];
        let svg = render_chart(&spec(&p, &[], &[], 60, 1440)).unwrap();
        let tip = group(&svg, "chart-tips");
        let x: f64 = tip
            .split("<rect x=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            (x.floor() as i32 - coords[6].0).abs() <= 1,
            "{x} vs {}",
            coords[6].0
        );
    }

    #[test]
    fn merges_tips_when_buckets_are_narrow() {
        let p = pts(10_080, 60);
        let mut s = spec(&p, &[], &[], 60, 10_080);
        s.tip_min_px = 2.0;
        let svg = render_chart(&s).unwrap();
        check_clean(&svg);
        let tips = group(&svg, "chart-tips");
        let n = tips.matches("<rect").count();
        assert!((300..=420).contains(&n), "{n}");
        assert!(tips.contains("up to "));
        // Targets tile the plot: widths add up to its width.
        let total: f64 = tips
            .split(" width=\"")
            .skip(1)
            .map(|w| w.split('"').next().unwrap().parse::<f64>().unwrap())
            .sum();
        assert!((total - 820.0).abs() < 2.0, "{total}");
        // The peak of a merged group is reported.
        assert!(
            tips.contains(": up to 308 reports"),
            "peak of the merged group"
        );
    }

    #[test]
    fn long_series_are_decimated_losslessly() {
        let p = pts(10_080, 60);
        let svg = render_chart(&spec(&p, &[], &[], 60, 10_080)).unwrap();
        let counts = group(&svg, "chart-counts");
        let line = counts.split("<polyline").nth(1).unwrap();
        let points = || {
            let attr = line.split("points=\"").nth(1).unwrap();
            attr.split('"').next().unwrap().split_whitespace()
        };
        let n = points().count();
        assert!(n <= 4 * 830, "{n} points");
        // The spike survives.
        let y_of_300 = {
            let mut buf = String::new();
            let root = SVGBackend::with_string(&mut buf, (900, 320)).into_drawing_area();
            let g = Geom {
                width: 900,
                height: 320,
                from: TO - 604_800,
                to: TO,
                y_max: 400.0,
                x_ticks: vec![],
            };
            let max = p.iter().map(|p| p.count).max().unwrap() as f64;
            let y = g.build(&root).unwrap().backend_coord(&(TO, max)).1;
            y
        };
        let min_y = points()
            .map(|xy| xy.split(',').nth(1).unwrap().parse::<i32>().unwrap())
            .min()
            .unwrap();
        assert_eq!(min_y, y_of_300);
        assert_eq!(
            decimate(&[(0, 1.0), (0, 5.0), (0, 2.0)], |t| t),
            vec![(0, 1.0), (0, 5.0), (0, 2.0)]
        );
        let v: Vec<(i64, f64)> = (0..100)
            .map(|i| (i, if i == 37 { 9.0 } else { 1.0 }))
            .collect();
        let d = decimate(&v, |t| t / 50);
        assert!(
            d.contains(&(37, 9.0))
                && d.contains(&(0, 1.0))
                && d.contains(&(99, 1.0))
                && d.len() <= 8
        );
    }

    #[test]
    fn x_labels_suit_the_range() {
        let (t, f) = x_ticks(TO - 86_400, TO, 820.0, 0);
        assert_eq!(f, XFormat::Time);
        assert!((6..=14).contains(&t.len()), "{}", t.len());
        assert!(t.iter().all(|x| x % 3600 == 0));
        let (t, f) = x_ticks(TO - 7 * 86_400, TO, 820.0, 3600);
        assert_eq!(f, XFormat::Date);
        assert!(
            t.iter().all(|x| (x + 3600) % 86_400 == 0),
            "local midnights"
        );
        let (_, f) = x_ticks(TO - 7 * 86_400, TO, 3000.0, 0);
        assert_eq!(f, XFormat::DayTime);
        assert_eq!(fmt_x(TO, offset(0), XFormat::DayTime), "Mon 12:00");
        assert_eq!(fmt_x(TO, offset(-5 * 3600), XFormat::Date), "Mon 2 Mar");
        let (t, _) = x_ticks(0, 1, 820.0, 0);
        assert!(t.len() <= 1);
        assert_eq!(y_unit(300), "reports/5 min");
        assert_eq!(y_unit(3600), "reports/hour");
    }

    #[test]
    fn ids_differ_between_charts() {
        let a = render_chart(&spec(&[], &[], &[], 60, 1440)).unwrap();
        let mut s = spec(&[], &[], &[], 60, 1440);
        s.title = "Other";
        let b = render_chart(&s).unwrap();
        let id = |s: &str| {
            s.split("<title id=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_owned()
        };
        assert_ne!(id(&a), id(&b));
        assert_eq!(
            a,
            render_chart(&spec(&[], &[], &[], 60, 1440)).unwrap(),
            "deterministic"
        );
    }

    #[test]
    fn palette_meets_contrast_targets() {
        fn lum(c: RGBColor) -> f64 {
            let ch = |v: u8| {
                let v = f64::from(v) / 255.0;
                if v <= 0.03928 {
                    v / 12.92
                } else {
                    ((v + 0.055) / 1.055).powf(2.4)
                }
            };
            0.2126 * ch(c.0) + 0.7152 * ch(c.1) + 0.0722 * ch(c.2)
        }
        let ratio = |c: RGBColor| 1.05 / (lum(c) + 0.05);
        assert!(ratio(TEXT) >= 4.5, "text {}", ratio(TEXT));
        assert!(ratio(PEAK) >= 4.5, "peak labels {}", ratio(PEAK));
        for (name, c) in [
            ("axis", AXIS),
            ("counts", COUNTS),
            ("baseline", BASELINE),
            ("peak", PEAK),
        ] {
            assert!(ratio(c) >= 3.0, "{name} {}", ratio(c));
        }
    }

    #[test]
    fn strips_style_attributes() {
        assert_eq!(
            strip_style_attrs("<rect x=\"1\" style=\"fill:red\"/>"),
            "<rect x=\"1\"/>"
        );
        assert_eq!(strip_style_attrs("<a/>"), "<a/>");
    }

    #[test]
    fn sparkline_is_small_and_textless() {
        let counts: Vec<u64> = (0..1440).map(|i| (i % 13) as u64).collect();
        let base: Vec<Option<f64>> = (0..1440).map(|i| (i > 100).then_some(6.0)).collect();
        let svg = render_sparkline(&counts, &base, 120, 28, "Claude, last 24 hours").unwrap();
        check_clean(&svg);
        assert!(svg.starts_with("<svg") && svg.contains("role=\"img\""));
        assert!(svg.contains(">Claude, last 24 hours</title>"));
        assert!(!svg.contains("<text"));
        assert!(svg.contains("stroke=\"#1D4ED8\"") && svg.contains("stroke=\"#475569\""));
        assert!(svg.len() < 12_000, "{}", svg.len());
        for c in [&[][..], &[0][..], &[0, 0, 0][..]] {
            check_clean(&render_sparkline(c, &[Some(f64::NAN)], 120, 28, "empty").unwrap());
        }
    }
}
