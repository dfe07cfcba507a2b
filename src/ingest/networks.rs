//! Counting the networks behind a service's counted reports, minute by
//! minute, without keeping a network: what lets the monitor tell a crowd
//! from a handful of machines.
//!
//! For each service and minute the writer stores, beside the report counts,
//! four figures ([`NetworkCounts`]):
//! - `reports`: counted reports that came with an address (imported history
//!   has none);
//! - `networks`: distinct sites (IPv4 /24, IPv6 /48) among them;
//! - `new_networks`: of those, the sites not counted new within the window
//!   before (the de-duplication window). A site is new at most once per
//!   window, so over any stretch of at most a window these add up to no more
//!   than the distinct sites that reported in it: the monitor can count an
//!   event's networks from minutes without any minute keeping a site;
//! - `top_provider`: the most counted reports one provider block (IPv4 /16,
//!   IPv6 /32) sent in the window ending with this minute, so that the share
//!   of one provider in an event of up to a window is read from one row.
//!
//! A minute's reports arrive over many batches; the tally lives in memory and
//! each batch adds what it changed. After a restart it is rebuilt from the
//! network keys stored with the last window's reports. Where it cannot be
//! exact it errs one way: a site it has no room for, a batch that failed to
//! commit, a site seen just before a restart all count fewer networks and a
//! larger provider share, never more diversity than there was.

use super::dedup::ReporterHasher;
use crate::domain::NetworkKeys;
use crate::store::NetworkCounts;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

type Hasher = BuildHasherDefault<ReporterHasher>;
/// (service id, keyed hash of a site).
type SiteKey = (i64, [u8; 8]);

/// How many maps the sites are spread over: like the de-duplicator, so that
/// no single map grows (and rehashes) to the size of all of them at once,
/// and pruning takes one map at a time.
const SHARDS: usize = 64;

/// Where reports go whose provider the tally has no room for: one shared
/// bucket, which can only make the largest provider larger.
const OVERFLOW: [u8; 8] = [0xff; 8];

/// When a site last reported and when it was last counted new, as minute
/// starts (Unix seconds).
#[derive(Debug, Clone, Copy)]
struct Site {
    seen: i64,
    credited: i64,
}

/// A service's provider blocks and their recent counts.
#[derive(Default)]
struct Providers {
    /// Counted reports per minute of each provider, oldest first, over the
    /// last two windows (a report a little late still finds its window).
    counts: HashMap<[u8; 8], Vec<(i64, u32)>, Hasher>,
    /// The largest window sum of one provider for the latest few minutes:
    /// what `top_provider` says for them.
    tops: Vec<(i64, u32)>,
}

/// How many recent minutes keep a running top (the current one, and the one
/// before for reports that cross a minute's end in flight).
const TRACKED_MINUTES: usize = 3;

/// The window sites and providers are counted in, in seconds: the
/// de-duplication window in whole minutes (at least one), so that a report
/// counts, an address takes its share and a site is new once per the same
/// stretch of time. The monitor's gate reads the figures with the same.
pub fn window_secs(dedup_window: std::time::Duration) -> i64 {
    let secs = i64::try_from(dedup_window.as_secs()).unwrap_or(i64::MAX / 2);
    (secs.max(60) + 59) / 60 * 60
}

/// The counts one batch adds, per (service, minute). Neither is chosen by a
/// client (the minute is the server's clock), so the cheap hasher will do.
pub(super) type BatchNetworks = HashMap<(i64, i64), NetworkCounts, Hasher>;

pub(super) struct NetworkTally {
    /// The window, in seconds: a whole number of minutes.
    window: i64,
    /// Most sites (and most providers) one shard holds: the memory bound.
    shard_cap: usize,
    sites: Vec<HashMap<SiteKey, Site, Hasher>>,
    /// Per service id (from the catalog, not from a client).
    providers: HashMap<i64, Providers, Hasher>,
    /// Providers held across all services, against `shard_cap * SHARDS`.
    provider_entries: usize,
    /// The latest minute counted: drives pruning (the clock may be a test's).
    latest: i64,
    pruned: Vec<i64>,
    next_prune: usize,
}

impl NetworkTally {
    /// A tally over `window` seconds (see [`window_secs`]) holding at most
    /// about `max_sites` sites.
    pub(super) fn new(window: i64, max_sites: usize) -> Self {
        NetworkTally {
            window,
            shard_cap: max_sites.div_ceil(SHARDS).max(1),
            sites: (0..SHARDS).map(|_| HashMap::default()).collect(),
            providers: HashMap::default(),
            provider_entries: 0,
            latest: i64::MIN,
            pruned: vec![i64::MIN; SHARDS],
            next_prune: 0,
        }
    }

    fn shard(site: &[u8; 8]) -> usize {
        // Keyed hashes: every byte is uniform.
        usize::from(site[7]) % SHARDS
    }

    /// Counts one counted report of `service_id` in `minute` (its start)
    /// from the networks `keys`, adding what changed to `batch`.
    pub(super) fn count(
        &mut self,
        batch: &mut BatchNetworks,
        service_id: i64,
        minute: i64,
        keys: NetworkKeys,
    ) {
        self.latest = self.latest.max(minute);
        let row = row(batch, service_id, minute);
        row.reports += 1;
        let cap = self.shard_cap;
        let shard = &mut self.sites[Self::shard(&keys.site)];
        let room = shard.len() < cap;
        match shard.get_mut(&(service_id, keys.site)) {
            Some(site) => {
                // A report from an earlier minute than the site's latest
                // (late in flight) may or may not be its first there: not
                // counted, the safe way.
                if minute > site.seen {
                    row.networks += 1;
                    site.seen = minute;
                }
                if minute - site.credited >= self.window {
                    row.new_networks += 1;
                    site.credited = minute;
                }
            }
            None if room => {
                shard.insert(
                    (service_id, keys.site),
                    Site {
                        seen: minute,
                        credited: minute,
                    },
                );
                row.networks += 1;
                row.new_networks += 1;
            }
            // No room: a site not remembered could be counted again and
            // again, so it is not counted at all.
            None => {}
        }
        self.count_provider(batch, service_id, minute, keys.provider);
    }

    fn count_provider(
        &mut self,
        batch: &mut BatchNetworks,
        service_id: i64,
        minute: i64,
        provider: [u8; 8],
    ) {
        let window = self.window;
        let full = self.provider_entries >= self.shard_cap * SHARDS;
        let providers = self.providers.entry(service_id).or_default();
        if !providers.tops.iter().any(|&(t, _)| t == minute) {
            let dropped = providers.track(minute, window, self.latest);
            self.provider_entries -= dropped;
        }
        let key = if providers.counts.contains_key(&provider) || !full {
            provider
        } else {
            OVERFLOW
        };
        let counts = providers.counts.entry(key).or_insert_with(|| {
            self.provider_entries += 1;
            Vec::new()
        });
        match counts.binary_search_by_key(&minute, |&(m, _)| m) {
            Ok(i) => counts[i].1 += 1,
            Err(i) => counts.insert(i, (minute, 1)),
        }
        // This report is in the window of each tracked minute from its own
        // to a window later.
        for (t, top) in providers.tops.iter_mut() {
            if *t >= minute && *t - window < minute {
                *top = (*top).max(window_sum(counts, *t, window));
                let r = row(batch, service_id, *t);
                r.top_provider = r.top_provider.max(*top);
            }
        }
    }

    /// Rebuilds the tally after a restart from one stored counted report of
    /// the last window (fed oldest first). A site is taken as counted new
    /// at its latest report, which is no earlier than when it really was:
    /// it may wait longer to be new again, never less.
    pub(super) fn warm(&mut self, service_id: i64, minute: i64, keys: NetworkKeys) {
        self.latest = self.latest.max(minute);
        let cap = self.shard_cap;
        let shard = &mut self.sites[Self::shard(&keys.site)];
        if let Some(site) = shard.get_mut(&(service_id, keys.site)) {
            site.seen = site.seen.max(minute);
            site.credited = site.credited.max(minute);
        } else if shard.len() < cap {
            shard.insert(
                (service_id, keys.site),
                Site {
                    seen: minute,
                    credited: minute,
                },
            );
        }
        let providers = self.providers.entry(service_id).or_default();
        let counts = providers.counts.entry(keys.provider).or_insert_with(|| {
            self.provider_entries += 1;
            Vec::new()
        });
        match counts.binary_search_by_key(&minute, |&(m, _)| m) {
            Ok(i) => counts[i].1 += 1,
            Err(i) => counts.insert(i, (minute, 1)),
        }
    }

    /// Drops, one shard per call, the sites whose window has passed.
    pub(super) fn prune(&mut self) {
        let i = self.next_prune;
        self.next_prune = (i + 1) % SHARDS;
        if self.latest == i64::MIN || self.latest.saturating_sub(self.pruned[i]) < self.window / 4 {
            return;
        }
        // A site seen a window ago can neither be seen again in its minute
        // nor block being counted new.
        let cutoff = self.latest - self.window;
        self.sites[i].retain(|_, site| site.seen > cutoff);
        self.pruned[i] = self.latest;
    }

    #[cfg(test)]
    fn sites_held(&self) -> usize {
        self.sites.iter().map(HashMap::len).sum()
    }
}

impl Providers {
    /// Starts a running top for `minute`: the largest window sum of any
    /// provider so far, with no report of the minute yet. Drops counts older
    /// than two windows before `latest`, providers left without any, and
    /// running tops beyond the last few minutes; returns the providers
    /// dropped.
    fn track(&mut self, minute: i64, window: i64, latest: i64) -> usize {
        let keep_from = latest - 2 * window;
        let before = self.counts.len();
        let mut top = 0;
        self.counts.retain(|_, counts| {
            let old = counts.partition_point(|&(m, _)| m <= keep_from);
            counts.drain(..old);
            top = top.max(window_sum(counts, minute, window));
            !counts.is_empty()
        });
        self.tops.push((minute, top));
        self.tops
            .sort_unstable_by_key(|&(t, _)| std::cmp::Reverse(t));
        self.tops.truncate(TRACKED_MINUTES);
        before - self.counts.len()
    }
}

/// A provider's reports in the window ending with minute `t`.
fn window_sum(counts: &[(i64, u32)], t: i64, window: i64) -> u32 {
    counts
        .iter()
        .filter(|&&(m, _)| m <= t && m > t - window)
        .map(|&(_, n)| n)
        .sum()
}

fn row(batch: &mut BatchNetworks, service_id: i64, minute: i64) -> &mut NetworkCounts {
    batch
        .entry((service_id, minute))
        .or_insert_with(|| NetworkCounts {
            service_id,
            minute,
            ..NetworkCounts::default()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: i64 = 15 * 60;

    /// Keys of site `s` (a /24) inside provider `p` (a /16).
    fn keys(p: u8, s: u8) -> NetworkKeys {
        NetworkKeys {
            site: [p, s, 0, 0, 0, 0, 0, s.wrapping_mul(31) ^ p],
            provider: [p, 0, 0, 0, 0, 0, 0, p],
        }
    }

    /// What the stored rows add up to after these batches: the writer's
    /// upsert sums the counts and keeps the largest top.
    fn stored(batches: &[BatchNetworks]) -> HashMap<(i64, i64), NetworkCounts> {
        let mut out: HashMap<(i64, i64), NetworkCounts> = HashMap::new();
        for batch in batches {
            for (k, c) in batch {
                let r = out.entry(*k).or_insert_with(|| NetworkCounts {
                    service_id: k.0,
                    minute: k.1,
                    ..NetworkCounts::default()
                });
                r.reports += c.reports;
                r.networks += c.networks;
                r.new_networks += c.new_networks;
                r.top_provider = r.top_provider.max(c.top_provider);
            }
        }
        out
    }

    fn tally_of(t: &mut NetworkTally, reports: &[(i64, NetworkKeys)]) -> BatchNetworks {
        let mut batch = BatchNetworks::default();
        for &(minute, k) in reports {
            t.count(&mut batch, 1, minute, k);
        }
        batch
    }

    #[test]
    fn a_minute_split_over_batches_counts_each_site_once() {
        let reports: Vec<(i64, NetworkKeys)> =
            (0..40u8).map(|i| (600, keys(i % 4, i % 10))).collect();
        let mut whole = NetworkTally::new(W, 1 << 20);
        let one = stored(&[tally_of(&mut whole, &reports)]);
        let mut split = NetworkTally::new(W, 1 << 20);
        let batches: Vec<BatchNetworks> =
            reports.chunks(7).map(|c| tally_of(&mut split, c)).collect();
        let many = stored(&batches);
        assert_eq!(one, many);
        let m = &one[&(1, 600)];
        // Sites (p, s) with p = i % 4, s = i % 10: 20 distinct pairs.
        assert_eq!((m.reports, m.networks, m.new_networks), (40, 20, 20));
        assert_eq!(m.top_provider, 10, "each of the 4 providers sent 10");
    }

    #[test]
    fn a_site_is_new_once_per_window_and_distinct_in_each_minute() {
        let mut t = NetworkTally::new(W, 1 << 20);
        let k = keys(1, 1);
        let rows = stored(&[
            tally_of(&mut t, &[(0, k), (0, k), (60, k)]),
            tally_of(&mut t, &[(W - 60, k), (W, k), (W + 60, k)]),
        ]);
        let at = |m: i64| rows[&(1, m)];
        assert_eq!((at(0).networks, at(0).new_networks), (1, 1));
        assert_eq!((at(60).networks, at(60).new_networks), (1, 0));
        assert_eq!(at(W - 60).new_networks, 0);
        assert_eq!((at(W).networks, at(W).new_networks), (1, 1), "a window on");
        assert_eq!(at(W + 60).new_networks, 0);
        // So new sites summed over any window never exceed the distinct
        // sites in it: here one.
        let sum: u32 = (0..15)
            .map(|i| rows.get(&(1, i * 60)).map_or(0, |r| r.new_networks))
            .sum();
        assert_eq!(sum, 1);
    }

    #[test]
    fn the_top_provider_covers_the_window_ending_with_each_minute() {
        let mut t = NetworkTally::new(W, 1 << 20);
        // Provider 1: 5 reports in minute 0; provider 2: 3 in minute 60, 3 in 120.
        let mut reports: Vec<(i64, NetworkKeys)> = (0..5).map(|s| (0, keys(1, s))).collect();
        reports.extend((0..3).map(|s| (60, keys(2, s))));
        reports.extend((0..3).map(|s| (120, keys(2, s))));
        let rows = stored(&[tally_of(&mut t, &reports)]);
        assert_eq!(rows[&(1, 0)].top_provider, 5);
        assert_eq!(
            rows[&(1, 60)].top_provider,
            5,
            "provider 1 is still in the window"
        );
        assert_eq!(rows[&(1, 120)].top_provider, 6);
        // Past the window, provider 1's minute leaves it.
        let rows = stored(&[tally_of(&mut t, &[(W, keys(3, 0))])]);
        assert_eq!(
            rows[&(1, W)].top_provider,
            6,
            "provider 2's minutes 60 and 120 remain"
        );
        let rows = stored(&[tally_of(&mut t, &[(W + 120, keys(3, 1))])]);
        assert_eq!(rows[&(1, W + 120)].top_provider, 2);
    }

    #[test]
    fn a_late_report_raises_the_top_of_the_minutes_after_it() {
        let mut t = NetworkTally::new(W, 1 << 20);
        let first = tally_of(
            &mut t,
            &[(60, keys(1, 0)), (120, keys(2, 0)), (60, keys(1, 1))],
        );
        let rows = stored(&[first]);
        assert_eq!(rows[&(1, 60)].top_provider, 2);
        assert_eq!(rows[&(1, 120)].top_provider, 2);
        // The late one counts no network (it may not be its site's first in
        // minute 60), but it is in minute 120's window.
        let late = tally_of(&mut t, &[(120, keys(1, 2)), (60, keys(1, 2))]);
        assert_eq!(late[&(1, 60)].networks, 0);
        assert_eq!(late[&(1, 120)].top_provider, 4);
    }

    #[test]
    fn a_restart_rebuilt_from_stored_keys_counts_nothing_twice() {
        let before: Vec<(i64, NetworkKeys)> = (0..30u8)
            .map(|i| (600 + 60 * i64::from(i % 3), keys(i % 2, i % 6)))
            .collect();
        let after: Vec<(i64, NetworkKeys)> = (0..30u8)
            .map(|i| (720 + 60 * i64::from(i % 2), keys(i % 3, i % 9)))
            .collect();
        let mut running = NetworkTally::new(W, 1 << 20);
        let straight = stored(&[
            tally_of(&mut running, &before),
            tally_of(&mut running, &after),
        ]);

        let mut first = NetworkTally::new(W, 1 << 20);
        let stored_before = tally_of(&mut first, &before);
        let mut restarted = NetworkTally::new(W, 1 << 20);
        let mut oldest_first = before.clone();
        oldest_first.sort_by_key(|r| r.0);
        for (m, k) in oldest_first {
            restarted.warm(1, m, k);
        }
        let across = stored(&[stored_before, tally_of(&mut restarted, &after)]);
        for (key, row) in &straight {
            let other = across[key];
            assert_eq!(other.reports, row.reports, "{key:?}");
            assert_eq!(
                other.networks, row.networks,
                "{key:?}: each site once a minute"
            );
            assert!(
                other.new_networks <= row.new_networks,
                "{key:?}: never more new sites"
            );
            assert_eq!(other.top_provider, row.top_provider, "{key:?}");
        }
    }

    #[test]
    fn past_its_room_the_tally_counts_fewer_networks_and_no_smaller_top() {
        // Room for one site per shard: sites beyond are not counted.
        let mut t = NetworkTally::new(W, SHARDS);
        let reports: Vec<(i64, NetworkKeys)> = (0..=255u8).map(|s| (0, keys(1, s))).collect();
        let rows = stored(&[tally_of(&mut t, &reports)]);
        let m = rows[&(1, 0)];
        assert_eq!(m.reports, 256);
        assert!(m.networks <= SHARDS as u32 && m.networks == m.new_networks);
        assert_eq!(m.top_provider, 256);
        assert!(t.sites_held() <= SHARDS);
    }

    #[test]
    fn old_sites_are_pruned_shard_by_shard() {
        let mut t = NetworkTally::new(W, 1 << 20);
        let reports: Vec<(i64, NetworkKeys)> = (0..=255u8).map(|s| (0, keys(s, s))).collect();
        tally_of(&mut t, &reports);
        assert_eq!(t.sites_held(), 256);
        tally_of(&mut t, &[(2 * W, keys(0, 0))]);
        for _ in 0..SHARDS {
            t.prune();
        }
        assert_eq!(t.sites_held(), 1, "only the site seen within the window");
    }
}
