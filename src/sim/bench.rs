//! A plain timing of `observe()`: many series, one tick each, after a warm-up, so
//! the figure reflects a warmed-up server minute. The main crate turns this into a
//! criterion bench; this one only needs `std::time`.

use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::detect::{DetectorParams, SeriesDetector, Tuning};

/// 2026-03-02 00:00 UTC: where the warmed detectors' history starts.
pub const T0: i64 = 1_772_409_600;

/// `n` one-minute detectors with rates drawn from 0 to 50 a minute, each fed
/// minutes `0..warm_minutes` from [`T0`] with counts scattered ±50% around its
/// rate. Returns each detector with its rate. Shared by [`server_ticks`] and
/// the criterion bench `benches/detector.rs`.
pub fn warmed_detectors(
    tuning: &Tuning,
    n: usize,
    warm_minutes: i64,
    rng: &mut StdRng,
) -> Vec<(SeriesDetector, f64)> {
    (0..n)
        .map(|_| {
            let mut d = SeriesDetector::new(tuning);
            let rate: f64 = rng.gen_range(0.0..50.0);
            for k in 0..warm_minutes {
                d.observe(tuning, T0 + k * 60, (rate * rng.gen_range(0.5..1.5)) as u64);
            }
            (d, rate)
        })
        .collect()
}

/// Build `n` detectors for `step_secs` buckets, warm each with `warm_ticks` buckets,
/// then time one tick over all of them. Returns a one-line report.
pub fn observe_tick(params: &DetectorParams, n: usize, step_secs: i64, warm_ticks: i64) -> String {
    let mut rng = StdRng::seed_from_u64(1);
    let mut ds = Vec::with_capacity(n);
    let t0 = T0;
    let Ok(tuning) = Tuning::new(params, step_secs) else {
        return "bad parameters".to_string();
    };
    for _ in 0..n {
        let mut d = SeriesDetector::new(&tuning);
        let rate: f64 = rng.gen_range(0.0..50.0);
        for k in 0..warm_ticks.max(1) * 60 {
            d.observe(
                &tuning,
                t0 + k * step_secs,
                (rate * rng.gen_range(0.5..1.5)) as u64,
            );
        }
        ds.push((d, rate));
    }
    let tick = t0 + warm_ticks.max(1) * 60 * step_secs;
    let counts: Vec<u64> = ds
        .iter()
        .map(|(_, r)| (r * rng.gen_range(0.5..1.5)) as u64)
        .collect();
    let start = Instant::now();
    let mut outages = 0usize;
    for ((d, _), &c) in ds.iter_mut().zip(&counts) {
        let o = d.observe(&tuning, tick, c);
        outages += usize::from(o.status == crate::detect::Status::Outage);
    }
    let el = start.elapsed();
    let ns = el.as_nanos() as f64 / n.max(1) as f64;
    format!(
        "observe: {n} series x 1 tick in {:.2} ms = {ns:.0} ns/observe ({:.1} M observe/s; {outages} in outage)",
        el.as_secs_f64() * 1e3,
        1e3 / ns.max(1e-9)
    )
}

/// Minutes of history (0..=194) each detector has seen in [`server_ticks`] before
/// its first timed minute (the criterion bench in `benches/detector.rs` warms
/// with 209 and times minutes 209 and 210).
pub const WARM_MINUTES: i64 = 195;

/// A criterion-free cousin of `benches/detector.rs`: `n` one-minute detectors with
/// rates 0–50/min, warmed with minutes `0..WARM_MINUTES` from 2026-03-02 00:00 UTC;
/// then for each of `minutes` (minute numbers >= `WARM_MINUTES`), `reps` times: a
/// fresh clone of the detectors is brought to the minute before (untimed) and one
/// observe per detector at that minute is timed. Returns `(minute, best ms)` pairs.
pub fn server_ticks(
    params: &DetectorParams,
    n: usize,
    minutes: &[i64],
    reps: usize,
) -> Vec<(i64, f64)> {
    let mut rng = StdRng::seed_from_u64(7);
    let Ok(tuning) = Tuning::new(params, 60) else {
        return Vec::new();
    };
    let detectors = warmed_detectors(&tuning, n, WARM_MINUTES, &mut rng);
    let counts: Vec<u64> = detectors
        .iter()
        .map(|(_, r)| (r * rng.gen_range(0.5..1.5)) as u64)
        .collect();
    let detectors: Vec<SeriesDetector> = detectors.into_iter().map(|(d, _)| d).collect();
    let mut best = vec![f64::INFINITY; minutes.len()];
    for _ in 0..reps.max(1) {
        for (b, &minute) in best.iter_mut().zip(minutes) {
            let mut ds = detectors.clone();
            for (d, &c) in ds.iter_mut().zip(&counts) {
                for m in WARM_MINUTES..minute {
                    d.observe(&tuning, T0 + m * 60, c);
                }
            }
            let t = T0 + minute * 60;
            let start = Instant::now();
            let mut changes = 0usize;
            for (d, &c) in ds.iter_mut().zip(&counts) {
                let o = d.observe(&tuning, t, c);
                changes += usize::from(o.change.is_some());
            }
            let ms = start.elapsed().as_secs_f64() * 1e3;
            std::hint::black_box(changes);
            *b = b.min(ms);
        }
    }
    // For profiling: `DOWNWAVE_SWEEPS=K` then runs K more minutes over all detectors
    // (cold caches, like the server), untimed.
    let sweeps: i64 = std::env::var("DOWNWAVE_SWEEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if sweeps > 0 {
        let mut ds = detectors;
        let mut changes = 0usize;
        for m in WARM_MINUTES..WARM_MINUTES + sweeps {
            for (d, &c) in ds.iter_mut().zip(&counts) {
                changes += usize::from(d.observe(&tuning, T0 + m * 60, c).change.is_some());
            }
        }
        std::hint::black_box(changes);
    }
    minutes.iter().copied().zip(best).collect()
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    /// One server tick over 100,000 detectors, best of 5 fresh clones, for
    /// ordinary minutes (195, 196) and one where the rise history takes its
    /// half-hourly sample (209, the bucket that ends at 03:30):
    /// `cargo test --release --lib server_tick_speed -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn server_tick_speed() {
        let params = crate::detect::DetectorParams::default();
        for (minute, ms) in super::server_ticks(&params, 100_000, &[195, 196, 209], 5) {
            println!("minute {minute}: 100000 series in {ms:.1} ms (best of 5)");
        }
    }

    /// Resident memory of one warmed one-minute detector: the growth of the
    /// process's resident set over 100,000 of them (allocator overhead included).
    /// `cargo test --release --lib detector_memory -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn detector_memory() {
        fn resident_bytes() -> usize {
            let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
            let pages: usize = statm
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            pages * 4096
        }
        let tuning = crate::detect::Tuning::new(&crate::detect::DetectorParams::default(), 60)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let before = resident_bytes();
        let ds = super::warmed_detectors(&tuning, 100_000, super::WARM_MINUTES * 10, &mut rng);
        let after = resident_bytes();
        let json: usize = ds
            .iter()
            .take(1000)
            .map(|(d, _)| serde_json::to_string(d.state()).map_or(0, |s| s.len()))
            .sum();
        println!(
            "100000 detectors, {} warm minutes: {} bytes resident each; saved state {} bytes of JSON each",
            super::WARM_MINUTES * 10,
            (after - before) / ds.len(),
            json / 1000
        );
    }

    /// `cargo test --release -- --ignored --nocapture observe_speed`
    #[test]
    #[ignore]
    fn observe_speed() {
        let r = super::observe_tick(&crate::detect::DetectorParams::default(), 100_000, 60, 3);
        println!("{r}");
    }
}
