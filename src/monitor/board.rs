//! The status board: where every service stands after its last closed
//! minute, shared with the HTTP workers (pages and the API read it; the
//! monitor writes it after each commit), with a generation number that moves
//! whenever anything on it does (once per tick of the monitor), for the
//! pages' `ETag`s and the live streams.

use crate::detect::Status;
use crate::domain::Minute;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::RwLock;
use tokio::sync::watch;

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

/// A move of the board's generation, as live pages are told of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BoardChange {
    pub generation: u64,
    /// When it moved: wall-clock Unix milliseconds (not the injected clock:
    /// this times how fast the news travels).
    pub at_ms: i64,
}

/// The latest status of every service, shared with the HTTP workers.
pub struct StatusBoard {
    by_service: RwLock<HashMap<i64, ServiceStatus>>,
    /// Bumped whenever the detector has written something (a minute
    /// processed, an event changed): pages derive their `ETag` from it.
    generation: AtomicU64,
    /// Every move of the generation, for the live streams.
    changes: watch::Sender<BoardChange>,
    /// Statuses were set since the generation last moved.
    dirty: AtomicBool,
    /// The last closed minute the generation moved for.
    published_minute: AtomicI64,
    /// Drawn when the board is made: see [`StatusBoard::version`].
    instance: u64,
}

impl Default for StatusBoard {
    fn default() -> Self {
        StatusBoard {
            by_service: RwLock::default(),
            generation: AtomicU64::new(0),
            changes: watch::channel(BoardChange::default()).0,
            dirty: AtomicBool::new(false),
            published_minute: AtomicI64::new(i64::MIN),
            instance: rand::random(),
        }
    }
}

impl StatusBoard {
    pub fn get(&self, service_id: i64) -> Option<ServiceStatus> {
        self.by_service.read().ok()?.get(&service_id).copied()
    }

    /// Changes whenever anything the detector wrote has changed.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// What the tags of pages and feeds derive from: the generation, and a
    /// number drawn when this board was made. Generations count from 0 in
    /// each process, so without it a tag a client kept from before a
    /// restart, or got from another node, could match a different page
    /// and be answered `304`.
    pub fn version(&self) -> (u64, u64) {
        (self.instance, self.generation())
    }

    /// Every move of the generation from now on; the receiver holds the
    /// latest.
    pub fn subscribe(&self) -> watch::Receiver<BoardChange> {
        self.changes.subscribe()
    }

    /// Sets statuses; the generation moves at the next [`publish`].
    ///
    /// [`publish`]: StatusBoard::publish
    pub(super) fn set_all(&self, updates: impl IntoIterator<Item = (i64, ServiceStatus)>) {
        if let Ok(mut map) = self.by_service.write() {
            map.extend(updates);
        }
        self.dirty.store(true, Ordering::Release);
    }

    /// Something the pages show changed outside the detector (a maintenance
    /// window, a service's providers): the generation moves now, so that
    /// pages and live viewers see it (on a follower, whose monitor moves
    /// it only when the leader wrote, as on the leader).
    pub fn touch(&self) {
        self.moved();
    }

    /// Moves the generation once for everything the monitor did in one
    /// tick: when it set statuses, or when `closed` is a minute it has not
    /// published yet (pages show the time, so they change each minute even
    /// where no detector runs). One move, one message to live pages.
    pub(super) fn publish(&self, closed: i64) {
        let new_minute = self.published_minute.fetch_max(closed, Ordering::AcqRel) < closed;
        if self.dirty.swap(false, Ordering::AcqRel) || new_minute {
            self.moved();
        }
    }

    pub(super) fn remove(&self, service_id: i64) {
        if let Ok(mut map) = self.by_service.write() {
            map.remove(&service_id);
        }
        self.moved();
    }

    fn moved(&self) {
        let generation = self.generation.fetch_add(1, Ordering::Release) + 1;
        let at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        self.changes.send_replace(BoardChange { generation, at_ms });
    }
}
