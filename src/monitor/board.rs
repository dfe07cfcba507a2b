//! The status board: where every service stands after its last closed
//! minute, shared with the HTTP workers (pages and the API read it; the
//! monitor writes it after each commit), with a generation number that moves
//! whenever anything on it does, for the pages' `ETag`s.

use crate::detect::Status;
use crate::domain::Minute;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

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

    pub(super) fn set_all(&self, updates: impl IntoIterator<Item = (i64, ServiceStatus)>) {
        if let Ok(mut map) = self.by_service.write() {
            map.extend(updates);
        }
        self.generation.fetch_add(1, Ordering::Release);
    }

    pub(super) fn remove(&self, service_id: i64) {
        if let Ok(mut map) = self.by_service.write() {
            map.remove(&service_id);
        }
        self.generation.fetch_add(1, Ordering::Release);
    }
}
