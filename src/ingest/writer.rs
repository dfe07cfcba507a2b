//! The group-commit writer: one thread owns the write connection, takes
//! reports off a bounded queue and commits them in batches: a batch closes
//! when it is full, when the queue is empty, or when it has been open for the
//! linger time, whichever comes first. Each report is answered only after
//! the transaction holding it has committed, so an acknowledgement means the
//! report is on disk.
//!
//! Counting is decided here too: the writer sees reports in the order they
//! are stored, so "first report of this reporter in the window" and "one of
//! the first few reports of this address in the window" are exact, with no
//! race between concurrent HTTP workers; and so is the tally of the networks
//! the counted reports came from (see [`super::networks`]).

use super::ack::{Ack, AckReply, Counting, IngestError, PendingReport};
use super::dedup::{BatchCounts, Deduplicator};
use super::mailbox::{Answerer, Mailbox};
use super::networks::{BatchNetworks, NetworkTally};
use crate::clock::Clock;
use crate::domain::Minute;
use crate::metrics::Metrics;
use crate::store::Db;
use crate::store::{self, NewReport, StoreError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

type Pending = (PendingReport, AckReply, Option<Mailbox>);

type ImportReply = oneshot::Sender<Result<usize, IngestError>>;
type Import = (Vec<PendingReport>, ImportReply);

enum Command {
    Report(PendingReport, AckReply, Option<Mailbox>),
    /// Imported history: committed as one transaction, every report counted.
    Import(Vec<PendingReport>, ImportReply),
    Shutdown,
}

#[derive(Debug, Clone)]
pub struct WriterConfig {
    pub queue_capacity: usize,
    pub max_batch: usize,
    pub linger: Duration,
    /// A reporter counts once per service within this window.
    pub dedup_window: Duration,
    /// Most reporters the de-duplicator holds; see [`Deduplicator::insert`].
    pub dedup_max_reporters: usize,
    /// Most reports of one address that count for one service within the
    /// window, whatever client tokens they carry.
    pub dedup_max_per_address: usize,
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
    /// With a mailbox (see [`super::local_mailbox`]) the answer comes through it.
    pub fn submit(
        &self,
        report: PendingReport,
        mailbox: Option<Mailbox>,
    ) -> Result<oneshot::Receiver<Result<Ack, IngestError>>, IngestError> {
        let (reply, rx) = oneshot::channel();
        self.metrics.queue_depth.inc();
        match self.tx.try_send(Command::Report(report, reply, mailbox)) {
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

    /// Queues imported history to be committed in one transaction; the
    /// receiver resolves to the number of reports stored.
    pub fn import(
        &self,
        reports: Vec<PendingReport>,
    ) -> Result<oneshot::Receiver<Result<usize, IngestError>>, IngestError> {
        let (reply, rx) = oneshot::channel();
        match self.tx.try_send(Command::Import(reports, reply)) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_)) => Err(IngestError::QueueFull),
            Err(TrySendError::Disconnected(_)) => Err(IngestError::ShuttingDown),
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

pub struct GroupCommitWriter {
    conn: Db,
    rx: Receiver<Command>,
    config: WriterConfig,
    dedup: Deduplicator,
    /// The networks behind each service's counted reports, per minute.
    networks: NetworkTally,
    metrics: Arc<Metrics>,
    healthy: Arc<AtomicBool>,
    /// The last batch was large: reports are arriving faster than single
    /// commits, so the next batch may linger to fill.
    under_load: bool,
    /// When the writer last warned that the de-duplicator was full.
    dedup_warned: Option<Instant>,
}

/// A batch at least this large means the writer is under load.
const LOAD_BATCH: usize = 8;

impl GroupCommitWriter {
    /// Starts the writer thread on an open write connection. The
    /// de-duplicator is warmed with the reporters already counted within the
    /// window, so a restart does not count them again.
    pub fn spawn(
        conn: Db,
        config: WriterConfig,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Result<(IngestHandle, WriterThread), StoreError> {
        let window_ms = config.dedup_window.as_millis() as i64;
        let now_ms = clock.now().timestamp_millis();
        let mut dedup = Deduplicator::new(
            window_ms,
            config.dedup_max_reporters,
            config.dedup_max_per_address,
            now_ms,
        );
        let mut networks = NetworkTally::new(
            super::network_window_secs(config.dedup_window),
            config.dedup_max_reporters,
        );
        for service in store::list_services(&conn)? {
            let since = now_ms - window_ms;
            // Past the cap, the rest of the window is simply forgotten.
            for (reporter, at) in store::recent_counted_reporters(&conn, service.id, since)? {
                dedup.insert((service.id, reporter), at);
            }
            for (source, at) in store::recent_counted_sources(&conn, service.id, since)? {
                dedup.insert_source((service.id, source), &[at]);
            }
            // From the start of the minute a window back: the provider
            // counts of that whole minute are in the window of the next.
            let since_minute = Minute::from_unix(since.div_euclid(1000)).unix() * 1000;
            for (keys, at) in store::recent_counted_networks(&conn, service.id, since_minute)? {
                let minute = Minute::from_unix(at.div_euclid(1000)).unix();
                networks.warm(service.id, minute, keys);
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
            dedup,
            networks,
            config,
            metrics,
            healthy,
            under_load: false,
            dedup_warned: None,
        };
        let join = std::thread::Builder::new()
            .name("downwave-writer".into())
            .spawn(move || writer.run())
            .map_err(|source| StoreError::Thread {
                what: "writer",
                source,
            })?;
        Ok((handle, WriterThread { tx, join }))
    }

    fn run(mut self) {
        let mut batch: Vec<Pending> = Vec::with_capacity(self.config.max_batch);
        // Once asked to stop, keep taking what is queued (it is owed an
        // answer) until the queue is empty, then return.
        let mut stopping = false;
        loop {
            let cmd = if stopping {
                self.rx.try_recv().ok()
            } else {
                match self.rx.recv_timeout(Duration::from_secs(1)) {
                    Ok(cmd) => Some(cmd),
                    Err(RecvTimeoutError::Timeout) => {
                        self.probe_if_unhealthy();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => None,
                }
            };
            let Some(cmd) = cmd else { break };
            let mut import = self.take(cmd, &mut batch, &mut stopping);
            if import.is_none() && !batch.is_empty() {
                import = self.fill(&mut batch, &mut stopping);
            }
            self.commit(&mut batch);
            if let Some((reports, reply)) = import {
                self.commit_import(reports, reply);
            }
        }
        tracing::info!("writer stopped; every queued report committed");
    }

    /// Files one command: a report joins the batch, a shutdown sets
    /// `stopping`, an import is handed back to be committed on its own.
    fn take(
        &mut self,
        cmd: Command,
        batch: &mut Vec<Pending>,
        stopping: &mut bool,
    ) -> Option<Import> {
        match cmd {
            Command::Report(r, reply, mailbox) => {
                self.metrics.queue_depth.dec();
                batch.push((r, reply, mailbox));
                None
            }
            Command::Import(reports, reply) => Some((reports, reply)),
            Command::Shutdown => {
                *stopping = true;
                None
            }
        }
    }

    /// Adds whatever is already queued to the batch, until it is full, the
    /// queue is empty, an import comes up, or the batch has been open for
    /// `linger` while reports kept arriving. A report never waits for
    /// company that is not there: under load, the reports that queued during
    /// the previous commit form the next batch.
    fn fill(&mut self, batch: &mut Vec<Pending>, stopping: &mut bool) -> Option<Import> {
        let deadline = Instant::now() + self.config.linger;
        while batch.len() < self.config.max_batch {
            let cmd = match self.rx.try_recv() {
                Ok(cmd) => cmd,
                Err(TryRecvError::Disconnected) => {
                    *stopping = true;
                    return None;
                }
                Err(TryRecvError::Empty) => {
                    // Under load, waiting a moment gathers a bigger batch and
                    // saves a sync per few reports; at low load, commit now.
                    let now = Instant::now();
                    if !self.under_load || *stopping || now >= deadline {
                        return None;
                    }
                    match self.rx.recv_timeout(deadline - now) {
                        Ok(cmd) => cmd,
                        Err(RecvTimeoutError::Timeout) => return None,
                        Err(RecvTimeoutError::Disconnected) => {
                            *stopping = true;
                            return None;
                        }
                    }
                }
            };
            if let Some(import) = self.take(cmd, batch, stopping) {
                return Some(import);
            }
        }
        None
    }

    /// Commits imported history as one transaction: all of it or none.
    /// Imported reports carry their own times and are all counted.
    fn commit_import(&mut self, reports: Vec<PendingReport>, reply: ImportReply) {
        let rows: Vec<NewReport> = reports
            .into_iter()
            .map(|report| NewReport {
                report,
                counted: true,
            })
            .collect();
        let result = store::commit_batch(&self.conn, &rows, &[]);
        if let Err(e) = &result {
            tracing::error!(error = %crate::error::chain(e), reports = rows.len(), "an import failed to commit");
        }
        let _ = reply.send(
            result
                .map(|ids| ids.len())
                .map_err(|_| IngestError::Storage),
        );
    }

    fn commit(&mut self, batch: &mut Vec<Pending>) {
        if batch.is_empty() {
            return;
        }
        self.under_load = batch.len() >= LOAD_BATCH;
        let mut decided = BatchCounts::default();
        let mut replies = Vec::with_capacity(batch.len());
        let mut rows = Vec::with_capacity(batch.len());
        for (r, reply, mailbox) in batch.drain(..) {
            let counting = self.dedup.decide(&mut decided, &r);
            rows.push(NewReport {
                report: r,
                counted: counting.counted(),
            });
            replies.push((reply, mailbox, counting));
        }
        let started = Instant::now();
        let window_ms = self.config.dedup_window.as_millis() as i64;
        let tally = &mut self.networks;
        let result = store::commit_claimed_batch(&self.conn, &mut rows, window_ms, |rows| {
            // Tallied before the commit: if it fails, the tally holds reports
            // that were not stored, which only counts fewer networks and a
            // larger provider share (see `networks`).
            let mut networks = BatchNetworks::default();
            for row in rows.iter().filter(|row| row.counted) {
                if let Some(keys) = row.report.network {
                    let r = &row.report;
                    tally.count(&mut networks, r.service_id, r.minute().unix(), keys);
                }
            }
            networks.into_values().collect()
        });
        self.metrics
            .commit_seconds
            .observe(started.elapsed().as_secs_f64());
        // Another node counted some reporters first: duplicates here.
        for ((_, _, counting), row) in replies.iter_mut().zip(&rows) {
            if counting.counted() && !row.counted {
                *counting = Counting::Duplicate;
                decided.withdraw(&row.report);
            }
        }
        match result {
            Ok(ids) => {
                self.healthy.store(true, Ordering::Relaxed);
                self.metrics.batch_size.observe(rows.len() as f64);
                let mut answers = Answerer::default();
                for ((reply, mailbox, counting), (row, id)) in
                    replies.into_iter().zip(rows.iter().zip(ids))
                {
                    match counting {
                        Counting::Counted => self.metrics.reports_counted.inc(),
                        Counting::Duplicate => self.metrics.reports_duplicate.inc(),
                        Counting::AddressLimit => self.metrics.reports_address_limited.inc(),
                    };
                    answers.add(
                        reply,
                        mailbox,
                        Ok(Ack {
                            id,
                            counting,
                            minute: row.report.minute(),
                        }),
                    );
                }
                answers.send();
                // After the answers: the next batch is decided on it, and
                // this one's clients need not wait for it.
                let unremembered = self.dedup.remember(decided);
                self.note_dedup(unremembered);
                self.networks.prune();
            }
            Err(e) => {
                self.healthy.store(false, Ordering::Relaxed);
                self.metrics.commit_failures.inc();
                tracing::error!(
                    error = %crate::error::chain(&e),
                    reports = rows.len(),
                    "a report batch failed to commit; answering 503"
                );
                let mut answers = Answerer::default();
                for (reply, mailbox, _) in replies {
                    answers.add(reply, mailbox, Err(IngestError::Storage));
                }
                answers.send();
            }
        }
    }

    /// Publishes the de-duplicator's size; warns (once a minute at most)
    /// when reporters could not be remembered.
    fn note_dedup(&mut self, unremembered: usize) {
        self.metrics.dedup_reporters.set(self.dedup.len() as i64);
        if unremembered == 0 {
            return;
        }
        self.metrics.dedup_unremembered.inc_by(unremembered as u64);
        let now = Instant::now();
        if self
            .dedup_warned
            .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(60))
        {
            self.dedup_warned = Some(now);
            tracing::warn!(
                max = self.config.dedup_max_reporters,
                unremembered,
                "the de-duplicator is full: new reporters count but are not remembered \
                 (raise dedup_max_reporters, or shorten dedup_window_secs)"
            );
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
