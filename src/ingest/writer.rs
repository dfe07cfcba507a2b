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

use super::mailbox::{Answerer, Mailbox};
use super::networks::{BatchNetworks, NetworkTally};
use crate::clock::Clock;
use crate::domain::Minute;
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
pub type PendingReport = store::Report;

/// What the writer answers once a report is committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    pub id: i64,
    pub counting: Counting,
    pub minute: Minute,
}

/// Whether a stored report counts, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counting {
    Counted,
    /// The same reporter already counted for this service within the window.
    Duplicate,
    /// Its address already counted `dedup_max_per_address` reports for this
    /// service within the window (through several client tokens).
    AddressLimit,
}

impl Counting {
    pub fn counted(self) -> bool {
        self == Counting::Counted
    }

    /// Why it did not count, as the API says it; `None` if it did.
    pub fn reason(self) -> Option<&'static str> {
        match self {
            Counting::Counted => None,
            Counting::Duplicate => Some("duplicate"),
            Counting::AddressLimit => Some("address_limit"),
        }
    }
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

pub(super) type AckReply = oneshot::Sender<Result<Ack, IngestError>>;
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

/// Remembers, per (service, reporter), when that reporter last counted.
/// Hashes (service, reporter) keys cheaply. Safe without a random seed
/// because a reporter id is an HMAC output under a secret key: clients cannot
/// choose ids that collide, so there is no hash flooding to defend against.
#[derive(Default, Clone, Copy)]
pub(super) struct ReporterHasher(u64);

impl std::hash::Hasher for ReporterHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_i64(&mut self, n: i64) {
        self.write_u64(n as u64);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A reporter or a source of one service: (service id, keyed hash).
type Key = (i64, [u8; 16]);
type ReporterMap = HashMap<Key, i64, std::hash::BuildHasherDefault<ReporterHasher>>;
/// The times a source counted within the window, oldest first, at most
/// `dedup_max_per_address` of them.
type SourceMap = HashMap<Key, Vec<i64>, std::hash::BuildHasherDefault<ReporterHasher>>;

/// What one batch has decided so far; remembered only once it commits.
#[derive(Default)]
struct BatchCounts {
    reporters: ReporterMap,
    sources: SourceMap,
}

/// How many maps the de-duplicator spreads reporters over. A hash map grows
/// by doubling and rehashing everything at once: one map of a million
/// reporters held the writer (and every acknowledgement) for 43 ms when it
/// grew, 28 ms at half a million. Shards grow one at a time, each a 64th of
/// the size, and are pruned one at a time too.
const DEDUP_SHARDS: usize = 64;

struct Deduplicator {
    window_ms: i64,
    /// Most reporters (and most sources) one shard holds: the bound on
    /// memory, spread evenly.
    shard_cap: usize,
    /// When each (service, reporter) last counted, spread by reporter byte.
    shards: Vec<ReporterMap>,
    /// Most counted reports per (service, source) within the window.
    per_source: usize,
    /// When each (service, source) counted within the window, spread like
    /// `shards`: what caps one address's share however many client tokens
    /// it makes up.
    sources: Vec<SourceMap>,
    /// Latest report time seen: drives pruning (the clock may be a test's).
    latest_ms: i64,
    /// When each shard was last pruned.
    pruned_ms: Vec<i64>,
    /// The shard the next pruning looks at.
    next_prune: usize,
}

impl Deduplicator {
    fn new(window_ms: i64, max_reporters: usize, per_source: usize, now_ms: i64) -> Self {
        Deduplicator {
            window_ms,
            shard_cap: max_reporters.div_ceil(DEDUP_SHARDS).max(1),
            shards: (0..DEDUP_SHARDS).map(|_| ReporterMap::default()).collect(),
            per_source: per_source.max(1),
            sources: (0..DEDUP_SHARDS).map(|_| SourceMap::default()).collect(),
            latest_ms: now_ms,
            pruned_ms: vec![now_ms; DEDUP_SHARDS],
            next_prune: 0,
        }
    }

    fn shard(&self, key: &Key) -> usize {
        // Reporter ids and sources are HMAC outputs: any byte is uniform.
        usize::from(key.1[15]) % DEDUP_SHARDS
    }

    fn within(&self, r: &PendingReport, t: i64) -> bool {
        (r.received_ms - t).abs() < self.window_ms
    }

    /// Decides whether `r` counts, given what is remembered and what this
    /// batch has decided before it, and adds a counted report to `batch`.
    fn decide(&self, batch: &mut BatchCounts, r: &PendingReport) -> Counting {
        let key = (r.service_id, r.reporter);
        let prev = batch
            .reporters
            .get(&key)
            .or_else(|| self.shards[self.shard(&key)].get(&key));
        if prev.is_some_and(|&t| self.within(r, t)) {
            return Counting::Duplicate;
        }
        if let Some(source) = r.source {
            let skey = (r.service_id, source);
            let recent = |times: Option<&Vec<i64>>| {
                times.map_or(0, |ts| ts.iter().filter(|&&t| self.within(r, t)).count())
            };
            let used = recent(self.sources[self.shard(&skey)].get(&skey))
                + recent(batch.sources.get(&skey));
            if used >= self.per_source {
                return Counting::AddressLimit;
            }
            batch.sources.entry(skey).or_default().push(r.received_ms);
        }
        batch.reporters.insert(key, r.received_ms);
        Counting::Counted
    }

    /// Remembers that `key`'s source counted at `times`, keeping only the
    /// latest `per_source` (the older ones can no longer decide anything).
    /// False, like [`Deduplicator::insert`], when a new source finds its
    /// shard full.
    fn insert_source(&mut self, key: Key, times: &[i64]) -> bool {
        let (cap, per_source) = (self.shard_cap, self.per_source);
        let i = self.shard(&key);
        let shard = &mut self.sources[i];
        if !shard.contains_key(&key) && shard.len() >= cap {
            return false;
        }
        let kept = shard.entry(key).or_default();
        kept.extend_from_slice(times);
        kept.sort_unstable();
        let excess = kept.len().saturating_sub(per_source);
        kept.drain(..excess);
        if let Some(&latest) = kept.last() {
            self.latest_ms = self.latest_ms.max(latest);
        }
        true
    }

    /// Remembers that `key` counted at `t`. A new reporter is not remembered
    /// when its shard is full (false): its report has counted, but a repeat
    /// within the window will count again. Memory stays bounded however many
    /// distinct reporters arrive; pruning makes room as windows pass.
    fn insert(&mut self, key: (i64, [u8; 16]), t: i64) -> bool {
        self.latest_ms = self.latest_ms.max(t);
        let cap = self.shard_cap;
        let i = self.shard(&key);
        let shard = &mut self.shards[i];
        if let Some(slot) = shard.get_mut(&key) {
            *slot = (*slot).max(t);
            return true;
        }
        if shard.len() >= cap {
            return false;
        }
        shard.insert(key, t);
        true
    }

    fn len(&self) -> usize {
        self.shards.iter().map(HashMap::len).sum()
    }

    /// Remembers a batch's counted reporters and sources; returns how many
    /// reporters could not be. A source has at most as many entries as
    /// reporters and the same bound, so it fills no sooner: a source not
    /// remembered (its address may count again) comes with reporters not
    /// remembered, which the metrics and the warning show.
    fn remember(&mut self, batch: BatchCounts) -> usize {
        let mut unremembered = 0;
        for (key, t) in batch.reporters {
            unremembered += usize::from(!self.insert(key, t));
        }
        for (key, times) in batch.sources {
            self.insert_source(key, &times);
        }
        // Drop reporters and sources whose window has passed: each batch
        // looks at one shard, in turn, and prunes it if it has not been for
        // window/4.
        let i = self.next_prune;
        if self.latest_ms - self.pruned_ms[i] >= self.window_ms / 4 {
            let cutoff = self.latest_ms - self.window_ms;
            self.shards[i].retain(|_, t| *t > cutoff);
            self.sources[i].retain(|_, times| times.last().is_some_and(|t| *t > cutoff));
            self.pruned_ms[i] = self.latest_ms;
        }
        self.next_prune = (i + 1) % DEDUP_SHARDS;
        unremembered
    }
}

pub struct GroupCommitWriter {
    conn: Connection,
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
        conn: Connection,
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
        let result = store::commit_batch(&mut self.conn, &rows, &[]);
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
        let mut networks = BatchNetworks::default();
        let mut replies = Vec::with_capacity(batch.len());
        let mut rows = Vec::with_capacity(batch.len());
        for (r, reply, mailbox) in batch.drain(..) {
            let counting = self.dedup.decide(&mut decided, &r);
            // Counted before the commit: if it fails, the tally holds reports
            // that were not stored, which only counts fewer networks and a
            // larger provider share (see `networks`).
            if let (true, Some(keys)) = (counting.counted(), r.network) {
                self.networks
                    .count(&mut networks, r.service_id, r.minute().unix(), keys);
            }
            rows.push(NewReport {
                report: r,
                counted: counting.counted(),
            });
            replies.push((reply, mailbox, counting));
        }
        let networks: Vec<_> = networks.into_values().collect();
        let started = Instant::now();
        let result = store::commit_batch(&mut self.conn, &rows, &networks);
        self.metrics
            .commit_seconds
            .observe(started.elapsed().as_secs_f64());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Category;

    fn report(reporter: u8, at_ms: i64) -> PendingReport {
        let mut id = [0u8; 16];
        id[0] = reporter;
        id[15] = reporter.wrapping_mul(37);
        PendingReport {
            service_id: 1,
            received_ms: at_ms,
            category: Category::parse("login").unwrap(),
            error_code: None,
            region: None,
            platform: None,
            comment: None,
            reporter: id,
            source: None,
            network: None,
        }
    }

    /// A report from `source` (an address) with client token `token`.
    fn from_source(source: u8, token: u8, at_ms: i64) -> PendingReport {
        let mut r = report(token, at_ms);
        r.reporter[1] = source;
        let mut s = [0u8; 16];
        s[0] = source;
        s[15] = source.wrapping_mul(53);
        r.source = Some(s);
        r
    }

    /// What the writer does with one batch: decide, then remember.
    fn decide(d: &mut Deduplicator, reports: &[PendingReport]) -> Vec<Counting> {
        let mut decided = BatchCounts::default();
        let out = reports.iter().map(|r| d.decide(&mut decided, r)).collect();
        d.remember(decided);
        out
    }

    fn batch(d: &mut Deduplicator, reports: &[PendingReport]) -> Vec<bool> {
        decide(d, reports)
            .into_iter()
            .map(Counting::counted)
            .collect()
    }

    #[test]
    fn a_full_shard_counts_new_reporters_without_remembering_them() {
        // One reporter per shard, and two reporters that land in the same one.
        let mut d = Deduplicator::new(900_000, DEDUP_SHARDS, 3, 0);
        let first = report(1, 0);
        let same_shard = (2..=255u8)
            .map(|i| report(i, 5))
            .find(|r| d.shard(&(1, r.reporter)) == d.shard(&(1, first.reporter)))
            .expect("two reporters in one shard");
        assert_eq!(batch(&mut d, std::slice::from_ref(&first)), [true]);
        let mut decided = BatchCounts::default();
        decided.reporters.insert((1, same_shard.reporter), 5);
        assert_eq!(d.remember(decided), 1, "the shard was full");
        // The remembered one is still a duplicate; the other counts again.
        let again = |r: &PendingReport| PendingReport {
            received_ms: 10,
            ..r.clone()
        };
        assert_eq!(
            batch(&mut d, &[again(&first), again(&same_shard)]),
            [false, true]
        );
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn a_reporter_counts_once_per_window_within_and_across_batches() {
        let window = 900_000;
        let mut d = Deduplicator::new(window, 1 << 20, 3, 0);
        assert_eq!(batch(&mut d, &[report(1, 0), report(1, 10)]), [true, false]);
        assert_eq!(
            batch(&mut d, &[report(1, window - 1), report(2, 5)]),
            [false, true]
        );
        assert_eq!(batch(&mut d, &[report(1, window)]), [true]);
    }

    #[test]
    fn old_reporters_are_pruned_shard_by_shard() {
        let window = 1_000;
        let mut d = Deduplicator::new(window, 1 << 20, 3, 0);
        let first: Vec<_> = (0..=255u8).map(|i| report(i, 0)).collect();
        batch(&mut d, &first);
        assert_eq!(d.len(), 256);
        // A window later, one batch per shard visits every shard once.
        for k in 0..DEDUP_SHARDS as i64 {
            batch(&mut d, &[report(0, 2 * window + k)]);
        }
        assert_eq!(d.len(), 1, "only the reporter still inside its window");
    }

    #[test]
    fn an_address_counts_its_share_per_window_whatever_its_tokens() {
        use Counting::{AddressLimit, Counted, Duplicate};
        let window = 900_000;
        let mut d = Deduplicator::new(window, 1 << 20, 2, 0);
        // Two tokens count, the third is over the address's share, within a
        // batch as across batches; a repeat is a duplicate and uses none.
        assert_eq!(
            decide(&mut d, &[from_source(1, 1, 0), from_source(1, 1, 1)]),
            [Counted, Duplicate]
        );
        assert_eq!(
            decide(
                &mut d,
                &[
                    from_source(1, 2, 10),
                    from_source(1, 3, 20),
                    from_source(2, 3, 20)
                ]
            ),
            [Counted, AddressLimit, Counted]
        );
        assert_eq!(decide(&mut d, &[from_source(1, 4, 30)]), [AddressLimit]);
        // The window slides: once the first has aged out, one more counts.
        assert_eq!(
            decide(
                &mut d,
                &[from_source(1, 4, window), from_source(1, 5, window + 1)]
            ),
            [Counted, AddressLimit]
        );
        assert_eq!(decide(&mut d, &[from_source(1, 5, window + 10)]), [Counted]);
        // Another service is another share.
        let mut other = from_source(1, 9, window + 20);
        other.service_id = 2;
        assert_eq!(decide(&mut d, &[other]), [Counted]);
    }

    #[test]
    fn reports_without_a_source_have_no_address_share() {
        let mut d = Deduplicator::new(900_000, 1 << 20, 1, 0);
        let reports: Vec<_> = (0..5u8).map(|i| report(i, 0)).collect();
        assert_eq!(batch(&mut d, &reports), [true; 5]);
    }

    #[test]
    fn old_sources_are_pruned_with_their_shard() {
        let window = 1_000;
        let mut d = Deduplicator::new(window, 1 << 20, 1, 0);
        let first: Vec<_> = (0..=255u8).map(|i| from_source(i, 0, 0)).collect();
        batch(&mut d, &first);
        let held = |d: &Deduplicator| d.sources.iter().map(HashMap::len).sum::<usize>();
        assert_eq!(held(&d), 256);
        for k in 0..DEDUP_SHARDS as i64 {
            batch(&mut d, &[report(0, 2 * window + k)]);
        }
        assert_eq!(held(&d), 0);
    }
}
