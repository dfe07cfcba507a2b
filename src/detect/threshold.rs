//! Per-series alarm thresholds from the series' own history: declustered peaks
//! over a threshold, a generalised Pareto tail, and the false-event budget.
//!
//! Each opening path (one extreme bucket, the persistence window, the sustained
//! rise, the relative rise) has a statistic that is high when the path's evidence
//! is strong. Outside events, the statistic's excursions above a base level `u`
//! are grouped into *episodes* (an episode ends once the statistic has stayed at
//! or below `u` for the merge gap, so one burst is one episode however many
//! buckets it spans) and each episode's peak is kept. The latest peaks' excesses
//! over `u` are fitted with a generalised Pareto distribution (probability-
//! weighted moments, Hosking & Wallis 1987), episodes are counted per day, and the
//! path's threshold is the level its normal episodes reach as rarely as the
//! budget allows: with `m` normal episodes per allowed false event,
//! `z = u + sigma / xi * (m^xi - 1)` (`u + sigma ln m` as `xi -> 0`), the
//! return level of peaks-over-threshold theory (SPOT, Siffer et al. 2017, on
//! cluster maxima rather than single points, because alarm events, not buckets,
//! are what the budget counts).
//!
//! - A young series has few episodes: the fitted level is blended with the
//!   path's default threshold (the prior) as if the prior were `prior_episodes`
//!   episodes, so a new service starts where the defaults are and moves as its
//!   history speaks.
//! - The calibration only raises thresholds: never below the path's default
//!   (a series the model fits well stays exactly as sensitive as the defaults
//!   make it), and never above `cap_ratio` times the largest excursion the
//!   series has shown, over `u`: a rise far beyond anything the series has done
//!   always opens.
//! - Outages are not normal life: an episode that overlaps an event is
//!   learned only if the fitted normal tail reaches its peak at least once per
//!   `routine_periods` budget periods. A series that keeps opening events just
//!   past its threshold learns that they are routine and stops; an outage far
//!   beyond its normal tail is never learned, however often it comes.
//!
//! Cost: a compare per bucket; a sort of at most `TAIL_EPISODES` numbers when an
//! episode ends, which is rare. Memory: `TAIL_EPISODES` `f32`s and a few numbers.

use serde::{Deserialize, Serialize};

/// Episode peaks kept per path: enough for a stable fit, small enough to forget
/// a series' old habits within weeks.
pub const TAIL_EPISODES: usize = 32;
/// Below this many episodes the shape is taken as exponential (`xi = 0`).
const MIN_GPD_EPISODES: usize = 10;
/// The fitted shape is kept within these bounds: beyond them PWM on a few dozen
/// peaks says more about the sample than about the series.
const XI_MIN: f64 = -0.3;
const XI_MAX: f64 = 0.7;

/// How a path's threshold is set. Built once per tuning and shared.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThresholdRule {
    /// Base level: excursions above it are episodes.
    pub u: f64,
    /// The path's default threshold: where a young series starts, and the
    /// lowest the calibration ever sets it (a quiet series stays as sensitive
    /// as the defaults make it).
    pub prior: f64,
    /// Weight of the prior, in episodes.
    pub prior_episodes: f64,
    /// Highest threshold, as a multiple of the largest excess over `u` seen.
    pub cap_ratio: f64,
    /// An event is learned as normal life when normal life, as fitted, reaches
    /// its peak at least once per this many budget periods.
    pub routine_periods: f64,
    /// Allowed false events on this path per `horizon_days`.
    pub budget: f64,
    pub horizon_days: f64,
    /// An episode ends after this long at or below `u` (seconds).
    pub gap_secs: i64,
    /// Per-bucket decay of the episode and exposure counts.
    pub decay: f64,
    /// One bucket in days.
    pub step_days: f64,
}

/// One path's history of episodes and its current threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathThreshold {
    /// Peak of the episode under way, if any.
    peak: Option<f32>,
    /// The episode under way overlaps an event.
    in_event: bool,
    /// End of the last bucket whose statistic was above `u`.
    last_above: i64,
    /// Excesses over `u` of the latest normal episodes; `next` is the slot to
    /// overwrite once the ring is full.
    excesses: Vec<f32>,
    next: u8,
    /// Decayed number of normal episodes and decayed time watched (days):
    /// their ratio is the episode rate.
    episodes: f32,
    exposure: f32,
    /// Largest excess over `u` of any episode seen, events included, decayed
    /// like the episode count: the threshold's ceiling scales with it.
    seen_max: f32,
    /// The threshold the path opens at (statistic units).
    threshold: f32,
    /// The last fit: GPD scale and shape, and normal episodes per allowed
    /// false event. Decides whether an event was routine.
    fit_sigma: f32,
    fit_xi: f32,
    fit_m: f32,
}

impl PathThreshold {
    pub fn new(rule: &ThresholdRule) -> Self {
        Self {
            peak: None,
            in_event: false,
            last_above: i64::MIN,
            excesses: Vec::with_capacity(TAIL_EPISODES),
            next: 0,
            episodes: 0.0,
            exposure: 0.0,
            seen_max: 0.0,
            threshold: rule.prior as f32,
            fit_sigma: 0.0,
            fit_xi: 0.0,
            fit_m: 0.0,
        }
    }

    /// The level at which the path opens an event.
    pub fn threshold(&self) -> f64 {
        f64::from(self.threshold)
    }

    /// Normal episodes remembered.
    pub fn episodes(&self) -> usize {
        self.excesses.len()
    }

    /// Follow one bucket's statistic (the series is warm; during events too,
    /// so that an event's episode is measured whole).
    pub fn learn(&mut self, rule: &ThresholdRule, stat: f64, bucket_end: i64) {
        let decay = rule.decay as f32;
        self.episodes *= decay;
        self.seen_max *= decay;
        self.exposure = self.exposure * decay + rule.step_days as f32;
        if stat > rule.u && stat.is_finite() {
            let s = stat as f32;
            self.peak = Some(self.peak.map_or(s, |p| p.max(s)));
            self.last_above = bucket_end;
        } else if let Some(peak) = self.peak {
            if bucket_end.saturating_sub(self.last_above) >= rule.gap_secs {
                self.peak = None;
                let excess = f64::from(peak) - rule.u;
                self.seen_max = self.seen_max.max(excess as f32);
                let event = std::mem::take(&mut self.in_event);
                if !event || excess <= self.routine_excess(rule) {
                    self.remember(rule, excess);
                }
            }
        }
    }

    /// An event opened: the excursion under way is part of it. When it ends it
    /// is learned as normal life only if normal life produces such peaks
    /// routinely (see [`ThresholdRule::routine_periods`]).
    pub fn mark_event(&mut self) {
        if self.peak.is_some() {
            self.in_event = true;
        }
    }

    /// The largest excess that normal life, as last fitted, reaches at least
    /// once per `routine_periods` budget periods; nothing before a first fit.
    fn routine_excess(&self, rule: &ThresholdRule) -> f64 {
        if self.fit_sigma <= 0.0 {
            return f64::NEG_INFINITY;
        }
        return_level(
            f64::from(self.fit_sigma),
            f64::from(self.fit_xi),
            f64::from(self.fit_m) * rule.routine_periods,
        )
    }

    fn remember(&mut self, rule: &ThresholdRule, excess: f64) {
        let e = excess as f32;
        if self.excesses.len() < TAIL_EPISODES {
            self.excesses.push(e);
        } else {
            let i = usize::from(self.next) % TAIL_EPISODES;
            self.excesses[i] = e;
            self.next = ((i + 1) % TAIL_EPISODES) as u8;
        }
        self.episodes += 1.0;
        self.refit(rule);
    }

    /// Fit the remembered episodes and set the threshold they call for (see
    /// the module docs).
    fn refit(&mut self, rule: &ThresholdRule) {
        if self.excesses.is_empty() || self.exposure <= 0.0 {
            return;
        }
        let mut y: Vec<f64> = self.excesses.iter().map(|&e| f64::from(e)).collect();
        y.sort_by(f64::total_cmp);
        let (sigma, xi) = gpd_fit(&y);
        // Normal episodes per allowed false event.
        let rate = f64::from(self.episodes) / f64::from(self.exposure);
        let m = rate * rule.horizon_days / rule.budget.max(f64::MIN_POSITIVE);
        self.fit_sigma = sigma as f32;
        self.fit_xi = xi as f32;
        self.fit_m = m as f32;
        let level = rule.u + return_level(sigma, xi, m);
        let w = y.len() as f64;
        let blended = (w * level + rule.prior_episodes * rule.prior) / (w + rule.prior_episodes);
        let highest = y
            .last()
            .copied()
            .unwrap_or(0.0)
            .max(f64::from(self.seen_max));
        let cap = rule.u + rule.cap_ratio * highest;
        self.threshold = blended.min(cap).max(rule.prior) as f32;
    }
}

/// `sigma, xi` of a generalised Pareto fitted to sorted excesses by
/// probability-weighted moments; exponential (`xi = 0`) below
/// [`MIN_GPD_EPISODES`].
pub fn gpd_fit(sorted: &[f64]) -> (f64, f64) {
    let n = sorted.len();
    let a0 = sorted.iter().sum::<f64>() / n.max(1) as f64;
    if n < MIN_GPD_EPISODES || a0 <= 0.0 {
        return (a0.max(1e-6), 0.0);
    }
    // a1 = E[Y (1 - F(Y))], the plotting positions (n - j) / (n - 1), j from 1.
    let a1 = sorted
        .iter()
        .enumerate()
        .map(|(j, y)| (n - 1 - j) as f64 / (n - 1) as f64 * y)
        .sum::<f64>()
        / n as f64;
    let d = a0 - 2.0 * a1;
    if d <= 0.0 {
        return (a0, XI_MAX);
    }
    let xi = (2.0 - a0 / d).clamp(XI_MIN, XI_MAX);
    // The scale that keeps the mean excess with the clamped shape.
    let sigma = (a0 * (1.0 - xi)).max(1e-6);
    (sigma, xi)
}

/// Excess over `u` exceeded once in `m` episodes.
pub fn return_level(sigma: f64, xi: f64, m: f64) -> f64 {
    if m <= 1.0 {
        return 0.0;
    }
    if xi.abs() < 1e-6 {
        sigma * m.ln()
    } else {
        sigma / xi * (m.powf(xi) - 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn rule() -> ThresholdRule {
        ThresholdRule {
            u: 2.0,
            prior: 9.0,
            prior_episodes: 8.0,
            cap_ratio: 2.0,
            routine_periods: 10.0,
            budget: 0.25,
            horizon_days: 30.0,
            gap_secs: 1800,
            decay: (-1.0f64 / (30.0 * 1440.0)).exp(),
            step_days: 1.0 / 1440.0,
        }
    }

    #[test]
    fn pwm_recovers_exponential_and_pareto_shapes() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut expo: Vec<f64> = (0..4000).map(|_| -rng.gen::<f64>().ln() * 0.5).collect();
        expo.sort_by(f64::total_cmp);
        let (s, xi) = gpd_fit(&expo);
        assert!((s - 0.5).abs() < 0.05 && xi.abs() < 0.06, "{s} {xi}");
        // GPD with xi = 0.4, sigma = 1: inverse cdf ((1 - F)^-xi - 1) / xi.
        let mut heavy: Vec<f64> = (0..4000)
            .map(|_| (rng.gen::<f64>().powf(-0.4) - 1.0) / 0.4)
            .collect();
        heavy.sort_by(f64::total_cmp);
        let (s, xi) = gpd_fit(&heavy);
        assert!(
            (xi - 0.4).abs() < 0.08 && (s - 1.0).abs() < 0.15,
            "{s} {xi}"
        );
    }

    #[test]
    fn return_level_is_the_one_in_m_excess() {
        assert!((return_level(1.0, 0.0, 100.0) - 100f64.ln()).abs() < 1e-12);
        assert_eq!(return_level(1.0, 0.3, 0.5), 0.0);
        // Heavier tails reach further for the same odds.
        assert!(return_level(1.0, 0.4, 1000.0) > return_level(1.0, 0.0, 1000.0));
    }

    /// Feeds a day of minutes: `bursts` episodes whose peaks come from `peak`.
    fn feed(
        p: &mut PathThreshold,
        r: &ThresholdRule,
        days: i64,
        per_day: i64,
        mut peak: impl FnMut() -> f64,
    ) {
        let mut t = 0;
        for _ in 0..days {
            for m in 0..1440 {
                t += 60;
                let burst = m % (1440 / per_day) == 0;
                p.learn(r, if burst { peak() } else { 0.5 }, t);
            }
        }
    }

    #[test]
    fn routine_bursts_raise_the_threshold_and_rare_ones_keep_it() {
        let r = rule();
        let mut rng = StdRng::seed_from_u64(2);
        // Ten bursts a day scoring 3 to 12: routine, so the path must not open on them.
        let mut busy = PathThreshold::new(&r);
        feed(&mut busy, &r, 20, 10, || rng.gen_range(3.0..12.0));
        assert!(busy.threshold() > 12.0, "{}", busy.threshold());
        assert!(busy.threshold() <= r.u + r.cap_ratio * 10.0);
        // One small excursion a day: the threshold stays at the default.
        let mut calm = PathThreshold::new(&r);
        feed(&mut calm, &r, 20, 1, || rng.gen_range(2.5..3.5));
        assert_eq!(calm.threshold(), r.prior);
        assert_eq!(calm.episodes(), 20);
    }

    #[test]
    fn a_young_series_starts_at_the_prior() {
        let r = rule();
        let p = PathThreshold::new(&r);
        assert_eq!(p.threshold(), 9.0);
        assert_eq!(p.episodes(), 0);
    }
}
