//! The group-commit writer: one thread owns the write connection, takes
//! reports off a bounded queue and commits them in batches: a batch closes
//! when it is full, when the queue is empty, or when it has been open for the
//! linger time, whichever comes first. Each report is answered only after
//! the transaction holding it has committed, so an acknowledgement means the
//! report is on disk.
//!
//! De-duplication is decided here too: the writer sees reports in the order
//! they are stored, so "first report of this reporter in the window" is exact,
//! with no race between concurrent HTTP workers.

use crate::clock::Clock;
use crate::domain::{Category, ErrorCode, Minute, Platform, Region};
use crate::metrics::Metrics;
use crate::store::{self, NewReport, StoreError};
use rusqlite::Connection;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// A validated report on its way to the writer.
#[derive(Debug, Clone)]
pub struct PendingReport {
    pub service_id: i64,
    pub received_ms: i64,
    pub category: Category,
    pub error_code: Option<ErrorCode>,
    pub region: Option<Region>,
    pub platform: Option<Platform>,
    pub comment: Option<String>,
    pub reporter: [u8; 16],
}

/// What the writer answers once a report is committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    pub id: i64,
    pub counted: bool,
    pub minute: Minute,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    #[error("the ingest queue is full")]
    QueueFull,
    #[error("the server is shutting down")]
    ShuttingDown,
    #[error("the database could not store the report")]
    Storage,
}

enum Command {
    Report(PendingReport, oneshot::Sender<Result<Ack, IngestError>>),
    Shutdown,
}

#[derive(Debug, Clone)]
pub struct WriterConfig {
    pub queue_capacity: usize,
    pub max_batch: usize,
    pub linger: Duration,
    /// A reporter counts once per service within this window.
    pub dedup_window: Duration,
}

/// The sending side, cloned into every HTTP worker.
#[derive(Clone)]
pub struct IngestHandle {
    tx: SyncSender<Command>,
    metrics: Arc<Metrics>,
    capacity: usize,
    /// False while the last commit (or probe) failed: `/readyz` reports it.
    healthy: Arc<AtomicBool>,
}

impl IngestHandle {
    /// Queues a report; the receiver resolves once it is committed (or failed).
    /// Never blocks: a full queue is an immediate [`IngestError::QueueFull`].
    pub fn submit(
        &self,
        report: PendingReport,
    ) -> Result<oneshot::Receiver<Result<Ack, IngestError>>, IngestError> {
        let (reply, rx) = oneshot::channel();
        self.metrics.queue_depth.inc();
        match self.tx.try_send(Command::Report(report, reply)) {
            Ok(()) => Ok(rx),
            Err(e) => {
                self.metrics.queue_depth.dec();
                Err(match e {
                    TrySendError::Full(_) => IngestError::QueueFull,
                    TrySendError::Disconnected(_) => IngestError::ShuttingDown,
                })
            }
        }
    }

    pub fn queue_depth(&self) -> usize {
        self.metrics.queue_depth.get().max(0) as usize
    }

    pub fn queue_full(&self) -> bool {
        self.queue_depth() >= self.capacity
    }

    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }
}

/// Remembers, per (service, reporter), when that reporter last counted.
struct Deduplicator {
    window_ms: i64,
    last_counted: HashMap<(i64, [u8; 16]), i64>,
    /// Latest report time seen: drives pruning (the clock may be a test's).
    latest_ms: i64,
    last_prune_ms: i64,
}

impl Deduplicator {
    fn counts(&self, pending: &HashMap<(i64, [u8; 16]), i64>, r: &PendingReport) -> bool {
        let key = (r.service_id, r.reporter);
        let prev = pending.get(&key).or_else(|| self.last_counted.get(&key));
        match prev {
            None => true,
            Some(&t) => (r.received_ms - t).abs() >= self.window_ms,
        }
    }

    fn remember(&mut self, pending: HashMap<(i64, [u8; 16]), i64>) {
        for (key, t) in pending {
            self.latest_ms = self.latest_ms.max(t);
            let slot = self.last_counted.entry(key).or_insert(t);
            *slot = (*slot).max(t);
        }
        // Drop reporters whose window has passed, at most once per window/4.
        if self.latest_ms - self.last_prune_ms >= self.window_ms / 4 {
            let cutoff = self.latest_ms - self.window_ms;
            self.last_counted.retain(|_, t| *t > cutoff);
            self.last_prune_ms = self.latest_ms;
        }
    }
}

pub struct GroupCommitWriter {
    conn: Connection,
    rx: Receiver<Command>,
    config: WriterConfig,
    dedup: Deduplicator,
    metrics: Arc<Metrics>,
    healthy: Arc<AtomicBool>,
}

impl GroupCommitWriter {
    /// Starts the writer thread on an open write connection. The
    /// de-duplicator is warmed with the reporters already counted within the
    /// window, so a restart does not count them again.
    pub fn spawn(
        conn: Connection,
        config: WriterConfig,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Result<(IngestHandle, WriterThread), StoreError> {
        let window_ms = config.dedup_window.as_millis() as i64;
        let now_ms = clock.now().timestamp_millis();
        let mut last_counted = HashMap::new();
        for service in store::list_services(&conn)? {
            for (reporter, at) in
                store::recent_counted_reporters(&conn, service.id, now_ms - window_ms)?
            {
                last_counted.insert((service.id, reporter), at);
            }
        }
        let (tx, rx) = mpsc::sync_channel(config.queue_capacity);
        let healthy = Arc::new(AtomicBool::new(true));
        let handle = IngestHandle {
            tx: tx.clone(),
            metrics: metrics.clone(),
            capacity: config.queue_capacity,
            healthy: healthy.clone(),
        };
        let writer = GroupCommitWriter {
            conn,
            rx,
            dedup: Deduplicator {
                window_ms,
                last_counted,
                latest_ms: now_ms,
                last_prune_ms: now_ms,
            },
            config,
            metrics,
            healthy,
        };
        let join = std::thread::Builder::new()
            .name("downwave-writer".into())
            .spawn(move || writer.run())
            .map_err(|e| StoreError::Corrupt(format!("cannot start the writer thread: {e}")))?;
        Ok((handle, WriterThread { tx, join }))
    }

    fn run(mut self) {
        let mut batch: Vec<(PendingReport, oneshot::Sender<Result<Ack, IngestError>>)> =
            Vec::with_capacity(self.config.max_batch);
        loop {
            let first = match self.rx.recv_timeout(Duration::from_secs(1)) {
                Ok(cmd) => cmd,
                Err(RecvTimeoutError::Timeout) => {
                    self.probe_if_unhealthy();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let mut stop = false;
            match first {
                Command::Report(r, reply) => {
                    self.metrics.queue_depth.dec();
                    batch.push((r, reply));
                }
                Command::Shutdown => stop = true,
            }
            if !stop {
                stop = self.fill(&mut batch);
            }
            self.commit(&mut batch);
            if stop {
                break;
            }
        }
        // Shutting down: everything still queued was acknowledged to nobody
        // yet but is owed an answer; commit it all.
        loop {
            while batch.len() < self.config.max_batch {
                match self.rx.try_recv() {
                    Ok(Command::Report(r, reply)) => {
                        self.metrics.queue_depth.dec();
                        batch.push((r, reply));
                    }
                    Ok(Command::Shutdown) => {}
                    Err(_) => break,
                }
            }
            if batch.is_empty() {
                break;
            }
            self.commit(&mut batch);
        }
        tracing::info!("writer stopped; every queued report committed");
    }

    /// Adds whatever is already queued to the batch, until it is full, the
    /// queue is empty, or the batch has been open for `linger` while reports
    /// kept arriving. A report never waits for company that is not there:
    /// under load, the reports that queued during the previous commit form
    /// the next batch. Returns true when a shutdown was asked for.
    fn fill(
        &mut self,
        batch: &mut Vec<(PendingReport, oneshot::Sender<Result<Ack, IngestError>>)>,
    ) -> bool {
        let deadline = Instant::now() + self.config.linger;
        while batch.len() < self.config.max_batch {
            match self.rx.try_recv() {
                Ok(Command::Report(r, reply)) => {
                    self.metrics.queue_depth.dec();
                    batch.push((r, reply));
                }
                Ok(Command::Shutdown) | Err(TryRecvError::Disconnected) => return true,
                Err(TryRecvError::Empty) => return false,
            }
            if !self.config.linger.is_zero() && Instant::now() >= deadline {
                return false;
            }
        }
        false
    }

    fn commit(
        &mut self,
        batch: &mut Vec<(PendingReport, oneshot::Sender<Result<Ack, IngestError>>)>,
    ) {
        if batch.is_empty() {
            return;
        }
        let mut pending_dedup: HashMap<(i64, [u8; 16]), i64> = HashMap::new();
        let rows: Vec<NewReport> = batch
            .iter()
            .map(|(r, _)| {
                let counted = self.dedup.counts(&pending_dedup, r);
                if counted {
                    pending_dedup.insert((r.service_id, r.reporter), r.received_ms);
                }
                NewReport {
                    service_id: r.service_id,
                    received_ms: r.received_ms,
                    category: r.category.clone(),
                    error_code: r.error_code,
                    region: r.region,
                    platform: r.platform.clone(),
                    comment: r.comment.clone(),
                    reporter: r.reporter,
                    counted,
                }
            })
            .collect();
        let started = Instant::now();
        let result = store::commit_batch(&mut self.conn, &rows);
        self.metrics
            .commit_seconds
            .observe(started.elapsed().as_secs_f64());
        match result {
            Ok(ids) => {
                self.healthy.store(true, Ordering::Relaxed);
                self.metrics.batch_size.observe(rows.len() as f64);
                self.dedup.remember(pending_dedup);
                for ((_, reply), (row, id)) in batch.drain(..).zip(rows.iter().zip(ids)) {
                    if row.counted {
                        self.metrics.reports_counted.inc();
                    } else {
                        self.metrics.reports_duplicate.inc();
                    }
                    // The client may have gone; the report is stored either way.
                    let _ = reply.send(Ok(Ack {
                        id,
                        counted: row.counted,
                        minute: row.minute(),
                    }));
                }
            }
            Err(e) => {
                self.healthy.store(false, Ordering::Relaxed);
                self.metrics.commit_failures.inc();
                tracing::error!(
                    error = %crate::error::chain(&e),
                    reports = rows.len(),
                    "a report batch failed to commit; answering 503"
                );
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(Err(IngestError::Storage));
                }
            }
        }
    }

    fn probe_if_unhealthy(&mut self) {
        if self.healthy.load(Ordering::Relaxed) {
            return;
        }
        match store::check_writable(&self.conn) {
            Ok(()) => {
                tracing::info!("the database is writable again");
                self.healthy.store(true, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::warn!(error = %crate::error::chain(&e), "the database is still not writable")
            }
        }
    }
}

/// The running writer: ask it to stop, then wait until it has committed
/// everything queued.
pub struct WriterThread {
    tx: SyncSender<Command>,
    join: JoinHandle<()>,
}

impl WriterThread {
    /// Blocks until every report queued before this call is committed.
    pub fn shutdown(self) {
        // A full queue makes this wait for room; the writer is draining it.
        let _ = self.tx.send(Command::Shutdown);
        drop(self.tx);
        if self.join.join().is_err() {
            tracing::error!("the writer thread panicked");
        }
    }
}
