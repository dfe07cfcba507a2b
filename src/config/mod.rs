//! Settings: from flags, from the environment (`DOWNWAVE_*`) and from an
//! optional TOML file, in that order of precedence, over built-in defaults.
//!
//! Each setting is declared once, in the `settings!` list below: its name
//! (the TOML key; the flag and the variable are spelt from it), its type,
//! its default, the rules its value must pass and its paragraph of
//! documentation. From that list come [`ConfigArgs`] (both the clap argument
//! set and the TOML file format, every field optional), the plain
//! [`Settings`] the rest of the program reads, and [`SETTINGS`], the table
//! that `--help` shows and `docs/operations.md` is checked against.
//! [`ConfigArgs::resolve`] fills the gaps.

#[macro_use]
mod declare;
mod rules;

#[cfg(test)]
mod tests;

use crate::clock::ScaledClock;
use crate::incident::IncidentSettings;
pub use crate::ingest::ForwardedHeader;
pub use crate::store::{Location, SyncMode};
pub use declare::{DefaultText, Setting};
use ipnet::IpNet;
use rules::{
    bearer_token, clock_spec, false_event_budget, finite_positive, positive, proxy_url, share,
    within_a_century, within_a_day_of_minutes, within_a_year_of_hours,
};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

settings! {
    /// Address to listen on.
    listen: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 8080));

    /// Where the data lives: an SQLite file (created on first start) or a
    /// PostgreSQL database (`postgres://user:password@host/name`) that
    /// several nodes share.
    database: Location = Location::Sqlite(PathBuf::from("downwave.db"));

    /// Bearer token for the admin endpoints; unset or empty, they answer 401.
    #[arg(hide_env_values = true)]
    admin_token: String = String::new(), check bearer_token
        => admin_token: Option<String> = non_empty;

    /// Proxies (CIDRs, comma-separated) whose forwarding header is believed;
    /// list the proxies only, not the networks clients come from.
    #[arg(value_delimiter = ',')]
    trusted_proxies: Vec<IpNet> = Vec::new();

    /// The header the trusted proxies write: `x-forwarded-for` or
    /// `forwarded` (RFC 7239). The other is never read.
    forwarded_header: ForwardedHeader = ForwardedHeader::XForwardedFor;

    /// HTTP worker threads.
    workers: usize = cores(), shown "one per core", check positive;

    /// Largest request body accepted, in bytes.
    max_body_bytes: usize = 4096, check positive;

    /// Longest report comment, in characters.
    max_comment_chars: usize = 500, check positive;

    /// A reporter counts once per service within this many seconds.
    dedup_window_secs: u64 = 900 => dedup_window: Duration = Duration::from_secs;

    /// Most reporters the de-duplicator remembers (about 50 bytes each). Past
    /// it, a new reporter's report still counts but the reporter is not
    /// remembered, so a repeat within the window counts again.
    dedup_max_reporters: usize = 4_000_000, check positive;

    /// Most reports from one client address (an IPv4 address, an IPv6 /64)
    /// that count for one service within the de-duplication window, however
    /// many client tokens they carry; more are stored, not counted.
    dedup_max_per_address: usize = 3, check positive;

    /// Fewest distinct networks (IPv4 /24s, IPv6 /48s) an outage's reports
    /// must come from before it pages anyone; an event from fewer is shown,
    /// marked concentrated, and announced to no one.
    outage_min_networks: u32 = 10, check positive;

    /// Largest share (above 0, at most 1) of an outage's excess one provider
    /// block (IPv4 /16, IPv6 /32) may send before the event is marked
    /// concentrated and pages no one; 1 turns the check off.
    outage_max_network_share: f64 = 0.5, check share;

    /// Reports allowed per client address per minute, sustained.
    rate_limit_per_minute: u32 = 10, check positive;

    /// Reports a client address may send at once before the rate applies.
    rate_limit_burst: u32 = 10, check positive;

    /// Reports allowed per IPv6 /48 per minute, sustained, on top of each
    /// /64's own limit.
    rate_limit_ipv6_48_per_minute: u32 = 100, check positive;

    /// Reports an IPv6 /48 may send at once.
    rate_limit_ipv6_48_burst: u32 = 100, check positive;

    /// How often idle rate-limiter entries are dropped, in seconds.
    rate_limit_prune_secs: u64 = 60, check positive
        => rate_limit_prune: Duration = Duration::from_secs;

    /// Reports waiting to be written before new ones get 503.
    ingest_queue_capacity: usize = 65_536, check positive;

    /// Most reports committed in one transaction.
    batch_max_reports: usize = 4096, check positive;

    /// Under load (the last batch held 8 or more reports), how long a batch
    /// may wait for more before it commits, in milliseconds: fewer syncs on a
    /// slow disk, at the price of latency. 0: a batch commits as soon as the
    /// queue is empty, which already groups what queued during the previous
    /// commit.
    batch_linger_ms: u64 = 0 => batch_linger: Duration = Duration::from_millis;

    /// Most open read connections to the database.
    read_connections: usize = 8, check positive;

    /// Most buckets one series request may return (the default is 31 days
    /// at 60 s).
    series_max_points: usize = 31 * 24 * 60, check positive;

    /// SQLite durability: `full` (fsync every commit) or `normal`.
    sqlite_synchronous: SyncMode = SyncMode::Full;

    /// How long a database call waits on a lock before failing, in milliseconds.
    busy_timeout_ms: u64 = 5000 => busy_timeout: Duration = Duration::from_millis;

    /// Largest history import (`POST /api/v1/admin/import`), in bytes.
    import_max_bytes: usize = 64 << 20, check positive;

    /// Seconds after a minute ends before the detector reads it, so reports
    /// acknowledged in its last moments are counted.
    detector_grace_secs: u64 = 2 => detector_grace: Duration = Duration::from_secs;

    /// Public base URL of this downwave, for links in alerts.
    public_url: String = format!("http://{listen}"), shown "http://LISTEN";

    /// Timeout of one webhook delivery attempt, in seconds.
    webhook_timeout_secs: u64 = 15, check positive
        => webhook_timeout: Duration = Duration::from_secs;

    /// Let webhooks target loopback and private networks (tests, closed
    /// networks).
    webhook_allow_private: bool = false;

    /// Show the latest report comments on each service's page (there is no
    /// moderation; turn off for a public site that cannot watch them).
    public_comments: bool = true;

    /// How many days raw reports are kept (who reported, when, what, the
    /// comment); older ones are deleted every few minutes. The per-minute
    /// counts, facets, networks and events made of them are kept for good.
    /// 0 keeps raw reports for good too.
    report_retention_days: u64 = 90, check within_a_century;

    /// How many days each minute's baseline, band and score (the charts'
    /// expected band) are kept; older ones are deleted every few minutes.
    /// Never less than `import_max_age_days` plus one, so that a replay's
    /// minutes stay whole. 0 keeps them for good.
    detector_minute_retention_days: u64 = 0, check within_a_century;

    /// For simulations and tests: `START,ANCHOR,SPEED` makes the server's
    /// clock read START (RFC 3339) at the wall-clock Unix millisecond ANCHOR
    /// and run SPEED times as fast; nodes given the same value agree. Unset,
    /// the wall clock.
    simulated_clock: String = String::new(), check clock_spec
        => simulated_clock: Option<ScaledClock> = scaled_clock;

    /// Event changes older than this many seconds are recorded but not
    /// announced (imports of old history page no one).
    alert_max_age_secs: u64 = 3600 => alert_max_age: Duration = Duration::from_secs;

    /// For subscriptions that follow the cause (`alerts`: `causes` or
    /// `incidents`): how many minutes an outage in no incident waits before
    /// it pages them, so that a provider's outage is grouped with the
    /// services that follow it before anyone is paged for it alone. 0 pages
    /// at once.
    alert_hold_minutes: u64 = 5, check within_a_day_of_minutes;

    /// How long an idle kept-alive connection stays open for its next
    /// request, in seconds.
    keep_alive_secs: u64 = 5, check positive => keep_alive: Duration = Duration::from_secs;

    /// How long a client may take to send a request's head (line and
    /// headers), in seconds; past it the connection is closed (the first
    /// request of a connection is answered 408).
    header_read_timeout_secs: u64 = 5, check positive
        => header_read_timeout: Duration = Duration::from_secs;

    /// How long a client may take to send a request body after its head, in
    /// seconds; past it, 408 body_timeout and the connection is closed.
    body_read_timeout_secs: u64 = 10, check positive
        => body_read_timeout: Duration = Duration::from_secs;

    /// The same for a history import (up to import_max_bytes), in seconds.
    import_read_timeout_secs: u64 = 300, check positive
        => import_read_timeout: Duration = Duration::from_secs;

    /// Most open client connections, shared evenly by the HTTP workers; past
    /// it, new connections wait in the listen backlog. Each open page holds
    /// one for its live stream, so this bounds the crowd too.
    max_connections: usize = 25_000, check positive;

    /// How long shutdown waits for requests in flight, in seconds.
    shutdown_timeout_secs: u64 = 30 => shutdown_timeout: Duration = Duration::from_secs;

    /// Most open live streams (`/live`, one per open page); past it, pages
    /// ask every two seconds instead. Keep it under max_connections.
    live_max_connections: usize = 20_000, check positive;

    /// How often an idle live stream sends a comment line, in seconds: it
    /// keeps proxies from closing the stream, and is how soon the place of
    /// a viewer who left is given back.
    live_heartbeat_secs: u64 = 15, check positive
        => live_heartbeat: Duration = Duration::from_secs;

    /// Most bytes the render cache keeps: each version of a page, chart,
    /// badge or feed with its gzip and Brotli forms; the oldest go first.
    page_cache_max_bytes: usize = 64 << 20, check positive;

    /// HTTP proxy (`http://` or `https://` URL) that webhook deliveries go
    /// through. Unset, deliveries connect directly and ignore `HTTP_PROXY`,
    /// `HTTPS_PROXY` and `ALL_PROXY`, which would bypass the address guard.
    webhook_proxy: String = String::new(), check proxy_url
        => webhook_proxy: Option<String> = non_empty;

    /// Most webhook delivery attempts under way at once; each holds a
    /// connection for up to `webhook_timeout_secs`.
    webhook_max_in_flight: usize = 64, check positive;

    /// Most delivery attempts under way at once to one subscription, so that
    /// a receiver that hangs cannot take every place.
    webhook_max_in_flight_per_subscription: usize = 4, check positive;

    /// Oldest report an import accepts, in days before now; a detector that
    /// relearns after an import replays at most this far back, so one import
    /// costs at most this many minutes of detector time per service.
    import_max_age_days: u64 = 90, check positive, check within_a_century
        => import_max_age: Duration = days;

    /// Longest maintenance window, in hours.
    maintenance_max_hours: u64 = 168, check positive, check within_a_year_of_hours;

    /// Most maintenance windows of one service not yet over (open or
    /// scheduled).
    maintenance_max_windows: usize = 50, check positive;

    /// The detector's false-event budget: how many outages per 30 days a
    /// service may open on its own normal behaviour. Each service's thresholds
    /// are calibrated from its history to stay within it (see
    /// docs/detection.md); lower trades missed outages for fewer false pages.
    false_events_per_30_days: f64 =
        crate::detect::DetectorParams::default().false_events_per_30_days,
        check false_event_budget;

    /// Incidents: how many outages, the epicentre included, make an incident
    /// when only timing links them (a declared dependency needs no quorum).
    incident_min_outages: usize = IncidentSettings::default().min_outages, check positive;

    /// Incidents: how many minutes after the epicentre's first abnormal
    /// minute another outage may begin and still follow it.
    incident_window_minutes: f64 = IncidentSettings::default().window_minutes,
        check finite_positive;

    /// Incidents: outages whose first abnormal minutes are this close
    /// (minutes) began together; their order is not evidence of cause.
    incident_simultaneous_minutes: f64 = IncidentSettings::default().simultaneous_minutes,
        check finite_positive;

    /// Incidents: a follower whose excess stays below this share (above 0, at
    /// most 1) of the epicentre's may be spillover.
    incident_spillover_share: f64 = IncidentSettings::default().spillover_share, check share;

    /// Incidents: ...and only if it rose less than this many times its own
    /// normal.
    incident_spillover_max_rise: f64 = IncidentSettings::default().spillover_max_rise,
        check finite_positive;

    /// Incidents: the normal (reports per minute) a rise is measured against
    /// is at least this.
    incident_rise_floor: f64 = IncidentSettings::default().rise_floor, check finite_positive;

    /// Incidents: how long (minutes) a resolved outage stays in the incident
    /// pass.
    incident_retain_minutes: f64 = IncidentSettings::default().retain_minutes,
        check finite_positive;
}

/// The default number of HTTP workers: one per core the process may use.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// A text setting where empty means unset.
fn scaled_clock(spec: String) -> Option<ScaledClock> {
    spec.parse().ok()
}

fn non_empty(text: String) -> Option<String> {
    Some(text).filter(|t| !t.is_empty())
}

/// A whole number of days (at most a century, by its rule).
fn days(days: u64) -> Duration {
    Duration::from_secs(days * 86_400)
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the settings file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the settings file {path} is not valid")]
    Parse {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("the setting {name} must be {rule}")]
    Invalid {
        name: &'static str,
        rule: &'static str,
    },
}

impl Settings {
    /// The defaults, with a database at `path`: what tests and tools start from.
    pub fn with_database(at: impl Into<Location>) -> Settings {
        let mut s = ConfigArgs::default()
            .resolve_without_file()
            .expect("the built-in defaults are valid");
        s.database = at.into();
        s
    }
}

impl ConfigArgs {
    /// Reads the TOML file if one is named, then fills the gaps with defaults.
    pub fn resolve(self) -> Result<Settings, ConfigError> {
        self.with_file()?.resolve_without_file()
    }

    /// These settings over those of the TOML file, if one is named.
    fn with_file(self) -> Result<ConfigArgs, ConfigError> {
        let from_file = match &self.config {
            Some(path) => Self::read_file(path)?,
            None => ConfigArgs::default(),
        };
        Ok(self.or(from_file))
    }

    fn read_file(path: &Path) -> Result<ConfigArgs, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    fn resolve_without_file(self) -> Result<Settings, ConfigError> {
        self.values().map(Values::into_settings)
    }
}

impl Settings {
    /// The incident pass's settings, from the `incident_*` settings.
    pub fn incident_settings(&self) -> IncidentSettings {
        IncidentSettings {
            min_outages: self.incident_min_outages,
            window_minutes: self.incident_window_minutes,
            simultaneous_minutes: self.incident_simultaneous_minutes,
            spillover_share: self.incident_spillover_share,
            spillover_max_rise: self.incident_spillover_max_rise,
            rise_floor: self.incident_rise_floor,
            retain_minutes: self.incident_retain_minutes,
        }
    }

    /// How this installation's database connections are tuned.
    pub fn open_options(&self) -> crate::store::OpenOptions {
        crate::store::OpenOptions {
            sync: self.sqlite_synchronous,
            busy_timeout: self.busy_timeout,
        }
    }
}
