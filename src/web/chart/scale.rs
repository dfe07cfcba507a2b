//! The axes' scales and the words on them: a "nice" top for the y axis, x
//! ticks aligned in the viewer's local time with labels that fit, the unit
//! of the y axis, and how times and numbers are written.

use chrono::{DateTime, FixedOffset, Offset, Utc};

/// A "nice" upper bound (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^k) at or
/// above `v`.
pub(super) fn nice_ceil(v: f64) -> f64 {
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

/// The viewer's zone; an offset chrono refuses falls back to UTC.
pub(super) fn offset(secs: i32) -> FixedOffset {
    FixedOffset::east_opt(secs).unwrap_or(Utc.fix())
}

/// Unix seconds `t` in the zone `off`.
pub(super) fn local(t: i64, off: FixedOffset) -> DateTime<FixedOffset> {
    DateTime::<Utc>::from_timestamp(t, 0)
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
        .with_timezone(&off)
}

/// How x labels look for a given range and tick interval.
#[derive(Clone, Copy, PartialEq, Debug)]
pub(super) enum XFormat {
    /// `14:00`
    Time,
    /// `Mon 14:00`
    DayTime,
    /// `Mon 2 Mar`
    Date,
}

/// An x label: unix seconds `t` in the zone `off`, written as `f` says.
pub(super) fn fmt_x(t: i64, off: FixedOffset, f: XFormat) -> String {
    let d = local(t, off);
    match f {
        XFormat::Time => d.format("%H:%M").to_string(),
        XFormat::DayTime => d.format("%a %H:%M").to_string(),
        XFormat::Date => d.format("%a %-d %b").to_string(),
    }
}

/// Picks aligned (in local time) tick positions so labels don't overlap.
pub(super) fn x_ticks(from: i64, to: i64, plot_px: f64, off_secs: i32) -> (Vec<i64>, XFormat) {
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

/// The y axis's unit for buckets of `step` seconds.
pub(super) fn y_unit(step: i64) -> String {
    match step {
        60 => "reports/min".into(),
        3600 => "reports/hour".into(),
        86_400 => "reports/day".into(),
        s if s % 3600 == 0 => format!("reports/{} h", s / 3600),
        s if s % 60 == 0 => format!("reports/{} min", s / 60),
        s => format!("reports/{s} s"),
    }
}

/// A count or rate as labels and tooltips write it: whole from 10 up,
/// otherwise one decimal unless it is whole.
pub(super) fn fmt_num(v: f64) -> String {
    if v >= 10.0 || v == v.round() {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.1}")
    }
}
