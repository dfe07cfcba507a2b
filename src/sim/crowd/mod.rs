//! `downwave crowd`: the load of an outage, on one running server. When a
//! big service breaks, everyone who reports it also opens its page, and
//! the page stays open; this bench plays all of them at once and says
//! whether the server keeps its promises while they are there:
//!
//! - **live viewers** (`viewers.rs`): each holds `/live` open and fetches
//!   its page at every change, as the page's script does; timed from the
//!   server's wall-clock time of the change to the page arrived;
//! - **new visitors**: a page and its stylesheet and script, open loop;
//! - **reports**: open loop, each from its own address (as `loadgen`'s),
//!   first alone and then with the crowd, compared as a ratio;
//! - **page rounds**: closed-loop rounds of the dashboard's pages with the
//!   crowd connected, each as a ratio of `/healthz` in the same run;
//! - **the processes**: the server's CPU time and memory from `/proc`
//!   around the crowd phase, and the load generator's own.
//!
//! The run, in order: reports alone (`baseline`), and a round of
//! `/healthz` alone; the viewers gather
//! (`open_per_sec`), each loading its page; the page rounds; the crowd
//! phase (`duration`: reports and visitors while the viewers follow every
//! change); and the viewers finish at the board's latest generation.

mod client;
mod procfs;
mod report;
mod sse;
mod stats;
mod tally;
mod viewers;

pub use report::CrowdReport;
pub use tally::{ChangeReport, ViewerReport};
pub use viewers::{CrowdStatus, ViewerCrowd, ViewerOptions};

use crate::os::{self, DescriptorLimit};
use crate::sim::loadgen::{self, LoadOptions, LoadReport, Target};
use anyhow::Context as _;
use client::{assets_of, wall_ms, Site};
use procfs::{Proc, ProcSample};
use report::{LoadFigures, PageRate, ProcFigures, RunSettings};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Open-loop report connections: enough for the rate, few descriptors.
const REPORT_CONNECTIONS: usize = 64;
/// Open-loop visitor connections.
const VISITOR_CONNECTIONS: usize = 32;
/// Descriptors besides the connections: the runtime, standard streams,
/// `/proc` reads, the stream that asks for the latest change.
const SPARE_DESCRIPTORS: u64 = 100;
/// The categories reports cycle through.
const CATEGORIES: [&str; 3] = ["login", "website", "app"];
/// How often the processes' memory and descriptors are sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(2);
/// After the crowd phase, the longest wait for every viewer to have the
/// latest change.
const FINISH_LIMIT: Duration = Duration::from_secs(45);

#[derive(Debug, Clone)]
pub struct CrowdOptions {
    pub viewers: ViewerOptions,
    pub visitors_per_sec: f64,
    pub reports_per_sec: f64,
    /// The crowd phase.
    pub duration: Duration,
    /// Reports alone, before the crowd gathers.
    pub baseline: Duration,
    pub round: Duration,
    pub rounds: u32,
    pub page_connections: usize,
    /// The server's process, to read from `/proc`.
    pub server_pid: Option<u32>,
}

impl CrowdOptions {
    fn settings(&self, max_fetches: usize) -> RunSettings {
        let v = &self.viewers;
        RunSettings {
            addr: v.addr.clone(),
            slug: v.slug.clone(),
            viewers: v.viewers,
            open_per_sec: v.open_per_sec,
            spread_ms: v.spread.as_millis() as u64,
            visitors_per_sec: self.visitors_per_sec,
            reports_per_sec: self.reports_per_sec,
            seconds: self.duration.as_secs(),
            baseline_secs: self.baseline.as_secs(),
            round_secs: self.round.as_secs(),
            rounds: self.rounds,
            page_connections: self.page_connections,
            max_fetches,
        }
    }

    fn load(
        &self,
        target: Target,
        connections: usize,
        rate: Option<f64>,
        duration: Duration,
    ) -> LoadOptions {
        LoadOptions {
            addr: self.viewers.addr.clone(),
            target,
            connections,
            duration,
            rate,
            service: self.viewers.slug.clone(),
            categories: CATEGORIES.map(str::to_owned).to_vec(),
            // Open loop needs little; the rounds drive as hard as loadgen.
            threads: if rate.is_some() { 1 } else { 2 },
        }
    }

    /// Descriptors the run holds besides the pages in flight: a stream
    /// per viewer, the pools, and some to spare.
    fn descriptors_held(&self) -> u64 {
        let pools = REPORT_CONNECTIONS + VISITOR_CONNECTIONS + self.page_connections;
        self.viewers.viewers as u64 + pools as u64 + SPARE_DESCRIPTORS
    }
}

/// Runs the whole bench and returns what it measured.
///
/// The descriptor limit is raised to fit every viewer's stream and page at
/// once, as far as the hard limit allows; the page fetches in flight are
/// bounded by what is left after the streams and pools.
pub fn run(opts: &CrowdOptions) -> anyhow::Result<CrowdReport> {
    let held = opts.descriptors_held();
    let descriptors = os::raise_descriptor_limit(held + opts.viewers.viewers as u64);
    if descriptors.soft <= held {
        eprintln!(
            "crowd: the streams and pools alone hold {held} descriptors and the limit is {} \
             (hard {}); connections past it will fail with EMFILE (raise it: ulimit -n)",
            descriptors.soft, descriptors.hard
        );
    }
    let room = usize::try_from(descriptors.soft.saturating_sub(held)).unwrap_or(usize::MAX);
    let mut opts = opts.clone();
    opts.viewers.max_fetches = opts.viewers.max_fetches.min(room).max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(bench(&opts, descriptors))
}

async fn bench(opts: &CrowdOptions, descriptors: DescriptorLimit) -> anyhow::Result<CrowdReport> {
    let site = Site::new(&opts.viewers.addr, &opts.viewers.slug)?;
    let server = opts.server_pid.map(|pid| Proc(Some(pid)));
    if let Some(server) = server {
        server.sample().context("reading the server's process")?;
    }
    let visit = first_visit(&site).await?;

    eprintln!("crowd: reports alone for {:?}", opts.baseline);
    let reports = opts.load(
        Target::Reports,
        REPORT_CONNECTIONS,
        Some(opts.reports_per_sec),
        opts.baseline,
    );
    let without = load(reports).await?;
    eprintln!("crowd: {without}");
    let healthz = opts.load(Target::Healthz, opts.page_connections, None, opts.round);
    let healthz_alone = load(healthz).await?;
    eprintln!("crowd: alone: {healthz_alone}");

    let v = &opts.viewers;
    eprintln!("crowd: {} viewers gather, {}/s", v.viewers, v.open_per_sec);
    let crowd = ViewerCrowd::open(v)?;
    let gathering = Duration::from_secs_f64(v.viewers as f64 / v.open_per_sec);
    let status = crowd.wait_open(gathering + Duration::from_secs(30)).await;
    eprintln!(
        "crowd: {} streams open, {} viewers with their page",
        status.streams, status.with_page
    );

    let pages = page_rounds(opts).await?;
    let phase = crowd_phase(opts, visit, server).await?;

    let last = site.current_change(Duration::from_secs(10)).await?;
    eprintln!(
        "crowd: waiting for every viewer to have generation {}",
        last.generation
    );
    let viewers = crowd.finish(last.generation, FINISH_LIMIT).await?;
    let live_ms = viewers.page_ms_between(phase.from_ms, phase.to_ms);
    let reports_without_crowd = LoadFigures::from(&without);
    let reports_with_crowd = LoadFigures::from(&phase.reports);
    let mut report = CrowdReport {
        settings: opts.settings(v.max_fetches),
        descriptors,
        crowd_from_ms: phase.from_ms,
        crowd_to_ms: phase.to_ms,
        viewers,
        live_ms,
        reports_ratio: CrowdReport::reports_ratio(&reports_with_crowd, &reports_without_crowd),
        reports_without_crowd,
        reports_with_crowd,
        visitors: LoadFigures::from(&phase.visitors),
        pages,
        healthz_alone_per_sec: LoadFigures::from(&healthz_alone).ok_per_sec,
        server: phase.server,
        generator: phase.generator,
        targets: Vec::new(),
    };
    report.judge();
    Ok(report)
}

/// What a first visit asks for: the page, and the stylesheet and script
/// it links to (read from the page itself, with their version).
async fn first_visit(site: &Site) -> anyhow::Result<Vec<String>> {
    let page = site
        .read_page()
        .await
        .with_context(|| format!("asking {} for {}", site.addr(), site.page()))?;
    anyhow::ensure!(
        page.status == 200,
        "{} answered {} for {}: is the server up and the slug right?",
        site.addr(),
        page.status,
        site.page()
    );
    let mut visit = vec![site.page().to_string()];
    visit.extend(assets_of(&String::from_utf8_lossy(&page.body)));
    Ok(visit)
}

/// Runs one `loadgen` load on a thread of its own.
async fn load(opts: LoadOptions) -> anyhow::Result<LoadReport> {
    tokio::task::spawn_blocking(move || loadgen::run(&opts)).await?
}

/// The dashboard's pages, closed loop, alternated round by round with
/// `/healthz` so that the machine's drift hits them alike.
async fn page_rounds(opts: &CrowdOptions) -> anyhow::Result<Vec<PageRate>> {
    let slug = &opts.viewers.slug;
    let targets = [
        Target::Healthz,
        Target::Visit(vec![format!("/s/{slug}")]),
        Target::Visit(vec![format!("/s/{slug}?range=7d")]),
        Target::Visit(vec!["/".to_owned()]),
        Target::Visit(vec![format!("/s/{slug}/chart.svg")]),
        Target::Visit(vec!["/events.atom".to_owned()]),
    ];
    // Per target: answers that were fine, seconds, statuses, errors.
    let mut sums = vec![(0.0, 0.0, BTreeMap::new(), 0); targets.len()];
    for round in 1..=opts.rounds {
        for (target, sum) in targets.iter().zip(&mut sums) {
            let o = opts.load(target.clone(), opts.page_connections, None, opts.round);
            let r = load(o).await?;
            eprintln!("crowd: round {round}: {r}");
            let f = LoadFigures::from(&r);
            sum.0 += f.ok_per_sec * f.seconds;
            sum.1 += f.seconds;
            for (status, n) in f.statuses {
                *sum.2.entry(status).or_default() += n;
            }
            sum.3 += f.transport_errors;
        }
    }
    let healthz = stats::per_second(sums[0].0 as u64, sums[0].1);
    Ok(targets
        .iter()
        .zip(sums)
        .map(|(target, (ok, seconds, statuses, transport_errors))| {
            let ok_per_sec = stats::per_second(ok as u64, seconds);
            PageRate {
                path: match target {
                    Target::Visit(paths) => paths.join(" "),
                    other => format!("/{other}"),
                },
                ok_per_sec,
                ratio_to_healthz: stats::ratio(ok_per_sec, healthz),
                statuses,
                transport_errors,
            }
        })
        .collect())
}

/// What the crowd phase measured.
struct Phase {
    from_ms: i64,
    to_ms: i64,
    reports: LoadReport,
    visitors: LoadReport,
    server: Option<ProcFigures>,
    generator: ProcFigures,
}

/// Reports and visitors, open loop, while the viewers follow every change;
/// the processes read before, during and after.
async fn crowd_phase(
    opts: &CrowdOptions,
    visit: Vec<String>,
    server: Option<Proc>,
) -> anyhow::Result<Phase> {
    eprintln!("crowd: the crowd phase, {:?}", opts.duration);
    let me = Proc(None);
    let server_start = server.map(|p| p.sample()).transpose()?;
    let me_start = me.sample()?;
    let from_ms = wall_ms() as i64;
    let started = Instant::now();
    let peaks = tokio::spawn(sample_peaks(server, started + opts.duration));
    let reports = opts.load(
        Target::Reports,
        REPORT_CONNECTIONS,
        Some(opts.reports_per_sec),
        opts.duration,
    );
    let visitors = opts.load(
        Target::Visit(visit),
        VISITOR_CONNECTIONS,
        Some(opts.visitors_per_sec),
        opts.duration,
    );
    let (reports, visitors) = tokio::try_join!(load(reports), load(visitors))?;
    let seconds = started.elapsed().as_secs_f64();
    let to_ms = wall_ms() as i64;
    let server_end = server.map(|p| p.sample()).transpose()?;
    let me_end = me.sample()?;
    let (server_peak, me_peak) = peaks.await?;
    eprintln!("crowd: {reports}");
    eprintln!("crowd: visits {visitors}");
    Ok(Phase {
        from_ms,
        to_ms,
        reports,
        visitors,
        server: server_start
            .zip(server_end)
            .map(|(start, end)| ProcFigures::new(start, end, seconds, server_peak)),
        generator: ProcFigures::new(me_start, me_end, seconds, me_peak),
    })
}

/// The largest memory and descriptor counts of the server and of this
/// process, sampled until `until`.
async fn sample_peaks(server: Option<Proc>, until: Instant) -> (ProcSample, ProcSample) {
    let (mut server_peak, mut me_peak) = (ProcSample::default(), ProcSample::default());
    while Instant::now() < until {
        if let Some(Ok(s)) = server.map(|p| p.sample()) {
            server_peak = server_peak.peak(&s);
        }
        if let Ok(s) = Proc(None).sample() {
            me_peak = me_peak.peak(&s);
        }
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
    (server_peak, me_peak)
}
