//! Detector parameters: one set of defaults for every series, every one of them in
//! units of time (minutes, days) or of reports, never in rows, so the same values
//! serve 1-minute live buckets and 5-minute or hourly offline data. [`Tuning`] turns
//! them into per-step constants once, when a detector is built for a bucket step.

use serde::{Deserialize, Serialize};

use super::threshold::ThresholdRule;

/// Every knob of the detector. [`DetectorParams::default`] is the one set used for
/// all series; nothing here is per series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectorParams {
    /// E-folding time (minutes) of the EWMA that tracks the de-seasonalised level.
    /// Long enough that one busy afternoon does not move it much, short enough to
    /// follow a service whose audience grows over days.
    pub level_tau_minutes: f64,
    /// Width (minutes) of one time-of-day slot of the daily profile. The profile is
    /// interpolated linearly between slot centres, so the curve has no steps.
    pub profile_slot_minutes: f64,
    /// E-folding time (days) of each time-of-day slot's memory.
    pub profile_tau_days: f64,
    /// How many days of data the flat prior profile is worth; shrinks a young
    /// series' profile toward flat until real days outweigh it.
    pub profile_prior_days: f64,
    /// E-folding time (days) of the day-of-week factors.
    pub weekly_tau_days: f64,
    /// How many days of data the neutral day-of-week prior is worth. Large on
    /// purpose: the weekly shape only matters once several weeks are seen.
    pub weekly_prior_days: f64,
    /// E-folding time (minutes) of the overdispersion estimate.
    pub dispersion_tau_minutes: f64,
    /// Prior negative-binomial dispersion `phi` (variance = mu + phi mu^2) for a
    /// young series; real report counts are burstier than Poisson.
    pub dispersion_prior: f64,
    /// How many minutes of data the dispersion prior is worth.
    pub dispersion_prior_minutes: f64,
    /// Floor of the expected rate (reports per minute): a silent series still
    /// expects a stray report now and then, so one report is not infinitely surprising.
    pub min_rate_per_minute: f64,
    /// Learning clips each count to `baseline ± learn_clip_sigma * sd`, so an
    /// outlier that does not open an event still cannot drag the baseline.
    pub learn_clip_sigma: f64,
    /// Scores above this (-log10 p) feed the tail calibration: how often they occur
    /// and by how much they overshoot tells how heavy the series' real tail is.
    pub tail_threshold_score: f64,
    /// E-folding time (days) of the tail calibration.
    pub tail_tau_days: f64,
    /// How many days of data the nominal (model-is-right) tail prior is worth.
    pub tail_prior_days: f64,
    /// No event opens before the series has this much history (minutes): with no
    /// baseline at all, nothing is abnormal yet.
    pub warmup_minutes: f64,
    /// ...and no event opens before the series has this many buckets of history
    /// either: an hourly series needs more than one hour to have a baseline.
    #[serde(default = "defaults::warmup_buckets")]
    pub warmup_buckets: f64,
    /// Bucket score (-log10 of the upper-tail probability) at which a bucket is
    /// abnormal: status `Elevated`, the upper band, and "still active" for an open event.
    pub elevated_score: f64,
    /// Bucket score so extreme that no noise explains it: opens an event at once.
    pub extreme_score: f64,
    /// Length (minutes) of the window over which moderate evidence must persist.
    pub persist_minutes: f64,
    /// ...and at least this many buckets: with hourly data a 15-minute window
    /// would be one bucket, and a single bucket is no evidence of persistence.
    #[serde(default = "defaults::persist_min_buckets")]
    pub persist_min_buckets: f64,
    /// Score of the window's summed count against the window's summed baseline
    /// that opens an event when most of the window is above baseline.
    pub persist_score: f64,
    /// E-folding time (minutes) of the sustained-evidence EWMA: a slower twin of
    /// the persistence window that catches a moderate rise lasting hours, which no
    /// 15-minute window can tell from noise. It opens with `persist_score` too.
    pub sustained_minutes: f64,
    /// Minimum excess (reports above baseline, summed over the persistence window)
    /// before any event opens: a handful of reports is never an outage.
    pub min_excess: f64,
    /// The merge gap: an open event resolves after this many minutes with
    /// reports back near normal (no abnormal bucket, and the last wave's tail
    /// spent); a rise within it is a new wave of the same event.
    pub quiet_minutes: f64,
    /// After an event has been open this long (minutes) the baseline starts
    /// learning again (clipped), so a permanent step up eventually becomes normal
    /// instead of holding the event open for ever.
    pub max_freeze_minutes: f64,
    /// E-folding time (minutes) of the smoothing of the excess rate used to find waves.
    pub wave_smooth_minutes: f64,
    /// A dip starts when the smoothed excess falls below this fraction of the
    /// current wave's smoothed peak (one half: a trough that falls at least
    /// halfway from the peak toward the baseline separates two waves)...
    pub dip_fraction: f64,
    /// ...and stays there for at least this many minutes.
    pub dip_minutes: f64,
    /// After a dip, a new wave starts when the smoothed excess climbs back above
    /// this fraction of the previous wave's smoothed peak (and the bucket is abnormal).
    pub rise_fraction: f64,
    /// Length (minutes) of the trailing window whose summed count the relative-rise
    /// path compares with the typical sum of such a window.
    #[serde(default = "defaults::rise_window_minutes")]
    pub rise_window_minutes: f64,
    /// How far back (minutes) the typical window sum looks: the median of window
    /// sums sampled over this span. Days, so that one bad afternoon is a minority.
    #[serde(default = "defaults::rise_history_minutes")]
    pub rise_history_minutes: f64,
    /// E-folding time (minutes) of the long-memory level that expectations never
    /// fall below (0 turns it off).
    #[serde(default = "defaults::long_level_tau_minutes")]
    pub long_level_tau_minutes: f64,
    /// Interval (minutes) between the window sums kept for the median: the history
    /// holds `rise_history_minutes / rise_sample_minutes` of them (144 at the
    /// defaults). Half-hourly rather than every 15 minutes halves the memory a
    /// live detector walks through each tick; NAB scores the same or better.
    #[serde(default = "defaults::rise_sample_minutes")]
    pub rise_sample_minutes: f64,
    /// History (minutes of samples) needed before the relative-rise path may fire.
    #[serde(default = "defaults::rise_min_history_minutes")]
    pub rise_min_history_minutes: f64,
    /// Ratio (dimensionless) `(S + g) / (B + g)` of the trailing window sum `S` to
    /// the typical sum `B` at which the relative-rise path opens an event (with
    /// at least `min_excess` reports of `S - B`).
    #[serde(default = "defaults::rise_ratio")]
    pub rise_ratio: f64,
    /// Guard `g` (reports per rise window) added to both sums of the rise ratio, so
    /// a few reports on a near-silent series are not an "infinite" rise. A count
    /// per window, hence the same meaning at any bucket step.
    #[serde(default = "defaults::rise_guard_reports")]
    pub rise_guard_reports: f64,
    /// After it fires (or any event opens), the relative-rise path re-arms only
    /// once the ratio has stayed below half of its threshold for this long (minutes).
    #[serde(default = "defaults::rise_rearm_minutes")]
    pub rise_rearm_minutes: f64,
    /// The false-event budget: how many events per 30 days a series may open on
    /// its normal behaviour. Each opening path's threshold is set from the
    /// series' own history so that its normal episodes cross it this rarely
    /// (the budget shared equally by the paths); see `threshold.rs`.
    #[serde(default = "defaults::false_events_per_30_days")]
    pub false_events_per_30_days: f64,
    /// How many episodes of history the default thresholds (`extreme_score`,
    /// `persist_score`, `rise_ratio`) are worth when blended with the fitted ones.
    #[serde(default = "defaults::threshold_prior_episodes")]
    pub threshold_prior_episodes: f64,
    /// No fitted threshold rises above this multiple of the largest excursion
    /// the series has shown (over the base level): a rise far beyond anything
    /// the series has done always opens.
    #[serde(default = "defaults::threshold_cap_ratio")]
    pub threshold_cap_ratio: f64,
    /// An event is learned as normal life when the series' fitted normal tail
    /// reaches its peak at least once per this many budget periods: a series
    /// that keeps opening events just past its threshold learns that they are
    /// routine, while an outage far beyond its normal life is never learned.
    #[serde(default = "defaults::threshold_routine_periods")]
    pub threshold_routine_periods: f64,
    /// While the smoothed excess is at least this fraction of the current wave's
    /// smoothed peak, the wave's falling tail keeps the event open: reports are
    /// not back near normal yet, so the merge gap has not begun.
    #[serde(default = "defaults::wave_tail_fraction")]
    pub wave_tail_fraction: f64,
    /// Rise ratio above which the relative-rise path's excursions count as
    /// episodes for its threshold.
    #[serde(default = "defaults::rise_base_ratio")]
    pub rise_base_ratio: f64,
    /// The relative-rise path opens only on a bucket at least this many times
    /// its seasonal baseline: the rise ratio compares the trailing window with
    /// the typical window of any hour, so at a series' busy hours it would call
    /// the daily peak a rise; this asks that the rise be one against this time
    /// of day too.
    #[serde(default = "defaults::rise_seasonal_ratio")]
    pub rise_seasonal_ratio: f64,
}

/// Defaults of fields added after states and parameter files were first saved.
mod defaults {
    pub fn rise_window_minutes() -> f64 {
        60.0
    }
    pub fn rise_history_minutes() -> f64 {
        3.0 * 1440.0
    }
    pub fn rise_sample_minutes() -> f64 {
        30.0
    }
    pub fn rise_min_history_minutes() -> f64 {
        1440.0
    }
    pub fn rise_ratio() -> f64 {
        4.0
    }
    pub fn rise_guard_reports() -> f64 {
        7.0
    }
    pub fn rise_rearm_minutes() -> f64 {
        60.0
    }
    pub fn long_level_tau_minutes() -> f64 {
        1440.0
    }
    pub fn persist_min_buckets() -> f64 {
        3.0
    }
    pub fn warmup_buckets() -> f64 {
        12.0
    }
    pub fn false_events_per_30_days() -> f64 {
        10.0
    }
    pub fn threshold_prior_episodes() -> f64 {
        8.0
    }
    pub fn threshold_cap_ratio() -> f64 {
        2.0
    }
    pub fn threshold_routine_periods() -> f64 {
        30.0
    }
    pub fn wave_tail_fraction() -> f64 {
        0.2
    }
    pub fn rise_base_ratio() -> f64 {
        2.0
    }
    pub fn rise_seasonal_ratio() -> f64 {
        2.0
    }
}

impl Default for DetectorParams {
    fn default() -> Self {
        Self {
            level_tau_minutes: 360.0,
            profile_slot_minutes: 60.0,
            profile_tau_days: 7.0,
            profile_prior_days: 1.0,
            weekly_tau_days: 28.0,
            weekly_prior_days: 14.0,
            dispersion_tau_minutes: 7.0 * 1440.0,
            dispersion_prior: 0.3,
            dispersion_prior_minutes: 720.0,
            min_rate_per_minute: 0.02,
            learn_clip_sigma: 4.0,
            tail_threshold_score: 2.0,
            tail_tau_days: 14.0,
            tail_prior_days: 3.0,
            warmup_minutes: 60.0,
            elevated_score: 3.0,
            extreme_score: 10.0,
            persist_minutes: 15.0,
            persist_score: 6.0,
            sustained_minutes: 120.0,
            min_excess: 10.0,
            quiet_minutes: 30.0,
            max_freeze_minutes: 360.0,
            wave_smooth_minutes: 5.0,
            dip_fraction: 0.5,
            dip_minutes: 5.0,
            rise_fraction: 0.5,
            rise_window_minutes: defaults::rise_window_minutes(),
            rise_history_minutes: defaults::rise_history_minutes(),
            rise_sample_minutes: defaults::rise_sample_minutes(),
            rise_min_history_minutes: defaults::rise_min_history_minutes(),
            rise_ratio: defaults::rise_ratio(),
            rise_guard_reports: defaults::rise_guard_reports(),
            rise_rearm_minutes: defaults::rise_rearm_minutes(),
            warmup_buckets: defaults::warmup_buckets(),
            persist_min_buckets: defaults::persist_min_buckets(),
            long_level_tau_minutes: defaults::long_level_tau_minutes(),
            false_events_per_30_days: defaults::false_events_per_30_days(),
            threshold_prior_episodes: defaults::threshold_prior_episodes(),
            threshold_cap_ratio: defaults::threshold_cap_ratio(),
            threshold_routine_periods: defaults::threshold_routine_periods(),
            wave_tail_fraction: defaults::wave_tail_fraction(),
            rise_base_ratio: defaults::rise_base_ratio(),
            rise_seasonal_ratio: defaults::rise_seasonal_ratio(),
        }
    }
}

impl DetectorParams {
    /// Every parameter within its range (a name, if one is not).
    pub fn validate(&self) -> Result<(), TuningError> {
        let p = self;
        let positive: [(&'static str, f64); 20] = [
            ("rise_window_minutes", p.rise_window_minutes),
            ("rise_history_minutes", p.rise_history_minutes),
            ("rise_sample_minutes", p.rise_sample_minutes),
            ("tail_threshold_score", p.tail_threshold_score),
            ("tail_tau_days", p.tail_tau_days),
            ("sustained_minutes", p.sustained_minutes),
            ("level_tau_minutes", p.level_tau_minutes),
            ("profile_slot_minutes", p.profile_slot_minutes),
            ("profile_tau_days", p.profile_tau_days),
            ("weekly_tau_days", p.weekly_tau_days),
            ("dispersion_tau_minutes", p.dispersion_tau_minutes),
            ("min_rate_per_minute", p.min_rate_per_minute),
            ("learn_clip_sigma", p.learn_clip_sigma),
            ("elevated_score", p.elevated_score),
            ("extreme_score", p.extreme_score),
            ("persist_minutes", p.persist_minutes),
            ("persist_score", p.persist_score),
            ("quiet_minutes", p.quiet_minutes),
            ("max_freeze_minutes", p.max_freeze_minutes),
            ("wave_smooth_minutes", p.wave_smooth_minutes),
        ];
        for (name, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err(TuningError::BadParam(name));
            }
        }
        let budget_knobs: [(&'static str, f64); 3] = [
            ("false_events_per_30_days", p.false_events_per_30_days),
            ("threshold_cap_ratio", p.threshold_cap_ratio),
            ("rise_base_ratio", p.rise_base_ratio),
        ];
        for (name, v) in budget_knobs {
            if !(v.is_finite() && v > 0.0) {
                return Err(TuningError::BadParam(name));
            }
        }
        let non_negative: [(&'static str, f64); 19] = [
            ("rise_seasonal_ratio", p.rise_seasonal_ratio),
            ("wave_tail_fraction", p.wave_tail_fraction),
            ("long_level_tau_minutes", p.long_level_tau_minutes),
            ("persist_min_buckets", p.persist_min_buckets),
            ("threshold_routine_periods", p.threshold_routine_periods),
            ("warmup_buckets", p.warmup_buckets),
            ("threshold_prior_episodes", p.threshold_prior_episodes),
            ("rise_min_history_minutes", p.rise_min_history_minutes),
            ("rise_guard_reports", p.rise_guard_reports),
            ("rise_rearm_minutes", p.rise_rearm_minutes),
            ("tail_prior_days", p.tail_prior_days),
            ("warmup_minutes", p.warmup_minutes),
            ("profile_prior_days", p.profile_prior_days),
            ("weekly_prior_days", p.weekly_prior_days),
            ("dispersion_prior", p.dispersion_prior),
            ("dispersion_prior_minutes", p.dispersion_prior_minutes),
            ("min_excess", p.min_excess),
            ("dip_minutes", p.dip_minutes),
            ("dip_fraction", p.dip_fraction),
        ];
        for (name, v) in non_negative {
            if !(v.is_finite() && v >= 0.0) {
                return Err(TuningError::BadParam(name));
            }
        }
        if !(p.rise_fraction.is_finite() && p.rise_fraction >= p.dip_fraction) {
            return Err(TuningError::BadParam("rise_fraction"));
        }
        if !(p.rise_ratio.is_finite() && p.rise_ratio > 1.0) {
            return Err(TuningError::BadParam("rise_ratio"));
        }
        // Bounded so a state stays small: at most 30 days of history, 10^4 samples.
        if p.rise_history_minutes > 30.0 * 1440.0 || p.rise_window_minutes > 1440.0 {
            return Err(TuningError::BadParam("rise_history_minutes"));
        }
        if p.profile_slot_minutes > 1440.0 {
            return Err(TuningError::BadParam("profile_slot_minutes"));
        }
        Ok(())
    }
}

/// Per-step constants derived from [`DetectorParams`] for one bucket step. Cheap to
/// rebuild, so it is never persisted: a restored detector takes today's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Tuning {
    pub params: DetectorParams,
    /// Bucket step in seconds (> 0).
    pub step_secs: i64,
    /// Bucket step in minutes.
    pub step_minutes: f64,
    /// Number of daily profile slots.
    pub slots: usize,
    /// Slot width in seconds.
    pub slot_secs: f64,
    pub alpha_level: f64,
    /// Per-bucket weight of the long-memory level (0: off).
    pub alpha_long_level: f64,
    pub alpha_profile: f64,
    pub profile_prior_weight: f64,
    pub alpha_weekly: f64,
    pub weekly_prior_weight: f64,
    pub alpha_dispersion: f64,
    pub dispersion_prior_weight: f64,
    pub alpha_wave: f64,
    pub alpha_tail: f64,
    pub alpha_sustained: f64,
    /// Buckets a window sum would need to carry the sustained EWMA's variance.
    pub sustained_buckets: f64,
    pub tail_prior_weight: f64,
    /// Buckets held in the persistence window (>= 1).
    pub window_len: usize,
    pub min_expected: f64,
    /// Buckets in the rise window (>= 1).
    pub rise_window_len: usize,
    /// Seconds between samples of the rise window sum (>= 1).
    pub rise_sample_secs: i64,
    /// Samples held for the typical window sum (>= 1).
    pub rise_capacity: usize,
    /// Samples needed before the rise path may fire (1..=rise_capacity).
    pub rise_min_samples: usize,
    /// Seconds the rise ratio must stay low before the path re-arms.
    pub rise_rearm_secs: i64,
    /// `warmup_minutes` in seconds: history needed before an event may open.
    pub warmup_secs: i64,
    /// How far back the persistence window reaches, in seconds (>= one step).
    pub persist_secs: i64,
    /// `max_freeze_minutes` in seconds: longest the baseline stays frozen by an event.
    pub max_freeze_secs: i64,
    /// `sustained_minutes` in seconds: history needed before the sustained path fires.
    pub sustained_secs: i64,
    /// `dip_minutes` in seconds.
    pub dip_secs: i64,
    /// `quiet_minutes` in seconds.
    pub quiet_secs: i64,
    /// How each opening path's threshold is set, indexed by [`Path`].
    pub rules: [ThresholdRule; Path::COUNT],
}

/// The opening paths that have a per-series threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// One bucket's score.
    Extreme = 0,
    /// The persistence window's score.
    Persistent = 1,
    /// The sustained-evidence score.
    Sustained = 2,
    /// The natural log of the relative-rise ratio.
    Rise = 3,
}

impl Path {
    pub const COUNT: usize = 4;
    pub const ALL: [Path; Path::COUNT] =
        [Path::Extreme, Path::Persistent, Path::Sustained, Path::Rise];
}

/// Why a detector could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TuningError {
    /// The bucket step must be a positive number of seconds, at most one day.
    BadStep(i64),
    /// A parameter is out of its range (name).
    BadParam(&'static str),
}

impl std::fmt::Display for TuningError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TuningError::BadStep(s) => write!(f, "bucket step {s} s is not in 1..=86400"),
            TuningError::BadParam(p) => write!(f, "detector parameter {p} is out of range"),
        }
    }
}

impl std::error::Error for TuningError {}

/// How each opening path's threshold is set at this step (see
/// `threshold.rs`): base levels, the defaults as priors, the budget shared
/// equally by the paths over 30 days, episodes merged over the merge gap.
fn threshold_rules(
    p: &DetectorParams,
    step_secs: i64,
    quiet_secs: i64,
) -> [ThresholdRule; Path::COUNT] {
    let day = 1440.0;
    let step_minutes = step_secs as f64 / 60.0;
    let horizon_days = 30.0;
    let rule = |u: f64, prior: f64| ThresholdRule {
        u,
        prior,
        prior_episodes: p.threshold_prior_episodes,
        cap_ratio: p.threshold_cap_ratio,
        routine_periods: p.threshold_routine_periods,
        budget: p.false_events_per_30_days / Path::COUNT as f64,
        horizon_days,
        gap_secs: quiet_secs.max(step_secs),
        decay: (-step_minutes / (horizon_days * day)).exp(),
        step_days: step_minutes / day,
    };
    let u = p.tail_threshold_score;
    [
        rule(u, p.extreme_score),
        rule(u, p.persist_score),
        rule(u, p.persist_score),
        rule(p.rise_base_ratio.ln(), p.rise_ratio.ln()),
    ]
}

/// Weight per update of an EWMA with calendar e-folding time `tau_minutes` when it
/// receives one update every `every_minutes`.
fn alpha(every_minutes: f64, tau_minutes: f64) -> f64 {
    1.0 - (-every_minutes / tau_minutes).exp()
}

impl Tuning {
    pub fn new(params: &DetectorParams, step_secs: i64) -> Result<Self, TuningError> {
        if !(1..=86_400).contains(&step_secs) {
            return Err(TuningError::BadStep(step_secs));
        }
        params.validate()?;
        let p = params;
        let step_minutes = step_secs as f64 / 60.0;
        let slots = ((1440.0 / p.profile_slot_minutes).round() as usize).clamp(1, 1440);
        let slot_minutes = 1440.0 / slots as f64;
        let day = 1440.0;
        let week = 7.0 * day;
        // A slot of a periodic profile is updated only while the clock is inside it,
        // so its per-update weight is scaled so that it forgets at the calendar rate.
        let profile_tau = p.profile_tau_days * day;
        let alpha_profile = alpha(step_minutes * day / slot_minutes, profile_tau);
        let profile_prior_weight = 1.0 - (-p.profile_prior_days * day / profile_tau).exp();
        let weekly_tau = p.weekly_tau_days * day;
        let alpha_weekly = alpha(step_minutes * week / day, weekly_tau);
        let weekly_prior_weight = 1.0 - (-p.weekly_prior_days * day / weekly_tau).exp();
        let window_len = ((p.persist_minutes / step_minutes).round() as usize)
            .max(p.persist_min_buckets.round() as usize)
            .clamp(1, 1440);
        let rise_window_len =
            ((p.rise_window_minutes / step_minutes).round() as usize).clamp(1, 1440);
        let rise_sample_secs = ((p.rise_sample_minutes * 60.0) as i64).max(1);
        let per_sample = p.rise_sample_minutes.max(step_minutes);
        let rise_capacity =
            ((p.rise_history_minutes / per_sample).ceil() as usize).clamp(1, 10_000);
        let rise_min_samples =
            ((p.rise_min_history_minutes / per_sample).ceil() as usize).clamp(1, rise_capacity);
        let quiet_secs = (p.quiet_minutes * 60.0) as i64;
        let rules = threshold_rules(p, step_secs, quiet_secs);
        Ok(Self {
            rules,
            rise_window_len,
            rise_sample_secs,
            rise_capacity,
            rise_min_samples,
            rise_rearm_secs: (p.rise_rearm_minutes * 60.0) as i64,
            warmup_secs: ((p.warmup_minutes * 60.0) as i64)
                .max((p.warmup_buckets * step_secs as f64) as i64),
            persist_secs: ((p.persist_minutes * 60.0) as i64).max(step_secs * window_len as i64),
            max_freeze_secs: (p.max_freeze_minutes * 60.0) as i64,
            sustained_secs: (p.sustained_minutes * 60.0) as i64,
            dip_secs: (p.dip_minutes * 60.0) as i64,
            quiet_secs,
            params: p.clone(),
            step_secs,
            step_minutes,
            slots,
            slot_secs: slot_minutes * 60.0,
            alpha_level: alpha(step_minutes, p.level_tau_minutes),
            alpha_long_level: if p.long_level_tau_minutes > 0.0 {
                alpha(step_minutes, p.long_level_tau_minutes)
            } else {
                0.0
            },
            alpha_profile,
            profile_prior_weight,
            alpha_weekly,
            weekly_prior_weight,
            alpha_dispersion: alpha(step_minutes, p.dispersion_tau_minutes),
            dispersion_prior_weight: 1.0
                - (-p.dispersion_prior_minutes / p.dispersion_tau_minutes).exp(),
            alpha_wave: alpha(step_minutes, p.wave_smooth_minutes),
            alpha_sustained: alpha(step_minutes, p.sustained_minutes),
            sustained_buckets: {
                let a = alpha(step_minutes, p.sustained_minutes);
                (2.0 - a) / a
            },
            alpha_tail: alpha(step_minutes, p.tail_tau_days * day),
            tail_prior_weight: 1.0 - (-p.tail_prior_days / p.tail_tau_days).exp(),
            window_len,
            min_expected: p.min_rate_per_minute * step_minutes,
        })
    }
}
