//! The persistence window as a fixed-capacity ring laid out for a cold cache.
//!
//! Every bucket the detector reads the whole window's summed count, summed
//! baseline and the number of buckets above baseline, and touches only the oldest
//! bucket (which leaves) and the newest (which enters). So the ring keeps:
//! - the baselines in their own dense `f64` ring, summed oldest first exactly as a
//!   plain iteration would (identical rounding), a couple of cache lines;
//! - the rest of each bucket in a record ring, of which only the leaving and the
//!   entering slot are touched (the same slot once the ring is full);
//! - the summed count and the count of buckets above baseline kept exactly
//!   (integers), so they need no pass over the buckets.
//!
//! The ring never reallocates once sized (not even after a clone), and persists as
//! the plain list of buckets, oldest first, as the `VecDeque` it replaces did.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One bucket of the persistence window. Buckets learn the baseline only when they
/// leave the window, so the start of an event is never learned before it is known.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(super) struct WindowBucket {
    pub start: i64,
    pub count: u64,
    pub expected: f64,
    /// Raw bucket and window scores, learned by the tail calibration on exit.
    pub raw_score: f64,
    pub raw_window_score: f64,
    /// The window's summed count and baseline when this bucket was the newest,
    /// learned by the window dispersion on exit.
    pub window_sum: u64,
    pub window_expected: f64,
    /// Belongs to an event: never learned.
    pub in_event: bool,
}

/// A bucket without its baseline (which lives in the dense ring).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct Record {
    start: i64,
    count: u64,
    raw_score: f64,
    raw_window_score: f64,
    window_sum: u64,
    window_expected: f64,
    in_event: bool,
}

/// The window's sums, as a pass over its buckets would give them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct WindowSums {
    /// Summed count (saturating).
    pub sum: u64,
    /// Summed baseline, added oldest first.
    pub expected: f64,
    /// Buckets whose count is above their baseline.
    pub above: usize,
}

#[derive(Debug, Clone)]
pub(super) struct Window {
    /// Baselines, ring-indexed like `records`.
    expected: Vec<f64>,
    records: Vec<Record>,
    /// Slot of the oldest bucket.
    head: usize,
    len: usize,
    /// Exact summed count (cannot overflow: at most `u64::MAX` times the capacity).
    total: u128,
    above: usize,
}

fn is_above(count: u64, expected: f64) -> bool {
    count as f64 > expected
}

impl Window {
    pub fn with_capacity(cap: usize) -> Self {
        let cap = cap.max(1);
        Self {
            expected: vec![0.0; cap],
            records: vec![Record::default(); cap],
            head: 0,
            len: 0,
            total: 0,
            above: 0,
        }
    }

    fn capacity(&self) -> usize {
        self.records.len()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Ring slot of the `i`-th bucket, oldest first.
    fn slot(&self, i: usize) -> usize {
        let s = self.head + i;
        if s >= self.capacity() {
            s - self.capacity()
        } else {
            s
        }
    }

    fn bucket_at(&self, slot: usize) -> WindowBucket {
        let r = self.records[slot];
        WindowBucket {
            start: r.start,
            count: r.count,
            expected: self.expected[slot],
            raw_score: r.raw_score,
            raw_window_score: r.raw_window_score,
            window_sum: r.window_sum,
            window_expected: r.window_expected,
            in_event: r.in_event,
        }
    }

    /// The `i`-th bucket, oldest first.
    pub fn get(&self, i: usize) -> Option<WindowBucket> {
        (i < self.len).then(|| self.bucket_at(self.slot(i)))
    }

    pub fn front(&self) -> Option<WindowBucket> {
        self.get(0)
    }

    pub fn pop_front(&mut self) -> Option<WindowBucket> {
        let b = self.front()?;
        self.head = self.slot(1);
        self.len -= 1;
        self.total -= u128::from(b.count);
        self.above -= usize::from(is_above(b.count, b.expected));
        Some(b)
    }

    pub fn push_back(&mut self, b: WindowBucket) {
        if self.len == self.capacity() {
            self.resize(self.capacity() * 2);
        }
        let s = self.slot(self.len);
        self.expected[s] = b.expected;
        self.records[s] = Record {
            start: b.start,
            count: b.count,
            raw_score: b.raw_score,
            raw_window_score: b.raw_window_score,
            window_sum: b.window_sum,
            window_expected: b.window_expected,
            in_event: b.in_event,
        };
        self.len += 1;
        self.total += u128::from(b.count);
        self.above += usize::from(is_above(b.count, b.expected));
    }

    /// Record the window's sums and score on the newest bucket.
    pub fn set_newest_window(&mut self, raw_window_score: f64, sum: u64, expected: f64) {
        if self.len > 0 {
            let s = self.slot(self.len - 1);
            let r = &mut self.records[s];
            r.raw_window_score = raw_window_score;
            r.window_sum = sum;
            r.window_expected = expected;
        }
    }

    pub fn set_in_event(&mut self, i: usize) {
        if i < self.len {
            let s = self.slot(i);
            self.records[s].in_event = true;
        }
    }

    /// Read the cache lines the next bucket will touch (the dense baselines and the
    /// oldest record), so their misses overlap. The value means nothing.
    pub fn touch(&self) -> f64 {
        let cap = self.capacity();
        let e = &self.expected;
        let r = &self.records[self.head];
        e[0] + e[cap / 2] + e[cap - 1] + r.raw_score + r.start as f64
    }

    pub fn sums(&self) -> WindowSums {
        let cap = self.capacity();
        let end = self.head + self.len;
        let (a, b) = if end <= cap {
            (&self.expected[self.head..end], &self.expected[..0])
        } else {
            (&self.expected[self.head..], &self.expected[..end - cap])
        };
        let mut expected = 0.0f64;
        for &e in a.iter().chain(b) {
            expected += e;
        }
        WindowSums {
            sum: u64::try_from(self.total).unwrap_or(u64::MAX),
            expected,
            above: self.above,
        }
    }

    /// Keep at most `cap` newest buckets and make room for exactly `cap`.
    pub fn fit(&mut self, cap: usize) {
        while self.len > cap {
            self.pop_front();
        }
        if self.capacity() != cap.max(1) {
            self.resize(cap);
        }
    }

    fn resize(&mut self, cap: usize) {
        let mut w = Window::with_capacity(cap.max(self.len));
        for i in 0..self.len {
            w.push_back(self.bucket_at(self.slot(i)));
        }
        *self = w;
    }

    fn iter(&self) -> impl Iterator<Item = WindowBucket> + '_ {
        (0..self.len).map(|i| self.bucket_at(self.slot(i)))
    }
}

impl PartialEq for Window {
    /// Same buckets, oldest first (the ring's layout and capacity do not matter).
    fn eq(&self, o: &Self) -> bool {
        self.len == o.len && self.iter().eq(o.iter())
    }
}

impl Serialize for Window {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Window {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let buckets = Vec::<WindowBucket>::deserialize(d)?;
        let mut w = Window::with_capacity(buckets.len());
        for b in buckets {
            w.push_back(b);
        }
        Ok(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(i: i64, count: u64, expected: f64) -> WindowBucket {
        WindowBucket {
            start: i * 60,
            count,
            expected,
            raw_score: i as f64,
            raw_window_score: 0.0,
            window_sum: 0,
            window_expected: 0.0,
            in_event: false,
        }
    }

    #[test]
    fn ring_matches_a_deque() {
        let mut w = Window::with_capacity(5);
        let mut d = std::collections::VecDeque::new();
        let mut x: u64 = 99;
        for i in 0..200i64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let pops = (x >> 60) % 3;
            for _ in 0..pops {
                assert_eq!(w.pop_front(), d.pop_front());
            }
            while d.len() >= 5 {
                assert_eq!(w.pop_front(), d.pop_front());
            }
            let b = bucket(i, (x >> 40) % 20, ((x >> 20) % 200) as f64 / 10.0);
            w.push_back(b);
            d.push_back(b);
            let (mut sum, mut exp, mut above) = (0u64, 0.0f64, 0usize);
            for b in &d {
                sum = sum.saturating_add(b.count);
                exp += b.expected;
                above += usize::from(b.count as f64 > b.expected);
            }
            let s = w.sums();
            assert_eq!((s.sum, s.expected, s.above), (sum, exp, above));
            assert!(w.iter().eq(d.iter().copied()));
        }
        let json = serde_json::to_string(&w).unwrap_or_default();
        let old = serde_json::to_string(&d).unwrap_or_default();
        assert_eq!(json, old);
        let back: Window = serde_json::from_str(&old).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, w);
    }

    #[test]
    fn huge_counts_saturate_like_a_running_sum() {
        let mut w = Window::with_capacity(3);
        w.push_back(bucket(0, u64::MAX, 1.0));
        w.push_back(bucket(1, 5, 1.0));
        assert_eq!(w.sums().sum, u64::MAX);
        w.pop_front();
        assert_eq!(w.sums().sum, 5);
    }
}
