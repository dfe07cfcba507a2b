//! De-duplication: a reporter counts once per service within the window, and
//! one address (however many client tokens it makes up) counts at most its
//! share. The writer asks it about each report of a batch and tells it the
//! batch's decisions once the batch has committed.

use super::ack::{Counting, PendingReport};
use std::collections::HashMap;

/// Hashes (service, reporter) keys cheaply. Safe without a random seed
/// because a reporter id is an HMAC output under a secret key: clients cannot
/// choose ids that collide, so there is no hash flooding to defend against.
#[derive(Default, Clone, Copy)]
pub(super) struct ReporterHasher(u64);

impl std::hash::Hasher for ReporterHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_i64(&mut self, n: i64) {
        self.write_u64(n as u64);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A reporter or a source of one service: (service id, keyed hash).
type Key = (i64, [u8; 16]);
type ReporterMap = HashMap<Key, i64, std::hash::BuildHasherDefault<ReporterHasher>>;
/// The times a source counted within the window, oldest first, at most
/// `dedup_max_per_address` of them.
type SourceMap = HashMap<Key, Vec<i64>, std::hash::BuildHasherDefault<ReporterHasher>>;

/// What one batch has decided so far; remembered only once it commits.
#[derive(Default)]
pub(super) struct BatchCounts {
    reporters: ReporterMap,
    sources: SourceMap,
}

impl BatchCounts {
    /// Takes back a report decided as counted that another node had
    /// counted first (its claim was refused): neither its reporter nor its
    /// source counted in this batch.
    pub(super) fn withdraw(&mut self, r: &PendingReport) {
        let key = (r.service_id, r.reporter);
        if self.reporters.get(&key) == Some(&r.received_ms) {
            self.reporters.remove(&key);
        }
        if let Some(source) = r.source {
            if let Some(times) = self.sources.get_mut(&(r.service_id, source)) {
                if let Some(i) = times.iter().position(|&t| t == r.received_ms) {
                    times.remove(i);
                }
            }
        }
    }
}

/// How many maps the de-duplicator spreads reporters over. A hash map grows
/// by doubling and rehashing everything at once: one map of a million
/// reporters held the writer (and every acknowledgement) for 43 ms when it
/// grew, 28 ms at half a million. Shards grow one at a time, each a 64th of
/// the size, and are pruned one at a time too.
pub(super) const DEDUP_SHARDS: usize = 64;

pub(super) struct Deduplicator {
    window_ms: i64,
    /// Most reporters (and most sources) one shard holds: the bound on
    /// memory, spread evenly.
    shard_cap: usize,
    /// When each (service, reporter) last counted, spread by reporter byte.
    shards: Vec<ReporterMap>,
    /// Most counted reports per (service, source) within the window.
    per_source: usize,
    /// When each (service, source) counted within the window, spread like
    /// `shards`: what caps one address's share however many client tokens
    /// it makes up.
    sources: Vec<SourceMap>,
    /// Latest report time seen: drives pruning (the clock may be a test's).
    latest_ms: i64,
    /// When each shard was last pruned.
    pruned_ms: Vec<i64>,
    /// The shard the next pruning looks at.
    next_prune: usize,
}

impl Deduplicator {
    pub(super) fn new(
        window_ms: i64,
        max_reporters: usize,
        per_source: usize,
        now_ms: i64,
    ) -> Self {
        Deduplicator {
            window_ms,
            shard_cap: max_reporters.div_ceil(DEDUP_SHARDS).max(1),
            shards: (0..DEDUP_SHARDS).map(|_| ReporterMap::default()).collect(),
            per_source: per_source.max(1),
            sources: (0..DEDUP_SHARDS).map(|_| SourceMap::default()).collect(),
            latest_ms: now_ms,
            pruned_ms: vec![now_ms; DEDUP_SHARDS],
            next_prune: 0,
        }
    }

    fn shard(&self, key: &Key) -> usize {
        // Reporter ids and sources are HMAC outputs: any byte is uniform.
        usize::from(key.1[15]) % DEDUP_SHARDS
    }

    fn within(&self, r: &PendingReport, t: i64) -> bool {
        (r.received_ms - t).abs() < self.window_ms
    }

    /// Decides whether `r` counts, given what is remembered and what this
    /// batch has decided before it, and adds a counted report to `batch`.
    pub(super) fn decide(&self, batch: &mut BatchCounts, r: &PendingReport) -> Counting {
        let key = (r.service_id, r.reporter);
        let prev = batch
            .reporters
            .get(&key)
            .or_else(|| self.shards[self.shard(&key)].get(&key));
        if prev.is_some_and(|&t| self.within(r, t)) {
            return Counting::Duplicate;
        }
        if let Some(source) = r.source {
            let skey = (r.service_id, source);
            let recent = |times: Option<&Vec<i64>>| {
                times.map_or(0, |ts| ts.iter().filter(|&&t| self.within(r, t)).count())
            };
            let used = recent(self.sources[self.shard(&skey)].get(&skey))
                + recent(batch.sources.get(&skey));
            if used >= self.per_source {
                return Counting::AddressLimit;
            }
            batch.sources.entry(skey).or_default().push(r.received_ms);
        }
        batch.reporters.insert(key, r.received_ms);
        Counting::Counted
    }

    /// Remembers that `key`'s source counted at `times`, keeping only the
    /// latest `per_source` (the older ones can no longer decide anything).
    /// False, like [`Deduplicator::insert`], when a new source finds its
    /// shard full.
    pub(super) fn insert_source(&mut self, key: Key, times: &[i64]) -> bool {
        let (cap, per_source) = (self.shard_cap, self.per_source);
        let i = self.shard(&key);
        let shard = &mut self.sources[i];
        if !shard.contains_key(&key) && shard.len() >= cap {
            return false;
        }
        let kept = shard.entry(key).or_default();
        kept.extend_from_slice(times);
        kept.sort_unstable();
        let excess = kept.len().saturating_sub(per_source);
        kept.drain(..excess);
        if let Some(&latest) = kept.last() {
            self.latest_ms = self.latest_ms.max(latest);
        }
        true
    }

    /// Remembers that `key` counted at `t`. A new reporter is not remembered
    /// when its shard is full (false): its report has counted, but a repeat
    /// within the window will count again. Memory stays bounded however many
    /// distinct reporters arrive; pruning makes room as windows pass.
    pub(super) fn insert(&mut self, key: (i64, [u8; 16]), t: i64) -> bool {
        self.latest_ms = self.latest_ms.max(t);
        let cap = self.shard_cap;
        let i = self.shard(&key);
        let shard = &mut self.shards[i];
        if let Some(slot) = shard.get_mut(&key) {
            *slot = (*slot).max(t);
            return true;
        }
        if shard.len() >= cap {
            return false;
        }
        shard.insert(key, t);
        true
    }

    pub(super) fn len(&self) -> usize {
        self.shards.iter().map(HashMap::len).sum()
    }

    /// Remembers a batch's counted reporters and sources; returns how many
    /// reporters could not be. A source has at most as many entries as
    /// reporters and the same bound, so it fills no sooner: a source not
    /// remembered (its address may count again) comes with reporters not
    /// remembered, which the metrics and the warning show.
    pub(super) fn remember(&mut self, batch: BatchCounts) -> usize {
        let mut unremembered = 0;
        for (key, t) in batch.reporters {
            unremembered += usize::from(!self.insert(key, t));
        }
        for (key, times) in batch.sources {
            self.insert_source(key, &times);
        }
        // Drop reporters and sources whose window has passed: each batch
        // looks at one shard, in turn, and prunes it if it has not been for
        // window/4.
        let i = self.next_prune;
        if self.latest_ms - self.pruned_ms[i] >= self.window_ms / 4 {
            let cutoff = self.latest_ms - self.window_ms;
            self.shards[i].retain(|_, t| *t > cutoff);
            self.sources[i].retain(|_, times| times.last().is_some_and(|t| *t > cutoff));
            self.pruned_ms[i] = self.latest_ms;
        }
        self.next_prune = (i + 1) % DEDUP_SHARDS;
        unremembered
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Category;

    fn report(reporter: u8, at_ms: i64) -> PendingReport {
        let mut id = [0u8; 16];
        id[0] = reporter;
        id[15] = reporter.wrapping_mul(37);
        PendingReport {
            service_id: 1,
            received_ms: at_ms,
            category: Category::parse("login").unwrap(),
            error_code: None,
            region: None,
            platform: None,
            comment: None,
            reporter: id,
            source: None,
            network: None,
        }
    }

    /// A report from `source` (an address) with client token `token`.
    fn from_source(source: u8, token: u8, at_ms: i64) -> PendingReport {
        let mut r = report(token, at_ms);
        r.reporter[1] = source;
        let mut s = [0u8; 16];
        s[0] = source;
        s[15] = source.wrapping_mul(53);
        r.source = Some(s);
        r
    }

    /// What the writer does with one batch: decide, then remember.
    fn decide(d: &mut Deduplicator, reports: &[PendingReport]) -> Vec<Counting> {
        let mut decided = BatchCounts::default();
        let out = reports.iter().map(|r| d.decide(&mut decided, r)).collect();
        d.remember(decided);
        out
    }

    fn batch(d: &mut Deduplicator, reports: &[PendingReport]) -> Vec<bool> {
        decide(d, reports)
            .into_iter()
            .map(Counting::counted)
            .collect()
    }

    #[test]
    fn a_full_shard_counts_new_reporters_without_remembering_them() {
        // One reporter per shard, and two reporters that land in the same one.
        let mut d = Deduplicator::new(900_000, DEDUP_SHARDS, 3, 0);
        let first = report(1, 0);
        let same_shard = (2..=255u8)
            .map(|i| report(i, 5))
            .find(|r| d.shard(&(1, r.reporter)) == d.shard(&(1, first.reporter)))
            .expect("two reporters in one shard");
        assert_eq!(batch(&mut d, std::slice::from_ref(&first)), [true]);
        let mut decided = BatchCounts::default();
        decided.reporters.insert((1, same_shard.reporter), 5);
        assert_eq!(d.remember(decided), 1, "the shard was full");
        // The remembered one is still a duplicate; the other counts again.
        let again = |r: &PendingReport| PendingReport {
            received_ms: 10,
            ..r.clone()
        };
        assert_eq!(
            batch(&mut d, &[again(&first), again(&same_shard)]),
            [false, true]
        );
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn a_reporter_counts_once_per_window_within_and_across_batches() {
        let window = 900_000;
        let mut d = Deduplicator::new(window, 1 << 20, 3, 0);
        assert_eq!(batch(&mut d, &[report(1, 0), report(1, 10)]), [true, false]);
        assert_eq!(
            batch(&mut d, &[report(1, window - 1), report(2, 5)]),
            [false, true]
        );
        assert_eq!(batch(&mut d, &[report(1, window)]), [true]);
    }

    #[test]
    fn old_reporters_are_pruned_shard_by_shard() {
        let window = 1_000;
        let mut d = Deduplicator::new(window, 1 << 20, 3, 0);
        let first: Vec<_> = (0..=255u8).map(|i| report(i, 0)).collect();
        batch(&mut d, &first);
        assert_eq!(d.len(), 256);
        // A window later, one batch per shard visits every shard once.
        for k in 0..DEDUP_SHARDS as i64 {
            batch(&mut d, &[report(0, 2 * window + k)]);
        }
        assert_eq!(d.len(), 1, "only the reporter still inside its window");
    }

    #[test]
    fn an_address_counts_its_share_per_window_whatever_its_tokens() {
        use Counting::{AddressLimit, Counted, Duplicate};
        let window = 900_000;
        let mut d = Deduplicator::new(window, 1 << 20, 2, 0);
        // Two tokens count, the third is over the address's share, within a
        // batch as across batches; a repeat is a duplicate and uses none.
        assert_eq!(
            decide(&mut d, &[from_source(1, 1, 0), from_source(1, 1, 1)]),
            [Counted, Duplicate]
        );
        assert_eq!(
            decide(
                &mut d,
                &[
                    from_source(1, 2, 10),
                    from_source(1, 3, 20),
                    from_source(2, 3, 20)
                ]
            ),
            [Counted, AddressLimit, Counted]
        );
        assert_eq!(decide(&mut d, &[from_source(1, 4, 30)]), [AddressLimit]);
        // The window slides: once the first has aged out, one more counts.
        assert_eq!(
            decide(
                &mut d,
                &[from_source(1, 4, window), from_source(1, 5, window + 1)]
            ),
            [Counted, AddressLimit]
        );
        assert_eq!(decide(&mut d, &[from_source(1, 5, window + 10)]), [Counted]);
        // Another service is another share.
        let mut other = from_source(1, 9, window + 20);
        other.service_id = 2;
        assert_eq!(decide(&mut d, &[other]), [Counted]);
    }

    #[test]
    fn reports_without_a_source_have_no_address_share() {
        let mut d = Deduplicator::new(900_000, 1 << 20, 1, 0);
        let reports: Vec<_> = (0..5u8).map(|i| report(i, 0)).collect();
        assert_eq!(batch(&mut d, &reports), [true; 5]);
    }

    #[test]
    fn old_sources_are_pruned_with_their_shard() {
        let window = 1_000;
        let mut d = Deduplicator::new(window, 1 << 20, 1, 0);
        let first: Vec<_> = (0..=255u8).map(|i| from_source(i, 0, 0)).collect();
        batch(&mut d, &first);
        let held = |d: &Deduplicator| d.sources.iter().map(HashMap::len).sum::<usize>();
        assert_eq!(held(&d), 256);
        for k in 0..DEDUP_SHARDS as i64 {
            batch(&mut d, &[report(0, 2 * window + k)]);
        }
        assert_eq!(held(&d), 0);
    }
}
