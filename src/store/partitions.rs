//! PostgreSQL: raw reports in one partition per UTC day, so retention drops
//! a day with `DROP TABLE` instead of deleting millions of rows one by one
//! (and leaving them to vacuum).
//!
//! `reports` is partitioned by range of `received_ms`. A day's partition is
//! `reports_YYYYMMDD`, holding `[midnight, next midnight)`; a node makes
//! today's and the next ones' at its start, and the retention task keeps
//! them [`AHEAD`] days ahead of the clock. A report for a day
//! without one (a clock far from now, or before the first partitions are
//! made) lands in `reports_default`; making that day's partition later
//! moves its rows out of the default first, so nothing is refused or lost.
//!
//! Several nodes may make the same partition at once: it happens under an
//! advisory lock, and a node finding it made does nothing.

use super::db::{Db, Tx};
use super::{params, Context, StoreError};
use chrono::{DateTime, NaiveDate};

/// How many days ahead of today partitions are made (today included).
pub const AHEAD: i64 = 3;

/// The advisory lock key partitions are made and dropped under ("reportpa").
const LOCK: i64 = 0x7265_706f_7274_7061;

const DAY_MS: i64 = 86_400_000;

/// The UTC day a time (ms) falls in, as days since 1970-01-01.
fn day_of(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

/// A day's partition name, `reports_YYYYMMDD`.
fn name_of(day: i64) -> Option<String> {
    let date = DateTime::from_timestamp_millis(day * DAY_MS)?.date_naive();
    Some(format!("reports_{}", date.format("%Y%m%d")))
}

/// The day a partition name stands for, if it is one of ours.
fn day_named(name: &str) -> Option<i64> {
    let digits = name.strip_prefix("reports_")?;
    let date = NaiveDate::parse_from_str(digits, "%Y%m%d").ok()?;
    Some(day_of(
        date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis(),
    ))
}

/// A transaction holding the partition lock until it ends.
fn locked(conn: &Db) -> Result<Tx<'_>, StoreError> {
    let tx = conn
        .transaction()
        .context("starting a partition transaction")?;
    tx.query_row(
        "SELECT pg_advisory_xact_lock(?1)",
        params![LOCK],
        |_| Ok(()),
    )
    .context("taking the partition lock")?;
    Ok(tx)
}

/// The days that have a partition, in order.
pub fn report_partition_days(conn: &Db) -> Result<Vec<i64>, StoreError> {
    let names: Vec<String> = conn
        .query_map(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = CAST('reports' AS regclass)",
            params![],
            |r| r.get(0),
        )
        .context("listing the report partitions")?;
    let mut days: Vec<i64> = names.iter().filter_map(|n| day_named(n)).collect();
    days.sort_unstable();
    Ok(days)
}

/// Makes the partition of every day from the one `from_ms` falls in to the
/// one `to_ms` falls in that has none; how many were made.
pub fn make_report_partitions(conn: &Db, from_ms: i64, to_ms: i64) -> Result<usize, StoreError> {
    let have = report_partition_days(conn)?;
    let mut made = 0;
    for day in day_of(from_ms)..=day_of(to_ms) {
        if have.binary_search(&day).is_err() && make_partition(conn, day)? {
            made += 1;
        }
    }
    Ok(made)
}

/// Makes the partitions of the day of `now_ms` and of the [`AHEAD`] - 1
/// days after it that have none (PostgreSQL; SQLite has no partitions);
/// how many were made.
pub fn make_report_partitions_ahead(conn: &Db, now_ms: i64) -> Result<usize, StoreError> {
    if conn.dialect() != super::Dialect::Postgres {
        return Ok(0);
    }
    make_report_partitions(conn, now_ms, now_ms + (AHEAD - 1) * 86_400_000)
}

/// Makes one day's partition, moving the rows the default partition holds
/// for that day into it; false when another node made it first.
///
/// The partition is made as a table of its own, filled, then attached:
/// attaching checks that the default partition holds none of its rows,
/// which moving them first makes true. A read that took its snapshot
/// before the move commits and waited for it misses the moved rows once
/// (they left the default partition, and their new one is newer than its
/// snapshot): rare, since only history or a far clock fills the default
/// partition for a day before its partition exists. Inserts wait for the few
/// milliseconds this takes when the default partition is small, as it is
/// unless history was imported for days without a partition.
fn make_partition(conn: &Db, day: i64) -> Result<bool, StoreError> {
    let Some(name) = name_of(day) else {
        return Ok(false);
    };
    let (from, to) = (day * DAY_MS, (day + 1) * DAY_MS);
    let tx = locked(conn)?;
    let exists: bool = tx
        .query_row(
            "SELECT to_regclass(?1) IS NOT NULL",
            params![name.as_str()],
            |r| r.get(0),
        )
        .context("looking for a report partition")?;
    if exists {
        return Ok(false);
    }
    // Inserts wait until this commits (reads go on): one that chose the
    // default partition before the attach and wrote after it would break
    // the default's new constraint and fail.
    tx.execute_batch("LOCK TABLE reports IN SHARE ROW EXCLUSIVE MODE")
        .context("locking reports against inserts")?;
    tx.execute_batch(&format!(
        "CREATE TABLE {name} (LIKE reports INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
    ))
    .context("creating a report partition")?;
    tx.execute(
        &format!(
            "WITH moved AS (DELETE FROM reports_default \
             WHERE received_ms >= ?1 AND received_ms < ?2 RETURNING *) \
             INSERT INTO {name} SELECT * FROM moved"
        ),
        params![from, to],
    )
    .context("moving a day's reports out of the default partition")?;
    tx.execute_batch(&format!(
        "ALTER TABLE reports ATTACH PARTITION {name} FOR VALUES FROM ({from}) TO ({to})"
    ))
    .context("attaching a report partition")?;
    tx.commit().context("committing a report partition")?;
    tracing::info!(partition = name, "report partition made");
    Ok(true)
}

/// Drops the partitions that hold only reports received before
/// `before_ms`; how many went. The day `before_ms` falls in stays whole, so
/// reports are kept between the retention and one day more.
pub fn drop_report_partitions(conn: &Db, before_ms: i64) -> Result<usize, StoreError> {
    let mut dropped = 0;
    for day in report_partition_days(conn)? {
        if (day + 1) * DAY_MS > before_ms {
            break;
        }
        let Some(name) = name_of(day) else { continue };
        let tx = locked(conn)?;
        tx.execute_batch(&format!("DROP TABLE IF EXISTS {name}"))
            .context("dropping a report partition")?;
        tx.commit().context("committing a dropped partition")?;
        tracing::info!(partition = name, "report partition dropped");
        dropped += 1;
    }
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names_stand_for_their_utc_day() {
        let day = day_of(1_772_409_600_000); // 2026-03-02 00:00 UTC
        assert_eq!(name_of(day).as_deref(), Some("reports_20260302"));
        assert_eq!(day_named("reports_20260302"), Some(day));
        assert_eq!(day_of(1_772_409_600_000 + DAY_MS - 1), day);
        assert_eq!(day_named("reports_default"), None);
        assert_eq!(day_named("reports_2026030"), None);
        assert_eq!(day_of(-1), -1);
    }
}
