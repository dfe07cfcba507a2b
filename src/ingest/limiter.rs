//! Per-client rate limiting of reports with governor's GCRA limiter, one
//! instance shared by every HTTP worker.
//!
//! Memory bound: governor keeps a key only until its state equals a fresh
//! one, i.e. until the client's burst has refilled (`burst / rate`, one minute
//! with the defaults). [`ReportLimiter::prune`] runs on a timer and drops those
//! keys, so the map holds at most the clients seen within one refill period
//! plus one prune interval, about 64 bytes each: a million distinct addresses
//! in two minutes cost about 64 MB, and it shrinks back once they go quiet.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

pub struct ReportLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

impl ReportLimiter {
    /// `per_minute` sustained, `burst` at once; both at least 1.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_minute(per_minute).allow_burst(burst);
        ReportLimiter {
            limiter: RateLimiter::keyed(quota),
            clock: DefaultClock::default(),
        }
    }

    /// `Ok` if `key` may send one more report now, else how long to wait.
    pub fn check(&self, key: IpAddr) -> Result<(), Duration> {
        self.limiter
            .check_key(&key)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Drops keys whose limit has fully recovered; returns how many remain.
    pub fn prune(&self) -> usize {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
        self.limiter.len()
    }

    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    pub fn is_empty(&self) -> bool {
        self.limiter.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_past_the_burst_and_says_how_long_to_wait() {
        let l = ReportLimiter::new(6, 2);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(l.check(ip).is_ok());
        assert!(l.check(ip).is_ok());
        let wait = l.check(ip).unwrap_err();
        assert!(wait > Duration::from_secs(5) && wait <= Duration::from_secs(10));
        // Another client is not affected.
        assert!(l.check("192.0.2.2".parse().unwrap()).is_ok());
    }

    #[test]
    fn pruning_keeps_only_recent_keys() {
        let l = ReportLimiter::new(60_000, 1);
        for i in 0..100u8 {
            let _ = l.check(IpAddr::from([10, 0, 0, i]));
        }
        assert_eq!(l.len(), 100);
        // At 1,000 a second a burst of one refills in a millisecond.
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(l.prune(), 0);
    }
}
