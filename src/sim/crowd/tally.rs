//! What each live viewer kept of its run, and the report made of them all:
//! for each change of the board, how many viewers should have had it, how
//! many did, and how long the news and the new page took.

use super::stats::Summary;
use serde::Serialize;
use std::collections::BTreeMap;

/// One viewer's record.
#[derive(Debug, Clone, Default)]
pub struct ViewerLog {
    /// The generation its first stream opened at: every later change is
    /// one it should get.
    pub first_generation: Option<u64>,
    /// The changes it heard of, one each.
    pub deliveries: Vec<Delivery>,
    /// Changes it never heard of by their own message because a later one
    /// came first (the server sends the latest when a stream falls behind).
    pub skipped: Vec<u64>,
    /// Its first page arrived.
    pub has_page: bool,
    /// `503 live_full` answers to opening the stream.
    pub refused: u64,
    /// Streams that ended or broke while it watched (it opened another).
    pub stream_ends: u64,
    /// Comment lines read: the server's heartbeats.
    pub heartbeats: u64,
    /// Page answers, by status.
    pub statuses: BTreeMap<u16, u64>,
    /// What went wrong, by its description, and how often.
    pub errors: BTreeMap<String, u64>,
}

impl ViewerLog {
    pub fn error(&mut self, what: impl Into<String>) {
        *self.errors.entry(what.into()).or_default() += 1;
    }
}

/// One viewer's news of one change.
#[derive(Debug, Clone, Copy)]
pub struct Delivery {
    pub generation: u64,
    /// The server's wall clock at the change, Unix ms.
    pub at_ms: i64,
    /// From the change to the message being read, ms.
    pub heard_ms: f64,
    /// From the change to the page having arrived whole, ms; `None` when
    /// the page could not be had.
    pub page_ms: Option<f64>,
    /// The page came as a `200` with an `ETag` other than the one the
    /// viewer had.
    pub new_page: bool,
}

/// One change of the board, as the viewers saw it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChangeReport {
    pub generation: u64,
    pub at_ms: i64,
    /// Viewers whose stream opened before the change: each should have the
    /// new page.
    pub expected: usize,
    /// Of them, those who read its message, and those who then had their
    /// page (`200` or `304`).
    pub heard: usize,
    pub delivered: usize,
    /// Of those, the pages that came new (`200`, another `ETag`).
    pub new_page: usize,
    /// Those who got a later change's message first.
    pub skipped: usize,
    /// From the change to the message read, and to the page had, ms.
    pub heard_ms: Summary,
    pub page_ms: Summary,
}

impl ChangeReport {
    /// Viewers who should have had it and did not hear of it at all.
    pub fn missing(&self) -> usize {
        self.expected.saturating_sub(self.heard + self.skipped)
    }

    /// Every viewer that should have had the new page had it.
    pub fn complete(&self) -> bool {
        self.expected > 0 && self.delivered == self.expected
    }
}

/// All the viewers together.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ViewerReport {
    pub viewers: usize,
    /// Viewers whose stream opened, and who had their first page.
    pub opened: usize,
    pub with_page: usize,
    pub refused_503: u64,
    pub stream_ends: u64,
    pub heartbeats: u64,
    pub page_statuses: BTreeMap<u16, u64>,
    pub errors: BTreeMap<String, u64>,
    /// Page fetches in flight at once, at most.
    pub peak_fetches: usize,
    /// Page fetches that waited for a place (the generator's own bound on
    /// descriptors), their wait counted in their time.
    pub fetch_waits: u64,
    /// Every change up to the one the run ended at, oldest first.
    pub changes: Vec<ChangeReport>,
    /// Every delivery of those changes: change time and page time (ms).
    #[serde(skip)]
    pub page_times: Vec<(i64, Option<f64>)>,
}

impl ViewerReport {
    /// Puts the viewers' logs together, counting the changes up to
    /// `last_generation` (a later one reached some viewers as the run
    /// ended, and not the others: it is left out).
    pub fn of(logs: &[ViewerLog], last_generation: u64) -> ViewerReport {
        let mut report = ViewerReport {
            viewers: logs.len(),
            ..ViewerReport::default()
        };
        let mut changes: BTreeMap<u64, (ChangeReport, Vec<f64>, Vec<f64>)> = BTreeMap::new();
        for log in logs {
            report.opened += usize::from(log.first_generation.is_some());
            report.with_page += usize::from(log.has_page);
            report.refused_503 += log.refused;
            report.stream_ends += log.stream_ends;
            report.heartbeats += log.heartbeats;
            merge(&mut report.page_statuses, &log.statuses);
            merge(&mut report.errors, &log.errors);
            for d in log
                .deliveries
                .iter()
                .filter(|d| d.generation <= last_generation)
            {
                let (c, heard, page) = changes.entry(d.generation).or_default();
                c.generation = d.generation;
                c.at_ms = d.at_ms;
                c.heard += 1;
                heard.push(d.heard_ms);
                if let Some(ms) = d.page_ms {
                    c.delivered += 1;
                    c.new_page += usize::from(d.new_page);
                    page.push(ms);
                }
                report.page_times.push((d.at_ms, d.page_ms));
            }
            for &g in log.skipped.iter().filter(|&&g| g <= last_generation) {
                changes.entry(g).or_default().0.skipped += 1;
            }
        }
        let firsts: Vec<u64> = logs.iter().filter_map(|l| l.first_generation).collect();
        report.changes = changes
            .into_iter()
            .map(|(generation, (mut c, heard, page))| {
                c.generation = generation;
                c.expected = firsts.iter().filter(|&&f| f < generation).count();
                c.heard_ms = Summary::of(heard);
                c.page_ms = Summary::of(page);
                c
            })
            .collect();
        report
    }

    pub fn change(&self, generation: u64) -> Option<&ChangeReport> {
        self.changes.iter().find(|c| c.generation == generation)
    }

    /// From change to page, over the changes made from `from_ms` to
    /// `to_ms` (server wall clock, Unix ms).
    pub fn page_ms_between(&self, from_ms: i64, to_ms: i64) -> Summary {
        Summary::of(
            self.page_times
                .iter()
                .filter(|(at, _)| (from_ms..=to_ms).contains(at))
                .filter_map(|(_, ms)| *ms)
                .collect(),
        )
    }

    /// Page fetches that failed (no answer, or not `200`/`304`).
    pub fn failed_fetches(&self) -> u64 {
        let bad: u64 = self
            .page_statuses
            .iter()
            .filter(|(s, _)| !matches!(s, 200 | 304))
            .map(|(_, n)| n)
            .sum();
        bad + self.errors.values().sum::<u64>()
    }
}

fn merge<K: Ord + Clone>(into: &mut BTreeMap<K, u64>, from: &BTreeMap<K, u64>) {
    for (k, n) in from {
        *into.entry(k.clone()).or_default() += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(generation: u64, page_ms: Option<f64>) -> Delivery {
        Delivery {
            generation,
            at_ms: 1000 * generation as i64,
            heard_ms: 5.0,
            page_ms,
            new_page: page_ms.is_some(),
        }
    }

    #[test]
    fn each_change_counts_who_should_have_had_it_and_who_did() {
        let logs = vec![
            // Opened at 1, had 2 and 3.
            ViewerLog {
                first_generation: Some(1),
                deliveries: vec![delivery(2, Some(300.0)), delivery(3, Some(900.0))],
                has_page: true,
                ..ViewerLog::default()
            },
            // Opened at 1, heard of 3 first (2 skipped), its fetch failed.
            ViewerLog {
                first_generation: Some(1),
                deliveries: vec![delivery(3, None)],
                skipped: vec![2],
                has_page: true,
                ..ViewerLog::default()
            },
            // Opened at 2: only 3 was for it, and it never heard of it.
            ViewerLog {
                first_generation: Some(2),
                has_page: true,
                ..ViewerLog::default()
            },
            // Never opened.
            ViewerLog {
                refused: 2,
                ..ViewerLog::default()
            },
        ];
        let r = ViewerReport::of(&logs, 3);
        assert_eq!(
            (r.viewers, r.opened, r.with_page, r.refused_503),
            (4, 3, 3, 2)
        );
        let two = r.change(2).unwrap();
        assert_eq!(
            (
                two.expected,
                two.heard,
                two.delivered,
                two.skipped,
                two.missing()
            ),
            (2, 1, 1, 1, 0)
        );
        assert!(!two.complete());
        let three = r.change(3).unwrap();
        assert_eq!(
            (
                three.expected,
                three.heard,
                three.delivered,
                three.missing()
            ),
            (3, 2, 1, 1)
        );
        assert_eq!(three.page_ms.max, 900.0);
        // The changes made from 2.5 s to 3 s: only generation 3's page.
        assert_eq!(r.page_ms_between(2500, 3000).count, 1);
    }

    #[test]
    fn changes_after_the_last_generation_are_left_out() {
        let logs = vec![ViewerLog {
            first_generation: Some(1),
            deliveries: vec![delivery(2, Some(10.0)), delivery(3, Some(10.0))],
            skipped: vec![4],
            ..ViewerLog::default()
        }];
        let r = ViewerReport::of(&logs, 2);
        assert_eq!(r.changes.len(), 1);
        assert!(r.change(2).unwrap().complete());
        assert_eq!(r.page_times.len(), 1);
    }
}
