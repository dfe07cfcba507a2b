//! PostgreSQL: connecting, the session settings of each role, the embedded
//! `schema_postgres.sql` and its version.
//!
//! Several nodes may start at once against one database: the schema is
//! created or upgraded under a transaction-scoped advisory lock, so one node
//! does it and the others find it done.

use super::db::Db;
use super::{params, Context, OpenOptions, StoreError, SCHEMA_VERSION};

const SCHEMA: &str = include_str!("schema_postgres.sql");

/// The steps from version `FIRST_VERSION + i` to `FIRST_VERSION + i + 1`.
/// PostgreSQL support begins at version 8: a database of an older version
/// never existed.
const FIRST_VERSION: i64 = 8;
const MIGRATIONS: [&str; (SCHEMA_VERSION - FIRST_VERSION) as usize] = [
    // 8 -> 9: raw reports partitioned by day (see partitions.rs); each day
    // the table holds gets its partition, and the rows, their ids and the id
    // sequence's position move over.
    "ALTER TABLE reports RENAME TO reports_v8;
     ALTER INDEX reports_by_service_time RENAME TO reports_v8_by_service_time;
     ALTER INDEX reports_with_comments RENAME TO reports_v8_with_comments;
     CREATE SEQUENCE report_ids;
     SELECT setval('report_ids', last_value, is_called) FROM reports_id_seq;
     CREATE TABLE reports (
         id          BIGINT NOT NULL DEFAULT nextval('report_ids'),
         service_id  BIGINT NOT NULL REFERENCES services(id),
         received_ms BIGINT NOT NULL,
         minute      BIGINT NOT NULL,
         category    TEXT NOT NULL,
         error_code  BIGINT,
         region      TEXT,
         platform    TEXT,
         comment     TEXT,
         reporter    BYTEA NOT NULL,
         counted     BIGINT NOT NULL,
         source      BYTEA,
         network     BYTEA,
         provider    BYTEA,
         PRIMARY KEY (id, received_ms)
     ) PARTITION BY RANGE (received_ms);
     ALTER SEQUENCE report_ids OWNED BY reports.id;
     CREATE TABLE reports_default PARTITION OF reports DEFAULT;
     CREATE INDEX reports_by_service_time ON reports(service_id, received_ms);
     CREATE INDEX reports_with_comments ON reports(service_id, received_ms)
         WHERE comment IS NOT NULL;
     DO $$
     DECLARE first BIGINT; last BIGINT;
     BEGIN
         SELECT MIN(received_ms) / 86400000, MAX(received_ms) / 86400000
             INTO first, last FROM reports_v8;
         IF first IS NOT NULL THEN
             FOR d IN first..last LOOP
                 EXECUTE format(
                     'CREATE TABLE reports_%s PARTITION OF reports FOR VALUES FROM (%s) TO (%s)',
                     to_char(to_timestamp(d * 86400.0) AT TIME ZONE 'UTC', 'YYYYMMDD'),
                     CAST(d AS BIGINT) * 86400000, CAST(d + 1 AS BIGINT) * 86400000);
             END LOOP;
         END IF;
     END $$;
     INSERT INTO reports SELECT * FROM reports_v8;
     DROP TABLE reports_v8;",
];

/// The advisory lock key the schema is created and upgraded under
/// ("downwave" in ASCII, as a number).
const SCHEMA_LOCK: i64 = 0x646f_776e_7761_7665;

/// What a connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// Writes: acknowledged means committed (`synchronous_commit` on),
    /// and the schema is brought to this binary's version.
    Writer,
    /// Reads only: every transaction is read-only.
    Reader,
}

/// Connects to the database at `url` for `role`.
pub(super) fn open(url: &str, opts: &OpenOptions, role: Role) -> Result<Db, StoreError> {
    let db = Db::postgres(url).context("connecting to PostgreSQL")?;
    // A lock wait ends as SQLite's busy timeout does: with an error the
    // caller answers 503 for.
    let lock_timeout = opts.busy_timeout.as_millis();
    let session = match role {
        Role::Writer => format!(
            "SET synchronous_commit = on; SET lock_timeout = {lock_timeout}; \
             SET application_name = 'downwave'; SET client_min_messages = warning"
        ),
        Role::Reader => format!(
            "SET default_transaction_read_only = on; SET lock_timeout = {lock_timeout}; \
             SET application_name = 'downwave'; SET client_min_messages = warning"
        ),
    };
    db.execute_batch(&session)
        .context("setting up the PostgreSQL session")?;
    if role == Role::Writer {
        migrate(&db, url)?;
    }
    Ok(db)
}

/// Creates the schema in an empty database or upgrades an older one, under
/// the schema lock; refuses a database newer than this binary.
fn migrate(db: &Db, url: &str) -> Result<(), StoreError> {
    let tx = db.transaction().context("starting the schema check")?;
    tx.query_row(
        "SELECT pg_advisory_xact_lock(?1)",
        params![SCHEMA_LOCK],
        |_| Ok(()),
    )
    .context("taking the schema lock")?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS downwave_schema (version BIGINT NOT NULL)")
        .context("creating the schema version table")?;
    let version: Option<i64> = tx
        .query_opt("SELECT version FROM downwave_schema", params![], |r| {
            r.get(0)
        })
        .context("reading the schema version")?;
    match version {
        None => {
            tx.execute_batch(SCHEMA).context("creating the schema")?;
            tx.execute(
                "INSERT INTO downwave_schema (version) VALUES (?1)",
                params![SCHEMA_VERSION],
            )
            .context("recording the schema version")?;
        }
        Some(found) if found > SCHEMA_VERSION => {
            return Err(StoreError::SchemaTooNew {
                path: without_password(url),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        Some(found) => {
            for (i, step) in MIGRATIONS.iter().enumerate() {
                let to = FIRST_VERSION + i as i64 + 1;
                if to > found {
                    tracing::info!(from = to - 1, to, "upgrading the database schema");
                    tx.execute_batch(step).context("upgrading the schema")?;
                }
            }
            tx.execute(
                "UPDATE downwave_schema SET version = ?1",
                params![SCHEMA_VERSION],
            )
            .context("recording the schema version")?;
        }
    }
    tx.commit().context("committing the schema")
}

/// A connection URL with its password, if any, replaced by `***`, for logs
/// and errors.
pub(super) fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _)) => format!("{scheme}://{name}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_their_password() {
        assert_eq!(
            without_password("postgres://dw:s3cret@db.example:5432/downwave"),
            "postgres://dw:***@db.example:5432/downwave"
        );
        assert_eq!(
            without_password("postgresql://dw@localhost/downwave?sslmode=disable"),
            "postgresql://dw@localhost/downwave?sslmode=disable"
        );
        assert_eq!(
            without_password("postgres:///downwave"),
            "postgres:///downwave"
        );
    }
}
