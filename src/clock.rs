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

/// A clock for simulations and tests across processes: it reads `start`
/// at the wall-clock Unix millisecond `anchor_ms` and runs `speed` times as
/// fast. Nodes given the same one agree on the time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScaledClock {
    pub start: DateTime<Utc>,
    pub anchor_ms: i64,
    pub speed: f64,
}

impl std::str::FromStr for ScaledClock {
    type Err = &'static str;

    /// `START,ANCHOR,SPEED`: an RFC 3339 time, a Unix millisecond, a
    /// factor from 0.001 to 10000.
    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        const RULE: &str = "START,ANCHOR,SPEED: an RFC 3339 time, a Unix millisecond and a \
             factor from 0.001 to 10000";
        let mut parts = spec.split(',').map(str::trim);
        let (Some(start), Some(anchor), Some(speed), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(RULE);
        };
        let start = DateTime::parse_from_rfc3339(start).map_err(|_| RULE)?;
        let anchor_ms = anchor.parse().map_err(|_| RULE)?;
        let speed: f64 = speed.parse().map_err(|_| RULE)?;
        if !(0.001..=10_000.0).contains(&speed) {
            return Err(RULE);
        }
        Ok(ScaledClock {
            start: start.with_timezone(&Utc),
            anchor_ms,
            speed,
        })
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = (Utc::now().timestamp_millis() - self.anchor_ms) as f64 * self.speed;
        self.start + chrono::Duration::milliseconds(elapsed as i64)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scaled_clock_runs_from_its_anchor_at_its_speed() {
        let now = Utc::now().timestamp_millis();
        let c: ScaledClock = format!("2026-03-02T11:00:00Z,{},60", now - 2_000)
            .parse()
            .unwrap();
        let read = c.now() - Utc.with_ymd_and_hms(2026, 3, 2, 11, 0, 0).unwrap();
        // Two wall seconds at 60 times: two minutes (and a little more).
        assert!((120..125).contains(&read.num_seconds()), "{read}");
        for bad in [
            "",
            "2026-03-02T11:00:00Z,1",
            "x,1,2",
            "2026-03-02T11:00:00Z,1,0",
        ] {
            assert!(bad.parse::<ScaledClock>().is_err(), "{bad}");
        }
    }
}
