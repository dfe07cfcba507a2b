//! Startup: builds the server from settings, binds the listener (port 0 in
//! tests), wires the shared state, and shuts down gracefully: stop accepting,
//! finish requests in flight, commit everything queued, return.

use crate::alert::gate::GatePolicy;
use crate::alert::AlertSettings;
use crate::alert::{Dispatcher, DispatcherConfig};
use crate::api::conn_watch::{Connection, ConnectionWatch, WatchedBody};
use crate::api::{self, AppState};
use crate::clock::Clock;
use crate::config::Settings;
use crate::detect::DetectorParams;
use crate::ingest::{GroupCommitWriter, Rate, ReportLimiter, ReporterKey, WriterConfig};
use crate::ingest::{IngestHandle, WriterThreadHandle};
use crate::metrics::{self, Metrics, RouteLabels};
use crate::monitor::{Monitor, MonitorHandle, MonitorThread};
use crate::os;
use crate::store::{self, Catalog, ReadPool};
use crate::web as dashboard;
use crate::web::cache::RenderCache;
use crate::web::live::LiveHub;
use actix_web::body::BoxBody;
use actix_web::dev::{Server, ServerHandle, Service as _};
use actix_web::http::header;
use actix_web::middleware::{Compress, DefaultHeaders};
use actix_web::{web, App, HttpServer};
use anyhow::Context as _;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Instant;

pub struct Application {
    port: u16,
    server: Server,
    /// The writer, stopped after the HTTP server so queued reports are committed.
    writer: WriterThreadHandle,
    /// Delivers the webhook outbox; started by `run`.
    dispatcher: Dispatcher,
    /// The live detector, stopped last so it sees every committed minute.
    monitor: MonitorThread,
    state: web::Data<AppState>,
    /// The live streams, ended first at shutdown.
    live: web::Data<LiveHub>,
    /// Every open connection, swept by `run` for heads sent too slowly.
    connections: Arc<ConnectionWatch>,
}

/// Descriptors held besides the connections: the listener, the database
/// files of the writer, the detector, the dispatcher and every reader (main
/// file, WAL, shared memory), webhook deliveries in flight, the log.
const DESCRIPTORS_BESIDES_CONNECTIONS: u64 = 128;

/// Raises the soft descriptor limit to the hard one when it is below what
/// `max_connections` can take (two descriptors a connection, while the
/// connection watch holds its duplicate), and says at start when even the
/// hard limit is short: past it, new connections fail with `EMFILE` and
/// reads cannot open the database.
fn fit_descriptor_limit(settings: &Settings) {
    let needed = 2 * settings.max_connections as u64
        + 3 * settings.read_connections as u64
        + DESCRIPTORS_BESIDES_CONNECTIONS;
    let limit = os::raise_descriptor_limit(needed);
    if limit.raised() {
        tracing::info!(
            from = limit.soft_before,
            to = limit.soft,
            "raised the soft limit on open descriptors to the hard limit"
        );
    }
    if limit.short() {
        tracing::warn!(
            limit = limit.soft,
            needed,
            max_connections = settings.max_connections,
            "the limit on open descriptors is below what max_connections can take (two \
             per connection); past it new connections fail with EMFILE and pages answer \
             503. Raise the hard limit (ulimit -Hn, systemd LimitNOFILE) or lower \
             max_connections"
        );
    }
}

impl Application {
    /// Opens (or creates) the database, starts the writer and binds the
    /// listener. Serving starts with [`Application::run`].
    pub fn build(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Application> {
        fit_descriptor_limit(&settings);
        let opts = settings.open_options();
        let conn = store::open_writer(&settings.database, &opts)
            .with_context(|| format!("opening the database {}", settings.database))?;
        let secret = store::reporter_secret(&conn)?;
        // The pages' mark before the catalog: a change made elsewhere after
        // this read is picked up by `api::follow_shared_changes`.
        let pages_seen = store::pages_version(&conn)?;
        let services = store::list_services(&conn)?;
        // Today's report partitions exist before the first report, so none
        // lands in the default partition and has to be moved while pages
        // read it (the retention task keeps them ahead after).
        store::make_report_partitions_ahead(&conn, clock.now().timestamp_millis())
            .context("making the report partitions")?;
        let metrics = Arc::new(Metrics::new());
        let (ingest, writer): (IngestHandle, WriterThreadHandle) = GroupCommitWriter::spawn(
            conn,
            WriterConfig {
                queue_capacity: settings.ingest_queue_capacity,
                max_batch: settings.batch_max_reports,
                linger: settings.batch_linger,
                dedup_window: settings.dedup_window,
                dedup_max_reporters: settings.dedup_max_reporters,
                dedup_max_per_address: settings.dedup_max_per_address,
            },
            clock.clone(),
            metrics.clone(),
        )
        .context("starting the writer")?;
        let monitor_conn = store::open_writer(&settings.database, &opts)?;
        let wake = Arc::new(tokio::sync::Notify::new());
        let (monitor, monitor_thread) = Monitor::spawn(
            monitor_conn,
            clock.clone(),
            DetectorParams {
                false_events_per_30_days: settings.false_events_per_30_days,
                ..DetectorParams::default()
            },
            settings.detector_grace,
            settings.import_max_age,
            AlertSettings {
                public_url: settings.public_url.clone(),
                max_age: settings.alert_max_age,
                wake: wake.clone(),
                gate: GatePolicy {
                    min_networks: settings.outage_min_networks,
                    max_share: settings.outage_max_network_share,
                    window_secs: crate::ingest::network_window_secs(settings.dedup_window),
                },
                hold: std::time::Duration::from_secs(settings.alert_hold_minutes * 60),
            },
            settings.incident_settings(),
        )
        .context("starting the detector")?;
        let dispatcher = Dispatcher::new(
            store::open_writer(&settings.database, &opts)?,
            clock.clone(),
            metrics.clone(),
            wake.clone(),
            DispatcherConfig::from(&settings),
        )?;
        let state = web::Data::new(AppState {
            monitor,
            wake,
            catalog: Catalog::new(services),
            pages_seen: std::sync::Mutex::new(pages_seen),
            ingest,
            limiter: ReportLimiter::new(
                Rate {
                    per_minute: settings.rate_limit_per_minute,
                    burst: settings.rate_limit_burst,
                },
                Rate {
                    per_minute: settings.rate_limit_ipv6_48_per_minute,
                    burst: settings.rate_limit_ipv6_48_burst,
                },
            ),
            reporter_key: ReporterKey::new(&secret),
            reads: ReadPool::new(settings.database.clone(), opts, settings.read_connections),
            clock,
            metrics: metrics.clone(),
            settings: settings.clone(),
        });

        let listener = TcpListener::bind(settings.listen)
            .with_context(|| format!("binding {}", settings.listen))?;
        let port = listener.local_addr()?.port();
        let connections = Arc::new(ConnectionWatch::new(
            settings.keep_alive,
            settings.header_read_timeout,
        ));
        let live = web::Data::new(LiveHub::new(
            settings.live_max_connections,
            settings.live_heartbeat,
        ));
        let dashboard = Dashboard {
            live: live.clone(),
            cache: web::Data::new(RenderCache::new(settings.page_cache_max_bytes)),
        };
        let server = serve(
            listener,
            &settings,
            state.clone(),
            dashboard,
            metrics,
            connections.clone(),
        )?;
        Ok(Application {
            port,
            server,
            writer,
            dispatcher,
            monitor: monitor_thread,
            state,
            live,
            connections,
        })
    }

    /// The port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The live detector: tests call `catch_up` after moving their clock.
    pub fn monitor(&self) -> MonitorHandle {
        self.state.monitor.clone()
    }

    /// Stops the server from elsewhere (tests); `stop(true)` is graceful.
    pub fn handle(&self) -> StopHandle {
        StopHandle {
            server: self.server.handle(),
            live: self.live.clone(),
        }
    }

    /// Serves until SIGTERM, Ctrl-C or [`ServerHandle::stop`]; then commits
    /// every queued report before returning.
    pub async fn run(self) -> anyhow::Result<()> {
        let state = self.state.clone();
        let prune_every = state.settings.rate_limit_prune;
        let pruner = tokio::spawn(async move {
            let mut tick = tokio::time::interval(prune_every);
            loop {
                tick.tick().await;
                let left = state.limiter.prune();
                state.metrics.rate_limiter_keys.set(left as i64);
            }
        });
        let (connections, metrics) = (self.connections.clone(), self.state.metrics.clone());
        let streams = self.live.clone();
        let sweeper = tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tick.tick().await;
                let cut = connections.sweep();
                metrics.connections_timed_out.inc_by(cut as u64);
                metrics.http_connections.set(connections.len() as i64);
                metrics.live_streams.set(streams.open() as i64);
            }
        });
        let shared = tokio::spawn(crate::api::follow_shared_changes(self.state.clone()));
        let dispatcher = tokio::spawn(self.dispatcher.run());
        let retention = tokio::spawn(
            crate::retention::Retention {
                database: self.state.settings.database.clone(),
                open: self.state.settings.open_options(),
                days: self.state.settings.report_retention_days,
                detector_days: self.state.settings.detector_minute_retention_days,
                replay_max: self.state.settings.import_max_age,
                dedup_window: self.state.settings.dedup_window,
                clock: self.state.clock.clone(),
                metrics: self.state.metrics.clone(),
            }
            .run(),
        );
        // The server stops itself on these signals; the live streams, which
        // would hold its graceful stop to the end, are ended first.
        let live = self.live.clone();
        let closer = tokio::spawn(async move {
            shutdown_signal().await;
            live.close();
        });
        let served = self.server.await;
        closer.abort();
        pruner.abort();
        sweeper.abort();
        retention.abort();
        shared.abort();
        // An attempt cut short here is retried after the restart (the
        // outbox row stays pending), so nothing is lost.
        dispatcher.abort();
        tracing::info!("HTTP server stopped; committing queued reports");
        let (writer, monitor) = (self.writer, self.monitor);
        tokio::task::spawn_blocking(move || {
            writer.shutdown();
            monitor.shutdown();
        })
        .await
        .context("waiting for the writer")?;
        served.context("serving HTTP")
    }
}

/// The HTTP server on `listener`: the API and the dashboard behind the
/// middleware every request passes (outermost first: the connection watch,
/// default headers, compression, the request-duration metric, the body
/// deadline), with the worker, connection and timeout limits of `settings`.
fn serve(
    listener: TcpListener,
    settings: &Settings,
    state: web::Data<AppState>,
    dashboard: Dashboard,
    metrics: Arc<Metrics>,
    connections: Arc<ConnectionWatch>,
) -> std::io::Result<Server> {
    let (body_timeout, import_timeout) = (settings.body_read_timeout, settings.import_read_timeout);
    // actix-web counts connections per worker.
    let connections_per_worker = settings.max_connections.div_ceil(settings.workers).max(1);
    Ok(HttpServer::new(move || {
        let metrics = metrics.clone();
        App::new()
            .app_data(state.clone())
            .app_data(dashboard.live.clone())
            .app_data(dashboard.cache.clone())
            .app_data(api::query_config())
            .app_data(api::path_config())
            .wrap_fn(move |mut req, srv| {
                let limit = if req.match_pattern().as_deref() == Some(api::IMPORT_ROUTE) {
                    import_timeout
                } else {
                    body_timeout
                };
                api::deadline::limit_body(&mut req, limit);
                srv.call(req)
            })
            .wrap_fn(move |req, srv| {
                let started = Instant::now();
                let labels = RouteLabels {
                    method: metrics::method_label(req.method().as_str()),
                    route: req
                        .match_pattern()
                        .unwrap_or_else(|| metrics::UNMATCHED_ROUTE.into()),
                };
                let fut = srv.call(req);
                let metrics = metrics.clone();
                async move {
                    let res = fut.await;
                    metrics
                        .http_seconds
                        .get_or_create(&labels)
                        .observe(started.elapsed().as_secs_f64());
                    res
                }
            })
            .wrap(Compress::default())
            .wrap(
                DefaultHeaders::new()
                    .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                    .add((header::REFERRER_POLICY, "same-origin"))
                    .add((header::CONTENT_SECURITY_POLICY, dashboard::DEFAULT_CSP)),
            )
            // Outermost, so the body it watches is the one sent.
            .wrap_fn(|req, srv| {
                let conn = req.conn_data::<Arc<Connection>>().cloned();
                if let Some(conn) = &conn {
                    conn.busy();
                }
                let fut = srv.call(req);
                async move {
                    match (fut.await, conn) {
                        (Ok(res), Some(conn)) => Ok(res
                            .map_into_boxed_body()
                            .map_body(|_, body| BoxBody::new(WatchedBody::new(body, conn)))),
                        (Ok(res), None) => Ok(res.map_into_boxed_body()),
                        (Err(e), conn) => {
                            if let Some(conn) = conn {
                                conn.idle();
                            }
                            Err(e)
                        }
                    }
                }
            })
            .configure(api::routes)
            .configure(dashboard::routes)
            .default_service(web::to(dashboard::not_found))
    })
    .workers(settings.workers)
    .max_connections(connections_per_worker)
    .on_connect(move |conn, data| connections.register(conn, data))
    .keep_alive(settings.keep_alive)
    .client_request_timeout(settings.header_read_timeout)
    .shutdown_timeout(settings.shutdown_timeout.as_secs())
    .listen(listener)?
    .run())
}

/// What the dashboard shares across workers besides the API's state.
struct Dashboard {
    live: web::Data<LiveHub>,
    cache: web::Data<RenderCache>,
}

/// Stops a running server from elsewhere: ends the live streams, then stops
/// the server as [`ServerHandle::stop`] does.
#[derive(Clone)]
pub struct StopHandle {
    server: ServerHandle,
    live: web::Data<LiveHub>,
}

impl StopHandle {
    /// `graceful`: finish the requests in flight first.
    pub async fn stop(&self, graceful: bool) {
        self.live.close();
        self.server.stop(graceful).await;
    }
}

/// SIGTERM or Ctrl-C, the signals the HTTP server stops on.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}
