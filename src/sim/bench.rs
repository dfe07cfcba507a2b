//! A plain timing of `observe()`: many series, one tick each, after a warm-up, so
//! the figure reflects a warmed-up server minute. The main crate turns this into a
//! criterion bench; this one only needs `std::time`.

use std::time::Instant;

use rand::{Rng, SeedableRng};

use crate::detect::{DetectorParams, SeriesDetector};

/// Build `n` detectors for `step_secs` buckets, warm each with `warm_ticks` buckets,
/// then time one tick over all of them. Returns a one-line report.
pub fn observe_tick(params: &DetectorParams, n: usize, step_secs: i64, warm_ticks: i64) -> String {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let mut ds = Vec::with_capacity(n);
    let t0 = 1_772_409_600; // 2026-03-02 00:00 UTC
    for _ in 0..n {
        let Ok(mut d) = SeriesDetector::new(params, step_secs) else {
            return "bad parameters".to_string();
        };
        let rate: f64 = rng.gen_range(0.0..50.0);
        for k in 0..warm_ticks.max(1) * 60 {
            d.observe(t0 + k * step_secs, (rate * rng.gen_range(0.5..1.5)) as u64);
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
        let o = d.observe(tick, c);
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

#[cfg(test)]
mod tests {
    /// `cargo test --release -- --ignored --nocapture observe_speed`
    #[test]
    #[ignore]
    fn observe_speed() {
        let r = super::observe_tick(&crate::detect::DetectorParams::default(), 100_000, 60, 3);
        println!("{r}");
    }
}
