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

mod load;
mod receiver;
mod report;
mod server;
#[cfg(test)]
mod tests;

pub use report::{flatness, Flatness, MemorySample, SoakReport};

use load::{import, page_load, pings, report_load};
use receiver::Receiver;
use report::check_database;
use server::{pending_deliveries, Server};

use anyhow::{ensure, Context};
use rand::Rng;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
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
    fn new(base: String, token: String) -> Self {
        Shared {
            base: Mutex::new(base),
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
        }
    }

    /// Copies what the load counted into the report.
    fn tell(&self, report: &mut SoakReport) {
        report.reports_sent = self.sent.load(Ordering::Relaxed);
        report.acknowledged_counted = self.counted.load(Ordering::Relaxed);
        report.acknowledged_stored = self.stored.load(Ordering::Relaxed);
        report.reports_refused = self.refused.load(Ordering::Relaxed);
        report.reports_unanswered = self.unanswered.load(Ordering::Relaxed);
        report.page_views = self.pages.load(Ordering::Relaxed);
        report.page_server_errors = self.page_errors.load(Ordering::Relaxed);
        report.page_unanswered = self.page_unanswered.load(Ordering::Relaxed);
    }

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
    let server = tokio::task::block_in_place(|| Server::start(opts, &token, opts.bind.port()))?;
    let port = server.port;
    let shared = Arc::new(Shared::new(
        format!("http://{}", SocketAddr::new(opts.bind.ip(), port)),
        token,
    ));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .no_proxy()
        .build()?;
    let (webhook_id, secret) = set_up(&client, &shared, &receiver.url).await?;
    receiver.set_secret(secret);

    let mut lives = Lives::new(server);
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

    let mut next_kill = lives.began + opts.kill_every;
    let end = lives.began + opts.duration;
    while Instant::now() < end {
        let wake = next_kill.min(lives.next_sample).min(end);
        tokio::time::sleep(wake.saturating_duration_since(Instant::now())).await;
        lives.sample_memory();
        if Instant::now() >= next_kill && Instant::now() < end {
            lives.kill()?;
            lives.server = Some(tokio::task::block_in_place(|| {
                Server::restart(opts, &shared.token, port)
            })?);
            next_kill += opts.kill_every;
            import_tasks.spawn(import(
                client.clone(),
                shared.clone(),
                imports.clone(),
                lives.kills.len(),
            ));
        }
    }
    let duration = lives.began.elapsed();
    shared.stop.store(true, Ordering::SeqCst);
    while tasks.join_next().await.is_some() {}
    while import_tasks.join_next().await.is_some() {}

    let db = opts.dir.join("soak.db");
    let drained_in = drain(&db, opts.drain, &mut lives).await?;
    // The last life ends as the others did: acknowledged means on disk.
    lives.kill()?;

    let imports = imports.lock().map(|i| i.clone()).unwrap_or_default();
    let (mut report, queued) =
        tokio::task::block_in_place(|| check_database(&db, &shared, &imports))?;
    receiver.judge(&mut report, &queued, &lives.kills);
    shared.tell(&mut report);
    report.duration = duration;
    report.drained_in = drained_in;
    report.kills = lives.kills.len();
    report.flatness = flatness(&lives.memory, WARM_UP);
    report.memory = lives.memory;
    receiver.stop().await;
    Ok(report)
}

/// Waits, with no load and no kills, until the outbox is empty or `bound`
/// has passed, still sampling memory; returns how long it took.
async fn drain(db: &Path, bound: Duration, lives: &mut Lives) -> anyhow::Result<Duration> {
    let began = Instant::now();
    loop {
        let pending = tokio::task::block_in_place(|| pending_deliveries(db))?;
        if pending == 0 || began.elapsed() >= bound {
            return Ok(began.elapsed());
        }
        lives.sample_memory();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The server's lives: the one running now, the kills that ended the ones
/// before, and the memory sampled across them.
struct Lives {
    /// None between a kill and the restart.
    server: Option<Server>,
    began: Instant,
    kills: Vec<Instant>,
    memory: Vec<MemorySample>,
    next_sample: Instant,
}

impl Lives {
    fn new(server: Server) -> Self {
        let began = Instant::now();
        Lives {
            server: Some(server),
            began,
            kills: Vec::new(),
            memory: Vec::new(),
            next_sample: began + SAMPLE_EVERY / 2,
        }
    }

    /// Samples the server's resident memory if a sample is due.
    fn sample_memory(&mut self) {
        let now = Instant::now();
        if now < self.next_sample {
            return;
        }
        if let Some(server) = &self.server {
            if let Some(rss_kib) = server.rss_kib() {
                self.memory.push(MemorySample {
                    at: now - self.began,
                    life: self.kills.len(),
                    age: now - server.started,
                    rss_kib,
                });
            }
        }
        self.next_sample += SAMPLE_EVERY;
    }

    /// SIGKILLs the running server.
    fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(server) = self.server.take() {
            server.kill()?;
            self.kills.push(Instant::now());
        }
        Ok(())
    }
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
