//! Honest validation of the detector: leave-one-series-out over the two
//! development sets, the five NAB Twitter-volume series (scored with NAB's rules)
//! and the fifteen Microsoft hourly incident series (event-level recall and
//! precision, as `ms/score.py` counts them).
//!
//! A small grid of detector parameters is searched. For each series, the grid
//! point that scores best on the *other* nineteen is chosen and that series is
//! scored with it: the out-of-sample figure. The in-sample figure scores every
//! series with the point chosen on all twenty, which must be the shipped defaults
//! (the report says whether it is). A detector whose quality comes from the search
//! and not from its structure shows a gap between the two.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use super::backtest::{parse_timestamp, read_csv, run_series, CountSeries};
use super::nab::{self, Corpus, FileScore, NabSeries};
use crate::detect::{DetectorParams, Event};

/// Why a cross-validation could not run.
#[derive(Debug, thiserror::Error)]
pub enum CrossValError {
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("{0}")]
    Format(String),
    #[error(transparent)]
    Nab(#[from] nab::NabError),
    #[error(transparent)]
    Backtest(#[from] super::backtest::BacktestError),
    #[error("grid: {0}")]
    Grid(String),
}

/// Event-level counts of one Microsoft series (as `ms/score.py` counts them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MsScore {
    pub segments: usize,
    pub found: usize,
    pub events: usize,
    pub false_events: usize,
}

impl MsScore {
    fn add(self, o: MsScore) -> MsScore {
        MsScore {
            segments: self.segments + o.segments,
            found: self.found + o.found,
            events: self.events + o.events,
            false_events: self.false_events + o.false_events,
        }
    }

    pub fn recall(&self) -> f64 {
        ratio(self.found, self.segments)
    }

    pub fn precision(&self) -> f64 {
        ratio(self.events - self.false_events, self.events)
    }

    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        }
    }

    /// The last line `score.py` prints.
    pub fn summary_line(&self) -> String {
        format!(
            "SEGMENTS={}/{} RECALL={:.3} EVENTS={} FALSE={} PRECISION={:.3} F1={:.3}",
            self.found,
            self.segments,
            self.recall(),
            self.events,
            self.false_events,
            self.precision(),
            self.f1()
        )
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// How one series is scored.
enum Labels {
    /// NAB windows, scoring geometry and the corpus' cost profiles.
    Nab(Box<NabSeries>, [nab::Costs; 3]),
    /// Labelled segments, already widened by `score.py`'s slack: `[lo, hi]`.
    Ms(Vec<(i64, i64)>),
}

/// One labelled development series.
pub struct DevSeries {
    pub set: &'static str,
    pub name: String,
    series: CountSeries,
    labels: Labels,
}

/// What one parameter set made of one series.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Nab(FileScore),
    Ms(MsScore),
}

/// `score.py`'s slack: three steps on each side of a segment.
const MS_SLACK_STEPS: i64 = 3;

/// Scores events against widened segments exactly as `ms/score.py` does: an
/// event `[start, end]` is true when it overlaps a segment, and a segment is
/// found when any event overlaps it.
pub fn score_ms(spans: &[(i64, i64)], events: &[(i64, i64)]) -> MsScore {
    let mut hit = vec![false; spans.len()];
    let mut false_events = 0;
    for &(st, en) in events {
        let mut any = false;
        for (i, &(lo, hi)) in spans.iter().enumerate() {
            if st <= hi && en >= lo {
                hit[i] = true;
                any = true;
            }
        }
        false_events += usize::from(!any);
    }
    MsScore {
        segments: spans.len(),
        found: hit.iter().filter(|&&h| h).count(),
        events: events.len(),
        false_events,
    }
}

impl DevSeries {
    fn evaluate(&self, params: &DetectorParams) -> Result<Outcome, CrossValError> {
        let run = run_series(params, &self.series, false)
            .map_err(|e| CrossValError::Format(format!("{}: {e}", self.name)))?;
        Ok(match &self.labels {
            Labels::Nab(s, costs) => {
                // NAB's times are in microseconds.
                let times: Vec<i64> = run
                    .events
                    .iter()
                    .map(|e| e.detected_at * 1_000_000)
                    .collect();
                Outcome::Nab(s.score(&s.map_times(&times), costs))
            }
            Labels::Ms(spans) => {
                let events: Vec<(i64, i64)> = run.events.iter().map(event_span).collect();
                Outcome::Ms(score_ms(spans, &events))
            }
        })
    }
}

/// `[start, end]` as `score.py` reads an event line (`start`, `end`).
fn event_span(e: &Event) -> (i64, i64) {
    (e.started_at, e.ended_at)
}

/// Loads the five NAB series (`<nab>/data/realTweets/*.csv` with
/// `<nab>/labels/combined_windows.json`) and the Microsoft series
/// (`<ms>/data/*.csv` with `<ms>/labels.json`).
pub fn load(nab_root: &Path, ms_root: &Path) -> Result<Vec<DevSeries>, CrossValError> {
    let mut out = Vec::new();
    let corpus = Corpus::open(nab_root)?;
    for rel in corpus.windows.keys() {
        let path = nab_root.join("data").join(rel);
        if !path.exists() {
            continue;
        }
        let series = read_csv(&path)?;
        out.push(DevSeries {
            set: "nab",
            name: series.name.clone(),
            labels: Labels::Nab(Box::new(corpus.series(rel)?), corpus.costs),
            series,
        });
    }
    let lpath = ms_root.join("labels.json");
    let text = fs::read_to_string(&lpath).map_err(|e| CrossValError::Io(lpath.clone(), e))?;
    let labels: BTreeMap<String, Vec<(String, String)>> = serde_json::from_str(&text)
        .map_err(|e| CrossValError::Format(format!("{}: {e}", lpath.display())))?;
    for (name, segments) in labels {
        let path = ms_root.join("data").join(format!("{name}.csv"));
        let series = read_csv(&path)?;
        // score.py takes the step from the first two rows.
        let step = match series.buckets.as_slice() {
            [a, b, ..] => b.0 - a.0,
            _ => series.step_secs,
        };
        let slack = MS_SLACK_STEPS * step;
        let mut spans = Vec::new();
        for (a, b) in &segments {
            let (Some(a), Some(b)) = (parse_timestamp(a), parse_timestamp(b)) else {
                return Err(CrossValError::Format(format!(
                    "{}: {name}: bad segment [{a}, {b}]",
                    lpath.display()
                )));
            };
            spans.push((a - slack, b + slack));
        }
        out.push(DevSeries {
            set: "ms",
            name,
            series,
            labels: Labels::Ms(spans),
        });
    }
    if out.is_empty() {
        return Err(CrossValError::Format(format!(
            "no labelled series under {} or {}",
            nab_root.display(),
            ms_root.display()
        )));
    }
    Ok(out)
}

/// Totals of a set of outcomes: NAB normalised over its series, MS summed.
#[derive(Debug, Clone, PartialEq)]
pub struct Totals {
    pub nab: Option<nab::NabTotal>,
    pub ms: MsScore,
    pub ms_series: usize,
    /// Most false events on one MS series.
    pub ms_worst_false: usize,
}

impl Totals {
    pub fn of<'a>(outcomes: impl IntoIterator<Item = &'a Outcome>) -> Totals {
        let mut files = Vec::new();
        let mut ms = MsScore::default();
        let (mut ms_series, mut worst) = (0, 0);
        for o in outcomes {
            match o {
                Outcome::Nab(f) => files.push(f.clone()),
                Outcome::Ms(m) => {
                    ms = ms.add(*m);
                    ms_series += 1;
                    worst = worst.max(m.false_events);
                }
            }
        }
        Totals {
            nab: (!files.is_empty()).then(|| nab::total(files)),
            ms,
            ms_series,
            ms_worst_false: worst,
        }
    }

    /// What the search maximises: the mean of NAB's standard and reward-low-FP
    /// scores (as a fraction) plus the MS F1, each set weighing the same.
    pub fn objective(&self) -> f64 {
        let nab = self
            .nab
            .as_ref()
            .map_or(0.0, |t| (t.normalised[0] + t.normalised[1]) / 200.0);
        let ms = if self.ms_series > 0 {
            self.ms.f1()
        } else {
            0.0
        };
        nab + ms
    }

    pub fn summary_line(&self) -> String {
        let mut s = String::new();
        if let Some(t) = &self.nab {
            s.push_str(&t.summary_line());
            s.push_str("  ");
        }
        if self.ms_series > 0 {
            s.push_str(&self.ms.summary_line());
            let _ = write!(s, " WORST_SERIES_FALSE={}", self.ms_worst_false);
        }
        s
    }
}

/// The searched parameters and the values tried for each.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    pub axes: Vec<(String, Vec<f64>)>,
}

impl Grid {
    /// The grid the shipped defaults were chosen on (see `docs/detection.md`):
    /// every parameter whose value was compared on the labelled series.
    pub fn default_search() -> Grid {
        let axis = |name: &str, values: &[f64]| (name.to_owned(), values.to_vec());
        Grid {
            axes: vec![
                axis("false_events_per_30_days", &[5.0, 10.0, 20.0]),
                axis("extreme_score", &[8.0, 9.0, 10.0]),
                axis("threshold_routine_periods", &[3.0, 10.0, 30.0]),
                axis("learn_clip_sigma", &[3.0, 4.0]),
                axis("dispersion_tau_minutes", &[4320.0, 10080.0]),
                axis("warmup_buckets", &[12.0, 24.0]),
                axis("persist_min_buckets", &[1.0, 3.0]),
                axis("long_level_tau_minutes", &[1440.0, 4320.0]),
                axis("rise_ratio", &[4.0, 5.5]),
                axis("rise_guard_reports", &[3.0, 7.0]),
                axis("rise_seasonal_ratio", &[1.5, 2.0]),
            ],
        }
    }

    /// `name=v1,v2,...`
    pub fn parse_axis(spec: &str) -> Result<(String, Vec<f64>), CrossValError> {
        let (name, values) = spec
            .split_once('=')
            .ok_or_else(|| CrossValError::Grid(format!("{spec:?}: write name=v1,v2,...")))?;
        let values = values
            .split(',')
            .map(|v| {
                v.trim()
                    .parse::<f64>()
                    .map_err(|_| CrossValError::Grid(format!("{name}: {v:?} is not a number")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((name.trim().to_owned(), values))
    }

    /// Every combination, each applied to `base`.
    pub fn points(&self, base: &DetectorParams) -> Result<Vec<DetectorParams>, CrossValError> {
        let mut points = vec![base.clone()];
        for (name, values) in &self.axes {
            let mut next = Vec::with_capacity(points.len() * values.len());
            for p in &points {
                for &v in values {
                    next.push(with_param(p, name, v)?);
                }
            }
            points = next;
        }
        Ok(points)
    }
}

/// `params` with the field `name` set to `value`.
pub fn with_param(
    params: &DetectorParams,
    name: &str,
    value: f64,
) -> Result<DetectorParams, CrossValError> {
    let mut v = serde_json::to_value(params).map_err(|e| CrossValError::Grid(e.to_string()))?;
    let slot = v
        .get_mut(name)
        .ok_or_else(|| CrossValError::Grid(format!("no detector parameter named {name:?}")))?;
    *slot = serde_json::json!(value);
    serde_json::from_value(v).map_err(|e| CrossValError::Grid(format!("{name}: {e}")))
}

/// Every series scored with every grid point: `table[point][series]`.
pub fn evaluate_grid(
    series: &[DevSeries],
    points: &[DetectorParams],
    threads: usize,
) -> Result<Vec<Vec<Outcome>>, CrossValError> {
    let threads = threads.clamp(1, points.len().max(1));
    let chunk = points.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = points
            .chunks(chunk.max(1))
            .map(|ps| {
                s.spawn(move || {
                    ps.iter()
                        .map(|p| series.iter().map(|d| d.evaluate(p)).collect())
                        .collect::<Result<Vec<Vec<Outcome>>, CrossValError>>()
                })
            })
            .collect();
        let mut table = Vec::with_capacity(points.len());
        for h in handles {
            let part = h
                .join()
                .map_err(|_| CrossValError::Format("an evaluation thread panicked".into()))??;
            table.extend(part);
        }
        Ok(table)
    })
}

/// The grid point that maximises the objective over the series `keep` selects
/// (the first one on ties, so the order of the grid breaks them).
fn best_point(table: &[Vec<Outcome>], keep: impl Fn(usize) -> bool) -> usize {
    let mut best = (0, f64::NEG_INFINITY);
    for (i, row) in table.iter().enumerate() {
        let j = Totals::of(
            row.iter()
                .enumerate()
                .filter(|(k, _)| keep(*k))
                .map(|(_, o)| o),
        )
        .objective();
        if j > best.1 {
            best = (i, j);
        }
    }
    best.0
}

/// The result of a cross-validation.
pub struct CrossValReport {
    pub names: Vec<(&'static str, String)>,
    pub points: Vec<DetectorParams>,
    pub grid: Grid,
    /// Index of the point chosen on every series.
    pub chosen_on_all: usize,
    /// Whether that point is the shipped defaults.
    pub defaults_chosen: bool,
    /// Per series: the in-sample outcome (point chosen on all).
    pub in_sample: Vec<Outcome>,
    /// Per series: the point chosen without it, and its outcome with that point.
    pub out_of_sample: Vec<(usize, Outcome)>,
}

/// Runs the whole leave-one-series-out procedure over the grid around `defaults`
/// (the shipped [`DetectorParams::default`] unless an experiment changes it).
pub fn cross_validate(
    series: &[DevSeries],
    defaults: &DetectorParams,
    grid: &Grid,
    threads: usize,
) -> Result<CrossValReport, CrossValError> {
    let points = grid.points(defaults)?;
    let table = evaluate_grid(series, &points, threads)?;
    let chosen_on_all = best_point(&table, |_| true);
    let in_sample = table[chosen_on_all].clone();
    let out_of_sample = (0..series.len())
        .map(|i| {
            let p = best_point(&table, |k| k != i);
            (p, table[p][i].clone())
        })
        .collect();
    Ok(CrossValReport {
        names: series.iter().map(|s| (s.set, s.name.clone())).collect(),
        defaults_chosen: points[chosen_on_all] == *defaults,
        chosen_on_all,
        points,
        grid: grid.clone(),
        in_sample,
        out_of_sample,
    })
}

fn outcome_cells(o: &Outcome) -> String {
    match o {
        Outcome::Nab(f) => format!(
            "{:>2}/{:<2} windows {:>3} fp  {:>6.2} {:>6.2}",
            f.windows_detected, f.windows_total, f.false_positives, f.raw[0], f.raw[1]
        ),
        Outcome::Ms(m) => format!(
            "{:>2}/{:<2} segments {:>2} of {:>2} false",
            m.found, m.segments, m.false_events, m.events
        ),
    }
}

impl CrossValReport {
    /// The point's searched values, `name=value` each.
    fn describe(&self, point: usize) -> String {
        let Ok(v) = serde_json::to_value(&self.points[point]) else {
            return String::new();
        };
        self.grid
            .axes
            .iter()
            .map(|(name, _)| format!("{name}={}", v[name]))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// A table per series and the totals, in-sample beside out-of-sample.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "grid: {} point(s){}",
            self.points.len(),
            self.grid
                .axes
                .iter()
                .map(|(n, v)| format!(
                    " {n}={}",
                    v.iter().map(f64::to_string).collect::<Vec<_>>().join(",")
                ))
                .collect::<String>()
        );
        let _ = writeln!(
            s,
            "chosen on all series: {}{}",
            self.describe(self.chosen_on_all),
            if self.defaults_chosen {
                " (the defaults)"
            } else {
                " (NOT the defaults: the defaults are not the search's choice)"
            }
        );
        let _ = writeln!(
            s,
            "{:<4} {:<22} {:<40} {:<40} chosen without it",
            "set", "series", "in-sample", "out-of-sample"
        );
        for (i, (set, name)) in self.names.iter().enumerate() {
            let (p, out) = &self.out_of_sample[i];
            let _ = writeln!(
                s,
                "{:<4} {:<22} {:<40} {:<40} {}",
                set,
                name,
                outcome_cells(&self.in_sample[i]),
                outcome_cells(out),
                self.describe(*p)
            );
        }
        let ins = Totals::of(&self.in_sample);
        let oos = Totals::of(self.out_of_sample.iter().map(|(_, o)| o));
        let _ = writeln!(s, "IN_SAMPLE      {}", ins.summary_line());
        let _ = writeln!(s, "OUT_OF_SAMPLE  {}", oos.summary_line());
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The repository's development sets, scored with the shipped defaults:
    /// the in-sample figures `docs/detection.md` and the README quote. A
    /// change to the detector that moves them must update the docs too.
    #[test]
    fn the_defaults_score_what_the_docs_say() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("eval");
        let series = load(&root.join("nab"), &root.join("ms")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(series.len(), 20);
        let outcomes: Vec<Outcome> = series
            .iter()
            .map(|s| s.evaluate(&DetectorParams::default()))
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{e}"));
        let t = Totals::of(&outcomes);
        assert_eq!(
            t.summary_line(),
            "NAB_STANDARD=86.55 LOWFP=79.03 LOWFN=91.03 WINDOWS=16/16 FP=24  \
             SEGMENTS=80/101 RECALL=0.792 EVENTS=88 FALSE=4 PRECISION=0.955 F1=0.866 \
             WORST_SERIES_FALSE=2"
        );
    }

    /// Leave-one-series-out over the built-in grid: the defaults are the
    /// search's choice on all series, and the out-of-sample headline is the one
    /// the docs quote. 6,912 grid points: three and a half minutes in a release build,
    /// `cargo test --release --lib cross_validation -- --ignored`.
    #[test]
    #[ignore]
    fn cross_validation_chooses_the_defaults_and_holds_out_of_sample() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("eval");
        let series = load(&root.join("nab"), &root.join("ms")).unwrap_or_else(|e| panic!("{e}"));
        let report = cross_validate(
            &series,
            &DetectorParams::default(),
            &Grid::default_search(),
            2,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(report.defaults_chosen, "{}", report.table());
        let oos = Totals::of(report.out_of_sample.iter().map(|(_, o)| o));
        assert_eq!(
            oos.summary_line(),
            "NAB_STANDARD=84.49 LOWFP=74.91 LOWFN=89.66 WINDOWS=16/16 FP=30  \
             SEGMENTS=80/101 RECALL=0.792 EVENTS=88 FALSE=4 PRECISION=0.955 F1=0.866 \
             WORST_SERIES_FALSE=2"
        );
    }

    #[test]
    fn ms_scoring_counts_overlaps_like_score_py() {
        let spans = [(100, 200), (500, 600)];
        // One event overlapping the first span at its edge, one false, one
        // spanning both.
        let events = [(200, 250), (300, 400), (150, 550)];
        let m = score_ms(&spans, &events);
        assert_eq!(
            m,
            MsScore {
                segments: 2,
                found: 2,
                events: 3,
                false_events: 1
            }
        );
        assert!((m.precision() - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.recall() - 1.0).abs() < 1e-12);
        assert_eq!(score_ms(&spans, &[]).f1(), 0.0);
    }

    #[test]
    fn a_grid_spans_every_combination_and_refuses_unknown_names() {
        let grid = Grid {
            axes: vec![
                Grid::parse_axis("quiet_minutes=20,30").unwrap(),
                Grid::parse_axis("min_excess=5,10,15").unwrap(),
            ],
        };
        let points = grid.points(&DetectorParams::default()).unwrap();
        assert_eq!(points.len(), 6);
        assert_eq!(points[5].quiet_minutes, 30.0);
        assert_eq!(points[5].min_excess, 15.0);
        assert!(Grid::parse_axis("quiet_minutes").is_err());
        assert!(Grid::parse_axis("quiet_minutes=a").is_err());
        let bad = Grid {
            axes: vec![("no_such".into(), vec![1.0])],
        };
        assert!(bad.points(&DetectorParams::default()).is_err());
    }
}
