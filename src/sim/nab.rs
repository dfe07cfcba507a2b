//! The Numenta Anomaly Benchmark score, ported from the reference scorer
//! `eval/nabscore.py` (same rules, same numbers): probation, windows, the
//! scaled sigmoid, the three cost profiles and the normalisation against the null
//! (no detections) and perfect (every window at its left edge) detectors.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// The three NAB cost profiles, in nabscore.py's order.
pub const PROFILES: [&str; 3] = ["standard", "reward_low_FP_rate", "reward_low_FN_rate"];

/// tp / fn / fp weights of one profile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Costs {
    pub tp: f64,
    pub fn_: f64,
    pub fp: f64,
}

/// NAB's defaults, used when `config/profiles.json` is absent.
pub const DEFAULT_COSTS: [Costs; 3] = [
    Costs {
        tp: 1.0,
        fn_: 1.0,
        fp: 0.11,
    },
    Costs {
        tp: 1.0,
        fn_: 1.0,
        fp: 0.22,
    },
    Costs {
        tp: 1.0,
        fn_: 2.0,
        fp: 0.11,
    },
];

const PROBATION_FRACTION: f64 = 0.15;
const PROBATION_CAP: f64 = 750.0;

#[derive(Debug)]
pub enum NabError {
    Io(PathBuf, std::io::Error),
    Format(String),
}

impl std::fmt::Display for NabError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NabError::Io(p, e) => write!(f, "{}: {e}", p.display()),
            NabError::Format(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for NabError {}

fn io(p: &Path) -> impl FnOnce(std::io::Error) -> NabError + '_ {
    move |e| NabError::Io(p.to_path_buf(), e)
}

/// Time stamp to microseconds since the epoch, UTC, as nabscore.py's `parse_ts`
/// reads them: `YYYY-MM-DD[ HH:MM[:SS[.f]]]`, `T` or space, optional `Z`/offset.
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    for f in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros());
    }
    if let Some(stripped) = s.strip_suffix(['Z', 'z']) {
        return parse_time(stripped);
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_micros());
    }
    None
}

struct Window {
    l: usize,
    r: usize,
    width: f64,
    scorable: bool,
}

/// One labelled data file with its scoring geometry.
pub struct NabSeries {
    pub rel: String,
    n: usize,
    probation: usize,
    runmax: Vec<i64>,
    windows: Vec<Window>,
    win_of_row: Vec<Option<usize>>,
    ends: Vec<usize>,
}

fn scaled_sigmoid(y: f64) -> f64 {
    if y > 3.0 {
        -1.0
    } else {
        2.0 / (1.0 + (5.0 * y).exp()) - 1.0
    }
}

/// Raw scores of one file under the three profiles, and what was hit.
#[derive(Debug, Clone, PartialEq)]
pub struct FileScore {
    pub rel: String,
    pub raw: [f64; 3],
    pub null: [f64; 3],
    pub perfect: [f64; 3],
    pub windows_total: usize,
    pub windows_detected: usize,
    pub false_positives: usize,
    pub detections: usize,
}

impl NabSeries {
    /// Build from the data file's time stamps (file order) and its windows.
    pub fn new(rel: &str, ts: Vec<i64>, windows: &[(i64, i64)]) -> Result<Self, NabError> {
        let n = ts.len();
        let probation = ((PROBATION_FRACTION * n as f64).floor()).min(PROBATION_CAP) as usize;
        let mut runmax = Vec::with_capacity(n);
        for &t in &ts {
            let m = runmax.last().map_or(t, |&l: &i64| l.max(t));
            runmax.push(m);
        }
        let mut index: HashMap<i64, usize> = HashMap::new();
        for (i, &t) in ts.iter().enumerate() {
            index.entry(t).or_insert(i);
        }
        let mut sorted = windows.to_vec();
        sorted.sort();
        let mut wins: Vec<Window> = Vec::new();
        for (a, b) in sorted {
            let (l, r) = match (index.get(&a), index.get(&b)) {
                (Some(&l), Some(&r)) => (l as i64, r as i64),
                _ => (
                    runmax.partition_point(|&x| x < a) as i64,
                    runmax.partition_point(|&x| x <= b) as i64 - 1,
                ),
            };
            if r < l {
                continue;
            }
            let (l, r) = (l as usize, r as usize);
            if wins.last().is_some_and(|w| l <= w.r) {
                return Err(NabError::Format(format!("{rel}: overlapping windows")));
            }
            wins.push(Window {
                l,
                r,
                width: (r - l + 1) as f64,
                scorable: r >= probation,
            });
        }
        let mut win_of_row = vec![None; n];
        for (k, w) in wins.iter().enumerate() {
            for slot in win_of_row.iter_mut().take(w.r + 1).skip(w.l) {
                *slot = Some(k);
            }
        }
        let ends = wins.iter().map(|w| w.r).collect();
        Ok(Self {
            rel: rel.to_string(),
            n,
            probation,
            runmax,
            windows: wins,
            win_of_row,
            ends,
        })
    }

    fn row_sigmoid(&self, i: usize) -> (Option<usize>, f64) {
        if let Some(k) = self.win_of_row[i] {
            let w = &self.windows[k];
            return (
                Some(k),
                scaled_sigmoid(-((w.r as f64 - i as f64 + 1.0) / w.width)),
            );
        }
        let j = self.ends.partition_point(|&e| e < i);
        if j == 0 {
            return (None, -1.0);
        }
        let w = &self.windows[j - 1];
        if w.width <= 1.0 {
            return (None, -1.0);
        }
        (
            None,
            scaled_sigmoid((w.r as f64 - i as f64).abs() / (w.width - 1.0)),
        )
    }

    /// Each detection time to the first row whose (running-max) time is >= it.
    pub fn map_times(&self, times: &[i64]) -> Vec<usize> {
        let mut rows: Vec<usize> = times
            .iter()
            .map(|&t| self.runmax.partition_point(|&x| x < t))
            .filter(|&i| i < self.n)
            .collect();
        rows.sort_unstable();
        rows.dedup();
        rows
    }

    /// Raw score per profile, windows hit and false positives for detected rows.
    fn raw_score(&self, rows: &[usize], costs: &[Costs; 3]) -> ([f64; 3], usize, usize) {
        let maxtp = scaled_sigmoid(-1.0);
        let mut scored: Vec<usize> = rows
            .iter()
            .copied()
            .filter(|&i| i >= self.probation)
            .collect();
        scored.sort_unstable();
        scored.dedup();
        let mut first: BTreeMap<usize, f64> = BTreeMap::new();
        let mut fps: Vec<f64> = Vec::new();
        for &i in &scored {
            match self.row_sigmoid(i) {
                (None, sig) => fps.push(sig),
                (Some(k), sig) => {
                    first.entry(k).or_insert(sig);
                }
            }
        }
        let mut raw = [0.0; 3];
        for (p, c) in costs.iter().enumerate() {
            let mut total: f64 = fps.iter().map(|s| s * c.fp).sum();
            for (k, w) in self.windows.iter().enumerate() {
                if !w.scorable {
                    continue;
                }
                total += match first.get(&k) {
                    Some(sig) => (-c.fn_).max(sig * c.tp / maxtp),
                    None => -c.fn_,
                };
            }
            raw[p] = total;
        }
        let hit = first.keys().filter(|&&k| self.windows[k].scorable).count();
        (raw, hit, fps.len())
    }

    pub fn score(&self, rows: &[usize], costs: &[Costs; 3]) -> FileScore {
        let (raw, hit, fp) = self.raw_score(rows, costs);
        let (null, _, _) = self.raw_score(&[], costs);
        let perfect_rows: Vec<usize> = self
            .windows
            .iter()
            .filter(|w| w.scorable)
            .map(|w| w.l.max(self.probation))
            .collect();
        let (perfect, _, _) = self.raw_score(&perfect_rows, costs);
        FileScore {
            rel: self.rel.clone(),
            raw,
            null,
            perfect,
            windows_total: self.windows.iter().filter(|w| w.scorable).count(),
            windows_detected: hit,
            false_positives: fp,
            detections: rows.len(),
        }
    }
}

/// Totals over files, normalised as NAB does: `100 (raw - null) / (perfect - null)`.
#[derive(Debug, Clone, PartialEq)]
pub struct NabTotal {
    pub files: Vec<FileScore>,
    pub normalised: [f64; 3],
    pub windows_total: usize,
    pub windows_detected: usize,
    pub false_positives: usize,
}

pub fn total(files: Vec<FileScore>) -> NabTotal {
    let mut normalised = [f64::NAN; 3];
    for (p, slot) in normalised.iter_mut().enumerate() {
        let raw: f64 = files.iter().map(|f| f.raw[p]).sum();
        let null: f64 = files.iter().map(|f| f.null[p]).sum();
        let perfect: f64 = files.iter().map(|f| f.perfect[p]).sum();
        if perfect != null {
            *slot = 100.0 * (raw - null) / (perfect - null);
        }
    }
    NabTotal {
        windows_total: files.iter().map(|f| f.windows_total).sum(),
        windows_detected: files.iter().map(|f| f.windows_detected).sum(),
        false_positives: files.iter().map(|f| f.false_positives).sum(),
        files,
        normalised,
    }
}

impl NabTotal {
    /// The same last line nabscore.py prints.
    pub fn summary_line(&self) -> String {
        format!(
            "NAB_STANDARD={:.2} LOWFP={:.2} LOWFN={:.2} WINDOWS={}/{} FP={}",
            self.normalised[0],
            self.normalised[1],
            self.normalised[2],
            self.windows_detected,
            self.windows_total,
            self.false_positives
        )
    }
}

/// A NAB folder: labelled windows and cost profiles.
pub struct Corpus {
    pub root: PathBuf,
    pub windows: BTreeMap<String, Vec<(i64, i64)>>,
    pub costs: [Costs; 3],
}

fn json_time(v: &serde_json::Value) -> Option<i64> {
    match v {
        serde_json::Value::String(s) => parse_time(s),
        serde_json::Value::Number(n) => n.as_f64().map(|x| (x * 1e6).round() as i64),
        _ => None,
    }
}

impl Corpus {
    pub fn open(root: &Path) -> Result<Self, NabError> {
        let wpath = root.join("labels").join("combined_windows.json");
        let text = fs::read_to_string(&wpath).map_err(io(&wpath))?;
        let raw: BTreeMap<String, Vec<Vec<String>>> = serde_json::from_str(&text)
            .map_err(|e| NabError::Format(format!("{}: {e}", wpath.display())))?;
        let mut windows = BTreeMap::new();
        for (k, v) in raw {
            let mut ws = Vec::new();
            for pair in v {
                let (Some(a), Some(b)) = (
                    pair.first().and_then(|s| parse_time(s)),
                    pair.get(1).and_then(|s| parse_time(s)),
                ) else {
                    return Err(NabError::Format(format!("{k}: bad window {pair:?}")));
                };
                ws.push((a, b));
            }
            windows.insert(k, ws);
        }
        let mut costs = DEFAULT_COSTS;
        let ppath = root.join("config").join("profiles.json");
        if let Ok(text) = fs::read_to_string(&ppath) {
            let v: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| NabError::Format(format!("{}: {e}", ppath.display())))?;
            for (p, name) in PROFILES.iter().enumerate() {
                let cm = &v[*name]["CostMatrix"];
                let get = |k: &str| {
                    cm[k]
                        .as_f64()
                        .ok_or_else(|| NabError::Format(format!("{name}: no {k}")))
                };
                costs[p] = Costs {
                    tp: get("tpWeight")?,
                    fn_: get("fnWeight")?,
                    fp: get("fpWeight")?,
                };
            }
        }
        Ok(Self {
            root: root.to_path_buf(),
            windows,
            costs,
        })
    }

    /// Opens the corpus that a `labels/combined_windows.json` belongs to
    /// (NAB's layout: `<root>/labels/…` beside `<root>/data/<corpus>/…`).
    pub fn from_labels(labels: &Path) -> Result<Self, NabError> {
        let root = labels.parent().and_then(Path::parent).ok_or_else(|| {
            NabError::Format(format!("{}: not inside a NAB folder", labels.display()))
        })?;
        Self::open(root)
    }

    /// Series names for `--files`-style specs: a corpus name, a relative path or a base name.
    pub fn resolve(&self, specs: &[String]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for spec in specs {
            let s = spec
                .trim()
                .trim_start_matches("data/")
                .trim_end_matches('/');
            for k in self.windows.keys() {
                let base = k.rsplit('/').next().unwrap_or(k);
                let hit = k == s
                    || k.starts_with(&format!("{s}/"))
                    || base == s
                    || base == format!("{s}.csv");
                if hit && !out.contains(k) {
                    out.push(k.clone());
                }
            }
        }
        out.sort();
        out
    }

    pub fn series(&self, rel: &str) -> Result<NabSeries, NabError> {
        let path = self.root.join("data").join(rel);
        let text = fs::read_to_string(&path).map_err(io(&path))?;
        let mut ts = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if i == 0 || line.trim().is_empty() {
                continue;
            }
            let cell = line.split(',').next().unwrap_or("");
            let t = parse_time(cell).ok_or_else(|| {
                NabError::Format(format!("{}:{}: bad time stamp", path.display(), i + 1))
            })?;
            ts.push(t);
        }
        NabSeries::new(rel, ts, self.windows.get(rel).map_or(&[][..], |v| &v[..]))
    }
}

/// Detection times from a `.jsonl` (field `detected_at`, else `start`) or `.csv`
/// (column `detected_at`, else `start`) file, as microseconds.
pub fn read_detections(path: &Path) -> Result<Vec<i64>, NabError> {
    let text = fs::read_to_string(path).map_err(io(path))?;
    let name = path.to_string_lossy();
    let mut out = Vec::new();
    if name.ends_with(".jsonl") || name.ends_with(".json") {
        for (ln, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let v: serde_json::Value = serde_json::from_str(line)
                .map_err(|e| NabError::Format(format!("{name}:{}: bad JSON ({e})", ln + 1)))?;
            let t = v
                .get("detected_at")
                .filter(|x| !x.is_null())
                .or_else(|| v.get("start"));
            let t = t.and_then(json_time).ok_or_else(|| {
                NabError::Format(format!(
                    "{name}:{}: no usable 'detected_at' or 'start'",
                    ln + 1
                ))
            })?;
            out.push(t);
        }
        return Ok(out);
    }
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap_or("")
        .split(',')
        .map(|c| c.trim().to_lowercase())
        .collect();
    let col = header
        .iter()
        .position(|c| c == "detected_at")
        .or_else(|| header.iter().position(|c| c == "start"))
        .ok_or_else(|| NabError::Format(format!("{name}: csv has no 'detected_at' column")))?;
    for (ln, line) in lines.enumerate() {
        let cell = line.split(',').nth(col).unwrap_or("").trim();
        if cell.is_empty() {
            continue;
        }
        out.push(
            parse_time(cell)
                .ok_or_else(|| NabError::Format(format!("{name}:{}: bad time", ln + 2)))?,
        );
    }
    Ok(out)
}

/// The detection file nabscore.py would pick for a series, if any.
pub fn find_detection_file(dir: &Path, rel: &str) -> Option<PathBuf> {
    let (corpus, fname) = rel.split_once('/').unwrap_or(("", rel));
    let stem = fname.strip_suffix(".csv").unwrap_or(fname);
    let names = [
        format!("{stem}.events.jsonl"),
        format!("{fname}.events.jsonl"),
        format!("{stem}.jsonl"),
        format!("{stem}.events.csv"),
        format!("{stem}.csv"),
    ];
    let subs: Vec<PathBuf> = if corpus.is_empty() {
        vec![dir.to_path_buf()]
    } else {
        vec![dir.join(corpus), dir.to_path_buf()]
    };
    subs.iter()
        .flat_map(|d| names.iter().map(move |n| d.join(n)))
        .find(|p| p.is_file())
}

/// Score a detection folder for the given series (missing files count as "no detections").
pub fn score_dir(corpus: &Corpus, files: &[String], dir: &Path) -> Result<NabTotal, NabError> {
    let mut out = Vec::new();
    for rel in files {
        let s = corpus.series(rel)?;
        let times = match find_detection_file(dir, rel) {
            Some(p) => read_detections(&p)?,
            None => Vec::new(),
        };
        out.push(s.score(&s.map_times(&times), &corpus.costs));
    }
    Ok(total(out))
}

/// Printable table of a total.
pub fn table(t: &NabTotal) -> String {
    let mut s = format!(
        "{:<40} {:>7} {:>4} {:>10} {:>10} {:>10}\n",
        "file", "win", "FP", "standard", "lowFP", "lowFN"
    );
    for f in &t.files {
        s.push_str(&format!(
            "{:<40} {:>7} {:>4} {:>10.4} {:>10.4} {:>10.4}\n",
            f.rel,
            format!("{}/{}", f.windows_detected, f.windows_total),
            f.false_positives,
            f.raw[0],
            f.raw[1],
            f.raw[2]
        ));
    }
    s.push_str(&t.summary_line());
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_styles_nabscore_accepts() {
        let a = parse_time("2015-03-03 04:37:53.000000");
        assert_eq!(a, parse_time("2015-03-03 04:37:53"));
        assert_eq!(a, parse_time("2015-03-03T04:37:53Z"));
        assert_eq!(a, parse_time("2015-03-03T05:37:53+01:00"));
        assert!(parse_time("2015-03-03").is_some());
        assert_eq!(parse_time("soon"), None);
    }

    #[test]
    fn sigmoid_matches_nab() {
        assert!((scaled_sigmoid(-1.0) - 0.986_614_298_2).abs() < 1e-9);
        assert_eq!(scaled_sigmoid(3.5), -1.0);
        assert!(scaled_sigmoid(0.0).abs() < 1e-12);
    }
}
