//! The charts the pages draw: a stored series of report counts and the
//! outage events over it, turned into what [`chart::render_chart`] draws
//! (points, events shaded, wave peaks marked), at the pages' chart size.

use super::range::Range;
use crate::domain::Minute;
use crate::store::{self, EventRecord};
use crate::web::chart::{self, ChartMark, ChartPoint, ChartSpan, ChartSpec};
use crate::web::view::Viewer;
use crate::web::PageError;

/// Width and height of the main chart, in SVG user units (it scales).
const CHART_SIZE: (u32, u32) = (960, 320);

/// What a service chart draws: a minute per point, the events and the
/// maintenance windows shaded.
pub(super) struct ChartData {
    pub(super) points: Vec<store::Point>,
    pub(super) events: Vec<EventRecord>,
    pub(super) windows: Vec<store::Maintenance>,
}

/// What a chart shades: outage events (their waves marked) and maintenance
/// windows.
#[derive(Clone, Copy)]
pub(super) struct Shaded<'a> {
    pub(super) events: &'a [EventRecord],
    pub(super) windows: &'a [store::Maintenance],
}

impl ChartData {
    pub(super) fn read(
        conn: &crate::store::Db,
        id: i64,
        from: i64,
        to: i64,
    ) -> Result<Self, store::StoreError> {
        Ok(ChartData {
            points: store::totals(conn, id, Minute::from_unix(from), Minute::from_unix(to), 60)?,
            events: store::events_overlapping(conn, id, from, to)?,
            windows: store::list_maintenance(conn, id, from)?
                .into_iter()
                .filter(|w| w.starts_at < to)
                .collect(),
        })
    }
}

/// The service chart for a range: counts, band, events shaded, wave peaks.
pub(super) fn service_chart(
    service: &store::Service,
    range: Range,
    viewer: &Viewer,
    from: i64,
    to: i64,
    data: &ChartData,
) -> Result<String, PageError> {
    let events = &data.events;
    let description = if events.is_empty() {
        format!(
            "Reports per minute for {} over the last {}, with the normal range; no outage in this period.",
            service.name,
            range.label()
        )
    } else {
        let waves: usize = events.iter().map(|e| e.waves.len()).sum();
        format!(
            "Reports per minute for {} over the last {}, with the normal range; {} outage event{} shaded, {} wave peak{} marked.",
            service.name,
            range.label(),
            events.len(),
            if events.len() == 1 { "" } else { "s" },
            waves,
            if waves == 1 { "" } else { "s" },
        )
    };
    draw_series_chart(
        &format!(
            "{}: reports per minute, last {}",
            service.name,
            range.label()
        ),
        &description,
        viewer,
        (from, to),
        60,
        &data.points,
        Shaded {
            events,
            windows: &data.windows,
        },
    )
}

/// Draws a chart of `points` (one per `step` seconds from `from`) with
/// `events` shaded and their wave peaks marked.
pub(super) fn draw_series_chart(
    title: &str,
    description: &str,
    viewer: &Viewer,
    (from, to): (i64, i64),
    step: i64,
    points: &[store::Point],
    shaded: Shaded<'_>,
) -> Result<String, PageError> {
    let events = shaded.events;
    let chart_points: Vec<ChartPoint> = points
        .iter()
        .map(|p| ChartPoint {
            t: p.t.unix(),
            count: p.count,
            baseline: p.baseline,
            upper: p.upper,
        })
        .collect();
    let spans: Vec<ChartSpan> = events
        .iter()
        .map(|e| ChartSpan {
            start: e.started_at,
            end: e.end(to),
            label: format!(
                "Outage #{} ({}), from {}",
                e.id,
                e.severity,
                viewer.time(e.started_at).text
            ),
        })
        .collect();
    let windows: Vec<ChartSpan> = shaded
        .windows
        .iter()
        .map(|w| ChartSpan {
            start: w.starts_at,
            end: w.ends_at,
            label: if w.reason.is_empty() {
                format!("Maintenance from {}", viewer.time(w.starts_at).text)
            } else {
                format!(
                    "Maintenance from {}: {}",
                    viewer.time(w.starts_at).text,
                    w.reason
                )
            },
        })
        .collect();
    let marks: Vec<ChartMark> = events
        .iter()
        .flat_map(|e| {
            e.waves.iter().enumerate().map(|(i, w)| ChartMark {
                t: w.peak_at,
                // On the curve: the bucket holding the peak minute (on a
                // 5-minute chart it holds more than the minute's peak).
                value: usize::try_from((w.peak_at - from).div_euclid(step))
                    .ok()
                    .and_then(|k| points.get(k))
                    .map_or(w.peak, |p| p.count as f64),
                label: format!(
                    "Wave {} peak: {:.0} reports/min at {}",
                    i + 1,
                    w.peak,
                    viewer.time(w.peak_at).short
                ),
                short: format!("W{}", i + 1),
            })
        })
        .collect();
    Ok(chart::render_chart(&ChartSpec {
        title,
        description,
        step_secs: step,
        from,
        to,
        points: &chart_points,
        spans: &spans,
        windows: &windows,
        marks: &marks,
        utc_offset_secs: viewer.offset_secs,
        tip_min_px: HOVER_TARGET_PX,
        width: CHART_SIZE.0,
        height: CHART_SIZE.1,
    })?)
}

/// The narrowest hover target, in pixels: buckets are merged until each is
/// this wide (about 90 targets across the chart, each saying its busiest
/// minute), which keeps the page light (a target per minute of a day was
/// three quarters of the page) and gives a finger something to touch.
const HOVER_TARGET_PX: f64 = 10.0;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::Wave;

    #[test]
    fn a_five_minute_chart_says_so_and_marks_peaks_on_its_curve() {
        let from = 1_772_409_600; // 2026-03-02 00:00 UTC
        let step = 300;
        let points: Vec<store::Point> = (0..12)
            .map(|i| store::Point {
                t: Minute::from_unix(from + i * step),
                count: if i == 5 { 40 } else { 5 },
                baseline: Some(5.0),
                upper: Some(9.0),
            })
            .collect();
        let event = EventRecord {
            id: 7,
            service_id: 1,
            service: "claude".into(),
            status: crate::detect::EventStatus::Resolved,
            started_at: from + 4 * step,
            detected_at: from + 5 * step,
            opened_by: crate::detect::OpenReason::Extreme,
            peak_at: from + 5 * step + 120,
            peak: 12.0,
            ended_at: from + 7 * step,
            resolved_at: Some(from + 8 * step),
            total: 60,
            excess: 40.0,
            expected: 20.0,
            severity: crate::detect::Severity::Minor,
            waves: vec![Wave {
                started_at: from + 4 * step,
                peak_at: from + 5 * step + 120,
                peak: 12.0,
                ended_at: from + 7 * step,
                reports: 60,
            }],
            networks: Some(12),
            top_network_share: Some(0.2),
            concentrated: false,
        };
        let svg = draw_series_chart(
            "t",
            "d",
            &Viewer { offset_secs: 0 },
            (from, from + 12 * step),
            step,
            &points,
            Shaded {
                events: std::slice::from_ref(&event),
                windows: &[],
            },
        )
        .unwrap();
        // The axis counts per 5 minutes; the wave's label keeps its peak
        // per minute.
        assert!(svg.contains("reports/5 min"), "{svg}");
        assert!(svg.contains("Wave 1 peak: 12 reports/min"));
    }
}
