//! The live viewers: each is a page left open, as its script behaves. It
//! opens `/live`, loads its page at the first message, and at every later
//! `change` waits a random time up to the spread (the script's
//! `SPREAD_MS`) and asks for its page again with the `ETag` it has. A
//! stream that ends is opened again after the stream's `retry`, as
//! `EventSource` does; a refused one (`503`) is tried again after as long
//! (the script would poll every two seconds instead).
//!
//! The load generator holds a descriptor per stream and one per page in
//! flight, as the server does; when the server is slow, every viewer may
//! be waiting for its page at once. So that the generator's own limit is
//! not what fails, at most `max_fetches` pages are in flight: a viewer past
//! that waits for a place, its wait counted in its time (and the waits
//! counted in the report).
//!
//! [`ViewerCrowd::open`] starts them on the current tokio runtime, a few
//! at a time; the caller decides what changes the board (a real server's
//! minutes, or a test moving its clock) and then asks the crowd to finish
//! once every viewer has had a given generation.

use super::client::{wall_ms, Change, Live, Site};
use super::sse::SseParser;
use super::tally::{Delivery, ViewerLog, ViewerReport};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use rand::Rng;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

/// What `EventSource` waits before reconnecting until a stream says.
const DEFAULT_RETRY: Duration = Duration::from_secs(3);
/// A page that has not arrived by then counts as not had.
const FETCH_LIMIT: Duration = Duration::from_secs(30);
/// A jump of more generations than this is not listed change by change.
const MAX_SKIPPED: u64 = 1000;

#[derive(Debug, Clone)]
pub struct ViewerOptions {
    /// `host:port` of the server.
    pub addr: String,
    /// The service whose page every viewer has open.
    pub slug: String,
    pub viewers: usize,
    /// Streams opened per second while the crowd gathers.
    pub open_per_sec: f64,
    /// Each viewer asks for its page a random time up to this after a
    /// change.
    pub spread: Duration,
    /// Most page fetches in flight at once (each holds a descriptor).
    pub max_fetches: usize,
}

/// How far the crowd has come, for whoever waits on it.
#[derive(Debug, Default)]
struct Progress {
    /// Viewers whose first try at a stream and page is over.
    settled: AtomicUsize,
    with_page: AtomicUsize,
    streams: AtomicUsize,
    fetches: AtomicUsize,
    peak_fetches: AtomicUsize,
    /// Fetches that waited for a place under `max_fetches`.
    fetch_waits: AtomicU64,
    /// The latest generation any viewer heard of.
    latest: AtomicU64,
}

/// What every viewer shares.
struct Shared {
    site: Site,
    spread: Duration,
    fetch_places: Semaphore,
    progress: Progress,
}

/// When to stop: once a viewer has had `generation`, or at `deadline`.
#[derive(Debug, Clone, Copy)]
struct Stop {
    generation: u64,
    deadline: Instant,
}

/// A crowd of viewers at work.
pub struct ViewerCrowd {
    shared: Arc<Shared>,
    stop: watch::Sender<Option<Stop>>,
    tasks: Vec<JoinHandle<ViewerLog>>,
}

/// A glance at the crowd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrowdStatus {
    pub settled: usize,
    pub with_page: usize,
    pub streams: usize,
    pub latest_generation: u64,
}

impl ViewerCrowd {
    /// Starts the viewers on the current runtime, `open_per_sec` of them
    /// a second, and returns at once.
    pub fn open(opts: &ViewerOptions) -> anyhow::Result<ViewerCrowd> {
        anyhow::ensure!(opts.open_per_sec > 0.0, "open viewers at a positive rate");
        anyhow::ensure!(opts.max_fetches > 0, "let at least one page fetch run");
        let shared = Arc::new(Shared {
            site: Site::new(&opts.addr, &opts.slug)?,
            spread: opts.spread,
            fetch_places: Semaphore::new(opts.max_fetches),
            progress: Progress::default(),
        });
        let (stop, _) = watch::channel(None);
        let started = Instant::now();
        let tasks = (0..opts.viewers)
            .map(|i| {
                let viewer = Viewer {
                    shared: shared.clone(),
                    stop: stop.subscribe(),
                    abandoned: false,
                    etag: None,
                    known: None,
                    log: ViewerLog::default(),
                };
                let at = started + Duration::from_secs_f64(i as f64 / opts.open_per_sec);
                tokio::spawn(viewer.run(at))
            })
            .collect();
        Ok(ViewerCrowd {
            shared,
            stop,
            tasks,
        })
    }

    pub fn status(&self) -> CrowdStatus {
        let p = &self.shared.progress;
        CrowdStatus {
            settled: p.settled.load(Ordering::Relaxed),
            with_page: p.with_page.load(Ordering::Relaxed),
            streams: p.streams.load(Ordering::Relaxed),
            latest_generation: p.latest.load(Ordering::Relaxed),
        }
    }

    /// Waits until every viewer has tried its stream and its first page,
    /// or `limit` has passed; then says where the crowd is.
    pub async fn wait_open(&self, limit: Duration) -> CrowdStatus {
        let deadline = Instant::now() + limit;
        while self.status().settled < self.tasks.len() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.status()
    }

    /// Tells every viewer to stop once it has had `generation` (each
    /// finishes what it is doing first), waits at most `limit` for them,
    /// and puts their logs together. Changes after `generation` are left
    /// out of the report.
    pub async fn finish(self, generation: u64, limit: Duration) -> anyhow::Result<ViewerReport> {
        self.stop.send_replace(Some(Stop {
            generation,
            deadline: Instant::now() + limit,
        }));
        let mut logs = Vec::with_capacity(self.tasks.len());
        for task in self.tasks {
            logs.push(task.await?);
        }
        let p = &self.shared.progress;
        let mut report = ViewerReport::of(&logs, generation);
        report.peak_fetches = p.peak_fetches.load(Ordering::Relaxed);
        report.fetch_waits = p.fetch_waits.load(Ordering::Relaxed);
        Ok(report)
    }
}

/// One open page.
struct Viewer {
    shared: Arc<Shared>,
    stop: watch::Receiver<Option<Stop>>,
    /// The crowd was dropped without finishing: stop now.
    abandoned: bool,
    /// The `ETag` of the page it has.
    etag: Option<HeaderValue>,
    /// The latest generation it knows of.
    known: Option<u64>,
    log: ViewerLog,
}

impl Viewer {
    async fn run(mut self, start_at: Instant) -> ViewerLog {
        tokio::select! {
            _ = tokio::time::sleep_until(start_at.into()) => {}
            _ = self.stop.wait_for(Option::is_some) => return self.log,
        }
        let mut retry = DEFAULT_RETRY;
        let mut first_try = true;
        while !self.done() {
            match self.shared.site.open_live().await {
                Ok(Live::Stream(_sender, body)) => {
                    let shared = self.shared.clone();
                    shared.progress.streams.fetch_add(1, Ordering::Relaxed);
                    self.follow(body, &mut retry, &mut first_try).await;
                    shared.progress.streams.fetch_sub(1, Ordering::Relaxed);
                    if !self.done() {
                        self.log.stream_ends += 1;
                    }
                }
                Ok(Live::Refused) => self.log.refused += 1,
                Ok(Live::Answered(status)) => self.log.error(format!("/live answered {status}")),
                Err(e) => self.log.error(format!("opening /live: {e}")),
            }
            if std::mem::take(&mut first_try) {
                self.shared.progress.settled.fetch_add(1, Ordering::Relaxed);
            }
            if self.done() {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(retry) => {}
                _ = self.until_stop() => {}
            }
        }
        self.log
    }

    /// Reads one stream until it ends or the viewer is done.
    async fn follow(&mut self, body: Incoming, retry: &mut Duration, first_try: &mut bool) {
        let mut parser = SseParser::new();
        self.read_stream(body, &mut parser, retry, first_try).await;
        self.log.heartbeats += parser.comments();
    }

    async fn read_stream(
        &mut self,
        mut body: Incoming,
        parser: &mut SseParser,
        retry: &mut Duration,
        first_try: &mut bool,
    ) {
        let mut heard = wall_ms();
        let mut opening = true;
        loop {
            while let Some(event) = parser.next_event() {
                let Some(change) = Change::parse(&event.event, &event.data) else {
                    continue;
                };
                self.on_change(change, heard, std::mem::take(&mut opening))
                    .await;
                if std::mem::take(first_try) {
                    self.shared.progress.settled.fetch_add(1, Ordering::Relaxed);
                }
            }
            if let Some(r) = parser.retry() {
                *retry = r;
            }
            if self.done() {
                return;
            }
            tokio::select! {
                frame = body.frame() => match frame {
                    Some(Ok(frame)) => {
                        heard = wall_ms();
                        if let Some(data) = frame.data_ref() {
                            parser.push(data);
                        }
                    }
                    Some(Err(e)) => {
                        self.log.error(format!("reading /live: {e}"));
                        return;
                    }
                    None => return,
                },
                _ = self.until_stop() => {}
            }
        }
    }

    /// What the script does with a `change` message (`opening`: the first
    /// of a stream, which tells the generation at the time it opened).
    async fn on_change(&mut self, change: Change, heard: f64, opening: bool) {
        let shared = self.shared.clone();
        let progress = &shared.progress;
        progress
            .latest
            .fetch_max(change.generation, Ordering::Relaxed);
        let Some(known) = self.known else {
            // The page loads as its stream opens.
            self.known = Some(change.generation);
            self.log.first_generation = Some(change.generation);
            if self.fetch().await.is_some() {
                self.log.has_page = true;
                progress.with_page.fetch_add(1, Ordering::Relaxed);
            }
            return;
        };
        if change.generation <= known {
            // A stream opened again with nothing new: the script asks
            // anyway, and hears 304.
            if opening {
                self.jitter().await;
                self.fetch().await;
            }
            return;
        }
        self.jitter().await;
        let page = self.fetch().await;
        let done = wall_ms();
        let at = change.at_ms as f64;
        self.log.deliveries.push(Delivery {
            generation: change.generation,
            at_ms: change.at_ms,
            heard_ms: heard - at,
            page_ms: page.map(|_| done - at),
            new_page: page == Some(true),
        });
        if change.generation - known <= MAX_SKIPPED {
            self.log.skipped.extend(known + 1..change.generation);
        }
        self.known = Some(change.generation);
    }

    async fn jitter(&self) {
        let spread = self.shared.spread.as_secs_f64();
        if spread > 0.0 {
            let wait = rand::thread_rng().gen_range(0.0..spread);
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
    }

    /// Asks for the page with the `ETag` it has. `Some(new)` when it has
    /// the page now (`200`, new when its `ETag` changed; or `304`), `None`
    /// when it could not.
    async fn fetch(&mut self) -> Option<bool> {
        let shared = self.shared.clone();
        let progress = &shared.progress;
        let _place = match shared.fetch_places.try_acquire() {
            Ok(place) => place,
            Err(_) => {
                progress.fetch_waits.fetch_add(1, Ordering::Relaxed);
                shared.fetch_places.acquire().await.ok()?
            }
        };
        let now = progress.fetches.fetch_add(1, Ordering::Relaxed) + 1;
        progress.peak_fetches.fetch_max(now, Ordering::Relaxed);
        let answer =
            tokio::time::timeout(FETCH_LIMIT, self.shared.site.fetch_page(self.etag.as_ref()))
                .await;
        progress.fetches.fetch_sub(1, Ordering::Relaxed);
        let page = match answer {
            Ok(Ok(page)) => page,
            Ok(Err(e)) => {
                self.log.error(format!("fetching the page: {e}"));
                return None;
            }
            Err(_) => {
                self.log.error(format!("no page within {FETCH_LIMIT:?}"));
                return None;
            }
        };
        *self.log.statuses.entry(page.status).or_default() += 1;
        match page.status {
            200 => {
                let new = page.etag.is_none() || page.etag != self.etag;
                self.etag = page.etag;
                Some(new)
            }
            304 => Some(false),
            _ => None,
        }
    }

    /// Told to stop, and has had what it was to have (or time is up).
    fn done(&self) -> bool {
        if self.abandoned {
            return true;
        }
        match *self.stop.borrow() {
            None => false,
            Some(stop) => {
                self.known.is_none_or(|k| k >= stop.generation) || Instant::now() >= stop.deadline
            }
        }
    }

    /// Returns when the stop signal changes or its deadline passes.
    async fn until_stop(&mut self) {
        let deadline = self.stop.borrow().map(|s| s.deadline);
        tokio::select! {
            changed = self.stop.changed() => self.abandoned |= changed.is_err(),
            _ = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            } => {}
        }
    }
}
