//! The database: SQLite (the default, one file) or PostgreSQL (several
//! nodes), opening connections, the schema and its version, and every
//! query. Only this module knows SQL; each query is written once and runs
//! on either through [`Db`].
//!
//! The ingest writer, the monitor and the webhook dispatcher each own a
//! write connection; reads take one from a pool. With SQLite in WAL mode a
//! read never waits for a writer.

mod claims;
mod db;
mod detector;
mod events;
mod incidents;
mod leader;
mod maintenance;
mod migrate;
mod partitions;
mod pg;
mod pool;
mod reports;
mod series;
mod services;
mod sqlite;
mod webhooks;

pub use claims::{claim_reporters, prune_claims, Claim};
pub use db::{params, Db, DbError, Dialect, Param, Row, Tx};
pub use detector::{
    detector_minutes, first_minute, insert_detector_minutes, load_detector_states, minute_totals,
    prune_detector_minutes, save_detector_state, DetectorMinute, RecordedMinute,
};
pub use events::{
    drop_set_aside_events, events_overlapping, facet_counts, get_event, list_events,
    network_minutes, reset_detector, resolve_event, services_with_set_aside_events,
    set_aside_event_ids, upsert_event, EventFilter, EventNetworks, EventRecord, EventWrite,
    NetworkMinute,
};
pub use incidents::{
    any_open_event, event_attribution, get_incident, incident_changes, incident_outages,
    incident_revision, list_incidents, load_assignment, open_outages, outage_facts,
    write_incident_pass, AttributionRecord, ChangeRecord, FollowedOutage, IncidentRecord,
    StoredIncidentStatus,
};
pub use leader::{
    board_version, latest_statuses, mark_board_changed, mark_pages_changed, pages_version,
    pages_version_held, request_rewinds, resign, still_leading, take_rewinds, try_lead,
};
pub use maintenance::{
    end_maintenance, insert_maintenance, list_maintenance, listed_maintenance, maintenance_at,
    recent_maintenance, EndedMaintenance, Maintenance,
};
pub use migrate::{migrate, MigrateError};
pub use partitions::{
    drop_report_partitions, make_report_partitions, make_report_partitions_ahead,
    report_partition_days, AHEAD as REPORT_PARTITIONS_AHEAD,
};
pub use pool::ReadPool;
pub use reports::{
    commit_batch, commit_claimed_batch, prune_reports, recent_counted_networks,
    recent_counted_reporters, recent_counted_sources, NetworkCounts, NewReport, Report,
};
pub use series::{
    recent_comments, series, summary, top_items, totals, Bucket, Comment, Point, Summary, TopItem,
};
pub use services::{insert_service, list_services, set_dependencies, Catalog, NewService, Service};
pub use webhooks::{
    delete_webhook, disable_webhook, due_deliveries, enqueue_announcement,
    enqueue_incident_message, enqueue_outage_opening, enqueue_ping, event_alerts, get_webhook,
    incident_told, incidents_told_open, insert_webhook, list_deliveries, list_webhooks,
    new_message_id, oldest_pending_ms, record_attempt, redeliver, release_deliveries,
    told_of_opening, update_webhook, Announcement, AttemptRecord, Delivery, EventAlert, Webhook,
};

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The schema this binary writes and reads, on either database.
pub const SCHEMA_VERSION: i64 = 9;

/// Where the data lives: an SQLite file (a path) or a PostgreSQL database
/// (a `postgres://` or `postgresql://` URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Location {
    pub fn is_postgres(&self) -> bool {
        matches!(self, Location::Postgres(_))
    }
}

impl std::str::FromStr for Location {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(
            if s.starts_with("postgres://") || s.starts_with("postgresql://") {
                Location::Postgres(s.to_owned())
            } else {
                Location::Sqlite(PathBuf::from(s))
            },
        )
    }
}

/// The path, or the URL without its password.
impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "{}", path.display()),
            Location::Postgres(url) => f.write_str(&pg::without_password(url)),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Location {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(s.parse().unwrap_or_else(|never| match never {}))
    }
}

impl From<PathBuf> for Location {
    fn from(path: PathBuf) -> Self {
        Location::Sqlite(path)
    }
}
impl From<&PathBuf> for Location {
    fn from(path: &PathBuf) -> Self {
        Location::Sqlite(path.clone())
    }
}
impl From<&Path> for Location {
    fn from(path: &Path) -> Self {
        Location::Sqlite(path.to_owned())
    }
}
impl From<&Location> for Location {
    fn from(l: &Location) -> Self {
        l.clone()
    }
}
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{context}")]
    Database {
        context: &'static str,
        #[source]
        source: DbError,
    },
    #[error(
        "the database {path} has schema version {found}, newer than the {supported} this \
         downwave understands; run a newer downwave or point --database elsewhere"
    )]
    SchemaTooNew {
        path: String,
        found: i64,
        supported: i64,
    },
    #[error("cannot create the database file {path}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("a service with the slug '{0}' already exists")]
    DuplicateSlug(String),
    #[error("the database holds a row this version cannot read: {0}")]
    Corrupt(String),
    #[error("cannot start the {what} thread (is the process out of threads or memory?)")]
    Thread {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot encode {what} as JSON")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("this node no longer leads the detector (another node took over)")]
    NotLeader,
    #[error("the {0} was left inconsistent by a panic in another thread; restart downwave")]
    Poisoned(&'static str),
    #[error("the {what} task stopped before it finished: {message}")]
    TaskFailed { what: &'static str, message: String },
}

impl StoreError {
    /// True when the error is a passing condition (locked, busy, full disk,
    /// the connection lost) rather than a bug: the caller answers 503 and
    /// tries again later.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Database { source, .. } => source.is_transient(),
            _ => false,
        }
    }
}

/// One of the words of a closed set (`FromStr`), read from column `i`; a
/// word this version does not know is a row it cannot read.
pub(crate) fn word<T>(r: &Row<'_>, i: usize) -> Result<T, DbError>
where
    T: std::str::FromStr<Err = crate::domain::UnknownWord>,
{
    r.parse(i)
}

/// Adds what we were doing to a database error.
pub(crate) trait Context<T> {
    fn context(self, what: &'static str) -> Result<T, StoreError>;
}

impl<T> Context<T> for Result<T, rusqlite::Error> {
    fn context(self, what: &'static str) -> Result<T, StoreError> {
        self.map_err(DbError::from).context(what)
    }
}

impl<T> Context<T> for Result<T, DbError> {
    fn context(self, what: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Database {
            context: what,
            source,
        })
    }
}

/// How hard SQLite works to keep a commit across a power cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// fsync the write-ahead log on every commit: an acknowledged report
    /// survives a crash of the process and of the machine.
    Full,
    /// fsync only at checkpoints: survives a crash of the process, but the last
    /// commits can be lost if the machine loses power.
    Normal,
}

/// How a connection is tuned.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    pub sync: SyncMode,
    pub busy_timeout: Duration,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            sync: SyncMode::Full,
            busy_timeout: Duration::from_secs(5),
        }
    }
}
/// Opens (creating if needed) the database for writing, applies the schema
/// to a new one, upgrades an older one and refuses one newer than this
/// binary.
pub fn open_writer(at: impl Into<Location>, opts: &OpenOptions) -> Result<Db, StoreError> {
    match at.into() {
        Location::Sqlite(path) => sqlite::open_writer(&path, opts),
        Location::Postgres(url) => pg::open(&url, opts, pg::Role::Writer),
    }
}

/// Opens a read-only connection to an existing database.
pub fn open_reader(at: impl Into<Location>, opts: &OpenOptions) -> Result<Db, StoreError> {
    match at.into() {
        Location::Sqlite(path) => sqlite::open_reader(&path, opts),
        Location::Postgres(url) => pg::open(&url, opts, pg::Role::Reader),
    }
}

/// The secret key behind reporter ids, made on first start (by whichever
/// node starts first: the others read it).
pub fn reporter_secret(conn: &Db) -> Result<Vec<u8>, StoreError> {
    use rand::RngCore;
    let read = || {
        conn.query_opt(
            "SELECT value FROM meta WHERE key = 'reporter_secret'",
            params![],
            |r| r.get::<Vec<u8>>(0),
        )
        .context("reading the reporter secret")
    };
    if let Some(secret) = read()? {
        return Ok(secret);
    }
    let mut secret = vec![0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('reporter_secret', ?1) ON CONFLICT DO NOTHING",
        params![secret],
    )
    .context("storing the reporter secret")?;
    read()?.ok_or(StoreError::Corrupt("the reporter secret vanished".into()))
}

/// After a bulk load (the demo's): with SQLite, copies everything in the
/// write-ahead log into the database file and empties the log, so that the
/// first minutes of serving do not pay for checkpointing tens of megabytes
/// beside the report writer and the page readers. PostgreSQL checkpoints on
/// its own.
pub fn checkpoint(conn: &Db) -> Result<(), StoreError> {
    match conn.as_sqlite() {
        Some(c) => sqlite::checkpoint(c),
        None => Ok(()),
    }
}

/// Probes that a write transaction can be taken right now (readiness).
pub fn check_writable(conn: &Db) -> Result<(), StoreError> {
    let sql = match conn.dialect() {
        Dialect::Sqlite => "BEGIN IMMEDIATE; ROLLBACK;",
        Dialect::Postgres => "BEGIN READ WRITE; ROLLBACK;",
    };
    conn.execute_batch(sql).context("taking the write lock")
}
