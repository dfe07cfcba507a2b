//! What the monitor keeps of its detectors: each closed minute's baseline,
//! band, score and status, each detector's saved memory, and the per-minute
//! totals it reads to feed them.

use super::{word, Context, StoreError};
use crate::detect::Status;
use rusqlite::{params, Connection, OptionalExtension};

/// One closed minute as the detector saw it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectorMinute {
    pub service_id: i64,
    pub minute: i64,
    pub baseline: f64,
    pub upper: f64,
    pub score: f64,
    pub status: Status,
}

pub fn insert_detector_minutes(
    conn: &Connection,
    rows: &[DetectorMinute],
) -> Result<(), StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT OR REPLACE INTO detector_minutes \
             (service_id, minute, baseline, upper, score, status) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .context("preparing detector minutes")?;
    for m in rows {
        stmt.execute(params![
            m.service_id,
            m.minute,
            m.baseline,
            m.upper,
            m.score,
            m.status.as_str()
        ])
        .context("writing a detector minute")?;
    }
    Ok(())
}

/// Baseline, band and score per minute for `[from, to)`.
pub fn detector_minutes(
    conn: &Connection,
    service_id: i64,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, f64, f64, f64)>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT minute, baseline, upper, score FROM detector_minutes \
             WHERE service_id = ?1 AND minute >= ?2 AND minute < ?3 ORDER BY minute",
        )
        .context("reading detector minutes")?;
    let rows = stmt
        .query_map(params![service_id, from, to], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .context("reading detector minutes")?;
    rows.collect::<Result<Vec<_>, _>>()
        .context("reading a detector minute")
}

/// Saved detector memory: (service, last minute processed, JSON state).
pub fn load_detector_states(conn: &Connection) -> Result<Vec<(i64, i64, String)>, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT service_id, last_minute, state FROM detector_state")
        .context("reading detector states")?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .context("reading detector states")?;
    rows.collect::<Result<Vec<_>, _>>()
        .context("reading a detector state")
}

pub fn save_detector_state(
    conn: &Connection,
    service_id: i64,
    last_minute: i64,
    state: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO detector_state (service_id, last_minute, state) VALUES (?1, ?2, ?3)",
    )
    .context("preparing the detector state")?
    .execute(params![service_id, last_minute, state])
    .context("saving a detector state")?;
    Ok(())
}

/// Counted reports per service and minute in `(after, until]`.
pub fn minute_totals(
    conn: &Connection,
    after: i64,
    until: i64,
) -> Result<Vec<(i64, i64, u64)>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT service_id, minute, SUM(count) FROM report_minutes \
             WHERE minute > ?1 AND minute <= ?2 GROUP BY service_id, minute",
        )
        .context("reading minute totals")?;
    let rows = stmt
        .query_map(params![after, until], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)?.max(0) as u64))
        })
        .context("reading minute totals")?;
    rows.collect::<Result<Vec<_>, _>>()
        .context("reading a minute total")
}

/// The first minute with a counted report of a service, if any.
pub fn first_minute(conn: &Connection, service_id: i64) -> Result<Option<i64>, StoreError> {
    conn.query_row(
        "SELECT MIN(minute) FROM report_minutes WHERE service_id = ?1",
        [service_id],
        |r| r.get(0),
    )
    .context("finding the first minute")
}

/// A minute the detector recorded, with the count it saw.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedMinute {
    pub minute: i64,
    pub count: u64,
    pub baseline: f64,
    pub upper: f64,
    pub score: f64,
    pub status: Status,
}

/// The latest minute the detector recorded for a service.
pub fn last_detector_minute(
    conn: &Connection,
    service_id: i64,
) -> Result<Option<RecordedMinute>, StoreError> {
    conn.prepare_cached(
        "SELECT d.minute, \
         (SELECT COALESCE(SUM(m.count), 0) FROM report_minutes m \
          WHERE m.service_id = d.service_id AND m.minute = d.minute), \
         d.baseline, d.upper, d.score, d.status \
         FROM detector_minutes d WHERE d.service_id = ?1 ORDER BY d.minute DESC LIMIT 1",
    )
    .context("reading the last detector minute")?
    .query_row([service_id], |r| {
        Ok(RecordedMinute {
            minute: r.get(0)?,
            count: r.get::<_, i64>(1)?.max(0) as u64,
            baseline: r.get(2)?,
            upper: r.get(3)?,
            score: r.get(4)?,
            status: word(r, 5)?,
        })
    })
    .optional()
    .context("reading the last detector minute")
}
