//! The command line: every subcommand and its arguments, as clap parses
//! them. The binary (`main.rs`) runs what was parsed; the definitions live
//! here, in the library, so that a test can parse every command the docs
//! show with the very types the binary uses (`tests/api/docs.rs`).

use crate::config::ConfigArgs;
use crate::detect::DetectorParams;
use crate::sim::crossval;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// downwave: a self-hosted crowd outage-report aggregator.
///
/// With no command, `downwave` serves (the same as `downwave serve`). Every
/// setting can be given as a flag, as an environment variable DOWNWAVE_* or as
/// a key in the TOML file named by --config; flags win over the environment,
/// the environment over the file, the file over the defaults.
#[derive(Parser)]
#[command(name = "downwave", version, about, long_about)]
pub struct Cli {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the HTTP API (the default).
    Serve {
        /// On an empty database, create claude and the aws-outage's services
        /// and import both outages (march-2 within the last day, the AWS
        /// failure an hour ago), so there is something to see on the first run.
        #[arg(long)]
        demo: bool,
    },
    /// Run the detector over `timestamp,value` CSV series and write the events.
    Backtest(BacktestArgs),
    /// Generate a scenario: per-minute counts as CSV, or reports into a server.
    Simulate(SimulateArgs),
    /// Manage the service catalog directly in the database.
    Service {
        #[command(subcommand)]
        command: ServiceCommand,
    },
    /// Maintenance windows of a service, directly in the database (a
    /// running server heeds them at once).
    Maintenance {
        #[command(subcommand)]
        command: MaintenanceCommand,
    },
    /// Drive a running server with HTTP load and print throughput and latency.
    Loadgen(LoadgenArgs),
    /// Run this binary as a server on loopback under mixed load, SIGKILL and
    /// restart it every few minutes, and check that no acknowledged report
    /// is lost, every alert is delivered once it succeeds, and memory stays
    /// flat (exit status 1 when a claim fails).
    Soak(SoakArgs),
    /// An outage's load on a running server: live viewers holding /live
    /// open who fetch their page at every change, new visitors, reports
    /// (alone first, then with the crowd) and closed-loop page rounds;
    /// prints latencies, rates and ratios against the targets.
    Crowd(CrowdArgs),
    /// Move a deployment from its SQLite file to an empty PostgreSQL
    /// database: every table, ids and all, in one transaction. Stop the
    /// server first; the file is brought to this binary's schema version.
    Migrate {
        /// The SQLite file.
        #[arg(long)]
        from: std::path::PathBuf,
        /// The PostgreSQL database (`postgres://user:password@host/name`).
        #[arg(long)]
        to: String,
    },
}

#[derive(Subcommand)]
pub enum MaintenanceCommand {
    /// Add a window: from now (or --starts-at) for --minutes or until --ends-at.
    Add {
        /// The service.
        slug: String,
        /// When it begins (RFC 3339); now if not given.
        #[arg(long)]
        starts_at: Option<chrono::DateTime<chrono::Utc>>,
        /// When it ends (RFC 3339); or give --minutes.
        #[arg(long)]
        ends_at: Option<chrono::DateTime<chrono::Utc>>,
        /// How long it lasts; or give --ends-at.
        #[arg(long)]
        minutes: Option<u64>,
        /// Why, shown on the service's page.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// List a service's windows not yet over, and those over within 7 days.
    List {
        /// The service.
        slug: String,
    },
    /// End a window: an open one ends now, a scheduled one is cancelled.
    End {
        /// The service.
        slug: String,
        /// The window's id (from `maintenance list`).
        id: i64,
    },
}

#[derive(Subcommand)]
pub enum ServiceCommand {
    /// Add a service.
    Add {
        /// Short URL-safe name: a-z, 0-9 and '-'.
        slug: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// A problem category (repeatable); default: login, website, app, api, other.
        #[arg(long = "category")]
        categories: Vec<String>,
        /// A provider it depends on, by slug (repeatable).
        #[arg(long = "depends-on", value_name = "PROVIDER")]
        depends_on: Vec<String>,
    },
    /// Set the providers a service depends on (none given: it depends on
    /// none). A running server sees the change when it next starts; the
    /// API (`PATCH /api/v1/services/{slug}`) changes it at once.
    Depends {
        /// The service.
        slug: String,
        /// A provider it depends on, by slug (repeatable).
        #[arg(long = "on", value_name = "PROVIDER")]
        providers: Vec<String>,
    },
    /// List the services.
    List,
}

#[derive(clap::Args)]
pub struct BacktestArgs {
    /// A CSV file, or a folder of them (header `timestamp,value`, any fixed step).
    #[arg(long, required_unless_present = "cross_validate")]
    pub input: Option<PathBuf>,
    /// Where `<name>.events.jsonl` (and with --scores `<name>.scores.csv`) go.
    #[arg(long, default_value = "backtest-out")]
    pub output: PathBuf,
    /// Also write the per-bucket baseline, band and score.
    #[arg(long)]
    pub scores: bool,
    /// NAB's `labels/combined_windows.json`: print the NAB score of the events.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Change one detector parameter for this run: `name=value` (repeatable;
    /// names as in `src/detect/params.rs`).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
    /// Leave-one-series-out over both development sets instead of a backtest:
    /// every searched parameter is chosen on the other series and scored on
    /// the one left out.
    #[arg(long)]
    pub cross_validate: bool,
    /// With --cross-validate: the NAB folder (`data/realTweets`, `labels/`).
    #[arg(long, default_value = "eval/nab")]
    pub nab: PathBuf,
    /// With --cross-validate: the Microsoft folder (`data/`, `labels.json`).
    #[arg(long, default_value = "eval/ms")]
    pub ms: PathBuf,
    /// With --cross-validate: search this axis instead of the built-in grid,
    /// `name=v1,v2,...` (repeatable).
    #[arg(long = "grid", value_name = "NAME=V1,V2,...")]
    pub grid: Vec<String>,
}

impl BacktestArgs {
    /// The grid --cross-validate searches: the `--grid` axes, or the
    /// built-in one.
    pub fn grid(&self) -> anyhow::Result<crossval::Grid> {
        if self.grid.is_empty() {
            return Ok(crossval::Grid::default_search());
        }
        Ok(crossval::Grid {
            axes: self
                .grid
                .iter()
                .map(|g| crossval::Grid::parse_axis(g))
                .collect::<Result<_, _>>()?,
        })
    }
}

/// The built-in scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// The outage of 2 March 2026 after a week of background.
    #[value(name = "march-2")]
    March2,
    /// The negative controls: 30 days of normal life each, with --check SEEDS.
    Controls,
    /// A provider outage across 47 services (AWS, 20 October 2025): 40
    /// dependents, half of them declared, 5 bystanders with spillover and one
    /// independent outage in the same hour, after a week of background.
    #[value(name = "aws-outage")]
    AwsOutage,
}

#[derive(clap::Args)]
pub struct SimulateArgs {
    /// The scenario.
    #[arg(value_enum)]
    pub scenario: Scenario,
    /// Change one detector parameter for --check: `name=value` (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write the per-minute counts to this CSV file (for `downwave backtest`);
    /// for aws-outage a folder, with one CSV per service and `services.json`
    /// (slugs, names, declared providers, roles).
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Import the reports into the downwave at this URL (http://host:port).
    #[arg(long)]
    pub target: Option<String>,
    /// Admin token of the target server.
    #[arg(long, env = "DOWNWAVE_ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Run the detector over seeds 0..N of the scenario and print a table
    /// against the acceptance criteria (for aws-outage, the detector and the
    /// incident pass minute by minute).
    #[arg(long)]
    pub check: Option<u64>,
}

/// What `downwave loadgen` sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LoadTarget {
    /// `POST /api/v1/reports`, each from its own client address.
    Reports,
    /// `GET /healthz`.
    Healthz,
    /// Alternating healthz and reports rounds, closed loop, then reports
    /// open loop at half the measured report rate.
    Compare,
}

#[derive(clap::Args)]
pub struct LoadgenArgs {
    /// Server address, host:port; several, comma-separated (the nodes of one
    /// deployment), share the connections in turn.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// What to load.
    #[arg(long, value_enum, default_value = "compare")]
    pub target: LoadTarget,
    /// Concurrent keep-alive connections. Reports need about 128 on two
    /// cores to keep the writer's pipeline full; `/healthz` is as fast at
    /// 256 as at 64.
    #[arg(long, default_value_t = 128)]
    pub connections: usize,
    /// Seconds per run.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// With `compare`: how many alternating healthz/reports rounds.
    #[arg(long, default_value_t = 3)]
    pub rounds: u32,
    /// Fixed total request rate (open loop); default: as fast as answered.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Service to report on (must exist on the server).
    #[arg(long, default_value = "claude")]
    pub service: String,
    /// Categories to cycle through.
    #[arg(long = "category", default_values_t = ["login".to_string(), "website".to_string(), "app".to_string()])]
    pub categories: Vec<String>,
    /// Load threads [default: one per CPU].
    #[arg(long)]
    pub threads: Option<usize>,
}

#[derive(clap::Args)]
pub struct SoakArgs {
    /// A new (or empty) folder for the database and the server's log.
    #[arg(long)]
    pub dir: PathBuf,
    /// Where the server listens; loopback only (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub bind: std::net::SocketAddr,
    /// Seconds of load and kills.
    #[arg(long, default_value_t = 1200)]
    pub seconds: u64,
    /// Seconds between SIGKILLs.
    #[arg(long, default_value_t = 120)]
    pub kill_every_secs: u64,
    /// Reports a second, all services together.
    #[arg(long, default_value_t = 50.0)]
    pub reports_per_sec: f64,
    /// Longest wait after the load for every queued alert to be delivered.
    #[arg(long, default_value_t = 600)]
    pub drain_secs: u64,
    /// The receiver fails one alert at most this many times.
    #[arg(long, default_value_t = 2)]
    pub max_failures_per_alert: u32,
    /// The server binary [default: this one].
    #[arg(long)]
    pub binary: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct CrowdArgs {
    /// Server address, host:port. Run the server with
    /// `--trusted-proxies 127.0.0.1/32`, so that each report's address
    /// in X-Forwarded-For counts.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// The service whose page the crowd has open (must exist).
    #[arg(long, default_value = "claude")]
    pub slug: String,
    /// Live viewers, each with a /live stream open (a descriptor here and
    /// one on the server).
    #[arg(long, default_value_t = 10_000)]
    pub viewers: usize,
    /// Streams opened per second while the viewers gather.
    #[arg(long, default_value_t = 400.0)]
    pub open_per_sec: f64,
    /// After a change, each viewer asks for its page a random time up to
    /// this later (the page script's spread), ms.
    #[arg(long, default_value_t = 1000)]
    pub spread_ms: u64,
    /// New visitors a second (the page, its stylesheet and its script),
    /// open loop.
    #[arg(long, default_value_t = 100.0)]
    pub visitors_per_sec: f64,
    /// Reports a second, open loop, each from its own address.
    #[arg(long, default_value_t = 2000.0)]
    pub reports_per_sec: f64,
    /// Seconds of the crowd phase; 150 sees at least two minutes close.
    #[arg(long, default_value_t = 150)]
    pub seconds: u64,
    /// Seconds of reports alone, before the crowd gathers.
    #[arg(long, default_value_t = 20)]
    pub baseline_secs: u64,
    /// Seconds of each closed-loop page round.
    #[arg(long, default_value_t = 3)]
    pub round_secs: u64,
    /// Rounds of each page, alternated with /healthz.
    #[arg(long, default_value_t = 2)]
    pub rounds: u32,
    /// Connections of each page round.
    #[arg(long, default_value_t = 64)]
    pub page_connections: usize,
    /// The server's process id: its CPU time and memory are read from
    /// /proc around the crowd phase.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// The default detector parameters with `--set name=value` changes applied.
pub fn detector_params(set: &[String]) -> anyhow::Result<DetectorParams> {
    let mut params = DetectorParams::default();
    for spec in set {
        let (name, value) = crossval::Grid::parse_axis(spec)?;
        anyhow::ensure!(value.len() == 1, "--set {spec}: one value");
        params = crossval::with_param(&params, &name, value[0])?;
    }
    Ok(params)
}
