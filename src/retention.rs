//! Retention: raw reports older than `report_retention_days` are deleted,
//! a batch at a time, every few minutes. What they made stays: per-minute
//! counts, facets and networks, events and incidents, so charts, baselines
//! and history are whole; what goes is who reported (hashed), from which
//! network, and their comments. Detector minutes (each service's expected
//! band, one row a minute) go after `detector_minute_retention_days` when
//! that is set.
//!
//! With PostgreSQL, raw reports live in one partition per day: the task
//! makes partitions [`store::REPORT_PARTITIONS_AHEAD`] days ahead of its
//! clock and drops a day whole once all of it is past the retention, so
//! reports are kept between `report_retention_days` and one day more (see
//! `store::partitions`). The reporter claims nodes de-duplicate by (see
//! `store::claims`) go once their window has passed.
//!
//! Runs beside the report writer on a connection of its own: each batch is
//! one short write, and a pause between batches lets queued reports in, so
//! ingest never waits for more than one batch.

use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::store::{self, Location, OpenOptions};
use std::sync::Arc;
use std::time::Duration;

/// How often old reports are looked for.
pub const EVERY: Duration = Duration::from_secs(600);
/// Most reports one batch deletes.
const BATCH: usize = 5_000;
/// The pause between two batches.
const PAUSE: Duration = Duration::from_millis(50);

/// What the retention task needs.
pub struct Retention {
    pub database: Location,
    pub open: OpenOptions,
    pub days: u64,
    /// How long detector minutes are kept (0: for good); never less than
    /// `replay_max` plus a day.
    pub detector_days: u64,
    /// How far back a replay after an import reaches (`import_max_age_days`).
    pub replay_max: Duration,
    /// The de-duplication window: claims older than it decide nothing.
    pub dedup_window: Duration,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
}

impl Retention {
    /// Deletes every report received more than `days` before now, in
    /// batches; returns how many went. Nothing with `days` 0.
    pub async fn prune(&self) -> anyhow::Result<usize> {
        if self.days == 0 {
            return Ok(0);
        }
        let before_ms = self.clock.now().timestamp_millis() - self.days as i64 * 86_400_000;
        let (path, open) = (self.database.clone(), self.open.clone());
        let mut conn =
            tokio::task::spawn_blocking(move || store::open_writer(&path, &open)).await??;
        if self.database.is_postgres() {
            let (back, dropped) = tokio::task::spawn_blocking(move || {
                let dropped = store::drop_report_partitions(&conn, before_ms);
                (conn, dropped)
            })
            .await?;
            conn = back;
            self.metrics
                .report_partitions_dropped
                .inc_by(dropped? as u64);
        }
        let mut total = 0;
        loop {
            let (back, deleted) = tokio::task::spawn_blocking(move || {
                let deleted = store::prune_reports(&conn, before_ms, BATCH);
                (conn, deleted)
            })
            .await?;
            conn = back;
            let deleted = deleted?;
            total += deleted;
            self.metrics.reports_pruned.inc_by(deleted as u64);
            if deleted < BATCH {
                return Ok(total);
            }
            tokio::time::sleep(PAUSE).await;
        }
    }

    /// Deletes every service's detector minutes older than `detector_days`
    /// (at least `replay_max` plus a day, so no replay loses the start of
    /// its minutes), per service and in batches; how many went.
    pub async fn prune_detector_minutes(&self) -> anyhow::Result<usize> {
        if self.detector_days == 0 {
            return Ok(0);
        }
        let kept = (self.detector_days * 86_400).max(self.replay_max.as_secs() + 86_400);
        let before = self.clock.now().timestamp() - kept as i64;
        let (path, open) = (self.database.clone(), self.open.clone());
        let (mut conn, services) = tokio::task::spawn_blocking(move || {
            let conn = store::open_writer(&path, &open)?;
            let services = store::list_services(&conn)?;
            anyhow::Ok((conn, services))
        })
        .await??;
        let mut total = 0;
        for service_id in services.into_iter().map(|s| s.id) {
            loop {
                let (back, deleted) = tokio::task::spawn_blocking(move || {
                    let deleted = store::prune_detector_minutes(&conn, service_id, before, BATCH);
                    (conn, deleted)
                })
                .await?;
                conn = back;
                let deleted = deleted?;
                total += deleted;
                self.metrics.detector_minutes_pruned.inc_by(deleted as u64);
                if deleted == 0 {
                    break;
                }
                if deleted == BATCH {
                    tokio::time::sleep(PAUSE).await;
                }
            }
        }
        Ok(total)
    }

    /// Deletes the reporter claims older than the de-duplication window
    /// (PostgreSQL; SQLite keeps none); how many went.
    pub async fn prune_claims(&self) -> anyhow::Result<usize> {
        if !self.database.is_postgres() {
            return Ok(0);
        }
        let before_ms = self.clock.now().timestamp_millis() - self.dedup_window.as_millis() as i64;
        let (at, open) = (self.database.clone(), self.open.clone());
        Ok(tokio::task::spawn_blocking(move || {
            store::prune_claims(&store::open_writer(&at, &open)?, before_ms)
        })
        .await??)
    }

    /// Makes the report partitions of today and the days ahead that have
    /// none (PostgreSQL; SQLite has no partitions); how many were made.
    pub async fn make_partitions(&self) -> anyhow::Result<usize> {
        if !self.database.is_postgres() {
            return Ok(0);
        }
        let now = self.clock.now().timestamp_millis();
        let (at, open) = (self.database.clone(), self.open.clone());
        Ok(tokio::task::spawn_blocking(move || {
            store::make_report_partitions_ahead(&store::open_writer(&at, &open)?, now)
        })
        .await??)
    }

    /// Makes partitions and prunes now and every [`EVERY`] after, until
    /// dropped.
    pub async fn run(self) {
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tick.tick().await;
            if let Err(e) = self.make_partitions().await {
                tracing::error!(error = format!("{e:#}"), "making report partitions failed");
            }
            match self.prune().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(reports = n, days = self.days, "old reports deleted"),
                Err(e) => tracing::error!(error = format!("{e:#}"), "deleting old reports failed"),
            }
            match self.prune_detector_minutes().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(minutes = n, "old detector minutes deleted"),
                Err(e) => tracing::error!(
                    error = format!("{e:#}"),
                    "deleting old detector minutes failed"
                ),
            }
            if let Err(e) = self.prune_claims().await {
                tracing::error!(
                    error = format!("{e:#}"),
                    "deleting old reporter claims failed"
                );
            }
        }
    }
}
