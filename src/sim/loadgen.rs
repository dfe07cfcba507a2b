//! `downwave loadgen`: drives a running server over HTTP/1.1 keep-alive
//! connections and reports throughput, latency percentiles and status codes.
//!
//! Closed loop (as fast as the server answers) by default; with a rate, open
//! loop: each connection sends on a fixed schedule and latency is measured
//! from the *scheduled* send time, so a stalled server cannot hide its stalls
//! (no coordinated omission).
//!
//! Report load gives every request its own client address in
//! `X-Forwarded-For` (one IPv6 /64 from the documentation prefix
//! 2001:db8::/32 each), so a server that trusts the load generator as a proxy
//! neither rate-limits nor de-duplicates it. Those addresses only ever appear
//! in a header; the only traffic is to the target URL.
//!
//! Page load (a [`Target::Visit`]) asks for a page and what it loads, in
//! turn on one connection, with the `Accept-Encoding` a browser sends.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `POST /api/v1/reports`
    Reports,
    /// `GET /healthz`
    Healthz,
    /// A browser's visit: a `GET` of each path (with its query) in turn on
    /// one connection, with `Accept-Encoding: gzip, br` as browsers send
    /// it. A visit counts as one request: its latency runs to the last
    /// answer, and its status is the first that is neither 2xx nor 304 (or
    /// the last one).
    Visit(Vec<String>),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Reports => f.pad("reports"),
            Target::Healthz => f.pad("healthz"),
            Target::Visit(paths) => match paths.as_slice() {
                [] => f.pad("(nothing)"),
                [one] => f.pad(one),
                [first, rest @ ..] => f.pad(&format!("{first} +{}", rest.len())),
            },
        }
    }
}

#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Host and port of the server, e.g. `127.0.0.1:8080`.
    pub addr: String,
    pub target: Target,
    pub connections: usize,
    pub duration: Duration,
    /// Total requests per second across all connections; `None` = closed loop.
    pub rate: Option<f64>,
    /// The service reports are about.
    pub service: String,
    /// Categories cycled through in reports.
    pub categories: Vec<String>,
    /// Load threads, each with its own share of the connections.
    pub threads: usize,
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct LoadReport {
    pub target: Target,
    pub requests: u64,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub statuses: BTreeMap<u16, u64>,
    /// Requests that got no HTTP answer (connection refused, reset...).
    pub transport_errors: u64,
}

impl LoadReport {
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Answers with a 2xx status, per second.
    pub fn ok_rate(&self) -> f64 {
        let ok: u64 = self
            .statuses
            .iter()
            .filter(|(s, _)| (200..300).contains(*s))
            .map(|(_, n)| n)
            .sum();
        ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(s, n)| format!("{s}={n}"))
            .collect();
        write!(
            f,
            "{:<8} {:>9} req {:>10.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>8.2} ms  {}{}",
            self.target,
            self.requests,
            self.rate(),
            ms(self.p50),
            ms(self.p99),
            ms(self.max),
            statuses.join(" "),
            if self.transport_errors > 0 {
                format!(" transport_errors={}", self.transport_errors)
            } else {
                String::new()
            }
        )
    }
}

/// Numbers each report's client so every request is a new reporter. Starts
/// from the clock, so that runs against the same database do not reuse
/// clients (2^32 of them before the numbers wrap).
static NEXT_CLIENT: AtomicU64 = AtomicU64::new(0);

/// Starts the client numbers from the clock, once per process, so runs
/// against the same server use new addresses.
fn seed_clients() {
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_micros() as u64);
    // Only the first run's value sticks.
    let _ = NEXT_CLIENT.compare_exchange(0, start, Ordering::Relaxed, Ordering::Relaxed);
}

/// Client numbers a connection takes at once, so that connections on
/// different threads do not contend for the counter on every request.
const CLIENT_BLOCK: u64 = 4096;

/// One connection's supply of client numbers.
#[derive(Default)]
struct Clients {
    next: u64,
    end: u64,
}

impl Clients {
    fn next(&mut self) -> u64 {
        if self.next == self.end {
            self.next = NEXT_CLIENT.fetch_add(CLIENT_BLOCK, Ordering::Relaxed);
            self.end = self.next + CLIENT_BLOCK;
        }
        self.next += 1;
        (self.next - 1) & 0xffff_ffff
    }
}

struct ConnResult {
    latencies_us: Vec<u32>,
    statuses: BTreeMap<u16, u64>,
    transport_errors: u64,
}

/// Runs the load and waits for it to finish.
///
/// Like wrk, each load thread runs its own single-threaded runtime with its
/// share of the connections, and each connection is one task that drives
/// its HTTP connection itself: no work stealing and no hand-off between
/// tasks per request, so the generator spends as little as it can of the
/// machine it shares with the server.
pub fn run(opts: &LoadOptions) -> anyhow::Result<LoadReport> {
    // Each connection builds its own template; building one here first
    // refuses a bad address before any load thread starts.
    for addr in opts.addr.split(',') {
        let mut one = opts.clone();
        one.addr = addr.to_owned();
        Template::new(&one)?;
    }
    seed_clients();
    let opts = Arc::new(opts.clone());
    let started = Instant::now();
    let deadline = started + opts.duration;
    let per_conn_interval = opts
        .rate
        .map(|r| Duration::from_secs_f64(opts.connections as f64 / r.max(0.001)));
    let threads = opts.threads.clamp(1, opts.connections.max(1));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let opts = opts.clone();
            std::thread::Builder::new()
                .name(format!("loadgen-{t}"))
                .spawn(move || -> anyhow::Result<Vec<ConnResult>> {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    rt.block_on(async {
                        let tasks = (t..opts.connections)
                            .step_by(threads)
                            .map(|i| {
                                // Several addresses (the nodes of one
                                // deployment): connections take them in turn.
                                let addrs: Vec<&str> = opts.addr.split(',').collect();
                                let mut own = (*opts).clone();
                                own.addr = addrs[i % addrs.len()].to_owned();
                                let opts = Arc::new(own);
                                let template = Template::new(&opts)?;
                                // Spread the open-loop schedules so that
                                // connections do not fire together.
                                let offset = per_conn_interval
                                    .map(|iv| iv.mul_f64(i as f64 / opts.connections as f64))
                                    .unwrap_or_default();
                                Ok(tokio::spawn(async move {
                                    let first_send = started + offset;
                                    drive(&opts, template, first_send, per_conn_interval, deadline)
                                        .await
                                }))
                            })
                            .collect::<anyhow::Result<Vec<_>>>()?;
                        let mut results = Vec::with_capacity(tasks.len());
                        for task in tasks {
                            results.push(task.await?);
                        }
                        Ok(results)
                    })
                })
        })
        .collect::<Result<_, _>>()?;
    let mut latencies = Vec::new();
    let mut statuses = BTreeMap::new();
    let mut transport_errors = 0;
    for worker in workers {
        let results = worker
            .join()
            .map_err(|_| anyhow::anyhow!("a load thread panicked"))??;
        for r in results {
            latencies.extend(r.latencies_us);
            for (s, n) in r.statuses {
                *statuses.entry(s).or_default() += n;
            }
            transport_errors += r.transport_errors;
        }
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let pick = |q: f64| -> Duration {
        if latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((latencies.len() as f64 - 1.0) * q).round() as usize;
        Duration::from_micros(latencies[i] as u64)
    };
    Ok(LoadReport {
        target: opts.target.clone(),
        requests: latencies.len() as u64,
        elapsed,
        p50: pick(0.50),
        p99: pick(0.99),
        max: pick(1.0),
        statuses,
        transport_errors,
    })
}

async fn drive(
    opts: &LoadOptions,
    template: Template,
    first_send: Instant,
    interval: Option<Duration>,
    deadline: Instant,
) -> ConnResult {
    let mut out = ConnResult {
        latencies_us: Vec::with_capacity(1 << 14),
        statuses: BTreeMap::new(),
        transport_errors: 0,
    };
    let mut clients = Clients::default();
    let mut conn = None;
    let mut scheduled = first_send;
    let mut n: u64 = 0;
    loop {
        if interval.is_some() {
            if scheduled >= deadline {
                break;
            }
            tokio::time::sleep_until(scheduled.into()).await;
        } else if Instant::now() >= deadline {
            break;
        }
        let t0 = if interval.is_some() {
            scheduled
        } else {
            Instant::now()
        };
        if conn.is_none() {
            conn = connect(&opts.addr).await;
            if conn.is_none() {
                out.transport_errors += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        }
        let Some((sender, connection)) = conn.as_mut() else {
            continue;
        };
        let mut answer = None;
        for step in 0..template.steps() {
            let req = template.request(&mut clients, n, step);
            // This task drives the connection while it waits for the answer.
            let status = tokio::select! {
                biased;
                status = send(sender, req) => status,
                _ = &mut *connection => None,
            };
            let Some(status) = status else {
                answer = None;
                break;
            };
            answer = Some(visit_status(answer, status));
        }
        n += 1;
        match answer {
            Some(status) => {
                let us = t0.elapsed().as_micros().min(u32::MAX as u128) as u32;
                out.latencies_us.push(us);
                *out.statuses.entry(status).or_default() += 1;
            }
            None => {
                out.transport_errors += 1;
                conn = None;
            }
        }
        if let Some(iv) = interval {
            scheduled += iv;
        }
    }
    out
}

/// A visit's status so far, given its next answer: the first that is
/// neither a success nor a `304` sticks.
fn visit_status(so_far: Option<u16>, next: u16) -> u16 {
    match so_far {
        Some(s) if !((200..300).contains(&s) || s == 304) => s,
        _ => next,
    }
}

pub(crate) type Sender = http1::SendRequest<Full<Bytes>>;
pub(crate) type Connection = http1::Connection<TokioIo<tokio::net::TcpStream>, Full<Bytes>>;

/// An HTTP/1.1 connection to `addr`, or why there is none.
pub(crate) async fn try_connect(addr: &str) -> std::io::Result<(Sender, Connection)> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let _ = stream.set_nodelay(true);
    http1::handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)
}

async fn connect(addr: &str) -> Option<(Sender, Connection)> {
    try_connect(addr).await.ok()
}

async fn send(s: &mut Sender, req: Request<Full<Bytes>>) -> Option<u16> {
    s.ready().await.ok()?;
    let resp = s.send_request(req).await.ok()?;
    let status = resp.status().as_u16();
    // Read the body to its end without keeping it.
    let mut body = resp.into_body();
    while let Some(frame) = body.frame().await {
        frame.ok()?;
    }
    Some(status)
}

/// What every request of one connection shares, made once per connection
/// (so that connections on different threads share no reference counts):
/// the parsed paths and host, and for reports a body per category and code.
struct Template {
    target: Target,
    uris: Vec<hyper::Uri>,
    host: HeaderValue,
    bodies: Vec<Bytes>,
}

/// The error codes reports cycle through.
const ERROR_CODES: [u16; 3] = [529, 500, 500];

/// What a browser says it can decode; the server answers precompressed.
const BROWSER_ENCODINGS: HeaderValue = HeaderValue::from_static("gzip, br");

impl Template {
    fn new(opts: &LoadOptions) -> anyhow::Result<Self> {
        let host = HeaderValue::from_str(&opts.addr)
            .map_err(|_| anyhow::anyhow!("'{}' cannot be a Host header", opts.addr))?;
        let categories: Vec<&str> = if opts.categories.is_empty() {
            vec!["other"]
        } else {
            opts.categories.iter().map(String::as_str).collect()
        };
        // Request n uses category n % c and code n % 3: a body per pair.
        let combos = categories.len() * ERROR_CODES.len();
        let bodies = (0..combos)
            .map(|n| {
                Bytes::from(format!(
                    r#"{{"service":"{}","category":"{}","error_code":{}}}"#,
                    opts.service,
                    categories[n % categories.len()],
                    ERROR_CODES[n % ERROR_CODES.len()]
                ))
            })
            .collect();
        let uris = match &opts.target {
            Target::Healthz => vec![hyper::Uri::from_static("/healthz")],
            Target::Reports => vec![hyper::Uri::from_static("/api/v1/reports")],
            Target::Visit(paths) => paths
                .iter()
                .map(|p| {
                    p.parse()
                        .map_err(|_| anyhow::anyhow!("'{p}' cannot be a request's path"))
                })
                .collect::<anyhow::Result<_>>()?,
        };
        anyhow::ensure!(!uris.is_empty(), "a visit asks for at least one path");
        Ok(Template {
            target: opts.target.clone(),
            uris,
            host,
            bodies,
        })
    }

    /// Requests one visit (or report, or health check) makes.
    fn steps(&self) -> usize {
        self.uris.len()
    }

    /// Step `step` of the `n`th request of this connection.
    fn request(&self, clients: &mut Clients, n: u64, step: usize) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(Bytes::new()));
        *req.uri_mut() = self.uris[step % self.uris.len()].clone();
        req.headers_mut().insert(header::HOST, self.host.clone());
        match self.target {
            Target::Reports => {
                *req.method_mut() = Method::POST;
                let body = &self.bodies[(n % self.bodies.len() as u64) as usize];
                *req.body_mut() = Full::new(body.clone());
                let headers = req.headers_mut();
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                headers.insert(X_FORWARDED_FOR, forwarded_for(clients.next()));
            }
            Target::Visit(_) => {
                req.headers_mut()
                    .insert(header::ACCEPT_ENCODING, BROWSER_ENCODINGS);
            }
            Target::Healthz => {}
        }
        req
    }
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// A documentation-prefix IPv6 address of its own /64 for each client.
/// Consecutive clients are in different /48s, so that each /48 sees one
/// request in 65,536 and stays far below its own rate limit.
fn forwarded_for(client: u64) -> HeaderValue {
    let addr = format!(
        "2001:db8:{:x}:{:x}::1",
        client & 0xffff,
        (client >> 16) & 0xffff
    );
    // Hex digits and colons only: always a valid header value.
    HeaderValue::try_from(addr).unwrap_or_else(|_| unreachable!("an IPv6 address is visible ASCII"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(addr: &str) -> LoadOptions {
        LoadOptions {
            addr: addr.to_string(),
            target: Target::Reports,
            connections: 2,
            duration: Duration::from_millis(50),
            rate: None,
            service: "claude".into(),
            categories: vec!["login".into()],
            threads: 2,
        }
    }

    #[test]
    fn an_address_that_cannot_be_a_host_header_is_an_error() {
        let err = run(&options("127.0.0.1:8080\n")).unwrap_err();
        assert!(err.to_string().contains("cannot be a Host header"), "{err}");
    }

    #[test]
    fn every_report_request_names_a_new_client_and_cycles_the_bodies() {
        let template = Template::new(&options("127.0.0.1:8080")).unwrap();
        let mut clients = Clients::default();
        let a = template.request(&mut clients, 0, 0);
        let b = template.request(&mut clients, 1, 0);
        assert_eq!(a.method(), Method::POST);
        assert_eq!(a.uri().path(), "/api/v1/reports");
        assert_ne!(a.headers()[X_FORWARDED_FOR], b.headers()[X_FORWARDED_FOR]);
        let addr: std::net::Ipv6Addr = a.headers()[X_FORWARDED_FOR]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(addr.segments()[..2], [0x2001, 0xdb8]);
        assert_eq!(template.bodies.len(), ERROR_CODES.len());
    }

    #[test]
    fn a_visit_asks_for_each_path_as_a_browser_and_keeps_the_first_failure() {
        let mut opts = options("127.0.0.1:8080");
        opts.target = Target::Visit(vec!["/s/claude?range=7d".into(), "/static/app.css".into()]);
        let template = Template::new(&opts).unwrap();
        assert_eq!(template.steps(), 2);
        let mut clients = Clients::default();
        let page = template.request(&mut clients, 0, 0);
        let css = template.request(&mut clients, 0, 1);
        assert_eq!(page.method(), Method::GET);
        assert_eq!(page.uri(), "/s/claude?range=7d");
        assert_eq!(css.uri(), "/static/app.css");
        assert_eq!(page.headers()[header::ACCEPT_ENCODING], "gzip, br");
        assert!(!page.headers().contains_key(X_FORWARDED_FOR));
        assert_eq!(visit_status(None, 200), 200);
        assert_eq!(visit_status(Some(304), 200), 200);
        assert_eq!(visit_status(Some(503), 200), 503);
        assert_eq!(visit_status(Some(200), 404), 404);
        assert_eq!(
            Target::Visit(vec!["/".into(), "/a".into()]).to_string(),
            "/ +1"
        );
    }
}
