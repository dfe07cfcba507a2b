//! Property tests of the whole detector: no panic on any input, no event on flat
//! Poisson noise at any rate, exactly one event for one isolated burst.

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::{DetectorParams, EventChange, SeriesDetector, Tuning};
use crate::detect::sample::poisson;

const T0: i64 = 1_772_409_600;
const WEEK: i64 = 7 * 1440;

fn opened_on_noise(rate: f64, seed: u64) -> usize {
    let tn = match Tuning::new(&DetectorParams::default(), 60) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    let mut d = SeriesDetector::new(&tn);
    let mut rng = StdRng::seed_from_u64(seed);
    (0..WEEK)
        .filter(|&i| {
            let o = d.observe(&tn, T0 + 60 * i, poisson(&mut rng, rate));
            matches!(o.change, Some(EventChange::Opened { .. }))
        })
        .count()
}

#[test]
fn no_event_on_steady_noise_over_a_grid_of_rates() {
    for (k, rate) in [0.1, 1.0, 10.0, 100.0, 1000.0].into_iter().enumerate() {
        assert_eq!(opened_on_noise(rate, k as u64), 0, "rate {rate}/min");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    #[test]
    fn no_event_on_steady_noise(log_rate in -1.0f64..3.0, seed in 0u64..1000) {
        let rate = 10f64.powf(log_rate);
        prop_assert_eq!(opened_on_noise(rate, seed), 0, "rate {}/min", rate);
    }

    #[test]
    fn one_isolated_burst_is_one_event(
        rate in 0.5f64..50.0,
        factor in 8.0f64..30.0,
        minutes in 5i64..60,
        seed in 0u64..1000,
    ) {
        let tn = Tuning::new(&DetectorParams::default(), 60).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut d = SeriesDetector::new(&tn);
        let mut rng = StdRng::seed_from_u64(seed);
        let burst_at = 3 * 1440;
        let mut opened = 0;
        for i in 0..(4 * 1440) {
            let in_burst = (burst_at..burst_at + minutes).contains(&i);
            // The burst adds at least 30 reports a minute so it is never "a handful".
            let lambda = if in_burst { rate * factor + 30.0 } else { rate };
            let o = d.observe(&tn, T0 + 60 * i, poisson(&mut rng, lambda));
            if matches!(o.change, Some(EventChange::Opened { .. })) {
                opened += 1;
                prop_assert!(i >= burst_at && i < burst_at + minutes, "opened at minute {} off the burst", i);
            }
        }
        prop_assert_eq!(opened, 1);
    }

    #[test]
    fn never_panics(
        step in prop_oneof![Just(60i64), Just(300), Just(1), Just(86_400), -5i64..100_000],
        buckets in proptest::collection::vec((-1_000i64..100_000, any::<u64>()), 0..300),
        big in any::<bool>(),
    ) {
        if let Ok(tn) = Tuning::new(&DetectorParams::default(), step) {
            let mut d = SeriesDetector::new(&tn);
            let mut t = if big { i64::MAX - 10_000_000 } else { i64::MIN / 4 };
            for (dt, c) in buckets {
                t = t.saturating_add(dt);
                let c = if big { c } else { c % 1000 };
                let o = d.observe(&tn, t, c);
                prop_assert!(o.score.is_finite() && o.expected.is_finite() && o.band.is_finite());
            }
        }
    }
}
