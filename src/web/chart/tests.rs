//! Tests of the charts: whole documents checked for well-formed, clean,
//! accessible SVG, and the parts that make them (the shared coordinate
//! mapping, decimation, tick choice, palette contrast, escaping).

use super::curve::decimate;
use super::layer::Geom;
use super::markup::{esc, strip_style_attrs};
use super::palette::{AXIS, BASELINE, COUNTS, CURVES, PEAK, TEXT};
use super::scale::{fmt_x, offset, x_ticks, y_unit, XFormat};
use super::*;
use plotters::prelude::*;

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
        windows: &[],
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

pub(super) fn check_clean(s: &str) {
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
        d.contains(&(37, 9.0)) && d.contains(&(0, 1.0)) && d.contains(&(99, 1.0)) && d.len() <= 8
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
    for c in CURVES {
        assert!(ratio(c) >= 4.5, "curve {c:?}: {}", ratio(c));
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

#[test]
fn simplifying_keeps_spikes_and_ends_and_drops_straight_stretches() {
    use super::curve::simplify;
    use super::plot::Plot;
    let points = pts(1440, 60);
    let s = spec(&points, &[], &[], 60, 1440);
    let plot = Plot::new(&s).unwrap();
    let t = |i: i64| TO - (1440 - i) * 60;
    // A flat line with a spike in the middle, and a straight ramp.
    let mut flat: Vec<(i64, f64)> = (0..1440).map(|i| (t(i), 6.0)).collect();
    flat[700].1 = 300.0;
    let kept = simplify(&plot, &flat);
    assert_eq!(kept.first(), flat.first());
    assert_eq!(kept.last(), flat.last());
    assert!(kept.contains(&flat[700]), "the spike's top");
    assert!(kept.len() <= 5, "{} points kept of a flat line", kept.len());
    let ramp: Vec<(i64, f64)> = (0..1440).map(|i| (t(i), i as f64 / 10.0)).collect();
    assert_eq!(simplify(&plot, &ramp).len(), 2);
    // Noise larger than half a pixel stays.
    let noisy: Vec<(i64, f64)> = (0..100)
        .map(|i| (t(i * 14), (i % 2) as f64 * 60.0))
        .collect();
    assert_eq!(simplify(&plot, &noisy).len(), noisy.len());
}

#[test]
fn maintenance_windows_are_shaded_below_the_events_with_their_titles() {
    let (p, spans, marks) = sample();
    let windows = [
        ChartSpan {
            start: TO - 6 * 3600,
            end: TO - 2 * 3600,
            label: "Maintenance from 08:00: database <upgrade>".into(),
        },
        ChartSpan {
            start: TO + 3600,
            end: TO + 7200,
            label: "after the range".into(),
        },
    ];
    let mut s = spec(&p, &spans, &marks, 60, 1440);
    s.windows = &windows;
    let svg = render_chart(&s).unwrap();
    check_xml(&svg);
    let shaded = group(&svg, "chart-maintenance");
    assert_eq!(
        shaded.matches("<g class=\"chart-window\"><title>").count(),
        1
    );
    assert!(shaded.contains("<title>Maintenance from 08:00: database &lt;upgrade&gt;</title>"));
    assert_eq!(shaded.matches("<rect ").count(), 1);
    let pos = |class: &str| svg.find(&format!("<g class=\"{class}\"")).unwrap();
    assert!(pos("chart-axes") < pos("chart-maintenance"));
    assert!(pos("chart-maintenance") < pos("chart-events"));
    // Without windows the group is there, empty.
    let plain = render_chart(&spec(&p, &spans, &marks, 60, 1440)).unwrap();
    assert_eq!(
        group(&plain, "chart-maintenance").matches("<rect").count(),
        0
    );
}
