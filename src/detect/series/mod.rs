//! The per-series state machine: feeds closed buckets to the baseline (late, and
//! only when they were normal), scores each bucket and the persistence window, opens,
//! follows and resolves events.
//!
//! Status: `Ok` → `Elevated` (abnormal, no event yet) → `Outage` (event open).
//! Open: any of the four paths (one extreme bucket, the persistence window, the
//! sustained evidence, the relative rise) crossing its own per-series threshold
//! (see `threshold.rs`), with at least `min_excess` reports above baseline.
//! Resolve: the merge gap (`quiet_minutes`) with reports back near normal (no
//! abnormal bucket, the last wave's tail spent). While open the baseline is frozen
//! (up to `max_freeze_minutes`).

use serde::{Deserialize, Serialize};

use super::baseline::{BaselineModel, Position};
use super::event::{Event, EventChange, OpenReason, WaveTracker};
use super::params::{Path, Tuning};
use super::rise::RiseTracker;
use super::score::{normal_upper_quantile, surprise, upper_band, z_score, TailCalibration};
use super::threshold::PathThreshold;
use super::window::{Window, WindowBucket};

/// Where a series stands after a bucket (Downdetector's three levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    /// Abnormal bucket or window, but no event (yet).
    Elevated,
    /// An event is open.
    Outage,
}

crate::detect::vocabulary::vocabulary!(Status, "status", {
    Ok => "ok",
    Elevated => "elevated",
    Outage => "outage",
});

impl Status {
    /// What the status means to a reader.
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "No problems",
            Status::Elevated => "Possible problems",
            Status::Outage => "Outage",
        }
    }

    /// Sort key: outages first, then possible problems, then the rest.
    pub fn rank(self) -> u8 {
        match self {
            Status::Outage => 0,
            Status::Elevated => 1,
            Status::Ok => 2,
        }
    }
}

/// The detector's verdict on one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub bucket_start: i64,
    pub count: u64,
    /// Baseline: the expected count for this bucket.
    pub expected: f64,
    /// Approximate count at which the bucket's score reaches `elevated_score`.
    pub band: f64,
    /// Decision score: `-log10 P(X >= count)` under the baseline's negative
    /// binomial, calibrated to the series' own tail (see [`TailCalibration`]).
    pub score: f64,
    /// The model's score before tail calibration.
    pub raw_score: f64,
    /// Plain z-score, for people.
    pub z: f64,
    /// Dispersion used for this bucket (NB2 phi; 0 = Poisson).
    pub phi: f64,
    /// Score of the persistence window's summed count.
    pub window_score: f64,
    pub status: Status,
    pub change: Option<EventChange>,
}

/// Everything a detector remembers: serialise it to persist, restore it with
/// [`SeriesDetector::from_state`]. Parameters are not part of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesState {
    /// Bucket step the state was built for; a state only resumes at the same step.
    pub step_secs: i64,
    baseline: BaselineModel,
    /// The persistence window, oldest first; also the learning delay line.
    window: Window,
    /// Start of the last bucket seen; older or equal buckets are ignored.
    last_bucket: Option<i64>,
    /// The open event, if any. Boxed, as is `last_resolved`: events are rare, and
    /// inline they would double the bytes every tick streams through.
    open: Option<Box<Event>>,
    /// The most recently resolved event (what a `Resolved` change refers to).
    last_resolved: Option<Box<Event>>,
    next_event_id: u64,
    /// How heavy the real tail of bucket scores and of window scores is.
    tail_bucket: TailCalibration,
    tail_window: TailCalibration,
    tail_sustained: TailCalibration,
    /// Sustained-evidence EWMAs of the count and of the baseline per bucket.
    /// Inside events they are fed the baseline, so an event leaves no residue.
    sustained_count: f64,
    sustained_expected: f64,
    /// Start of the first bucket ever seen, for the warm-up.
    first_bucket: Option<i64>,
    wave: WaveTracker,
    /// Reports and baseline of an open event's buckets after its last abnormal one:
    /// they join the event only if it becomes abnormal again.
    pending_total: u64,
    pending_expected: f64,
    /// The relative-rise path (absent in states saved before it existed).
    #[serde(default)]
    rise: RiseTracker,
    /// Each opening path's own threshold, learned from this series' normal
    /// episodes, indexed by [`Path`] (empty in states saved before they existed:
    /// restored at the defaults).
    #[serde(default)]
    thresholds: Vec<PathThreshold>,
}

/// One series' detector. Build it with [`SeriesDetector::new`], feed it closed
/// buckets in time order with [`SeriesDetector::observe`].
///
/// The detector does not hold its [`Tuning`]: the caller keeps one per parameter
/// set and bucket step, shared by all its detectors, and passes it to every call.
/// A detector must always be given the tuning it was built or restored with.
#[derive(Debug, Clone)]
pub struct SeriesDetector {
    /// Raw score at which the calibrated score is `elevated_score`, and its
    /// standard normal quantile: recomputed only when the calibration moves.
    band_raw: f64,
    band_z: f64,
    state: SeriesState,
}

/// What the persistence window says after a bucket.
struct WindowEvidence {
    /// Reports above the window's summed baseline.
    excess: f64,
    /// Buckets above their baseline, and buckets held.
    above: usize,
    len: usize,
    /// The window holds its full length.
    full: bool,
    /// Calibrated score of the window's sum.
    score: f64,
}

/// What the sustained-evidence EWMA says after a bucket.
struct SustainedEvidence {
    /// Reports above baseline in the equivalent window sum.
    excess: f64,
    /// The series has the EWMA's span of history.
    history: bool,
    /// Calibrated score of the equivalent window sum.
    score: f64,
}

/// A persisted state that does not fit the detector's parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum RestoreError {
    /// Saved for another bucket step or profile slot count than the tuning's.
    Mismatch,
}

impl std::fmt::Display for RestoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RestoreError::Mismatch => {
                write!(
                    f,
                    "saved detector state does not fit the step or profile slots"
                )
            }
        }
    }
}

impl std::error::Error for RestoreError {}

/// The band's raw score moves in steps of 0.05, so the normal quantile is
/// recomputed rarely and a restored detector draws exactly the same band.
fn quantise_band(raw: f64) -> f64 {
    (raw * 20.0).round() / 20.0
}

impl SeriesDetector {
    /// A fresh detector for the tuning's parameters and bucket step.
    pub fn new(tuning: &Tuning) -> Self {
        let state = SeriesState {
            step_secs: tuning.step_secs,
            baseline: BaselineModel::new(tuning),
            window: Window::with_capacity(tuning.window_len),
            last_bucket: None,
            open: None,
            last_resolved: None,
            next_event_id: 1,
            tail_bucket: TailCalibration::new(
                tuning.params.tail_threshold_score,
                tuning.tail_prior_weight,
            ),
            tail_window: TailCalibration::new(
                tuning.params.tail_threshold_score,
                tuning.tail_prior_weight,
            ),
            first_bucket: None,
            tail_sustained: TailCalibration::new(
                tuning.params.tail_threshold_score,
                tuning.tail_prior_weight,
            ),
            sustained_count: 0.0,
            sustained_expected: 0.0,
            wave: WaveTracker::default(),
            pending_total: 0,
            pending_expected: 0.0,
            rise: RiseTracker::new(tuning),
            thresholds: tuning.rules.iter().map(PathThreshold::new).collect(),
        };
        Self::assemble(tuning, state)
    }

    fn assemble(tuning: &Tuning, state: SeriesState) -> Self {
        let band_raw = quantise_band(state.tail_bucket.raw_for(
            tuning.params.elevated_score,
            tuning.params.tail_threshold_score,
        ));
        Self {
            band_z: normal_upper_quantile(band_raw),
            band_raw,
            state,
        }
    }

    /// Resume from a persisted state with (possibly changed) parameters; the state
    /// must have been saved for the tuning's bucket step.
    pub fn from_state(tuning: &Tuning, mut state: SeriesState) -> Result<Self, RestoreError> {
        if state.step_secs != tuning.step_secs || !state.baseline.fits(tuning) {
            return Err(RestoreError::Mismatch);
        }
        // A changed persistence window keeps the newest buckets; dropped ones are
        // simply not learned, which is harmless.
        state.window.fit(tuning.window_len);
        state.rise.restore(tuning);
        if state.thresholds.len() != Path::COUNT {
            state.thresholds = tuning.rules.iter().map(PathThreshold::new).collect();
        }
        Ok(Self::assemble(tuning, state))
    }

    /// Rebuild a detector by replaying stored counts (the other way to resume).
    pub fn replay<I>(tuning: &Tuning, buckets: I) -> Self
    where
        I: IntoIterator<Item = (i64, u64)>,
    {
        let mut d = Self::new(tuning);
        for (t, c) in buckets {
            d.observe(tuning, t, c);
        }
        d
    }

    /// The state to persist.
    pub fn state(&self) -> &SeriesState {
        &self.state
    }

    /// The open event, if any.
    pub fn open_event(&self) -> Option<&Event> {
        self.state.open.as_deref()
    }

    /// The most recently resolved event.
    pub fn last_resolved(&self) -> Option<&Event> {
        self.state.last_resolved.as_deref()
    }

    /// The level at which `path` opens an event on this series now.
    pub fn threshold(&self, path: Path) -> f64 {
        self.state
            .thresholds
            .get(path as usize)
            .map_or(f64::INFINITY, PathThreshold::threshold)
    }

    /// Feed one closed bucket `[bucket_start, bucket_start + step)` with `count`
    /// reports. Buckets must come in time order; a bucket at or before the last one
    /// is scored but changes nothing. Missing buckets (gaps) are allowed: the
    /// window and the quiet period are measured in time, not rows.
    ///
    /// `tuning` must be the one the detector was built or restored with (the same
    /// parameters and bucket step).
    pub fn observe(&mut self, tuning: &Tuning, bucket_start: i64, count: u64) -> Observation {
        debug_assert_eq!(
            tuning.step_secs, self.state.step_secs,
            "another step's tuning"
        );
        let t = tuning;
        let p = &t.params;
        let (mut obs, raw_score) = self.score_bucket(t, bucket_start, count);
        if matches!(self.state.last_bucket, Some(last) if bucket_start <= last) {
            return obs;
        }
        self.state.last_bucket = Some(bucket_start);
        let first = *self.state.first_bucket.get_or_insert(bucket_start);
        let warm = bucket_start.saturating_sub(first) >= t.warmup_secs;
        let bucket_end = bucket_start.saturating_add(t.step_secs);
        let rise_threshold = self.threshold(Path::Rise);
        let rise = self
            .state
            .rise
            .observe(t, bucket_start, count, 0.5 * rise_threshold.exp());
        self.slide_window(t, bucket_start, first);
        let window = self.window_evidence(t, &obs, raw_score);
        obs.window_score = window.score;
        let sustained = self.sustained_evidence(t, &obs, first, warm);

        let (x, mu) = (count as f64, obs.expected);
        let high = x > mu;
        let bucket_abnormal = high && obs.score >= p.elevated_score;
        let window_abnormal = high && window.score >= p.persist_score;
        // Each path's statistic, where the path can speak at all.
        let mut stats = [0.0; Path::COUNT];
        stats[Path::Extreme as usize] = if high { obs.score } else { 0.0 };
        stats[Path::Persistent as usize] = if window.full { window.score } else { 0.0 };
        stats[Path::Sustained as usize] = if sustained.history {
            sustained.score
        } else {
            0.0
        };
        stats[Path::Rise as usize] = if rise.ready { rise.ratio.ln() } else { 0.0 };

        if self.state.open.is_some() {
            if warm {
                self.learn_thresholds(t, &stats, bucket_end);
            }
            let abnormal = bucket_abnormal || window_abnormal;
            let active = bucket_abnormal
                || (window_abnormal && obs.score >= 2.0)
                || self.state.wave.in_tail(
                    (x - mu) / t.step_minutes,
                    t.alpha_wave,
                    p.wave_tail_fraction,
                );
            self.follow_event(t, &mut obs, bucket_end, active, abnormal);
            return obs;
        }
        if !warm {
            return obs;
        }
        let crosses = |path: Path| stats[path as usize] >= self.threshold(path);
        let reason = if crosses(Path::Extreme) && window.excess.max(x - mu) >= p.min_excess {
            Some(OpenReason::Extreme)
        } else if high
            && crosses(Path::Persistent)
            && 2 * window.above >= window.len
            && window.excess >= p.min_excess
        {
            Some(OpenReason::Persistent)
        } else if rise.armed
            && crosses(Path::Rise)
            && rise.sum - rise.typical >= p.min_excess
            && x >= p.rise_seasonal_ratio * mu
        {
            Some(OpenReason::Rise)
        } else if high && crosses(Path::Sustained) && sustained.excess >= p.min_excess {
            Some(OpenReason::Sustained)
        } else {
            None
        };
        match reason {
            Some(reason) => {
                self.start_event(t, reason, bucket_end, obs.phi);
                for th in &mut self.state.thresholds {
                    th.mark_event();
                }
                obs.status = Status::Outage;
                obs.change = Some(EventChange::Opened {
                    event_id: self.state.next_event_id - 1,
                });
            }
            None => {
                self.learn_thresholds(t, &stats, bucket_end);
                if bucket_abnormal || window_abnormal {
                    obs.status = Status::Elevated;
                }
            }
        }
        obs
    }

    /// The bucket against its baseline: the observation as far as one bucket
    /// tells, and its raw (uncalibrated) score.
    #[inline(always)]
    fn score_bucket(&mut self, t: &Tuning, bucket_start: i64, count: u64) -> (Observation, f64) {
        let p = &t.params;
        // With 100k series ticked in turn nothing of a detector is cached: read each
        // separate piece of memory this bucket needs first, so that their cache
        // misses overlap instead of each stalling in turn later on.
        let pos = Position::new(t, bucket_start);
        std::hint::black_box(
            self.state.baseline.touch(&pos)
                + self.state.window.touch()
                + f64::from(self.state.rise.touch(t, bucket_start)),
        );
        let e = self.state.baseline.expect_at(t, &pos);
        let (mu, phi) = (e.mean, e.phi);
        let raw_score = surprise(count, mu, phi);
        let tail = self.state.tail_bucket.shape(p.tail_threshold_score);
        let band_raw = quantise_band(tail.raw_for(p.elevated_score));
        if band_raw != self.band_raw {
            self.band_raw = band_raw;
            self.band_z = normal_upper_quantile(band_raw);
        }
        let obs = Observation {
            bucket_start,
            count,
            expected: mu,
            band: upper_band(mu, phi, self.band_z),
            score: tail.calibrate(raw_score),
            raw_score,
            z: z_score(count as f64, mu, phi),
            phi,
            window_score: 0.0,
            status: if self.state.open.is_some() {
                Status::Outage
            } else {
                Status::Ok
            },
            change: None,
        };
        (obs, raw_score)
    }

    /// Slide the persistence window by time: buckets that leave it teach the
    /// baseline, the dispersions and the score tails (unless they were part of
    /// an event, or scored before the series was warm).
    #[inline(always)]
    fn slide_window(&mut self, t: &Tuning, bucket_start: i64, first: i64) {
        let u = t.params.tail_threshold_score;
        let horizon = bucket_start.saturating_sub(t.persist_secs);
        while let Some(front) = self.state.window.front() {
            if front.start > horizon && self.state.window.len() < t.window_len {
                break;
            }
            self.state.window.pop_front();
            if !front.in_event {
                self.state.baseline.learn(t, front.start, front.count);
            }
            // Scores made before the baseline existed say nothing about its tail.
            let warm_bucket = front.start.saturating_sub(first) >= t.warmup_secs;
            if !front.in_event && warm_bucket {
                self.state
                    .tail_bucket
                    .learn(front.raw_score, u, t.alpha_tail);
                self.state
                    .tail_window
                    .learn(front.raw_window_score, u, t.alpha_tail);
                self.state
                    .baseline
                    .learn_window(t, front.window_sum, front.window_expected);
            }
        }
    }

    /// Push the bucket into the persistence window and score the window's sum
    /// as one count sharing one rate error (the most cautious reading of
    /// correlated buckets).
    #[inline(always)]
    fn window_evidence(&mut self, t: &Tuning, obs: &Observation, raw_score: f64) -> WindowEvidence {
        let freeze =
            self.state.open.as_ref().is_some_and(|ev| {
                obs.bucket_start.saturating_sub(ev.started_at) < t.max_freeze_secs
            });
        self.state.window.push_back(WindowBucket {
            start: obs.bucket_start,
            count: obs.count,
            expected: obs.expected,
            raw_score,
            raw_window_score: 0.0,
            window_sum: 0,
            window_expected: 0.0,
            in_event: freeze,
        });
        let sums = self.state.window.sums();
        let len = self.state.window.len();
        let excess = sums.sum as f64 - sums.expected;
        let full = len >= t.window_len;
        let window_phi = self.state.baseline.window_dispersion(t);
        let raw = if excess > 0.0 {
            surprise(sums.sum, sums.expected, window_phi)
        } else {
            0.0
        };
        // Only full windows teach the window's dispersion and tail.
        if full {
            self.state
                .window
                .set_newest_window(raw, sums.sum, sums.expected);
        }
        WindowEvidence {
            excess,
            above: sums.above,
            len,
            full,
            score: self
                .state
                .tail_window
                .calibrate(raw, t.params.tail_threshold_score),
        }
    }

    /// Sustained evidence: an EWMA over hours, scored as an equivalent window
    /// sum. Inside events it is fed the baseline, so an event leaves no residue.
    #[inline(always)]
    fn sustained_evidence(
        &mut self,
        t: &Tuning,
        obs: &Observation,
        first: i64,
        warm: bool,
    ) -> SustainedEvidence {
        let u = t.params.tail_threshold_score;
        let (x, mu) = (obs.count as f64, obs.expected);
        let a_s = t.alpha_sustained;
        let fed = if self.state.open.is_some() { mu } else { x };
        self.state.sustained_count += a_s * (fed - self.state.sustained_count);
        self.state.sustained_expected += a_s * (mu - self.state.sustained_expected);
        let s_sum = self.state.sustained_count * t.sustained_buckets;
        let s_mu = self.state.sustained_expected * t.sustained_buckets;
        let sustained_phi = self.state.baseline.sustained_dispersion(t);
        let raw = if s_sum > s_mu && s_sum.is_finite() {
            surprise(s_sum.round() as u64, s_mu, sustained_phi)
        } else {
            0.0
        };
        if self.state.open.is_none() && warm {
            self.state
                .baseline
                .learn_sustained(t, s_sum, s_mu, sustained_phi);
            self.state.tail_sustained.learn(raw, u, t.alpha_tail);
        }
        SustainedEvidence {
            excess: s_sum - s_mu,
            history: obs.bucket_start.saturating_sub(first) >= t.sustained_secs,
            score: self.state.tail_sustained.calibrate(raw, u),
        }
    }

    /// Every path's threshold follows its statistic of this bucket.
    fn learn_thresholds(&mut self, t: &Tuning, stats: &[f64; Path::COUNT], bucket_end: i64) {
        for (th, (rule, &stat)) in self
            .state
            .thresholds
            .iter_mut()
            .zip(t.rules.iter().zip(stats))
        {
            th.learn(rule, stat, bucket_end);
        }
    }
}

mod following;

#[cfg(test)]
mod tests;
