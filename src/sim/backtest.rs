//! Offline backtest: read `timestamp,value` CSVs at any fixed step, run the very
//! detector the server runs, and write what it found (`<name>.events.jsonl`) and,
//! on request, its per-bucket view (`<name>.scores.csv`).

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDateTime};
use serde::Serialize;

use crate::detect::{DetectorParams, Event, Observation, SeriesDetector, Tuning, TuningError};

/// Why a backtest could not run.
#[derive(Debug)]
pub enum BacktestError {
    Io(PathBuf, std::io::Error),
    /// A malformed CSV line (file, line number, what was wrong).
    Parse(PathBuf, usize, String),
    /// Fewer than two rows, so no step can be inferred.
    NoStep(PathBuf),
    Tuning(TuningError),
}

impl std::fmt::Display for BacktestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BacktestError::Io(p, e) => write!(f, "{}: {e}", p.display()),
            BacktestError::Parse(p, l, m) => write!(f, "{}:{l}: {m}", p.display()),
            BacktestError::NoStep(p) => {
                write!(
                    f,
                    "{}: need at least two increasing time stamps to infer the step",
                    p.display()
                )
            }
            BacktestError::Tuning(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for BacktestError {}

/// One count series.
#[derive(Debug, Clone, PartialEq)]
pub struct CountSeries {
    /// File stem, used to name the outputs.
    pub name: String,
    pub step_secs: i64,
    /// (bucket start, unix seconds; count), in file order.
    pub buckets: Vec<(i64, u64)>,
}

/// `YYYY-MM-DD HH:MM:SS[.f]` (UTC, as NAB writes it) or RFC 3339, to unix seconds.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f") {
        return Some(t.and_utc().timestamp());
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(t.and_utc().timestamp());
    }
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp())
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS` (UTC), the input's own style.
pub fn format_timestamp(t: i64) -> String {
    match DateTime::from_timestamp(t, 0) {
        Some(d) => d.format("%Y-%m-%d %H:%M:%S").to_string(),
        None => t.to_string(),
    }
}

/// The step is the most common gap between consecutive rows, so a few missing or
/// doubled rows do not change it.
pub fn infer_step(buckets: &[(i64, u64)]) -> Option<i64> {
    let mut gaps: Vec<i64> = buckets
        .windows(2)
        .map(|w| w[1].0 - w[0].0)
        .filter(|&g| g > 0)
        .collect();
    gaps.sort_unstable();
    let mut best: Option<(i64, usize)> = None;
    let mut i = 0;
    while i < gaps.len() {
        let mut j = i;
        while j < gaps.len() && gaps[j] == gaps[i] {
            j += 1;
        }
        if best.is_none_or(|(_, n)| j - i > n) {
            best = Some((gaps[i], j - i));
        }
        i = j;
    }
    best.map(|(g, _)| g)
}

/// Parse a `timestamp,value` CSV held in memory.
pub fn parse_csv(name: &str, path: &Path, text: &str) -> Result<CountSeries, BacktestError> {
    let mut buckets = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let mut cols = line.split(',');
        let ts = cols.next().unwrap_or("").trim().trim_matches('"');
        let val = cols.next().unwrap_or("").trim().trim_matches('"');
        if i == 0 && parse_timestamp(ts).is_none() {
            continue; // header
        }
        let bad = |m: String| BacktestError::Parse(path.to_path_buf(), i + 1, m);
        let t = parse_timestamp(ts).ok_or_else(|| bad(format!("bad time stamp {ts:?}")))?;
        let v: f64 = val.parse().map_err(|_| bad(format!("bad value {val:?}")))?;
        if !(v.is_finite() && v >= 0.0) {
            return Err(bad(format!("value {val:?} is not a count")));
        }
        buckets.push((t, v.round() as u64));
    }
    let step_secs =
        infer_step(&buckets).ok_or_else(|| BacktestError::NoStep(path.to_path_buf()))?;
    Ok(CountSeries {
        name: name.to_string(),
        step_secs,
        buckets,
    })
}

pub fn read_csv(path: &Path) -> Result<CountSeries, BacktestError> {
    let text = fs::read_to_string(path).map_err(|e| BacktestError::Io(path.to_path_buf(), e))?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "series".to_string());
    parse_csv(&name, path, &text)
}

/// What the detector made of one series.
#[derive(Debug, Clone)]
pub struct BacktestRun {
    /// Resolved events, then the one still open at the end of the data (if any).
    pub events: Vec<Event>,
    /// Per-bucket observations, when asked for.
    pub observations: Vec<Observation>,
}

/// Run the detector over a series, exactly as live: one bucket at a time.
pub fn run_series(
    params: &DetectorParams,
    series: &CountSeries,
    keep_observations: bool,
) -> Result<BacktestRun, TuningError> {
    let tuning = Tuning::new(params, series.step_secs)?;
    let mut d = SeriesDetector::new(&tuning);
    let mut events = Vec::new();
    let mut observations = Vec::new();
    for &(t, c) in &series.buckets {
        let o = d.observe(&tuning, t, c);
        if let Some(crate::detect::EventChange::Resolved { .. }) = o.change {
            if let Some(e) = d.last_resolved() {
                events.push(e.clone());
            }
        }
        if keep_observations {
            observations.push(o);
        }
    }
    if let Some(e) = d.open_event() {
        events.push(e.clone());
    }
    Ok(BacktestRun {
        events,
        observations,
    })
}

#[derive(Serialize)]
struct WaveLine {
    start: String,
    peak_at: String,
    peak: f64,
    end: String,
    reports: u64,
}

#[derive(Serialize)]
struct EventLine {
    start: String,
    detected_at: String,
    peak_at: String,
    end: String,
    resolved_at: Option<String>,
    peak: f64,
    peak_baseline: f64,
    total: u64,
    excess: f64,
    severity: crate::detect::Severity,
    opened_by: crate::detect::OpenReason,
    waves: Vec<WaveLine>,
}

/// One JSON object per event; times in the input's `YYYY-MM-DD HH:MM:SS` style,
/// which nabscore.py parses (`detected_at` is what it scores).
pub fn events_jsonl(events: &[Event]) -> String {
    let mut out = String::new();
    for e in events {
        let line = EventLine {
            start: format_timestamp(e.started_at),
            detected_at: format_timestamp(e.detected_at),
            peak_at: format_timestamp(e.peak_at),
            end: format_timestamp(e.ended_at),
            resolved_at: e.resolved_at.map(format_timestamp),
            peak: e.peak,
            peak_baseline: e.peak_baseline,
            total: e.total,
            excess: (e.excess * 10.0).round() / 10.0,
            severity: e.severity,
            opened_by: e.opened_by,
            waves: e
                .waves
                .iter()
                .map(|w| WaveLine {
                    start: format_timestamp(w.started_at),
                    peak_at: format_timestamp(w.peak_at),
                    peak: w.peak,
                    end: format_timestamp(w.ended_at),
                    reports: w.reports,
                })
                .collect(),
        };
        if let Ok(s) = serde_json::to_string(&line) {
            out.push_str(&s);
            out.push('\n');
        }
    }
    out
}

/// Per-bucket CSV: `timestamp,value,baseline,band,score,z,window_score,status`.
pub fn scores_csv(obs: &[Observation]) -> String {
    let mut out = String::from("timestamp,value,baseline,band,score,z,window_score,phi,status\n");
    for o in obs {
        let _ = writeln!(
            out,
            "{},{},{:.3},{:.3},{:.3},{:.3},{:.3},{:.4},{}",
            format_timestamp(o.bucket_start),
            o.count,
            o.expected,
            o.band,
            o.score,
            o.z,
            o.window_score,
            o.phi,
            o.status
        );
    }
    out
}

/// Summary of one backtested file.
#[derive(Debug, Clone)]
pub struct FileReport {
    pub name: String,
    pub step_secs: i64,
    pub rows: usize,
    pub events: usize,
}

/// Backtest a CSV file or every `*.csv` in a directory, writing outputs to `out_dir`.
pub fn backtest_path(
    input: &Path,
    out_dir: &Path,
    params: &DetectorParams,
    scores: bool,
) -> Result<Vec<FileReport>, BacktestError> {
    let mut files = Vec::new();
    if input.is_dir() {
        let rd = fs::read_dir(input).map_err(|e| BacktestError::Io(input.to_path_buf(), e))?;
        for entry in rd {
            let entry = entry.map_err(|e| BacktestError::Io(input.to_path_buf(), e))?;
            let p = entry.path();
            if p.extension().is_some_and(|x| x == "csv") {
                files.push(p);
            }
        }
        files.sort();
    } else {
        files.push(input.to_path_buf());
    }
    fs::create_dir_all(out_dir).map_err(|e| BacktestError::Io(out_dir.to_path_buf(), e))?;
    let mut reports = Vec::new();
    for f in files {
        let series = read_csv(&f)?;
        let run = run_series(params, &series, scores).map_err(BacktestError::Tuning)?;
        let ev_path = out_dir.join(format!("{}.events.jsonl", series.name));
        fs::write(&ev_path, events_jsonl(&run.events))
            .map_err(|e| BacktestError::Io(ev_path, e))?;
        if scores {
            let sc_path = out_dir.join(format!("{}.scores.csv", series.name));
            fs::write(&sc_path, scores_csv(&run.observations))
                .map_err(|e| BacktestError::Io(sc_path, e))?;
        }
        reports.push(FileReport {
            name: series.name.clone(),
            step_secs: series.step_secs,
            rows: series.buckets.len(),
            events: run.events.len(),
        });
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_in_both_styles() {
        let t = parse_timestamp("2015-02-26 21:42:53");
        assert_eq!(t, Some(1_424_986_973));
        assert_eq!(parse_timestamp("2015-02-26T21:42:53Z"), t);
        assert_eq!(parse_timestamp("2015-02-26T22:42:53+01:00"), t);
        assert_eq!(format_timestamp(1_424_986_973), "2015-02-26 21:42:53");
        assert_eq!(parse_timestamp("yesterday"), None);
    }

    #[test]
    fn step_is_the_common_gap() {
        let b = [(0, 1), (300, 1), (600, 1), (1200, 1), (1500, 1)];
        assert_eq!(infer_step(&b), Some(300));
        assert_eq!(infer_step(&[(0, 1)]), None);
    }

    #[test]
    fn csv_parses_with_header_and_rejects_garbage() {
        let p = Path::new("x.csv");
        let s = parse_csv(
            "x",
            p,
            "timestamp,value\n2015-01-01 00:00:00,3\n2015-01-01 00:05:00,4.0\n",
        );
        let s = s.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.step_secs, 300);
        assert_eq!(s.buckets, vec![(1_420_070_400, 3), (1_420_070_700, 4)]);
        assert!(parse_csv("x", p, "timestamp,value\n2015-01-01 00:00:00,-3\n").is_err());
        assert!(parse_csv("x", p, "timestamp,value\nnope,3\n").is_err());
    }
}
