//! Several nodes on PostgreSQL: one leads the detector, the others follow.
//!
//! Leadership is a session-level advisory lock, held on the monitor's own
//! connection: it is the leader's for as long as that session lives, and
//! the server releases it the moment the session ends (the process killed,
//! its connection lost). Every write transaction of the detector first
//! checks that its session still holds the lock, so a node that lost it
//! (its connection dropped and was opened again) writes nothing more and
//! steps down; followers try to take the lock every second.
//!
//! Changes made through the API that every node's pages show (services,
//! providers, maintenance windows) leave a mark of their own
//! (`pages_version`), which every node reads each second.
//!
//! Followers show what the leader found: the leader marks each write in
//! `meta` (`board_version`), and a follower that sees the mark move reads
//! every service's latest detector minute. Imports that reach a follower
//! leave their rewinds in `detector_rewinds` for the leader.

use super::{params, Context, Db, Dialect, RecordedMinute, StoreError};

/// The advisory lock's two keys ("down", "lead" in ASCII). Advisory locks
/// belong to one database, so two deployments on one server never meet.
const LOCK: (i32, i32) = (0x646f_776e, 0x6c65_6164);

/// Takes the detector's leadership if no session holds it; true if this
/// connection's session now holds it.
pub fn try_lead(conn: &Db) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT pg_try_advisory_lock(?1, ?2)",
        params![LOCK.0, LOCK.1],
        |r| r.get(0),
    )
    .context("trying to lead the detector")
}

/// Gives the leadership up (a node stopping cleanly): the next node takes
/// it at its next try rather than when the server notices the session
/// ended.
pub fn resign(conn: &Db) -> Result<(), StoreError> {
    conn.query_row(
        "SELECT pg_advisory_unlock(?1, ?2)",
        params![LOCK.0, LOCK.1],
        |_| Ok(()),
    )
    .context("giving up the detector's leadership")
}

/// Whether this connection's session still holds the leadership (it does
/// not once its connection was opened again).
pub fn still_leading(conn: &Db) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' \
         AND pid = pg_backend_pid() AND granted AND objsubid = 2 \
         AND CAST(classid AS BIGINT) = ?1 AND CAST(objid AS BIGINT) = ?2)",
        params![LOCK.0, LOCK.1],
        |r| r.get(0),
    )
    .context("checking the detector's leadership")
}

/// Marks that the detector wrote something pages show (in its
/// transaction): followers see the mark move.
pub fn mark_board_changed(conn: &Db, at_ms: i64) -> Result<(), StoreError> {
    set_mark(conn, "board_version", &at_ms.to_be_bytes())
}

/// The mark [`mark_board_changed`] last left.
pub fn board_version(conn: &Db) -> Result<Option<Vec<u8>>, StoreError> {
    read_mark(conn, "board_version", "")
}

/// Marks that something every node's pages show changed outside the
/// detector (a service added, its providers, a maintenance window), in the
/// change's transaction: the other nodes read the mark each second and
/// reload their catalogs and redraw. A random value, so that two changes
/// in one millisecond are two marks.
pub fn mark_pages_changed(conn: &Db) -> Result<(), StoreError> {
    set_mark(conn, "pages_version", &rand::random::<u128>().to_be_bytes())
}

/// The mark [`mark_pages_changed`] last left.
pub fn pages_version(conn: &Db) -> Result<Option<Vec<u8>>, StoreError> {
    read_mark(conn, "pages_version", "")
}

/// [`pages_version`], read in a write transaction so that no other change
/// moves it before the transaction ends (SQLite's write transaction holds
/// the database; PostgreSQL locks the row).
pub fn pages_version_held(conn: &Db) -> Result<Option<Vec<u8>>, StoreError> {
    let lock = match conn.dialect() {
        Dialect::Postgres => " FOR UPDATE",
        Dialect::Sqlite => "",
    };
    read_mark(conn, "pages_version", lock)
}

/// Sets a mark in `meta`: what other nodes compare with the one they saw.
fn set_mark(conn: &Db, key: &str, value: &[u8]) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value.to_vec()],
    )
    .context("setting a mark in meta")?;
    Ok(())
}

/// A mark in `meta`, the query ended with `suffix` (a row lock or nothing).
fn read_mark(conn: &Db, key: &str, suffix: &str) -> Result<Option<Vec<u8>>, StoreError> {
    conn.query_opt(
        &format!("SELECT value FROM meta WHERE key = ?1{suffix}"),
        params![key],
        |r| r.get(0),
    )
    .context("reading a mark in meta")
}

/// Every service's latest detector minute, with whether its open event is
/// concentrated: what a node's board shows at its start, and a follower's
/// after each of the leader's writes. One index probe per service on both
/// backends (SQLite has no `LATERAL`; it reads a correlated `MAX` off the
/// primary key).
pub fn latest_statuses(conn: &Db) -> Result<Vec<(i64, RecordedMinute, bool)>, StoreError> {
    let latest = match conn.dialect() {
        Dialect::Postgres => {
            "services s CROSS JOIN LATERAL (SELECT * FROM detector_minutes x \
             WHERE x.service_id = s.id ORDER BY x.minute DESC LIMIT 1) d"
        }
        // SQLite's CROSS JOIN keeps the order: services outside, so it
        // probes each one's last minute rather than scanning every minute.
        Dialect::Sqlite => {
            "services s CROSS JOIN detector_minutes d ON d.service_id = s.id \
             AND d.minute = (SELECT MAX(x.minute) FROM detector_minutes x \
             WHERE x.service_id = s.id)"
        }
    };
    conn.query_map(
        &format!(
            "SELECT s.id, d.minute, \
             (SELECT CAST(COALESCE(SUM(m.count), 0) AS BIGINT) FROM report_minutes m \
              WHERE m.service_id = s.id AND m.minute = d.minute), \
             d.baseline, d.upper, d.score, d.status, \
             EXISTS (SELECT 1 FROM events e WHERE e.service_id = s.id AND e.status = 'open' \
                     AND e.concentrated = 1) \
             FROM {latest}"
        ),
        params![],
        |r| {
            Ok((
                r.get(0)?,
                RecordedMinute {
                    minute: r.get(1)?,
                    count: r.get::<i64>(2)?.max(0) as u64,
                    baseline: r.get(3)?,
                    upper: r.get(4)?,
                    score: r.get(5)?,
                    status: super::word(r, 6)?,
                },
                r.get(7)?,
            ))
        },
    )
    .context("reading the latest statuses")
}

/// Leaves an import's rewinds for the leader: (service, first imported
/// minute), the earliest kept per service.
pub fn request_rewinds(conn: &Db, first_minutes: &[(i64, i64)]) -> Result<(), StoreError> {
    for (service_id, minute) in first_minutes {
        conn.execute(
            "INSERT INTO detector_rewinds AS w (service_id, first_minute) VALUES (?1, ?2) \
             ON CONFLICT (service_id) DO UPDATE SET first_minute = \
             CASE WHEN w.first_minute < excluded.first_minute \
                  THEN w.first_minute ELSE excluded.first_minute END",
            params![service_id, minute],
        )
        .context("leaving a rewind for the leader")?;
    }
    Ok(())
}

/// Takes the rewinds followers left (in the leader's transaction).
pub fn take_rewinds(conn: &Db) -> Result<Vec<(i64, i64)>, StoreError> {
    conn.query_map(
        "DELETE FROM detector_rewinds RETURNING service_id, first_minute",
        params![],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .context("taking the rewinds left for the leader")
}
