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
//! Restarts: every service's detector memory is saved every
//! `SAVE_EVERY_MINUTES` and at shutdown. On start the monitor restores it and
//! replays the minutes since from `report_minutes`; the detector is
//! deterministic and events are keyed by (service, detector sequence number),
//! so the replay updates the same events instead of opening new ones.

use crate::alert::gate::{self, GatePolicy};
use crate::clock::Clock;
use crate::detect::{
    DetectorParams, Event, EventChange, Observation, SeriesDetector, SeriesState, Status, Tuning,
};
use crate::domain::{MessageKind, Minute};
use crate::store::{self, Context as _, DetectorMinute, StoreError};
use rusqlite::Connection;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, RwLock};
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

/// Where one service stands after its last closed minute.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ServiceStatus {
    pub status: Status,
    /// The last closed minute the detector saw.
    pub minute: Minute,
    pub count: u64,
    pub baseline: f64,
    pub upper: f64,
    pub score: f64,
    /// The open event came from too few networks to page anyone.
    pub concentrated: bool,
}

impl ServiceStatus {
    /// The status people are shown: an outage from too few networks is
    /// `elevated` ("possible problems"), as it is to on-call, whom it does
    /// not page.
    pub fn shown(&self) -> Status {
        match self.status {
            Status::Outage if self.concentrated => Status::Elevated,
            s => s,
        }
    }
}

/// The latest status of every service, shared with the HTTP workers.
#[derive(Default)]
pub struct StatusBoard {
    by_service: RwLock<HashMap<i64, ServiceStatus>>,
    /// Bumped whenever the detector has written something (a minute
    /// processed, an event changed): pages derive their `ETag` from it.
    generation: AtomicU64,
}

impl StatusBoard {
    pub fn get(&self, service_id: i64) -> Option<ServiceStatus> {
        self.by_service.read().ok()?.get(&service_id).copied()
    }

    /// Changes whenever anything the detector wrote has changed.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn set_all(&self, updates: impl IntoIterator<Item = (i64, ServiceStatus)>) {
        if let Ok(mut map) = self.by_service.write() {
            map.extend(updates);
        }
        self.generation.fetch_add(1, Ordering::Release);
    }

    fn remove(&self, service_id: i64) {
        if let Ok(mut map) = self.by_service.write() {
            map.remove(&service_id);
        }
        self.generation.fetch_add(1, Ordering::Release);
    }
}

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

struct Tracked {
    detector: SeriesDetector,
    /// Start of the last minute processed.
    last: i64,
    /// Minutes processed since the memory was last saved.
    unsaved: i64,
}

/// What the monitor needs to announce event changes.
#[derive(Clone)]
pub struct AlertSettings {
    /// Base URL of the dashboard, for links in alerts.
    pub public_url: String,
    /// Changes older than this (by the clock) are recorded but not
    /// announced: replaying months of imported history must not page anyone.
    pub max_age: Duration,
    /// Rung after a commit that queued announcements.
    pub wake: Arc<tokio::sync::Notify>,
    /// What an event's networks must show before it pages anyone.
    pub gate: GatePolicy,
}

pub struct Monitor {
    conn: Connection,
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
}

impl Monitor {
    /// Starts the monitor thread on its own write connection.
    pub fn spawn(
        conn: Connection,
        clock: Arc<dyn Clock>,
        params: DetectorParams,
        grace: Duration,
        replay_max: Duration,
        alerts: AlertSettings,
    ) -> Result<(MonitorHandle, MonitorThread), MonitorError> {
        // Parameters that cannot build a detector: refuse to start rather than
        // run blind.
        let tuning = Tuning::new(&params, STEP_SECS)?;
        let saved = store::load_detector_states(&conn)?
            .into_iter()
            .map(|(id, last, state)| (id, (last, state)))
            .collect();
        let board = Arc::new(StatusBoard::default());
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
        if let Err(e) = self.tick(true) {
            tracing::error!(error = %crate::error::chain(&e), "detector catch-up failed");
        }
        loop {
            match rx.recv_timeout(Duration::from_secs(1)) {
                Ok(Command::CatchUp(reply)) => {
                    let _ = reply.send(self.tick(true));
                }
                Ok(Command::Imported(first_minutes, reply)) => {
                    let behind: Vec<i64> = first_minutes
                        .iter()
                        .filter(|(id, first)| {
                            self.tracked.get(id).is_some_and(|t| t.last >= *first)
                                || self.saved.get(id).is_some_and(|(last, _)| last >= first)
                        })
                        .map(|(id, _)| *id)
                        .collect();
                    let r = self.reset(&behind).and_then(|()| self.tick(true));
                    let _ = reply.send(r);
                }
                Ok(Command::Shutdown) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    if let Err(e) = self.tick(false) {
                        tracing::error!(error = %crate::error::chain(&e), "detector tick failed");
                    }
                }
            }
        }
        if let Err(e) = self.save_all() {
            tracing::error!(error = %crate::error::chain(&e), "saving detector state failed");
        }
        tracing::info!("detector stopped; state saved");
    }

    /// The start of the last minute that has closed (with the grace period).
    fn last_closed_minute(&self) -> i64 {
        let now = self.clock.now().timestamp() - self.grace.as_secs() as i64;
        Minute::from_unix(now).unix() - STEP_SECS
    }

    fn reset(&mut self, services: &[i64]) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction()
            .context("starting a detector reset")?;
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
        let tx = self.conn.transaction().context("starting to drop events")?;
        let ids = store::set_aside_event_ids(&tx, service_id)?;
        if ids.is_empty() {
            return Ok(());
        }
        let resolved_at = Minute::from_unix(now.timestamp()).unix();
        let mut announced = 0;
        for &id in &ids {
            store::resolve_event(&tx, id, resolved_at)?;
            announced += announce(&tx, &self.alerts, id, MessageKind::Resolved, 0, true, now)?;
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
                    // Show the status it had until the next minute closes.
                    if let Some(last) = store::last_detector_minute(&self.conn, service_id)? {
                        let status = match last.status.as_str() {
                            "outage" => Status::Outage,
                            "elevated" => Status::Elevated,
                            _ => Status::Ok,
                        };
                        let concentrated = status == Status::Outage
                            && store::open_event_concentrated(&self.conn, service_id)?;
                        self.board.set_all([(
                            service_id,
                            ServiceStatus {
                                status,
                                minute: Minute::from_unix(last.minute),
                                count: last.count,
                                baseline: last.baseline,
                                upper: last.upper,
                                score: last.score,
                                concentrated,
                            },
                        )]);
                    }
                    return Ok(Tracked {
                        detector,
                        last,
                        unsaved: 0,
                    });
                }
                Err(e) => {
                    tracing::warn!(service_id, error = %e, "saved detector state does not fit; relearning");
                    store::reset_detector(&self.conn, service_id)?;
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
    /// before `from`): runs the detectors first, then writes their detector
    /// minutes, event changes and (now and then) memories in one
    /// transaction, so the write lock, which report batches wait for, is held
    /// only for the writing.
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
        let mut rows = Vec::new();
        let mut statuses = Vec::new();
        // (service, event as of the change, message kind, wave, minute)
        let mut changes: Vec<(i64, Event, MessageKind, usize, i64)> = Vec::new();
        let mut open_events: Vec<(i64, Event)> = Vec::new();
        let mut memories: Vec<(i64, i64, String)> = Vec::new();
        for (&service_id, t) in self.tracked.iter_mut() {
            if !services.contains(&service_id) {
                continue;
            }
            let mut last_obs: Option<Observation> = None;
            let mut minute = t.last + STEP_SECS;
            while minute <= until {
                let count = counts.get(&(service_id, minute)).copied().unwrap_or(0);
                let obs = t.detector.observe(&self.tuning, minute, count);
                rows.push(DetectorMinute {
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
                        changes.push((service_id, event.clone(), kind, wave, minute));
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
                open_events.push((service_id, open.clone()));
            }
            if t.unsaved >= SAVE_EVERY_MINUTES || catching_up {
                memories.push((service_id, t.last, memory(t)?));
                t.unsaved = 0;
            }
            statuses.push((
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
        let now = self.clock.now();
        let tx = self
            .conn
            .transaction()
            .context("starting a detector transaction")?;
        let recent =
            |changed_at: i64| now.timestamp() - changed_at <= self.alerts.max_age.as_secs() as i64;
        let mut announced = 0;
        for (service_id, event, kind, wave, minute) in &changes {
            let networks = judge(&tx, &self.alerts.gate, *service_id, event)?;
            let written = store::upsert_event(&tx, *service_id, event, &networks)?;
            // A concentrated event pages no one. Its resolution is queued all
            // the same: it goes only to subscriptions told of the opening.
            let pages = !written.concentrated || *kind == MessageKind::Resolved;
            if pages && recent(minute + STEP_SECS) {
                announced += announce(&tx, &self.alerts, written.id, *kind, *wave, false, now)?;
            }
        }
        let mut concentrated = HashMap::new();
        for (service_id, event) in &open_events {
            let networks = judge(&tx, &self.alerts.gate, *service_id, event)?;
            let written = store::upsert_event(&tx, *service_id, event, &networks)?;
            concentrated.insert(*service_id, written.concentrated);
            // The crowd has come: announced now, as it stands.
            if written.promoted && recent(until + STEP_SECS) {
                announced += announce(
                    &tx,
                    &self.alerts,
                    written.id,
                    MessageKind::Opened,
                    0,
                    false,
                    now,
                )?;
            }
        }
        for (service_id, last, json) in &memories {
            store::save_detector_state(&tx, *service_id, *last, json)?;
        }
        store::insert_detector_minutes(&tx, &rows)?;
        tx.commit().context("committing detector results")?;
        if announced > 0 {
            self.alerts.wake.notify_one();
        }
        for (service_id, status) in &mut statuses {
            status.concentrated = concentrated.get(service_id).copied().unwrap_or(false);
        }
        self.board.set_all(statuses);
        Ok(())
    }

    fn save_all(&mut self) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction()
            .context("starting to save detector state")?;
        for (&id, t) in self.tracked.iter_mut() {
            save(&tx, id, t)?;
        }
        tx.commit().context("saving detector state")
    }
}

/// What the networks behind `event` say (see [`gate::judge`]), from the
/// figures of its minutes.
fn judge(
    conn: &Connection,
    policy: &GatePolicy,
    service_id: i64,
    event: &Event,
) -> Result<store::EventNetworks, StoreError> {
    let minutes = store::network_minutes(
        conn,
        service_id,
        policy.first_minute(event.started_at),
        event.ended_at,
    )?;
    Ok(gate::judge(policy, &minutes, event))
}

/// Queues the announcement of an event change (in the caller's
/// transaction). A wave is also a chance to announce the opening to
/// subscriptions the event has just grown into. `withdrawn` marks the
/// resolution of an event that a replay of imported history no longer finds:
/// its payload says so, so that receivers can tell it from an outage that
/// ended.
fn announce(
    conn: &Connection,
    alerts: &AlertSettings,
    event_id: i64,
    kind: MessageKind,
    wave: usize,
    withdrawn: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<usize, StoreError> {
    let Some(record) = store::get_event(conn, event_id)? else {
        return Ok(0);
    };
    let view = store::EventView::load(conn, record)?;
    let mut payload = serde_json::to_value(&view).map_err(|source| StoreError::Encode {
        what: "an event",
        source,
    })?;
    payload["url"] = serde_json::Value::String(format!(
        "{}{}",
        alerts.public_url.trim_end_matches('/'),
        view.url
    ));
    payload["withdrawn"] = serde_json::Value::Bool(withdrawn);
    let payload = payload.to_string();
    let now_ms = now.timestamp_millis();
    let mut queued = 0;
    // A wave announces the opening too, to a subscription that has not had
    // it (one the event has only now grown into).
    let kinds: &[MessageKind] = if kind == MessageKind::Wave {
        &[MessageKind::Opened, MessageKind::Wave]
    } else {
        std::slice::from_ref(&kind)
    };
    for k in kinds {
        queued += store::enqueue_announcement(
            conn,
            &store::Announcement {
                event_id,
                service: &view.service,
                severity: view.severity,
                kind: *k,
                wave,
                payload: &payload,
            },
            now_ms,
        )?;
    }
    Ok(queued)
}

/// A detector's memory, as it is saved.
fn memory(t: &Tracked) -> Result<String, StoreError> {
    serde_json::to_string(t.detector.state()).map_err(|source| StoreError::Encode {
        what: "a detector's state",
        source,
    })
}

fn save(conn: &Connection, service_id: i64, t: &mut Tracked) -> Result<(), StoreError> {
    store::save_detector_state(conn, service_id, t.last, &memory(t)?)?;
    t.unsaved = 0;
    Ok(())
}
