//! The series itself: the normal band (baseline to upper edge), the dashed
//! baseline, and the report counts as an area under a line; and the two
//! ways every curve is prepared, runs of known values and decimation to the
//! pixel columns.

use plotters::prelude::*;

use super::markup::{push_group, push_group_styled};
use super::palette::{BAND, BASELINE, COUNTS};
use super::plot::Plot;
use super::spec::{finite, ChartError};

/// Draws the `chart-band` group: one polygon per run of buckets where both
/// the baseline and the upper edge are known.
pub(super) fn draw_band(plot: &Plot, body: &mut String) -> Result<(), ChartError> {
    let y_max = plot.geom.y_max;
    let col = |t: i64| plot.column(t);
    let band_runs = runs(plot.points.iter().map(|p| {
        let known = match (finite(p.baseline), finite(p.upper)) {
            (Some(b), Some(u)) => Some((b.clamp(0.0, y_max), u.clamp(0.0, y_max))),
            _ => None,
        };
        (p.t, known)
    }));
    let band = plot.geom.layer(|chart| {
        for run in &band_runs {
            let up: Vec<(i64, f64)> = run.iter().map(|&(t, (_, u))| (plot.centre(t), u)).collect();
            let lo: Vec<(i64, f64)> = run.iter().map(|&(t, (b, _))| (plot.centre(t), b)).collect();
            let mut poly = simplify(plot, &decimate(&up, col));
            let mut lo = simplify(plot, &decimate(&lo, col));
            lo.reverse();
            poly.extend(lo);
            chart.draw_series(std::iter::once(Polygon::new(poly, BAND.mix(0.35).filled())))?;
        }
        Ok(())
    })?;
    push_group(body, "chart-band", &band);
    Ok(())
}

/// Draws the `chart-baseline` group: the baseline dashed, a dot where a run
/// of known values is a single bucket.
pub(super) fn draw_baseline(plot: &Plot, body: &mut String) -> Result<(), ChartError> {
    let y_max = plot.geom.y_max;
    let col = |t: i64| plot.column(t);
    let base_runs = runs(
        plot.points
            .iter()
            .map(|p| (p.t, finite(p.baseline).map(|b| b.clamp(0.0, y_max)))),
    );
    let baseline = plot.geom.layer(|chart| {
        for run in &base_runs {
            let pts = simplify(
                plot,
                &decimate(
                    &run.iter()
                        .map(|&(t, b)| (plot.centre(t), b))
                        .collect::<Vec<_>>(),
                    col,
                ),
            );
            if pts.len() == 1 {
                chart.draw_series(std::iter::once(Circle::new(pts[0], 1, BASELINE.filled())))?;
            } else {
                chart.draw_series(LineSeries::new(pts, BASELINE.stroke_width(1)))?;
            }
        }
        Ok(())
    })?;
    // Dashed by the group: one line, not an element per dash.
    push_group_styled(
        body,
        "chart-baseline",
        "stroke-dasharray=\"5 3\"",
        &baseline,
    );
    Ok(())
}

/// Draws the `chart-counts` group: a light area under a strong line, or a
/// dot for a single bucket.
pub(super) fn draw_counts(plot: &Plot, body: &mut String) -> Result<(), ChartError> {
    let y_max = plot.geom.y_max;
    let count_pts = simplify(
        plot,
        &decimate(
            &plot
                .points
                .iter()
                .map(|p| (plot.centre(p.t), (p.count as f64).min(y_max)))
                .collect::<Vec<_>>(),
            |t| plot.column(t),
        ),
    );
    let counts = plot.geom.layer(|chart| {
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
    push_group(body, "chart-counts", &counts);
    Ok(())
}

/// Reduces a series to at most four points per pixel column (first, min, max,
/// last), which is lossless at the integer pixel resolution plotters' SVG
/// backend writes, and keeps the output small for long ranges.
pub(super) fn decimate(pts: &[(i64, f64)], col: impl Fn(i64) -> i64) -> Vec<(i64, f64)> {
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

/// How far, in pixels, a simplified curve may pass from a point it drops:
/// half a pixel, the rounding plotters' SVG backend applies anyway.
const SIMPLIFY_PX: f64 = 0.5;

/// Drops the points of a curve that lie within [`SIMPLIFY_PX`] of the line
/// between the points kept around them (Ramer-Douglas-Peucker, measured in
/// pixels): a flat or straight stretch becomes two points, a spike keeps
/// its top. What is drawn does not change by more than the rounding does.
pub(super) fn simplify(plot: &Plot, pts: &[(i64, f64)]) -> Vec<(i64, f64)> {
    if pts.len() < 3 {
        return pts.to_vec();
    }
    let (py0, py1) = plot.pixels.1;
    let y_scale = f64::from(py1 - py0) / plot.geom.y_max.max(f64::MIN_POSITIVE);
    let px: Vec<(f64, f64)> = pts
        .iter()
        .map(|&(t, v)| (plot.x_pixel(t), v * y_scale))
        .collect();
    let mut keep = vec![false; pts.len()];
    keep[0] = true;
    keep[pts.len() - 1] = true;
    let mut spans = vec![(0, pts.len() - 1)];
    while let Some((a, b)) = spans.pop() {
        let (ax, ay) = px[a];
        let (dx, dy) = (px[b].0 - ax, px[b].1 - ay);
        let length = (dx * dx + dy * dy).sqrt();
        let mut far = (0.0, a);
        for (k, &(x, y)) in px.iter().enumerate().take(b).skip(a + 1) {
            let distance = if length == 0.0 {
                ((x - ax).powi(2) + (y - ay).powi(2)).sqrt()
            } else {
                ((x - ax) * dy - (y - ay) * dx).abs() / length
            };
            if distance > far.0 {
                far = (distance, k);
            }
        }
        if far.0 > SIMPLIFY_PX {
            keep[far.1] = true;
            spans.push((a, far.1));
            spans.push((far.1, b));
        }
    }
    pts.iter()
        .zip(keep)
        .filter_map(|(p, kept)| kept.then_some(*p))
        .collect()
}

/// Splits `(x, value)` pairs into runs of known values, for the baseline band
/// and line (which are not drawn where the baseline is unknown).
pub(super) fn runs<T>(values: impl IntoIterator<Item = (i64, Option<T>)>) -> Vec<Vec<(i64, T)>> {
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
