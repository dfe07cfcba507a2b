//! Outage events and their waves: the record a detector keeps while an event is
//! open, and the rules that split one event into waves and grade its severity.
//!
//! Times are unix seconds (UTC). Bucket `[start, start + step)`; `*_at` fields that
//! name a bucket hold its start, `ended_at`/`resolved_at`/`detected_at` hold ends.

use serde::{Deserialize, Serialize};

use crate::detect::vocabulary::vocabulary;

/// How bad an event is. Rule (applied to the whole event so far):
/// - `Critical`: peak ratio >= 10 and excess >= 1000 reports;
/// - `Major`: peak ratio >= 4 and excess >= 100 reports;
/// - `Minor`: anything else that opened.
///
/// The peak ratio is the peak bucket's count over that bucket's baseline. Both
/// conditions are needed: a 20x jump from 1 report is not critical, nor is a
/// 5% rise on a huge service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Minor,
    Major,
    Critical,
}

vocabulary!(Severity, "severity", {
    Minor => "minor",
    Major => "major",
    Critical => "critical",
});

impl Severity {
    pub fn grade(peak_ratio: f64, excess: f64) -> Self {
        if peak_ratio >= 10.0 && excess >= 1000.0 {
            Severity::Critical
        } else if peak_ratio >= 4.0 && excess >= 100.0 {
            Severity::Major
        } else {
            Severity::Minor
        }
    }
}

/// Which door the event came in by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpenReason {
    /// One bucket beyond `extreme_score`.
    Extreme,
    /// Moderate evidence held over the persistence window.
    Persistent,
    /// A moderate rise held for hours (the sustained-evidence EWMA).
    Sustained,
    /// The trailing window's sum reached `rise_ratio` times the typical (median)
    /// window sum.
    Rise,
}

vocabulary!(OpenReason, "reason an outage opened", {
    Extreme => "extreme",
    Persistent => "persistent",
    Sustained => "sustained",
    Rise => "rise",
});

/// Whether an event is still going on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    Open,
    Resolved,
}

vocabulary!(EventStatus, "event status", {
    Open => "open",
    Resolved => "resolved",
});

/// One rise of reports inside an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Wave {
    /// Start of the wave's first bucket.
    pub started_at: i64,
    /// Start of the wave's highest bucket.
    pub peak_at: i64,
    /// Highest count in the wave, in reports per minute.
    pub peak: f64,
    /// End of the wave's last bucket (so far, while it goes on).
    pub ended_at: i64,
    /// All reports in the wave's buckets.
    pub reports: u64,
}

/// One outage event of one series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Per-series sequence number, from 1.
    pub id: u64,
    /// Start of the first abnormal bucket (the run of high buckets that led to the
    /// opening, looked back within the persistence window).
    pub started_at: i64,
    /// End of the bucket at which the event opened: the first moment a live system
    /// that sees only closed buckets knows (causal).
    pub detected_at: i64,
    pub opened_by: OpenReason,
    /// Start of the highest bucket.
    pub peak_at: i64,
    /// Highest count, in reports per minute (count / bucket minutes).
    pub peak: f64,
    /// Baseline of the peak bucket, reports per minute.
    pub peak_baseline: f64,
    /// End of the last abnormal bucket: the event's span is `[started_at, ended_at)`.
    pub ended_at: i64,
    /// End of the bucket at which the quiet period was complete; `None` while open.
    pub resolved_at: Option<i64>,
    /// All reports in the span (baseline and excess alike).
    pub total: u64,
    /// Reports above the (frozen) baseline in the span: `total - expected`.
    pub excess: f64,
    /// Baseline summed over the span.
    pub expected: f64,
    pub severity: Severity,
    pub waves: Vec<Wave>,
}

impl Event {
    pub fn is_open(&self) -> bool {
        self.resolved_at.is_none()
    }

    pub fn status(&self) -> EventStatus {
        if self.is_open() {
            EventStatus::Open
        } else {
            EventStatus::Resolved
        }
    }
}

/// What changed in this bucket, if anything. The event itself is read from the
/// detector ([`super::SeriesDetector::open_event`] / `last_resolved`), so emitting
/// a change never allocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum EventChange {
    Opened {
        event_id: u64,
    },
    NewWave {
        event_id: u64,
        wave: usize,
    },
    /// New peak or a higher severity.
    Updated {
        event_id: u64,
    },
    Resolved {
        event_id: u64,
    },
}

/// Splits an open event into waves from its smoothed excess rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct WaveTracker {
    /// EWMA of excess reports per minute.
    smoothed: f64,
    /// Highest smoothed excess of the current wave.
    wave_peak: f64,
    /// Smoothed peak of the wave before the current dip.
    prev_peak: f64,
    /// Inside a confirmed dip between waves.
    in_dip: bool,
    /// Start of the first bucket of a run below the dip line (a dip candidate).
    below_since: Option<i64>,
    /// Reports in that run, to hand back if it becomes a dip.
    below_reports: u64,
    /// Start of the first bucket of a rise out of a dip (a wave candidate).
    rise_since: Option<i64>,
    /// Reports and peak of the rise so far.
    rise_reports: u64,
    rise_peak: f64,
    rise_peak_at: i64,
}

/// One bucket as the wave tracker sees it.
pub struct WaveInput {
    pub bucket_start: i64,
    pub bucket_end: i64,
    pub count: u64,
    /// Count per minute.
    pub rate: f64,
    /// Excess over baseline per minute.
    pub excess_rate: f64,
    /// The bucket is abnormal (keeps the event alive).
    pub active: bool,
}

impl WaveTracker {
    pub fn start(excess_rate: f64) -> Self {
        Self {
            smoothed: excess_rate,
            wave_peak: excess_rate,
            ..Self::default()
        }
    }

    /// Whether a bucket with this excess rate is still part of the current
    /// wave's tail: outside a dip, the smoothed excess (with this bucket) still
    /// above `fraction` of the wave's smoothed peak.
    pub fn in_tail(&self, excess_rate: f64, alpha: f64, fraction: f64) -> bool {
        let smoothed = self.smoothed + alpha * (excess_rate - self.smoothed);
        !self.in_dip && excess_rate > 0.0 && smoothed >= fraction * self.wave_peak
    }

    /// Feed one bucket of an open event; returns the index of a wave that started.
    pub fn observe(
        &mut self,
        waves: &mut Vec<Wave>,
        b: &WaveInput,
        alpha: f64,
        dip_fraction: f64,
        dip_secs: i64,
        rise_fraction: f64,
    ) -> Option<usize> {
        self.smoothed += alpha * (b.excess_rate - self.smoothed);
        if !self.in_dip {
            let wave = waves.last_mut()?;
            wave.reports = wave.reports.saturating_add(b.count);
            wave.ended_at = b.bucket_end;
            if b.rate > wave.peak {
                wave.peak = b.rate;
                wave.peak_at = b.bucket_start;
            }
            self.wave_peak = self.wave_peak.max(self.smoothed);
            if self.smoothed < dip_fraction * self.wave_peak {
                let since = *self.below_since.get_or_insert(b.bucket_start);
                self.below_reports = self.below_reports.saturating_add(b.count);
                if b.bucket_end.saturating_sub(since) >= dip_secs {
                    // A real dip: the wave ended where the fall below the line began.
                    wave.ended_at = since;
                    wave.reports = wave.reports.saturating_sub(self.below_reports);
                    self.in_dip = true;
                    self.prev_peak = self.wave_peak;
                    self.below_since = None;
                    self.below_reports = 0;
                }
            } else {
                self.below_since = None;
                self.below_reports = 0;
            }
            return None;
        }
        // In a dip: a rise starts above the dip line, and becomes a wave once it
        // reaches the rise line on an abnormal bucket.
        if self.smoothed >= dip_fraction * self.prev_peak || b.active {
            if self.rise_since.is_none() {
                self.rise_since = Some(b.bucket_start);
                self.rise_reports = 0;
                self.rise_peak = 0.0;
                self.rise_peak_at = b.bucket_start;
            }
            self.rise_reports = self.rise_reports.saturating_add(b.count);
            if b.rate > self.rise_peak {
                self.rise_peak = b.rate;
                self.rise_peak_at = b.bucket_start;
            }
        } else {
            self.rise_since = None;
        }
        if b.active && self.smoothed >= rise_fraction * self.prev_peak {
            let started_at = self.rise_since.unwrap_or(b.bucket_start);
            waves.push(Wave {
                started_at,
                peak_at: self.rise_peak_at,
                peak: self.rise_peak,
                ended_at: b.bucket_end,
                reports: self.rise_reports,
            });
            self.in_dip = false;
            self.wave_peak = self.smoothed;
            self.rise_since = None;
            return Some(waves.len() - 1);
        }
        None
    }

    /// The event resolved with its last abnormal bucket ending at `ended_at`:
    /// trim the last wave to it (the quiet tail is no wave).
    pub fn finish(&self, waves: &mut [Wave], ended_at: i64, tail_reports: u64) {
        if let Some(w) = waves.last_mut() {
            if !self.in_dip && w.ended_at > ended_at {
                w.ended_at = ended_at.max(w.started_at);
                w.reports = w.reports.saturating_sub(tail_reports);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(rates: &[f64]) -> Vec<Wave> {
        let mut waves = vec![Wave {
            started_at: 0,
            peak_at: 0,
            peak: rates[0],
            ended_at: 60,
            reports: rates[0] as u64,
        }];
        let mut t = WaveTracker::start(rates[0]);
        for (i, &r) in rates.iter().enumerate().skip(1) {
            let s = i as i64 * 60;
            let b = WaveInput {
                bucket_start: s,
                bucket_end: s + 60,
                count: r as u64,
                rate: r,
                excess_rate: r,
                active: r > 5.0,
            };
            t.observe(&mut waves, &b, 1.0 - (-1.0f64 / 5.0).exp(), 0.5, 300, 0.5);
        }
        waves
    }

    #[test]
    fn one_hump_is_one_wave() {
        let mut r = vec![];
        for i in 0..60 {
            r.push(100.0 * (1.0 - ((i as f64 - 30.0) / 30.0).powi(2)).max(0.0) + 10.0);
        }
        assert_eq!(feed(&r).len(), 1);
    }

    #[test]
    fn noise_inside_a_wave_is_no_new_wave() {
        let r: Vec<f64> = (0..90)
            .map(|i| if i % 3 == 0 { 60.0 } else { 100.0 })
            .collect();
        assert_eq!(feed(&r).len(), 1);
    }

    #[test]
    fn three_humps_with_dips_are_three_waves() {
        let mut r = vec![];
        for _ in 0..3 {
            r.extend(std::iter::repeat_n(100.0, 30));
            r.extend(std::iter::repeat_n(0.0, 15));
        }
        let w = feed(&r);
        assert_eq!(w.len(), 3, "{w:?}");
        // Each wave holds its 30 busy minutes and ends near where they stop.
        for (k, wave) in w.iter().enumerate() {
            assert_eq!(wave.reports, 3000, "{wave:?}");
            let busy_end = (k as i64 * 45 + 30) * 60;
            assert!((wave.ended_at - busy_end).abs() <= 600, "{wave:?}");
        }
    }

    #[test]
    fn the_words_are_serde_s_words() {
        use crate::detect::vocabulary::assert_serde_matches;
        assert_serde_matches(Severity::ALL, |v| v.as_str());
        assert_serde_matches(OpenReason::ALL, |v| v.as_str());
        assert_serde_matches(EventStatus::ALL, |v| v.as_str());
        assert_eq!("critical".parse::<Severity>(), Ok(Severity::Critical));
        assert!("severe".parse::<Severity>().is_err());
    }

    #[test]
    fn severity_needs_ratio_and_volume() {
        assert_eq!(Severity::grade(20.0, 50.0), Severity::Minor);
        assert_eq!(Severity::grade(5.0, 500.0), Severity::Major);
        assert_eq!(Severity::grade(12.0, 5000.0), Severity::Critical);
        assert_eq!(Severity::grade(1.5, 5000.0), Severity::Minor);
    }
}
