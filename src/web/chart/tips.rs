//! The top layer: transparent hover targets, one per bucket (or per group
//! of buckets too narrow to point at), whose `<title>` is the tooltip: the
//! time in local time and UTC, the count and what is normal for it.

use std::fmt::Write as _;

use chrono::{FixedOffset, Timelike};

use super::markup::esc;
use super::plot::Plot;
use super::scale::{fmt_num, local, offset};
use super::spec::{finite, ChartPoint};

/// Draws the `chart-tips` group, the targets' edges rounded to 0.1 px.
/// Fill and pointer-events are inherited from the group to keep targets lean.
pub(super) fn draw_tips(plot: &Plot, body: &mut String) {
    let (points, step, min_px) = (&plot.points, plot.step, plot.spec.tip_min_px);
    let (py0, py1) = plot.pixels.1;
    body.push_str("<g class=\"chart-tips\" fill=\"transparent\" pointer-events=\"all\">\n");
    let mut i = 0;
    while i < points.len() {
        // Merge buckets until the target is at least `tip_min_px` wide.
        let start = points[i].t;
        let mut j = i;
        let mut peak = i;
        while j + 1 < points.len()
            && min_px > 0.0
            && plot.x_pixel(points[j].t + step) - plot.x_pixel(start) < min_px
        {
            j += 1;
            if points[j].count > points[peak].count {
                peak = j;
            }
        }
        let end = points[j].t.saturating_add(step);
        // Round the edges, not the width, so that targets tile without drift.
        let (x0, x1) = (r1(plot.x_pixel(start)), r1(plot.x_pixel(end)));
        let merged = j > i;
        let mut p = points[peak];
        p.t = start;
        let text = tip_text(&p, merged.then_some(end), merged, plot.off);
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

/// The tooltip of one target: its time, then the count (the highest of a
/// merged group) and what is normal for it, where known.
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
