//! Several curves on one time axis, each relative to its own normal, on a
//! log scale: the services of an incident, whose sizes differ by orders of
//! magnitude (a provider with thousands of reports a minute, dependents with
//! tens). Drawn as multiples of their normal, every curve lies on the same
//! floor before the failure and rises by how far it left its own normal, so
//! the order in which the services rose shows at a glance; a log scale keeps
//! a dependent's twentyfold rise visible beside a provider's thousandfold.
//!
//! The caller works out the ratios (it knows what is normal, and how low a
//! normal may be before a ratio means nothing); this draws them on the
//! layout of the report chart ([`Geom`]): the y axis in decades from 1×, where
//! anything at or below normal lies on the bottom line, to the decade above
//! the highest ratio; one `<g class="chart-curve">` per curve with its
//! `<title>` (its name and highest ratio), each in its own colour and dash,
//! which [`curve_swatch`] draws again for a legend.

use std::fmt::Write as _;

use plotters::prelude::*;

use super::axes::{draw_frame, YAxis};
use super::curve::{decimate, runs};
use super::layer::{plot_width, Geom};
use super::markup::{fnv, push_titled_styled};
use super::palette::{CURVES, CURVE_DASHES};
use super::scale::{offset, x_ticks};
use super::spec::{check_frame, ChartError};

/// The most decades the y axis spans: 1× to 1,000,000×. A higher ratio is
/// drawn at the top.
const MAX_DECADES: u32 = 6;

/// One curve: what it is, and each bucket as a multiple of normal.
#[derive(Debug, Clone, Copy)]
pub struct RelativeCurve<'a> {
    /// What the curve is (a service's name): its tooltip begins with it.
    pub label: &'a str,
    /// `(bucket start, reports / normal)`, ascending by time; `None` where
    /// the normal is not known, where the curve breaks. Points outside the
    /// range are left out, non-finite ratios count as unknown.
    pub points: &'a [(i64, Option<f64>)],
}

/// Everything [`render_relative_chart`] needs.
#[derive(Debug, Clone, Copy)]
pub struct RelativeSpec<'a> {
    /// Short title: the SVG's `<title>` (its accessible name).
    pub title: &'a str,
    /// One sentence for screen readers (`<desc>`).
    pub description: &'a str,
    /// Bucket length in seconds.
    pub step_secs: i64,
    /// Start of the x range, unix seconds (inclusive).
    pub from: i64,
    /// End of the x range, unix seconds (exclusive).
    pub to: i64,
    /// The curves: the first is drawn on top and thicker; curve `i` looks
    /// like [`curve_swatch`]`(i)`.
    pub curves: &'a [RelativeCurve<'a>],
    /// The viewer's UTC offset in seconds: the x labels are in local time.
    pub utc_offset_secs: i32,
    /// Width and height of the SVG (at least 200 × 100).
    pub width: u32,
    pub height: u32,
}

/// Renders the curves as a complete `<svg>` document: `chart-axes`, then
/// `chart-curves` holding a `<g class="chart-curve">` per curve, the last
/// curve first so that the first is drawn on top.
pub fn render_relative_chart(spec: &RelativeSpec) -> Result<String, ChartError> {
    check_frame(
        spec.width,
        spec.height,
        (spec.from, spec.to),
        spec.step_secs,
    )?;
    let (from, to) = (spec.from, spec.to);
    let curves: Vec<Vec<(i64, Option<f64>)>> = spec
        .curves
        .iter()
        .map(|c| {
            c.points
                .iter()
                .filter(|(t, _)| (from..to).contains(t))
                .map(|&(t, r)| (t, r.filter(|r| r.is_finite())))
                .collect()
        })
        .collect();
    let highest = curves
        .iter()
        .flatten()
        .filter_map(|p| p.1)
        .fold(1.0, f64::max);
    let decades = decades(highest);
    let (ticks, xfmt) = x_ticks(from, to, plot_width(spec.width), spec.utc_offset_secs);
    let geom = Geom {
        width: spec.width,
        height: spec.height,
        from,
        to,
        y_max: f64::from(decades),
        x_ticks: ticks,
    };
    let mut body = String::new();
    // Whole decades only: with as many labels as decades plus one, the
    // labels plotters picks on 0..decades are the whole numbers.
    let label = |v: &f64| times_normal(10f64.powi(v.round() as i32));
    let y_axis = YAxis {
        labels: decades as usize + 1,
        label: &label,
        description: "times normal (log scale)",
    };
    draw_frame(
        &geom,
        (offset(spec.utc_offset_secs), xfmt),
        &y_axis,
        &mut body,
    )?;
    let ((px0, px1), _) = geom.pixel_area()?;
    let column = |t: i64| i64::from(px0) + i64::from(px1 - px0) * (t - from) / (to - from);
    let centre = |t: i64| t.saturating_add(spec.step_secs / 2).clamp(from, to - 1);
    body.push_str("<g class=\"chart-curves\">\n");
    for (index, (curve, points)) in spec.curves.iter().zip(&curves).enumerate().rev() {
        let known: Vec<(i64, Option<f64>)> = points
            .iter()
            .map(|&(t, r)| (centre(t), r.map(|r| r.max(1.0).log10().min(geom.y_max))))
            .collect();
        let runs = runs(known);
        let (colour, dash) = style(index);
        let width = if index == 0 { 3 } else { 2 };
        let svg = geom.layer(|chart| {
            for run in &runs {
                let pts = decimate(run, column);
                if pts.len() == 1 {
                    chart.draw_series(std::iter::once(Circle::new(pts[0], 2, colour.filled())))?;
                } else {
                    chart.draw_series(LineSeries::new(pts, colour.stroke_width(width)))?;
                }
            }
            Ok(())
        })?;
        let attributes = if dash.is_empty() {
            String::new()
        } else {
            format!(" stroke-dasharray=\"{dash}\"")
        };
        let top = points.iter().filter_map(|p| p.1).reduce(f64::max);
        let title = match top {
            Some(top) => format!("{}: up to {} normal", curve.label, times_normal(top)),
            None => format!("{}: its normal is not known yet", curve.label),
        };
        push_titled_styled(&mut body, "chart-curve", &attributes, &title, &svg);
    }
    body.push_str("</g>\n");
    let id = format!(
        "dwr{:012x}",
        fnv(&[
            spec.title.as_bytes(),
            spec.description.as_bytes(),
            &from.to_le_bytes(),
            &to.to_le_bytes(),
            &spec.width.to_le_bytes(),
        ]) & 0xffff_ffff_ffff
    );
    let named = (spec.title, spec.description);
    Ok(super::document(
        named,
        &id,
        (spec.width, spec.height),
        &body,
    ))
}

/// The decades the y axis spans for a highest ratio of `highest`: up to the
/// decade above it with a little room, at least one, at most [`MAX_DECADES`].
fn decades(highest: f64) -> u32 {
    let top = (highest * 1.2).log10().ceil();
    if top.is_finite() {
        (top.max(1.0) as u32).min(MAX_DECADES)
    } else {
        1
    }
}

/// Curve `index`'s colour and dash pattern (empty: solid).
fn style(index: usize) -> (RGBColor, &'static str) {
    let colour = CURVES[index % CURVES.len()];
    let dash = CURVE_DASHES[(index / CURVES.len()) % CURVE_DASHES.len()];
    (colour, dash)
}

/// A short line drawn as curve `index` is, for a legend beside the chart:
/// an inline `<svg>` hidden from screen readers (the legend's text names
/// the curve), coloured by presentation attributes, not a `style`.
pub fn curve_swatch(index: usize) -> String {
    let (RGBColor(r, g, b), dash) = style(index);
    let mut out = format!(
        "<svg class=\"swatch\" width=\"28\" height=\"10\" viewBox=\"0 0 28 10\" \
         aria-hidden=\"true\" focusable=\"false\"><line x1=\"1\" y1=\"5\" x2=\"27\" y2=\"5\" \
         stroke=\"#{r:02x}{g:02x}{b:02x}\" stroke-width=\"{}\"",
        if index == 0 { 3 } else { 2 }
    );
    if !dash.is_empty() {
        let _ = write!(out, " stroke-dasharray=\"{dash}\"");
    }
    out.push_str("/></svg>");
    out
}

/// A multiple of normal as the chart and the pages write it: `1,500×`,
/// `25×`, `2.5×`, `1×`.
pub fn times_normal(ratio: f64) -> String {
    if !ratio.is_finite() || ratio < 0.0 {
        return "–".to_owned();
    }
    if ratio >= 10.0 || ratio == ratio.round() {
        let digits = (ratio.round() as u64).to_string();
        let mut out = String::with_capacity(digits.len() + 4);
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out.push('×');
        out
    } else {
        format!("{ratio:.1}×")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::chart::tests::check_clean;

    const TO: i64 = 1_772_452_800; // Mon 2 Mar 2026 12:00 UTC
    const STEP: i64 = 60;
    const N: i64 = 120;

    /// Two hours of minutes: `normal` throughout, `peak` from minute 60.
    fn rising(normal: f64, peak: f64) -> Vec<(i64, Option<f64>)> {
        (0..N)
            .map(|i| {
                let t = TO - (N - i) * STEP;
                (t, Some(if i < 60 { normal } else { peak }))
            })
            .collect()
    }

    fn spec<'a>(curves: &'a [RelativeCurve<'a>]) -> RelativeSpec<'a> {
        RelativeSpec {
            title: "AWS outage: 2 other services affected",
            description: "Reports relative to each service's normal.",
            step_secs: STEP,
            from: TO - N * STEP,
            to: TO,
            curves,
            utc_offset_secs: 0,
            width: 960,
            height: 320,
        }
    }

    /// The `points` of every `<polyline>` of the curves in `svg`, in order.
    fn polylines(svg: &str) -> Vec<&str> {
        let curves = &svg[svg.find("<g class=\"chart-curves\">").unwrap()..];
        curves
            .split("<polyline")
            .skip(1)
            .map(|p| {
                let at = p.find("points=\"").unwrap() + 8;
                &p[at..at + p[at..].find('"').unwrap()]
            })
            .collect()
    }

    #[test]
    fn one_titled_curve_each_on_a_scale_of_decades() {
        let (aws, slack, zoom) = (rising(1.0, 1500.0), rising(0.8, 20.0), rising(1.0, 4.0));
        let curves = [
            RelativeCurve {
                label: "AWS",
                points: &aws,
            },
            RelativeCurve {
                label: "Slack <&>",
                points: &slack,
            },
            RelativeCurve {
                label: "Zoom",
                points: &zoom,
            },
        ];
        let svg = render_relative_chart(&spec(&curves)).unwrap();
        check_clean(&svg);
        assert_eq!(svg.matches("<g class=\"chart-curve\"").count(), 3);
        // Drawn last to first, so the first is on top.
        let titles: Vec<usize> = [
            "Zoom: up to 4×",
            "Slack &lt;&amp;&gt;: up to 20×",
            "AWS: up to 1,500×",
        ]
        .iter()
        .map(|t| svg.find(t).unwrap_or_else(|| panic!("{t} in {svg}")))
        .collect();
        assert!(titles.windows(2).all(|w| w[0] < w[1]), "{titles:?}");
        // 1,500× with room: four decades, a label on each.
        for label in ["1×", "10×", "100×", "1,000×", "10,000×"] {
            assert!(svg.contains(&format!(">\n{label}\n</text>")), "{label}");
        }
        assert!(!svg.contains("100,000×"));
        assert!(svg.contains("times normal (log scale)"));
        // The seventh style repeats the first colour, dashed; the cause is thicker.
        assert_eq!(svg.matches("stroke-dasharray").count(), 0);
        assert!(curve_swatch(6).contains("stroke-dasharray=\"7 4\""));
        assert_eq!(
            curve_swatch(6)
                .replace(" stroke-dasharray=\"7 4\"", "")
                .replace("\"2\"", "\"3\""),
            curve_swatch(0)
        );
        assert_ne!(curve_swatch(1), curve_swatch(2));
    }

    #[test]
    fn at_or_below_normal_lies_on_the_bottom_line_and_unknown_breaks_the_curve() {
        let below = rising(0.2, 0.5);
        let at = rising(1.0, 1.0);
        let mut gap = rising(1.0, 1.0);
        gap[30].1 = None;
        gap[31].1 = Some(f64::NAN);
        let curves = [
            RelativeCurve {
                label: "a",
                points: &below,
            },
            RelativeCurve {
                label: "b",
                points: &at,
            },
            RelativeCurve {
                label: "c",
                points: &gap,
            },
        ];
        let svg = render_relative_chart(&spec(&curves)).unwrap();
        check_clean(&svg);
        let lines = polylines(&svg);
        assert_eq!(lines.len(), 4, "c in two runs, then b, then a: {svg}");
        assert_eq!(lines[2], lines[3], "below normal is drawn at normal");
        let ys: Vec<&str> = lines[3]
            .split_whitespace()
            .map(|p| p.split(',').nth(1).unwrap())
            .collect();
        assert!(ys.windows(2).all(|w| w[0] == w[1]), "flat: {ys:?}");
        assert!(svg.contains("a: up to 0.5× normal"));
    }

    #[test]
    fn extremes_and_bad_frames() {
        let huge = rising(1.0, 1e12);
        let none: Vec<(i64, Option<f64>)> = rising(1.0, 1.0)
            .into_iter()
            .map(|(t, _)| (t, None))
            .collect();
        let curves = [
            RelativeCurve {
                label: "huge",
                points: &huge,
            },
            RelativeCurve {
                label: "new",
                points: &none,
            },
        ];
        let svg = render_relative_chart(&spec(&curves)).unwrap();
        check_clean(&svg);
        assert!(
            svg.contains(">\n1,000,000×\n</text>"),
            "capped at six decades"
        );
        assert!(!svg.contains("10,000,000×"));
        assert!(svg.contains("new: its normal is not known yet"));
        let empty = render_relative_chart(&spec(&[])).unwrap();
        check_clean(&empty);
        assert!(empty.contains(">\n10×\n</text>"), "one decade at least");
        let mut backwards = spec(&curves);
        backwards.from = backwards.to;
        assert_eq!(
            render_relative_chart(&backwards),
            Err(ChartError::InvalidRange)
        );
        let mut tiny = spec(&curves);
        tiny.width = 20;
        assert!(matches!(
            render_relative_chart(&tiny),
            Err(ChartError::InvalidSize { .. })
        ));
    }

    #[test]
    fn multiples_read_naturally() {
        assert_eq!(times_normal(1.0), "1×");
        assert_eq!(times_normal(2.54), "2.5×");
        assert_eq!(times_normal(24.6), "25×");
        assert_eq!(times_normal(1_499.6), "1,500×");
        assert_eq!(times_normal(f64::NAN), "–");
    }
}
