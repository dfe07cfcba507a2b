//! Negative controls: seeded 30-day series of normal life, per minute, that a
//! detector must not call outages (beyond its false-event budget), and generated
//! outages whose waves it must group as people saw them.
//!
//! Normal life that fools fixed thresholds:
//! - `bursty`: a quiet service with compound-Poisson bursts of heavy-tailed size
//!   (Pareto), a few a day, the way a small community's reports or a
//!   low-volume hashtag behave;
//! - `level-shift`: the audience doubles overnight and stays;
//! - `holiday`: one day at a fifth of the usual volume;
//! - `weekly`: weekends at 40% of weekdays;
//! - `growth`: four times the volume by the end of the month;
//! - `gap`: an hour with no data at all (a collector down), then normal.
//!
//! Every control has the daily rhythm of a real service and day-to-day moods.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::backtest::{run_series, CountSeries};
use super::scenario::poisson;
use crate::detect::{DetectorParams, Event};

/// 2026-01-05 00:00 UTC, a Monday.
pub const CONTROL_START: i64 = 1_767_571_200;
/// Days a control runs before it is judged: a new series needs to have seen
/// its normal bursts before its thresholds know them.
pub const LEARNING_DAYS: i64 = 7;
/// Days a control is judged on, after the learning days.
pub const JUDGED_DAYS: i64 = 30;
/// Each control runs this many days.
pub const CONTROL_DAYS: i64 = LEARNING_DAYS + JUDGED_DAYS;

/// The negative controls, by name.
pub const CONTROLS: [&str; 6] = [
    "bursty",
    "level-shift",
    "holiday",
    "weekly",
    "growth",
    "gap",
];

/// Reports per minute of a service with a daily rhythm: `night` at 03:00 UTC,
/// about `day` at 15:00.
fn daily(t: i64, night: f64, day: f64) -> f64 {
    let h = t.rem_euclid(86_400) as f64 / 3600.0;
    let bump = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * (h - 3.0) / 24.0).cos();
    night + (day - night) * bump.powf(1.5)
}

/// One negative control's per-minute counts; `None` for an unknown name.
pub fn control(name: &str, seed: u64) -> Option<CountSeries> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x0063_6f6e_7472_6f6c);
    let minutes = CONTROL_DAYS * 1440;
    let moods: Vec<f64> = (0..CONTROL_DAYS)
        .map(|_| rng.gen_range(0.85..1.15))
        .collect();
    let mid = LEARNING_DAYS + JUDGED_DAYS / 2;
    let mut buckets = Vec::with_capacity(minutes as usize);
    // Bursts of the bursty control: (first minute, minutes, reports per minute).
    let mut burst_until = 0i64;
    let mut burst_rate = 0.0;
    for i in 0..minutes {
        let t = CONTROL_START + 60 * i;
        let day = i / 1440;
        let mood = moods[day as usize];
        let weekday = day % 7;
        let rate = match name {
            "bursty" => {
                // About four bursts a day of 1-6 minutes, their sizes lognormal
                // (median 40 reports, log-sd 0.8: one in a hundred above 250).
                if i >= burst_until && rng.gen::<f64>() < 4.0 / 1440.0 {
                    let z: f64 = (0..12).map(|_| rng.gen::<f64>()).sum::<f64>() - 6.0;
                    let size = (40f64.ln() + 0.8 * z).exp();
                    let len = rng.gen_range(1..=6);
                    burst_until = i + len;
                    burst_rate = size.min(3000.0) / len as f64;
                }
                let burst = if i < burst_until { burst_rate } else { 0.0 };
                daily(t, 0.1, 0.6) * mood + burst
            }
            "level-shift" => {
                let audience = if day >= mid { 2.0 } else { 1.0 };
                daily(t, 1.0, 6.0) * mood * audience
            }
            "holiday" => {
                let quiet = if day == mid { 0.2 } else { 1.0 };
                daily(t, 1.0, 6.0) * mood * quiet
            }
            "weekly" => {
                let weekend = if weekday >= 5 { 0.4 } else { 1.0 };
                daily(t, 1.0, 6.0) * mood * weekend
            }
            "growth" => {
                let g = 4f64.powf(i as f64 / minutes as f64);
                daily(t, 1.0, 6.0) * mood * g
            }
            "gap" => {
                if day == mid && (600..660).contains(&(i % 1440)) {
                    continue;
                }
                daily(t, 1.0, 6.0) * mood
            }
            _ => return None,
        };
        buckets.push((t, poisson(&mut rng, rate)));
    }
    Some(CountSeries {
        name: name.to_owned(),
        step_secs: 60,
        buckets,
    })
}

/// Events the detector opens on one control's judged days.
pub fn control_events(params: &DetectorParams, name: &str, seed: u64) -> Option<Vec<Event>> {
    let series = control(name, seed)?;
    let run = run_series(params, &series, false).ok()?;
    Some(
        run.events
            .into_iter()
            .filter(|e| e.started_at >= CONTROL_START + LEARNING_DAYS * 86_400)
            .collect(),
    )
}

/// Mean false events per 30 days over `seeds` seeds of one control.
pub fn false_event_rate(params: &DetectorParams, name: &str, seeds: u64) -> Option<f64> {
    let mut total = 0usize;
    for seed in 0..seeds {
        total += control_events(params, name, seed)?.len();
    }
    Some(total as f64 / seeds.max(1) as f64 * 30.0 / JUDGED_DAYS as f64)
}

/// A generated outage in waves on a normal background: `waves` of
/// (start minute, minutes, peak reports per minute), on `days` days of history.
pub fn waves_scenario(seed: u64, days: i64, waves: &[(i64, i64, f64)]) -> CountSeries {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x7761_7665);
    let minutes = days * 1440;
    let buckets = (0..minutes)
        .map(|i| {
            let t = CONTROL_START + 60 * i;
            let mut rate = daily(t, 1.0, 6.0);
            for &(start, len, peak) in waves {
                if (start..start + len).contains(&i) {
                    // A quick rise and a slower fall within the wave.
                    let x = (i - start) as f64 / len as f64;
                    let shape = if x < 0.25 {
                        0.3 + 0.7 * x / 0.25
                    } else {
                        (1.0 - x) / 0.75
                    };
                    rate += peak * shape.max(0.05);
                }
            }
            (t, poisson(&mut rng, rate))
        })
        .collect();
    CountSeries {
        name: "waves".into(),
        step_secs: 60,
        buckets,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Events per seed on the day of the generated outage.
    fn outcomes(waves: &[(i64, i64, f64)]) -> Vec<Vec<usize>> {
        let p = DetectorParams::default();
        (0..20)
            .map(|seed| {
                let run = run_series(&p, &waves_scenario(seed, 4, waves), false)
                    .unwrap_or_else(|e| panic!("{e}"));
                run.events
                    .iter()
                    .filter(|e| e.started_at >= CONTROL_START + 3 * 86_400)
                    .map(|e| e.waves.len())
                    .collect()
            })
            .collect()
    }

    /// Noon of the fourth day, in minutes from the start.
    const NOON: i64 = 3 * 1440 + 12 * 60;

    #[test]
    fn three_waves_with_20_minute_troughs_are_one_event_with_three_waves() {
        let waves = [
            (NOON, 40, 60.0),
            (NOON + 60, 40, 60.0),
            (NOON + 120, 40, 60.0),
        ];
        for (seed, got) in outcomes(&waves).iter().enumerate() {
            assert_eq!(got, &[3], "seed {seed}");
        }
    }

    #[test]
    fn two_waves_25_quiet_minutes_apart_are_one_event_with_two_waves() {
        let waves = [(NOON, 40, 60.0), (NOON + 65, 40, 60.0)];
        for (seed, got) in outcomes(&waves).iter().enumerate() {
            assert_eq!(got, &[2], "seed {seed}");
        }
    }

    #[test]
    fn two_outages_nine_hours_apart_are_two_events() {
        let waves = [(NOON, 40, 60.0), (NOON + 40 + 540, 40, 60.0)];
        for (seed, got) in outcomes(&waves).iter().enumerate() {
            assert_eq!(got, &[1, 1], "seed {seed}");
        }
    }

    /// Over 20 seeds, the control's false events per 30 days stay within the
    /// default budget.
    fn within_budget(name: &str) {
        let p = DetectorParams::default();
        let rate = false_event_rate(&p, name, 20).unwrap_or_else(|| panic!("{name}"));
        assert!(
            rate <= p.false_events_per_30_days,
            "{name}: {rate:.2} false events per 30 days, budget {}",
            p.false_events_per_30_days
        );
    }

    #[test]
    fn bursty_normal_life_stays_within_the_budget() {
        within_budget("bursty");
    }

    #[test]
    fn a_level_shift_stays_within_the_budget() {
        within_budget("level-shift");
    }

    #[test]
    fn a_quiet_holiday_stays_within_the_budget() {
        within_budget("holiday");
    }

    #[test]
    fn a_weekly_rhythm_stays_within_the_budget() {
        within_budget("weekly");
    }

    #[test]
    fn growth_four_fold_stays_within_the_budget() {
        within_budget("growth");
    }

    #[test]
    fn an_hour_without_data_stays_within_the_budget() {
        within_budget("gap");
    }

    #[test]
    fn the_controls_are_what_they_say() {
        let mean = |name: &str, from_day: i64, days: i64| {
            let s = control(name, 1).unwrap_or_else(|| panic!("{name}"));
            let (a, b) = (
                CONTROL_START + from_day * 86_400,
                CONTROL_START + (from_day + days) * 86_400,
            );
            let v: Vec<u64> = s
                .buckets
                .iter()
                .filter(|(t, _)| (a..b).contains(t))
                .map(|&(_, c)| c)
                .collect();
            v.iter().sum::<u64>() as f64 / v.len().max(1) as f64
        };
        let mid = LEARNING_DAYS + JUDGED_DAYS / 2;
        assert!(mean("level-shift", mid, 3) > 1.7 * mean("level-shift", mid - 3, 3));
        assert!(mean("holiday", mid, 1) < 0.3 * mean("holiday", mid - 1, 1));
        assert!(mean("growth", CONTROL_DAYS - 2, 2) > 3.0 * mean("growth", 0, 2));
        let gap = control("gap", 1).unwrap_or_else(|| panic!("gap"));
        assert_eq!(gap.buckets.len() as i64, CONTROL_DAYS * 1440 - 60);
        // Bursty: a quiet median, bursts of hundreds.
        let b = control("bursty", 1).unwrap_or_else(|| panic!("bursty"));
        let mut counts: Vec<u64> = b.buckets.iter().map(|&(_, c)| c).collect();
        counts.sort_unstable();
        assert!(
            counts[counts.len() / 2] <= 1,
            "median {}",
            counts[counts.len() / 2]
        );
        assert!(
            counts[counts.len() - 1] >= 100,
            "max {}",
            counts[counts.len() - 1]
        );
        assert!(control("nope", 0).is_none());
    }
}
