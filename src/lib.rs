//! downwave: a self-hosted crowd outage-report aggregator.
//!
//! People report "it's down" for a service; downwave rate-limits and
//! de-duplicates the reports, stores them durably in SQLite, counts them per
//! minute and serves those counts. See `DESIGN.md` for the whole flow.
#![forbid(unsafe_code)]

pub mod alert;
pub mod api;
pub mod app;
pub mod clock;
pub mod config;
pub mod detect;
pub mod domain;
pub mod error;
pub mod ingest;
pub mod metrics;
pub mod monitor;
pub mod sim;
pub mod store;
