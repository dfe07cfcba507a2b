//! The baseline: what count to expect in a bucket, and how overdispersed counts are.
//!
//! Expected = level × daily profile(time of day) × weekly factor(day of week).
//! The level is an EWMA of de-seasonalised counts; the profile and weekly factors are
//! slot-wise EWMAs of ratios, shrunk toward flat by a prior so a young series is not
//! fooled by one odd day, and the weekly shape only weighs in after weeks of data.
//! The dispersion `phi` (variance = mu + phi mu^2) is a weighted method-of-moments
//! EWMA. Every learning step clips the count to the baseline ± a few sd, and the
//! caller stops feeding it during an event, so outages never teach it anything.

use serde::{Deserialize, Serialize};

use super::params::Tuning;
use super::score::variance;

const DAY_SECS: i64 = 86_400;
/// Reports behind the level before the seasonal shape and the dispersion learn.
const MIN_SHAPE_REPORTS: f64 = 10.0;
/// Largest seasonal ratio one bucket may teach.
const MAX_RATIO: f64 = 20.0;

/// Learned normal behaviour of one series. Plain numbers: serialisable and cheap.
/// Persisted as [`BaselineRepr`] (the profile as two lists), the format states were
/// first saved in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "BaselineRepr", into = "BaselineRepr")]
pub struct BaselineModel {
    /// Bias-corrected EWMA of de-seasonalised counts per bucket: `level_sum / level_weight`.
    level_sum: f64,
    /// Sum of EWMA weights so far; below 1 while the series is young, so the level
    /// is a plain running mean of the first buckets instead of being biased to 0.
    level_weight: f64,
    /// Decayed number of reports behind the level. Its inverse is the extra
    /// dispersion due to not knowing the level well (a young or quiet series).
    level_reports: f64,
    /// The same de-seasonalised level with a memory of days: what was normal
    /// recently. Expectations never fall below it, so a quiet day (a holiday,
    /// a collector's outage) does not make the next normal day look like a rise.
    long_level_sum: f64,
    long_level_weight: f64,
    /// Per time-of-day slot. One list, so that the two neighbouring slots a bucket
    /// reads are one or two cache lines of one block.
    profile: Vec<Slot>,
    /// Per weekday (Monday = 0): EWMA numerator of count / (level × profile).
    weekly_sum: [f64; 7],
    /// Per weekday: EWMA weight, starting at the neutral prior's weight.
    weekly_weight: [f64; 7],
    /// Dispersion of single buckets.
    bucket_disp: Dispersion,
    /// Dispersion of persistence-window sums. Learned on its own because bursts
    /// are partly shared by neighbouring buckets and partly not: assuming either
    /// (independent or fully shared) would make the window test lie one way or the other.
    window_disp: Dispersion,
    /// Dispersion of the sustained-evidence sums.
    sustained_disp: Dispersion,
    /// Day number (unix days) of the last renormalisation of the seasonal factors.
    last_norm_day: i64,
}

/// One time-of-day slot of the daily profile.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Slot {
    /// EWMA numerator of count / (level × weekly factor).
    sum: f64,
    /// EWMA weight, starting at the prior weight of a flat profile.
    weight: f64,
}

/// [`BaselineModel`] as persisted: the profile's sums and weights as two lists.
#[derive(Serialize, Deserialize)]
struct BaselineRepr {
    level_sum: f64,
    level_weight: f64,
    level_reports: f64,
    #[serde(default)]
    long_level_sum: f64,
    #[serde(default)]
    long_level_weight: f64,
    profile_sum: Vec<f64>,
    profile_weight: Vec<f64>,
    weekly_sum: [f64; 7],
    weekly_weight: [f64; 7],
    bucket_disp: Dispersion,
    window_disp: Dispersion,
    sustained_disp: Dispersion,
    last_norm_day: i64,
}

impl From<BaselineRepr> for BaselineModel {
    /// Lists of different lengths give an empty profile, which fits no tuning (so
    /// the state is refused on restore, as before).
    fn from(r: BaselineRepr) -> Self {
        let profile = if r.profile_sum.len() == r.profile_weight.len() {
            r.profile_sum
                .into_iter()
                .zip(r.profile_weight)
                .map(|(sum, weight)| Slot { sum, weight })
                .collect()
        } else {
            Vec::new()
        };
        Self {
            level_sum: r.level_sum,
            level_weight: r.level_weight,
            level_reports: r.level_reports,
            long_level_sum: r.long_level_sum,
            long_level_weight: r.long_level_weight,
            profile,
            weekly_sum: r.weekly_sum,
            weekly_weight: r.weekly_weight,
            bucket_disp: r.bucket_disp,
            window_disp: r.window_disp,
            sustained_disp: r.sustained_disp,
            last_norm_day: r.last_norm_day,
        }
    }
}

impl From<BaselineModel> for BaselineRepr {
    fn from(m: BaselineModel) -> Self {
        Self {
            level_sum: m.level_sum,
            level_weight: m.level_weight,
            level_reports: m.level_reports,
            long_level_sum: m.long_level_sum,
            long_level_weight: m.long_level_weight,
            profile_sum: m.profile.iter().map(|s| s.sum).collect(),
            profile_weight: m.profile.iter().map(|s| s.weight).collect(),
            weekly_sum: m.weekly_sum,
            weekly_weight: m.weekly_weight,
            bucket_disp: m.bucket_disp,
            window_disp: m.window_disp,
            sustained_disp: m.sustained_disp,
            last_norm_day: m.last_norm_day,
        }
    }
}

/// The baseline's view of one bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Expectation {
    /// Expected count in the bucket.
    pub mean: f64,
    /// NB2 dispersion to use for this bucket (learned + level uncertainty).
    pub phi: f64,
}

/// Where a bucket falls in the seasonal factors: the two profile slots whose
/// centres surround it, the weight of the second, and the weekday. Computed once
/// per bucket and shared by everything that reads the factors for it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Position {
    a: usize,
    b: usize,
    frac: f64,
    weekday: usize,
}

impl Position {
    /// The position of the bucket starting at `bucket_start`.
    pub fn new(t: &Tuning, bucket_start: i64) -> Self {
        // Linear interpolation between slot centres.
        let mid = bucket_start.rem_euclid(DAY_SECS) as f64 + t.step_secs as f64 / 2.0;
        let u = mid / t.slot_secs - 0.5;
        let fl = floor(u);
        let frac = u - fl as f64;
        let a = fl.rem_euclid(t.slots as i64) as usize;
        let b = (a + 1) % t.slots;
        let mid = bucket_start.saturating_add(t.step_secs / 2);
        // 1970-01-01 was a Thursday; Monday = 0.
        let weekday = (mid.div_euclid(DAY_SECS) + 3).rem_euclid(7) as usize;
        Self {
            a,
            b,
            frac,
            weekday,
        }
    }
}

/// `u.floor()` as an integer for `|u| < 2^52`, exactly, without the libm call
/// `f64::floor` compiles to on a baseline x86-64 target.
fn floor(u: f64) -> i64 {
    let i = u as i64;
    if i as f64 > u {
        i - 1
    } else {
        i
    }
}

impl Expectation {
    pub fn sd(&self) -> f64 {
        variance(self.mean, self.phi).sqrt()
    }
}

impl BaselineModel {
    pub fn new(t: &Tuning) -> Self {
        let w = t.profile_prior_weight;
        let ww = t.weekly_prior_weight;
        Self {
            level_sum: 0.0,
            level_weight: 0.0,
            level_reports: 0.0,
            long_level_sum: 0.0,
            long_level_weight: 0.0,
            profile: vec![Slot { sum: w, weight: w }; t.slots],
            weekly_sum: [ww; 7],
            weekly_weight: [ww; 7],
            bucket_disp: Dispersion::new(t.dispersion_prior_weight),
            window_disp: Dispersion::new(t.dispersion_prior_weight),
            sustained_disp: Dispersion::new(t.dispersion_prior_weight),
            last_norm_day: i64::MIN,
        }
    }

    /// True if the model's slot count fits the tuning (a restored state must).
    pub fn fits(&self, t: &Tuning) -> bool {
        self.profile.len() == t.slots
    }

    fn level(&self) -> Option<f64> {
        (self.level_weight > 0.0).then(|| self.level_sum / self.level_weight)
    }

    /// The level to expect from: the recent one, but never below the one of
    /// the last days.
    fn expected_level(&self) -> Option<f64> {
        let long = if self.long_level_weight > 0.0 {
            self.long_level_sum / self.long_level_weight
        } else {
            0.0
        };
        self.level().map(|l| l.max(long))
    }

    fn slot_value(&self, i: usize) -> f64 {
        let Slot { sum, weight: w } = self.profile[i];
        if w > 0.0 {
            sum / w
        } else {
            1.0
        }
    }

    fn profile_factor(&self, pos: &Position) -> f64 {
        (1.0 - pos.frac) * self.slot_value(pos.a) + pos.frac * self.slot_value(pos.b)
    }

    fn weekly_factor(&self, d: usize) -> f64 {
        let w = self.weekly_weight[d];
        if w > 0.0 {
            self.weekly_sum[d] / w
        } else {
            1.0
        }
    }

    /// A gamma posterior on the rate after seeing n reports widens the predictive
    /// distribution by about 1/n in phi.
    fn level_uncertainty(&self) -> f64 {
        1.0 / (self.level_reports + 1.0)
    }

    /// A learned dispersion plus the level-uncertainty term, capped.
    fn with_level(&self, d: &Dispersion, t: &Tuning) -> f64 {
        (d.value(t.params.dispersion_prior) + self.level_uncertainty()).min(10.0)
    }

    /// Dispersion of one bucket: learned plus the level-uncertainty term.
    pub fn dispersion(&self, t: &Tuning) -> f64 {
        self.with_level(&self.bucket_disp, t)
    }

    /// Dispersion of a persistence-window sum: learned plus the level uncertainty.
    pub fn window_dispersion(&self, t: &Tuning) -> f64 {
        self.with_level(&self.window_disp, t)
    }

    /// Dispersion of a sustained-evidence sum: learned plus the level uncertainty.
    pub fn sustained_dispersion(&self, t: &Tuning) -> f64 {
        self.with_level(&self.sustained_disp, t)
    }

    /// Whether a sum expected to be `expected` may teach a dispersion.
    fn can_learn(&self, expected: f64) -> bool {
        self.level().is_some() && !expected.is_nan() && expected > 0.0
    }

    /// Learn the dispersion of one sustained-evidence sum (outside events only);
    /// `phi` is the model's [`Self::sustained_dispersion`] as it stands.
    pub fn learn_sustained(&mut self, t: &Tuning, sum: f64, expected: f64, phi: f64) {
        if self.can_learn(expected) {
            learn_sum(&mut self.sustained_disp, t, sum, expected, phi);
        }
    }

    /// Learn the dispersion of one persistence-window sum (`sum` reports where
    /// `expected` were expected); call it only for windows outside events.
    pub fn learn_window(&mut self, t: &Tuning, sum: u64, expected: f64) {
        if self.can_learn(expected) {
            let phi = self.window_dispersion(t);
            learn_sum(&mut self.window_disp, t, sum as f64, expected, phi);
        }
    }

    /// Read the profile slots a bucket at `pos` will need, so that on a cold cache
    /// their misses overlap with the detector's other first reads (see
    /// `SeriesDetector::observe`). The value means nothing.
    pub fn touch(&self, pos: &Position) -> f64 {
        let (a, b) = (pos.a, pos.b);
        [a, b]
            .iter()
            .filter_map(|&i| self.profile.get(i))
            .map(|s| s.sum + s.weight)
            .sum()
    }

    /// What to expect in the bucket starting at `bucket_start`.
    pub fn expect(&self, t: &Tuning, bucket_start: i64) -> Expectation {
        self.expect_at(t, &Position::new(t, bucket_start))
    }

    /// What to expect in the bucket at `pos`.
    pub fn expect_at(&self, t: &Tuning, pos: &Position) -> Expectation {
        self.expect_with(t, self.profile_factor(pos), self.weekly_factor(pos.weekday))
    }

    /// [`Self::expect_at`] with the two seasonal factors already looked up.
    fn expect_with(&self, t: &Tuning, profile: f64, weekly: f64) -> Expectation {
        let season = profile * weekly;
        let mean = match self.expected_level() {
            Some(l) => (l * season).max(t.min_expected),
            None => t.min_expected,
        };
        let mean = if mean.is_finite() {
            mean
        } else {
            t.min_expected
        };
        Expectation {
            mean,
            phi: self.dispersion(t),
        }
    }

    /// Learn from one normal bucket (never call it for buckets inside an event).
    pub fn learn(&mut self, t: &Tuning, bucket_start: i64, count: u64) {
        let day = bucket_start.div_euclid(DAY_SECS);
        if day != self.last_norm_day {
            self.renormalise();
            self.last_norm_day = day;
        }
        let pos = Position::new(t, bucket_start);
        let profile = self.profile_factor(&pos);
        let weekly = self.weekly_factor(pos.weekday);
        let e = self.expect_with(t, profile, weekly);
        let x = count as f64;
        let level = self.level();
        // Until there is a level, nothing to clip against: the first bucket is the level.
        let c = t.params.learn_clip_sigma * e.sd();
        let xc = match level {
            Some(_) => x.clamp((e.mean - c).max(0.0), e.mean + c),
            None => x,
        };
        let Position {
            a,
            b,
            frac,
            weekday: d,
        } = pos;
        let season = (profile * weekly).max(1e-3);

        let al = t.alpha_level;
        self.level_sum = self.level_sum * (1.0 - al) + al * xc / season;
        self.level_weight = self.level_weight * (1.0 - al) + al;
        self.level_reports = self.level_reports * (1.0 - al) + xc;
        let alo = t.alpha_long_level;
        self.long_level_sum = self.long_level_sum * (1.0 - alo) + alo * xc / season;
        self.long_level_weight = self.long_level_weight * (1.0 - alo) + alo;

        // Ratios against a level resting on a handful of reports are noise; the
        // shape waits for a real level (and is clipped: a factor of 20 is plenty).
        let Some(level) = level.filter(|_| self.level_reports >= MIN_SHAPE_REPORTS) else {
            self.bucket_disp_learn(t, x, e.mean, c);
            return;
        };
        let base = level.max(t.min_expected);
        let r_profile = (xc / (base * weekly.max(1e-3))).min(MAX_RATIO);
        for (i, share) in [(a, 1.0 - frac), (b, frac)] {
            let ap = t.alpha_profile * share;
            let s = &mut self.profile[i];
            s.sum = s.sum * (1.0 - ap) + ap * r_profile;
            s.weight = s.weight * (1.0 - ap) + ap;
        }
        let r_weekly = (xc / (base * profile.max(1e-3))).min(MAX_RATIO);
        let aw = t.alpha_weekly;
        self.weekly_sum[d] = self.weekly_sum[d] * (1.0 - aw) + aw * r_weekly;
        self.weekly_weight[d] = self.weekly_weight[d] * (1.0 - aw) + aw;

        self.bucket_disp_learn(t, x, e.mean, c);
    }

    fn bucket_disp_learn(&mut self, t: &Tuning, x: f64, mean: f64, clip: f64) {
        if self.level_reports >= MIN_SHAPE_REPORTS {
            self.bucket_disp.learn(x, mean, clip, t.alpha_dispersion);
        }
    }

    /// Keep the seasonal factors averaging 1 and move their scale into the level,
    /// so level and factors cannot drift apart (the product is unchanged).
    fn renormalise(&mut self) {
        let n = self.profile.len() as f64;
        let mean_p: f64 = (0..self.profile.len())
            .map(|i| self.slot_value(i))
            .sum::<f64>()
            / n;
        let mean_w: f64 = (0..7).map(|d| self.weekly_factor(d)).sum::<f64>() / 7.0;
        if mean_p > 1e-6 && mean_p.is_finite() {
            self.profile.iter_mut().for_each(|s| s.sum /= mean_p);
            self.level_sum *= mean_p;
        }
        if mean_w > 1e-6 && mean_w.is_finite() {
            self.weekly_sum.iter_mut().for_each(|v| *v /= mean_w);
            self.level_sum *= mean_w;
        }
    }
}

/// Weighted method-of-moments estimate of the NB2 dispersion `phi`
/// (variance = mu + phi mu^2), shrunk toward a prior while data is scarce.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Dispersion {
    /// EWMA of (x - mu)^2 - mu: the excess of variance over Poisson.
    num: f64,
    /// EWMA of mu^2, the weight that makes `num / den` estimate phi.
    den: f64,
    /// Weight of the data (grows toward 1).
    data_weight: f64,
    /// Weight of the prior (decays from its prior weight toward 0).
    prior_weight: f64,
}

impl Dispersion {
    fn new(prior_weight: f64) -> Self {
        Self {
            num: 0.0,
            den: 0.0,
            data_weight: 0.0,
            prior_weight,
        }
    }

    fn value(&self, prior: f64) -> f64 {
        let data = if self.den > 0.0 {
            (self.num / self.den).max(0.0)
        } else {
            0.0
        };
        let (pw, dw) = (self.prior_weight, self.data_weight);
        if pw + dw > 0.0 {
            (pw * prior + dw * data) / (pw + dw)
        } else {
            prior
        }
    }

    /// `clip` bounds |x - mu| so one outlier cannot inflate the estimate for days.
    fn learn(&mut self, x: f64, mu: f64, clip: f64, alpha: f64) {
        let xc = x.clamp((mu - clip).max(0.0), mu + clip);
        let resid = (xc - mu) * (xc - mu) - mu;
        self.num = self.num * (1.0 - alpha) + alpha * resid;
        self.den = self.den * (1.0 - alpha) + alpha * mu * mu;
        self.data_weight = self.data_weight * (1.0 - alpha) + alpha;
        self.prior_weight *= 1.0 - alpha;
    }
}

/// Teaches `d` one sum, clipping it at `learn_clip_sigma` standard
/// deviations under dispersion `phi`.
fn learn_sum(d: &mut Dispersion, t: &Tuning, sum: f64, expected: f64, phi: f64) {
    let sd = variance(expected, phi).sqrt();
    d.learn(
        sum,
        expected,
        t.params.learn_clip_sigma * sd,
        t.alpha_dispersion,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::params::DetectorParams;

    fn tuning(step: i64) -> Tuning {
        Tuning::new(&DetectorParams::default(), step).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn persists_the_profile_as_two_lists() {
        let t = tuning(60);
        let mut b = BaselineModel::new(&t);
        for i in 0..3000 {
            b.learn(&t, i * 60, (i % 9) as u64);
        }
        let json = serde_json::to_string(&b).unwrap_or_default();
        assert!(json.contains("\"profile_sum\":[") && json.contains("\"profile_weight\":["));
        let back: BaselineModel = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, b);
        assert!(back.fits(&t));
        // Lists of different lengths never fit.
        let odd = json.replacen("\"profile_weight\":[", "\"profile_weight\":[1.0,", 1);
        let odd: BaselineModel = serde_json::from_str(&odd).unwrap_or_else(|e| panic!("{e}"));
        assert!(!odd.fits(&t));
    }

    #[test]
    fn learns_a_flat_rate() {
        let t = tuning(60);
        let mut b = BaselineModel::new(&t);
        for i in 0..3000 {
            b.learn(&t, i * 60, 5);
        }
        let e = b.expect(&t, 3000 * 60);
        assert!((e.mean - 5.0).abs() < 0.3, "{e:?}");
    }

    #[test]
    fn learns_the_time_of_day() {
        let t = tuning(60);
        let mut b = BaselineModel::new(&t);
        // 2 / minute at night (00–12 UTC), 10 / minute in the day, for 10 days.
        let rate = |s: i64| if s.rem_euclid(86_400) < 43_200 { 2 } else { 10 };
        for i in 0..(10 * 1440) {
            b.learn(&t, i * 60, rate(i * 60));
        }
        let night = b.expect(&t, 10 * 86_400 + 4 * 3600).mean;
        let day = b.expect(&t, 10 * 86_400 + 18 * 3600).mean;
        assert!((night - 2.0).abs() < 0.5, "night {night}");
        assert!((day - 10.0).abs() < 1.5, "day {day}");
    }

    #[test]
    fn one_outlier_barely_moves_it() {
        let t = tuning(60);
        let mut b = BaselineModel::new(&t);
        for i in 0..2000 {
            b.learn(&t, i * 60, 4);
        }
        let before = b.expect(&t, 2000 * 60).mean;
        b.learn(&t, 2000 * 60, 10_000);
        let after = b.expect(&t, 2001 * 60).mean;
        assert!((after - before) / before < 0.03, "{before} -> {after}");
    }

    #[test]
    fn follows_slow_growth() {
        let t = tuning(300);
        let mut b = BaselineModel::new(&t);
        // Doubles over ten days.
        let n = 10 * 288;
        for i in 0..n {
            let c = (20.0 * (1.0 + i as f64 / n as f64)).round() as u64;
            b.learn(&t, i * 300, c);
        }
        let e = b.expect(&t, n * 300).mean;
        assert!((e - 40.0).abs() < 4.0, "{e}");
    }

    #[test]
    fn poisson_counts_learn_small_dispersion() {
        use rand::{Rng, SeedableRng};
        let t = tuning(60);
        let mut b = BaselineModel::new(&t);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for i in 0..(4 * 1440) {
            // Binomial(200, 0.1) ~ Poisson(20) with variance 18.
            let c = (0..200).filter(|_| rng.gen::<f64>() < 0.1).count() as u64;
            b.learn(&t, i * 60, c);
        }
        assert!(b.dispersion(&t) < 0.05, "{}", b.dispersion(&t));
    }
}
