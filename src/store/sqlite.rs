//! SQLite: opening connections, PRAGMAs, the embedded `schema.sql` and the
//! steps that bring an older file up to its version.

use super::db::Db;
use super::{Context, OpenOptions, StoreError, SyncMode, SCHEMA_VERSION};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;

const SCHEMA: &str = include_str!("../../schema.sql");

/// How a database at version `i + 1` becomes version `i + 2`. A new
/// database gets `schema.sql` whole; an older one runs the steps it lacks,
/// each in its own transaction with its version bump.
const MIGRATIONS: [&str; (SCHEMA_VERSION - 1) as usize] = [
    // 1 -> 2: the dashboard lists the alerts sent for an event and the
    // latest comments of a service.
    "CREATE INDEX deliveries_by_event ON deliveries(event_id, id);
     CREATE INDEX reports_with_comments ON reports(service_id, received_ms)
         WHERE comment IS NOT NULL;",
    // 2 -> 3: reports carry the keyed hash of their address, so the counted
    // reports of one address per window can be capped across restarts.
    "ALTER TABLE reports ADD COLUMN source BLOB;",
    // 3 -> 4: the networks behind the counts, and events that say how many
    // networks reported and whether they were too few to page anyone.
    "ALTER TABLE reports ADD COLUMN network BLOB;
     ALTER TABLE reports ADD COLUMN provider BLOB;
     CREATE TABLE report_minute_networks (
         service_id   INTEGER NOT NULL,
         minute       INTEGER NOT NULL,
         reports      INTEGER NOT NULL,
         networks     INTEGER NOT NULL,
         new_networks INTEGER NOT NULL,
         top_provider INTEGER NOT NULL,
         PRIMARY KEY (service_id, minute)
     ) STRICT, WITHOUT ROWID;
     ALTER TABLE events ADD COLUMN networks INTEGER;
     ALTER TABLE events ADD COLUMN top_network_share REAL;
     ALTER TABLE events ADD COLUMN concentrated INTEGER NOT NULL DEFAULT 0;",
    // 4 -> 5: the providers a service declares it depends on.
    "ALTER TABLE services ADD COLUMN depends_on TEXT NOT NULL DEFAULT '[]';",
    // 5 -> 6: maintenance windows, and subscriptions that hear of outages
    // during them.
    "CREATE TABLE maintenance (
         id         INTEGER PRIMARY KEY,
         service_id INTEGER NOT NULL REFERENCES services(id),
         starts_at  INTEGER NOT NULL,
         ends_at    INTEGER NOT NULL,
         reason     TEXT NOT NULL,
         created_at INTEGER NOT NULL,
         CHECK (ends_at > starts_at)
     ) STRICT;
     CREATE INDEX maintenance_by_service ON maintenance(service_id, ends_at);
     ALTER TABLE webhooks ADD COLUMN during_maintenance INTEGER NOT NULL DEFAULT 0;",
    // 6 -> 7: incidents across services, each event's attribution, the log
    // of every change, and the baseline at an event's peak the pass reads.
    "ALTER TABLE events ADD COLUMN peak_baseline REAL;
     CREATE TABLE incidents (
         id             INTEGER PRIMARY KEY,
         status         TEXT NOT NULL CHECK (status IN ('open', 'resolved', 'withdrawn')),
         cause_event_id INTEGER NOT NULL,
         began_at       INTEGER NOT NULL,
         opened_at      INTEGER NOT NULL,
         resolved_at    INTEGER,
         outages        INTEGER NOT NULL,
         updated_at     INTEGER NOT NULL
     ) STRICT;
     CREATE INDEX incidents_by_status ON incidents(status, opened_at);
     CREATE TABLE event_attributions (
         event_id       INTEGER PRIMARY KEY,
         incident_id    INTEGER,
         kind           TEXT NOT NULL
             CHECK (kind IN ('upstream', 'epicentre', 'spillover', 'independent')),
         cause_event_id INTEGER NOT NULL,
         confidence     REAL NOT NULL,
         evidence       TEXT NOT NULL,
         updated_at     INTEGER NOT NULL
     ) STRICT;
     CREATE INDEX event_attributions_by_incident ON event_attributions(incident_id);
     CREATE TABLE attribution_changes (
         id          INTEGER PRIMARY KEY,
         at          INTEGER NOT NULL,
         change      TEXT NOT NULL,
         incident_id INTEGER,
         event_id    INTEGER,
         detail      TEXT NOT NULL
     ) STRICT;
     CREATE INDEX attribution_changes_by_incident ON attribution_changes(incident_id, id);",
    // 7 -> 8: subscriptions that hear of incidents or of causes only, and
    // the messages about an incident.
    "ALTER TABLE webhooks ADD COLUMN alerts TEXT NOT NULL DEFAULT 'outages'
         CHECK (alerts IN ('outages', 'causes', 'incidents'));
     ALTER TABLE deliveries ADD COLUMN incident_id INTEGER;
     CREATE INDEX deliveries_by_incident ON deliveries(incident_id, id);",
    // 8 -> 9: PostgreSQL partitions raw reports by day; a SQLite file
    // keeps one table and changes only its version.
    "",
];

/// Opens (creating if needed) the database for writing, applies the schema to
/// a new file and refuses one newer than this binary.
pub(super) fn open_writer(path: &Path, opts: &OpenOptions) -> Result<Db, StoreError> {
    create_private(path)?;
    let conn = Connection::open(path).context("opening the database")?;
    conn.busy_timeout(opts.busy_timeout)
        .context("setting the busy timeout")?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .context("switching to WAL mode")?;
    let sync = match opts.sync {
        SyncMode::Full => "FULL",
        SyncMode::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", sync)
        .context("setting synchronous")?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .context("enabling foreign keys")?;

    migrate(&conn, path)?;
    Ok(Db::sqlite(conn, true))
}

/// Creates the database file, readable and writable by its owner only, if
/// it does not exist yet. The database holds webhook secrets, the key behind
/// reporter ids and every report's comment; SQLite would create it with the
/// process's umask (world-readable under the usual 022). It gives the WAL and
/// shared-memory files it makes later the main file's mode, so they are
/// private too. An existing file keeps its mode (the operator's choice), with
/// a warning when others can read it.
fn create_private(path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path);
        match created {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if let Ok(meta) = std::fs::metadata(path) {
                    let mode = meta.permissions().mode() & 0o777;
                    if mode & 0o077 != 0 {
                        tracing::warn!(
                            path = %path.display(),
                            mode = format!("{mode:o}"),
                            "the database can be read by other users; `chmod 600` it \
                             (and its -wal and -shm files)"
                        );
                    }
                }
            }
            Err(source) => {
                return Err(StoreError::Create {
                    path: path.to_owned(),
                    source,
                })
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Opens a read-only connection to an existing database.
pub(super) fn open_reader(path: &Path, opts: &OpenOptions) -> Result<Db, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .context("opening a read connection")?;
    conn.busy_timeout(opts.busy_timeout)
        .context("setting the busy timeout")?;
    Ok(Db::sqlite(conn, false))
}

fn migrate(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .context("reading the schema version")?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            path: path.display().to_string(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version == 0 {
        // The schema and its version land in one transaction, so a crash
        // half-way leaves an empty file that the next start sets up again.
        let sql = format!("BEGIN;\n{SCHEMA}\nPRAGMA user_version = {SCHEMA_VERSION};\nCOMMIT;");
        conn.execute_batch(&sql).context("creating the schema")?;
        return Ok(());
    }
    for (from, step) in MIGRATIONS.iter().enumerate().skip(version as usize - 1) {
        let to = from as i64 + 2;
        tracing::info!(from = to - 1, to, "upgrading the database schema");
        let sql = format!("BEGIN;\n{step}\nPRAGMA user_version = {to};\nCOMMIT;");
        conn.execute_batch(&sql).context("upgrading the schema")?;
    }
    Ok(())
}

/// Copies everything in the write-ahead log into the database file and
/// empties the log.
pub(super) fn checkpoint(conn: &Connection) -> Result<(), StoreError> {
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .context("checkpointing the write-ahead log")
}

#[cfg(test)]
mod tests {
    use super::SCHEMA_VERSION;
    use crate::store::*;
    use rusqlite::Connection;
    use std::time::Duration;

    fn user_version(conn: &Db) -> i64 {
        conn.query_row("PRAGMA user_version", params![], |r| r.get(0))
            .unwrap()
    }

    /// What version 8 added, taken away again: a new file made to look like
    /// one of version 7.
    const UNDO_VERSION_8: &str = "DROP INDEX deliveries_by_incident; \
         ALTER TABLE deliveries DROP COLUMN incident_id; \
         ALTER TABLE webhooks DROP COLUMN alerts;";

    /// What version 7 added, taken away again (after [`UNDO_VERSION_8`]): a
    /// new file made to look like one of version 6.
    const UNDO_VERSION_7: &str = "DROP TABLE incidents; DROP TABLE event_attributions; \
         DROP TABLE attribution_changes; ALTER TABLE events DROP COLUMN peak_baseline;";

    /// What versions 5 and 6 added, taken away again (after
    /// [`UNDO_VERSION_7`]): a new file made to look like one of version 4.
    const UNDO_VERSION_5: &str = "DROP TABLE maintenance; \
         ALTER TABLE webhooks DROP COLUMN during_maintenance; \
         ALTER TABLE services DROP COLUMN depends_on;";

    /// What versions 4 to 6 added, taken away again (after
    /// [`UNDO_VERSION_7`]): a new file made to look like one of version 3.
    const UNDO_VERSION_4: &str = "DROP TABLE maintenance; \
         ALTER TABLE webhooks DROP COLUMN during_maintenance; \
         ALTER TABLE services DROP COLUMN depends_on; \
         DROP TABLE report_minute_networks; \
         ALTER TABLE reports DROP COLUMN network; ALTER TABLE reports DROP COLUMN provider; \
         ALTER TABLE events DROP COLUMN networks; \
         ALTER TABLE events DROP COLUMN top_network_share; \
         ALTER TABLE events DROP COLUMN concentrated;";

    /// Two writers, as the detector and the report writer are: one reads and
    /// then writes in a transaction while the other commits in between. A
    /// deferred transaction would fail with "database is locked" at its first
    /// write; a writer's transactions take the lock as they begin, so the
    /// other waits its turn and both land.
    #[test]
    fn a_writer_that_reads_first_is_never_refused_by_another_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let opts = OpenOptions::default();
        let first = open_writer(&path, &opts).unwrap();
        let second = open_writer(&path, &opts).unwrap();
        let tx = first.transaction().unwrap();
        let _: i64 = tx
            .query_row("SELECT count(*) FROM meta", params![], |r| r.get(0))
            .unwrap();
        let other = std::thread::spawn(move || {
            second.execute(
                "INSERT INTO meta (key, value) VALUES ('b', x'02')",
                params![],
            )
        });
        std::thread::sleep(Duration::from_millis(200));
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('a', x'01')",
            params![],
        )
        .expect("the transaction holds the write lock from its start");
        tx.commit().unwrap();
        other
            .join()
            .unwrap()
            .expect("the other writer waited, then wrote");
        let keys: i64 = first
            .query_row(
                "SELECT count(*) FROM meta WHERE key IN ('a', 'b')",
                params![],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(keys, 2);
    }

    #[test]
    fn a_checkpoint_empties_the_write_ahead_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = open_writer(&path, &OpenOptions::default()).unwrap();
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('a', x'01')",
            params![],
        )
        .unwrap();
        let wal = dir.path().join("t.db-wal");
        assert!(std::fs::metadata(&wal).unwrap().len() > 0);
        crate::store::checkpoint(&conn).unwrap();
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0);
    }

    #[test]
    fn creates_the_schema_once_and_keeps_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let opts = OpenOptions::default();
        let a = reporter_secret(&open_writer(&path, &opts).unwrap()).unwrap();
        let b = reporter_secret(&open_writer(&path, &opts).unwrap()).unwrap();
        assert_eq!(a.len(), 32);
        assert_eq!(a, b);
    }

    /// A new file made to look like an older one (what the `undo` steps
    /// added taken away, then `setup`, which sets its `user_version`),
    /// opened again: it must come back at this binary's version.
    fn upgraded_from(undo: &[&str], setup: &str) -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = open_writer(&path, &OpenOptions::default()).unwrap();
        for step in undo {
            conn.execute_batch(step).unwrap();
        }
        conn.execute_batch(setup).unwrap();
        drop(conn);
        let conn = open_writer(&path, &OpenOptions::default()).unwrap();
        assert_eq!(user_version(&conn), SCHEMA_VERSION);
        (dir, conn)
    }

    #[test]
    fn upgrades_a_version_1_database() {
        // Make it look like a version-1 file: the schema without the
        // indexes of version 2 and the column of version 3.
        let (_dir, conn) = upgraded_from(
            &[UNDO_VERSION_8, UNDO_VERSION_7, UNDO_VERSION_4],
            "DROP INDEX deliveries_by_event; DROP INDEX reports_with_comments; \
             ALTER TABLE reports DROP COLUMN source; \
             PRAGMA user_version = 1;",
        );
        let index: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master \
                 WHERE name IN ('deliveries_by_event', 'reports_with_comments')",
                params![],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(index, 2);
    }

    #[test]
    fn upgrades_a_version_2_database_and_keeps_its_reports() {
        // A version-2 file: reports without `source`, one of them stored.
        let (_dir, conn) = upgraded_from(
            &[UNDO_VERSION_8, UNDO_VERSION_7, UNDO_VERSION_4],
            "ALTER TABLE reports DROP COLUMN source; \
             INSERT INTO services VALUES (1, 'claude', 'Claude', '[\"login\"]', 0); \
             INSERT INTO reports (service_id, received_ms, minute, category, reporter, counted) \
                 VALUES (1, 60000, 60, 'login', x'00', 1); \
             PRAGMA user_version = 2;",
        );
        let (rows, sources): (i64, i64) = conn
            .query_row(
                "SELECT count(*), count(source) FROM reports",
                params![],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((rows, sources), (1, 0));
    }

    #[test]
    fn upgrades_a_version_4_database_and_keeps_its_services() {
        let (_dir, conn) = upgraded_from(
            &[UNDO_VERSION_8, UNDO_VERSION_7, UNDO_VERSION_5],
            "INSERT INTO services VALUES (1, 'claude', 'Claude', '[\"login\"]', 0); \
             PRAGMA user_version = 4;",
        );
        let services = list_services(&conn).unwrap();
        assert_eq!(services.len(), 1);
        assert_eq!(services[0].slug.as_str(), "claude");
        assert!(services[0].depends_on.is_empty());
    }

    #[test]
    fn upgrades_a_version_3_database_and_keeps_its_reports_and_events() {
        let (_dir, conn) = upgraded_from(
            &[UNDO_VERSION_8, UNDO_VERSION_7, UNDO_VERSION_4],
            "INSERT INTO services VALUES (1, 'claude', 'Claude', '[\"login\"]', 0); \
             INSERT INTO reports (service_id, received_ms, minute, category, reporter, counted, \
                 source) VALUES (1, 60000, 60, 'login', x'00', 1, x'01'); \
             INSERT INTO report_minutes VALUES (1, 60, 'login', 1); \
             INSERT INTO events (service_id, seq, status, started_at, detected_at, opened_by, \
                 peak_at, peak, ended_at, total, excess, expected, severity, waves) \
                 VALUES (1, 1, 'open', 60, 120, 'extreme', 60, 40, 120, 40, 39, 1, 'minor', '[]'); \
             PRAGMA user_version = 3;",
        );
        let (rows, networks): (i64, i64) = conn
            .query_row(
                "SELECT count(*), count(network) FROM reports",
                params![],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(
            (rows, networks),
            (1, 0),
            "the report is kept, without networks"
        );
        // The event was announced (or not) before networks were judged: it
        // keeps its standing, and its figures are unknown, not zero.
        let event = get_event(&conn, 1).unwrap().expect("the event is kept");
        assert_eq!(event.total, 40);
        assert!(!event.concentrated);
        assert_eq!((event.networks, event.top_network_share), (None, None));
        // And the new table takes counts.
        let n = NetworkCounts {
            service_id: 1,
            minute: 120,
            reports: 2,
            networks: 2,
            new_networks: 2,
            top_provider: 1,
        };
        commit_batch(&conn, &[], &[n, n]).unwrap();
        let summed: (i64, i64) = conn
            .query_row(
                "SELECT reports, top_provider FROM report_minute_networks WHERE minute = 120",
                params![],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(summed, (4, 1), "counts add up, the top is kept");
    }

    #[test]
    fn upgrades_a_version_6_database_and_keeps_its_events() {
        let (_dir, conn) = upgraded_from(
            &[UNDO_VERSION_8, UNDO_VERSION_7],
            "INSERT INTO services VALUES (1, 'claude', 'Claude', '[\"login\"]', 0, '[]'); \
             INSERT INTO events (service_id, seq, status, started_at, detected_at, opened_by, \
                 peak_at, peak, ended_at, total, excess, expected, severity, waves) \
                 VALUES (1, 1, 'open', 60, 120, 'extreme', 60, 40, 120, 40, 39, 1, 'minor', '[]'); \
             INSERT INTO detector_minutes VALUES (1, 60, 1.5, 4, 9, 'outage'); \
             PRAGMA user_version = 6;",
        );
        // The event is kept; its baseline at the peak is the detector's.
        let facts = outage_facts(&conn, 0).unwrap();
        assert_eq!(facts.len(), 1);
        assert_eq!((facts[0].peak, facts[0].peak_baseline), (40.0, 1.5));
        assert!(load_assignment(&conn).unwrap().is_none());
        assert!(list_incidents(&conn, None, 10).unwrap().is_empty());
        assert_eq!(event_attribution(&conn, 1).unwrap(), None);
    }

    #[test]
    fn upgrades_a_version_7_database_and_keeps_its_subscriptions() {
        let (_dir, conn) = upgraded_from(
            &[UNDO_VERSION_8],
            "INSERT INTO webhooks (id, url, format, services, min_severity, enabled, secret, \
                 created_at) VALUES (1, 'https://example.com/h', 'generic', '[]', 'minor', 1, \
                 'whsec_x', 0); \
             INSERT INTO deliveries (webhook_id, event_id, kind, message_id, payload, status, \
                 attempts, created_ms) VALUES (1, NULL, 'ping', 'msg_1', '{}', 'delivered', 1, 0); \
             PRAGMA user_version = 7;",
        );
        let w = get_webhook(&conn, 1)
            .unwrap()
            .expect("the subscription is kept");
        assert_eq!(
            w.alerts,
            crate::domain::AlertPolicy::Outages,
            "told of every outage, as before"
        );
        assert_eq!(list_deliveries(&conn, 1, 10).unwrap().len(), 1);
    }

    #[test]
    fn refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(conn);
        let err = open_writer(&path, &OpenOptions::default()).unwrap_err();
        assert!(
            matches!(err, StoreError::SchemaTooNew { found, .. } if found == SCHEMA_VERSION + 1)
        );
        assert!(err.to_string().contains("newer"));
    }
}
