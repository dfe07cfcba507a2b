//! Per-client rate limiting of reports with governor's GCRA limiter, one
//! instance shared by every HTTP worker.
//!
//! A client is its [`Scope::Host`] network: an IPv4 address or an IPv6 /64.
//! One IPv6 site holds 65,536 /64s, each of which would otherwise be a
//! client of its own, so an IPv6 client must also fit in its /48's limit
//! (larger: a site is an office or a campus, many people).
//!
//! Memory bound: governor keeps a key only until its state equals a fresh
//! one, i.e. until the client's burst has refilled (`burst / rate`, one minute
//! with the defaults). [`ReportLimiter::prune`] runs on a timer and drops those
//! keys, so the map holds at most the clients seen within one refill period
//! plus one prune interval, about 64 bytes each: a million distinct addresses
//! in two minutes cost about 64 MB, and it shrinks back once they go quiet.

use crate::domain::{ClientAddr, Scope};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;
use std::num::NonZeroU32;
use std::time::Duration;

/// A sustained rate and a burst; both at least 1.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    pub per_minute: u32,
    pub burst: u32,
}

impl Rate {
    fn quota(self) -> Quota {
        let per_minute = NonZeroU32::new(self.per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(self.burst).unwrap_or(NonZeroU32::MIN);
        Quota::per_minute(per_minute).allow_burst(burst)
    }
}

pub struct ReportLimiter {
    /// One entry per client (IPv4 address, IPv6 /64).
    hosts: DefaultKeyedRateLimiter<IpNet>,
    /// One entry per IPv6 /48 with a client in it.
    ipv6_sites: DefaultKeyedRateLimiter<IpNet>,
    clock: DefaultClock,
}

impl ReportLimiter {
    pub fn new(host: Rate, ipv6_site: Rate) -> Self {
        ReportLimiter {
            hosts: RateLimiter::keyed(host.quota()),
            ipv6_sites: RateLimiter::keyed(ipv6_site.quota()),
            clock: DefaultClock::default(),
        }
    }

    /// `Ok` if `addr` may send one more report now, else how long to wait.
    /// The client's own limit is checked first, so a client over it does
    /// not use up its site's.
    pub fn check(&self, addr: ClientAddr) -> Result<(), Duration> {
        let wait = |not_until: governor::NotUntil<_>| not_until.wait_time_from(self.clock.now());
        self.hosts
            .check_key(&addr.network(Scope::Host))
            .map_err(wait)?;
        if !addr.is_ipv4() {
            self.ipv6_sites
                .check_key(&addr.network(Scope::Site))
                .map_err(wait)?;
        }
        Ok(())
    }

    /// Drops keys whose limit has fully recovered; returns how many remain.
    pub fn prune(&self) -> usize {
        for limiter in [&self.hosts, &self.ipv6_sites] {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        self.len()
    }

    pub fn len(&self) -> usize {
        self.hosts.len() + self.ipv6_sites.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> ClientAddr {
        ClientAddr::new(s.parse().unwrap())
    }

    fn rate(per_minute: u32, burst: u32) -> Rate {
        Rate { per_minute, burst }
    }

    #[test]
    fn refuses_past_the_burst_and_says_how_long_to_wait() {
        let l = ReportLimiter::new(rate(6, 2), rate(60, 60));
        let ip = addr("192.0.2.1");
        assert!(l.check(ip).is_ok());
        assert!(l.check(ip).is_ok());
        let wait = l.check(ip).unwrap_err();
        assert!(wait > Duration::from_secs(5) && wait <= Duration::from_secs(10));
        // Another client is not affected, nor is the same one spelled mapped.
        assert!(l.check(addr("192.0.2.2")).is_ok());
        assert!(l.check(addr("::ffff:192.0.2.1")).is_err());
    }

    #[test]
    fn an_ipv6_client_is_its_slash_64_and_shares_its_slash_48s_limit() {
        let l = ReportLimiter::new(rate(60, 2), rate(60, 5));
        // New addresses inside one /64 are the same client.
        assert!(l.check(addr("2001:db8:1:1::1")).is_ok());
        assert!(l.check(addr("2001:db8:1:1::2")).is_ok());
        assert!(l.check(addr("2001:db8:1:1::3")).is_err());
        // Other /64s of the /48 get their own limit, until the /48's runs out
        // (the refused report above did not use it up).
        for i in 2..5 {
            assert!(l.check(addr(&format!("2001:db8:1:{i}::1"))).is_ok(), "{i}");
        }
        assert!(l.check(addr("2001:db8:1:99::1")).is_err());
        // Another /48 is not affected; IPv4 has no site limit.
        assert!(l.check(addr("2001:db8:2:1::1")).is_ok());
        for i in 0..20u8 {
            let _ = l.check(addr(&format!("192.0.2.{i}")));
        }
        assert!(l.check(addr("192.0.2.200")).is_ok());
    }

    #[test]
    fn pruning_keeps_only_recent_keys() {
        let l = ReportLimiter::new(rate(60_000, 1), rate(60_000, 1));
        for i in 0..100u8 {
            let _ = l.check(ClientAddr::new([10, 0, 0, i].into()));
        }
        assert_eq!(l.len(), 100);
        // At 1,000 a second a burst of one refills in a millisecond.
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(l.prune(), 0);
    }
}
