//! Acceptance checks that span detector and simulator: the March-2 scenario over
//! 20 seeds, and the Rust NAB scorer against numbers from the reference
//! `nabscore.py` for a fixed set of detections.

use std::path::PathBuf;

use super::backtest::{run_series, CountSeries};

use super::scenario::{march2, MARCH2_START};
use crate::detect::DetectorParams;

/// What one seed of March-2 produced, in the terms of the acceptance criteria.
#[derive(Debug)]
pub struct March2Outcome {
    pub seed: u64,
    pub events: usize,
    pub background_events: usize,
    pub waves: usize,
    pub detect_delay_secs: i64,
    /// Event excess over the (frozen) baseline vs reports injected.
    pub excess_error: f64,
    /// Event total vs injected + background in the event's span.
    pub total_error: f64,
    pub resolve_after_last_wave_secs: i64,
}

impl March2Outcome {
    /// The acceptance criteria this seed misses; empty when it meets them all.
    pub fn misses(&self) -> Vec<&'static str> {
        [
            (self.events == 1, "one event on the outage day"),
            (
                self.background_events == 0,
                "no event in the background week",
            ),
            (self.waves == 3, "three waves"),
            (self.detect_delay_secs <= 120, "detected within 2 minutes"),
            // Excess over the frozen baseline is what the outage added.
            (
                self.excess_error.abs() <= 0.05,
                "excess within 5% of the injected reports",
            ),
            (
                self.total_error.abs() <= 0.05,
                "total within 5% of injected and background reports",
            ),
            (
                self.resolve_after_last_wave_secs <= 1800,
                "resolved within 30 minutes of the last wave",
            ),
        ]
        .into_iter()
        .filter(|(met, _)| !met)
        .map(|(_, criterion)| criterion)
        .collect()
    }
}

pub fn march2_outcome(seed: u64) -> March2Outcome {
    march2_outcome_with(&DetectorParams::default(), seed)
}

/// [`march2_outcome`] with other detector parameters.
pub fn march2_outcome_with(params: &DetectorParams, seed: u64) -> March2Outcome {
    let s = march2(seed);
    let series = CountSeries {
        name: "claude".into(),
        step_secs: 60,
        buckets: s.counts(),
    };
    let run = match run_series(params, &series, false) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    let outage_day = MARCH2_START + 7 * 86_400;
    let background_events = run
        .events
        .iter()
        .filter(|e| e.started_at < outage_day)
        .count();
    let day: Vec<_> = run
        .events
        .iter()
        .filter(|e| e.started_at >= outage_day)
        .collect();
    let (waves, delay, excess_err, total_err, resolve) = match day.first() {
        Some(e) => {
            let injected = s.truth.injected_reports as f64;
            let i0 = ((e.started_at - MARCH2_START) / 60) as usize;
            let i1 = ((e.ended_at - MARCH2_START) / 60) as usize;
            let background: u64 = s.background[i0..i1.min(s.background.len())].iter().sum();
            let last_end = s.truth.waves.last().map_or(0, |w| w.1);
            (
                e.waves.len(),
                e.detected_at - s.truth.first_abnormal_minute,
                (e.excess - injected) / injected,
                (e.total as f64 - injected - background as f64) / (injected + background as f64),
                e.resolved_at.unwrap_or(i64::MAX) - last_end,
            )
        }
        None => (0, i64::MAX, f64::NAN, f64::NAN, i64::MAX),
    };
    March2Outcome {
        seed,
        events: day.len(),
        background_events,
        waves,
        detect_delay_secs: delay,
        excess_error: excess_err,
        total_error: total_err,
        resolve_after_last_wave_secs: resolve,
    }
}

/// The NAB folder: `DOWNWAVE_NAB_ROOT`, else the repository's `eval/nab`.
pub fn nab_root() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("DOWNWAVE_NAB_ROOT") {
        return Some(PathBuf::from(p));
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("eval/nab");
    root.join("labels/combined_windows.json")
        .is_file()
        .then_some(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misses_names_each_criterion_not_met() {
        let met = March2Outcome {
            seed: 0,
            events: 1,
            background_events: 0,
            waves: 3,
            detect_delay_secs: 120,
            excess_error: -0.05,
            total_error: 0.05,
            resolve_after_last_wave_secs: 1800,
        };
        assert!(met.misses().is_empty());
        let late = March2Outcome {
            detect_delay_secs: 121,
            waves: 2,
            ..met
        };
        assert_eq!(late.misses(), ["three waves", "detected within 2 minutes"]);
    }

    #[test]
    fn march2_over_20_seeds() {
        for seed in 0..20 {
            let o = march2_outcome(seed);
            eprintln!("{o:?}");
            assert!(o.misses().is_empty(), "{o:?} misses {:?}", o.misses());
        }
    }

    /// Detections scored by `nabscore.py --data-root ... --files realTweets
    /// --detections DIR` (see the report): per file raw standard / lowFP / lowFN,
    /// windows hit, false positives, and the normalised totals.
    #[test]
    fn nab_scorer_agrees_with_nabscore_py() {
        let root = nab_root().unwrap_or_else(|| panic!("no NAB data in eval/nab"));
        let dir = std::env::temp_dir().join(format!("nabfix-{}", std::process::id()));
        let files: [(&str, &[&str]); 5] = [
            (
                "Twitter_volume_AAPL",
                &[
                    r#"{"detected_at":"2015-02-27 10:00:00"}"#,
                    r#"{"detected_at":"2015-03-03 21:12:53"}"#,
                    r#"{"detected_at":"2015-03-03 22:00:00"}"#,
                    r#"{"detected_at":"2015-03-04 14:00:00"}"#,
                    r#"{"detected_at":"2015-03-15 12:00:00"}"#,
                    r#"{"detected_at":"2015-04-14 23:20:00"}"#,
                ],
            ),
            (
                "Twitter_volume_CRM",
                &[
                    r#"{"detected_at":"2015-03-19T23:12:53Z"}"#,
                    r#"{"detected_at":"2015-03-27 17:20:00"}"#,
                ],
            ),
            ("Twitter_volume_FB", &[]),
            (
                "Twitter_volume_KO",
                &[
                    r#"{"start":"2015-04-14 14:57:53"}"#,
                    r#"{"detected_at":"2015-04-01 00:00:00"}"#,
                ],
            ),
            (
                "Twitter_volume_PFE",
                &[
                    r#"{"detected_at":"2015-03-02 04:52:53"}"#,
                    r#"{"detected_at":"2015-04-23 23:59:00"}"#,
                    r#"{"detected_at":"2015-03-10 10:10:10"}"#,
                ],
            ),
        ];
        if let Err(e) = std::fs::create_dir_all(&dir) {
            panic!("{e}");
        }
        for (name, lines) in files {
            let mut text = lines.join("\n");
            text.push('\n');
            if let Err(e) = std::fs::write(dir.join(format!("{name}.events.jsonl")), text) {
                panic!("{e}");
            }
        }
        let corpus = super::super::nab::Corpus::open(&root).unwrap_or_else(|e| panic!("{e}"));
        let rels = corpus.resolve(&["realTweets".to_string()]);
        let total =
            super::super::nab::score_dir(&corpus, &rels, &dir).unwrap_or_else(|e| panic!("{e}"));
        let _ = std::fs::remove_dir_all(&dir);
        // From nabscore.py on the same files.
        let want: [([f64; 3], usize, usize); 5] = [
            ([-0.258213, -0.371684, -2.258213], 2, 2),
            ([-1.141916, -1.142953, -3.141916], 1, 1),
            ([-2.0, -2.0, -4.0], 0, 0),
            ([-1.250880, -1.360880, -3.250880], 1, 1),
            ([-2.11, -2.22, -5.11], 1, 1),
        ];
        for (f, (raw, hit, fp)) in total.files.iter().zip(want) {
            for (got, want) in f.raw.iter().zip(raw) {
                assert!((got - want).abs() < 1e-5, "{}: {got} vs {want}", f.rel);
            }
            assert_eq!(
                (f.windows_detected, f.false_positives),
                (hit, fp),
                "{}",
                f.rel
            );
        }
        let norm = [28.87184830266622, 27.82650838230426, 29.664565535110814];
        for (got, want) in total.normalised.iter().zip(norm) {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
        assert_eq!(
            total.summary_line(),
            "NAB_STANDARD=28.87 LOWFP=27.83 LOWFN=29.66 WINDOWS=5/16 FP=5"
        );
    }
}
