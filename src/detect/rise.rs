//! Relative-rise evidence: the trailing `rise_window_minutes` sum `S` against the
//! typical sum of the same length `B`, the median of such sums sampled every
//! `rise_sample_minutes` over the trailing `rise_history_minutes`.
//!
//! The median ignores the series' own bursts (a burst is a few samples out of
//! hundreds) and needs no dispersion model, so it cannot be talked into calling an
//! hour-long rise normal the way a learned mean and variance can. The ratio
//! `(S + g) / (B + g)` uses a guard `g` in reports per window, so it means the same
//! at any bucket step, and keeps a handful of reports on a silent series from being
//! an "infinite" rise.
//!
//! Cost: O(1) per bucket, plus one binary-search insert and remove in a sorted copy
//! of the samples (a few hundred `u32`s) when a sample enters; never allocates after
//! construction.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::params::Tuning;

/// State of the relative-rise path. Persisted with the series (the sorted copy of
/// the samples is rebuilt on demand, not stored).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct RiseTracker {
    /// Counts of the trailing window's buckets, indexed by bucket number modulo the
    /// window length, so the slot a bucket is written to holds exactly the bucket
    /// that leaves the window (one memory access per bucket). Saturated to `u32`.
    recent: Vec<u32>,
    /// Bucket number (`bucket_start / step`) of the newest bucket in `recent`.
    last_index: Option<i64>,
    /// Sum of `recent`.
    sum: u64,
    /// Sampled window sums, oldest first (the median's history ring).
    samples: VecDeque<u32>,
    /// Sample slot (unix seconds / sample seconds) of the newest sample.
    last_slot: Option<i64>,
    /// The path fired (or an event opened) and the ratio has not yet stayed low
    /// long enough to re-arm it.
    disarmed: bool,
    /// Start of the run of buckets with the ratio below the re-arm level.
    low_since: Option<i64>,
    /// `samples` sorted ascending; derived, rebuilt when out of step.
    #[serde(skip)]
    sorted: Vec<u32>,
    /// Cached median of `samples` (reports per window).
    #[serde(skip)]
    median: f64,
}

impl Clone for RiseTracker {
    /// A clone keeps the rings' reserved room, so it never reallocates while it
    /// takes samples (a derived clone would shrink them to their length).
    fn clone(&self) -> Self {
        let mut samples = VecDeque::with_capacity(self.samples.capacity());
        samples.extend(self.samples.iter().copied());
        let mut sorted = Vec::with_capacity(self.sorted.capacity());
        sorted.extend_from_slice(&self.sorted);
        Self {
            recent: self.recent.clone(),
            last_index: self.last_index,
            sum: self.sum,
            samples,
            last_slot: self.last_slot,
            disarmed: self.disarmed,
            low_since: self.low_since,
            sorted,
            median: self.median,
        }
    }
}

impl PartialEq for RiseTracker {
    fn eq(&self, o: &Self) -> bool {
        // The sorted copy and the median are derived from `samples`.
        self.recent == o.recent
            && self.last_index == o.last_index
            && self.sum == o.sum
            && self.samples == o.samples
            && self.last_slot == o.last_slot
            && self.disarmed == o.disarmed
            && self.low_since == o.low_since
    }
}

/// What the rise path sees after a bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RiseView {
    /// Trailing window sum `S` (reports).
    pub sum: f64,
    /// Typical window sum `B` (median of the samples, reports).
    pub typical: f64,
    /// `(S + g) / (B + g)`.
    pub ratio: f64,
    /// Enough history for `B` to mean something.
    pub ready: bool,
    /// The path may fire (it has re-armed since it last fired).
    pub armed: bool,
}

fn median_of_sorted(s: &[u32]) -> f64 {
    let n = s.len();
    if n == 0 {
        return 0.0;
    }
    if n % 2 == 1 {
        f64::from(s[n / 2])
    } else {
        (f64::from(s[n / 2 - 1]) + f64::from(s[n / 2])) / 2.0
    }
}

impl RiseTracker {
    pub fn new(t: &Tuning) -> Self {
        Self {
            recent: vec![0; t.rise_window_len],
            samples: VecDeque::with_capacity(t.rise_capacity + 1),
            sorted: Vec::with_capacity(t.rise_capacity + 1),
            ..Self::default()
        }
    }

    /// Fit a restored tracker to (possibly changed) parameters: keep the newest
    /// samples, rebuild the sorted copy and reserve the rings once.
    pub fn restore(&mut self, t: &Tuning) {
        while self.samples.len() > t.rise_capacity {
            self.samples.pop_front();
        }
        self.samples
            .reserve((t.rise_capacity + 1).saturating_sub(self.samples.len()));
        self.fit_window(t);
        self.rebuild();
        self.sorted
            .reserve((t.rise_capacity + 1).saturating_sub(self.sorted.len()));
    }

    fn rebuild(&mut self) {
        self.sorted.clear();
        self.sorted.reserve(self.samples.len());
        self.sorted.extend(self.samples.iter().copied());
        self.sorted.sort_unstable();
        self.median = median_of_sorted(&self.sorted);
    }

    /// Typical window sum: the median of the samples (0 with none).
    pub fn typical(&self) -> f64 {
        self.median
    }

    /// Number of samples in the history ring.
    pub fn samples(&self) -> usize {
        self.samples.len()
    }

    /// A window ring of the wrong length (older state, changed parameters) starts
    /// over empty.
    fn fit_window(&mut self, t: &Tuning) {
        if self.recent.len() != t.rise_window_len {
            self.recent.clear();
            self.recent.resize(t.rise_window_len, 0);
            self.sum = 0;
            self.last_index = None;
        }
    }

    /// Put one bucket into the window ring; buckets skipped since the last one
    /// (gaps) count as zero.
    fn push_bucket(&mut self, t: &Tuning, bucket_start: i64, count: u64) {
        self.fit_window(t);
        let len = self.recent.len();
        let index = bucket_start.div_euclid(t.step_secs);
        let skipped = match self.last_index {
            Some(last) => index.saturating_sub(last).saturating_sub(1),
            None => i64::MAX,
        };
        if skipped >= len as i64 {
            self.recent.iter_mut().for_each(|c| *c = 0);
            self.sum = 0;
        } else {
            for j in 1..=skipped {
                let k = (index - j).rem_euclid(len as i64) as usize;
                self.sum = self.sum.saturating_sub(u64::from(self.recent[k]));
                self.recent[k] = 0;
            }
        }
        let k = index.rem_euclid(len as i64) as usize;
        let c = u32::try_from(count).unwrap_or(u32::MAX);
        self.sum = self
            .sum
            .saturating_sub(u64::from(self.recent[k]))
            .saturating_add(u64::from(c));
        self.recent[k] = c;
        self.last_index = Some(index);
    }

    fn push_sample(&mut self, t: &Tuning, v: u32) {
        // `observe`, the one caller, has made them agree.
        debug_assert_eq!(self.sorted.len(), self.samples.len());
        if self.samples.len() >= t.rise_capacity {
            if let Some(old) = self.samples.pop_front() {
                self.samples.push_back(v);
                if let Ok(i) = self.sorted.binary_search(&old) {
                    // Replace `old` by `v` in one move: shift only the samples
                    // between the two places (the same result as a remove and an
                    // insert, which would each shift everything after them).
                    let j = self.sorted.partition_point(|&s| s < v);
                    if j > i {
                        self.sorted.copy_within(i + 1..j, i);
                        self.sorted[j - 1] = v;
                    } else {
                        self.sorted.copy_within(j..i, j + 1);
                        self.sorted[j] = v;
                    }
                    self.median = median_of_sorted(&self.sorted);
                    return;
                }
                self.samples.pop_back();
            }
        }
        self.samples.push_back(v);
        let i = self.sorted.partition_point(|&s| s < v);
        self.sorted.insert(i, v);
        self.median = median_of_sorted(&self.sorted);
    }

    /// Read the window slot `bucket_start` will use, so its cache miss overlaps with
    /// the detector's other first reads. The value means nothing.
    pub fn touch(&self, t: &Tuning, bucket_start: i64) -> u32 {
        let len = self.recent.len().max(1) as i64;
        let k = bucket_start.div_euclid(t.step_secs).rem_euclid(len) as usize;
        let mut v = self.recent.get(k).copied().unwrap_or(0);
        let slot = bucket_start
            .saturating_add(t.step_secs)
            .div_euclid(t.rise_sample_secs);
        if self.last_slot != Some(slot) {
            // A sample enters: the oldest one leaves, and the sorted copy moves
            // around its middle.
            let n = self.sorted.len();
            v = v
                .wrapping_add(self.samples.front().copied().unwrap_or(0))
                .wrapping_add(self.samples.back().copied().unwrap_or(0))
                .wrapping_add(self.sorted.get(n / 2).copied().unwrap_or(0));
        }
        v
    }

    /// Take one new bucket (in time order) and return the view after it. A
    /// disarmed path re-arms once the ratio has stayed below `rearm_below` for
    /// `rise_rearm_minutes`.
    pub fn observe(
        &mut self,
        t: &Tuning,
        bucket_start: i64,
        count: u64,
        rearm_below: f64,
    ) -> RiseView {
        if self.sorted.len() != self.samples.len() {
            self.rebuild();
        }
        self.push_bucket(t, bucket_start, count);
        // One sample per sample slot, taken at the first bucket that ends in it.
        let bucket_end = bucket_start.saturating_add(t.step_secs);
        let slot = bucket_end.div_euclid(t.rise_sample_secs);
        if self.last_slot != Some(slot) {
            self.last_slot = Some(slot);
            let v = u32::try_from(self.sum).unwrap_or(u32::MAX);
            self.push_sample(t, v);
        }
        let g = t.params.rise_guard_reports;
        let s = self.sum as f64;
        let b = self.median;
        let ratio = (s + g) / (b + g).max(f64::MIN_POSITIVE);
        // Re-arm once the ratio has stayed below half the firing ratio long enough.
        if self.disarmed {
            if ratio < rearm_below {
                let since = *self.low_since.get_or_insert(bucket_start);
                if bucket_end.saturating_sub(since) >= t.rise_rearm_secs {
                    self.disarmed = false;
                    self.low_since = None;
                }
            } else {
                self.low_since = None;
            }
        }
        RiseView {
            sum: s,
            typical: b,
            ratio,
            ready: self.samples.len() >= t.rise_min_samples,
            armed: !self.disarmed,
        }
    }

    /// An event opened (by any path): the rise path waits to re-arm.
    pub fn disarm(&mut self) {
        self.disarmed = true;
        self.low_since = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::params::DetectorParams;

    fn tuning(step: i64) -> Tuning {
        Tuning::new(&DetectorParams::default(), step).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn median_ring_matches_a_full_sort() {
        let t = tuning(300);
        let mut r = RiseTracker::new(&t);
        let mut all = Vec::new();
        // Pseudo-random values with repeats, more than the ring holds.
        let mut x: u64 = 12345;
        for _ in 0..(t.rise_capacity * 3) {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let v = ((x >> 33) % 50) as u32;
            r.push_sample(&t, v);
            all.push(v);
            let tail = &all[all.len().saturating_sub(t.rise_capacity)..];
            let mut s = tail.to_vec();
            s.sort_unstable();
            assert_eq!(r.samples(), tail.len());
            assert_eq!(r.typical(), median_of_sorted(&s));
            assert_eq!(r.sorted, s);
        }
        assert_eq!(r.samples(), t.rise_capacity);
    }

    #[test]
    fn restored_tracker_rebuilds_its_median() {
        let t = tuning(60);
        let mut a = RiseTracker::new(&t);
        for i in 0..3000 {
            a.observe(&t, i * 60, (i % 7) as u64, 2.75);
        }
        let json = serde_json::to_string(&a).unwrap_or_default();
        let mut b: RiseTracker = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        b.restore(&t);
        assert_eq!(a, b);
        assert_eq!(a.typical(), b.typical());
        assert_eq!(
            a.observe(&t, 3000 * 60, 3, 2.75),
            b.observe(&t, 3000 * 60, 3, 2.75)
        );
    }

    #[test]
    fn window_sum_is_the_trailing_hour_at_any_step() {
        for step in [60i64, 300] {
            let t = tuning(step);
            let mut r = RiseTracker::new(&t);
            let mut v = r.observe(&t, 0, 0, 2.75);
            for i in 1..100 {
                v = r.observe(&t, i * step, 1, 2.75);
            }
            assert_eq!(v.sum, (3600 / step) as f64, "step {step}");
            // A gap empties the window.
            let v = r.observe(&t, 1000 * step, 2, 2.75);
            assert_eq!(v.sum, 2.0);
        }
    }
}
