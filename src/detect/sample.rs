//! Drawing counts from the count model (Poisson), for the simulator's
//! scenarios and the detector's own tests. Not used to detect anything.

use rand::rngs::StdRng;
use rand::Rng;

/// Draw from Poisson(lambda): Knuth's product method on chunks of at most 30, which
/// is exact because Poisson variables add.
pub fn poisson(rng: &mut StdRng, lambda: f64) -> u64 {
    if !(lambda.is_finite() && lambda > 0.0) {
        return 0;
    }
    let mut left = lambda.min(1e7);
    let mut n = 0u64;
    while left > 0.0 {
        let l = left.min(30.0);
        left -= l;
        let limit = (-l).exp();
        let mut p: f64 = rng.gen();
        while p > limit {
            n += 1;
            p *= rng.gen::<f64>();
        }
    }
    n
}
