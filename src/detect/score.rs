//! How unlikely a count is under the baseline: the negative-binomial (Poisson when
//! the dispersion is nil) upper tail, reported as a surprise score
//! `-log10 P(X >= x)`, beside a plain z-score. Also the approximate count at which
//! the surprise crosses a threshold (the band a dashboard draws).
//!
//! The tail is what decides, because at night a z-score on a count of 0–3 lies; the
//! z-score is kept for people and for the cheap "obviously normal" shortcut.

use statrs::function::beta::checked_beta_reg;
use statrs::function::erf::erfc;
use statrs::function::gamma::{checked_gamma_lr, ln_gamma};

/// Surprise scores are capped here: beyond it every number means "impossible".
pub const MAX_SCORE: f64 = 300.0;

/// Below this dispersion the negative binomial is numerically a Poisson.
const POISSON_PHI: f64 = 1e-9;

/// Variance of a count with mean `mu` and NB2 dispersion `phi`.
pub fn variance(mu: f64, phi: f64) -> f64 {
    mu + phi * mu * mu
}

/// Standardised distance of `x` above `mu` (0 when the variance is degenerate).
pub fn z_score(x: f64, mu: f64, phi: f64) -> f64 {
    let var = variance(mu, phi);
    if var > 0.0 && var.is_finite() {
        (x - mu) / var.sqrt()
    } else {
        0.0
    }
}

/// Standardised distance below which [`surprise`] uses the normal tail.
const NORMAL_APPROX_Z: f64 = 2.0;

/// `-log10 P(X >= x)` for `X ~ NB(mean mu, dispersion phi)`; 0 when `x <= mu`.
///
/// Costs nothing for the common case (count at or below baseline), a few
/// nanoseconds for mildly high counts (normal approximation, where the exact value
/// cannot matter for any decision), and an incomplete beta/gamma only when the
/// count is really high.
pub fn surprise(x: u64, mu: f64, phi: f64) -> f64 {
    let xf = x as f64;
    if !(mu.is_finite() && mu > 0.0) {
        return if x == 0 { 0.0 } else { MAX_SCORE };
    }
    if xf <= mu {
        return 0.0;
    }
    let phi = if phi.is_finite() && phi > 0.0 {
        phi
    } else {
        0.0
    };
    let sd = variance(mu, phi).sqrt();
    let z = (xf - mu) / sd;
    if z < NORMAL_APPROX_Z {
        // Continuity-corrected normal tail. Below this z the normal score is at
        // most ~1.6 and the true (right-skewed, heavier-tailed) score lower
        // still: both sit under every threshold that decides or learns
        // anything (`tail_threshold_score` 2, `elevated_score` 3), so the
        // approximation only feeds the display, and the incomplete beta/gamma
        // is spent only where it can matter.
        let zc = (xf - 0.5 - mu) / sd;
        let p = 0.5 * erfc(zc / std::f64::consts::SQRT_2);
        return clamp_score(-p.log10());
    }
    let approx = ln_tail_bound(xf, mu, phi);
    // In the far tail the incomplete beta/gamma underflow or grind through many
    // iterations; the geometric bound is within a few percent there, in log terms.
    if let Some(lt) = approx {
        if lt < -12.0 * std::f64::consts::LN_10 {
            return clamp_score(-lt / std::f64::consts::LN_10);
        }
    }
    let exact = if phi < POISSON_PHI {
        checked_gamma_lr(xf, mu).ok()
    } else {
        let r = 1.0 / phi;
        checked_beta_reg(xf, r, mu / (mu + r)).ok()
    };
    match exact {
        Some(p) if p.is_finite() && p > 0.0 => clamp_score(-p.log10()),
        _ => match approx {
            Some(lt) => clamp_score(-lt / std::f64::consts::LN_10),
            None => MAX_SCORE,
        },
    }
}

fn clamp_score(s: f64) -> f64 {
    if s.is_nan() {
        0.0
    } else {
        s.clamp(0.0, MAX_SCORE)
    }
}

/// Natural log of an upper bound of `P(X >= x)`: `pmf(x) / (1 - q)` where `q`
/// bounds the ratio of successive probabilities beyond `x`. `None` if `x` is not
/// past the mode (the bound does not hold there).
fn ln_tail_bound(x: f64, mu: f64, phi: f64) -> Option<f64> {
    let (ln_pmf, q) = if phi < POISSON_PHI {
        (x * mu.ln() - mu - ln_gamma(x + 1.0), mu / (x + 1.0))
    } else {
        let r = 1.0 / phi;
        let ln_m = (mu / (mu + r)).ln();
        let ln_pmf =
            ln_gamma(x + r) - ln_gamma(r) - ln_gamma(x + 1.0) + r * (r / (mu + r)).ln() + x * ln_m;
        let q_here = (x + r) / (x + 1.0) * mu / (mu + r);
        // For r < 1 the ratio grows toward mu/(mu+r); bound it by that limit.
        let q = if r < 1.0 { mu / (mu + r) } else { q_here };
        (ln_pmf, q)
    };
    if q.is_nan() || q >= 1.0 || !ln_pmf.is_finite() {
        return None;
    }
    Some(ln_pmf - (1.0 - q).ln())
}

/// Approximate count whose upper-tail probability is `10^-score` (the band a
/// dashboard draws): a Cornish–Fisher skew correction of the normal quantile.
/// `z_threshold` is the standard normal quantile for that probability (see
/// [`normal_upper_quantile`]); it is computed once per detector, not per bucket.
pub fn upper_band(mu: f64, phi: f64, z_threshold: f64) -> f64 {
    let var = variance(mu, phi);
    if !(var > 0.0 && var.is_finite()) {
        return mu.max(0.0);
    }
    let sd = var.sqrt();
    let skew = (1.0 + 2.0 * phi * mu) / sd;
    let zq = z_threshold + skew * (z_threshold * z_threshold - 1.0) / 6.0;
    (mu + sd * zq).max(mu)
}

/// Standard normal quantile `z` with `P(Z > z) = 10^-score`.
pub fn normal_upper_quantile(score: f64) -> f64 {
    let p = 10f64.powf(-score).clamp(1e-300, 0.5);
    std::f64::consts::SQRT_2 * statrs::function::erf::erfc_inv(2.0 * p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poisson_sf(x: u64, mu: f64) -> f64 {
        // Direct sum of the lower part, exact enough for small mu.
        let mut cdf = 0.0;
        let mut pmf = (-mu).exp();
        for k in 0..x {
            cdf += pmf;
            pmf *= mu / (k as f64 + 1.0);
        }
        1.0 - cdf
    }

    #[test]
    fn at_or_below_baseline_scores_zero() {
        assert_eq!(surprise(3, 5.0, 0.1), 0.0);
        assert_eq!(surprise(0, 0.01, 0.0), 0.0);
    }

    #[test]
    fn poisson_tail_matches_direct_sum() {
        for &(x, mu) in &[(3u64, 0.5f64), (10, 2.0), (20, 8.0), (5, 1.0)] {
            let want = -poisson_sf(x, mu).log10();
            let got = surprise(x, mu, 0.0);
            assert!(
                (got - want).abs() < 1e-6,
                "x={x} mu={mu} got {got} want {want}"
            );
        }
    }

    #[test]
    fn overdispersion_makes_high_counts_less_surprising() {
        let p = surprise(30, 10.0, 0.0);
        let nb = surprise(30, 10.0, 0.3);
        assert!(nb < p, "nb {nb} should be below poisson {p}");
        assert!(nb > 0.5);
    }

    #[test]
    fn far_tail_is_finite_and_monotone() {
        let a = surprise(200, 5.0, 0.2);
        let b = surprise(2000, 5.0, 0.2);
        let c = surprise(1_000_000, 5.0, 0.2);
        assert!(a > 12.0 && b > a && c >= b && c <= MAX_SCORE);
        assert!(surprise(u64::MAX, 1.0, 0.0).is_finite());
    }

    #[test]
    fn far_tail_bound_is_close_to_exact_where_both_work() {
        // At score ~10 both paths are available; they must agree within ~3%.
        let x = 40u64;
        let mu = 5.0;
        let exact = -checked_beta_reg(x as f64, 1.0 / 0.1, mu / (mu + 10.0))
            .unwrap_or(1.0)
            .log10();
        let bound = -ln_tail_bound(x as f64, mu, 0.1).unwrap_or(0.0) / std::f64::consts::LN_10;
        assert!(
            (exact - bound).abs() / exact < 0.05,
            "exact {exact} bound {bound}"
        );
    }

    #[test]
    fn band_is_near_the_exact_threshold_count() {
        let z = normal_upper_quantile(3.0);
        for &(mu, phi) in &[(5.0f64, 0.0f64), (50.0, 0.1), (1.0, 0.3), (300.0, 0.05)] {
            let band = upper_band(mu, phi, z);
            // The count at the band scores near 3: between 2 and 4.5.
            let s = surprise(band.round() as u64, mu, phi);
            assert!(
                s > 2.0 && s < 4.5,
                "mu {mu} phi {phi} band {band} score {s}"
            );
        }
    }

    #[test]
    fn z_score_is_plain() {
        assert!((z_score(14.0, 4.0, 0.0) - 5.0).abs() < 1e-12);
        assert_eq!(z_score(1.0, 0.0, 0.0), 0.0);
    }
}

/// Peaks-over-threshold calibration of surprise scores. The negative binomial's
/// tail is exponential, but real report counts (and tweets) have heavier tails: a
/// series that produces "1 in a million" buckets every other day is not having an
/// outage every other day. For scores above a threshold `u`, a well-calibrated
/// model gives exceedances that are exponential in score units, with rate
/// `10^-u` and mean excess `1/ln 10`. We learn both from the series' normal
/// buckets and map a raw score to the score it really deserves. It only ever
/// lowers scores (never trusts the model more than its own tail says).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TailCalibration {
    /// EWMA numerator of 1[s > u].
    exceed: f64,
    /// EWMA numerator of (s - u) 1[s > u].
    excess: f64,
    /// EWMA weight (prior included).
    weight: f64,
}

/// Excess over `u` counted when learning is capped, so one freak bucket that did
/// not open an event cannot flatten the tail for weeks.
const MAX_LEARNED_EXCESS: f64 = 10.0;

impl TailCalibration {
    /// Start at the nominal (well-calibrated) tail with `prior_weight` of EWMA weight.
    pub fn new(u: f64, prior_weight: f64) -> Self {
        let rate = 10f64.powf(-u);
        Self {
            exceed: prior_weight * rate,
            excess: prior_weight * rate / std::f64::consts::LN_10,
            weight: prior_weight,
        }
    }

    pub fn learn(&mut self, score: f64, u: f64, alpha: f64) {
        let (e, x) = if score > u {
            (1.0, (score - u).min(MAX_LEARNED_EXCESS))
        } else {
            (0.0, 0.0)
        };
        self.exceed = self.exceed * (1.0 - alpha) + alpha * e;
        self.excess = self.excess * (1.0 - alpha) + alpha * x;
        self.weight = self.weight * (1.0 - alpha) + alpha;
    }

    /// The calibration's current shape above and below `u`: compute it once to
    /// calibrate a score and find the band's raw score from the same state.
    pub fn shape(&self, u: f64) -> TailShape {
        if !(self.weight > 0.0 && self.exceed > 0.0) {
            return TailShape {
                u,
                at_u: u,
                slope: 1.0,
            };
        }
        let rate = self.exceed / self.weight;
        let at_u = (-rate.log10()).clamp(0.0, u);
        let mean_excess = self.excess / self.exceed;
        let slope = if mean_excess > 0.0 {
            (1.0 / (std::f64::consts::LN_10 * mean_excess)).min(1.0)
        } else {
            1.0
        };
        TailShape { u, at_u, slope }
    }

    /// The calibrated score for a raw model score.
    pub fn calibrate(&self, score: f64, u: f64) -> f64 {
        if score <= 0.0 || u <= 0.0 {
            return score.max(0.0);
        }
        self.shape(u).calibrate(score)
    }

    /// The raw score that calibrates to `target` (for drawing the band).
    pub fn raw_for(&self, target: f64, u: f64) -> f64 {
        self.shape(u).raw_for(target)
    }
}

/// A [`TailCalibration`]'s mapping at one moment: the calibrated score at the
/// threshold `u` (capped at `u`) and the slope beyond it (capped at 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TailShape {
    u: f64,
    at_u: f64,
    slope: f64,
}

impl TailShape {
    /// The calibrated score for a raw model score.
    pub fn calibrate(&self, score: f64) -> f64 {
        let (u, at_u, slope) = (self.u, self.at_u, self.slope);
        if score <= 0.0 || u <= 0.0 {
            return score.max(0.0);
        }
        if score <= u {
            score * at_u / u
        } else {
            at_u + slope * (score - u)
        }
    }

    /// The raw score that calibrates to `target` (for drawing the band).
    pub fn raw_for(&self, target: f64) -> f64 {
        let (u, at_u, slope) = (self.u, self.at_u, self.slope);
        if target <= at_u {
            if at_u > 0.0 {
                target * u / at_u
            } else {
                u
            }
        } else {
            u + (target - at_u) / slope.max(1e-6)
        }
    }
}

#[cfg(test)]
mod calibration_tests {
    use super::*;

    #[test]
    fn calibrated_model_keeps_its_scores() {
        let c = TailCalibration::new(2.0, 0.5);
        for s in [0.5, 2.0, 5.0, 12.0] {
            assert!((c.calibrate(s, 2.0) - s).abs() < 1e-9);
        }
    }

    #[test]
    fn heavy_tail_lowers_high_scores() {
        let mut c = TailCalibration::new(2.0, 0.01);
        // 5% of buckets exceed u, by 3 score units on average (nominal: 1%, 0.43).
        for i in 0..20_000 {
            let s = if i % 20 == 0 { 5.0 } else { 0.5 };
            c.learn(s, 2.0, 0.001);
        }
        let c9 = c.calibrate(9.0, 2.0);
        assert!(c9 < 4.0, "{c9}");
        let back = c.raw_for(c9, 2.0);
        assert!((back - 9.0).abs() < 1e-6, "{back}");
    }
}
