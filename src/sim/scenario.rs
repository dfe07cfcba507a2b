//! Seeded scenarios. `march-2`: service `claude`, seven days of background with a
//! daily rhythm, then the outage of 2 March 2026 from 11:49 UTC in three waves over
//! about three hours (about 10,000 reports, login/website/app, HTTP 500 and 529),
//! with real dips between the waves and recovery afterwards.
//!
//! A scenario yields per-minute counts (for backtests) and the individual reports
//! behind them (for the server to import), plus the ground truth of the injection.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// 2026-02-23 00:00 UTC: seven days before the outage day.
pub const MARCH2_START: i64 = 1_771_804_800;
/// 2026-03-02 11:49 UTC: the first outage minute.
pub const MARCH2_OUTAGE: i64 = 1_772_452_140;
/// Simulated span: the seven background days and the outage day.
pub const MARCH2_MINUTES: usize = 8 * 1440;
/// Outage reports injected on average (the draw is Poisson around it).
pub const MARCH2_INJECTED_MEAN: f64 = 10_000.0;

/// Draws from Poisson(lambda) (the detector's sampler, shared here).
pub use crate::detect::sample::poisson;

/// One simulated user report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimReport {
    /// Unix seconds (UTC), with a random second inside its minute.
    pub at: i64,
    pub category: &'static str,
    pub error_code: Option<u16>,
    pub region: &'static str,
    pub platform: &'static str,
    /// Ground truth: injected by the outage (not part of a real report).
    pub outage: bool,
}

/// Where the outage was injected, for tests.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroundTruth {
    /// Start of the first minute with injected reports.
    pub first_abnormal_minute: i64,
    /// (start of first minute, end of last minute) of each injected wave.
    pub waves: Vec<(i64, i64)>,
    /// Outage reports actually injected (sum of the Poisson draws).
    pub injected_reports: u64,
}

/// A generated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub service: String,
    pub seed: u64,
    /// Minute starts (unix seconds), one per simulated minute.
    pub minute_starts: Vec<i64>,
    pub background: Vec<u64>,
    pub outage: Vec<u64>,
    pub truth: GroundTruth,
}

/// Background reports per minute: about 1 at night, 6.5 at 15:00 UTC, with the
/// day's own mood (±10%).
pub(super) fn background_rate(t: i64, day_factor: f64) -> f64 {
    let h = t.rem_euclid(86_400) as f64 / 3600.0;
    let bump = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * (h - 3.0) / 24.0).cos();
    (1.0 + 5.5 * bump.powf(1.5)) * day_factor
}

/// Shape of one wave over its minutes: a steep rise from a visible first minute,
/// then a long decay down to nothing at its end.
fn wave_shape(minute: usize, len: usize, rise: usize) -> f64 {
    let m = minute as f64;
    if minute < rise {
        0.15 + 0.85 * (m + 1.0) / rise as f64
    } else {
        let tail = (len - rise) as f64;
        let x = (m - rise as f64 + 1.0) / tail;
        (1.0 - x).max(0.0).powf(1.3)
    }
}

/// The seeded March-2 scenario.
pub fn march2(seed: u64) -> Scenario {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x6d61_7263_6832);
    let day_factors: Vec<f64> = (0..8).map(|_| rng.gen_range(0.9..1.1)).collect();
    let minute_starts: Vec<i64> = (0..MARCH2_MINUTES as i64)
        .map(|i| MARCH2_START + 60 * i)
        .collect();
    let background: Vec<u64> = minute_starts
        .iter()
        .enumerate()
        .map(|(i, &t)| poisson(&mut rng, background_rate(t, day_factors[i / 1440])))
        .collect();

    // Three waves (start offset from 11:49 in minutes, length, rise, share of reports),
    // separated by dips of about a quarter of an hour with no outage reports.
    let waves = [
        (0usize, 52usize, 14usize, 0.42),
        (68, 55, 12, 0.35),
        (139, 45, 10, 0.23),
    ];
    let first = ((MARCH2_OUTAGE - MARCH2_START) / 60) as usize;
    let mut outage = vec![0u64; MARCH2_MINUTES];
    let mut truth_waves = Vec::new();
    for &(off, len, rise, share) in &waves {
        let total_shape: f64 = (0..len).map(|m| wave_shape(m, len, rise)).sum();
        let scale = MARCH2_INJECTED_MEAN * share / total_shape;
        let mut last = None;
        for m in 0..len {
            let i = first + off + m;
            let n = poisson(&mut rng, scale * wave_shape(m, len, rise));
            if let Some(slot) = outage.get_mut(i) {
                *slot = n;
                if n > 0 {
                    last = Some(i);
                }
            }
        }
        let start = minute_starts
            .get(first + off)
            .copied()
            .unwrap_or(MARCH2_OUTAGE);
        let end = last
            .and_then(|i| minute_starts.get(i))
            .map_or(start, |&t| t + 60);
        truth_waves.push((start, end));
    }
    let first_abnormal_minute = outage
        .iter()
        .position(|&n| n > 0)
        .and_then(|i| minute_starts.get(i).copied())
        .unwrap_or(MARCH2_OUTAGE);
    let injected_reports = outage.iter().sum();
    Scenario {
        service: "claude".to_string(),
        seed,
        minute_starts,
        background,
        outage,
        truth: GroundTruth {
            first_abnormal_minute,
            waves: truth_waves,
            injected_reports,
        },
    }
}

const REGIONS: [(&str, f64); 5] = [
    ("US", 0.4),
    ("GB", 0.15),
    ("DE", 0.15),
    ("IN", 0.2),
    ("BR", 0.1),
];
const PLATFORMS: [(&str, f64); 4] = [("web", 0.5), ("ios", 0.2), ("android", 0.2), ("api", 0.1)];
const OUTAGE_CATEGORIES: [(&str, f64); 3] = [("login", 0.55), ("website", 0.30), ("app", 0.15)];
const BACKGROUND_CATEGORIES: [(&str, f64); 4] = [
    ("login", 0.35),
    ("website", 0.35),
    ("app", 0.2),
    ("api", 0.1),
];

fn pick<T: Copy>(rng: &mut StdRng, table: &[(T, f64)]) -> T {
    let mut u: f64 = rng.gen();
    for &(v, w) in table {
        if u < w {
            return v;
        }
        u -= w;
    }
    table[table.len() - 1].0
}

impl Scenario {
    /// Per-minute counts (background + outage): (minute start, count).
    pub fn counts(&self) -> Vec<(i64, u64)> {
        self.minute_starts
            .iter()
            .zip(self.background.iter().zip(&self.outage))
            .map(|(&t, (&b, &o))| (t, b + o))
            .collect()
    }

    /// The minutes that begin in `[from, to)` only, with their counts; the
    /// ground truth is the whole scenario's.
    pub fn between(&self, from: i64, to: i64) -> Scenario {
        let keep: Vec<usize> = (0..self.minute_starts.len())
            .filter(|&i| (from..to).contains(&self.minute_starts[i]))
            .collect();
        let pick = |v: &[u64]| keep.iter().map(|&i| v[i]).collect();
        Scenario {
            service: self.service.clone(),
            seed: self.seed,
            minute_starts: keep.iter().map(|&i| self.minute_starts[i]).collect(),
            background: pick(&self.background),
            outage: pick(&self.outage),
            truth: self.truth.clone(),
        }
    }

    /// `timestamp,value` CSV of the per-minute counts, in the NAB style.
    pub fn counts_csv(&self) -> String {
        let mut s = String::from("timestamp,value\n");
        for (t, c) in self.counts() {
            s.push_str(&super::backtest::format_timestamp(t));
            s.push(',');
            s.push_str(&c.to_string());
            s.push('\n');
        }
        s
    }

    /// The individual reports behind the counts, in time order. Outage reports
    /// carry the outage's category mix and HTTP 500 / 529 (or no code); background
    /// reports rarely carry a code.
    pub fn reports(&self) -> Vec<SimReport> {
        let mut rng = StdRng::seed_from_u64(self.seed ^ 0x7265_706f_7274);
        let total: u64 = self.background.iter().chain(&self.outage).sum();
        let mut out = Vec::with_capacity(total as usize);
        for (i, &t) in self.minute_starts.iter().enumerate() {
            let b = self.background.get(i).copied().unwrap_or(0);
            let o = self.outage.get(i).copied().unwrap_or(0);
            let start = out.len();
            for k in 0..(b + o) {
                let outage = k >= b;
                let (category, error_code) = if outage {
                    let code = match rng.gen_range(0..100) {
                        0..=44 => Some(500),
                        45..=79 => Some(529),
                        _ => None,
                    };
                    (pick(&mut rng, &OUTAGE_CATEGORIES), code)
                } else {
                    let code = (rng.gen_range(0..100) < 5).then_some(500);
                    (pick(&mut rng, &BACKGROUND_CATEGORIES), code)
                };
                out.push(SimReport {
                    at: t + rng.gen_range(0..60),
                    category,
                    error_code,
                    region: pick(&mut rng, &REGIONS),
                    platform: pick(&mut rng, &PLATFORMS),
                    outage,
                });
            }
            out[start..].sort_by_key(|r| r.at);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_sampler_has_the_right_mean_and_variance() {
        let mut rng = StdRng::seed_from_u64(3);
        for lambda in [0.3, 4.0, 75.0] {
            let xs: Vec<f64> = (0..20_000)
                .map(|_| poisson(&mut rng, lambda) as f64)
                .collect();
            let m = xs.iter().sum::<f64>() / xs.len() as f64;
            let v = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / xs.len() as f64;
            assert!(
                (m - lambda).abs() < 0.05 * lambda + 0.02,
                "{lambda}: mean {m}"
            );
            assert!(
                (v - lambda).abs() < 0.1 * lambda + 0.05,
                "{lambda}: var {v}"
            );
        }
    }

    #[test]
    fn march2_has_the_promised_shape() {
        let s = march2(0);
        assert_eq!(s.truth.first_abnormal_minute, MARCH2_OUTAGE);
        assert_eq!(s.truth.waves.len(), 3);
        let n = s.truth.injected_reports as f64;
        assert!((n - MARCH2_INJECTED_MEAN).abs() < 300.0, "{n}");
        // Three hours, give or take.
        let span = s.truth.waves[2].1 - s.truth.first_abnormal_minute;
        assert!((2 * 3600..=4 * 3600).contains(&span), "{span}");
        // Background: night ~1/min, afternoon 5-8/min.
        let day = |h: i64| {
            let i = ((h * 3600) / 60) as usize;
            s.background[i..i + 60].iter().sum::<u64>() as f64 / 60.0
        };
        assert!(
            day(3) < 2.0 && day(15) > 4.5 && day(15) < 9.0,
            "{} {}",
            day(3),
            day(15)
        );
        let reports = s.reports();
        let total: u64 = s.counts().iter().map(|c| c.1).sum();
        assert_eq!(reports.len() as u64, total);
        let login = reports
            .iter()
            .filter(|r| r.outage && r.category == "login")
            .count() as f64;
        assert!((login / n - 0.55).abs() < 0.03);
        assert!(reports
            .iter()
            .filter(|r| r.outage)
            .all(|r| matches!(r.error_code, None | Some(500) | Some(529))));
    }
}
