//! Detector speed: one minute's tick over many services, as the live monitor
//! does it. The target: 100,000 services in under 50 ms on one core.
//!
//! `cargo bench --bench detector`

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use downwave::detect::{DetectorParams, Tuning};
use downwave::sim::bench::{warmed_detectors, T0};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SERVICES: usize = 100_000;
/// History each detector has seen before it is timed: minutes 0 to 208, so
/// the first timed minute (209, the bucket that ends at 03:30) is one where
/// the rise history takes its half-hourly sample, and the next (210) an
/// ordinary one.
const WARM_MINUTES: i64 = 209;
fn tick(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(7);
    // One tuning shared by every detector, as the monitor does.
    let tuning = Tuning::new(&DetectorParams::default(), 60).expect("default parameters are valid");
    let tuning = &tuning;
    let detectors = warmed_detectors(tuning, SERVICES, WARM_MINUTES, &mut rng);
    let counts: Vec<u64> = detectors
        .iter()
        .map(|(_, r)| (r * rng.gen_range(0.5..1.5)) as u64)
        .collect();
    let mut group = c.benchmark_group("detector");
    group.sample_size(20);
    group.throughput(Throughput::Elements(SERVICES as u64));
    // Most minutes only update each service's state; every
    // `rise_sample_minutes` (30) the relative-rise history also takes a
    // sample. Both kinds of tick are timed.
    let sampling = T0 + WARM_MINUTES * 60;
    for (name, minute) in [
        ("sampling_tick_100k_services", sampling),
        ("tick_100k_services", sampling + 60),
    ] {
        group.bench_function(name, |b| {
            b.iter_batched_ref(
                || {
                    let mut ds = detectors.clone();
                    // Bring every detector to the minute before the timed one.
                    for ((d, _), &n) in ds.iter_mut().zip(&counts) {
                        let mut t = sampling;
                        while t < minute {
                            d.observe(tuning, t, n);
                            t += 60;
                        }
                    }
                    ds
                },
                |ds| {
                    let mut changes = 0usize;
                    for ((d, _), &n) in ds.iter_mut().zip(&counts) {
                        let o = d.observe(tuning, minute, n);
                        changes += usize::from(o.change.is_some());
                    }
                    changes
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, tick);
criterion_main!(benches);
