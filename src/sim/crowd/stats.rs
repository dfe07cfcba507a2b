//! The arithmetic of the crowd's report: percentiles of a sample, and
//! ratios that say "not measured" instead of dividing by nothing.

use serde::Serialize;

/// A sample's size and its percentiles, in the sample's unit (the crowd
/// reports milliseconds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Summary {
    pub count: usize,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Summary {
    /// The summary of `values`, in any order. Percentiles are nearest-rank
    /// on the sorted sample, as `loadgen` picks them: the value at index
    /// `round((n - 1) * q)`. An empty sample is all zeros, with a count of
    /// zero to say so.
    pub fn of(mut values: Vec<f64>) -> Summary {
        values.retain(|v| !v.is_nan());
        if values.is_empty() {
            return Summary::default();
        }
        values.sort_by(f64::total_cmp);
        let pick = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
        Summary {
            count: values.len(),
            p50: pick(0.50),
            p99: pick(0.99),
            max: pick(1.0),
        }
    }
}

/// `part / whole`, or `None` when `whole` is not a positive number (a
/// phase that measured nothing has no ratio, rather than an infinite one).
pub fn ratio(part: f64, whole: f64) -> Option<f64> {
    (whole > 0.0 && part.is_finite()).then(|| part / whole)
}

/// How many of `count` per second of `seconds`, or zero for no time.
pub fn per_second(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_on_the_sorted_sample() {
        // 1..=100 shuffled: p50 is index round(99 * 0.5) = 50 (the 51st
        // value), p99 index round(98.01) = 98.
        let mut values: Vec<f64> = (1..=100).map(f64::from).collect();
        values.reverse();
        values.swap(3, 70);
        let s = Summary::of(values);
        assert_eq!(
            s,
            Summary {
                count: 100,
                p50: 51.0,
                p99: 99.0,
                max: 100.0
            }
        );
    }

    #[test]
    fn one_slow_value_in_a_thousand_shows_only_in_the_max() {
        let mut values = vec![10.0; 999];
        values.push(5000.0);
        let s = Summary::of(values);
        assert_eq!((s.p50, s.p99, s.max), (10.0, 10.0, 5000.0));
        // Two slow values in a hundred reach the p99 (index 98: the
        // lesser of them).
        let mut values = vec![10.0; 98];
        values.extend([4000.0, 5000.0]);
        assert_eq!(Summary::of(values).p99, 4000.0);
    }

    #[test]
    fn small_and_empty_samples() {
        assert_eq!(Summary::of(vec![]), Summary::default());
        assert_eq!(Summary::of(vec![f64::NAN]).count, 0);
        let one = Summary::of(vec![7.5]);
        assert_eq!((one.count, one.p50, one.p99, one.max), (1, 7.5, 7.5, 7.5));
        let two = Summary::of(vec![9.0, 1.0]);
        // round(0.5) = 1: the upper of two.
        assert_eq!((two.p50, two.p99, two.max), (9.0, 9.0, 9.0));
    }

    #[test]
    fn ratios_and_rates_refuse_to_divide_by_nothing() {
        assert_eq!(ratio(1900.0, 2000.0), Some(0.95));
        assert_eq!(ratio(5.0, 0.0), None);
        assert_eq!(ratio(5.0, -1.0), None);
        assert_eq!(ratio(f64::INFINITY, 2.0), None);
        assert_eq!(per_second(300, 1.5), 200.0);
        assert_eq!(per_second(300, 0.0), 0.0);
    }
}
