//! An event's life inside the detector: opening it where its run of high
//! buckets began, and following it bucket by bucket (waves, totals, peak,
//! severity) until reports have been back near normal for the merge gap.

use super::super::event::{Event, EventChange, OpenReason, Severity, Wave, WaveInput, WaveTracker};
use super::super::params::Tuning;
use super::super::score::surprise;
use super::{Observation, SeriesDetector, Status};

impl SeriesDetector {
    /// One bucket of an open event: its waves, totals, peak and severity, and
    /// its resolution once reports have been back near normal for the merge
    /// gap. `active` says the bucket keeps the event going; `abnormal`, that it
    /// is abnormal by its own or its window's score (the status after a
    /// resolution).
    pub(super) fn follow_event(
        &mut self,
        t: &Tuning,
        obs: &mut Observation,
        bucket_end: i64,
        active: bool,
        abnormal: bool,
    ) {
        let p = &t.params;
        let (bucket_start, count, mu) = (obs.bucket_start, obs.count, obs.expected);
        let step_minutes = t.step_minutes;
        let rate = count as f64 / step_minutes;
        let Some(ev) = self.state.open.as_mut() else {
            return;
        };
        let id = ev.id;
        let new_wave = self.state.wave.observe(
            &mut ev.waves,
            &WaveInput {
                bucket_start,
                bucket_end,
                count,
                rate,
                excess_rate: (count as f64 - mu) / step_minutes,
                active,
            },
            t.alpha_wave,
            p.dip_fraction,
            t.dip_secs,
            p.rise_fraction,
        );
        self.state.pending_total = self.state.pending_total.saturating_add(count);
        self.state.pending_expected += mu;
        if active {
            ev.total = ev.total.saturating_add(self.state.pending_total);
            ev.expected += self.state.pending_expected;
            ev.excess = ev.total as f64 - ev.expected;
            self.state.pending_total = 0;
            self.state.pending_expected = 0.0;
            ev.ended_at = bucket_end;
        }
        let mut updated = false;
        if rate > ev.peak {
            ev.peak = rate;
            ev.peak_at = bucket_start;
            ev.peak_baseline = mu / step_minutes;
            updated = true;
        }
        let severity = Severity::grade(ev.peak / ev.peak_baseline.max(1e-9), ev.excess);
        if severity != ev.severity {
            ev.severity = severity;
            updated = true;
        }
        obs.change = match new_wave {
            Some(wave) => Some(EventChange::NewWave { event_id: id, wave }),
            None if updated => Some(EventChange::Updated { event_id: id }),
            None => None,
        };
        let quiet = !active && bucket_end.saturating_sub(ev.ended_at) >= t.quiet_secs;
        if let Some(mut done) = self.state.open.take_if(|_| quiet) {
            // Only the quiet tail since the last abnormal bucket is trimmed off.
            let tail = self.state.pending_total;
            self.state.wave.finish(&mut done.waves, done.ended_at, tail);
            done.resolved_at = Some(bucket_end);
            self.state.last_resolved = Some(done);
            self.state.pending_total = 0;
            self.state.pending_expected = 0.0;
            obs.change = Some(EventChange::Resolved { event_id: id });
            obs.status = if abnormal {
                Status::Elevated
            } else {
                Status::Ok
            };
        }
    }

    /// Open an event at the current (last) window bucket, looking back over the
    /// window for the run of high buckets that led here.
    pub(super) fn start_event(
        &mut self,
        t: &Tuning,
        opened_by: OpenReason,
        detected_at: i64,
        phi: f64,
    ) {
        let step = t.step_secs;
        let step_minutes = t.step_minutes;
        let w = &mut self.state.window;
        let last = w.len().saturating_sub(1);
        // The bucket that opens the event was just pushed: the window is not empty.
        let Some(cur) = w.get(last) else {
            return;
        };
        let mut first = last;
        let mut first_start = cur.start;
        // Walk back over contiguous buckets that were at least mildly high
        // (p < 0.1): they are the event's start, not background.
        while first > 0 {
            let Some(prev) = w.get(first - 1) else {
                break;
            };
            let contiguous = first_start.saturating_sub(prev.start) <= step;
            if contiguous && surprise(prev.count, prev.expected, phi) >= 1.0 {
                first -= 1;
                first_start = prev.start;
            } else {
                break;
            }
        }
        let mut total = 0u64;
        let mut expected = 0.0;
        let mut peak = (0u64, cur.start, cur.expected);
        for i in first..=last {
            let Some(b) = w.get(i) else {
                break;
            };
            w.set_in_event(i);
            total = total.saturating_add(b.count);
            expected += b.expected;
            if b.count > peak.0 {
                peak = (b.count, b.start, b.expected);
            }
        }
        let started_at = first_start;
        let id = self.state.next_event_id;
        self.state.next_event_id += 1;
        let excess = total as f64 - expected;
        let peak_rate = peak.0 as f64 / step_minutes;
        let peak_baseline = peak.2 / step_minutes;
        self.state.open = Some(Box::new(Event {
            id,
            started_at,
            detected_at,
            opened_by,
            peak_at: peak.1,
            peak: peak_rate,
            peak_baseline,
            ended_at: cur.start.saturating_add(step),
            resolved_at: None,
            total,
            excess,
            expected,
            severity: Severity::grade(peak_rate / peak_baseline.max(1e-9), excess),
            waves: vec![Wave {
                started_at,
                peak_at: peak.1,
                peak: peak_rate,
                ended_at: cur.start.saturating_add(step),
                reports: total,
            }],
        }));
        self.state.wave = WaveTracker::start((cur.count as f64 - cur.expected) / step_minutes);
        self.state.pending_total = 0;
        self.state.pending_expected = 0.0;
        self.state.rise.disarm();
        // The sustained evidence that led here belongs to this event: without
        // this its residue would open a second, empty event once it resolves.
        self.state.sustained_count = self.state.sustained_expected;
    }
}
