//! Reading counts back: zero-filled series and summaries.

use super::{params, Context, Db, StoreError};
use crate::domain::Minute;
use std::collections::BTreeMap;

/// One bucket of a series: counted reports from `t` for one step.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Bucket {
    pub t: Minute,
    pub count: u64,
    /// Counts per category; a category absent here had none.
    pub categories: BTreeMap<String, u64>,
    /// The detector's expected count for the bucket (sum of its minutes);
    /// null until the detector has seen the bucket's minutes.
    pub baseline: Option<f64>,
    /// The upper edge of the normal band (sum of its minutes' edges).
    pub upper: Option<f64>,
    /// The highest minute score in the bucket: -log10 of the tail probability.
    pub score: Option<f64>,
}

/// Every bucket from `from` (inclusive) to `to` (exclusive) at `step_secs`,
/// zero-filled. `from` must be aligned to the step by the caller.
pub fn series(
    conn: &Db,
    service_id: i64,
    from: Minute,
    to: Minute,
    step_secs: i64,
) -> Result<Vec<Bucket>, StoreError> {
    let n = ((to.unix() - from.unix()) / step_secs).max(0) as usize;
    let mut out: Vec<Bucket> = (0..n)
        .map(|i| Bucket {
            t: Minute::from_unix(from.unix() + i as i64 * step_secs),
            count: 0,
            categories: BTreeMap::new(),
            baseline: None,
            upper: None,
            score: None,
        })
        .collect();
    conn.for_each(
        "SELECT minute, category, count FROM report_minutes \
         WHERE service_id = ?1 AND minute >= ?2 AND minute < ?3",
        params![service_id, from.unix(), to.unix()],
        |r| {
            let (minute, category, count) =
                (r.get::<i64>(0)?, r.get::<String>(1)?, r.get::<i64>(2)?);
            let i = ((minute - from.unix()) / step_secs) as usize;
            if let Some(b) = out.get_mut(i) {
                let count = count.max(0) as u64;
                b.count += count;
                *b.categories.entry(category).or_default() += count;
            }
            Ok(())
        },
    )
    .context("reading a series")?;
    for (minute, baseline, upper, score) in
        super::detector_minutes(conn, service_id, from.unix(), to.unix())?
    {
        let i = ((minute - from.unix()) / step_secs) as usize;
        if let Some(b) = out.get_mut(i) {
            b.baseline = Some(b.baseline.unwrap_or(0.0) + baseline);
            b.upper = Some(b.upper.unwrap_or(0.0) + upper);
            b.score = Some(b.score.map_or(score, |s: f64| s.max(score)));
        }
    }
    Ok(out)
}

/// One bucket of a chart: counted reports and the detector's band.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub t: Minute,
    pub count: u64,
    pub baseline: Option<f64>,
    pub upper: Option<f64>,
}

/// Like [`series`] without the categories: what a chart draws, read with one
/// grouped query, so a week of minutes stays cheap.
pub fn totals(
    conn: &Db,
    service_id: i64,
    from: Minute,
    to: Minute,
    step_secs: i64,
) -> Result<Vec<Point>, StoreError> {
    let n = ((to.unix() - from.unix()) / step_secs).max(0) as usize;
    let mut out: Vec<Point> = (0..n)
        .map(|i| Point {
            t: Minute::from_unix(from.unix() + i as i64 * step_secs),
            count: 0,
            baseline: None,
            upper: None,
        })
        .collect();
    conn.for_each(
        "SELECT minute, CAST(SUM(count) AS BIGINT) FROM report_minutes \
         WHERE service_id = ?1 AND minute >= ?2 AND minute < ?3 GROUP BY minute ORDER BY minute",
        params![service_id, from.unix(), to.unix()],
        |r| {
            let (minute, count) = (r.get::<i64>(0)?, r.get::<i64>(1)?);
            if let Some(p) = out.get_mut(((minute - from.unix()) / step_secs) as usize) {
                p.count += count.max(0) as u64;
            }
            Ok(())
        },
    )
    .context("reading chart counts")?;
    for (minute, baseline, upper, _) in
        super::detector_minutes(conn, service_id, from.unix(), to.unix())?
    {
        if let Some(p) = out.get_mut(((minute - from.unix()) / step_secs) as usize) {
            p.baseline = Some(p.baseline.unwrap_or(0.0) + baseline);
            p.upper = Some(p.upper.unwrap_or(0.0) + upper);
        }
    }
    Ok(out)
}

/// A comment someone left with a counted report.
#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    pub received_ms: i64,
    pub category: String,
    pub error_code: Option<i64>,
    pub text: String,
}

/// The latest comments on counted reports of a service since `since_ms`,
/// newest first, at most `limit`.
pub fn recent_comments(
    conn: &Db,
    service_id: i64,
    since_ms: i64,
    limit: usize,
) -> Result<Vec<Comment>, StoreError> {
    conn.query_map(
        "SELECT received_ms, category, error_code, comment FROM reports \
         WHERE service_id = ?1 AND received_ms >= ?2 AND comment IS NOT NULL AND counted = 1 \
         ORDER BY received_ms DESC LIMIT ?3",
        params![service_id, since_ms, limit as i64],
        |r| {
            Ok(Comment {
                received_ms: r.get(0)?,
                category: r.get(1)?,
                error_code: r.get(2)?,
                text: r.get(3)?,
            })
        },
    )
    .context("reading recent comments")
}

/// A value and how often it was reported, with its share in percent.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TopItem {
    pub value: String,
    pub count: u64,
    pub percent: f64,
}

/// What a service's reports look like lately.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Summary {
    pub last_15m: u64,
    pub last_hour: u64,
    pub last_day: u64,
    /// Categories over the last day; percentages of all counted reports.
    pub categories: Vec<TopItem>,
    /// Error codes over the last day; percentages of the reports that gave one.
    pub error_codes: Vec<TopItem>,
    /// Regions over the last day; percentages of the reports that gave one.
    pub regions: Vec<TopItem>,
    /// Platforms over the last day; percentages of the reports that gave one.
    pub platforms: Vec<TopItem>,
}

/// How many entries each "top" list holds.
const TOP_N: usize = 10;

/// Summarises the 24 hours up to and including the minute `now`.
pub fn summary(conn: &Db, service_id: i64, now: Minute) -> Result<Summary, StoreError> {
    let day_from = now.unix() - 1439 * 60;
    let hour_from = now.unix() - 59 * 60;
    let q_from = now.unix() - 14 * 60;
    let (mut day, mut hour, mut quarter) = (0u64, 0u64, 0u64);
    let mut cats: BTreeMap<String, u64> = BTreeMap::new();
    conn.for_each(
        "SELECT minute, category, count FROM report_minutes \
         WHERE service_id = ?1 AND minute >= ?2 AND minute <= ?3",
        params![service_id, day_from, now.unix()],
        |r| {
            let (minute, category, count) =
                (r.get::<i64>(0)?, r.get::<String>(1)?, r.get::<i64>(2)?);
            let count = count.max(0) as u64;
            day += count;
            if minute >= hour_from {
                hour += count;
            }
            if minute >= q_from {
                quarter += count;
            }
            *cats.entry(category).or_default() += count;
            Ok(())
        },
    )
    .context("summarising reports")?;
    let facet = |name: &str| -> Result<Vec<TopItem>, StoreError> {
        let counts = super::facet_counts(conn, service_id, name, day_from, now.unix())?;
        let total = counts.iter().map(|(_, n)| n).sum();
        Ok(top_items(counts, total, TOP_N))
    };
    Ok(Summary {
        last_15m: quarter,
        last_hour: hour,
        last_day: day,
        categories: top_items(cats.into_iter().collect(), day, TOP_N),
        error_codes: facet("error_code")?,
        regions: facet("region")?,
        platforms: facet("platform")?,
    })
}

/// The `n` largest counts, largest first (ties by value), with shares of
/// `total` in percent, to one decimal.
pub fn top_items(mut counts: Vec<(String, u64)>, total: u64, n: usize) -> Vec<TopItem> {
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .take(n)
        .map(|(value, count)| TopItem {
            value,
            count,
            percent: if total == 0 {
                0.0
            } else {
                (count as f64 * 1000.0 / total as f64).round() / 10.0
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_sorts_and_rounds_shares() {
        let t = top_items(
            vec![("a".into(), 1), ("b".into(), 2), ("c".into(), 0)],
            3,
            10,
        );
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].value, "b");
        assert_eq!(t[0].percent, 66.7);
        assert_eq!(t[1].percent, 33.3);
    }
}
