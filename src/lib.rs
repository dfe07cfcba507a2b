//! downwave: a self-hosted crowd outage-report aggregator.
//!
//! People report "it's down" for a service; downwave rate-limits and
//! de-duplicates the reports, stores them durably in SQLite and counts them
//! per minute (`ingest`, `store`), learns what normal looks like and opens
//! outage events with their waves (`detect`, pure; `monitor`, the live loop
//! around it), tells on-call through signed webhooks (`alert`), and serves it
//! all over HTTP (`api`, and the dashboard in `web`, wired up in `app`). `sim` drives it from outside:
//! scenarios, backtests, the NAB scorer and the load generator. See
//! `DESIGN.md` for the whole flow.
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
pub mod ingest;
pub mod metrics;
pub mod monitor;
pub mod sim;
pub mod store;
pub mod web;
