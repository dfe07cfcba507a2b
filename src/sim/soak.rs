//! `downwave soak`: the real binary under mixed load on loopback for a set
//! time, killed with SIGKILL and restarted on the same database every few
//! minutes, and checked against what an operator is promised:
//!
//! - every report the server acknowledged (`202` counted, `200` stored) is in
//!   the database after the last restart, by its id and service; an import
//!   is there whole when it was acknowledged, and whole or not at all when
//!   the kill cut it off;
//! - every alert the server queued reached the receiver at least once, none
//!   arrived again after the receiver had answered it with a success, and
//!   every one carried a valid signature;
//! - the server's resident memory, sampled each minute, is flat after
//!   warm-up: a least-squares line through the samples after warm-up grows
//!   by less than a tenth of their median over that span;
//! - no page or API read answered with a server error.
//!
//! The load: reports from many networks (one address each, in the
//! documentation and benchmarking ranges, written in `X-Forwarded-For` by
//! the soak acting as the trusted proxy, some repeated so the de-duplication
//! works too), page views and API reads, one import per server life (a new
//! service with three hours of history and a burst, recent or an hour old,
//! so that outages open and resolve and alerts are queued), a test message
//! every 30 seconds, and webhook deliveries to a receiver inside the soak
//! that fails a third of them and hangs on some past the server's timeout.
//!
//! Bounded: the server and the receiver listen on loopback only (any other
//! address is refused), the forwarded addresses exist only in a header, and
//! the load stops at the set duration; the drain that follows (no load, no
//! kills, until every queued alert is delivered) has its own bound.

use crate::alert::signing;
use anyhow::{bail, ensure, Context};
use rand::Rng;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::io::{BufRead, BufReader, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The services the live report load is about.
const SERVICES: [&str; 4] = ["claude", "aws", "github", "slack"];
const CATEGORIES: [&str; 5] = ["login", "website", "app", "api", "other"];
/// The pages and reads each page view cycles through (`{event}` is the
/// latest event's id, once there is one).
const PAGES: [&str; 11] = [
    "/",
    "/?q=cla",
    "/s/claude",
    "/s/aws?range=7d",
    "/s/github/chart.svg?range=6h",
    "/badge/slack.svg",
    "/events.atom",
    "/api/v1/events",
    "/api/v1/services/claude/series?step=300",
    "/api/v1/services/aws/summary",
    "/e/{event}",
];
/// Samples of resident memory taken before this are warm-up: the server's
/// de-duplication window (its default, 15 minutes) and a minute. Until the
/// window is full, every server (each reloads it at start) holds more
/// reporters than the one before; that is the window filling, not a leak.
const WARM_UP: Duration = Duration::from_secs(16 * 60);
/// How often resident memory is sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(60);
/// The server's webhook timeout (its default); a hang outlasts it.
const SERVER_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, Clone)]
pub struct SoakOptions {
    /// The `downwave` binary to run as the server.
    pub binary: PathBuf,
    /// A new folder for the database and the server's log.
    pub dir: PathBuf,
    /// Where the server listens: a loopback address (port 0 picks one, kept
    /// across restarts).
    pub bind: SocketAddr,
    /// How long the load and the kills go on.
    pub duration: Duration,
    /// Time between SIGKILLs.
    pub kill_every: Duration,
    /// Reports per second, all services together.
    pub reports_per_sec: f64,
    /// Longest wait, after the load, for every queued alert to be delivered.
    pub drain: Duration,
    /// The receiver fails at most this many attempts of one alert, so that
    /// the server's retry schedule (5 s, then 5 min) gets each one through
    /// within the drain.
    pub max_failures_per_alert: u32,
}

impl SoakOptions {
    fn check(&self) -> anyhow::Result<()> {
        ensure!(
            self.bind.ip().is_loopback(),
            "the soak only runs on loopback: {} is not a loopback address",
            self.bind.ip()
        );
        ensure!(
            self.kill_every >= Duration::from_secs(5),
            "kills at least 5 seconds apart"
        );
        ensure!(
            self.reports_per_sec > 0.0 && self.reports_per_sec <= 2000.0,
            "0 to 2000 reports a second"
        );
        ensure!(
            self.duration <= Duration::from_secs(24 * 3600)
                && self.drain <= Duration::from_secs(3600),
            "a soak runs at most a day, its drain at most an hour"
        );
        if self.dir.exists() {
            let empty = std::fs::read_dir(&self.dir)
                .with_context(|| format!("reading {}", self.dir.display()))?
                .next()
                .is_none();
            ensure!(
                empty,
                "{} is not empty: the soak starts on a new database",
                self.dir.display()
            );
        }
        Ok(())
    }
}

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

/// Runs a soak and returns what it measured (the claims are judged by
/// [`SoakReport::failures`]).
pub fn run(opts: &SoakOptions) -> anyhow::Result<SoakReport> {
    opts.check()?;
    std::fs::create_dir_all(&opts.dir)
        .with_context(|| format!("creating {}", opts.dir.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(soak(opts))
}

/// The running server process.
struct Server {
    child: Child,
    port: u16,
    started: Instant,
}

impl Server {
    fn start(opts: &SoakOptions, token: &str, port: u16) -> anyhow::Result<Server> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(opts.dir.join("server.log"))
            .context("opening the server log")?;
        let mut child = Command::new(&opts.binary)
            .arg("--database")
            .arg(opts.dir.join("soak.db"))
            .args(["--admin-token", token])
            .args(["--webhook-allow-private", "true"])
            .args(["--trusted-proxies", "127.0.0.1/32,::1/128"])
            .args(["--forwarded-header", "x-forwarded-for"])
            .arg("serve")
            .arg("--listen")
            .arg(SocketAddr::new(opts.bind.ip(), port).to_string())
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(log.try_clone()?)
            .spawn()
            .with_context(|| format!("starting {}", opts.binary.display()))?;
        let started = Instant::now();
        let stdout = child.stdout.take().context("the server's output")?;
        let mut lines = BufReader::new(stdout).lines();
        let port = loop {
            let Some(line) = lines.next() else {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "the server ended before it listened (see {}/server.log)",
                    opts.dir.display()
                );
            };
            let line = line?;
            writeln!(&log, "{line}")?;
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let addr = rest.split_whitespace().next().unwrap_or_default();
                let port = addr.rsplit(':').next().and_then(|p| p.parse::<u16>().ok());
                break port.context("the server's address")?;
            }
        };
        // Keep draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let _ = writeln!(&log, "{line}");
            }
        });
        Ok(Server {
            child,
            port,
            started,
        })
    }

    /// [`Server::start`], tried again for a few seconds: the port of a
    /// process killed a moment ago may not be free yet.
    fn restart(opts: &SoakOptions, token: &str, port: u16) -> anyhow::Result<Server> {
        let mut tries = 0;
        loop {
            match Server::start(opts, token, port) {
                Ok(server) => return Ok(server),
                Err(e) if tries < 20 => {
                    tracing::warn!(error = %e, "the server did not start; trying again");
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    }

    /// SIGKILL (std's `Child::kill`), and wait for the process to be gone.
    fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill().context("killing the server")?;
        self.child.wait().context("waiting for the killed server")?;
        Ok(())
    }
}

impl Drop for Server {
    /// A soak that ends early (an error) leaves no server behind.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What the soak shares between its tasks.
struct Shared {
    base: Mutex<String>,
    token: String,
    stop: AtomicBool,
    /// Acknowledged reports: (id, service slug index).
    acked: Mutex<Vec<(i64, usize)>>,
    sent: AtomicU64,
    counted: AtomicU64,
    stored: AtomicU64,
    refused: AtomicU64,
    unanswered: AtomicU64,
    pages: AtomicU64,
    page_errors: AtomicU64,
    page_unanswered: AtomicU64,
    latest_event: AtomicU64,
    next_address: AtomicU64,
}

impl Shared {
    fn base(&self) -> String {
        self.base.lock().map(|b| b.clone()).unwrap_or_default()
    }
}

/// One import: its service, its lines, and whether the server acknowledged it.
#[derive(Debug, Clone)]
struct ImportRecord {
    slug: String,
    lines: usize,
    acknowledged: bool,
}

async fn soak(opts: &SoakOptions) -> anyhow::Result<SoakReport> {
    let token = format!("soak-{:016x}", rand::thread_rng().gen::<u64>());
    let receiver = Receiver::start(opts.max_failures_per_alert).await?;
    let mut server = tokio::task::block_in_place(|| Server::start(opts, &token, opts.bind.port()))?;
    let port = server.port;
    let shared = Arc::new(Shared {
        base: Mutex::new(format!("http://{}", SocketAddr::new(opts.bind.ip(), port))),
        token,
        stop: AtomicBool::new(false),
        acked: Mutex::new(Vec::new()),
        sent: AtomicU64::new(0),
        counted: AtomicU64::new(0),
        stored: AtomicU64::new(0),
        refused: AtomicU64::new(0),
        unanswered: AtomicU64::new(0),
        pages: AtomicU64::new(0),
        page_errors: AtomicU64::new(0),
        page_unanswered: AtomicU64::new(0),
        latest_event: AtomicU64::new(0),
        next_address: AtomicU64::new(1),
    });
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .no_proxy()
        .build()?;
    let (webhook_id, secret) = set_up(&client, &shared, &receiver.url).await?;
    receiver.set_secret(secret);

    let began = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let workers = 4usize;
    for w in 0..workers {
        let pause = Duration::from_secs_f64(workers as f64 / opts.reports_per_sec);
        tasks.spawn(report_load(client.clone(), shared.clone(), pause, w));
    }
    tasks.spawn(page_load(client.clone(), shared.clone()));
    tasks.spawn(pings(client.clone(), shared.clone(), webhook_id));
    let imports: Arc<Mutex<Vec<ImportRecord>>> = Arc::default();
    let mut import_tasks = tokio::task::JoinSet::new();
    import_tasks.spawn(import(client.clone(), shared.clone(), imports.clone(), 0));

    let mut memory = Vec::new();
    let mut kills = Vec::new();
    let mut life = 0usize;
    let mut next_kill = began + opts.kill_every;
    let mut next_sample = began + SAMPLE_EVERY / 2;
    let end = began + opts.duration;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        let wake = next_kill.min(next_sample).min(end);
        tokio::time::sleep(wake.saturating_duration_since(now)).await;
        let now = Instant::now();
        if now >= next_sample {
            if let Some(rss_kib) = server.rss_kib() {
                memory.push(MemorySample {
                    at: now - began,
                    life,
                    age: now - server.started,
                    rss_kib,
                });
            }
            next_sample += SAMPLE_EVERY;
        }
        if now >= next_kill && now < end {
            server.kill()?;
            kills.push(Instant::now());
            life += 1;
            server = tokio::task::block_in_place(|| Server::restart(opts, &shared.token, port))?;
            next_kill += opts.kill_every;
            import_tasks.spawn(import(
                client.clone(),
                shared.clone(),
                imports.clone(),
                life,
            ));
        }
    }
    let duration = began.elapsed();
    shared.stop.store(true, Ordering::SeqCst);
    while tasks.join_next().await.is_some() {}
    while import_tasks.join_next().await.is_some() {}

    // Drain: no load and no kills until the outbox is empty.
    let db = opts.dir.join("soak.db");
    let drain_began = Instant::now();
    loop {
        let pending = tokio::task::block_in_place(|| pending_deliveries(&db))?;
        if pending == 0 || drain_began.elapsed() >= opts.drain {
            break;
        }
        let now = Instant::now();
        if now >= next_sample {
            if let Some(rss_kib) = server.rss_kib() {
                memory.push(MemorySample {
                    at: now - began,
                    life,
                    age: now - server.started,
                    rss_kib,
                });
            }
            next_sample += SAMPLE_EVERY;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let drained_in = drain_began.elapsed();
    // The last life ends as the others did: acknowledged means on disk.
    server.kill()?;
    kills.push(Instant::now());

    let imports = imports.lock().map(|i| i.clone()).unwrap_or_default();
    let (mut report, queued) =
        tokio::task::block_in_place(|| check_database(&db, &shared, &imports))?;
    receiver.judge(&mut report, &queued, &kills);
    report.duration = duration;
    report.drained_in = drained_in;
    report.kills = kills.len();
    report.reports_sent = shared.sent.load(Ordering::Relaxed);
    report.acknowledged_counted = shared.counted.load(Ordering::Relaxed);
    report.acknowledged_stored = shared.stored.load(Ordering::Relaxed);
    report.reports_refused = shared.refused.load(Ordering::Relaxed);
    report.reports_unanswered = shared.unanswered.load(Ordering::Relaxed);
    report.page_views = shared.pages.load(Ordering::Relaxed);
    report.page_server_errors = shared.page_errors.load(Ordering::Relaxed);
    report.page_unanswered = shared.page_unanswered.load(Ordering::Relaxed);
    report.flatness = flatness(&memory, WARM_UP);
    report.memory = memory;
    receiver.stop().await;
    Ok(report)
}

/// The live services and the webhook subscription; returns the
/// subscription's id and signing secret.
async fn set_up(
    client: &reqwest::Client,
    shared: &Shared,
    receiver_url: &str,
) -> anyhow::Result<(i64, String)> {
    let base = shared.base();
    for slug in SERVICES {
        let r = client
            .post(format!("{base}/api/v1/services"))
            .bearer_auth(&shared.token)
            .json(&json!({"slug": slug, "name": slug}))
            .send()
            .await?;
        ensure!(
            r.status().as_u16() == 201,
            "creating {slug}: {}",
            r.status()
        );
    }
    let r = client
        .post(format!("{base}/api/v1/webhooks"))
        .bearer_auth(&shared.token)
        .json(&json!({"url": format!("{receiver_url}/hook"), "format": "generic"}))
        .send()
        .await?;
    ensure!(
        r.status().as_u16() == 201,
        "subscribing the receiver: {}",
        r.status()
    );
    let body: Value = r.json().await?;
    let id = body["id"].as_i64().context("the webhook's id")?;
    let secret = body["secret"].as_str().context("the webhook's secret")?;
    Ok((id, secret.to_owned()))
}

/// A client address for the next report: IPv4 from 198.18.0.0/15 or IPv6
/// from 2001:db8::/32 (a new /48 each), a new one each time but for one in
/// ten, which repeats a recent one (a reporter reporting again).
fn next_address(shared: &Shared) -> IpAddr {
    let mut rng = rand::thread_rng();
    let issued = shared.next_address.fetch_add(1, Ordering::Relaxed);
    let n = if rng.gen_bool(0.1) && issued > 1 {
        rng.gen_range(issued.saturating_sub(200).max(1)..issued)
    } else {
        issued
    };
    if n % 2 == 0 {
        let k = (n / 2) as u32 % (1 << 17);
        IpAddr::V4(Ipv4Addr::from(0xC612_0000u32 | k))
    } else {
        let k = n / 2;
        // A new /48 each (the per-/48 limit is 100 a minute).
        IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0x0db8,
            k as u16,
            (k >> 16) as u16,
            0,
            0,
            0,
            1,
        ))
    }
}

async fn report_load(client: reqwest::Client, shared: Arc<Shared>, pause: Duration, worker: usize) {
    let mut tick = tokio::time::interval(pause);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n = worker;
    while !shared.stop.load(Ordering::Relaxed) {
        tick.tick().await;
        n += 1;
        let service = n % SERVICES.len();
        let error_code = [500, 502, 503, 529][n % 4];
        let region = ["GB", "US", "DE", "JP", "BR"][n % 5];
        let body = json!({
            "service": SERVICES[service],
            "category": CATEGORIES[(n / SERVICES.len()) % CATEGORIES.len()],
            "error_code": error_code,
            "region": region,
        });
        shared.sent.fetch_add(1, Ordering::Relaxed);
        let sent = client
            .post(format!("{}/api/v1/reports", shared.base()))
            .header("x-forwarded-for", next_address(&shared).to_string())
            .json(&body)
            .send()
            .await;
        let r = match sent {
            Ok(r) => r,
            Err(_) => {
                shared.unanswered.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let status = r.status().as_u16();
        let id = match r.json::<Value>().await {
            Ok(v) => v["id"].as_i64(),
            Err(_) => None,
        };
        match (status, id) {
            (202, Some(id)) | (200, Some(id)) => {
                if let Ok(mut acked) = shared.acked.lock() {
                    acked.push((id, service));
                }
                let counter = if status == 202 {
                    &shared.counted
                } else {
                    &shared.stored
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
            (202 | 200, None) => {
                // The answer was cut off by a kill before its body arrived.
                shared.unanswered.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                shared.refused.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

async fn page_load(client: reqwest::Client, shared: Arc<Shared>) {
    let mut i = 0usize;
    while !shared.stop.load(Ordering::Relaxed) {
        let event = shared.latest_event.load(Ordering::Relaxed);
        let path = PAGES[i % PAGES.len()];
        i += 1;
        if path.contains("{event}") && event == 0 {
            continue;
        }
        let path = path.replace("{event}", &event.to_string());
        match client.get(format!("{}{path}", shared.base())).send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                shared.pages.fetch_add(1, Ordering::Relaxed);
                if status >= 500 {
                    shared.page_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(path, status, "a page answered with a server error");
                }
                if path == "/api/v1/events" {
                    if let Ok(v) = r.json::<Value>().await {
                        if let Some(id) = v["events"][0]["id"].as_u64() {
                            shared.latest_event.store(id, Ordering::Relaxed);
                        }
                    }
                } else {
                    let _ = r.bytes().await;
                }
            }
            Err(_) => {
                shared.page_unanswered.fetch_add(1, Ordering::Relaxed);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A test message every 30 seconds, so alerts flow between outages.
async fn pings(client: reqwest::Client, shared: Arc<Shared>, webhook: i64) {
    while !shared.stop.load(Ordering::Relaxed) {
        let _ = client
            .post(format!("{}/api/v1/webhooks/{webhook}/test", shared.base()))
            .bearer_auth(&shared.token)
            .send()
            .await;
        for _ in 0..30 {
            if shared.stop.load(Ordering::Relaxed) {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// A new service with three hours of history: quiet, with a burst of 150
/// reports a minute either in the last closed minutes (an outage opens) or
/// an hour ago (an outage opens and resolves within the replay).
async fn import(
    client: reqwest::Client,
    shared: Arc<Shared>,
    imports: Arc<Mutex<Vec<ImportRecord>>>,
    life: usize,
) {
    let base = shared.base();
    let slug = format!("imported-{life}");
    let created = client
        .post(format!("{base}/api/v1/services"))
        .bearer_auth(&shared.token)
        .json(&json!({"slug": slug, "name": slug}))
        .send()
        .await;
    if !created.is_ok_and(|r| r.status().as_u16() == 201) {
        return;
    }
    let now = chrono::Utc::now().timestamp() / 60 * 60;
    let burst = if life % 2 == 0 { 4..=5 } else { 48..=50 };
    let mut body = String::new();
    let mut lines = 0;
    for m in (4..180i64).rev() {
        let n = if burst.contains(&m) {
            150
        } else {
            usize::from(m % 2 == 0)
        };
        for k in 0..n {
            let Some(t) = chrono::DateTime::from_timestamp(now - m * 60 + (k % 60) as i64, 0)
            else {
                continue;
            };
            let _ = writeln!(
                body,
                "{{\"service\":\"{slug}\",\"category\":\"{}\",\"at\":\"{}\"}}",
                CATEGORIES[k % CATEGORIES.len()],
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
            lines += 1;
        }
    }
    let answer = client
        .post(format!("{base}/api/v1/admin/import"))
        .bearer_auth(&shared.token)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await;
    let acknowledged = match answer {
        Ok(r) if r.status().as_u16() == 200 => r
            .json::<Value>()
            .await
            .ok()
            .and_then(|v| v["imported"].as_u64())
            .is_some_and(|n| n as usize == lines),
        _ => false,
    };
    if let Ok(mut imports) = imports.lock() {
        imports.push(ImportRecord {
            slug,
            lines,
            acknowledged,
        });
    }
}

fn open_database(db: &Path) -> anyhow::Result<rusqlite::Connection> {
    let conn =
        rusqlite::Connection::open(db).with_context(|| format!("opening {}", db.display()))?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

fn pending_deliveries(db: &Path) -> anyhow::Result<i64> {
    let conn = open_database(db)?;
    Ok(conn.query_row(
        "SELECT count(*) FROM deliveries WHERE status = 'pending'",
        [],
        |r| r.get(0),
    )?)
}

/// Compares what the server acknowledged and queued with the database, once
/// the last server is gone; returns the report so far and the `webhook-id`
/// of every alert queued.
fn check_database(
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

/// How the receiver answered one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Success,
    Failure,
    Hang,
}

#[derive(Debug, Clone)]
struct Arrival {
    id: String,
    at: Instant,
    answer: Answer,
    signed: bool,
}

#[derive(Default)]
struct ReceiverLog {
    arrivals: Vec<Arrival>,
    failures: HashMap<String, u32>,
    secret: String,
}

/// The webhook receiver inside the soak: a real HTTP server on loopback.
struct Receiver {
    url: String,
    log: Arc<Mutex<ReceiverLog>>,
    handle: actix_web::dev::ServerHandle,
}

impl Receiver {
    async fn start(max_failures: u32) -> anyhow::Result<Receiver> {
        use actix_web::{web, App, HttpServer};
        let log: Arc<Mutex<ReceiverLog>> = Arc::default();
        let state = web::Data::new((log.clone(), max_failures));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .default_service(web::to(receive))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .context("binding the receiver")?;
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Receiver {
            url: format!("http://127.0.0.1:{port}"),
            log,
            handle,
        })
    }

    fn set_secret(&self, secret: String) {
        if let Ok(mut log) = self.log.lock() {
            log.secret = secret;
        }
    }

    async fn stop(self) {
        self.handle.stop(false).await;
    }

    /// Fills in the alerts' side of the report: what arrived, what arrived
    /// again after a success (other than in the moment before a kill, when
    /// the server may have died between the answer and recording it, which
    /// is what at-least-once allows), and the signatures.
    fn judge(&self, report: &mut SoakReport, queued: &[String], kills: &[Instant]) {
        let Ok(log) = self.log.lock() else { return };
        let mut succeeded: HashMap<&str, Instant> = HashMap::new();
        let mut duplicates = 0;
        for a in &log.arrivals {
            if !a.signed {
                report.bad_signatures += 1;
            }
            match a.answer {
                Answer::Failure => report.attempts_failed += 1,
                Answer::Hang => report.attempts_hung += 1,
                Answer::Success => {}
            }
            if let Some(&first) = succeeded.get(a.id.as_str()) {
                let killed_between = kills
                    .iter()
                    .any(|&k| k >= first && k <= first + Duration::from_secs(1) && k <= a.at);
                if !killed_between {
                    duplicates += 1;
                }
            } else if a.answer == Answer::Success {
                succeeded.insert(a.id.as_str(), a.at);
            }
        }
        report.attempts_received = log.arrivals.len();
        report.duplicates_after_success = duplicates;
        let arrived: HashSet<&str> = log.arrivals.iter().map(|a| a.id.as_str()).collect();
        report.alerts_delivered = queued
            .iter()
            .filter(|id| succeeded.contains_key(id.as_str()))
            .count();
        report.alerts_never_arrived = queued
            .iter()
            .filter(|id| !arrived.contains(id.as_str()))
            .count();
    }
}

async fn receive(
    req: actix_web::HttpRequest,
    body: actix_web::web::Bytes,
    state: actix_web::web::Data<(Arc<Mutex<ReceiverLog>>, u32)>,
) -> actix_web::HttpResponse {
    let (log, max_failures) = (&state.0, state.1);
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let id = header("webhook-id");
    let timestamp = header("webhook-timestamp").parse::<i64>().unwrap_or(0);
    let signature = header("webhook-signature");
    let answer = {
        let Ok(mut log) = log.lock() else {
            return actix_web::HttpResponse::InternalServerError().finish();
        };
        let signed = signing::verify(&log.secret, &signature, &id, timestamp, &body);
        let failed = log.failures.get(&id).copied().unwrap_or(0);
        let mut rng = rand::thread_rng();
        // A third of the attempts fail (one in five of those by hanging),
        // but no alert more than `max_failures` times.
        let answer = if failed < max_failures && rng.gen_bool(1.0 / 3.0) {
            if rng.gen_bool(0.2) {
                Answer::Hang
            } else {
                Answer::Failure
            }
        } else {
            Answer::Success
        };
        if answer != Answer::Success {
            *log.failures.entry(id.clone()).or_default() += 1;
        }
        log.arrivals.push(Arrival {
            id,
            at: Instant::now(),
            answer,
            signed,
        });
        answer
    };
    match answer {
        Answer::Success => actix_web::HttpResponse::NoContent().finish(),
        Answer::Failure => actix_web::HttpResponse::ServiceUnavailable().finish(),
        Answer::Hang => {
            tokio::time::sleep(SERVER_WEBHOOK_TIMEOUT + Duration::from_secs(5)).await;
            actix_web::HttpResponse::ServiceUnavailable().finish()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(bind: &str) -> SoakOptions {
        SoakOptions {
            binary: PathBuf::from("downwave"),
            dir: std::env::temp_dir().join(format!("soak-options-{}", std::process::id())),
            bind: bind.parse().unwrap(),
            duration: Duration::from_secs(60),
            kill_every: Duration::from_secs(120),
            reports_per_sec: 50.0,
            drain: Duration::from_secs(60),
            max_failures_per_alert: 2,
        }
    }

    #[test]
    fn only_loopback_is_a_target() {
        for bind in ["127.0.0.1:0", "127.8.9.10:8080", "[::1]:0"] {
            assert!(options(bind).check().is_ok(), "{bind}");
        }
        for bind in [
            "0.0.0.0:0",
            "192.168.1.10:8080",
            "10.0.0.1:80",
            "[::]:0",
            "[2001:db8::1]:80",
        ] {
            let e = options(bind).check().unwrap_err();
            assert!(
                e.to_string().contains("not a loopback address"),
                "{bind}: {e}"
            );
        }
    }

    fn samples(rss: &[u64]) -> Vec<MemorySample> {
        rss.iter()
            .enumerate()
            .map(|(i, &rss_kib)| MemorySample {
                at: Duration::from_secs(30 + 60 * i as u64),
                life: i / 2,
                age: Duration::from_secs(30 + 60 * (i as u64 % 2)),
                rss_kib,
            })
            .collect()
    }

    #[test]
    fn memory_is_flat_when_its_trend_stays_under_a_tenth_of_its_median() {
        // Warm-up (here the first four minutes) may climb; after it, noise only.
        let warm_up = Duration::from_secs(4 * 60);
        let flat = samples(&[
            10_000, 20_000, 30_000, 30_000, 31_000, 29_500, 30_500, 30_200, 29_800,
        ]);
        let f = flatness(&flat, warm_up).unwrap();
        assert_eq!(f.samples, 5);
        assert!(f.flat, "{f:?}");
        // A steady climb of 1 MiB a minute is growth.
        let climbing: Vec<u64> = (0..20).map(|i| 30_000 + 1024 * i).collect();
        let f = flatness(&samples(&climbing), warm_up).unwrap();
        assert!(!f.flat, "{f:?}");
        assert!((f.slope_kib_per_min - 1024.0).abs() < 1.0);
        assert!(flatness(&samples(&[1, 2, 3, 4, 5]), warm_up).is_none());
    }

    #[test]
    fn report_addresses_span_many_networks_of_the_documentation_ranges() {
        let shared = Shared {
            base: Mutex::new(String::new()),
            token: String::new(),
            stop: AtomicBool::new(false),
            acked: Mutex::new(Vec::new()),
            sent: AtomicU64::new(0),
            counted: AtomicU64::new(0),
            stored: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            unanswered: AtomicU64::new(0),
            pages: AtomicU64::new(0),
            page_errors: AtomicU64::new(0),
            page_unanswered: AtomicU64::new(0),
            latest_event: AtomicU64::new(0),
            next_address: AtomicU64::new(1),
        };
        let v4: ipnet::IpNet = "198.18.0.0/15".parse().unwrap();
        let v6: ipnet::IpNet = "2001:db8::/32".parse().unwrap();
        let mut networks = HashSet::new();
        for _ in 0..10_000 {
            let a = next_address(&shared);
            assert!(v4.contains(&a) || v6.contains(&a), "{a}");
            networks.insert(crate::domain::ClientAddr::new(a).network(crate::domain::Scope::Site));
        }
        assert!(networks.len() > 1000, "{} networks", networks.len());
    }
}
