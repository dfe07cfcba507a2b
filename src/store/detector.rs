//! What the monitor keeps of its detectors: each closed minute's baseline,
//! band, score and status, each detector's saved memory, and the per-minute
//! totals it reads to feed them.

use super::{params, Context, Db, Param, StoreError};
use crate::detect::Status;

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

pub fn insert_detector_minutes(conn: &Db, rows: &[DetectorMinute]) -> Result<(), StoreError> {
    let statuses: Vec<&str> = rows.iter().map(|m| m.status.as_str()).collect();
    let mut params: Vec<&dyn Param> = Vec::with_capacity(rows.len() * 6);
    for (m, status) in rows.iter().zip(&statuses) {
        params.extend([
            &m.service_id as &dyn Param,
            &m.minute,
            &m.baseline,
            &m.upper,
            &m.score,
            status,
        ]);
    }
    conn.execute_values(
        "INSERT INTO detector_minutes (service_id, minute, baseline, upper, score, status)",
        "ON CONFLICT (service_id, minute) DO UPDATE SET baseline = excluded.baseline, \
         upper = excluded.upper, score = excluded.score, status = excluded.status",
        6,
        &params,
    )
    .context("writing detector minutes")?;
    Ok(())
}

/// Baseline, band and score per minute for `[from, to)`.
pub fn detector_minutes(
    conn: &Db,
    service_id: i64,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, f64, f64, f64)>, StoreError> {
    conn.query_map(
        "SELECT minute, baseline, upper, score FROM detector_minutes \
         WHERE service_id = ?1 AND minute >= ?2 AND minute < ?3 ORDER BY minute",
        params![service_id, from, to],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
    .context("reading detector minutes")
}

/// Deletes at most `limit` of a service's detector minutes before `before`
/// (Unix seconds), its oldest first; how many went. Each call reads the
/// primary key's range from the service's oldest minute, so a batch costs
/// the same however much is kept.
pub fn prune_detector_minutes(
    conn: &Db,
    service_id: i64,
    before: i64,
    limit: usize,
) -> Result<usize, StoreError> {
    conn.execute(
        "DELETE FROM detector_minutes WHERE service_id = ?1 AND minute < ?2 \
         AND minute < (SELECT MIN(minute) FROM detector_minutes WHERE service_id = ?1) + ?3",
        params![service_id, before, limit as i64 * 60],
    )
    .context("deleting old detector minutes")
}

/// Saved detector memory: (service, last minute processed, JSON state).
pub fn load_detector_states(conn: &Db) -> Result<Vec<(i64, i64, String)>, StoreError> {
    conn.query_map(
        "SELECT service_id, last_minute, state FROM detector_state ORDER BY service_id",
        params![],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .context("reading detector states")
}

pub fn save_detector_state(
    conn: &Db,
    service_id: i64,
    last_minute: i64,
    state: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO detector_state (service_id, last_minute, state) VALUES (?1, ?2, ?3) \
         ON CONFLICT (service_id) DO UPDATE SET last_minute = excluded.last_minute, \
         state = excluded.state",
        params![service_id, last_minute, state],
    )
    .context("saving a detector state")?;
    Ok(())
}

/// Counted reports per service and minute in `(after, until]`.
pub fn minute_totals(
    conn: &Db,
    after: i64,
    until: i64,
) -> Result<Vec<(i64, i64, u64)>, StoreError> {
    conn.query_map(
        "SELECT service_id, minute, CAST(SUM(count) AS BIGINT) FROM report_minutes \
         WHERE minute > ?1 AND minute <= ?2 GROUP BY service_id, minute ORDER BY service_id, minute",
        params![after, until],
        |r| Ok((r.get(0)?, r.get(1)?, r.get::<i64>(2)?.max(0) as u64)),
    )
    .context("reading minute totals")
}

/// The first minute with a counted report of a service, if any.
pub fn first_minute(conn: &Db, service_id: i64) -> Result<Option<i64>, StoreError> {
    conn.query_row(
        "SELECT MIN(minute) FROM report_minutes WHERE service_id = ?1",
        params![service_id],
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
