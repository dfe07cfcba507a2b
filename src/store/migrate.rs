//! Moving a deployment from its SQLite file to PostgreSQL
//! (`downwave migrate --from downwave.db --to postgres://…`): every table
//! copied row by row, ids and all, in one PostgreSQL transaction, so a
//! failure leaves the target as empty as it was.

use super::db::{Db, DbError, OwnedValue, Param};
use super::{params, Context, Dialect, StoreError};

/// The tables, in an order that satisfies their references (services before
/// reports and events, webhooks before deliveries).
const TABLES: [&str; 15] = [
    "meta",
    "services",
    "reports",
    "report_minutes",
    "report_minute_facets",
    "report_minute_networks",
    "events",
    "incidents",
    "event_attributions",
    "attribution_changes",
    "detector_minutes",
    "detector_state",
    "maintenance",
    "webhooks",
    "deliveries",
];

/// The tables whose ids PostgreSQL hands out (identity columns, and the
/// sequence of the partitioned `reports`): their sequences are moved past
/// the copied ids.
const IDENTITIES: [&str; 6] = [
    "services",
    "reports",
    "attribution_changes",
    "maintenance",
    "webhooks",
    "deliveries",
];

/// Rows held in memory between two inserts.
const BATCH_ROWS: usize = 4096;

/// What was wrong with the two databases.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("--from must be an SQLite file and --to a postgres:// URL")]
    Backends,
    #[error(
        "the target already holds {0} services: migrate into an empty database \
         (create a new one, or drop this one's tables)"
    )]
    NotEmpty(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Copies every table of `from` (SQLite, at this binary's schema version)
/// into `to` (PostgreSQL, empty); each table and how many rows it had.
pub fn migrate(from: &Db, to: &Db) -> Result<Vec<(&'static str, u64)>, MigrateError> {
    if from.dialect() != Dialect::Sqlite || to.dialect() != Dialect::Postgres {
        return Err(MigrateError::Backends);
    }
    let services: i64 = to
        .query_row("SELECT count(*) FROM services", params![], |r| r.get(0))
        .context("counting the target's services")?;
    if services > 0 {
        return Err(MigrateError::NotEmpty(services));
    }
    // Each day of reports goes to its own partition, not the default one.
    let span: (Option<i64>, Option<i64>) = from
        .query_row(
            "SELECT MIN(received_ms), MAX(received_ms) FROM reports",
            params![],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .context("reading the span of the reports")?;
    if let (Some(first), Some(last)) = span {
        super::make_report_partitions(to, first, last)?;
    }
    let tx = to.transaction().context("starting the migration")?;
    // The target's own reporter key, made at its first start, gives way to
    // the source's: reporter ids must stay what they were.
    tx.execute("DELETE FROM meta", params![])
        .context("clearing the target's meta")?;
    let mut copied = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        copied.push((table, copy_table(from, &tx, table)?));
    }
    for table in IDENTITIES {
        tx.query_row(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                 COALESCE(MAX(id), 0) + 1, false) FROM {table}"
            ),
            params![],
            |_| Ok(()),
        )
        .context("moving an id sequence past the copied ids")?;
    }
    tx.commit().context("committing the migration")?;
    Ok(copied)
}

/// Copies one table, its columns as the source has them; how many rows.
fn copy_table(from: &Db, to: &Db, table: &'static str) -> Result<u64, StoreError> {
    let columns: Vec<String> = from
        .query_map(
            &format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid"),
            params![],
            |r| r.get(0),
        )
        .context("reading a table's columns")?;
    let list = columns.join(", ");
    let head = format!("INSERT INTO {table} ({list})");
    let width = columns.len();
    let mut rows: Vec<OwnedValue> = Vec::with_capacity(BATCH_ROWS * width);
    let mut total = 0u64;
    let flush = |rows: &mut Vec<OwnedValue>| -> Result<(), DbError> {
        let bound: Vec<&dyn Param> = rows.iter().map(|v| v as &dyn Param).collect();
        to.execute_values(&head, "", width, &bound)?;
        rows.clear();
        Ok(())
    };
    from.for_each(&format!("SELECT {list} FROM {table}"), params![], |r| {
        for i in 0..width {
            rows.push(r.owned(i)?);
        }
        total += 1;
        if rows.len() >= BATCH_ROWS * width {
            flush(&mut rows)?;
        }
        Ok(())
    })
    .context("copying a table")?;
    flush(&mut rows).context("copying a table")?;
    Ok(total)
}
