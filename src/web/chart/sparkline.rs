//! The sparkline: a tiny chart without axes or text for lists, the count
//! line and a dashed baseline, drawn on one backend.

use plotters::prelude::*;

use super::curve::{decimate, runs};
use super::markup::{esc, fnv, strip_style_attrs, svg_body};
use super::palette::{BASELINE, COUNTS};
use super::spec::{finite, ChartError};

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
