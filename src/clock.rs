//! Where "now" comes from. The server asks an injected [`Clock`], so tests can
//! move time forward without sleeping.

use chrono::{DateTime, TimeZone, Utc};
use std::sync::atomic::{AtomicI64, Ordering};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told to: for tests and replays.
#[derive(Debug)]
pub struct ManualClock {
    /// Milliseconds since the Unix epoch.
    now_ms: AtomicI64,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock {
            now_ms: AtomicI64::new(start.timestamp_millis()),
        }
    }

    pub fn set(&self, t: DateTime<Utc>) {
        self.now_ms.store(t.timestamp_millis(), Ordering::SeqCst);
    }

    pub fn advance(&self, d: chrono::Duration) {
        self.now_ms
            .fetch_add(d.num_milliseconds(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.now_ms.load(Ordering::SeqCst))
            .single()
            .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
    }
}
