//! What a soak measured, how its claims are judged, and the check of the
//! database against what the server acknowledged and queued.

use super::server::open_database;
use super::{ImportRecord, Shared, SAMPLE_EVERY, SERVICES, WARM_UP};
use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::path::Path;
use std::time::Duration;

/// One memory sample of the server.
#[derive(Debug, Clone, Copy)]
pub struct MemorySample {
    /// Since the soak began.
    pub at: Duration,
    /// Which server process (0 for the first).
    pub life: usize,
    /// Since that process started.
    pub age: Duration,
    pub rss_kib: u64,
}

/// Whether memory stayed flat after warm-up, and the numbers behind it.
#[derive(Debug, Clone, Copy)]
pub struct Flatness {
    pub samples: usize,
    pub median_kib: f64,
    pub min_kib: u64,
    pub max_kib: u64,
    /// Least-squares growth, KiB per minute.
    pub slope_kib_per_min: f64,
    /// That growth over the span of the samples.
    pub growth_kib: f64,
    pub flat: bool,
}

/// Judges the samples taken after `warm_up`: flat when the least-squares
/// line through them grows by less than a tenth of their median over their
/// span. `None` with fewer than three such samples.
pub fn flatness(samples: &[MemorySample], warm_up: Duration) -> Option<Flatness> {
    let kept: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| s.at >= warm_up)
        .map(|s| (s.at.as_secs_f64() / 60.0, s.rss_kib as f64))
        .collect();
    if kept.len() < 3 {
        return None;
    }
    let n = kept.len() as f64;
    let mean_x = kept.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = kept.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = kept.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    let sxy: f64 = kept.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let span = kept.last().map_or(0.0, |p| p.0) - kept.first().map_or(0.0, |p| p.0);
    let mut ys: Vec<f64> = kept.iter().map(|p| p.1).collect();
    ys.sort_by(f64::total_cmp);
    let median = if ys.len() % 2 == 1 {
        ys[ys.len() / 2]
    } else {
        (ys[ys.len() / 2 - 1] + ys[ys.len() / 2]) / 2.0
    };
    let growth = slope * span;
    Some(Flatness {
        samples: kept.len(),
        median_kib: median,
        min_kib: ys.first().copied().unwrap_or(0.0) as u64,
        max_kib: ys.last().copied().unwrap_or(0.0) as u64,
        slope_kib_per_min: slope,
        growth_kib: growth,
        flat: growth < 0.1 * median,
    })
}

/// What a soak measured; `Display` prints it as a report.
#[derive(Debug, Clone, Default)]
pub struct SoakReport {
    pub duration: Duration,
    pub drained_in: Duration,
    /// SIGKILLs, the last one (after the drain) included.
    pub kills: usize,
    pub reports_sent: u64,
    pub acknowledged_counted: u64,
    pub acknowledged_stored: u64,
    pub reports_refused: u64,
    pub reports_unanswered: u64,
    pub acknowledged_lost: u64,
    pub imports_acknowledged: usize,
    pub imports_cut: usize,
    pub import_lines_acknowledged: usize,
    pub imports_broken: Vec<String>,
    pub page_views: u64,
    pub page_server_errors: u64,
    pub page_unanswered: u64,
    pub alerts_queued: usize,
    pub alerts_by_kind: Vec<(String, usize)>,
    pub alerts_delivered: usize,
    pub alerts_never_arrived: usize,
    pub alerts_not_marked_delivered: usize,
    pub attempts_received: usize,
    pub attempts_failed: usize,
    pub attempts_hung: usize,
    pub duplicates_after_success: usize,
    pub bad_signatures: usize,
    pub memory: Vec<MemorySample>,
    pub flatness: Option<Flatness>,
}

impl SoakReport {
    /// The claims that do not hold; empty when every one does.
    pub fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut claim = |holds: bool, what: String| {
            if !holds {
                out.push(what);
            }
        };
        claim(
            self.acknowledged_counted + self.acknowledged_stored > 0,
            "no report was acknowledged".into(),
        );
        claim(
            self.acknowledged_lost == 0,
            format!(
                "{} acknowledged reports are not in the database",
                self.acknowledged_lost
            ),
        );
        claim(
            self.imports_broken.is_empty(),
            format!(
                "imports not all-or-nothing: {}",
                self.imports_broken.join("; ")
            ),
        );
        claim(self.alerts_queued > 0, "no alert was queued".into());
        claim(
            self.alerts_delivered == self.alerts_queued && self.alerts_not_marked_delivered == 0,
            format!(
                "of {} queued alerts {} were answered with a success ({} never arrived), \
                 {} are not marked delivered",
                self.alerts_queued,
                self.alerts_delivered,
                self.alerts_never_arrived,
                self.alerts_not_marked_delivered
            ),
        );
        claim(
            self.duplicates_after_success == 0,
            format!(
                "{} alerts arrived again after a successful answer",
                self.duplicates_after_success
            ),
        );
        claim(
            self.bad_signatures == 0,
            format!("{} deliveries had no valid signature", self.bad_signatures),
        );
        claim(
            self.page_server_errors == 0,
            format!(
                "{} page views answered with a server error",
                self.page_server_errors
            ),
        );
        match self.flatness {
            Some(f) => claim(
                f.flat,
                format!(
                    "memory grew {:.0} KiB after warm-up (median {:.0} KiB)",
                    f.growth_kib, f.median_kib
                ),
            ),
            None => claim(
                self.duration < WARM_UP + 3 * SAMPLE_EVERY,
                "too few memory samples".into(),
            ),
        }
        out
    }
}

impl fmt::Display for SoakReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let acked = self.acknowledged_counted + self.acknowledged_stored;
        writeln!(
            f,
            "soak: {} s of load with {} SIGKILLs and restarts, {} s of drain, a last SIGKILL",
            self.duration.as_secs(),
            self.kills.saturating_sub(1),
            self.drained_in.as_secs()
        )?;
        writeln!(
            f,
            "reports: {} sent, {} acknowledged ({} counted 202, {} stored 200), {} refused, \
             {} unanswered (in flight at a kill); acknowledged but lost: {}",
            self.reports_sent,
            acked,
            self.acknowledged_counted,
            self.acknowledged_stored,
            self.reports_refused,
            self.reports_unanswered,
            self.acknowledged_lost
        )?;
        writeln!(
            f,
            "imports: {} acknowledged ({} lines, all in the database), {} cut off by a kill; \
             not all-or-nothing: {}",
            self.imports_acknowledged,
            self.import_lines_acknowledged,
            self.imports_cut,
            self.imports_broken.len()
        )?;
        writeln!(
            f,
            "pages and reads: {} answered, {} server errors, {} unanswered",
            self.page_views, self.page_server_errors, self.page_unanswered
        )?;
        let kinds: Vec<String> = self
            .alerts_by_kind
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        writeln!(
            f,
            "alerts: {} queued ({}), {} delivered at least once, {} never arrived, \
             {} not marked delivered; arrived again after a success: {}; bad signatures: {}",
            self.alerts_queued,
            kinds.join(", "),
            self.alerts_delivered,
            self.alerts_never_arrived,
            self.alerts_not_marked_delivered,
            self.duplicates_after_success,
            self.bad_signatures
        )?;
        writeln!(
            f,
            "receiver: {} attempts, {} answered 503, {} hung past the server's timeout",
            self.attempts_received, self.attempts_failed, self.attempts_hung
        )?;
        let mut line = String::from("memory (RSS MiB each minute, life/age):");
        for s in &self.memory {
            let _ = write!(
                line,
                " {:.1} ({}/{}s)",
                s.rss_kib as f64 / 1024.0,
                s.life,
                s.age.as_secs()
            );
        }
        writeln!(f, "{line}")?;
        match self.flatness {
            Some(m) => writeln!(
                f,
                "memory after {} min warm-up: {} samples, median {:.1} MiB, {:.1}–{:.1} MiB, \
                 trend {:+.0} KiB/min ({:+.1} MiB over the span): {}",
                WARM_UP.as_secs() / 60,
                m.samples,
                m.median_kib / 1024.0,
                m.min_kib as f64 / 1024.0,
                m.max_kib as f64 / 1024.0,
                m.slope_kib_per_min,
                m.growth_kib / 1024.0,
                if m.flat { "flat" } else { "GROWING" }
            )?,
            None => writeln!(f, "memory: too few samples after warm-up to judge")?,
        }
        let failures = self.failures();
        if failures.is_empty() {
            write!(f, "every claim holds")
        } else {
            write!(f, "FAILED: {}", failures.join("; "))
        }
    }
}

/// Compares what the server acknowledged and queued with the database, once
/// the last server is gone; returns the report so far and the `webhook-id`
/// of every alert queued.
pub(super) fn check_database(
    db: &Path,
    shared: &Shared,
    imports: &[ImportRecord],
) -> anyhow::Result<(SoakReport, Vec<String>)> {
    let conn = open_database(db)?;
    let mut report = SoakReport::default();
    let service_ids: HashMap<String, i64> = conn
        .prepare("SELECT slug, id FROM services")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let stored: HashMap<i64, i64> = conn
        .prepare("SELECT id, service_id FROM reports")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let acked = shared.acked.lock().map(|a| a.clone()).unwrap_or_default();
    report.acknowledged_lost = acked
        .iter()
        .filter(|(id, service)| {
            let expected = service_ids.get(SERVICES[*service]);
            stored.get(id) != expected || expected.is_none()
        })
        .count() as u64;
    for import in imports {
        let count: usize = match service_ids.get(&import.slug) {
            Some(id) => stored.values().filter(|s| *s == id).count(),
            None => 0,
        };
        if import.acknowledged {
            report.imports_acknowledged += 1;
            report.import_lines_acknowledged += import.lines;
            if count != import.lines {
                report.imports_broken.push(format!(
                    "{}: acknowledged {} lines, {count} stored",
                    import.slug, import.lines
                ));
            }
        } else {
            report.imports_cut += 1;
            if count != 0 && count != import.lines {
                report.imports_broken.push(format!(
                    "{}: cut off, {count} of {} lines stored",
                    import.slug, import.lines
                ));
            }
        }
    }
    let mut by_kind: HashMap<String, usize> = HashMap::new();
    let mut queued = Vec::new();
    let mut statement = conn.prepare("SELECT message_id, kind, status FROM deliveries")?;
    let rows = statement.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    for row in rows {
        let (message_id, kind, status) = row?;
        *by_kind.entry(kind).or_default() += 1;
        if status != "delivered" {
            report.alerts_not_marked_delivered += 1;
        }
        queued.push(message_id);
    }
    report.alerts_queued = queued.len();
    let mut kinds: Vec<(String, usize)> = by_kind.into_iter().collect();
    kinds.sort();
    report.alerts_by_kind = kinds;
    report.imports_broken.sort();
    Ok((report, queued))
}
