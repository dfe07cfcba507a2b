//! The per-series state machine, bucket by bucket.

use super::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::detect::sample::poisson;
use crate::detect::DetectorParams;

const T0: i64 = 1_772_409_600; // a Monday, 00:00 UTC

fn tuning(step: i64) -> Tuning {
    Tuning::new(&DetectorParams::default(), step).unwrap_or_else(|e| panic!("{e}"))
}

/// Feed `minutes` of Poisson(rate) 1-minute buckets; return the changes seen.
fn feed_flat(
    tn: &Tuning,
    d: &mut SeriesDetector,
    rng: &mut StdRng,
    from: i64,
    minutes: i64,
    rate: f64,
) -> usize {
    let mut opened = 0;
    for i in 0..minutes {
        let o = d.observe(tn, from + 60 * i, poisson(rng, rate));
        if matches!(o.change, Some(EventChange::Opened { .. })) {
            opened += 1;
        }
    }
    opened
}

#[test]
fn statuses_are_their_words_and_read_as_people_say_them() {
    crate::detect::vocabulary::assert_serde_matches(Status::ALL, |s| s.as_str());
    assert_eq!("elevated".parse(), Ok(Status::Elevated));
    assert_eq!(Status::Elevated.label(), "Possible problems");
    let mut all = Status::ALL.to_vec();
    all.sort_by_key(|s| s.rank());
    assert_eq!(all, [Status::Outage, Status::Elevated, Status::Ok]);
}

#[test]
fn one_noisy_minute_never_opens() {
    let tn = tuning(60);
    let mut d = SeriesDetector::new(&tn);
    let mut rng = StdRng::seed_from_u64(1);
    assert_eq!(feed_flat(&tn, &mut d, &mut rng, T0, 2 * 1440, 5.0), 0);
    // A minute at 4x the rate: clearly odd, not an outage.
    let o = d.observe(&tn, T0 + 2 * 86_400, 20);
    assert_ne!(o.status, Status::Outage);
    assert!(o.change.is_none());
}

#[test]
fn an_extreme_bucket_opens_at_once_with_a_causal_detection_time() {
    let tn = tuning(60);
    let mut d = SeriesDetector::new(&tn);
    let mut rng = StdRng::seed_from_u64(2);
    feed_flat(&tn, &mut d, &mut rng, T0, 1440, 5.0);
    let t = T0 + 86_400;
    let o = d.observe(&tn, t, 200);
    assert_eq!(o.status, Status::Outage);
    assert!(matches!(
        o.change,
        Some(EventChange::Opened { event_id: 1 })
    ));
    let ev = d.open_event().unwrap_or_else(|| panic!("no event"));
    assert_eq!(ev.detected_at, t + 60);
    assert_eq!(ev.opened_by, OpenReason::Extreme);
}

#[test]
fn moderate_evidence_must_persist() {
    let tn = tuning(60);
    let mut d = SeriesDetector::new(&tn);
    let mut rng = StdRng::seed_from_u64(3);
    // A week (the dispersion's memory): enough for the window's own
    // dispersion to outweigh its prior.
    feed_flat(&tn, &mut d, &mut rng, T0, 7 * 1440, 10.0);
    // 2.2x the rate: no single minute is extreme, the window is.
    let t = T0 + 7 * 86_400;
    let mut opened_at = None;
    for i in 0..30 {
        let o = d.observe(&tn, t + 60 * i, 22);
        if matches!(o.change, Some(EventChange::Opened { .. })) {
            opened_at = Some(i);
            break;
        }
        assert!(o.score < DetectorParams::default().extreme_score);
    }
    let i = opened_at.unwrap_or_else(|| panic!("never opened"));
    assert!(i >= 5, "opened after {i} minutes: not persistent");
    let ev = d.open_event().unwrap_or_else(|| panic!("no event"));
    assert_ne!(ev.opened_by, OpenReason::Extreme);
}

#[test]
fn resolves_after_the_quiet_period_and_freezes_the_baseline() {
    let tn = tuning(60);
    let mut d = SeriesDetector::new(&tn);
    let mut rng = StdRng::seed_from_u64(4);
    feed_flat(&tn, &mut d, &mut rng, T0, 1440, 5.0);
    let t = T0 + 86_400;
    for i in 0..60 {
        d.observe(&tn, t + 60 * i, 150);
    }
    let during = d.observe(&tn, t + 3600, 150).expected;
    assert!(during < 8.0, "baseline learned the outage: {during}");
    let mut resolved_at = None;
    for i in 61..200 {
        let o = d.observe(&tn, t + 60 * i, poisson(&mut rng, 5.0));
        if matches!(o.change, Some(EventChange::Resolved { .. })) {
            resolved_at = Some(t + 60 * i + 60);
            break;
        }
    }
    let r = resolved_at.unwrap_or_else(|| panic!("never resolved"));
    let ev = d
        .last_resolved()
        .unwrap_or_else(|| panic!("no resolved event"));
    assert_eq!(ev.resolved_at, Some(r));
    let quiet = (DetectorParams::default().quiet_minutes * 60.0) as i64;
    assert!(r - ev.ended_at >= quiet && r - ev.ended_at <= quiet + 120);
    assert!((ev.excess - 61.0 * 145.0).abs() < 300.0, "{}", ev.excess);
    assert_eq!(ev.waves.len(), 1);
}

#[test]
fn cold_start_opens_on_an_unmistakable_burst_only() {
    let tn = tuning(60);
    let mut d = SeriesDetector::new(&tn);
    let mut rng = StdRng::seed_from_u64(5);
    // Two hours of history only.
    assert_eq!(feed_flat(&tn, &mut d, &mut rng, T0, 120, 3.0), 0);
    let o = d.observe(&tn, T0 + 120 * 60, 12);
    assert_ne!(o.status, Status::Outage, "{o:?}");
    let o = d.observe(&tn, T0 + 121 * 60, 120);
    assert_eq!(o.status, Status::Outage, "{o:?}");
}

#[test]
fn state_round_trips_through_json_and_resumes_identically() {
    let tn = tuning(300);
    let mut a = SeriesDetector::new(&tn);
    let mut rng = StdRng::seed_from_u64(6);
    for i in 0..3000 {
        a.observe(&tn, T0 + 300 * i, poisson(&mut rng, 20.0));
    }
    let json = serde_json::to_string(a.state()).unwrap_or_default();
    let state: SeriesState = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
    let mut b = SeriesDetector::from_state(&tn, state).unwrap_or_else(|e| panic!("{e}"));
    for i in 3000..3100 {
        let c = if i == 3050 {
            400
        } else {
            poisson(&mut rng, 20.0)
        };
        assert_eq!(
            a.observe(&tn, T0 + 300 * i, c),
            b.observe(&tn, T0 + 300 * i, c)
        );
    }
    assert!(b.last_resolved().is_some() || b.open_event().is_some());
}

#[test]
fn old_or_repeated_buckets_change_nothing() {
    let tn = tuning(60);
    let mut d = SeriesDetector::new(&tn);
    d.observe(&tn, T0, 3);
    d.observe(&tn, T0 + 60, 4);
    let before = d.state().clone();
    let o = d.observe(&tn, T0, 1000);
    assert!(o.change.is_none());
    assert_eq!(d.state(), &before);
}

/// Only the relative-rise path can open: the score paths are out of reach.
fn rise_only(step: i64) -> (Tuning, SeriesDetector) {
    let p = DetectorParams {
        extreme_score: 1e6,
        persist_score: 1e6,
        ..DetectorParams::default()
    };
    let tn = Tuning::new(&p, step).unwrap_or_else(|e| panic!("{e}"));
    let d = SeriesDetector::new(&tn);
    (tn, d)
}

#[test]
fn rise_path_fires_on_a_sixfold_hour_long_rise() {
    for step in [60i64, 300] {
        let (tn, mut d) = rise_only(step);
        let mut rng = StdRng::seed_from_u64(7);
        let per_step = step as f64 / 60.0;
        let n = 3 * 86_400 / step;
        for i in 0..n {
            let o = d.observe(&tn, T0 + step * i, poisson(&mut rng, 2.0 * per_step));
            assert!(o.change.is_none(), "step {step}: {o:?}");
        }
        let mut opened = None;
        for i in 0..(3600 / step) {
            let o = d.observe(&tn, T0 + step * (n + i), poisson(&mut rng, 12.0 * per_step));
            if matches!(o.change, Some(EventChange::Opened { .. })) {
                opened = Some(i);
                break;
            }
        }
        let i = opened.unwrap_or_else(|| panic!("step {step}: never opened"));
        let ev = d.open_event().unwrap_or_else(|| panic!("no event"));
        assert_eq!(ev.opened_by, OpenReason::Rise);
        assert_eq!(ev.detected_at, T0 + step * (n + i + 1));
        // Within the hour: (S + g) / (B + g) reaches 5.5 after about 56 minutes.
        assert!(
            (i + 1) * step <= 3600,
            "step {step}: after {} s",
            (i + 1) * step
        );
    }
}

#[test]
fn rise_path_ignores_a_daily_rhythm_and_fires_once_per_rise() {
    for step in [60i64, 300] {
        let (tn, mut d) = rise_only(step);
        let mut rng = StdRng::seed_from_u64(8);
        let per_step = step as f64 / 60.0;
        // Night 1/min, afternoon 10/min, for a week.
        let rate = |i: i64| {
            let day = ((T0 + step * i).rem_euclid(86_400)) as f64 / 86_400.0;
            1.0 + 9.0 * (0.5 - 0.5 * (2.0 * std::f64::consts::PI * day).cos())
        };
        let n = 7 * 86_400 / step;
        for i in 0..n {
            let o = d.observe(&tn, T0 + step * i, poisson(&mut rng, rate(i) * per_step));
            assert!(o.change.is_none(), "step {step} bucket {i}: {o:?}");
        }
        // A night-time burst of 3 hours at 50/min (the typical hour is about
        // 330 reports): one event, not one per hour.
        let mut opened = 0;
        for i in n..(n + 6 * 3600 / step) {
            let burst = i < n + 3 * 3600 / step;
            let lambda = if burst { 50.0 } else { 1.0 };
            let o = d.observe(&tn, T0 + step * i, poisson(&mut rng, lambda * per_step));
            opened += usize::from(matches!(o.change, Some(EventChange::Opened { .. })));
        }
        assert_eq!(opened, 1, "step {step}");
    }
}

#[test]
fn bad_steps_are_refused() {
    assert!(Tuning::new(&DetectorParams::default(), 0).is_err());
    assert!(Tuning::new(&DetectorParams::default(), -60).is_err());
    let p = DetectorParams {
        quiet_minutes: f64::NAN,
        ..DetectorParams::default()
    };
    assert!(Tuning::new(&p, 60).is_err());
}

#[test]
fn a_state_restores_only_at_its_own_step() {
    let tn = tuning(60);
    let mut d = SeriesDetector::new(&tn);
    d.observe(&tn, T0, 3);
    let state = d.state().clone();
    assert_eq!(
        SeriesDetector::from_state(&tuning(300), state.clone()).err(),
        Some(RestoreError::Mismatch)
    );
    assert!(SeriesDetector::from_state(&tn, state).is_ok());
}
