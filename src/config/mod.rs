//! Settings: from flags, from the environment (`DOWNWAVE_*`) and from an
//! optional TOML file, in that order of precedence, over built-in defaults.
//!
//! One struct, [`ConfigArgs`], is both the clap argument set and the TOML file
//! format, so a setting is declared (and documented) exactly once; every field
//! is optional there and [`ConfigArgs::resolve`] fills the gaps into the plain
//! [`Settings`] the rest of the program reads.

pub use crate::ingest::ForwardedHeader;
use clap::{Args, ValueEnum};
use ipnet::IpNet;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How hard SQLite works to keep a commit across a power cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// fsync the write-ahead log on every commit: an acknowledged report
    /// survives a crash of the process and of the machine.
    Full,
    /// fsync only at checkpoints: survives a crash of the process, but the last
    /// commits can be lost if the machine loses power.
    Normal,
}

/// Every setting, as given on the command line, in the environment or in the
/// TOML file. Unset fields take the defaults documented on each.
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigArgs {
    /// TOML file with settings (keys as the long flags, with `_` for `-`).
    #[arg(long, env = "DOWNWAVE_CONFIG", global = true)]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "DOWNWAVE_LISTEN", global = true)]
    pub listen: Option<SocketAddr>,

    /// SQLite database file, created on first start [default: ./downwave.db].
    #[arg(long, env = "DOWNWAVE_DATABASE", global = true)]
    pub database: Option<PathBuf>,

    /// Bearer token for the admin endpoints; unset, they answer 401.
    #[arg(
        long,
        env = "DOWNWAVE_ADMIN_TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub admin_token: Option<String>,

    /// Proxies (CIDRs, comma-separated) whose forwarding header is believed;
    /// list the proxies only, not the networks clients come from
    /// [default: none].
    #[arg(
        long,
        env = "DOWNWAVE_TRUSTED_PROXIES",
        global = true,
        value_delimiter = ','
    )]
    pub trusted_proxies: Option<Vec<IpNet>>,

    /// The header the trusted proxies write: `x-forwarded-for` or
    /// `forwarded` (RFC 7239). The other is never read
    /// [default: x-forwarded-for].
    #[arg(long, env = "DOWNWAVE_FORWARDED_HEADER", global = true)]
    pub forwarded_header: Option<ForwardedHeader>,

    /// HTTP worker threads [default: one per core].
    #[arg(long, env = "DOWNWAVE_WORKERS", global = true)]
    pub workers: Option<usize>,

    /// Largest request body accepted, in bytes [default: 4096].
    #[arg(long, env = "DOWNWAVE_MAX_BODY_BYTES", global = true)]
    pub max_body_bytes: Option<usize>,

    /// Longest report comment, in characters [default: 500].
    #[arg(long, env = "DOWNWAVE_MAX_COMMENT_CHARS", global = true)]
    pub max_comment_chars: Option<usize>,

    /// A reporter counts once per service within this many seconds [default: 900].
    #[arg(long, env = "DOWNWAVE_DEDUP_WINDOW_SECS", global = true)]
    pub dedup_window_secs: Option<u64>,

    /// Most reporters the de-duplicator remembers (about 50 bytes each). Past
    /// it, a new reporter's report still counts but the reporter is not
    /// remembered, so a repeat within the window counts again [default: 4000000].
    #[arg(long, env = "DOWNWAVE_DEDUP_MAX_REPORTERS", global = true)]
    pub dedup_max_reporters: Option<usize>,

    /// Most reports from one client address (an IPv4 address, an IPv6 /64)
    /// that count for one service within the de-duplication window, however
    /// many client tokens they carry; more are stored, not counted
    /// [default: 3].
    #[arg(long, env = "DOWNWAVE_DEDUP_MAX_PER_ADDRESS", global = true)]
    pub dedup_max_per_address: Option<usize>,

    /// Fewest distinct networks (IPv4 /24s, IPv6 /48s) an outage's reports
    /// must come from before it pages anyone; an event from fewer is shown,
    /// marked concentrated, and announced to no one [default: 10].
    #[arg(long, env = "DOWNWAVE_OUTAGE_MIN_NETWORKS", global = true)]
    pub outage_min_networks: Option<u32>,

    /// Largest share (above 0, at most 1) of an outage's excess one provider
    /// block (IPv4 /16, IPv6 /32) may send before the event is marked
    /// concentrated and pages no one; 1 turns the check off [default: 0.5].
    #[arg(long, env = "DOWNWAVE_OUTAGE_MAX_NETWORK_SHARE", global = true)]
    pub outage_max_network_share: Option<f64>,

    /// Reports allowed per client address per minute, sustained [default: 10].
    #[arg(long, env = "DOWNWAVE_RATE_LIMIT_PER_MINUTE", global = true)]
    pub rate_limit_per_minute: Option<u32>,

    /// Reports a client address may send at once before the rate applies [default: 10].
    #[arg(long, env = "DOWNWAVE_RATE_LIMIT_BURST", global = true)]
    pub rate_limit_burst: Option<u32>,

    /// Reports allowed per IPv6 /48 per minute, sustained, on top of each
    /// /64's own limit [default: 100].
    #[arg(long, env = "DOWNWAVE_RATE_LIMIT_IPV6_48_PER_MINUTE", global = true)]
    pub rate_limit_ipv6_48_per_minute: Option<u32>,

    /// Reports an IPv6 /48 may send at once [default: 100].
    #[arg(long, env = "DOWNWAVE_RATE_LIMIT_IPV6_48_BURST", global = true)]
    pub rate_limit_ipv6_48_burst: Option<u32>,

    /// How often idle rate-limiter entries are dropped, in seconds [default: 60].
    #[arg(long, env = "DOWNWAVE_RATE_LIMIT_PRUNE_SECS", global = true)]
    pub rate_limit_prune_secs: Option<u64>,

    /// Reports waiting to be written before new ones get 503 [default: 65536].
    #[arg(long, env = "DOWNWAVE_INGEST_QUEUE_CAPACITY", global = true)]
    pub ingest_queue_capacity: Option<usize>,

    /// Most reports committed in one transaction [default: 4096].
    #[arg(long, env = "DOWNWAVE_BATCH_MAX_REPORTS", global = true)]
    pub batch_max_reports: Option<usize>,

    /// Under load (the last batch held 8 or more reports), how long a batch
    /// may wait for more before it commits, in milliseconds: fewer syncs on a
    /// slow disk, at the price of latency. 0: a batch commits as soon as the
    /// queue is empty, which already groups what queued during the previous
    /// commit [default: 0].
    #[arg(long, env = "DOWNWAVE_BATCH_LINGER_MS", global = true)]
    pub batch_linger_ms: Option<u64>,

    /// Most open read connections to the database [default: 8].
    #[arg(long, env = "DOWNWAVE_READ_CONNECTIONS", global = true)]
    pub read_connections: Option<usize>,

    /// Most buckets one series request may return [default: 44640, 31 days at 60 s].
    #[arg(long, env = "DOWNWAVE_SERIES_MAX_POINTS", global = true)]
    pub series_max_points: Option<usize>,

    /// SQLite durability: `full` (fsync every commit) or `normal` [default: full].
    #[arg(long, env = "DOWNWAVE_SQLITE_SYNCHRONOUS", global = true)]
    pub sqlite_synchronous: Option<SyncMode>,

    /// How long a database call waits on a lock before failing, in milliseconds [default: 5000].
    #[arg(long, env = "DOWNWAVE_BUSY_TIMEOUT_MS", global = true)]
    pub busy_timeout_ms: Option<u64>,

    /// Largest history import (`POST /api/v1/admin/import`), in bytes [default: 67108864].
    #[arg(long, env = "DOWNWAVE_IMPORT_MAX_BYTES", global = true)]
    pub import_max_bytes: Option<usize>,

    /// Seconds after a minute ends before the detector reads it, so reports
    /// acknowledged in its last moments are counted [default: 2].
    #[arg(long, env = "DOWNWAVE_DETECTOR_GRACE_SECS", global = true)]
    pub detector_grace_secs: Option<u64>,

    /// Public base URL of this downwave, for links in alerts
    /// [default: http://LISTEN].
    #[arg(long, env = "DOWNWAVE_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,

    /// Timeout of one webhook delivery attempt, in seconds [default: 15].
    #[arg(long, env = "DOWNWAVE_WEBHOOK_TIMEOUT_SECS", global = true)]
    pub webhook_timeout_secs: Option<u64>,

    /// Let webhooks target loopback and private networks (tests, closed
    /// networks) [default: false].
    #[arg(long, env = "DOWNWAVE_WEBHOOK_ALLOW_PRIVATE", global = true)]
    pub webhook_allow_private: Option<bool>,

    /// Show the latest report comments on each service's page (there is no
    /// moderation; turn off for a public site that cannot watch them)
    /// [default: true].
    #[arg(long, env = "DOWNWAVE_PUBLIC_COMMENTS", global = true)]
    pub public_comments: Option<bool>,

    /// Event changes older than this many seconds are recorded but not
    /// announced (imports of old history page no one) [default: 3600].
    #[arg(long, env = "DOWNWAVE_ALERT_MAX_AGE_SECS", global = true)]
    pub alert_max_age_secs: Option<u64>,

    /// How long an idle kept-alive connection stays open for its next
    /// request, in seconds [default: 5].
    #[arg(long, env = "DOWNWAVE_KEEP_ALIVE_SECS", global = true)]
    pub keep_alive_secs: Option<u64>,

    /// How long a client may take to send a request's head (line and
    /// headers), in seconds; past it the connection is closed (the first
    /// request of a connection is answered 408) [default: 5].
    #[arg(long, env = "DOWNWAVE_HEADER_READ_TIMEOUT_SECS", global = true)]
    pub header_read_timeout_secs: Option<u64>,

    /// How long a client may take to send a request body after its head, in
    /// seconds; past it, 408 body_timeout and the connection is closed
    /// [default: 10].
    #[arg(long, env = "DOWNWAVE_BODY_READ_TIMEOUT_SECS", global = true)]
    pub body_read_timeout_secs: Option<u64>,

    /// The same for a history import (up to import_max_bytes), in seconds
    /// [default: 300].
    #[arg(long, env = "DOWNWAVE_IMPORT_READ_TIMEOUT_SECS", global = true)]
    pub import_read_timeout_secs: Option<u64>,

    /// Most open client connections, shared evenly by the HTTP workers; past
    /// it, new connections wait in the listen backlog [default: 8192].
    #[arg(long, env = "DOWNWAVE_MAX_CONNECTIONS", global = true)]
    pub max_connections: Option<usize>,

    /// How long shutdown waits for requests in flight, in seconds [default: 30].
    #[arg(long, env = "DOWNWAVE_SHUTDOWN_TIMEOUT_SECS", global = true)]
    pub shutdown_timeout_secs: Option<u64>,

    // Webhook delivery and import limits.
    /// HTTP proxy (`http://` or `https://` URL) that webhook deliveries go
    /// through. Unset, deliveries connect directly and ignore `HTTP_PROXY`,
    /// `HTTPS_PROXY` and `ALL_PROXY`, which would bypass the address guard
    /// [default: unset].
    #[arg(long, env = "DOWNWAVE_WEBHOOK_PROXY", global = true)]
    pub webhook_proxy: Option<String>,

    /// Most webhook delivery attempts under way at once; each holds a
    /// connection for up to `webhook_timeout_secs` [default: 64].
    #[arg(long, env = "DOWNWAVE_WEBHOOK_MAX_IN_FLIGHT", global = true)]
    pub webhook_max_in_flight: Option<usize>,

    /// Most delivery attempts under way at once to one subscription, so that
    /// a receiver that hangs cannot take every place [default: 4].
    #[arg(
        long,
        env = "DOWNWAVE_WEBHOOK_MAX_IN_FLIGHT_PER_SUBSCRIPTION",
        global = true
    )]
    pub webhook_max_in_flight_per_subscription: Option<usize>,

    /// Oldest report an import accepts, in days before now; a detector that
    /// relearns after an import replays at most this far back, so one import
    /// costs at most this many minutes of detector time per service
    /// [default: 90].
    #[arg(long, env = "DOWNWAVE_IMPORT_MAX_AGE_DAYS", global = true)]
    pub import_max_age_days: Option<u64>,

    /// The detector's false-event budget: how many outages per 30 days a
    /// service may open on its own normal behaviour. Each service's thresholds
    /// are calibrated from its history to stay within it (see
    /// docs/detection.md); lower trades missed outages for fewer false pages
    /// [default: 10].
    #[arg(long, env = "DOWNWAVE_FALSE_EVENTS_PER_30_DAYS", global = true)]
    pub false_events_per_30_days: Option<f64>,
}

/// The settings in force: every value present.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub database: PathBuf,
    pub admin_token: Option<String>,
    pub trusted_proxies: Vec<IpNet>,
    pub forwarded_header: ForwardedHeader,
    pub workers: usize,
    pub max_body_bytes: usize,
    pub max_comment_chars: usize,
    pub dedup_window: Duration,
    pub dedup_max_reporters: usize,
    pub dedup_max_per_address: usize,
    pub outage_min_networks: u32,
    pub outage_max_network_share: f64,
    pub rate_limit_per_minute: u32,
    pub rate_limit_burst: u32,
    pub rate_limit_ipv6_48_per_minute: u32,
    pub rate_limit_ipv6_48_burst: u32,
    pub rate_limit_prune: Duration,
    pub ingest_queue_capacity: usize,
    pub batch_max_reports: usize,
    pub batch_linger: Duration,
    pub read_connections: usize,
    pub series_max_points: usize,
    pub sqlite_synchronous: SyncMode,
    pub busy_timeout: Duration,
    pub import_max_bytes: usize,
    pub detector_grace: Duration,
    pub public_url: String,
    pub webhook_timeout: Duration,
    pub webhook_allow_private: bool,
    pub public_comments: bool,
    pub alert_max_age: Duration,
    pub keep_alive: Duration,
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub import_read_timeout: Duration,
    pub max_connections: usize,
    pub shutdown_timeout: Duration,
    // Webhook delivery and import limits.
    pub webhook_proxy: Option<String>,
    pub webhook_max_in_flight: usize,
    pub webhook_max_in_flight_per_subscription: usize,
    pub import_max_age: Duration,
    pub false_events_per_30_days: f64,
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
    pub fn with_database(path: impl Into<PathBuf>) -> Settings {
        let mut s = ConfigArgs::default()
            .resolve_without_file()
            .expect("the built-in defaults are valid");
        s.database = path.into();
        s
    }
}

impl ConfigArgs {
    /// Reads the TOML file if one is named, then fills the gaps with defaults.
    pub fn resolve(self) -> Result<Settings, ConfigError> {
        let from_file = match &self.config {
            Some(path) => Self::read_file(path)?,
            None => ConfigArgs::default(),
        };
        self.or(from_file).resolve_without_file()
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

    /// Each field from `self` if set, else from `other`.
    fn or(self, other: ConfigArgs) -> ConfigArgs {
        macro_rules! pick {
            ($($f:ident),*) => { ConfigArgs { $($f: self.$f.or(other.$f)),* } };
        }
        pick!(
            config,
            listen,
            database,
            admin_token,
            trusted_proxies,
            forwarded_header,
            workers,
            max_body_bytes,
            max_comment_chars,
            dedup_window_secs,
            dedup_max_reporters,
            dedup_max_per_address,
            outage_min_networks,
            outage_max_network_share,
            rate_limit_per_minute,
            rate_limit_burst,
            rate_limit_ipv6_48_per_minute,
            rate_limit_ipv6_48_burst,
            rate_limit_prune_secs,
            ingest_queue_capacity,
            batch_max_reports,
            batch_linger_ms,
            read_connections,
            series_max_points,
            sqlite_synchronous,
            busy_timeout_ms,
            import_max_bytes,
            detector_grace_secs,
            public_url,
            webhook_timeout_secs,
            webhook_allow_private,
            public_comments,
            alert_max_age_secs,
            keep_alive_secs,
            header_read_timeout_secs,
            body_read_timeout_secs,
            import_read_timeout_secs,
            max_connections,
            shutdown_timeout_secs,
            webhook_proxy,
            webhook_max_in_flight,
            webhook_max_in_flight_per_subscription,
            import_max_age_days,
            false_events_per_30_days
        )
    }

    fn resolve_without_file(self) -> Result<Settings, ConfigError> {
        fn positive<T: Default + PartialOrd>(
            v: Option<T>,
            default: T,
            name: &'static str,
        ) -> Result<T, ConfigError> {
            let v = v.unwrap_or(default);
            if v > T::default() {
                Ok(v)
            } else {
                Err(ConfigError::Invalid {
                    name,
                    rule: "greater than zero",
                })
            }
        }
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let listen = self
            .listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
        Ok(Settings {
            listen,
            public_url: self
                .public_url
                .unwrap_or_else(|| format!("http://{listen}")),
            webhook_timeout: Duration::from_secs(positive(
                self.webhook_timeout_secs,
                15,
                "webhook_timeout_secs",
            )?),
            webhook_allow_private: self.webhook_allow_private.unwrap_or(false),
            public_comments: self.public_comments.unwrap_or(true),
            alert_max_age: Duration::from_secs(self.alert_max_age_secs.unwrap_or(3600)),
            database: self.database.unwrap_or_else(|| "downwave.db".into()),
            admin_token: admin_token(self.admin_token)?,
            trusted_proxies: self.trusted_proxies.unwrap_or_default(),
            forwarded_header: self
                .forwarded_header
                .unwrap_or(ForwardedHeader::XForwardedFor),
            workers: positive(self.workers, cores, "workers")?,
            max_body_bytes: positive(self.max_body_bytes, 4096, "max_body_bytes")?,
            max_comment_chars: positive(self.max_comment_chars, 500, "max_comment_chars")?,
            dedup_window: Duration::from_secs(self.dedup_window_secs.unwrap_or(900)),
            dedup_max_reporters: positive(
                self.dedup_max_reporters,
                4_000_000,
                "dedup_max_reporters",
            )?,
            dedup_max_per_address: positive(
                self.dedup_max_per_address,
                3,
                "dedup_max_per_address",
            )?,
            outage_min_networks: positive(self.outage_min_networks, 10, "outage_min_networks")?,
            outage_max_network_share: match self.outage_max_network_share.unwrap_or(0.5) {
                share if share > 0.0 && share <= 1.0 => share,
                _ => {
                    return Err(ConfigError::Invalid {
                        name: "outage_max_network_share",
                        rule: "above 0 and at most 1",
                    })
                }
            },
            rate_limit_per_minute: positive(
                self.rate_limit_per_minute,
                10,
                "rate_limit_per_minute",
            )?,
            rate_limit_burst: positive(self.rate_limit_burst, 10, "rate_limit_burst")?,
            rate_limit_ipv6_48_per_minute: positive(
                self.rate_limit_ipv6_48_per_minute,
                100,
                "rate_limit_ipv6_48_per_minute",
            )?,
            rate_limit_ipv6_48_burst: positive(
                self.rate_limit_ipv6_48_burst,
                100,
                "rate_limit_ipv6_48_burst",
            )?,
            rate_limit_prune: Duration::from_secs(positive(
                self.rate_limit_prune_secs,
                60,
                "rate_limit_prune_secs",
            )?),
            ingest_queue_capacity: positive(
                self.ingest_queue_capacity,
                65_536,
                "ingest_queue_capacity",
            )?,
            batch_max_reports: positive(self.batch_max_reports, 4096, "batch_max_reports")?,
            batch_linger: Duration::from_millis(self.batch_linger_ms.unwrap_or(0)),
            read_connections: positive(self.read_connections, 8, "read_connections")?,
            series_max_points: positive(self.series_max_points, 44_640, "series_max_points")?,
            sqlite_synchronous: self.sqlite_synchronous.unwrap_or(SyncMode::Full),
            busy_timeout: Duration::from_millis(self.busy_timeout_ms.unwrap_or(5000)),
            import_max_bytes: positive(self.import_max_bytes, 64 << 20, "import_max_bytes")?,
            detector_grace: Duration::from_secs(self.detector_grace_secs.unwrap_or(2)),
            keep_alive: Duration::from_secs(positive(self.keep_alive_secs, 5, "keep_alive_secs")?),
            header_read_timeout: Duration::from_secs(positive(
                self.header_read_timeout_secs,
                5,
                "header_read_timeout_secs",
            )?),
            body_read_timeout: Duration::from_secs(positive(
                self.body_read_timeout_secs,
                10,
                "body_read_timeout_secs",
            )?),
            import_read_timeout: Duration::from_secs(positive(
                self.import_read_timeout_secs,
                300,
                "import_read_timeout_secs",
            )?),
            max_connections: positive(self.max_connections, 8192, "max_connections")?,
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout_secs.unwrap_or(30)),
            webhook_proxy: match self.webhook_proxy.filter(|p| !p.is_empty()) {
                Some(p) if p.starts_with("http://") || p.starts_with("https://") => Some(p),
                Some(_) => {
                    return Err(ConfigError::Invalid {
                        name: "webhook_proxy",
                        rule: "an http:// or https:// URL",
                    })
                }
                None => None,
            },
            webhook_max_in_flight: positive(
                self.webhook_max_in_flight,
                64,
                "webhook_max_in_flight",
            )?,
            webhook_max_in_flight_per_subscription: positive(
                self.webhook_max_in_flight_per_subscription,
                4,
                "webhook_max_in_flight_per_subscription",
            )?,
            import_max_age: match positive(self.import_max_age_days, 90, "import_max_age_days")? {
                // Past a century the arithmetic on times would overflow.
                days @ 1..=36_500 => Duration::from_secs(days * 86_400),
                _ => {
                    return Err(ConfigError::Invalid {
                        name: "import_max_age_days",
                        rule: "at most 36500",
                    })
                }
            },
            false_events_per_30_days: match self.false_events_per_30_days {
                None => crate::detect::DetectorParams::default().false_events_per_30_days,
                Some(b) if b.is_finite() && b > 0.0 && b <= 1000.0 => b,
                Some(_) => {
                    return Err(ConfigError::Invalid {
                        name: "false_events_per_30_days",
                        rule: "a number above 0 and at most 1000",
                    })
                }
            },
        })
    }
}

/// The admin token, if one is set (an empty value means none). It travels
/// as `Authorization: Bearer TOKEN`, so a token with spaces, control or
/// non-ASCII characters could never be matched: refused at startup rather
/// than leaving the admin endpoints locked with no word why.
fn admin_token(token: Option<String>) -> Result<Option<String>, ConfigError> {
    match token {
        None => Ok(None),
        Some(t) if t.is_empty() => Ok(None),
        Some(t) if t.bytes().all(|b| b.is_ascii_graphic()) => Ok(Some(t)),
        Some(_) => Err(ConfigError::Invalid {
            name: "admin_token",
            rule: "visible ASCII characters without spaces (it is sent as \
                   'Authorization: Bearer TOKEN')",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documentation() {
        let s = ConfigArgs::default().resolve().unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.database, PathBuf::from("downwave.db"));
        assert_eq!(s.max_body_bytes, 4096);
        assert_eq!(s.dedup_window, Duration::from_secs(900));
        assert_eq!(s.series_max_points, 31 * 24 * 60);
        assert_eq!(s.import_max_age, Duration::from_secs(90 * 86_400));
        assert_eq!(s.webhook_max_in_flight, 64);
        assert_eq!(s.webhook_max_in_flight_per_subscription, 4);
        assert!(s.webhook_proxy.is_none());
        assert!(s.admin_token.is_none());
        assert_eq!(s.forwarded_header, ForwardedHeader::XForwardedFor);
        assert_eq!(s.dedup_max_per_address, 3);
        assert_eq!(s.outage_min_networks, 10);
        assert_eq!(s.outage_max_network_share, 0.5);
        assert_eq!(
            (s.rate_limit_ipv6_48_per_minute, s.rate_limit_ipv6_48_burst),
            (100, 100)
        );
        assert_eq!(s.false_events_per_30_days, 10.0);
    }

    #[test]
    fn the_false_event_budget_must_be_a_positive_number() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e6] {
            let args = ConfigArgs {
                false_events_per_30_days: Some(bad),
                ..ConfigArgs::default()
            };
            assert!(args.resolve().is_err(), "{bad}");
        }
        let args = ConfigArgs {
            false_events_per_30_days: Some(2.5),
            ..ConfigArgs::default()
        };
        assert_eq!(args.resolve().unwrap().false_events_per_30_days, 2.5);
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("downwave.toml");
        std::fs::write(
            &path,
            "listen = \"0.0.0.0:9000\"\nmax_body_bytes = 100\ntrusted_proxies = [\"10.0.0.0/8\"]\n\
             forwarded_header = \"forwarded\"\n",
        )
        .unwrap();
        let args = ConfigArgs {
            config: Some(path),
            max_body_bytes: Some(200),
            ..Default::default()
        };
        let s = args.resolve().unwrap();
        assert_eq!(s.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(s.max_body_bytes, 200);
        assert_eq!(s.trusted_proxies.len(), 1);
        assert_eq!(s.forwarded_header, ForwardedHeader::Forwarded);
    }

    #[test]
    fn an_admin_token_that_could_never_match_is_refused() {
        let with = |t: &str| {
            ConfigArgs {
                admin_token: Some(t.into()),
                ..Default::default()
            }
            .resolve()
        };
        for bad in ["   ", "\t", "two words", "tok\n", "tökén"] {
            assert!(
                matches!(
                    with(bad),
                    Err(ConfigError::Invalid {
                        name: "admin_token",
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
        assert_eq!(with("").unwrap().admin_token, None);
        assert_eq!(
            with("s3cr3t-~+/=").unwrap().admin_token.as_deref(),
            Some("s3cr3t-~+/=")
        );
    }

    #[test]
    fn unknown_keys_and_zero_limits_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "listn = \"x\"\n").unwrap();
        let args = ConfigArgs {
            config: Some(path),
            ..Default::default()
        };
        assert!(matches!(args.resolve(), Err(ConfigError::Parse { .. })));
        let zero = ConfigArgs {
            ingest_queue_capacity: Some(0),
            ..Default::default()
        };
        assert!(matches!(zero.resolve(), Err(ConfigError::Invalid { .. })));
        for share in [0.0, -0.5, 1.5, f64::NAN] {
            let bad = ConfigArgs {
                outage_max_network_share: Some(share),
                ..Default::default()
            };
            assert!(
                matches!(
                    bad.resolve(),
                    Err(ConfigError::Invalid {
                        name: "outage_max_network_share",
                        ..
                    })
                ),
                "{share}"
            );
        }
        let none = ConfigArgs {
            outage_min_networks: Some(0),
            ..Default::default()
        };
        assert!(matches!(none.resolve(), Err(ConfigError::Invalid { .. })));
    }
}
