//! The live detector: a thread that, as each minute closes, feeds every
//! service's count to its [`SeriesDetector`], records the baseline, band and
//! score of the minute, and writes event changes. It catches up on start and
//! after an import, and keeps each service's status for the API.
//!
//! The detector itself is pure (`crate::detect`); this module is the loop
//! around it: when a minute counts as closed, where counts come from, where
//! conclusions go.
//!
//! Before an event change is written, the network gate (`alert::gate`)
//! reads where the event's reports came from: an event from too few
//! networks is stored as `concentrated` and announced to no one, until (if
//! ever) its minutes bring the crowd; then it is announced as it stands.
//!
//! After the event changes, in the same transaction, the incident pass
//! (`incidents.rs`, around the pure `crate::incident`) groups the outages
//! open or recently resolved across services into incidents and records
//! each event's attribution and every change.
//!
//! Restarts: every service's detector memory is saved every
//! `SAVE_EVERY_MINUTES` and at shutdown. On start the monitor restores it and
//! replays the minutes since from `report_minutes`; the detector is
//! deterministic and events are keyed by (service, detector sequence number),
//! so the replay updates the same events instead of opening new ones.

mod board;
mod incidents;
mod lead;
mod memory;

pub use board::{BoardChange, ServiceStatus, StatusBoard};

use crate::alert::follow::follow;
use crate::alert::outbox::{announce, judge, AnnouncedChange};
use crate::alert::AlertSettings;
use crate::clock::Clock;
use crate::detect::{
    DetectorParams, Event, EventChange, Observation, SeriesDetector, SeriesState, Tuning,
};
use crate::domain::{MessageKind, Minute};
use crate::incident::IncidentSettings;
use crate::store::Db;
use crate::store::{self, Context as _, DetectorMinute, StoreError};
use incidents::IncidentPass;
use lead::Lead;
use memory::{memory, save, Tracked};
use std::collections::{HashMap, HashSet};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::oneshot;

/// Minutes processed in one transaction while catching up. Between two
/// chunks of a replay, the services that are not replaying get their newly
/// closed minutes, so a long replay holds up no one else for longer.
const CHUNK_MINUTES: i64 = 1440;
/// How often (in processed minutes) a detector's memory is saved.
const SAVE_EVERY_MINUTES: i64 = 15;
/// The live detector works in one-minute buckets.
const STEP_SECS: i64 = 60;

#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("the detector could not read or write the database")]
    Store(#[from] StoreError),
    #[error("the detector's parameters cannot build a detector")]
    Parameters(#[from] crate::detect::TuningError),
    #[error("the detector has stopped")]
    Stopped,
}

type Reply = oneshot::Sender<Result<(), StoreError>>;

enum Command {
    /// Process every closed minute now.
    CatchUp(Reply),
    /// History was imported: (service, first imported minute). Services
    /// whose detector is already past that minute relearn from scratch.
    Imported(Vec<(i64, i64)>, Reply),
    Shutdown,
}

/// How the HTTP side talks to the monitor.
#[derive(Clone)]
pub struct MonitorHandle {
    tx: Sender<Command>,
    pub board: Arc<StatusBoard>,
}

impl MonitorHandle {
    /// Returns once every minute closed by now has been processed.
    pub async fn catch_up(&self) -> Result<(), MonitorError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::CatchUp(reply))
            .map_err(|_| MonitorError::Stopped)?;
        Self::wait(rx).await
    }

    /// Runs the detector over imported history: `first_minutes` holds each
    /// service's first imported minute. A service whose detector has already
    /// judged that minute relearns from its first minute (its events are
    /// found again); the others just catch up.
    pub async fn imported(&self, first_minutes: Vec<(i64, i64)>) -> Result<(), MonitorError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Imported(first_minutes, reply))
            .map_err(|_| MonitorError::Stopped)?;
        Self::wait(rx).await
    }

    async fn wait(rx: oneshot::Receiver<Result<(), StoreError>>) -> Result<(), MonitorError> {
        match rx.await {
            Ok(result) => Ok(result?),
            Err(_) => Err(MonitorError::Stopped),
        }
    }
}

/// What the detectors made of a run of minutes, to be written together.
#[derive(Default)]
struct Findings {
    /// Each minute's baseline, band, score and status.
    minutes: Vec<DetectorMinute>,
    /// Event changes, in the order they happened.
    changes: Vec<Change>,
    /// Each service's open event after the run, with its running totals.
    open: Vec<(i64, Event)>,
    /// Detector memories due to be saved.
    memories: Vec<Memory>,
    /// Where each service stands after the run.
    statuses: Vec<(i64, ServiceStatus)>,
}

/// One change of one event, as of the minute it happened.
struct Change {
    service_id: i64,
    event: Event,
    kind: MessageKind,
    /// The new wave's number, for a wave.
    wave: usize,
    minute: i64,
}

/// A detector's memory to save: its state as JSON, as of its last minute.
struct Memory {
    service_id: i64,
    last: i64,
    state: String,
}

/// The running monitor thread.
pub struct MonitorThread {
    tx: Sender<Command>,
    join: JoinHandle<()>,
}

impl MonitorThread {
    /// Saves every detector's memory and stops.
    pub fn shutdown(self) {
        let _ = self.tx.send(Command::Shutdown);
        if self.join.join().is_err() {
            tracing::error!("the detector thread panicked");
        }
    }
}

pub struct Monitor {
    conn: Db,
    alerts: AlertSettings,
    clock: Arc<dyn Clock>,
    /// The detectors' shared tuning (parameters at one-minute steps).
    tuning: Tuning,
    /// A minute counts as closed this long after its end, so reports
    /// acknowledged in its last milliseconds are in the count.
    grace: Duration,
    /// How far back a detector that starts afresh (a new service, or one
    /// relearning after an import) replays: the bound on one replay's work.
    replay_max: Duration,
    tracked: HashMap<i64, Tracked>,
    /// Saved memories not yet claimed by a service, from the last start.
    saved: HashMap<i64, (i64, String)>,
    board: Arc<StatusBoard>,
    /// Incidents across services, judged after each run of minutes.
    incidents: IncidentPass,
    /// Whether this node detects, or follows the node that does.
    lead: Lead,
    /// The leader's last mark a follower showed.
    board_seen: Option<Vec<u8>>,
}

impl Monitor {
    /// Starts the monitor thread on its own write connection.
    pub fn spawn(
        conn: Db,
        clock: Arc<dyn Clock>,
        params: DetectorParams,
        grace: Duration,
        replay_max: Duration,
        alerts: AlertSettings,
        incident_settings: IncidentSettings,
    ) -> Result<(MonitorHandle, MonitorThread), MonitorError> {
        // Parameters that cannot build a detector: refuse to start rather than
        // run blind.
        let tuning = Tuning::new(&params, STEP_SECS)?;
        let saved = store::load_detector_states(&conn)?
            .into_iter()
            .map(|(id, last, state)| (id, (last, state)))
            .collect();
        let incidents = IncidentPass::load(&conn, incident_settings)?;
        let lead = Lead::of(&conn);
        // Pages show the statuses last written from the first request on:
        // the first step may be a long catch-up.
        let board_seen = match lead {
            Lead::Following => store::board_version(&conn)?,
            Lead::Alone | Lead::Leading => None,
        };
        let board = Arc::new(StatusBoard::default());
        lead::show_stored(&conn, &board)?;
        let (tx, rx) = mpsc::channel();
        let monitor = Monitor {
            conn,
            alerts,
            clock,
            tuning,
            grace,
            replay_max,
            tracked: HashMap::new(),
            saved,
            board: board.clone(),
            incidents,
            lead,
            board_seen,
        };
        let join = std::thread::Builder::new()
            .name("downwave-detector".into())
            .spawn(move || monitor.run(rx))
            .map_err(|source| StoreError::Thread {
                what: "detector",
                source,
            })?;
        Ok((
            MonitorHandle {
                tx: tx.clone(),
                board,
            },
            MonitorThread { tx, join },
        ))
    }

    fn run(mut self, rx: Receiver<Command>) {
        if let Err(e) = self.step(true) {
            tracing::error!(error = %crate::error::chain(&e), "detector catch-up failed");
        }
        loop {
            match rx.recv_timeout(Duration::from_secs(1)) {
                Ok(Command::CatchUp(reply)) => {
                    let _ = reply.send(self.step(true));
                }
                Ok(Command::Imported(first_minutes, reply)) => {
                    let r = if self.lead == Lead::Following {
                        // Imports keep coming: a follower still tries the
                        // lead at each, not only when the queue is quiet.
                        store::request_rewinds(&self.conn, &first_minutes)
                            .and_then(|()| self.step(false))
                    } else {
                        self.rewind(&first_minutes).and_then(|()| self.step(true))
                    };
                    let _ = reply.send(r);
                }
                Ok(Command::Shutdown) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    if let Err(e) = self.step(false) {
                        tracing::error!(error = %crate::error::chain(&e), "detector tick failed");
                    }
                }
            }
        }
        if let Err(e) = self.save_all() {
            tracing::error!(error = %crate::error::chain(&e), "saving detector state failed");
        }
        if self.lead == Lead::Leading {
            if let Err(e) = store::resign(&self.conn) {
                tracing::warn!(error = %crate::error::chain(&e), "giving up the leadership failed");
            }
        }
        tracing::info!("detector stopped; state saved");
    }

    /// The start of the last minute that has closed (with the grace period).
    fn last_closed_minute(&self) -> i64 {
        let now = self.clock.now().timestamp() - self.grace.as_secs() as i64;
        Minute::from_unix(now).unix() - STEP_SECS
    }

    /// Imported history from `first_minutes` (service, first imported
    /// minute): a service whose detector is already past it relearns.
    fn rewind(&mut self, first_minutes: &[(i64, i64)]) -> Result<(), StoreError> {
        let behind: Vec<i64> = first_minutes
            .iter()
            .filter(|(id, first)| {
                self.tracked.get(id).is_some_and(|t| t.last >= *first)
                    || self.saved.get(id).is_some_and(|(last, _)| last >= first)
            })
            .map(|(id, _)| *id)
            .collect();
        self.reset(&behind)
    }

    fn reset(&mut self, services: &[i64]) -> Result<(), StoreError> {
        let tx = self.write_tx("starting a detector reset")?;
        for &id in services {
            store::reset_detector(&tx, id)?;
        }
        tx.commit().context("committing a detector reset")?;
        for id in services {
            self.tracked.remove(id);
            self.saved.remove(id);
            self.board.remove(*id);
        }
        Ok(())
    }

    /// Brings every service's detector up to the last closed minute. Looks
    /// for new services when a minute has closed, or always with `force_scan`.
    fn tick(&mut self, force_scan: bool) -> Result<(), StoreError> {
        let result = self.run_tick(force_scan);
        self.board.publish(self.last_closed_minute());
        result
    }

    fn run_tick(&mut self, force_scan: bool) -> Result<(), StoreError> {
        let closed = self.last_closed_minute();
        if !force_scan
            && !self.tracked.is_empty()
            && self.tracked.values().all(|t| t.last >= closed)
        {
            // Nothing new closed; look for new services only once a minute.
            return Ok(());
        }
        for service in store::list_services(&self.conn)? {
            if !self.tracked.contains_key(&service.id) {
                let tracked = self.track(service.id, closed)?;
                self.tracked.insert(service.id, tracked);
            }
        }
        loop {
            // First the services at most a chunk behind, up to the minute
            // that has closed now (it moves on while a replay runs), then
            // one chunk of the services further behind.
            let closed = self.last_closed_minute();
            let live_from = closed - CHUNK_MINUTES * STEP_SECS;
            let live = self.services_behind(live_from, closed);
            if let Some(from) = self.oldest_last(&live) {
                self.process(&live, from, closed, false)?;
            }
            let replaying = self.services_behind(i64::MIN, live_from);
            let Some(from) = self.oldest_last(&replaying) else {
                break;
            };
            let until = (from + CHUNK_MINUTES * STEP_SECS).min(live_from);
            let chunk = self.services_behind(i64::MIN, until);
            self.process(&chunk, from, until, true)?;
        }
        // Every replay has caught up: events still set aside by a rewind
        // (this one's, or one a restart cut short) were not found again.
        for service_id in store::services_with_set_aside_events(&self.conn)? {
            self.drop_events_not_found(service_id)?;
        }
        Ok(())
    }

    /// The services whose detector's last minute is in `[from, until)`.
    fn services_behind(&self, from: i64, until: i64) -> HashSet<i64> {
        self.tracked
            .iter()
            .filter(|(_, t)| (from..until).contains(&t.last))
            .map(|(&id, _)| id)
            .collect()
    }

    /// The earliest last minute among `services`.
    fn oldest_last(&self, services: &HashSet<i64>) -> Option<i64> {
        services
            .iter()
            .filter_map(|id| self.tracked.get(id))
            .map(|t| t.last)
            .min()
    }

    /// Drops a service's events that its replay did not find again.
    /// Subscribers told of one's opening are told it is resolved (as of now)
    /// first, so that no incident stays open for good.
    fn drop_events_not_found(&mut self, service_id: i64) -> Result<(), StoreError> {
        let now = self.clock.now();
        let tx = self.write_tx("starting to drop events")?;
        let ids = store::set_aside_event_ids(&tx, service_id)?;
        if ids.is_empty() {
            return Ok(());
        }
        let resolved_at = Minute::from_unix(now.timestamp()).unix();
        let mut announced = 0;
        for &id in &ids {
            store::resolve_event(&tx, id, resolved_at)?;
            let change = AnnouncedChange {
                event_id: id,
                kind: MessageKind::Resolved,
                wave: 0,
                withdrawn: true,
                minute: resolved_at,
            };
            announced += announce(&tx, &self.alerts, change, now)?;
        }
        store::drop_set_aside_events(&tx, service_id)?;
        tx.commit().context("dropping events")?;
        tracing::info!(
            service_id,
            dropped = ids.len(),
            resolutions = announced,
            "events not found again by the replay dropped"
        );
        if announced > 0 {
            self.alerts.wake.notify_one();
        }
        Ok(())
    }

    /// A detector for a service not yet followed: its saved memory if that
    /// still fits, else a new one starting at its first counted minute.
    fn track(&mut self, service_id: i64, closed: i64) -> Result<Tracked, StoreError> {
        if let Some((last, json)) = self.saved.remove(&service_id) {
            let restored = serde_json::from_str::<SeriesState>(&json)
                .map_err(|e| e.to_string())
                .and_then(|state| {
                    SeriesDetector::from_state(&self.tuning, state).map_err(|e| e.to_string())
                });
            match restored {
                Ok(detector) => {
                    // The board shows its last status (from the start)
                    // until its next minute closes.
                    return Ok(Tracked {
                        detector,
                        last,
                        unsaved: 0,
                    });
                }
                Err(e) => {
                    tracing::warn!(service_id, error = %e, "saved detector state does not fit; relearning");
                    store::reset_detector(&self.conn, service_id)?;
                    self.board.remove(service_id);
                }
            }
        }
        let detector = SeriesDetector::new(&self.tuning);
        // History older than the replay bound stays stored but is not walked.
        let earliest = Minute::from_unix(closed - self.replay_max.as_secs() as i64).unix();
        let last = match store::first_minute(&self.conn, service_id)? {
            Some(first) => first.max(earliest) - STEP_SECS,
            None => closed,
        };
        Ok(Tracked {
            detector,
            last,
            unsaved: 0,
        })
    }

    /// Processes minutes up to `until` for `services` (none of which is
    /// before `from`): runs the detectors first, then writes what they found
    /// in one transaction, so the write lock, which report batches wait for,
    /// is held only for the writing; then updates the status board.
    fn process(
        &mut self,
        services: &HashSet<i64>,
        from: i64,
        until: i64,
        catching_up: bool,
    ) -> Result<(), StoreError> {
        let mut counts: HashMap<(i64, i64), u64> = HashMap::new();
        for (service, minute, n) in store::minute_totals(&self.conn, from, until)? {
            counts.insert((service, minute), n);
        }
        let mut found = self.run_detectors(services, &counts, until, catching_up)?;
        let concentrated = self.write(&found, until)?;
        for (service_id, status) in &mut found.statuses {
            status.concentrated = concentrated.get(service_id).copied().unwrap_or(false);
        }
        self.board.set_all(found.statuses);
        Ok(())
    }

    /// Feeds each of `services`' detectors its counts of the minutes after
    /// its last, up to `until`.
    fn run_detectors(
        &mut self,
        services: &HashSet<i64>,
        counts: &HashMap<(i64, i64), u64>,
        until: i64,
        catching_up: bool,
    ) -> Result<Findings, StoreError> {
        let mut found = Findings::default();
        for (&service_id, t) in self.tracked.iter_mut() {
            if !services.contains(&service_id) {
                continue;
            }
            let mut last_obs: Option<Observation> = None;
            let mut minute = t.last + STEP_SECS;
            while minute <= until {
                let count = counts.get(&(service_id, minute)).copied().unwrap_or(0);
                let obs = t.detector.observe(&self.tuning, minute, count);
                found.minutes.push(DetectorMinute {
                    service_id,
                    minute,
                    baseline: obs.expected,
                    upper: obs.band,
                    score: obs.score,
                    status: obs.status,
                });
                if let Some(change) = obs.change {
                    let (event, kind, wave) = match change {
                        EventChange::Opened { .. } | EventChange::Updated { .. } => {
                            (t.detector.open_event(), MessageKind::Opened, 0)
                        }
                        EventChange::NewWave { wave, .. } => {
                            (t.detector.open_event(), MessageKind::Wave, wave)
                        }
                        EventChange::Resolved { .. } => {
                            (t.detector.last_resolved(), MessageKind::Resolved, 0)
                        }
                    };
                    if let Some(event) = event {
                        found.changes.push(Change {
                            service_id,
                            event: event.clone(),
                            kind,
                            wave,
                            minute,
                        });
                    }
                }
                last_obs = Some(obs);
                t.unsaved += 1;
                minute += STEP_SECS;
            }
            let Some(obs) = last_obs else { continue };
            t.last = until;
            // Keep the open event's running totals current.
            if let Some(open) = t.detector.open_event() {
                found.open.push((service_id, open.clone()));
            }
            if t.unsaved >= SAVE_EVERY_MINUTES || catching_up {
                found.memories.push(Memory {
                    service_id,
                    last: t.last,
                    state: memory(t)?,
                });
                t.unsaved = 0;
            }
            found.statuses.push((
                service_id,
                ServiceStatus {
                    status: obs.status,
                    minute: Minute::from_unix(obs.bucket_start),
                    count: obs.count,
                    baseline: obs.expected,
                    upper: obs.band,
                    score: obs.score,
                    concentrated: false,
                },
            ));
        }
        Ok(found)
    }

    /// Writes the detectors' findings in one transaction: event changes
    /// (through the network gate) with their announcements, the open events'
    /// running totals, the incident pass over them, memories due, and the
    /// detector minutes. Returns, per service with an open event, whether it
    /// is concentrated.
    fn write(&mut self, found: &Findings, until: i64) -> Result<HashMap<i64, bool>, StoreError> {
        let now = self.clock.now();
        let tx = self.write_tx("starting a detector transaction")?;
        let recent =
            |changed_at: i64| now.timestamp() - changed_at <= self.alerts.max_age.as_secs() as i64;
        let mut announced = 0;
        for c in &found.changes {
            let networks = judge(&tx, &self.alerts.gate, c.service_id, &c.event)?;
            let written = store::upsert_event(&tx, c.service_id, &c.event, &networks)?;
            // A concentrated event pages no one. Its resolution is queued all
            // the same: it goes only to subscriptions told of the opening.
            let pages = !written.concentrated || c.kind == MessageKind::Resolved;
            if pages && recent(c.minute + STEP_SECS) {
                let change = AnnouncedChange {
                    event_id: written.id,
                    kind: c.kind,
                    wave: c.wave,
                    withdrawn: false,
                    minute: c.minute,
                };
                announced += announce(&tx, &self.alerts, change, now)?;
            }
        }
        let mut concentrated = HashMap::new();
        for (service_id, event) in &found.open {
            let networks = judge(&tx, &self.alerts.gate, *service_id, event)?;
            let written = store::upsert_event(&tx, *service_id, event, &networks)?;
            concentrated.insert(*service_id, written.concentrated);
            // The crowd has come: announced now, as it stands.
            if written.promoted && recent(until + STEP_SECS) {
                let change = AnnouncedChange {
                    event_id: written.id,
                    kind: MessageKind::Opened,
                    wave: 0,
                    withdrawn: false,
                    minute: until,
                };
                announced += announce(&tx, &self.alerts, change, now)?;
            }
        }
        let busy = !found.changes.is_empty() || !found.open.is_empty();
        let assignment = self.incidents.run(&tx, until + STEP_SECS, busy)?;
        // Subscriptions that follow the cause hear of what the pass found.
        if assignment.is_some() && recent(until + STEP_SECS) {
            announced += follow(&tx, &self.alerts, until + STEP_SECS, now)?;
        }
        for m in &found.memories {
            store::save_detector_state(&tx, m.service_id, m.last, &m.state)?;
        }
        store::insert_detector_minutes(&tx, &found.minutes)?;
        tx.commit().context("committing detector results")?;
        if let Some(assignment) = assignment {
            self.incidents.keep(assignment);
        }
        if announced > 0 {
            self.alerts.wake.notify_one();
        }
        Ok(concentrated)
    }

    fn save_all(&mut self) -> Result<(), StoreError> {
        let now_ms = self.clock.now().timestamp_millis();
        let tx = lead::write_tx(
            &self.conn,
            self.lead,
            now_ms,
            "starting to save detector state",
        )?;
        for (&id, t) in self.tracked.iter_mut() {
            save(&tx, id, t)?;
        }
        tx.commit().context("saving detector state")
    }
}
