//! downwave: a self-hosted crowd outage-report aggregator.
//!
//! People report "it's down" for a service; downwave rate-limits and
//! de-duplicates the reports, stores them durably in SQLite and counts them
//! per minute, learns what normal looks like and opens outage events with
//! their waves, tells on-call through signed webhooks, and shows it all on a
//! server-rendered dashboard. `docs/design.md` follows one report through
//! these modules and gives the detection model in brief.
//!
//! # Layout
//!
//! - [`cli`]: the command line, its subcommands and their arguments.
//! - [`config`]: every setting, from flags, `DOWNWAVE_*` variables or a TOML file.
//! - [`app`]: startup, wiring and graceful shutdown.
//! - [`api`]: the HTTP API, one file per resource, its routes and its error type with stable codes.
//! - [`web`]: the dashboard: pages, SVG charts, the badge and the Atom feed.
//! - [`error`]: an error and its causes on one line, for the logs.
//! - [`domain`]: newtypes that parse what clients send, at the edge.
//! - [`ingest`]: client address, rate limit, reporter hashes, the group-commit writer.
//! - [`store`]: SQLite: the schema, its migrations and every query.
//! - [`detect`]: the outage detector, pure: baseline, scores, events, waves.
//! - [`incident`]: incidents across services, pure: upstream, epicentre, spillover, independent.
//! - [`monitor`]: the live loop that runs the detector as each minute closes.
//! - [`retention`]: raw reports deleted once older than the retention, their counts kept.
//! - [`wire`]: the JSON of an outage event, as the API lists it and webhooks carry it.
//! - [`alert`]: the network gate, the outbox, webhook formats, signing, address guard, dispatcher.
//! - [`metrics`]: what `/metrics` shows.
//! - [`clock`]: where "now" comes from, so tests can move it.
//! - [`os`]: the descriptor limit, raised to fit the connections at start.
//! - [`sim`]: scenarios, the demo data, negative controls, backtests, the NAB scorer,
//!   cross-validation, load generator.
#![forbid(unsafe_code)]

pub mod alert;
pub mod api;
pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod detect;
pub mod domain;
pub mod error;
pub mod incident;
pub mod ingest;
pub mod metrics;
pub mod monitor;
pub mod os;
pub mod retention;
pub mod sim;
pub mod store;
pub mod web;
pub mod wire;
