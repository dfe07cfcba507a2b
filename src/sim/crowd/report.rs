//! What a crowd run measured, judged against its targets, as text for a
//! person and as JSON for a program.

use super::procfs::ProcSample;
use super::stats::{per_second, ratio, Summary};
use super::tally::ViewerReport;
use crate::os::DescriptorLimit;
use crate::sim::loadgen::LoadReport;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// Live news must reach every page within this (p99, ms).
pub const LIVE_P99_MS: f64 = 5000.0;
/// Reports with the crowd, against their rate without it.
pub const REPORTS_RATIO: f64 = 0.95;
/// Reports' p99 with the crowd, ms.
pub const REPORTS_P99_MS: f64 = 25.0;
/// The service page's rate against `/healthz`'s.
pub const PAGE_RATIO: f64 = 0.30;

/// The settings a run was made with, echoed in its report.
#[derive(Debug, Clone, Serialize)]
pub struct RunSettings {
    pub addr: String,
    pub slug: String,
    pub viewers: usize,
    pub open_per_sec: f64,
    pub spread_ms: u64,
    pub visitors_per_sec: f64,
    pub reports_per_sec: f64,
    pub seconds: u64,
    pub baseline_secs: u64,
    pub round_secs: u64,
    pub rounds: u32,
    pub page_connections: usize,
    /// The viewers' bound on page fetches in flight.
    pub max_fetches: usize,
}

/// One open- or closed-loop load, in numbers.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadFigures {
    pub requests: u64,
    pub seconds: f64,
    /// Answers with a 2xx status (or 304), per second.
    pub ok_per_sec: f64,
    /// From the scheduled send to the (last) answer, ms.
    pub latency_ms: Summary,
    pub statuses: BTreeMap<u16, u64>,
    pub transport_errors: u64,
}

impl From<&LoadReport> for LoadFigures {
    fn from(r: &LoadReport) -> Self {
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
        let ok: u64 = r
            .statuses
            .iter()
            .filter(|(s, _)| (200..300).contains(*s) || **s == 304)
            .map(|(_, n)| n)
            .sum();
        let seconds = r.elapsed.as_secs_f64();
        LoadFigures {
            requests: r.requests,
            seconds,
            ok_per_sec: per_second(ok, seconds),
            latency_ms: Summary {
                count: r.requests as usize,
                p50: ms(r.p50),
                p99: ms(r.p99),
                max: ms(r.max),
            },
            statuses: r.statuses.clone(),
            transport_errors: r.transport_errors,
        }
    }
}

/// One page's closed-loop rate, over all its rounds.
#[derive(Debug, Clone, Serialize)]
pub struct PageRate {
    pub path: String,
    pub ok_per_sec: f64,
    /// Against `/healthz` in the same run.
    pub ratio_to_healthz: Option<f64>,
    pub statuses: BTreeMap<u16, u64>,
    pub transport_errors: u64,
}

/// A process over the crowd phase.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ProcFigures {
    pub start: ProcSample,
    pub end: ProcSample,
    /// CPU seconds per second of the phase (2.0 is both cores).
    pub cpu_per_sec: f64,
    /// The largest resident memory and descriptor count sampled.
    pub peak_rss_kib: u64,
    pub peak_fds: Option<usize>,
}

impl ProcFigures {
    pub fn new(start: ProcSample, end: ProcSample, seconds: f64, peaks: ProcSample) -> Self {
        ProcFigures {
            start,
            end,
            cpu_per_sec: (end.cpu_secs - start.cpu_secs) / seconds.max(1e-9),
            peak_rss_kib: peaks.rss_kib.max(start.rss_kib).max(end.rss_kib),
            peak_fds: [peaks.fds, start.fds, end.fds].into_iter().flatten().max(),
        }
    }
}

/// One stated target and how the run did.
#[derive(Debug, Clone, Serialize)]
pub struct TargetCheck {
    pub target: String,
    pub measured: String,
    pub met: bool,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct CrowdReport {
    pub settings: RunSettings,
    pub descriptors: DescriptorLimit,
    /// The crowd phase on the wall clock, Unix ms.
    pub crowd_from_ms: i64,
    pub crowd_to_ms: i64,
    pub viewers: ViewerReport,
    /// From change to page, every viewer and every change of the crowd
    /// phase, ms.
    pub live_ms: Summary,
    pub reports_without_crowd: LoadFigures,
    pub reports_with_crowd: LoadFigures,
    pub reports_ratio: Option<f64>,
    pub visitors: LoadFigures,
    pub pages: Vec<PageRate>,
    /// `/healthz`, closed loop like the rounds, before the crowd gathered:
    /// what the crowd costs the cheapest answer, and whether the rounds'
    /// ratios compare pages with a server that still answers.
    pub healthz_alone_per_sec: f64,
    pub server: Option<ProcFigures>,
    pub generator: ProcFigures,
    pub targets: Vec<TargetCheck>,
}

impl CrowdReport {
    /// Judges the figures against the targets the bench states.
    pub fn judge(&mut self) {
        let phase: Vec<_> = self
            .viewers
            .changes
            .iter()
            .filter(|c| (self.crowd_from_ms..=self.crowd_to_ms).contains(&c.at_ms))
            .collect();
        let complete = phase.iter().filter(|c| c.complete()).count();
        let live = self.live_ms;
        let with = &self.reports_with_crowd;
        let service_page = format!("/s/{}", self.settings.slug);
        let page = self.pages.iter().find(|p| p.path == service_page);
        let page_ratio = page.and_then(|p| p.ratio_to_healthz);
        self.targets = vec![
            TargetCheck {
                target: format!(
                    "live: every viewer has the new page, p99 <= {:.0} s",
                    LIVE_P99_MS / 1000.0
                ),
                measured: format!(
                    "p99 {:.0} ms; {complete} of {} changes reached every viewer",
                    live.p99,
                    phase.len()
                ),
                met: live.count > 0
                    && live.p99 <= LIVE_P99_MS
                    && !phase.is_empty()
                    && complete == phase.len(),
            },
            TargetCheck {
                target: format!(
                    "reports >= {:.0}% of their rate without the crowd, p99 < {REPORTS_P99_MS:.0} ms",
                    REPORTS_RATIO * 100.0
                ),
                measured: format!(
                    "{}, p99 {:.2} ms",
                    shown_ratio(self.reports_ratio),
                    with.latency_ms.p99
                ),
                met: self.reports_ratio.is_some_and(|r| r >= REPORTS_RATIO)
                    && with.latency_ms.p99 < REPORTS_P99_MS,
            },
            TargetCheck {
                target: format!(
                    "service page >= {:.0}% of /healthz",
                    PAGE_RATIO * 100.0
                ),
                measured: format!(
                    "{} (and /healthz at {} of its rate before the crowd)",
                    shown_ratio(page_ratio),
                    shown_ratio(self.healthz_with_crowd())
                ),
                met: page_ratio.is_some_and(|r| r >= PAGE_RATIO),
            },
        ];
    }

    /// `/healthz` in the rounds, with the crowd connected, against its
    /// rate before the crowd.
    pub fn healthz_with_crowd(&self) -> Option<f64> {
        let with = self.pages.iter().find(|p| p.path == "/healthz")?;
        ratio(with.ok_per_sec, self.healthz_alone_per_sec)
    }

    /// The rate of reports with the crowd against without it.
    pub fn reports_ratio(with: &LoadFigures, without: &LoadFigures) -> Option<f64> {
        ratio(with.ok_per_sec, without.ok_per_sec)
    }
}

/// A ratio with two decimals, or three below a tenth (so that a page at
/// 0.4% of `/healthz` does not read as nothing).
fn shown_ratio(r: Option<f64>) -> String {
    match r {
        None => "not measured".to_owned(),
        Some(r) if r < 0.1 => format!("{r:.3}"),
        Some(r) => format!("{r:.2}"),
    }
}

fn counts<K: fmt::Display>(map: &BTreeMap<K, u64>) -> String {
    if map.is_empty() {
        return "none".to_owned();
    }
    map.iter()
        .map(|(k, n)| format!("{k}: {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn load_line(f: &mut fmt::Formatter<'_>, name: &str, l: &LoadFigures) -> fmt::Result {
    writeln!(
        f,
        "  {name:<22} {:>8.0}/s ok  p50 {:>7.2} ms  p99 {:>8.2} ms  max {:>8.2} ms  [{}]{}",
        l.ok_per_sec,
        l.latency_ms.p50,
        l.latency_ms.p99,
        l.latency_ms.max,
        counts(&l.statuses),
        if l.transport_errors > 0 {
            format!("  transport errors {}", l.transport_errors)
        } else {
            String::new()
        }
    )
}

fn proc_line(f: &mut fmt::Formatter<'_>, name: &str, p: &ProcFigures) -> fmt::Result {
    writeln!(
        f,
        "  {name:<10} CPU {:.2} s/s  RSS {:.0} -> {:.0} MiB, peak sampled {:.0} MiB, lifetime peak (VmHWM) {:.0} MiB  descriptors peak {}",
        p.cpu_per_sec,
        p.start.rss_kib as f64 / 1024.0,
        p.end.rss_kib as f64 / 1024.0,
        p.peak_rss_kib as f64 / 1024.0,
        p.end.hwm_kib as f64 / 1024.0,
        p.peak_fds.map_or_else(|| "?".to_owned(), |n| n.to_string())
    )
}

impl fmt::Display for CrowdReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.settings;
        let v = &self.viewers;
        writeln!(
            f,
            "crowd on {} /s/{}: {} live viewers (spread {} ms), {} visitors/s, {} reports/s, {} s",
            s.addr,
            s.slug,
            s.viewers,
            s.spread_ms,
            s.visitors_per_sec,
            s.reports_per_sec,
            s.seconds
        )?;
        let d = &self.descriptors;
        writeln!(
            f,
            "descriptors: soft limit {} (was {}), hard {}, about {} needed",
            d.soft, d.soft_before, d.hard, d.needed
        )?;
        writeln!(f, "live viewers:")?;
        writeln!(
            f,
            "  opened {} of {}, with their page {}; refused (503) {}; streams ended and reopened {}; heartbeats {}",
            v.opened, v.viewers, v.with_page, v.refused_503, v.stream_ends, v.heartbeats
        )?;
        writeln!(
            f,
            "  page fetches in flight at most {} (bound {}); fetches that waited for a place {}",
            v.peak_fetches, s.max_fetches, v.fetch_waits
        )?;
        writeln!(f, "  page answers: {}", counts(&v.page_statuses))?;
        writeln!(f, "  errors: {}", counts(&v.errors))?;
        for c in &v.changes {
            let phase = if (self.crowd_from_ms..=self.crowd_to_ms).contains(&c.at_ms) {
                "crowd"
            } else {
                "before"
            };
            writeln!(
                f,
                "  change {:>5} ({phase:<6}): had it {:>6} of {:>6} (new page {}, skipped {}, missing {})  heard p99 {:>6.0} ms  page p50 {:>6.0} p99 {:>6.0} max {:>6.0} ms",
                c.generation, c.delivered, c.expected, c.new_page, c.skipped, c.missing(),
                c.heard_ms.p99, c.page_ms.p50, c.page_ms.p99, c.page_ms.max
            )?;
        }
        let expected: usize = v
            .changes
            .iter()
            .filter(|c| (self.crowd_from_ms..=self.crowd_to_ms).contains(&c.at_ms))
            .map(|c| c.expected)
            .sum();
        writeln!(
            f,
            "  change to page, crowd phase: p50 {:.0} ms  p99 {:.0} ms  max {:.0} ms  (over the {} pages had, of {} due)",
            self.live_ms.p50, self.live_ms.p99, self.live_ms.max, self.live_ms.count, expected
        )?;
        writeln!(
            f,
            "reports and visitors (open loop, latency from the scheduled send):"
        )?;
        load_line(f, "reports without crowd", &self.reports_without_crowd)?;
        load_line(f, "reports with crowd", &self.reports_with_crowd)?;
        writeln!(
            f,
            "  reports with crowd / without: {}",
            shown_ratio(self.reports_ratio)
        )?;
        load_line(f, "visits (page+css+js)", &self.visitors)?;
        writeln!(
            f,
            "pages, closed loop with the crowd connected ({} connections):",
            s.page_connections
        )?;
        for p in &self.pages {
            writeln!(
                f,
                "  {:<24} {:>9.0} req/s  {:>5} of /healthz  [{}]",
                p.path,
                p.ok_per_sec,
                shown_ratio(p.ratio_to_healthz),
                counts(&p.statuses)
            )?;
        }
        writeln!(
            f,
            "  /healthz before the crowd {:.0} req/s; with it {} of that",
            self.healthz_alone_per_sec,
            shown_ratio(self.healthz_with_crowd())
        )?;
        writeln!(f, "processes over the crowd phase:")?;
        if let Some(server) = &self.server {
            proc_line(f, "server", server)?;
        }
        proc_line(f, "generator", &self.generator)?;
        writeln!(f, "targets:")?;
        for t in &self.targets {
            writeln!(
                f,
                "  [{}] {}: {}",
                if t.met { "met" } else { "NOT MET" },
                t.target,
                t.measured
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::crowd::tally::ChangeReport;

    fn page(path: &str, ratio: f64) -> PageRate {
        PageRate {
            path: path.into(),
            ok_per_sec: ratio * 10_000.0,
            ratio_to_healthz: Some(ratio),
            statuses: BTreeMap::new(),
            transport_errors: 0,
        }
    }

    fn reports(per_sec: f64, p99: f64) -> LoadFigures {
        LoadFigures {
            ok_per_sec: per_sec,
            latency_ms: Summary {
                count: 1000,
                p50: 1.0,
                p99,
                max: p99,
            },
            ..LoadFigures::default()
        }
    }

    /// A run that keeps every promise: one change in the crowd phase that
    /// every viewer had, p99 1.2 s; reports at 98%, p99 4 ms; the service
    /// page at half of /healthz (the chart, after it, at a tenth).
    fn good_run() -> CrowdReport {
        let change = ChangeReport {
            generation: 5,
            at_ms: 1_500,
            expected: 100,
            heard: 100,
            delivered: 100,
            new_page: 100,
            ..ChangeReport::default()
        };
        let live = Summary {
            count: 100,
            p50: 600.0,
            p99: 1200.0,
            max: 1300.0,
        };
        let (with, without) = (reports(1960.0, 4.0), reports(2000.0, 3.0));
        CrowdReport {
            settings: RunSettings {
                addr: "127.0.0.1:8080".into(),
                slug: "claude".into(),
                viewers: 100,
                open_per_sec: 400.0,
                spread_ms: 1000,
                visitors_per_sec: 100.0,
                reports_per_sec: 2000.0,
                seconds: 150,
                baseline_secs: 20,
                round_secs: 3,
                rounds: 2,
                page_connections: 64,
                max_fetches: 1000,
            },
            descriptors: DescriptorLimit::default(),
            crowd_from_ms: 1_000,
            crowd_to_ms: 2_000,
            viewers: ViewerReport {
                changes: vec![change],
                ..ViewerReport::default()
            },
            live_ms: live,
            reports_ratio: CrowdReport::reports_ratio(&with, &without),
            reports_without_crowd: without,
            reports_with_crowd: with,
            visitors: LoadFigures::default(),
            healthz_alone_per_sec: 12_000.0,
            pages: vec![
                page("/healthz", 1.0),
                page("/s/claude/chart.svg", 0.1),
                page("/s/claude", 0.5),
            ],
            server: None,
            generator: ProcFigures::default(),
            targets: Vec::new(),
        }
    }

    fn met(mut r: CrowdReport) -> Vec<bool> {
        r.judge();
        r.targets.iter().map(|t| t.met).collect()
    }

    #[test]
    fn a_run_that_keeps_every_promise_meets_every_target() {
        let mut r = good_run();
        r.judge();
        assert_eq!(r.targets.len(), 3);
        assert!(r.targets.iter().all(|t| t.met), "{:?}", r.targets);
        assert!(r.to_string().contains("[met] live"), "{r}");
    }

    #[test]
    fn each_target_is_missed_by_what_it_measures() {
        let mut r = good_run();
        r.live_ms.p99 = 5001.0;
        assert_eq!(met(r), [false, true, true]);
        // One viewer short of the change.
        let mut r = good_run();
        r.viewers.changes[0].delivered = 99;
        assert_eq!(met(r), [false, true, true]);
        // No change in the crowd phase: nothing shows the live figure.
        let mut r = good_run();
        r.viewers.changes[0].at_ms = 2_001;
        assert_eq!(met(r), [false, true, true]);
        let mut r = good_run();
        r.reports_ratio = Some(0.94);
        assert_eq!(met(r), [true, false, true]);
        let mut r = good_run();
        r.reports_with_crowd.latency_ms.p99 = 25.0;
        assert_eq!(met(r), [true, false, true]);
        // The service page itself, not the chart beside it.
        let mut r = good_run();
        r.pages[2].ratio_to_healthz = Some(0.29);
        assert_eq!(met(r), [true, true, false]);
        let mut r = good_run();
        r.pages.remove(2);
        assert_eq!(met(r), [true, true, false]);
    }
}
